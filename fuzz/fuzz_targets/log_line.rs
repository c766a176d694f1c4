//! The combined and common log formats: any line parses or is malformed, and a parsed
//! time is a plausible one.
#![no_main]
use keyrank::parse::{CookieNames, LogFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cookies = CookieNames(vec!["vid".into(), "kw".into()]);
    for spec in ["combined", "common"] {
        let format = LogFormat::from_spec(spec, "", &cookies).expect("built-in format");
        let mut parser = format.parser();
        for line in data.split(|&b| b == b'\n') {
            if let Ok(hit) = parser.parse(line) {
                assert!(keyrank::parse::time::plausible(hit.ts));
                let _ = hit.cookie(0, &cookies);
                let _ = hit.referer();
            }
        }
    }
});
