//! Timestamps as Azure writes them, into microseconds since the Unix epoch (UTC).
//!
//! Azure spells time many ways across exports of the same log: ISO-8601 with 0–7 fractional
//! digits and `Z`, an offset (`-05:00`, `+0000`) or nothing (UTC assumed, as Log Analytics CSV
//! does under a `[UTC]` header); a space instead of `T`; the portal's US form
//! `3/9/2026, 2:05:01.123 PM`; epoch seconds or milliseconds in flow tuples. A hand-written
//! parser handles the common ISO shape without allocation (it runs once per record); the rest
//! falls back to chrono.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

/// Parses a timestamp string into microseconds since the epoch, UTC. `None` if unreadable.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(v) = parse_iso(s.as_bytes()) {
        return Some(v);
    }
    // Identity Protection writes single-digit hours (`2022-09-09T9:59:27.958Z`).
    let b = s.as_bytes();
    if b.len() > 12 && (b[10] == b'T' || b[10] == b' ') && b[11].is_ascii_digit() && b[12] == b':' {
        let fixed = format!("{}0{}", &s[..11], &s[11..]);
        if let Some(v) = parse_iso(fixed.as_bytes()) {
            return Some(v);
        }
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok().and_then(epoch_auto);
    }
    // .NET JSON dates from Windows PowerShell's ConvertTo-Json: `/Date(1517258551381)/`,
    // optionally with an offset (`/Date(1517258551381+0100)/`) that does not move the instant.
    if let Some(inner) = s.strip_prefix("/Date(").and_then(|r| r.strip_suffix(")/")) {
        let end = inner.char_indices().skip(1).find(|(_, c)| *c == '+' || *c == '-').map_or(inner.len(), |(i, _)| i);
        return inner[..end].parse::<i64>().ok().and_then(|ms| ms.checked_mul(1000));
    }
    parse_fallback(s)
}

/// Interprets an epoch number as seconds, milliseconds or microseconds by magnitude
/// (VNet flow tuples are milliseconds in Microsoft's samples, NSG tuples seconds).
pub fn epoch_auto(v: i64) -> Option<i64> {
    if v < 0 {
        return None;
    }
    if v < 100_000_000_000 {
        v.checked_mul(1_000_000)
    } else if v < 100_000_000_000_000 {
        v.checked_mul(1_000)
    } else {
        Some(v)
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let part = b.get(at..at + n)?;
    let mut v = 0i64;
    for &c in part {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian), after H. Hinnant.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// `YYYY-MM-DD[T ]HH:MM[:SS[.f{1,9}]][Z|±HH[:]MM]` and plain `YYYY-MM-DD`.
fn parse_iso(b: &[u8]) -> Option<i64> {
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    if b.len() == 10 {
        return Some(days * 86_400_000_000);
    }
    if b[10] != b'T' && b[10] != b't' && b[10] != b' ' {
        return None;
    }
    let (h, mi) = (digits(b, 11, 2)?, digits(b, 14, 2)?);
    if *b.get(13)? != b':' || h > 23 || mi > 59 {
        return None;
    }
    let mut i = 16;
    let mut sec = 0;
    let mut micros = 0i64;
    if b.get(i) == Some(&b':') {
        sec = digits(b, 17, 2)?;
        if sec > 60 {
            return None;
        }
        i = 19;
        if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
            i += 1;
            let start = i;
            let mut scale = 100_000i64;
            while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
                micros += i64::from(c - b'0') * scale;
                scale /= 10;
                i += 1;
            }
            if i == start {
                return None;
            }
        }
    }
    let offset_secs = match b.get(i) {
        None => 0,
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, i + 1, 2)?;
            let om = match b.len() - (i + 3) {
                0 => 0,
                2 => digits(b, i + 3, 2)?,
                3 if b[i + 3] == b':' => digits(b, i + 4, 2)?,
                _ => return None,
            };
            let off = oh * 3600 + om * 60;
            if sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_secs;
    Some(secs * 1_000_000 + micros)
}

fn parse_fallback(s: &str) -> Option<i64> {
    if let Ok(dt) = DateTime::parse_from_rfc2822(s) {
        return Some(dt.timestamp_micros());
    }
    // Portal and Log Analytics CSV exports: `3/9/2026, 2:05:01.123 PM`, with or without comma.
    let cleaned = s.replace(", ", " ");
    for fmt in [
        "%m/%d/%Y %I:%M:%S%.f %p",
        "%m/%d/%Y %I:%M:%S %p",
        "%m/%d/%Y %H:%M:%S%.f",
        "%m/%d/%Y %H:%M",
        "%Y/%m/%d %H:%M:%S%.f",
        "%d.%m.%Y %H:%M:%S",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(&cleaned, fmt) {
            return Some(Utc.from_utc_datetime(&n).timestamp_micros());
        }
    }
    None
}

/// Formats microseconds since the epoch as RFC 3339 UTC with microseconds: `2026-03-09T14:05:01.123456Z`.
pub fn format_micros(us: i64) -> String {
    match DateTime::<Utc>::from_timestamp_micros(us) {
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        None => format!("invalid-time({us})"),
    }
}

/// The UTC day (`YYYY-MM-DD`) of a timestamp, used to partition tables.
pub fn day_of(us: i64) -> String {
    match DateTime::<Utc>::from_timestamp_micros(us) {
        Some(dt) => dt.format("%Y-%m-%d").to_string(),
        None => "1970-01-01".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: Option<&str>) {
        let got = parse_time(input).map(format_micros);
        assert_eq!(got.as_deref(), expect, "input {input:?}");
    }

    #[test]
    fn iso_shapes() {
        check("2019-10-18T09:45:48.0729893Z", Some("2019-10-18T09:45:48.072989Z"));
        check("2019-10-18T04:45:48.0729893-05:00", Some("2019-10-18T09:45:48.072989Z"));
        check("2021-10-14T22:17:11+00:00", Some("2021-10-14T22:17:11.000000Z"));
        check("2021-10-14T22:17:11+0130", Some("2021-10-14T20:47:11.000000Z"));
        check("2021-10-14 22:17:11.5", Some("2021-10-14T22:17:11.500000Z"));
        check("2021-10-14T22:17Z", Some("2021-10-14T22:17:00.000000Z"));
        check("2024-02-29", Some("2024-02-29T00:00:00.000000Z"));
        check("  2018-11-13T12:00:35.3899262Z ", Some("2018-11-13T12:00:35.389926Z"));
    }

    #[test]
    fn epochs_by_magnitude() {
        check("1542110379", Some("2018-11-13T11:59:39.000000Z"));
        check("1663146003599", Some("2022-09-14T09:00:03.599000Z"));
        assert_eq!(epoch_auto(-1), None);
    }

    #[test]
    fn dotnet_json_dates() {
        check("/Date(1517258551381)/", Some("2018-01-29T20:42:31.381000Z"));
        check("/Date(1517258551381+0100)/", Some("2018-01-29T20:42:31.381000Z"));
        check("/Date(-1000)/", Some("1969-12-31T23:59:59.000000Z"));
        check("/Date(abc)/", None);
    }

    #[test]
    fn portal_us_form() {
        check("3/9/2026, 2:05:01.123 PM", Some("2026-03-09T14:05:01.123000Z"));
        check("3/9/2026 2:05:01 AM", Some("2026-03-09T02:05:01.000000Z"));
    }

    #[test]
    fn rejects_garbage() {
        check("", None);
        check("not a time", None);
        check("2019-13-01T00:00:00Z", None);
        check("2019-02-30T00:00:00Z", None);
        check("2019-02-03T25:00:00Z", None);
        check("2019-02-03T10:00:00Zjunk", None);
        check("2019-02-03T10:00:00.Z", None);
    }

    #[test]
    fn day_partition() {
        assert_eq!(day_of(parse_time("2026-03-09T23:59:59Z").unwrap()), "2026-03-09");
    }
}
