//! Classify: is a hit a page view by a person, and where did its visitor come from
//! (campaign tags, a search engine and its term, a referral, the site itself, nothing)?

pub mod engines;
pub mod keyword;
pub mod table;

use crate::parse::{Hit, query_pairs, split_uri};
use aho_corasick::AhoCorasick;
use encoding_rs::Encoding;
use engines::{Engine, EngineTable, KeywordParam};
use rustc_hash::FxHashSet;

pub use crate::model::channel::{
    Channel, DIRECT, NONE, NOT_PROVIDED, NOT_SET, SEARCH_PREFERENCE_MEDIUM,
    SEARCH_PREFERENCE_SOURCE, UNATTRIBUTED,
};

/// Why a hit is not a page view by a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion {
    Crawler,
    ErrorStatus,
    Method,
    Asset,
    Redirect,
}

/// What a hit says about acquisition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Acquisition {
    /// No referrer and no campaign tags.
    Direct,
    /// A referrer on the site itself: the visit goes on.
    Internal,
    /// A campaign, search engine or referral: a touch.
    External(Channel),
}

const ASSET_EXTENSIONS: &[&str] = &[
    "css", "js", "mjs", "map", "png", "jpg", "jpeg", "gif", "ico", "svg", "webp", "avif", "bmp",
    "tif", "tiff", "woff", "woff2", "ttf", "otf", "eot", "mp4", "webm", "ogg", "mp3", "wav",
    "flac", "m4a", "mov", "avi", "pdf", "zip", "gz", "tgz", "bz2", "xz", "7z", "rar", "tar", "dmg",
    "exe", "msi", "deb", "rpm", "iso", "jar", "apk", "swf", "txt", "xml", "rss", "atom", "json",
    "csv", "wasm",
];

const CRAWLER_MARKERS: &[&str] = &[
    "bot",
    "crawl",
    "spider",
    "slurp",
    "mediapartners",
    "facebookexternalhit",
    "bingpreview",
    "curl/",
    "wget",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "libwww",
    "java/",
    "go-http-client",
    "httpclient",
    "okhttp",
    "feedfetcher",
    "feedparser",
    "feedburner",
    "feedly",
    "newsblur",
    "tiny tiny rss",
    "rss reader",
    "phantomjs",
    "headlesschrome",
    "scrapy",
    "ahrefs",
    "semrush",
    "ia_archiver",
    "archive.org",
    "pingdom",
    "uptime",
    "check_http",
    "nagios",
    "zabbix",
    "nutch",
    "zgrab",
    "masscan",
    "nmap",
    "nikto",
    "sqlmap",
    "php/",
    "axios/",
    "node-fetch",
    "lighthouse",
    "yahoo! slurp",
    "baiduspider",
    "yandex.com/bots",
    "apache-httpclient",
    "+http",
    "http://",
    "https://",
];

/// Classifies hits. Holds the engine table, the site's own hosts, the referrers to
/// exclude and the crawler markers.
pub struct Classifier {
    engines: EngineTable,
    site_hosts: FxHashSet<String>,
    /// `--exclude-referrer` patterns: a host (and its subdomains) or a glob.
    excluded: Vec<glob::Pattern>,
    networks: &'static table::Networks,
    crawlers: AhoCorasick,
}

/// The medium of AI-assistant referrers.
pub const AI_MEDIUM: &str = "ai";
/// The medium of social-network referrers.
pub const SOCIAL_MEDIUM: &str = "social";
const EXCLUDED_MEDIUM: &str = "excluded";

/// The first label of a bank's 3-D Secure challenge host (`acs1.bank.example`,
/// `3ds.bank.example`): a return from it continues the checkout.
fn is_3ds_host(host: &str) -> bool {
    let first = host.split('.').next().unwrap_or("");
    let stem = first.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
    // A label below the registrable domain: `3ds.com` itself is a company, not a page.
    host.split('.').count() > engines::registrable_labels(host)
        && (matches!(
            stem,
            "acs"
                | "3ds"
                | "3dsecure"
                | "3ds2"
                | "secure3d"
                | "tds"
                | "vbv"
                | "securecode"
                | "idcheck"
                | "safekey"
        ) || first.starts_with("acs-")
            || first.ends_with("-acs"))
}

impl Classifier {
    pub fn new(engines: EngineTable, site_hosts: &[String]) -> Self {
        let crawlers = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(CRAWLER_MARKERS)
            .expect("static crawler patterns compile");
        Classifier {
            engines,
            site_hosts: site_hosts.iter().map(|h| canonical_host(h)).collect(),
            excluded: Vec::new(),
            networks: table::Networks::builtin(),
            crawlers,
        }
    }

    /// Adds `--exclude-referrer` patterns: `host` (with its subdomains), or a glob with
    /// `*` (`*.pay.example`, `checkout-*.example`). A referrer they match continues the
    /// visit, like the site's own pages.
    pub fn exclude_referrers(&mut self, patterns: &[String]) -> crate::error::Result<()> {
        for p in patterns {
            let p = canonical_host(p);
            let globs = if p.contains(['*', '?', '[']) {
                vec![p.clone()]
            } else {
                vec![
                    glob::Pattern::escape(&p),
                    format!("*.{}", glob::Pattern::escape(&p)),
                ]
            };
            for g in globs {
                self.excluded.push(glob::Pattern::new(&g).map_err(|e| {
                    crate::error::Error::usage(format!("--exclude-referrer {p}: {e}"))
                })?);
            }
        }
        Ok(())
    }

    pub fn engines(&self) -> &EngineTable {
        &self.engines
    }

    pub fn site_hosts(&self) -> &FxHashSet<String> {
        &self.site_hosts
    }

    pub fn add_site_host(&mut self, host: &str) {
        self.site_hosts.insert(canonical_host(host));
    }

    /// Whether a user agent is a crawler (or missing). Ingest's workers remember the
    /// verdict per agent; see [`crate::ingest::pipeline`].
    pub fn is_crawler(&self, user_agent: &[u8]) -> bool {
        user_agent.is_empty() || user_agent == b"-" || self.crawlers.is_match(user_agent)
    }

    /// Why the hit is not a page view by a person, if it is not. A goal hit is never
    /// dropped as a redirect (checkouts often answer 302).
    pub fn exclusion(&self, hit: &Hit, goal: bool) -> Option<Exclusion> {
        self.exclusion_given(hit, goal, self.is_crawler(hit.user_agent))
    }

    /// [`Classifier::exclusion`] with the crawler verdict already known.
    pub fn exclusion_given(&self, hit: &Hit, goal: bool, crawler: bool) -> Option<Exclusion> {
        if crawler {
            return Some(Exclusion::Crawler);
        }
        if hit.status >= 400 || hit.status < 100 {
            return Some(Exclusion::ErrorStatus);
        }
        if hit.method != b"GET" && hit.method != b"POST" {
            return Some(Exclusion::Method);
        }
        let (path, _) = split_uri(hit.uri);
        if is_asset(path) {
            return Some(Exclusion::Asset);
        }
        if !goal && matches!(hit.status, 301 | 302 | 303 | 307 | 308) {
            return Some(Exclusion::Redirect);
        }
        None
    }

    /// Acquisition of a page view: campaign tags on the landing URL first, then the referrer.
    pub fn acquisition(&self, hit: &Hit) -> Acquisition {
        let referer = match hit.referer() {
            Some(r) => self.referrer(r, hit.vhost),
            None => Acquisition::Direct,
        };
        match self.campaign_over(hit, &referer) {
            Some(c) => Acquisition::External(c),
            None => referer,
        }
    }

    /// The campaign a hit's tags name, which wins over what its referrer says
    /// (`referer`: [`Self::referrer`], or [`Acquisition::Direct`] without one).
    pub fn campaign_over(&self, hit: &Hit, referer: &Acquisition) -> Option<Channel> {
        let (_, query) = split_uri(hit.uri);
        if query.is_empty() {
            return None;
        }
        campaign(query, referer)
    }

    /// Whether a referrer host is an AI assistant, a social network or an excluded
    /// (payment, sign-in) host: never the site's own, whatever share of referrers it has.
    pub fn is_known_network(&self, host: &str, path: &[u8]) -> bool {
        self.networks.lookup(host, path).is_some() || is_3ds_host(host)
    }

    /// Classifies a Referer header alone.
    pub fn referrer(&self, referer: &[u8], vhost: &[u8]) -> Acquisition {
        let Some(url) = RefUrl::parse(referer) else {
            return Acquisition::Direct;
        };
        // Most referrers are the site's own pages: compare without allocating.
        let host = url.host.strip_prefix("www.").unwrap_or(&url.host);
        if self.site_hosts.contains(host) || same_host(vhost, host) {
            return Acquisition::Internal;
        }
        if self.excluded.iter().any(|p| p.matches(host)) || is_3ds_host(host) {
            return Acquisition::Internal;
        }
        if url.host == "com.google.android.googlequicksearchbox" {
            return Acquisition::External(search_channel("google", None));
        }
        if let Some((name, medium)) = self.networks.lookup(&url.host, url.path) {
            if medium == EXCLUDED_MEDIUM {
                return Acquisition::Internal;
            }
            return Acquisition::External(Channel {
                source: name.to_string(),
                medium: medium.to_string(),
                keyword: None,
                campaign: None,
            });
        }
        if let Some(engine) = self.engines.lookup_url(&url.host, url.path) {
            let kw = extract_keyword(engine, &url);
            if kw.is_some() || engine.hidden.covers(url.path, url.query) {
                return Acquisition::External(search_channel(&engine.name, kw));
            }
        }
        Acquisition::External(Channel {
            source: host.to_string(),
            medium: "referral".into(),
            keyword: None,
            campaign: None,
        })
    }
}

fn search_channel(engine: &str, keyword: Option<String>) -> Channel {
    Channel {
        source: engine.to_string(),
        medium: "organic".into(),
        keyword: Some(keyword.unwrap_or_else(|| NOT_PROVIDED.to_string())),
        campaign: None,
    }
}

/// Lower case, no leading `www.`: how hosts are compared and shown.
pub fn canonical_host(host: &str) -> String {
    let h = host.trim().trim_end_matches('.').to_ascii_lowercase();
    match h.strip_prefix("www.") {
        Some(rest) if !rest.is_empty() => rest.to_string(),
        _ => h,
    }
}

/// Whether the logged virtual host (`%v`, `Host:`) names `host` (already canonical).
fn same_host(vhost: &[u8], host: &str) -> bool {
    if vhost.is_empty() || vhost == b"-" {
        return false;
    }
    let v = match memchr::memchr(b':', vhost) {
        Some(i) => &vhost[..i],
        None => vhost,
    };
    let v = v.strip_suffix(b".").unwrap_or(v);
    let v = if v.len() > 4 && v[..4].eq_ignore_ascii_case(b"www.") {
        &v[4..]
    } else {
        v
    };
    v.eq_ignore_ascii_case(host.as_bytes())
}

pub fn is_asset(path: &[u8]) -> bool {
    let last = match memchr::memrchr(b'/', path) {
        Some(i) => &path[i + 1..],
        None => path,
    };
    let Some(dot) = memchr::memrchr(b'.', last) else {
        return false;
    };
    let ext = &last[dot + 1..];
    if ext.is_empty() || ext.len() > 5 {
        return false;
    }
    ASSET_EXTENSIONS
        .iter()
        .any(|e| e.as_bytes().eq_ignore_ascii_case(ext))
}

/// The parts of a referrer URL keyrank needs.
#[derive(Debug)]
pub struct RefUrl<'a> {
    /// Lower case, without port, user info or trailing dot.
    pub host: std::borrow::Cow<'a, str>,
    pub path: &'a [u8],
    pub query: &'a [u8],
    pub fragment: &'a [u8],
    /// Path and query as one string, for Matomo's path regexes.
    pub path_and_query: &'a [u8],
}

impl<'a> RefUrl<'a> {
    pub fn parse(r: &'a [u8]) -> Option<Self> {
        let r = r.trim_ascii();
        // A scheme (`http`, `android-app`, …) is stripped when `://` follows it.
        let scheme = r
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || b"+-.".contains(c))
            .count();
        let rest = match r[scheme..].strip_prefix(b"://") {
            Some(rest) => rest,
            None => r,
        };
        let end = rest
            .iter()
            .position(|&c| c == b'/' || c == b'?' || c == b'#')
            .unwrap_or(rest.len());
        let mut authority = &rest[..end];
        if let Some(at) = memchr::memrchr(b'@', authority) {
            authority = &authority[at + 1..];
        }
        let host_end = if authority.first() == Some(&b'[') {
            authority
                .iter()
                .position(|&c| c == b']')
                .map_or(authority.len(), |i| i + 1)
        } else {
            memchr::memchr(b':', authority).unwrap_or(authority.len())
        };
        let host = std::str::from_utf8(&authority[..host_end]).ok()?;
        let host = host.trim_end_matches('.');
        if host.is_empty() || host == "-" {
            return None;
        }
        let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(host.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(host)
        };
        let after = &rest[end..];
        let (before_frag, fragment) = match memchr::memchr(b'#', after) {
            Some(i) => (&after[..i], &after[i + 1..]),
            None => (after, &after[after.len()..]),
        };
        let (path, query) = match memchr::memchr(b'?', before_frag) {
            Some(i) => (&before_frag[..i], &before_frag[i + 1..]),
            None => (before_frag, &before_frag[before_frag.len()..]),
        };
        Some(RefUrl {
            host,
            path,
            query,
            fragment,
            path_and_query: before_frag,
        })
    }
}

/// Query parameters that name the charset a search engine encoded its term in.
const CHARSET_PARAMS: &[&[u8]] = &[
    b"ie",
    b"oe",
    b"ei",
    b"enc",
    b"encoding",
    b"inputencoding",
    b"charset",
];

fn declared_charset(query: &[u8]) -> Option<&'static Encoding> {
    query_pairs(query).find_map(|(k, v)| {
        CHARSET_PARAMS
            .iter()
            .any(|p| k.eq_ignore_ascii_case(p))
            .then(|| Encoding::for_label(v))
            .flatten()
    })
}

/// A raw term in normal form: a charset the URL declares, else UTF-8 when the bytes
/// are UTF-8, else the engine's legacy charsets in order (the first that decodes
/// without a replacement character), else Latin-1.
fn engine_term(raw: &[u8], declared: Option<&'static Encoding>, engine: &Engine) -> Option<String> {
    if declared.is_some() || engine.charsets.len() <= 1 {
        return keyword::normalize(raw, declared.or_else(|| engine.charsets.first().copied()));
    }
    let bytes = keyword::percent_decode(raw);
    if std::str::from_utf8(&bytes).is_err()
        && let Some(text) = engine.charsets.iter().find_map(|enc| {
            enc.decode_without_bom_handling_and_without_replacement(&bytes)
                .map(|t| t.into_owned())
        })
    {
        return keyword::normalize_text(&text);
    }
    keyword::normalize(raw, engine.charsets.first().copied())
}

/// Parameters whose value is itself a URL or path of the engine's results page, where
/// the term then sits (old Google Images: `prev=/images?q=…`; Yahoo Images: `back=`).
const NESTED_PARAMS: &[&[u8]] = &[b"prev", b"url", b"back"];

/// The search term of a search-engine referrer, in normal form.
pub fn extract_keyword(engine: &Engine, url: &RefUrl) -> Option<String> {
    term_in(
        engine,
        url.path,
        url.query,
        url.fragment,
        url.path_and_query,
    )
    .or_else(|| {
        // A term nested in a results-page URL: a path, or a URL of the same engine.
        query_pairs(url.query).find_map(|(k, v)| {
            if !NESTED_PARAMS.iter().any(|p| k.eq_ignore_ascii_case(p)) {
                return None;
            }
            let inner = keyword::percent_decode(v);
            let nested = if inner.starts_with(b"/") {
                let (path, query) = split_uri(&inner);
                (path.to_vec(), query.to_vec())
            } else {
                let u = RefUrl::parse(&inner)?;
                if u.host != url.host {
                    return None;
                }
                (u.path.to_vec(), u.query.to_vec())
            };
            term_in(engine, &nested.0, &nested.1, b"", &inner)
        })
    })
}

fn term_in(
    engine: &Engine,
    path: &[u8],
    query: &[u8],
    fragment: &[u8],
    path_and_query: &[u8],
) -> Option<String> {
    let declared = declared_charset(query);
    // Google's /url redirect names the clicked result in q=, not what was searched.
    let redirect = path == b"/url" || path == b"/imgres";
    for param in &engine.params {
        match param {
            KeywordParam::Name(name) => {
                let name = name.as_bytes();
                let found = query_pairs(query)
                    .chain(query_pairs(fragment))
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                    .filter_map(|(_, v)| engine_term(v, declared, engine))
                    .find(|kw| !(redirect && looks_like_url(kw)));
                if found.is_some() {
                    return found;
                }
            }
            KeywordParam::PathRegex(re) => {
                let hay = String::from_utf8_lossy(path_and_query);
                if let Some(m) = re.captures(&hay).and_then(|c| c.get(1))
                    && let Some(kw) = engine_term(m.as_str().as_bytes(), declared, engine)
                {
                    return Some(kw);
                }
            }
        }
    }
    None
}

fn looks_like_url(kw: &str) -> bool {
    kw.starts_with("http://") || kw.starts_with("https://") || kw.starts_with("www.")
}

/// Campaign tags on a landing URL: `utm_*` (also Matomo's `mtm_*`/`pk_*`), `gclid`, `msclkid`.
fn campaign(query: &[u8], referer: &Acquisition) -> Option<Channel> {
    let mut source = None;
    let mut medium = None;
    let mut name = None;
    let mut term = None;
    let mut click = None;
    for (k, v) in query_pairs(query) {
        let slot = match k {
            b"utm_source" | b"mtm_source" | b"pk_source" => &mut source,
            b"utm_medium" | b"mtm_medium" | b"pk_medium" => &mut medium,
            b"utm_campaign" | b"mtm_campaign" | b"pk_campaign" | b"_rcampaign" => &mut name,
            b"utm_term" | b"mtm_keyword" | b"mtm_kwd" | b"pk_keyword" | b"pk_kwd" => &mut term,
            b"gclid" | b"gbraid" | b"wbraid" => {
                click.get_or_insert("google");
                continue;
            }
            b"msclkid" => {
                click.get_or_insert("bing");
                continue;
            }
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(keyword::normalize(v, None));
        }
    }
    if source.is_none() && medium.is_none() && name.is_none() && term.is_none() && click.is_none() {
        return None;
    }
    let source = source
        .flatten()
        .or_else(|| click.map(String::from))
        .or_else(|| match referer {
            Acquisition::External(c) => Some(c.source.clone()),
            _ => None,
        });
    let medium = medium
        .flatten()
        .or_else(|| click.map(|_| "cpc".to_string()));
    let keyword = term
        .flatten()
        .or_else(|| click.map(|_| NOT_PROVIDED.to_string()));
    Some(Channel {
        source: source.unwrap_or_else(|| NOT_SET.into()),
        medium: medium.unwrap_or_else(|| NOT_SET.into()),
        keyword,
        campaign: name.flatten(),
    })
}

#[cfg(test)]
mod tests;
