//! `azir flows`: flow analytics over the case's `network` table (top talkers, directions,
//! ports, denied, scans, beacons, exfil, first-seen external addresses, rule hits).
//!
//! The work is done by `azir-net` aggregations; this module reads the table on every core
//! (`azir_store::flowscan::par_scan`, projected to the columns an analysis needs and pruned to
//! the days of `--since/--until`), merges the per-thread partials and prints the answer as an
//! aligned table (control characters replaced), CSV (formula-safe cells; one block per section,
//! a blank line between) or JSON (`--json`, with up to three evidence references per row).

use crate::timeline::{csv_safe, parse_when, terminal_safe};
use anyhow::{Context, Result};
use azir_net::beacons::{BeaconOptions, Beacons};
use azir_net::denied::Denied;
use azir_net::directions::Directions;
use azir_net::exfil::{Exfil, ExfilOptions};
use azir_net::firstseen::FirstSeen;
use azir_net::ports::Ports;
use azir_net::rules::Rules;
use azir_net::scans::{ScanOptions, Scans};
use azir_net::talkers::{Metric, Talkers};
use azir_net::{AddressSpace, Analysis, Evidence, FlowBatch, Window};
use azir_store::Table;
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Options every `azir flows` subcommand takes.
#[derive(Args, Clone)]
pub struct Common {
    /// The case directory.
    #[arg(long, short)]
    case: PathBuf,
    /// Only tuples at or after this time: ISO 8601 (`2026-03-12`, `2026-03-12T10:00Z`) or relative to now (`7d`, `12h`).
    #[arg(long)]
    since: Option<String>,
    /// Only tuples before this time (same forms as --since).
    #[arg(long)]
    until: Option<String>,
    /// Internal address space (CIDRs, comma- or space-separated). Default: the VNet address spaces of the case's network configuration (when ingested) plus RFC 1918, 100.64/10, fc00::/7 and link-local.
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    internal: Vec<String>,
    /// Write CSV instead of a table (one block per section, separated by a blank line).
    #[arg(long)]
    csv: bool,
    /// Rows per list.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

/// Ranking of `talkers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum By {
    /// Bytes both ways.
    Bytes,
    /// Packets both ways.
    Packets,
    /// Distinct flows.
    Flows,
}

/// Bucket of the exfil baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Bucket {
    /// Bytes per hour.
    Hour,
    /// Bytes per day.
    Day,
}

/// `azir flows` subcommands.
#[derive(Subcommand)]
pub enum FlowsCmd {
    /// Top pairs (initiator → responder) and top hosts by bytes, packets or flows, sent and received.
    #[command(
        after_help = "Examples:\n  azir flows talkers --case ./case\n  azir flows talkers --case ./case --by flows --since 2026-03-12 --limit 50\n  azir flows talkers --case ./case --internal 10.10.0.0/16,10.20.0.0/16 --csv > talkers.csv\n  azir --json flows talkers --case ./case --since 7d"
    )]
    Talkers {
        #[command(flatten)]
        common: Common,
        /// Ranking.
        #[arg(long, value_enum, default_value_t = By::Bytes)]
        by: By,
    },
    /// Flows, bytes and packets per direction class (inbound, outbound, internal, external), allowed vs denied.
    #[command(
        after_help = "Examples:\n  azir flows directions --case ./case\n  azir flows directions --case ./case --internal 10.10.0.0/16 --since 2026-03-12T00:00Z --until 2026-03-13T00:00Z"
    )]
    Directions {
        #[command(flatten)]
        common: Common,
    },
    /// Destination ports and protocols: allowed vs denied flows, bytes, distinct sources and targets.
    #[command(
        after_help = "Examples:\n  azir flows ports --case ./case\n  azir flows ports --case ./case --limit 100 --csv > ports.csv"
    )]
    Ports {
        #[command(flatten)]
        common: Common,
    },
    /// Who was refused, by which rule and device: flows, distinct ports and targets, first and last.
    #[command(
        after_help = "Examples:\n  azir flows denied --case ./case\n  azir --json flows denied --case ./case --since 2026-03-12 | jq '.denied[0]'"
    )]
    Denied {
        #[command(flatten)]
        common: Common,
    },
    /// Sources touching many ports of one target (vertical) or one port on many targets (horizontal).
    #[command(
        after_help = "Examples:\n  azir flows scans --case ./case\n  azir flows scans --case ./case --min-ports 5 --min-hosts 20\n  azir --json flows scans --case ./case --since 2d"
    )]
    Scans {
        #[command(flatten)]
        common: Common,
        /// Distinct ports on one target that make a vertical scan.
        #[arg(long, default_value_t = 10)]
        min_ports: u64,
        /// Distinct targets on one port that make a horizontal scan.
        #[arg(long, default_value_t = 10)]
        min_hosts: u64,
    },
    /// Periodic connections (regular interval, low jitter, regular size): interval and score.
    #[command(
        after_help = "Examples:\n  azir flows beacons --case ./case\n  azir flows beacons --case ./case --min-connections 10 --max-jitter 0.1 --min-interval 30\n\nJitter is the median absolute deviation of the intervals divided by their median."
    )]
    Beacons {
        #[command(flatten)]
        common: Common,
        /// Fewest check-ins.
        #[arg(long, default_value_t = 6)]
        min_connections: usize,
        /// Largest jitter (MAD / median interval).
        #[arg(long, default_value_t = 0.2)]
        max_jitter: f64,
        /// Shortest median interval, seconds.
        #[arg(long, default_value_t = 10.0)]
        min_interval: f64,
    },
    /// Bytes leaving the internal space per destination, host and pair; hours (or days) far above a host's own baseline.
    #[command(
        after_help = "Examples:\n  azir flows exfil --case ./case\n  azir flows exfil --case ./case --bucket day --k 3 --min-bytes 10000000\n  azir --json flows exfil --case ./case | jq '.outliers'"
    )]
    Exfil {
        #[command(flatten)]
        common: Common,
        /// Baseline bucket.
        #[arg(long, value_enum, default_value_t = Bucket::Hour)]
        bucket: Bucket,
        /// Robust standard deviations above the host's median that make an outlier.
        #[arg(long, default_value_t = 5.0)]
        k: f64,
        /// Smallest outlier bucket, bytes.
        #[arg(long, default_value_t = 50_000_000)]
        min_bytes: u64,
        /// Fewest active buckets a host needs for a baseline.
        #[arg(long, default_value_t = 3)]
        min_buckets: usize,
    },
    /// External addresses first seen after a time, with first time, tuples, bytes and the internal hosts they touched.
    #[command(
        name = "first-seen",
        after_help = "Examples:\n  azir flows first-seen --case ./case --after 2026-03-12T03:29Z\n  azir flows first-seen --case ./case --after 1d --csv > new-addresses.csv"
    )]
    FirstSeen {
        #[command(flatten)]
        common: Common,
        /// Cut-off: ISO 8601 or relative to now (`1d`).
        #[arg(long)]
        after: String,
    },
    /// Flows and bytes per NSG rule and device, allowed vs denied, and the rules that let Internet sources in.
    #[command(
        after_help = "Examples:\n  azir flows rules --case ./case\n  azir --json flows rules --case ./case | jq '.internet_allowed'"
    )]
    Rules {
        #[command(flatten)]
        common: Common,
    },
}

/// Runs an `azir flows` subcommand; `json` is the global `--json`.
pub fn run(cmd: &FlowsCmd, json: bool) -> Result<i32> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match cmd {
        FlowsCmd::Talkers { common: c, by } => {
            let by = match by {
                By::Bytes => Metric::Bytes,
                By::Packets => Metric::Packets,
                By::Flows => Metric::Flows,
            };
            let space = space(c)?;
            let r = aggregate(c, || Talkers::new(space.clone(), by, c.limit))?;
            let pairs = Section::new(
                "Top pairs (initiator → responder)",
                &[
                    "src",
                    "dst",
                    "direction",
                    "flows",
                    "bytes",
                    "bytes_sent",
                    "bytes_received",
                    "packets",
                    "first",
                    "last",
                    "evidence",
                ],
                r.pairs.iter().map(|p| {
                    vec![
                        p.src.clone(),
                        p.dst.clone(),
                        p.direction.name().into(),
                        p.flows.to_string(),
                        p.bytes.to_string(),
                        p.bytes_sent.to_string(),
                        p.bytes_received.to_string(),
                        p.packets.to_string(),
                        p.first.clone(),
                        p.last.clone(),
                        ev(&p.evidence),
                    ]
                }),
            );
            let hosts = Section::new(
                "Top hosts",
                &[
                    "host",
                    "internal",
                    "flows",
                    "peers",
                    "bytes",
                    "bytes_sent",
                    "bytes_received",
                    "packets",
                    "first",
                    "last",
                    "evidence",
                ],
                r.hosts.iter().map(|h| {
                    vec![
                        h.host.clone(),
                        h.internal.to_string(),
                        h.flows.to_string(),
                        h.peers.to_string(),
                        h.bytes.to_string(),
                        h.bytes_sent.to_string(),
                        h.bytes_received.to_string(),
                        h.packets.to_string(),
                        h.first.clone(),
                        h.last.clone(),
                        ev(&h.evidence),
                    ]
                }),
            );
            emit(&mut out, json, c, &r, &[pairs, hosts])?;
        }
        FlowsCmd::Directions { common: c } => {
            let space = space(c)?;
            let r = aggregate(c, || Directions::new(space.clone()))?;
            let s = Section::new(
                "Directions",
                &["direction", "action", "flows", "tuples", "bytes", "packets", "evidence"],
                r.iter().map(|d| {
                    vec![
                        d.direction.name().into(),
                        d.action.into(),
                        d.flows.to_string(),
                        d.tuples.to_string(),
                        d.bytes.to_string(),
                        d.packets.to_string(),
                        ev(&d.evidence),
                    ]
                }),
            );
            emit(&mut out, json, c, &serde_json::json!({ "directions": r }), &[s])?;
        }
        FlowsCmd::Ports { common: c } => {
            let r = aggregate(c, || Ports::new(c.limit))?;
            let s = Section::new(
                "Destination ports",
                &[
                    "port",
                    "protocol",
                    "allowed_flows",
                    "denied_flows",
                    "sources",
                    "targets",
                    "bytes",
                    "packets",
                    "evidence",
                ],
                r.iter().map(|p| {
                    vec![
                        p.port.map(|p| p.to_string()).unwrap_or_default(),
                        p.protocol.clone(),
                        p.allowed_flows.to_string(),
                        p.denied_flows.to_string(),
                        p.sources.to_string(),
                        p.targets.to_string(),
                        p.bytes.to_string(),
                        p.packets.to_string(),
                        ev(&p.evidence),
                    ]
                }),
            );
            emit(&mut out, json, c, &serde_json::json!({ "ports": r }), &[s])?;
        }
        FlowsCmd::Denied { common: c } => {
            let space = space(c)?;
            let r = aggregate(c, || Denied::new(space.clone(), c.limit))?;
            let s = Section::new(
                "Denied sources",
                &[
                    "src",
                    "internal",
                    "rule",
                    "device",
                    "flows",
                    "tuples",
                    "ports",
                    "targets",
                    "first",
                    "last",
                    "port_sample",
                    "evidence",
                ],
                r.iter().map(|d| {
                    vec![
                        d.src.clone(),
                        d.internal.to_string(),
                        d.rule.clone(),
                        d.device.clone(),
                        d.flows.to_string(),
                        d.tuples.to_string(),
                        d.ports.to_string(),
                        d.targets.to_string(),
                        d.first.clone(),
                        d.last.clone(),
                        d.port_sample.join(" "),
                        ev(&d.evidence),
                    ]
                }),
            );
            emit(&mut out, json, c, &serde_json::json!({ "denied": r }), &[s])?;
        }
        FlowsCmd::Scans { common: c, min_ports, min_hosts } => {
            let space = space(c)?;
            let opts = ScanOptions { min_ports: *min_ports, min_hosts: *min_hosts, limit: c.limit };
            let r = aggregate(c, || Scans::new(space.clone(), opts))?;
            let s = Section::new(
                "Scans",
                &[
                    "src",
                    "internal",
                    "kind",
                    "target",
                    "distinct",
                    "flows",
                    "denied_ratio",
                    "first",
                    "last",
                    "span_secs",
                    "sample",
                    "evidence",
                ],
                r.iter().map(|x| {
                    vec![
                        x.src.clone(),
                        x.internal.to_string(),
                        format!("{:?}", x.kind).to_lowercase(),
                        x.target.clone(),
                        x.distinct.to_string(),
                        x.flows.to_string(),
                        format!("{:.2}", x.denied_ratio),
                        x.first.clone(),
                        x.last.clone(),
                        format!("{:.0}", x.span_secs),
                        x.sample.join(" "),
                        ev(&x.evidence),
                    ]
                }),
            );
            emit(&mut out, json, c, &serde_json::json!({ "scans": r }), &[s])?;
        }
        FlowsCmd::Beacons { common: c, min_connections, max_jitter, min_interval } => {
            let space = space(c)?;
            let opts = BeaconOptions {
                min_connections: *min_connections,
                max_jitter: *max_jitter,
                min_interval_secs: *min_interval,
                limit: c.limit,
            };
            let r = aggregate(c, || Beacons::new(space.clone(), opts))?;
            let s = Section::new(
                "Beacons",
                &[
                    "src",
                    "dst",
                    "port",
                    "direction",
                    "connections",
                    "interval_secs",
                    "jitter",
                    "size_median",
                    "size_jitter",
                    "score",
                    "first",
                    "last",
                    "evidence",
                ],
                r.iter().map(|b| {
                    vec![
                        b.src.clone(),
                        b.dst.clone(),
                        b.port.clone(),
                        b.direction.name().into(),
                        b.connections.to_string(),
                        format!("{:.1}", b.interval_secs),
                        format!("{:.3}", b.jitter),
                        format!("{:.0}", b.size_median),
                        format!("{:.3}", b.size_jitter),
                        format!("{:.3}", b.score),
                        b.first.clone(),
                        b.last.clone(),
                        ev(&b.evidence),
                    ]
                }),
            );
            emit(&mut out, json, c, &serde_json::json!({ "beacons": r }), &[s])?;
        }
        FlowsCmd::Exfil { common: c, bucket, k, min_bytes, min_buckets } => {
            let space = space(c)?;
            let opts = ExfilOptions {
                bucket_secs: if *bucket == Bucket::Day { 86_400 } else { 3_600 },
                k: *k,
                min_bytes: *min_bytes,
                min_buckets: *min_buckets,
                limit: c.limit,
            };
            let r = aggregate(c, || Exfil::new(space.clone(), opts))?;
            let outliers = Section::new(
                "Outliers against the host's own baseline",
                &["host", "bucket", "bytes_out", "baseline_median", "threshold", "score", "evidence"],
                r.outliers.iter().map(|o| {
                    vec![
                        o.host.clone(),
                        o.bucket.clone(),
                        o.bytes_out.to_string(),
                        format!("{:.0}", o.baseline_median),
                        format!("{:.0}", o.threshold),
                        format!("{:.1}", o.score),
                        ev(&o.evidence),
                    ]
                }),
            );
            let dests = Section::new(
                "External destinations by bytes out",
                &["destination", "bytes_out", "flows", "internal_hosts", "first", "last", "evidence"],
                r.destinations.iter().map(|d| {
                    vec![
                        d.destination.clone(),
                        d.bytes_out.to_string(),
                        d.flows.to_string(),
                        d.internal_hosts.join(" "),
                        d.first.clone(),
                        d.last.clone(),
                        ev(&d.evidence),
                    ]
                }),
            );
            let hosts = Section::new(
                "Internal hosts by bytes out",
                &[
                    "host",
                    "bytes_out",
                    "flows",
                    "destinations",
                    "active_buckets",
                    "baseline_median",
                    "outliers",
                    "evidence",
                ],
                r.hosts.iter().map(|h| {
                    vec![
                        h.host.clone(),
                        h.bytes_out.to_string(),
                        h.flows.to_string(),
                        h.destinations.to_string(),
                        h.active_buckets.to_string(),
                        format!("{:.0}", h.baseline_median),
                        h.outliers.to_string(),
                        ev(&h.evidence),
                    ]
                }),
            );
            let pairs = Section::new(
                "Top outbound pairs",
                &["host", "destination", "bytes_out", "flows", "first", "last", "evidence"],
                r.pairs.iter().map(|p| {
                    vec![
                        p.host.clone(),
                        p.destination.clone(),
                        p.bytes_out.to_string(),
                        p.flows.to_string(),
                        p.first.clone(),
                        p.last.clone(),
                        ev(&p.evidence),
                    ]
                }),
            );
            emit(&mut out, json, c, &r, &[outliers, dests, hosts, pairs])?;
        }
        FlowsCmd::FirstSeen { common: c, after } => {
            let now = chrono::Utc::now().timestamp_micros();
            let after = parse_when(after, now)?;
            let space = space(c)?;
            let r = aggregate(c, || FirstSeen::new(space.clone(), after, c.limit))?;
            let s = Section::new(
                &format!("External addresses first seen at or after {}", azir_model::format_micros(after)),
                &["address", "first", "last", "tuples", "bytes", "internal_hosts", "evidence"],
                r.iter().map(|f| {
                    vec![
                        f.address.clone(),
                        f.first.clone(),
                        f.last.clone(),
                        f.tuples.to_string(),
                        f.bytes.to_string(),
                        f.internal_hosts.join(" "),
                        ev(&f.evidence),
                    ]
                }),
            );
            emit(&mut out, json, c, &serde_json::json!({ "first_seen": r }), &[s])?;
        }
        FlowsCmd::Rules { common: c } => {
            let space = space(c)?;
            let r = aggregate(c, || Rules::new(space.clone(), c.limit))?;
            let row = |x: &azir_net::rules::RuleRow| {
                vec![
                    x.rule.clone(),
                    x.device.clone(),
                    x.action.into(),
                    x.flows.to_string(),
                    x.external_flows.to_string(),
                    x.bytes.to_string(),
                    x.first.clone(),
                    x.last.clone(),
                    ev(&x.evidence),
                ]
            };
            let headers = ["rule", "device", "action", "flows", "external_flows", "bytes", "first", "last", "evidence"];
            let rules = Section::new("Rule hits", &headers, r.rules.iter().map(row));
            let open = Section::new(
                "Allow rules that let external (Internet) sources in",
                &headers,
                r.internet_allowed.iter().map(row),
            );
            emit(&mut out, json, c, &r, &[rules, open])?;
        }
    }
    out.flush()?;
    Ok(0)
}

/// The internal space: `--internal` when given; else the address spaces of the VNets in the
/// case's network configuration (the `resources` table) together with the default private
/// ranges (VNets may use public ranges; on-premises and peered networks behind them are usually
/// private); else the defaults alone.
fn space(c: &Common) -> Result<AddressSpace> {
    let cidrs: Vec<&str> = c.internal.iter().flat_map(|s| s.split_whitespace()).filter(|s| !s.is_empty()).collect();
    if !cidrs.is_empty() {
        return AddressSpace::parse(cidrs).map_err(|e| anyhow::anyhow!("--internal: {e}"));
    }
    let vnets = vnet_prefixes(&c.case)?;
    if vnets.is_empty() {
        return Ok(AddressSpace::default());
    }
    let all: Vec<String> = azir_net::space::DEFAULT_INTERNAL.iter().map(|s| s.to_string()).chain(vnets).collect();
    AddressSpace::parse(all).map_err(|e| anyhow::anyhow!("VNet address space in the case's configuration: {e}"))
}

/// `properties.addressSpace.addressPrefixes` of every VNet in the case's `resources` table.
fn vnet_prefixes(case_dir: &std::path::Path) -> Result<Vec<String>> {
    let (case, _) = crate::location::open(case_dir, true)?;
    let mut out = std::collections::BTreeSet::new();
    azir_store::read::scan(&case, azir_store::schema::Table::Resources, None, None, None, &mut |b| {
        for r in azir_store::schema::resources_from_batch(&b) {
            if !r.kind.eq_ignore_ascii_case("Microsoft.Network/virtualNetworks") {
                continue;
            }
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&r.json) else { continue };
            let prefixes = v.pointer("/properties/addressSpace/addressPrefixes").and_then(|p| p.as_array());
            for p in prefixes.into_iter().flatten().filter_map(|p| p.as_str()) {
                // Only well-formed prefixes: the configuration is evidence, not trusted input.
                if AddressSpace::parse([p]).is_ok() {
                    out.insert(p.to_string());
                }
            }
        }
        Ok(())
    })?;
    Ok(out.into_iter().collect())
}

/// Reads the `network` table on every core into one aggregation per worker, merges, finishes.
fn aggregate<A: Analysis>(c: &Common, make: impl Fn() -> A + Sync) -> Result<A::Report> {
    let (case, _) = crate::location::open(&c.case, false)?;
    let now = chrono::Utc::now().timestamp_micros();
    let window = Window {
        since: c.since.as_deref().map(|s| parse_when(s, now)).transpose()?,
        until: c.until.as_deref().map(|s| parse_when(s, now)).transpose()?,
    };
    let from_day = window.since.map(azir_model::day_of);
    let to_day = window.until.map(azir_model::day_of);
    let columns = make().columns();
    let threads = c.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let fold = |a: &mut A, b: &arrow_array::RecordBatch| -> Result<(), String> {
        a.add(&FlowBatch::new(b, window)?);
        Ok(())
    };
    let parts = azir_store::flowscan::par_scan(
        &case,
        Table::Network,
        (from_day.as_deref(), to_day.as_deref()),
        Some(&columns),
        threads,
        &make,
        &fold,
    )
    .with_context(|| format!("reading the network table of {}", c.case.display()))?;
    let mut parts = parts.into_iter();
    let mut acc = parts.next().unwrap_or_else(&make);
    for p in parts {
        acc.merge(p);
    }
    Ok(acc.finish())
}

/// A titled table of string cells.
struct Section {
    title: String,
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Section {
    fn new(title: &str, headers: &[&'static str], rows: impl Iterator<Item = Vec<String>>) -> Section {
        Section { title: title.to_string(), headers: headers.to_vec(), rows: rows.collect() }
    }
}

/// The first evidence reference as `path:line#tuple`.
fn ev(e: &[Evidence]) -> String {
    e.first().map(|e| e.to_string()).unwrap_or_default()
}

fn emit(out: &mut dyn Write, json: bool, c: &Common, report: &impl Serialize, sections: &[Section]) -> Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, report)?;
        writeln!(out)?;
    } else if c.csv {
        for (i, s) in sections.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            let mut w = csv::Writer::from_writer(&mut *out);
            w.write_record(&s.headers)?;
            for r in &s.rows {
                w.write_record(r.iter().map(|c| csv_safe(c)))?;
            }
            w.flush()?;
        }
    } else {
        for (i, s) in sections.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            write_table(out, s)?;
        }
    }
    Ok(())
}

/// Longest cell printed in a table; longer ones keep their end (paths and resource ids say the
/// most there) behind an ellipsis.
const MAX_CELL: usize = 48;

fn fit(s: &str) -> String {
    let s = terminal_safe(s);
    let n = s.chars().count();
    if n <= MAX_CELL {
        s
    } else {
        let tail: String = s.chars().skip(n - (MAX_CELL - 1)).collect();
        format!("…{tail}")
    }
}

fn write_table(out: &mut dyn Write, s: &Section) -> Result<()> {
    writeln!(out, "{} ({} rows)", s.title, s.rows.len())?;
    if s.rows.is_empty() {
        return Ok(());
    }
    let cells: Vec<Vec<String>> = s.rows.iter().map(|r| r.iter().map(|c| fit(c)).collect()).collect();
    let mut width: Vec<usize> = s.headers.iter().map(|h| h.chars().count()).collect();
    for r in &cells {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        let parts: Vec<String> = cells.zip(&width).map(|(c, w)| format!("{c:<w$}")).collect();
        parts.join("  ").trim_end().to_string()
    };
    writeln!(out, "{}", line(&mut s.headers.iter().copied()))?;
    for r in &cells {
        writeln!(out, "{}", line(&mut r.iter().map(String::as_str)))?;
    }
    Ok(())
}
