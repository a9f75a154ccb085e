//! Loading one set of rule files into both engines, pairing the detection rules both accept.

use crate::shape::{self, Shape};
use azir_detect::rule::{self, CompileOptions, Parsed};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One rule file.
#[derive(Debug, Clone)]
pub struct RuleFile {
    /// Path (for reports).
    pub origin: String,
    /// The YAML text.
    pub text: String,
}

/// Every `.yml`/`.yaml` file under `dir`, recursively, in path order.
pub fn read_dir(dir: &Path) -> std::io::Result<Vec<RuleFile>> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(d)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut paths = Vec::new();
    walk(dir, &mut paths)?;
    paths
        .into_iter()
        .map(|p| Ok(RuleFile { origin: p.display().to_string(), text: std::fs::read_to_string(&p)? }))
        .collect()
}

/// A detection rule both engines compiled.
pub struct Paired {
    /// Rule id (or title).
    pub id: String,
    /// Title.
    pub title: String,
    /// File.
    pub origin: String,
    /// azir-detect's compiled rule.
    pub azir: rule::Detection,
    /// rsigma's compiled rule.
    pub rsigma: rsigma_eval::CompiledRule,
    /// rsigma's parsed rule (to compile variants of it when classifying differences).
    pub rsigma_ast: rsigma_parser::SigmaRule,
    /// The generator's reading of the rule.
    pub shape: Shape,
}

/// A rule one engine refused.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// File.
    pub origin: String,
    /// Rule title (or id).
    pub rule: String,
    /// The engine's reason.
    pub reason: String,
}

/// A rule set loaded in both engines.
#[derive(Default)]
pub struct Loaded {
    /// Rule files read.
    pub files: usize,
    /// Detection rules both compiled: the ones compared.
    pub rules: Vec<Paired>,
    /// Correlation rules (excluded from the comparison), as azir counts them.
    pub correlations: usize,
    /// Correlation rules rsigma parsed.
    pub rsigma_correlations: usize,
    /// Detection rules azir refused.
    pub azir_rejected: Vec<Rejected>,
    /// Detection rules rsigma refused (parse or compile error, or missing from its collection).
    pub rsigma_rejected: Vec<Rejected>,
    /// Messages rsigma's parser attached to files whose rules it still produced (warnings).
    pub rsigma_messages: Vec<(String, String)>,
}

/// Compile options for the comparison: the alias layer off (rule fields are looked up exactly
/// where the rule names them, as in a generic Sigma engine).
pub fn literal_options() -> CompileOptions {
    CompileOptions { aliases: false, ..CompileOptions::default() }
}

/// Loads `files` in both engines. azir compiles with `opts`.
pub fn load(files: &[RuleFile], opts: &CompileOptions) -> Loaded {
    let mut out = Loaded { files: files.len(), ..Loaded::default() };
    for f in files {
        // azir
        let mut azir: Vec<(String, rule::Detection)> = Vec::new();
        for r in rule::parse_file(&f.text, &f.origin, opts) {
            match r {
                Ok(Parsed::Detection(d)) => azir.push((d.meta.id.clone(), *d)),
                Ok(Parsed::Correlation(_) | Parsed::Aggregation(..)) => out.correlations += 1,
                Ok(Parsed::Filter(_)) => {}
                Err((rule, reason)) => {
                    out.azir_rejected.push(Rejected { origin: f.origin.clone(), rule, reason });
                }
            }
        }
        // rsigma
        let mut rs: HashMap<String, (rsigma_eval::CompiledRule, rsigma_parser::SigmaRule)> = HashMap::new();
        let mut rs_errors: Vec<String> = Vec::new();
        match rsigma_parser::parse_sigma_yaml(&f.text) {
            Ok(c) => {
                out.rsigma_correlations += c.correlations.len();
                for r in &c.rules {
                    let key = r.id.clone().or_else(|| r.name.clone()).unwrap_or_else(|| r.title.clone());
                    match rsigma_eval::compile_rule(r) {
                        Ok(compiled) => {
                            rs.insert(key, (compiled, r.clone()));
                        }
                        Err(e) => {
                            out.rsigma_rejected.push(Rejected {
                                origin: f.origin.clone(),
                                rule: r.title.clone(),
                                reason: format!("compile: {e}"),
                            });
                        }
                    }
                }
                if !c.errors.is_empty() {
                    rs_errors = c.errors.clone();
                }
            }
            Err(e) => rs_errors.push(format!("parse: {e}")),
        }
        // Pairs, and azir rules rsigma did not produce at all.
        let shapes: HashMap<String, Shape> = shape::shapes(&f.text).into_iter().map(|s| (s.id.clone(), s)).collect();
        let mut unpaired_msgs_used = false;
        for (id, d) in azir {
            match (rs.remove(&id), shapes.get(&id)) {
                (Some((r, ast)), Some(s)) => out.rules.push(Paired {
                    id: id.clone(),
                    title: d.meta.title.clone(),
                    origin: f.origin.clone(),
                    azir: d,
                    rsigma: r,
                    rsigma_ast: ast,
                    shape: s.clone(),
                }),
                (Some(_), None) => out.rsigma_rejected.push(Rejected {
                    origin: f.origin.clone(),
                    rule: d.meta.title.clone(),
                    reason: "the generator could not read its detection".into(),
                }),
                (None, _) => {
                    if out.rsigma_rejected.iter().any(|r| r.origin == f.origin && r.rule == d.meta.title) {
                        continue;
                    }
                    unpaired_msgs_used = true;
                    out.rsigma_rejected.push(Rejected {
                        origin: f.origin.clone(),
                        rule: d.meta.title.clone(),
                        reason: if rs_errors.is_empty() {
                            "not in rsigma's parsed collection".into()
                        } else {
                            format!("parse: {}", rs_errors.join("; "))
                        },
                    });
                }
            }
        }
        // rsigma rules azir refused are already in azir_rejected; rules only rsigma saw are ignored.
        if !unpaired_msgs_used {
            for e in rs_errors {
                out.rsigma_messages.push((f.origin.clone(), e));
            }
        }
    }
    out
}
