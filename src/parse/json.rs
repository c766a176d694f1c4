//! JSON lines access logs (nginx `escape=json`, Caddy, load balancers) with a field mapping.

use super::{CookieNames, Hit, MAX_COOKIES, ParseError, time};
use crate::error::{Error, Result};
use serde_json::Value;

/// Which JSON field (a dotted path; arrays yield their first element) holds each part of a hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonFields {
    pub client: Vec<String>,
    pub user: Vec<String>,
    pub time: Vec<String>,
    pub request: Vec<String>,
    pub method: Vec<String>,
    pub uri: Vec<String>,
    pub status: Vec<String>,
    pub referer: Vec<String>,
    pub user_agent: Vec<String>,
    pub host: Vec<String>,
    pub cookie: Vec<String>,
    /// `cookie.NAME=field`: a field holding one named cookie.
    pub named_cookies: Vec<(String, String)>,
}

impl Default for JsonFields {
    fn default() -> Self {
        let v = |names: &[&str]| names.iter().map(|s| s.to_string()).collect();
        JsonFields {
            client: v(&["remote_addr", "client_ip", "request.remote_ip", "ip"]),
            user: v(&["remote_user", "user"]),
            time: v(&[
                "time_local",
                "time_iso8601",
                "time",
                "timestamp",
                "ts",
                "@timestamp",
            ]),
            request: v(&["request"]),
            method: v(&["request_method", "method", "request.method"]),
            uri: v(&["request_uri", "uri", "request.uri", "url", "path"]),
            status: v(&["status", "status_code"]),
            referer: v(&[
                "http_referer",
                "referer",
                "referrer",
                "request.headers.Referer",
            ]),
            user_agent: v(&[
                "http_user_agent",
                "user_agent",
                "request.headers.User-Agent",
            ]),
            host: v(&["host", "http_host", "request.host"]),
            cookie: v(&["http_cookie", "cookie", "request.headers.Cookie"]),
            named_cookies: Vec::new(),
        }
    }
}

impl JsonFields {
    /// Caddy's JSON access log: headers are arrays (their first value is taken), the
    /// time is `ts` in epoch seconds, the client the proxy-aware `client_ip`.
    pub fn caddy() -> Self {
        let v = |names: &[&str]| names.iter().map(|s| s.to_string()).collect();
        JsonFields {
            client: v(&["request.client_ip", "request.remote_ip"]),
            user: v(&["user_id"]),
            time: v(&["ts"]),
            request: Vec::new(),
            method: v(&["request.method"]),
            uri: v(&["request.uri"]),
            status: v(&["status"]),
            referer: v(&["request.headers.Referer"]),
            user_agent: v(&["request.headers.User-Agent"]),
            host: v(&["request.host"]),
            cookie: v(&["request.headers.Cookie"]),
            named_cookies: Vec::new(),
        }
    }

    /// Traefik's JSON access log; its headers (`request_Referer`, …) are logged only
    /// when its configuration keeps them.
    pub fn traefik() -> Self {
        let v = |names: &[&str]| names.iter().map(|s| s.to_string()).collect();
        JsonFields {
            client: v(&["ClientHost"]),
            user: v(&["ClientUsername"]),
            time: v(&["StartUTC", "StartLocal", "time"]),
            request: Vec::new(),
            method: v(&["RequestMethod"]),
            uri: v(&["RequestPath"]),
            status: v(&["DownstreamStatus", "OriginStatus"]),
            referer: v(&["request_Referer"]),
            user_agent: v(&["request_User-Agent"]),
            host: v(&["RequestHost"]),
            cookie: v(&["request_Cookie"]),
            named_cookies: Vec::new(),
        }
    }

    /// `client=ip,time=ts,cookie.vid=visitor_id`; keys not given keep their defaults.
    pub fn parse(spec: &str) -> Result<Self> {
        Self::parse_over(JsonFields::default(), spec)
    }

    /// [`parse`](Self::parse) over a preset mapping.
    pub fn parse_over(preset: JsonFields, spec: &str) -> Result<Self> {
        let mut f = preset;
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, field) = pair.split_once('=').ok_or_else(|| {
                Error::usage(format!("--json-fields: expected key=field, got {pair:?}"))
            })?;
            let field = field.trim().to_string();
            let slot = match key.trim() {
                "client" | "ip" => &mut f.client,
                "user" => &mut f.user,
                "time" => &mut f.time,
                "request" => &mut f.request,
                "method" => &mut f.method,
                "uri" | "url" => &mut f.uri,
                "status" => &mut f.status,
                "referer" | "referrer" => &mut f.referer,
                "user_agent" | "ua" => &mut f.user_agent,
                "host" => &mut f.host,
                "cookie" => &mut f.cookie,
                k => match k.strip_prefix("cookie.") {
                    Some(name) => {
                        f.named_cookies.push((name.to_string(), field));
                        continue;
                    }
                    None => {
                        return Err(Error::usage(format!(
                            "--json-fields: unknown key {k:?} (known: client, user, time, request, method, uri, status, referer, user_agent, host, cookie, cookie.NAME)"
                        )));
                    }
                },
            };
            *slot = vec![field];
        }
        Ok(f)
    }
}

#[derive(Debug, Clone)]
pub struct JsonFormat {
    fields: JsonFields,
    /// Cookie slot for each named-cookie field.
    cookie_slots: Vec<(usize, String)>,
}

/// Owned strings of the last parsed line, borrowed by the returned [`Hit`].
#[derive(Debug, Default)]
pub struct Scratch {
    client: String,
    user: String,
    method: String,
    uri: String,
    referer: String,
    user_agent: String,
    host: String,
    cookie: String,
    cookies: [String; MAX_COOKIES],
}

impl JsonFormat {
    pub fn new(fields: JsonFields, cookies: &CookieNames) -> Self {
        let cookie_slots = fields
            .named_cookies
            .iter()
            .filter_map(|(name, field)| cookies.slot(name).map(|s| (s, field.clone())))
            .collect();
        JsonFormat {
            fields,
            cookie_slots,
        }
    }

    pub fn logs_user(&self) -> bool {
        true
    }

    pub fn parse<'a>(
        &self,
        line: &[u8],
        s: &'a mut Scratch,
    ) -> std::result::Result<Hit<'a>, ParseError> {
        let v: Value = serde_json::from_slice(line).map_err(|_| "invalid JSON")?;
        if !v.is_object() {
            return Err("JSON line is not an object");
        }
        let f = &self.fields;
        let ts = match first(&v, &f.time).ok_or("no time field")? {
            Value::Number(n) => n.as_f64().and_then(time::parse_epoch),
            Value::String(t) => time::parse_any(t.as_bytes()),
            _ => None,
        }
        .ok_or("bad time")?;
        let status = match first(&v, &f.status) {
            None => 200,
            Some(Value::Number(n)) => n
                .as_u64()
                .filter(|n| (100..1000).contains(n))
                .ok_or("bad status")? as u16,
            Some(Value::String(t)) => t
                .parse::<u16>()
                .ok()
                .filter(|n| (100..1000).contains(n))
                .ok_or("bad status")?,
            Some(_) => return Err("bad status"),
        };
        fill(&mut s.client, &v, &f.client);
        fill(&mut s.user, &v, &f.user);
        fill(&mut s.referer, &v, &f.referer);
        fill(&mut s.user_agent, &v, &f.user_agent);
        fill(&mut s.host, &v, &f.host);
        fill(&mut s.cookie, &v, &f.cookie);
        fill(&mut s.method, &v, &f.method);
        fill(&mut s.uri, &v, &f.uri);
        if s.uri.is_empty() {
            let mut request = String::new();
            fill(&mut request, &v, &f.request);
            let mut parts = request.split(' ');
            let m = parts.next().unwrap_or("");
            let u = parts.next().unwrap_or("");
            if s.method.is_empty() {
                s.method = m.to_string();
            }
            s.uri = u.to_string();
        }
        if s.uri.is_empty() {
            return Err("no request URI field");
        }
        for c in s.cookies.iter_mut() {
            c.clear();
        }
        for (slot, field) in &self.cookie_slots {
            fill(&mut s.cookies[*slot], &v, std::slice::from_ref(field));
        }
        let mut hit = Hit {
            client: s.client.as_bytes(),
            user: s.user.as_bytes(),
            ts,
            method: s.method.as_bytes(),
            uri: s.uri.as_bytes(),
            status,
            referer: s.referer.as_bytes(),
            user_agent: s.user_agent.as_bytes(),
            vhost: s.host.as_bytes(),
            cookie_header: s.cookie.as_bytes(),
            cookies: [None; MAX_COOKIES],
        };
        for (slot, value) in s.cookies.iter().enumerate() {
            if !value.is_empty() {
                hit.cookies[slot] = Some(value.as_bytes());
            }
        }
        Ok(hit)
    }
}

/// Follows a dotted path; an array yields its first element (Caddy logs headers as arrays).
fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    if let Some(direct) = v.get(path) {
        return Some(direct);
    }
    let mut cur = v;
    for part in path.split('.') {
        cur = cur.get(part)?;
        while let Value::Array(items) = cur {
            cur = items.first()?;
        }
    }
    Some(cur)
}

fn first<'v>(v: &'v Value, paths: &[String]) -> Option<&'v Value> {
    paths
        .iter()
        .filter_map(|p| lookup(v, p))
        .find(|x| !x.is_null())
}

fn fill(out: &mut String, v: &Value, paths: &[String]) {
    out.clear();
    match first(v, paths) {
        Some(Value::String(s)) => out.push_str(s),
        Some(Value::Number(n)) => out.push_str(&n.to_string()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_json_defaults() {
        let f = JsonFormat::new(JsonFields::default(), &CookieNames::default());
        let mut s = Scratch::default();
        let line = br#"{"remote_addr":"1.2.3.4","time_local":"17/May/2015:10:05:03 +0000","request":"GET /x?utm_term=a HTTP/1.1","status":"200","http_referer":"-","http_user_agent":"UA"}"#;
        let h = f.parse(line, &mut s).unwrap();
        assert_eq!(h.ts, 1431857103);
        assert_eq!(h.method, b"GET");
        assert_eq!(h.uri, b"/x?utm_term=a");
        assert_eq!(h.client, b"1.2.3.4");
    }

    #[test]
    fn mapped_nested_fields_and_cookie() {
        let mut names = CookieNames::default();
        names.add("vid").unwrap();
        let fields = JsonFields::parse("time=ts,uri=request.uri,cookie.vid=visitor").unwrap();
        let f = JsonFormat::new(fields, &names);
        let mut s = Scratch::default();
        let line = br#"{"ts":1431857103.5,"request":{"uri":"/p","method":"GET","headers":{"Referer":["https://duckduckgo.com/"]}},"status":404,"visitor":"v1"}"#;
        let h = f.parse(line, &mut s).unwrap();
        assert_eq!(h.ts, 1431857103);
        assert_eq!(h.uri, b"/p");
        assert_eq!(h.status, 404);
        assert_eq!(h.referer, b"https://duckduckgo.com/");
        assert_eq!(h.cookie(0, &names), Some(&b"v1"[..]));
        assert_eq!(f.parse(b"{not json", &mut s).err(), Some("invalid JSON"));
        assert_eq!(
            f.parse(br#"{"ts":"x","request":{"uri":"/"}}"#, &mut s)
                .err(),
            Some("bad time")
        );
        assert!(JsonFields::parse("nope=x").is_err());
    }
}
