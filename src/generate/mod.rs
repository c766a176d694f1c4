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

mod arrivals;
mod paid;
mod truth;

use arrivals::*;
use paid::*;
pub use paid::{COSTS_FILE, PaidCurve};
use truth::*;
pub use truth::{Truth, TruthRow};

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
    /// Also buy some keywords on Google and Bing with known response curves, and write
    /// the platforms' daily cost report ([`COSTS_FILE`]).
    pub costs: bool,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        GenerateConfig {
            visitors: 2_000,
            seed: 1,
            days: 7,
            start: "2024-03-04".into(),
            min_visitors: crate::privacy::DEFAULT_MIN_VISITORS,
            costs: false,
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

    // Paid clicks come after the other visitors and draw from their own generator, so
    // the rest of the sample is the same with or without them.
    let mut paid_rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x7061_6964_636c_6b73);
    let (paid, cost_report, curves) = if cfg.costs {
        paid_days(cfg, t0, &mut paid_rng)
    } else {
        Default::default()
    };
    truth.paid_curves = curves;
    for v in 0..cfg.visitors + paid.len() as u64 {
        let click = v.checked_sub(cfg.visitors).map(|i| &paid[i as usize]);
        let rng: &mut ChaCha8Rng = if click.is_some() {
            &mut paid_rng
        } else {
            &mut rng
        };
        let ip = visitor_ip(v);
        let ua = USER_AGENTS[rng.random_range(0..USER_AGENTS.len())];
        let n_visits = match (click, rng.random::<f64>()) {
            (Some(_), _) => 1,
            (None, x) if x < 0.7 => 1,
            (None, x) if x < 0.9 => 2,
            _ => 3,
        };
        let mut ts = match click {
            Some(c) => c.ts,
            None => t0 + rng.random_range(0..cfg.days as i64 * 86_400),
        };
        // Touches so far: (source, medium, keyword) and start time of non-direct visits.
        let mut touches: Vec<(RowKey, i64)> = Vec::new();
        // The search-preference cookie: the last term this visitor searched for.
        let mut last_term: Option<String> = None;
        // True term of the visitor's latest Google organic visit, if that was its last touch.
        let mut last_google_term: Option<String> = None;
        let mut seen_terms: std::collections::HashSet<String> = Default::default();
        for _ in 0..n_visits {
            let arrival = match click {
                Some(c) => Arrival::Paid(c.paid),
                None => pick_arrival(rng, &kw_weights),
            };
            let landing = LANDINGS[rng.random_range(0..LANDINGS.len())];
            let (referer, query, key, rate) = render_arrival(rng, &arrival);
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
            if matches!(
                arrival,
                Arrival::Search(..) | Arrival::Campaign(_) | Arrival::Paid(_)
            ) {
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
            add_assets(rng, &mut lines, &mut push, &ip, ts, &prev, ua);
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
    if cfg.costs {
        let p = out.join(COSTS_FILE);
        std::fs::write(&p, cost_report).map_err(|e| Error::io(&p, e))?;
    }
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
    fn paid_clicks_leave_the_rest_of_the_sample_alone() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let cfg = GenerateConfig {
            visitors: 600,
            ..GenerateConfig::default()
        };
        let plain = generate(&cfg, a.path()).unwrap();
        let paid = generate(
            &GenerateConfig {
                costs: true,
                ..cfg.clone()
            },
            b.path(),
        )
        .unwrap();
        assert!(plain.paid_curves.is_empty() && !a.path().join(COSTS_FILE).exists());
        assert_eq!(paid.paid_curves.len(), 12);
        let bought: std::collections::BTreeSet<(String, String)> = paid
            .paid_curves
            .iter()
            .map(|c| (c.engine.clone(), c.keyword.clone()))
            .collect();
        // Every row but the bought keywords' cpc rows is as without costs.
        let unpaid = |t: &Truth| -> Vec<TruthRow> {
            t.rows
                .iter()
                .filter(|r| {
                    !(r.medium == "cpc"
                        && bought
                            .contains(&(r.source.clone(), r.keyword.clone().unwrap_or_default())))
                })
                .cloned()
                .collect()
        };
        assert_eq!(unpaid(&plain), unpaid(&paid));
        let paid_visits: i64 = paid.rows.iter().map(|r| r.visits).sum::<i64>()
            - plain.rows.iter().map(|r| r.visits).sum::<i64>();
        assert!(paid_visits > 100, "{paid_visits} paid visits");
        // The cost report's clicks are the paid visits plus the few that were lost.
        let report = std::fs::read_to_string(b.path().join(COSTS_FILE)).unwrap();
        let clicks: i64 = report
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(4).unwrap().parse::<i64>().unwrap())
            .sum();
        assert!(
            clicks >= paid_visits && (clicks as f64) < paid_visits as f64 * 1.1,
            "{clicks} clicks for {paid_visits} visits"
        );
    }

    #[test]
    fn ips_are_unique() {
        let ips: std::collections::HashSet<String> = (0..100_000).map(visitor_ip).collect();
        assert_eq!(ips.len(), 100_000);
    }
}
