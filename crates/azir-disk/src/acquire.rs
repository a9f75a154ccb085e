//! Acquisition of a disk image from an Azure Storage SAS URL: a managed disk's or snapshot's
//! `beginGetAccess` URL, or a page or block blob in a storage account.
//!
//! How a run goes:
//! 1. `HEAD` the blob: size, blob type, ETag, Last-Modified, Content-MD5. Every later request
//!    carries `If-Match: <ETag>`, so a blob that changes under us fails loudly (412) instead of
//!    yielding an image stitched from two states.
//! 2. Page blobs: Get Page Ranges (`comp=pagelist`), paginated with `marker` and listed in
//!    windows of [`LIST_WINDOW`] bytes, because the service answers slowly (or times out) for a
//!    whole fragmented multi-TiB disk in one call. Block and append blobs are one data range.
//! 3. The data ranges are cut into pieces of at most `piece_size` bytes, one ranged GET each;
//!    ranges less than `merge_gap` apart share a piece (the clear pages between come back as
//!    zeros, which costs less than a second request). Clear pages outside the pieces are never
//!    requested: the output is a sparse file.
//! 4. `concurrency` workers fetch pieces and write them at their offset (`pwrite`); the main
//!    thread takes them **in order**, hashes the zeros before each piece and then the piece
//!    (MD5, SHA-1, SHA-256 on two threads: [`crate::hash::StreamHasher`]), so the image is
//!    never read back. Workers may run at most a window of pieces ahead of the hasher, which
//!    bounds memory to about `2 × concurrency × piece_size`.
//! 5. Retries: transport errors, 408/429/500/502/503/504 and short bodies are retried with
//!    exponential backoff and jitter (`Retry-After` honoured, capped at 60 s); 403 (SAS
//!    expired or revoked), 404 and 412 (blob changed) are not.
//! 6. Resume: the image is written to `OUT.part`; every 2 s (and on interruption, error or
//!    Ctrl-C) the part file is synced and `OUT.part.json` lists the pieces on disk. A rerun of
//!    the same command checks that the blob (size, ETag) and the piece plan are the same, and
//!    then fetches only the missing pieces; pieces already on disk are read back locally to
//!    feed the in-order hash. A SIGKILL loses at most the pieces written since the last
//!    checkpoint. On success the part file is synced and renamed to `OUT` and the checkpoint
//!    removed, so a file named `OUT` is always complete.
//! 7. Verification: the size written equals the blob's; Content-MD5 (when the blob has one)
//!    equals the computed MD5; a VHD footer in the last 512 bytes is checked (`conectix`,
//!    fixed type, current size = blob length − 512, checksum).
//!
//! The SAS signature is a secret: [`redact_sas`] replaces it wherever the URL is shown,
//! stored in the checkpoint, or returned in the report. Errors never include the URL.
//!
//! HTTP is `ureq` (blocking, rustls): the transfer is a few dozen long-lived ranged GETs on
//! worker threads, so an async runtime would add weight without adding throughput.

use crate::hash::{Hashes, StreamHasher};
use azir_model::secret::scrub_sig;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Storage REST API version sent with every request (`marker` on Get Page Ranges needs ≥ 2020-10-02).
pub const API_VERSION: &str = "2021-08-06";
/// Page ranges are listed in windows of this many bytes.
pub const LIST_WINDOW: u64 = 64 << 30;
const CHECKPOINT_FORMAT: &str = "azir-acquire-checkpoint/1";

/// Settings of an acquisition.
#[derive(Debug, Clone)]
pub struct AcquireOptions {
    /// Parallel ranged GETs.
    pub concurrency: usize,
    /// Largest piece in bytes (a multiple of 512).
    pub piece_size: u64,
    /// Data ranges closer than this are fetched in one request.
    pub merge_gap: u64,
    /// Attempts per request after the first.
    pub retries: u32,
    /// First backoff delay; doubles per attempt (with jitter), capped at 15 s.
    pub retry_base: Duration,
    /// Overwrite an existing output file.
    pub force: bool,
    /// Discard a checkpoint that does not match the blob instead of refusing to run.
    pub restart: bool,
    /// Read/connect timeout of one request.
    pub timeout: Duration,
    /// How often the part file is synced and the checkpoint rewritten.
    pub checkpoint_every: Duration,
}

impl Default for AcquireOptions {
    fn default() -> Self {
        AcquireOptions {
            concurrency: 8,
            piece_size: 4 << 20,
            merge_gap: 256 << 10,
            retries: 8,
            retry_base: Duration::from_millis(250),
            force: false,
            restart: false,
            timeout: Duration::from_secs(120),
            checkpoint_every: Duration::from_secs(2),
        }
    }
}

/// Progress callbacks (the CLI draws a bar from them).
pub trait AcquireProgress: Sync {
    /// Called once the plan is known: data bytes to fetch in total and bytes already on disk.
    fn begin(&self, _data_bytes: u64, _already: u64) {}
    /// Called with the bytes of each piece as it completes (fetched or found on disk).
    fn advance(&self, _bytes: u64) {}
    /// A retry or other notable event.
    fn note(&self, _msg: &str) {}
}

/// No progress output.
pub struct NoProgress;
impl AcquireProgress for NoProgress {}

/// Outcome of the VHD footer check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FooterCheck {
    /// `ok`, `absent` (no `conectix` cookie: a raw image) or `inconsistent`.
    pub status: String,
    /// What was checked or what is wrong.
    pub detail: String,
}

/// What an acquisition did.
#[derive(Debug, Clone, Serialize)]
pub struct AcquireReport {
    /// Source URL with the SAS signature redacted.
    pub source: String,
    /// The image written.
    pub out: PathBuf,
    /// `PageBlob`, `BlockBlob` or `AppendBlob`.
    pub blob_type: String,
    /// Blob (and image) size in bytes.
    pub size: u64,
    /// ETag of the blob.
    pub etag: Option<String>,
    /// Last-Modified of the blob.
    pub last_modified: Option<String>,
    /// Data ranges reported by the service (after merging adjacent ones).
    pub ranges: usize,
    /// Bytes inside data ranges.
    pub data_bytes: u64,
    /// Pieces in the plan.
    pub pieces: usize,
    /// Bytes downloaded by this run.
    pub downloaded_bytes: u64,
    /// Bytes found on disk from an earlier, interrupted run.
    pub resumed_bytes: u64,
    /// Requests retried.
    pub retries: u64,
    /// MD5, SHA-1, SHA-256 of the whole image.
    pub hashes: Hashes,
    /// Content-MD5 property of the blob (hex) when it has one, and whether it matched.
    pub content_md5: Option<(String, bool)>,
    /// VHD footer check.
    pub footer: FooterCheck,
    /// Start and end (RFC 3339, UTC).
    pub started: String,
    pub finished: String,
    /// Wall time.
    pub elapsed_secs: f64,
}

/// Why an acquisition stopped.
#[derive(Debug)]
pub enum AcquireError {
    /// The arguments or the output path are not usable.
    Usage(String),
    /// The service refused (status, error code, what it means).
    Http { status: u16, code: String, message: String },
    /// The network failed after all retries.
    Transport(String),
    /// The service answered something that is not a valid answer.
    Protocol(String),
    /// Local file error.
    Io { path: PathBuf, error: io::Error },
    /// Stopped by the user (Ctrl-C): the checkpoint allows a resume.
    Interrupted { done_bytes: u64, data_bytes: u64 },
}

impl std::fmt::Display for AcquireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AcquireError::Usage(m) => write!(f, "{m}"),
            AcquireError::Http { status, code, message } => write!(f, "HTTP {status} {code}: {message}"),
            AcquireError::Transport(m) => write!(f, "network error: {m}"),
            AcquireError::Protocol(m) => write!(f, "unexpected answer from the storage service: {m}"),
            AcquireError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            AcquireError::Interrupted { done_bytes, data_bytes } => write!(
                f,
                "interrupted with {done_bytes} of {data_bytes} data bytes on disk; run the same command again to resume"
            ),
        }
    }
}

impl std::error::Error for AcquireError {}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> AcquireError + '_ {
    move |error| AcquireError::Io { path: path.to_path_buf(), error }
}

/// The URL with the value of its `sig` parameter replaced by `REDACTED` (other SAS fields —
/// expiry, permissions, version — stay: they are useful in a custody record and not secret).
pub fn redact_sas(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else { return url.to_string() };
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("sig") => format!("{k}=REDACTED"),
            _ => p.to_string(),
        })
        .collect();
    let mut out = format!("{base}?{}", parts.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// One contiguous piece to fetch: `[start, end)` on the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piece {
    pub start: u64,
    pub end: u64,
}

/// Merges sorted-or-not `[start, end)` ranges into sorted, disjoint, non-adjacent ranges.
pub fn merge_ranges(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.retain(|r| r.1 > r.0);
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Cuts merged data ranges into pieces of at most `piece_size` bytes. Ranges closer than
/// `merge_gap` share a piece (the clear pages between come back as zeros: one request instead
/// of two, for at most `merge_gap` extra bytes); a long range is cut at multiples of
/// `piece_size` so that the plan, and with it a checkpoint, depends only on the ranges.
pub fn plan(ranges: &[(u64, u64)], piece_size: u64, merge_gap: u64) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    for &(s, e) in ranges {
        let mut at = s;
        while at < e {
            let end = e.min((at / piece_size + 1) * piece_size);
            match out.last_mut() {
                Some(last) if at - last.end <= merge_gap && end - last.start <= piece_size => last.end = end,
                _ => out.push(Piece { start: at, end }),
            }
            at = end;
        }
    }
    out
}

fn plan_digest(pieces: &[Piece]) -> String {
    let mut h = sha2::Sha256::new();
    for p in pieces {
        h.update(p.start.to_le_bytes());
        h.update(p.end.to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The resume state stored beside the part file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Checkpoint {
    format: String,
    source: String,
    size: u64,
    etag: Option<String>,
    blob_type: String,
    piece_size: u64,
    plan_sha256: String,
    /// Runs of finished piece indexes, `[first, last_exclusive)`.
    done: Vec<(usize, usize)>,
    updated: String,
}

fn runs(done: &[bool]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < done.len() {
        if done[i] {
            let s = i;
            while i < done.len() && done[i] {
                i += 1;
            }
            out.push((s, i));
        } else {
            i += 1;
        }
    }
    out
}

/// RFC 3339 UTC time without pulling chrono into this crate.
fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    crate::vhd::unix_time_rfc3339(secs as i64)
}

/// The paths an acquisition uses for `out`: the part file and its checkpoint.
pub fn part_paths(out: &Path) -> (PathBuf, PathBuf) {
    let mut part = out.as_os_str().to_owned();
    part.push(".part");
    let mut ck = part.clone();
    ck.push(".json");
    (PathBuf::from(part), PathBuf::from(ck))
}

struct Http<'a> {
    agent: ureq::Agent,
    url: url::Url,
    etag: Option<String>,
    opts: &'a AcquireOptions,
    cancel: &'a AtomicBool,
    retries: AtomicU64,
    progress: &'a dyn AcquireProgress,
    seed: AtomicU64,
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

enum Attempt {
    Done(Answer),
    Retry(String, Option<Duration>),
    Fatal(AcquireError),
}

fn status_error(a: &Answer) -> AcquireError {
    let code = a
        .header("x-ms-error-code")
        .map(str::to_string)
        .or_else(|| xml_text(&a.body, "Code"))
        .unwrap_or_else(|| "-".to_string());
    let message = match a.status {
        403 => "access refused: the SAS is expired, revoked, lacks read permission, or its signature is wrong (request a new URL with beginGetAccess; finished pieces are kept)".to_string(),
        404 => "the blob does not exist (or the SAS points elsewhere)".to_string(),
        412 => "the blob changed since the acquisition started (ETag differs): an image of a changing blob is not evidence; acquire from a snapshot".to_string(),
        416 => "range not satisfiable".to_string(),
        _ => xml_text(&a.body, "Message").map(|m| m.lines().next().unwrap_or("").to_string()).unwrap_or_default(),
    };
    AcquireError::Http { status: a.status, code, message }
}

impl Http<'_> {
    fn with_params(&self, params: &[(&str, &str)]) -> url::Url {
        let mut u = self.url.clone();
        {
            let mut q = u.query_pairs_mut();
            for (k, v) in params {
                q.append_pair(k, v);
            }
        }
        u
    }

    fn jitter(&self, d: Duration) -> Duration {
        // xorshift: a little randomness so parallel workers do not retry in lockstep.
        let mut x = self.seed.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        d.mul_f64(0.5 + (x % 1000) as f64 / 1000.0)
    }

    fn once(&self, method: &str, url: &url::Url, headers: &[(&str, String)], expect: Option<u64>) -> Attempt {
        let mut req = match method {
            "HEAD" => self.agent.head(url.as_str()),
            _ => self.agent.get(url.as_str()),
        };
        req = req.header("x-ms-version", API_VERSION);
        if let Some(etag) = &self.etag {
            req = req.header("If-Match", etag.as_str());
        }
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let mut resp = match req.call() {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(scrub_sig(&e.to_string()), None),
        };
        let status = resp.status().as_u16();
        let hdrs: Vec<(String, String)> = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string())))
            .collect();
        let retry_after = hdrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
            .and_then(|(_, v)| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(60)));
        let body = if method == "HEAD" {
            Vec::new()
        } else if (200..300).contains(&status) {
            let mut buf = Vec::with_capacity(expect.unwrap_or(0).min(256 << 20) as usize);
            let limit = expect.map(|n| n + 1).unwrap_or(64 << 20);
            match resp.body_mut().as_reader().take(limit).read_to_end(&mut buf) {
                Ok(_) => {}
                Err(e) => {
                    return Attempt::Retry(
                        format!("body cut after {} bytes: {}", buf.len(), scrub_sig(&e.to_string())),
                        None,
                    )
                }
            }
            if let Some(n) = expect {
                if buf.len() as u64 != n {
                    return Attempt::Retry(format!("expected {n} bytes, got {}", buf.len()), None);
                }
            }
            buf
        } else {
            let mut buf = Vec::new();
            let _ = resp.body_mut().as_reader().take(64 << 10).read_to_end(&mut buf);
            buf
        };
        let a = Answer { status, headers: hdrs, body };
        match status {
            200..=299 => Attempt::Done(a),
            408 | 429 | 500 | 502 | 503 | 504 => Attempt::Retry(format!("HTTP {status}"), retry_after),
            _ => Attempt::Fatal(status_error(&a)),
        }
    }

    fn call(
        &self,
        method: &str,
        url: &url::Url,
        headers: &[(&str, String)],
        expect: Option<u64>,
        what: &str,
    ) -> Result<Answer, AcquireError> {
        let mut attempt = 0u32;
        loop {
            match self.once(method, url, headers, expect) {
                Attempt::Done(a) => return Ok(a),
                Attempt::Fatal(e) => return Err(e),
                Attempt::Retry(why, after) => {
                    if attempt >= self.opts.retries {
                        return Err(AcquireError::Transport(format!(
                            "{what}: gave up after {} attempts: {why}",
                            attempt + 1
                        )));
                    }
                    attempt += 1;
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    let backoff = self.opts.retry_base.saturating_mul(1 << attempt.min(8)).min(Duration::from_secs(15));
                    let wait = after.unwrap_or_else(|| self.jitter(backoff));
                    self.progress.note(&format!(
                        "{what}: {why}; retry {attempt}/{} in {:.1}s",
                        self.opts.retries,
                        wait.as_secs_f64()
                    ));
                    let until = Instant::now() + wait;
                    while Instant::now() < until {
                        if self.cancel.load(Ordering::Relaxed) {
                            return Err(AcquireError::Transport(format!("{what}: cancelled during retry")));
                        }
                        std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
                    }
                }
            }
        }
    }
}

/// The text of the first `<tag>` element of an XML body.
fn xml_text(body: &[u8], tag: &str) -> Option<String> {
    use quick_xml::events::Event;
    let text = std::str::from_utf8(body).ok()?;
    let mut r = quick_xml::Reader::from_str(text.trim_start_matches('\u{feff}'));
    let mut inside = false;
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) => inside = e.name().as_ref() == tag,
            Ok(Event::Text(t)) if inside => {
                return quick_xml::escape::unescape(&t.xml10_content()).ok().map(|s| s.trim().to_string())
            }
            Ok(Event::End(_)) => inside = false,
            Ok(Event::Eof) | Err(_) => return None,
            _ => {}
        }
    }
}

/// One Get Page Ranges answer: data ranges `[start, end)` and the continuation marker.
pub type PageList = (Vec<(u64, u64)>, Option<String>);

/// Parses one Get Page Ranges answer: the `PageRange` elements (`[start, end)`) and `NextMarker`.
pub fn parse_page_list(body: &[u8]) -> Result<PageList, String> {
    use quick_xml::events::Event;
    let text = std::str::from_utf8(body).map_err(|e| format!("page list is not UTF-8: {e}"))?;
    let mut r = quick_xml::Reader::from_str(text.trim_start_matches('\u{feff}'));
    let mut path: Vec<String> = Vec::new();
    let mut ranges = Vec::new();
    let (mut start, mut end): (Option<u64>, Option<u64>) = (None, None);
    let mut marker = None;
    let mut saw_root = false;
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) => {
                let name = e.name().as_ref().to_string();
                if path.is_empty() {
                    if name != "PageList" {
                        return Err(format!("root element <{name}>, expected <PageList>"));
                    }
                    saw_root = true;
                }
                if name == "PageRange" {
                    start = None;
                    end = None;
                }
                path.push(name);
            }
            Ok(Event::Empty(e)) if path.is_empty() && e.name().as_ref() == "PageList" => saw_root = true,
            Ok(Event::Text(t)) => {
                let raw = t.xml10_content();
                let text = quick_xml::escape::unescape(&raw).map_err(|e| e.to_string())?;
                let text = text.trim();
                let n = path.len();
                if n >= 2 && path[n - 2] == "PageRange" {
                    let v: u64 = text.parse().map_err(|_| format!("page range bound {text:?} is not a number"))?;
                    match path[n - 1].as_str() {
                        "Start" => start = Some(v),
                        "End" => end = Some(v),
                        _ => {}
                    }
                } else if n == 2 && path[1] == "NextMarker" && !text.is_empty() {
                    marker = Some(text.to_string());
                }
            }
            Ok(Event::End(e)) => {
                if e.name().as_ref() == "PageRange" {
                    match (start, end) {
                        (Some(s), Some(e)) if e >= s && e < u64::MAX => ranges.push((s, e + 1)),
                        _ => return Err("a <PageRange> without valid <Start>/<End>".into()),
                    }
                }
                path.pop();
            }
            Ok(Event::Eof) => break,
            Err(e) => return Err(format!("XML error at byte {}: {e}", r.buffer_position())),
            _ => {}
        }
    }
    if !saw_root {
        return Err("no <PageList> element".into());
    }
    Ok((ranges, marker))
}

struct Shared {
    state: Mutex<State>,
    cv: Condvar,
}

struct State {
    next_hash: usize,
    ready: BTreeMap<usize, Vec<u8>>,
    done: Vec<bool>,
    failed: Option<AcquireError>,
    stop: bool,
}

/// Acquires the blob at `sas_url` into `out`. `cancel` stops the run cleanly (checkpoint kept).
pub fn acquire(
    sas_url: &str,
    out: &Path,
    opts: &AcquireOptions,
    progress: &dyn AcquireProgress,
    cancel: &AtomicBool,
) -> Result<AcquireReport, AcquireError> {
    let t0 = Instant::now();
    let started = now_rfc3339();
    let source = redact_sas(sas_url);
    let url = url::Url::parse(sas_url)
        .map_err(|e| AcquireError::Usage(format!("not a URL ({e}): {}", redact_sas(sas_url))))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(AcquireError::Usage(format!("URL scheme {} (expected https)", url.scheme())));
    }
    if opts.piece_size == 0 || !opts.piece_size.is_multiple_of(512) {
        return Err(AcquireError::Usage("piece size must be a positive multiple of 512".into()));
    }
    if out.exists() && !opts.force {
        return Err(AcquireError::Usage(format!("{} exists (use --force to overwrite it)", out.display())));
    }
    let (part_path, ck_path) = part_paths(out);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(opts.timeout))
        .timeout_recv_body(Some(opts.timeout))
        .max_idle_connections_per_host(opts.concurrency.max(1) * 2)
        .user_agent(concat!("azir/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
    let mut http =
        Http { agent, url, etag: None, opts, cancel, retries: AtomicU64::new(0), progress, seed: AtomicU64::new(seed) };

    // 1. Properties.
    let head = http.call("HEAD", &http.url.clone(), &[], None, "blob properties")?;
    let size: u64 = head
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| AcquireError::Protocol("no Content-Length on the blob".into()))?;
    let blob_type = head.header("x-ms-blob-type").unwrap_or("BlockBlob").to_string();
    let etag = head.header("etag").map(str::to_string);
    let last_modified = head.header("last-modified").map(str::to_string);
    let content_md5 = head.header("content-md5").and_then(|b| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .ok()
            .map(|v| v.iter().map(|x| format!("{x:02x}")).collect::<String>())
    });
    http.etag = etag.clone();

    // 2. Data ranges.
    let ranges = if blob_type.eq_ignore_ascii_case("PageBlob") {
        let mut all = Vec::new();
        let mut window = 0u64;
        while window < size {
            let wend = (window + LIST_WINDOW).min(size);
            let mut marker: Option<String> = None;
            loop {
                let mut params = vec![("comp", "pagelist")];
                if let Some(m) = &marker {
                    params.push(("marker", m.as_str()));
                }
                let u = http.with_params(&params);
                let range = format!("bytes={}-{}", window, wend - 1);
                let a = http.call("GET", &u, &[("x-ms-range", range)], None, "page ranges")?;
                let (mut rs, next) = parse_page_list(&a.body).map_err(AcquireError::Protocol)?;
                for r in &rs {
                    if r.1 > size {
                        return Err(AcquireError::Protocol(format!(
                            "page range {}-{} lies beyond the blob's {size} bytes",
                            r.0,
                            r.1 - 1
                        )));
                    }
                }
                all.append(&mut rs);
                if cancel.load(Ordering::Relaxed) {
                    return Err(AcquireError::Interrupted { done_bytes: 0, data_bytes: 0 });
                }
                match next {
                    Some(m) if Some(&m) != marker.as_ref() => marker = Some(m),
                    _ => break,
                }
            }
            window = wend;
        }
        merge_ranges(all)
    } else if size > 0 {
        vec![(0, size)]
    } else {
        Vec::new()
    };
    let data_bytes: u64 = ranges.iter().map(|r| r.1 - r.0).sum();
    let pieces = plan(&ranges, opts.piece_size, opts.merge_gap.min(opts.piece_size));
    let digest = plan_digest(&pieces);

    // 3. Part file and checkpoint.
    let mut done = vec![false; pieces.len()];
    let mut resumed_bytes = 0u64;
    let resume = match fs::read(&ck_path) {
        Ok(bytes) => match serde_json::from_slice::<Checkpoint>(&bytes) {
            Ok(ck)
                if ck.format == CHECKPOINT_FORMAT
                    && ck.size == size
                    && ck.etag == etag
                    && ck.piece_size == opts.piece_size
                    && ck.plan_sha256 == digest
                    && part_path.metadata().map(|m| m.len() == size).unwrap_or(false) =>
            {
                Some(ck)
            }
            Ok(_) | Err(_) if opts.restart => None,
            Ok(_) => {
                return Err(AcquireError::Usage(format!(
                    "{} belongs to a different blob, blob state or piece size (size, ETag or page ranges differ): use --restart to discard it",
                    ck_path.display()
                )))
            }
            Err(e) => {
                return Err(AcquireError::Usage(format!(
                    "{} is unreadable ({e}): use --restart to discard it",
                    ck_path.display()
                )))
            }
        },
        Err(_) => None,
    };
    let file = match &resume {
        Some(ck) => {
            for &(a, b) in &ck.done {
                for d in done.iter_mut().take(b.min(pieces.len())).skip(a) {
                    *d = true;
                }
            }
            resumed_bytes = pieces.iter().zip(&done).filter(|(_, d)| **d).map(|(p, _)| p.end - p.start).sum();
            progress.note(&format!(
                "resuming: {} of {} pieces already on disk ({} bytes)",
                done.iter().filter(|d| **d).count(),
                pieces.len(),
                resumed_bytes
            ));
            OpenOptions::new().read(true).write(true).open(&part_path).map_err(io_err(&part_path))?
        }
        None => {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&part_path)
                .map_err(io_err(&part_path))?;
            f.set_len(size).map_err(io_err(&part_path))?;
            f
        }
    };
    let mut ck = Checkpoint {
        format: CHECKPOINT_FORMAT.into(),
        source: source.clone(),
        size,
        etag: etag.clone(),
        blob_type: blob_type.clone(),
        piece_size: opts.piece_size,
        plan_sha256: digest,
        done: runs(&done),
        updated: now_rfc3339(),
    };
    write_checkpoint(&ck_path, &ck)?;
    progress.begin(data_bytes, resumed_bytes);

    // 4. Fetch, write, hash in order.
    let shared = Shared {
        state: Mutex::new(State { next_hash: 0, ready: BTreeMap::new(), done, failed: None, stop: false }),
        cv: Condvar::new(),
    };
    let concurrency = opts.concurrency.clamp(1, 64);
    let window = concurrency * 2;
    let next = AtomicUsize::new(0);
    let downloaded = AtomicU64::new(0);
    let mut hasher = StreamHasher::new();
    let mut cursor = 0u64;
    let mut last_ck = Instant::now();
    let mut main_result: Result<(), AcquireError> = Ok(());
    std::thread::scope(|s| {
        for _ in 0..concurrency.min(pieces.len().max(1)) {
            s.spawn(|| {
                worker(&http, &shared, &pieces, &next, window, &file, &part_path, &downloaded, cancel, progress)
            });
        }
        for (i, p) in pieces.iter().enumerate() {
            let data = {
                let mut st = shared.state.lock().expect("state lock");
                loop {
                    if let Some(d) = st.ready.remove(&i) {
                        st.next_hash = i + 1;
                        shared.cv.notify_all();
                        break Some(d);
                    }
                    if st.stop {
                        break None;
                    }
                    if cancel.load(Ordering::Relaxed) {
                        st.stop = true;
                        shared.cv.notify_all();
                        break None;
                    }
                    st = shared.cv.wait_timeout(st, Duration::from_millis(200)).expect("state lock").0;
                }
            };
            let Some(data) = data else { break };
            hasher.zeros(p.start - cursor);
            hasher.update(data);
            cursor = p.end;
            if last_ck.elapsed() >= opts.checkpoint_every {
                if let Err(e) = checkpoint_now(&shared, &file, &part_path, &ck_path, &mut ck) {
                    main_result = Err(e);
                    let mut st = shared.state.lock().expect("state lock");
                    st.stop = true;
                    shared.cv.notify_all();
                    break;
                }
                last_ck = Instant::now();
            }
        }
        // Every piece hashed, or stopping: either way the workers end.
        let mut st = shared.state.lock().expect("state lock");
        st.stop = true;
        shared.cv.notify_all();
    });
    let stopped_early = cursor < pieces.last().map(|p| p.end).unwrap_or(0);
    let failed = shared.state.lock().expect("state lock").failed.take();
    if stopped_early || failed.is_some() || main_result.is_err() {
        drop(hasher);
        checkpoint_now(&shared, &file, &part_path, &ck_path, &mut ck)?;
        main_result?;
        if let Some(e) = failed {
            return Err(e);
        }
        let st = shared.state.lock().expect("state lock");
        let done_bytes = pieces.iter().zip(&st.done).filter(|(_, d)| **d).map(|(p, _)| p.end - p.start).sum();
        return Err(AcquireError::Interrupted { done_bytes, data_bytes });
    }
    hasher.zeros(size - cursor);
    let hashes = hasher.finish();

    // 5. Seal: sync, verify, rename.
    file.sync_all().map_err(io_err(&part_path))?;
    let written = file.metadata().map_err(io_err(&part_path))?.len();
    if written != size || hashes.bytes != size {
        return Err(AcquireError::Protocol(format!(
            "image has {written} bytes (hashed {}), blob has {size}",
            hashes.bytes
        )));
    }
    let footer = check_footer(&file, size).map_err(io_err(&part_path))?;
    drop(file);
    fs::rename(&part_path, out).map_err(io_err(out))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    let _ = fs::remove_file(&ck_path);
    let content_md5 = content_md5.map(|m| {
        let ok = m == hashes.md5;
        (m, ok)
    });
    Ok(AcquireReport {
        source,
        out: out.to_path_buf(),
        blob_type,
        size,
        etag,
        last_modified,
        ranges: ranges.len(),
        data_bytes,
        pieces: pieces.len(),
        downloaded_bytes: downloaded.load(Ordering::Relaxed),
        resumed_bytes,
        retries: http.retries.load(Ordering::Relaxed),
        hashes,
        content_md5,
        footer,
        started,
        finished: now_rfc3339(),
        elapsed_secs: t0.elapsed().as_secs_f64(),
    })
}

#[allow(clippy::too_many_arguments)]
fn worker(
    http: &Http<'_>,
    shared: &Shared,
    pieces: &[Piece],
    next: &AtomicUsize,
    window: usize,
    file: &File,
    part_path: &Path,
    downloaded: &AtomicU64,
    cancel: &AtomicBool,
    progress: &dyn AcquireProgress,
) {
    loop {
        let i = next.fetch_add(1, Ordering::SeqCst);
        if i >= pieces.len() {
            return;
        }
        let on_disk = {
            let mut st = shared.state.lock().expect("state lock");
            while i >= st.next_hash + window && !st.stop {
                st = shared.cv.wait(st).expect("state lock");
            }
            if st.stop {
                return;
            }
            st.done[i]
        };
        if cancel.load(Ordering::Relaxed) {
            let mut st = shared.state.lock().expect("state lock");
            st.stop = true;
            shared.cv.notify_all();
            return;
        }
        let p = pieces[i];
        let len = p.end - p.start;
        let result = if on_disk {
            let mut buf = vec![0u8; len as usize];
            file.read_exact_at(&mut buf, p.start).map(|_| buf).map_err(io_err(part_path))
        } else {
            let range = format!("bytes={}-{}", p.start, p.end - 1);
            let what = format!("bytes {}-{}", p.start, p.end - 1);
            http.call("GET", &http.url, &[("x-ms-range", range)], Some(len), &what).and_then(|a| {
                file.write_all_at(&a.body, p.start).map_err(io_err(part_path))?;
                downloaded.fetch_add(len, Ordering::Relaxed);
                Ok(a.body)
            })
        };
        let mut st = shared.state.lock().expect("state lock");
        match result {
            Ok(data) => {
                st.done[i] = true;
                st.ready.insert(i, data);
                progress.advance(len);
                shared.cv.notify_all();
            }
            Err(e) => {
                if st.failed.is_none() {
                    st.failed = Some(e);
                }
                st.stop = true;
                shared.cv.notify_all();
                return;
            }
        }
    }
}

fn write_checkpoint(path: &Path, ck: &Checkpoint) -> Result<(), AcquireError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let bytes = serde_json::to_vec_pretty(ck).expect("checkpoint serializes");
    fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
    File::open(&tmp).and_then(|f| f.sync_all()).map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

/// Syncs the part file, then records the pieces that were on disk before the sync.
fn checkpoint_now(
    shared: &Shared,
    file: &File,
    part_path: &Path,
    ck_path: &Path,
    ck: &mut Checkpoint,
) -> Result<(), AcquireError> {
    let done = shared.state.lock().expect("state lock").done.clone();
    file.sync_data().map_err(io_err(part_path))?;
    ck.done = runs(&done);
    ck.updated = now_rfc3339();
    write_checkpoint(ck_path, ck)
}

/// Checks a VHD footer in the last 512 bytes of an image of `size` bytes.
pub fn check_footer(file: &File, size: u64) -> io::Result<FooterCheck> {
    if size < 512 {
        return Ok(FooterCheck { status: "absent".into(), detail: "image smaller than a VHD footer".into() });
    }
    let mut b = [0u8; 512];
    file.read_exact_at(&mut b, size - 512)?;
    Ok(footer_of(&b, size))
}

/// The footer check of the last 512 bytes `b` of an image of `size` bytes.
pub fn footer_of(b: &[u8; 512], size: u64) -> FooterCheck {
    if &b[0..8] != b"conectix" {
        return FooterCheck {
            status: "absent".into(),
            detail: "no VHD footer (no conectix cookie in the last 512 bytes): a raw image".into(),
        };
    }
    let mut problems = Vec::new();
    let disk_type = u32::from_be_bytes([b[60], b[61], b[62], b[63]]);
    if disk_type != 2 {
        problems.push(format!("disk type {disk_type} (Azure needs 2, fixed)"));
    }
    let current = u64::from_be_bytes(b[48..56].try_into().expect("8 bytes"));
    if current != size - 512 {
        problems.push(format!("current size {current} ≠ blob length − 512 = {}", size - 512));
    }
    let stored = u32::from_be_bytes([b[64], b[65], b[66], b[67]]);
    let computed = crate::vhd::checksum(b, 64);
    if stored != computed {
        problems.push(format!("checksum {stored:#010x}, computed {computed:#010x}"));
    }
    if problems.is_empty() {
        FooterCheck {
            status: "ok".into(),
            detail: format!("fixed VHD footer: conectix, current size {current} = blob length − 512, checksum valid"),
        }
    } else {
        FooterCheck { status: "inconsistent".into(), detail: problems.join("; ") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_only_the_signature() {
        let u =
            "https://md-x.z1.blob.storage.azure.net/abc/abcd?sv=2018-03-28&sr=b&si=1f3c&sig=AbC%2Bd%3D&se=2026-01-01";
        let r = redact_sas(u);
        assert_eq!(
            r,
            "https://md-x.z1.blob.storage.azure.net/abc/abcd?sv=2018-03-28&sr=b&si=1f3c&sig=REDACTED&se=2026-01-01"
        );
        assert!(!r.contains("AbC"));
        assert_eq!(redact_sas("https://a/b?SIG=x"), "https://a/b?SIG=REDACTED");
        assert_eq!(redact_sas("https://a/b"), "https://a/b");
        assert_eq!(
            scrub_sig("error for url http://h/p?sv=1&sig=secret&x=1: reset"),
            "error for url http://h/p?sv=1&sig=REDACTED&x=1: reset"
        );
        assert_eq!(scrub_sig("no secrets here"), "no secrets here");
    }

    #[test]
    fn ranges_merge_and_plan_into_pieces() {
        let m = merge_ranges(vec![(1024, 2048), (0, 512), (512, 1024), (10 << 20, (10 << 20) + 512), (0, 0)]);
        assert_eq!(m, vec![(0, 2048), (10 << 20, (10 << 20) + 512)]);
        let mib = 1u64 << 20;
        // Close ranges share a piece; a far one gets its own; nothing spans the gap between.
        let p = plan(&[(0, 512), (4096, 8192), (3 * mib, 3 * mib + 512)], 4 * mib, 64 << 10);
        assert_eq!(p, vec![Piece { start: 0, end: 8192 }, Piece { start: 3 * mib, end: 3 * mib + 512 }]);
        // A piece never exceeds piece_size, and long ranges are cut at its multiples.
        let p = plan(&[(0, 10 * mib)], 4 * mib, 64 << 10);
        assert_eq!(
            p,
            vec![
                Piece { start: 0, end: 4 * mib },
                Piece { start: 4 * mib, end: 8 * mib },
                Piece { start: 8 * mib, end: 10 * mib }
            ]
        );
        let p = plan(&[(0, 512), (4 * mib - 512, 4 * mib + 512)], 4 * mib, 8 * mib);
        assert_eq!(p, vec![Piece { start: 0, end: 4 * mib }, Piece { start: 4 * mib, end: 4 * mib + 512 }]);
        assert!(plan(&[], 4 * mib, 0).is_empty());
    }

    #[test]
    fn page_lists_parse_with_markers_and_clear_ranges() {
        let xml = br#"<?xml version="1.0" encoding="utf-8"?><PageList><PageRange><Start>0</Start><End>511</End></PageRange><ClearRange><Start>512</Start><End>1023</End></ClearRange><PageRange><Start>1048576</Start><End>2097151</End></PageRange><NextMarker>2!abc</NextMarker></PageList>"#;
        let (r, m) = parse_page_list(xml).unwrap();
        assert_eq!(r, vec![(0, 512), (1 << 20, 2 << 20)]);
        assert_eq!(m.as_deref(), Some("2!abc"));
        let (r, m) = parse_page_list(b"<PageList><NextMarker/></PageList>").unwrap();
        assert!(r.is_empty() && m.is_none());
        let (r, _) = parse_page_list(b"<?xml version=\"1.0\"?>\n<PageList />").unwrap();
        assert!(r.is_empty());
        assert!(parse_page_list(b"<Error><Code>AuthenticationFailed</Code></Error>").is_err());
        assert!(parse_page_list(b"<PageList><PageRange><Start>x</Start><End>1</End></PageRange></PageList>").is_err());
        assert!(parse_page_list(b"<PageList><PageRange><Start>5</Start></PageRange></PageList>").is_err());
        assert!(parse_page_list(b"").is_err());
    }

    #[test]
    fn footer_check_reports_each_inconsistency() {
        let size = (8 << 20) + 512;
        let f = crate::vhd::fixed_footer(8 << 20, [7; 16], 0);
        assert_eq!(footer_of(&f, size).status, "ok");
        let c = footer_of(&f, size + 512);
        assert_eq!(c.status, "inconsistent");
        assert!(c.detail.contains("current size"), "{}", c.detail);
        let mut bad = f;
        bad[100] ^= 1;
        assert!(footer_of(&bad, size).detail.contains("checksum"));
        let mut dynamic = f;
        dynamic[63] = 3;
        assert!(footer_of(&dynamic, size).detail.contains("disk type 3"));
        assert_eq!(footer_of(&[0u8; 512], size).status, "absent");
    }

    #[test]
    fn done_runs_round_trip() {
        assert_eq!(runs(&[true, true, false, true, false, false, true]), vec![(0, 2), (3, 4), (6, 7)]);
        assert!(runs(&[false, false]).is_empty());
    }
}
