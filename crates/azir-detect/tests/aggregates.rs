//! `value_sum` and `value_avg` correlations (pySigma's extensions of Sigma 2): the sum or the
//! average of a numeric field over the group's window, against the condition (`neq` included);
//! values that are not numbers are left out of both.

use azir_detect::{Finding, RuleSet, RuleSetBuilder};
use azir_model::{Event, Provenance};
use serde_json::json;

/// An Application Gateway access record (diagnostic shape): `bytes` sent to `client`, `t`
/// seconds in. `bytes` is JSON as written (a number, or anything else).
fn request(line: u64, t: i64, client: &str, bytes: serde_json::Value) -> Event {
    Event {
        source: "appgw_access".into(),
        time: t * 1_000_000,
        raw: json!({
            "category": "ApplicationGatewayAccessLog",
            "operationName": "ApplicationGatewayAccess",
            "properties": {"clientIP": client, "httpMethod": "GET", "requestUri": "/export", "httpStatus": 200, "sentBytes": bytes}
        })
        .to_string(),
        provenance: Provenance { evidence_path: "appgw.json".into(), line, offset: line * 100, ..Default::default() },
        ..Default::default()
    }
}

fn set(kind: &str, condition: &str) -> RuleSet {
    let text = format!(
        r#"
title: Export request
name: export
logsource: {{product: azure, service: appgw}}
detection:
    sel: {{requestUri: /export}}
    condition: sel
---
title: Large download by one client
id: 33333333-0000-4000-8000-000000000003
level: high
correlation:
    type: {kind}
    rules: [export]
    group-by: [clientIP]
    timespan: 1h
    condition: {{{condition}}}
"#
    );
    let mut b = RuleSetBuilder::default();
    b.add("sum.yml", &text);
    let set = b.build();
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    set
}

fn hunt(set: &RuleSet, events: &[Event]) -> Vec<Finding> {
    let mut h = set.hunter();
    events.iter().for_each(|e| h.feed(e));
    h.finish()
}

const MB: i64 = 1_000_000;

#[test]
fn value_sum_adds_a_field_per_group_within_the_timespan() {
    let set = set("value_sum", "field: sentBytes, gte: 10000000");
    let rules = set.rules();
    assert!(rules.iter().any(|r| r.kind == "value_sum"), "{rules:?}");
    // 4 x 3 MB from one client within 30 minutes: 12 MB >= 10 MB.
    let mut ev: Vec<Event> = (0..4).map(|i| request(i + 1, i as i64 * 600, "203.0.113.7", json!(3 * MB))).collect();
    // Another client's 9 MB and a text value do not count toward it.
    ev.push(request(10, 60, "198.51.100.2", json!(9 * MB)));
    ev.push(request(11, 120, "203.0.113.7", json!("n/a")));
    let found = hunt(&set, &ev);
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!((f.rule_id.as_str(), f.kind.as_str()), ("33333333-0000-4000-8000-000000000003", "value_sum"));
    assert_eq!(f.group, ["clientIP=203.0.113.7"]);
    let lines: Vec<u64> = f.events.iter().map(|e| e.provenance.line).collect();
    assert_eq!(lines, [1, 2, 3, 4], "the text value is not part of the sum's events");
    // Numbers as text (an LA export) add up the same.
    let as_text: Vec<Event> =
        (0..4).map(|i| request(i + 1, i as i64 * 600, "203.0.113.7", json!((3 * MB).to_string()))).collect();
    assert_eq!(hunt(&set, &as_text).len(), 1);
    // 9 MB is not 10 MB, and 12 MB spread over 3 hours never has 10 MB in one hour.
    let small: Vec<Event> = (0..3).map(|i| request(i + 1, i as i64 * 600, "203.0.113.7", json!(3 * MB))).collect();
    assert!(hunt(&set, &small).is_empty());
    let slow: Vec<Event> = (0..4).map(|i| request(i + 1, i as i64 * 3600, "203.0.113.7", json!(3 * MB))).collect();
    assert!(hunt(&set, &slow).is_empty());
}

#[test]
fn value_avg_averages_the_numbers_in_the_window() {
    let set = set("value_avg", "field: sentBytes, gt: 5000000");
    // 2, 6 and 10 MB: 6 MB on average > 5 MB.
    let ev = [
        request(1, 0, "203.0.113.7", json!(2 * MB)),
        request(2, 60, "203.0.113.7", json!(6 * MB)),
        request(3, 120, "203.0.113.7", json!(10 * MB)),
    ];
    let found = hunt(&set, &ev);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].kind, "value_avg");
    // 2, 3 and 4 MB average 3 MB; a value that is not a number does not drag the average down.
    let low = [
        request(1, 0, "203.0.113.7", json!(2 * MB)),
        request(2, 60, "203.0.113.7", json!(3 * MB)),
        request(3, 120, "203.0.113.7", json!(4 * MB)),
    ];
    assert!(hunt(&set, &low).is_empty());
    let with_text = [request(1, 0, "203.0.113.7", json!(6 * MB)), request(2, 60, "203.0.113.7", json!("-"))];
    assert_eq!(hunt(&set, &with_text).len(), 1);
}

#[test]
fn neq_and_unsupported_aggregates() {
    // Sum not equal to 0: any bytes at all.
    let set = set("value_sum", "field: sentBytes, neq: 0");
    assert_eq!(hunt(&set, &[request(1, 0, "203.0.113.7", json!(1))]).len(), 1);
    assert!(hunt(&set, &[request(1, 0, "203.0.113.7", json!(0))]).is_empty());
    // A field is required, and the percentile and median types are reported.
    for (kind, cond, want) in [
        ("value_sum", "gte: 1", "needs `condition.field`"),
        ("value_avg", "field: sentBytes", "needs a condition"),
        ("value_percentile", "field: sentBytes, gte: 1", "`value_percentile` is not supported"),
        ("value_median", "field: sentBytes, gte: 1", "`value_median` is not supported"),
    ] {
        let text = format!(
            "title: T\ncorrelation:\n    type: {kind}\n    rules: [x]\n    group-by: [clientIP]\n    timespan: 1h\n    condition: {{{cond}}}\n"
        );
        let mut b = RuleSetBuilder::default();
        b.add("t.yml", &text);
        let set = b.build();
        assert!(set.problems.iter().any(|p| p.reason.contains(want)), "{kind}: {:?}", set.problems);
    }
}
