//! Property tests for the read path: the JSON record splitter, the CSV and text readers, the
//! format detector and the flow-tuple parsers, against generated inputs.
//!
//! Case counts come from `PROPTEST_CASES` (proptest reads it; CI sets 256, raise it locally for
//! a longer hunt: `PROPTEST_CASES=10000 cargo test -p azir-logs --test properties`). The
//! coverage-guided fuzz targets for the same code live in `fuzz/` at the repository root.

use azir_logs::detect::classify;
use azir_logs::parsers::{parse_chunk, Output, Payload, StreamInfo};
use azir_logs::reader;
use azir_logs::split::{Chunk, Container, JsonSplitter, Span};
use azir_model::NetworkSession;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Map, Value};
use std::io::BufReader;
use std::net::{Ipv4Addr, Ipv6Addr};

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/// Strings that stress the splitter's string/escape tracking: quotes, backslashes, brackets
/// and braces, raw control characters (escaped by the serializer), multi-byte UTF-8, and now and
/// then a long one (keys longer than the splitter's key buffer).
fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 _.:/@-]{0,12}",
        4 => "[\"\\\\{}\\[\\],:\n\r\t/ aé€\u{1F600}\\x00\\x1f\u{2028}]{0,16}",
        2 => any::<String>(),
        1 => "[a-z\"\\\\{}\\[\\]é]{240,300}",
    ]
}

/// Object keys: anything, plus the names that steer container detection.
fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => arb_string(),
        1 => prop::sample::select(vec!["records", "value", "Value", "RECORDS", "@odata.context", "@odata.nextLink", "nextLink", "count"])
            .prop_map(str::to_string),
    ]
}

/// Numbers that survive a serde_json round trip exactly.
fn arb_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-4_000_000i64..4_000_000).prop_map(|n| Value::from(n as f64 / 4.0)),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number(),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<
                String,
                Value,
            >>(
            ))),
        ]
    })
}

/// True when a top-level object reads as a container (`records`/`value` array after paging
/// metadata only): the splitter then yields its elements, by design, not the object.
fn looks_like_container(m: &Map<String, Value>) -> bool {
    for (k, v) in m {
        let lk = k.to_ascii_lowercase();
        if (lk == "records" || lk == "value") && v.is_array() {
            return true;
        }
        if !(lk.starts_with("@odata") || lk == "nextlink" || lk == "count") {
            return false;
        }
    }
    false
}

/// A record: a JSON object that is not itself a container.
fn arb_record() -> impl Strategy<Value = Value> {
    prop::collection::vec((arb_key(), arb_json()), 0..6).prop_map(|kv| {
        let m: Map<String, Value> = kv.into_iter().collect();
        if looks_like_container(&m) {
            // A plain first key makes it a record. The empty key comes first whether the map
            // keeps insertion order (serde_json `preserve_order`) or sorts its keys.
            let mut fixed = Map::new();
            fixed.insert(String::new(), Value::Null);
            fixed.extend(m);
            Value::Object(fixed)
        } else {
            Value::Object(m)
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Driving the readers
// ---------------------------------------------------------------------------------------------

/// One record as read: its span and a copy of its bytes.
struct Read {
    span: Span,
    bytes: Vec<u8>,
}

/// Runs a splitter over `input`, checking the structural invariants of every chunk on the way
/// (spans inside the buffer and in order, progress on every call so the loop must end).
fn split_all(input: &[u8], cap: usize, target: usize, max_record: usize) -> (Vec<Read>, u64) {
    let mut s = JsonSplitter::with_limit(BufReader::with_capacity(cap, input), max_record);
    let mut chunk = Chunk::default();
    let mut got = Vec::new();
    let mut calls = 0usize;
    loop {
        calls += 1;
        assert!(calls <= input.len() + 2, "splitter made no progress after {calls} calls on {} bytes", input.len());
        let before = s.offset();
        let more = s.next_chunk(&mut chunk, target).expect("reading a slice cannot fail");
        check_chunk(&chunk);
        assert!(!more || s.offset() > before || !chunk.spans.is_empty(), "a chunk call consumed nothing");
        got.extend(chunk.spans.iter().map(|sp| Read { span: sp.clone(), bytes: chunk.bytes(sp).to_vec() }));
        if !more {
            break;
        }
    }
    (got, s.offset())
}

fn check_chunk(chunk: &Chunk) {
    let mut prev_end = 0;
    for sp in &chunk.spans {
        assert!(
            sp.start <= sp.end && sp.end <= chunk.buf.len(),
            "span {sp:?} outside a {}-byte buffer",
            chunk.buf.len()
        );
        assert!(sp.start >= prev_end, "spans overlap: {sp:?}");
        prev_end = sp.end;
    }
}

/// Runs `reader::open` and its reader over `input` to the end, with the same invariants.
fn read_all(input: &[u8], cap: usize, target: usize, max_record: usize) -> Option<(Payload, Vec<Read>, u64)> {
    let (payload, mut r) = reader::open(BufReader::with_capacity(cap, input), max_record).ok()?;
    let mut chunk = Chunk::default();
    let mut got = Vec::new();
    let mut calls = 0usize;
    loop {
        calls += 1;
        assert!(calls <= input.len() + 2, "reader made no progress after {calls} calls on {} bytes", input.len());
        let more = r.next_chunk(&mut chunk, target).expect("reading a slice cannot fail");
        check_chunk(&chunk);
        got.extend(chunk.spans.iter().map(|sp| Read { span: sp.clone(), bytes: chunk.bytes(sp).to_vec() }));
        if !more {
            break;
        }
    }
    Some((payload, got, r.offset()))
}

fn newlines_before(input: &[u8], offset: u64) -> u64 {
    input[..offset as usize].iter().filter(|&&b| b == b'\n').count() as u64
}

/// Records as one chunk, for the parse driver.
fn chunk_of(records: &[(u64, Vec<u8>)], container: Container) -> Chunk {
    let mut chunk = Chunk::default();
    for (line, rec) in records {
        let start = chunk.buf.len();
        chunk.buf.extend_from_slice(rec);
        chunk.spans.push(Span {
            start,
            end: chunk.buf.len(),
            line: *line,
            offset: start as u64,
            index: 0,
            size: rec.len() as u64,
            defect: None,
            container,
        });
    }
    chunk
}

fn parse_records(payload: Payload, records: &[(u64, Vec<u8>)], container: Container) -> Output {
    let info = StreamInfo::new("ab".repeat(32), "flows.json", payload);
    let mut out = Output::default();
    parse_chunk(&info, &chunk_of(records, container), &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// (a) Splitter round trip in every container shape
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Shape {
    /// One compact record per line, with the given line ending.
    Lines(&'static str),
    /// `{"records":[...]}` on one line.
    Records,
    /// Pretty-printed `{"@odata.context":..,"value":[...],"nextLink":..}`.
    ValuePage,
    /// A bare array, compact or pretty.
    Array(bool),
}

fn arb_shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Lines("\n")),
        Just(Shape::Lines("\r\n")),
        Just(Shape::Records),
        Just(Shape::ValuePage),
        Just(Shape::Array(false)),
        Just(Shape::Array(true)),
    ]
}

fn render(shape: Shape, records: &[Value], bom: bool, final_newline: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if bom {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    match shape {
        Shape::Lines(eol) => {
            for (i, r) in records.iter().enumerate() {
                serde_json::to_writer(&mut out, r).unwrap();
                if i + 1 < records.len() || final_newline {
                    out.extend_from_slice(eol.as_bytes());
                }
            }
        }
        Shape::Records => serde_json::to_writer(&mut out, &json!({ "records": records })).unwrap(),
        Shape::ValuePage => {
            let page = json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns",
                "value": records,
                "nextLink": "x",
            });
            serde_json::to_writer_pretty(&mut out, &page).unwrap();
        }
        Shape::Array(false) => serde_json::to_writer(&mut out, records).unwrap(),
        Shape::Array(true) => serde_json::to_writer_pretty(&mut out, records).unwrap(),
    }
    if final_newline && !matches!(shape, Shape::Lines(_)) {
        out.push(b'\n');
    }
    out
}

proptest! {
    #[test]
    fn splitter_round_trips_every_container_shape(
        records in prop::collection::vec(arb_record(), 0..8),
        shape in arb_shape(),
        bom in any::<bool>(),
        final_newline in any::<bool>(),
        cap in 1usize..64,
        target in 1usize..256,
    ) {
        let input = render(shape, &records, bom, final_newline);
        let (got, end) = split_all(&input, cap, target, 1 << 20);
        prop_assert_eq!(end, input.len() as u64, "every byte is consumed");
        prop_assert_eq!(got.len(), records.len(), "input: {}", String::from_utf8_lossy(&input));
        let want_container = match shape {
            Shape::Lines(_) => Container::Lines,
            Shape::Records => Container::Records,
            Shape::ValuePage => Container::Value,
            Shape::Array(_) => Container::Array,
        };
        let mut last: Option<(u64, u32)> = None;
        for (i, (r, want)) in got.iter().zip(&records).enumerate() {
            prop_assert_eq!(&r.span.defect, &None);
            prop_assert_eq!(r.span.container, want_container);
            let v: Value = serde_json::from_slice(&r.bytes)
                .map_err(|e| TestCaseError::fail(format!("record {i} is not JSON ({e}): {}", String::from_utf8_lossy(&r.bytes))))?;
            prop_assert_eq!(&v, want, "record {}", i);
            // The offset points at the record's first byte in the stream.
            let off = r.span.offset as usize;
            prop_assert_eq!(input.get(off), Some(&b'{'));
            let at: Option<Value> = serde_json::Deserializer::from_slice(&input[off..]).into_iter().next().and_then(Result::ok);
            prop_assert_eq!(at.as_ref(), Some(want), "offset {} of record {}", off, i);
            // Lines are 1-based and count the newlines before the record.
            prop_assert_eq!(r.span.line, 1 + newlines_before(&input, r.span.offset));
            if let Shape::Lines(_) = shape {
                prop_assert_eq!(r.span.line, i as u64 + 1);
            }
            // Index counts records that start on the same line.
            let want_index = match last {
                Some((line, idx)) if line == r.span.line => idx + 1,
                _ => 0,
            };
            prop_assert_eq!(r.span.index, want_index);
            last = Some((r.span.line, r.span.index));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (b) Arbitrary bytes, and truncated JSON Lines
// ---------------------------------------------------------------------------------------------

/// Bytes: uniform noise, JSON-ish noise, and valid shapes with a few bytes overwritten.
fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
    let jsonish = prop::sample::select(b"{}[]\",:\\ \n\r\tax1-.e".to_vec());
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        prop::collection::vec(jsonish, 0..512),
        (
            prop::collection::vec(arb_record(), 0..5),
            arb_shape(),
            prop::collection::vec((any::<Index>(), prop::sample::select(b"{}[]\",:\\\n x\xff".to_vec())), 1..4),
        )
            .prop_map(|(records, shape, edits)| {
                let mut b = render(shape, &records, false, true);
                if !b.is_empty() {
                    for (at, byte) in edits {
                        let i = at.index(b.len());
                        b[i] = byte;
                    }
                }
                b
            }),
    ]
}

proptest! {
    #[test]
    fn splitter_never_panics_and_accounts_for_every_byte(
        input in arb_bytes(),
        cap in 1usize..64,
        target in 1usize..256,
        max_record in prop_oneof![Just(1usize << 20), 8usize..128],
    ) {
        let (got, end) = split_all(&input, cap, target, max_record);
        prop_assert_eq!(end, input.len() as u64, "bytes left unread");
        let mut prev = 0u64;
        for r in &got {
            prop_assert!(r.span.offset >= prev && r.span.offset <= input.len() as u64, "offset {} after {}", r.span.offset, prev);
            prev = r.span.offset;
            prop_assert_eq!(r.span.line, 1 + newlines_before(&input, r.span.offset), "line of the record at {}", r.span.offset);
            if r.span.defect.is_some() {
                prop_assert!(r.bytes.len() <= 4096, "excerpt of {} bytes", r.bytes.len());
            } else {
                prop_assert!(r.bytes.len() <= max_record, "record of {} bytes over the {} limit", r.bytes.len(), max_record);
            }
        }
        // The parse driver takes whatever the splitter produced.
        let info = StreamInfo::new("00".repeat(32), "x.json", Payload::Json);
        let records: Vec<(u64, Vec<u8>)> = got.iter().map(|r| (r.span.line, r.bytes.clone())).collect();
        let mut out = Output::default();
        parse_chunk(&info, &chunk_of(&records, Container::Lines), &mut out);
        prop_assert_eq!(out.records, got.len() as u64);
    }

    #[test]
    fn every_reader_survives_arbitrary_bytes(
        input in prop_oneof![
            arb_bytes(),
            // Text that sniffs as CSV or VPC flow text.
            "[a-z0-9 ,\"\t\n\r.:-]{0,300}".prop_map(String::into_bytes),
            "(version srcaddr dstaddr start\n)?([0-9 .:\n-]|ACCEPT|REJECT){0,60}".prop_map(String::into_bytes),
        ],
        cap in 1usize..64,
        target in 1usize..256,
        max_record in prop_oneof![Just(1usize << 20), 8usize..128],
    ) {
        let Some((payload, got, end)) = read_all(&input, cap, target, max_record) else {
            // Only NUL bytes make open() refuse a stream.
            prop_assert!(input.contains(&0));
            return Ok(());
        };
        if !matches!(payload, Payload::Csv) {
            prop_assert_eq!(end, input.len() as u64, "bytes left unread");
        }
        for r in &got {
            prop_assert!(r.span.offset <= input.len() as u64);
        }
        let info = StreamInfo::new("00".repeat(32), "x.log", payload);
        let records: Vec<(u64, Vec<u8>)> = got.iter().map(|r| (r.span.line, r.bytes.clone())).collect();
        let mut out = Output::default();
        parse_chunk(&info, &chunk_of(&records, Container::Lines), &mut out);
        prop_assert_eq!(out.records, got.len() as u64);
    }

    #[test]
    fn truncated_json_lines_keep_every_complete_record(
        records in prop::collection::vec(arb_record(), 1..6),
        cut in any::<Index>(),
        cap in 1usize..64,
        target in 1usize..256,
    ) {
        let mut input = Vec::new();
        let mut bounds = Vec::new();
        for r in &records {
            let start = input.len();
            serde_json::to_writer(&mut input, r).unwrap();
            bounds.push((start, input.len()));
            input.push(b'\n');
        }
        let k = cut.index(input.len() + 1);
        let input = &input[..k];
        let complete = bounds.iter().filter(|(_, end)| *end <= k).count();
        let partial = bounds.iter().any(|&(start, end)| start < k && k < end);
        let (got, end) = split_all(input, cap, target, 1 << 20);
        prop_assert_eq!(end, k as u64);
        let good: Vec<&Read> = got.iter().filter(|r| r.span.defect.is_none()).collect();
        let bad: Vec<&Read> = got.iter().filter(|r| r.span.defect.is_some()).collect();
        prop_assert_eq!(good.len(), complete, "cut at {} of {}", k, String::from_utf8_lossy(input));
        for (i, r) in good.iter().enumerate() {
            let v: Value = serde_json::from_slice(&r.bytes).unwrap();
            prop_assert_eq!(&v, &records[i]);
            prop_assert_eq!(r.span.line, i as u64 + 1);
            prop_assert_eq!(r.span.offset, bounds[i].0 as u64);
        }
        prop_assert_eq!(bad.len(), usize::from(partial), "cut at {}: {:?}", k, bad.iter().map(|r| &r.span.defect).collect::<Vec<_>>());
        if let Some(b) = bad.first() {
            prop_assert_eq!(b.span.offset, bounds[complete].0 as u64);
            prop_assert_eq!(b.span.line, complete as u64 + 1);
            prop_assert!(b.span.defect.as_deref().unwrap_or_default().starts_with("truncated record"));
        }
    }
}

proptest! {
    #[test]
    fn a_line_cut_short_in_the_middle_costs_only_that_line(
        records in prop::collection::vec(arb_record(), 2..6),
        which in any::<Index>(),
        cut in any::<Index>(),
        cap in 1usize..64,
        target in 1usize..256,
    ) {
        // JSON Lines where one record (not the first: that one tells the splitter the stream
        // is JSON Lines) lost its tail, as when a writer died mid-line and a later one appended.
        let broken = 1 + which.index(records.len() - 1);
        let mut input = Vec::new();
        let mut starts = Vec::new();
        for (i, r) in records.iter().enumerate() {
            starts.push(input.len());
            let mut text = serde_json::to_vec(r).unwrap();
            if i == broken {
                text.truncate(1 + cut.index(text.len() - 1));
            }
            input.extend_from_slice(&text);
            input.push(b'\n');
        }
        let (got, end) = split_all(&input, cap, target, 1 << 20);
        prop_assert_eq!(end, input.len() as u64);
        prop_assert_eq!(got.len(), records.len(), "{}", String::from_utf8_lossy(&input));
        for (i, r) in got.iter().enumerate() {
            prop_assert_eq!(r.span.line, i as u64 + 1);
            prop_assert_eq!(r.span.offset, starts[i] as u64);
            if i == broken {
                let d = r.span.defect.as_deref().unwrap_or_default();
                prop_assert!(d.starts_with("truncated record: line"), "{:?}", r.span.defect);
            } else {
                prop_assert_eq!(&r.span.defect, &None);
                let v: Value = serde_json::from_slice(&r.bytes).unwrap();
                prop_assert_eq!(&v, &records[i]);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (c) CSV tables
// ---------------------------------------------------------------------------------------------

/// A header: starts with a letter (so the stream does not sniff as JSON), no newline (the
/// sniffer reads the first line), sometimes with Log Analytics' ` [UTC]` suffix.
fn arb_header() -> impl Strategy<Value = Header> {
    ("[A-Za-z][A-Za-z0-9 _.,\"é]{0,8}[A-Za-z0-9]|[A-Za-z]", any::<bool>()).prop_map(|(name, utc)| {
        if utc {
            (format!("{name} [UTC]"), name)
        } else {
            (name.clone(), name)
        }
    })
}

/// A cell and the JSON value CsvRows should make of it (None for an empty cell).
fn arb_cell() -> impl Strategy<Value = Cell> {
    prop_oneof![
        6 => "[a-zA-Z0-9 ,\"\n\r\té€\u{1F600}:;'-]{0,12}"
            .prop_filter("JSON-looking", |s| !s.trim_start().starts_with(['{', '[']))
            .prop_map(|s| {
                let v = (!s.is_empty()).then(|| Value::String(s.clone()));
                (s, v)
            }),
        1 => (arb_json().prop_filter("object or array", |v| v.is_object() || v.is_array()), " {0,2}")
            .prop_map(|(v, pad)| (format!("{pad}{v}"), Some(v))),
    ]
}

/// A header as written and the key it becomes.
type Header = (String, String);
/// A cell as written and the value it becomes.
type Cell = (String, Option<Value>);

fn arb_table() -> impl Strategy<Value = (Vec<Header>, Vec<Vec<Cell>>)> {
    prop::collection::vec(arb_header(), 2..6)
        .prop_filter("distinct names", |h| {
            let mut names: Vec<&String> = h.iter().map(|(_, n)| n).collect();
            names.sort();
            names.dedup();
            names.len() == h.len()
        })
        .prop_flat_map(|headers| {
            let n = headers.len();
            let rows = prop::collection::vec(prop::collection::vec(arb_cell(), 1..=n + 1), 0..6);
            (Just(headers), rows)
        })
}

proptest! {
    #[test]
    fn csv_rows_become_objects_keyed_by_header(
        (headers, rows) in arb_table(),
        crlf in any::<bool>(),
        blank_lines in prop::collection::vec(0usize..3, 6),
        extra_cap in 1usize..64,
        target in 1usize..256,
    ) {
        // LF or CRLF (the portal and Log Analytics write CRLF), blank lines between some rows.
        let (terminator, eol) = if crlf { (csv::Terminator::CRLF, &b"\r\n"[..]) } else { (csv::Terminator::Any(b'\n'), &b"\n"[..]) };
        let line = |fields: Vec<&String>| {
            let mut w = csv::WriterBuilder::new().terminator(terminator).from_writer(Vec::new());
            w.write_record(fields).unwrap();
            w.into_inner().unwrap()
        };
        let mut input = line(headers.iter().map(|(h, _)| h).collect());
        let header_len = input.len();
        let mut starts = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            for _ in 0..blank_lines[i] {
                input.extend_from_slice(eol);
            }
            starts.push(input.len());
            input.extend(line(row.iter().map(|(c, _)| c).collect()));
        }
        // The sniffer decides from the first line, so it must be in the first buffer.
        let Some((payload, got, _)) = read_all(&input, header_len + extra_cap, target, 1 << 20) else {
            return Err(TestCaseError::fail("open refused the stream"));
        };
        prop_assert_eq!(payload, Payload::Csv);
        prop_assert_eq!(got.len(), rows.len(), "input: {:?}", String::from_utf8_lossy(&input));
        for (i, (r, row)) in got.iter().zip(&rows).enumerate() {
            prop_assert_eq!(&r.span.defect, &None);
            let mut want = Vec::new();
            for (j, (_, cell)) in row.iter().enumerate() {
                if let Some(cell) = cell {
                    let key = headers.get(j).map_or_else(|| format!("_col{}", j + 1), |(_, name)| name.clone());
                    want.push((key, cell.clone()));
                }
            }
            // Keys in column order, each with its cell.
            let Ordered(entries) = serde_json::from_slice(&r.bytes)
                .map_err(|e| TestCaseError::fail(format!("row {i} is not a JSON object: {e}")))?;
            prop_assert_eq!(entries, want, "row {}", i);
            prop_assert_eq!(r.span.offset, starts[i] as u64, "first byte of row {}", i);
            prop_assert_eq!(r.span.line, 1 + newlines_before(&input, starts[i] as u64), "line of row {}", i);
        }
    }
}

/// A JSON object's entries in the order written (serde_json's `Map` may sort its keys).
struct Ordered(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = m.next_entry()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }
        d.deserialize_map(V)
    }
}

// ---------------------------------------------------------------------------------------------
// (d) NSG and VNet flow tuples
// ---------------------------------------------------------------------------------------------

fn arb_ip() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        any::<u32>().prop_map(|n| {
            let a = Ipv4Addr::from(n).to_string();
            (a.clone(), a)
        }),
        (any::<u128>(), 0u8..3).prop_map(|(n, style)| {
            let a = Ipv6Addr::from(n);
            let canonical = a.to_string();
            let written = match style {
                0 => canonical.clone(),
                1 => canonical.to_ascii_uppercase(),
                // Every group written out, no `::`.
                _ => a.segments().iter().map(|s| format!("{s:x}")).collect::<Vec<_>>().join(":"),
            };
            (written, canonical)
        }),
    ]
}

/// An epoch timestamp in seconds or milliseconds, and its microseconds.
fn arb_ts() -> impl Strategy<Value = (i64, i64)> {
    prop_oneof![
        (1_000_000_000i64..4_000_000_000).prop_map(|s| (s, s * 1_000_000)),
        (1_000_000_000_000i64..4_000_000_000_000).prop_map(|ms| (ms, ms * 1_000)),
    ]
}

fn arb_count() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![Just(None), (0i64..100_000).prop_map(Some), (0i64..=i64::MAX).prop_map(Some)]
}

/// One valid tuple: its text and the session fields it must produce.
#[derive(Debug, Clone)]
struct Tuple {
    text: String,
    want: NetworkSession,
}

fn opt(s: &Option<impl ToString>) -> String {
    s.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// NSG v1 (8 fields) or v2 (13 fields) tuple.
fn arb_nsg_tuple() -> impl Strategy<Value = Tuple> {
    (
        arb_ts(),
        arb_ip(),
        arb_ip(),
        prop::option::weighted(0.9, any::<u16>()),
        prop::option::weighted(0.9, any::<u16>()),
        prop::sample::select(vec![("T", "TCP"), ("U", "UDP"), ("t", "TCP"), ("u", "UDP")]),
        prop::sample::select(vec![("I", "Inbound"), ("O", "Outbound")]),
        prop::sample::select(vec![("A", "Allow"), ("D", "Deny")]),
        prop::option::of((
            prop::sample::select(vec![("B", "Begin"), ("C", "Continuing"), ("E", "End")]),
            [arb_count(), arb_count(), arb_count(), arb_count()],
        )),
    )
        .prop_map(|((ts, time), (src, src_c), (dst, dst_c), sport, dport, proto, dir, decision, v2)| {
            let mut fields = vec![
                ts.to_string(),
                src,
                dst,
                opt(&sport),
                opt(&dport),
                proto.0.into(),
                dir.0.into(),
                decision.0.into(),
            ];
            let mut want = NetworkSession {
                time,
                end_time: time,
                src_ip: src_c,
                dst_ip: dst_c,
                src_port: sport.map(i32::from),
                dst_port: dport.map(i32::from),
                protocol: proto.1.into(),
                direction: Some(dir.1.into()),
                action: Some(decision.1.into()),
                ..NetworkSession::default()
            };
            if let Some((state, c)) = v2 {
                fields.push(state.0.into());
                fields.extend(c.iter().map(opt));
                want.flow_state = Some(state.1.into());
                (want.packets_s2d, want.bytes_s2d, want.packets_d2s, want.bytes_d2s) = (c[0], c[1], c[2], c[3]);
            }
            want.raw = fields.join(",");
            Tuple { text: want.raw.clone(), want }
        })
}

fn protocol_name(n: u8) -> String {
    match n {
        6 => "TCP".into(),
        17 => "UDP".into(),
        1 => "ICMP".into(),
        58 => "ICMPv6".into(),
        n => n.to_string(),
    }
}

/// VNet flow-log tuple (13 fields).
fn arb_vnet_tuple() -> impl Strategy<Value = Tuple> {
    (
        arb_ts(),
        arb_ip(),
        arb_ip(),
        prop::option::weighted(0.9, any::<u16>()),
        prop::option::weighted(0.9, any::<u16>()),
        prop_oneof![prop::sample::select(vec![6u8, 17, 1, 58]), any::<u8>()],
        prop::sample::select(vec![("I", "Inbound"), ("O", "Outbound")]),
        prop::sample::select(vec![
            ("B", "Allow", "Begin"),
            ("C", "Allow", "Continuing"),
            ("E", "Allow", "End"),
            ("D", "Deny", "Deny"),
        ]),
        prop::sample::select(vec!["X", "NX", "NX_HW_NOT_SUPPORTED", "NX_SETTING_DISABLED", "NX_NOT_ACCEPTED", ""]),
        [arb_count(), arb_count(), arb_count(), arb_count()],
    )
        .prop_map(|((ts, time), (src, src_c), (dst, dst_c), sport, dport, proto, dir, state, enc, c)| {
            let mut fields = vec![
                ts.to_string(),
                src,
                dst,
                opt(&sport),
                opt(&dport),
                proto.to_string(),
                dir.0.into(),
                state.0.into(),
                enc.into(),
            ];
            fields.extend(c.iter().map(opt));
            let want = NetworkSession {
                time,
                end_time: time,
                src_ip: src_c,
                dst_ip: dst_c,
                src_port: sport.map(i32::from),
                dst_port: dport.map(i32::from),
                protocol: protocol_name(proto),
                direction: Some(dir.1.into()),
                action: Some(state.1.into()),
                flow_state: Some(state.2.into()),
                encryption: (!enc.is_empty()).then(|| enc.to_string()),
                packets_s2d: c[0],
                bytes_s2d: c[1],
                packets_d2s: c[2],
                bytes_d2s: c[3],
                raw: fields.join(","),
                ..NetworkSession::default()
            };
            Tuple { text: want.raw.clone(), want }
        })
}

/// Record-level text fields: mostly plain, sometimes padded or blank (`text()` trims; blank is
/// absent).
fn arb_label() -> impl Strategy<Value = Label> {
    prop_oneof![
        4 => "[A-Za-z0-9_/.-]{1,24}".prop_map(|s| (s.clone(), Some(s))),
        1 => " {0,2}[A-Za-z0-9_ é-]{0,8} {0,2}".prop_map(|s| {
            let t = s.trim();
            let want = (!t.is_empty()).then(|| t.to_string());
            (s, want)
        }),
    ]
}

/// A MAC as written (separators, any case) and as azir normalises it.
fn arb_mac() -> impl Strategy<Value = Mac> {
    (any::<[u8; 6]>(), prop::sample::select(vec!["", "-", ":"]), any::<bool>()).prop_map(|(b, sep, lower)| {
        let parts: Vec<String> =
            b.iter().map(|x| if lower { format!("{x:02x}") } else { format!("{x:02X}") }).collect();
        let norm = b.iter().map(|x| format!("{x:02X}")).collect();
        (parts.join(sep), norm)
    })
}

/// A way to break one tuple, and the message the quarantine must carry.
#[derive(Debug, Clone)]
enum Corrupt {
    /// Replace field `i` (0-based) with a bad value; the reason names the field.
    Field(usize, &'static str),
    /// One field too many.
    ExtraField,
    /// One field too few.
    MissingField,
    /// Not a string at all.
    NotAString,
}

fn arb_corruption(fields: usize) -> impl Strategy<Value = Corrupt> {
    let mut bad: Vec<(usize, &'static [&'static str])> = vec![
        (0, &["soon", "-1", "1.5", "", "99999999999999999999", "0x10"]),
        (1, &["10.0.0.256", "", "::g", "1.2.3", "10.0.0.1/24"]),
        (2, &["300.1.1.1", "", "fe80::1::2", "localhost"]),
        (3, &["65536", "-1", "http", "1e3"]),
        (4, &["70000", "+-1", "https", "0.5"]),
        (5, &[""]),
    ];
    if fields == 13 {
        for i in 9..13 {
            bad.push((i, &["-1", "many", "18446744073709551616", "9223372036854775808", "1.0"]));
        }
    }
    prop_oneof![
        6 => prop::sample::select(bad)
            .prop_flat_map(|(i, values)| prop::sample::select(values.to_vec()).prop_map(move |v| Corrupt::Field(i, v))),
        1 => Just(Corrupt::ExtraField),
        1 => Just(Corrupt::MissingField),
        1 => Just(Corrupt::NotAString),
    ]
}

fn corrupt(text: &str, c: &Corrupt) -> Value {
    let mut fields: Vec<&str> = text.split(',').collect();
    match c {
        Corrupt::Field(i, v) => fields[*i] = v,
        Corrupt::ExtraField => fields.push("1"),
        Corrupt::MissingField => {
            fields.pop();
        }
        Corrupt::NotAString => return json!(42),
    }
    Value::String(fields.join(","))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Log {
    Nsg,
    Vnet,
}

/// A flow record: (group label, per-MAC or per-ACL lists of tuples), as generated.
/// A text field as written and as `text()` reads it.
type Label = (String, Option<String>);
/// A MAC as written and normalised.
type Mac = (String, String);
/// NSG: one MAC's tuples (the label unused). VNet: one rule's tuples (the MAC unused).
type Group = (Label, Mac, Vec<Tuple>);

#[derive(Debug, Clone)]
struct FlowRecord {
    log: Log,
    version: i32,
    dvc: Label,
    target: Label,
    mac: Mac,
    /// NSG: rule → [mac → tuples]. VNet: acl → [rule → tuples].
    outer: Vec<(Label, Vec<Group>)>,
}

fn arb_flow_record() -> impl Strategy<Value = FlowRecord> {
    prop_oneof![Just(Log::Nsg), Just(Log::Vnet)].prop_flat_map(|log| {
        let tuple = match log {
            Log::Nsg => arb_nsg_tuple().boxed(),
            Log::Vnet => arb_vnet_tuple().boxed(),
        };
        let inner = prop::collection::vec((arb_label(), arb_mac(), prop::collection::vec(tuple, 0..4)), 1..3);
        (
            Just(log),
            prop_oneof![Just(1), Just(2), Just(4), 0i32..10],
            arb_label(),
            arb_label(),
            arb_mac(),
            prop::collection::vec((arb_label(), inner), 1..3),
        )
            .prop_map(|(log, version, dvc, target, mac, outer)| FlowRecord {
                log,
                version,
                dvc,
                target,
                mac,
                outer,
            })
    })
}

impl FlowRecord {
    /// The record as JSON, with tuple `corrupt_at` (if any) replaced by `bad`, and the sessions
    /// it must produce (every tuple's, in document order, with its index).
    fn build(&self, corrupt_at: Option<(u32, &Corrupt)>) -> (Value, Vec<NetworkSession>) {
        let mut want = Vec::new();
        let mut index = 0u32;
        let mut groups = Vec::new();
        for ((outer_label, outer_want), inner) in &self.outer {
            let mut inner_json = Vec::new();
            for ((inner_label, inner_want), (mac, mac_want), tuples) in inner {
                let mut tuple_json = Vec::new();
                for t in tuples {
                    match corrupt_at {
                        Some((k, c)) if k == index => tuple_json.push(corrupt(&t.text, c)),
                        _ => tuple_json.push(Value::String(t.text.clone())),
                    }
                    let mut s = t.want.clone();
                    s.tuple_index = index;
                    s.version = Some(self.version);
                    s.dvc_id = self.dvc.1.clone();
                    match self.log {
                        Log::Nsg => {
                            s.source = "nsg_flow".into();
                            s.rule = outer_want.clone();
                            s.mac = Some(mac_want.clone());
                        }
                        Log::Vnet => {
                            s.source = "vnet_flow".into();
                            s.acl_id = outer_want.clone();
                            s.rule = inner_want.clone();
                            s.mac = Some(self.mac.1.clone());
                            s.target_resource_id = self.target.1.clone();
                        }
                    }
                    want.push(s);
                    index += 1;
                }
                inner_json.push(match self.log {
                    Log::Nsg => json!({ "mac": mac, "flowTuples": tuple_json }),
                    Log::Vnet => json!({ "rule": inner_label, "flowTuples": tuple_json }),
                });
            }
            groups.push(match self.log {
                Log::Nsg => json!({ "rule": outer_label, "flows": inner_json }),
                Log::Vnet => json!({ "aclID": outer_label, "flowGroups": inner_json }),
            });
        }
        let record = match self.log {
            Log::Nsg => json!({
                "time": "2024-05-01T10:00:00.0000000Z",
                "systemId": "5f1a",
                "category": "NetworkSecurityGroupFlowEvent",
                "resourceId": self.dvc.0,
                "operationName": "NetworkSecurityGroupFlowEvents",
                "properties": { "Version": self.version, "flows": groups },
            }),
            Log::Vnet => json!({
                "time": "2024-05-01T10:00:00.0000000Z",
                "flowLogVersion": self.version,
                "flowLogGUID": "g",
                "macAddress": self.mac.0,
                "category": "FlowLogFlowEvent",
                "flowLogResourceID": self.dvc.0,
                "targetResourceID": self.target.0,
                "operationName": "FlowLogFlowEvent",
                "flowRecords": { "flows": groups },
            }),
        };
        (record, want)
    }

    fn tuples(&self) -> Vec<&Tuple> {
        self.outer.iter().flat_map(|(_, inner)| inner.iter().flat_map(|(_, _, t)| t)).collect()
    }
}

/// Compares a parsed session with the expected one, field by field (the flow id is a hash of
/// the others and is checked for presence only).
fn assert_session(got: &NetworkSession, want: &NetworkSession, line: u64) -> Result<(), TestCaseError> {
    let mut g = got.clone();
    prop_assert_eq!(g.flow_id.len(), 16, "flow id {:?}", g.flow_id);
    prop_assert_eq!(g.provenance.line, line);
    prop_assert_eq!(&g.source_format, "diag");
    g.flow_id = String::new();
    g.provenance = Default::default();
    g.source_format = String::new();
    prop_assert_eq!(&g, want);
    Ok(())
}

proptest! {
    #[test]
    fn flow_tuples_round_trip(rec in arb_flow_record(), line in 1u64..1000) {
        let (record, want) = rec.build(None);
        let out = parse_records(Payload::Json, &[(line, serde_json::to_vec(&record).unwrap())], Container::Lines);
        prop_assert!(out.bad.is_empty(), "{:?}", out.bad);
        prop_assert_eq!(out.flows.len(), want.len());
        for (g, w) in out.flows.iter().zip(&want) {
            assert_session(g, w, line)?;
        }
    }

    #[test]
    fn a_corrupt_tuple_is_quarantined_alone(
        (rec, k, c) in arb_flow_record()
            .prop_filter("has tuples", |r| !r.tuples().is_empty())
            .prop_flat_map(|r| {
                let n = r.tuples().len();
                (Just(r), 0..n)
            })
            .prop_flat_map(|(r, k)| {
                let fields = r.tuples()[k].text.split(',').count();
                (Just(r), Just(k as u32), arb_corruption(fields))
            }),
    ) {
        let (record, want) = rec.build(Some((k, &c)));
        let out = parse_records(Payload::Json, &[(7, serde_json::to_vec(&record).unwrap())], Container::Lines);
        prop_assert_eq!(out.bad.len(), 1, "{:?}", out.bad);
        let bad = &out.bad[0];
        prop_assert_eq!(bad.tuple_index, Some(k));
        prop_assert_eq!(bad.provenance.line, 7);
        let source = if rec.log == Log::Nsg { "nsg_flow" } else { "vnet_flow" };
        prop_assert_eq!(bad.parser.as_deref(), Some(source));
        let prefix = format!("tuple {k}: ");
        prop_assert!(bad.reason.starts_with(&prefix), "{}", bad.reason);
        match c {
            Corrupt::Field(i, _) => prop_assert!(bad.reason.contains(&format!("field {i} (")), "{}", bad.reason),
            Corrupt::ExtraField | Corrupt::MissingField => prop_assert!(bad.reason.contains("expected"), "{}", bad.reason),
            Corrupt::NotAString => prop_assert!(bad.reason.contains("not a tuple string"), "{}", bad.reason),
        }
        let kept: Vec<&NetworkSession> = want.iter().filter(|s| s.tuple_index != k).collect();
        prop_assert_eq!(out.flows.len(), kept.len());
        for (g, w) in out.flows.iter().zip(kept) {
            assert_session(g, w, 7)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (e) AWS VPC flow lines with custom headers
// ---------------------------------------------------------------------------------------------

/// Values of one VPC line, by field; None is written `-`.
#[derive(Debug, Clone, Default)]
struct VpcValues {
    version: Option<i32>,
    account: Option<String>,
    interface: Option<String>,
    src: Option<(String, String)>,
    dst: Option<(String, String)>,
    pkt_src: Option<(String, String)>,
    pkt_dst: Option<(String, String)>,
    sport: Option<u16>,
    dport: Option<u16>,
    protocol: Option<u8>,
    packets: Option<i64>,
    bytes: Option<i64>,
    start: Option<i64>,
    end: Option<i64>,
    action: Option<(&'static str, &'static str)>,
    status: Option<&'static str>,
    tcp_flags: Option<i32>,
    direction: Option<(&'static str, &'static str)>,
    vpc_id: Option<String>,
}

/// Every field the generator can put in a header (the parser reads all but the last ones).
const VPC_FIELDS: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
    "tcp-flags",
    "flow-direction",
    "vpc-id",
    "type",
    "region",
];

impl VpcValues {
    fn value(&self, field: &str) -> String {
        fn d(v: Option<String>) -> String {
            v.unwrap_or_else(|| "-".to_string())
        }
        match field {
            "version" => d(self.version.map(|v| v.to_string())),
            "account-id" => d(self.account.clone()),
            "interface-id" => d(self.interface.clone()),
            "srcaddr" => d(self.src.clone().map(|a| a.0)),
            "dstaddr" => d(self.dst.clone().map(|a| a.0)),
            "pkt-srcaddr" => d(self.pkt_src.clone().map(|a| a.0)),
            "pkt-dstaddr" => d(self.pkt_dst.clone().map(|a| a.0)),
            "srcport" => d(self.sport.map(|v| v.to_string())),
            "dstport" => d(self.dport.map(|v| v.to_string())),
            "protocol" => d(self.protocol.map(|v| v.to_string())),
            "packets" => d(self.packets.map(|v| v.to_string())),
            "bytes" => d(self.bytes.map(|v| v.to_string())),
            "start" => d(self.start.map(|v| v.to_string())),
            "end" => d(self.end.map(|v| v.to_string())),
            "action" => d(self.action.map(|a| a.0.to_string())),
            "log-status" => d(self.status.map(str::to_string)),
            "tcp-flags" => d(self.tcp_flags.map(|v| v.to_string())),
            "flow-direction" => d(self.direction.map(|a| a.0.to_string())),
            "vpc-id" => d(self.vpc_id.clone()),
            "type" => "IPv4".into(),
            "region" => "us-east-1".into(),
            other => unreachable!("{other}"),
        }
    }

    /// Blanks the values of fields the header does not carry.
    fn restrict(mut self, fields: &[&str]) -> Self {
        let has = |f: &str| fields.contains(&f);
        macro_rules! keep {
            ($($name:literal => $field:ident),* $(,)?) => { $(if !has($name) { self.$field = None; })* };
        }
        keep!(
            "version" => version, "account-id" => account, "interface-id" => interface, "srcaddr" => src,
            "dstaddr" => dst, "pkt-srcaddr" => pkt_src, "pkt-dstaddr" => pkt_dst, "srcport" => sport,
            "dstport" => dport, "protocol" => protocol, "packets" => packets, "bytes" => bytes, "start" => start,
            "end" => end, "action" => action, "log-status" => status, "tcp-flags" => tcp_flags,
            "flow-direction" => direction, "vpc-id" => vpc_id,
        );
        self
    }

    /// The session the line must produce, Err(fragment of the reason) when it must be
    /// quarantined, Ok(None) for a NODATA line.
    fn expect(&self, line: &str) -> Result<Option<NetworkSession>, &'static str> {
        if self.status == Some("NODATA") {
            return Ok(None);
        }
        let src = self.src.as_ref().or(self.pkt_src.as_ref()).ok_or("no srcaddr")?;
        let dst = self.dst.as_ref().or(self.pkt_dst.as_ref()).ok_or("no dstaddr")?;
        let time = self.start.or(self.end).ok_or("no time")? * 1_000_000;
        Ok(Some(NetworkSession {
            time,
            end_time: self.end.map_or(time, |e| e * 1_000_000),
            source: "vpc_flow".into(),
            src_ip: src.1.clone(),
            dst_ip: dst.1.clone(),
            src_port: self.sport.map(i32::from),
            dst_port: self.dport.map(i32::from),
            protocol: self.protocol.map(protocol_name).unwrap_or_default(),
            direction: self.direction.map(|d| d.1.to_string()),
            action: self.action.map(|a| a.1.to_string()),
            packets_s2d: self.packets,
            bytes_s2d: self.bytes,
            dvc_id: self.interface.clone(),
            version: self.version,
            account_id: self.account.clone(),
            tcp_flags: self.tcp_flags,
            log_status: self.status.map(str::to_string),
            raw: line.to_string(),
            ..NetworkSession::default()
        }))
    }
}

fn arb_vpc_values() -> impl Strategy<Value = VpcValues> {
    let ip = || prop::option::weighted(0.85, arb_ip());
    let secs = || prop::option::weighted(0.85, 1_000_000_000i64..4_000_000_000);
    let count = || prop::option::of(0i64..=i64::MAX);
    (
        (
            prop::option::of(2i32..6),
            prop::option::of("[0-9]{12}"),
            prop::option::of("eni-[0-9a-f]{8,17}"),
            ip(),
            ip(),
            ip(),
            ip(),
            prop::option::of(any::<u16>()),
            prop::option::of(any::<u16>()),
        ),
        (
            prop::option::of(any::<u8>()),
            count(),
            count(),
            secs(),
            secs(),
            prop::option::of(prop::sample::select(vec![
                ("ACCEPT", "Allow"),
                ("REJECT", "Deny"),
                ("accept", "Allow"),
                ("reject", "Deny"),
            ])),
            prop::option::weighted(0.9, prop::sample::select(vec!["OK", "OK", "OK", "NODATA"])),
            prop::option::of(0i32..256),
            prop::option::of(prop::sample::select(vec![("ingress", "Inbound"), ("egress", "Outbound")])),
            prop::option::of("vpc-[0-9a-f]{8}"),
        ),
    )
        .prop_map(
            |(
                (version, account, interface, src, dst, pkt_src, pkt_dst, sport, dport),
                (protocol, packets, bytes, start, end, action, status, tcp_flags, direction, vpc_id),
            )| VpcValues {
                version,
                account,
                interface,
                src,
                dst,
                pkt_src,
                pkt_dst,
                sport,
                dport,
                protocol,
                packets,
                bytes,
                start,
                end,
                action,
                status,
                tcp_flags,
                direction,
                vpc_id,
            },
        )
}

/// A custom format: srcaddr, dstaddr and start or end (what makes a header recognisable and a
/// line readable), plus any subset of the other fields, in any order.
fn arb_vpc_format() -> impl Strategy<Value = Vec<&'static str>> {
    let optional: Vec<&'static str> =
        VPC_FIELDS.iter().copied().filter(|f| !matches!(*f, "srcaddr" | "dstaddr" | "start" | "end")).collect();
    let n = optional.len();
    (
        prop::sample::subsequence(optional, 0..=n),
        prop::sample::select(vec![vec!["start"], vec!["end"], vec!["start", "end"]]),
    )
        .prop_flat_map(|(mut fields, time)| {
            fields.extend(["srcaddr", "dstaddr"]);
            fields.extend(time);
            Just(fields).prop_shuffle()
        })
}

/// The header token for a field, in one of the spellings AWS tools write.
fn spell(field: &str, style: u8) -> String {
    match style {
        0 => field.to_string(),
        1 => field.replace('-', "_"),
        2 => format!("${{{field}}}"),
        _ => field
            .split('-')
            .map(|p| {
                let mut c = p.chars();
                c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
            })
            .collect(),
    }
}

proptest! {
    #[test]
    fn vpc_columns_follow_the_header(
        (fields, styles) in arb_vpc_format().prop_flat_map(|f| {
            let n = f.len();
            (Just(f), prop::collection::vec(0u8..4, n))
        }),
        lines in prop::collection::vec(arb_vpc_values(), 1..5),
        target in 1usize..256,
    ) {
        let header: Vec<String> = fields.iter().zip(&styles).map(|(f, s)| spell(f, *s)).collect();
        let mut text = header.join(" ") + "\n";
        let mut expected = Vec::new();
        for v in lines {
            let v = v.restrict(&fields);
            let line: Vec<String> = fields.iter().map(|f| v.value(f)).collect();
            let line = line.join(" ");
            text.push_str(&line);
            text.push('\n');
            expected.push(v.expect(&line));
        }
        check_vpc(text.as_bytes(), &expected, target, 2)?;
    }

    #[test]
    fn vpc_default_format_without_header(
        lines in prop::collection::vec(
            arb_vpc_values().prop_map(|mut v| {
                // What the sniffer needs to see in the first line of a headerless file.
                v.version = Some(v.version.unwrap_or(2));
                if let Some(a) = v.action {
                    v.action = Some(if a.1 == "Allow" { ("ACCEPT", "Allow") } else { ("REJECT", "Deny") });
                }
                v
            }),
            1..5,
        ),
        target in 1usize..256,
    ) {
        let fields: Vec<&str> = azir_logs::parsers::vpc::DEFAULT_FIELDS.to_vec();
        let mut text = String::new();
        let mut expected = Vec::new();
        for v in lines {
            let v = v.restrict(&fields);
            let line: Vec<String> = fields.iter().map(|f| v.value(f)).collect();
            let line = line.join(" ");
            text.push_str(&line);
            text.push('\n');
            expected.push(v.expect(&line));
        }
        check_vpc(text.as_bytes(), &expected, target, 1)?;
    }
}

fn check_vpc(
    input: &[u8],
    expected: &[Result<Option<NetworkSession>, &str>],
    target: usize,
    first_line: u64,
) -> Result<(), TestCaseError> {
    let Some((payload, got, end)) = read_all(input, 8192, target, 1 << 20) else {
        return Err(TestCaseError::fail("open refused the stream"));
    };
    prop_assert!(
        matches!(payload, Payload::VpcFlow(_)),
        "sniffed as {:?}: {}",
        payload,
        String::from_utf8_lossy(input)
    );
    prop_assert_eq!(end, input.len() as u64);
    prop_assert_eq!(got.len(), expected.len());
    let info = StreamInfo::new("ab".repeat(32), "flows.log", payload);
    for (i, (r, want)) in got.iter().zip(expected).enumerate() {
        let line = first_line + i as u64;
        prop_assert_eq!(r.span.line, line);
        let mut out = Output::default();
        parse_chunk(&info, &chunk_of(&[(line, r.bytes.clone())], Container::Lines), &mut out);
        prop_assert_eq!(out.by_source.get("vpc_flow"), Some(&1));
        match want {
            Ok(Some(w)) => {
                prop_assert!(out.bad.is_empty(), "line {}: {:?}", line, out.bad);
                prop_assert_eq!(out.flows.len(), 1);
                let mut g = out.flows[0].clone();
                prop_assert_eq!(g.flow_id.len(), 16);
                prop_assert_eq!(g.provenance.line, line);
                g.flow_id = String::new();
                g.provenance = Default::default();
                g.source_format = String::new();
                prop_assert_eq!(&g, w);
            }
            Ok(None) => prop_assert!(out.flows.is_empty() && out.bad.is_empty(), "NODATA line: {:?}", out.bad),
            Err(reason) => {
                prop_assert!(out.flows.is_empty());
                prop_assert_eq!(out.bad.len(), 1);
                prop_assert!(out.bad[0].reason.contains(reason), "{} (wanted {})", out.bad[0].reason, reason);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The format detector
// ---------------------------------------------------------------------------------------------

/// JSON values built from the names the classifier looks at, so that most reach deep branches.
fn arb_log_like() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        3 => prop::sample::select(vec![
            "time", "timeStamp", "TimeGenerated", "TimeGenerated [UTC]", "category", "Category", "Type",
            "eventTimestamp", "eventDataId", "operationName", "OperationNameValue", "ActivityStatusValue",
            "UserPrincipalName", "ResultType", "AppDisplayName", "IPAddress", "ActivityDisplayName", "InitiatedBy",
            "createdDateTime", "userPrincipalName", "appId", "status", "ipAddress", "activityDateTime",
            "activityDisplayName", "provisioningAction", "riskEventType", "detectedDateTime",
            "riskLastUpdatedDateTime", "riskLevel", "Operation name", "Event initiated by", "properties",
            "records", "flowRecords", "resourceId",
        ])
        .prop_map(str::to_string),
        1 => arb_string(),
    ];
    let leaf = prop_oneof![
        3 => prop::sample::select(vec![
            "2024-05-01T10:00:00Z", "SignInLogs", "AuditLogs", "AzureDiagnostics", "NetworkSecurityGroupFlowEvent",
            "FlowLogFlowEvent", "AZFWNetworkRule", "AuditEvent", "StorageRead", "Administrative", "x", "",
        ])
        .prop_map(|s| Value::String(s.to_string())),
        1 => arb_number(),
        1 => Just(Value::Null),
    ];
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

proptest! {
    #[test]
    fn classify_is_total_and_the_driver_accounts_for_every_record(v in prop_oneof![arb_log_like(), arb_json()]) {
        let kind = classify(&v);
        if !v.is_object() {
            prop_assert_eq!(kind, None);
        }
        prop_assert_eq!(classify(&v.clone()), kind, "deterministic");
        let out = parse_records(Payload::Json, &[(1, serde_json::to_vec(&v).unwrap())], Container::Lines);
        prop_assert_eq!(out.records, 1);
        let unwrapped = v.as_object().is_some_and(|m| m.len() == 1 && m.get("records").is_some_and(Value::is_array));
        match kind {
            Some((k, _)) if !unwrapped => {
                prop_assert_eq!(out.by_source.get(k.source()), Some(&1));
                prop_assert_eq!(out.by_source.values().sum::<u64>(), 1);
            }
            None if !unwrapped => {
                prop_assert!(out.by_source.is_empty());
                prop_assert_eq!(out.bad.len(), 1);
                prop_assert!(out.bad[0].reason.starts_with("unrecognised record"), "{}", out.bad[0].reason);
            }
            _ => {}
        }
    }
}

#[test]
fn generators_produce_what_they_claim() {
    // Sanity checks for hand-rolled pieces of the generators, independent of proptest.
    assert_eq!(spell("log-status", 3), "LogStatus");
    assert_eq!(spell("interface-id", 2), "${interface-id}");
    assert!(looks_like_container(json!({"@odata.context": "x", "value": []}).as_object().unwrap()));
    assert!(!looks_like_container(json!({"a": 1, "value": []}).as_object().unwrap()));
    let mut m = Map::new();
    m.insert(String::new(), Value::Null);
    m.extend(json!({"@odata.context": "x", "Value": []}).as_object().unwrap().clone());
    assert!(!looks_like_container(&m));
}
