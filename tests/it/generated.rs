//! `keyrank generate` → `keyrank ingest` → SQL equals the generator's truth file exactly.

use crate::common::{ingest, query, units};
use keyrank::generate::{GOAL, GenerateConfig, LOG_FILE, SITE, Truth, TruthRow, generate};
use keyrank::model::attribution::AttributionModel;
use std::collections::BTreeMap;

fn sql_rows(store: &std::path::Path) -> BTreeMap<(String, String, Option<String>), TruthRow> {
    let models: Vec<&str> = AttributionModel::ALL.iter().map(|m| m.name()).collect();
    let sums: Vec<String> = models
        .iter()
        .map(|m| format!("SUM(conversions_{m}), SUM(revenue_{m})"))
        .collect();
    let rows = query(
        store,
        &format!(
            "SELECT source, medium, keyword, SUM(visits), SUM(pageviews), {} \
             FROM keyword_daily GROUP BY source, medium, keyword",
            sums.join(", ")
        ),
    );
    rows.into_iter()
        .map(|r| {
            let keyword = (r[2] != "NULL").then(|| r[2].clone());
            let mut row = TruthRow {
                source: r[0].clone(),
                medium: r[1].clone(),
                keyword: keyword.clone(),
                visits: r[3].parse().unwrap(),
                pageviews: r[4].parse().unwrap(),
                ..TruthRow::default()
            };
            for (i, m) in models.iter().enumerate() {
                let conv = units(&r[5 + 2 * i], 6);
                let rev = units(&r[6 + 2 * i], 2);
                row.conversions.insert(m.to_string(), conv);
                row.revenue_cents.insert(m.to_string(), rev);
            }
            ((r[0].clone(), r[1].clone(), keyword), row)
        })
        .collect()
}

/// The truth file lists a model only where a conversion touched the row: add zeros.
fn complete(mut r: TruthRow) -> TruthRow {
    for m in AttributionModel::ALL {
        r.conversions.entry(m.name().to_string()).or_insert(0);
        r.revenue_cents.entry(m.name().to_string()).or_insert(0);
    }
    r
}

fn check_seed(seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = GenerateConfig {
        visitors: 3_000,
        seed,
        ..GenerateConfig::default()
    };
    let truth: Truth = generate(&cfg, dir.path()).unwrap();
    assert_eq!(Truth::read(&dir.path().join("truth.json")).unwrap(), truth);
    let store = dir.path().join("store");
    let log = dir.path().join(LOG_FILE);
    let s = ingest(&store, &[&log], |c| {
        c.sites = vec![SITE.into()];
        c.goals = vec![GOAL.into()];
    });
    assert_eq!(s.lines_read, truth.lines);
    assert_eq!(s.malformed, truth.malformed);
    assert_eq!(s.parsed, truth.lines - truth.malformed);
    assert_eq!(s.crawlers, truth.crawlers);
    assert_eq!(s.assets, truth.assets);
    assert_eq!(s.error_status, truth.error_status);
    assert_eq!(s.visits, truth.visits);
    assert_eq!(s.page_views, truth.page_views);
    assert_eq!(s.conversions, truth.conversions);
    assert_eq!(s.duplicate_orders, truth.duplicate_orders);

    let expected: BTreeMap<_, _> = truth
        .rows
        .iter()
        .map(|r| {
            (
                (r.source.clone(), r.medium.clone(), r.keyword.clone()),
                complete(r.clone()),
            )
        })
        .collect();
    let got = sql_rows(&store);
    for (k, want) in &expected {
        assert_eq!(got.get(k), Some(want), "seed {seed}: row {k:?}");
    }
    assert_eq!(
        got.len(),
        expected.len(),
        "seed {seed}: extra rows in the store"
    );

    // Ingesting the same input again replaces, never doubles; and the number of
    // parse threads (one, or more than cores) does not change a single figure.
    ingest(&store, &[&log], |c| {
        c.sites = vec![SITE.into()];
        c.goals = vec![GOAL.into()];
        c.threads = if seed % 2 == 1 { 1 } else { 3 };
    });
    assert_eq!(
        sql_rows(&store),
        got,
        "seed {seed}: re-ingest changed results"
    );
    let runs = query(&store, "SELECT COUNT(*) FROM ingest_runs");
    assert_eq!(runs, vec![vec!["2".to_string()]]);
}

#[test]
fn ingest_reproduces_truth_seed_1() {
    check_seed(1);
}

#[test]
fn ingest_reproduces_truth_seed_42() {
    check_seed(42);
}

#[test]
fn auto_detected_site_host_matches_explicit_one() {
    let dir = tempfile::tempdir().unwrap();
    generate(
        &GenerateConfig {
            visitors: 500,
            ..GenerateConfig::default()
        },
        dir.path(),
    )
    .unwrap();
    let log = dir.path().join(LOG_FILE);
    let a = ingest(&dir.path().join("a"), &[&log], |c| {
        c.goals = vec![GOAL.into()]
    });
    let b = ingest(&dir.path().join("b"), &[&log], |c| {
        c.sites = vec![SITE.into()];
        c.goals = vec![GOAL.into()];
    });
    assert_eq!(a.site_hosts, vec![SITE.to_string()]);
    assert_eq!(a.visits, b.visits);
    assert_eq!(a.referral_visits, b.referral_visits);
}
