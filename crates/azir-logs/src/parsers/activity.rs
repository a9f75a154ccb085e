//! Azure Activity Log in all its shapes: ARM REST EventData (`eventTimestamp`, value/localizedValue
//! objects), the resource-log envelope of diagnostic blobs and Event Hub (`time`, `resultType`,
//! `identity.claims`), Log Analytics `AzureActivity` rows (`_d` dynamic columns preferred over
//! their string twins) and the portal's "Download as CSV" (lossy: no claims).

use super::{result_of, Output, RecordCtx};
use crate::detect::Shape;
use crate::json::{first_text, get, obj, path, split_ip_port, subscription_of, text, text_at};
use serde_json::Value;

const UPN: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn";
const NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";
const OID: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";
const TID: &str = "http://schemas.microsoft.com/identity/claims/tenantid";

/// `key.value` of ARM's `{value, localizedValue}` objects, or `key` itself when an exporter
/// flattened it to a string (`Get-AzActivityLog | ConvertTo-Json` writes both forms).
fn value_of(v: &Value, key: &str) -> Option<String> {
    text(path(v, &[key, "value"])).or_else(|| text(get(v, key).filter(|x| x.is_string())))
}

/// A claim from a claims object (which may be a JSON string in LA exports).
fn claim(claims: Option<&Value>, keys: &[&str]) -> Option<String> {
    let c = obj(claims)?;
    keys.iter().find_map(|k| text(get(&c, k)))
}

/// Parses one Activity Log record.
pub fn parse(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    let mut e = ctx.event("activity");
    let claims: Option<&Value>;
    match ctx.shape {
        Shape::Rest => {
            e.time = ctx.time(v, &[&["eventTimestamp"], &["submissionTimestamp"]])?;
            e.operation = value_of(v, "operationName").or_else(|| text_at(v, &["authorization", "action"]));
            e.category = value_of(v, "category");
            let status = value_of(v, "status");
            let sub = value_of(v, "subStatus");
            e.result_details = join_status(status.as_deref(), sub.as_deref());
            e.result = status.as_deref().map(|s| result_of(s).to_string());
            claims = get(v, "claims");
            e.actor_username = text_at(v, &["caller"]);
            e.src_ip = first_text(v, &[&["httpRequest", "clientIpAddress"], &["claims", "ipaddr"]]);
            e.http_method = text_at(v, &["httpRequest", "method"]);
            e.target_resource_id = text_at(v, &["resourceId"]);
            e.subscription_id = text_at(v, &["subscriptionId"]);
            e.correlation_id = text_at(v, &["correlationId"]);
            e.tenant_id = text_at(v, &["tenantId"]);
        }
        Shape::Envelope => {
            e.time = ctx.time(v, &[&["time"], &["timeStamp"]])?;
            e.operation = first_text(v, &[&["operationName"], &["identity", "authorization", "action"]]);
            e.category = text_at(v, &["category"]);
            let status = text_at(v, &["resultType"]);
            let sig = text_at(v, &["resultSignature"]);
            e.result_details = join_status(status.as_deref(), sig.as_deref());
            e.result = status.as_deref().map(|s| result_of(s).to_string());
            claims = path(v, &["identity", "claims"]);
            e.actor_username = text_at(v, &["caller"]);
            e.src_ip = first_text(v, &[&["callerIpAddress"], &["identity", "claims", "ipaddr"]]);
            e.target_resource_id = text_at(v, &["resourceId"]);
            e.correlation_id = text_at(v, &["correlationId"]);
            e.tenant_id = text_at(v, &["tenantId"]);
        }
        Shape::LogAnalytics => {
            e.time = ctx.time(v, &[&["TimeGenerated"], &["TimeGenerated [UTC]"], &["EventSubmissionTimestamp"]])?;
            e.operation = first_text(v, &[&["OperationNameValue"], &["OperationName"]]);
            e.category = first_text(v, &[&["CategoryValue"], &["Category"]]);
            let status = first_text(v, &[&["ActivityStatusValue"], &["ActivityStatus"]]);
            let sub = first_text(v, &[&["ActivitySubstatusValue"], &["ActivitySubstatus"]]);
            e.result_details = join_status(status.as_deref(), sub.as_deref());
            e.result = status.as_deref().map(|s| result_of(s).to_string());
            claims = get(v, "Claims_d").or_else(|| get(v, "Claims"));
            e.actor_username = text_at(v, &["Caller"]);
            e.src_ip = first_text(v, &[&["CallerIpAddress"]]);
            e.target_resource_id = first_text(v, &[&["_ResourceId"], &["ResourceId"]]);
            e.subscription_id = first_text(v, &[&["SubscriptionId"], &["_SubscriptionId"]]);
            e.correlation_id = text_at(v, &["CorrelationId"]);
            // `TenantId` in Log Analytics is the workspace id, not the Entra tenant: not copied.
        }
        Shape::PortalCsv => {
            e.time = ctx.time(v, &[&["Time"], &["Event timestamp"]])?;
            e.operation = text_at(v, &["Operation name"]);
            e.category = text_at(v, &["Event category"]);
            let status = text_at(v, &["Status"]);
            e.result_details = status.clone();
            e.result = status.as_deref().map(|s| result_of(s).to_string());
            claims = None;
            e.actor_username = text_at(v, &["Event initiated by"]);
            e.target_resource_id = first_text(v, &[&["Resource"], &["Resource id"], &["Id"]]);
            e.subscription_id = text_at(v, &["Subscription"]);
            e.correlation_id = text_at(v, &["Correlation id"]);
        }
        Shape::Graph => return Err("a Graph object is not an Activity Log record".into()),
    }
    if e.actor_username.is_none() {
        e.actor_username = claim(claims, &[UPN, NAME, "name", "appid"]);
    }
    e.actor_user_id = claim(claims, &[OID, "oid"]);
    e.actor_app_id = claim(claims, &["appid", "azp"]);
    if e.tenant_id.is_none() {
        e.tenant_id = claim(claims, &[TID, "tid"]);
    }
    if e.src_ip.is_none() {
        e.src_ip = claim(claims, &["ipaddr"]);
    }
    if let Some(ip) = e.src_ip.take() {
        let (ip, port) = split_ip_port(&ip);
        e.src_ip = Some(ip);
        e.src_port = port;
    }
    if e.subscription_id.is_none() {
        e.subscription_id = e.target_resource_id.as_deref().and_then(subscription_of);
    }
    // Resource ids arrive in mixed case: subscription ids are stored lower-case everywhere.
    e.subscription_id = e.subscription_id.map(|s| s.to_ascii_lowercase());
    e.event_type = Some(event_type(e.operation.as_deref().unwrap_or("")).to_string());
    e.message = message(&e);
    out.events.push(e);
    Ok(())
}

fn join_status(status: Option<&str>, sub: Option<&str>) -> Option<String> {
    match (status, sub) {
        (Some(s), Some(d)) if !d.is_empty() && d != s => Some(format!("{s} ({d})")),
        (Some(s), _) => Some(s.to_string()),
        (None, Some(d)) => Some(d.to_string()),
        (None, None) => None,
    }
}

/// ASIM AuditEvent type from the ARM operation's verb.
pub fn event_type(op: &str) -> &'static str {
    let verb = op.rsplit('/').next().unwrap_or("").to_ascii_lowercase();
    match verb.as_str() {
        "write" => "Set",
        "delete" => "Delete",
        "read" => "Read",
        "action" => "Execute",
        _ => "Other",
    }
}

fn verb_phrase(op: &str) -> &'static str {
    match event_type(op) {
        "Set" => "wrote",
        "Delete" => "deleted",
        "Read" => "read",
        "Execute" => "ran",
        _ => "did",
    }
}

/// `type/name` of the last resource in an ARM id (`networkSecurityGroups/nsg1`).
pub fn short_resource(id: &str) -> String {
    let parts: Vec<&str> = id.trim_end_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    match parts.len() {
        0 => String::new(),
        1 => parts[0].to_string(),
        n => format!("{}/{}", parts[n - 2], parts[n - 1]),
    }
}

fn message(e: &azir_model::Event) -> String {
    let op = e.operation.as_deref().unwrap_or("unknown operation");
    let who = e.actor_username.as_deref().unwrap_or("unknown caller");
    let target = e.target_resource_id.as_deref().map(short_resource).unwrap_or_default();
    let from = e.src_ip.as_deref().map(|ip| format!(" from {ip}")).unwrap_or_default();
    let status = e.result_details.as_deref().unwrap_or("no status");
    format!("{who} {} {target} ({op}){from}: {status}", verb_phrase(op))
}

#[cfg(test)]
mod tests {
    use crate::parsers::run_one;
    use crate::split::Container;

    #[test]
    fn rest_event_data() {
        let rec = r#"{"caller":"rob@contoso.com","channels":"Operation","correlationId":"c-1","eventDataId":"e-1",
 "eventName":{"value":"EndRequest"},"category":{"value":"Administrative"},
 "eventTimestamp":"2018-01-29T20:42:31.3810679Z","level":"Informational",
 "operationName":{"value":"Microsoft.Network/networkSecurityGroups/write"},
 "resourceId":"/subscriptions/SUB-1/resourcegroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg1",
 "status":{"value":"Succeeded"},"subStatus":{"value":"Created"},"claims":{"ipaddr":"198.51.100.7","appid":"app-1","http://schemas.microsoft.com/identity/claims/objectidentifier":"oid-1"},
 "httpRequest":{"clientIpAddress":"198.51.100.7","method":"PUT"},"properties":{"statusCode":"Created"}}"#;
        let out = run_one("activity.json", rec, Container::Value);
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        let e = &out.events[0];
        assert_eq!(e.source, "activity");
        assert_eq!(e.source_format, "rest");
        assert_eq!(azir_model::format_micros(e.time), "2018-01-29T20:42:31.381067Z");
        assert_eq!(e.operation.as_deref(), Some("Microsoft.Network/networkSecurityGroups/write"));
        assert_eq!(e.category.as_deref(), Some("Administrative"));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.result_details.as_deref(), Some("Succeeded (Created)"));
        assert_eq!(e.actor_username.as_deref(), Some("rob@contoso.com"));
        assert_eq!(e.actor_user_id.as_deref(), Some("oid-1"));
        assert_eq!(e.actor_app_id.as_deref(), Some("app-1"));
        assert_eq!(e.src_ip.as_deref(), Some("198.51.100.7"));
        assert_eq!(e.http_method.as_deref(), Some("PUT"));
        assert_eq!(e.subscription_id.as_deref(), Some("sub-1"));
        assert_eq!(e.event_type.as_deref(), Some("Set"));
        assert_eq!(e.message, "rob@contoso.com wrote networkSecurityGroups/nsg1 (Microsoft.Network/networkSecurityGroups/write) from 198.51.100.7: Succeeded (Created)");
    }

    #[test]
    fn powershell_export_with_flattened_values_and_ms_dates() {
        let rec = r#"{"Caller":"rob@contoso.com","EventDataId":"e1","EventTimestamp":"/Date(1517258551381)/","OperationName":"Microsoft.Network/networkSecurityGroups/write","Category":"Administrative","Status":"Succeeded","SubStatus":"","ResourceId":"/subscriptions/S/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg1","HttpRequest":{"ClientIpAddress":"198.51.100.7","Method":"PUT"}}"#;
        let out = run_one("Get-AzActivityLog.json", rec, Container::Array);
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        let e = &out.events[0];
        assert_eq!(azir_model::format_micros(e.time), "2018-01-29T20:42:31.381000Z");
        assert_eq!(e.operation.as_deref(), Some("Microsoft.Network/networkSecurityGroups/write"));
        assert_eq!(e.category.as_deref(), Some("Administrative"));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.src_ip.as_deref(), Some("198.51.100.7"));
        assert_eq!(e.actor_username.as_deref(), Some("rob@contoso.com"));
    }

    #[test]
    fn diagnostic_envelope_with_claims() {
        let rec = r#"{"time":"2020-06-12T13:07:46.766Z","resourceId":"/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/VM1","correlationId":"c","operationName":"Microsoft.Compute/virtualMachines/runCommand/action","level":"Information","resultType":"Success","resultSignature":"Succeeded.OK","category":"Administrative","callerIpAddress":"203.0.113.5","identity":{"authorization":{"action":"x"},"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"a@contoso.com","appid":"app"}},"properties":{"statusCode":"OK"}}"#;
        let out = run_one("y=2020/m=06/d=12/h=13/m=00/PT1H.json", rec, Container::Lines);
        let e = &out.events[0];
        assert_eq!(e.source_format, "diag");
        assert_eq!(e.actor_username.as_deref(), Some("a@contoso.com"));
        assert_eq!(e.subscription_id.as_deref(), Some("s1"));
        assert_eq!(e.event_type.as_deref(), Some("Execute"));
        assert_eq!(e.result_details.as_deref(), Some("Success (Succeeded.OK)"));
        assert_eq!(e.src_ip.as_deref(), Some("203.0.113.5"));
    }

    #[test]
    fn log_analytics_row_with_json_string_claims() {
        let rec = r#"{"TimeGenerated":"2024-05-01T10:00:00Z","Type":"AzureActivity","OperationNameValue":"MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE","ActivityStatusValue":"Success","Caller":"eve@contoso.com","CallerIpAddress":"198.51.100.9","Claims":"{\"appid\":\"a1\",\"http://schemas.microsoft.com/identity/claims/objectidentifier\":\"o1\"}","_ResourceId":"/subscriptions/s2/providers/Microsoft.Authorization/roleAssignments/r1","CategoryValue":"Administrative"}"#;
        let out = run_one("la.json", rec, Container::Array);
        let e = &out.events[0];
        assert_eq!(e.source_format, "loganalytics");
        assert_eq!(e.actor_app_id.as_deref(), Some("a1"));
        assert_eq!(e.actor_user_id.as_deref(), Some("o1"));
        assert_eq!(e.subscription_id.as_deref(), Some("s2"));
        assert_eq!(e.event_type.as_deref(), Some("Set"));
    }

    #[test]
    fn portal_csv_row() {
        let rec = r#"{"Correlation id":"c9","Operation name":"Delete Virtual Machine","Status":"Succeeded","Event category":"Administrative","Level":"Informational","Time":"2024-05-01T10:00:00Z","Subscription":"Pay-As-You-Go","Event initiated by":"bob@contoso.com","Resource type":"Microsoft.Compute/virtualMachines","Resource group":"rg","Resource":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm9"}"#;
        let out = run_one("portal.csv", rec, Container::Lines);
        let e = &out.events[0];
        assert_eq!(e.source_format, "csv");
        assert_eq!(e.actor_username.as_deref(), Some("bob@contoso.com"));
        assert_eq!(e.correlation_id.as_deref(), Some("c9"));
        assert_eq!(e.result.as_deref(), Some("Success"));
    }

    #[test]
    fn missing_time_is_quarantined_with_reason() {
        let out =
            run_one("x.json", r#"{"eventTimestamp":"yesterday","operationName":{"value":"x"}}"#, Container::Lines);
        assert!(out.events.is_empty());
        assert!(
            out.bad[0].reason.contains("unreadable timestamp \"yesterday\" in field eventTimestamp"),
            "{:?}",
            out.bad
        );
        assert_eq!(out.bad[0].parser.as_deref(), Some("activity"));
    }
}
