//! Purchase files joined to the log's visitors (inside DataFusion), keyword columns,
//! orders counted once across sources, bad rows, and daily runs over rotated files.

use crate::common::{ingest, query, units};
use keyrank::generate::*;
use keyrank::ingest::purchases::{PurchaseFormat, PurchaseSource};
use keyrank::model::attribution::AttributionModel;
use std::collections::BTreeMap;
use std::path::Path;

type Rows = BTreeMap<(String, String, Option<String>), Vec<i64>>;

/// Per source × medium × keyword: visits, pageviews, then (conversions, revenue) per model.
fn store_rows(store: &Path, filter: &str) -> Rows {
    let sums: Vec<String> = AttributionModel::ALL
        .iter()
        .map(|m| format!("SUM(conversions_{0}), SUM(revenue_{0})", m.name()))
        .collect();
    let sql = format!(
        "SELECT source, medium, keyword, SUM(visits), SUM(pageviews), {} FROM keyword_daily \
         WHERE {filter} GROUP BY 1, 2, 3",
        sums.join(", ")
    );
    query(store, &sql)
        .into_iter()
        .map(|r| {
            let kw = (r[2] != "NULL").then(|| r[2].clone());
            let mut v = vec![r[3].parse().unwrap(), r[4].parse().unwrap()];
            for i in 0..AttributionModel::ALL.len() {
                v.push(units(&r[5 + 2 * i], 6));
                v.push(units(&r[6 + 2 * i], 2));
            }
            ((r[0].clone(), r[1].clone(), kw), v)
        })
        .collect()
}

fn truth_rows(rows: &[TruthRow], with_visits: bool) -> Rows {
    rows.iter()
        .map(|r| {
            let mut v = if with_visits {
                vec![r.visits, r.pageviews]
            } else {
                vec![0, 0]
            };
            for m in AttributionModel::ALL {
                v.push(r.conversions.get(m.name()).copied().unwrap_or(0));
                v.push(r.revenue_cents.get(m.name()).copied().unwrap_or(0));
            }
            ((r.source.clone(), r.medium.clone(), r.keyword.clone()), v)
        })
        .collect()
}

fn csv(path: std::path::PathBuf) -> PurchaseSource {
    PurchaseSource {
        path,
        format: PurchaseFormat::Csv,
    }
}

#[test]
fn visitor_cookie_join_reproduces_truth_for_all_models() {
    let dir = tempfile::tempdir().unwrap();
    let truth = crate::common::generated(dir.path(), 3_000, 5);
    let store = dir.path().join("store");
    let s = ingest(&store, &[&dir.path().join(VID_LOG_FILE)], |c| {
        c.log_format = VID_LOG_FORMAT.into();
        c.visitor_cookie = Some(VISITOR_COOKIE.into());
        c.sites = vec![SITE.into()];
        c.purchases = vec![csv(dir.path().join(PURCHASES_FILE))];
    });
    assert_eq!(s.conversions, truth.conversions);
    assert_eq!(s.duplicate_orders, truth.duplicate_orders);
    assert_eq!(s.bad_purchases, 0);
    assert_eq!(s.reporting_currency.as_deref(), Some("EUR"));
    let want = truth_rows(&truth.rows, true);
    let got = store_rows(&store, "TRUE");
    assert_eq!(got, want);
}

#[test]
fn keyword_column_credits_the_term_directly() {
    let dir = tempfile::tempdir().unwrap();
    let truth = crate::common::generated(dir.path(), 2_000, 6);
    let store = dir.path().join("store");
    let s = ingest(&store, &[&dir.path().join(LOG_FILE)], |c| {
        c.sites = vec![SITE.into()];
        c.purchases = vec![csv(dir.path().join(PURCHASES_KEYWORD_FILE))];
    });
    assert_eq!(s.conversions, truth.conversions);
    let got = store_rows(
        &store,
        "source = '(search preference)' OR keyword = '(unattributed)'",
    );
    let want = truth_rows(&truth.keyword_rows, false);
    assert!(want.len() > 5);
    assert_eq!(got, want);
}

#[test]
fn an_order_counts_once_across_goal_hits_and_purchase_files() {
    let dir = tempfile::tempdir().unwrap();
    let truth = crate::common::generated(dir.path(), 1_500, 8);
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let log = dir.path().join(LOG_FILE);
    let goal_only = ingest(&a, &[&log], |c| {
        c.sites = vec![SITE.into()];
        c.goals = vec![GOAL.into()];
    });
    let both = ingest(&b, &[&log], |c| {
        c.sites = vec![SITE.into()];
        c.goals = vec![GOAL.into()];
        c.purchases = vec![csv(dir.path().join(PURCHASES_FILE))];
    });
    assert_eq!(both.conversions, goal_only.conversions);
    // Every purchase row repeats an order already seen on a goal hit.
    assert_eq!(
        both.duplicate_orders,
        goal_only.duplicate_orders + truth.conversions + truth.duplicate_orders
    );
    assert_eq!(store_rows(&a, "TRUE"), store_rows(&b, "TRUE"));
}

#[test]
fn bad_purchase_rows_are_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("orders.csv");
    std::fs::write(
        &p,
        "ts,order_id,revenue,currency,keyword\n\
         2024-03-04T10:00:00Z,1,10.00,EUR,boots\n\
         2024-03-04T10:00:00Z,2,,EUR,boots\n\
         not-a-time,3,1.00,EUR,boots\n\
         2024-03-04T10:00:00Z,4,-5.00,EUR,boots\n\
         2024-03-04T10:00:00Z,5,5.00,USD,boots\n\
         1709546400000,6,2.50,EUR,\n",
    )
    .unwrap();
    let log = dir.path().join("empty.log");
    std::fs::write(&log, "").unwrap();
    let store = dir.path().join("store");
    let s = ingest(&store, &[&log], |c| {
        c.purchases = vec![csv(p.clone())];
        c.currency = Some("EUR".into());
        c.min_visitors = 1;
    });
    assert_eq!(
        (
            s.purchase_rows,
            s.bad_purchases,
            s.conversions,
            s.unattributed
        ),
        (6, 4, 2, 1)
    );
    let reasons: Vec<&str> = s.problems.iter().map(String::as_str).collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(
        reasons[0].ends_with("orders.csv:3: missing revenue")
            || reasons[0].contains("orders.csv:3: bad revenue"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("orders.csv:4: unparsable time"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].contains("orders.csv:5: negative revenue"),
        "{reasons:?}"
    );
    assert!(
        reasons[3].contains("orders.csv:6: currency USD"),
        "{reasons:?}"
    );
    let rows = query(
        &store,
        "SELECT keyword, SUM(conversions_last), SUM(revenue_last) FROM keyword_daily GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(
        rows,
        vec![
            vec!["(unattributed)", "1.000000", "2.50"],
            vec!["boots", "1.000000", "10.00"]
        ]
    );
}

#[test]
fn daily_runs_over_rotated_files_equal_one_big_run() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    generate(
        &GenerateConfig {
            visitors: 2_000,
            seed: 9,
            days: 5,
            ..Default::default()
        },
        dir.path(),
    )
    .unwrap();
    let text = std::fs::read(dir.path().join(LOG_FILE)).unwrap();
    // Split by day into files, as a daily rotation would; malformed lines stay with their neighbours.
    let mut days: Vec<(String, Vec<u8>)> = Vec::new();
    for line in text.split_inclusive(|&b| b == b'\n') {
        let day = line
            .windows(1)
            .position(|w| w == b"[")
            .and_then(|i| line.get(i + 1..i + 12))
            .map(|d| String::from_utf8_lossy(d).into_owned())
            .filter(|d| d.len() == 11 && d.as_bytes()[2] == b'/');
        match (day, days.last_mut()) {
            (Some(d), Some(last)) if last.0 == d => last.1.extend_from_slice(line),
            (Some(d), _) => days.push((d, line.to_vec())),
            (None, Some(last)) => last.1.extend_from_slice(line),
            (None, None) => days.push((String::new(), line.to_vec())),
        }
    }
    // Rotated names, newest is access.log; older ones gzip-compressed.
    let n = days.len();
    let mut files = Vec::new();
    for (i, (_, bytes)) in days.iter().enumerate() {
        let age = n - 1 - i;
        let path = match age {
            0 => dir.path().join("access.log"),
            1 => dir.path().join("access.log.1"),
            a => dir.path().join(format!("access.log.{a}.gz")),
        };
        if age >= 2 {
            let mut gz = flate2::write::GzEncoder::new(
                std::fs::File::create(&path).unwrap(),
                Default::default(),
            );
            gz.write_all(bytes).unwrap();
            gz.finish().unwrap();
        } else {
            std::fs::write(&path, bytes).unwrap();
        }
        files.push(path);
    }
    let cfg = |c: &mut keyrank::ingest::IngestConfig| {
        c.sites = vec![SITE.into()];
        c.min_visitors = 1;
        c.goals = vec![GOAL.into()];
    };
    let big = dir.path().join("big");
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    ingest(&big, &refs, cfg);
    // Each daily run sees the files up to the next day (the run happens after midnight)
    // and writes from its day on; older files are lookback context only.
    let daily = dir.path().join("daily");
    for (d, (day, _)) in days.iter().enumerate() {
        let upto = (d + 2).min(n);
        let first = keyrank::parse::time::parse_clf(format!("{day}:00:00:00 +0000").as_bytes())
            .map(keyrank::parse::time::day_of)
            .unwrap();
        // Give the files newest first, as a shell glob of rotated names would.
        let inputs: Vec<&Path> = refs[..upto].iter().rev().copied().collect();
        ingest(&daily, &inputs, |c| {
            cfg(c);
            c.write_from = Some(first);
        });
    }
    let sql = "SELECT day, source, medium, keyword, campaign, landing, segment, SUM(visits), \
               SUM(visitors), SUM(pageviews), SUM(conversions_first), SUM(revenue_first), \
               SUM(conversions_linear), SUM(revenue_time_decay) FROM keyword_daily \
               GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7";
    let a = query(&big, sql);
    assert!(a.len() > 100);
    assert_eq!(a, query(&daily, sql));
}
