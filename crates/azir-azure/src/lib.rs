//! Collection from live Azure: credentials, ARM, Microsoft Graph and Blob Storage clients with
//! paging, throttling and resume, and the completeness record of what was asked and returned.
//!
//! This crate knows nothing of the case store: it writes collected records to an output
//! directory and reports every landed file and every window's outcome to a sink; the CLI hashes
//! them into the custody log and ingests them.
//!
//! # Map
//!
//! - [`auth`]: credentials (client secret, certificate, managed identity, Azure CLI, workload
//!   identity, supplied tokens), written over `ureq` rather than `azure_identity` (why: there),
//!   tokens cached per audience and refreshed five minutes before expiry.
//! - [`http`]: the one blocking client — timeouts, retries with backoff and jitter,
//!   `Retry-After` in both forms, 401 refresh, typed errors with the service's code.
//! - [`ratelimit`]: "at most N starts in any window of W" limiters shared across threads
//!   (Graph reports 5 / 10 s per tenant; ARM reads), paused as a whole after a 429.
//! - [`source`]: the sources, their queries, and how a window becomes a filter without losing
//!   or duplicating a record on a boundary.
//! - [`page`]: list pages split into records kept byte for byte.
//! - [`output`]: window files (`.partial` → fsync → rename), the checkpoint, the completeness log.
//! - [`mod@collect`]: [`plan()`] and [`collect()`] — tasks, windows, adaptive splitting, resume, the
//!   [`WindowRecord`] of every window and the [`Sink`] the CLI implements.
//! - [`storage`]: diagnostic-setting containers on Blob Storage.
//! - `fake` (feature `fake`): a loopback fake of the token endpoint, IMDS, ARM and Graph with
//!   fault injection, for this crate's tests, the CLI's tests and the benchmark.
//!
//! Every error and record names what failed (source, scope, window, HTTP status, service error
//! code) and never a secret: secrets live in [`auth::Secret`], whose `Debug`/`Display` print
//! `***`, and service messages go through [`auth::redact`].

pub mod auth;
pub mod collect;
#[cfg(feature = "fake")]
pub mod fake;
pub mod http;
pub mod output;
pub mod page;
pub mod ratelimit;
pub mod source;
pub mod storage;

pub use auth::{Audience, Credential, Credentials, Endpoints, Secret, StaticTokens};
pub use collect::{
    collect, plan, CollectError, CollectOptions, CollectReport, LandedFile, NullSink, Plan, PlanEntry, Sink,
    SourceTotals, WindowRecord, WindowStatus,
};
pub use ratelimit::{Limiter, Rate};
pub use source::{GraphVersion, Source};
