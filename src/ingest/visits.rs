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
        let channel = Channel {
            source: SEARCH_PREFERENCE_SOURCE.into(),
            medium: SEARCH_PREFERENCE_MEDIUM.into(),
            keyword: Some(keyword),
            campaign: None,
        };
        self.credit_channel(ts, &channel, "", cents);
    }

    /// Credits a conversion whole to one channel and landing path, every model alike:
    /// an order whose only touch is what the shop recorded with it (its landing URL
    /// and referrer, or its own attribution).
    pub fn credit_channel(&mut self, ts: i64, channel: &Channel, landing: &str, cents: i64) {
        let channel = self.rollup.channels.intern(channel);
        let landing = self.rollup.landings.intern_str(landing);
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
mod tests;
