//! Differential test: azir-detect and rsigma must decide identically on alias-free events.
//!
//! Rule sets: the SigmaHQ cloud folder (DRL-licensed, read from `../shared/corpus`, never
//! copied), azir's built-in pack, and this crate's synthetic modifier probes. Each set is loaded
//! in both engines (rejections are printed with reasons), a deterministic corpus is generated
//! from its rules, and every event is decided by every rule in both engines. A difference fails
//! the test unless one of the documented reasons of `diff::Reason` explains it, confirmed on that
//! very event. The report is printed (`--nocapture`) and written to `<target>/tmp/rsigma-diff-*.txt`,
//! which scripts/rsigma-diff shows.

use rsigma_peer::diff::{self, Reason, Report};
use rsigma_peer::generate::{self, GenEvent};
use rsigma_peer::load::{self, Loaded, RuleFile};
use rsigma_peer::shape::Shape;
use std::fmt::Write as _;
use std::path::Path;

/// The corpus seed; `RSIGMA_DIFF_SEED` overrides it (to explore beyond the fixed corpus).
fn seed() -> u64 {
    std::env::var("RSIGMA_DIFF_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_a21e)
}

struct Outcome {
    name: &'static str,
    loaded: Loaded,
    events: Vec<GenEvent>,
    report: Report,
}

fn files(dir: &Path) -> Vec<RuleFile> {
    assert!(
        dir.is_dir(),
        "rule folder missing: {} (the SigmaHQ corpus must sit at ../shared/corpus beside the repository, or set AZIR_SIGMA_CLOUD)",
        dir.display()
    );
    load::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

fn run(name: &'static str, files: &[RuleFile], rounds: usize, noise: usize, pinned: Option<&Path>) -> Outcome {
    let opts = load::literal_options();
    let loaded = load::load(files, &opts);
    // The same rules as azir rule sets, aliases off and (production) on, for the prefilter check.
    let sets: Vec<azir_detect::RuleSet> = [opts, azir_detect::rule::CompileOptions::default()]
        .into_iter()
        .map(|o| {
            let mut b = azir_detect::RuleSetBuilder::new(o);
            for f in files {
                b.add(&f.origin, &f.text);
            }
            b.build()
        })
        .collect();
    let shapes: Vec<&Shape> = loaded.rules.iter().map(|r| &r.shape).collect();
    let mut events = generate::corpus(seed(), &shapes, rounds, noise);
    if let Some(p) = pinned {
        let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        for line in text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
            let value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: {e}: {line}", p.display()));
            events.push(GenEvent { value, kind: generate::Kind::Pinned, rule: None });
        }
    }
    let report = diff::compare(&loaded.rules, &events, &sets);
    Outcome { name, loaded, events, report }
}

fn label(reasons: &[Reason]) -> String {
    if reasons.is_empty() {
        return "UNEXPLAINED".into();
    }
    reasons.iter().map(|r| r.name()).collect::<Vec<_>>().join(" + ")
}

fn print(o: &Outcome) -> String {
    let mut s = String::new();
    let l = &o.loaded;
    let r = &o.report;
    let _ = writeln!(s, "\n=== {} (seed {}) ===", o.name, seed());
    let _ = writeln!(
        s,
        "files {}, detection rules compared {}, correlation rules excluded {} (rsigma parsed {})",
        l.files,
        l.rules.len(),
        l.correlations,
        l.rsigma_correlations
    );
    let _ = writeln!(s, "azir rejected {} rule(s):", l.azir_rejected.len());
    for x in &l.azir_rejected {
        let _ = writeln!(s, "  - {} ({}): {}", x.rule, x.origin, x.reason);
    }
    let _ = writeln!(s, "rsigma rejected {} rule(s):", l.rsigma_rejected.len());
    for x in &l.rsigma_rejected {
        let _ = writeln!(s, "  - {} ({}): {}", x.rule, x.origin, x.reason);
    }
    if !l.rsigma_messages.is_empty() {
        let _ = writeln!(s, "rsigma parser messages on rules it still loaded: {}", l.rsigma_messages.len());
        for (f, m) in l.rsigma_messages.iter().take(10) {
            let _ = writeln!(s, "  - {f}: {m}");
        }
    }
    let _ = writeln!(s, "events {} {:?}, decisions {}", o.events.len(), r.events, r.decisions);
    let az: usize = r.per_rule.iter().map(|x| x.0).sum();
    let rs: usize = r.per_rule.iter().map(|x| x.1).sum();
    let both: usize = r.per_rule.iter().map(|x| x.2).sum();
    let _ = writeln!(s, "matches: azir {az}, rsigma {rs}, both {both}");
    let _ = writeln!(s, "differences {}:", r.differences.len());
    let _ = writeln!(s, "  azir-only rsigma-only  explanation");
    for (reasons, (a, b)) in r.by_reason() {
        let _ = writeln!(s, "  {a:>9} {b:>11}  {}", label(&reasons));
    }
    let silent: Vec<&str> =
        l.rules.iter().zip(&r.own_positive_hits).filter(|(_, n)| **n == 0).map(|(rule, _)| rule.id.as_str()).collect();
    let _ = writeln!(s, "rules none of whose own positives both engines matched: {} {silent:?}", silent.len());
    let _ = writeln!(s, "rsigma Engine::evaluate vs evaluate_rule mismatches: {}", r.rsigma_index_mismatches.len());
    for (e, m) in r.rsigma_index_mismatches.iter().take(5) {
        let _ = writeln!(s, "  event {e}: {m}: {}", o.events[*e].value);
    }
    let _ =
        writeln!(s, "azir prefilter/routing vs direct evaluation mismatches: {}", r.azir_prefilter_mismatches.len());
    for (e, m) in r.azir_prefilter_mismatches.iter().take(5) {
        let _ = writeln!(s, "  event {e}: {m}: {}", o.events[*e].value);
    }
    // A few examples per reason, every unexplained one (capped).
    let mut shown = std::collections::BTreeMap::new();
    for d in &r.differences {
        let n = shown.entry(d.reasons.clone()).or_insert(0usize);
        let cap = if d.reasons.is_empty() { 40 } else { 2 };
        if *n >= cap {
            continue;
        }
        *n += 1;
        let rule = &l.rules[d.rule];
        let _ = writeln!(
            s,
            "  [{}] rule {} ({}) azir={} rsigma={} {} event: {}",
            label(&d.reasons),
            rule.id,
            rule.title,
            d.azir,
            d.rsigma,
            o.events[d.event].kind.name(),
            o.events[d.event].value
        );
    }
    s
}

/// Prints the report (seen with `--nocapture` or on failure) and writes it to
/// `<target>/tmp/rsigma-diff-<set>.txt`, which scripts/rsigma-diff shows after the run.
fn check(o: &Outcome, min_events: usize) {
    let text = print(o);
    println!("{text}");
    let slug: String =
        o.name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rsigma-diff-{slug}.txt"));
    std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(o.events.len() >= min_events, "{}: only {} events", o.name, o.events.len());
    let bad: Vec<String> = o
        .report
        .unexplained()
        .take(20)
        .map(|d| {
            let r = &o.loaded.rules[d.rule];
            format!("{} azir={} rsigma={} on {}", r.id, d.azir, d.rsigma, o.events[d.event].value)
        })
        .collect();
    assert!(bad.is_empty(), "{}: unexplained differences:\n{}", o.name, bad.join("\n"));
    assert!(
        o.report.azir_prefilter_mismatches.is_empty(),
        "{}: azir prefilter disagrees with direct evaluation",
        o.name
    );
    assert!(
        o.report.rsigma_index_mismatches.is_empty(),
        "{}: rsigma's index disagrees with its per-rule evaluation",
        o.name
    );
}

#[test]
fn sigmahq_cloud_rules_decide_identically() {
    let o = run("SigmaHQ cloud", &files(&rsigma_peer::sigma_cloud_dir()), 3, 10_000, None);
    assert!(o.loaded.files >= 142, "only {} rule files", o.loaded.files);
    assert!(o.loaded.rules.len() >= 140, "only {} rules compared", o.loaded.rules.len());
    check(&o, 15_000);
}

#[test]
fn builtin_pack_rules_decide_identically() {
    let o = run("azir built-in pack", &files(&rsigma_peer::pack_dir()), 3, 3000, None);
    check(&o, 3000);
}

#[test]
fn modifier_probes_decide_identically() {
    let pinned = rsigma_peer::probes_dir().join("pinned.jsonl");
    let o = run("modifier probes", &files(&rsigma_peer::probes_dir()), 10, 3000, Some(&pinned));
    check(&o, 3000);
    // The pinned events exercise every documented reason: each must still be needed (a reason
    // that no longer explains anything, e.g. a fixed defect, is to be removed from the list).
    let used: std::collections::BTreeSet<Reason> =
        o.report.differences.iter().flat_map(|d| d.reasons.clone()).collect();
    let unused: Vec<&str> = Reason::ALL.iter().filter(|r| !used.contains(r)).map(|r| r.name()).collect();
    assert!(unused.is_empty(), "documented reasons no event needs any more: {unused:?}");
}
