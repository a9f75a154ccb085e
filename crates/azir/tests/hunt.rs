//! End to end: `azir demo` then `azir hunt --json` finds the storyline's attacks, links each to
//! its evidence bytes, does not flag the known-benign activity, and stores the findings in the
//! case (a re-run replaces them).

use azir_demo as story;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_azir");

fn azir(args: &[&str]) -> String {
    let o = Command::new(BIN).args(args).stdin(Stdio::null()).output().expect("azir runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "azir {args:?}: {:?}\n{err}", o.status);
    assert!(!err.contains("panicked"), "{err}");
    String::from_utf8(o.stdout).expect("utf-8 output")
}

struct Demo {
    _dir: tempfile::TempDir,
    case: String,
    out: Value,
}

fn demo() -> &'static Demo {
    static D: OnceLock<Demo> = OnceLock::new();
    D.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("demo");
        azir(&["demo", root.to_str().unwrap(), "--quiet"]);
        let case = root.join("case").display().to_string();
        let out: Value = serde_json::from_str(&azir(&["hunt", "--case", &case, "--json"])).expect("hunt prints JSON");
        Demo { _dir: dir, case, out }
    })
}

fn findings() -> &'static [Value] {
    demo().out["findings"].as_array().expect("findings array")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// The findings whose title contains `title`.
fn by_title(title: &str) -> Vec<&'static Value> {
    findings().iter().filter(|f| f["title"].as_str().is_some_and(|t| t.contains(title))).collect()
}

fn at(s: &str) -> i64 {
    azir_model::parse_time(s).expect("storyline time parses")
}

/// The one finding of `title` whose ips include `ip`.
fn attack(title: &str, ip: &str) -> &'static Value {
    let fs: Vec<_> = by_title(title).into_iter().filter(|f| strings(&f["ips"]).iter().any(|i| i == ip)).collect();
    assert_eq!(fs.len(), 1, "{title} from {ip}: {fs:#?}");
    fs[0]
}

#[test]
fn the_control_plane_attacks_are_found_at_their_times() {
    let role = attack("Owner, User Access Administrator or Contributor", story::ATTACKER_IP);
    assert_eq!(role["level"], "critical");
    assert_eq!(role["first"].as_i64(), Some(at(story::ROLE_ASSIGNMENT_TIME)));
    assert!(strings(&role["tags"]).contains(&"attack.t1098.003".to_string()));
    assert!(strings(&role["users"]).contains(&story::COMPROMISED_USER.to_string()));

    let nsg = attack("NSG rule allows management ports", story::ATTACKER_IP);
    assert_eq!(nsg["first"].as_i64(), Some(at(story::NSG_OPEN_TIME)));
    assert!(strings(&nsg["resources"]).iter().all(|r| r.ends_with(story::OPENED_RULE)), "{nsg:#}");

    let run = attack("Run Command", story::ATTACKER_IP);
    assert_eq!(run["first"].as_i64(), Some(at(story::RUN_COMMAND_TIME)));
    for vm in story::EXFIL_VMS {
        assert!(strings(&run["resources"]).iter().any(|r| r.ends_with(vm)), "{vm}: {run:#}");
    }

    let export = attack("beginGetAccess", story::ATTACKER_IP);
    assert_eq!(export["first"].as_i64(), Some(at(story::SNAPSHOT_ACCESS_TIME)));
    assert!(strings(&export["resources"]).iter().any(|r| r.ends_with(story::SNAPSHOT_NAME)));

    let keys = attack("Storage account keys listed", story::ATTACKER_IP);
    assert!(strings(&keys["resources"]).iter().any(|r| r.contains("stcontosodev")), "{keys:#}");
}

#[test]
fn the_identity_attacks_are_found_as_correlations() {
    let spray = attack("Password spray", story::SPRAY_IP);
    assert_eq!(spray["kind"], "value_count");
    assert_eq!(strings(&spray["group"]), [format!("IPAddress={}", story::SPRAY_IP)]);
    assert!(strings(&spray["users"]).len() >= 15, "{spray:#}");
    assert!(spray["first"].as_i64() >= Some(at(story::SPRAY_START)));
    assert!(spray["last"].as_i64() <= Some(at(story::SPRAY_END)));

    // The spray found Megan's password (accepted, stopped at MFA) inside the spray window.
    let found = attack("Sign-in success after a run of failed passwords", story::SPRAY_IP);
    assert_eq!(found["kind"], "temporal_ordered");
    assert!(strings(&found["users"]).contains(&story::COMPROMISED_USER.to_string()), "{found:#}");
    assert!(found["last"].as_i64() <= Some(at(story::SPRAY_END)), "{found:#}");

    let mfa = attack("MFA fatigue - repeated MFA failures", story::ATTACKER_IP);
    assert_eq!(mfa["kind"], "event_count");
    assert_eq!(strings(&mfa["users"]), [story::COMPROMISED_USER]);
    assert!(mfa["first"].as_i64() >= Some(at(story::MFA_FATIGUE_START)));
    assert!(mfa["last"].as_i64() < Some(at(story::COMPROMISE_TIME)));
    // Chained: the fatigue burst, then Megan's approved sign-in (and the CLI one after it).
    let approved = attack("MFA fatigue then successful sign-in of the same user", story::ATTACKER_IP);
    assert_eq!(approved["kind"], "temporal_ordered");
    assert_eq!(strings(&approved["group"]), [format!("UserPrincipalName={}", story::COMPROMISED_USER)]);
    assert_eq!(strings(&approved["users"]), [story::COMPROMISED_USER]);
    assert_eq!(strings(&approved["ips"]), [story::ATTACKER_IP]);
    assert_eq!(approved["first"], mfa["first"]);
    let times: Vec<i64> = approved["events"].as_array().unwrap().iter().filter_map(|e| e["time"].as_i64()).collect();
    assert!(times.contains(&at(story::COMPROMISE_TIME)), "{approved:#}");
    assert!(approved["events"].as_array().unwrap().len() > mfa["events"].as_array().unwrap().len());

    let ga = attack("privileged Entra ID directory role", story::ATTACKER_IP);
    assert_eq!(ga["level"], "critical");
    let creds = attack("Credentials added", story::ATTACKER_IP);
    assert!(strings(&creds["apps"]).contains(&story::BACKDOOR_APP.to_string()));

    let kv = attack("Key Vault secret enumeration", story::ATTACKER_IP);
    assert!(kv["events"].as_array().unwrap().len() >= 8);
    assert!(kv["first"].as_i64() >= Some(at(story::KV_LIST_TIME)));

    let scan = attack("Web scanning", story::SCANNER_IP);
    assert!(scan["first"].as_i64() >= Some(at(story::RECON_START)));

    let bypass = attack("WAF blocked a client that then got a successful response", story::SCANNER_IP);
    assert_eq!(bypass["kind"], "temporal_ordered");
    assert_eq!(strings(&bypass["group"]), [format!("clientIp={}", story::SCANNER_IP)]);
    assert!(bypass["first"].as_i64() >= Some(at(story::RECON_START)));
    assert!(bypass["last"].as_i64() < Some(at(story::SPRAY_START)));

    // The same scanner in the NSG flow logs, and the exfiltration in the flow logs.
    let ports = attack("Port scan - denied inbound flows to many ports of one address", story::SCANNER_IP);
    assert_eq!(
        strings(&ports["group"]),
        [format!("SrcIpAddr={}", story::SCANNER_IP), format!("DstIpAddr={}", story::SSH_TARGET_IP)]
    );
    assert!(ports["first"].as_i64() >= Some(at(story::RECON_START)));
    assert!(ports["last"].as_i64() < Some(at(story::SPRAY_START)));
    assert_eq!(by_title("Port scan - denied inbound flows to many ports of one address").len(), 1, "only the scanner");
    // Large outbound transfers: exactly the exfiltrating hosts (the two Azure VMs and the AWS
    // instance), each to the attacker's address, no benign one (the AWS instance's own traffic to
    // an AWS endpoint stays far below the threshold).
    let large = by_title("Large outbound transfer to an external address");
    let exfil: BTreeSet<String> = large.iter().map(|f| strings(&f["ips"])[0].clone()).collect();
    let expected: BTreeSet<String> =
        story::EXFIL_SRC_IPS.iter().chain([&story::AWS_INSTANCE_IP]).map(|s| s.to_string()).collect();
    assert_eq!(exfil, expected);
    assert!(large.iter().all(|f| strings(&f["ips"])[1] == story::EXFIL_DST), "{large:#?}");
}

#[test]
fn known_benign_activity_is_not_flagged_high() {
    // Every high or critical finding comes from an attacker address; none from the office egress,
    // none acted by the benign NSG editor or the responder.
    let attacker = [story::SPRAY_IP, story::ATTACKER_IP, story::SCANNER_IP];
    for f in findings() {
        let level = f["level"].as_str().unwrap();
        if level != "high" && level != "critical" {
            continue;
        }
        let ips = strings(&f["ips"]);
        assert!(!ips.is_empty() && ips.iter().all(|i| attacker.contains(&i.as_str())), "benign source flagged: {f:#}");
        if f["kind"] == "detection" {
            let users = strings(&f["users"]);
            assert!(!users.iter().any(|u| u == story::SEED_NSG_CALLER || u == story::RESPONDER), "{f:#}");
        }
    }
    // Rob's seed-article NSG update (myNSG) and the automation's key listing are not findings.
    for f in findings() {
        assert!(!strings(&f["resources"]).iter().any(|r| r.to_lowercase().ends_with("/mynsg")), "{f:#}");
        assert!(!strings(&f["users"]).iter().any(|u| u.len() == 36 && u.matches('-').count() == 4), "{f:#}");
    }
    // The benign Reader role assignments are not privileged.
    assert_eq!(by_title("Owner, User Access Administrator or Contributor").len(), 1);
}

#[test]
fn every_finding_points_at_the_bytes_of_its_events() {
    assert!(demo().out["problems"].as_array().unwrap().is_empty());
    for f in findings() {
        let evs = f["events"].as_array().unwrap();
        assert!(!evs.is_empty(), "{f:#}");
        for e in evs {
            let p = &e["provenance"];
            let path = p["evidence_path"].as_str().unwrap();
            assert!(p["line"].as_u64().unwrap() >= 1);
            assert_eq!(e["event_id"].as_str().unwrap().len(), 32);
            if path.contains('!') || path.ends_with(".gz") || path.ends_with(".csv") {
                continue;
            }
            let bytes = std::fs::read(Path::new(path)).unwrap();
            let at = p["offset"].as_u64().unwrap() as usize;
            if bytes.first() != Some(&b'{') && bytes.first() != Some(&b'[') {
                // A text log (AWS VPC flow lines): the line at the offset holds the address.
                let line = bytes[at..].split(|b| *b == b'\n').next().unwrap();
                let line = String::from_utf8_lossy(line);
                if let Some(ip) = e["ip"].as_str() {
                    assert!(line.contains(ip), "{path}@{at} does not hold {ip}: {line}");
                }
                continue;
            }
            let mut de = serde_json::Deserializer::from_slice(&bytes[at..]).into_iter::<Value>();
            let rec = de.next().expect("a record at the offset").expect("JSON at the offset");
            if let Some(ip) = e["ip"].as_str() {
                assert!(rec.to_string().contains(ip), "{path}@{at} does not hold {ip}");
            }
        }
    }
    let nsg = attack("NSG rule allows management ports", story::ATTACKER_IP);
    let e = &nsg["events"][0]["provenance"];
    let bytes = std::fs::read(e["evidence_path"].as_str().unwrap()).unwrap();
    let rec: Value = serde_json::Deserializer::from_slice(&bytes[e["offset"].as_u64().unwrap() as usize..])
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    assert!(rec.to_string().contains(story::OPENED_RULE));
}

#[test]
fn findings_are_stored_and_a_rerun_replaces_them() {
    let d = demo();
    let case = azir_store::Case::open(Path::new(&d.case)).unwrap();
    let stored = azir_store::findings::read(&case).unwrap();
    let n = findings().len();
    assert_eq!(stored.len(), n);
    assert!(stored.iter().all(|r| r.rule_set == d.out["rule_set"].as_str().unwrap()));
    let role = stored.iter().find(|r| r.title.starts_with("Owner, User Access")).unwrap();
    assert_eq!(role.event_ids.len() as u64, role.event_count);
    assert!(role.evidence.iter().all(|e| e.contains("activity/rest/") && e.contains(".json:")));
    // Run again into a copy of the table: same rule set, same file, same rows.
    let again: Value = serde_json::from_str(&azir(&["hunt", "--case", &d.case, "--json"])).unwrap();
    assert_eq!(again["rule_set"], d.out["rule_set"]);
    let files = std::fs::read_dir(azir_store::findings::dir(&case)).unwrap().count();
    assert_eq!(files, 1);
    assert_eq!(azir_store::findings::read(&case).unwrap(), stored);
    // --min-level filters what is shown, not what is stored.
    let high: Value =
        serde_json::from_str(&azir(&["hunt", "--case", &d.case, "--json", "--min-level", "critical"])).unwrap();
    let shown = high["findings"].as_array().unwrap();
    assert!(!shown.is_empty() && shown.iter().all(|f| f["level"] == "critical"));
    assert_eq!(azir_store::findings::read(&case).unwrap().len(), n);
}

#[test]
fn table_and_csv_outputs_are_safe() {
    let d = demo();
    let table = azir(&["hunt", "--case", &d.case, "--min-level", "high"]);
    assert!(table.contains("CRITICAL (") && table.contains("HIGH ("));
    assert!(!table.contains("MEDIUM ("));
    assert!(!table.chars().any(|c| c.is_control() && c != '\n'));
    let csv = azir(&["hunt", "--case", &d.case, "--csv"]);
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), findings().len());
    for r in &rows {
        for cell in r.iter() {
            assert!(!cell.starts_with(['=', '+', '-', '@']), "formula-like cell {cell:?}");
        }
    }
}

fn sigma_corpus() -> std::path::PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/sigma/rules/cloud");
    assert!(p.is_dir(), "the shared corpus is missing: {}", p.display());
    p
}

#[test]
fn the_literal_prefilter_never_changes_a_decision() {
    // Every demo event, the SigmaHQ cloud rules plus the pack: the rules that match through the
    // prefilter are exactly those that match when every routed rule is evaluated.
    let mut b = azir_detect::RuleSetBuilder::default();
    b.add_builtin();
    let mut files = Vec::new();
    let mut stack = vec![sigma_corpus()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yml") {
                files.push(p);
            }
        }
    }
    for f in &files {
        b.add(&f.display().to_string(), &std::fs::read_to_string(f).unwrap());
    }
    let set = b.build();
    let case = azir_store::Case::open(Path::new(&demo().case)).unwrap();
    let (mut events, mut matched) = (0, 0);
    azir_store::read::scan(&case, azir_store::Table::Events, None, None, None, &mut |batch| {
        for e in azir_store::schema::events_from_batch(&batch) {
            let fast = set.matching_routed(&e);
            assert_eq!(fast, set.matching_routed_unfiltered(&e), "{}", e.raw);
            events += 1;
            matched += usize::from(!fast.is_empty());
        }
        Ok(())
    })
    .unwrap();
    assert!(events > 10_000 && matched > 100, "{events} events, {matched} matched");
}

#[test]
fn hunt_accepts_a_sigma_rules_folder() {
    // On a copy of the case: the other tests read the shared case's findings.
    let d = demo();
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(Path::new(&d.case), &tmp.path().join("case"));
    let case_dir = tmp.path().join("case").display().to_string();
    let out: Value = serde_json::from_str(&azir(&[
        "hunt",
        "--case",
        &case_dir,
        "--json",
        "--sigma",
        sigma_corpus().to_str().unwrap(),
    ]))
    .unwrap();
    assert!(out["problems"].as_array().unwrap().is_empty(), "{:#}", out["problems"]);
    assert!(out["rules_loaded"].as_u64().unwrap() >= 142 + 17);
    // Another rule set: stored beside the pack-only findings, which stay.
    assert_ne!(out["rule_set"], d.out["rule_set"]);
    let case = azir_store::Case::open(Path::new(&case_dir)).unwrap();
    let n = findings().len() + out["findings"].as_array().unwrap().len();
    assert_eq!(azir_store::findings::read(&case).unwrap().len(), n);
    // SigmaHQ's own Azure rules fire on the attack too (e.g. the MFA interruption rule).
    assert!(out["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["origin"].as_str().unwrap().contains("azure_mfa_interrupted")));
}

#[test]
fn a_sigma_filter_tunes_the_built_in_rules_from_the_command_line() {
    // An analyst who knows the spray address is a red-team scanner filters it out of every
    // sign-in rule: the spray and what depends on it go, the MFA fatigue (another IP) stays.
    let d = demo();
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(Path::new(&d.case), &tmp.path().join("case"));
    let case_dir = tmp.path().join("case").display().to_string();
    let filters = tmp.path().join("filters");
    std::fs::create_dir(&filters).unwrap();
    let filter = format!(
        "title: Red-team scanner\nlogsource: {{product: azure, service: signinlogs}}\nfilter:\n    rules: any\n    scanner:\n        IPAddress: '{}'\n    condition: not scanner\n",
        story::SPRAY_IP
    );
    std::fs::write(filters.join("mf_red_team.yml"), filter).unwrap();
    let args = ["hunt", "--case", &case_dir, "--json", "--sigma", filters.to_str().unwrap()];
    let out: Value = serde_json::from_str(&azir(&args)).unwrap();
    assert!(out["problems"].as_array().unwrap().is_empty(), "{:#}", out["problems"]);
    assert!(out["filters_applied"].as_u64().unwrap() >= 3, "{:#}", out["filters_applied"]);
    let fs = out["findings"].as_array().unwrap();
    let from_spray_ip = |title: &str| {
        fs.iter().any(|f| {
            f["title"].as_str().unwrap().contains(title) && strings(&f["ips"]).iter().any(|i| i == story::SPRAY_IP)
        })
    };
    assert!(!from_spray_ip("Password spray"), "{fs:#?}");
    assert!(!from_spray_ip("Sign-in success after a run of failed passwords"));
    assert!(fs.iter().any(|f| f["title"].as_str().unwrap().contains("MFA fatigue")));
    // Without the filter the same case has the spray (the shared hunt's findings).
    assert!(attack("Password spray", story::SPRAY_IP)["kind"] == "value_count");
    // The table output says how many filter applications there were.
    let table = azir(&["hunt", "--case", &case_dir, "--sigma", filters.to_str().unwrap()]);
    assert!(table.contains("Sigma filter applications"), "{table}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

#[test]
fn rules_that_cannot_load_are_reported_one_by_one_and_the_rest_run() {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    azir(&["case", "init", case.to_str().unwrap()]);
    let rules = tmp.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let bad = "title: bad\nlogsource: {product: azure, service: activitylogs}\ndetection:\n  s:\n    a|frobnicate: x\n  condition: s\n";
    std::fs::write(rules.join("bad.yml"), bad).unwrap();
    std::fs::write(rules.join("broken.yml"), "title: [unclosed\n").unwrap();
    let good =
        "title: good\nlogsource: {product: azure, service: activitylogs}\ndetection:\n  s:\n    a: x\n  condition: s\n";
    std::fs::write(rules.join("good.yml"), good).unwrap();
    let out: Value = serde_json::from_str(&azir(&[
        "hunt",
        "--case",
        case.to_str().unwrap(),
        "--json",
        "--no-builtin",
        "--sigma",
        rules.to_str().unwrap(),
    ]))
    .unwrap();
    let problems = out["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0]["reason"].as_str().unwrap().contains("unsupported modifier `frobnicate`"));
    assert!(problems[1]["reason"].as_str().unwrap().contains("not valid YAML"));
    assert_eq!(out["rules_loaded"], 1);
    assert_eq!(out["events"], 0);
    // The hunt is recorded in the custody chain, which still verifies.
    azir(&["case", "verify", case.to_str().unwrap()]);
    let custody = std::fs::read_to_string(case.join("custody.jsonl")).unwrap();
    assert!(custody.lines().last().unwrap().contains("\"hunt\""));
}

/// One NSG v2 flow-log record (one line) of rule groups of tuples, in the shape Azure writes.
fn nsg_flow_record(time: &str, groups: &[(&str, Vec<String>)]) -> String {
    let flows: Vec<Value> = groups
        .iter()
        .map(|(rule, tuples)| serde_json::json!({"rule": rule, "flows": [{"mac": "000D3AF8801A", "flowTuples": tuples}]}))
        .collect();
    serde_json::json!({
        "time": time, "systemId": "x", "category": "NetworkSecurityGroupFlowEvent",
        "resourceId": "/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-WEB",
        "operationName": "NetworkSecurityGroupFlowEvents",
        "properties": {"Version": 2, "flows": flows},
    })
    .to_string()
}

#[test]
fn flow_tuples_are_hunted_for_port_scans_and_large_outbound_transfers() {
    let tmp = tempfile::tempdir().unwrap();
    let t0: i64 = 1_773_280_800; // 2026-03-12T02:00:00Z
                                 // Line 2: a 40-port scan from 198.51.100.200, all denied, beside benign denials (one source
                                 // retrying SSH, and one port each on 30 addresses) and allowed inbound HTTPS.
    let scan: Vec<String> = (0..40)
        .map(|p| format!("{},198.51.100.200,10.0.0.4,{},{},T,I,D,B,,,,", t0 + p * 5, 41000 + p, 1000 + p))
        .collect();
    let retry: Vec<String> =
        (0..40).map(|k| format!("{},203.0.113.10,10.0.0.4,{},22,T,I,D,B,,,,", t0 + k * 5, 42000 + k)).collect();
    let sweep: Vec<String> =
        (1..=30).map(|h| format!("{},203.0.113.20,10.0.0.{h},43000,445,T,I,D,B,,,,", t0 + h * 5)).collect();
    let https: Vec<String> =
        (0..40).map(|k| format!("{},203.0.113.30,10.0.0.4,{},443,T,I,A,B,,,,", t0 + k * 5, 44000 + k)).collect();
    let line2 = nsg_flow_record(
        "2026-03-12T02:05:00.0000000Z",
        &[("DefaultRule_DenyAllInBound", [scan, retry, sweep].concat()), ("UserRule_allow-https", https)],
    );
    // Line 3: 150 MB from 10.0.0.7 to an external address in one tuple; 200 MB to a private
    // address (a backup) and 2 MB to an external one. Line 4: 120 MB from 10.0.0.10 to another
    // external address as three 40 MB intervals of one connection (Continuing, Continuing, End).
    let out =
        |t: i64, src: &str, dst: &str, bytes: u64| format!("{t},{src},{dst},50001,443,T,O,A,E,1000,{bytes},800,40000");
    let line3 = nsg_flow_record(
        "2026-03-12T03:05:00.0000000Z",
        &[(
            "DefaultRule_AllowInternetOutBound",
            vec![
                out(t0 + 3600, "10.0.0.8", "10.0.1.5", 200_000_000),
                out(t0 + 3610, "10.0.0.9", "203.0.113.61", 2_000_000),
                out(t0 + 3620, "10.0.0.7", "203.0.113.60", 150_000_000),
            ],
        )],
    );
    let part =
        |t: i64, state: &str| format!("{t},10.0.0.10,203.0.113.62,50002,443,T,O,A,{state},1000,41943040,800,40000");
    let line4 = nsg_flow_record(
        "2026-03-12T03:08:00.0000000Z",
        &[(
            "DefaultRule_AllowInternetOutBound",
            vec![part(t0 + 3660, "C"), part(t0 + 3720, "C"), part(t0 + 3780, "E")],
        )],
    );
    let log = tmp.path().join("nsg/PT1H.json");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::write(&log, format!("{{\"records\":[\n{line2},\n{line3},\n{line4}\n]}}\n")).unwrap();
    let case = tmp.path().join("case");
    azir(&["-q", "ingest", log.to_str().unwrap(), "--case", case.to_str().unwrap()]);
    let out: Value = serde_json::from_str(&azir(&["hunt", "--case", case.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(out["flows"], 40 * 3 + 30 + 3 + 3, "{out:#}");
    let found = out["findings"].as_array().unwrap();
    let titled = |t: &str| -> Vec<&Value> {
        found.iter().filter(|f| f["title"].as_str().is_some_and(|x| x.starts_with(t))).collect()
    };

    let scans = titled("Port scan - denied inbound flows");
    assert_eq!(scans.len(), 1, "{found:#?}");
    let s = scans[0];
    assert_eq!(strings(&s["ips"]), ["198.51.100.200"]);
    assert_eq!(strings(&s["group"]), ["SrcIpAddr=198.51.100.200", "DstIpAddr=10.0.0.4"]);
    assert!(strings(&s["tags"]).iter().any(|t| t == "attack.t1046"));
    let evs = s["events"].as_array().unwrap();
    assert_eq!(evs.len(), 40);
    let mut tuples: Vec<u64> = evs.iter().map(|e| e["tuple"].as_u64().expect("tuple index")).collect();
    tuples.sort_unstable();
    tuples.dedup();
    assert_eq!(tuples.len(), 40);
    for e in evs {
        assert_eq!(e["provenance"]["line"], 2);
        assert_eq!(e["provenance"]["evidence_path"].as_str(), log.to_str());
        let ev = e["evidence"].as_str().unwrap();
        assert_eq!(ev, format!("{}:2#{}", log.display(), e["tuple"]));
    }
    // Bytes are summed per (internal, external) pair over the connection's intervals.
    let large = titled("Large outbound transfer");
    assert_eq!(large.len(), 2, "{found:#?}");
    assert_eq!(strings(&large[0]["ips"]), ["10.0.0.7", "203.0.113.60"]);
    let evs = large[0]["events"].as_array().unwrap();
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["provenance"]["line"], 3);
    assert_eq!(evs[0]["tuple"], 2);
    assert_eq!(strings(&large[1]["ips"]), ["10.0.0.10", "203.0.113.62"]);
    assert!(strings(&large[1]["group"]).contains(&"OutboundBytes=125829120".to_string()), "{:#}", large[1]);
    let evs = large[1]["events"].as_array().unwrap();
    assert_eq!(evs.iter().map(|e| e["provenance"]["line"].as_u64().unwrap()).collect::<Vec<_>>(), [4, 4, 4]);

    // Benign sources appear in no finding.
    for f in found {
        for ip in ["203.0.113.10", "203.0.113.20", "203.0.113.30", "10.0.0.8", "10.0.0.9"] {
            assert!(!strings(&f["ips"]).iter().any(|i| i == ip), "{ip} flagged: {f:#}");
        }
    }

    // Without a rule routed to flows, the network table is not read.
    let rules = tmp.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let good =
        "title: good\nlogsource: {product: azure, service: activitylogs}\ndetection:\n  s:\n    a: x\n  condition: s\n";
    std::fs::write(rules.join("good.yml"), good).unwrap();
    let case = case.to_str().unwrap();
    let rules = rules.to_str().unwrap();
    let none: Value =
        serde_json::from_str(&azir(&["hunt", "--case", case, "--json", "--no-builtin", "--sigma", rules])).unwrap();
    assert_eq!(none["flows"], 0);
    assert_eq!(none["findings"].as_array().unwrap().len(), 0);
}

/// A parallel hunt gives the same findings, byte for byte, whatever the number of workers (the
/// hunters' merge renumbers events in time and evidence order, so correlation windows and
/// their ties come out the same however the row groups were shared out).
#[test]
fn findings_do_not_depend_on_the_number_of_threads() {
    let case = demo().case.clone();
    let one = azir(&["--json", "hunt", "--case", &case, "--threads", "1"]);
    for t in ["2", "3", "8"] {
        let many = azir(&["--json", "hunt", "--case", &case, "--threads", t]);
        assert!(one == many, "--threads {t} changed the findings");
    }
    let v: Value = serde_json::from_str(&one).unwrap();
    assert!(
        v["findings"].as_array().unwrap().iter().any(|f| f["kind"] != "detection"),
        "correlations are compared too"
    );
}

/// The Bastion novelty analytic end to end: a session from an address that signed in
/// successfully is quiet; one from an address that only ever failed (a sprayer) is a finding,
/// stored with its evidence line; `--no-builtin` leaves it out.
#[test]
fn bastion_session_from_an_ip_never_seen_signing_in() {
    let dir = tempfile::tempdir().unwrap();
    let ev = dir.path().join("evidence");
    std::fs::create_dir(&ev).unwrap();
    let signin = |id: &str, ip: &str, code: i64, t: &str| {
        serde_json::json!({"id": id, "createdDateTime": t, "userPrincipalName": "rob@contoso.com", "userId": "u1",
            "appDisplayName": "Azure Portal", "appId": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c", "ipAddress": ip,
            "clientAppUsed": "Browser", "isInteractive": true, "status": {"errorCode": code}})
    };
    let page = serde_json::json!({"value": [
        signin("s1", "203.0.113.10", 0, "2026-03-10T08:00:00Z"),
        signin("s2", "198.51.100.66", 50126, "2026-03-10T08:05:00Z"),
    ]});
    std::fs::write(ev.join("signins.json"), page.to_string()).unwrap();
    let bastion = |ip: &str, t: &str| {
        serde_json::json!({"time": t, "resourceId": "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/BASTIONHOSTS/BAS",
            "operationName": "Microsoft.Network/BastionHost/connect", "category": "BastionAuditLogs",
            "properties": {"userName": "rob", "clientIpAddress": ip, "protocol": "ssh", "message": "Successfully Connected.",
                "targetResourceId": "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/VM1"}})
        .to_string()
    };
    let lines = [bastion("203.0.113.10", "2026-03-10T09:00:00Z"), bastion("198.51.100.66", "2026-03-10T09:30:00Z")];
    std::fs::write(ev.join("PT1H.json"), lines.join("\n") + "\n").unwrap();
    let case = dir.path().join("case").display().to_string();
    azir(&["ingest", ev.to_str().unwrap(), "--case", &case, "--quiet"]);
    let out: Value = serde_json::from_str(&azir(&["hunt", "--case", &case, "--json"])).unwrap();
    let novel: Vec<&Value> = out["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["title"].as_str().unwrap().starts_with("Bastion session"))
        .collect();
    assert_eq!(novel.len(), 1, "{out:#}");
    assert_eq!(strings(&novel[0]["ips"]), ["198.51.100.66"]);
    assert_eq!(novel[0]["events"].as_array().unwrap().len(), 1);
    let e = &novel[0]["events"][0];
    assert!(
        e["provenance"]["evidence_path"].as_str().unwrap().ends_with("PT1H.json") && e["provenance"]["line"] == 2,
        "{e}"
    );
    let quiet: Value = serde_json::from_str(&azir(&["hunt", "--case", &case, "--json", "--no-builtin"])).unwrap();
    assert!(quiet["findings"].as_array().unwrap().iter().all(|f| f["kind"] != "novelty"), "{quiet:#}");
}

/// Two analysts (or a script and an analyst) hunting one case at once: every run succeeds, the
/// findings file is whole, and the custody chain stays one chain (each append reads the last
/// entry and appends under the file's lock; each findings write has its own temporary file).
#[test]
fn concurrent_hunts_on_one_case_all_succeed_and_keep_the_custody_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("demo");
    azir(&["demo", root.to_str().unwrap(), "--quiet"]);
    let case = root.join("case").display().to_string();
    let runs: Vec<std::process::Child> = (0..6)
        .map(|_| {
            Command::new(BIN)
                .args(["hunt", "--case", &case, "--json", "--threads", "1"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut counts = Vec::new();
    for r in runs {
        let o = r.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        counts.push(v["findings"].as_array().unwrap().len());
    }
    assert!(counts.windows(2).all(|w| w[0] == w[1]), "{counts:?}");
    let c = azir_store::Case::open(Path::new(&case)).unwrap();
    assert_eq!(azir_store::findings::read(&c).unwrap().len(), counts[0]);
    let leftovers: Vec<String> = std::fs::read_dir(azir_store::findings::dir(&c))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let v = Command::new(BIN).args(["case", "verify", &case]).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    let custody = std::fs::read_to_string(Path::new(&case).join("custody.jsonl")).unwrap();
    let seqs: Vec<u64> =
        custody.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>(), "one chain, no forked entries");
    assert_eq!(custody.lines().filter(|l| l.contains("\"action\":\"hunt\"")).count(), 1 + 6);
}
