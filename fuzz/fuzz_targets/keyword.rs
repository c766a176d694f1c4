//! Keyword normalisation: any bytes in any of the charsets engines declare; a
//! normalised keyword is a fixed point.
#![no_main]
use keyrank::classify::keyword;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let charsets = [
        None,
        Some(encoding_rs::WINDOWS_1251),
        Some(encoding_rs::SHIFT_JIS),
        Some(encoding_rs::GBK),
        Some(encoding_rs::EUC_KR),
    ];
    let (pick, raw) = data.split_first().unwrap_or((&0, &[]));
    let charset = charsets[*pick as usize % charsets.len()];
    let _ = keyword::percent_decode(raw);
    if let Some(k) = keyword::normalize(raw, charset) {
        assert!(!k.is_empty());
        assert_eq!(keyword::normalize_text(&k).as_deref(), Some(k.as_str()));
    }
});
