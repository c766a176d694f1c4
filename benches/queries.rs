//! Canned-query benchmark: a store of `KEYRANK_BENCH_DAYS` days (default 365) ×
//! `KEYRANK_BENCH_KEYWORDS` keywords (default 50,000), one Parquet file per day, with
//! ad costs for a tenth of the keywords, generated from a seed; then every canned
//! query over the whole period, timed in this process (a fresh session each run, so
//! reading the store's snapshot counts), against the same query hand-written for
//! DuckDB over the same Parquet files (2 threads, in one Python process, connect +
//! query timed), when Python's `duckdb` module is installed. Prints the median of
//! `KEYRANK_BENCH_RUNS` runs (default 5) of each and the ratio, and checks that both
//! engines return the same number of rows.
//!
//! Then the dashboard (`keyrank serve`) over the same store: each page's server time,
//! first load (computed) and second load (the same store version, from memory).
//!
//! `cargo bench --bench queries`; `KEYRANK_BENCH_KEYWORDS=5000 cargo bench --bench queries`;
//! `KEYRANK_BENCH_STORE=DIR` keeps the generated store (and its peer script) in DIR and
//! reuses it on the next run, so the same store can be timed by other tools;
//! `KEYRANK_BENCH_PART=dashboard` times only the dashboard, `KEYRANK_BENCH_PART=periods`
//! its pages over 27 periods nobody warmed, `KEYRANK_BENCH_PART=commit` its first
//! answers after a day's commit, `KEYRANK_BENCH_PART=budget` the budget's fit and split
//! apart over the periods' 27 budget periods, `KEYRANK_BENCH_PART=queries` only the
//! canned queries against DuckDB.

#[path = "peer.rs"]
mod peer;

use keyrank::model::channel::Channel;
use keyrank::model::rollup::{Counts, Row, Segment};
use keyrank::store::Store;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const ENGINES: &[&str] = &["google", "bing", "yahoo", "duckduckgo", "yandex", "ecosia"];
const START_DAY: i32 = 19_723; // 2024-01-01

/// Writes the store: every keyword on every day, organic on its engine, a tenth paid.
fn build(dir: &Path, days: usize, keywords: usize) -> Store {
    let store = Store::create(dir).expect("store");
    let mut w = store
        .writer(std::time::Duration::from_secs(5))
        .expect("writer");
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let names: Vec<String> = (0..keywords)
        .map(|i| match i {
            0 => "(not provided)".to_string(),
            1 => "(other)".to_string(),
            _ => format!("keyword {i:06}"),
        })
        .collect();
    let mut costs = Vec::new();
    for chunk in (0..days).collect::<Vec<_>>().chunks(8) {
        let mut rows = Vec::with_capacity(chunk.len() * keywords);
        let day_list: Vec<i32> = chunk.iter().map(|d| START_DAY + *d as i32).collect();
        for &day in &day_list {
            for (i, kw) in names.iter().enumerate() {
                let paid = i % 10 == 3;
                let visits = 1 + (rng.random::<f64>().powi(3) * 60.0) as i64;
                let rate = 0.01 + 0.08 * ((i * 7919) % 100) as f64 / 100.0;
                let conv = (0..visits).filter(|_| rng.random::<f64>() < rate).count() as i64;
                let cents = conv * rng.random_range(1_000..15_000);
                let credit = conv * 1_000_000;
                rows.push(Row {
                    day,
                    channel: Channel {
                        source: ENGINES[i % ENGINES.len()].to_string(),
                        medium: if paid { "cpc" } else { "organic" }.to_string(),
                        keyword: Some(kw.clone()),
                        campaign: None,
                    },
                    landing: format!("/p/{}", i % 500),
                    segment: Segment::All,
                    counts: Counts {
                        visits,
                        visitors: visits,
                        pageviews: visits * 2,
                        conversions: [credit, credit, credit * 9 / 10, credit, credit * 8 / 10],
                        revenue: [cents, cents, cents * 9 / 10, cents, cents * 8 / 10],
                    },
                    estimated: false,
                    sketch: None,
                });
                if paid {
                    costs.push(keyrank::import::costs::CostRow {
                        day,
                        engine: ENGINES[i % ENGINES.len()].to_string(),
                        keyword: kw.clone(),
                        match_type: None,
                        clicks: visits + 1,
                        impressions: visits * 20,
                        cents: visits * rng.random_range(20..200),
                        currency: Some("EUR".into()),
                    });
                }
            }
        }
        keyrank::store::write_days(&mut w, &day_list, &rows).expect("write days");
    }
    keyrank::import::costs::store(&mut w, &costs).expect("costs");
    let entry = keyrank::store::LedgerEntry::of_command(
        &w,
        "bench",
        keyrank::store::now_rfc3339(),
        Vec::new(),
        Vec::<i32>::new(),
        serde_json::json!({}),
        serde_json::json!({}),
    );
    w.commit(entry).expect("commit");
    Store::open(dir).expect("open")
}

/// keyrank's wall time of one canned query (default parameters), and its row count.
fn keyrank_run(store: &Store, name: &str) -> (f64, usize) {
    let q = keyrank::query::queries::find(name).expect("query");
    let sql = q.render(&BTreeMap::new()).expect("render");
    let rt = keyrank::model::runtime::runtime().expect("runtime");
    let start = Instant::now();
    let rows = rt.block_on(async {
        let ctx = keyrank::query::session(store).await.expect("session");
        let (_, batches) = keyrank::query::run(&ctx, &sql).await.expect("run");
        batches.iter().map(|b| b.num_rows()).sum::<usize>()
    });
    (start.elapsed().as_secs_f64(), rows)
}

/// The DuckDB peer: each canned query hand-written over the same Parquet files, with
/// keyrank's functions as macros.
const DUCKDB: &str = r#"
import duckdb, json, sys, time
root, runs = sys.argv[1], int(sys.argv[2])
kd = f"read_parquet('{root}/keyword_daily/**/*.parquet')"
ac = f"read_parquet('{root}/ad_costs/**/*.parquet')"
macros = """
CREATE MACRO wl(s, n) AS (
  (LEAST(GREATEST(s / n, 0), 1) + 3.841458820694124 / (2 * n)
   - 1.959963984540054 * sqrt(LEAST(GREATEST(s / n, 0), 1) * (1 - LEAST(GREATEST(s / n, 0), 1)) / n
     + 3.841458820694124 / (4 * n * n))) / (1 + 3.841458820694124 / n));
CREATE MACRO wu(s, n) AS (
  (LEAST(GREATEST(s / n, 0), 1) + 3.841458820694124 / (2 * n)
   + 1.959963984540054 * sqrt(LEAST(GREATEST(s / n, 0), 1) * (1 - LEAST(GREATEST(s / n, 0), 1)) / n
     + 3.841458820694124 / (4 * n * n))) / (1 + 3.841458820694124 / n));
"""
q = {}
q["keyword_ranking"] = f"""
WITH per_keyword AS (
  SELECT keyword, SUM(visits) AS visits, SUM(conversions_last) AS conversions, SUM(revenue_last) AS revenue
  FROM {kd} WHERE keyword IS NOT NULL AND NOT estimated GROUP BY keyword),
m AS (
  SELECT COUNT(*) AS k, SUM(c) AS s, SUM(v) AS n, SUM(v * v) AS n2, SUM(c * c / v) AS s2n
  FROM (SELECT CAST(conversions AS DOUBLE) AS c, CAST(visits AS DOUBLE) AS v FROM per_keyword
        WHERE keyword NOT LIKE '(%)' AND visits > 0)),
f AS (
  SELECT LEAST(GREATEST(s / n, 1e-9), 1 - 1e-9) AS mean, GREATEST(n, 2) AS maxs,
    GREATEST(s2n - LEAST(GREATEST(s / n, 1e-9), 1 - 1e-9) ** 2 * n, 0) AS spread,
    n - n2 / n - (k - 1) AS denom, k FROM m),
r AS (SELECT mean, maxs, CASE WHEN denom > 0 THEN (spread / (mean * (1 - mean)) - (k - 1)) / denom ELSE 0 END AS rho FROM f),
prior AS (SELECT mean * st AS a, (1 - mean) * st AS b FROM
  (SELECT mean, CASE WHEN rho <= 0 THEN maxs ELSE LEAST(GREATEST(1 / rho - 1, 2), maxs) END AS st FROM r))
SELECT keyword, visits, conversions,
  ROUND(CAST(conversions AS DOUBLE) / NULLIF(visits, 0), 4) AS conversion_rate,
  ROUND((LEAST(GREATEST(conversions, 0), visits) + a) / (visits + a + b), 4) AS shrunk_rate,
  ROUND(wl(conversions, visits), 4) AS rate_low, ROUND(wu(conversions, visits), 4) AS rate_high,
  revenue, ROUND(CAST(revenue AS DOUBLE) / NULLIF(visits, 0), 2) AS revenue_per_visit
FROM per_keyword CROSS JOIN prior WHERE visits >= 1
ORDER BY keyword LIKE '(%)', shrunk_rate DESC NULLS LAST, visits DESC, keyword LIMIT 50"""
q["engine_share"] = f"""
SELECT source, medium, SUM(visits) AS visits,
  ROUND(CAST(SUM(visits) AS DOUBLE) / NULLIF(SUM(SUM(visits)) OVER (), 0), 4) AS share_of_search,
  SUM(CASE WHEN keyword = '(not provided)' THEN visits ELSE 0 END) AS not_provided_visits,
  ROUND(CAST(SUM(CASE WHEN keyword = '(not provided)' THEN visits ELSE 0 END) AS DOUBLE) / NULLIF(SUM(visits), 0), 4) AS not_provided_share,
  SUM(conversions_last) AS conversions
FROM {kd} WHERE medium IN ('organic', 'cpc') AND NOT estimated
GROUP BY source, medium ORDER BY visits DESC, source, medium"""
q["keyword_trend"] = f"""
WITH top_keywords AS (
  SELECT keyword FROM {kd} WHERE keyword IS NOT NULL AND keyword NOT LIKE '(%)' AND NOT estimated
  GROUP BY keyword ORDER BY SUM(visits) DESC, keyword LIMIT 10)
SELECT CAST(date_trunc('week', CAST(day AS TIMESTAMP)) AS DATE) AS week, k.keyword,
  SUM(visits) AS visits, SUM(conversions_last) AS conversions, SUM(revenue_last) AS revenue
FROM {kd} k JOIN top_keywords t ON k.keyword = t.keyword WHERE NOT estimated
GROUP BY 1, 2 ORDER BY week, visits DESC, k.keyword"""
q["landing_by_keyword"] = f"""
WITH pages AS (
  SELECT keyword, landing, SUM(visits) AS visits, SUM(conversions_last) AS conversions
  FROM {kd} WHERE keyword IS NOT NULL AND keyword NOT LIKE '(%)' AND NOT estimated
  GROUP BY keyword, landing),
ranked AS (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY keyword ORDER BY wl(conversions, visits) DESC, visits DESC, landing) AS pos,
    COUNT(*) OVER (PARTITION BY keyword) AS pages
  FROM pages WHERE visits >= 5)
SELECT keyword, landing, visits, conversions,
  ROUND(CAST(conversions AS DOUBLE) / NULLIF(visits, 0), 4) AS conversion_rate,
  ROUND(wl(conversions, visits), 4) AS rate_low, pages
FROM ranked WHERE pos = 1 ORDER BY conversions DESC, visits DESC, keyword"""
q["model_comparison"] = f"""
SELECT keyword, SUM(conversions_first) AS first, SUM(conversions_last) AS last,
  SUM(conversions_linear) AS linear, SUM(conversions_position) AS position,
  SUM(conversions_time_decay) AS time_decay, SUM(revenue_last) AS revenue_last
FROM {kd} WHERE keyword IS NOT NULL AND NOT estimated GROUP BY keyword
HAVING SUM(conversions_first) + SUM(conversions_last) + SUM(conversions_linear) > 0
ORDER BY last DESC, first DESC, keyword LIMIT 50"""
q["budget_inputs"] = f"""
WITH credited AS (
  SELECT keyword, SUM(visits) AS visits, SUM(conversions_last) AS conversions, SUM(revenue_last) AS revenue
  FROM {kd} WHERE keyword IS NOT NULL AND NOT estimated GROUP BY keyword),
costs AS (SELECT keyword, SUM(clicks) AS clicks, SUM(cost) AS cost FROM {ac} GROUP BY keyword)
SELECT c.keyword, c.visits, c.conversions, c.revenue, k.clicks, k.cost
FROM credited c LEFT JOIN costs k ON c.keyword = k.keyword ORDER BY c.keyword"""
q["paid_keywords"] = f"""
WITH costs AS (
  SELECT day, engine, keyword, SUM(cost) AS cost, SUM(clicks) AS clicks FROM {ac} GROUP BY day, engine, keyword),
credited AS (
  SELECT day, source AS engine, keyword, SUM(conversions_last) AS conversions, SUM(revenue_last) AS revenue
  FROM {kd} WHERE medium = 'cpc' AND keyword IS NOT NULL GROUP BY day, source, keyword)
SELECT c.day, c.engine, c.keyword, c.cost, c.clicks,
  COALESCE(k.conversions, 0) AS conversions, COALESCE(k.revenue, 0) AS revenue
FROM costs c LEFT JOIN credited k ON c.day = k.day AND c.engine = k.engine AND c.keyword = k.keyword
ORDER BY c.engine, c.keyword, c.day"""
names = sys.argv[3].split(",")
out = {}
for name in names:
    if name not in q:
        continue
    times, rows = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        con = duckdb.connect()
        con.execute("SET threads TO 2")
        con.execute(macros)
        rows = len(con.execute(q[name]).fetchall())
        times.append(time.perf_counter() - t)
        con.close()
    times.sort()
    out[name] = [times[len(times) // 2], rows]
print(json.dumps(out))
"#;

fn duckdb(root: &Path, runs: usize, names: &[&str]) -> Option<BTreeMap<String, (f64, usize)>> {
    let store = root.join("store");
    let runs = runs.to_string();
    let names = names.join(",");
    peer::run_python(
        &root.join("peer.py"),
        DUCKDB,
        &[store.as_os_str(), runs.as_ref(), names.as_ref()],
    )
}

/// One GET on the dashboard; returns the status.
fn get(addr: std::net::SocketAddr, path: &str) -> u16 {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).expect("connect");
    c.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .expect("send");
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).expect("read");
    String::from_utf8_lossy(&raw)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A dashboard over `store` on a loopback port; with `warm`, its warm-up runs too.
fn serve(store: &Path, warm: bool) -> (std::net::SocketAddr, std::sync::Arc<keyrank::serve::App>) {
    let opts = keyrank::serve::ServeOptions {
        store: store.to_path_buf(),
        bind: "127.0.0.1:0".parse().expect("addr"),
        token: None,
        reports: None,
    };
    let app = keyrank::serve::app(&opts).expect("app");
    let rt = keyrank::model::runtime::runtime().expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("listen");
    let addr = listener.local_addr().expect("addr");
    let routes = keyrank::serve::router(app.clone());
    if warm {
        // On its own runtime, as `keyrank serve` runs it; it warms for the whole bench.
        let warming = keyrank::serve::warm_up(app.clone(), routes.clone()).expect("warm-up");
        std::mem::forget(warming);
    }
    rt.spawn(async move { axum::serve(listener, routes).await });
    (addr, app)
}

const PAGES: &[&str] = &[
    "/",
    "/?model=first",
    "/keywords",
    "/keywords?sort=visits&page=3",
    "/keywords?model=first",
    "/keywords/keyword%20000042",
    "/budget",
    "/budget?total=2500000",
    "/api/keywords",
    "/api/sql?q=SELECT%20source%2C%20SUM(visits)%20FROM%20keyword_daily%20GROUP%20BY%20source",
    // Periods nobody warms (they start and end mid-week), and the budget's model switch.
    "/?from=2024-02-07&to=2024-11-20",
    "/keywords?from=2024-02-07&to=2024-11-20",
    "/keywords?from=2024-03-13&to=2024-09-26&model=linear&sort=visits",
    "/keywords/keyword%20031337",
    "/keywords/keyword%20031337?from=2024-02-07&to=2024-11-20&model=position",
    "/api/keywords?from=2024-05-01&to=2024-05-31",
    "/budget?model=first",
];

/// Each page's server time: computed on request (no warm-up), again (the same store
/// version, from memory), and on a second dashboard whose warm-up has run.
fn dashboard(store: &Path) {
    // Computed on request, then again, with no warm-up running beside them.
    let (addr, _) = serve(store, false);
    // And the SQL console's canned queries, each clicked.
    let canned = keyrank::serve::canned_links();
    let pages: Vec<&str> = PAGES
        .iter()
        .copied()
        .chain(canned.iter().map(String::as_str))
        .collect();
    let mut times = Vec::new();
    for path in &pages {
        let t = Instant::now();
        let status = get(addr, path);
        let first = t.elapsed().as_secs_f64();
        assert_eq!(status, 200, "{path}");
        let t = Instant::now();
        get(addr, path);
        times.push((first, t.elapsed().as_secs_f64()));
    }
    // A second dashboard: wait for its warm-up, then each page once.
    let rss_before = rss_mib();
    let (warm_addr, warm_app) = serve(store, true);
    let version = version_of(store);
    let t = Instant::now();
    while ![
        "/",
        "/keywords",
        "/budget",
        "/api/keywords",
        "/keywords?model=time_decay",
    ]
    .iter()
    .all(|p| warm_app.is_cached(version, p))
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pages_warmed = t.elapsed().as_secs_f64();
    // Then the keyword pages of the ranking's first page; only then is it idle.
    while warm_app.warmed() != Some(version) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let warmed = t.elapsed().as_secs_f64();
    let rss_warm = rss_mib();
    println!(
        "{:<40} {:>10} {:>10} {:>10}",
        "dashboard page", "computed s", "again s", "warmed s"
    );
    for (path, (first, again)) in pages.iter().zip(times) {
        let t = Instant::now();
        get(warm_addr, path);
        let warm = t.elapsed().as_secs_f64();
        let shown: String = path.chars().take(40).collect();
        println!("{shown:<40} {first:>10.3} {again:>10.3} {warm:>10.3}");
    }
    println!(
        "(the warm-up computed the default pages in {pages_warmed:.1}s after the dashboard started, and everything it warms (the budgets of every day of ad costs last) by {warmed:.1}s)"
    );
    println!(
        "(the process's resident memory before the warmed dashboard started {rss_before:.0} MiB, after its warm-up {rss_warm:.0} MiB)"
    );
}

/// Pages of periods nobody warmed, on a dashboard whose warm-up has finished: 27
/// periods (each starting and ending on another weekday) × the overview, the ranking
/// and its JSON, and 27 four-week periods of the budget (and 27 more under another
/// model, cut from the same ledger); the median and the slowest
/// server time of each page.
fn periods(store: &Path) {
    let (addr, app) = serve(store, true);
    let version = version_of(store);
    while app.warmed() != Some(version) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for page in ["/", "/keywords", "/api/keywords"] {
        report(addr, page, |i| {
            format!("{page}?from=2024-02-{:02}&to=2024-11-{:02}", 1 + i, 2 + i)
        });
    }
    // The budget's default period is four weeks: 27 of them, each a day later.
    report(addr, "/budget", |i| {
        format!("/budget?from=2024-05-{:02}&to=2024-06-{:02}", 1 + i, 1 + i)
    });
    // And under another model, cut from the same ledger.
    report(addr, "/budget?model=linear", |i| {
        format!(
            "/budget?from=2024-06-{:02}&to=2024-07-{:02}&model=linear",
            1 + i,
            1 + i
        )
    });
}

/// The budget page's two computations over its 27 unwarmed periods (as `periods`
/// asks for them), each timed apart: the fit of every paid keyword's curve draws, and
/// the split solved over them; the median and the slowest of each.
fn budget_parts(store: &Store) {
    use keyrank::rank::curves::{CurveParams, fit_curves, load, recommend_fitted};
    let p = CurveParams::default();
    let (mut fits, mut splits) = (Vec::new(), Vec::new());
    for i in 0..27 {
        let (from, to) = (
            format!("2024-05-{:02}", 1 + i),
            format!("2024-06-{:02}", 1 + i),
        );
        let (days, period, _, _) =
            load(store, Some(&from), Some(&to), "last", None).expect("paid days");
        let t = Instant::now();
        let fitted = fit_curves(&days, &p);
        fits.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        recommend_fitted(&fitted, &p, period).expect("split");
        splits.push(t.elapsed().as_secs_f64());
    }
    for (what, mut times) in [("fit", fits), ("split", splits)] {
        times.sort_by(f64::total_cmp);
        println!(
            "budget {what:<6} over 27 periods: median {:.3}s, slowest {:.3}s",
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
}

/// Times `page` over 27 periods (`path_of(0..27)`) and prints the median and slowest.
fn report(addr: std::net::SocketAddr, page: &str, path_of: impl Fn(u32) -> String) {
    let mut times: Vec<f64> = (0..27)
        .map(|i| {
            let path = path_of(i);
            let t = Instant::now();
            assert_eq!(get(addr, &path), 200, "{path}");
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "{page:<14} over 27 periods nobody warmed: median {:.3}s, slowest {:.3}s",
        times[times.len() / 2],
        times[times.len() - 1]
    );
}

/// A day's commit under a warmed dashboard (on a linked copy of the store: its files
/// never change, so the copy shares them): the last day ingested again, then each page
/// as the first request after the commit asks for it, and when the warm-up has
/// finished the new version.
fn after_commit(store: &Path, keywords: usize) {
    let copy = tempfile::tempdir().expect("tempdir");
    let dir = copy.path().join("store");
    let status = std::process::Command::new("cp")
        .arg("-al")
        .arg(store)
        .arg(&dir)
        .status()
        .expect("cp");
    assert!(status.success(), "cp -al");
    let (addr, app) = serve(&dir, true);
    let version = version_of(&dir);
    while app.warmed() != Some(version) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The last day again, its visits one higher.
    let st = Store::open(&dir).expect("open");
    let day = START_DAY + 364;
    commit_day(&st, day, &day_rows(day, keywords, 500, 10, 2));
    let t = Instant::now();
    println!(
        "{:<44} {:>10}",
        "first requests after a day's commit", "server s"
    );
    for path in [
        "/",
        "/keywords",
        "/keywords?from=2024-02-07&to=2024-11-20",
        "/api/keywords?from=2024-05-01&to=2024-05-31",
        "/budget",
    ] {
        let t = Instant::now();
        assert_eq!(get(addr, path), 200, "{path}");
        println!("{path:<44} {:>10.3}", t.elapsed().as_secs_f64());
    }
    let next = version_of(&dir);
    while app.warmed() != Some(next) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    println!(
        "(the warm-up finished the new version {:.1}s after the commit)",
        t.elapsed().as_secs_f64()
    );
    // Then a budget period nobody warmed, its days cut from the new version's ledger.
    let path = "/budget?from=2024-06-03&to=2024-06-30";
    let t = Instant::now();
    assert_eq!(get(addr, path), 200, "{path}");
    println!("{path:<44} {:>10.3}", t.elapsed().as_secs_f64());
    // Another day's commit with nobody asking: when the warm-up has each default page
    // of the new version (it looks for one every second), and then a request for it.
    commit_day(&st, day, &day_rows(day, keywords, 500, 10, 3));
    let t = Instant::now();
    let next = version_of(&dir);
    let mut ready = Vec::new();
    for path in ["/", "/keywords", "/budget"] {
        while !app.is_cached(next, path) {
            assert!(t.elapsed().as_secs() < 120, "{path} warmed");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        ready.push(format!("{path} {:.1}s", t.elapsed().as_secs_f64()));
    }
    println!(
        "another commit, nobody asking: computed after {}",
        ready.join(", ")
    );
    for path in ["/", "/keywords", "/budget"] {
        let t = Instant::now();
        assert_eq!(get(addr, path), 200, "{path}");
        println!("{path:<44} {:>10.3}", t.elapsed().as_secs_f64());
    }
}

/// The store's latest version.
fn version_of(store: &Path) -> Option<u64> {
    Store::open(store)
        .and_then(|s| {
            keyrank::model::runtime::runtime()?
                .block_on(async { s.snapshot().await.map(|s| s.version) })
        })
        .expect("version")
}

/// This process's resident memory now, in MiB.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A store written the way a site ingests it, one commit a day (`commits` days of
/// `keywords` keywords each), for what a store's history costs every reader.
fn daily_commits(dir: &Path, commits: usize, keywords: usize) -> Store {
    let store = Store::create(dir).expect("store");
    for d in 0..commits {
        let day = START_DAY + d as i32;
        commit_day(&store, day, &day_rows(day, keywords, 50, 0, 1));
    }
    Store::open(dir).expect("open")
}

/// One day's rows of `keywords` keywords over `landings` landing pages: every
/// `paid_every`-th keyword (from the fourth; 0: none) on `cpc`, the others organic;
/// `base` visitors each, `base` to `base + 6` visits and twice `base` page views.
fn day_rows(day: i32, keywords: usize, landings: usize, paid_every: usize, base: i64) -> Vec<Row> {
    (0..keywords)
        .map(|i| Row {
            day,
            channel: Channel {
                source: ENGINES[i % ENGINES.len()].to_string(),
                medium: if paid_every > 0 && i % paid_every == 3 {
                    "cpc"
                } else {
                    "organic"
                }
                .to_string(),
                keyword: Some(format!("keyword {i:06}")),
                campaign: None,
            },
            landing: format!("/p/{}", i % landings),
            segment: Segment::All,
            counts: Counts {
                visits: base + (i % 7) as i64,
                visitors: base,
                pageviews: 2 * base,
                ..Counts::default()
            },
            estimated: false,
            sketch: None,
        })
        .collect()
}

/// Writes `rows` as `day` and commits them, as a day's ingest does.
fn commit_day(store: &Store, day: i32, rows: &[Row]) {
    let mut w = store
        .writer(std::time::Duration::from_secs(5))
        .expect("writer");
    keyrank::store::write_days(&mut w, &[day], rows).expect("write day");
    let entry = keyrank::store::LedgerEntry::of_command(
        &w,
        "ingest",
        keyrank::store::now_rfc3339(),
        Vec::new(),
        vec![day],
        serde_json::json!({}),
        serde_json::json!({}),
    );
    w.commit(entry).expect("commit");
}

/// What a long history costs: a fresh session and one small query (as every CLI
/// command opens the store), and the dashboard's answers from one version.
fn history(dir: &Path, commits: usize) {
    let t = Instant::now();
    let store = daily_commits(&dir.join("daily"), commits, 500);
    println!(
        "store of {commits} daily commits written in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let rt = keyrank::model::runtime::runtime().expect("runtime");
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let sql = "SELECT COUNT(*) FROM store_history";
    let fresh: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            rt.block_on(async {
                let ctx = keyrank::query::session(&store).await.expect("session");
                keyrank::query::run(&ctx, sql).await.expect("run");
            });
            t.elapsed().as_secs_f64()
        })
        .collect();
    println!(
        "{:<40} {:>10.3}",
        "fresh session + SELECT (CLI)",
        median(fresh)
    );
    let (addr, _) = serve(&dir.join("daily"), false);
    for path in ["/", "/api/sql?q=SELECT%20COUNT(*)%20FROM%20store_history"] {
        assert_eq!(get(addr, path), 200, "{path}");
        let times: Vec<f64> = (0..5)
            .map(|_| {
                let t = Instant::now();
                get(addr, path);
                t.elapsed().as_secs_f64()
            })
            .collect();
        println!(
            "{:<40} {:>10.3}",
            format!("dashboard {path} again"),
            median(times)
        );
    }
}

fn main() {
    let days = env("KEYRANK_BENCH_DAYS", 365);
    let keywords = env("KEYRANK_BENCH_KEYWORDS", 50_000);
    let runs = env("KEYRANK_BENCH_RUNS", 5).max(1);
    let temp = tempfile::tempdir().expect("tempdir");
    let kept = std::env::var_os("KEYRANK_BENCH_STORE").map(std::path::PathBuf::from);
    let dir = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let t = Instant::now();
    let store = if kept.is_some() && dir.join("store").exists() {
        println!("store: reusing {}", dir.join("store").display());
        Store::open(&dir.join("store")).expect("open")
    } else {
        std::fs::create_dir_all(&dir).expect("store dir");
        let store = build(&dir.join("store"), days, keywords);
        println!(
            "store: {days} days × {keywords} keywords ({} rows) written in {:.1}s",
            days * keywords,
            t.elapsed().as_secs_f64()
        );
        store
    };
    let names = [
        "keyword_ranking",
        "engine_share",
        "keyword_trend",
        "landing_by_keyword",
        "model_comparison",
        "budget_inputs",
        "paid_keywords",
    ];
    // `KEYRANK_BENCH_PART=periods`, `dashboard`, `commit` or `budget` times that part of
    // the dashboard alone; `queries` the canned queries alone.
    let part = std::env::var("KEYRANK_BENCH_PART").unwrap_or_default();
    if part == "periods" {
        periods(&dir.join("store"));
        return;
    }
    if part == "dashboard" {
        dashboard(&dir.join("store"));
        return;
    }
    if part == "commit" {
        after_commit(&dir.join("store"), keywords);
        return;
    }
    if part == "budget" {
        budget_parts(&store);
        return;
    }
    let peer = duckdb(&dir, runs, &names);
    println!(
        "{:<20} {:>10} {:>10} {:>8} {:>8}",
        "query", "keyrank s", "duckdb s", "ratio", "rows"
    );
    for name in names {
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..runs {
            let (s, n) = keyrank_run(&store, name);
            times.push(s);
            rows = n;
        }
        times.sort_by(f64::total_cmp);
        let ours = times[times.len() / 2];
        match peer.as_ref().and_then(|p| p.get(name)) {
            Some(&(theirs, their_rows)) => {
                assert_eq!(rows, their_rows, "{name}: keyrank and DuckDB row counts");
                println!(
                    "{name:<20} {ours:>10.3} {theirs:>10.3} {:>8.2} {rows:>8}",
                    ours / theirs
                );
            }
            None => println!("{name:<20} {ours:>10.3} {:>10} {:>8} {rows:>8}", "-", "-"),
        }
    }
    if part == "queries" {
        return;
    }
    dashboard(&dir.join("store"));
    history(temp.path(), env("KEYRANK_BENCH_COMMITS", 365));
}
