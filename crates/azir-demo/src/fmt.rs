//! Timestamp spellings used by the different exports, CSV quoting and small helpers.

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};

pub(crate) type Ts = DateTime<Utc>;

/// `2026-03-12T02:13:05.1234567Z` (ARM, diagnostic settings).
pub(crate) fn iso7(t: Ts) -> String {
    format!("{}.{:07}Z", t.format("%Y-%m-%dT%H:%M:%S"), t.timestamp_subsec_nanos() / 100)
}

/// `2026-03-12T02:13:05Z` (Graph `createdDateTime`).
pub(crate) fn iso_s(t: Ts) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `2026-03-12T02:13:05+00:00` (Application Gateway v2 `timeStamp`).
pub(crate) fn iso_offset(t: Ts) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// The Log Analytics portal's CSV export spelling: `3/12/2026, 2:13:05.123 AM`.
pub(crate) fn la_time(t: Ts) -> String {
    let (pm, h12) = t.hour12();
    format!(
        "{}/{}/{}, {}:{:02}:{:02}.{:03} {}",
        t.month(),
        t.day(),
        t.year(),
        h12,
        t.minute(),
        t.second(),
        t.timestamp_subsec_millis(),
        if pm { "PM" } else { "AM" }
    )
}

/// .NET ticks (100 ns since 0001-01-01), as used in Activity Log event ids.
pub(crate) fn ticks(t: Ts) -> i64 {
    621_355_968_000_000_000 + t.timestamp() * 10_000_000 + i64::from(t.timestamp_subsec_nanos() / 100)
}

#[cfg(test)]
pub(crate) fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Ts {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().expect("valid fixed time")
}

pub(crate) fn parse(s: &str) -> Ts {
    DateTime::parse_from_rfc3339(s).expect("valid fixed RFC 3339 time").with_timezone(&Utc)
}

pub(crate) fn ms(n: i64) -> Duration {
    Duration::milliseconds(n)
}

pub(crate) fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

pub(crate) fn mins(n: i64) -> Duration {
    Duration::minutes(n)
}

pub(crate) fn hours(n: i64) -> Duration {
    Duration::hours(n)
}

/// Start of the hour containing `t`.
pub(crate) fn hour_floor(t: Ts) -> Ts {
    Utc.timestamp_opt(t.timestamp() - t.timestamp().rem_euclid(3600), 0).single().expect("valid hour")
}

/// The `y=/m=/d=/h=/m=00` part of a diagnostic-setting blob path.
pub(crate) fn blob_hour(t: Ts) -> String {
    format!("y={:04}/m={:02}/d={:02}/h={:02}/m=00", t.year(), t.month(), t.day(), t.hour())
}

/// Quotes a CSV field when needed (RFC 4180).
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub(crate) fn csv_row(fields: &[String]) -> String {
    let mut line = fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        let t = utc(2026, 3, 12, 14, 3, 5) + ms(123);
        assert_eq!(iso7(t), "2026-03-12T14:03:05.1230000Z");
        assert_eq!(iso_s(t), "2026-03-12T14:03:05Z");
        assert_eq!(iso_offset(t), "2026-03-12T14:03:05+00:00");
        assert_eq!(la_time(t), "3/12/2026, 2:03:05.123 PM");
        assert_eq!(la_time(utc(2026, 3, 12, 0, 3, 5)), "3/12/2026, 12:03:05.000 AM");
        assert_eq!(blob_hour(t), "y=2026/m=03/d=12/h=14/m=00");
        assert_eq!(hour_floor(t), utc(2026, 3, 12, 14, 0, 0));
        // The seed article's event: 2018-01-29T20:42:31.3810679Z has ticks 636528553513810679.
        assert_eq!(ticks(parse("2018-01-29T20:42:31.3810679Z")), 636_528_553_513_810_679);
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}
