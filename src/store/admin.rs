//! The store's history and upkeep: `keyrank history`, `store restore`, `store vacuum`
//! and `store upgrade` (from the Parquet folders and `ledger.jsonl` of earlier keyrank
//! versions).

use super::delta::StoreVersion;
use super::writer::runtime;
use super::{KEYWORD_DAILY, LEDGER, LedgerEntry, Store, TABLES};
use crate::error::{Error, Result};
use std::fs;
use std::time::Duration;

/// One store version, as `keyrank history` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryEntry {
    pub version: u64,
    /// RFC 3339, UTC.
    pub committed_at: Option<String>,
    pub command: String,
    pub run: Option<LedgerEntry>,
}

impl Store {
    /// Every store version, oldest first: one per committed write, plus the runs an
    /// earlier keyrank's ledger recorded (version-less, before the upgrade's version).
    pub async fn history(&self) -> Result<(Vec<LedgerEntry>, Vec<HistoryEntry>)> {
        let latest = self.latest_version(None).await?;
        self.history_to(latest).await
    }

    /// [`Store::history`] up to store version `latest` (None: an empty store), read
    /// from the commits' entries alone, without replaying the log into a table state.
    pub async fn history_to(
        &self,
        latest: Option<u64>,
    ) -> Result<(Vec<LedgerEntry>, Vec<HistoryEntry>)> {
        let Some(latest) = latest else {
            return Ok((Vec::new(), Vec::new()));
        };
        let root = self.table_handle(KEYWORD_DAILY)?;
        let mut earlier = Vec::new();
        let mut out = Vec::new();
        for v in 0..=latest {
            let e = self.commit_entry(&root, v).await?;
            let Some(record) = e.record else {
                continue;
            };
            earlier.extend(record.earlier_runs);
            out.push(HistoryEntry {
                version: v,
                committed_at: e
                    .timestamp
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                command: record
                    .run
                    .as_ref()
                    .map(|r| r.command.clone())
                    .or(e.operation)
                    .unwrap_or_default(),
                run: record.run,
            });
        }
        Ok((earlier, out))
    }

    /// Makes store version `version` the current one again, as a new version (later
    /// versions stay in the history and can be restored in turn).
    pub fn restore(&self, version: u64, wait: Duration) -> Result<u64> {
        let mut w = self.writer(wait)?;
        let rt = runtime()?;
        let latest = w.base().version.unwrap_or(0);
        if w.base().version.is_none() || version > latest {
            return Err(Error::usage(format!(
                "{}: no version {version} (the latest is {latest}; see `keyrank history`)",
                self.root.display()
            )));
        }
        let target = rt.block_on(self.snapshot_at(Some(version)))?;
        if target.record.run.is_none() && target.record.earlier_runs.is_empty() {
            return Err(Error::usage(format!(
                "{}: version {version} is a maintenance commit, not a store version; pick one \
                 `keyrank history` lists",
                self.root.display()
            )));
        }
        for table in TABLES {
            let files = target.table(table).files.clone();
            for f in &files {
                let path = self.table_dir(table).join(&f.path);
                if !path.is_file() {
                    return Err(Error::usage(format!(
                        "{}: version {version} cannot be restored: {} was removed by \
                         `keyrank store vacuum`",
                        self.root.display(),
                        path.display()
                    )));
                }
            }
            w.set_all(table, files.into_iter().map(|f| f.add).collect());
        }
        // Every day either version holds is rewritten.
        let mut days = w.base().days(KEYWORD_DAILY);
        days.extend(target.days(KEYWORD_DAILY));
        let entry = LedgerEntry::of_command(
            &w,
            "store restore",
            super::now_rfc3339(),
            Vec::new(),
            days,
            serde_json::json!({ "restored_version": version }),
            serde_json::json!({ "from_version": latest }),
        );
        w.commit(entry)
    }

    /// Removes data files that no version younger than `keep` needs, and files of runs
    /// that never committed. Versions whose files are removed can no longer be restored.
    pub fn vacuum(&self, keep: Duration, wait: Duration) -> Result<VacuumSummary> {
        let w = self.writer(wait)?;
        let rt = runtime()?;
        let mut summary = VacuumSummary::default();
        for table in TABLES {
            let Some(t) = rt.block_on(self.load_table(table, None))? else {
                continue;
            };
            let retention = chrono::Duration::from_std(keep)
                .map_err(|e| Error::usage(format!("--keep: {e}")))?;
            let (_, metrics) = rt
                .block_on(async {
                    t.vacuum()
                        .with_mode(deltalake_core::operations::vacuum::VacuumMode::Full)
                        .with_retention_period(retention)
                        .with_enforce_retention_duration(false)
                        .with_commit_properties(
                            deltalake_core::kernel::transaction::CommitProperties::default()
                                .with_cleanup_expired_logs(Some(false)),
                        )
                        .await
                })
                .map_err(|e| super::delta::delta_err(&self.describe(table), e))?;
            summary.files_deleted += metrics.files_deleted.len() as u64;
        }
        drop(w);
        Ok(summary)
    }

    /// Converts a store written by an earlier keyrank (Parquet folders, `ledger.jsonl`)
    /// into Delta tables, keeping every row and the ledger's runs. Safe to run again
    /// after an interruption.
    pub fn upgrade(&self) -> Result<UpgradeSummary> {
        let staging = self.root.join(".upgrade");
        let legacy = self.root.join(".legacy");
        let mut summary = UpgradeSummary::default();
        if !self.is_legacy() && !staging.exists() {
            return Err(Error::usage(format!(
                "{}: nothing to upgrade (already Delta tables)",
                self.root.display()
            )));
        }
        // 1. The new tables are built beside the old ones, root last: once the staged
        //    root has a log, the staging is complete.
        let staged = Store::open_any(&self.root)?;
        let staged = Store {
            root: staging.clone(),
            ..staged
        };
        if !staged.has_table(KEYWORD_DAILY) {
            let _ = fs::remove_dir_all(&staging);
            fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
            let earlier = match fs::read_to_string(self.root.join(LEDGER)) {
                Ok(text) => {
                    let (entries, problems) = super::parse_ledger(LEDGER, &text);
                    summary.problems = problems;
                    entries
                }
                Err(_) => Vec::new(),
            };
            let mut w = staged.writer(Duration::from_secs(0))?;
            let rt = runtime()?;
            for table in TABLES {
                let batches = rt.block_on(read_legacy(self, table))?;
                for (day, batch) in batches {
                    summary.rows += batch.num_rows() as u64;
                    summary.days += 1;
                    w.replace_day(table, day, &batch)?;
                }
            }
            summary.runs = earlier.len() as u64;
            let mut record = StoreVersion {
                tables: Default::default(),
                run: Some(LedgerEntry::of_command(
                    &w,
                    "store upgrade",
                    super::now_rfc3339(),
                    Vec::new(),
                    Vec::new(),
                    serde_json::json!({}),
                    serde_json::json!({ "rows": summary.rows, "runs": summary.runs }),
                )),
                earlier_runs: earlier,
            };
            w.commit_record(&mut record)?;
        }
        // 2. Swap folders, side tables first and the root last; each step is a rename
        //    and the sequence can be resumed.
        fs::create_dir_all(&legacy).map_err(|e| Error::io(&legacy, e))?;
        for table in TABLES.iter().rev() {
            let old = self.table_dir(table);
            let new = staging.join(table);
            if new.exists() {
                if old.exists() {
                    let to = legacy.join(table);
                    let _ = fs::remove_dir_all(&to);
                    fs::rename(&old, &to).map_err(|e| Error::io(&old, e))?;
                }
                fs::rename(&new, &old).map_err(|e| Error::io(&new, e))?;
            } else if old.exists() && !old.join("_delta_log").is_dir() {
                // A table the old store never wrote rows to.
                let to = legacy.join(table);
                let _ = fs::remove_dir_all(&to);
                fs::rename(&old, &to).map_err(|e| Error::io(&old, e))?;
            }
        }
        let ledger = self.root.join(LEDGER);
        if ledger.exists() {
            fs::rename(&ledger, legacy.join(LEDGER)).map_err(|e| Error::io(&ledger, e))?;
        }
        let _ = fs::remove_dir_all(&staging);
        let _ = fs::remove_dir_all(&legacy);
        let _ = fs::remove_dir_all(self.root.join(".tmp"));
        Ok(summary)
    }
}

/// What a vacuum removed.
#[derive(Debug, Default)]
pub struct VacuumSummary {
    pub files_deleted: u64,
}

/// What an upgrade carried over.
#[derive(Debug, Default)]
pub struct UpgradeSummary {
    pub rows: u64,
    pub days: u64,
    pub runs: u64,
    pub problems: Vec<String>,
}

/// A legacy table's rows per day, with the file columns (no `day`).
async fn read_legacy(
    store: &Store,
    table: &str,
) -> Result<Vec<(i32, datafusion::arrow::array::RecordBatch)>> {
    use datafusion::arrow::array::AsArray;
    use datafusion::datasource::file_format::parquet::ParquetFormat;
    use datafusion::datasource::listing::{
        ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
    };
    let dir = store.table_dir(table);
    if !dir.is_dir() || dir.join("_delta_log").is_dir() {
        return Ok(Vec::new());
    }
    let abs = std::path::absolute(&dir).map_err(|e| Error::io(&dir, e))?;
    let ctx = super::object_stores::session_context()?;
    let schema = super::delta::file_schema_of(table);
    let options = ListingOptions::new(std::sync::Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![(
            "day".to_string(),
            datafusion::arrow::datatypes::DataType::Date32,
        )]);
    let config = ListingTableConfig::new(ListingTableUrl::parse(format!("{}/", abs.display()))?)
        .with_listing_options(options)
        .with_schema(schema.clone());
    ctx.register_table(
        "legacy",
        std::sync::Arc::new(ListingTable::try_new(config)?),
    )?;
    let days = ctx
        .sql("SELECT DISTINCT CAST(day AS INT) AS d FROM legacy ORDER BY d")
        .await?
        .collect()
        .await?;
    let mut out = Vec::new();
    for b in &days {
        let col = b
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        for day in col.values().iter().copied() {
            let cols = schema
                .fields()
                .iter()
                .map(|f| format!("\"{}\"", f.name()))
                .collect::<Vec<_>>()
                .join(", ");
            let date = crate::parse::time::format_day(day);
            let parts = ctx
                .sql(&format!(
                    "SELECT {cols} FROM legacy WHERE day = DATE '{date}'"
                ))
                .await?
                .collect()
                .await?;
            let batch = datafusion::arrow::compute::concat_batches(&schema, &parts)?;
            // Casts the read columns to the declared types (Parquet keeps them).
            let batch = datafusion::arrow::array::RecordBatch::try_new(
                schema.clone(),
                batch.columns().to_vec(),
            )?;
            out.push((day, batch));
        }
    }
    Ok(out)
}
