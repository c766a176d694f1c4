//! The real 2015 access log in ../shared (semicomplete.com, 10,000 lines). Figures
//! were checked by hand with an independent script: the NOTICE's counts of search
//! referrers, the one truncated line, and the page-view hits that carry a term.

use crate::common::{ingest, query, shared};

#[test]
fn real_2015_log_figures() {
    let Some(log) = shared("data/real-logs/elastic_apache_logs.log") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = ingest(&store, &[&log], |_| {});
    assert_eq!(s.lines_read, 10_000);
    assert_eq!(s.parsed, 9_999);
    assert_eq!(s.malformed, 1);
    assert_eq!(s.problems.len(), 1);
    assert!(
        s.problems[0].ends_with("elastic_apache_logs.log:8899: unterminated quote"),
        "{:?}",
        s.problems
    );
    // The site's own host is found without --site.
    assert_eq!(s.site_hosts, vec!["semicomplete.com".to_string()]);
    assert_eq!(s.visits, 1_217);
    let by_engine: Vec<(&str, u64)> = s
        .search_visits_by_engine
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        by_engine,
        vec![
            ("baidu", 2),
            ("bing", 2),
            ("duckduckgo", 11),
            ("google", 428),
            ("google custom search", 1),
            ("yandex", 1)
        ]
    );
    // 13 visits arrive with a term: 8 Google, 1 Google Custom Search (a site's search
    // box, `/cse?q=java`), 2 Bing, 2 Baidu (Yandex's two terms are on image hits).
    // Google's /url?q=http… redirects carry destinations, not terms.
    assert_eq!(s.keyword_visits, 13);
    assert_eq!(s.search_visits, 445);
    assert_eq!(s.not_provided_visits, 432);
    assert!((s.not_provided_share() - 432.0 / 445.0).abs() < 1e-12);

    let rows = query(
        &store,
        "SELECT source, SUM(visits) FROM keyword_daily WHERE medium = 'organic' \
         AND keyword <> '(not provided)' GROUP BY source ORDER BY source",
    );
    assert_eq!(
        rows,
        vec![
            vec!["baidu", "2"],
            vec!["bing", "2"],
            vec!["google", "8"],
            vec!["google custom search", "1"]
        ]
    );
    let days = query(
        &store,
        "SELECT COUNT(DISTINCT day), MIN(day), MAX(day) FROM keyword_daily",
    );
    assert_eq!(days, vec![vec!["4", "2015-05-17", "2015-05-20"]]);
}
