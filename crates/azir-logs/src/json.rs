//! Lenient accessors over `serde_json::Value` for fields that change type and case between
//! exports of the same log (`"4"` vs `4`, `resultType` vs `ResultType`, nested objects stored as
//! JSON strings in Log Analytics exports).

use serde_json::{Map, Value};

/// Field lookup: exact key first, then ASCII case-insensitive.
pub fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    get_in(v.as_object()?, key)
}

/// [`get`] on a map.
pub fn get_in<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if let Some(x) = m.get(key) {
        return Some(x);
    }
    m.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

/// Walks a path of keys with [`get`]; a step through a JSON-encoded string is decoded on the
/// fly by the caller via [`obj`], not here (paths stay allocation-free).
pub fn path<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for k in keys {
        cur = get(cur, k)?;
    }
    Some(cur)
}

/// A value as text: strings trimmed (empty → None), numbers and booleans printed, null → None.
/// Objects and arrays come back as compact JSON.
pub fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                None
            } else {
                Some(t.to_string())
            }
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => Some(other.to_string()),
    }
}

/// `text(path(v, keys))`.
pub fn text_at(v: &Value, keys: &[&str]) -> Option<String> {
    text(path(v, keys))
}

/// The first of several paths that yields text.
pub fn first_text(v: &Value, paths: &[&[&str]]) -> Option<String> {
    paths.iter().find_map(|p| text_at(v, p))
}

/// A value as an integer: numbers (integral or not, truncated) and numeric strings.
pub fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::String(s) => {
            let t = s.trim();
            t.parse::<i64>().ok().or_else(|| t.parse::<f64>().ok().filter(|f| f.is_finite()).map(|f| f as i64))
        }
        _ => None,
    }
}

/// A value as a float: numbers and numeric strings.
pub fn float(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

/// An integer that fits a port or status code.
pub fn int32(v: Option<&Value>) -> Option<i32> {
    int(v).and_then(|i| i32::try_from(i).ok())
}

/// A nested object that may arrive as an object or as a JSON-encoded string (Log Analytics
/// CSV/JSON exports, Activity Log `properties.requestbody`). Returns an owned value when it had
/// to decode.
pub fn obj(v: Option<&Value>) -> Option<std::borrow::Cow<'_, Value>> {
    match v? {
        Value::Object(_) | Value::Array(_) => Some(std::borrow::Cow::Borrowed(v?)),
        Value::String(s) => {
            let t = s.trim_start();
            if t.starts_with('{') || t.starts_with('[') {
                serde_json::from_str::<Value>(t).ok().map(std::borrow::Cow::Owned)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Splits `ip:port` (IPv4, `[v6]:port`) into address and port; a bare address is returned as is.
pub fn split_ip_port(s: &str) -> (String, Option<i32>) {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((ip, port)) = rest.split_once("]:") {
            return (ip.to_string(), port.parse().ok());
        }
        return (rest.trim_end_matches(']').to_string(), None);
    }
    match s.rsplit_once(':') {
        // One colon only: IPv4 with port. More colons: an IPv6 address without port.
        Some((ip, port)) if !ip.contains(':') => match port.parse() {
            Ok(p) => (ip.to_string(), Some(p)),
            Err(_) => (s.to_string(), None),
        },
        _ => (s.to_string(), None),
    }
}

/// The subscription id in an ARM resource id (`/subscriptions/{id}/...`, any case).
pub fn subscription_of(resource_id: &str) -> Option<String> {
    let mut parts = resource_id.split('/');
    while let Some(p) = parts.next() {
        if p.eq_ignore_ascii_case("subscriptions") {
            return parts.next().filter(|s| !s.is_empty()).map(|s| s.to_ascii_lowercase());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lenient_types_and_case() {
        let v = json!({"Level": "4", "durationMs": 78, "ResultType": "50126", "props": "{\"a\":1}"});
        assert_eq!(int(get(&v, "level")), Some(4));
        assert_eq!(int(get(&v, "DURATIONMS")), Some(78));
        assert_eq!(text(get(&v, "resultType")).as_deref(), Some("50126"));
        assert_eq!(obj(get(&v, "props")).unwrap().get("a"), Some(&json!(1)));
        assert_eq!(text(Some(&json!("  "))), None);
        assert_eq!(int(Some(&json!("x"))), None);
        assert_eq!(int(Some(&json!(0.034))), Some(0));
    }

    #[test]
    fn ip_port_forms() {
        assert_eq!(split_ip_port("192.168.0.1:11111"), ("192.168.0.1".into(), Some(11111)));
        assert_eq!(split_ip_port("[2001:db8::1]:443"), ("2001:db8::1".into(), Some(443)));
        assert_eq!(split_ip_port("2001:db8::1"), ("2001:db8::1".into(), None));
        assert_eq!(split_ip_port("10.0.0.1"), ("10.0.0.1".into(), None));
    }

    #[test]
    fn subscription_from_mixed_case_ids() {
        assert_eq!(subscription_of("/SUBSCRIPTIONS/ABC-1/RESOURCEGROUPS/RG").as_deref(), Some("abc-1"));
        assert_eq!(subscription_of("/tenants/x/providers/Microsoft.aadiam"), None);
    }
}
