//! The dashboard over a generated store: every page answers with what the store holds
//! (the same numbers as `keyrank rank`, `budget` and the canned queries), from one
//! version of it, with a strict Content-Security-Policy; the SQL console is
//! read-only; a token, when set, guards every request.

use keyrank::generate::{COSTS_FILE, GenerateConfig};
use keyrank::serve::{ServeOptions, app, check, router};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;

/// A running dashboard on a loopback port, stopped when dropped.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    app: std::sync::Arc<keyrank::serve::App>,
    rt: tokio::runtime::Runtime,
}

pub(crate) fn start(store: &Path, token: Option<&str>) -> Server {
    start_with_reports(store, token, None)
}

fn start_with_reports(store: &Path, token: Option<&str>, reports: Option<&Path>) -> Server {
    let opts = ServeOptions {
        store: store.to_path_buf(),
        bind: "127.0.0.1:0".parse().unwrap(),
        token: token.map(String::from),
        reports: reports.map(Path::to_path_buf),
    };
    check(&opts).unwrap();
    let app = app(&opts).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let routes = router(app.clone());
    rt.spawn(async move { axum::serve(listener, routes).await });
    Server { addr, app, rt }
}

/// What follows `prefix` in each link of a page that starts with it, unescaped.
fn hrefs(body: &str, prefix: &str) -> Vec<String> {
    body.split(&format!("href=\"{prefix}"))
        .skip(1)
        .map(|r| r[..r.find('"').unwrap()].replace("&amp;", "&"))
        .collect()
}

/// One GET: status, headers (lower-case names) and body.
fn get(s: &Server, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, String) {
    let mut c = TcpStream::connect(s.addr).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    c.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let hs = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    // Chunked bodies: the chunks' sizes are on lines of their own.
    let body = if head.to_lowercase().contains("transfer-encoding: chunked") {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n.min(tail.len())]);
            rest = tail.get(n + 2..).unwrap_or("");
        }
        out
    } else {
        body.to_string()
    };
    (status, hs, body)
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub(crate) fn demo_store(dir: &Path) -> std::path::PathBuf {
    let (_, store) = crate::common::generated_store_with(
        dir,
        &GenerateConfig {
            visitors: 3_000,
            days: 14,
            costs: true,
            ..GenerateConfig::default()
        },
    );
    let st = keyrank::store::Store::open(&store).unwrap();
    let (rows, _) = keyrank::import::costs::read(&dir.join(COSTS_FILE), None).unwrap();
    let mut w = st.writer(std::time::Duration::from_secs(5)).unwrap();
    keyrank::import::costs::store(&mut w, &rows).unwrap();
    w.commit(crate::common::test_entry("costs import")).unwrap();
    store
}

#[test]
fn pages_show_what_the_store_holds() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let s = start(&store, None);

    let external = regex::Regex::new(r#"(src|href|action)\s*=\s*"(https?:)?//"#).unwrap();
    for path in ["/", "/keywords", "/budget", "/sql", "/reports"] {
        let (status, h, body) = get(&s, path, &[]);
        assert_eq!(status, 200, "{path}: {body}");
        let csp = header(&h, "content-security-policy").unwrap_or("");
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("unsafe"),
            "{csp}"
        );
        assert!(body.contains("Store version 1"), "{path} names its version");
        // The server's time, as W3C Server Timing gives it: a duration in milliseconds.
        let timing = header(&h, "server-timing").unwrap_or("");
        let ms: f64 = timing
            .strip_prefix("app;dur=")
            .and_then(|d| d.parse().ok())
            .unwrap_or(-1.0);
        assert!((0.0..60_000.0).contains(&ms), "{path}: {timing:?}");
        // Nothing from another host: no link, script, style or image elsewhere.
        assert!(
            !external.is_match(&body) && !body.contains("url("),
            "{path}"
        );
        assert!(!body.contains("<script"), "{path}");
    }

    // The ranking equals `keyrank rank`'s, model by model.
    let st = keyrank::store::Store::open(&store).unwrap();
    for model in ["last", "first"] {
        let stats = keyrank::rank::load_stats(&st, None, None, model, false, None).unwrap();
        let want = keyrank::rank::ranked_with_reasons(&stats, 0.0);
        let (status, _, body) = get(&s, &format!("/api/keywords?model={model}"), &[]);
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let got = v["keywords"].as_array().unwrap();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want).take(20) {
            assert_eq!(g["keyword"], w.keyword.as_str());
            assert_eq!(g["conversions"].as_f64().unwrap(), w.conversions);
            assert!((g["shrunk_rate"].as_f64().unwrap() - w.rate_estimate).abs() < 1e-12);
        }
        // The page shows the same first keyword.
        let (_, _, page) = get(&s, &format!("/keywords?model={model}"), &[]);
        assert!(
            page.contains(&format!(">{}</a>", want[0].keyword)),
            "first row"
        );
    }
    // The model switch changes the numbers.
    let (_, _, last) = get(&s, "/api/keywords?model=last", &[]);
    let (_, _, linear) = get(&s, "/api/keywords?model=linear", &[]);
    assert_ne!(last, linear);
    // A filter.
    let (_, _, f) = get(&s, "/api/keywords?q=boots", &[]);
    let v: serde_json::Value = serde_json::from_str(&f).unwrap();
    let list = v["keywords"].as_array().unwrap();
    assert!(!list.is_empty());
    assert!(
        list.iter()
            .all(|k| k["keyword"].as_str().unwrap().contains("boots"))
    );

    // A keyword's page: its five models and its landing pages.
    let (status, _, kw) = get(
        &s,
        &format!("/keywords/{}", enc("red shoes").replace('+', "%20")),
        &[],
    );
    assert_eq!(status, 200, "{kw}");
    for m in ["first", "last", "linear", "position", "time_decay"] {
        assert!(kw.contains(&format!("<td>{m}</td>")), "{m}");
    }
    assert!(kw.contains("Landing pages"));

    // The budget page: the curves' split, as `keyrank budget` makes it.
    let (split, totals, _) = keyrank::rank::curves::split_from_store(
        &st,
        None,
        None,
        "last",
        None,
        &keyrank::rank::curves::CurveParams::default(),
    )
    .unwrap();
    let (_, _, b) = get(&s, "/budget", &[]);
    assert!(b.contains(&format!("{:+.2}", totals.uplift)), "uplift");
    // The split's table a page at a time, the `(total)` row on each: page 2 holds
    // the keywords after the first page's (none when there is one page).
    let rows_of = |page: &str| -> Vec<String> {
        let table = page.split("<h2>Split</h2>").nth(1).unwrap();
        table
            .split("<tr><td>")
            .skip(1)
            .map(|r| r.split("</td>").next().unwrap().to_string())
            .collect()
    };
    let keywords: Vec<String> = split.iter().map(|r| r.keyword.clone()).collect();
    let first = rows_of(&b);
    let shown = keywords.len().min(50);
    assert_eq!(first.len(), shown + 1, "{first:?}");
    assert_eq!(&first[..shown], &keywords[..shown]);
    assert_eq!(first[shown], "(total)");
    let (_, _, b2) = get(&s, "/budget?page=2", &[]);
    let second = rows_of(&b2);
    if keywords.len() > 50 {
        assert_eq!(
            &second[..second.len() - 1],
            &keywords[50..keywords.len().min(100)]
        );
    } else {
        assert_eq!(second, first, "one page: page 2 is page 1");
    }
    assert_eq!(
        b.matches("class=\"chart curve-chart\"").count(),
        split.len()
    );
    // A what-if total recomputes the split.
    let more = (totals.current_spend * 110.0).round() / 100.0;
    let (_, _, what_if) = get(&s, &format!("/budget?total={more:.2}"), &[]);
    assert!(
        what_if.contains(&format!("<b>{more:.2}</b>recommended")),
        "what-if total"
    );
    assert_ne!(what_if, b);

    // SQL: rows, CSV, and refusals.
    let (_, _, rows) = get(
        &s,
        &format!(
            "/api/sql?q={}",
            enc(
                "SELECT source, SUM(visits) AS v FROM keyword_daily GROUP BY source ORDER BY v DESC"
            )
        ),
        &[],
    );
    let v: serde_json::Value = serde_json::from_str(&rows).unwrap();
    assert!(v["rows"].as_array().unwrap().len() >= 3, "{rows}");
    let (status, h, csv) = get(&s, &format!("/sql.csv?q={}", enc("SELECT 1 AS one")), &[]);
    assert_eq!(status, 200);
    assert!(header(&h, "content-type").unwrap().starts_with("text/csv") && csv.starts_with("one"));
    let outside = dir.path().join("access.log");
    for bad in [
        format!(
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{}'",
            outside.display()
        ),
        "COPY (SELECT 1) TO '/tmp/keyrank-copy-test.csv'".to_string(),
        "DROP TABLE keyword_daily".to_string(),
        "INSERT INTO keyword_daily SELECT * FROM keyword_daily".to_string(),
        format!("SELECT * FROM '{}'", outside.display()),
        "SET datafusion.execution.batch_size = 1".to_string(),
    ] {
        let (status, _, body) = get(&s, &format!("/api/sql?q={}", enc(&bad)), &[]);
        assert_eq!(status, 400, "{bad}: {body}");
        let (_, _, page) = get(&s, &format!("/sql?q={}", enc(&bad)), &[]);
        assert!(page.contains("class=\"error\""), "{bad}");
    }
    assert!(!Path::new("/tmp/keyrank-copy-test.csv").exists());

    // A new commit shows on the next load, with its version.
    let (_, _, before) = get(&s, "/", &[]);
    assert!(before.contains("Store version 1"));
    let mut w = st.writer(std::time::Duration::from_secs(5)).unwrap();
    keyrank::import::costs::store(&mut w, &[]).unwrap();
    w.commit(crate::common::test_entry("costs import")).unwrap();
    let (_, _, after) = get(&s, "/", &[]);
    assert!(after.contains("Store version 2"), "new version shown");
}

#[test]
fn a_token_guards_every_request_and_other_addresses_need_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let token = "correct-horse-battery-staple";
    let s = start(&store, Some(token));
    for path in [
        "/",
        "/keywords",
        "/api/keywords",
        "/api/sql?q=SELECT%201",
        "/static/keyrank.css",
    ] {
        assert_eq!(get(&s, path, &[]).0, 401, "{path} without a token");
        assert_eq!(
            get(
                &s,
                path,
                &[("Authorization", "Bearer wrong-token-of-some-length")]
            )
            .0,
            401,
            "{path} with a wrong token"
        );
        assert_eq!(
            get(&s, path, &[("Authorization", &format!("Bearer {token}"))]).0,
            200,
            "{path} with the token"
        );
    }
    // ?token= once sets a cookie that later requests carry.
    let (status, h, _) = get(&s, &format!("/?token={token}"), &[]);
    assert_eq!(status, 200);
    let cookie = header(&h, "set-cookie").unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let pair = cookie.split(';').next().unwrap();
    assert_eq!(get(&s, "/keywords", &[("Cookie", pair)]).0, 200);

    let open = ServeOptions {
        store: store.clone(),
        bind: "0.0.0.0:0".parse().unwrap(),
        token: None,
        reports: None,
    };
    let e = check(&open).unwrap_err().to_string();
    assert!(e.contains("token"), "{e}");
    assert!(
        check(&ServeOptions {
            token: Some(token.into()),
            ..open
        })
        .is_ok()
    );
}

#[test]
fn reports_link_their_newest_outputs_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let toml = r#"
store = "store"

[[report]]
name = "ranking"
title = "Keyword ranking"
query = "rank"
params = { from = "2020-01-01", to = "2030-12-31", model = "last" }
formats = ["html", "csv"]
output = "out/{name}/{date}.{ext}"
cron = "0 8 * * MON"
"#;
    let path = dir.path().join("reports.toml");
    std::fs::write(&path, toml).unwrap();
    let cfg = keyrank::report::Config::load(&path).unwrap();
    for day in 1..=4 {
        let as_of = chrono::NaiveDate::from_ymd_opt(2024, 3, day).unwrap();
        keyrank::report::run_report(&cfg, &cfg.reports[0], as_of).unwrap();
    }
    // Distinct times, in name order, so the newest five are known: the three oldest
    // files are beside the outputs but not listed.
    let folder = dir.path().join("out/ranking");
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 8);
    for (i, n) in names.iter().enumerate() {
        let t =
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000 + 60 * i as u64);
        std::fs::File::options()
            .write(true)
            .open(folder.join(n))
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
    let oldest = names[0].clone();
    std::fs::write(dir.path().join("secret.txt"), "not a report").unwrap();
    let s = start_with_reports(&store, None, Some(&path));

    let (status, _, page) = get(&s, "/reports", &[]);
    assert_eq!(status, 200, "{page}");
    let links: Vec<String> = regex::Regex::new(r#"href="(/reports/ranking/[^"]+)""#)
        .unwrap()
        .captures_iter(&page)
        .map(|c| c[1].to_string())
        .collect();
    assert_eq!(links.len(), 5, "the newest five: {page}");
    assert!(page.contains("next runs") && page.contains("0 8 * * MON"));
    for link in &links {
        let (status, h, body) = get(&s, link, &[]);
        assert_eq!(status, 200, "{link}");
        let name = link.rsplit('/').next().unwrap();
        assert!(names.iter().any(|n| n == name), "{name}: a plain file name");
        let on_disk = std::fs::read_to_string(folder.join(name)).unwrap();
        assert_eq!(body, on_disk, "{link} is the file");
        let csp = header(&h, "content-security-policy").unwrap();
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("script"),
            "{csp}"
        );
        if name.ends_with(".html") {
            assert!(header(&h, "content-type").unwrap().starts_with("text/html"));
        }
    }
    assert!(!links.iter().any(|l| l.ends_with(&oldest)));
    for bad in [
        format!("/reports/ranking/{oldest}"),
        "/reports/ranking/..%2F..%2Fsecret.txt".to_string(),
        "/reports/ranking/%2E%2E%2Fsecret.txt".to_string(),
        "/reports/other/2024-03-04.html".to_string(),
        "/reports/ranking/reports.toml".to_string(),
    ] {
        let (status, _, body) = get(&s, &bad, &[]);
        assert_eq!(status, 404, "{bad}: {body}");
        assert!(!body.contains("not a report"));
    }
}

#[test]
fn a_new_version_is_computed_before_anyone_asks() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let s = start(&store, Some("a-token-for-the-warm-up"));
    // On a runtime of its own, as `keyrank serve` runs it.
    let _warming = keyrank::serve::warm_up(s.app.clone(), router(s.app.clone())).unwrap();
    let wait = |version: u64, path: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !s.app.is_cached(Some(version), path) {
            assert!(
                std::time::Instant::now() < deadline,
                "{path} of version {version} warmed"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    for path in [
        "/",
        "/keywords",
        "/budget",
        "/api/keywords",
        "/keywords?model=first",
    ] {
        wait(1, path);
    }
    // So are the keyword pages the ranking's first page links, as a click asks for them.
    let (_, _, body) = get(
        &s,
        "/keywords",
        &[("Authorization", "Bearer a-token-for-the-warm-up")],
    );
    let links: Vec<String> = hrefs(&body, "/keywords/")
        .iter()
        .map(|r| format!("/keywords/{r}"))
        .collect();
    assert!(links.len() >= 5, "{links:?}");
    for link in &links {
        wait(1, link);
    }
    // And last the overview under the model switch, then the SQL console's canned
    // queries, as its links ask for them.
    wait(1, "/?model=time_decay");
    let (_, _, console) = get(
        &s,
        "/sql",
        &[("Authorization", "Bearer a-token-for-the-warm-up")],
    );
    let canned = hrefs(&console, "/sql?q=");
    assert!(canned.len() >= 7, "{} canned queries linked", canned.len());
    for q in &canned {
        let sql: String = url::form_urlencoded::parse(format!("q={q}").as_bytes())
            .map(|(_, v)| v.into_owned())
            .collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !s.app.is_answered(Some(1), &sql) {
            assert!(std::time::Instant::now() < deadline, "{sql} answered");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    // Then the budget of every day of ad costs, under every model.
    let (_, _, span) = get(
        &s,
        &format!(
            "/api/sql?q={}",
            enc(
                "SELECT CAST(MIN(day) AS VARCHAR) AS a, CAST(MAX(day) AS VARCHAR) AS z FROM ad_costs"
            )
        ),
        &[("Authorization", "Bearer a-token-for-the-warm-up")],
    );
    let span: serde_json::Value = serde_json::from_str(&span).unwrap();
    let (first, last) = (
        span["rows"][0]["a"].as_str().unwrap().to_string(),
        span["rows"][0]["z"].as_str().unwrap().to_string(),
    );
    let day = |d: &str| keyrank::parse::time::parse_day(d).unwrap();
    let models = ["last", "first", "linear", "position", "time_decay"];
    for model in models {
        wait(1, &format!("/budget?from={first}&to={last}&model={model}"));
    }
    // All five fits kept at once, for any period that holds those days.
    for model in models {
        assert!(
            s.app.is_fitted(Some(1), day(&first), day(&last), model),
            "{model}"
        );
    }
    // A query of one's own is not kept.
    assert!(!s.app.is_answered(Some(1), "SELECT 1"));
    // The form's request (empty fields, the default model spelled out) is the same page.
    assert!(
        s.app
            .is_cached(Some(1), "/keywords?model=last&q=&min_visits=&from=&to=")
    );
    // Pages nobody warms are not there until asked for.
    assert!(!s.app.is_cached(Some(1), "/keywords?model=first&page=2"));
    // Once warmed, a period's pages read the roll-ups, and its budget the ledger of
    // cost days: the same answers as a dashboard that reads the store's day files
    // (mid-week periods, so both sources count).
    let cold = start(&store, Some("a-token-for-the-warm-up"));
    let auth = [("Authorization", "Bearer a-token-for-the-warm-up")];
    for path in [
        "/api/keywords?from=2024-03-02&to=2024-03-15&model=linear",
        "/api/keywords?from=2024-03-06&to=2024-03-17&estimated=true",
        "/keywords?from=2024-03-06&to=2024-03-31&sort=visits",
        "/keywords/red%20shoes?from=2024-03-02&to=2024-03-15&model=first",
        "/?from=2024-03-01&to=2024-03-13&model=position",
        "/?from=2024-03-05&to=2024-03-14",
        "/budget?from=2024-03-05&to=2024-03-14",
        "/budget?from=2024-03-03&model=time_decay",
        "/budget?to=2024-03-09&model=first&total=800",
        // Periods holding every day of ad costs and days without: the fit of those
        // days the warm-up made, shared.
        "/budget?from=2023-01-01&to=2025-12-31",
        "/budget?from=2023-06-01&to=2026-01-31&model=position&total=900",
        &format!("/sql?q={}", canned[0]),
        &format!("/sql.csv?q={}", canned[1]),
        &format!("/api/sql?q={}", canned[2]),
    ] {
        let (status, _, warm) = get(&s, path, &auth);
        assert_eq!(status, 200, "{path}: {warm}");
        let (_, _, from_files) = get(&cold, path, &auth);
        assert_eq!(warm, from_files, "{path}");
    }
    // Every canned query's answer, from the roll-ups once warmed, is the store's to the
    // last digit.
    for q in &canned {
        let path = format!("/sql.csv?q={q}");
        let (status, _, warm) = get(&s, &path, &auth);
        assert_eq!(status, 200, "{path}: {warm}");
        let (_, _, from_files) = get(&cold, &path, &auth);
        assert_eq!(warm, from_files, "{path}");
    }
    // A new commit: its pages are computed too, and a request gets the new version.
    let st = keyrank::store::Store::open(&store).unwrap();
    let mut w = st.writer(std::time::Duration::from_secs(5)).unwrap();
    keyrank::import::costs::store(&mut w, &[]).unwrap();
    w.commit(crate::common::test_entry("costs import")).unwrap();
    wait(2, "/keywords?model=linear");
    let (status, _, body) = get(
        &s,
        "/keywords",
        &[("Authorization", "Bearer a-token-for-the-warm-up")],
    );
    assert_eq!(status, 200);
    assert!(body.contains("Store version 2"));
}

/// A budget asked for after a commit, before the new version's ledger of cost days is
/// carried over, is cut from the earlier version's ledger but for the days the commit
/// changed, which are read from the store: the same pages as a dashboard that reads
/// the new version's store, for periods with and without a changed day.
#[test]
fn a_budget_right_after_a_commit_is_the_new_versions() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let s = start(&store, None);
    let said =
        s.rt.block_on(keyrank::serve::prepare(&s.app, &router(s.app.clone())));
    assert!(s.app.has_ledger(Some(1)), "{said}");
    // A day's costs imported again (dearer, one keyword fewer) and a day after the last.
    let (rows, _) = keyrank::import::costs::read(&dir.path().join(COSTS_FILE), None).unwrap();
    let last = rows.iter().map(|r| r.day).max().unwrap();
    let mut again: Vec<_> = rows
        .iter()
        .filter(|r| r.day == last - 3)
        .skip(1)
        .map(|r| keyrank::import::costs::CostRow {
            cents: r.cents * 2 + 1,
            ..r.clone()
        })
        .collect();
    assert!(again.len() >= 2, "{} rows", again.len());
    again.push(keyrank::import::costs::CostRow {
        day: last + 1,
        ..again[0].clone()
    });
    let st = keyrank::store::Store::open(&store).unwrap();
    let mut w = st.writer(std::time::Duration::from_secs(5)).unwrap();
    keyrank::import::costs::store(&mut w, &again).unwrap();
    w.commit(crate::common::test_entry("costs import")).unwrap();
    let cold = start(&store, None);
    let day = |d: i32| keyrank::parse::time::format_day(d);
    let paths = [
        "/budget".to_string(),
        "/budget?model=first".to_string(),
        format!(
            "/budget?from={}&to={}&model=linear",
            day(last - 6),
            day(last - 3)
        ),
        format!("/budget?to={}&total=900", day(last - 4)),
        format!("/budget?from={}&model=position", day(last - 3)),
    ];
    for path in &paths {
        let (status, _, after) = get(&s, path, &[]);
        assert_eq!(status, 200, "{path}: {after}");
        assert!(after.contains("Store version 2 "), "{path}");
        let (_, _, read) = get(&cold, path, &[]);
        assert_eq!(after, read, "{path}");
    }
    // Nobody carried the ledger over meanwhile: the pages above were cut from the
    // earlier one.
    assert!(!s.app.has_ledger(Some(2)));
}

#[test]
fn the_default_pages_are_ready_before_the_address_and_the_warm_up_waits_for_people() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    // What `keyrank serve` does before it prints its address: the default pages and
    // the canned queries.
    let s = start(&store, None);
    let said =
        s.rt.block_on(keyrank::serve::prepare(&s.app, &router(s.app.clone())));
    assert!(said.contains("roll-ups"), "{said}");
    for path in ["/", "/keywords", "/budget", "/api/keywords"] {
        assert!(s.app.is_cached(Some(1), path), "{path}");
    }
    let canned = keyrank::serve::canned_links();
    assert!(canned.len() >= 8, "{canned:?}");
    for link in canned {
        let query = link.strip_prefix("/sql?").unwrap();
        let (_, sql) = url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "q")
            .unwrap();
        assert!(s.app.is_answered(Some(1), &sql), "{sql}");
    }
    assert!(!s.app.is_cached(Some(1), "/keywords?model=first"));
    // While a person's request is in flight, the warm-up computes nothing: it waits
    // before its first page (and so has computed none when it is seen waiting).
    let other = start(&store, None);
    let asking = other.app.person();
    other.rt.spawn(keyrank::serve::keep_warm(
        other.app.clone(),
        router(other.app.clone()),
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while other.app.warm_up_waits() == 0 {
        assert!(std::time::Instant::now() < deadline, "the warm-up waited");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (status, _, _) = get(&other, "/keywords?model=linear", &[]);
    assert_eq!(status, 200);
    for path in ["/", "/keywords", "/budget"] {
        assert!(!other.app.is_cached(Some(1), path), "{path}");
    }
    // Once it is answered, the warm-up goes on.
    drop(asking);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !other.app.is_cached(Some(1), "/keywords?model=time_decay") {
        assert!(std::time::Instant::now() < deadline, "warmed");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn one_context_answers_until_a_commit_lands_and_the_next_request_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let s = start(&store, None);
    let ask = |q: &str| -> serde_json::Value {
        let (status, _, body) = get(&s, &format!("/api/sql?q={}", enc(q)), &[]);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let versions = "SELECT COUNT(*) AS n, MAX(version) AS latest FROM store_history";
    let first = ask(versions);
    assert_eq!(first["store_version"], 1, "{first}");
    assert_eq!(first["rows"][0]["latest"], 1, "{first}");
    // Requests in between answer from the same version.
    for _ in 0..3 {
        assert_eq!(ask(versions), first);
    }
    // Two commits land; the very next request reads the newest, tables and history alike.
    let st = keyrank::store::Store::open(&store).unwrap();
    for run in ["costs import", "costs import again"] {
        let mut w = st.writer(std::time::Duration::from_secs(5)).unwrap();
        keyrank::import::costs::store(&mut w, &[]).unwrap();
        w.commit(crate::common::test_entry(run)).unwrap();
    }
    let after = ask(versions);
    assert_eq!(after["store_version"], 3, "{after}");
    assert_eq!(after["rows"][0]["latest"], 3, "{after}");
    assert_eq!(
        after["rows"][0]["n"].as_i64().unwrap(),
        first["rows"][0]["n"].as_i64().unwrap() + 2,
        "{after}"
    );
    // A cached page says which version it was computed from, and a new one follows.
    let (_, _, body) = get(&s, "/", &[]);
    assert!(body.contains("Store version 3"), "{body}");
}

/// The overview's top movers compare the last 7 days of the by-day chart with the 7
/// before. The dashboard asks for them alongside the chart, for the range's last day
/// with a day file; when the chart ends earlier (that day holds estimated rows only,
/// and the page leaves them out) they are asked for again: either way the table is
/// the store's own sums over the chart's last 14 days.
#[test]
fn the_top_movers_end_where_the_chart_does() {
    use keyrank::classify::Channel;
    use keyrank::model::rollup::{Counts, Row, Segment};
    use keyrank::parse::time::format_day;
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let st = keyrank::store::Store::open(&store).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let span = |ctx: &datafusion::prelude::SessionContext| -> i32 {
        let (_, b) = rt
            .block_on(keyrank::query::run(
                ctx,
                "SELECT CAST(MAX(day) AS INT) FROM keyword_daily WHERE NOT estimated",
            ))
            .unwrap();
        use datafusion::arrow::array::AsArray;
        b[0].column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int32Type>()
            .value(0)
    };
    let ctx = rt.block_on(keyrank::query::session(&st)).unwrap();
    let last = span(&ctx);
    // A day after the last holding an estimated row alone.
    let extra = last + 1;
    let row = Row {
        day: extra,
        channel: Channel {
            source: "google".into(),
            medium: "organic".into(),
            keyword: Some("estimated only".into()),
            campaign: None,
        },
        landing: "/".into(),
        segment: Segment::All,
        counts: Counts {
            visits: 40,
            visitors: 40,
            pageviews: 40,
            ..Counts::default()
        },
        estimated: true,
        sketch: None,
    };
    let mut w = st.writer(std::time::Duration::from_secs(5)).unwrap();
    keyrank::store::write_days(&mut w, &[extra], &[row]).unwrap();
    w.commit(crate::common::test_entry("estimated day"))
        .unwrap();
    let ctx = rt.block_on(keyrank::query::session(&st)).unwrap();
    assert_eq!(span(&ctx), last, "the new day is estimated only");
    // The movers as the store sums them: visits per keyword and day, then the two weeks.
    let movers = |end: i32, estimated: bool| -> Vec<[String; 4]> {
        let (_, b) = rt
            .block_on(keyrank::query::run(
                &ctx,
                &format!(
                    "SELECT keyword, CAST(day AS INT), CAST(SUM(visits) AS BIGINT) FROM keyword_daily
                     WHERE day BETWEEN DATE '{}' AND DATE '{}' AND ({estimated} OR NOT estimated)
                       AND keyword IS NOT NULL GROUP BY keyword, day",
                    format_day(end - 13),
                    format_day(end)
                ),
            ))
            .unwrap();
        let mut weeks: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
        for batch in &b {
            use datafusion::arrow::array::{Array, AsArray};
            use datafusion::arrow::datatypes::{Int32Type, Int64Type};
            let k = batch.column(0).as_string_view_opt().map(|a| {
                (0..a.len())
                    .map(|i| a.value(i).to_string())
                    .collect::<Vec<_>>()
            });
            let k = k.unwrap_or_else(|| {
                let a = batch.column(0).as_string::<i32>();
                (0..a.len()).map(|i| a.value(i).to_string()).collect()
            });
            let d = batch.column(1).as_primitive::<Int32Type>();
            let v = batch.column(2).as_primitive::<Int64Type>();
            for (i, k) in k.into_iter().enumerate() {
                if k.starts_with('(') {
                    continue;
                }
                let w = weeks.entry(k).or_default();
                if d.value(i) > end - 7 {
                    w.1 += v.value(i);
                } else {
                    w.0 += v.value(i);
                }
            }
        }
        let mut rows: Vec<(String, i64, i64)> =
            weeks.into_iter().map(|(k, (a, b))| (k, a, b)).collect();
        rows.sort_by(|x, y| {
            (x.2 - x.1)
                .abs()
                .cmp(&(y.2 - y.1).abs())
                .reverse()
                .then(x.0.cmp(&y.0))
        });
        rows.into_iter()
            .take(10)
            .map(|(k, a, b)| [k, a.to_string(), b.to_string(), (b - a).to_string()])
            .collect()
    };
    // The page's table, cell by cell.
    let shown = |body: &str| -> Vec<[String; 4]> {
        let table = body
            .split("Top movers")
            .nth(1)
            .unwrap()
            .split("</tbody>")
            .next()
            .unwrap();
        let tags = regex::Regex::new("<[^>]*>").unwrap();
        table
            .split("<tr>")
            .skip(2)
            .map(|r| {
                let cells: Vec<String> = r
                    .split("</td>")
                    .map(|c| tags.replace_all(c, "").trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect();
                [0, 1, 2, 3].map(|i| cells[i].clone())
            })
            .collect()
    };
    let s = start(&store, None);
    for (estimated, end) in [(false, last), (true, extra)] {
        let path = format!("/?to={}&estimated={estimated}", format_day(extra));
        let (status, _, body) = get(&s, &path, &[]);
        assert_eq!(status, 200, "{body}");
        let want = movers(end, estimated);
        assert!(want.len() >= 5, "{want:?}");
        assert_eq!(shown(&body), want, "{path}");
    }
}
