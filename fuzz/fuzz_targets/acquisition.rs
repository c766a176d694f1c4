//! Acquisition: a referrer (the first line) and a requested URL (the rest) through the
//! classifier with the built-in engines: search terms, campaigns, referrals, exclusions.
#![no_main]
use keyrank::classify::engines::EngineTable;
use keyrank::classify::{Acquisition, Classifier};
use keyrank::parse::{Hit, MAX_COOKIES};
use keyrank_fuzz::split_first_line;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static CLASSIFIER: LazyLock<Classifier> =
    LazyLock::new(|| Classifier::new(EngineTable::builtin(), &["shop.example".to_string()]));

fuzz_target!(|data: &[u8]| {
    let (referer, uri) = split_first_line(data);
    let hit = Hit {
        client: b"192.0.2.1",
        user: b"-",
        ts: 1_710_000_000,
        method: b"GET",
        uri,
        status: 200,
        referer,
        user_agent: b"Mozilla/5.0",
        vhost: b"shop.example",
        cookie_header: b"",
        cookies: [None; MAX_COOKIES],
    };
    let _ = CLASSIFIER.exclusion(&hit, false);
    if let Acquisition::External(c) = CLASSIFIER.acquisition(&hit)
        && let Some(k) = c.keyword
    {
        assert!(!k.is_empty());
    }
    let _ = CLASSIFIER.referrer(referer, b"shop.example");
});
