//! Visits and attribution: a visitor's page views become visits (30 minutes of
//! inactivity, or a new external acquisition, ends one); non-direct visits are
//! touches; a conversion shares its credit among the touches in the lookback window
//! under each attribution model.

use crate::classify::{Acquisition, Channel};
pub use crate::classify::{SEARCH_PREFERENCE_MEDIUM, SEARCH_PREFERENCE_SOURCE, UNATTRIBUTED};
use crate::model::attribution::{AttributionModel, CREDIT_UNIT, split_exact_into};
use crate::model::rollup::{Counts, DimsKey, MODELS, Rollup, Segment};
use crate::parse::time::day_of;
use rustc_hash::{FxHashMap, FxHashSet};
use smallvec::{SmallVec, smallvec};

pub const DEFAULT_TIMEOUT_SECS: i64 = 30 * 60;
pub const DEFAULT_LOOKBACK_SECS: i64 = 30 * 86_400;
/// Touches kept per visitor; older ones beyond this are forgotten first.
const MAX_TOUCHES: usize = 256;

/// A non-direct visit that can take credit for a later conversion.
#[derive(Debug, Clone, Copy)]
struct Touch {
    ts: i64,
    dims: u32,
}

#[derive(Debug, Clone, Copy)]
struct OpenVisit {
    day: i32,
    dims: u32,
    channel: u32,
}

#[derive(Debug, Default)]
struct VisitorState {
    last_ts: i64,
    visit: Option<OpenVisit>,
    /// Most visitors have one or two touches: kept inline, no allocation per visitor.
    touches: SmallVec<[Touch; 2]>,
}

/// A page view that survived classification.
#[derive(Debug)]
pub struct PageView<'a> {
    pub visitor: u64,
    pub ts: i64,
    pub acquisition: &'a Acquisition,
    /// Path without query string.
    pub landing: &'a str,
    pub segment: Segment,
}

/// The most revenue one run may credit, in cents: what the store's DECIMAL(18,2) holds.
/// Every row's revenue is a share of the run's, so none can pass it either.
pub const MAX_RUN_CENTS: i64 = 999_999_999_999_999_999;

/// A conversion seen on a goal hit.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Conversion {
    /// Keyed hash of the order id, when there is one; duplicates are counted once.
    pub order: Option<u64>,
    pub cents: i64,
}

/// What happened to a conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversionOutcome {
    Attributed,
    Unattributed,
    DuplicateOrder,
}

#[derive(Debug)]
pub struct Sessionizer {
    timeout: i64,
    lookback: i64,
    half_life: i64,
    visitors: FxHashMap<u64, VisitorState>,
    orders: FxHashSet<u64>,
    direct: u32,
    unattributed: u32,
    /// Days before this one are lookback context only: nothing is counted on them.
    write_from: i32,
    latest_ts: i64,
    /// Every touch as (visitor, time, dims), kept only when purchases will be joined.
    touch_log: Option<Vec<(u64, i64, u32)>>,
    /// Revenue this sessionizer may still credit, in cents (see [`MAX_RUN_CENTS`]).
    pub revenue_left: i64,
    pub rollup: Rollup,
}

impl Sessionizer {
    pub fn new(timeout: i64, lookback: i64, half_life: i64, write_from: Option<i32>) -> Self {
        let mut rollup = Rollup::default();
        let direct = rollup.channels.intern(&Channel::direct());
        let unattributed = rollup.channels.intern(&Channel {
            keyword: Some(UNATTRIBUTED.into()),
            ..Channel::direct()
        });
        Sessionizer {
            timeout,
            lookback,
            half_life,
            visitors: FxHashMap::default(),
            orders: FxHashSet::default(),
            direct,
            unattributed,
            write_from: write_from.unwrap_or(i32::MIN),
            latest_ts: i64::MIN,
            touch_log: None,
            revenue_left: MAX_RUN_CENTS,
            rollup,
        }
    }

    /// Whether `cents` more fit the run's revenue; if so they are taken from what is
    /// left. Money past the store's range is a bad value, never a wrap.
    pub fn admit_revenue(&mut self, cents: i64) -> bool {
        if (0..=self.revenue_left).contains(&cents) {
            self.revenue_left -= cents;
            true
        } else {
            false
        }
    }

    /// Records a page view; returns true when it started a new visit.
    pub fn page_view(&mut self, pv: &PageView) -> bool {
        let channel = match pv.acquisition {
            Acquisition::External(c) => Some(self.rollup.channels.intern(c)),
            Acquisition::Direct | Acquisition::Internal => None,
        };
        self.latest_ts = self.latest_ts.max(pv.ts);
        let state = self.visitors.entry(pv.visitor).or_default();
        let new_visit = match state.visit {
            None => true,
            Some(open) => {
                pv.ts - state.last_ts > self.timeout || channel.is_some_and(|c| c != open.channel)
            }
        };
        if new_visit {
            let channel = channel.unwrap_or(self.direct);
            let landing = self.rollup.landings.intern_str(pv.landing);
            let dims = self.rollup.dims(DimsKey {
                channel,
                landing,
                segment: pv.segment,
            });
            let day = day_of(pv.ts);
            if channel != self.direct {
                let horizon = pv.ts - self.lookback;
                state.touches.retain(|t| t.ts >= horizon);
                if state.touches.len() == MAX_TOUCHES {
                    state.touches.remove(0);
                }
                state.touches.push(Touch { ts: pv.ts, dims });
                if let Some(log) = self.touch_log.as_mut() {
                    log.push((pv.visitor, pv.ts, dims));
                }
            }
            state.visit = Some(OpenVisit { day, dims, channel });
            if day >= self.write_from {
                self.rollup.add_visit(day, dims, pv.visitor);
            }
        }
        state.last_ts = state.last_ts.max(pv.ts);
        let open = state.visit.expect("a visit is open after a page view");
        if open.day >= self.write_from {
            self.rollup.unit = pv.visitor;
            self.rollup.add_pageview(open.day, open.dims);
        }
        new_visit
    }

    /// Keeps every touch from now on, for [`Sessionizer::take_touch_log`].
    pub fn record_touches(&mut self) {
        self.touch_log.get_or_insert_with(Vec::new);
    }

    /// All touches recorded so far as (visitor, time, dims).
    pub fn take_touch_log(&mut self) -> Vec<(u64, i64, u32)> {
        self.touch_log.take().unwrap_or_default()
    }

    pub fn lookback(&self) -> i64 {
        self.lookback
    }

    /// Whether an order id has been counted already.
    pub fn order_claimed(&self, order: u64) -> bool {
        self.orders.contains(&order)
    }

    /// Claims an order id; false when it was already counted (from any source).
    pub fn claim_order(&mut self, order: Option<u64>) -> bool {
        order.is_none_or(|o| self.orders.insert(o))
    }

    /// Credits a conversion by `visitor` at `ts` (after its page view was recorded).
    pub fn conversion(&mut self, visitor: u64, ts: i64, conv: &Conversion) -> ConversionOutcome {
        if !self.claim_order(conv.order) {
            return ConversionOutcome::DuplicateOrder;
        }
        self.rollup.unit = visitor;
        let horizon = ts - self.lookback;
        let state = self.visitors.entry(visitor).or_default();
        let window: Vec<(i64, u32)> = state
            .touches
            .iter()
            .filter(|t| t.ts >= horizon && t.ts <= ts)
            .map(|t| (t.ts, t.dims))
            .collect();
        let (landing, segment) = match state.visit {
            Some(open) => {
                let key = self.rollup.dims_key(open.dims);
                (key.landing, key.segment)
            }
            None => (self.rollup.landings.intern_str(""), Segment::Anonymous),
        };
        if window.is_empty() {
            self.credit_unattributed(ts, conv.cents, landing, segment);
            return ConversionOutcome::Unattributed;
        }
        self.credit_touches(ts, &window, conv.cents);
        ConversionOutcome::Attributed
    }

    /// Shares one conversion at `ts` among `touches` (time, dims; oldest first).
    pub fn credit_touches(&mut self, ts: i64, touches: &[(i64, u32)], cents: i64) {
        let day = day_of(ts);
        if day < self.write_from {
            return;
        }
        let rollup = &mut self.rollup;
        share_conversion(
            touches,
            ts,
            cents,
            self.half_life,
            |dims, credit, revenue| rollup.add_credits(day, dims, credit, revenue),
        );
    }

    /// [`Self::credit_touches`] for many conversions (time, cents, touches), on up to
    /// `threads` threads. The sums are integers, so they equal the one-by-one result.
    /// Under differential privacy each conversion is credited to its own unit, one by
    /// one, so this is only for runs without.
    pub fn credit_touches_many(&mut self, conversions: &[ConversionTouches<'_>], threads: usize) {
        let (half_life, write_from) = (self.half_life, self.write_from);
        let chunk = conversions.len().div_ceil(threads.max(1)).max(1);
        let deltas: Vec<FxHashMap<(i32, u32), Counts>> = std::thread::scope(|s| {
            let parts: Vec<_> = conversions
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        let mut delta: FxHashMap<(i32, u32), Counts> = FxHashMap::default();
                        for &(ts, cents, touches) in part {
                            let day = day_of(ts);
                            if day < write_from {
                                continue;
                            }
                            share_conversion(touches, ts, cents, half_life, |dims, c, r| {
                                delta.entry((day, dims)).or_default().add_credits(c, r)
                            });
                        }
                        delta
                    })
                })
                .collect();
            parts
                .into_iter()
                .map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        for delta in deltas {
            for ((day, dims), counts) in delta {
                self.rollup.add_counts(day, dims, &counts);
            }
        }
    }

    /// A conversion no touch can take: counted under `(unattributed)`, never dropped.
    pub fn credit_unattributed(&mut self, ts: i64, cents: i64, landing: u32, segment: Segment) {
        let dims = self.rollup.dims(DimsKey {
            channel: self.unattributed,
            landing,
            segment,
        });
        self.credit_whole(ts, dims, cents);
    }

    /// A conversion whose search term is known directly (search-preference cookie,
    /// or a purchase record's keyword): the whole credit goes to that term.
    pub fn credit_keyword(&mut self, ts: i64, keyword: String, cents: i64) {
        let channel = self.rollup.channels.intern(&Channel {
            source: SEARCH_PREFERENCE_SOURCE.into(),
            medium: SEARCH_PREFERENCE_MEDIUM.into(),
            keyword: Some(keyword),
            campaign: None,
        });
        let landing = self.rollup.landings.intern_str("");
        let dims = self.rollup.dims(DimsKey {
            channel,
            landing,
            segment: Segment::Anonymous,
        });
        self.credit_whole(ts, dims, cents);
    }

    fn credit_whole(&mut self, ts: i64, dims: u32, cents: i64) {
        let day = day_of(ts);
        if day >= self.write_from {
            self.rollup.add_whole_credit(day, dims, CREDIT_UNIT, cents);
        }
    }

    /// Forgets visitors that can no longer matter: visit closed and no touch in the
    /// lookback window. Keeps memory flat on long logs.
    pub fn evict_idle(&mut self) {
        let now = self.latest_ts;
        let (timeout, lookback) = (self.timeout, self.lookback);
        self.visitors.retain(|_, s| {
            if now - s.last_ts <= timeout {
                return true;
            }
            s.touches.retain(|t| t.ts >= now - lookback);
            !s.touches.is_empty()
        });
    }

    pub fn visitor_count(&self) -> usize {
        self.visitors.len()
    }
}

/// A conversion's time and cents, and its touches (time, dims; oldest first).
pub type ConversionTouches<'a> = (i64, i64, &'a [(i64, u32)]);

/// Each touch's share of one conversion at `ts` under every model (indexed like
/// [`AttributionModel::ALL`]): `add(dims, credits, cents)` once per touch that gets any.
fn share_conversion(
    touches: &[(i64, u32)],
    ts: i64,
    cents: i64,
    half_life: i64,
    mut add: impl FnMut(u32, &[i64; MODELS], &[i64; MODELS]),
) {
    if let [(_, dims)] = touches {
        // One touch takes the whole conversion under every model.
        return add(*dims, &[CREDIT_UNIT; MODELS], &[cents; MODELS]);
    }
    // Every model's shares first, then one call per touch; scratch on the stack for
    // the usual few touches.
    let n = touches.len();
    let times: SmallVec<[i64; 8]> = touches.iter().map(|t| t.0).collect();
    let mut weights: SmallVec<[f64; 8]> = smallvec![0.0; n];
    let mut part: SmallVec<[i64; 8]> = smallvec![0; n];
    let mut credit: SmallVec<[[i64; MODELS]; 8]> = smallvec![[0; MODELS]; n];
    let mut revenue: SmallVec<[[i64; MODELS]; 8]> = smallvec![[0; MODELS]; n];
    for (m, model) in AttributionModel::ALL.into_iter().enumerate() {
        // One touch takes all: no split needed.
        let sole = match model {
            AttributionModel::First => Some(0),
            AttributionModel::Last => Some(n - 1),
            _ => None,
        };
        if let Some(i) = sole {
            credit[i][m] = CREDIT_UNIT;
            revenue[i][m] = cents;
            continue;
        }
        model.weights_into(&times, ts, half_life, &mut weights);
        split_exact_into(CREDIT_UNIT, &weights, &mut part);
        for i in 0..n {
            credit[i][m] = part[i];
            weights[i] = part[i] as f64;
        }
        split_exact_into(cents, &weights, &mut part);
        for i in 0..n {
            revenue[i][m] = part[i];
        }
    }
    for (((_, dims), credit), revenue) in touches.iter().zip(&credit).zip(&revenue) {
        if credit.iter().chain(revenue).any(|&x| x > 0) {
            add(*dims, credit, revenue);
        }
    }
}

#[cfg(test)]
mod tests {
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
}
