//! Sample data whose true answer is known: a realistic combined log (many engines,
//! not-provided, campaigns, referrals, crawlers, assets, error hits, malformed lines,
//! non-ASCII and mixed-case terms) and a truth file with the exact aggregates a correct
//! ingest must produce, plus each keyword's true conversion rate.

use crate::classify::UNATTRIBUTED;
use crate::classify::{DIRECT, NONE, NOT_PROVIDED};
use crate::error::{Error, Result};
use crate::model::attribution::{AttributionModel, DEFAULT_HALF_LIFE_SECS};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

pub const SITE: &str = "shop.example";
pub const GOAL: &str = "/checkout/complete";
pub const LOG_FILE: &str = "access.log";
pub const TRUTH_FILE: &str = "truth.json";
/// The same log with a visitor cookie on every line, for the purchase-file join.
pub const VID_LOG_FILE: &str = "access_vid.log";
/// Format of [`VID_LOG_FILE`]: combined plus the Cookie header.
pub const VID_LOG_FORMAT: &str =
    r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" "%{Cookie}i""#;
pub const VISITOR_COOKIE: &str = "vid";
/// Orders with the visitor cookie (join variant).
pub const PURCHASES_FILE: &str = "purchases.csv";
/// Orders with the search-preference keyword instead of a visitor (keyword variant).
pub const PURCHASES_KEYWORD_FILE: &str = "purchases_keyword.csv";
/// Google Search Console performance export consistent with the log.
pub const SEARCH_CONSOLE_FILE: &str = "search_console.csv";

#[derive(Debug, Clone)]
pub struct GenerateConfig {
    pub visitors: u64,
    pub seed: u64,
    pub days: u32,
    /// First day of the log, `YYYY-MM-DD`.
    pub start: String,
    /// The k-visitor threshold the truth assumes (as `ingest --min-visitors`).
    pub min_visitors: u64,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        GenerateConfig {
            visitors: 2_000,
            seed: 1,
            days: 7,
            start: "2024-03-04".into(),
            min_visitors: crate::privacy::DEFAULT_MIN_VISITORS,
        }
    }
}

/// Terms and their true conversion rate per visit: (term as people type it, rate).
const KEYWORDS: &[(&str, f64)] = &[
    ("red shoes", 0.08),
    ("Running Shoes", 0.05),
    ("leather boots", 0.11),
    ("hiking boots", 0.07),
    ("wool socks", 0.03),
    ("rain jacket", 0.06),
    ("Café au lait mug", 0.04),
    ("winter gloves", 0.02),
    ("trail running shoes", 0.09),
    ("kids sneakers", 0.05),
    ("waterproof boots", 0.12),
    ("cheap shoes", 0.01),
    ("shoe polish", 0.015),
    ("dress shoes men", 0.06),
    ("sandals women", 0.035),
    ("straße karte", 0.02),
    ("übergröße jacke", 0.045),
    ("zapatos niño", 0.03),
    ("москва сувениры", 0.025),
    ("北京 酒店", 0.02),
    ("東京 お土産", 0.03),
    ("신발 추천", 0.04),
    ("ñandú plush", 0.015),
    ("vegan leather boots", 0.10),
    ("boot laces", 0.02),
    ("insoles", 0.03),
    ("slippers", 0.025),
    ("ski socks", 0.04),
    ("wide fit shoes", 0.07),
    ("orthopedic shoes", 0.08),
    ("shoe size chart", 0.005),
    ("how to clean suede", 0.004),
    ("best hiking boots 2024", 0.06),
    ("gift card", 0.09),
    ("shoe store near me", 0.01),
    ("barefoot shoes", 0.05),
    ("platform sneakers", 0.03),
    ("chelsea boots", 0.065),
    ("loafers", 0.04),
    ("flip flops", 0.02),
];

/// Conversion rate of visits that carry no keyword.
const BASE_RATE: f64 = 0.02;

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
];

const CRAWLER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "curl/8.4.0",
];

const LANDINGS: &[&str] = &[
    "/",
    "/shoes/red",
    "/shoes/running",
    "/boots",
    "/boots/leather",
    "/socks",
    "/sale",
    "/blog/how-to-choose-boots",
    "/gifts",
    "/kids",
];

const ASSETS: &[&str] = &[
    "/static/site.css",
    "/static/app.js",
    "/img/logo.png",
    "/img/hero.jpg",
    "/favicon.ico",
];

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
}

impl Truth {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::Other(format!("{}: {e}", path.display())))
    }
}

#[derive(Debug, Clone)]
enum Arrival {
    /// Search with a term: engine index, keyword index.
    Search(usize, usize),
    /// Search without a term.
    /// Search without a term in the referrer; the visitor did search for keyword `.1`.
    NotProvided(usize, usize),
    /// utm-tagged campaign with a term.
    Campaign(usize),
    /// Paid click with gclid only.
    Gclid,
    /// A link from another site (whose URL may carry an unrelated q=).
    Referral(usize),
    Direct,
}

struct Engine {
    name: &'static str,
    host: &'static str,
    path: &'static str,
    param: &'static str,
    /// Encode the term in this charset (with a charset parameter) instead of UTF-8.
    gbk: bool,
}

const ENGINES: &[Engine] = &[
    Engine {
        name: "google",
        host: "www.google.com",
        path: "/search",
        param: "q",
        gbk: false,
    },
    Engine {
        name: "google",
        host: "www.google.co.uk",
        path: "/search",
        param: "q",
        gbk: false,
    },
    Engine {
        name: "google",
        host: "www.google.de",
        path: "/search",
        param: "q",
        gbk: false,
    },
    Engine {
        name: "bing",
        host: "www.bing.com",
        path: "/search",
        param: "q",
        gbk: false,
    },
    Engine {
        name: "yahoo",
        host: "search.yahoo.com",
        path: "/search",
        param: "p",
        gbk: false,
    },
    Engine {
        name: "yandex",
        host: "yandex.ru",
        path: "/search/",
        param: "text",
        gbk: false,
    },
    Engine {
        name: "baidu",
        host: "www.baidu.com",
        path: "/s",
        param: "wd",
        gbk: true,
    },
    Engine {
        name: "naver",
        host: "search.naver.com",
        path: "/search.naver",
        param: "query",
        gbk: false,
    },
    Engine {
        name: "seznam",
        host: "search.seznam.cz",
        path: "/",
        param: "q",
        gbk: false,
    },
    Engine {
        name: "qwant",
        host: "www.qwant.com",
        path: "/",
        param: "q",
        gbk: false,
    },
    Engine {
        name: "ecosia",
        host: "www.ecosia.org",
        path: "/search",
        param: "q",
        gbk: false,
    },
    Engine {
        name: "duckduckgo",
        host: "duckduckgo.com",
        path: "/",
        param: "q",
        gbk: false,
    },
];

/// Pick weights for ENGINES (Google's three ccTLDs together dominate).
const ENGINE_WEIGHTS: &[u32] = &[30, 8, 8, 15, 8, 6, 5, 4, 3, 3, 3, 7];

const REFERRERS: &[&str] = &[
    "https://news.example.net/article/42?q=red+shoes",
    "https://forum.example.org/t/boots",
    "https://blog.example.com/best-boots",
    "https://www.facebook.com/",
];

struct Line {
    ts: i64,
    seq: u64,
    text: String,
}

/// Writes `access.log` and `truth.json` into `out`; returns the truth.
pub fn generate(cfg: &GenerateConfig, out: &Path) -> Result<Truth> {
    let start_day = crate::parse::time::parse_day(&cfg.start)
        .ok_or_else(|| Error::usage(format!("bad start date {:?}", cfg.start)))?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let t0 = start_day as i64 * 86_400;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut lines: Vec<Line> = Vec::new();
    let mut seq = 0u64;
    let mut push = |lines: &mut Vec<Line>, ts: i64, text: String| {
        seq += 1;
        lines.push(Line { ts, seq, text });
    };
    let mut truth = Truth {
        seed: cfg.seed,
        visitors: cfg.visitors,
        site: SITE.into(),
        goal: GOAL.into(),
        min_visitors: cfg.min_visitors,
        ..Truth::default()
    };
    for (kw, rate) in KEYWORDS {
        let norm = crate::classify::keyword::normalize_text(kw).expect("non-empty keyword");
        truth.true_rates.insert(norm, *rate);
    }
    let mut rows: BTreeMap<RowKey, TruthRow> = BTreeMap::new();
    let kw_weights: Vec<f64> = (0..KEYWORDS.len())
        .map(|i| 1.0 / (1.0 + i as f64 * 0.15))
        .collect();
    let mut order_no = 0u64;
    let mut orders: Vec<Order> = Vec::new();
    // Search Console clicks: (day, landing, query) → clicks.
    let mut sc_clicks: BTreeMap<(i32, &str, String), i64> = BTreeMap::new();
    // Distinct visitors per keyword, for the k-visitor threshold.
    let mut kw_visitors: BTreeMap<String, u64> = BTreeMap::new();

    for v in 0..cfg.visitors {
        let ip = visitor_ip(v);
        let ua = USER_AGENTS[rng.random_range(0..USER_AGENTS.len())];
        let n_visits = match rng.random::<f64>() {
            x if x < 0.7 => 1,
            x if x < 0.9 => 2,
            _ => 3,
        };
        let mut ts = t0 + rng.random_range(0..cfg.days as i64 * 86_400);
        // Touches so far: (source, medium, keyword) and start time of non-direct visits.
        let mut touches: Vec<(RowKey, i64)> = Vec::new();
        // The search-preference cookie: the last term this visitor searched for.
        let mut last_term: Option<String> = None;
        // True term of the visitor's latest Google organic visit, if that was its last touch.
        let mut last_google_term: Option<String> = None;
        let mut seen_terms: std::collections::HashSet<String> = Default::default();
        for _ in 0..n_visits {
            let arrival = pick_arrival(&mut rng, &kw_weights);
            let landing = LANDINGS[rng.random_range(0..LANDINGS.len())];
            let (referer, query, key, rate) = render_arrival(&mut rng, &arrival);
            // What Google's Search Console would report for this visit, and its true term.
            let google_term = match arrival {
                Arrival::Search(e, k) | Arrival::NotProvided(e, k)
                    if ENGINES[e].name == "google" =>
                {
                    Some(crate::classify::keyword::normalize_text(KEYWORDS[k].0).expect("keyword"))
                }
                _ => None,
            };
            if let Some(term) = &google_term {
                *sc_clicks
                    .entry((crate::parse::time::day_of(ts), landing, term.clone()))
                    .or_default() += 1;
            }
            if !matches!(arrival, Arrival::Direct) {
                last_google_term = google_term;
            }
            let row_key = key.clone();
            let row = rows.entry(row_key.clone()).or_insert_with(|| TruthRow {
                source: key.0.clone(),
                medium: key.1.clone(),
                keyword: key.2.clone(),
                ..TruthRow::default()
            });
            row.visits += 1;
            truth.visits += 1;
            if !matches!(arrival, Arrival::Direct) {
                touches.push((key.clone(), ts));
            }
            if matches!(arrival, Arrival::Search(..) | Arrival::Campaign(_)) {
                last_term = key.2.clone();
                if let Some(kw) = &key.2
                    && seen_terms.insert(kw.clone())
                {
                    *kw_visitors.entry(kw.clone()).or_default() += 1;
                }
            }
            // Landing page view, then a few internal pages.
            let mut uri = landing.to_string();
            if !query.is_empty() {
                uri.push('?');
                uri.push_str(&query);
            }
            let mut prev = format!("https://{SITE}{landing}");
            push(&mut lines, ts, clf(&ip, ts, "GET", &uri, 200, &referer, ua));
            add_assets(&mut rng, &mut lines, &mut push, &ip, ts, &prev, ua);
            let mut pageviews = 1;
            let n_pages = rng.random_range(0..4);
            for _ in 0..n_pages {
                ts += rng.random_range(5..300);
                let page = LANDINGS[rng.random_range(0..LANDINGS.len())];
                push(&mut lines, ts, clf(&ip, ts, "GET", page, 200, &prev, ua));
                pageviews += 1;
                prev = format!("https://{SITE}{page}");
                if rng.random::<f64>() < 0.05 {
                    ts += 2;
                    push(
                        &mut lines,
                        ts,
                        clf(&ip, ts, "GET", "/old-page", 404, &prev, ua),
                    );
                    truth.error_status += 1;
                }
            }
            if rng.random::<f64>() < rate {
                ts += rng.random_range(10..200);
                order_no += 1;
                let cents: i64 = rng.random_range(500..20_000);
                let goal = format!(
                    "{GOAL}?order_id=O{order_no:07}&revenue={}.{:02}",
                    cents / 100,
                    cents % 100
                );
                push(&mut lines, ts, clf(&ip, ts, "GET", &goal, 200, &prev, ua));
                pageviews += 1;
                truth.conversions += 1;
                let conversion_ts = ts;
                // A reload of the confirmation page: same order, counted once.
                if rng.random::<f64>() < 0.1 {
                    ts += 3;
                    push(&mut lines, ts, clf(&ip, ts, "GET", &goal, 200, &prev, ua));
                    pageviews += 1;
                    truth.duplicate_orders += 1;
                }
                credit(&mut rows, &touches, conversion_ts, cents);
                if let Some(term) = &last_google_term {
                    *truth
                        .google_organic_conversions
                        .entry(term.clone())
                        .or_default() += 1;
                }
                orders.push(Order {
                    ts: conversion_ts,
                    id: order_no,
                    cents,
                    vid: visitor_cookie(&ip),
                    term: last_term.clone(),
                    reloaded: ts != conversion_ts,
                });
            }
            rows.get_mut(&row_key).expect("row exists").pageviews += pageviews;
            truth.page_views += pageviews as u64;
            // Next visit well after this one ends (no 30-minute ambiguity).
            ts += rng.random_range(2 * 3600..3 * 86_400);
        }
    }
    // Crawlers, HEAD-less noise and malformed lines, spread over the period.
    let span = cfg.days as i64 * 86_400;
    let n_crawl = (cfg.visitors / 10).max(1);
    for i in 0..n_crawl {
        let ts = t0 + rng.random_range(0..span);
        let ua = CRAWLER_AGENTS[i as usize % CRAWLER_AGENTS.len()];
        let page = LANDINGS[rng.random_range(0..LANDINGS.len())];
        push(
            &mut lines,
            ts,
            clf("66.249.66.1", ts, "GET", page, 200, "-", ua),
        );
        truth.crawlers += 1;
    }
    lines.sort_by_key(|l| (l.ts, l.seq));
    let n_bad = (cfg.visitors / 500).max(1);
    let mut text = Vec::with_capacity(lines.len() * 200);
    let mut bad_written = 0;
    for (i, line) in lines.iter().enumerate() {
        if bad_written < n_bad && i as u64 % (lines.len() as u64 / n_bad).max(1) == 7 {
            text.extend_from_slice(if bad_written % 2 == 0 {
                b"203.0.113.9 - - [04/Mar/2024:10:00 +0000] \"GET / HTTP/1.1\" 200\n".as_slice()
            } else {
                b"\x16\x03\x01 binary garbage \xff\xfe not a log line\n".as_slice()
            });
            bad_written += 1;
        }
        text.extend_from_slice(line.text.as_bytes());
        text.push(b'\n');
    }
    truth.malformed = bad_written;
    truth.lines = lines.len() as u64 + bad_written;
    truth.assets = lines
        .iter()
        .filter(|l| ASSETS.iter().any(|a| l.text.contains(&format!("GET {a} "))))
        .count() as u64;
    truth.rows = fold(rows.into_values().collect(), &kw_visitors, cfg.min_visitors);
    let mut with_orders = kw_visitors.clone();
    for o in &orders {
        if let Some(t) = &o.term {
            *with_orders.entry(t.clone()).or_default() += 1;
        }
    }
    truth.keyword_rows = fold(keyword_truth(&orders), &with_orders, cfg.min_visitors);
    write_purchase_files(out, &orders)?;
    write_search_console(out, &sc_clicks, &mut rng)?;
    let mut vid_text = Vec::with_capacity(text.len() + text.len() / 8);
    for line in text.split_inclusive(|&b| b == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        vid_text.extend_from_slice(body);
        let ip = body.split(|&b| b == b' ').next().unwrap_or(b"");
        let ip = String::from_utf8_lossy(ip);
        vid_text.extend_from_slice(
            format!(" \"{VISITOR_COOKIE}={}\"\n", visitor_cookie(&ip)).as_bytes(),
        );
    }
    let vid_log = out.join(VID_LOG_FILE);
    std::fs::write(&vid_log, &vid_text).map_err(|e| Error::io(&vid_log, e))?;
    let log = out.join(LOG_FILE);
    std::fs::write(&log, &text).map_err(|e| Error::io(&log, e))?;
    let truth_path = out.join(TRUTH_FILE);
    let mut f = std::fs::File::create(&truth_path).map_err(|e| Error::io(&truth_path, e))?;
    serde_json::to_writer_pretty(&mut f, &truth).map_err(|e| Error::Other(e.to_string()))?;
    f.write_all(b"\n").map_err(|e| Error::io(&truth_path, e))?;
    Ok(truth)
}

type PushFn<'a> = dyn FnMut(&mut Vec<Line>, i64, String) + 'a;

#[allow(clippy::too_many_arguments)]
fn add_assets(
    rng: &mut ChaCha8Rng,
    lines: &mut Vec<Line>,
    push: &mut PushFn,
    ip: &str,
    ts: i64,
    page: &str,
    ua: &str,
) {
    let n = rng.random_range(0..3);
    for asset in ASSETS.iter().take(n) {
        push(lines, ts + 1, clf(ip, ts + 1, "GET", asset, 200, page, ua));
    }
}

type RowKey = (String, String, Option<String>);

/// One generated order.
struct Order {
    ts: i64,
    id: u64,
    cents: i64,
    vid: String,
    term: Option<String>,
    /// The confirmation page was loaded twice: the purchase files list it twice too.
    reloaded: bool,
}

/// The visitor cookie of a generated visitor (a function of its unique address).
fn visitor_cookie(ip: &str) -> String {
    format!(
        "V{:012x}",
        xxhash_rust::xxh3::xxh3_64(ip.as_bytes()) & 0xffff_ffff_ffff
    )
}

fn write_purchase_files(out: &Path, orders: &[Order]) -> Result<()> {
    let mut by_visitor = String::from("ts,order_id,revenue,currency,visitor_id\n");
    let mut by_keyword = String::from("ts,order_id,revenue,currency,keyword\n");
    for o in orders {
        let ts = chrono::DateTime::from_timestamp(o.ts, 0)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        let revenue = format!("{}.{:02}", o.cents / 100, o.cents % 100);
        // People's cookies keep the term as typed; capitalise to exercise the normal form.
        let term = o.term.as_deref().map(capitalise).unwrap_or_default();
        for _ in 0..if o.reloaded { 2 } else { 1 } {
            by_visitor.push_str(&format!("{ts},O{:07},{revenue},EUR,{}\n", o.id, o.vid));
            by_keyword.push_str(&format!(
                "{ts},O{:07},{revenue},EUR,{}\n",
                o.id,
                csv_field(&term)
            ));
        }
    }
    for (name, text) in [
        (PURCHASES_FILE, by_visitor),
        (PURCHASES_KEYWORD_FILE, by_keyword),
    ] {
        let p = out.join(name);
        std::fs::write(&p, text).map_err(|e| Error::io(&p, e))?;
    }
    Ok(())
}

/// The k-visitor threshold as the privacy gate applies it: rarer keywords become
/// `(other)`, and rows that then coincide are merged.
fn fold(rows: Vec<TruthRow>, visitors: &BTreeMap<String, u64>, k: u64) -> Vec<TruthRow> {
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

/// Google Search Console's bulk-export shape: one row per date × query × page, with
/// about a tenth of the (rarer) rows anonymised (empty query), as Google does.
fn write_search_console(
    out: &Path,
    clicks: &BTreeMap<(i32, &str, String), i64>,
    rng: &mut ChaCha8Rng,
) -> Result<()> {
    let mut text = String::from("date,query,page,country,device,clicks,impressions,ctr,position\n");
    for ((day, page, query), c) in clicks {
        let impressions = c * rng.random_range(3..12);
        let anonymised = *c == 1 && rng.random::<f64>() < 0.2;
        let q = if anonymised {
            String::new()
        } else {
            csv_field(query)
        };
        text.push_str(&format!(
            "{},{q},https://{SITE}{page},deu,desktop,{c},{impressions},{:.4},{:.1}\n",
            crate::parse::time::format_day(*day),
            *c as f64 / impressions as f64,
            rng.random_range(1.0..20.0f64)
        ));
    }
    let p = out.join(SEARCH_CONSOLE_FILE);
    std::fs::write(&p, text).map_err(|e| Error::io(&p, e))
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Whole conversions per search-preference term; orders without a term are unattributed.
fn keyword_truth(orders: &[Order]) -> Vec<TruthRow> {
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
fn credit(rows: &mut BTreeMap<RowKey, TruthRow>, touches: &[(RowKey, i64)], ts: i64, cents: i64) {
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
mod rules {
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

/// A unique IPv4 address per visitor, so IP + user agent identifies it exactly.
fn visitor_ip(v: u64) -> String {
    let n = v + 1;
    format!(
        "{}.{}.{}.{}",
        11 + (n >> 24) % 200,
        (n >> 16) & 255,
        (n >> 8) & 255,
        n & 255
    )
}

fn pick_weighted(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

fn pick_arrival(rng: &mut ChaCha8Rng, kw_weights: &[f64]) -> Arrival {
    let engine_weights: Vec<f64> = ENGINE_WEIGHTS.iter().map(|w| *w as f64).collect();
    let x = rng.random::<f64>();
    if x < 0.40 {
        let e = pick_weighted(rng, &engine_weights);
        if ENGINES[e].name == "duckduckgo" {
            return Arrival::NotProvided(e, pick_weighted(rng, kw_weights));
        }
        Arrival::Search(e, pick_weighted(rng, kw_weights))
    } else if x < 0.60 {
        let e = pick_weighted(rng, &engine_weights);
        Arrival::NotProvided(e, pick_weighted(rng, kw_weights))
    } else if x < 0.70 {
        Arrival::Campaign(pick_weighted(rng, kw_weights))
    } else if x < 0.75 {
        Arrival::Gclid
    } else if x < 0.85 {
        Arrival::Referral(rng.random_range(0..REFERRERS.len()))
    } else {
        Arrival::Direct
    }
}

/// Referer, landing query string, expected (source, medium, keyword), conversion rate.
fn render_arrival(rng: &mut ChaCha8Rng, arrival: &Arrival) -> (String, String, RowKey, f64) {
    let kw = |i: usize| crate::classify::keyword::normalize_text(KEYWORDS[i].0).expect("keyword");
    match *arrival {
        Arrival::Search(e, k) => {
            let eng = &ENGINES[e];
            let term = vary_case(rng, KEYWORDS[k].0);
            let (gbk, _, unmappable) = encoding_rs::GBK.encode(&term);
            let encoded = if eng.gbk && !unmappable {
                format!("ie=gbk&{}={}", eng.param, encode_bytes(&gbk, rng.random()))
            } else {
                format!(
                    "{}={}",
                    eng.param,
                    encode_bytes(term.as_bytes(), rng.random())
                )
            };
            let referer = format!("https://{}{}?{}&src=web", eng.host, eng.path, encoded);
            (
                referer,
                String::new(),
                (eng.name.into(), "organic".into(), Some(kw(k))),
                KEYWORDS[k].1,
            )
        }
        Arrival::NotProvided(e, k) => {
            let eng = &ENGINES[e];
            let referer = if eng.name == "google" && rng.random::<bool>() {
                format!(
                    "https://{}/url?sa=t&rct=j&q=&esrc=s&url=https%3A%2F%2F{SITE}%2F",
                    eng.host
                )
            } else {
                format!("https://{}/", eng.host)
            };
            (
                referer,
                String::new(),
                (eng.name.into(), "organic".into(), Some(NOT_PROVIDED.into())),
                KEYWORDS[k].1,
            )
        }
        Arrival::Campaign(k) => {
            let term = vary_case(rng, KEYWORDS[k].0);
            let query = format!(
                "utm_source=newsletter&utm_medium=email&utm_campaign=Spring+Sale&utm_term={}",
                encode_bytes(term.as_bytes(), true)
            );
            (
                "-".into(),
                query,
                ("newsletter".into(), "email".into(), Some(kw(k))),
                KEYWORDS[k].1,
            )
        }
        Arrival::Gclid => (
            "https://www.google.com/".into(),
            format!("gclid=Cj0K{}", rng.random_range(100_000..999_999)),
            ("google".into(), "cpc".into(), Some(NOT_PROVIDED.into())),
            BASE_RATE,
        ),
        Arrival::Referral(r) => {
            let url = REFERRERS[r];
            let host = url
                .trim_start_matches("https://")
                .split('/')
                .next()
                .unwrap_or("")
                .trim_start_matches("www.");
            (
                url.into(),
                String::new(),
                (host.into(), "referral".into(), None),
                BASE_RATE,
            )
        }
        Arrival::Direct => (
            "-".into(),
            String::new(),
            (DIRECT.into(), NONE.into(), None),
            BASE_RATE,
        ),
    }
}

/// Mixed case the way people type: sometimes capitalised, sometimes shouted.
fn vary_case(rng: &mut ChaCha8Rng, term: &str) -> String {
    // Upper case is not reversible for every letter (ß → SS), so such terms keep theirs.
    let reversible = term.to_uppercase().to_lowercase() == term.to_lowercase();
    match rng.random_range(0..4) {
        0 if reversible => term.to_uppercase(),
        1 => term
            .split(' ')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => term.to_string(),
    }
}

/// Percent-encodes for a query string; spaces as `+` or `%20`.
fn encode_bytes(bytes: &[u8], plus: bool) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        match b {
            b' ' if plus => s.push('+'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                s.push(b as char)
            }
            _ => s.push_str(&format!("%{b:02X}")),
        }
    }
    s
}

fn clf(ip: &str, ts: i64, method: &str, uri: &str, status: u16, referer: &str, ua: &str) -> String {
    let t = chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%d/%b/%Y:%H:%M:%S +0000").to_string())
        .unwrap_or_default();
    let bytes = 200 + (ts % 5000);
    format!("{ip} - - [{t}] \"{method} {uri} HTTP/1.1\" {status} {bytes} \"{referer}\" \"{ua}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_output() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let cfg = GenerateConfig {
            visitors: 200,
            ..GenerateConfig::default()
        };
        let ta = generate(&cfg, a.path()).unwrap();
        let tb = generate(&cfg, b.path()).unwrap();
        assert_eq!(ta, tb);
        assert_eq!(
            std::fs::read(a.path().join(LOG_FILE)).unwrap(),
            std::fs::read(b.path().join(LOG_FILE)).unwrap()
        );
        assert!(ta.conversions > 0 && ta.malformed > 0 && ta.crawlers > 0);
        let visits: i64 = ta.rows.iter().map(|r| r.visits).sum();
        assert_eq!(visits as u64, ta.visits);
    }

    #[test]
    fn ips_are_unique() {
        let ips: std::collections::HashSet<String> = (0..100_000).map(visitor_ip).collect();
        assert_eq!(ips.len(), 100_000);
    }
}
