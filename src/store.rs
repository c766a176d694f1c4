//! The store: a folder of Parquet files, Hive-partitioned by day
//! (`keyword_daily/day=2015-05-17/part-0.parquet`), each written to a run folder and
//! renamed into place, plus a ledger of runs (`ledger.jsonl`). Only aggregates.

use crate::attribution::AttributionModel;
use crate::error::{Error, Result};
use crate::parse::time::format_day;
use crate::rollup::Row;
use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Decimal128Builder, Int64Builder, RecordBatch,
    StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const KEYWORD_DAILY: &str = "keyword_daily";
pub const LEDGER: &str = "ledger.jsonl";
const TMP: &str = ".tmp";
/// Money: exact decimals with two places.
pub const MONEY: DataType = DataType::Decimal128(18, 2);
/// Conversions: exact decimals with six places (fractional credit of shared models).
pub const CREDIT: DataType = DataType::Decimal128(18, 6);

/// The column of each row's mergeable distinct-visitor sketch ([`crate::sketch`]).
pub const VISITOR_SKETCH: &str = "visitor_sketch";

/// Columns stored in each day's file (`day` comes from the folder name).
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

/// An open store folder.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// Set for a store on object storage (`s3://…`, `file://…`), which is read-only.
    url: Option<url::Url>,
}

impl Store {
    /// Opens (creating if needed) a store folder.
    pub fn create(root: &Path) -> Result<Self> {
        if crate::object_stores::store_url(&root.to_string_lossy()).is_some() {
            return Err(Error::usage(format!(
                "{}: keyrank writes stores to a local or mounted folder; a store on object \
                 storage is read by sql, query, rank, budget and report (copy a written \
                 store there with your storage's tools)",
                root.display()
            )));
        }
        fs::create_dir_all(root.join(KEYWORD_DAILY)).map_err(|e| Error::io(root, e))?;
        Ok(Store {
            root: root.to_path_buf(),
            url: None,
        })
    }

    /// Opens an existing store; a missing folder is a usage error that says what to do.
    pub fn open(root: &Path) -> Result<Self> {
        if let Some(url) = crate::object_stores::store_url(&root.to_string_lossy()) {
            return Ok(Store {
                root: root.to_path_buf(),
                url: Some(url.map_err(Error::usage)?),
            });
        }
        if !root.join(KEYWORD_DAILY).is_dir() {
            return Err(Error::usage(format!(
                "{} is not a keyrank store (no {KEYWORD_DAILY}/ folder); run `keyrank ingest --store {}` first",
                root.display(),
                root.display()
            )));
        }
        Ok(Store {
            root: root.to_path_buf(),
            url: None,
        })
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

    /// A private folder for this run's temporary files; removed when dropped, on
    /// Ctrl-C/SIGTERM (see [`install_interrupt_cleanup`]), and — after a SIGKILL — by
    /// the next run, which removes folders of runs whose process is gone.
    pub fn run_dir(&self, run_id: &str) -> Result<RunDir> {
        let tmp = self.root.join(TMP);
        remove_orphaned_runs(&tmp);
        let path = tmp.join(format!("run-{}-{run_id}", std::process::id()));
        fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        if let Ok(mut active) = ACTIVE_RUNS.lock() {
            active.push(path.clone());
        }
        Ok(RunDir { path })
    }

    /// Replaces the given days of `keyword_daily` with `rows` (rows of other days are
    /// ignored). A day with no rows gets an empty file, so old figures are replaced too.
    pub fn write_days(&self, run: &RunDir, days: &[i32], rows: &[Row]) -> Result<usize> {
        let schema = file_schema();
        let mut by_day: BTreeMap<i32, Vec<&Row>> = days.iter().map(|&d| (d, Vec::new())).collect();
        for r in rows {
            if let Some(day_rows) = by_day.get_mut(&r.day) {
                day_rows.push(r);
            }
        }
        // Days are independent files: encode and write them on a few threads.
        let by_day: Vec<(i32, Vec<&Row>)> = by_day.into_iter().collect();
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(by_day.len())
            .max(1);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let write = || -> Result<()> {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((day, day_rows)) = by_day.get(i) else {
                    return Ok(());
                };
                let batch = rows_to_batch(&schema, day_rows)?;
                self.replace_file(run, KEYWORD_DAILY, *day, "part-0.parquet", &batch)?;
            }
        };
        std::thread::scope(|s| {
            let helpers: Vec<_> = (1..threads).map(|_| s.spawn(write)).collect();
            let mine = write();
            helpers
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .chain(std::iter::once(mine))
                .collect::<Result<Vec<()>>>()
        })?;
        Ok(by_day.len())
    }

    /// Replaces one file per (day, engine) of an imported table — `part-<engine>.parquet`
    /// in the day's folder — with the batch `batch_of` builds from that group's rows,
    /// in one run folder. Other engines' files of the same day stay. Returns the days.
    pub fn replace_by_day_and_engine<'a, R>(
        &self,
        table: &str,
        rows: &'a [R],
        day_engine: impl Fn(&'a R) -> (i32, &'a str),
        batch_of: impl Fn(&[&'a R]) -> Result<RecordBatch>,
    ) -> Result<std::collections::BTreeSet<i32>> {
        let run = self.run_dir(&format!("{:016x}", rand::random::<u64>()))?;
        let mut groups: std::collections::BTreeMap<(i32, &str), Vec<&R>> = Default::default();
        for r in rows {
            groups.entry(day_engine(r)).or_default().push(r);
        }
        let mut days = std::collections::BTreeSet::new();
        for ((day, engine), rows) in &groups {
            let safe: String = engine
                .chars()
                .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' })
                .collect();
            let name = format!("part-{safe}.parquet");
            self.replace_file(&run, table, *day, &name, &batch_of(rows)?)?;
            days.insert(*day);
        }
        Ok(days)
    }

    /// Writes `batch` to `table/day=…/name` through the run folder and renames it into
    /// place, so readers see the old file or the new one, never half of one.
    pub fn replace_file(
        &self,
        run: &RunDir,
        table: &str,
        day: i32,
        name: &str,
        batch: &RecordBatch,
    ) -> Result<()> {
        let part = format!("day={}", format_day(day));
        let tmp = run.path.join(format!("{table}-{part}-{name}"));
        write_parquet(&tmp, batch)?;
        let dir = self.table_dir(table).join(&part);
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let dest = dir.join(name);
        fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))
    }

    /// Appends one entry to the ledger (rewritten to a temp file and renamed).
    pub fn append_ledger(&self, run: &RunDir, entry: &LedgerEntry) -> Result<()> {
        let path = self.root.join(LEDGER);
        let mut text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io(&path, e)),
        };
        text.push_str(&serde_json::to_string(entry).map_err(|e| Error::Other(e.to_string()))?);
        text.push('\n');
        let tmp = run.path.join(LEDGER);
        let mut f = fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
    }

    /// All ledger entries, oldest first.
    pub fn ledger(&self) -> Result<Vec<LedgerEntry>> {
        let path = self.root.join(LEDGER);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&path, e)),
        };
        parse_ledger(&path.display().to_string(), &text)
    }
}

/// The ledger's lines (`name` for errors).
pub fn parse_ledger(name: &str, text: &str) -> Result<Vec<LedgerEntry>> {
    {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| Error::Input {
                    path: name.to_string(),
                    line: i as u64 + 1,
                    message: e.to_string(),
                })
            })
            .collect()
    }
}

/// A run's temp folder; removed on drop, whether the run succeeded or not.
#[derive(Debug)]
pub struct RunDir {
    pub path: PathBuf,
}

/// Run folders of this process, removed on interrupt.
static ACTIVE_RUNS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Removes this process's run folders when it is interrupted (SIGINT, SIGTERM), then
/// exits with status 130. Called once by the binary.
pub fn install_interrupt_cleanup() {
    let _ = ctrlc::set_handler(|| {
        if let Ok(active) = ACTIVE_RUNS.lock() {
            for p in active.iter() {
                let _ = fs::remove_dir_all(p);
                if let Some(parent) = p.parent() {
                    let _ = fs::remove_dir(parent);
                }
            }
        }
        eprintln!(
            "keyrank: interrupted; temporary files removed, store unchanged for unfinished days"
        );
        std::process::exit(130);
    });
}

/// Removes `run-<pid>-…` folders whose process no longer exists (a killed run).
fn remove_orphaned_runs(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("run-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        if !alive || pid == std::process::id() && !is_active(&e.path()) {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

fn is_active(p: &Path) -> bool {
    ACTIVE_RUNS
        .lock()
        .map(|a| a.iter().any(|x| x == p))
        .unwrap_or(true)
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
        if let Ok(mut active) = ACTIVE_RUNS.lock() {
            active.retain(|p| p != &self.path);
        }
        if let Some(parent) = self.path.parent() {
            // Only removes the shared .tmp folder when no other run is using it.
            let _ = fs::remove_dir(parent);
        }
    }
}

fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<()> {
    let file = fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let props = WriterProperties::builder()
        .set_created_by(format!("keyrank {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props))?;
    w.write(batch)?;
    let file = w.into_inner()?;
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
