//! What every layer shares: money and counts as keyrank reads them, with the ranges
//! that keep every sum from wrapping.
pub mod attribution;
pub mod channel;
pub mod rollup;
pub mod runtime;
pub mod sketch;

/// Digits of the largest amount (before the decimal point) keyrank accepts.
pub const MAX_AMOUNT_DIGITS: usize = 10;

/// The largest count (clicks, impressions) one cell may carry: sums of a million such
/// rows still fit an i64, so counts never wrap.
pub const MAX_COUNT: i64 = 999_999_999_999;

/// A count cell (`1,234`, `17`, `3.0`): a whole, finite, non-negative number up to
/// [`MAX_COUNT`] (a fraction is rounded, as exports average some); anything else → None.
pub fn parse_count(text: &str) -> Option<i64> {
    let v: f64 = text.trim().replace(',', "").parse().ok()?;
    (v.is_finite() && (0.0..=MAX_COUNT as f64).contains(&v.round())).then(|| v.round() as i64)
}

/// The largest amount one value may carry, in cents (9,999,999,999.99).
pub const MAX_CENTS: i64 = 10_i64.pow(MAX_AMOUNT_DIGITS as u32 + 2) - 1;

/// `12`, `12.5`, `12.34` → cents; negative, more than two decimals, more than
/// [`MAX_AMOUNT_DIGITS`] whole digits or junk → None.
pub fn parse_cents(text: &str) -> Option<i64> {
    let t = text.trim();
    let (whole, frac) = match t.split_once('.') {
        Some((w, f)) => (w, f),
        None => (t, ""),
    };
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // At most 9,999,999,999.99: sums of a million such amounts still fit the store's
    // DECIMAL(18,2) and an i64 of cents, so money never wraps.
    let whole = whole.trim_start_matches('0');
    if frac.len() > 2 || whole.len() > MAX_AMOUNT_DIGITS {
        return None;
    }
    let w: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let f: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    Some(w * 100 + f)
}

/// Three ASCII letters, as ISO 4217 codes are (`EUR`, `usd`).
pub fn is_currency_code(text: &str) -> bool {
    let t = text.trim();
    t.len() == 3 && t.bytes().all(|b| b.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents() {
        assert_eq!(parse_cents("12"), Some(1200));
        assert_eq!(parse_cents("12.5"), Some(1250));
        assert_eq!(parse_cents("0.07"), Some(7));
        assert_eq!(parse_cents(".5"), Some(50));
        assert_eq!(parse_cents("-3"), None);
        assert_eq!(parse_cents("1.234"), None);
        assert_eq!(parse_cents("abc"), None);
        assert_eq!(parse_cents(""), None);
        assert_eq!(parse_cents("9999999999.99"), Some(999_999_999_999));
        assert_eq!(parse_cents("0009999999999.99"), Some(999_999_999_999));
        assert_eq!(
            parse_cents("999999999999999.99"),
            None,
            "too large: a bad value"
        );
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("1,234"), Some(1234));
        assert_eq!(parse_count(" 17 "), Some(17));
        assert_eq!(parse_count("3.4"), Some(3));
        assert_eq!(parse_count("-1"), None);
        assert_eq!(parse_count("NaN"), None);
        assert_eq!(parse_count("inf"), None);
        assert_eq!(parse_count("1e13"), None, "past MAX_COUNT");
        assert_eq!(parse_count("999999999999"), Some(MAX_COUNT));
        assert_eq!(parse_count(""), None);
    }
}
