//! `azir hunt`: run Sigma rules (the built-in pack plus any `--sigma` folders) over a case's
//! events, print the findings grouped by severity, and store them in the case's `findings` table.
//! When a loaded rule routes to a flow source (`nsg_flow`, `vnet_flow`, `vpc_flow`), the flow
//! tuples of the `network` table are hunted too (only the columns the engine reads).

use crate::timeline::{csv_safe, parse_when, terminal_safe};
use anyhow::{bail, Context, Result};
use azir_detect::novelty::BastionNewIp;
use azir_detect::rule::{CompileOptions, Level};
use azir_detect::volume::OutboundVolume;
use azir_detect::{Finding, RuleSetBuilder};
use azir_store::findings::{self, FindingRow};
use azir_store::schema::{event_id, EventColumns, FlowColumns};
use azir_store::Table;
use clap::{Args, ValueEnum};
use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Minimum severity shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MinLevel {
    /// Everything.
    Informational,
    /// Low and above.
    Low,
    /// Medium and above.
    Medium,
    /// High and above.
    High,
    /// Critical only.
    Critical,
}

impl MinLevel {
    fn level(self) -> Level {
        match self {
            MinLevel::Informational => Level::Informational,
            MinLevel::Low => Level::Low,
            MinLevel::Medium => Level::Medium,
            MinLevel::High => Level::High,
            MinLevel::Critical => Level::Critical,
        }
    }
}

/// Arguments of `azir hunt`.
#[derive(Args)]
pub struct HuntArgs {
    /// The case directory.
    #[arg(long, short)]
    case: PathBuf,
    /// Sigma rule files or folders to run as well (repeatable; folders are walked for .yml/.yaml).
    #[arg(long)]
    sigma: Vec<PathBuf>,
    /// Do not load the built-in rule pack, nor run the built-in analytics (Bastion session from an IP
    /// never seen signing in; bytes to one external address summed over flow tuples).
    #[arg(long)]
    no_builtin: bool,
    /// Only events at or after this time (ISO 8601 or relative: `7d`, `12h`).
    #[arg(long)]
    since: Option<String>,
    /// Only events before this time (same forms as --since).
    #[arg(long)]
    until: Option<String>,
    /// Show only findings at or above this level (all are stored).
    #[arg(long, value_enum, default_value_t = MinLevel::Informational)]
    min_level: MinLevel,
    /// Print findings as CSV.
    #[arg(long)]
    csv: bool,
    /// Values for `%name%` placeholders of the `expand` modifier: `NAME=VALUE` (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    placeholder: Vec<String>,
    /// Worker threads (default: all cores). Findings do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Store the findings and print nothing (`azir --quiet demo`, `azir --json demo`).
    #[arg(skip)]
    pub store_only: bool,
}

impl HuntArgs {
    /// The built-in pack over the whole case, showing findings at `min_level` and above (the
    /// hunt `azir demo` runs after its ingest).
    pub fn builtin(case: PathBuf, min_level: MinLevel) -> Self {
        HuntArgs {
            case,
            sigma: Vec::new(),
            no_builtin: false,
            since: None,
            until: None,
            min_level,
            csv: false,
            placeholder: Vec::new(),
            threads: None,
            store_only: false,
        }
    }
}

fn rule_files(p: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if p.is_file() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    let rd = std::fs::read_dir(p).with_context(|| format!("reading rules from {}", p.display()))?;
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            rule_files(&e, out)?;
        } else if matches!(e.extension().and_then(|x| x.to_str()), Some("yml" | "yaml")) {
            out.push(e);
        }
    }
    Ok(())
}

/// The `network` columns a flow tuple's event is built from ([`azir_detect::flow_event`]).
const FLOW_COLUMNS: &[&str] = &[
    "TimeGenerated",
    "source",
    "source_format",
    "SrcIpAddr",
    "SrcPortNumber",
    "DstIpAddr",
    "DstPortNumber",
    "NetworkProtocol",
    "NetworkDirection",
    "DvcAction",
    "FlowState",
    "SrcPackets",
    "SrcBytes",
    "DstPackets",
    "DstBytes",
    "NetworkRuleName",
    "DvcId",
    "AclId",
    "TargetResourceId",
    "FlowVersion",
    "CloudAccountId",
    "FlowId",
    "evidence_sha256",
    "evidence_path",
    "evidence_line",
    "evidence_offset",
    "evidence_index",
    "evidence_tuple",
];

/// `path:line`, and `#tuple` for flow tuples.
fn evidence(e: &azir_detect::EventRef) -> String {
    match e.tuple {
        Some(t) => format!("{}:{}#{t}", e.provenance.evidence_path, e.provenance.line),
        None => format!("{}:{}", e.provenance.evidence_path, e.provenance.line),
    }
}

/// The `event_id` (events table) or `id` (network table: tuple index + 1) of a contributing record.
fn ref_id(e: &azir_detect::EventRef) -> String {
    event_id(&e.provenance, e.tuple.map_or(0, |t| t + 1))
}

fn to_row(rule_set: &str, f: &Finding) -> FindingRow {
    FindingRow {
        rule_set: rule_set.to_string(),
        rule_id: f.rule_id.clone(),
        title: f.title.clone(),
        level: f.level.as_str().to_string(),
        tags: f.tags.clone(),
        kind: f.kind.clone(),
        origin: f.origin.clone(),
        first: f.first,
        last: f.last,
        group: f.group.clone(),
        users: f.users.clone(),
        ips: f.ips.clone(),
        apps: f.apps.clone(),
        resources: f.resources.clone(),
        event_ids: f.events.iter().map(ref_id).collect(),
        evidence: f.events.iter().map(evidence).collect(),
        event_count: f.events.len() as u64,
    }
}

/// Runs the hunt.
pub fn run(a: &HuntArgs, json: bool, quiet: bool) -> Result<i32> {
    if json && a.csv {
        bail!("--json and --csv exclude each other");
    }
    let (case, home) = crate::location::open(&a.case, quiet)?;
    let mut placeholders: HashMap<String, Vec<String>> = HashMap::new();
    for p in &a.placeholder {
        let Some((k, v)) = p.split_once('=') else { bail!("--placeholder wants NAME=VALUE, got {p:?}") };
        placeholders.entry(k.to_string()).or_default().push(v.to_string());
    }
    let mut b = RuleSetBuilder::new(CompileOptions { aliases: true, placeholders });
    if !a.no_builtin {
        b.add_builtin();
    }
    for p in &a.sigma {
        let mut files = Vec::new();
        rule_files(p, &mut files)?;
        if files.is_empty() {
            bail!("no .yml/.yaml rules under {}", p.display());
        }
        for f in files {
            match std::fs::read(&f) {
                Ok(bytes) => b.add(&f.display().to_string(), &String::from_utf8_lossy(&bytes)),
                Err(e) => bail!("reading rule {}: {e}", f.display()),
            }
        }
    }
    let set = b.build();
    let rules = set.rules();
    if !quiet && !json {
        for p in &set.problems {
            eprintln!(
                "azir: rule not loaded: {} ({}): {}",
                terminal_safe(&p.rule),
                terminal_safe(&p.origin),
                terminal_safe(&p.reason)
            );
        }
    }
    let now = chrono::Utc::now().timestamp_micros();
    let since = a.since.as_deref().map(|s| parse_when(s, now)).transpose()?;
    let until = a.until.as_deref().map(|s| parse_when(s, now)).transpose()?;
    let from_day = since.map(azir_model::day_of);
    let to_day = until.map(azir_model::day_of);
    // Every (part, row group) of the tables is a unit of work; each worker hunts the units it
    // takes with its own hunter, and the hunters are merged (findings do not depend on the split).
    let threads = a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let days = (from_day.as_deref(), to_day.as_deref());
    // Each worker also keeps the built-in analytics (values seen in one log and never in another:
    // azir_detect::novelty; bytes summed over flow tuples: azir_detect::volume), merged the same way.
    let init = || (set.hunter(), BastionNewIp::default(), OutboundVolume::default());
    type Workers<'a> = (azir_detect::Hunter<'a>, BastionNewIp, OutboundVolume);
    let fold_events = |(h, novel, _): &mut Workers, batch: &arrow_array::RecordBatch| {
        // One `Event` per worker thread, refilled row after row (azir_store::schema::EventColumns).
        thread_local!(static ROW: std::cell::RefCell<azir_model::Event> = Default::default());
        let cols = EventColumns::new(batch);
        ROW.with_borrow_mut(|e| {
            for r in 0..cols.len() {
                cols.fill(r, e);
                if since.is_some_and(|s| e.time < s) || until.is_some_and(|u| e.time >= u) {
                    continue;
                }
                h.feed(e);
                novel.feed(e);
            }
        });
        Ok(())
    };
    // Small batches: an event row carries its whole record (`raw`), and a batch folded while it
    // is still in cache hunts faster and in less memory (azir_store::flowscan::ScanOptions).
    let scan = |columns| azir_store::flowscan::ScanOptions { columns, dictionary: &[], batch_rows: Some(512) };
    let mut hunters =
        azir_store::flowscan::par_scan_with(&case, Table::Events, days, scan(None), threads, &init, &fold_events)?;
    // Flow tuples feed the flow rules and the built-in volume analytic (azir_detect::volume).
    if set.routes_flows() || !a.no_builtin {
        let fold_flows = |(h, _, volume): &mut Workers, batch: &arrow_array::RecordBatch| {
            // One tuple per worker thread, refilled row after row (FlowColumns).
            thread_local!(static TUPLE: std::cell::RefCell<azir_model::NetworkSession> = Default::default());
            let cols = FlowColumns::new(batch);
            TUPLE.with_borrow_mut(|s| {
                for r in 0..cols.len() {
                    cols.fill(r, s);
                    if since.is_some_and(|t| s.time < t) || until.is_some_and(|u| s.time >= u) {
                        continue;
                    }
                    h.feed_flow(s);
                    volume.feed(s);
                }
            });
            Ok(())
        };
        hunters.extend(azir_store::flowscan::par_scan_with(
            &case,
            Table::Network,
            days,
            scan(Some(FLOW_COLUMNS)),
            threads,
            &init,
            &fold_flows,
        )?);
    }
    let mut hunters = hunters.into_iter();
    let (mut hunter, mut novel, mut volume) = hunters.next().unwrap_or_else(init);
    for (h, n, v) in hunters {
        hunter.merge(h);
        novel.merge(n);
        volume.merge(v);
    }
    let (events, evaluated) = hunter.counts();
    let (flows, flows_evaluated) = hunter.flow_counts();
    let mut all = hunter.finish();
    if !a.no_builtin {
        all.extend(novel.finish());
        all.extend(volume.finish());
        azir_detect::sort_findings(&mut all);
    }
    let fingerprint = set.fingerprint();
    let rows: Vec<FindingRow> = all.iter().map(|f| to_row(&fingerprint, f)).collect();
    let stored = findings::write(&case, &fingerprint, &rows)?;
    case.append_custody(
        "hunt",
        None,
        Some(&stored.display().to_string()),
        serde_json::json!({
            "rule_set": fingerprint, "rules": rules.len(), "findings": rows.len(), "events": events, "flows": flows
        }),
    )?;
    home.push()?;
    if a.store_only {
        return Ok(0);
    }
    let min = a.min_level.level();
    let shown: Vec<&Finding> = all.iter().filter(|f| f.level >= min).collect();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if json {
        let doc = serde_json::json!({
            "case": case.root().display().to_string(),
            "rule_set": fingerprint,
            "rules_loaded": rules.len(),
            "rules_not_applicable": rules.iter().filter(|r| r.sources.is_empty()).count(),
            "problems": set.problems,
            "filters_applied": set.filters_applied,
            "events": events,
            "events_evaluated": evaluated,
            "flows": flows,
            "flows_evaluated": flows_evaluated,
            "stored": stored.display().to_string(),
            "findings": shown.iter().map(|f| finding_json(f)).collect::<Vec<_>>(),
        });
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    } else if a.csv {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record([
            "level",
            "rule_id",
            "title",
            "kind",
            "first",
            "last",
            "users",
            "ips",
            "apps",
            "resources",
            "group",
            "tags",
            "events",
            "evidence",
        ])?;
        for f in &shown {
            let row = to_row(&fingerprint, f);
            let j = |v: &[String]| csv_safe(&v.join(" "));
            w.write_record([
                csv_safe(&row.level),
                csv_safe(&row.rule_id),
                csv_safe(&row.title),
                csv_safe(&row.kind),
                azir_model::format_micros(row.first),
                azir_model::format_micros(row.last),
                j(&row.users),
                j(&row.ips),
                j(&row.apps),
                j(&row.resources),
                j(&row.group),
                j(&row.tags),
                row.event_count.to_string(),
                j(&row.evidence),
            ])?;
        }
        w.flush()?;
    } else {
        print_table(&mut out, &shown)?;
        if !quiet {
            writeln!(
                out,
                "\n{} findings shown ({} stored in {}); {} rules ({} not applicable to azir sources, {} not loaded{}); {} events, {} evaluated; {} flow tuples, {} evaluated",
                shown.len(),
                all.len(),
                stored.display(),
                rules.len(),
                rules.iter().filter(|r| r.sources.is_empty()).count(),
                set.problems.len(),
                match set.filters_applied {
                    0 => String::new(),
                    n => format!(", {n} Sigma filter applications"),
                },
                events,
                evaluated,
                flows,
                flows_evaluated
            )?;
        }
    }
    out.flush()?;
    Ok(0)
}

/// A finding as JSON, with the `event_id` of each contributing event beside its provenance.
fn finding_json(f: &Finding) -> serde_json::Value {
    let mut v = serde_json::to_value(f).unwrap_or_default();
    if let Some(evs) = v.get_mut("events").and_then(|e| e.as_array_mut()) {
        for (j, e) in evs.iter_mut().zip(&f.events) {
            if let Some(o) = j.as_object_mut() {
                o.insert("event_id".into(), ref_id(e).into());
                o.insert("evidence".into(), evidence(e).into());
            }
        }
    }
    v
}

fn print_table(out: &mut dyn Write, shown: &[&Finding]) -> Result<()> {
    // Long lists (a spray's 20 users, an enumeration's 19 secrets) are cut on screen; --json and
    // --csv and the stored findings keep every value.
    let safe = |v: &[String]| {
        const SHOWN: usize = 6;
        let mut text = v.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
        if v.len() > SHOWN {
            text.push_str(&format!(" (+{} more)", v.len() - SHOWN));
        }
        terminal_safe(&text)
    };
    for level in [Level::Critical, Level::High, Level::Medium, Level::Low, Level::Informational] {
        let fs: Vec<&&Finding> = shown.iter().filter(|f| f.level == level).collect();
        if fs.is_empty() {
            continue;
        }
        writeln!(out, "{} ({})", level.as_str().to_uppercase(), fs.len())?;
        for f in fs {
            let attack: Vec<String> = f.tags.iter().filter(|t| t.starts_with("attack.")).cloned().collect();
            writeln!(
                out,
                "  {} .. {}  {}  [{}]{}",
                azir_model::format_micros(f.first),
                azir_model::format_micros(f.last),
                terminal_safe(&f.title),
                terminal_safe(&f.kind),
                if attack.is_empty() { String::new() } else { format!("  {}", safe(&attack)) }
            )?;
            let mut who = Vec::new();
            for (k, v) in [("users", &f.users), ("ips", &f.ips), ("apps", &f.apps), ("group", &f.group)] {
                if !v.is_empty() {
                    who.push(format!("{k}: {}", safe(v)));
                }
            }
            if !who.is_empty() {
                writeln!(out, "      {}", who.join("  "))?;
            }
            if !f.resources.is_empty() {
                writeln!(out, "      resources: {}", safe(&f.resources))?;
            }
            let first = f.events.first().map(evidence);
            writeln!(
                out,
                "      {} event(s); first at {}",
                f.events.len(),
                terminal_safe(first.as_deref().unwrap_or("-"))
            )?;
        }
    }
    if shown.is_empty() {
        writeln!(out, "no findings")?;
    }
    Ok(())
}
