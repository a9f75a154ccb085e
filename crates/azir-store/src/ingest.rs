//! Parallel, restartable ingest of evidence into a case.
//!
//! Three stages connected by bounded channels, so memory stays bounded whatever the input:
//!
//! 1. **read** (one thread): walks the evidence, opens each stream (file, gzip, zip member),
//!    sniffs its payload and cuts it into ~1 MiB chunks of records. Streams are numbered in
//!    order (`seq`). Packet captures (pcap, pcapng) are decoded in this thread instead, as they
//!    stream (packets fold into a flow table, so they cannot be cut into independent chunks);
//!    their output batches count as the stream's chunks.
//! 2. **parse** (one thread per core): decodes, classifies and normalizes each chunk and turns
//!    the result into Arrow record batches, grouped by table and day.
//! 3. **write** (the calling thread): appends batches to Parquet writers of the current
//!    *segment* in a staging folder.
//!
//! A segment is a run of consecutive streams. It is sealed once it holds enough data, at a
//! stream boundary, and committed when every stream in it has been fully parsed: parts are
//! renamed into `tables/`, custody entries appended, then one manifest line per stream (the
//! commit point). A zip's members are separate streams with manifest lines of their own, so a
//! rerun resumes exactly where a killed run stopped: a stream is skipped iff a manifest line
//! names it, and parts no manifest line names are deleted before the rerun starts.

use crate::case::{now_rfc3339, Case, ManifestEntry, StoreError};
use crate::schema::{events_batch, network_batch, quarantine_batch, Table};
use arrow_array::RecordBatch;
use azir_logs::input::{self, InputError, Limits};
use azir_logs::parsers::{parse_chunk, Output, StreamInfo};
use azir_logs::pcap::{self, PcapOptions};
use azir_logs::reader;
use azir_logs::split::Chunk;
use azir_model::{day_of, Event, NetworkSession};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Tuning of an ingest run.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Parse threads (default: available cores).
    pub threads: usize,
    /// Reading limits (bombs, record size).
    pub limits: Limits,
    /// Input bytes after which a segment is sealed.
    pub segment_bytes: u64,
    /// Target size of a chunk of records.
    pub chunk_bytes: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            limits: Limits::default(),
            segment_bytes: 512 * 1024 * 1024,
            chunk_bytes: 1024 * 1024,
        }
    }
}

/// Receives progress of a long run. All methods have empty defaults.
pub trait Progress: Sync {
    /// A new phase begins (`hashing`, `ingesting`) over `total` bytes.
    fn phase(&self, _name: &str, _total: u64) {}
    /// `bytes` more were done.
    fn advance(&self, _bytes: u64) {}
    /// A problem worth showing now (the report lists it too).
    fn warn(&self, _msg: &str) {}
}

/// Progress that shows nothing.
pub struct NoProgress;
impl Progress for NoProgress {}

/// What an ingest run did.
#[derive(Debug, Default, Serialize)]
pub struct IngestReport {
    /// Files found under the inputs.
    pub files: usize,
    /// Files skipped because the case already holds them (same SHA-256).
    pub skipped_known: usize,
    /// Files skipped because an identical file came earlier in this run.
    pub skipped_duplicate: usize,
    /// Streams ingested (files and archive members).
    pub streams: usize,
    /// Bytes of evidence ingested (as stored).
    pub bytes: u64,
    /// Records read.
    pub records: u64,
    /// Events written.
    pub events: u64,
    /// Network sessions written.
    pub flows: u64,
    /// Quarantine rows written.
    pub bad: u64,
    /// Records per source.
    pub by_source: BTreeMap<String, u64>,
    /// Quarantine reasons with counts (top reasons first).
    pub bad_reasons: Vec<(String, u64)>,
    /// The first quarantined records, `path:line: reason`.
    pub bad_samples: Vec<String>,
    /// File- and stream-level problems (unreadable, bombs, unsafe archive members).
    pub errors: Vec<String>,
    /// Segments committed.
    pub segments: usize,
    /// Parts of interrupted earlier runs removed before starting.
    pub recovered_parts: usize,
    /// Wall time.
    pub elapsed_secs: f64,
}

struct StreamEnd {
    seq: u64,
    chunks: u64,
    entry: ManifestEntry,
}

enum Work {
    Chunk { seq: u64, info: Arc<StreamInfo>, chunk: Chunk },
    // Records the read thread decoded itself (packet captures), only to be turned into batches.
    Decoded { seq: u64, input_bytes: u64, out: Box<Output> },
    // Boxed: one per stream, and the manifest entry would make every chunk message large.
    End(Box<StreamEnd>),
}

struct Parsed {
    seq: u64,
    input_bytes: u64,
    batches: Vec<(Table, String, RecordBatch)>,
    records: u64,
    events: u64,
    flows: u64,
    bad: u64,
    bad_records: u64,
    by_source: BTreeMap<&'static str, u64>,
    bad_samples: Vec<(String, String)>,
}

enum Done {
    Parsed(Parsed),
    End(StreamEnd),
}

/// Ingests `paths` into `case`.
pub fn ingest(
    case: &Case,
    paths: &[PathBuf],
    opts: &IngestOptions,
    progress: &dyn Progress,
) -> Result<IngestReport, StoreError> {
    let started = Instant::now();
    let mut report = IngestReport { recovered_parts: case.recover()?, ..IngestReport::default() };
    let (files, walk_errors) = input::discover(paths);
    for e in walk_errors {
        report.errors.push(format!("{}: {}", e.path, e.reason));
    }
    // Never ingest the case's own files.
    let case_root = fs::canonicalize(case.root()).unwrap_or_else(|_| case.root().to_path_buf());
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| !fs::canonicalize(f).map(|c| c.starts_with(&case_root)).unwrap_or(false))
        .collect();
    report.files = files.len();

    // Hash everything first (in parallel): re-ingest must be a no-op by hash.
    let total: u64 = files.iter().filter_map(|f| fs::metadata(f).ok()).map(|m| m.len()).sum();
    progress.phase("hashing", total);
    type Hashed = (PathBuf, Result<(String, u64), String>);
    let hashed: Vec<Hashed> = files
        .par_iter()
        .map(|f| {
            let r = input::sha256_file(f).map_err(|e| e.to_string());
            if let Ok((_, n)) = &r {
                progress.advance(*n);
            }
            (f.clone(), r)
        })
        .collect();
    let manifest = case.manifest()?;
    let known: HashSet<(String, Option<String>)> =
        manifest.iter().map(|m| (m.sha256.clone(), m.member.clone())).collect();
    let known_files: HashSet<&str> =
        manifest.iter().filter(|m| m.member.is_none()).map(|m| m.sha256.as_str()).collect();
    // Archives already (perhaps partly) in the case: read again to resume missing members, and
    // counted as skipped when every member turns out to be known.
    let known_archives: HashSet<String> =
        manifest.iter().filter(|m| m.member.is_some()).map(|m| m.sha256.clone()).collect();
    let mut todo = Vec::new();
    let mut seen = HashSet::new();
    for (path, r) in hashed {
        match r {
            Err(e) => report.errors.push(format!("{}: {e}", path.display())),
            Ok((sha, size)) => {
                if known_files.contains(sha.as_str()) {
                    report.skipped_known += 1;
                } else if !seen.insert(sha.clone()) {
                    report.skipped_duplicate += 1;
                } else {
                    todo.push((path, sha, size));
                }
            }
        }
    }
    let total: u64 = todo.iter().map(|t| t.2).sum();
    progress.phase("ingesting", total);

    let run_id = chrono::Utc::now().format("%Y%m%dT%H%M%S").to_string() + &format!("-{}", std::process::id());
    let threads = opts.threads.max(1);
    let (work_tx, work_rx) = crossbeam_channel::bounded::<Work>(threads * 2);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<Done>(threads * 2);
    // Parsed chunks go back to the reader for reuse: a fresh 1 MiB buffer per chunk costs page
    // faults and zeroing that showed up as 13% of ingest time.
    let (pool_tx, pool_rx) = crossbeam_channel::bounded::<Chunk>(threads * 4);
    let now_us = chrono::Utc::now().timestamp_micros();

    let mut writer = SegmentWriter::new(case, &run_id, opts.segment_bytes);
    let mut last_seq: Option<u64> = None;
    let mut skipped_archives = 0usize;
    let mut result: Result<(), StoreError> = Ok(());
    std::thread::scope(|s| {
        let producer = {
            let known = &known;
            let known_archives = &known_archives;
            let todo = &todo;
            let limits = &opts.limits;
            let chunk_bytes = opts.chunk_bytes;
            let work_tx = work_tx.clone();
            let pool = pool_rx.clone();
            s.spawn(move || produce(todo, known, known_archives, limits, chunk_bytes, &work_tx, &pool, progress))
        };
        drop(work_tx);
        for _ in 0..threads {
            let rx = work_rx.clone();
            let tx = done_tx.clone();
            let pool = pool_tx.clone();
            s.spawn(move || {
                let mut out = Output::default();
                for w in rx {
                    let msg = match w {
                        Work::End(end) => Done::End(*end),
                        Work::Chunk { seq, info, chunk } => {
                            out.clear();
                            parse_chunk(&info, &chunk, &mut out);
                            let parsed = to_batches(seq, chunk.buf.len() as u64, &mut out, now_us);
                            let _ = pool.try_send(chunk);
                            Done::Parsed(parsed)
                        }
                        Work::Decoded { seq, input_bytes, mut out } => {
                            Done::Parsed(to_batches(seq, input_bytes, &mut out, now_us))
                        }
                    };
                    if tx.send(msg).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        for msg in done_rx.iter() {
            if result.is_err() {
                continue; // drain so the other threads can finish
            }
            result = writer.accept(msg);
        }
        match producer.join() {
            Ok((seqs, archives_known)) => {
                last_seq = seqs;
                skipped_archives = archives_known;
            }
            Err(_) => {
                result = Err(StoreError::Parquet {
                    path: case.root().to_path_buf(),
                    reason: "reader thread panicked".into(),
                })
            }
        }
    });
    result?;
    report.skipped_known += skipped_archives;
    if let Some(last) = last_seq {
        writer.seal_all(last);
        writer.try_commit()?;
        // Never drop rows silently: a segment still open here is a bug, and says so.
        if let Some(seg) = writer.segments.first() {
            let missing: Vec<u64> =
                (seg.min_seq..=seg.max_seq.unwrap_or(last)).filter(|&q| !seg.stream_done(q)).collect();
            return Err(StoreError::Parquet {
                path: case.staging_dir().join(&seg.id),
                reason: format!("segment could not be committed: streams {missing:?} incomplete (nothing of it was committed; rerun the ingest)"),
            });
        }
    }
    // Every segment is committed: the staging area is empty and goes (a `.staging` left in a
    // case means an interrupted ingest).
    let _ = fs::remove_dir(case.staging_dir());
    let SegmentWriter { committed, totals, .. } = writer;
    report.segments = committed;
    report.streams = totals.streams;
    report.bytes = totals.bytes;
    report.records = totals.records;
    report.events = totals.events;
    report.flows = totals.flows;
    report.bad = totals.bad;
    report.by_source = totals.by_source;
    report.errors.extend(totals.errors);
    report.bad_samples = totals.bad_samples;
    let mut reasons: Vec<(String, u64)> = totals.bad_reasons.into_iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    report.bad_reasons = reasons;
    if report.streams > 0 || report.skipped_known > 0 {
        case.append_custody(
            "ingest-run",
            None,
            None,
            serde_json::json!({
                "files": report.files, "streams": report.streams, "skipped_known": report.skipped_known,
                "records": report.records, "events": report.events, "flows": report.flows, "bad": report.bad,
                "errors": report.errors.len(), "azir_version": env!("CARGO_PKG_VERSION"),
            }),
        )?;
    }
    report.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The read stage. Returns the last stream number used, and how many archives of the case were
/// read again without finding a member it lacks.
// The read stage's inputs are independent borrows from `ingest`'s frame; a struct would only
// rename them.
#[allow(clippy::too_many_arguments)]
fn produce(
    todo: &[(PathBuf, String, u64)],
    known: &HashSet<(String, Option<String>)>,
    known_archives: &HashSet<String>,
    limits: &Limits,
    chunk_bytes: usize,
    tx: &crossbeam_channel::Sender<Work>,
    pool: &crossbeam_channel::Receiver<Chunk>,
    progress: &dyn Progress,
) -> (Option<u64>, usize) {
    let mut seq: u64 = 0;
    let mut last = None;
    let mut archives_known = 0usize;
    for (path, sha, size) in todo {
        let seq_before = seq;
        let display = path.display().to_string();
        let origin = fs::canonicalize(path).unwrap_or_else(|_| path.clone()).display().to_string();
        let base = ManifestEntry {
            sha256: sha.clone(),
            path: display.clone(),
            origin,
            size: *size,
            ingested_at: now_rfc3339(),
            ..ManifestEntry::default()
        };
        let mut consumed_plain = 0u64;
        let mut send_failed = false;
        let result = input::for_each_stream(path, &display, limits, &mut |mut stream| {
            if known.contains(&(sha.clone(), stream.member.clone())) {
                return Ok(());
            }
            let my_seq = seq;
            seq += 1;
            last = Some(my_seq);
            let mut entry =
                ManifestEntry { member: stream.member.clone(), path: stream.display.clone(), ..base.clone() };
            let mut chunks = 0u64;
            let plain = !stream.compressed;
            // Packet captures are binary: recognised by their magic (peeked, not consumed) and
            // decoded here, in the read thread, which streams them; each batch counts as a chunk.
            let capture = match stream.reader.fill_buf() {
                Ok(head) => pcap::sniff(head),
                Err(_) => None,
            };
            if let Some(format) = capture {
                let mut last_off = 0u64;
                let summary = pcap::decode(
                    &mut stream.reader,
                    format,
                    Arc::from(sha.as_str()),
                    Arc::from(stream.display.as_str()),
                    &PcapOptions::default(),
                    &mut |out, consumed| {
                        let delta = consumed.saturating_sub(last_off);
                        last_off = last_off.max(consumed);
                        if plain {
                            progress.advance(delta);
                            consumed_plain += delta;
                        }
                        chunks += 1;
                        let sent = tx.send(Work::Decoded { seq: my_seq, input_bytes: delta, out: Box::new(out) });
                        send_failed = sent.is_err();
                        !send_failed
                    },
                );
                if send_failed {
                    return Err(std::io::Error::other("ingest stopped"));
                }
                entry.format = format.name().into();
                entry.error = summary.problems();
                if let Some(e) = &entry.error {
                    progress.warn(&format!("{}: {e}", entry.path));
                }
                if tx.send(Work::End(Box::new(StreamEnd { seq: my_seq, chunks, entry }))).is_err() {
                    send_failed = true;
                    return Err(std::io::Error::other("ingest stopped"));
                }
                return Ok(());
            }
            match reader::open(&mut stream.reader, limits.max_record) {
                Err(e) => {
                    entry.format = "unreadable".into();
                    entry.error = Some(e.to_string());
                }
                Ok((payload, mut rr)) => {
                    let info = Arc::new(StreamInfo::new(sha.clone(), stream.display.clone(), payload));
                    let mut last_off = 0u64;
                    loop {
                        let mut chunk = pool.try_recv().unwrap_or_else(|_| Chunk {
                            buf: Vec::with_capacity(chunk_bytes + chunk_bytes / 2),
                            spans: Vec::new(),
                        });
                        let more = match rr.next_chunk(&mut chunk, chunk_bytes) {
                            Ok(m) => m,
                            Err(e) => {
                                entry.error = Some(format!("read stopped at byte {}: {e}", rr.offset()));
                                false
                            }
                        };
                        if plain {
                            let off = rr.offset();
                            progress.advance(off.saturating_sub(last_off));
                            consumed_plain += off.saturating_sub(last_off);
                            last_off = off;
                        }
                        if !chunk.spans.is_empty() {
                            chunks += 1;
                            if tx.send(Work::Chunk { seq: my_seq, info: info.clone(), chunk }).is_err() {
                                send_failed = true;
                                return Err(std::io::Error::other("ingest stopped"));
                            }
                        }
                        if !more {
                            break;
                        }
                    }
                    entry.format = rr.layout();
                }
            }
            if let Some(e) = &entry.error {
                progress.warn(&format!("{}: {e}", entry.path));
            }
            if tx.send(Work::End(Box::new(StreamEnd { seq: my_seq, chunks, entry }))).is_err() {
                send_failed = true;
                return Err(std::io::Error::other("ingest stopped"));
            }
            Ok(())
        });
        if send_failed {
            return (last, archives_known);
        }
        let member_errors: Vec<InputError> = match result {
            Ok(errs) => errs,
            Err(e) => vec![InputError { path: display.clone(), reason: e.to_string() }],
        };
        for err in member_errors {
            // Recorded as a manifest line of its own: counted, visible, and not retried by hash.
            let member = err.path.split_once('!').map(|(_, m)| m.to_string());
            if known.contains(&(sha.clone(), member.clone())) {
                continue;
            }
            let my_seq = seq;
            seq += 1;
            last = Some(my_seq);
            progress.warn(&format!("{}: {}", err.path, err.reason));
            let entry = ManifestEntry {
                member,
                path: err.path,
                format: "unreadable".into(),
                error: Some(err.reason),
                ..base.clone()
            };
            if tx.send(Work::End(Box::new(StreamEnd { seq: my_seq, chunks: 0, entry }))).is_err() {
                return (last, archives_known);
            }
        }
        if seq == seq_before && known_archives.contains(sha) {
            archives_known += 1;
        }
        progress.advance(size.saturating_sub(consumed_plain));
    }
    (last, archives_known)
}

/// The parse stage's output: batches by table and day, plus counts.
fn to_batches(seq: u64, input_bytes: u64, out: &mut Output, now_us: i64) -> Parsed {
    const DAY_US: i64 = 86_400_000_000;
    let mut batches = Vec::new();
    // Group by day number; format the partition name once per group, not once per row.
    let mut by_day: BTreeMap<i64, Vec<&Event>> = BTreeMap::new();
    for e in &out.events {
        by_day.entry(e.time.div_euclid(DAY_US)).or_default().push(e);
    }
    for (day, evs) in by_day {
        batches.push((Table::Events, day_of(day * DAY_US), events_batch(&evs)));
    }
    let mut by_day: BTreeMap<i64, Vec<&NetworkSession>> = BTreeMap::new();
    for f in &out.flows {
        by_day.entry(f.time.div_euclid(DAY_US)).or_default().push(f);
    }
    for (day, fs) in by_day {
        batches.push((Table::Network, day_of(day * DAY_US), network_batch(&fs)));
    }
    // Configuration without a time of its own is filed under the ingest time (see `parsers::arm`).
    let mut by_day: BTreeMap<i64, Vec<&azir_model::Resource>> = BTreeMap::new();
    for r in &out.resources {
        by_day.entry(r.time.unwrap_or(now_us).div_euclid(DAY_US)).or_default().push(r);
    }
    for (day, rs) in by_day {
        batches.push((Table::Resources, day_of(day * DAY_US), crate::schema::resources_batch(&rs, now_us)));
    }
    if !out.bad.is_empty() {
        batches.push((Table::Quarantine, day_of(now_us), quarantine_batch(&out.bad, now_us)));
    }
    let bad_samples = out
        .bad
        .iter()
        .map(|b| (format!("{}:{}", b.provenance.evidence_path, b.provenance.line), b.reason.clone()))
        .collect();
    Parsed {
        seq,
        input_bytes,
        batches,
        records: out.records,
        events: out.events.len() as u64,
        flows: out.flows.len() as u64,
        bad: out.bad.len() as u64,
        bad_records: out.bad.iter().filter(|b| b.tuple_index.is_none()).count() as u64,
        by_source: std::mem::take(&mut out.by_source),
        bad_samples,
    }
}

#[derive(Default)]
struct StreamAcc {
    received: u64,
    end: Option<StreamEnd>,
    records: u64,
    events: u64,
    flows: u64,
    bad: u64,
    bad_records: u64,
    sources: BTreeMap<String, u64>,
}

struct Segment {
    id: String,
    min_seq: u64,
    max_seq: Option<u64>,
    writers: BTreeMap<(Table, String), (PathBuf, File, ArrowWriter<File>)>,
    bytes: u64,
    streams: BTreeMap<u64, StreamAcc>,
}

impl Segment {
    /// Stream `seq` has sent its end and every chunk it announced.
    fn stream_done(&self, seq: u64) -> bool {
        self.streams.get(&seq).is_some_and(|a| a.end.as_ref().is_some_and(|e| e.chunks == a.received))
    }
}

#[derive(Default)]
struct Totals {
    streams: usize,
    bytes: u64,
    records: u64,
    events: u64,
    flows: u64,
    bad: u64,
    by_source: BTreeMap<String, u64>,
    bad_reasons: HashMap<String, u64>,
    bad_samples: Vec<String>,
    errors: Vec<String>,
}

/// The write stage: segments of Parquet writers and their commit.
struct SegmentWriter<'a> {
    case: &'a Case,
    run_id: String,
    segment_bytes: u64,
    segments: Vec<Segment>,
    next_id: u32,
    committed: usize,
    last_committed_max: Option<u64>,
    counted_files: HashSet<String>,
    totals: Totals,
}

const MAX_SAMPLES: usize = 20;
/// Parquet settings: Snappy (what Spark and DuckDB read fastest); no dictionary for columns
/// whose values are unique per row (`raw`, `message`, ids), where building a dictionary that is
/// thrown away costs more than writing the values.
fn writer_properties() -> WriterProperties {
    // Min/max statistics are kept where readers prune with them (time, source, addresses);
    // computing them for every free-text column cost more than they are worth.
    let mut b = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(128 * 1024))
        .set_statistics_enabled(EnabledStatistics::None);
    for col in ["TimeGenerated", "EventEndTime", "IngestedAt", "source", "SrcIpAddr", "DstIpAddr", "evidence_sha256"] {
        b = b.set_column_statistics_enabled(ColumnPath::from(col), EnabledStatistics::Page);
    }
    for col in ["raw", "message", "event_id", "excerpt", "evidence_offset", "FlowId", "CorrelationId", "Url"] {
        b = b.set_column_dictionary_enabled(ColumnPath::from(col), false);
    }
    b.build()
}

/// Row-group buffer above which a writer flushes, bounding memory per open writer.
const FLUSH_BYTES: usize = 16 * 1024 * 1024;

fn reason_key(reason: &str) -> String {
    // Group reasons that differ only in numbers (line, column, sizes).
    let mut k = String::with_capacity(reason.len());
    let mut last_digit = false;
    for c in reason.chars().take(120) {
        if c.is_ascii_digit() {
            if !last_digit {
                k.push('N');
            }
            last_digit = true;
        } else {
            k.push(c);
            last_digit = false;
        }
    }
    k
}

impl<'a> SegmentWriter<'a> {
    fn new(case: &'a Case, run_id: &str, segment_bytes: u64) -> Self {
        SegmentWriter {
            case,
            run_id: run_id.to_string(),
            segment_bytes,
            segments: Vec::new(),
            next_id: 0,
            committed: 0,
            last_committed_max: None,
            counted_files: HashSet::new(),
            totals: Totals::default(),
        }
    }

    fn route(&mut self, seq: u64) -> usize {
        if let Some(i) = self.segments.iter().position(|s| s.max_seq.is_some_and(|m| seq <= m) && seq >= s.min_seq) {
            return i;
        }
        if let Some(i) = self.segments.iter().position(|s| s.max_seq.is_none()) {
            return i;
        }
        // The new segment starts after every stream already placed: those of sealed segments
        // still waiting *and* those of segments already committed (which may have committed
        // before an earlier sealed one, so neither bound alone is enough).
        let sealed_next = self.segments.iter().filter_map(|s| s.max_seq).max().map_or(0, |m| m + 1);
        let min_seq = sealed_next.max(self.committed_max_next());
        self.next_id += 1;
        self.segments.push(Segment {
            id: format!("{}-{:04}", self.run_id, self.next_id),
            min_seq,
            max_seq: None,
            writers: BTreeMap::new(),
            bytes: 0,
            streams: BTreeMap::new(),
        });
        self.segments.len() - 1
    }

    fn committed_max_next(&self) -> u64 {
        self.last_committed_max.map_or(0, |m| m + 1)
    }

    fn accept(&mut self, msg: Done) -> Result<(), StoreError> {
        match msg {
            Done::Parsed(p) => {
                let i = self.route(p.seq);
                let staging = self.case.staging_dir();
                let seg = &mut self.segments[i];
                for (table, day, batch) in p.batches {
                    let key = (table, day.clone());
                    if !seg.writers.contains_key(&key) {
                        let dir = staging.join(&seg.id).join(table.name()).join(format!("day={day}"));
                        fs::create_dir_all(&dir).map_err(crate::case::io_err(&dir))?;
                        let path = dir.join(format!("part-{}.parquet", seg.id));
                        let file = File::create(&path).map_err(crate::case::io_err(&path))?;
                        let props = writer_properties();
                        let sync_handle = file.try_clone().map_err(crate::case::io_err(&path))?;
                        let w = ArrowWriter::try_new(file, table.schema(), Some(props))
                            .map_err(|e| StoreError::Parquet { path: path.clone(), reason: e.to_string() })?;
                        seg.writers.insert(key.clone(), (path, sync_handle, w));
                    }
                    if let Some((path, _, w)) = seg.writers.get_mut(&key) {
                        w.write(&batch)
                            .map_err(|e| StoreError::Parquet { path: path.clone(), reason: e.to_string() })?;
                        if w.in_progress_size() > FLUSH_BYTES {
                            w.flush().map_err(|e| StoreError::Parquet { path: path.clone(), reason: e.to_string() })?;
                        }
                    }
                }
                seg.bytes += p.input_bytes;
                let acc = seg.streams.entry(p.seq).or_default();
                acc.received += 1;
                acc.records += p.records;
                acc.events += p.events;
                acc.flows += p.flows;
                acc.bad += p.bad;
                acc.bad_records += p.bad_records;
                for (k, v) in p.by_source {
                    *acc.sources.entry(k.to_string()).or_default() += v;
                }
                for (at, reason) in p.bad_samples {
                    *self.totals.bad_reasons.entry(reason_key(&reason)).or_default() += 1;
                    if self.totals.bad_samples.len() < MAX_SAMPLES {
                        self.totals.bad_samples.push(format!("{at}: {reason}"));
                    }
                }
            }
            Done::End(end) => {
                let i = self.route(end.seq);
                let seg = &mut self.segments[i];
                let seq = end.seq;
                seg.streams.entry(seq).or_default().end = Some(end);
                if seg.max_seq.is_none() && seg.bytes >= self.segment_bytes {
                    seg.max_seq = seg.streams.keys().next_back().copied();
                }
            }
        }
        self.try_commit()
    }

    fn seal_all(&mut self, last: u64) {
        for s in &mut self.segments {
            if s.max_seq.is_none() {
                s.max_seq = Some(last.max(s.streams.keys().next_back().copied().unwrap_or(last)));
            }
        }
    }

    fn try_commit(&mut self) -> Result<(), StoreError> {
        loop {
            let Some(pos) = self
                .segments
                .iter()
                .position(|s| s.max_seq.is_some_and(|max| (s.min_seq..=max).all(|q| s.stream_done(q))))
            else {
                return Ok(());
            };
            let seg = self.segments.remove(pos);
            self.commit(seg)?;
        }
    }

    fn commit(&mut self, seg: Segment) -> Result<(), StoreError> {
        let tables = self.case.root().join("tables");
        for ((table, day), (path, file, w)) in seg.writers {
            w.close().map_err(|e| StoreError::Parquet { path: path.clone(), reason: e.to_string() })?;
            file.sync_all().map_err(crate::case::io_err(&path))?;
            let dir = tables.join(table.name()).join(format!("day={day}"));
            fs::create_dir_all(&dir).map_err(crate::case::io_err(&dir))?;
            let dest = dir.join(format!("part-{}.parquet", seg.id));
            fs::rename(&path, &dest).map_err(crate::case::io_err(&dest))?;
        }
        let mut entries = Vec::new();
        let mut custody = Vec::new();
        for (_, acc) in seg.streams {
            let Some(end) = acc.end else { continue };
            let mut e = end.entry;
            e.records = acc.records;
            e.events = acc.events;
            e.flows = acc.flows;
            e.bad = acc.bad;
            e.ok = acc.records.saturating_sub(acc.bad_records);
            e.sources = acc.sources;
            e.segment = seg.id.clone();
            self.totals.streams += 1;
            if self.counted_files.insert(e.sha256.clone()) {
                self.totals.bytes += e.size;
            }
            self.totals.records += e.records;
            self.totals.events += e.events;
            self.totals.flows += e.flows;
            self.totals.bad += e.bad;
            for (k, v) in &e.sources {
                *self.totals.by_source.entry(k.clone()).or_default() += v;
            }
            if let Some(err) = &e.error {
                self.totals.errors.push(format!("{}: {err}", e.path));
            }
            custody.push((
                "evidence-ingested".to_string(),
                Some(e.sha256.clone()),
                Some(e.path.clone()),
                serde_json::json!({"size": e.size, "format": e.format, "records": e.records, "events": e.events, "flows": e.flows, "bad": e.bad, "segment": e.segment}),
            ));
            entries.push(e);
        }
        // Each line names its segment's size, so a partly appended segment is not taken for
        // committed.
        let n = entries.len() as u64;
        for e in &mut entries {
            e.segment_streams = n;
        }
        // Custody first, manifest last: the manifest lines are the commit point.
        self.case.append_custody_many(&custody)?;
        self.case.append_manifest(&entries)?;
        let staged = self.case.staging_dir().join(&seg.id);
        let _ = fs::remove_dir_all(&staged);
        self.last_committed_max =
            Some(self.last_committed_max.map_or(seg.max_seq.unwrap_or(0), |m| m.max(seg.max_seq.unwrap_or(0))));
        self.committed += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(seq: u64) -> Done {
        Done::Parsed(Parsed {
            seq,
            input_bytes: 10,
            batches: Vec::new(),
            records: 1,
            events: 0,
            flows: 0,
            bad: 0,
            bad_records: 0,
            by_source: BTreeMap::new(),
            bad_samples: Vec::new(),
        })
    }

    fn end(seq: u64, chunks: u64) -> Done {
        let entry = ManifestEntry { sha256: format!("{seq:064}"), ..ManifestEntry::default() };
        Done::End(StreamEnd { seq, chunks, entry })
    }

    /// Segments may commit out of order; a segment opened afterwards must start after every
    /// stream already placed, or it waits forever for streams that live in a committed segment
    /// (the rows were silently lost before this was fixed).
    #[test]
    fn a_segment_opened_after_an_out_of_order_commit_still_commits() {
        let dir = std::env::temp_dir().join(format!("azir-seg-order-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let case = Case::init(&dir, None, None).unwrap();
        let mut w = SegmentWriter::new(&case, "t", 1);
        // Stream 0 needs two chunks; its segment seals but waits for the second.
        w.accept(parsed(0)).unwrap();
        w.accept(end(0, 2)).unwrap();
        // Stream 1 completes in a segment of its own, which commits first.
        w.accept(parsed(1)).unwrap();
        w.accept(end(1, 1)).unwrap();
        assert_eq!(w.committed, 1);
        // Stream 2 opens a new segment: it must start at 2, not at 1.
        w.accept(parsed(2)).unwrap();
        w.accept(end(2, 1)).unwrap();
        assert_eq!(w.committed, 2, "the third segment is stuck waiting for stream 1");
        w.accept(parsed(0)).unwrap();
        assert_eq!(w.committed, 3);
        assert!(w.segments.is_empty());
        assert_eq!(case.manifest().unwrap().len(), 3);
        let _ = fs::remove_dir_all(&dir);
    }
}
