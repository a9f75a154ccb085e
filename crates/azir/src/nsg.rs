//! `azir nsg`: offline NSG evaluation over the case's network configuration (`resources`).
//!
//! `verify` reads every `resources` row, keeps per resource the snapshot in force at `--at`
//! (the latest when not given), and evaluates the flow with `azir_net::nsg::verify`. The answer
//! is printed like Network Watcher's NSG diagnostics: per NSG on the path, where it is applied,
//! the rule that decided and its action; with `--explain`, every rule of the direction with its
//! per-field match. The exit code is 0 for Allow and Deny alike (the verdict is the output);
//! 1 for errors (no configuration, unknown NIC — the known ones are listed). With `--at`, the
//! custom rules of every NSG the Activity Log changed are those in force then
//! (`azir_net::nsg::history`); without it, the latest snapshots are evaluated as they are.
//!
//! `history` lists an NSG's changes from the `events` table (Activity Log writes and deletes of
//! the NSG and its rules): when, who, from where, the outcome, and a field-level diff against the
//! rule's previous known version.
//!
//! `crosscheck` builds `azir_net::crosscheck::Model` (the configuration compiled per version:
//! between consecutive snapshot and change times), reads the `network` table on every core
//! (`azir_store::flowscan::par_scan`, projected to `crosscheck::COLUMNS`, pruned to the days of
//! `--since/--until`), checks each NSG/VNet flow-log tuple in one `Crosscheck` per worker and
//! merges them. `--no-history` leaves the Activity Log out (snapshots only), which shows what the
//! history explains.

use crate::timeline::{parse_when, terminal_safe};
use anyhow::{bail, Context, Result};
use azir_model::{format_micros, Event, Resource};
use azir_net::crosscheck::{self, Crosscheck, Model};
use azir_net::nsg::history::{self, ChangeKind, History};
use azir_net::nsg::{self, NetworkConfig, Protocol, Query, ServiceTags, Target, TrafficDirection, Verdict};
use azir_net::Window;
use azir_store::read::scan;
use azir_store::schema::{events_from_batch, Columns};
use azir_store::{Case, Table};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;

/// `azir nsg` subcommands.
#[derive(Subcommand)]
pub enum NsgCmd {
    /// Would this flow be allowed? Every NSG on the NIC's path (subnet and NIC), its deciding rule, and the verdict.
    #[command(
        after_help = "Examples:\n  azir nsg verify --case ./case --direction in --proto tcp --src 203.0.113.77:50123 --dst 10.10.1.4:22\n  azir nsg verify --case ./case --direction out --proto udp --src 10.10.1.4 --dst 198.51.100.9:53 --vm web-vm\n  azir nsg verify --case ./case --direction in --proto tcp --src 203.0.113.77 --dst 10.10.1.4:3389 --at 2026-03-12T03:00Z --explain\n  azir nsg verify --case ./case --direction in --proto tcp --src 20.38.109.9 --dst 10.10.1.4:443 --service-tags ServiceTags_Public.json\n  azir --json nsg verify --case ./case --direction in --proto tcp --src 203.0.113.77 --dst 10.10.1.4:22\n\nThe NIC is --nic (name or id), else the NIC of --vm holding the local address, else the NIC whose private IP is the destination (in) or the source (out).\nExit code 0 for Allow and for Deny; 1 when the flow cannot be evaluated (no configuration in the case, unknown NIC or VM)."
    )]
    Verify(VerifyArgs),
    /// Rule changes of an NSG rebuilt from the Activity Log: when, who, from where, what changed.
    #[command(
        after_help = "Examples:\n  azir nsg history nsg-web --case ./case\n  azir nsg history /subscriptions/<sub>/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg-web --case ./case\n  azir --json nsg history nsg-web --case ./case\n\nChanges are Activity Log writes and deletes of the NSG and its security rules (the rule JSON from properties.responseBody or requestbody); failed ones are listed and not applied.\n`azir nsg verify --at TIME` evaluates the rules in force at TIME, rebuilt from these changes and the configuration snapshots."
    )]
    History(HistoryArgs),
    /// Cross-check flow logs: for every NSG/VNet flow-log tuple, the rule the log names vs the rule offline evaluation picks at that time.
    #[command(
        after_help = "Examples:\n  azir nsg crosscheck --case ./case\n  azir nsg crosscheck --case ./case --since 2026-03-12 --until 2026-03-14 --limit 50\n  azir --json nsg crosscheck --case ./case > crosscheck.json\n  azir nsg crosscheck --case ./case --no-history\n\nEach tuple is evaluated in the NSG its log names (NSG flow logs: DvcId; VNet flow logs: the aclID, else the NSG of the target subnet/NIC), with the rules in force at the tuple's time (configuration snapshots and Activity Log history, as `nsg verify --at`).\nRule names are compared without UserRule_/DefaultRule_/securityRules/ prefixes, ignoring case, together with the action.\nDisagreements point at configuration or history missing from the case; each example names its evidence (path:line#tuple).\nExit code 0 whatever the outcome; 1 when the case has no network configuration."
    )]
    Crosscheck(CrosscheckArgs),
}

/// Options of `azir nsg crosscheck`.
#[derive(Args)]
pub struct CrosscheckArgs {
    /// The case directory.
    #[arg(long, short)]
    case: PathBuf,
    /// Only tuples at or after this time: ISO 8601 or relative to now (7d, 12h).
    #[arg(long)]
    since: Option<String>,
    /// Only tuples before this time (same forms as --since).
    #[arg(long)]
    until: Option<String>,
    /// Example disagreements listed (the earliest).
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Service Tags JSON as Microsoft publishes it, for tags other than VirtualNetwork, Internet and AzureLoadBalancer.
    #[arg(long)]
    service_tags: Option<PathBuf>,
    /// Ignore the Activity Log: evaluate the configuration snapshots only (shows what the NSG history explains).
    #[arg(long)]
    no_history: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

/// Options of `azir nsg history`.
#[derive(Args)]
pub struct HistoryArgs {
    /// The NSG (name or resource id).
    nsg: String,
    /// The case directory.
    #[arg(long, short)]
    case: PathBuf,
}

/// Direction of the flow relative to the NIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Dir {
    /// Towards the NIC.
    In,
    /// From the NIC.
    Out,
}

/// Options of `azir nsg verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// The case directory.
    #[arg(long, short)]
    case: PathBuf,
    /// Direction relative to the NIC.
    #[arg(long, value_enum)]
    direction: Dir,
    /// Protocol: tcp, udp, icmp or * (a `*` flow matches only rules for any protocol).
    #[arg(long, default_value = "tcp")]
    proto: String,
    /// Source: IP or IP:PORT ([IPv6]:PORT); without a port only rules for any source port match.
    #[arg(long)]
    src: String,
    /// Destination: IP:PORT ([IPv6]:PORT); the port may be left out for ICMP.
    #[arg(long)]
    dst: String,
    /// The NIC (name or resource id).
    #[arg(long, conflicts_with = "vm")]
    nic: Option<String>,
    /// The VM (name or resource id): its NIC holding the local address.
    #[arg(long)]
    vm: Option<String>,
    /// Evaluate the configuration in force at this time (ISO 8601, or relative: 7d, 12h); default the latest.
    #[arg(long)]
    at: Option<String>,
    /// List every rule of the direction with its per-field match (protocol, source, source port, destination, destination port).
    #[arg(long)]
    explain: bool,
    /// Service Tags JSON as Microsoft publishes it (ServiceTags_Public_*.json), for tags other than VirtualNetwork, Internet and AzureLoadBalancer.
    #[arg(long)]
    service_tags: Option<PathBuf>,
}

/// Runs an `azir nsg` subcommand.
pub fn run(cmd: &NsgCmd, json: bool) -> Result<i32> {
    match cmd {
        NsgCmd::Verify(a) => verify(a, json),
        NsgCmd::History(a) => history(a, json),
        NsgCmd::Crosscheck(a) => crosscheck(a, json),
    }
}

/// Every `resources` row of the case.
pub(crate) fn load_resources(case: &Case) -> Result<Vec<Resource>> {
    Ok(azir_store::read::resources(case)?)
}

/// The case's network configuration in force at `at` (ISO 8601 or relative; the latest snapshots
/// when `None`), for `nsg verify`, `topology`, `exposure` and `routes`. With `history`, the NSG
/// rules of `--at` are rebuilt from the Activity Log around the snapshots. `missing` is the error
/// when the case holds no configuration (each command names what it needs ingested).
pub(crate) fn config_at(
    case_dir: &std::path::Path,
    at: Option<&str>,
    history: bool,
    missing: &str,
) -> Result<(NetworkConfig, Option<i64>)> {
    let now = chrono::Utc::now().timestamp_micros();
    let at = at.map(|s| parse_when(s, now)).transpose()?;
    let (case, _) = crate::location::open(case_dir, false)?;
    let resources = load_resources(&case)?;
    if resources.is_empty() {
        bail!("{missing}");
    }
    let mut config = NetworkConfig::from_resources(&resources, at);
    if let (true, Some(at)) = (history, at) {
        History::new(&resources, &load_nsg_events(&case)?).apply(&mut config, at);
    }
    Ok((config, at))
}

/// The Activity Log events of NSG and security rule writes and deletes.
pub(crate) fn load_nsg_events(case: &Case) -> Result<Vec<Event>> {
    let cols = [
        "TimeGenerated",
        "source",
        "Operation",
        "TargetResourceId",
        "ActorUsername",
        "SrcIpAddr",
        "EventResultDetails",
        "CorrelationId",
        "raw",
        "evidence_path",
        "evidence_line",
        "evidence_offset",
    ];
    let mut out = Vec::new();
    scan(case, Table::Events, None, None, Some(&cols), &mut |b| {
        let c = Columns::new(&b);
        for row in 0..b.num_rows() {
            let op = c.str("Operation", row).unwrap_or_default().to_ascii_lowercase();
            if op.starts_with("microsoft.network/networksecuritygroups/")
                && c.str("source", row).as_deref() == Some("activity")
            {
                out.extend(events_from_batch(&b.slice(row, 1)));
            }
        }
        Ok(())
    })?;
    Ok(out)
}

fn history(a: &HistoryArgs, json: bool) -> Result<i32> {
    let (case, _) = crate::location::open(&a.case, false)?;
    let resources = load_resources(&case)?;
    let events = load_nsg_events(&case)?;
    let h = History::new(&resources, &events);
    let changes = history::with_previous(&h, &a.nsg);
    if changes.is_empty() {
        let mut known: Vec<String> = h.changes.iter().map(|c| c.nsg_name.clone()).collect();
        known.extend(resources.iter().filter(|r| r.kind.ends_with("/networkSecurityGroups")).map(|r| r.name.clone()));
        known.sort();
        known.dedup();
        bail!(
            "no Activity Log change of NSG {:?} in the case; NSGs with configuration or changes: {}",
            a.nsg,
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        );
    }
    let mut out = std::io::stdout().lock();
    if json {
        let rows: Vec<Value> = changes
            .iter()
            .map(|(c, prev)| {
                let mut v = serde_json::to_value(c).unwrap_or_default();
                if c.rule.is_some() && c.kind == ChangeKind::RuleWrite {
                    v["diff"] = history::diff(prev.as_ref(), c.body.as_ref()).into();
                }
                v
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
        return Ok(0);
    }
    let t = terminal_safe;
    for (c, prev) in &changes {
        let what = match (&c.kind, &c.rule) {
            (ChangeKind::RuleWrite, Some(r)) => format!("rule {r} {}", if c.created { "created" } else { "written" }),
            (ChangeKind::RuleDelete, Some(r)) => format!("rule {r} deleted"),
            (ChangeKind::NsgWrite, _) => {
                format!("NSG {} {}", c.nsg_name, if c.created { "created" } else { "written" })
            }
            (ChangeKind::NsgDelete, _) => format!("NSG {} deleted", c.nsg_name),
            _ => "change".to_string(),
        };
        let outcome = match c.outcome {
            history::Outcome::Succeeded => "",
            history::Outcome::Failed => "  [FAILED: not applied]",
            history::Outcome::Unknown => "  [outcome not logged]",
        };
        writeln!(
            out,
            "{}  {}  by {} from {}{outcome}",
            c.time_utc,
            t(&what),
            t(c.caller.as_deref().unwrap_or("?")),
            t(c.caller_ip.as_deref().unwrap_or("?"))
        )?;
        if c.kind == ChangeKind::RuleWrite {
            if c.body.is_none() {
                writeln!(out, "    (the rule's JSON is not in the log)")?;
            }
            for d in history::diff(prev.as_ref(), c.body.as_ref()) {
                writeln!(out, "    {}", t(&d))?;
            }
        }
        writeln!(out, "    evidence: {}", t(&c.evidence.join(", ")))?;
    }
    Ok(0)
}

fn read_tags(path: Option<&PathBuf>) -> Result<ServiceTags> {
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            ServiceTags::parse(&text).map_err(|e| anyhow::anyhow!("--service-tags {}: {e}", p.display()))
        }
        None => Ok(ServiceTags::default()),
    }
}

fn crosscheck(a: &CrosscheckArgs, json: bool) -> Result<i32> {
    let tags = read_tags(a.service_tags.as_ref())?;
    let now = chrono::Utc::now().timestamp_micros();
    let window = Window {
        since: a.since.as_deref().map(|s| parse_when(s, now)).transpose()?,
        until: a.until.as_deref().map(|s| parse_when(s, now)).transpose()?,
    };
    let (case, _) = crate::location::open(&a.case, false)?;
    let resources = load_resources(&case)?;
    if resources.is_empty() {
        bail!(
            "the case holds no network configuration: ingest the ARM JSON of NSGs, NICs and VNets before cross-checking flow logs"
        );
    }
    let history = if a.no_history { History::default() } else { History::new(&resources, &load_nsg_events(&case)?) };
    let model = Model::build(&resources, &history, &tags);
    let from_day = window.since.map(azir_model::day_of);
    let to_day = window.until.map(azir_model::day_of);
    let threads = a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let make = || Crosscheck::new(&model, a.limit);
    let fold = |c: &mut Crosscheck, b: &arrow_array::RecordBatch| c.add(b, window);
    let scan = azir_store::flowscan::ScanOptions {
        columns: Some(&crosscheck::COLUMNS),
        dictionary: &crosscheck::DICTIONARY,
        batch_rows: None,
    };
    let parts = azir_store::flowscan::par_scan_with(
        &case,
        Table::Network,
        (from_day.as_deref(), to_day.as_deref()),
        scan,
        threads,
        &make,
        &fold,
    )
    .with_context(|| format!("reading the network table of {}", a.case.display()))?;
    let mut parts = parts.into_iter();
    let mut acc = parts.next().unwrap_or_else(make);
    for p in parts {
        acc.merge(p);
    }
    let report = acc.finish();
    let mut out = std::io::stdout().lock();
    if json {
        let mut v = serde_json::to_value(&report)?;
        v["versions"] = model.versions().into();
        v["nsgs"] = model.nsgs().into();
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(0);
    }
    print_crosscheck(&mut out, &report, &model)?;
    Ok(0)
}

fn print_crosscheck(out: &mut impl Write, r: &crosscheck::Report, model: &Model) -> Result<()> {
    let t = terminal_safe;
    let pct = |n: u64| if r.tuples == 0 { 0.0 } else { 100.0 * n as f64 / r.tuples as f64 };
    writeln!(
        out,
        "tuples:         {} NSG/VNet flow-log tuples; {} NSGs in {} configuration versions",
        r.tuples,
        model.nsgs(),
        model.versions()
    )?;
    writeln!(out, "agree:          {} ({:.1}%)", r.agree, pct(r.agree))?;
    writeln!(out, "disagree:       {} ({:.1}%)", r.disagree, pct(r.disagree))?;
    writeln!(out, "not evaluable:  {} ({:.1}%)", r.not_evaluable, pct(r.not_evaluable))?;
    writeln!(out)?;
    let rows: Vec<[String; 4]> = r
        .counts
        .iter()
        .map(|c| {
            let outcome = match c.outcome {
                crosscheck::Outcome::Agree => "agree",
                crosscheck::Outcome::Disagree => "DISAGREE",
                crosscheck::Outcome::NotEvaluable => "not evaluable",
            };
            [t(&c.nsg), outcome.to_string(), c.reason.text().to_string(), c.tuples.to_string()]
        })
        .collect();
    table(out, &["NSG", "OUTCOME", "REASON", "TUPLES"], &rows, "")?;
    if !r.examples.is_empty() {
        writeln!(out, "\ndisagreements (earliest {}):", r.examples.len())?;
        let rows: Vec<[String; 7]> = r
            .examples
            .iter()
            .map(|e| {
                [
                    e.time.clone(),
                    t(&e.nsg),
                    format!("{:?} {} {} -> {}", e.direction, t(&e.protocol), e.source, e.destination),
                    format!("{} ({})", t(&e.logged_rule), t(&e.logged_action)),
                    format!("{} ({}, {})", t(&e.evaluated_rule), e.evaluated_priority, e.evaluated_action),
                    e.reason.text().to_string(),
                    t(&e.evidence.to_string()),
                ]
            })
            .collect();
        table(out, &["TIME", "NSG", "FLOW", "LOGGED", "EVALUATED", "REASON", "EVIDENCE"], &rows, "  ")?;
    }
    Ok(())
}

fn verify(a: &VerifyArgs, json: bool) -> Result<i32> {
    let protocol =
        Protocol::parse(&a.proto).with_context(|| format!("--proto {:?}: expected tcp, udp, icmp or *", a.proto))?;
    let (src, src_port) = nsg::parse_endpoint(&a.src).map_err(|e| anyhow::anyhow!("--src {e}"))?;
    let (dst, dst_port) = nsg::parse_endpoint(&a.dst).map_err(|e| anyhow::anyhow!("--dst {e}"))?;
    if src.is_ipv4() != dst.is_ipv4() {
        bail!("--src {src} and --dst {dst} are not of the same IP version");
    }
    let direction = match a.direction {
        Dir::In => TrafficDirection::Inbound,
        Dir::Out => TrafficDirection::Outbound,
    };
    let q = Query { direction, protocol, src, src_port, dst, dst_port };
    let tags = match &a.service_tags {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            ServiceTags::parse(&text).map_err(|e| anyhow::anyhow!("--service-tags {}: {e}", p.display()))?
        }
        None => ServiceTags::default(),
    };
    // With --at, the rules in force then, rebuilt from the Activity Log around the snapshots.
    let (config, at) = config_at(
        &a.case,
        a.at.as_deref(),
        true,
        "the case holds no network configuration: ingest the ARM JSON of NSGs, NICs and VNets (az network nsg list, az network nic list, az network vnet list, or ARM REST/Resource Graph output)",
    )?;
    let target = match (&a.nic, &a.vm) {
        (Some(n), _) => Target::Nic(n.clone()),
        (None, Some(v)) => Target::Vm(v.clone()),
        (None, None) => Target::Auto,
    };
    let verdict = nsg::verify(&config, &q, &target, &tags, a.explain)?;
    let mut out = std::io::stdout().lock();
    if json {
        let mut v = serde_json::to_value(&verdict)?;
        v["at"] = at.map(format_micros).into();
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
    } else {
        print_verdict(&mut out, &verdict, at, a.explain)?;
    }
    Ok(0)
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn print_verdict(out: &mut impl Write, v: &Verdict, at: Option<i64>, explain: bool) -> Result<()> {
    let t = terminal_safe;
    writeln!(
        out,
        "flow:     {:?} {} {}:{} -> {}:{}",
        v.direction, v.protocol, v.source, v.source_port, v.destination, v.destination_port
    )?;
    writeln!(out, "nic:      {} ({})", t(&v.nic_name), t(&v.nic_id))?;
    writeln!(
        out,
        "config:   {}",
        at.map_or_else(|| "latest snapshot".to_string(), |t| format!("as of {}", format_micros(t)))
    )?;
    writeln!(out)?;
    let rows: Vec<[String; 6]> = v
        .evaluated_network_security_groups
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let place = format!("{} {}", e.applied_to_kind, e.applied_to.rsplit('/').next().unwrap_or_default());
            let (rule, prio) = match &e.matched_rule {
                Some(r) => (r.rule_name.clone(), r.priority.to_string()),
                None if e.network_security_group_id.is_some() => ("(NSG not in the case)".into(), String::new()),
                None => ("(no NSG: allowed)".into(), String::new()),
            };
            let nsg = e
                .network_security_group_name
                .clone()
                .or_else(|| {
                    e.network_security_group_id.as_deref().and_then(|i| i.rsplit('/').next()).map(str::to_string)
                })
                .unwrap_or_else(|| "-".into());
            [(i + 1).to_string(), t(&place), t(&nsg), t(&rule), prio, e.access.to_string()]
        })
        .collect();
    table(out, &["#", "APPLIED TO", "NSG", "MATCHED RULE", "PRIORITY", "ACCESS"], &rows, "")?;
    if explain {
        for e in &v.evaluated_network_security_groups {
            if e.rules_evaluation_result.is_empty() {
                continue;
            }
            writeln!(
                out,
                "\n{} on {} {}{}:",
                t(e.network_security_group_name.as_deref().unwrap_or("-")),
                e.applied_to_kind,
                t(e.applied_to.rsplit('/').next().unwrap_or_default()),
                e.snapshot_time.as_deref().map(|s| format!(" (snapshot {s})")).unwrap_or_default()
            )?;
            let rows: Vec<[String; 9]> = e
                .rules_evaluation_result
                .iter()
                .map(|r| {
                    let decided = e.matched_rule.as_ref().is_some_and(|m| m.rule_name == r.rule_name);
                    [
                        r.priority.to_string(),
                        t(&r.rule_name),
                        r.action.to_string(),
                        yes(r.fields.protocol_matched).into(),
                        yes(r.fields.source_matched).into(),
                        yes(r.fields.source_port_matched).into(),
                        yes(r.fields.destination_matched).into(),
                        yes(r.fields.destination_port_matched).into(),
                        if decided {
                            "<= decides".into()
                        } else if r.matched {
                            "matches (later)".into()
                        } else {
                            String::new()
                        },
                    ]
                })
                .collect();
            table(
                out,
                &["PRIORITY", "RULE", "ACTION", "PROTOCOL", "SOURCE", "SRC PORT", "DESTINATION", "DST PORT", ""],
                &rows,
                "  ",
            )?;
        }
    }
    writeln!(out)?;
    writeln!(out, "verdict:  {}", if v.access == azir_net::nsg::Access::Allow { "ALLOW" } else { "DENY" })?;
    if !v.notes.is_empty() {
        writeln!(out, "\nnotes:")?;
        for n in &v.notes {
            writeln!(out, "  ! {}", t(n))?;
        }
    }
    Ok(())
}

fn table<const N: usize>(out: &mut impl Write, head: &[&str; N], rows: &[[String; N]], indent: &str) -> Result<()> {
    let mut w: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::from(indent);
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == N {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}  ", width = w[i]));
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(head.to_vec()))?;
    for r in rows {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}
