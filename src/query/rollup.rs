//! Roll-ups of the store's tables by day, held in memory, behind a table that answers a
//! sum over any range of days from them (the dashboard's pages): `keyword_daily`
//! ([`KEYWORD_DAILY`]) and `ad_costs` ([`AD_COSTS`]).
//!
//! [`PeriodTable`] has its table's columns (without the visitor sketch) plus `week`
//! (the Monday of `day`'s ISO week). Its rows are not the store's rows: each
//! is a sum of some of them, so only sums over it mean what they mean over the store
//! (every figure a page shows), never a count of rows. A scan is answered from the
//! smallest source that holds every column it reads:
//! - a **day roll-up** (rows per day over a few dimensions) when the scan reads only
//!   those dimensions: the by-day chart of a year reads 365 × a few rows;
//! - the **week roll-up** (rows per week over the dimensions and sums the pages read:
//!   engine, medium, keyword, landing page, estimated; visits and every model's
//!   credit) when the scan does not read `day`: the weeks wholly inside the range come
//!   from it, the days of the range's partial weeks from the store, so a year's
//!   ranking reads 53 × its keywords rows in memory and at most 12 day files;
//! - otherwise the store itself.
//!
//! The range is the scan's filters on `day`, which the table applies exactly (so the
//! engine does not need `day` above the scan, and a scan that does not read it can be
//! answered by weeks). Sums are exact: integers and decimals, so every figure equals
//! the store's to the last digit. Until [`PeriodTable::install`] gives it roll-ups,
//! every scan reads the store.

use crate::error::{Error, Result};
use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::ScalarValue;
use datafusion::datasource::{MemTable, TableProvider, TableType, provider_as_source};
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::{
    BinaryExpr, Expr, LogicalPlanBuilder, Operator, TableProviderFilterPushDown, cast, col, lit,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

/// What a table's roll-ups keep.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The store's table.
    pub table: &'static str,
    /// Whether a column is summed (the others are dimensions).
    pub measure: fn(&str) -> bool,
    /// The week roll-up's dimensions, and the sums it keeps.
    pub week_dims: &'static [&'static str],
    pub week_measure: fn(&str) -> bool,
    /// The day roll-up's dimensions (it keeps every sum); none: no day roll-up.
    pub day_dims: &'static [&'static str],
}

/// `keyword_daily`: by week over what the pages group or filter by (a campaign or a
/// segment is never asked for there; a scan that reads one is the store's), with
/// visits and every model's credit; by day over engine, medium and estimated (the
/// overview's charts).
pub const KEYWORD_DAILY: Spec = Spec {
    table: crate::store::KEYWORD_DAILY,
    measure: |n| {
        matches!(n, "visits" | "visitors" | "pageviews")
            || n.starts_with("conversions_")
            || n.starts_with("revenue_")
    },
    week_dims: &["source", "medium", "keyword", "landing", "estimated"],
    week_measure: |n| n == "visits" || n.starts_with("conversions_") || n.starts_with("revenue_"),
    day_dims: &["source", "medium", "estimated"],
};

/// `ad_costs`: clicks, impressions and cost by week, engine and keyword (the
/// ranking's and the budget's costs of a period).
pub const AD_COSTS: Spec = Spec {
    table: crate::store::AD_COSTS,
    measure: |n| matches!(n, "clicks" | "impressions" | "cost"),
    week_dims: &["engine", "keyword"],
    week_measure: |_| true,
    day_dims: &[],
};

/// The column holding the Monday of a row's week.
pub const WEEK: &str = "week";

/// A sum of the store's rows at one grain.
#[derive(Debug)]
struct Rollup {
    /// Rows per day (the grain of the store) or per week.
    weekly: bool,
    /// The columns it keeps besides its grain's: dimensions and sums.
    columns: Vec<String>,
    /// Its rows by the Monday of their week, so a later version of the store keeps
    /// the weeks whose day files are the same without summing or copying them again.
    weeks: BTreeMap<i32, RecordBatch>,
    table: Arc<MemTable>,
    rows: usize,
}

impl Rollup {
    /// A roll-up of these weeks' rows, scanned on every core.
    fn of(
        weekly: bool,
        columns: Vec<String>,
        schema: SchemaRef,
        weeks: BTreeMap<i32, RecordBatch>,
    ) -> Result<Self> {
        let parts = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut partitions: Vec<Vec<RecordBatch>> = vec![Vec::new(); parts];
        for (i, b) in weeks.values().enumerate() {
            partitions[i % parts].push(b.clone());
        }
        Ok(Rollup {
            weekly,
            columns,
            rows: weeks.values().map(|b| b.num_rows()).sum(),
            weeks,
            table: Arc::new(MemTable::try_new(schema, partitions)?),
        })
    }
}

/// A table of the store by period, answered from roll-ups where they suffice.
#[derive(Debug)]
pub struct PeriodTable {
    spec: Spec,
    daily: Arc<dyn TableProvider>,
    schema: SchemaRef,
    rollups: RwLock<Vec<Arc<Rollup>>>,
    /// The first and last day the store holds rows of, when the roll-ups are built.
    span: RwLock<Option<(i64, i64)>>,
    /// The store's day files, when known: the days of a range's partial weeks are then
    /// read from their own files alone, not found among all of them.
    day_files: Option<(crate::store::Store, Vec<crate::store::delta::LiveFile>)>,
    /// Scans answered so far by each source ([`Source`]).
    answered: [std::sync::atomic::AtomicUsize; 3],
    /// The weeks the last install summed from the store (the others it carried over).
    summed: std::sync::atomic::AtomicUsize,
}

/// What answered a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The store's day files alone.
    Store = 0,
    /// The day roll-up alone.
    Days = 1,
    /// The week roll-up, with the store's days of the range's partial weeks.
    Weeks = 2,
}

/// The Monday on or before `day` (days since 1970-01-01, a Thursday).
pub fn monday_of(day: i64) -> i64 {
    day - (day + 3).rem_euclid(7)
}

/// `week`: the Monday of `day`'s week, as a date (as the roll-up computes it).
fn week_expr() -> Expr {
    let ts = DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Nanosecond, None);
    cast(
        datafusion::functions::expr_fn::date_trunc(lit("week"), cast(col("day"), ts)),
        DataType::Date32,
    )
}

fn date(day: i64) -> Expr {
    lit(ScalarValue::Date32(Some(day as i32)))
}

/// The inclusive range of days a filter allows, when it is a comparison of `day` with
/// a date (as the engine hands them down: `day BETWEEN a AND b` arrives as two).
fn day_bound(e: &Expr) -> Option<(i64, i64)> {
    let date_of = |e: &Expr| match e {
        Expr::Literal(ScalarValue::Date32(Some(d)), _) => Some(*d as i64),
        _ => None,
    };
    let is_day = |e: &Expr| matches!(e, Expr::Column(c) if c.name == "day");
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (d, op) = if is_day(left) {
                (date_of(right)?, *op)
            } else if is_day(right) {
                (date_of(left)?, op.swap()?)
            } else {
                return None;
            };
            match op {
                Operator::Eq => Some((d, d)),
                Operator::GtEq => Some((d, i64::MAX)),
                Operator::Gt => Some((d + 1, i64::MAX)),
                Operator::LtEq => Some((i64::MIN, d)),
                Operator::Lt => Some((i64::MIN, d - 1)),
                _ => None,
            }
        }
        Expr::Between(b) if !b.negated && is_day(&b.expr) => {
            Some((date_of(&b.low)?, date_of(&b.high)?))
        }
        _ => None,
    }
}

impl PeriodTable {
    /// Over a table of the store as registered on a context (its schema as read).
    pub fn new(spec: Spec, daily: Arc<dyn TableProvider>) -> Self {
        let mut fields: Vec<Field> = daily
            .schema()
            .fields()
            .iter()
            .filter(|f| f.name() != crate::store::VISITOR_SKETCH)
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        fields.push(Field::new(WEEK, DataType::Date32, true));
        PeriodTable {
            spec,
            daily,
            schema: Arc::new(Schema::new(fields)),
            rollups: RwLock::new(Vec::new()),
            span: RwLock::new(None),
            day_files: None,
            answered: Default::default(),
            summed: Default::default(),
        }
    }

    /// With the table's files of the same version as `daily`.
    pub fn with_day_files(
        mut self,
        store: &crate::store::Store,
        files: &[crate::store::delta::LiveFile],
    ) -> Self {
        self.day_files = Some((store.clone(), files.to_vec()));
        self
    }

    /// The store's rows of the days `keep` keeps: a listing of their files alone when
    /// the files are known (a file of no known day is always read), else all of them.
    /// None when no file holds such a day.
    fn days(&self, keep: impl Fn(i64) -> bool) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some((store, files)) = &self.day_files else {
            return Ok(Some(self.daily.clone()));
        };
        let chosen: Vec<&crate::store::delta::LiveFile> = files
            .iter()
            .filter(|f| f.day.is_none_or(|d| keep(i64::from(d))))
            .collect();
        if chosen.is_empty() {
            return Ok(None);
        }
        Ok(Some(Arc::new(crate::query::listing_table(
            store,
            self.spec.table,
            &chosen,
        )?)))
    }

    /// The last day from `from` to `to` with a day file, when the files are known.
    pub fn last_file_day(&self, from: i32, to: i32) -> Option<i32> {
        let (_, files) = self.day_files.as_ref()?;
        files
            .iter()
            .filter_map(|f| f.day)
            .filter(|d| (from..=to).contains(d))
            .max()
    }

    /// The store's table it sums.
    pub fn table(&self) -> &'static str {
        self.spec.table
    }

    /// Whether roll-ups answer scans yet.
    pub fn has_rollups(&self) -> bool {
        !self
            .rollups
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// The first and last day the table holds rows of (`Some(None)`: none), once its
    /// roll-ups are built.
    pub fn span(&self) -> Option<Option<(i64, i64)>> {
        self.has_rollups()
            .then(|| *self.span.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// How many scans `source` has answered.
    pub fn answered(&self, source: Source) -> usize {
        self.answered[source as usize].load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many weeks the last install summed from the store's day files (the rest
    /// it took over from the earlier version's roll-ups).
    pub fn weeks_summed(&self) -> usize {
        self.summed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Rows held in memory by each roll-up: (weekly, rows).
    pub fn rollup_rows(&self) -> Vec<(bool, usize)> {
        self.rollups
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|r| (r.weekly, r.rows))
            .collect()
    }

    /// Computes the roll-ups over the store (`ctx` has the table) and answers scans
    /// from them from now on.
    pub async fn install(&self, ctx: &SessionContext) -> Result<()> {
        let mut built = Vec::new();
        for weekly in self.grains() {
            let (dims, keep) = self.grain(weekly);
            let (schema, columns, weeks) = self.build(ctx, weekly, dims, keep).await?;
            built.push(Arc::new(Rollup::of(weekly, columns, schema, weeks)?));
        }
        let summed = built.last().map_or(0, |r| r.weeks.len());
        let span = self.span_of(ctx).await?;
        self.publish(built, summed, span);
        Ok(())
    }

    /// Computes this version's roll-ups from `earlier`'s, a version of the same table
    /// whose roll-ups are built: the weeks whose day files are the same in both are
    /// taken over as they are, the others summed again from their own day files (an
    /// ingest of one day sums seven files, not the year's). False, with nothing done,
    /// when it cannot tell which days changed (no roll-ups or day files known there).
    pub async fn install_after(&self, earlier: &PeriodTable, ctx: &SessionContext) -> Result<bool> {
        let before = earlier
            .rollups
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let earlier_span = *earlier.span.read().unwrap_or_else(|p| p.into_inner());
        let Some(days) = self.changed_days(earlier) else {
            return Ok(false);
        };
        if before.len() != self.grains().len() || earlier.schema != self.schema {
            return Ok(false);
        }
        let changed: BTreeSet<i32> = days
            .into_iter()
            .map(|d| monday_of(i64::from(d)) as i32)
            .collect();
        // The changed weeks' rows, from their day files alone (none: no rows left).
        let files = self.days(|d| changed.contains(&(monday_of(d) as i32)))?;
        let sub = match (&files, changed.is_empty()) {
            (Some(files), false) => {
                let sub = crate::store::object_stores::session_context()?;
                sub.register_table(self.spec.table, files.clone())?;
                Some(sub)
            }
            _ => None,
        };
        let mut built = Vec::new();
        let mut summed = 0;
        for r in &before {
            let mut weeks: BTreeMap<i32, RecordBatch> = r
                .weeks
                .iter()
                .filter(|(w, _)| !changed.contains(w))
                .map(|(w, b)| (*w, b.clone()))
                .collect();
            let schema = r.table.schema();
            if let Some(sub) = &sub {
                let (dims, keep) = self.grain(r.weekly);
                let (_, _, fresh) = self.build(sub, r.weekly, dims, keep).await?;
                if r.weekly {
                    summed = fresh.len();
                }
                weeks.extend(fresh);
            }
            built.push(Arc::new(Rollup::of(
                r.weekly,
                r.columns.clone(),
                schema,
                weeks,
            )?));
        }
        // The span from the earlier one's and the changed weeks' rows; the whole table
        // is read only when an end of the earlier span lost its rows.
        let fresh = match &sub {
            Some(sub) => self.span_of(sub).await?,
            None => None,
        };
        let span = match span_after(earlier_span, &changed, fresh) {
            Some(span) => span,
            None => self.span_of(ctx).await?,
        };
        self.publish(built, summed, span);
        Ok(true)
    }

    /// The days whose day files differ between `earlier` (an older version of the same
    /// table) and this version; None when that cannot be told (a table's files not
    /// known, or a file of no known day).
    pub fn changed_days(&self, earlier: &PeriodTable) -> Option<BTreeSet<i32>> {
        let (Some((_, old)), Some((_, new))) = (&earlier.day_files, &self.day_files) else {
            return None;
        };
        if earlier.spec.table != self.spec.table {
            return None;
        }
        fn by_day(
            files: &[crate::store::delta::LiveFile],
        ) -> Option<BTreeMap<i32, BTreeSet<&str>>> {
            let mut m: BTreeMap<i32, BTreeSet<&str>> = BTreeMap::new();
            for f in files {
                m.entry(f.day?).or_default().insert(f.path.as_str());
            }
            Some(m)
        }
        let (old, new) = (by_day(old)?, by_day(new)?);
        Some(
            old.keys()
                .chain(new.keys())
                .filter(|d| old.get(d) != new.get(d))
                .copied()
                .collect(),
        )
    }

    /// The grains of the roll-ups this table keeps: by day (if it has day dimensions),
    /// by week.
    fn grains(&self) -> Vec<bool> {
        if self.spec.day_dims.is_empty() {
            vec![true]
        } else {
            vec![false, true]
        }
    }

    /// The dimensions and sums of the roll-up at a grain.
    fn grain(&self, weekly: bool) -> (&'static [&'static str], fn(&str) -> bool) {
        if weekly {
            (self.spec.week_dims, self.spec.week_measure)
        } else {
            (self.spec.day_dims, self.spec.measure)
        }
    }

    /// Answers scans from `built` from now on, with `span`, the first and last day the
    /// table holds rows of (None: no rows).
    fn publish(&self, built: Vec<Arc<Rollup>>, summed: usize, span: Option<(i64, i64)>) {
        self.summed
            .store(summed, std::sync::atomic::Ordering::Relaxed);
        *self.span.write().unwrap_or_else(|p| p.into_inner()) = span;
        *self.rollups.write().unwrap_or_else(|p| p.into_inner()) = built;
    }

    /// The first and last day the table holds rows of as `ctx` has it (None: no rows).
    async fn span_of(&self, ctx: &SessionContext) -> Result<Option<(i64, i64)>> {
        let (_, span) = crate::query::run(
            ctx,
            &format!(
                "SELECT CAST(MIN(day) AS INT), CAST(MAX(day) AS INT) FROM {}",
                self.spec.table
            ),
        )
        .await?;
        Ok(span.first().and_then(|b| {
            use datafusion::arrow::array::{Array, AsArray};
            use datafusion::arrow::datatypes::Int32Type;
            let (a, z) = (
                b.column(0).as_primitive::<Int32Type>(),
                b.column(1).as_primitive::<Int32Type>(),
            );
            (b.num_rows() == 1 && !a.is_null(0) && !z.is_null(0))
                .then(|| (i64::from(a.value(0)), i64::from(z.value(0))))
        }))
    }

    /// One roll-up's rows: the measures `keep` keeps, summed per (day or week, `dims`)
    /// over the table as `ctx` has it, by the Monday of their week; with its schema and
    /// its columns besides the grain.
    async fn build(
        &self,
        ctx: &SessionContext,
        weekly: bool,
        dims: &[&str],
        keep: impl Fn(&str) -> bool,
    ) -> Result<(SchemaRef, Vec<String>, BTreeMap<i32, RecordBatch>)> {
        let grain = if weekly {
            format!("CAST(date_trunc('week', CAST(day AS TIMESTAMP)) AS DATE) AS {WEEK}")
        } else {
            "day".to_string()
        };
        let measures: Vec<&Field> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref())
            .filter(|f| (self.spec.measure)(f.name()) && keep(f.name()))
            .collect();
        let sums: Vec<String> = measures
            .iter()
            .map(|f| {
                format!(
                    "CAST(SUM({0}) AS {1}) AS {0}",
                    f.name(),
                    sql_type(f.data_type())
                )
            })
            .collect();
        let keys: Vec<String> = (1..=dims.len() + 1).map(|i| i.to_string()).collect();
        let sql = format!(
            "SELECT {grain}, {}, {} FROM {} GROUP BY {}",
            dims.join(", "),
            sums.join(", "),
            self.spec.table,
            keys.join(", ")
        );
        let (_, batches) = crate::query::run(ctx, &sql).await?;
        // The roll-up's own schema: its columns as the period table types them.
        let mut names: Vec<String> = vec![if weekly { WEEK } else { "day" }.to_string()];
        names.extend(dims.iter().map(|d| d.to_string()));
        names.extend(measures.iter().map(|f| f.name().clone()));
        let fields: Vec<Field> = names
            .iter()
            .map(|n| {
                self.schema
                    .field_with_name(n)
                    .cloned()
                    .map_err(|e| Error::Other(format!("roll-up column {n}: {e}")))
            })
            .collect::<Result<_>>()?;
        let schema = Arc::new(Schema::new(fields));
        // Each batch's rows by week, one piece per week; a week's pieces are then one
        // batch (the rows copied once more, a week at a time).
        let mut pieces: BTreeMap<i32, Vec<RecordBatch>> = BTreeMap::new();
        for b in batches {
            let columns = b
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| datafusion::arrow::compute::cast(c, f.data_type()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let b = RecordBatch::try_new(schema.clone(), columns)?;
            for (week, piece) in by_week(&b)? {
                pieces.entry(week).or_default().push(piece);
            }
        }
        let mut weeks = BTreeMap::new();
        for (week, parts) in pieces {
            let one = datafusion::arrow::compute::concat_batches(&schema, &parts)?;
            drop(parts);
            weeks.insert(week, one);
        }
        Ok((schema, names[1..].to_vec(), weeks))
    }

    /// The plan of one scan: which source answers it, with the range applied exactly.
    fn plan(
        &self,
        names: &[String],
        range: (i64, i64),
        others: &[Expr],
        limit: Option<usize>,
    ) -> Result<datafusion::logical_expr::LogicalPlan> {
        // A scan that reads no column counts rows, which the roll-ups' rows are not.
        if names.is_empty() {
            return Err(Error::usage(format!(
                "the dashboard's {} answers sums over columns, not counts of rows: sum a column, or query it in the SQL console",
                self.spec.table
            )));
        }
        let (lo, hi) = range;
        let reads_day = names.iter().any(|n| n == "day");
        let read: Vec<&String> = names.iter().filter(|n| *n != "day" && *n != WEEK).collect();
        let rollups = self
            .rollups
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let covers = |r: &Rollup| read.iter().all(|c| r.columns.contains(c));
        // Whole days in range: a day roll-up that holds every column read.
        let by_day = rollups.iter().find(|r| !r.weekly && covers(r));
        let by_week = rollups.iter().find(|r| r.weekly && covers(r));
        let in_range = |c: &str, a: i64, b: i64| col(c).between(date(a), date(b));
        let project = |weekly_source: bool| -> Vec<Expr> {
            names
                .iter()
                .map(|n| {
                    if n == WEEK && !weekly_source {
                        week_expr().alias(WEEK)
                    } else {
                        col(n.as_str())
                    }
                })
                .collect()
        };
        let filtered = |b: LogicalPlanBuilder, range: Expr| -> Result<LogicalPlanBuilder> {
            let mut b = b.filter(range)?;
            for e in others {
                b = b.filter(e.clone())?;
            }
            Ok(b)
        };
        // The store's rows of days lo..=hi: only their day files when the files are
        // known (the top movers' 14 days open 14 files, not a year's).
        let store = |lo: i64, hi: i64| -> Result<LogicalPlanBuilder> {
            let files = self
                .days(|d| (lo..=hi).contains(&d))?
                .unwrap_or_else(|| self.daily.clone());
            Ok(LogicalPlanBuilder::scan(
                self.spec.table,
                provider_as_source(files),
                None,
            )?)
        };
        let mut source = Source::Store;
        let plan = if let Some(r) = by_day {
            source = Source::Days;
            let src =
                LogicalPlanBuilder::scan("rollup_day", provider_as_source(r.table.clone()), None)?;
            filtered(src, in_range("day", lo, hi))?.project(project(false))?
        } else if let (false, Some(r)) = (reads_day, by_week) {
            // The weeks whose days in the store all lie in the range, from the week
            // roll-up (at the store's first and last day a week counts from and to
            // there), the range's other days from the store.
            let span = *self.span.read().unwrap_or_else(|p| p.into_inner());
            let (lo, hi) = span.map_or((lo, hi), |(a, z)| (lo.max(a), hi.min(z)));
            let first = match span {
                Some((a, _)) if lo <= a => monday_of(a),
                _ => monday_of(lo + 6),
            };
            let last = match span {
                Some((_, z)) if hi >= z => monday_of(z),
                _ => monday_of(hi - 6),
            };
            if lo > hi || first > last {
                filtered(store(lo, hi)?, in_range("day", lo, hi))?.project(project(false))?
            } else {
                source = Source::Weeks;
                let weeks = LogicalPlanBuilder::scan(
                    "rollup_week",
                    provider_as_source(r.table.clone()),
                    None,
                )?;
                let weeks = filtered(weeks, in_range(WEEK, first, last))?.project(project(true))?;
                // The days of the range outside those weeks (if any), from their day
                // files.
                let edge = |d: i64| (lo..=hi).contains(&d) && (d < first || d > last + 6);
                let edge_files = if lo >= first && hi <= last + 6 {
                    None
                } else {
                    self.days(edge)?
                };
                match edge_files {
                    None => weeks,
                    Some(files) => {
                        let edges = in_range("day", lo, hi)
                            .and(col("day").lt(date(first)).or(col("day").gt(date(last + 6))));
                        let src = LogicalPlanBuilder::scan(
                            self.spec.table,
                            provider_as_source(files),
                            None,
                        )?;
                        filtered(src, edges)?
                            .project(project(false))?
                            .union(weeks.build()?)?
                    }
                }
            }
        } else {
            filtered(store(lo, hi)?, in_range("day", lo, hi))?.project(project(false))?
        };
        let plan = match limit {
            Some(n) => plan.limit(0, Some(n))?,
            None => plan,
        };
        self.answered[source as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(plan.build()?)
    }
}

/// The first and last day a table holds rows of, from `earlier`, its span before a
/// commit, and `fresh`, the span of the rows the commit left in the weeks it changed
/// (`changed`, by their Mondays); None when these do not tell. Every row outside the
/// changed weeks is unchanged, so it lies within `earlier` but outside the weeks of
/// its changed ends.
fn span_after(
    earlier: Option<(i64, i64)>,
    changed: &BTreeSet<i32>,
    fresh: Option<(i64, i64)>,
) -> Option<Option<(i64, i64)>> {
    let Some((a, z)) = earlier else {
        // No rows before: every row now is one of the changed weeks'.
        return Some(fresh);
    };
    let week_changed = |d: i64| changed.contains(&(monday_of(d) as i32));
    // The earlier first day, unless its week changed: then a fresh row before the next
    // week is first, and with none the first day is among rows not looked at.
    let first = if !week_changed(a) {
        fresh.map_or(a, |(f, _)| f.min(a))
    } else {
        fresh.map(|(f, _)| f).filter(|&f| f < monday_of(a) + 7)?
    };
    let last = if !week_changed(z) {
        fresh.map_or(z, |(_, l)| l.max(z))
    } else {
        fresh.map(|(_, l)| l).filter(|&l| l >= monday_of(z))?
    };
    Some(Some((first, last)))
}

/// A batch's rows by the Monday of their week (its first column: a day or a Monday),
/// in their order.
fn by_week(b: &RecordBatch) -> Result<Vec<(i32, RecordBatch)>> {
    use datafusion::arrow::array::{Array, AsArray, UInt32Array};
    use datafusion::arrow::datatypes::Date32Type;
    let grain = b.column(0).as_primitive::<Date32Type>();
    if grain.null_count() > 0 {
        return Err(Error::Other("a roll-up row without a day".into()));
    }
    let mut rows: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
    for (i, d) in grain.values().iter().enumerate() {
        rows.entry(monday_of(i64::from(*d)) as i32)
            .or_default()
            .push(i as u32);
    }
    if rows.len() == 1 {
        return Ok(rows.into_keys().map(|w| (w, b.clone())).collect());
    }
    rows.into_iter()
        .map(|(w, idx)| {
            let taken = datafusion::arrow::compute::take_record_batch(b, &UInt32Array::from(idx))?;
            Ok((w, taken))
        })
        .collect()
}

/// A column type as SQL, for the roll-up's casts back to the store's types.
fn sql_type(t: &DataType) -> String {
    match t {
        DataType::Decimal128(p, s) => format!("DECIMAL({p}, {s})"),
        DataType::Int64 => "BIGINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Float64 => "DOUBLE".into(),
        other => format!("{other}"),
    }
}

/// The days the range filters allow, clamped to dates the store can hold.
fn range_of(filters: &[Expr]) -> (i64, i64) {
    let (mut lo, mut hi) = (-1_000_000i64, 3_000_000i64);
    for f in filters {
        if let Some((a, b)) = day_bound(f) {
            lo = lo.max(a);
            hi = hi.min(b);
        }
    }
    (lo, hi)
}

#[async_trait]
impl TableProvider for PeriodTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if day_bound(f).is_some() {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let names: Vec<String> = match projection {
            Some(p) => p
                .iter()
                .map(|i| self.schema.field(*i).name().clone())
                .collect(),
            None => self
                .schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
        };
        let range = range_of(filters);
        // The other filters are applied again above; here they only narrow what is read
        // (those on `week`, which the store does not hold, are left to the engine).
        let others: Vec<Expr> = filters
            .iter()
            .filter(|f| day_bound(f).is_none())
            .map(|f| unnormalize_col(f.clone()))
            .filter(|f| !f.column_refs().iter().any(|c| c.name == WEEK))
            .collect();
        let plan = self
            .plan(&names, range, &others, limit)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        state.create_physical_plan(&plan).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_after_a_commit_from_the_span_before_and_the_changed_weeks() {
        // Day 4 (1970-01-05) is a Monday, and so are days 11 and 60.
        let weeks =
            |days: &[i64]| -> BTreeSet<i32> { days.iter().map(|&d| monday_of(d) as i32).collect() };
        let (a, z) = (11, 60);
        // Nothing before: the changed weeks' rows are all there is.
        assert_eq!(
            span_after(None, &weeks(&[30]), Some((29, 33))),
            Some(Some((29, 33)))
        );
        assert_eq!(span_after(None, &weeks(&[30]), None), Some(None));
        // Ends outside the changed weeks stay, widened by fresh rows further out.
        assert_eq!(
            span_after(Some((a, z)), &weeks(&[30]), Some((26, 30))),
            Some(Some((a, z)))
        );
        assert_eq!(
            span_after(Some((a, z)), &weeks(&[30]), None),
            Some(Some((a, z)))
        );
        assert_eq!(
            span_after(Some((a, z)), &weeks(&[30, 67]), Some((30, 68))),
            Some(Some((a, 68)))
        );
        // An end in a changed week: a fresh row in that week (or beyond it) is the end,
        assert_eq!(
            span_after(Some((a, z)), &weeks(&[a]), Some((a + 1, a + 2))),
            Some(Some((a + 1, z)))
        );
        assert_eq!(
            span_after(Some((a, z)), &weeks(&[z]), Some((60, 61))),
            Some(Some((a, 61)))
        );
        assert_eq!(
            span_after(Some((a, z)), &weeks(&[a, z]), Some((12, 64))),
            Some(Some((12, 64)))
        );
        // else the end lies among the unchanged rows, which were not looked at.
        assert_eq!(span_after(Some((a, z)), &weeks(&[a]), None), None);
        assert_eq!(
            span_after(Some((a, z)), &weeks(&[a, 30]), Some((30, 31))),
            None
        );
        assert_eq!(
            span_after(Some((a, z)), &weeks(&[z, 30]), Some((30, 31))),
            None
        );
    }
}
