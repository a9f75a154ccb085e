//! Collection throughput against the loopback fake.
//!
//! 1. Graph sign-ins under the identity-reports limit (5 requests per 10 s, sliding window,
//!    enforced by the fake with 429 + Retry-After), 1,000-record pages: the theoretical maximum
//!    is 500 records/s. Prints the steady-state rate (the records of the first k requests, k a
//!    multiple of 5, over the time from the first to the k-th request's arrival at the server:
//!    exactly 500/s for a perfect client), its share of the maximum, and the 429s.
//! 2. The Activity Log with no limit, 1,000-record pages, 4 threads over subscriptions.
//!
//! `cargo run --release -p azir-azure --features fake --example collect_bench -- [GRAPH_SECONDS] [ACTIVITY_RECORDS]`
//! (`bench/collect_graph.sh` runs it).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use azir_azure::fake::{FakeConfig, FakeTenant};
use azir_azure::{collect, CollectOptions, Credential, Credentials, NullSink, Rate, Secret, Source};

fn credentials(fake: &FakeTenant) -> Arc<Credentials> {
    let cfg = fake.config();
    let c = Credential::ClientSecret {
        tenant: cfg.tenant.clone(),
        client_id: cfg.client_id.clone(),
        secret: Secret::new(cfg.client_secret.clone()),
        authority: None,
    };
    Arc::new(Credentials::new(c, fake.endpoints()).expect("credential"))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let graph_seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(40);
    let activity_records: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);

    // --- Graph under 5 requests / 10 s -------------------------------------------------------
    let window = Duration::from_secs(10);
    let requests = 5 * (graph_seconds / 10 + 1) as usize;
    let per_source = requests / 2 * 1000;
    let mut records = BTreeMap::new();
    records.insert(Source::SignIns, per_source);
    records.insert(Source::NonInteractiveSignIns, per_source);
    let cfg = FakeConfig {
        records,
        graph_rate: Some((5, window)),
        graph_page_cap: 1000,
        subscriptions: Vec::new(),
        ..FakeConfig::default()
    };
    let fake = FakeTenant::start(cfg).expect("fake");
    let mut o = CollectOptions::new(fake.config().start, fake.config().end);
    o.endpoints = fake.endpoints();
    o.tenant = Some(fake.config().tenant.clone());
    o.sources = vec![Source::SignIns, Source::NonInteractiveSignIns];
    o.graph_window = Duration::from_secs(30 * 86_400);
    o.max_pages_per_window = 10_000;
    o.graph_rate = Some(Rate::graph_reports());
    o.concurrency = 4;
    let out = std::env::temp_dir().join(format!("azir-collect-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let t0 = Instant::now();
    let report = collect(&o, credentials(&fake), &out.join("graph"), &NullSink).expect("collect");
    let elapsed = t0.elapsed().as_secs_f64();
    let times = fake.graph_request_times();
    let n = times.len();
    // Steady state: the requests of whole windows, [0, k) with k a multiple of 5, over the time
    // from the first request to the k-th (exactly 500/s for a perfect client; the initial burst
    // of 5 does not inflate it).
    let k = 5 * ((n.max(1) - 1) / 5);
    let steady = if k > 0 { (k * 1000) as f64 / (times[k] - times[0]).as_secs_f64() } else { f64::NAN };
    let stats = fake.stats();
    println!(
        "graph: records={} requests={} elapsed_s={elapsed:.1} records_per_s={:.0} steady_records_per_s={steady:.0} \
         pct_of_500={:.1} http_429={} client_pauses_after_429={} limiter_wait_s={:.1}",
        report.records,
        n,
        report.records as f64 / elapsed,
        steady / 5.0,
        stats.limiter_throttled,
        report.graph_limiter.pauses,
        report.graph_limiter.waited.as_secs_f64() / o.concurrency as f64,
    );
    drop(fake);

    // --- Activity Log, unlimited --------------------------------------------------------------
    let mut records = BTreeMap::new();
    records.insert(Source::Activity, activity_records / 2);
    let cfg = FakeConfig { records, activity_page_size: 1000, ..FakeConfig::default() };
    let fake = FakeTenant::start(cfg).expect("fake");
    let mut o = CollectOptions::new(fake.config().start, fake.config().end);
    o.endpoints = fake.endpoints();
    o.sources = vec![Source::Activity];
    o.arm_rate = None;
    o.activity_window = Duration::from_secs(3600);
    o.max_pages_per_window = 10_000;
    o.concurrency = 4;
    let t0 = Instant::now();
    let report = collect(&o, credentials(&fake), &out.join("activity"), &NullSink).expect("collect");
    let elapsed = t0.elapsed().as_secs_f64();
    let bytes: u64 = report.sources.iter().map(|s| s.bytes).sum();
    println!(
        "activity: records={} requests={} windows={} elapsed_s={elapsed:.2} records_per_s={:.0} MB_per_s={:.1}",
        report.records,
        report.requests,
        report.sources.iter().map(|s| s.complete).sum::<u64>(),
        report.records as f64 / elapsed,
        bytes as f64 / 1e6 / elapsed,
    );
    let _ = std::fs::remove_dir_all(&out);
}
