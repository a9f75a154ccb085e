//! Interrupted ingests, simulated at the commit's riskiest points: a case left by a kill must
//! be completed by the rerun into exactly the case one uninterrupted run makes (same rows, same
//! ids, one manifest line per stream), never with rows counted twice or lost.

use azir_store::ingest::NoProgress;
use azir_store::read::scan;
use azir_store::schema::Columns;
use azir_store::{ingest, Case, IngestOptions, Table};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Twelve JSON Lines files of 40 sign-ins each (about 12 KB a file).
fn evidence(dir: &Path) -> PathBuf {
    let ev = dir.join("evidence");
    std::fs::create_dir_all(&ev).unwrap();
    for f in 0..12 {
        let mut text = String::new();
        for i in 0..40 {
            let rec = serde_json::json!({
                "time": format!("2026-03-{:02}T03:{:02}:00Z", 1 + f, i),
                "category": "SignInLogs",
                "correlationId": format!("c-{f}-{i}"),
                "properties": {"userPrincipalName": format!("u{i}@contoso.com"), "ipAddress": "192.0.2.7",
                               "status": {"errorCode": if i % 3 == 0 { 50126 } else { 0 }}, "padding": "x".repeat(200)},
            });
            text.push_str(&rec.to_string());
            text.push('\n');
        }
        std::fs::write(ev.join(format!("signins-{f:02}.json")), text).unwrap();
    }
    ev
}

fn opts() -> IngestOptions {
    // Segments of about three files, so one run commits several.
    IngestOptions { threads: 2, segment_bytes: 30_000, ..IngestOptions::default() }
}

fn run(case: &Case, ev: &Path) {
    ingest(case, &[ev.to_path_buf()], &opts(), &NoProgress).unwrap();
}

/// Event ids and the (sha, member) of every manifest line.
fn state(case: &Case) -> (Vec<String>, Vec<(String, Option<String>)>) {
    let mut ids = Vec::new();
    scan(case, Table::Events, None, None, Some(&["event_id"]), &mut |b| {
        let c = Columns::new(&b);
        ids.extend((0..b.num_rows()).map(|r| c.str("event_id", r).unwrap()));
        Ok(())
    })
    .unwrap();
    let mut streams: Vec<_> = case.manifest().unwrap().into_iter().map(|m| (m.sha256, m.member)).collect();
    streams.sort();
    (ids, streams)
}

fn assert_same(case: &Case, clean: &Case, what: &str) {
    let (ids, streams) = state(case);
    let (want_ids, want_streams) = state(clean);
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{what}: {} rows counted twice", ids.len() - unique.len());
    assert_eq!(ids.len(), want_ids.len(), "{what}: events");
    assert_eq!(unique, want_ids.iter().collect::<HashSet<_>>(), "{what}: event ids");
    assert_eq!(streams, want_streams, "{what}: manifest streams");
    let v = case.verify().unwrap();
    assert!(v.ok() && v.orphan_parts == 0, "{what}: {v:?}");
}

/// Manifest lines (raw text) grouped by segment, in file order.
fn manifest_lines(case_dir: &Path) -> (Vec<String>, BTreeMap<String, usize>) {
    let text = std::fs::read_to_string(case_dir.join("manifest.jsonl")).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut per_segment = BTreeMap::new();
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        *per_segment.entry(v["segment"].as_str().unwrap().to_string()).or_default() += 1;
    }
    (lines, per_segment)
}

fn setup(tag: &str) -> (tempfile::TempDir, PathBuf, Case, Case) {
    let dir = tempfile::Builder::new().prefix(tag).tempdir().unwrap();
    let ev = evidence(dir.path());
    let clean = Case::init(&dir.path().join("clean"), None, None).unwrap();
    run(&clean, &ev);
    let case = Case::init(&dir.path().join("case"), None, None).unwrap();
    run(&case, &ev);
    assert_same(&case, &clean, "two clean runs");
    (dir, ev, case, clean)
}

/// A kill in the middle of appending a segment's manifest lines (a large write is not atomic:
/// a fatal signal can stop it part-way) leaves some of the segment's lines, then a torn one.
#[test]
fn kill_during_the_manifest_append_of_a_segment() {
    let (_dir, ev, case, clean) = setup("azir-recovery-torn");
    let (lines, per_segment) = manifest_lines(case.root());
    // Segment sizes depend on thread timing: take the last segment (in file order) with several
    // lines; a kill during its append means no later segment was written either.
    let seg_of =
        |l: &String| serde_json::from_str::<serde_json::Value>(l).unwrap()["segment"].as_str().unwrap().to_string();
    let start = (0..lines.len())
        .rev()
        .find(|&i| per_segment[&seg_of(&lines[i])] >= 2 && (i == 0 || seg_of(&lines[i - 1]) != seg_of(&lines[i])))
        .expect("some segment holds several streams");
    // Keep the segment's first line only, and half of its second.
    let keep = start + 1;
    let torn = &lines[keep][..lines[keep].len() / 2];
    let mut text = lines[..keep].join("\n");
    text.push('\n');
    text.push_str(torn);
    std::fs::write(case.root().join("manifest.jsonl"), text).unwrap();

    run(&case, &ev);
    assert_same(&case, &clean, "rerun after a torn segment commit");
}

/// A kill after the parts were renamed into `tables/` but before any manifest line was written,
/// with a staged part of the next segment left behind too.
#[test]
fn kill_between_the_part_renames_and_the_manifest() {
    let (_dir, ev, case, clean) = setup("azir-recovery-orphans");
    let (lines, per_segment) = manifest_lines(case.root());
    let last_seg: String = {
        let v: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
        v["segment"].as_str().unwrap().to_string()
    };
    let keep = lines.len() - per_segment[&last_seg];
    let mut text = lines[..keep].join("\n");
    text.push('\n');
    std::fs::write(case.root().join("manifest.jsonl"), text).unwrap();
    let staged = case.staging_dir().join("run-0001/events/day=2026-03-01");
    std::fs::create_dir_all(&staged).unwrap();
    std::fs::write(staged.join("part-run-0001.parquet"), b"half-written").unwrap();
    assert!(case.verify().unwrap().orphan_parts > 0, "the last segment's parts are orphans now");

    run(&case, &ev);
    assert_same(&case, &clean, "rerun after orphan parts");
    assert!(!case.staging_dir().exists(), ".staging left behind");
}
