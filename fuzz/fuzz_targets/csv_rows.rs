//! Arbitrary bytes as CSV: `reader::open` must pick CSV (a `c1,c2` header line is put in front
//! when the bytes alone do not sniff as CSV), and `CsvRows` must agree with the `csv` crate
//! reading the same bytes directly: one record per data row, at the row's first byte and line
//! (past the blank lines and CRLF remains the csv crate counts into its record positions),
//! each an object keyed by header (or `_colN`) with no empty values; oversized rows and rows
//! with invalid UTF-8 are defects, never dropped.
#![no_main]

use azir_logs::parsers::Payload;
use azir_logs_fuzz::{first_line, read_any, Knobs};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::io::BufReader;

fuzz_target!(|data: &[u8]| {
    let (mut knobs, input) = Knobs::take(data);
    // The sniffer reads the first line from the first buffer: give it the whole input.
    knobs.cap = input.len() + 3 + 6;
    let sniffs_csv = |b: &[u8]| {
        matches!(
            azir_logs::reader::open(BufReader::with_capacity(knobs.cap, b), knobs.max_record),
            Ok((Payload::Csv, _))
        )
    };
    let owned;
    let input = if sniffs_csv(input) {
        input
    } else {
        owned = [&b"c1,c2\n"[..], input].concat();
        if !sniffs_csv(&owned) {
            // NUL bytes in the first 512: refused as binary, which read_any checks.
            return;
        }
        &owned[..]
    };
    let Some((payload, got, _out)) = read_any(input, knobs) else { return };
    assert_eq!(payload, Payload::Csv);

    // The same bytes straight through the csv crate, with the delimiter the sniffer picks.
    let line = first_line(input);
    let delim = if line.contains('\t') && !line.contains(',') { b'\t' } else { b',' };
    let mut rdr = csv::ReaderBuilder::new().delimiter(delim).flexible(true).has_headers(false).from_reader(input);
    let mut rows = Vec::new();
    let mut headers: Vec<String> = Vec::new();
    for (i, rec) in rdr.byte_records().enumerate() {
        let rec = rec.expect("csv over a slice with flexible rows does not fail");
        if i == 0 {
            headers = rec
                .iter()
                .map(|h| {
                    let h = String::from_utf8_lossy(h);
                    let h = h.trim_start_matches('\u{feff}').trim();
                    h.strip_suffix(" [UTC]").unwrap_or(h).to_string()
                })
                .collect();
            continue;
        }
        // The csv crate places a record where it started looking for it: before the blank
        // lines it skipped and the `\n` of a CRLF. The record really starts after those.
        let mut byte = rec.position().expect("records carry positions").byte() as usize;
        while matches!(input.get(byte), Some(b'\r' | b'\n')) {
            byte += 1;
        }
        let line = 1 + input[..byte].iter().filter(|&&b| b == b'\n').count() as u64;
        rows.push((line, byte as u64, rec));
    }
    assert_eq!(got.len(), rows.len(), "one record per data row");
    for (r, (line, byte, rec)) in got.iter().zip(&rows) {
        assert_eq!(r.span.offset, *byte, "first byte of the row");
        assert_eq!(r.span.line, *line, "line of the row");
        if r.span.defect.is_some() {
            continue;
        }
        let v: Value = serde_json::from_slice(&r.bytes).expect("a CSV row becomes a JSON object");
        let m = v.as_object().expect("a CSV row becomes a JSON object");
        let non_empty = rec.iter().filter(|f| !f.is_empty()).count();
        assert!(m.len() <= non_empty, "more keys than non-empty cells");
        for (k, v) in m {
            let known = headers.contains(k) || k.strip_prefix("_col").is_some_and(|n| n.parse::<usize>().is_ok());
            assert!(known, "key {k:?} is neither a header nor a column number");
            assert!(!matches!(v, Value::String(s) if s.is_empty()), "empty cell kept");
        }
    }
});
