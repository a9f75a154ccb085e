//! The generator's own reading of a rule's detection section: search names, field names with
//! their modifiers, and the literal values. Read straight from the YAML, independently of both
//! engines' Sigma parsers, so a parser bug in either engine cannot shape the corpus.

use serde::Deserialize;
use yaml_serde::Value as Yaml;

/// A literal value of a detection item.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// A string (Sigma wildcards and escapes not yet interpreted).
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// `null`.
    Null,
}

/// One `field|modifiers: values` item.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    /// The field name as written (dots separate path segments).
    pub field: String,
    /// Modifiers, lower-cased, in order.
    pub mods: Vec<String>,
    /// The values (a scalar is a one-element list).
    pub values: Vec<Val>,
}

impl FieldSpec {
    /// True when the item has modifier `m`.
    pub fn has(&self, m: &str) -> bool {
        self.mods.iter().any(|x| x == m)
    }
}

/// A named search of the detection section.
#[derive(Debug, Clone)]
pub enum Search {
    /// A map (one element) or a list of maps (any of them).
    Maps(Vec<Vec<FieldSpec>>),
    /// Keywords: any of the values anywhere in the event.
    Keywords(Vec<Val>),
}

/// A detection rule as the generator sees it.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Rule id (or title when it has none).
    pub id: String,
    /// Searches in rule order, by name.
    pub searches: Vec<(String, Search)>,
}

impl Shape {
    /// Every field item of the rule.
    pub fn specs(&self) -> impl Iterator<Item = &FieldSpec> {
        self.searches.iter().flat_map(|(_, s)| match s {
            Search::Maps(ms) => ms.iter().flatten().collect::<Vec<_>>(),
            Search::Keywords(_) => Vec::new(),
        })
    }
}

fn val(y: &Yaml) -> Option<Val> {
    Some(match y {
        Yaml::Null => Val::Null,
        Yaml::Bool(b) => Val::Bool(*b),
        Yaml::Number(n) => match n.as_i64() {
            Some(i) => Val::Int(i),
            None => Val::Float(n.as_f64()?),
        },
        Yaml::String(s) => Val::Str(s.clone()),
        _ => return None,
    })
}

fn vals(y: &Yaml) -> Vec<Val> {
    match y {
        Yaml::Sequence(xs) => xs.iter().filter_map(val).collect(),
        other => val(other).into_iter().collect(),
    }
}

fn map(m: &yaml_serde::Mapping) -> Vec<FieldSpec> {
    m.iter()
        .filter_map(|(k, v)| {
            let k = k.as_str()?;
            let mut parts = k.split('|');
            let field = parts.next()?.to_string();
            let mods = parts.map(str::to_ascii_lowercase).collect();
            Some(FieldSpec { field, mods, values: vals(v) })
        })
        .collect()
}

fn search(v: &Yaml) -> Option<Search> {
    match v {
        Yaml::Mapping(m) => Some(Search::Maps(vec![map(m)])),
        Yaml::Sequence(xs) if !xs.is_empty() && xs.iter().all(|x| matches!(x, Yaml::Mapping(_))) => {
            Some(Search::Maps(xs.iter().filter_map(|x| x.as_mapping().map(map)).collect()))
        }
        Yaml::Sequence(_) | Yaml::String(_) | Yaml::Number(_) => Some(Search::Keywords(vals(v))),
        _ => None,
    }
}

/// Reads every detection rule of a (possibly multi-document) rule file. Correlations, filters
/// and documents without a detection are skipped.
pub fn shapes(text: &str) -> Vec<Shape> {
    let mut out = Vec::new();
    for doc in yaml_serde::Deserializer::from_str(text) {
        let Ok(y) = Yaml::deserialize(doc) else { break };
        let Some(m) = y.as_mapping() else { continue };
        if m.contains_key("correlation") || m.contains_key("filter") {
            continue;
        }
        let Some(Yaml::Mapping(det)) = m.get("detection") else { continue };
        let id = m
            .get("id")
            .and_then(Yaml::as_str)
            .or_else(|| m.get("title").and_then(Yaml::as_str))
            .unwrap_or_default()
            .to_string();
        let searches = det
            .iter()
            .filter_map(|(k, v)| {
                let k = k.as_str()?;
                if k == "condition" || k == "timeframe" {
                    return None;
                }
                Some((k.to_string(), search(v)?))
            })
            .collect();
        out.push(Shape { id, searches });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_maps_lists_of_maps_and_keywords() {
        let text = "title: t\nid: x\ndetection:\n  a:\n    f|contains|all: [p, q]\n    n: 5\n  b:\n    - g: null\n    - h: true\n  k:\n    - kw\n  condition: a or b or k\n---\ntitle: c\ncorrelation: {type: event_count}\n";
        let s = shapes(text);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].id, "x");
        let Search::Maps(a) = &s[0].searches[0].1 else { panic!() };
        assert_eq!(a[0][0].mods, ["contains", "all"]);
        assert_eq!(a[0][1].values, [Val::Int(5)]);
        let Search::Maps(b) = &s[0].searches[1].1 else { panic!() };
        assert_eq!((b.len(), &b[0][0].values[0]), (2, &Val::Null));
        assert!(matches!(&s[0].searches[2].1, Search::Keywords(k) if k == &[Val::Str("kw".into())]));
    }
}
