//! The one place that builds a DataFusion `SessionContext` over a store and registers
//! its tables. Everything that runs SQL (the CLI, tests, benches) goes through here.

use crate::error::Result;
use crate::store::{KEYWORD_DAILY, Store, file_schema};
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use std::sync::Arc;

/// A context with the store's tables registered: `keyword_daily` (Parquet,
/// partitioned by `day`) and `ingest_runs` (the ledger).
pub async fn session(store: &Store) -> Result<SessionContext> {
    // DATAFUSION_* environment variables still apply.
    let config = keyrank_settings(SessionConfig::from_env()?);
    let runtime = crate::object_stores::runtime_env()?;
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .build();
    let ctx = SessionContext::new_with_state(state);
    register_all(&ctx, store).await?;
    Ok(ctx)
}

/// [`session`], or with `cluster` (`df://HOST:PORT`) a context whose queries run on
/// that Ballista cluster.
pub async fn session_at(store: &Store, cluster: Option<&str>) -> Result<SessionContext> {
    match cluster {
        Some(url) => crate::cluster::connect(url, store).await,
        None => session(store).await,
    }
}

/// The settings every keyrank context has, embedded or on a cluster: the
/// information schema on, and keyrank's own catalog and schema.
pub fn keyrank_settings(config: SessionConfig) -> SessionConfig {
    config
        .with_information_schema(true)
        .with_default_catalog_and_schema("keyrank", "public")
}

/// Registers every table of the store on `ctx`.
pub async fn register_all(ctx: &SessionContext, store: &Store) -> Result<()> {
    register_daily(ctx, store, KEYWORD_DAILY, file_schema())?;
    register_daily(
        ctx,
        store,
        crate::costs::AD_COSTS,
        crate::costs::file_schema(),
    )?;
    register_daily(
        ctx,
        store,
        crate::search_console::SEARCH_QUERIES,
        crate::search_console::file_schema(),
    )?;
    let entries = ledger_entries(ctx, store).await?;
    ctx.register_table("ingest_runs", Arc::new(ledger_table(&entries)?))?;
    crate::udf::register(ctx);
    Ok(())
}

/// A Parquet table partitioned by `day` (DATE); empty while its folder does not exist.
/// Always a listing table, which a cluster can ship to its executors.
fn register_daily(
    ctx: &SessionContext,
    store: &Store,
    name: &str,
    schema: datafusion::arrow::datatypes::SchemaRef,
) -> Result<()> {
    let url = match store.url() {
        Some(base) => ListingTableUrl::parse(format!("{base}{name}/"))?,
        None => {
            let dir = store.table_dir(name);
            let dir = std::path::absolute(&dir).map_err(|e| crate::error::Error::io(&dir, e))?;
            ListingTableUrl::parse(format!("{}/", dir.display()))?
        }
    };
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![("day".to_string(), DataType::Date32)]);
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// The store's ledger, from its folder or its object store.
async fn ledger_entries(
    ctx: &SessionContext,
    store: &Store,
) -> Result<Vec<crate::store::LedgerEntry>> {
    let Some(base) = store.url() else {
        return store.ledger();
    };
    let ledger = format!("{base}{}", crate::store::LEDGER);
    let fail = |e: &dyn std::fmt::Display| crate::error::Error::Other(format!("{ledger}: {e}"));
    let origin = datafusion::execution::object_store::ObjectStoreUrl::parse(
        &base[..url::Position::BeforePath],
    )?;
    let objects = ctx.runtime_env().object_store(origin)?;
    let path =
        object_store::path::Path::from_url_path(format!("{}{}", base.path(), crate::store::LEDGER))
            .map_err(|e| fail(&e))?;
    use object_store::ObjectStoreExt;
    match objects.get(&path).await {
        Ok(found) => {
            let bytes = found.bytes().await.map_err(|e| fail(&e))?;
            crate::store::parse_ledger(&ledger, &String::from_utf8_lossy(&bytes))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(fail(&e)),
    }
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

/// Runs one SQL statement and collects its result.
pub async fn run(ctx: &SessionContext, sql: &str) -> Result<(Arc<Schema>, Vec<RecordBatch>)> {
    let df = ctx.sql(sql).await?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    Ok((schema, batches))
}
