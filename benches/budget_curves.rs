//! Budget by response curves against known curves: `cargo bench --bench budget_curves`.
//!
//! Each seed draws a world of paid keywords whose true spend → clicks curves are Hill
//! curves (not the exponential keyrank fits) with their own half-saturation, shape,
//! conversion rate and order value, and 28 days of history (`KEYRANK_BENCH_DAYS=182`
//! for longer: from 91 days the fit resamples weeks) with spend varying around
//! today's, clicks and sales drawn from them. Every policy splits the same total (today's)
//! within the same ±30 % bounds; each is scored by its true expected revenue, as a share
//! of the oracle's uplift over today's split (the oracle solves the same bounded problem
//! on the true curves). Also reported: how often the true expected revenue at keyrank's
//! recommended spend lies inside its 80 % interval.

use keyrank::rank::curves::{CurveParams, PaidDay, recommend};
use keyrank::rank::{BudgetParams, KeywordStats, Method, budget};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution, LogNormal, Poisson};

/// Days of history: 28, or `KEYRANK_BENCH_DAYS` (from 91 on the fit resamples weeks).
fn history_days() -> usize {
    static DAYS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *DAYS.get_or_init(|| {
        std::env::var("KEYRANK_BENCH_DAYS")
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(28)
    })
}
const SEEDS: u64 = 8;
const MAX_CHANGE: f64 = 0.3;

/// A true daily curve: clicks(s) = C s^h / (s^h + K^h), each click worth rate × aov.
#[derive(Clone, Copy)]
struct True {
    c: f64,
    k: f64,
    h: f64,
    rate: f64,
    aov: f64,
    base: f64,
}

impl True {
    fn clicks(&self, s: f64) -> f64 {
        if s <= 0.0 {
            return 0.0;
        }
        self.c * s.powf(self.h) / (s.powf(self.h) + self.k.powf(self.h))
    }
    /// Expected revenue over the period at period spend `s`.
    fn revenue(&self, s: f64) -> f64 {
        history_days() as f64 * self.clicks(s / history_days() as f64) * self.rate * self.aov
    }
    fn marginal(&self, s: f64) -> f64 {
        let e = 1e-4 * s.max(1.0);
        (self.revenue(s + e) - self.revenue(s - e).max(0.0)) / (2.0 * e)
    }
}

fn world(seed: u64) -> (Vec<True>, Vec<PaidDay>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = rng.random_range(8..16);
    let mut truth = Vec::new();
    let mut days = Vec::new();
    for i in 0..n {
        let k = rng.random_range(10.0..80.0);
        let t = True {
            c: rng.random_range(50.0..600.0),
            k,
            h: rng.random_range(0.8..1.6),
            rate: rng.random_range(0.01..0.08),
            aov: rng.random_range(30.0..150.0),
            // Today's spend sits anywhere from well below to well past saturation.
            base: k * rng.random_range(0.3..3.0),
        };
        for day in 0..history_days() {
            let s = t.base * rng.random_range(0.75..1.25);
            let clicks = Poisson::new(t.clicks(s).max(1e-9))
                .unwrap()
                .sample(&mut rng);
            let conv = Binomial::new(clicks as u64, t.rate)
                .unwrap()
                .sample(&mut rng) as f64;
            let aov = LogNormal::new(t.aov.ln() - 0.08, 0.4).unwrap();
            let revenue: f64 = (0..conv as usize).map(|_| aov.sample(&mut rng)).sum();
            days.push(PaidDay {
                day: day as i32,
                engine: "google".into(),
                keyword: format!("kw{i:02}"),
                cost: (s * 100.0).round() / 100.0,
                clicks,
                conversions: conv,
                revenue: (revenue * 100.0).round() / 100.0,
            });
        }
        truth.push(t);
    }
    (truth, days)
}

/// Spends in keyword order that sum to `total`, each in [lo, hi]: `want` projected.
fn project(want: &[f64], lo: &[f64], hi: &[f64], total: f64) -> Vec<f64> {
    // Scale the unclamped part until the sum fits.
    let (mut a, mut b) = (0.0f64, 1e6f64);
    let at = |m: f64| -> Vec<f64> {
        want.iter()
            .zip(lo.iter().zip(hi))
            .map(|(w, (l, h))| (w * m).clamp(*l, *h))
            .collect()
    };
    for _ in 0..200 {
        let m = 0.5 * (a + b);
        if at(m).iter().sum::<f64>() > total {
            b = m;
        } else {
            a = m;
        }
    }
    at(0.5 * (a + b))
}

fn oracle(truth: &[True], lo: &[f64], hi: &[f64], total: f64) -> Vec<f64> {
    let spend_at = |t: &True, l: f64, h: f64, lambda: f64| {
        let (mut a, mut b) = (l, h);
        if t.marginal(l) <= lambda {
            return l;
        }
        if t.marginal(h) >= lambda {
            return h;
        }
        for _ in 0..80 {
            let m = 0.5 * (a + b);
            if t.marginal(m) > lambda {
                a = m;
            } else {
                b = m;
            }
        }
        0.5 * (a + b)
    };
    let (mut a, mut b) = (1e-9f64, 1e9f64);
    for _ in 0..200 {
        let m = (a * b).sqrt();
        let s: f64 = (0..truth.len())
            .map(|i| spend_at(&truth[i], lo[i], hi[i], m))
            .sum();
        if s > total {
            a = m;
        } else {
            b = m;
        }
    }
    let lambda = (a * b).sqrt();
    (0..truth.len())
        .map(|i| spend_at(&truth[i], lo[i], hi[i], lambda))
        .collect()
}

fn main() {
    let mut shares: Vec<[f64; 4]> = Vec::new();
    let (mut inside, mut cases) = (0usize, 0usize);
    println!("seed  keyrank  prop-ROAS  uniform  old-greedy   (share of the oracle's uplift)");
    for seed in 1..=SEEDS {
        let (truth, days) = world(seed);
        let n = truth.len();
        let current: Vec<f64> = (0..n)
            .map(|i| {
                days.iter()
                    .filter(|d| d.keyword == format!("kw{i:02}"))
                    .map(|d| d.cost)
                    .sum()
            })
            .collect();
        let total: f64 = current.iter().sum();
        let lo: Vec<f64> = current.iter().map(|c| c * (1.0 - MAX_CHANGE)).collect();
        let hi: Vec<f64> = current.iter().map(|c| c * (1.0 + MAX_CHANGE)).collect();
        let value = |s: &[f64]| -> f64 { truth.iter().zip(s).map(|(t, s)| t.revenue(*s)).sum() };
        let now = value(&current);
        let best = value(&oracle(&truth, &lo, &hi, total)) - now;

        let p = CurveParams {
            total_cents: Some((total * 100.0).round() as i64),
            max_change: MAX_CHANGE,
            seed,
            ..CurveParams::default()
        };
        let (rows, _) = recommend(&days, &p, history_days()).unwrap();
        let mut ours = vec![0.0; n];
        for r in &rows {
            let i: usize = r.keyword[2..].parse().unwrap();
            ours[i] = r.recommended_spend;
            let truly = truth[i].revenue(r.recommended_spend);
            cases += 1;
            inside +=
                (r.expected_revenue_low <= truly && truly <= r.expected_revenue_high) as usize;
        }
        let agg = |i: usize| -> (f64, f64, f64) {
            let k = format!("kw{i:02}");
            days.iter()
                .filter(|d| d.keyword == k)
                .fold((0.0, 0.0, 0.0), |a, d| {
                    (a.0 + d.clicks, a.1 + d.conversions, a.2 + d.revenue)
                })
        };
        let roas: Vec<f64> = (0..n).map(|i| agg(i).2 / current[i].max(1e-9)).collect();
        let prop = project(
            &current
                .iter()
                .zip(&roas)
                .map(|(c, r)| c * r)
                .collect::<Vec<_>>(),
            &lo,
            &hi,
            total,
        );
        let uniform = project(&vec![1.0; n], &lo, &hi, total);
        let stats: Vec<KeywordStats> = (0..n)
            .map(|i| {
                let (clicks, conv, rev) = agg(i);
                KeywordStats {
                    keyword: format!("kw{i:02}"),
                    visits: clicks,
                    conversions: conv,
                    revenue: rev,
                    cost: Some(current[i]),
                    clicks: Some(clicks),
                }
            })
            .collect();
        let old = budget(
            &stats,
            &BudgetParams {
                total_cents: (total * 100.0).round() as i64,
                method: Method::Shrunk,
                ..BudgetParams::default()
            },
        )
        .unwrap();
        let mut greedy = vec![0.0; n];
        for r in old {
            let i: usize = r.keyword[2..].parse().unwrap();
            greedy[i] = r.amount_cents as f64 / 100.0;
        }
        let greedy = project(&greedy, &lo, &hi, total);
        let share = |s: &[f64]| (value(s) - now) / best;
        let row = [share(&ours), share(&prop), share(&uniform), share(&greedy)];
        println!(
            "{seed:>4}  {:>6.1} %  {:>7.1} %  {:>6.1} %  {:>8.1} %",
            row[0] * 100.0,
            row[1] * 100.0,
            row[2] * 100.0,
            row[3] * 100.0
        );
        shares.push(row);
    }
    let median = |j: usize| {
        let mut v: Vec<f64> = shares.iter().map(|r| r[j]).collect();
        v.sort_by(f64::total_cmp);
        (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2.0
    };
    println!(
        "median keyrank {:.1} %, proportional-to-ROAS {:.1} %, uniform {:.1} %, old greedy {:.1} %",
        median(0) * 100.0,
        median(1) * 100.0,
        median(2) * 100.0,
        median(3) * 100.0
    );
    let beats = shares
        .iter()
        .filter(|r| r[0] > r[1] && r[0] > r[2] && r[0] > r[3])
        .count();
    println!("keyrank beats every other policy on {beats} of {SEEDS} seeds");
    println!(
        "true expected revenue inside keyrank's 80 % interval: {inside} of {cases} keyword × seed cases ({:.0} %)",
        inside as f64 / cases as f64 * 100.0
    );
}
