//! `keyrank generate` → `keyrank ingest` → SQL equals the generator's truth file exactly.

use crate::common::{cents, ingest, query};
use keyrank::generate::{GOAL, GenerateConfig, LOG_FILE, SITE, Truth, TruthRow, generate};
use std::collections::BTreeMap;

fn sql_rows(store: &std::path::Path) -> BTreeMap<(String, String, Option<String>), TruthRow> {
    let rows = query(
        store,
        "SELECT source, medium, keyword, SUM(visits), SUM(pageviews), SUM(conversions_first), \
         SUM(revenue_first), SUM(conversions_last), SUM(revenue_last) \
         FROM keyword_daily GROUP BY source, medium, keyword",
    );
    rows.into_iter()
        .map(|r| {
            let keyword = (r[2] != "NULL").then(|| r[2].clone());
            let row = TruthRow {
                source: r[0].clone(),
                medium: r[1].clone(),
                keyword: keyword.clone(),
                visits: r[3].parse().unwrap(),
                pageviews: r[4].parse().unwrap(),
                conversions_first: r[5].parse().unwrap(),
                revenue_first_cents: cents(&r[6]),
                conversions_last: r[7].parse().unwrap(),
                revenue_last_cents: cents(&r[8]),
            };
            ((r[0].clone(), r[1].clone(), keyword), row)
        })
        .collect()
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
                r.clone(),
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

    // Ingesting the same input again replaces, never doubles.
    ingest(&store, &[&log], |c| {
        c.sites = vec![SITE.into()];
        c.goals = vec![GOAL.into()];
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
