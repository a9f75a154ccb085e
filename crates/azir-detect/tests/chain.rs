//! Correlations over correlations (Sigma chaining): a referenced correlation's triggering
//! windows are the hits of the referencing one, at the time each completes, carrying their
//! events; group-by fields map by name onto the referenced group key; references resolve in
//! dependency order, cycles and impossible group-bys are problems.

use azir_detect::{Finding, RuleSet, RuleSetBuilder};
use azir_model::{Event, Provenance};
use serde_json::json;

const BASE: &str = r#"
title: Failed password
name: fail
logsource: {product: azure, service: signinlogs}
detection:
    sel: {ResultType: 50126}
    condition: sel
---
title: Success
id: 6f1c9d0e-0000-4000-8000-000000000001
name: ok
logsource: {product: azure, service: signinlogs}
detection:
    sel: {ResultType: 0}
    condition: sel
---
title: Burst
name: burst
correlation:
    type: event_count
    rules: [fail]
    group-by: [IPAddress, UserPrincipalName]
    timespan: 10m
    condition: {gte: 3}
"#;

/// The base rules plus a chained `temporal_ordered` [burst, ok] grouped by `group`, within
/// `span`, and `extra` YAML documents.
fn rules(group: &str, span: &str, extra: &str) -> RuleSet {
    let chained = format!(
        "title: Chained\nid: chained\ncorrelation:\n    type: temporal_ordered\n    rules: [burst, 6f1c9d0e-0000-4000-8000-000000000001]\n    group-by: [{group}]\n    timespan: {span}\n"
    );
    let mut b = RuleSetBuilder::default();
    b.add("base.yml", BASE);
    b.add("chained.yml", &chained);
    if !extra.is_empty() {
        b.add("extra.yml", extra);
    }
    b.build()
}

fn set() -> RuleSet {
    let s = rules("ipaddress", "30m", "");
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    s
}

/// A Graph sign-in `t` seconds in; `line` tells events apart in findings.
fn si(line: u64, t: i64, user: &str, ip: &str, code: i64) -> Event {
    Event {
        source: "signin".into(),
        time: t * 1_000_000,
        raw: json!({ "userPrincipalName": user, "ipAddress": ip, "status": { "errorCode": code } }).to_string(),
        provenance: Provenance { evidence_path: "signins.json".into(), line, offset: line * 100, ..Default::default() },
        ..Default::default()
    }
}

const U: &str = "megan@contoso.com";
const IP: &str = "203.0.113.77";

fn fails(from: u64, times: &[i64]) -> Vec<Event> {
    times.iter().enumerate().map(|(i, &t)| si(from + i as u64, t, U, IP, 50126)).collect()
}

fn hunt(set: &RuleSet, events: &[Event]) -> Vec<Finding> {
    let mut h = set.hunter();
    events.iter().for_each(|e| h.feed(e));
    h.finish()
}

fn titled<'a>(f: &'a [Finding], title: &str) -> Vec<&'a Finding> {
    f.iter().filter(|f| f.title == title).collect()
}

fn chained(set: &RuleSet, events: &[Event]) -> usize {
    titled(&hunt(set, events), "Chained").len()
}

fn lines(f: &Finding) -> Vec<u64> {
    f.events.iter().map(|e| e.provenance.line).collect()
}

#[test]
fn fires_on_a_burst_then_a_success_and_lists_every_event() {
    let s = set();
    let mut ev = fails(1, &[0, 60, 120]);
    ev.push(si(10, 300, U, IP, 0));
    let f = hunt(&s, &ev);
    let c = titled(&f, "Chained");
    assert_eq!(c.len(), 1, "{f:#?}");
    assert_eq!(c[0].kind, "temporal_ordered");
    assert_eq!(c[0].group, [format!("ipaddress={IP}")]);
    assert_eq!(lines(c[0]), [1, 2, 3, 10]);
    assert_eq!(&*c[0].events[0].provenance.evidence_path, "signins.json");
    assert_eq!((c[0].first, c[0].last), (0, 300_000_000));
    // Neither the base rules nor the inner correlation report on their own.
    assert_eq!(f.len(), 1, "{f:#?}");
}

#[test]
fn does_not_fire_on_parts_wrong_order_other_groups_or_a_short_burst() {
    let s = set();
    assert_eq!(chained(&s, &fails(1, &[0, 60, 120])), 0, "the burst alone");
    assert_eq!(chained(&s, &[si(10, 300, U, IP, 0)]), 0, "the success alone");
    let mut before = vec![si(10, 0, U, IP, 0)];
    before.extend(fails(1, &[60, 120, 180]));
    assert_eq!(chained(&s, &before), 0, "the success before the burst");
    let mut other_ip = fails(1, &[0, 60, 120]);
    other_ip.push(si(10, 300, U, "198.51.100.23", 0));
    assert_eq!(chained(&s, &other_ip), 0, "a success from another IP");
    let mut short = fails(1, &[0, 60]);
    short.push(si(10, 300, U, IP, 0));
    assert_eq!(chained(&s, &short), 0, "two failures");
    // Three failures, but of three users: the inner burst groups by IP and user.
    let mut users: Vec<Event> =
        (0..3).map(|i| si(1 + i, i as i64 * 60, &format!("u{i}@contoso.com"), IP, 50126)).collect();
    users.push(si(10, 300, U, IP, 0));
    assert_eq!(chained(&s, &users), 0, "failures of different users");
    // A success before the third failure completes the burst does not follow it.
    let mut mid = fails(1, &[0, 60, 180]);
    mid.push(si(10, 120, U, IP, 0));
    assert_eq!(chained(&s, &mid), 0, "a success inside an incomplete burst");
}

#[test]
fn group_by_another_field_of_the_inner_key() {
    let s = rules("UserPrincipalName", "30m", "");
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    let mut same_user = fails(1, &[0, 60, 120]);
    same_user.push(si(10, 300, U, "198.51.100.23", 0));
    let f = hunt(&s, &same_user);
    assert_eq!(titled(&f, "Chained")[0].group, [format!("UserPrincipalName={U}")]);
    let mut other_user = fails(1, &[0, 60, 120]);
    other_user.push(si(10, 300, "adele@contoso.com", IP, 0));
    assert_eq!(chained(&s, &other_user), 0);
}

#[test]
fn timespans_are_inclusive_at_both_levels() {
    let s = set();
    // Inner: the third failure exactly 10 minutes after the first completes the burst.
    let mut edge = fails(1, &[0, 300, 600]);
    edge.push(si(10, 700, U, IP, 0));
    assert_eq!(chained(&s, &edge), 1);
    let mut past = fails(1, &[0, 300, 601]);
    past.push(si(10, 700, U, IP, 0));
    assert_eq!(chained(&s, &past), 0);
    // Outer: measured from the time the burst completes (its last event, here 120 s).
    let mut at = fails(1, &[0, 60, 120]);
    at.push(si(10, 120 + 1800, U, IP, 0));
    assert_eq!(chained(&s, &at), 1);
    let mut late = fails(1, &[0, 60, 120]);
    late.push(si(10, 120 + 1801, U, IP, 0));
    assert_eq!(chained(&s, &late), 0);
    // A burst that goes on completes again at each failure: a success up to the timespan after
    // the last completion follows it, and lists that window's failures.
    let times: Vec<i64> = (0..=20).map(|i| i * 60).collect();
    let mut long = fails(1, &times);
    long.push(si(100, 1200 + 1800, U, IP, 0));
    let f = hunt(&s, &long);
    let c = titled(&f, "Chained");
    assert_eq!(c.len(), 1);
    assert_eq!(lines(c[0]), (11..=21).chain([100]).collect::<Vec<u64>>(), "the window ending at 1200 s");
    long.pop();
    long.push(si(100, 1200 + 1801, U, IP, 0));
    assert_eq!(chained(&s, &long), 0);
}

#[test]
fn a_success_inside_a_continuing_burst_lists_the_failures_before_it() {
    let s = set();
    let mut ev = fails(1, &[0, 60, 120, 180, 240, 300]);
    ev.push(si(10, 150, U, IP, 0));
    let f = hunt(&s, &ev);
    let c = titled(&f, "Chained");
    assert_eq!(c.len(), 1);
    assert_eq!(lines(c[0]), [1, 2, 3, 10]);
}

fn attack() -> Vec<Event> {
    let mut ev = fails(1, &[0, 60, 120, 180, 240]);
    ev.push(si(10, 300, U, IP, 0));
    ev.push(si(11, 400, U, IP, 0));
    ev.extend((0..4).map(|i| si(20 + i, 5000 + i as i64 * 30, U, "198.51.100.23", 50126)));
    ev.push(si(30, 5200, U, "198.51.100.23", 0));
    ev.push(si(31, 9000, U, IP, 0));
    ev.extend((0..3).map(|i| si(40 + i, 9000, "adele@contoso.com", IP, 50126)));
    ev
}

#[test]
fn findings_do_not_depend_on_feeding_order_or_on_merged_hunters() {
    let s = set();
    let ev = attack();
    let want = hunt(&s, &ev);
    assert_eq!(titled(&want, "Chained").len(), 2, "{want:#?}");
    let mut rev = ev.clone();
    rev.reverse();
    assert_eq!(hunt(&s, &rev), want);
    let mut shuffled = ev.clone();
    shuffled.rotate_left(5);
    shuffled.swap(0, 7);
    assert_eq!(hunt(&s, &shuffled), want);
    for split in [1, 3, 7] {
        let (mut a, mut b) = (s.hunter(), s.hunter());
        for (i, e) in ev.iter().enumerate() {
            if i % split == 0 {
                a.feed(e);
            } else {
                b.feed(e);
            }
        }
        b.merge(a);
        assert_eq!(b.finish(), want, "split {split}");
    }
}

#[test]
fn generate_makes_the_referenced_rules_report() {
    let mut b = RuleSetBuilder::default();
    b.add("base.yml", BASE);
    b.add(
        "chained.yml",
        "title: Chained\ncorrelation:\n    type: temporal_ordered\n    rules: [burst, ok]\n    group-by: [IPAddress]\n    timespan: 30m\n    generate: true\n",
    );
    let s = b.build();
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    let mut ev = fails(1, &[0, 60, 120]);
    ev.push(si(10, 300, U, IP, 0));
    let f = hunt(&s, &ev);
    let mut t: Vec<&str> = f.iter().map(|f| f.title.as_str()).collect();
    t.sort();
    // `fail` is referenced by `burst`, which does not generate.
    assert_eq!(t, ["Burst", "Chained", "Success"]);
}

#[test]
fn event_count_over_a_correlation_counts_its_windows_and_value_count_its_keys() {
    let extra = r#"
title: Two bursts
correlation:
    type: event_count
    rules: [burst]
    group-by: [IPAddress]
    timespan: 1d
    condition: {gte: 2}
---
title: Bursts for two users
correlation:
    type: value_count
    rules: [burst]
    group-by: [IPAddress]
    timespan: 1h
    condition: {gte: 2, field: UserPrincipalName}
"#;
    let s = rules("IPAddress", "30m", extra);
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    // One long burst completes many times but is one window.
    let long = fails(1, &(0..20).map(|i| i * 30).collect::<Vec<_>>());
    assert!(titled(&hunt(&s, &long), "Two bursts").is_empty());
    let mut two = fails(1, &[0, 60, 120]);
    two.extend(fails(11, &[7200, 7260, 7320]));
    let f = hunt(&s, &two);
    let t = titled(&f, "Two bursts");
    assert_eq!(t.len(), 1, "{f:#?}");
    assert_eq!(lines(t[0]), [1, 2, 3, 11, 12, 13]);
    assert_eq!(t[0].group, [format!("IPAddress={IP}")]);
    assert!(titled(&f, "Bursts for two users").is_empty());
    let mut users = fails(1, &[0, 60, 120]);
    users.extend((0..3).map(|i| si(11 + i, 600 + i as i64 * 60, "adele@contoso.com", IP, 50126)));
    let f = hunt(&s, &users);
    assert_eq!(titled(&f, "Bursts for two users").len(), 1, "{f:#?}");
    assert_eq!(titled(&f, "Bursts for two users")[0].events.len(), 6);
}

#[test]
fn three_levels_expand_to_the_original_events() {
    let extra = "title: Twice\ncorrelation:\n    type: event_count\n    rules: [chained]\n    group-by: [IPAddress]\n    timespan: 1d\n    condition: {gte: 2}\n";
    let s = rules("IPAddress", "30m", extra);
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    let mut ev = fails(1, &[0, 60, 120]);
    ev.push(si(10, 300, U, IP, 0));
    ev.extend(fails(21, &[20000, 20060, 20120]));
    ev.push(si(30, 20300, U, IP, 0));
    let f = hunt(&s, &ev);
    let t = titled(&f, "Twice");
    assert_eq!(t.len(), 1, "{f:#?}");
    assert_eq!(lines(t[0]), [1, 2, 3, 10, 21, 22, 23, 30]);
    // `chained` is referenced now: it no longer reports on its own.
    assert!(titled(&f, "Chained").is_empty());
    assert_eq!(f.len(), 1);
    let info = s.rules();
    let twice = info.iter().find(|r| r.title == "Twice").unwrap();
    assert_eq!(twice.sources, ["signin"]);
}

#[test]
fn cycles_and_impossible_group_bys_are_problems() {
    let cyc = r#"
title: A
name: a
correlation: {type: event_count, rules: [b], group-by: [IPAddress], timespan: 1h, condition: {gte: 1}}
---
title: B
name: b
correlation: {type: event_count, rules: [a], group-by: [IPAddress], timespan: 1h, condition: {gte: 1}}
---
title: Self
name: self
correlation: {type: event_count, rules: [self, fail], group-by: [IPAddress], timespan: 1h, condition: {gte: 1}}
---
title: Above the cycle
correlation: {type: temporal, rules: [a, ok], group-by: [IPAddress], timespan: 1h}
"#;
    let s = rules("IPAddress", "30m", cyc);
    let reason = |t: &str| s.problems.iter().find(|p| p.rule == t).map(|p| p.reason.clone()).unwrap_or_default();
    assert_eq!(s.problems.len(), 4, "{:?}", s.problems);
    assert_eq!(reason("A"), "correlation references form a cycle: a -> b -> a");
    assert_eq!(reason("B"), "correlation references form a cycle: b -> a -> b");
    assert_eq!(reason("Self"), "correlation references form a cycle: self -> self");
    assert!(reason("Above the cycle").contains("reference cycle: a"), "{}", reason("Above the cycle"));
    // The good chained rule still loads and fires.
    let mut ev = fails(1, &[0, 60, 120]);
    ev.push(si(10, 300, U, IP, 0));
    assert_eq!(chained(&s, &ev), 1);

    let bad = rules("AppDisplayName", "30m", "");
    assert_eq!(bad.problems.len(), 1, "{:?}", bad.problems);
    assert_eq!(bad.problems[0].rule, "Chained");
    assert_eq!(
        bad.problems[0].reason,
        "cannot group by AppDisplayName: the referenced correlation burst groups by IPAddress, UserPrincipalName"
    );
    // Without its outer correlation, the burst reports on its own again.
    let f = hunt(&bad, &fails(1, &[0, 60, 120]));
    assert_eq!(titled(&f, "Burst").len(), 1);
    let count = "title: Count\ncorrelation:\n    type: value_count\n    rules: [burst]\n    group-by: [IPAddress]\n    timespan: 1h\n    condition: {gte: 2, field: AppDisplayName}\n";
    let s = rules("IPAddress", "30m", count);
    assert_eq!(s.problems.len(), 1, "{:?}", s.problems);
    assert!(s.problems[0]
        .reason
        .starts_with("cannot count AppDisplayName: the referenced correlation burst groups by"));
    // An unknown reference below a chain fails the chain too.
    let broken = "title: Dangling\nname: dangling\ncorrelation: {type: event_count, rules: [nope], group-by: [IPAddress], timespan: 1h, condition: {gte: 1}}\n---\ntitle: On top\ncorrelation: {type: event_count, rules: [dangling], group-by: [IPAddress], timespan: 1h, condition: {gte: 1}}\n";
    let s = rules("IPAddress", "30m", broken);
    let r: Vec<&str> = s.problems.iter().map(|p| p.reason.as_str()).collect();
    assert_eq!(
        r,
        [
            "correlation references unknown rules: nope",
            "correlation references correlations that could not be loaded: dangling"
        ]
    );
}
