//! keyrank on a Ballista cluster: a scheduler and two executors on loopback answer the
//! canned queries and the ranking exactly as the embedded engine does.

use crate::common::{generated_store, query_at};
use keyrank::cluster::LocalCluster;
use keyrank::store::Store;
use std::collections::BTreeMap;

#[test]
fn canned_queries_and_ranking_on_two_executors_equal_the_embedded_run() {
    let dir = tempfile::tempdir().unwrap();
    let (_, store) = generated_store(dir.path(), 3_000, 21);
    let cluster = LocalCluster::start(2, 2).expect("a local cluster starts");
    let url = Some(cluster.url());

    let mut compared = 0;
    for q in keyrank::queries::builtin().unwrap() {
        let sql = q.render(&BTreeMap::new()).unwrap();
        let mut embedded = query_at(&store, &sql, None);
        let mut remote = query_at(&store, &sql, url);
        // Ties may come back in another order from another plan.
        embedded.sort();
        remote.sort();
        assert_eq!(remote, embedded, "query {}", q.name);
        compared += usize::from(!embedded.is_empty());
    }
    assert!(
        compared >= 4,
        "only {compared} canned queries returned rows"
    );

    // A keyrank function (UDF and UDAF) runs on the executors too.
    let sql = "SELECT keyword, wilson_lower(SUM(conversions_last), SUM(visits)) AS lo \
               FROM keyword_daily WHERE keyword IS NOT NULL GROUP BY keyword ORDER BY keyword";
    assert_eq!(query_at(&store, sql, url), query_at(&store, sql, None));
    // The prior merges partial sums from each executor: equal up to rounding.
    let sql = "SELECT beta_prior(CAST(conversions_last AS DOUBLE), CAST(visits AS DOUBLE)) \
               FROM keyword_daily";
    let numbers = |rows: Vec<Vec<String>>| -> Vec<f64> {
        rows[0][0]
            .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e'))
            .filter_map(|t| t.parse().ok())
            .collect()
    };
    let (remote, local) = (
        numbers(query_at(&store, sql, url)),
        numbers(query_at(&store, sql, None)),
    );
    assert_eq!(local.len(), 2, "alpha and beta: {local:?}");
    assert_eq!(remote.len(), 2);
    for (r, l) in remote.iter().zip(&local) {
        assert!((r - l).abs() <= 1e-9 * l.abs(), "{remote:?} vs {local:?}");
    }

    let store = Store::open(&store).unwrap();
    let by_keyword = |mut s: Vec<keyrank::rank::KeywordStats>| {
        s.sort_by(|a, b| a.keyword.cmp(&b.keyword));
        s
    };
    let local =
        by_keyword(keyrank::rank::load_stats(&store, None, None, "last", false, None).unwrap());
    let remote =
        by_keyword(keyrank::rank::load_stats(&store, None, None, "last", false, url).unwrap());
    assert!(!local.is_empty());
    assert_eq!(remote, local);
}

#[test]
fn an_unreachable_scheduler_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(&dir.path().join("store")).unwrap();
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("df://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = match rt.block_on(keyrank::sql::session_at(&store, Some(&url))) {
        Ok(_) => panic!("connected to {url}, where nothing listens"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&url) && err.contains("cannot reach"), "{err}");
}
