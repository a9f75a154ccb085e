//! `azir timeline`: the super-timeline of a case, filtered and written as a terminal table,
//! CSV, JSON Lines, or a Timesketch import (CSV or JSONL with `message`, `datetime`,
//! `timestamp`, `timestamp_desc`).
//!
//! Log content is hostile: terminal output replaces control characters (no ANSI escapes from a
//! log line reach the terminal), and CSV cells that a spreadsheet would run as a formula
//! (`=`, `+`, `-`, `@`, tab, CR) are prefixed with `'`.

use anyhow::{bail, Context, Result};
use azir_model::{format_micros, parse_time, Event, NetworkSession};
use azir_store::case::Part;
use azir_store::read::{scan, scan_parts};
use azir_store::schema::{event_id, events_from_batch, flows_from_batch, Columns};
use azir_store::{Case, Table};
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

mod spill;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for the terminal.
    Table,
    /// CSV with the main columns (formula injection neutralised).
    Csv,
    /// One JSON object per line with every column, including `raw`.
    Jsonl,
    /// Timesketch CSV import.
    TimesketchCsv,
    /// Timesketch JSONL import.
    TimesketchJsonl,
}

/// Arguments of `azir timeline`.
#[derive(Args)]
pub struct TimelineArgs {
    /// The case directory.
    #[arg(long, short)]
    case: PathBuf,
    /// Only events at or after this time: ISO 8601 (`2026-03-12`, `2026-03-12T10:00Z`) or relative to now (`7d`, `12h`, `30m`, `2w`).
    #[arg(long)]
    since: Option<String>,
    /// Only events before this time (same forms as --since).
    #[arg(long)]
    until: Option<String>,
    /// Only these sources (comma-separated: activity, signin, audit, nsg_flow, waf, …).
    #[arg(long, value_delimiter = ',')]
    source: Vec<String>,
    /// Only events whose actor or target user contains this text (case-insensitive).
    #[arg(long)]
    user: Option<String>,
    /// Only events with this source or destination address.
    #[arg(long)]
    ip: Option<String>,
    /// Only events whose message or raw record contains this text (case-insensitive).
    #[arg(long)]
    grep: Option<String>,
    /// Include network sessions (flow tuples) in the timeline.
    #[arg(long)]
    flows: bool,
    /// Show the quarantine instead of events: unreadable records, and unreadable files or archive members.
    #[arg(long)]
    quarantine: bool,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Stop after this many rows.
    #[arg(long)]
    limit: Option<usize>,
    /// Memory for sorting one day of the timeline, in MiB (an estimate of the rows read). A
    /// larger day is sorted in runs written under $TMPDIR and merged as it is written out.
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    sort_memory: usize,
}

/// Parses `--since`/`--until`: ISO 8601 or a duration before now.
pub fn parse_when(s: &str, now_us: i64) -> Result<i64> {
    let t = s.trim();
    if let Some(us) = parse_time(t) {
        return Ok(us);
    }
    let secs = duration_secs(t)?;
    Ok(now_us - secs * 1_000_000)
}

/// A duration such as `45s`, `30m`, `12h`, `7d` or `2w`, in seconds.
pub fn duration_secs(s: &str) -> Result<i64> {
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = num
        .parse()
        .with_context(|| format!("{s:?} is neither a time (2026-03-12T10:00Z) nor a duration (7d, 12h, 30m)"))?;
    let secs = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => bail!("unknown duration unit in {s:?}: use s, m, h, d or w"),
    };
    n.checked_mul(secs).with_context(|| format!("{s:?} is too long"))
}

struct Filter {
    since: Option<i64>,
    until: Option<i64>,
    sources: Vec<String>,
    user: Option<String>,
    ip: Option<String>,
    /// `--grep`: the text, escaped, matched ignoring case (Unicode case folding) without a
    /// lower-cased copy of each record.
    grep: Option<regex::Regex>,
}

impl Filter {
    fn time_ok(&self, t: i64) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
    fn source_ok(&self, s: &str) -> bool {
        self.sources.is_empty() || self.sources.iter().any(|x| x.eq_ignore_ascii_case(s))
    }
    fn event_ok(&self, e: &Event) -> bool {
        if !self.time_ok(e.time) || !self.source_ok(&e.source) {
            return false;
        }
        if let Some(u) = &self.user {
            let hit = [&e.actor_username, &e.target_username]
                .iter()
                .any(|f| f.as_deref().is_some_and(|v| v.to_lowercase().contains(u)));
            if !hit {
                return false;
            }
        }
        if let Some(ip) = &self.ip {
            if e.src_ip.as_deref() != Some(ip) && e.dst_ip.as_deref() != Some(ip) {
                return false;
            }
        }
        if let Some(g) = &self.grep {
            if !g.is_match(&e.message) && !g.is_match(&e.raw) {
                return false;
            }
        }
        true
    }
    fn flow_ok(&self, f: &NetworkSession) -> bool {
        if !self.time_ok(f.time) || !self.source_ok(&f.source) || self.user.is_some() {
            return false;
        }
        if let Some(ip) = &self.ip {
            if &f.src_ip != ip && &f.dst_ip != ip {
                return false;
            }
        }
        if let Some(g) = &self.grep {
            if !g.is_match(&f.raw) && !g.is_match(f.rule.as_deref().unwrap_or("")) {
                return false;
            }
        }
        true
    }
}

/// A flow tuple as a timeline event.
fn flow_event(f: NetworkSession) -> Event {
    let port = |p: Option<i32>| p.map(|p| format!(":{p}")).unwrap_or_default();
    let counters = match (f.bytes_s2d, f.bytes_d2s) {
        (None, None) => String::new(),
        (a, b) => format!(
            ", bytes {}/{} packets {}/{}",
            a.unwrap_or(0),
            b.unwrap_or(0),
            f.packets_s2d.unwrap_or(0),
            f.packets_d2s.unwrap_or(0)
        ),
    };
    let message = format!(
        "{} {}{} → {}{} {} {}{}{}{}",
        f.protocol,
        f.src_ip,
        port(f.src_port),
        f.dst_ip,
        port(f.dst_port),
        f.direction.as_deref().unwrap_or("-"),
        f.action.as_deref().unwrap_or("-"),
        f.flow_state.as_deref().map(|s| format!(" ({s})")).unwrap_or_default(),
        f.rule.as_deref().map(|r| format!(" rule {r}")).unwrap_or_default(),
        counters
    );
    Event {
        time: f.time,
        event_type: Some("NetworkSession".into()),
        result: f.action.as_deref().map(|a| if a == "Deny" { "Failure".to_string() } else { "Success".to_string() }),
        src_ip: Some(f.src_ip),
        src_port: f.src_port,
        dst_ip: Some(f.dst_ip),
        dst_port: f.dst_port,
        protocol: Some(f.protocol),
        target_resource_id: f.dvc_id,
        message,
        raw: f.raw,
        source: f.source,
        source_format: f.source_format,
        provenance: f.provenance,
        ..Event::default()
    }
}

/// First and last event time of a case (from the events table).
pub fn time_range(case: &Case) -> Result<(Option<i64>, Option<i64>)> {
    let (mut lo, mut hi) = (None::<i64>, None::<i64>);
    scan(case, Table::Events, None, None, Some(&["TimeGenerated"]), &mut |b| {
        let c = Columns::new(&b);
        for r in 0..b.num_rows() {
            if let Some(t) = c.time("TimeGenerated", r) {
                lo = Some(lo.map_or(t, |l: i64| l.min(t)));
                hi = Some(hi.map_or(t, |h: i64| h.max(t)));
            }
        }
        Ok(())
    })?;
    Ok((lo, hi))
}

const EVENT_COLUMNS: &[&str] = &[
    "TimeGenerated",
    "source",
    "source_format",
    "EventType",
    "Operation",
    "Category",
    "EventResult",
    "EventResultDetails",
    "ActorUsername",
    "ActorUserId",
    "ActorAppId",
    "ActorAppName",
    "SrcIpAddr",
    "SrcPortNumber",
    "DstIpAddr",
    "DstPortNumber",
    "NetworkProtocol",
    "TargetUsername",
    "TargetResourceId",
    "TargetAppName",
    "HttpUserAgent",
    "HttpRequestMethod",
    "Url",
    "HttpStatusCode",
    "SrcGeoCountry",
    "SrcGeoCity",
    "CorrelationId",
    "TenantId",
    "SubscriptionId",
    "message",
    "evidence_sha256",
    "evidence_path",
    "evidence_line",
    "evidence_offset",
    "evidence_index",
];

/// Runs `azir timeline` (`quiet`: no note on stderr when a day is sorted on disk).
pub fn run(a: &TimelineArgs, quiet: bool) -> Result<i32> {
    let (case, _) = crate::location::open(&a.case, false)?;
    let now = chrono::Utc::now().timestamp_micros();
    let filter = Filter {
        since: a.since.as_deref().map(|s| parse_when(s, now)).transpose()?,
        until: a.until.as_deref().map(|s| parse_when(s, now)).transpose()?,
        sources: a.source.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
        user: a.user.as_ref().map(|u| u.to_lowercase()),
        ip: a.ip.clone(),
        grep: a
            .grep
            .as_ref()
            .map(|g| regex::RegexBuilder::new(&regex::escape(g)).case_insensitive(true).build())
            .transpose()
            .context("--grep")?,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if a.quarantine {
        quarantine(&case, a, &mut out)?;
        out.flush()?;
        return Ok(0);
    }
    let from_day = filter.since.map(azir_model::day_of);
    let to_day = filter.until.map(azir_model::day_of);
    let need_raw = filter.grep.is_some() || matches!(a.format, Format::Jsonl | Format::TimesketchJsonl);
    let mut cols: Vec<&str> = EVENT_COLUMNS.to_vec();
    if need_raw {
        cols.push("raw");
    }
    let mut sink = Sink::new(a.format, &mut out)?;
    let mut left = a.limit.unwrap_or(usize::MAX);
    let budget = a.sort_memory.saturating_mul(1 << 20);
    let format = a.format;
    // One day partition at a time: rows are sorted and written per day, so memory holds one
    // day of the case (two while the next is read), and `--limit` stops reading once it has its
    // rows. A reader thread reads and sorts the next day while this one writes. A day larger
    // than `--sort-memory` is sorted on disk (`spill`).
    let days = days(&case, a.flows, from_day.as_deref(), to_day.as_deref())?;
    // A signal ends the process without unwinding: the runs of a day sorted on disk are removed
    // first (`spill` module docs). Output written so far stays written.
    let _ = ctrlc::set_handler(|| {
        spill::remove_live();
        std::process::exit(130);
    });
    let (filter, cols) = (&filter, &cols);
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<DayRows>>(0);
        scope.spawn(move || {
            let mut rows = RowFormat::new(format);
            for day in days {
                let day = read_day(&day, filter, cols, budget, &mut rows);
                let failed = day.is_err();
                // A closed channel: the writer has its rows, or stopped on an error.
                if tx.send(day).is_err() || failed {
                    break;
                }
            }
        });
        // `rx` is consumed by the loop: leaving it early closes the channel, which ends the reader.
        for day in rx {
            match day? {
                DayRows::Memory(mut rows) => {
                    rows.truncate(left);
                    left -= rows.len();
                    sink.rows(&rows)?;
                }
                DayRows::Spilled(spill) => {
                    if !quiet {
                        eprintln!(
                            "timeline: {}: {} rows sorted on disk in {} run(s) (more than --sort-memory {} MiB)",
                            spill.day, spill.rows, spill.sorted, a.sort_memory
                        );
                    }
                    spill.write(&mut |row| {
                        if left == 0 {
                            return Ok(false);
                        }
                        sink.write(row)?;
                        left -= 1;
                        Ok(left > 0)
                    })?
                }
            }
            if left == 0 {
                break;
            }
        }
        Ok(())
    })?;
    out.flush()?;
    Ok(0)
}

/// One day's rows, in timeline order, as the reader hands them to the writer.
enum DayRows {
    /// Sorted in memory.
    Memory(Vec<(Event, u32)>),
    /// More than the memory budget: formatted, in sorted runs on disk, merged as written.
    Spilled(spill::Spill),
}

/// The rows of one day partition that pass `filter`, in timeline order. Each row has its
/// `event_id` sub-index: 0 for events, tuple index + 1 for flow tuples (as stored), so the
/// tuples of one flow record keep distinct ids. Past `budget` bytes of rows (an estimate:
/// [`footprint`]) what was read is sorted and written as a run (`format` makes its rows).
fn read_day(day: &Day, filter: &Filter, cols: &[&str], budget: usize, format: &mut RowFormat) -> Result<DayRows> {
    let mut acc = Accumulator { rows: Vec::new(), bytes: 0, budget, spill: None, format, day: &day.name };
    // A failed run (a full disk) stops the scan; its error, not the stop, is reported.
    let mut failed: Option<anyhow::Error> = None;
    let mut keep = |acc: &mut Accumulator, e: Event, sub: u32| match acc.push(e, sub) {
        Ok(()) => Ok(()),
        Err(err) => {
            failed = Some(err);
            Err(azir_store::StoreError::Stopped)
        }
    };
    let mut scanned = scan_parts(&day.events, Some(cols), &mut |b| {
        events_from_batch(&b).into_iter().filter(|e| filter.event_ok(e)).try_for_each(|e| keep(&mut acc, e, 0))
    });
    if scanned.is_ok() && !day.flows.is_empty() {
        scanned = scan_parts(&day.flows, None, &mut |b| {
            flows_from_batch(&b).into_iter().filter(|f| filter.flow_ok(f)).try_for_each(|f| {
                let sub = f.tuple_index + 1;
                keep(&mut acc, flow_event(f), sub)
            })
        });
    }
    if let Some(err) = failed {
        return Err(err);
    }
    scanned?;
    acc.finish()
}

/// A day's rows as they are read: in memory up to the budget, then in sorted runs.
struct Accumulator<'f> {
    rows: Vec<(Event, u32)>,
    bytes: usize,
    budget: usize,
    spill: Option<spill::Spill>,
    format: &'f mut RowFormat,
    day: &'f str,
}

impl Accumulator<'_> {
    fn push(&mut self, e: Event, sub: u32) -> Result<()> {
        self.bytes += footprint(&e);
        self.rows.push((e, sub));
        if self.bytes > self.budget {
            self.spill_rows()?;
        }
        Ok(())
    }

    fn sort(&mut self) {
        self.rows.sort_by(|(x, xs), (y, ys)| row_order((x, *xs), (y, *ys)));
    }

    fn spill_rows(&mut self) -> Result<()> {
        self.sort();
        let spill = match &mut self.spill {
            Some(s) => s,
            None => self.spill.insert(spill::Spill::new(self.day)?),
        };
        let format = &mut *self.format;
        spill.run(&self.rows, &mut |e, sub, out| format.row(e, sub, out))?;
        self.rows.clear();
        self.bytes = 0;
        Ok(())
    }

    fn finish(mut self) -> Result<DayRows> {
        if self.spill.is_some() {
            self.spill_rows()?;
            return Ok(DayRows::Spilled(self.spill.take().expect("spilled above")));
        }
        self.sort();
        Ok(DayRows::Memory(self.rows))
    }
}

/// What a row holds in memory, roughly: the event and its longest texts (the record, the
/// message), plus a fixed allowance for its short columns.
fn footprint(e: &Event) -> usize {
    std::mem::size_of::<(Event, u32)>() + e.raw.len() + e.message.len() + 256
}

/// Timeline order: time, then the evidence (file, place in it) and the sub-index, so the output
/// does not depend on how ingestion split the case into parts.
fn row_order(x: (&Event, u32), y: (&Event, u32)) -> std::cmp::Ordering {
    let (a, b) = (&x.0.provenance, &y.0.provenance);
    x.0.time
        .cmp(&y.0.time)
        .then_with(|| a.evidence_sha256.cmp(&b.evidence_sha256))
        .then_with(|| a.evidence_path.cmp(&b.evidence_path))
        .then(a.offset.cmp(&b.offset))
        .then(a.index.cmp(&b.index))
        .then(x.1.cmp(&y.1))
}

/// One day partition of a timeline: its events parts and, with flows, its network parts.
#[derive(Default)]
struct Day {
    /// The partition's name (`2026-03-12`).
    name: String,
    events: Vec<Part>,
    flows: Vec<Part>,
}

/// The day partitions a timeline reads, in time order: the events table's and, with `flows`,
/// the network table's parts, limited to `[from, to]` as the store compares days, listed once.
///
/// Days are ordered by their date, not their text: `day_of` writes years past 9999 with a sign
/// (`+10000-01-01`), which sorts before `1970-01-01` as text.
fn days(case: &Case, flows: bool, from: Option<&str>, to: Option<&str>) -> Result<Vec<Day>> {
    let mut days: BTreeMap<(bool, Option<chrono::NaiveDate>, String), Day> = BTreeMap::new();
    for p in case.parts(Table::Events, from, to)? {
        let day = days.entry(day_key(&p.day)).or_default();
        day.name.clone_from(&p.day);
        day.events.push(p);
    }
    if flows {
        for p in case.parts(Table::Network, from, to)? {
            let day = days.entry(day_key(&p.day)).or_default();
            day.name.clone_from(&p.day);
            day.flows.push(p);
        }
    }
    Ok(days.into_values().collect())
}

/// A day partition's place in time (a name that is not a date, which the store does not write,
/// goes last).
fn day_key(day: &str) -> (bool, Option<chrono::NaiveDate>, String) {
    let date = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok();
    (date.is_none(), date, day.to_string())
}

/// Replaces control characters so log content cannot drive the terminal.
pub fn terminal_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                if c == '\n' || c == '\t' {
                    ' '
                } else {
                    '\u{fffd}'
                }
            } else {
                c
            }
        })
        .collect()
}

/// Neutralises spreadsheet formula injection in a CSV cell.
pub fn csv_safe(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn timestamp_desc(source: &str) -> &'static str {
    match source {
        "signin" => "Sign-in",
        "activity" => "Activity Log event",
        "audit" => "Directory audit event",
        "provisioning" => "Provisioning event",
        "identity_protection" => "Risk detection",
        "m365_audit" => "Microsoft 365 audit event",
        "nsg_flow" | "vnet_flow" | "vpc_flow" => "Flow observed",
        "appgw_access" | "waf" => "HTTP request",
        _ => "Event recorded",
    }
}

/// The header of a CSV timeline.
fn csv_header(ts: bool) -> Vec<&'static str> {
    let mut header = vec![];
    if ts {
        header.extend(["message", "datetime", "timestamp", "timestamp_desc"]);
    } else {
        header.extend(["time", "message"]);
    }
    header.extend([
        "source",
        "source_format",
        "event_type",
        "operation",
        "result",
        "result_details",
        "actor",
        "actor_app",
        "src_ip",
        "dst_ip",
        "target_user",
        "target_resource",
        "url",
        "user_agent",
        "country",
        "correlation_id",
        "evidence_path",
        "evidence_line",
        "evidence_sha256",
        "event_id",
    ]);
    header
}

/// A JSONL timeline row: every column, borrowed from the event, serialized into one line buffer
/// (written out whole: `raw` is a JSON record inside a JSON string, and `serde_json` hands each
/// run between two escaped quotes to its writer, which a `BufWriter` pays for per call). The
/// members are in byte order of their names (the order `serde_json`'s map wrote them in before
/// rows were written directly, kept so earlier exports compare equal).
#[derive(serde::Serialize)]
struct JsonRow<'a> {
    #[serde(rename = "ActorAppId")]
    actor_app_id: Option<&'a str>,
    #[serde(rename = "ActorAppName")]
    actor_app_name: Option<&'a str>,
    #[serde(rename = "ActorUserId")]
    actor_user_id: Option<&'a str>,
    #[serde(rename = "ActorUsername")]
    actor_username: Option<&'a str>,
    #[serde(rename = "Category")]
    category: Option<&'a str>,
    #[serde(rename = "CorrelationId")]
    correlation_id: Option<&'a str>,
    #[serde(rename = "DstIpAddr")]
    dst_ip: Option<&'a str>,
    #[serde(rename = "DstPortNumber")]
    dst_port: Option<i32>,
    #[serde(rename = "EventResult")]
    result: Option<&'a str>,
    #[serde(rename = "EventResultDetails")]
    result_details: Option<&'a str>,
    #[serde(rename = "EventType")]
    event_type: Option<&'a str>,
    #[serde(rename = "HttpRequestMethod")]
    http_method: Option<&'a str>,
    #[serde(rename = "HttpStatusCode")]
    http_status: Option<i32>,
    #[serde(rename = "HttpUserAgent")]
    user_agent: Option<&'a str>,
    #[serde(rename = "NetworkProtocol")]
    protocol: Option<&'a str>,
    #[serde(rename = "Operation")]
    operation: Option<&'a str>,
    #[serde(rename = "SrcGeoCity")]
    city: Option<&'a str>,
    #[serde(rename = "SrcGeoCountry")]
    country: Option<&'a str>,
    #[serde(rename = "SrcIpAddr")]
    src_ip: Option<&'a str>,
    #[serde(rename = "SrcPortNumber")]
    src_port: Option<i32>,
    #[serde(rename = "SubscriptionId")]
    subscription_id: Option<&'a str>,
    #[serde(rename = "TargetAppName")]
    target_app_name: Option<&'a str>,
    #[serde(rename = "TargetResourceId")]
    target_resource_id: Option<&'a str>,
    #[serde(rename = "TargetUsername")]
    target_username: Option<&'a str>,
    #[serde(rename = "TenantId")]
    tenant_id: Option<&'a str>,
    #[serde(rename = "Url")]
    url: Option<&'a str>,
    datetime: String,
    event_id: String,
    evidence_index: u32,
    evidence_line: u64,
    evidence_offset: u64,
    evidence_path: &'a str,
    evidence_sha256: &'a str,
    message: &'a str,
    raw: &'a str,
    source: &'a str,
    source_format: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp_desc: Option<&'static str>,
}

impl<'a> JsonRow<'a> {
    fn new(e: &'a Event, sub: u32, timesketch: bool) -> JsonRow<'a> {
        let o = |v: &'a Option<String>| v.as_deref();
        JsonRow {
            actor_app_id: o(&e.actor_app_id),
            actor_app_name: o(&e.actor_app_name),
            actor_user_id: o(&e.actor_user_id),
            actor_username: o(&e.actor_username),
            category: o(&e.category),
            correlation_id: o(&e.correlation_id),
            dst_ip: o(&e.dst_ip),
            dst_port: e.dst_port,
            result: o(&e.result),
            result_details: o(&e.result_details),
            event_type: o(&e.event_type),
            http_method: o(&e.http_method),
            http_status: e.http_status,
            user_agent: o(&e.user_agent),
            protocol: o(&e.protocol),
            operation: o(&e.operation),
            city: o(&e.city),
            country: o(&e.country),
            src_ip: o(&e.src_ip),
            src_port: e.src_port,
            subscription_id: o(&e.subscription_id),
            target_app_name: o(&e.target_app_name),
            target_resource_id: o(&e.target_resource_id),
            target_username: o(&e.target_username),
            tenant_id: o(&e.tenant_id),
            url: o(&e.url),
            datetime: format_micros(e.time),
            event_id: event_id(&e.provenance, sub),
            evidence_index: e.provenance.index,
            evidence_line: e.provenance.line,
            evidence_offset: e.provenance.offset,
            evidence_path: &e.provenance.evidence_path,
            evidence_sha256: &e.provenance.evidence_sha256,
            message: &e.message,
            raw: &e.raw,
            source: &e.source,
            source_format: &e.source_format,
            timestamp: timesketch.then_some(e.time),
            timestamp_desc: timesketch.then(|| timestamp_desc(&e.source)),
        }
    }
}

/// Formats timeline rows: the same bytes whether a row is written at once or first kept in a
/// sorted run on disk.
struct RowFormat {
    format: Format,
    /// CSV rows are made by the `csv` crate (quoting), into a buffer taken after each row.
    csv: Option<(csv::Writer<Shared>, Shared)>,
}

/// A byte buffer the `csv` writer writes into and the formatter empties.
#[derive(Clone, Default)]
struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl RowFormat {
    fn new(format: Format) -> RowFormat {
        let csv = matches!(format, Format::Csv | Format::TimesketchCsv).then(|| {
            let buf = Shared::default();
            (csv::Writer::from_writer(buf.clone()), buf)
        });
        RowFormat { format, csv }
    }

    /// The format's header (none for JSON Lines).
    fn header(&mut self, out: &mut Vec<u8>) -> Result<()> {
        match self.format {
            Format::Table => writeln!(
                out,
                "{:<27} {:<14} {:<8} {:<28} {:<16} MESSAGE",
                "TIME (UTC)", "SOURCE", "RESULT", "ACTOR", "SRC IP"
            )?,
            Format::Csv | Format::TimesketchCsv => {
                let ts = self.format == Format::TimesketchCsv;
                self.csv_record(&csv_header(ts), out)?;
            }
            Format::Jsonl | Format::TimesketchJsonl => {}
        }
        Ok(())
    }

    /// Appends one row to `out`.
    fn row(&mut self, e: &Event, sub: u32, out: &mut Vec<u8>) -> Result<()> {
        match self.format {
            Format::Table => writeln!(
                out,
                "{:<27} {:<14} {:<8} {:<28} {:<16} {}",
                format_micros(e.time),
                cut(&terminal_safe(&e.source), 14),
                cut(e.result.as_deref().unwrap_or("-"), 8),
                cut(&terminal_safe(e.actor_username.as_deref().unwrap_or("-")), 28),
                cut(&terminal_safe(e.src_ip.as_deref().unwrap_or("-")), 16),
                terminal_safe(&e.message)
            )?,
            Format::Csv | Format::TimesketchCsv => {
                let ts = self.format == Format::TimesketchCsv;
                self.csv_record(&csv_row(e, sub, ts), out)?;
            }
            Format::Jsonl | Format::TimesketchJsonl => {
                let ts = self.format == Format::TimesketchJsonl;
                serde_json::to_writer(&mut *out, &JsonRow::new(e, sub, ts))?;
                out.push(b'\n');
            }
        }
        Ok(())
    }

    fn csv_record<S: AsRef<[u8]>>(&mut self, cells: &[S], out: &mut Vec<u8>) -> Result<()> {
        let (w, buf) = self.csv.as_mut().expect("a CSV format has a CSV writer");
        w.write_record(cells)?;
        w.flush()?;
        out.append(&mut buf.0.borrow_mut());
        Ok(())
    }
}

/// Where timeline rows go, day after day: the format's header once, then rows, each made in
/// one line buffer and written whole (`raw` is a JSON record inside a JSON string, and
/// `serde_json` hands each run between two escaped quotes to its writer, which a `BufWriter`
/// pays for per call).
struct Sink<'a> {
    out: &'a mut dyn Write,
    format: RowFormat,
    line: Vec<u8>,
}

impl<'a> Sink<'a> {
    fn new(format: Format, out: &'a mut dyn Write) -> Result<Sink<'a>> {
        let mut sink = Sink { out, format: RowFormat::new(format), line: Vec::new() };
        sink.format.header(&mut sink.line)?;
        sink.out.write_all(&sink.line)?;
        Ok(sink)
    }

    fn rows(&mut self, rows: &[(Event, u32)]) -> Result<()> {
        for (e, sub) in rows {
            self.line.clear();
            self.format.row(e, *sub, &mut self.line)?;
            self.out.write_all(&self.line)?;
        }
        Ok(())
    }

    /// Writes a row formatted earlier.
    fn write(&mut self, row: &[u8]) -> Result<()> {
        self.out.write_all(row)?;
        Ok(())
    }
}

/// One CSV row (cells a spreadsheet would run as formulas neutralised).
fn csv_row(e: &Event, sub: u32, ts: bool) -> Vec<String> {
    let time = format_micros(e.time);
    let mut rec: Vec<String> = Vec::with_capacity(24);
    if ts {
        rec.extend([e.message.clone(), time, e.time.to_string(), timestamp_desc(&e.source).to_string()]);
    } else {
        rec.extend([time, e.message.clone()]);
    }
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    rec.extend([
        e.source.clone(),
        e.source_format.clone(),
        o(&e.event_type),
        o(&e.operation),
        o(&e.result),
        o(&e.result_details),
        o(&e.actor_username),
        e.actor_app_name.clone().or_else(|| e.actor_app_id.clone()).unwrap_or_default(),
        o(&e.src_ip),
        o(&e.dst_ip),
        o(&e.target_username),
        o(&e.target_resource_id),
        o(&e.url),
        o(&e.user_agent),
        o(&e.country),
        o(&e.correlation_id),
        e.provenance.evidence_path.to_string(),
        e.provenance.line.to_string(),
        e.provenance.evidence_sha256.to_string(),
        event_id(&e.provenance, sub),
    ]);
    rec.iter().map(|c| csv_safe(c)).collect()
}

fn quarantine(case: &Case, a: &TimelineArgs, out: &mut dyn Write) -> Result<()> {
    // (path, line, reason, parser, excerpt, size); line is None for a file or archive member
    // that could not be read at all (binary, bomb, unsafe name): those live in the manifest.
    type Row = (String, Option<u64>, String, Option<String>, String, u64);
    let mut rows: Vec<Row> = Vec::new();
    scan(case, Table::Quarantine, None, None, None, &mut |b| {
        let c = Columns::new(&b);
        for r in 0..b.num_rows() {
            rows.push((
                c.str("evidence_path", r).unwrap_or_default(),
                Some(c.u64("evidence_line", r).unwrap_or(0)),
                c.str("reason", r).unwrap_or_default(),
                c.str("parser", r),
                c.str("excerpt", r).unwrap_or_default(),
                c.u64("size", r).unwrap_or(0),
            ));
        }
        Ok(())
    })?;
    for m in case.manifest()? {
        if let Some(err) = m.error {
            rows.push((m.path, None, err, None, String::new(), m.size));
        }
    }
    rows.sort();
    if let Some(n) = a.limit {
        rows.truncate(n);
    }
    match a.format {
        Format::Table => {
            for (path, line, reason, parser, excerpt, _) in &rows {
                let p = parser.as_deref().map(|p| format!(" [{p}]")).unwrap_or_default();
                let at = line.map(|l| format!(":{l}")).unwrap_or_default();
                writeln!(out, "{}{at}{p}: {}", terminal_safe(path), terminal_safe(reason))?;
                if !excerpt.is_empty() {
                    writeln!(out, "    {}", cut(&terminal_safe(excerpt), 160))?;
                }
            }
        }
        Format::Csv | Format::TimesketchCsv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(["evidence_path", "evidence_line", "reason", "parser", "size", "excerpt"])?;
            for (path, line, reason, parser, excerpt, size) in &rows {
                w.write_record([
                    csv_safe(path),
                    line.map(|l| l.to_string()).unwrap_or_default(),
                    csv_safe(reason),
                    parser.clone().unwrap_or_default(),
                    size.to_string(),
                    csv_safe(excerpt),
                ])?;
            }
            w.flush()?;
        }
        Format::Jsonl | Format::TimesketchJsonl => {
            for (path, line, reason, parser, excerpt, size) in &rows {
                let v = serde_json::json!({"evidence_path": path, "evidence_line": line, "reason": reason, "parser": parser, "size": size, "excerpt": excerpt});
                serde_json::to_writer(&mut *out, &v)?;
                out.write_all(b"\n")?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row as the timeline wrote it before rows were written from the event: a `serde_json`
    /// map (members sorted, absent values `null`).
    fn serde_row(e: &Event, sub: u32, timesketch: bool) -> String {
        let mut v = serde_json::json!({
            "datetime": format_micros(e.time),
            "message": e.message,
            "source": e.source, "source_format": e.source_format,
            "EventType": e.event_type, "Operation": e.operation, "Category": e.category,
            "EventResult": e.result, "EventResultDetails": e.result_details,
            "ActorUsername": e.actor_username, "ActorUserId": e.actor_user_id, "ActorAppId": e.actor_app_id, "ActorAppName": e.actor_app_name,
            "SrcIpAddr": e.src_ip, "SrcPortNumber": e.src_port, "DstIpAddr": e.dst_ip, "DstPortNumber": e.dst_port, "NetworkProtocol": e.protocol,
            "TargetUsername": e.target_username, "TargetResourceId": e.target_resource_id, "TargetAppName": e.target_app_name,
            "HttpUserAgent": e.user_agent, "HttpRequestMethod": e.http_method, "Url": e.url, "HttpStatusCode": e.http_status,
            "SrcGeoCountry": e.country, "SrcGeoCity": e.city, "CorrelationId": e.correlation_id, "TenantId": e.tenant_id, "SubscriptionId": e.subscription_id,
            "evidence_sha256": e.provenance.evidence_sha256, "evidence_path": e.provenance.evidence_path,
            "evidence_line": e.provenance.line, "evidence_offset": e.provenance.offset, "evidence_index": e.provenance.index,
            "event_id": event_id(&e.provenance, sub),
            "raw": e.raw,
        });
        if timesketch {
            v["timestamp"] = serde_json::json!(e.time);
            v["timestamp_desc"] = serde_json::json!(timestamp_desc(&e.source));
        }
        format!("{v}\n")
    }

    #[test]
    fn jsonl_rows_are_what_serde_json_wrote() {
        let full = Event {
            time: 1_773_000_000_123_456,
            source: "signin".into(),
            source_format: "graph".into(),
            event_type: Some("Logon".into()),
            operation: Some("Sign-in activity".into()),
            category: Some("SignInLogs".into()),
            result: Some("Failure".into()),
            result_details: Some("50126".into()),
            actor_username: Some("megan@contoso.com".into()),
            actor_user_id: Some("uid".into()),
            actor_app_id: Some("aid".into()),
            actor_app_name: Some("Azure \"Portal\"".into()),
            src_ip: Some("203.0.113.7".into()),
            src_port: Some(50123),
            dst_ip: Some("10.0.0.4".into()),
            dst_port: Some(-1),
            protocol: Some("TCP".into()),
            target_username: Some("t\u{0}".into()),
            target_resource_id: Some("/subscriptions/s".into()),
            target_app_name: Some("tapp".into()),
            user_agent: Some("Mozilla/5.0 \x1b]0;pwned\x07".into()),
            http_method: Some("GET".into()),
            url: Some("/a?b=c&d=\\e".into()),
            http_status: Some(200),
            country: Some("US".into()),
            city: Some("Zürich".into()),
            correlation_id: Some("c".into()),
            tenant_id: Some("tid".into()),
            subscription_id: Some("s".into()),
            message: "line one\nline two".into(),
            raw: "{\n  \"userPrincipalName\": \"megan@contoso.com\",\n  \"status\": {\"errorCode\": 50126}\n}".into(),
            provenance: azir_model::Provenance {
                evidence_sha256: "ab".into(),
                evidence_path: "exports.zip!signins/part \"1\".json".into(),
                line: u64::MAX,
                offset: 9,
                index: u32::MAX,
            },
        };
        let empty = Event { time: -5, ..Event::default() };
        for e in [&full, &empty] {
            for (sub, ts) in [(0, false), (3, false), (0, true), (u32::MAX, true)] {
                let row = serde_json::to_string(&JsonRow::new(e, sub, ts)).unwrap() + "\n";
                assert_eq!(row, serde_row(e, sub, ts));
            }
        }
    }

    #[test]
    fn csv_cells_cannot_start_formulas() {
        assert_eq!(csv_safe("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_safe("+1"), "'+1");
        assert_eq!(csv_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_safe("plain"), "plain");
    }

    #[test]
    fn terminal_output_drops_escape_sequences() {
        assert_eq!(terminal_safe("a\x1b[31mred\x07"), "a\u{fffd}[31mred\u{fffd}");
        assert_eq!(terminal_safe("two\nlines"), "two lines");
    }

    #[test]
    fn day_partitions_are_ordered_by_date() {
        let mut days: Vec<String> = ["2026-03-08", "+10000-01-01", "1969-12-31", "2026-02-28", "-0001-05-01"]
            .iter()
            .map(|d| d.to_string())
            .collect();
        // As the store names them.
        for d in &days {
            let t = day_key(d).1.expect("a date").and_hms_opt(12, 0, 0).unwrap().and_utc().timestamp_micros();
            assert_eq!(&azir_model::day_of(t), d);
        }
        days.sort_by_cached_key(|d| day_key(d));
        assert_eq!(days, ["-0001-05-01", "1969-12-31", "2026-02-28", "2026-03-08", "+10000-01-01"]);
        assert!(day_key("junk") > day_key("+10000-01-01"));
    }

    #[test]
    fn relative_and_absolute_times() {
        let now = 1_000_000_000_000_000;
        assert_eq!(parse_when("7d", now).unwrap(), now - 7 * 86_400_000_000);
        assert_eq!(parse_when("12h", now).unwrap(), now - 12 * 3_600_000_000);
        assert_eq!(format_micros(parse_when("2026-03-12", now).unwrap()), "2026-03-12T00:00:00.000000Z");
        assert!(parse_when("7y", now).unwrap_err().to_string().contains("unknown duration unit"));
        assert!(parse_when("soon", now).is_err());
    }
}
