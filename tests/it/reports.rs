//! Reports from generated data: the HTML's structure (charts, rows, totals), the
//! shipped example config, and byte-identical output for the same --as-of.

use crate::common::{ingest, root};
use chrono::NaiveDate;
use keyrank::generate::{GOAL, LOG_FILE, SITE};
use keyrank::report::{Config, run_report};

fn setup() -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    crate::common::generated(dir.path(), 2_000, 4);
    ingest(
        &dir.path().join("store"),
        &[&dir.path().join(LOG_FILE)],
        |c| {
            c.sites = vec![SITE.into()];
            c.goals = vec![GOAL.into()];
        },
    );
    let toml = r#"
store = "store"

[[report]]
name = "budget"
title = "Weekly <budget> & ranking"
query = "budget"
params = { from = "today-30d", to = "today", total = "5000", max_share = 0.2, min_visits = 10 }
formats = ["html", "csv", "md", "json", "parquet"]

[[report]]
name = "engines"
query = "engine_share"
params = { from = "start_of_month" }
formats = ["csv", "html"]
cron = "0 8 * * MON"
"#;
    let path = dir.path().join("reports.toml");
    std::fs::write(&path, toml).unwrap();
    let cfg = Config::load(&path).unwrap();
    (dir, cfg)
}

#[test]
fn html_report_has_charts_rows_and_totals() {
    let (dir, cfg) = setup();
    let as_of = NaiveDate::from_ymd_opt(2024, 3, 12).unwrap();
    let out = run_report(&cfg, &cfg.reports[0], as_of).unwrap();
    assert_eq!(out.outputs.len(), 5);
    let html = std::fs::read_to_string(dir.path().join("reports/budget/2024-03-12.html")).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("<title>Weekly &lt;budget&gt; &amp; ranking — keyrank</title>"));
    assert!(html.contains("Period 2024-02-11 – 2024-03-12"));
    assert!(!html.contains("<script"));
    assert!(
        !html.contains("<link") && !html.contains("src="),
        "self-contained"
    );
    assert_eq!(html.matches("<svg class=\"chart conversions\"").count(), 1);
    assert_eq!(html.matches("<svg class=\"chart budget\"").count(), 1);
    let bars = html.matches("class=\"bar conversions-bar\"").count();
    assert!((5..=15).contains(&bars), "{bars} conversion bars");
    assert!(
        html.matches("class=\"ci\"").count() >= 3 * bars,
        "interval whiskers"
    );
    let csv = std::fs::read_to_string(dir.path().join("reports/budget/2024-03-12.csv")).unwrap();
    let data_rows = csv.lines().count() - 1;
    assert_eq!(
        html.matches("<tr>").count(),
        data_rows + 2,
        "header, rows, totals"
    );
    assert!(html.contains(&format!("Total ({data_rows} rows)")));
    assert!(
        html.contains("<td class=\"num\"></td><td>5000.00</td>") || html.contains(">5000.00<"),
        "amount total"
    );
    // Amounts in the CSV add up to the total, to the cent.
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let amount = header.iter().position(|h| *h == "amount").unwrap();
    let cents: i64 = csv
        .lines()
        .skip(1)
        .map(|l| {
            let v = l.split(',').nth(amount).unwrap();
            let (w, f) = v.split_once('.').unwrap();
            w.parse::<i64>().unwrap() * 100 + f.parse::<i64>().unwrap()
        })
        .sum();
    assert_eq!(cents, 500_000);
    let md = std::fs::read_to_string(dir.path().join("reports/budget/2024-03-12.md")).unwrap();
    assert!(md.starts_with("## Weekly <budget> & ranking") && md.contains("| keyword |"));
    // No temp files left beside the outputs.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("reports/budget"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn same_as_of_gives_byte_identical_output() {
    let (dir, cfg) = setup();
    let as_of = NaiveDate::from_ymd_opt(2024, 3, 11).unwrap();
    let read = |ext: &str| {
        std::fs::read(dir.path().join(format!("reports/budget/2024-03-11.{ext}"))).unwrap()
    };
    run_report(&cfg, &cfg.reports[0], as_of).unwrap();
    let (csv, html, parquet) = (read("csv"), read("html"), read("parquet"));
    run_report(&cfg, &cfg.reports[0], as_of).unwrap();
    assert_eq!(csv, read("csv"));
    assert_eq!(html, read("html"));
    assert_eq!(parquet, read("parquet"));
    let out = run_report(&cfg, &cfg.reports[1], as_of).unwrap();
    assert!(out.rows >= 5, "engines");
}

#[test]
fn shipped_example_config_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reports.toml");
    std::fs::copy(root().join("testdata/reports.toml"), &path).unwrap();
    let cfg = Config::load(&path).unwrap();
    assert_eq!(cfg.reports.len(), 4);
    assert!(cfg.reports[0].cron.is_some() && cfg.reports[3].cron.is_none());
}
