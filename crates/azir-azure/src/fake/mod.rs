//! A fake Azure on loopback — token endpoint, IMDS, App Service identity, ARM and Microsoft
//! Graph — over a generated tenant, with fault injection. For tests and benchmarks only
//! (feature `fake`); it is never in a release binary.
//!
//! The server is HTTP/1.1 on `std::net` (a thread per connection, keep-alive), no dependency.
//! It behaves like the services where collection depends on it:
//!
//! - the token endpoint checks tenant, client id, the client secret or the client assertion
//!   (an RS256 JWT whose `x5t#S256` names the configured certificate and whose signature
//!   verifies with its key; or the configured federated token), and issues opaque tokens per
//!   audience that ARM and Graph require (401 otherwise);
//! - the Activity Log requires `eventTimestamp ge '…' and eventTimestamp le '…'` (quoted),
//!   Graph unquoted literals and the operators each API documents (provisioning: `gt`/`lt`
//!   only; sign-in event types: beta only), and both page with next links;
//! - Graph identity reports are limited to N requests per sliding window (default off; 5 per
//!   10 s in the benchmark), answering 429 with `Retry-After` in seconds;
//! - faults per route: 429 with `Retry-After` in seconds, as an HTTP-date or as
//!   `x-ms-retry-after-ms`, any status with an error body (403 with
//!   `Authentication_RequestFromNonPremiumTenantOrB2CTenant`…), slow answers, connections
//!   dropped mid-body, revoked tokens.
//!
//! [`FakeTenant::expected_ids`] gives the ids a correct collection must return.

mod data;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use sha2::Digest;

pub use data::{Dataset, FakeRecord};

use crate::auth::Endpoints;
use crate::source::{parse_record_time, Source, NETWORK_TYPES};

/// What `Retry-After` a 429 carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// No header.
    None,
    /// `Retry-After: <seconds>`.
    Seconds(u64),
    /// `Retry-After: <HTTP-date>` this many seconds from now.
    HttpDate(u64),
    /// `x-ms-retry-after-ms: <ms>`.
    Millis(u64),
}

/// An injected failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// 429 Too Many Requests.
    Throttle(RetryAfter),
    /// An error status with a service error body.
    Status {
        /// HTTP status.
        status: u16,
        /// `error.code`.
        code: String,
        /// `error.message`.
        message: String,
    },
    /// Wait this long before answering (beyond the client's timeout).
    Slow(Duration),
    /// Send the headers and half the body, then close the connection.
    DropMidBody,
    /// Forget every issued token first (the request then gets 401).
    RevokeTokens,
}

/// A fault on requests whose decoded path and query contain `matching`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Substring of the decoded path + query (`auditLogs/signIns`, `nonInteractiveUser`…).
    pub matching: String,
    /// Matching requests let through before the fault starts.
    pub skip: u32,
    /// How many matching requests get the fault (`u32::MAX`: all).
    pub times: u32,
    /// The fault.
    pub kind: FaultKind,
}

impl Fault {
    /// `kind` on the first `times` requests matching `matching`.
    pub fn new(matching: impl Into<String>, times: u32, kind: FaultKind) -> Fault {
        Fault { matching: matching.into(), skip: 0, times, kind }
    }

    /// Lets `n` matching requests through first.
    pub fn after(mut self, n: u32) -> Fault {
        self.skip = n;
        self
    }

    /// A 403 as a Free-tier tenant's Graph reports answer it.
    pub fn non_premium(matching: impl Into<String>) -> Fault {
        Fault::new(
            matching,
            u32::MAX,
            FaultKind::Status {
                status: 403,
                code: "Authentication_RequestFromNonPremiumTenantOrB2CTenant".into(),
                message: "Neither tenant is B2C or tenant doesn't have premium license".into(),
            },
        )
    }

    /// A bare status (500, 503, 504…).
    pub fn status(matching: impl Into<String>, times: u32, status: u16) -> Fault {
        Fault::new(
            matching,
            times,
            FaultKind::Status { status, code: "ServiceUnavailable".into(), message: format!("injected {status}") },
        )
    }
}

/// The generated tenant and the server's behaviour.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// Tenant id.
    pub tenant: String,
    /// App (client) id accepted by the token endpoint.
    pub client_id: String,
    /// Client secret accepted.
    pub client_secret: String,
    /// SHA-256 of the accepted certificate (DER) and its RSA public key (DER `RSAPublicKey`).
    pub certificate: Option<(Vec<u8>, Vec<u8>)>,
    /// Federated token accepted as a client assertion (workload identity).
    pub federated_token: Option<String>,
    /// `IDENTITY_HEADER` accepted by the App Service endpoint (`/msi/token`).
    pub identity_header: String,
    /// Tokens accepted as if issued (supplied-token tests), with their audience.
    pub static_tokens: Vec<(String, String)>,
    /// `expires_in` of issued tokens.
    pub token_lifetime: Duration,
    /// Subscription ids.
    pub subscriptions: Vec<String>,
    /// Start of the data.
    pub start: DateTime<Utc>,
    /// End of the data.
    pub end: DateTime<Utc>,
    /// Records per source (per subscription for the Activity Log; per type and subscription
    /// for the network).
    pub records: BTreeMap<Source, usize>,
    /// Extra records of every windowed source exactly at these instants.
    pub boundary_times: Vec<DateTime<Utc>>,
    /// Extra records: `(source, start, end, n)` spread over `[start, end)` (dense windows).
    pub bursts: Vec<(Source, DateTime<Utc>, DateTime<Utc>, usize)>,
    /// Activity Log page size.
    pub activity_page_size: usize,
    /// Largest Graph page (below the client's `$top` to force paging).
    pub graph_page_cap: usize,
    /// ARM list page size (subscriptions, network).
    pub arm_list_page_size: usize,
    /// Graph identity reports limit: `(requests, window)`, sliding.
    pub graph_rate: Option<(u32, Duration)>,
    /// Faults.
    pub faults: Vec<Fault>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        let mut records = BTreeMap::new();
        for s in Source::ALL {
            records.insert(s, if s == Source::Network { 2 } else { 30 });
        }
        FakeConfig {
            tenant: "72f988bf-0000-4000-8000-00000000aaaa".into(),
            client_id: "0f0f0f0f-1111-4222-8333-444444444444".into(),
            client_secret: "fake-client-secret-Z9q".into(),
            certificate: None,
            federated_token: None,
            identity_header: "fake-identity-header".into(),
            static_tokens: Vec::new(),
            token_lifetime: Duration::from_secs(3600),
            subscriptions: vec![
                "11111111-1111-4111-8111-111111111111".into(),
                "22222222-2222-4222-8222-222222222222".into(),
            ],
            start: Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).single().unwrap_or_default(),
            end: Utc.with_ymd_and_hms(2024, 5, 4, 0, 0, 0).single().unwrap_or_default(),
            records,
            boundary_times: Vec::new(),
            bursts: Vec::new(),
            activity_page_size: 7,
            graph_page_cap: 8,
            arm_list_page_size: 1,
            graph_rate: None,
            faults: Vec::new(),
        }
    }
}

impl FakeConfig {
    /// Accepts the certificate of a PEM file holding it and its RSA key (PKCS#8 or PKCS#1).
    pub fn with_certificate_pem(mut self, pem: &[u8]) -> Result<FakeConfig, String> {
        use rustls_pki_types::pem::{PemObject, SectionKind};
        let mut cert = None;
        let mut public = None;
        for s in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
            let (kind, der) = s.map_err(|e| e.to_string())?;
            let key = match kind {
                SectionKind::Certificate if cert.is_none() => {
                    cert = Some(der);
                    continue;
                }
                SectionKind::PrivateKey => ring::rsa::KeyPair::from_pkcs8(&der).map_err(|e| e.to_string())?,
                SectionKind::RsaPrivateKey => ring::rsa::KeyPair::from_der(&der).map_err(|e| e.to_string())?,
                _ => continue,
            };
            public = Some(ring::signature::KeyPair::public_key(&key).as_ref().to_vec());
        }
        let cert = cert.ok_or("no certificate")?;
        self.certificate = Some((sha2::Sha256::digest(&cert).to_vec(), public.ok_or("no key")?));
        Ok(self)
    }
}

/// What the server saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FakeStats {
    /// All requests.
    pub requests: u64,
    /// Token endpoint, IMDS and App Service requests.
    pub token_requests: u64,
    /// ARM requests.
    pub arm_requests: u64,
    /// Graph requests.
    pub graph_requests: u64,
    /// 429 answers (limiter and injected).
    pub throttled: u64,
    /// 429 answers of the Graph limiter alone.
    pub limiter_throttled: u64,
    /// 401 answers.
    pub unauthorized: u64,
    /// Faults injected.
    pub faults: u64,
    /// Requests per route kind (`signIns`, `activity`, `token`…).
    pub by_route: BTreeMap<String, u64>,
}

struct Inner {
    cfg: FakeConfig,
    base_url: String,
    data: Dataset,
    faults: Mutex<Vec<(Fault, u32)>>,
    tokens: Mutex<HashMap<String, String>>,
    stats: Mutex<FakeStats>,
    graph_window: Mutex<VecDeque<Instant>>,
    graph_times: Mutex<Vec<Instant>>,
    seq: AtomicU64,
}

/// A running fake; stops when dropped.
pub struct FakeTenant {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    inner: Arc<Inner>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FakeTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTenant").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl Drop for FakeTenant {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeTenant {
    /// Generates the tenant and starts serving on an ephemeral loopback port.
    pub fn start(cfg: FakeConfig) -> std::io::Result<FakeTenant> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let data = generate(&cfg);
        let faults = cfg.faults.iter().cloned().map(|f| (f, 0)).collect();
        let inner = Arc::new(Inner {
            cfg,
            base_url: base_url.clone(),
            data,
            faults: Mutex::new(faults),
            tokens: Mutex::new(HashMap::new()),
            stats: Mutex::new(FakeStats::default()),
            graph_window: Mutex::new(VecDeque::new()),
            graph_times: Mutex::new(Vec::new()),
            seq: AtomicU64::new(1),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (i2, s2) = (inner.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = conn {
                    let i3 = i2.clone();
                    let s3 = s2.clone();
                    std::thread::spawn(move || serve(stream, &i3, &s3));
                }
            }
        });
        Ok(FakeTenant { base_url, inner, stop, addr, thread: Some(thread) })
    }

    /// Every endpoint at this fake, with the public cloud's audiences.
    pub fn endpoints(&self) -> Endpoints {
        Endpoints::all_at(&self.base_url)
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &FakeConfig {
        &self.inner.cfg
    }

    /// The token endpoint URL of the tenant.
    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.base_url, self.inner.cfg.tenant)
    }

    /// The App Service identity endpoint (`IDENTITY_ENDPOINT`).
    pub fn identity_endpoint(&self) -> String {
        format!("{}/msi/token", self.base_url)
    }

    /// What the server saw so far.
    pub fn stats(&self) -> FakeStats {
        lock(&self.inner.stats).clone()
    }

    /// Arrival times of the Graph identity-report requests.
    pub fn graph_request_times(&self) -> Vec<Instant> {
        lock(&self.inner.graph_times).clone()
    }

    /// Replaces the faults (counters restart).
    pub fn set_faults(&self, faults: Vec<Fault>) {
        *lock(&self.inner.faults) = faults.into_iter().map(|f| (f, 0)).collect();
    }

    /// Forgets every issued token: the next ARM or Graph request with one gets 401.
    pub fn revoke_tokens(&self) {
        lock(&self.inner.tokens).clear();
    }

    /// Tokens issued and still valid (for secret scans).
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.inner.tokens).keys().cloned().collect()
    }

    /// The generated records of `source` in `scope` (`None`: every scope), newest first.
    pub fn records(&self, source: Source, scope: Option<&str>) -> Vec<&FakeRecord> {
        self.inner
            .data
            .iter()
            .filter(|((s, sc), _)| *s == source && scope.is_none_or(|x| sc == x || sc.starts_with(&format!("{x}/"))))
            .flat_map(|(_, v)| v.iter())
            .collect()
    }

    /// The ids a collection of `[since, until)` must return for `source` (in `scope`, or all).
    /// Network resources have no time and are all expected.
    pub fn expected_ids(
        &self,
        source: Source,
        scope: Option<&str>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> BTreeSet<String> {
        self.records(source, scope)
            .into_iter()
            .filter(|r| r.time.is_none_or(|t| t >= since && t < until))
            .map(|r| r.id.clone())
            .collect()
    }
}

fn generate(cfg: &FakeConfig) -> Dataset {
    let mut d = Dataset::new();
    let n = |s: Source| cfg.records.get(&s).copied().unwrap_or(0);
    for (k, sub) in cfg.subscriptions.iter().enumerate() {
        let k = k as u32 + 1;
        let mut times = data::spread(cfg.start, cfg.end, n(Source::Activity));
        times.extend(cfg.boundary_times.iter().copied());
        for (s, a, b, m) in &cfg.bursts {
            if *s == Source::Activity {
                times.extend(data::spread(*a, *b, *m));
            }
        }
        let recs =
            times.into_iter().enumerate().map(|(i, t)| data::activity(&cfg.tenant, sub, k, i as u64, t)).collect();
        d.insert((Source::Activity, sub.clone()), recs);
        for (ti, nt) in NETWORK_TYPES.iter().enumerate() {
            let recs = (0..n(Source::Network) as u64).map(|i| data::network(sub, k, ti, i)).collect();
            d.insert((Source::Network, format!("{sub}/{}", nt.name)), recs);
        }
    }
    for s in Source::ALL.into_iter().filter(|s| s.is_graph()) {
        let mut times = data::spread(cfg.start, cfg.end, n(s));
        times.extend(cfg.boundary_times.iter().copied());
        for (bs, a, b, m) in &cfg.bursts {
            if *bs == s {
                times.extend(data::spread(*a, *b, *m));
            }
        }
        let recs = times.into_iter().enumerate().map(|(i, t)| data::graph(s, &cfg.tenant, i as u64, t)).collect();
        d.insert((s, "tenant".into()), recs);
    }
    for v in d.values_mut() {
        // Newest first, as the services list them; ties by id for stable paging.
        v.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.id.cmp(&b.id)));
    }
    d
}

// ---------------------------------------------------------------------------------------------
// HTTP

struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    raw_query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn decoded(&self) -> String {
        let q: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}?{}", self.path, q.join("&"))
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    drop_mid_body: bool,
    delay: Option<Duration>,
}

impl Response {
    fn json(status: u16, v: &serde_json::Value) -> Response {
        Response { status, headers: Vec::new(), body: v.to_string().into_bytes(), drop_mid_body: false, delay: None }
    }

    fn error(status: u16, code: &str, message: &str) -> Response {
        Response::json(
            status,
            &json!({"error": {"code": code, "message": message, "innerError": {"date": Utc::now().to_rfc3339()}}}),
        )
    }

    fn oauth_error(status: u16, error: &str, description: &str) -> Response {
        Response::json(status, &json!({"error": error, "error_description": description, "error_codes": [0]}))
    }
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len.min(1 << 20)];
    r.read_exact(&mut body).ok()?;
    let (path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.clone(), String::new()),
    };
    let query = url::form_urlencoded::parse(raw_query.as_bytes()).into_owned().collect();
    Some(Request { method, path, query, raw_query, headers, body })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn serve(stream: TcpStream, inner: &Inner, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    while !stop.load(Ordering::SeqCst) {
        let Some(req) = read_request(&mut reader) else { return };
        let resp = inner.handle(&req);
        if let Some(d) = resp.delay {
            std::thread::sleep(d);
        }
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n",
            resp.status,
            reason(resp.status),
            resp.body.len()
        );
        for (k, v) in &resp.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let close = resp.drop_mid_body || req.header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close"));
        head.push_str(if close { "Connection: close\r\n\r\n" } else { "Connection: keep-alive\r\n\r\n" });
        let body = if resp.drop_mid_body { &resp.body[..resp.body.len() / 2] } else { &resp.body[..] };
        if writer.write_all(head.as_bytes()).and_then(|_| writer.write_all(body)).and_then(|_| writer.flush()).is_err()
        {
            return;
        }
        if close {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const ARM_AUD: &str = "https://management.azure.com";
const GRAPH_AUD: &str = "https://graph.microsoft.com";

impl Inner {
    fn count(&self, route: &str, f: impl FnOnce(&mut FakeStats)) {
        let mut st = lock(&self.stats);
        st.requests += 1;
        *st.by_route.entry(route.to_string()).or_default() += 1;
        f(&mut st);
    }

    fn handle(&self, req: &Request) -> Response {
        let path = req.path.clone();
        let route = route_name(&path);
        self.count(route, |st| match route {
            "token" | "imds" | "msi" => st.token_requests += 1,
            r if r.starts_with("graph") => st.graph_requests += 1,
            _ => st.arm_requests += 1,
        });
        let resp = self.fault(req).unwrap_or_else(|| self.handle_plain(req));
        let mut st = lock(&self.stats);
        match resp.status {
            429 => st.throttled += 1,
            401 => st.unauthorized += 1,
            _ => {}
        }
        resp
    }

    fn fault(&self, req: &Request) -> Option<Response> {
        let decoded = req.decoded();
        let mut faults = lock(&self.faults);
        let mut hit = None;
        for (f, seen) in faults.iter_mut() {
            if !decoded.contains(&f.matching) {
                continue;
            }
            *seen += 1;
            if *seen > f.skip && (*seen - f.skip) <= f.times {
                hit = Some(f.kind.clone());
                break;
            }
        }
        drop(faults);
        let kind = hit?;
        lock(&self.stats).faults += 1;
        Some(match kind {
            FaultKind::Throttle(ra) => {
                let mut r = Response::error(429, "TooManyRequests", "Too many requests (injected)");
                match ra {
                    RetryAfter::None => {}
                    RetryAfter::Seconds(s) => r.headers.push(("Retry-After".into(), s.to_string())),
                    RetryAfter::HttpDate(s) => {
                        // Whole seconds: round up so the wait is never shorter than asked.
                        let at = Utc::now() + chrono::Duration::seconds(s as i64 + 1);
                        r.headers.push(("Retry-After".into(), at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()))
                    }
                    RetryAfter::Millis(ms) => r.headers.push(("x-ms-retry-after-ms".into(), ms.to_string())),
                }
                r
            }
            FaultKind::Status { status, code, message } => Response::error(status, &code, &message),
            FaultKind::Slow(d) => {
                let mut r = self.handle_plain(req);
                r.delay = Some(d);
                r
            }
            FaultKind::DropMidBody => {
                let mut r = self.handle_plain(req);
                r.drop_mid_body = true;
                r
            }
            FaultKind::RevokeTokens => {
                lock(&self.tokens).clear();
                self.handle_plain(req)
            }
        })
    }

    /// The normal answer, for faults that alter its delivery.
    fn handle_plain(&self, req: &Request) -> Response {
        let route = route_name(&req.path);
        match route {
            "token" => self.token(req),
            "imds" => self.imds(req),
            "msi" => self.app_service(req),
            r if r.starts_with("graph") => self.authorized(req, GRAPH_AUD).unwrap_or_else(|| self.graph(req)),
            "unknown" => Response::error(404, "NotFound", "no such route in the fake"),
            _ => self.authorized(req, ARM_AUD).unwrap_or_else(|| self.arm(req)),
        }
    }

    fn issue(&self, audience: &str) -> (String, u64) {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let nonce = sha2::Sha256::digest(format!("{n}-{audience}-{:?}", Instant::now()));
        let token = format!("fk{n}_{}", crate::output::hex(&nonce[..12]));
        lock(&self.tokens).insert(token.clone(), audience.trim_end_matches('/').to_string());
        (token, self.cfg.token_lifetime.as_secs())
    }

    fn authorized(&self, req: &Request, audience: &str) -> Option<Response> {
        let token = req.header("authorization").and_then(|a| a.strip_prefix("Bearer ")).unwrap_or("");
        let ok = lock(&self.tokens).get(token).is_some_and(|a| a == audience)
            || self.cfg.static_tokens.iter().any(|(t, a)| t == token && a.trim_end_matches('/') == audience);
        if ok {
            None
        } else {
            Some(Response::error(401, "InvalidAuthenticationToken", "The access token is invalid or expired."))
        }
    }

    fn token(&self, req: &Request) -> Response {
        let tenant = req.path.trim_start_matches('/').split('/').next().unwrap_or("");
        if req.method != "POST" {
            return Response::oauth_error(
                405,
                "invalid_request",
                "AADSTS900561: The endpoint only accepts POST requests.",
            );
        }
        if tenant != self.cfg.tenant {
            return Response::oauth_error(
                400,
                "invalid_request",
                &format!("AADSTS90002: Tenant '{tenant}' not found."),
            );
        }
        let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body).into_owned().collect();
        let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        if get("grant_type") != "client_credentials" {
            return Response::oauth_error(400, "unsupported_grant_type", "AADSTS70003: grant type not supported");
        }
        let Some(audience) = get("scope").strip_suffix("/.default") else {
            return Response::oauth_error(
                400,
                "invalid_scope",
                "AADSTS1002012: The provided value for scope is not valid.",
            );
        };
        if get("client_id") != self.cfg.client_id {
            return Response::oauth_error(
                400,
                "unauthorized_client",
                "AADSTS700016: Application not found in the directory.",
            );
        }
        if !get("client_secret").is_empty() {
            if get("client_secret") != self.cfg.client_secret {
                return Response::oauth_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.");
            }
        } else if get("client_assertion_type") == JWT_BEARER {
            let assertion = get("client_assertion");
            let federated = self.cfg.federated_token.as_deref().is_some_and(|f| f == assertion);
            if !federated {
                let url = format!("{}{}", self.base_url, req.path);
                if let Err(m) = self.check_assertion(assertion, &url) {
                    return Response::oauth_error(401, "invalid_client", &format!("AADSTS700027: {m}"));
                }
            }
        } else {
            return Response::oauth_error(
                401,
                "invalid_client",
                "AADSTS7000216: client_assertion or client_secret required.",
            );
        }
        let (token, life) = self.issue(audience);
        Response::json(
            200,
            &json!({"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": token}),
        )
    }

    /// A client assertion: RS256 JWT, `x5t#S256` of the configured certificate, signature by its
    /// key, `aud` the token endpoint, `iss` = `sub` = client id, not expired.
    fn check_assertion(&self, jwt: &str, token_url: &str) -> Result<(), String> {
        let (thumb, public) = self.cfg.certificate.as_ref().ok_or("no certificate registered")?;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let parts: Vec<&str> = jwt.split('.').collect();
        if parts.len() != 3 {
            return Err("the assertion is not a JWT".into());
        }
        let header: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[0]).map_err(|_| "header not base64url")?)
                .map_err(|_| "header not JSON")?;
        let claims: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[1]).map_err(|_| "claims not base64url")?)
                .map_err(|_| "claims not JSON")?;
        if header["alg"] != "RS256" {
            return Err("alg is not RS256".into());
        }
        if header["x5t#S256"].as_str() != Some(&b64.encode(thumb)) {
            return Err("x5t#S256 names another certificate".into());
        }
        if header["x5t"].as_str().is_none_or(|s| s.is_empty()) {
            return Err("no x5t".into());
        }
        let sig = b64.decode(parts[2]).map_err(|_| "signature not base64url")?;
        ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public)
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .map_err(|_| "signature does not verify")?;
        let id = &self.cfg.client_id;
        if claims["aud"].as_str() != Some(token_url) {
            return Err(format!("aud {} is not {token_url}", claims["aud"]));
        }
        if claims["iss"].as_str() != Some(id) || claims["sub"].as_str() != Some(id) {
            return Err("iss/sub are not the client id".into());
        }
        let now = Utc::now().timestamp();
        if claims["exp"].as_i64().is_none_or(|e| e < now) || claims["nbf"].as_i64().is_none_or(|n| n > now + 5) {
            return Err("assertion not valid now".into());
        }
        if claims["jti"].as_str().is_none_or(|j| j.len() < 16) {
            return Err("no jti".into());
        }
        Ok(())
    }

    fn imds(&self, req: &Request) -> Response {
        if req.header("metadata") != Some("true") {
            return Response::oauth_error(400, "invalid_request", "Required metadata header not specified");
        }
        if req.param("api-version") != Some("2018-02-01") {
            return Response::oauth_error(400, "invalid_request", "Invalid api-version");
        }
        let Some(resource) = req.param("resource") else {
            return Response::oauth_error(400, "invalid_request", "Required query variable 'resource' is missing");
        };
        let (token, life) = self.issue(resource);
        let on = Utc::now().timestamp() as u64 + life;
        Response::json(
            200,
            &json!({"access_token": token, "expires_in": life.to_string(), "expires_on": on.to_string(), "resource": resource, "token_type": "Bearer", "client_id": req.param("client_id").unwrap_or("system")}),
        )
    }

    fn app_service(&self, req: &Request) -> Response {
        if req.header("x-identity-header") != Some(self.cfg.identity_header.as_str()) {
            return Response::oauth_error(401, "invalid_request", "X-IDENTITY-HEADER missing or wrong");
        }
        let Some(resource) = req.param("resource") else {
            return Response::oauth_error(400, "invalid_request", "resource missing");
        };
        let (token, life) = self.issue(resource);
        let on = Utc::now().timestamp() as u64 + life;
        Response::json(
            200,
            &json!({"access_token": token, "expires_on": on.to_string(), "resource": resource, "token_type": "Bearer"}),
        )
    }

    fn arm(&self, req: &Request) -> Response {
        let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        let known_sub = |s: &str| self.cfg.subscriptions.iter().any(|x| x.eq_ignore_ascii_case(s));
        match segs.as_slice() {
            ["subscriptions"] => {
                let subs: Vec<serde_json::Value> = self
                    .cfg
                    .subscriptions
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        json!({"id": format!("/subscriptions/{s}"), "authorizationSource": "RoleBased", "subscriptionId": s,
                               "tenantId": self.cfg.tenant, "displayName": format!("Subscription {}", i + 1), "state": "Enabled"})
                    })
                    .collect();
                self.page_arm(req, subs.iter().map(|v| v.to_string()).collect(), self.cfg.arm_list_page_size)
            }
            ["subscriptions", sub, "providers", "Microsoft.Insights", "eventtypes", "management", "values"] => {
                if !known_sub(sub) {
                    return Response::error(
                        404,
                        "SubscriptionNotFound",
                        &format!("The subscription '{sub}' could not be found."),
                    );
                }
                if req.param("api-version") != Some("2015-04-01") {
                    return Response::error(400, "InvalidApiVersionParameter", "api-version 2015-04-01 expected");
                }
                let filter = req.param("$filter").unwrap_or("");
                let range = match parse_filter(filter, "eventTimestamp", true, &["ge", "le"]) {
                    Ok((r, None)) => r,
                    Ok((_, Some(_))) => return Response::error(400, "BadRequest", "unsupported filter clause"),
                    Err(m) => return Response::error(400, "BadRequest", &m),
                };
                if range.lower.is_none() || range.upper.is_none() {
                    return Response::error(400, "BadRequest", "The $filter must contain eventTimestamp ge and le.");
                }
                let recs = self.matching(Source::Activity, &sub.to_ascii_lowercase(), &range);
                self.page_arm(req, recs, self.cfg.activity_page_size)
            }
            ["subscriptions", sub, "providers", ns, typ] => {
                if !known_sub(sub) {
                    return Response::error(
                        404,
                        "SubscriptionNotFound",
                        &format!("The subscription '{sub}' could not be found."),
                    );
                }
                let rt = format!("{ns}/{typ}");
                let Some(nt) = NETWORK_TYPES.iter().find(|n| n.resource_type.eq_ignore_ascii_case(&rt)) else {
                    return Response::error(
                        404,
                        "InvalidResourceType",
                        &format!("The resource type '{typ}' could not be found"),
                    );
                };
                if req.param("api-version").is_none() {
                    return Response::error(400, "MissingApiVersionParameter", "api-version required");
                }
                let key = (Source::Network, format!("{}/{}", sub.to_ascii_lowercase(), nt.name));
                let recs = self.data.get(&key).map(|v| v.iter().map(|r| r.json.clone()).collect()).unwrap_or_default();
                self.page_arm(req, recs, self.cfg.arm_list_page_size)
            }
            _ => Response::error(404, "NotFound", "no such ARM route in the fake"),
        }
    }

    /// An ARM page with a `nextLink` carrying `$skipToken`.
    fn page_arm(&self, req: &Request, recs: Vec<String>, size: usize) -> Response {
        let (page, next) = self.slice(req, "$skipToken", &recs, size.max(1));
        let mut body = format!("{{\"value\":[{}]", page.join(","));
        if let Some(n) = next {
            body.push_str(&format!(",\"nextLink\":{}", json!(n)));
        }
        body.push('}');
        Response { status: 200, headers: Vec::new(), body: body.into_bytes(), drop_mid_body: false, delay: None }
    }

    /// The records of one page and the next link (same query, the skip parameter replaced).
    fn slice<'a>(
        &self,
        req: &Request,
        skip_param: &str,
        recs: &'a [String],
        size: usize,
    ) -> (&'a [String], Option<String>) {
        let offset: usize = req.param(skip_param).and_then(|s| s.parse().ok()).unwrap_or(0).min(recs.len());
        let end = (offset + size).min(recs.len());
        let next = (end < recs.len()).then(|| {
            let kept: Vec<&str> = req
                .raw_query
                .split('&')
                .filter(|p| {
                    !p.is_empty()
                        && !p.to_ascii_lowercase().starts_with(&format!("{}=", skip_param.to_ascii_lowercase()))
                })
                .collect();
            format!("{}{}?{}&{skip_param}={end}", self.base_url, req.path, kept.join("&"))
        });
        (&recs[offset..end], next)
    }

    fn matching(&self, source: Source, scope: &str, range: &Range) -> Vec<String> {
        self.data
            .get(&(source, scope.to_string()))
            .map(|v| v.iter().filter(|r| r.time.is_some_and(|t| range.contains(t))).map(|r| r.json.clone()).collect())
            .unwrap_or_default()
    }

    fn graph(&self, req: &Request) -> Response {
        let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        let (version, rest) = match segs.split_first() {
            Some((v, rest)) if *v == "v1.0" || *v == "beta" => (*v, rest.join("/")),
            _ => return Response::error(404, "BadRequest", "Invalid version"),
        };
        let (field, ops, max_top): (&str, &[&str], usize) = match rest.as_str() {
            "auditLogs/signIns" => ("createdDateTime", &["eq", "ge", "le", "lt", "gt"], 1000),
            "auditLogs/directoryAudits" => ("activityDateTime", &["eq", "ge", "le"], 1000),
            "auditLogs/provisioning" => ("activityDateTime", &["eq", "gt", "lt"], 1000),
            "identityProtection/riskyUsers" => ("riskLastUpdatedDateTime", &["eq", "ge", "le", "gt", "lt"], 500),
            "identityProtection/riskDetections" => ("detectedDateTime", &["eq", "ge", "le", "gt", "lt"], 500),
            _ => {
                return Response::error(
                    404,
                    "ResourceNotFound",
                    &format!("Resource not found for the segment '{rest}'."),
                )
            }
        };
        if let Some(r) = self.graph_limit() {
            return r;
        }
        let filter = req.param("$filter").unwrap_or("");
        let (range, event_type) = match parse_filter(filter, field, false, ops) {
            Ok(x) => x,
            Err(m) => return Response::error(400, "BadRequest", &format!("Invalid filter clause: {m}")),
        };
        let source = match (rest.as_str(), event_type.as_deref()) {
            ("auditLogs/signIns", None) => Source::SignIns,
            ("auditLogs/signIns", Some(_)) if version != "beta" => {
                return Response::error(
                    400,
                    "BadRequest",
                    "Invalid filter clause: signInEventTypes is not supported in v1.0",
                )
            }
            ("auditLogs/signIns", Some("interactiveUser")) => Source::SignIns,
            ("auditLogs/signIns", Some("nonInteractiveUser")) => Source::NonInteractiveSignIns,
            ("auditLogs/signIns", Some("servicePrincipal")) => Source::ServicePrincipalSignIns,
            ("auditLogs/signIns", Some("managedIdentity")) => Source::ManagedIdentitySignIns,
            ("auditLogs/directoryAudits", None) => Source::DirectoryAudits,
            ("auditLogs/provisioning", None) => Source::Provisioning,
            ("identityProtection/riskyUsers", None) => Source::RiskyUsers,
            ("identityProtection/riskDetections", None) => Source::RiskDetections,
            _ => return Response::error(400, "BadRequest", "Invalid filter clause"),
        };
        let top = match req.param("$top").map(str::parse::<usize>) {
            None => 100,
            Some(Ok(t)) if (1..=max_top).contains(&t) => t,
            Some(_) => {
                return Response::error(
                    400,
                    "BadRequest",
                    &format!("Invalid page size specified: $top must be 1 to {max_top}"),
                )
            }
        };
        let recs = self.matching(source, "tenant", &range);
        let (page, next) = self.slice(req, "$skiptoken", &recs, top.min(self.cfg.graph_page_cap.max(1)));
        let mut body = format!(
            "{{\"@odata.context\":\"{}/{version}/$metadata#{rest}\",\"value\":[{}]",
            self.base_url,
            page.join(",")
        );
        if let Some(n) = next {
            body.push_str(&format!(",\"@odata.nextLink\":{}", json!(n)));
        }
        body.push('}');
        Response { status: 200, headers: Vec::new(), body: body.into_bytes(), drop_mid_body: false, delay: None }
    }

    /// The identity-reports limit: N accepted requests per sliding window.
    fn graph_limit(&self) -> Option<Response> {
        let now = Instant::now();
        lock(&self.graph_times).push(now);
        let (n, w) = self.cfg.graph_rate?;
        let mut win = lock(&self.graph_window);
        while win.front().is_some_and(|&t| now.duration_since(t) >= w) {
            win.pop_front();
        }
        if win.len() >= n as usize {
            let oldest = *win.front()?;
            let wait = w.saturating_sub(now.duration_since(oldest));
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            drop(win);
            lock(&self.stats).limiter_throttled += 1;
            let mut r = Response::error(429, "TooManyRequests", "Too many requests. Please retry later.");
            r.headers.push(("Retry-After".into(), secs.max(1).to_string()));
            return Some(r);
        }
        win.push_back(now);
        None
    }
}

fn route_name(path: &str) -> &'static str {
    let p = path.trim_matches('/');
    if p.ends_with("oauth2/v2.0/token") {
        "token"
    } else if p == "metadata/identity/oauth2/token" {
        "imds"
    } else if p == "msi/token" {
        "msi"
    } else if p.starts_with("v1.0/") || p.starts_with("beta/") {
        if p.contains("signIns") {
            "graph-signIns"
        } else {
            "graph"
        }
    } else if p == "subscriptions" {
        "subscriptions"
    } else if p.ends_with("eventtypes/management/values") {
        "activity"
    } else if p.starts_with("subscriptions/") {
        "network"
    } else {
        "unknown"
    }
}

/// A time range from a filter's bounds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Range {
    lower: Option<(DateTime<Utc>, bool)>,
    upper: Option<(DateTime<Utc>, bool)>,
}

impl Range {
    fn contains(&self, t: DateTime<Utc>) -> bool {
        self.lower.is_none_or(|(l, incl)| if incl { t >= l } else { t > l })
            && self.upper.is_none_or(|(u, incl)| if incl { t <= u } else { t < u })
    }
}

/// Parses `field op value [and …]` clauses (and `signInEventTypes/any(t: t eq 'x')`), with
/// quoted or unquoted literals as `quoted` requires and only the operators `ops`.
fn parse_filter(filter: &str, field: &str, quoted: bool, ops: &[&str]) -> Result<(Range, Option<String>), String> {
    let mut range = Range::default();
    let mut event_type = None;
    if filter.trim().is_empty() {
        return Ok((range, None));
    }
    for clause in filter.split(" and ") {
        let c = clause.trim();
        if let Some(rest) = c.strip_prefix("signInEventTypes/any(t: t eq '") {
            event_type = Some(rest.trim_end_matches("')").to_string());
            continue;
        }
        let parts: Vec<&str> = c.split_whitespace().collect();
        let [f, op, v] = parts.as_slice() else { return Err(format!("cannot read clause {c:?}")) };
        if *f != field {
            return Err(format!("unsupported property {f}"));
        }
        if !ops.contains(op) {
            return Err(format!("operator {op} is not supported on {field}"));
        }
        let lit = if quoted {
            v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')).ok_or_else(|| format!("{v} must be quoted"))?
        } else {
            if v.starts_with('\'') {
                return Err(format!("{v}: DateTimeOffset literals are not quoted"));
            }
            v
        };
        let t = parse_record_time(lit).ok_or_else(|| format!("{lit} is not a date-time"))?;
        match *op {
            "ge" => range.lower = Some((t, true)),
            "gt" => range.lower = Some((t, false)),
            "le" => range.upper = Some((t, true)),
            "lt" => range.upper = Some((t, false)),
            _ => {
                range.lower = Some((t, true));
                range.upper = Some((t, true));
            }
        }
    }
    Ok((range, event_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        let (r, e) = parse_filter(
            "createdDateTime ge 2024-05-01T00:00:00Z and createdDateTime le 2024-05-02T00:00:00Z and signInEventTypes/any(t: t eq 'managedIdentity')",
            "createdDateTime",
            false,
            &["ge", "le"],
        )
        .unwrap();
        assert_eq!(e.as_deref(), Some("managedIdentity"));
        assert!(r.contains(Utc.with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap()));
        assert!(
            parse_filter("activityDateTime ge 2024-05-01T00:00:00Z", "activityDateTime", false, &["gt", "lt"]).is_err()
        );
        assert!(parse_filter("eventTimestamp ge 2024-05-01T00:00:00Z", "eventTimestamp", true, &["ge"]).is_err());
        assert!(parse_filter("createdDateTime ge '2024-05-01T00:00:00Z'", "createdDateTime", false, &["ge"]).is_err());
    }
}
