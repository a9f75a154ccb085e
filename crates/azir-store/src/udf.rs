//! SQL functions for analysts, registered on every `azir query` session.
//!
//! | function | returns | what |
//! |---|---|---|
//! | `cidr_match(ip, '10.0.0.0/8')` | boolean | `ip` lies in the CIDR (IPv4 or IPv6; a bare address is a /32 or /128); false across families |
//! | `is_private(ip)` | boolean | RFC 1918, RFC 6598 (100.64.0.0/10), loopback, link-local (169.254.0.0/16, fe80::/10), ULA (fc00::/7); IPv4-mapped IPv6 is judged as IPv4 |
//! | `arm_part(resource_id, 'subscriptions'\|'resourceGroups'\|'providers'\|'name')` | text | the segment after the named one (case-insensitive); `providers` gives the namespace, `name` the last segment |
//! | `json_get(raw, '$.properties.requestbody')` | text | a value by a simple JSONPath (`$.a.b[0].c`, `$['a b']`); a JSON string is returned unquoted, anything else as JSON text; keys match exactly, else case-insensitively; a string met mid-path is parsed as JSON (Azure nests JSON in strings) |
//! | `time_bucket('1 hour', TimeGenerated)` | timestamp (UTC) | the start of the bucket holding the time, buckets aligned to the Unix epoch; widths like `30 seconds`, `5m`, `1 hour`, `1d`, `1 week` |
//!
//! DataFusion's own `date_bin(INTERVAL '1 hour', TimeGenerated)` works too.
//!
//! Every function returns NULL for NULL or malformed input (an address that does not parse, a
//! bad CIDR, text that is not JSON, an unknown part name, a bad width): never an error.

use datafusion::arrow::array::AsArray;
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use serde_json::Value;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// The analyst functions, ready to register on a `SessionContext`.
pub fn all() -> Vec<ScalarUDF> {
    vec![
        udf("cidr_match", 2, DataType::Boolean, cidr_match_arrays),
        udf("is_private", 1, DataType::Boolean, is_private_arrays),
        udf("arm_part", 2, DataType::Utf8, arm_part_arrays),
        udf("json_get", 2, DataType::Utf8, json_get_arrays),
        udf("time_bucket", 2, utc_micros(), time_bucket_arrays),
    ]
}

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

type Kernel = fn(&[ArrayRef]) -> ArrayRef;

struct Udf {
    name: &'static str,
    signature: Signature,
    ret: DataType,
    kernel: Kernel,
}

impl std::fmt::Debug for Udf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Udf").field("name", &self.name).finish()
    }
}

impl PartialEq for Udf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Udf {}

impl Hash for Udf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

fn udf(name: &'static str, args: usize, ret: DataType, kernel: Kernel) -> ScalarUDF {
    ScalarUDF::new_from_impl(Udf { name, signature: Signature::any(args, Volatility::Immutable), ret, kernel })
}

impl ScalarUDFImpl for Udf {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.ret.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        Ok(ColumnarValue::Array((self.kernel)(&arrays)))
    }
}

/// The argument as text cells; an argument that cannot be read as text is all NULL.
fn texts(a: &ArrayRef) -> StringArray {
    match cast(a, &DataType::Utf8) {
        Ok(s) => s.as_string::<i32>().clone(),
        Err(_) => StringArray::new_null(a.len()),
    }
}

fn map2<T>(args: &[ArrayRef], f: impl Fn(&str, &str) -> Option<T>) -> Vec<Option<T>> {
    let (a, b) = (texts(&args[0]), texts(&args[1]));
    (0..a.len()).map(|i| if a.is_null(i) || b.is_null(i) { None } else { f(a.value(i), b.value(i)) }).collect()
}

fn cidr_match_arrays(args: &[ArrayRef]) -> ArrayRef {
    Arc::new(BooleanArray::from(map2(args, cidr_match)))
}

fn is_private_arrays(args: &[ArrayRef]) -> ArrayRef {
    let a = texts(&args[0]);
    Arc::new(BooleanArray::from(
        (0..a.len()).map(|i| if a.is_null(i) { None } else { is_private(a.value(i)) }).collect::<Vec<_>>(),
    ))
}

fn arm_part_arrays(args: &[ArrayRef]) -> ArrayRef {
    Arc::new(StringArray::from(map2(args, |id, part| arm_part(id, part).map(str::to_string))))
}

fn json_get_arrays(args: &[ArrayRef]) -> ArrayRef {
    Arc::new(StringArray::from(map2(args, json_get)))
}

fn time_bucket_arrays(args: &[ArrayRef]) -> ArrayRef {
    let widths = texts(&args[0]);
    let n = args[1].len();
    let times = match cast(&args[1], &DataType::Timestamp(TimeUnit::Microsecond, None)) {
        Ok(t) => t.as_primitive::<TimestampMicrosecondType>().clone(),
        Err(_) => TimestampMicrosecondArray::new_null(n),
    };
    let out: TimestampMicrosecondArray = (0..n)
        .map(|i| {
            if widths.is_null(i) || times.is_null(i) {
                return None;
            }
            time_bucket(widths.value(i), times.value(i))
        })
        .collect();
    Arc::new(out.with_timezone("UTC"))
}

/// Parses an address, tolerating surrounding whitespace and `[v6]` brackets.
fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(s);
    s.parse().ok()
}

/// Whether `ip` lies in `cidr`; None when either is malformed.
pub fn cidr_match(ip: &str, cidr: &str) -> Option<bool> {
    let ip = parse_ip(ip)?;
    let cidr = cidr.trim();
    let (net, len) = match cidr.split_once('/') {
        Some((n, l)) => (parse_ip(n)?, Some(l.trim().parse::<u32>().ok()?)),
        None => (parse_ip(cidr)?, None),
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let len = len.unwrap_or(32);
            if len > 32 {
                return None;
            }
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            Some(u32::from(a) & mask == u32::from(n) & mask)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let len = len.unwrap_or(128);
            if len > 128 {
                return None;
            }
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
            Some(u128::from(a) & mask == u128::from(n) & mask)
        }
        _ => {
            let max = if net.is_ipv4() { 32 } else { 128 };
            if len.is_some_and(|l| l > max) {
                None
            } else {
                Some(false)
            }
        }
    }
}

fn private_v4(a: Ipv4Addr) -> bool {
    let o = a.octets();
    o[0] == 10
        || (o[0] == 172 && (16..=31).contains(&o[1]))
        || (o[0] == 192 && o[1] == 168)
        || (o[0] == 100 && (64..=127).contains(&o[1]))
        || o[0] == 127
        || (o[0] == 169 && o[1] == 254)
}

fn private_v6(a: Ipv6Addr) -> bool {
    if let Some(v4) = a.to_ipv4_mapped() {
        return private_v4(v4);
    }
    let s = a.segments();
    a.is_loopback() || (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xfe00) == 0xfc00
}

/// RFC 1918, RFC 6598, loopback, link-local or ULA; None when `ip` is malformed.
pub fn is_private(ip: &str) -> Option<bool> {
    Some(match parse_ip(ip)? {
        IpAddr::V4(a) => private_v4(a),
        IpAddr::V6(a) => private_v6(a),
    })
}

/// A segment of an ARM resource id: the one after `subscriptions`, `resourceGroups` or
/// `providers` (names compared case-insensitively), or the last one for `name`.
pub fn arm_part<'a>(id: &'a str, part: &str) -> Option<&'a str> {
    let segs: Vec<&str> = id.trim().split('/').filter(|s| !s.is_empty()).collect();
    let part = part.trim();
    if part.eq_ignore_ascii_case("name") {
        // A bare name is not a resource id.
        return if segs.len() >= 2 { segs.last().copied() } else { None };
    }
    if !["subscriptions", "resourceGroups", "providers"].iter().any(|p| p.eq_ignore_ascii_case(part)) {
        return None;
    }
    segs.windows(2).find(|w| w[0].eq_ignore_ascii_case(part)).map(|w| w[1])
}

enum Step {
    Key(String),
    Index(usize),
}

/// `$.a.b[0].c` and `$['a b']` into steps; None when malformed.
fn parse_path(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.trim().strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            steps.push(Step::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            let quoted = inner
                .strip_prefix('\'')
                .and_then(|x| x.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|x| x.strip_suffix('"')));
            match quoted {
                Some(k) => steps.push(Step::Key(k.to_string())),
                None => steps.push(Step::Index(inner.parse().ok()?)),
            }
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

fn step<'v>(v: &'v Value, s: &Step) -> Option<&'v Value> {
    match (v, s) {
        (Value::Object(m), Step::Key(k)) => {
            m.get(k).or_else(|| m.iter().find(|(name, _)| name.eq_ignore_ascii_case(k)).map(|(_, v)| v))
        }
        (Value::Array(a), Step::Index(i)) => a.get(*i),
        _ => None,
    }
}

fn walk(v: &Value, steps: &[Step]) -> Option<String> {
    let Some((first, rest)) = steps.split_first() else {
        return match v {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
    };
    match v {
        // JSON inside a string (requestbody, responseBody): parse it and go on.
        Value::String(s) => walk(&serde_json::from_str::<Value>(s).ok()?, steps),
        _ => walk(step(v, first)?, rest),
    }
}

/// The value at `path` in the JSON text `raw`; None when missing, not JSON or a bad path.
pub fn json_get(raw: &str, path: &str) -> Option<String> {
    let steps = parse_path(path)?;
    let v: Value = serde_json::from_str(raw).ok()?;
    walk(&v, &steps)
}

/// A bucket width in microseconds: `1 hour`, `15 minutes`, `5m`, `30s`, `1d`, `2 weeks`.
pub fn parse_width(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: i64 = s[..split].parse().ok()?;
    let unit = s[split..].trim().to_ascii_lowercase();
    let secs: i64 = match unit.as_str() {
        "ms" | "millisecond" | "milliseconds" => return n.checked_mul(1_000).filter(|w| *w > 0),
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 604_800,
        _ => return None,
    };
    n.checked_mul(secs)?.checked_mul(1_000_000).filter(|w| *w > 0)
}

/// Start of the `width` bucket holding `micros` (Unix microseconds), aligned to the epoch.
pub fn time_bucket(width: &str, micros: i64) -> Option<i64> {
    let w = parse_width(width)?;
    micros.checked_sub(micros.rem_euclid(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr() {
        assert_eq!(cidr_match("10.1.2.3", "10.0.0.0/8"), Some(true));
        assert_eq!(cidr_match("11.1.2.3", "10.0.0.0/8"), Some(false));
        assert_eq!(cidr_match("203.0.113.77", "203.0.113.77"), Some(true));
        assert_eq!(cidr_match("1.2.3.4", "0.0.0.0/0"), Some(true));
        assert_eq!(cidr_match("2001:db8::1", "2001:db8::/32"), Some(true));
        assert_eq!(cidr_match("2001:db9::1", "2001:db8::/32"), Some(false));
        assert_eq!(cidr_match("[2001:db8::1]", "2001:db8::/32"), Some(true));
        assert_eq!(cidr_match("10.0.0.1", "2001:db8::/32"), Some(false));
        assert_eq!(cidr_match("not-an-ip", "10.0.0.0/8"), None);
        assert_eq!(cidr_match("10.0.0.1", "10.0.0.0/33"), None);
        assert_eq!(cidr_match("10.0.0.1", "10.0.0.0/x"), None);
        assert_eq!(cidr_match("10.0.0.1", "garbage"), None);
        assert_eq!(cidr_match("", ""), None);
    }

    #[test]
    fn private() {
        for ip in ["10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "100.64.0.1", "127.0.0.1", "169.254.1.1"]
        {
            assert_eq!(is_private(ip), Some(true), "{ip}");
        }
        for ip in ["::1", "fe80::1", "fd00::1", "fc00::1", "::ffff:10.0.0.1"] {
            assert_eq!(is_private(ip), Some(true), "{ip}");
        }
        for ip in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "203.0.113.77", "2001:db8::1", "::ffff:8.8.8.8"] {
            assert_eq!(is_private(ip), Some(false), "{ip}");
        }
        assert_eq!(is_private("999.1.1.1"), None);
        assert_eq!(is_private(""), None);
        assert_eq!(is_private("fe80::1%eth0"), None);
    }

    #[test]
    fn arm() {
        let id =
            "/subscriptions/1111/resourceGroups/rg-prod/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/web";
        assert_eq!(arm_part(id, "subscriptions"), Some("1111"));
        assert_eq!(arm_part(id, "RESOURCEGROUPS"), Some("rg-prod"));
        assert_eq!(arm_part(&id.to_lowercase(), "resourceGroups"), Some("rg-prod"));
        assert_eq!(arm_part(id, "providers"), Some("Microsoft.Network"));
        assert_eq!(arm_part(id, "name"), Some("web"));
        assert_eq!(arm_part("/subscriptions/1111", "resourceGroups"), None);
        assert_eq!(arm_part(id, "nonsense"), None);
        assert_eq!(arm_part("", "name"), None);
        assert_eq!(arm_part("just-a-name", "name"), None);
    }

    #[test]
    fn json() {
        let raw = r#"{"properties":{"requestbody":"{\"properties\":{\"roleDefinitionId\":\"/x/owner\"}}","n":3,"list":[{"c":"first"},{"c":null}],"ok":true},"a b":{"c":1}}"#;
        assert_eq!(json_get(raw, "$.properties.n").as_deref(), Some("3"));
        assert_eq!(json_get(raw, "$.properties.ok").as_deref(), Some("true"));
        assert_eq!(json_get(raw, "$.properties.list[0].c").as_deref(), Some("first"));
        assert_eq!(json_get(raw, "$.properties.list[1].c"), None);
        assert_eq!(json_get(raw, "$.properties.list[5].c"), None);
        assert_eq!(json_get(raw, "$.Properties.N").as_deref(), Some("3"));
        assert_eq!(json_get(raw, "$['a b'].c").as_deref(), Some("1"));
        assert_eq!(json_get(raw, "$.properties.requestbody.properties.roleDefinitionId").as_deref(), Some("/x/owner"));
        assert!(json_get(raw, "$.properties.requestbody").unwrap().starts_with("{\"properties\""));
        assert_eq!(json_get(raw, "$.properties.list[0]").as_deref(), Some(r#"{"c":"first"}"#));
        assert_eq!(json_get(raw, "$.missing"), None);
        assert_eq!(json_get("not json", "$.a"), None);
        assert_eq!(json_get(raw, "properties"), None);
        assert_eq!(json_get(raw, "$..x"), None);
        assert_eq!(json_get(raw, "$.properties.list[x]"), None);
        assert_eq!(json_get(raw, "$").map(|s| s.len()), Some(raw.len()));
    }

    #[test]
    fn buckets() {
        assert_eq!(parse_width("1 hour"), Some(3_600_000_000));
        assert_eq!(parse_width("15 minutes"), Some(900_000_000));
        assert_eq!(parse_width("5m"), Some(300_000_000));
        assert_eq!(parse_width("1d"), Some(86_400_000_000));
        assert_eq!(parse_width("0 hours"), None);
        assert_eq!(parse_width("hour"), None);
        assert_eq!(parse_width("1 fortnight"), None);
        assert_eq!(parse_width("99999999999999999999 hours"), None);
        assert_eq!(time_bucket("1 hour", 3_600_000_000 + 5), Some(3_600_000_000));
        assert_eq!(time_bucket("1 hour", -1), Some(-3_600_000_000));
        assert_eq!(time_bucket("bad", 5), None);
    }
}
