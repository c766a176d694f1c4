//! Whole-ingest benchmark: generates a log of `KEYRANK_BENCH_LINES` lines (default
//! 2,000,000) with `keyrank generate`, then ingests it in a fresh child process and
//! reports lines/s and the child's peak RSS (VmHWM), so the generator's own memory
//! does not count.
//!
//! `cargo bench --bench ingest`; `KEYRANK_BENCH_LINES=10000000 cargo bench --bench ingest`.

use keyrank::generate::{GOAL, GenerateConfig, LOG_FILE, SITE, generate};
use keyrank::ingest::{IngestConfig, run};
use std::time::Instant;

const CHILD: &str = "KEYRANK_BENCH_CHILD";
/// The generator writes about 5.2 lines per visitor.
const LINES_PER_VISITOR: f64 = 5.2;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn child(dir: &str) {
    let cfg = IngestConfig {
        store: std::path::Path::new(dir).join("store"),
        inputs: vec![
            std::path::Path::new(dir)
                .join(LOG_FILE)
                .display()
                .to_string(),
        ],
        sites: vec![SITE.into()],
        goals: vec![GOAL.into()],
        ..IngestConfig::default()
    };
    let start = Instant::now();
    let s = run(&cfg).expect("ingest");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "ingest: {} lines in {:.2}s = {:.0} lines/s; {} visits, {} conversions; peak RSS {:.0} MiB",
        s.lines_read,
        secs,
        s.lines_read as f64 / secs,
        s.visits,
        s.conversions,
        peak_rss_mib()
    );
}

fn main() {
    if let Ok(dir) = std::env::var(CHILD) {
        return child(&dir);
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
    let exe = std::env::current_exe().expect("own path");
    for _ in 0..3 {
        let status = std::process::Command::new(&exe)
            .env(CHILD, dir.path())
            .status()
            .expect("run child");
        assert!(status.success());
        std::fs::remove_dir_all(dir.path().join("store")).ok();
    }
}
