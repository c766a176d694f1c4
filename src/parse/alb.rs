//! AWS Application Load Balancer access logs (`--log-format alb`): space-separated
//! fields, some in double quotes, no header, new fields appended at the end (ignored).
//! An ALB logs no Referer and no cookies, so its visits are known by their landing URL:
//! campaign tags (`utm_term`, `gclid`) carry their keywords.

use super::{Hit, ParseError, time};

/// The fields keyrank reads, by position.
const TIME: usize = 1;
const CLIENT: usize = 3;
const STATUS: usize = 8;
const REQUEST: usize = 12;
const USER_AGENT: usize = 13;
/// Request types an ALB line starts with.
const TYPES: &[&[u8]] = &[b"http", b"https", b"h2", b"grpcs", b"ws", b"wss"];

#[derive(Debug, Clone, Default)]
pub struct AlbFormat {
    user_agent: Vec<u8>,
}

/// Whether `line` looks like an ALB entry (for `--log-format auto`).
pub fn looks_like(line: &[u8]) -> bool {
    let mut parts = line.splitn(3, |&c| c == b' ');
    let (Some(kind), Some(when)) = (parts.next(), parts.next()) else {
        return false;
    };
    TYPES.contains(&kind) && when.len() > 19 && when[10] == b'T' && when.ends_with(b"Z")
}

impl AlbFormat {
    pub fn parse<'a>(&'a mut self, line: &'a [u8]) -> Result<Hit<'a>, ParseError> {
        let mut fields: [&[u8]; USER_AGENT + 1] = [&[]; USER_AGENT + 1];
        let mut rest = line;
        for (i, slot) in fields.iter_mut().enumerate() {
            let (value, next) = next_field(rest).ok_or(if i == 0 {
                "empty line"
            } else {
                "line ends early"
            })?;
            *slot = value;
            rest = next;
        }
        if !TYPES.contains(&fields[0]) {
            return Err("line does not match the log format");
        }
        let mut hit = Hit {
            ts: time::parse_rfc3339(fields[TIME]).ok_or("bad time")?,
            ..Hit::default()
        };
        let client = fields[CLIENT];
        hit.client = match memchr::memrchr(b':', client) {
            Some(i) => &client[..i],
            None => client,
        };
        hit.status = std::str::from_utf8(fields[STATUS])
            .ok()
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|s| (100..1000).contains(s))
            .ok_or("bad status")?;
        // "GET https://www.example.com:443/p?q=1 HTTP/1.1": the URL as the client sent it.
        let mut request = fields[REQUEST].splitn(3, |&c| c == b' ');
        hit.method = request.next().unwrap_or_default();
        let url = request.next().ok_or("bad request")?;
        let (host, uri) = match url.windows(3).position(|w| w == b"://") {
            Some(i) => {
                let after = &url[i + 3..];
                let cut = memchr::memchr(b'/', after).unwrap_or(after.len());
                (&after[..cut], &after[cut..])
            }
            None => (&url[..0], url),
        };
        hit.vhost = host;
        hit.uri = if uri.is_empty() { b"/" } else { uri };
        // `\"` inside the quoted agent is a quote.
        self.user_agent.clear();
        let mut bytes = fields[USER_AGENT].iter().peekable();
        while let Some(&c) = bytes.next() {
            if c == b'\\' && bytes.peek() == Some(&&b'"') {
                continue;
            }
            self.user_agent.push(c);
        }
        hit.user_agent = &self.user_agent;
        Ok(hit)
    }
}

/// The next field: a quoted value (its quotes removed; `\"` does not end it) or a run
/// of non-spaces; then the rest after one space.
fn next_field(s: &[u8]) -> Option<(&[u8], &[u8])> {
    if s.is_empty() {
        return None;
    }
    if s[0] == b'"' {
        let mut i = 1;
        while i < s.len() {
            match s[i] {
                b'\\' => i += 2,
                b'"' => {
                    let rest = &s[(i + 1).min(s.len())..];
                    return Some((&s[1..i], rest.strip_prefix(b" ").unwrap_or(rest)));
                }
                _ => i += 1,
            }
        }
        return None;
    }
    Some(match memchr::memchr(b' ', s) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &s[s.len()..]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"https 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 "GET https://www.example.com:443/p/red?utm_source=google&utm_medium=cpc&utm_term=red+shoes HTTP/1.1" "curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337281-1d84f3d73c47ec4e58577259" "www.example.com" "arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" 1 2018-07-02T22:22:48.364000Z "authenticate,forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_dc57cebed65b444ebc8177bb698fe166 "-" "-" "-""#;

    #[test]
    fn the_documented_entry_parses() {
        assert!(looks_like(SAMPLE.as_bytes()));
        let mut f = AlbFormat::default();
        let hit = f.parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(hit.client, b"192.168.131.39");
        assert_eq!(hit.ts, 1_530_570_180);
        assert_eq!(hit.status, 200);
        assert_eq!(hit.method, b"GET");
        assert_eq!(hit.vhost, b"www.example.com:443");
        assert_eq!(
            hit.uri,
            b"/p/red?utm_source=google&utm_medium=cpc&utm_term=red+shoes"
        );
        assert_eq!(hit.user_agent, b"curl/7.46.0");
        assert!(hit.referer.is_empty());
    }

    #[test]
    fn truncated_and_foreign_lines_are_malformed() {
        let mut f = AlbFormat::default();
        assert!(f.parse(&SAMPLE.as_bytes()[..120]).is_err());
        assert!(
            f.parse(b"127.0.0.1 - - [12/Mar/2024:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1")
                .is_err()
        );
        assert!(!looks_like(b"127.0.0.1 - - [12/Mar/2024:10:00:00 +0000]"));
    }
}
