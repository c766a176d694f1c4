//! The truth of the sample: the exact rows a correct ingest writes, computed by the
//! generator's own small implementation of the attribution rules.

use super::*;

/// One expected row of the truth file, per source × medium × keyword over the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TruthRow {
    pub source: String,
    pub medium: String,
    pub keyword: Option<String>,
    pub visits: i64,
    pub pageviews: i64,
    /// Model name → conversions in millionths (`conversions_<model>` × 10⁶).
    pub conversions: BTreeMap<String, i64>,
    /// Model name → revenue in cents.
    pub revenue_cents: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Truth {
    pub seed: u64,
    pub visitors: u64,
    pub site: String,
    pub goal: String,
    pub lines: u64,
    pub malformed: u64,
    pub crawlers: u64,
    pub assets: u64,
    pub error_status: u64,
    pub page_views: u64,
    pub visits: u64,
    pub conversions: u64,
    pub duplicate_orders: u64,
    /// The k-visitor threshold applied to `rows` and `keyword_rows`.
    pub min_visitors: u64,
    /// Normal-form keyword → true conversion rate per visit.
    pub true_rates: BTreeMap<String, f64>,
    pub rows: Vec<TruthRow>,
    /// Last-touch conversions of Google organic visits by their true term (the term was
    /// typed even when the referrer did not carry it): what recovery should approach.
    pub google_organic_conversions: BTreeMap<String, i64>,
    /// Expected credited rows when `purchases_keyword.csv` is ingested with the log
    /// (no goal): whole conversions per search-preference keyword, or unattributed.
    pub keyword_rows: Vec<TruthRow>,
    /// With `--costs`: the true response curve of every paid keyword.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paid_curves: Vec<super::PaidCurve>,
}

impl Truth {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::Other(format!("{}: {e}", path.display())))
    }
}
/// The k-visitor threshold as the privacy gate applies it: rarer keywords become
/// `(other)`, and rows that then coincide are merged.
pub(super) fn fold(rows: Vec<TruthRow>, visitors: &BTreeMap<String, u64>, k: u64) -> Vec<TruthRow> {
    let mut out: BTreeMap<RowKey, TruthRow> = BTreeMap::new();
    for mut r in rows {
        if let Some(kw) = &r.keyword
            && !crate::privacy::is_pseudo_keyword(kw)
            && visitors.get(kw).copied().unwrap_or(0) < k
        {
            r.keyword = Some(crate::privacy::OTHER.to_string());
        }
        let key = (r.source.clone(), r.medium.clone(), r.keyword.clone());
        match out.get_mut(&key) {
            None => {
                out.insert(key, r);
            }
            Some(acc) => {
                acc.visits += r.visits;
                acc.pageviews += r.pageviews;
                for (m, c) in r.conversions {
                    *acc.conversions.entry(m).or_default() += c;
                }
                for (m, c) in r.revenue_cents {
                    *acc.revenue_cents.entry(m).or_default() += c;
                }
            }
        }
    }
    out.into_values().collect()
}
/// Whole conversions per search-preference term; orders without a term are unattributed.
pub(super) fn keyword_truth(orders: &[Order]) -> Vec<TruthRow> {
    let mut rows: BTreeMap<RowKey, TruthRow> = BTreeMap::new();
    for o in orders {
        let key = match &o.term {
            Some(t) => (
                crate::classify::SEARCH_PREFERENCE_SOURCE.to_string(),
                crate::classify::SEARCH_PREFERENCE_MEDIUM.to_string(),
                Some(t.clone()),
            ),
            None => (
                DIRECT.to_string(),
                NONE.to_string(),
                Some(UNATTRIBUTED.to_string()),
            ),
        };
        let row = rows.entry(key.clone()).or_insert_with(|| TruthRow {
            source: key.0.clone(),
            medium: key.1.clone(),
            keyword: key.2.clone(),
            ..TruthRow::default()
        });
        for m in AttributionModel::ALL {
            *row.conversions.entry(m.name().to_string()).or_default() +=
                crate::model::attribution::CREDIT_UNIT;
            *row.revenue_cents.entry(m.name().to_string()).or_default() += o.cents;
        }
    }
    rows.into_values().collect()
}
/// Credits one conversion under every model, as the ingest must (all touches of the
/// sample fall inside the default 30-day lookback).
pub(super) fn credit(
    rows: &mut BTreeMap<RowKey, TruthRow>,
    touches: &[(RowKey, i64)],
    ts: i64,
    cents: i64,
) {
    let unattributed: Vec<(RowKey, i64)> = vec![(
        (
            DIRECT.to_string(),
            NONE.to_string(),
            Some(UNATTRIBUTED.to_string()),
        ),
        ts,
    )];
    let touches = if touches.is_empty() {
        &unattributed[..]
    } else {
        touches
    };
    let times: Vec<i64> = touches.iter().map(|t| t.1).collect();
    for model in AttributionModel::ALL {
        let credits = rules::credits(model.name(), &times, ts, DEFAULT_HALF_LIFE_SECS);
        let revenue = rules::revenue(cents, &credits);
        for (((key, _), c), r) in touches.iter().zip(&credits).zip(&revenue) {
            let row = rows.entry(key.clone()).or_insert_with(|| TruthRow {
                source: key.0.clone(),
                medium: key.1.clone(),
                keyword: key.2.clone(),
                ..TruthRow::default()
            });
            *row.conversions.entry(model.name().to_string()).or_default() += c;
            *row.revenue_cents
                .entry(model.name().to_string())
                .or_default() += r;
        }
    }
}
/// The attribution rules as the README states them, written apart from
/// `crate::model::attribution` (exact fractions where the rule is a fraction) so that the
/// truth catches a wrong weight or a wrong split there instead of repeating it.
pub(super) mod rules {
    /// One conversion, in millionths.
    const WHOLE: i128 = 1_000_000;

    /// Each touch's share of one conversion (touches at `times`, oldest first, the
    /// conversion at `ts`): whole millionths by largest remainder, ties to the earlier.
    pub fn credits(model: &str, times: &[i64], ts: i64, half_life: i64) -> Vec<i64> {
        let n = times.len();
        // Weights as numerators over a common denominator.
        let (weights, den): (Vec<i128>, i128) = match (model, n) {
            (_, 1) => (vec![1], 1),
            ("first", _) => ((0..n).map(|i| (i == 0) as i128).collect(), 1),
            ("last", _) => ((0..n).map(|i| (i == n - 1) as i128).collect(), 1),
            ("linear", _) => (vec![1; n], n as i128),
            ("position", 2) => (vec![1, 1], 2),
            // 40 % each end, 20 % shared by the middle: over 5 (n − 2).
            ("position", _) => {
                let m = n as i128 - 2;
                let w = (0..n)
                    .map(|i| if i == 0 || i == n - 1 { 2 * m } else { 1 })
                    .collect();
                (w, 5 * m)
            }
            ("time_decay", _) => return decayed(times, ts, half_life),
            (other, _) => panic!("no rule for model {other}"),
        };
        largest_remainder(
            weights
                .iter()
                .map(|w| (WHOLE * w / den, WHOLE * w % den))
                .collect(),
            WHOLE,
        )
    }

    /// Half the weight per half-life before the conversion: not a fraction, so the
    /// shares are real numbers split the same way.
    fn decayed(times: &[i64], ts: i64, half_life: i64) -> Vec<i64> {
        let w: Vec<f64> = times
            .iter()
            .map(|t| (-((ts - t).max(0) as f64) / half_life.max(1) as f64).exp2())
            .collect();
        let sum: f64 = w.iter().sum();
        let mut parts: Vec<(i128, f64)> = Vec::with_capacity(w.len());
        for wi in &w {
            let exact = WHOLE as f64 * wi / sum;
            parts.push((exact.floor() as i128, exact - exact.floor()));
        }
        let mut out: Vec<i64> = parts.iter().map(|p| p.0 as i64).collect();
        let mut order: Vec<usize> = (0..parts.len()).collect();
        order.sort_by(|&a, &b| parts[b].1.total_cmp(&parts[a].1).then(a.cmp(&b)));
        let left = WHOLE as i64 - out.iter().sum::<i64>();
        for &i in order.iter().cycle().take(left.max(0) as usize) {
            out[i] += 1;
        }
        out
    }

    /// The revenue of one conversion in whole cents, in proportion to the credits
    /// (which sum to one conversion): largest remainder, ties to the earlier touch.
    pub fn revenue(cents: i64, credits: &[i64]) -> Vec<i64> {
        let total = cents as i128;
        largest_remainder(
            credits
                .iter()
                .map(|&c| (total * c as i128 / WHOLE, total * c as i128 % WHOLE))
                .collect(),
            total,
        )
    }

    /// (whole part, remainder) of each exact share → parts summing to `total`.
    fn largest_remainder(parts: Vec<(i128, i128)>, total: i128) -> Vec<i64> {
        let mut out: Vec<i128> = parts.iter().map(|p| p.0).collect();
        let mut order: Vec<usize> = (0..parts.len()).collect();
        order.sort_by(|&a, &b| parts[b].1.cmp(&parts[a].1).then(a.cmp(&b)));
        let left = total - out.iter().sum::<i128>();
        for &i in order.iter().take(left as usize) {
            out[i] += 1;
        }
        out.into_iter().map(|x| x as i64).collect()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn the_rules_by_hand() {
            let d = 86_400;
            assert_eq!(
                super::credits("position", &[0, d, 2 * d], 3 * d, 7 * d),
                [400_000, 200_000, 400_000]
            );
            assert_eq!(
                super::credits("linear", &[0, d, 2 * d], 3 * d, 7 * d),
                [333_334, 333_333, 333_333]
            );
            assert_eq!(
                super::credits("position", &[0, 1, 2, 3, 4], 5, 7 * d),
                [400_000, 66_667, 66_667, 66_666, 400_000]
            );
            // One half-life apart: weights 1/2 and 1.
            assert_eq!(
                super::credits("time_decay", &[0, 7 * d], 7 * d, 7 * d),
                [333_333, 666_667]
            );
            assert_eq!(super::revenue(1, &[500_000, 500_000]), [1, 0]);
            assert_eq!(
                super::revenue(1000, &[333_334, 333_333, 333_333]),
                [334, 333, 333]
            );
        }
    }
}
