//! Parse: one log line in, one borrowed [`Hit`] out. No allocation per field on the
//! Apache path; JSON lines keep their strings in the parser's own buffers.

mod apache;
pub mod input;
mod json;
pub mod time;

pub use apache::ApacheFormat;
pub use json::{JsonFields, JsonFormat};

use crate::error::{Error, Result};

/// Named cookies the pipeline asks for, each with a fixed slot in [`Hit::cookies`].
pub const MAX_COOKIES: usize = 4;

/// One request as logged. Every byte slice borrows from the line (or the parser).
#[derive(Debug, Clone, Default)]
pub struct Hit<'a> {
    pub client: &'a [u8],
    pub user: &'a [u8],
    /// Seconds since the Unix epoch, UTC.
    pub ts: i64,
    pub method: &'a [u8],
    /// Path and query string as requested.
    pub uri: &'a [u8],
    pub status: u16,
    pub referer: &'a [u8],
    pub user_agent: &'a [u8],
    pub vhost: &'a [u8],
    /// The whole `Cookie` request header, when the format logs it.
    pub cookie_header: &'a [u8],
    /// Values of the named cookies, in the order of [`CookieNames`].
    pub cookies: [Option<&'a [u8]>; MAX_COOKIES],
}

impl<'a> Hit<'a> {
    /// The value of the cookie in `slot`: its own log field, else found in the Cookie header.
    pub fn cookie(&self, slot: usize, names: &CookieNames) -> Option<&'a [u8]> {
        if let Some(v) = self.cookies.get(slot).copied().flatten() {
            return present(v);
        }
        let name = names.0.get(slot)?;
        cookie_from_header(self.cookie_header, name.as_bytes()).and_then(present)
    }

    pub fn user(&self) -> Option<&'a [u8]> {
        present(self.user)
    }

    pub fn referer(&self) -> Option<&'a [u8]> {
        present(self.referer)
    }
}

/// `-` and the empty string both mean "not logged".
fn present(v: &[u8]) -> Option<&[u8]> {
    if v.is_empty() || v == b"-" {
        None
    } else {
        Some(v)
    }
}

/// Finds `name=value` in a `Cookie` header (`a=1; b=2`).
pub fn cookie_from_header<'a>(header: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    header.split(|&b| b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let eq = memchr::memchr(b'=', pair)?;
        (pair[..eq].trim_ascii() == name).then(|| pair[eq + 1..].trim_ascii())
    })
}

/// The cookie names the run cares about; index = slot in [`Hit::cookies`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CookieNames(pub Vec<String>);

impl CookieNames {
    pub fn slot(&self, name: &str) -> Option<usize> {
        self.0.iter().position(|n| n.eq_ignore_ascii_case(name))
    }

    /// Adds `name` if absent and returns its slot.
    pub fn add(&mut self, name: &str) -> Result<usize> {
        if let Some(slot) = self.slot(name) {
            return Ok(slot);
        }
        if self.0.len() == MAX_COOKIES {
            return Err(Error::usage(format!(
                "at most {MAX_COOKIES} named cookies can be used"
            )));
        }
        self.0.push(name.to_string());
        Ok(self.0.len() - 1)
    }
}

/// Why a line could not be parsed. Never contains the line's content.
pub type ParseError = &'static str;

/// A configured log format, ready to parse lines.
#[derive(Debug, Clone)]
pub enum LogFormat {
    Apache(ApacheFormat),
    Json(Box<JsonFormat>),
}

impl LogFormat {
    /// `combined`, `common`, `json`, or an Apache `LogFormat` string.
    pub fn from_spec(spec: &str, json_fields: &str, cookies: &CookieNames) -> Result<Self> {
        match spec {
            "combined" => ApacheFormat::compile(apache::COMBINED, cookies).map(LogFormat::Apache),
            "common" => ApacheFormat::compile(apache::COMMON, cookies).map(LogFormat::Apache),
            "json" | "jsonl" | "ndjson" => Ok(LogFormat::Json(Box::new(JsonFormat::new(
                JsonFields::parse(json_fields)?,
                cookies,
            )))),
            other => ApacheFormat::compile(other, cookies).map(LogFormat::Apache),
        }
    }

    /// A parser with its own scratch space (JSON keeps decoded strings there).
    pub fn parser(&self) -> LineParser {
        match self {
            LogFormat::Apache(f) => LineParser::Apache(f.clone()),
            LogFormat::Json(f) => {
                LineParser::Json(Box::new(((**f).clone(), json::Scratch::default())))
            }
        }
    }

    /// Whether the format records the authenticated user (`%u`).
    pub fn logs_user(&self) -> bool {
        match self {
            LogFormat::Apache(f) => f.logs_user(),
            LogFormat::Json(f) => f.logs_user(),
        }
    }
}

pub enum LineParser {
    Apache(ApacheFormat),
    Json(Box<(JsonFormat, json::Scratch)>),
}

impl LineParser {
    /// One line as a hit. A time before 1990 or more than a day past this run's clock
    /// (an epoch in micro- or nanoseconds, a garbled year) makes the line malformed, so
    /// it can never become a day of the store.
    pub fn parse<'a>(&'a mut self, line: &'a [u8]) -> std::result::Result<Hit<'a>, ParseError> {
        let hit = match self {
            LineParser::Apache(f) => f.parse(line),
            LineParser::Json(b) => {
                let (f, scratch) = &mut **b;
                f.parse(line, scratch)
            }
        }?;
        if !time::plausible(hit.ts) {
            return Err("time before 1990 or more than a day after now");
        }
        Ok(hit)
    }
}

/// Splits a request URI into path and query (without `?`); a fragment is dropped.
pub fn split_uri(uri: &[u8]) -> (&[u8], &[u8]) {
    let uri = match memchr::memchr(b'#', uri) {
        Some(i) => &uri[..i],
        None => uri,
    };
    match memchr::memchr(b'?', uri) {
        Some(i) => (&uri[..i], &uri[i + 1..]),
        None => (uri, &[]),
    }
}

/// Iterates `name=value` pairs of a query string (raw, still percent-encoded).
pub fn query_pairs(query: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    query
        .split(|&b| b == b'&' || b == b';')
        .filter(|p| !p.is_empty())
        .map(|p| match memchr::memchr(b'=', p) {
            Some(i) => (&p[..i], &p[i + 1..]),
            None => (p, &p[p.len()..]),
        })
}

/// The raw value of the first query parameter called `name`.
pub fn query_param<'a>(query: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    query_pairs(query).find_map(|(k, v)| (k == name).then_some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_header_lookup() {
        let h = b"a=1; vid=abc ; kw=red+shoes";
        assert_eq!(cookie_from_header(h, b"vid"), Some(&b"abc"[..]));
        assert_eq!(cookie_from_header(h, b"kw"), Some(&b"red+shoes"[..]));
        assert_eq!(cookie_from_header(h, b"v"), None);
    }

    #[test]
    fn uri_and_query_split() {
        let (p, q) = split_uri(b"/a/b?x=1&y=&z#frag");
        assert_eq!(p, b"/a/b");
        let pairs: Vec<_> = query_pairs(q).collect();
        assert_eq!(
            pairs,
            vec![
                (&b"x"[..], &b"1"[..]),
                (&b"y"[..], &b""[..]),
                (&b"z"[..], &b""[..])
            ]
        );
        assert_eq!(query_param(q, b"x"), Some(&b"1"[..]));
        assert_eq!(split_uri(b"/plain"), (&b"/plain"[..], &b""[..]));
    }
}
