//! Every named log format (combined, common, W3C/IIS, CloudFront, ALB, Caddy, Traefik):
//! any line parses, is a header, or is malformed; a parsed time is a plausible one; and
//! `auto` either names a format or none, never panics.
#![no_main]
use keyrank::parse::{CookieNames, FORMAT_NAMES, LogFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cookies = CookieNames(vec!["vid".into(), "kw".into()]);
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    if let Some(name) = keyrank::parse::detect_format(&lines) {
        assert!(FORMAT_NAMES.contains(&name));
    }
    for spec in FORMAT_NAMES {
        let format = LogFormat::from_spec(spec, "", &cookies).expect("built-in format");
        let mut parser = format.parser();
        for line in &lines {
            if let Ok(hit) = parser.parse(line) {
                assert!(keyrank::parse::time::plausible(hit.ts));
                let _ = hit.cookie(0, &cookies);
                let _ = hit.referer();
            }
        }
    }
});
