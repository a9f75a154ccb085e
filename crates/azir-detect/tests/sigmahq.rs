//! Every SigmaHQ cloud rule (Azure and M365) loads: no rule may fail for an engine reason.
//! The rules are DRL-licensed and read from `../shared/corpus`, never copied into the repo.

use azir_detect::RuleSetBuilder;
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/sigma/rules/cloud");
    assert!(p.is_dir(), "the shared corpus is missing: {} (tests need ../shared/corpus)", p.display());
    p
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(p);
        }
    }
}

fn load(sub: &str) -> (usize, azir_detect::RuleSet) {
    let mut files = Vec::new();
    walk(&corpus().join(sub), &mut files);
    let mut b = RuleSetBuilder::default();
    for f in &files {
        b.add(&f.display().to_string(), &std::fs::read_to_string(f).unwrap());
    }
    (files.len(), b.build())
}

#[test]
fn every_azure_and_m365_rule_loads() {
    for (sub, at_least) in [("azure", 123), ("m365", 19)] {
        let (n, set) = load(sub);
        assert!(n >= at_least, "{sub}: only {n} rule files");
        assert!(set.problems.is_empty(), "{sub}: rules that failed to load: {:#?}", set.problems);
        assert_eq!(set.rules().len(), n, "{sub}: one rule per file");
    }
}

#[test]
fn every_azure_rule_routes_to_an_azir_source() {
    let (_, set) = load("azure");
    let unrouted: Vec<String> = set
        .rules()
        .into_iter()
        .filter(|r| r.sources.is_empty())
        .map(|r| format!("{} ({})", r.title, r.origin))
        .collect();
    assert!(unrouted.is_empty(), "{unrouted:#?}");
}
