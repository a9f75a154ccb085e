//! End to end: `azir nsg crosscheck` on the demo (flow logs against the NSG history, with and
//! without it) and on a hand-made case whose flow log names a rule the configuration lacks.

use serde_json::{json, Value};
use std::path::Path;

mod common;
use common::demo;

/// Runs azir, expects exit code `code`, returns stdout.
fn run(args: &[&str], code: i32) -> String {
    common::expect(args, code).0
}

fn crosscheck(case: &str, extra: &[&str]) -> Value {
    let mut args = vec!["--json", "nsg", "crosscheck", "--case", case];
    args.extend_from_slice(extra);
    serde_json::from_str(&run(&args, 0)).expect("JSON")
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is not a count"))
}

fn count(r: &Value, nsg: &str, outcome: &str, reason: &str) -> u64 {
    r["counts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["nsg"] == nsg && c["outcome"] == outcome && c["reason"] == reason)
        .map(|c| u(&c["tuples"]))
        .sum()
}

/// The tuples the demo's flow logs attribute to the attacker's rule.
fn attacker_tuples(case: &str) -> u64 {
    let out = run(
        &[
            "query",
            "--case",
            case,
            "--format",
            "csv",
            "select count(*) as n from network where NetworkRuleName = 'UserRule_AllowAnyInbound-Mgmt'",
        ],
        0,
    );
    out.lines().nth(1).unwrap().trim().parse().unwrap()
}

/// An evidence reference `path:line#tuple` resolves to a line of an evidence file.
fn assert_evidence(root: &Path, e: &Value) {
    let path = e["path"].as_str().unwrap();
    assert!(path.starts_with(root.join("evidence").to_str().unwrap()), "{e}");
    assert!(Path::new(path).is_file(), "{e}");
    assert!(u(&e["line"]) >= 1, "{e}");
}

#[test]
fn demo_with_history_agrees_on_the_attacker_rule() {
    let d = demo();
    let r = crosscheck(&d.case, &["--limit", "100000"]);
    let (agree, disagree, not_evaluable) = (u(&r["agree"]), u(&r["disagree"]), u(&r["not_evaluable"]));
    assert_eq!(agree + disagree + not_evaluable, u(&r["tuples"]));
    // NSG v2 (nsg-web, nsg-app) and VNet (nsg-data, through the subnet's NIC) flow logs all
    // resolve. The only tuples left unevaluated name rules the Activity Log shows *updated*
    // (200 OK, no earlier state) on 2026-03-09: they existed before, with content the case lacks.
    let unknown: u64 = r["counts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["reason"] == "rule_content_unknown")
        .map(|c| u(&c["tuples"]))
        .sum();
    assert_eq!(not_evaluable, unknown, "{r:#}");
    assert!(unknown > 1000, "{r:#}");
    // Nothing else disagrees: every other logged rule is the one azir's evaluation picks.
    assert_eq!(disagree, 0, "{r:#}");
    assert!(agree > 14_000, "{agree}");
    for nsg in ["nsg-web", "nsg-app", "nsg-data"] {
        assert!(count(&r, nsg, "agree", "none") > 1000, "{nsg}: {r:#}");
    }
    assert_eq!(r["examples"].as_array().unwrap().len(), 0, "{r:#}");
    // The attacker's rule (03:52 on 2026-03-12 to 09:40 on 2026-03-13) is rebuilt from the Activity
    // Log: every tuple the logs attribute to it agrees.
    let attack = attacker_tuples(&d.case);
    assert!(attack > 0);
    let w =
        crosscheck(&d.case, &["--since", "2026-03-12T03:52:48Z", "--until", "2026-03-13T09:40Z", "--limit", "1000"]);
    assert!(count(&w, "nsg-web", "agree", "none") >= attack, "{w:#}");
    for e in w["examples"].as_array().unwrap() {
        assert!(!e["logged_rule"].as_str().unwrap().contains("AllowAnyInbound-Mgmt"), "{e}");
    }
}

#[test]
fn demo_without_history_disagrees_on_the_attacker_rule() {
    let d = demo();
    let attack = attacker_tuples(&d.case);
    let r = crosscheck(&d.case, &["--no-history", "--limit", "100000"]);
    // The latest configuration no longer has the rule: its tuples name a rule that is not there.
    let ghost: Vec<&Value> = r["examples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["logged_rule"] == "UserRule_AllowAnyInbound-Mgmt")
        .collect();
    assert_eq!(ghost.len() as u64, attack, "{r:#}");
    for e in &ghost {
        assert_eq!(e["reason"], "rule_not_in_config");
        assert_eq!(e["nsg"], "nsg-web");
        assert_eq!(e["direction"], "Inbound");
        assert!(e["evaluated_rule"].as_str().unwrap().starts_with("defaultSecurityRules/"), "{e}");
        assert_evidence(&d.root, &e["evidence"]);
    }
    assert!(count(&r, "nsg-web", "disagree", "rule_not_in_config") >= attack);
}

#[test]
fn demo_table_output() {
    // Without the history the attacker's rule is missing: disagreements to list.
    let out = run(&["nsg", "crosscheck", "--case", &demo().case, "--no-history", "--limit", "3"], 0);
    assert!(out.contains("agree:"), "{out}");
    assert!(out.contains("NSG") && out.contains("OUTCOME") && out.contains("nsg-web"), "{out}");
    assert!(out.contains("disagreements (earliest 3):"), "{out}");
    assert!(out.contains("PT1H.json"), "{out}");
}

const SUB: &str = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.Network";

/// One NSG (`az network nsg list` shape) with an HTTPS rule, and an NSG v2 flow log naming
/// that rule (agrees), a rule it does not have (disagrees) and an NSG the case does not hold.
fn tiny_case(dir: &Path) -> String {
    let ev = dir.join("evidence");
    let flows = ev.join("insights-logs-networksecuritygroupflowevent");
    std::fs::create_dir_all(&flows).unwrap();
    let nsg = format!("{SUB}/networkSecurityGroups/nsg-tiny");
    let nsgs = json!([{"name": "nsg-tiny", "id": nsg, "type": "Microsoft.Network/networkSecurityGroups",
        "location": "westeurope", "resourceGroup": "rg", "securityRules": [{
            "name": "Allow-Https", "id": format!("{nsg}/securityRules/Allow-Https"), "priority": 100,
            "direction": "Inbound", "access": "Allow", "protocol": "Tcp", "sourceAddressPrefix": "*",
            "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "443",
            "type": "Microsoft.Network/networkSecurityGroups/securityRules"}]}]);
    std::fs::write(ev.join("nsg-list.json"), serde_json::to_string_pretty(&nsgs).unwrap()).unwrap();
    let record = |resource: &str, rule: &str, tuples: &[&str]| {
        json!({"time": "2026-03-12T10:00:00.0000000Z", "systemId": "00000000-0000-0000-0000-000000000001",
            "category": "NetworkSecurityGroupFlowEvent", "resourceId": resource.to_ascii_uppercase(),
            "operationName": "NetworkSecurityGroupFlowEvents",
            "properties": {"Version": 2, "flows": [{"rule": rule, "flows": [{"mac": "000D3AF8801A", "flowTuples": tuples}]}]}})
    };
    let gone = format!("{SUB}/networkSecurityGroups/nsg-gone");
    let records = json!({"records": [
        record(&nsg, "UserRule_Allow-Https", &["1773309600,198.51.100.7,10.0.1.4,50000,443,T,I,A,B,,,,"]),
        record(&nsg, "UserRule_Ghost-Rule", &["1773309601,198.51.100.7,10.0.1.4,50001,22,T,I,A,B,,,,"]),
        record(&gone, "UserRule_Allow-Https", &["1773309602,198.51.100.7,10.0.1.4,50002,443,T,I,A,B,,,,"]),
    ]});
    std::fs::write(flows.join("PT1H.json"), records.to_string()).unwrap();
    let case = dir.join("case").display().to_string();
    run(&["ingest", ev.to_str().unwrap(), "--case", &case, "-q"], 0);
    case
}

#[test]
fn a_rule_missing_from_the_configuration_is_a_listed_disagreement() {
    let dir = tempfile::tempdir().unwrap();
    let case = tiny_case(dir.path());
    let r = crosscheck(&case, &[]);
    assert_eq!((u(&r["tuples"]), u(&r["agree"]), u(&r["disagree"]), u(&r["not_evaluable"])), (3, 1, 1, 1), "{r:#}");
    assert_eq!(count(&r, "nsg-tiny", "agree", "none"), 1);
    assert_eq!(count(&r, "? NSG-GONE", "not_evaluable", "nsg_unknown"), 1, "{r:#}");
    let e = &r["examples"].as_array().unwrap()[..];
    assert_eq!(e.len(), 1);
    let e = &e[0];
    assert_eq!(e["logged_rule"], "UserRule_Ghost-Rule");
    assert_eq!(e["reason"], "rule_not_in_config");
    assert_eq!(e["evaluated_rule"], "defaultSecurityRules/DenyAllInBound");
    assert_eq!(e["evaluated_action"], "Deny");
    assert_eq!(e["logged_action"], "Allow");
    assert_eq!(e["source"], "198.51.100.7:50001");
    assert_eq!(e["destination"], "10.0.1.4:22");
    assert_eq!(e["time"], "2026-03-12T10:00:01.000000Z");
    assert!(e["evidence"]["path"].as_str().unwrap().ends_with("PT1H.json"), "{e}");
    assert_eq!(u(&e["evidence"]["line"]), 1);
    // The table names the ghost rule and its evidence.
    let out = run(&["nsg", "crosscheck", "--case", &case], 0);
    assert!(out.contains("UserRule_Ghost-Rule (Allow)") && out.contains("PT1H.json:1#"), "{out}");
    // A window that leaves the ghost tuple out.
    let w = crosscheck(&case, &["--until", "2026-03-12T10:00:01Z"]);
    assert_eq!((u(&w["tuples"]), u(&w["disagree"])), (1, 0));
}

#[test]
fn a_case_without_configuration_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let ev = dir.path().join("evidence");
    std::fs::create_dir_all(&ev).unwrap();
    std::fs::write(ev.join("empty.json"), "[]").unwrap();
    let case = dir.path().join("case").display().to_string();
    run(&["ingest", ev.to_str().unwrap(), "--case", &case, "-q"], 0);
    let o = common::output(&["nsg", "crosscheck", "--case", &case]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no network configuration"));
}
