//! End-to-end checks of the generated evidence tree.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use azir_demo::*;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("azir-demo-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The default demo, generated once for all read-only tests.
fn default_demo() -> &'static (PathBuf, DemoSummary) {
    static DEMO: OnceLock<(PathBuf, DemoSummary)> = OnceLock::new();
    DEMO.get_or_init(|| {
        // A static is never dropped, so this fixture lives under Cargo's per-target test scratch
        // directory (replaced on every run) instead of leaking into the system temp dir.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("azir-demo-default");
        let _ = std::fs::remove_dir_all(&dir);
        // AZIR_DEMO_TEST_SEED runs the read-only checks against another seed.
        let mut opts = DemoOptions::default();
        if let Some(seed) = std::env::var("AZIR_DEMO_TEST_SEED").ok().and_then(|s| s.parse().ok()) {
            opts.seed = seed;
        }
        let summary = generate(&dir, &opts).expect("generate");
        (dir, summary)
    })
}

/// Decompressed contents of the default demo, read once.
fn default_contents() -> &'static [(String, Vec<u8>)] {
    static C: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    C.get_or_init(|| {
        let (root, s) = default_demo();
        contents(root, &s.files)
    })
}

/// All JSON records of the default demo, with their file names.
fn default_records() -> &'static [(String, Value)] {
    static R: OnceLock<Vec<(String, Value)>> = OnceLock::new();
    R.get_or_init(|| {
        let mut v = Vec::new();
        for (name, data) in default_contents() {
            if name.ends_with(".json") {
                for r in records(name, data) {
                    v.push((name.clone(), r));
                }
            }
        }
        v
    })
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/")
}

/// Every logical file: (relative name, decompressed bytes); zip entries are expanded.
fn contents(root: &Path, files: &[PathBuf]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for f in files {
        let name = rel(root, f);
        let raw = std::fs::read(f).unwrap();
        if let Some(stripped) = name.strip_suffix(".gz") {
            let mut d = flate2::read::GzDecoder::new(&raw[..]);
            let mut buf = Vec::new();
            d.read_to_end(&mut buf).unwrap_or_else(|e| panic!("{name} does not decompress: {e}"));
            out.push((stripped.to_string(), buf));
        } else if name.ends_with(".zip") {
            let mut z = zip::ZipArchive::new(std::io::Cursor::new(raw)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!z.is_empty(), "{name} is empty");
            for i in 0..z.len() {
                let mut e = z.by_index(i).unwrap();
                let entry = e.name().unwrap().to_string();
                assert!(!entry.contains("..") && !entry.starts_with('/'), "path traversal in {name}");
                let mut buf = Vec::new();
                e.read_to_end(&mut buf).unwrap();
                out.push((format!("{name}!{entry}"), buf));
            }
        } else {
            out.push((name, raw));
        }
    }
    out
}

fn is_container_blob(name: &str) -> bool {
    name.contains("insights-logs-networksecuritygroupflowevent/") || name.contains("insights-logs-flowlogflowevent/")
}

/// Parses a JSON file the way its shape demands and returns its records.
fn records(name: &str, data: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(data).unwrap_or_else(|_| panic!("{name} is not UTF-8"));
    if name.ends_with("PT1H.json") && !is_container_blob(name) {
        return text
            .lines()
            .enumerate()
            .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}:{}: {e}", i + 1)))
            .collect();
    }
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    if let Some(r) = v.get("records").and_then(Value::as_array) {
        r.clone()
    } else if let Some(r) = v.get("value").and_then(Value::as_array) {
        r.clone()
    } else if let Some(r) = v.as_array().filter(|_| name.starts_with("network-config/")) {
        // `az network ... list` output: a bare array of resources.
        r.clone()
    } else {
        panic!("{name}: neither records nor value")
    }
}

#[test]
fn deterministic_same_seed_same_bytes() {
    let a = TempDir::new("det-a");
    let b = TempDir::new("det-b");
    let opts = DemoOptions { seed: 7, days: 4, scale: 1 };
    let sa = generate(&a.0, &opts).unwrap();
    let sb = generate(&b.0, &opts).unwrap();
    let fa: Vec<String> = sa.files.iter().map(|p| rel(&a.0, p)).collect();
    let fb: Vec<String> = sb.files.iter().map(|p| rel(&b.0, p)).collect();
    assert_eq!(fa, fb);
    assert_eq!(sa.records, sb.records);
    assert_eq!(sa.per_source, sb.per_source);
    for (pa, pb) in sa.files.iter().zip(&sb.files) {
        assert!(std::fs::read(pa).unwrap() == std::fs::read(pb).unwrap(), "{} differs", rel(&a.0, pa));
    }
    // Another seed changes the benign background but not the storyline.
    let c = TempDir::new("det-c");
    let sc = generate(&c.0, &DemoOptions { seed: 8, days: 4, scale: 1 }).unwrap();
    assert_ne!(sa.records, sc.records);
    assert_eq!(sa.story, sc.story);
}

#[test]
fn every_json_file_parses_and_has_records() {
    let mut seen = 0usize;
    for (name, data) in default_contents() {
        if name.ends_with(".json") {
            let r = records(name, data);
            assert!(!r.is_empty() || name.starts_with("entra/"), "{name} has no records");
            seen += 1;
        }
    }
    assert!(seen > 100, "only {seen} JSON files");
}

fn check_blob_path(name: &str) {
    // diagnostics/<container>/<prefix>/y=YYYY/m=MM/d=DD/h=HH/m=00[/macAddress=MAC]/PT1H.json
    let path = name.split('!').next_back().unwrap();
    let path = path.strip_prefix("diagnostics/").unwrap_or(path);
    let segs: Vec<&str> = path.split('/').collect();
    assert!(segs[0].starts_with("insights-"), "{name}: container");
    assert_eq!(*segs.last().unwrap(), "PT1H.json", "{name}");
    let y = segs.iter().position(|s| s.starts_with("y=")).unwrap_or_else(|| panic!("{name}: no y="));
    let prefix = &segs[1..y];
    match prefix[0] {
        "resourceId=" => {
            assert_eq!(prefix[1], "SUBSCRIPTIONS", "{name}");
            assert!(prefix[1..].iter().all(|s| *s == s.to_uppercase()), "{name}: resource id not upper-case");
        }
        p if p.starts_with("tenantId=") => assert_eq!(p, format!("tenantId={TENANT_ID}"), "{name}"),
        "flowLogResourceID=" => assert!(prefix[1].ends_with("_NETWORKWATCHERRG"), "{name}"),
        other => panic!("{name}: unexpected prefix {other}"),
    }
    let num = |seg: &str, key: &str, len: usize| {
        let v = seg.strip_prefix(key).unwrap_or_else(|| panic!("{name}: expected {key} got {seg}"));
        assert_eq!(v.len(), len, "{name}");
        v.parse::<u32>().unwrap_or_else(|_| panic!("{name}: {seg}"))
    };
    assert_eq!(num(segs[y], "y=", 4), 2026);
    assert!((1..=12).contains(&num(segs[y + 1], "m=", 2)));
    assert!((1..=31).contains(&num(segs[y + 2], "d=", 2)));
    assert!(num(segs[y + 3], "h=", 2) < 24);
    assert_eq!(segs[y + 4], "m=00", "{name}");
    match segs.len() - (y + 5) {
        1 => {}
        2 => {
            let mac = segs[y + 5].strip_prefix("macAddress=").unwrap_or_else(|| panic!("{name}"));
            assert!(mac.len() == 12 && mac.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
        }
        _ => panic!("{name}: unexpected segments"),
    }
}

#[test]
fn blob_paths_match_the_diagnostic_tree_pattern() {
    let (root, s) = default_demo();
    let mut n = 0;
    for (name, _) in default_contents() {
        if name.ends_with("PT1H.json") {
            check_blob_path(name);
            n += 1;
        }
    }
    assert!(n > 500, "{n} blobs");
    let names: Vec<String> = s.files.iter().map(|p| rel(root, p)).collect();
    assert!(names.iter().any(|n| n.ends_with("PT1H.json.gz")), "older blobs are gzipped");
    assert!(names.iter().any(|n| n.ends_with(".zip")));
    assert!(names.iter().any(|n| n.starts_with("activity/rest/")));
    assert!(names.iter().any(|n| n.starts_with("eventhub/")));
    assert!(names.iter().any(|n| n.starts_with("entra/signins-")));
    assert!(names.iter().any(|n| n == "entra/directoryAudits.json"));
    assert!(names.iter().any(|n| n.starts_with("loganalytics/SigninLogs_") && n.ends_with(".csv")));
    assert!(names.iter().any(|n| n.starts_with("loganalytics/AzureActivity_")));
    assert!(names.iter().any(|n| n.starts_with("aws/vpcflow-") && n.ends_with(".log")));
    assert!(names
        .iter()
        .any(|n| n.contains("insights-activity-logs/resourceId=/SUBSCRIPTIONS/") && n.contains("/d=09/h=14/m=00/")));
}

#[test]
fn seed_article_examples_are_present() {
    let all: Vec<(&str, &str)> =
        default_contents().iter().map(|(n, d)| (n.as_str(), std::str::from_utf8(d).expect("UTF-8"))).collect();
    let find =
        |needle: &str| -> Vec<&str> { all.iter().filter(|(_, d)| d.contains(needle)).map(|(n, _)| *n).collect() };
    for needle in [
        "/phpmyadmin/scripts/setup.php",
        "941320",
        "Rob Robertson",
        "Successfully Connected.",
        "AYAcUqAcAcAcAcAcASAcAcAc",
        "b5768deb-836b-41cc-803e-3f4de2f9e40b",
        "Chrome/77.0.3865.90",
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status",
        "40048 443 6 10 1673 1611943565 1611943577 ACCEPT OK",
        "443 40042 6 110 153235 1611943565 1611943577 ACCEPT OK",
        "<script>alert(\\\"x\\\")</script>",
        "=cmd|' /C calc'!A0",
    ] {
        assert!(!find(needle).is_empty(), "missing {needle}");
    }
    // The seed records keep their field values.
    let recs = default_records();
    let appgw = recs
        .iter()
        .find(|(_, r)| r["properties"]["requestUri"] == "/phpmyadmin/scripts/setup.php")
        .expect("phpmyadmin record");
    let p = &appgw.1["properties"];
    assert_eq!(p["httpStatus"], 404);
    assert_eq!(p["sentBytes"], 553);
    assert_eq!(p["timeTaken"], 205);
    assert_eq!(p["httpVersion"], "HTTP/1.0");
    let waf = recs.iter().find(|(_, r)| r["properties"]["ruleId"] == "941320").expect("941320");
    assert_eq!(waf.1["properties"]["action"], "Blocked");
    assert_eq!(waf.1["properties"]["message"], "Possible XSS Attack Detected - HTML Tag Handler");
    let rob =
        recs.iter().find(|(_, r)| r["eventDataId"] == "d0d36f97-b29c-4cd9-9d3d-ea2b92af3e9d").expect("Rob's NSG write");
    assert_eq!(rob.1["claims"]["name"], "Rob Robertson");
    assert_eq!(rob.1["caller"], SEED_NSG_CALLER);
    assert_eq!(rob.1["operationName"]["value"], "Microsoft.Network/networkSecurityGroups/write");
    assert!(rob.1["id"].as_str().unwrap().contains("/ticks/"));
    let bastion = recs
        .iter()
        .find(|(_, r)| {
            r["properties"]["message"] == "Successfully Connected."
                && r["properties"]["userAgent"].as_str().unwrap_or("").contains("Chrome/77")
        })
        .expect("seed Bastion record");
    assert_eq!(bastion.1["category"], "BastionAuditLogs");
}

#[test]
fn summary_counts_and_size() {
    let (root, s) = default_demo();
    let total: u64 = s.files.iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
    assert_eq!(total, s.bytes);
    assert!(total < 30 * 1024 * 1024, "demo is {total} bytes");
    assert!((10_000..100_000).contains(&s.records), "{} records", s.records);
    assert_eq!(s.per_source.values().sum::<u64>(), s.records);
    for src in [
        "activity",
        "signin",
        "audit",
        "provisioning",
        "identity_protection",
        "graph_activity",
        "keyvault",
        "storage",
        "appgw_access",
        "waf",
        "bastion",
        "firewall",
        "nsg_flow",
        "vnet_flow",
        "vpc_flow",
        "network_config",
    ] {
        assert!(s.per_source.get(src).copied().unwrap_or(0) > 0, "no {src} records");
    }
    assert!(s.flow_tuples > s.per_source["nsg_flow"]);
    assert!(s.window_start <= s.attack_start && s.attack_end < s.window_end);
    assert!(s.files.iter().all(|f| f.starts_with(root)));
    // Every record counted is in a file: JSON records + CSV rows + text lines.
    let mut n = default_records().len() as u64;
    for (name, data) in default_contents() {
        if name.ends_with(".csv") {
            n += csv_rows(data).len() as u64;
        } else if name.ends_with(".log") {
            n += data.split(|b| *b == b'\n').filter(|l| !l.is_empty() && !l.starts_with(b"version ")).count() as u64;
        }
    }
    assert_eq!(n, s.records);
}

/// Minimal RFC 4180 reader (rows after the header).
fn csv_rows(data: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(data).unwrap();
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows.remove(0);
    rows
}

fn la_time(s: &str) -> DateTime<Utc> {
    Utc.from_utc_datetime(
        &NaiveDateTime::parse_from_str(s, "%m/%d/%Y, %I:%M:%S%.f %p").unwrap_or_else(|e| panic!("{s}: {e}")),
    )
}

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}")).with_timezone(&Utc)
}

#[test]
fn attack_events_are_present_in_order() {
    let (_, s) = default_demo();
    let recs = default_records();
    let files = default_contents();
    let mut found: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    let mut first = |step: &'static str, t: DateTime<Utc>| {
        let e = found.entry(step).or_insert(t);
        if t < *e {
            *e = t;
        }
    };
    let p = |r: &Value, k: &str| r["properties"][k].as_str().unwrap_or("").to_string();
    for (name, r) in recs {
        let props = &r["properties"];
        // Application Gateway and WAF.
        if props["clientIP"] == SCANNER_IP && props["httpStatus"] == 404 {
            let t = r["timeStamp"].as_str().or(r["time"].as_str()).unwrap();
            first("recon_scan", ts(t));
        }
        if props["ruleId"] == "941320" {
            first("waf_block", ts(r["time"].as_str().unwrap()));
        }
        // Graph sign-ins.
        if name.starts_with("entra/signins-") && r["ipAddress"] == ATTACKER_IP {
            let t = ts(r["createdDateTime"].as_str().unwrap());
            match (r["status"]["errorCode"].as_u64().unwrap(), r["appDisplayName"].as_str().unwrap()) {
                (500121, _) => first("mfa_fatigue", t),
                (0, "Azure Portal") => first("compromise", t),
                (0, "Microsoft Azure CLI") => first("cli_signin", t),
                (50126, _) => first("retry", t),
                _ => {}
            }
            assert_eq!(r["userPrincipalName"], COMPROMISED_USER);
            assert_eq!(r["location"]["countryOrRegion"], ATTACKER_COUNTRY);
        }
        if r["category"] == "MicrosoftGraphActivityLogs" && r["callerIpAddress"] == ATTACKER_IP {
            first("graph_recon", ts(r["time"].as_str().unwrap()));
        }
        // Directory audits (Graph page).
        if name == "entra/directoryAudits.json" {
            let t = ts(r["activityDateTime"].as_str().unwrap());
            match r["activityDisplayName"].as_str().unwrap() {
                "Add application" => first("backdoor_app", t),
                "Update application – Certificates and secrets management " => first("app_secret", t),
                "Add service principal credentials" => first("sp_credentials", t),
                "Add member to role" => {
                    assert!(r["targetResources"][0]["modifiedProperties"].to_string().contains("Global Administrator"));
                    first("global_admin", t)
                }
                "Reset user password" => first("containment", t),
                _ => {}
            }
        }
        // Activity Log REST pages.
        if name.starts_with("activity/rest/") && r["eventName"]["value"] == "BeginRequest" {
            let t = ts(r["eventTimestamp"].as_str().unwrap());
            let op = r["operationName"]["value"].as_str().unwrap();
            let by_attacker = r["caller"] == COMPROMISED_USER && r["httpRequest"]["clientIpAddress"] == ATTACKER_IP;
            match op {
                "Microsoft.Authorization/roleAssignments/write" if by_attacker => {
                    let body = p(r, "requestbody");
                    assert!(body.contains("8e3af657-a8ff-443c-a75c-2fe8c4bcb635"), "Owner role");
                    let parsed: Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(parsed["Properties"]["Scope"], format!("/subscriptions/{SUB_PROD}"));
                    first("role_assignment", t)
                }
                "Microsoft.Network/networkSecurityGroups/securityRules/write" if by_attacker => {
                    let body: Value = serde_json::from_str(&p(r, "requestbody")).unwrap();
                    assert_eq!(body["properties"]["sourceAddressPrefix"], "*");
                    assert_eq!(body["properties"]["access"], "Allow");
                    assert!(body["properties"]["destinationPortRanges"].to_string().contains("3389"));
                    first("nsg_open", t)
                }
                "Microsoft.Compute/virtualMachines/runCommand/action" if by_attacker => first("run_command", t),
                "Microsoft.Compute/snapshots/write" if by_attacker => first("snapshot", t),
                "Microsoft.Compute/snapshots/beginGetAccess/action" if by_attacker => first("snapshot_export", t),
                "Microsoft.Network/networkSecurityGroups/securityRules/delete" => first("nsg_closed", t),
                _ => {}
            }
        }
        // Key Vault and Storage.
        if r["category"] == "AuditEvent" && r["callerIpAddress"] == ATTACKER_IP {
            let t = ts(r["time"].as_str().unwrap());
            match r["operationName"].as_str().unwrap() {
                "SecretList" => first("kv_list", t),
                "SecretGet" => first("kv_get", t),
                _ => {}
            }
        }
        if r["category"] == "StorageRead"
            && r["operationName"] == "GetBlob"
            && r["callerIpAddress"].as_str().unwrap().starts_with(ATTACKER_IP)
        {
            first("blob_burst", ts(r["time"].as_str().unwrap()));
        }
        // Flow logs.
        if r["category"] == "NetworkSecurityGroupFlowEvent" {
            for group in props["flows"].as_array().unwrap() {
                for f in group["flows"].as_array().unwrap() {
                    for tup in f["flowTuples"].as_array().unwrap() {
                        let parts: Vec<&str> = tup.as_str().unwrap().split(',').collect();
                        assert_eq!(parts.len(), 13, "NSG v2 tuple {tup}");
                        let t = Utc.timestamp_opt(parts[0].parse().unwrap(), 0).unwrap();
                        if parts[1] == ATTACKER_IP && parts[4] == "22" && parts[7] == "A" {
                            assert!(group["rule"].as_str().unwrap().contains(OPENED_RULE));
                            first("ssh_in", t);
                        }
                        if parts[2] == EXFIL_DST && parts[8] == "C" && parts[10].parse::<u64>().unwrap() > 100_000_000 {
                            first("exfil", t - chrono::Duration::minutes(5));
                        }
                    }
                }
            }
        }
        if r["category"] == "FlowLogFlowEvent" {
            assert_eq!(r["flowLogVersion"], 4);
            for flow in r["flowRecords"]["flows"].as_array().unwrap() {
                for g in flow["flowGroups"].as_array().unwrap() {
                    for tup in g["flowTuples"].as_array().unwrap() {
                        let parts: Vec<&str> = tup.as_str().unwrap().split(',').collect();
                        assert_eq!(parts.len(), 13, "VNet tuple {tup}");
                        assert_eq!(parts[0].len(), 13, "ms timestamps");
                        if parts[2] == EXFIL_DST && parts[7] == "D" {
                            first("exfil_denied", Utc.timestamp_millis_opt(parts[0].parse().unwrap()).unwrap());
                        }
                    }
                }
            }
        }
    }
    // Log Analytics CSVs.
    for (name, data) in files {
        if name.starts_with("loganalytics/SigninLogs_") {
            for row in csv_rows(data) {
                if row[2] == SPRAY_IP && row[3] == "50126" {
                    first("spray", la_time(&row[0]));
                }
            }
        }
        if name.starts_with("loganalytics/AzureActivity_") {
            for row in csv_rows(data) {
                if row[1].contains("LISTKEYS") && row[8] == ATTACKER_IP {
                    first("dev_listkeys", la_time(&row[0]));
                }
            }
        }
        if name.starts_with("aws/vpcflow-") {
            for line in std::str::from_utf8(data).unwrap().lines() {
                let f: Vec<&str> = line.split(' ').collect();
                if f.len() == 14 && f[3] == ATTACKER_IP && f[6] == "22" && f[12] == "ACCEPT" {
                    first("aws_ssh", Utc.timestamp_opt(f[10].parse().unwrap(), 0).unwrap());
                }
            }
        }
    }

    let story = storyline();
    let mut last = s.window_start;
    for step in &story {
        let got = *found.get(step.step).unwrap_or_else(|| panic!("story step {} not found in the evidence", step.step));
        let skew = (got - step.time).num_seconds().abs();
        assert!(skew <= 120, "{}: evidence at {got}, story says {}", step.step, step.time);
        assert!(got >= last, "{} at {got} is before the previous step at {last}", step.step);
        last = got;
    }
    assert_eq!(found.len(), story.len(), "unexpected steps: {:?}", found.keys().collect::<Vec<_>>());
}

#[test]
fn spray_and_mfa_fatigue_shapes() {
    let files = default_contents();
    let csv = files.iter().find(|(n, _)| n.starts_with("loganalytics/SigninLogs_")).unwrap();
    let rows = csv_rows(&csv.1);
    let spray: Vec<&Vec<String>> = rows.iter().filter(|r| r[2] == SPRAY_IP).collect();
    let users: std::collections::BTreeSet<&str> = spray.iter().map(|r| r[1].as_str()).collect();
    assert!(users.len() >= 15, "spray hits {} users", users.len());
    assert!(spray.iter().filter(|r| r[3] == "50126").count() >= 50);
    assert!(spray.iter().any(|r| r[1] == COMPROMISED_USER && r[3] == "50076"));
    let first = spray.iter().map(|r| la_time(&r[0])).min().unwrap();
    let last = spray.iter().map(|r| la_time(&r[0])).max().unwrap();
    assert!((last - first).num_minutes() >= 25 && (last - first).num_minutes() <= 35);
    // Nested columns are JSON strings.
    let status: Value = serde_json::from_str(&spray[0][8]).unwrap();
    assert!(status["errorCode"].is_u64());
    let recs = default_records();
    let fatigue = recs
        .iter()
        .filter(|(_, r)| {
            r["ipAddress"] == ATTACKER_IP && (r["status"]["errorCode"] == 500121 || r["status"]["errorCode"] == 50074)
        })
        .count();
    assert!(fatigue >= 20, "{fatigue} MFA fatigue records");
    // Diagnostic sign-in envelopes carry resultType as a string.
    let diag = recs.iter().find(|(_, r)| r["category"] == "SignInLogs").unwrap();
    assert!(diag.1["resultType"].is_string());
}

#[test]
fn scanner_port_scan_is_denied_in_the_web_nsg_flow_logs() {
    // (time, dst, dport, decision, rule) of every NSG v2 tuple from the scanner.
    let mut tuples = Vec::new();
    for (name, r) in default_records() {
        if r["category"] != "NetworkSecurityGroupFlowEvent" {
            continue;
        }
        for group in r["properties"]["flows"].as_array().unwrap() {
            let rule = group["rule"].as_str().unwrap();
            for f in group["flows"].as_array().unwrap() {
                for tup in f["flowTuples"].as_array().unwrap() {
                    let parts: Vec<&str> = tup.as_str().unwrap().split(',').collect();
                    if parts[1] != SCANNER_IP {
                        continue;
                    }
                    assert!(name.contains("/NETWORKSECURITYGROUPS/NSG-WEB/"), "{name}: {tup}");
                    assert_eq!(parts[5..9], ["T", "I", "D", "B"], "a denied inbound TCP tuple: {tup}");
                    assert!(parts[9..].iter().all(|c| c.is_empty()), "denied tuples carry no counters: {tup}");
                    let t = Utc.timestamp_opt(parts[0].parse().unwrap(), 0).unwrap();
                    tuples.push((t, parts[2].to_string(), parts[4].parse::<u32>().unwrap(), rule.to_string()));
                }
            }
        }
    }
    assert!(!tuples.is_empty(), "no flow tuple from the scanner");
    assert!(tuples.iter().all(|x| x.3 == "DefaultRule_DenyAllInBound"), "{tuples:?}");
    // A vertical scan of vm-web-01, management ports included, during the recon phase.
    let ports: std::collections::BTreeSet<u32> = tuples.iter().filter(|x| x.1 == SSH_TARGET_IP).map(|x| x.2).collect();
    assert!(ports.len() >= 50, "{} distinct ports scanned", ports.len());
    assert!(ports.contains(&22) && ports.contains(&3389) && ports.contains(&80));
    let first = tuples.iter().map(|x| x.0).min().unwrap();
    let last = tuples.iter().map(|x| x.0).max().unwrap();
    assert!(first >= ts(RECON_START) && last < ts(SPRAY_START), "{first} .. {last}");
    assert!((last - first).num_minutes() >= 2 && (last - first).num_minutes() <= 15, "{first} .. {last}");
}

#[test]
fn a_waf_block_is_followed_by_a_success_for_the_same_client() {
    let recs = default_records();
    let time = |r: &Value| ts(r["timeStamp"].as_str().or(r["time"].as_str()).unwrap());
    let blocks: Vec<(DateTime<Utc>, &str)> = recs
        .iter()
        .filter(|(_, r)| r["category"] == "ApplicationGatewayFirewallLog" && r["properties"]["action"] == "Blocked")
        .map(|(_, r)| (time(r), r["properties"]["clientIp"].as_str().unwrap()))
        .collect();
    let successes: Vec<(DateTime<Utc>, &str)> = recs
        .iter()
        .filter(|(_, r)| r["category"] == "ApplicationGatewayAccessLog" && r["properties"]["httpStatus"] == 200)
        .map(|(_, r)| (time(r), r["properties"]["clientIP"].as_str().unwrap()))
        .collect();
    let ten = chrono::Duration::minutes(10);
    let pairs: Vec<(&DateTime<Utc>, &DateTime<Utc>, &str)> = blocks
        .iter()
        .flat_map(|(tb, ip)| {
            successes
                .iter()
                .filter(move |(ts, c)| c == ip && ts > tb && *ts - *tb <= ten)
                .map(move |(ts, c)| (tb, ts, *c))
        })
        .collect();
    assert!(!pairs.is_empty(), "no WAF block followed by a 2xx for the same client");
    // Only the scanner, after its gateway scan and before the spray.
    assert!(pairs.iter().all(|p| p.2 == SCANNER_IP), "{pairs:?}");
    let success = pairs.iter().map(|p| *p.1).max().unwrap();
    assert!(success > ts(RECON_START) && success < ts(SPRAY_START), "{success}");
}
