//! Parse: one log line in, one borrowed [`Hit`] out. No allocation per field on the
//! Apache path; JSON lines keep their strings in the parser's own buffers.

mod alb;
mod apache;
pub mod input;
mod json;
pub mod time;
mod w3c;

pub use alb::AlbFormat;
pub use apache::ApacheFormat;
pub use json::{JsonFields, JsonFormat};
pub use w3c::{DIRECTIVE, W3cFormat};

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
    W3c(Box<W3cFormat>),
    Alb(AlbFormat),
}

/// The named formats `--log-format` takes besides an Apache `LogFormat` string.
pub const FORMAT_NAMES: &[&str] = &[
    "combined",
    "common",
    "json",
    "w3c",
    "cloudfront",
    "alb",
    "caddy",
    "traefik",
    "traefik-json",
];

/// Traefik's access log in its default (CLF) format: combined, then the request
/// count, router, service URL and duration.
pub const TRAEFIK: &str = r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %{count}n "%{router}n" "%{service}n" %Dms"#;

impl LogFormat {
    /// A name of [`FORMAT_NAMES`] or an Apache `LogFormat` string. `--json-fields`
    /// applies to the JSON formats (`json`, `caddy`, `traefik-json`) and overrides
    /// their mapping key by key.
    pub fn from_spec(spec: &str, json_fields: &str, cookies: &CookieNames) -> Result<Self> {
        let json = |preset: JsonFields| -> Result<Self> {
            Ok(LogFormat::Json(Box::new(JsonFormat::new(
                JsonFields::parse_over(preset, json_fields)?,
                cookies,
            ))))
        };
        match spec {
            "combined" => ApacheFormat::compile(apache::COMBINED, cookies).map(LogFormat::Apache),
            "common" => ApacheFormat::compile(apache::COMMON, cookies).map(LogFormat::Apache),
            "traefik" => ApacheFormat::compile(TRAEFIK, cookies).map(LogFormat::Apache),
            "json" | "jsonl" | "ndjson" => json(JsonFields::default()),
            "caddy" => json(JsonFields::caddy()),
            "traefik-json" => json(JsonFields::traefik()),
            "w3c" | "iis" => Ok(LogFormat::W3c(Box::new(W3cFormat::iis()))),
            "cloudfront" => Ok(LogFormat::W3c(Box::new(W3cFormat::cloudfront()))),
            "alb" => Ok(LogFormat::Alb(AlbFormat::default())),
            "auto" => Err(Error::usage(
                "--log-format auto is resolved from the inputs' first lines before parsing",
            )),
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
            LogFormat::W3c(f) => LineParser::W3c(f.clone()),
            LogFormat::Alb(f) => LineParser::Alb(f.clone()),
        }
    }

    /// Whether the format records the authenticated user (`%u`).
    pub fn logs_user(&self) -> bool {
        match self {
            LogFormat::Apache(f) => f.logs_user(),
            LogFormat::Json(f) => f.logs_user(),
            LogFormat::W3c(_) => true,
            LogFormat::Alb(_) => false,
        }
    }

    /// Whether lines depend on a header line before them (W3C's `#Fields:`), which
    /// the reader then hands to each block.
    pub fn has_field_headers(&self) -> bool {
        matches!(self, LogFormat::W3c(_))
    }
}

/// The format of a log from its first lines (`--log-format auto`): a name of
/// [`FORMAT_NAMES`], or None when no line looks like any of them.
pub fn detect_format(head: &[&[u8]]) -> Option<&'static str> {
    let cookies = CookieNames::default();
    let mut apache: Vec<(&'static str, ApacheFormat)> = [
        ("traefik", TRAEFIK),
        ("combined", apache::COMBINED),
        ("common", apache::COMMON),
    ]
    .into_iter()
    .map(|(name, spec)| {
        (
            name,
            ApacheFormat::compile(spec, &cookies).expect("built-in formats compile"),
        )
    })
    .collect();
    for line in head
        .iter()
        .map(|l| l.trim_ascii())
        .filter(|l| !l.is_empty())
    {
        if line.first() == Some(&b'#') {
            if line.len() > 8 && line[..8].eq_ignore_ascii_case(b"#fields:") {
                let cloudfront = memchr::memmem::find(line, b"x-edge-location").is_some();
                return Some(if cloudfront { "cloudfront" } else { "w3c" });
            }
            continue;
        }
        if line.first() == Some(&b'{') {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
                continue;
            };
            return Some(if v.get("request").is_some_and(|r| r.is_object()) {
                "caddy"
            } else if v.get("RequestMethod").is_some() || v.get("ClientHost").is_some() {
                "traefik-json"
            } else {
                "json"
            });
        }
        if alb::looks_like(line) {
            return Some("alb");
        }
        let date_first = line.len() > 20
            && line[4] == b'-'
            && line[7] == b'-'
            && line[..4].iter().all(u8::is_ascii_digit);
        if date_first && line[10] == b'\t' {
            return Some("cloudfront");
        }
        if date_first && line[10] == b' ' {
            return Some("w3c");
        }
        for (name, format) in apache.iter_mut() {
            if format.parse(line).is_ok_and(|h| time::plausible(h.ts)) {
                return Some(name);
            }
        }
    }
    None
}

pub enum LineParser {
    Apache(ApacheFormat),
    Json(Box<(JsonFormat, json::Scratch)>),
    W3c(Box<W3cFormat>),
    Alb(AlbFormat),
}

impl LineParser {
    /// Called before each block of lines with the `#Fields:` line in effect before it
    /// (None: the input has had none yet). Formats without field headers ignore it.
    pub fn start_block(&mut self, fields_line: Option<&[u8]>) {
        if let LineParser::W3c(f) = self {
            f.start_block(fields_line);
        }
    }

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
            LineParser::W3c(f) => f.parse(line),
            LineParser::Alb(f) => f.parse(line),
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
