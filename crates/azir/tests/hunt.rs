//! End to end: `azir demo` then `azir hunt --json` finds the storyline's attacks, links each to
//! its evidence bytes, does not flag the known-benign activity, and stores the findings in the
//! case (a re-run replaces them).

use azir_demo as story;
use serde_json::Value;
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

    let mfa = attack("MFA fatigue", story::ATTACKER_IP);
    assert_eq!(mfa["kind"], "event_count");
    assert_eq!(strings(&mfa["users"]), [story::COMPROMISED_USER]);
    assert!(mfa["first"].as_i64() >= Some(at(story::MFA_FATIGUE_START)));
    assert!(mfa["last"].as_i64() < Some(at(story::COMPROMISE_TIME)));

    let ga = attack("privileged Entra ID directory role", story::ATTACKER_IP);
    assert_eq!(ga["level"], "critical");
    let creds = attack("Credentials added", story::ATTACKER_IP);
    assert!(strings(&creds["apps"]).contains(&story::BACKDOOR_APP.to_string()));

    let kv = attack("Key Vault secret enumeration", story::ATTACKER_IP);
    assert!(kv["events"].as_array().unwrap().len() >= 8);
    assert!(kv["first"].as_i64() >= Some(at(story::KV_LIST_TIME)));

    let scan = attack("Web scanning", story::SCANNER_IP);
    assert!(scan["first"].as_i64() >= Some(at(story::RECON_START)));
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
