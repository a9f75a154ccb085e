//! # rsigma-peer — azir-detect next to another Sigma engine
//!
//! A standalone crate (outside the azir workspace: rsigma needs Rust 1.95 and edition 2024) that
//! puts azir-detect beside [rsigma](https://github.com/timescale/rsigma) (`rsigma-eval` 0.23):
//!
//! * **Differential test** (`tests/differential.rs`, run by `scripts/rsigma-diff`): every rule of
//!   the SigmaHQ cloud folder (plus azir's built-in pack and the synthetic modifier probes in
//!   `probes/`) is loaded in both engines; a deterministic generator ([`generate`]) derives
//!   alias-free events from the rules (positives, near-misses, noise); every event is decided by
//!   every rule in both engines ([`diff`]), without logsource routing, and the decisions must be
//!   identical unless a documented, per-event confirmed [`diff::Reason`] explains the difference.
//!   azir compiles with its alias layer off ([`load::literal_options`]), as a generic engine.
//! * **Benchmark** (`src/bin/bench.rs`, run by `bench/rsigma_vs_azir.sh`): events/s of both
//!   engines on the same events and rules, one thread and all threads.
//!
//! ## Running
//!
//! ```text
//! scripts/rsigma-diff                      # the differential test (reports in <target>/tmp/rsigma-diff-*.txt)
//! RSIGMA_DIFF_SEED=13 scripts/rsigma-diff  # another corpus
//! bench/rsigma_vs_azir.sh [EVENTS.jsonl] [--rounds N]
//! ```
//!
//! ## How decisions are compared
//!
//! Each rule is evaluated on its own in both engines, so logsource routing cannot interfere:
//! azir through `Detection::matches` on a `Doc` of an event whose `raw` is the JSON text, rsigma
//! through `evaluate_rule` on a `JsonEvent`. Correlation rules are excluded (counted). Both
//! engines' production paths are checked against those answers on every event too: rsigma's
//! `Engine::evaluate` (candidate index) and azir's `RuleSet::matching_routed` (literal
//! prefilter), the latter with the event under every source a rule routes to, with the alias
//! layer off and on.
//!
//! A difference is accepted only when a documented [`diff::Reason`] explains it on that very
//! event: the event (or rsigma's copy of the rule) is rewritten so the cause no longer applies,
//! the engine the cause does not concern must answer as before, and the engines must then agree.
//! Azure semantics azir has on purpose: keys case-insensitive, dotted keys at any depth, object
//! leaves, `null`/empty equivalence, numbers as text, keywords over numbers. One azir defect
//! (fieldref ASCII-only case folding) and four rsigma defects (numeric keywords, fieldref over
//! arrays, base64offset, wildcards and line breaks) are named as such. `probes/pinned.jsonl`
//! exercises every reason whatever the seed, and the test fails when a reason is no longer needed
//! (e.g. once a defect is fixed) as well as on any unexplained difference.

pub mod diff;
pub mod generate;
pub mod load;
pub mod rng;
pub mod shape;

use std::path::{Path, PathBuf};

/// The SigmaHQ cloud rules (`../shared/corpus/sigma/rules/cloud` beside the repository), or
/// `AZIR_SIGMA_CLOUD` when set.
pub fn sigma_cloud_dir() -> PathBuf {
    match std::env::var_os("AZIR_SIGMA_CLOUD") {
        Some(p) => PathBuf::from(p),
        None => here("../../../shared/corpus/sigma/rules/cloud"),
    }
}

/// azir's built-in pack (`rules/` of the repository).
pub fn pack_dir() -> PathBuf {
    here("../../rules")
}

/// The synthetic modifier probes of this crate.
pub fn probes_dir() -> PathBuf {
    here("probes")
}

/// `rel` from this crate's folder, canonical when it exists.
fn here(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    p.canonicalize().unwrap_or(p)
}
