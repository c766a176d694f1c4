//! One writer at a time: the store's lock, a run's files, and its commit.
//!
//! A [`Writer`] holds the lock file `.lock` (an OS file lock, released by the kernel
//! when the process dies, however it dies), writes the data files of the days it
//! replaces under names that carry its run id, and commits them:
//! side tables first, then the root table, whose commit names the side tables'
//! versions and makes the whole write visible at once. Until then readers see the
//! store as it was. A writer that fails or is dropped removes its files; one that is
//! killed leaves a marker in `.tmp/`, and the next writer removes what it left.

use super::delta::{LiveFile, Snapshot, StoreVersion, write_operation};
use super::{KEYWORD_DAILY, LedgerEntry, Store, TABLES};
use crate::error::{Error, Result};
use crate::parse::time::format_day;
use datafusion::arrow::array::{ArrayRef, Date32Array, RecordBatch};
use deltalake_core::kernel::Add;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a writer waits for another by default (`--wait`).
pub const DEFAULT_WAIT_SECS: u64 = 10;

const LOCK: &str = ".lock";
const TMP: &str = ".tmp";

/// How a write changes one table.
#[derive(Debug, Default)]
enum Change {
    #[default]
    None,
    /// These days' files are replaced (None: the day is emptied).
    Days(BTreeMap<i32, Option<Add>>),
    /// The table's whole file set becomes this (restore, upgrade).
    All(Vec<Add>),
}

/// Files a running writer has written but not committed, for the interrupt handler.
struct Active {
    marker: PathBuf,
    files: Arc<Mutex<Vec<PathBuf>>>,
}

static ACTIVE: Mutex<Vec<Active>> = Mutex::new(Vec::new());

/// Removes the files of every writer of this process that has not committed. Waits
/// for a root commit in progress, which holds the same lock.
pub(crate) fn abandon_active_runs() {
    let Ok(active) = ACTIVE.lock() else {
        return;
    };
    for a in active.iter() {
        if let Ok(files) = a.files.lock() {
            for f in files.iter() {
                let _ = fs::remove_file(f);
            }
        }
        let _ = fs::remove_file(&a.marker);
    }
}

/// The one writer of a store.
pub struct Writer {
    store: Store,
    _lock: fs::File,
    run_id: String,
    base: Snapshot,
    changes: BTreeMap<String, Change>,
    files: Arc<Mutex<Vec<PathBuf>>>,
    marker: PathBuf,
    committed: bool,
    rt: &'static tokio::runtime::Runtime,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("store", &self.store.root())
            .field("run_id", &self.run_id)
            .finish()
    }
}

pub(crate) use crate::model::runtime::runtime;

impl Store {
    /// Takes the store's lock, waiting up to `wait` for another writer to finish, and
    /// cleans up after a writer that was killed. The default wait of the commands.
    pub fn writer(&self, wait: Duration) -> Result<Writer> {
        // Only a process that writes owns Ctrl-C and SIGTERM this way; a scheduler
        // handles its own.
        super::install_interrupt_cleanup();
        if self.url.is_some() {
            return Err(Error::usage(format!(
                "{}: stores on object storage are read-only",
                self.root.display()
            )));
        }
        self.refuse_legacy()?;
        fs::create_dir_all(&self.root).map_err(|e| Error::io(&self.root, e))?;
        let lock_path = self.root.join(LOCK);
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        let started = Instant::now();
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if started.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::Other(format!(
                        "{}: another keyrank run is writing this store (waited {:.0} s); \
                         try again when it has finished, or give --wait SECONDS",
                        self.root.display(),
                        wait.as_secs_f64()
                    )));
                }
                Err(fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
            }
        }
        let rt = runtime()?;
        let base = rt.block_on(self.snapshot())?;
        let run_id = format!("{:016x}", rand::random::<u64>());
        let tmp = self.root.join(TMP);
        let mut w = Writer {
            store: self.clone(),
            _lock: lock,
            marker: tmp.join(format!("run-{run_id}")),
            run_id,
            base,
            changes: BTreeMap::new(),
            files: Arc::new(Mutex::new(Vec::new())),
            committed: false,
            rt,
        };
        w.clean_up_after_killed_runs()?;
        fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        self.fault_step(&w.marker)?;
        fs::write(&w.marker, b"").map_err(|e| Error::io(&w.marker, e))?;
        if let Ok(mut active) = ACTIVE.lock() {
            active.push(Active {
                marker: w.marker.clone(),
                files: w.files.clone(),
            });
        }
        Ok(w)
    }
}

impl Writer {
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The committed store version this write starts from.
    pub fn base(&self) -> &Snapshot {
        &self.base
    }

    /// Side tables whose latest commit is not the one the store version names (a
    /// writer was killed between its side commits and its root commit) are set back;
    /// files of runs that never committed are removed.
    fn clean_up_after_killed_runs(&mut self) -> Result<()> {
        self.reset_side_tables()?;
        let tmp = self.store.root.join(TMP);
        let Ok(entries) = fs::read_dir(&tmp) else {
            return Ok(());
        };
        let committed = self.base.record.run.as_ref().map(|r| r.run_id.clone());
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(run) = name.strip_prefix("run-") else {
                continue;
            };
            if committed.as_deref() != Some(run) {
                for table in TABLES {
                    remove_run_files(&self.store.table_dir(table), run);
                }
            }
            let _ = fs::remove_file(e.path());
        }
        Ok(())
    }

    fn reset_side_tables(&mut self) -> Result<()> {
        for side in &TABLES[1..] {
            let latest = self.rt.block_on(self.store.load_table(side, None))?;
            let Some(latest) = latest else { continue };
            let named = self.base.table(side).version;
            let latest_v = latest.version();
            if latest_v == named {
                continue;
            }
            let desired = self
                .base
                .table(side)
                .files
                .iter()
                .map(|f| f.add.clone())
                .collect();
            let v = self.rt.block_on(self.store.commit_file_set(
                side,
                desired,
                None,
                deltalake_core::protocol::DeltaOperation::Restore {
                    version: named.map(|v| v as _),
                    datetime: None,
                },
            ))?;
            // The store version names the old version; the reset one holds the same
            // files, so the next commit may start from it.
            if let Some(t) = self.base.tables.get_mut(*side) {
                t.version = Some(v);
            }
            self.base.record.tables.insert(side.to_string(), Some(v));
        }
        Ok(())
    }

    /// Writes one day's file of `table` (`batch` has the table's file columns, without
    /// `day`) and returns its `add` action; an empty batch writes no file (None). Safe
    /// to call from several threads; [`Writer::replace_days`] records the result.
    pub fn write_day_file(
        &self,
        table: &str,
        day: i32,
        batch: &RecordBatch,
    ) -> Result<Option<Add>> {
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        let part = format!("{}={}", super::delta::DAY, format_day(day));
        let dir = self.store.table_dir(table).join(&part);
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let name = format!("part-{}-{}.parquet", self.run_id, rand::random::<u32>());
        let path = dir.join(&name);
        let days: ArrayRef = Arc::new(Date32Array::from(vec![day; batch.num_rows()]));
        let mut cols = batch.columns().to_vec();
        cols.push(days);
        let with_day = RecordBatch::try_new(super::delta::table_schema(&batch.schema()), cols)?;
        self.store.fault_step(&path)?;
        if let Ok(mut files) = self.files.lock() {
            files.push(path.clone());
        }
        super::write_parquet(&path, &with_day, super::clustered_by(table))?;
        let size = fs::metadata(&path).map_err(|e| Error::io(&path, e))?.len();
        Ok(Some(Add {
            path: format!("{part}/{name}"),
            partition_values: [(super::delta::DAY.to_string(), Some(format_day(day)))]
                .into_iter()
                .collect(),
            size: size as i64,
            modification_time: chrono::Utc::now().timestamp_millis(),
            data_change: true,
            stats: Some(format!("{{\"numRecords\":{}}}", batch.num_rows())),
            ..Default::default()
        }))
    }

    /// Records that these days of `table` are replaced by these files (None: emptied).
    /// A file this run wrote earlier for the same day is removed: no version needs it.
    pub fn replace_days(
        &mut self,
        table: &str,
        files: impl IntoIterator<Item = (i32, Option<Add>)>,
    ) {
        let dir = self.store.table_dir(table);
        let change = self.changes.entry(table.to_string()).or_default();
        if !matches!(change, Change::Days(_)) {
            *change = Change::Days(BTreeMap::new());
        }
        if let Change::Days(days) = change {
            for (day, add) in files {
                if let Some(Some(old)) = days.insert(day, add) {
                    let _ = fs::remove_file(dir.join(&old.path));
                }
            }
        }
    }

    /// The store as this write will leave it: the base with the changes so far.
    pub fn pending(&self) -> Snapshot {
        let mut snap = self.base.clone();
        for (table, change) in &self.changes {
            let files = desired_files(&self.base.table(table).files, change)
                .into_iter()
                .map(|add| LiveFile {
                    path: add.path.clone(),
                    day: super::delta::day_of(&add),
                    add,
                    remove: None,
                })
                .collect();
            snap.tables.insert(
                table.clone(),
                super::TableState {
                    version: None,
                    files,
                },
            );
        }
        snap
    }

    /// Writes `batch` as day `day` of `table`, replacing what the store holds for it.
    pub fn replace_day(&mut self, table: &str, day: i32, batch: &RecordBatch) -> Result<()> {
        let add = self.write_day_file(table, day, batch)?;
        self.replace_days(table, [(day, add)]);
        Ok(())
    }

    /// Makes `files` the whole file set of `table` (for restore).
    pub(crate) fn set_all(&mut self, table: &str, files: Vec<Add>) {
        self.changes.insert(table.to_string(), Change::All(files));
    }

    /// The rows `day` of `table` holds as this write stands (the base, or what this
    /// run wrote for it), with the file columns only (no `day`).
    pub fn day_rows(&self, table: &str, day: i32) -> Result<Vec<RecordBatch>> {
        let schema = super::delta::file_schema_of(table);
        let mut out = Vec::new();
        let paths: Vec<String> = match self.changes.get(table) {
            Some(Change::Days(days)) if days.contains_key(&day) => {
                days[&day].iter().map(|a| a.path.clone()).collect()
            }
            _ => self
                .base
                .table(table)
                .files
                .iter()
                .filter(|f| f.day == Some(day))
                .map(|f| f.path.clone())
                .collect(),
        };
        for rel in &paths {
            let path = self.store.table_dir(table).join(rel);
            let file = fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
            let reader =
                datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                    file,
                )?
                .build()?;
            for b in reader {
                let b = b?;
                let cols = schema
                    .fields()
                    .iter()
                    .map(|field| {
                        b.column_by_name(field.name()).cloned().ok_or_else(|| {
                            Error::Other(format!("{}: no column {}", path.display(), field.name()))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                out.push(RecordBatch::try_new(schema.clone(), cols)?);
            }
        }
        Ok(out)
    }

    /// Commits everything written as one store version recording `run`; returns the
    /// store's new version. On error nothing is visible and this run's files are gone.
    pub fn commit(mut self, run: LedgerEntry) -> Result<u64> {
        let mut record = StoreVersion {
            tables: BTreeMap::new(),
            run: Some(run),
            earlier_runs: Vec::new(),
        };
        self.commit_record(&mut record)
    }

    pub(crate) fn commit_record(&mut self, record: &mut StoreVersion) -> Result<u64> {
        let days_of = |c: &Change| -> Vec<String> {
            match c {
                Change::Days(d) => d.keys().map(|d| format_day(*d)).collect(),
                _ => Vec::new(),
            }
        };
        for side in &TABLES[1..] {
            let change = self.changes.remove(*side).unwrap_or_default();
            let version = match &change {
                Change::None => self.base.table(side).version,
                _ => {
                    let desired = desired_files(&self.base.table(side).files, &change);
                    let op = write_operation(&days_of(&change));
                    Some(
                        self.rt
                            .block_on(self.store.commit_file_set(side, desired, None, op))?,
                    )
                }
            };
            record.tables.insert(side.to_string(), version);
        }
        let change = self.changes.remove(KEYWORD_DAILY).unwrap_or_default();
        let desired = desired_files(&self.base.table(KEYWORD_DAILY).files, &change);
        let op = write_operation(&days_of(&change));
        // The interrupt handler waits for the root commit and then finds nothing to do.
        let mut active = ACTIVE.lock().unwrap_or_else(|p| p.into_inner());
        let version = self.rt.block_on(self.store.commit_file_set(
            KEYWORD_DAILY,
            desired,
            Some(record),
            op,
        ))?;
        self.committed = true;
        active.retain(|a| a.marker != self.marker);
        drop(active);
        let _ = fs::remove_file(&self.marker);
        if let Some(tmp) = self.marker.parent() {
            // Only when no other run's marker is in it.
            let _ = fs::remove_dir(tmp);
        }
        Ok(version)
    }
}

/// The base's files with the change applied.
fn desired_files(base: &[LiveFile], change: &Change) -> Vec<Add> {
    match change {
        Change::None => base.iter().map(|f| f.add.clone()).collect(),
        Change::All(files) => files.clone(),
        Change::Days(days) => base
            .iter()
            .filter(|f| f.day.is_none_or(|d| !days.contains_key(&d)))
            .map(|f| f.add.clone())
            .chain(days.values().flatten().cloned())
            .collect(),
    }
}

/// Whether `name` is a data file name a writer gives: `part-<16 hex>-<number>.parquet`.
pub(crate) fn is_run_file(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix("part-")
        .and_then(|r| r.strip_suffix(".parquet"))
    else {
        return false;
    };
    match rest.split_once('-') {
        Some((run, n)) => {
            run.len() == 16
                && run.bytes().all(|b| b.is_ascii_hexdigit())
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Removes the data files a run wrote (their names carry its id).
fn remove_run_files(dir: &Path, run: &str) {
    let needle = format!("part-{run}-");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if !p.ends_with("_delta_log") {
                remove_run_files(&p, run);
            }
        } else if e.file_name().to_string_lossy().starts_with(&needle) {
            let _ = fs::remove_file(&p);
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        // Side tables this run committed to are set back before their files go.
        let _ = self.reset_side_tables();
        if let Ok(mut active) = ACTIVE.lock() {
            active.retain(|a| a.marker != self.marker);
        }
        if let Ok(files) = self.files.lock() {
            for f in files.iter() {
                let _ = fs::remove_file(f);
            }
        }
        let _ = fs::remove_file(&self.marker);
        if let Some(tmp) = self.marker.parent() {
            let _ = fs::remove_dir(tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_file_names() {
        assert!(is_run_file("part-0123456789abcdef-42.parquet"));
        assert!(
            !is_run_file("part-0.parquet"),
            "a file of an earlier keyrank"
        );
        assert!(!is_run_file("part-google.parquet"));
        assert!(!is_run_file("part-0123456789abcdef-.parquet"));
        assert!(!is_run_file("part-0123456789abcdeg-1.parquet"));
    }
}
