use super::*;
use crate::classify::Channel;
use crate::model::attribution::DEFAULT_HALF_LIFE_SECS;

const DAY: i64 = 86_400;

fn search(kw: &str) -> Acquisition {
    Acquisition::External(Channel {
        source: "google".into(),
        medium: "organic".into(),
        keyword: Some(kw.into()),
        campaign: None,
    })
}

fn pv(visitor: u64, ts: i64, acquisition: Acquisition) -> PageView<'static> {
    PageView {
        visitor,
        ts,
        // Test-only: a few page views' acquisitions live for the whole test run.
        acquisition: Box::leak(Box::new(acquisition)),
        landing: "/",
        segment: Segment::Anonymous,
    }
}

fn sessionizer(lookback: i64, write_from: Option<i32>) -> Sessionizer {
    Sessionizer::new(
        DEFAULT_TIMEOUT_SECS,
        lookback,
        DEFAULT_HALF_LIFE_SECS,
        write_from,
    )
}

/// keyword → (visits, pageviews, conversions per model, revenue per model).
type Totals = BTreeMap<Option<String>, (i64, i64, [i64; 5], [i64; 5])>;

fn totals(s: Sessionizer) -> Totals {
    let mut out = Totals::new();
    for r in s.rollup.into_rows() {
        let e = out.entry(r.channel.keyword).or_default();
        e.0 += r.counts.visits;
        e.1 += r.counts.pageviews;
        for m in 0..5 {
            e.2[m] += r.counts.conversions[m];
            e.3[m] += r.counts.revenue[m];
        }
    }
    out
}

use std::collections::BTreeMap;

#[test]
fn visits_split_on_timeout_and_new_acquisition() {
    let mut s = sessionizer(DEFAULT_LOOKBACK_SECS, None);
    let t = 1_000_000;
    assert!(s.page_view(&pv(1, t, search("a"))));
    assert!(!s.page_view(&pv(1, t + 60, Acquisition::Internal)));
    // Out-of-order line inside the visit.
    assert!(!s.page_view(&pv(1, t + 30, Acquisition::Internal)));
    // Same search again: same visit.
    assert!(!s.page_view(&pv(1, t + 120, search("a"))));
    // Different term: new visit.
    assert!(s.page_view(&pv(1, t + 180, search("b"))));
    // 31 minutes later: new (direct) visit.
    assert!(s.page_view(&pv(1, t + 180 + 31 * 60, Acquisition::Internal)));
    let rows = totals(s);
    assert_eq!(rows[&None].0, 1);
    assert_eq!(rows[&Some("a".into())].0..=rows[&Some("a".into())].1, 1..=4);
    assert_eq!(rows[&Some("b".into())].0, 1);
}

/// Runs one visitor's touches (day offsets and keywords, `None` = direct) and one
/// conversion on `conv_day` worth `cents`; returns the totals.
fn scenario(
    touches: &[(i64, Option<&str>)],
    conv_day: i64,
    cents: i64,
    lookback_days: i64,
) -> Totals {
    let mut s = sessionizer(lookback_days * DAY, None);
    let t0 = 100 * DAY;
    for (d, kw) in touches {
        let acq = kw.map_or(Acquisition::Direct, search);
        s.page_view(&pv(7, t0 + d * DAY, acq));
    }
    s.page_view(&pv(7, t0 + conv_day * DAY, Acquisition::Direct));
    s.conversion(
        7,
        t0 + conv_day * DAY,
        &Conversion {
            order: Some(1),
            cents,
        },
    );
    totals(s)
}

fn credit(t: &Totals, kw: &str) -> ([i64; 5], [i64; 5]) {
    t.get(&Some(kw.to_string()))
        .map_or(([0; 5], [0; 5]), |e| (e.2, e.3))
}

// Models in order: first, last, linear, position, time_decay.
#[test]
fn one_touch_takes_everything() {
    let t = scenario(&[(0, Some("a"))], 3, 1000, 30);
    assert_eq!(credit(&t, "a"), ([1_000_000; 5], [1000; 5]));
}

#[test]
fn two_touches_with_direct_between() {
    // a at day 0, direct at day 1, b at day 7, conversion at day 7 (direct visit).
    let t = scenario(&[(0, Some("a")), (1, None), (7, Some("b"))], 7, 999, 30);
    // time decay: a is 7 days (one half-life) older: 1/3 vs 2/3.
    assert_eq!(
        credit(&t, "a"),
        (
            [1_000_000, 0, 500_000, 500_000, 333_333],
            [999, 0, 500, 500, 333]
        )
    );
    assert_eq!(
        credit(&t, "b"),
        (
            [0, 1_000_000, 500_000, 500_000, 666_667],
            [0, 999, 499, 499, 666]
        )
    );
    // Direct visits never take credit.
    assert_eq!(t[&None].2, [0; 5]);
}

#[test]
fn three_touches() {
    let t = scenario(
        &[(0, Some("a")), (2, Some("b")), (4, Some("c"))],
        4,
        1000,
        30,
    );
    assert_eq!(credit(&t, "a").0[..4], [1_000_000, 0, 333_334, 400_000]);
    assert_eq!(credit(&t, "b").0[..4], [0, 0, 333_333, 200_000]);
    assert_eq!(credit(&t, "c").0[..4], [0, 1_000_000, 333_333, 400_000]);
    assert_eq!(credit(&t, "a").1[..4], [1000, 0, 334, 400]);
    assert_eq!(credit(&t, "b").1[..4], [0, 0, 333, 200]);
    // Time decay: weights 2^(-4/7), 2^(-2/7), 1.
    let w = [(-4.0f64 / 7.0).exp2(), (-2.0f64 / 7.0).exp2(), 1.0];
    let sum: f64 = w.iter().sum();
    for (kw, wi) in ["a", "b", "c"].iter().zip(w) {
        let got = credit(&t, kw).0[4] as f64 / 1e6;
        assert!((got - wi / sum).abs() < 2e-6, "{kw}: {got}");
    }
    let total: i64 = ["a", "b", "c"].iter().map(|k| credit(&t, k).0[4]).sum();
    assert_eq!(total, 1_000_000);
}

#[test]
fn four_touches_and_one_outside_the_window() {
    // x is 40 days before the conversion: outside a 30-day window.
    let t = scenario(
        &[
            (0, Some("x")),
            (35, Some("a")),
            (36, Some("b")),
            (37, None),
            (38, Some("c")),
            (39, Some("d")),
        ],
        40,
        10_000,
        30,
    );
    assert_eq!(credit(&t, "x"), ([0; 5], [0; 5]));
    let pos: Vec<i64> = ["a", "b", "c", "d"]
        .iter()
        .map(|k| credit(&t, k).0[3])
        .collect();
    assert_eq!(pos, [400_000, 100_000, 100_000, 400_000]);
    let lin: Vec<i64> = ["a", "b", "c", "d"]
        .iter()
        .map(|k| credit(&t, k).1[2])
        .collect();
    assert_eq!(lin, [2500; 4]);
    assert_eq!(credit(&t, "a").0[0], 1_000_000);
    assert_eq!(credit(&t, "d").0[1], 1_000_000);
}

#[test]
fn duplicate_orders_count_once_and_no_touch_is_unattributed() {
    let mut s = sessionizer(DEFAULT_LOOKBACK_SECS, None);
    s.page_view(&pv(7, 100 * DAY, search("a")));
    let conv = Conversion {
        order: Some(42),
        cents: 1999,
    };
    assert_eq!(
        s.conversion(7, 100 * DAY + 5, &conv),
        ConversionOutcome::Attributed
    );
    assert_eq!(
        s.conversion(7, 100 * DAY + 9, &conv),
        ConversionOutcome::DuplicateOrder
    );
    s.page_view(&pv(8, 100 * DAY, Acquisition::Direct));
    let none = Conversion {
        order: None,
        cents: 500,
    };
    assert_eq!(
        s.conversion(8, 100 * DAY + 1, &none),
        ConversionOutcome::Unattributed
    );
    let t = totals(s);
    assert_eq!(credit(&t, "a"), ([1_000_000; 5], [1999; 5]));
    assert_eq!(credit(&t, UNATTRIBUTED), ([1_000_000; 5], [500; 5]));
}

#[test]
fn write_from_counts_only_later_days_but_keeps_context() {
    let mut s = sessionizer(DEFAULT_LOOKBACK_SECS, Some(101));
    s.page_view(&pv(1, 100 * DAY, search("context")));
    s.page_view(&pv(1, 101 * DAY, Acquisition::Direct));
    s.conversion(
        1,
        101 * DAY,
        &Conversion {
            order: None,
            cents: 100,
        },
    );
    let rows = s.rollup.into_rows();
    assert!(rows.iter().all(|r| r.day == 101));
    let ctx = rows
        .iter()
        .find(|r| r.channel.keyword.as_deref() == Some("context"))
        .unwrap();
    assert_eq!(ctx.counts.visits, 0);
    assert_eq!(ctx.counts.conversions, [1_000_000; 5]);
}
