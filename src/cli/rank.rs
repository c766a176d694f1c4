//! `keyrank rank` and `keyrank budget`: keywords ranked by an honest conversion
//! estimate, and a recommended split of a marketing budget.

use crate::error::{Error, Result};
use crate::output::{self, OutputFormat};
use crate::rank::{BudgetParams, KeywordStats, Method, Ranked};
use crate::store::Store;
use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

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

/// Loads per-keyword inputs with the canned `budget_inputs` query.
pub fn load_stats(c: &CommonArgs) -> Result<Vec<KeywordStats>> {
    let store = Store::open(&c.store)?;
    let q = crate::queries::find("budget_inputs")?;
    let mut params = BTreeMap::new();
    if let Some(f) = &c.from {
        params.insert("from".to_string(), f.clone());
    }
    if let Some(t) = &c.to {
        params.insert("to".to_string(), t.clone());
    }
    params.insert("model".to_string(), c.model.clone());
    let sql = q.render(&params)?;
    let rt = super::runtime()?;
    let (_, batches) = rt.block_on(async {
        let ctx = crate::sql::session(&store).await?;
        crate::sql::run(&ctx, &sql).await
    })?;
    let mut out = Vec::new();
    for b in &batches {
        let col = |i: usize| -> Result<Float64Array> {
            let a = datafusion::arrow::compute::cast(b.column(i), &DataType::Float64)?;
            a.as_any()
                .downcast_ref::<Float64Array>()
                .cloned()
                .ok_or_else(|| Error::Other("budget_inputs: unexpected column type".into()))
        };
        let kw = datafusion::arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        let kw = kw
            .as_any()
            .downcast_ref::<StringArray>()
            .cloned()
            .ok_or_else(|| Error::Other("budget_inputs: keyword is not text".into()))?;
        let (v, c2, r, clicks, cost) = (col(1)?, col(2)?, col(3)?, col(4)?, col(5)?);
        use datafusion::arrow::array::Array;
        for i in 0..b.num_rows() {
            let opt = |a: &Float64Array| (!a.is_null(i)).then(|| a.value(i));
            out.push(KeywordStats {
                keyword: kw.value(i).to_string(),
                visits: opt(&v).unwrap_or(0.0),
                conversions: opt(&c2).unwrap_or(0.0),
                revenue: opt(&r).unwrap_or(0.0),
                clicks: opt(&clicks),
                cost: opt(&cost),
            });
        }
    }
    Ok(out)
}

/// Ranked rows as a record batch, for every output format.
pub fn to_batch(rows: &[Ranked], with_budget: bool) -> Result<RecordBatch> {
    let f = |name: &str| Field::new(name, DataType::Float64, true);
    let mut fields = vec![
        Field::new("keyword", DataType::Utf8, false),
        f("visits"),
        f("conversions"),
        f("rate"),
        f("rate_estimate"),
        f("rate_low"),
        f("rate_high"),
        f("revenue_per_visit"),
        f("cost_per_conversion"),
        f("roas"),
    ];
    let round = |x: f64, d: i32| (x * 10f64.powi(d)).round() / 10f64.powi(d);
    let num = |g: &dyn Fn(&Ranked) -> Option<f64>, d: i32| -> ArrayRef {
        Arc::new(Float64Array::from_iter(
            rows.iter().map(|r| g(r).map(|x| round(x, d))),
        ))
    };
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.keyword.as_str()),
        )),
        num(&|r| Some(r.visits), 2),
        num(&|r| Some(r.conversions), 4),
        num(&|r| Some(r.rate), 4),
        num(&|r| Some(r.rate_estimate), 4),
        num(&|r| r.rate_low, 4),
        num(&|r| r.rate_high, 4),
        num(&|r| Some(r.revenue_per_visit), 2),
        num(&|r| r.cost_per_conversion, 2),
        num(&|r| r.roas, 2),
    ];
    if with_budget {
        fields.push(f("share"));
        fields.push(Field::new("amount", DataType::Utf8, false));
        cols.push(num(&|r| Some(r.share), 4));
        cols.push(Arc::new(StringArray::from_iter_values(rows.iter().map(
            |r| format!("{}.{:02}", r.amount_cents / 100, r.amount_cents % 100),
        ))));
    }
    fields.push(Field::new("reason", DataType::Utf8, false));
    cols.push(Arc::new(StringArray::from_iter_values(
        rows.iter().map(|r| r.reason.as_str()),
    )));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

pub fn run_rank(args: RankArgs) -> Result<()> {
    let stats = load_stats(&args.common)?;
    let (_, mut rows) = crate::rank::rank(&stats);
    for r in rows.iter_mut() {
        r.reason = if crate::privacy::is_pseudo_keyword(&r.keyword) {
            "pseudo-keyword".into()
        } else if r.visits < args.common.min_visits {
            format!("few visits ({:.0}): estimate leans on the prior", r.visits)
        } else {
            format!(
                "estimated {:.2}% conversion, {:.2} per visit",
                r.rate_estimate * 100.0,
                r.value_per_visit
            )
        };
    }
    let batch = to_batch(&rows, false)?;
    output::write(
        &mut std::io::stdout().lock(),
        args.common.format,
        &batch.schema(),
        &[batch],
    )
}

pub fn run_budget(args: BudgetArgs) -> Result<()> {
    let total_cents = crate::ingest::parse_cents(&args.total).ok_or_else(|| {
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
    let batch = to_batch(&rows, true)?;
    output::write(
        &mut std::io::stdout().lock(),
        args.common.format,
        &batch.schema(),
        &[batch],
    )
}
