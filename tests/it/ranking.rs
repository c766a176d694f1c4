//! On generated data with known true conversion rates, the shrunk ranking agrees with
//! the truth better than raw conversion rates do; budget invariants end to end.

use crate::common::{generated_store, spearman};
use keyrank::rank::{BudgetParams, KeywordStats, Method, budget, load_stats, rank};
use keyrank::store::Store;

fn stats_for(
    seed: u64,
    visitors: u64,
) -> (Vec<KeywordStats>, std::collections::BTreeMap<String, f64>) {
    let dir = tempfile::tempdir().unwrap();
    let (truth, store) = generated_store(dir.path(), visitors, seed);
    let stats = load_stats(
        &Store::open(&store).unwrap(),
        None,
        None,
        "last",
        false,
        None,
    )
    .unwrap();
    (stats, truth.true_rates)
}

/// Correlation between a ranking's top 20 and the true rates of those keywords.
fn top20_correlation(
    order: &[(String, f64)],
    truth: &std::collections::BTreeMap<String, f64>,
) -> f64 {
    let top: Vec<&(String, f64)> = order
        .iter()
        .filter(|(k, _)| truth.contains_key(k))
        .take(20)
        .collect();
    let est: Vec<f64> = top.iter().map(|(_, e)| *e).collect();
    let real: Vec<f64> = top.iter().map(|(k, _)| truth[k]).collect();
    spearman(&est, &real)
}

#[test]
fn shrunk_top20_tracks_true_rates_better_than_raw_rates() {
    let mut wins = 0;
    let seeds = [11, 12, 13, 14, 15];
    for seed in seeds {
        let (stats, truth) = stats_for(seed, 1_200);
        let (_, ranked) = rank(&stats);
        let mut shrunk: Vec<(String, f64)> = ranked
            .iter()
            .map(|r| (r.keyword.clone(), r.rate_estimate))
            .collect();
        shrunk.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut raw: Vec<(String, f64)> =
            ranked.iter().map(|r| (r.keyword.clone(), r.rate)).collect();
        raw.sort_by(|a, b| b.1.total_cmp(&a.1));
        let (s, r) = (
            top20_correlation(&shrunk, &truth),
            top20_correlation(&raw, &truth),
        );
        eprintln!("seed {seed}: shrunk {s:.3}, raw {r:.3}");
        assert!(s.is_finite() && r.is_finite());
        if s > r {
            wins += 1;
        }
    }
    assert_eq!(wins, seeds.len(), "shrunk should beat raw on every seed");
}

#[test]
fn budget_end_to_end_invariants() {
    let (stats, _) = stats_for(21, 800);
    for method in [Method::Shrunk, Method::Thompson] {
        let p = BudgetParams {
            total_cents: 500_000,
            min_share: 0.01,
            max_share: 0.2,
            method,
            seed: 9,
            ..BudgetParams::default()
        };
        let rows = budget(&stats, &p).unwrap();
        assert_eq!(rows.iter().map(|r| r.amount_cents).sum::<i64>(), 500_000);
        for r in &rows {
            if keyrank::privacy::is_pseudo_keyword(&r.keyword) {
                assert_eq!(r.amount_cents, 0, "{}", r.keyword);
            } else {
                assert!(r.share >= 0.01 - 1e-4 && r.share <= 0.2 + 1e-4, "{r:?}");
                assert!(!r.reason.is_empty());
            }
        }
        assert_eq!(budget(&stats, &p).unwrap(), rows);
    }
}
