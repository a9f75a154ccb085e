//! Value matchers: a Sigma value plus its modifiers, compiled once into a form that matches a
//! [`Scalar`] without allocating.

use crate::fields::Scalar;
use base64::Engine as _;
use ipnet::IpNet;
use regex::Regex;
use std::collections::HashMap;
use std::net::IpAddr;

/// A compiled match on one value.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Whole value equal (`cased`: byte for byte; otherwise the pattern is lower-cased ASCII).
    Exact { pat: Box<str>, cased: bool },
    /// Value contains the pattern.
    Contains { pat: Box<str>, cased: bool, finder: Box<memchr::memmem::Finder<'static>> },
    /// Value starts with the pattern.
    StartsWith { pat: Box<str>, cased: bool },
    /// Value ends with the pattern.
    EndsWith { pat: Box<str>, cased: bool },
    /// Wildcards, non-ASCII case folding and `re`.
    Regex(Regex),
    /// Any non-null value (`*`).
    Any,
    /// Null, empty, or missing (Sigma `null`, and `''`, which Azure exports use for "none").
    Null,
    /// IP address in a CIDR network.
    Cidr(IpNet),
    /// Numeric comparison.
    Num(NumOp, f64),
    /// The value is a port specification — `*`, `Any`, a port, a range `a-b`, or a
    /// comma-separated list of those (as NSG rules and firewalls write them) — that includes
    /// this port (azir's `portrange` modifier).
    PortIn(u16),
    /// A part of the date the value holds (Sigma 2.1's time modifiers `minute`, `hour`, `day`,
    /// `week`, `month`, `year`), compared with the number: equal, or by a numeric modifier.
    TimePart(TimePart, Option<NumOp>, f64),
}

/// A part of a date ([`Matcher::TimePart`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePart {
    /// 0–59.
    Minute,
    /// 0–23.
    Hour,
    /// Day of the month, 1–31.
    Day,
    /// ISO 8601 week of the year, 1–53.
    Week,
    /// 1–12.
    Month,
    /// The year.
    Year,
}

impl TimePart {
    /// The part named by a Sigma modifier.
    pub fn by_name(name: &str) -> Option<TimePart> {
        Some(match name {
            "minute" => TimePart::Minute,
            "hour" => TimePart::Hour,
            "day" => TimePart::Day,
            "week" => TimePart::Week,
            "month" => TimePart::Month,
            "year" => TimePart::Year,
            _ => return None,
        })
    }

    /// This part of the time `text` (any spelling [`azir_model::time::parse_time`] reads, in
    /// UTC, where Azure logs keep time; epoch numbers from 9 digits on); `None` when the text is
    /// not a time.
    pub fn of(self, text: &str) -> Option<i64> {
        // A short number is a count or a code, not epoch seconds.
        let t = text.trim();
        if t.len() < 9 && t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let us = azir_model::time::parse_time(t)?;
        let secs = us.div_euclid(1_000_000);
        let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        Some(match self {
            TimePart::Minute => sod / 60 % 60,
            TimePart::Hour => sod / 3600,
            TimePart::Day => d,
            TimePart::Month => m,
            TimePart::Year => y,
            TimePart::Week => iso_week(days, y),
        })
    }
}

/// The civil date of a day number (days since 1970-01-01), after H. Hinnant.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Day number of January 1st of `y`.
fn jan1(y: i64) -> i64 {
    // civil_from_days inverted for (y, 1, 1): count from the epoch by whole years.
    let y1 = y - 1;
    365 * (y - 1970) + (y1.div_euclid(4) - 1969 / 4) - (y1.div_euclid(100) - 1969 / 100)
        + (y1.div_euclid(400) - 1969 / 400)
}

/// ISO 8601 week number of day `days` (in year `y`): weeks start on Monday, week 1 holds the
/// year's first Thursday.
fn iso_week(days: i64, y: i64) -> i64 {
    let weekday = (days + 3).rem_euclid(7); // Monday = 0 (1970-01-01 was a Thursday)
    let thursday = days - weekday + 3;
    let ty = if thursday < jan1(y) {
        y - 1
    } else if thursday >= jan1(y + 1) {
        y + 1
    } else {
        y
    };
    (thursday - jan1(ty)) / 7 + 1
}

/// Whether the port specification `spec` (`*`, `Any`, `22`, `20-30`, `22,3389,1000-2000`)
/// includes `port`. Anything unreadable includes nothing.
pub fn port_spec_covers(spec: &str, port: u16) -> bool {
    spec.split(',').map(str::trim).any(|piece| {
        if piece == "*" || piece.eq_ignore_ascii_case("any") {
            return true;
        }
        let (a, b) = piece.split_once('-').unwrap_or((piece, piece));
        match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
            (Ok(a), Ok(b)) => a <= port && port <= b,
            _ => false,
        }
    })
}

/// Numeric comparison of `gt`/`gte`/`lt`/`lte`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumOp {
    /// `>`.
    Gt,
    /// `>=`.
    Gte,
    /// `<`.
    Lt,
    /// `<=`.
    Lte,
}

impl NumOp {
    /// Applies the comparison.
    pub fn test(self, a: f64, b: f64) -> bool {
        match self {
            NumOp::Gt => a > b,
            NumOp::Gte => a >= b,
            NumOp::Lt => a < b,
            NumOp::Lte => a <= b,
        }
    }
}

fn eq_ci(hay: &str, pat: &str) -> bool {
    hay.len() == pat.len() && hay.as_bytes().eq_ignore_ascii_case(pat.as_bytes())
}

fn contains_ci(hay: &[u8], pat: &[u8]) -> bool {
    let Some(&first) = pat.first() else { return true };
    if hay.len() < pat.len() {
        return false;
    }
    let last_start = hay.len() - pat.len();
    let (lo, up) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    let mut at = 0;
    while at <= last_start {
        let Some(i) = memchr::memchr2(lo, up, &hay[at..=last_start]) else { return false };
        let s = at + i;
        if hay[s..s + pat.len()].eq_ignore_ascii_case(pat) {
            return true;
        }
        at = s + 1;
    }
    false
}

impl Matcher {
    /// True when the scalar matches.
    #[inline]
    pub fn is_match(&self, v: Scalar<'_>) -> bool {
        match self {
            Matcher::Null => match v {
                Scalar::Null => true,
                Scalar::Str(s) => s.is_empty(),
                _ => false,
            },
            Matcher::Num(op, n) => v.as_f64().is_some_and(|a| op.test(a, *n)),
            _ => v.with_text(|t| t.is_some_and(|t| self.match_text(t))),
        }
    }

    /// True when the text matches (non-null matchers).
    pub fn match_text(&self, t: &str) -> bool {
        match self {
            Matcher::Exact { pat, cased: true } => t == &**pat,
            Matcher::Exact { pat, cased: false } => eq_ci(t, pat),
            Matcher::Contains { finder, cased: true, .. } => finder.find(t.as_bytes()).is_some(),
            Matcher::Contains { pat, cased: false, .. } => contains_ci(t.as_bytes(), pat.as_bytes()),
            Matcher::StartsWith { pat, cased } => {
                t.len() >= pat.len()
                    && if *cased {
                        t.as_bytes().starts_with(pat.as_bytes())
                    } else {
                        t.as_bytes()[..pat.len()].eq_ignore_ascii_case(pat.as_bytes())
                    }
            }
            Matcher::EndsWith { pat, cased } => {
                t.len() >= pat.len()
                    && if *cased {
                        t.as_bytes().ends_with(pat.as_bytes())
                    } else {
                        t.as_bytes()[t.len() - pat.len()..].eq_ignore_ascii_case(pat.as_bytes())
                    }
            }
            Matcher::Regex(r) => r.is_match(t),
            Matcher::Any => true,
            Matcher::Null => t.is_empty(),
            Matcher::Cidr(net) => t.trim().parse::<IpAddr>().is_ok_and(|ip| net.contains(&ip)),
            Matcher::Num(op, n) => t.trim().parse::<f64>().is_ok_and(|a| op.test(a, *n)),
            Matcher::PortIn(p) => port_spec_covers(t, *p),
            Matcher::TimePart(part, op, n) => part.of(t).is_some_and(|v| match op {
                Some(op) => op.test(v as f64, *n),
                None => v as f64 == *n,
            }),
        }
    }
}

/// How a string value is compared, after its transformations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// Whole value.
    Equals,
    /// Substring.
    Contains,
    /// Prefix.
    StartsWith,
    /// Suffix.
    EndsWith,
}

/// One piece of a Sigma string: literal text or a wildcard.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Lit(String),
    Star,
    One,
}

/// Splits a Sigma string into literals and wildcards (`*`, `?`; `\*`, `\?`, `\\` escape them; a
/// backslash before anything else is itself).
fn pieces(s: &str) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    let mut lit = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    lit.push(n);
                    it.next();
                }
                _ => lit.push('\\'),
            },
            '*' | '?' => {
                if !lit.is_empty() {
                    out.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                out.push(if c == '*' { Piece::Star } else { Piece::One });
            }
            _ => lit.push(c),
        }
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    out
}

/// Builds the matcher for one string under `compare`, honouring wildcards unless `literal`.
pub fn string_matcher(s: &str, compare: Compare, cased: bool, literal: bool) -> Result<Matcher, String> {
    let mut ps = if literal { vec![Piece::Lit(s.to_string())] } else { pieces(s) };
    ps.retain(|p| !matches!(p, Piece::Lit(l) if l.is_empty()));
    if matches!(compare, Compare::Contains | Compare::EndsWith) {
        ps.insert(0, Piece::Star);
    }
    if matches!(compare, Compare::Contains | Compare::StartsWith) {
        ps.push(Piece::Star);
    }
    ps.dedup_by(|a, b| *a == Piece::Star && *b == Piece::Star);
    let ascii_ok = cased || s.is_ascii();
    let fold = |l: &str| -> Box<str> {
        if cased {
            l.into()
        } else {
            l.to_ascii_lowercase().into()
        }
    };
    let simple = match ps.as_slice() {
        [] => Some(Matcher::Exact { pat: "".into(), cased: true }),
        [Piece::Star] => Some(Matcher::Any),
        [Piece::Lit(l)] if ascii_ok => Some(Matcher::Exact { pat: fold(l), cased }),
        [Piece::Star, Piece::Lit(l), Piece::Star] if ascii_ok => {
            let pat = fold(l);
            let finder = Box::new(memchr::memmem::Finder::new(pat.as_bytes()).into_owned());
            Some(Matcher::Contains { pat, cased, finder })
        }
        [Piece::Lit(l), Piece::Star] if ascii_ok => Some(Matcher::StartsWith { pat: fold(l), cased }),
        [Piece::Star, Piece::Lit(l)] if ascii_ok => Some(Matcher::EndsWith { pat: fold(l), cased }),
        _ => None,
    };
    if let Some(m) = simple {
        return Ok(m);
    }
    let mut re = String::from(if cased { "(?s)^" } else { "(?is)^" });
    for p in &ps {
        match p {
            Piece::Lit(l) => re.push_str(&regex::escape(l)),
            Piece::Star => re.push_str(".*"),
            Piece::One => re.push('.'),
        }
    }
    re.push('$');
    Regex::new(&re).map(Matcher::Regex).map_err(|e| format!("wildcard pattern {s:?}: {e}"))
}

/// Value transformations applied to the pattern before comparison, in rule order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// `base64`.
    Base64,
    /// `base64offset`.
    Base64Offset,
    /// `utf16le` / `wide`.
    Utf16Le,
    /// `utf16be`.
    Utf16Be,
    /// `utf16` (little-endian with BOM).
    Utf16,
    /// `windash`.
    Windash,
}

/// Applies transformations to a pattern, giving every variant (base64offset gives three,
/// windash gives one per dash variant). Wildcards survive only when no encoding was applied.
pub fn transform(s: &str, ts: &[Transform]) -> Result<(Vec<String>, bool), String> {
    let mut cur: Vec<Vec<u8>> = vec![s.as_bytes().to_vec()];
    let mut encoded = false;
    for t in ts {
        let mut next = Vec::new();
        for v in &cur {
            match t {
                Transform::Base64 => {
                    next.push(base64::engine::general_purpose::STANDARD.encode(v).into_bytes());
                    encoded = true;
                }
                Transform::Base64Offset => {
                    const START: [usize; 3] = [0, 2, 3];
                    const END: [usize; 3] = [0, 3, 2];
                    for i in 0..3 {
                        let mut b = vec![b' '; i];
                        b.extend_from_slice(v);
                        let enc = base64::engine::general_purpose::STANDARD.encode(&b);
                        let cut = END[(v.len() + i) % 3];
                        let end = enc.len().saturating_sub(cut);
                        let start = START[i].min(end);
                        next.push(enc.as_bytes()[start..end].to_vec());
                    }
                    encoded = true;
                }
                Transform::Utf16Le | Transform::Utf16Be | Transform::Utf16 => {
                    let text = String::from_utf8_lossy(v);
                    let mut b = Vec::new();
                    if *t == Transform::Utf16 {
                        b.extend_from_slice(&[0xFF, 0xFE]);
                    }
                    for u in text.encode_utf16() {
                        let x = if *t == Transform::Utf16Be { u.to_be_bytes() } else { u.to_le_bytes() };
                        b.extend_from_slice(&x);
                    }
                    next.push(b);
                    encoded = true;
                }
                Transform::Windash => {
                    let text = String::from_utf8_lossy(v).into_owned();
                    for variant in windash(&text) {
                        next.push(variant.into_bytes());
                    }
                }
            }
        }
        if next.len() > 4096 {
            return Err(format!("value {s:?} expands to more than 4096 variants"));
        }
        cur = next;
    }
    // UTF-16 without base64 gives bytes that are not text; they are matched as Latin-1 text.
    let out = cur
        .into_iter()
        .map(|b| String::from_utf8(b).unwrap_or_else(|e| e.into_bytes().iter().map(|&c| char::from(c)).collect()))
        .collect();
    Ok((out, encoded))
}

/// Every variant of `s` where each dash or slash that starts a word is one of `-`, `/`, en
/// dash, em dash or horizontal bar (as Windows command lines accept).
fn windash(s: &str) -> Vec<String> {
    const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
    let chars: Vec<char> = s.chars().collect();
    let spots: Vec<usize> = (0..chars.len())
        .filter(|&i| matches!(chars[i], '-' | '/') && (i == 0 || chars[i - 1].is_whitespace()))
        .collect();
    let mut out = vec![chars.clone()];
    for &i in spots.iter().take(4) {
        let mut next = Vec::new();
        for v in &out {
            for d in DASHES {
                let mut w = v.clone();
                w[i] = d;
                next.push(w);
            }
        }
        out = next;
    }
    out.into_iter().map(|v| v.into_iter().collect()).collect()
}

/// Replaces `%name%` placeholders with every configured value (`expand`).
pub fn expand(s: &str, placeholders: &HashMap<String, Vec<String>>) -> Result<Vec<String>, String> {
    let mut out = vec![String::new()];
    let mut rest = s;
    while let Some(a) = rest.find('%') {
        let Some(len) = rest[a + 1..].find('%') else { break };
        let name = &rest[a + 1..a + 1 + len];
        let vals = placeholders.get(name).ok_or_else(|| format!("placeholder %{name}% has no configured values"))?;
        let prefix = &rest[..a];
        out = out.iter().flat_map(|o| vals.iter().map(move |v| format!("{o}{prefix}{v}"))).collect();
        rest = &rest[a + len + 2..];
    }
    for o in &mut out {
        o.push_str(rest);
    }
    Ok(out)
}

/// Compiles `re` with flags `i`, `m`, `s`.
pub fn regex_matcher(pat: &str, i: bool, m: bool, s: bool) -> Result<Matcher, String> {
    regex::RegexBuilder::new(pat)
        .case_insensitive(i)
        .multi_line(m)
        .dot_matches_new_line(s)
        .size_limit(1 << 22)
        .build()
        .map(Matcher::Regex)
        .map_err(|e| format!("regex {pat:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_parts_of_azure_timestamps() {
        let parts = |t: &str| {
            [TimePart::Minute, TimePart::Hour, TimePart::Day, TimePart::Week, TimePart::Month, TimePart::Year]
                .map(|p| p.of(t))
        };
        assert_eq!(parts("2026-03-12T03:52:37.1234567Z"), [52, 3, 12, 11, 3, 2026].map(Some));
        // Offsets are converted to UTC; the portal's US form and epoch seconds are read too.
        assert_eq!(TimePart::Hour.of("2000-02-29T23:59:59+02:00"), Some(21));
        assert_eq!(TimePart::Day.of("2000-02-29T23:59:59+02:00"), Some(29));
        assert_eq!(TimePart::Hour.of("3/9/2026, 2:05:01.123 PM"), Some(14));
        assert_eq!(TimePart::Year.of("1773287557"), Some(2026));
        // ISO weeks at year ends: 2021-01-03 (a Sunday) is week 53 of 2020, 2024-12-30 (a
        // Monday) week 1 of 2025, 2026-01-01 (a Thursday) week 1.
        assert_eq!(TimePart::Week.of("2021-01-03T12:00:00Z"), Some(53));
        assert_eq!(TimePart::Week.of("2024-12-30T00:00:00Z"), Some(1));
        assert_eq!(TimePart::Week.of("2026-01-01T00:00:00Z"), Some(1));
        assert_eq!(TimePart::Week.of("2025-12-28T23:59:59Z"), Some(52));
        assert_eq!(TimePart::Month.of("1969-12-31T23:00:00Z"), Some(12));
        assert_eq!(TimePart::Hour.of("not a time"), None);
        let night = Matcher::TimePart(TimePart::Hour, Some(NumOp::Lt), 6.0);
        assert!(night.match_text("2026-03-12T03:52:37Z"));
        assert!(!night.match_text("2026-03-12T13:52:37Z"));
        assert!(!night.match_text("03"));
        assert!(Matcher::TimePart(TimePart::Month, None, 3.0).match_text("2026-03-12T03:52:37Z"));
    }

    fn m(s: &str, c: Compare) -> Matcher {
        string_matcher(s, c, false, false).unwrap()
    }

    #[test]
    fn default_matching_is_case_insensitive_and_cased_is_not() {
        assert!(m("Microsoft.Compute/Write", Compare::Equals).match_text("microsoft.compute/write"));
        assert!(!m("Microsoft.Compute/Write", Compare::Equals).match_text("microsoft.compute/write2"));
        let cased = string_matcher("Abc", Compare::Equals, true, false).unwrap();
        assert!(cased.match_text("Abc") && !cased.match_text("abc"));
        let cc = string_matcher("Abc", Compare::Contains, true, false).unwrap();
        assert!(cc.match_text("xAbcx") && !cc.match_text("xabcx"));
    }

    #[test]
    fn contains_startswith_endswith() {
        assert!(m("RunCommand", Compare::Contains).match_text("virtualMachines/runCommand/action"));
        assert!(!m("RunCommand", Compare::Contains).match_text("virtualMachines/run/action"));
        assert!(m("micro", Compare::StartsWith).match_text("Microsoft"));
        assert!(!m("soft", Compare::StartsWith).match_text("Microsoft"));
        assert!(m("/ACTION", Compare::EndsWith).match_text("a/b/action"));
        assert!(!m("/ACTION", Compare::EndsWith).match_text("a/b/action/x"));
        assert!(!m("long pattern", Compare::Contains).match_text("short"));
    }

    #[test]
    fn wildcards_and_escapes() {
        assert!(m("a*c", Compare::Equals).match_text("ABBBC"));
        assert!(!m("a*c", Compare::Equals).match_text("abd"));
        assert!(m("a?c", Compare::Equals).match_text("abc"));
        assert!(!m("a?c", Compare::Equals).match_text("abbc"));
        assert!(m(r"a\*c", Compare::Equals).match_text("a*c"));
        assert!(!m(r"a\*c", Compare::Equals).match_text("abc"));
        assert!(m(r"C:\Windows\\", Compare::Equals).match_text(r"c:\windows\"));
        assert!(m("*", Compare::Equals).match_text(""));
        // Non-ASCII folds through the regex path.
        assert!(m("ÄRGER", Compare::Contains).match_text("großer ärger"));
    }

    #[test]
    fn regex_flags() {
        assert!(!regex_matcher("^abc$", false, false, false).unwrap().match_text("ABC"));
        assert!(regex_matcher("^abc$", true, false, false).unwrap().match_text("ABC"));
        assert!(regex_matcher("^b$", false, true, false).unwrap().match_text("a\nb"));
        assert!(!regex_matcher("^b$", false, false, false).unwrap().match_text("a\nb"));
        assert!(regex_matcher("a.b", false, false, true).unwrap().match_text("a\nb"));
        assert!(!regex_matcher("a.b", false, false, false).unwrap().match_text("a\nb"));
    }

    #[test]
    fn cidr_numbers_and_null() {
        for (spec, port, want) in [
            ("22", 22, true),
            ("*", 3389, true),
            ("Any", 1, true),
            ("20-30", 22, true),
            ("20-30", 31, false),
            ("0-65535", 5986, true),
            ("80, 443, 3000-4000", 3389, true),
            ("80,443", 22, false),
            ("22-20", 22, false),
            ("", 22, false),
            ("ssh", 22, false),
            ("22-", 22, false),
        ] {
            assert_eq!(Matcher::PortIn(port).match_text(spec), want, "{spec:?} {port}");
        }
        let c = Matcher::Cidr("10.0.0.0/8".parse().unwrap());
        assert!(c.match_text("10.1.2.3") && !c.match_text("11.0.0.1") && !c.match_text("not an ip"));
        let v6 = Matcher::Cidr("2001:db8::/32".parse().unwrap());
        assert!(v6.match_text("2001:db8::1") && !v6.match_text("10.1.2.3"));
        let n: serde_json::Number = 50.into();
        assert!(Matcher::Num(NumOp::Gt, 10.0).is_match(Scalar::Num(&n)));
        assert!(Matcher::Num(NumOp::Lte, 50.0).is_match(Scalar::Str("50")));
        assert!(!Matcher::Num(NumOp::Lt, 50.0).is_match(Scalar::Str("50")));
        assert!(!Matcher::Num(NumOp::Gte, 50.0).is_match(Scalar::Str("n/a")));
        assert!(Matcher::Null.is_match(Scalar::Null) && Matcher::Null.is_match(Scalar::Str("")));
        assert!(!Matcher::Null.is_match(Scalar::Str("x")));
        assert!(m("50053", Compare::Equals).is_match(Scalar::Num(&50053.into())));
        assert!(m("true", Compare::Equals).is_match(Scalar::Bool(true)));
    }

    #[test]
    fn base64_base64offset_utf16_windash_expand() {
        let (v, enc) = transform("ping", &[Transform::Base64]).unwrap();
        assert_eq!((v, enc), (vec!["cGluZw==".to_string()], true));
        // Every offset variant is a substring of the encoding of the value at that offset.
        let (v, _) = transform("http", &[Transform::Base64Offset]).unwrap();
        assert_eq!(v, ["aHR0c", "h0dH", "odHRw"]);
        for (i, variant) in v.iter().enumerate() {
            let mut s = "x".repeat(i);
            s.push_str("http://e");
            let full = base64::engine::general_purpose::STANDARD.encode(s);
            assert!(full.contains(variant.as_str()), "{full} {variant}");
        }
        let (v, _) = transform("ab", &[Transform::Utf16Le, Transform::Base64]).unwrap();
        assert_eq!(v, ["YQBiAA=="]);
        let (v, _) = transform("ab", &[Transform::Utf16Be, Transform::Base64]).unwrap();
        assert_eq!(v, ["AGEAYg=="]);
        let (v, _) = transform("cmd -enc x", &[Transform::Windash]).unwrap();
        assert_eq!(v.len(), 5);
        assert!(v.contains(&"cmd /enc x".to_string()) && v.contains(&"cmd \u{2013}enc x".to_string()));
        let ph: HashMap<String, Vec<String>> = [("admins".to_string(), vec!["a".to_string(), "b".to_string()])].into();
        assert_eq!(expand("x%admins%y", &ph).unwrap(), ["xay", "xby"]);
        assert!(expand("%nope%", &ph).is_err());
    }
}
