//! End-to-end tests of the `azir` binary on temporary folders: the demo, timeline filters and
//! output formats (with provenance checked against the evidence bytes), a closed stdout, hostile
//! input in one run with good input, kill-and-rerun atomicity, and usage errors.

use azir_store::read::{count, scan};
use azir_store::schema::Columns;
use azir_store::{Case, Table};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_azir");

fn azir(args: &[&str]) -> Output {
    Command::new(BIN).args(args).stdin(Stdio::null()).output().expect("azir runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs azir and expects exit code `code`, returning stdout.
fn azir_ok(args: &[&str], code: i32) -> String {
    let o = azir(args);
    assert_eq!(
        o.status.code(),
        Some(code),
        "azir {args:?} exited {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    );
    assert!(!text(&o.stderr).contains("panicked"), "azir {args:?} panicked:\n{}", text(&o.stderr));
    text(&o.stdout)
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

fn jsonl(out: &str) -> Vec<Value> {
    out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:.300}"))).collect()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The demo, generated and ingested once by `azir demo` for all read-only tests.
struct Demo {
    dir: PathBuf,
    stdout: String,
}

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        // Shared by the tests of this process, so it outlives them: kept under the target's
        // temp folder, one per process; those of finished processes are removed here.
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
        for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(pid) = name.strip_prefix("cli-demo-") {
                if Path::new("/proc").is_dir() && !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = root.join(format!("cli-demo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let stdout = azir_ok(&["demo", p(&dir)], 0);
        Demo { dir, stdout }
    })
}

impl Demo {
    fn case(&self) -> String {
        p(&self.dir.join("case")).to_string()
    }
    fn timeline(&self, extra: &[&str]) -> String {
        let case = self.case();
        let mut args = vec!["timeline", "--case", case.as_str()];
        args.extend_from_slice(extra);
        azir_ok(&args, 0)
    }
}

fn files_under(dir: &Path) -> usize {
    walk(dir).len()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn table_counts(case: &Path) -> (u64, u64, u64) {
    let c = Case::open(case).unwrap();
    (count(&c, Table::Events).unwrap(), count(&c, Table::Network).unwrap(), count(&c, Table::Quarantine).unwrap())
}

#[test]
fn demo_runs_verifies_and_reingest_is_a_no_op() {
    let d = demo();
    assert!(d.stdout.contains("ingested ") && d.stdout.contains(" streams from "), "{}", d.stdout);
    assert!(d.stdout.contains("quarantined 0"), "the demo has no bad record:\n{}", d.stdout);
    assert!(d.stdout.contains("The story:") && d.stdout.contains(azir_demo::ATTACKER_IP), "{}", d.stdout);
    let case = d.case();
    assert!(!Path::new(&case).join(".staging").exists(), "a finished ingest left .staging");
    let verify = azir_ok(&["case", "verify", &case], 0);
    assert!(verify.contains("chain intact"), "{verify}");
    assert!(verify.contains(" 0 changed"), "{verify}");

    let evidence = d.dir.join("evidence");
    let files = files_under(&evidence);
    let before_lines = d.timeline(&["--format", "jsonl"]).lines().count();
    let before = table_counts(Path::new(&case));
    let manifest_before = Case::open(Path::new(&case)).unwrap().manifest().unwrap().len();

    let out = azir_ok(&["--json", "ingest", p(&evidence), "--case", &case], 0);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["files"], files, "{out}");
    assert_eq!(r["streams"], 0, "re-ingest read streams again: {out}");
    assert_eq!(r["skipped_known"], files, "every file (archives included) is known: {out}");
    assert_eq!(r["records"], 0, "{out}");
    let human = azir_ok(&["ingest", p(&evidence), "--case", &case], 0);
    assert!(human.contains("ingested 0 streams from 0 files"), "{human}");
    assert!(human.contains(&format!("skipped {files} files already in the case")), "{human}");

    assert_eq!(d.timeline(&["--format", "jsonl"]).lines().count(), before_lines);
    assert_eq!(table_counts(Path::new(&case)), before);
    assert_eq!(Case::open(Path::new(&case)).unwrap().manifest().unwrap().len(), manifest_before);
    azir_ok(&["case", "verify", &case], 0);
}

#[test]
fn timeline_user_filter_shows_spray_mfa_fatigue_and_the_compromise() {
    let d = demo();
    let user = azir_demo::COMPROMISED_USER;
    let rows = jsonl(&d.timeline(&["--user", user, "--since", "2026-03-12", "--format", "jsonl"]));
    assert!(!rows.is_empty());
    for r in &rows {
        assert!(s(r, "datetime") >= "2026-03-12", "{r}");
        let who = format!("{} {}", s(r, "ActorUsername"), s(r, "TargetUsername")).to_lowercase();
        assert!(who.contains(user), "{r}");
    }
    let signins: Vec<&Value> = rows.iter().filter(|r| s(r, "source") == "signin").collect();
    let failed =
        |code: &str| signins.iter().any(|r| s(r, "EventResult") == "Failure" && s(r, "EventResultDetails") == code);
    assert!(failed("50126"), "no 50126 (spray) failure");
    assert!(failed("500121"), "no 500121 (MFA fatigue) failure");
    assert!(
        signins.iter().any(|r| s(r, "EventResult") == "Success" && s(r, "SrcIpAddr") == azir_demo::ATTACKER_IP),
        "no successful sign-in from the attacker address"
    );
    // The table form says the same.
    let table = d.timeline(&["--user", user, "--since", "2026-03-12"]);
    assert!(table.starts_with("TIME (UTC)"), "{table:.200}");
    assert!(table.contains("failure 500121"));
}

#[test]
fn timeline_ip_filter() {
    let d = demo();
    let ip = azir_demo::ATTACKER_IP;
    let rows = jsonl(&d.timeline(&["--ip", ip, "--format", "jsonl"]));
    assert!(rows.len() > 10, "{}", rows.len());
    for r in &rows {
        assert!(s(r, "SrcIpAddr") == ip || s(r, "DstIpAddr") == ip, "{r}");
    }
    let sources: HashSet<&str> = rows.iter().map(|r| s(r, "source")).collect();
    for want in ["signin", "activity", "keyvault"] {
        assert!(sources.contains(want), "no {want} event from {ip}: {sources:?}");
    }
    // With flows, the attacker's SSH session to the opened VM shows too.
    let rows = jsonl(&d.timeline(&["--ip", ip, "--flows", "--format", "jsonl"]));
    assert!(
        rows.iter().any(|r| s(r, "DstIpAddr") == azir_demo::SSH_TARGET_IP && r["DstPortNumber"] == 22),
        "no SSH flow to {}",
        azir_demo::SSH_TARGET_IP
    );
    let ids: HashSet<&str> = rows.iter().map(|r| s(r, "event_id")).collect();
    assert_eq!(ids.len(), rows.len(), "event_id repeats among events and flow tuples");
}

#[test]
fn timeline_source_and_grep_find_the_nsg_rule_write() {
    let d = demo();
    let rows = jsonl(&d.timeline(&["--source", "activity", "--grep", "securityRules", "--format", "jsonl"]));
    assert!(rows.iter().all(|r| s(r, "source") == "activity"));
    let hit = rows.iter().find(|r| {
        s(r, "Operation").eq_ignore_ascii_case("Microsoft.Network/networkSecurityGroups/securityRules/write")
            && s(r, "message").contains(azir_demo::OPENED_RULE)
            && s(r, "EventResult") == "Success"
    });
    let hit = hit.unwrap_or_else(|| panic!("no successful write of {}", azir_demo::OPENED_RULE));
    assert_eq!(s(hit, "ActorUsername"), azir_demo::COMPROMISED_USER);
    assert_eq!(s(hit, "SrcIpAddr"), azir_demo::ATTACKER_IP);
    // --grep is text, not a pattern, and ignores case: the operation in capitals finds the same
    // rows as in its own case; with its slashes as dots (a regex's any character) it finds none.
    let op = "Microsoft.Network/networkSecurityGroups/securityRules/write";
    let same = d.timeline(&["--source", "activity", "--grep", op, "--format", "jsonl"]);
    assert!(!same.is_empty());
    assert_eq!(d.timeline(&["--source", "activity", "--grep", &op.to_uppercase(), "--format", "jsonl"]), same);
    assert_eq!(d.timeline(&["--source", "activity", "--grep", &op.replace('/', "."), "--format", "jsonl"]), "");
}

#[test]
fn csv_neutralises_formulas() {
    let d = demo();
    let out = d.timeline(&["--format", "csv"]);
    let mut rdr = csv::Reader::from_reader(out.as_bytes());
    let header = rdr.headers().unwrap().clone();
    let ua = header.iter().position(|h| h == "user_agent").unwrap();
    let mut planted = 0;
    for rec in rdr.records() {
        let rec = rec.unwrap();
        for cell in rec.iter() {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "formula-like cell {cell:?}");
        }
        if rec[ua].contains("=cmd|") {
            assert!(rec[ua].starts_with("'=cmd|' /C calc'!A0"), "{:?}", &rec[ua]);
            planted += 1;
        }
    }
    assert!(planted > 0, "the planted formula user agent is missing from the CSV");
}

#[test]
fn timesketch_exports_have_the_required_fields() {
    let d = demo();
    let out = d.timeline(&["--format", "timesketch-csv", "--limit", "2000"]);
    let mut rdr = csv::Reader::from_reader(out.as_bytes());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header[..4], ["message", "datetime", "timestamp", "timestamp_desc"]);
    let mut n = 0;
    for rec in rdr.records() {
        let rec = rec.unwrap();
        assert!(!rec[0].is_empty(), "empty message");
        let t = azir_model::parse_time(&rec[1]).unwrap_or_else(|| panic!("bad datetime {:?}", &rec[1]));
        assert_eq!(rec[2].parse::<i64>().unwrap(), t, "timestamp is datetime in microseconds");
        assert!(!rec[3].is_empty());
        n += 1;
    }
    assert_eq!(n, 2000);
    let rows = jsonl(&d.timeline(&["--format", "timesketch-jsonl", "--flows", "--limit", "2000"]));
    assert_eq!(rows.len(), 2000);
    for r in &rows {
        assert!(!s(r, "message").is_empty(), "{r}");
        let t = azir_model::parse_time(s(r, "datetime")).unwrap();
        assert_eq!(r["timestamp"].as_i64(), Some(t), "{r}");
        assert!(!s(r, "timestamp_desc").is_empty(), "{r}");
    }
}

/// The timeline is written one day partition at a time: still one time order across days
/// (events and flow tuples, whose days differ), and `--limit` is a prefix of the whole.
#[test]
fn timeline_is_in_time_order_across_days_and_limit_is_its_prefix() {
    let d = demo();
    for format in ["jsonl", "csv", "table"] {
        let all = d.timeline(&["--format", format, "--flows"]);
        let lines: Vec<&str> = all.lines().collect();
        let n = if format == "jsonl" {
            let rows = jsonl(&all);
            let times: Vec<i64> = rows.iter().map(|r| azir_model::parse_time(s(r, "datetime")).unwrap()).collect();
            assert!(times.windows(2).all(|w| w[0] <= w[1]), "the timeline is not in time order");
            let days: BTreeSet<&str> = rows.iter().map(|r| &s(r, "datetime")[..10]).collect();
            assert!(days.len() >= 3, "{days:?}");
            let first = days.first().unwrap();
            let first_day = rows.iter().take_while(|r| s(r, "datetime").starts_with(first)).count();
            assert!(first_day < rows.len());
            first_day + 7
        } else {
            2500
        };
        let limited = d.timeline(&["--format", format, "--flows", "--limit", &n.to_string()]);
        if format == "csv" {
            // By records: a quoted cell may hold a line break.
            let records = |t: &str| -> Vec<csv::StringRecord> {
                csv::Reader::from_reader(t.as_bytes()).records().map(|r| r.unwrap()).collect()
            };
            let (all, got) = (records(&all), records(&limited));
            assert_eq!(got.len(), n);
            assert_eq!(got[..], all[..n], "csv: --limit {n} is not the first {n} records");
            continue;
        }
        let header = usize::from(format != "jsonl");
        let want: Vec<&str> = lines.iter().take(n + header).copied().collect();
        assert_eq!(limited.lines().collect::<Vec<_>>(), want, "{format}: --limit {n} is not the first {n} rows");
    }
}

/// A day larger than `--sort-memory` is sorted in runs on disk and merged: the same timeline,
/// byte for byte, in every format, `--limit` still a prefix, a note on stderr, and no run left
/// behind in `$TMPDIR`.
#[test]
fn a_timeline_sorted_on_disk_is_the_same_timeline() {
    let d = demo();
    let tmp = tempfile::tempdir().unwrap();
    let case = d.case();
    let on_disk = |extra: &[&str]| -> (String, String) {
        let mut args = vec!["timeline", "--case", case.as_str(), "--sort-memory", "1"];
        args.extend_from_slice(extra);
        let o = Command::new(BIN).args(&args).env("TMPDIR", tmp.path()).stdin(Stdio::null()).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stderr));
        (text(&o.stdout), text(&o.stderr))
    };
    for extra in [
        &["--format", "jsonl", "--flows"][..],
        &["--format", "csv", "--flows"],
        &["--format", "table"],
        &["--format", "timesketch-jsonl", "--since", "2026-03-12"],
        // CSV reads no `raw`: rows are small, flows make the days large enough to spill.
        &["--format", "timesketch-csv", "--flows", "--source", "signin,activity,nsg_flow,vnet_flow"],
    ] {
        let want = d.timeline(extra);
        let (got, note) = on_disk(extra);
        assert!(got == want, "{extra:?}: sorted on disk, the timeline differs ({} vs {} bytes)", got.len(), want.len());
        assert!(note.contains("rows sorted on disk in") && note.contains("--sort-memory 1 MiB"), "{extra:?}: {note}");
        let runs: usize = note
            .lines()
            .filter_map(|l| l.split(" rows sorted on disk in ").nth(1)?.split(' ').next()?.parse().ok())
            .max()
            .unwrap();
        assert!(runs >= 2, "{extra:?}: a day in {runs} run(s) does not test the merge: {note}");
    }
    let whole = d.timeline(&["--format", "jsonl", "--flows"]);
    let (limited, _) = on_disk(&["--format", "jsonl", "--flows", "--limit", "3000"]);
    assert_eq!(limited.lines().collect::<Vec<_>>(), whole.lines().take(3000).collect::<Vec<_>>());
    assert_eq!(on_disk(&["--format", "jsonl", "--limit", "0"]).0, "");
    // Quiet: no note.
    let o = Command::new(BIN)
        .args(["--quiet", "timeline", "--case", case.as_str(), "--sort-memory", "1", "--format", "csv"])
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    assert!(o.status.success() && o.stderr.is_empty(), "{}", text(&o.stderr));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "sorted runs were left in TMPDIR");
}

/// Interrupted while a day is sorted on disk (Ctrl-C, SIGTERM): the process exits 130 and
/// leaves no run folder in `$TMPDIR`. Nothing reads the output here, so the writer blocks on a
/// full pipe with the runs of a day on disk: the signal comes while they exist.
#[cfg(unix)]
#[test]
fn an_interrupted_timeline_leaves_no_sorted_runs_behind() {
    let d = demo();
    let case = d.case();
    for signal in ["-INT", "-TERM"] {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = Command::new(BIN)
            .args(["timeline", "--case", case.as_str(), "--sort-memory", "1", "--format", "jsonl", "--flows"])
            .env("TMPDIR", tmp.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let runs = || -> usize {
            std::fs::read_dir(tmp.path())
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("azir-timeline-"))
                .map(|e| std::fs::read_dir(e.path()).map_or(0, |r| r.count()))
                .sum()
        };
        let start = std::time::Instant::now();
        while runs() == 0 {
            assert!(child.try_wait().unwrap().is_none(), "{signal}: the timeline ended before it sorted on disk");
            assert!(start.elapsed().as_secs() < 120, "{signal}: no sorted run appeared in TMPDIR");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let kill = Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
        assert!(kill.success());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{signal}: {status:?}");
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).collect();
        assert!(left.is_empty(), "{signal}: left in TMPDIR: {left:?}");
    }
}

/// The decompressed bytes of an evidence stream (`file`, `file.gz`, `archive.zip!member`).
fn stream_bytes(display: &str) -> Vec<u8> {
    let mut raw = Vec::new();
    match display.split_once('!') {
        Some((archive, member)) => {
            let mut z = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
            z.by_name(member).unwrap().read_to_end(&mut raw).unwrap();
        }
        None => {
            std::fs::File::open(display).unwrap().read_to_end(&mut raw).unwrap();
        }
    }
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
        out
    } else {
        raw
    }
}

#[test]
fn jsonl_provenance_points_at_the_evidence_line() {
    let d = demo();
    let rows = jsonl(&d.timeline(&["--format", "jsonl"]));
    assert!(rows.len() > 10_000);
    let mut by_path: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for r in &rows {
        by_path.entry(s(r, "evidence_path").to_string()).or_default().push(r);
    }
    let evidence = p(&d.dir.join("evidence")).to_string();
    let mut checked = 0;
    for (path, rs) in &by_path {
        assert!(path.starts_with(&evidence), "{path}");
        let bytes = stream_bytes(path);
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1))
            .collect();
        let csv = path.ends_with(".csv");
        for r in rs {
            let line = r["evidence_line"].as_u64().unwrap() as usize;
            assert!(line >= 1 && line <= line_starts.len(), "{path}: line {line} beyond the file");
            let start = line_starts[line - 1];
            let end = line_starts.get(line).map_or(bytes.len(), |e| e - 1);
            let line_text = String::from_utf8_lossy(&bytes[start..end]);
            if csv {
                // CSV rows become JSON objects; the row's line carries its correlation id.
                let corr = s(r, "CorrelationId");
                assert!(!corr.is_empty() && line_text.contains(corr), "{path}:{line} lacks {corr:?}: {line_text:.200}");
            } else {
                // JSON: `raw` is the record exactly as written at `evidence_offset`, on that line.
                let off = r["evidence_offset"].as_u64().unwrap() as usize;
                let raw = s(r, "raw").as_bytes();
                assert_eq!(bytes.get(off..off + raw.len()), Some(raw), "{path}: raw is not the bytes at offset {off}");
                assert!(off >= start && off <= end, "{path}: offset {off} is not on line {line}");
                let id = s(r, "CorrelationId");
                if !id.is_empty() && !raw.contains(&b'\n') {
                    assert!(line_text.contains(id), "{path}:{line} lacks {id}");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, rows.len());
    let ids: HashSet<&str> = rows.iter().map(|r| s(r, "event_id")).collect();
    assert_eq!(ids.len(), rows.len(), "duplicate event_id in the demo timeline");
}

/// `azir timeline ... | head -1`: the reader goes away after one line.
#[test]
fn closed_stdout_ends_quietly() {
    let d = demo();
    let case = d.case();
    for format in ["table", "jsonl", "csv", "timesketch-jsonl"] {
        let mut child = Command::new(BIN)
            .args(["timeline", "--case", &case, "--flows", "--format", format])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        assert!(!first.is_empty());
        // The reader (and the pipe) is dropped here.
        let out = child.wait_with_output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "--format {format}: {:?} {err}", out.status);
        assert!(err.is_empty(), "--format {format}: stderr not empty: {err}");
    }
}

#[test]
fn case_init_refuses_a_non_empty_dir_and_timeline_needs_a_case() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
    let o = azir(&["case", "init", p(dir.path())]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(text(&o.stderr).contains("already exists and is not empty"), "{}", text(&o.stderr));
    assert!(!dir.path().join("case.json").exists());

    let o = azir(&["timeline", "--case", "/nonexistent/azir-case"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(text(&o.stderr).contains("is not an azir case"), "{}", text(&o.stderr));
}

// ---------------------------------------------------------------------------------------------
// Hostile input

fn good_record(i: usize) -> String {
    serde_json::json!({
        "time": format!("2026-03-12T03:{:02}:00Z", i % 60),
        "category": "SignInLogs",
        "operationName": "Sign-in activity",
        "correlationId": format!("good-{i}"),
        "properties": {"userPrincipalName": "ann@contoso.com", "ipAddress": "192.0.2.44", "status": {"errorCode": 0},
                       "createdDateTime": "2026-03-12T03:00:00Z", "id": format!("id-{i}")},
    })
    .to_string()
}

struct Bad {
    file: &'static str,
    line: u64,
    reason: &'static [&'static str],
}

#[test]
fn bad_input_is_quarantined_with_file_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let ev = dir.path().join("evidence");
    let blob = ev.join("y=2026/m=03/d=12/h=03/m=00");
    std::fs::create_dir_all(&blob).unwrap();
    let w = |name: &str, body: &[u8]| std::fs::write(ev.join(name), body).unwrap();
    let good: Vec<String> = (0..5).map(good_record).collect();
    w("good.json", (good.join("\n") + "\n").as_bytes());
    // JSON Lines blob whose last line was cut short.
    let cut = &good_record(10)[..70];
    std::fs::write(blob.join("PT1H.json"), format!("{}\n{}\n{cut}", good_record(11), good_record(12))).unwrap();
    // Wrong-typed fields.
    let mut v: Value = serde_json::from_str(&good_record(20)).unwrap();
    v["time"] = 12.into();
    let mut v2: Value = serde_json::from_str(&good_record(21)).unwrap();
    v2["properties"] = "x".into();
    w("wrongtype.json", format!("{v}\n{v2}\n").as_bytes());
    // Invalid UTF-8 inside a JSON string, on line 2.
    let mut bad_utf8 = good_record(30).into_bytes();
    bad_utf8.push(b'\n');
    bad_utf8.extend_from_slice(b"{\"time\":\"2026-03-12T03:00:00Z\",\"category\":\"SignInLogs\",\"properties\":{\"userPrincipalName\":\"\xff\xfe@x\"}}\n");
    w("utf8.json", &bad_utf8);
    // A 100 MB single line, then a good record; written in pieces.
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(ev.join("huge.json")).unwrap());
        f.write_all(b"{\"time\":\"2026-03-12T03:00:00Z\",\"category\":\"SignInLogs\",\"properties\":{\"blob\":\"")
            .unwrap();
        let mb = vec![b'A'; 1 << 20];
        for _ in 0..100 {
            f.write_all(&mb).unwrap();
        }
        f.write_all(b"\"}}\n").unwrap();
        f.write_all(good_record(40).as_bytes()).unwrap();
        f.write_all(b"\n").unwrap();
    }
    // 10,000-deep nesting, then a good record.
    let deep = format!("{}1{}\n{}\n", "{\"a\":".repeat(10_000), "}".repeat(10_000), good_record(50));
    w("deep.json", deep.as_bytes());
    // A zip with a traversal member beside a good one.
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(ev.join("traversal.zip")).unwrap());
        let o = zip::write::SimpleFileOptions::default();
        z.start_file("../../evil.json", o).unwrap();
        z.write_all(good_record(60).as_bytes()).unwrap();
        z.start_file("logs/ok.json", o).unwrap();
        z.write_all(good_record(61).as_bytes()).unwrap();
        z.finish().unwrap();
    }
    // A gzip bomb: 200 MB of blanks in about 200 KB.
    {
        let f = std::fs::File::create(ev.join("bomb.json.gz")).unwrap();
        let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::best());
        let mb = vec![b' '; 1 << 20];
        for _ in 0..200 {
            gz.write_all(&mb).unwrap();
        }
        gz.finish().unwrap();
    }
    assert!(std::fs::metadata(ev.join("bomb.json.gz")).unwrap().len() < 400_000);
    // Binary.
    let bin: Vec<u8> = (0..64 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    w("capture.bin", &bin);

    let case = dir.path().join("case");
    let o = azir(&["ingest", p(&ev), "--case", p(&case)]);
    let stdout = text(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "exit code\n{stdout}\n{}", text(&o.stderr));
    assert!(!text(&o.stderr).contains("panicked"), "{}", text(&o.stderr));
    assert!(!case.join(".staging").exists());

    let bad = [
        Bad {
            file: "y=2026/m=03/d=12/h=03/m=00/PT1H.json",
            line: 3,
            reason: &["truncated record", "ends inside a JSON"],
        },
        Bad { file: "wrongtype.json", line: 1, reason: &["wrong type for field time", "12"] },
        Bad { file: "wrongtype.json", line: 2, reason: &["wrong type for field properties"] },
        Bad { file: "utf8.json", line: 2, reason: &["invalid UTF-8 at line 2"] },
        Bad { file: "huge.json", line: 1, reason: &["exceeds the 32 MiB limit", "104857"] },
        Bad { file: "deep.json", line: 1, reason: &["invalid JSON at line 1", "recursion limit"] },
    ];
    let unread: [(&str, &[&str]); 3] = [
        ("traversal.zip!../../evil.json", &["unsafe member path", "path traversal"]),
        ("bomb.json.gz", &["decompression bomb"]),
        ("capture.bin", &["binary content"]),
    ];

    // The good records are all in, the good file's every one.
    let c = p(&case);
    let events = jsonl(&azir_ok(&["timeline", "--case", c, "--format", "jsonl"], 0));
    let good_paths: Vec<&str> = events.iter().map(|e| s(e, "evidence_path")).collect();
    let from = |name: &str| good_paths.iter().filter(|x| x.ends_with(name)).count();
    assert_eq!(from("/good.json"), 5);
    assert_eq!(from("PT1H.json"), 2);
    assert_eq!(from("/utf8.json"), 1);
    assert_eq!(from("/huge.json"), 1);
    assert_eq!(from("/deep.json"), 1);
    assert_eq!(from("traversal.zip!logs/ok.json"), 1);
    assert_eq!(events.len(), 11, "{good_paths:?}");

    // Every bad record is counted in the manifest ...
    let manifest = Case::open(&case).unwrap().manifest().unwrap();
    let entry = |file: &str| {
        let path = p(&ev.join(file)).to_string();
        manifest.iter().find(|m| m.path == path).unwrap_or_else(|| panic!("no manifest line for {path}")).clone()
    };
    let mut per_file: HashMap<&str, u64> = HashMap::new();
    for b in &bad {
        *per_file.entry(b.file).or_default() += 1;
    }
    for (file, n) in &per_file {
        assert_eq!(entry(file).bad, *n, "manifest bad of {file}");
    }
    assert_eq!(entry("good.json").bad, 0);
    assert_eq!(entry("good.json").ok, 5);
    for (file, why) in &unread {
        let m = entry(file);
        let err = m.error.unwrap_or_else(|| panic!("{file}: no error in the manifest"));
        assert!(why.iter().all(|w| err.contains(w)), "{file}: {err}");
    }

    // ... and listed by `timeline --quarantine` with path, line and reason.
    let q = jsonl(&azir_ok(&["timeline", "--case", c, "--quarantine", "--format", "jsonl"], 0));
    assert_eq!(q.len(), bad.len() + unread.len(), "{q:#?}");
    for b in &bad {
        let path = p(&ev.join(b.file)).to_string();
        let row = q
            .iter()
            .find(|r| s(r, "evidence_path") == path && r["evidence_line"] == b.line)
            .unwrap_or_else(|| panic!("no quarantine row for {}:{}: {q:#?}", b.file, b.line));
        let reason = s(row, "reason");
        assert!(b.reason.iter().all(|w| reason.contains(w)), "{}:{}: {reason}", b.file, b.line);
    }
    for (file, why) in &unread {
        let path = p(&ev.join(file)).to_string();
        let row = q.iter().find(|r| s(r, "evidence_path") == path).unwrap_or_else(|| panic!("{file} not listed"));
        assert!(row["evidence_line"].is_null(), "{row}");
        assert!(why.iter().all(|w| s(row, "reason").contains(w)), "{row}");
    }
    // The table form names file and line too.
    let table = azir_ok(&["timeline", "--case", c, "--quarantine"], 0);
    let want = format!("{}:2 [signin]: wrong type for field properties", p(&ev.join("wrongtype.json")));
    assert!(table.contains(&want), "{table}");

    // The run summary mentions them.
    assert!(stdout.contains(&format!("quarantined {}", bad.len())), "{stdout}");
    assert!(stdout.contains("files or members not read (3)"), "{stdout}");
    for (file, _) in &unread {
        assert!(stdout.contains(&p(&ev.join(file)).to_string()), "summary lacks {file}:\n{stdout}");
    }
    assert!(stdout.contains("truncated record") && stdout.contains("wrong type"), "{stdout}");
}

// ---------------------------------------------------------------------------------------------
// Kill and rerun

/// A case as the kill test compares it: event ids, flow ids, quarantine rows, and the
/// manifest's streams (sha, member).
struct CaseState(Vec<String>, Vec<String>, u64, Vec<(String, Option<String>)>);

fn case_state(case: &Path) -> CaseState {
    let c = Case::open(case).unwrap();
    let ids = |t: Table| {
        let mut ids = Vec::new();
        scan(&c, t, None, None, Some(&["event_id"]), &mut |b| {
            let cols = Columns::new(&b);
            ids.extend((0..b.num_rows()).map(|r| cols.str("event_id", r).unwrap()));
            Ok(())
        })
        .unwrap();
        ids
    };
    let mut streams: Vec<(String, Option<String>)> =
        c.manifest().unwrap().into_iter().map(|m| (m.sha256, m.member)).collect();
    streams.sort();
    CaseState(ids(Table::Events), ids(Table::Network), count(&c, Table::Quarantine).unwrap(), streams)
}

#[test]
fn killed_ingests_rerun_to_the_same_case() {
    let dir = tempfile::tempdir().unwrap();
    let ev = dir.path().join("evidence");
    azir_demo::generate(&ev, &azir_demo::DemoOptions { scale: 2, ..Default::default() }).unwrap();
    // A few hostile files too, so the quarantine and unreadable paths are interrupted as well.
    std::fs::write(
        ev.join("wrongtype.json"),
        format!("{}\n{{\"time\":12,\"category\":\"SignInLogs\"}}\n", good_record(1)),
    )
    .unwrap();
    std::fs::write(ev.join("zz.bin"), [0u8, 1, 2, 3, 0, 0, 7]).unwrap();

    // The reference: one uninterrupted run.
    let clean = dir.path().join("clean");
    azir_ok(&["ingest", p(&ev), "--case", p(&clean), "--segment-mb", "1", "-q"], 3);
    let CaseState(ev_ids, flow_ids, bad, streams) = case_state(&clean);
    assert!(ev_ids.len() > 20_000, "{}", ev_ids.len());
    assert!(!clean.join(".staging").exists());

    let case = dir.path().join("case");
    azir_ok(&["case", "init", p(&case)], 0);
    let started = Instant::now();
    let mut kills = 0;
    // Kills that left the case part-way: some streams committed, others not yet.
    let mut partial = 0;
    let mut finished = false;
    for delay_ms in [50u64, 150, 300, 500, 800, 1200, 1700, 2300, 3000, 4000, 5000] {
        let mut child = Command::new(BIN)
            .args(["ingest", p(&ev), "--case", p(&case), "--segment-mb", "1", "-q"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_some() {
            finished = true;
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        let committed = Case::open(&case).unwrap().manifest().unwrap().len();
        if committed > 0 && committed < streams.len() {
            partial += 1;
        }
        // Between kills the case stays readable and verifiable.
        azir_ok(&["case", "verify", p(&case)], 0);
    }
    assert!(kills >= 2, "the ingest finished before it could be killed twice ({kills})");
    assert!(partial >= 1, "no kill landed mid-ingest ({kills} kills)");
    let committed_before_rerun = Case::open(&case).unwrap().manifest().unwrap().len();
    // The rerun completes the case (exit 3 while the hostile files are still to be read, 0 when
    // an earlier run got that far).
    let o = azir(&["--json", "ingest", p(&ev), "--case", p(&case), "--segment-mb", "1"]);
    assert!(matches!(o.status.code(), Some(0 | 3)), "{o:?}");
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    if !finished {
        assert!(committed_before_rerun > 0, "no segment committed before the last kill");
    }
    assert!(!case.join(".staging").exists(), ".staging left behind");
    azir_ok(&["case", "verify", p(&case)], 0);

    let CaseState(ev2, flow2, bad2, streams2) = case_state(&case);
    let dups = |ids: &[String]| ids.len() - ids.iter().collect::<HashSet<_>>().len();
    assert_eq!(dups(&ev2), 0, "duplicate event ids after {kills} kills");
    assert_eq!(dups(&flow2), 0, "duplicate flow ids after {kills} kills");
    assert_eq!(ev2.len(), ev_ids.len(), "events: killed+rerun vs clean");
    assert_eq!(flow2.len(), flow_ids.len(), "flows");
    assert_eq!(bad2, bad, "quarantine rows");
    assert_eq!(ev2.iter().collect::<HashSet<_>>(), ev_ids.iter().collect::<HashSet<_>>(), "event ids differ");
    assert_eq!(flow2.iter().collect::<HashSet<_>>(), flow_ids.iter().collect::<HashSet<_>>(), "flow ids differ");
    assert_eq!(streams2, streams, "manifest streams (one line per stream)");
    eprintln!(
        "kill test: {kills} kills ({partial} mid-ingest), {committed_before_rerun} of {} streams committed before the rerun, rerun read {} streams, {:.1}s",
        streams.len(),
        r["streams"],
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn demo_configuration_answers_nsg_verify_now_and_during_the_attack() {
    // The demo ships `az network vnet/nsg/nic list` output collected after the incident, when the
    // attacker's rule was gone again; the Activity Log rebuilds the rule set in force in between.
    let d = demo();
    let case = d.case();
    let ask = |extra: &[&str]| -> Value {
        let mut args = vec!["--json", "nsg", "verify", "--case", case.as_str(), "--direction", "in", "--proto", "tcp"];
        args.extend_from_slice(&["--src", azir_demo::ATTACKER_IP]);
        args.extend_from_slice(extra);
        serde_json::from_str(&azir_ok(&args, 0)).unwrap()
    };
    let dst = format!("{}:22", azir_demo::SSH_TARGET_IP);
    let now = ask(&["--dst", &dst]);
    assert_eq!(
        now["access"].as_str().or(now["verdict"].as_str()).map(str::to_lowercase).as_deref(),
        Some("deny"),
        "{now:#}"
    );
    assert!(now.to_string().contains("DenyAllInBound"), "{now:#}");
    let during = ask(&["--dst", &dst, "--at", "2026-03-12T04:00:00Z"]);
    assert_eq!(
        during["access"].as_str().or(during["verdict"].as_str()).map(str::to_lowercase).as_deref(),
        Some("allow"),
        "{during:#}"
    );
    assert!(during.to_string().contains(azir_demo::OPENED_RULE), "{during:#}");
    // Before the attacker wrote it, the same flow was refused.
    let before = ask(&["--dst", &dst, "--at", "2026-03-11T00:00:00Z"]);
    assert!(before.to_string().contains("DenyAllInBound"), "{before:#}");
}
