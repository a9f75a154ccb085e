//! SigmaHQ `product: m365` rules against Microsoft 365 unified audit log records, end to end
//! through routing: every m365 rule routes to the `m365_audit` source, and rules whose fields
//! are top-level AuditData fields fire on the records azir's UAL parser produces.
//!
//! The rules are DRL-licensed and read from `../shared/corpus` at test time, never copied.
//! azir-logs is not a dependency of this crate, so the events are built here the way its
//! `m365` parser builds them: source `m365_audit`, `raw` the AuditData record (for an
//! `OfficeActivity` row, the row), `operation`/`category`/`actor_username` from
//! `Operation`/`Workload`/`UserId`.

use azir_detect::RuleSetBuilder;
use azir_model::Event;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    assert!(p.is_dir(), "the shared corpus is missing: {} (tests need ../shared/corpus)", p.display());
    p
}

const DISABLING_MFA: &str = "sigma/rules/cloud/m365/audit/microsoft365_disabling_mfa.yml";
const FEDERATED_DOMAIN: &str = "sigma/rules/cloud/m365/audit/microsoft365_new_federated_domain_added_audit.yml";
const EMAIL_DELIVERED: &str = "sigma/rules/cloud/m365/audit/microsoft365_suspicious_email_delivered.yml";

/// An event as the UAL parser makes it from `raw`.
fn event(raw: &str) -> Event {
    let v: Value = serde_json::from_str(raw).unwrap();
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Event {
        source: "m365_audit".into(),
        source_format: "rest".into(),
        operation: s("Operation"),
        category: s("Workload").or_else(|| s("OfficeWorkload")),
        actor_username: s("UserId"),
        raw: raw.to_string(),
        ..Default::default()
    }
}

/// Titles of the rules in `files` that fire on `e`.
fn fired(files: &[&str], e: &Event) -> Vec<String> {
    let mut b = RuleSetBuilder::default();
    for f in files {
        b.add(f, &std::fs::read_to_string(corpus().join(f)).unwrap());
    }
    let set = b.build();
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    let mut h = set.hunter();
    h.feed(e);
    h.finish().into_iter().map(|f| f.title).collect()
}

/// An AzureActiveDirectory (RecordType 8) record as the Management Activity API writes it.
fn aad_record(operation: &str) -> String {
    json!({
        "CreationTime": "2024-01-15T10:30:00",
        "Id": "5b3e2f5c-7a1d-4e8b-9c0f-1a2b3c4d5e6f",
        "Operation": operation,
        "OrganizationId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "RecordType": 8,
        "ResultStatus": "Success",
        "UserKey": "10032001A2B3C4D5@contoso.onmicrosoft.com",
        "UserType": 0,
        "Version": 1,
        "Workload": "AzureActiveDirectory",
        "ClientIP": "203.0.113.42:53146",
        "ObjectId": "megan@contoso.com",
        "UserId": "admin@contoso.com",
        "AzureActiveDirectoryEventType": 1,
        "ExtendedProperties": [{"Name": "extendedAuditEventCategory", "Value": "User"}],
        "ModifiedProperties": [{"Name": "StrongAuthenticationRequirement", "NewValue": "[]", "OldValue": "[{\"State\":1}]"}],
        "Actor": [{"ID": "admin@contoso.com", "Type": 5}],
        "Target": [{"ID": "megan@contoso.com", "Type": 5}]
    })
    .to_string()
}

#[test]
fn every_m365_rule_routes_to_m365_audit() {
    let dir = corpus().join("sigma/rules/cloud/m365");
    let mut files = Vec::new();
    for service in std::fs::read_dir(&dir).unwrap() {
        for f in std::fs::read_dir(service.unwrap().path()).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    assert!(files.len() >= 19, "only {} m365 rules", files.len());
    let mut b = RuleSetBuilder::default();
    for f in &files {
        b.add(&f.display().to_string(), &std::fs::read_to_string(f).unwrap());
    }
    let set = b.build();
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    for r in set.rules() {
        assert_eq!(r.sources, ["m365_audit"], "{} ({})", r.title, r.origin);
    }
}

#[test]
fn disabling_mfa_fires_on_the_ual_record_and_not_on_another_operation() {
    let hit = fired(&[DISABLING_MFA], &event(&aad_record("Disable Strong Authentication.")));
    assert_eq!(hit, ["Disabling Multi Factor Authentication"]);

    for other in ["Enable Strong Authentication.", "UserLoggedIn", "Update user.", "Disable account."] {
        assert!(fired(&[DISABLING_MFA], &event(&aad_record(other))).is_empty(), "{other}");
    }
    // Routing: the same record taken for an Entra audit event is not a rule's business.
    let mut e = event(&aad_record("Disable Strong Authentication."));
    e.source = "audit".into();
    assert!(fired(&[DISABLING_MFA], &e).is_empty());
    // `raw` alone is enough: the rule's `Operation` resolves in the AuditData record.
    let e = Event { operation: None, ..event(&aad_record("Disable Strong Authentication.")) };
    assert_eq!(fired(&[DISABLING_MFA], &e).len(), 1);
}

#[test]
fn disabling_mfa_fires_on_the_rsigma_fixture_and_an_office_activity_row() {
    let fixture = corpus()
        .join("rsigma/crates/rsigma-eval/tests/fixtures/schema-classification/microsoft365_audit/test_event.json");
    let raw = std::fs::read_to_string(fixture).unwrap();
    assert_eq!(fired(&[DISABLING_MFA], &event(&raw)).len(), 1);

    let row = json!({
        "TimeGenerated": "2024-01-15T10:30:00Z",
        "Type": "OfficeActivity",
        "RecordType": "AzureActiveDirectory",
        "Operation": "Disable Strong Authentication.",
        "OfficeWorkload": "AzureActiveDirectory",
        "UserId": "admin@contoso.com",
        "ClientIP": "203.0.113.42",
        "ResultStatus": "Success",
        "OfficeObjectId": "megan@contoso.com"
    })
    .to_string();
    let mut e = event(&row);
    e.source_format = "loganalytics".into();
    assert_eq!(fired(&[DISABLING_MFA], &e).len(), 1);
}

#[test]
fn rules_on_top_level_audit_data_fields_need_no_alias() {
    // `Operation|contains` domain + add/new.
    assert_eq!(fired(&[FEDERATED_DOMAIN], &event(&aad_record("Add domain to company."))).len(), 1);
    assert!(fired(&[FEDERATED_DOMAIN], &event(&aad_record("Set domain authentication."))).is_empty());

    // A ThreatIntelligence (RecordType 28) TIMailData record: Workload, Operation,
    // Directionality and DeliveryAction are top-level AuditData fields.
    let mail = |delivery: &str| {
        json!({
            "CreationTime": "2024-01-15T09:12:40",
            "Id": "0f1e2d3c-4b5a-4697-8877-665544332211",
            "Operation": "TIMailData",
            "OrganizationId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "RecordType": 28,
            "UserKey": "ThreatIntel",
            "UserType": 4,
            "Version": 1,
            "Workload": "ThreatIntelligence",
            "ObjectId": "<a1@evil.example>",
            "UserId": "ThreatIntel",
            "AttachmentData": [{"FileName": "invoice.html", "FileType": "html", "FileVerdict": 1}],
            "DeliveryAction": delivery,
            "Directionality": "Inbound",
            "InternetMessageId": "<a1@evil.example>",
            "MessageTime": "2024-01-15T09:10:02",
            "NetworkMessageId": "9c8b7a6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d",
            "P1Sender": "billing@evil.example",
            "P2Sender": "billing@evil.example",
            "Recipients": ["megan@contoso.com"],
            "SenderIp": "198.51.100.99",
            "Subject": "Invoice overdue",
            "Verdict": "Malware"
        })
        .to_string()
    };
    assert_eq!(fired(&[EMAIL_DELIVERED], &event(&mail("Delivered"))).len(), 1);
    assert!(fired(&[EMAIL_DELIVERED], &event(&mail("Blocked"))).is_empty());
}

const INBOX_FORWARDING: &str = "sigma/rules/cloud/m365/threat_management/microsoft365_susp_inbox_forwarding.yml";
const CA_BYPASS: &str = "sigma/rules/cloud/m365/audit/microsoft365_bypass_conditional_access.yml";

/// A Security & Compliance alert record (RecordType 40) as the unified audit log holds it.
fn alert_record(name: &str) -> String {
    json!({
        "CreationTime": "2024-01-15T10:31:00", "Id": "0d7a0a6e-3b55-4f8f-8f4e-0b1f2c3d4e5f",
        "Operation": "AlertTriggered", "OrganizationId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "RecordType": 40, "ResultStatus": "Succeeded", "UserKey": "SecurityComplianceAlerts",
        "UserType": 4, "Version": 1, "Workload": "SecurityComplianceCenter", "ObjectId": "x",
        "UserId": "SecurityComplianceAlerts", "AlertId": "x", "AlertType": "System", "Name": name,
        "PolicyId": "x", "Status": "Active", "Severity": "Medium", "Category": "ThreatManagement",
        "Source": "Office 365 Security & Compliance"
    })
    .to_string()
}

#[test]
fn threat_management_rules_read_alert_records_through_the_m365_aliases() {
    // `eventSource` is the workload, `eventName` the alert's name, `status: success` the result
    // as the parser normalizes it (`Succeeded` becomes `Success`).
    let mut e = event(&alert_record("Suspicious inbox forwarding"));
    e.result = Some("Success".into());
    assert_eq!(fired(&[INBOX_FORWARDING], &e), ["Suspicious Inbox Forwarding"]);
    let mut other = event(&alert_record("Suspicious email sending patterns detected"));
    other.result = Some("Success".into());
    assert!(fired(&[INBOX_FORWARDING], &other).is_empty());
    // The same record from an Entra audit source is not an m365 record.
    let mut audit = e.clone();
    audit.source = "audit".into();
    assert!(fired(&[INBOX_FORWARDING], &audit).is_empty());
}

#[test]
fn conditional_access_bypass_reads_request_type_from_extended_properties() {
    let record = |request: &str| {
        json!({
            "CreationTime": "2024-01-15T10:32:00", "Id": "1c2d3e4f-0000-4000-8000-000000000001",
            "Operation": "UserLoggedIn", "OrganizationId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "RecordType": 15, "ResultStatus": "Success", "UserKey": "1003200000000000",
            "UserType": 0, "Workload": "AzureActiveDirectory", "ClientIP": "203.0.113.77",
            "ObjectId": "00000003-0000-0000-c000-000000000000", "UserId": "megan@contoso.com",
            "ApplicationId": "9ba1a5c7-f17a-4de9-a1f1-6178c8d51223",
            "ExtendedProperties": [
                { "Name": "ResultStatusDetail", "Value": "Success" },
                { "Name": "UserAgent", "Value": "Mozilla/5.0" },
                { "Name": "RequestType", "Value": request }
            ]
        })
        .to_string()
    };
    assert_eq!(
        fired(&[CA_BYPASS], &event(&record("Cmsi:Cmsi"))),
        ["Azure Login Bypassing Conditional Access Policies"]
    );
    assert!(fired(&[CA_BYPASS], &event(&record("OAuth2:Authorize"))).is_empty());
}
