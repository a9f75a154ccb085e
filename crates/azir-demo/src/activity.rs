//! Azure Activity Log: the production subscription as ARM REST pages, the dev subscription as a
//! diagnostic-setting blob tree (older days) and a Log Analytics `AzureActivity` CSV (recent days).

use std::io;

use serde_json::{json, Map, Value};

use crate::fmt::{csv_row, iso7, la_time, mins, ms, parse, ticks, Ts};
use crate::out::{blob_path, json_lines, resource_prefix, Out};
use crate::rng::{name_guid, Rng};
use crate::tenant::*;
use crate::{Ctx, ATTACKER_IP, OPENED_NSG, OPENED_RULE, SNAPSHOT_NAME, SUB_DEV, SUB_PROD, TENANT_ID};

#[derive(Clone, Copy)]
pub(crate) enum Caller {
    User(&'static User),
    Sp(&'static Sp),
}

/// The fixed identifiers of the seed article's Activity Log example.
struct SeedIds;

#[derive(Clone)]
struct Op {
    sub: &'static str,
    rg: String,
    rtype: String,
    resource_id: String,
    op: String,
    label: &'static str,
    method: &'static str,
    caller: Caller,
    ip: String,
    app_id: String,
    t: Ts,
    dur_ms: i64,
    asynchronous: bool,
    status_code: &'static str,
    request_body: Option<String>,
    response_body: Option<String>,
    role: (&'static str, &'static str, String),
    correlation: String,
    seed: Option<&'static SeedIds>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Begin,
    Accepted,
    End,
}

struct Ev {
    t: Ts,
    phase: Phase,
    op: usize,
    event_id: String,
    operation_id: String,
    request_id: String,
    submission_delay_ms: i64,
}

fn provider_of(rtype: &str) -> &str {
    rtype.split('/').next().unwrap_or(rtype)
}

fn role_for(caller: Caller, sub: &str) -> (&'static str, &'static str, String) {
    let scope = format!("/subscriptions/{sub}");
    match caller {
        Caller::User(u) => match u.upn {
            "megan@contoso.com" | "adele@contoso.com" => ("Owner", ROLE_OWNER, scope),
            "rob.robertson@contoso.com" => ("Network Contributor", "4d97b98b-1d4f-4787-a291-c67834d212e7", scope),
            _ => ("Contributor", ROLE_CONTRIBUTOR, scope),
        },
        Caller::Sp(sp) => match sp.name {
            "aa-contoso-automation" => ("Virtual Machine Contributor", "9980e02c-c2be-4d73-94e8-173b1dc7cf3c", scope),
            "contoso-snapshot-backup" => ("Disk Snapshot Contributor", "7efff54f-a5b4-42b5-a1c5-5411624893ce", scope),
            _ => ("Contributor", ROLE_CONTRIBUTOR, scope),
        },
    }
}

fn caller_name(c: Caller) -> String {
    match c {
        Caller::User(u) => u.upn.to_string(),
        Caller::Sp(sp) => sp.object_id(),
    }
}

fn principal(c: Caller) -> (String, &'static str) {
    match c {
        Caller::User(u) => (u.id(), "User"),
        Caller::Sp(sp) => (sp.object_id(), "ServicePrincipal"),
    }
}

fn b64ish(rng: &mut Rng, n: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..n).map(|_| A[rng.below(64) as usize] as char).collect()
}

fn claims(op: &Op, rng: &mut Rng) -> Map<String, Value> {
    let mut m = Map::new();
    let s = |v: &str| Value::String(v.to_string());
    if op.seed.is_some() {
        // The seed article's claims, with the blanked keys restored to their claim URIs.
        let u = user(crate::SEED_NSG_CALLER);
        let iat = op.t.timestamp() - 1517;
        for (k, v) in [
            ("aud", "https://management.core.windows.net/".to_string()),
            ("iss", format!("https://sts.windows.net/{TENANT_ID}/")),
            ("iat", iat.to_string()),
            ("nbf", iat.to_string()),
            ("exp", (iat + 3900).to_string()),
            ("_claim_names", "{\"groups\":\"src1\"}".to_string()),
            ("_claim_sources", format!("{{\"src1\":{{\"endpoint\":\"https://graph.windows.net/{TENANT_ID}/users/{ROB_OBJECT_ID}/getMemberObjects\"}}}}")),
            ("http://schemas.microsoft.com/claims/authnclassreference", "1".to_string()),
            ("aio", "A3GgTJdwK4vy7Fa7l6DgJC2mI0GX44tML385OpU1Q+z+jaPnFMwB".to_string()),
            ("http://schemas.microsoft.com/claims/authnmethodsreferences", "rsa,mfa".to_string()),
            ("appid", "355249ed-15d9-460d-8481-84026b065942".to_string()),
            ("appidacr", "2".to_string()),
            ("http://schemas.microsoft.com/2012/01/devicecontext/claims/identifier", "10845a4d-ffa4-4b61-a3b4-e57b9b31cdb5".to_string()),
            ("e_exp", "262800".to_string()),
            ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname", u.surname.to_string()),
            ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname", u.given.to_string()),
            ("ipaddr", op.ip.clone()),
            ("name", u.name.to_string()),
            ("http://schemas.microsoft.com/identity/claims/objectidentifier", ROB_OBJECT_ID.to_string()),
            ("onprem_sid", "S-1-5-21-4837261184-168309720-1886587427-18514304".to_string()),
            ("puid", "18247BBD84827C6D".to_string()),
            ("http://schemas.microsoft.com/identity/claims/scope", "user_impersonation".to_string()),
            ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", "b-24Jf94A3FH2sHWVIFqO3-RSJEiv24Jnif3gj7s".to_string()),
            ("http://schemas.microsoft.com/identity/claims/tenantid", TENANT_ID.to_string()),
            ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", u.upn.to_string()),
            ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", u.upn.to_string()),
            ("uti", "IdP3SUJGtkGlt7dDQVRPAA".to_string()),
            ("ver", "1.0".to_string()),
        ] {
            m.insert(k.to_string(), Value::String(v));
        }
        return m;
    }
    let iat = op.t.timestamp() - rng.range(120, 3000);
    m.insert("aud".into(), s("https://management.core.windows.net/"));
    m.insert("iss".into(), Value::String(format!("https://sts.windows.net/{TENANT_ID}/")));
    m.insert("iat".into(), Value::String(iat.to_string()));
    m.insert("nbf".into(), Value::String(iat.to_string()));
    m.insert("exp".into(), Value::String((iat + rng.range(3600, 5400)).to_string()));
    m.insert("aio".into(), Value::String(b64ish(rng, 52)));
    m.insert("appid".into(), Value::String(op.app_id.clone()));
    m.insert("ipaddr".into(), Value::String(op.ip.clone()));
    m.insert("http://schemas.microsoft.com/identity/claims/tenantid".into(), s(TENANT_ID));
    m.insert("uti".into(), Value::String(b64ish(rng, 22)));
    m.insert("ver".into(), s("1.0"));
    match op.caller {
        Caller::User(u) => {
            m.insert("http://schemas.microsoft.com/claims/authnclassreference".into(), s("1"));
            m.insert("http://schemas.microsoft.com/claims/authnmethodsreferences".into(), s("pwd,mfa"));
            m.insert("appidacr".into(), s(if op.app_id == APP_PORTAL.id { "2" } else { "0" }));
            m.insert("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname".into(), s(u.surname));
            m.insert("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname".into(), s(u.given));
            m.insert("name".into(), s(u.name));
            m.insert("http://schemas.microsoft.com/identity/claims/objectidentifier".into(), Value::String(u.id()));
            m.insert("onprem_sid".into(), Value::String(u.onprem_sid()));
            m.insert("puid".into(), Value::String(u.puid()));
            m.insert("http://schemas.microsoft.com/identity/claims/scope".into(), s("user_impersonation"));
            m.insert(
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier".into(),
                Value::String(b64ish(&mut Rng::new(0, u.upn), 43)),
            );
            m.insert("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name".into(), s(u.upn));
            m.insert("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn".into(), s(u.upn));
        }
        Caller::Sp(sp) => {
            m.insert("appidacr".into(), s("1"));
            m.insert("idp".into(), Value::String(format!("https://sts.windows.net/{TENANT_ID}/")));
            m.insert("idtyp".into(), s("app"));
            m.insert(
                "http://schemas.microsoft.com/identity/claims/objectidentifier".into(),
                Value::String(sp.object_id()),
            );
            m.insert(
                "http://schemas.microsoft.com/identity/claims/identityprovider".into(),
                Value::String(format!("https://sts.windows.net/{TENANT_ID}/")),
            );
            m.insert(
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier".into(),
                Value::String(sp.object_id()),
            );
            m.insert("rh".into(), Value::String(format!("0.{}.", b64ish(rng, 40))));
        }
    }
    m
}

/// (REST status, diagnostic `resultType`, diagnostic `resultSignature` prefix).
fn status_words(phase: Phase) -> (&'static str, &'static str, &'static str) {
    match phase {
        Phase::Begin => ("Started", "Start", "Started."),
        Phase::Accepted => ("Accepted", "Accept", "Accepted.Accepted"),
        Phase::End => ("Succeeded", "Success", "Succeeded."),
    }
}

fn sub_status(op: &Op, phase: Phase) -> (&'static str, &'static str) {
    if op.seed.is_some() && phase == Phase::End {
        return ("", "");
    }
    match phase {
        Phase::Begin => ("", ""),
        Phase::Accepted => ("Accepted", "Accepted (HTTP Status Code: 202)"),
        Phase::End => match op.status_code {
            "Created" => ("Created", "Created (HTTP Status Code: 201)"),
            "NoContent" => ("NoContent", "No Content (HTTP Status Code: 204)"),
            _ => ("OK", "OK (HTTP Status Code: 200)"),
        },
    }
}

fn hierarchy(sub: &str) -> String {
    format!("{TENANT_ID}/mg-contoso/{sub}")
}

fn rest_event(op: &Op, ev: &Ev, rng: &mut Rng) -> Value {
    let (status, _, _) = status_words(ev.phase);
    let (sub_v, sub_l) = sub_status(op, ev.phase);
    let mut props = Map::new();
    if op.seed.is_some() && ev.phase == Phase::End {
        props.insert("statusCode".into(), json!("Created"));
        props.insert("serviceRequestId".into(), json!("a4c11dbd-697e-47c5-9663-12362307157d"));
        props.insert("responseBody".into(), json!(""));
        props.insert("requestbody".into(), json!(""));
    } else {
        props.insert("eventCategory".into(), json!("Administrative"));
        props.insert("entity".into(), json!(op.resource_id));
        props.insert("message".into(), json!(op.op));
        props.insert("hierarchy".into(), json!(hierarchy(op.sub)));
        match ev.phase {
            Phase::Begin => {
                if let Some(b) = &op.request_body {
                    props.insert("requestbody".into(), json!(b));
                }
            }
            Phase::Accepted => {
                props.insert("statusCode".into(), json!("Accepted"));
                props.insert("serviceRequestId".into(), json!(ev.request_id));
            }
            Phase::End => {
                props.insert("statusCode".into(), json!(op.status_code));
                props.insert("serviceRequestId".into(), json!(ev.request_id));
                if let Some(b) = &op.response_body {
                    props.insert("responseBody".into(), json!(b));
                }
            }
        }
    }
    let (ename, elocal) = match ev.phase {
        Phase::Begin => ("BeginRequest", "Begin request"),
        _ => ("EndRequest", "End request"),
    };
    let mut v = json!({
        "authorization": {"action": op.op, "scope": op.resource_id},
        "caller": caller_name(op.caller),
        "channels": "Operation",
        "claims": claims(op, rng),
        "correlationId": op.correlation,
        "description": "",
        "eventDataId": ev.event_id,
        "eventName": {"value": ename, "localizedValue": elocal},
        "category": {"value": "Administrative", "localizedValue": "Administrative"},
        "eventTimestamp": iso7(ev.t),
        "id": format!("{}/events/{}/ticks/{}", op.resource_id, ev.event_id, ticks(ev.t)),
        "level": "Informational",
        "operationId": ev.operation_id,
        "operationName": {"value": op.op, "localizedValue": op.label},
        "resourceGroupName": op.rg,
        "resourceProviderName": {"value": provider_of(&op.rtype), "localizedValue": provider_of(&op.rtype)},
        "resourceType": {"value": op.rtype, "localizedValue": op.rtype},
        "resourceId": op.resource_id,
        "status": {"value": status, "localizedValue": status},
        "subStatus": {"value": sub_v, "localizedValue": sub_l},
        "submissionTimestamp": if op.seed.is_some() && ev.phase == Phase::End {
            "2026-03-09T14:42:50.0724829Z".to_string()
        } else {
            iso7(ev.t + ms(ev.submission_delay_ms))
        },
        "subscriptionId": op.sub,
        "properties": Value::Object(props),
        "relatedEvents": [],
    });
    let obj = v.as_object_mut().expect("object");
    if op.seed.is_none() {
        obj.insert("tenantId".into(), json!(TENANT_ID));
        obj.insert(
            "httpRequest".into(),
            json!({"clientRequestId": name_guid(&format!("req:{}", ev.event_id)), "clientIpAddress": op.ip, "method": op.method}),
        );
    } else {
        obj.insert("httpRequest".into(), json!({"clientIpAddress": op.ip, "method": op.method}));
    }
    v
}

fn authorization_evidence(op: &Op) -> Value {
    let (role, role_def, scope) = &op.role;
    let (pid, ptype) = principal(op.caller);
    json!({
        "scope": op.resource_id,
        "action": op.op,
        "evidence": {
            "role": role,
            "roleAssignmentScope": scope,
            "roleAssignmentId": name_guid(&format!("ra:{pid}:{role_def}")).replace('-', ""),
            "roleDefinitionId": role_def.replace('-', ""),
            "principalId": pid.replace('-', ""),
            "principalType": ptype,
        }
    })
}

fn diag_record(op: &Op, ev: &Ev, rng: &mut Rng) -> Value {
    let (_, result_type, sig) = status_words(ev.phase);
    let signature = match ev.phase {
        Phase::End => format!("{sig}{}", sub_status(op, ev.phase).0),
        _ => sig.to_string(),
    };
    let mut props = Map::new();
    if ev.phase != Phase::Begin {
        props.insert("statusCode".into(), json!(if ev.phase == Phase::Accepted { "Accepted" } else { op.status_code }));
        props.insert("serviceRequestId".into(), json!(ev.request_id));
    }
    if ev.phase == Phase::Begin {
        if let Some(b) = &op.request_body {
            props.insert("requestbody".into(), json!(b));
        }
    }
    props.insert("eventCategory".into(), json!("Administrative"));
    props.insert("entity".into(), json!(op.resource_id));
    props.insert("message".into(), json!(op.op));
    props.insert("hierarchy".into(), json!(hierarchy(op.sub)));
    json!({
        "time": iso7(ev.t),
        "resourceId": op.resource_id.to_uppercase(),
        "operationName": op.op.to_uppercase(),
        "category": "Administrative",
        "resultType": result_type,
        "resultSignature": signature,
        "durationMs": if ev.phase == Phase::Begin { 0 } else { op.dur_ms },
        "callerIpAddress": op.ip,
        "correlationId": op.correlation,
        "identity": {"authorization": authorization_evidence(op), "claims": claims(op, rng)},
        "level": "Information",
        "location": "global",
        "properties": Value::Object(props),
    })
}

const LA_ACTIVITY_HEADER: &[&str] = &[
    "TimeGenerated [UTC]",
    "OperationNameValue",
    "OperationName",
    "Level",
    "ActivityStatusValue",
    "ActivitySubstatusValue",
    "CategoryValue",
    "Caller",
    "CallerIpAddress",
    "CorrelationId",
    "EventDataId",
    "OperationId",
    "ResourceGroup",
    "ResourceProviderValue",
    "_ResourceId",
    "SubscriptionId",
    "Authorization",
    "Claims",
    "Properties",
    "HTTPRequest",
    "Hierarchy",
    "EventSubmissionTimestamp [UTC]",
    "TenantId",
    "SourceSystem",
    "Type",
];

fn la_row(op: &Op, ev: &Ev, rng: &mut Rng) -> String {
    let (_, result_type, _) = status_words(ev.phase);
    let (sub_v, _) = sub_status(op, ev.phase);
    let mut props = Map::new();
    props.insert("eventCategory".into(), json!("Administrative"));
    props.insert("entity".into(), json!(op.resource_id));
    props.insert("message".into(), json!(op.op));
    props.insert("hierarchy".into(), json!(hierarchy(op.sub)));
    if ev.phase != Phase::Begin {
        props.insert("statusCode".into(), json!(if ev.phase == Phase::Accepted { "Accepted" } else { op.status_code }));
        props.insert("serviceRequestId".into(), json!(ev.request_id));
    }
    let fields = vec![
        la_time(ev.t),
        op.op.to_uppercase(),
        op.label.to_string(),
        "Informational".to_string(),
        result_type.to_string(),
        sub_v.to_string(),
        "Administrative".to_string(),
        caller_name(op.caller),
        op.ip.clone(),
        op.correlation.clone(),
        ev.event_id.clone(),
        ev.operation_id.clone(),
        op.rg.to_uppercase(),
        provider_of(&op.rtype).to_uppercase(),
        op.resource_id.to_lowercase(),
        op.sub.to_string(),
        authorization_evidence(op).to_string(),
        Value::Object(claims(op, rng)).to_string(),
        Value::Object(props).to_string(),
        json!({"clientRequestId": name_guid(&format!("req:{}", ev.event_id)), "clientIpAddress": op.ip, "method": op.method}).to_string(),
        hierarchy(op.sub),
        la_time(ev.t + ms(ev.submission_delay_ms)),
        "6b1e2d3c-4f5a-4b6c-8d7e-9f0a1b2c3d4e".to_string(),
        "Azure".to_string(),
        "AzureActivity".to_string(),
    ];
    csv_row(&fields)
}

#[allow(clippy::too_many_arguments)]
fn mk(
    sub: &'static str,
    rg: &str,
    path: &str,
    op: &str,
    label: &'static str,
    method: &'static str,
    caller: Caller,
    ip: &str,
    app_id: &str,
    t: Ts,
) -> Op {
    let resource_id = if rg.is_empty() { format!("/subscriptions/{sub}/providers/{path}") } else { rid(sub, rg, path) };
    Op {
        sub,
        rg: rg.to_string(),
        rtype: type_of(path),
        resource_id,
        op: op.to_string(),
        label,
        method,
        caller,
        ip: ip.to_string(),
        app_id: app_id.to_string(),
        t,
        dur_ms: 0,
        asynchronous: false,
        status_code: if method == "PUT" { "Created" } else { "OK" },
        request_body: None,
        response_body: None,
        role: role_for(caller, sub),
        correlation: String::new(),
        seed: None,
    }
}

/// Fills the random parts the constructors left empty.
fn finalize(ops: &mut [Op], rng: &mut Rng) {
    for o in ops {
        if o.correlation.is_empty() {
            o.correlation = rng.guid();
        }
        if o.dur_ms == 0 {
            o.dur_ms = if o.asynchronous { rng.range(15_000, 120_000) } else { rng.range(300, 9_000) };
        }
    }
}

/// `Microsoft.Network/networkSecurityGroups/nsg/securityRules/r` -> `Microsoft.Network/networkSecurityGroups/securityRules`.
fn type_of(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    let mut t = vec![parts[0]];
    let mut i = 1;
    while i < parts.len() {
        t.push(parts[i]);
        i += 2;
    }
    t.join("/")
}

fn user_ip(rng: &mut Rng, u: &User) -> String {
    if rng.chance(0.7) {
        HQ_EGRESS_IP.to_string()
    } else {
        u.home_ip.to_string()
    }
}

const DEVOPS_IP: &str = "20.42.5.13";
const AUTOMATION_IP: &str = "20.62.134.201";
const BACKUP_IP: &str = "20.62.135.18";

fn benign_ops(ctx: &Ctx, rng: &mut Rng) -> Vec<Op> {
    let mut ops = Vec::new();
    for hour in ctx.hours() {
        let d = Ctx::diurnal(hour);
        // Production: pipeline deployments, extensions, tags, restarts, occasional admin changes.
        let n = rng.count(3.0 * d * ctx.scale);
        for _ in 0..n {
            let t = hour + ms(rng.range(0, 3_600_000));
            let kind = *rng.weighted(&[(35, 0u8), (15, 1), (15, 2), (8, 3), (6, 4), (4, 5), (3, 6), (2, 7), (2, 8)]);
            let admin = user(rng.pick_str(ADMINS));
            match kind {
                0 => {
                    let rg = *rng.pick(&["rg-prod-web", "rg-prod-app"]);
                    let name = format!("release-{}", rng.range(2400, 2600));
                    let mut o = mk(
                        SUB_PROD,
                        rg,
                        &format!("Microsoft.Resources/deployments/{name}"),
                        "Microsoft.Resources/deployments/write",
                        "Create Deployment",
                        "PUT",
                        Caller::Sp(&SP_DEVOPS),
                        DEVOPS_IP,
                        &SP_DEVOPS.app_id(),
                        t,
                    );
                    o.dur_ms = rng.range(20_000, 240_000);
                    o.asynchronous = true;
                    ops.push(o);
                }
                1 => {
                    let vm = rng.pick(PROD_VMS);
                    let ext = *rng.pick(&["AzureMonitorLinuxAgent", "MDE.Linux", "CustomScript"]);
                    let mut o = mk(
                        SUB_PROD,
                        vm.rg,
                        &format!("Microsoft.Compute/virtualMachines/{}/extensions/{ext}", vm.name),
                        "Microsoft.Compute/virtualMachines/extensions/write",
                        "Create or Update Virtual Machine Extension",
                        "PUT",
                        Caller::Sp(&SP_DEVOPS),
                        DEVOPS_IP,
                        &SP_DEVOPS.app_id(),
                        t,
                    );
                    o.status_code = "OK";
                    ops.push(o);
                }
                2 => {
                    let vm = rng.pick(PROD_VMS);
                    let mut o = mk(
                        SUB_PROD,
                        vm.rg,
                        &format!(
                            "Microsoft.Compute/virtualMachines/{}/providers/Microsoft.Resources/tags/default",
                            vm.name
                        ),
                        "Microsoft.Resources/tags/write",
                        "Update resource tags",
                        "PATCH",
                        Caller::User(admin),
                        &user_ip(rng, admin),
                        APP_PORTAL.id,
                        t,
                    );
                    o.rtype = "Microsoft.Resources/tags".into();
                    o.status_code = "OK";
                    o.request_body = Some(format!("{{\"operation\":\"Merge\",\"properties\":{{\"tags\":{{\"costcenter\":\"{}\",\"owner\":\"{}\"}}}}}}", rng.range(1000, 1100), admin.upn));
                    ops.push(o);
                }
                3 => {
                    let vm = rng.pick(PROD_VMS);
                    let mut o = mk(
                        SUB_PROD,
                        vm.rg,
                        &format!("Microsoft.Compute/virtualMachines/{}", vm.name),
                        "Microsoft.Compute/virtualMachines/restart/action",
                        "Restart Virtual Machine",
                        "POST",
                        Caller::User(admin),
                        &user_ip(rng, admin),
                        APP_PORTAL.id,
                        t,
                    );
                    o.asynchronous = true;
                    o.dur_ms = rng.range(30_000, 90_000);
                    ops.push(o);
                }
                4 => {
                    let o = mk(
                        SUB_PROD,
                        "rg-security",
                        &format!("Microsoft.KeyVault/vaults/{KEYVAULT}"),
                        "Microsoft.KeyVault/vaults/read",
                        "View Key Vault",
                        "GET",
                        Caller::User(admin),
                        &user_ip(rng, admin),
                        APP_PORTAL.id,
                        t,
                    );
                    // ARM reads are not in the Activity Log; record a harmless write instead.
                    let mut o = Op {
                        op: "Microsoft.KeyVault/vaults/write".into(),
                        label: "Update Key Vault",
                        method: "PUT",
                        status_code: "OK",
                        ..o
                    };
                    o.request_body = Some("{\"properties\":{\"enableSoftDelete\":true,\"softDeleteRetentionInDays\":90,\"enablePurgeProtection\":true}}".into());
                    ops.push(o);
                }
                5 => {
                    let rob = user(crate::SEED_NSG_CALLER);
                    let rule = *rng.pick(&["Allow-AppGw-Http", "Allow-Web-To-App", "Allow-HealthProbe"]);
                    let nsg = if rule == "Allow-Web-To-App" {
                        ("rg-prod-app", "nsg-app")
                    } else {
                        ("rg-prod-web", "nsg-web")
                    };
                    let mut o = mk(
                        SUB_PROD,
                        nsg.0,
                        &format!("Microsoft.Network/networkSecurityGroups/{}/securityRules/{rule}", nsg.1),
                        "Microsoft.Network/networkSecurityGroups/securityRules/write",
                        "Create or Update Security Rule",
                        "PUT",
                        Caller::User(rob),
                        &user_ip(rng, rob),
                        APP_PORTAL.id,
                        t,
                    );
                    o.status_code = "OK";
                    let (src, port, prio) = match rule {
                        "Allow-AppGw-Http" => ("10.10.0.0/24", "80", 200),
                        "Allow-Web-To-App" => ("10.10.1.0/24", "8080", 210),
                        _ => ("AzureLoadBalancer", "80", 220),
                    };
                    o.request_body = Some(format!("{{\"properties\":{{\"protocol\":\"Tcp\",\"sourcePortRange\":\"*\",\"destinationPortRange\":\"{port}\",\"sourceAddressPrefix\":\"{src}\",\"destinationAddressPrefix\":\"*\",\"access\":\"Allow\",\"priority\":{prio},\"direction\":\"Inbound\"}}}}"));
                    o.asynchronous = true;
                    ops.push(o);
                }
                6 => {
                    let megan = user(crate::COMPROMISED_USER);
                    let who = user(rng.pick_str(&[
                        "alex@contoso.com",
                        "lidia@contoso.com",
                        "isaiah@contoso.com",
                        "joni@contoso.com",
                    ]));
                    let ra = rng.guid();
                    let rg = *rng.pick(&["rg-prod-web", "rg-data"]);
                    let mut o = mk(
                        SUB_PROD,
                        rg,
                        &format!("Microsoft.Authorization/roleAssignments/{ra}"),
                        "Microsoft.Authorization/roleAssignments/write",
                        "Create role assignment",
                        "PUT",
                        Caller::User(megan),
                        HQ_EGRESS_IP,
                        APP_PORTAL.id,
                        t,
                    );
                    o.request_body = Some(format!("{{\"Id\":\"{ra}\",\"Properties\":{{\"PrincipalId\":\"{}\",\"PrincipalType\":\"User\",\"RoleDefinitionId\":\"/subscriptions/{SUB_PROD}/providers/Microsoft.Authorization/roleDefinitions/{ROLE_READER}\",\"Scope\":\"/subscriptions/{SUB_PROD}/resourceGroups/{rg}\",\"Condition\":null,\"ConditionVersion\":null}}}}", who.id()));
                    ops.push(o);
                }
                7 => {
                    let o = mk(
                        SUB_PROD,
                        "rg-data",
                        &format!("Microsoft.Storage/storageAccounts/{STORAGE}"),
                        "Microsoft.Storage/storageAccounts/listKeys/action",
                        "List Storage Account Keys",
                        "POST",
                        Caller::User(admin),
                        &user_ip(rng, admin),
                        APP_PORTAL.id,
                        t,
                    );
                    ops.push(o);
                }
                _ => {
                    let mut o = mk(
                        SUB_PROD,
                        "rg-prod-web",
                        "Microsoft.Network/applicationGateways/agw-contoso-prod",
                        "Microsoft.Network/applicationGateways/write",
                        "Create or Update Application Gateway",
                        "PUT",
                        Caller::Sp(&SP_DEVOPS),
                        DEVOPS_IP,
                        &SP_DEVOPS.app_id(),
                        t,
                    );
                    o.asynchronous = true;
                    o.status_code = "OK";
                    o.dur_ms = rng.range(60_000, 400_000);
                    ops.push(o);
                }
            }
        }
        // Dev: more deployments and tinkering.
        let n = rng.count(2.5 * d * ctx.scale);
        for _ in 0..n {
            let t = hour + ms(rng.range(0, 3_600_000));
            let dev = user(rng.pick_str(&[
                "henrietta@contoso.com",
                "johanna@contoso.com",
                "megan@contoso.com",
                "lidia@contoso.com",
            ]));
            match *rng.weighted(&[(50, 0u8), (25, 1), (15, 2), (10, 3)]) {
                0 => {
                    let name = format!("dev-{}", rng.hex(6));
                    let mut o = mk(
                        SUB_DEV,
                        "rg-dev",
                        &format!("Microsoft.Resources/deployments/{name}"),
                        "Microsoft.Resources/deployments/write",
                        "Create Deployment",
                        "PUT",
                        Caller::Sp(&SP_DEVOPS),
                        DEVOPS_IP,
                        &SP_DEVOPS.app_id(),
                        t,
                    );
                    o.asynchronous = true;
                    ops.push(o);
                }
                1 => {
                    let vm = rng.pick(DEV_VMS);
                    let mut o = mk(
                        SUB_DEV,
                        vm.rg,
                        &format!("Microsoft.Compute/virtualMachines/{}", vm.name),
                        "Microsoft.Compute/virtualMachines/write",
                        "Create or Update Virtual Machine",
                        "PUT",
                        Caller::User(dev),
                        &user_ip(rng, dev),
                        APP_PORTAL.id,
                        t,
                    );
                    o.status_code = "OK";
                    o.asynchronous = true;
                    ops.push(o);
                }
                2 => {
                    let o = mk(
                        SUB_DEV,
                        "rg-dev",
                        &format!(
                            "Microsoft.Storage/storageAccounts/{STORAGE_DEV}/blobServices/default/containers/build-{}",
                            rng.range(1, 9)
                        ),
                        "Microsoft.Storage/storageAccounts/blobServices/containers/write",
                        "Put blob container",
                        "PUT",
                        Caller::User(dev),
                        &user_ip(rng, dev),
                        APP_CLI.id,
                        t,
                    );
                    ops.push(o);
                }
                _ => {
                    let o = mk(
                        SUB_DEV,
                        "rg-dev",
                        &format!("Microsoft.Web/serverfarms/asp-dev-{}", rng.range(1, 3)),
                        "Microsoft.Web/serverfarms/write",
                        "Create or Update App Service Plan",
                        "PUT",
                        Caller::User(dev),
                        &user_ip(rng, dev),
                        APP_PORTAL.id,
                        t,
                    );
                    ops.push(o);
                }
            }
        }
        // Scheduled work (fixed times, every day).
        let local = hour - crate::fmt::hours(7);
        use chrono::{Datelike, Timelike};
        let weekday = local.weekday().number_from_monday() <= 5;
        if hour.hour() == 8 {
            for vm in PROD_VMS {
                let t = hour + mins(2) + ms(rng.range(0, 50_000));
                let name = format!("snap-{}-nightly-{}", vm.name, t.format("%Y%m%d"));
                let mut o = mk(
                    SUB_PROD,
                    vm.rg,
                    &format!("Microsoft.Compute/snapshots/{name}"),
                    "Microsoft.Compute/snapshots/write",
                    "Create or update Snapshot",
                    "PUT",
                    Caller::Sp(&SP_BACKUP),
                    BACKUP_IP,
                    &SP_BACKUP.app_id(),
                    t,
                );
                o.asynchronous = true;
                o.status_code = "OK";
                o.dur_ms = rng.range(15_000, 70_000);
                o.request_body = Some(format!("{{\"location\":\"eastus\",\"properties\":{{\"creationData\":{{\"createOption\":\"Copy\",\"sourceResourceId\":\"{}\"}},\"incremental\":true}}}}", rid(vm.sub, vm.rg, &format!("Microsoft.Compute/disks/{}", vm.os_disk))));
                ops.push(o);
            }
        }
        if hour.hour() % 6 == 1 {
            let t = hour + mins(5) + ms(rng.range(0, 20_000));
            ops.push(mk(
                SUB_PROD,
                "rg-data",
                &format!("Microsoft.Storage/storageAccounts/{STORAGE}"),
                "Microsoft.Storage/storageAccounts/listKeys/action",
                "List Storage Account Keys",
                "POST",
                Caller::Sp(&SP_AUTOMATION),
                AUTOMATION_IP,
                &SP_AUTOMATION.app_id(),
                t,
            ));
        }
        if weekday && (hour.hour() == 15 || hour.hour() == 2) {
            let (op, label) = if hour.hour() == 15 {
                ("Microsoft.Compute/virtualMachines/start/action", "Start Virtual Machine")
            } else {
                ("Microsoft.Compute/virtualMachines/deallocate/action", "Deallocate Virtual Machine")
            };
            for vm in DEV_VMS {
                let t = hour + ms(rng.range(1000, 40_000));
                let mut o = mk(
                    SUB_DEV,
                    vm.rg,
                    &format!("Microsoft.Compute/virtualMachines/{}", vm.name),
                    op,
                    label,
                    "POST",
                    Caller::Sp(&SP_AUTOMATION),
                    AUTOMATION_IP,
                    &SP_AUTOMATION.app_id(),
                    t,
                );
                o.asynchronous = true;
                o.dur_ms = rng.range(40_000, 180_000);
                ops.push(o);
            }
        }
    }
    finalize(&mut ops, rng);
    ops.retain(|o| ctx.in_window(o.t));
    ops
}

fn attack_ops(ctx: &Ctx, rng: &mut Rng) -> Vec<Op> {
    let megan = user(crate::COMPROMISED_USER);
    let rob = user(crate::SEED_NSG_CALLER);
    let adele = user(crate::RESPONDER);
    let atk = Caller::User(megan);
    let cli = APP_CLI.id;
    let mut ops = Vec::new();

    // Seed article example: Rob Robertson writes myNSG (benign), 2026-03-09 14:42.
    let t = parse("2026-03-09T14:42:31.3810679Z") - ms(rng.range(2500, 4000));
    let mut o = mk(
        SUB_PROD,
        "myResourceGroup",
        "Microsoft.Network/networkSecurityGroups/myNSG",
        "Microsoft.Network/networkSecurityGroups/write",
        "Create or Update Network Security Group",
        "PUT",
        Caller::User(rob),
        HQ_EGRESS_IP,
        "355249ed-15d9-460d-8481-84026b065942",
        t,
    );
    o.resource_id = "/subscriptions/".to_string()
        + SUB_PROD
        + "/resourcegroups/myResourceGroup/providers/Microsoft.Network/networkSecurityGroups/myNSG";
    o.correlation = "b5768deb-836b-41cc-803e-3f4de2f9e40b".into();
    o.status_code = "Created";
    o.label = "Microsoft.Network/networkSecurityGroups/write";
    o.seed = Some(&SeedIds);
    o.dur_ms = parse("2026-03-09T14:42:31.3810679Z").signed_duration_since(t).num_milliseconds();
    ops.push(o);

    // Owner at subscription scope for the backdoor service principal.
    let ra = name_guid("ra:backdoor-owner");
    let t = parse(crate::ROLE_ASSIGNMENT_TIME);
    let mut o = mk(
        SUB_PROD,
        "",
        &format!("Microsoft.Authorization/roleAssignments/{ra}"),
        "Microsoft.Authorization/roleAssignments/write",
        "Create role assignment",
        "PUT",
        atk,
        ATTACKER_IP,
        cli,
        t,
    );
    o.request_body = Some(format!("{{\"Id\":\"{ra}\",\"Properties\":{{\"PrincipalId\":\"{}\",\"PrincipalType\":\"ServicePrincipal\",\"RoleDefinitionId\":\"/subscriptions/{SUB_PROD}/providers/Microsoft.Authorization/roleDefinitions/{ROLE_OWNER}\",\"Scope\":\"/subscriptions/{SUB_PROD}\",\"Condition\":null,\"ConditionVersion\":null}}}}", SP_BACKDOOR.object_id()));
    o.response_body = Some(format!("{{\"properties\":{{\"roleDefinitionId\":\"/subscriptions/{SUB_PROD}/providers/Microsoft.Authorization/roleDefinitions/{ROLE_OWNER}\",\"principalId\":\"{}\",\"principalType\":\"ServicePrincipal\",\"scope\":\"/subscriptions/{SUB_PROD}\",\"createdBy\":\"{}\"}},\"id\":\"/subscriptions/{SUB_PROD}/providers/Microsoft.Authorization/roleAssignments/{ra}\",\"type\":\"Microsoft.Authorization/roleAssignments\",\"name\":\"{ra}\"}}", SP_BACKDOOR.object_id(), megan.id()));
    o.dur_ms = 1840;
    ops.push(o);

    // NSG opened to the Internet.
    let t = parse(crate::NSG_OPEN_TIME);
    let rule_id = format!("{}/securityRules/{OPENED_RULE}", nsg_id(SUB_PROD, "rg-prod-web", OPENED_NSG));
    let mut o = mk(
        SUB_PROD,
        "rg-prod-web",
        &format!("Microsoft.Network/networkSecurityGroups/{OPENED_NSG}/securityRules/{OPENED_RULE}"),
        "Microsoft.Network/networkSecurityGroups/securityRules/write",
        "Create or Update Security Rule",
        "PUT",
        atk,
        ATTACKER_IP,
        cli,
        t,
    );
    o.request_body = Some(format!("{{\"name\":\"{OPENED_RULE}\",\"properties\":{{\"description\":\"temp mgmt\",\"protocol\":\"*\",\"sourcePortRange\":\"*\",\"destinationPortRanges\":[\"22\",\"3389\"],\"sourceAddressPrefix\":\"*\",\"destinationAddressPrefix\":\"*\",\"access\":\"Allow\",\"priority\":100,\"direction\":\"Inbound\"}}}}"));
    o.response_body = Some(format!("{{\"name\":\"{OPENED_RULE}\",\"id\":\"{rule_id}\",\"etag\":\"W/\\\"{}\\\"\",\"type\":\"Microsoft.Network/networkSecurityGroups/securityRules\",\"properties\":{{\"provisioningState\":\"Updating\",\"description\":\"temp mgmt\",\"protocol\":\"*\",\"sourcePortRange\":\"*\",\"destinationPortRanges\":[\"22\",\"3389\"],\"sourceAddressPrefix\":\"*\",\"destinationAddressPrefix\":\"*\",\"access\":\"Allow\",\"priority\":100,\"direction\":\"Inbound\",\"sourcePortRanges\":[],\"sourceAddressPrefixes\":[],\"destinationAddressPrefixes\":[]}}}}", name_guid("etag:rule")));
    o.asynchronous = true;
    o.dur_ms = 10_410;
    ops.push(o);

    // Run command on vm-app-01 and vm-db-01.
    for (vm, t) in [(&VM_APP, parse(crate::RUN_COMMAND_TIME)), (&VM_DB, parse("2026-03-12T04:11:40Z"))] {
        let mut o = mk(
            SUB_PROD,
            vm.rg,
            &format!("Microsoft.Compute/virtualMachines/{}", vm.name),
            "Microsoft.Compute/virtualMachines/runCommand/action",
            "Run Command on Virtual Machine",
            "POST",
            atk,
            ATTACKER_IP,
            cli,
            t,
        );
        o.request_body = Some("{\"commandId\":\"RunShellScript\",\"script\":[\"<script redacted by Azure>\"]}".into());
        o.asynchronous = true;
        o.dur_ms = rng.range(38_000, 61_000);
        ops.push(o);
    }

    // Snapshot of vm-db-01's OS disk, then SAS export.
    let snap_path = format!("Microsoft.Compute/snapshots/{SNAPSHOT_NAME}");
    let t = parse(crate::SNAPSHOT_TIME);
    let mut o = mk(
        SUB_PROD,
        VM_DB.rg,
        &snap_path,
        "Microsoft.Compute/snapshots/write",
        "Create or update Snapshot",
        "PUT",
        atk,
        ATTACKER_IP,
        cli,
        t,
    );
    o.request_body = Some(format!("{{\"location\":\"eastus\",\"properties\":{{\"creationData\":{{\"createOption\":\"Copy\",\"sourceResourceId\":\"{}\"}},\"incremental\":false,\"networkAccessPolicy\":\"AllowAll\",\"publicNetworkAccess\":\"Enabled\"}},\"sku\":{{\"name\":\"Standard_LRS\"}}}}", rid(SUB_PROD, VM_DB.rg, &format!("Microsoft.Compute/disks/{}", VM_DB.os_disk))));
    o.asynchronous = true;
    o.status_code = "OK";
    o.dur_ms = 31_220;
    ops.push(o);
    let t = parse(crate::SNAPSHOT_ACCESS_TIME);
    let mut o = mk(
        SUB_PROD,
        VM_DB.rg,
        &snap_path,
        "Microsoft.Compute/snapshots/beginGetAccess/action",
        "Get Snapshot SAS URI",
        "POST",
        atk,
        ATTACKER_IP,
        cli,
        t,
    );
    o.request_body = Some("{\"access\":\"Read\",\"durationInSeconds\":86400}".into());
    o.asynchronous = true;
    o.dur_ms = 4_870;
    ops.push(o);

    // Dev storage keys.
    let t = parse("2026-03-12T05:41:27Z");
    let mut o = mk(
        SUB_DEV,
        "rg-dev",
        &format!("Microsoft.Storage/storageAccounts/{STORAGE_DEV}"),
        "Microsoft.Storage/storageAccounts/listKeys/action",
        "List Storage Account Keys",
        "POST",
        atk,
        ATTACKER_IP,
        cli,
        t,
    );
    o.dur_ms = 612;
    ops.push(o);

    // Benign but relevant: Rob switches the firewall's diagnostic setting to resource-specific tables.
    let t = parse("2026-03-11T10:02:44Z");
    let mut o = mk(SUB_DEV, "rg-dev-network", "Microsoft.Network/azureFirewalls/afw-contoso-dev/providers/microsoft.insights/diagnosticSettings/diag-afw-storage", "Microsoft.Insights/diagnosticSettings/write", "Create or update resource diagnostic setting", "PUT", Caller::User(rob), HQ_EGRESS_IP, APP_PORTAL.id, t);
    o.rtype = "Microsoft.Insights/diagnosticSettings".into();
    o.status_code = "OK";
    o.request_body = Some("{\"properties\":{\"storageAccountId\":\"/subscriptions/".to_string() + SUB_DEV + "/resourceGroups/rg-dev/providers/Microsoft.Storage/storageAccounts/stcontosodev\",\"logAnalyticsDestinationType\":\"Dedicated\",\"logs\":[{\"category\":\"AZFWNetworkRule\",\"enabled\":true},{\"category\":\"AzureFirewallNetworkRule\",\"enabled\":false},{\"category\":\"AzureFirewallApplicationRule\",\"enabled\":false}]}}");
    ops.push(o);
    // A developer deployment in the dev subscription (its blob is the classic d=09/h=14 example path).
    let t = parse("2026-03-09T14:12:09Z");
    let mut o = mk(
        SUB_DEV,
        "rg-dev",
        "Microsoft.Resources/deployments/dev-func-api",
        "Microsoft.Resources/deployments/write",
        "Create Deployment",
        "PUT",
        Caller::User(user("henrietta@contoso.com")),
        HQ_EGRESS_IP,
        APP_CLI.id,
        t,
    );
    o.asynchronous = true;
    o.dur_ms = 64_210;
    ops.push(o);
    // Benign run command by a developer (so the operation alone is not the detection).
    let t = parse("2026-03-10T17:21:09Z");
    let dev = user("henrietta@contoso.com");
    let mut o = mk(
        SUB_DEV,
        "rg-dev",
        "Microsoft.Compute/virtualMachines/vm-dev-01",
        "Microsoft.Compute/virtualMachines/runCommand/action",
        "Run Command on Virtual Machine",
        "POST",
        Caller::User(dev),
        HQ_EGRESS_IP,
        APP_PORTAL.id,
        t,
    );
    o.request_body = Some("{\"commandId\":\"RunShellScript\",\"script\":[\"<script redacted by Azure>\"]}".into());
    o.asynchronous = true;
    ops.push(o);

    // Containment.
    let t = parse("2026-03-13T09:24:51Z");
    let mut o = mk(
        SUB_PROD,
        "",
        &format!("Microsoft.Authorization/roleAssignments/{ra}"),
        "Microsoft.Authorization/roleAssignments/delete",
        "Delete role assignment",
        "DELETE",
        Caller::User(adele),
        HQ_EGRESS_IP,
        APP_PORTAL.id,
        t,
    );
    o.status_code = "OK";
    ops.push(o);
    let t = parse("2026-03-13T09:31:02Z");
    let mut o = mk(
        SUB_PROD,
        VM_DB.rg,
        &snap_path,
        "Microsoft.Compute/snapshots/endGetAccess/action",
        "Revoke Snapshot SAS URI",
        "POST",
        Caller::User(adele),
        HQ_EGRESS_IP,
        APP_PORTAL.id,
        t,
    );
    o.asynchronous = true;
    ops.push(o);
    let t = parse("2026-03-13T09:40:00Z");
    let mut o = mk(
        SUB_PROD,
        "rg-prod-web",
        &format!("Microsoft.Network/networkSecurityGroups/{OPENED_NSG}/securityRules/{OPENED_RULE}"),
        "Microsoft.Network/networkSecurityGroups/securityRules/delete",
        "Delete Security Rule",
        "DELETE",
        Caller::User(rob),
        HQ_EGRESS_IP,
        APP_PORTAL.id,
        t,
    );
    o.asynchronous = true;
    o.status_code = "OK";
    ops.push(o);

    finalize(&mut ops, rng);
    ops.retain(|o| ctx.in_window(o.t));
    ops
}

fn events(ops: &[Op], rng: &mut Rng) -> Vec<Ev> {
    let mut evs = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        let operation_id = rng.guid();
        let request_id = rng.guid();
        let mut push = |t: Ts, phase: Phase, rng: &mut Rng| {
            let (event_id, operation_id) = if op.seed.is_some() && phase == Phase::End {
                ("d0d36f97-b29c-4cd9-9d3d-ea2b92af3e9d".to_string(), "04e575f8-48d0-4c43-a8b3-78c4eb01d287".to_string())
            } else if op.seed.is_some() {
                (rng.guid(), "04e575f8-48d0-4c43-a8b3-78c4eb01d287".to_string())
            } else {
                (rng.guid(), operation_id.clone())
            };
            let submission_delay_ms =
                if op.seed.is_some() && phase == Phase::End { 18_691 } else { rng.range(4_000, 25_000) };
            evs.push(Ev {
                t,
                phase,
                op: i,
                event_id,
                operation_id,
                request_id: request_id.clone(),
                submission_delay_ms,
            });
        };
        push(op.t, Phase::Begin, rng);
        if op.asynchronous {
            let acc = (op.dur_ms / 20).clamp(200, 3000);
            push(op.t + ms(acc), Phase::Accepted, rng);
        }
        push(op.t + ms(op.dur_ms), Phase::End, rng);
    }
    evs
}

const PAGE: usize = 200;

pub(crate) fn write(ctx: &Ctx, out: &mut Out) -> io::Result<()> {
    let mut rng = ctx.rng("activity");
    let mut ops = benign_ops(ctx, &mut rng);
    let mut arng = ctx.rng("activity-attack");
    ops.extend(attack_ops(ctx, &mut arng));
    let mut erng = ctx.rng("activity-events");
    let mut evs = events(&ops, &mut erng);
    evs.retain(|e| ctx.in_window(e.t));
    evs.sort_by(|a, b| a.t.cmp(&b.t).then(a.event_id.cmp(&b.event_id)));
    let mut crng = ctx.rng("activity-claims");

    // Production: REST pages, newest first.
    let prod: Vec<&Ev> = evs.iter().rev().filter(|e| ops[e.op].sub == SUB_PROD).collect();
    let filter = format!(
        "eventTimestamp%20ge%20%27{}%27%20and%20eventTimestamp%20le%20%27{}%27",
        ctx.start.format("%Y-%m-%dT%H:%M:%SZ"),
        ctx.end.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let pages: Vec<&[&Ev]> = prod.chunks(PAGE).collect();
    let n_pages = pages.len();
    let mut lrng = ctx.rng("activity-links");
    for (i, page) in pages.into_iter().enumerate() {
        let values: Vec<Value> = page.iter().map(|e| rest_event(&ops[e.op], e, &mut crng)).collect();
        out.count("activity", values.len() as u64);
        let mut body = Map::new();
        body.insert("value".into(), Value::Array(values));
        if i + 1 < n_pages {
            body.insert(
                "nextLink".into(),
                json!(format!(
                    "https://management.azure.com/subscriptions/{SUB_PROD}/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01&$filter={filter}&$skipToken={}",
                    lrng.hex(96)
                )),
            );
        }
        let text = serde_json::to_vec_pretty(&Value::Object(body)).expect("serialise");
        out.put(&format!("activity/rest/prod-{i:03}.json"), &text)?;
    }

    // Dev: blob tree before the attack day, Log Analytics CSV from then on.
    let prefix = resource_prefix(&format!("/subscriptions/{SUB_DEV}"));
    let mut hourly: std::collections::BTreeMap<Ts, Vec<Value>> = Default::default();
    let mut csv = LA_ACTIVITY_HEADER.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut csv_text = csv_row(&std::mem::take(&mut csv));
    let mut csv_rows = 0u64;
    for e in evs.iter().filter(|e| ops[e.op].sub == SUB_DEV) {
        let op = &ops[e.op];
        if e.t < ctx.attack_day {
            // Diagnostic settings append as received: a few late events land in the next hour's blob.
            let mut bucket = crate::fmt::hour_floor(e.t + ms(e.submission_delay_ms / 4));
            if bucket >= ctx.attack_day {
                bucket = crate::fmt::hour_floor(e.t);
            }
            hourly.entry(bucket).or_default().push(diag_record(op, e, &mut crng));
        } else {
            csv_text.push_str(&la_row(op, e, &mut crng));
            csv_rows += 1;
        }
    }
    for (hour, recs) in hourly {
        out.count("activity", recs.len() as u64);
        let path = blob_path("insights-activity-logs", &prefix, hour, "");
        out.put_maybe_gz(&path, &json_lines(&recs), hour < ctx.gz_before)?;
    }
    out.count("activity", csv_rows);
    out.put(
        &format!("loganalytics/AzureActivity_dev_{}-{}.csv", ctx.attack_day.format("%Y%m%d"), ctx.end.format("%Y%m%d")),
        csv_text.as_bytes(),
    )?;
    Ok(())
}
