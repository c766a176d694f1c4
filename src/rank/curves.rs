//! Budget by response curves: for each paid keyword a concave spend → revenue curve is
//! fitted from its days of spend, clicks and attributed sales, and money is moved until
//! the marginal return (revenue per extra unit of spend) is equal, within bounds
//! around today's spend.
//!
//! The curve of one day is `clicks(s) = C · (1 − e^(−s/θ))` (exponential saturation:
//! a keyword's searches are finite and more spend buys dearer clicks), times a value
//! per click (shrunk conversion rate × shrunk order value). `θ` comes from how clicks
//! grew with spend from day to day: the slope `b` of log clicks on log spend is the
//! curve's elasticity `x/(eˣ − 1)` at `x = s/θ`. Keywords share their strength
//! (partial pooling): each slope is shrunk toward the precision-weighted mean of all
//! of them by its own standard error (empirical Bayes, DerSimonian–Laird), so a keyword
//! whose spend never varied gets the pooled slope. Conversion rates are shrunk with a
//! Beta prior fitted across the paid keywords, as the rank does; order values toward
//! the global order value. Uncertainty comes from a bootstrap over days with the rates
//! and order values drawn from their posteriors. A period curve is `D` days of the daily
//! curve at `S/D` a day.

use crate::model::attribution::AttributionModel;
use crate::query::udf::BetaPrior;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
// The generator's own traits (a newer rand_core than rand's).
use rand_distr::{Distribution, Gamma};
use rand_xoshiro::rand_core::{Rng as _, SeedableRng as _};
use serde::Serialize;
use std::collections::BTreeMap;

/// One day of one paid keyword.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PaidDay {
    pub day: i32,
    pub engine: String,
    pub keyword: String,
    pub cost: f64,
    pub clicks: f64,
    pub conversions: f64,
    pub revenue: f64,
}

impl PaidDay {
    /// A day of a keyword from its figures: cost, clicks, conversions, revenue.
    pub fn of(day: i32, engine: &str, keyword: &str, figures: [f64; 4]) -> PaidDay {
        let [cost, clicks, conversions, revenue] = figures;
        PaidDay {
            day,
            engine: engine.to_string(),
            keyword: keyword.to_string(),
            cost,
            clicks,
            conversions,
            revenue,
        }
    }

    /// The day and its figures, as [`PaidDay::of`] takes them.
    pub fn figures(&self) -> DayFigures {
        (
            self.day,
            [self.cost, self.clicks, self.conversions, self.revenue],
        )
    }
}

/// How the split is asked for.
#[derive(Debug, Clone)]
pub struct CurveParams {
    /// What to spend over the period in cents; None: today's total.
    pub total_cents: Option<i64>,
    /// Spend where the marginal return falls to this ROAS instead of a total.
    pub target_roas: Option<f64>,
    /// Bounds around today's spend (0.3 = ±30 %).
    pub max_change: f64,
    /// Keywords with fewer days of spend, or fewer clicks, stay at today's spend.
    pub min_days: usize,
    pub min_clicks: f64,
    /// Bootstrap draws for the intervals.
    pub draws: usize,
    pub seed: u64,
}

impl Default for CurveParams {
    fn default() -> Self {
        CurveParams {
            total_cents: None,
            target_roas: None,
            max_change: 0.3,
            min_days: 7,
            min_clicks: 30.0,
            draws: 200,
            seed: 1,
        }
    }
}

/// One daily curve: `C (1 − e^(−s/θ)) · v`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Curve {
    pub max_clicks: f64,
    pub theta: f64,
    pub value_per_click: f64,
}

impl Curve {
    /// Revenue over `days` days at `spend` for the whole period, spread evenly.
    pub fn revenue(&self, spend: f64, days: f64) -> f64 {
        days * self.max_clicks * (1.0 - (-(spend / days) / self.theta).exp()) * self.value_per_click
    }

    /// Extra revenue per extra unit of period spend.
    pub fn marginal(&self, spend: f64, days: f64) -> f64 {
        self.max_clicks * self.value_per_click / self.theta * (-(spend / days) / self.theta).exp()
    }
}

/// One keyword's recommendation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurveRow {
    pub keyword: String,
    pub engine: String,
    pub current_spend: f64,
    pub recommended_spend: f64,
    pub change: f64,
    pub expected_revenue: f64,
    pub expected_revenue_low: f64,
    pub expected_revenue_high: f64,
    pub marginal_roas: f64,
    pub reason: String,
    #[serde(skip)]
    pub amount_cents: i64,
    /// Today's spend may move within these bounds (equal when it stays).
    #[serde(skip)]
    pub bounds: (f64, f64),
    /// The fitted period curve from no spend to beyond the upper bound, for charts;
    /// only the first [`CURVES_DRAWN`] rows of a split carry one, empty on the rest.
    #[serde(skip)]
    pub curve: Vec<CurvePoint>,
}

/// One point of a fitted period curve: expected revenue at a spend, with its 80 %
/// interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    pub spend: f64,
    pub revenue: f64,
    pub low: f64,
    pub high: f64,
}

/// Points the charts draw each curve with.
const CURVE_POINTS: usize = 24;

/// How many curves the charts draw (small multiples of the largest recommended
/// spends); the split's first rows carry theirs ([`CurveRow::curve`]).
pub const CURVES_DRAWN: usize = 24;

fn curve_points(f: &Fit, upper: f64) -> Vec<CurvePoint> {
    let end = (upper * 1.5).max(f.current * 1.5).max(1.0);
    (0..=CURVE_POINTS)
        .map(|i| {
            let spend = end * i as f64 / CURVE_POINTS as f64;
            let mut rev: Vec<f64> = f.draws.iter().map(|c| c.revenue(spend, f.active)).collect();
            CurvePoint {
                spend: round2(spend),
                revenue: round2(rev.iter().sum::<f64>() / rev.len() as f64),
                low: round2(quantile(&mut rev, 0.1)),
                high: round2(quantile(&mut rev, 0.9)),
            }
        })
        .collect()
}

/// The split's totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurveTotals {
    pub days: usize,
    pub current_spend: f64,
    pub recommended_spend: f64,
    pub current_revenue: f64,
    pub expected_revenue: f64,
    pub expected_revenue_low: f64,
    pub expected_revenue_high: f64,
    pub uplift: f64,
    pub uplift_low: f64,
    pub uplift_high: f64,
    /// Share of draws in which the new split earns more than today's.
    pub probability_better: f64,
    /// The marginal ROAS every moved keyword was brought to.
    pub marginal_roas: f64,
    pub note: String,
}

struct Fit {
    engine: String,
    keyword: String,
    /// Days with cost rows: the curve is a day's, and the period's spend is spread
    /// over the days the keyword ran, as it was when it was fitted.
    active: f64,
    current: f64,
    clicks: f64,
    spend_days: usize,
    draws: Vec<Curve>,
    fixed: Option<String>,
}

/// Slope of ln(clicks) on ln(spend) and its standard error; None without variation.
fn slope(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let origin = points.first().copied().unwrap_or_default();
    let mut sums = Sums::default();
    for &(x, y) in points {
        sums.add(x - origin.0, y - origin.1);
    }
    sums.slope()
}

/// The sums a least-squares line is found from, taken in one pass over the points, so
/// a bootstrap draw adds each resampled day's point once. Points are shifted by one of
/// their own (any point of the keyword): the line's slope is the same, and the sums of
/// squares stay small, so subtracting the means loses nothing to rounding.
#[derive(Default, Clone, Copy)]
struct Sums {
    n: f64,
    x: f64,
    y: f64,
    xx: f64,
    xy: f64,
    yy: f64,
}

impl Sums {
    /// The sums of one point alone.
    fn point(x: f64, y: f64) -> Sums {
        Sums {
            n: 1.0,
            x,
            y,
            xx: x * x,
            xy: x * y,
            yy: y * y,
        }
    }

    fn add(&mut self, x: f64, y: f64) {
        self.merge(&Sums::point(x, y));
    }

    /// Adds sums taken apart (a day's point's, or none for a day without a point).
    fn merge(&mut self, o: &Sums) {
        self.n += o.n;
        self.x += o.x;
        self.y += o.y;
        self.xx += o.xx;
        self.xy += o.xy;
        self.yy += o.yy;
    }

    /// The slope and its standard error; None below three points or without spread.
    fn slope(&self) -> Option<(f64, f64)> {
        let n = self.n;
        if n < 3.0 {
            return None;
        }
        let sxx = self.xx - self.x * self.x / n;
        if sxx < 1e-4 {
            return None;
        }
        let sxy = self.xy - self.x * self.y / n;
        let syy = self.yy - self.y * self.y / n;
        let b = sxy / sxx;
        let resid = (syy - b * sxy).max(0.0);
        let se = (resid / (n - 2.0) / sxx).sqrt().max(1e-3);
        Some((b, se))
    }
}

/// A day as a bootstrap draw adds it: its spend and clicks, then its log point's
/// [`Sums`] (n, x, y, xx, xy, yy) ready multiplied; a day without a point has those 0,
/// which adds nothing. Eight numbers side by side, so a draw adds a day's in two or
/// four vector additions.
#[derive(Clone, Copy, Default)]
struct Term([f64; 8]);

impl Term {
    fn of(&[cost, clicks, ..]: &[f64; 4], point: Option<(f64, f64)>) -> Term {
        let s = point.map_or(Sums::default(), |(x, y)| Sums::point(x, y));
        Term([cost, clicks, s.n, s.x, s.y, s.xx, s.xy, s.yy])
    }

    fn add(&mut self, o: &Term) {
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            *a += b;
        }
    }

    /// The spend, the clicks and the line's sums of the days added.
    fn parts(&self) -> (f64, f64, Sums) {
        let [cost, clicks, n, x, y, xx, xy, yy] = self.0;
        (
            cost,
            clicks,
            Sums {
                n,
                x,
                y,
                xx,
                xy,
                yy,
            },
        )
    }

    /// The sum of `terms`, in two halves added apart (each addition waits for the one
    /// before it in its half only).
    fn sum<'a>(terms: impl Iterator<Item = &'a Term>) -> Term {
        let (mut a, mut b) = (Term::default(), Term::default());
        let mut terms = terms.fuse();
        while let Some(t) = terms.next() {
            a.add(t);
            if let Some(t) = terms.next() {
                b.add(t);
            }
        }
        a.add(&b);
        a
    }

    /// The sum of `picks` terms, each picked from `terms` at random: a bootstrap draw.
    /// One 64-bit number picks two, each by the product of its half and the count,
    /// shifted down (Lemire's method without its rejection step: a term's chance is off
    /// by less than count / 2³², under 1e-7 for a year's days).
    // Not inlined: inside the fit's loop the values it keeps for every draw took the
    // registers and one of the sixteen sums went to memory on every day picked.
    #[inline(never)]
    fn resample(terms: &[Term], picks: usize, rng: &mut Xoshiro256PlusPlus) -> Term {
        let pick = |half: u64| pick_of(half, terms.len());
        let (mut a, mut b) = (Term::default(), Term::default());
        for _ in 0..picks / 2 {
            let r = rng.next_u64();
            a.add(&terms[pick(r)]);
            b.add(&terms[pick(r >> 32)]);
        }
        if picks % 2 == 1 {
            a.add(&terms[pick(rng.next_u64())]);
        }
        a.add(&b);
        a
    }
}

/// An index below `n` from the low 32 bits of `half`: their product with `n`, shifted
/// down (Lemire's method without its rejection step).
fn pick_of(half: u64, n: usize) -> usize {
    (((half & 0xffff_ffff) * n as u64) >> 32) as usize
}

/// Days in a block of a long period's bootstrap: a week.
const BLOCK_DAYS: usize = 7;
/// Periods of this many days or more are resampled by blocks (13 weeks).
const BLOCKS_FROM: usize = 13 * BLOCK_DAYS;

/// What a keyword's bootstrap draws pick from. Up to [`BLOCKS_FROM`] days, its days
/// one by one. From there, whole weeks: a circular block bootstrap (Politis and
/// Romano), whose blocks are the runs of 7 consecutive days starting at each day (the
/// last days wrapping round to the first), and a draw of `n = 7q + r` days picks q
/// of them and one run of the r days left over, so it holds n days and each day is in
/// it once on average. A year's draw picks 53 sums instead of 365 days, and days of
/// one week (their weekday pattern, a run of dear clicks) stay together, as a time
/// series' resamples should.
struct Draws {
    /// The days (in date order when resampled by weeks).
    days: Vec<Term>,
    /// The weeks from each day (empty: days are picked one by one).
    weeks: Vec<Term>,
}

impl Draws {
    /// From the terms of a keyword's days and their dates (`on`, in the same order).
    fn of(terms: Vec<Term>, on: impl Iterator<Item = i32>) -> Draws {
        let n = terms.len();
        if n < BLOCKS_FROM {
            return Draws {
                days: terms,
                weeks: Vec::new(),
            };
        }
        // Blocks are runs of days in date order (as a ledger keeps them already).
        let on: Vec<i32> = on.collect();
        let days: Vec<Term> = if on.is_sorted() {
            terms
        } else {
            let mut dated: Vec<(i32, Term)> = on.into_iter().zip(terms).collect();
            dated.sort_by_key(|(day, _)| *day);
            dated.into_iter().map(|(_, t)| t).collect()
        };
        let weeks = (0..n).map(|i| Draws::run(&days, i, BLOCK_DAYS)).collect();
        Draws { days, weeks }
    }

    /// The sum of `len` days from day `from` on, the last days wrapping round to the first.
    fn run(days: &[Term], from: usize, len: usize) -> Term {
        Term::sum((from..from + len).map(|i| &days[i % days.len()]))
    }

    /// How many days, or weeks, a draw picks.
    fn picks(&self) -> usize {
        if self.weeks.is_empty() {
            self.days.len()
        } else {
            self.days.len() / BLOCK_DAYS
        }
    }

    /// One bootstrap draw: the sum of its days.
    fn draw(&self, rng: &mut Xoshiro256PlusPlus) -> Term {
        if self.weeks.is_empty() {
            return Term::resample(&self.days, self.days.len(), rng);
        }
        let mut t = Term::resample(&self.weeks, self.picks(), rng);
        let left = self.days.len() % BLOCK_DAYS;
        if left > 0 {
            let from = pick_of(rng.next_u64(), self.days.len());
            t.add(&Draws::run(&self.days, from, left));
        }
        t
    }
}

/// The `x = s/θ` whose elasticity `x/(eˣ − 1)` is `b` (0 < b < 1).
///
/// A fit asks for a million of these, so it reads a table of `x` and its slope in `b`
/// (built once by [`newton_x`], the careful solver) and interpolates between two
/// entries with a cubic Hermite polynomial: within 1e-12 of `x` over most of the range,
/// 1e-8 at its steep end. One Newton step on `e(x) − b` from there (one `exp_m1`, no
/// logarithm) then lands within rounding of the root: Newton's error after a step is
/// about `|e''/2e'|·δ²`, below 1 here, so a step `δ` under 1e-8 of `x` leaves an
/// error under 1e-16 of it. Steps go on while they are larger, and after four the
/// careful solver finishes.
fn x_for_elasticity(b: f64) -> f64 {
    const LOWEST: f64 = 0.02;
    const HIGHEST: f64 = 0.98;
    const STEPS: usize = 1024;
    static TABLE: std::sync::OnceLock<Vec<(f64, f64)>> = std::sync::OnceLock::new();
    let h = (HIGHEST - LOWEST) / STEPS as f64;
    let table = TABLE.get_or_init(|| {
        (0..=STEPS)
            .map(|i| {
                let b = LOWEST + h * i as f64;
                // ln e(x) ≈ −x/2 near 0 and ≈ ln x − x for large x: a start close
                // to either.
                let x = newton_x(b, -2.0 * b.ln());
                (x, 1.0 / elasticity(x).1)
            })
            .collect()
    });
    let b = b.clamp(LOWEST, HIGHEST);
    let at = ((b - LOWEST) / h).clamp(0.0, (STEPS - 1) as f64);
    let i = at as usize;
    let t = at - i as f64;
    let ((x0, d0), (x1, d1)) = (table[i], table[i + 1]);
    let (t2, t3) = (t * t, t * t * t);
    let mut x = (2.0 * t3 - 3.0 * t2 + 1.0) * x0
        + (t3 - 2.0 * t2 + t) * h * d0
        + (3.0 * t2 - 2.0 * t3) * x1
        + (t3 - t2) * h * d1;
    for _ in 0..4 {
        let (e, de) = elasticity(x);
        let delta = (e - b) / de;
        x -= delta;
        if delta.abs() <= 1e-8 * x {
            return x;
        }
    }
    newton_x(b, x)
}

/// The elasticity `x/(eˣ − 1)` and its derivative in `x`.
fn elasticity(x: f64) -> (f64, f64) {
    let em1 = x.exp_m1();
    (x / em1, (em1 - x * (em1 + 1.0)) / (em1 * em1))
}

/// Newton's steps of [`x_for_elasticity`] from `start`.
fn newton_x(b: f64, start: f64) -> f64 {
    let target = b.ln();
    let (mut lo, mut hi) = (1e-6f64, 60.0f64);
    let mut x = start.clamp(lo, hi);
    for _ in 0..100 {
        let em1 = x.exp_m1();
        let g = (x / em1).ln() - target;
        if g > 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        // d/dx ln(x/(eˣ − 1)) = 1/x − eˣ/(eˣ − 1)
        let dg = 1.0 / x - (em1 + 1.0) / em1;
        let delta = g / dg;
        // Newton's steps on this convex curve come from one side, so the far end of
        // the bracket may never move: the step's size says when to stop.
        if dg < 0.0 && delta.abs() <= 1e-14 * x {
            return x - delta;
        }
        let step = x - delta;
        let next = if step > lo && step < hi && dg < 0.0 {
            step
        } else {
            0.5 * (lo + hi)
        };
        if hi - lo <= 1e-15 * hi {
            return next;
        }
        x = next;
    }
    x
}

/// A day's log point, when it had spend and clicks.
fn log_point(&(_, [cost, clicks, ..]): &DayFigures) -> Option<(f64, f64)> {
    (cost > 0.0 && clicks > 0.0).then(|| (cost.ln(), clicks.ln()))
}

/// Pooled mean slope and between-keyword variance (DerSimonian–Laird).
fn pool(slopes: &[(f64, f64)]) -> (f64, f64) {
    if slopes.is_empty() {
        return (0.6, 0.04);
    }
    let w: Vec<f64> = slopes.iter().map(|(_, se)| 1.0 / (se * se)).collect();
    let wsum: f64 = w.iter().sum();
    let mean = slopes.iter().zip(&w).map(|((b, _), w)| b * w).sum::<f64>() / wsum;
    let q: f64 = slopes
        .iter()
        .zip(&w)
        .map(|((b, _), w)| w * (b - mean).powi(2))
        .sum();
    let c = wsum - w.iter().map(|w| w * w).sum::<f64>() / wsum;
    let tau2 = if c > 0.0 {
        ((q - (slopes.len() as f64 - 1.0)) / c).max(0.0)
    } else {
        0.0
    };
    (mean.clamp(0.05, 0.95), tau2.max(0.0025))
}

fn shrink(b: Option<(f64, f64)>, mean: f64, tau2: f64) -> f64 {
    match b {
        Some((b, se)) => {
            let (wb, wm) = (1.0 / (se * se), 1.0 / tau2);
            ((b * wb + mean * wm) / (wb + wm)).clamp(0.05, 0.95)
        }
        None => mean,
    }
}

/// A day (days since 1970-01-01) with its cost, clicks, conversions and revenue.
pub type DayFigures = (i32, [f64; 4]);

/// The attribution models a [`LedgerDay`] holds, in [`AttributionModel::ALL`]'s order.
pub const MODELS: usize = AttributionModel::ALL.len();

/// A paid day under every attribution model: its cost and clicks, and each model's
/// conversions and revenue (a row of `paid::PaidLedger`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LedgerDay {
    pub day: i32,
    pub spend: [f64; 2],
    pub credit: [[f64; 2]; MODELS],
}

impl LedgerDay {
    /// The day as a fit reads it under the `m`th model.
    pub fn under(&self, m: usize) -> DayFigures {
        let [cost, clicks] = self.spend;
        let [conversions, revenue] = self.credit[m];
        (self.day, [cost, clicks, conversions, revenue])
    }
}

/// One paid keyword's days, in the order of days, borrowed from wherever they are kept.
#[derive(Debug, Clone, Copy)]
pub enum Days<'a> {
    /// Each day's figures.
    Figures(&'a [DayFigures]),
    /// A ledger's days under its `model`th model: a period's days without copying the
    /// period (each keyword's are read as it is fitted).
    Ledger { days: &'a [LedgerDay], model: usize },
}

impl<'a> Days<'a> {
    pub fn len(&self) -> usize {
        match self {
            Days::Figures(d) => d.len(),
            Days::Ledger { days, .. } => days.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The days' figures: borrowed, or read from a ledger's rows.
    pub fn figures(&self) -> std::borrow::Cow<'a, [DayFigures]> {
        match *self {
            Days::Figures(d) => std::borrow::Cow::Borrowed(d),
            Days::Ledger { days, model } => days.iter().map(|d| d.under(model)).collect(),
        }
    }
}

/// One paid keyword's days as a fit reads them, in the order of days: what
/// [`fit_keywords`] takes, borrowed from wherever the days are kept (a
/// [`super::paid::Cut`] of a ledger lends them without copying a name or a day).
#[derive(Debug, Clone, Copy)]
pub struct PaidKeyword<'a> {
    pub engine: &'a str,
    pub keyword: &'a str,
    pub days: Days<'a>,
}

/// A paid keyword as the fit reads it, with each day's log point (when it had spend
/// and clicks).
type Keyword<'a> = (PaidKeyword<'a>, Vec<Option<(f64, f64)>>);

/// Fits every paid keyword's curve draws.
fn fit(days: &[PaidDay], p: &CurveParams) -> Vec<Fit> {
    fit_on(days, p, None)
}

/// [`fit`] on `threads` threads (None: one per core when there is enough work).
fn fit_on(days: &[PaidDay], p: &CurveParams, threads: Option<usize>) -> Vec<Fit> {
    // The days by (engine, keyword) in that order. The store's rows come sorted so
    // (`paid_keywords` orders them): then the runs of equal keys are the groups.
    fn name(d: &PaidDay) -> (&str, &str) {
        (d.engine.as_str(), d.keyword.as_str())
    }
    let by_kw: Vec<((&str, &str), Vec<DayFigures>)> =
        if days.windows(2).all(|w| name(&w[0]) <= name(&w[1])) {
            days.chunk_by(|a, b| name(a) == name(b))
                .map(|run| (name(&run[0]), run.iter().map(PaidDay::figures).collect()))
                .collect()
        } else {
            let mut by_kw: BTreeMap<(&str, &str), Vec<DayFigures>> = BTreeMap::new();
            for d in days {
                by_kw.entry(name(d)).or_default().push(d.figures());
            }
            by_kw.into_iter().collect()
        };
    let keywords: Vec<PaidKeyword> = by_kw
        .iter()
        .map(|((engine, keyword), days)| PaidKeyword {
            engine,
            keyword,
            days: Days::Figures(days),
        })
        .collect();
    fit_keywords_on(&keywords, p, threads)
}

/// [`fit_keywords`] on `threads` threads (None: one per core when there is enough
/// work).
fn fit_keywords_on(keywords: &[PaidKeyword], p: &CurveParams, threads: Option<usize>) -> Vec<Fit> {
    fit_keywords_stopping(keywords, p, threads, None).unwrap_or_default()
}

/// [`fit_keywords_on`], given up (None) once `stop` says so before a keyword's draws.
fn fit_keywords_stopping(
    keywords: &[PaidKeyword],
    p: &CurveParams,
    threads: Option<usize>,
    stop: Option<&(dyn Fn() -> bool + Sync)>,
) -> Option<Vec<Fit>> {
    // A keyword without a day in the period is not paid for in it.
    let keywords: Vec<&PaidKeyword> = keywords.iter().filter(|k| !k.days.is_empty()).collect();
    // The draws of 5,000 keywords take a second on one core: the keywords are shared
    // out in contiguous parts, one per core, and joined in order.
    let work = p.draws.max(1) * keywords.iter().map(|k| k.days.len()).sum::<usize>();
    let threads = threads.unwrap_or(if work < 1 << 20 {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    });
    // Each day's log point, once: the pooled slope and every draw read them. With
    // each keyword's slope and its sums for the priors, on every core; summed below in
    // the keywords' order, whatever the threads.
    let firsts = each_keyword(keywords.len(), threads, |i| {
        let ds = keywords[i].days.figures();
        let logs: Vec<Option<(f64, f64)>> = ds.iter().map(log_point).collect();
        let slope = slope(&logs.iter().flatten().copied().collect::<Vec<_>>());
        let (c, n): (f64, f64) = ds
            .iter()
            .fold((0.0, 0.0), |(c, n), (_, d)| (c + d[2], n + d[1]));
        let revenue = ds.iter().map(|(_, d)| d[3]).sum::<f64>();
        (logs, slope, (c, n), revenue)
    });
    let slopes: Vec<(f64, f64)> = firsts.iter().filter_map(|f| f.1).collect();
    let (mean, tau2) = pool(&slopes);
    let mut prior = BetaPrior::default();
    let (mut rev, mut conv) = (0.0, 0.0);
    for (_, _, (c, n), revenue) in &firsts {
        prior.add(c.min(*n), *n);
        conv += c;
        rev += revenue;
    }
    let keywords: Vec<Keyword> = keywords
        .into_iter()
        .zip(firsts)
        .map(|(k, (logs, ..))| (*k, logs))
        .collect();
    let (alpha, beta) = prior.fit().unwrap_or((1.0, 50.0));
    let order_value = if conv > 0.0 { rev / conv } else { 0.0 };
    const PSEUDO_ORDERS: f64 = 3.0;
    // Each keyword draws from its own stream of the seed, named by its engine and
    // keyword: its random numbers do not depend on which other keywords are paid for
    // or on the thread that fits it.
    let fit_one = |(k, logs): &Keyword| {
        let (engine, keyword) = (k.engine, k.keyword);
        let figures = k.days.figures();
        let ds: &[DayFigures] = &figures;
        let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
        let name = [engine.as_bytes(), &[0], keyword.as_bytes()].concat();
        rng.set_stream(xxhash_rust::xxh3::xxh3_64(&name));
        let sum = |i: usize| ds.iter().map(|(_, d)| d[i]).sum::<f64>();
        let (current, clicks, conversions, revenue) = (sum(0), sum(1), sum(2), sum(3));
        let spend_days = ds.iter().filter(|(_, d)| d[0] > 0.0).count();
        let fixed = if current <= 0.0 {
            Some("no spend in the period: stays at 0".to_string())
        } else if spend_days < p.min_days || clicks < p.min_clicks {
            Some(format!(
                "too little data ({spend_days} days of spend, {clicks:.0} clicks; needs {} and {:.0}): stays at current spend",
                p.min_days, p.min_clicks
            ))
        } else {
            None
        };
        let ra = (conversions.min(clicks) + alpha).max(1e-6);
        let rb = (clicks - conversions).max(0.0) + beta.max(1e-6);
        // The conversion rate's Beta(ra, rb) posterior, drawn as X / (X + Y) of
        // X ~ Gamma(ra) and Y ~ Gamma(rb): the same distribution, in 35 ns a draw
        // where rand_distr's Beta (Cheng's algorithm) took 70-100.
        let rate = (
            Gamma::new(ra, 1.0).expect("a positive Gamma shape"),
            Gamma::new(rb, 1.0).expect("a positive Gamma shape"),
        );
        let rate_mean = ra / (ra + rb);
        let aov_mean = (revenue + PSEUDO_ORDERS * order_value) / (conversions + PSEUDO_ORDERS);
        let aov = Gamma::new(
            conversions + PSEUDO_ORDERS,
            1.0 / (conversions + PSEUDO_ORDERS),
        )
        .expect("positive Gamma parameters");
        // A draw resamples days by index and sums their terms (points shifted by
        // the keyword's first point, see `Sums`).
        let origin = logs.iter().flatten().next().copied().unwrap_or_default();
        let terms: Vec<Term> = ds
            .iter()
            .zip(logs)
            .map(|((_, d), p)| Term::of(d, p.map(|(x, y)| (x - origin.0, y - origin.1))))
            .collect();
        // The first draw is the fit on all days; the rest resample them.
        let all = Term::sum(terms.iter());
        let draws_of = Draws::of(terms, ds.iter().map(|(day, _)| *day));
        let mut draws = Vec::with_capacity(p.draws.max(1));
        // The days (or weeks) are picked by a fast generator of the keyword's own,
        // seeded from its stream: a draw picks up to 90 days, and ChaCha's numbers
        // cost several times what adding a day does.
        let mut picks = Xoshiro256PlusPlus::seed_from_u64(rng.next_u64());
        for i in 0..p.draws.max(1) {
            let drawn = if i == 0 {
                all
            } else {
                draws_of.draw(&mut picks)
            };
            let (s_sum, c_sum, sums) = drawn.parts();
            let b = shrink(sums.slope(), mean, tau2);
            let x = x_for_elasticity(b);
            let n = ds.len() as f64;
            let (s_mean, c_mean) = (s_sum / n, c_sum / n);
            let theta = (s_mean / x).max(1e-9);
            let max_clicks = c_mean / (1.0 - (-x).exp()).max(1e-9);
            let value = if i == 0 {
                rate_mean * aov_mean
            } else {
                let (x, y) = (rate.0.sample(&mut rng), rate.1.sample(&mut rng));
                let rate = if x + y > 0.0 { x / (x + y) } else { rate_mean };
                rate * aov_mean * aov.sample(&mut rng)
            };
            draws.push(Curve {
                max_clicks,
                theta,
                value_per_click: value,
            });
        }
        Fit {
            engine: engine.to_string(),
            keyword: keyword.to_string(),
            active: ds.len() as f64,
            current,
            clicks,
            spend_days,
            draws,
            fixed,
        }
    };
    let stopped = || stop.is_some_and(|stop| stop());
    each_keyword(keywords.len(), threads, |i| {
        (!stopped()).then(|| fit_one(&keywords[i]))
    })
    .into_iter()
    .collect()
}

/// A keyword's curve draws as the split reads them: each draw's marginal return at a
/// period spend `s` is `a·e^(−k·s)` ([`Curve::marginal`] over the keyword's active
/// days, with `a = C·v/θ` and `k = 1/(days·θ)`), so the solver's many evaluations take
/// one exponential and no division per draw.
struct Rates(Vec<(f64, f64)>);

impl Rates {
    fn of(f: &Fit) -> Rates {
        Rates(
            f.draws
                .iter()
                .map(|c| {
                    (
                        c.max_clicks * c.value_per_click / c.theta,
                        1.0 / (f.active * c.theta),
                    )
                })
                .collect(),
        )
    }

    /// Each draw's marginal return at `s`.
    fn each(&self, s: f64) -> impl Iterator<Item = f64> + '_ {
        self.0.iter().map(move |(a, k)| a * (-k * s).exp())
    }

    fn mean(&self, s: f64) -> f64 {
        self.each(s).sum::<f64>() / self.0.len().max(1) as f64
    }

    /// The mean marginal return at `s` and its slope there (both from the same
    /// exponentials: a draw's slope is its marginal times `−k`).
    fn mean_and_slope(&self, s: f64) -> (f64, f64) {
        let (mut m, mut d) = (0.0, 0.0);
        for (a, k) in &self.0 {
            let v = a * (-k * s).exp();
            m += v;
            d -= v * k;
        }
        let n = self.0.len().max(1) as f64;
        (m / n, d / n)
    }
}

/// The spend in `[lo, hi]` where the mean marginal return is `lambda`, given the
/// mean marginal returns at the bounds (`edges`: they do not depend on λ, which the
/// split's solver tries some fifty of). The mean marginal falls with spend and is
/// convex, so Newton's step from inside a shrinking bracket converges in a few steps;
/// a step that would leave the bracket halves it instead, so it never does worse than
/// bisection.
/// `start` is where Newton's steps begin when it lies inside the bounds (the spend
/// found for a nearby λ), else they begin midway.
/// Also returns the slope of the mean marginal at the last spend it evaluated (within
/// a billionth of the one returned; 0 at a bound), which the split's solver needs
/// for its own step in λ and would otherwise compute again.
fn spend_between(
    r: &Rates,
    lambda: f64,
    (lo, hi): (f64, f64),
    edges: (f64, f64),
    start: f64,
) -> (f64, f64) {
    if edges.0 <= lambda {
        return (lo, 0.0);
    }
    if edges.1 >= lambda {
        return (hi, 0.0);
    }
    let (mut a, mut b) = (lo, hi);
    let mut x = if start > a && start < b {
        start
    } else {
        0.5 * (a + b)
    };
    // To a billionth of the spend: far below a cent.
    let mut last_slope = 0.0;
    for _ in 0..100 {
        let (m, slope) = r.mean_and_slope(x);
        last_slope = slope;
        let g = m - lambda;
        if g > 0.0 {
            a = x;
        } else {
            b = x;
        }
        let step = if slope < 0.0 { x - g / slope } else { f64::NAN };
        let next = if step > a && step < b {
            step
        } else {
            0.5 * (a + b)
        };
        if (next - x).abs() <= 1e-9 * (1.0 + x.abs()) || b - a <= 1e-9 * (1.0 + b.abs()) {
            return (next, slope);
        }
        x = next;
    }
    (x, last_slope)
}

/// `f(i)` for each of `n` keywords, in order, on `threads` threads, in small parts
/// ([`in_parts`]).
fn each_keyword<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = threads.clamp(1, n.max(1));
    let part = n.div_ceil(threads * 16).max(1);
    in_parts((0..n).step_by(part), threads, |start| {
        (start..(start + part).min(n)).map(&f).collect::<Vec<T>>()
    })
    .into_iter()
    .flatten()
    .collect()
}

/// `f` of each part, in the parts' order, on `threads` threads: each part is taken by
/// whichever thread is free next, so parts of more work on one side, or a core busy
/// elsewhere for a while, do not leave a thread idle at the end; the answers are put
/// back in order, so they do not depend on the threads.
fn in_parts<P: Send, T: Send>(
    parts: impl Iterator<Item = P> + Send,
    threads: usize,
    f: impl Fn(P) -> T + Sync,
) -> Vec<T> {
    if threads <= 1 {
        return parts.map(f).collect();
    }
    let todo = std::sync::Mutex::new(parts.enumerate());
    let (todo, f) = (&todo, &f);
    let mut done: Vec<(usize, T)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let next = todo.lock().unwrap_or_else(|p| p.into_inner()).next();
                        let Some((i, part)) = next else {
                            return mine;
                        };
                        mine.push((i, f(part)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, answer)| answer).collect()
}

/// The `q` quantile of `v` (the nearest rank), which it reorders: a selection, not a
/// sort, as the split takes two of 200 draws for each of thousands of keywords.
fn quantile(v: &mut [f64], q: f64) -> f64 {
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    *v.select_nth_unstable_by(i, f64::total_cmp).1
}

/// Every paid keyword's fitted curves, bootstrap draws included: what a split is
/// solved over. Fitting is most of a split's work and depends only on the days and
/// the fit's parameters (`min_days`, `min_clicks`, `draws`, `seed`), not on the total
/// or target asked for, so a caller asking for several totals (the dashboard's
/// what-if) fits once.
pub struct Fitted {
    fits: Vec<Fit>,
}

impl Fitted {
    /// No paid keyword: the period has no ad cost rows.
    pub fn is_empty(&self) -> bool {
        self.fits.is_empty()
    }
}

/// Fits every paid keyword's curves over `days` (see [`Fitted`]).
pub fn fit_curves(days: &[PaidDay], p: &CurveParams) -> Fitted {
    Fitted { fits: fit(days, p) }
}

/// [`fit_curves`] over days already grouped by keyword, each (engine, keyword) once and
/// in that order (as `paid_keywords` gives them): the same fit of the same days. A
/// keyword without days is left out, as it would be from a list of days.
pub fn fit_keywords(keywords: &[PaidKeyword], p: &CurveParams) -> Fitted {
    Fitted {
        fits: fit_keywords_on(keywords, p, None),
    }
}

/// [`fit_keywords`], given up (None) as soon as `stop` says so: it is asked before each
/// keyword's draws, so a fit someone else needs the cores for ends within one
/// keyword's work (the dashboard's warm-up, when a person's request arrives).
pub fn fit_keywords_unless(
    keywords: &[PaidKeyword],
    p: &CurveParams,
    stop: &(dyn Fn() -> bool + Sync),
) -> Option<Fitted> {
    fit_keywords_stopping(keywords, p, None, Some(stop)).map(|fits| Fitted { fits })
}

/// Keywords per part of the split solver's sums (see `recommend_fitted`).
const SOLVE_PART: usize = 256;

/// The recommended split, largest recommended spend first, with its totals.
/// `period_days` is the number of days the period covers.
pub fn recommend(
    days: &[PaidDay],
    p: &CurveParams,
    period_days: usize,
) -> crate::Result<(Vec<CurveRow>, CurveTotals)> {
    recommend_fitted(&fit_curves(days, p), p, period_days)
}

/// [`recommend`] over curves already fitted with the same fit parameters; only the
/// total, the target and the bounds of `p` are read.
pub fn recommend_fitted(
    fitted: &Fitted,
    p: &CurveParams,
    period_days: usize,
) -> crate::Result<(Vec<CurveRow>, CurveTotals)> {
    recommend_on(fitted, p, period_days, None)
}

/// [`recommend_fitted`] with its sums on `threads` threads (None: one per core when
/// there are many keywords).
fn recommend_on(
    fitted: &Fitted,
    p: &CurveParams,
    period_days: usize,
    threads: Option<usize>,
) -> crate::Result<(Vec<CurveRow>, CurveTotals)> {
    let fits = &fitted.fits;
    if fits.is_empty() {
        return Err(crate::Error::usage(
            "no ad cost rows in the period: import an ad platform's keyword report with \
             `keyrank costs import`, or use --method shrunk for a split by value per visit \
             that assumes every extra unit of money returns the same",
        ));
    }
    if !(0.0..=10.0).contains(&p.max_change) {
        return Err(crate::Error::usage(
            "--max-change must be a number from 0 to 10",
        ));
    }
    if fits
        .iter()
        .all(|f| f.draws.iter().all(|c| c.value_per_click <= 0.0))
    {
        return Err(crate::Error::usage(
            "no conversions or revenue are attributed to any paid keyword in the period: \
             check that the engines and keywords of the ad costs match the cpc visits \
             (utm_term, gclid) of the log",
        ));
    }
    let current_total: f64 = fits.iter().map(|f| f.current).sum();
    let mut lo: Vec<f64> = Vec::new();
    let mut hi: Vec<f64> = Vec::new();
    for f in fits {
        if f.fixed.is_some() {
            lo.push(f.current);
            hi.push(f.current);
        } else {
            lo.push(f.current * (1.0 - p.max_change).max(0.0));
            hi.push(f.current * (1.0 + p.max_change));
        }
    }
    let parts = fits.len().div_ceil(SOLVE_PART);
    let threads = threads
        .unwrap_or(if parts < 4 {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        })
        .clamp(1, parts.max(1));
    let rates: Vec<Rates> = fits.iter().map(Rates::of).collect();
    // Each keyword's mean marginal return at a bound (200 exponentials a keyword).
    let edges_of = |bound: &[f64]| -> Vec<f64> {
        each_keyword(fits.len(), threads, |i| rates[i].mean(bound[i]))
    };
    let at_lo = edges_of(&lo);
    // The total spend at λ and its derivative in λ: a keyword inside its bounds spends
    // where its mean marginal return is λ, so its spend moves by 1 / (the marginal's
    // slope there) per unit of λ; one at a bound does not move.
    // `guess` holds each keyword's spend at the λ tried before, where the next
    // λ's search for it starts: near the solution, a step or two.
    // The sums run over parts of SOLVE_PART keywords, on every core when there are
    // many, and the parts are added in order: a total does not depend on how many
    // threads computed it.
    let part_of = |lambda: f64, hi: &[f64], at_hi: &[f64], first: usize, guess: &mut [f64]| {
        let (mut total, mut slope) = (0.0, 0.0);
        for (g, i) in guess.iter_mut().zip(first..) {
            let edges = (at_lo[i], at_hi[i]);
            let (s, d) = spend_between(&rates[i], lambda, (lo[i], hi[i]), edges, *g);
            *g = s;
            total += s;
            if edges.0 > lambda && edges.1 < lambda && d < 0.0 {
                slope += 1.0 / d;
            }
        }
        (total, slope)
    };
    let total_of = |lambda: f64, hi: &[f64], at_hi: &[f64], guess: &mut [f64]| -> (f64, f64) {
        let parts = guess.chunks_mut(SOLVE_PART).enumerate();
        in_parts(parts, threads, |(c, g)| {
            part_of(lambda, hi, at_hi, c * SOLVE_PART, g)
        })
        .iter()
        .fold((0.0, 0.0), |(total, slope), (t, s)| (total + t, slope + s))
    };
    let mut note = String::new();
    let target = match (p.target_roas, p.total_cents) {
        (Some(r), _) => {
            if !(r > 0.0 && r.is_finite()) {
                return Err(crate::Error::usage(
                    "--target-roas must be a number above 0",
                ));
            }
            None
        }
        (None, Some(c)) => Some(c as f64 / 100.0),
        (None, None) => Some(current_total),
    };
    // λ for a total (or the target ROAS itself), and each keyword's spend at the last
    // λ the solver tried (NaN where it tried none), where the final spends' search
    // starts. The search for λ starts at `start`, each keyword's at its `guess`.
    let solve = |hi: &[f64], start: f64, mut guess: Vec<f64>| -> (f64, Vec<f64>) {
        let at_hi = edges_of(hi);
        let lambda = match (target, p.target_roas) {
            (_, Some(r)) => r,
            (Some(t), None) => {
                // A total the bounds cannot reach is solved at the nearest reachable
                // one, so λ is the marginal return at that bound (not a solver limit).
                let (lo_sum, hi_sum): (f64, f64) = (lo.iter().sum(), hi.iter().sum());
                let t = t.clamp(lo_sum, hi_sum);
                // Total spend falls as λ rises: Newton's step on λ from inside a
                // bracket that every evaluation shrinks, halving the bracket (of λ's
                // logarithm) instead when the step would leave it or the total does
                // not move (every keyword at a bound), so it never does worse than
                // bisection. Until λ is known to 1e-10 of itself: each spend is
                // found to a billionth, so a closer λ would only chase their rounding.
                let (mut a, mut b) = (1e-9f64, 1e9f64);
                let mut x = start.clamp(a, b);
                'solved: {
                    for _ in 0..200 {
                        let (total, slope) = total_of(x, hi, &at_hi, &mut guess);
                        if total > t {
                            a = x;
                        } else {
                            b = x;
                        }
                        // A step is at most a factor of four: where most keywords sit
                        // at a bound the slope is nearly flat and a full step would
                        // throw λ far away.
                        let step = if slope < 0.0 {
                            (x - (total - t) / slope).clamp(x / 4.0, x * 4.0)
                        } else {
                            f64::NAN
                        };
                        let next = if step > a && step < b {
                            step
                        } else {
                            (a * b).sqrt()
                        };
                        if (next - x).abs() <= 1e-10 * x || b / a <= 1.0 + 1e-10 {
                            break 'solved next;
                        }
                        x = next;
                    }
                    x
                }
            }
            (None, None) => unreachable!("a target or a total"),
        };
        (lambda, guess)
    };
    let (mut lambda, mut guess) = solve(&hi, 1.0, vec![f64::NAN; fits.len()]);
    // Never raise spend where even the optimistic marginal return is below λ.
    let optimistic: Vec<Option<f64>> = each_keyword(fits.len(), threads, |i| {
        let f = &fits[i];
        f.fixed.is_none().then(|| {
            let mut m: Vec<f64> = rates[i].each(f.current).collect();
            quantile(&mut m, 0.9)
        })
    });
    let mut capped = vec![false; fits.len()];
    for (i, f) in fits.iter().enumerate() {
        if optimistic[i].is_some_and(|o| o < lambda) && hi[i] > f.current {
            hi[i] = f.current;
            capped[i] = true;
        }
    }
    // Capping lowers the total at every λ a little: the solver starts from where it
    // ended.
    if capped.iter().any(|&c| c) {
        (lambda, guess) = solve(&hi, lambda, guess);
    }
    let at_hi = edges_of(&hi);
    let mut spends: Vec<f64> = each_keyword(fits.len(), threads, |i| {
        let edges = (at_lo[i], at_hi[i]);
        spend_between(&rates[i], lambda, (lo[i], hi[i]), edges, guess[i]).0
    });
    let (lo_sum, hi_sum): (f64, f64) = (lo.iter().sum(), hi.iter().sum());
    if let Some(t) = target
        && (t < lo_sum - 0.005 || t > hi_sum + 0.005)
    {
        note.push_str(&format!(
            "the total {t:.2} lies outside what ±{:.0} % of today's spend allows ({lo_sum:.2} to {hi_sum:.2}), so the nearest is recommended",
            p.max_change * 100.0
        ));
    }
    // Amounts in cents that sum to the total exactly: the bounds in cents, and the
    // total within what they allow.
    let lo_c: Vec<i64> = lo.iter().map(|l| (l * 100.0).round() as i64).collect();
    let hi_c: Vec<i64> = hi.iter().map(|h| (h * 100.0).round() as i64).collect();
    let (lo_cents, hi_cents) = (lo_c.iter().sum::<i64>(), hi_c.iter().sum::<i64>());
    let total_cents = match target {
        Some(t) => ((t * 100.0).round() as i64).clamp(lo_cents, hi_cents.max(lo_cents)),
        None => (spends.iter().sum::<f64>() * 100.0).round() as i64,
    };
    // Where the marginal returns could not reach the total (flat or zero curves), the
    // gap goes to the keywords that may move, in proportion to their room.
    let gap = total_cents as f64 / 100.0 - spends.iter().sum::<f64>();
    let room: Vec<f64> = (0..fits.len())
        .map(|i| {
            if gap > 0.0 {
                hi[i] - spends[i]
            } else {
                spends[i] - lo[i]
            }
            .max(0.0)
        })
        .collect();
    let room_sum: f64 = room.iter().sum();
    if gap.abs() > 0.005 && room_sum > 0.0 {
        for (s, r) in spends.iter_mut().zip(&room) {
            *s += gap * (r / room_sum).min(1.0);
        }
    }
    // Cents that sum to the total exactly, none outside its bounds for the rounding
    // (largest remainder): each spend rounded down into its bounds in cents, then a
    // cent more to the keywords with the largest fractions of a cent left whose upper
    // bound has room (a cent less, smallest fractions first, when they overshoot).
    // Only cents no bound has room for (a total outside what the bounds allow) go to
    // the largest keyword that may move (or the largest).
    let cents: Vec<f64> = spends.iter().map(|s| s * 100.0).collect();
    let mut amounts: Vec<i64> = (0..fits.len())
        .map(|i| (cents[i].floor() as i64).clamp(lo_c[i], hi_c[i].max(lo_c[i])))
        .collect();
    let mut left = total_cents - amounts.iter().sum::<i64>();
    let mut by_fraction: Vec<usize> = (0..fits.len()).collect();
    let frac: Vec<f64> = (0..fits.len())
        .map(|i| cents[i] - amounts[i] as f64)
        .collect();
    by_fraction.sort_by(|&a, &b| {
        let smallest_first = frac[a].total_cmp(&frac[b]);
        if left > 0 {
            smallest_first.reverse()
        } else {
            smallest_first
        }
        .then(a.cmp(&b))
    });
    while left != 0 {
        let mut moved = false;
        for &i in &by_fraction {
            if left > 0 && amounts[i] < hi_c[i] {
                amounts[i] += 1;
                left -= 1;
                moved = true;
            } else if left < 0 && amounts[i] > lo_c[i] {
                amounts[i] -= 1;
                left += 1;
                moved = true;
            }
            if left == 0 {
                break;
            }
        }
        if !moved {
            break;
        }
    }
    if left != 0 && !amounts.is_empty() {
        let pick = (0..fits.len())
            .filter(|&i| fits[i].fixed.is_none())
            .max_by_key(|&i| amounts[i])
            .or_else(|| (0..fits.len()).max_by_key(|&i| amounts[i]))
            .unwrap_or(0);
        amounts[pick] = (amounts[pick] + left).max(0);
    }
    for (s, a) in spends.iter_mut().zip(&amounts) {
        *s = *a as f64 / 100.0;
    }
    let draws = fits.iter().map(|f| f.draws.len()).min().unwrap_or(1);
    let mut total_new = vec![0.0; draws];
    let mut total_now = vec![0.0; draws];
    let mut rows = Vec::with_capacity(fits.len());
    // Each keyword's revenue under every draw, at the new spend and today's, with the
    // new one's mean and 80 % interval, on every core; they are added to the totals
    // below in the keywords' order.
    type Revenues = (Vec<f64>, Vec<f64>, f64, [f64; 3]);
    let revenues: Vec<Revenues> = each_keyword(fits.len(), threads, |i| {
        let f = &fits[i];
        let rev: Vec<f64> = f
            .draws
            .iter()
            .map(|c| c.revenue(spends[i], f.active))
            .collect();
        let now: Vec<f64> = f
            .draws
            .iter()
            .map(|c| c.revenue(f.current, f.active))
            .collect();
        let expected = rev.iter().sum::<f64>() / rev.len() as f64;
        let mut sorted = rev.clone();
        let (low, high) = (quantile(&mut sorted, 0.1), quantile(&mut sorted, 0.9));
        (rev, now, rates[i].mean(spends[i]), [expected, low, high])
    });
    for ((i, f), (rev, now, marginal, [expected, low, high])) in
        fits.iter().enumerate().zip(revenues)
    {
        let s = spends[i];
        for j in 0..draws {
            total_new[j] += rev[j];
            total_now[j] += now[j];
        }
        let change = s - f.current;
        let at_hi = (s - hi[i]).abs() < 0.01 && hi[i] > f.current;
        let at_lo = (s - lo[i]).abs() < 0.01 && lo[i] < f.current;
        let reason = match &f.fixed {
            Some(why) => why.clone(),
            None if at_lo => format!(
                "cut to the −{:.0} % bound: an extra unit returns only {marginal:.2}",
                p.max_change * 100.0
            ),
            None if capped[i] => format!(
                "even the optimistic marginal return at today's spend ({:.2}) is below the split's {lambda:.2}: not raised",
                optimistic[i].unwrap_or(0.0)
            ),
            None if at_hi => format!(
                "raised to the +{:.0} % bound: each extra unit still returns {marginal:.2}",
                p.max_change * 100.0
            ),
            None => format!(
                "moved until an extra unit returns {marginal:.2}, as on every keyword not at a bound ({} days of spend, {:.0} clicks)",
                f.spend_days, f.clicks
            ),
        };
        rows.push(CurveRow {
            keyword: f.keyword.clone(),
            engine: f.engine.clone(),
            current_spend: round2(f.current),
            recommended_spend: s,
            change: round2(change),
            expected_revenue: round2(expected),
            expected_revenue_low: round2(low),
            expected_revenue_high: round2(high),
            marginal_roas: round4(marginal),
            reason,
            amount_cents: amounts[i],
            bounds: (round2(lo[i]), round2(hi[i])),
            curve: Vec::new(),
        });
    }
    // Largest recommended spend first; the curves of the first few, which the
    // charts draw (each point is every draw's revenue and its quantiles).
    let mut ranked: Vec<(usize, CurveRow)> = rows.into_iter().enumerate().collect();
    ranked.sort_by(|(_, x), (_, y)| {
        y.recommended_spend
            .total_cmp(&x.recommended_spend)
            .then(x.keyword.cmp(&y.keyword))
            .then(x.engine.cmp(&y.engine))
    });
    for (i, r) in ranked.iter_mut().take(CURVES_DRAWN) {
        r.curve = curve_points(&fits[*i], hi[*i]);
    }
    let rows: Vec<CurveRow> = ranked.into_iter().map(|(_, r)| r).collect();
    let mut uplift: Vec<f64> = total_new
        .iter()
        .zip(&total_now)
        .map(|(a, b)| a - b)
        .collect();
    let better = uplift.iter().filter(|u| **u > 0.0).count() as f64 / uplift.len() as f64;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let totals = CurveTotals {
        days: period_days,
        current_spend: round2(current_total),
        recommended_spend: total_cents as f64 / 100.0,
        current_revenue: round2(mean(&total_now)),
        expected_revenue: round2(mean(&total_new)),
        expected_revenue_low: round2(quantile(&mut total_new.clone(), 0.1)),
        expected_revenue_high: round2(quantile(&mut total_new, 0.9)),
        uplift: round2(mean(&uplift)),
        uplift_low: round2(quantile(&mut uplift.clone(), 0.1)),
        uplift_high: round2(quantile(&mut uplift, 0.9)),
        probability_better: round4(better),
        marginal_roas: round4(lambda),
        note,
    };
    Ok((rows, totals))
}

/// One keyword's week of a backtest: the revenue the model fitted on the weeks before
/// predicted at the spend actually made, against the revenue attributed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestRow {
    pub week_from: String,
    pub keyword: String,
    pub engine: String,
    pub spend: f64,
    pub predicted_revenue: f64,
    pub predicted_low: f64,
    pub predicted_high: f64,
    pub actual_revenue: f64,
    /// predicted − actual.
    pub error: f64,
}

/// `--backtest WEEKS`: for each of the last `weeks` weeks of `days`, fits on every day
/// before it and predicts the week's revenue per keyword at its actual daily spend.
/// Keywords the earlier weeks do not know are left out of that week. The last row of
/// each week is its `(total)`.
pub fn backtest(
    days: &[PaidDay],
    p: &CurveParams,
    weeks: usize,
) -> crate::Result<Vec<BacktestRow>> {
    let Some(last) = days.iter().map(|d| d.day).max() else {
        return Err(crate::Error::usage(
            "no ad cost rows to backtest on: import an ad platform's keyword report with `keyrank costs import`",
        ));
    };
    let first = days.iter().map(|d| d.day).min().unwrap_or(last);
    if weeks == 0 || last - first + 1 < 7 * (weeks as i32 + 1) {
        return Err(crate::Error::usage(format!(
            "--backtest {weeks}: the cost data covers {} days; it needs at least one week to fit on before the {weeks} week(s) it predicts",
            last - first + 1
        )));
    }
    let mut out = Vec::new();
    for w in (0..weeks as i32).rev() {
        let start = last - 7 * (w + 1) + 1;
        let end = start + 6;
        let train: Vec<PaidDay> = days.iter().filter(|d| d.day < start).cloned().collect();
        let fits = fit(&train, p);
        let mut total = (0.0, vec![0.0; p.draws.max(1)], 0.0);
        let week_from = crate::parse::time::format_day(start);
        for f in &fits {
            let test: Vec<&PaidDay> = days
                .iter()
                .filter(|d| {
                    d.day >= start && d.day <= end && d.engine == f.engine && d.keyword == f.keyword
                })
                .collect();
            if test.is_empty() {
                continue;
            }
            let spend: f64 = test.iter().map(|d| d.cost).sum();
            let actual: f64 = test.iter().map(|d| d.revenue).sum();
            let mut predicted: Vec<f64> = f
                .draws
                .iter()
                .map(|c| test.iter().map(|d| c.revenue(d.cost, 1.0)).sum())
                .collect();
            for (t, v) in total.1.iter_mut().zip(&predicted) {
                *t += v;
            }
            total.0 += spend;
            total.2 += actual;
            let mean = predicted.iter().sum::<f64>() / predicted.len() as f64;
            out.push(BacktestRow {
                week_from: week_from.clone(),
                keyword: f.keyword.clone(),
                engine: f.engine.clone(),
                spend: round2(spend),
                predicted_revenue: round2(mean),
                predicted_low: round2(quantile(&mut predicted, 0.1)),
                predicted_high: round2(quantile(&mut predicted, 0.9)),
                actual_revenue: round2(actual),
                error: round2(mean - actual),
            });
        }
        let n = total.1.len() as f64;
        let mean = total.1.iter().sum::<f64>() / n;
        out.push(BacktestRow {
            week_from,
            keyword: "(total)".into(),
            engine: String::new(),
            spend: round2(total.0),
            predicted_revenue: round2(mean),
            predicted_low: round2(quantile(&mut total.1.clone(), 0.1)),
            predicted_high: round2(quantile(&mut total.1, 0.9)),
            actual_revenue: round2(total.2),
            error: round2(mean - total.2),
        });
    }
    Ok(out)
}

/// The backtest as a table.
pub fn backtest_batch(
    rows: &[BacktestRow],
) -> crate::Result<datafusion::arrow::array::RecordBatch> {
    use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;
    let text = |f: &dyn Fn(&BacktestRow) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let num = |f: &dyn Fn(&BacktestRow) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(rows.iter().map(f)))
    };
    let cols = vec![
        ("week_from", text(&|r| &r.week_from)),
        ("keyword", text(&|r| &r.keyword)),
        ("engine", text(&|r| &r.engine)),
        ("spend", num(&|r| r.spend)),
        ("predicted_revenue", num(&|r| r.predicted_revenue)),
        ("predicted_low", num(&|r| r.predicted_low)),
        ("predicted_high", num(&|r| r.predicted_high)),
        ("actual_revenue", num(&|r| r.actual_revenue)),
        ("error", num(&|r| r.error)),
    ];
    let fields: Vec<Field> = cols
        .iter()
        .map(|(n, c)| Field::new(*n, c.data_type().clone(), false))
        .collect();
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        cols.into_iter().map(|(_, c)| c).collect(),
    )?)
}

/// The paid keywords' days of one period from the store (the canned `paid_keywords`
/// query), and how many days the period covers. Without `from`, the period is the last
/// 28 days of cost data; without `to`, it ends on the last day of cost data.
pub fn load(
    store: &crate::store::Store,
    from: Option<&str>,
    to: Option<&str>,
    model: &str,
    cluster: Option<&str>,
) -> crate::Result<(Vec<PaidDay>, usize, String, String)> {
    let rt = crate::model::runtime::runtime()?;
    rt.block_on(async {
        let ctx = crate::cluster::session_at(store, cluster).await?;
        super::paid::load_on(&ctx, from, to, model).await
    })
}

/// The whole command: the period's paid days from the store, the split (largest
/// recommended spend first) with its totals, and the table of both.
pub fn split_from_store(
    store: &crate::store::Store,
    from: Option<&str>,
    to: Option<&str>,
    model: &str,
    cluster: Option<&str>,
    p: &CurveParams,
) -> crate::Result<(
    Vec<CurveRow>,
    CurveTotals,
    datafusion::arrow::array::RecordBatch,
)> {
    let (days, period, from, to) = load(store, from, to, model, cluster)?;
    let (rows, totals) = recommend(&days, p, period)?;
    let batch = to_batch(&rows, &totals, &from, &to)?;
    Ok((rows, totals, batch))
}

/// The split as a table: one row per paid keyword, then a `(total)` row whose reason
/// states the uplift, its 80 % interval and the chance of beating today's split.
pub fn to_batch(
    rows: &[CurveRow],
    t: &CurveTotals,
    from: &str,
    to: &str,
) -> crate::Result<datafusion::arrow::array::RecordBatch> {
    use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;
    let total_reason = format!(
        "{from} to {to} ({} days; spend is per this period): expected uplift {:.2} (80 % interval {:.2} to {:.2}), probability the new split beats the current one {:.0} %; every moved keyword brought to a marginal ROAS of {:.2}{}",
        t.days,
        t.uplift,
        t.uplift_low,
        t.uplift_high,
        t.probability_better * 100.0,
        t.marginal_roas,
        if t.note.is_empty() {
            String::new()
        } else {
            format!("; {}", t.note)
        }
    );
    let text = |f: &dyn Fn(&CurveRow) -> String, total: &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(f).chain(std::iter::once(total.to_string())),
        ))
    };
    let num = |f: &dyn Fn(&CurveRow) -> f64, total: f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(f).chain(std::iter::once(total)),
        ))
    };
    let cols: Vec<ArrayRef> = vec![
        text(&|r| r.keyword.clone(), "(total)"),
        text(&|r| r.engine.clone(), ""),
        num(&|r| r.current_spend, t.current_spend),
        num(&|r| r.recommended_spend, t.recommended_spend),
        num(&|r| r.change, round2(t.recommended_spend - t.current_spend)),
        num(&|r| r.expected_revenue, t.expected_revenue),
        num(&|r| r.expected_revenue_low, t.expected_revenue_low),
        num(&|r| r.expected_revenue_high, t.expected_revenue_high),
        num(&|r| r.marginal_roas, t.marginal_roas),
        text(&|r| r.reason.clone(), &total_reason),
    ];
    let names = [
        "keyword",
        "engine",
        "current_spend",
        "recommended_spend",
        "change",
        "expected_revenue",
        "expected_revenue_low",
        "expected_revenue_high",
        "marginal_roas",
        "reason",
    ];
    let fields: Vec<Field> = names
        .iter()
        .zip(&cols)
        .map(|(n, c)| Field::new(*n, c.data_type().clone(), false))
        .collect();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    /// Days of keywords with known curves, spend varying ±25 % around a base.
    fn world(seed: u64, curves: &[(f64, f64, f64, f64)]) -> Vec<PaidDay> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::new();
        for (k, &(max_clicks, theta, vpc, base)) in curves.iter().enumerate() {
            for day in 0..28 {
                let s = base * rng.random_range(0.75..1.25);
                let clicks = max_clicks * (1.0 - (-s / theta).exp());
                let clicks = (clicks * rng.random_range(0.95..1.05)).round();
                out.push(PaidDay {
                    day,
                    engine: "google".into(),
                    keyword: format!("kw{k}"),
                    cost: (s * 100.0).round() / 100.0,
                    clicks,
                    conversions: clicks * 0.05,
                    revenue: clicks * vpc,
                });
            }
        }
        out
    }

    /// The paid keywords of `days` (sorted by keyword), each with its run of `figures`
    /// (the days' figures, in the same order).
    fn grouped<'a>(days: &'a [PaidDay], figures: &'a [DayFigures]) -> Vec<PaidKeyword<'a>> {
        let mut start = 0;
        days.chunk_by(|a, b| a.keyword == b.keyword)
            .map(|run| {
                let days = Days::Figures(&figures[start..start + run.len()]);
                start += run.len();
                PaidKeyword {
                    engine: &run[0].engine,
                    keyword: &run[0].keyword,
                    days,
                }
            })
            .collect()
    }

    /// `n` keywords whose curves differ a little, all at a spend of 40 a day.
    fn alike(n: usize) -> Vec<(f64, f64, f64, f64)> {
        (0..n)
            .map(|i| (200.0 + i as f64, 50.0 + 3.0 * i as f64, 1.5, 40.0))
            .collect()
    }

    #[test]
    fn grouped_days_fit_as_the_days_do_and_a_keyword_without_days_is_left_out() {
        let days = world(3, &alike(6));
        let p = CurveParams {
            draws: 30,
            ..CurveParams::default()
        };
        let figures: Vec<DayFigures> = days.iter().map(PaidDay::figures).collect();
        let mut keywords = grouped(&days, &figures);
        // A keyword without days after the third.
        keywords.insert(
            3,
            PaidKeyword {
                engine: keywords[2].engine,
                keyword: "zz no days",
                days: Days::Figures(&[]),
            },
        );
        let grouped = fit_keywords_on(&keywords, &p, Some(1));
        let listed = fit_on(&days, &p, Some(1));
        assert_eq!(grouped.len(), listed.len());
        for (a, b) in grouped.iter().zip(&listed) {
            assert_eq!((&a.keyword, &a.draws), (&b.keyword, &b.draws));
        }
    }

    #[test]
    fn a_fit_told_to_stop_gives_up_and_one_never_told_fits_alike() {
        let days = world(4, &alike(12));
        let p = CurveParams {
            draws: 20,
            ..CurveParams::default()
        };
        let figures: Vec<DayFigures> = days.iter().map(PaidDay::figures).collect();
        let keywords = grouped(&days, &figures);
        let whole = fit_keywords(&keywords, &p);
        let never = fit_keywords_unless(&keywords, &p, &|| false).unwrap();
        assert_eq!(never.fits.len(), whole.fits.len());
        for (a, b) in never.fits.iter().zip(&whole.fits) {
            assert_eq!((&a.keyword, &a.draws), (&b.keyword, &b.draws));
        }
        assert!(fit_keywords_unless(&keywords, &p, &|| true).is_none());
        // Told to stop midway (after a few keywords' draws): nothing half-fitted.
        let asked = std::sync::atomic::AtomicUsize::new(0);
        let midway = || asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= 5;
        assert!(fit_keywords_unless(&keywords, &p, &midway).is_none());
    }

    #[test]
    fn the_draws_do_not_depend_on_how_many_threads_fit_them() {
        let days = world(5, &alike(23));
        let p = CurveParams {
            draws: 40,
            ..CurveParams::default()
        };
        let draws = |threads| -> Vec<(String, Vec<Curve>)> {
            fit_on(&days, &p, Some(threads))
                .into_iter()
                .map(|f| (f.keyword, f.draws))
                .collect()
        };
        let one = draws(1);
        assert_eq!(one.len(), 23);
        // Resampled draws differ from the fit on all days, and keywords differ.
        assert_ne!(one[0].1[1], one[0].1[0]);
        assert_ne!(one[0].1[1..], one[1].1[1..]);
        for threads in [2, 3, 7, 64] {
            assert_eq!(draws(threads), one, "{threads} threads");
        }
    }

    #[test]
    fn the_split_does_not_depend_on_how_many_threads_solve_it() {
        let curves: Vec<(f64, f64, f64, f64)> = (0..1100)
            .map(|i| {
                let i = i as f64;
                (
                    100.0 + i % 37.0,
                    20.0 + i % 53.0,
                    0.5 + i % 7.0 / 2.0,
                    10.0 + i % 11.0,
                )
            })
            .collect();
        let days = world(9, &curves);
        let p = CurveParams {
            draws: 20,
            ..CurveParams::default()
        };
        let fitted = fit_curves(&days, &p);
        let one = recommend_on(&fitted, &p, 28, Some(1)).unwrap();
        assert_eq!(one.0.len(), 1100);
        assert!(
            one.0.iter().any(|r| r.change.abs() > 0.5),
            "the split moves money"
        );
        for threads in [2, 3, 5, 64] {
            assert_eq!(
                recommend_on(&fitted, &p, 28, Some(threads)).unwrap(),
                one,
                "{threads}"
            );
        }
        assert_eq!(recommend_fitted(&fitted, &p, 28).unwrap(), one);
    }

    #[test]
    fn quantiles_are_the_nearest_rank_of_the_sorted_values() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for n in [1, 2, 3, 10, 200, 201] {
            let v: Vec<f64> = (0..n).map(|_| rng.random_range(-5.0..5.0)).collect();
            let mut sorted = v.clone();
            sorted.sort_by(f64::total_cmp);
            for q in [0.0, 0.1, 0.5, 0.9, 1.0] {
                let want = sorted[((n - 1) as f64 * q).round() as usize];
                assert_eq!(quantile(&mut v.clone(), q), want, "n {n}, q {q}");
            }
        }
    }

    /// A bootstrap draw picks as many days as there are, each with the same chance:
    /// with days that each add 1 to a field of their own, a draw's fields are how often
    /// each day was picked (binomial: mean 1, variance 1 − 1/n), and they add up to n.
    #[test]
    fn a_draw_picks_every_day_alike() {
        for n in [3usize, 4, 7] {
            let terms: Vec<Term> = (0..n)
                .map(|j| {
                    let mut t = Term::default();
                    t.0[j] = 1.0;
                    t
                })
                .collect();
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(n as u64);
            let draws = 40_000;
            let (mut sum, mut squares) = (vec![0.0; n], vec![0.0; n]);
            for _ in 0..draws {
                let d = Term::resample(&terms, n, &mut rng);
                assert_eq!(d.0.iter().sum::<f64>(), n as f64);
                for j in 0..n {
                    sum[j] += d.0[j];
                    squares[j] += d.0[j] * d.0[j];
                }
            }
            let var = 1.0 - 1.0 / n as f64;
            for j in 0..n {
                let mean = sum[j] / draws as f64;
                let v = squares[j] / draws as f64 - mean * mean;
                assert!((mean - 1.0).abs() < 0.02, "n {n}, day {j}: mean {mean}");
                assert!(
                    (v - var).abs() < 0.04,
                    "n {n}, day {j}: variance {v}, not {var}"
                );
            }
        }
        // The fit on all days adds each once.
        let terms = [Term([1.0; 8]), Term([2.0; 8]), Term([4.0; 8])];
        assert_eq!(Term::sum(terms.iter()).0, [7.0; 8]);
    }

    /// From 13 weeks on, a draw is made of weeks (circular blocks) and one run of the
    /// days left over: it holds as many days as the period, each day once on average,
    /// and a day's next day comes with it far more often than picking days one by one
    /// would have it (1 − 1/e). Days given in any order are put in date order first.
    #[test]
    fn a_long_periods_draw_picks_weeks_and_every_day_alike() {
        for n in [BLOCKS_FROM, BLOCKS_FROM + 4, BLOCKS_FROM + 7] {
            for j in [0, n / 2, n - 1] {
                // Field 0 marks day j, field 2 the day after it (the first after the
                // last), field 1 counts days.
                let terms: Vec<Term> = (0..n)
                    .map(|i| {
                        let mut t = Term::default();
                        t.0[0] = f64::from(u8::from(i == j));
                        t.0[1] = 1.0;
                        t.0[2] = f64::from(u8::from(i == (j + 1) % n));
                        t
                    })
                    .collect();
                let draws = Draws::of(terms.clone(), 0..n as i32);
                assert_eq!(draws.picks(), n / BLOCK_DAYS);
                let backwards: Vec<Term> = terms.iter().rev().copied().collect();
                let same = Draws::of(backwards, (0..n as i32).rev());
                assert!(draws.weeks.iter().zip(&same.weeks).all(|(a, b)| a.0 == b.0));
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(n as u64 + j as u64);
                let (k, mut picked, mut with, mut together) = (20_000, 0.0, 0, 0);
                for _ in 0..k {
                    let d = draws.draw(&mut rng);
                    assert_eq!(d.0[1], n as f64);
                    picked += d.0[0];
                    if d.0[0] > 0.0 {
                        with += 1;
                        together += usize::from(d.0[2] > 0.0);
                    }
                }
                let mean = picked / k as f64;
                assert!((mean - 1.0).abs() < 0.03, "n {n}, day {j}: mean {mean}");
                let share = together as f64 / with as f64;
                assert!(share > 0.8, "n {n}, day {j}: next day along {share}");
            }
        }
        // Shorter periods pick their days one by one, as they are.
        let short: Vec<Term> = (0..BLOCKS_FROM - 1).map(|i| Term([i as f64; 8])).collect();
        let draws = Draws::of(short.clone(), 0..short.len() as i32);
        assert_eq!((draws.picks(), draws.weeks.len()), (short.len(), 0));
        assert!(draws.days.iter().zip(&short).all(|(a, b)| a.0 == b.0));
    }

    #[test]
    fn the_slope_and_its_error_are_least_squares() {
        // y = 0.5 x + noise of known residuals.
        let noise = [0.1, -0.1, 0.05, -0.05, 0.0];
        let points: Vec<(f64, f64)> = (0..5)
            .map(|i| (i as f64, 0.5 * i as f64 + noise[i]))
            .collect();
        let (b, se) = slope(&points).unwrap();
        // Centred x: −2..2, Σdx² = 10; Σdx·noise = −0.2+0.1+0+(−0.05)+0 = −0.15.
        assert!((b - (0.5 - 0.015)).abs() < 1e-12, "{b}");
        let resid: f64 = points
            .iter()
            .map(|(x, y)| (y - 1.0 - b * (x - 2.0)).powi(2))
            .sum();
        assert!((se - (resid / 3.0 / 10.0).sqrt()).abs() < 1e-12, "{se}");
        // No spread in spend, or too few days: no slope.
        assert_eq!(slope(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]), None);
        assert_eq!(slope(&[(1.0, 1.0), (2.0, 2.0)]), None);
        // A perfect line: the error's floor.
        assert_eq!(
            slope(&[(0.0, 0.0), (1.0, 2.0), (2.0, 4.0)]),
            Some((2.0, 1e-3))
        );
        // Far from the origin with little spread (a big spender's log points): the
        // one-pass sums agree with the two-pass definition.
        let far: Vec<(f64, f64)> = (0..28)
            .map(|i| {
                let x = 11.0 + 0.01 * ((i * 7 % 13) as f64);
                (x, 0.6 * x + 0.003 * ((i * 5 % 11) as f64))
            })
            .collect();
        let n = far.len() as f64;
        let (mx, my) = far
            .iter()
            .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
        let sxx: f64 = far.iter().map(|(x, _)| (x - mx).powi(2)).sum();
        let b2 = far.iter().map(|(x, y)| (x - mx) * (y - my)).sum::<f64>() / sxx;
        let r2: f64 = far
            .iter()
            .map(|(x, y)| (y - my - b2 * (x - mx)).powi(2))
            .sum();
        let (b, se) = slope(&far).unwrap();
        assert!((b - b2).abs() < 1e-9, "{b} vs {b2}");
        assert!((se - (r2 / (n - 2.0) / sxx).sqrt()).abs() < 1e-9, "{se}");
    }

    /// Days sorted by engine and keyword (as the store's query returns them) are
    /// grouped by their runs, any other order by a map: the fits are the same.
    #[test]
    fn days_in_any_order_of_keywords_fit_alike() {
        // kw0, kw1, …, kw11: kw10 and kw11 sort before kw2.
        let shuffled = world(5, &alike(12));
        let mut sorted = shuffled.clone();
        sorted.sort_by(|a, b| (&a.engine, &a.keyword).cmp(&(&b.engine, &b.keyword)));
        assert_ne!(shuffled, sorted);
        let p = CurveParams::default();
        let (a, b) = (fit_on(&shuffled, &p, Some(1)), fit_on(&sorted, &p, Some(1)));
        assert_eq!(a.len(), 12);
        for (a, b) in a.iter().zip(&b) {
            assert_eq!(
                (&a.keyword, &a.draws, a.current),
                (&b.keyword, &b.draws, b.current)
            );
        }
    }

    #[test]
    fn a_keyword_draws_the_same_whichever_others_are_paid_for() {
        let days = world(8, &alike(6));
        // A keyword with no spend and no clicks changes no pooled figure (no slope, no
        // trials for the prior, no orders), and sorts before all the others.
        let mut more = days.clone();
        more.extend((0..28).map(|day| PaidDay {
            day,
            engine: "google".into(),
            keyword: "aaa".into(),
            cost: 0.0,
            clicks: 0.0,
            conversions: 0.0,
            revenue: 0.0,
        }));
        let p = CurveParams {
            draws: 30,
            ..CurveParams::default()
        };
        let alone = fit_on(&days, &p, Some(1));
        let beside = fit_on(&more, &p, Some(1));
        assert_eq!(beside.len(), alone.len() + 1);
        assert_eq!(beside[0].keyword, "aaa");
        for (a, b) in alone.iter().zip(&beside[1..]) {
            assert_eq!((&a.keyword, &a.draws), (&b.keyword, &b.draws));
        }
    }

    #[test]
    fn the_elasticity_is_inverted_to_machine_precision() {
        let e = |x: f64| x / x.exp_m1();
        for i in 0..=1000 {
            let b = 0.02 + 0.96 * i as f64 / 1000.0;
            let x = x_for_elasticity(b);
            assert!((e(x) - b).abs() <= 1e-13 * b, "b {b}: x {x}, e(x) {}", e(x));
        }
        // Between and on the table's points, from a rough start too.
        for i in 0..=997 {
            let b = 0.02 + 0.96 * i as f64 / 997.0;
            let x = x_for_elasticity(b);
            assert!((e(x) - b).abs() <= 1e-13 * b, "b {b}: x {x}, e(x) {}", e(x));
            assert!(
                (x / newton_x(b, -2.0 * b.ln()) - 1.0).abs() < 1e-13,
                "b {b}"
            );
        }
        // Out of range: the nearest of 0.02 and 0.98.
        assert_eq!(x_for_elasticity(1.5), x_for_elasticity(0.98));
        assert_eq!(x_for_elasticity(-3.0), x_for_elasticity(0.02));
    }

    #[test]
    fn recovers_a_known_curve() {
        let days = world(1, &[(400.0, 50.0, 2.0, 40.0), (300.0, 30.0, 1.5, 60.0)]);
        let fits = fit(&days, &CurveParams::default());
        for (f, (c, t)) in fits.iter().zip([(400.0, 50.0), (300.0, 30.0)]) {
            let got = f.draws[0];
            assert!((got.theta / t - 1.0).abs() < 0.35, "{:?} vs θ {t}", got);
            assert!(
                (got.max_clicks / c - 1.0).abs() < 0.35,
                "{:?} vs C {c}",
                got
            );
        }
    }

    #[test]
    fn invariants_of_the_split() {
        let days = world(
            3,
            &[
                (400.0, 50.0, 2.0, 40.0),
                (300.0, 30.0, 1.5, 60.0),
                (200.0, 80.0, 3.0, 20.0),
                (100.0, 10.0, 1.0, 30.0),
            ],
        );
        let p = CurveParams {
            total_cents: Some(400_000),
            ..CurveParams::default()
        };
        let (rows, totals) = recommend(&days, &p, 28).unwrap();
        let cents: i64 = rows.iter().map(|r| r.amount_cents).sum();
        assert_eq!(cents, 400_000);
        for r in &rows {
            assert!(r.recommended_spend >= r.current_spend * 0.7 - 0.01, "{r:?}");
            assert!(r.recommended_spend <= r.current_spend * 1.3 + 0.01, "{r:?}");
            assert!(r.expected_revenue_low <= r.expected_revenue + 1e-9);
            assert!(r.expected_revenue <= r.expected_revenue_high + 1e-9);
        }
        assert!(totals.uplift > 0.0, "{totals:?}");
        // The same seed gives the same split.
        assert_eq!(recommend(&days, &p, 28).unwrap().0, rows);
        // Keywords not at a bound share one marginal return.
        let free: Vec<f64> = rows
            .iter()
            .filter(|r| r.reason.starts_with("moved"))
            .map(|r| r.marginal_roas)
            .collect();
        for w in free.windows(2) {
            assert!((w[0] - w[1]).abs() < 0.02 * w[0].max(1e-9), "{free:?}");
        }
    }

    #[test]
    fn one_fit_answers_every_total_as_a_fresh_split_would() {
        let days = world(
            4,
            &[
                (400.0, 50.0, 2.0, 40.0),
                (300.0, 30.0, 1.5, 60.0),
                (200.0, 80.0, 3.0, 20.0),
            ],
        );
        let fitted = fit_curves(&days, &CurveParams::default());
        let mut seen = Vec::new();
        for total in [None, Some(250_000), Some(300_000), Some(350_000), None] {
            let p = CurveParams {
                total_cents: total,
                ..CurveParams::default()
            };
            let again = recommend_fitted(&fitted, &p, 28).unwrap();
            assert_eq!(again, recommend(&days, &p, 28).unwrap(), "{total:?}");
            seen.push(again.1.recommended_spend);
        }
        // The totals asked for are what is recommended (within the bounds).
        assert_eq!(seen[1..4], [2500.0, 3000.0, 3500.0]);
        assert_eq!(seen[0], seen[4]);
        let roas = CurveParams {
            target_roas: Some(1.5),
            ..CurveParams::default()
        };
        assert_eq!(
            recommend_fitted(&fitted, &roas, 28).unwrap(),
            recommend(&days, &roas, 28).unwrap()
        );
    }

    #[test]
    fn rounding_to_cents_keeps_every_keyword_within_its_bounds() {
        let curves: Vec<(f64, f64, f64, f64)> = (0..60)
            .map(|k| {
                let k = k as f64;
                (
                    100.0 + 7.0 * k,
                    20.0 + k,
                    1.0 + (k % 7.0) / 2.0,
                    10.0 + 1.37 * k,
                )
            })
            .collect();
        let days = world(8, &curves);
        let fitted = fit_curves(&days, &CurveParams::default());
        let today = recommend_fitted(&fitted, &CurveParams::default(), 28)
            .unwrap()
            .1
            .current_spend;
        for share in [0.5, 0.8, 0.95, 1.0, 1.07, 1.2, 1.5] {
            let total = (today * share * 100.0).round() as i64 + 1;
            let p = CurveParams {
                total_cents: Some(total),
                ..CurveParams::default()
            };
            let (rows, totals) = recommend_fitted(&fitted, &p, 28).unwrap();
            let (lo, hi): (f64, f64) = rows
                .iter()
                .fold((0.0, 0.0), |(a, b), r| (a + r.bounds.0, b + r.bounds.1));
            let cents: i64 = rows.iter().map(|r| r.amount_cents).sum();
            assert_eq!(cents, (totals.recommended_spend * 100.0).round() as i64);
            if (lo..=hi).contains(&(total as f64 / 100.0)) {
                assert_eq!(cents, total, "{share}");
            }
            for r in &rows {
                assert!(
                    r.recommended_spend >= r.bounds.0 - 0.005
                        && r.recommended_spend <= r.bounds.1 + 0.005,
                    "{share}: {r:?}"
                );
            }
        }
    }

    #[test]
    fn thin_keywords_stay_and_no_costs_is_an_error() {
        let mut days = world(5, &[(400.0, 50.0, 2.0, 40.0), (300.0, 30.0, 1.5, 60.0)]);
        days.push(PaidDay {
            day: 0,
            engine: "bing".into(),
            keyword: "rare".into(),
            cost: 5.0,
            clicks: 3.0,
            conversions: 1.0,
            revenue: 90.0,
        });
        let (rows, _) = recommend(&days, &CurveParams::default(), 28).unwrap();
        let rare = rows.iter().find(|r| r.keyword == "rare").unwrap();
        assert_eq!(rare.recommended_spend, 5.0);
        assert!(
            rare.reason.starts_with("too little data"),
            "{}",
            rare.reason
        );
        assert!(recommend(&[], &CurveParams::default(), 28).is_err());
    }

    #[test]
    fn a_backtest_predicts_later_weeks_from_earlier_ones() {
        let days = world(7, &[(400.0, 50.0, 2.0, 40.0), (300.0, 30.0, 1.5, 60.0)]);
        let rows = backtest(&days, &CurveParams::default(), 2).unwrap();
        // Two weeks, two keywords and a total each.
        assert_eq!(rows.len(), 6);
        for r in &rows {
            assert!(
                r.predicted_low <= r.predicted_revenue && r.predicted_revenue <= r.predicted_high
            );
            // The world has little noise: the fit is close.
            assert!((r.error / r.actual_revenue).abs() < 0.15, "{r:?}");
        }
        assert!(backtest(&days, &CurveParams::default(), 4).is_err());
    }
}
