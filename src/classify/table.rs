//! keyrank's built-in referrer table, `referrers.tsv` (its format is described at its
//! top): search engines, AI assistants and social networks. Written by
//! `tools/referrer_table.py` from keyrank's curated engines and the facts of Matomo's
//! CC0 lists; read once per process.

use rustc_hash::FxHashMap;
use std::sync::OnceLock;

/// One line of the table.
#[derive(Debug)]
pub struct Row {
    /// `search`, `ai` or `social`.
    pub medium: String,
    pub name: String,
    pub hosts: Vec<String>,
    pub params: Vec<String>,
    pub charsets: Vec<String>,
    /// `*` alone for any path; empty for none.
    pub hidden: Vec<String>,
}

const TABLE: &str = include_str!("referrers.tsv");

/// The rows, in table order.
pub fn rows() -> &'static [Row] {
    static ROWS: OnceLock<Vec<Row>> = OnceLock::new();
    ROWS.get_or_init(|| {
        TABLE
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                assert_eq!(f.len(), 6, "referrers.tsv: a row needs 6 fields: {l}");
                let list = |s: &str| -> Vec<String> {
                    if s == "-" {
                        Vec::new()
                    } else {
                        s.split(' ').map(str::to_owned).collect()
                    }
                };
                Row {
                    medium: f[0].to_owned(),
                    name: f[1].to_owned(),
                    hosts: list(f[2]),
                    params: list(f[3]),
                    charsets: list(f[4]),
                    hidden: list(f[5]),
                }
            })
            .collect()
    })
}

/// AI assistants, social networks and excluded hosts (payment providers, 3-D Secure,
/// sign-in): a host and any subdomain of it, or a host with a path prefix
/// (`x.com/i/grok`), to (name, medium).
pub struct Networks {
    hosts: FxHashMap<&'static str, (&'static str, &'static str)>,
    with_path: Vec<(&'static str, &'static str, (&'static str, &'static str))>,
}

impl Networks {
    /// The `ai`, `social` and `excluded` rows of the table. Where two name a host,
    /// the later wins: an AI assistant over a social network, an excluded sign-in
    /// host over both.
    pub fn builtin() -> &'static Networks {
        static NETWORKS: OnceLock<Networks> = OnceLock::new();
        NETWORKS.get_or_init(|| {
            let mut hosts = FxHashMap::default();
            let mut with_path = Vec::new();
            for medium in ["social", "ai", "excluded"] {
                for row in rows().iter().filter(|r| r.medium == medium) {
                    let who = (row.name.as_str(), row.medium.as_str());
                    for h in &row.hosts {
                        let h = h.strip_prefix("www.").unwrap_or(h);
                        match h.find('/') {
                            Some(i) => with_path.push((&h[..i], &h[i..], who)),
                            None => {
                                hosts.insert(h, who);
                            }
                        }
                    }
                }
            }
            Networks { hosts, with_path }
        })
    }

    /// The network a referrer host (lower case) and path come from, as (name, medium).
    pub fn lookup(&self, host: &str, path: &[u8]) -> Option<(&'static str, &'static str)> {
        let bare = host.strip_prefix("www.").unwrap_or(host);
        if let Some((_, _, who)) = self
            .with_path
            .iter()
            .rev()
            .find(|(h, prefix, _)| *h == bare && path.starts_with(prefix.as_bytes()))
        {
            return Some(*who);
        }
        let mut rest = bare;
        loop {
            if let Some(who) = self.hosts.get(rest) {
                return Some(*who);
            }
            match rest.split_once('.') {
                Some((_, r)) if r.contains('.') => rest = r,
                _ => return None,
            }
        }
    }
}
