//! Search Console exports: rows or bad rows, never a crash; counts are never negative.
#![no_main]
use keyrank_fuzz::scratch_file;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = scratch_file("Queries.csv", data);
    if let Ok((rows, summary)) = keyrank::import::search_console::read(&path, "google", None) {
        assert!(summary.rows + summary.bad_rows >= rows.len() as u64);
        for r in rows {
            assert!(r.clicks >= 0 && r.impressions >= 0);
        }
    }
});
