//! Arbitrary bytes through the whole read path: the JSON splitter on its own, then
//! `reader::open` (JSON, CSV or VPC text, whatever the bytes sniff as) with its reader, each
//! chunk through the parse driver.
//!
//! Must hold for every input: no panic; the chunk loop ends (every call makes progress); every
//! span lies inside its chunk's buffer; offsets are in order and inside the input; JSON line
//! numbers count the newlines before the record; the splitter consumes every byte; the driver
//! counts one record per span; sessions carry canonical addresses and sane numbers.
#![no_main]

use azir_logs_fuzz::{read_any, split_json, Knobs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (knobs, input) = Knobs::take(data);
    let records = split_json(input, knobs);
    // A complete record is valid JSON or quarantined by the driver, never lost: the splitter
    // yields at most one record per byte (plus the end-of-container report).
    assert!(records.len() <= input.len() + 1);
    read_any(input, knobs);
});
