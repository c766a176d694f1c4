//! Search Console import and keyword recovery on generated data: the estimate tracks
//! the true terms behind (not provided), totals stay exact, bad rows are reported.

use crate::common::{ingest, query, spearman, units};
use keyrank::generate::{GOAL, LOG_FILE, SEARCH_CONSOLE_FILE, SITE};
use keyrank::store::Store;

#[test]
fn recovery_tracks_true_terms_and_keeps_totals() {
    let dir = tempfile::tempdir().unwrap();
    let truth = crate::common::generated(dir.path(), 6_000, 17);
    let store_dir = dir.path().join("store");
    ingest(&store_dir, &[&dir.path().join(LOG_FILE)], |c| {
        c.sites = vec![SITE.into()];
        c.goals = vec![GOAL.into()];
        c.min_visitors = 1;
    });
    let per_engine = "SELECT source, SUM(conversions_last), SUM(revenue_last), SUM(visits) FROM keyword_daily \
                      WHERE medium = 'organic' GROUP BY source ORDER BY source";
    let before = query(&store_dir, per_engine);
    let kw_sql = |estimated: bool| {
        format!(
            "SELECT keyword, SUM(conversions_last) FROM keyword_daily WHERE source = 'google' AND medium = 'organic' \
             AND keyword NOT LIKE '(%)' {} GROUP BY keyword",
            if estimated { "" } else { "AND NOT estimated" }
        )
    };
    let observed = query(&store_dir, &kw_sql(false));

    let store = Store::open(&store_dir).unwrap();
    let (rows, s) = keyrank::import::search_console::read(
        &dir.path().join(SEARCH_CONSOLE_FILE),
        "google",
        None,
    )
    .unwrap();
    assert_eq!(s.bad_rows, 0);
    assert!(s.anonymized_rows > 0, "the export anonymises some rows");
    let mut w = store.writer(std::time::Duration::from_secs(5)).unwrap();
    keyrank::import::search_console::store_rows(&mut w, &rows).unwrap();
    let r = keyrank::import::search_console::recover(&mut w, &[], 1).unwrap();
    w.commit(crate::common::test_entry("search-console import"))
        .unwrap();
    assert!(r.pages_recovered > 0 && r.visits_apportioned > 0);
    // Totals per engine are unchanged, to the cent.
    assert_eq!(query(&store_dir, per_engine), before);
    // The observed view is exactly what was ingested.
    let mut obs_after = query(&store_dir, &kw_sql(false));
    let mut obs_before = observed.clone();
    obs_after.sort();
    obs_before.sort();
    assert_eq!(obs_after, obs_before);
    // Recovering twice gives the same rows (estimated rows are recomputed, not added).
    let all = "SELECT keyword, estimated, SUM(visits), SUM(conversions_first) FROM keyword_daily GROUP BY 1, 2 ORDER BY 1, 2";
    let once = query(&store_dir, all);
    let mut w = store.writer(std::time::Duration::from_secs(5)).unwrap();
    keyrank::import::search_console::recover(&mut w, &[], 1).unwrap();
    w.commit(crate::common::test_entry("search-console recover"))
        .unwrap();
    assert_eq!(query(&store_dir, all), once);

    // Correlation with the true terms' conversions, observed-only vs with estimates.
    let estimated = query(&store_dir, &kw_sql(true));
    let score = |rows: &[Vec<String>]| {
        let got: std::collections::BTreeMap<String, f64> = rows
            .iter()
            .map(|r| (r[0].clone(), units(&r[1], 6) as f64 / 1e6))
            .collect();
        let keys: Vec<&String> = truth.true_rates.keys().collect();
        let est: Vec<f64> = keys
            .iter()
            .map(|k| got.get(*k).copied().unwrap_or(0.0))
            .collect();
        let real: Vec<f64> = keys
            .iter()
            .map(|k| {
                truth
                    .google_organic_conversions
                    .get(*k)
                    .copied()
                    .unwrap_or(0) as f64
            })
            .collect();
        spearman(&est, &real)
    };
    let (obs, rec) = (score(&observed), score(&estimated));
    eprintln!("rank correlation with true conversions: observed {obs:.3}, with recovery {rec:.3}");
    assert!(rec > obs, "recovery should help: {rec} vs {obs}");
    assert!(
        rec > 0.6,
        "recovered ranking correlates with the truth: {rec}"
    );

    // The generated export counts one click per Google organic visit: no gap anywhere.
    let sql = keyrank::query::queries::find("search_console_gap")
        .unwrap()
        .render(&Default::default())
        .unwrap();
    let gap = query(&store_dir, &sql);
    assert_eq!(gap.len(), 10, "one row per landing page");
    assert!(
        gap.iter()
            .all(|r| r[0] == "google" && r[2] == r[3] && r[4] == "1.0"),
        "{gap:?}"
    );
}

#[test]
fn bad_and_unrecognised_exports() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sc.csv");
    std::fs::write(
        &p,
        "Date,Query,Page,Clicks,Impressions,Position\n\
         2024-03-04,red shoes,https://shop.example/shoes/red,5,50,3.2\n\
         2024-03-04,,https://shop.example/shoes/red,2,40,8.0\n\
         yesterday,boots,https://shop.example/boots,1,10,4\n\
         2024-03-04,boots,https://shop.example/boots,many,10,4\n",
    )
    .unwrap();
    let (rows, s) = keyrank::import::search_console::read(&p, "google", None).unwrap();
    assert_eq!((s.rows, s.bad_rows, s.anonymized_rows), (2, 2, 1));
    assert!(
        s.problems[0].ends_with("sc.csv:4: bad or missing date (expected YYYY-MM-DD)"),
        "{:?}",
        s.problems
    );
    assert!(
        s.problems[1].contains("sc.csv:5: bad or missing clicks"),
        "{:?}",
        s.problems
    );
    assert_eq!(rows[0].page.as_deref(), Some("/shoes/red"));
    let q = dir.path().join("other.csv");
    std::fs::write(&q, "a,b\n1,2\n").unwrap();
    let e = keyrank::import::search_console::read(&q, "google", None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected columns date, query, page"), "{e}");
    // A UI export has no date: it needs --day.
    let ui = dir.path().join("Queries.csv");
    std::fs::write(
        &ui,
        "Top queries,Clicks,Impressions,CTR,Position\nred shoes,10,100,10%,2.1\n",
    )
    .unwrap();
    assert!(keyrank::import::search_console::read(&ui, "google", None).is_err());
    let (rows, _) = keyrank::import::search_console::read(&ui, "google", Some(19_800)).unwrap();
    assert_eq!(
        (rows[0].query.as_str(), rows[0].clicks, rows[0].page.clone()),
        ("red shoes", 10, None)
    );
}
