//! The keyword normal form every search term, campaign term and cookie term goes
//! through: `+` → space, percent-decoding, charset decoding (UTF-8, else the declared
//! charset, else Latin-1), Unicode NFKC, lower case, collapsed white space, a length cap.

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};
use unicode_normalization::UnicodeNormalization;

/// Longer terms are cut (on a character boundary); nobody bids on a paragraph.
pub const MAX_KEYWORD_CHARS: usize = 100;

/// Percent-decodes `raw` with `+` meaning space. Invalid escapes stay as they are.
pub fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes bytes to text: valid UTF-8 as is, else `charset`, else Windows-1252 (Latin-1).
/// Never fails: undecodable bytes become U+FFFD.
pub fn decode_text(bytes: &[u8], charset: Option<&'static Encoding>) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_string();
    }
    let enc = charset.filter(|e| *e != UTF_8).unwrap_or(WINDOWS_1252);
    enc.decode_without_bom_handling(bytes).0.into_owned()
}

/// The normal form of an already-decoded term; `None` when nothing is left.
pub fn normalize_text(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    let mut chars = 0;
    let mut push = |c: char, out: &mut String| {
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
            return true;
        }
        if chars == MAX_KEYWORD_CHARS {
            return false;
        }
        if pending_space {
            if chars + 1 == MAX_KEYWORD_CHARS {
                return false;
            }
            out.push(' ');
            chars += 1;
            pending_space = false;
        }
        out.push(c);
        chars += 1;
        true
    };
    if text.is_ascii() {
        for c in text.chars() {
            if !push(c.to_ascii_lowercase(), &mut out) {
                break;
            }
        }
    } else {
        'outer: for c in text.nfkc() {
            for l in c.to_lowercase() {
                if !push(l, &mut out) {
                    break 'outer;
                }
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A raw (percent-encoded) query value to its normal form.
pub fn normalize(raw: &[u8], charset: Option<&'static Encoding>) -> Option<String> {
    normalize_text(&decode_text(&percent_decode(raw), charset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_forms() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"Red+Shoes", Some("red shoes")),
            (b"red%20%20shoes%09", Some("red shoes")),
            (b"  ", None),
            (b"", None),
            (b"caf%C3%A9", Some("café")),
            // Latin-1 é when the bytes are not UTF-8.
            (b"caf%E9", Some("café")),
            // NFKC folds full-width letters and ligatures.
            (b"%EF%BC%B2%EF%BC%A5%EF%BC%A4", Some("red")),
            (b"%EF%AC%81sh", Some("fish")),
            (b"STRASSE", Some("strasse")),
            (b"%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0", Some("москва")),
            (b"100%25+sure", Some("100% sure")),
            (b"bad%zzescape", Some("bad%zzescape")),
            (b"trailing%", Some("trailing%")),
            (b"%FF%FE%00", Some("ÿþ")),
        ];
        for (raw, want) in cases {
            assert_eq!(
                normalize(raw, None).as_deref(),
                *want,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn declared_charset_is_honoured() {
        // "中文" in GBK.
        let gbk = encoding_rs::GBK;
        assert_eq!(
            normalize(b"%D6%D0%CE%C4", Some(gbk)).as_deref(),
            Some("中文")
        );
    }

    #[test]
    fn length_is_capped_on_char_boundary() {
        let long = "é".repeat(300);
        let n = normalize_text(&long).unwrap();
        assert_eq!(n.chars().count(), MAX_KEYWORD_CHARS);
        let spaced = "a ".repeat(200);
        let n = normalize_text(&spaced).unwrap();
        assert!(n.chars().count() <= MAX_KEYWORD_CHARS && !n.ends_with(' '));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        for i in 0..=255u8 {
            let raw = [b'%', b'F', i, i, b'%', i];
            let _ = normalize(&raw, None);
            let _ = normalize(&[i, 0xC3, i], Some(encoding_rs::SHIFT_JIS));
        }
    }

    proptest::proptest! {
        #[test]
        fn normal_form_is_trimmed_collapsed_and_bounded(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Some(kw) = normalize(&raw, None) {
                proptest::prop_assert!(kw.chars().count() <= MAX_KEYWORD_CHARS);
                proptest::prop_assert_eq!(kw.trim(), kw.as_str());
                proptest::prop_assert!(!kw.contains("  "));
            }
        }
    }
}
