//! The built-in pack (`rules/`): every rule loads, carries ATT&CK tags, and fires on its positive
//! events and not on its negative ones, in more than one export shape where the log has several.

use azir_detect::{Finding, RuleSetBuilder};
use azir_model::Event;
use serde_json::{json, Value};

fn hunt(events: &[Event]) -> Vec<Finding> {
    let mut b = RuleSetBuilder::default();
    b.add_builtin();
    let set = b.build();
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    let mut h = set.hunter();
    for e in events {
        h.feed(e);
    }
    h.finish()
}

fn titles(events: &[Event]) -> Vec<String> {
    hunt(events).into_iter().map(|f| f.title).collect()
}

fn ev(source: &str, t: i64, raw: Value) -> Event {
    Event { source: source.into(), time: t * 1_000_000, raw: raw.to_string(), ..Default::default() }
}

fn fires(events: &[Event], title: &str) -> bool {
    titles(events).iter().any(|t| t.starts_with(title))
}

#[test]
fn every_pack_rule_loads_and_every_reporting_rule_has_attack_tags() {
    let mut b = RuleSetBuilder::default();
    b.add_builtin();
    let set = b.build();
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    assert!(set.rules().len() >= 21);
    for (name, text) in azir_detect::PACK {
        let base_only = text.contains("\nname: ") && !text.contains("correlation:");
        assert!(base_only || text.contains("attack.t"), "{name} has no ATT&CK technique tag");
    }
    for r in set.rules() {
        assert!(!r.sources.is_empty(), "{} routes nowhere", r.title);
    }
}

/// ARM REST record of an Activity Log operation.
fn rest(op: &str, caller: &str, props: Value) -> Value {
    json!({
        "caller": caller,
        "operationName": { "value": op, "localizedValue": "x" },
        "status": { "value": "Started" },
        "httpRequest": { "clientIpAddress": "203.0.113.77" },
        "properties": props,
    })
}

/// Diagnostic-setting record of the same operation.
fn diag(op: &str, caller: &str, props: Value) -> Value {
    json!({ "operationName": op, "identity": { "claims": { "name": caller } }, "caller": caller,
            "callerIpAddress": "203.0.113.77", "resultType": "Start", "properties": props })
}

/// Log Analytics AzureActivity row (Properties is JSON text).
fn la(op: &str, caller: &str, props: Value) -> Value {
    json!({ "OperationNameValue": op, "Caller": caller, "CallerIpAddress": "203.0.113.77",
            "ActivityStatusValue": "Start", "Properties": props.to_string() })
}

fn each_shape(op: &str, caller: &str, props: Value) -> Vec<Event> {
    vec![
        ev("activity", 0, rest(op, caller, props.clone())),
        ev("activity", 0, diag(op, caller, props.clone())),
        ev("activity", 0, la(op, caller, props)),
    ]
}

#[test]
fn run_command_and_disk_export() {
    for e in each_shape("Microsoft.Compute/virtualMachines/runCommand/action", "megan@contoso.com", json!({})) {
        assert!(fires(std::slice::from_ref(&e), "Command run on an Azure VM"), "{}", e.raw);
    }
    for e in each_shape("MICROSOFT.COMPUTE/SNAPSHOTS/BEGINGETACCESS/ACTION", "megan@contoso.com", json!({})) {
        assert!(fires(std::slice::from_ref(&e), "Managed disk or snapshot exported"), "{}", e.raw);
    }
    for e in each_shape("Microsoft.Compute/snapshots/write", "megan@contoso.com", json!({})) {
        assert!(titles(std::slice::from_ref(&e)).is_empty(), "{}", e.raw);
    }
    for e in each_shape("Microsoft.Compute/virtualMachines/read", "megan@contoso.com", json!({})) {
        assert!(titles(std::slice::from_ref(&e)).is_empty(), "{}", e.raw);
    }
}

fn nsg_body(src: Value, ports: Value, access: &str) -> Value {
    let mut p = json!({ "protocol": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*",
                        "access": access, "priority": 100, "direction": "Inbound" });
    p.as_object_mut().unwrap().extend(src.as_object().unwrap().clone());
    p.as_object_mut().unwrap().extend(ports.as_object().unwrap().clone());
    json!({ "requestbody": json!({ "name": "r", "properties": p }).to_string() })
}

#[test]
fn nsg_rule_opened_to_the_internet_reads_the_rule_json() {
    let op = "Microsoft.Network/networkSecurityGroups/securityRules/write";
    let open = [
        nsg_body(json!({"sourceAddressPrefix": "*"}), json!({"destinationPortRanges": ["22", "3389"]}), "Allow"),
        nsg_body(json!({"sourceAddressPrefix": "Internet"}), json!({"destinationPortRange": "3389"}), "Allow"),
        nsg_body(
            json!({"sourceAddressPrefixes": ["10.0.0.0/8", "0.0.0.0/0"]}),
            json!({"destinationPortRange": "*"}),
            "Allow",
        ),
        // Ranges and lists that include a management port (an exact-value rule misses these).
        nsg_body(json!({"sourceAddressPrefix": "*"}), json!({"destinationPortRange": "20-30"}), "Allow"),
        nsg_body(json!({"sourceAddressPrefix": "Any"}), json!({"destinationPortRange": "0-65535"}), "Allow"),
        nsg_body(
            json!({"sourceAddressPrefix": "Internet"}),
            json!({"destinationPortRanges": ["80", "3000-4000"]}),
            "Allow",
        ),
        nsg_body(json!({"sourceAddressPrefix": "*"}), json!({"destinationPortRanges": ["5986"]}), "Allow"),
    ];
    for body in open {
        for e in each_shape(op, "megan@contoso.com", body.clone()) {
            assert!(fires(std::slice::from_ref(&e), "NSG rule allows"), "{}", e.raw);
        }
    }
    let closed = [
        // From a private range, to SSH.
        nsg_body(json!({"sourceAddressPrefix": "10.10.1.0/24"}), json!({"destinationPortRange": "22"}), "Allow"),
        // From anywhere, to HTTP only.
        nsg_body(json!({"sourceAddressPrefix": "*"}), json!({"destinationPortRange": "80"}), "Allow"),
        // Denied.
        nsg_body(json!({"sourceAddressPrefix": "*"}), json!({"destinationPortRange": "22"}), "Deny"),
        // The rule's escaped `\*` is a literal star, not a wildcard matching any port.
        nsg_body(json!({"sourceAddressPrefix": "Internet"}), json!({"destinationPortRange": "2222"}), "Allow"),
        // Ranges that stop short of every management port.
        nsg_body(json!({"sourceAddressPrefix": "*"}), json!({"destinationPortRange": "23-3388"}), "Allow"),
        nsg_body(
            json!({"sourceAddressPrefix": "*"}),
            json!({"destinationPortRanges": ["80", "443", "5987-6000"]}),
            "Allow",
        ),
    ];
    for body in closed {
        for e in each_shape(op, "megan@contoso.com", body.clone()) {
            assert!(!fires(std::slice::from_ref(&e), "NSG rule allows"), "{}", e.raw);
        }
    }
}

fn role_body(role: &str, scope: &str) -> Value {
    json!({ "requestbody": json!({ "Id": "x", "Properties": {
        "PrincipalId": "p", "PrincipalType": "ServicePrincipal",
        "RoleDefinitionId": format!("/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/{role}"),
        "Scope": scope } }).to_string() })
}

#[test]
fn privileged_role_assignment_needs_a_privileged_role_and_a_wide_scope() {
    let op = "Microsoft.Authorization/roleAssignments/write";
    let owner = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
    let reader = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
    let t = "Owner, User Access Administrator or Contributor";
    for scope in [
        "/subscriptions/b7e3c1d2-5a4f-4e6b-9c8d-1f2e3a4b5c6d",
        "/providers/Microsoft.Management/managementGroups/mg-contoso",
        "/",
    ] {
        for e in each_shape(op, "megan@contoso.com", role_body(owner, scope)) {
            assert!(fires(std::slice::from_ref(&e), t), "{}", e.raw);
        }
    }
    let response = json!({ "responseBody": json!({ "properties": {
        "roleDefinitionId": format!("/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/{owner}"),
        "scope": "/subscriptions/s" } }).to_string() });
    assert!(fires(&[ev("activity", 0, rest(op, "m", response))], t));
    for body in [role_body(reader, "/subscriptions/s"), role_body(owner, "/subscriptions/s/resourceGroups/rg-data")] {
        for e in each_shape(op, "megan@contoso.com", body.clone()) {
            assert!(!fires(std::slice::from_ref(&e), t), "{}", e.raw);
        }
    }
}

#[test]
fn storage_keys_listed_by_people_not_by_service_principals() {
    let op = "Microsoft.Storage/storageAccounts/listKeys/action";
    for e in each_shape(op, "megan@contoso.com", json!({})) {
        assert!(fires(std::slice::from_ref(&e), "Storage account keys listed"), "{}", e.raw);
    }
    for e in each_shape(op, "e4153399-d1ef-49a1-b10d-e64cae7d6336", json!({})) {
        assert!(!fires(std::slice::from_ref(&e), "Storage account keys listed"), "{}", e.raw);
    }
}

/// An Activity `properties` whose request body (JSON text, as ARM logs it) holds `props`.
fn request(props: Value) -> Value {
    json!({ "requestbody": json!({ "properties": props }).to_string() })
}

/// The same, as the response body.
fn response(props: Value) -> Value {
    json!({ "responseBody": json!({ "id": "x", "properties": props }).to_string() })
}

#[test]
fn storage_opened_to_anonymous_access() {
    let t = "Storage container or account opened to anonymous access";
    let container = "Microsoft.Storage/storageAccounts/blobServices/containers/write";
    let account = "Microsoft.Storage/storageAccounts/write";
    for (op, body) in [
        (container, request(json!({ "publicAccess": "Container" }))),
        (container, request(json!({ "publicAccess": "Blob", "metadata": {} }))),
        (container, response(json!({ "publicAccess": "Blob" }))),
        (account, request(json!({ "allowBlobPublicAccess": true, "minimumTlsVersion": "TLS1_2" }))),
    ] {
        for e in each_shape(op, "megan@contoso.com", body.clone()) {
            assert!(fires(std::slice::from_ref(&e), t), "{}", e.raw);
        }
    }
    for (op, body) in [
        (container, request(json!({ "publicAccess": "None" }))),
        (container, json!({})),
        (account, request(json!({ "allowBlobPublicAccess": false }))),
        // The setting on another operation is not this change.
        ("Microsoft.Storage/storageAccounts/read", request(json!({ "allowBlobPublicAccess": true }))),
    ] {
        for e in each_shape(op, "megan@contoso.com", body.clone()) {
            assert!(!fires(std::slice::from_ref(&e), t), "{}", e.raw);
        }
    }
}

#[test]
fn storage_sas_generated_by_people_not_by_service_principals() {
    let t = "Storage account SAS token generated";
    for op in [
        "Microsoft.Storage/storageAccounts/listAccountSas/action",
        "MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTSERVICESAS/ACTION",
    ] {
        for e in each_shape(op, "megan@contoso.com", json!({})) {
            assert!(fires(std::slice::from_ref(&e), t), "{}", e.raw);
        }
        for e in each_shape(op, "e4153399-d1ef-49a1-b10d-e64cae7d6336", json!({})) {
            assert!(!fires(std::slice::from_ref(&e), t), "{}", e.raw);
        }
    }
    for e in each_shape("Microsoft.Storage/storageAccounts/read", "megan@contoso.com", json!({})) {
        assert!(!fires(std::slice::from_ref(&e), t), "{}", e.raw);
    }
}

#[test]
fn script_and_access_reset_extensions_but_not_monitoring_agents() {
    let t = "Script or access-reset extension deployed";
    let op = "Microsoft.Compute/virtualMachines/extensions/write";
    for body in [
        request(json!({ "publisher": "Microsoft.Compute", "type": "CustomScriptExtension",
                        "settings": { "commandToExecute": "powershell -enc ..." } })),
        request(json!({ "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript" })),
        request(json!({ "publisher": "Microsoft.OSTCExtensions", "type": "VMAccessForLinux" })),
        response(json!({ "publisher": "Microsoft.Compute", "type": "VMAccessAgent" })),
    ] {
        for e in each_shape(op, "megan@contoso.com", body.clone()) {
            assert!(fires(std::slice::from_ref(&e), t), "{}", e.raw);
        }
    }
    for (op, body) in [
        (op, request(json!({ "publisher": "Microsoft.Azure.Monitor", "type": "AzureMonitorWindowsAgent" }))),
        (op, json!({})),
        ("Microsoft.Compute/virtualMachines/write", request(json!({ "type": "CustomScriptExtension" }))),
    ] {
        for e in each_shape(op, "megan@contoso.com", body.clone()) {
            assert!(!fires(std::slice::from_ref(&e), t), "{}", e.raw);
        }
    }
}

#[test]
fn automation_runbooks_and_webhooks() {
    let t = "Automation runbook or webhook";
    for op in [
        "Microsoft.Automation/automationAccounts/runbooks/write",
        "Microsoft.Automation/automationAccounts/runbooks/publish/action",
        "Microsoft.Automation/automationAccounts/webhooks/write",
    ] {
        for e in each_shape(op, "megan@contoso.com", json!({})) {
            assert!(fires(std::slice::from_ref(&e), t), "{}", e.raw);
        }
    }
    for op in ["Microsoft.Automation/automationAccounts/runbooks/read", "Microsoft.Automation/automationAccounts/write"]
    {
        for e in each_shape(op, "megan@contoso.com", json!({})) {
            assert!(!fires(std::slice::from_ref(&e), t), "{}", e.raw);
        }
    }
}

#[test]
fn diagnostic_settings_deleted() {
    let e = ev("activity", 0, rest("microsoft.insights/diagnosticSettings/delete", "m", json!({})));
    assert!(fires(&[e], "Diagnostic settings deleted"));
    let e = ev("activity", 0, rest("microsoft.insights/diagnosticSettings/write", "m", json!({})));
    assert!(!fires(&[e], "Diagnostic settings deleted"));
}

/// A failed sign-in in Graph, diagnostic or LA shape (rotating with `i`).
fn signin(i: usize, t: i64, user: &str, ip: &str, code: i64) -> Event {
    let graph = json!({ "userPrincipalName": user, "ipAddress": ip, "status": { "errorCode": code } });
    let raw = match i % 3 {
        0 => graph,
        1 => json!({ "resultType": code.to_string(), "callerIpAddress": ip, "properties": graph }),
        _ => json!({ "UserPrincipalName": user, "IPAddress": ip, "ResultType": code.to_string() }),
    };
    ev("signin", t, raw)
}

#[test]
fn password_spray_many_users_one_ip_within_an_hour() {
    let spray: Vec<Event> =
        (0..10).map(|i| signin(i, i as i64 * 300, &format!("u{i}@c.com"), "198.51.100.23", 50126)).collect();
    let f = hunt(&spray);
    let s: Vec<&Finding> = f.iter().filter(|f| f.title.starts_with("Password spray")).collect();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].group, ["IPAddress=198.51.100.23"]);
    assert_eq!(s[0].events.len(), 10);
    // Out-of-order input gives the same finding.
    let mut reversed = spray.clone();
    reversed.reverse();
    assert_eq!(hunt(&reversed).iter().filter(|f| f.title.starts_with("Password spray")).count(), 1);
    // Nine users, or ten spread over more than an hour, or ten successes: no spray.
    assert!(!fires(&spray[..9], "Password spray"));
    let slow: Vec<Event> =
        (0..10).map(|i| signin(i, i as i64 * 401, &format!("u{i}@c.com"), "198.51.100.23", 50126)).collect();
    assert!(!fires(&slow, "Password spray"));
    let ok: Vec<Event> = (0..10).map(|i| signin(i, i as i64, &format!("u{i}@c.com"), "198.51.100.23", 0)).collect();
    assert!(!fires(&ok, "Password spray"));
    // The same user ten times is brute force, not spray; events without an IP are not grouped.
    let brute: Vec<Event> = (0..10).map(|i| signin(i, i as i64 * 60, "megan@c.com", "198.51.100.23", 50126)).collect();
    assert!(!fires(&brute, "Password spray"));
    assert!(fires(&brute, "Brute force"));
    let no_ip: Vec<Event> = (0..10)
        .map(|i| {
            ev("signin", i, json!({ "userPrincipalName": format!("u{i}@c.com"), "status": { "errorCode": 50126 } }))
        })
        .collect();
    assert!(!fires(&no_ip, "Password spray"));
}

#[test]
fn mfa_fatigue_five_denials_for_one_user() {
    let burst: Vec<Event> = (0..5).map(|i| signin(i, i as i64 * 120, "megan@c.com", "203.0.113.77", 500121)).collect();
    assert!(fires(&burst, "MFA fatigue"));
    assert!(!fires(&burst[..4], "MFA fatigue"));
    let spread: Vec<Event> =
        (0..5).map(|i| signin(i, i as i64 * 1000, "megan@c.com", "203.0.113.77", 500121)).collect();
    assert!(!fires(&spread, "MFA fatigue"));
    let users: Vec<Event> =
        (0..5).map(|i| signin(i, i as i64, &format!("u{i}@c.com"), "203.0.113.77", 500121)).collect();
    assert!(!fires(&users, "MFA fatigue"));
}

fn kv(t: i64, op: &str, ip: &str, secret: &str) -> Event {
    ev(
        "keyvault",
        t,
        json!({ "operationName": op, "callerIpAddress": ip, "category": "AuditEvent",
        "properties": { "id": format!("https://kv.vault.azure.net/secrets/{secret}") } }),
    )
}

#[test]
fn key_vault_enumeration_counts_distinct_secrets() {
    let harvest: Vec<Event> = (0..8).map(|i| kv(i * 30, "SecretGet", "203.0.113.77", &format!("s{i}"))).collect();
    assert!(fires(&harvest, "Key Vault secret enumeration"));
    assert!(!fires(&harvest[..7], "Key Vault secret enumeration"));
    let app: Vec<Event> = (0..50).map(|i| kv(i * 10, "SecretGet", "192.0.2.80", &format!("s{}", i % 4))).collect();
    assert!(!fires(&app, "Key Vault secret enumeration"));
    let lists: Vec<Event> = (0..8).map(|i| kv(i, "SecretList", "203.0.113.77", &format!("s{i}"))).collect();
    assert!(!fires(&lists, "Key Vault secret enumeration"));
}

/// A Key Vault read as Log Analytics' `AzureDiagnostics` table exports it: the record flattened
/// into typed columns (`id_s`, `requestUri_s`, `CallerIPAddress`, `identity_claim_appid_g`).
fn kv_la(t: i64, ip: &str, secret: &str) -> Event {
    ev(
        "keyvault",
        t,
        json!({ "Type": "AzureDiagnostics", "Category": "AuditEvent", "OperationName": "SecretGet", "CallerIPAddress": ip,
        "id_s": format!("https://kv.vault.azure.net/secrets/{secret}"), "identity_claim_appid_g": "a-1",
        "requestUri_s": format!("https://kv.vault.azure.net/secrets/{secret}?api-version=7.4"), "httpStatusCode_d": 200 }),
    )
}

#[test]
fn key_vault_enumeration_in_the_azure_diagnostics_table_shape() {
    let harvest: Vec<Event> = (0..8).map(|i| kv_la(i * 30, "203.0.113.77", &format!("s{i}"))).collect();
    assert!(fires(&harvest, "Key Vault secret enumeration"));
    assert!(!fires(&harvest[..7], "Key Vault secret enumeration"));
    let app: Vec<Event> = (0..50).map(|i| kv_la(i * 10, "192.0.2.80", &format!("s{}", i % 4))).collect();
    assert!(!fires(&app, "Key Vault secret enumeration"));
}

#[test]
fn directory_role_and_credentials_in_graph_and_diagnostic_audits() {
    let ga = json!({ "activityDisplayName": "Add member to role", "targetResources": [{ "modifiedProperties": [
        { "displayName": "Role.DisplayName", "newValue": "\"Global Administrator\"" }] }] });
    let reader = json!({ "activityDisplayName": "Add member to role", "targetResources": [{ "modifiedProperties": [
        { "displayName": "Role.DisplayName", "newValue": "\"Directory Readers\"" }] }] });
    for (raw, yes) in [(ga.clone(), true), (reader.clone(), false)] {
        let diag = json!({ "operationName": "Add member to role", "properties": raw.clone() });
        for r in [raw, diag] {
            assert_eq!(fires(&[ev("audit", 0, r.clone())], "Member added to a privileged"), yes, "{r}");
        }
    }
    let creds = json!({ "activityDisplayName": "Update application – Certificates and secrets management " });
    assert!(fires(&[ev("audit", 0, creds)], "Credentials added"));
    let sp = json!({ "operationName": "Add service principal credentials", "properties": {} });
    assert!(fires(&[ev("audit", 0, sp)], "Credentials added"));
    let other = json!({ "activityDisplayName": "Update application" });
    assert!(!fires(&[ev("audit", 0, other)], "Credentials added"));
}

#[test]
fn app_consent_granted_in_graph_diagnostic_and_log_analytics_audits() {
    let mods = json!([
        { "displayName": "ConsentContext.IsAdminConsent", "oldValue": null, "newValue": "\"False\"" },
        { "displayName": "ConsentAction.Permissions", "oldValue": null,
          "newValue": "\"[] => [[Id: x, ClientId: y, ResourceId: z, ConsentType: Principal, Scope: Mail.Read offline_access]]\"" }
    ]);
    let graph = |activity: &str, result: &str| {
        json!({ "activityDisplayName": activity, "category": "ApplicationManagement", "result": result,
                "loggedByService": "Core Directory", "resultReason": "",
                "initiatedBy": { "user": { "userPrincipalName": "megan@contoso.com", "ipAddress": "203.0.113.77" } },
                "targetResources": [{ "displayName": "Mail Helper", "type": "ServicePrincipal",
                                      "modifiedProperties": mods.clone() }] })
    };
    let shapes = |activity: &str, result: &str| {
        let g = graph(activity, result);
        let diag = json!({ "category": "AuditLogs", "operationName": activity, "resultSignature": "None",
                           "properties": g.clone() });
        let la = json!({ "OperationName": activity, "Category": "ApplicationManagement", "Result": result,
                         "LoggedByService": "Core Directory",
                         "TargetResources": g["targetResources"].to_string(),
                         "InitiatedBy": g["initiatedBy"].to_string() });
        [g, diag, la]
    };
    for raw in shapes("Consent to application", "success") {
        assert!(fires(&[ev("audit", 0, raw.clone())], "Consent granted to an application"), "{raw}");
        // The same record is not a sign-in.
        assert!(!fires(&[ev("signin", 0, raw)], "Consent granted to an application"));
    }
    // A consent that failed (blocked by policy), and a neighbouring activity, are not reported.
    for raw in shapes("Consent to application", "failure")
        .into_iter()
        .chain(shapes("Add delegated permission grant", "success"))
    {
        assert!(!fires(&[ev("audit", 0, raw.clone())], "Consent granted to an application"), "{raw}");
    }
}

#[test]
fn appgw_scanning_needs_fifty_404s_from_one_client_in_ten_minutes() {
    let req = |t: i64, ip: &str, status: i64| {
        ev(
            "appgw_access",
            t,
            json!({ "category": "ApplicationGatewayAccessLog",
            "properties": { "clientIP": ip, "httpStatus": status, "requestUri": "/x" } }),
        )
    };
    let scan: Vec<Event> = (0..50).map(|i| req(i * 5, "198.51.100.200", 404)).collect();
    assert!(fires(&scan, "Web scanning"));
    assert!(!fires(&scan[..49], "Web scanning"));
    let ok: Vec<Event> = (0..60).map(|i| req(i, "198.51.100.200", 200)).collect();
    assert!(!fires(&ok, "Web scanning"));
    let many: Vec<Event> = (0..60).map(|i| req(i, &format!("198.51.100.{i}"), 404)).collect();
    assert!(!fires(&many, "Web scanning"));
}

#[test]
fn waf_block_then_success_for_the_same_client_in_order() {
    let waf = |t: i64, ip: &str, action: &str| {
        ev(
            "waf",
            t,
            json!({ "category": "ApplicationGatewayFirewallLog",
            "properties": { "clientIp": ip, "action": action } }),
        )
    };
    let req = |t: i64, ip: &str, status: i64| {
        ev(
            "appgw_access",
            t,
            json!({ "category": "ApplicationGatewayAccessLog",
            "properties": { "clientIP": ip, "httpStatus": status } }),
        )
    };
    let t = "WAF blocked a client that then got";
    assert!(fires(&[waf(0, "198.51.100.200", "Blocked"), req(60, "198.51.100.200", 200)], t));
    // Success before the block, a different client, a 404, a mere match, or too late: nothing.
    assert!(!fires(&[req(0, "198.51.100.200", 200), waf(60, "198.51.100.200", "Blocked")], t));
    assert!(!fires(&[waf(0, "198.51.100.200", "Blocked"), req(60, "198.51.100.9", 200)], t));
    assert!(!fires(&[waf(0, "198.51.100.200", "Blocked"), req(60, "198.51.100.200", 404)], t));
    assert!(!fires(&[waf(0, "198.51.100.200", "Matched"), req(60, "198.51.100.200", 200)], t));
    assert!(!fires(&[waf(0, "198.51.100.200", "Blocked"), req(601, "198.51.100.200", 200)], t));
}

fn hunt_flows(flows: &[azir_model::NetworkSession]) -> Vec<Finding> {
    let mut b = RuleSetBuilder::default();
    b.add_builtin();
    let set = b.build();
    assert!(set.routes_flows());
    let mut h = set.hunter();
    for s in flows {
        h.feed_flow(s);
    }
    h.finish()
}

fn flow_fires(flows: &[azir_model::NetworkSession], title: &str) -> bool {
    hunt_flows(flows).iter().any(|f| f.title.starts_with(title))
}

/// One NSG v2 flow tuple (the `network` table's shape), `t` seconds into the hour.
#[allow(clippy::too_many_arguments)]
fn tuple(
    t: i64,
    src: &str,
    dst: &str,
    dport: i32,
    dir: &str,
    action: &str,
    bytes: i64,
    i: u32,
) -> azir_model::NetworkSession {
    azir_model::NetworkSession {
        time: t * 1_000_000,
        end_time: t * 1_000_000,
        source: "nsg_flow".into(),
        source_format: "diag".into(),
        src_ip: src.into(),
        src_port: Some(50000),
        dst_ip: dst.into(),
        dst_port: Some(dport),
        protocol: "TCP".into(),
        direction: Some(dir.into()),
        action: Some(action.into()),
        flow_state: Some(if action == "Deny" { "Deny" } else { "End" }.into()),
        bytes_s2d: Some(bytes),
        packets_s2d: Some(1 + bytes / 1400),
        rule: Some(if action == "Deny" { "DefaultRule_DenyAllInBound" } else { "UserRule_allow-https" }.into()),
        flow_id: format!("{i:x}"),
        raw: format!("{t},{src},{dst},50000,{dport},T,I,D,B,,,,"),
        provenance: azir_model::Provenance { evidence_path: "nsg/PT1H.json".into(), line: 3, ..Default::default() },
        tuple_index: i,
        ..Default::default()
    }
}

/// Flow tuples are hunted on the tree of their fields: no record text is written, scanned
/// or parsed (a tuple's columns and ~20 members decide every flow rule), and what the rules
/// decide is what they decided on the written record: the port scan fires, a field rule and a
/// keyword rule on a tuple's members match the tuples that have them and only those.
#[test]
fn flow_tuples_are_hunted_without_writing_or_parsing_a_record() {
    let mut b = RuleSetBuilder::default();
    b.add_builtin();
    b.add(
        "flows.yml",
        r#"
title: Tuple of a named rule
id: 6c1d7d3e-3f0e-4b8a-9d54-0a6f3b1c2d01
logsource: { product: azure, category: network_connection }
detection:
    selection:
        NetworkRuleName|endswith: DenyAllInBound
        FlowState: Deny
    condition: selection
level: low
---
title: Tuple naming an https rule anywhere
id: 6c1d7d3e-3f0e-4b8a-9d54-0a6f3b1c2d02
logsource: { product: azure, category: network_connection }
detection:
    keywords:
        - 'allow-https'
    condition: keywords
level: low
"#,
    );
    let set = b.build();
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    let mut h = set.hunter();
    let mut flows: Vec<_> = (0..25)
        .map(|i| tuple(i64::from(i) * 10, "203.0.113.9", "10.0.0.4", 1000 + i, "Inbound", "Deny", 0, i as u32))
        .collect();
    flows.extend(
        (0..3).map(|i| {
            tuple(300 + i64::from(i), "10.0.0.4", "198.51.100.7", 443, "Outbound", "Allow", 900, 25 + i as u32)
        }),
    );
    flows.iter().for_each(|s| h.feed_flow(s));
    assert_eq!(h.flow_counts(), (28, 28));
    assert_eq!(h.parsed(), 0, "a tuple's record was parsed");
    assert_eq!(h.scan_passes(), 0, "a tuple's text was scanned");
    let f = h.finish();
    let count = |title: &str| f.iter().filter(|f| f.title == title).map(|f| f.events.len()).sum::<usize>();
    assert_eq!(count("Port scan - denied inbound flows to many ports of one address"), 25);
    assert_eq!(count("Tuple of a named rule"), 25);
    assert_eq!(count("Tuple naming an https rule anywhere"), 3);
}

#[test]
fn denied_port_scan_needs_25_ports_of_one_address_from_one_source_in_ten_minutes() {
    let t = "Port scan - denied inbound flows";
    let scan: Vec<_> = (0..25)
        .map(|i| tuple(i64::from(i) * 10, "203.0.113.9", "10.0.0.4", 1000 + i, "Inbound", "Deny", 0, i as u32))
        .collect();
    let f = hunt_flows(&scan);
    let hit: Vec<_> = f.iter().filter(|f| f.title.starts_with(t)).collect();
    assert_eq!(hit.len(), 1, "{f:#?}");
    assert_eq!(hit[0].kind, "value_count");
    assert_eq!(hit[0].ips, ["203.0.113.9"]);
    assert!(hit[0].group.contains(&"SrcIpAddr=203.0.113.9".to_string()), "{:?}", hit[0].group);
    assert_eq!(hit[0].events.len(), 25);
    assert_eq!(hit[0].events[24].tuple, Some(24));
    assert_eq!(&*hit[0].events[0].provenance.evidence_path, "nsg/PT1H.json");
    assert!(hit[0].tags.iter().any(|t| t == "attack.t1046"));
    // 24 ports, the same port 40 times, allowed flows, outbound denials, ports of 25 different
    // addresses, or ports spread over more than ten minutes: nothing.
    assert!(!flow_fires(&scan[..24], t));
    let same: Vec<_> =
        (0..40).map(|i| tuple(i, "203.0.113.9", "10.0.0.4", 22, "Inbound", "Deny", 0, i as u32)).collect();
    assert!(!flow_fires(&same, t));
    let allowed: Vec<_> = (0..40)
        .map(|i| tuple(i64::from(i), "203.0.113.9", "10.0.0.4", 1000 + i, "Inbound", "Allow", 900, i as u32))
        .collect();
    assert!(!flow_fires(&allowed, t));
    let outbound: Vec<_> = (0..40)
        .map(|i| tuple(i64::from(i), "10.0.0.4", "203.0.113.9", 1000 + i, "Outbound", "Deny", 0, i as u32))
        .collect();
    assert!(!flow_fires(&outbound, t));
    let spread: Vec<_> = (0..40)
        .map(|i| tuple(i64::from(i), "203.0.113.9", &format!("10.0.0.{i}"), 1000 + i, "Inbound", "Deny", 0, i as u32))
        .collect();
    assert!(!flow_fires(&spread, t));
    let slow: Vec<_> = (0..40)
        .map(|i| tuple(i64::from(i) * 60, "203.0.113.9", "10.0.0.4", 1000 + i, "Inbound", "Deny", 0, i as u32))
        .collect();
    assert!(!flow_fires(&slow, t));
    // Firewall flows are hunted as firewall events, not as tuples.
    let fw: Vec<_> = scan
        .iter()
        .cloned()
        .map(|mut s| {
            s.source = "firewall".into();
            s
        })
        .collect();
    assert!(!flow_fires(&fw, t));
}

/// `n` failed passwords from `ip`, one a minute from `t0` (seconds), of distinct users, in
/// export shape `shape` (0 Graph, 1 diagnostic, 2 LA; 3 rotates per event).
fn failures(shape: usize, n: usize, t0: i64, ip: &str) -> Vec<Event> {
    let codes = [50126, 50053, 50034, 50057, 50055];
    (0..n)
        .map(|i| {
            let s = if shape == 3 { i } else { shape };
            signin(s, t0 + i as i64 * 60, &format!("u{i}@c.com"), ip, codes[i % codes.len()])
        })
        .collect()
}

fn with(mut events: Vec<Event>, more: Event) -> Vec<Event> {
    events.push(more);
    events
}

#[test]
fn success_after_a_run_of_failures_from_the_same_ip() {
    let t = "Sign-in success after a run of failed passwords";
    let ip = "198.51.100.23";
    for shape in 0..4 {
        let ok = |at: i64, user: &str, ip: &str| signin(shape % 3, at, user, ip, 0);
        // Ten failures in nine minutes (the burst completes at 540 s), then a success.
        let burst = failures(shape, 10, 0, ip);
        let f = hunt(&with(burst.clone(), ok(1200, "megan@c.com", ip)));
        let hit: Vec<&Finding> = f.iter().filter(|f| f.title.starts_with(t)).collect();
        assert_eq!(hit.len(), 1, "shape {shape}: {f:#?}");
        assert_eq!(hit[0].kind, "temporal_ordered");
        assert_eq!(hit[0].group, [format!("IPAddress={ip}")]);
        assert_eq!(hit[0].events.len(), 11);
        assert_eq!(hit[0].last, 1_200_000_000);
        for tag in ["attack.t1110", "attack.t1078"] {
            assert!(hit[0].tags.iter().any(|x| x == tag), "{tag}");
        }
        // The chained parts do not report on their own.
        assert!(!f
            .iter()
            .any(|f| f.title.starts_with("Burst of failed") || f.title == "Sign-in with the right password"));
        // A password accepted but stopped at MFA (50076, 50074, 500121) is the spray's success too.
        for code in [50076, 50074, 500121] {
            assert!(fires(&with(burst.clone(), signin(shape % 3, 1200, "megan@c.com", ip, code)), t), "{code}");
        }
        // Exactly an hour after the burst completes still follows it; a second later does not.
        assert!(fires(&with(burst.clone(), ok(540 + 3600, "megan@c.com", ip)), t), "shape {shape}");
        assert!(!fires(&with(burst.clone(), ok(540 + 3601, "megan@c.com", ip)), t), "shape {shape}");
        // The success before the burst, or before it reaches ten failures: nothing.
        assert!(!fires(&with(burst.clone(), ok(-60, "megan@c.com", ip)), t), "shape {shape}");
        assert!(!fires(&with(burst.clone(), ok(510, "megan@c.com", ip)), t), "shape {shape}");
        // A success from another IP, nine failures, or ten spread over more than 30 minutes.
        assert!(!fires(&with(burst.clone(), ok(1200, "megan@c.com", "203.0.113.77")), t), "shape {shape}");
        assert!(!fires(&with(failures(shape, 9, 0, ip), ok(1200, "megan@c.com", ip)), t), "shape {shape}");
        let slow: Vec<Event> = failures(shape, 10, 0, ip)
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                e.time = i as i64 * 240 * 1_000_000;
                e
            })
            .collect();
        assert!(!fires(&with(slow, ok(2400, "megan@c.com", ip)), t), "shape {shape}");
        // Ten successes after one failure are not a run of failures either.
        let mut many_ok = failures(shape, 1, 0, ip);
        many_ok.extend((0..10).map(|i| ok(60 + i, "megan@c.com", ip)));
        assert!(!fires(&many_ok, t), "shape {shape}");
    }
    // A success in the middle of a spray that goes on fires too (the burst completed before it).
    let spray = failures(3, 30, 0, ip);
    assert!(fires(&with(spray, signin(1, 900, "megan@c.com", ip, 0)), t));
}

#[test]
fn mfa_fatigue_then_success_of_the_same_user() {
    let t = "MFA fatigue then successful sign-in";
    let (user, ip) = ("megan@c.com", "203.0.113.77");
    for shape in 0..3 {
        let denials = |n: usize, user: &str| -> Vec<Event> {
            (0..n).map(|i| signin(shape, i as i64 * 120, user, ip, 500121)).collect()
        };
        let ok = |at: i64, user: &str, ip: &str| signin(shape, at, user, ip, 0);
        // Five denials (the burst completes at 480 s), then the user's success.
        let burst = denials(5, user);
        let f = hunt(&with(burst.clone(), ok(1200, user, ip)));
        let hit: Vec<&Finding> = f.iter().filter(|f| f.title.starts_with(t)).collect();
        assert_eq!(hit.len(), 1, "shape {shape}: {f:#?}");
        assert_eq!(hit[0].kind, "temporal_ordered");
        assert_eq!(hit[0].group, [format!("UserPrincipalName={user}")]);
        assert_eq!(hit[0].events.len(), 6);
        for tag in ["attack.t1621", "attack.t1078"] {
            assert!(hit[0].tags.iter().any(|x| x == tag), "{tag}");
        }
        // The MFA fatigue rule still reports the burst itself; the chained burst does not.
        assert!(f.iter().any(|f| f.title.starts_with("MFA fatigue - repeated")));
        assert!(!f
            .iter()
            .any(|f| f.title.starts_with("Burst of MFA denials") || f.title == "Sign-in with the right password"));
        // The success may come from another address: the user is the group.
        assert!(fires(&with(burst.clone(), ok(1200, user, "192.0.2.10")), t), "shape {shape}");
        assert!(fires(&with(burst.clone(), ok(480 + 3600, user, ip)), t), "shape {shape}");
        // The burst alone, the success before the burst or before its fifth denial, another
        // user's success, four denials, or a success more than an hour after the burst: nothing.
        assert!(!fires(&burst, t), "shape {shape}");
        assert!(fires(&burst, "MFA fatigue - repeated"), "shape {shape}");
        assert!(!fires(&with(burst.clone(), ok(-60, user, ip)), t), "shape {shape}");
        assert!(!fires(&with(burst.clone(), ok(400, user, ip)), t), "shape {shape}");
        assert!(!fires(&with(burst.clone(), ok(1200, "adele@c.com", ip)), t), "shape {shape}");
        assert!(!fires(&with(denials(4, user), ok(1200, user, ip)), t), "shape {shape}");
        assert!(!fires(&with(burst.clone(), ok(480 + 3601, user, ip)), t), "shape {shape}");
        // Five denials spread over users are no burst.
        let users: Vec<Event> = (0..5).map(|i| signin(shape, i * 60, &format!("u{i}@c.com"), ip, 500121)).collect();
        assert!(!fires(&with(users, ok(1200, "u0@c.com", ip)), t), "shape {shape}");
    }
}

/// An Exchange cmdlet record of the unified audit log, as AuditData (the Management Activity
/// API) or as an `OfficeActivity` row (Parameters as JSON text).
fn exchange(operation: &str, params: &[(&str, &str)], la: bool) -> Event {
    let p: Vec<Value> = params.iter().map(|(n, v)| json!({ "Name": n, "Value": v })).collect();
    let raw = if la {
        json!({ "TimeGenerated": "2026-03-12T04:05:00Z", "OfficeWorkload": "Exchange", "Operation": operation,
                "UserId": "megan@contoso.com", "ResultStatus": "True", "Parameters": Value::Array(p).to_string() })
    } else {
        json!({ "CreationTime": "2026-03-12T04:05:00", "Workload": "Exchange", "RecordType": 1,
                "Operation": operation, "UserId": "megan@contoso.com", "ResultStatus": "True",
                "ObjectId": "megan@contoso.com\\fwd", "Parameters": p })
    };
    ev("m365_audit", 0, raw)
}

#[test]
fn mailbox_forwarding_by_inbox_rule_or_on_the_mailbox() {
    let t = "Mailbox forwarding set";
    for la in [false, true] {
        let fwd = [("Name", "fwd"), ("ForwardTo", "x@evil.example"), ("StopProcessingRules", "True")];
        assert!(fires(&[exchange("New-InboxRule", &fwd, la)], t), "la={la}");
        assert!(fires(&[exchange("Set-InboxRule", &[("RedirectTo", "SMTP:x@evil.example")], la)], t));
        assert!(fires(&[exchange("Set-Mailbox", &[("ForwardingSmtpAddress", "smtp:x@evil.example")], la)], t));
        // A rule that only moves mail, clearing forwarding, and forwarding parameters on an
        // unrelated cmdlet are not reported.
        assert!(!fires(&[exchange("New-InboxRule", &[("Name", "r"), ("MoveToFolder", "RSS Feeds")], la)], t));
        assert!(!fires(&[exchange("Set-Mailbox", &[("ForwardingSmtpAddress", "")], la)], t));
        assert!(!fires(&[exchange("Set-TransportRule", &[("RedirectMessageTo", "x@evil.example")], la)], t));
    }
    // The same record in an Entra audit source is not an M365 record.
    let mut other = exchange("New-InboxRule", &[("ForwardTo", "x@evil.example")], false);
    other.source = "audit".into();
    assert!(!fires(&[other], t));
}

/// The literal scan pauses for a source where it spares no parse (`ScanBudget`): a Sigma rule on
/// a value nearly every record carries (`DeviceDetail.isCompliant: 'false'`). Pausing changes
/// the work, not the findings: the hunt over 2,000 sign-ins finds exactly the non-compliant ones,
/// as evaluating every routed rule on every event does.
#[test]
fn pausing_the_literal_scan_changes_no_finding() {
    let rule = r#"
title: Non-compliant device sign-in
id: 2b1f2a52-7d0e-4d55-9a53-1b0f3c1b1a01
logsource: {product: azure, service: signinlogs}
detection:
    sel:
        DeviceDetail.isCompliant: 'false'
    condition: sel
level: low
"#;
    let mut b = RuleSetBuilder::default();
    b.add("nc.yml", rule);
    let set = b.build();
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    // Nine records in ten carry `false` somewhere (`isInteractive`), so the scan spares the parse
    // for under a quarter of them and the hunter pauses it.
    let events: Vec<Event> = (0..2000)
        .map(|i| {
            let compliant = i % 7 != 0;
            ev(
                "signin",
                i,
                json!({"userPrincipalName": format!("u{}@c.com", i % 5), "ipAddress": "192.0.2.1",
                       "isInteractive": i % 10 == 0, "deviceDetail": {"isCompliant": compliant}}),
            )
        })
        .collect();
    let expected = events.iter().filter(|e| !set.matching_routed_unfiltered(e).is_empty()).count();
    assert_eq!(expected, (0..2000).filter(|i| i % 7 == 0).count());
    let mut h = set.hunter();
    events.iter().for_each(|e| h.feed(e));
    // The pause happened: records without the literal were parsed too (the scan alone would
    // parse only those that carry it).
    let with_literal = events.iter().filter(|e| e.raw.contains("false")).count();
    assert!(h.parsed() as usize > with_literal + 100, "{} parsed, {with_literal} carry the literal", h.parsed());
    let found: usize = h.finish().iter().map(|f| f.events.len()).sum();
    assert_eq!(found, expected);
}

/// The literal scan keeps running for a source where it never spares the parse but rules out a
/// keyword rule (a walk over every value of the record): SigmaHQ's Activity keyword rules beside
/// rules that parse every Activity record. The findings are those of evaluating every rule.
#[test]
fn the_literal_scan_keeps_running_where_it_rules_out_keyword_walks() {
    let rules = [
        r#"
title: Role assignment written (keywords)
id: 6b1f2a52-7d0e-4d55-9a53-1b0f3c1b1a02
logsource: {product: azure, service: activitylogs}
detection:
    keywords:
        - Microsoft.Authorization/roleAssignments/write
    condition: keywords
level: medium
"#,
        r#"
title: Any operation not OK
id: 6b1f2a52-7d0e-4d55-9a53-1b0f3c1b1a03
logsource: {product: azure, service: activitylogs}
detection:
    ok:
        properties.statusCode: 'OK'
    condition: not ok
level: low
"#,
    ];
    let mut b = RuleSetBuilder::default();
    for (i, r) in rules.iter().enumerate() {
        b.add(&format!("r{i}.yml"), r);
    }
    let set = b.build();
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    let events: Vec<Event> = (0..2000)
        .map(|i| {
            let op = if i % 50 == 0 {
                "Microsoft.Authorization/roleAssignments/write"
            } else {
                "Microsoft.Compute/virtualMachines/read"
            };
            ev(
                "activity",
                i,
                json!({"operationName": op, "caller": format!("u{}@c.com", i % 5), "callerIpAddress": "192.0.2.1",
                       "properties": {"statusCode": if i % 3 == 0 { "Forbidden" } else { "OK" }}}),
            )
        })
        .collect();
    let expected: usize = events.iter().map(|e| set.matching_routed_unfiltered(e).len()).sum();
    assert_eq!(expected, 2000 / 50 + (0..2000).filter(|i| i % 3 == 0).count());
    let mut h = set.hunter();
    events.iter().for_each(|e| h.feed(e));
    // The `not` rule has no literal, so every record is parsed and the scan spares no parse;
    // it rules out the keyword rule on 49 records in 50, so it is never paused.
    assert_eq!(h.parsed(), 2000);
    assert_eq!(h.scanned(), 2000, "the scan was paused");
    let found: usize = h.finish().iter().map(|f| f.events.len()).sum();
    assert_eq!(found, expected);
}

/// The flow event's `raw` is the JSON object a serde_json map of the tuple's fields would be
/// (keys sorted, absent values left out), byte for byte, also with text that needs escaping.
#[test]
fn a_flow_events_raw_is_the_json_object_of_its_fields() {
    let reference = |s: &azir_model::NetworkSession| {
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: serde_json::Value| {
            if !v.is_null() {
                m.insert(k.to_string(), v);
            }
        };
        put("SrcIpAddr", s.src_ip.as_str().into());
        put("SrcPortNumber", s.src_port.into());
        put("DstIpAddr", s.dst_ip.as_str().into());
        put("DstPortNumber", s.dst_port.into());
        put("NetworkProtocol", s.protocol.as_str().into());
        put("NetworkDirection", s.direction.as_deref().into());
        put("DvcAction", s.action.as_deref().into());
        put("FlowState", s.flow_state.as_deref().into());
        put("SrcBytes", s.bytes_s2d.into());
        put("DstBytes", s.bytes_d2s.into());
        put("SrcPackets", s.packets_s2d.into());
        put("DstPackets", s.packets_d2s.into());
        put("NetworkRuleName", s.rule.as_deref().into());
        put("DvcId", s.dvc_id.as_deref().into());
        put("AclId", s.acl_id.as_deref().into());
        put("TargetResourceId", s.target_resource_id.as_deref().into());
        put("FlowVersion", s.version.into());
        put("CloudAccountId", s.account_id.as_deref().into());
        put("FlowId", s.flow_id.as_str().into());
        put("source", s.source.as_str().into());
        serde_json::Value::Object(m).to_string()
    };
    let plain = tuple(5, "10.0.0.4", "203.0.113.9", 443, "O", "Allow", 1_500_000, 7);
    let hostile = azir_model::NetworkSession {
        rule: Some("rule \"quoted\" \\ with\ttab and \u{1} and é".into()),
        dvc_id: Some("/SUBSCRIPTIONS/S/NSG".into()),
        acl_id: Some(String::new()),
        version: Some(2),
        account_id: Some("acct".into()),
        bytes_d2s: Some(-1),
        src_port: None,
        ..plain.clone()
    };
    // Without addresses, protocol or ids: the refilled event must not keep the previous ones.
    let bare = azir_model::NetworkSession {
        src_ip: String::new(),
        dst_ip: String::new(),
        protocol: String::new(),
        dvc_id: None,
        target_resource_id: None,
        provenance: azir_model::Provenance { evidence_path: "other.json".into(), line: 9, ..Default::default() },
        ..plain.clone()
    };
    let mut reused = azir_model::Event::default();
    for s in [plain, hostile.clone(), bare, hostile] {
        let fresh = azir_detect::flow_event(&s);
        assert_eq!(fresh.raw, reference(&s));
        assert!(serde_json::from_str::<serde_json::Value>(&fresh.raw).is_ok());
        // The hunt refills one event per tuple: each is the fresh one exactly.
        azir_detect::flow_event_into(&s, &mut reused);
        assert_eq!(reused, fresh);
    }
}

/// A rule the authoritative columns can decide but did not (its `operationName` is the
/// record's) is scanned for with its own literals, beside those of the rules the columns can
/// never decide, instead of with every rule's literals (200 decidable rules: several packed
/// searchers, so several passes over the text). Past three such rules on one record the scan
/// uses every literal. Either way the findings are those of evaluating every rule.
#[test]
fn an_undecided_rule_is_scanned_for_with_its_own_literals() {
    let mut b = RuleSetBuilder::default();
    // Rules 0..200: an operation each and a marker in the request body. Rules 0..5 share one
    // operation, so a record of it leaves five rules undecided.
    let op = |i: usize| {
        if i < 5 {
            "Microsoft.Storage/storageAccounts/listKeys/action".to_string()
        } else {
            format!("Microsoft.Op{i:03}/items/write")
        }
    };
    for i in 0..200 {
        b.add(
            &format!("d{i}.yml"),
            &format!(
                "title: Decidable {i}\nid: 00000000-0000-4000-8000-{i:012}\nlogsource: {{product: azure, service: activitylogs}}\n\
                 detection:\n    selection:\n        operationName: '{}'\n        properties.requestbody|contains: 'mark{i:03}q'\n\
                 \x20   condition: selection\nlevel: low\n",
                op(i)
            ),
        );
    }
    // A rule the columns never decide (it reads no operationName).
    b.add(
        "raw.yml",
        "title: Raw only\nid: 00000000-0000-4000-9000-000000000001\nlogsource: {product: azure, service: activitylogs}\n\
         detection:\n    selection:\n        properties.requestbody|contains: 'rawonlyzz'\n    condition: selection\nlevel: low\n",
    );
    let set = b.build();
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    let event = |op: &str, body: &str| Event {
        source: "activity".into(),
        operation: Some(op.into()),
        raw: json!({"operationName": op, "caller": "u@c.com", "properties": {"requestbody": body}}).to_string(),
        ..Default::default()
    };
    let hunt = |e: &Event| {
        let mut h = set.hunter();
        h.feed(e);
        let (scanned, passes) = (h.scanned(), h.scan_passes());
        let titles: Vec<String> = h.finish().into_iter().map(|f| f.title).collect();
        (scanned, passes, titles)
    };
    // How many rules evaluating every rule without the prefilter matches.
    let unfiltered = |e: &Event| -> usize { set.matching_routed_unfiltered(e).len() };
    // Every literal: the five undecided rules of the shared operation.
    let (scanned, all_passes, titles) = hunt(&event(&op(0), "mark003q"));
    assert_eq!(scanned, 1);
    assert!(all_passes >= 4, "every literal takes {all_passes} passes");
    assert_eq!(titles, ["Decidable 3"]);
    assert_eq!(unfiltered(&event(&op(0), "mark003q")), 1);
    // (operation, body, what matches): one undecided rule, one pass for it and one for the
    // raw-only rule.
    for (o, body, want) in [
        (op(7), "nothing", vec![]),
        (op(7), "a mark007q b", vec!["Decidable 7"]),
        (op(7), "MARK007Q", vec!["Decidable 7"]),
        (op(7), "mark008q rawonlyzz", vec!["Raw only"]),
        (op(199), "mark199q rawonlyzz", vec!["Decidable 199", "Raw only"]),
    ] {
        let e = event(&o, body);
        let (scanned, passes, mut titles) = hunt(&e);
        titles.sort();
        assert_eq!((scanned, passes), (1, 2), "{o} {body}");
        assert_eq!(titles, want, "{o} {body}");
        assert_eq!(unfiltered(&e), want.len(), "{o} {body}");
    }
    // No rule left undecided: the raw-only pass alone.
    let (scanned, passes, titles) = hunt(&event("Microsoft.Other/things/read", "rawonlyzz"));
    assert_eq!((scanned, passes), (1, 1));
    assert_eq!(titles, ["Raw only"]);
}

/// A keyword search for contained text looks at the operation column of Activity and Key
/// Vault records first: their parsers fill it with one of the record's values (trimmed), so a
/// keyword found there is in the record, and the walk over every value is spared. Shown here
/// with events whose column holds what their `raw` does not (which ingestion never writes):
/// only the shortcut can match them.
#[test]
fn a_keyword_search_looks_at_the_operation_column_first() {
    let rule = |id: u32, service: &str, keyword: &str| {
        format!(
            "title: Keyword {id}\nid: 00000000-0000-4000-a000-{id:012}\nlogsource: {{product: azure, service: {service}}}\n\
             detection:\n    keywords:\n        - '{keyword}'\n    condition: keywords\nlevel: low\n"
        )
    };
    let mut b = RuleSetBuilder::default();
    b.add("k1.yml", &rule(1, "activitylogs", "virtualMachines/write"));
    b.add("k2.yml", &rule(2, "keyvault", "SecretGet"));
    // A wildcard in the middle: not plain contained text, so never looked up in the column.
    b.add("k3.yml", &rule(3, "activitylogs", "runCommand*action"));
    b.add("k4.yml", &rule(4, "signinlogs", "50126"));
    // A quote: JSON text escapes it, so the column's text need not be a value's.
    b.add("k5.yml", &rule(5, "activitylogs", r#"say "hi""#));
    let set = b.build();
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    let event = |source: &str, op: &str, raw: serde_json::Value| Event {
        source: source.into(),
        operation: Some(op.into()),
        raw: raw.to_string(),
        ..Default::default()
    };
    let matched = |e: &Event| -> Vec<String> {
        let mut t: Vec<String> = set.matching_routed(e).iter().map(|s| s.to_string()).collect();
        t.sort();
        t
    };
    let id = |n: u32| format!("00000000-0000-4000-a000-{n:012}");
    // The column holds the keyword, `raw` does not: found in the column (any case).
    let vm = event("activity", "Microsoft.Compute/VIRTUALMACHINES/write", json!({"operationName": "x"}));
    assert_eq!(matched(&vm), [id(1)]);
    let kv = event("keyvault", "SecretGet", json!({"operationName": "VaultGet"}));
    assert_eq!(matched(&kv), [id(2)]);
    // Not for a wildcard keyword, nor a source whose column is not one of its values.
    let run = event("activity", "Microsoft.Compute/virtualMachines/runCommand/action", json!({"operationName": "x"}));
    assert_eq!(matched(&run), Vec::<String>::new());
    let quoted = event("activity", r#"Microsoft.Chat/say "hi"/action"#, json!({"operationName": "x"}));
    assert_eq!(matched(&quoted), Vec::<String>::new());
    let quoted_raw = event("activity", "x", json!({"operationName": r#"Microsoft.Chat/say "hi"/action"#}));
    assert_eq!(matched(&quoted_raw), [id(5)]);
    let signin = Event { result_details: Some("50126".into()), ..event("signin", "50126", json!({"resultType": "0"})) };
    assert_eq!(matched(&signin), Vec::<String>::new());
    // The record itself is still walked: the keyword in `raw` alone, and in neither.
    let in_raw = event(
        "activity",
        "Microsoft.Compute/disks/write",
        json!({"p": {"x": ["Microsoft.Compute/virtualMachines/write"]}}),
    );
    assert_eq!(matched(&in_raw), [id(1)]);
    let run_raw =
        event("activity", "x", json!({"operationName": "Microsoft.Compute/virtualMachines/runCommand/action"}));
    assert_eq!(matched(&run_raw), [id(3)]);
    let neither =
        event("activity", "Microsoft.Compute/disks/write", json!({"operationName": "Microsoft.Compute/disks/write"}));
    assert_eq!(matched(&neither), Vec::<String>::new());
}
