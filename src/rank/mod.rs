//! Ranking and budget: conversion estimates that are honest for small counts
//! (empirical-Bayes shrinkage, Wilson intervals), and a split of a budget across
//! keywords by expected value per unit cost, with exploration for thin data.

pub mod curves;
pub mod paid;

use crate::privacy::is_pseudo_keyword;
use crate::query::udf::{BetaPrior, DEFAULT_Z, shrunk, wilson};
use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution};
use serde::Serialize;
use std::sync::Arc;

/// One keyword's observed figures over the period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KeywordStats {
    pub keyword: String,
    pub visits: f64,
    pub conversions: f64,
    /// In the reporting currency.
    pub revenue: f64,
    /// Ad cost and clicks, when an ad-cost report was imported.
    pub cost: Option<f64>,
    pub clicks: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum Method {
    /// Response curves fitted on imported ad costs, moved to equal marginal returns
    /// ([`curves`]).
    Curves,
    /// Expected value per unit cost under the shrunk estimates, best first.
    Shrunk,
    /// Shares by how often each keyword is best across posterior draws: keeps exploring.
    Thompson,
}

#[derive(Debug, Clone)]
pub struct BudgetParams {
    /// Total in cents.
    pub total_cents: i64,
    pub min_share: f64,
    pub max_share: f64,
    /// Keywords with fewer visits get an exploration share instead of a ranked one.
    pub min_visits: f64,
    /// Share given to each thin-data keyword (at least `min_share`).
    pub explore_share: f64,
    pub method: Method,
    pub seed: u64,
}

impl Default for BudgetParams {
    fn default() -> Self {
        BudgetParams {
            total_cents: 100_000,
            min_share: 0.0,
            max_share: 0.25,
            min_visits: 30.0,
            explore_share: 0.01,
            method: Method::Shrunk,
            seed: 1,
        }
    }
}

/// A ranked keyword with its estimates and (for a budget) its share.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    pub keyword: String,
    pub visits: f64,
    pub conversions: f64,
    pub rate: f64,
    pub rate_estimate: f64,
    pub rate_low: Option<f64>,
    pub rate_high: Option<f64>,
    pub revenue_per_visit: f64,
    /// Expected revenue per visit under the estimate.
    pub value_per_visit: f64,
    pub cost_per_conversion: Option<f64>,
    pub roas: Option<f64>,
    pub share: f64,
    pub amount_cents: i64,
    pub reason: String,
}

/// Column `i` of a canned query's result as `T`, cast from whatever type it has.
pub(crate) fn column_as<T: datafusion::arrow::array::Array + Clone + 'static>(
    b: &RecordBatch,
    i: usize,
    ty: &DataType,
    query: &str,
) -> crate::Result<T> {
    datafusion::arrow::compute::cast(b.column(i), ty)?
        .as_any()
        .downcast_ref::<T>()
        .cloned()
        .ok_or_else(|| crate::Error::Other(format!("{query}: unexpected column types")))
}

/// Per-keyword inputs from the store, with the canned `budget_inputs` query (so the
/// CLI, the tests and the benches read the same numbers a user can query).
pub fn load_stats(
    store: &crate::store::Store,
    from: Option<&str>,
    to: Option<&str>,
    model: &str,
    estimated: bool,
    cluster: Option<&str>,
) -> crate::Result<Vec<KeywordStats>> {
    let rt = crate::model::runtime::runtime()?;
    rt.block_on(async {
        let ctx = crate::cluster::session_at(store, cluster).await?;
        load_stats_on(&ctx, from, to, model, estimated).await
    })
}

/// [`load_stats`] on a context already open over one version of the store.
pub async fn load_stats_on(
    ctx: &datafusion::prelude::SessionContext,
    from: Option<&str>,
    to: Option<&str>,
    model: &str,
    estimated: bool,
) -> crate::Result<Vec<KeywordStats>> {
    use datafusion::arrow::array::{Array, Float64Array, StringArray};
    use datafusion::arrow::datatypes::DataType;
    let q = crate::query::queries::find("budget_inputs")?;
    let mut params = std::collections::BTreeMap::new();
    if let Some(f) = from {
        params.insert("from".to_string(), f.to_string());
    }
    if let Some(t) = to {
        params.insert("to".to_string(), t.to_string());
    }
    params.insert("model".to_string(), model.to_string());
    params.insert("estimated".to_string(), estimated.to_string());
    let sql = q.render(&params)?;
    let (_, batches) = crate::query::run(ctx, &sql).await?;
    let mut out = Vec::new();
    for b in &batches {
        let col = |i| column_as::<Float64Array>(b, i, &DataType::Float64, "budget_inputs");
        let kw: StringArray = column_as(b, 0, &DataType::Utf8, "budget_inputs")?;
        let (v, c, r, clicks, cost) = (col(1)?, col(2)?, col(3)?, col(4)?, col(5)?);
        for i in 0..b.num_rows() {
            let opt = |a: &Float64Array| (!a.is_null(i)).then(|| a.value(i));
            out.push(KeywordStats {
                keyword: kw.value(i).to_string(),
                visits: opt(&v).unwrap_or(0.0),
                conversions: opt(&c).unwrap_or(0.0),
                revenue: opt(&r).unwrap_or(0.0),
                clicks: opt(&clicks),
                cost: opt(&cost),
            });
        }
    }
    Ok(out)
}

/// The fitted prior and the global average order value.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    pub alpha: f64,
    pub beta: f64,
    pub order_value: f64,
}

/// Fits the prior over real keywords (pseudo-keywords excluded).
pub fn fit(stats: &[KeywordStats]) -> Model {
    let mut prior = BetaPrior::default();
    let (mut rev, mut conv) = (0.0, 0.0);
    for s in stats.iter().filter(|s| !is_pseudo_keyword(&s.keyword)) {
        prior.add(s.conversions, s.visits);
        rev += s.revenue;
        conv += s.conversions;
    }
    let (alpha, beta) = prior.fit().unwrap_or((1.0, 1.0));
    Model {
        alpha,
        beta,
        order_value: if conv > 0.0 { rev / conv } else { 0.0 },
    }
}

/// [`rank`] with each row's reason, for every place a ranking is shown (the command,
/// reports): keywords under `min_visits` visits are marked as leaning on the prior.
pub fn ranked_with_reasons(stats: &[KeywordStats], min_visits: f64) -> Vec<Ranked> {
    let (_, mut rows) = rank(stats);
    for r in rows.iter_mut() {
        r.reason = if is_pseudo_keyword(&r.keyword) {
            "pseudo-keyword".into()
        } else if r.visits < min_visits {
            format!("few visits ({:.0}): estimate leans on the prior", r.visits)
        } else {
            format!(
                "estimated {:.2}% conversion, {:.2} per visit",
                r.rate_estimate * 100.0,
                r.value_per_visit
            )
        };
    }
    rows
}

/// Content opportunities: keywords with no ad spend (no cost rows) whose shrunk
/// conversion rate is above the prior's mean over at least `min_visits` visits, best
/// expected value per visit first, at most `n`. Money cannot buy these visits in a
/// budget; a page or content that ranks for the term can.
pub fn content_opportunities(stats: &[KeywordStats], min_visits: f64, n: usize) -> Vec<Ranked> {
    let (model, rows) = rank(stats);
    let prior_mean = model.alpha / (model.alpha + model.beta);
    let unpaid: std::collections::HashSet<&str> = stats
        .iter()
        .filter(|s| s.cost.is_none())
        .map(|s| s.keyword.as_str())
        .collect();
    rows.into_iter()
        .filter(|r| {
            !is_pseudo_keyword(&r.keyword)
                && unpaid.contains(r.keyword.as_str())
                && r.visits >= min_visits
                && r.rate_estimate > prior_mean
        })
        .take(n)
        .map(|mut r| {
            r.reason = format!(
                "converts at an estimated {:.2}% ({:.2} per visit) against {:.2}% for a typical keyword, with no ad spend",
                r.rate_estimate * 100.0,
                r.value_per_visit,
                prior_mean * 100.0
            );
            r
        })
        .collect()
}

/// Keywords ranked by shrunk expected value per visit (then visits), best first.
pub fn rank(stats: &[KeywordStats]) -> (Model, Vec<Ranked>) {
    let model = fit(stats);
    let mut out: Vec<Ranked> = stats.iter().map(|s| estimate(s, &model)).collect();
    out.sort_by(|a, b| {
        is_pseudo_keyword(&a.keyword)
            .cmp(&is_pseudo_keyword(&b.keyword))
            .then(b.value_per_visit.total_cmp(&a.value_per_visit))
            .then(b.visits.total_cmp(&a.visits))
            .then(a.keyword.cmp(&b.keyword))
    });
    (model, out)
}

fn estimate(s: &KeywordStats, m: &Model) -> Ranked {
    let rate_estimate = shrunk(s.conversions, s.visits, m.alpha, m.beta).unwrap_or(0.0);
    let (rate_low, rate_high) = match wilson(s.conversions, s.visits, DEFAULT_Z) {
        Some((lo, hi)) => (Some(lo), Some(hi)),
        None => (None, None),
    };
    // Average order value shrunk toward the global one with two pseudo-orders.
    let order_value = (s.revenue + 2.0 * m.order_value) / (s.conversions + 2.0);
    let cost_per_conversion = match (s.cost, s.conversions > 0.0) {
        (Some(c), true) => Some(c / s.conversions),
        _ => None,
    };
    let roas = s.cost.filter(|c| *c > 0.0).map(|c| s.revenue / c);
    Ranked {
        keyword: s.keyword.clone(),
        visits: s.visits,
        conversions: s.conversions,
        rate: if s.visits > 0.0 {
            s.conversions / s.visits
        } else {
            0.0
        },
        rate_estimate,
        rate_low,
        rate_high,
        revenue_per_visit: if s.visits > 0.0 {
            s.revenue / s.visits
        } else {
            0.0
        },
        value_per_visit: rate_estimate * order_value,
        cost_per_conversion,
        roas,
        share: 0.0,
        amount_cents: 0,
        reason: String::new(),
    }
}

/// Ranked rows as a record batch, for every output format.
pub fn to_batch(rows: &[Ranked], with_budget: bool) -> crate::Result<RecordBatch> {
    let f = |name: &str| Field::new(name, DataType::Float64, true);
    let mut fields = vec![
        Field::new("keyword", DataType::Utf8, false),
        f("visits"),
        f("conversions"),
        f("rate"),
        f("rate_estimate"),
        f("rate_low"),
        f("rate_high"),
        f("revenue_per_visit"),
        f("cost_per_conversion"),
        f("roas"),
    ];
    let round = |x: f64, d: i32| (x * 10f64.powi(d)).round() / 10f64.powi(d);
    let num = |g: &dyn Fn(&Ranked) -> Option<f64>, d: i32| -> ArrayRef {
        Arc::new(Float64Array::from_iter(
            rows.iter().map(|r| g(r).map(|x| round(x, d))),
        ))
    };
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.keyword.as_str()),
        )),
        num(&|r| Some(r.visits), 2),
        num(&|r| Some(r.conversions), 4),
        num(&|r| Some(r.rate), 4),
        num(&|r| Some(r.rate_estimate), 4),
        num(&|r| r.rate_low, 4),
        num(&|r| r.rate_high, 4),
        num(&|r| Some(r.revenue_per_visit), 2),
        num(&|r| r.cost_per_conversion, 2),
        num(&|r| r.roas, 2),
    ];
    if with_budget {
        fields.push(f("share"));
        fields.push(Field::new("amount", DataType::Utf8, false));
        cols.push(num(&|r| Some(r.share), 4));
        cols.push(Arc::new(StringArray::from_iter_values(rows.iter().map(
            |r| format!("{}.{:02}", r.amount_cents / 100, r.amount_cents % 100),
        ))));
    }
    fields.push(Field::new("reason", DataType::Utf8, false));
    cols.push(Arc::new(StringArray::from_iter_values(
        rows.iter().map(|r| r.reason.as_str()),
    )));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

/// Cost of one visit (click): from imported costs, else 1 (budget by value per visit).
fn cost_per_visit(s: &KeywordStats) -> f64 {
    match (s.cost, s.clicks) {
        (Some(c), Some(k)) if c > 0.0 && k > 0.0 => c / k,
        _ => 1.0,
    }
}

/// Recommends a split of `p.total_cents`. Pseudo-keywords get nothing; keywords with
/// fewer than `min_visits` visits get an exploration share; the rest are filled best
/// first up to `max_share` (shrunk) or by their chance of being best (thompson). Shares
/// respect `min_share`/`max_share` and amounts sum to exactly the total.
pub fn budget(stats: &[KeywordStats], p: &BudgetParams) -> crate::Result<Vec<Ranked>> {
    let (model, mut ranked) = rank(stats);
    let eligible: Vec<usize> = (0..ranked.len())
        .filter(|&i| !is_pseudo_keyword(&ranked[i].keyword))
        .collect();
    if eligible.is_empty() {
        return Err(crate::Error::usage(
            "no keyword can receive budget (only pseudo-keywords like (not provided) in the period)",
        ));
    }
    let n = eligible.len() as f64;
    if !(0.0..=1.0).contains(&p.min_share)
        || !(0.0..=1.0).contains(&p.max_share)
        || p.min_share > p.max_share
    {
        return Err(crate::Error::usage(
            "--min-share and --max-share must satisfy 0 ≤ min ≤ max ≤ 1",
        ));
    }
    if p.min_share * n > 1.0 + 1e-12 {
        return Err(crate::Error::usage(format!(
            "--min-share {} for {} keywords exceeds the budget; lower it",
            p.min_share,
            eligible.len()
        )));
    }
    let max_share = p.max_share.max(1.0 / n);
    let by_kw: std::collections::HashMap<&str, &KeywordStats> =
        stats.iter().map(|s| (s.keyword.as_str(), s)).collect();
    let score = |r: &Ranked| r.value_per_visit / cost_per_visit(by_kw[r.keyword.as_str()]);
    let thin: Vec<bool> = eligible
        .iter()
        .map(|&i| ranked[i].visits < p.min_visits)
        .collect();

    // Floors: min_share for all, the exploration share for thin-data keywords.
    let explore = p.explore_share.max(p.min_share).min(max_share);
    let mut shares: Vec<f64> = thin
        .iter()
        .map(|&t| if t { explore } else { p.min_share })
        .collect();
    let floor_total: f64 = shares.iter().sum();
    if floor_total > 1.0 {
        // Too many thin keywords to explore them all at that share: scale down.
        let k = (1.0 - p.min_share * n) / (floor_total - p.min_share * n);
        for (s, &t) in shares.iter_mut().zip(&thin) {
            if t {
                *s = p.min_share + (*s - p.min_share) * k;
            }
        }
    }
    let mut left = 1.0 - shares.iter().sum::<f64>();
    let ranked_idx: Vec<usize> = (0..eligible.len()).filter(|&j| !thin[j]).collect();
    let fill_order: Vec<usize> = if ranked_idx.is_empty() {
        (0..eligible.len()).collect()
    } else {
        ranked_idx
    };
    match p.method {
        // The legacy split is asked with curves only by library callers: rank by
        // value per unit cost, as `shrunk`.
        Method::Shrunk | Method::Curves => {
            let mut order = fill_order.clone();
            order.sort_by(|&a, &b| {
                score(&ranked[eligible[b]]).total_cmp(&score(&ranked[eligible[a]]))
            });
            for j in order {
                if left <= 0.0 {
                    break;
                }
                let add = (max_share - shares[j]).min(left).max(0.0);
                shares[j] += add;
                left -= add;
            }
        }
        Method::Thompson => {
            let weights = thompson_weights(&ranked, &eligible, &fill_order, stats, &model, p.seed);
            left = water_fill(&mut shares, &fill_order, &weights, max_share, left);
        }
    }
    if left > 1e-12 {
        // The ranked keywords are all at the cap: the rest goes to the others, evenly
        // and still within the cap (caps were raised to 1/n, so it always fits).
        let all: Vec<usize> = (0..eligible.len()).collect();
        left = water_fill(
            &mut shares,
            &all,
            &vec![1.0; eligible.len()],
            max_share,
            left,
        );
    }
    if left > 1e-9 {
        return Err(crate::Error::Other(format!(
            "internal: {left} of the budget could not be placed within the shares"
        )));
    }
    let amounts = crate::model::attribution::split_exact(p.total_cents, &shares);
    for (j, &i) in eligible.iter().enumerate() {
        let r = &mut ranked[i];
        r.share = amounts[j] as f64 / p.total_cents.max(1) as f64;
        r.amount_cents = amounts[j];
        r.reason = reason(r, thin[j], shares[j], max_share, p);
    }
    for r in ranked.iter_mut().filter(|r| is_pseudo_keyword(&r.keyword)) {
        r.reason = "pseudo-keyword: never receives budget".into();
    }
    Ok(ranked)
}

/// Probability of being the best keyword by value per cost, from posterior draws.
fn thompson_weights(
    ranked: &[Ranked],
    eligible: &[usize],
    fill: &[usize],
    stats: &[KeywordStats],
    m: &Model,
    seed: u64,
) -> Vec<f64> {
    const DRAWS: usize = 2_000;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let by_kw: std::collections::HashMap<&str, &KeywordStats> =
        stats.iter().map(|s| (s.keyword.as_str(), s)).collect();
    let dists: Vec<(Beta<f64>, f64)> = fill
        .iter()
        .map(|&j| {
            let r = &ranked[eligible[j]];
            let s = by_kw[r.keyword.as_str()];
            let a = (s.conversions + m.alpha).max(1e-6);
            let b = (s.visits - s.conversions).max(0.0) + m.beta.max(1e-6);
            let value = if r.rate_estimate > 0.0 {
                r.value_per_visit / r.rate_estimate
            } else {
                m.order_value
            };
            (
                Beta::new(a, b).expect("positive Beta parameters"),
                value / cost_per_visit(s),
            )
        })
        .collect();
    let mut wins = vec![0.0; ranked.len().max(eligible.len())];
    for _ in 0..DRAWS {
        let best = dists
            .iter()
            .enumerate()
            .map(|(k, (d, v))| (k, d.sample(&mut rng) * v))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(k, _)| fill[k]);
        if let Some(j) = best {
            wins[j] += 1.0;
        }
    }
    wins
}

/// Adds `left` to `shares[j]` (j in `order`) in proportion to `weights[j]`, capped at
/// `cap`; returns what did not fit.
fn water_fill(
    shares: &mut [f64],
    order: &[usize],
    weights: &[f64],
    cap: f64,
    mut left: f64,
) -> f64 {
    let mut open: Vec<usize> = order.iter().copied().filter(|&j| shares[j] < cap).collect();
    while left > 1e-12 && !open.is_empty() {
        let wsum: f64 = open.iter().map(|&j| weights[j].max(1e-9)).sum();
        let mut used = 0.0;
        let mut next = Vec::new();
        for &j in &open {
            let want = left * weights[j].max(1e-9) / wsum;
            let add = want.min(cap - shares[j]);
            shares[j] += add;
            used += add;
            if shares[j] < cap - 1e-12 {
                next.push(j);
            }
        }
        left -= used;
        if next.len() == open.len() {
            break;
        }
        open = next;
    }
    left.max(0.0)
}

fn reason(r: &Ranked, thin: bool, share: f64, cap: f64, p: &BudgetParams) -> String {
    let interval = match (r.rate_low, r.rate_high) {
        (Some(lo), Some(hi)) => format!(" (95% CI {:.1}–{:.1}%)", lo * 100.0, hi * 100.0),
        _ => String::new(),
    };
    if thin {
        return format!(
            "exploration: only {:.0} visits (< {:.0}); estimate {:.2}%{interval}",
            r.visits,
            p.min_visits,
            r.rate_estimate * 100.0
        );
    }
    let what = if share >= cap - 1e-9 {
        "at the maximum share"
    } else if share <= p.min_share + 1e-9 {
        "minimum share: others return more per unit cost"
    } else {
        "funded by expected value per unit cost"
    };
    format!(
        "{what}: estimated {:.2}% conversion{interval}, {:.2} per visit",
        r.rate_estimate * 100.0,
        r.value_per_visit
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(k: &str, visits: f64, conv: f64) -> KeywordStats {
        KeywordStats {
            keyword: k.into(),
            visits,
            conversions: conv,
            revenue: conv * 50.0,
            cost: None,
            clicks: None,
        }
    }

    fn sample() -> Vec<KeywordStats> {
        vec![
            kw("a", 1000.0, 80.0),
            kw("b", 900.0, 30.0),
            kw("c", 800.0, 20.0),
            kw("d", 5.0, 1.0),
            kw("e", 700.0, 50.0),
            kw("(not provided)", 5000.0, 100.0),
            kw("(other)", 100.0, 1.0),
        ]
    }

    #[test]
    fn small_counts_are_shrunk_toward_the_prior() {
        let (_, r) = rank(&sample());
        let d = r.iter().find(|x| x.keyword == "d").unwrap();
        assert!(d.rate == 0.2 && d.rate_estimate < 0.1, "{d:?}");
        assert_eq!(r[0].keyword, "a");
        assert!(
            r.iter()
                .rev()
                .take(2)
                .all(|x| is_pseudo_keyword(&x.keyword))
        );
    }

    #[test]
    fn budget_invariants() {
        for method in [Method::Shrunk, Method::Thompson] {
            for (min, max) in [(0.0, 0.25), (0.05, 0.5), (0.1, 0.3), (0.0, 1.0)] {
                let p = BudgetParams {
                    total_cents: 1_000_001,
                    min_share: min,
                    max_share: max,
                    method,
                    ..BudgetParams::default()
                };
                let r = budget(&sample(), &p).unwrap();
                let total: i64 = r.iter().map(|x| x.amount_cents).sum();
                assert_eq!(total, 1_000_001, "{method:?} {min} {max}");
                for x in &r {
                    if is_pseudo_keyword(&x.keyword) {
                        assert_eq!(x.amount_cents, 0);
                    } else {
                        assert!(
                            x.share >= min - 1e-6 && x.share <= max.max(0.25) + 1e-6,
                            "{x:?}"
                        );
                    }
                }
                let d = r.iter().find(|x| x.keyword == "d").unwrap();
                assert!(d.amount_cents > 0, "thin keywords explore");
                assert_eq!(budget(&sample(), &p).unwrap(), r, "deterministic");
            }
        }
        let bad = BudgetParams {
            min_share: 0.5,
            ..BudgetParams::default()
        };
        assert!(budget(&sample(), &bad).is_err());
    }
}
