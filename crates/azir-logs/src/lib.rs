//! Reading Azure evidence: files, archives, format detection, record splitting, and one parser
//! per log source that normalizes records into `azir-model` events and network sessions.
//!
//! The crate is a pipeline of pure stages that the store drives:
//! `input` (walk, hash, decompress, archive members) → `reader` (sniff the payload, split into
//! chunks of records with provenance) → `parsers` (decode, classify, normalize). It never
//! writes anything and knows nothing of the case store. The core never fails on input: every
//! stage returns what it could read plus the defects it found, each naming its line.

pub mod detect;
pub mod input;
pub mod json;
pub mod parsers;
pub mod pcap;
pub mod reader;
pub mod split;

pub use detect::{classify, Kind, Shape};
pub use parsers::{parse_chunk, Output, Payload, StreamInfo};
pub use split::{Chunk, Container, Span};
