//! Report configs (TOML) and the relative dates in them: an error, never a panic.
#![no_main]
use chrono::NaiveDate;
use keyrank_fuzz::{scratch_file, split_first_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (first, _) = split_first_line(data);
    if let Ok(expr) = std::str::from_utf8(first) {
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let _ = keyrank::report::resolve_date(expr, today, false);
        let _ = keyrank::report::resolve_date(expr, today, true);
    }
    let path = scratch_file("reports.toml", data);
    let _ = keyrank::report::Config::load(&path);
});
