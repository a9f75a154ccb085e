//! What the report shows, gathered from a case.
//!
//! Every number comes from SQL over the [`QueryEngine`] (the same tables and committed parts as
//! `azir query`), from the stored findings, or from the case's manifest and custody log, so a
//! reader can check any figure with `azir query`. Entity sections reuse `azir pivot`
//! ([`azir_store::pivot`]).
//!
//! Sizes are bounded whatever the case: at most [`Options::events_per_finding`] events per
//! finding, [`TOP`] rows per chart, a fixed number of entities; everything cut says how much
//! was left out.

use azir_model::parse_time;
use azir_store::findings::{self, FindingRow};
use azir_store::pivot::{self, Kind, Pivot};
use azir_store::query::{QueryEngine, QueryError};
use azir_store::{Case, CaseInfo, CustodyEntry, StoreError, VerifyReport};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Rows per ranked chart.
pub const TOP: usize = 15;
const HOUR: i64 = 3_600_000_000;

/// What to gather.
#[derive(Debug, Clone)]
pub struct Options {
    /// Events listed under each finding (the rest are counted).
    pub events_per_finding: usize,
    /// Events listed under all findings together: with many findings, each lists fewer
    /// (never fewer than 10), so the report stays a few MB.
    pub events_total: usize,
    /// Entity sections per kind (users, IPs, apps).
    pub entities_per_kind: usize,
    /// Re-hash every evidence file still at its origin (as `azir case verify`); otherwise only
    /// the custody chain is checked.
    pub verify_evidence: bool,
    /// Hours without records inside a source's range that count as a gap.
    pub gap_hours: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            events_per_finding: 200,
            events_total: 4000,
            entities_per_kind: 6,
            verify_evidence: false,
            gap_hours: 6,
        }
    }
}

/// Errors while gathering.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The case could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// Records of one source over time.
#[derive(Debug, Clone)]
pub struct Coverage {
    /// `events` or `network`.
    pub table: &'static str,
    /// Source name (`signin`, `nsg_flow`...).
    pub source: String,
    /// Rows.
    pub count: u64,
    /// Earliest (µs).
    pub first: i64,
    /// Latest (µs).
    pub last: i64,
    /// Hours with at least one record.
    pub active_hours: u64,
    /// Hours from the first record's to the last record's, inclusive.
    pub span_hours: u64,
    /// Spans of at least `gap_hours` with no record, inside `first..last` (µs, start..end);
    /// computed only for sources with records in at least half their hours (in a sparse source,
    /// such as Bastion sessions, empty hours are the norm and say nothing).
    pub gaps: Vec<(i64, i64)>,
}

impl Coverage {
    /// Records in fewer than half of the hours of its range.
    pub fn sparse(&self) -> bool {
        self.active_hours * 2 < self.span_hours
    }
}

/// Quarantined records of one reason.
#[derive(Debug, Clone)]
pub struct Quarantined {
    /// Reason.
    pub reason: String,
    /// Records.
    pub count: u64,
    /// One example's evidence `path:line`.
    pub example: String,
}

/// One event (or flow tuple) as the report lists it.
#[derive(Debug, Clone, Default)]
pub struct EventView {
    /// `event_id`.
    pub id: String,
    /// Time (µs).
    pub time: i64,
    /// Source.
    pub source: String,
    /// Operation, event type, or the flow's 5-tuple.
    pub what: String,
    /// Result or flow decision.
    pub result: String,
    /// Actor (user or app).
    pub actor: String,
    /// Source IP.
    pub ip: String,
    /// Target (user, resource, destination).
    pub target: String,
    /// Detail: URL, user agent, message, bytes.
    pub detail: String,
    /// Evidence `path:line` (`#tuple` for flows).
    pub evidence: String,
}

/// A finding with its events.
#[derive(Debug, Clone)]
pub struct FindingView {
    /// The stored finding.
    pub row: FindingRow,
    /// Its first events (up to the cap), in time order.
    pub events: Vec<EventView>,
}

/// An entity section.
#[derive(Debug, Clone)]
pub struct Entity {
    /// Kind.
    pub kind: Kind,
    /// Value.
    pub value: String,
    /// Findings naming it.
    pub findings: usize,
    /// The pivot.
    pub pivot: Pivot,
}

/// A ranked row: label, value, and up to two extra numbers.
#[derive(Debug, Clone, Default)]
pub struct Ranked {
    /// Label (IP, country, `src → dst`).
    pub label: String,
    /// The ranked value.
    pub value: u64,
    /// Extra numbers (distinct users, flows...).
    pub extra: Vec<u64>,
    /// Extra text (country...).
    pub note: String,
}

/// WAF log records of one client and request URI.
#[derive(Debug, Clone)]
pub struct WafRow {
    /// Client IP.
    pub client: String,
    /// Request URI as logged (hostile by nature).
    pub uri: String,
    /// Records.
    pub count: u64,
    /// Records that blocked the request.
    pub blocked: u64,
    /// Distinct rule details (`Matched 941100: …`).
    pub rules: String,
    /// First record (µs).
    pub first: i64,
    /// Last record (µs).
    pub last: i64,
    /// One record's evidence.
    pub evidence: String,
}

/// Requests of one user agent (web and API logs).
#[derive(Debug, Clone)]
pub struct AgentRow {
    /// The user agent as logged (hostile by nature).
    pub agent: String,
    /// Records.
    pub count: u64,
    /// Distinct client IPs.
    pub clients: u64,
    /// Records with HTTP status 400 or more.
    pub errors: u64,
    /// Sources it appears in.
    pub sources: String,
    /// First record (µs).
    pub first: i64,
    /// Last record (µs).
    pub last: i64,
}

/// An NSG change from the Activity Log.
#[derive(Debug, Clone)]
pub struct NsgChange {
    /// When (µs).
    pub time: i64,
    /// Operation name.
    pub operation: String,
    /// NSG or rule id.
    pub target: String,
    /// Caller.
    pub actor: String,
    /// Caller IP.
    pub ip: String,
    /// Result.
    pub result: String,
    /// Evidence.
    pub evidence: String,
}

/// One evidence file.
#[derive(Debug, Clone, Default)]
pub struct EvidenceFile {
    /// Path as ingested.
    pub path: String,
    /// SHA-256.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// Streams (archive members) read from it.
    pub streams: u64,
    /// Records, events, flows, quarantined.
    pub records: u64,
    /// Events written.
    pub events: u64,
    /// Flow tuples written.
    pub flows: u64,
    /// Quarantined.
    pub bad: u64,
    /// Detected layout(s).
    pub format: String,
    /// Stream errors.
    pub errors: Vec<String>,
    /// When ingested.
    pub ingested_at: String,
}

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct ReportData {
    /// When the report was made (RFC 3339).
    pub generated: String,
    /// The case.
    pub case: CaseInfo,
    /// Events in the case.
    pub events: u64,
    /// Flow tuples.
    pub flows: u64,
    /// Configuration snapshots.
    pub resources: u64,
    /// Quarantined records.
    pub quarantined: u64,
    /// Earliest and latest record (events and flows).
    pub range: Option<(i64, i64)>,
    /// Subscriptions seen, with events.
    pub subscriptions: Vec<(String, u64)>,
    /// Tenants seen, with events.
    pub tenants: Vec<(String, u64)>,
    /// Per-source coverage.
    pub coverage: Vec<Coverage>,
    /// Quarantine by reason.
    pub quarantine: Vec<Quarantined>,
    /// Findings, most severe first, then by time.
    pub findings: Vec<FindingView>,
    /// Records per hour per source: (source, hour start µs, count).
    pub hourly: Vec<(String, i64, u64)>,
    /// Sign-in failures per source IP (extra: distinct users).
    pub failures_ip: Vec<Ranked>,
    /// Sign-in failures per country (extra: distinct IPs).
    pub failures_country: Vec<Ranked>,
    /// Bytes per source → destination pair (extra: flows).
    pub talkers: Vec<Ranked>,
    /// Bytes sent from private to public addresses, per destination (extra: flows, sources).
    pub outbound: Vec<Ranked>,
    /// WAF records per client and URI, most first.
    pub waf: Vec<WafRow>,
    /// Distinct (client, URI) pairs in the WAF logs.
    pub waf_total: u64,
    /// User agents, most error responses first.
    pub agents: Vec<AgentRow>,
    /// Distinct user agents.
    pub agents_total: u64,
    /// NSG changes.
    pub nsg_changes: Vec<NsgChange>,
    /// Entity sections.
    pub entities: Vec<Entity>,
    /// Resources of the network configuration (for the topology).
    pub network_config: Vec<azir_model::Resource>,
    /// Evidence files.
    pub evidence: Vec<EvidenceFile>,
    /// Custody log.
    pub custody: Vec<CustodyEntry>,
    /// The live-collection record (`collection.jsonl`, one object per source and window).
    pub collection: Vec<serde_json::Value>,
    /// Chain (and, with `verify_evidence`, evidence) check.
    pub verify: VerifyReport,
    /// Whether evidence was re-hashed.
    pub evidence_rehashed: bool,
    /// Level counts.
    pub levels: BTreeMap<String, usize>,
}

fn rows(engine: &QueryEngine, sql: &str) -> Result<Vec<Vec<Value>>, QueryError> {
    engine.query(sql, None)?.collect()
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn n(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_i64().map(|x| x.max(0) as u64))
        .or_else(|| v.as_f64().map(|f| f.max(0.0) as u64))
        .unwrap_or(0)
}

fn t(v: &Value) -> i64 {
    v.as_str().and_then(parse_time).unwrap_or(0)
}

/// Severity rank: critical first.
pub fn level_rank(level: &str) -> u8 {
    match level.to_ascii_lowercase().as_str() {
        "critical" => 0,
        "high" => 1,
        "medium" => 2,
        "low" => 3,
        "informational" => 4,
        _ => 5,
    }
}

/// Gathers everything for the report.
pub fn gather(case: &Case, opts: &Options) -> Result<ReportData, ReportError> {
    let engine = QueryEngine::open(case)?;
    let one = |sql: &str| -> Result<Vec<Value>, QueryError> {
        Ok(rows(&engine, sql)?.into_iter().next().unwrap_or_default())
    };

    let ev = one("SELECT count(*), min(TimeGenerated), max(TimeGenerated) FROM events")?;
    let nw = one("SELECT count(*), min(TimeGenerated), max(EventEndTime) FROM network")?;
    let events = ev.first().map(n).unwrap_or(0);
    let flows = nw.first().map(n).unwrap_or(0);
    let mut range: Option<(i64, i64)> = None;
    for (c, a, b) in [(events, ev.get(1), ev.get(2)), (flows, nw.get(1), nw.get(2))] {
        if c > 0 {
            let (a, b) = (a.map(t).unwrap_or(0), b.map(t).unwrap_or(0));
            range = Some(range.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
        }
    }
    let resources = one("SELECT count(*) FROM resources")?.first().map(n).unwrap_or(0);
    let quarantined = one("SELECT count(*) FROM quarantine")?.first().map(n).unwrap_or(0);
    let pairs = |sql: &str| -> Result<Vec<(String, u64)>, QueryError> {
        Ok(rows(&engine, sql)?.iter().map(|r| (s(&r[0]), n(&r[1]))).collect())
    };
    let subscriptions = pairs(
        "SELECT lower(SubscriptionId), count(*) AS n FROM events WHERE SubscriptionId IS NOT NULL AND SubscriptionId <> '' \
         GROUP BY 1 ORDER BY n DESC, 1 LIMIT 50",
    )?;
    let tenants = pairs(
        "SELECT lower(TenantId), count(*) AS n FROM events WHERE TenantId IS NOT NULL AND TenantId <> '' \
         GROUP BY 1 ORDER BY n DESC, 1 LIMIT 50",
    )?;

    // Hourly counts per source, for the chart and for gaps.
    let mut hourly = Vec::new();
    let mut coverage = Vec::new();
    for (table, label) in [("events", "events"), ("network", "network")] {
        let hr = rows(
            &engine,
            &format!(
                "SELECT source, time_bucket('1 hour', TimeGenerated) AS h, count(*) AS n FROM {table} GROUP BY 1, 2 ORDER BY 1, 2"
            ),
        )?;
        let mut per: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
        for r in &hr {
            per.entry(s(&r[0])).or_default().push((t(&r[1]), n(&r[2])));
        }
        let ranges = rows(
            &engine,
            &format!("SELECT source, count(*), min(TimeGenerated), max(TimeGenerated) FROM {table} GROUP BY 1 ORDER BY 2 DESC, 1"),
        )?;
        for r in &ranges {
            let source = s(&r[0]);
            let hours = per.get(&source).map(Vec::as_slice).unwrap_or_default();
            let span_hours = match (hours.first(), hours.last()) {
                (Some(a), Some(b)) => ((b.0 - a.0) / HOUR + 1) as u64,
                _ => 0,
            };
            let dense = hours.len() as u64 * 2 >= span_hours;
            coverage.push(Coverage {
                active_hours: hours.len() as u64,
                span_hours,
                table: if label == "events" { "events" } else { "network" },
                source: source.clone(),
                count: n(&r[1]),
                first: t(&r[2]),
                last: t(&r[3]),
                gaps: if dense { gaps(hours, opts.gap_hours) } else { Vec::new() },
            });
        }
        for (src, hs) in per {
            let name = if table == "network" { format!("{src} (flows)") } else { src };
            hourly.extend(hs.into_iter().map(|(h, c)| (name.clone(), h, c)));
        }
    }

    let quarantine = rows(
        &engine,
        "SELECT reason, count(*) AS n, min(evidence_path || ':' || CAST(evidence_line AS VARCHAR)) FROM quarantine \
         GROUP BY reason ORDER BY n DESC, reason LIMIT 50",
    )?
    .iter()
    .map(|r| Quarantined { reason: s(&r[0]), count: n(&r[1]), example: s(&r[2]) })
    .collect();

    // Findings and their events.
    let mut stored = findings::read(case)?;
    stored.sort_by(|a, b| {
        (level_rank(&a.level), a.first, &a.title, &a.rule_id).cmp(&(
            level_rank(&b.level),
            b.first,
            &b.title,
            &b.rule_id,
        ))
    });
    let mut levels = BTreeMap::new();
    for f in &stored {
        *levels.entry(f.level.to_ascii_lowercase()).or_insert(0) += 1;
    }
    let cap = per_finding_cap(opts, stored.len());
    let by_id = finding_events(&engine, cap)?;
    let findings = stored
        .into_iter()
        .map(|row| {
            let mut events: Vec<EventView> =
                row.event_ids.iter().take(cap).filter_map(|id| by_id.get(id).cloned()).collect();
            events.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
            FindingView { row, events }
        })
        .collect::<Vec<_>>();

    // Charts.
    let ranked = |sql: &str, extras: usize, note: bool| -> Result<Vec<Ranked>, QueryError> {
        Ok(rows(&engine, sql)?
            .iter()
            .map(|r| Ranked {
                label: s(&r[0]),
                value: n(&r[1]),
                extra: (0..extras).map(|i| n(&r[2 + i])).collect(),
                note: if note { s(&r[2 + extras]) } else { String::new() },
            })
            .collect())
    };
    let failures_ip = ranked(
        &format!(
            "SELECT SrcIpAddr, count(*) AS n, count(DISTINCT coalesce(ActorUsername, TargetUsername)) AS users, \
             coalesce(max(SrcGeoCountry), '') FROM events \
             WHERE source = 'signin' AND EventResult = 'Failure' AND SrcIpAddr IS NOT NULL \
             GROUP BY 1 ORDER BY n DESC, 1 LIMIT {TOP}"
        ),
        1,
        true,
    )?;
    let failures_country = ranked(
        &format!(
            "SELECT coalesce(nullif(SrcGeoCountry, ''), '(unknown)'), count(*) AS n, count(DISTINCT SrcIpAddr) FROM events \
             WHERE source = 'signin' AND EventResult = 'Failure' GROUP BY 1 ORDER BY n DESC, 1 LIMIT {TOP}"
        ),
        1,
        false,
    )?;
    let talkers = ranked(
        &format!(
            "SELECT SrcIpAddr || ' → ' || DstIpAddr, sum(coalesce(SrcBytes, 0) + coalesce(DstBytes, 0)) AS b, \
             count(DISTINCT FlowId) FROM network GROUP BY SrcIpAddr, DstIpAddr ORDER BY b DESC, SrcIpAddr, DstIpAddr LIMIT {TOP}"
        ),
        1,
        false,
    )?;
    let outbound = ranked(
        &format!(
            "SELECT DstIpAddr, sum(coalesce(SrcBytes, 0)) AS b, count(DISTINCT FlowId), count(DISTINCT SrcIpAddr) \
             FROM network WHERE is_private(SrcIpAddr) AND NOT is_private(DstIpAddr) \
             GROUP BY DstIpAddr HAVING sum(coalesce(SrcBytes, 0)) > 0 ORDER BY b DESC, 1 LIMIT {TOP}"
        ),
        2,
        false,
    )?;
    let waf_rows = rows(
        &engine,
        "SELECT SrcIpAddr, Url, count(*) AS n, sum(CASE WHEN EventResult = 'Failure' THEN 1 ELSE 0 END), \
         array_to_string(array_agg(DISTINCT EventResultDetails), '\n'), min(TimeGenerated), max(TimeGenerated), \
         min(evidence_path || ':' || CAST(evidence_line AS VARCHAR)), count(*) OVER () \
         FROM events WHERE source = 'waf' GROUP BY SrcIpAddr, Url ORDER BY n DESC, SrcIpAddr, Url LIMIT 50",
    )?;
    let waf_total = waf_rows.first().map(|r| n(&r[8])).unwrap_or(0);
    let waf = waf_rows
        .iter()
        .map(|r| WafRow {
            client: s(&r[0]),
            uri: s(&r[1]),
            count: n(&r[2]),
            blocked: n(&r[3]),
            rules: s(&r[4]),
            first: t(&r[5]),
            last: t(&r[6]),
            evidence: s(&r[7]),
        })
        .collect();
    let agent_rows = rows(
        &engine,
        "SELECT HttpUserAgent, count(*) AS n, count(DISTINCT SrcIpAddr), \
         sum(CASE WHEN HttpStatusCode >= 400 THEN 1 ELSE 0 END) AS err, \
         array_to_string(array_agg(DISTINCT source), ', '), min(TimeGenerated), max(TimeGenerated), count(*) OVER () \
         FROM events WHERE HttpUserAgent IS NOT NULL AND HttpUserAgent <> '' \
         GROUP BY HttpUserAgent ORDER BY err DESC, n DESC, HttpUserAgent LIMIT 50",
    )?;
    let agents_total = agent_rows.first().map(|r| n(&r[7])).unwrap_or(0);
    let agents = agent_rows
        .iter()
        .map(|r| AgentRow {
            agent: s(&r[0]),
            count: n(&r[1]),
            clients: n(&r[2]),
            errors: n(&r[3]),
            sources: s(&r[4]),
            first: t(&r[5]),
            last: t(&r[6]),
        })
        .collect();
    let nsg_changes = rows(
        &engine,
        "SELECT TimeGenerated, Operation, TargetResourceId, coalesce(ActorUsername, ActorAppName, ActorUserId), SrcIpAddr, \
         EventResult, evidence_path || ':' || CAST(evidence_line AS VARCHAR) FROM events \
         WHERE source = 'activity' AND starts_with(lower(Operation), 'microsoft.network/networksecuritygroups/') \
         AND NOT ends_with(lower(Operation), '/read') ORDER BY TimeGenerated, event_id LIMIT 500",
    )?
    .iter()
    .map(|r| NsgChange {
        time: t(&r[0]),
        operation: s(&r[1]),
        target: s(&r[2]),
        actor: s(&r[3]),
        ip: s(&r[4]),
        result: s(&r[5]),
        evidence: s(&r[6]),
    })
    .collect();

    let entities = entities(&engine, &findings, opts.entities_per_kind)?;

    let network_config = if resources > 0 { azir_store::read::resources(case)? } else { Vec::new() };

    let evidence = evidence_files(&case.manifest()?);
    let custody = case.custody()?;
    let collection = case.collection()?;
    let verify = if opts.verify_evidence { case.verify()? } else { case.verify_chain()? };

    Ok(ReportData {
        generated: azir_store::case::now_rfc3339(),
        case: case.info.clone(),
        events,
        flows,
        resources,
        quarantined,
        range,
        subscriptions,
        tenants,
        coverage,
        quarantine,
        findings,
        hourly,
        failures_ip,
        failures_country,
        talkers,
        outbound,
        waf,
        waf_total,
        agents,
        agents_total,
        nsg_changes,
        entities,
        network_config,
        evidence,
        custody,
        collection,
        verify,
        evidence_rehashed: opts.verify_evidence,
        levels,
    })
}

/// Events listed per finding: the per-finding cap, lowered so that all findings together list
/// about `events_total` (never below 10).
pub fn per_finding_cap(opts: &Options, findings: usize) -> usize {
    let share = opts.events_total / findings.max(1);
    opts.events_per_finding.min(share.max(10)).max(1)
}

/// Gaps of at least `min_hours` empty hours between hours that have records.
pub fn gaps(hours: &[(i64, u64)], min_hours: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for w in hours.windows(2) {
        let (a, b) = (w[0].0, w[1].0);
        if (b - a) / HOUR > min_hours.max(1) {
            out.push((a + HOUR, b));
        }
    }
    out
}

/// The events of every finding (the first `cap` of each), by `event_id`, from both tables.
fn finding_events(engine: &QueryEngine, cap: usize) -> Result<HashMap<String, EventView>, QueryError> {
    let cap = cap.max(1);
    let ids = format!("SELECT DISTINCT unnest(array_slice(event_ids, 1, {cap})) AS id FROM findings");
    let mut out = HashMap::new();
    let ev = rows(
        engine,
        &format!(
            "SELECT e.event_id, e.TimeGenerated, e.source, coalesce(e.Operation, e.EventType, ''), \
             coalesce(e.EventResult, ''), coalesce(e.EventResultDetails, ''), \
             coalesce(e.ActorUsername, e.ActorAppName, e.ActorUserId, ''), coalesce(e.SrcIpAddr, ''), \
             coalesce(e.TargetUsername, e.TargetAppName, e.TargetResourceId, e.DstIpAddr, ''), \
             coalesce(e.Url, ''), coalesce(e.HttpUserAgent, ''), e.message, \
             e.evidence_path || ':' || CAST(e.evidence_line AS VARCHAR) \
             FROM events e JOIN ({ids}) f ON e.event_id = f.id"
        ),
    )?;
    for r in ev {
        let result = match (s(&r[4]), s(&r[5])) {
            (a, b) if b.is_empty() || a == b => a,
            (a, b) if a.is_empty() => b,
            (a, b) => format!("{a} ({b})"),
        };
        let detail =
            [s(&r[9]), s(&r[10]), s(&r[11])].into_iter().filter(|x| !x.is_empty()).collect::<Vec<_>>().join(" · ");
        let v = EventView {
            id: s(&r[0]),
            time: t(&r[1]),
            source: s(&r[2]),
            what: s(&r[3]),
            result,
            actor: s(&r[6]),
            ip: s(&r[7]),
            target: s(&r[8]),
            detail,
            evidence: s(&r[12]),
        };
        out.insert(v.id.clone(), v);
    }
    let nw = rows(
        engine,
        &format!(
            "SELECT e.event_id, e.TimeGenerated, e.source, e.NetworkProtocol, e.SrcIpAddr, e.SrcPortNumber, e.DstIpAddr, \
             e.DstPortNumber, coalesce(e.DvcAction, ''), coalesce(e.NetworkRuleName, ''), \
             coalesce(e.SrcBytes, 0), coalesce(e.DstBytes, 0), \
             e.evidence_path || ':' || CAST(e.evidence_line AS VARCHAR) || '#' || CAST(e.evidence_tuple AS VARCHAR) \
             FROM network e JOIN ({ids}) f ON e.event_id = f.id"
        ),
    )?;
    for r in nw {
        let port = |v: &Value| if v.is_null() { String::new() } else { format!(":{}", s(v)) };
        let v = EventView {
            id: s(&r[0]),
            time: t(&r[1]),
            source: s(&r[2]),
            what: format!("{} {}{} → {}{}", s(&r[3]), s(&r[4]), port(&r[5]), s(&r[6]), port(&r[7])),
            result: s(&r[8]),
            actor: String::new(),
            ip: s(&r[4]),
            target: s(&r[6]),
            detail: format!(
                "rule {} · sent {} · received {}",
                if s(&r[9]).is_empty() { "-".to_string() } else { s(&r[9]) },
                crate::html::human_bytes(n(&r[10])),
                crate::html::human_bytes(n(&r[11]))
            ),
            evidence: s(&r[12]),
        };
        out.insert(v.id.clone(), v);
    }
    Ok(out)
}

/// The users, IPs and apps named by the most (and most severe) findings, with their pivots.
fn entities(engine: &QueryEngine, findings: &[FindingView], per_kind: usize) -> Result<Vec<Entity>, QueryError> {
    let mut out = Vec::new();
    for kind in [Kind::User, Kind::Ip, Kind::App] {
        // value (lower-cased key) -> (shown value, findings, severity score)
        let mut score: BTreeMap<String, (String, usize, u32)> = BTreeMap::new();
        for f in findings {
            let list = match kind {
                Kind::User => &f.row.users,
                Kind::Ip => &f.row.ips,
                _ => &f.row.apps,
            };
            let w = 10u32.pow(u32::from(4 - level_rank(&f.row.level).min(4)));
            let mut seen = std::collections::HashSet::new();
            for v in list {
                let v = v.trim();
                if v.is_empty() || !seen.insert(v.to_ascii_lowercase()) {
                    continue;
                }
                if kind == Kind::Ip && v.parse::<std::net::IpAddr>().is_err() {
                    continue;
                }
                let e = score.entry(v.to_ascii_lowercase()).or_insert_with(|| (v.to_string(), 0, 0));
                e.1 += 1;
                e.2 = e.2.saturating_add(w);
            }
        }
        let mut ranked: Vec<(String, usize, u32)> = score.into_values().collect();
        ranked.sort_by(|a, b| (b.2, b.1, &a.0).cmp(&(a.2, a.1, &b.0)));
        for (value, nf, _) in ranked.into_iter().take(per_kind) {
            let p = pivot::pivot(engine, kind, &value, 30)?;
            out.push(Entity { kind, value, findings: nf, pivot: p });
        }
    }
    Ok(out)
}

/// Manifest lines grouped per evidence file (an archive has one line per member).
fn evidence_files(manifest: &[azir_store::ManifestEntry]) -> Vec<EvidenceFile> {
    let mut by: BTreeMap<String, EvidenceFile> = BTreeMap::new();
    let mut order = Vec::new();
    for m in manifest {
        let e = by.entry(m.sha256.clone()).or_insert_with(|| {
            order.push(m.sha256.clone());
            EvidenceFile {
                path: m.path.split('!').next().unwrap_or(&m.path).to_string(),
                sha256: m.sha256.clone(),
                size: m.size,
                ingested_at: m.ingested_at.clone(),
                ..EvidenceFile::default()
            }
        });
        e.streams += 1;
        e.records += m.records;
        e.events += m.events;
        e.flows += m.flows;
        e.bad += m.bad;
        if !e.format.split(", ").any(|f| f == m.format) {
            if !e.format.is_empty() {
                e.format.push_str(", ");
            }
            e.format.push_str(&m.format);
        }
        if let Some(err) = &m.error {
            e.errors.push(match &m.member {
                Some(mem) => format!("{mem}: {err}"),
                None => err.clone(),
            });
        }
    }
    order.into_iter().filter_map(|k| by.remove(&k)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_need_the_minimum_of_empty_hours() {
        let h = |i: i64| i * HOUR;
        let hours = vec![(h(0), 1), (h(1), 1), (h(5), 1), (h(20), 2)];
        // 3 empty hours between 1 and 5, 14 between 5 and 20.
        assert_eq!(gaps(&hours, 6), vec![(h(6), h(20))]);
        assert_eq!(gaps(&hours, 3), vec![(h(2), h(5)), (h(6), h(20))]);
        assert!(gaps(&hours[..2], 1).is_empty());
        assert!(gaps(&[], 1).is_empty());
    }

    #[test]
    fn many_findings_list_fewer_events_each() {
        let o = Options::default();
        assert_eq!(per_finding_cap(&o, 0), 200);
        assert_eq!(per_finding_cap(&o, 20), 200);
        assert_eq!(per_finding_cap(&o, 100), 40);
        assert_eq!(per_finding_cap(&o, 10_000), 10);
        assert_eq!(per_finding_cap(&Options { events_per_finding: 5, ..o }, 1), 5);
    }

    #[test]
    fn severity_orders_critical_first() {
        let mut v = ["low", "CRITICAL", "medium", "weird", "high", "informational"];
        v.sort_by_key(|l| level_rank(l));
        assert_eq!(v, ["CRITICAL", "high", "medium", "low", "informational", "weird"]);
    }

    #[test]
    fn evidence_is_grouped_per_file() {
        let m =
            |sha: &str, path: &str, member: Option<&str>, records: u64, err: Option<&str>| azir_store::ManifestEntry {
                sha256: sha.into(),
                path: path.into(),
                member: member.map(str::to_string),
                size: 100,
                format: "json:lines".into(),
                records,
                events: records,
                error: err.map(str::to_string),
                ..Default::default()
            };
        let files = evidence_files(&[
            m("a", "logs.zip!x.json", Some("x.json"), 3, None),
            m("b", "single.json", None, 5, None),
            m("a", "logs.zip!y.json", Some("y.json"), 4, Some("truncated gzip")),
        ]);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].path, "logs.zip");
        assert_eq!((files[0].streams, files[0].records, files[0].size), (2, 7, 100));
        assert_eq!(files[0].errors, vec!["y.json: truncated gzip".to_string()]);
        assert_eq!(files[1].path, "single.json");
    }
}
