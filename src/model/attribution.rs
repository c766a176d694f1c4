//! Attribution models: how one conversion's credit is shared by the touches (non-direct
//! visits) in its lookback window. Credit is counted in millionths of a conversion and
//! revenue in cents; both are split by largest remainder, so the credits of one
//! conversion sum to exactly one and its revenue to exactly the amount paid.

use smallvec::SmallVec;

/// One conversion, in credit units (stored as `DECIMAL(18,6)`).
pub const CREDIT_UNIT: i64 = 1_000_000;

/// Default half-life of the `time_decay` model.
pub const DEFAULT_HALF_LIFE_SECS: i64 = 7 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttributionModel {
    /// All credit to the first touch in the window.
    First,
    /// All credit to the last non-direct touch.
    Last,
    /// Equal shares.
    Linear,
    /// 40 % first, 40 % last, 20 % shared by the middle (50/50 for two touches).
    Position,
    /// Weight halves every half-life before the conversion.
    TimeDecay,
}

impl AttributionModel {
    pub const ALL: [AttributionModel; 5] = [
        AttributionModel::First,
        AttributionModel::Last,
        AttributionModel::Linear,
        AttributionModel::Position,
        AttributionModel::TimeDecay,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AttributionModel::First => "first",
            AttributionModel::Last => "last",
            AttributionModel::Linear => "linear",
            AttributionModel::Position => "position",
            AttributionModel::TimeDecay => "time_decay",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Relative weight of each touch (times in seconds, oldest first).
    pub fn weights(self, touch_ts: &[i64], conversion_ts: i64, half_life: i64) -> Vec<f64> {
        let mut w = vec![0.0; touch_ts.len()];
        self.weights_into(touch_ts, conversion_ts, half_life, &mut w);
        w
    }

    /// [`Self::weights`] into `w` (as long as `touch_ts`), without allocating.
    pub fn weights_into(self, touch_ts: &[i64], conversion_ts: i64, half_life: i64, w: &mut [f64]) {
        let n = touch_ts.len();
        w.fill(0.0);
        if n == 0 {
            return;
        }
        match self {
            AttributionModel::First => w[0] = 1.0,
            AttributionModel::Last => w[n - 1] = 1.0,
            AttributionModel::Linear => w.fill(1.0),
            AttributionModel::Position => match n {
                1 => w[0] = 1.0,
                2 => w.fill(0.5),
                _ => {
                    w.fill(0.2 / (n - 2) as f64);
                    w[0] = 0.4;
                    w[n - 1] = 0.4;
                }
            },
            AttributionModel::TimeDecay => {
                let h = half_life.max(1) as f64;
                for (wi, t) in w.iter_mut().zip(touch_ts) {
                    *wi = (-((conversion_ts - t).max(0) as f64) / h).exp2();
                }
            }
        }
    }

    /// Credit of each touch in [`CREDIT_UNIT`]s; sums to exactly one conversion.
    pub fn credits(self, touch_ts: &[i64], conversion_ts: i64, half_life: i64) -> Vec<i64> {
        split_exact(
            CREDIT_UNIT,
            &self.weights(touch_ts, conversion_ts, half_life),
        )
    }
}

/// Splits `total` (≥ 0) into integer parts proportional to `weights`, by largest
/// remainder (ties to the earlier part), so the parts sum to exactly `total`.
pub fn split_exact(total: i64, weights: &[f64]) -> Vec<i64> {
    let mut out = vec![0; weights.len()];
    split_exact_into(total, weights, &mut out);
    out
}

/// [`split_exact`] into `out` (as long as `weights`); allocates only for more than
/// eight parts.
pub fn split_exact_into(total: i64, weights: &[f64], out: &mut [i64]) {
    out.fill(0);
    if weights.is_empty() {
        return;
    }
    let sum: f64 = weights.iter().sum();
    if sum.is_nan() || sum <= 0.0 || !sum.is_finite() {
        out[0] = total;
        return;
    }
    // The remainder of each exact share once its whole part is in `out`.
    let mut rest: SmallVec<[f64; 8]> = SmallVec::with_capacity(weights.len());
    for (o, w) in out.iter_mut().zip(weights) {
        let exact = total as f64 * w / sum;
        let whole = floor(exact);
        *o = whole as i64;
        rest.push(exact - whole);
    }
    let mut left = total - out.iter().sum::<i64>();
    if left == 0 {
        return;
    }
    let mut order: SmallVec<[usize; 8]> = (0..weights.len()).collect();
    // The index breaks ties, so an unstable sort gives the one stable order.
    order.sort_unstable_by(|&a, &b| rest[b].total_cmp(&rest[a]).then(a.cmp(&b)));
    let mut i = 0;
    while left > 0 {
        out[order[i % order.len()]] += 1;
        left -= 1;
        i += 1;
    }
    while left < 0 {
        let j = order[order.len() - 1 - (i % order.len())];
        if out[j] > 0 {
            out[j] -= 1;
            left += 1;
        }
        i += 1;
    }
}

/// `x.floor()` for shares well inside the `i64` range, without a libm call.
#[inline]
fn floor(x: f64) -> f64 {
    if x.abs() < 9.0e15 {
        let t = x as i64 as f64;
        if t > x { t - 1.0 } else { t }
    } else {
        x.floor()
    }
}

/// Revenue of each touch in cents, following its credit; sums to exactly `cents`.
pub fn split_revenue(cents: i64, credits: &[i64]) -> Vec<i64> {
    let w: Vec<f64> = credits.iter().map(|c| *c as f64).collect();
    split_exact(cents, &w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttributionModel::*;

    const DAY: i64 = 86_400;

    #[test]
    fn hand_computed_credits() {
        let t = |days: &[i64]| days.iter().map(|d| d * DAY).collect::<Vec<_>>();
        let conv = 10 * DAY;
        let h = DEFAULT_HALF_LIFE_SECS;
        // One touch: everything to it, whatever the model.
        for m in AttributionModel::ALL {
            assert_eq!(m.credits(&t(&[3]), conv, h), vec![CREDIT_UNIT]);
        }
        // Two touches.
        let two = t(&[3, 10]);
        assert_eq!(First.credits(&two, conv, h), vec![1_000_000, 0]);
        assert_eq!(Last.credits(&two, conv, h), vec![0, 1_000_000]);
        assert_eq!(Linear.credits(&two, conv, h), vec![500_000, 500_000]);
        assert_eq!(Position.credits(&two, conv, h), vec![500_000, 500_000]);
        // 7 days before with a 7-day half-life weighs 1/2 against 1: 1/3 and 2/3.
        assert_eq!(TimeDecay.credits(&two, conv, h), vec![333_333, 666_667]);
        // Three touches.
        let three = t(&[1, 5, 9]);
        assert_eq!(
            Linear.credits(&three, conv, h),
            vec![333_334, 333_333, 333_333]
        );
        assert_eq!(
            Position.credits(&three, conv, h),
            vec![400_000, 200_000, 400_000]
        );
        // Four touches: the middle two share 20 %.
        let four = t(&[1, 2, 3, 4]);
        assert_eq!(
            Position.credits(&four, conv, h),
            vec![400_000, 100_000, 100_000, 400_000]
        );
        assert_eq!(Linear.credits(&four, conv, h), vec![250_000; 4]);
    }

    #[test]
    fn revenue_follows_credit_exactly() {
        assert_eq!(
            split_revenue(1000, &[333_334, 333_333, 333_333]),
            vec![334, 333, 333]
        );
        assert_eq!(
            split_revenue(5999, &[400_000, 200_000, 400_000]),
            vec![2400, 1200, 2399]
        );
        assert_eq!(split_revenue(1, &[500_000, 500_000]), vec![1, 0]);
        assert_eq!(split_revenue(0, &[1_000_000]), vec![0]);
    }

    proptest::proptest! {
        #[test]
        fn credits_and_revenue_always_sum_exactly(
            gaps in proptest::collection::vec(0i64..40 * DAY, 1..12),
            cents in 0i64..10_000_000,
            half_life in 1i64..30 * DAY,
        ) {
            let mut ts = Vec::new();
            let mut t = 0;
            for g in &gaps { t += g; ts.push(t); }
            let conv = t + 60;
            for m in AttributionModel::ALL {
                let c = m.credits(&ts, conv, half_life);
                proptest::prop_assert_eq!(c.iter().sum::<i64>(), CREDIT_UNIT);
                proptest::prop_assert!(c.iter().all(|x| *x >= 0));
                let r = split_revenue(cents, &c);
                proptest::prop_assert_eq!(r.iter().sum::<i64>(), cents);
            }
        }
    }
}
