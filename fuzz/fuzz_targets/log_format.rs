//! An Apache `LogFormat` string (the first line) compiled, then the rest parsed with it.
#![no_main]
use keyrank::parse::{CookieNames, LogFormat};
use keyrank_fuzz::split_first_line;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (spec, lines) = split_first_line(data);
    let Ok(spec) = std::str::from_utf8(spec) else {
        return;
    };
    let mut cookies = CookieNames::default();
    let _ = cookies.add("vid");
    let Ok(format) = LogFormat::from_spec(spec, "", &cookies) else {
        return;
    };
    let mut parser = format.parser();
    for line in lines.split(|&b| b == b'\n') {
        if let Ok(hit) = parser.parse(line) {
            assert!(keyrank::parse::time::plausible(hit.ts));
            let _ = hit.cookie(0, &cookies);
        }
    }
});
