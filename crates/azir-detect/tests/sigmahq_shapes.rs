//! Every SigmaHQ Azure rule, in every export shape its logsource can arrive in: a generated
//! positive event must fire, generated near misses must not, and the positive must not fire when
//! routed to another source.
//!
//! The events come from `support/shapegen.rs`, a generator independent of the engine: it reads
//! each rule with its own YAML/condition parser, maps rule fields to concepts with its own
//! dictionary (written from `azure-formats.md`, not from `fields.rs`), builds a satisfying
//! logical record checked by its own Sigma evaluator, and renders it as Log Analytics row,
//! REST/Graph object and diagnostic-setting record, starting from Elastic's real-shaped samples.
//! The rules are read from `../shared/corpus` (DRL-licensed), never copied.
//!
//! Disagreements are attributed per field test: each test of each rule is also loaded as a
//! one-test "probe" rule, so a missed positive names the fields the engine cannot find and a
//! firing near miss names the fields it wrongly matches. Every disagreement must be listed in
//! [`KNOWN`] with a named [`Cause`] (an engine defect, or a rule that cannot arrive in a shape),
//! and every entry there must still be needed: the test fails both ways.
//!
//! `AZIR_SHAPES_DUMP=<rule file stem> cargo test --test sigmahq_shapes -- --nocapture` prints
//! the generated events of one rule; `--nocapture` alone prints the coverage summary.

#[path = "support/shapegen.rs"]
mod shapegen;

use azir_detect::{RuleSet, RuleSetBuilder};
use azir_model::Event;
use serde_json::Value;
use shapegen::{Compiled, Family, Loc, Rule, Shapes};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Why the engine and the generator disagree on a rule in a shape: the rule cannot arrive in the
/// shape at all. (Engine causes, gaps in the alias layer or field resolution, have all been
/// fixed; a positive that does not fire now fails the test.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cause {
    /// Not in this shape: no export of the family has the field in any form.
    NoSuchField,
    /// Not in this shape: the rule's tests contradict each other under the family's fields.
    Unsatisfiable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// The positive does not fire.
    Miss,
    /// A near miss fires.
    FalseHit,
    /// No event of the shape can be generated.
    NotInShape,
}

impl Cause {
    /// Every engine gap this test found is closed (provider from `resourceId`, name/value list
    /// entries, modified properties by name, LA JSON text, `'[]'`, sign-in `Status` from the
    /// error code, missing aliases); a new one would be a cause of kind [`Kind::Miss`].
    fn kind(self) -> Kind {
        match self {
            Cause::NoSuchField | Cause::Unsatisfiable => Kind::NotInShape,
        }
    }
}

/// Expected disagreements: (rule file stem, shape id or `family.*`, field as the rule writes it,
/// cause). Each must still occur, or the test fails.
const KNOWN: &[(&str, &str, &str, Cause)] = &[
    // Sign-ins.
    ("azure_app_device_code_authentication", "signin.*", "properties.message", Cause::NoSuchField),
    ("azure_app_ropc_authentication", "signin.*", "properties.message", Cause::NoSuchField),
    ("azure_legacy_authentication_protocols", "signin.*", "ActivityDetails", Cause::NoSuchField),
    // Audit.
    // `properties.message` (the activity name) must equal both 'Update user' (`OperationName`)
    // and a modifiedProperties fragment.
    ("azure_guest_to_member", "audit.*", "properties.message", Cause::Unsatisfiable),
    // PIM: the rules test `riskEventType` (PIM alert incident types); they arrive as risk-style
    // records (tested in the risk shapes), never as audit records.
    ("azure_pim_account_stale", "audit.*", "riskEventType", Cause::NoSuchField),
    ("azure_pim_invalid_license", "audit.*", "riskEventType", Cause::NoSuchField),
    ("azure_pim_role_assigned_outside_of_pim", "audit.*", "riskEventType", Cause::NoSuchField),
    ("azure_pim_role_frequent_activation", "audit.*", "riskEventType", Cause::NoSuchField),
    ("azure_pim_role_no_mfa_required", "audit.*", "riskEventType", Cause::NoSuchField),
    ("azure_pim_role_not_used", "audit.*", "riskEventType", Cause::NoSuchField),
    ("azure_pim_too_many_global_admins", "audit.*", "riskEventType", Cause::NoSuchField),
];

fn corpus() -> PathBuf {
    let p = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus"));
    assert!(p.is_dir(), "the shared corpus is missing: {}", p.display());
    p.to_path_buf()
}

fn rule_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rule_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yml") {
            out.push(p);
        }
    }
}

fn clip(v: &Value) -> String {
    let t = v.to_string();
    match t.char_indices().nth(1500) {
        Some((i, _)) => format!("{}...", &t[..i]),
        None => t,
    }
}

fn event(source: &str, raw: &Value) -> Event {
    Event { source: source.into(), raw: raw.to_string(), ..Default::default() }
}

/// Events checked both raw-only and as ingestion makes them (`fires`).
static INGESTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// `e` as ingestion makes it from its raw record (normalized columns filled by the source's
/// parser), when the parser files it under the same source.
fn ingested(e: &Event) -> Option<Event> {
    let out = azir_logs::parsers::run_one("shape.json", &e.raw, azir_logs::split::Container::Lines);
    out.events.into_iter().next().filter(|p| p.source == e.source && out.bad.is_empty())
}

/// Whether rule `id` fires on `e` as the hunt decides it (routing and literal prefilter), with
/// the prefilter checked against evaluating every routed rule, and the verdict checked against
/// the one on the same record as ingestion makes it: the parser's columns decide some fields
/// for some sources (`fields::Authority`), and they must decide them as `raw` does.
fn fires(set: &RuleSet, e: &Event, id: &str, failures: &mut Vec<String>, what: &str) -> bool {
    let routed = set.matching_routed(e).contains(&id);
    let unfiltered = set.matching_routed_unfiltered(e).contains(&id);
    if routed != unfiltered {
        failures.push(format!("{what}: the literal prefilter changes the verdict ({unfiltered} -> {routed})"));
    }
    if let Some(p) = ingested(e) {
        INGESTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let parsed = set.matching_routed(&p).contains(&id);
        if parsed != routed {
            failures.push(format!("{what}: the ingested record's columns change the verdict ({routed} -> {parsed})"));
        }
        if set.matching_routed_unfiltered(&p).contains(&id) != parsed {
            failures.push(format!("{what}: the prefilter changes the ingested record's verdict"));
        }
    }
    routed
}

struct Probes<'a> {
    list: Vec<(Loc, String, String)>,
    set: &'a RuleSet,
}

impl Probes<'_> {
    /// Fields on which the engine and the generator disagree for `rec` rendered as `e`:
    /// (engine says no, generator yes) for misses, (engine yes, generator no) for false hits.
    fn disagree(&self, e: &Event, c: &Compiled, rec: &shapegen::Record, kind: Kind) -> BTreeSet<String> {
        let fired: BTreeSet<&str> = self.set.matching_routed_unfiltered(e).into_iter().collect();
        let mut out = BTreeSet::new();
        for (loc, id, field) in &self.list {
            let engine = fired.contains(id.as_str());
            let ours = c.probe_true(*loc, rec);
            if (kind == Kind::Miss && ours && !engine) || (kind == Kind::FalseHit && engine && !ours) {
                out.insert(field.clone());
            }
        }
        if out.is_empty() {
            out.insert("<condition>".into());
        }
        out
    }
}

#[derive(Default)]
struct Stats {
    rules: usize,
    rule_shapes: usize,
    covered: usize,
    positives_fired: usize,
    positives_known_missed: usize,
    negatives: usize,
    negatives_silent: usize,
    wrong_source_checks: usize,
}

type Key = (String, String, String, Kind);

#[test]
fn every_sigmahq_azure_rule_fires_in_every_export_shape_and_its_near_misses_do_not() {
    let corpus = corpus();
    let mut files = Vec::new();
    rule_files(&corpus.join("sigma/rules/cloud/azure"), &mut files);
    assert!(files.len() >= 123, "only {} azure rules in the corpus", files.len());
    let shapes = Shapes::load(&corpus);

    let mut failures: Vec<String> = Vec::new();
    let mut rules: Vec<(String, Rule)> = Vec::new();
    let mut engine = RuleSetBuilder::default();
    let mut probe_builder = RuleSetBuilder::default();
    let mut probe_lists: BTreeMap<String, Vec<(Loc, String, String)>> = BTreeMap::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let stem = f.file_stem().unwrap().to_string_lossy().to_string();
        engine.add(&f.strip_prefix(&corpus).unwrap().display().to_string(), &text);
        let rule = match Rule::parse(&text) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{stem}: the generator cannot read the rule: {e}"));
                continue;
            }
        };
        let mut list = Vec::new();
        for (loc, id, field, yaml) in rule.probes(&stem) {
            probe_builder.add(&id, &yaml);
            list.push((loc, id, field));
        }
        probe_lists.insert(stem.clone(), list);
        rules.push((stem, rule));
    }
    let set = engine.build();
    assert!(set.problems.is_empty(), "{:#?}", set.problems);
    let probe_set = probe_builder.build();
    assert!(probe_set.problems.is_empty(), "{:#?}", probe_set.problems);
    let ids: BTreeSet<&str> = rules.iter().map(|(_, r)| r.id.as_str()).collect();
    assert_eq!(ids.len(), rules.len(), "rule ids must be unique");

    let known_expanded = expand_known(&rules, &mut failures);
    let mut observed: BTreeSet<Key> = BTreeSet::new();
    let mut reasons: BTreeMap<Key, String> = BTreeMap::new();
    let mut stats = Stats { rules: rules.len(), ..Default::default() };
    let all_sources = [Family::Activity, Family::SignIn, Family::Audit, Family::Risk].map(Family::source);

    for (stem, rule) in &rules {
        let families = match rule.families() {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!("{stem}: {e}"));
                continue;
            }
        };
        let own: Vec<&str> = families.iter().map(|f| f.source()).collect();
        let probes = Probes { list: probe_lists[stem].clone(), set: &probe_set };
        for &family in &families {
            stats.rule_shapes += 3;
            let not_in_shape = |field: &str, why: String, obs: &mut BTreeSet<Key>, rs: &mut BTreeMap<Key, String>| {
                for s in family.shapes() {
                    let k = (stem.clone(), family.shape_id(s), field.to_string(), Kind::NotInShape);
                    rs.insert(k.clone(), why.clone());
                    obs.insert(k);
                }
            };
            let compiled = match rule.compile(family) {
                Ok(Ok(c)) => c,
                Ok(Err(nis)) => {
                    not_in_shape(&nis.field, nis.reason, &mut observed, &mut reasons);
                    continue;
                }
                Err(e) => {
                    failures.push(format!("{stem} ({family:?}): {e}"));
                    continue;
                }
            };
            let plan = match compiled.plan() {
                Ok(p) => p,
                Err((field, why)) if why.starts_with(shapegen::HAND_WRITTEN) => {
                    failures.push(format!("{stem} ({family:?}): `{field}` {why}"));
                    continue;
                }
                Err((field, why)) => {
                    not_in_shape(&field, why, &mut observed, &mut reasons);
                    continue;
                }
            };
            for s in family.shapes() {
                stats.covered += 1;
                let shape = family.shape_id(s);
                let what = format!("{stem} in {shape}");
                let raw = shapes.render(family, s, &plan.positive, rule.case_sensitive());
                if std::env::var("AZIR_SHAPES_DUMP").is_ok_and(|d| d == *stem) {
                    println!("{shape} positive: {raw}");
                    for (label, neg) in &plan.negatives {
                        println!(
                            "{shape} near miss ({label}): {}",
                            shapes.render(family, s, neg, rule.case_sensitive())
                        );
                    }
                }
                let e = event(family.source(), &raw);
                if fires(&set, &e, &rule.id, &mut failures, &what) {
                    stats.positives_fired += 1;
                } else {
                    for field in probes.disagree(&e, &compiled, &plan.positive, Kind::Miss) {
                        let k = (stem.clone(), shape.clone(), field, Kind::Miss);
                        reasons.insert(k.clone(), format!("positive: {}", clip(&raw)));
                        observed.insert(k);
                    }
                }
                for wrong in all_sources.iter().filter(|s| !own.contains(s)) {
                    stats.wrong_source_checks += 1;
                    if fires(&set, &event(wrong, &raw), &rule.id, &mut failures, &what) {
                        failures.push(format!("{what}: the positive fires when routed to `{wrong}`"));
                    }
                }
                for (label, neg) in &plan.negatives {
                    stats.negatives += 1;
                    let raw = shapes.render(family, s, neg, rule.case_sensitive());
                    let e = event(family.source(), &raw);
                    if fires(&set, &e, &rule.id, &mut failures, &what) {
                        for field in probes.disagree(&e, &compiled, neg, Kind::FalseHit) {
                            let k = (stem.clone(), shape.clone(), field, Kind::FalseHit);
                            reasons.insert(k.clone(), format!("near miss ({label}): {}", clip(&raw)));
                            observed.insert(k);
                        }
                    } else {
                        stats.negatives_silent += 1;
                    }
                }
            }
        }
    }

    // Every disagreement is expected, and every expectation is still needed.
    let expected: BTreeMap<Key, Cause> =
        known_expanded.iter().map(|(r, s, f, c)| ((r.clone(), s.clone(), f.clone(), c.kind()), *c)).collect();
    for k in &observed {
        if !expected.contains_key(k) {
            failures.push(format!(
                "unexpected: {} in {}: {:?} on field `{}`\n    {}",
                k.0,
                k.1,
                k.3,
                k.2,
                reasons.get(k).map(String::as_str).unwrap_or("")
            ));
        }
    }
    for (k, c) in &expected {
        if !observed.contains(k) {
            failures.push(format!("exception no longer needed: ({}, {}, {}, {c:?})", k.0, k.1, k.2));
        }
    }

    let mut by_cause: BTreeMap<Cause, (usize, BTreeSet<&str>)> = BTreeMap::new();
    for (k, c) in &expected {
        let e = by_cause.entry(*c).or_default();
        e.0 += 1;
        e.1.insert(k.0.as_str());
    }
    stats.positives_known_missed =
        expected.keys().filter(|k| k.3 == Kind::Miss).map(|k| (&k.0, &k.1)).collect::<BTreeSet<_>>().len();
    println!(
        "SigmaHQ azure rules: {}, rule x shape: {}, rendered: {}, positives fired: {}, positives missed (known): {}, \
         near misses: {} ({} silent), wrong-source checks: {}",
        stats.rules,
        stats.rule_shapes,
        stats.covered,
        stats.positives_fired,
        stats.positives_known_missed,
        stats.negatives,
        stats.negatives_silent,
        stats.wrong_source_checks,
    );
    for (c, (n, rules)) in &by_cause {
        println!("  {c:?} ({:?}): {n} rule-shape-field entries, {} rules", c.kind(), rules.len());
    }
    let ingested = INGESTED.load(std::sync::atomic::Ordering::Relaxed);
    println!("  also checked as ingestion makes them (parser columns filled): {ingested} events");
    // Most rendered events are files the parsers take (895 when written); if they stopped
    // taking them, the authoritative columns would go unchecked.
    assert!(ingested >= 800, "only {ingested} generated events were ingested under their own source");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(
        stats.positives_fired + stats.positives_known_missed,
        stats.covered,
        "every rendered positive accounted for"
    );
}

/// [`KNOWN`] with `family.*` and `*` shapes expanded to the rule's shapes.
fn expand_known(rules: &[(String, Rule)], failures: &mut Vec<String>) -> Vec<(String, String, String, Cause)> {
    let mut out = Vec::new();
    for &(stem, shape, field, cause) in KNOWN {
        let Some((_, rule)) = rules.iter().find(|(s, _)| s == stem) else {
            failures.push(format!("KNOWN names a rule that is not in the corpus: {stem}"));
            continue;
        };
        let shapes: Vec<String> = rule
            .families()
            .unwrap_or_default()
            .into_iter()
            .flat_map(|f| f.shapes().map(move |s| f.shape_id(s)))
            .filter(|id| {
                shape == "*"
                    || id == shape
                    || shape.strip_suffix(".*").is_some_and(|f| id.starts_with(&format!("{f}.")))
            })
            .collect();
        if shapes.is_empty() {
            failures.push(format!("KNOWN names a shape {shape} that rule {stem} cannot arrive in"));
        }
        for s in shapes {
            out.push((stem.to_string(), s, field.to_string(), cause));
        }
    }
    out
}

/// The generator on its own: plans for conditions and modifiers SigmaHQ's Azure rules do not
/// all use yet (`all of`/`them`, `not (...)`, lists of maps, `re`, `cidr`, `null`, wildcards,
/// keywords), each positive true and each near miss false under its own evaluator, and the
/// engine agreeing in every shape.
#[test]
fn the_generator_plans_every_construct_and_the_engine_agrees_in_every_shape() {
    const SIGNIN: &str = r#"
title: generator self-test, sign-in
id: gen-selftest-signin
logsource: {product: azure, service: signinlogs}
detection:
    sel_ip:
        IPAddress|cidr: 198.51.100.0/24
    sel_agent:
        userAgent|re: '^python-requests/2\.31$'
        clientAppUsed: 'Exchange*Sync'
    sel_code:
        - ResultType: [50126, 50053]
        - ResultType: 0
    filter_resource:
        ResourceDisplayName|endswith: ' API'
    filter_device:
        DeviceDetail.deviceId: null
    condition: all of sel_* and not (filter_resource or filter_device)
"#;
    const ACTIVITY: &str = r#"
title: generator self-test, activity
id: gen-selftest-activity
logsource: {product: azure, service: activitylogs}
detection:
    keywords:
        - Microsoft.Compute/disks/beginGetAccess/action
    selection:
        operationName|contains|all: ['Microsoft.Compute/', '/beginGetAccess/']
        properties.statusCode|startswith: Acc
    condition: all of them
"#;
    let shapes = Shapes::load(&corpus());
    let mut b = RuleSetBuilder::default();
    b.add("signin", SIGNIN);
    b.add("activity", ACTIVITY);
    let set = b.build();
    assert!(set.problems.is_empty(), "{:#?}", set.problems);
    for (text, family, min_negatives) in [(SIGNIN, Family::SignIn, 6), (ACTIVITY, Family::Activity, 2)] {
        let rule = Rule::parse(text).unwrap();
        let c = rule.compile(family).unwrap().unwrap();
        let plan = c.plan().unwrap_or_else(|e| panic!("{}: {e:?}", rule.id));
        assert!(c.matches(&plan.positive), "{}", rule.id);
        assert!(plan.negatives.len() >= min_negatives, "{}: {:?}", rule.id, plan.negatives);
        for (label, neg) in &plan.negatives {
            assert!(!c.matches(neg), "{}: {label}", rule.id);
        }
        let mut unused = Vec::new();
        for s in family.shapes() {
            let what = family.shape_id(s);
            let pos = shapes.render(family, s, &plan.positive, rule.case_sensitive());
            assert!(fires(&set, &event(family.source(), &pos), &rule.id, &mut unused, &what), "{what}: {pos}");
            for (label, neg) in &plan.negatives {
                let neg = shapes.render(family, s, neg, rule.case_sensitive());
                assert!(
                    !fires(&set, &event(family.source(), &neg), &rule.id, &mut unused, &what),
                    "{what} {label}: {neg}"
                );
            }
        }
        assert!(unused.is_empty(), "{unused:?}");
    }
    // The filters were made true in turn (each a near miss of its own).
    let rule = Rule::parse(SIGNIN).unwrap();
    let plan = rule.compile(Family::SignIn).unwrap().unwrap().plan().unwrap();
    let labels: Vec<&str> = plan.negatives.iter().map(|(l, _)| l.as_str()).collect();
    for f in ["search `filter_resource` made true", "search `filter_device` made true"] {
        assert!(labels.contains(&f), "{labels:?}");
    }
    // A regex the generator cannot invert asks for a hand-written value instead of guessing.
    let hard = SIGNIN.replace(r"'^python-requests/2\.31$'", r"'python-(requests|urllib)/\d+'");
    let (field, why) = Rule::parse(&hard).unwrap().compile(Family::SignIn).unwrap().unwrap().plan().err().unwrap();
    assert_eq!(field, "userAgent");
    assert!(why.starts_with(shapegen::HAND_WRITTEN), "{why}");
}

/// The generator must stay independent of the engine it checks.
#[test]
fn the_generator_does_not_use_the_engine() {
    let src = include_str!("support/shapegen.rs");
    for path in [concat!("azir", "_detect::"), concat!("use azir", "_detect")] {
        assert!(!src.contains(path), "support/shapegen.rs must not use the engine crate (`{path}`)");
    }
}
