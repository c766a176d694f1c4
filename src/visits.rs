//! Visits and attribution: a visitor's page views become visits (30 minutes of
//! inactivity, or a new external acquisition, ends one); non-direct visits are
//! touches; a conversion credits the first and the last touch in the lookback window.

use crate::classify::{Acquisition, Channel, NOT_PROVIDED};
use crate::parse::time::day_of;
use crate::rollup::{AttributionModel, DimsKey, Rollup, Segment};
use std::collections::{HashMap, HashSet};

pub const DEFAULT_TIMEOUT_SECS: i64 = 30 * 60;
pub const DEFAULT_LOOKBACK_SECS: i64 = 30 * 86_400;
/// The keyword of a conversion no touch in the window can take credit for.
pub const UNATTRIBUTED: &str = "(unattributed)";
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
    touches: Vec<Touch>,
}

/// A page view that survived classification.
#[derive(Debug)]
pub struct PageView<'a> {
    pub visitor: u64,
    pub ts: i64,
    pub acquisition: Acquisition,
    /// Path without query string.
    pub landing: &'a str,
    pub segment: Segment,
}

/// A conversion seen on a goal hit.
#[derive(Debug)]
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
    visitors: HashMap<u64, VisitorState>,
    orders: HashSet<u64>,
    direct: u32,
    unattributed: u32,
    /// Days before this one are lookback context only: nothing is counted on them.
    write_from: i32,
    latest_ts: i64,
    pub rollup: Rollup,
}

impl Sessionizer {
    pub fn new(timeout: i64, lookback: i64, write_from: Option<i32>) -> Self {
        let mut rollup = Rollup::default();
        let direct = rollup.channels.intern(&Channel::direct());
        let unattributed = rollup.channels.intern(&Channel {
            keyword: Some(UNATTRIBUTED.into()),
            ..Channel::direct()
        });
        Sessionizer {
            timeout,
            lookback,
            visitors: HashMap::new(),
            orders: HashSet::new(),
            direct,
            unattributed,
            write_from: write_from.unwrap_or(i32::MIN),
            latest_ts: i64::MIN,
            rollup,
        }
    }

    /// Records a page view; returns true when it started a new visit.
    pub fn page_view(&mut self, pv: &PageView) -> bool {
        let channel = match &pv.acquisition {
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
            }
            state.visit = Some(OpenVisit { day, dims, channel });
            if day >= self.write_from {
                self.rollup.add_visit(day, dims, pv.visitor);
            }
        }
        state.last_ts = state.last_ts.max(pv.ts);
        let open = state.visit.expect("a visit is open after a page view");
        if open.day >= self.write_from {
            self.rollup.add_pageview(open.day, open.dims);
        }
        new_visit
    }

    /// Credits a conversion by `visitor` at `ts` (after its page view was recorded).
    pub fn conversion(&mut self, visitor: u64, ts: i64, conv: &Conversion) -> ConversionOutcome {
        if let Some(order) = conv.order
            && !self.orders.insert(order)
        {
            return ConversionOutcome::DuplicateOrder;
        }
        let day = day_of(ts);
        let horizon = ts - self.lookback;
        let state = self.visitors.entry(visitor).or_default();
        let in_window = |t: &&Touch| t.ts >= horizon && t.ts <= ts;
        let first = state.touches.iter().find(in_window).copied();
        let last = state.touches.iter().rev().find(in_window).copied();
        let counted = day >= self.write_from;
        match (first, last) {
            (Some(first), Some(last)) => {
                if counted {
                    self.rollup.add_conversion(
                        day,
                        first.dims,
                        AttributionModel::First,
                        conv.cents,
                    );
                    self.rollup
                        .add_conversion(day, last.dims, AttributionModel::Last, conv.cents);
                }
                ConversionOutcome::Attributed
            }
            _ => {
                let (landing, segment) = match state.visit {
                    Some(open) => {
                        let key = self.rollup.dims_key(open.dims);
                        (key.landing, key.segment)
                    }
                    None => (self.rollup.landings.intern_str(""), Segment::Anonymous),
                };
                let dims = self.rollup.dims(DimsKey {
                    channel: self.unattributed,
                    landing,
                    segment,
                });
                if counted {
                    for model in AttributionModel::ALL {
                        self.rollup.add_conversion(day, dims, model, conv.cents);
                    }
                }
                ConversionOutcome::Unattributed
            }
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

/// `(not provided)` keywords, for counting.
pub fn is_not_provided(c: &Channel) -> bool {
    c.keyword.as_deref() == Some(NOT_PROVIDED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Channel;

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
            acquisition,
            landing: "/",
            segment: Segment::Anonymous,
        }
    }

    type Totals = (Option<String>, i64, i64, [i64; 2], [i64; 2]);

    fn totals(s: Sessionizer) -> Vec<Totals> {
        let mut v: Vec<_> = s
            .rollup
            .into_rows()
            .into_iter()
            .map(|r| {
                (
                    r.channel.keyword,
                    r.counts.visits,
                    r.counts.pageviews,
                    r.counts.conversions,
                    r.counts.revenue,
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn visits_split_on_timeout_and_new_acquisition() {
        let mut s = Sessionizer::new(DEFAULT_TIMEOUT_SECS, DEFAULT_LOOKBACK_SECS, None);
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
        assert_eq!(
            rows,
            vec![
                (None, 1, 1, [0, 0], [0, 0]),
                (Some("a".into()), 1, 4, [0, 0], [0, 0]),
                (Some("b".into()), 1, 1, [0, 0], [0, 0]),
            ]
        );
    }

    #[test]
    fn first_and_last_touch_with_lookback_and_duplicates() {
        let mut s = Sessionizer::new(DEFAULT_TIMEOUT_SECS, 10 * 86_400, None);
        let day = 86_400;
        let t0 = 100 * day;
        s.page_view(&pv(7, t0, search("too old")));
        s.page_view(&pv(7, t0 + 5 * day, search("first")));
        s.page_view(&pv(7, t0 + 6 * day, Acquisition::Direct));
        s.page_view(&pv(7, t0 + 8 * day, search("last")));
        s.page_view(&pv(7, t0 + 12 * day, Acquisition::Direct));
        let conv = Conversion {
            order: Some(42),
            cents: 1999,
        };
        assert_eq!(
            s.conversion(7, t0 + 12 * day, &conv),
            ConversionOutcome::Attributed
        );
        assert_eq!(
            s.conversion(7, t0 + 12 * day + 5, &conv),
            ConversionOutcome::DuplicateOrder
        );
        // A visitor with no touch at all.
        s.page_view(&pv(8, t0, Acquisition::Direct));
        let none = Conversion {
            order: None,
            cents: 500,
        };
        assert_eq!(
            s.conversion(8, t0 + 1, &none),
            ConversionOutcome::Unattributed
        );
        let rows = totals(s);
        let get = |kw: Option<&str>| {
            rows.iter()
                .filter(|r| r.0.as_deref() == kw)
                .fold(([0, 0], [0, 0]), |acc, r| {
                    (
                        [acc.0[0] + r.3[0], acc.0[1] + r.3[1]],
                        [acc.1[0] + r.4[0], acc.1[1] + r.4[1]],
                    )
                })
        };
        assert_eq!(get(Some("first")), ([1, 0], [1999, 0]));
        assert_eq!(get(Some("last")), ([0, 1], [0, 1999]));
        assert_eq!(get(Some("too old")), ([0, 0], [0, 0]));
        assert_eq!(get(Some(UNATTRIBUTED)), ([1, 1], [500, 500]));
    }

    #[test]
    fn write_from_counts_only_later_days_but_keeps_context() {
        let day = 86_400;
        let mut s = Sessionizer::new(DEFAULT_TIMEOUT_SECS, DEFAULT_LOOKBACK_SECS, Some(101));
        s.page_view(&pv(1, 100 * day, search("context")));
        s.page_view(&pv(1, 101 * day, Acquisition::Direct));
        s.conversion(
            1,
            101 * day,
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
        assert_eq!(ctx.counts.conversions, [1, 1]);
    }
}
