//! JSON lines: a field mapping (the first line, `key=field,...`) and lines parsed
//! with it; the default mapping parses every line too.
#![no_main]
use keyrank::parse::{CookieNames, LogFormat};
use keyrank_fuzz::split_first_line;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cookies = CookieNames(vec!["vid".into()]);
    let (fields, lines) = split_first_line(data);
    let mapped = std::str::from_utf8(fields)
        .ok()
        .and_then(|f| LogFormat::from_spec("json", f, &cookies).ok());
    let default = LogFormat::from_spec("json", "", &cookies).expect("default mapping");
    for format in mapped.iter().chain([&default]) {
        let mut parser = format.parser();
        for line in lines.split(|&b| b == b'\n') {
            if let Ok(hit) = parser.parse(line) {
                assert!(keyrank::parse::time::plausible(hit.ts));
                let _ = hit.cookie(0, &cookies);
            }
        }
    }
});
