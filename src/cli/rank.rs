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
    /// The budget to spend over the period, in the reporting currency (e.g. 5000 or
    /// 5000.00); default for the curves: what was spent in the period.
    #[arg(long)]
    pub total: Option<String>,
    /// Curves: instead of a total, spend where each keyword's marginal return falls
    /// to this ROAS (revenue per unit of spend), within the bounds.
    #[arg(long, conflicts_with = "total")]
    pub target_roas: Option<f64>,
    /// Curves: instead of a split, fit on the earlier weeks of cost data and report
    /// how well the model predicted each of the last WEEKS weeks' revenue at the
    /// spend actually made (per keyword and in total).
    #[arg(long, value_name = "WEEKS")]
    pub backtest: Option<usize>,
    /// Curves: how far each keyword may move from today's spend (0.3 = ±30 %).
    #[arg(long, default_value_t = 0.3)]
    pub max_change: f64,
    /// Smallest share any real keyword gets (0–1).
    #[arg(long, default_value_t = 0.0)]
    pub min_share: f64,
    /// Largest share one keyword can get (0–1).
    #[arg(long, default_value_t = 0.25)]
    pub max_share: f64,
    /// How to split: curves (response curves fitted on ad costs; the default), or,
    /// without cost data, shrunk (best expected value first) or thompson (keeps
    /// exploring), which assume every extra unit of money returns the same.
    #[arg(long, value_enum, default_value_t = Method::Curves)]
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
    let total_cents = args
        .total
        .as_deref()
        .map(|t| {
            crate::model::parse_cents(t).ok_or_else(|| {
                Error::usage(format!(
                    "--total expects an amount like 5000 or 5000.00, got {t:?}"
                ))
            })
        })
        .transpose()?;
    if args.method == Method::Curves {
        let c = &args.common;
        let store = Store::open(&c.store)?;
        if let Some(weeks) = args.backtest {
            // All cost data: the backtest picks its own weeks.
            let (days, _, _, _) = crate::rank::curves::load(
                &store,
                Some(c.from.as_deref().unwrap_or("1970-01-01")),
                c.to.as_deref(),
                &c.model,
                c.cluster.as_deref(),
            )?;
            let params = crate::rank::curves::CurveParams {
                seed: args.seed,
                ..Default::default()
            };
            let rows = crate::rank::curves::backtest(&days, &params, weeks)?;
            let batch = crate::rank::curves::backtest_batch(&rows)?;
            return output::write(
                &mut std::io::stdout().lock(),
                c.format,
                &batch.schema(),
                &[batch],
            );
        }
        let params = crate::rank::curves::CurveParams {
            total_cents,
            target_roas: args.target_roas,
            max_change: args.max_change,
            seed: args.seed,
            ..Default::default()
        };
        let (_, _, batch) = crate::rank::curves::split_from_store(
            &store,
            c.from.as_deref(),
            c.to.as_deref(),
            &c.model,
            c.cluster.as_deref(),
            &params,
        )?;
        return output::write(
            &mut std::io::stdout().lock(),
            c.format,
            &batch.schema(),
            &[batch],
        );
    }
    let total_cents = total_cents.ok_or_else(|| {
        Error::usage(format!("--method {:?} needs --total", args.method).to_lowercase())
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
