//! The ledger/history reader: every line is an entry or a problem.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (entries, problems) = keyrank::store::parse_ledger("ledger.jsonl", &text);
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    assert_eq!(entries.len() + problems.len(), lines);
});
