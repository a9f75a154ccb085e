//! Sigma's generic `category: firewall` rules on Azure data: they route to NSG/VNet/VPC flow
//! tuples and Azure Firewall records, `src_ip`/`dst_ip`/`dst_port` are the normalized columns,
//! and `action`/`blocked` are the verdict in the words rules use (`denied`, `drop`, `forward`,
//! `accept`, `blocked: 'false'`), though an NSG says only Allow or Deny. The rules below are
//! written for these tests in the shape of SigmaHQ's `rules/network/firewall` (a Sigma 1
//! `count(dst_port) by src_ip` scan rule; a cleartext-protocol rule).

use azir_detect::{Finding, RuleSet, RuleSetBuilder};
use azir_model::{Event, NetworkSession, Provenance};

const SCAN: &str = r#"
title: Denied connections to many ports from one address
id: 0b6f0b4e-1111-4000-8000-00000000f001
level: medium
tags: [attack.discovery, attack.t1046]
logsource: {category: firewall}
detection:
    selection:
        action: denied
    timeframe: 24h
    condition: selection | count(dst_port) by src_ip > 10
"#;

const CLEARTEXT: &str = r#"
title: Cleartext protocol allowed
id: 0b6f0b4e-1111-4000-8000-00000000f002
level: low
logsource: {category: firewall}
detection:
    selection:
        dst_port: [21, 23, 8080]
    selection_allow1:
        action: [forward, accept]
    selection_allow2:
        blocked: 'false'
    condition: selection and 1 of selection_allow*
"#;

fn set(text: &str) -> RuleSet {
    let mut b = RuleSetBuilder::default();
    b.add("fw.yml", text);
    let set = b.build();
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    set
}

fn tuple(i: u32, t: i64, src: &str, dport: i32, action: &str) -> NetworkSession {
    NetworkSession {
        time: t * 1_000_000,
        end_time: t * 1_000_000,
        source: "nsg_flow".into(),
        source_format: "diag".into(),
        src_ip: src.into(),
        src_port: Some(40000 + i as i32),
        dst_ip: "10.10.1.4".into(),
        dst_port: Some(dport),
        protocol: "TCP".into(),
        direction: Some("Inbound".into()),
        action: Some(action.into()),
        flow_id: format!("{i:x}"),
        provenance: Provenance { evidence_path: "nsg/PT1H.json".into(), line: 1 + u64::from(i), ..Default::default() },
        tuple_index: i,
        ..Default::default()
    }
}

fn hunt(set: &RuleSet, flows: &[NetworkSession], events: &[Event]) -> Vec<Finding> {
    let mut h = set.hunter();
    flows.iter().for_each(|s| h.feed_flow(s));
    events.iter().for_each(|e| h.feed(e));
    h.finish()
}

const SCANNER: &str = "203.0.113.50";

#[test]
fn a_denied_port_scan_in_nsg_flow_tuples_fires_the_sigma_1_firewall_rule() {
    let set = set(SCAN);
    assert!(set.routes_flows());
    // 11 distinct ports denied, from one address, plus another address's single denial.
    let mut flows: Vec<NetworkSession> =
        (0..11).map(|i| tuple(i, 60 * i64::from(i), SCANNER, 20 + i as i32, "Deny")).collect();
    flows.push(tuple(99, 30, "198.51.100.7", 22, "Deny"));
    let found = hunt(&set, &flows, &[]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].group, [format!("src_ip={SCANNER}")]);
    assert_eq!(found[0].events.len(), 11);
    assert!(found[0].events.iter().all(|e| e.tuple.is_some() && &*e.provenance.evidence_path == "nsg/PT1H.json"));

    // Ten ports are not more than ten; the same port eleven times is one value.
    assert!(hunt(&set, &flows[..10], &[]).is_empty());
    let same: Vec<NetworkSession> = (0..11).map(|i| tuple(i, 60 * i64::from(i), SCANNER, 22, "Deny")).collect();
    assert!(hunt(&set, &same, &[]).is_empty());
    // Allowed connections are not `denied`.
    let allowed: Vec<NetworkSession> =
        (0..11).map(|i| tuple(i, 60 * i64::from(i), SCANNER, 20 + i as i32, "Allow")).collect();
    assert!(hunt(&set, &allowed, &[]).is_empty());
    // Beyond the timeframe: eleven ports over eleven days never have eleven in 24 hours.
    let slow: Vec<NetworkSession> =
        (0..11).map(|i| tuple(i, 86_400 * i64::from(i) + 1, SCANNER, 20 + i as i32, "Deny")).collect();
    assert!(hunt(&set, &slow, &[]).is_empty());
}

#[test]
fn allow_words_and_blocked_false_match_an_allowed_tuple_only() {
    let set = set(CLEARTEXT);
    // Many events, so the hunter's literal-scan sampling runs too: `forward`/`accept` are not in
    // the record's text, the verdict is derived, and the prefilter must not rule it out.
    let mut flows = Vec::new();
    for i in 0..600u32 {
        flows.push(tuple(i, i64::from(i), "10.10.2.5", if i % 3 == 0 { 23 } else { 443 }, "Allow"));
    }
    let found = hunt(&set, &flows, &[]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].events.len(), 200);
    assert!(found[0].events.iter().all(|e| e.tuple.unwrap() % 3 == 0));
    // Denied telnet is not an allowed cleartext connection.
    let denied: Vec<NetworkSession> = (0..600u32).map(|i| tuple(i, i64::from(i), "10.10.2.5", 23, "Deny")).collect();
    assert!(hunt(&set, &denied, &[]).is_empty());
}

/// An Azure Firewall network rule record as ingestion makes it: the verdict is the first word of
/// `EventResultDetails`, addresses and ports are columns.
fn azfw(line: u64, action: &str, dport: i32) -> Event {
    Event {
        source: "firewall".into(),
        time: line as i64 * 1_000_000,
        result: Some(if action == "Deny" { "Failure" } else { "Success" }.into()),
        result_details: Some(action.into()),
        src_ip: Some("10.10.2.5".into()),
        dst_ip: Some("198.51.100.9".into()),
        dst_port: Some(dport),
        protocol: Some("TCP".into()),
        raw: format!(
            r#"{{"category":"AZFWNetworkRule","properties":{{"SourceIp":"10.10.2.5","DestinationIp":"198.51.100.9","DestinationPort":{dport},"Protocol":"TCP","Action":"{action}"}}}}"#
        ),
        provenance: Provenance { evidence_path: "azfw.json".into(), line, ..Default::default() },
        ..Default::default()
    }
}

#[test]
fn azure_firewall_records_answer_firewall_rules_through_their_columns() {
    let rule = r#"
title: Outbound FTP dropped
logsource: {category: firewall}
detection:
    selection: {dst_port: 21, dst_ip|cidr: 198.51.100.0/24, action: [drop, blocked]}
    condition: selection
"#;
    let set = set(rule);
    let found = hunt(&set, &[], &[azfw(1, "Deny", 21), azfw(2, "Allow", 21), azfw(3, "Deny", 443)]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].events.len(), 1);
    assert_eq!(found[0].events[0].provenance.line, 1);
    // An Azure-product rule with a service still routes to its own service only.
    let mut b = RuleSetBuilder::default();
    b.add("x.yml", &rule.replace("{category: firewall}", "{product: azure, service: nsgflow}"));
    let nsg_only = b.build();
    assert!(hunt(&nsg_only, &[], &[azfw(1, "Deny", 21)]).is_empty());
}

#[test]
fn a_sign_in_outcome_rule_fires_on_records_without_the_outcome_column() {
    // `Status: Success` is derived from error code 0; the prefilter must not look for the word
    // `success` in a record that never writes it (a raw Graph sign-in without columns).
    let mut b = RuleSetBuilder::default();
    b.add(
        "s.yml",
        "title: T\nlogsource: {product: azure, service: signinlogs}\ndetection:\n    s: {Status: Success}\n    condition: s\n",
    );
    let set = b.build();
    let e = |line: u64, code: i64| Event {
        source: "signin".into(),
        raw: format!(r#"{{"userPrincipalName":"a@contoso.com","status":{{"errorCode":{code}}}}}"#),
        provenance: Provenance { evidence_path: "s.json".into(), line, ..Default::default() },
        ..Default::default()
    };
    let events: Vec<Event> = (0..300).map(|i| e(i, if i == 7 { 0 } else { 50126 })).collect();
    let found = hunt(&set, &[], &events);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].events.len(), 1);
    assert_eq!(found[0].events[0].provenance.line, 7);
}
