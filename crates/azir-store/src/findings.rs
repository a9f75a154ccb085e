//! The `findings` table: what a hunt found, stored in the case next to the events it points at.
//!
//! One Parquet file per rule set: `tables/findings/<rule_set>.parquet`, where `<rule_set>` is the
//! fingerprint of the rule texts the hunt ran. Re-running a hunt with the same rules replaces
//! that file (written to a temporary name in the same directory, synced, then renamed over the
//! old one, so a reader sees the old findings or the new ones, never a mix); a hunt with other
//! rules writes its own file beside it. [`read`] returns the findings of every rule set.
//! Findings are not part of the evidence manifest: they are derived, and a hunt can always
//! recreate them.

use crate::case::{io_err, Case, StoreError};
use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{Array, ArrayRef, ListArray, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::path::PathBuf;
use std::sync::Arc;

/// One stored finding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FindingRow {
    /// Fingerprint of the rule set the hunt ran (names the file).
    pub rule_set: String,
    /// Rule id.
    pub rule_id: String,
    /// Rule title.
    pub title: String,
    /// Level: informational, low, medium, high, critical.
    pub level: String,
    /// Rule tags (ATT&CK: `attack.*`).
    pub tags: Vec<String>,
    /// `detection` or the correlation type.
    pub kind: String,
    /// Where the rule came from.
    pub origin: String,
    /// First contributing event (µs, UTC).
    pub first: i64,
    /// Last contributing event (µs, UTC).
    pub last: i64,
    /// Correlation group values (`field=value`).
    pub group: Vec<String>,
    /// Users involved.
    pub users: Vec<String>,
    /// Source IPs involved.
    pub ips: Vec<String>,
    /// Applications involved.
    pub apps: Vec<String>,
    /// Resources involved.
    pub resources: Vec<String>,
    /// `event_id` of every contributing event (same order as `evidence`).
    pub event_ids: Vec<String>,
    /// Provenance of every contributing event: `path:line`.
    pub evidence: Vec<String>,
    /// Number of contributing events.
    pub event_count: u64,
}

const LISTS: [&str; 8] = ["tags", "group", "users", "ips", "apps", "resources", "event_ids", "evidence"];

/// Schema of `findings`.
pub fn schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let list = |n: &str| Field::new(n, DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), false);
    let mut f = vec![
        Field::new("rule_set", DataType::Utf8, false),
        Field::new("rule_id", DataType::Utf8, false),
        Field::new("title", DataType::Utf8, false),
        Field::new("level", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("origin", DataType::Utf8, false),
        Field::new("first_time", ts.clone(), false),
        Field::new("last_time", ts, false),
        Field::new("event_count", DataType::UInt64, false),
    ];
    f.extend(LISTS.iter().map(|n| list(n)));
    Arc::new(Schema::new(f))
}

fn lists(r: &FindingRow) -> [&Vec<String>; 8] {
    [&r.tags, &r.group, &r.users, &r.ips, &r.apps, &r.resources, &r.event_ids, &r.evidence]
}

fn batch(rows: &[FindingRow]) -> Result<RecordBatch, StoreError> {
    let col =
        |f: &dyn Fn(&FindingRow) -> &str| -> ArrayRef { Arc::new(StringArray::from_iter_values(rows.iter().map(f))) };
    let mut cols: Vec<ArrayRef> = vec![
        col(&|r| &r.rule_set),
        col(&|r| &r.rule_id),
        col(&|r| &r.title),
        col(&|r| &r.level),
        col(&|r| &r.kind),
        col(&|r| &r.origin),
        Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.first)).with_timezone("UTC")),
        Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.last)).with_timezone("UTC")),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.event_count))),
    ];
    for i in 0..LISTS.len() {
        let mut b = ListBuilder::new(StringBuilder::new());
        for r in rows {
            for v in lists(r)[i] {
                b.values().append_value(v);
            }
            b.append(true);
        }
        cols.push(Arc::new(b.finish()));
    }
    RecordBatch::try_new(schema(), cols)
        .map_err(|e| StoreError::Parquet { path: PathBuf::from("findings"), reason: e.to_string() })
}

/// `tables/findings`.
pub fn dir(case: &Case) -> PathBuf {
    case.root().join("tables").join("findings")
}

/// Replaces the findings of `rule_set` with `rows` (atomically: temp file, sync, rename).
/// Returns the path written.
pub fn write(case: &Case, rule_set: &str, rows: &[FindingRow]) -> Result<PathBuf, StoreError> {
    if rule_set.is_empty() || !rule_set.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(StoreError::Parquet {
            path: dir(case),
            reason: format!("rule set name {rule_set:?} is not a plain file name"),
        });
    }
    let d = dir(case);
    fs::create_dir_all(&d).map_err(io_err(&d))?;
    let dest = d.join(format!("{rule_set}.parquet"));
    let tmp = crate::case::temp_beside(&dest);
    let perr = |e: parquet::errors::ParquetError| StoreError::Parquet { path: tmp.clone(), reason: e.to_string() };
    let file = File::create(&tmp).map_err(io_err(&tmp))?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut w = ArrowWriter::try_new(file, schema(), Some(props)).map_err(perr)?;
    if !rows.is_empty() {
        w.write(&batch(rows)?).map_err(perr)?;
    }
    let file = w.into_inner().map_err(perr)?;
    file.sync_all().map_err(io_err(&tmp))?;
    drop(file);
    fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
    if let Ok(dirf) = File::open(&d) {
        let _ = dirf.sync_all();
    }
    Ok(dest)
}

fn strings(a: &ListArray, i: usize) -> Vec<String> {
    let v = a.value(i);
    match v.as_any().downcast_ref::<StringArray>() {
        Some(s) => (0..s.len()).filter(|&j| s.is_valid(j)).map(|j| s.value(j).to_string()).collect(),
        None => Vec::new(),
    }
}

/// Every stored finding, of every rule set (files in name order, rows in stored order).
pub fn read(case: &Case) -> Result<Vec<FindingRow>, StoreError> {
    let d = dir(case);
    let Ok(rd) = fs::read_dir(&d) else { return Ok(Vec::new()) };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "parquet")
                && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let perr = |e: parquet::errors::ParquetError| StoreError::Parquet { path: path.clone(), reason: e.to_string() };
        let file = File::open(&path).map_err(io_err(&path))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).map_err(perr)?.build().map_err(perr)?;
        for b in reader {
            let b = b.map_err(|e| StoreError::Parquet { path: path.clone(), reason: e.to_string() })?;
            let bad = || StoreError::Parquet { path: path.clone(), reason: "unexpected findings schema".into() };
            let s =
                |n: &str| b.column_by_name(n).and_then(|c| c.as_any().downcast_ref::<StringArray>()).ok_or_else(bad);
            let t = |n: &str| {
                b.column_by_name(n).and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>()).ok_or_else(bad)
            };
            let l = |n: &str| b.column_by_name(n).and_then(|c| c.as_any().downcast_ref::<ListArray>()).ok_or_else(bad);
            let (rule_set, rule_id, title, level, kind, origin) =
                (s("rule_set")?, s("rule_id")?, s("title")?, s("level")?, s("kind")?, s("origin")?);
            let (first, last) = (t("first_time")?, t("last_time")?);
            let count = b
                .column_by_name("event_count")
                .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
                .ok_or_else(bad)?;
            let ls: Vec<&ListArray> = LISTS.iter().map(|n| l(n)).collect::<Result<_, _>>()?;
            for i in 0..b.num_rows() {
                out.push(FindingRow {
                    rule_set: rule_set.value(i).to_string(),
                    rule_id: rule_id.value(i).to_string(),
                    title: title.value(i).to_string(),
                    level: level.value(i).to_string(),
                    kind: kind.value(i).to_string(),
                    origin: origin.value(i).to_string(),
                    first: first.value(i),
                    last: last.value(i),
                    event_count: count.value(i),
                    tags: strings(ls[0], i),
                    group: strings(ls[1], i),
                    users: strings(ls[2], i),
                    ips: strings(ls[3], i),
                    apps: strings(ls[4], i),
                    resources: strings(ls[5], i),
                    event_ids: strings(ls[6], i),
                    evidence: strings(ls[7], i),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(rule: &str, n: usize) -> FindingRow {
        FindingRow {
            rule_set: "abc".into(),
            rule_id: rule.into(),
            title: format!("{rule} title"),
            level: "high".into(),
            tags: vec!["attack.t1078".into()],
            kind: "detection".into(),
            origin: "builtin:x.yml".into(),
            first: 1_000,
            last: 2_000,
            group: vec![],
            users: vec!["megan@contoso.com".into()],
            ips: vec!["203.0.113.77".into()],
            apps: vec![],
            resources: vec!["/subscriptions/x".into()],
            event_ids: (0..n).map(|i| format!("id{i}")).collect(),
            evidence: (0..n).map(|i| format!("a.json:{i}")).collect(),
            event_count: n as u64,
        }
    }

    #[test]
    fn write_read_round_trips_and_rewrites_replace() {
        let tmp = tempfile::tempdir().unwrap();
        let case = Case::init(&tmp.path().join("case"), None, None).unwrap();
        assert!(read(&case).unwrap().is_empty());
        write(&case, "abc", &[row("r1", 2), row("r2", 0)]).unwrap();
        assert_eq!(read(&case).unwrap(), vec![row("r1", 2), row("r2", 0)]);
        // Same rule set: replaced, not appended.
        write(&case, "abc", &[row("r3", 1)]).unwrap();
        assert_eq!(read(&case).unwrap(), vec![row("r3", 1)]);
        // Another rule set: kept beside it.
        let mut other = row("r4", 1);
        other.rule_set = "def".into();
        write(&case, "def", std::slice::from_ref(&other)).unwrap();
        assert_eq!(read(&case).unwrap(), vec![row("r3", 1), other]);
        // Empty results replace too.
        write(&case, "abc", &[]).unwrap();
        assert_eq!(read(&case).unwrap().len(), 1);
        assert!(write(&case, "../evil", &[]).is_err());
        assert!(fs::read_dir(dir(&case)).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".tmp")));
    }
}
