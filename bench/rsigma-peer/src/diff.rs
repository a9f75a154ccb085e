//! Per event and per rule decisions of both engines, and the classification of differences.
//!
//! azir evaluates a compiled rule's detection directly ([`azir_detect::rule::Detection::matches`]
//! on a [`Doc`] of an event whose `raw` is the JSON text), rsigma through
//! [`rsigma_eval::evaluate_rule`] on a [`JsonEvent`] of the same JSON: neither routes by logsource.
//! Both engines' production entry points are checked against those per-rule answers too: rsigma's
//! `Engine::evaluate` (its candidate index) and azir's `RuleSet::matching_routed` (its literal
//! prefilter) with the event presented under every source a rule routes to.

use crate::generate::{GenEvent, Kind};
use crate::load::Paired;
use crate::shape::{Shape, Val};
use azir_detect::fields::Doc;
use azir_model::Event;
use rsigma_eval::JsonEvent;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// azir's answer for `rule` on the JSON event `v`.
pub fn azir(rule: &Paired, v: &Value) -> bool {
    let e = Event { raw: v.to_string(), ..Default::default() };
    rule.azir.matches(&Doc::new(&e))
}

/// rsigma's answer for `rule` on the JSON event `v`.
pub fn rsigma(rule: &Paired, v: &Value) -> bool {
    rsigma_eval::evaluate_rule(&rule.rsigma, &JsonEvent::borrow(v)).is_some()
}

/// A documented reason why azir and rsigma may decide differently. Each is confirmed per
/// difference by rewriting the event (or, for rsigma defects in rule compilation, rsigma's copy
/// of the rule) so the cause no longer applies, and checking that the engines then answer as the
/// reason predicts (see [`explain`]). The first six are semantics azir has on purpose (Azure
/// exports), then one azir defect (kept here, named as such, so the corpus stays usable until it
/// is fixed), then rsigma defects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// azir compares record keys ASCII-case-insensitively, and a field is the union of the
    /// values under every spelling (LA exports write `ResultType`, Graph `resultType`); rsigma
    /// compares keys exactly. Arises when one rule spells a field `OperationName` and another
    /// `operationName`: an event made for one is evaluated by the other. Rewrite: keys renamed to
    /// the rule's spelling (values of several spellings gathered into one array); rsigma must
    /// then answer as azir did.
    KeyCase,
    /// azir's `null` also matches an empty string and an empty array, and, as every matcher,
    /// any element of an array (`["", "x"]` holds an empty value); an empty array does not
    /// `exists` either. rsigma's `null` matches only a missing field or JSON null, and `[]`
    /// exists. Rewrite: such values at the rule's null-valued and `exists` fields become null;
    /// rsigma must then answer as azir did.
    EmptyIsNull,
    /// azir lets a path that ends on an object (or array of objects) match any value inside it
    /// (what `contains` on a serialized LA column does); rsigma's string matchers do not match
    /// objects. Rewrite: such objects become an inert string; azir must then answer as rsigma did.
    ObjectLeaf,
    /// azir follows a path both through nested objects and through keys holding dots, at any
    /// depth, and takes the values of both (`a.b.c` finds `{"a": {"b.c": 1}}`); rsigma takes a
    /// dotted key only at the root, and there it shadows the nested path. Rewrite: dotted keys
    /// unflattened into nested objects (values meeting at one place gathered into an array);
    /// rsigma must then answer as azir did.
    DottedKey,
    /// azir compares a number with a rule's number as text (`50126` is `"50126"`, so the same
    /// value matches from every export shape); rsigma parses both sides, so it also takes
    /// `50126.0` or `"50126.0"` for `50126`. Rewrite: numeric values at the rule's number-valued
    /// fields written in canonical form; azir must then answer as rsigma did.
    NumberText,
    /// azir's keyword search also looks at numbers (`31337` finds `"code": 31337`); rsigma's
    /// only at strings. Rewrite: every number becomes its text; rsigma must then answer as azir did.
    KeywordNumber,
    /// rsigma defect: an unquoted number in a keyword list (`- 31337`) compiles to a numeric
    /// equality that its keyword search never applies: it matches nothing. Rewrite (of rsigma's
    /// rule): the number quoted; rsigma must then answer as azir did.
    RsigmaNumericKeyword,
    /// rsigma defect: `fieldref` compares the two fields' values only when both are scalars (an
    /// array on either side compares the arrays as wholes), while its other matchers, and
    /// azir's fieldref, take any element of an array. Rewrite: arrays at the two fields replaced
    /// by one element each; some choice must make rsigma answer as azir did.
    RsigmaFieldrefArray,
    /// rsigma defect: its `base64offset` variants keep the last, partial base64 character of each
    /// shifted encoding (`http://` gives `aHR0cDovLw`, pySigma and azir `aHR0cDovL`), and that
    /// character depends on the bytes *after* the value: it matches only when the value ends the
    /// encoded text. Rewrite: the decoded text cut right after the value and re-encoded; rsigma
    /// must then answer as azir did.
    RsigmaBase64Offset,
    /// rsigma defect: its wildcard regexes lack the `s` flag, so `*` and `?` do not match a line
    /// break (`pre*post` misses `"pre\npost"`); in Sigma (and azir) `*` is any characters.
    /// Rewrite: line breaks become spaces; rsigma must then answer as azir did.
    RsigmaWildcardNewline,
}

/// Which engine a reason's rewrite moves (the other must not move).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moves {
    /// The rewrite is invisible to azir and shows rsigma what azir saw.
    Rsigma,
    /// The rewrite is invisible to rsigma and shows azir what rsigma saw.
    Azir,
}

/// An event variant, with rsigma's rule replaced when the reason rewrites the rule.
type Variant = (Value, Option<rsigma_eval::CompiledRule>);

impl Reason {
    /// Every reason, in the order tried.
    pub const ALL: [Reason; 10] = [
        Reason::KeyCase,
        Reason::DottedKey,
        Reason::EmptyIsNull,
        Reason::ObjectLeaf,
        Reason::NumberText,
        Reason::KeywordNumber,
        Reason::RsigmaNumericKeyword,
        Reason::RsigmaFieldrefArray,
        Reason::RsigmaBase64Offset,
        Reason::RsigmaWildcardNewline,
    ];

    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Reason::KeyCase => "key-case (azir: keys case-insensitive)",
            Reason::DottedKey => "dotted-key (azir: keys holding dots match at any depth, with nested paths)",
            Reason::EmptyIsNull => {
                "empty-is-null (azir: null matches \"\", [] and such array elements; [] does not exist)"
            }
            Reason::ObjectLeaf => "object-leaf (azir: a path ending on an object matches values inside)",
            Reason::NumberText => "number-text (azir: numbers compared as their text)",
            Reason::KeywordNumber => "keyword-number (azir: keywords also search numbers)",
            Reason::RsigmaNumericKeyword => {
                "rsigma-numeric-keyword (rsigma defect: unquoted number keywords match nothing)"
            }
            Reason::RsigmaFieldrefArray => "rsigma-fieldref-array (rsigma defect: fieldref ignores array elements)",
            Reason::RsigmaBase64Offset => "rsigma-base64offset (rsigma defect: partial trailing base64 character kept)",
            Reason::RsigmaWildcardNewline => {
                "rsigma-wildcard-newline (rsigma defect: * and ? do not match a line break)"
            }
        }
    }

    fn moves(self) -> Moves {
        match self {
            Reason::ObjectLeaf | Reason::NumberText => Moves::Azir,
            _ => Moves::Rsigma,
        }
    }

    /// Variants of `(v, rs)` with this cause removed for `rule` (empty: the reason does not apply).
    fn variants(self, rule: &Paired, v: &Value, rs: &Option<rsigma_eval::CompiledRule>) -> Vec<Variant> {
        let shape = &rule.shape;
        let paths: Vec<Vec<&str>> = shape.specs().map(|s| s.field.split('.').collect()).collect();
        let mut out = v.clone();
        let changed = match self {
            Reason::KeyCase => rename_keys(&mut out, &paths),
            Reason::DottedKey => unflatten(&mut out),
            Reason::EmptyIsNull => {
                let mut changed = false;
                for s in shape.specs().filter(|s| s.values.contains(&Val::Null) || s.has("exists")) {
                    let p: Vec<&str> = s.field.split('.').collect();
                    let exists = s.has("exists");
                    changed |= at_path(&mut out, &p, &mut |x| {
                        // `null`: some value (through arrays) is null-like; `exists`: none is a
                        // non-null scalar. Either way azir reads the field as null.
                        let hit = if exists { x.is_array() && !has_scalar(x) } else { x.is_string() && nullish(x) }
                            || (!exists && x.is_array() && nullish(x));
                        if hit {
                            *x = Value::Null;
                        }
                        hit
                    });
                }
                changed
            }
            Reason::ObjectLeaf => {
                let mut changed = false;
                for p in &paths {
                    changed |= at_path(&mut out, p, &mut |x| {
                        let obj = x.is_object() || matches!(x, Value::Array(a) if a.iter().any(Value::is_object));
                        if obj {
                            *x = Value::String("\u{1}inert".into());
                        }
                        obj
                    });
                }
                changed
            }
            Reason::NumberText => {
                let mut changed = false;
                for s in
                    shape.specs().filter(|s| s.mods.is_empty() && s.values.iter().any(|v| matches!(v, Val::Int(_))))
                {
                    let p: Vec<&str> = s.field.split('.').collect();
                    changed |= at_path(&mut out, &p, &mut |x| canonical_number(x));
                }
                changed
            }
            Reason::KeywordNumber => {
                has_keywords(shape)
                    && map_scalars(&mut out, &mut |x| {
                        if let Value::Number(n) = x {
                            *x = Value::String(n.to_string());
                            true
                        } else {
                            false
                        }
                    })
            }
            Reason::RsigmaNumericKeyword => {
                return quoted_number_keywords(&rule.rsigma_ast).map(|r| (v.clone(), Some(r))).into_iter().collect();
            }
            Reason::RsigmaFieldrefArray => {
                return fieldref_choices(shape, v).into_iter().map(|w| (w, rs.clone())).collect();
            }
            Reason::RsigmaBase64Offset => {
                let mut changed = false;
                for s in shape.specs().filter(|s| s.has("base64offset")) {
                    let p: Vec<&str> = s.field.split('.').collect();
                    changed |= at_path(&mut out, &p, &mut |x| cut_after_value(x, s));
                }
                changed
            }
            Reason::RsigmaWildcardNewline => map_scalars(&mut out, &mut |x| match x {
                Value::String(s) if s.contains(['\n', '\r']) => {
                    *s = s.replace(['\n', '\r'], " ");
                    true
                }
                _ => false,
            }),
        };
        if changed { vec![(out, rs.clone())] } else { Vec::new() }
    }
}

/// Null-like as azir's `null` reads it: null, `""`, `[]`, or an array with a null-like element.
fn nullish(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty() || a.iter().any(nullish),
        _ => false,
    }
}

/// Holds a non-null scalar (through arrays and objects).
fn has_scalar(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Array(a) => a.iter().any(has_scalar),
        Value::Object(m) => m.values().any(has_scalar),
        _ => true,
    }
}

fn has_keywords(shape: &Shape) -> bool {
    shape.searches.iter().any(|(_, s)| matches!(s, crate::shape::Search::Keywords(_)))
}

/// rsigma's rule with its number keywords quoted (`None`: it has none).
fn quoted_number_keywords(ast: &rsigma_parser::SigmaRule) -> Option<rsigma_eval::CompiledRule> {
    use rsigma_parser::{Detection, SigmaString, SigmaValue};
    fn quote(d: &mut Detection) -> bool {
        match d {
            Detection::Keywords(vs) => vs.iter_mut().fold(false, |acc, v| {
                let text = match v {
                    SigmaValue::Integer(i) => i.to_string(),
                    SigmaValue::Float(f) => f.to_string(),
                    _ => return acc,
                };
                *v = SigmaValue::String(SigmaString::new(&text));
                true
            }),
            Detection::AnyOf(ds) => ds.iter_mut().fold(false, |acc, d| quote(d) | acc),
            _ => false,
        }
    }
    let mut ast = ast.clone();
    let changed = ast.detection.named.values_mut().fold(false, |acc, d| quote(d) | acc);
    if !changed {
        return None;
    }
    rsigma_eval::compile_rule(&ast).ok()
}

/// Evaluates the rewritten variant: azir's rule, and rsigma's (possibly rewritten) rule.
fn decide(rule: &Paired, w: &Variant) -> (bool, bool) {
    let r = match &w.1 {
        Some(rs) => rsigma_eval::evaluate_rule(rs, &JsonEvent::borrow(&w.0)).is_some(),
        None => rsigma(rule, &w.0),
    };
    (azir(rule, &w.0), r)
}

/// The reasons that explain azir answering `a` and rsigma `r` on `v` for `rule`: one reason, or
/// two applied one after the other. Each step must leave the engine it does not move unchanged,
/// and at the end the engines must agree. Empty: unexplained.
pub fn explain(rule: &Paired, v: &Value, a: bool, r: bool) -> Vec<Reason> {
    // `before` and `after`: (azir, rsigma) answers around one rewrite of reason `x`.
    let steady = |x: Reason, before: (bool, bool), after: (bool, bool)| match x.moves() {
        Moves::Rsigma => after.0 == before.0,
        Moves::Azir => after.1 == before.1,
    };
    let start: Variant = (v.clone(), None);
    for x in Reason::ALL {
        for w in x.variants(rule, &start.0, &start.1) {
            let d = decide(rule, &w);
            if steady(x, (a, r), d) && d.0 == d.1 {
                return vec![x];
            }
        }
    }
    for x in Reason::ALL {
        for y in Reason::ALL.into_iter().filter(|&y| y != x) {
            for w in x.variants(rule, &start.0, &start.1) {
                let d1 = decide(rule, &w);
                if !steady(x, (a, r), d1) {
                    continue;
                }
                for w2 in y.variants(rule, &w.0, &w.1) {
                    let d2 = decide(rule, &w2);
                    if steady(y, d1, d2) && d2.0 == d2.1 {
                        let mut both = vec![x, y];
                        both.sort();
                        return both;
                    }
                }
            }
        }
    }
    Vec::new()
}

/// Turns every key holding dots into nested objects; values meeting at one place are gathered
/// into an array. True if a key was split.
fn unflatten(v: &mut Value) -> bool {
    fn put(m: &mut serde_json::Map<String, Value>, segs: &[&str], x: Value) {
        let Some((first, rest)) = segs.split_first() else { return };
        if rest.is_empty() {
            let merged = match m.remove(*first) {
                None => x,
                Some(Value::Object(mut a)) if x.is_object() => {
                    if let Value::Object(b) = x {
                        for (k, y) in b {
                            put(&mut a, &[k.as_str()], y);
                        }
                    }
                    Value::Object(a)
                }
                Some(old) => {
                    let mut all = Vec::new();
                    for y in [old, x] {
                        match y {
                            Value::Array(ys) => all.extend(ys),
                            y => all.push(y),
                        }
                    }
                    Value::Array(all)
                }
            };
            m.insert(first.to_string(), merged);
            return;
        }
        let next = m.entry(first.to_string()).or_insert_with(|| Value::Object(serde_json::Map::new()));
        match next {
            Value::Object(n) => put(n, rest, x),
            Value::Array(xs) => {
                let mut n = serde_json::Map::new();
                put(&mut n, rest, x);
                xs.push(Value::Object(n));
            }
            other => {
                let mut n = serde_json::Map::new();
                put(&mut n, rest, x);
                let old = other.take();
                *other = Value::Array(vec![old, Value::Object(n)]);
            }
        }
    }
    let mut changed = false;
    match v {
        Value::Array(xs) => {
            for x in xs {
                changed |= unflatten(x);
            }
        }
        Value::Object(m) => {
            for x in m.values_mut() {
                changed |= unflatten(x);
            }
            let dotted: Vec<String> = m.keys().filter(|k| k.contains('.')).cloned().collect();
            for k in dotted {
                let x = m.remove(&k).unwrap_or(Value::Null);
                let segs: Vec<&str> = k.split('.').collect();
                put(m, &segs, x);
                changed = true;
            }
        }
        _ => {}
    }
    changed
}

/// Applies `f` to every scalar of `v` (strings, numbers, ...); true if `f` changed one.
fn map_scalars(v: &mut Value, f: &mut dyn FnMut(&mut Value) -> bool) -> bool {
    match v {
        Value::Array(xs) => xs.iter_mut().fold(false, |acc, x| map_scalars(x, f) | acc),
        Value::Object(m) => m.values_mut().fold(false, |acc, x| map_scalars(x, f) | acc),
        other => f(other),
    }
}

/// An integral number (JSON float or numeric text, also inside arrays) as a JSON integer.
fn canonical_number(x: &mut Value) -> bool {
    let n = match x {
        Value::Array(xs) => return xs.iter_mut().fold(false, |acc, y| canonical_number(y) | acc),
        Value::Number(n) if !n.is_i64() => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| s.trim() != format!("{}", *f as i64)),
        _ => None,
    };
    match n {
        Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => {
            *x = Value::from(f as i64);
            true
        }
        _ => false,
    }
}

/// Values at `path` (arrays flattened one level).
fn values_at(v: &Value, path: &[&str]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut v = v.clone();
    at_path(&mut v, path, &mut |x| {
        match x {
            Value::Array(a) => out.extend(a.iter().cloned()),
            other => out.push(other.clone()),
        }
        false
    });
    out
}

/// For every fieldref item with an array at either field: the event with each combination of
/// one element per side (at most 64).
fn fieldref_choices(shape: &Shape, v: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for s in shape.specs().filter(|s| s.has("fieldref")) {
        let Some(Val::Str(other)) = s.values.first() else { continue };
        let (pa, pb): (Vec<&str>, Vec<&str>) = (s.field.split('.').collect(), other.split('.').collect());
        let has_array = |p: &[&str]| {
            let mut hit = false;
            at_path(&mut v.clone(), p, &mut |x| {
                hit |= x.is_array();
                false
            });
            hit
        };
        if !has_array(&pa) && !has_array(&pb) {
            continue;
        }
        for x in values_at(v, &pa).into_iter().take(8) {
            for y in values_at(v, &pb).into_iter().take(8) {
                let mut w = v.clone();
                at_path(&mut w, &pa, &mut |z| {
                    *z = x.clone();
                    true
                });
                at_path(&mut w, &pb, &mut |z| {
                    *z = y.clone();
                    true
                });
                out.push(w);
            }
        }
    }
    out
}

/// Decodes the base64 string `x`, cuts the text right after the first occurrence of one of the
/// item's values (UTF-16 when the item says so), and re-encodes it. True when it changed `x`.
fn cut_after_value(x: &mut Value, spec: &crate::shape::FieldSpec) -> bool {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Value::Array(xs) = x {
        return xs.iter_mut().fold(false, |acc, y| cut_after_value(y, spec) | acc);
    }
    let Value::String(s) = x else { return false };
    let Ok(plain) = b64.decode(s.as_bytes()) else { return false };
    for v in &spec.values {
        let Val::Str(t) = v else { continue };
        let needle: Vec<u8> = if spec.has("wide") || spec.has("utf16le") {
            t.encode_utf16().flat_map(u16::to_le_bytes).collect()
        } else if spec.has("utf16be") {
            t.encode_utf16().flat_map(u16::to_be_bytes).collect()
        } else {
            t.as_bytes().to_vec()
        };
        if let Some(i) = plain.windows(needle.len()).position(|w| w == needle.as_slice()) {
            let cut = b64.encode(&plain[..i + needle.len()]);
            if cut != *s {
                *s = cut;
                return true;
            }
        }
    }
    false
}

/// Calls `f` on every value at `path` (through arrays, flat dotted keys too); true if `f` was.
fn at_path(v: &mut Value, path: &[&str], f: &mut dyn FnMut(&mut Value) -> bool) -> bool {
    if path.is_empty() {
        return f(v);
    }
    match v {
        Value::Array(xs) => xs.iter_mut().fold(false, |acc, x| at_path(x, path, f) | acc),
        Value::Object(m) => {
            let mut hit = false;
            let whole = path.join(".");
            if path.len() > 1
                && let Some(x) = m.get_mut(&whole)
            {
                hit |= f(x);
            }
            if let Some(x) = m.get_mut(path[0]) {
                hit |= at_path(x, &path[1..], f);
            }
            hit
        }
        _ => false,
    }
}

/// Renames keys that equal a rule path segment ignoring ASCII case to the rule's spelling.
fn rename_keys(v: &mut Value, paths: &[Vec<&str>]) -> bool {
    fn go(v: &mut Value, paths: &[&[&str]]) -> bool {
        match v {
            Value::Array(xs) => xs.iter_mut().fold(false, |acc, x| go(x, paths) | acc),
            Value::Object(m) => {
                let mut changed = false;
                let keys: Vec<String> = m.keys().cloned().collect();
                for k in keys {
                    // A flat dotted key, or the first segment.
                    let target = paths.iter().find_map(|p| {
                        let whole = p.join(".");
                        if whole.eq_ignore_ascii_case(&k) {
                            Some(whole)
                        } else if p[0].eq_ignore_ascii_case(&k) {
                            Some(p[0].to_string())
                        } else {
                            None
                        }
                    });
                    let name = match target {
                        Some(t) if t != k => {
                            let x = m.remove(&k).unwrap_or(Value::Null);
                            // Several spellings: their values gathered (azir takes any of them).
                            let x = match m.remove(&t) {
                                None => x,
                                Some(old) => {
                                    let mut all = Vec::new();
                                    for y in [old, x] {
                                        match y {
                                            Value::Array(ys) => all.extend(ys),
                                            y => all.push(y),
                                        }
                                    }
                                    Value::Array(all)
                                }
                            };
                            m.insert(t.clone(), x);
                            changed = true;
                            t
                        }
                        _ => k,
                    };
                    let rest: Vec<&[&str]> = paths
                        .iter()
                        .filter(|p| p.len() > 1 && p[0].eq_ignore_ascii_case(&name))
                        .map(|p| &p[1..])
                        .collect();
                    if !rest.is_empty()
                        && let Some(x) = m.get_mut(&name)
                    {
                        changed |= go(x, &rest);
                    }
                }
                changed
            }
            _ => false,
        }
    }
    let refs: Vec<&[&str]> = paths.iter().map(Vec::as_slice).collect();
    go(v, &refs)
}

/// One decision the engines disagree on.
#[derive(Debug, Clone)]
pub struct Difference {
    /// Rule index (in [`crate::load::Loaded::rules`]).
    pub rule: usize,
    /// Event index.
    pub event: usize,
    /// azir's answer.
    pub azir: bool,
    /// rsigma's answer.
    pub rsigma: bool,
    /// The documented reasons that explain it together (empty: unexplained).
    pub reasons: Vec<Reason>,
}

/// Everything the comparison found.
#[derive(Debug, Default)]
pub struct Report {
    /// Events per kind.
    pub events: BTreeMap<&'static str, usize>,
    /// Decisions compared (events x rules).
    pub decisions: usize,
    /// Per rule: (events azir matched, events rsigma matched, both matched).
    pub per_rule: Vec<(usize, usize, usize)>,
    /// Per rule: positives made from that rule that both engines matched.
    pub own_positive_hits: Vec<usize>,
    /// Every difference.
    pub differences: Vec<Difference>,
    /// rsigma's `Engine::evaluate` (candidate index) disagreeing with its per-rule evaluation.
    pub rsigma_index_mismatches: Vec<(usize, String)>,
    /// azir's routed, prefiltered evaluation disagreeing with its per-rule evaluation.
    pub azir_prefilter_mismatches: Vec<(usize, String)>,
}

impl Report {
    /// Differences per explanation (empty: unexplained): (only azir matched, only rsigma matched).
    pub fn by_reason(&self) -> BTreeMap<Vec<Reason>, (usize, usize)> {
        let mut m = BTreeMap::new();
        for d in &self.differences {
            let e: &mut (usize, usize) = m.entry(d.reasons.clone()).or_default();
            if d.azir {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
        m
    }

    /// The unexplained differences.
    pub fn unexplained(&self) -> impl Iterator<Item = &Difference> {
        self.differences.iter().filter(|d| d.reasons.is_empty())
    }
}

/// Evaluates every event against every rule in both engines and classifies the differences.
/// `azir_sets` are the same rules as azir `RuleSet`s (the first with aliases off, as `rules`;
/// others, e.g. with aliases on, only for the prefilter check).
pub fn compare(rules: &[Paired], events: &[GenEvent], azir_sets: &[azir_detect::RuleSet]) -> Report {
    let azir_set = &azir_sets[0];
    let mut rep =
        Report { per_rule: vec![(0, 0, 0); rules.len()], own_positive_hits: vec![0; rules.len()], ..Report::default() };
    let mut engine = rsigma_eval::Engine::new();
    engine.extend_compiled_rules(rules.iter().map(|r| r.rsigma.clone()));
    let by_id: HashMap<&str, usize> = rules.iter().enumerate().map(|(i, r)| (r.id.as_str(), i)).collect();
    let sources: BTreeSet<String> = azir_set.rules().into_iter().flat_map(|r| r.sources).collect();
    for (ei, ge) in events.iter().enumerate() {
        *rep.events.entry(ge.kind.name()).or_insert(0) += 1;
        let text = ge.value.to_string();
        let event = Event { raw: text, ..Default::default() };
        let doc = Doc::new(&event);
        let jev = JsonEvent::borrow(&ge.value);
        let mut rs_set = BTreeSet::new();
        let mut az_set = BTreeSet::new();
        for (ri, rule) in rules.iter().enumerate() {
            let a = rule.azir.matches(&doc);
            let r = rsigma_eval::evaluate_rule(&rule.rsigma, &jev).is_some();
            rep.decisions += 1;
            let pr = &mut rep.per_rule[ri];
            pr.0 += usize::from(a);
            pr.1 += usize::from(r);
            pr.2 += usize::from(a && r);
            if a && r && ge.kind == Kind::Positive && ge.rule == Some(ri) {
                rep.own_positive_hits[ri] += 1;
            }
            if r {
                rs_set.insert(ri);
            }
            if a {
                az_set.insert(ri);
            }
            if a != r {
                let reasons = explain(rule, &ge.value, a, r);
                rep.differences.push(Difference { rule: ri, event: ei, azir: a, rsigma: r, reasons });
            }
        }
        // rsigma's production path (candidate index) against its per-rule answers.
        let via_engine: BTreeSet<usize> = engine
            .evaluate(&jev)
            .iter()
            .filter_map(|m| m.header.rule_id.as_deref().and_then(|id| by_id.get(id).copied()))
            .collect();
        if via_engine != rs_set {
            rep.rsigma_index_mismatches.push((ei, format!("engine {via_engine:?} vs per-rule {rs_set:?}")));
        }
        // azir's production path (routing + literal prefilter) against its per-rule answers.
        let mut e = event.clone();
        for (si, set) in azir_sets.iter().enumerate() {
            for s in &sources {
                e.source = s.clone();
                let routed: BTreeSet<&str> = set.matching_routed(&e).into_iter().collect();
                let full: BTreeSet<&str> = set.matching_routed_unfiltered(&e).into_iter().collect();
                if routed != full {
                    rep.azir_prefilter_mismatches
                        .push((ei, format!("set {si}, source {s}: prefiltered {routed:?} vs {full:?}")));
                }
            }
        }
        let all: BTreeSet<&str> = azir_set.matching(&event).into_iter().collect();
        let mine: BTreeSet<&str> = az_set.iter().map(|&i| rules[i].id.as_str()).collect();
        if !mine.is_subset(&all) {
            rep.azir_prefilter_mismatches.push((ei, format!("RuleSet::matching {all:?} misses {mine:?}")));
        }
    }
    rep
}
