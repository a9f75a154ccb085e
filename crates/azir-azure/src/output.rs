//! The output directory: window files, the checkpoint and the completeness log.
//!
//! ```text
//! OUT/
//!   collect-state.json                 checkpoint: every completed window (atomic rewrite)
//!   completeness.jsonl                 one WindowRecord per window outcome, appended
//!   signins/<tenant>/<start>_<end>.jsonl
//!   activity/<subscription>/<start>_<end>.jsonl
//!   network/<subscription>/<type>.json   {"value":[…]} in ARM REST shape
//! ```
//!
//! # Resume semantics
//!
//! A window's records go to `<name>.partial`; when the window is complete the file is fsynced
//! and renamed to its final name, the directory fsynced, and only then is the window added to
//! the checkpoint (written to a temporary file, fsynced, renamed). So:
//!
//! - a `.partial` file is never evidence: a rerun deletes every one it finds and redoes its
//!   window from the start (no gap, no duplicate: the redone window replaces it whole);
//! - a final file absent from the checkpoint (killed between rename and checkpoint) was never
//!   reported to the sink; the rerun redoes its window and overwrites it;
//! - a window in the checkpoint is skipped, and its file is reported to the sink again with
//!   `resumed: true` (the CLI deduplicates by SHA-256), because a kill between the checkpoint and
//!   the sink call would otherwise lose the report; a checkpointed file that has disappeared is
//!   collected again.
//!
//! A window with no record produces no file: its [`crate::WindowRecord`] (status `complete`,
//! `records: 0`, no `file`) says it was asked and was empty.
//!
//! One collection at a time writes to a folder: [`lock_out`] takes an exclusive lock on
//! `OUT/.collect.lock` for the whole run (the kernel's `flock`, released when the process ends,
//! also when it is killed), because a second run would delete the first one's `.partial` files
//! as stale and both would rewrite the one checkpoint.
//!
//! Completed windows are keyed by source, scope and query template: a rerun with another
//! Graph version (a different query) collects again instead of trusting the other query's
//! windows, and never overwrites a file the checkpoint lists (a `~2` suffix is added).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::source::Source;

/// Checkpoint file name.
pub const STATE_FILE: &str = "collect-state.json";
/// Lock file name (empty; its lock, not its content, is what counts).
pub const LOCK_FILE: &str = ".collect.lock";
/// Completeness log file name.
pub const COMPLETENESS_FILE: &str = "completeness.jsonl";
const STATE_FORMAT: &str = "azir-collect-state/1";

/// How records are framed in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// One record per line.
    JsonLines,
    /// `{"value":[r1,r2,…]}`, the ARM REST list shape.
    ArmList,
}

/// A file being written: `.partial` until [`WindowWriter::finish`].
pub struct WindowWriter {
    partial: PathBuf,
    path: PathBuf,
    out: BufWriter<File>,
    hasher: Sha256,
    records: u64,
    bytes: u64,
    framing: Framing,
}

/// A file that landed under its final name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// Bytes written.
    pub bytes: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

impl WindowWriter {
    /// Starts `path` (creating its directory) as `path.partial`.
    pub fn create(path: &Path, framing: Framing) -> io::Result<WindowWriter> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let partial = partial_path(path);
        let f = OpenOptions::new().write(true).create(true).truncate(true).open(&partial)?;
        Ok(WindowWriter {
            partial,
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, f),
            hasher: Sha256::new(),
            records: 0,
            bytes: 0,
            framing,
        })
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)?;
        self.hasher.update(b);
        self.bytes += b.len() as u64;
        Ok(())
    }

    /// Appends one record (one line, no line break inside).
    pub fn record(&mut self, r: &[u8]) -> io::Result<()> {
        match self.framing {
            Framing::JsonLines => {
                self.put(r)?;
                self.put(b"\n")?;
            }
            Framing::ArmList => {
                self.put(if self.records == 0 { b"{\"value\":[" } else { b"," })?;
                self.put(r)?;
            }
        }
        self.records += 1;
        Ok(())
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flushes, fsyncs and renames to the final name; `None` (and no file) when no record was
    /// written.
    pub fn finish(mut self) -> io::Result<Option<Finished>> {
        if self.records == 0 {
            drop(self.out);
            fs::remove_file(&self.partial)?;
            return Ok(None);
        }
        if self.framing == Framing::ArmList {
            self.put(b"]}\n")?;
        }
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        fs::rename(&self.partial, &self.path)?;
        sync_dir(self.path.parent())?;
        let sha256 = hex(&self.hasher.finalize());
        Ok(Some(Finished { bytes: self.bytes, sha256 }))
    }

    /// Drops the partial file.
    pub fn discard(self) {
        let WindowWriter { partial, out, .. } = self;
        drop(out);
        let _ = fs::remove_file(partial);
    }
}

fn partial_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_os_string();
    p.push(".partial");
    PathBuf::from(p)
}

/// Fsyncs a directory (so a rename survives a crash); a no-op where directories cannot be
/// opened.
pub fn sync_dir(dir: Option<&Path>) -> io::Result<()> {
    #[cfg(unix)]
    if let Some(d) = dir {
        File::open(d)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A file-name-safe compact UTC time: `20240501T000000Z`, `20240501T000000.5Z`.
pub fn file_time(t: DateTime<Utc>) -> String {
    let base = t.format("%Y%m%dT%H%M%S").to_string();
    let ns = t.timestamp_subsec_nanos();
    if ns == 0 {
        format!("{base}Z")
    } else {
        let frac = format!("{ns:09}");
        format!("{base}.{}Z", frac.trim_end_matches('0'))
    }
}

/// A scope as a directory name: characters other than `[A-Za-z0-9._-]` become `_`.
pub fn safe_name(s: &str) -> String {
    let s: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

/// One completed window (or network list) in the checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoneWindow {
    /// Source.
    pub source: Source,
    /// Subscription id or tenant.
    pub scope: String,
    /// Query template.
    pub query: String,
    /// Network list name (`virtualNetworks`…); none for windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// Window start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// Window end (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// File relative to the output directory (none: the window was empty).
    #[serde(default)]
    pub file: Option<String>,
    /// SHA-256 of the file.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Records in the file.
    pub records: u64,
    /// Bytes of the file.
    pub bytes: u64,
}

/// The checkpoint: every completed window.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format tag.
    pub format: String,
    /// Last write.
    pub updated: DateTime<Utc>,
    /// Completed windows, in completion order.
    pub done: Vec<DoneWindow>,
}

impl Default for Checkpoint {
    fn default() -> Self {
        Checkpoint { format: STATE_FORMAT.into(), updated: Utc::now(), done: Vec::new() }
    }
}

impl Checkpoint {
    /// Reads `OUT/collect-state.json`, or an empty checkpoint when there is none.
    pub fn load(out: &Path) -> Result<Checkpoint, String> {
        let p = out.join(STATE_FILE);
        let bytes = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Checkpoint::default()),
            Err(e) => return Err(format!("{}: {e}", p.display())),
        };
        let c: Checkpoint = serde_json::from_slice(&bytes).map_err(|e| {
            format!("{} is not a collection checkpoint ({e}); move it away to start afresh", p.display())
        })?;
        if c.format != STATE_FORMAT {
            return Err(format!("{}: checkpoint format {:?}, expected {STATE_FORMAT:?}", p.display(), c.format));
        }
        Ok(c)
    }

    /// Writes the checkpoint atomically (temporary file, fsync, rename, directory fsync).
    pub fn save(&mut self, out: &Path) -> io::Result<()> {
        self.updated = Utc::now();
        let p = out.join(STATE_FILE);
        let tmp = out.join(format!("{STATE_FILE}.tmp"));
        let bytes = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &p)?;
        sync_dir(Some(out))
    }

    /// The completed windows of `source`/`scope` under `query`.
    pub fn windows<'a>(
        &'a self,
        source: Source,
        scope: &'a str,
        query: &'a str,
    ) -> impl Iterator<Item = &'a DoneWindow> {
        self.done.iter().filter(move |d| d.source == source && d.scope == scope && d.query == query)
    }

    /// True when a checkpointed window owns `file`.
    pub fn owns_file(&self, file: &str) -> bool {
        self.done.iter().any(|d| d.file.as_deref() == Some(file))
    }
}

/// Takes the output folder's collection lock without waiting: `Ok(None)` when another process
/// holds it. Keep the file as long as the collection runs; dropping it releases the lock.
pub fn lock_out(out: &Path) -> io::Result<Option<File>> {
    let f = OpenOptions::new().create(true).truncate(false).write(true).open(out.join(LOCK_FILE))?;
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Deletes every `*.partial` file and a leftover checkpoint temporary under `out`; returns the
/// paths deleted.
pub fn remove_stale(out: &Path) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let tmp = out.join(format!("{STATE_FILE}.tmp"));
    if tmp.exists() {
        fs::remove_file(&tmp)?;
        removed.push(tmp);
    }
    let mut stack = vec![out.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in rd {
            let entry = entry?;
            let ft = entry.file_type()?;
            let p = entry.path();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() && p.extension().is_some_and(|e| e == "partial") {
                fs::remove_file(&p)?;
                removed.push(p);
            }
        }
    }
    removed.sort();
    Ok(removed)
}

/// Appends one JSON line to `OUT/completeness.jsonl` and fsyncs it.
pub fn append_line(path: &Path, line: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line);
    buf.push(b'\n');
    f.write_all(&buf)?;
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn writer_lands_atomically_with_hash() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/x.jsonl");
        let mut w = WindowWriter::create(&p, Framing::JsonLines).unwrap();
        w.record(b"{\"a\":1}").unwrap();
        assert!(dir.path().join("a/b/x.jsonl.partial").exists());
        assert!(!p.exists());
        let f = w.finish().unwrap().unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"{\"a\":1}\n");
        assert_eq!(f.sha256, hex(&Sha256::digest(b"{\"a\":1}\n")));
        assert!(!dir.path().join("a/b/x.jsonl.partial").exists());

        let p2 = dir.path().join("n.json");
        let mut w = WindowWriter::create(&p2, Framing::ArmList).unwrap();
        w.record(b"{\"id\":1}").unwrap();
        w.record(b"{\"id\":2}").unwrap();
        w.finish().unwrap();
        assert_eq!(fs::read_to_string(&p2).unwrap(), "{\"value\":[{\"id\":1},{\"id\":2}]}\n");

        let p3 = dir.path().join("empty.jsonl");
        assert_eq!(WindowWriter::create(&p3, Framing::JsonLines).unwrap().finish().unwrap(), None);
        assert!(fs::read_dir(dir.path()).unwrap().all(|e| !e.unwrap().path().to_string_lossy().contains("empty")));
    }

    #[test]
    fn stale_partials_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("s/t")).unwrap();
        fs::write(dir.path().join("s/t/x.jsonl.partial"), "x").unwrap();
        fs::write(dir.path().join("s/t/y.jsonl"), "y").unwrap();
        let removed = remove_stale(dir.path()).unwrap();
        assert_eq!(removed.len(), 1);
        assert!(dir.path().join("s/t/y.jsonl").exists());
    }

    #[test]
    fn one_collection_at_a_time_holds_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_out(dir.path()).unwrap().expect("a free folder locks");
        // A second open file description (as another process has) is refused while it is held.
        assert!(lock_out(dir.path()).unwrap().is_none());
        drop(first);
        assert!(lock_out(dir.path()).unwrap().is_some(), "dropping the file releases the lock");
        let missing = dir.path().join("no/such/folder");
        assert!(lock_out(&missing).is_err());
    }

    #[test]
    fn checkpoint_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Checkpoint::load(dir.path()).unwrap();
        c.done.push(DoneWindow {
            source: Source::SignIns,
            scope: "t".into(),
            query: "q".into(),
            item: None,
            start: Some(Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap()),
            end: Some(Utc.with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap()),
            file: Some("signins/t/x.jsonl".into()),
            sha256: Some("00".into()),
            records: 3,
            bytes: 9,
        });
        c.save(dir.path()).unwrap();
        let back = Checkpoint::load(dir.path()).unwrap();
        assert_eq!(back.done, c.done);
        assert_eq!(back.windows(Source::SignIns, "t", "q").count(), 1);
        assert_eq!(back.windows(Source::SignIns, "t", "other").count(), 0);
        fs::write(dir.path().join(STATE_FILE), "{}").unwrap();
        assert!(Checkpoint::load(dir.path()).is_err());
    }

    #[test]
    fn names() {
        let t = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
        assert_eq!(file_time(t), "20240501T000000Z");
        assert_eq!(file_time(t + chrono::Duration::milliseconds(500)), "20240501T000000.5Z");
        assert_eq!(safe_name("contoso.onmicrosoft.com"), "contoso.onmicrosoft.com");
        assert_eq!(safe_name("../x y"), "_.._x_y");
        assert_eq!(safe_name(""), "_");
    }
}
