//! NSG history: each NSG's rules over time, rebuilt from Activity Log writes and deletes of NSGs
//! and security rules and anchored on the configuration snapshots of the case.
//!
//! # Changes
//!
//! An ARM write or delete is logged as several events sharing a correlation id (begin, accepted,
//! end). Events of `Microsoft.Network/networkSecurityGroups/{write,delete}` and
//! `.../securityRules/{write,delete}` are grouped by (correlation id, resource, operation) into
//! one [`Change`]: its time is the succeeded event's (else the first event's), its outcome is
//! Succeeded, Failed or unknown (only a begin or accepted event exported), and its body is the
//! rule JSON of `properties.responseBody` (what ARM stored) or else `properties.requestbody`,
//! wherever the export put `properties` (REST, diagnostic, Log Analytics `Properties_d`), as
//! JSON or as a JSON string. An NSG write whose body lists `securityRules` replaces the whole set
//! (ARM `PUT` semantics); one without that list leaves the rules alone. Failed changes are shown
//! and never applied; changes of unknown outcome are applied, with a note.
//!
//! # Rules at an instant
//!
//! Per rule, the latest information at or before the instant wins: a snapshot of the NSG that
//! lists it or not, a write (its body), a delete. When there is none, the earliest information
//! after it decides, read backwards: a snapshot with no change in between holds unchanged; a
//! write with sub-status `Created` means the rule did not exist yet; a delete or an update means
//! it existed with content the case does not hold (left out, with a note).

use super::config::{NetworkConfig, Nsg};
use super::rule::{parse_rule, RuleSet};
use azir_model::{format_micros, Event, Resource};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What a change did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A security rule written (created or updated), with its body when logged.
    RuleWrite,
    /// A security rule deleted.
    RuleDelete,
    /// The NSG written (with the full rule set when its body lists `securityRules`).
    NsgWrite,
    /// The NSG deleted.
    NsgDelete,
}

/// The outcome of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Outcome {
    /// It took effect.
    Succeeded,
    /// It failed: not applied.
    Failed,
    /// Only the begin/accepted events are in the case.
    Unknown,
}

/// One change to an NSG.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// When (µs UTC).
    #[serde(skip)]
    pub time: i64,
    /// When, ISO 8601.
    pub time_utc: String,
    /// NSG id, lower-cased.
    #[serde(skip)]
    pub nsg: String,
    /// NSG name.
    pub nsg_name: String,
    /// The rule (rule changes only).
    pub rule: Option<String>,
    /// What happened.
    pub kind: ChangeKind,
    /// Outcome.
    pub outcome: Outcome,
    /// A creation (sub-status `Created`).
    pub created: bool,
    /// Who.
    pub caller: Option<String>,
    /// From where.
    pub caller_ip: Option<String>,
    /// The rule JSON (rule writes) or the rule list (NSG writes) as logged.
    pub body: Option<Value>,
    /// The evidence of the change's events (`path:line`).
    pub evidence: Vec<String>,
}

const NSG_TYPE: &str = "microsoft.network/networksecuritygroups";

/// Which NSG operation an Activity Log operation is, if any.
fn operation_kind(op: &str) -> Option<ChangeKind> {
    match op.trim().to_ascii_lowercase().as_str() {
        "microsoft.network/networksecuritygroups/write" => Some(ChangeKind::NsgWrite),
        "microsoft.network/networksecuritygroups/delete" => Some(ChangeKind::NsgDelete),
        "microsoft.network/networksecuritygroups/securityrules/write" => Some(ChangeKind::RuleWrite),
        "microsoft.network/networksecuritygroups/securityrules/delete" => Some(ChangeKind::RuleDelete),
        _ => None,
    }
}

/// `(nsg id lower, nsg id as written, rule name)` of an NSG or rule resource id.
fn split_id(id: &str) -> Option<(String, String, Option<String>)> {
    let lower = id.to_ascii_lowercase();
    let at = lower.find("/providers/microsoft.network/networksecuritygroups/")?;
    let rest_start = at + "/providers/microsoft.network/networksecuritygroups/".len();
    let rest = &id[rest_start..];
    let mut parts = rest.split('/');
    let name = parts.next().filter(|n| !n.is_empty())?;
    let nsg_end = rest_start + name.len();
    let rule = match (parts.next(), parts.next()) {
        (Some(k), Some(r)) if k.eq_ignore_ascii_case("securityRules") && !r.is_empty() => Some(r.to_string()),
        _ => None,
    };
    Some((lower[..nsg_end].to_string(), id[..nsg_end].to_string(), rule))
}

/// Finds `key` (any case) anywhere in `v`, decoding JSON strings on the way; returns the body
/// it names as a JSON object.
fn find_body(v: &Value, key: &str, depth: usize) -> Option<Value> {
    if depth > 6 {
        return None;
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k.eq_ignore_ascii_case(key) {
                    let body = match x {
                        Value::String(s) => serde_json::from_str::<Value>(s).ok(),
                        Value::Object(_) => Some(x.clone()),
                        _ => None,
                    };
                    if let Some(b) = body.filter(Value::is_object) {
                        return Some(b);
                    }
                }
            }
            m.values().find_map(|x| find_body(x, key, depth + 1))
        }
        // `Properties` of Log Analytics exports is a JSON string.
        Value::String(s) if s.trim_start().starts_with('{') && s.contains(key) => {
            serde_json::from_str::<Value>(s).ok().and_then(|x| find_body(&x, key, depth + 1))
        }
        _ => None,
    }
}

fn status_of(e: &Event) -> Outcome {
    let d = e.result_details.as_deref().unwrap_or_default().to_ascii_lowercase();
    let first = d.split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or_default();
    match first {
        "succeeded" | "success" => Outcome::Succeeded,
        "failed" | "failure" => Outcome::Failed,
        _ => Outcome::Unknown,
    }
}

/// Rebuilds the changes from Activity Log events (others are ignored), oldest first.
pub fn changes(events: &[Event]) -> Vec<Change> {
    type Key = (String, String, String);
    let mut groups: BTreeMap<Key, Vec<&Event>> = BTreeMap::new();
    for e in events {
        if e.source != "activity" {
            continue;
        }
        let (Some(op), Some(target)) = (e.operation.as_deref(), e.target_resource_id.as_deref()) else { continue };
        if operation_kind(op).is_none() || split_id(target).is_none() {
            continue;
        }
        // Without a correlation id each event stands alone.
        let corr = e.correlation_id.clone().unwrap_or_else(|| format!("{}@{}", e.time, e.provenance.offset));
        groups.entry((corr, target.to_ascii_lowercase(), op.to_ascii_lowercase())).or_default().push(e);
    }
    let mut out = Vec::new();
    for (_, mut evs) in groups {
        evs.sort_by_key(|e| e.time);
        let first = evs[0];
        let Some(kind) = first.operation.as_deref().and_then(operation_kind) else { continue };
        let Some((nsg, nsg_written, rule)) = first.target_resource_id.as_deref().and_then(split_id) else { continue };
        if matches!(kind, ChangeKind::RuleWrite | ChangeKind::RuleDelete) && rule.is_none() {
            continue;
        }
        let outcomes: Vec<Outcome> = evs.iter().map(|e| status_of(e)).collect();
        let outcome = if outcomes.contains(&Outcome::Failed) {
            Outcome::Failed
        } else if outcomes.contains(&Outcome::Succeeded) {
            Outcome::Succeeded
        } else {
            Outcome::Unknown
        };
        // The change's time is that of the event that settled it (succeeded or failed).
        let when =
            evs.iter().find(|e| status_of(e) == outcome && outcome != Outcome::Unknown).map_or(first.time, |e| e.time);
        let parse_raw = |e: &Event| serde_json::from_str::<Value>(&e.raw).ok();
        let raws: Vec<Value> = evs.iter().filter_map(|e| parse_raw(e)).collect();
        let body = raws
            .iter()
            .find_map(|r| find_body(r, "responseBody", 0))
            .or_else(|| raws.iter().find_map(|r| find_body(r, "requestbody", 0)));
        let created = evs.iter().any(|e| e.result_details.as_deref().is_some_and(|d| d.contains("Created")));
        let nsg_name = nsg_written.rsplit('/').next().unwrap_or_default().to_string();
        out.push(Change {
            time: when,
            time_utc: format_micros(when),
            nsg,
            nsg_name,
            rule,
            kind,
            outcome,
            created,
            caller: evs.iter().find_map(|e| e.actor_username.clone()),
            caller_ip: evs.iter().find_map(|e| e.src_ip.clone()),
            body,
            evidence: evs
                .iter()
                .map(|e| format!("{}:{}", e.provenance.evidence_path, e.provenance.line))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        });
    }
    out.sort_by(|a, b| a.time.cmp(&b.time).then(a.rule.cmp(&b.rule)));
    out
}

/// What is known of one rule at one instant.
#[derive(Debug, Clone, PartialEq)]
enum Fact {
    /// The rule with this JSON.
    Present(Value),
    /// No such rule.
    Absent,
    /// The rule existed; its content is not in the case.
    Unknown,
}

/// The `securityRules` of an NSG resource JSON, by lower-cased name.
fn snapshot_rules(json: &Value) -> BTreeMap<String, Value> {
    let p = json.get("properties").filter(|p| p.is_object()).unwrap_or(json);
    p.get("securityRules")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("name").and_then(Value::as_str).map(|n| (n.to_ascii_lowercase(), r.clone())))
                .collect()
        })
        .unwrap_or_default()
}

/// The rule list of an NSG write body, when it has one.
fn body_rules(body: &Value) -> Option<BTreeMap<String, Value>> {
    let p = body.get("properties").filter(|p| p.is_object()).unwrap_or(body);
    p.get("securityRules").and_then(Value::as_array)?;
    Some(snapshot_rules(body))
}

/// Where a fact about a rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A configuration snapshot.
    Snapshot,
    /// A write that created the rule (or the NSG).
    Creation,
    /// Any other change.
    Change,
}

/// Everything known of one rule: when, what holds from then on, and where it comes from.
fn rule_facts(rule: &str, snapshots: &[Snapshot], changes: &[&Change]) -> Vec<(i64, Fact, Origin)> {
    let mut facts = Vec::new();
    for (t, rules) in snapshots {
        facts.push((*t, rules.get(rule).cloned().map_or(Fact::Absent, Fact::Present), Origin::Snapshot));
    }
    let origin = |c: &Change| if c.created { Origin::Creation } else { Origin::Change };
    for c in changes.iter().filter(|c| c.outcome != Outcome::Failed) {
        let this_rule = c.rule.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(rule));
        let fact = match c.kind {
            ChangeKind::RuleWrite if this_rule => match c.body.clone() {
                Some(mut body) if body.is_object() => {
                    body["name"] = Value::String(c.rule.clone().unwrap_or_default());
                    Fact::Present(body)
                }
                _ => Fact::Unknown,
            },
            ChangeKind::RuleDelete if this_rule => Fact::Absent,
            ChangeKind::NsgWrite => match c.body.as_ref().and_then(body_rules) {
                Some(rules) => rules.get(rule).cloned().map_or(Fact::Absent, Fact::Present),
                None => continue,
            },
            ChangeKind::NsgDelete => Fact::Absent,
            _ => continue,
        };
        facts.push((c.time, fact, origin(c)));
    }
    facts.sort_by_key(|f| f.0);
    facts
}

/// The state of one rule at `at`: the latest fact at or before it, else the earliest after it
/// read backwards (a snapshot holds unchanged, a creation means absent, anything else means
/// the rule existed with content the case does not hold).
fn rule_at(facts: &[(i64, Fact, Origin)], at: i64) -> Fact {
    if let Some((_, f, _)) = facts.iter().rev().find(|f| f.0 <= at) {
        return f.clone();
    }
    match facts.first() {
        None => Fact::Absent,
        Some((_, f, Origin::Snapshot)) => f.clone(),
        Some((_, _, Origin::Creation)) => Fact::Absent,
        Some((_, _, Origin::Change)) => Fact::Unknown,
    }
}

/// A configuration snapshot of an NSG: its time and its rules by lower-cased name.
type Snapshot = (i64, BTreeMap<String, Value>);

/// The history of every NSG: its snapshots and its changes.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Changes, oldest first.
    pub changes: Vec<Change>,
    /// Snapshots per NSG (lower-cased id): time and rules by lower-cased name.
    snapshots: BTreeMap<String, Vec<Snapshot>>,
}

impl History {
    /// Builds the history from the case's resources and Activity Log events.
    pub fn new(resources: &[Resource], events: &[Event]) -> Self {
        let mut snapshots: BTreeMap<String, Vec<Snapshot>> = BTreeMap::new();
        for r in resources.iter().filter(|r| r.kind.eq_ignore_ascii_case(NSG_TYPE)) {
            if let Ok(v) = serde_json::from_str::<Value>(&r.json) {
                snapshots.entry(r.id_lower.clone()).or_default().push((r.time.unwrap_or(i64::MIN), snapshot_rules(&v)));
            }
        }
        History { changes: changes(events), snapshots }
    }

    /// Changes of one NSG (name or id, any case).
    pub fn of<'a>(&'a self, nsg: &'a str) -> impl Iterator<Item = &'a Change> + 'a {
        let n = nsg.trim().to_ascii_lowercase();
        self.changes.iter().filter(move |c| c.nsg == n || c.nsg_name.eq_ignore_ascii_case(&n))
    }

    /// The custom rules of `nsg` (lower-cased id) at `at`, or `None` when the history says
    /// nothing of it; notes name rules whose content is unknown.
    pub fn rules_at(&self, nsg: &str, at: i64, notes: &mut Vec<String>) -> Option<Vec<Value>> {
        self.state_at(nsg, at, notes).map(|(rules, _)| rules)
    }

    /// [`History::rules_at`], plus the names (lower-cased) of the rules that existed at `at`
    /// with content the case does not hold.
    fn state_at(&self, nsg: &str, at: i64, notes: &mut Vec<String>) -> Option<(Vec<Value>, Vec<String>)> {
        let changes: Vec<&Change> = self.changes.iter().filter(|c| c.nsg == nsg).collect();
        if changes.is_empty() {
            return None;
        }
        let snaps = self.snapshots.get(nsg).map(Vec::as_slice).unwrap_or_default();
        let mut names: BTreeSet<String> = snaps.iter().flat_map(|(_, r)| r.keys().cloned()).collect();
        for c in &changes {
            if let Some(r) = &c.rule {
                names.insert(r.to_ascii_lowercase());
            }
            if let Some(rules) = c.body.as_ref().filter(|_| c.kind == ChangeKind::NsgWrite).and_then(body_rules) {
                names.extend(rules.into_keys());
            }
        }
        for c in changes.iter().filter(|c| c.outcome == Outcome::Unknown && c.time <= at) {
            notes.push(format!(
                "NSG {} change at {} ({:?}{}) has no logged outcome; assumed to have succeeded",
                c.nsg_name,
                c.time_utc,
                c.kind,
                c.rule.as_deref().map(|r| format!(" {r}")).unwrap_or_default()
            ));
        }
        let (mut out, mut unknown) = (Vec::new(), Vec::new());
        for name in names {
            match rule_at(&rule_facts(&name, snaps, &changes), at) {
                Fact::Present(v) => out.push(v),
                Fact::Absent => {}
                Fact::Unknown => {
                    notes.push(format!(
                        "NSG rule {name}: existed at {} but its content is not in the case (left out)",
                        format_micros(at)
                    ));
                    unknown.push(name);
                }
            }
        }
        Some((out, unknown))
    }

    /// Replaces the custom rules of every NSG the history knows with those in force at `at`.
    pub fn apply(&self, config: &mut NetworkConfig, at: i64) {
        let mut notes = Vec::new();
        let nsgs: BTreeSet<&str> = self.changes.iter().map(|c| c.nsg.as_str()).collect();
        for id in nsgs {
            let Some((rules, unknown)) = self.state_at(id, at, &mut notes) else { continue };
            let deleted =
                self.changes.iter().filter(|c| c.nsg == id && c.outcome != Outcome::Failed).fold(None, |s, c| match c
                    .kind
                {
                    ChangeKind::NsgDelete if c.time <= at => Some(true),
                    ChangeKind::NsgWrite | ChangeKind::RuleWrite if c.time <= at => Some(false),
                    _ => s,
                });
            if deleted == Some(true) {
                config.nsgs.remove(id);
                notes.push(format!("NSG {id} was deleted before {}", format_micros(at)));
                continue;
            }
            let mut parsed = Vec::new();
            for r in &rules {
                match parse_rule(r, RuleSet::Custom) {
                    Ok(rule) => parsed.push(rule),
                    Err(e) => notes.push(format!("NSG history: {e} (rule left out)")),
                }
            }
            let entry = config.nsgs.get(id).cloned();
            let (written_id, name, defaults) = match &entry {
                Some(n) => (
                    n.id.clone(),
                    n.name.clone(),
                    n.rules.iter().filter(|r| r.set == RuleSet::Default).cloned().collect(),
                ),
                None => {
                    let c = self.changes.iter().find(|c| c.nsg == id);
                    (id.to_string(), c.map(|c| c.nsg_name.clone()).unwrap_or_default(), Vec::new())
                }
            };
            parsed.extend::<Vec<_>>(defaults);
            let mut nsg = Nsg::new(&written_id, &name, parsed, Some(at));
            if let Some(n) = entry {
                nsg.defaults_synthesised = n.defaults_synthesised;
            }
            nsg.unknown_rules = unknown;
            config.nsgs.insert(id.to_string(), nsg);
        }
        config.notes.extend(notes);
    }
}

/// Field-level differences between two rule JSONs (`field: old → new`).
pub fn diff(old: Option<&Value>, new: Option<&Value>) -> Vec<String> {
    let props = |v: Option<&Value>| -> BTreeMap<String, Value> {
        let Some(v) = v else { return BTreeMap::new() };
        let p = v.get("properties").filter(|p| p.is_object()).unwrap_or(v);
        p.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "provisioningState" | "name" | "id" | "etag" | "type"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (a, b) = (props(old), props(new));
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let show = |v: Option<&Value>| match v {
        None => "(none)".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(x) => x.to_string(),
    };
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}: {} -> {}", show(a.get(k)), show(b.get(k))))
        .collect()
}

/// Each change of one NSG with the rule's previous known JSON (for diffs).
pub fn with_previous<'a>(history: &'a History, nsg: &'a str) -> Vec<(&'a Change, Option<Value>)> {
    let mut out = Vec::new();
    for c in history.of(nsg) {
        let prev = match &c.rule {
            Some(rule) => {
                let mut notes = Vec::new();
                history.rules_at(&c.nsg, c.time - 1, &mut notes).and_then(|rs| {
                    rs.into_iter()
                        .find(|r| r.get("name").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(rule)))
                })
            }
            None => None,
        };
        out.push((c, prev));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NSG: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg-web";

    fn ev(time: i64, op: &str, target: &str, status: &str, corr: &str, props: Value) -> Event {
        Event {
            time,
            source: "activity".into(),
            operation: Some(op.into()),
            target_resource_id: Some(target.into()),
            result_details: Some(status.into()),
            correlation_id: Some(corr.into()),
            actor_username: Some("megan@contoso.com".into()),
            src_ip: Some("203.0.113.77".into()),
            raw: json!({"properties": props}).to_string(),
            ..Event::default()
        }
    }

    fn rule_body(port: &str, src: &str, prio: u32) -> String {
        json!({"properties": {"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": port, "sourceAddressPrefix": src,
            "destinationAddressPrefix": "*", "access": "Allow", "priority": prio, "direction": "Inbound"}})
        .to_string()
    }

    fn snapshot(time: i64, rules: Value) -> Resource {
        Resource {
            time: Some(time),
            id: NSG.into(),
            id_lower: NSG.to_ascii_lowercase(),
            kind: "Microsoft.Network/networkSecurityGroups".into(),
            name: "nsg-web".into(),
            json: json!({"id": NSG, "name": "nsg-web", "properties": {"securityRules": rules}}).to_string(),
            ..Resource::default()
        }
    }

    const W: &str = "Microsoft.Network/networkSecurityGroups/securityRules/write";
    const D: &str = "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/SECURITYRULES/DELETE";

    /// t=100 https created; t=200 rdp created from the Internet (request body only in the begin
    /// event, as a string); t=250 a failed write of ssh; t=300 rdp narrowed (response body);
    /// t=400 rdp deleted. Snapshot at t=1000 lists only https.
    fn sequence() -> (Vec<Resource>, Vec<Event>) {
        let rule = |n: &str| format!("{NSG}/securityRules/{n}");
        let events = vec![
            ev(100, W, &rule("https"), "Started", "c1", json!({"requestbody": rule_body("443", "*", 100)})),
            ev(101, W, &rule("https"), "Succeeded (Created)", "c1", json!({})),
            ev(200, W, &rule("rdp"), "Started", "c2", json!({"requestbody": rule_body("3389", "Internet", 110)})),
            ev(201, W, &rule("rdp"), "Accepted", "c2", json!({})),
            ev(202, W, &rule("rdp"), "Succeeded (Created)", "c2", json!({"responseBody": ""})),
            ev(250, W, &rule("ssh"), "Started", "c3", json!({"requestbody": rule_body("22", "*", 120)})),
            ev(251, W, &rule("ssh"), "Failed (Conflict)", "c3", json!({})),
            ev(
                300,
                W,
                &rule("rdp"),
                "Succeeded (OK)",
                "c4",
                json!({"responseBody": rule_body("3389", "198.51.100.0/24", 110)}),
            ),
            ev(400, D, &rule("rdp"), "Succeeded (OK)", "c5", json!({})),
            // Not an NSG operation.
            ev(500, "Microsoft.Compute/virtualMachines/write", "/subscriptions/s/x", "Succeeded", "c6", json!({})),
        ];
        let snap = snapshot(
            1000,
            json!([{"name": "https", "properties": serde_json::from_str::<Value>(&rule_body("443", "*", 100)).unwrap()["properties"]}]),
        );
        (vec![snap], events)
    }

    fn names_at(h: &History, at: i64) -> Vec<String> {
        let mut notes = Vec::new();
        let mut v: Vec<String> = h
            .rules_at(&NSG.to_ascii_lowercase(), at, &mut notes)
            .unwrap()
            .iter()
            .map(|r| {
                let p = &r["properties"];
                format!(
                    "{}:{}:{}",
                    r["name"].as_str().unwrap(),
                    p["destinationPortRange"].as_str().unwrap(),
                    p["sourceAddressPrefix"].as_str().unwrap()
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn changes_are_grouped_by_correlation_with_outcome_body_and_caller() {
        let (_, events) = sequence();
        let cs = changes(&events);
        let summary: Vec<String> = cs
            .iter()
            .map(|c| {
                format!(
                    "{} {} {:?} {:?} created={} body={}",
                    c.time,
                    c.rule.as_deref().unwrap_or("-"),
                    c.kind,
                    c.outcome,
                    c.created,
                    c.body.is_some()
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                "101 https RuleWrite Succeeded created=true body=true",
                "202 rdp RuleWrite Succeeded created=true body=true",
                "251 ssh RuleWrite Failed created=false body=true",
                "300 rdp RuleWrite Succeeded created=false body=true",
                "400 rdp RuleDelete Succeeded created=false body=false",
            ]
        );
        assert_eq!(cs[1].caller.as_deref(), Some("megan@contoso.com"));
        assert_eq!(cs[1].caller_ip.as_deref(), Some("203.0.113.77"));
        assert_eq!(cs[1].nsg_name, "nsg-web");
    }

    #[test]
    fn rules_in_force_over_time() {
        let (resources, events) = sequence();
        let h = History::new(&resources, &events);
        assert_eq!(names_at(&h, 50), Vec::<String>::new(), "https was created at 101");
        assert_eq!(names_at(&h, 150), ["https:443:*"]);
        assert_eq!(names_at(&h, 210), ["https:443:*", "rdp:3389:Internet"]);
        assert_eq!(names_at(&h, 260), ["https:443:*", "rdp:3389:Internet"], "the failed ssh write is not applied");
        assert_eq!(names_at(&h, 350), ["https:443:*", "rdp:3389:198.51.100.0/24"]);
        assert_eq!(names_at(&h, 450), ["https:443:*"]);
        assert_eq!(names_at(&h, 2000), ["https:443:*"]);
    }

    #[test]
    fn a_rule_updated_before_any_known_version_is_unknown_not_guessed() {
        let rule = format!("{NSG}/securityRules/legacy");
        let events =
            vec![ev(300, W, &rule, "Succeeded (OK)", "c1", json!({"responseBody": rule_body("80", "*", 300)}))];
        let h = History::new(&[], &events);
        let mut notes = Vec::new();
        let rules = h.rules_at(&NSG.to_ascii_lowercase(), 100, &mut notes).unwrap();
        assert!(rules.is_empty());
        assert!(notes.iter().any(|n| n.contains("legacy") && n.contains("not in the case")), "{notes:?}");
        // Applied to a configuration, the NSG names it as a rule of unknown content until the update.
        let mut config = NetworkConfig::default();
        h.apply(&mut config, 100);
        assert_eq!(config.nsgs[&NSG.to_ascii_lowercase()].unknown_rules, ["legacy"]);
        let mut config = NetworkConfig::default();
        h.apply(&mut config, 300);
        assert!(config.nsgs[&NSG.to_ascii_lowercase()].unknown_rules.is_empty());
    }

    #[test]
    fn an_nsg_write_replaces_the_rule_set() {
        let nsg_write = "Microsoft.Network/networkSecurityGroups/write";
        let body = json!({"properties": {"securityRules": [{"name": "only", "properties": serde_json::from_str::<Value>(&rule_body("8080", "*", 100)).unwrap()["properties"]}]}});
        let events = vec![ev(500, nsg_write, NSG, "Succeeded (OK)", "c9", json!({"responseBody": body.to_string()}))];
        let h = History::new(&[snapshot(100, json!([{"name": "old", "properties": {"priority": 100}}]))], &events);
        let mut notes = Vec::new();
        let at = |t| {
            let mut n = Vec::new();
            h.rules_at(&NSG.to_ascii_lowercase(), t, &mut n)
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(at(200), ["old"]);
        assert_eq!(at(600), ["only"]);
        let _ = h.rules_at(&NSG.to_ascii_lowercase(), 600, &mut notes);
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn diffs_name_changed_fields() {
        let a: Value = serde_json::from_str(&rule_body("3389", "Internet", 110)).unwrap();
        let b: Value = serde_json::from_str(&rule_body("3389", "198.51.100.0/24", 110)).unwrap();
        assert_eq!(diff(Some(&a), Some(&b)), ["sourceAddressPrefix: Internet -> 198.51.100.0/24"]);
        assert!(diff(None, Some(&a)).contains(&"destinationPortRange: (none) -> 3389".to_string()));
        assert!(diff(Some(&a), Some(&a)).is_empty());
    }

    #[test]
    fn ids_and_hostile_bodies() {
        assert_eq!(split_id(&format!("{NSG}/securityRules/r1")).unwrap().2.as_deref(), Some("r1"));
        assert_eq!(split_id(&NSG.to_uppercase()).unwrap().0, NSG.to_ascii_lowercase());
        assert!(split_id("/subscriptions/s/providers/Microsoft.Network/networkSecurityGroups/").is_none());
        assert!(find_body(&json!({"properties": {"requestbody": "not json"}}), "requestbody", 0).is_none());
        assert!(find_body(&json!({"properties": {"requestbody": "[1]"}}), "requestbody", 0).is_none());
        let la = json!({"Properties": json!({"requestbody": "{\"properties\":{}}"}).to_string()});
        assert!(find_body(&la, "requestbody", 0).is_some());
    }
}
