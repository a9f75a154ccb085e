//! `azir flows` end to end: hand-written NSG v2 and VNet flow logs with known answers, the
//! public NSG/VNet samples of `../shared/corpus` checked against sums computed here from the
//! files themselves, and the demo incident (the exfil and the Internet scanners it contains).

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_azir");

fn azir(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).stdin(Stdio::null()).output().expect("azir runs");
    assert!(
        out.status.success(),
        "azir {args:?} failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn flows(case: &Path, sub: &str, extra: &[&str]) -> Value {
    let mut args = vec!["--json", "flows", sub, "--case", case.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = azir(&args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("flows {sub}: {e}\n{out}"))
}

fn ingest(case: &Path, paths: &[&Path]) {
    let mut args = vec!["-q".to_string(), "ingest".to_string()];
    args.extend(paths.iter().map(|p| p.to_str().unwrap().to_string()));
    args.extend(["--case".to_string(), case.to_str().unwrap().to_string()]);
    let out = Command::new(BIN).args(&args).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "ingest failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} is not a number in {v}"))
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("{k} is not a string in {v}"))
}

fn rows<'a>(v: &'a Value, k: &str) -> &'a Vec<Value> {
    v[k].as_array().unwrap_or_else(|| panic!("{k} is not a list in {v}"))
}

const NSG_ID: &str = "/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-WEB";
const T0: i64 = 1_773_273_600; // 2026-03-12T00:00:00Z
/// The demo's web scanner (`azir_demo::SCANNER_IP`).
const SCANNER_IP: &str = "198.51.100.200";

/// An NSG v2 record (one line) with rule groups of tuples.
fn nsg_record(hour: i64, groups: &[(&str, Vec<String>)]) -> String {
    let flows: Vec<Value> = groups
        .iter()
        .map(|(rule, tuples)| serde_json::json!({"rule": rule, "flows": [{"mac": "000D3AF8801A", "flowTuples": tuples}]}))
        .collect();
    serde_json::json!({
        "time": format!("2026-03-12T{hour:02}:05:00.0000000Z"),
        "systemId": "x", "category": "NetworkSecurityGroupFlowEvent", "resourceId": NSG_ID,
        "operationName": "NetworkSecurityGroupFlowEvents",
        "properties": {"Version": 2, "flows": flows},
    })
    .to_string()
}

/// A VNet flow-log record (one line).
fn vnet_record(groups: &[(&str, Vec<String>)]) -> String {
    let g: Vec<Value> =
        groups.iter().map(|(rule, tuples)| serde_json::json!({"rule": rule, "flowTuples": tuples})).collect();
    serde_json::json!({
        "time": "2026-03-12T09:00:52.5625085Z", "flowLogVersion": 4, "flowLogGUID": "g", "macAddress": "0022487BC205",
        "category": "FlowLogFlowEvent",
        "flowLogResourceID": "/SUBSCRIPTIONS/S1/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NW/FLOWLOGS/FL-DATA",
        "targetResourceID": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet1",
        "operationName": "FlowLogFlowEvent",
        "flowRecords": {"flows": [{"aclID": "acl-data", "flowGroups": g}]},
    })
    .to_string()
}

fn container(records: &[String]) -> String {
    format!("{{\"records\":[\n{}\n]}}\n", records.join(",\n"))
}

struct Fixture {
    _dir: tempfile::TempDir,
    case: PathBuf,
    nsg: PathBuf,
    vnet: PathBuf,
}

/// The hand-made incident, ingested once.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut by_hour: BTreeMap<i64, Vec<(&str, String)>> = BTreeMap::new();
        let mut put =
            |t: i64, rule: &'static str, tuple: String| by_hour.entry((t - T0) / 3600).or_default().push((rule, tuple));
        // 1. An inbound HTTPS flow reported B, C, C, E: totals 17/1620 in, 13/6060 back.
        let f = |t: i64, rest: &str| format!("{t},203.0.113.105,10.0.0.5,35370,443,T,I,A,{rest}");
        put(T0 + 60, "UserRule_allow-https", f(T0 + 60, "B,,,,"));
        put(T0 + 360, "UserRule_allow-https", f(T0 + 360, "C,10,1000,8,4000"));
        put(T0 + 660, "UserRule_allow-https", f(T0 + 660, "C,5,500,4,2000"));
        put(T0 + 900, "UserRule_allow-https", f(T0 + 900, "E,2,120,1,60"));
        // 2. A vertical scan: 198.51.100.200 tries 12 ports of 10.0.0.4, all denied.
        for p in 0..12 {
            let t = T0 + 3600 + p * 7;
            put(
                t,
                "DefaultRule_DenyAllInBound",
                format!(
                    "{t},198.51.100.200,10.0.0.4,{},{},T,I,D,B,,,,",
                    41000 + p,
                    [21, 22, 23, 25, 80, 110, 135, 139, 445, 1433, 3389, 5900][p as usize]
                ),
            );
        }
        // 3. A beacon: 10.0.0.7 → 203.0.113.50:443 every 300 s ± a few seconds, ~2 KB each.
        for (k, j) in [0i64, 4, -3, 6, -5, 2, -1, 5, -4].iter().enumerate() {
            let t = T0 + 7200 + k as i64 * 300 + j;
            let sp = 50000 + k;
            put(t, "DefaultRule_AllowInternetOutBound", format!("{t},10.0.0.7,203.0.113.50,{sp},443,T,O,A,B,,,,"));
            put(
                t + 3,
                "DefaultRule_AllowInternetOutBound",
                format!("{},10.0.0.7,203.0.113.50,{sp},443,T,O,A,E,5,{},4,900", t + 3, 1100 + k),
            );
        }
        // 4. Exfil: 10.0.0.5 sends ~1 MB out every hour, then 600 MB to 203.0.113.200 in hour 10.
        // (at irregular minutes of the hour: not a beacon).
        let offsets = [1800, 200, 3000, 900, 2500, 100, 3500, 1200, 600, 2900, 1500, 50];
        for h in 0..12i64 {
            let t = T0 + h * 3600 + offsets[h as usize];
            put(
                t,
                "DefaultRule_AllowInternetOutBound",
                format!("{t},10.0.0.5,198.51.100.10,{},443,T,O,A,E,100,{},80,20000", 42000 + h, 1_000_000 + h * 1000),
            );
        }
        let t = T0 + 10 * 3600 + 100;
        put(t, "DefaultRule_AllowInternetOutBound", format!("{t},10.0.0.5,203.0.113.200,45002,443,T,O,A,B,,,,"));
        put(
            t + 300,
            "DefaultRule_AllowInternetOutBound",
            format!("{},10.0.0.5,203.0.113.200,45002,443,T,O,A,C,200000,300000000,1000,50000", t + 300),
        );
        put(
            t + 600,
            "DefaultRule_AllowInternetOutBound",
            format!("{},10.0.0.5,203.0.113.200,45002,443,T,O,A,E,200000,300000000,1000,50000", t + 600),
        );
        let mut nsg_records = Vec::new();
        for (hour, tuples) in by_hour {
            let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for (rule, t) in tuples {
                groups.entry(rule).or_default().push(t);
            }
            nsg_records.push(nsg_record(hour, &groups.into_iter().collect::<Vec<_>>()));
        }
        let nsg = dir.path().join("nsg/PT1H.json");
        std::fs::create_dir_all(nsg.parent().unwrap()).unwrap();
        std::fs::write(&nsg, container(&nsg_records)).unwrap();
        // 5. VNet: a horizontal scan of 445 over 11 hosts (D = denied, epoch ms), and IPv6.
        let ms = (T0 + 9 * 3600) * 1000;
        let scan: Vec<String> =
            (1..=11).map(|h| format!("{},198.51.100.77,10.0.1.{h},50123,445,6,I,D,NX,0,0,0,0", ms + h * 500)).collect();
        let v6 = vec![
            format!("{},fd00::5,2001:db8::9,60000,443,6,O,B,NX,0,0,0,0", ms),
            format!("{},fd00::5,2001:db8::9,60000,443,6,O,E,NX,3,300,2,200", ms + 5000),
        ];
        let vnet = dir.path().join("vnet/PT1H.json");
        std::fs::create_dir_all(vnet.parent().unwrap()).unwrap();
        std::fs::write(&vnet, container(&[vnet_record(&[("BlockSmbFromInternet", scan), ("AllowVnetOutbound", v6)])]))
            .unwrap();
        let case = dir.path().join("case");
        ingest(&case, &[&nsg, &vnet]);
        Fixture { case, nsg, vnet, _dir: dir }
    })
}

/// The line `e.line` of the evidence file it names (paths are shown as given to ingest).
fn evidence_line(e: &Value) -> String {
    let path = s(e, "path");
    let text = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("evidence {path}: {err}"));
    text.lines()
        .nth(u(e, "line") as usize - 1)
        .unwrap_or_else(|| panic!("no line {} in {path}", u(e, "line")))
        .to_string()
}

#[test]
fn talkers_sum_counter_deltas_per_flow_and_link_evidence() {
    let f = fixture();
    let r = flows(&f.case, "talkers", &["--limit", "100"]);
    let pairs = rows(&r, "pairs");
    let https = pairs.iter().find(|p| s(p, "src") == "203.0.113.105").expect("inbound https pair");
    assert_eq!(s(https, "dst"), "10.0.0.5");
    assert_eq!(s(https, "direction"), "inbound");
    assert_eq!((u(https, "flows"), u(https, "tuples")), (1, 4));
    assert_eq!((u(https, "packets_sent"), u(https, "bytes_sent")), (17, 1620));
    assert_eq!((u(https, "packets_received"), u(https, "bytes_received")), (13, 6060));
    let ev = rows(https, "evidence");
    assert!(!ev.is_empty() && ev.len() <= 3);
    for e in ev {
        assert!(s(e, "path").ends_with("nsg/PT1H.json"), "{e}");
        assert!(evidence_line(e).contains("203.0.113.105,10.0.0.5,35370,443"), "{e}");
    }
    // The exfil pair leads by bytes; IPv6 is a pair like any other.
    assert_eq!((s(&pairs[0], "src"), s(&pairs[0], "dst")), ("10.0.0.5", "203.0.113.200"));
    assert_eq!(u(&pairs[0], "bytes_sent"), 600_000_000);
    let v6 = pairs.iter().find(|p| s(p, "src") == "fd00::5").expect("IPv6 pair");
    assert_eq!((s(v6, "direction"), u(v6, "bytes")), ("outbound", 500));
    // Hosts: 10.0.0.5 sent the exfil plus its hourly uploads plus the HTTPS replies.
    let host = rows(&r, "hosts").iter().find(|h| s(h, "host") == "10.0.0.5").unwrap();
    let hourly: u64 = (0..12).map(|h| 1_000_000 + h * 1000).sum();
    assert_eq!(u(host, "bytes_sent"), 600_000_000 + hourly + 6060);
    // --by flows ranks the hourly uploads and the vertical scan (12 flows each), then the beacon.
    let r = flows(&f.case, "talkers", &["--by", "flows"]);
    let top: Vec<(&str, u64)> = rows(&r, "pairs").iter().take(3).map(|p| (s(p, "dst"), u(p, "flows"))).collect();
    assert_eq!(top, vec![("198.51.100.10", 12), ("10.0.0.4", 12), ("203.0.113.50", 9)]);
}

#[test]
fn scans_find_the_vertical_and_horizontal_scanners_only() {
    let f = fixture();
    let r = flows(&f.case, "scans", &[]);
    let scans = rows(&r, "scans");
    assert_eq!(scans.len(), 2, "{r:#}");
    let v = scans.iter().find(|x| s(x, "kind") == "vertical").unwrap();
    assert_eq!((s(v, "src"), s(v, "target"), u(v, "distinct")), ("198.51.100.200", "10.0.0.4", 12));
    assert_eq!(v["denied_ratio"].as_f64(), Some(1.0));
    assert_eq!(v["span_secs"].as_f64(), Some(77.0));
    for e in rows(v, "evidence") {
        assert!(evidence_line(e).contains("198.51.100.200,10.0.0.4"), "{e}");
    }
    let h = scans.iter().find(|x| s(x, "kind") == "horizontal").unwrap();
    assert_eq!((s(h, "src"), s(h, "target"), u(h, "distinct")), ("198.51.100.77", "445/TCP", 11));
    assert!(s(&rows(h, "evidence")[0], "path").ends_with("vnet/PT1H.json"));
    // Raising the thresholds above the scans' width hides them.
    let r = flows(&f.case, "scans", &["--min-ports", "13", "--min-hosts", "12"]);
    assert!(rows(&r, "scans").is_empty(), "{r:#}");
}

#[test]
fn denied_names_the_rules_and_counts_ports_and_targets() {
    let f = fixture();
    let r = flows(&f.case, "denied", &[]);
    let d = rows(&r, "denied");
    assert_eq!(d.len(), 2);
    assert_eq!(
        (s(&d[0], "src"), s(&d[0], "rule"), s(&d[0], "device")),
        ("198.51.100.200", "DefaultRule_DenyAllInBound", NSG_ID)
    );
    assert_eq!((u(&d[0], "flows"), u(&d[0], "ports"), u(&d[0], "targets")), (12, 12, 1));
    assert_eq!(
        (s(&d[1], "src"), s(&d[1], "rule"), u(&d[1], "targets"), u(&d[1], "ports")),
        ("198.51.100.77", "BlockSmbFromInternet", 11, 1)
    );
    assert_eq!(s(&d[0], "first"), "2026-03-12T01:00:00.000000Z");
    assert_eq!(s(&d[0], "last"), "2026-03-12T01:01:17.000000Z");
}

#[test]
fn directions_ports_and_rules_agree_with_the_fixture() {
    let f = fixture();
    let r = flows(&f.case, "directions", &[]);
    let by: BTreeMap<(String, String), (u64, u64)> = rows(&r, "directions")
        .iter()
        .map(|d| ((s(d, "direction").to_string(), s(d, "action").to_string()), (u(d, "flows"), u(d, "tuples"))))
        .collect();
    assert_eq!(by[&("inbound".into(), "allow".into())], (1, 4));
    assert_eq!(by[&("inbound".into(), "deny".into())], (23, 23));
    // Beacon 9 + hourly 12 + exfil 1 + IPv6 1.
    assert_eq!(by[&("outbound".into(), "allow".into())], (23, 18 + 12 + 3 + 2));
    assert_eq!(by.len(), 3);
    // With the scanners' /24 declared internal, their flows become external→… no: internal.
    let r = flows(&f.case, "directions", &["--internal", "10.0.0.0/8,198.51.100.0/24"]);
    let internal_deny =
        rows(&r, "directions").iter().find(|d| s(d, "direction") == "internal" && s(d, "action") == "deny").unwrap();
    assert_eq!(u(internal_deny, "flows"), 23);

    let r = flows(&f.case, "ports", &["--limit", "100"]);
    let smb = rows(&r, "ports").iter().find(|p| p["port"] == 445).unwrap();
    assert_eq!((u(smb, "denied_flows"), u(smb, "allowed_flows"), u(smb, "sources"), u(smb, "targets")), (12, 0, 2, 12));
    let https = rows(&r, "ports").iter().find(|p| p["port"] == 443).unwrap();
    assert_eq!(u(https, "allowed_flows"), 1 + 9 + 12 + 1 + 1);

    let r = flows(&f.case, "rules", &[]);
    let open = rows(&r, "internet_allowed");
    assert_eq!(open.len(), 1, "{r:#}");
    assert_eq!((s(&open[0], "rule"), u(&open[0], "external_flows")), ("UserRule_allow-https", 1));
    let deny = rows(&r, "rules").iter().find(|x| s(x, "rule") == "DefaultRule_DenyAllInBound").unwrap();
    assert_eq!((s(deny, "action"), u(deny, "flows")), ("deny", 12));
}

#[test]
fn beacons_exfil_and_first_seen() {
    let f = fixture();
    let r = flows(&f.case, "beacons", &[]);
    let b = rows(&r, "beacons");
    assert_eq!(b.len(), 1, "{r:#}");
    assert_eq!((s(&b[0], "src"), s(&b[0], "dst"), s(&b[0], "port")), ("10.0.0.7", "203.0.113.50", "443/TCP"));
    assert_eq!(u(&b[0], "connections"), 9);
    // Intervals 304, 293, 309, 289, 307, 297, 306, 291: median 300.5.
    assert_eq!(b[0]["interval_secs"].as_f64(), Some(300.5));
    assert!(b[0]["score"].as_f64().unwrap() > 0.8);

    let r = flows(&f.case, "exfil", &[]);
    let o = rows(&r, "outliers");
    assert_eq!(o.len(), 1, "{r:#}");
    assert_eq!((s(&o[0], "host"), s(&o[0], "bucket")), ("10.0.0.5", "2026-03-12T10:00:00.000000Z"));
    assert_eq!(u(&o[0], "bytes_out"), 600_000_000 + 1_010_000);
    assert_eq!(s(&rows(&r, "destinations")[0], "destination"), "203.0.113.200");
    for e in rows(&o[0], "evidence") {
        assert!(evidence_line(e).contains("10.0.0.5"), "{e}");
    }
    // Only before hour 10: no outlier.
    let r = flows(&f.case, "exfil", &["--until", "2026-03-12T10:00Z"]);
    assert!(rows(&r, "outliers").is_empty());

    let r = flows(&f.case, "first-seen", &["--after", "2026-03-12T09:00Z"]);
    let fs: Vec<&str> = rows(&r, "first_seen").iter().map(|x| s(x, "address")).collect();
    assert_eq!(fs, vec!["2001:db8::9", "198.51.100.77", "203.0.113.200"]);
    let exfil = &rows(&r, "first_seen")[2];
    assert_eq!(exfil["internal_hosts"], serde_json::json!(["10.0.0.5"]));
    assert_eq!(u(exfil, "bytes"), 600_100_000);
}

#[test]
fn table_and_csv_outputs_are_safe() {
    let f = fixture();
    let table = azir(&["flows", "talkers", "--case", f.case.to_str().unwrap()]);
    assert!(table.starts_with("Top pairs"), "{table}");
    assert!(table.contains("203.0.113.200") && table.contains("Top hosts"));
    let csv = azir(&["flows", "denied", "--case", f.case.to_str().unwrap(), "--csv"]);
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("src,internal,rule,device,flows"));
    assert!(lines.next().unwrap().starts_with("198.51.100.200,false,DefaultRule_DenyAllInBound,"));
    assert!(f.nsg.exists() && f.vnet.exists());
}

// ---- the public samples ---------------------------------------------------------------------

fn corpus() -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus"));
    assert!(
        p.is_dir(),
        "\n\n*** CONFORMANCE CORPUS MISSING ***\nexpected the shared corpus at {}\n\
         (the repository must sit beside `shared/`); this test refuses to pass without it.\n",
        p.display()
    );
    p
}

/// Every flow tuple string in a JSON document (or JSON Lines), found by walking the values.
fn tuples_of(path: &Path) -> Vec<Vec<String>> {
    fn walk(v: &Value, out: &mut Vec<Vec<String>>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "flowTuples" {
                        for t in x.as_array().unwrap() {
                            out.push(t.as_str().unwrap().split(',').map(str::to_string).collect());
                        }
                    } else {
                        walk(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    for v in serde_json::Deserializer::from_str(&text).into_iter::<Value>() {
        walk(&v.unwrap(), &mut out);
    }
    out
}

#[test]
fn corpus_samples_totals_match_the_files() {
    let root = corpus();
    let files = [
        root.join("azure-docs/nsg-flow-logs-overview__v1-sample.json"),
        root.join("azure-docs/nsg-flow-logs-overview__v2-sample.json"),
        root.join("azure-docs/vnet-flow-logs-overview__sample-log-record.json"),
        root.join(
            "elastic-integrations/packages/azure_network_watcher_nsg/data_stream/log/_dev/test/pipeline/test-nsg.log",
        ),
        root.join(
            "elastic-integrations/packages/azure_network_watcher_vnet/data_stream/log/_dev/test/pipeline/test-vnet.log",
        ),
    ];
    for f in &files {
        assert!(f.is_file(), "corpus sample missing: {}", f.display());
    }
    // Independent totals from the tuple strings: NSG v1 (8 fields: decision at 7), NSG v2
    // (13 fields: decision at 7, counters 9..13), VNet (13 fields: state at 7, D = denied,
    // counters 9..13).
    let (mut tuples, mut denied, mut bytes, mut packets) = (0u64, 0u64, 0u64, 0u64);
    let mut sources = BTreeSet::new();
    for f in &files {
        for t in tuples_of(f) {
            tuples += 1;
            sources.insert(t[1].clone());
            // Field 7 is the decision (NSG) or the state (VNet); D means denied in both.
            if t[7] == "D" {
                denied += 1;
            }
            if t.len() == 13 {
                let n = |i: usize| t[i].parse::<u64>().unwrap_or(0);
                packets += n(9) + n(11);
                bytes += n(10) + n(12);
            }
        }
    }
    assert!(tuples >= 20 && bytes > 0, "the samples changed: {tuples} tuples, {bytes} bytes");
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    ingest(&case, &refs);

    let r = flows(&case, "directions", &[]);
    let d = rows(&r, "directions");
    let sum = |k: &str, f: &dyn Fn(&Value) -> bool| d.iter().filter(|x| f(x)).map(|x| u(x, k)).sum::<u64>();
    assert_eq!(sum("tuples", &|_| true), tuples);
    assert_eq!(sum("bytes", &|_| true), bytes);
    assert_eq!(sum("packets", &|_| true), packets);
    assert_eq!(sum("tuples", &|x| s(x, "action") == "deny"), denied);

    let r = flows(&case, "talkers", &["--limit", "10000"]);
    let pairs = rows(&r, "pairs");
    assert_eq!(pairs.iter().map(|p| u(p, "tuples")).sum::<u64>(), tuples);
    assert_eq!(pairs.iter().map(|p| u(p, "bytes")).sum::<u64>(), bytes);
    assert_eq!(pairs.iter().map(|p| u(p, "bytes_sent") + u(p, "bytes_received")).sum::<u64>(), bytes);
    // Hosts count every byte twice (once at each end).
    let hosts = rows(&r, "hosts");
    assert_eq!(hosts.iter().map(|h| u(h, "bytes_sent")).sum::<u64>(), bytes);
    assert_eq!(hosts.iter().map(|h| u(h, "bytes_received")).sum::<u64>(), bytes);
    let srcs: BTreeSet<String> = pairs.iter().map(|p| s(p, "src").to_string()).collect();
    assert_eq!(srcs, sources);
    for p in pairs {
        let e = &rows(p, "evidence")[0];
        assert!(files.iter().any(|f| s(e, "path") == f.to_str().unwrap()), "{e}");
    }

    let r = flows(&case, "denied", &["--limit", "10000"]);
    assert_eq!(rows(&r, "denied").iter().map(|x| u(x, "tuples")).sum::<u64>(), denied);
    let r = flows(&case, "rules", &["--limit", "10000"]);
    assert_eq!(rows(&r, "rules").iter().map(|x| u(x, "tuples")).sum::<u64>(), tuples);
    assert_eq!(rows(&r, "rules").iter().map(|x| u(x, "bytes")).sum::<u64>(), bytes);
}

// ---- the demo ---------------------------------------------------------------------------------

#[test]
fn demo_exfil_and_scanners_are_found_and_benign_hosts_are_not() {
    let dir = tempfile::tempdir().unwrap();
    azir(&["-q", "demo", dir.path().to_str().unwrap()]);
    let case = dir.path().join("case");

    let r = flows(&case, "exfil", &[]);
    let outliers = rows(&r, "outliers");
    let hosts: BTreeSet<&str> = outliers.iter().map(|o| s(o, "host")).collect();
    // vm-app-01 and vm-db-01 (the exfil sources); the benign web tier is not flagged.
    assert!(hosts.contains("10.10.2.4") && hosts.contains("10.10.3.4"), "{outliers:#?}");
    assert!(!hosts.contains("10.10.1.4") && !hosts.contains("10.10.1.5"), "{outliers:#?}");
    assert_eq!(s(&rows(&r, "destinations")[0], "destination"), "203.0.113.200");
    assert_eq!(s(&rows(&r, "pairs")[0], "destination"), "203.0.113.200");

    let r = flows(&case, "scans", &["--limit", "100"]);
    let scans = rows(&r, "scans");
    // The Internet background scanners knocking on vm-web-01's management ports.
    assert!(scans.iter().any(|x| s(x, "src") == "45.148.10.174" && s(x, "target") == "10.10.1.4"), "{scans:#?}");
    assert!(scans.iter().all(|x| !x["internal"].as_bool().unwrap()), "an internal host flagged as scanner: {scans:#?}");
    assert!(scans.iter().all(|x| s(x, "src") != "203.0.113.200" && s(x, "src") != "203.0.113.77"));
    // The scanner's port scan of vm-web-01 during the recon phase: a vertical scan, all denied.
    let v = scans
        .iter()
        .find(|x| s(x, "src") == SCANNER_IP && s(x, "kind") == "vertical")
        .unwrap_or_else(|| panic!("{SCANNER_IP} is not a vertical scanner: {scans:#?}"));
    assert_eq!(s(v, "target"), "10.10.1.4");
    assert!(u(v, "distinct") >= 50, "{v:#}");
    assert_eq!(v["denied_ratio"].as_f64(), Some(1.0), "{v:#}");

    let r = flows(&case, "denied", &["--limit", "100"]);
    let d = rows(&r, "denied")
        .iter()
        .find(|x| s(x, "src") == SCANNER_IP)
        .unwrap_or_else(|| panic!("{SCANNER_IP} is not among the denied sources: {r:#}"));
    assert_eq!(s(d, "rule"), "DefaultRule_DenyAllInBound");
    assert!(u(d, "ports") >= 50 && u(d, "targets") == 1, "{d:#}");

    let r = flows(&case, "first-seen", &["--after", "2026-03-12T03:00Z"]);
    let fs: BTreeSet<&str> = rows(&r, "first_seen").iter().map(|x| s(x, "address")).collect();
    assert!(fs.contains("203.0.113.200") && fs.contains("203.0.113.77"), "{fs:?}");
}

#[test]
fn vnet_address_spaces_from_the_case_configuration_are_internal() {
    // A VNet on a public range (some tenants do this): without its configuration the flow from
    // 20.50.1.4 out to 203.0.113.9 is external-to-external; with `az network vnet list` output
    // ingested, 20.50.1.4 is ours and the flow is outbound.
    let dir = tempfile::tempdir().unwrap();
    let flows_file = dir.path().join("PT1H.json");
    let t = T0 + 3600;
    std::fs::write(
        &flows_file,
        container(&[nsg_record(
            1,
            &[("UserRule_out", vec![format!("{t},20.50.1.4,203.0.113.9,50000,443,T,O,A,B,,,,")])],
        )]),
    )
    .unwrap();
    let case = dir.path().join("case");
    ingest(&case, &[&flows_file]);
    let direction = |case: &Path| {
        let r = flows(case, "directions", &[]);
        rows(&r, "directions").iter().map(|d| s(d, "direction").to_string()).collect::<Vec<_>>()
    };
    assert_eq!(direction(&case), vec!["external"]);
    let vnets = dir.path().join("vnets.json");
    std::fs::write(
        &vnets,
        serde_json::json!([{
            "name": "vnet-pub", "type": "Microsoft.Network/virtualNetworks", "location": "westeurope",
            "id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet-pub",
            "resourceGroup": "rg",
            "addressSpace": {"addressPrefixes": ["20.50.0.0/16", "not-a-prefix"]},
            "subnets": []
        }])
        .to_string(),
    )
    .unwrap();
    ingest(&case, &[&vnets]);
    assert_eq!(direction(&case), vec!["outbound"]);
    // --internal still wins over the configuration.
    let r = flows(&case, "directions", &["--internal", "10.0.0.0/8"]);
    assert_eq!(s(&rows(&r, "directions")[0], "direction"), "external");
}
