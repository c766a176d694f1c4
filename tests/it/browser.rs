//! The dashboard in a real browser: headless Chromium driven over WebDriver
//! (chromedriver) opens each page of a generated store and checks what a person would
//! see there — the ranking's first rows as `keyrank rank` has them, the charts' bars
//! drawn with a size, a filter applied, the model switch changing the numbers, the SQL
//! console returning rows and refusing DDL, the stylesheet applied under the strict
//! Content-Security-Policy, and the token flow of a guarded dashboard. Each page is
//! saved as a screenshot under the test's target folder.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without
//! chromedriver the test says it was skipped; in CI (`CI` set) that fails it instead.

use crate::serve::{Server, demo_store, start};
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// chromedriver from `KEYRANK_CHROMEDRIVER` or `PATH`, or None (skipped) outside CI.
fn chromedriver() -> Option<PathBuf> {
    let from_env = std::env::var_os("KEYRANK_CHROMEDRIVER").map(PathBuf::from);
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("chromedriver"))
            .find(|f| f.is_file())
    });
    let found = from_env.or(on_path);
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have chromedriver (Debian's chromium-driver) for the browser tests"
        );
        eprintln!(
            "skipped: no chromedriver on PATH (install Debian's chromium and chromium-driver to run the browser tests)"
        );
    }
    found
}

/// A chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver(exe: &Path) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(exe)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let d = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    d
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut args = vec![
        "--headless=new".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--window-size=1200,1600".into(),
    ];
    args.push(format!("--user-data-dir={}", profile.display()));
    let mut options = serde_json::json!({ "args": args });
    if let Some(bin) = std::env::var_os("KEYRANK_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/usr/bin/chromium")).filter(|p| p.is_file()))
    {
        options["binary"] = serde_json::Value::String(bin.display().to_string());
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session in headless Chromium")
}

/// Where the screenshots go: beside the test's other output, kept after the run.
fn shots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG");
    assert!(png.len() > 5_000, "{name}: more than a blank page");
    std::fs::write(shots().join(format!("{name}.png")), png).unwrap();
}

/// Waits until the page's URL contains `part` and the page has loaded.
async fn wait_for_url(c: &Client, part: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let url = c.current_url().await.unwrap();
        if url.as_str().contains(part) && c.find(Locator::Css("footer")).await.is_ok() {
            return;
        }
        assert!(Instant::now() < deadline, "no page at {part}: at {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks the element `css` finds (a form's button).
async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The text of the element `css` finds.
async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn texts(c: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in c.find_all(Locator::Css(css)).await.unwrap() {
        out.push(e.text().await.unwrap().trim().to_string());
    }
    out
}

/// The ranking table's rows as a person reads them: keyword, visits, conversions.
async fn ranking_rows(c: &Client) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for tr in c
        .find_all(Locator::Css("table.ranking tbody tr"))
        .await
        .unwrap()
    {
        let td = tr.find_all(Locator::Css("td")).await.unwrap();
        out.push((
            td[1].text().await.unwrap(),
            td[2].text().await.unwrap(),
            td[3].text().await.unwrap(),
        ));
    }
    out
}

/// Bars a person sees: each `rect.bar` in `chart` with its drawn width and height.
async fn visible_bars(c: &Client, chart: &str) -> usize {
    let bars = c
        .find_all(Locator::Css(&format!("svg.{chart} rect.bar")))
        .await
        .unwrap();
    for b in &bars {
        let (_, _, w, h) = b.rectangle().await.unwrap();
        assert!(w > 0.0 && h > 0.0, "{chart}: a bar of size {w}×{h}");
    }
    bars.len()
}

fn rank(store: &Path, model: &str, filter: &str) -> Vec<keyrank::rank::Ranked> {
    let st = keyrank::store::Store::open(store).unwrap();
    let stats = keyrank::rank::load_stats(&st, None, None, model, false, None).unwrap();
    keyrank::rank::ranked_with_reasons(&stats, 0.0)
        .into_iter()
        .filter(|r| r.keyword.contains(filter))
        .collect()
}

fn base(s: &Server) -> String {
    format!("http://{}", s.addr)
}

#[test]
fn the_dashboard_in_a_real_browser() {
    let Some(exe) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let s = start(&store, None);
    let guarded = start(&store, Some("a-dashboard-token-for-tests"));
    let driver = start_driver(&exe);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let profile = dir.path().join("chromium-profile");
    let want = Want {
        last: rank(&store, "last", ""),
        first: rank(&store, "first", ""),
        boots_first: rank(&store, "first", "boots"),
        sql: crate::common::query(&store, SQL),
    };
    rt.block_on(async {
        let c = browser(&driver, &profile).await;
        visit(&c, &s, &guarded, &want).await;
        let _ = c.close().await;
    });
}

/// What the store says, computed outside the browser: `keyrank rank` for two models
/// (and with a filter), and the console's query run directly.
struct Want {
    last: Vec<keyrank::rank::Ranked>,
    first: Vec<keyrank::rank::Ranked>,
    boots_first: Vec<keyrank::rank::Ranked>,
    sql: Vec<Vec<String>>,
}

const SQL: &str = "SELECT keyword, SUM(visits) AS v FROM keyword_daily WHERE keyword IS NOT NULL GROUP BY keyword ORDER BY v DESC, keyword LIMIT 5";

async fn visit(c: &Client, s: &Server, guarded: &Server, want_all: &Want) {
    let root = base(s);

    // Overview: the tiles, the engines' bars drawn, the stylesheet applied (the nav's
    // links in one row: CSP let the dashboard's own stylesheet load).
    c.goto(&format!("{root}/")).await.unwrap();
    wait_for_url(c, "/").await;
    assert_eq!(text_of(c, "h1").await, "Overview");
    let tiles = texts(c, "section.tiles div").await;
    assert!(tiles.iter().any(|t| t.ends_with("visits")), "{tiles:?}");
    assert!(visible_bars(c, "engines").await >= 2, "engines drawn");
    let mut tops = Vec::new();
    for a in c.find_all(Locator::Css("nav a")).await.unwrap() {
        tops.push(a.rectangle().await.unwrap().1);
    }
    assert!(tops.len() == 5 && tops.windows(2).all(|w| (w[0] - w[1]).abs() < 1.0));
    let footer = c.find(Locator::Css("footer")).await.unwrap();
    assert!(footer.text().await.unwrap().contains("Store version 1"));
    screenshot(c, "overview").await;

    // Keywords: the first rows are `keyrank rank`'s, in its order.
    let want = &want_all.last;
    c.goto(&format!("{root}/keywords?model=last"))
        .await
        .unwrap();
    wait_for_url(c, "/keywords").await;
    let rows = ranking_rows(c).await;
    assert_eq!(rows.len(), want.len().min(50));
    for (got, w) in rows.iter().zip(want).take(10) {
        assert_eq!(got.0, w.keyword);
        assert_eq!(got.1, keyrank::report::charts::fmt_num(w.visits));
        assert_eq!(got.2, keyrank::report::charts::fmt_num(w.conversions));
    }
    // A sparkline per keyword.
    let sparks = c
        .find_all(Locator::Css("table.ranking svg.spark"))
        .await
        .unwrap();
    assert_eq!(sparks.len(), rows.len());
    screenshot(c, "keywords").await;

    // The model switch, through the form: other numbers, `rank`'s for that model.
    c.find(Locator::Css("select[name=model]"))
        .await
        .unwrap()
        .select_by_value("first")
        .await
        .unwrap();
    click(c, "form.controls button").await;
    wait_for_url(c, "model=first").await;
    let first_rows = ranking_rows(c).await;
    let want_first = &want_all.first;
    assert_eq!(first_rows[0].0, want_first[0].keyword);
    let conversions =
        |r: &[(String, String, String)], k: &str| r.iter().find(|x| x.0 == k).map(|x| x.2.clone());
    let changed = rows
        .iter()
        .filter(|r| conversions(&first_rows, &r.0).is_some_and(|c| c != r.2))
        .count();
    assert!(changed > 0, "the model switch changes conversions");
    assert_eq!(
        text_of(c, "select[name=model] option[selected]").await,
        "first"
    );

    // A filter typed into the form.
    let q = c.find(Locator::Css("input[name=q]")).await.unwrap();
    q.send_keys("boots").await.unwrap();
    click(c, "form.controls button").await;
    wait_for_url(c, "q=boots").await;
    let filtered = ranking_rows(c).await;
    let want_boots = &want_all.boots_first;
    assert!(!filtered.is_empty());
    assert_eq!(filtered.len(), want_boots.len().min(50));
    assert!(
        filtered.iter().all(|r| r.0.contains("boots")),
        "{filtered:?}"
    );
    screenshot(c, "keywords-filtered").await;

    // A keyword's page, reached by its link: five models, its trend drawn.
    let link = c
        .find(Locator::Css("table.ranking tbody tr td a"))
        .await
        .unwrap();
    let kw = link.text().await.unwrap();
    link.click().await.unwrap();
    wait_for_url(c, "/keywords/").await;
    assert_eq!(text_of(c, "h1").await, format!("Keyword “{kw}”"));
    let cells = texts(c, "td").await;
    for m in ["first", "last", "linear", "position", "time_decay"] {
        assert!(cells.iter().any(|t| t == m), "{m} on the keyword's page");
    }
    assert!(
        !c.find_all(Locator::Css("svg.keyword-trend rect"))
            .await
            .unwrap()
            .is_empty(),
        "a trend chart"
    );
    screenshot(c, "keyword").await;

    // Budget: a bar per bought keyword and a what-if total that changes the split.
    c.goto(&format!("{root}/budget")).await.unwrap();
    wait_for_url(c, "/budget").await;
    let bars = visible_bars(c, "budget").await;
    assert!(bars >= 5, "spend bars: {bars}");
    let before = texts(c, "section.tiles div").await;
    // Today's spend, from the first tile, and a what-if total 10 % above it.
    let today: f64 = before[0].lines().next().unwrap().parse().unwrap();
    let more = format!("{:.2}", (today * 110.0).round() / 100.0);
    c.find(Locator::Css("input[name=total]"))
        .await
        .unwrap()
        .send_keys(&more)
        .await
        .unwrap();
    click(c, "form.controls button").await;
    wait_for_url(c, &format!("total={more}")).await;
    let after = texts(c, "section.tiles div").await;
    assert_eq!(after[1].lines().next(), Some(more.as_str()), "{after:?}");
    assert_ne!(before, after);
    screenshot(c, "budget").await;

    // SQL: rows for a query typed into the console; DDL and DROP refused.
    c.goto(&format!("{root}/sql")).await.unwrap();
    wait_for_url(c, "/sql").await;
    run_sql(c, SQL).await;
    assert_eq!(text_of(c, "p.result").await.split(' ').next(), Some("5"));
    let got = texts(c, "table tbody tr td:first-child").await;
    assert_eq!(
        got,
        want_all
            .sql
            .iter()
            .map(|r| r[0].clone())
            .collect::<Vec<_>>()
    );
    screenshot(c, "sql").await;
    for refused in [
        "CREATE EXTERNAL TABLE leak (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'",
        "DROP TABLE keyword_daily",
    ] {
        run_sql(c, refused).await;
        let err = c.find(Locator::Css("p.error")).await.unwrap();
        assert!(err.is_displayed().await.unwrap());
        assert!(
            err.text().await.unwrap().contains("refused"),
            "{refused}: {}",
            err.text().await.unwrap()
        );
        assert!(c.find(Locator::Css("p.result")).await.is_err());
    }
    screenshot(c, "sql-refused").await;

    // A guarded dashboard: refused without its token, open after `?token=` once (the
    // cookie carries it on), and the store's numbers there too.
    let g = base(guarded);
    c.goto(&format!("{g}/keywords")).await.unwrap();
    let body = c.source().await.unwrap();
    assert!(body.contains("needs its token"), "{body}");
    assert!(c.find(Locator::Css("table.ranking")).await.is_err());
    c.goto(&format!("{g}/?token=a-dashboard-token-for-tests"))
        .await
        .unwrap();
    wait_for_url(c, "token=").await;
    c.goto(&format!("{g}/keywords?model=last")).await.unwrap();
    wait_for_url(c, "/keywords").await;
    assert_eq!(ranking_rows(c).await[0].0, want[0].keyword);
}

async fn run_sql(c: &Client, sql: &str) {
    let area = c.find(Locator::Css("textarea[name=q]")).await.unwrap();
    area.clear().await.unwrap();
    area.send_keys(sql).await.unwrap();
    click(c, "form.sql button").await;
    // The form's own encoding of the query, so a second run waits for its own page.
    let encoded: String = url::form_urlencoded::byte_serialize(sql.as_bytes()).collect();
    wait_for_url(c, &format!("q={encoded}")).await;
}
