//! Whole-ingest benchmark: generates a log of `KEYRANK_BENCH_LINES` lines (default
//! 2,000,000) with `keyrank generate`, then ingests it in fresh child processes and
//! reports lines/s and each child's peak RSS (VmHWM), so the generator's own memory
//! does not count. Two modes, three runs each:
//! - `log`: the combined log alone (`access.log`);
//! - `purchases`: the visitor-cookie log (`access_vid.log`) alone, then the same log
//!   with a purchase file of `KEYRANK_BENCH_ORDERS` orders (default 1,000,000) joined
//!   by visitor cookie, and the ratio of the two times.
//!
//! - `cluster`: the combined log split into `KEYRANK_BENCH_FILES` files (default 8),
//!   ingested embedded, then with `ingest --cluster` on an in-process Ballista cluster
//!   of one and of two executors (2 task slots each) on loopback; needs
//!   `--features cluster`.
//!
//! - the DuckDB peer (with the `log` mode, when Python's `duckdb` module is installed):
//!   what someone would hand-write instead — one SQL query over the same log that
//!   pulls the search term from each page view's Referer and counts visits and
//!   distinct clients per day and keyword (2 threads, connect + query timed, three
//!   runs) — far less work than keyrank's sessions and attribution; the ratio of the
//!   medians is printed.
//!
//! `cargo bench --bench ingest`; `KEYRANK_BENCH_LINES=10000000 cargo bench --bench ingest`;
//! `KEYRANK_BENCH_MODE=log`, `purchases` or `cluster` runs one mode.

#[path = "peer.rs"]
mod peer;

use keyrank::generate::{
    GOAL, GenerateConfig, LOG_FILE, PURCHASES_FILE, SITE, VID_LOG_FILE, VID_LOG_FORMAT,
    VISITOR_COOKIE, generate,
};
use keyrank::ingest::purchases::{PurchaseFormat, PurchaseSource};
use keyrank::ingest::{IngestConfig, run};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const CHILD: &str = "KEYRANK_BENCH_CHILD";
const CHILD_MODE: &str = "KEYRANK_BENCH_CHILD_MODE";
/// The generator writes about 5.2 lines per visitor.
const LINES_PER_VISITOR: f64 = 5.2;
const BENCH_PURCHASES: &str = "bench_purchases.csv";

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One ingest in this (child) process; prints one result line.
fn child(dir: &Path, mode: &str) {
    let mut cfg = IngestConfig {
        store: dir.join("store"),
        inputs: vec![dir.join(LOG_FILE).display().to_string()],
        sites: vec![SITE.into()],
        goals: vec![GOAL.into()],
        ..IngestConfig::default()
    };
    if mode.starts_with("vid") {
        cfg.inputs = vec![dir.join(VID_LOG_FILE).display().to_string()];
        cfg.log_format = VID_LOG_FORMAT.into();
        cfg.visitor_cookie = Some(VISITOR_COOKIE.into());
        cfg.goals = Vec::new();
    }
    if let Some(_how) = mode.strip_prefix("split") {
        cfg.inputs = split_files(dir);
        #[cfg(feature = "cluster")]
        if let Ok(executors) = _how.trim_start_matches('+').parse::<usize>() {
            keyrank::cluster::add_job_functions(keyrank::ingest::distributed::functions);
            let cluster = keyrank::cluster::LocalCluster::start(executors, 2).expect("cluster");
            cfg.cluster = Some(cluster.url().to_string());
            let start = Instant::now();
            let s = run(&cfg).expect("ingest");
            return report(mode, &s, start.elapsed().as_secs_f64());
        }
    }
    if mode == "vid+purchases" {
        cfg.purchases = vec![PurchaseSource {
            path: dir.join(BENCH_PURCHASES),
            format: PurchaseFormat::Csv,
        }];
    }
    let start = Instant::now();
    let s = run(&cfg).expect("ingest");
    report(mode, &s, start.elapsed().as_secs_f64());
}

fn report(mode: &str, s: &keyrank::ingest::RunSummary, secs: f64) {
    println!(
        "{mode:>14}: {} lines in {:.2}s = {:.0} lines/s; {} visits, {} conversions \
         ({} from purchases); peak RSS {:.0} MiB",
        s.lines_read,
        secs,
        s.lines_read as f64 / secs,
        s.visits,
        s.conversions,
        s.purchase_conversions,
        peak_rss_mib()
    );
}

/// The DuckDB peer over the combined log (see the header); prints one JSON line.
const DUCKDB_PEER: &str = r#"import duckdb, sys, time, json
log = sys.argv[1]
t = time.perf_counter()
con = duckdb.connect()
con.execute("SET threads TO 2")
q = f"""
WITH hits AS (
  SELECT regexp_extract(line, '^(\\S+)', 1) AS ip,
         regexp_extract(line, '\\[(\\d\\d/\\w+/\\d{{4}})', 1) AS day,
         regexp_extract(line, '"[A-Z]+ (\\S+) [^"]*" (\\d{{3}})', 2) AS status,
         regexp_extract(line, '"[A-Z]+ (\\S+) [^"]*" (\\d{{3}})', 1) AS uri,
         regexp_extract(line, '" \\d{{3}} \\S+ "([^"]*)"', 1) AS referer
  FROM read_csv('{log}', columns = {{'line': 'VARCHAR'}}, header = false, delim = '\\x1f',
                quote = '', escape = '', auto_detect = false, ignore_errors = true, strict_mode = false)),
search AS (
  SELECT day, ip, lower(trim(try(url_decode(replace(regexp_extract(referer, '[?&](?:q|p|query|text|wd)=([^&]*)', 1), '+', ' '))))) AS keyword
  FROM hits
  WHERE status = '200' AND referer NOT LIKE 'https://shop.example%'
    AND NOT regexp_matches(uri, '\\.(css|js|png|jpg|gif|ico|svg|woff2?)$'))
SELECT day, keyword, COUNT(*) AS visits, COUNT(DISTINCT ip) AS visitors
FROM search WHERE keyword <> '' GROUP BY day, keyword ORDER BY visits DESC
"""
rows = con.execute(q).fetchall()
print(json.dumps({"seconds": time.perf_counter() - t, "rows": len(rows)}))
"#;

/// The DuckDB peer's median seconds over three runs, or None without `duckdb`.
fn duckdb_peer(dir: &Path) -> Option<f64> {
    let script = dir.join("peer_ingest.py");
    let log = dir.join(LOG_FILE);
    let mut secs = Vec::new();
    for _ in 0..3 {
        let v: serde_json::Value = peer::run_python(&script, DUCKDB_PEER, &[log.as_os_str()])?;
        secs.push(v["seconds"].as_f64()?);
    }
    secs.sort_by(f64::total_cmp);
    Some(secs[1])
}

const SPLIT_DIR: &str = "split";

/// The split log's files, oldest first.
fn split_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir.join(SPLIT_DIR))
        .expect("split dir")
        .map(|e| e.expect("entry").path().display().to_string())
        .collect();
    files.sort();
    files
}

/// Splits the combined log into `parts` files of whole lines, as a site rotates its
/// logs.
fn write_split(dir: &Path, parts: usize) {
    let log = std::fs::read(dir.join(LOG_FILE)).expect("access.log");
    let out = dir.join(SPLIT_DIR);
    std::fs::create_dir_all(&out).expect("split dir");
    let per = log.len().div_ceil(parts);
    let mut start = 0;
    let mut i = 0;
    while start < log.len() {
        let mut end = (start + per).min(log.len());
        while end < log.len() && log[end - 1] != b'\n' {
            end += 1;
        }
        std::fs::write(out.join(format!("access.{i:03}.log")), &log[start..end]).expect("part");
        start = end;
        i += 1;
    }
}

/// A purchase file of `orders` rows: the generator's own purchases, then repeat
/// orders by the same visitors at other times of the log (new order ids), so every
/// row joins a real visitor's touches.
fn write_purchases(dir: &Path, orders: usize) {
    let real = std::fs::read_to_string(dir.join(PURCHASES_FILE)).expect("purchases.csv");
    let mut lines = real.lines();
    let header = lines.next().expect("header");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(!rows.is_empty(), "the generator wrote no purchases");
    let times: Vec<i64> = rows
        .iter()
        .map(|r| {
            chrono::DateTime::parse_from_rfc3339(r[0])
                .expect("rfc3339")
                .timestamp()
        })
        .collect();
    let (first, last) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
    let mut out = String::with_capacity(orders * 64);
    out.push_str(header);
    out.push('\n');
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..orders {
        let r = &rows[i % rows.len()];
        if i < rows.len() {
            out.push_str(&r.join(","));
        } else {
            // xorshift: a spread of times without a random-number dependency.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ts = first + (x % (last - first + 1) as u64) as i64;
            let when = chrono::DateTime::from_timestamp(ts, 0).unwrap();
            out.push_str(&format!(
                "{},B{i:09},{},{},{}",
                when.format("%Y-%m-%dT%H:%M:%SZ"),
                r[2],
                r[3],
                r[4]
            ));
        }
        out.push('\n');
    }
    std::fs::write(dir.join(BENCH_PURCHASES), out).expect("write purchases");
}

/// Runs one mode three times in fresh processes; returns the child outputs.
fn runs(dir: &Path, mode: &str) -> Vec<String> {
    let exe = std::env::current_exe().expect("own path");
    (0..3)
        .map(|_| {
            let out = Command::new(&exe)
                .env(CHILD, dir)
                .env(CHILD_MODE, mode)
                .output()
                .expect("run child");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::remove_dir_all(dir.join("store")).ok();
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            println!("{text}");
            text
        })
        .collect()
}

/// The median of the runs' seconds.
fn median_secs(lines: &[String]) -> f64 {
    let mut secs: Vec<f64> = lines
        .iter()
        .filter_map(|l| {
            let t = l.split(" in ").nth(1)?.split('s').next()?;
            t.parse().ok()
        })
        .collect();
    secs.sort_by(|a, b| a.total_cmp(b));
    secs[secs.len() / 2]
}

fn main() {
    if let Ok(dir) = std::env::var(CHILD) {
        let mode = std::env::var(CHILD_MODE).unwrap_or_else(|_| "log".into());
        return child(Path::new(&dir), &mode);
    }
    // `cargo test --benches` passes --test/--bench flags; only run when benchmarking.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let lines: u64 = std::env::var("KEYRANK_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let start = Instant::now();
    let truth = generate(
        &GenerateConfig {
            visitors: (lines as f64 / LINES_PER_VISITOR) as u64,
            seed: 7,
            days: 28,
            ..GenerateConfig::default()
        },
        dir.path(),
    )
    .expect("generate");
    println!(
        "generated {} lines in {:.1}s",
        truth.lines,
        start.elapsed().as_secs_f64()
    );
    let mode = std::env::var("KEYRANK_BENCH_MODE").unwrap_or_default();
    if mode.is_empty() || mode == "log" {
        let log = runs(dir.path(), "log");
        let ours = median_secs(&log);
        println!(
            "log: median {ours:.2}s = {:.0} lines/s",
            truth.lines as f64 / ours
        );
        if let Some(theirs) = duckdb_peer(dir.path()) {
            println!(
                "duckdb peer (keyword count over the same log): median {theirs:.2}s; keyrank {:.1}x faster",
                theirs / ours
            );
        }
    }
    // The cluster mode needs `--features cluster`.
    if (mode.is_empty() && keyrank::cluster::BUILT) || mode == "cluster" {
        let files: usize = std::env::var("KEYRANK_BENCH_FILES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(8);
        write_split(dir.path(), files);
        let embedded = median_secs(&runs(dir.path(), "split"));
        let one = median_secs(&runs(dir.path(), "split+1"));
        let two = median_secs(&runs(dir.path(), "split+2"));
        let rate = |secs: f64| truth.lines as f64 / secs;
        println!(
            "cluster: {files} files; median lines/s embedded {:.0}, one executor {:.0}, \
             two executors {:.0}",
            rate(embedded),
            rate(one),
            rate(two)
        );
    }
    if mode.is_empty() || mode == "purchases" {
        let orders: usize = std::env::var("KEYRANK_BENCH_ORDERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        write_purchases(dir.path(), orders);
        let alone = median_secs(&runs(dir.path(), "vid"));
        let joined = median_secs(&runs(dir.path(), "vid+purchases"));
        println!(
            "purchases: {orders} orders; median {alone:.2}s log alone, {joined:.2}s with \
             purchases = {:.2}x",
            joined / alone
        );
    }
}
