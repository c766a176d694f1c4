//! Reading and committing the store's Delta tables through `deltalake-core`.
//!
//! keyrank writes each day's Parquet file itself (its encoder is tuned for the rows it
//! has) and commits them with Delta's own transaction log: `add` and `remove` actions
//! in one commit per table, the run's record in the root commit's `commitInfo`.

use super::{KEYWORD_DAILY, LedgerEntry, Store, TABLES};
use crate::error::{Error, Result};
use crate::parse::time::parse_day;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake_core::kernel::{Action, Add, Remove, StructType};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::{DeltaTable, DeltaTableBuilder, DeltaTableError, TableProperty};
use object_store::ObjectStore;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// The key of keyrank's record in a root commit's `commitInfo`.
pub const COMMIT_KEY: &str = "keyrank";
/// The partition column of every table.
pub const DAY: &str = "day";

/// What a root commit records about the store version it makes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StoreVersion {
    /// The version of each side table in this store version (absent or null: the
    /// table has no data yet).
    #[serde(default)]
    pub tables: BTreeMap<String, Option<u64>>,
    /// The run that made this version: command, inputs, days, settings, counts.
    #[serde(default)]
    pub run: Option<LedgerEntry>,
    /// Runs recorded by an earlier keyrank's ledger, carried over by `store upgrade`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_runs: Vec<LedgerEntry>,
}

/// One live data file of a table version.
#[derive(Debug, Clone)]
pub struct LiveFile {
    /// Relative to the table's folder, as the log names it.
    pub path: String,
    pub day: Option<i32>,
    pub add: Add,
    /// The action that removes it (None for a file a writer has not committed yet).
    pub remove: Option<deltalake_core::kernel::Remove>,
}

/// One table as a store version sees it.
#[derive(Debug, Clone, Default)]
pub struct TableState {
    /// None while the table has never been written.
    pub version: Option<u64>,
    pub files: Vec<LiveFile>,
}

/// One committed store version: the root's version and every table's files in it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// None for a store nothing has been committed to.
    pub version: Option<u64>,
    pub record: StoreVersion,
    pub tables: BTreeMap<String, TableState>,
}

impl Snapshot {
    pub fn table(&self, name: &str) -> &TableState {
        static EMPTY: std::sync::OnceLock<TableState> = std::sync::OnceLock::new();
        self.tables
            .get(name)
            .unwrap_or_else(|| EMPTY.get_or_init(TableState::default))
    }

    /// Days that hold at least one file in `table`.
    pub fn days(&self, table: &str) -> BTreeSet<i32> {
        self.table(table)
            .files
            .iter()
            .filter_map(|f| f.day)
            .collect()
    }
}

/// One entry of a table's log: its version, time and keyrank's record if any.
#[derive(Debug, Clone)]
pub struct CommitEntry {
    pub version: u64,
    /// Milliseconds since the epoch.
    pub timestamp: Option<i64>,
    pub operation: Option<String>,
    pub record: Option<StoreVersion>,
}

pub(crate) fn delta_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Other(format!("{what}: {e}"))
}

/// A table's schema as Delta sees it: the file columns and `day` (DATE), last.
pub fn table_schema(file_schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = file_schema.fields().iter().map(|f| (**f).clone()).collect();
    fields.push(Field::new(DAY, DataType::Date32, false));
    Arc::new(Schema::new(fields))
}

/// The file columns of each table (without `day`).
pub fn file_schema_of(table: &str) -> SchemaRef {
    match table {
        super::AD_COSTS => super::ad_costs_schema(),
        super::SEARCH_QUERIES => super::search_queries_schema(),
        _ => super::file_schema(),
    }
}

/// Lets a read-only store on S3 be opened with Delta's default log store over the
/// object store keyrank's registry resolves (deltalake-core knows no s3 scheme itself).
#[derive(Debug)]
struct PlainLogStores;

impl deltalake_core::logstore::LogStoreFactory for PlainLogStores {
    fn with_options(
        &self,
        prefixed_store: deltalake_core::logstore::ObjectStoreRef,
        root_store: deltalake_core::logstore::ObjectStoreRef,
        location: &url::Url,
        options: &deltalake_core::logstore::StorageConfig,
    ) -> deltalake_core::DeltaResult<deltalake_core::logstore::LogStoreRef> {
        Ok(deltalake_core::logstore::default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

fn register_s3_log_store() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(url) = url::Url::parse("s3://") {
            deltalake_core::logstore::logstore_factories().insert(url, Arc::new(PlainLogStores));
        }
    });
}

impl Store {
    /// The table's location as a URL (a directory URL, ending in `/`).
    pub fn table_url(&self, table: &str) -> Result<url::Url> {
        match &self.url {
            Some(base) => base
                .join(&format!("{table}/"))
                .map_err(|e| delta_err(table, e)),
            None => {
                let dir = self.table_dir(table);
                let abs = std::path::absolute(&dir).map_err(|e| Error::io(&dir, e))?;
                url::Url::from_directory_path(&abs)
                    .map_err(|_| Error::Other(format!("{}: not a usable path", abs.display())))
            }
        }
    }

    /// The URL of one of a table's files (`path` as the log names it).
    pub fn file_url(&self, table: &str, path: &str) -> Result<url::Url> {
        let base = self.table_url(table)?;
        let mut url = base.clone();
        url.set_path(&format!("{}{}", base.path(), path));
        Ok(url)
    }

    fn object_store(&self) -> Result<Arc<dyn ObjectStore>> {
        match &self.url {
            None => Ok(Arc::new(object_store::local::LocalFileSystem::new())),
            Some(base) => {
                register_s3_log_store();
                let origin = datafusion::execution::object_store::ObjectStoreUrl::parse(
                    &base[..url::Position::BeforePath],
                )?;
                Ok(crate::store::object_stores::runtime_env()?.object_store(origin)?)
            }
        }
    }

    /// The table handle, not yet loaded.
    pub(crate) fn table_handle(&self, table: &str) -> Result<DeltaTable> {
        let url = self.table_url(table)?;
        let objects = self.object_store()?;
        DeltaTableBuilder::from_url(url.clone())
            .and_then(|b| b.with_storage_backend(objects, url).build())
            .map_err(|e| delta_err(&self.describe(table), e))
    }

    pub(crate) fn describe(&self, table: &str) -> String {
        match &self.url {
            Some(u) => format!("{u}{table}"),
            None => self.table_dir(table).display().to_string(),
        }
    }

    /// A table at `version` (the latest without one); None if it does not exist.
    pub(crate) async fn load_table(
        &self,
        table: &str,
        version: Option<u64>,
    ) -> Result<Option<DeltaTable>> {
        if !self.has_table(table) {
            return Ok(None);
        }
        let mut t = self.table_handle(table)?;
        let loaded = match version {
            Some(v) => t.load_version(v as _).await,
            None => t.load().await,
        };
        match loaded {
            Ok(()) => Ok(Some(t)),
            Err(DeltaTableError::NotATable(_)) if version.is_none() => Ok(None),
            Err(e) => Err(delta_err(&self.describe(table), e)),
        }
    }

    /// The entry of `version` in a table's log.
    pub(crate) async fn commit_entry(&self, t: &DeltaTable, version: u64) -> Result<CommitEntry> {
        let bytes = t
            .log_store()
            .read_commit_entry(version as _)
            .await
            .map_err(|e| delta_err(t.table_url().as_ref(), e))?;
        let mut entry = CommitEntry {
            version,
            timestamp: None,
            operation: None,
            record: None,
        };
        let Some(bytes) = bytes else {
            return Ok(entry);
        };
        for line in bytes.split(|b| *b == b'\n') {
            let Ok(serde_json::Value::Object(action)) = serde_json::from_slice(line) else {
                continue;
            };
            let Some(info) = action.get("commitInfo") else {
                continue;
            };
            entry.timestamp = info.get("timestamp").and_then(|v| v.as_i64());
            entry.operation = info
                .get("operation")
                .and_then(|v| v.as_str())
                .map(str::to_string);
            entry.record = info
                .get(COMMIT_KEY)
                .and_then(|v| serde_json::from_value(v.clone()).ok());
        }
        Ok(entry)
    }

    /// The latest committed store version.
    pub async fn snapshot(&self) -> Result<Snapshot> {
        self.snapshot_at(None).await
    }

    /// The latest committed store version, found by listing the log from `known` (a
    /// version the caller has seen) instead of replaying it: a long-running reader
    /// learns whether anything committed since without loading every commit again.
    /// Falls back to loading the table when the log cannot be listed from `known`.
    pub async fn latest_version(&self, known: Option<u64>) -> Result<Option<u64>> {
        if !self.has_table(KEYWORD_DAILY) {
            return Ok(None);
        }
        let t = self.table_handle(KEYWORD_DAILY)?;
        let start = known.unwrap_or(0);
        match deltalake_core::logstore::get_latest_version(t.log_store().as_ref(), start).await {
            Ok(v) if v >= start => Ok(Some(v)),
            _ => Ok(self.snapshot().await?.version),
        }
    }

    /// The store as root version `version` (the latest without one) saw it.
    pub async fn snapshot_at(&self, version: Option<u64>) -> Result<Snapshot> {
        let Some(root) = self.load_table(KEYWORD_DAILY, version).await? else {
            return Ok(Snapshot::default());
        };
        let v = root.version().unwrap_or(0);
        // The latest commit that carries keyrank's record (maintenance commits such as
        // a vacuum's carry none) names the side tables' versions.
        let mut record = StoreVersion::default();
        let mut at = v as i64;
        while at >= 0 {
            if let Some(r) = self.commit_entry(&root, at as u64).await?.record {
                record = r;
                break;
            }
            at -= 1;
        }
        let mut tables = BTreeMap::new();
        tables.insert(
            KEYWORD_DAILY.to_string(),
            TableState {
                version: Some(v),
                files: live_files(&root)?,
            },
        );
        for side in &TABLES[1..] {
            let Some(Some(sv)) = record.tables.get(*side) else {
                continue;
            };
            let t = self
                .load_table(side, Some(*sv))
                .await?
                .ok_or_else(|| delta_err(&self.describe(side), "missing table"))?;
            tables.insert(
                side.to_string(),
                TableState {
                    version: Some(*sv),
                    files: live_files(&t)?,
                },
            );
        }
        Ok(Snapshot {
            version: Some(v),
            record,
            tables,
        })
    }

    /// Commits `desired` as the complete file set of `table` (creating the table if it
    /// does not exist): one Delta commit that removes the live files not in it and adds
    /// the ones missing. Returns the new version.
    pub(crate) async fn commit_file_set(
        &self,
        table: &str,
        desired: Vec<Add>,
        record: Option<&StoreVersion>,
        operation: DeltaOperation,
    ) -> Result<u64> {
        let what = self.describe(table);
        self.fault_step(&self.table_dir(table).join("_delta_log"))?;
        let mut metadata: HashMap<String, serde_json::Value> = HashMap::new();
        if let Some(r) = record {
            metadata.insert(
                COMMIT_KEY.to_string(),
                serde_json::to_value(r).map_err(|e| delta_err(&what, e))?,
            );
        }
        let properties = CommitProperties::default()
            .with_metadata(metadata)
            .with_max_retries(0)
            .with_cleanup_expired_logs(Some(false));
        let current = self.load_table(table, None).await?;
        let Some(current) = current else {
            let schema = table_schema(&file_schema_of(table));
            let kernel: StructType = schema
                .as_ref()
                .try_into_kernel()
                .map_err(|e| delta_err(&what, e))?;
            let created = self
                .table_handle(table)?
                .create()
                .with_table_name(table)
                .with_columns(kernel.fields().cloned())
                .with_partition_columns([DAY])
                .with_save_mode(SaveMode::ErrorIfExists)
                .with_configuration_property(
                    TableProperty::LogRetentionDuration,
                    Some("interval 36500 days"),
                )
                .with_configuration_property(TableProperty::EnableExpiredLogCleanup, Some("false"))
                .with_actions(desired.into_iter().map(Action::Add))
                .with_commit_properties(properties)
                .await
                .map_err(|e| delta_err(&what, e))?;
            return Ok(created.version().unwrap_or(0) as u64);
        };
        let live = live_files(&current)?;
        let wanted: BTreeSet<&str> = desired.iter().map(|a| a.path.as_str()).collect();
        let have: BTreeSet<&str> = live.iter().map(|f| f.path.as_str()).collect();
        let now = chrono::Utc::now().timestamp_millis();
        let mut actions: Vec<Action> = Vec::new();
        for f in &live {
            if !wanted.contains(f.path.as_str()) {
                let mut remove = f.remove.clone().unwrap_or_else(|| Remove {
                    path: f.add.path.clone(),
                    data_change: true,
                    ..Default::default()
                });
                remove.data_change = true;
                remove.deletion_timestamp = Some(now);
                actions.push(Action::Remove(remove));
            }
        }
        for a in &desired {
            if !have.contains(a.path.as_str()) {
                actions.push(Action::Add(a.clone()));
            }
        }
        let state = current.snapshot().map_err(|e| delta_err(&what, e))?;
        let done = CommitBuilder::from(properties)
            .with_actions(actions)
            .build(Some(state), current.log_store(), operation)
            .await
            .map_err(|e| match e {
                DeltaTableError::VersionAlreadyExists(_) => delta_err(
                    &what,
                    "another writer committed at the same time; nothing of this run was committed",
                ),
                e => delta_err(&what, e),
            })?;
        Ok(done.version() as u64)
    }
}

/// The day a file holds, from its partition value.
pub(crate) fn day_of(add: &Add) -> Option<i32> {
    add.partition_values
        .get(DAY)
        .and_then(|v| v.as_deref())
        .and_then(parse_day)
}

/// The live files of a loaded table version.
pub(crate) fn live_files(t: &DeltaTable) -> Result<Vec<LiveFile>> {
    let state = t
        .snapshot()
        .map_err(|e| delta_err(t.table_url().as_ref(), e))?;
    Ok(state
        .log_data()
        .into_iter()
        .map(|f| {
            // The log's own actions for the file, to re-add it (restore) or remove it.
            #[allow(deprecated)]
            let (add, remove) = (f.add_action(), f.remove_action(true));
            LiveFile {
                path: f.object_store_path().as_ref().to_string(),
                day: day_of(&add),
                add,
                remove: Some(remove),
            }
        })
        .collect())
}

/// The operation recorded for a keyrank write.
pub(crate) fn write_operation(days: &[String]) -> DeltaOperation {
    DeltaOperation::Write {
        mode: SaveMode::Overwrite,
        partition_by: Some(vec![DAY.to_string()]),
        predicate: (!days.is_empty()).then(|| {
            format!(
                "{DAY} IN ({})",
                days.iter()
                    .map(|d| format!("DATE '{d}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }),
    }
}
