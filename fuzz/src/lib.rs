//! Invariants shared by the fuzz targets: how a reader is drained and what every chunk, span
//! and parse result must satisfy whatever the input.
//!
//! Every check panics on violation, which libFuzzer reports as a crash with the input saved
//! under `fuzz/artifacts/<target>/`.

use azir_logs::parsers::{parse_chunk, Output, Payload, StreamInfo};
use azir_logs::reader::{self, RecordReader};
use azir_logs::split::{Chunk, JsonSplitter, Span};
use std::io::BufReader;
use std::net::IpAddr;

/// Largest excerpt a defective record keeps.
pub const EXCERPT: usize = 4096;

/// Reader settings drawn from the first bytes of an input, so that the fuzzer explores buffer
/// refills at every position, tiny chunks and the record-size limit.
#[derive(Debug, Clone, Copy)]
pub struct Knobs {
    /// BufReader capacity (1..=256).
    pub cap: usize,
    /// Chunk target in bytes.
    pub target: usize,
    /// Record-size limit (small values exercise the oversized-record path).
    pub max_record: usize,
}

impl Knobs {
    /// Splits `data` into knobs (first three bytes) and the input proper.
    pub fn take(data: &[u8]) -> (Knobs, &[u8]) {
        let b = |i: usize| data.get(i).copied().unwrap_or(0) as usize;
        let knobs = Knobs {
            cap: 1 + b(0),
            target: 1 + b(1) * 17,
            max_record: if b(2) < 128 { 1 << 20 } else { 1 + (b(2) - 128) * 8 },
        };
        (knobs, data.get(3..).unwrap_or_default())
    }
}

/// A record as read: span and bytes.
pub struct Read {
    /// Where it was found.
    pub span: Span,
    /// Its bytes (an excerpt if defective).
    pub bytes: Vec<u8>,
}

/// Spans lie inside the buffer, in order, without overlap.
pub fn check_chunk(chunk: &Chunk) {
    let mut prev_end = 0;
    for sp in &chunk.spans {
        assert!(sp.start <= sp.end && sp.end <= chunk.buf.len(), "span {sp:?} outside {} bytes", chunk.buf.len());
        assert!(sp.start >= prev_end, "overlapping span {sp:?}");
        prev_end = sp.end;
    }
}

/// Drains a chunk source, checking progress (so the loop must end) and every chunk; parses
/// each chunk with `payload` and checks the driver counted every record.
pub fn drain(input: &[u8], payload: Payload, mut next: impl FnMut(&mut Chunk) -> bool) -> (Vec<Read>, Output) {
    let info = StreamInfo::new("00".repeat(32), "fuzz.json", payload);
    let mut chunk = Chunk::default();
    let mut out = Output::default();
    let mut got = Vec::new();
    let mut calls = 0usize;
    loop {
        calls += 1;
        assert!(calls <= input.len() + 2, "no progress after {calls} calls on {} bytes", input.len());
        let more = next(&mut chunk);
        check_chunk(&chunk);
        let before = out.records;
        parse_chunk(&info, &chunk, &mut out);
        assert_eq!(out.records - before, chunk.spans.len() as u64, "driver skipped a record");
        got.extend(chunk.spans.iter().map(|sp| Read { span: sp.clone(), bytes: chunk.bytes(sp).to_vec() }));
        if !more {
            break;
        }
    }
    check_output(&out);
    (got, out)
}

/// Offsets in order and inside the input, 1-based lines, bounded excerpts; for JSON, lines
/// that count the newlines before the record and no complete record over the size limit.
pub fn check_reads(input: &[u8], got: &[Read], knobs: Knobs, json: bool) {
    let mut prev = 0u64;
    for r in got {
        assert!(r.span.offset >= prev, "offset {} after {prev}", r.span.offset);
        assert!(r.span.offset <= input.len() as u64, "offset {} past the end", r.span.offset);
        prev = r.span.offset;
        assert!(r.span.line >= 1);
        if json {
            let nl = input[..r.span.offset as usize].iter().filter(|&&b| b == b'\n').count() as u64;
            assert_eq!(r.span.line, 1 + nl, "line of the record at offset {}", r.span.offset);
        }
        if r.span.defect.is_some() {
            assert!(r.bytes.len() <= EXCERPT, "excerpt of {} bytes", r.bytes.len());
        } else if json {
            assert!(r.span.size <= knobs.max_record as u64, "record of {} bytes passed the limit", r.span.size);
        }
    }
}

/// What any parse output must satisfy: sessions with real addresses, ports, counters.
pub fn check_output(out: &Output) {
    for f in &out.flows {
        for ip in [&f.src_ip, &f.dst_ip] {
            let parsed: IpAddr = ip.parse().unwrap_or_else(|_| panic!("session address {ip:?} is no IP"));
            assert_eq!(&parsed.to_string(), ip, "address not in canonical form");
        }
        for p in [f.src_port, f.dst_port].into_iter().flatten() {
            assert!((0..=65535).contains(&p), "port {p}");
        }
        for c in [f.packets_s2d, f.bytes_s2d, f.packets_d2s, f.bytes_d2s].into_iter().flatten() {
            assert!(c >= 0, "negative counter {c}");
        }
        assert!(f.time >= 0 && f.end_time >= 0, "negative time");
        assert_eq!(f.flow_id.len(), 16, "flow id {:?}", f.flow_id);
    }
    for b in &out.bad {
        assert!(!b.reason.is_empty(), "a quarantined record without a reason");
    }
}

/// The JSON splitter straight over `input`: every byte consumed, exact line numbers.
pub fn split_json(input: &[u8], knobs: Knobs) -> Vec<Read> {
    let mut s = JsonSplitter::with_limit(BufReader::with_capacity(knobs.cap, input), knobs.max_record);
    let (got, _) = drain(input, Payload::Json, |chunk| {
        let before = s.offset();
        let more = s.next_chunk(chunk, knobs.target).expect("reading a slice cannot fail");
        assert!(!more || s.offset() > before || !chunk.spans.is_empty(), "a call consumed nothing");
        more
    });
    assert_eq!(s.offset(), input.len() as u64, "bytes left unread");
    check_reads(input, &got, knobs, true);
    got
}

/// `reader::open` over `input` and its reader to the end. None when open refuses the stream
/// (NUL bytes), which is then checked to be the reason.
pub fn read_any(input: &[u8], knobs: Knobs) -> Option<(Payload, Vec<Read>, Output)> {
    let (payload, mut r) = match reader::open(BufReader::with_capacity(knobs.cap, input), knobs.max_record) {
        Ok(x) => x,
        Err(e) => {
            assert!(input.contains(&0), "open refused a stream without NUL bytes: {e}");
            return None;
        }
    };
    let (got, out) =
        drain(input, payload.clone(), |chunk| r.next_chunk(chunk, knobs.target).expect("reading a slice cannot fail"));
    match &r {
        RecordReader::Json(_) | RecordReader::Lines(_) => {
            assert_eq!(r.offset(), input.len() as u64, "bytes left unread");
        }
        RecordReader::Csv(_) => {}
    }
    check_reads(input, &got, knobs, matches!(r, RecordReader::Json(_)));
    Some((payload, got, out))
}

/// The reader's first buffer as `reader::open` sees it, for targets that mirror its decision.
pub fn first_line(head: &[u8]) -> String {
    let head = head.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(head);
    let end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    String::from_utf8_lossy(&head[..end]).trim_start_matches('\u{feff}').trim().to_string()
}
