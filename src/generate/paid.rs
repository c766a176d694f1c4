//! Paid search in the sample (`generate --costs`): keywords bought on Google and Bing,
//! each with a known daily response curve `clicks(s) = C · (1 − e^(−s/θ))`, a day's
//! spend that wanders around a base, the clicks it buys (a few never reach the site),
//! and the platform's daily cost report. The curves go into the truth file, so a budget
//! can be judged against the revenue the sample would really return.

use super::*;

/// One bought keyword: keyword index, engine, and at a scale of 1 (about 285 visitors
/// a day) its daily click ceiling `C`, saturation spend `θ` and base daily spend, in
/// EUR. Some are past saturation, some far from it, one barely converts: a split that
/// follows the curves moves money between them.
const PAID: &[(usize, &str, f64, f64, f64)] = &[
    (0, "google", 12.0, 15.0, 25.0),
    (1, "google", 10.0, 20.0, 8.0),
    (2, "google", 8.0, 10.0, 6.0),
    (3, "google", 9.0, 12.0, 20.0),
    (4, "google", 6.0, 8.0, 15.0),
    (5, "google", 7.0, 14.0, 7.0),
    (8, "google", 6.0, 10.0, 4.0),
    (10, "google", 5.0, 9.0, 5.0),
    (11, "google", 15.0, 10.0, 20.0),
    (33, "google", 4.0, 6.0, 6.0),
    (0, "bing", 4.0, 6.0, 5.0),
    (3, "bing", 3.0, 5.0, 6.0),
];

/// Share of paid clicks that never reach the site (closed tab, blocked script): the
/// platform counts them, the log does not.
const LOST_CLICKS: f64 = 0.04;

/// Mean order value of the sample in EUR (orders are uniform over 5.00–199.99).
const ORDER_VALUE: f64 = (500.0 + 19_999.0) / 2.0 / 100.0;

/// The file `generate --costs` writes: the ad platforms' daily keyword report.
pub const COSTS_FILE: &str = "ad_costs.csv";

/// A paid keyword's true curve, as the truth file records it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PaidCurve {
    pub engine: String,
    /// Normal-form keyword.
    pub keyword: String,
    /// Daily click ceiling `C`.
    pub max_clicks: f64,
    /// Daily saturation spend `θ` in EUR.
    pub theta: f64,
    /// Daily spend the sample's days wander around, in EUR.
    pub base_spend: f64,
    /// Share of clicks that become visits.
    pub visit_share: f64,
    /// True conversion rate per visit.
    pub conversion_rate: f64,
    /// True mean order value in EUR.
    pub order_value: f64,
    /// Spend of the sample's days in total, in EUR.
    pub spent: f64,
}

impl PaidCurve {
    /// Expected revenue of spending `spend` EUR evenly over `days` days.
    pub fn revenue(&self, spend: f64, days: f64) -> f64 {
        if days <= 0.0 {
            return 0.0;
        }
        days * self.max_clicks
            * (1.0 - (-(spend / days) / self.theta).exp())
            * self.visit_share
            * self.conversion_rate
            * self.order_value
    }
}

/// One click that reaches the site.
pub(super) struct PaidClick {
    pub(super) ts: i64,
    /// Index into the paid keywords.
    pub(super) paid: usize,
}

/// The keyword index and engine of one paid keyword.
pub(super) fn paid_keyword(paid: usize) -> (usize, &'static str) {
    (PAID[paid].0, PAID[paid].1)
}

/// The days' spend and clicks of every paid keyword: the clicks that reach the site
/// (sorted by time), the cost report's text, and the true curves.
pub(super) fn paid_days(
    cfg: &GenerateConfig,
    t0: i64,
    rng: &mut ChaCha8Rng,
) -> (Vec<PaidClick>, String, Vec<PaidCurve>) {
    let scale = cfg.visitors as f64 / cfg.days.max(1) as f64 / 285.0;
    let mut clicks = Vec::new();
    let mut report =
        String::from("Day,Engine,Keyword,Match type,Clicks,Impressions,Cost,Currency\n");
    let mut curves: Vec<PaidCurve> = PAID
        .iter()
        .map(|&(k, engine, c, theta, base)| PaidCurve {
            engine: engine.into(),
            keyword: crate::classify::keyword::normalize_text(KEYWORDS[k].0).expect("keyword"),
            max_clicks: c * scale,
            theta: theta * scale,
            base_spend: base * scale,
            visit_share: 1.0 - LOST_CLICKS,
            conversion_rate: KEYWORDS[k].1,
            order_value: ORDER_VALUE,
            spent: 0.0,
        })
        .collect();
    for day in 0..cfg.days as i64 {
        for (i, curve) in curves.iter_mut().enumerate() {
            // Spend wanders by about a third either way, as bids and budgets are tuned.
            let wander: f64 = rand_distr::StandardNormal.sample(rng);
            let cents = (curve.base_spend * (0.35 * wander).exp() * 100.0).round() as i64;
            let spend = cents as f64 / 100.0;
            let expected = curve.max_clicks * (1.0 - (-spend / curve.theta).exp());
            let n = if expected > 0.0 {
                rand_distr::Poisson::new(expected)
                    .map(|p| p.sample(rng) as u64)
                    .unwrap_or(0)
            } else {
                0
            };
            for _ in 0..n {
                if rng.random::<f64>() >= LOST_CLICKS {
                    let ts = t0 + day * 86_400 + rng.random_range(0..86_400);
                    clicks.push(PaidClick { ts, paid: i });
                }
            }
            if n == 0 && cents == 0 {
                continue;
            }
            curve.spent += spend;
            let impressions = n * rng.random_range(12..30) + rng.random_range(0..50);
            // Platforms write the term as bought, sometimes with its match type.
            let (term, match_type) = match rng.random_range(0..3) {
                0 => (format!("[{}]", KEYWORDS[PAID[i].0].0), "Exact"),
                _ => (KEYWORDS[PAID[i].0].0.to_string(), "Phrase"),
            };
            report.push_str(&format!(
                "{},{},{},{match_type},{n},{impressions},{}.{:02},EUR\n",
                crate::parse::time::format_day(day as i32 + (t0 / 86_400) as i32),
                curve.engine,
                csv_field(&term),
                cents / 100,
                cents % 100
            ));
        }
    }
    clicks.sort_by_key(|c| (c.ts, c.paid));
    for c in &mut curves {
        c.spent = (c.spent * 100.0).round() / 100.0;
    }
    (clicks, report, curves)
}

use rand_distr::Distribution;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clicks_follow_the_curves() {
        let cfg = GenerateConfig {
            visitors: 20_000,
            days: 28,
            costs: true,
            ..GenerateConfig::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (clicks, report, curves) = paid_days(&cfg, 0, &mut rng);
        assert_eq!(curves.len(), PAID.len());
        assert_eq!(report.lines().count(), 1 + PAID.len() * 28);
        // Reported clicks exceed the visits by about the lost share.
        let reported: u64 = report
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(4).unwrap().parse::<u64>().unwrap())
            .sum();
        let arrived = clicks.len() as f64;
        let lost = 1.0 - arrived / reported as f64;
        assert!((0.02..0.06).contains(&lost), "lost share {lost}");
        // The clicks of a keyword are what its curve predicts for the spend made.
        for (i, c) in curves.iter().enumerate() {
            let got = clicks.iter().filter(|k| k.paid == i).count() as f64;
            let want = c.revenue(c.spent, 28.0) / (c.conversion_rate * c.order_value);
            assert!(
                (got - want).abs() < 4.0 * want.sqrt() + 0.1 * want,
                "{} {}: {got} clicks, curve says {want:.1}",
                c.engine,
                c.keyword
            );
        }
        assert!(clicks.windows(2).all(|w| w[0].ts <= w[1].ts));
    }
}
