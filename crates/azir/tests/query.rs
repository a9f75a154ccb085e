//! `azir query` end to end on the demo case: answers agree with `azir case show`, every output
//! format is well-formed and escaped, errors name what exists.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_azir");

fn azir(args: &[&str]) -> Output {
    Command::new(BIN).args(args).stdin(Stdio::null()).output().expect("azir runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs azir and expects exit code `code`, returning (stdout, stderr).
fn azir_code(args: &[&str], code: i32) -> (String, String) {
    let o = azir(args);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(code), "azir {args:?} exited {:?}\nstdout:\n{out}\nstderr:\n{err}", o.status);
    assert!(!err.contains("panicked"), "azir {args:?} panicked:\n{err}");
    (out, err)
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// The demo case, generated and ingested once per test process.
fn case() -> &'static str {
    static CASE: OnceLock<String> = OnceLock::new();
    CASE.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
        for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(pid) = name.strip_prefix("query-demo-") {
                if Path::new("/proc").is_dir() && !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir: PathBuf = root.join(format!("query-demo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        azir_code(&["demo", p(&dir)], 0);
        p(&dir.join("case")).to_string()
    })
}

fn query(extra: &[&str]) -> String {
    let mut args = vec!["query", "--case", case()];
    args.extend_from_slice(extra);
    azir_code(&args, 0).0
}

fn jsonl(out: &str) -> Vec<Value> {
    out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:.300}"))).collect()
}

#[test]
fn counts_agree_with_case_show() {
    let show: Value = serde_json::from_str(&azir_code(&["--json", "case", "show", case()], 0).0).unwrap();
    let rows = jsonl(&query(&["--format", "jsonl", "SELECT source, count(*) AS n FROM events GROUP BY source"]));
    let per_source: BTreeMap<String, u64> =
        rows.iter().map(|r| (r["source"].as_str().unwrap().to_string(), r["n"].as_u64().unwrap())).collect();
    assert_eq!(per_source.values().sum::<u64>(), show["events"].as_u64().unwrap(), "{per_source:?}");
    // One record is one event for the log sources of the identity and control planes.
    for src in ["signin", "activity", "audit"] {
        let want = show["by_source"][src].as_u64().unwrap_or(0);
        assert!(want > 0, "the demo has {src} records: {show}");
        assert_eq!(per_source.get(src).copied().unwrap_or(0), want, "{src}");
    }
    let flows = jsonl(&query(&["--format", "jsonl", "SELECT count(*) AS n FROM network"]));
    assert_eq!(flows[0]["n"], show["flows"]);
    let m = jsonl(&query(&["--format", "jsonl", "SELECT count(*) AS streams, sum(records) AS records FROM manifest"]));
    assert_eq!(m[0]["streams"], show["streams"]);
    assert_eq!(m[0]["records"], show["records"]);
}

#[test]
fn the_attacker_from_sql() {
    let attacker = azir_demo::ATTACKER_IP;
    let out = query(&[
        "--format",
        "jsonl",
        "SELECT SrcIpAddr, count(*) AS n FROM events WHERE SrcIpAddr IS NOT NULL AND NOT is_private(SrcIpAddr) \
         GROUP BY SrcIpAddr ORDER BY n DESC",
    ]);
    let rows = jsonl(&out);
    assert!(rows.iter().any(|r| r["SrcIpAddr"] == attacker), "{out}");
    assert!(rows.iter().all(|r| !r["SrcIpAddr"].as_str().unwrap().starts_with("10.")), "{out}");
}

#[test]
fn table_format_is_aligned_and_terminal_safe() {
    let (out, err) = azir_code(
        &["query", "--case", case(), "SELECT 'a' || chr(27) || '[31mred' AS x, 1 AS one UNION ALL SELECT 'bb', 22"],
        0,
    );
    assert!(!out.contains('\u{1b}'), "escape reached the terminal: {out:?}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("x ") && lines[0].ends_with("one"), "{out}");
    assert!(lines[1].starts_with("---"), "{out}");
    assert_eq!(lines.len(), 4, "{out}");
    assert!(err.contains("(2 rows)"), "{err}");
    // At most 1000 rows, with a note saying there are more.
    let (out, err) = azir_code(&["query", "--case", case(), "SELECT * FROM generate_series(1, 1500)"], 0);
    assert_eq!(out.lines().count(), 1002, "header, rule, 1000 rows");
    assert!(err.contains("1000 rows shown; more exist"), "{err}");
    // csv prints them all.
    assert_eq!(query(&["--format", "csv", "SELECT * FROM generate_series(1, 1500)"]).lines().count(), 1501);
    // Cells with line breaks (raw JSON) stay inside their quoted cell.
    let out = query(&["--format", "csv", "--limit", "7", "SELECT * FROM events"]);
    assert_eq!(csv::Reader::from_reader(out.as_bytes()).records().count(), 7);
}

#[test]
fn csv_cells_cannot_start_formulas() {
    let out = query(&["--format", "csv", "SELECT '=HYPERLINK(\"x\")' AS f, '@SUM(1)' AS g, 'plain' AS h, NULL AS n"]);
    let mut r = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), ["f", "g", "h", "n"]);
    let row = r.records().next().unwrap().unwrap();
    assert_eq!(row.iter().collect::<Vec<_>>(), ["'=HYPERLINK(\"x\")", "'@SUM(1)", "plain", ""]);
}

#[test]
fn jsonl_rows_parse_with_typed_cells() {
    let out = query(&[
        "--format",
        "jsonl",
        "--limit",
        "5",
        "SELECT TimeGenerated, source, evidence_line, raw FROM events ORDER BY TimeGenerated",
    ]);
    let rows = jsonl(&out);
    assert_eq!(rows.len(), 5);
    for r in &rows {
        assert!(r["TimeGenerated"].as_str().unwrap().ends_with('Z'), "{r}");
        assert!(r["evidence_line"].is_u64(), "{r}");
        assert!(serde_json::from_str::<Value>(r["raw"].as_str().unwrap()).is_ok(), "{r}");
    }
}

#[test]
fn parquet_out_and_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("talkers.parquet");
    let (_, err) = azir_code(
        &[
            "query",
            "--case",
            case(),
            "--out",
            p(&out),
            "SELECT SrcIpAddr, sum(SrcBytes) AS bytes FROM network GROUP BY SrcIpAddr",
        ],
        0,
    );
    assert!(err.contains("wrote ") && err.contains(" rows to "), "{err}");
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));

    let schema = query(&["--schema"]);
    for t in ["events (", "network (", "resources (", "quarantine (", "findings (", "manifest (from manifest.jsonl)"] {
        assert!(schema.contains(t), "{t}: {schema}");
    }
    assert!(schema.contains("  TimeGenerated") && schema.contains("Timestamp"), "{schema}");
    let (out, _) = azir_code(&["--json", "query", "--case", case(), "--schema"], 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 6);
}

#[test]
fn errors_name_what_exists() {
    let (_, err) = azir_code(&["query", "--case", case(), "SELECT * FROM signins"], 1);
    assert!(err.contains("tables: events, network, resources, quarantine, findings, manifest"), "{err}");
    let (_, err) = azir_code(&["query", "--case", case(), "SELECT srcipaddr FROM events"], 1);
    assert!(err.contains("SrcIpAddr"), "{err}");
}

fn pivot(kind: &str, value: &str) -> Value {
    let (out, _) = azir_code(&["--json", "pivot", kind, value, "--case", case()], 0);
    serde_json::from_str(&out).unwrap()
}

/// The rows of one pivot section (empty when the section is absent).
fn section<'a>(p: &'a Value, name: &str) -> Vec<&'a Value> {
    p["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .map(|s| s["rows"].as_array().unwrap().iter().collect())
        .unwrap_or_default()
}

fn values(p: &Value, name: &str) -> Vec<String> {
    section(p, name).iter().map(|r| r["value"].as_str().unwrap_or_default().to_string()).collect()
}

#[test]
fn pivot_on_the_attacker_ip() {
    let p = pivot("ip", azir_demo::ATTACKER_IP);
    assert_eq!(p["kind"], "ip");
    let events = p["events"].as_u64().unwrap();
    // The pivot's count is the SQL count over both address columns.
    let sql = format!(
        "SELECT count(*) AS n FROM events WHERE SrcIpAddr = '{0}' OR DstIpAddr = '{0}'",
        azir_demo::ATTACKER_IP
    );
    assert_eq!(jsonl(&query(&["--format", "jsonl", &sql]))[0]["n"].as_u64().unwrap(), events);
    assert!(events > 5, "{p}");
    assert!(values(&p, "related_users").contains(&azir_demo::COMPROMISED_USER.to_string()), "{p}");
    assert!(values(&p, "related_countries").contains(&azir_demo::ATTACKER_COUNTRY.to_string()), "{p}");
    // The attacker's own address is not "related" to itself.
    assert!(!values(&p, "related_ips").contains(&azir_demo::ATTACKER_IP.to_string()));
    let sources: Vec<&str> = section(&p, "sources").iter().map(|r| r["source"].as_str().unwrap()).collect();
    assert!(sources.contains(&"signin") && sources.contains(&"activity"), "{sources:?}");
    assert!(section(&p, "signins").iter().any(|r| r["result"] == "Success"), "the attacker signed in");
    assert!(!section(&p, "findings").is_empty(), "the demo's hunt names the attacker's IP: {p}");
    let tl = section(&p, "timeline");
    assert!(!tl.is_empty() && tl.len() <= 25);
    let times: Vec<&str> = tl.iter().map(|r| r["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "timeline in time order: {times:?}");
    assert!(tl.iter().all(|r| r["evidence"].as_str().unwrap().contains(':')), "evidence file:line on every row");
    assert!(p["first_seen"].as_str().unwrap() <= times[0]);
    for s in p["sections"].as_array().unwrap() {
        assert!(s["sql"].as_str().unwrap().starts_with("SELECT"), "every section carries its SQL");
    }

    // The table form: heading, sections, no control characters.
    let (out, _) = azir_code(&["pivot", "ip", azir_demo::ATTACKER_IP, "--case", case()], 0);
    assert!(out.starts_with(&format!("ip {}\n  seen ", azir_demo::ATTACKER_IP)), "{out}");
    for h in ["Events per source", "Sign-ins", "Users", "Timeline"] {
        assert!(out.contains(h), "{h}: {out}");
    }
}

#[test]
fn pivot_on_a_user_an_ip_range_and_a_resource() {
    let p = pivot("user", &azir_demo::COMPROMISED_USER.to_uppercase());
    assert!(p["events"].as_u64().unwrap() > 10, "user names match case-insensitively: {p}");
    let ips = values(&p, "related_ips");
    assert!(ips.contains(&azir_demo::ATTACKER_IP.to_string()), "{ips:?}");
    let fails: u64 = section(&p, "signins")
        .iter()
        .filter(|r| r["result"] == "Failure")
        .map(|r| r["signins"].as_u64().unwrap())
        .sum();
    assert!(fails > 0, "MFA fatigue and spray failures against the user: {p}");
    assert!(!section(&p, "signin_failures").is_empty());

    // A CIDR takes in every address inside it; flows match on either end.
    let p = pivot("ip", "203.0.113.0/24");
    let single = pivot("ip", azir_demo::ATTACKER_IP);
    assert!(p["events"].as_u64().unwrap() >= single["events"].as_u64().unwrap());
    assert!(p["flows"].as_u64().unwrap() > 0, "exfiltration to {} is in the flow logs", azir_demo::EXFIL_DST);
    assert!(!section(&p, "flows").is_empty());

    // A resource by bare name: the NSG the attacker opened, with its rule writes.
    let p = pivot("resource", azir_demo::OPENED_NSG);
    let ops: Vec<String> =
        section(&p, "operations").iter().map(|r| r["operation"].as_str().unwrap().to_lowercase()).collect();
    assert!(ops.iter().any(|o| o.contains("securityrules")), "{ops:?}");
}

#[test]
fn pivot_values_are_data_not_sql() {
    // An injection attempt is a user name that does not exist.
    let p = pivot("user", "x' OR 1=1 --");
    assert_eq!(p["events"], 0);
    assert_eq!(p["sections"].as_array().unwrap().len(), 0);
    let (out, _) = azir_code(&["pivot", "user", "nobody@nowhere.example", "--case", case()], 0);
    assert!(out.contains("not seen in this case"), "{out}");
    let (_, err) = azir_code(&["pivot", "ip", "999.1.1.1", "--case", case()], 1);
    assert!(err.contains("not an IP address or CIDR"), "{err}");
    let (_, err) = azir_code(&["pivot", "ip", "10.0.0.0/40", "--case", case()], 1);
    assert!(err.contains("not an IP address or CIDR"), "{err}");
}
