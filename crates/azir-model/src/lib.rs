//! The vocabulary every azir crate shares: normalized events, network sessions, quarantined
//! records, provenance, and the time helpers that absorb Azure's many timestamp spellings.
//!
//! This crate does no IO and knows nothing of Arrow or HTTP. Column names follow Microsoft
//! Sentinel's ASIM schemas (Authentication, AuditEvent, NetworkSession, WebSession) because that
//! is the vocabulary Azure analysts already use; the mapping from Rust field to column name lives
//! in the store (`azir-store::schema`) and is documented on each field here.

pub mod event;
pub mod resource;
pub mod secret;
pub mod space;
pub mod time;
pub mod verdict;

pub use event::{BadRecord, Event, NetworkSession, Provenance};
pub use resource::Resource;
pub use time::{day_of, epoch_auto, format_micros, parse_time};
