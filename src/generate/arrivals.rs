//! How a sample visitor arrives: the engines, referrers and campaigns of the sample,
//! and the log lines and Referer URLs they write.

use super::*;

#[derive(Debug, Clone)]
pub(super) enum Arrival {
    /// Search with a term: engine index, keyword index.
    Search(usize, usize),
    /// Search without a term.
    /// Search without a term in the referrer; the visitor did search for keyword `.1`.
    NotProvided(usize, usize),
    /// utm-tagged campaign with a term.
    Campaign(usize),
    /// Paid click with gclid only.
    Gclid,
    /// Paid click on a bought keyword (an index into the paid keywords), tagged by the
    /// ad platform's tracking template.
    Paid(usize),
    /// A link from another site (whose URL may carry an unrelated q=).
    Referral(usize),
    Direct,
}

pub(super) struct Engine {
    pub(super) name: &'static str,
    host: &'static str,
    path: &'static str,
    param: &'static str,
    /// Encode the term in this charset (with a charset parameter) instead of UTF-8.
    gbk: bool,
}

pub(super) const ENGINES: &[Engine] = &[
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
pub(super) const ENGINE_WEIGHTS: &[u32] = &[30, 8, 8, 15, 8, 6, 5, 4, 3, 3, 3, 7];

/// The referrers of [`REFERRERS`] that are social networks, with their source name.
pub(super) const SOCIAL: &[(&str, &str)] = &[("facebook.com", "facebook")];

pub(super) const REFERRERS: &[&str] = &[
    "https://news.example.net/article/42?q=red+shoes",
    "https://forum.example.org/t/boots",
    "https://blog.example.com/best-boots",
    "https://www.facebook.com/",
];
/// A unique IPv4 address per visitor, so IP + user agent identifies it exactly.
pub(super) fn visitor_ip(v: u64) -> String {
    let n = v + 1;
    format!(
        "{}.{}.{}.{}",
        11 + (n >> 24) % 200,
        (n >> 16) & 255,
        (n >> 8) & 255,
        n & 255
    )
}

pub(super) fn pick_weighted(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
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

pub(super) fn pick_arrival(rng: &mut ChaCha8Rng, kw_weights: &[f64]) -> Arrival {
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
pub(super) fn render_arrival(
    rng: &mut ChaCha8Rng,
    arrival: &Arrival,
) -> (String, String, RowKey, f64) {
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
        Arrival::Paid(p) => {
            let (k, engine) = super::paid::paid_keyword(p);
            let term = vary_case(rng, KEYWORDS[k].0);
            let click = match engine {
                "bing" => format!("msclkid={:032x}", rng.random::<u128>()),
                _ => format!("gclid=Cj0K{}", rng.random_range(100_000..999_999)),
            };
            let query = format!(
                "utm_source={engine}&utm_medium=cpc&utm_campaign=Shoes+Search&utm_term={}&{click}",
                encode_bytes(term.as_bytes(), true)
            );
            let host = match engine {
                "bing" => "www.bing.com",
                _ => "www.google.com",
            };
            (
                format!("https://{host}/"),
                query,
                (engine.into(), "cpc".into(), Some(kw(k))),
                KEYWORDS[k].1,
            )
        }
        Arrival::Referral(r) => {
            let url = REFERRERS[r];
            let host = url
                .trim_start_matches("https://")
                .split('/')
                .next()
                .unwrap_or("")
                .trim_start_matches("www.");
            // Social networks are their own medium, named as keyrank names them.
            let channel = match SOCIAL.iter().find(|(h, _)| *h == host) {
                Some((_, name)) => ((*name).into(), "social".into(), None),
                None => (host.into(), "referral".into(), None),
            };
            (url.into(), String::new(), channel, BASE_RATE)
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
pub(super) fn vary_case(rng: &mut ChaCha8Rng, term: &str) -> String {
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
pub(super) fn encode_bytes(bytes: &[u8], plus: bool) -> String {
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

pub(super) fn clf(
    ip: &str,
    ts: i64,
    method: &str,
    uri: &str,
    status: u16,
    referer: &str,
    ua: &str,
) -> String {
    let t = chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%d/%b/%Y:%H:%M:%S +0000").to_string())
        .unwrap_or_default();
    let bytes = 200 + (ts % 5000);
    format!("{ip} - - [{t}] \"{method} {uri} HTTP/1.1\" {status} {bytes} \"{referer}\" \"{ua}\"")
}
