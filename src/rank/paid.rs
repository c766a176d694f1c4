//! The paid keywords' days a budget is fitted on: read from the store for one period
//! (the canned `paid_keywords` query), or cut from a [`PaidLedger`] that holds every
//! cost day of one store version, so a long-running reader (the dashboard) answers a
//! period nobody asked for before without reading a file.

use super::curves::{DayFigures, PaidDay, PaidKeyword};
use crate::parse::time::{format_day, parse_day};
use datafusion::arrow::array::{Array, Float64Array, Int32Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;

/// The first and last day of cost data, if there is any.
async fn span_on(ctx: &SessionContext) -> crate::Result<Option<(i32, i32)>> {
    let span = crate::query::run(
        ctx,
        "SELECT CAST(MIN(day) AS INT), CAST(MAX(day) AS INT) FROM ad_costs",
    )
    .await?;
    Ok(span.1.first().and_then(|b| {
        let a = b.column(0).as_any().downcast_ref::<Int32Array>()?;
        let z = b.column(1).as_any().downcast_ref::<Int32Array>()?;
        (!a.is_null(0) && !z.is_null(0)).then(|| (a.value(0), z.value(0)))
    }))
}

/// The period asked for within the cost data's span `(first, last)`: without `to` it
/// ends on the last day of cost data; without `from` it is the 28 days up to `to`.
fn period_of(
    (first, last): (i32, i32),
    from: Option<&str>,
    to: Option<&str>,
) -> crate::Result<(i32, i32)> {
    let day = |s: &str, flag: &str| {
        parse_day(s)
            .ok_or_else(|| crate::Error::usage(format!("--{flag}: not a day (YYYY-MM-DD): {s}")))
    };
    let to = match to {
        Some(t) => day(t, "to")?,
        None => last,
    };
    let from = match from {
        Some(f) => day(f, "from")?,
        None => (to - 27).max(first),
    };
    Ok((from, to))
}

/// What a period's paid days come with: how many days it covers, its first and last.
fn answer(days: Vec<PaidDay>, period: (i32, i32)) -> Periodic {
    let (covers, from, to) = covered(period);
    (days, covers, from, to)
}

/// How many days a period covers, its first and last as text.
fn covered((from, to): (i32, i32)) -> (usize, String, String) {
    (
        (to - from + 1).max(1) as usize,
        format_day(from),
        format_day(to),
    )
}

/// A period's paid days, the days it covers, and its first and last day as text.
pub type Periodic = (Vec<PaidDay>, usize, String, String);

/// Each paid day of `from..=to` under `model`, in the store's order (by engine,
/// keyword and day): `row(day, engine, keyword, [cost, clicks, conversions, revenue])`.
async fn each_day_on(
    ctx: &SessionContext,
    (from, to): (i32, i32),
    model: &str,
    mut row: impl FnMut(i32, &str, &str, [f64; 4]),
) -> crate::Result<()> {
    let q = crate::query::queries::find("paid_keywords")?;
    let params = std::collections::BTreeMap::from([
        ("from".to_string(), format_day(from)),
        ("to".to_string(), format_day(to)),
        ("model".to_string(), model.to_string()),
    ]);
    let sql = q.render(&params)?;
    let (_, batches) = crate::query::run(ctx, &sql).await?;
    for b in &batches {
        let text = |i| super::column_as::<StringArray>(b, i, &DataType::Utf8, "paid_keywords");
        let num = |i| super::column_as::<Float64Array>(b, i, &DataType::Float64, "paid_keywords");
        let days: Int32Array = super::column_as(b, 0, &DataType::Int32, "paid_keywords")?;
        let (engine, keyword) = (text(1)?, text(2)?);
        let (cost, clicks, conv, rev) = (num(3)?, num(4)?, num(5)?, num(6)?);
        let v = |a: &Float64Array, i: usize| if a.is_null(i) { 0.0 } else { a.value(i) };
        for i in 0..b.num_rows() {
            row(
                days.value(i),
                engine.value(i),
                keyword.value(i),
                [v(&cost, i), v(&clicks, i), v(&conv, i), v(&rev, i)],
            );
        }
    }
    Ok(())
}

/// The paid keywords' days of one period from the store, and how many days the period
/// covers. Without `from`, the period is the last 28 days of cost data; without `to`,
/// it ends on the last day of cost data.
pub async fn load_on(
    ctx: &SessionContext,
    from: Option<&str>,
    to: Option<&str>,
    model: &str,
) -> crate::Result<Periodic> {
    let Some(span) = span_on(ctx).await? else {
        return Ok((Vec::new(), 0, String::new(), String::new()));
    };
    let period = period_of(span, from, to)?;
    let mut days = Vec::new();
    each_day_on(ctx, period, model, |day, engine, keyword, figures| {
        days.push(PaidDay::of(day, engine, keyword, figures))
    })
    .await?;
    Ok(answer(days, period))
}

/// A ledger's row: a day, and its cost, clicks, conversions and revenue.
type Row = DayFigures;

/// Every cost day of one store version under one model: `paid_keywords` over the whole
/// span of cost data, from which [`PaidLedger::period`] cuts any period's days exactly
/// as [`load_on`] reads them (each row is one day's sums, whatever the period).
#[derive(Debug, Clone, PartialEq)]
pub struct PaidLedger {
    /// The first and last day of cost data (None: there is none).
    span: Option<(i32, i32)>,
    /// (engine, keyword), in the query's order.
    names: Vec<(String, String)>,
    /// Where each name's rows start; one more than `names`, the last = the row count.
    starts: Vec<usize>,
    /// Per row: its day (ascending within a name), cost, clicks, conversions, revenue.
    rows: Vec<Row>,
}

impl PaidLedger {
    /// Reads every cost day under `model`, straight from the query's batches (a name's
    /// text once, not once per day).
    pub async fn load_on(ctx: &SessionContext, model: &str) -> crate::Result<Self> {
        let span = span_on(ctx).await?;
        let mut ledger = PaidLedger::empty(span);
        if let Some(span) = span {
            each_day_on(ctx, span, model, |day, engine, keyword, figures| {
                ledger.push(engine, keyword, (day, figures))
            })
            .await?;
        }
        Ok(ledger.finish())
    }

    /// A ledger of no rows yet, for `span`.
    fn empty(span: Option<(i32, i32)>) -> Self {
        PaidLedger {
            span,
            names: Vec::new(),
            starts: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Adds a row after the last one: in order of (engine, keyword), then day.
    fn push(&mut self, engine: &str, keyword: &str, row: Row) {
        if self
            .names
            .last()
            .is_none_or(|(e, k)| (e.as_str(), k.as_str()) != (engine, keyword))
        {
            self.starts.push(self.rows.len());
            self.names.push((engine.to_string(), keyword.to_string()));
        }
        self.rows.push(row);
    }

    /// Closes the last name's rows.
    fn finish(mut self) -> Self {
        self.starts.push(self.rows.len());
        self.rows.shrink_to_fit();
        self
    }

    /// This version's ledger from `earlier`'s (an older version's, under the same
    /// model), when only the days in `changed` differ between the two versions (in
    /// either table): those days, from the first to the last of them, are read from
    /// the store again, and every other day is taken over. Equal to [`Self::load_on`]
    /// on this version.
    pub async fn load_after(
        ctx: &SessionContext,
        model: &str,
        earlier: &PaidLedger,
        changed: &std::collections::BTreeSet<i32>,
    ) -> crate::Result<Self> {
        let span = span_on(ctx).await?;
        let (Some(&lo), Some(&hi), Some(span)) = (changed.first(), changed.last(), span) else {
            return if changed.is_empty() && span == earlier.span {
                Ok(earlier.clone())
            } else {
                Self::load_on(ctx, model).await
            };
        };
        let mut by_name: std::collections::BTreeMap<(String, String), Vec<Row>> =
            std::collections::BTreeMap::new();
        for (i, name) in earlier.names.iter().enumerate() {
            let kept = earlier.rows[earlier.starts[i]..earlier.starts[i + 1]]
                .iter()
                .filter(|r| r.0 < lo || r.0 > hi);
            by_name.entry(name.clone()).or_default().extend(kept);
        }
        let (a, z) = (lo.max(span.0), hi.min(span.1));
        if a <= z {
            each_day_on(ctx, (a, z), model, |day, engine, keyword, figures| {
                by_name
                    .entry((engine.to_string(), keyword.to_string()))
                    .or_default()
                    .push((day, figures));
            })
            .await?;
        }
        let mut ledger = PaidLedger::empty(Some(span));
        for ((engine, keyword), mut rows) in by_name {
            rows.sort_by_key(|r| r.0);
            for row in rows {
                ledger.push(&engine, &keyword, row);
            }
        }
        Ok(ledger.finish())
    }

    /// The paid days of a period (as [`load_on`] gives them for the same version and
    /// model), cut from memory.
    pub fn period(&self, from: Option<&str>, to: Option<&str>) -> crate::Result<Periodic> {
        let (keywords, days, from, to) = self.keywords(from, to)?;
        let mut out = Vec::new();
        for k in keywords {
            for &(day, figures) in k.days {
                out.push(PaidDay::of(day, k.engine, k.keyword, figures));
            }
        }
        Ok((out, days, from, to))
    }

    /// [`Self::period`] as the fit reads it ([`super::curves::fit_keywords`]): each
    /// paid keyword of the period with its days, borrowed, in the same order; and the
    /// days the period covers, its first and last day.
    pub fn keywords(
        &self,
        from: Option<&str>,
        to: Option<&str>,
    ) -> crate::Result<(Vec<PaidKeyword<'_>>, usize, String, String)> {
        let Some(span) = self.span else {
            return Ok((Vec::new(), 0, String::new(), String::new()));
        };
        let (from, to) = period_of(span, from, to)?;
        let mut out = Vec::new();
        for (i, (engine, keyword)) in self.names.iter().enumerate() {
            let rows = &self.rows[self.starts[i]..self.starts[i + 1]];
            let lo = rows.partition_point(|r| r.0 < from);
            let hi = rows.partition_point(|r| r.0 <= to);
            if lo < hi {
                out.push(PaidKeyword {
                    engine,
                    keyword,
                    days: &rows[lo..hi],
                });
            }
        }
        let (covers, from, to) = covered((from, to));
        Ok((out, covers, from, to))
    }

    /// How many cost days it holds.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether it holds no cost day.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}
