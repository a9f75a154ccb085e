//! Sigma 1 aggregations (`condition: selection | count(field) by group > N`, `timeframe`) run as
//! the Sigma 2 correlation they mean: the search becomes a detection that does not report on
//! its own, the count an `event_count`/`value_count` correlation with the rule's metadata.
//! `near` becomes a `temporal` correlation over one such detection per search.
//! The public rule is read from `../shared/corpus` (SigmaHQ's `unsupported/` folder).

use azir_detect::{Finding, RuleSet, RuleSetBuilder};
use azir_model::{Event, Provenance};
use serde_json::json;
use std::path::Path;

fn corpus_rule(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/sigma").join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e} (tests need ../shared/corpus)", p.display()))
}

fn set(origin: &str, text: &str) -> RuleSet {
    let mut b = RuleSetBuilder::default();
    b.add(origin, text);
    b.build()
}

/// A Graph sign-in failure with 50126 `t` seconds in.
fn fail(line: u64, t: i64, user: &str, ip: &str) -> Event {
    Event {
        source: "signin".into(),
        time: t * 1_000_000,
        raw: json!({
            "userPrincipalName": user,
            "ipAddress": ip,
            "status": {
                "errorCode": 50126,
                "failureReason": "Invalid username or password or Invalid on-premises username or password."
            }
        })
        .to_string(),
        provenance: Provenance { evidence_path: "signins.json".into(), line, offset: line * 100, ..Default::default() },
        ..Default::default()
    }
}

fn hunt(set: &RuleSet, events: &[Event]) -> Vec<Finding> {
    let mut h = set.hunter();
    events.iter().for_each(|e| h.feed(e));
    h.finish()
}

const SPRAY_IP: &str = "198.51.100.23";

/// `n` distinct users from one address, a minute apart, plus noise from another address.
fn spray(n: usize, user: &dyn Fn(usize) -> String) -> Vec<Event> {
    let mut v: Vec<Event> = (0..n).map(|i| fail(i as u64 + 1, 60 * i as i64, &user(i), SPRAY_IP)).collect();
    v.push(fail(500, 30, "alex@contoso.com", "203.0.113.9"));
    v
}

#[test]
fn the_sigmahq_bad_password_threshold_rule_counts_distinct_users_per_address() {
    let text = corpus_rule("unsupported/cloud/azure_aad_secops_signin_failure_bad_password_threshold.yml");
    let set = set("bad_password_threshold.yml", &text);
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    // One rule, a correlation, routed to sign-ins (its search is not listed as a rule).
    let rules = set.rules();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!((rules[0].kind.as_str(), rules[0].sources.as_slice()), ("value_count", &["signin".to_string()][..]));
    let user = |i: usize| format!("user{i}@contoso.com");

    // 11 distinct users (> 10) from one address: one finding, under the rule's own metadata.
    let found = hunt(&set, &spray(11, &user));
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!(f.rule_id, "dff74231-dbed-42ab-ba49-83289be2ac3a");
    assert_eq!(f.title, "Sign-in Failure Bad Password Threshold");
    assert_eq!(f.level, azir_detect::rule::Level::High);
    assert!(f.tags.iter().any(|t| t == "attack.t1110"), "{:?}", f.tags);
    assert_eq!(f.group, vec![format!("IpAddress={SPRAY_IP}")]);
    assert_eq!(f.events.len(), 11);
    assert!(f.events.iter().all(|e| &*e.provenance.evidence_path == "signins.json" && e.provenance.line <= 11));

    // 10 users are not more than 10.
    assert!(hunt(&set, &spray(10, &user)).is_empty());
    // The same user 11 times is one distinct value.
    assert!(hunt(&set, &spray(11, &|_| "megan@contoso.com".to_string())).is_empty());
    // Machine accounts are filtered before counting: 10 users and a `HOST$` are 10.
    let with_machine = |i: usize| if i == 0 { "WS01$".to_string() } else { user(i) };
    assert!(hunt(&set, &spray(11, &with_machine)).is_empty());
    // Without `timeframe` the window is the whole of the data: users a day apart still count.
    let mut slow = spray(11, &user);
    for (i, e) in slow.iter_mut().enumerate() {
        e.time = i as i64 * 86_400 * 1_000_000;
    }
    assert_eq!(hunt(&set, &slow).len(), 1);
}

const RULES: &str = r#"
title: Many failures from one address
id: 11111111-0000-4000-8000-000000000001
level: medium
logsource: {product: azure, service: signinlogs}
detection:
    selection: {ResultType: 50126}
    timeframe: 10m
    condition: selection | count() by IPAddress >= 5
"#;

#[test]
fn count_without_a_field_counts_events_within_the_timeframe() {
    let set = set("burst.yml", RULES);
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    let at = |times: &[i64]| -> Vec<Event> {
        times.iter().enumerate().map(|(i, &t)| fail(i as u64 + 1, t, "megan@contoso.com", SPRAY_IP)).collect()
    };
    // Five failures in 4 minutes: a finding grouped by the address.
    let found = hunt(&set, &at(&[0, 60, 120, 180, 240]));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].group, vec![format!("IPAddress={SPRAY_IP}")]);
    assert_eq!(found[0].events.len(), 5);
    // Five failures spread over 40 minutes never have five in 10 minutes.
    assert!(hunt(&set, &at(&[0, 600, 1200, 1800, 2400])).is_empty());
    // Four is not five.
    assert!(hunt(&set, &at(&[0, 60, 120, 180])).is_empty());
}

#[test]
fn what_has_no_sigma_2_meaning_is_reported_per_rule() {
    let cases = [
        ("selection | near other and not selection", "and not"),
        ("selection | near missing", "not a search"),
        ("selection | sum(bytes) by IPAddress > 10", "`sum()`"),
        ("selection | count() by IPAddress", "comparison"),
        ("selection | count() by IPAddress > many", "not a number"),
        ("selection | count() IPAddress > 3", "expected `by`"),
        ("selection | count() > 3 | count() > 4", "only allowed once"),
    ];
    for (cond, want) in cases {
        let text = format!(
            "title: T\nlogsource: {{product: azure, service: signinlogs}}\ndetection:\n    selection: {{ResultType: 50126}}\n    other: {{ResultType: 0}}\n    condition: '{cond}'\n"
        );
        let set = set("t.yml", &text);
        assert_eq!(set.problems.len(), 1, "{cond}: {:?}", set.problems);
        assert!(set.problems[0].reason.contains(want), "{cond}: {}", set.problems[0].reason);
    }
    // A timeframe with a plain condition cannot hold for one event.
    let text = "title: T\nlogsource: {product: azure, service: signinlogs}\ndetection:\n    a: {ResultType: 50126}\n    b: {ResultType: 0}\n    timeframe: 5m\n    condition: a and b\n";
    let set = set("t.yml", text);
    assert_eq!(set.problems.len(), 1);
    assert!(set.problems[0].reason.contains("timeframe"), "{}", set.problems[0].reason);
}

/// An Activity Log record of `op` by `caller`, `t` seconds in.
fn activity(line: u64, t: i64, op: &str, caller: &str) -> Event {
    Event {
        source: "activity".into(),
        time: t * 1_000_000,
        operation: Some(op.to_string()),
        raw: json!({
            "operationName": {"value": op, "localizedValue": "x"},
            "caller": caller,
            "resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/snapshots/snap1",
            "status": {"value": "Succeeded"}
        })
        .to_string(),
        provenance: Provenance {
            evidence_path: "activity.json".into(),
            line,
            offset: line * 100,
            ..Default::default()
        },
        ..Default::default()
    }
}

const NEAR: &str = r#"
title: Snapshot created and exported
id: 22222222-0000-4000-8000-000000000002
level: high
tags: [attack.exfiltration, attack.t1537]
logsource: {product: azure, service: activitylogs}
detection:
    created: {operationName: MICROSOFT.COMPUTE/SNAPSHOTS/WRITE}
    exported: {operationName: MICROSOFT.COMPUTE/SNAPSHOTS/BEGINGETACCESS/ACTION}
    timeframe: 1h
    condition: created | near exported
"#;

#[test]
fn near_finds_both_searches_within_the_timeframe_in_either_order() {
    let set = set("near.yml", NEAR);
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    let rules = set.rules();
    assert_eq!(rules.len(), 1, "one rule, its searches not listed: {rules:?}");
    assert_eq!((rules[0].kind.as_str(), rules[0].sources.as_slice()), ("temporal", &["activity".to_string()][..]));
    const WRITE: &str = "MICROSOFT.COMPUTE/SNAPSHOTS/WRITE";
    const EXPORT: &str = "MICROSOFT.COMPUTE/SNAPSHOTS/BEGINGETACCESS/ACTION";
    let noise = activity(9, 100, "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE", "ops@contoso.com");

    // Written, then exported 20 minutes later: one finding with both records.
    let found = hunt(
        &set,
        &[activity(1, 0, WRITE, "eve@contoso.com"), noise.clone(), activity(2, 1200, EXPORT, "eve@contoso.com")],
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!(
        (f.rule_id.as_str(), f.title.as_str(), f.kind.as_str()),
        ("22222222-0000-4000-8000-000000000002", "Snapshot created and exported", "temporal")
    );
    assert_eq!(f.level, azir_detect::rule::Level::High);
    assert!(f.tags.iter().any(|t| t == "attack.t1537"));
    let lines: Vec<u64> = f.events.iter().map(|e| e.provenance.line).collect();
    assert_eq!(lines, [1, 2]);
    // `near` has no order: the export first also counts.
    assert_eq!(
        hunt(&set, &[activity(2, 0, EXPORT, "eve@contoso.com"), activity(1, 1200, WRITE, "eve@contoso.com")]).len(),
        1
    );
    // Two hours apart is not near.
    assert!(hunt(&set, &[activity(1, 0, WRITE, "eve@contoso.com"), activity(2, 7200, EXPORT, "eve@contoso.com")])
        .is_empty());
    // One search alone is never enough, however often.
    let writes: Vec<Event> = (0..5).map(|i| activity(i + 1, i as i64 * 60, WRITE, "eve@contoso.com")).collect();
    assert!(hunt(&set, &writes).is_empty());
    assert!(hunt(&set, &[noise]).is_empty());
}

#[test]
fn near_with_several_searches_and_without_a_timeframe() {
    let text = NEAR
        .replace("    timeframe: 1h\n", "")
        .replace("    condition: created | near exported", "    deleted: {operationName: MICROSOFT.COMPUTE/SNAPSHOTS/DELETE}\n    condition: created | near exported and deleted");
    let set = set("near3.yml", &text);
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    let day = 86_400;
    let all3 = [
        activity(1, 0, "MICROSOFT.COMPUTE/SNAPSHOTS/WRITE", "eve@contoso.com"),
        activity(2, 3 * day, "MICROSOFT.COMPUTE/SNAPSHOTS/BEGINGETACCESS/ACTION", "eve@contoso.com"),
        activity(3, 9 * day, "MICROSOFT.COMPUTE/SNAPSHOTS/DELETE", "eve@contoso.com"),
    ];
    // No timeframe: the whole of the data is the window.
    let found = hunt(&set, &all3);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].events.len(), 3);
    // Every search right of `near` is needed.
    assert!(hunt(&set, &all3[..2]).is_empty());
}

#[test]
fn the_sigmahq_near_rule_loads() {
    // SigmaHQ's one `near` rule (AWS CloudTrail: no azir source, so it routes nowhere, but it
    // is understood rather than reported as unsupported).
    let text = corpus_rule("unsupported/cloud/aws_lambda_function_created_or_invoked.yml");
    let set = set("aws_lambda.yml", &text);
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    let rules = set.rules();
    assert_eq!(rules.len(), 1, "one rule, its two searches not listed: {rules:?}");
    assert_eq!((rules[0].id.as_str(), rules[0].kind.as_str()), ("d914951b-52c8-485f-875e-86abab710c0b", "temporal"));
    assert!(rules[0].sources.is_empty(), "CloudTrail has no azir source: {:?}", rules[0].sources);
}
