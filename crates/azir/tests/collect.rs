//! End to end: `azir collect` against the loopback fake tenant (token endpoint, ARM, Graph),
//! into a case the other commands then use unchanged; a rerun resumes without duplicates; a
//! 403 on one source leaves the others complete and exits 6; `--dry-run` calls nothing but the
//! subscription list; diagnostic containers come from Azurite.

#[path = "azurite/mod.rs"]
mod azurite;
mod common;

use azir_azure::fake::{FakeConfig, FakeTenant, Fault};
use azir_azure::Source;
use common::{p, BIN};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

const SINCE: &str = "2024-05-01T00:00:00Z";
const UNTIL: &str = "2024-05-04T00:00:00Z";

fn fake(faults: Vec<Fault>) -> FakeTenant {
    FakeTenant::start(FakeConfig { faults, ..FakeConfig::default() }).expect("the fake tenant starts")
}

/// Runs `azir` with the app's client secret in the environment (never on the command line).
fn collect(fake: &FakeTenant, args: &[&str]) -> (i32, String, String) {
    let cfg = fake.config();
    let o = Command::new(BIN)
        .args(args)
        .env("AZURE_TENANT_ID", &cfg.tenant)
        .env("AZURE_CLIENT_ID", &cfg.client_id)
        .env("AZURE_CLIENT_SECRET", &cfg.client_secret)
        .env_remove("AZURE_AUTHORITY_HOST")
        .stdin(Stdio::null())
        .output()
        .expect("azir runs");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    (o.status.code().unwrap_or(-1), String::from_utf8(o.stdout).unwrap(), err)
}

fn base_args<'a>(fake: &'a FakeTenant, case: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "--json",
        "collect",
        "--case",
        case,
        "--out",
        out,
        "--endpoint",
        &fake.base_url,
        "--auth",
        "secret",
        "--since",
        SINCE,
        "--until",
        UNTIL,
        "--graph-rate",
        "1000",
        // The fake's data is from 2024, older than any service keeps.
        "--beyond-retention",
    ]
}

/// `SELECT source, count(*)` of the case's events.
fn events_per_source(case: &str) -> BTreeMap<String, u64> {
    let out = common::azir(&[
        "query",
        "--case",
        case,
        "--format",
        "csv",
        "SELECT source, count(*) AS n FROM events GROUP BY source",
    ]);
    out.lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .map(|(s, n)| (s.to_string(), n.trim().parse().unwrap()))
        .collect()
}

fn expected(fake: &FakeTenant, sources: &[Source]) -> u64 {
    let (s, u) = (SINCE.parse().unwrap(), UNTIL.parse().unwrap());
    sources.iter().map(|&src| fake.expected_ids(src, None, s, u).len() as u64).sum()
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn a_fake_tenant_becomes_a_case_and_a_rerun_adds_nothing() {
    let fake = fake(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let (case, out) = (dir.path().join("case"), dir.path().join("collected"));
    let args = base_args(&fake, p(&case), p(&out));
    let (code, stdout, err) = collect(&fake, &args);
    assert_eq!(code, 0, "{stdout}\n{err}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["collect"]["failures"].as_array().unwrap().len(), 0, "{v:#}");
    assert_eq!(v["ingest"]["bad"], 0, "{v:#}");

    // Every record of the fake is in the case, once, under the source azir parses it as.
    let got = events_per_source(p(&case));
    let signins = expected(
        &fake,
        &[
            Source::SignIns,
            Source::NonInteractiveSignIns,
            Source::ServicePrincipalSignIns,
            Source::ManagedIdentitySignIns,
        ],
    );
    assert_eq!(got.get("signin").copied(), Some(signins), "{got:?}");
    assert_eq!(got.get("activity").copied(), Some(expected(&fake, &[Source::Activity])), "{got:?}");
    assert_eq!(got.get("audit").copied(), Some(expected(&fake, &[Source::DirectoryAudits])), "{got:?}");
    assert_eq!(got.get("provisioning").copied(), Some(expected(&fake, &[Source::Provisioning])), "{got:?}");
    assert_eq!(
        got.get("identity_protection").copied(),
        Some(expected(&fake, &[Source::RiskyUsers, Source::RiskDetections])),
        "{got:?}"
    );
    let resources = common::azir(&["query", "--case", p(&case), "--format", "csv", "SELECT count(*) FROM resources"]);
    let resources: u64 = resources.lines().nth(1).unwrap().trim().parse().unwrap();
    assert_eq!(resources, expected(&fake, &[Source::Network]), "network lists, disks and snapshots included");

    // Custody: every landed file, hashed, before the ingest that read it; the completeness record
    // holds one complete line per window.
    let custody = jsonl(&case.join("custody.jsonl"));
    let collected: Vec<&Value> = custody.iter().filter(|e| e["action"] == "collected").collect();
    assert_eq!(collected.len() as u64, v["files"].as_u64().unwrap());
    let first_ingest = custody.iter().position(|e| e["action"] == "evidence-ingested").unwrap();
    assert!(custody.iter().rposition(|e| e["action"] == "collected").unwrap() < first_ingest);
    for e in &collected {
        let file = out.join(e["path"].as_str().unwrap());
        let bytes = std::fs::read(&file).unwrap();
        use sha2::Digest;
        let sha: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(e["sha256"].as_str().unwrap(), sha, "{}", file.display());
    }
    let windows = jsonl(&case.join("collection.jsonl"));
    assert!(windows.len() > 20, "{}", windows.len());
    assert!(windows.iter().all(|w| w["status"] == "complete"), "{windows:#?}");
    let records: u64 = windows.iter().map(|w| w["records"].as_u64().unwrap()).sum();
    assert_eq!(records, v["collect"]["records"].as_u64().unwrap());

    // The secret reached no file of the case or of the collection.
    let secret = &fake.config().client_secret;
    for f in files_under(dir.path()) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(!text.contains(secret.as_str()), "{} holds the secret", f.display());
        for t in fake.issued_tokens() {
            assert!(!text.contains(&t), "{} holds a token", f.display());
        }
    }

    // The other commands use the case as they find it.
    let hunt = common::azir(&["--json", "hunt", "--case", p(&case)]);
    assert!(serde_json::from_str::<Value>(&hunt).is_ok(), "{hunt}");
    let tl = common::azir(&["timeline", "--case", p(&case), "--source", "signin", "--format", "csv"]);
    assert_eq!(tl.lines().count() as u64, signins + 1);
    let (code, _, _) = common::run(&["case", "verify", p(&case)]);
    assert_eq!(code, 0);

    // Rerun: every window is in the checkpoint, nothing new lands, nothing is ingested twice.
    let before = events_per_source(p(&case));
    let (code, stdout, err) = collect(&fake, &args);
    assert_eq!(code, 0, "{stdout}\n{err}");
    let v2: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v2["collect"]["records"], 0, "{v2:#}");
    assert_eq!(events_per_source(p(&case)), before);
    let custody2 = jsonl(&case.join("custody.jsonl"));
    assert_eq!(custody2.iter().filter(|e| e["action"] == "collected").count(), collected.len());
}

#[test]
fn a_refused_source_is_recorded_and_the_others_complete() {
    let fake = fake(vec![Fault::non_premium("auditLogs/signIns")]);
    let dir = tempfile::tempdir().unwrap();
    let (case, out) = (dir.path().join("case"), dir.path().join("collected"));
    let mut args = base_args(&fake, p(&case), p(&out));
    args.extend(["--sources", "signins,audit,activity"]);
    let (code, stdout, err) = collect(&fake, &args);
    assert_eq!(code, 6, "{stdout}\n{err}");
    let windows = jsonl(&case.join("collection.jsonl"));
    let refused: Vec<&Value> = windows.iter().filter(|w| w["status"] == "forbidden").collect();
    assert!(!refused.is_empty(), "{windows:#?}");
    assert!(refused.iter().all(|w| w["source"] == "signins"));
    assert_eq!(refused[0]["error_code"], "Authentication_RequestFromNonPremiumTenantOrB2CTenant");
    assert_eq!(refused[0]["http_status"], 403);
    let got = events_per_source(p(&case));
    assert_eq!(got.get("audit").copied(), Some(expected(&fake, &[Source::DirectoryAudits])), "{got:?}");
    assert_eq!(got.get("activity").copied(), Some(expected(&fake, &[Source::Activity])), "{got:?}");
    assert_eq!(got.get("signin"), None);
    // The table output names it too.
    let args: Vec<&str> = args.into_iter().filter(|a| *a != "--json").collect();
    let (code, stdout, _) = collect(&fake, &args);
    assert_eq!(code, 6);
    assert!(stdout.contains("forbidden") && stdout.contains("NonPremium"), "{stdout}");
    // And so does the incident report, in its evidence appendix (open, since a window is missing).
    let html = dir.path().join("report.html");
    common::azir(&["report", "--case", p(&case), "-o", p(&html)]);
    let html = std::fs::read_to_string(&html).unwrap();
    let at = html.find("<b>Live collection</b>").expect("a live-collection section");
    assert!(html[..at].ends_with("<details class=\"appendix\" open><summary>"), "{}", &html[at - 60..at]);
    let gaps = &html[html.find("id=\"t-collection-gaps\"").expect("the table of incomplete windows")..];
    let gaps = &gaps[..gaps.find("</table>").unwrap()];
    assert!(
        gaps.contains("Authentication_RequestFromNonPremiumTenantOrB2CTenant") && gaps.contains("forbidden"),
        "{gaps}"
    );
    assert!(!gaps.contains(">audit<"), "complete sources are not listed as gaps: {gaps}");
}

/// Without `--beyond-retention`, a range older than the services keep is not asked: each
/// source and scope gets one `expired` record, the run succeeds, and only the network (current
/// state) and risky users (no retention) are collected.
#[test]
fn ranges_beyond_retention_are_recorded_not_asked() {
    let fake = fake(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let (case, out) = (dir.path().join("case"), dir.path().join("collected"));
    let args: Vec<&str> =
        base_args(&fake, p(&case), p(&out)).into_iter().filter(|a| *a != "--beyond-retention").collect();
    let (code, stdout, err) = collect(&fake, &args);
    assert_eq!(code, 0, "{stdout}\n{err}");
    let windows = jsonl(&case.join("collection.jsonl"));
    let expired: Vec<&Value> = windows.iter().filter(|w| w["status"] == "expired").collect();
    // 7 Graph sources in the tenant, the Activity Log in each of 2 subscriptions.
    assert_eq!(expired.len(), 9, "{windows:#?}");
    assert!(expired.iter().all(|w| w["start"] == "2024-05-01T00:00:00Z" && w["requests"] == 0), "{expired:#?}");
    assert!(expired.iter().any(|w| w["source"] == "signins" && w["reason"].as_str().unwrap().contains("30 days")));
    let got = events_per_source(p(&case));
    assert_eq!(got.get("signin"), None, "{got:?}");
    assert_eq!(got.get("identity_protection").copied(), Some(expected(&fake, &[Source::RiskyUsers])), "{got:?}");
    // Risky users' pages only (30 records, 8 a page, 3 day windows: 6 requests); asking the
    // expired sources too would add at least 3 day windows each.
    assert_eq!(fake.stats().graph_requests, 6, "only risky users asked of Graph");
}

#[test]
fn dry_run_plans_without_collecting() {
    let fake = fake(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let (case, out) = (dir.path().join("case"), dir.path().join("collected"));
    let mut args = base_args(&fake, p(&case), p(&out));
    args.push("--dry-run");
    let (code, stdout, err) = collect(&fake, &args);
    assert_eq!(code, 0, "{stdout}\n{err}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let entries = v["plan"]["entries"].as_array().unwrap();
    let activity: Vec<&Value> = entries.iter().filter(|e| e["source"] == "activity").collect();
    assert_eq!(activity.len(), 2, "one per subscription: {v:#}");
    assert_eq!(activity[0]["windows"], 3, "three day windows");
    assert!(!case.exists() && !out.exists(), "a dry run writes nothing");
    assert_eq!(fake.stats().graph_requests, 0);
    // Bad options are errors that say which.
    let (code, _, err) = collect(&fake, &[&args[..], &["--sources", "signins,bogus"]].concat());
    assert_eq!(code, 1);
    assert!(err.contains("bogus"), "{err}");
    let (code, _, err) = collect(&fake, &[&args[..], &["--window", "10s"]].concat());
    assert_eq!(code, 1);
    assert!(err.contains("--window"), "{err}");
}

#[test]
fn diagnostic_containers_come_from_storage() {
    let fake = fake(vec![]);
    let az = azurite::azurite();
    // A name of its own: Azurite may be shared with other tests.
    let container = az.container("insights-logs-nsgflow");
    let blob = "resourceId=/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG1/y=2024/m=05/d=02/h=10/m=00/macAddress=000D3A000001/PT1H.json";
    let record = serde_json::json!({"records": [{"time": "2024-05-02T10:00:10.0000000Z", "systemId": "x",
        "category": "NetworkSecurityGroupFlowEvent", "resourceId": "/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG1",
        "operationName": "NetworkSecurityGroupFlowEvents", "properties": {"Version": 2, "flows": [{"rule": "DefaultRule_DenyAllInBound",
        "flows": [{"mac": "000D3A000001", "flowTuples": ["1714644010,203.0.113.9,10.0.0.4,50000,22,T,I,D,B,,,,"]}]}]}}]});
    let url = format!("{}?{}", az.url(&container, blob), azurite::account_sas());
    azurite::put(&url, &[("x-ms-blob-type", "BlockBlob".to_string())], record.to_string().as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let (case, out) = (dir.path().join("case"), dir.path().join("collected"));
    let account = format!("{}/{}", az.base, azurite::ACCOUNT);
    let mut args = base_args(&fake, p(&case), p(&out));
    args.extend(["--sources", "storage", "--storage-account", &account, "--storage-container", &container]);
    args.extend(["--storage-key-env", "AZIR_TEST_STORAGE_KEY"]);
    let o = Command::new(BIN)
        .args(&args)
        .env("AZIR_TEST_STORAGE_KEY", azurite::KEY)
        .env("AZURE_TENANT_ID", &fake.config().tenant)
        .env("AZURE_CLIENT_ID", &fake.config().client_id)
        .env("AZURE_CLIENT_SECRET", &fake.config().client_secret)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["storage"][0]["summary"]["downloaded"], 1, "{v:#}");
    let flows =
        common::azir(&["query", "--case", p(&case), "--format", "csv", "SELECT DstPortNumber, DvcAction FROM network"]);
    assert_eq!(flows.lines().nth(1), Some("22,Deny"), "{flows}");
    let windows = jsonl(&case.join("collection.jsonl"));
    assert_eq!(windows.iter().filter(|w| w["kind"] == "storage").count(), 1);
    // The key is in no file.
    for f in files_under(dir.path()) {
        assert!(!String::from_utf8_lossy(&std::fs::read(&f).unwrap()).contains(azurite::KEY), "{}", f.display());
    }
}
