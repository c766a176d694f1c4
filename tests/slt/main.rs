//! Runs every `tests/slt/*.slt` file with sqllogictest against a fresh store built
//! from `testdata/` (the hand-written log, ingested with k = 1, plus a cost report and
//! a Search Console export). Column types are checked: `I` integers, `R` floats and
//! decimals, `T` everything else.
//! `CANNED name k=v …` runs a shipped query from `queries/` with parameters.
//!
//! `KEYRANK_SLT_COMPLETE=1 cargo test --test slt` rewrites the expected results.

use datafusion::arrow::array::Array;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::prelude::SessionContext;
use keyrank::ingest::IngestConfig;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};
use std::path::{Path, PathBuf};

struct Db {
    ctx: SessionContext,
}

#[derive(Debug)]
struct DbError(String);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DbError {}

#[async_trait::async_trait]
impl AsyncDB for Db {
    type Error = DbError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DbError> {
        let sql = match sql.trim().strip_prefix("CANNED ") {
            Some(rest) => {
                let mut words = rest.split_whitespace();
                let name = words.next().unwrap_or_default();
                let params: Vec<String> = words.map(String::from).collect();
                let q = keyrank::query::queries::find(name).map_err(|e| DbError(e.to_string()))?;
                let params = keyrank::query::queries::parse_params(&params)
                    .map_err(|e| DbError(e.to_string()))?;
                q.render(&params).map_err(|e| DbError(e.to_string()))?
            }
            None => sql.to_string(),
        };
        let (schema, batches) = keyrank::query::run(&self.ctx, &sql)
            .await
            .map_err(|e| DbError(e.to_string()))?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let mut rows = Vec::new();
        for b in &batches {
            for r in 0..b.num_rows() {
                rows.push(
                    b.columns()
                        .iter()
                        .map(|c| {
                            if c.is_null(r) {
                                "NULL".to_string()
                            } else {
                                let v = array_value_to_string(c, r).unwrap_or_default();
                                if v.is_empty() { "(empty)".into() } else { v }
                            }
                        })
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows {
            types: schema
                .fields()
                .iter()
                .map(|f| column_type(f.data_type()))
                .collect(),
            rows,
        })
    }

    async fn shutdown(&mut self) {}
}

fn column_type(t: &datafusion::arrow::datatypes::DataType) -> DefaultColumnType {
    if t.is_integer() {
        DefaultColumnType::Integer
    } else if t.is_floating() || t.is_decimal() {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A store with known contents for every .slt file.
fn build_store(dir: &Path) -> keyrank::store::Store {
    let cfg = IngestConfig {
        store: dir.to_path_buf(),
        inputs: vec![
            root()
                .join("testdata/handwritten.log")
                .display()
                .to_string(),
        ],
        sites: vec!["shop.example".into()],
        goals: vec!["/checkout/complete".into()],
        min_visitors: 1,
        ..IngestConfig::default()
    };
    keyrank::ingest::run(&cfg).expect("ingest testdata");
    let store = keyrank::store::Store::open(dir).unwrap();
    let (rows, _) = keyrank::import::costs::read(&root().join("testdata/costs.csv"), None).unwrap();
    commit_import(&store, "costs import", rows.iter().map(|r| r.day), |w| {
        keyrank::import::costs::store(w, &rows).map(|_| ())
    });
    let export = root().join("testdata/search_console.csv");
    let (rows, _) = keyrank::import::search_console::read(&export, "google", None).unwrap();
    commit_import(
        &store,
        "search-console import",
        rows.iter().map(|r| r.day),
        |w| keyrank::import::search_console::store_rows(w, &rows).map(|_| ()),
    );
    store
}

/// One import written and committed with its history entry, as the CLI does.
fn commit_import(
    store: &keyrank::store::Store,
    command: &str,
    days: impl IntoIterator<Item = i32>,
    write: impl FnOnce(&mut keyrank::store::Writer) -> keyrank::Result<()>,
) {
    let mut w = store.writer(std::time::Duration::from_secs(5)).unwrap();
    write(&mut w).unwrap();
    let entry = keyrank::store::LedgerEntry::of_command(
        &w,
        command,
        keyrank::store::now_rfc3339(),
        Vec::new(),
        days,
        serde_json::json!({}),
        serde_json::json!({}),
    );
    w.commit(entry).unwrap();
}

fn main() {
    let complete = std::env::var("KEYRANK_SLT_COMPLETE").is_ok_and(|v| v == "1");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/slt"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        let dir = tempfile::tempdir().unwrap();
        let store = build_store(dir.path());
        let result = rt.block_on(async {
            // One fresh context per file.
            let ctx = keyrank::query::session(&store).await.unwrap();
            let mut runner = Runner::new(move || {
                let ctx = ctx.clone();
                async move { Ok::<_, DbError>(Db { ctx }) }
            });
            runner.with_column_validator(sqllogictest::strict_column_validator);
            if complete {
                runner
                    .update_test_file(
                        file,
                        " ",
                        sqllogictest::default_validator,
                        sqllogictest::default_normalizer,
                        sqllogictest::strict_column_validator,
                    )
                    .await
                    .map_err(|e| e.to_string())
            } else {
                runner.run_file_async(file).await.map_err(|e| e.to_string())
            }
        });
        match result {
            Ok(()) => {
                println!("ok   {}", file.file_name().unwrap().to_string_lossy());
                passed += 1;
            }
            Err(e) => {
                println!("FAIL {}\n{e}", file.file_name().unwrap().to_string_lossy());
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 || files.is_empty() {
        std::process::exit(1);
    }
}
