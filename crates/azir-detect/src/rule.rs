//! Sigma rule YAML to compiled rules: metadata, detection searches with their modifiers, the
//! condition, and correlation definitions. Anything a rule uses that the engine does not support
//! is an error naming the construct, so the rule is reported instead of silently weakened.

use crate::condition::{self, Cond};
use crate::fields::{self, Doc, Family, FieldRef, Scalar};
use crate::logsource::{self, LogSource};
use crate::matcher::{self, Compare, Matcher, NumOp, Transform};
use serde::Serialize;
use std::collections::HashMap;
use yaml_rust2::{Yaml, YamlLoader};

/// Severity of a rule, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// `informational`.
    Informational,
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
    /// `critical`.
    Critical,
}

impl Level {
    /// Parses a Sigma level name.
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.to_ascii_lowercase().as_str() {
            "informational" | "info" => Level::Informational,
            "low" => Level::Low,
            "medium" => Level::Medium,
            "high" => Level::High,
            "critical" => Level::Critical,
            _ => return None,
        })
    }

    /// The Sigma name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

/// What every rule carries besides its logic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleMeta {
    /// `id` (or, when absent, `name`, else the title).
    pub id: String,
    /// `name`, used by correlations to reference rules.
    pub name: Option<String>,
    /// `title`.
    pub title: String,
    /// `level` (medium when absent).
    pub level: Level,
    /// `tags` (ATT&CK tags are `attack.*`).
    pub tags: Vec<String>,
    /// Where the rule came from (file name or pack path).
    pub origin: String,
}

impl RuleMeta {
    /// True when `reference` names this rule: its id, name or title (as a Sigma filter's `rules`
    /// may). A Sigma 1 aggregation's search answers to the aggregation rule's id.
    pub fn answers_to(&self, reference: &str) -> bool {
        self.id == reference
            || self.name.as_deref() == Some(reference)
            || self.title == reference
            || sigma1_rule(&self.id) == Some(reference)
    }
}

/// The id of the Sigma 1 aggregation rule whose search `id` is (`<rule>#search`, or
/// `<rule>#search2`… for the searches right of a `near`).
pub fn sigma1_rule(id: &str) -> Option<&str> {
    let at = id.rfind(SIGMA1_BASE)?;
    id[at + SIGMA1_BASE.len()..].bytes().all(|b| b.is_ascii_digit()).then_some(&id[..at])
}

/// Options that shape compilation.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// Apply the Azure alias layer (off for differential runs against generic engines).
    pub aliases: bool,
    /// Values of `%placeholders%` for the `expand` modifier.
    pub placeholders: HashMap<String, Vec<String>>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions { aliases: true, placeholders: HashMap::new() }
    }
}

/// One test on one field.
#[derive(Debug, Clone)]
enum Test {
    /// Each entry is a set of alternative matchers; `all`: every entry must match, else any.
    Values { entries: Vec<Vec<Matcher>>, all: bool },
    /// `exists`.
    Exists(bool),
    /// `fieldref`: the field's value compared with another field's.
    FieldRef { others: Vec<FieldRef>, compare: Compare, cased: bool },
}

#[derive(Debug, Clone)]
struct FieldTest {
    field: FieldRef,
    test: Test,
    /// `neq` (Sigma 2.1): the field is there and the test's result is negated, so the field
    /// differs from every value (`Field|neq: [a, b]`: neither a nor b).
    negate: bool,
}

/// A named search of the detection section.
#[derive(Debug, Clone)]
enum Search {
    /// Any of the maps (a list of maps), each an AND of field tests.
    Maps(Vec<Vec<FieldTest>>),
    /// Keywords: any of the values anywhere in the record.
    Keywords(Vec<Vec<Matcher>>),
}

/// A compiled detection rule.
#[derive(Debug, Clone)]
pub struct Detection {
    /// Metadata.
    pub meta: RuleMeta,
    /// Where the rule applies.
    pub logsource: LogSource,
    searches: Vec<Search>,
    cond: Cond,
}

/// Correlation type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationType {
    /// Count of matching events.
    EventCount,
    /// Count of distinct values of a field.
    ValueCount,
    /// All referenced rules match within the timespan (any order).
    Temporal,
    /// All referenced rules match within the timespan, in the order listed.
    TemporalOrdered,
    /// Sum of a numeric field's values (pySigma's extension).
    ValueSum,
    /// Average of a numeric field's values (pySigma's extension).
    ValueAvg,
}

impl CorrelationType {
    /// The type aggregates a field's values (`condition.field`).
    pub fn has_field(self) -> bool {
        matches!(self, CorrelationType::ValueCount | CorrelationType::ValueSum | CorrelationType::ValueAvg)
    }
}

/// A correlation's threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// `gt`/`gte`/`lt`/`lte`.
    Cmp(NumOp, f64),
    /// `eq`.
    Eq(f64),
    /// `neq`.
    Neq(f64),
}

impl Threshold {
    /// True when `n` satisfies every part of the condition.
    pub fn test(conds: &[Threshold], n: f64) -> bool {
        conds.iter().all(|c| match *c {
            Threshold::Cmp(op, v) => op.test(n, v),
            Threshold::Eq(v) => n == v,
            Threshold::Neq(v) => n != v,
        })
    }
}

/// A correlation rule before its references are resolved.
#[derive(Debug, Clone)]
pub struct CorrelationDef {
    /// Metadata.
    pub meta: RuleMeta,
    /// Type.
    pub kind: CorrelationType,
    /// Referenced rules (ids or names).
    pub rules: Vec<String>,
    /// `group-by` fields.
    pub group_by: Vec<String>,
    /// `aliases`: alias name to (rule reference to field).
    pub aliases: HashMap<String, HashMap<String, String>>,
    /// Timespan in microseconds.
    pub timespan_us: i64,
    /// Condition parts (all must hold).
    pub condition: Vec<Threshold>,
    /// `field` of a value_count condition.
    pub value_field: Option<String>,
    /// `generate`: referenced rules also report on their own.
    pub generate: bool,
}

/// One parsed document of a rule file.
#[derive(Debug, Clone)]
pub enum Parsed {
    /// A detection rule.
    Detection(Box<Detection>),
    /// A correlation rule.
    Correlation(Box<CorrelationDef>),
    /// A Sigma 1 aggregation (`condition: selection | count(x) by y > 10` with `timeframe`):
    /// its search as a detection that does not report on its own, and the count as an
    /// `event_count`/`value_count` correlation over it that carries the rule's metadata. A
    /// `near` (`a | near b and c`) has one such detection per search (`a`, `b`, `c`) and a
    /// `temporal` correlation over them.
    Aggregation(Vec<Detection>, Box<CorrelationDef>),
    /// A Sigma filter (global filter, `filter:`): a condition ANDed to the rules it names.
    Filter(Box<Filter>),
}

/// A Sigma filter rule: `(rule's condition) and (filter's condition)` for each rule it names
/// (by id, name or title) or, with `rules: any`, for every rule whose logsource it covers, as
/// pySigma applies it. Its searches are compiled per target rule, in the rule's alias family.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Metadata (title, id; filters have no level).
    pub meta: RuleMeta,
    /// Where it applies.
    pub logsource: LogSource,
    /// The rules it names; `None` for `any`.
    pub rules: Option<Vec<String>>,
    searches: Vec<(String, Yaml)>,
    condition: String,
}

impl Filter {
    /// True when the filter applies to `d`.
    pub fn applies_to(&self, d: &Detection) -> bool {
        match &self.rules {
            Some(refs) => refs.iter().any(|r| d.meta.answers_to(r)),
            None => covers(&self.logsource, &d.logsource),
        }
    }

    /// ANDs the filter's condition to `d`'s, its searches compiled in `d`'s alias family.
    pub fn apply(&self, d: &mut Detection, opts: &CompileOptions) -> Result<(), String> {
        let family = logsource::family(&d.logsource);
        let mut names = Vec::new();
        let mut searches = Vec::new();
        for (k, v) in &self.searches {
            searches.push(search(v, family, opts).map_err(|e| format!("search `{k}`: {e}"))?);
            names.push(k.clone());
        }
        let cond =
            condition::parse(&self.condition, &names).map_err(|e| format!("condition {:?}: {e}", self.condition))?;
        let by = d.searches.len();
        d.searches.extend(searches);
        let own = std::mem::replace(&mut d.cond, Cond::Or(Vec::new()));
        d.cond = Cond::And(vec![own, cond.shifted(by)]);
        Ok(())
    }
}

/// True when every field the filter's logsource sets is the rule's (case-insensitively): the
/// filter's logsource covers the rule's.
fn covers(filter: &LogSource, rule: &LogSource) -> bool {
    let same = |f: &Option<String>, r: &Option<String>| match f {
        None => true,
        Some(f) => r.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(f)),
    };
    same(&filter.product, &rule.product)
        && same(&filter.service, &rule.service)
        && same(&filter.category, &rule.category)
}

fn filter(
    h: &yaml_rust2::yaml::Hash,
    f: &yaml_rust2::yaml::Hash,
    origin: &str,
    opts: &CompileOptions,
) -> Result<Filter, String> {
    let meta = meta(h, origin)?;
    let logsource = logsource_of(h).ok_or("filter has no logsource")?;
    let rules = match key(f, "rules") {
        Some(Yaml::String(r)) if r.eq_ignore_ascii_case("any") => None,
        Some(Yaml::Array(a)) if !a.is_empty() => Some(a.iter().filter_map(s).collect()),
        Some(y) if s(y).is_some() => Some(vec![s(y).unwrap_or_default()]),
        _ => return Err("filter names no rules (`rules: [id, ...]` or `rules: any`)".into()),
    };
    let condition = match key(f, "condition") {
        Some(y) => s(y).ok_or("filter condition is not a string")?,
        None => return Err("filter has no condition".into()),
    };
    let mut searches = Vec::new();
    let family = logsource::family(&logsource);
    for (k, v) in f {
        let k = s(k).ok_or("a filter key that is not a string")?;
        if k == "rules" || k == "condition" {
            continue;
        }
        // Compiled once here to report errors with the filter; again per rule it applies to.
        search(v, family, opts).map_err(|e| format!("search `{k}`: {e}"))?;
        searches.push((k, v.clone()));
    }
    let names: Vec<String> = searches.iter().map(|(k, _)| k.clone()).collect();
    condition::parse(&condition, &names).map_err(|e| format!("condition {condition:?}: {e}"))?;
    Ok(Filter { meta, logsource, rules, searches, condition })
}

fn s(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn key<'a>(h: &'a yaml_rust2::yaml::Hash, k: &str) -> Option<&'a Yaml> {
    h.get(&Yaml::String(k.to_string()))
}

/// A document's `logsource` (`None` when it has none, or not as a mapping).
fn logsource_of(h: &yaml_rust2::yaml::Hash) -> Option<LogSource> {
    match key(h, "logsource") {
        Some(Yaml::Hash(l)) => Some(LogSource {
            product: key(l, "product").and_then(s),
            service: key(l, "service").and_then(s),
            category: key(l, "category").and_then(s),
        }),
        _ => None,
    }
}

fn meta(h: &yaml_rust2::yaml::Hash, origin: &str) -> Result<RuleMeta, String> {
    let title = key(h, "title").and_then(s).ok_or("rule has no title")?;
    let name = key(h, "name").and_then(s);
    let id = key(h, "id").and_then(s).or_else(|| name.clone()).unwrap_or_else(|| title.clone());
    let level = match key(h, "level").and_then(s) {
        Some(l) => Level::parse(&l).ok_or_else(|| format!("unknown level {l:?}"))?,
        None => Level::Medium,
    };
    let tags = match key(h, "tags") {
        Some(Yaml::Array(a)) => a.iter().filter_map(s).collect(),
        _ => Vec::new(),
    };
    Ok(RuleMeta { id, name, title, level, tags, origin: origin.to_string() })
}

/// Most YAML nodes a rule file may expand to (aliases counted at their expanded size).
pub const MAX_YAML_NODES: u64 = 200_000;

/// Counts the nodes `text` expands to, alias references included, and refuses more than `max`
/// without building anything. Syntax errors are left to the loader, which reports them.
fn expanded_size_ok(text: &str, max: u64) -> Result<(), String> {
    use yaml_rust2::parser::{Event, EventReceiver, Parser};
    struct Count {
        sizes: std::collections::HashMap<usize, u64>,
        open: Vec<(usize, u64)>,
        total: u64,
    }
    impl Count {
        fn add(&mut self, n: u64) {
            if let Some((_, c)) = self.open.last_mut() {
                *c = c.saturating_add(n);
            }
            self.total = self.total.saturating_add(n);
        }
    }
    impl EventReceiver for Count {
        fn on_event(&mut self, ev: Event) {
            match ev {
                Event::Scalar(_, _, anchor, _) => {
                    if anchor > 0 {
                        self.sizes.insert(anchor, 1);
                    }
                    self.add(1);
                }
                Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                    self.add(1);
                    self.open.push((anchor, 1));
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    if let Some((anchor, n)) = self.open.pop() {
                        if anchor > 0 {
                            self.sizes.insert(anchor, n);
                        }
                    }
                }
                Event::Alias(id) => {
                    // The alias stands for a copy of the whole anchored node.
                    let n = self.sizes.get(&id).copied().unwrap_or(1);
                    self.add(n);
                }
                _ => {}
            }
        }
    }
    let mut c = Count { sizes: Default::default(), open: Vec::new(), total: 0 };
    let mut parser = Parser::new_from_str(text);
    let _ = parser.load(&mut c, true);
    if c.total > max {
        return Err(format!(
            "refused: the YAML expands to more than {max} nodes through aliases (an alias bomb?); Sigma rules do not need this"
        ));
    }
    Ok(())
}

/// Parses every document of a rule file. Each document gives a rule or an error; a file that
/// is not YAML gives one error.
pub fn parse_file(text: &str, origin: &str, opts: &CompileOptions) -> Vec<Result<Parsed, (String, String)>> {
    // Rules are untrusted input: YAML aliases are expanded by copying, so a few lines of nested
    // anchors ("billion laughs") would take all memory. Count the expanded size first.
    if let Err(e) = expanded_size_ok(text, MAX_YAML_NODES) {
        return vec![Err((origin.to_string(), e))];
    }
    let docs = match YamlLoader::load_from_str(text) {
        Ok(d) => d,
        Err(e) => return vec![Err((origin.to_string(), format!("not valid YAML: {e}")))],
    };
    let mut out = Vec::new();
    for d in docs {
        let Yaml::Hash(h) = &d else {
            if !matches!(d, Yaml::Null) {
                out.push(Err((origin.to_string(), "a document that is not a mapping".to_string())));
            }
            continue;
        };
        let label = key(h, "title").and_then(s).unwrap_or_else(|| origin.to_string());
        out.push(parse_doc(h, origin, opts).map_err(|e| (label, e)));
    }
    out
}

fn parse_doc(h: &yaml_rust2::yaml::Hash, origin: &str, opts: &CompileOptions) -> Result<Parsed, String> {
    if let Some(a) = key(h, "action").and_then(s) {
        return Err(format!("rule collections (`action: {a}`) are not supported"));
    }
    if let Some(Yaml::Hash(c)) = key(h, "correlation") {
        return correlation(h, c, origin).map(|c| Parsed::Correlation(Box::new(c)));
    }
    if let (Some(Yaml::Hash(f)), None) = (key(h, "filter"), key(h, "detection")) {
        return filter(h, f, origin, opts).map(|f| Parsed::Filter(Box::new(f)));
    }
    let meta = meta(h, origin)?;
    let ls = logsource_of(h).ok_or("rule has no logsource")?;
    let family = logsource::family(&ls);
    let Some(Yaml::Hash(det)) = key(h, "detection") else { return Err("rule has no detection".into()) };
    let mut names = Vec::new();
    let mut searches = Vec::new();
    let mut cond_text: Option<Vec<String>> = None;
    let mut timeframe = None;
    for (k, v) in det {
        let k = s(k).ok_or("a detection key that is not a string")?;
        match k.as_str() {
            "condition" => {
                cond_text = Some(match v {
                    Yaml::Array(a) => a.iter().filter_map(s).collect(),
                    other => vec![s(other).ok_or("condition is not a string")?],
                })
            }
            "timeframe" => timeframe = Some(s(v).ok_or("timeframe is not a string")?),
            _ => {
                let search = search(v, family, opts).map_err(|e| format!("search `{k}`: {e}"))?;
                names.push(k);
                searches.push(search);
            }
        }
    }
    let mut cond_text = cond_text.ok_or("detection has no condition")?;
    let aggregation = match cond_text.iter().position(|c| c.contains('|')) {
        Some(_) if cond_text.len() > 1 => {
            return Err("an aggregation (`| count() ...`) in a list of conditions is not supported".into())
        }
        Some(_) => {
            let (search, agg) = cond_text[0].split_once('|').expect("has a `|`");
            if agg.contains('|') {
                return Err("an aggregation (`| count() ...`) is only allowed once, at the end of the condition".into());
            }
            let agg = match near(agg, &names) {
                Some(n) => n,
                None => aggregation(agg).map(Sigma1::Count),
            }
            .map_err(|e| format!("condition {:?}: {e}", cond_text[0]))?;
            cond_text[0] = search.to_string();
            Some(agg)
        }
        None if timeframe.is_some() => {
            return Err("`timeframe` without an aggregation (`| count() ...`) cannot hold for one event; \
                        write a correlation rule"
                .into())
        }
        None => None,
    };
    let mut conds = Vec::new();
    for c in &cond_text {
        conds.push(condition::parse(c, &names).map_err(|e| format!("condition {c:?}: {e}"))?);
    }
    let cond = if conds.len() == 1 { conds.remove(0) } else { Cond::Or(conds) };
    let Some(agg) = aggregation else {
        return Ok(Parsed::Detection(Box::new(Detection { meta, logsource: ls, searches, cond })));
    };
    let timespan_us = match &timeframe {
        Some(t) => timespan(t)?,
        None => WHOLE_RANGE_US,
    };
    let base_id = format!("{}{SIGMA1_BASE}", meta.id);
    let base = RuleMeta { id: base_id.clone(), name: None, ..meta.clone() };
    let (kind, value_field, group_by, condition, near) = match agg {
        Sigma1::Count(a) => {
            let kind = if a.field.is_some() { CorrelationType::ValueCount } else { CorrelationType::EventCount };
            (kind, a.field, a.group_by, vec![a.threshold], Vec::new())
        }
        // Every search within the timespan of the others: Sigma 2's `temporal` with all rules.
        Sigma1::Near(n) => (CorrelationType::Temporal, None, Vec::new(), Vec::new(), n),
    };
    let mut detections = Vec::new();
    let mut rules = vec![base_id];
    for (i, name) in near.iter().enumerate() {
        let at = names.iter().position(|n| n == name).expect("near() checked the name");
        let id = format!("{}{SIGMA1_BASE}{}", meta.id, i + 2);
        let only = std::slice::from_ref(name);
        detections.push(Detection {
            meta: RuleMeta { id: id.clone(), name: None, ..meta.clone() },
            logsource: ls.clone(),
            searches: vec![searches[at].clone()],
            cond: condition::parse(name, only).map_err(|e| format!("search {name:?}: {e}"))?,
        });
        rules.push(id);
    }
    let condition = match kind {
        CorrelationType::Temporal => vec![Threshold::Cmp(NumOp::Gte, rules.len() as f64)],
        _ => condition,
    };
    let corr = CorrelationDef {
        meta,
        kind,
        rules,
        group_by,
        aliases: HashMap::new(),
        timespan_us,
        condition,
        value_field,
        generate: false,
    };
    detections.insert(0, Detection { meta: base, logsource: ls, searches, cond });
    Ok(Parsed::Aggregation(detections, Box::new(corr)))
}

/// What follows the `|` of a Sigma 1 condition.
#[derive(Debug, Clone, PartialEq)]
enum Sigma1 {
    /// `count(...) [by ...] op N`.
    Count(Aggregation),
    /// `near a [and b ...]`: the searches that must match within the timeframe of the
    /// condition left of the `|`.
    Near(Vec<String>),
}

/// Parses `near search [and search ...]`: `None` when `text` is not a `near`. A search that must
/// *not* be near (`and not x`: an absence) has no Sigma 2 correlation to become, nor do `or`
/// and parentheses; they are errors that name them.
fn near(text: &str, names: &[String]) -> Option<Result<Sigma1, String>> {
    let t = text.trim();
    let (word, rest) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
    if !word.eq_ignore_ascii_case("near") {
        return None;
    }
    let parse = || {
        let mut out = Vec::new();
        let words: Vec<&str> = rest.split_whitespace().collect();
        if words.is_empty() {
            return Err("`near` names no search".to_string());
        }
        for (i, w) in words.iter().enumerate() {
            if i % 2 == 1 {
                if !w.eq_ignore_ascii_case("and") {
                    return Err(format!("`near` takes searches joined by `and`, found `{w}`"));
                }
                continue;
            }
            if w.eq_ignore_ascii_case("not") {
                return Err("`near ... and not` (a search that must be absent) is not supported".to_string());
            }
            if w.contains(['(', ')', '*']) {
                return Err(format!("`near` takes search names, found `{w}`"));
            }
            if !names.iter().any(|n| n == w) {
                return Err(format!("`near` names `{w}`, which is not a search of the rule"));
            }
            out.push(w.to_string());
        }
        if words.len().is_multiple_of(2) {
            return Err("`near` ends with `and`".to_string());
        }
        Ok(Sigma1::Near(out))
    };
    Some(parse())
}

/// Suffix of the id given to a Sigma 1 aggregation's search ([`Parsed::Aggregation`]).
pub const SIGMA1_BASE: &str = "#search";

/// The timespan of a Sigma 1 aggregation without `timeframe`: the whole of the data (a
/// century, so a window's arithmetic cannot overflow).
const WHOLE_RANGE_US: i64 = 100 * 365 * 86_400 * 1_000_000;

/// A Sigma 1 aggregation expression: what follows the `|` of a condition.
#[derive(Debug, Clone, PartialEq)]
struct Aggregation {
    /// `count(field)`: count distinct values of it (else events).
    field: Option<String>,
    /// `by a, b`.
    group_by: Vec<String>,
    threshold: Threshold,
}

/// Parses `count([field]) [by field[, field]] op number` ([`near`] is parsed before). The
/// other Sigma 1 aggregation functions (`min`, `max`, `avg`, `sum`) have no Sigma 2 correlation
/// to become, and are errors that name them.
fn aggregation(text: &str) -> Result<Aggregation, String> {
    let t = text.trim();
    let open = t.find('(').ok_or_else(|| format!("aggregation `{t}` is not `count(...)`"))?;
    let func = t[..open].trim();
    if !func.eq_ignore_ascii_case("count") {
        return Err(format!("aggregation function `{func}()` is not supported (only `count()`)"));
    }
    let close = t[open..].find(')').map(|i| open + i).ok_or("missing `)` in the aggregation")?;
    let field = Some(t[open + 1..close].trim()).filter(|f| !f.is_empty()).map(str::to_string);
    let mut rest = t[close + 1..].trim_start();
    let op_at = rest.find(['<', '>', '=']).ok_or("aggregation has no comparison (`> 10`)")?;
    let mut group_by = Vec::new();
    let head = rest[..op_at].trim();
    if !head.is_empty() {
        let fields = head
            .strip_prefix("by ")
            .or_else(|| head.strip_prefix("BY "))
            .ok_or_else(|| format!("expected `by` or a comparison, found `{head}`"))?;
        for f in fields.split(',').map(str::trim) {
            if f.is_empty() || f.contains(char::is_whitespace) {
                return Err(format!("bad group-by field list `{fields}`"));
            }
            group_by.push(f.to_string());
        }
    }
    rest = &rest[op_at..];
    let (op, num) = [("<=", "lte"), (">=", "gte"), ("==", "eq"), ("<", "lt"), (">", "gt"), ("=", "eq")]
        .iter()
        .find_map(|(sym, op)| rest.strip_prefix(sym).map(|n| (*op, n.trim())))
        .ok_or("bad comparison")?;
    let n: f64 = num.parse().map_err(|_| format!("`{num}` is not a number"))?;
    let threshold = match op {
        "lte" => Threshold::Cmp(NumOp::Lte, n),
        "gte" => Threshold::Cmp(NumOp::Gte, n),
        "lt" => Threshold::Cmp(NumOp::Lt, n),
        "gt" => Threshold::Cmp(NumOp::Gt, n),
        _ => Threshold::Eq(n),
    };
    Ok(Aggregation { field, group_by, threshold })
}

fn search(v: &Yaml, family: Family, opts: &CompileOptions) -> Result<Search, String> {
    match v {
        Yaml::Hash(m) => Ok(Search::Maps(vec![map(m, family, opts)?])),
        Yaml::Array(a) if a.iter().all(|x| matches!(x, Yaml::Hash(_))) && !a.is_empty() => {
            let mut maps = Vec::new();
            for x in a {
                if let Yaml::Hash(m) = x {
                    maps.push(map(m, family, opts)?);
                }
            }
            Ok(Search::Maps(maps))
        }
        Yaml::Array(a) => {
            let mut vals = Vec::new();
            for x in a {
                vals.push(keyword(x)?);
            }
            Ok(Search::Keywords(vals))
        }
        Yaml::Null => Err("empty search".into()),
        other => Ok(Search::Keywords(vec![keyword(other)?])),
    }
}

/// Keywords match anywhere in a value (full-text search), wildcards honoured.
fn keyword(v: &Yaml) -> Result<Vec<Matcher>, String> {
    let t = s(v).ok_or("a keyword that is not a scalar")?;
    Ok(vec![matcher::string_matcher(&t, Compare::Contains, false, false)?])
}

fn map(m: &yaml_rust2::yaml::Hash, family: Family, opts: &CompileOptions) -> Result<Vec<FieldTest>, String> {
    let mut out = Vec::new();
    for (k, v) in m {
        let k = s(k).ok_or("a field name that is not a string")?;
        let mut parts = k.split('|');
        let name = parts.next().unwrap_or_default();
        let mods: Vec<&str> = parts.collect();
        if name.is_empty() {
            return Err(format!("keyword searches with modifiers (`{k}`) are not supported"));
        }
        let field = if opts.aliases { fields::resolve(name, family) } else { fields::literal(name) };
        let negate = mods.iter().any(|m| m.eq_ignore_ascii_case("neq"));
        let mods: Vec<&str> = mods.into_iter().filter(|m| !m.eq_ignore_ascii_case("neq")).collect();
        let test = field_test(&k, &mods, v, family, opts)?;
        out.push(FieldTest { field, test, negate });
    }
    Ok(out)
}

fn field_test(k: &str, mods: &[&str], v: &Yaml, family: Family, opts: &CompileOptions) -> Result<Test, String> {
    let mut compare = Compare::Equals;
    let mut all = false;
    let mut cased = false;
    let mut re = false;
    let (mut ri, mut rm, mut rs) = (false, false, false);
    let mut cidr = false;
    let mut portrange = false;
    let mut num: Option<NumOp> = None;
    let mut exists = false;
    let mut fieldref = false;
    let mut expand = false;
    let mut time: Option<matcher::TimePart> = None;
    let mut transforms = Vec::new();
    for m in mods {
        let lower = m.to_ascii_lowercase();
        if let Some(part) = matcher::TimePart::by_name(&lower) {
            time = Some(part);
            continue;
        }
        match lower.as_str() {
            "contains" => compare = Compare::Contains,
            "startswith" => compare = Compare::StartsWith,
            "endswith" => compare = Compare::EndsWith,
            "all" => all = true,
            "cased" => cased = true,
            "re" => re = true,
            "i" | "ignorecase" => ri = true,
            "m" | "multiline" => rm = true,
            "s" | "dotall" => rs = true,
            "cidr" => cidr = true,
            // azir's extension: the field holds a port specification that includes the value.
            "portrange" => portrange = true,
            "gt" => num = Some(NumOp::Gt),
            "gte" => num = Some(NumOp::Gte),
            "lt" => num = Some(NumOp::Lt),
            "lte" => num = Some(NumOp::Lte),
            "exists" => exists = true,
            "fieldref" => fieldref = true,
            "expand" => expand = true,
            "base64" => transforms.push(Transform::Base64),
            "base64offset" => transforms.push(Transform::Base64Offset),
            "utf16le" | "wide" => transforms.push(Transform::Utf16Le),
            "utf16be" => transforms.push(Transform::Utf16Be),
            "utf16" => transforms.push(Transform::Utf16),
            "windash" => transforms.push(Transform::Windash),
            other => return Err(format!("unsupported modifier `{other}` in `{k}`")),
        }
    }
    if (ri || rm || rs) && !re {
        return Err(format!("regex flags without `re` in `{k}`"));
    }
    let values: Vec<&Yaml> = match v {
        Yaml::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    if exists {
        let b = match values.as_slice() {
            [Yaml::Boolean(b)] => *b,
            [y] => match s(y).as_deref() {
                Some("true" | "yes") => true,
                Some("false" | "no") => false,
                _ => return Err(format!("`exists` needs true or false in `{k}`")),
            },
            _ => return Err(format!("`exists` needs one value in `{k}`")),
        };
        return Ok(Test::Exists(b));
    }
    if fieldref {
        let mut others = Vec::new();
        for y in &values {
            let n = s(y).ok_or_else(|| format!("`fieldref` needs field names in `{k}`"))?;
            others.push(if opts.aliases { fields::resolve(&n, family) } else { fields::literal(&n) });
        }
        return Ok(Test::FieldRef { others, compare, cased });
    }
    let mut entries = Vec::new();
    for y in values {
        if matches!(y, Yaml::Null) {
            entries.push(vec![Matcher::Null]);
            continue;
        }
        if matches!(y, Yaml::Array(_) | Yaml::Hash(_)) {
            return Err(format!("nested lists or maps as values in `{k}`"));
        }
        let text = s(y).ok_or_else(|| format!("unsupported value in `{k}`"))?;
        if let Some(part) = time {
            let n: f64 = text.parse().map_err(|_| format!("`{text}` is not a number in `{k}`"))?;
            entries.push(vec![Matcher::TimePart(part, num, n)]);
            continue;
        }
        if let Some(op) = num {
            let n: f64 = text.parse().map_err(|_| format!("`{text}` is not a number in `{k}`"))?;
            entries.push(vec![Matcher::Num(op, n)]);
            continue;
        }
        if portrange {
            let port = text.trim().parse().map_err(|_| format!("`{text}` is not a port (0-65535) in `{k}`"))?;
            entries.push(vec![Matcher::PortIn(port)]);
            continue;
        }
        if cidr {
            let net = text.parse().map_err(|_| format!("`{text}` is not a CIDR network in `{k}`"))?;
            entries.push(vec![Matcher::Cidr(net)]);
            continue;
        }
        let texts = if expand { matcher::expand(&text, &opts.placeholders)? } else { vec![text] };
        let mut alts = Vec::new();
        for t in texts {
            if re {
                alts.push(matcher::regex_matcher(&t, ri, rm, rs)?);
                continue;
            }
            let (variants, encoded) = matcher::transform(&t, &transforms)?;
            for var in variants {
                alts.push(matcher::string_matcher(&var, compare, cased || encoded, encoded)?);
            }
        }
        entries.push(alts);
    }
    Ok(Test::Values { entries, all })
}

/// The type's name in rules.
pub fn kind_text(k: CorrelationType) -> &'static str {
    match k {
        CorrelationType::EventCount => "event_count",
        CorrelationType::ValueCount => "value_count",
        CorrelationType::Temporal => "temporal",
        CorrelationType::TemporalOrdered => "temporal_ordered",
        CorrelationType::ValueSum => "value_sum",
        CorrelationType::ValueAvg => "value_avg",
    }
}

fn correlation(h: &yaml_rust2::yaml::Hash, c: &yaml_rust2::yaml::Hash, origin: &str) -> Result<CorrelationDef, String> {
    let meta = meta(h, origin)?;
    let kind = match key(c, "type").and_then(s).as_deref() {
        Some("event_count") => CorrelationType::EventCount,
        Some("value_count") => CorrelationType::ValueCount,
        Some("temporal") => CorrelationType::Temporal,
        Some("temporal_ordered") => CorrelationType::TemporalOrdered,
        Some("value_sum") => CorrelationType::ValueSum,
        Some("value_avg") => CorrelationType::ValueAvg,
        Some(t @ ("value_percentile" | "value_median")) => {
            return Err(format!("correlation type `{t}` is not supported (value_sum and value_avg are)"))
        }
        Some(t) => return Err(format!("unsupported correlation type `{t}`")),
        None => return Err("correlation has no type".into()),
    };
    let list = |k: &str| -> Vec<String> {
        match key(c, k) {
            Some(Yaml::Array(a)) => a.iter().filter_map(s).collect(),
            Some(y) => s(y).into_iter().collect(),
            None => Vec::new(),
        }
    };
    let rules = list("rules");
    if rules.is_empty() {
        return Err("correlation references no rules".into());
    }
    let group_by = list("group-by");
    let span = key(c, "timespan").or_else(|| key(c, "timeframe")).and_then(s).ok_or("correlation has no timespan")?;
    let timespan_us = timespan(&span)?;
    let mut condition = Vec::new();
    let mut value_field = None;
    match key(c, "condition") {
        Some(Yaml::Hash(ch)) => {
            for (k, v) in ch {
                let k = s(k).unwrap_or_default();
                if k == "field" {
                    value_field = s(v);
                    continue;
                }
                let n: f64 =
                    s(v).and_then(|t| t.parse().ok()).ok_or_else(|| format!("condition `{k}` is not a number"))?;
                condition.push(match k.as_str() {
                    "gt" => Threshold::Cmp(NumOp::Gt, n),
                    "gte" => Threshold::Cmp(NumOp::Gte, n),
                    "lt" => Threshold::Cmp(NumOp::Lt, n),
                    "lte" => Threshold::Cmp(NumOp::Lte, n),
                    "eq" => Threshold::Eq(n),
                    "neq" => Threshold::Neq(n),
                    other => return Err(format!("unsupported correlation condition `{other}`")),
                });
            }
        }
        Some(_) => return Err("correlation condition is not a mapping".into()),
        None => {}
    }
    match kind {
        CorrelationType::EventCount
        | CorrelationType::ValueCount
        | CorrelationType::ValueSum
        | CorrelationType::ValueAvg
            if condition.is_empty() =>
        {
            return Err(format!("{} correlation needs a condition", kind_text(kind)))
        }
        k if k.has_field() && value_field.is_none() => {
            return Err(format!("{} correlation needs `condition.field`", kind_text(kind)))
        }
        CorrelationType::Temporal | CorrelationType::TemporalOrdered if condition.is_empty() => {
            condition.push(Threshold::Cmp(NumOp::Gte, rules.len() as f64))
        }
        _ => {}
    }
    let mut aliases = HashMap::new();
    if let Some(Yaml::Hash(al)) = key(c, "aliases") {
        for (k, v) in al {
            let (Some(k), Yaml::Hash(m)) = (s(k), v) else { return Err("malformed correlation aliases".into()) };
            let per: HashMap<String, String> = m.iter().filter_map(|(r, f)| Some((s(r)?, s(f)?))).collect();
            aliases.insert(k, per);
        }
    }
    let generate = matches!(key(c, "generate"), Some(Yaml::Boolean(true)));
    Ok(CorrelationDef { meta, kind, rules, group_by, aliases, timespan_us, condition, value_field, generate })
}

/// Parses a Sigma timespan (`30s`, `5m`, `2h`, `1d`, `1w`) into microseconds.
pub fn timespan(t: &str) -> Result<i64, String> {
    let t = t.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = num.parse().map_err(|_| format!("bad timespan {t:?}"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        "M" => 30 * 86_400,
        "y" => 365 * 86_400,
        _ => return Err(format!("bad timespan unit in {t:?}")),
    };
    n.checked_mul(secs * 1_000_000).ok_or_else(|| format!("timespan {t:?} too large"))
}

/// The best piece of `pat` that JSON text carries verbatim, lower-cased, as the literals the
/// prefilter looks for; `None` when no piece is 3 bytes or longer (too common to be worth it).
///
/// Pieces stop at characters an encoder may escape: quote, backslash, controls and non-ASCII.
/// A slash is kept, because a longer literal is a much better filter
/// (`microsoft.authorization/roleassignments/write`, not `roleassignments`, which every
/// role-assignment *read* also carries), but some encoders (.NET's DataContractJsonSerializer)
/// write it as `\/`: a piece with a slash yields both spellings. A `\u002f` spelling, which no
/// Azure export is known to write, would hide the value from the prefilter.
///
/// "Best" is the longest piece that is not [`common_piece`]: a common literal makes the rule a
/// candidate for most records and costs the scan a match each time it occurs.
fn safe_piece(pat: &str) -> Option<Vec<String>> {
    const MAX_LITERAL: usize = 16;
    let best = pat
        .split(|c: char| !(c.is_ascii_graphic() || c == ' ') || matches!(c, '"' | '\\'))
        .filter(|p| p.len() >= 3)
        .max_by_key(|p| (!common_piece(p), p.len()))?;
    // The tail is the specific end of operation names and keeps the automaton small.
    let best = best[best.len().saturating_sub(MAX_LITERAL)..].to_ascii_lowercase();
    if best.contains('/') {
        let escaped = best.replace('/', "\\/");
        Some(vec![best, escaped])
    } else {
        Some(vec![best])
    }
}

/// Pieces that most Azure records carry: the busiest provider namespaces, and the verbs and
/// results that end operation names. Kept as literals only when a value has nothing better.
fn common_piece(p: &str) -> bool {
    const WORDS: &[&str] = &[
        "action",
        "write",
        "read",
        "delete",
        "success",
        "succeeded",
        "failure",
        "failed",
        "true",
        "false",
        "none",
        "microsoft.compute",
        "microsoft.network",
        "microsoft.storage",
        "microsoft.authorization",
        "microsoft.resources",
        "microsoft.keyvault",
        "microsoft.insights",
        "microsoft.web",
    ];
    p.len() < 5 || WORDS.iter().any(|w| w.eq_ignore_ascii_case(p.trim_matches('/')))
}

/// What a set of literals costs the prefilter: common literals admit the rule for most records,
/// and among sets of equal weight the one whose shortest literal is longest is the rarer.
fn cost(lits: &[String]) -> (usize, std::cmp::Reverse<usize>) {
    let weight = lits.iter().map(|l| if common_piece(l) { 64 } else { 1 }).sum();
    (weight, std::cmp::Reverse(lits.iter().map(String::len).min().unwrap_or(0)))
}

fn matcher_literal(m: &Matcher) -> Option<Vec<String>> {
    match m {
        Matcher::Exact { pat, .. }
        | Matcher::Contains { pat, .. }
        | Matcher::StartsWith { pat, .. }
        | Matcher::EndsWith { pat, .. } => safe_piece(pat),
        _ => None,
    }
}

/// Union of the literals of alternatives: one of them must occur (`None` if one has none).
fn any_of(alts: &[Matcher]) -> Option<Vec<String>> {
    union(alts.iter().map(matcher_literal))
}

fn union(sets: impl Iterator<Item = Option<Vec<String>>>) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for s in sets {
        out.extend(s?);
    }
    Some(out)
}

/// The cheapest of the sets of an `and`: each is necessary, one is enough.
fn smallest(sets: impl Iterator<Item = Option<Vec<String>>>) -> Option<Vec<String>> {
    sets.flatten().min_by_key(|v| cost(v))
}

/// Which field tests count for a necessary literal set: every one, or only those on fields
/// with an authoritative column for a source.
type Only<'a> = Option<&'a dyn Fn(&FieldRef) -> bool>;

impl FieldTest {
    fn necessary(&self, only: Only<'_>) -> Option<Vec<String>> {
        if only.is_some_and(|keep| !keep(&self.field)) || !self.field.verbatim() || self.negate {
            return None;
        }
        // Integer columns are scanned as their decimal text too (`fields::for_each_text`).
        match &self.test {
            Test::Values { entries, all } => {
                if *all {
                    smallest(entries.iter().map(|e| any_of(e)))
                } else {
                    union(entries.iter().map(|e| any_of(e)))
                }
            }
            _ => None,
        }
    }
}

impl Search {
    fn necessary(&self, only: Only<'_>) -> Option<Vec<String>> {
        match self {
            Search::Maps(ms) => union(ms.iter().map(|m| smallest(m.iter().map(|t| t.necessary(only))))),
            Search::Keywords(_) if only.is_some() => None,
            Search::Keywords(ks) => union(ks.iter().map(|k| any_of(k))),
        }
    }
}

fn necessary(c: &Cond, s: &[Search], only: Only<'_>) -> Option<Vec<String>> {
    match c {
        Cond::Search(i) => s[*i].necessary(only),
        Cond::Not(_) => None,
        Cond::And(cs) => smallest(cs.iter().map(|c| necessary(c, s, only))),
        Cond::Or(cs) => union(cs.iter().map(|c| necessary(c, s, only))),
    }
}

impl Detection {
    /// Literals of which at least one must occur (ASCII case-insensitively) in the record's text
    /// or its string columns for the rule to match: the prefilter that lets a hunt skip parsing
    /// records no rule can match. `None` when the rule has no such set (negations, numbers,
    /// regexes, null tests, integer columns).
    pub fn necessary(&self) -> Option<Vec<String>> {
        necessary(&self.cond, &self.searches, None)
    }

    /// Literals of which at least one must occur in the text of the authoritative columns
    /// of a record of `source` for the rule to match, when that record fills them: the
    /// necessary set built from the tests on fields with such a column only
    /// ([`crate::fields::Authority`]). `None` when those tests give none.
    pub fn column_necessary(&self, source: &str) -> Option<Vec<String>> {
        necessary(&self.cond, &self.searches, Some(&|f: &FieldRef| f.has_authority(source)))
    }

    /// True when the rule's detection matches the event.
    pub fn matches(&self, doc: &Doc<'_>) -> bool {
        self.cond.eval(&mut |i| self.searches[i].matches(doc))
    }

    /// The rule's decision from the event's authoritative columns alone
    /// ([`crate::fields::Authority`]): `Some` when the tests those columns decide settle the
    /// condition whatever the other tests would give, `None` when `raw` is needed. Equal to
    /// [`Detection::matches`] whenever it is `Some`.
    pub fn decide(&self, doc: &Doc<'_>) -> Option<bool> {
        self.cond.decide(&mut |i| self.searches[i].decide(doc))
    }

    /// True when some test of the rule has an authoritative column for records of `source`
    /// (only then can [`Detection::decide`] be `Some` for them).
    pub fn decidable(&self, source: &str) -> bool {
        self.searches.iter().any(|s| match s {
            Search::Maps(ms) => ms.iter().flatten().any(|t| t.field.has_authority(source)),
            Search::Keywords(_) => false,
        })
    }

    /// True when the rule has a keyword (field-less) search: a walk over every value of the
    /// record, the costliest test there is.
    pub fn has_keywords(&self) -> bool {
        self.searches.iter().any(|s| matches!(s, Search::Keywords(_)))
    }

    /// Every field the rule reads (its tests' fields and the fields they compare with).
    pub fn field_refs(&self) -> Vec<&FieldRef> {
        let mut out = Vec::new();
        for s in &self.searches {
            if let Search::Maps(ms) = s {
                for t in ms.iter().flatten() {
                    out.push(&t.field);
                    if let Test::FieldRef { others, .. } = &t.test {
                        out.extend(others);
                    }
                }
            }
        }
        out
    }

    /// Field names the rule reads (for reports).
    pub fn fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.searches {
            if let Search::Maps(ms) = s {
                for m in ms {
                    for t in m {
                        out.push(t.field.name.to_string());
                    }
                }
            }
        }
        out
    }
}

impl Search {
    fn matches(&self, doc: &Doc<'_>) -> bool {
        match self {
            Search::Maps(ms) => ms.iter().any(|m| m.iter().all(|t| t.matches(doc))),
            // One pass over the record for all the keywords (any of them, anywhere). Keywords
            // that are all contained text are first looked for in the operation column, which
            // holds one of the record's values (trimmed: what it contains, the value contains):
            // SigmaHQ's Activity keyword rules name operations, and a hit there spares the walk.
            Search::Keywords(ks) => {
                // (A pattern with a quote or backslash could be in the column and, escaped, not
                // in a value: a Log Analytics `Properties` column holds its values as JSON text.)
                let contains = |m: &Matcher| matches!(m, Matcher::Contains { pat, .. } if !pat.contains(['"', '\\']));
                let hit = |v: Scalar<'_>| ks.iter().flatten().any(|m| m.is_match(v));
                doc.verbatim_operation().is_some_and(|op| ks.iter().flatten().all(contains) && hit(Scalar::Str(op)))
                    || doc.visit_all(&mut |v| hit(v))
            }
        }
    }
}

impl Search {
    fn decide(&self, doc: &Doc<'_>) -> Option<bool> {
        match self {
            Search::Maps(ms) => crate::condition::kleene(
                ms.iter().map(|m| crate::condition::kleene(m.iter().map(|t| t.decide(doc)), false)),
                true,
            ),
            Search::Keywords(_) => None,
        }
    }
}

impl FieldTest {
    /// The test's result when the event's authoritative columns hold every field it reads.
    fn decide(&self, doc: &Doc<'_>) -> Option<bool> {
        self.field.authoritative(doc.event)?;
        if let Test::FieldRef { others, .. } = &self.test {
            if others.iter().any(|o| o.authoritative(doc.event).is_none()) {
                return None;
            }
        }
        Some(self.matches(doc))
    }

    fn matches(&self, doc: &Doc<'_>) -> bool {
        if self.negate {
            // `neq` compares a value that is there (as rsigma and pySigma's comparison do): a
            // missing field is not different from anything.
            return doc.visit(&self.field, &mut |_| true) && !self.test_matches(doc);
        }
        self.test_matches(doc)
    }

    fn test_matches(&self, doc: &Doc<'_>) -> bool {
        match &self.test {
            Test::Exists(b) => doc.exists(&self.field) == *b,
            Test::Values { entries, all } => {
                let one = |alts: &Vec<Matcher>| {
                    doc.visit(&self.field, &mut |v| alts.iter().any(|m| m.is_match(v)))
                        || (alts.iter().any(|m| matches!(m, Matcher::Null)) && !doc.exists(&self.field))
                };
                if *all {
                    entries.iter().all(one)
                } else {
                    entries.iter().any(one)
                }
            }
            Test::FieldRef { others, compare, cased } => others.iter().all(|o| {
                doc.visit(&self.field, &mut |a| {
                    a.with_text(|a| {
                        let Some(a) = a else { return false };
                        doc.visit(o, &mut |b| b.with_text(|b| b.is_some_and(|b| compare_text(a, b, *compare, *cased))))
                    })
                })
            }),
        }
    }
}

fn compare_text(a: &str, b: &str, c: Compare, cased: bool) -> bool {
    // Case folding beyond ASCII, as the value matchers do (`ÄRGER` = `ärger`); only non-ASCII
    // text pays for the lower-cased copies.
    if !cased && (!a.is_ascii() || !b.is_ascii()) {
        return compare_text(&a.to_lowercase(), &b.to_lowercase(), c, true);
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let eq = |x: &[u8], y: &[u8]| if cased { x == y } else { x.eq_ignore_ascii_case(y) };
    match c {
        Compare::Equals => eq(a, b),
        Compare::StartsWith => a.len() >= b.len() && eq(&a[..b.len()], b),
        Compare::EndsWith => a.len() >= b.len() && eq(&a[a.len() - b.len()..], b),
        Compare::Contains => b.is_empty() || a.windows(b.len()).any(|w| eq(w, b)),
    }
}

/// Convenience for tests and callers: the text of a scalar.
pub fn scalar_text(v: Scalar<'_>) -> Option<String> {
    v.with_text(|t| t.map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use azir_model::Event;

    /// `fieldref` folds case like the value matchers, beyond ASCII (found by the rsigma
    /// differential test, `bench/rsigma-peer`).
    #[test]
    fn fieldref_comparison_folds_non_ascii_case() {
        assert!(compare_text("REF-É", "ref-é", Compare::Equals, false));
        assert!(!compare_text("REF-É", "ref-é", Compare::Equals, true));
        assert!(compare_text("xx ÄRGER yy", "ärger", Compare::Contains, false));
        assert!(compare_text("Émile", "éMI", Compare::StartsWith, false));
        assert!(!compare_text("Émile", "emi", Compare::StartsWith, false));
        assert!(compare_text("abc", "ABC", Compare::Equals, false));
    }

    /// Compiles one rule whose detection is `det` (YAML, indented 4) and says whether it matches `raw`.
    fn check(det: &str, raw: &str) -> bool {
        let text = format!("title: t\nlogsource: {{product: azure, service: auditlogs}}\ndetection:\n{det}\n");
        let mut parsed = parse_file(&text, "test", &CompileOptions::default());
        let Ok(Parsed::Detection(d)) = parsed.remove(0) else { panic!("{text} did not compile") };
        let e = Event { raw: raw.to_string(), message: "the message".into(), ..Default::default() };
        d.matches(&Doc::new(&e))
    }

    fn error(det: &str) -> String {
        let text = format!("title: t\nlogsource: {{product: azure}}\ndetection:\n{det}\n");
        match parse_file(&text, "test", &CompileOptions::default()).remove(0) {
            Err((_, e)) => e,
            Ok(_) => panic!("{det} compiled"),
        }
    }

    #[test]
    fn yaml_alias_bombs_are_refused_before_expansion() {
        let mut bomb =
            String::from("title: bomb\nlogsource: {product: azure}\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        bomb.push_str("detection:\n  sel: {operationName: *a8}\n  condition: sel\n");
        let out = parse_file(&bomb, "bomb.yml", &CompileOptions::default());
        assert_eq!(out.len(), 1);
        let Err(err) = &out[0] else { panic!("an alias bomb was loaded") };
        assert!(err.1.contains("alias"), "{err:?}");
        // A rule that uses an anchor reasonably still loads.
        let ok = "title: t\nlogsource: {product: azure, service: activitylogs}\ndetection:\n  v: &v [a, b]\n  sel: {operationName: *v}\n  condition: sel\n";
        let out = parse_file(ok, "ok.yml", &CompileOptions::default());
        assert!(out[0].is_ok(), "{:?}", out[0].as_ref().err());
    }

    #[test]
    fn lists_are_or_maps_are_and_all_makes_lists_and() {
        let det = "    s:\n        a: [x, y]\n        b: z\n    condition: s";
        assert!(check(det, r#"{"a":"y","b":"Z"}"#));
        assert!(!check(det, r#"{"a":"y","b":"q"}"#));
        assert!(!check(det, r#"{"a":"w","b":"z"}"#));
        let all = "    s:\n        a|contains|all: [foo, bar]\n    condition: s";
        assert!(check(all, r#"{"a":"xx bar foo"}"#));
        assert!(!check(all, r#"{"a":"xx foo"}"#));
        let list_of_maps = "    s:\n        - a: x\n        - b: y\n    condition: s";
        assert!(check(list_of_maps, r#"{"b":"y"}"#) && !check(list_of_maps, r#"{"b":"x"}"#));
    }

    #[test]
    fn null_exists_and_empty() {
        let null = "    s:\n        a: null\n    condition: s";
        assert!(check(null, r#"{"b":1}"#));
        assert!(check(null, r#"{"a":null}"#));
        assert!(check(null, r#"{"a":""}"#));
        assert!(!check(null, r#"{"a":"x"}"#));
        let exists = "    s:\n        a|exists: true\n    condition: s";
        assert!(check(exists, r#"{"a":0}"#) && !check(exists, r#"{"b":0}"#) && !check(exists, r#"{"a":null}"#));
        let missing = "    s:\n        a|exists: false\n    condition: s";
        assert!(check(missing, r#"{"b":0}"#) && !check(missing, r#"{"a":"x"}"#));
        let empty = "    s:\n        a: ''\n    condition: s";
        assert!(check(empty, r#"{"a":""}"#) && !check(empty, r#"{"a":"x"}"#));
    }

    #[test]
    fn fieldref_compares_two_fields() {
        let eq = "    s:\n        a|fieldref: b\n    condition: s";
        assert!(check(eq, r#"{"a":"X","b":"x"}"#));
        assert!(!check(eq, r#"{"a":"x","b":"y"}"#));
        assert!(!check(eq, r#"{"a":"x"}"#));
        let starts = "    s:\n        a|fieldref|startswith: b\n    condition: s";
        assert!(check(starts, r#"{"a":"xyz","b":"xy"}"#) && !check(starts, r#"{"a":"xyz","b":"yz"}"#));
    }

    #[test]
    fn keywords_search_every_value_and_the_message() {
        let kw = "    keywords:\n        - 'roleAssignments/write'\n        - 'evil*tool'\n    condition: keywords";
        assert!(check(kw, r#"{"deep":{"x":["Microsoft.Authorization/roleAssignments/write"]}}"#));
        assert!(check(kw, r#"{"ua":"EvilTool 1.0"}"#));
        assert!(!check(kw, r#"{"ua":"tool evil"}"#));
        assert!(check(kw, r#"{"ua":"the evil scanning tool"}"#));
        assert!(!check(kw, r#"{"k":"nothing here"}"#));
        let msg = "    keywords: [the message]\n    condition: keywords";
        assert!(check(msg, "not json at all"));
    }

    #[test]
    fn numbers_compare_numerically_and_equal_their_text() {
        let gt = "    s:\n        n|gt: 10\n    condition: s";
        assert!(check(gt, r#"{"n":11}"#) && check(gt, r#"{"n":"11.5"}"#));
        assert!(!check(gt, r#"{"n":10}"#) && !check(gt, r#"{"n":"ten"}"#));
        let eq = "    s:\n        ResultType: 50053\n    condition: s";
        assert!(check(eq, r#"{"resultType":"50053"}"#) && check(eq, r#"{"ResultType":50053}"#));
        assert!(!check(eq, r#"{"ResultType":500530}"#));
    }

    #[test]
    fn neq_and_time_modifiers() {
        // `neq`: there, and differs from every value; numbers as numbers.
        let det = "    s:\n        status|neq: [Success, Interrupted]\n    condition: s";
        assert!(check(det, r#"{"status":"Failure"}"#));
        assert!(check(det, r#"{"status":""}"#));
        assert!(!check(det, r#"{"status":"success"}"#));
        assert!(!check(det, r#"{"status":"Interrupted"}"#));
        assert!(!check(det, r#"{"status":["Failure","Success"]}"#));
        assert!(!check(det, r#"{"other":1}"#));
        assert!(check("    s:\n        code|neq: 0\n    condition: s", r#"{"code":50126}"#));
        assert!(!check("    s:\n        code|neq: 0\n    condition: s", r#"{"code":"0"}"#));
        // With `fieldref`: the two fields differ.
        let fr = "    s:\n        a|fieldref|neq: b\n    condition: s";
        assert!(check(fr, r#"{"a":"x","b":"y"}"#));
        assert!(!check(fr, r#"{"a":"x","b":"X"}"#));
        // Time modifiers: a part of the date, equal or compared.
        let night = "    s:\n        createdDateTime|hour|lt: 6\n    condition: s";
        assert!(check(night, r#"{"createdDateTime":"2026-03-12T03:52:37Z"}"#));
        assert!(!check(night, r#"{"createdDateTime":"2026-03-12T13:52:37Z"}"#));
        assert!(check("    s:\n        time|month: [3, 4]\n    condition: s", r#"{"time":"2026-03-12T03:52:37Z"}"#));
        assert!(!check("    s:\n        time|year: 2025\n    condition: s", r#"{"time":"2026-03-12T03:52:37Z"}"#));
        assert!(error("    s:\n        time|hour: night\n    condition: s").contains("not a number"));
    }

    #[test]
    fn sigma_1_aggregations_become_a_quiet_search_and_a_correlation() {
        let agg = aggregation(" count(TargetUserName) by IpAddress, AppId >= 10 ").unwrap();
        assert_eq!(agg.field.as_deref(), Some("TargetUserName"));
        assert_eq!(agg.group_by, ["IpAddress", "AppId"]);
        assert_eq!(agg.threshold, Threshold::Cmp(NumOp::Gte, 10.0));
        let agg = aggregation("count() < 2").unwrap();
        assert_eq!((agg.field, agg.group_by.len(), agg.threshold), (None, 0, Threshold::Cmp(NumOp::Lt, 2.0)));
        assert_eq!(aggregation("COUNT() by x == 3").unwrap().threshold, Threshold::Eq(3.0));
        assert_eq!(aggregation("count() by x = 3").unwrap().threshold, Threshold::Eq(3.0));

        let text = "title: T\nid: t1\nlevel: high\ntags: [attack.t1110]\nlogsource: {product: azure, service: signinlogs}\n\
                    detection:\n    s: {ResultType: 50126}\n    timeframe: 15m\n    condition: s | count(UserPrincipalName) by IPAddress > 10\n";
        let Ok(Parsed::Aggregation(mut d, c)) = parse_file(text, "t.yml", &CompileOptions::default()).remove(0) else {
            panic!("not an aggregation")
        };
        assert_eq!(d.len(), 1);
        let d = d.remove(0);
        assert_eq!(d.meta.id, format!("t1{SIGMA1_BASE}"));
        assert_eq!(sigma1_rule(&d.meta.id), Some("t1"));
        assert_eq!(
            (c.meta.id.as_str(), c.meta.level, c.meta.tags.as_slice()),
            ("t1", Level::High, &["attack.t1110".to_string()][..])
        );
        assert_eq!(c.kind, CorrelationType::ValueCount);
        assert_eq!(c.rules, std::slice::from_ref(&d.meta.id));
        assert_eq!(c.group_by, ["IPAddress"]);
        assert_eq!(c.value_field.as_deref(), Some("UserPrincipalName"));
        assert_eq!(c.timespan_us, 15 * 60 * 1_000_000);
        assert_eq!(c.condition, [Threshold::Cmp(NumOp::Gt, 10.0)]);
        assert!(!c.generate);
    }

    #[test]
    fn unsupported_constructs_are_errors_naming_them() {
        assert!(error("    s:\n        a|nope: x\n    condition: s").contains("unsupported modifier `nope`"));
        assert!(error("    s:\n        a|i: x\n    condition: s").contains("without `re`"));
        assert!(error("    s:\n        a: x\n    n:\n        b: y\n    condition: s | near n and not s")
            .contains("and not"));
        assert!(error("    s:\n        a: x\n    condition: s | near t").contains("`t`, which is not a search"));
        assert!(error("    s:\n        a: x\n    condition: s | near s or s").contains("found `or`"));
        assert!(error("    s:\n        a: x\n    condition: s | near").contains("names no search"));
        assert!(error("    s:\n        a: x\n    condition: s | max(a) > 5").contains("`max()`"));
        assert!(error("    s:\n        a: x\n    timeframe: 5m\n    condition: s").contains("timeframe"));
        assert!(error("    s:\n        a|expand: '%admins%'\n    condition: s").contains("placeholder"));
        assert!(error("    s:\n        a|cidr: 10.0.0.300/8\n    condition: s").contains("CIDR"));
        assert!(error("    s:\n        a|re: '('\n    condition: s").contains("regex"));
        assert!(error("    s:\n        a: x").contains("no condition"));
    }

    #[test]
    fn expand_uses_configured_placeholders() {
        let text = "title: t\nlogsource: {product: azure}\ndetection:\n    s:\n        u|expand: '%admins%'\n    condition: s\n";
        let opts = CompileOptions {
            aliases: true,
            placeholders: [("admins".to_string(), vec!["rob@c.com".to_string(), "adele@c.com".to_string()])].into(),
        };
        let Ok(Parsed::Detection(d)) = parse_file(text, "t", &opts).remove(0) else { panic!() };
        let ev = |u: &str| Event { raw: format!(r#"{{"u":"{u}"}}"#), ..Default::default() };
        assert!(d.matches(&Doc::new(&ev("adele@c.com"))));
        assert!(!d.matches(&Doc::new(&ev("megan@c.com"))));
    }

    #[test]
    fn the_prefilter_literals_are_necessary_pieces() {
        let text = "title: t\nlogsource: {product: azure}\ndetection:\n    s:\n        a: Microsoft.Compute/snapshots/beginGetAccess/action\n        b|re: x\n    f:\n        c: zz\n    condition: s and not f\n";
        let Ok(Parsed::Detection(d)) = parse_file(text, "t", &CompileOptions::default()).remove(0) else { panic!() };
        assert_eq!(d.necessary(), Some(vec!["getaccess/action".to_string(), r"getaccess\/action".to_string()]));
        let neg = "title: t\nlogsource: {product: azure}\ndetection:\n    f:\n        c: zzz\n    condition: not f\n";
        let Ok(Parsed::Detection(d)) = parse_file(neg, "t", &CompileOptions::default()).remove(0) else { panic!() };
        assert_eq!(d.necessary(), None);
    }

    #[test]
    fn timespans() {
        assert_eq!(timespan("90s"), Ok(90_000_000));
        assert_eq!(timespan("5m"), Ok(300_000_000));
        assert_eq!(timespan("1h"), Ok(3_600_000_000));
        assert!(timespan("5x").is_err() && timespan("m").is_err());
    }
}
