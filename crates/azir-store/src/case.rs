//! The case directory: `case.json`, the evidence manifest, the hash-chained custody log, and the
//! table files.
//!
//! ```text
//! case/
//!   case.json          id, name, timezone, analyst, created
//!   custody.jsonl      append-only; each entry carries the SHA-256 of the previous one
//!   manifest.jsonl     one line per evidence stream (file, or archive member)
//!   collection.jsonl   one line per source and time window `azir collect` asked for: the
//!                      query, what came back (pages, records, retries) or why not
//!   tables/<t>/day=YYYY-MM-DD/part-<segment>.parquet
//!   .staging/          parts being written; never read
//! ```
//!
//! Consistency rests on one rule: a table part counts only once a manifest line names its
//! segment. Parts are renamed into place first and the manifest lines appended last, so a kill
//! at any moment leaves either a committed segment or orphan parts that readers ignore and the
//! next ingest deletes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Errors from the case store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// IO on a case file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The directory is not an azir case.
    #[error("{0} is not an azir case (no case.json): create one with `azir case init {0}`")]
    NotACase(PathBuf),
    /// The directory exists and is not empty.
    #[error("{0} already exists and is not empty")]
    NotEmpty(PathBuf),
    /// A case file is malformed.
    #[error("{path}, line {line}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Writing a table failed.
    #[error("writing {path}: {reason}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// Reading or writing a case on Azure storage failed (credentials never appear in it).
    #[error("{0}")]
    Remote(String),
    /// A caller's callback stopped a scan: what a callback of [`crate::read::scan_parts`]
    /// returns to end the scan early on an error that is not the store's (the caller keeps that
    /// error and reports it, not this one).
    #[error("stopped by the reader")]
    Stopped,
}

/// Attaches a path to an IO error.
pub fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// `case.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CaseInfo {
    /// Random-looking id, unique per case.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Display time zone for reports (storage is always UTC).
    pub timezone: String,
    /// Who opened the case.
    pub analyst: String,
    /// When (RFC 3339, UTC).
    pub created: String,
    /// azir version that created it.
    pub azir_version: String,
}

/// One line of `manifest.jsonl`: an evidence stream and what came of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct ManifestEntry {
    /// SHA-256 of the evidence file as stored.
    pub sha256: String,
    /// Archive member, if the stream is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// Display path as given on the command line (`archive.zip!member` for members).
    pub path: String,
    /// Absolute path at ingest time, for re-hashing by `case verify`.
    pub origin: String,
    /// Size of the evidence file in bytes.
    pub size: u64,
    /// Detected layout (`json:lines`, `json:records`, `json:value`, `csv`, `vpc-flow`, `unreadable`).
    pub format: String,
    /// Records read.
    pub records: u64,
    /// Records normalized without defect.
    pub ok: u64,
    /// Quarantine rows written (records and flow tuples).
    pub bad: u64,
    /// Events written.
    pub events: u64,
    /// Network sessions written.
    pub flows: u64,
    /// Records per detected source.
    #[serde(default)]
    pub sources: BTreeMap<String, u64>,
    /// Stream-level error (unreadable archive, decompression bomb, binary content), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Segment whose parts hold this stream's rows.
    pub segment: String,
    /// Manifest lines the segment was committed with (0 in lines written before this was
    /// recorded). A segment counts as committed only once all its lines are in the manifest.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub segment_streams: u64,
    /// When ingested (RFC 3339 UTC).
    pub ingested_at: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One line of `custody.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CustodyEntry {
    /// 0-based position in the log.
    pub seq: u64,
    /// When (RFC 3339 UTC).
    pub time: String,
    /// What happened: `case-created`, `evidence-ingested`, `ingest-run`, `evidence-acquired`…
    pub action: String,
    /// Who (`user@host`).
    pub actor: String,
    /// Evidence hash the entry is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Evidence path, if any (never with secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Free-form details.
    #[serde(default)]
    pub detail: serde_json::Value,
    /// `hash` of the previous entry (64 zeros for the first).
    pub prev: String,
    /// SHA-256 over `prev`, a newline, and this entry serialized with `hash` empty.
    pub hash: String,
}

impl CustodyEntry {
    fn compute_hash(&self) -> String {
        let mut copy = self.clone();
        copy.hash = String::new();
        let body = serde_json::to_string(&copy).unwrap_or_default();
        let mut h = Sha256::new();
        h.update(self.prev.as_bytes());
        h.update(b"\n");
        h.update(body.as_bytes());
        azir_logs::input::hex(&h.finalize())
    }
}

/// Now as RFC 3339 UTC with microseconds.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// `user@host` of whoever runs azir.
pub fn actor() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "unknown".into());
    let host = fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

/// An open case.
#[derive(Debug, Clone)]
pub struct Case {
    root: PathBuf,
    /// Its `case.json`.
    pub info: CaseInfo,
}

impl Case {
    /// Creates a new case in `dir` (which must not exist or be empty).
    pub fn init(dir: &Path, name: Option<&str>, analyst: Option<&str>) -> Result<Case, StoreError> {
        if dir.exists() {
            let mut rd = fs::read_dir(dir).map_err(io_err(dir))?;
            if rd.next().is_some() {
                return Err(StoreError::NotEmpty(dir.to_path_buf()));
            }
        }
        // case.json goes first (atomically): a kill during init leaves an openable case, never a
        // non-empty folder that `init` refuses and `open` does not recognise.
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let created = now_rfc3339();
        let mut h = Sha256::new();
        h.update(created.as_bytes());
        h.update(std::process::id().to_le_bytes());
        h.update(dir.display().to_string().as_bytes());
        let id = azir_logs::input::hex(&h.finalize()[..8]);
        let info = CaseInfo {
            id,
            name: name.map(str::to_string).unwrap_or_else(|| {
                dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "case".into())
            }),
            timezone: "UTC".into(),
            analyst: analyst.map(str::to_string).unwrap_or_else(actor),
            created,
            azir_version: env!("CARGO_PKG_VERSION").into(),
        };
        let path = dir.join("case.json");
        let body = serde_json::to_string_pretty(&info).unwrap_or_default();
        write_atomic(&path, body.as_bytes())?;
        fs::create_dir_all(dir.join("tables")).map_err(io_err(dir))?;
        File::create(dir.join("manifest.jsonl")).map_err(io_err(dir))?;
        let case = Case { root: dir.to_path_buf(), info };
        case.append_custody(
            "case-created",
            None,
            None,
            serde_json::json!({"case_id": case.info.id, "name": case.info.name}),
        )?;
        Ok(case)
    }

    /// Opens an existing case.
    pub fn open(dir: &Path) -> Result<Case, StoreError> {
        let path = dir.join("case.json");
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StoreError::NotACase(dir.to_path_buf())),
            Err(e) => return Err(StoreError::Io { path, source: e }),
        };
        let info: CaseInfo = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            line: e.line(),
            reason: e.to_string(),
        })?;
        Ok(Case { root: dir.to_path_buf(), info })
    }

    /// The case directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `tables/<table>`.
    pub fn table_dir(&self, table: crate::schema::Table) -> PathBuf {
        self.root.join("tables").join(table.name())
    }

    /// `.staging`.
    pub fn staging_dir(&self) -> PathBuf {
        self.root.join(".staging")
    }

    fn manifest_path(&self) -> PathBuf {
        self.root.join("manifest.jsonl")
    }

    fn custody_path(&self) -> PathBuf {
        self.root.join("custody.jsonl")
    }

    /// All manifest entries of committed segments. A kill mid-append can leave a segment with
    /// only some of its lines (a large write is not atomic), the last one torn: the torn line is
    /// ignored, and so are the lines of a segment with fewer lines than it was committed with.
    /// That segment then counts as uncommitted: its parts are orphans and its streams are
    /// re-ingested.
    pub fn manifest(&self) -> Result<Vec<ManifestEntry>, StoreError> {
        let all: Vec<ManifestEntry> = read_jsonl(&self.manifest_path())?;
        let mut lines: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        for e in &all {
            *lines.entry(e.segment.clone()).or_default() += 1;
        }
        Ok(all.into_iter().filter(|e| e.segment_streams == 0 || lines[&e.segment] >= e.segment_streams).collect())
    }

    /// Appends manifest entries and syncs the file.
    pub fn append_manifest(&self, entries: &[ManifestEntry]) -> Result<(), StoreError> {
        let path = self.manifest_path();
        let mut buf = Vec::new();
        for e in entries {
            serde_json::to_writer(&mut buf, e).map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                line: 0,
                reason: e.to_string(),
            })?;
            buf.push(b'\n');
        }
        locked(&path, || append_synced(&path, &buf))
    }

    /// The collection record (`collection.jsonl`): one JSON object per source and window asked
    /// of a live tenant. Kept beside the manifest, not in it: manifest lines are the commit
    /// protocol of ingested segments, and a window may land no file at all (403, empty).
    pub fn collection(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        read_jsonl(&self.root.join("collection.jsonl"))
    }

    /// Appends lines to the collection record.
    pub fn append_collection(&self, lines: &[serde_json::Value]) -> Result<(), StoreError> {
        let mut buf = Vec::new();
        for l in lines {
            serde_json::to_writer(&mut buf, l).unwrap_or_default();
            buf.push(b'\n');
        }
        let path = self.root.join("collection.jsonl");
        locked(&path, || append_synced(&path, &buf))
    }

    /// Segments that are committed (named by a manifest line).
    pub fn committed_segments(&self) -> Result<HashSet<String>, StoreError> {
        Ok(self.manifest()?.into_iter().map(|e| e.segment).collect())
    }

    /// The custody log.
    pub fn custody(&self) -> Result<Vec<CustodyEntry>, StoreError> {
        read_jsonl(&self.custody_path())
    }

    /// Appends a custody entry chained to the last one.
    pub fn append_custody(
        &self,
        action: &str,
        sha256: Option<&str>,
        path: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<CustodyEntry, StoreError> {
        self.append_custody_many(&[(action.to_string(), sha256.map(str::to_string), path.map(str::to_string), detail)])
            .map(|mut v| v.remove(0))
    }

    /// Appends several custody entries in one write.
    pub fn append_custody_many(
        &self,
        items: &[(String, Option<String>, Option<String>, serde_json::Value)],
    ) -> Result<Vec<CustodyEntry>, StoreError> {
        // Only the last committed entry matters: read the file's tail, not the whole log (a
        // collection appends one entry per landed file; re-reading the log each time is quadratic).
        // Two processes on one case (two `azir hunt`, a hunt during a collection) must not both
        // chain onto the same entry: the read and the append happen under the file's lock.
        let path = self.custody_path();
        locked(&path, || self.append_custody_unlocked(&path, items))
    }

    fn append_custody_unlocked(
        &self,
        path: &Path,
        items: &[(String, Option<String>, Option<String>, serde_json::Value)],
    ) -> Result<Vec<CustodyEntry>, StoreError> {
        let path = path.to_path_buf();
        let last: Option<CustodyEntry> = match last_line(&path)? {
            Some(line) => Some(serde_json::from_slice(&line).map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                line: 0,
                reason: format!("last entry: {e}"),
            })?),
            None => None,
        };
        let (mut seq, mut prev) = match last {
            Some(l) => (l.seq + 1, l.hash),
            None => (0, "0".repeat(64)),
        };
        let actor = actor();
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for (action, sha, path, detail) in items {
            let mut e = CustodyEntry {
                seq,
                time: now_rfc3339(),
                action: action.clone(),
                actor: actor.clone(),
                sha256: sha.clone(),
                path: path.clone(),
                detail: detail.clone(),
                prev: prev.clone(),
                hash: String::new(),
            };
            e.hash = e.compute_hash();
            serde_json::to_writer(&mut buf, &e).unwrap_or_default();
            buf.push(b'\n');
            prev = e.hash.clone();
            seq += 1;
            out.push(e);
        }
        append_synced(&self.custody_path(), &buf)?;
        Ok(out)
    }

    /// Removes what an interrupted ingest left: the staging area and table parts whose segment
    /// no manifest line names. Returns how many parts were removed.
    pub fn recover(&self) -> Result<usize, StoreError> {
        let staging = self.staging_dir();
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io_err(&staging))?;
        }
        let committed = self.committed_segments()?;
        let mut removed = 0;
        for part in self.all_parts()? {
            if !committed.contains(&part.segment) {
                fs::remove_file(&part.path).map_err(io_err(&part.path))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Every part file of every table, committed or not.
    pub fn all_parts(&self) -> Result<Vec<Part>, StoreError> {
        let mut parts = Vec::new();
        for table in crate::schema::Table::ALL {
            let dir = self.table_dir(table);
            let Ok(days) = fs::read_dir(&dir) else {
                continue;
            };
            for day in days {
                let day = day.map_err(io_err(&dir))?;
                let dname = day.file_name().to_string_lossy().into_owned();
                let Some(d) = dname.strip_prefix("day=") else {
                    continue;
                };
                let Ok(files) = fs::read_dir(day.path()) else {
                    continue;
                };
                for f in files {
                    let f = f.map_err(io_err(&day.path()))?;
                    let name = f.file_name().to_string_lossy().into_owned();
                    if let Some(seg) = name.strip_prefix("part-").and_then(|n| n.strip_suffix(".parquet")) {
                        parts.push(Part { table, day: d.to_string(), segment: seg.to_string(), path: f.path() });
                    }
                }
            }
        }
        parts.sort_by(|a, b| (a.table, &a.day, &a.segment).cmp(&(b.table, &b.day, &b.segment)));
        Ok(parts)
    }

    /// Committed parts of one table, optionally limited to days in `[from, to]` (`YYYY-MM-DD`).
    pub fn parts(
        &self,
        table: crate::schema::Table,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Vec<Part>, StoreError> {
        let committed = self.committed_segments()?;
        Ok(self
            .all_parts()?
            .into_iter()
            .filter(|p| p.table == table && committed.contains(&p.segment))
            .filter(|p| from.is_none_or(|f| p.day.as_str() >= f) && to.is_none_or(|t| p.day.as_str() <= t))
            .collect())
    }

    /// Checks the custody chain only (no re-hashing): sequence, links and entry hashes, and
    /// counts table parts left by interrupted ingests.
    pub fn verify_chain(&self) -> Result<VerifyReport, StoreError> {
        let mut report = VerifyReport::default();
        self.check_chain(&self.custody()?, &mut report);
        let committed = self.committed_segments()?;
        report.orphan_parts = self.all_parts()?.iter().filter(|p| !committed.contains(&p.segment)).count();
        Ok(report)
    }

    fn check_chain(&self, log: &[CustodyEntry], report: &mut VerifyReport) {
        let mut prev = "0".repeat(64);
        for (i, e) in log.iter().enumerate() {
            if e.seq != i as u64 {
                report.chain_errors.push(format!("entry {i}: sequence number {} (expected {i})", e.seq));
            }
            if e.prev != prev {
                report
                    .chain_errors
                    .push(format!("entry {i}: previous-hash link broken (entry was altered, removed or reordered)"));
            }
            if e.compute_hash() != e.hash {
                report.chain_errors.push(format!("entry {i} ({}): content does not match its hash", e.action));
            }
            prev = e.hash.clone();
        }
        report.custody_entries = log.len();
    }

    /// Checks the custody chain and re-hashes evidence still at its origin and acquired disk images.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let mut report = VerifyReport::default();
        let log = self.custody()?;
        self.check_chain(&log, &mut report);
        let mut seen = HashSet::new();
        for m in self.manifest()? {
            if !seen.insert(m.sha256.clone()) {
                continue;
            }
            let origin = PathBuf::from(&m.origin);
            if !origin.exists() {
                report.evidence_missing.push(m.path.clone());
                continue;
            }
            match azir_logs::input::sha256_file(&origin) {
                Ok((sha, _)) if sha == m.sha256 => report.evidence_ok += 1,
                Ok((sha, _)) => report.evidence_changed.push(format!("{}: recorded {} now {}", m.path, m.sha256, sha)),
                Err(e) => report.evidence_missing.push(format!("{}: {e}", m.path)),
            }
        }
        // Acquired disk images: re-hashed where the custody entry recorded them.
        for e in log.iter().filter(|e| e.action == "evidence-acquired") {
            let (Some(sha), Some(path)) = (&e.sha256, &e.path) else { continue };
            if !seen.insert(sha.clone()) {
                continue;
            }
            let p = PathBuf::from(path);
            if !p.exists() {
                report.evidence_missing.push(path.clone());
                continue;
            }
            match azir_logs::input::sha256_file(&p) {
                Ok((now, _)) if &now == sha => report.evidence_ok += 1,
                Ok((now, _)) => report.evidence_changed.push(format!("{path}: recorded {sha} now {now}")),
                Err(err) => report.evidence_missing.push(format!("{path}: {err}")),
            }
        }
        let committed = self.committed_segments()?;
        report.orphan_parts = self.all_parts()?.iter().filter(|p| !committed.contains(&p.segment)).count();
        Ok(report)
    }
}

/// A table part file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Its table.
    pub table: crate::schema::Table,
    /// Its day partition.
    pub day: String,
    /// Segment id from its name.
    pub segment: String,
    /// Path.
    pub path: PathBuf,
}

/// Outcome of [`Case::verify`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Entries in the custody log.
    pub custody_entries: usize,
    /// Broken links or altered entries.
    pub chain_errors: Vec<String>,
    /// Evidence files whose hash still matches.
    pub evidence_ok: usize,
    /// Evidence files whose bytes changed.
    pub evidence_changed: Vec<String>,
    /// Evidence files no longer at their origin.
    pub evidence_missing: Vec<String>,
    /// Table parts from interrupted ingests (ignored by readers).
    pub orphan_parts: usize,
}

impl VerifyReport {
    /// True when the chain is intact and no evidence changed.
    pub fn ok(&self) -> bool {
        self.chain_errors.is_empty() && self.evidence_changed.is_empty()
    }
}

fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, StoreError> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::Io { path: path.to_path_buf(), source: e }),
    };
    let mut out = Vec::new();
    let mut lines = BufReader::new(f).lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let line = line.map_err(io_err(path))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line) {
            Ok(v) => out.push(v),
            // A torn final line is what a kill during append leaves: not an error.
            Err(_) if lines.peek().is_none() => break,
            Err(e) => return Err(StoreError::Corrupt { path: path.to_path_buf(), line: i + 1, reason: e.to_string() }),
        }
    }
    Ok(out)
}

/// Where the committed part of a JSON Lines file ends (after its last `\n`; a torn last line,
/// left by a kill mid-append, is not committed), and that last complete line. Reads the file
/// backwards in blocks, so the cost follows the last line's length, not the file's.
fn committed_tail(path: &Path) -> Result<(u64, Option<Vec<u8>>), StoreError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((0, None)),
        Err(e) => return Err(StoreError::Io { path: path.to_path_buf(), source: e }),
    };
    let len = f.metadata().map_err(io_err(path))?.len();
    // `buf` holds the bytes [start, len) read so far, from the end backwards.
    let (mut start, mut buf) = (len, Vec::new());
    let mut keep: Option<u64> = None; // just after the last '\n': the committed length
    let mut line_end: Option<usize> = None; // in `buf`: the '\n' ending the line looked at
    loop {
        if keep.is_none() {
            if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
                keep = Some(start + i as u64 + 1);
                line_end = Some(i);
            }
        }
        while let Some(e) = line_end {
            match buf[..e].iter().rposition(|&b| b == b'\n') {
                Some(b) => {
                    if !buf[b + 1..e].iter().all(u8::is_ascii_whitespace) {
                        return Ok((keep.unwrap_or(0), Some(buf[b + 1..e].to_vec())));
                    }
                    line_end = Some(b); // a blank line: look at the one before
                }
                None if start == 0 => {
                    let line = &buf[..e];
                    return Ok((keep.unwrap_or(0), (!line.iter().all(u8::is_ascii_whitespace)).then(|| line.to_vec())));
                }
                None => break, // the line starts before `start`: read more
            }
        }
        if start == 0 {
            return Ok((keep.unwrap_or(0), None));
        }
        let n = start.min(64 * 1024);
        let mut block = vec![0u8; n as usize];
        f.seek(SeekFrom::Start(start - n)).map_err(io_err(path))?;
        f.read_exact(&mut block).map_err(io_err(path))?;
        start -= n;
        line_end = line_end.map(|e| e + n as usize);
        block.extend_from_slice(&buf);
        buf = block;
    }
}

/// The last complete line of a JSON Lines file (see [`committed_tail`]).
fn last_line(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(committed_tail(path)?.1)
}

fn append_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    // A torn last line (a kill mid-append) was never committed: cut it off before appending.
    let len = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if len > 0 {
        let (keep, _) = committed_tail(path)?;
        if keep < len {
            let f = OpenOptions::new().write(true).open(path).map_err(io_err(path))?;
            f.set_len(keep).map_err(io_err(path))?;
        }
    }
    let mut f = OpenOptions::new().create(true).append(true).open(path).map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_data().map_err(io_err(path))
}

/// Runs `f` holding an exclusive advisory lock on `path` (created if missing), so that another
/// process appending to the same JSON Lines file waits: its tail read and append do not
/// interleave with ours. Locks are per open file, so `f` must not lock `path` again.
fn locked<T>(path: &Path, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    let lock = OpenOptions::new().create(true).append(true).open(path).map_err(io_err(path))?;
    lock.lock().map_err(io_err(path))?;
    let out = f();
    let _ = lock.unlock();
    out
}

/// A temporary file name beside `path`, unique to this process and call: two writers of the
/// same file (two `azir hunt` on one case) never share a temporary, so each rename publishes a
/// complete file and none fails.
pub fn temp_beside(path: &Path) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Writes a file atomically (temp file in the same folder, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = temp_beside(path);
    {
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(bytes).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tail reader agrees with reading the whole file: the committed length, and the last
    /// non-blank complete line, across block boundaries, torn lines and blank lines.
    #[test]
    fn the_committed_tail_is_read_from_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        let long = "y".repeat(150_000);
        for (text, keep, last) in [
            ("", 0, None),
            ("torn", 0, None),
            ("a\n", 2, Some("a")),
            ("a\nb\n", 4, Some("b")),
            ("a\nb\ntorn", 4, Some("b")),
            ("a\n\n  \n", 6, Some("a")),
            ("\n\n", 2, None),
        ] {
            std::fs::write(&p, text).unwrap();
            assert_eq!(committed_tail(&p).unwrap(), (keep, last.map(|l: &str| l.as_bytes().to_vec())), "{text:?}");
        }
        // Lines longer than a block, and a torn line longer than a block.
        let text = format!("first\n{long}\n{long}x");
        std::fs::write(&p, &text).unwrap();
        let (keep, last) = committed_tail(&p).unwrap();
        assert_eq!(keep as usize, 6 + long.len() + 1);
        assert_eq!(last.unwrap(), long.as_bytes());
        // Appending cuts the torn line first, and the custody chain stays intact.
        append_synced(&p, b"z\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), format!("first\n{long}\nz\n"));
        assert_eq!(committed_tail(&p).unwrap().1.unwrap(), b"z");
        assert_eq!(last_line(&dir.path().join("missing")).unwrap(), None);
    }

    pub(crate) fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("azir-case-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn init_open_and_refuse_non_empty() {
        let d = tmp("init");
        let c = Case::init(&d, Some("demo"), Some("ann")).unwrap();
        assert_eq!(Case::open(&d).unwrap().info, c.info);
        assert!(matches!(Case::init(&d, None, None), Err(StoreError::NotEmpty(_))));
        assert!(matches!(Case::open(&d.join("nope")), Err(StoreError::NotACase(_))));
    }

    #[test]
    fn custody_chain_detects_tampering() {
        let d = tmp("custody");
        let c = Case::init(&d, None, None).unwrap();
        c.append_custody("evidence-ingested", Some("aa"), Some("x.json"), serde_json::json!({"records": 3})).unwrap();
        c.append_custody("ingest-run", None, None, serde_json::json!({})).unwrap();
        let r = c.verify().unwrap();
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.custody_entries, 3);
        let path = d.join("custody.jsonl");
        let text = fs::read_to_string(&path).unwrap().replace("\"records\":3", "\"records\":4");
        fs::write(&path, text).unwrap();
        let r = c.verify().unwrap();
        assert!(!r.ok());
        assert!(
            r.chain_errors[0].contains("entry 1 (evidence-ingested): content does not match its hash"),
            "{:?}",
            r.chain_errors
        );
    }

    #[test]
    fn torn_manifest_line_is_ignored_and_cut_by_the_next_append() {
        let d = tmp("torn");
        let c = Case::init(&d, None, None).unwrap();
        let e = ManifestEntry { sha256: "a".into(), segment: "s1".into(), ..Default::default() };
        c.append_manifest(std::slice::from_ref(&e)).unwrap();
        let mut f = OpenOptions::new().append(true).open(d.join("manifest.jsonl")).unwrap();
        f.write_all(b"{\"sha256\":\"b\",\"seg").unwrap();
        assert_eq!(c.manifest().unwrap(), vec![e.clone()]);
        let e2 = ManifestEntry { sha256: "c".into(), segment: "s2".into(), ..Default::default() };
        c.append_manifest(std::slice::from_ref(&e2)).unwrap();
        assert_eq!(c.manifest().unwrap(), vec![e, e2]);
    }
}
