use datafusion::arrow::util::display::array_value_to_string;
use keyrank::ingest::{IngestConfig, RunSummary};
use keyrank::store::Store;
use std::path::{Path, PathBuf};

/// The crate root, so tests find `testdata/` and `../shared` wherever they run from.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn shared(rel: &str) -> PathBuf {
    root().join("..").join("shared").join(rel)
}

pub fn ingest(store: &Path, inputs: &[&Path], tweak: impl FnOnce(&mut IngestConfig)) -> RunSummary {
    let mut cfg = IngestConfig {
        store: store.to_path_buf(),
        inputs: inputs.iter().map(|p| p.display().to_string()).collect(),
        ..IngestConfig::default()
    };
    tweak(&mut cfg);
    keyrank::ingest::run(&cfg).expect("ingest succeeds")
}

/// Runs SQL on a store and returns every cell as text (NULL as "NULL").
pub fn query(store: &Path, sql: &str) -> Vec<Vec<String>> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(store).unwrap();
        let ctx = keyrank::sql::session(&store).await.unwrap();
        let (_, batches) = keyrank::sql::run(&ctx, sql).await.unwrap();
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
                                array_value_to_string(c, r).unwrap()
                            }
                        })
                        .collect(),
                );
            }
        }
        rows
    })
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub fn cents(s: &str) -> i64 {
    let (w, f) = s.split_once('.').unwrap_or((s, "0"));
    let f = format!("{f:0<2}");
    w.parse::<i64>().unwrap() * 100 + f[..2].parse::<i64>().unwrap()
}
