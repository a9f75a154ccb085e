//! Entra directory audit, provisioning, Identity Protection (risky users and risk detections) and
//! Microsoft Graph activity logs, in every export shape:
//!
//! - Graph objects (`directoryAudit`, `provisioningObjectSummary`, `riskyUser`,
//!   `riskyServicePrincipal`, `riskDetection`);
//! - the diagnostic-setting / Event Hub envelope (`time`, `category`, `tenantId`,
//!   `correlationId`, …) with the Graph-like object in `properties`;
//! - Log Analytics rows (`AuditLogs`, `AADProvisioningLogs`, `AADRiskyUsers`,
//!   `AADUserRiskEvents`, `MicrosoftGraphActivityLogs`): PascalCase columns (the accessors are
//!   case-insensitive) whose nested columns (`InitiatedBy`, `TargetResources`, `Location`, …) may
//!   arrive as JSON-encoded strings. `TenantId` there is the workspace, so only `AADTenantId` is
//!   taken as the tenant.
//!
//! Audit records are where persistence shows (credentials added to applications, roles granted,
//! MFA methods registered), so their `message` names the role, group, app role, credential or
//! changed properties found in `modifiedProperties` (whose values are JSON-encoded strings).

use super::{result_of, Output, RecordCtx};
use crate::detect::Shape;
use crate::json::{first_text, get, int32, obj, text, text_at};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashSet;

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// The Graph-shaped body of a record: `properties` of an envelope (an object, or a JSON string
/// holding one), else the record itself.
fn body<'a>(v: &'a Value, ctx: &RecordCtx) -> Cow<'a, Value> {
    if ctx.shape == Shape::Envelope {
        if let Some(p) = obj(get(v, "properties")).filter(|p| p.is_object()) {
            return p;
        }
    }
    Cow::Borrowed(v)
}

/// Rejects the shapes these logs never come in (ARM REST, the Activity Log portal CSV).
fn check_shape(ctx: &RecordCtx, what: &str) -> Result<(), String> {
    match ctx.shape {
        Shape::Rest | Shape::PortalCsv => Err(format!(
            "a {} record is not {what}",
            match ctx.shape {
                Shape::Rest => "ARM REST",
                _ => "portal CSV",
            }
        )),
        _ => Ok(()),
    }
}

/// The first readable timestamp among `paths`. Unlike [`RecordCtx::time`] a present but
/// unreadable field does not stop the search, and a single-digit hour
/// (`2022-09-09T9:59:27.958Z`, seen in Identity Protection exports) is repaired. When nothing
/// is readable the error is [`RecordCtx::time`]'s, naming the fields tried.
fn when(ctx: &RecordCtx, v: &Value, paths: &[&[&str]]) -> Result<i64, String> {
    for p in paths {
        if let Some(t) = text_at(v, p) {
            let us = azir_model::parse_time(&t).or_else(|| pad_hour(&t).and_then(|s| azir_model::parse_time(&s)));
            if let Some(us) = us {
                return Ok(us);
            }
        }
    }
    ctx.time(v, paths)
}

/// `YYYY-MM-DDTH:MM…` → `YYYY-MM-DDT0H:MM…`; `None` when the hour is not single-digit.
fn pad_hour(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() > 12 && (b[10] == b'T' || b[10] == b't' || b[10] == b' ') && b[11].is_ascii_digit() && b[12] == b':' {
        Some(format!("{}0{}", s.get(..11)?, s.get(11..)?))
    } else {
        None
    }
}

/// A nested object that may be a JSON string (Log Analytics), kept only if it is an object.
fn nested<'a>(v: &'a Value, key: &str) -> Option<Cow<'a, Value>> {
    obj(get(v, key)).filter(|o| o.is_object())
}

/// The tenant: `AADTenantId` for Log Analytics rows (their `TenantId` is the workspace), else
/// the envelope's `tenantId`, else the body's `tenantId` / `homeTenantId`.
fn tenant(v: &Value, body: &Value, ctx: &RecordCtx) -> Option<String> {
    match ctx.shape {
        Shape::LogAnalytics => first_text(v, &[&["AADTenantId"]]),
        _ => text_at(v, &["tenantId"]).or_else(|| first_text(body, &[&["tenantId"], &["homeTenantId"]])),
    }
}

/// A well-formed IP address (filters `""`, `"<null>"` and malformed values of envelope fields).
fn valid_ip(s: Option<String>) -> Option<String> {
    s.filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
}

/// The log's category: the body's (audit: `UserManagement`…), the envelope's / LA's
/// `category`/`Category`, LA's `Type`, else `default`.
fn category(v: &Value, body: &Value, inner: bool, default: &str) -> String {
    let own = if inner { text_at(body, &["category"]) } else { None };
    own.or_else(|| first_text(v, &[&["category"], &["Type"]])).unwrap_or_else(|| default.to_string())
}

/// Joins present parts with `sep`.
fn join(parts: &[Option<&str>], sep: &str) -> Option<String> {
    let p: Vec<&str> = parts.iter().flatten().copied().collect();
    if p.is_empty() {
        None
    } else {
        Some(p.join(sep))
    }
}

/// The value of `key` in a `[{key,value}]` / `[{Key,Value}]` list (may be a JSON string).
fn kv(list: Option<&Value>, key: &str) -> Option<String> {
    let l = obj(list)?;
    l.as_array()?.iter().find_map(|item| {
        text(get(item, "key")).filter(|k| k.eq_ignore_ascii_case(key)).and_then(|_| text(get(item, "value")))
    })
}

// ---------------------------------------------------------------------------------------------
// Audit

/// Parses one directory audit record (Graph `directoryAudit`, `AuditLogs` envelope, LA row).
pub fn parse_audit(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    check_shape(ctx, "a directory audit record")?;
    let mut e = ctx.event("audit");
    let b = body(v, ctx);
    let body: &Value = &b;
    e.time = match ctx.shape {
        Shape::Envelope => when(ctx, v, &[&["time"], &["timeStamp"], &["properties", "activityDateTime"]])?,
        Shape::LogAnalytics => when(ctx, v, &[&["TimeGenerated"], &["TimeGenerated [UTC]"], &["ActivityDateTime"]])?,
        _ => when(ctx, v, &[&["activityDateTime"]])?,
    };
    e.operation = first_text(body, &[&["activityDisplayName"]]).or_else(|| first_text(v, &[&["operationName"]]));
    e.category = Some(category(v, body, ctx.shape == Shape::Envelope, "AuditLogs"));
    let result_raw = text_at(body, &["result"]).or_else(|| text_at(v, &["resultType"]));
    let reason = text_at(body, &["resultReason"])
        .or_else(|| first_text(v, &[&["resultDescription"]]).filter(|_| result_raw.is_none()));
    e.result = Some(result_raw.as_deref().map(result_of).unwrap_or("NA").to_string());
    e.result_details = reason.clone().or_else(|| result_raw.clone());

    // Who: a user (UPN, object id, address) or an application (service principal).
    let initiated = nested(body, "initiatedBy");
    let ib = initiated.as_deref();
    let user = ib
        .and_then(|i| nested(i, "user"))
        .filter(|u| first_text(u, &[&["userPrincipalName"], &["id"], &["displayName"]]).is_some());
    let app = ib.and_then(|i| nested(i, "app")).filter(|a| {
        first_text(a, &[&["displayName"], &["appId"], &["servicePrincipalId"], &["servicePrincipalName"]]).is_some()
    });
    if let Some(u) = user.as_deref() {
        e.actor_username = first_text(u, &[&["userPrincipalName"], &["displayName"]]);
        e.actor_user_id = text_at(u, &["id"]);
        e.src_ip = text_at(u, &["ipAddress"]);
    } else if let Some(a) = app.as_deref() {
        e.actor_app_id = text_at(a, &["appId"]);
        e.actor_app_name = text_at(a, &["displayName"]);
        e.actor_username = first_text(a, &[&["displayName"], &["servicePrincipalName"]]);
        e.actor_user_id = text_at(a, &["servicePrincipalId"]);
    }
    if e.actor_username.is_none() {
        e.actor_username = first_text(v, &[&["identity"]]);
    }
    if e.src_ip.is_none() {
        e.src_ip = valid_ip(first_text(v, &[&["callerIpAddress"]]));
    }

    // Whom / what.
    let targets: Vec<Value> = obj(get(body, "targetResources"))
        .and_then(|t| t.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(Value::is_object)
        .collect();
    e.target_username = targets.iter().find_map(|t| text_at(t, &["userPrincipalName"])).or_else(|| {
        targets.iter().find(|t| is_type(t, &["User"])).and_then(|t| first_text(t, &[&["displayName"], &["id"]]))
    });
    e.target_resource_id = targets.first().and_then(|t| text_at(t, &["id"]));
    e.target_app_name = targets
        .iter()
        .find(|t| is_type(t, &["ServicePrincipal", "Application"]))
        .and_then(|t| text_at(t, &["displayName"]));
    e.correlation_id = text_at(body, &["correlationId"]).or_else(|| first_text(v, &[&["correlationId"]]));
    e.tenant_id = tenant(v, body, ctx);
    e.user_agent = text_at(body, &["userAgent"]).or_else(|| kv(get(body, "additionalDetails"), "User-Agent"));
    let op_type = first_text(body, &[&["operationType"], &["AADOperationType"]]);
    e.event_type = Some(audit_event_type(op_type.as_deref(), e.operation.as_deref().unwrap_or("")).to_string());

    // The sentence.
    let who = e.actor_username.as_deref().or(e.actor_app_name.as_deref()).unwrap_or("unknown actor");
    let from = e.src_ip.as_deref().map(|ip| format!(" from {ip}")).unwrap_or_default();
    let op = e.operation.as_deref().unwrap_or("unknown activity");
    let detail = audit_detail(&targets).map(|d| format!(" → {d}")).unwrap_or_default();
    let on = e
        .target_username
        .clone()
        .or_else(|| targets.first().and_then(target_label))
        .map(|t| format!(" on {t}"))
        .unwrap_or_default();
    let outcome = match (result_raw.as_deref(), reason.as_deref()) {
        (Some(r), Some(why)) => format!("{}: {why}", r.to_ascii_lowercase()),
        (Some(r), None) => r.to_ascii_lowercase(),
        (None, Some(why)) => why.to_string(),
        (None, None) => "result unknown".to_string(),
    };
    e.message = format!("{who}{from}: {op}{detail}{on} ({outcome})");
    out.events.push(e);
    Ok(())
}

/// True when a target's `type` is one of `types` (any case).
fn is_type(t: &Value, types: &[&str]) -> bool {
    text_at(t, &["type"]).is_some_and(|ty| types.iter().any(|x| ty.eq_ignore_ascii_case(x)))
}

/// A target as text: display name, else `type id`.
fn target_label(t: &Value) -> Option<String> {
    text_at(t, &["displayName"])
        .or_else(|| join(&[text_at(t, &["type"]).as_deref(), text_at(t, &["id"]).as_deref()], " "))
}

/// ASIM AuditEvent type from `operationType` (Add, Update, Delete, Assign, Unassign), else from
/// the first word of the activity name.
fn audit_event_type(op_type: Option<&str>, activity: &str) -> &'static str {
    let map = |w: &str| match w.to_ascii_lowercase().as_str() {
        "add" | "create" => Some("Create"),
        "update" | "set" | "assign" => Some("Set"),
        "delete" | "remove" | "unassign" | "hard" => Some("Delete"),
        _ => None,
    };
    op_type.and_then(map).or_else(|| map(activity.split_whitespace().next().unwrap_or(""))).unwrap_or("Other")
}

/// A `modifiedProperties` value decoded: the JSON inside the string when it is JSON
/// (`"\"Global Administrator\""`, `"[\"x\"]"`), else the string; null and empty → `None`.
fn decoded(v: Option<&Value>) -> Option<Value> {
    match v? {
        Value::Null => None,
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                return None;
            }
            match serde_json::from_str::<Value>(t) {
                Ok(Value::Null) => None,
                Ok(x) => Some(x),
                Err(_) => Some(Value::String(t.to_string())),
            }
        }
        other => Some(other.clone()),
    }
}

/// A decoded value for a sentence: arrays of scalars joined with `, `.
fn shown(v: &Value) -> Option<String> {
    match v {
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().filter_map(|x| text(Some(x))).collect();
            if parts.is_empty() {
                None
            } else {
                Some(parts.join(", "))
            }
        }
        other => text(Some(other)),
    }
}

/// The first modified property named `name` (any case) across targets: (old, new), decoded.
fn modified(targets: &[Value], name: &str) -> Option<(Option<Value>, Option<Value>)> {
    targets.iter().find_map(|t| {
        let mp = obj(get(t, "modifiedProperties"))?;
        let arr = mp.as_array()?;
        arr.iter()
            .find(|p| text_at(p, &["displayName"]).is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .map(|p| (decoded(get(p, "oldValue")), decoded(get(p, "newValue"))))
    })
}

/// What an audit record changed, for the message: role, group or app role granted or removed,
/// credentials added or removed, permission scopes consented, else the updated property names.
fn audit_detail(targets: &[Value]) -> Option<String> {
    for (key, prefix) in [
        ("Role.DisplayName", ""),
        ("Group.DisplayName", ""),
        ("AppRole.Value", "app role "),
        ("AppRole.DisplayName", "app role "),
    ] {
        if let Some((old, new)) = modified(targets, key) {
            if let Some(name) = new.as_ref().and_then(shown).or_else(|| old.as_ref().and_then(shown)) {
                return Some(format!("{prefix}{name}"));
            }
        }
    }
    if let Some((old, new)) = modified(targets, "KeyDescription") {
        if let Some(d) = key_change(old, new) {
            return Some(d);
        }
    }
    if let Some(scope) = modified(targets, "DelegatedPermissionGrant.Scope")
        .and_then(|(_, new)| new.as_ref().and_then(shown))
        .or_else(|| {
            modified(targets, "ConsentAction.Permissions")
                .and_then(|(_, new)| new.as_ref().and_then(shown))
                .and_then(|p| consent_scope(&p))
        })
    {
        return Some(format!("scopes {scope}"));
    }
    modified(targets, "Included Updated Properties")
        .and_then(|(_, new)| new.as_ref().and_then(shown))
        .map(|p| format!("changed {p}"))
}

/// The granted scopes in a `ConsentAction.Permissions` value (`… => [[Id: …, Scope: Mail.Read
/// User.Read, CreatedDateTime: …]]`): the last `Scope:` after the arrow.
fn consent_scope(p: &str) -> Option<String> {
    let after = p.rsplit_once("=>").map(|(_, a)| a).unwrap_or(p);
    let (_, rest) = after.rsplit_once("Scope:")?;
    let scope = rest.split([',', ']']).next().unwrap_or("").trim();
    if scope.is_empty() {
        None
    } else {
        Some(scope.to_string())
    }
}

/// A field of a credential description `[KeyIdentifier=…,KeyType=…,KeyUsage=…,DisplayName=…]`
/// (`DisplayName` runs to the end: it may contain commas).
fn key_field<'a>(k: &'a str, name: &str) -> Option<&'a str> {
    let s = k.trim().trim_start_matches('[').trim_end_matches(']');
    let pat = format!("{name}=");
    let start = if s.starts_with(&pat) { 0 } else { s.find(&format!(",{pat}"))? + 1 };
    let rest = s.get(start + pat.len()..)?;
    let val = if name == "DisplayName" { rest } else { rest.split(',').next().unwrap_or(rest) };
    let val = val.trim();
    if val.is_empty() {
        None
    } else {
        Some(val)
    }
}

/// Credentials added and removed between two `KeyDescription` values (compared by key id).
fn key_change(old: Option<Value>, new: Option<Value>) -> Option<String> {
    fn keys(v: Option<Value>) -> Vec<String> {
        match v {
            Some(Value::Array(a)) => a.iter().filter_map(|x| text(Some(x))).collect(),
            Some(Value::String(s)) if !s.trim().is_empty() => vec![s],
            _ => Vec::new(),
        }
    }
    fn id(k: &str) -> &str {
        key_field(k, "KeyIdentifier").unwrap_or(k)
    }
    fn describe(k: &str) -> String {
        let kind = key_field(k, "KeyType").unwrap_or("unknown-type");
        let name = key_field(k, "DisplayName").map(|n| format!(" \"{n}\"")).unwrap_or_default();
        format!("{kind} credential{name} (key {})", id(k))
    }
    let old = keys(old);
    let new = keys(new);
    let old_ids: HashSet<&str> = old.iter().map(|k| id(k)).collect();
    let new_ids: HashSet<&str> = new.iter().map(|k| id(k)).collect();
    let mut parts: Vec<String> =
        new.iter().filter(|k| !old_ids.contains(id(k))).map(|k| format!("added {}", describe(k))).collect();
    parts.extend(old.iter().filter(|k| !new_ids.contains(id(k))).map(|k| format!("removed {}", describe(k))));
    if parts.is_empty() {
        (!new.is_empty() || !old.is_empty()).then(|| "credentials updated".to_string())
    } else {
        Some(parts.join("; "))
    }
}

// ---------------------------------------------------------------------------------------------
// Provisioning

/// Parses one provisioning record (Graph `provisioningObjectSummary`, `ProvisioningLogs`
/// envelope, `AADProvisioningLogs` row).
pub fn parse_provisioning(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    check_shape(ctx, "a provisioning record")?;
    let mut e = ctx.event("provisioning");
    let b = body(v, ctx);
    let body: &Value = &b;
    e.time = match ctx.shape {
        Shape::Envelope => when(ctx, v, &[&["time"], &["timeStamp"], &["properties", "activityDateTime"]])?,
        Shape::LogAnalytics => when(ctx, v, &[&["TimeGenerated"], &["TimeGenerated [UTC]"], &["ActivityDateTime"]])?,
        _ => when(ctx, v, &[&["activityDateTime"]])?,
    };
    e.operation =
        first_text(body, &[&["provisioningAction"], &["action"]]).or_else(|| first_text(v, &[&["operationName"]]));
    e.category = Some(category(v, body, false, "ProvisioningLogs"));
    let status_info = nested(body, "provisioningStatusInfo").or_else(|| nested(body, "statusInfo"));
    let si = status_info.as_deref();
    let status = si.and_then(|s| text_at(s, &["status"])).or_else(|| first_text(v, &[&["resultType"]]));
    let err = si.and_then(|s| nested(s, "errorInformation"));
    let err_code = err.as_deref().and_then(|x| text_at(x, &["errorCode"]));
    let err_reason = err.as_deref().and_then(|x| text_at(x, &["reason"]));
    e.result = Some(
        match status.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("success") | Some("succeeded") => "Success",
            Some("failure") | Some("failed") => "Failure",
            _ => "NA",
        }
        .to_string(),
    );
    e.result_details = err_code.clone().or_else(|| status.clone());

    let initiated = nested(body, "initiatedBy");
    let ib = initiated.as_deref();
    e.actor_username =
        ib.and_then(|i| first_text(i, &[&["displayName"], &["user", "userPrincipalName"], &["app", "displayName"]]));
    e.actor_user_id = ib.and_then(|i| text_at(i, &["id"]));
    let initiator_type = ib.and_then(|i| text_at(i, &["initiatorType"]));
    let target = nested(body, "targetIdentity");
    let tgt = target.as_deref();
    e.target_username = tgt.and_then(|t| text_at(t, &["displayName"]));
    e.target_resource_id = tgt.and_then(|t| text_at(t, &["id"]));
    let identity_type = tgt
        .and_then(|t| text_at(t, &["identityType"]))
        .or_else(|| nested(body, "sourceIdentity").and_then(|s| text_at(&s, &["identityType"])));
    let sp = nested(body, "servicePrincipal");
    e.actor_app_name = sp.as_deref().and_then(|s| text_at(s, &["displayName"]));
    let source_system = nested(body, "sourceSystem").and_then(|s| text_at(&s, &["displayName"]));
    let target_system = nested(body, "targetSystem").and_then(|s| text_at(&s, &["displayName"]));
    e.target_app_name = target_system.clone();
    e.correlation_id = first_text(body, &[&["correlationId"]])
        .or_else(|| first_text(v, &[&["correlationId"]]))
        .or_else(|| first_text(body, &[&["changeId"]]));
    e.tenant_id = tenant(v, body, ctx);
    e.event_type = Some(
        match e.operation.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("create") => "Create",
            Some("update") | Some("disable") => "Set",
            Some("delete") | Some("stageddelete") => "Delete",
            _ => "Other",
        }
        .to_string(),
    );

    let via = e.actor_app_name.as_deref().unwrap_or("provisioning");
    let action = e.operation.as_deref().unwrap_or("unknown action");
    let what = join(&[identity_type.as_deref(), e.target_username.as_deref().or(e.target_resource_id.as_deref())], " ")
        .map(|w| format!(" {w}"))
        .unwrap_or_default();
    let route = match (source_system.as_deref(), target_system.as_deref()) {
        (Some(s), Some(t)) => format!(" ({s} → {t})"),
        (None, Some(t)) => format!(" (to {t})"),
        (Some(s), None) => format!(" (from {s})"),
        (None, None) => String::new(),
    };
    let by = match (e.actor_username.as_deref(), initiator_type.as_deref()) {
        (Some(n), Some(t)) => format!(" by {n} ({t})"),
        (Some(n), None) => format!(" by {n}"),
        _ => String::new(),
    };
    let outcome = status.as_deref().unwrap_or("result unknown").to_string();
    let why = match (err_code.as_deref(), err_reason.as_deref()) {
        (Some(c), Some(r)) => format!(" ({c}: {r})"),
        (Some(c), None) => format!(" ({c})"),
        (None, Some(r)) => format!(" ({r})"),
        (None, None) => String::new(),
    };
    e.message = format!("{via}: {action}{what}{route}{by}: {outcome}{why}");
    out.events.push(e);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Identity Protection

/// `riskLevel/riskState` (either alone when the other is missing).
fn risk_details(body: &Value) -> (Option<String>, Option<String>, Option<String>) {
    let level = text_at(body, &["riskLevel"]);
    let state = text_at(body, &["riskState"]);
    let details = join(&[level.as_deref(), state.as_deref()], "/");
    (level, state, details)
}

/// `riskDetail` unless it says nothing (`none`).
fn risk_detail(body: &Value) -> Option<String> {
    text_at(body, &["riskDetail"]).filter(|d| !d.eq_ignore_ascii_case("none"))
}

/// Parses one risky user or risky service principal (Graph, `RiskyUsers` /
/// `RiskyServicePrincipals` envelope, `AADRiskyUsers` row). The user is the *target*: the
/// record is Identity Protection's verdict about them, not something they did.
pub fn parse_risky_user(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    check_shape(ctx, "a risky user record")?;
    let mut e = ctx.event("identity_protection");
    let b = body(v, ctx);
    let body: &Value = &b;
    e.time = match ctx.shape {
        Shape::Envelope => when(ctx, v, &[&["properties", "riskLastUpdatedDateTime"], &["time"]])?,
        Shape::LogAnalytics => {
            when(ctx, v, &[&["RiskLastUpdatedDateTime"], &["TimeGenerated"], &["TimeGenerated [UTC]"]])?
        }
        _ => when(ctx, v, &[&["riskLastUpdatedDateTime"]])?,
    };
    let upn = text_at(body, &["userPrincipalName"]);
    let is_sp = upn.is_none() && text_at(body, &["appId"]).is_some();
    let default_cat = if is_sp { "RiskyServicePrincipals" } else { "RiskyUsers" };
    e.category = Some(category(v, body, false, default_cat));
    e.operation = first_text(v, &[&["operationName"]])
        .or_else(|| Some(if is_sp { "Risky service principal" } else { "Risky user" }.into()));
    let (level, state, details) = risk_details(body);
    e.result = Some("NA".into());
    e.result_details = details;
    e.event_type = Some("Other".into());
    e.target_resource_id = text_at(body, &["id"]);
    if is_sp {
        e.target_app_name = first_text(body, &[&["displayName"], &["servicePrincipalDisplayName"]]);
    } else {
        e.target_username = upn.or_else(|| text_at(body, &["userDisplayName"]));
    }
    e.correlation_id = first_text(v, &[&["correlationId"]]);
    e.tenant_id = tenant(v, body, ctx);

    let who = if is_sp {
        let name = e.target_app_name.as_deref().unwrap_or("unknown service principal");
        match text_at(body, &["appId"]) {
            Some(app) => format!("service principal {name} (app {app})"),
            None => format!("service principal {name}"),
        }
    } else {
        format!("user {}", e.target_username.as_deref().unwrap_or("unknown user"))
    };
    let mut notes =
        vec![level.unwrap_or_else(|| "level unknown".into()), state.unwrap_or_else(|| "state unknown".into())];
    notes.extend(risk_detail(body));
    if get(body, "isDeleted").is_some_and(|d| d == &Value::Bool(true) || text(Some(d)).as_deref() == Some("true")) {
        notes.push("deleted".into());
    }
    e.message = format!("Risky {who} ({})", notes.join(", "));
    out.events.push(e);
    Ok(())
}

/// Parses one risk detection (Graph `riskDetection`, `UserRiskEvents` /
/// `ServicePrincipalRiskEvents` envelope, `AADUserRiskEvents` row). The time is when the risky
/// activity happened (`activityDateTime`), not when it was detected: offline detections arrive
/// hours later and the timeline must line them up with the sign-in they flag. The user is the
/// *actor* of that activity, with its address and location.
pub fn parse_risk_event(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    check_shape(ctx, "a risk detection record")?;
    let mut e = ctx.event("identity_protection");
    let b = body(v, ctx);
    let body: &Value = &b;
    e.time = match ctx.shape {
        Shape::Envelope => {
            when(ctx, v, &[&["properties", "activityDateTime"], &["properties", "detectedDateTime"], &["time"]])?
        }
        Shape::LogAnalytics => {
            when(ctx, v, &[&["ActivityDateTime"], &["DetectedDateTime"], &["TimeGenerated"], &["TimeGenerated [UTC]"]])?
        }
        _ => when(ctx, v, &[&["activityDateTime"], &["detectedDateTime"]])?,
    };
    let upn = text_at(body, &["userPrincipalName"]);
    let is_sp = upn.is_none() && first_text(body, &[&["servicePrincipalId"], &["appId"]]).is_some();
    let default_cat = if is_sp { "ServicePrincipalRiskEvents" } else { "UserRiskEvents" };
    e.category = Some(category(v, body, false, default_cat));
    e.operation =
        first_text(body, &[&["riskEventType"], &["riskType"]]).or_else(|| first_text(v, &[&["operationName"]]));
    let (level, state, details) = risk_details(body);
    e.result = Some("NA".into());
    e.result_details = details;
    e.event_type = Some("Other".into());
    e.actor_username =
        upn.or_else(|| first_text(body, &[&["userDisplayName"], &["servicePrincipalDisplayName"], &["displayName"]]));
    e.actor_user_id = first_text(body, &[&["userId"], &["servicePrincipalId"]]);
    e.actor_app_id = text_at(body, &["appId"]);
    if is_sp {
        e.actor_app_name = first_text(body, &[&["servicePrincipalDisplayName"], &["displayName"]]);
    }
    e.src_ip = text_at(body, &["ipAddress"]).or_else(|| valid_ip(first_text(v, &[&["callerIpAddress"]])));
    if let Some(loc) = nested(body, "location") {
        e.country = text_at(&loc, &["countryOrRegion"]);
        e.city = text_at(&loc, &["city"]);
    }
    if e.country.is_none() && ctx.shape == Shape::Envelope {
        // The envelope's `location` is the country in lower case here ("de"), a region elsewhere.
        e.country = text_at(v, &["location"])
            .filter(|c| c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()))
            .map(|c| c.to_ascii_uppercase());
    }
    e.user_agent = kv(get(body, "additionalInfo"), "userAgent");
    e.correlation_id = text_at(body, &["correlationId"]).or_else(|| first_text(v, &[&["correlationId"]]));
    e.tenant_id = tenant(v, body, ctx);

    let kind = e.operation.as_deref().unwrap_or("unknown");
    let who = e.actor_username.as_deref().unwrap_or("unknown user");
    let from = match (&e.src_ip, &e.country) {
        (Some(ip), Some(c)) => format!(" from {ip} ({c})"),
        (Some(ip), None) => format!(" from {ip}"),
        (None, Some(c)) => format!(" from {c}"),
        (None, None) => String::new(),
    };
    let rating = join(&[level.as_deref(), state.as_deref()], ", ").unwrap_or_else(|| "level unknown".into());
    let mut msg = format!("Risk detection {kind} ({rating}) for {who}{from}");
    if text_at(body, &["detectionTimingType"]).is_some_and(|t| t.eq_ignore_ascii_case("offline")) {
        match text_at(body, &["detectedDateTime"]) {
            Some(d) => msg.push_str(&format!("; detected offline at {d}")),
            None => msg.push_str("; detected offline"),
        }
    }
    if let Some(d) = risk_detail(body) {
        msg.push_str(&format!("; {d}"));
    }
    e.message = msg;
    out.events.push(e);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Microsoft Graph activity

/// Parses one Microsoft Graph activity record (`MicrosoftGraphActivityLogs` envelope or LA row).
pub fn parse_graph_activity(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    check_shape(ctx, "a Graph activity record")?;
    let mut e = ctx.event("graph_activity");
    let b = body(v, ctx);
    let body: &Value = &b;
    e.time = match ctx.shape {
        Shape::Envelope => when(ctx, v, &[&["time"], &["timeStamp"], &["properties", "timeGenerated"]])?,
        _ => when(ctx, v, &[&["TimeGenerated"], &["TimeGenerated [UTC]"]])?,
    };
    e.category = Some(category(v, body, false, "MicrosoftGraphActivityLogs"));
    e.http_method = text_at(body, &["requestMethod"]).map(|m| m.to_ascii_uppercase());
    e.url = text_at(body, &["requestUri"]);
    e.http_status = int32(get(body, "responseStatusCode")).or_else(|| int32(get(v, "resultSignature")));
    e.src_ip = text_at(body, &["ipAddress"]).or_else(|| valid_ip(first_text(v, &[&["callerIpAddress"]])));
    e.user_agent = text_at(body, &["userAgent"]);
    e.actor_app_id = text_at(body, &["appId"]);
    let user_id = text_at(body, &["userId"]);
    let sp_id = text_at(body, &["servicePrincipalId"]);
    e.actor_user_id = user_id.clone().or_else(|| sp_id.clone());
    e.correlation_id =
        first_text(v, &[&["correlationId"]]).or_else(|| first_text(body, &[&["requestId"], &["operationId"]]));
    e.tenant_id = match ctx.shape {
        Shape::LogAnalytics => first_text(v, &[&["AADTenantId"]]),
        _ => text_at(v, &["tenantId"]).or_else(|| text_at(body, &["tenantId"])),
    };
    e.operation = match (e.http_method.as_deref(), e.url.as_deref()) {
        (Some(m), Some(u)) => Some(format!("{m} {}", uri_path(u))),
        (Some(m), None) => Some(m.to_string()),
        _ => first_text(v, &[&["operationName"]]),
    };
    e.event_type = Some(
        match e.http_method.as_deref() {
            Some("GET") | Some("HEAD") | Some("OPTIONS") => "Read",
            Some("POST") => "Create",
            Some("PUT") | Some("PATCH") => "Set",
            Some("DELETE") => "Delete",
            _ => "Other",
        }
        .to_string(),
    );
    match e.http_status {
        Some(s) if (200..400).contains(&s) => e.result = Some("Success".into()),
        Some(_) => e.result = Some("Failure".into()),
        None => e.result = Some("NA".into()),
    }
    e.result_details = e.http_status.map(|s| s.to_string());

    let app = e.actor_app_id.as_deref().unwrap_or("unknown app");
    let who = match (&user_id, &sp_id) {
        (Some(u), _) => format!("user {u} via app {app}"),
        (None, Some(sp)) => format!("app {app} (service principal {sp})"),
        (None, None) => format!("app {app}"),
    };
    let from = e.src_ip.as_deref().map(|ip| format!(" from {ip}")).unwrap_or_default();
    let request = match (e.http_method.as_deref(), e.url.as_deref()) {
        (Some(m), Some(u)) => format!("{m} {}", uri_tail(u)),
        (Some(m), None) => m.to_string(),
        (None, Some(u)) => uri_tail(u).to_string(),
        (None, None) => "unknown request".to_string(),
    };
    let status = e.http_status.map(|s| s.to_string()).unwrap_or_else(|| "no status".into());
    e.message = format!("{who}{from}: {request} → {status}");
    out.events.push(e);
    Ok(())
}

/// A request URI without scheme and host (`/v1.0/users?$top=999`).
fn uri_tail(u: &str) -> &str {
    match u.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(i) => rest.get(i..).unwrap_or(rest),
            None => "/",
        },
        None => u,
    }
}

/// A request URI's path only, with repeated slashes collapsed (`/beta/users/x`).
fn uri_path(u: &str) -> String {
    let tail = uri_tail(u);
    let path = tail.split(['?', '#']).next().unwrap_or(tail);
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::{run_one, Payload, StreamInfo};
    use crate::split::Container;
    use azir_model::{format_micros, Event, Provenance};

    type Parser = fn(&Value, &RecordCtx, &mut Output) -> Result<(), String>;

    /// Calls a parser directly with a chosen shape (for shapes the classifier would not produce
    /// from the record, e.g. a Graph object missing its timestamp).
    fn direct(f: Parser, shape: Shape, rec: &str) -> Result<Output, String> {
        let info = StreamInfo::new("00".repeat(32), "direct.json", Payload::Json);
        let v: Value = serde_json::from_str(rec).map_err(|e| e.to_string())?;
        let ctx = RecordCtx {
            info: &info,
            raw: rec.as_bytes(),
            prov: Provenance::default(),
            shape,
            container: Container::Lines,
        };
        let mut out = Output::default();
        f(&v, &ctx, &mut out)?;
        Ok(out)
    }

    /// Runs one record through the driver and returns its only event, failing on quarantine.
    fn one(display: &str, rec: &str, container: Container) -> Event {
        let out = run_one(display, rec, container);
        assert!(out.bad.is_empty(), "quarantined: {:?}", out.bad);
        assert_eq!(out.events.len(), 1);
        out.events[0].clone()
    }

    fn time(e: &Event) -> String {
        format_micros(e.time)
    }

    // ---- audit ---------------------------------------------------------------------------

    #[test]
    fn audit_graph_role_assignment_to_user() {
        let rec = r#"{"id":"Directory_1","category":"RoleManagement","correlationId":"corr-1","result":"success","resultReason":"",
 "activityDisplayName":"Add member to role","activityDateTime":"2024-05-01T10:00:01.1234567Z","loggedByService":"Core Directory","operationType":"Assign",
 "initiatedBy":{"app":null,"user":{"id":"admin-oid","displayName":null,"userPrincipalName":"admin@contoso.com","ipAddress":"198.51.100.7"}},
 "targetResources":[
  {"id":"megan-oid","displayName":null,"type":"User","userPrincipalName":"megan@contoso.com","modifiedProperties":[
    {"displayName":"Role.ObjectID","oldValue":null,"newValue":"\"62e90394-0000\""},
    {"displayName":"Role.DisplayName","oldValue":null,"newValue":"\"Global Administrator\""},
    {"displayName":"Role.WellKnownObjectName","oldValue":null,"newValue":"\"TenantAdmins\""}]},
  {"id":"role-oid","displayName":null,"type":"Role","modifiedProperties":[]}],
 "additionalDetails":[{"key":"User-Agent","value":"python-requests/2.31.0"}]}"#;
        let e = one("directoryAudits.json", rec, Container::Value);
        assert_eq!(e.source, "audit");
        assert_eq!(e.source_format, "graph");
        assert_eq!(time(&e), "2024-05-01T10:00:01.123456Z");
        assert_eq!(e.operation.as_deref(), Some("Add member to role"));
        assert_eq!(e.category.as_deref(), Some("RoleManagement"));
        assert_eq!(e.event_type.as_deref(), Some("Set"));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.result_details.as_deref(), Some("success"));
        assert_eq!(e.actor_username.as_deref(), Some("admin@contoso.com"));
        assert_eq!(e.actor_user_id.as_deref(), Some("admin-oid"));
        assert_eq!(e.actor_app_id, None);
        assert_eq!(e.actor_app_name, None);
        assert_eq!(e.src_ip.as_deref(), Some("198.51.100.7"));
        assert_eq!(e.target_username.as_deref(), Some("megan@contoso.com"));
        assert_eq!(e.target_resource_id.as_deref(), Some("megan-oid"));
        assert_eq!(e.target_app_name, None);
        assert_eq!(e.correlation_id.as_deref(), Some("corr-1"));
        assert_eq!(e.user_agent.as_deref(), Some("python-requests/2.31.0"));
        assert_eq!(e.tenant_id, None);
        assert_eq!(
            e.message,
            "admin@contoso.com from 198.51.100.7: Add member to role → Global Administrator on megan@contoso.com (success)"
        );
        assert!(e.raw.contains("Directory_1"));
    }

    #[test]
    fn audit_event_hub_envelope_credentials_added_by_app() {
        // Shaped like the Elastic sample: a managed identity adds a certificate to an SP.
        let rec = r#"{"time":"2022-01-22T18:15:02.5168093Z","resourceId":"/tenants/t-1/providers/Microsoft.aadiam","operationName":"Add service principal credentials","operationVersion":"1.0","category":"AuditLogs","tenantId":"t-1","resultSignature":"None","durationMs":0,"callerIpAddress":"1.128.3.4","correlationId":"env-corr","identity":"Managed Service Identity","Level":4,
 "properties":{"id":"Directory_2","category":"ApplicationManagement","correlationId":"corr-2","result":"success","resultReason":"","activityDisplayName":"Add service principal credentials","activityDateTime":"2022-01-22T18:15:02.5168093+00:00","loggedByService":"Core Directory","operationType":"Update","userAgent":null,
  "initiatedBy":{"app":{"appId":null,"displayName":"Managed Service Identity","servicePrincipalId":"msi-sp","servicePrincipalName":null}},
  "targetResources":[{"id":"sp-oid","displayName":"billing-test-wus","type":"ServicePrincipal","modifiedProperties":[
   {"displayName":"KeyDescription","oldValue":"[\"[KeyIdentifier=k1,KeyType=AsymmetricX509Cert,KeyUsage=Verify,DisplayName=CN=app1]\",\"[KeyIdentifier=k2,KeyType=AsymmetricX509Cert,KeyUsage=Verify,DisplayName=CN=app1]\"]",
    "newValue":"[\"[KeyIdentifier=k2,KeyType=AsymmetricX509Cert,KeyUsage=Verify,DisplayName=CN=app1]\",\"[KeyIdentifier=k1,KeyType=AsymmetricX509Cert,KeyUsage=Verify,DisplayName=CN=app1]\",\"[KeyIdentifier=k3,KeyType=AsymmetricX509Cert,KeyUsage=Verify,DisplayName=CN=app1, O=Contoso]\"]"},
   {"displayName":"Included Updated Properties","oldValue":null,"newValue":"\"KeyDescription\""}],"administrativeUnits":[]}],
  "additionalDetails":[{"key":"User-Agent","value":"Microsoft Azure Graph Client Library 2.1.17-internal"},{"key":"AppId","value":"target-app-id"}]}}"#;
        let e = one("evh.json", rec, Container::Records);
        assert_eq!(e.source_format, "eventhub");
        assert_eq!(time(&e), "2022-01-22T18:15:02.516809Z");
        assert_eq!(e.operation.as_deref(), Some("Add service principal credentials"));
        assert_eq!(e.category.as_deref(), Some("ApplicationManagement"));
        assert_eq!(e.event_type.as_deref(), Some("Set"));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.actor_username.as_deref(), Some("Managed Service Identity"));
        assert_eq!(e.actor_app_name.as_deref(), Some("Managed Service Identity"));
        assert_eq!(e.actor_user_id.as_deref(), Some("msi-sp"));
        assert_eq!(e.actor_app_id, None, "appId is null; additionalDetails.AppId is the target's");
        assert_eq!(e.src_ip.as_deref(), Some("1.128.3.4"), "envelope callerIpAddress");
        assert_eq!(e.target_username, None);
        assert_eq!(e.target_resource_id.as_deref(), Some("sp-oid"));
        assert_eq!(e.target_app_name.as_deref(), Some("billing-test-wus"));
        assert_eq!(e.correlation_id.as_deref(), Some("corr-2"));
        assert_eq!(e.tenant_id.as_deref(), Some("t-1"));
        assert_eq!(e.user_agent.as_deref(), Some("Microsoft Azure Graph Client Library 2.1.17-internal"));
        assert_eq!(
            e.message,
            "Managed Service Identity from 1.128.3.4: Add service principal credentials → added AsymmetricX509Cert credential \"CN=app1, O=Contoso\" (key k3) on billing-test-wus (success)"
        );
    }

    #[test]
    fn audit_diag_blob_failure_with_reason_and_malformed_caller_ip() {
        let rec = r#"{"time":"2022-01-22T18:22:41.5091873Z","operationName":"Add member to role","category":"AuditLogs","tenantId":"t-1","resultSignature":"None","resultDescription":"Failed to add member to role","callerIpAddress":"::2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6","correlationId":"c3","identity":"Managed Service Identity","Level":4,
 "properties":{"category":"ApplicationManagement","correlationId":"c3","result":"failure","resultReason":"The directory object quota limit for the tenant has been exceeded.","activityDisplayName":"Add member to role","activityDateTime":"2022-01-22T18:22:41.5091873+00:00","operationType":"Assign",
  "initiatedBy":{"app":{"appId":null,"displayName":"Managed Service Identity","servicePrincipalId":"msi-sp","servicePrincipalName":null}},
  "targetResources":[{"id":"sp-oid","displayName":"billing-test-wus","type":"ServicePrincipal","modifiedProperties":[]}]}}"#;
        let e = one("insights-logs-auditlogs/tenantId=t-1/y=2022/m=01/d=22/h=18/m=00/PT1H.json", rec, Container::Lines);
        assert_eq!(e.source_format, "diag");
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(
            e.result_details.as_deref(),
            Some("The directory object quota limit for the tenant has been exceeded.")
        );
        assert_eq!(e.src_ip, None, "a malformed callerIpAddress is not an address");
        assert_eq!(
            e.message,
            "Managed Service Identity: Add member to role on billing-test-wus (failure: The directory object quota limit for the tenant has been exceeded.)"
        );
    }

    #[test]
    fn audit_log_analytics_row_with_json_string_columns() {
        let rec = r#"{"TenantId":"workspace-id","TimeGenerated":"2026-03-12T03:36:48.5Z","ActivityDateTime":"2026-03-12T03:36:48.4Z","OperationName":"Update application – Certificates and secrets management ","Category":"ApplicationManagement","Result":"success","ResultReason":"","ResultType":"","CorrelationId":"c4","LoggedByService":"Core Directory","AADOperationType":"Update","AADTenantId":"t-1","Identity":"megan@contoso.com","ActivityDisplayName":"Update application – Certificates and secrets management ",
 "InitiatedBy":"{\"user\":{\"id\":\"megan-oid\",\"userPrincipalName\":\"megan@contoso.com\",\"ipAddress\":\"203.0.113.7\"}}",
 "TargetResources":"[{\"id\":\"app-oid\",\"displayName\":\"sync-app\",\"type\":\"Application\",\"modifiedProperties\":[{\"displayName\":\"KeyDescription\",\"oldValue\":\"[]\",\"newValue\":\"[\\\"[KeyIdentifier=key-1,KeyType=Password,KeyUsage=Verify,DisplayName=sync]\\\"]\"}]}]",
 "AdditionalDetails":"[{\"key\":\"User-Agent\",\"value\":\"azure-cli/2.58\"}]","Type":"AuditLogs"}"#;
        let e = one("AuditLogs.json", rec, Container::Lines);
        assert_eq!(e.source_format, "loganalytics");
        assert_eq!(time(&e), "2026-03-12T03:36:48.500000Z", "TimeGenerated first");
        assert_eq!(e.operation.as_deref(), Some("Update application – Certificates and secrets management"));
        assert_eq!(e.category.as_deref(), Some("ApplicationManagement"));
        assert_eq!(e.event_type.as_deref(), Some("Set"));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.result_details.as_deref(), Some("success"));
        assert_eq!(e.actor_username.as_deref(), Some("megan@contoso.com"));
        assert_eq!(e.actor_user_id.as_deref(), Some("megan-oid"));
        assert_eq!(e.src_ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(e.target_resource_id.as_deref(), Some("app-oid"));
        assert_eq!(e.target_app_name.as_deref(), Some("sync-app"));
        assert_eq!(e.target_username, None);
        assert_eq!(e.correlation_id.as_deref(), Some("c4"));
        assert_eq!(e.tenant_id.as_deref(), Some("t-1"), "AADTenantId, not the workspace");
        assert_eq!(e.user_agent.as_deref(), Some("azure-cli/2.58"));
        assert_eq!(
            e.message,
            "megan@contoso.com from 203.0.113.7: Update application – Certificates and secrets management → added Password credential \"sync\" (key key-1) on sync-app (success)"
        );
    }

    #[test]
    fn audit_role_removal_group_add_and_property_updates() {
        let removal = r#"{"activityDateTime":"2026-03-13T09:22:40Z","activityDisplayName":"Remove member from role","category":"RoleManagement","result":"success","operationType":"Unassign",
 "initiatedBy":{"user":{"id":"adele-oid","userPrincipalName":"adele@contoso.com","ipAddress":"198.51.100.1"},"app":null},
 "targetResources":[{"id":"sp-oid","displayName":"sync-app","type":"ServicePrincipal","userPrincipalName":null,"modifiedProperties":[{"displayName":"Role.DisplayName","oldValue":"\"Global Administrator\"","newValue":null}]}]}"#;
        let e = one("a.json", removal, Container::Value);
        assert_eq!(e.event_type.as_deref(), Some("Delete"));
        assert_eq!(e.target_app_name.as_deref(), Some("sync-app"));
        assert_eq!(
            e.message,
            "adele@contoso.com from 198.51.100.1: Remove member from role → Global Administrator on sync-app (success)"
        );

        // No operationType: the type comes from the activity's first word.
        let group = r#"{"activityDateTime":"2026-03-10T09:00:00Z","activityDisplayName":"Add member to group","category":"GroupManagement","result":"success",
 "initiatedBy":{"user":{"userPrincipalName":"megan@contoso.com"}},
 "targetResources":[{"id":"bob-oid","type":"User","userPrincipalName":"bob@contoso.com","modifiedProperties":[{"displayName":"Group.DisplayName","oldValue":null,"newValue":"\"SG-VPN-Users\""}]},{"id":"g-oid","displayName":"SG-VPN-Users","type":"Group"}]}"#;
        let e = one("a.json", group, Container::Value);
        assert_eq!(e.event_type.as_deref(), Some("Create"));
        assert_eq!(e.message, "megan@contoso.com: Add member to group → SG-VPN-Users on bob@contoso.com (success)");

        // Token revocation shows as the updated property; a reason on success is kept.
        let update = r#"{"activityDateTime":"2026-03-13T09:15:07Z","activityDisplayName":"Update user","result":"success","resultReason":"Done.","operationType":"Update",
 "initiatedBy":{"user":{"userPrincipalName":"adele@contoso.com"}},
 "targetResources":[{"id":"megan-oid","displayName":"Megan","type":"User","modifiedProperties":[{"displayName":"StsRefreshTokensValidFrom","oldValue":"\"2026-02-02T18:20:11Z\"","newValue":"\"2026-03-13T09:15:07Z\""},{"displayName":"Included Updated Properties","oldValue":null,"newValue":"\"StsRefreshTokensValidFrom\""}]}]}"#;
        let e = one("a.json", update, Container::Value);
        assert_eq!(e.target_username.as_deref(), Some("Megan"), "type User without UPN");
        assert_eq!(e.result_details.as_deref(), Some("Done."));
        assert_eq!(e.category.as_deref(), Some("AuditLogs"), "no category: the log's");
        assert_eq!(
            e.message,
            "adele@contoso.com: Update user → changed StsRefreshTokensValidFrom on Megan (success: Done.)"
        );
    }

    #[test]
    fn audit_consent_scopes_and_app_roles() {
        let consent = r#"{"activityDateTime":"2026-03-12T03:40:00Z","activityDisplayName":"Consent to application","result":"success","operationType":"Assign",
 "initiatedBy":{"user":{"userPrincipalName":"megan@contoso.com"}},
 "targetResources":[{"id":"sp-oid","displayName":"Mail Reader","type":"ServicePrincipal","modifiedProperties":[{"displayName":"ConsentContext.IsAdminConsent","oldValue":null,"newValue":"\"True\""},{"displayName":"ConsentAction.Permissions","oldValue":null,"newValue":"\"[] => [[Id: abc, ClientId: c, PrincipalId: , ResourceId: r, ConsentType: AllPrincipals, Scope:  Mail.Read offline_access, CreatedDateTime: , LastModifiedDateTime ]]; \""}]}]}"#;
        let e = one("a.json", consent, Container::Value);
        assert_eq!(
            e.message,
            "megan@contoso.com: Consent to application → scopes Mail.Read offline_access on Mail Reader (success)"
        );
        let approle = r#"{"activityDateTime":"2026-03-12T03:41:00Z","activityDisplayName":"Add app role assignment to service principal","result":"success","operationType":"Assign",
 "initiatedBy":{"app":{"appId":"app-1","displayName":"Automation","servicePrincipalId":"sp-1"}},
 "targetResources":[{"id":"graph-sp","displayName":"Microsoft Graph","type":"ServicePrincipal","modifiedProperties":[{"displayName":"AppRole.Value","oldValue":null,"newValue":"\"RoleManagement.ReadWrite.Directory\""}]}]}"#;
        let e = one("a.json", approle, Container::Value);
        assert_eq!(e.actor_app_id.as_deref(), Some("app-1"));
        assert_eq!(e.actor_app_name.as_deref(), Some("Automation"));
        assert_eq!(e.actor_user_id.as_deref(), Some("sp-1"));
        assert_eq!(
            e.message,
            "Automation: Add app role assignment to service principal → app role RoleManagement.ReadWrite.Directory on Microsoft Graph (success)"
        );
    }

    #[test]
    fn audit_missing_or_bad_timestamp_is_an_error_naming_the_field() {
        let la = r#"{"TimeGenerated":null,"Type":"AuditLogs","ActivityDisplayName":"Add user","InitiatedBy":"{}"}"#;
        let out = run_one("AuditLogs.json", la, Container::Lines);
        assert!(out.events.is_empty());
        assert_eq!(out.bad.len(), 1);
        assert_eq!(out.bad[0].parser.as_deref(), Some("audit"));
        assert_eq!(
            out.bad[0].reason,
            "no timestamp: none of TimeGenerated, TimeGenerated [UTC], ActivityDateTime present"
        );
        let graph = r#"{"activityDateTime":"yesterday","activityDisplayName":"Add user"}"#;
        let out = run_one("a.json", graph, Container::Value);
        assert!(out.bad[0].reason.contains("activityDateTime"), "{}", out.bad[0].reason);
        let err = direct(parse_audit, Shape::Graph, r#"{"activityDisplayName":"x"}"#).err().unwrap_or_default();
        assert!(err.contains("activityDateTime"), "{err}");
        let err = direct(parse_audit, Shape::Rest, r#"{}"#).err().unwrap_or_default();
        assert!(err.contains("not a directory audit"), "{err}");
    }

    #[test]
    fn audit_wrong_types_are_read_leniently() {
        // initiatedBy a number, targetResources a non-JSON string, result a number, a target
        // that is not an object, modifiedProperties values that are not JSON-encoded.
        let rec = r#"{"time":"2024-05-01T10:00:00Z","category":"AuditLogs","identity":"Some Service","properties":{"activityDisplayName":"Delete user","activityDateTime":7,"result":1,"initiatedBy":42,"targetResources":"oops"}}"#;
        let e = one("evh.json", rec, Container::Records);
        assert_eq!(e.actor_username.as_deref(), Some("Some Service"), "envelope identity");
        assert_eq!(e.result.as_deref(), Some("NA"));
        assert_eq!(e.event_type.as_deref(), Some("Delete"));
        assert_eq!(e.message, "Some Service: Delete user (1)");
        let rec = r#"{"activityDateTime":"2024-05-01T10:00:00Z","activityDisplayName":"Add member to role","result":"success",
 "initiatedBy":{"user":{"userPrincipalName":"a@b"}},
 "targetResources":[17,{"id":"x","type":"User","userPrincipalName":"u@b","modifiedProperties":[{"displayName":"Role.DisplayName","newValue":"Security Reader"}]}]}"#;
        let e = one("a.json", rec, Container::Value);
        assert_eq!(e.target_resource_id.as_deref(), Some("x"));
        assert_eq!(e.message, "a@b: Add member to role → Security Reader on u@b (success)");
    }

    // ---- provisioning --------------------------------------------------------------------

    #[test]
    fn provisioning_graph_failure() {
        let rec = r#"{"id":"p1","activityDateTime":"2024-05-02T08:00:00Z","tenantId":"t-1","jobId":"job","cycleId":"cyc","changeId":"chg-1","provisioningAction":"create","durationInMilliseconds":900,
 "provisioningStatusInfo":{"status":"failure","errorInformation":{"errorCode":"SalesforceDuplicateUserName","reason":"The user name already exists.","errorCategory":"NonServiceFailure"}},
 "servicePrincipal":{"id":"sf-sp","displayName":"Salesforce"},
 "sourceSystem":{"id":"s","displayName":"Microsoft Entra ID"},"targetSystem":{"id":"t","displayName":"Salesforce"},
 "sourceIdentity":{"id":"megan-oid","displayName":"Megan Bowen","identityType":"User"},
 "targetIdentity":{"id":"","displayName":"Megan Bowen","identityType":"User"},
 "initiatedBy":{"id":"","displayName":"Microsoft Entra ID","initiatorType":"system"}}"#;
        let e = one("provisioning.json", rec, Container::Value);
        assert_eq!(e.source, "provisioning");
        assert_eq!(e.source_format, "graph");
        assert_eq!(time(&e), "2024-05-02T08:00:00.000000Z");
        assert_eq!(e.operation.as_deref(), Some("create"));
        assert_eq!(e.category.as_deref(), Some("ProvisioningLogs"));
        assert_eq!(e.event_type.as_deref(), Some("Create"));
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(e.result_details.as_deref(), Some("SalesforceDuplicateUserName"));
        assert_eq!(e.actor_username.as_deref(), Some("Microsoft Entra ID"));
        assert_eq!(e.actor_user_id, None, "empty id");
        assert_eq!(e.actor_app_name.as_deref(), Some("Salesforce"));
        assert_eq!(e.target_username.as_deref(), Some("Megan Bowen"));
        assert_eq!(e.target_resource_id, None);
        assert_eq!(e.target_app_name.as_deref(), Some("Salesforce"));
        assert_eq!(e.correlation_id.as_deref(), Some("chg-1"), "changeId when no correlationId");
        assert_eq!(e.tenant_id.as_deref(), Some("t-1"));
        assert_eq!(
            e.message,
            "Salesforce: create User Megan Bowen (Microsoft Entra ID → Salesforce) by Microsoft Entra ID (system): failure (SalesforceDuplicateUserName: The user name already exists.)"
        );
    }

    #[test]
    fn provisioning_diag_envelope_success() {
        let rec = r#"{"time":"2026-03-11T10:20:30.1234567Z","resourceId":"/tenants/t-1/providers/Microsoft.aadiam","operationName":"Provisioning activity","operationVersion":"1.0","category":"ProvisioningLogs","tenantId":"t-1","resultType":"Success","resultSignature":"None","durationMs":812,"callerIpAddress":"","correlationId":"env-corr","Level":4,
 "properties":{"id":"p2","activityDateTime":"2026-03-11T10:20:30.1234567Z","tenantId":"t-1","changeId":"chg","provisioningAction":"update","provisioningStatusInfo":{"status":"success","errorInformation":null},
 "servicePrincipal":{"id":"sn-sp","displayName":"ServiceNow"},"sourceSystem":{"displayName":"Microsoft Entra ID"},"targetSystem":{"displayName":"ServiceNow"},
 "sourceIdentity":{"id":"u1","displayName":"Alex Wilber","identityType":"User","details":{"UserPrincipalName":"alex@contoso.com"}},
 "targetIdentity":{"id":"sn-user-1","displayName":"Alex Wilber","identityType":"User","details":{}},
 "initiatedBy":{"id":"","displayName":"Microsoft Entra ID","initiatorType":"system"}}}"#;
        let e = one(
            "insights-logs-provisioninglogs/tenantId=t-1/y=2026/m=03/d=11/h=10/m=00/PT1H.json",
            rec,
            Container::Lines,
        );
        assert_eq!(e.source_format, "diag");
        assert_eq!(time(&e), "2026-03-11T10:20:30.123456Z");
        assert_eq!(e.category.as_deref(), Some("ProvisioningLogs"));
        assert_eq!(e.event_type.as_deref(), Some("Set"));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.result_details.as_deref(), Some("success"));
        assert_eq!(e.target_resource_id.as_deref(), Some("sn-user-1"));
        assert_eq!(e.correlation_id.as_deref(), Some("env-corr"));
        assert_eq!(e.src_ip, None);
        assert_eq!(
            e.message,
            "ServiceNow: update User Alex Wilber (Microsoft Entra ID → ServiceNow) by Microsoft Entra ID (system): success"
        );
    }

    #[test]
    fn provisioning_log_analytics_row_with_json_string_columns() {
        let rec = r#"{"TenantId":"ws","AADTenantId":"t-1","TimeGenerated":"5/2/2024, 9:00:00.000 AM","ActivityDateTime":"2024-05-02T08:59:59Z","ProvisioningAction":"delete","CorrelationId":"c9","Category":"ProvisioningLogs",
 "ProvisioningStatusInfo":"{\"status\":\"skipped\",\"errorInformation\":{\"reason\":\"Out of scope\"}}",
 "InitiatedBy":"{\"id\":\"admin-oid\",\"displayName\":\"admin@contoso.com\",\"initiatorType\":\"user\"}",
 "TargetIdentity":"{\"id\":\"gh-7\",\"displayName\":\"Megan Bowen\",\"identityType\":\"User\"}",
 "ServicePrincipal":"{\"id\":\"gh-sp\",\"displayName\":\"GitHub Enterprise\"}","TargetSystem":"{\"displayName\":\"GitHub\"}","Type":"AADProvisioningLogs"}"#;
        let e = one("AADProvisioningLogs.csv", rec, Container::Lines);
        assert_eq!(e.source_format, "loganalytics");
        assert_eq!(time(&e), "2024-05-02T09:00:00.000000Z");
        assert_eq!(e.event_type.as_deref(), Some("Delete"));
        assert_eq!(e.result.as_deref(), Some("NA"), "skipped is neither");
        assert_eq!(e.result_details.as_deref(), Some("skipped"));
        assert_eq!(e.actor_username.as_deref(), Some("admin@contoso.com"));
        assert_eq!(e.actor_user_id.as_deref(), Some("admin-oid"));
        assert_eq!(e.actor_app_name.as_deref(), Some("GitHub Enterprise"));
        assert_eq!(e.target_username.as_deref(), Some("Megan Bowen"));
        assert_eq!(e.target_resource_id.as_deref(), Some("gh-7"));
        assert_eq!(e.target_app_name.as_deref(), Some("GitHub"));
        assert_eq!(e.correlation_id.as_deref(), Some("c9"));
        assert_eq!(e.tenant_id.as_deref(), Some("t-1"));
        assert_eq!(
            e.message,
            "GitHub Enterprise: delete User Megan Bowen (to GitHub) by admin@contoso.com (user): skipped (Out of scope)"
        );
    }

    #[test]
    fn provisioning_bad_timestamp_and_lenient_types() {
        let rec = r#"{"time":"not-a-time","category":"ProvisioningLogs","properties":{"provisioningAction":"create"}}"#;
        let out = run_one("evh.json", rec, Container::Records);
        assert_eq!(out.bad.len(), 1);
        assert_eq!(out.bad[0].parser.as_deref(), Some("provisioning"));
        assert_eq!(out.bad[0].reason, "unreadable timestamp \"not-a-time\" in field time");
        let err = direct(parse_provisioning, Shape::Graph, r#"{"provisioningAction":"x"}"#).err().unwrap_or_default();
        assert_eq!(err, "no timestamp: none of activityDateTime present");
        // Nested objects of the wrong type are ignored, the envelope fills in.
        let rec = r#"{"time":"2024-05-02T08:00:00Z","category":"ProvisioningLogs","resultType":"Failure","operationName":"Provisioning activity","properties":{"provisioningStatusInfo":"n/a","initiatedBy":[1],"targetIdentity":5,"servicePrincipal":null}}"#;
        let e = one("evh.json", rec, Container::Records);
        assert_eq!(e.operation.as_deref(), Some("Provisioning activity"));
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(e.event_type.as_deref(), Some("Other"));
        assert_eq!(e.message, "provisioning: Provisioning activity: Failure");
    }

    // ---- identity protection -------------------------------------------------------------

    #[test]
    fn risky_user_graph() {
        let rec = r#"{"id":"megan-oid","isDeleted":false,"isProcessing":false,"riskLastUpdatedDateTime":"2026-03-12T04:12:00Z","riskLevel":"high","riskState":"atRisk","riskDetail":"none","userDisplayName":"Megan Bowen","userPrincipalName":"megan@contoso.com"}"#;
        let e = one("riskyUsers.json", rec, Container::Value);
        assert_eq!(e.source, "identity_protection");
        assert_eq!(e.source_format, "graph");
        assert_eq!(time(&e), "2026-03-12T04:12:00.000000Z");
        assert_eq!(e.operation.as_deref(), Some("Risky user"));
        assert_eq!(e.category.as_deref(), Some("RiskyUsers"));
        assert_eq!(e.event_type.as_deref(), Some("Other"));
        assert_eq!(e.result.as_deref(), Some("NA"));
        assert_eq!(e.result_details.as_deref(), Some("high/atRisk"));
        assert_eq!(e.target_username.as_deref(), Some("megan@contoso.com"));
        assert_eq!(e.target_resource_id.as_deref(), Some("megan-oid"));
        assert_eq!(e.actor_username, None);
        assert_eq!(e.message, "Risky user megan@contoso.com (high, atRisk)");
    }

    #[test]
    fn risky_user_envelope_with_us_time_and_single_digit_hour() {
        // As in the Elastic sample: envelope `time` in US form, property with a 1-digit hour.
        let rec = r#"{"time":"9/9/2022 9:59:27 AM","resourceId":"/tenants/t-1/providers/microsoft.aadiam","operationName":"Risky user","operationVersion":"1.0","category":"RiskyUsers","tenantId":"t-1","resultSignature":"None","durationMs":0,"correlationId":"joel-oid","identity":"joel miller","Level":4,"location":"weu",
 "properties":{"id":"joel-oid","userDisplayName":"Joel Miller","userPrincipalName":"joel.miller@contoso.com","riskLastUpdatedDateTime":"2022-09-09T9:59:27.958Z","riskState":"remediated","riskDetail":"adminGeneratedTemporaryPassword","riskLevel":"none","isGuest":false,"isDeleted":true,"isProcessing":false}}"#;
        let e = one("evh.json", rec, Container::Records);
        assert_eq!(e.source_format, "eventhub");
        assert_eq!(time(&e), "2022-09-09T09:59:27.958000Z");
        assert_eq!(e.category.as_deref(), Some("RiskyUsers"));
        assert_eq!(e.result_details.as_deref(), Some("none/remediated"));
        assert_eq!(e.target_username.as_deref(), Some("joel.miller@contoso.com"));
        assert_eq!(e.tenant_id.as_deref(), Some("t-1"));
        assert_eq!(e.country, None, "weu is a region");
        assert_eq!(
            e.message,
            "Risky user joel.miller@contoso.com (none, remediated, adminGeneratedTemporaryPassword, deleted)"
        );
        // Only the envelope time: the US form is read as UTC.
        let rec = r#"{"time":"8/22/2022 6:11:52 PM","category":"RiskyUsers","properties":{"userPrincipalName":"j@contoso.com","riskLevel":"medium"}}"#;
        let e = one("evh.json", rec, Container::Records);
        assert_eq!(time(&e), "2022-08-22T18:11:52.000000Z");
        assert_eq!(e.result_details.as_deref(), Some("medium"));
        assert_eq!(e.message, "Risky user j@contoso.com (medium, state unknown)");
    }

    #[test]
    fn risky_user_log_analytics_row_and_service_principal() {
        let rec = r#"{"TenantId":"ws","TimeGenerated":"2026-03-12T04:12:05Z","Id":"megan-oid","UserPrincipalName":"megan@contoso.com","RiskLevel":"medium","RiskState":"atRisk","RiskDetail":"none","RiskLastUpdatedDateTime":"2026-03-12T04:12:00Z","IsDeleted":"false","OperationName":"Risky user","Type":"AADRiskyUsers"}"#;
        let e = one("AADRiskyUsers.json", rec, Container::Lines);
        assert_eq!(e.source_format, "loganalytics");
        assert_eq!(time(&e), "2026-03-12T04:12:00.000000Z");
        assert_eq!(e.category.as_deref(), Some("AADRiskyUsers"));
        assert_eq!(e.target_username.as_deref(), Some("megan@contoso.com"));
        assert_eq!(e.target_resource_id.as_deref(), Some("megan-oid"));
        assert_eq!(e.tenant_id, None, "TenantId is the workspace");
        assert_eq!(e.message, "Risky user megan@contoso.com (medium, atRisk)");

        let sp = r#"{"id":"sp-oid","appId":"app-1","displayName":"sync-app","servicePrincipalType":"Application","riskLastUpdatedDateTime":"2026-03-12T05:00:00Z","riskLevel":"high","riskState":"atRisk","riskDetail":"none"}"#;
        let e = one("riskyServicePrincipals.json", sp, Container::Value);
        assert_eq!(e.category.as_deref(), Some("RiskyServicePrincipals"));
        assert_eq!(e.operation.as_deref(), Some("Risky service principal"));
        assert_eq!(e.target_app_name.as_deref(), Some("sync-app"));
        assert_eq!(e.target_username, None);
        assert_eq!(e.message, "Risky service principal sync-app (app app-1) (high, atRisk)");
    }

    #[test]
    fn risky_user_missing_timestamp() {
        let err = direct(parse_risky_user, Shape::Graph, r#"{"riskLevel":"high"}"#).err().unwrap_or_default();
        assert_eq!(err, "no timestamp: none of riskLastUpdatedDateTime present");
        let la = r#"{"TimeGenerated":"","Type":"AADRiskyUsers","RiskLevel":5}"#;
        let out = run_one("r.json", la, Container::Lines);
        assert_eq!(out.bad[0].parser.as_deref(), Some("identity_protection"));
        assert!(out.bad[0].reason.starts_with("no timestamp"), "{}", out.bad[0].reason);
        // Wrong types: a numeric level is printed, isDeleted as text.
        let la = r#"{"TimeGenerated":"2024-01-01T00:00:00Z","Type":"AADRiskyUsers","RiskLevel":5,"UserPrincipalName":"x@y","IsDeleted":"true"}"#;
        let e = one("r.json", la, Container::Lines);
        assert_eq!(e.result_details.as_deref(), Some("5"));
        assert_eq!(e.message, "Risky user x@y (5, state unknown, deleted)");
    }

    #[test]
    fn risk_event_graph_detection() {
        let rec = r#"{"id":"det-1","requestId":"req","correlationId":"signin-corr","riskType":"unfamiliarFeatures","riskEventType":"unfamiliarFeatures","riskState":"atRisk","riskLevel":"high","riskDetail":"none","source":"IdentityProtection","detectionTimingType":"realtime","activity":"signin","tokenIssuerType":"AzureAD","ipAddress":"203.0.113.7",
 "activityDateTime":"2026-03-12T03:29:41Z","detectedDateTime":"2026-03-12T03:29:58Z","lastUpdatedDateTime":"2026-03-12T03:30:38Z","userId":"megan-oid","userDisplayName":"Megan Bowen","userPrincipalName":"megan@contoso.com",
 "location":{"city":"Amsterdam","state":"Noord-Holland","countryOrRegion":"NL","geoCoordinates":{"latitude":52.37,"longitude":4.89}}}"#;
        let e = one("riskDetections.json", rec, Container::Value);
        assert_eq!(e.source, "identity_protection");
        assert_eq!(e.source_format, "graph");
        assert_eq!(time(&e), "2026-03-12T03:29:41.000000Z", "activity time");
        assert_eq!(e.operation.as_deref(), Some("unfamiliarFeatures"));
        assert_eq!(e.category.as_deref(), Some("UserRiskEvents"));
        assert_eq!(e.event_type.as_deref(), Some("Other"));
        assert_eq!(e.result.as_deref(), Some("NA"));
        assert_eq!(e.result_details.as_deref(), Some("high/atRisk"));
        assert_eq!(e.actor_username.as_deref(), Some("megan@contoso.com"));
        assert_eq!(e.actor_user_id.as_deref(), Some("megan-oid"));
        assert_eq!(e.src_ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(e.country.as_deref(), Some("NL"));
        assert_eq!(e.city.as_deref(), Some("Amsterdam"));
        assert_eq!(e.correlation_id.as_deref(), Some("signin-corr"));
        assert_eq!(e.target_username, None);
        assert_eq!(
            e.message,
            "Risk detection unfamiliarFeatures (high, atRisk) for megan@contoso.com from 203.0.113.7 (NL)"
        );
    }

    #[test]
    fn risk_event_envelope_offline_detection() {
        let rec = r#"{"time":"9/9/2022 9:54:27 AM","resourceId":"/tenants/t-1/providers/microsoft.aadiam","operationName":"User Risk Detection","category":"UserRiskEvents","tenantId":"t-1","callerIpAddress":"67.43.156.42","correlationId":"det-2","identity":"joel miller","Level":4,"location":"us",
 "properties":{"id":"det-2","correlationId":"signin-corr-2","riskType":"generic","riskEventType":"passwordSpray","riskState":"atRisk","riskLevel":"high","riskDetail":"none","source":"IdentityProtection","detectionTimingType":"offline","activity":"signin","ipAddress":"67.43.156.42",
  "location":{"city":"Staten Island","state":"New York","countryOrRegion":"US"},"activityDateTime":"2022-09-08T12:53:53.895Z","detectedDateTime":"2022-09-09T8:48:50.361Z","userId":"joel-oid","userPrincipalName":"joel.miller@contoso.com",
  "additionalInfo":"[{\"Key\":\"userAgent\",\"Value\":\"Mozilla/5.0 (Windows NT 10.0; rv:91.0) Gecko/20100101 Firefox/91.0\"}]","tokenIssuerType":"AzureAD","homeTenantId":"t-1"}}"#;
        let e = one(
            "insights-logs-userriskevents/tenantId=t-1/y=2022/m=09/d=09/h=09/m=00/PT1H.json",
            rec,
            Container::Lines,
        );
        assert_eq!(e.source_format, "diag");
        assert_eq!(time(&e), "2022-09-08T12:53:53.895000Z");
        assert_eq!(e.operation.as_deref(), Some("passwordSpray"));
        assert_eq!(e.category.as_deref(), Some("UserRiskEvents"));
        assert_eq!(e.correlation_id.as_deref(), Some("signin-corr-2"));
        assert_eq!(e.tenant_id.as_deref(), Some("t-1"));
        assert_eq!(e.country.as_deref(), Some("US"));
        assert_eq!(e.user_agent.as_deref(), Some("Mozilla/5.0 (Windows NT 10.0; rv:91.0) Gecko/20100101 Firefox/91.0"));
        assert_eq!(
            e.message,
            "Risk detection passwordSpray (high, atRisk) for joel.miller@contoso.com from 67.43.156.42 (US); detected offline at 2022-09-09T8:48:50.361Z"
        );
        // Single-digit hour in the only property time, envelope country fallback.
        let rec = r#"{"time":"garbage","category":"UserRiskEvents","location":"de","properties":{"riskEventType":"anonymizedIPAddress","riskLevel":"low","detectedDateTime":"2022-09-09T8:48:50.361Z","userPrincipalName":"a@b","riskDetail":"adminDismissedAllRiskForUser","riskState":"dismissed"}}"#;
        let e = one("evh.json", rec, Container::Records);
        assert_eq!(time(&e), "2022-09-09T08:48:50.361000Z");
        assert_eq!(e.country.as_deref(), Some("DE"));
        assert_eq!(
            e.message,
            "Risk detection anonymizedIPAddress (low, dismissed) for a@b from DE; adminDismissedAllRiskForUser"
        );
    }

    #[test]
    fn risk_event_log_analytics_row() {
        let rec = r#"{"TenantId":"ws","TimeGenerated":"2026-03-12T05:02:20Z","ActivityDateTime":"2026-03-12T02:31:00Z","DetectedDateTime":"2026-03-12T05:02:17Z","RiskEventType":"passwordSpray","RiskLevel":"high","RiskState":"remediated","RiskDetail":"adminGeneratedTemporaryPassword","DetectionTimingType":"offline","IpAddress":"185.220.101.4","Location":"{\"city\":\"Bucharest\",\"countryOrRegion\":\"RO\"}","UserPrincipalName":"megan@contoso.com","UserId":"megan-oid","CorrelationId":"c-la","AdditionalInfo":"[{\"Key\":\"userAgent\",\"Value\":\"python-requests/2.31.0\"}]","OperationName":"User Risk Detection","Type":"AADUserRiskEvents"}"#;
        let e = one("AADUserRiskEvents.json", rec, Container::Lines);
        assert_eq!(e.source_format, "loganalytics");
        assert_eq!(time(&e), "2026-03-12T02:31:00.000000Z");
        assert_eq!(e.category.as_deref(), Some("AADUserRiskEvents"));
        assert_eq!(e.operation.as_deref(), Some("passwordSpray"));
        assert_eq!(e.result_details.as_deref(), Some("high/remediated"));
        assert_eq!(e.actor_username.as_deref(), Some("megan@contoso.com"));
        assert_eq!(e.actor_user_id.as_deref(), Some("megan-oid"));
        assert_eq!(e.src_ip.as_deref(), Some("185.220.101.4"));
        assert_eq!(e.country.as_deref(), Some("RO"));
        assert_eq!(e.city.as_deref(), Some("Bucharest"));
        assert_eq!(e.user_agent.as_deref(), Some("python-requests/2.31.0"));
        assert_eq!(e.correlation_id.as_deref(), Some("c-la"));
        assert_eq!(e.tenant_id, None);
        assert_eq!(
            e.message,
            "Risk detection passwordSpray (high, remediated) for megan@contoso.com from 185.220.101.4 (RO); detected offline at 2026-03-12T05:02:17Z; adminGeneratedTemporaryPassword"
        );
    }

    #[test]
    fn risk_event_missing_timestamp_and_lenient_types() {
        let err = direct(parse_risk_event, Shape::Graph, r#"{"riskEventType":"x"}"#).err().unwrap_or_default();
        assert_eq!(err, "no timestamp: none of activityDateTime, detectedDateTime present");
        // location a plain string, additionalInfo an object, numbers for text.
        let rec = r#"{"riskEventType":"leakedCredentials","detectedDateTime":"2024-01-01T00:00:00Z","riskLevel":3,"location":"NL","additionalInfo":{"a":1},"userPrincipalName":"x@y"}"#;
        let e = one("r.json", rec, Container::Value);
        assert_eq!(e.country, None);
        assert_eq!(e.user_agent, None);
        assert_eq!(e.message, "Risk detection leakedCredentials (3) for x@y");
    }

    // ---- Graph activity ------------------------------------------------------------------

    #[test]
    fn graph_activity_envelope_app_only() {
        let rec = r#"{"Level":4,"callerIpAddress":"81.2.69.143","category":"MicrosoftGraphActivityLogs","correlationId":"req-1","durationMs":1100725,"location":"France Central","operationName":"Microsoft Graph Activity","operationVersion":"v1.0",
 "properties":{"apiVersion":"v1.0","appId":"app-1","clientAuthMethod":"2","clientRequestId":"creq","ipAddress":"81.2.69.143","location":"France Central","operationId":"req-1","requestId":"req-1","requestMethod":"get","requestUri":"https://graph.microsoft.com/v1.0/directoryRoles?$expand=members","responseSizeBytes":4300,"responseStatusCode":200,"roles":"RoleManagement.Read.Directory","scopes":null,"servicePrincipalId":"sp-1","signInActivityId":"sia","tenantId":"t-1","timeGenerated":"2024-03-07T10:24:44.7939418Z","tokenIssuedAt":"2024-03-07T10:19:44Z","userAgent":"","userId":null},
 "resourceId":"/TENANTS/T-1/PROVIDERS/MICROSOFT.AADIAM","resultSignature":"200","tenantId":"t-1","time":"2024-03-07T10:24:44.7939418Z"}"#;
        let e = one("evh.json", rec, Container::Records);
        assert_eq!(e.source, "graph_activity");
        assert_eq!(e.source_format, "eventhub");
        assert_eq!(time(&e), "2024-03-07T10:24:44.793941Z");
        assert_eq!(e.category.as_deref(), Some("MicrosoftGraphActivityLogs"));
        assert_eq!(e.operation.as_deref(), Some("GET /v1.0/directoryRoles"));
        assert_eq!(e.event_type.as_deref(), Some("Read"));
        assert_eq!(e.http_method.as_deref(), Some("GET"));
        assert_eq!(e.url.as_deref(), Some("https://graph.microsoft.com/v1.0/directoryRoles?$expand=members"));
        assert_eq!(e.http_status, Some(200));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.result_details.as_deref(), Some("200"));
        assert_eq!(e.src_ip.as_deref(), Some("81.2.69.143"));
        assert_eq!(e.user_agent, None, "empty user agent");
        assert_eq!(e.actor_app_id.as_deref(), Some("app-1"));
        assert_eq!(e.actor_user_id.as_deref(), Some("sp-1"), "app-only: the SP");
        assert_eq!(e.correlation_id.as_deref(), Some("req-1"));
        assert_eq!(e.tenant_id.as_deref(), Some("t-1"));
        assert_eq!(e.country, None, "location is an Azure region");
        assert_eq!(
            e.message,
            "app app-1 (service principal sp-1) from 81.2.69.143: GET /v1.0/directoryRoles?$expand=members → 200"
        );
    }

    #[test]
    fn graph_activity_diag_delegated_failure() {
        let rec = r#"{"time":"2024-03-07T16:42:22.8491400Z","category":"MicrosoftGraphActivityLogs","callerIpAddress":"81.2.69.144","correlationId":"req-2","tenantId":"t-2","resultSignature":"404",
 "properties":{"appId":"app-2","ipAddress":"81.2.69.144","requestMethod":"GET","requestUri":"https://graph.microsoft.com/beta//users/u-7/photos/48x48/$value","responseStatusCode":"404","servicePrincipalId":null,"userAgent":"Mozilla/5.0","userId":"user-1"}}"#;
        let e =
            one("insights-logs-microsoftgraphactivitylogs/y=2024/m=03/d=07/h=16/m=00/PT1H.json", rec, Container::Lines);
        assert_eq!(e.source_format, "diag");
        assert_eq!(e.operation.as_deref(), Some("GET /beta/users/u-7/photos/48x48/$value"));
        assert_eq!(e.http_status, Some(404));
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(e.actor_user_id.as_deref(), Some("user-1"));
        assert_eq!(e.user_agent.as_deref(), Some("Mozilla/5.0"));
        assert_eq!(
            e.message,
            "user user-1 via app app-2 from 81.2.69.144: GET /beta//users/u-7/photos/48x48/$value → 404"
        );
    }

    #[test]
    fn graph_activity_log_analytics_row() {
        let rec = r#"{"TenantId":"ws","AadTenantId":"t-1","TimeGenerated":"2026-03-12T03:36:47.1Z","RequestId":"req-3","OperationId":"op-3","ClientRequestId":"c","RequestMethod":"POST","RequestUri":"https://graph.microsoft.com/v1.0/applications/app-oid/addPassword","ResponseStatusCode":"200","IPAddress":"203.0.113.7","UserAgent":"azure-cli/2.58","AppId":"04b07795-8ddb-461a-bbee-02f9e1bf7b46","UserId":"megan-oid","ServicePrincipalId":"","SignInActivityId":"sia","Location":"West Europe","Type":"MicrosoftGraphActivityLogs"}"#;
        let e = one("MicrosoftGraphActivityLogs.json", rec, Container::Lines);
        assert_eq!(e.source_format, "loganalytics");
        assert_eq!(time(&e), "2026-03-12T03:36:47.100000Z");
        assert_eq!(e.category.as_deref(), Some("MicrosoftGraphActivityLogs"));
        assert_eq!(e.operation.as_deref(), Some("POST /v1.0/applications/app-oid/addPassword"));
        assert_eq!(e.event_type.as_deref(), Some("Create"));
        assert_eq!(e.http_method.as_deref(), Some("POST"));
        assert_eq!(e.http_status, Some(200));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.src_ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(e.user_agent.as_deref(), Some("azure-cli/2.58"));
        assert_eq!(e.actor_app_id.as_deref(), Some("04b07795-8ddb-461a-bbee-02f9e1bf7b46"));
        assert_eq!(e.actor_user_id.as_deref(), Some("megan-oid"));
        assert_eq!(e.correlation_id.as_deref(), Some("req-3"));
        assert_eq!(e.tenant_id.as_deref(), Some("t-1"));
        assert_eq!(
            e.message,
            "user megan-oid via app 04b07795-8ddb-461a-bbee-02f9e1bf7b46 from 203.0.113.7: POST /v1.0/applications/app-oid/addPassword → 200"
        );
    }

    #[test]
    fn graph_activity_missing_timestamp_and_lenient_types() {
        let rec = r#"{"TimeGenerated":null,"Type":"MicrosoftGraphActivityLogs","RequestMethod":"GET"}"#;
        let out = run_one("g.json", rec, Container::Lines);
        assert_eq!(out.bad.len(), 1);
        assert_eq!(out.bad[0].parser.as_deref(), Some("graph_activity"));
        assert_eq!(out.bad[0].reason, "no timestamp: none of TimeGenerated, TimeGenerated [UTC] present");
        // Status not a number, method a number, no URI.
        let rec = r#"{"time":"2024-03-07T10:00:00Z","category":"MicrosoftGraphActivityLogs","operationName":"Microsoft Graph Activity","properties":{"requestMethod":7,"responseStatusCode":"n/a","appId":"a"}}"#;
        let e = one("evh.json", rec, Container::Records);
        assert_eq!(e.http_status, None);
        assert_eq!(e.result.as_deref(), Some("NA"));
        assert_eq!(e.operation.as_deref(), Some("7"));
        assert_eq!(e.event_type.as_deref(), Some("Other"));
        assert_eq!(e.message, "app a: 7 → no status");
    }

    // ---- helpers -------------------------------------------------------------------------

    #[test]
    fn helper_edge_cases() {
        assert_eq!(pad_hour("2022-09-09T9:59:27.958Z").as_deref(), Some("2022-09-09T09:59:27.958Z"));
        assert_eq!(pad_hour("2022-09-09T09:59:27Z"), None);
        assert_eq!(pad_hour("é"), None);
        assert_eq!(
            key_field("[KeyIdentifier=k,KeyType=Password,KeyUsage=Verify,DisplayName=a,b]", "DisplayName"),
            Some("a,b")
        );
        assert_eq!(key_field("[KeyIdentifier=k,KeyType=Password]", "KeyType"), Some("Password"));
        assert_eq!(key_field("garbage", "KeyType"), None);
        assert_eq!(key_change(Some(serde_json::json!([])), Some(serde_json::json!([]))), None);
        assert_eq!(
            key_change(Some(serde_json::json!(["[KeyIdentifier=k1,KeyType=Password,DisplayName=x]"])), None).as_deref(),
            Some("removed Password credential \"x\" (key k1)")
        );
        assert_eq!(uri_path("https://graph.microsoft.com"), "/");
        assert_eq!(uri_path("/v1.0//me?x=1#f"), "/v1.0/me");
        assert_eq!(uri_tail("not a uri"), "not a uri");
        assert_eq!(audit_event_type(Some("Other"), "Add user"), "Create");
        assert_eq!(audit_event_type(None, "Hard delete user"), "Delete");
        assert_eq!(audit_event_type(None, "Consent to application"), "Other");
        assert_eq!(consent_scope("no scope here"), None);
        assert_eq!(valid_ip(Some("<null>".into())), None);
        assert_eq!(valid_ip(Some("2001:db8::1".into())).as_deref(), Some("2001:db8::1"));
    }
}
