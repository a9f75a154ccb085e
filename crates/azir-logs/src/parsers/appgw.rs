//! Application Gateway access log (`ApplicationGatewayAccessLog`) and WAF log
//! (`ApplicationGatewayFirewallLog`) in every export shape: the resource-log envelope of
//! diagnostic blobs and Event Hub (v1 with `time`, v2 with `timeStamp`, fields under
//! `properties`), Log Analytics resource-specific rows (`AGWAccessLogs`, `AGWFirewallLogs`:
//! PascalCase columns such as `ClientIp`, `ErrorInfo`, `DetailedData`) and `AzureDiagnostics`
//! rows whose columns carry type suffixes (`clientIP_s`, `httpStatus_d`, `details_data_s`).
//!
//! Access records become `HTTPsession` events (ASIM WebSession): the client is the source, the
//! `host` header is the destination when it is an address, and `transactionId` is kept as the
//! correlation id because it is the key that joins a request to its WAF records. `timeTaken`
//! (milliseconds in v1, seconds in v2) is not mapped: the event model has no duration column.
//!
//! WAF records are one per rule evaluation. Their `action` is the WAF's verdict, not the
//! request's outcome, so it is reported DvcAction-style: `operation` is `WAF <action>`,
//! `result_details` is `<action> <ruleId>: <message>`, and `result` is `Failure` only when the
//! request was stopped (`Blocked`), `Success` when a custom rule explicitly let it through
//! (`Allowed`), and `NA` for `Matched`/`Detected` (a rule hit that does not decide the
//! request on its own). `category` is the rule set (`OWASP_CRS 3.2`).
//!
//! Log content is hostile (URIs and WAF match data carry attack payloads): values are copied
//! as they are; escaping is the job of whatever renders them.
//!
//! This module also hosts [`Fields`], the shape-agnostic field lookup the gateway, firewall,
//! Bastion, Key Vault and Storage parsers share.

use super::{Output, RecordCtx};
use crate::detect::Shape;
use crate::json::{self, get, split_ip_port, subscription_of};
use serde_json::Value;
use std::borrow::Cow;
use std::net::IpAddr;

/// `AzureDiagnostics` column type suffixes, tried after the plain name.
const SUFFIXES: [&str; 5] = ["_s", "_d", "_g", "_b", "_t"];

/// Field lookup across export shapes: an envelope's `properties` (object or JSON-encoded
/// string) first, then the record itself; names are matched exactly, then ASCII
/// case-insensitively (`clientIP` finds LA's `ClientIp`), and for records without a
/// `properties` object also with `AzureDiagnostics` type suffixes (`clientIP_s`). Null and
/// blank values count as absent, so the next candidate is tried.
pub(crate) struct Fields<'a> {
    top: &'a Value,
    body: Option<Cow<'a, Value>>,
    suffixed: bool,
}

impl<'a> Fields<'a> {
    /// Lookup over one record.
    pub(crate) fn new(v: &'a Value) -> Self {
        let body = json::obj(get(v, "properties")).filter(|b| b.is_object());
        let suffixed = body.is_none();
        Fields { top: v, body, suffixed }
    }

    /// The first present value among `names` (earlier names win over later ones).
    pub(crate) fn val(&self, names: &[&str]) -> Option<&Value> {
        names.iter().find_map(|n| self.one(n))
    }

    fn one(&self, name: &str) -> Option<&Value> {
        if let Some(x) = self.body.as_deref().and_then(|b| present(get(b, name))) {
            return Some(x);
        }
        if let Some(x) = present(get(self.top, name)) {
            return Some(x);
        }
        if self.suffixed {
            let mut key = String::with_capacity(name.len() + 2);
            for s in SUFFIXES {
                key.clear();
                key.push_str(name);
                key.push_str(s);
                if let Some(x) = present(get(self.top, &key)) {
                    return Some(x);
                }
            }
        }
        None
    }

    /// [`json::text`] of the first present value.
    pub(crate) fn text(&self, names: &[&str]) -> Option<String> {
        json::text(self.val(names))
    }

    /// [`json::int32`] of the first present value.
    pub(crate) fn int32(&self, names: &[&str]) -> Option<i32> {
        json::int32(self.val(names))
    }

    /// A nested object (or JSON-encoded object) under the first present name.
    pub(crate) fn obj(&self, names: &[&str]) -> Option<Cow<'_, Value>> {
        json::obj(self.val(names))
    }

    /// A top-level column only (`Type` of a Log Analytics row), never from `properties`.
    pub(crate) fn top_text(&self, name: &str) -> Option<String> {
        json::text(get(self.top, name))
    }

    /// The record's resource id (`resourceId`, LA `_ResourceId`/`ResourceId`).
    pub(crate) fn resource_id(&self) -> Option<String> {
        json::text(present(get(self.top, "resourceId"))).or_else(|| json::text(present(get(self.top, "_ResourceId"))))
    }

    /// The log category: `category`/`Category`, else the LA table name in `Type`.
    pub(crate) fn category(&self) -> Option<String> {
        json::text(present(get(self.top, "category"))).or_else(|| self.top_text("Type"))
    }
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|x| match x {
        Value::Null => false,
        Value::String(s) => !s.trim().is_empty(),
        _ => true,
    })
}

/// The record's time: `time`/`timeStamp` for envelopes, `TimeGenerated` for LA rows.
pub(crate) fn record_time(v: &Value, ctx: &RecordCtx) -> Result<i64, String> {
    match ctx.shape {
        Shape::LogAnalytics => ctx.time(v, &[&["TimeGenerated"], &["TimeGenerated [UTC]"], &["time"], &["timeStamp"]]),
        _ => ctx.time(v, &[&["time"], &["timeStamp"], &["TimeGenerated"]]),
    }
}

/// The last segment of an ARM id (`.../APPLICATIONGATEWAYS/AGW1` → `AGW1`).
pub(crate) fn resource_name(id: &str) -> Option<&str> {
    id.trim_end_matches('/').rsplit('/').next().filter(|s| !s.is_empty())
}

/// True when `s` is an IPv4 or IPv6 address.
pub(crate) fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

/// An address with optional port (`1.2.3.4:80`, `[v6]:443`, bare v6) when it is an IP address.
pub(crate) fn ip_and_port(s: &str) -> Option<(String, Option<i32>)> {
    let (ip, port) = split_ip_port(s);
    is_ip(&ip).then_some((ip, port))
}

/// ASIM result of an HTTP status: `Success` below 400, `Failure` from 400, `NA` for 0.
pub(crate) fn status_result(code: i32) -> &'static str {
    match code {
        1..=399 => "Success",
        400.. => "Failure",
        _ => "NA",
    }
}

/// At most `n` characters of `s`, with `…` when cut (long attacker-controlled values stay
/// whole in their own columns; the one-line message gets a bounded excerpt).
pub(crate) fn clip(s: &str, n: usize) -> Cow<'_, str> {
    match s.char_indices().nth(n) {
        Some((i, _)) => Cow::Owned(format!("{}…", &s[..i])),
        None => Cow::Borrowed(s),
    }
}

/// Longest excerpt of an input value a message carries.
pub(crate) const MSG_MAX: usize = 300;

/// Query parameters Application Gateway v1 appends to `requestQuery` for its own use.
fn is_gateway_param(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.starts_with("x-azureapplicationgateway-") || k == "server-routed" || k == "server-status"
}

/// The client's query string without the gateway's own parameters (v1 embeds
/// `SERVER-ROUTED=`, `SERVER-STATUS=` and `X-AzureApplicationGateway-*` there).
fn client_query(q: &str) -> Option<String> {
    let kept: Vec<&str> = q
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty() && !is_gateway_param(p.split('=').next().unwrap_or("")))
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

/// The `X-AzureApplicationGateway-LOG-ID` a v1 record embeds in `requestQuery`.
fn v1_log_id(q: &str) -> Option<String> {
    q.split('&').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.eq_ignore_ascii_case("X-AzureApplicationGateway-LOG-ID") && !v.is_empty()).then(|| v.to_string())
    })
}

fn gateway_suffix(resource_id: Option<&str>) -> String {
    match resource_id.and_then(resource_name) {
        Some(n) => format!(" (appgw {n})"),
        None => " (appgw)".to_string(),
    }
}

/// Parses one access-log record (v1 or v2, any shape).
pub fn parse_access(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    let f = Fields::new(v);
    let mut e = ctx.event("appgw_access");
    e.time = record_time(v, ctx)?;
    e.event_type = Some("HTTPsession".into());
    e.category = f.category();
    e.operation = f.text(&["operationName"]);
    e.target_resource_id = f.resource_id();
    e.subscription_id = e.target_resource_id.as_deref().and_then(subscription_of);
    e.src_ip = f.text(&["clientIP"]);
    e.src_port = f.int32(&["clientPort"]);
    e.http_method = f.text(&["httpMethod"]);
    e.user_agent = f.text(&["userAgent"]).filter(|ua| ua != "-");
    let query = f.text(&["requestQuery"]);
    e.url = f.text(&["originalRequestUriWithArgs"]).or_else(|| {
        let uri = f.text(&["requestUri"])?;
        Some(match query.as_deref().and_then(client_query) {
            Some(q) if !uri.contains('?') => format!("{uri}?{q}"),
            _ => uri,
        })
    });
    e.http_status = f.int32(&["httpStatus"]);
    if let Some((ip, port)) = f.text(&["host", "originalHost"]).and_then(|h| ip_and_port(&h)) {
        e.dst_ip = Some(ip);
        e.dst_port = port;
    }
    e.correlation_id = f.text(&["transactionId"]).or_else(|| query.as_deref().and_then(v1_log_id));
    let error = f.text(&["error_info", "errorInfo"]).filter(|x| !x.eq_ignore_ascii_case("ERRORINFO_NO_ERROR"));
    e.result = Some(e.http_status.map_or("NA", status_result).to_string());
    e.result_details = match (e.http_status, error.as_deref()) {
        (Some(s), Some(x)) => Some(format!("{s} ({x})")),
        (Some(s), None) => Some(s.to_string()),
        (None, Some(x)) => Some(x.to_string()),
        (None, None) => None,
    };
    e.message = format!(
        "{} {} from {} → {}{}",
        e.http_method.as_deref().unwrap_or("request"),
        clip(e.url.as_deref().unwrap_or("?"), MSG_MAX),
        e.src_ip.as_deref().unwrap_or("unknown client"),
        e.result_details.as_deref().unwrap_or("no status"),
        gateway_suffix(e.target_resource_id.as_deref()),
    );
    out.events.push(e);
    Ok(())
}

/// Parses one WAF (firewall) log record (any shape).
pub fn parse_waf(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    let f = Fields::new(v);
    let mut e = ctx.event("waf");
    e.time = record_time(v, ctx)?;
    e.event_type = Some("HTTPsession".into());
    e.target_resource_id = f.resource_id();
    e.subscription_id = e.target_resource_id.as_deref().and_then(subscription_of);
    e.src_ip = f.text(&["clientIp"]);
    e.src_port = f.int32(&["clientPort"]);
    e.url = f.text(&["requestUri"]);
    e.correlation_id = f.text(&["transactionId"]);
    if let Some((ip, port)) = f.text(&["hostname"]).and_then(|h| ip_and_port(&h)) {
        e.dst_ip = Some(ip);
        e.dst_port = port;
    }
    e.category = match (f.text(&["ruleSetType"]), f.text(&["ruleSetVersion"])) {
        (Some(t), Some(v)) => Some(format!("{t} {v}")),
        (t, v) => t.or(v),
    };
    let action = f.text(&["action"]);
    let rule_id = f.text(&["ruleId"]);
    let rule_msg = f.text(&["message"]);
    let details = f.obj(&["details"]);
    let data = details
        .as_deref()
        .and_then(|d| json::text(present(get(d, "data"))))
        .or_else(|| f.text(&["DetailedData", "details_data"]));
    e.operation = Some(match action.as_deref() {
        Some(a) => format!("WAF {a}"),
        None => "WAF".to_string(),
    });
    e.result = Some(
        match action.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("blocked") => "Failure",
            Some("allowed") => "Success",
            _ => "NA",
        }
        .to_string(),
    );
    let rule = match (rule_id.as_deref(), rule_msg.as_deref()) {
        (Some(id), Some(m)) => Some(format!("{id}: {m}")),
        (Some(id), None) => Some(id.to_string()),
        (None, Some(m)) => Some(m.to_string()),
        (None, None) => None,
    };
    e.result_details = match (action.as_deref(), rule.as_deref()) {
        (Some(a), Some(r)) => Some(format!("{a} {r}")),
        (Some(a), None) => Some(a.to_string()),
        (None, r) => r.map(str::to_string),
    };
    let mut m = format!("WAF {} rule {}", action.as_deref().unwrap_or("event"), rule_id.as_deref().unwrap_or("?"));
    if let Some(r) = rule_msg.as_deref() {
        m.push_str(&format!(" ({})", clip(r, MSG_MAX)));
    }
    m.push_str(&format!(
        " on {} from {}",
        clip(e.url.as_deref().unwrap_or("?"), MSG_MAX),
        e.src_ip.as_deref().unwrap_or("unknown client")
    ));
    if let Some(d) = data.as_deref() {
        m.push_str(&format!(", data: {}", clip(d, MSG_MAX)));
    }
    m.push_str(&gateway_suffix(e.target_resource_id.as_deref()));
    e.message = m;
    out.events.push(e);
    Ok(())
}

/// Test support shared by the sibling parsers' tests: runs `parse` on one record with a
/// chosen shape, returning its result and output.
#[cfg(test)]
pub(crate) fn run_direct(
    parse: fn(&Value, &RecordCtx, &mut Output) -> Result<(), String>,
    record: &str,
    shape: Shape,
) -> (Result<(), String>, Output) {
    use crate::parsers::{Payload, StreamInfo};
    use crate::split::Container;
    let info = StreamInfo::new("00".repeat(32), "test.json", Payload::Json);
    let v: Value = serde_json::from_str(record).expect("test record is JSON");
    let ctx = RecordCtx {
        info: &info,
        raw: record.as_bytes(),
        prov: azir_model::Provenance::default(),
        shape,
        container: Container::Lines,
    };
    let mut out = Output::default();
    let r = parse(&v, &ctx, &mut out);
    (r, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::run_one;
    use crate::split::Container;
    use azir_model::format_micros;

    const AGW: &str = "/SUBSCRIPTIONS/SUB-1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/APPLICATIONGATEWAYS/AGW1";

    fn one(display: &str, rec: &str, c: Container) -> azir_model::Event {
        let out = run_one(display, rec, c);
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        assert_eq!(out.events.len(), 1);
        out.events[0].clone()
    }

    #[test]
    fn access_v1_envelope() {
        let rec = format!(
            r#"{{"resourceId":"{AGW}","operationName":"ApplicationGatewayAccess","time":"2017-04-26T19:27:38Z","category":"ApplicationGatewayAccessLog","properties":{{"instanceId":"ApplicationGatewayRole_IN_0","clientIP":"203.0.113.97","clientPort":46886,"httpMethod":"GET","requestUri":"/phpmyadmin/scripts/setup.php","requestQuery":"a=1&X-AzureApplicationGateway-CACHE-HIT=0&SERVER-ROUTED=10.4.0.4&X-AzureApplicationGateway-LOG-ID=874f1f0f-6807&SERVER-STATUS=404","userAgent":"-","httpStatus":404,"httpVersion":"HTTP/1.0","receivedBytes":65,"sentBytes":553,"timeTaken":205,"sslEnabled":"off","host":"www.contoso.com","originalHost":"www.contoso.com"}}}}"#
        );
        let e = one(
            "insights-logs-applicationgatewayaccesslog/y=2017/m=04/d=26/h=19/m=00/PT1H.json",
            &rec,
            Container::Lines,
        );
        assert_eq!(e.source, "appgw_access");
        assert_eq!(e.source_format, "diag");
        assert_eq!(format_micros(e.time), "2017-04-26T19:27:38.000000Z");
        assert_eq!(e.event_type.as_deref(), Some("HTTPsession"));
        assert_eq!(e.category.as_deref(), Some("ApplicationGatewayAccessLog"));
        assert_eq!(e.operation.as_deref(), Some("ApplicationGatewayAccess"));
        assert_eq!(e.src_ip.as_deref(), Some("203.0.113.97"));
        assert_eq!(e.src_port, Some(46886));
        assert_eq!(e.http_method.as_deref(), Some("GET"));
        // Gateway bookkeeping parameters are not part of the client's URL.
        assert_eq!(e.url.as_deref(), Some("/phpmyadmin/scripts/setup.php?a=1"));
        assert_eq!(e.http_status, Some(404));
        assert_eq!(e.user_agent, None);
        assert_eq!(e.dst_ip, None, "a host name is not an address");
        assert_eq!(e.correlation_id.as_deref(), Some("874f1f0f-6807"));
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(e.result_details.as_deref(), Some("404"));
        assert_eq!(e.target_resource_id.as_deref(), Some(AGW));
        assert_eq!(e.subscription_id.as_deref(), Some("sub-1"));
        assert_eq!(e.message, "GET /phpmyadmin/scripts/setup.php?a=1 from 203.0.113.97 → 404 (appgw AGW1)");
    }

    #[test]
    fn access_v2_envelope_event_hub() {
        let rec = format!(
            r#"{{"timeStamp":"2021-10-14T22:17:11+00:00","resourceId":"{AGW}","listenerName":"HTTP-Listener","ruleName":"r","operationName":"ApplicationGatewayAccess","category":"ApplicationGatewayAccessLog","properties":{{"instanceId":"appgw_2","clientIP":"185.42.129.24","clientPort":45057,"httpMethod":"GET","originalRequestUriWithArgs":"\/login?next=%2F","requestUri":"\/login","requestQuery":"next=%2F","userAgent":"Mozilla\/5.0","httpStatus":502,"httpVersion":"HTTP\/1.1","timeTaken":0.034,"transactionId":"592d1649f75a8d480a3c4dc6a975309d","serverRouted":"52.239.221.65:443","serverStatus":"502","host":"20.110.30.194","error_info":"ERRORINFO_UPSTREAM_NO_LIVE"}}}}"#
        );
        let e = one("eh.json", &rec, Container::Records);
        assert_eq!(e.source_format, "eventhub");
        assert_eq!(format_micros(e.time), "2021-10-14T22:17:11.000000Z");
        assert_eq!(e.url.as_deref(), Some("/login?next=%2F"));
        assert_eq!(e.user_agent.as_deref(), Some("Mozilla/5.0"));
        assert_eq!(e.dst_ip.as_deref(), Some("20.110.30.194"));
        assert_eq!(e.dst_port, None);
        assert_eq!(e.correlation_id.as_deref(), Some("592d1649f75a8d480a3c4dc6a975309d"));
        assert_eq!(e.http_status, Some(502));
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(e.result_details.as_deref(), Some("502 (ERRORINFO_UPSTREAM_NO_LIVE)"));
        assert_eq!(e.message, "GET /login?next=%2F from 185.42.129.24 → 502 (ERRORINFO_UPSTREAM_NO_LIVE) (appgw AGW1)");
    }

    #[test]
    fn access_v2_success_hides_no_error() {
        let rec = r#"{"timeStamp":"2021-10-14T22:17:11Z","category":"ApplicationGatewayAccessLog","properties":{"clientIP":"198.51.100.1","httpMethod":"POST","requestUri":"/api","requestQuery":"","httpStatus":"200","error_info":"ERRORINFO_NO_ERROR"}}"#;
        let e = one("x.json", rec, Container::Lines);
        assert_eq!(e.url.as_deref(), Some("/api"));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.result_details.as_deref(), Some("200"));
        assert_eq!(e.target_resource_id, None);
        assert_eq!(e.message, "POST /api from 198.51.100.1 → 200 (appgw)");
    }

    #[test]
    fn access_log_analytics_row() {
        let rec = format!(
            r#"{{"TimeGenerated":"2024-05-01T10:00:00.123Z","Type":"AGWAccessLogs","ClientIp":"198.51.100.7","ClientPort":50000,"HttpMethod":"GET","OriginalRequestUriWithArgs":"/a?b=c","RequestUri":"/a","HttpStatus":403,"UserAgent":"curl/8.0","TransactionId":"t-1","Host":"10.0.0.4:8080","ErrorInfo":"ERRORINFO_NO_ERROR","OperationName":"ApplicationGatewayAccess","_ResourceId":"{AGW}"}}"#
        );
        let e = one("AGWAccessLogs.json", &rec, Container::Array);
        assert_eq!(e.source_format, "loganalytics");
        assert_eq!(format_micros(e.time), "2024-05-01T10:00:00.123000Z");
        assert_eq!(e.category.as_deref(), Some("AGWAccessLogs"));
        assert_eq!(e.operation.as_deref(), Some("ApplicationGatewayAccess"));
        assert_eq!(e.src_ip.as_deref(), Some("198.51.100.7"));
        assert_eq!(e.src_port, Some(50000));
        assert_eq!(e.url.as_deref(), Some("/a?b=c"));
        assert_eq!(e.http_status, Some(403));
        assert_eq!(e.user_agent.as_deref(), Some("curl/8.0"));
        assert_eq!(e.dst_ip.as_deref(), Some("10.0.0.4"));
        assert_eq!(e.dst_port, Some(8080));
        assert_eq!(e.correlation_id.as_deref(), Some("t-1"));
        assert_eq!(e.result_details.as_deref(), Some("403"));
        assert_eq!(e.target_resource_id.as_deref(), Some(AGW));
        assert_eq!(e.subscription_id.as_deref(), Some("sub-1"));
    }

    #[test]
    fn access_azure_diagnostics_suffixed_row_with_hostile_uri() {
        let rec = format!(
            r#"{{"TimeGenerated":"2024-05-01T10:00:00Z","Type":"AzureDiagnostics","Category":"ApplicationGatewayAccessLog","OperationName":"ApplicationGatewayAccess","ResourceId":"{AGW}","clientIP_s":"192.0.2.10","clientPort_d":41000.0,"httpMethod_s":"GET","requestUri_s":"<script>alert(\"x\")</script>","requestQuery_s":"q='or 1=1--","httpStatus_d":200,"userAgent_s":"sqlmap/1.7","transactionId_g":"3f1c","host_s":"[2001:db8::5]:443","error_info_s":"ERRORINFO_NO_ERROR"}}"#
        );
        let e = one("AzureDiagnostics.csv", &rec, Container::Lines);
        assert_eq!(e.source_format, "loganalytics");
        assert_eq!(e.category.as_deref(), Some("ApplicationGatewayAccessLog"));
        assert_eq!(e.src_ip.as_deref(), Some("192.0.2.10"));
        assert_eq!(e.src_port, Some(41000));
        assert_eq!(e.http_method.as_deref(), Some("GET"));
        assert_eq!(e.url.as_deref(), Some(r#"<script>alert("x")</script>?q='or 1=1--"#));
        assert_eq!(e.http_status, Some(200));
        assert_eq!(e.user_agent.as_deref(), Some("sqlmap/1.7"));
        assert_eq!(e.correlation_id.as_deref(), Some("3f1c"));
        assert_eq!(e.dst_ip.as_deref(), Some("2001:db8::5"));
        assert_eq!(e.dst_port, Some(443));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.target_resource_id.as_deref(), Some(AGW));
        assert!(e.message.contains(r#"<script>alert("x")</script>"#));
    }

    #[test]
    fn access_missing_or_bad_time_is_an_error_naming_the_field() {
        let (r, out) = run_direct(
            parse_access,
            r#"{"category":"ApplicationGatewayAccessLog","properties":{"clientIP":"1.2.3.4"}}"#,
            Shape::Envelope,
        );
        let err = r.expect_err("no time");
        assert!(err.contains("time") && err.contains("timeStamp"), "{err}");
        assert!(out.events.is_empty());
        let out = run_one(
            "x.json",
            r#"{"timeStamp":"soon","category":"ApplicationGatewayAccessLog","properties":{}}"#,
            Container::Lines,
        );
        assert!(out.events.is_empty());
        assert!(out.bad[0].reason.contains("\"soon\" in field timeStamp"), "{:?}", out.bad);
        assert_eq!(out.bad[0].parser.as_deref(), Some("appgw_access"));
        let (r, _) = run_direct(parse_access, r#"{"Type":"AGWAccessLogs","ClientIp":"1.2.3.4"}"#, Shape::LogAnalytics);
        assert!(r.expect_err("no time").contains("TimeGenerated"));
    }

    #[test]
    fn waf_v2_envelope() {
        let rec = format!(
            r#"{{"timeStamp":"2021-10-14T22:17:11+00:00","resourceId":"{AGW}","operationName":"ApplicationGatewayFirewall","category":"ApplicationGatewayFirewallLog","properties":{{"instanceId":"appgw_2","clientIp":"185.42.129.24","clientPort":"","requestUri":"\/","ruleSetType":"OWASP_CRS","ruleSetVersion":"3.0.0","ruleId":"920350","message":"Host header is a numeric IP address","action":"Matched","site":"Global","details":{{"message":"Warning. Pattern match","data":"20.110.30.194:80","file":"rules\/REQUEST-920-PROTOCOL-ENFORCEMENT.conf","line":"791"}},"hostname":"20.110.30.194:80","transactionId":"592d1649f75a8d480a3c4dc6a975309d","policyId":"default","policyScope":"Global","policyScopeName":"Global"}}}}"#
        );
        let e = one("waf.json", &rec, Container::Lines);
        assert_eq!(e.source, "waf");
        assert_eq!(format_micros(e.time), "2021-10-14T22:17:11.000000Z");
        assert_eq!(e.event_type.as_deref(), Some("HTTPsession"));
        assert_eq!(e.src_ip.as_deref(), Some("185.42.129.24"));
        assert_eq!(e.src_port, None, "empty clientPort");
        assert_eq!(e.url.as_deref(), Some("/"));
        assert_eq!(e.operation.as_deref(), Some("WAF Matched"));
        assert_eq!(e.category.as_deref(), Some("OWASP_CRS 3.0.0"));
        assert_eq!(e.result.as_deref(), Some("NA"));
        assert_eq!(e.result_details.as_deref(), Some("Matched 920350: Host header is a numeric IP address"));
        assert_eq!(e.correlation_id.as_deref(), Some("592d1649f75a8d480a3c4dc6a975309d"));
        assert_eq!(e.dst_ip.as_deref(), Some("20.110.30.194"));
        assert_eq!(e.dst_port, Some(80));
        assert_eq!(e.target_resource_id.as_deref(), Some(AGW));
        assert_eq!(e.subscription_id.as_deref(), Some("sub-1"));
        assert_eq!(
            e.message,
            "WAF Matched rule 920350 (Host header is a numeric IP address) on / from 185.42.129.24, data: 20.110.30.194:80 (appgw AGW1)"
        );
    }

    #[test]
    fn waf_v1_blocked_with_hostile_payload() {
        let rec = r#"{"resourceId":"/S/AGW2","operationName":"ApplicationGatewayFirewall","time":"2017-03-20T15:52:09.1494499Z","category":"ApplicationGatewayFirewallLog","properties":{"instanceId":"ApplicationGatewayRole_IN_0","clientIp":"203.0.113.147","clientPort":"0","requestUri":"/search?q=<script>alert(\"x\")</script>","ruleSetType":"OWASP","ruleSetVersion":"3.0","ruleId":"941100","message":"XSS Attack Detected via libinjection","action":"Blocked","details":{"message":"Detected XSS using libinjection.","data":"Matched Data: <script>alert(\"x\")</script> found within ARGS:q"},"hostname":"www.contoso.com","transactionId":"16861477007022634343"}}"#;
        let e = one("waf.json", rec, Container::Lines);
        assert_eq!(format_micros(e.time), "2017-03-20T15:52:09.149449Z");
        assert_eq!(e.src_port, Some(0));
        assert_eq!(e.url.as_deref(), Some(r#"/search?q=<script>alert("x")</script>"#));
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(e.operation.as_deref(), Some("WAF Blocked"));
        assert_eq!(e.category.as_deref(), Some("OWASP 3.0"));
        assert_eq!(e.dst_ip, None);
        assert!(
            e.message.contains(r#"data: Matched Data: <script>alert("x")</script> found within ARGS:q (appgw AGW2)"#),
            "{}",
            e.message
        );
    }

    #[test]
    fn waf_custom_rule_allowed_is_success() {
        let rec = r#"{"time":"2024-01-01T00:00:00Z","category":"ApplicationGatewayFirewallLog","properties":{"clientIp":"10.1.1.1","requestUri":"/health","ruleSetType":"Custom","ruleId":"AllowProbe","action":"Allowed"}}"#;
        let e = one("waf.json", rec, Container::Lines);
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.category.as_deref(), Some("Custom"));
        assert_eq!(e.result_details.as_deref(), Some("Allowed AllowProbe"));
        assert_eq!(e.message, "WAF Allowed rule AllowProbe on /health from 10.1.1.1 (appgw)");
    }

    #[test]
    fn waf_log_analytics_row() {
        let rec = format!(
            r#"{{"TimeGenerated":"2024-05-28T08:58:53.29Z","Type":"AGWFirewallLogs","ClientIp":"198.51.100.9","ClientPort":4444,"RequestUri":"/.env.production","RuleSetType":"OWASP CRS","RuleSetVersion":"3.2","RuleId":"930130","Message":"Restricted File Access Attempt","Action":"Detected","DetailedMessage":"Pattern match","DetailedData":"{{/.env found within [REQUEST_FILENAME:/.env.production]}}","Hostname":"app.contoso.com","TransactionId":"c825","_ResourceId":"{AGW}"}}"#
        );
        let e = one("AGWFirewallLogs.json", &rec, Container::Array);
        assert_eq!(e.source_format, "loganalytics");
        assert_eq!(e.src_ip.as_deref(), Some("198.51.100.9"));
        assert_eq!(e.src_port, Some(4444));
        assert_eq!(e.url.as_deref(), Some("/.env.production"));
        assert_eq!(e.category.as_deref(), Some("OWASP CRS 3.2"));
        assert_eq!(e.operation.as_deref(), Some("WAF Detected"));
        assert_eq!(e.result.as_deref(), Some("NA"));
        assert_eq!(e.result_details.as_deref(), Some("Detected 930130: Restricted File Access Attempt"));
        assert_eq!(e.correlation_id.as_deref(), Some("c825"));
        assert_eq!(e.target_resource_id.as_deref(), Some(AGW));
        assert!(e.message.contains("data: {/.env found within [REQUEST_FILENAME:/.env.production]}"));
    }

    #[test]
    fn waf_azure_diagnostics_suffixed_row() {
        let rec = format!(
            r#"{{"TimeGenerated":"2024-05-01T10:00:00Z","Type":"AzureDiagnostics","Category":"ApplicationGatewayFirewallLog","ResourceId":"{AGW}","clientIp_s":"192.0.2.44","clientPort_d":"5555","requestUri_s":"/wp-login.php","ruleSetType_s":"OWASP_CRS","ruleSetVersion_s":"3.1.0","ruleId_s":"920320","Message":"Missing User Agent Header","action_s":"Matched","details_message_s":"Warning.","details_data_s":"","hostname_s":"192.0.2.1","transactionId_g":"4f88"}}"#
        );
        let e = one("AzureDiagnostics.json", &rec, Container::Array);
        assert_eq!(e.source, "waf");
        assert_eq!(e.src_ip.as_deref(), Some("192.0.2.44"));
        assert_eq!(e.src_port, Some(5555));
        assert_eq!(e.url.as_deref(), Some("/wp-login.php"));
        assert_eq!(e.category.as_deref(), Some("OWASP_CRS 3.1.0"));
        assert_eq!(e.result_details.as_deref(), Some("Matched 920320: Missing User Agent Header"));
        assert_eq!(e.dst_ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(e.correlation_id.as_deref(), Some("4f88"));
        assert_eq!(
            e.message,
            "WAF Matched rule 920320 (Missing User Agent Header) on /wp-login.php from 192.0.2.44 (appgw AGW1)"
        );
    }

    #[test]
    fn waf_missing_time_is_an_error() {
        let (r, _) = run_direct(
            parse_waf,
            r#"{"category":"ApplicationGatewayFirewallLog","properties":{"action":"Blocked"}}"#,
            Shape::Envelope,
        );
        assert!(r.expect_err("no time").contains("none of time, timeStamp"));
    }

    #[test]
    fn helpers() {
        assert_eq!(resource_name("/a/b/AGW1/"), Some("AGW1"));
        assert_eq!(resource_name(""), None);
        assert_eq!(client_query("SERVER-ROUTED=1&SERVER-STATUS=2"), None);
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(status_result(0), "NA");
        assert_eq!(ip_and_port("www.contoso.com:80"), None);
        let v = serde_json::json!({"properties": "{\"clientIP\":\"1.1.1.1\",\"x\":null}", "x": 2});
        let f = Fields::new(&v);
        assert_eq!(f.text(&["clientip"]).as_deref(), Some("1.1.1.1"));
        assert_eq!(f.int32(&["x"]), Some(2), "null in properties falls through");
    }
}
