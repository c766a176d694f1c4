//! Apache `LogFormat` strings compiled to a list of literals and fields.

use super::{CookieNames, Hit, MAX_COOKIES, ParseError, time};
use crate::error::{Error, Result};

pub const COMBINED: &str = r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i""#;
pub const COMMON: &str = r#"%h %l %u %t "%r" %>s %b"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Client,
    User,
    Time,
    Request,
    Method,
    Path,
    Query,
    /// `%U%q` logged back to back: the whole requested URI.
    Uri,
    Status,
    Referer,
    UserAgent,
    VHost,
    CookieHeader,
    Cookie(usize),
    /// Logged but not needed (bytes, durations, ports, other headers, …).
    Skip,
}

#[derive(Debug, Clone)]
enum Token {
    Literal(Vec<u8>),
    Field(Field),
}

/// A compiled Apache `LogFormat`.
#[derive(Debug, Clone)]
pub struct ApacheFormat {
    tokens: Vec<Token>,
    /// `%U%q` is logged as two fields; the parser glues them back into one URI.
    split_uri: bool,
    uri_buf: Vec<u8>,
    /// The last time field parsed and its value: neighbouring lines share a second.
    last_time: Vec<u8>,
    last_ts: i64,
}

impl ApacheFormat {
    pub fn compile(spec: &str, cookies: &CookieNames) -> Result<Self> {
        let bad = |msg: String| Error::usage(format!("log format {spec:?}: {msg}"));
        let mut tokens = Vec::new();
        let mut lit = Vec::new();
        let b = spec.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\' && i + 1 < b.len() {
                // Apache config escapes: \" and \t, \n.
                lit.push(match b[i + 1] {
                    b't' => b'\t',
                    b'n' => b'\n',
                    c => c,
                });
                i += 2;
                continue;
            }
            if b[i] != b'%' {
                lit.push(b[i]);
                i += 1;
                continue;
            }
            i += 1;
            if b.get(i) == Some(&b'%') {
                lit.push(b'%');
                i += 1;
                continue;
            }
            // Modifiers: %>s, %<s, %!200,304s, %400,501{User-agent}i.
            while i < b.len() && matches!(b[i], b'<' | b'>' | b'!' | b',' | b'0'..=b'9') {
                i += 1;
            }
            let mut arg = None;
            if b.get(i) == Some(&b'{') {
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'}')
                    .ok_or_else(|| bad("unclosed %{".into()))?;
                arg = Some(String::from_utf8_lossy(&b[i + 1..i + end]).into_owned());
                i += end + 1;
            }
            let Some(&d) = b.get(i) else {
                return Err(bad("ends with a bare %".into()));
            };
            i += 1;
            let field = match (d, arg.as_deref()) {
                (b'h' | b'a', _) => Field::Client,
                (b'u', _) => Field::User,
                (b't', None) => Field::Time,
                (b't', Some(_)) => {
                    return Err(bad(
                        "custom %{…}t time formats are not supported; use %t".into()
                    ));
                }
                (b'r', _) => Field::Request,
                (b'm', _) => Field::Method,
                (b'U', _) => Field::Path,
                (b'q', _) => Field::Query,
                (b's', _) => Field::Status,
                (b'v' | b'V', _) => Field::VHost,
                (b'i', Some(h)) if h.eq_ignore_ascii_case("referer") => Field::Referer,
                (b'i', Some(h)) if h.eq_ignore_ascii_case("user-agent") => Field::UserAgent,
                (b'i', Some(h)) if h.eq_ignore_ascii_case("host") => Field::VHost,
                (b'i', Some(h)) if h.eq_ignore_ascii_case("cookie") => Field::CookieHeader,
                (b'C', Some(name)) => match cookies.slot(name) {
                    Some(slot) if slot < MAX_COOKIES => Field::Cookie(slot),
                    _ => Field::Skip,
                },
                (b'i' | b'o' | b'e' | b'n' | b'x' | b'p' | b'P' | b'T' | b'D', _) => Field::Skip,
                (b'l' | b'b' | b'B' | b'H' | b'I' | b'O' | b'S' | b'X' | b'k' | b'L', _) => {
                    Field::Skip
                }
                (b'R' | b'f' | b'A' | b'M' | b'^', _) => Field::Skip,
                (other, _) => {
                    return Err(bad(format!("unknown directive %{}", other as char)));
                }
            };
            if !lit.is_empty() {
                tokens.push(Token::Literal(std::mem::take(&mut lit)));
            }
            if field == Field::Query && matches!(tokens.last(), Some(Token::Field(Field::Path))) {
                tokens.pop();
                tokens.push(Token::Field(Field::Uri));
                continue;
            }
            if let Some(Token::Field(_)) = tokens.last() {
                return Err(bad(
                    "two fields with nothing between them cannot be split".into()
                ));
            }
            tokens.push(Token::Field(field));
        }
        if !lit.is_empty() {
            tokens.push(Token::Literal(lit));
        }
        let has = |f: Field| {
            tokens
                .iter()
                .any(|t| matches!(t, Token::Field(x) if *x == f))
        };
        if !has(Field::Time) {
            return Err(bad("it has no %t (time)".into()));
        }
        if !has(Field::Request) && !has(Field::Path) && !has(Field::Uri) {
            return Err(bad("it has no %r or %U (requested URL)".into()));
        }
        let split_uri = !has(Field::Request) && has(Field::Query);
        Ok(ApacheFormat {
            tokens,
            split_uri,
            uri_buf: Vec::new(),
            last_time: Vec::new(),
            last_ts: 0,
        })
    }

    pub fn logs_user(&self) -> bool {
        self.tokens
            .iter()
            .any(|t| matches!(t, Token::Field(Field::User)))
    }

    pub fn parse<'a>(&'a mut self, line: &'a [u8]) -> Result<Hit<'a>, ParseError> {
        let mut hit = Hit::default();
        let mut have_time = false;
        let mut have_status = false;
        let mut path: &[u8] = &[];
        let mut query: &[u8] = &[];
        let mut pos = 0;
        let n = self.tokens.len();
        for (k, token) in self.tokens.iter().enumerate() {
            match token {
                Token::Literal(lit) => {
                    if !has_prefix(&line[pos..], lit) {
                        return Err(if pos >= line.len() {
                            "line ends early"
                        } else {
                            "line does not match the log format"
                        });
                    }
                    pos += lit.len();
                }
                Token::Field(field) => {
                    let next = match self.tokens.get(k + 1) {
                        Some(Token::Literal(l)) => Some(l.as_slice()),
                        _ => None,
                    };
                    let last_literal = k + 2 == n;
                    let (value, end) = if *field == Field::Time && line.get(pos) == Some(&b'[') {
                        let close = memchr::memchr(b']', &line[pos..]).ok_or("bad time")?;
                        (&line[pos..pos + close + 1], pos + close + 1)
                    } else {
                        match next {
                            None => (&line[pos..], line.len()),
                            Some(lit) => {
                                let quoted = pos > 0 && line[pos - 1] == b'"';
                                let at = find_end(&line[pos..], lit, quoted, last_literal).ok_or(
                                    if quoted {
                                        "unterminated quote"
                                    } else {
                                        "line ends early"
                                    },
                                )?;
                                (&line[pos..pos + at], pos + at)
                            }
                        }
                    };
                    pos = end;
                    match field {
                        Field::Client => hit.client = value,
                        Field::User => hit.user = value,
                        Field::Time => {
                            if self.last_time.is_empty() || value != self.last_time.as_slice() {
                                self.last_ts = time::parse_clf(value).ok_or("bad time")?;
                                self.last_time.clear();
                                self.last_time.extend_from_slice(value);
                            }
                            hit.ts = self.last_ts;
                            have_time = true;
                        }
                        Field::Request => {
                            let (m, uri) = split_request(value);
                            hit.method = m;
                            hit.uri = uri;
                        }
                        Field::Method => hit.method = value,
                        Field::Uri => hit.uri = value,
                        Field::Path => path = value,
                        Field::Query => query = value,
                        Field::Status => {
                            hit.status = parse_status(value).ok_or("bad status")?;
                            have_status = true;
                        }
                        Field::Referer => hit.referer = value,
                        Field::UserAgent => hit.user_agent = value,
                        Field::VHost => hit.vhost = value,
                        Field::CookieHeader => hit.cookie_header = value,
                        Field::Cookie(slot) => hit.cookies[*slot] = Some(value),
                        Field::Skip => {}
                    }
                }
            }
        }
        if !have_time {
            return Err("bad time");
        }
        if !have_status {
            // Formats without a status log only what was served.
            hit.status = 200;
        }
        if hit.uri.is_empty() && !path.is_empty() {
            if self.split_uri && !query.is_empty() {
                self.uri_buf.clear();
                self.uri_buf.extend_from_slice(path);
                if query[0] != b'?' {
                    self.uri_buf.push(b'?');
                }
                self.uri_buf.extend_from_slice(query);
                hit.uri = &self.uri_buf;
            } else {
                hit.uri = path;
            }
        }
        Ok(hit)
    }
}

/// Where a field ends: the next occurrence of the literal that follows it. Inside
/// quotes an escaped `\"` does not end the field; the format's last literal must be
/// followed by the end of the line or by white space (extra trailing fields are allowed).
fn find_end(hay: &[u8], lit: &[u8], quoted: bool, last_literal: bool) -> Option<usize> {
    let first = lit[0];
    let mut from = 0;
    while let Some(off) = memchr::memchr(first, &hay[from..]) {
        let at = from + off;
        from = at + 1;
        if !has_prefix(&hay[at..], lit) {
            continue;
        }
        if quoted && first == b'"' && escaped(hay, at) {
            continue;
        }
        if last_literal {
            let after = at + lit.len();
            if after < hay.len() && !hay[after].is_ascii_whitespace() {
                continue;
            }
        }
        return Some(at);
    }
    None
}

/// `hay.starts_with(lit)` for the few-byte literals of log formats, without a call
/// to `memcmp` per field.
#[inline]
fn has_prefix(hay: &[u8], lit: &[u8]) -> bool {
    hay.len() >= lit.len() && hay.iter().zip(lit).all(|(a, b)| a == b)
}

/// Whether the byte at `at` is preceded by an odd number of backslashes.
fn escaped(hay: &[u8], at: usize) -> bool {
    hay[..at].iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1
}

/// `GET /path?x HTTP/1.1` into method and URI; junk requests keep what they have.
fn split_request(r: &[u8]) -> (&[u8], &[u8]) {
    let Some(sp) = memchr::memchr(b' ', r) else {
        return (r, &[]);
    };
    let method = &r[..sp];
    let rest = &r[sp + 1..];
    let uri = match memchr::memrchr(b' ', rest) {
        Some(i) if rest[i + 1..].starts_with(b"HTTP/") => &rest[..i],
        _ => rest,
    };
    (method, uri)
}

fn parse_status(v: &[u8]) -> Option<u16> {
    if v.len() != 3 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u16, |n, &c| n * 10 + (c - b'0') as u16))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn combined() -> ApacheFormat {
        ApacheFormat::compile(COMBINED, &CookieNames::default()).unwrap()
    }

    #[test]
    fn parses_combined_line() {
        let mut f = combined();
        let line = br#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /a/b.html?x=1 HTTP/1.1" 200 203023 "http://www.google.de/search?q=kibana" "Mozilla/5.0 (X11) \"quoted\"""#;
        let h = f.parse(line).unwrap();
        assert_eq!(h.client, b"83.149.9.216");
        assert_eq!(h.ts, 1431857103);
        assert_eq!(h.method, b"GET");
        assert_eq!(h.uri, b"/a/b.html?x=1");
        assert_eq!(h.status, 200);
        assert_eq!(h.referer, b"http://www.google.de/search?q=kibana");
        assert_eq!(h.user_agent, br#"Mozilla/5.0 (X11) \"quoted\""#);
    }

    #[test]
    fn rejects_malformed_lines() {
        let mut f = combined();
        let cases: &[(&[u8], &str)] = &[
            (b"", "line ends early"),
            (b"1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"Mozilla", "unterminated quote"),
            (b"1.2.3.4 - - [99/May/2015:10:05:03 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"x\"", "bad time"),
            (b"1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET / HTTP/1.1\" 2x0 1 \"-\" \"x\"", "bad status"),
            (b"not a log line at all", "line ends early"),
        ];
        for (line, want) in cases {
            assert_eq!(
                f.parse(line).err(),
                Some(*want),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn custom_format_with_cookie_and_split_uri() {
        let mut names = CookieNames::default();
        names.add("kw").unwrap();
        // Two fields with nothing between them cannot be split: a clear error.
        assert!(ApacheFormat::compile("%h%u %t %r", &names).is_err());
        let mut f = ApacheFormat::compile(
            r#"%v %h %u %t "%m %U%q %H" %>s %D "%{Referer}i" "%{User-Agent}i" "%{kw}C""#,
            &names,
        )
        .unwrap();
        let line = br#"shop.example 10.0.0.1 alice [01/Jan/2020:00:00:00 +0000] "POST /buy?revenue=10 HTTP/2.0" 302 1234 "-" "UA" "red+shoes""#;
        let h = f.parse(line).unwrap();
        assert_eq!(h.vhost, b"shop.example");
        assert_eq!(h.user, b"alice");
        assert_eq!(h.method, b"POST");
        assert_eq!(h.uri, b"/buy?revenue=10");
        assert_eq!(h.status, 302);
        assert_eq!(h.cookie(0, &names), Some(&b"red+shoes"[..]));
        assert!(f.logs_user());
    }

    #[test]
    fn common_format_and_trailing_fields() {
        let mut f = ApacheFormat::compile(COMMON, &CookieNames::default()).unwrap();
        let h = f
            .parse(b"1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET / HTTP/1.0\" 304 -")
            .unwrap();
        assert_eq!(h.status, 304);
        let mut f = combined();
        // Nginx with an extra X-Forwarded-For field after the user agent.
        let h = f
            .parse(b"1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET / HTTP/1.0\" 200 5 \"-\" \"UA x\" \"9.9.9.9\"")
            .unwrap();
        assert_eq!(h.user_agent, b"UA x");
    }

    #[test]
    fn unknown_directive_is_a_usage_error() {
        let e = ApacheFormat::compile("%h %Z %t %r", &CookieNames::default()).unwrap_err();
        assert!(e.to_string().contains("%Z"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(line in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let mut f = combined();
            let _ = f.parse(&line);
        }

        #[test]
        fn never_panics_on_near_valid_lines(ref_ in "[ -~]{0,60}", ua in "[ -~\\\"]{0,60}") {
            let mut f = combined();
            let line = format!(r#"1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /x?q={ref_} HTTP/1.1" 200 1 "{ref_}" "{ua}""#);
            let _ = f.parse(line.as_bytes());
        }
    }
}
