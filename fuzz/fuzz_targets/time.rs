//! Time parsing: every parsed time is a day the store can hold (the log parsers then
//! drop implausible ones), and a plausible time's day prints and reads back.
#![no_main]
use keyrank::parse::time;
use libfuzzer_sys::fuzz_target;

fn check(ts: Option<i64>) {
    if let Some(ts) = ts {
        assert!((-100_000_000_000..10_000_000_000_000).contains(&ts), "{ts}");
        let day = time::day_of(ts);
        if time::plausible(ts) {
            assert_eq!(time::parse_day(&time::format_day(day)), Some(day));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(time::parse_clf(data));
    check(time::parse_rfc3339(data));
    check(time::parse_any(data));
    if data.len() >= 8 {
        let v = f64::from_le_bytes(data[..8].try_into().unwrap());
        check(time::parse_epoch(v));
    }
    if let Ok(s) = std::str::from_utf8(data)
        && let Some(day) = time::parse_day(s)
    {
        // A day that reads prints as a day that reads the same.
        assert_eq!(time::parse_day(&time::format_day(day)), Some(day));
    }
});
