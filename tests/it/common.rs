use datafusion::arrow::util::display::array_value_to_string;
use keyrank::ingest::{IngestConfig, RunSummary};
use keyrank::store::Store;
use std::path::{Path, PathBuf};

/// The crate root, so tests find `testdata/` and `../shared` wherever they run from.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file of `../shared` (real data beside the clone), or None when it is not there:
/// then the test says plainly that it was skipped and why. With `CI` set (CI always
/// has `../shared`) a missing file fails the test instead.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let path = root().join("..").join("shared").join(rel);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must have ../shared/{rel} beside the clone"
    );
    eprintln!("skipped: ../shared/{rel} is not beside this clone (real data the tests read in CI)");
    None
}

/// Generates `visitors` visitors' sample data (seed `seed`, other settings default)
/// into `dir`; returns its truth.
pub fn generated(dir: &Path, visitors: u64, seed: u64) -> keyrank::generate::Truth {
    use keyrank::generate::{GenerateConfig, generate};
    generate(
        &GenerateConfig {
            visitors,
            seed,
            ..GenerateConfig::default()
        },
        dir,
    )
    .unwrap()
}

/// Generates `visitors` visitors' log (seed `seed`) into `dir` and ingests it with the
/// generator's site and goal into `dir/store`; returns the truth and the store.
pub fn generated_store(
    dir: &Path,
    visitors: u64,
    seed: u64,
) -> (keyrank::generate::Truth, PathBuf) {
    generated_store_with(
        dir,
        &keyrank::generate::GenerateConfig {
            visitors,
            seed,
            ..Default::default()
        },
    )
}

/// Generates sample data as `cfg` says into `dir` and ingests its log with the
/// generator's site and goal into `dir/store`; returns the truth and the store.
pub fn generated_store_with(
    dir: &Path,
    cfg: &keyrank::generate::GenerateConfig,
) -> (keyrank::generate::Truth, PathBuf) {
    let truth = keyrank::generate::generate(cfg, dir).unwrap();
    let store = dir.join("store");
    ingest_generated(&store, dir);
    (truth, store)
}

/// Ingests the log generated into `dir` with the generator's site and goal.
pub fn ingest_generated(store: &Path, dir: &Path) -> RunSummary {
    use keyrank::generate::{GOAL, LOG_FILE, SITE};
    ingest(store, &[&dir.join(LOG_FILE)], |c| {
        c.sites = vec![SITE.into()];
        c.goals = vec![GOAL.into()];
    })
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
    query_at(store, sql, None)
}

/// [`query`], on a Ballista cluster when `cluster` is given.
pub fn query_at(store: &Path, sql: &str, cluster: Option<&str>) -> Vec<Vec<String>> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(store).unwrap();
        let ctx = keyrank::cluster::session_at(&store, cluster).await.unwrap();
        let (_, batches) = keyrank::query::run(&ctx, sql).await.unwrap();
        cells(&batches)
    })
}

/// Every cell of a result as text (NULL as "NULL"), row by row.
pub fn cells(batches: &[datafusion::arrow::array::RecordBatch]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for b in batches {
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

/// A decimal string ("12.34") in units of 10^-scale (1234 for scale 2).
pub fn units(s: &str, scale: usize) -> i64 {
    let (w, f) = s.split_once('.').unwrap_or((s, ""));
    let f = format!("{f:0<scale$}");
    w.parse::<i64>().unwrap() * 10i64.pow(scale as u32) + f[..scale].parse::<i64>().unwrap_or(0)
}

/// Spearman rank correlation (average ranks for ties).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    fn ranks(x: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..x.len()).collect();
        idx.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
        let mut r = vec![0.0; x.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
                j += 1;
            }
            for k in i..=j {
                r[idx[k]] = (i + j) as f64 / 2.0;
            }
            i = j + 1;
        }
        r
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// A history record for a write a test makes through the library.
pub fn test_entry(command: &str) -> keyrank::store::LedgerEntry {
    keyrank::store::LedgerEntry {
        run_id: "test".into(),
        command: command.into(),
        keyrank_version: env!("CARGO_PKG_VERSION").into(),
        started_at: keyrank::store::now_rfc3339(),
        finished_at: keyrank::store::now_rfc3339(),
        inputs: Vec::new(),
        days_written: Vec::new(),
        settings: serde_json::json!({}),
        counts: serde_json::json!({}),
    }
}
