//! azir-detect and rsigma side by side: events/s on the same events and rules, one thread and
//! all threads. `bench/rsigma_vs_azir.sh` builds it in release and runs it.
//!
//! ```text
//! bench EVENTS.jsonl [--rounds N] [--rules DIR]...
//! bench --write-corpus FILE        # the differential test's alias-free corpus as JSONL
//! ```
//!
//! EVENTS.jsonl is `azir timeline --format jsonl` output (normalized columns plus `raw`, the
//! original record as JSON text). Lines without a `raw` string (e.g. `--write-corpus` output) are
//! taken whole as the record, with no `source`: azir's routed rows then evaluate nothing, and
//! its "every rule" row is the one to compare. Rules default to the SigmaHQ cloud folder plus
//! azir's `rules/`; `--rules` replaces them.
//!
//! What each engine gets, outside the timing: azir an `Event` per line (the columns a case store
//! holds, `raw` as text), rsigma the `raw` text. Inside the timing both parse `raw`: azir
//! parses it itself (into its borrowed tree, only when its literal prefilter admits the event),
//! rsigma's loop parses it with `serde_json` into a `Value` and wraps it in a `JsonEvent`. rsigma
//! has no alias layer, so it sees the raw record's keys exactly as exported and matches fewer
//! Azure events than azir: this compares speed, not findings (tests/differential.rs compares
//! decisions, on alias-free events). Rule loading and compilation are not timed.

use azir_detect::RuleSetBuilder;
use azir_detect::fields::Doc;
use azir_model::Event;
use rayon::prelude::*;
use rsigma_eval::{CorrelationConfig, CorrelationEngine, Engine, JsonEvent};
use rsigma_peer::load::{self, RuleFile};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Instant;

struct Input {
    events: Vec<Event>,
    /// Seconds since the epoch (rsigma's correlation clock).
    secs: Vec<i64>,
    routed: bool,
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn i(v: &Value, k: &str) -> Option<i32> {
    v.get(k).and_then(Value::as_i64).and_then(|n| i32::try_from(n).ok())
}

fn read_events(path: &str) -> Input {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut input = Input { events: Vec::new(), secs: Vec::new(), routed: true };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        let Some(raw) = s(&v, "raw") else {
            input.routed = false;
            input.events.push(Event { raw: line.to_string(), ..Default::default() });
            input.secs.push(0);
            continue;
        };
        let time = azir_model::parse_time(v["datetime"].as_str().unwrap_or_default()).unwrap_or(0);
        input.secs.push(time / 1_000_000);
        input.events.push(Event {
            time,
            source: s(&v, "source").unwrap_or_default(),
            source_format: s(&v, "source_format").unwrap_or_default(),
            event_type: s(&v, "EventType"),
            operation: s(&v, "Operation"),
            category: s(&v, "Category"),
            result: s(&v, "EventResult"),
            result_details: s(&v, "EventResultDetails"),
            actor_username: s(&v, "ActorUsername"),
            actor_user_id: s(&v, "ActorUserId"),
            actor_app_id: s(&v, "ActorAppId"),
            actor_app_name: s(&v, "ActorAppName"),
            src_ip: s(&v, "SrcIpAddr"),
            src_port: i(&v, "SrcPortNumber"),
            dst_ip: s(&v, "DstIpAddr"),
            dst_port: i(&v, "DstPortNumber"),
            protocol: s(&v, "NetworkProtocol"),
            target_username: s(&v, "TargetUsername"),
            target_resource_id: s(&v, "TargetResourceId"),
            target_app_name: s(&v, "TargetAppName"),
            user_agent: s(&v, "HttpUserAgent"),
            http_method: s(&v, "HttpRequestMethod"),
            url: s(&v, "Url"),
            http_status: i(&v, "HttpStatusCode"),
            country: s(&v, "SrcGeoCountry"),
            city: s(&v, "SrcGeoCity"),
            correlation_id: s(&v, "CorrelationId"),
            tenant_id: s(&v, "TenantId"),
            subscription_id: s(&v, "SubscriptionId"),
            message: s(&v, "message").unwrap_or_default(),
            raw,
            ..Default::default()
        });
    }
    input
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "?".into(), |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// Runs `f` `rounds` times over `n` events; events/s and the last round's result.
fn timed<R>(n: usize, rounds: usize, mut f: impl FnMut() -> R) -> (f64, R) {
    let t = Instant::now();
    let mut out = f();
    for _ in 1..rounds {
        out = f();
    }
    ((n * rounds) as f64 / t.elapsed().as_secs_f64(), out)
}

fn write_corpus(path: &str) {
    let mut files = load::read_dir(&rsigma_peer::sigma_cloud_dir()).expect("SigmaHQ cloud rules");
    files.extend(load::read_dir(&rsigma_peer::pack_dir()).expect("rules/"));
    let loaded = load::load(&files, &load::literal_options());
    let shapes: Vec<_> = loaded.rules.iter().map(|r| &r.shape).collect();
    let events = rsigma_peer::generate::corpus(0x5eed_a21e, &shapes, 3, 10_000);
    let text: String = events.iter().map(|e| e.value.to_string() + "\n").collect();
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{path}: {e}"));
    eprintln!("{} events from {} rules written to {path}", events.len(), loaded.rules.len());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--write-corpus") {
        write_corpus(args.get(1).map_or("corpus.jsonl", String::as_str));
        return;
    }
    let mut events_path = None;
    let mut rounds = 10usize;
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rounds" => rounds = it.next().and_then(|r| r.parse().ok()).expect("--rounds N"),
            "--rules" => dirs.push(it.next().expect("--rules DIR").into()),
            "-h" | "--help" => {
                eprintln!("usage: bench EVENTS.jsonl [--rounds N] [--rules DIR]... | bench --write-corpus FILE");
                return;
            }
            other => events_path = Some(other.to_string()),
        }
    }
    let Some(events_path) = events_path else {
        eprintln!("usage: bench EVENTS.jsonl [--rounds N] [--rules DIR]... | bench --write-corpus FILE");
        std::process::exit(2);
    };
    if dirs.is_empty() {
        dirs = vec![rsigma_peer::sigma_cloud_dir(), rsigma_peer::pack_dir()];
    }
    let load_before = loadavg();
    let input = read_events(&events_path);
    let events = &input.events;
    let raws: Vec<&str> = events.iter().map(|e| e.raw.as_str()).collect();
    let n = events.len();
    let threads = rayon::current_num_threads();

    // ---- rules (not timed) ----
    let mut files: Vec<RuleFile> = Vec::new();
    for d in &dirs {
        files.extend(load::read_dir(d).unwrap_or_else(|e| panic!("{}: {e}", d.display())));
    }
    let mut b = RuleSetBuilder::default();
    for f in &files {
        b.add(&f.origin, &f.text);
    }
    let set = b.build();
    let infos = set.rules();
    let azir_det = infos.iter().filter(|r| r.kind == "detection").count();
    let azir_routed = infos.iter().filter(|r| r.kind == "detection" && !r.sources.is_empty()).count();
    let azir_corr = infos.len() - azir_det;

    let mut engine = Engine::new();
    let mut bloom = Engine::new();
    bloom.set_bloom_prefilter(true);
    let mut corr_rules = Vec::new();
    let mut corrs = Vec::new();
    let (mut rs_rejected, mut rs_corr_rejected) = (Vec::new(), 0usize);
    for f in &files {
        match rsigma_parser::parse_sigma_yaml(&f.text) {
            Ok(c) => {
                for r in &c.rules {
                    match engine.add_rule(r) {
                        Ok(()) => {
                            let _ = bloom.add_rule(r);
                            corr_rules.push(r.clone());
                        }
                        Err(e) => rs_rejected.push(format!("not loaded: {}: {e}", r.title)),
                    }
                }
                if !c.errors.is_empty() {
                    let what =
                        if c.rules.is_empty() && c.correlations.is_empty() { "not loaded" } else { "parser messages" };
                    rs_rejected.push(format!("{what}: {}: {}", f.origin, c.errors.join("; ")));
                }
                corrs.extend(c.correlations);
            }
            Err(e) => rs_rejected.push(format!("not loaded: {}: {e}", f.origin)),
        }
    }
    let new_corr_engine = || {
        let mut ce = CorrelationEngine::new(CorrelationConfig::default());
        for r in &corr_rules {
            let _ = ce.add_rule(r);
        }
        let mut bad = 0;
        for c in &corrs {
            if ce.add_correlation(c).is_err() {
                bad += 1;
            }
        }
        (ce, bad)
    };
    rs_corr_rejected += new_corr_engine().1;

    println!(
        "events: {n} from {events_path}{}",
        if input.routed { "" } else { " (no `raw` column: taken whole, no source)" }
    );
    println!(
        "rule files: {} from {}",
        files.len(),
        dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    println!(
        "azir:   {azir_det} detections ({azir_routed} routed to an azir source, the others to none), {azir_corr} correlations, {} not loaded",
        set.problems.len()
    );
    for p in &set.problems {
        println!("          not loaded: {} ({}): {}", p.rule, p.origin, p.reason);
    }
    println!(
        "rsigma: {} detections (every one evaluated on every event: no logsource routing), {} correlations ({} refused)",
        engine.rule_count(),
        corrs.len() - rs_corr_rejected,
        rs_corr_rejected
    );
    for r in &rs_rejected {
        println!("          {r}");
    }
    println!("rounds: {rounds}, threads available: {threads}, load average before: {load_before}");
    println!();

    // ---- timing ----
    let mut rows: Vec<(String, usize, f64, String)> = Vec::new();
    let (parse_azir, _) = timed(n, rounds, || events.iter().filter(|e| Doc::new(e).has_raw()).count());
    let (parse_rs, _) = timed(n, rounds, || raws.iter().filter(|r| serde_json::from_str::<Value>(r).is_ok()).count());

    // Without a `source`, azir routes nothing: only the unrouted row is meaningful.
    if input.routed {
        let (v, (found, evaluated)) = timed(n, rounds, || {
            let mut h = set.hunter();
            for e in events {
                h.feed(e);
            }
            let evaluated = h.counts().1;
            (h.finish().len(), evaluated)
        });
        rows.push((
            "azir hunt (routing, prefilter, findings, correlations)".into(),
            1,
            v,
            format!("{found} findings, {evaluated} events evaluated"),
        ));
        let (v, m) = timed(n, rounds, || events.iter().map(|e| set.matching_routed(e).len()).sum::<usize>());
        rows.push(("azir detections, routed + prefilter".into(), 1, v, format!("{m} matches")));
        let (v, m) = timed(n, rounds, || events.par_iter().map(|e| set.matching_routed(e).len()).sum::<usize>());
        rows.push(("azir detections, routed + prefilter".into(), threads, v, format!("{m} matches")));
    }
    let (v, m) = timed(n, rounds, || events.iter().map(|e| set.matching(e).len()).sum::<usize>());
    rows.push(("azir detections, every rule, no prefilter".into(), 1, v, format!("{m} matches")));
    let (v, m) = timed(n, rounds, || events.par_iter().map(|e| set.matching(e).len()).sum::<usize>());
    rows.push(("azir detections, every rule, no prefilter".into(), threads, v, format!("{m} matches")));

    let rs_eval = |eng: &Engine, raw: &str| -> usize {
        let v: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
        eng.evaluate(&JsonEvent::borrow(&v)).len()
    };
    let (v, m) = timed(n, rounds, || raws.iter().map(|r| rs_eval(&engine, r)).sum::<usize>());
    rows.push(("rsigma Engine::evaluate (candidate index)".into(), 1, v, format!("{m} matches")));
    let (v, m) = timed(n, rounds, || raws.par_iter().map(|r| rs_eval(&engine, r)).sum::<usize>());
    rows.push(("rsigma Engine::evaluate (candidate index)".into(), threads, v, format!("{m} matches")));
    let (v, m) = timed(n, rounds, || raws.iter().map(|r| rs_eval(&bloom, r)).sum::<usize>());
    rows.push(("rsigma Engine::evaluate + bloom prefilter".into(), 1, v, format!("{m} matches")));
    // A fresh correlation engine per round (as a hunt starts fresh), built outside the timing.
    let mut engines: Vec<CorrelationEngine> = (0..rounds).map(|_| new_corr_engine().0).collect();
    let t = Instant::now();
    let mut results = 0usize;
    for ce in &mut engines {
        results = 0;
        for (raw, &ts) in raws.iter().zip(&input.secs) {
            let v: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
            results += ce.process_event_at(&JsonEvent::borrow(&v), ts).len();
        }
    }
    let v = (n * rounds) as f64 / t.elapsed().as_secs_f64();
    rows.push(("rsigma CorrelationEngine (detections + correlations)".into(), 1, v, format!("{results} results")));

    println!("{:<56} {:>7} {:>13}  per round", "", "threads", "events/s");
    println!("{:<56} {:>7} {:>13.0}", "azir parse raw only (borrowed tree)", 1, parse_azir);
    println!("{:<56} {:>7} {:>13.0}", "serde_json parse raw only (Value, what rsigma gets)", 1, parse_rs);
    for (name, th, v, note) in &rows {
        println!("{name:<56} {th:>7} {v:>13.0}  {note}");
    }
    let get =
        |name: &str, th: usize| rows.iter().find(|r| r.0.starts_with(name) && r.1 == th).map_or(f64::NAN, |r| r.2);
    println!();
    if input.routed {
        println!(
            "ratio azir hunt / rsigma CorrelationEngine (1 thread):            {:.2}",
            get("azir hunt", 1) / get("rsigma CorrelationEngine", 1)
        );
        println!(
            "ratio azir routed detections / rsigma Engine::evaluate (1 thread): {:.2}",
            get("azir detections, routed", 1) / get("rsigma Engine::evaluate (candidate", 1)
        );
        println!(
            "ratio azir routed detections / rsigma Engine::evaluate ({threads} threads): {:.2}",
            get("azir detections, routed", threads) / get("rsigma Engine::evaluate (candidate", threads)
        );
    }
    println!(
        "ratio azir every rule / rsigma Engine::evaluate (1 thread):        {:.2}",
        get("azir detections, every rule", 1) / get("rsigma Engine::evaluate (candidate", 1)
    );
    println!("load average after: {}", loadavg());
}
