//! The store: Delta Lake tables (`keyword_daily`, `ad_costs`, `search_queries`),
//! Parquet files partitioned by day plus each table's transaction log. Only aggregates.
//!
//! Every write (an ingest, an import, a restore) is one store version: the data files
//! of the days it replaces are written first, side tables are committed next, and the
//! commit of the root table `keyword_daily` — which names the side tables' versions and
//! carries the run's ledger record — makes it visible at once. Readers pin one root
//! version ([`Snapshot`]), so they see the store before or after a write, never a mix.
//! One writer at a time holds the store's lock file ([`writer`]).

pub mod admin;
pub mod delta;
pub mod faults;
pub mod writer;

pub use delta::{Snapshot, StoreVersion, TableState};
pub use writer::Writer;

pub mod object_stores;

use crate::error::{Error, Result};
use crate::model::attribution::AttributionModel;
use crate::model::rollup::Row;
use crate::parse::time::format_day;
use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Decimal128Builder, Int64Builder, RecordBatch,
    StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Encoding;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const KEYWORD_DAILY: &str = "keyword_daily";
/// The ledger file of stores written by earlier keyrank versions (read by upgrade).
pub const LEDGER: &str = "ledger.jsonl";
/// Money: exact decimals with two places.
pub const MONEY: DataType = DataType::Decimal128(18, 2);
/// Conversions: exact decimals with six places (fractional credit of shared models).
pub const CREDIT: DataType = DataType::Decimal128(18, 6);

/// The column of each row's mergeable distinct-visitor sketch ([`crate::model::sketch`]).
pub const VISITOR_SKETCH: &str = "visitor_sketch";

/// Columns of `keyword_daily` besides `day` (each data file also holds `day`, last).
/// The file columns of `ad_costs` (without `day`).
pub fn ad_costs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("engine", DataType::Utf8, false),
        Field::new("keyword", DataType::Utf8, false),
        Field::new("match_type", DataType::Utf8, true),
        Field::new("clicks", DataType::Int64, false),
        Field::new("impressions", DataType::Int64, false),
        Field::new("cost", MONEY, false),
        Field::new("currency", DataType::Utf8, true),
    ]))
}

/// The file columns of `search_queries` (without `day`).
pub fn search_queries_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("engine", DataType::Utf8, false),
        Field::new("query", DataType::Utf8, false),
        Field::new("page", DataType::Utf8, true),
        Field::new("country", DataType::Utf8, true),
        Field::new("device", DataType::Utf8, true),
        Field::new("clicks", DataType::Int64, false),
        Field::new("impressions", DataType::Int64, false),
        Field::new("position", DataType::Float64, true),
    ]))
}

pub fn file_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("medium", DataType::Utf8, false),
        Field::new("keyword", DataType::Utf8, true),
        Field::new("campaign", DataType::Utf8, true),
        Field::new("landing", DataType::Utf8, false),
        Field::new("segment", DataType::Utf8, false),
        Field::new("estimated", DataType::Boolean, false),
        Field::new("visits", DataType::Int64, false),
        Field::new("visitors", DataType::Int64, false),
        Field::new("pageviews", DataType::Int64, false),
    ];
    for m in AttributionModel::ALL {
        fields.push(Field::new(
            format!("conversions_{}", m.name()),
            CREDIT,
            false,
        ));
        fields.push(Field::new(format!("revenue_{}", m.name()), MONEY, false));
    }
    // Nullable, and last: stores written before it read it as NULL.
    fields.push(Field::new(VISITOR_SKETCH, DataType::Binary, true));
    Arc::new(Schema::new(fields))
}

/// The tables of a store. [`KEYWORD_DAILY`] is the root: its commits are the store's
/// versions, and each names the versions of the other tables that belong to it.
pub const TABLES: [&str; 3] = [KEYWORD_DAILY, AD_COSTS, SEARCH_QUERIES];
pub const AD_COSTS: &str = "ad_costs";
pub const SEARCH_QUERIES: &str = "search_queries";

/// A store: a folder (or an object-store prefix) of Delta Lake tables.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// Set for a store on object storage (`s3://…`, `file://…`), which is read-only.
    url: Option<url::Url>,
    /// The test seam: fail the N-th write (see [`faults`]).
    faults: Option<Arc<faults::FaultPlan>>,
}

impl Store {
    /// A store folder to write to, created if needed. Nothing is written until a
    /// writer commits; a store written by an earlier keyrank must be upgraded first.
    pub fn create(root: &Path) -> Result<Self> {
        if crate::store::object_stores::store_url(&root.to_string_lossy()).is_some() {
            return Err(Error::usage(format!(
                "{}: keyrank writes stores to a local or mounted folder; a store on object \
                 storage is read by sql, query, rank, budget and report (copy a written \
                 store there with your storage's tools)",
                root.display()
            )));
        }
        fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
        let store = Store {
            root: root.to_path_buf(),
            url: None,
            faults: faults::FaultPlan::from_env(),
        };
        store.refuse_legacy()?;
        Ok(store)
    }

    /// Opens an existing store; a missing folder is a usage error that says what to do.
    pub fn open(root: &Path) -> Result<Self> {
        if let Some(url) = crate::store::object_stores::store_url(&root.to_string_lossy()) {
            return Ok(Store {
                root: root.to_path_buf(),
                url: Some(url.map_err(Error::usage)?),
                faults: None,
            });
        }
        let store = Store {
            root: root.to_path_buf(),
            url: None,
            faults: faults::FaultPlan::from_env(),
        };
        store.refuse_legacy()?;
        if !store.has_table(KEYWORD_DAILY) {
            return Err(Error::usage(format!(
                "{} is not a keyrank store (no {KEYWORD_DAILY}/_delta_log); run `keyrank ingest --store {}` first",
                root.display(),
                root.display()
            )));
        }
        Ok(store)
    }

    /// Opens a store folder whatever its state (for `store upgrade`).
    pub fn open_any(root: &Path) -> Result<Self> {
        if !root.is_dir() {
            return Err(Error::usage(format!(
                "{}: no such store folder",
                root.display()
            )));
        }
        Ok(Store {
            root: root.to_path_buf(),
            url: None,
            faults: faults::FaultPlan::from_env(),
        })
    }

    /// The same store with a fault plan: its N-th write fails (for tests).
    pub fn with_faults(mut self, plan: faults::FaultPlan) -> Self {
        self.faults = Some(Arc::new(plan));
        self
    }

    /// The store's URL when it is on object storage.
    pub fn url(&self) -> Option<&url::Url> {
        self.url.as_ref()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn table_dir(&self, table: &str) -> PathBuf {
        self.root.join(table)
    }

    /// Whether a local table folder holds a Delta log.
    pub(crate) fn has_table(&self, table: &str) -> bool {
        self.url.is_some() || self.table_dir(table).join("_delta_log").is_dir()
    }

    /// True for a folder written by keyrank before its store became Delta tables: a
    /// ledger, or a table folder without a log holding files no writer of today names
    /// (a first write that was killed leaves only files of its own).
    pub fn is_legacy(&self) -> bool {
        self.url.is_none()
            && (self.root.join(LEDGER).is_file()
                || TABLES.iter().any(|t| {
                    let dir = self.table_dir(t);
                    !dir.join("_delta_log").is_dir() && holds_legacy_files(&dir)
                }))
    }

    fn refuse_legacy(&self) -> Result<()> {
        if self.is_legacy() {
            return Err(Error::usage(format!(
                "{} was written by an earlier keyrank (Parquet folders and ledger.jsonl, no \
                 Delta log); run `keyrank store upgrade --store {}` once to convert it",
                self.root.display(),
                self.root.display()
            )));
        }
        Ok(())
    }

    pub(crate) fn fault_step(&self, what: &Path) -> Result<()> {
        match &self.faults {
            Some(plan) => plan.step(what),
            None => Ok(()),
        }
    }
}

/// Whether a table folder holds `day=…/` files not named like a run's (see
/// [`writer::is_run_file`]).
fn holds_legacy_files(dir: &Path) -> bool {
    let Ok(days) = fs::read_dir(dir) else {
        return false;
    };
    days.flatten().any(|d| {
        fs::read_dir(d.path()).is_ok_and(|files| {
            files
                .flatten()
                .any(|f| !writer::is_run_file(&f.file_name().to_string_lossy()))
        })
    })
}

/// The ledger's lines of a store written by an earlier keyrank, and a
/// `name:line: reason` for each line that is not an entry (skipped, not fatal).
pub fn parse_ledger(name: &str, text: &str) -> (Vec<LedgerEntry>, Vec<String>) {
    let mut problems = Vec::new();
    let entries = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .filter_map(|(i, l)| match serde_json::from_str(l) {
            Ok(e) => Some(e),
            Err(e) => {
                // The position and kind of the fault, never the text that caused it.
                problems.push(format!(
                    "{name}:{}: not a ledger record ({:?} error at column {})",
                    i + 1,
                    e.classify(),
                    e.column()
                ));
                None
            }
        })
        .collect();
    (entries, problems)
}

/// What the binary does on Ctrl-C or SIGTERM: a writer that has not committed removes
/// its files (a commit in progress finishes first), then the process exits with 130.
pub fn install_interrupt_cleanup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            writer::abandon_active_runs();
            eprintln!("keyrank: interrupted; the store is unchanged (nothing was committed)");
            std::process::exit(130);
        });
    });
}

/// Replaces the given days of `keyword_daily` with `rows` (rows of other days are
/// ignored); a day with no rows is emptied, so old figures are replaced too. Days are
/// encoded and written on a few threads. Returns the number of days.
pub fn write_days(w: &mut Writer, days: &[i32], rows: &[Row]) -> Result<usize> {
    let schema = file_schema();
    let mut by_day: BTreeMap<i32, Vec<&Row>> = days.iter().map(|&d| (d, Vec::new())).collect();
    for r in rows {
        if let Some(day_rows) = by_day.get_mut(&r.day) {
            day_rows.push(r);
        }
    }
    let by_day: Vec<(i32, Vec<&Row>)> = by_day.into_iter().collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(by_day.len())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let writer: &Writer = w;
    let write = || -> Result<Vec<(i32, Option<deltalake_core::kernel::Add>)>> {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some((day, day_rows)) = by_day.get(i) else {
                return Ok(done);
            };
            // Clustered by keyword: with the pages' statistics (the page index), a
            // query for one keyword reads the pages that hold it, not the whole day.
            let mut sorted = day_rows.clone();
            sorted.sort_by(|a, b| {
                (&a.channel.keyword, &a.channel.source, &a.channel.medium)
                    .cmp(&(&b.channel.keyword, &b.channel.source, &b.channel.medium))
                    .then_with(|| a.channel.campaign.cmp(&b.channel.campaign))
                    .then_with(|| a.landing.cmp(&b.landing))
                    .then_with(|| a.segment.cmp(&b.segment))
                    .then_with(|| a.estimated.cmp(&b.estimated))
            });
            let batch = rows_to_batch(&schema, &sorted)?;
            done.push((*day, writer.write_day_file(KEYWORD_DAILY, *day, &batch)?));
        }
    };
    let written = std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads).map(|_| s.spawn(write)).collect();
        let mine = write();
        helpers
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .chain(std::iter::once(mine))
            .collect::<Result<Vec<_>>>()
    })?;
    w.replace_days(KEYWORD_DAILY, written.into_iter().flatten());
    Ok(by_day.len())
}

/// Imports rows into a side table (`ad_costs`, `search_queries`), whose rows carry an
/// `engine`: for each day × engine of `rows`, they replace what the store holds for
/// that day and engine; other engines' rows of the day stay. Returns the days.
pub fn merge_by_day_and_engine<'a, R>(
    w: &mut Writer,
    table: &str,
    rows: &'a [R],
    day_engine: impl Fn(&'a R) -> (i32, &'a str),
    batch_of: impl Fn(&[&'a R]) -> Result<RecordBatch>,
) -> Result<std::collections::BTreeSet<i32>> {
    use datafusion::arrow::array::{AsArray, BooleanArray};
    let mut groups: BTreeMap<i32, Vec<&R>> = BTreeMap::new();
    for r in rows {
        groups.entry(day_engine(r).0).or_default().push(r);
    }
    let schema = delta::file_schema_of(table);
    for (day, new) in &groups {
        let engines: std::collections::BTreeSet<&str> =
            new.iter().map(|r| day_engine(r).1).collect();
        let mut parts = Vec::new();
        for old in w.day_rows(table, *day)? {
            let engine = old
                .column_by_name("engine")
                .ok_or_else(|| Error::Other(format!("{table}: no engine column")))?
                .as_string::<i32>();
            let keep: BooleanArray = engine
                .iter()
                .map(|e| Some(!e.is_some_and(|e| engines.contains(e))))
                .collect();
            parts.push(datafusion::arrow::compute::filter_record_batch(
                &old, &keep,
            )?);
        }
        parts.push(batch_of(new)?);
        let batch = datafusion::arrow::compute::concat_batches(&schema, &parts)?;
        w.replace_day(table, *day, &batch)?;
    }
    Ok(groups.into_keys().collect())
}

/// Rows per Parquet data page (see [`write_parquet`]): on the 365 × 50,000 bench, a
/// keyword's page reads 1.5 M of 18.25 M rows; whole-table scans are not slower
/// within the bench's run-to-run spread.
const PAGE_ROWS: usize = 4096;

/// The string column a table's rows are sorted by in each file, if any:
/// keyword_daily's rows come sorted by keyword ([`write_days`]).
pub(crate) fn clustered_by(table: &str) -> Option<&'static str> {
    (table == KEYWORD_DAILY).then_some("keyword")
}

/// Writes `batch` to `path` as one Parquet file. `sorted_by` names the string column
/// the rows are sorted by (the clustering key), if any: it is written without a
/// dictionary, as prefix-compressed strings (`DELTA_BYTE_ARRAY`), so each of its pages
/// decodes on its own. A dictionary spans the whole column chunk, and with tens of
/// thousands of keywords a day, a lookup of one keyword decoded every day's whole
/// dictionary; sorted keywords share long prefixes, so the column is also smaller.
pub(crate) fn write_parquet(
    path: &Path,
    batch: &RecordBatch,
    sorted_by: Option<&str>,
) -> Result<()> {
    // Every failure names the file: a full disk shows up in the encoder's writes.
    let at = |e: datafusion::parquet::errors::ParquetError| match e {
        datafusion::parquet::errors::ParquetError::External(inner) => {
            match inner.downcast::<std::io::Error>() {
                Ok(io) => Error::io(path, *io),
                Err(other) => Error::Other(format!("{}: {other}", path.display())),
            }
        }
        e => Error::Other(format!("{}: {e}", path.display())),
    };
    let file = fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let props = WriterProperties::builder()
        .set_created_by(format!("keyrank {}", env!("CARGO_PKG_VERSION")))
        // Pages of at most this many rows, each with its min and max in the page
        // index, so a filter on the clustered keyword skips most of a day's pages.
        .set_data_page_row_count_limit(PAGE_ROWS);
    let props = match sorted_by {
        Some(column) => {
            let column = ColumnPath::from(column);
            props
                .set_column_dictionary_enabled(column.clone(), false)
                .set_column_encoding(column, Encoding::DELTA_BYTE_ARRAY)
        }
        None => props,
    }
    .build();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(at)?;
    w.write(batch).map_err(at)?;
    let file = w.into_inner().map_err(at)?;
    file.sync_all().map_err(|e| Error::io(path, e))?;
    Ok(())
}

pub(crate) fn rows_to_batch(schema: &SchemaRef, rows: &[&Row]) -> Result<RecordBatch> {
    let n = rows.len();
    let mut source = StringBuilder::with_capacity(n, n * 8);
    let mut medium = StringBuilder::with_capacity(n, n * 8);
    let mut keyword = StringBuilder::with_capacity(n, n * 16);
    let mut campaign = StringBuilder::with_capacity(n, n * 8);
    let mut landing = StringBuilder::with_capacity(n, n * 16);
    let mut segment = StringBuilder::with_capacity(n, n * 9);
    let mut estimated = BooleanBuilder::with_capacity(n);
    let mut sketches = BinaryBuilder::with_capacity(n, n * 16);
    let mut ints: Vec<Int64Builder> = (0..3).map(|_| Int64Builder::with_capacity(n)).collect();
    let mut conv: Vec<Decimal128Builder> = AttributionModel::ALL
        .iter()
        .map(|_| Decimal128Builder::with_capacity(n))
        .collect();
    let mut revenue: Vec<Decimal128Builder> = AttributionModel::ALL
        .iter()
        .map(|_| Decimal128Builder::with_capacity(n))
        .collect();
    for r in rows {
        source.append_value(&r.channel.source);
        medium.append_value(&r.channel.medium);
        keyword.append_option(r.channel.keyword.as_deref());
        campaign.append_option(r.channel.campaign.as_deref());
        landing.append_value(&r.landing);
        segment.append_value(r.segment.as_str());
        estimated.append_value(r.estimated);
        sketches.append_option(r.sketch.as_ref().map(|s| s.to_bytes()));
        ints[0].append_value(r.counts.visits);
        ints[1].append_value(r.counts.visitors);
        ints[2].append_value(r.counts.pageviews);
        for m in 0..AttributionModel::ALL.len() {
            conv[m].append_value(r.counts.conversions[m] as i128);
            revenue[m].append_value(r.counts.revenue[m] as i128);
        }
    }
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(source.finish()),
        Arc::new(medium.finish()),
        Arc::new(keyword.finish()),
        Arc::new(campaign.finish()),
        Arc::new(landing.finish()),
        Arc::new(segment.finish()),
        Arc::new(estimated.finish()),
    ];
    for b in ints.iter_mut() {
        cols.push(Arc::new(b.finish()));
    }
    for m in 0..AttributionModel::ALL.len() {
        cols.push(Arc::new(conv[m].finish().with_data_type(CREDIT)));
        cols.push(Arc::new(revenue[m].finish().with_data_type(MONEY)));
    }
    cols.push(Arc::new(sketches.finish()));
    Ok(RecordBatch::try_new(schema.clone(), cols)?)
}

/// One input of a run, as the ledger records it: no content, just identity.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InputRecord {
    pub name: String,
    pub bytes: u64,
    /// xxh3-64 of the decompressed content.
    pub fingerprint: String,
    pub lines: u64,
}

/// One run in the ledger. Settings and counts only; never personal data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LedgerEntry {
    pub run_id: String,
    pub command: String,
    pub keyrank_version: String,
    pub started_at: String,
    pub finished_at: String,
    pub inputs: Vec<InputRecord>,
    pub days_written: Vec<String>,
    pub settings: serde_json::Value,
    pub counts: serde_json::Value,
}

impl LedgerEntry {
    /// The record of an import or maintenance command run now.
    pub fn of_command(
        w: &Writer,
        command: &str,
        started_at: String,
        inputs: Vec<InputRecord>,
        days: impl IntoIterator<Item = i32>,
        settings: serde_json::Value,
        counts: serde_json::Value,
    ) -> Self {
        LedgerEntry {
            run_id: w.run_id().to_string(),
            command: command.to_string(),
            keyrank_version: env!("CARGO_PKG_VERSION").into(),
            started_at,
            finished_at: now_rfc3339(),
            inputs,
            days_written: days.into_iter().map(format_day).collect(),
            settings,
            counts,
        }
    }
}

/// Now, as the ledger writes times.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An imported file as the history records it: its name (never its folder), size,
/// content fingerprint and line count.
pub fn input_record(path: &Path) -> Result<InputRecord> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(InputRecord {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        bytes: bytes.len() as u64,
        fingerprint: format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes)),
        lines: memchr::memchr_iter(b'\n', &bytes).count() as u64,
    })
}
