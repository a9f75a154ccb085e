//! Entra sign-ins: Graph `signIn` (v1.0 and beta), the diagnostic envelope of the four sign-in
//! categories (SignInLogs, NonInteractiveUserSignInLogs, ServicePrincipalSignInLogs,
//! ManagedIdentitySignInLogs, plus ADFSSignInLogs) and Log Analytics `SigninLogs`-style rows.
//!
//! The error code is the fact analysts pivot on and it arrives as `status.errorCode` (int,
//! Graph), `resultType` (string, envelope) or `ResultType` (LA): all become the text
//! `EventResultDetails`, and `0` alone means success.

use super::{Output, RecordCtx};
use crate::detect::Shape;
use crate::json::{first_text, get, int, obj, path, text, text_at};
use serde_json::Value;

/// Parses one sign-in record.
pub fn parse(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    let mut e = ctx.event("signin");
    // The Graph-shaped body: the record itself, or `properties` of an envelope.
    let body: &Value;
    match ctx.shape {
        Shape::Envelope => {
            body = get(v, "properties").filter(|p| p.is_object()).unwrap_or(v);
            e.time = ctx.time(v, &[&["time"], &["properties", "createdDateTime"]])?;
            e.category = text_at(v, &["category"]);
            e.operation = text_at(v, &["operationName"]);
            e.tenant_id = first_text(v, &[&["tenantId"], &["properties", "homeTenantId"]]);
        }
        Shape::Graph => {
            body = v;
            e.time = ctx.time(v, &[&["createdDateTime"]])?;
            e.category = Some(category_from_types(v).to_string());
            e.operation = Some("Sign-in activity".into());
            e.tenant_id = first_text(v, &[&["homeTenantId"], &["resourceTenantId"]]);
        }
        Shape::LogAnalytics => {
            body = v;
            e.time = ctx.time(v, &[&["TimeGenerated"], &["TimeGenerated [UTC]"], &["CreatedDateTime"]])?;
            e.category = first_text(v, &[&["Category"], &["Type"]]);
            e.operation = first_text(v, &[&["OperationName"]]).or(Some("Sign-in activity".into()));
            e.tenant_id = first_text(v, &[&["AADTenantId"], &["HomeTenantId"]]);
        }
        _ => return Err("not a sign-in shape".into()),
    }
    e.event_type = Some("Logon".into());
    e.actor_username = first_text(body, &[&["userPrincipalName"], &["servicePrincipalName"], &["userDisplayName"]])
        .or_else(|| text_at(v, &["identity"]));
    e.actor_user_id = first_text(body, &[&["userId"], &["servicePrincipalId"]]);
    e.actor_app_id = text_at(body, &["appId"]);
    e.actor_app_name = text_at(body, &["appDisplayName"]);
    e.target_app_name = first_text(body, &[&["resourceDisplayName"], &["ResourceDisplayName"]]);
    e.target_resource_id = first_text(body, &[&["resourceId"], &["ResourceIdentity"]]);
    e.src_ip = first_text(body, &[&["ipAddress"], &["IPAddress"]]).or_else(|| text_at(v, &["callerIpAddress"]));
    e.user_agent = text_at(body, &["userAgent"]);
    e.correlation_id = first_text(body, &[&["correlationId"]]).or_else(|| text_at(v, &["correlationId"]));
    // Location: Graph object, LA `LocationDetails` (dynamic, maybe a JSON string), or the
    // envelope's / LA's two-letter `location`.
    let loc = obj(get(body, "location").filter(|l| !l.is_string()).or_else(|| get(body, "LocationDetails")));
    if let Some(loc) = loc.as_deref() {
        e.country = text_at(loc, &["countryOrRegion"]);
        e.city = text_at(loc, &["city"]);
    }
    if e.country.is_none() {
        e.country = text(get(body, "location").filter(|l| l.is_string())).or_else(|| text_at(v, &["location"]));
    }
    // Result: error code from the richest place available.
    let status = obj(get(body, "status"));
    let code = status
        .as_deref()
        .and_then(|s| int(get(s, "errorCode")))
        .or_else(|| int(get(v, "resultType")))
        .or_else(|| int(get(body, "ResultType")));
    let reason = status
        .as_deref()
        .and_then(|s| text_at(s, &["failureReason"]))
        .or_else(|| first_text(v, &[&["resultDescription"], &["ResultDescription"]]));
    match code {
        Some(0) => {
            e.result = Some("Success".into());
            e.result_details = Some("0".into());
        }
        Some(c) => {
            e.result = Some("Failure".into());
            e.result_details = Some(c.to_string());
        }
        None => e.result = Some("NA".into()),
    }
    let app = e.actor_app_name.as_deref().or(e.target_app_name.as_deref()).unwrap_or("unknown app");
    let who = e.actor_username.as_deref().unwrap_or("unknown user");
    let from = match (&e.src_ip, &e.country) {
        (Some(ip), Some(c)) => format!(" from {ip} ({c})"),
        (Some(ip), None) => format!(" from {ip}"),
        _ => String::new(),
    };
    let outcome = match (code, reason.as_deref()) {
        (Some(0), _) => "success".to_string(),
        (Some(c), Some(r)) if !r.is_empty() && r != "Other." => format!("failure {c} ({r})"),
        (Some(c), _) => format!("failure {c}"),
        (None, _) => "result unknown".to_string(),
    };
    let kind = match e.category.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("noninteractiveusersigninlogs") | Some("aadnoninteractiveusersigninlogs") => "non-interactive sign-in",
        Some("serviceprincipalsigninlogs") | Some("aadserviceprincipalsigninlogs") => "service principal sign-in",
        Some("managedidentitysigninlogs") | Some("aadmanagedidentitysigninlogs") => "managed identity sign-in",
        _ => "sign-in",
    };
    e.message = format!("{who} {kind} to {app}{from}: {outcome}");
    if let Some(mfa) = path(body, &["authenticationRequirement"]).and_then(Value::as_str) {
        if mfa == "multiFactorAuthentication" && code == Some(0) {
            e.message.push_str(" (MFA)");
        }
    }
    out.events.push(e);
    Ok(())
}

/// The diagnostic category a Graph sign-in would have, from `signInEventTypes` / `isInteractive`.
fn category_from_types(v: &Value) -> &'static str {
    let types: Vec<&str> = get(v, "signInEventTypes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if types.contains(&"servicePrincipal") {
        "ServicePrincipalSignInLogs"
    } else if types.contains(&"managedIdentity") {
        "ManagedIdentitySignInLogs"
    } else if types.contains(&"nonInteractiveUser") || get(v, "isInteractive") == Some(&Value::Bool(false)) {
        "NonInteractiveUserSignInLogs"
    } else {
        "SignInLogs"
    }
}

#[cfg(test)]
mod tests {
    use crate::parsers::run_one;
    use crate::split::Container;

    #[test]
    fn graph_signin_failure() {
        let rec = r#"{"id":"g1","createdDateTime":"2021-06-30T16:34:32Z","userPrincipalName":"u@contoso.com","userId":"uid",
 "appId":"c44b4083","appDisplayName":"Azure Portal","ipAddress":"203.0.113.9","clientAppUsed":"Browser","isInteractive":true,
 "signInEventTypes":["interactiveUser"],"conditionalAccessStatus":"notApplied","resourceDisplayName":"Windows Azure Service Management API",
 "status":{"errorCode":50126,"failureReason":"Error validating credentials due to invalid username or password."},
 "location":{"city":"Redmond","countryOrRegion":"US","geoCoordinates":{}},"userAgent":"Mozilla/5.0","correlationId":"corr"}"#;
        let out = run_one("signins.json", rec, Container::Value);
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        let e = &out.events[0];
        assert_eq!(e.source_format, "graph");
        assert_eq!(e.category.as_deref(), Some("SignInLogs"));
        assert_eq!(e.actor_username.as_deref(), Some("u@contoso.com"));
        assert_eq!(e.actor_user_id.as_deref(), Some("uid"));
        assert_eq!(e.actor_app_name.as_deref(), Some("Azure Portal"));
        assert_eq!(e.target_app_name.as_deref(), Some("Windows Azure Service Management API"));
        assert_eq!(e.src_ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(e.country.as_deref(), Some("US"));
        assert_eq!(e.city.as_deref(), Some("Redmond"));
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(e.result_details.as_deref(), Some("50126"));
        assert_eq!(e.user_agent.as_deref(), Some("Mozilla/5.0"));
        assert_eq!(e.event_type.as_deref(), Some("Logon"));
        assert_eq!(e.message, "u@contoso.com sign-in to Azure Portal from 203.0.113.9 (US): failure 50126 (Error validating credentials due to invalid username or password.)");
    }

    #[test]
    fn envelope_with_string_result_type_and_local_offset() {
        let rec = r#"{"time":"2019-10-18T09:45:48.0729893Z","resourceId":"/tenants/t1/providers/Microsoft.aadiam","operationName":"Sign-in activity","operationVersion":"1.0","category":"NonInteractiveUserSignInLogs","tenantId":"t1","resultType":"0","resultSignature":"None","durationMs":0,"callerIpAddress":"81.2.69.144","correlationId":"c","identity":"Test User","Level":4,"location":"FR","properties":{"id":"p","createdDateTime":"2019-10-18T04:45:48.0729893-05:00","userPrincipalName":"u@contoso.com","appDisplayName":"Office 365","ipAddress":"81.2.69.144","isInteractive":false,"status":{"errorCode":0},"conditionalAccessStatus":"notApplied"}}"#;
        let out = run_one(
            "insights-logs-noninteractiveusersigninlogs/y=2019/m=10/d=18/h=09/m=00/PT1H.json",
            rec,
            Container::Lines,
        );
        let e = &out.events[0];
        assert_eq!(e.source_format, "diag");
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.country.as_deref(), Some("FR"));
        assert_eq!(e.tenant_id.as_deref(), Some("t1"));
        assert_eq!(azir_model::format_micros(e.time), "2019-10-18T09:45:48.072989Z");
        assert!(e.message.starts_with("u@contoso.com non-interactive sign-in to Office 365"), "{}", e.message);
    }

    #[test]
    fn event_hub_envelope_is_eventhub_format() {
        let rec = r#"{"time":"2019-10-18T09:45:48Z","category":"SignInLogs","resultType":"50053","properties":{"userPrincipalName":"x@y","status":{"errorCode":"50053"}}}"#;
        let out = run_one("eh.json", rec, Container::Records);
        let e = &out.events[0];
        assert_eq!(e.source_format, "eventhub");
        assert_eq!(e.result_details.as_deref(), Some("50053"));
    }

    #[test]
    fn log_analytics_csv_row_with_nested_json_strings() {
        let rec = r#"{"TimeGenerated [UTC]":"5/1/2024, 10:00:00.000 AM","UserPrincipalName":"m@contoso.com","IPAddress":"198.51.100.20","ResultType":"500121","ResultDescription":"Authentication failed during strong authentication request.","AppDisplayName":"Azure Portal","Location":"NL","LocationDetails":"{\"city\":\"Amsterdam\",\"countryOrRegion\":\"NL\"}","Status":"{\"errorCode\":500121}","Type":"SigninLogs"}"#;
        let out = run_one("SigninLogs.csv", rec, Container::Lines);
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        let e = &out.events[0];
        assert_eq!(e.source_format, "loganalytics");
        assert_eq!(e.result_details.as_deref(), Some("500121"));
        assert_eq!(e.city.as_deref(), Some("Amsterdam"));
        assert_eq!(e.src_ip.as_deref(), Some("198.51.100.20"));
        assert_eq!(azir_model::format_micros(e.time), "2024-05-01T10:00:00.000000Z");
    }
}
