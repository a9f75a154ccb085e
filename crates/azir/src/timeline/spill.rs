//! Sorting a day of the timeline that does not fit in memory: an external merge sort.
//!
//! The reader sorts the rows it has read once their estimated size passes the memory budget
//! (`azir timeline --sort-memory`), formats them as the output will show them, and writes them
//! to a temporary file as one sorted run. The writer then merges the day's runs, row by row,
//! into the output: memory holds one row per run, not the day.
//!
//! ## Why formatted rows
//!
//! A run keeps each row's sort key and its output bytes, not the `Event`: the output is what
//! is needed in the end, formatting is done once either way, and no serializer of `Event` has
//! to round-trip every column exactly. The key is the timeline order of [`super::row_order`]
//! (time, evidence hash, evidence path, offset, index, sub-index), so merged output is the same,
//! byte for byte, as a day sorted in memory. Runs are read in the order they were written and a
//! tie between runs goes to the earlier one, as the in-memory sort is stable.
//!
//! ## Run files
//!
//! A record: time (`i64`), evidence hash and path (each a `u32` length and its bytes), offset
//! (`u64`), index and sub-index (`u32`), then the row (`u64` length and its bytes), integers
//! little-endian. Files live in a temporary folder under `$TMPDIR` (std's
//! [`std::env::temp_dir`]), removed when the day is written, also on an error.
//!
//! ## Interrupted
//!
//! Ctrl-C (SIGINT), SIGTERM or SIGHUP ends the process without unwinding, so no destructor
//! removes the folder: a day of a large case left gigabytes of runs in `$TMPDIR`. The folders
//! that exist are listed ([`LIVE`]), and `azir timeline`'s signal handler removes them
//! ([`remove_live`]) before it exits with 130. A run being written when the signal comes is
//! removed with its folder: the writer's later writes fail, and the process exits first.
//!
//! At most [`MAX_RUNS`] runs are kept: when a day reaches that many, they are merged into one
//! run first, so a small budget on a large day never needs more open files than that.

use anyhow::{bail, Context, Result};
use azir_model::Event;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The run folders of this process that exist now.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    // A panic while the list was held left it consistent (pushes and removals are single steps).
    LIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes every run folder of this process (the signal handler's cleanup). A folder that a
/// run file is being created in may need a second try; one already gone is fine.
pub(super) fn remove_live() {
    for dir in live().drain(..) {
        for _ in 0..5 {
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => continue,
                _ => break,
            }
        }
    }
}

/// Formats a row (event, sub-index) by appending its output bytes.
pub(super) type FormatRow<'f> = dyn FnMut(&Event, u32, &mut Vec<u8>) -> Result<()> + 'f;

/// Runs a day keeps before merging them into one.
pub(super) const MAX_RUNS: usize = 64;

/// A row's place in the timeline (the order of [`super::row_order`], field by field).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key {
    time: i64,
    sha: Arc<str>,
    path: Arc<str>,
    offset: u64,
    index: u32,
    sub: u32,
}

impl Key {
    pub(super) fn of(e: &Event, sub: u32) -> Key {
        let p = &e.provenance;
        Key {
            time: e.time,
            sha: p.evidence_sha256.clone(),
            path: p.evidence_path.clone(),
            offset: p.offset,
            index: p.index,
            sub,
        }
    }
}

/// The sorted runs of one day.
pub(super) struct Spill {
    dir: tempfile::TempDir,
    runs: Vec<PathBuf>,
    /// The day partition.
    pub(super) day: String,
    /// Rows written, and the runs they were sorted in (before any compaction).
    pub(super) rows: usize,
    pub(super) sorted: usize,
    /// Run files made (compactions included): names them.
    made: usize,
}

impl Spill {
    pub(super) fn new(day: &str) -> Result<Spill> {
        let dir = tempfile::Builder::new().prefix("azir-timeline-").tempdir().with_context(|| {
            format!("timeline: cannot make a folder for sorted runs in {}", std::env::temp_dir().display())
        })?;
        live().push(dir.path().to_path_buf());
        Ok(Spill { dir, runs: Vec::new(), day: day.to_string(), rows: 0, sorted: 0, made: 0 })
    }

    /// How many runs the day has now.
    #[cfg(test)]
    pub(super) fn runs(&self) -> usize {
        self.runs.len()
    }

    fn next_path(&mut self) -> PathBuf {
        self.made += 1;
        self.dir.path().join(format!("run-{:06}", self.made))
    }

    /// Writes rows, already in timeline order, as one run: `row` formats each.
    pub(super) fn run(&mut self, rows: &[(Event, u32)], row: &mut FormatRow<'_>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.runs.len() >= MAX_RUNS {
            self.compact()?;
        }
        let path = self.next_path();
        let mut w = RunWriter::create(&path)?;
        let mut line = Vec::new();
        for (e, sub) in rows {
            line.clear();
            row(e, *sub, &mut line)?;
            w.put(&Key::of(e, *sub), &line)?;
        }
        w.finish()?;
        self.runs.push(path);
        self.rows += rows.len();
        self.sorted += 1;
        Ok(())
    }

    /// Merges every run into one.
    fn compact(&mut self) -> Result<()> {
        let path = self.next_path();
        let mut w = RunWriter::create(&path)?;
        merge(&self.runs, &mut |k, row| {
            w.put(k, row)?;
            Ok(true)
        })?;
        w.finish()?;
        for old in std::mem::replace(&mut self.runs, vec![path]) {
            std::fs::remove_file(&old)
                .with_context(|| format!("timeline: removing the sorted run {}", old.display()))?;
        }
        Ok(())
    }

    /// Hands the day's rows to `out` in timeline order, until it returns false.
    pub(super) fn write(self, out: &mut dyn FnMut(&[u8]) -> Result<bool>) -> Result<()> {
        merge(&self.runs, &mut |_, row| out(row))
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        // The folder itself goes with `dir` (after this).
        live().retain(|d| d != self.dir.path());
    }
}

/// Merges sorted runs: `f` gets each row with its key, in order, until it returns false.
fn merge(runs: &[PathBuf], f: &mut dyn FnMut(&Key, &[u8]) -> Result<bool>) -> Result<()> {
    let mut readers = Vec::with_capacity(runs.len());
    let mut heap = BinaryHeap::with_capacity(runs.len());
    for (i, path) in runs.iter().enumerate() {
        let mut r = RunReader::open(path)?;
        if r.next()? {
            heap.push(Reverse((r.key.clone(), i)));
        }
        readers.push(r);
    }
    while let Some(Reverse((key, i))) = heap.pop() {
        let r = &mut readers[i];
        if !f(&key, &r.row)? {
            return Ok(());
        }
        if r.next()? {
            heap.push(Reverse((r.key.clone(), i)));
        }
    }
    Ok(())
}

struct RunWriter {
    w: BufWriter<File>,
    path: PathBuf,
}

impl RunWriter {
    fn create(path: &Path) -> Result<RunWriter> {
        let f =
            File::create(path).with_context(|| format!("timeline: cannot write the sorted run {}", path.display()))?;
        Ok(RunWriter { w: BufWriter::with_capacity(1 << 16, f), path: path.to_path_buf() })
    }

    fn put(&mut self, k: &Key, row: &[u8]) -> Result<()> {
        let mut put = || -> std::io::Result<()> {
            let w = &mut self.w;
            w.write_all(&k.time.to_le_bytes())?;
            for s in [&k.sha, &k.path] {
                let len = u32::try_from(s.len()).map_err(std::io::Error::other)?;
                w.write_all(&len.to_le_bytes())?;
                w.write_all(s.as_bytes())?;
            }
            w.write_all(&k.offset.to_le_bytes())?;
            w.write_all(&k.index.to_le_bytes())?;
            w.write_all(&k.sub.to_le_bytes())?;
            w.write_all(&(row.len() as u64).to_le_bytes())?;
            w.write_all(row)
        };
        put().with_context(|| format!("timeline: writing the sorted run {}", self.path.display()))
    }

    fn finish(mut self) -> Result<()> {
        self.w.flush().with_context(|| format!("timeline: writing the sorted run {}", self.path.display()))
    }
}

/// One run read back, a record at a time: the current key and row.
struct RunReader {
    r: BufReader<File>,
    path: PathBuf,
    key: Key,
    row: Vec<u8>,
    text: Vec<u8>,
}

impl RunReader {
    fn open(path: &Path) -> Result<RunReader> {
        let f = File::open(path).with_context(|| format!("timeline: cannot read the sorted run {}", path.display()))?;
        let empty: Arc<str> = Arc::from("");
        Ok(RunReader {
            r: BufReader::with_capacity(1 << 16, f),
            path: path.to_path_buf(),
            key: Key { time: 0, sha: empty.clone(), path: empty, offset: 0, index: 0, sub: 0 },
            row: Vec::new(),
            text: Vec::new(),
        })
    }

    /// Reads the next record: false at the end of the run.
    fn next(&mut self) -> Result<bool> {
        let at_end = self.r.fill_buf().map(<[u8]>::is_empty);
        if at_end.with_context(|| format!("timeline: reading the sorted run {}", self.path.display()))? {
            return Ok(false);
        }
        self.record().with_context(|| format!("timeline: reading the sorted run {}", self.path.display()))?;
        Ok(true)
    }

    fn record(&mut self) -> Result<()> {
        self.key.time = i64::from_le_bytes(self.array()?);
        for which in 0..2 {
            let len = u32::from_le_bytes(self.array()?) as usize;
            self.text.resize(len, 0);
            self.r.read_exact(&mut self.text)?;
            let current = if which == 0 { &mut self.key.sha } else { &mut self.key.path };
            // Rows of one evidence file follow each other: its hash and path are shared, not
            // allocated per row.
            if current.as_bytes() != self.text.as_slice() {
                *current = Arc::from(std::str::from_utf8(&self.text)?);
            }
        }
        self.key.offset = u64::from_le_bytes(self.array()?);
        self.key.index = u32::from_le_bytes(self.array()?);
        self.key.sub = u32::from_le_bytes(self.array()?);
        let len = u64::from_le_bytes(self.array()?);
        let Ok(len) = usize::try_from(len) else { bail!("a row of {len} bytes") };
        self.row.resize(len, 0);
        self.r.read_exact(&mut self.row)?;
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> std::io::Result<[u8; N]> {
        let mut b = [0u8; N];
        self.r.read_exact(&mut b)?;
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azir_model::Provenance;

    fn ev(time: i64, sha: &str, path: &str, offset: u64, index: u32) -> Event {
        Event {
            time,
            provenance: Provenance {
                evidence_sha256: Arc::from(sha),
                evidence_path: Arc::from(path),
                offset,
                index,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn text(e: &Event, sub: u32, out: &mut Vec<u8>) -> Result<()> {
        let p = &e.provenance;
        writeln!(out, "{} {} {} {} {} {sub}", e.time, p.evidence_sha256, p.evidence_path, p.offset, p.index)?;
        Ok(())
    }

    /// Runs merge into the timeline order, ties between runs in the order the runs were written,
    /// across more runs than are kept (so through compaction), and a stop ends the merge.
    #[test]
    fn runs_merge_in_timeline_order_through_compaction() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut all: Vec<(Event, u32)> = Vec::new();
        let mut spill = Spill::new("2026-03-12").unwrap();
        let dir = spill.dir.path().to_path_buf();
        for run in 0..(MAX_RUNS * 2 + 5) {
            let mut rows: Vec<(Event, u32)> = (0..next(6))
                .map(|_| {
                    let sha = ["aa", "ab", "b"][next(3) as usize];
                    let path = ["x/PT1H.json", "y.json", "é.json"][next(3) as usize];
                    (ev(next(40) as i64 - 5, sha, path, next(3), next(2) as u32), next(2) as u32)
                })
                .collect();
            // A few keys repeat across runs: the earlier run's row comes first.
            if run % 7 == 0 {
                rows.push((ev(7, "aa", "y.json", 1, 0), 0));
            }
            rows.sort_by(|(x, xs), (y, ys)| super::super::row_order((x, *xs), (y, *ys)));
            spill.run(&rows, &mut |e, sub, out| text(e, sub, out)).unwrap();
            assert!(spill.runs() <= MAX_RUNS);
            all.extend(rows);
        }
        all.sort_by(|(x, xs), (y, ys)| super::super::row_order((x, *xs), (y, *ys)));
        let want: Vec<u8> = all.iter().fold(Vec::new(), |mut out, (e, sub)| {
            text(e, *sub, &mut out).unwrap();
            out
        });
        let mut got = Vec::new();
        let mut stop_after = Vec::new();
        let mut spill2 = Spill::new("2026-03-12").unwrap();
        spill2.run(&all[..3], &mut |e, sub, out| text(e, sub, out)).unwrap();
        spill2.run(&all[3..], &mut |e, sub, out| text(e, sub, out)).unwrap();
        spill
            .write(&mut |row| {
                got.extend_from_slice(row);
                Ok(true)
            })
            .unwrap();
        assert_eq!(String::from_utf8(got).unwrap(), String::from_utf8(want.clone()).unwrap());
        assert!(!dir.exists(), "the runs' folder is removed once the day is written");
        spill2
            .write(&mut |row| {
                stop_after.push(row.to_vec());
                Ok(stop_after.len() < 5)
            })
            .unwrap();
        assert_eq!(stop_after.concat(), want.split_inclusive(|&b| b == b'\n').take(5).collect::<Vec<_>>().concat());
    }

    /// A run file cut short or damaged is an error naming the file, not a panic or a short day.
    #[test]
    fn a_damaged_run_is_an_error_naming_it() {
        let mut spill = Spill::new("2026-03-12").unwrap();
        let rows = vec![(ev(1, "aa", "p", 0, 0), 0), (ev(2, "aa", "p", 1, 0), 0)];
        spill.run(&rows, &mut |e, sub, out| text(e, sub, out)).unwrap();
        let run = spill.runs[0].clone();
        let bytes = std::fs::read(&run).unwrap();
        std::fs::write(&run, &bytes[..bytes.len() - 3]).unwrap();
        let err = spill.write(&mut |_| Ok(true)).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("reading the sorted run") && msg.contains("run-000001"), "{msg}");
    }
}
