//! The collection: sources × scopes × time windows, run by a bounded pool of threads, with
//! adaptive window splitting, resume from a checkpoint, and a completeness record per window.
//!
//! # Tasks and threads
//!
//! A task is one source in one scope: a Graph source in the tenant, the Activity Log or the
//! network configuration of one subscription. `concurrency` threads take tasks from one queue,
//! Graph first (its retention is the shortest), then the Activity Log, then the network. A task
//! walks its windows oldest first — the oldest data is the closest to leaving retention — one at
//! a time. All Graph tasks share the tenant's reports [`Limiter`] (5 requests / 10 s), all ARM
//! tasks the ARM limiter, so more threads never mean more than the API allows.
//!
//! # Windows
//!
//! `[since, until)` minus the windows already in the checkpoint leaves gaps; each gap is cut at
//! multiples of the window length since the Unix epoch (day windows start at midnight UTC), so
//! reruns cut the same windows. `until` later than now is clamped to now: a window that ends in
//! the future would be recorded complete while records still arrive. (Entra and the Activity
//! Log also deliver late — minutes to hours; a window collected minutes after its end is
//! complete *as of `collected_at`*, which every record states.)
//!
//! # Adaptive splitting
//!
//! A window is too dense when it needs more than `max_pages_per_window` pages, or when pages
//! keep timing out or answering 504 (`slow_split_after` times), or the service says the result
//! is too large. Its partial file is discarded, a `split` record is written, and its two halves
//! (split on a whole second) are collected in its place, recursively, down to `min_window`,
//! where the page limit no longer applies and retries run to the full budget. The task then
//! continues with the smaller window length, doubling it back (up to the default) after each
//! sparse window (a quarter of the page limit or less), so one busy hour does not cost a month
//! of one-minute windows.
//!
//! # Failures
//!
//! A 403 (missing permission, or a Free tenant's
//! `Authentication_RequestFromNonPremiumTenantOrB2CTenant`), 404, 409 or 400 stops that task
//! only: its window is recorded `forbidden` or `not_available` with the service's code and
//! message, and the rest of its range is recorded once with the same status; the other sources
//! go on. Other failures (retries exhausted) are recorded `failed` and the task moves to its
//! next window; after three consecutive failures the task stops. An I/O error on the output
//! directory stops the whole collection: nothing can be recorded any more.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::{Audience, Credentials, Endpoints};
use crate::http::{CallStats, Client, Get, HttpConfig, HttpError};
use crate::output::{self, Checkpoint, DoneWindow, Framing, WindowWriter};
use crate::page::{one_line, split_page, RecordKeys};
use crate::ratelimit::{Limiter, LimiterStats, Rate};
use crate::source::{parse_record_time, GraphVersion, QueryTemplate, Source, NETWORK_TYPES, SUBSCRIPTIONS_API};

/// Everything a collection needs besides credentials and the output directory.
#[derive(Clone, Debug)]
pub struct CollectOptions {
    /// Tenant id or domain (names the Graph scope; else the credential's tenant, else `tenant`).
    pub tenant: Option<String>,
    /// Start of the collected range (inclusive).
    pub since: DateTime<Utc>,
    /// End of the collected range (exclusive); clamped to now.
    pub until: DateTime<Utc>,
    /// Sources to collect.
    pub sources: Vec<Source>,
    /// Subscriptions (ids) for the Activity Log and the network; `None`: every subscription
    /// the identity can see.
    pub subscriptions: Option<Vec<String>>,
    /// Service endpoints.
    pub endpoints: Endpoints,
    /// Graph version for the sources that do not require beta.
    pub graph_version: GraphVersion,
    /// Graph identity and access reports limit, per tenant (`None`: unlimited).
    pub graph_rate: Option<Rate>,
    /// Safety margin added to the Graph window (see [`crate::ratelimit`]).
    pub graph_rate_margin: Duration,
    /// ARM read limit (`None`: unlimited).
    pub arm_rate: Option<Rate>,
    /// Threads.
    pub concurrency: usize,
    /// Activity Log window length.
    pub activity_window: Duration,
    /// Graph window length.
    pub graph_window: Duration,
    /// Pages beyond which a window is split.
    pub max_pages_per_window: u32,
    /// Shortest window (no split below; whole seconds).
    pub min_window: Duration,
    /// Timeouts or 504s on one page before its window is split.
    pub slow_split_after: u32,
    /// HTTP timeouts and retries.
    pub http: HttpConfig,
    /// Set to stop the collection (SIGINT): current windows are abandoned, the checkpoint kept.
    pub cancel: Arc<AtomicBool>,
    /// Ask no source for data older than the service keeps ([`Source::retention_days`], counted
    /// back from the start of the run): the older part of `[since, until)` is recorded once as
    /// `expired` instead of costing one empty request per window (Entra sign-ins alone: 30
    /// days × 4 kinds of empty day windows under a 5-per-10-s limit).
    pub skip_beyond_retention: bool,
}

impl CollectOptions {
    /// Defaults for `[since, until)`: every source, 4 threads, day windows, 50 pages per window,
    /// 1-minute minimum, Graph 5 / 10 s, ARM 200 / min.
    pub fn new(since: DateTime<Utc>, until: DateTime<Utc>) -> CollectOptions {
        CollectOptions {
            tenant: None,
            since,
            until,
            sources: Source::ALL.to_vec(),
            subscriptions: None,
            endpoints: Endpoints::public(),
            graph_version: GraphVersion::default(),
            graph_rate: Some(Rate::graph_reports()),
            graph_rate_margin: Duration::from_millis(250),
            arm_rate: Some(Rate::arm_reads()),
            concurrency: 4,
            activity_window: Duration::from_secs(86_400),
            graph_window: Duration::from_secs(86_400),
            max_pages_per_window: 50,
            min_window: Duration::from_secs(60),
            slow_split_after: 2,
            http: HttpConfig::default(),
            cancel: Arc::new(AtomicBool::new(false)),
            skip_beyond_retention: false,
        }
    }

    /// The first instant asked of `source` when the run starts at `now`.
    pub fn since_for(&self, source: Source, now: DateTime<Utc>) -> DateTime<Utc> {
        match source.retention_days().filter(|_| self.skip_beyond_retention) {
            Some(days) => self.since.max(now - chrono::Duration::days(i64::from(days))),
            None => self.since,
        }
    }

    fn window_len(&self, s: Source) -> Duration {
        let w = if s == Source::Activity { self.activity_window } else { self.graph_window };
        whole_seconds(w.max(self.min_window))
    }

    fn validate(&self) -> Result<(), CollectError> {
        if self.since >= self.until {
            return Err(CollectError::Options(format!(
                "--since ({}) must be before --until ({})",
                self.since.to_rfc3339(),
                self.until.to_rfc3339()
            )));
        }
        if self.sources.is_empty() {
            return Err(CollectError::Options("no source selected".into()));
        }
        if self.min_window < Duration::from_secs(1) {
            return Err(CollectError::Options("the minimum window is at least one second".into()));
        }
        if self.max_pages_per_window == 0 {
            return Err(CollectError::Options("max pages per window must be at least 1".into()));
        }
        if let Some(subs) = &self.subscriptions {
            for s in subs {
                if s.is_empty() || !s.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                    return Err(CollectError::Options(format!("{s:?} is not a subscription id")));
                }
            }
        }
        Ok(())
    }
}

/// A window's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowStatus {
    /// Every page read; the file (if any records) landed.
    Complete,
    /// Too dense: discarded and replaced by its two halves (records of their own).
    Split,
    /// Retries exhausted or the answer was unusable.
    Failed,
    /// 403: missing permission or licence.
    Forbidden,
    /// 400/404/409: the API or query is not available here.
    NotAvailable,
    /// Cancelled while collecting; redone by the next run.
    Interrupted,
    /// Older than the service keeps: not asked (see [`CollectOptions::skip_beyond_retention`]).
    Expired,
}

impl WindowStatus {
    /// The name in records.
    pub fn as_str(self) -> &'static str {
        match self {
            WindowStatus::Complete => "complete",
            WindowStatus::Split => "split",
            WindowStatus::Failed => "failed",
            WindowStatus::Forbidden => "forbidden",
            WindowStatus::NotAvailable => "not_available",
            WindowStatus::Interrupted => "interrupted",
            WindowStatus::Expired => "expired",
        }
    }
}

/// The completeness record of one window (or one network list): what was asked, what came
/// back. Appended to `OUT/completeness.jsonl` and given to [`Sink::window`]. Holds no secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowRecord {
    /// Source.
    pub source: Source,
    /// Subscription id, or the tenant for Graph.
    pub scope: String,
    /// Network list (`virtualNetworks`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// Query template (`{start}`/`{end}` placeholders).
    pub query: String,
    /// Requested start (inclusive).
    pub start: Option<DateTime<Utc>>,
    /// Requested end (exclusive).
    pub end: Option<DateTime<Utc>>,
    /// Outcome.
    pub status: WindowStatus,
    /// Pages read.
    pub pages: u64,
    /// Records kept (written).
    pub records: u64,
    /// HTTP requests (retries included).
    pub requests: u64,
    /// Retries.
    pub retries: u64,
    /// 429 answers.
    pub throttled: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// Records dropped as duplicates of an id already in the window.
    pub duplicates: u64,
    /// Records dropped because their time lies outside the window (boundary overlap).
    pub outside: u64,
    /// Records kept whose time could not be read.
    pub unplaced: u64,
    /// The file, relative to the output directory.
    pub file: Option<String>,
    /// SHA-256 of the file.
    pub sha256: Option<String>,
    /// HTTP status of the failure.
    pub http_status: Option<u16>,
    /// The service's error code.
    pub error_code: Option<String>,
    /// Why the window is not complete.
    pub reason: Option<String>,
    /// Where a split window was cut.
    pub split_at: Option<DateTime<Utc>>,
    /// When this outcome was recorded.
    pub collected_at: DateTime<Utc>,
}

/// A file under its final name, for custody and ingest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LandedFile {
    /// Absolute (or output-relative, if the output directory was relative) path.
    pub path: PathBuf,
    /// Path relative to the output directory.
    pub relative: String,
    /// Source.
    pub source: Source,
    /// Subscription or tenant.
    pub scope: String,
    /// Network list name.
    pub item: Option<String>,
    /// Window start.
    pub start: Option<DateTime<Utc>>,
    /// Window end.
    pub end: Option<DateTime<Utc>>,
    /// Records.
    pub records: u64,
    /// Bytes.
    pub bytes: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// True when an earlier run landed it (reported again on resume).
    pub resumed: bool,
}

/// Where a collection reports. Called from worker threads; needs no terminal.
pub trait Sink: Sync {
    /// A file landed (after its rename and checkpoint).
    fn landed(&self, file: &LandedFile);
    /// A window's outcome.
    fn window(&self, rec: &WindowRecord);
    /// Progress within a window: records and pages so far.
    fn progress(&self, _source: Source, _scope: &str, _records: u64, _pages: u64) {}
    /// Something the analyst should know.
    fn warn(&self, _msg: &str) {}
}

/// A sink that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl Sink for NullSink {
    fn landed(&self, _: &LandedFile) {}
    fn window(&self, _: &WindowRecord) {}
}

/// Totals of one source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SourceTotals {
    /// Source.
    pub source: Option<Source>,
    /// Window outcomes recorded (splits included).
    pub windows: u64,
    /// Complete windows (this run).
    pub complete: u64,
    /// Windows skipped because an earlier run completed them.
    pub resumed: u64,
    /// Split windows.
    pub split: u64,
    /// Failed windows.
    pub failed: u64,
    /// Forbidden windows.
    pub forbidden: u64,
    /// Unavailable windows.
    pub not_available: u64,
    /// Records written (this run).
    pub records: u64,
    /// Pages read.
    pub pages: u64,
    /// HTTP requests.
    pub requests: u64,
    /// Retries.
    pub retries: u64,
    /// 429 answers.
    pub throttled: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Files landed (this run).
    pub files: u64,
}

/// What a collection did.
#[derive(Clone, Debug, Serialize)]
pub struct CollectReport {
    /// Start of the run.
    pub started: DateTime<Utc>,
    /// Wall time.
    #[serde(with = "crate::ratelimit::duration_ms")]
    pub duration: Duration,
    /// The effective `until` (clamped to the start of the run).
    pub until: DateTime<Utc>,
    /// Subscriptions collected.
    pub subscriptions: Vec<String>,
    /// Per source.
    pub sources: Vec<SourceTotals>,
    /// Records written.
    pub records: u64,
    /// HTTP requests.
    pub requests: u64,
    /// Retries.
    pub retries: u64,
    /// 429 answers.
    pub throttled: u64,
    /// Files landed.
    pub files: u64,
    /// Every record that is not `complete` or `split`.
    pub failures: Vec<WindowRecord>,
    /// Stale `.partial` files deleted at the start.
    pub removed_partials: Vec<String>,
    /// True when the cancel flag stopped the run.
    pub interrupted: bool,
    /// The Graph limiter.
    pub graph_limiter: LimiterStats,
    /// The ARM limiter.
    pub arm_limiter: LimiterStats,
}

/// An error that stops the whole collection (a source failing does not: see the record).
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// Invalid options.
    #[error("{0}")]
    Options(String),
    /// The output directory cannot be written.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The checkpoint cannot be read.
    #[error("{0}")]
    Checkpoint(String),
    /// Another collection holds the output folder's lock.
    #[error(
        "{}: another `azir collect` is writing to this folder (it holds {}); wait for it to end or collect into another folder",
        .0.display(),
        output::LOCK_FILE
    )]
    Busy(PathBuf),
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> CollectError + '_ {
    move |e| CollectError::Io { path: path.to_path_buf(), message: e.to_string() }
}

/// What `--dry-run` shows: the calls a collection would make.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// Subscriptions (listed or given).
    pub subscriptions: Vec<String>,
    /// One entry per source and scope.
    pub entries: Vec<PlanEntry>,
    /// Problems found while planning (a subscription list refused…).
    pub warnings: Vec<String>,
    /// Least time the Graph requests need under the reports limit, in seconds.
    pub graph_min_seconds: f64,
    /// The effective `until`.
    pub until: DateTime<Utc>,
}

/// The calls of one source in one scope.
#[derive(Clone, Debug, Serialize)]
pub struct PlanEntry {
    /// Source.
    pub source: Source,
    /// Subscription or tenant.
    pub scope: String,
    /// Query template.
    pub query: String,
    /// Windows (or network lists) still to collect.
    pub windows: u64,
    /// Windows already complete in the checkpoint.
    pub done: u64,
    /// Fewest requests: one per window (dense windows need more pages).
    pub min_requests: u64,
}

#[derive(Clone, Debug)]
enum Task {
    Windowed { source: Source, scope: String },
    Network { subscription: String },
}

/// Plans a collection: lists subscriptions when needed, reads the checkpoint in `out` if given,
/// and counts windows and requests. Makes no other call.
pub fn plan(opts: &CollectOptions, creds: Arc<Credentials>, out: Option<&Path>) -> Result<Plan, CollectError> {
    opts.validate()?;
    let until = opts.until.min(Utc::now());
    let checkpoint = match out {
        Some(o) => Checkpoint::load(o).map_err(CollectError::Checkpoint)?,
        None => Checkpoint::default(),
    };
    let cancel = opts.cancel.clone();
    let client = Client::new(creds.clone(), opts.http.clone(), cancel);
    let arm_limiter = Limiter::new("ARM", opts.arm_rate);
    let mut warnings = Vec::new();
    let subscriptions = if opts.sources.iter().any(|s| !s.is_graph()) {
        match subscriptions(opts, &client, &arm_limiter, &mut CallStats::default()) {
            Ok(s) => s,
            Err(e) => {
                warnings.push(format!("listing subscriptions: {e}"));
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let tenant = graph_scope(opts, &creds);
    let mut entries = Vec::new();
    let mut graph_requests = 0u64;
    for task in tasks(opts, &subscriptions, &tenant) {
        match task {
            Task::Windowed { source, scope } => {
                let Some(t) = template(opts, source, &scope) else { continue };
                let query = t.text();
                let done: Vec<(DateTime<Utc>, DateTime<Utc>)> =
                    checkpoint.windows(source, &scope, &query).filter_map(|d| Some((d.start?, d.end?))).collect();
                let since = opts.since_for(source, Utc::now()).min(until);
                let todo = gaps(since, until, &done);
                let size = opts.window_len(source);
                let windows: u64 = todo.iter().map(|&(a, b)| count_windows(a, b, size)).sum();
                let done_n = count_done(&done, since, until);
                if source.is_graph() {
                    graph_requests += windows;
                }
                entries.push(PlanEntry { source, scope, query, windows, done: done_n, min_requests: windows });
            }
            Task::Network { subscription } => {
                let done = NETWORK_TYPES
                    .iter()
                    .filter(|nt| {
                        let q = network_template(opts, &subscription, nt).text();
                        let found = checkpoint
                            .windows(Source::Network, &subscription, &q)
                            .any(|d| d.item.as_deref() == Some(nt.name));
                        found
                    })
                    .count() as u64;
                let n = NETWORK_TYPES.len() as u64 - done;
                entries.push(PlanEntry {
                    source: Source::Network,
                    scope: subscription.clone(),
                    query: format!(
                        "{}/subscriptions/{subscription}/providers/{{type}}?api-version={{version}}",
                        opts.endpoints.arm.trim_end_matches('/')
                    ),
                    windows: n,
                    done,
                    min_requests: n,
                });
            }
        }
    }
    let graph_min_seconds = match opts.graph_rate {
        Some(r) if graph_requests > 0 => graph_requests as f64 / r.per_second(),
        _ => 0.0,
    };
    Ok(Plan { subscriptions, entries, warnings, graph_min_seconds, until })
}

fn count_done(done: &[(DateTime<Utc>, DateTime<Utc>)], since: DateTime<Utc>, until: DateTime<Utc>) -> u64 {
    done.iter().filter(|(a, b)| *a < until && *b > since).count() as u64
}

fn count_windows(a: DateTime<Utc>, b: DateTime<Utc>, size: Duration) -> u64 {
    let mut n = 0;
    let mut c = a;
    while c < b {
        c = align_next(c, size).min(b);
        n += 1;
    }
    n
}

/// The Graph scope name: the tenant given, else the credential's, else `tenant`.
fn graph_scope(opts: &CollectOptions, creds: &Credentials) -> String {
    opts.tenant.clone().or_else(|| creds.tenant()).unwrap_or_else(|| "tenant".into())
}

fn template(opts: &CollectOptions, source: Source, scope: &str) -> Option<QueryTemplate> {
    QueryTemplate::windowed(source, scope, &opts.endpoints.arm, &opts.endpoints.graph, opts.graph_version)
}

fn network_template(opts: &CollectOptions, sub: &str, nt: &crate::source::NetworkType) -> QueryTemplate {
    QueryTemplate::list(
        format!("{}/subscriptions/{sub}/providers/{}", opts.endpoints.arm.trim_end_matches('/'), nt.resource_type),
        nt.api_version,
    )
}

fn tasks(opts: &CollectOptions, subs: &[String], tenant: &str) -> Vec<Task> {
    let mut out = Vec::new();
    for s in Source::ALL {
        if !opts.sources.contains(&s) {
            continue;
        }
        match s {
            Source::Activity => {
                out.extend(subs.iter().map(|sub| Task::Windowed { source: s, scope: sub.clone() }));
            }
            Source::Network => out.extend(subs.iter().map(|sub| Task::Network { subscription: sub.clone() })),
            _ => out.push(Task::Windowed { source: s, scope: tenant.to_string() }),
        }
    }
    out
}

/// Subscriptions to collect: the given ones (lower-cased), else every one listed by ARM.
fn subscriptions(
    opts: &CollectOptions,
    client: &Client,
    limiter: &Limiter,
    stats: &mut CallStats,
) -> Result<Vec<String>, HttpError> {
    if let Some(s) = &opts.subscriptions {
        let mut v: Vec<String> = s.iter().map(|x| x.trim().to_ascii_lowercase()).collect();
        v.sort();
        v.dedup();
        return Ok(v);
    }
    let arm = opts.endpoints.arm.trim_end_matches('/');
    let mut url = format!("{arm}/subscriptions?api-version={SUBSCRIPTIONS_API}");
    let mut out = Vec::new();
    loop {
        let body = client.get(Get { url: &url, audience: Audience::Arm, limiter, slow_limit: None }, stats)?;
        let page = split_page(&body).map_err(|e| HttpError::Protocol(format!("subscription list: {e}")))?;
        for r in &page.records {
            #[derive(Deserialize)]
            struct Sub {
                #[serde(rename = "subscriptionId")]
                subscription_id: String,
            }
            if let Ok(s) = serde_json::from_slice::<Sub>(&body[r.clone()]) {
                if s.subscription_id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                    out.push(s.subscription_id.to_ascii_lowercase());
                }
            }
        }
        match page.next_link {
            Some(n) => {
                check_origin(&n, arm)?;
                url = n;
            }
            None => break,
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A next link must point at the service that sent it: it carries our bearer token.
fn check_origin(link: &str, base: &str) -> Result<(), HttpError> {
    let origin = |s: &str| url::Url::parse(s).ok().map(|u| u.origin());
    match (origin(link), origin(base)) {
        (Some(a), Some(b)) if a == b => Ok(()),
        _ => Err(HttpError::Protocol(format!(
            "the next page link points to another host ({}); not following it with our token",
            url::Url::parse(link).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_else(|| "?".into())
        ))),
    }
}

/// Pages of one window beyond which the service is assumed to loop.
const MAX_PAGES: u64 = 200_000;

/// A next link must move on: a link equal to the page's own URL, or an endless list, would
/// never end.
fn check_progress(next: &str, current: &str, pages: u64) -> Result<(), HttpError> {
    if next == current {
        return Err(HttpError::Protocol("the next page link repeats the current page".into()));
    }
    if pages >= MAX_PAGES {
        return Err(HttpError::Protocol(format!("more than {MAX_PAGES} pages: the list does not end")));
    }
    Ok(())
}

/// Collects into `out`, reporting to `sink`. See the module docs for what happens when.
pub fn collect(
    opts: &CollectOptions,
    creds: Arc<Credentials>,
    out: &Path,
    sink: &dyn Sink,
) -> Result<CollectReport, CollectError> {
    opts.validate()?;
    let t0 = Instant::now();
    let started = Utc::now();
    let until = opts.until.min(started);
    if until < opts.until {
        sink.warn(&format!(
            "--until {} is in the future: collecting up to now ({})",
            opts.until.to_rfc3339(),
            until.to_rfc3339()
        ));
    }
    if until <= opts.since {
        return Err(CollectError::Options("--since is in the future".into()));
    }
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    // Held until this function returns: no other run touches the folder meanwhile.
    let _lock = output::lock_out(out).map_err(io_err(out))?.ok_or_else(|| CollectError::Busy(out.to_path_buf()))?;
    let checkpoint = Checkpoint::load(out).map_err(CollectError::Checkpoint)?;
    let removed = output::remove_stale(out).map_err(io_err(out))?;
    let removed_partials: Vec<String> = removed.iter().map(|p| relative(out, p)).collect();
    if !removed_partials.is_empty() {
        sink.warn(&format!(
            "removed {} incomplete file(s) of an interrupted run; their windows are collected again",
            removed_partials.len()
        ));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let client = Client::new(creds.clone(), opts.http.clone(), stop.clone());
    let graph_limiter = Limiter::new("Graph reports", opts.graph_rate).with_margin(opts.graph_rate_margin);
    let arm_limiter = Limiter::new("ARM", opts.arm_rate);
    let ctx = Ctx {
        opts,
        out,
        until,
        started,
        client,
        graph_limiter,
        arm_limiter,
        sink,
        shared: Mutex::new(Shared { checkpoint, totals: BTreeMap::new(), failures: Vec::new(), fatal: None }),
        stop: stop.clone(),
    };

    let tenant = graph_scope(opts, &creds);
    let mut subs = Vec::new();
    let needs_arm = opts.sources.iter().any(|s| !s.is_graph());
    let mut sub_stats = CallStats::default();
    let done = AtomicBool::new(false);
    let queue: Mutex<VecDeque<Task>> = Mutex::new(VecDeque::new());
    std::thread::scope(|scope| {
        // Copy the caller's cancel flag into ours (ours is also set on fatal I/O errors).
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if opts.cancel.load(Ordering::Relaxed) {
                    stop.store(true, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        if needs_arm {
            match subscriptions(opts, &ctx.client, &ctx.arm_limiter, &mut sub_stats) {
                Ok(s) if s.is_empty() => {
                    sink.warn("no subscription is visible to this identity: the Activity Log and network are skipped");
                    for s in opts.sources.iter().filter(|s| !s.is_graph()) {
                        ctx.record(
                            base_record(
                                *s,
                                "subscriptions",
                                subscriptions_query(opts),
                                None,
                                None,
                                None,
                                WindowStatus::NotAvailable,
                            )
                            .with_reason("no subscription visible to this identity"),
                        );
                    }
                }
                Ok(s) => subs = s,
                Err(e) => {
                    sink.warn(&format!("listing subscriptions failed: {e}; the Activity Log and network are skipped"));
                    for s in opts.sources.iter().filter(|s| !s.is_graph()) {
                        let (status, _) = classify(&e);
                        let mut r =
                            base_record(*s, "subscriptions", subscriptions_query(opts), None, None, None, status);
                        r.apply_error(&e, &sub_stats);
                        ctx.record(r);
                    }
                }
            }
        }
        *lock_queue(&queue) = VecDeque::from(tasks(opts, &subs, &tenant));
        let workers: Vec<_> = (0..opts.concurrency.max(1))
            .map(|_| {
                scope.spawn(|| loop {
                    if ctx.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let task = lock_queue(&queue).pop_front();
                    match task {
                        Some(Task::Windowed { source, scope }) => ctx.run_windowed(source, &scope),
                        Some(Task::Network { subscription }) => ctx.run_network(&subscription),
                        None => break,
                    }
                })
            })
            .collect();
        for w in workers {
            if let Err(p) = w.join() {
                done.store(true, Ordering::Relaxed);
                std::panic::resume_unwind(p);
            }
        }
        done.store(true, Ordering::Relaxed);
    });

    let shared = ctx.shared.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = shared.fatal {
        return Err(e);
    }
    let mut sources: Vec<SourceTotals> = shared.totals.into_values().collect();
    if let Some(first) = sources.iter_mut().find(|t| t.source.is_some_and(|s| !s.is_graph())) {
        // The subscription listing is ARM work too.
        first.requests += sub_stats.requests;
        first.retries += sub_stats.retries;
        first.throttled += sub_stats.throttled;
    }
    let sum = |f: fn(&SourceTotals) -> u64| sources.iter().map(f).sum::<u64>();
    Ok(CollectReport {
        started,
        duration: t0.elapsed(),
        until,
        subscriptions: subs,
        records: sum(|t| t.records),
        requests: sum(|t| t.requests),
        retries: sum(|t| t.retries),
        throttled: sum(|t| t.throttled),
        files: sum(|t| t.files),
        sources,
        failures: shared.failures,
        removed_partials,
        interrupted: opts.cancel.load(Ordering::Relaxed),
        graph_limiter: ctx.graph_limiter.stats(),
        arm_limiter: ctx.arm_limiter.stats(),
    })
}

fn lock_queue(q: &Mutex<VecDeque<Task>>) -> std::sync::MutexGuard<'_, VecDeque<Task>> {
    q.lock().unwrap_or_else(|e| e.into_inner())
}

fn subscriptions_query(opts: &CollectOptions) -> String {
    format!("{}/subscriptions?api-version={SUBSCRIPTIONS_API}", opts.endpoints.arm.trim_end_matches('/'))
}

fn relative(out: &Path, p: &Path) -> String {
    p.strip_prefix(out).unwrap_or(p).to_string_lossy().replace('\\', "/")
}

struct Shared {
    checkpoint: Checkpoint,
    totals: BTreeMap<Source, SourceTotals>,
    failures: Vec<WindowRecord>,
    fatal: Option<CollectError>,
}

struct Ctx<'a> {
    opts: &'a CollectOptions,
    out: &'a Path,
    until: DateTime<Utc>,
    /// When the run started (retention is counted back from it).
    started: DateTime<Utc>,
    client: Client,
    graph_limiter: Limiter,
    arm_limiter: Limiter,
    sink: &'a dyn Sink,
    shared: Mutex<Shared>,
    stop: Arc<AtomicBool>,
}

/// How a task goes on after a window.
enum Flow {
    Continue,
    /// The window failed for a passing reason: the task goes on (up to three in a row).
    Failed(Stop),
    /// The task stops: the rest of its range is recorded with this status.
    Stop(Stop),
    Cancelled,
}

/// Why and from where a task's range is not (or no longer) collected.
#[derive(Clone)]
struct Stop {
    status: WindowStatus,
    reason: String,
    http_status: Option<u16>,
    code: Option<String>,
    /// The first instant not attempted.
    from: DateTime<Utc>,
}

/// The fixed parts of a windowed task.
struct WinTask<'a> {
    source: Source,
    scope: &'a str,
    tmpl: &'a QueryTemplate,
    query: &'a str,
    default_len: Duration,
}

/// One window's fetch.
enum Fetched {
    Complete(Counts, Option<output::Finished>),
    Dense(Counts, String),
    Failed(Counts, HttpError),
}

#[derive(Default, Clone, Copy)]
struct Counts {
    stats: CallStats,
    pages: u64,
    records: u64,
    duplicates: u64,
    outside: u64,
    unplaced: u64,
}

fn base_record(
    source: Source,
    scope: &str,
    query: String,
    item: Option<String>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    status: WindowStatus,
) -> WindowRecord {
    WindowRecord {
        source,
        scope: scope.to_string(),
        item,
        query,
        start,
        end,
        status,
        pages: 0,
        records: 0,
        requests: 0,
        retries: 0,
        throttled: 0,
        bytes: 0,
        duplicates: 0,
        outside: 0,
        unplaced: 0,
        file: None,
        sha256: None,
        http_status: None,
        error_code: None,
        reason: None,
        split_at: None,
        collected_at: Utc::now(),
    }
}

impl WindowRecord {
    fn with_reason(mut self, r: impl Into<String>) -> WindowRecord {
        self.reason = Some(r.into());
        self
    }

    fn with_counts(mut self, c: &Counts) -> WindowRecord {
        self.pages = c.pages;
        self.records = c.records;
        self.requests = c.stats.requests;
        self.retries = c.stats.retries;
        self.throttled = c.stats.throttled;
        self.duplicates = c.duplicates;
        self.outside = c.outside;
        self.unplaced = c.unplaced;
        self
    }

    fn apply_error(&mut self, e: &HttpError, stats: &CallStats) {
        self.http_status = e.status();
        self.error_code = e.code().map(str::to_string);
        self.reason = Some(e.to_string());
        self.requests = stats.requests;
        self.retries = stats.retries;
        self.throttled = stats.throttled;
    }
}

/// The status of a failed window and whether its task stops.
fn classify(e: &HttpError) -> (WindowStatus, bool) {
    match e {
        HttpError::Cancelled => (WindowStatus::Interrupted, true),
        HttpError::Status { status: 403, .. } => (WindowStatus::Forbidden, true),
        HttpError::Status { status: 400 | 404 | 405 | 409 | 501, .. } => (WindowStatus::NotAvailable, true),
        HttpError::Status { status: 401, .. } | HttpError::Auth(_) => (WindowStatus::Failed, true),
        _ => (WindowStatus::Failed, false),
    }
}

/// True when the error says the query is too heavy for the window (split it).
fn too_dense(e: &HttpError) -> bool {
    match e {
        HttpError::TooSlow { .. } => true,
        HttpError::Status { message, code, .. } => {
            let t = format!("{} {}", code.as_deref().unwrap_or(""), message).to_ascii_lowercase();
            ["too many results", "too large", "toolarge", "result set", "timeout", "timed out", "too many records"]
                .iter()
                .any(|k| t.contains(k))
        }
        _ => false,
    }
}

impl Ctx<'_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fatal(&self, e: CollectError) {
        let mut sh = self.lock();
        if sh.fatal.is_none() {
            sh.fatal = Some(e);
        }
        self.stop.store(true, Ordering::Relaxed);
    }

    fn cancelled(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Records an outcome: totals, failures, completeness log, sink.
    fn record(&self, rec: WindowRecord) {
        let line = match serde_json::to_vec(&rec) {
            Ok(l) => l,
            Err(e) => return self.fatal(CollectError::Io { path: self.out.to_path_buf(), message: e.to_string() }),
        };
        {
            let mut sh = self.lock();
            let t = sh
                .totals
                .entry(rec.source)
                .or_insert_with(|| SourceTotals { source: Some(rec.source), ..Default::default() });
            t.windows += 1;
            match rec.status {
                WindowStatus::Complete => t.complete += 1,
                WindowStatus::Split => t.split += 1,
                WindowStatus::Failed => t.failed += 1,
                WindowStatus::Forbidden => t.forbidden += 1,
                WindowStatus::NotAvailable => t.not_available += 1,
                WindowStatus::Interrupted | WindowStatus::Expired => {}
            }
            t.pages += rec.pages;
            t.requests += rec.requests;
            t.retries += rec.retries;
            t.throttled += rec.throttled;
            if rec.status == WindowStatus::Complete {
                t.records += rec.records;
                t.bytes += rec.bytes;
                t.files += u64::from(rec.file.is_some());
            }
            if !matches!(rec.status, WindowStatus::Complete | WindowStatus::Split | WindowStatus::Expired) {
                sh.failures.push(rec.clone());
            }
            let path = self.out.join(output::COMPLETENESS_FILE);
            if let Err(e) = output::append_line(&path, &line) {
                drop(sh);
                return self.fatal(CollectError::Io { path, message: e.to_string() });
            }
        }
        self.sink.window(&rec);
    }

    fn limiter(&self, source: Source) -> (&Limiter, Audience) {
        if source.is_graph() {
            (&self.graph_limiter, Audience::Graph)
        } else {
            (&self.arm_limiter, Audience::Arm)
        }
    }

    fn base_of(&self, source: Source) -> &str {
        if source.is_graph() {
            &self.opts.endpoints.graph
        } else {
            &self.opts.endpoints.arm
        }
    }

    /// Checkpointed windows of this task whose file is still there, re-reported to the sink.
    fn resume(&self, source: Source, scope: &str, query: &str, item: Option<&str>) -> Vec<DoneWindow> {
        let done: Vec<DoneWindow> = {
            let sh = self.lock();
            sh.checkpoint.windows(source, scope, query).filter(|d| d.item.as_deref() == item).cloned().collect()
        };
        let mut kept = Vec::new();
        for d in done {
            if let (Some(f), Some(sha)) = (&d.file, &d.sha256) {
                let path = self.out.join(f);
                if !path.is_file() {
                    self.sink.warn(&format!("{f} is listed in the checkpoint but missing: collecting it again"));
                    // Forget the window (saved with the next completed one), so its file name is free.
                    self.lock().checkpoint.done.retain(|x| x != &d);
                    continue;
                }
                self.sink.landed(&LandedFile {
                    path,
                    relative: f.clone(),
                    source,
                    scope: scope.to_string(),
                    item: d.item.clone(),
                    start: d.start,
                    end: d.end,
                    records: d.records,
                    bytes: d.bytes,
                    sha256: sha.clone(),
                    resumed: true,
                });
            }
            kept.push(d);
        }
        if !kept.is_empty() {
            let mut sh = self.lock();
            let t =
                sh.totals.entry(source).or_insert_with(|| SourceTotals { source: Some(source), ..Default::default() });
            t.resumed += kept.len() as u64;
        }
        kept
    }

    fn run_windowed(&self, source: Source, scope: &str) {
        let Some(tmpl) = template(self.opts, source, scope) else { return };
        let query = tmpl.text();
        let done = self.resume(source, scope, &query, None);
        let intervals: Vec<(DateTime<Utc>, DateTime<Utc>)> =
            done.iter().filter_map(|d| Some((d.start?, d.end?))).collect();
        let default_len = self.opts.window_len(source);
        let mut len = default_len;
        let mut failures_in_row = 0u32;
        let since = self.opts.since_for(source, self.started).min(self.until);
        if since > self.opts.since {
            let days = source.retention_days().unwrap_or_default();
            self.record(
                base_record(
                    source,
                    scope,
                    query.clone(),
                    None,
                    Some(self.opts.since),
                    Some(since),
                    WindowStatus::Expired,
                )
                .with_reason(format!("older than the {days} days the service keeps: not asked")),
            );
        }
        let todo = gaps(since, self.until, &intervals);
        let w = WinTask { source, scope, tmpl: &tmpl, query: &query, default_len };
        for (gi, &(gap_start, gap_end)) in todo.iter().enumerate() {
            let mut cursor = gap_start;
            while cursor < gap_end {
                if self.cancelled() {
                    return;
                }
                let end = align_next(cursor, len).min(gap_end);
                let stop = match self.window(&w, cursor, end, &mut len) {
                    Flow::Continue => {
                        failures_in_row = 0;
                        None
                    }
                    Flow::Cancelled => return,
                    Flow::Failed(stop) => {
                        failures_in_row += 1;
                        (failures_in_row >= 3).then(|| Stop {
                            reason: format!("three windows in a row failed, the last: {}", stop.reason),
                            from: end,
                            ..stop
                        })
                    }
                    Flow::Stop(stop) => Some(stop),
                };
                if let Some(stop) = stop {
                    // Record once what will not be attempted: the rest of this gap and later gaps.
                    let mut rest = vec![(stop.from, gap_end)];
                    rest.extend(todo[gi + 1..].iter().copied());
                    for (a, b) in rest.into_iter().filter(|(a, b)| a < b) {
                        let mut r = base_record(source, scope, query.clone(), None, Some(a), Some(b), stop.status)
                            .with_reason(format!("not attempted: {}", stop.reason));
                        r.http_status = stop.http_status;
                        r.error_code = stop.code.clone();
                        self.record(r);
                    }
                    return;
                }
                cursor = end;
            }
        }
    }

    /// Collects one window, splitting it when too dense.
    fn window(&self, w: &WinTask<'_>, start: DateTime<Utc>, end: DateTime<Utc>, len: &mut Duration) -> Flow {
        let min = self.opts.min_window;
        let span = (end - start).to_std().unwrap_or_default();
        let can_split = span >= min * 2;
        let page_limit = can_split.then_some(self.opts.max_pages_per_window);
        let slow_limit = can_split.then_some(self.opts.slow_split_after.max(1));
        let rel = self.window_file(w.source, w.scope, start, end);
        let record = |status| base_record(w.source, w.scope, w.query.to_string(), None, Some(start), Some(end), status);
        let split = |mut r: WindowRecord, len: &mut Duration| {
            let mid = split_point(start, end);
            r.records = 0;
            r.split_at = Some(mid);
            self.record(r);
            *len = (*len).min(whole_seconds((mid - start).to_std().unwrap_or(min).max(min)));
            let left = self.window(w, start, mid, len);
            if matches!(left, Flow::Cancelled | Flow::Stop(_)) {
                return left;
            }
            match self.window(w, mid, end, len) {
                Flow::Continue => left,
                right => right,
            }
        };
        match self.fetch(w, start, end, &rel, page_limit, slow_limit) {
            Fetched::Complete(c, finished) => {
                self.land(w.source, w.scope, w.query, None, Some(start), Some(end), &c, finished, &rel);
                if c.pages * 4 <= u64::from(self.opts.max_pages_per_window) && *len < w.default_len {
                    *len = whole_seconds((*len * 2).min(w.default_len));
                }
                if !can_split && c.pages > u64::from(self.opts.max_pages_per_window) {
                    self.sink.warn(&format!(
                        "{} {}: {} pages in one minimum-size window ({} to {})",
                        w.source,
                        w.scope,
                        c.pages,
                        start.to_rfc3339(),
                        end.to_rfc3339()
                    ));
                }
                Flow::Continue
            }
            Fetched::Dense(c, reason) => split(record(WindowStatus::Split).with_counts(&c).with_reason(reason), len),
            Fetched::Failed(c, e) if can_split && too_dense(&e) => {
                let mut r = record(WindowStatus::Split).with_counts(&c);
                r.apply_error(&e, &c.stats);
                split(r, len)
            }
            Fetched::Failed(c, e) => {
                let (status, stop) = classify(&e);
                let mut r = record(status).with_counts(&c);
                r.records = 0;
                r.apply_error(&e, &c.stats);
                self.record(r);
                let s = Stop {
                    status,
                    reason: e.to_string(),
                    http_status: e.status(),
                    code: e.code().map(str::to_string),
                    from: end,
                };
                match (status, stop) {
                    (WindowStatus::Interrupted, _) => Flow::Cancelled,
                    (_, true) => Flow::Stop(s),
                    _ => Flow::Failed(s),
                }
            }
        }
    }

    /// The relative file of a window, never one the checkpoint owns.
    fn window_file(&self, source: Source, scope: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
        let stem = format!(
            "{}/{}/{}_{}",
            source.as_str(),
            output::safe_name(scope),
            output::file_time(start),
            output::file_time(end)
        );
        self.free_name(&stem, "jsonl")
    }

    fn free_name(&self, stem: &str, ext: &str) -> String {
        let sh = self.lock();
        let mut name = format!("{stem}.{ext}");
        let mut n = 2;
        while sh.checkpoint.owns_file(&name) {
            name = format!("{stem}~{n}.{ext}");
            n += 1;
        }
        name
    }

    fn fetch(
        &self,
        w: &WinTask<'_>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        rel: &str,
        page_limit: Option<u32>,
        slow_limit: Option<u32>,
    ) -> Fetched {
        let (source, scope, tmpl) = (w.source, w.scope, w.tmpl);
        let mut c = Counts::default();
        let path = self.out.join(rel);
        let mut out = match WindowWriter::create(&path, Framing::JsonLines) {
            Ok(w) => w,
            Err(e) => {
                self.fatal(CollectError::Io { path: path.clone(), message: e.to_string() });
                return Fetched::Failed(c, HttpError::Cancelled);
            }
        };
        let (limiter, audience) = self.limiter(source);
        let field = source.time_field().unwrap_or("");
        let base = self.base_of(source);
        let mut seen: HashSet<String> = HashSet::new();
        let mut url = tmpl.url(start, end);
        loop {
            let body = match self.client.get(Get { url: &url, audience, limiter, slow_limit }, &mut c.stats) {
                Ok(b) => b,
                Err(e) => {
                    out.discard();
                    return Fetched::Failed(c, e);
                }
            };
            c.pages += 1;
            let page = match split_page(&body) {
                Ok(p) => p,
                Err(m) => {
                    out.discard();
                    return Fetched::Failed(c, HttpError::Protocol(format!("page {}: {m}", c.pages)));
                }
            };
            for r in &page.records {
                let bytes = &body[r.clone()];
                let keys = RecordKeys::of(bytes);
                match keys.time(field).and_then(parse_record_time) {
                    Some(t) if t >= end || (tmpl.trims_lower() && t < start) => {
                        c.outside += 1;
                        continue;
                    }
                    Some(_) => {}
                    None => c.unplaced += 1,
                }
                if let Some(id) = keys.identity() {
                    if !seen.insert(id) {
                        c.duplicates += 1;
                        continue;
                    }
                }
                if let Err(e) = out.record(&one_line(bytes)) {
                    self.fatal(CollectError::Io { path: path.clone(), message: e.to_string() });
                    out.discard();
                    return Fetched::Failed(c, HttpError::Cancelled);
                }
            }
            c.records = out.records();
            self.sink.progress(source, scope, c.records, c.pages);
            let Some(next) = page.next_link else { break };
            if let Err(e) = check_origin(&next, base).and_then(|()| check_progress(&next, &url, c.pages)) {
                out.discard();
                return Fetched::Failed(c, e);
            }
            if page_limit.is_some_and(|l| c.pages >= u64::from(l)) {
                out.discard();
                return Fetched::Dense(c, format!("more than {} pages", c.pages));
            }
            url = next;
        }
        match out.finish() {
            Ok(f) => Fetched::Complete(c, f),
            Err(e) => {
                self.fatal(CollectError::Io { path, message: e.to_string() });
                Fetched::Failed(c, HttpError::Cancelled)
            }
        }
    }

    /// A complete window or list: checkpoint, record, sink.
    #[allow(clippy::too_many_arguments)]
    fn land(
        &self,
        source: Source,
        scope: &str,
        query: &str,
        item: Option<String>,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        c: &Counts,
        finished: Option<output::Finished>,
        rel: &str,
    ) {
        let file = finished.as_ref().map(|_| rel.to_string());
        let done = DoneWindow {
            source,
            scope: scope.to_string(),
            query: query.to_string(),
            item: item.clone(),
            start,
            end,
            file: file.clone(),
            sha256: finished.as_ref().map(|f| f.sha256.clone()),
            records: c.records,
            bytes: finished.as_ref().map_or(0, |f| f.bytes),
        };
        {
            let mut sh = self.lock();
            sh.checkpoint.done.push(done);
            if let Err(e) = sh.checkpoint.save(self.out) {
                drop(sh);
                return self
                    .fatal(CollectError::Io { path: self.out.join(output::STATE_FILE), message: e.to_string() });
            }
        }
        let mut r = base_record(source, scope, query.to_string(), item.clone(), start, end, WindowStatus::Complete)
            .with_counts(c);
        r.file = file.clone();
        r.sha256 = finished.as_ref().map(|f| f.sha256.clone());
        r.bytes = finished.as_ref().map_or(0, |f| f.bytes);
        self.record(r);
        if let (Some(f), Some(fin)) = (file, finished) {
            self.sink.landed(&LandedFile {
                path: self.out.join(&f),
                relative: f,
                source,
                scope: scope.to_string(),
                item,
                start,
                end,
                records: c.records,
                bytes: fin.bytes,
                sha256: fin.sha256,
                resumed: false,
            });
        }
    }

    fn run_network(&self, sub: &str) {
        let (limiter, audience) = self.limiter(Source::Network);
        for nt in NETWORK_TYPES {
            if self.cancelled() {
                return;
            }
            let tmpl = network_template(self.opts, sub, nt);
            let query = tmpl.text();
            if !self.resume(Source::Network, sub, &query, Some(nt.name)).is_empty() {
                continue;
            }
            let rel = self.free_name(&format!("network/{}/{}", output::safe_name(sub), nt.name), "json");
            let path = self.out.join(&rel);
            let mut w = match WindowWriter::create(&path, Framing::ArmList) {
                Ok(w) => w,
                Err(e) => return self.fatal(CollectError::Io { path, message: e.to_string() }),
            };
            let mut c = Counts::default();
            let mut seen = HashSet::new();
            let mut url = tmpl.plain_url();
            let failed = loop {
                let body = match self.client.get(Get { url: &url, audience, limiter, slow_limit: None }, &mut c.stats) {
                    Ok(b) => b,
                    Err(e) => break Some(e),
                };
                c.pages += 1;
                let page = match split_page(&body) {
                    Ok(p) => p,
                    Err(m) => break Some(HttpError::Protocol(format!("page {}: {m}", c.pages))),
                };
                for r in &page.records {
                    let bytes = &body[r.clone()];
                    if let Some(id) = RecordKeys::of(bytes).identity() {
                        if !seen.insert(id.to_ascii_lowercase()) {
                            c.duplicates += 1;
                            continue;
                        }
                    }
                    if let Err(e) = w.record(&one_line(bytes)) {
                        w.discard();
                        return self.fatal(CollectError::Io { path, message: e.to_string() });
                    }
                }
                c.records = w.records();
                self.sink.progress(Source::Network, sub, c.records, c.pages);
                match page.next_link {
                    Some(n) => {
                        if let Err(e) =
                            check_origin(&n, &self.opts.endpoints.arm).and_then(|()| check_progress(&n, &url, c.pages))
                        {
                            break Some(e);
                        }
                        url = n;
                    }
                    None => break None,
                }
            };
            match failed {
                None => match w.finish() {
                    Ok(f) => {
                        self.land(Source::Network, sub, &query, Some(nt.name.to_string()), None, None, &c, f, &rel)
                    }
                    Err(e) => return self.fatal(CollectError::Io { path, message: e.to_string() }),
                },
                Some(e) => {
                    w.discard();
                    let (status, _) = classify(&e);
                    let mut r =
                        base_record(Source::Network, sub, query.clone(), Some(nt.name.to_string()), None, None, status)
                            .with_counts(&c);
                    r.records = 0;
                    r.apply_error(&e, &c.stats);
                    r.pages = c.pages;
                    self.record(r);
                    if status == WindowStatus::Interrupted || matches!(e, HttpError::Auth(_)) {
                        return;
                    }
                    // A refused or missing resource type does not stop the other types.
                }
            }
        }
    }
}

/// `d` rounded down to whole seconds (at least one).
fn whole_seconds(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs().max(1))
}

/// The first multiple of `len` since the Unix epoch strictly after `t`.
fn align_next(t: DateTime<Utc>, len: Duration) -> DateTime<Utc> {
    let step = len.as_millis().max(1000) as i64;
    let ms = t.timestamp_millis();
    let next = (ms.div_euclid(step) + 1) * step;
    DateTime::from_timestamp_millis(next).unwrap_or(t + chrono::Duration::milliseconds(step))
}

/// The middle of `[start, end)`, on a whole second strictly inside it when possible.
fn split_point(start: DateTime<Utc>, end: DateTime<Utc>) -> DateTime<Utc> {
    let mid = start + (end - start) / 2;
    let whole = DateTime::from_timestamp(mid.timestamp(), 0).unwrap_or(mid);
    if whole > start && whole < end {
        whole
    } else {
        mid
    }
}

/// `[since, until)` minus the `done` intervals, as sorted disjoint gaps.
fn gaps(
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    done: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut d: Vec<_> = done.iter().copied().filter(|(a, b)| a < b && *b > since && *a < until).collect();
    d.sort();
    let mut out = Vec::new();
    let mut cursor = since;
    for (a, b) in d {
        if a > cursor {
            out.push((cursor, a.min(until)));
        }
        cursor = cursor.max(b);
        if cursor >= until {
            break;
        }
    }
    if cursor < until {
        out.push((cursor, until));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, h, m, 0).unwrap()
    }

    #[test]
    fn gaps_subtract_done_windows() {
        assert_eq!(gaps(t(0, 0), t(10, 0), &[]), vec![(t(0, 0), t(10, 0))]);
        assert_eq!(
            gaps(t(0, 0), t(10, 0), &[(t(2, 0), t(3, 0)), (t(1, 0), t(2, 0)), (t(9, 0), t(11, 0))]),
            vec![(t(0, 0), t(1, 0)), (t(3, 0), t(9, 0))]
        );
        assert_eq!(gaps(t(1, 0), t(2, 0), &[(t(0, 0), t(5, 0))]), vec![]);
    }

    #[test]
    fn windows_align_on_their_length() {
        let day = Duration::from_secs(86_400);
        assert_eq!(align_next(t(5, 30), day), Utc.with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap());
        assert_eq!(align_next(t(0, 0), day), Utc.with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap());
        assert_eq!(align_next(t(0, 7), Duration::from_secs(600)), t(0, 10));
        assert_eq!(count_windows(t(5, 30), Utc.with_ymd_and_hms(2024, 5, 3, 1, 0, 0).unwrap(), day), 3);
    }

    #[test]
    fn split_points_are_whole_seconds() {
        assert_eq!(split_point(t(0, 0), t(1, 0)), t(0, 30));
        let s = split_point(t(0, 0), t(0, 0) + chrono::Duration::seconds(675));
        assert_eq!(s, t(0, 0) + chrono::Duration::seconds(337));
        let a = t(0, 0);
        let b = a + chrono::Duration::milliseconds(1500);
        let m = split_point(a, b);
        assert!(m > a && m < b);
    }

    #[test]
    fn error_classes() {
        let st = |status: u16, code: &str| HttpError::Status { status, code: Some(code.into()), message: "m".into() };
        assert_eq!(
            classify(&st(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant")),
            (WindowStatus::Forbidden, true)
        );
        assert_eq!(classify(&st(404, "NotFound")), (WindowStatus::NotAvailable, true));
        assert_eq!(classify(&st(500, "x")), (WindowStatus::Failed, false));
        assert!(too_dense(&HttpError::TooSlow { reason: "r".into(), count: 2 }));
        assert!(too_dense(&HttpError::Status {
            status: 400,
            code: Some("ResponseTooLarge".into()),
            message: "The response is too large".into()
        }));
        assert!(!too_dense(&st(400, "BadRequest")));
    }

    #[test]
    fn next_links_stay_on_the_service_and_move_on() {
        assert!(check_origin("https://graph.microsoft.com/beta/x?$skiptoken=1", "https://graph.microsoft.com").is_ok());
        assert!(check_origin("https://evil.example/beta/x", "https://graph.microsoft.com").is_err());
        assert!(check_origin("http://graph.microsoft.com/x", "https://graph.microsoft.com").is_err());
        assert!(check_origin("http://127.0.0.1:81/x", "http://127.0.0.1:80").is_err());
        assert!(check_progress("a", "a", 1).is_err());
        assert!(check_progress("b", "a", 1).is_ok());
    }

    #[test]
    fn options_are_checked() {
        let mut o = CollectOptions::new(t(1, 0), t(0, 0));
        assert!(o.validate().is_err());
        o.until = t(2, 0);
        assert!(o.validate().is_ok());
        o.subscriptions = Some(vec!["../x".into()]);
        assert!(o.validate().is_err());
    }
}
