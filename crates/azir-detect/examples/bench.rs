//! Throughput of the engine: `cargo run --release --example bench -- EVENTS.jsonl [RULES_DIR...]`.
//!
//! EVENTS.jsonl is `azir timeline --format jsonl` output (every normalized column plus `raw`, as
//! `azir hunt` reads them from the case). The built-in pack
//! and every rule under the given folders are loaded; the events are hunted `AZIR_BENCH_ROUNDS`
//! times (default 20). Prints events/s for the whole hunt and for parsing `raw` alone, so the
//! share of evaluation is visible, on one thread and then on every core (one hunter per worker,
//! merged, as `azir hunt` does; `AZIR_BENCH_THREADS` sets how many).

// The allocator the `azir` binary hunts with (crates/azir/src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use azir_detect::fields::Doc;
use azir_detect::RuleSetBuilder;
use azir_model::Event;
use serde_json::Value;
use std::path::Path;
use std::time::Instant;

fn walk(p: &Path, b: &mut RuleSetBuilder) {
    if p.is_file() {
        b.add(&p.display().to_string(), &std::fs::read_to_string(p).expect("rule file"));
        return;
    }
    let mut entries: Vec<_> =
        std::fs::read_dir(p).expect("rules dir").filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for e in entries {
        if e.is_dir() || e.extension().is_some_and(|x| x == "yml") {
            walk(&e, b);
        }
    }
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(|x| x.as_str()).map(str::to_string)
}

fn i(v: &Value, k: &str) -> Option<i32> {
    v.get(k).and_then(Value::as_i64).and_then(|x| i32::try_from(x).ok())
}

/// Events a worker takes at a time in the threaded phase.
const BLOCK: usize = 512;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(events_path) = args.first() else {
        eprintln!("usage: bench EVENTS.jsonl [RULES_DIR...]");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(events_path).expect("events file");
    let events: Vec<Event> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| Event {
            time: azir_model::parse_time(v["datetime"].as_str().unwrap_or_default()).unwrap_or(0),
            source: s(&v, "source").unwrap_or_default(),
            source_format: s(&v, "source_format").unwrap_or_default(),
            operation: s(&v, "Operation"),
            result: s(&v, "EventResult"),
            result_details: s(&v, "EventResultDetails"),
            actor_username: s(&v, "ActorUsername"),
            src_ip: s(&v, "SrcIpAddr"),
            target_resource_id: s(&v, "TargetResourceId"),
            user_agent: s(&v, "HttpUserAgent"),
            event_type: s(&v, "EventType"),
            category: s(&v, "Category"),
            actor_user_id: s(&v, "ActorUserId"),
            actor_app_id: s(&v, "ActorAppId"),
            actor_app_name: s(&v, "ActorAppName"),
            dst_ip: s(&v, "DstIpAddr"),
            src_port: i(&v, "SrcPortNumber"),
            dst_port: i(&v, "DstPortNumber"),
            protocol: s(&v, "NetworkProtocol"),
            target_username: s(&v, "TargetUsername"),
            target_app_name: s(&v, "TargetAppName"),
            http_method: s(&v, "HttpRequestMethod"),
            http_status: i(&v, "HttpStatusCode"),
            url: s(&v, "Url"),
            country: s(&v, "SrcGeoCountry"),
            city: s(&v, "SrcGeoCity"),
            correlation_id: s(&v, "CorrelationId"),
            tenant_id: s(&v, "TenantId"),
            subscription_id: s(&v, "SubscriptionId"),
            message: s(&v, "message").unwrap_or_default(),
            raw: s(&v, "raw").unwrap_or_default(),
            // Each event with its own provenance texts. (`azir hunt` refills one event per row and
            // keeps the texts while consecutive rows name the same file, azir_store's
            // `EventColumns::fill`: the bench's copy per event is the costlier case.)
            provenance: azir_model::Provenance {
                evidence_sha256: s(&v, "evidence_sha256").unwrap_or_default().into(),
                evidence_path: s(&v, "evidence_path").unwrap_or_default().into(),
                line: v["evidence_line"].as_u64().unwrap_or(0),
                offset: v["evidence_offset"].as_u64().unwrap_or(0),
                index: v["evidence_index"].as_u64().and_then(|x| u32::try_from(x).ok()).unwrap_or(0),
            },
        })
        .collect();
    let mut b = RuleSetBuilder::default();
    b.add_builtin();
    for d in &args[1..] {
        walk(Path::new(d), &mut b);
    }
    let set = b.build();
    let rounds: usize = std::env::var("AZIR_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
    let n = events.len() * rounds;
    // AZIR_BENCH_PHASES=hunt (or a comma list of parse,prefilter,hunt,routed,threads) runs only those
    // phases, so a profiler sees one of them.
    let phases = std::env::var("AZIR_BENCH_PHASES").unwrap_or_else(|_| "parse,prefilter,hunt,routed,threads".into());
    let phase = |p: &str| phases.split(',').any(|x| x.trim() == p);

    let t = Instant::now();
    let mut parsed = 0usize;
    for _ in 0..if phase("parse") { rounds } else { 0 } {
        for e in &events {
            parsed += usize::from(Doc::new(e).has_raw());
        }
    }
    let parse_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut admitted = 0usize;
    for _ in 0..if phase("prefilter") { rounds } else { 0 } {
        for e in &events {
            admitted += set.prefilter_admits(e);
        }
    }
    let prefilter_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut findings = 0;
    let mut evaluated = 0;
    let mut parsed_in_hunt = 0;
    let mut finish_s = 0.0;
    let mut last = Vec::new();
    for _ in 0..if phase("hunt") { rounds } else { 0 } {
        let mut h = set.hunter();
        for e in &events {
            h.feed(e);
        }
        evaluated = h.counts().1;
        parsed_in_hunt = h.parsed();
        let f = Instant::now();
        let found = h.finish();
        finish_s += f.elapsed().as_secs_f64();
        findings = found.len();
        last = found;
    }
    let hunt_s = t.elapsed().as_secs_f64();
    // AZIR_BENCH_FINDINGS=FILE writes the last round's findings as JSON (to compare two
    // builds), outside the timing.
    if let Ok(path) = std::env::var("AZIR_BENCH_FINDINGS") {
        std::fs::write(path, serde_json::to_string_pretty(&last).expect("findings as JSON")).expect("findings file");
    }
    println!(
        "{} rules ({} not loaded), {} events x {rounds} rounds, {} findings per round",
        set.rules().len(),
        set.problems.len(),
        events.len(),
        findings
    );
    // Only the phases that ran (a skipped one would print a rate of zero time).
    if phase("parse") {
        println!("parse raw only: {:>10.0} events/s ({parsed} parsed)", n as f64 / parse_s);
    }
    if phase("prefilter") {
        println!(
            "prefilter only: {:>10.0} events/s ({:.2} rules admitted per event)",
            n as f64 / prefilter_s,
            admitted as f64 / n as f64
        );
    }
    if phase("hunt") {
        println!(
            "whole hunt:     {:>10.0} events/s ({evaluated} of {} events evaluated, {parsed_in_hunt} parsed, per round)",
            n as f64 / hunt_s,
            events.len()
        );
        println!("  of which finish (findings, correlations): {:.1} ms per round", finish_s * 1e3 / rounds as f64);
    }
    // Detections only, as `RuleSet::matching_routed` gives them: no event refs, correlation
    // hits or findings (the share of the hunt's bookkeeping is the difference).
    let t = Instant::now();
    let mut matches = 0usize;
    for _ in 0..if phase("routed") { rounds } else { 0 } {
        for e in &events {
            matches += set.matching_routed(e).len();
        }
    }
    if phase("routed") {
        println!(
            "detections only: {:>9.0} events/s ({} matches per round)",
            n as f64 / t.elapsed().as_secs_f64(),
            matches / rounds.max(1)
        );
    }
    println!("rules the prefilter cannot skip: {:?}", set.unfiltered_rules());

    // As `azir hunt` runs: one hunter per worker over its share of the events, merged.
    // AZIR_BENCH_THREADS=N sets the workers (default: every core), so one and two workers can
    // be compared in the same build and phase.
    let threads = std::env::var("AZIR_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .filter(|&t: &usize| t > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let t = Instant::now();
    let mut merged_findings = findings;
    let (mut feed_s, mut merge_s, mut fin_s) = (0.0, 0.0, 0.0);
    // Per round: the slowest and the fastest worker's time (spawn and join left out).
    let mut spans: Vec<(f64, f64)> = Vec::new();
    for _ in 0..if phase("threads") { rounds } else { 0 } {
        let f = Instant::now();
        // Blocks of 512 events handed out as workers ask, as `azir hunt` hands out row groups
        // of 512-row batches (crates/azir/src/hunt.rs): a worker that drew cheap events takes
        // more blocks.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let hunters: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let (set, events, next) = (&set, &events, &next);
                    s.spawn(move || {
                        let w = Instant::now();
                        let mut h = set.hunter();
                        loop {
                            let at = next.fetch_add(BLOCK, std::sync::atomic::Ordering::Relaxed);
                            let Some(block) = events.get(at..(at + BLOCK).min(events.len())) else { break };
                            block.iter().for_each(|e| h.feed(e));
                        }
                        (h, w.elapsed().as_secs_f64())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("worker")).collect()
        });
        let (hunters, times): (Vec<_>, Vec<f64>) = hunters.into_iter().unzip();
        spans.push((times.iter().copied().fold(0.0, f64::max), times.iter().copied().fold(f64::INFINITY, f64::min)));
        feed_s += f.elapsed().as_secs_f64();
        let m = Instant::now();
        let mut it = hunters.into_iter();
        let mut h = it.next().unwrap_or_else(|| set.hunter());
        it.for_each(|o| h.merge(o));
        merge_s += m.elapsed().as_secs_f64();
        let f = Instant::now();
        merged_findings = h.finish().len();
        fin_s += f.elapsed().as_secs_f64();
    }
    let par_s = t.elapsed().as_secs_f64();
    if phase("threads") {
        let ms = |s: f64| s * 1e3 / rounds as f64;
        println!("  per round: workers {:.1} ms, merge {:.1} ms, finish {:.1} ms", ms(feed_s), ms(merge_s), ms(fin_s));
        // The first round warms the caches (lazy DFA states, allocator pages): the median shows
        // the steady state, and slowest against fastest the split's imbalance.
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        if let Some(&(slow, fast)) = spans.get(spans.len() / 2) {
            println!("  median round: slowest worker {:.1} ms, fastest {:.1} ms", slow * 1e3, fast * 1e3);
        }
    }
    if phase("hunt") && phase("threads") {
        assert_eq!(merged_findings, findings, "the merged hunt finds what the single one does");
    }
    if phase("threads") {
        println!("whole hunt, {threads} threads: {:>10.0} events/s", n as f64 / par_s);
    }
}
