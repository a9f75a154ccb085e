//! One page of an ARM or Graph list: the records of its `value` array as the exact bytes the
//! service sent, and its next link.
//!
//! Records are written out as they came — not parsed and re-serialized — so key order, number
//! spelling and escapes are the service's (serde_json without `preserve_order` would sort keys,
//! and `raw_value` is not enabled in this build). The body is first validated as JSON by
//! serde_json; a small scanner then finds the byte range of every element of the top-level
//! `value` array.

use std::ops::Range;

use serde::Deserialize;

/// One page: record byte ranges into the body, and the link to the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Byte ranges of the elements of `value`, in order.
    pub records: Vec<Range<usize>>,
    /// `nextLink` (ARM) or `@odata.nextLink` (Graph), when present and not empty.
    pub next_link: Option<String>,
}

/// Splits a list page. Errors name the problem, never the content.
pub fn split_page(body: &[u8]) -> Result<Page, String> {
    serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(|e| {
        format!("the page is not JSON (line {}, column {}): {}", e.line(), e.column(), e.classify_name())
    })?;
    let mut i = ws(body, 0);
    if body.get(i) != Some(&b'{') {
        return Err("the page is not a JSON object".into());
    }
    i += 1;
    let mut records = None;
    let mut next_link = None;
    loop {
        i = ws(body, i);
        match body.get(i) {
            Some(b'}') => break,
            Some(b',') => {
                i += 1;
                continue;
            }
            Some(b'"') => {}
            _ => return Err("malformed object".into()),
        }
        let kend = skip_string(body, i)?;
        let key: String = serde_json::from_slice(&body[i..kend]).map_err(|_| "malformed key")?;
        i = ws(body, kend);
        if body.get(i) != Some(&b':') {
            return Err("malformed object".into());
        }
        i = ws(body, i + 1);
        let vend = skip_value(body, i)?;
        match key.as_str() {
            "value" => {
                if body.get(i) != Some(&b'[') {
                    return Err("`value` is not an array".into());
                }
                records = Some(elements(body, i)?);
            }
            "nextLink" | "@odata.nextLink" => {
                let link: Option<String> =
                    serde_json::from_slice(&body[i..vend]).map_err(|_| format!("`{key}` is not a string"))?;
                next_link = link.filter(|l| !l.trim().is_empty());
            }
            _ => {}
        }
        i = vend;
    }
    Ok(Page { records: records.ok_or("the page has no `value` array")?, next_link })
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "cut short",
        }
    }
}

fn ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Index after the string starting at `i` (which is `"`).
fn skip_string(b: &[u8], i: usize) -> Result<usize, String> {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Ok(j + 1),
            _ => j += 1,
        }
    }
    Err("unterminated string".into())
}

/// Index after the value starting at `i`. The body was validated, so scalars end at the next
/// delimiter.
fn skip_value(b: &[u8], i: usize) -> Result<usize, String> {
    match b.get(i) {
        Some(b'"') => skip_string(b, i),
        Some(b'{') | Some(b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            Err("unterminated container".into())
        }
        Some(_) => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                j += 1;
            }
            Ok(j)
        }
        None => Err("value expected".into()),
    }
}

/// Byte ranges of the elements of the array starting at `i`.
fn elements(b: &[u8], i: usize) -> Result<Vec<Range<usize>>, String> {
    let mut out = Vec::new();
    let mut j = i + 1;
    loop {
        j = ws(b, j);
        match b.get(j) {
            Some(b']') => return Ok(out),
            Some(b',') => j += 1,
            Some(_) => {
                let end = skip_value(b, j)?;
                out.push(j..end);
                j = end;
            }
            None => return Err("unterminated array".into()),
        }
    }
}

/// `record` on one line: whitespace outside strings removed when the record has a line break
/// (a pretty-printed answer); otherwise the bytes unchanged.
pub fn one_line(record: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !record.iter().any(|&c| c == b'\n' || c == b'\r') {
        return std::borrow::Cow::Borrowed(record);
    }
    let mut out = Vec::with_capacity(record.len());
    let mut in_str = false;
    let mut esc = false;
    for &c in record {
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
            out.push(c);
        } else if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The fields of a record that place it: its id and its time, by the name the source uses.
#[derive(Debug, Default, Deserialize)]
pub struct RecordKeys {
    /// Graph object id / ARM event path.
    #[serde(default)]
    pub id: Option<serde_json::Value>,
    /// Activity Log event id.
    #[serde(default, rename = "eventDataId")]
    pub event_data_id: Option<String>,
    /// Activity Log time.
    #[serde(default, rename = "eventTimestamp")]
    pub event_timestamp: Option<String>,
    /// Sign-in time.
    #[serde(default, rename = "createdDateTime")]
    pub created_date_time: Option<String>,
    /// Audit and provisioning time.
    #[serde(default, rename = "activityDateTime")]
    pub activity_date_time: Option<String>,
    /// Risky user time.
    #[serde(default, rename = "riskLastUpdatedDateTime")]
    pub risk_last_updated_date_time: Option<String>,
    /// Risk detection time.
    #[serde(default, rename = "detectedDateTime")]
    pub detected_date_time: Option<String>,
}

impl RecordKeys {
    /// Reads the keys of one record; a record they cannot be read from has none.
    pub fn of(record: &[u8]) -> RecordKeys {
        serde_json::from_slice(record).unwrap_or_default()
    }

    /// The record's identity: `eventDataId` for the Activity Log, else `id`.
    pub fn identity(&self) -> Option<String> {
        if let Some(e) = &self.event_data_id {
            return Some(e.clone());
        }
        match &self.id {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The value of the time field `field`.
    pub fn time(&self, field: &str) -> Option<&str> {
        match field {
            "eventTimestamp" => self.event_timestamp.as_deref(),
            "createdDateTime" => self.created_date_time.as_deref(),
            "activityDateTime" => self.activity_date_time.as_deref(),
            "riskLastUpdatedDateTime" => self.risk_last_updated_date_time.as_deref(),
            "detectedDateTime" => self.detected_date_time.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(body: &str) -> (Vec<String>, Option<String>) {
        let p = split_page(body.as_bytes()).unwrap();
        (p.records.iter().map(|r| body[r.clone()].to_string()).collect(), p.next_link)
    }

    #[test]
    fn records_are_the_exact_bytes() {
        let body = r#"{"@odata.context":"x","value":[{"b":1,"a":"]}\"{"}, {"z":[1,{"y":null}],"n":1.50} ,7,"s"],"@odata.nextLink":"https://g/next?$skiptoken=a"}"#;
        let (r, next) = texts(body);
        assert_eq!(r, vec![r#"{"b":1,"a":"]}\"{"}"#, r#"{"z":[1,{"y":null}],"n":1.50}"#, "7", r#""s""#]);
        assert_eq!(next.as_deref(), Some("https://g/next?$skiptoken=a"));
    }

    #[test]
    fn arm_pages_and_empty_links() {
        assert_eq!(texts(r#"{"value":[],"nextLink":null}"#), (vec![], None));
        assert_eq!(texts(r#" { "nextLink" : "" , "value" : [ {"a":1} ] } "#), (vec![r#"{"a":1}"#.into()], None));
    }

    #[test]
    fn bad_pages() {
        assert!(split_page(b"[1,2]").is_err());
        assert!(split_page(br#"{"value":{}}"#).is_err());
        assert!(split_page(br#"{"other":[]}"#).is_err());
        assert!(split_page(br#"{"value":[1,2"#).is_err());
        assert!(split_page(br#"{"value":[],"nextLink":5}"#).is_err());
    }

    #[test]
    fn pretty_records_become_one_line() {
        assert_eq!(&*one_line(b"{\n  \"a\": \"x y\\\"\n\",\n  \"b\": 1\n}"), b"{\"a\":\"x y\\\"\n\",\"b\":1}");
        assert!(matches!(one_line(br#"{"a": 1}"#), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn keys() {
        let k = RecordKeys::of(
            br#"{"id":"/sub/x/events/e1/ticks/1","eventDataId":"e1","eventTimestamp":"2024-01-01T00:00:00Z"}"#,
        );
        assert_eq!(k.identity().as_deref(), Some("e1"));
        assert_eq!(k.time("eventTimestamp"), Some("2024-01-01T00:00:00Z"));
        let k = RecordKeys::of(br#"{"id":7,"createdDateTime":5}"#);
        assert!(k.identity().is_none());
    }
}
