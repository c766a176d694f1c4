//! The dashboard's roll-ups: every sum over any range of days, read through the
//! period table once its roll-ups are built, equals the same sum over the store's day
//! files, to the last digit; and the roll-ups, not the day files, answer the sums
//! that do not need a day's rows.

use crate::common::{generated_store_with, ingest_generated};
use keyrank::generate::{COSTS_FILE, GenerateConfig, generate};
use keyrank::query::rollup::{PeriodTable, Source, monday_of};
use keyrank::store::Store;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

/// Every cell as text, rows sorted (the queries below order nothing).
async fn answer(ctx: &datafusion::prelude::SessionContext, sql: &str) -> Vec<Vec<String>> {
    let (_, batches) = keyrank::query::run(ctx, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut rows = crate::common::cells(&batches);
    rows.sort();
    rows
}

/// Each shape over each range (`{range}` a day filter, `{week}` the week of a day)
/// answers through every one of `periods` as it does over the store's own tables.
async fn same_as_store(
    store: &datafusion::prelude::SessionContext,
    periods: &[&datafusion::prelude::SessionContext],
    shapes: &[(String, Source)],
    ranges: &[(i64, i64)],
) {
    let week_sql = "CAST(date_trunc('week', CAST(day AS TIMESTAMP)) AS DATE)";
    for (a, b) in ranges {
        let range = format!("day BETWEEN DATE '{}' AND DATE '{}'", day(*a), day(*b));
        for (shape, _) in shapes {
            let over_store = shape.replace("{range}", &range).replace("{week}", week_sql);
            let over_period = shape.replace("{range}", &range).replace("{week}", "week");
            let truth = answer(store, &over_store).await;
            for p in periods {
                assert_eq!(answer(p, &over_period).await, truth, "{over_period}");
            }
        }
    }
}

fn day(d: i64) -> String {
    keyrank::parse::time::format_day(d as i32)
}

#[test]
fn monday_is_the_start_of_the_iso_week() {
    // 1970-01-01 was a Thursday; 2024-01-01 a Monday; 2024-03-03 a Sunday.
    assert_eq!(monday_of(0), -3);
    let jan1 = keyrank::parse::time::parse_day("2024-01-01").unwrap() as i64;
    assert_eq!(monday_of(jan1), jan1);
    assert_eq!(monday_of(jan1 + 6), jan1);
    assert_eq!(monday_of(jan1 + 7), jan1 + 7);
    assert_eq!(monday_of(jan1 - 1), jan1 - 7);
    let sunday = keyrank::parse::time::parse_day("2024-03-03").unwrap() as i64;
    assert_eq!(monday_of(sunday), sunday - 6);
}

#[test]
fn sums_over_any_range_equal_the_stores_and_come_from_the_rollups() {
    let dir = tempfile::tempdir().unwrap();
    let (_, store_dir) = generated_store_with(
        dir.path(),
        &GenerateConfig {
            visitors: 2_500,
            days: 45,
            costs: true,
            ..GenerateConfig::default()
        },
    );
    // The paid keywords' daily costs, for the ad_costs roll-up.
    let (costs_rows, _) = keyrank::import::costs::read(&dir.path().join(COSTS_FILE), None).unwrap();
    assert!(!costs_rows.is_empty());
    {
        let st = Store::open(&store_dir).unwrap();
        let mut w = st.writer(std::time::Duration::from_secs(5)).unwrap();
        keyrank::import::costs::store(&mut w, &costs_rows).unwrap();
        w.commit(crate::common::test_entry("costs import")).unwrap();
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (with_files, costs, shapes, first, last) = rt.block_on(async {
        let store = Store::open(&store_dir).unwrap();
        let ctx = keyrank::query::session(&store).await.unwrap();
        // Two period tables: one that finds the partial weeks' days among all the day
        // files, one that reads their own files (as the dashboard's does).
        let pages = keyrank::store::object_stores::session_context().unwrap();
        let period = Arc::new(PeriodTable::new(keyrank::query::rollup::KEYWORD_DAILY, ctx.table_provider("keyword_daily").await.unwrap(),
        ));
        pages
            .register_table("keyword_daily", period.clone())
            .unwrap();
        keyrank::query::udf::register(&pages);
        let snapshot = store.snapshot().await.unwrap();
        let by_files = keyrank::store::object_stores::session_context().unwrap();
        let with_files = Arc::new(
            PeriodTable::new(keyrank::query::rollup::KEYWORD_DAILY, ctx.table_provider("keyword_daily").await.unwrap())
                .with_day_files(&store, &snapshot.table("keyword_daily").files),
        );
        by_files
            .register_table("keyword_daily", with_files.clone())
            .unwrap();
        keyrank::query::udf::register(&by_files);
        // Both sessions read ad_costs by period too, from its own roll-up.
        let costs = Arc::new(
            PeriodTable::new(
                keyrank::query::rollup::AD_COSTS,
                ctx.table_provider("ad_costs").await.unwrap(),
            )
            .with_day_files(&store, &snapshot.table("ad_costs").files),
        );
        for c in [&pages, &by_files] {
            c.register_table("ad_costs", costs.clone()).unwrap();
        }
        let span = answer(
            &ctx,
            "SELECT CAST(MIN(day) AS INT), CAST(MAX(day) AS INT) FROM keyword_daily",
        )
        .await;
        let (first, last): (i64, i64) = (span[0][0].parse().unwrap(), span[0][1].parse().unwrap());
        assert!(last - first >= 40, "{first}..{last}");

        // Sums as the pages ask for them: by keyword under every model, by week, by
        // day, by engine, one keyword's landing pages; `week` spelled out over the
        // store, read as a column from the period table.
        let models = ["first", "last", "linear", "position", "time_decay"];
        let all: Vec<String> = models
            .iter()
            .map(|m| format!("SUM(conversions_{m}), SUM(revenue_{m})"))
            .collect();
        let all = all.join(", ");
        let shapes: Vec<(String, Source)> = vec![
            (
                format!("SELECT keyword, SUM(visits), {all} FROM keyword_daily WHERE keyword IS NOT NULL AND {{range}} AND NOT estimated GROUP BY keyword"),
                Source::Weeks,
            ),
            (
                "SELECT {week} AS w, keyword, SUM(visits) FROM keyword_daily WHERE {range} GROUP BY 1, 2".to_string(),
                Source::Weeks,
            ),
            (
                "SELECT day, SUM(conversions_last), SUM(revenue_last), SUM(visits), SUM(visitors) FROM keyword_daily WHERE {range} AND NOT estimated GROUP BY day".into(),
                Source::Days,
            ),
            (
                "SELECT source, medium, SUM(visits), SUM(CASE WHEN keyword = '(not provided)' THEN visits ELSE 0 END), SUM(conversions_linear) FROM keyword_daily WHERE medium IN ('organic', 'cpc') AND {range} GROUP BY source, medium".into(),
                Source::Weeks,
            ),
            (
                "SELECT engine, keyword, SUM(clicks), SUM(impressions), SUM(cost) FROM ad_costs WHERE {range} GROUP BY engine, keyword".into(),
                Source::Weeks,
            ),
            // The ranking's join of credit and costs, as `budget_inputs` reads them.
            (
                "SELECT c.keyword, c.visits, c.conversions, k.cost FROM (SELECT keyword, SUM(visits) AS visits, SUM(conversions_last) AS conversions FROM keyword_daily WHERE {range} AND keyword IS NOT NULL GROUP BY keyword) c LEFT JOIN (SELECT keyword, SUM(cost) AS cost FROM ad_costs WHERE {range} GROUP BY keyword) k ON c.keyword = k.keyword".into(),
                Source::Weeks,
            ),
            // What the week roll-up does not keep (campaigns, visitors) is the store's.
            (
                "SELECT keyword, campaign, SUM(visits), SUM(visitors), SUM(pageviews) FROM keyword_daily WHERE {range} GROUP BY keyword, campaign".into(),
                Source::Store,
            ),
            (
                "SELECT landing, SUM(visits), SUM(conversions_position) FROM keyword_daily WHERE keyword = (SELECT keyword FROM keyword_daily WHERE keyword NOT LIKE '(%)' GROUP BY keyword ORDER BY SUM(visits) DESC, keyword LIMIT 1) AND {range} GROUP BY landing".into(),
                Source::Weeks,
            ),
        ];
        period.install(&ctx).await.unwrap();
        with_files.install(&ctx).await.unwrap();
        costs.install(&ctx).await.unwrap();
        assert!(period.has_rollups());
        let rows = period.rollup_rows();
        assert!(rows.iter().all(|(_, n)| *n > 0), "{rows:?}");

        // Ranges: the whole store, the default bounds, week-aligned ones, ones that
        // start and end mid-week, one day, a range with no full week, and random ones.
        let mut ranges: Vec<(i64, i64)> = vec![
            (first, last),
            (0, 2_932_896),
            (monday_of(first) + 7, monday_of(first) + 20),
            (first + 3, last - 2),
            (first + 10, first + 10),
            (monday_of(first + 14) + 2, monday_of(first + 14) + 8),
            (last + 5, last + 30),
        ];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for _ in 0..12 {
            let a = rng.random_range(first - 3..=last);
            let b = rng.random_range(a..=last + 3);
            ranges.push((a, b));
        }
        same_as_store(&ctx, &[&pages, &by_files], &shapes, &ranges).await;
        // And the roll-ups answered: every shape above from the one it needs.
        let answered = |s: Source| period.answered(s) + costs.answered(s);
        for (shape, source) in &shapes {
            let before = answered(*source);
            let range = format!("day BETWEEN DATE '{}' AND DATE '{}'", day(first), day(last));
            answer(&pages, &shape.replace("{range}", &range).replace("{week}", "week")).await;
            assert!(answered(*source) > before, "{shape} from {source:?}");
        }
        // A scan that reads a day's rows with a keyword is the store's.
        let before = period.answered(Source::Store);
        let range = format!("day BETWEEN DATE '{}' AND DATE '{}'", day(first), day(last));
        assert_eq!(
            answer(&pages, &format!("SELECT day, keyword, SUM(visits) FROM keyword_daily WHERE {range} GROUP BY 1, 2")).await,
            answer(&ctx, &format!("SELECT day, keyword, SUM(visits) FROM keyword_daily WHERE {range} GROUP BY 1, 2")).await
        );
        assert!(period.answered(Source::Store) > before);
        assert!(with_files.weeks_summed() >= 7, "{}", with_files.weeks_summed());
        (with_files, costs, shapes, first, last)
    });

    // A new version: a short log ingested over the last days (it replaces them and
    // adds some more), and one mid-span week's costs imported again, dearer. Its
    // roll-ups carry the earlier version's over but for the changed weeks, and
    // answer every sum as its own store does.
    let more = tempfile::tempdir().unwrap();
    generate(
        &GenerateConfig {
            visitors: 300,
            days: 3,
            seed: 9,
            start: day(last - 1),
            ..GenerateConfig::default()
        },
        more.path(),
    )
    .unwrap();
    ingest_generated(&store_dir, more.path());
    let week = monday_of(first) + 14;
    let dearer: Vec<_> = costs_rows
        .iter()
        .filter(|r| (week..week + 7).contains(&i64::from(r.day)))
        .map(|r| keyrank::import::costs::CostRow {
            cents: r.cents * 2,
            ..r.clone()
        })
        .collect();
    assert!(!dearer.is_empty());
    {
        let store = Store::open(&store_dir).unwrap();
        let mut w = store.writer(std::time::Duration::from_secs(5)).unwrap();
        keyrank::import::costs::store(&mut w, &dearer).unwrap();
        w.commit(crate::common::test_entry("costs import")).unwrap();
    }
    rt.block_on(async {
        let store = Store::open(&store_dir).unwrap();
        let ctx2 = keyrank::query::session(&store).await.unwrap();
        let snapshot2 = store.snapshot().await.unwrap();
        let next = keyrank::store::object_stores::session_context().unwrap();
        let mut carried = Vec::new();
        for (spec, earlier) in [
            (keyrank::query::rollup::KEYWORD_DAILY, &with_files),
            (keyrank::query::rollup::AD_COSTS, &costs),
        ] {
            let t = Arc::new(
                PeriodTable::new(spec, ctx2.table_provider(spec.table).await.unwrap())
                    .with_day_files(&store, &snapshot2.table(spec.table).files),
            );
            assert!(
                t.install_after(earlier, &ctx2).await.unwrap(),
                "{}",
                spec.table
            );
            next.register_table(spec.table, t.clone()).unwrap();
            carried.push(t);
        }
        keyrank::query::udf::register(&next);
        // keyword_daily: the last two days' week and the next (at most 2); ad_costs: one.
        let summed: Vec<usize> = carried.iter().map(|t| t.weeks_summed()).collect();
        assert!((1..=2).contains(&summed[0]) && summed[1] == 1, "{summed:?}");
        let span = answer(
            &ctx2,
            "SELECT CAST(MIN(day) AS INT), CAST(MAX(day) AS INT) FROM keyword_daily",
        )
        .await;
        let last2: i64 = span[0][1].parse().unwrap();
        assert!(last2 > last, "{last2} after {last}");
        let ranges = [
            (first, last2),
            (first + 3, last2 - 1),
            (week, week + 6),
            (week + 2, last2),
            (last - 8, last2 + 4),
        ];
        same_as_store(&ctx2, &[&next], &shapes, &ranges).await;
    });
}
