//! Azure Bastion audit logs (`BastionAuditLogs`): the diagnostic envelope (fields under
//! `properties`) and Log Analytics `MicrosoftAzureBastionAuditLogs` rows (PascalCase columns,
//! `Duration` in milliseconds once a session has ended), plus `AzureDiagnostics`-style
//! suffixed columns.
//!
//! One event per record: who (`userName`) reached which VM (`targetResourceId`,
//! `targetVMIPAddress`) over which protocol (`ssh`/`rdp`) from where (`clientIpAddress`,
//! `clientPort`). Connects are `Logon` events and disconnects `Logoff`; the record's own
//! message (`Successfully Connected.`) is the result detail, and the `tunnelId`, shared by a
//! session's records, is the correlation id.

use super::appgw::{clip, record_time, resource_name, Fields, MSG_MAX};
use super::{Output, RecordCtx};
use crate::json::{split_ip_port, subscription_of};
use serde_json::Value;

/// Parses one Bastion audit record.
pub fn parse(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    let f = Fields::new(v);
    let mut e = ctx.event("bastion");
    e.time = record_time(v, ctx)?;
    e.category = f.category();
    e.operation = f.text(&["operationName"]);
    e.actor_username = f.text(&["userName"]);
    if let Some(ip) = f.text(&["clientIpAddress"]) {
        let (ip, port) = split_ip_port(&ip);
        e.src_ip = Some(ip);
        e.src_port = port;
    }
    if let Some(p) = f.int32(&["clientPort"]) {
        e.src_port = Some(p);
    }
    e.dst_ip = f.text(&["targetVMIPAddress"]);
    e.protocol = f.text(&["protocol"]);
    e.user_agent = f.text(&["userAgent"]);
    e.target_resource_id = f.text(&["targetResourceId"]);
    e.subscription_id = f
        .text(&["subscriptionId"])
        .map(|s| s.to_ascii_lowercase())
        .or_else(|| e.target_resource_id.as_deref().and_then(subscription_of))
        .or_else(|| f.resource_id().as_deref().and_then(subscription_of));
    e.correlation_id = f.text(&["tunnelId"]);
    let text = f.text(&["message"]);
    e.result_details = text.clone();
    e.result = Some(result_of_message(text.as_deref()).to_string());
    let op = e.operation.as_deref().unwrap_or("").to_ascii_lowercase();
    let (event_type, verb) = if op.ends_with("disconnect") {
        ("Logoff", "disconnected")
    } else if op.ends_with("connect") {
        ("Logon", "connected")
    } else {
        ("Other", "used Bastion")
    };
    e.event_type = Some(event_type.to_string());

    let mut m = e.actor_username.clone().unwrap_or_else(|| "unknown user".into());
    m.push(' ');
    m.push_str(verb);
    if let Some(p) = e.protocol.as_deref() {
        m.push_str(&format!(" over {p}"));
    }
    if let Some(ip) = e.src_ip.as_deref() {
        m.push_str(&format!(" from {ip}"));
    }
    let vm = e.target_resource_id.as_deref().and_then(resource_name);
    match (vm, e.dst_ip.as_deref()) {
        (Some(vm), Some(ip)) => m.push_str(&format!(" to {vm} ({ip})")),
        (Some(x), None) | (None, Some(x)) => m.push_str(&format!(" to {x}")),
        (None, None) => {}
    }
    if let Some(d) = f.int32(&["duration"]) {
        m.push_str(&format!(" after {d} ms"));
    }
    if let Some(t) = text.as_deref() {
        m.push_str(": ");
        m.push_str(&clip(t, MSG_MAX));
    }
    e.message = m;
    out.events.push(e);
    Ok(())
}

/// Success/Failure from Bastion's free-text message; NA when it says neither.
fn result_of_message(text: Option<&str>) -> &'static str {
    let Some(t) = text.map(str::to_ascii_lowercase) else {
        return "NA";
    };
    if t.contains("fail") || t.contains("denied") || t.contains("error") || t.contains("unable") {
        "Failure"
    } else if t.contains("success") || t.contains("connected") {
        "Success"
    } else {
        "NA"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Shape;
    use crate::parsers::appgw::run_direct;
    use crate::parsers::run_one;
    use crate::split::Container;
    use azir_model::format_micros;

    const VM: &str = "/SUBSCRIPTIONS/2FF277E1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/VM1";

    fn one(rec: &str, c: Container) -> azir_model::Event {
        let out = run_one("bastion.json", rec, c);
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        assert_eq!(out.events.len(), 1);
        out.events[0].clone()
    }

    #[test]
    fn envelope_connect() {
        let rec = format!(
            r#"{{"time":"2019-10-03T16:03:34.776Z","resourceId":"/SUBSCRIPTIONS/2FF277E1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/BASTIONHOSTS/BAS1","operationName":"Microsoft.Network/BastionHost/connect","category":"BastionAuditLogs","level":"Informational","location":"eastus","properties":{{"userName":"azureuser","userAgent":"Mozilla/5.0","clientIpAddress":"131.107.159.86","clientPort":24039,"protocol":"ssh","targetResourceId":"{VM}","subscriptionId":"2FF277E1","message":"Successfully Connected.","resourceType":"VM","targetVMIPAddress":"172.16.1.5","tunnelId":"712faceb"}}}}"#
        );
        let e = one(&rec, Container::Lines);
        assert_eq!(e.source, "bastion");
        assert_eq!(e.source_format, "diag");
        assert_eq!(format_micros(e.time), "2019-10-03T16:03:34.776000Z");
        assert_eq!(e.category.as_deref(), Some("BastionAuditLogs"));
        assert_eq!(e.operation.as_deref(), Some("Microsoft.Network/BastionHost/connect"));
        assert_eq!(e.event_type.as_deref(), Some("Logon"));
        assert_eq!(e.actor_username.as_deref(), Some("azureuser"));
        assert_eq!(e.src_ip.as_deref(), Some("131.107.159.86"));
        assert_eq!(e.src_port, Some(24039));
        assert_eq!(e.dst_ip.as_deref(), Some("172.16.1.5"));
        assert_eq!(e.protocol.as_deref(), Some("ssh"));
        assert_eq!(e.user_agent.as_deref(), Some("Mozilla/5.0"));
        assert_eq!(e.target_resource_id.as_deref(), Some(VM));
        assert_eq!(e.subscription_id.as_deref(), Some("2ff277e1"));
        assert_eq!(e.correlation_id.as_deref(), Some("712faceb"));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.result_details.as_deref(), Some("Successfully Connected."));
        assert_eq!(
            e.message,
            "azureuser connected over ssh from 131.107.159.86 to VM1 (172.16.1.5): Successfully Connected."
        );
    }

    #[test]
    fn log_analytics_disconnect_with_duration() {
        let rec = format!(
            r#"{{"TimeGenerated":"2024-02-01T09:30:00Z","Time":"2024-02-01T09:29:59Z","Type":"MicrosoftAzureBastionAuditLogs","OperationName":"Microsoft.Network/BastionHost/disconnect","UserName":"eve@contoso.com","ClientIpAddress":"198.51.100.23","ClientPort":"50123","Protocol":"rdp","TargetResourceId":"{VM}","TargetVMIPAddress":"10.0.0.5","TunnelId":"t-9","Message":"Session ended.","Duration":1800000,"_ResourceId":"/subscriptions/S3/resourceGroups/rg/providers/Microsoft.Network/bastionHosts/b"}}"#
        );
        let e = one(&rec, Container::Array);
        assert_eq!(e.source_format, "loganalytics");
        assert_eq!(format_micros(e.time), "2024-02-01T09:30:00.000000Z");
        assert_eq!(e.category.as_deref(), Some("MicrosoftAzureBastionAuditLogs"));
        assert_eq!(e.event_type.as_deref(), Some("Logoff"));
        assert_eq!(e.actor_username.as_deref(), Some("eve@contoso.com"));
        assert_eq!(e.src_port, Some(50123));
        assert_eq!(e.protocol.as_deref(), Some("rdp"));
        assert_eq!(e.correlation_id.as_deref(), Some("t-9"));
        assert_eq!(e.result.as_deref(), Some("NA"));
        assert_eq!(e.subscription_id.as_deref(), Some("2ff277e1"));
        assert_eq!(
            e.message,
            "eve@contoso.com disconnected over rdp from 198.51.100.23 to VM1 (10.0.0.5) after 1800000 ms: Session ended."
        );
    }

    #[test]
    fn suffixed_row_and_failure() {
        let rec = r#"{"TimeGenerated":"2024-02-01T09:30:00Z","Type":"AzureDiagnostics","Category":"BastionAuditLogs","OperationName":"Microsoft.Network/BastionHost/connect","userName_s":"<img src=x onerror=alert(1)>","clientIpAddress_s":"203.0.113.4","clientPort_d":443.0,"protocol_s":"ssh","targetVMIPAddress_s":"10.0.0.9","message_s":"Failed to connect: authentication failed"}"#;
        let e = one(rec, Container::Lines);
        assert_eq!(e.actor_username.as_deref(), Some("<img src=x onerror=alert(1)>"));
        assert_eq!(e.src_ip.as_deref(), Some("203.0.113.4"));
        assert_eq!(e.src_port, Some(443));
        assert_eq!(e.dst_ip.as_deref(), Some("10.0.0.9"));
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(
            e.message,
            "<img src=x onerror=alert(1)> connected over ssh from 203.0.113.4 to 10.0.0.9: Failed to connect: authentication failed"
        );
    }

    #[test]
    fn missing_time_is_an_error() {
        let (r, _) =
            run_direct(parse, r#"{"category":"BastionAuditLogs","properties":{"userName":"x"}}"#, Shape::Envelope);
        assert!(r.expect_err("no time").contains("none of time"));
        let (r, _) = run_direct(
            parse,
            r#"{"Type":"MicrosoftAzureBastionAuditLogs","TimeGenerated":"not a time"}"#,
            Shape::LogAnalytics,
        );
        assert!(r.expect_err("bad time").contains("\"not a time\" in field TimeGenerated"));
    }
}
