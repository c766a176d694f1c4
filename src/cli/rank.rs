//! `keyrank rank` and `keyrank budget`: keywords ranked by an honest conversion
//! estimate, and a recommended split of a marketing budget.

use crate::error::{Error, Result};
use crate::query::output::{self, OutputFormat};
use crate::rank::{BudgetParams, KeywordStats, Method};
use crate::store::Store;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct CommonArgs {
    /// Store folder.
    #[arg(long)]
    pub store: PathBuf,
    /// First day (YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<String>,
    /// Attribution model the conversions come from.
    #[arg(long, default_value = "last")]
    pub model: String,
    /// Keywords with fewer visits get an exploration share (budget) and are marked.
    #[arg(long, default_value_t = 30.0)]
    pub min_visits: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Include keywords estimated from Search Console (see `keyrank search-console`).
    #[arg(long)]
    pub estimated: bool,
    /// Run the query on a Ballista cluster (`df://HOST:PORT`); the store must be at
    /// the same path on every executor.
    #[arg(long)]
    pub cluster: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct RankArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, clap::Args)]
pub struct BudgetArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The budget to split, in the reporting currency (e.g. 5000 or 5000.00).
    #[arg(long)]
    pub total: String,
    /// Smallest share any real keyword gets (0–1).
    #[arg(long, default_value_t = 0.0)]
    pub min_share: f64,
    /// Largest share one keyword can get (0–1).
    #[arg(long, default_value_t = 0.25)]
    pub max_share: f64,
    /// How to split: shrunk (best expected value first) or thompson (keeps exploring).
    #[arg(long, value_enum, default_value_t = Method::Shrunk)]
    pub method: Method,
    /// Seed for thompson's draws; the same seed gives the same split.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Loads per-keyword inputs for the command's period and model.
pub fn load_stats(c: &CommonArgs) -> Result<Vec<KeywordStats>> {
    let store = Store::open(&c.store)?;
    crate::rank::load_stats(
        &store,
        c.from.as_deref(),
        c.to.as_deref(),
        &c.model,
        c.estimated,
        c.cluster.as_deref(),
    )
}

pub fn run_rank(args: RankArgs) -> Result<()> {
    let stats = load_stats(&args.common)?;
    let rows = crate::rank::ranked_with_reasons(&stats, args.common.min_visits);
    let batch = crate::rank::to_batch(&rows, false)?;
    output::write(
        &mut std::io::stdout().lock(),
        args.common.format,
        &batch.schema(),
        &[batch],
    )
}

pub fn run_budget(args: BudgetArgs) -> Result<()> {
    let total_cents = crate::model::parse_cents(&args.total).ok_or_else(|| {
        Error::usage(format!(
            "--total expects an amount like 5000 or 5000.00, got {:?}",
            args.total
        ))
    })?;
    let stats = load_stats(&args.common)?;
    let params = BudgetParams {
        total_cents,
        min_share: args.min_share,
        max_share: args.max_share,
        min_visits: args.common.min_visits,
        method: args.method,
        seed: args.seed,
        ..BudgetParams::default()
    };
    let mut rows = crate::rank::budget(&stats, &params)?;
    rows.sort_by(|a, b| {
        b.amount_cents
            .cmp(&a.amount_cents)
            .then(a.keyword.cmp(&b.keyword))
    });
    let batch = crate::rank::to_batch(&rows, true)?;
    output::write(
        &mut std::io::stdout().lock(),
        args.common.format,
        &batch.schema(),
        &[batch],
    )
}
