//! Distinct-visitor sketches stored beside the exact counts: each row's sketch counts
//! that row's visitors, and unions of rows count a returning visitor once.

use crate::common::{ingest, query};
use keyrank::generate::{GOAL, SITE, VID_LOG_FILE, VID_LOG_FORMAT, VISITOR_COOKIE};

fn num(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("not a number: {s}"))
}

#[test]
fn sketches_count_each_rows_visitors_and_merge_across_rows_and_days() {
    let dir = tempfile::tempdir().unwrap();
    let truth = crate::common::generated(dir.path(), 3_000, 31);
    let store = dir.path().join("store");
    // The visitor cookie is the identity, so distinct visitors are the generator's.
    let setup = |c: &mut keyrank::ingest::IngestConfig| {
        c.sites = vec![SITE.into()];
        c.goals = vec![GOAL.into()];
        c.log_format = VID_LOG_FORMAT.into();
        c.visitor_cookie = Some(VISITOR_COOKIE.into());
    };
    let log = dir.path().join(VID_LOG_FILE);
    // Off by default: no sketch is written.
    let plain = dir.path().join("plain");
    ingest(&plain, &[&log], setup);
    assert_eq!(
        query(
            &plain,
            "SELECT COUNT(visitor_sketch), COUNT(*) > 0 FROM keyword_daily"
        ),
        vec![vec!["0".to_string(), "true".to_string()]]
    );
    ingest(&store, &[&log], |c| {
        setup(c);
        c.visitor_sketches = true;
    });

    // One row per group: its sketch counts exactly the row's visitors.
    let rows = query(
        &store,
        "SELECT SUM(visitors), distinct_visitors(visitor_sketch) FROM keyword_daily \
         GROUP BY day, source, medium, keyword, campaign, landing, segment, estimated",
    );
    assert!(rows.len() > 100, "{} rows", rows.len());
    for r in &rows {
        assert_eq!(r[0], r[1], "a row's sketch and its visitors");
    }

    // Per keyword over every day and landing: at least the largest row, at most the
    // sum of rows, and below the sum where visitors came back.
    let keywords = query(
        &store,
        "SELECT keyword, MAX(visitors), SUM(visitors), distinct_visitors(visitor_sketch) \
         FROM keyword_daily WHERE keyword IS NOT NULL GROUP BY keyword",
    );
    assert!(keywords.len() > 10);
    let mut returning = 0;
    for r in &keywords {
        let (max, sum, distinct) = (num(&r[1]), num(&r[2]), num(&r[3]));
        assert!(
            distinct >= max * 0.95 && distinct <= sum * 1.05,
            "{}: max {max}, sum {sum}, distinct {distinct}",
            r[0]
        );
        returning += usize::from(distinct < sum);
    }
    assert!(returning > 0, "no keyword had a returning visitor");

    // The whole store: the generator's visitors, to HyperLogLog's accuracy.
    let all = query(
        &store,
        "SELECT distinct_visitors(visitor_sketch) FROM keyword_daily",
    );
    let distinct = num(&all[0][0]);
    let visitors = truth.visitors as f64;
    assert!(
        (distinct - visitors).abs() / visitors < 0.05,
        "{distinct} distinct of {visitors} visitors"
    );
}
