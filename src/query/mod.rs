//! The one place that opens a DataFusion `SessionContext` over a store and registers
//! its tables (the context itself comes from
//! [`crate::store::object_stores::session_context`]). Everything that runs SQL over a
//! store (the CLI, tests, benches) goes through here.

pub mod like;
pub mod output;
pub mod queries;
pub mod rollup;
pub mod udf;

use crate::error::Result;
use crate::store::Store;
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use std::sync::Arc;

/// A context with the store's tables registered: `keyword_daily` (Parquet,
/// partitioned by `day`) and `ingest_runs` (the ledger).
pub async fn session(store: &Store) -> Result<SessionContext> {
    let snapshot = store.snapshot().await?;
    session_over(store, &snapshot).await
}

/// [`session`] over a given version of the store (a writer's pending one, say).
pub async fn session_over(
    store: &Store,
    snapshot: &crate::store::Snapshot,
) -> Result<SessionContext> {
    let ctx = crate::store::object_stores::session_context()?;
    register_snapshot(&ctx, store, snapshot).await?;
    Ok(ctx)
}

pub use crate::store::object_stores::keyrank_settings;

/// Registers every table of the store on `ctx`, all from one committed version: a
/// write that commits meanwhile is seen by the next context, never half by this one.
pub async fn register_all(ctx: &SessionContext, store: &Store) -> Result<()> {
    let snapshot = store.snapshot().await?;
    register_snapshot(ctx, store, &snapshot).await
}

/// Registers the tables of one store version on `ctx`.
pub async fn register_snapshot(
    ctx: &SessionContext,
    store: &Store,
    snapshot: &crate::store::Snapshot,
) -> Result<()> {
    for table in crate::store::TABLES {
        register_table(ctx, store, table, snapshot.table(table))?;
    }
    let (mut entries, history) = store.history_to(snapshot.version).await?;
    ctx.register_table("store_history", Arc::new(history_table(&history)?))?;
    entries.extend(history.into_iter().filter_map(|h| h.run));
    entries.retain(|e| e.command == "ingest");
    ctx.register_table("ingest_runs", Arc::new(ledger_table(&entries)?))?;
    crate::query::udf::register(ctx);
    crate::query::like::install(ctx);
    Ok(())
}

/// A table of the snapshot as a Parquet listing over exactly its live files (each
/// holds `day` as a column), which a cluster can ship to its executors.
fn register_table(
    ctx: &SessionContext,
    store: &Store,
    name: &str,
    state: &crate::store::TableState,
) -> Result<()> {
    let files: Vec<&crate::store::delta::LiveFile> = state.files.iter().collect();
    ctx.register_table(name, Arc::new(listing_table(store, name, &files)?))?;
    Ok(())
}

/// A table of the store as a Parquet listing over exactly `files` (some of a
/// snapshot's live files: all of them, or those of a few days).
pub(crate) fn listing_table(
    store: &Store,
    name: &str,
    files: &[&crate::store::delta::LiveFile],
) -> Result<ListingTable> {
    let schema = read_schema(
        name,
        &crate::store::delta::table_schema(&crate::store::delta::file_schema_of(name)),
    );
    let urls = if files.is_empty() {
        // A folder no file is ever written to: an empty table of the right schema.
        vec![ListingTableUrl::parse(format!(
            "{}_no_files/",
            store.table_url(name)?
        ))?]
    } else {
        files
            .iter()
            .map(|f| {
                Ok(ListingTableUrl::parse(
                    store.file_url(name, &f.path)?.as_str(),
                )?)
            })
            .collect::<Result<Vec<_>>>()?
    };
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(ListingTable::try_new(config)?)
}

/// A table's schema as queries read it: its dictionary-encoded text columns (all
/// but the one each file is sorted by, [`crate::store::clustered_by`]) as string
/// views (`Utf8View`). The Parquet reader then hands out a dictionary page's strings
/// as views into it, and grouping and comparing work on views, instead of copying
/// every row's bytes into a fresh string array. The clustering column (keyword_daily's
/// `keyword`, prefix-compressed without a dictionary) stays plain text: decoded into
/// views it was slower, and grouping by it too.
pub(crate) fn read_schema(table: &str, schema: &Schema) -> Arc<Schema> {
    let clustered = crate::store::clustered_by(table);
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 if Some(f.name().as_str()) != clustered => {
                f.as_ref().clone().with_data_type(DataType::Utf8View)
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn ledger_table(entries: &[crate::store::LedgerEntry]) -> Result<MemTable> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("command", DataType::Utf8, false),
        Field::new("started_at", DataType::Utf8, false),
        Field::new("finished_at", DataType::Utf8, false),
        Field::new("inputs", DataType::Int64, false),
        Field::new("lines_read", DataType::Int64, true),
        Field::new("malformed", DataType::Int64, true),
        Field::new("visits", DataType::Int64, true),
        Field::new("conversions", DataType::Int64, true),
        Field::new("days_written", DataType::Utf8, false),
        Field::new("epsilon", DataType::Float64, true),
    ]));
    let count = |key: &str| -> ArrayRef {
        Arc::new(Int64Array::from_iter(
            entries
                .iter()
                .map(|e| e.counts.get(key).and_then(|v| v.as_i64())),
        ))
    };
    let strings = |f: &dyn Fn(&crate::store::LedgerEntry) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(entries.iter().map(f)))
    };
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            strings(&|e| e.run_id.clone()),
            strings(&|e| e.command.clone()),
            strings(&|e| e.started_at.clone()),
            strings(&|e| e.finished_at.clone()),
            Arc::new(Int64Array::from_iter_values(
                entries.iter().map(|e| e.inputs.len() as i64),
            )),
            count("lines_read"),
            count("malformed"),
            count("visits"),
            count("conversions"),
            strings(&|e| e.days_written.join(",")),
            Arc::new(Float64Array::from_iter(entries.iter().map(|e| {
                e.settings.get("epsilon_spent").and_then(|v| v.as_f64())
            }))),
        ],
    )?;
    Ok(MemTable::try_new(schema, vec![vec![batch]])?)
}

/// Every store version: `version`, `committed_at`, `command`, `run_id`, `inputs` (file
/// names), `days_written`.
fn history_table(history: &[crate::store::admin::HistoryEntry]) -> Result<MemTable> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("version", DataType::Int64, false),
        Field::new("committed_at", DataType::Utf8, true),
        Field::new("command", DataType::Utf8, false),
        Field::new("run_id", DataType::Utf8, true),
        Field::new("inputs", DataType::Utf8, true),
        Field::new("days_written", DataType::Utf8, true),
    ]));
    let opt = |f: &dyn Fn(&crate::store::LedgerEntry) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter(
            history.iter().map(|h| h.run.as_ref().map(f)),
        ))
    };
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(
                history.iter().map(|h| h.version as i64),
            )),
            Arc::new(StringArray::from_iter(
                history.iter().map(|h| h.committed_at.clone()),
            )),
            Arc::new(StringArray::from_iter_values(
                history.iter().map(|h| h.command.clone()),
            )),
            opt(&|e| e.run_id.clone()),
            opt(&|e| {
                e.inputs
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            }),
            opt(&|e| e.days_written.join(",")),
        ],
    )?;
    Ok(MemTable::try_new(schema, vec![vec![batch]])?)
}

/// Runs one SQL statement and collects its result.
pub async fn run(ctx: &SessionContext, sql: &str) -> Result<(Arc<Schema>, Vec<RecordBatch>)> {
    let df = ctx.sql(sql).await?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    Ok((schema, batches))
}
