//! Ad cost exports: rows or bad rows, never a crash; money and counts stay in range.
#![no_main]
use keyrank_fuzz::scratch_file;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = scratch_file("costs.csv", data);
    if let Ok((rows, _)) = keyrank::import::costs::read(&path, Some("google")) {
        for r in rows {
            assert!(r.cents >= 0 && r.clicks >= 0 && r.impressions >= 0);
            assert!(!r.engine.is_empty());
        }
    }
});
