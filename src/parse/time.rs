//! Timestamps: Apache's `[17/May/2015:10:05:03 +0000]`, RFC 3339 and epoch numbers,
//! all to Unix seconds (UTC). Hand-written because this runs once per log line.

/// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// 1990-01-01T00:00:00Z: no access log keyrank reads is older.
pub const EARLIEST: i64 = 631_152_000;

/// Whether `ts` can be a real hit's time: from 1990 on, and at most a day after this
/// run's clock (read once per process).
pub fn plausible(ts: i64) -> bool {
    static LATEST: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let latest = *LATEST.get_or_init(|| chrono::Utc::now().timestamp() + 86_400);
    (EARLIEST..=latest).contains(&ts)
}

/// The UTC day (days since the epoch) of a Unix timestamp.
pub fn day_of(ts: i64) -> i32 {
    ts.div_euclid(86_400) as i32
}

/// `YYYY-MM-DD` for a day number.
pub fn format_day(day: i32) -> String {
    match chrono::DateTime::from_timestamp(day as i64 * 86_400, 0) {
        Some(dt) => dt.format("%Y-%m-%d").to_string(),
        None => format!("day{day}"),
    }
}

/// Parses `YYYY-MM-DD` into a day number.
pub fn parse_day(s: &str) -> Option<i32> {
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    Some((d - epoch).num_days() as i32)
}

fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() {
        return None;
    }
    let mut n = 0i64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (c - b'0') as i64;
    }
    Some(n)
}

fn month(b: &[u8]) -> Option<u32> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    if b.len() != 3 {
        return None;
    }
    let lower = [
        b[0].to_ascii_lowercase(),
        b[1].to_ascii_lowercase(),
        b[2].to_ascii_lowercase(),
    ];
    MONTHS
        .iter()
        .position(|m| **m == lower)
        .map(|i| i as u32 + 1)
}

/// Days in month `m` of year `y` (proleptic Gregorian).
fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

/// A real calendar date and clock time: no 31 February, no second 60 (logs write a
/// leap second as :59 or not at all; accepting :60 would date it in the next minute).
fn valid(y: i64, m: u32, d: u32, hh: i64, mm: i64, ss: i64) -> bool {
    y > 0
        && (1..=12).contains(&m)
        && d >= 1
        && d <= days_in_month(y, m)
        && hh < 24
        && mm < 60
        && ss < 60
}

/// `17/May/2015:10:05:03 +0000`, with or without the surrounding brackets.
pub fn parse_clf(b: &[u8]) -> Option<i64> {
    let b = b.strip_prefix(b"[").unwrap_or(b);
    let b = b.strip_suffix(b"]").unwrap_or(b);
    if b.len() < 20 {
        return None;
    }
    let d = digits(&b[0..2])? as u32;
    if b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[14] != b':' || b[17] != b':' {
        return None;
    }
    let m = month(&b[3..6])?;
    let y = digits(&b[7..11])?;
    let hh = digits(&b[12..14])?;
    let mm = digits(&b[15..17])?;
    let ss = digits(&b[18..20])?;
    if !valid(y, m, d, hh, mm, ss) {
        return None;
    }
    let offset = match b.get(20..) {
        None | Some([]) => 0,
        Some(rest) => parse_offset(rest.trim_ascii())?,
    };
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss - offset)
}

/// `+0200`, `-05:30`, `Z`: seconds east of UTC.
fn parse_offset(b: &[u8]) -> Option<i64> {
    match b {
        b"Z" | b"z" | b"" => Some(0),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (hh, mm) = match rest {
                [a, b, c, d] | [a, b, b':', c, d] => ([*a, *b], [*c, *d]),
                _ => return None,
            };
            let h = digits(&hh)?;
            let m = digits(&mm)?;
            // Real offsets run from -12:00 to +14:00; a little slack, no +9959.
            if h > 18 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            Some(if *sign == b'-' { -secs } else { secs })
        }
        _ => None,
    }
}

/// RFC 3339 / ISO 8601: `2015-05-17T10:05:03Z`, `2015-05-17 10:05:03.123+02:00`.
/// A time without an offset is taken as UTC.
pub fn parse_rfc3339(b: &[u8]) -> Option<i64> {
    let b = b.trim_ascii();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if b[10] != b'T' && b[10] != b't' && b[10] != b' ' {
        return None;
    }
    let y = digits(&b[0..4])?;
    let m = digits(&b[5..7])? as u32;
    let d = digits(&b[8..10])? as u32;
    let hh = digits(&b[11..13])?;
    let mm = digits(&b[14..16])?;
    let ss = digits(&b[17..19])?;
    if !valid(y, m, d, hh, mm, ss) {
        return None;
    }
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = parse_offset(rest)?;
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss - offset)
}

/// Epoch seconds, milliseconds, microseconds or nanoseconds, told apart by size: any
/// plausible time (1990 to now) in one unit is out of the others' ranges.
pub fn parse_epoch(v: f64) -> Option<i64> {
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let secs = match v {
        v if v < 1e11 => v,
        v if v < 1e14 => v / 1e3,
        v if v < 1e17 => v / 1e6,
        // Far past any real time in nanoseconds (1e300): not a time, never a saturated one.
        v if v < 1e20 => v / 1e9,
        _ => return None,
    };
    Some(secs.floor() as i64)
}

/// Any of the accepted textual forms: CLF, RFC 3339, or digits (epoch s/ms/µs/ns).
pub fn parse_any(b: &[u8]) -> Option<i64> {
    let b = b.trim_ascii();
    if b.first().is_some_and(|c| c.is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_digit() || *c == b'.')
    {
        return std::str::from_utf8(b)
            .ok()?
            .parse::<f64>()
            .ok()
            .and_then(parse_epoch);
    }
    parse_rfc3339(b).or_else(|| parse_clf(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_times() {
        let t = parse_clf(b"[17/May/2015:10:05:03 +0000]").unwrap();
        assert_eq!(t, 1431857103);
        assert_eq!(parse_clf(b"17/May/2015:12:05:03 +0200"), Some(t));
        assert_eq!(parse_clf(b"17/may/2015:05:05:03 -0500"), Some(t));
        assert_eq!(parse_clf(b"17/Mai/2015:10:05:03 +0000"), None);
        assert_eq!(parse_clf(b"17/May/2015:25:05:03 +0000"), None);
        assert_eq!(parse_clf(b"garbage"), None);
    }

    #[test]
    fn rfc3339_and_epoch() {
        assert_eq!(parse_rfc3339(b"2015-05-17T10:05:03Z"), Some(1431857103));
        assert_eq!(
            parse_rfc3339(b"2015-05-17 12:05:03.5+02:00"),
            Some(1431857103)
        );
        assert_eq!(parse_rfc3339(b"2015-05-17T10:05:03"), Some(1431857103));
        assert_eq!(parse_any(b"1431857103"), Some(1431857103));
        assert_eq!(parse_any(b"1431857103123"), Some(1431857103));
        assert_eq!(parse_any(b"2015-13-01T00:00:00Z"), None);
        // No 31 February, no second 60, no offset past 18 hours.
        assert_eq!(parse_rfc3339(b"2024-02-31T10:00:00Z"), None);
        assert_eq!(parse_rfc3339(b"2023-02-29T10:00:00Z"), None);
        assert!(parse_rfc3339(b"2024-02-29T10:00:00Z").is_some());
        assert_eq!(parse_rfc3339(b"2024-03-05T10:00:60Z"), None);
        assert_eq!(parse_clf(b"31/Feb/2024:10:00:00 +0000"), None);
        assert_eq!(parse_clf(b"05/Mar/2024:10:00:00 +9959"), None);
        assert_eq!(parse_clf(b"05/Mar/2024:10:00:00 +0560"), None);
        assert!(parse_clf(b"05/Mar/2024:10:00:00 +1400").is_some());
        // One instant in seconds, milliseconds, microseconds and nanoseconds; absurd
        // epochs are no time at all, never a saturated or wrapped day.
        for v in [
            1_709_550_000.0,
            1.70955e12,
            1.70955e15,
            1.70955e18,
            1_709_550_000.9,
        ] {
            assert_eq!(parse_epoch(v), Some(1_709_550_000), "{v}");
        }
        assert_eq!(parse_any(b"1709550000000000"), Some(1_709_550_000));
        assert_eq!(parse_epoch(1e300), None);
        assert_eq!(parse_epoch(1e20), None);
        assert_eq!(parse_epoch(f64::NAN), None);
        assert_eq!(parse_epoch(-1.0), None);
        assert!(plausible(1_709_550_000));
        assert!(!plausible(EARLIEST - 1));
        assert!(!plausible(chrono::Utc::now().timestamp() + 2 * 86_400));
    }

    #[test]
    fn days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(day_of(1431857103), 16572);
        assert_eq!(format_day(16572), "2015-05-17");
        assert_eq!(parse_day("2015-05-17"), Some(16572));
        assert_eq!(day_of(-1), -1);
    }
}
