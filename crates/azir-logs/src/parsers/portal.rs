//! The Entra admin center's "Download" CSVs of sign-ins and audit logs: flat, human-labelled
//! columns (`Date (UTC)`, `Username`, `IP address`, `Sign-in error code`, `ActorUserPrincipalName`,
//! `Target1DisplayName`, …) instead of the Graph shape. Responders are often handed exactly these
//! files, so they are read as first-class exports; column names are matched case-insensitively
//! and unknown columns stay in `raw`.

use super::{result_of, Output, RecordCtx};
use crate::json::{first_text, int, text_at};
use serde_json::Value;

/// A sign-in row of the portal CSV.
pub fn parse_signin(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    let mut e = ctx.event("signin");
    e.time = ctx.time(v, &[&["Date (UTC)"], &["Date"], &["CreatedDateTime"]])?;
    e.event_type = Some("Logon".into());
    e.operation = Some("Sign-in activity".into());
    e.category = Some("SignInLogs".into());
    e.actor_username = first_text(v, &[&["Username"], &["User principal name"], &["User"]]);
    e.actor_user_id = first_text(v, &[&["User ID"], &["User id"]]);
    e.actor_app_name = first_text(v, &[&["Application"]]);
    e.actor_app_id = first_text(v, &[&["Application ID"], &["Application Id"]]);
    e.target_app_name = first_text(v, &[&["Resource"]]);
    e.target_resource_id = first_text(v, &[&["Resource ID"], &["Resource Id"]]);
    e.src_ip = first_text(v, &[&["IP address"], &["IP Address"]]);
    e.user_agent = first_text(v, &[&["User agent"]]);
    e.correlation_id = first_text(v, &[&["Correlation ID"], &["Correlation Id"]]);
    e.tenant_id = first_text(v, &[&["Home tenant ID"], &["Resource tenant ID"]]);
    // `Location` is "City, State, CC": the country code is the last part.
    if let Some(loc) = text_at(v, &["Location"]) {
        let parts: Vec<&str> = loc.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
        e.country = parts.last().map(|c| c.to_string());
        if parts.len() > 1 {
            e.city = parts.first().map(|c| c.to_string());
        }
    }
    let code = int(crate::json::get(v, "Sign-in error code"));
    let status = text_at(v, &["Status"]);
    e.result = Some(
        match (code, status.as_deref()) {
            (Some(0), _) => "Success",
            (Some(_), _) => "Failure",
            (None, Some(s)) if s.eq_ignore_ascii_case("interrupted") => "Failure",
            (None, Some(s)) => result_of(s),
            (None, None) => "NA",
        }
        .to_string(),
    );
    e.result_details = code.map(|c| c.to_string()).or_else(|| status.clone());
    let reason = text_at(v, &["Failure reason"]).filter(|r| r != "Other.");
    let who = e.actor_username.as_deref().unwrap_or("unknown user");
    let app = e.actor_app_name.as_deref().unwrap_or("unknown app");
    let from = match (&e.src_ip, &e.country) {
        (Some(ip), Some(c)) => format!(" from {ip} ({c})"),
        (Some(ip), None) => format!(" from {ip}"),
        _ => String::new(),
    };
    let outcome = match (code, reason) {
        (Some(0), _) => "success".to_string(),
        (Some(c), Some(r)) => format!("failure {c} ({r})"),
        (Some(c), None) => format!("failure {c}"),
        (None, _) => status.unwrap_or_else(|| "result unknown".into()),
    };
    e.message = format!("{who} sign-in to {app}{from}: {outcome}");
    out.events.push(e);
    Ok(())
}

/// An audit row of the portal CSV.
pub fn parse_audit(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    let mut e = ctx.event("audit");
    e.time = ctx.time(v, &[&["Date (UTC)"], &["Date"], &["ActivityDateTime"]])?;
    e.operation = first_text(v, &[&["Activity"]]);
    e.category = first_text(v, &[&["Category"]]);
    let result = first_text(v, &[&["Result"]]);
    e.result = Some(result.as_deref().map(result_of).unwrap_or("NA").to_string());
    e.result_details = first_text(v, &[&["ResultReason"], &["Result reason"]]).or(result);
    e.actor_username = first_text(v, &[&["ActorUserPrincipalName"], &["ActorDisplayName"]]);
    e.actor_user_id = first_text(v, &[&["ActorObjectId"]]);
    if first_text(v, &[&["ActorType"]]).is_some_and(|t| !t.eq_ignore_ascii_case("user")) {
        e.actor_app_name = first_text(v, &[&["ActorDisplayName"]]);
        e.actor_app_id = first_text(v, &[&["ActorAppId"], &["ActorServicePrincipalId"]]);
    }
    e.src_ip = first_text(v, &[&["IPAddress"], &["IP address"]]);
    e.target_username = first_text(v, &[&["Target1UserPrincipalName"]]);
    e.target_resource_id = first_text(v, &[&["Target1ObjectId"]]);
    e.target_app_name = first_text(v, &[&["Target1DisplayName"]]);
    e.correlation_id = first_text(v, &[&["CorrelationId"], &["Correlation ID"]]);
    let verb = e.operation.as_deref().unwrap_or("").split_whitespace().next().unwrap_or("").to_ascii_lowercase();
    e.event_type = Some(
        match verb.as_str() {
            "add" | "create" | "invite" | "register" => "Create",
            "update" | "set" | "change" | "reset" | "enable" | "disable" | "consent" => "Set",
            "delete" | "remove" | "hard" => "Delete",
            _ => "Other",
        }
        .to_string(),
    );
    let who = e.actor_username.as_deref().unwrap_or("unknown actor");
    let what = e.operation.as_deref().unwrap_or("unknown activity");
    let target =
        e.target_username.as_deref().or(e.target_app_name.as_deref()).map(|t| format!(" on {t}")).unwrap_or_default();
    let from = e.src_ip.as_deref().map(|ip| format!(" from {ip}")).unwrap_or_default();
    let res = e.result_details.as_deref().unwrap_or("no result");
    e.message = format!("{who}{from}: {what}{target} ({res})");
    out.events.push(e);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::parsers::run_one;
    use crate::split::Container;

    #[test]
    fn entra_portal_signin_csv_row() {
        let rec = r#"{"Date (UTC)":"2026-03-12T02:15:00Z","Request ID":"r1","User agent":"python-requests/2.31","Correlation ID":"c1","User ID":"u-1","User":"Megan Bowen","Username":"megan@contoso.com","Application":"Microsoft Office","Application ID":"d3590ed6","Resource":"Microsoft Graph","IP address":"198.51.100.23","Location":"Bucharest, Bucuresti, RO","Status":"Failure","Sign-in error code":"50126","Failure reason":"Error validating credentials due to invalid username or password.","Client app":"Mobile Apps and Desktop clients"}"#;
        let out = run_one("InteractiveSignIns_2026-03-12.csv", rec, Container::Lines);
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        let e = &out.events[0];
        assert_eq!(e.source, "signin");
        assert_eq!(e.source_format, "csv");
        assert_eq!(e.actor_username.as_deref(), Some("megan@contoso.com"));
        assert_eq!(e.src_ip.as_deref(), Some("198.51.100.23"));
        assert_eq!(e.country.as_deref(), Some("RO"));
        assert_eq!(e.city.as_deref(), Some("Bucharest"));
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(e.result_details.as_deref(), Some("50126"));
        assert_eq!(e.user_agent.as_deref(), Some("python-requests/2.31"));
        assert_eq!(e.message, "megan@contoso.com sign-in to Microsoft Office from 198.51.100.23 (RO): failure 50126 (Error validating credentials due to invalid username or password.)");
    }

    #[test]
    fn entra_portal_signin_success_and_missing_date() {
        let ok = r#"{"Date (UTC)":"2026-03-12T03:29:41Z","Username":"megan@contoso.com","Application":"Azure Portal","IP address":"203.0.113.77","Status":"Success","Sign-in error code":"0"}"#;
        let out = run_one("s.csv", ok, Container::Lines);
        assert_eq!(out.events[0].result.as_deref(), Some("Success"));
        let bad = r#"{"Username":"megan@contoso.com","Sign-in error code":"0","IP address":"x"}"#;
        let out = run_one("s.csv", bad, Container::Lines);
        assert!(out.events.is_empty());
        assert!(out.bad[0].reason.contains("Date (UTC)"), "{:?}", out.bad);
    }

    #[test]
    fn entra_portal_audit_csv_row() {
        let rec = r#"{"Date (UTC)":"2026-03-12T03:39:02Z","CorrelationId":"c2","Service":"Core Directory","Category":"RoleManagement","Activity":"Add member to role","Result":"success","ResultReason":"","ActorType":"User","ActorDisplayName":"Megan Bowen","ActorObjectId":"u-1","ActorUserPrincipalName":"megan@contoso.com","IPAddress":"203.0.113.77","Target1Type":"ServicePrincipal","Target1DisplayName":"Azure Sync Service","Target1ObjectId":"sp-1"}"#;
        let out = run_one("AuditLogs_2026-03-12.csv", rec, Container::Lines);
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        let e = &out.events[0];
        assert_eq!(e.source, "audit");
        assert_eq!(e.operation.as_deref(), Some("Add member to role"));
        assert_eq!(e.category.as_deref(), Some("RoleManagement"));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.actor_username.as_deref(), Some("megan@contoso.com"));
        assert_eq!(e.src_ip.as_deref(), Some("203.0.113.77"));
        assert_eq!(e.target_app_name.as_deref(), Some("Azure Sync Service"));
        assert_eq!(e.event_type.as_deref(), Some("Create"));
        assert_eq!(
            e.message,
            "megan@contoso.com from 203.0.113.77: Add member to role on Azure Sync Service (success)"
        );
    }
}
