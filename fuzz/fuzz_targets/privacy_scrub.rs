//! The privacy scrub: what it lets through never looks personal, as written or
//! percent-decoded.
#![no_main]
use keyrank::classify::keyword::percent_decode;
use keyrank::privacy::{looks_personal, scrub, scrub_path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (term, redacted) = scrub(text.to_string());
    assert!(redacted || !looks_personal(&term) || term.starts_with('('));
    for seg in scrub_path(&text).split('/') {
        assert!(!looks_personal(seg), "segment kept");
        let decoded = percent_decode(seg.as_bytes());
        assert!(
            !looks_personal(&String::from_utf8_lossy(&decoded)),
            "decoded segment kept"
        );
    }
});
