//! Live collection against the loopback fake: the exact set of record ids per source under
//! paging, throttling, server errors, timeouts, dropped connections, 403s, dense windows,
//! boundaries and kill/resume; every credential kind; no secret in the output.

#![cfg(feature = "fake")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azir_azure::auth::ManagedIdentityEndpoint;
use azir_azure::fake::{FakeConfig, FakeTenant, Fault, FaultKind, RetryAfter};
use azir_azure::http::HttpConfig;
use azir_azure::{
    collect, plan, Audience, CollectOptions, CollectReport, Credential, Credentials, LandedFile, Rate, Secret, Sink,
    Source, StaticTokens, WindowRecord, WindowStatus,
};
use chrono::{DateTime, TimeZone, Utc};
use sha2::Digest;

fn day(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, d, 0, 0, 0).unwrap()
}

fn start(cfg: FakeConfig) -> FakeTenant {
    FakeTenant::start(cfg).expect("fake starts")
}

/// Options against `fake`: its whole range, no client-side limits, fast retries.
fn options(fake: &FakeTenant) -> CollectOptions {
    let cfg = fake.config();
    let mut o = CollectOptions::new(cfg.start, cfg.end);
    o.endpoints = fake.endpoints();
    o.tenant = Some(cfg.tenant.clone());
    o.graph_rate = None;
    o.arm_rate = None;
    o.http = HttpConfig {
        timeout: Duration::from_millis(1500),
        connect_timeout: Duration::from_secs(2),
        max_retries: 5,
        max_throttled: 10,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(80),
        retry_after_cap: Duration::from_secs(5),
        ..HttpConfig::default()
    };
    o
}

fn secret_credential(fake: &FakeTenant) -> Credential {
    let cfg = fake.config();
    Credential::ClientSecret {
        tenant: cfg.tenant.clone(),
        client_id: cfg.client_id.clone(),
        secret: Secret::new(cfg.client_secret.clone()),
        authority: None,
    }
}

fn creds(fake: &FakeTenant, c: Credential) -> Arc<Credentials> {
    Arc::new(Credentials::new(c, fake.endpoints()).expect("credential builds"))
}

/// A sink that keeps everything, and can set a cancel flag after `n` landed files.
#[derive(Default)]
struct Recorder {
    landed: Mutex<Vec<LandedFile>>,
    windows: Mutex<Vec<WindowRecord>>,
    warnings: Mutex<Vec<String>>,
    progress: AtomicUsize,
    cancel_after: Option<(usize, Arc<AtomicBool>)>,
}

impl Sink for Recorder {
    fn landed(&self, f: &LandedFile) {
        let mut l = self.landed.lock().unwrap();
        l.push(f.clone());
        if let Some((n, flag)) = &self.cancel_after {
            if l.iter().filter(|f| !f.resumed).count() >= *n {
                flag.store(true, Ordering::SeqCst);
            }
        }
    }
    fn window(&self, r: &WindowRecord) {
        self.windows.lock().unwrap().push(r.clone());
    }
    fn progress(&self, _: Source, _: &str, _: u64, _: u64) {
        self.progress.fetch_add(1, Ordering::Relaxed);
    }
    fn warn(&self, m: &str) {
        self.warnings.lock().unwrap().push(m.to_string());
    }
}

fn run(o: &CollectOptions, c: Arc<Credentials>, out: &Path) -> (CollectReport, Recorder) {
    let rec = Recorder::default();
    let report = collect(o, c, out, &rec).expect("collection runs");
    (report, rec)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Ids in the collected files of `source` and the number of records read (duplicates show as
/// records > ids).
fn collected(out: &Path, source: Source) -> (BTreeSet<String>, usize) {
    let mut ids = BTreeSet::new();
    let mut n = 0;
    for p in files(&out.join(source.as_str())) {
        let text = std::fs::read_to_string(&p).unwrap();
        let records: Vec<serde_json::Value> = if p.extension().is_some_and(|e| e == "jsonl") {
            text.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect()
        } else if p.extension().is_some_and(|e| e == "json") {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            v["value"].as_array().unwrap().clone()
        } else {
            panic!("unexpected file {}", p.display());
        };
        for r in records {
            n += 1;
            let id = r.get("eventDataId").or_else(|| r.get("id")).and_then(|v| v.as_str()).unwrap().to_string();
            ids.insert(id);
        }
    }
    (ids, n)
}

fn assert_exact(fake: &FakeTenant, out: &Path, source: Source, since: DateTime<Utc>, until: DateTime<Utc>) {
    let (ids, n) = collected(out, source);
    let expected = fake.expected_ids(source, None, since, until);
    assert!(!expected.is_empty(), "{source}: the fake has no records in range");
    assert_eq!(n, ids.len(), "{source}: duplicate records");
    let missing: Vec<_> = expected.difference(&ids).collect();
    let extra: Vec<_> = ids.difference(&expected).collect();
    assert!(missing.is_empty() && extra.is_empty(), "{source}: missing {missing:?}, extra {extra:?}");
}

fn assert_all_exact(fake: &FakeTenant, out: &Path, sources: &[Source]) {
    let cfg = fake.config();
    for s in sources {
        assert_exact(fake, out, *s, cfg.start, cfg.end);
    }
}

fn statuses(rec: &Recorder, source: Source) -> Vec<WindowStatus> {
    rec.windows.lock().unwrap().iter().filter(|w| w.source == source).map(|w| w.status).collect()
}

#[test]
fn clean_run_collects_every_record_once_with_paging() {
    let fake = start(FakeConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let o = options(&fake);
    let (report, rec) = run(&o, creds(&fake, secret_credential(&fake)), dir.path());
    assert_all_exact(&fake, dir.path(), &Source::ALL);
    assert!(!report.interrupted);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.subscriptions, fake.config().subscriptions);
    // 3 days × (8 Graph sources + 2 subscriptions); 13 network lists × 2 subscriptions.
    let windows = rec.windows.lock().unwrap().clone();
    assert_eq!(windows.iter().filter(|w| w.source != Source::Network).count(), 3 * (8 + 2));
    assert_eq!(windows.iter().filter(|w| w.source == Source::Network).count(), 26);
    assert!(windows.iter().all(|w| w.status == WindowStatus::Complete));
    // Paging happened (Graph pages hold 8, Activity pages 7, ARM lists 1).
    let pages: u64 = windows.iter().map(|w| w.pages).sum();
    assert!(pages >= 2 * windows.len() as u64, "{pages} pages");
    assert!(rec.progress.load(Ordering::Relaxed) as u64 >= pages);
    // Every landed file hashes to what was reported, and the checkpoint lists it.
    let landed = rec.landed.lock().unwrap().clone();
    assert_eq!(landed.len() as u64, report.files);
    let state = std::fs::read_to_string(dir.path().join("collect-state.json")).unwrap();
    for f in &landed {
        let bytes = std::fs::read(&f.path).unwrap();
        assert_eq!(f.sha256, hex(&sha2::Sha256::digest(&bytes)));
        assert_eq!(f.bytes, bytes.len() as u64);
        assert!(state.contains(&f.relative));
        assert!(!f.resumed);
    }
    // The completeness log has one line per window record.
    let log = std::fs::read_to_string(dir.path().join("completeness.jsonl")).unwrap();
    assert_eq!(log.lines().count(), windows.len());
    // Records are the services' bytes: the first line of a sign-in file is a generated record verbatim.
    let f = landed.iter().find(|f| f.source == Source::SignIns).unwrap();
    let first = std::fs::read_to_string(&f.path).unwrap().lines().next().unwrap().to_string();
    assert!(fake.records(Source::SignIns, None).iter().any(|r| r.json == first));
    // Network files are ARM REST list shapes.
    let nsg = dir.path().join(format!("network/{}/networkSecurityGroups.json", fake.config().subscriptions[0]));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(nsg).unwrap()).unwrap();
    assert_eq!(v["value"][0]["type"], "Microsoft.Network/networkSecurityGroups");
    // Tokens: one per audience, cached.
    assert_eq!(report.requests, fake.stats().arm_requests + fake.stats().graph_requests);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn records_on_window_boundaries_are_neither_lost_nor_duplicated() {
    let cfg = FakeConfig {
        boundary_times: vec![
            day(2),
            day(3),
            day(2) + chrono::Duration::hours(6),
            day(4), // exactly `until`: belongs to no collected window
            day(1), // exactly `since`
            day(3) - chrono::Duration::nanoseconds(100),
        ],
        ..FakeConfig::default()
    };
    let fake = start(cfg);
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(&fake);
    o.graph_window = Duration::from_secs(6 * 3600);
    let (report, rec) = run(&o, creds(&fake, secret_credential(&fake)), dir.path());
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let windowed: Vec<Source> = Source::ALL.into_iter().filter(|s| s.is_windowed()).collect();
    assert_all_exact(&fake, dir.path(), &windowed);
    // The overlap the inclusive upper bounds bring back was dropped, and counted.
    let outside: u64 = rec.windows.lock().unwrap().iter().map(|w| w.outside).sum();
    assert!(outside > 0);
    let (ids, _) = collected(dir.path(), Source::DirectoryAudits);
    assert_eq!(ids.len(), 30 + 5, "30 spread + 5 boundary records inside [since, until)");
}

#[test]
fn throttling_with_retry_after_in_seconds_date_and_milliseconds() {
    let cfg = FakeConfig {
        faults: vec![
            Fault::new("auditLogs/signIns", 2, FaultKind::Throttle(RetryAfter::Seconds(1))),
            Fault::new("directoryAudits", 2, FaultKind::Throttle(RetryAfter::HttpDate(1))),
            Fault::new("eventtypes/management", 2, FaultKind::Throttle(RetryAfter::Millis(150))),
            Fault::new("riskDetections", 1, FaultKind::Throttle(RetryAfter::None)),
        ],
        ..FakeConfig::default()
    };
    let fake = start(cfg);
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(&fake);
    o.sources = vec![Source::SignIns, Source::DirectoryAudits, Source::Activity, Source::RiskDetections];
    let t = std::time::Instant::now();
    let (report, rec) = run(&o, creds(&fake, secret_credential(&fake)), dir.path());
    assert_all_exact(&fake, dir.path(), &o.sources);
    assert_eq!(fake.stats().throttled, 7, "{:?}", fake.stats());
    assert_eq!(report.throttled, 7);
    assert_eq!(fake.stats().throttled, 7);
    let per_window: u64 = rec.windows.lock().unwrap().iter().map(|w| w.throttled).sum();
    assert_eq!(per_window, 7);
    // Retry-After was honoured: the two 1-second waits of sign-ins alone take 2 s.
    assert!(t.elapsed() >= Duration::from_secs(2));
    assert!(report.graph_limiter.pauses >= 5, "{:?}", report.graph_limiter);
}

#[test]
fn server_errors_are_retried() {
    let cfg = FakeConfig {
        faults: vec![
            Fault::status("auditLogs/signIns", 2, 500),
            Fault::status("eventtypes/management", 3, 503).after(2),
            Fault::status("Microsoft.Network/virtualNetworks", 2, 502),
            Fault::status("provisioning", 1, 504),
            Fault::status("riskyUsers", 1, 408),
        ],
        ..FakeConfig::default()
    };
    let fake = start(cfg);
    let dir = tempfile::tempdir().unwrap();
    let o = options(&fake);
    let (report, _) = run(&o, creds(&fake, secret_credential(&fake)), dir.path());
    assert_all_exact(&fake, dir.path(), &Source::ALL);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.retries, 9);
}

#[test]
fn timeouts_and_dropped_connections_are_retried() {
    let cfg = FakeConfig {
        faults: vec![
            Fault::new("directoryAudits", 1, FaultKind::Slow(Duration::from_millis(2500))),
            Fault::new("riskDetections", 2, FaultKind::DropMidBody),
            Fault::new("eventtypes/management", 2, FaultKind::DropMidBody).after(1),
            Fault::new("Microsoft.Network/routeTables", 1, FaultKind::DropMidBody),
        ],
        ..FakeConfig::default()
    };
    let fake = start(cfg);
    let dir = tempfile::tempdir().unwrap();
    let o = options(&fake);
    let (report, rec) = run(&o, creds(&fake, secret_credential(&fake)), dir.path());
    assert_all_exact(&fake, dir.path(), &Source::ALL);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(report.retries >= 6, "{}", report.retries);
    // One timeout is below the split threshold: no split.
    assert!(!statuses(&rec, Source::DirectoryAudits).contains(&WindowStatus::Split));
}

#[test]
fn a_forbidden_source_is_recorded_and_the_others_complete() {
    let cfg = FakeConfig {
        faults: vec![
            Fault::non_premium("auditLogs/signIns"),
            Fault::new(
                "Microsoft.Compute",
                u32::MAX,
                FaultKind::Status {
                    status: 403,
                    code: "AuthorizationFailed".into(),
                    message: "The client does not have authorization to perform action 'Microsoft.Compute/disks/read'"
                        .into(),
                },
            ),
        ],
        ..FakeConfig::default()
    };
    let fake = start(cfg);
    let dir = tempfile::tempdir().unwrap();
    let o = options(&fake);
    let (report, rec) = run(&o, creds(&fake, secret_credential(&fake)), dir.path());
    let signins = [
        Source::SignIns,
        Source::NonInteractiveSignIns,
        Source::ServicePrincipalSignIns,
        Source::ManagedIdentitySignIns,
    ];
    for s in signins {
        let recs: Vec<WindowRecord> = rec.windows.lock().unwrap().iter().filter(|w| w.source == s).cloned().collect();
        assert_eq!(recs.len(), 2, "{s}: the refused window and the rest of the range");
        for r in &recs {
            assert_eq!(r.status, WindowStatus::Forbidden);
            assert_eq!(r.http_status, Some(403));
            assert_eq!(r.error_code.as_deref(), Some("Authentication_RequestFromNonPremiumTenantOrB2CTenant"));
            assert!(r.reason.as_deref().unwrap().contains("premium license"));
        }
        assert_eq!(recs[0].end, Some(day(2)));
        assert_eq!((recs[1].start, recs[1].end), (Some(day(2)), Some(day(4))));
        assert!(collected(dir.path(), s).0.is_empty());
    }
    assert_all_exact(
        &fake,
        dir.path(),
        &[Source::DirectoryAudits, Source::Provisioning, Source::RiskyUsers, Source::RiskDetections, Source::Activity],
    );
    // Network: the Compute lists are forbidden, the Network lists complete.
    let net: Vec<WindowRecord> =
        rec.windows.lock().unwrap().iter().filter(|w| w.source == Source::Network).cloned().collect();
    assert_eq!(net.iter().filter(|w| w.status == WindowStatus::Forbidden).count(), 6);
    assert_eq!(net.iter().filter(|w| w.status == WindowStatus::Complete).count(), 20);
    let (ids, _) = collected(dir.path(), Source::Network);
    assert!(ids.iter().all(|i| i.contains("Microsoft.Network")));
    assert_eq!(ids.len(), 2 * 10 * 2);
    assert_eq!(report.failures.len(), 4 * 2 + 6);
}

#[test]
fn a_dense_window_is_split_until_it_fits() {
    let burst = (Source::SignIns, day(2) + chrono::Duration::hours(10), day(2) + chrono::Duration::minutes(610), 200);
    let cfg = FakeConfig { bursts: vec![burst], ..FakeConfig::default() };
    let fake = start(cfg);
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(&fake);
    o.sources = vec![Source::SignIns];
    o.max_pages_per_window = 5;
    let (report, rec) = run(&o, creds(&fake, secret_credential(&fake)), dir.path());
    assert_all_exact(&fake, dir.path(), &[Source::SignIns]);
    assert!(report.failures.is_empty());
    let windows = rec.windows.lock().unwrap().clone();
    let splits: Vec<&WindowRecord> = windows.iter().filter(|w| w.status == WindowStatus::Split).collect();
    assert!(splits.len() >= 5, "{} splits", splits.len());
    assert!(splits.iter().all(|w| w.split_at.is_some() && w.records == 0 && w.pages == 5));
    assert_eq!(splits[0].start, Some(day(2)));
    // Complete windows tile [since, until) exactly.
    let mut complete: Vec<(DateTime<Utc>, DateTime<Utc>)> = windows
        .iter()
        .filter(|w| w.status == WindowStatus::Complete)
        .map(|w| (w.start.unwrap(), w.end.unwrap()))
        .collect();
    complete.sort();
    assert_eq!(complete.first().unwrap().0, day(1));
    assert_eq!(complete.last().unwrap().1, day(4));
    assert!(complete.windows(2).all(|p| p[0].1 == p[1].0));
    // No complete window needed more than the page limit.
    assert!(windows.iter().filter(|w| w.status == WindowStatus::Complete).all(|w| w.pages <= 5));
}

#[test]
fn a_window_that_keeps_timing_out_is_split() {
    let cfg = FakeConfig {
        faults: vec![Fault::new("directoryAudits", 2, FaultKind::Slow(Duration::from_millis(2500)))],
        ..FakeConfig::default()
    };
    let fake = start(cfg);
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(&fake);
    o.sources = vec![Source::DirectoryAudits];
    let (report, rec) = run(&o, creds(&fake, secret_credential(&fake)), dir.path());
    assert_all_exact(&fake, dir.path(), &[Source::DirectoryAudits]);
    assert!(report.failures.is_empty());
    let windows = rec.windows.lock().unwrap().clone();
    let split = windows.iter().find(|w| w.status == WindowStatus::Split).expect("a split");
    assert_eq!((split.start, split.end), (Some(day(1)), Some(day(2))));
    assert!(split.reason.as_deref().unwrap().contains("did not answer in time"), "{:?}", split.reason);
}

#[test]
fn a_killed_collection_resumes_without_gaps_or_duplicates() {
    let fake = start(FakeConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(&fake);
    o.concurrency = 2;
    let c = creds(&fake, secret_credential(&fake));
    // First run: cancelled after 5 files landed.
    let cancel = Arc::new(AtomicBool::new(false));
    o.cancel = cancel.clone();
    let rec = Recorder { cancel_after: Some((5, cancel.clone())), ..Default::default() };
    let first = collect(&o, c.clone(), dir.path(), &rec).unwrap();
    assert!(first.interrupted);
    let landed_first = rec.landed.lock().unwrap().len();
    assert!((5..40).contains(&landed_first), "{landed_first}");
    // What a SIGKILL leaves: a partial window file, and a final file the checkpoint does not know.
    let stale =
        dir.path().join(format!("signins/{}/20240503T000000Z_20240504T000000Z.jsonl.partial", fake.config().tenant));
    std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
    std::fs::write(&stale, "{\"id\":\"half a window\"}\n").unwrap();
    let orphan =
        dir.path().join(format!("provisioning/{}/20240503T000000Z_20240504T000000Z.jsonl", fake.config().tenant));
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, "{\"id\":\"orphan\",\"activityDateTime\":\"2024-05-03T01:00:00Z\"}\n").unwrap();
    // Second run with the same parameters.
    o.cancel = Arc::new(AtomicBool::new(false));
    let (second, rec2) = run(&o, c, dir.path());
    assert!(!second.interrupted);
    assert!(second.removed_partials.iter().any(|p| p.ends_with(".jsonl.partial")));
    assert!(!stale.exists());
    assert_all_exact(&fake, dir.path(), &Source::ALL);
    // The files of the first run were reported again, marked resumed.
    let landed = rec2.landed.lock().unwrap();
    assert_eq!(landed.iter().filter(|f| f.resumed).count(), landed_first);
    // Every window is in the checkpoint exactly once.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("collect-state.json")).unwrap()).unwrap();
    let done = state["done"].as_array().unwrap();
    let mut keys = BTreeSet::new();
    for d in done {
        assert!(keys.insert((
            d["source"].to_string(),
            d["scope"].to_string(),
            d["start"].to_string(),
            d["item"].to_string()
        )));
    }
    assert_eq!(done.len(), 3 * 10 + 26);
}

#[test]
fn a_second_collection_into_a_folder_in_use_is_refused_and_touches_nothing() {
    let fake = start(FakeConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let o = options(&fake);
    let c = creds(&fake, secret_credential(&fake));
    // A run in progress: it holds the lock and has a window file being written.
    let held = azir_azure::output::lock_out(dir.path()).unwrap().expect("free folder");
    let partial = dir.path().join("signins/t/20240503T000000Z_20240504T000000Z.jsonl.partial");
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::write(&partial, "{\"id\":\"being written\"}\n").unwrap();
    let err = collect(&o, c.clone(), dir.path(), &Recorder::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("another `azir collect` is writing to this folder"), "{msg}");
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(partial.exists(), "the running collection's partial file was deleted");
    assert!(!dir.path().join("collect-state.json").exists());
    assert_eq!(fake.stats().requests, 0, "a refused run asked the tenant");
    // Once the first run ends, the folder is free again.
    drop(held);
    let (report, _) = run(&o, c, dir.path());
    assert!(!report.interrupted);
    assert!(!partial.exists(), "a partial file with no run behind it is stale");
}

#[test]
fn a_longer_range_on_resume_only_adds_windows() {
    let fake = start(FakeConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let c = creds(&fake, secret_credential(&fake));
    let mut o = options(&fake);
    o.sources = vec![Source::DirectoryAudits, Source::Activity];
    o.until = day(2);
    let (first, _) = run(&o, c.clone(), dir.path());
    assert_eq!(first.sources.iter().map(|s| s.complete).sum::<u64>(), 3);
    o.until = day(4);
    let (second, rec) = run(&o, c, dir.path());
    assert_eq!(second.sources.iter().map(|s| s.complete).sum::<u64>(), 6);
    assert_eq!(second.sources.iter().map(|s| s.resumed).sum::<u64>(), 3);
    assert!(rec.windows.lock().unwrap().iter().all(|w| w.start.unwrap() >= day(2)));
    assert_all_exact(&fake, dir.path(), &o.sources);
}

#[test]
fn the_client_limiter_avoids_every_429_of_a_sliding_window_server() {
    let rate = (5, Duration::from_millis(300));
    let cfg = FakeConfig { graph_rate: Some(rate), graph_page_cap: 10, ..FakeConfig::default() };
    let fake = start(cfg);
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(&fake);
    o.sources = Source::ALL.into_iter().filter(|s| s.is_graph()).collect();
    o.graph_rate = Some(Rate::new(rate.0, rate.1));
    o.graph_rate_margin = Duration::from_millis(15);
    let (report, _) = run(&o, creds(&fake, secret_credential(&fake)), dir.path());
    assert_all_exact(&fake, dir.path(), &o.sources);
    assert_eq!(fake.stats().limiter_throttled, 0);
    assert_eq!(report.throttled, 0);
    let times = fake.graph_request_times();
    assert!(times.len() >= 30, "{}", times.len());
    for w in times.windows(6) {
        assert!(w[5] - w[0] >= rate.1, "6 requests within {:?}", w[5] - w[0]);
    }
}

#[test]
fn without_the_limiter_the_server_throttles_and_nothing_is_lost() {
    let cfg = FakeConfig { graph_rate: Some((5, Duration::from_millis(300))), ..FakeConfig::default() };
    let fake = start(cfg);
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(&fake);
    o.sources = vec![Source::SignIns, Source::DirectoryAudits];
    o.http.max_throttled = 20;
    let (report, _) = run(&o, creds(&fake, secret_credential(&fake)), dir.path());
    assert_all_exact(&fake, dir.path(), &o.sources);
    assert!(fake.stats().limiter_throttled > 0);
    assert_eq!(report.throttled, fake.stats().limiter_throttled);
}

#[test]
fn plan_counts_windows_and_subtracts_the_checkpoint() {
    let fake = start(FakeConfig::default());
    let c = creds(&fake, secret_credential(&fake));
    let o = options(&fake);
    let p = plan(&o, c.clone(), None).unwrap();
    assert_eq!(p.subscriptions.len(), 2);
    assert_eq!(p.entries.len(), 8 + 2 + 2);
    for e in &p.entries {
        let expected = if e.source == Source::Network { 13 } else { 3 };
        assert_eq!((e.windows, e.done, e.min_requests), (expected, 0, expected), "{e:?}");
        assert!(!e.query.contains(&fake.config().client_secret));
    }
    assert!(p.graph_min_seconds == 0.0);
    let dir = tempfile::tempdir().unwrap();
    run(&o, c.clone(), dir.path());
    let mut o2 = o.clone();
    o2.graph_rate = Some(Rate::graph_reports());
    o2.until = day(5);
    let p = plan(&o2, c, Some(dir.path())).unwrap();
    for e in &p.entries {
        if e.source == Source::Network {
            assert_eq!((e.windows, e.done), (0, 13));
        } else {
            // until is clamped to now: 2024-05-04 onwards is one window per day more than the data.
            assert_eq!(e.done, 3, "{e:?}");
            assert_eq!(e.windows, 1);
        }
    }
    assert!((p.graph_min_seconds - 8.0 * 2.0).abs() < 1e-9);
}

// --- credentials -----------------------------------------------------------------------------

fn tokens_work(c: &Credentials) {
    let arm = c.token(Audience::Arm).expect("ARM token");
    let graph = c.token(Audience::Graph).expect("Graph token");
    assert_ne!(arm.expose(), graph.expose());
    assert_eq!(c.token(Audience::Arm).unwrap(), arm, "cached");
}

/// One small collection (audit log + one subscription's Activity Log) with `c`.
fn collect_with(fake: &FakeTenant, c: Arc<Credentials>) {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(fake);
    o.sources = vec![Source::DirectoryAudits, Source::Activity];
    let (report, _) = run(&o, c, dir.path());
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_all_exact(fake, dir.path(), &o.sources);
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

#[test]
fn client_secret_and_its_errors() {
    let fake = start(FakeConfig::default());
    let c = creds(&fake, secret_credential(&fake));
    tokens_work(&c);
    assert_eq!(c.fetches(), 2);
    collect_with(&fake, c);
    // A wrong secret: every source fails with the service's code, and the secret is nowhere.
    let cfg = fake.config();
    let bad = Credential::ClientSecret {
        tenant: cfg.tenant.clone(),
        client_id: cfg.client_id.clone(),
        secret: Secret::new("wrong-Secret-123"),
        authority: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let (report, _) = run(&options(&fake), creds(&fake, bad), dir.path());
    assert!(!report.failures.is_empty());
    assert!(report.failures.iter().all(|f| f.status == WindowStatus::Failed));
    let graph_failure = report.failures.iter().find(|f| f.source == Source::SignIns).unwrap();
    assert!(graph_failure.reason.as_deref().unwrap().contains("AADSTS7000215"), "{graph_failure:?}");
    assert_eq!(graph_failure.error_code.as_deref(), Some("invalid_client"));
    assert_no_secret(dir.path(), &["wrong-Secret-123"]);
}

#[test]
fn client_certificate_pkcs8_and_pkcs1() {
    for file in ["test-only-client-pkcs8.pem", "test-only-client-pkcs1.pem"] {
        let pem = std::fs::read(data(file)).unwrap();
        let fake = start(FakeConfig::default().with_certificate_pem(&pem).unwrap());
        let cfg = fake.config();
        let cert = Credential::ClientCertificate {
            tenant: cfg.tenant.clone(),
            client_id: cfg.client_id.clone(),
            path: data(file),
            authority: None,
        };
        let c = creds(&fake, cert);
        tokens_work(&c);
        collect_with(&fake, c);
    }
    // A certificate the tenant does not know is refused.
    let fake = start(FakeConfig::default());
    let cfg = fake.config();
    let cert = Credential::ClientCertificate {
        tenant: cfg.tenant.clone(),
        client_id: cfg.client_id.clone(),
        path: data("test-only-client-pkcs8.pem"),
        authority: None,
    };
    let err = creds(&fake, cert).token(Audience::Arm).unwrap_err().to_string();
    assert!(err.contains("AADSTS700027"), "{err}");
    // Files that are not usable are reported when the credential is built.
    let dir = tempfile::tempdir().unwrap();
    let only_cert = dir.path().join("c.pem");
    let text = std::fs::read_to_string(data("test-only-client-pkcs1.pem")).unwrap();
    std::fs::write(&only_cert, &text[..text.find("-----BEGIN RSA").unwrap()]).unwrap();
    let e = Credentials::new(
        Credential::ClientCertificate { tenant: "t".into(), client_id: "c".into(), path: only_cert, authority: None },
        fake.endpoints(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("no private key"), "{e}");
}

#[test]
fn managed_identity_through_imds_and_app_service() {
    let fake = start(FakeConfig::default());
    let imds = Credential::ManagedIdentity {
        client_id: Some("user-assigned-id".into()),
        endpoint: ManagedIdentityEndpoint::Imds,
    };
    let c = creds(&fake, imds);
    tokens_work(&c);
    collect_with(&fake, c);

    let vars: BTreeMap<&str, String> =
        [("IDENTITY_ENDPOINT", fake.identity_endpoint()), ("IDENTITY_HEADER", fake.config().identity_header.clone())]
            .into_iter()
            .collect();
    let env = |k: &str| vars.get(k).cloned();
    let app = Credential::managed_identity(&env, None);
    assert!(matches!(&app, Credential::ManagedIdentity { endpoint: ManagedIdentityEndpoint::AppService { .. }, .. }));
    let c = creds(&fake, app);
    tokens_work(&c);
    collect_with(&fake, c);

    let wrong: BTreeMap<&str, String> =
        [("IDENTITY_ENDPOINT", fake.identity_endpoint()), ("IDENTITY_HEADER", "nope".into())].into_iter().collect();
    let env = |k: &str| wrong.get(k).cloned();
    let e = creds(&fake, Credential::managed_identity(&env, None)).token(Audience::Arm).unwrap_err();
    assert!(e.to_string().contains("X-IDENTITY-HEADER"), "{e}");
    assert!(!e.to_string().contains("nope"));
}

#[cfg(unix)]
fn stub_az(dir: &Path, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("az");
    std::fs::write(&p, script).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[cfg(unix)]
#[test]
fn azure_cli_from_path() {
    let cfg = FakeConfig {
        static_tokens: vec![
            ("cli-token-for-arm".into(), "https://management.azure.com".into()),
            ("cli-token-for-graph".into(), "https://graph.microsoft.com".into()),
        ],
        ..FakeConfig::default()
    };
    let fake = start(cfg);
    let bin = tempfile::tempdir().unwrap();
    let exp = Utc::now().timestamp() + 3600;
    stub_az(
        bin.path(),
        &format!(
            r#"#!/bin/sh
[ "$1 $2 $3" = "account get-access-token --resource" ] || {{ echo "ERROR: unexpected arguments $*" >&2; exit 2; }}
[ "$5 $6" = "--output json" ] || {{ echo "ERROR: unexpected output $*" >&2; exit 2; }}
case "$4" in
  https://management.azure.com) t=cli-token-for-arm ;;
  https://graph.microsoft.com) t=cli-token-for-graph ;;
  *) echo "ERROR: unknown resource $4" >&2; exit 1 ;;
esac
printf '{{"accessToken": "%s", "expiresOn": "2099-01-01 00:00:00.000000", "expires_on": {exp}, "subscription": "x", "tenant": "y", "tokenType": "Bearer"}}\n' "$t"
"#
        ),
    );
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let cli = Credential::azure_cli(Some(&path), None);
    match &cli {
        Credential::AzureCli { program, .. } => assert_eq!(program, &bin.path().join("az")),
        other => panic!("{other:?}"),
    }
    let c = creds(&fake, cli);
    tokens_work(&c);
    collect_with(&fake, c);

    // Not logged in: the CLI's message comes through.
    let bin2 = tempfile::tempdir().unwrap();
    stub_az(bin2.path(), "#!/bin/sh\necho \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n");
    let path2 = bin2.path().display().to_string();
    let e = creds(&fake, Credential::azure_cli(Some(&path2), None)).token(Audience::Arm).unwrap_err();
    assert!(e.to_string().contains("az login"), "{e}");
}

#[test]
fn workload_identity_with_a_federated_token_file() {
    let cfg = FakeConfig { federated_token: Some("federated.assertion.from-kubelet".into()), ..FakeConfig::default() };
    let fake = start(cfg);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "federated.assertion.from-kubelet\n").unwrap();
    let vars: BTreeMap<&str, String> = [
        ("AZURE_FEDERATED_TOKEN_FILE", file.display().to_string()),
        ("AZURE_CLIENT_ID", fake.config().client_id.clone()),
        ("AZURE_TENANT_ID", fake.config().tenant.clone()),
        ("AZURE_AUTHORITY_HOST", fake.base_url.clone()),
    ]
    .into_iter()
    .collect();
    let env = |k: &str| vars.get(k).cloned();
    let wi = Credential::workload_identity(&env).expect("configured");
    // Point the cloud's authority elsewhere: AZURE_AUTHORITY_HOST must win.
    let mut ep = fake.endpoints();
    ep.authority = "http://127.0.0.1:9".into();
    let c = Arc::new(Credentials::new(wi, ep).unwrap());
    tokens_work(&c);
    collect_with(&fake, c);
    // A rotated (wrong) token is re-read and refused.
    std::fs::write(&file, "stale").unwrap();
    let c = creds(&fake, Credential::workload_identity(&env).unwrap());
    assert!(c.token(Audience::Arm).is_err());
}

#[test]
fn supplied_tokens_raw_and_per_audience() {
    let cfg = FakeConfig {
        static_tokens: vec![
            ("one-token".into(), "https://management.azure.com".into()),
            ("one-token".into(), "https://graph.microsoft.com".into()),
            ("arm-token".into(), "https://management.azure.com".into()),
            ("graph-token".into(), "https://graph.microsoft.com".into()),
        ],
        ..FakeConfig::default()
    };
    let fake = start(cfg);
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::write(&raw, "one-token\n").unwrap();
    collect_with(&fake, creds(&fake, Credential::Static(StaticTokens::from_file(&raw).unwrap())));
    let per = dir.path().join("per.json");
    std::fs::write(&per, r#"{"arm":"arm-token","graph":"graph-token"}"#).unwrap();
    let c = creds(&fake, Credential::Static(StaticTokens::from_file(&per).unwrap()));
    collect_with(&fake, c.clone());
    assert!(c.token(Audience::Storage).unwrap_err().to_string().contains("no storage token"));
    // A rejected supplied token cannot be refreshed: the window fails with the 401.
    let bad = creds(&fake, Credential::Static(StaticTokens::single(Secret::new("expired-token"))));
    let out = tempfile::tempdir().unwrap();
    let mut o = options(&fake);
    o.sources = vec![Source::DirectoryAudits];
    let (report, _) = run(&o, bad, out.path());
    assert_eq!(report.failures[0].http_status, Some(401));
    assert_no_secret(out.path(), &["expired-token"]);
}

#[test]
fn the_default_chain_picks_environment_then_managed_identity() {
    let fake = start(FakeConfig::default());
    let cfg = fake.config();
    let vars: BTreeMap<&str, String> = [
        ("AZURE_TENANT_ID", cfg.tenant.clone()),
        ("AZURE_CLIENT_ID", cfg.client_id.clone()),
        ("AZURE_CLIENT_SECRET", cfg.client_secret.clone()),
        ("AZURE_AUTHORITY_HOST", fake.base_url.clone()),
        ("PATH", "/nonexistent".into()),
    ]
    .into_iter()
    .collect();
    let env = |k: &str| vars.get(k).cloned();
    let c = creds(&fake, Credential::from_environment(&env));
    tokens_work(&c);
    assert!(c.describe().starts_with("client secret"), "{}", c.describe());
    assert_eq!(c.tenant().as_deref(), Some(cfg.tenant.as_str()));

    // Nothing in the environment: IMDS (the fake) answers.
    let none: BTreeMap<&str, String> = [("PATH", "/nonexistent".to_string())].into_iter().collect();
    let env = |k: &str| none.get(k).cloned();
    let c = creds(&fake, Credential::from_environment(&env));
    tokens_work(&c);
    assert!(c.describe().starts_with("managed identity"), "{}", c.describe());

    // IMDS unreachable and no az: the error lists every kind tried.
    let mut ep = fake.endpoints();
    ep.imds = "http://127.0.0.1:9".into();
    let c = Credentials::new(Credential::from_environment(&env), ep).unwrap();
    let e = c.token(Audience::Arm).unwrap_err().to_string();
    assert!(e.contains("managed identity") && e.contains("Azure CLI"), "{e}");
}

#[test]
fn tokens_are_refreshed_after_a_401_and_before_expiry() {
    // Tokens are revoked in the middle of the run: the 401 triggers one refresh.
    let cfg = FakeConfig {
        faults: vec![Fault::new("directoryAudits", 1, FaultKind::RevokeTokens).after(2)],
        ..FakeConfig::default()
    };
    let fake = start(cfg);
    let c = creds(&fake, secret_credential(&fake));
    collect_with(&fake, c.clone());
    assert!(c.fetches() >= 3, "{}", c.fetches());
    assert!(fake.stats().unauthorized >= 1);

    // Tokens living less than the refresh margin are fetched again at every use.
    let fake = start(FakeConfig { token_lifetime: Duration::from_secs(120), ..FakeConfig::default() });
    let c = creds(&fake, secret_credential(&fake));
    c.token(Audience::Arm).unwrap();
    c.token(Audience::Arm).unwrap();
    assert_eq!(c.fetches(), 2);
}

fn assert_no_secret(dir: &Path, secrets: &[&str]) {
    for p in files(dir) {
        let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).to_string();
        for s in secrets {
            assert!(!text.contains(s), "{} contains a secret", p.display());
        }
    }
}

#[test]
fn no_secret_or_token_reaches_the_output() {
    let cfg = FakeConfig {
        faults: vec![Fault::status("riskyUsers", 1, 503), Fault::non_premium("provisioning")],
        ..FakeConfig::default()
    };
    let fake = start(cfg);
    let dir = tempfile::tempdir().unwrap();
    let c = creds(&fake, secret_credential(&fake));
    let (report, rec) = run(&options(&fake), c, dir.path());
    let mut secrets: Vec<String> = fake.issued_tokens();
    assert!(!secrets.is_empty());
    secrets.push(fake.config().client_secret.clone());
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_secret(dir.path(), &refs);
    let text = format!("{report:?} {:?} {:?}", rec.windows.lock().unwrap(), rec.warnings.lock().unwrap());
    for s in &refs {
        assert!(!text.contains(s));
    }
}
