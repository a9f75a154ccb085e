//! Entra ID: sign-ins, directory audits, provisioning, Identity Protection and Microsoft Graph
//! activity, spread over Graph pages, diagnostic blobs, Event Hub captures and a Log Analytics CSV.

use std::io;

use serde_json::{json, Map, Value};

use crate::fmt::{csv_row, hours, iso7, iso_s, la_time, mins, ms, parse, secs, Ts};
use crate::out::{records_object, write_hourly, Out};
use crate::rng::{name_guid, Rng};
use crate::tenant::*;
use crate::{Ctx, ATTACKER_IP, BACKDOOR_APP, COMPROMISED_USER, RESPONDER, SPRAY_IP, TENANT_ID};

// ---------------------------------------------------------------------------------------------
// Sign-ins

struct Place {
    city: &'static str,
    state: &'static str,
    country: &'static str,
    lat: f64,
    lon: f64,
}

const AMSTERDAM: Place = Place { city: "Amsterdam", state: "Noord-Holland", country: "NL", lat: 52.3676, lon: 4.9041 };
const BUCHAREST: Place = Place { city: "Bucharest", state: "Bucuresti", country: "RO", lat: 44.4268, lon: 26.1025 };
const REDMOND: Place = Place { city: "Redmond", state: "Washington", country: "US", lat: 47.674, lon: -122.1215 };

const ATTACKER_UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36";
const CLI_UA: &str = "python/3.11.8 (Linux-6.5.0-21-generic-x86_64-with-glibc2.38) AZURECLI/2.58.0 (DEB)";

fn failure_reason(code: u32) -> Option<&'static str> {
    Some(match code {
        0 => return None,
        50126 => "Error validating credentials due to invalid username or password.",
        50034 => "The user account does not exist in the contoso.com directory. To sign into this application, the account must be added to the directory.",
        50053 => "Account is locked because user tried to sign in too many times with an incorrect user ID or password.",
        50076 => "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '797f4846-ba00-4fd7-ba43-dac1f8f63013'.",
        50074 => "Strong Authentication is required.",
        500121 => "Authentication failed during strong authentication request.",
        50140 => "This error occurred due to 'Keep me signed in' interrupt when the user was signing in.",
        _ => "Other.",
    })
}

struct Si {
    t: Ts,
    upn: String,
    display: String,
    user_id: String,
    app: &'static App,
    ip: String,
    place: (&'static str, &'static str, &'static str, f64, f64),
    os: &'static str,
    browser: &'static str,
    ua: String,
    device: Option<(String, String)>,
    code: u32,
    details: Option<&'static str>,
    client_app: &'static str,
    protocol: &'static str,
    auth_req: &'static str,
    ca: &'static str,
    risk: (&'static str, &'static str, &'static str, Vec<&'static str>),
    correlation: String,
    auth_details: Vec<Value>,
    asn: u32,
}

fn step(t: Ts, method: &str, detail: &str, ok: bool, result: &str, req: &str) -> Value {
    json!({
        "authenticationStepDateTime": iso_s(t),
        "authenticationMethod": method,
        "authenticationMethodDetail": detail,
        "succeeded": ok,
        "authenticationStepResultDetail": result,
        "authenticationStepRequirement": req,
    })
}

const CA_ADMIN_MFA: &str = "0b2f1b3c-7d5e-4c1a-9a8b-6e4f3d2c1b0a";
const CA_LEGACY: &str = "5c9d8e7f-1a2b-4c3d-8e9f-0a1b2c3d4e5f";

fn ca_policies(si: &Si) -> Value {
    let mfa_result = match si.ca {
        "success" => "success",
        "failure" => "failure",
        _ => "notApplied",
    };
    json!([
        {"id": CA_ADMIN_MFA, "displayName": "CA001: Require MFA for all users", "enforcedGrantControls": ["Mfa"], "enforcedSessionControls": [], "result": mfa_result},
        {"id": CA_LEGACY, "displayName": "CA002: Block legacy authentication", "enforcedGrantControls": ["Block"], "enforcedSessionControls": [], "result": "notApplied"},
    ])
}

fn graph_signin(si: &Si, rng: &mut Rng) -> Value {
    let (city, state, cc, lat, lon) = si.place;
    let (dev_id, dev_name) = si.device.clone().unwrap_or_default();
    let managed = !dev_id.is_empty();
    json!({
        "id": rng.guid(),
        "createdDateTime": iso_s(si.t),
        "userDisplayName": si.display,
        "userPrincipalName": si.upn,
        "userId": si.user_id,
        "userType": "member",
        "appId": si.app.id,
        "appDisplayName": si.app.name,
        "ipAddress": si.ip,
        "ipAddressFromResourceProvider": null,
        "clientAppUsed": si.client_app,
        "userAgent": si.ua,
        "correlationId": si.correlation,
        "conditionalAccessStatus": si.ca,
        "originalRequestId": rng.guid(),
        "isInteractive": true,
        "tokenIssuerName": "",
        "tokenIssuerType": "AzureAD",
        "clientCredentialType": "none",
        "processingTimeInMilliseconds": rng.range(40, 400),
        "riskDetail": "none",
        "riskLevelAggregated": si.risk.1,
        "riskLevelDuringSignIn": si.risk.0,
        "riskState": si.risk.2,
        "riskEventTypes_v2": si.risk.3,
        "resourceDisplayName": si.app.resource,
        "resourceId": si.app.resource_id,
        "resourceTenantId": TENANT_ID,
        "homeTenantId": TENANT_ID,
        "homeTenantName": "",
        "authenticationRequirement": si.auth_req,
        "signInIdentifier": si.upn,
        "signInIdentifierType": null,
        "signInEventTypes": ["interactiveUser"],
        "authenticationProtocol": si.protocol,
        "incomingTokenType": "none",
        "uniqueTokenIdentifier": rng.hex(22),
        "autonomousSystemNumber": si.asn,
        "crossTenantAccessType": "none",
        "flaggedForReview": false,
        "isTenantRestricted": false,
        "status": {"errorCode": si.code, "failureReason": failure_reason(si.code), "additionalDetails": si.details},
        "deviceDetail": {"deviceId": dev_id, "displayName": dev_name, "operatingSystem": si.os, "browser": si.browser, "isCompliant": managed, "isManaged": managed, "trustType": if managed { "Azure AD joined" } else { "" }},
        "location": {"city": city, "state": state, "countryOrRegion": cc, "geoCoordinates": {"altitude": null, "latitude": lat, "longitude": lon}},
        "appliedConditionalAccessPolicies": ca_policies(si),
        "authenticationDetails": si.auth_details,
        "authenticationProcessingDetails": [{"key": "Legacy TLS (TLS 1.0, 1.1, 3DES)", "value": "False"}, {"key": "Is CAE Token", "value": "False"}],
        "authenticationMethodsUsed": [],
        "networkLocationDetails": [],
        "sessionLifetimePolicies": [],
    })
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// Diagnostic-setting / Event Hub envelope around a Graph sign-in.
fn diag_signin(g: &Value, level_as_string: bool) -> Value {
    let t = parse(s(g, "createdDateTime"));
    let code = g["status"]["errorCode"].as_u64().unwrap_or(0);
    let mut env = json!({
        "time": iso7(t),
        "resourceId": aad_resource_id(),
        "operationName": "Sign-in activity",
        "operationVersion": "1.0",
        "category": "SignInLogs",
        "tenantId": TENANT_ID,
        "resultType": code.to_string(),
        "resultSignature": "None",
        "durationMs": 0,
        "callerIpAddress": s(g, "ipAddress"),
        "correlationId": s(g, "correlationId"),
        "identity": s(g, "userDisplayName"),
        "Level": if level_as_string { json!("4") } else { json!(4) },
        "location": g["location"]["countryOrRegion"],
        "properties": g,
    });
    if let Some(reason) = g["status"]["failureReason"].as_str() {
        env["resultDescription"] = json!(reason);
    }
    env
}

const LA_SIGNIN_HEADER: &[&str] = &[
    "TimeGenerated [UTC]",
    "UserPrincipalName",
    "IPAddress",
    "ResultType",
    "ResultDescription",
    "AppDisplayName",
    "Location",
    "LocationDetails",
    "Status",
    "DeviceDetail",
    "ConditionalAccessStatus",
    "Type",
    "UserDisplayName",
    "UserId",
    "AppId",
    "ClientAppUsed",
    "UserAgent",
    "CorrelationId",
    "Id",
    "IsInteractive",
    "AuthenticationRequirement",
    "RiskLevelDuringSignIn",
    "RiskState",
    "ConditionalAccessPolicies",
    "ResourceDisplayName",
    "CreatedDateTime [UTC]",
    "TenantId",
    "SourceSystem",
];

fn la_signin(g: &Value) -> String {
    let t = parse(s(g, "createdDateTime"));
    let code = g["status"]["errorCode"].as_u64().unwrap_or(0);
    let fields = vec![
        la_time(t + ms(317)),
        s(g, "userPrincipalName").to_string(),
        s(g, "ipAddress").to_string(),
        code.to_string(),
        g["status"]["failureReason"].as_str().unwrap_or("").to_string(),
        s(g, "appDisplayName").to_string(),
        g["location"]["countryOrRegion"].as_str().unwrap_or("").to_string(),
        g["location"].to_string(),
        g["status"].to_string(),
        g["deviceDetail"].to_string(),
        s(g, "conditionalAccessStatus").to_string(),
        "SigninLogs".to_string(),
        s(g, "userDisplayName").to_string(),
        s(g, "userId").to_string(),
        s(g, "appId").to_string(),
        s(g, "clientAppUsed").to_string(),
        s(g, "userAgent").to_string(),
        s(g, "correlationId").to_string(),
        s(g, "id").to_string(),
        "true".to_string(),
        s(g, "authenticationRequirement").to_string(),
        s(g, "riskLevelDuringSignIn").to_string(),
        s(g, "riskState").to_string(),
        g["appliedConditionalAccessPolicies"].to_string(),
        s(g, "resourceDisplayName").to_string(),
        la_time(t),
        TENANT_ID.to_string(),
        "Azure AD".to_string(),
    ];
    csv_row(&fields)
}

fn user_place(u: &User) -> (&'static str, &'static str, &'static str, f64, f64) {
    (u.city, u.state, u.country, u.lat, u.lon)
}

fn benign_si(u: &'static User, t: Ts, app: &'static App, at_office: bool, rng: &mut Rng) -> Si {
    let ip = if at_office && u.country == "US" { HQ_EGRESS_IP.to_string() } else { u.home_ip.to_string() };
    let place = if at_office && u.country == "US" {
        (REDMOND.city, REDMOND.state, REDMOND.country, REDMOND.lat, REDMOND.lon)
    } else {
        user_place(u)
    };
    let mfa = rng.chance(0.25);
    let details = if mfa {
        vec![
            step(t - secs(20), "Password", "Password in the cloud", true, "Correct password", "Primary authentication"),
            step(t, "Mobile app notification", "", true, "MFA successfully completed", "Multi-factor authentication"),
        ]
    } else {
        vec![step(
            t,
            "Previously satisfied",
            "",
            true,
            "First factor requirement satisfied by claim in the token",
            "Primary authentication",
        )]
    };
    Si {
        t,
        upn: u.upn.to_string(),
        display: u.name.to_string(),
        user_id: u.id(),
        app,
        ip,
        place,
        os: u.os,
        browser: u.browser,
        ua: u.ua.to_string(),
        device: Some((u.device_id(), u.device_name())),
        code: 0,
        details: None,
        client_app: "Browser",
        protocol: "none",
        auth_req: if mfa { "multiFactorAuthentication" } else { "singleFactorAuthentication" },
        ca: "success",
        risk: ("none", "none", "none", vec![]),
        correlation: rng.guid(),
        auth_details: details,
        asn: if at_office { 8075 } else { 7922 },
    }
}

fn benign_signins(ctx: &Ctx, rng: &mut Rng) -> Vec<Si> {
    let mut v = Vec::new();
    for hour in ctx.hours() {
        for u in USERS {
            let shift = if u.country == "DE" { hours(8) } else { hours(0) };
            let d = Ctx::diurnal(hour + shift);
            let n = rng.count(0.9 * u.activity * d * ctx.scale);
            for _ in 0..n {
                let t = hour + ms(rng.range(0, 3_600_000));
                let admin = ADMINS.contains(&u.upn);
                let app: &'static App = if admin && rng.chance(0.3) {
                    if rng.chance(0.75) {
                        &APP_PORTAL
                    } else {
                        &APP_CLI
                    }
                } else {
                    rng.weighted(BENIGN_APPS)
                };
                let office = d >= 0.5 && rng.chance(0.7);
                let roll = rng.f64();
                if roll < 0.025 {
                    // Typo, then success.
                    let mut f = benign_si(u, t, app, office, rng);
                    f.code = 50126;
                    f.ca = "notApplied";
                    f.auth_req = "singleFactorAuthentication";
                    f.auth_details = vec![step(
                        t,
                        "Password",
                        "Password in the cloud",
                        false,
                        "Invalid username or password or Invalid on-premise username or password.",
                        "Primary authentication",
                    )];
                    let ok = benign_si(u, t + secs(rng.range(8, 40)), app, office, rng);
                    v.push(f);
                    v.push(ok);
                } else if roll < 0.05 {
                    let mut f = benign_si(u, t, app, office, rng);
                    f.code = 50140;
                    f.ca = "notApplied";
                    let ok = benign_si(u, t + secs(rng.range(3, 12)), app, office, rng);
                    v.push(f);
                    v.push(ok);
                } else if roll < 0.07 {
                    let mut f = benign_si(u, t, app, office, rng);
                    f.code = 50074;
                    f.ca = "notApplied";
                    f.auth_req = "multiFactorAuthentication";
                    let mut ok = benign_si(u, t + secs(rng.range(10, 45)), app, office, rng);
                    ok.correlation = f.correlation.clone();
                    v.push(f);
                    v.push(ok);
                } else {
                    v.push(benign_si(u, t, app, office, rng));
                }
            }
        }
    }
    v
}

fn attacker_si(t: Ts, app: &'static App, code: u32, correlation: &str) -> Si {
    let megan = user(COMPROMISED_USER);
    Si {
        t,
        upn: megan.upn.to_string(),
        display: megan.name.to_string(),
        user_id: megan.id(),
        app,
        ip: ATTACKER_IP.to_string(),
        place: (AMSTERDAM.city, AMSTERDAM.state, AMSTERDAM.country, AMSTERDAM.lat, AMSTERDAM.lon),
        os: "Linux",
        browser: "Chrome 122.0.0",
        ua: ATTACKER_UA.to_string(),
        device: None,
        code,
        details: None,
        client_app: "Browser",
        protocol: "none",
        auth_req: "multiFactorAuthentication",
        ca: "notApplied",
        risk: ("none", "none", "none", vec![]),
        correlation: correlation.to_string(),
        auth_details: vec![],
        asn: 64_500,
    }
}

fn attack_signins(rng: &mut Rng) -> Vec<Si> {
    let mut v = Vec::new();
    // 1. Password spray: 5 rounds over every user plus guessed accounts.
    let mut targets: Vec<(String, String, String)> =
        USERS.iter().map(|u| (u.upn.to_string(), u.name.to_string(), u.id())).collect();
    for ghost in ["admin@contoso.com", "administrator@contoso.com", "it-support@contoso.com", "test@contoso.com"] {
        targets.push((ghost.to_string(), String::new(), "00000000-0000-0000-0000-000000000000".to_string()));
    }
    // deterministic shuffle
    for i in (1..targets.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        targets.swap(i, j);
    }
    let spray_start = parse(crate::SPRAY_START);
    let mut megan_hit = false;
    for round in 0..5i64 {
        let mut t = spray_start + mins(6 * round) + secs(rng.range(0, 20));
        for (upn, display, id) in &targets {
            if upn == COMPROMISED_USER && megan_hit {
                continue;
            }
            t += ms(rng.range(4_000, 14_000));
            let exists = !display.is_empty();
            let code = if !exists {
                50034
            } else if upn == COMPROMISED_USER && round == 2 {
                megan_hit = true;
                50076
            } else if round == 4 && (upn == "lynne@contoso.com" || upn == "joni@contoso.com") {
                50053
            } else {
                50126
            };
            let mut si = attacker_si(t, &APP_OFFICE, code, &rng.guid());
            si.upn = upn.clone();
            si.display = display.clone();
            si.user_id = id.clone();
            si.ip = SPRAY_IP.to_string();
            si.place = (BUCHAREST.city, BUCHAREST.state, BUCHAREST.country, BUCHAREST.lat, BUCHAREST.lon);
            si.os = "";
            si.browser = "Python Requests 2.31";
            si.ua = "python-requests/2.31.0".to_string();
            si.client_app = "Mobile Apps and Desktop clients";
            si.protocol = "ropc";
            si.auth_req = "singleFactorAuthentication";
            si.asn = 64_501;
            si.auth_details = vec![step(
                t,
                "Password",
                "Password in the cloud",
                code == 50076,
                if code == 50076 {
                    "Correct password"
                } else {
                    "Invalid username or password or Invalid on-premise username or password."
                },
                "Primary authentication",
            )];
            if code == 50076 {
                si.auth_req = "multiFactorAuthentication";
                si.ca = "failure";
            }
            v.push(si);
        }
    }
    // 2. MFA fatigue from the attacker IP, then approval.
    let mut t = parse(crate::MFA_FATIGUE_START);
    let compromise = parse(crate::COMPROMISE_TIME);
    let mut attempts = 0;
    loop {
        let corr = rng.guid();
        let mut first = attacker_si(t, &APP_PORTAL, 50074, &corr);
        first.auth_details =
            vec![step(t, "Password", "Password in the cloud", true, "Correct password", "Primary authentication")];
        v.push(first);
        let t2 = t + secs(rng.range(35, 62));
        if t2 + secs(150) >= compromise || attempts >= 20 {
            // Final attempt: the user approves.
            let mut ok = attacker_si(compromise, &APP_PORTAL, 0, &corr);
            v.last_mut().expect("pushed").t = compromise - secs(44);
            ok.ca = "success";
            ok.risk = ("medium", "medium", "atRisk", vec!["unfamiliarFeatures"]);
            ok.auth_details = vec![
                step(
                    compromise - secs(44),
                    "Password",
                    "Password in the cloud",
                    true,
                    "Correct password",
                    "Primary authentication",
                ),
                step(
                    compromise,
                    "Mobile app notification",
                    "",
                    true,
                    "MFA successfully completed",
                    "Multi-factor authentication",
                ),
            ];
            v.push(ok);
            break;
        }
        let denied = rng.chance(0.6);
        let mut fail = attacker_si(t2, &APP_PORTAL, 500121, &corr);
        fail.details = Some(if denied {
            "MFA denied; user declined the authentication"
        } else {
            "MFA denied; user did not respond to mobile app notification"
        });
        fail.auth_details = vec![
            step(t, "Password", "Password in the cloud", true, "Correct password", "Primary authentication"),
            step(
                t2,
                "Mobile app notification",
                "",
                false,
                if denied {
                    "MFA denied; user declined the authentication"
                } else {
                    "MFA denied; user did not respond to mobile app notification"
                },
                "Multi-factor authentication",
            ),
        ];
        v.push(fail);
        attempts += 1;
        t = t2 + secs(rng.range(20, 75));
    }
    // 3. Azure CLI from the attacker IP.
    let t = parse("2026-03-12T03:33:12Z");
    let mut cli = attacker_si(t, &APP_CLI, 0, &rng.guid());
    cli.client_app = "Mobile Apps and Desktop clients";
    cli.ua = CLI_UA.to_string();
    cli.browser = "Python Requests";
    cli.ca = "success";
    cli.risk = ("medium", "high", "atRisk", vec!["unfamiliarFeatures"]);
    cli.auth_details = vec![step(
        t,
        "Previously satisfied",
        "",
        true,
        "First factor requirement satisfied by claim in the token",
        "Primary authentication",
    )];
    v.push(cli);
    // 4. After containment: Megan from the office, the attacker retrying the old password.
    let megan = user(COMPROMISED_USER);
    let t = parse("2026-03-13T09:52:10Z");
    let mut back = benign_si(megan, t, &APP_PORTAL, true, rng);
    back.auth_req = "multiFactorAuthentication";
    v.push(back);
    let t = parse(crate::ATTACK_END);
    let mut retry = attacker_si(t, &APP_PORTAL, 50126, &rng.guid());
    retry.auth_req = "singleFactorAuthentication";
    retry.auth_details = vec![step(
        t,
        "Password",
        "Password in the cloud",
        false,
        "Invalid username or password or Invalid on-premise username or password.",
        "Primary authentication",
    )];
    v.push(retry);
    v
}

// ---------------------------------------------------------------------------------------------
// Directory audits

struct Audit {
    t: Ts,
    name: &'static str,
    category: &'static str,
    service: &'static str,
    op_type: &'static str,
    result_reason: &'static str,
    by_user: Option<(&'static User, String)>,
    by_app: Option<(&'static str, String)>,
    targets: Vec<Value>,
    extra: Vec<(String, String)>,
}

fn target(
    id: &str,
    name: &str,
    ttype: &str,
    upn: Option<&str>,
    props: &[(&str, Option<String>, Option<String>)],
) -> Value {
    let mp: Vec<Value> =
        props.iter().map(|(n, o, nv)| json!({"displayName": n, "oldValue": o, "newValue": nv})).collect();
    json!({"id": id, "displayName": name, "type": ttype, "userPrincipalName": upn, "groupType": null, "modifiedProperties": mp})
}

fn graph_audit(a: &Audit, rng: &mut Rng) -> Value {
    let initiated = match (&a.by_user, &a.by_app) {
        (Some((u, ip)), _) => {
            json!({"app": null, "user": {"id": u.id(), "displayName": null, "userPrincipalName": u.upn, "ipAddress": ip, "userType": "Member", "homeTenantId": null, "homeTenantName": null}})
        }
        (_, Some((name, sp))) => {
            json!({"user": null, "app": {"appId": null, "displayName": name, "servicePrincipalId": sp, "servicePrincipalName": null}})
        }
        _ => json!({"user": null, "app": null}),
    };
    let extra: Vec<Value> = a.extra.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
    json!({
        "id": format!("Directory_{}_{}", rng.guid().to_uppercase().replace('-', "")[..5].to_string(), rng.hex(8).to_uppercase()),
        "category": a.category,
        "correlationId": rng.guid(),
        "result": "success",
        "resultReason": a.result_reason,
        "activityDisplayName": a.name,
        "activityDateTime": iso7(a.t),
        "loggedByService": a.service,
        "operationType": a.op_type,
        "initiatedBy": initiated,
        "targetResources": a.targets,
        "additionalDetails": extra,
    })
}

fn diag_audit(g: &Value) -> Value {
    let t = parse(s(g, "activityDateTime"));
    let ip = g["initiatedBy"]["user"]["ipAddress"].as_str().unwrap_or("");
    let identity = g["initiatedBy"]["user"]["userPrincipalName"]
        .as_str()
        .or_else(|| g["initiatedBy"]["app"]["displayName"].as_str())
        .unwrap_or("");
    json!({
        "time": iso7(t),
        "resourceId": aad_resource_id(),
        "operationName": s(g, "activityDisplayName"),
        "operationVersion": "1.0",
        "category": "AuditLogs",
        "tenantId": TENANT_ID,
        "resultSignature": "None",
        "durationMs": 0,
        "callerIpAddress": ip,
        "correlationId": s(g, "correlationId"),
        "identity": identity,
        "level": "Informational",
        "properties": g,
    })
}

fn q(s: &str) -> Option<String> {
    Some(serde_json::to_string(s).expect("string"))
}
fn arr(s: &str) -> Option<String> {
    Some(format!("[{}]", serde_json::to_string(s).expect("string")))
}

const GROUPS: &[&str] =
    &["SG-Finance-Readers", "SG-Engineering", "SG-VPN-Users", "SG-Sales-EMEA", "Teams-Project-Falcon"];

fn benign_audits(ctx: &Ctx, rng: &mut Rng) -> Vec<Audit> {
    let mut v = Vec::new();
    for hour in ctx.hours() {
        let n = rng.count(0.9 * Ctx::diurnal(hour) * ctx.scale);
        for _ in 0..n {
            let t = hour + ms(rng.range(0, 3_600_000));
            let who = rng.pick(USERS);
            let admin = user(rng.pick_str(&["megan@contoso.com", "adele@contoso.com"]));
            let ip = HQ_EGRESS_IP.to_string();
            let a = match rng.below(5) {
                0 => Audit {
                    t,
                    name: "Update user",
                    category: "UserManagement",
                    service: "Core Directory",
                    op_type: "Update",
                    result_reason: "",
                    by_user: Some((admin, ip)),
                    by_app: None,
                    targets: vec![target(
                        &who.id(),
                        "",
                        "User",
                        Some(who.upn),
                        &[
                            ("JobTitle", arr("Specialist"), arr(who.job)),
                            ("Included Updated Properties", None, q("JobTitle")),
                            ("TargetId.UserType", None, q("Member")),
                        ],
                    )],
                    extra: vec![("UserType".into(), "Member".into())],
                },
                1 => {
                    let g = *rng.pick(GROUPS);
                    let gid = name_guid(&format!("group:{g}"));
                    Audit {
                        t,
                        name: "Add member to group",
                        category: "GroupManagement",
                        service: "Core Directory",
                        op_type: "Assign",
                        result_reason: "",
                        by_user: Some((admin, ip)),
                        by_app: None,
                        targets: vec![
                            target(
                                &who.id(),
                                "",
                                "User",
                                Some(who.upn),
                                &[("Group.ObjectID", None, q(&gid)), ("Group.DisplayName", None, q(g))],
                            ),
                            target(&gid, g, "Group", None, &[]),
                        ],
                        extra: vec![],
                    }
                }
                2 => Audit {
                    t,
                    name: "Reset password (self-service)",
                    category: "UserManagement",
                    service: "Self-service Password Management",
                    op_type: "Update",
                    result_reason: "Successfully completed reset.",
                    by_user: Some((who, who.home_ip.to_string())),
                    by_app: None,
                    targets: vec![target(&who.id(), who.upn, "User", Some(who.upn), &[])],
                    extra: vec![],
                },
                3 => Audit {
                    t,
                    name: "Update device",
                    category: "Device",
                    service: "Core Directory",
                    op_type: "Update",
                    result_reason: "",
                    by_user: None,
                    by_app: Some(("Device Registration Service", name_guid("sp:drs"))),
                    targets: vec![target(
                        &who.device_id(),
                        &who.device_name(),
                        "Device",
                        None,
                        &[
                            ("ApproximateLastLogonTimestamp", q(&iso7(t - hours(170))), q(&iso7(t))),
                            ("Included Updated Properties", None, q("ApproximateLastLogonTimestamp")),
                        ],
                    )],
                    extra: vec![],
                },
                _ => Audit {
                    t,
                    name: "Update user",
                    category: "UserManagement",
                    service: "Core Directory",
                    op_type: "Update",
                    result_reason: "",
                    by_user: None,
                    by_app: Some(("Microsoft Substrate Management", name_guid("sp:substrate"))),
                    targets: vec![target(
                        &who.id(),
                        "",
                        "User",
                        Some(who.upn),
                        &[("LastDirSyncTime", None, None), ("Included Updated Properties", None, q(""))],
                    )],
                    extra: vec![("UserType".into(), "Member".into())],
                },
            };
            v.push(a);
        }
    }
    v.retain(|a| ctx.in_window(a.t));
    v
}

fn attack_audits() -> Vec<Audit> {
    let megan = user(COMPROMISED_USER);
    let adele = user(RESPONDER);
    let by = |ip: &str| Some((megan, ip.to_string()));
    let app_obj = backdoor_app_object_id();
    let app_id = SP_BACKDOOR.app_id();
    let sp_id = SP_BACKDOOR.object_id();
    let key_id = name_guid("key:backdoor-secret");
    let key_desc = format!("[\"[KeyIdentifier={key_id},KeyType=Password,KeyUsage=Verify,DisplayName=sync]\"]");
    let ga_obj = name_guid("role:global-admin");
    let ua = ("User-Agent".to_string(), CLI_UA.to_string());
    vec![
        Audit {
            t: parse("2026-03-12T03:31:55Z"),
            name: "User registered security info",
            category: "UserManagement",
            service: "Authentication Methods",
            op_type: "Add",
            result_reason: "User registered Authenticator App with Notification and Code",
            by_user: by(ATTACKER_IP),
            by_app: None,
            targets: vec![target(&megan.id(), megan.name, "User", Some(megan.upn), &[])],
            extra: vec![("User-Agent".into(), ATTACKER_UA.into())],
        },
        Audit {
            t: parse("2026-03-12T03:35:20Z"),
            name: "Add application",
            category: "ApplicationManagement",
            service: "Core Directory",
            op_type: "Add",
            result_reason: "",
            by_user: by(ATTACKER_IP),
            by_app: None,
            targets: vec![target(&app_obj, BACKDOOR_APP, "Application", None, &[
                ("AppAddress", None, Some("[{\"AddressType\":0,\"Address\":\"https://localhost/sync\",\"ReplyAddressClientType\":1,\"ReplyAddressIndex\":null,\"IsReplyAddressDefault\":false}]".into())),
                ("AppId", None, arr(&app_id)),
                ("AvailableToOtherTenants", None, Some("[false]".into())),
                ("DisplayName", None, arr(BACKDOOR_APP)),
                ("Included Updated Properties", None, q("AppAddress, AppId, AvailableToOtherTenants, DisplayName")),
            ])],
            extra: vec![ua.clone(), ("AppId".into(), app_id.clone())],
        },
        Audit {
            t: parse("2026-03-12T03:35:22Z"),
            name: "Add service principal",
            category: "ApplicationManagement",
            service: "Core Directory",
            op_type: "Add",
            result_reason: "",
            by_user: by(ATTACKER_IP),
            by_app: None,
            targets: vec![target(&sp_id, BACKDOOR_APP, "ServicePrincipal", None, &[
                ("AccountEnabled", None, Some("[true]".into())),
                ("AppPrincipalId", None, arr(&app_id)),
                ("DisplayName", None, arr(BACKDOOR_APP)),
                ("ServicePrincipalName", None, arr(&app_id)),
                ("Included Updated Properties", None, q("AccountEnabled, AppPrincipalId, DisplayName, ServicePrincipalName")),
            ])],
            extra: vec![ua.clone(), ("AppId".into(), app_id.clone())],
        },
        Audit {
            t: parse("2026-03-12T03:36:48Z"),
            name: "Update application – Certificates and secrets management ",
            category: "ApplicationManagement",
            service: "Core Directory",
            op_type: "Update",
            result_reason: "",
            by_user: by(ATTACKER_IP),
            by_app: None,
            targets: vec![target(&app_obj, BACKDOOR_APP, "Application", None, &[
                ("KeyDescription", Some("[]".into()), Some(key_desc.clone())),
                ("Included Updated Properties", None, q("KeyDescription")),
            ])],
            extra: vec![ua.clone(), ("AppId".into(), app_id.clone())],
        },
        Audit {
            t: parse("2026-03-12T03:37:02Z"),
            name: "Add service principal credentials",
            category: "ApplicationManagement",
            service: "Core Directory",
            op_type: "Update",
            result_reason: "",
            by_user: by(ATTACKER_IP),
            by_app: None,
            targets: vec![target(&sp_id, BACKDOOR_APP, "ServicePrincipal", None, &[
                ("KeyDescription", Some("[]".into()), Some(key_desc.clone())),
                ("Included Updated Properties", None, q("KeyDescription")),
            ])],
            extra: vec![ua.clone(), ("AppId".into(), app_id.clone())],
        },
        Audit {
            t: parse("2026-03-12T03:39:30Z"),
            name: "Add member to role",
            category: "RoleManagement",
            service: "Core Directory",
            op_type: "Assign",
            result_reason: "",
            by_user: by(ATTACKER_IP),
            by_app: None,
            targets: vec![target(&sp_id, BACKDOOR_APP, "ServicePrincipal", None, &[
                ("Role.ObjectID", None, q(&ga_obj)),
                ("Role.DisplayName", None, q("Global Administrator")),
                ("Role.TemplateId", None, q(ROLE_GLOBAL_ADMIN_TEMPLATE)),
                ("Role.WellKnownObjectName", None, q("TenantAdmins")),
            ])],
            extra: vec![ua.clone()],
        },
        // Containment by the responder.
        Audit {
            t: parse(crate::CONTAINMENT_TIME),
            name: "Reset user password",
            category: "UserManagement",
            service: "Core Directory",
            op_type: "Update",
            result_reason: "",
            by_user: Some((adele, HQ_EGRESS_IP.to_string())),
            by_app: None,
            targets: vec![target(&megan.id(), "", "User", Some(megan.upn), &[])],
            extra: vec![],
        },
        Audit {
            t: parse("2026-03-13T09:15:07Z"),
            name: "Update user",
            category: "UserManagement",
            service: "Core Directory",
            op_type: "Update",
            result_reason: "",
            by_user: Some((adele, HQ_EGRESS_IP.to_string())),
            by_app: None,
            targets: vec![target(&megan.id(), "", "User", Some(megan.upn), &[
                ("StsRefreshTokensValidFrom", q("2026-02-02T18:20:11Z"), q("2026-03-13T09:15:07Z")),
                ("Included Updated Properties", None, q("StsRefreshTokensValidFrom")),
            ])],
            extra: vec![],
        },
        Audit {
            t: parse("2026-03-13T09:22:40Z"),
            name: "Remove member from role",
            category: "RoleManagement",
            service: "Core Directory",
            op_type: "Unassign",
            result_reason: "",
            by_user: Some((adele, HQ_EGRESS_IP.to_string())),
            by_app: None,
            targets: vec![target(&sp_id, BACKDOOR_APP, "ServicePrincipal", None, &[
                ("Role.ObjectID", q(&ga_obj), None),
                ("Role.DisplayName", q("Global Administrator"), None),
                ("Role.TemplateId", q(ROLE_GLOBAL_ADMIN_TEMPLATE), None),
            ])],
            extra: vec![],
        },
        Audit {
            t: parse("2026-03-13T09:28:13Z"),
            name: "Delete application",
            category: "ApplicationManagement",
            service: "Core Directory",
            op_type: "Delete",
            result_reason: "",
            by_user: Some((adele, HQ_EGRESS_IP.to_string())),
            by_app: None,
            targets: vec![target(&app_obj, BACKDOOR_APP, "Application", None, &[])],
            extra: vec![],
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// Provisioning, Identity Protection, Graph activity

fn provisioning(ctx: &Ctx, rng: &mut Rng) -> Vec<(Ts, Value)> {
    let sn_sp = name_guid("sp:servicenow");
    let job = format!("ServiceNowOutDelta.{}.{}", rng.hex(32), name_guid("job:servicenow"));
    let mut v = Vec::new();
    let mut hour = ctx.start;
    while hour < ctx.end {
        if Ctx::diurnal(hour) >= 0.5 && rng.chance(0.45) {
            let cycle = rng.guid();
            let n = 1 + rng.below(2) as usize;
            for _ in 0..n {
                let t = hour + ms(rng.range(0, 3_600_000));
                let u = if rng.chance(0.15) { user(COMPROMISED_USER) } else { rng.pick(USERS) };
                v.push((t, provisioning_record(t, u, &job, &cycle, &sn_sp, rng)));
            }
        }
        hour += hours(1);
    }
    // Megan's title change reaches ServiceNow (always present: the attacked user's provisioning trail).
    let t = parse("2026-03-10T16:12:44Z");
    let cycle = rng.guid();
    v.push((t, provisioning_record(t, user(COMPROMISED_USER), &job, &cycle, &sn_sp, rng)));
    v.retain(|(t, _)| ctx.in_window(*t));
    v
}

fn provisioning_record(t: Ts, u: &User, job: &str, cycle: &str, sn_sp: &str, rng: &mut Rng) -> Value {
    let id = rng.guid();
    let sn_user = rng.hex(32);
    let dur = rng.range(400, 4000);
    let props = json!({
        "id": id,
        "activityDateTime": iso7(t),
        "tenantId": TENANT_ID,
        "jobId": job,
        "cycleId": cycle,
        "changeId": rng.guid(),
        "provisioningAction": "update",
        "durationInMilliseconds": dur,
        "provisioningStatusInfo": {"status": "success", "errorInformation": null},
        "provisioningSteps": [
            {"name": "EntryImport", "provisioningStepType": "import", "status": "success", "description": format!("Received User '{}' change of type (Update) from Microsoft Entra ID", u.upn), "details": {}},
            {"name": "EntryExportUpdate", "provisioningStepType": "export", "status": "success", "description": format!("User '{}' was updated in ServiceNow", u.upn), "details": {}},
        ],
        "modifiedProperties": [
            {"displayName": "title", "oldValue": null, "newValue": u.job},
            {"displayName": "email", "oldValue": null, "newValue": u.upn},
        ],
        "servicePrincipal": {"id": sn_sp, "displayName": "ServiceNow"},
        "sourceSystem": {"id": name_guid("system:entra"), "displayName": "Microsoft Entra ID", "details": {}},
        "targetSystem": {"id": name_guid("system:servicenow"), "displayName": "ServiceNow", "details": {"ApplicationId": name_guid("app:servicenow"), "ServicePrincipalId": sn_sp, "ServicePrincipalDisplayName": "ServiceNow"}},
        "sourceIdentity": {"id": u.id(), "displayName": u.name, "identityType": "User", "details": {"UserPrincipalName": u.upn}},
        "targetIdentity": {"id": sn_user, "displayName": u.name, "identityType": "User", "details": {}},
        "initiatedBy": {"id": "", "displayName": "Microsoft Entra ID", "initiatorType": "system"},
    });
    json!({
        "time": iso7(t),
        "resourceId": aad_resource_id(),
        "operationName": "Provisioning activity",
        "operationVersion": "1.0",
        "category": "ProvisioningLogs",
        "tenantId": TENANT_ID,
        "resultType": "Success",
        "resultSignature": "None",
        "durationMs": dur,
        "callerIpAddress": "",
        "correlationId": rng.guid(),
        "Level": 4,
        "properties": props,
    })
}

fn risky_users(ctx: &Ctx) -> Vec<(Ts, Value)> {
    let megan = user(COMPROMISED_USER);
    let johanna = user("johanna@contoso.com");
    let rec = |t: Ts, u: &User, level: &str, state: &str, detail: &str| {
        (
            t,
            json!({
                "time": iso7(t),
                "resourceId": aad_resource_id(),
                "operationName": "Risky user",
                "category": "RiskyUsers",
                "tenantId": TENANT_ID,
                "Level": 4,
                "properties": {
                    "id": u.id(),
                    "isDeleted": false,
                    "isProcessing": false,
                    "riskDetail": detail,
                    "riskLastUpdatedDateTime": iso7(t),
                    "riskLevel": level,
                    "riskState": state,
                    "userDisplayName": u.name,
                    "userPrincipalName": u.upn,
                },
            }),
        )
    };
    let mut v = vec![
        rec(parse("2026-03-10T07:12:03Z"), johanna, "low", "atRisk", "none"),
        rec(parse("2026-03-10T16:40:55Z"), johanna, "none", "dismissed", "adminDismissedAllRiskForUser"),
        rec(parse("2026-03-12T03:29:58Z"), megan, "medium", "atRisk", "none"),
        rec(parse("2026-03-12T04:12:00Z"), megan, "high", "atRisk", "none"),
        rec(parse("2026-03-13T09:14:31Z"), megan, "none", "remediated", "adminGeneratedTemporaryPassword"),
    ];
    v.retain(|(t, _)| ctx.in_window(*t));
    v
}

fn risk_events(ctx: &Ctx, rng: &mut Rng) -> Vec<(Ts, Value)> {
    let megan = user(COMPROMISED_USER);
    let johanna = user("johanna@contoso.com");
    let mut ev = |activity: Ts,
                  detected: Ts,
                  u: &User,
                  ip: &str,
                  place: &Place,
                  kind: &str,
                  timing: &str,
                  level: &str,
                  state: &str,
                  detail: &str,
                  ua: &str| {
        (
            detected,
            json!({
                "time": iso7(detected),
                "resourceId": aad_resource_id(),
                "operationName": "User Risk Detection",
                "category": "UserRiskEvents",
                "tenantId": TENANT_ID,
                "Level": 4,
                "properties": {
                    "activity": "signin",
                    "activityDateTime": iso7(activity),
                    "additionalInfo": format!("[{{\"Key\":\"userAgent\",\"Value\":{}}}]", serde_json::to_string(ua).expect("string")),
                    "correlationId": rng.guid(),
                    "detectedDateTime": iso7(detected),
                    "detectionTimingType": timing,
                    "id": rng.hex(64),
                    "ipAddress": ip,
                    "lastUpdatedDateTime": iso7(detected + secs(40)),
                    "location": {"city": place.city, "state": place.state, "countryOrRegion": place.country, "geoCoordinates": {"latitude": place.lat, "longitude": place.lon}},
                    "requestId": rng.guid(),
                    "riskDetail": detail,
                    "riskEventType": kind,
                    "riskLevel": level,
                    "riskState": state,
                    "source": "IdentityProtection",
                    "tokenIssuerType": "AzureAD",
                    "userDisplayName": u.name,
                    "userId": u.id(),
                    "userPrincipalName": u.upn,
                },
            }),
        )
    };
    let munich = Place { city: "Munich", state: "Bavaria", country: "DE", lat: 48.1351, lon: 11.582 };
    let compromise = parse(crate::COMPROMISE_TIME);
    let mut v = vec![
        ev(
            parse("2026-03-10T07:11:40Z"),
            parse("2026-03-10T07:12:03Z"),
            johanna,
            "93.104.187.12",
            &munich,
            "unfamiliarFeatures",
            "realtime",
            "low",
            "dismissed",
            "adminDismissedAllRiskForUser",
            johanna.ua,
        ),
        ev(
            parse("2026-03-12T02:31:00Z"),
            parse("2026-03-12T05:02:17Z"),
            megan,
            SPRAY_IP,
            &BUCHAREST,
            "passwordSpray",
            "offline",
            "high",
            "remediated",
            "adminGeneratedTemporaryPassword",
            "python-requests/2.31.0",
        ),
        ev(
            compromise,
            compromise + secs(17),
            megan,
            ATTACKER_IP,
            &AMSTERDAM,
            "unfamiliarFeatures",
            "realtime",
            "medium",
            "remediated",
            "adminGeneratedTemporaryPassword",
            ATTACKER_UA,
        ),
        ev(
            compromise,
            parse("2026-03-12T04:11:48Z"),
            megan,
            ATTACKER_IP,
            &AMSTERDAM,
            "unlikelyTravel",
            "offline",
            "high",
            "remediated",
            "adminGeneratedTemporaryPassword",
            ATTACKER_UA,
        ),
    ];
    v.retain(|(t, _)| ctx.in_window(*t));
    v
}

fn graph_activity(ctx: &Ctx, rng: &mut Rng) -> Vec<(Ts, Value)> {
    let megan = user(COMPROMISED_USER);
    #[allow(clippy::too_many_arguments)]
    fn rec(
        rng: &mut Rng,
        t: Ts,
        u: &User,
        ip: &str,
        app: &str,
        ua: &str,
        method: &str,
        uri: &str,
        status: u32,
        size: i64,
        scopes: &str,
        wids: &str,
    ) -> (Ts, Value) {
        let dur = rng.range(40, 900);
        (
            t,
            json!({
                "time": iso7(t),
                "resourceId": aad_resource_id().to_uppercase(),
                "operationName": "Microsoft Graph Activity",
                "operationVersion": "v1.0",
                "category": "MicrosoftGraphActivityLogs",
                "resultSignature": status.to_string(),
                "durationMs": dur,
                "callerIpAddress": ip,
                "correlationId": rng.guid(),
                "level": "Informational",
                "location": "West Europe",
                "properties": {
                    "timeGenerated": iso7(t),
                    "location": "West Europe",
                    "requestId": rng.guid(),
                    "operationId": rng.guid(),
                    "clientRequestId": rng.guid(),
                    "apiVersion": "v1.0",
                    "requestMethod": method,
                    "responseStatusCode": status,
                    "tenantId": TENANT_ID,
                    "durationMs": dur,
                    "responseSizeBytes": size,
                    "signInActivityId": rng.hex(22),
                    "roles": "",
                    "tokenIssuedAt": iso7(t - mins(3)),
                    "appId": app,
                    "userId": u.id(),
                    "servicePrincipalId": "",
                    "scopes": scopes,
                    "identityProvider": format!("https://sts.windows.net/{TENANT_ID}/"),
                    "clientAuthMethod": 0,
                    "wids": wids,
                    "ipAddress": ip,
                    "userAgent": ua,
                    "requestUri": uri,
                    "deviceId": null,
                },
            }),
        )
    }
    let cli_scopes =
        "Application.ReadWrite.All AuditLog.Read.All Directory.AccessAsUser.All Group.ReadWrite.All User.ReadWrite.All";
    let wids = "62e90394-69f5-4237-9190-012177145e10 b79fbf4d-3ef9-4689-8143-76b194e85509";
    let app_obj = backdoor_app_object_id();
    let ga = name_guid("role:global-admin");
    let base = parse("2026-03-12T03:34:05Z");
    let mut v = vec![
        rec(
            rng,
            base,
            megan,
            ATTACKER_IP,
            APP_CLI.id,
            CLI_UA,
            "GET",
            "https://graph.microsoft.com/v1.0/me",
            200,
            1_254,
            cli_scopes,
            wids,
        ),
        rec(
            rng,
            base + secs(4),
            megan,
            ATTACKER_IP,
            APP_CLI.id,
            CLI_UA,
            "GET",
            "https://graph.microsoft.com/v1.0/users?$select=displayName,userPrincipalName,id&$top=999",
            200,
            48_911,
            cli_scopes,
            wids,
        ),
        rec(
            rng,
            base + secs(9),
            megan,
            ATTACKER_IP,
            APP_CLI.id,
            CLI_UA,
            "GET",
            "https://graph.microsoft.com/v1.0/servicePrincipals?$top=999",
            200,
            1_822_410,
            cli_scopes,
            wids,
        ),
        rec(
            rng,
            base + secs(15),
            megan,
            ATTACKER_IP,
            APP_CLI.id,
            CLI_UA,
            "GET",
            "https://graph.microsoft.com/v1.0/directoryRoles?$expand=members",
            200,
            92_004,
            cli_scopes,
            wids,
        ),
        rec(
            rng,
            parse("2026-03-12T03:35:19Z"),
            megan,
            ATTACKER_IP,
            APP_CLI.id,
            CLI_UA,
            "POST",
            "https://graph.microsoft.com/v1.0/applications",
            201,
            3_310,
            cli_scopes,
            wids,
        ),
        rec(
            rng,
            parse("2026-03-12T03:35:21Z"),
            megan,
            ATTACKER_IP,
            APP_CLI.id,
            CLI_UA,
            "POST",
            "https://graph.microsoft.com/v1.0/servicePrincipals",
            201,
            2_874,
            cli_scopes,
            wids,
        ),
        rec(
            rng,
            parse("2026-03-12T03:36:47Z"),
            megan,
            ATTACKER_IP,
            APP_CLI.id,
            CLI_UA,
            "POST",
            &format!("https://graph.microsoft.com/v1.0/applications/{app_obj}/addPassword"),
            200,
            512,
            cli_scopes,
            wids,
        ),
        rec(
            rng,
            parse("2026-03-12T03:39:29Z"),
            megan,
            ATTACKER_IP,
            APP_CLI.id,
            CLI_UA,
            "POST",
            &format!("https://graph.microsoft.com/v1.0/directoryRoles/{ga}/members/$ref"),
            204,
            0,
            cli_scopes,
            wids,
        ),
    ];
    // A little benign Graph traffic (Teams and Outlook clients).
    for hour in ctx.hours() {
        let n = rng.count(0.4 * Ctx::diurnal(hour) * ctx.scale);
        for _ in 0..n {
            let t = hour + ms(rng.range(0, 3_600_000));
            let u = rng.pick(USERS);
            let uri = *rng.pick(&[
                "https://graph.microsoft.com/v1.0/me/presence",
                "https://graph.microsoft.com/v1.0/me/calendarView?startDateTime=2026-03-09T00:00:00Z&endDateTime=2026-03-16T00:00:00Z",
                "https://graph.microsoft.com/v1.0/me/joinedTeams",
                "https://graph.microsoft.com/v1.0/me/photo/$value",
            ]);
            let ip = if rng.chance(0.6) { HQ_EGRESS_IP } else { u.home_ip };
            let size = rng.range(300, 9000);
            v.push(rec(
                rng,
                t,
                u,
                ip,
                "1fec8e78-bce4-4aaf-ab1b-5451cc387264",
                u.ua,
                "GET",
                uri,
                200,
                size,
                "Calendars.Read Presence.Read User.Read",
                "",
            ));
        }
    }
    v.retain(|(t, _)| ctx.in_window(*t));
    v
}

// ---------------------------------------------------------------------------------------------
// Routing to files

const SIGNIN_PAGE: usize = 250;
const AUDIT_PAGE: usize = 1000;

/// A Graph collection as pages (newest first), `@odata.nextLink` on all but the last.
struct Pages<'a> {
    prefix: &'a str,
    context: &'a str,
    link_base: &'a str,
    page: usize,
    source: &'a str,
    /// Name a single page `<prefix>.json` instead of `<prefix>-000.json`.
    single_name: bool,
}

fn graph_pages(out: &mut Out, p: &Pages, mut items: Vec<(Ts, Value)>, rng: &mut Rng) -> io::Result<()> {
    let Pages { prefix, context, link_base, page, source, single_name } = *p;
    items.sort_by_key(|i| std::cmp::Reverse(i.0));
    let chunks: Vec<&[(Ts, Value)]> = items.chunks(page).collect();
    let n = chunks.len().max(1);
    for i in 0..n {
        let values: Vec<Value> = chunks.get(i).map(|c| c.iter().map(|(_, v)| v.clone()).collect()).unwrap_or_default();
        out.count(source, values.len() as u64);
        let mut body = Map::new();
        body.insert("@odata.context".into(), json!(context));
        body.insert("value".into(), Value::Array(values));
        if i + 1 < n {
            body.insert("@odata.nextLink".into(), json!(format!("{link_base}&$skiptoken={}", rng.hex(64))));
        }
        let name = if n == 1 && single_name { format!("{prefix}.json") } else { format!("{prefix}-{i:03}.json") };
        out.put(&name, &serde_json::to_vec(&Value::Object(body)).expect("serialise"))?;
    }
    Ok(())
}

pub(crate) fn write(ctx: &Ctx, out: &mut Out) -> io::Result<()> {
    let mut rng = ctx.rng("signins");
    let mut sis = benign_signins(ctx, &mut rng);
    let mut arng = ctx.rng("signins-attack");
    sis.extend(attack_signins(&mut arng));
    sis.retain(|s| ctx.in_window(s.t));
    let mut grng = ctx.rng("signins-graph");
    let mut signins: Vec<(Ts, Value)> = sis.iter().map(|si| (si.t, graph_signin(si, &mut grng))).collect();
    signins.sort_by_key(|(t, _)| *t);

    let mut audit_rng = ctx.rng("audits");
    let mut audits = benign_audits(ctx, &mut audit_rng);
    audits.extend(attack_audits().into_iter().filter(|a| ctx.in_window(a.t)));
    let mut garng = ctx.rng("audits-graph");
    let mut audits: Vec<(Ts, Value)> = audits.iter().map(|a| (a.t, graph_audit(a, &mut garng))).collect();
    audits.sort_by_key(|(t, _)| *t);

    let eh_start = ctx.attack_day - hours(24);
    let csv_end = ctx.attack_day + hours(3);
    let tenant_prefix = format!("tenantId={TENANT_ID}");

    // Sign-ins.
    let mut diag = Vec::new();
    let mut eh: Vec<(Ts, Value)> = Vec::new();
    let mut csv = csv_row(&LA_SIGNIN_HEADER.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let mut csv_rows = 0;
    let mut graph = Vec::new();
    for (t, g) in signins {
        if t < eh_start {
            diag.push((t, diag_signin(&g, false)));
        } else if t < ctx.attack_day {
            eh.push((t, diag_signin(&g, true)));
        } else if t < csv_end {
            csv.push_str(&la_signin(&g));
            csv_rows += 1;
        } else {
            graph.push((t, g));
        }
    }
    write_hourly(out, ctx, "insights-logs-signinlogs", &tenant_prefix, "signin", diag)?;
    out.count("signin", csv_rows);
    out.put(&format!("loganalytics/SigninLogs_{}_0000-0300.csv", ctx.attack_day.format("%Y%m%d")), csv.as_bytes())?;
    let mut lrng = ctx.rng("graph-links");
    let link = format!(
        "https://graph.microsoft.com/beta/auditLogs/signIns?$filter=createdDateTime+ge+{}&$top={SIGNIN_PAGE}",
        iso_s(csv_end)
    );
    let pages = Pages {
        prefix: "entra/signins",
        context: "https://graph.microsoft.com/beta/$metadata#auditLogs/signIns",
        link_base: &link,
        page: SIGNIN_PAGE,
        source: "signin",
        single_name: false,
    };
    graph_pages(out, &pages, graph, &mut lrng)?;

    // Audits.
    let mut diag = Vec::new();
    let mut graph = Vec::new();
    for (t, g) in audits {
        if t < eh_start {
            diag.push((t, diag_audit(&g)));
        } else if t < ctx.attack_day {
            eh.push((t, diag_audit(&g)));
        } else {
            graph.push((t, g));
        }
    }
    write_hourly(out, ctx, "insights-logs-auditlogs", &tenant_prefix, "audit", diag)?;
    let link = format!(
        "https://graph.microsoft.com/v1.0/auditLogs/directoryAudits?$filter=activityDateTime+ge+{}&$top={AUDIT_PAGE}",
        iso_s(ctx.attack_day)
    );
    let pages = Pages {
        prefix: "entra/directoryAudits",
        context: "https://graph.microsoft.com/v1.0/$metadata#auditLogs/directoryAudits",
        link_base: &link,
        page: AUDIT_PAGE,
        source: "audit",
        single_name: true,
    };
    graph_pages(out, &pages, graph, &mut lrng)?;

    // Event Hub capture: one day of sign-ins and audits, mixed, in message-sized batches.
    eh.sort_by_key(|(t, _)| *t);
    for (i, chunk) in eh.chunks(150).enumerate() {
        for (_, v) in chunk {
            let src = if v["category"] == "SignInLogs" { "signin" } else { "audit" };
            out.count(src, 1);
        }
        let recs: Vec<Value> = chunk.iter().map(|(_, v)| v.clone()).collect();
        out.put(&format!("eventhub/evh-contoso-entra-{i:02}.json"), &records_object(recs))?;
    }

    // Provisioning, Identity Protection, Graph activity: diagnostic blobs.
    let mut prng = ctx.rng("provisioning");
    write_hourly(
        out,
        ctx,
        "insights-logs-provisioninglogs",
        &tenant_prefix,
        "provisioning",
        provisioning(ctx, &mut prng),
    )?;
    write_hourly(out, ctx, "insights-logs-riskyusers", &tenant_prefix, "identity_protection", risky_users(ctx))?;
    let mut rrng = ctx.rng("risk-events");
    write_hourly(
        out,
        ctx,
        "insights-logs-userriskevents",
        &tenant_prefix,
        "identity_protection",
        risk_events(ctx, &mut rrng),
    )?;
    let mut garng = ctx.rng("graph-activity");
    write_hourly(
        out,
        ctx,
        "insights-logs-microsoftgraphactivitylogs",
        &tenant_prefix,
        "graph_activity",
        graph_activity(ctx, &mut garng),
    )?;
    Ok(())
}
