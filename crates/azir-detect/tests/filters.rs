//! Sigma filters (the global filters of the Sigma 2 specification): a `filter:` document ANDs its
//! condition to the rules it names (by id, name or title), or with `rules: any` to every rule
//! its logsource covers, as pySigma applies them; the filter's fields resolve through the alias
//! layer of each rule's log family. The environment-specific tuning an incident responder adds
//! (the break-glass account, the VPN egress range) without editing the rules.

use azir_detect::{Finding, RuleSet, RuleSetBuilder};
use azir_model::{Event, Provenance};
use serde_json::json;

const RULES: &str = r#"
title: Sign-in success
id: 8f1d7f2e-0000-4000-8000-000000000001
name: signin_ok
level: medium
logsource: {product: azure, service: signinlogs}
detection:
    selection: {ResultType: 0}
    condition: selection
---
title: Sign-in failure
id: 8f1d7f2e-0000-4000-8000-000000000002
name: signin_fail
level: low
logsource: {product: azure, service: signinlogs}
detection:
    selection: {ResultType: 50126}
    condition: selection
---
title: Burst of failures
id: 8f1d7f2e-0000-4000-8000-000000000003
level: high
correlation:
    type: event_count
    rules: [signin_fail]
    group-by: [IPAddress]
    timespan: 10m
    condition: {gte: 3}
---
title: Role added
id: 8f1d7f2e-0000-4000-8000-000000000004
level: high
logsource: {product: azure, service: auditlogs}
detection:
    selection: {ActivityDisplayName: Add member to role}
    condition: selection
"#;

fn set(filters: &str) -> RuleSet {
    let mut b = RuleSetBuilder::default();
    b.add("rules.yml", RULES);
    b.add("filters.yml", filters);
    b.build()
}

/// A Graph sign-in.
fn si(line: u64, user: &str, ip: &str, code: i64) -> Event {
    Event {
        source: "signin".into(),
        time: line as i64 * 1_000_000,
        raw: json!({ "userPrincipalName": user, "ipAddress": ip, "status": { "errorCode": code } }).to_string(),
        provenance: Provenance { evidence_path: "signins.json".into(), line, ..Default::default() },
        ..Default::default()
    }
}

fn audit(line: u64, user: &str) -> Event {
    Event {
        source: "audit".into(),
        time: line as i64 * 1_000_000,
        raw: json!({ "activityDisplayName": "Add member to role",
            "initiatedBy": { "user": { "userPrincipalName": user } } })
        .to_string(),
        provenance: Provenance { evidence_path: "audit.json".into(), line, ..Default::default() },
        ..Default::default()
    }
}

fn hunt(set: &RuleSet, events: &[Event]) -> Vec<Finding> {
    let mut h = set.hunter();
    events.iter().for_each(|e| h.feed(e));
    h.finish()
}

/// Per rule title that fired, the lines of its events (the test events carry no user or IP
/// columns, so a rule's matches are one finding).
fn found(set: &RuleSet, events: &[Event]) -> Vec<(String, Vec<u64>)> {
    let mut out: Vec<(String, Vec<u64>)> = hunt(set, events)
        .into_iter()
        .map(|f| {
            let mut lines: Vec<u64> = f.events.iter().map(|e| e.provenance.line).collect();
            lines.sort_unstable();
            (f.title, lines)
        })
        .collect();
    out.sort();
    out
}

fn lines_of<'a>(f: &'a [(String, Vec<u64>)], title: &str) -> Option<&'a Vec<u64>> {
    f.iter().find(|(t, _)| t == title).map(|(_, l)| l)
}

const VPN: &str = "10.20.0.0/16";

fn events() -> Vec<Event> {
    vec![
        si(1, "megan@contoso.com", "10.20.1.5", 0),
        si(2, "megan@contoso.com", "203.0.113.7", 0),
        si(3, "breakglass@contoso.com", "198.51.100.4", 0),
        si(4, "alex@contoso.com", "10.20.9.9", 50126),
        si(5, "alex@contoso.com", "10.20.9.9", 50126),
        si(6, "alex@contoso.com", "10.20.9.9", 50126),
        audit(7, "breakglass@contoso.com"),
    ]
}

#[test]
fn without_filters_every_rule_fires() {
    let s = set("");
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(s.filters_applied, 0);
    let f = found(&s, &events());
    let titles: Vec<&str> = f.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(titles, ["Burst of failures", "Role added", "Sign-in success"]);
    assert_eq!(lines_of(&f, "Sign-in success"), Some(&vec![1, 2, 3]));
}

#[test]
fn a_filter_by_id_tunes_the_named_rule_only() {
    let filter = format!(
        r#"
title: Corporate VPN egress
id: 2b7c0000-0000-4000-8000-00000000f001
logsource: {{product: azure, service: signinlogs}}
filter:
    rules:
        - 8f1d7f2e-0000-4000-8000-000000000001
    vpn:
        IPAddress|cidr: {VPN}
    condition: not vpn
"#
    );
    let s = set(&filter);
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(s.filters_applied, 1);
    let f = found(&s, &events());
    // The success from the VPN range (line 1) is gone; the failures from it still burst.
    assert!(f.contains(&("Burst of failures".to_string(), vec![4, 5, 6])), "{f:?}");
    assert_eq!(lines_of(&f, "Sign-in success"), Some(&vec![2, 3]));
}

#[test]
fn a_filter_on_a_correlation_base_rule_changes_the_count() {
    // By name: the base rule of the burst loses the VPN failures, so no burst.
    let filter = format!(
        "title: VPN\nlogsource: {{product: azure, service: signinlogs}}\nfilter:\n    rules: signin_fail\n    vpn:\n        IPAddress|cidr: {VPN}\n    condition: not vpn\n"
    );
    let s = set(&filter);
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    let f = found(&s, &events());
    assert!(!f.iter().any(|(t, _)| t == "Burst of failures"), "{f:?}");
}

#[test]
fn rules_any_covers_every_rule_of_its_logsource_through_each_rules_aliases() {
    // `UserPrincipalName` is the Graph sign-in's `userPrincipalName`; the audit rule is not
    // covered by a sign-in logsource, so its break-glass finding stays.
    let filter = "title: Break-glass account\nlogsource: {product: azure, service: signinlogs}\nfilter:\n    rules: any\n    bg:\n        UserPrincipalName|startswith: 'breakglass@'\n    condition: not bg\n";
    let s = set(filter);
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(s.filters_applied, 2);
    let f = found(&s, &events());
    assert_eq!(lines_of(&f, "Sign-in success"), Some(&vec![1, 2]));
    assert!(f.contains(&("Role added".to_string(), vec![7])));
    // A product-wide filter covers the audit rule too.
    let wide = filter.replace("{product: azure, service: signinlogs}", "{product: azure}");
    let f = found(&set(&wide), &events());
    assert!(!f.iter().any(|(t, _)| t == "Role added"), "{f:?}");
}

#[test]
fn broken_or_dangling_filters_are_problems_and_change_nothing_else() {
    let cases = [
        ("title: A\nlogsource: {product: azure}\nfilter:\n    rules: [no-such-rule]\n    s: {a: 1}\n    condition: not s\n", "not loaded: no-such-rule"),
        ("title: B\nlogsource: {product: azure}\nfilter:\n    s: {a: 1}\n    condition: not s\n", "names no rules"),
        (
            "title: F\nlogsource: {product: azure}\nfilter:\n    rules: [8f1d7f2e-0000-4000-8000-000000000003]\n    s: {a: 1}\n    condition: not s\n",
            "not to correlations",
        ),
        ("title: C\nlogsource: {product: azure}\nfilter:\n    rules: any\n    s: {a: 1}\n    condition: not t\n", "condition"),
        ("title: D\nfilter:\n    rules: any\n    s: {a: 1}\n    condition: not s\n", "logsource"),
        ("title: E\nlogsource: {product: azure}\nfilter:\n    rules: any\n    s: {a|nosuchmod: 1}\n    condition: not s\n", "nosuchmod"),
    ];
    for (text, want) in cases {
        let s = set(text);
        assert_eq!(s.problems.len(), 1, "{text}: {:?}", s.problems);
        assert!(s.problems[0].reason.contains(want), "{text}: {}", s.problems[0].reason);
        assert_eq!(found(&s, &events()), found(&set(""), &events()), "{text}");
    }
}

#[test]
fn a_filter_naming_a_sigma_1_aggregation_filters_its_search() {
    let rule = "title: Many failures\nid: agg-1\nlogsource: {product: azure, service: signinlogs}\ndetection:\n    s: {ResultType: 50126}\n    timeframe: 10m\n    condition: s | count() by IPAddress >= 3\n";
    let filter = format!(
        "title: VPN\nlogsource: {{product: azure, service: signinlogs}}\nfilter:\n    rules: [agg-1]\n    vpn:\n        IPAddress|cidr: {VPN}\n    condition: not vpn\n"
    );
    let mut b = RuleSetBuilder::default();
    b.add("agg.yml", rule);
    let plain = b.build();
    assert_eq!(found(&plain, &events()), [("Many failures".to_string(), vec![4, 5, 6])]);
    let mut b = RuleSetBuilder::default();
    b.add("agg.yml", rule);
    b.add("f.yml", &filter);
    let filtered = b.build();
    assert!(filtered.problems.is_empty(), "{:?}", filtered.problems);
    assert_eq!(filtered.filters_applied, 1);
    assert!(found(&filtered, &events()).is_empty());
}
