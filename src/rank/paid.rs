//! The paid keywords' days a budget is fitted on: read from the store for one period
//! (the canned `paid_keywords` query), or cut from a [`PaidLedger`] that holds every
//! cost day of one store version, so a long-running reader (the dashboard) answers a
//! period nobody asked for before without reading a file.

use super::curves::{Days, LedgerDay, MODELS, PaidDay, PaidKeyword};
use crate::model::attribution::AttributionModel;
use crate::parse::time::{format_day, parse_day};
use datafusion::arrow::array::{Array, Float64Array, Int32Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use std::collections::HashMap;

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

/// The days a period covers, its first and last day as text, and the first and last
/// day of cost data within it (None: none).
pub type Covering = (usize, String, String, Option<(i32, i32)>);

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

/// Each paid day of `from..=to` under every model, in no particular order: the canned
/// `paid_keywords` query with every model's two columns at once (a model's pair is
/// what `paid_keywords` reads for it; the tests compare the two), so the five models
/// cost one read, not five.
async fn each_row_on(
    ctx: &SessionContext,
    (from, to): (i32, i32),
    mut row: impl FnMut(&str, &str, LedgerDay),
) -> crate::Result<()> {
    let names = AttributionModel::ALL.map(AttributionModel::name);
    let sums: Vec<String> = names
        .iter()
        .map(|m| format!("SUM(conversions_{m}) AS c_{m}, SUM(revenue_{m}) AS r_{m}"))
        .collect();
    let cols: Vec<String> = names
        .iter()
        .map(|m| format!("COALESCE(k.c_{m}, 0), COALESCE(k.r_{m}, 0)"))
        .collect();
    let (from, to) = (format_day(from), format_day(to));
    let sql = format!(
        "WITH costs AS (
           SELECT day, engine, keyword, SUM(cost) AS cost, SUM(clicks) AS clicks
           FROM ad_costs
           WHERE day BETWEEN DATE '{from}' AND DATE '{to}'
           GROUP BY day, engine, keyword
         ),
         credited AS (
           SELECT day, source AS engine, keyword, {}
           FROM keyword_daily
           WHERE medium = 'cpc' AND keyword IS NOT NULL
             AND day BETWEEN DATE '{from}' AND DATE '{to}'
           GROUP BY day, source, keyword
         )
         SELECT c.day, c.engine, c.keyword, c.cost, c.clicks, {}
         FROM costs c LEFT JOIN credited k
           ON c.day = k.day AND c.engine = k.engine AND c.keyword = k.keyword",
        sums.join(", "),
        cols.join(", ")
    );
    let (_, batches) = crate::query::run(ctx, &sql).await?;
    for b in &batches {
        let what = "the budget's ledger";
        let text = |i| super::column_as::<StringArray>(b, i, &DataType::Utf8, what);
        let num = |i| super::column_as::<Float64Array>(b, i, &DataType::Float64, what);
        let days: Int32Array = super::column_as(b, 0, &DataType::Int32, what)?;
        let (engine, keyword) = (text(1)?, text(2)?);
        let nums = (3..5 + 2 * MODELS)
            .map(num)
            .collect::<crate::Result<Vec<_>>>()?;
        let v = |a: &Float64Array, i: usize| if a.is_null(i) { 0.0 } else { a.value(i) };
        for i in 0..b.num_rows() {
            row(
                engine.value(i),
                keyword.value(i),
                LedgerDay {
                    day: days.value(i),
                    spend: [v(&nums[0], i), v(&nums[1], i)],
                    credit: std::array::from_fn(|m| {
                        [v(&nums[2 + 2 * m], i), v(&nums[3 + 2 * m], i)]
                    }),
                },
            );
        }
    }
    Ok(())
}

/// A ledger's rows gathered by name in any order (the query's, or an earlier ledger's
/// and then the query's), then put in the ledger's order: names by (engine, keyword),
/// each name's days ascending. Cheaper than the query sorting 1.8 M rows of fifteen
/// columns by their text.
#[derive(Default)]
struct Gathered {
    /// A name's index by its key ([`Gathered::rows_of`]).
    index: HashMap<String, usize>,
    names: Vec<(String, String)>,
    rows: Vec<Vec<LedgerDay>>,
    /// The key being looked up: one buffer, no allocation per row.
    key: String,
}

impl Gathered {
    /// The rows gathered so far for (engine, keyword).
    fn rows_of(&mut self, engine: &str, keyword: &str) -> &mut Vec<LedgerDay> {
        // The engine's length first: no two (engine, keyword) pairs share a key,
        // whatever bytes they hold.
        use std::fmt::Write;
        self.key.clear();
        let _ = write!(self.key, "{}:{engine}{keyword}", engine.len());
        let i = match self.index.get(self.key.as_str()) {
            Some(&i) => i,
            None => {
                self.index.insert(self.key.clone(), self.names.len());
                self.names.push((engine.to_string(), keyword.to_string()));
                self.rows.push(Vec::new());
                self.names.len() - 1
            }
        };
        &mut self.rows[i]
    }

    /// The ledger of the rows gathered, over `span`.
    fn into_ledger(mut self, span: Option<(i32, i32)>) -> PaidLedger {
        let mut ledger = PaidLedger::empty(span);
        let mut order: Vec<usize> = (0..self.names.len()).collect();
        order.sort_unstable_by(|&a, &b| self.names[a].cmp(&self.names[b]));
        ledger
            .rows
            .reserve_exact(self.rows.iter().map(Vec::len).sum());
        for i in order {
            let mut days = std::mem::take(&mut self.rows[i]);
            days.sort_unstable_by_key(|r| r.day);
            for row in days {
                ledger.push(&self.names[i].0, &self.names[i].1, row);
            }
        }
        ledger.finish()
    }
}

/// Two runs of paid days in the store's order (by engine, keyword and day), no day of
/// a keyword in both, as one run in that order.
fn merged(a: impl Iterator<Item = PaidDay>, b: Vec<PaidDay>) -> Vec<PaidDay> {
    fn key(d: &PaidDay) -> (&str, &str, i32) {
        (&d.engine, &d.keyword, d.day)
    }
    let mut out = Vec::with_capacity(a.size_hint().0 + b.len());
    let (mut a, mut b) = (a.peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if key(x) <= key(y) => a.next(),
            (_, Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, None) => return out,
        };
        out.extend(next);
    }
}

/// Every cost day of one store version under every model: `paid_keywords` over the
/// whole span of cost data, from which [`PaidLedger::cut`] cuts any period's days
/// under any model exactly as [`load_on`] reads them (each row is one day's sums,
/// whatever the period).
#[derive(Debug, Clone, PartialEq)]
pub struct PaidLedger {
    /// The first and last day of cost data (None: there is none).
    span: Option<(i32, i32)>,
    /// (engine, keyword), in the query's order.
    names: Vec<(String, String)>,
    /// Where each name's rows start; one more than `names`, the last = the row count.
    starts: Vec<usize>,
    /// Per row: its day (ascending within a name), cost, clicks, and each model's
    /// conversions and revenue.
    rows: Vec<LedgerDay>,
}

/// A period's paid days under one model, cut from a [`PaidLedger`]; the fit borrows
/// them ([`Cut::keywords`]), nothing is copied.
pub struct Cut<'a> {
    names: &'a [(String, String)],
    rows: &'a [LedgerDay],
    /// The model's index in [`AttributionModel::ALL`].
    model: usize,
    /// Each paid keyword of the period: its name (an index into `names`) and its days
    /// (a range of `rows`).
    parts: Vec<(usize, std::ops::Range<usize>)>,
    /// The days the period covers.
    pub covers: usize,
    /// Its first and last day.
    pub from: String,
    pub to: String,
}

impl Cut<'_> {
    /// Each paid keyword of the period with its days, in the store's order, as
    /// [`super::curves::fit_keywords`] reads them.
    pub fn keywords(&self) -> Vec<PaidKeyword<'_>> {
        self.parts
            .iter()
            .map(|(name, range)| {
                let (engine, keyword) = &self.names[*name];
                PaidKeyword {
                    engine,
                    keyword,
                    days: Days::Ledger {
                        days: &self.rows[range.clone()],
                        model: self.model,
                    },
                }
            })
            .collect()
    }

    /// The period's paid days as [`load_on`] reads them.
    pub fn period(self) -> Periodic {
        let days = self.parts.iter().map(|(_, r)| r.len()).sum();
        let mut out = Vec::with_capacity(days);
        for (name, range) in &self.parts {
            let (engine, keyword) = &self.names[*name];
            for row in &self.rows[range.clone()] {
                let (day, figures) = row.under(self.model);
                out.push(PaidDay::of(day, engine, keyword, figures));
            }
        }
        (out, self.covers, self.from, self.to)
    }
}

impl PaidLedger {
    /// Reads every cost day under every model, straight from the query's batches (a
    /// name's text once, not once per day).
    pub async fn load_on(ctx: &SessionContext) -> crate::Result<Self> {
        let span = span_on(ctx).await?;
        let mut gathered = Gathered::default();
        if let Some(span) = span {
            each_row_on(ctx, span, |engine, keyword, row| {
                gathered.rows_of(engine, keyword).push(row)
            })
            .await?;
        }
        Ok(gathered.into_ledger(span))
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
    fn push(&mut self, engine: &str, keyword: &str, row: LedgerDay) {
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

    /// This version's ledger from `earlier`'s (an older version's), when only the days
    /// in `changed` differ between the two versions (in either table): those days,
    /// from the first to the last of them, are read from the store again, and every
    /// other day is taken over. Equal to [`Self::load_on`] on this version.
    pub async fn load_after(
        ctx: &SessionContext,
        earlier: &PaidLedger,
        changed: &std::collections::BTreeSet<i32>,
    ) -> crate::Result<Self> {
        let span = span_on(ctx).await?;
        let (Some(&lo), Some(&hi), Some(span)) = (changed.first(), changed.last(), span) else {
            return if changed.is_empty() && span == earlier.span {
                Ok(earlier.clone())
            } else {
                Self::load_on(ctx).await
            };
        };
        let mut gathered = Gathered::default();
        for (i, (engine, keyword)) in earlier.names.iter().enumerate() {
            let kept = earlier.rows[earlier.starts[i]..earlier.starts[i + 1]]
                .iter()
                .filter(|r| r.day < lo || r.day > hi);
            gathered.rows_of(engine, keyword).extend(kept);
        }
        let (a, z) = (lo.max(span.0), hi.min(span.1));
        if a <= z {
            each_row_on(ctx, (a, z), |engine, keyword, row| {
                gathered.rows_of(engine, keyword).push(row)
            })
            .await?;
        }
        Ok(gathered.into_ledger(Some(span)))
    }

    /// A period's paid days under `model` as [`load_on`] reads them from `ctx`, a newer
    /// version of the store than this ledger's, when only the days in `changed` differ
    /// between the two: the period's days from its first to its last changed one are
    /// read from the store, and its other days cut from this ledger. For a budget asked
    /// for after a commit, before the new version's ledger is carried over: the store
    /// is read for the days the commit changed, not for the whole period. `span` is the
    /// cost data's first and last day in the new version when the caller knows it
    /// (`Some(None)`: none), else it is read.
    pub async fn period_after(
        &self,
        ctx: &SessionContext,
        changed: &std::collections::BTreeSet<i32>,
        span: Option<Option<(i32, i32)>>,
        model: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> crate::Result<Periodic> {
        let span = match span {
            Some(span) => span,
            None => span_on(ctx).await?,
        };
        let Some(span) = span else {
            return Ok((Vec::new(), 0, String::new(), String::new()));
        };
        let period = period_of(span, from, to)?;
        let mut within = changed.range(period.0..=period.1.max(period.0));
        let (lo, hi) = match (within.next(), within.next_back()) {
            (Some(&a), Some(&z)) => (a, z),
            (Some(&a), None) => (a, a),
            _ => (i32::MAX, i32::MIN),
        };
        let (a, z) = (format_day(period.0), format_day(period.1));
        let kept = self
            .cut(model, Some(&a), Some(&z))?
            .period()
            .0
            .into_iter()
            .filter(|d| d.day < lo || d.day > hi);
        let mut read = Vec::new();
        if lo <= hi {
            each_day_on(ctx, (lo, hi), model, |day, engine, keyword, figures| {
                read.push(PaidDay::of(day, engine, keyword, figures))
            })
            .await?;
        }
        Ok(answer(merged(kept, read), period))
    }

    /// The paid days of a period under `model` (as [`load_on`] gives them for the same
    /// version and model), cut from memory.
    pub fn period(
        &self,
        model: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> crate::Result<Periodic> {
        Ok(self.cut(model, from, to)?.period())
    }

    /// The period [`Self::cut`] cuts for `from` and `to`: the days it covers, its first
    /// and last day, and the first and last day of cost data within it (None: no
    /// cost data there), which alone its fit depends on.
    pub fn covering(&self, from: Option<&str>, to: Option<&str>) -> crate::Result<Covering> {
        let Some(span) = self.span else {
            return Ok((0, String::new(), String::new(), None));
        };
        let period = period_of(span, from, to)?;
        let (covers, a, z) = covered(period);
        let (first, last) = (period.0.max(span.0), period.1.min(span.1));
        Ok((covers, a, z, (first <= last).then_some((first, last))))
    }

    /// [`Self::period`] as the fit reads it: each paid keyword of the period with its
    /// days ([`Cut::keywords`]), in the same order; the days the period covers, its
    /// first and last day.
    pub fn cut(&self, model: &str, from: Option<&str>, to: Option<&str>) -> crate::Result<Cut<'_>> {
        let m = AttributionModel::ALL
            .iter()
            .position(|a| a.name() == model)
            .ok_or_else(|| crate::Error::usage(format!("--model: no model called {model:?}")))?;
        let (covers, from, to, reads) = self.covering(from, to)?;
        let mut parts = Vec::new();
        if let Some((first, last)) = reads {
            for i in 0..self.names.len() {
                let start = self.starts[i];
                let rows = &self.rows[start..self.starts[i + 1]];
                let lo = rows.partition_point(|r| r.day < first);
                let hi = rows.partition_point(|r| r.day <= last);
                if lo < hi {
                    parts.push((i, start + lo..start + hi));
                }
            }
        }
        Ok(Cut {
            names: &self.names,
            rows: &self.rows,
            model: m,
            parts,
            covers,
            from,
            to,
        })
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
