//! Budget simulation: `keyrank generate` gives a world with known true conversion
//! rates; each method splits a budget over several periods, learning from what its
//! own spending bought; revenue is reported as a fraction of an oracle that knows the
//! true rates. `cargo bench --bench budget_sim`.

use keyrank::generate::{GOAL, GenerateConfig, LOG_FILE, SITE, generate};
use keyrank::ingest::{IngestConfig, run};
use keyrank::rank::{BudgetParams, KeywordStats, Method, budget, load_stats};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution};
use std::collections::BTreeMap;

const PERIODS: usize = 6;
const BUDGET_CENTS: i64 = 1_000_000;
/// Mean order value of the generator (uniform 5.00–200.00).
const ORDER_VALUE: f64 = 102.5;
const MAX_SHARE: f64 = 0.25;

/// A cost per click between 0.50 and 2.00, fixed per keyword.
fn cpc(keyword: &str) -> f64 {
    0.5 + (xxhash_rust::xxh3::xxh3_64(keyword.as_bytes()) % 151) as f64 / 100.0
}

/// Caps every share at MAX_SHARE and hands the excess to the others in proportion,
/// so naive allocation plays under the same rule as keyrank and the oracle.
fn cap_shares(mut shares: Vec<(String, f64)>) -> Vec<(String, f64)> {
    loop {
        let excess: f64 = shares.iter().map(|(_, s)| (s - MAX_SHARE).max(0.0)).sum();
        if excess <= 1e-12 {
            return shares;
        }
        let free: f64 = shares
            .iter()
            .filter(|(_, s)| *s < MAX_SHARE)
            .map(|(_, s)| s)
            .sum();
        if free <= 0.0 {
            return shares;
        }
        for (_, s) in shares.iter_mut() {
            if *s >= MAX_SHARE {
                *s = MAX_SHARE;
            } else {
                *s += excess * *s / free;
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Policy {
    Keyrank(Method),
    Naive,
    Oracle,
}

fn shares(
    policy: Policy,
    stats: &[KeywordStats],
    truth: &BTreeMap<String, f64>,
    seed: u64,
) -> BTreeMap<String, f64> {
    match policy {
        Policy::Keyrank(method) => {
            let p = BudgetParams {
                total_cents: BUDGET_CENTS,
                max_share: MAX_SHARE,
                method,
                seed,
                ..BudgetParams::default()
            };
            budget(stats, &p)
                .unwrap()
                .into_iter()
                .map(|r| (r.keyword, r.share))
                .collect()
        }
        Policy::Naive => {
            let real: Vec<&KeywordStats> = stats
                .iter()
                .filter(|s| truth.contains_key(&s.keyword))
                .collect();
            let total: f64 = real.iter().map(|s| s.conversions).sum();
            cap_shares(
                real.iter()
                    .map(|s| (s.keyword.clone(), s.conversions / total))
                    .collect(),
            )
            .into_iter()
            .collect()
        }
        Policy::Oracle => {
            let mut order: Vec<(&String, f64)> = truth
                .iter()
                .map(|(k, r)| (k, r * ORDER_VALUE / cpc(k)))
                .collect();
            order.sort_by(|a, b| b.1.total_cmp(&a.1));
            let mut left = 1.0;
            order
                .into_iter()
                .map(|(k, _)| {
                    let s = MAX_SHARE.min(left);
                    left -= s;
                    (k.clone(), s)
                })
                .collect()
        }
    }
}

fn simulate(
    policy: Policy,
    start: &[KeywordStats],
    truth: &BTreeMap<String, f64>,
    seed: u64,
) -> f64 {
    let mut stats = start.to_vec();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut revenue = 0.0;
    for period in 0..PERIODS {
        let split = shares(policy, &stats, truth, seed + period as u64);
        for (k, share) in split {
            let Some(rate) = truth.get(&k) else { continue };
            let spend = share * BUDGET_CENTS as f64 / 100.0;
            let visits = (spend / cpc(&k)).floor();
            revenue += visits * rate * ORDER_VALUE;
            let conv = Binomial::new(visits as u64, *rate)
                .unwrap()
                .sample(&mut rng) as f64;
            match stats.iter_mut().find(|s| s.keyword == k) {
                Some(s) => {
                    s.visits += visits;
                    s.conversions += conv;
                    s.revenue += conv * ORDER_VALUE;
                    s.clicks = Some(s.clicks.unwrap_or(0.0) + visits);
                    s.cost = Some(s.cost.unwrap_or(0.0) + spend);
                }
                None => stats.push(KeywordStats {
                    keyword: k.clone(),
                    visits,
                    conversions: conv,
                    revenue: conv * ORDER_VALUE,
                    clicks: Some(visits),
                    cost: Some(spend),
                }),
            }
        }
    }
    revenue
}

fn main() {
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let mut totals: BTreeMap<&str, f64> = BTreeMap::new();
    let seeds = [1u64, 2, 3, 4, 5];
    for seed in seeds {
        let dir = tempfile::tempdir().unwrap();
        let truth = generate(
            &GenerateConfig {
                visitors: 3_000,
                seed,
                ..GenerateConfig::default()
            },
            dir.path(),
        )
        .unwrap();
        let cfg = IngestConfig {
            store: dir.path().join("store"),
            inputs: vec![dir.path().join(LOG_FILE).display().to_string()],
            sites: vec![SITE.into()],
            goals: vec![GOAL.into()],
            progress: false,
            ..IngestConfig::default()
        };
        run(&cfg).unwrap();
        let store = keyrank::store::Store::open(&cfg.store).unwrap();
        // Observed organic history, with each keyword's clicks priced at its cpc.
        let mut start = load_stats(&store, None, None, "last", false, None).unwrap();
        for s in start.iter_mut() {
            s.clicks = Some(s.visits);
            s.cost = Some(s.visits * cpc(&s.keyword));
        }
        let oracle = simulate(Policy::Oracle, &start, &truth.true_rates, seed);
        for (name, policy) in [
            ("shrunk", Policy::Keyrank(Method::Shrunk)),
            ("thompson", Policy::Keyrank(Method::Thompson)),
            ("naive proportional", Policy::Naive),
        ] {
            let frac = simulate(policy, &start, &truth.true_rates, seed) / oracle;
            println!(
                "seed {seed}: {name:<20} {:.1}% of oracle revenue",
                frac * 100.0
            );
            *totals.entry(name).or_default() += frac / seeds.len() as f64;
        }
    }
    println!("mean over {} seeds, {PERIODS} periods each:", seeds.len());
    for (name, frac) in &totals {
        println!("  {name:<20} {:.1}% of oracle revenue", frac * 100.0);
    }
}
