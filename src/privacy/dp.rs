//! Differential privacy (opt-in, `--epsilon`): every visitor's contribution is
//! bounded, keywords are released only when a noisy count of their visitors clears a
//! threshold (Laplace partition selection), and every released count and sum gets
//! Laplace or Gaussian noise calibrated to the bound and to its share of ε.
//!
//! The privacy unit is the visitor (the keyed visitor hash; for a purchase with no
//! visitor, its order). A partition is one (day, channel) row: landing page and segment
//! are not released under DP. Noise comes from ChaCha20 seeded by the operating system.

use crate::model::attribution::{AttributionModel, CREDIT_UNIT};
use crate::model::rollup::Counts;
use rand::Rng;
use rustc_hash::FxHashMap;
use std::hash::Hash;

const MODELS: usize = AttributionModel::ALL.len();

/// Which noise the released measures get (partition selection always uses Laplace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Noise {
    Laplace,
    Gaussian,
}

/// The time grain of a DP release: each row covers one period and is dated with the
/// period's first day (for `run`, the first day the run writes). Coarser periods mean
/// more visitors per row, so more keywords clear selection and noise matters less.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Week,
    Month,
    Run,
}

impl Period {
    /// The first day (days since 1970-01-01) of the period holding `day`.
    pub fn start(self, day: i32, run_start: i32) -> i32 {
        match self {
            Period::Day => day,
            // 1970-01-01 was a Thursday: weeks start on Monday.
            Period::Week => day - (day + 3).rem_euclid(7),
            Period::Month => {
                use chrono::Datelike;
                let date = chrono::NaiveDate::from_num_days_from_ce_opt(day + 719_163)
                    .expect("a valid day");
                day - date.day0() as i32
            }
            Period::Run => run_start,
        }
    }
}

/// Privacy budget and contribution bounds of one run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DpParams {
    pub epsilon: f64,
    pub delta: f64,
    pub noise: Noise,
    /// The time grain of released rows.
    pub period: Period,
    /// Partitions (day × channel rows) one visitor may contribute to; more are sampled.
    pub max_partitions: usize,
    /// Visits one visitor may add to one partition.
    pub max_visits: i64,
    /// Page views one visitor may add to one partition.
    pub max_pageviews: i64,
    /// Revenue (cents) one visitor may add to one partition, per model.
    pub max_revenue_cents: i64,
}

impl Default for DpParams {
    fn default() -> Self {
        DpParams {
            epsilon: 1.0,
            delta: DEFAULT_DELTA,
            noise: Noise::Laplace,
            period: Period::Run,
            max_partitions: 2,
            max_visits: 3,
            max_pageviews: 20,
            max_revenue_cents: 50_000,
        }
    }
}

pub const DEFAULT_DELTA: f64 = 1e-6;

/// The `landing` of a DP row: landing pages are not released under DP.
pub const ALL_LANDINGS: &str = "(all)";

/// Shares of ε (and of δ for the Gaussian): partition selection, then each measure.
/// Conversions get the largest share: they are what rankings and budgets use.
pub const SHARE_SELECTION: f64 = 0.25;
pub const SHARE_VISITS: f64 = 0.10;
pub const SHARE_VISITORS: f64 = 0.05;
pub const SHARE_PAGEVIEWS: f64 = 0.05;
/// Split evenly over the five attribution models.
pub const SHARE_CONVERSIONS: f64 = 0.35;
/// Split evenly over the five attribution models.
pub const SHARE_REVENUE: f64 = 0.20;

impl DpParams {
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |m: String| Err(crate::Error::usage(m));
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return bad(format!("--epsilon must be > 0, got {}", self.epsilon));
        }
        if !(self.delta > 0.0 && self.delta < 1.0) {
            return bad(format!("--delta must be in (0, 1), got {}", self.delta));
        }
        if self.max_partitions == 0
            || self.max_visits < 1
            || self.max_pageviews < 1
            || self.max_revenue_cents < 0
        {
            return bad("DP contribution bounds must be positive".into());
        }
        Ok(())
    }

    /// Laplace partition selection: a partition is released when its visitor count
    /// plus Laplace(l/ε_s) reaches this threshold, so a partition held by one visitor
    /// appears with probability at most δ_s/l per partition, δ_s over all.
    pub fn selection_scale(&self) -> f64 {
        self.max_partitions as f64 / (self.epsilon * SHARE_SELECTION)
    }

    pub fn selection_threshold(&self) -> f64 {
        let l = self.max_partitions as f64;
        let delta_s = self.delta * self.selection_delta_share();
        1.0 + self.selection_scale() * (l / (2.0 * delta_s)).ln()
    }

    fn selection_delta_share(&self) -> f64 {
        match self.noise {
            Noise::Laplace => 1.0,
            Noise::Gaussian => 0.5,
        }
    }

    /// Noise scale for a measure with per-partition bound `bound` and ε share `share`:
    /// Laplace b = l·bound/ε_i (L1 sensitivity over l partitions); Gaussian
    /// σ = √l·bound·√(2 ln(1.25/δ_i))/ε_i (L2 sensitivity).
    pub fn scale(&self, bound: f64, share: f64) -> f64 {
        let eps = self.epsilon * share;
        let l = self.max_partitions as f64;
        match self.noise {
            Noise::Laplace => l * bound / eps,
            Noise::Gaussian => {
                let delta_i = self.delta * 0.5 * share / (1.0 - SHARE_SELECTION);
                l.sqrt() * bound * (2.0 * (1.25 / delta_i).ln()).sqrt() / eps
            }
        }
    }

    /// (bound, ε share) of every released measure, in [`measures`] order.
    fn measure_specs(&self) -> Vec<(f64, f64)> {
        let mut v = vec![
            (self.max_visits as f64, SHARE_VISITS),
            (1.0, SHARE_VISITORS),
            (self.max_pageviews as f64, SHARE_PAGEVIEWS),
        ];
        v.extend([(CREDIT_UNIT as f64, SHARE_CONVERSIONS / MODELS as f64); MODELS]);
        v.extend([(self.max_revenue_cents as f64, SHARE_REVENUE / MODELS as f64); MODELS]);
        v
    }

    /// Noise scale of conversions (in conversions, not credit units) for one row.
    pub fn conversion_scale(&self) -> f64 {
        self.scale(1.0, SHARE_CONVERSIONS / MODELS as f64)
    }
}

/// One noise draw from the declared mechanism with scale `scale`.
pub fn sample<R: Rng + ?Sized>(noise: Noise, scale: f64, rng: &mut R) -> f64 {
    match noise {
        Noise::Laplace => laplace(scale, rng),
        Noise::Gaussian => gaussian(scale, rng),
    }
}

/// Laplace(0, b) by inverting its CDF.
pub fn laplace<R: Rng + ?Sized>(b: f64, rng: &mut R) -> f64 {
    // u uniform on (-1/2, 1/2), never exactly ±1/2.
    let u: f64 = loop {
        let u = rng.random::<f64>() - 0.5;
        if u.abs() < 0.5 {
            break u;
        }
    };
    -b * u.signum() * (1.0 - 2.0 * u.abs()).ln()
}

/// Normal(0, σ²).
pub fn gaussian<R: Rng + ?Sized>(sigma: f64, rng: &mut R) -> f64 {
    use rand_distr::{Distribution, StandardNormal};
    let z: f64 = StandardNormal.sample(rng);
    sigma * z
}

/// What a release did, for the run summary and the ledger.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DpReport {
    pub epsilon: f64,
    pub delta: f64,
    pub partitions_released: u64,
    pub contributions_dropped: u64,
}

fn measures(c: &Counts) -> Vec<i64> {
    let mut v = vec![c.visits, c.visitors, c.pageviews];
    v.extend(c.conversions);
    v.extend(c.revenue);
    v
}

fn from_measures(v: &[i64]) -> Counts {
    let mut c = Counts {
        visits: v[0],
        visitors: v[1],
        pageviews: v[2],
        ..Counts::default()
    };
    c.conversions.copy_from_slice(&v[3..3 + MODELS]);
    c.revenue.copy_from_slice(&v[3 + MODELS..3 + 2 * MODELS]);
    c
}

/// Clamps one visitor's contribution to one partition.
fn clamp(c: &Counts, p: &DpParams) -> Counts {
    let mut out = Counts {
        visits: c.visits.clamp(0, p.max_visits),
        visitors: 1,
        pageviews: c.pageviews.clamp(0, p.max_pageviews),
        ..Counts::default()
    };
    for m in 0..MODELS {
        out.conversions[m] = c.conversions[m].clamp(0, CREDIT_UNIT);
        out.revenue[m] = c.revenue[m].clamp(0, p.max_revenue_cents);
    }
    out
}

/// Releases partitions from per-visitor contributions: bounds, selects, adds noise.
/// `units` yields each visitor's contributions as (partition, counts) pairs (a
/// partition may repeat). Output is sorted by partition; values are rounded and
/// never negative.
pub fn release<K, R>(
    units: impl IntoIterator<Item = Vec<(K, Counts)>>,
    p: &DpParams,
    rng: &mut R,
) -> (Vec<(K, Counts)>, DpReport)
where
    K: Hash + Eq + Ord + Clone,
    R: Rng + ?Sized,
{
    let mut report = DpReport {
        epsilon: p.epsilon,
        delta: p.delta,
        ..DpReport::default()
    };
    let mut totals: FxHashMap<K, Counts> = FxHashMap::default();
    for contribution in units {
        let mut per: FxHashMap<K, Counts> = FxHashMap::default();
        for (k, c) in contribution {
            per.entry(k).or_default().add(&c);
        }
        let mut parts: Vec<(K, Counts)> = per.into_iter().collect();
        parts.sort_by(|a, b| a.0.cmp(&b.0));
        if parts.len() > p.max_partitions {
            report.contributions_dropped += (parts.len() - p.max_partitions) as u64;
            let keep = rand::seq::index::sample(rng, parts.len(), p.max_partitions);
            let mut keep: Vec<usize> = keep.into_vec();
            keep.sort_unstable();
            parts = keep.into_iter().map(|i| parts[i].clone()).collect();
        }
        for (k, c) in parts {
            totals.entry(k).or_default().add(&clamp(&c, p));
        }
    }
    let mut keys: Vec<(K, Counts)> = totals.into_iter().collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    let threshold = p.selection_threshold();
    let sel_scale = p.selection_scale();
    let specs = p.measure_specs();
    let mut out = Vec::new();
    for (k, c) in keys {
        let noisy_units = c.visitors as f64 + laplace(sel_scale, rng);
        if noisy_units < threshold {
            continue;
        }
        let noisy: Vec<i64> = measures(&c)
            .iter()
            .zip(&specs)
            .map(|(&v, &(bound, share))| {
                let x = v as f64 + sample(p.noise, p.scale(bound, share), rng);
                x.round().max(0.0) as i64
            })
            .collect();
        out.push((k, from_measures(&noisy)));
    }
    report.partitions_released = out.len() as u64;
    (out, report)
}

/// A noise source: ChaCha20 seeded from the operating system.
pub fn secure_rng() -> rand_chacha::ChaCha20Rng {
    use rand::SeedableRng;
    rand_chacha::ChaCha20Rng::from_os_rng()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn laplace_cdf(x: f64, b: f64) -> f64 {
        if x < 0.0 {
            0.5 * (x / b).exp()
        } else {
            1.0 - 0.5 * (-x / b).exp()
        }
    }

    fn normal_cdf(x: f64, s: f64) -> f64 {
        // Abramowitz–Stegun 7.1.26 erf, error < 1.5e-7: ample for a KS test.
        let z = x / (s * std::f64::consts::SQRT_2);
        let t = 1.0 / (1.0 + 0.327_591_1 * z.abs());
        let y = 1.0
            - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736)
                * t
                + 0.254_829_592)
                * t
                * (-z * z).exp();
        0.5 * (1.0 + y.copysign(z))
    }

    /// Kolmogorov–Smirnov statistic of `xs` against `cdf`.
    fn ks(mut xs: Vec<f64>, cdf: impl Fn(f64) -> f64) -> f64 {
        xs.sort_by(f64::total_cmp);
        let n = xs.len() as f64;
        xs.iter()
            .enumerate()
            .map(|(i, &x)| {
                let f = cdf(x);
                (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
            })
            .fold(0.0, f64::max)
    }

    /// KS critical value at α = 0.001 is 1.95/√n.
    fn ks_critical(n: usize) -> f64 {
        1.95 / (n as f64).sqrt()
    }

    #[test]
    fn samplers_match_their_distributions_and_not_the_other() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let n = 20_000;
        let lap: Vec<f64> = (0..n).map(|_| laplace(3.0, &mut rng)).collect();
        let gau: Vec<f64> = (0..n).map(|_| gaussian(3.0, &mut rng)).collect();
        assert!(ks(lap.clone(), |x| laplace_cdf(x, 3.0)) < ks_critical(n));
        assert!(ks(gau.clone(), |x| normal_cdf(x, 3.0)) < ks_critical(n));
        // The test has power: a wrong scale or the wrong family is rejected.
        assert!(ks(lap.clone(), |x| laplace_cdf(x, 4.0)) > ks_critical(n));
        assert!(ks(lap, |x| normal_cdf(x, 3.0 * std::f64::consts::SQRT_2)) > ks_critical(n));
        assert!(ks(gau, |x| laplace_cdf(x, 3.0 / std::f64::consts::SQRT_2)) > ks_critical(n));
    }

    fn contribution(kw: &'static str, visits: i64, conv: i64) -> (&'static str, Counts) {
        let mut c = Counts {
            visits,
            visitors: 1,
            pageviews: visits,
            ..Counts::default()
        };
        c.conversions = [conv; MODELS];
        c.revenue = [conv * 1000; MODELS];
        (kw, c)
    }

    /// The released noise of a large partition, over many seeded runs at ε = 1,
    /// follows the declared mechanism and scale.
    #[test]
    fn released_noise_matches_the_declared_mechanism() {
        for noise in [Noise::Laplace, Noise::Gaussian] {
            let p = DpParams {
                epsilon: 1.0,
                noise,
                ..DpParams::default()
            };
            // 2000 visitors, each 1 visit and one whole conversion on "big".
            let units: Vec<Vec<(&str, Counts)>> = (0..2000)
                .map(|_| vec![contribution("big", 1, CREDIT_UNIT)])
                .collect();
            let mut rng = ChaCha20Rng::seed_from_u64(42);
            let runs = 2000;
            let mut visit_noise = Vec::new();
            let mut conv_noise = Vec::new();
            for _ in 0..runs {
                let (out, rep) = release(units.clone(), &p, &mut rng);
                assert_eq!(rep.partitions_released, 1);
                visit_noise.push(out[0].1.visits as f64 - 2000.0);
                conv_noise.push(out[0].1.conversions[0] as f64 / CREDIT_UNIT as f64 - 2000.0);
            }
            let visits_scale = p.scale(p.max_visits as f64, SHARE_VISITS);
            let conv_scale = p.conversion_scale();
            // Visits are rounded to integers: compare at the rounding midpoints.
            type Cdf = Box<dyn Fn(f64) -> f64>;
            let (vcdf, ccdf): (Cdf, Cdf) = match noise {
                Noise::Laplace => (
                    Box::new(move |x| laplace_cdf(x + 0.5, visits_scale)),
                    Box::new(move |x| laplace_cdf(x, conv_scale)),
                ),
                Noise::Gaussian => (
                    Box::new(move |x| normal_cdf(x + 0.5, visits_scale)),
                    Box::new(move |x| normal_cdf(x, conv_scale)),
                ),
            };
            let crit = ks_critical(runs);
            let dv = ks(visit_noise, vcdf);
            let dc = ks(conv_noise.clone(), ccdf);
            assert!(dv < crit, "{noise:?} visits: KS {dv} ≥ {crit}");
            assert!(dc < crit, "{noise:?} conversions: KS {dc} ≥ {crit}");
            let wrong = |x: f64| laplace_cdf(x, conv_scale * 1.5);
            assert!(ks(conv_noise, wrong) > crit);
        }
    }

    #[test]
    fn contributions_are_bounded_and_rare_partitions_suppressed() {
        let p = DpParams {
            max_partitions: 2,
            ..DpParams::default()
        };
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        // One visitor on five partitions: at most two are kept.
        let one = vec![vec![
            contribution("a", 1, 0),
            contribution("b", 1, 0),
            contribution("c", 1, 0),
            contribution("d", 1, 0),
            contribution("e", 1, 0),
        ]];
        let (out, rep) = release(one, &p, &mut rng);
        assert_eq!(rep.contributions_dropped, 3);
        // A single visitor's partition essentially never clears the threshold.
        assert!(out.is_empty());
        assert!(p.selection_threshold() > 30.0);
        // A heavy visitor adds at most max_visits and one conversion.
        let heavy = [contribution("x", 1000, 50 * CREDIT_UNIT)];
        let c = clamp(&heavy[0].1, &p);
        assert_eq!(c.visits, p.max_visits);
        assert_eq!(c.pageviews, p.max_pageviews);
        assert_eq!(c.conversions, [CREDIT_UNIT; MODELS]);
        assert_eq!(c.revenue, [p.max_revenue_cents; MODELS]);
        assert_eq!(c.visitors, 1);
    }

    #[test]
    fn periods_start_where_expected() {
        let day = |s: &str| crate::parse::time::parse_day(s).unwrap();
        let wed = day("2024-03-13");
        assert_eq!(Period::Day.start(wed, 0), wed);
        assert_eq!(Period::Week.start(wed, 0), day("2024-03-11"));
        assert_eq!(Period::Week.start(day("2024-03-11"), 0), day("2024-03-11"));
        assert_eq!(Period::Week.start(day("2024-03-17"), 0), day("2024-03-11"));
        assert_eq!(Period::Month.start(wed, 0), day("2024-03-01"));
        assert_eq!(Period::Month.start(day("2024-02-29"), 0), day("2024-02-01"));
        assert_eq!(Period::Run.start(wed, 5), 5);
    }

    #[test]
    fn same_seed_same_release() {
        let p = DpParams::default();
        let units: Vec<Vec<(&str, Counts)>> = (0..500)
            .map(|i| vec![contribution(if i % 2 == 0 { "a" } else { "b" }, 2, 0)])
            .collect();
        let a = release(units.clone(), &p, &mut ChaCha20Rng::seed_from_u64(9));
        let b = release(units.clone(), &p, &mut ChaCha20Rng::seed_from_u64(9));
        let c = release(units, &p, &mut ChaCha20Rng::seed_from_u64(10));
        assert_eq!(a.0, b.0);
        assert_ne!(a.0, c.0);
    }
}
