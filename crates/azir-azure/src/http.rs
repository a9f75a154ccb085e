//! One blocking HTTP client for ARM and Graph: bearer tokens, timeouts, retries, `Retry-After`.
//!
//! - Every request has a total timeout ([`HttpConfig::timeout`], headers and body).
//! - Retried, with exponential backoff and jitter: transport errors, connections dropped
//!   mid-body, timeouts, and 408, 429, 500, 502, 503, 504. `Retry-After` is honoured in both
//!   forms (seconds and HTTP-date), as are `retry-after-ms` / `x-ms-retry-after-ms`; the wait is
//!   capped ([`HttpConfig::retry_after_cap`], default 120 s) so a confused server cannot stall
//!   a collection for hours.
//! - A 429 also pauses the API's [`Limiter`] for the whole `Retry-After`: the other threads
//!   calling the same API wait too instead of collecting 429s of their own. 429s have their own,
//!   larger retry budget ([`HttpConfig::max_throttled`]): being throttled is expected, not a fault.
//! - 401: the token is dropped and fetched again, and the request retried once.
//! - 400, 403, 404 and the rest are not retried: they come back as [`HttpError::Status`] with
//!   the service's error code and message (`{"error":{"code","message"}}`, scrubbed of secrets).
//! - Repeated timeouts or 504s (more than `slow_limit`, when the caller sets one) end the request
//!   early with [`HttpError::TooSlow`]: the collector then splits its time window instead of
//!   hammering a query the service cannot answer in time.
//!
//! Redirects are not followed (no API used here redirects, and a redirect would carry the
//! bearer token elsewhere).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::auth::{redact, Audience, AuthError, Credentials};
use crate::ratelimit::{Cancelled, Limiter};

/// Timeouts and retry budget.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpConfig {
    /// Total time for one request, response body included.
    pub timeout: Duration,
    /// Time to connect.
    pub connect_timeout: Duration,
    /// Retries after transport errors, timeouts and 408/5xx.
    pub max_retries: u32,
    /// Retries after 429.
    pub max_throttled: u32,
    /// First backoff; doubles at every retry.
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
    /// Longest `Retry-After` honoured.
    pub retry_after_cap: Duration,
    /// Largest response body read.
    pub max_body: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(20),
            max_retries: 6,
            max_throttled: 40,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            retry_after_cap: Duration::from_secs(120),
            max_body: 512 << 20,
        }
    }
}

/// What requests cost: attempts, retries, 429s, bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CallStats {
    /// HTTP requests sent (retries included).
    pub requests: u64,
    /// Retries (all causes).
    pub retries: u64,
    /// 429 answers.
    pub throttled: u64,
    /// Response body bytes of successful requests.
    pub bytes: u64,
}

impl CallStats {
    /// Adds `o` to `self`.
    pub fn add(&mut self, o: &CallStats) {
        self.requests += o.requests;
        self.retries += o.retries;
        self.throttled += o.throttled;
        self.bytes += o.bytes;
    }
}

/// A failed request. Never contains a token or secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    /// The service answered with an error status (not retried, or retries exhausted).
    #[error("HTTP {status} {}: {message}", .code.as_deref().unwrap_or("-"))]
    Status {
        /// HTTP status.
        status: u16,
        /// The service's error code (`AuthorizationFailed`, `Authentication_RequestFromNonPremiumTenantOrB2CTenant`…).
        code: Option<String>,
        /// The service's message (first line, scrubbed).
        message: String,
    },
    /// Transport errors (or 5xx) until the retry budget ran out.
    #[error("{reason} (gave up after {attempts} attempts)")]
    Transport {
        /// The last error.
        reason: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Timeouts or 504s beyond the caller's `slow_limit`.
    #[error("the service did not answer in time {count} times: {reason}")]
    TooSlow {
        /// The last error.
        reason: String,
        /// Timeouts and 504s seen.
        count: u32,
    },
    /// No token.
    #[error("{0}")]
    Auth(#[from] AuthError),
    /// The cancel flag was set.
    #[error("cancelled")]
    Cancelled,
    /// An answer that is not what the API documents (bad JSON, a foreign next link).
    #[error("{0}")]
    Protocol(String),
}

impl From<Cancelled> for HttpError {
    fn from(_: Cancelled) -> Self {
        HttpError::Cancelled
    }
}

impl HttpError {
    /// The HTTP status, when the service answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            HttpError::Auth(AuthError::Token { status, .. }) => *status,
            _ => None,
        }
    }

    /// The service's error code, when it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            HttpError::Status { code, .. } => code.as_deref(),
            HttpError::Auth(AuthError::Token { code, .. }) => code.as_deref(),
            _ => None,
        }
    }
}

/// One GET: where, with which token, under which limiter.
#[derive(Clone, Copy)]
pub struct Get<'a> {
    /// Absolute URL.
    pub url: &'a str,
    /// Token audience.
    pub audience: Audience,
    /// The API's limiter.
    pub limiter: &'a Limiter,
    /// Give up with [`HttpError::TooSlow`] after this many timeouts or 504s.
    pub slow_limit: Option<u32>,
}

/// The blocking client. `Send + Sync`; one per collection.
pub struct Client {
    agent: ureq::Agent,
    creds: Arc<Credentials>,
    cfg: HttpConfig,
    cancel: Arc<AtomicBool>,
    seed: AtomicU64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

enum Attempt {
    Done(Vec<u8>),
    Unauthorized(HttpError),
    Retry { why: String, after: Option<Duration>, throttled: bool, slow: bool, last: HttpError },
    Fatal(HttpError),
}

impl Client {
    /// A client using `creds`, stopping when `cancel` is set.
    pub fn new(creds: Arc<Credentials>, cfg: HttpConfig, cancel: Arc<AtomicBool>) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(cfg.connect_timeout))
            .timeout_global(Some(cfg.timeout))
            .max_idle_connections_per_host(16)
            .user_agent(concat!("azir/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x2545_F491_4F6C_DD1D);
        Client { agent, creds, cfg, cancel, seed: AtomicU64::new(seed | 1) }
    }

    /// The credentials.
    pub fn credentials(&self) -> &Arc<Credentials> {
        &self.creds
    }

    /// The configuration.
    pub fn config(&self) -> &HttpConfig {
        &self.cfg
    }

    /// True once the cancel flag is set.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// GETs `req.url` and returns the body of a 2xx answer, retrying as the module docs say.
    /// `stats` counts every attempt.
    pub fn get(&self, req: Get<'_>, stats: &mut CallStats) -> Result<Vec<u8>, HttpError> {
        let mut retries = 0u32;
        let mut throttled = 0u32;
        let mut slow = 0u32;
        let mut refreshed = false;
        loop {
            if self.cancelled() {
                return Err(HttpError::Cancelled);
            }
            req.limiter.acquire(&self.cancel)?;
            let token = self.creds.token(req.audience)?;
            stats.requests += 1;
            let attempt = self.once(req.url, &token);
            match attempt {
                Attempt::Done(body) => {
                    stats.bytes += body.len() as u64;
                    return Ok(body);
                }
                Attempt::Unauthorized(e) => {
                    if refreshed || !self.creds.invalidate(req.audience, &token) {
                        return Err(e);
                    }
                    refreshed = true;
                    stats.retries += 1;
                }
                Attempt::Fatal(e) => return Err(e),
                Attempt::Retry { why, after, throttled: is_429, slow: is_slow, last } => {
                    if is_429 {
                        stats.throttled += 1;
                        throttled += 1;
                        if throttled > self.cfg.max_throttled {
                            return Err(last);
                        }
                        let wait = after.unwrap_or_else(|| self.backoff(throttled)).min(self.cfg.retry_after_cap);
                        stats.retries += 1;
                        // The whole API waits, not only this request; `acquire` above waits too.
                        req.limiter.pause(wait);
                        continue;
                    }
                    if is_slow {
                        slow += 1;
                        if req.slow_limit.is_some_and(|l| slow >= l) {
                            return Err(HttpError::TooSlow { reason: why, count: slow });
                        }
                    }
                    retries += 1;
                    if retries > self.cfg.max_retries {
                        return Err(match last {
                            HttpError::Status { .. } => last,
                            _ => HttpError::Transport { reason: why, attempts: retries },
                        });
                    }
                    stats.retries += 1;
                    let wait = after.map(|a| a.min(self.cfg.retry_after_cap)).unwrap_or_else(|| self.backoff(retries));
                    self.sleep(wait)?;
                }
            }
        }
    }

    fn once(&self, url: &str, token: &crate::auth::Secret) -> Attempt {
        let resp = self
            .agent
            .get(url)
            .header("Authorization", format!("Bearer {}", token.expose()))
            .header("Accept", "application/json")
            .call();
        let mut resp = match resp {
            Ok(r) => r,
            Err(e) => {
                let why = redact(&e.to_string());
                let slow = is_timeout(&e);
                return Attempt::Retry {
                    last: HttpError::Transport { reason: why.clone(), attempts: 1 },
                    why,
                    after: None,
                    throttled: false,
                    slow,
                };
            }
        };
        let status = resp.status().as_u16();
        let after = retry_after(resp.headers(), chrono::Utc::now());
        let limit = if (200..300).contains(&status) { self.cfg.max_body } else { 1 << 20 };
        let body = match resp.body_mut().with_config().limit(limit).read_to_vec() {
            Ok(b) => b,
            Err(e) => {
                let why = format!("HTTP {status}, body cut: {}", redact(&e.to_string()));
                return Attempt::Retry {
                    last: HttpError::Transport { reason: why.clone(), attempts: 1 },
                    why,
                    after: None,
                    throttled: false,
                    slow: is_timeout(&e),
                };
            }
        };
        if (200..300).contains(&status) {
            return Attempt::Done(body);
        }
        let (code, message) = service_error(&body);
        let err = HttpError::Status { status, code, message };
        match status {
            401 => Attempt::Unauthorized(err),
            408 | 429 | 500 | 502 | 503 | 504 => Attempt::Retry {
                why: err.to_string(),
                after,
                throttled: status == 429,
                slow: status == 504 || status == 408,
                last: err,
            },
            _ => Attempt::Fatal(err),
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.cfg.backoff_base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let d = base.min(self.cfg.backoff_max);
        // xorshift: enough randomness that parallel workers do not retry in lockstep.
        let mut x = self.seed.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        d.mul_f64(0.5 + (x % 1000) as f64 / 1000.0)
    }

    fn sleep(&self, d: Duration) -> Result<(), HttpError> {
        sleep_cancellable(d, &self.cancel).map_err(HttpError::from)
    }
}

/// Sleeps `d`, checking `cancel` every 50 ms.
pub fn sleep_cancellable(d: Duration, cancel: &AtomicBool) -> Result<(), Cancelled> {
    let until = Instant::now() + d;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Cancelled);
        }
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

fn is_timeout(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Timeout(_) => true,
        ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::TimedOut || io.kind() == std::io::ErrorKind::WouldBlock,
        other => {
            let s = other.to_string().to_ascii_lowercase();
            s.contains("timeout") || s.contains("timed out")
        }
    }
}

/// The wait a response asks for: `retry-after-ms` / `x-ms-retry-after-ms` (milliseconds), else
/// `Retry-After` in seconds or as an HTTP-date (relative to `now`). Not capped here.
pub fn retry_after(headers: &ureq::http::HeaderMap, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let get = |k: &str| headers.get(k).and_then(|v| v.to_str().ok());
    for k in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = get(k).and_then(|v| v.trim().parse::<f64>().ok()) {
            if ms.is_finite() && ms >= 0.0 {
                return Some(Duration::from_secs_f64(ms / 1000.0));
            }
        }
    }
    parse_retry_after(get("retry-after")?, now)
}

/// Parses a `Retry-After` value: delay-seconds (`120`, also `1.5`) or an HTTP-date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, RFC 850 and asctime forms too). A date in the past is a
/// zero wait.
pub fn parse_retry_after(v: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    if let Ok(s) = v.parse::<f64>() {
        return (s.is_finite() && s >= 0.0).then(|| Duration::from_secs_f64(s));
    }
    let date = chrono::DateTime::parse_from_rfc2822(v).map(|d| d.with_timezone(&chrono::Utc)).ok().or_else(|| {
        // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT; asctime: Sun Nov  6 08:49:37 1994.
        let t = v.trim_end_matches(" GMT").trim_end_matches(" UTC");
        ["%A, %d-%b-%y %H:%M:%S", "%a %b %e %H:%M:%S %Y", "%a, %d %b %Y %H:%M:%S"]
            .iter()
            .find_map(|f| chrono::NaiveDateTime::parse_from_str(t, f).ok())
            .map(|n| n.and_utc())
    })?;
    Some((date - now).to_std().unwrap_or(Duration::ZERO))
}

/// The error code and message of an ARM or Graph error body (`{"error":{"code","message"}}`,
/// or `code`/`message` at the top), message cut to its first line and scrubbed.
pub fn service_error(body: &[u8]) -> (Option<String>, String) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).to_string();
        let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").to_string();
        return (None, redact(&line));
    };
    let e = v.get("error").filter(|e| e.is_object()).unwrap_or(&v);
    let code = e.get("code").and_then(|c| c.as_str()).map(str::to_string).or_else(|| {
        // OAuth-style `{"error":"invalid_grant"}`.
        v.get("error").and_then(|c| c.as_str()).map(str::to_string)
    });
    let message = e
        .get("message")
        .and_then(|m| m.as_str())
        .or_else(|| v.get("error_description").and_then(|m| m.as_str()))
        .unwrap_or("");
    let line = message.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let mut end = line.len().min(500);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    (code, redact(&line[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn retry_after_forms() {
        let now = chrono::Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0).unwrap();
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("1.5", now), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:07 GMT", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wednesday, 21-Oct-15 07:28:09 GMT", now), Some(Duration::from_secs(9)));
        assert_eq!(parse_retry_after("Wed Oct 21 07:28:03 2015", now), Some(Duration::from_secs(3)));
        // In the past: no wait.
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn retry_after_headers_prefer_milliseconds() {
        let now = chrono::Utc::now();
        let mut h = ureq::http::HeaderMap::new();
        h.insert("retry-after", "10".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(10)));
        h.insert("x-ms-retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(250)));
        assert_eq!(retry_after(&ureq::http::HeaderMap::new(), now), None);
    }

    #[test]
    fn service_errors() {
        let (c, m) = service_error(
            br#"{"error":{"code":"Authentication_RequestFromNonPremiumTenantOrB2CTenant","message":"Neither tenant is B2C or tenant doesn't have premium license\nmore","innerError":{}}}"#,
        );
        assert_eq!(c.as_deref(), Some("Authentication_RequestFromNonPremiumTenantOrB2CTenant"));
        assert_eq!(m, "Neither tenant is B2C or tenant doesn't have premium license");
        let (c, _) = service_error(br#"{"code":"AuthorizationFailed","message":"no"}"#);
        assert_eq!(c.as_deref(), Some("AuthorizationFailed"));
        let (c, m) = service_error(b"<html>Bad gateway</html>");
        assert_eq!((c, m.as_str()), (None, "<html>Bad gateway</html>"));
        let (_, m) = service_error(br#"{"error":{"code":"x","message":"url https://a?sig=abc"}}"#);
        assert_eq!(m, "url https://a?sig=REDACTED");
    }

    #[test]
    fn errors_name_status_and_code() {
        let e = HttpError::Status { status: 403, code: Some("AuthorizationFailed".into()), message: "m".into() };
        assert_eq!(e.to_string(), "HTTP 403 AuthorizationFailed: m");
        assert_eq!(e.status(), Some(403));
        assert_eq!(e.code(), Some("AuthorizationFailed"));
    }
}
