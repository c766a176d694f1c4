//! The privacy gate, between attribution and the store: search terms that look like
//! personal data become `(redacted)`, and terms seen by fewer than K distinct visitors
//! over the run are folded into `(other)` with all their counts, so totals still add up.

pub mod dp;

use crate::model::rollup::Row;
use regex::Regex;
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::LazyLock;

pub const REDACTED: &str = "(redacted)";
pub const OTHER: &str = "(other)";
/// Default K of the k-visitor threshold: a term must be seen by at least this many
/// distinct visitors in a run to be stored as written.
pub const DEFAULT_MIN_VISITORS: u64 = 3;

/// Keywords that are never folded or redacted: they name no search term.
pub fn is_pseudo_keyword(k: &str) -> bool {
    k.starts_with('(') && k.ends_with(')')
}

static PERSONAL: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // E-mail addresses (also with " at " spelled out is left alone: too ambiguous).
        r"[\p{L}\p{N}._%+\-]+@[\p{L}\p{N}\-]+(\.[\p{L}\p{N}\-]+)+",
        // Phone, card and account numbers: 7+ digits, possibly split by spaces, dashes, dots, slashes.
        r"(?:\+|\b)\d(?:[\s\-./()]*\d){6,}",
        // IPv4 addresses.
        r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
        // URLs with user info or secret-looking parameters.
        r"[a-z][a-z0-9+.\-]*://[^/\s:@]+:[^/\s@]*@",
        r"[?&;](?:token|access_token|auth|key|api_key|apikey|session|sessionid|sid|password|passwd|pwd|secret|signature|sig|code)=",
        // Long hex tokens.
        r"\b[0-9a-f]{16,}\b",
    ]
    .iter()
    .map(|p| Regex::new(&format!("(?i){p}")).expect("static privacy patterns compile"))
    .collect()
});

/// Whether a (normal-form) term looks like personal data: an e-mail address, phone or
/// card-like digit run, IP address, URL with credentials or a token, long token.
pub fn looks_personal(term: &str) -> bool {
    // Only terms with a digit, '@', ':' or a long run can match; skip the rest cheaply.
    let interesting = term
        .bytes()
        .any(|b| b.is_ascii_digit() || b == b'@' || b == b':')
        || term.len() >= 24;
    if !interesting {
        return false;
    }
    if PERSONAL.iter().any(|re| re.is_match(term)) {
        return true;
    }
    term.split_whitespace().any(|token| {
        let t = token.trim_matches(|c: char| "[]()<>,;\"'".contains(c));
        is_ip(token) || is_ip(t) || is_long_token(t)
    })
}

/// IPv4 or IPv6, with or without a port.
fn is_ip(t: &str) -> bool {
    t.parse::<std::net::IpAddr>().is_ok() || t.parse::<std::net::SocketAddr>().is_ok()
}

/// A base64/URL-safe token: 24+ such characters with both letters and digits (so a
/// long hyphenated phrase is not one).
fn is_long_token(t: &str) -> bool {
    t.len() >= 24
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/_-=".contains(&b))
        && t.bytes().any(|b| b.is_ascii_digit())
        && t.bytes().any(|b| b.is_ascii_alphabetic())
}

/// The term as stored: itself, or `(redacted)`.
pub fn scrub(term: String) -> (String, bool) {
    if !is_pseudo_keyword(&term) && looks_personal(&term) {
        (REDACTED.to_string(), true)
    } else {
        (term, false)
    }
}

/// A landing path with personal-looking segments replaced (`/user/(redacted)`). Each
/// segment is judged as written and decoded (`jane.doe%40example.com`, and `+` as a
/// space: `+44+20+7946+0958`).
pub fn scrub_path(path: &str) -> String {
    let personal = |seg: &str| {
        looks_personal(seg)
            || ((seg.contains('%') || seg.contains('+')) && {
                let decoded = crate::classify::keyword::percent_decode(seg.as_bytes());
                looks_personal(&String::from_utf8_lossy(&decoded))
            })
    };
    if !path.split('/').any(personal) {
        return path.to_string();
    }
    path.split('/')
        .map(|seg| if personal(seg) { REDACTED } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// Redacts the personal-looking parts of a channel: its keyword, campaign and
/// source host. Returns whether the keyword was redacted.
pub fn scrub_channel(channel: &mut crate::classify::Channel) -> bool {
    let mut redacted = false;
    if let Some(kw) = channel.keyword.take() {
        let (kw, r) = scrub(kw);
        redacted = r;
        channel.keyword = Some(kw);
    }
    if let Some(c) = channel.campaign.take() {
        channel.campaign = Some(scrub(c).0);
    }
    if looks_personal(&channel.source) {
        channel.source = REDACTED.to_string();
    }
    redacted
}

/// Distinct visitors per keyword and per landing path over a run, for the k-visitor
/// threshold.
#[derive(Debug, Default)]
pub struct Visitors {
    pub keywords: VisitorCounts,
    pub landings: VisitorCounts,
}

impl Visitors {
    /// Counts that stop at `cap`: the gate only asks whether a name has fewer than
    /// `cap` visitors, so pairs past it need no memory.
    pub fn capped(cap: u64) -> Self {
        Visitors {
            keywords: VisitorCounts::capped(cap),
            landings: VisitorCounts::capped(cap),
        }
    }
}

/// Distinct visitors per name (a keyword or a landing path). Counts of disjoint
/// visitor sets add up; a capped count stays exact below its cap, so sums of capped
/// counts answer "fewer than cap?" the same as the true total.
#[derive(Debug)]
pub struct VisitorCounts {
    /// Name → index into `counts`.
    ids: FxHashMap<Box<str>, u32>,
    /// (name index, visitor) pairs seen.
    seen: FxHashSet<(u32, u64)>,
    counts: Vec<u64>,
    cap: u64,
}

impl Default for VisitorCounts {
    fn default() -> Self {
        VisitorCounts::capped(u64::MAX)
    }
}

impl VisitorCounts {
    pub fn capped(cap: u64) -> Self {
        VisitorCounts {
            ids: FxHashMap::default(),
            seen: FxHashSet::default(),
            counts: Vec::new(),
            cap: cap.max(1),
        }
    }

    pub fn add(&mut self, name: &str, visitor: u64) {
        if is_pseudo_keyword(name) {
            return;
        }
        let id = self.id(name);
        if self.counts[id as usize] < self.cap && self.seen.insert((id, visitor)) {
            self.counts[id as usize] += 1;
        }
    }

    /// Adds `n` visitors no other part has seen: counts of disjoint sets of visitors
    /// (a distributed ingest's buckets) add up to the distinct count.
    pub fn add_disjoint(&mut self, name: &str, n: u64) {
        if !is_pseudo_keyword(name) {
            let id = self.id(name);
            let c = &mut self.counts[id as usize];
            *c = c.saturating_add(n);
        }
    }

    /// Every name with its distinct-visitor count.
    pub fn counts(&self) -> impl Iterator<Item = (&str, u64)> {
        self.ids
            .iter()
            .map(|(k, &id)| (&**k, self.counts[id as usize]))
    }

    fn id(&mut self, name: &str) -> u32 {
        match self.ids.get(name) {
            Some(&id) => id,
            None => {
                let id = self.counts.len() as u32;
                self.ids.insert(name.into(), id);
                self.counts.push(0);
                id
            }
        }
    }

    pub fn count(&self, name: &str) -> u64 {
        self.ids.get(name).map_or(0, |&id| self.counts[id as usize])
    }
}

/// Landing paths that identify nobody however few visitors share them: the site's
/// root, "no landing" (orders with no visit) and pseudo paths such as `(all)`.
fn is_common_landing(path: &str) -> bool {
    path.is_empty() || path == "/" || is_pseudo_keyword(path)
}

/// What the gate did, for the run summary and the ledger.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GateReport {
    pub redacted_rows: u64,
    pub folded_keywords: u64,
    pub folded_rows: u64,
    /// Landing paths fewer than K visitors share, folded into `(other)`.
    pub folded_landings: u64,
}

/// Applies the gate to finished rows: redacts personal-looking terms, campaigns and
/// landing segments, and folds keywords and landing paths with fewer than
/// `min_visitors` distinct visitors into `(other)`. Rows that become identical are merged, so every total is kept. The
/// result is sorted by day and dimensions.
pub fn gate(mut rows: Vec<Row>, visitors: &Visitors, min_visitors: u64) -> (Vec<Row>, GateReport) {
    let mut report = GateReport::default();
    let mut folded: FxHashSet<String> = FxHashSet::default();
    let mut folded_landings: FxHashSet<String> = FxHashSet::default();
    // Rows repeat their landing pages across days and channels: check each path once
    // (`None`: the path is kept as it is).
    let mut paths: FxHashMap<String, Option<String>> = FxHashMap::default();
    for row in &mut rows {
        report.redacted_rows += scrub_channel(&mut row.channel) as u64;
        if let Some(kw) = &mut row.channel.keyword
            && !is_pseudo_keyword(kw)
            && visitors.keywords.count(kw) < min_visitors
        {
            report.folded_rows += 1;
            folded.insert(std::mem::replace(kw, OTHER.to_string()));
        }
        if !is_common_landing(&row.landing) && visitors.landings.count(&row.landing) < min_visitors
        {
            folded_landings.insert(std::mem::replace(&mut row.landing, OTHER.to_string()));
            continue;
        }
        let scrubbed = match paths.get(&row.landing) {
            Some(p) => p.clone(),
            None => {
                let p = scrub_path(&row.landing);
                let p = (p != row.landing).then_some(p);
                paths.insert(row.landing.clone(), p.clone());
                p
            }
        };
        if let Some(p) = scrubbed {
            row.landing = p;
        }
    }
    // The input is usually sorted already but for the rows the gate changed.
    let merged = crate::model::rollup::merge_rows(rows);
    report.folded_keywords = folded.len() as u64;
    report.folded_landings = folded_landings.len() as u64;
    (merged, report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Channel;
    use crate::model::rollup::{Counts, Segment};

    #[test]
    fn personal_looking_terms() {
        let personal = [
            "john.smith@example.com",
            "contact jane@mail.example.org please",
            "+44 20 7946 0958",
            "call 555-123-4567",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "192.168.1.20",
            "2001:db8::8a2e:370:7334",
            "https://user:secret@example.com/x",
            "example.com/reset?token=abc",
            "deadbeefcafebabe0123",
            "eyjhbgcioijiuzi1niisinr5cci6ikpxvcj9",
            "fe80::1",
            "[::1]:8080",
        ];
        for t in personal {
            assert!(looks_personal(t), "{t}");
        }
        let fine = [
            "red shoes",
            "iphone 15 case",
            "best hiking boots 2024",
            "size 10.5",
            "москва сувениры",
            "http vs https latency",
            "ipv6 setup guide",
            "model 3 tesla",
            "c++ 20 features",
            "1080p monitor",
            "std::vector reserve",
            "state-of-the-art-trail-running-shoes",
            "calendar 2024",
        ];
        for t in fine {
            assert!(!looks_personal(t), "{t}");
        }
    }

    fn row(day: i32, kw: &str, visits: i64) -> Row {
        Row {
            day,
            channel: Channel {
                source: "google".into(),
                medium: "organic".into(),
                keyword: Some(kw.into()),
                campaign: None,
            },
            landing: "/".into(),
            segment: Segment::Anonymous,
            estimated: false,
            sketch: None,
            counts: Counts {
                visits,
                visitors: visits,
                pageviews: visits * 2,
                conversions: [1_000_000, 0, 0, 0, 0],
                revenue: [100, 0, 0, 0, 0],
            },
        }
    }

    #[test]
    fn folding_keeps_totals_and_k1_changes_nothing() {
        let mut v = Visitors::default();
        for visitor in 0..5 {
            v.keywords.add("common", visitor);
        }
        v.keywords.add("rare a", 1);
        v.keywords.add("rare b", 2);
        v.keywords.add("rare b", 2);
        let rows = vec![
            row(1, "common", 5),
            row(1, "rare a", 1),
            row(1, "rare b", 2),
            row(2, "rare a", 1),
            row(1, "jane@example.com", 1),
            row(1, "(not provided)", 7),
        ];
        let total = |rows: &[Row]| {
            rows.iter().fold(Counts::default(), |mut acc, r| {
                acc.add(&r.counts);
                acc
            })
        };
        let (gated, report) = gate(rows.clone(), &v, 3);
        assert_eq!(total(&gated), total(&rows));
        // rare a and rare b; the e-mail became (redacted), which is never folded.
        assert_eq!(report.folded_keywords, 2);
        let kws: Vec<(i32, &str, i64)> = gated
            .iter()
            .map(|r| {
                (
                    r.day,
                    r.channel.keyword.as_deref().unwrap(),
                    r.counts.visits,
                )
            })
            .collect();
        assert!(kws.contains(&(1, OTHER, 3)), "{kws:?}");
        assert!(kws.contains(&(2, OTHER, 1)), "{kws:?}");
        assert!(kws.contains(&(1, REDACTED, 1)), "{kws:?}");
        assert!(kws.contains(&(1, "(not provided)", 7)), "{kws:?}");
        let (same, _) = gate(rows.clone(), &v, 1);
        let unscrubbed: Vec<_> = same
            .iter()
            .filter(|r| r.channel.keyword.as_deref() != Some(REDACTED))
            .collect();
        assert_eq!(unscrubbed.len(), rows.len() - 1);
    }

    #[test]
    fn landing_paths_few_visitors_share_fold() {
        let mut v = Visitors::capped(3);
        for visitor in 0..5 {
            v.keywords.add("common", visitor);
            v.landings.add("/shoes", visitor);
        }
        v.landings.add("/account/jane/orders", 9);
        v.landings.add("/account/jane/orders", 9);
        v.landings.add("/sale", 1);
        v.landings.add("/sale", 2);
        assert_eq!(v.landings.count("/shoes"), 3, "capped at k");
        let at = |landing: &str| Row {
            landing: landing.into(),
            ..row(1, "common", 1)
        };
        let rows = vec![
            at("/shoes"),
            at("/account/jane/orders"),
            at("/sale"),
            at("/"),
            at(""),
        ];
        let (gated, report) = gate(rows.clone(), &v, 3);
        assert_eq!(report.folded_landings, 2);
        let landings: Vec<(&str, i64)> = gated
            .iter()
            .map(|r| (r.landing.as_str(), r.counts.visits))
            .collect();
        assert_eq!(
            landings,
            [("", 1), ("(other)", 2), ("/", 1), ("/shoes", 1)],
            "the root and no-landing are never folded; the rest merge"
        );
        let (same, report) = gate(rows, &v, 1);
        assert_eq!(report.folded_landings, 0);
        assert_eq!(same.len(), 5);
    }

    #[test]
    fn paths_keep_their_shape() {
        assert_eq!(
            scrub_path("/user/jane@example.com/orders"),
            "/user/(redacted)/orders"
        );
        assert_eq!(scrub_path("/shoes/red"), "/shoes/red");
        assert_eq!(
            scrub_path("/account/jane.doe%40example.com/orders"),
            "/account/(redacted)/orders"
        );
        assert_eq!(scrub_path("/shoes/red%20boots"), "/shoes/red%20boots");
        // `+` read as a space joins digit groups into a phone or card number.
        assert_eq!(scrub_path("/call/4111-11+111121/x"), "/call/(redacted)/x");
        assert_eq!(scrub_path("/c++/tips"), "/c++/tips");
    }
}
