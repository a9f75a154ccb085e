//! The case store: a directory of evidence manifest, custody log and Parquet tables, and the
//! parallel ingest that fills it.
//!
//! `azir-store` drives `azir-logs` (it calls the reader and parsers) but knows no log format:
//! it moves chunks between threads, writes record batches, and keeps the case consistent.

pub mod case;
pub mod findings;
pub mod flowscan;
pub mod ingest;
pub mod pivot;
pub mod query;
pub mod read;
pub mod remote;
pub mod schema;
pub mod udf;

pub use case::{Case, CaseInfo, CustodyEntry, ManifestEntry, StoreError, VerifyReport};
pub use ingest::{ingest, IngestOptions, IngestReport, Progress};
pub use schema::Table;
