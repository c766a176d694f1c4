//! On generated data with known true conversion rates, the shrunk ranking agrees with
//! the truth better than raw conversion rates do; budget invariants end to end.

use crate::common::{generated_store, generated_store_with, ingest, spearman};
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

/// Response curves end to end: paid visits and sales in the log, daily ad costs
/// imported, `paid_keywords` joining them, and a split that keeps its promises.
#[test]
fn budget_by_curves_end_to_end() {
    use keyrank::rank::curves::{CurveParams, load, recommend};
    let dir = tempfile::tempdir().unwrap();
    let mut log = String::new();
    let mut costs = String::from("Day,Engine,Keyword,Clicks,Impressions,Cost,Currency\n");
    let mut ip = 0u32;
    for day in 0..14u32 {
        let date = format!("2024-03-{:02}", day + 1);
        for (kw, base, clicks_at_base, every) in [
            ("red shoes", 40.0, 60.0, 15),
            ("hiking boots", 30.0, 40.0, 10),
        ] {
            // Spend wobbles from day to day; clicks grow with it, less than in proportion.
            let s: f64 = base * (0.8 + 0.4 * ((day * 7 + kw.len() as u32) % 11) as f64 / 10.0);
            let clicks = (clicks_at_base * (s / base).powf(0.6)).round() as u32;
            costs.push_str(&format!(
                "{date},Google Ads,{kw},{clicks},{},{s:.2},EUR\n",
                clicks * 10
            ));
            for c in 0..clicks {
                ip += 1;
                let a = format!("10.{}.{}.{}", ip / 65536 % 256, ip / 256 % 256, ip % 256);
                let t = format!(
                    "{:02}/Mar/2024:12:{:02}:{:02} +0000",
                    day + 1,
                    c % 60,
                    c % 60
                );
                let q = format!(
                    "utm_source=google&utm_medium=cpc&utm_term={}",
                    kw.replace(' ', "+")
                );
                log.push_str(&format!("{a} - - [{t}] \"GET /p?{q} HTTP/1.1\" 200 1 \"https://www.google.com/\" \"Mozilla/5.0 (X11)\"\n"));
                if c % every == 0 {
                    log.push_str(&format!("{a} - - [{t}] \"GET /checkout/complete?order_id={ip}&revenue=80.00 HTTP/1.1\" 200 1 \"https://shop.example/p\" \"Mozilla/5.0 (X11)\"\n"));
                }
            }
        }
        // An organic keyword that sells: never paid, so never funded.
        ip += 1;
        log.push_str(&format!("10.9.9.{} - - [{:02}/Mar/2024:13:00:00 +0000] \"GET /boots HTTP/1.1\" 200 1 \"https://www.bing.com/search?q=wool+socks\" \"Mozilla/5.0 (X11)\"\n", day, day + 1));
    }
    let log_path = dir.path().join("access.log");
    std::fs::write(&log_path, log).unwrap();
    let costs_path = dir.path().join("costs.csv");
    std::fs::write(&costs_path, costs).unwrap();
    let store = dir.path().join("store");
    ingest(&store, &[&log_path], |c| {
        c.sites = vec!["shop.example".into()];
        c.goals = vec!["/checkout/complete".into()];
        c.min_visitors = 1;
    });
    let st = keyrank::store::Store::open(&store).unwrap();
    let (rows, _) = keyrank::import::costs::read(&costs_path, None).unwrap();
    let mut w = st.writer(std::time::Duration::from_secs(5)).unwrap();
    keyrank::import::costs::store(&mut w, &rows).unwrap();
    w.commit(crate::common::test_entry("costs import")).unwrap();

    let (days, period, from, to) = load(&st, None, None, "last", None).unwrap();
    assert_eq!(
        (period, from.as_str(), to.as_str()),
        (14, "2024-03-01", "2024-03-14")
    );
    assert_eq!(days.len(), 28);
    assert!(
        days.iter().all(|d| d.conversions > 0.0 && d.revenue > 0.0),
        "{days:?}"
    );
    let p = CurveParams {
        total_cents: Some(90_000),
        min_days: 5,
        seed: 4,
        ..CurveParams::default()
    };
    let (split, totals) = recommend(&days, &p, period).unwrap();
    assert_eq!(split.iter().map(|r| r.amount_cents).sum::<i64>(), 90_000);
    assert_eq!(split.len(), 2, "only paid keywords: {split:?}");
    for r in &split {
        assert!(
            r.recommended_spend >= r.current_spend * 0.7 - 0.01
                && r.recommended_spend <= r.current_spend * 1.3 + 0.01,
            "{r:?}"
        );
        assert!(
            r.expected_revenue_low <= r.expected_revenue
                && r.expected_revenue <= r.expected_revenue_high,
            "{r:?}"
        );
    }
    assert!(totals.probability_better >= 0.0 && totals.probability_better <= 1.0);
    assert_eq!(
        recommend(&days, &p, period).unwrap().0,
        split,
        "deterministic for a seed"
    );

    // The same split as a report: charts of spend and expected revenue, and the table.
    let config = dir.path().join("reports.toml");
    std::fs::write(
        &config,
        format!(
            "store = {:?}\n\n[[report]]\nname = \"paid\"\ntitle = \"Paid\"\nquery = \"budget\"\nformats = [\"html\", \"csv\"]\noutput = {:?}\nparams = {{ method = \"curves\", from = \"2024-03-01\", to = \"2024-03-14\", total = \"900\" }}\n",
            store.display().to_string(),
            dir.path().join("out/{name}.{ext}").display().to_string()
        ),
    )
    .unwrap();
    let cfg = keyrank::report::Config::load(&config).unwrap();
    let as_of = chrono::NaiveDate::from_ymd_opt(2024, 3, 15).unwrap();
    keyrank::report::run_report(&cfg, &cfg.reports[0], as_of).unwrap();
    let html = std::fs::read_to_string(dir.path().join("out/paid.html")).unwrap();
    assert!(
        html.contains("Recommended spend") && html.contains("Expected revenue"),
        "charts"
    );
    // One small response-curve chart per paid keyword, each with today's and the
    // recommended point.
    assert_eq!(html.matches("class=\"chart curve-chart\"").count(), 2);
    assert_eq!(html.matches("<circle class=\"now\"").count(), 2);
    assert_eq!(html.matches("<circle class=\"rec\"").count(), 2);
    assert!(html.contains("Content opportunities"));
    let csv = std::fs::read_to_string(dir.path().join("out/paid.csv")).unwrap();
    for kw in ["red shoes", "hiking boots", "(total)"] {
        assert!(csv.contains(kw), "{kw} in {csv}");
    }
    let total_row = csv.lines().find(|l| l.starts_with("(total)")).unwrap();
    assert!(total_row.contains(",900"), "{total_row}");
}

/// On sample data with known response curves (`generate --costs`), the curves' split
/// earns more than today's split on the true curves, and the truth at the recommended
/// spend lies inside the 80 % interval for most keywords.
#[test]
fn curves_split_beats_the_current_split_on_the_true_curves() {
    use keyrank::generate::{COSTS_FILE, GenerateConfig};
    use keyrank::rank::curves::{CurveParams, split_from_store};
    let (mut inside, mut cases) = (0, 0);
    for seed in [5, 6, 7] {
        let dir = tempfile::tempdir().unwrap();
        let (truth, store) = generated_store_with(
            dir.path(),
            &GenerateConfig {
                visitors: 9_000,
                days: 28,
                seed,
                costs: true,
                ..GenerateConfig::default()
            },
        );
        let st = Store::open(&store).unwrap();
        let (rows, summary) =
            keyrank::import::costs::read(&dir.path().join(COSTS_FILE), None).unwrap();
        assert_eq!(summary.bad_rows, 0);
        let mut w = st.writer(std::time::Duration::from_secs(5)).unwrap();
        keyrank::import::costs::store(&mut w, &rows).unwrap();
        w.commit(crate::common::test_entry("costs import")).unwrap();

        let params = CurveParams {
            seed,
            ..CurveParams::default()
        };
        let (split, totals, _) = split_from_store(&st, None, None, "last", None, &params).unwrap();
        assert_eq!(totals.days, 28);
        let (mut now, mut then) = (0.0, 0.0);
        for r in &split {
            let curve = truth
                .paid_curves
                .iter()
                .find(|c| c.engine == r.engine && c.keyword == r.keyword)
                .unwrap_or_else(|| panic!("money only to bought keywords: {r:?}"));
            let (a, z) = (
                curve.revenue(r.current_spend, 28.0),
                curve.revenue(r.recommended_spend, 28.0),
            );
            now += a;
            then += z;
            cases += 1;
            if r.expected_revenue_low <= z && z <= r.expected_revenue_high {
                inside += 1;
            }
        }
        assert_eq!(split.len(), truth.paid_curves.len());
        let spent: f64 = split.iter().map(|r| r.current_spend).sum();
        let moved: f64 = split.iter().map(|r| r.recommended_spend).sum();
        assert!((spent - moved).abs() < 0.005, "{spent} vs {moved}");
        eprintln!("seed {seed}: true revenue {now:.0} today, {then:.0} recommended");
        // Content opportunities: unpaid keywords whose true rate beats the average one.
        let stats = load_stats(&st, None, None, "last", false, None).unwrap();
        let chances = keyrank::rank::content_opportunities(&stats, 30.0, 10);
        assert!(!chances.is_empty());
        let rate = |k: &str| truth.true_rates[k];
        let mean_rate = truth.true_rates.values().sum::<f64>() / truth.true_rates.len() as f64;
        let chance_rate =
            chances.iter().map(|r| rate(&r.keyword)).sum::<f64>() / chances.len() as f64;
        assert!(chance_rate > mean_rate, "{chance_rate} vs {mean_rate}");
        for r in &chances {
            assert!(
                truth.paid_curves.iter().all(|c| c.keyword != r.keyword),
                "{} is bought",
                r.keyword
            );
        }
        assert!(
            then > now,
            "seed {seed}: the split loses on the true curves"
        );
    }
    assert!(
        inside as f64 >= 0.6 * cases as f64,
        "truth inside the 80 % interval in {inside} of {cases} cases"
    );
}

/// The dashboard's ledger of every cost day gives any period's paid days exactly as the
/// store's query reads them, under every model.
#[test]
fn a_ledger_cuts_any_period_as_the_store_reads_it() {
    use keyrank::generate::{COSTS_FILE, GenerateConfig};
    use keyrank::rank::curves::{CurveParams, fit_keywords, recommend, recommend_fitted};
    use keyrank::rank::paid::{PaidLedger, load_on};
    let dir = tempfile::tempdir().unwrap();
    let (_, store) = generated_store_with(
        dir.path(),
        &GenerateConfig {
            visitors: 3_000,
            days: 40,
            seed: 11,
            costs: true,
            ..GenerateConfig::default()
        },
    );
    let st = Store::open(&store).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ctx = rt.block_on(keyrank::query::session(&st)).unwrap();
    // No cost data yet: an empty ledger, and an empty period like the store's.
    let empty = rt.block_on(PaidLedger::load_on(&ctx)).unwrap();
    assert!(empty.is_empty());
    assert_eq!(
        empty.period("last", None, None).unwrap(),
        rt.block_on(load_on(&ctx, None, None, "last")).unwrap()
    );
    let (rows, _) = keyrank::import::costs::read(&dir.path().join(COSTS_FILE), None).unwrap();
    let mut w = st.writer(std::time::Duration::from_secs(5)).unwrap();
    keyrank::import::costs::store(&mut w, &rows).unwrap();
    w.commit(crate::common::test_entry("costs import")).unwrap();
    let ctx = rt.block_on(keyrank::query::session(&st)).unwrap();

    // One ledger holds every model's figures.
    let ledger = rt.block_on(PaidLedger::load_on(&ctx)).unwrap();
    assert!(ledger.len() > 100, "{} cost days", ledger.len());
    let periods = [
        (None, None),
        (Some("2024-03-10"), None),
        (None, Some("2024-03-20")),
        (Some("2024-03-06"), Some("2024-03-19")),
        (Some("2024-03-13"), Some("2024-03-13")),
        (Some("2024-02-01"), Some("2024-02-20")),
        (Some("2024-04-05"), Some("2024-12-31")),
        (Some("2023-12-01"), Some("2025-01-31")),
    ];
    let (mut credited, mut solved) = (0, 0);
    for model in ["last", "first", "linear", "position", "time_decay"] {
        for (from, to) in periods {
            let cut = ledger.period(model, from, to).unwrap();
            let read = rt.block_on(load_on(&ctx, from, to, model)).unwrap();
            assert_eq!(cut, read, "{model} {from:?}..{to:?}");
            // The dashboard fits the ledger's borrowed days; the CLI the days read:
            // the same split.
            let days = ledger.cut(model, from, to).unwrap();
            let (keywords, covers) = (days.keywords(), days.covers);
            assert_eq!(covers, read.1);
            let p = CurveParams::default();
            let borrowed = recommend_fitted(&fit_keywords(&keywords, &p), &p, covers);
            let copied = recommend(&read.0, &p, read.1);
            assert_eq!(borrowed.is_ok(), copied.is_ok(), "{model} {from:?}..{to:?}");
            solved += usize::from(borrowed.is_ok());
            assert_eq!(borrowed.ok(), copied.ok(), "{model} {from:?}..{to:?}");
            credited += cut.0.iter().filter(|d| d.conversions > 0.0).count();
        }
    }
    assert!(credited > 0, "some paid days carry conversions");
    assert!(solved > 10, "{solved} periods split");
    // A day that is not a day is refused as the store's read refuses it.
    assert!(ledger.period("last", Some("2024-13-01"), None).is_err());
    assert!(ledger.period("lastt", None, None).is_err());
    assert!(
        rt.block_on(load_on(&ctx, Some("2024-13-01"), None, "last"))
            .is_err()
    );

    // A later version: two days' costs imported again, dearer, one of them with a
    // keyword of its own, and a day after the last. A ledger carried over from the
    // earlier one, reading only those days again, equals one read whole.
    let last = rows.iter().map(|r| r.day).max().unwrap();
    let mut days: std::collections::BTreeSet<i32> = [rows[0].day + 3, rows[0].day + 11].into();
    let mut again: Vec<_> = rows
        .iter()
        .filter(|r| days.contains(&r.day))
        .map(|r| keyrank::import::costs::CostRow {
            cents: r.cents * 3,
            ..r.clone()
        })
        .collect();
    assert!(again.len() >= 2);
    again.push(keyrank::import::costs::CostRow {
        keyword: "a keyword bought once".into(),
        ..again[0].clone()
    });
    again.push(keyrank::import::costs::CostRow {
        day: last + 1,
        ..again[1].clone()
    });
    days.insert(last + 1);
    let mut w = st.writer(std::time::Duration::from_secs(5)).unwrap();
    keyrank::import::costs::store(&mut w, &again).unwrap();
    w.commit(crate::common::test_entry("costs import")).unwrap();
    let ctx2 = rt.block_on(keyrank::query::session(&st)).unwrap();
    let before = ledger;
    let whole = rt.block_on(PaidLedger::load_on(&ctx2)).unwrap();
    assert_ne!(before, whole, "the commit changed the ledger");
    let carried = rt
        .block_on(PaidLedger::load_after(&ctx2, &before, &days))
        .unwrap();
    assert_eq!(carried, whole);
    // Every model of the carried-over ledger cuts as the new version's store reads.
    for model in ["last", "linear", "time_decay"] {
        assert_eq!(
            carried.period(model, None, None).unwrap(),
            rt.block_on(load_on(&ctx2, None, None, model)).unwrap(),
            "{model}"
        );
    }
    // Before it is carried over, any period of the new version under any model is
    // the earlier ledger's but for the changed days, read from the store: as the new
    // version's store reads the whole period (the default period now ends a day later).
    // The cost data's span, as the dashboard knows it from its roll-ups: given, it is
    // not read again, and the periods are the same.
    let (_, batches) = rt
        .block_on(keyrank::query::run(
            &ctx2,
            "SELECT CAST(MIN(day) AS INT), CAST(MAX(day) AS INT) FROM ad_costs",
        ))
        .unwrap();
    let end = |c: usize| {
        use datafusion::arrow::array::AsArray;
        let a = batches[0].column(c);
        a.as_primitive::<datafusion::arrow::datatypes::Int32Type>()
            .value(0)
    };
    let span = (end(0), end(1));
    assert_eq!(span.1, last + 1);
    let mut met = 0;
    for model in ["last", "first", "position"] {
        for (from, to) in periods {
            let known = (model == "first").then_some(Some(span));
            let after = rt
                .block_on(before.period_after(&ctx2, &days, known, model, from, to))
                .unwrap();
            let read = rt.block_on(load_on(&ctx2, from, to, model)).unwrap();
            assert_eq!(after, read, "{model} {from:?}..{to:?}");
            met += usize::from(read.0.iter().any(|d| days.contains(&d.day)));
        }
    }
    assert!(met >= 6, "{met} periods hold a changed day");
    assert!(
        rt.block_on(before.period_after(&ctx2, &days, None, "lastt", None, None))
            .is_err()
    );
    // Nothing changed since: the same rows.
    let same = rt
        .block_on(PaidLedger::load_after(&ctx2, &whole, &Default::default()))
        .unwrap();
    assert_eq!(same, whole);
}
