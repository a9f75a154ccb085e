//! The alias-free event generator. Every event is a JSON object whose keys are exactly the field
//! names the rules write (dotted names become nested objects, or flat dotted keys), so neither
//! engine needs an alias layer or case-insensitive keys to find a field.
//!
//! Per rule: *positives* (field values built to satisfy one search, every non-filter search,
//! every search, or random subsets, honouring the modifiers), *near-misses* (a positive with one
//! field changed or dropped), and globally *noise* (random fields from all rules with values from
//! all rules, mutated or not, and random text, numbers, booleans, nulls, empty strings and
//! arrays). Some objects are wrapped into arrays of objects and some scalars into arrays of
//! scalars, as Azure records carry them (`targetResources[]`, `riskEventTypes[]`).

use crate::rng::Rng;
use crate::shape::{FieldSpec, Search, Shape, Val};
use base64::Engine as _;
use serde_json::{Map, Value, json};

/// What an event was generated as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Built to satisfy (some of) a rule's searches.
    Positive,
    /// A positive with one field changed or dropped.
    NearMiss,
    /// Random fields and values from all rules.
    Noise,
    /// Written by hand (`probes/pinned.jsonl`): every known difference, whatever the seed.
    Pinned,
}

impl Kind {
    /// Name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Positive => "positive",
            Kind::NearMiss => "near-miss",
            Kind::Noise => "noise",
            Kind::Pinned => "pinned",
        }
    }
}

/// One generated event.
#[derive(Debug, Clone)]
pub struct GenEvent {
    /// The event.
    pub value: Value,
    /// How it was made.
    pub kind: Kind,
    /// The rule it was made from (noise: none).
    pub rule: Option<usize>,
}

/// Field path segments and the value placed there.
type Assign = (String, Value);

/// A field's value while items are merged: path, value, and for substring values whether a
/// startswith (first) and an endswith (second) piece is in it.
type Merged<'a> = (&'a str, Value, Option<(bool, bool)>);

/// The assignments made for one field item (so a near-miss can redo exactly one).
#[derive(Debug, Clone)]
struct Part {
    spec: Option<FieldSpec>,
    assigns: Vec<Assign>,
}

const WORDS: &[&str] = &[
    "contoso",
    "fabrikam",
    "prod",
    "rg-web",
    "Microsoft.Web",
    "sites",
    "write",
    "read",
    "list",
    "user",
    "admin",
    "Success",
    "Failure",
    "policy",
    "token",
    "vm01",
    "westeurope",
    "app",
    "sp",
    "Global",
    "none",
    "x-ms",
    "42",
    "0",
    "true",
    "Ünïcödé",
    "größe",
    "日本",
    "ß",
    "é",
    "first line\nsecond line",
    "tab\there",
];

/// The generator. Same seed and rules, same corpus.
pub struct Gen {
    rng: Rng,
    /// Every field name of every rule.
    fields: Vec<String>,
    /// Every literal value of every rule, instantiated once (wildcards filled).
    values: Vec<Value>,
}

/// `s` as is, upper-cased, lower-cased (ASCII or full Unicode) or with random ASCII case.
fn vary_case(rng: &mut Rng, s: &str) -> String {
    match rng.below(6) {
        0 => s.to_string(),
        1 => s.to_ascii_uppercase(),
        2 => s.to_ascii_lowercase(),
        3 => s.to_uppercase(),
        4 => s.to_lowercase(),
        _ => s.chars().map(|c| if rng.chance(0.5) { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }).collect(),
    }
}

/// Sigma string pieces: literal text, `*`, `?` (`\*`, `\?`, `\\` escape; other backslashes are
/// literal).
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Lit(String),
    Star,
    One,
}

fn pieces(s: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    lit.push(n);
                    it.next();
                }
                _ => lit.push('\\'),
            },
            '*' | '?' => {
                if !lit.is_empty() {
                    out.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                out.push(if c == '*' { Piece::Star } else { Piece::One });
            }
            _ => lit.push(c),
        }
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    out
}

impl Gen {
    /// A generator over `rules` (their fields and values feed the noise).
    pub fn new(seed: u64, rules: &[&Shape]) -> Gen {
        let mut g = Gen { rng: Rng::new(seed), fields: Vec::new(), values: Vec::new() };
        for r in rules {
            for s in r.specs() {
                if !g.fields.contains(&s.field) {
                    g.fields.push(s.field.clone());
                }
                for v in &s.values {
                    let x = match v {
                        Val::Str(t) => Value::String(g.fill(t, false)),
                        Val::Int(i) => json!(i),
                        Val::Float(f) => json!(f),
                        Val::Bool(b) => json!(b),
                        Val::Null => continue,
                    };
                    g.values.push(x);
                }
            }
            for (_, s) in &r.searches {
                if let Search::Keywords(k) = s {
                    for v in k {
                        match v {
                            Val::Str(t) => {
                                let x = g.fill(t, false);
                                g.values.push(Value::String(x));
                            }
                            Val::Int(i) => g.values.push(json!(i)),
                            _ => {}
                        }
                    }
                }
            }
        }
        if g.fields.is_empty() {
            g.fields.push("field".into());
        }
        if g.values.is_empty() {
            g.values.push(json!("value"));
        }
        g
    }

    fn text(&mut self, max_words: usize) -> String {
        let n = self.rng.range(0, max_words);
        let mut out = String::new();
        for i in 0..n {
            if i > 0 {
                out.push(*self.rng.pick(&[' ', '/', '-', '.', '_', ':']));
            }
            let w = *self.rng.pick(WORDS);
            out.push_str(w);
        }
        out
    }

    /// Fills a Sigma string's wildcards with random text; with `mutate`, one literal character
    /// is changed (so the value should no longer match).
    fn fill(&mut self, s: &str, mutate: bool) -> String {
        let mut out = String::new();
        let ps = pieces(s);
        let lits: usize = ps.iter().map(|p| if let Piece::Lit(l) = p { l.chars().count() } else { 0 }).sum();
        let mut target = if mutate && lits > 0 { Some(self.rng.below(lits)) } else { None };
        let mut seen = 0;
        for p in ps {
            match p {
                Piece::Lit(l) => {
                    for c in l.chars() {
                        if target == Some(seen) {
                            out.push(match c {
                                'q' | 'Q' => 'z',
                                '0'..='8' => (c as u8 + 1) as char,
                                '9' => '0',
                                _ => 'q',
                            });
                            target = None;
                        } else {
                            out.push(c);
                        }
                        seen += 1;
                    }
                }
                Piece::Star => out.push_str(&self.text(2)),
                Piece::One => out.push(*self.rng.pick(&['a', 'Z', '7', '-', '.', 'é', '日'])),
            }
        }
        if mutate && lits == 0 {
            out.push('\u{1}');
        }
        out
    }

    /// A string matching the regex `pat` (flags `i`, `m`, `s`).
    fn regex_text(&mut self, pat: &str, i: bool, m: bool, s: bool) -> String {
        let hir = regex_syntax::ParserBuilder::new()
            .case_insensitive(i)
            .multi_line(m)
            .dot_matches_new_line(s)
            .build()
            .parse(pat);
        let mut out = String::new();
        if let Ok(h) = hir {
            self.hir(&h, &mut out);
        }
        out
    }

    fn hir(&mut self, h: &regex_syntax::hir::Hir, out: &mut String) {
        use regex_syntax::hir::{Class, HirKind};
        match h.kind() {
            HirKind::Empty | HirKind::Look(_) => {}
            HirKind::Literal(l) => out.push_str(&String::from_utf8_lossy(&l.0)),
            HirKind::Class(Class::Unicode(c)) => {
                let ranges: Vec<(char, char)> = c.ranges().iter().map(|r| (r.start(), r.end())).collect();
                // Prefer printable ASCII inside the class.
                let printable: Vec<(char, char)> = ranges
                    .iter()
                    .filter_map(|&(a, b)| {
                        let (a, b) = (a.max('!'), b.min('~'));
                        (a <= b).then_some((a, b))
                    })
                    .collect();
                let pool = if printable.is_empty() { &ranges } else { &printable };
                if let Some(&(a, b)) = (!pool.is_empty()).then(|| self.rng.pick(pool)) {
                    let span = (b as u32 - a as u32) as usize;
                    let c = char::from_u32(a as u32 + self.rng.below(span + 1) as u32).unwrap_or(a);
                    out.push(c);
                }
            }
            HirKind::Class(Class::Bytes(c)) => {
                if let Some(r) = c.ranges().first() {
                    let (a, b) = (r.start().max(b'!'), r.end().min(b'~'));
                    out.push(if a <= b { (a + self.rng.below(usize::from(b - a) + 1) as u8) as char } else { 'x' });
                }
            }
            HirKind::Repetition(r) => {
                let max = r.max.unwrap_or(r.min + 3).min(r.min + 3);
                let n = self.rng.range(r.min as usize, max as usize);
                for _ in 0..n {
                    self.hir(&r.sub, out);
                }
            }
            HirKind::Capture(c) => self.hir(&c.sub, out),
            HirKind::Concat(xs) => xs.iter().for_each(|x| self.hir(x, out)),
            HirKind::Alternation(xs) => {
                let x = self.rng.pick(xs).clone();
                self.hir(&x, out);
            }
        }
    }

    /// The text a string item carries: wildcards filled, case varied (unless `cased`), encoded
    /// as the modifiers say, and surrounded as contains/startswith/endswith allow.
    fn string_for(&mut self, spec: &FieldSpec, s: &str, mutate: bool) -> String {
        let encoded = spec.has("base64") || spec.has("base64offset");
        let mut t = self.fill(s, mutate);
        // Encodings are of the exact value (their output is compared case-sensitively).
        if !spec.has("cased") && !encoded {
            t = vary_case(&mut self.rng, &t);
        }
        if spec.has("windash") {
            t = t.replace(" -", &format!(" {}", self.rng.pick(&["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"])));
        }
        let (pre, post) = (self.text(2), self.text(2));
        if encoded {
            let mut plain = t.into_bytes();
            let utf16 = |b: &[u8], be: bool| -> Vec<u8> {
                String::from_utf8_lossy(b)
                    .encode_utf16()
                    .flat_map(|u| if be { u.to_be_bytes() } else { u.to_le_bytes() })
                    .collect()
            };
            if spec.has("wide") || spec.has("utf16le") {
                plain = utf16(&plain, false);
            } else if spec.has("utf16be") {
                plain = utf16(&plain, true);
            }
            let b64 = base64::engine::general_purpose::STANDARD;
            return if spec.has("base64offset") {
                let mut b = self.text(1).into_bytes();
                b.truncate(self.rng.below(3));
                b.extend_from_slice(&plain);
                b.extend_from_slice(post.as_bytes());
                b64.encode(b)
            } else {
                format!("{pre}{}{post}", b64.encode(plain))
            };
        }
        if spec.has("contains") {
            format!("{pre}{t}{post}")
        } else if spec.has("startswith") {
            format!("{t}{post}")
        } else if spec.has("endswith") {
            format!("{pre}{t}")
        } else {
            t
        }
    }

    fn number(&mut self, n: f64, int: bool) -> Value {
        let as_string = self.rng.chance(0.3);
        match (int && n.fract() == 0.0, as_string) {
            (true, false) => json!(n as i64),
            (true, true) => json!((n as i64).to_string()),
            (false, false) => json!(n),
            (false, true) => json!(n.to_string()),
        }
    }

    /// The assignments satisfying (or, with `mutate`, probably violating) one field item.
    fn part(&mut self, spec: &FieldSpec, mutate: bool) -> Vec<Assign> {
        let f = spec.field.clone();
        if spec.has("exists") {
            let want = !matches!(spec.values.first(), Some(Val::Bool(false)));
            if want != mutate {
                return vec![(f, json!(self.text(2) + "x"))];
            }
            // Absent: missing, or present without a value (null, empty array).
            return match self.rng.below(3) {
                0 => Vec::new(),
                1 => vec![(f, Value::Null)],
                _ => vec![(f, json!([]))],
            };
        }
        if spec.has("fieldref") {
            let Some(Val::Str(other)) = spec.values.first() else { return Vec::new() };
            let v = format!("ref-{}", self.text(1));
            let mine = if mutate {
                format!("{v}-other")
            } else if spec.has("contains") {
                format!("{}{v}{}", self.text(1), self.text(1))
            } else {
                vary_case(&mut self.rng, &v)
            };
            return vec![(f, json!(mine)), (other.clone(), json!(v))];
        }
        let num_op = ["gt", "gte", "lt", "lte"].into_iter().find(|m| spec.has(m));
        if let Some(op) = num_op {
            let n = match spec.values.first() {
                Some(Val::Int(i)) => *i as f64,
                Some(Val::Float(x)) => *x,
                _ => return Vec::new(),
            };
            let d = self.rng.range(1, 50) as f64;
            let eq = self.rng.chance(0.3);
            let above = matches!(op, "gt" | "gte") != mutate;
            let x = match (op, eq && !mutate) {
                ("gte" | "lte", true) => n,
                _ if above => n + d,
                _ => n - d,
            };
            let x = if mutate && matches!(op, "gt" | "lt") && eq { n } else { x };
            let int = matches!(spec.values.first(), Some(Val::Int(_)));
            return vec![(f, self.number(x, int))];
        }
        if spec.has("cidr") {
            let Some(Val::Str(net)) = spec.values.get(self.rng.below(spec.values.len().max(1))) else {
                return Vec::new();
            };
            let Ok(net) = net.parse::<ipnet::IpNet>() else { return Vec::new() };
            let ip = match net {
                ipnet::IpNet::V4(n) => {
                    let host = !u32::from(n.netmask());
                    let base = u32::from(n.network());
                    let mut a = base | (self.rng.next_u64() as u32 & host);
                    if mutate {
                        a ^= 0x8000_0000;
                    }
                    std::net::Ipv4Addr::from(a).to_string()
                }
                ipnet::IpNet::V6(n) => {
                    let host = !u128::from(n.netmask());
                    let base = u128::from(n.network());
                    let r = (u128::from(self.rng.next_u64()) << 64) | u128::from(self.rng.next_u64());
                    let mut a = base | (r & host);
                    if mutate {
                        a ^= 1 << 127;
                    }
                    std::net::Ipv6Addr::from(a).to_string()
                }
            };
            return vec![(f, json!(ip))];
        }
        if spec.values.is_empty() {
            return Vec::new();
        }
        let chosen: Vec<Val> = if spec.has("all") {
            spec.values.clone()
        } else {
            vec![spec.values[self.rng.below(spec.values.len())].clone()]
        };
        if spec.has("re") {
            let Val::Str(p) = &chosen[0] else { return Vec::new() };
            let mut t = self.regex_text(p, spec.has("i"), spec.has("m"), spec.has("s"));
            if mutate {
                t = self.fill(&t.replace(['*', '?', '\\'], "_"), true);
            }
            return vec![(f, json!(t))];
        }
        // With `all`, a near-miss breaks one of the values only.
        let broken = if mutate { self.rng.below(chosen.len()) } else { usize::MAX };
        let mut texts = Vec::new();
        for (i, v) in chosen.iter().enumerate() {
            let m = i == broken;
            let x = match v {
                Val::Null if m => json!(self.text(1) + "n"),
                Val::Null => {
                    if self.rng.chance(0.5) {
                        return Vec::new();
                    }
                    Value::Null
                }
                Val::Int(n) => self.number((*n + i64::from(m)) as f64, true),
                Val::Float(x) => self.number(x + if m { 1.0 } else { 0.0 }, false),
                Val::Bool(b) => {
                    let b = *b != m;
                    if self.rng.chance(0.7) { json!(b) } else { json!(b.to_string()) }
                }
                Val::Str(s) => json!(self.string_for(spec, s, m)),
            };
            texts.push(x);
        }
        let value = if texts.len() == 1 {
            texts.remove(0)
        } else if spec.has("contains") {
            // contains|all: every value inside one string (random order).
            let mut parts: Vec<String> =
                texts.iter().map(|t| t.as_str().map_or_else(|| t.to_string(), str::to_string)).collect();
            for i in (1..parts.len()).rev() {
                let j = self.rng.below(i + 1);
                parts.swap(i, j);
            }
            json!(parts.join(" "))
        } else {
            texts.remove(0)
        };
        vec![(f, value)]
    }

    fn parts_for_search(&mut self, s: &Search) -> Vec<Part> {
        match s {
            Search::Maps(ms) => {
                let m = ms[self.rng.below(ms.len())].clone();
                m.iter().map(|spec| Part { spec: Some(spec.clone()), assigns: self.part(spec, false) }).collect()
            }
            Search::Keywords(ks) => {
                let k = match ks.get(self.rng.below(ks.len().max(1))) {
                    Some(Val::Str(k)) => k.clone(),
                    Some(Val::Int(i)) => i.to_string(),
                    _ => return Vec::new(),
                };
                let f = if self.rng.chance(0.5) { self.rng.pick(&self.fields).clone() } else { "Description".into() };
                // A number keyword is sometimes a JSON number (Azure writes codes both ways).
                if let Ok(n) = k.parse::<i64>()
                    && self.rng.chance(0.5)
                {
                    return vec![Part { spec: None, assigns: vec![(f, json!(n))] }];
                }
                let k = self.fill(&k, false);
                let k = vary_case(&mut self.rng, &k);
                let t = format!("{} {k} {}", self.text(1), self.text(1));
                vec![Part { spec: None, assigns: vec![(f, json!(t))] }]
            }
        }
    }

    /// Puts the assignments into one object: dotted names nested (or, for a fifth of the events,
    /// flat dotted keys). The first assignment to a place wins.
    fn build(&mut self, parts: &[Part]) -> Value {
        let flat = self.rng.chance(0.2);
        // Items on the same field (`f|startswith` and `f|endswith` in one map, or `f|contains`
        // in two searches): their substring values are joined into one string, a startswith
        // piece first and an endswith piece last. Otherwise the first assignment wins.
        let mut merged: Vec<Merged> = Vec::new();
        for p in parts {
            let kind = p.spec.as_ref().and_then(|s| {
                let plain = !["re", "cidr", "gt", "gte", "lt", "lte", "exists", "fieldref", "base64", "base64offset"]
                    .iter()
                    .any(|m| s.has(m));
                let sub = s.has("contains") || s.has("startswith") || s.has("endswith");
                (plain && sub).then(|| (s.has("startswith"), s.has("endswith")))
            });
            for (path, v) in &p.assigns {
                match merged.iter_mut().find(|m| m.0 == path.as_str()) {
                    None => merged.push((path, v.clone(), kind)),
                    Some(m) => {
                        let (Some((s1, e1)), Some((s2, e2)), Value::String(a), Value::String(b)) = (m.2, kind, &m.1, v)
                        else {
                            continue;
                        };
                        if (s1 && s2) || (e1 && e2) {
                            continue;
                        }
                        let joined = if s2 || e1 { format!("{b} {a}") } else { format!("{a} {b}") };
                        *m = (m.0, Value::String(joined), Some((s1 || s2, e1 || e2)));
                    }
                }
            }
        }
        let mut root = Map::new();
        // A tenth of the events keep the tail of dotted names as one flat key below the root
        // (`{"a": {"b.c": 1}}`), as some exports flatten nested objects.
        let partial = !flat && self.rng.chance(0.12);
        for (path, v, _) in &merged {
            if flat || !path.contains('.') {
                root.entry(path.to_string()).or_insert_with(|| v.clone());
                continue;
            }
            let mut segs: Vec<String> = path.split('.').map(str::to_string).collect();
            if partial && segs.len() > 2 {
                let k = self.rng.range(1, segs.len() - 2);
                let tail = segs.split_off(k).join(".");
                segs.push(tail);
            }
            let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
            insert(&mut root, &segs, v);
        }
        let mut v = Value::Object(root);
        self.arrayify(&mut v, 0);
        v
    }

    /// Wraps some nested objects into arrays of objects, and some scalars into arrays of scalars,
    /// next to noise elements (any-of semantics must keep a match a match).
    fn arrayify(&mut self, v: &mut Value, depth: usize) {
        if let Value::Object(m) = v {
            for (_, x) in m.iter_mut() {
                self.arrayify(x, depth + 1);
            }
        }
        if depth == 0 {
            return;
        }
        let p = if v.is_object() { 0.25 } else { 0.08 };
        if !self.rng.chance(p) {
            return;
        }
        let noise = if v.is_object() { json!({"id": self.text(1), "kind": "noise"}) } else { json!(self.text(2)) };
        let inner = v.take();
        *v = match self.rng.below(3) {
            0 => json!([inner]),
            1 => json!([noise, inner]),
            _ => json!([inner, noise]),
        };
    }

    /// Positive and near-miss events for rule `idx`.
    pub fn for_rule(&mut self, idx: usize, shape: &Shape, out: &mut Vec<GenEvent>) {
        let n = shape.searches.len();
        if n == 0 {
            return;
        }
        let mut subsets: Vec<Vec<usize>> = Vec::new();
        for i in 0..n {
            subsets.push(vec![i]);
        }
        for _ in 0..3 {
            subsets.push((0..n).filter(|&i| !shape.searches[i].0.starts_with("filter")).collect());
        }
        for _ in 0..2 {
            subsets.push((0..n).collect());
        }
        for _ in 0..3 {
            subsets.push((0..n).filter(|_| self.rng.chance(0.5)).collect());
        }
        for set in subsets {
            if set.is_empty() {
                continue;
            }
            let mut parts = Vec::new();
            for &i in &set {
                parts.extend(self.parts_for_search(&shape.searches[i].1));
            }
            if self.rng.chance(0.3) {
                parts.extend(self.noise_parts(2));
            }
            out.push(GenEvent { value: self.build(&parts), kind: Kind::Positive, rule: Some(idx) });
            for _ in 0..2 {
                if parts.is_empty() {
                    break;
                }
                let mut near = parts.clone();
                let k = self.rng.below(near.len());
                match (&near[k].spec, self.rng.chance(0.25)) {
                    (_, true) | (None, _) => {
                        near.remove(k);
                    }
                    (Some(spec), false) => {
                        let spec = spec.clone();
                        near[k].assigns = self.part(&spec, true);
                    }
                }
                out.push(GenEvent { value: self.build(&near), kind: Kind::NearMiss, rule: Some(idx) });
            }
        }
    }

    fn noise_value(&mut self) -> Value {
        match self.rng.below(20) {
            0..=7 => {
                let v = self.rng.pick(&self.values).clone();
                match v {
                    Value::String(s) => {
                        let s = match self.rng.below(4) {
                            0 => s,
                            1 => vary_case(&mut self.rng, &s),
                            2 => format!("{} {s} {}", self.text(1), self.text(1)),
                            _ => self.fill(&s.replace(['*', '?', '\\'], "_"), true),
                        };
                        json!(s)
                    }
                    // Numbers also as floats and float text (`50126.0`).
                    Value::Number(n) if n.is_i64() && self.rng.chance(0.2) => {
                        let f = n.as_f64().unwrap_or_default();
                        if self.rng.chance(0.5) { json!(f) } else { json!(format!("{f:.1}")) }
                    }
                    other => other,
                }
            }
            8..=11 => json!(self.text(3)),
            12 => json!(self.rng.below(100_000)),
            13 => json!(""),
            14 => Value::Null,
            15 => json!([]),
            16 => json!([self.text(1), self.text(1)]),
            17 => json!(self.rng.chance(0.5)),
            18 => {
                let f = self.rng.pick(&self.fields).clone();
                json!({ f: self.text(2) })
            }
            _ => json!({}),
        }
    }

    fn noise_parts(&mut self, max: usize) -> Vec<Part> {
        let n = self.rng.range(1, max);
        (0..n)
            .map(|_| {
                let f = if self.rng.chance(0.8) {
                    self.rng.pick(&self.fields).clone()
                } else {
                    format!("x_{}", self.text(1))
                };
                let v = self.noise_value();
                Part { spec: None, assigns: vec![(f, v)] }
            })
            .collect()
    }

    /// `n` noise events.
    pub fn noise(&mut self, n: usize, out: &mut Vec<GenEvent>) {
        for _ in 0..n {
            let parts = self.noise_parts(8);
            out.push(GenEvent { value: self.build(&parts), kind: Kind::Noise, rule: None });
        }
    }
}

/// Puts `v` at `segs` under `m`, creating objects; nothing when a place is taken.
fn insert(m: &mut Map<String, Value>, segs: &[&str], v: &Value) {
    match segs {
        [] => {}
        [last] => {
            m.entry(last.to_string()).or_insert_with(|| v.clone());
        }
        [first, rest @ ..] => {
            if let Value::Object(next) = m.entry(first.to_string()).or_insert_with(|| Value::Object(Map::new())) {
                insert(next, rest, v);
            }
        }
    }
}

/// The whole corpus for `rules`: `rounds` times per rule, positives and near-misses; then
/// `noise` noise events.
pub fn corpus(seed: u64, rules: &[&Shape], rounds: usize, noise: usize) -> Vec<GenEvent> {
    let mut g = Gen::new(seed, rules);
    let mut out = Vec::new();
    for _ in 0..rounds {
        for (i, r) in rules.iter().enumerate() {
            g.for_rule(i, r, &mut out);
        }
    }
    g.noise(noise, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::shapes;

    #[test]
    fn same_seed_same_corpus_and_values_honour_modifiers() {
        let text = "title: t\nid: r\ndetection:\n  sel:\n    a.b|startswith: 'Pre*'\n    c|cidr: 10.0.0.0/8\n    d|re: '^x[0-9]{3}$'\n    e|gt: 5\n  condition: sel\n";
        let s = shapes(text);
        let refs: Vec<&Shape> = s.iter().collect();
        let a = corpus(1, &refs, 1, 10);
        let b = corpus(1, &refs, 1, 10);
        assert_eq!(
            a.iter().map(|e| e.value.to_string()).collect::<Vec<_>>(),
            b.iter().map(|e| e.value.to_string()).collect::<Vec<_>>()
        );
        let mut g = Gen::new(3, &refs);
        let Search::Maps(m) = &s[0].searches[0].1 else { panic!() };
        for _ in 0..50 {
            let d = g.part(&m[0][2], false);
            let t = d[0].1.as_str().unwrap().to_string();
            assert!(t.len() == 4 && t.starts_with('x'), "{t}");
            let ip = g.part(&m[0][1], false)[0].1.as_str().unwrap().to_string();
            assert!(ip.starts_with("10."), "{ip}");
            let n = &g.part(&m[0][3], false)[0].1;
            let n = n.as_f64().or_else(|| n.as_str().and_then(|s| s.parse().ok())).unwrap();
            assert!(n > 5.0);
        }
    }

    #[test]
    fn sigma_pieces() {
        assert_eq!(
            pieces(r"a\*b*c?\\"),
            [Piece::Lit("a*b".into()), Piece::Star, Piece::Lit("c".into()), Piece::One, Piece::Lit("\\".into())]
        );
        assert_eq!(pieces(r"C:\Users\"), [Piece::Lit(r"C:\Users\".into())]);
    }
}
