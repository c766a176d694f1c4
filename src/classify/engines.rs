//! Search engines: which referrer hosts are search engines, and which URL query
//! parameters carry the search term.
//!
//! A table is compiled into the binary ([`EngineTable::builtin`], the `search` rows of
//! `referrers.tsv`: keyrank's curated engines plus every engine and host of Matomo's
//! CC0 list) and can be extended from a copy of Matomo's `SearchEngines.yml`. Lookup
//! runs for every external referrer, so hosts are indexed in hash maps and a lookup is
//! a handful of probes rather than a scan of patterns.
//!
//! A host pattern may end in a path (`google.{}/imgres`): it then matches only
//! referrers whose path begins with it, and wins over the host alone. A host no entry
//! names is looked up again without its first label while a subdomain of its
//! registrable domain is left (`it.images.search.yahoo.com` finds
//! `images.search.yahoo.com`), so deep subdomains of an engine resolve but
//! `mail.google.com` never becomes `google.com`.
//!
//! Host patterns are dot-separated labels. `{}` as the last label stands for a TLD
//! suffix (`com`, `net`, `org`, `info`, `biz`, a two-letter country code, or `co.uk`
//! style pairs); `{}` anywhere else stands for exactly one label. Everything else is
//! literal and compared label by label, so `google.com.evil.example` is not Google.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::fmt;
use std::path::Path;

use encoding_rs::Encoding;
use regex::Regex;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{Error, Result};

/// Where a search engine puts the term.
#[derive(Debug)]
pub enum KeywordParam {
    /// A query-string parameter name, matched case-insensitively (Bing's mobile
    /// pages send `Q=`).
    Name(String),
    /// A Matomo `/regex/` parameter, applied to the referrer's path and query;
    /// capture group 1 is the keyword. Used by engines that put the term in the path.
    PathRegex(Regex),
}

impl KeywordParam {
    /// Same kind and same text: a duplicate in an engine's list adds nothing.
    fn same_as(&self, other: &KeywordParam) -> bool {
        match (self, other) {
            (KeywordParam::Name(a), KeywordParam::Name(b)) => a.eq_ignore_ascii_case(b),
            (KeywordParam::PathRegex(a), KeywordParam::PathRegex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

/// One search engine (or one Matomo entry of it: an engine may have several entries
/// with different hosts and parameters that share a name).
#[derive(Debug)]
pub struct Engine {
    /// Canonical source name, lower case, e.g. "google", "yahoo japan".
    pub name: String,
    /// Tried in order; the first that yields a term wins.
    pub params: Vec<KeywordParam>,
    /// Charsets the engine is known to encode terms in besides UTF-8, most likely
    /// first (e.g. GBK for Baidu). Empty means UTF-8 only.
    pub charsets: Vec<&'static Encoding>,
    /// When no term is found: on which paths the referrer is still a search.
    pub hidden: Hidden,
}

/// Matomo's `hiddenkeyword` rule: the paths on which an engine hides the term, so that
/// a referrer from them with no term is a search with the term `(not provided)`. On
/// other paths a term-less referrer from the host is a referral (Google's `/reader`,
/// a portal's home page).
#[derive(Debug)]
pub enum Hidden {
    /// Every path: a referrer from the host is a search, term or not.
    Any,
    /// No path: without a term the referrer is a referral.
    Never,
    /// These paths: literal (`/`) or a regex over the path with its query.
    Paths(Vec<HiddenPath>),
}

/// Last path segments (before any extension) of engines' results pages.
const RESULTS_PAGES: &[&[u8]] = &[b"search", b"asearch", b"results", b"web"];

#[derive(Debug)]
pub enum HiddenPath {
    Literal(String),
    Regex(Regex),
}

impl Hidden {
    /// Matomo's notation: `/regex/` or a literal path, each.
    fn parse(items: &[String]) -> std::result::Result<Hidden, regex::Error> {
        let mut paths = Vec::new();
        for raw in items.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
            paths.push(
                if raw.len() >= 2 && raw.starts_with('/') && raw.ends_with('/') {
                    HiddenPath::Regex(Regex::new(&raw[1..raw.len() - 1])?)
                } else {
                    HiddenPath::Literal(raw.to_owned())
                },
            );
        }
        Ok(if paths.is_empty() {
            Hidden::Never
        } else {
            Hidden::Paths(paths)
        })
    }

    /// Whether a term-less referrer with this path (and query, when it has one) is a
    /// search.
    pub fn covers(&self, path: &[u8], query: &[u8]) -> bool {
        match self {
            Hidden::Any => true,
            Hidden::Never => false,
            Hidden::Paths(paths) => {
                // `//` and `///page` are `/` and `/page` to a server.
                let slashes = path.iter().take_while(|&&c| c == b'/').count();
                let path = &path[slashes.saturating_sub(1)..];
                // A results page whose term was stripped (`/search`, `/do/search`,
                // `/results.aspx`) is a search on any engine that hides terms.
                let last = path.rsplit(|&c| c == b'/').next().unwrap_or_default();
                let stem = last.split(|&c| c == b'.').next().unwrap_or_default();
                if RESULTS_PAGES.iter().any(|p| stem.eq_ignore_ascii_case(p)) {
                    return true;
                }
                let mut whole = String::from_utf8_lossy(path).into_owned();
                if !query.is_empty() {
                    whole.push('?');
                    whole.push_str(&String::from_utf8_lossy(query));
                }
                paths.iter().any(|p| match p {
                    HiddenPath::Literal(l) => *l == whole,
                    HiddenPath::Regex(re) => re.is_match(&whole),
                })
            }
        }
    }
}

/// Host → engine index. Entries are never removed: a re-added pattern points at the
/// newer engine, and the older engine simply becomes unreachable through it.
pub struct EngineTable {
    engines: Vec<Engine>,
    /// Patterns without wildcards.
    exact: HashMap<String, usize>,
    /// `prefix.{}` patterns keyed by `prefix`.
    by_tld_prefix: HashMap<String, usize>,
    /// `{}.rest` patterns keyed by `rest`.
    by_parent: HashMap<String, usize>,
    /// Any other wildcard shape (e.g. `images.{}.ask.com`); rare, so scanned.
    general: Vec<(GeneralPattern, usize)>,
    /// Patterns with a path prefix (`google.{}/imgres`); few, so scanned.
    with_path: Vec<(HostPattern, String, usize)>,
    /// Distinct engine names.
    names: HashSet<String>,
}

impl fmt::Debug for EngineTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineTable")
            .field("engines", &self.names.len())
            .field("entries", &self.engines.len())
            .field("exact_hosts", &self.exact.len())
            .field(
                "wildcard_patterns",
                &(self.by_tld_prefix.len() + self.by_parent.len() + self.general.len()),
            )
            .finish()
    }
}

impl EngineTable {
    fn empty() -> EngineTable {
        EngineTable {
            engines: Vec::new(),
            exact: HashMap::default(),
            by_tld_prefix: HashMap::default(),
            by_parent: HashMap::default(),
            general: Vec::new(),
            with_path: Vec::new(),
            names: HashSet::default(),
        }
    }

    /// The table compiled into the binary: the `search` rows of `referrers.tsv`.
    pub fn builtin() -> EngineTable {
        let mut table = EngineTable::empty();
        for row in super::table::rows().iter().filter(|r| r.medium == "search") {
            let engine = Engine {
                name: row.name.clone(),
                params: row
                    .params
                    .iter()
                    .filter_map(|p| parse_param(p).expect("the built-in regexes compile"))
                    .collect(),
                charsets: resolve_charsets(row.charsets.iter().map(String::as_str)),
                hidden: match row.hidden.as_slice() {
                    [any] if any == "*" => Hidden::Any,
                    items => Hidden::parse(items).expect("the built-in regexes compile"),
                },
            };
            table.add(engine, row.hosts.iter().map(String::as_str));
        }
        table
    }

    /// Adds the entries of a Matomo `SearchEngines.yml` document; returns how many
    /// entries were added (entries whose hosts are all unusable, e.g. only URL paths,
    /// are skipped). Added entries win over earlier ones for the same host pattern.
    /// Nothing is added if any part of the document is rejected.
    pub fn extend_from_matomo_yaml(&mut self, yaml: &str, origin: &str) -> Result<usize> {
        let file: MatomoFile =
            serde_yaml_ng::from_str(yaml).map_err(|e| Error::usage(format!("{origin}: {e}")))?;
        // Build every engine first so that a bad regex leaves the table untouched.
        let mut pending = Vec::new();
        for (display, entries) in file.0 {
            // Matomo writes "Yahoo!"; the built-in table and reports say "yahoo".
            let name = display.trim().to_lowercase().replace('!', "");
            if name.is_empty() {
                continue;
            }
            for entry in entries {
                let mut params: Vec<KeywordParam> = Vec::new();
                for raw in &entry.params {
                    let param = parse_param(raw).map_err(|e| {
                        Error::usage(format!(
                            "{origin}: search engine {display:?}: invalid keyword pattern {raw:?}: {e}"
                        ))
                    })?;
                    if let Some(p) = param
                        && !params.iter().any(|q| q.same_as(&p))
                    {
                        params.push(p);
                    }
                }
                let hidden = Hidden::parse(&entry.hidden).map_err(|e| {
                    Error::usage(format!(
                        "{origin}: search engine {display:?}: invalid hiddenkeyword pattern: {e}"
                    ))
                })?;
                let engine = Engine {
                    name: name.clone(),
                    params,
                    charsets: resolve_charsets(entry.charsets.iter().map(String::as_str)),
                    hidden,
                };
                pending.push((engine, entry.urls));
            }
        }
        let mut added = 0;
        for (engine, urls) in pending {
            if self.add(engine, urls.iter().map(String::as_str)) {
                added += 1;
            }
        }
        Ok(added)
    }

    /// [`extend_from_matomo_yaml`](Self::extend_from_matomo_yaml) on a file.
    pub fn extend_from_matomo_file(&mut self, path: &Path) -> Result<usize> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        self.extend_from_matomo_yaml(&text, &path.display().to_string())
    }

    /// The engine for a referrer host (already lower case, without port or trailing
    /// dot). The host as given is tried first, then without a leading `www.`, so a
    /// table entry `duckduckgo.com` also covers `www.duckduckgo.com`.
    pub fn lookup(&self, host: &str) -> Option<&Engine> {
        self.find_host(host).map(|i| &self.engines[i])
    }

    /// The engine for a referrer: a pattern with a path prefix that begins `path`
    /// first (the newest such), then the host as [`lookup`](Self::lookup) finds it.
    pub fn lookup_url(&self, host: &str, path: &[u8]) -> Option<&Engine> {
        let bare = host.strip_prefix("www.").unwrap_or(host);
        self.with_path
            .iter()
            .rev()
            .find(|(pattern, prefix, _)| {
                path.starts_with(prefix.as_bytes())
                    && (pattern.matches(host) || pattern.matches(bare))
            })
            .map(|(_, _, i)| *i)
            .or_else(|| self.find_host(host))
            .map(|i| &self.engines[i])
    }

    /// The host, then without `www.`, then without its first labels one by one while
    /// what is left is a subdomain of its registrable domain.
    fn find_host(&self, host: &str) -> Option<usize> {
        if let Some(i) = self
            .find(host)
            .or_else(|| host.strip_prefix("www.").and_then(|h| self.find(h)))
        {
            return Some(i);
        }
        let keep = registrable_labels(host) + 1;
        let mut rest = host;
        while rest.split('.').count() > keep {
            rest = rest.split_once('.').map_or(rest, |(_, r)| r);
            if let Some(i) = self.find(rest) {
                return Some(i);
            }
        }
        None
    }

    /// Number of distinct engine names.
    pub fn engine_count(&self) -> usize {
        self.names.len()
    }

    /// An exact host entry wins; otherwise the most recently added wildcard match.
    fn find(&self, host: &str) -> Option<usize> {
        if let Some(&i) = self.exact.get(host) {
            return Some(i);
        }
        // `Option<usize>` orders `None` first, so `max` keeps the newest match.
        let mut best: Option<usize> = None;
        for prefix in tld_prefixes(host).into_iter().flatten() {
            best = best.max(self.by_tld_prefix.get(prefix).copied());
        }
        if let Some((_, parent)) = host.split_once('.') {
            best = best.max(self.by_parent.get(parent).copied());
        }
        for (pattern, i) in &self.general {
            if Some(*i) > best && pattern.matches(host) {
                best = Some(*i);
            }
        }
        best
    }

    /// Indexes `engine` under every usable host pattern; false (and nothing stored)
    /// when there is none.
    fn add<'a>(&mut self, engine: Engine, hosts: impl IntoIterator<Item = &'a str>) -> bool {
        let mut patterns = Vec::new();
        let mut with_path = Vec::new();
        for raw in hosts {
            match raw.trim().split_once('/') {
                // `android-app://…` style entries name no host.
                Some((host, path)) if !path.starts_with('/') => {
                    if let Some(p) = HostPattern::parse(host) {
                        with_path.push((p, format!("/{}", path.to_lowercase())));
                    }
                }
                Some(_) => {}
                None => patterns.extend(HostPattern::parse(raw)),
            }
        }
        if patterns.is_empty() && with_path.is_empty() {
            return false;
        }
        let idx = self.engines.len();
        self.names.insert(engine.name.clone());
        self.engines.push(engine);
        for (pattern, prefix) in with_path {
            self.with_path.push((pattern, prefix, idx));
        }
        for pattern in patterns {
            match pattern {
                HostPattern::Exact(host) => {
                    self.exact.insert(host, idx);
                }
                HostPattern::TldSuffix(prefix) => {
                    self.by_tld_prefix.insert(prefix, idx);
                }
                HostPattern::AnyFirstLabel(parent) => {
                    self.by_parent.insert(parent, idx);
                }
                HostPattern::General(general) => {
                    self.general.retain(|(g, _)| *g != general);
                    self.general.push((general, idx));
                }
            }
        }
        true
    }
}

/// A Matomo parameter: `/regex/` or a parameter name. Blank values (the file has a
/// `' '`) mean nothing.
fn parse_param(raw: &str) -> std::result::Result<Option<KeywordParam>, regex::Error> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.len() >= 2 && raw.starts_with('/') && raw.ends_with('/') {
        let re = Regex::new(&raw[1..raw.len() - 1])?;
        return Ok(Some(KeywordParam::PathRegex(re)));
    }
    Ok(Some(KeywordParam::Name(raw.to_owned())))
}

/// Charset labels to encodings, without UTF-8 (always tried) or unknown labels.
fn resolve_charsets<'a>(labels: impl IntoIterator<Item = &'a str>) -> Vec<&'static Encoding> {
    let mut out: Vec<&'static Encoding> = Vec::new();
    for label in labels {
        if let Some(enc) = Encoding::for_label(label.trim().as_bytes())
            && enc != encoding_rs::UTF_8
            && !out.contains(&enc)
        {
            out.push(enc);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Host patterns

const WILDCARD: &str = "{}";

/// Generic top-level domains a `{}` suffix accepts besides two-letter country codes.
const GENERIC_TLDS: &[&str] = &["com", "net", "org", "info", "biz"];

/// Second-level labels used under country codes (`co.uk`, `com.br`, `ne.jp`, `gob.mx`).
const SECOND_LEVEL: &[&str] = &[
    "co", "com", "or", "ne", "ac", "org", "net", "gov", "edu", "gob",
];

/// Labels of the registrable domain of `host`: 3 under a country code's second level
/// (`google.co.uk`), else 2.
pub(crate) fn registrable_labels(host: &str) -> usize {
    let mut labels = host.rsplit('.');
    match (labels.next(), labels.next()) {
        (Some(last), Some(second)) if is_country_code(last) && SECOND_LEVEL.contains(&second) => 3,
        _ => 2,
    }
}

fn is_country_code(label: &str) -> bool {
    label.len() == 2 && label.bytes().all(|b| b.is_ascii_lowercase())
}

/// What is left of `host` after removing a TLD suffix that `{}` accepts: one label,
/// or two (`co.uk`). Both are returned when both fit (`google.com.au` gives
/// `google.com` and `google`).
fn tld_prefixes(host: &str) -> [Option<&str>; 2] {
    let Some((rest, last)) = host.rsplit_once('.') else {
        return [None, None];
    };
    let one = (is_country_code(last) || GENERIC_TLDS.contains(&last)).then_some(rest);
    let two = if is_country_code(last) {
        rest.rsplit_once('.')
            .filter(|(_, second)| SECOND_LEVEL.contains(second))
            .map(|(prefix, _)| prefix)
    } else {
        None
    };
    [one, two]
}

/// A parsed host pattern, in the shape its index needs.
enum HostPattern {
    Exact(String),
    /// `prefix.{}`
    TldSuffix(String),
    /// `{}.parent`
    AnyFirstLabel(String),
    General(GeneralPattern),
}

/// Labels (None = any one label), optionally followed by a `{}` TLD suffix.
#[derive(Debug, PartialEq)]
struct GeneralPattern {
    labels: Vec<Option<String>>,
    tld_suffix: bool,
}

impl GeneralPattern {
    fn matches(&self, host: &str) -> bool {
        if self.tld_suffix {
            tld_prefixes(host)
                .into_iter()
                .flatten()
                .any(|prefix| labels_match(&self.labels, prefix))
        } else {
            labels_match(&self.labels, host)
        }
    }
}

fn labels_match(pattern: &[Option<String>], host: &str) -> bool {
    let mut parts = host.split('.');
    pattern.iter().all(|p| {
        parts
            .next()
            .is_some_and(|label| p.as_deref().is_none_or(|p| p == label))
    }) && parts.next().is_none()
}

impl HostPattern {
    fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => h == host,
            HostPattern::TldSuffix(prefix) => tld_prefixes(host)
                .into_iter()
                .flatten()
                .any(|p| p == prefix),
            HostPattern::AnyFirstLabel(parent) => {
                host.split_once('.').is_some_and(|(_, rest)| rest == parent)
            }
            HostPattern::General(g) => g.matches(host),
        }
    }

    /// None for patterns a host can never match or that would match nearly any host:
    /// Matomo URLs with a path (`google.{}/products`; lookup sees only the host), empty
    /// labels, or nothing but wildcards.
    fn parse(raw: &str) -> Option<HostPattern> {
        let pattern = raw.trim().trim_end_matches('.').to_lowercase();
        if pattern.is_empty() || pattern.contains(|c: char| c == '/' || c.is_whitespace()) {
            return None;
        }
        let labels: Vec<&str> = pattern.split('.').collect();
        if labels.iter().any(|l| l.is_empty()) {
            return None;
        }
        let tld_suffix = labels.last() == Some(&WILDCARD);
        let body = if tld_suffix {
            &labels[..labels.len() - 1]
        } else {
            &labels[..]
        };
        if body.iter().all(|l| *l == WILDCARD) {
            return None;
        }
        let wildcards = body.iter().filter(|l| **l == WILDCARD).count();
        Some(match (tld_suffix, wildcards) {
            (false, 0) => HostPattern::Exact(body.join(".")),
            (true, 0) => HostPattern::TldSuffix(body.join(".")),
            (false, 1) if body[0] == WILDCARD => HostPattern::AnyFirstLabel(body[1..].join(".")),
            _ => HostPattern::General(GeneralPattern {
                labels: body
                    .iter()
                    .map(|l| (*l != WILDCARD).then(|| (*l).to_owned()))
                    .collect(),
                tld_suffix,
            }),
        })
    }
}

// ---------------------------------------------------------------------------
// Matomo SearchEngines.yml
//
// Hand-written deserializers rather than derives: the file is hand-edited, so a name
// or parameter may read as a number or boolean, a list may be a single value or
// missing, and keys may repeat or be unknown (`backlink`, `hiddenkeyword`, ...). Only
// the shape that matters is enforced, and serde_yaml_ng still reports line numbers.

/// Engine display names with their entries, in file order (later entries win).
struct MatomoFile(Vec<(String, Vec<RawEntry>)>);

#[derive(Default)]
struct RawEntry {
    urls: Vec<String>,
    params: Vec<String>,
    charsets: Vec<String>,
    hidden: Vec<String>,
}

impl<'de> Deserialize<'de> for MatomoFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FileVisitor;
        impl<'de> Visitor<'de> for FileVisitor {
            type Value = MatomoFile;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping from search engine names to lists of entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MatomoFile, A::Error> {
                let mut out = Vec::new();
                while let Some((Text(name), EntryList(entries))) = map.next_entry()? {
                    out.push((name, entries));
                }
                Ok(MatomoFile(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<MatomoFile, E> {
                Ok(MatomoFile(Vec::new()))
            }
        }
        d.deserialize_map(FileVisitor)
    }
}

/// An engine's entries: normally a list; a single mapping or nothing is accepted too.
struct EntryList(Vec<RawEntry>);

impl<'de> Deserialize<'de> for EntryList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = EntryList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of search engine entries")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EntryList, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = seq.next_element::<RawEntry>()? {
                    out.push(entry);
                }
                Ok(EntryList(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<EntryList, A::Error> {
                EntryVisitor.visit_map(map).map(|e| EntryList(vec![e]))
            }
            fn visit_unit<E: de::Error>(self) -> Result<EntryList, E> {
                Ok(EntryList(Vec::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<EntryList, E> {
                Ok(EntryList(Vec::new()))
            }
        }
        d.deserialize_any(ListVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = RawEntry;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a search engine entry (a mapping with `urls` and `params`)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEntry, A::Error> {
        let mut entry = RawEntry::default();
        while let Some(Text(key)) = map.next_key()? {
            let target = match key.as_str() {
                "urls" => &mut entry.urls,
                "params" => &mut entry.params,
                "charsets" => &mut entry.charsets,
                "hiddenkeyword" => &mut entry.hidden,
                // `backlink` and anything newer: not needed to find terms.
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            target.extend(map.next_value::<TextList>()?.0);
        }
        Ok(entry)
    }
}

impl<'de> Deserialize<'de> for RawEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EntryVisitor)
    }
}

/// A scalar as text whatever its YAML type; null reads as "".
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor).map(Text)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
    fn visit_none<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
}

/// A list of scalars; a lone scalar is a list of one and null an empty list.
struct TextList(Vec<String>);

impl<'de> Deserialize<'de> for TextList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
                let mut out = Vec::new();
                while let Some(Text(s)) = seq.next_element()? {
                    out.push(s);
                }
                Ok(out)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
                Ok(vec![v.to_owned()])
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Vec<String>, E> {
                Ok(vec![v.to_string()])
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Vec<String>, E> {
                Ok(vec![v.to_string()])
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Vec<String>, E> {
                Ok(vec![v.to_string()])
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Vec<String>, E> {
                Ok(vec![v.to_string()])
            }
            fn visit_unit<E: de::Error>(self) -> Result<Vec<String>, E> {
                Ok(Vec::new())
            }
            fn visit_none<E: de::Error>(self) -> Result<Vec<String>, E> {
                Ok(Vec::new())
            }
        }
        d.deserialize_any(ListVisitor).map(TextList)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MATOMO: &str = "../shared/data/matomo-searchengines/SearchEngines.yml";

    /// (host, expected engine) for the built-in table.
    const CASES: &[(&str, Option<&str>)] = &[
        // Google on every kind of ccTLD, and its search subdomains.
        ("google.com", Some("google")),
        ("www.google.com", Some("google")),
        ("google.co.uk", Some("google")),
        ("www.google.co.uk", Some("google")),
        ("google.com.br", Some("google")),
        ("google.com.au", Some("google")),
        ("google.de", Some("google")),
        ("www.google.fr", Some("google")),
        ("google.co.jp", Some("google")),
        ("google.cat", Some("google")),
        ("encrypted.google.com", Some("google")),
        ("images.google.com", Some("google")),
        ("news.google.co.in", Some("google")),
        ("m.google.com", Some("google")),
        // Bing.
        ("bing.com", Some("bing")),
        ("www.bing.com", Some("bing")),
        ("cn.bing.com", Some("bing")),
        ("de.bing.com", Some("bing")),
        // Yahoo and Yahoo Japan.
        ("search.yahoo.com", Some("yahoo")),
        ("de.search.yahoo.com", Some("yahoo")),
        ("uk.search.yahoo.com", Some("yahoo")),
        ("search.yahoo.co.jp", Some("yahoo japan")),
        // Yandex.
        ("yandex.ru", Some("yandex")),
        ("www.yandex.ru", Some("yandex")),
        ("yandex.com.tr", Some("yandex")),
        ("yandex.com", Some("yandex")),
        ("ya.ru", Some("yandex")),
        ("www.ya.ru", Some("yandex")),
        // Baidu.
        ("baidu.com", Some("baidu")),
        ("www.baidu.com", Some("baidu")),
        ("m.baidu.com", Some("baidu")),
        ("tieba.baidu.com", Some("baidu")),
        // The rest of the required families.
        ("search.naver.com", Some("naver")),
        ("m.search.naver.com", Some("naver")),
        ("sogou.com", Some("sogou")),
        ("www.sogou.com", Some("sogou")),
        ("m.sogou.com", Some("sogou")),
        ("wap.sogou.com", Some("sogou")),
        ("so.com", Some("360 search")),
        ("www.so.com", Some("360 search")),
        ("m.so.com", Some("360 search")),
        ("so.360.cn", Some("360 search")),
        ("search.seznam.cz", Some("seznam")),
        ("seznam.cz", Some("seznam")),
        ("www.seznam.cz", Some("seznam")),
        ("qwant.com", Some("qwant")),
        ("www.qwant.com", Some("qwant")),
        ("lite.qwant.com", Some("qwant")),
        ("ecosia.org", Some("ecosia")),
        ("www.ecosia.org", Some("ecosia")),
        ("duckduckgo.com", Some("duckduckgo")),
        ("www.duckduckgo.com", Some("duckduckgo")),
        ("html.duckduckgo.com", Some("duckduckgo")),
        ("lite.duckduckgo.com", Some("duckduckgo")),
        ("r.duckduckgo.com", Some("duckduckgo")),
        ("search.aol.com", Some("aol")),
        ("search.aol.co.uk", Some("aol")),
        ("search.aol.fr", Some("aol")),
        ("ask.com", Some("ask")),
        ("www.ask.com", Some("ask")),
        ("uk.ask.com", Some("ask")),
        ("search.daum.net", Some("daum")),
        ("m.search.daum.net", Some("daum")),
        ("startpage.com", Some("startpage")),
        ("www.startpage.com", Some("startpage")),
        ("eu.startpage.com", Some("startpage")),
        ("go.mail.ru", Some("mail.ru")),
        ("nova.rambler.ru", Some("rambler")),
        ("szukaj.onet.pl", Some("onet")),
        ("szukaj.wp.pl", Some("wp")),
        ("search.brave.com", Some("brave")),
        ("coccoc.com", Some("coc coc")),
        ("sm.cn", Some("shenma")),
        ("search.goo.ne.jp", Some("goo")),
        ("busca.uol.com.br", Some("uol")),
        ("search.walla.co.il", Some("walla")),
        ("lycos.de", Some("lycos")),
        ("ixquick.de", Some("ixquick")),
        ("www.ixquick.com", Some("ixquick")),
        // Look-alikes and non-search hosts.
        ("google.com.evil.example", None),
        ("evil-google.com", None),
        ("google.evil.com", None),
        ("notgoogle.com", None),
        ("mail.google.com", None),
        ("docs.google.com", None),
        ("plus.google.com", None),
        ("translate.google.de", None),
        ("maps.google.co.uk", Some("google maps")),
        ("google.xyz", None),
        ("google.co.xyz", None),
        ("google", None),
        ("a.b.bing.com", Some("bing")),
        ("a.b.search.yahoo.com", Some("yahoo")),
        ("mail.yahoo.com", None),
        ("yahoo.com", None),
        ("example.com", None),
        ("www.", None),
        ("", None),
    ];

    #[test]
    fn builtin_lookup_table() {
        let table = EngineTable::builtin();
        for &(host, expected) in CASES {
            let got = table.lookup(host).map(|e| e.name.as_str());
            assert_eq!(got, expected, "host {host:?}");
        }
    }

    #[test]
    fn builtin_has_many_engines() {
        let table = EngineTable::builtin();
        assert!(table.engine_count() >= 250, "{}", table.engine_count());
    }

    /// A host of a pattern with its wildcards filled in, and the path it names.
    fn sample_of(pattern: &str) -> (String, String) {
        let (host, path) = match pattern.split_once('/') {
            Some((h, p)) => (h, format!("/{p}")),
            None => (pattern, "/".to_string()),
        };
        let host = host
            .split('.')
            .enumerate()
            .map(|(i, l)| match (l, i) {
                ("{}", 0) => "xx",
                ("{}", _) => "com",
                _ => l,
            })
            .collect::<Vec<_>>()
            .join(".");
        (host, path)
    }

    /// Every search row is well formed and reachable: each pattern parses, a sample
    /// host (and path) built from it resolves to an engine of that name (no row is
    /// shadowed by another engine), names are lower case and charset labels are known.
    #[test]
    fn builtin_rows_are_consistent() {
        let table = EngineTable::builtin();
        for row in super::super::table::rows()
            .iter()
            .filter(|r| r.medium == "search")
        {
            assert!(
                row.name.chars().all(|c| !c.is_uppercase()),
                "name {:?}",
                row.name
            );
            assert_eq!(
                resolve_charsets(row.charsets.iter().map(String::as_str)).len(),
                row.charsets.len(),
                "{}",
                row.name
            );
            for pattern in &row.hosts {
                let host = pattern.split('/').next().unwrap();
                assert!(
                    HostPattern::parse(host).is_some(),
                    "{}: pattern {pattern:?}",
                    row.name
                );
                let (host, path) = sample_of(pattern);
                let got = table
                    .lookup_url(&host, path.as_bytes())
                    .map(|e| e.name.as_str());
                assert_eq!(
                    got,
                    Some(row.name.as_str()),
                    "sample {host}{path} from {pattern:?}"
                );
            }
        }
    }

    #[test]
    fn builtin_engine_details() {
        let table = EngineTable::builtin();
        let baidu = table.lookup("www.baidu.com").expect("baidu");
        let names: Vec<&str> = baidu
            .params
            .iter()
            .filter_map(|p| match p {
                KeywordParam::Name(n) => Some(n.as_str()),
                KeywordParam::PathRegex(_) => None,
            })
            .collect();
        assert_eq!(names, ["wd", "word", "kw"]);
        assert_eq!(baidu.charsets, vec![encoding_rs::GBK]);
        let yj = table.lookup("search.yahoo.co.jp").expect("yahoo japan");
        assert_eq!(
            yj.charsets,
            vec![encoding_rs::EUC_JP, encoding_rs::SHIFT_JIS]
        );
        assert!(
            table
                .lookup("google.com")
                .expect("google")
                .charsets
                .is_empty()
        );
    }

    #[test]
    fn tld_suffix_rules() {
        let cases: &[(&str, [Option<&str>; 2])] = &[
            ("google.com", [Some("google"), None]),
            ("google.de", [Some("google"), None]),
            ("google.co.uk", [Some("google.co"), Some("google")]),
            ("google.com.au", [Some("google.com"), Some("google")]),
            ("google.gob.mx", [Some("google.gob"), Some("google")]),
            ("google.info", [Some("google"), None]),
            ("google.xyz", [None, None]),
            ("google.co.xyz", [None, None]),
            ("google.foo.uk", [Some("google.foo"), None]),
            ("localhost", [None, None]),
        ];
        for (host, expected) in cases {
            assert_eq!(tld_prefixes(host), *expected, "{host}");
        }
    }

    #[test]
    fn pattern_shapes() {
        let yaml = "\
Mid:
  - urls:
      - 'img.{}.example.com'
      - '{}.mid.{}'
      - '{}'
      - '{}.{}'
      - 'a..b'
      - 'mid.example/path'
    params: [q]
";
        let mut table = EngineTable::builtin();
        assert_eq!(
            table
                .extend_from_matomo_yaml(yaml, "mid.yml")
                .expect("parses"),
            1
        );
        let cases: &[(&str, Option<&str>)] = &[
            ("img.x.example.com", Some("mid")),
            ("img.example.com", None),
            ("img.x.y.example.com", None),
            ("a.mid.co.uk", Some("mid")),
            ("a.mid.de", Some("mid")),
            ("mid.co.uk", None),
            ("mid.example", None),
            ("b", None),
        ];
        for &(host, expected) in cases {
            assert_eq!(
                table.lookup(host).map(|e| e.name.as_str()),
                expected,
                "{host}"
            );
        }
    }

    #[test]
    fn later_entries_win_for_the_same_pattern() {
        let mut table = EngineTable::builtin();
        let yaml = "My Google:\n  - urls: ['google.{}', 'www.bing.com']\n    params: [x]\n";
        assert_eq!(
            table
                .extend_from_matomo_yaml(yaml, "t.yml")
                .expect("parses"),
            1
        );
        assert_eq!(
            table.lookup("google.de").map(|e| e.name.as_str()),
            Some("my google")
        );
        assert_eq!(
            table.lookup("www.bing.com").map(|e| e.name.as_str()),
            Some("my google")
        );
        // Other patterns of the built-in engines are untouched.
        assert_eq!(
            table.lookup("images.google.de").map(|e| e.name.as_str()),
            Some("google")
        );
        assert_eq!(
            table.lookup("cn.bing.com").map(|e| e.name.as_str()),
            Some("bing")
        );
        // A re-added name is not a new engine.
        let before = table.engine_count();
        let again = "Google:\n  - urls: ['google.{}']\n    params: [q]\n";
        table
            .extend_from_matomo_yaml(again, "t.yml")
            .expect("parses");
        assert_eq!(table.engine_count(), before);
    }

    #[test]
    fn tolerant_matomo_parsing() {
        let yaml = "\
1.cz:
  -
    urls:
      - 1.cz
    params:
      - '/s\\/([^\\/]+)/'
      - q
      - q
    backlink: 's/{k}'
    charsets:
      - iso-8859-2
      - UTF-8
      - no-such-charset
123:
  - urls: 123.example
    params: 42
    future_key: {nested: [1, 2]}
Hidden:
  - urls: [hidden.example]
    params: []
    hiddenkeyword: ['/^$/', '/', '/\\/url\\?.*/']
NoParams:
  - urls: [noparams.example]
Single:
  urls: [single.example]
  params: [' ', q]
Paths only:
  - urls: ['google.{}/products']
    params: [q]
Empty:
";
        let mut table = EngineTable::builtin();
        let added = table
            .extend_from_matomo_yaml(yaml, "odd.yml")
            .expect("parses");
        assert_eq!(added, 6);

        let cz = table.lookup("1.cz").expect("1.cz");
        assert_eq!(cz.params.len(), 2);
        assert!(
            matches!(&cz.params[0], KeywordParam::PathRegex(re) if re.as_str() == r"s\/([^\/]+)")
        );
        assert!(matches!(&cz.params[1], KeywordParam::Name(n) if n == "q"));
        assert_eq!(cz.charsets, vec![encoding_rs::ISO_8859_2]);

        let n = table.lookup("123.example").expect("numeric name");
        assert_eq!(n.name, "123");
        assert!(matches!(&n.params[..], [KeywordParam::Name(p)] if p == "42"));
        assert!(
            table
                .lookup("hidden.example")
                .expect("hidden")
                .params
                .is_empty()
        );
        assert!(
            table
                .lookup("noparams.example")
                .expect("no params")
                .params
                .is_empty()
        );
        let single = table.lookup("single.example").expect("single mapping");
        assert!(matches!(&single.params[..], [KeywordParam::Name(p)] if p == "q"));
        // The hidden-keyword paths: a search on those, a referral elsewhere.
        let hidden = &table.lookup("hidden.example").unwrap().hidden;
        assert!(hidden.covers(b"", b""));
        assert!(hidden.covers(b"/", b""));
        assert!(hidden.covers(b"/url", b"sa=t"));
        assert!(!hidden.covers(b"/about", b""));
        assert!(!hidden.covers(b"/", b"x=1"));
        assert!(matches!(
            table.lookup("single.example").unwrap().hidden,
            Hidden::Never
        ));
        // The entry with a path matches that path only: Google is still Google.
        assert_eq!(
            table.lookup("google.com").map(|e| e.name.as_str()),
            Some("google")
        );
        assert_eq!(
            table
                .lookup_url("www.google.de", b"/products/shoes")
                .map(|e| e.name.as_str()),
            Some("paths only")
        );
        assert_eq!(
            table
                .lookup_url("www.google.de", b"/search")
                .map(|e| e.name.as_str()),
            Some("google")
        );
    }

    #[test]
    fn empty_document_adds_nothing() {
        let mut table = EngineTable::builtin();
        assert_eq!(
            table
                .extend_from_matomo_yaml("", "empty.yml")
                .expect("parses"),
            0
        );
        assert_eq!(
            table
                .extend_from_matomo_yaml("# only a comment\n", "c.yml")
                .expect("parses"),
            0
        );
    }

    #[test]
    fn malformed_yaml_names_origin_and_line() {
        let mut table = EngineTable::builtin();
        let err = table
            .extend_from_matomo_yaml("Foo:\n  - urls: [a.example\n    params: [q]\n", "bad.yml")
            .expect_err("unclosed flow sequence");
        assert!(matches!(err, Error::Usage(_)), "{err:?}");
        let msg = err.to_string();
        assert!(msg.starts_with("bad.yml: "), "{msg}");
        assert!(msg.contains("line"), "{msg}");

        let err = table
            .extend_from_matomo_yaml("- just\n- a list\n", "list.yml")
            .expect_err("top level must be a mapping");
        assert!(err.to_string().contains("list.yml"), "{err}");
    }

    #[test]
    fn bad_regex_names_origin_and_engine() {
        let mut table = EngineTable::builtin();
        let yaml = "Good:\n  - urls: [good.example]\n    params: [q]\nBroken Engine:\n  - urls: [broken.example]\n    params: ['/(unclosed/']\n";
        let err = table
            .extend_from_matomo_yaml(yaml, "regex.yml")
            .expect_err("bad regex");
        let msg = err.to_string();
        assert!(msg.contains("regex.yml"), "{msg}");
        assert!(msg.contains("Broken Engine"), "{msg}");
        // Nothing from the rejected document was added.
        assert!(table.lookup("good.example").is_none());
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let mut table = EngineTable::builtin();
        let err = table
            .extend_from_matomo_file(Path::new("no/such/SearchEngines.yml"))
            .expect_err("missing file");
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
    }

    #[test]
    fn loads_matomo_search_engines() {
        if !Path::new(MATOMO).exists() {
            eprintln!("skipped: {MATOMO} is not here (it is beside the repository in CI)");
            assert!(std::env::var_os("CI").is_none(), "CI must have {MATOMO}");
            return;
        }
        let mut table = EngineTable::builtin();
        let builtin_count = table.engine_count();
        let added = table
            .extend_from_matomo_file(Path::new(MATOMO))
            .expect("Matomo list parses");
        assert!(added >= 300, "added {added}");
        assert!(table.engine_count() >= builtin_count);

        // Only in Matomo's list, with a path regex before the plain parameter.
        let cz = table.lookup("1.cz").expect("1.cz resolves");
        assert_eq!(cz.name, "1.cz");
        let KeywordParam::PathRegex(re) = &cz.params[0] else {
            panic!("expected a path regex, got {:?}", cz.params[0]);
        };
        let caps = re
            .captures("/s/red%20shoes")
            .expect("regex matches the path");
        assert_eq!(&caps[1], "red%20shoes");
        assert!(matches!(&cz.params[1], KeywordParam::Name(n) if n == "q"));
        assert_eq!(cz.charsets, vec![encoding_rs::ISO_8859_2]);

        assert_eq!(
            table.lookup("www.118700.se").map(|e| e.name.as_str()),
            Some("118 700")
        );
        // `images.{}.ask.com`: a wildcard in the middle.
        assert_eq!(
            table.lookup("images.uk.ask.com").map(|e| e.name.as_str()),
            Some("ask")
        );

        // The big engines still resolve, and look-alikes still do not.
        assert_eq!(
            table.lookup("www.google.co.uk").map(|e| e.name.as_str()),
            Some("google")
        );
        assert_eq!(
            table.lookup("yandex.com.tr").map(|e| e.name.as_str()),
            Some("yandex")
        );
        assert!(table.lookup("google.com.evil.example").is_none());
        assert!(table.lookup("mail.google.com").is_none());
    }

    /// Every host of Matomo's list (its path entries with their path) resolves in the
    /// built-in table alone, to an engine of Matomo's name (or the family keyrank
    /// reports its verticals under); AI assistants are left to the AI table.
    #[test]
    fn builtin_covers_every_matomo_host() {
        let Ok(text) = std::fs::read_to_string(MATOMO) else {
            eprintln!("skipped: {MATOMO} is not here (it is beside the repository in CI)");
            assert!(std::env::var_os("CI").is_none(), "CI must have {MATOMO}");
            return;
        };
        let table = EngineTable::builtin();
        let networks = super::super::table::Networks::builtin();
        let list: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        let mut hosts = 0;
        for (name, entries) in list.as_mapping().unwrap() {
            for entry in entries.as_sequence().unwrap() {
                for url in entry["urls"].as_sequence().into_iter().flatten() {
                    let pattern = url.as_str().unwrap().to_lowercase();
                    if pattern.contains("//") {
                        continue;
                    }
                    let (host, path) = sample_of(&pattern);
                    hosts += 1;
                    if let Some((_, medium)) = networks.lookup(&host, path.as_bytes()) {
                        assert_ne!(medium, "search");
                        continue;
                    }
                    let got = table.lookup_url(&host, path.as_bytes());
                    assert!(got.is_some(), "{name:?}: {host}{path} is not in the table");
                }
            }
        }
        assert!(hosts > 600, "{hosts}");
    }
}
