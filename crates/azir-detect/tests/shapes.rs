//! One rule, every export shape: SigmaHQ rules (read from the corpus, never copied) and inline
//! rules evaluated against the Log Analytics, REST/Graph and diagnostic/Event Hub shapes of the
//! same record. The diagnostic samples are Elastic's real-shaped test logs; the other shapes are
//! derived from them the way the exports differ.

use azir_detect::rule::CompileOptions;
use azir_detect::RuleSetBuilder;
use azir_model::Event;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    assert!(p.is_dir(), "the shared corpus is missing: {}", p.display());
    p
}

fn first_line(rel: &str) -> Value {
    let text = std::fs::read_to_string(corpus().join(rel)).unwrap();
    serde_json::from_str(text.lines().next().unwrap()).unwrap()
}

fn event(source: &str, raw: &Value) -> Event {
    Event { source: source.into(), raw: raw.to_string(), ..Default::default() }
}

/// Rule ids of `rules` (SigmaHQ files relative to the corpus, or inline YAML) matching `e`.
fn fired(rules: &[&str], e: &Event) -> Vec<String> {
    let mut b = RuleSetBuilder::default();
    for r in rules {
        if r.ends_with(".yml") {
            b.add(r, &std::fs::read_to_string(corpus().join(r)).unwrap());
        } else {
            b.add("inline", r);
        }
    }
    let set = b.build();
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    let mut h = set.hunter();
    h.feed(e);
    h.finish().into_iter().map(|f| f.title).collect()
}

/// The same sign-in as Graph (`signIn` object), diagnostic setting (Elastic sample), and Log
/// Analytics (`SigninLogs` row, `Status` as JSON text).
fn signin_shapes(code: i64, reason: &str) -> Vec<(&'static str, Value)> {
    let mut diag = first_line(
        "elastic-integrations/packages/azure/data_stream/signinlogs/_dev/test/pipeline/test-signinlogs-raw.log",
    );
    diag["properties"]["status"] = json!({ "errorCode": code, "failureReason": reason });
    diag["resultType"] = json!(code.to_string());
    diag["resultDescription"] = json!(reason);
    let graph = diag["properties"].clone();
    let p = &diag["properties"];
    let la = json!({
        "TimeGenerated": "2019-10-18T09:45:48Z",
        "ResultType": code.to_string(),
        "ResultDescription": reason,
        "UserPrincipalName": p["userPrincipalName"],
        "IPAddress": p["ipAddress"],
        "AppDisplayName": p["appDisplayName"],
        "Status": json!({ "errorCode": code, "failureReason": reason }).to_string(),
    });
    vec![("diag", diag), ("graph", graph), ("la", la)]
}

#[test]
fn sigmahq_sign_in_rules_match_every_shape_number_or_string() {
    let lockout = "sigma/rules/cloud/azure/signin_logs/azure_account_lockout.yml";
    let mfa = "sigma/rules/cloud/azure/signin_logs/azure_mfa_interrupted.yml";
    for (shape, raw) in signin_shapes(50053, "Account is locked") {
        assert_eq!(fired(&[lockout, mfa], &event("signin", &raw)), ["Account Lockout"], "{shape}");
    }
    for (shape, raw) in signin_shapes(500121, "Authentication failed during strong authentication request.") {
        assert_eq!(
            fired(&[lockout, mfa], &event("signin", &raw)),
            ["Multifactor Authentication Interrupted"],
            "{shape}"
        );
    }
    // The code alone is not enough for the MFA rule: its description must match too.
    for (shape, raw) in signin_shapes(500121, "Something else") {
        assert!(fired(&[lockout, mfa], &event("signin", &raw)).is_empty(), "{shape}");
    }
    // Routing: the same record as an audit event is not evaluated by sign-in rules.
    let (_, raw) = &signin_shapes(50053, "Account is locked")[0];
    assert!(fired(&[lockout], &event("audit", raw)).is_empty());
}

/// The same Activity Log record as diagnostic setting (Elastic sample), ARM REST and LA row.
fn activity_shapes(op: &str) -> Vec<(&'static str, Value)> {
    let mut diag = first_line(
        "elastic-integrations/packages/azure/data_stream/activitylogs/_dev/test/pipeline/test-activitylogs-raw.log",
    );
    diag["operationName"] = json!(op);
    let rest = json!({
        "caller": "rob@contoso.com",
        "operationName": { "value": op, "localizedValue": "Some localized text" },
        "status": { "value": "Succeeded", "localizedValue": "Succeeded" },
        "category": { "value": "Administrative" },
        "httpRequest": { "clientIpAddress": "198.51.100.7" },
        "properties": { "statusCode": "OK" },
    });
    let la = json!({
        "OperationNameValue": op,
        "OperationName": "Some localized text",
        "ActivityStatusValue": "Success",
        "CategoryValue": "Administrative",
        "Caller": "rob@contoso.com",
        "CallerIpAddress": "198.51.100.7",
        "Properties": json!({ "statusCode": "OK" }).to_string(),
    });
    vec![("diag", diag), ("rest", rest), ("la", la)]
}

#[test]
fn sigmahq_activity_rules_match_every_shape_and_any_case() {
    let nsg = "sigma/rules/cloud/azure/activity_logs/azure_network_security_modified_or_deleted.yml";
    let grant = "sigma/rules/cloud/azure/activity_logs/azure_granting_permission_detection.yml";
    for (shape, raw) in activity_shapes("Microsoft.Network/networkSecurityGroups/securityRules/write") {
        let f = fired(&[nsg, grant], &event("activity", &raw));
        assert_eq!(f.len(), 1, "{shape}: {f:?}");
        assert!(f[0].contains("Network Security Configuration"), "{shape}: {f:?}");
    }
    // A keyword rule (no field): the text anywhere in the record.
    for (shape, raw) in activity_shapes("Microsoft.Authorization/roleAssignments/write") {
        assert_eq!(fired(&[nsg, grant], &event("activity", &raw)).len(), 1, "{shape}");
    }
    for (shape, raw) in activity_shapes("Microsoft.Network/networkSecurityGroups/read") {
        assert!(fired(&[nsg, grant], &event("activity", &raw)).is_empty(), "{shape}");
    }
}

const LA_COLUMNS_RULE: &str = r#"
title: LA columns
logsource: {product: azure, service: activitylogs}
detection:
    selection:
        OperationNameValue|endswith: /listKeys/action
        CallerIpAddress|cidr: 198.51.100.0/24
        ActivityStatusValue: [Success, Succeeded]
    condition: selection
"#;

#[test]
fn a_rule_written_for_log_analytics_columns_matches_rest_and_diagnostic_shapes() {
    let op = "Microsoft.Storage/storageAccounts/listKeys/action";
    for (shape, mut raw) in activity_shapes(op) {
        if shape == "diag" {
            raw["callerIpAddress"] = json!("198.51.100.9");
            raw["resultType"] = json!("Success");
        }
        assert_eq!(fired(&[LA_COLUMNS_RULE], &event("activity", &raw)), ["LA columns"], "{shape}");
        if shape == "rest" {
            raw["httpRequest"]["clientIpAddress"] = json!("203.0.113.1");
            assert!(fired(&[LA_COLUMNS_RULE], &event("activity", &raw)).is_empty());
        }
    }
}

const ARRAY_RULE: &str = r#"
title: Array member
logsource: {product: azure, service: auditlogs}
detection:
    selection:
        properties.targetResources.displayName: Azure Sync Service
        TargetResources.modifiedProperties.newValue|contains: Global Administrator
    condition: selection
"#;

#[test]
fn fields_descend_into_arrays_of_objects_in_graph_and_diagnostic_audits() {
    let targets = json!([
        { "displayName": "Someone else", "modifiedProperties": [] },
        { "displayName": "Azure Sync Service",
          "modifiedProperties": [{ "displayName": "Role.DisplayName", "newValue": "\"Global Administrator\"" }] }
    ]);
    let graph = json!({ "activityDisplayName": "Add member to role", "targetResources": targets });
    let diag = json!({ "operationName": "Add member to role", "properties": graph.clone() });
    for (shape, raw) in [("graph", &graph), ("diag", &diag)] {
        assert_eq!(fired(&[ARRAY_RULE], &event("audit", raw)), ["Array member"], "{shape}");
    }
    let mut other = graph.clone();
    other["targetResources"][1]["displayName"] = json!("Not it");
    assert!(fired(&[ARRAY_RULE], &event("audit", &other)).is_empty());
}

#[test]
fn without_aliases_only_the_literal_path_matches() {
    let rule = "title: t\nlogsource: {product: azure, service: signinlogs}\ndetection:\n  s:\n    ResultType: 50053\n  condition: s\n";
    let mut b = RuleSetBuilder::new(CompileOptions { aliases: false, ..Default::default() });
    b.add("inline", rule);
    let set = b.build();
    let shapes = signin_shapes(50053, "locked");
    let hits: Vec<&str> =
        shapes.iter().filter(|(_, raw)| !set.matching(&event("signin", raw)).is_empty()).map(|(s, _)| *s).collect();
    // Diagnostic has top-level `resultType` (keys are case-insensitive), LA has `ResultType`;
    // Graph only has `status.errorCode`, which needs the alias layer.
    assert_eq!(hits, ["diag", "la"]);
}
