//! W3C extended logs: IIS (`--log-format w3c`) and CloudFront standard logs
//! (`--log-format cloudfront`).
//!
//! The fields of an entry are those of the latest `#Fields:` directive, so a header
//! written again mid-file (IIS does after a restart or a configuration change) takes
//! effect from its line on. Directive lines are counted as headers, never as malformed.
//! A file without a `#Fields:` line is read with the default field list of its kind.
//!
//! IIS separates fields by spaces and writes the spaces of a user agent as `+`;
//! CloudFront separates them by tabs and percent-encodes the Referer, user agent, query
//! and cookie once more than the browser sent them, so those are decoded once here.
//! Times are UTC in both.

use super::{Hit, ParseError, time};
use std::borrow::Cow;

/// What [`W3cFormat::parse`] returns for a directive line (`#Fields:`, `#Version:`, …).
pub const DIRECTIVE: ParseError = "W3C directive";

/// IIS's default field set (IIS 7.5 to 10), for a file that has lost its header.
pub const IIS_FIELDS: &str = "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken";

/// The 33 fields of a CloudFront standard log, in order.
pub const CLOUDFRONT_FIELDS: &str = "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Date,
    Time,
    Client,
    User,
    Method,
    Stem,
    Query,
    /// `cs-uri`: path and query in one field.
    Uri,
    Status,
    Referer,
    UserAgent,
    /// `cs-host`, `cs(Host)`: the host the request named.
    Host,
    /// CloudFront's `x-host-header`: the viewer's Host, where `cs(Host)` is the
    /// distribution's own name.
    ViewerHost,
    Cookie,
    Skip,
}

fn field_of(name: &str) -> Field {
    match name.to_ascii_lowercase().as_str() {
        "date" => Field::Date,
        "time" => Field::Time,
        "c-ip" => Field::Client,
        "cs-username" => Field::User,
        "cs-method" => Field::Method,
        "cs-uri-stem" => Field::Stem,
        "cs-uri-query" => Field::Query,
        "cs-uri" => Field::Uri,
        "sc-status" => Field::Status,
        "cs(referer)" | "cs(referrer)" => Field::Referer,
        "cs(user-agent)" => Field::UserAgent,
        "cs-host" | "cs(host)" => Field::Host,
        "x-host-header" => Field::ViewerHost,
        "cs(cookie)" => Field::Cookie,
        _ => Field::Skip,
    }
}

fn fields_of(list: &str) -> Vec<Field> {
    list.split_ascii_whitespace().map(field_of).collect()
}

/// A W3C extended log format, IIS or CloudFront, with the fields in effect.
#[derive(Debug, Clone)]
pub struct W3cFormat {
    cloudfront: bool,
    defaults: Vec<Field>,
    fields: Vec<Field>,
    when: Vec<u8>,
    uri: Vec<u8>,
    referer: Vec<u8>,
    user_agent: Vec<u8>,
    cookie: Vec<u8>,
}

impl W3cFormat {
    pub fn iis() -> Self {
        Self::new(false, IIS_FIELDS)
    }

    pub fn cloudfront() -> Self {
        Self::new(true, CLOUDFRONT_FIELDS)
    }

    fn new(cloudfront: bool, defaults: &str) -> Self {
        let defaults = fields_of(defaults);
        W3cFormat {
            cloudfront,
            fields: defaults.clone(),
            defaults,
            when: Vec::new(),
            uri: Vec::new(),
            referer: Vec::new(),
            user_agent: Vec::new(),
            cookie: Vec::new(),
        }
    }

    /// Starts a block of lines: the `#Fields:` line in effect before it (None: the
    /// input has had none yet, so the defaults apply).
    pub fn start_block(&mut self, fields_line: Option<&[u8]>) {
        self.fields = self.defaults.clone();
        if let Some(line) = fields_line {
            self.take_directive(line);
        }
    }

    fn take_directive(&mut self, line: &[u8]) {
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        if let Some(rest) = strip_prefix_ignore_case(line, b"#fields:") {
            let list = String::from_utf8_lossy(rest);
            let fields = fields_of(&list);
            if !fields.is_empty() {
                self.fields = fields;
            }
        }
    }

    pub fn parse<'a>(&'a mut self, line: &'a [u8]) -> Result<Hit<'a>, ParseError> {
        // A file may start with a UTF-8 byte-order mark.
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        if line.first() == Some(&b'#') {
            self.take_directive(line);
            return Err(DIRECTIVE);
        }
        let tabs = self.cloudfront || memchr::memchr(b'\t', line).is_some();
        let sep = if tabs { b'\t' } else { b' ' };
        let mut values = line.split(|&c| c == sep);
        let mut hit = Hit::default();
        let (mut date, mut clock): (&[u8], &[u8]) = (&[], &[]);
        let (mut stem, mut query): (&[u8], &[u8]) = (&[], &[]);
        let (mut host, mut viewer_host): (&[u8], &[u8]) = (&[], &[]);
        let (mut referer, mut agent, mut cookie): (&[u8], &[u8], &[u8]) = (&[], &[], &[]);
        let mut status = None;
        for field in &self.fields {
            let v = values.next().ok_or("line ends early")?;
            let v = if v == b"-" { &v[..0] } else { v };
            match field {
                Field::Date => date = v,
                Field::Time => clock = v,
                Field::Client => hit.client = v,
                Field::User => hit.user = v,
                Field::Method => hit.method = v,
                Field::Stem => stem = v,
                Field::Query => query = v,
                Field::Uri => hit.uri = v,
                Field::Status => {
                    status = Some(
                        std::str::from_utf8(v)
                            .ok()
                            .and_then(|s| s.parse::<u16>().ok())
                            .filter(|s| (100..1000).contains(s))
                            .ok_or("bad status")?,
                    )
                }
                Field::Referer => referer = v,
                Field::UserAgent => agent = v,
                Field::Host => host = v,
                Field::ViewerHost => viewer_host = v,
                Field::Cookie => cookie = v,
                Field::Skip => {}
            }
        }
        if date.is_empty() || clock.is_empty() {
            return Err("bad time");
        }
        self.when.clear();
        self.when.extend_from_slice(date);
        self.when.push(b' ');
        self.when.extend_from_slice(clock);
        hit.ts = time::parse_rfc3339(&self.when).ok_or("bad time")?;
        hit.status = status.unwrap_or(200);
        hit.vhost = if viewer_host.is_empty() {
            host
        } else {
            viewer_host
        };
        if self.cloudfront {
            self.referer = decode_once(referer).into_owned();
            self.user_agent = decode_once(agent).into_owned();
            self.cookie = decode_once(cookie).into_owned();
            query_into(&mut self.uri, stem, &decode_once(query));
        } else {
            // IIS writes the spaces of a user agent as `+`.
            self.user_agent.clear();
            self.user_agent
                .extend(agent.iter().map(|&c| if c == b'+' { b' ' } else { c }));
            self.referer.clear();
            self.referer.extend_from_slice(referer);
            self.cookie.clear();
            self.cookie.extend_from_slice(cookie);
            query_into(&mut self.uri, stem, query);
        }
        if hit.uri.is_empty() {
            if self.uri.is_empty() {
                return Err("no request URI field");
            }
            hit.uri = &self.uri;
        }
        hit.referer = &self.referer;
        hit.user_agent = &self.user_agent;
        hit.cookie_header = &self.cookie;
        Ok(hit)
    }
}

fn query_into(out: &mut Vec<u8>, stem: &[u8], query: &[u8]) {
    out.clear();
    out.extend_from_slice(stem);
    if !query.is_empty() {
        out.push(b'?');
        out.extend_from_slice(query.strip_prefix(b"?").unwrap_or(query));
    }
}

/// One level of percent-encoding removed (`+` stays a `+`).
fn decode_once(v: &[u8]) -> Cow<'_, [u8]> {
    percent_encoding::percent_decode(v).into()
}

fn strip_prefix_ignore_case<'a>(line: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &line[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iis_header_mid_file_changes_the_fields() {
        let mut f = W3cFormat::iis();
        let lines: &[&[u8]] = &[
            b"#Software: Microsoft Internet Information Services 10.0",
            b"#Fields: date time cs-method cs-uri-stem cs-uri-query c-ip cs(User-Agent) cs(Referer) sc-status",
            b"2024-03-12 14:05:09 GET /p/red utm_term=red+shoes 203.0.113.7 Mozilla/5.0+(X11) https://www.bing.com/search?q=red+shoes 200",
            b"#Fields: date time c-ip cs-method cs-uri-stem cs-uri-query sc-status cs(Referer) cs(User-Agent)",
            b"2024-03-12 14:06:00 203.0.113.8 GET /checkout - 302 https://shop.example/p/red Mozilla/5.0+(X11)",
        ];
        assert_eq!(f.parse(lines[0]).unwrap_err(), DIRECTIVE);
        assert_eq!(f.parse(lines[1]).unwrap_err(), DIRECTIVE);
        let hit = f.parse(lines[2]).unwrap();
        assert_eq!(hit.ts, 1_710_252_309);
        assert_eq!(hit.uri, b"/p/red?utm_term=red+shoes");
        assert_eq!(hit.user_agent, b"Mozilla/5.0 (X11)");
        assert_eq!(hit.referer, b"https://www.bing.com/search?q=red+shoes");
        assert_eq!(hit.status, 200);
        assert_eq!(f.parse(lines[3]).unwrap_err(), DIRECTIVE);
        let hit = f.parse(lines[4]).unwrap();
        assert_eq!(
            (hit.client, hit.status, hit.uri),
            (&b"203.0.113.8"[..], 302, &b"/checkout"[..])
        );
        assert_eq!(hit.referer, b"https://shop.example/p/red");
        // A byte-order mark before the first header is not part of it.
        let mut b = W3cFormat::iis();
        let bom = [&b"\xEF\xBB\xBF"[..], lines[1]].concat();
        assert_eq!(b.parse(&bom).unwrap_err(), DIRECTIVE);
        assert_eq!(b.parse(lines[2]).unwrap().status, 200);
        // A block that starts after the second header takes it, not the defaults.
        let mut g = W3cFormat::iis();
        g.start_block(Some(lines[3]));
        assert_eq!(g.parse(lines[4]).unwrap().status, 302);
        g.start_block(None);
        assert!(g.parse(lines[4]).is_err());
    }

    #[test]
    fn cloudfront_decodes_its_own_escaping_once() {
        let mut f = W3cFormat::cloudfront();
        let line = "2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/index.html\t200\thttps://www.google.com/search?q=red%2520shoes\tMozilla/5.0%20(Windows%20NT%2010.0)\tutm_term=blue%2520boots\t-\tHit\tSOX4\twww.example.com\thttps\t23\t0.001\t-\tTLSv1.2\tECDHE\tHit\tHTTP/2.0\t-\t-\t11040\t0.001\tHit\ttext/html\t78\t-\t-\t";
        let hit = f.parse(line.as_bytes()).unwrap();
        assert_eq!(hit.referer, b"https://www.google.com/search?q=red%20shoes");
        assert_eq!(hit.user_agent, b"Mozilla/5.0 (Windows NT 10.0)");
        assert_eq!(hit.uri, b"/index.html?utm_term=blue%20boots");
        assert_eq!(hit.vhost, b"www.example.com");
        assert_eq!(hit.ts, 1_575_493_351);
    }
}
