//! Entity pivots (`azir pivot ip|user|app|resource VALUE`): everything the case holds about one
//! IP address (or CIDR), user, application or Azure resource, as a handful of small answers a
//! responder reads on one screen.
//!
//! Every answer is one SQL query over the [`QueryEngine`], so a pivot sees exactly what
//! `azir query` sees (committed parts, findings, the analyst functions) and an analyst can re-run
//! any section by hand: [`Section::sql`] keeps the query text.
//!
//! How a value matches:
//! - **ip**: `SrcIpAddr` or `DstIpAddr` equals the address (compared as text after parsing, so
//!   `2001:DB8::1` finds `2001:db8::1`), or lies in the CIDR when the value has a `/`. Flows match
//!   on either end.
//! - **user**: `ActorUsername`, `TargetUsername` (case-insensitive) or `ActorUserId`.
//! - **app**: `ActorAppName`, `TargetAppName` (case-insensitive) or `ActorAppId`.
//! - **resource**: an ARM id (starting with `/`) matches itself and everything under it,
//!   case-insensitively (ARM ids are); a bare name (`nsg-web`) matches any resource of that name
//!   and everything under it (its rules, secrets, extensions).
//!
//! The value reaches SQL only as a quoted literal (quotes doubled), never as SQL text.

use crate::query::{QueryEngine, QueryError};
use serde::Serialize;
use serde_json::{Map, Value};
use std::net::IpAddr;

/// What is pivoted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An IP address or CIDR.
    Ip,
    /// A user (UPN, name or object id).
    User,
    /// An application (name or app id).
    App,
    /// An Azure resource (ARM id or name).
    Resource,
}

/// One answer: a small table, with the SQL that produced it.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    /// Short machine name (`sources`, `related_ips`, `timeline`, ...).
    pub name: String,
    /// Heading for people.
    pub title: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, as JSON cells in column order ([`Pivot::to_json`] keys them by column name).
    pub rows: Vec<Vec<Value>>,
    /// How many distinct rows exist when `rows` shows only the top ones.
    pub total: Option<u64>,
    /// The query, to run again with `azir query`.
    pub sql: String,
}

/// Everything known about one entity.
#[derive(Debug, Clone, Serialize)]
pub struct Pivot {
    /// What was pivoted on.
    pub kind: Kind,
    /// The value as given.
    pub value: String,
    /// Earliest event or flow.
    pub first_seen: Option<String>,
    /// Latest event or flow.
    pub last_seen: Option<String>,
    /// Matching events.
    pub events: u64,
    /// Matching flow records.
    pub flows: u64,
    /// The answers, in reading order; empty ones are left out.
    pub sections: Vec<Section>,
}

impl Pivot {
    /// The pivot as JSON, each section's rows as objects keyed by column name.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(secs) = v.get_mut("sections").and_then(Value::as_array_mut) {
            for (s, sec) in secs.iter_mut().zip(&self.sections) {
                let rows: Vec<Value> = sec
                    .rows
                    .iter()
                    .map(|r| {
                        let m: Map<String, Value> = sec.columns.iter().cloned().zip(r.iter().cloned()).collect();
                        Value::Object(m)
                    })
                    .collect();
                s["rows"] = Value::Array(rows);
            }
        }
        v
    }
}

/// How many related entities, operations, and so on each section lists.
pub const TOP: usize = 10;

/// A SQL string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The value checked and put in the form the tables store.
fn normalize(kind: Kind, value: &str) -> Result<String, QueryError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(QueryError::Sql("the value to pivot on is empty".into()));
    }
    if kind == Kind::Ip {
        if let Some((addr, bits)) = v.split_once('/') {
            let ip: IpAddr = addr.parse().map_err(|_| bad_ip(v))?;
            let bits: u8 = bits.parse().map_err(|_| bad_ip(v))?;
            if bits > if ip.is_ipv4() { 32 } else { 128 } {
                return Err(bad_ip(v));
            }
            return Ok(format!("{ip}/{bits}"));
        }
        let ip: IpAddr = v.parse().map_err(|_| bad_ip(v))?;
        return Ok(ip.to_string());
    }
    Ok(v.to_string())
}

fn bad_ip(v: &str) -> QueryError {
    QueryError::Sql(format!("{v:?} is not an IP address or CIDR (e.g. 203.0.113.7, 2001:db8::1, 10.0.0.0/8)"))
}

/// The WHERE clause for `events` (columns of the events table).
fn events_pred(kind: Kind, v: &str) -> String {
    let l = lit(v);
    match kind {
        Kind::Ip if v.contains('/') => format!("(cidr_match(SrcIpAddr, {l}) OR cidr_match(DstIpAddr, {l}))"),
        Kind::Ip => format!("(SrcIpAddr = {l} OR DstIpAddr = {l})"),
        Kind::User => format!(
            "(lower(ActorUsername) = lower({l}) OR lower(TargetUsername) = lower({l}) OR lower(ActorUserId) = lower({l}))"
        ),
        Kind::App => format!(
            "(lower(ActorAppName) = lower({l}) OR lower(TargetAppName) = lower({l}) OR lower(ActorAppId) = lower({l}))"
        ),
        Kind::Resource => resource_pred(v),
    }
}

fn resource_pred(v: &str) -> String {
    let l = lit(v.trim_end_matches('/'));
    if v.starts_with('/') {
        format!("(lower(TargetResourceId) = lower({l}) OR starts_with(lower(TargetResourceId), lower({l}) || '/'))")
    } else {
        format!("(strpos(lower(TargetResourceId) || '/', '/' || lower({l}) || '/') > 0)")
    }
}

/// The WHERE clause for `network`, when flows can match this kind.
fn network_pred(kind: Kind, v: &str) -> Option<String> {
    match kind {
        Kind::Ip => Some(events_pred(kind, v)),
        Kind::Resource => Some(resource_pred(v)),
        Kind::User | Kind::App => None,
    }
}

/// The finding list column that names entities of this kind, and how one element matches.
fn findings_pred(kind: Kind, v: &str) -> (&'static str, String) {
    let l = lit(v);
    match kind {
        Kind::Ip if v.contains('/') => ("ips", format!("cidr_match(x, {l})")),
        Kind::Ip => ("ips", format!("x = {l}")),
        Kind::User => ("users", format!("lower(x) = lower({l})")),
        Kind::App => ("apps", format!("lower(x) = lower({l})")),
        Kind::Resource if v.starts_with('/') => {
            let l = lit(v.trim_end_matches('/'));
            ("resources", format!("(lower(x) = lower({l}) OR starts_with(lower(x), lower({l}) || '/'))"))
        }
        Kind::Resource => ("resources", format!("strpos(lower(x) || '/', '/' || lower({l}) || '/') > 0")),
    }
}

/// Runs the pivot. `timeline` caps the rows of the timeline slice.
pub fn pivot(engine: &QueryEngine, kind: Kind, value: &str, timeline: usize) -> Result<Pivot, QueryError> {
    let v = normalize(kind, value)?;
    let ep = events_pred(kind, &v);
    let np = network_pred(kind, &v);
    let run = |sql: &str| -> Result<(Vec<String>, Vec<Vec<Value>>), QueryError> {
        let rows = engine.query(sql, None)?;
        let cols = rows.columns().iter().map(|c| c.name.clone()).collect();
        let data = rows.collect::<Result<Vec<_>, _>>()?;
        Ok((cols, data))
    };
    let mut sections = Vec::new();
    let mut add = |name: &str, title: &str, sql: String, with_total: bool| -> Result<(), QueryError> {
        let (mut columns, mut rows) = run(&sql)?;
        let mut total = None;
        if with_total && columns.last().is_some_and(|c| c == "total") {
            columns.pop();
            total = rows.first().and_then(|r| r.last()).and_then(Value::as_u64);
            for r in &mut rows {
                r.pop();
            }
        }
        if !rows.is_empty() {
            sections.push(Section { name: name.into(), title: title.into(), columns, rows, total, sql });
        }
        Ok(())
    };

    // Summary.
    let (_, ev) = run(&format!("SELECT count(*), min(TimeGenerated), max(TimeGenerated) FROM events WHERE {ep}"))?;
    let cell = |rows: &Vec<Vec<Value>>, i: usize| rows.first().and_then(|r| r.get(i)).cloned().unwrap_or(Value::Null);
    let events = cell(&ev, 0).as_u64().unwrap_or(0);
    let mut first = cell(&ev, 1).as_str().map(str::to_string);
    let mut last = cell(&ev, 2).as_str().map(str::to_string);
    let mut flows = 0;
    if let Some(np) = &np {
        let (_, nw) = run(&format!("SELECT count(*), min(TimeGenerated), max(EventEndTime) FROM network WHERE {np}"))?;
        flows = cell(&nw, 0).as_u64().unwrap_or(0);
        // RFC 3339 UTC text of one format compares in time order.
        if let Some(f) = cell(&nw, 1).as_str() {
            first = Some(first.map_or(f.to_string(), |e| e.min(f.to_string())));
        }
        if let Some(l) = cell(&nw, 2).as_str() {
            last = Some(last.map_or(l.to_string(), |e| e.max(l.to_string())));
        }
    }

    add(
        "sources",
        "Events per source",
        format!(
            "SELECT source, count(*) AS events, min(TimeGenerated) AS first_seen, max(TimeGenerated) AS last_seen \
             FROM events WHERE {ep} GROUP BY source ORDER BY events DESC, source"
        ),
        false,
    )?;
    add(
        "signins",
        "Sign-ins",
        format!(
            "SELECT coalesce(EventResult, '(none)') AS result, count(*) AS signins, \
             count(DISTINCT SrcIpAddr) AS ips, count(DISTINCT ActorUsername) AS users, \
             min(TimeGenerated) AS first_seen, max(TimeGenerated) AS last_seen \
             FROM events WHERE {ep} AND source = 'signin' GROUP BY 1 ORDER BY signins DESC, result"
        ),
        false,
    )?;
    add(
        "signin_failures",
        "Sign-in failure reasons",
        format!(
            "SELECT coalesce(EventResultDetails, '(none)') AS reason, count(*) AS failures, count(*) OVER () AS total \
             FROM events WHERE {ep} AND source = 'signin' AND EventResult = 'Failure' \
             GROUP BY 1 ORDER BY failures DESC, reason LIMIT {TOP}"
        ),
        true,
    )?;
    let related: &[(&str, &str, &str, Option<Kind>)] = &[
        ("related_users", "Users", "ActorUsername", Some(Kind::User)),
        ("related_ips", "Source IPs", "SrcIpAddr", Some(Kind::Ip)),
        ("related_apps", "Applications", "ActorAppName", Some(Kind::App)),
        ("related_resources", "Resources", "TargetResourceId", Some(Kind::Resource)),
        ("related_countries", "Countries", "SrcGeoCountry", None),
    ];
    for (name, title, col, k) in related {
        // The pivot value itself is not "related" to itself.
        let not_self = if *k == Some(kind) && !(kind == Kind::Ip && v.contains('/')) {
            format!(" AND lower({col}) <> lower({})", lit(&v))
        } else {
            String::new()
        };
        add(
            name,
            title,
            format!(
                "SELECT {col} AS value, count(*) AS events, min(TimeGenerated) AS first_seen, \
                 max(TimeGenerated) AS last_seen, count(*) OVER () AS total \
                 FROM events WHERE {ep} AND {col} IS NOT NULL AND {col} <> ''{not_self} \
                 GROUP BY {col} ORDER BY events DESC, value LIMIT {TOP}"
            ),
            true,
        )?;
    }
    add(
        "operations",
        "Operations",
        format!(
            "SELECT Operation AS operation, coalesce(EventResult, '') AS result, count(*) AS events, \
             min(TimeGenerated) AS first_seen, max(TimeGenerated) AS last_seen, count(*) OVER () AS total \
             FROM events WHERE {ep} AND Operation IS NOT NULL AND source <> 'signin' \
             GROUP BY 1, 2 ORDER BY events DESC, operation, result LIMIT {}",
            TOP + 5
        ),
        true,
    )?;
    if let Some(np) = &np {
        add(
            "flows",
            "Flows (by bytes)",
            format!(
                "SELECT SrcIpAddr AS src, DstIpAddr AS dst, DstPortNumber AS dport, NetworkProtocol AS proto, \
                 coalesce(DvcAction, '') AS action, count(*) AS flows, \
                 sum(coalesce(SrcBytes, 0) + coalesce(DstBytes, 0)) AS bytes, \
                 min(TimeGenerated) AS first_seen, max(EventEndTime) AS last_seen, count(*) OVER () AS total \
                 FROM network WHERE {np} GROUP BY 1, 2, 3, 4, 5 \
                 ORDER BY bytes DESC, flows DESC, src, dst, dport, proto, action LIMIT {TOP}"
            ),
            true,
        )?;
    }
    let (list, elem) = findings_pred(kind, &v);
    add(
        "findings",
        "Hunt findings",
        format!(
            "SELECT DISTINCT level, title, rule_id, first_time, last_time, event_count FROM \
             (SELECT level, title, rule_id, first_time, last_time, event_count, unnest({list}) AS x FROM findings) \
             WHERE {elem} ORDER BY first_time, title, rule_id, level, last_time, event_count"
        ),
        false,
    )?;
    add(
        "timeline",
        "Timeline",
        format!(
            "SELECT TimeGenerated AS time, source, coalesce(Operation, EventType) AS operation, EventResult AS result, \
             ActorUsername AS actor, SrcIpAddr AS ip, TargetResourceId AS target, \
             evidence_path || ':' || CAST(evidence_line AS VARCHAR) AS evidence \
             FROM events WHERE {ep} ORDER BY TimeGenerated, event_id LIMIT {timeline}"
        ),
        false,
    )?;
    Ok(Pivot { kind, value: value.to_string(), first_seen: first, last_seen: last, events, flows, sections })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_and_quoted() {
        assert_eq!(normalize(Kind::Ip, " 2001:DB8::1 ").unwrap(), "2001:db8::1");
        assert_eq!(normalize(Kind::Ip, "10.0.0.0/8").unwrap(), "10.0.0.0/8");
        assert!(normalize(Kind::Ip, "10.0.0.0/33").is_err());
        assert!(normalize(Kind::Ip, "alice").is_err());
        assert!(normalize(Kind::User, "  ").is_err());
        assert_eq!(lit("o'brien@x"), "'o''brien@x'");
        assert!(events_pred(Kind::User, "x' OR 1=1 --").contains("'x'' OR 1=1 --'"));
    }
}
