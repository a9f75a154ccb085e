//! `azir topology` and `azir exposure`: the network drawn from the case's configuration, and
//! what is reachable from the Internet.
//!
//! Both read every `resources` row, keep per resource the snapshot in force at `--at` (the
//! latest when not given) through `azir_net::nsg::NetworkConfig`, and with `--at` rebuild the
//! NSG rules in force then from the Activity Log (as `nsg verify --at` does). `topology` renders
//! `azir_net::topology` as DOT, Mermaid, SVG or JSON to stdout or `--out` (the notes — snapshots
//! later than `--at`, unreadable resources — on stderr, or in the JSON); `exposure` prints
//! `azir_net::exposure::analyze`: one row per exposed NIC, entry, protocol and allowed sources,
//! then the entries every NSG blocks, then the notes. Exit code 0 with or without exposure; 1
//! when the case holds no network configuration.

use crate::nsg::config_at;
use crate::timeline::terminal_safe;
use anyhow::{bail, Context, Result};
use azir_model::format_micros;
use azir_net::exposure::{self, Exposure, Options};
use azir_net::topology::{self, Topology};
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

/// Examples shown by `azir topology --help`.
pub const TOPOLOGY_HELP: &str = "Examples:\n  azir topology --case ./case                                  # Graphviz DOT on stdout\n  azir topology --case ./case --format svg --out net.svg       # laid out by azir, no Graphviz needed\n  azir topology --case ./case --format dot | dot -Tpng -o net.png\n  azir topology --case ./case --format mermaid --at 2026-03-12T04:00Z\n  azir --json topology --case ./case > topology.json\n\nDraws subscriptions, VNets (address spaces), subnets (prefixes, NSG, route table), NICs (private and public IPs, NSG, ASGs, IP forwarding), VMs, peerings (state), public IPs and what they front, load balancers, application gateways, Bastion hosts and firewalls.\nNeeds the network configuration in the case: ingest az network vnet/nic/nsg/public-ip/lb/application-gateway/bastion/firewall list output (or ARM REST / Resource Graph JSON).";
/// Examples shown by `azir exposure --help`.
pub const EXPOSURE_HELP: &str = "Examples:\n  azir exposure --case ./case\n  azir exposure --case ./case --at 2026-03-12T04:00Z          # the rules in force then, rebuilt from the Activity Log\n  azir exposure --case ./case --service-tags ServiceTags_Public.json\n  azir --json exposure --case ./case > exposure.json\n\nEntry points: a public IP on the NIC, load balancer rules and inbound NAT rules, application gateway listeners, Bastion (22/3389 with an Entra ID sign-in), Azure Firewall classic DNAT rules.\nEach row: VM, NIC, private IP, entry and public address:port, protocol, port(s) on the NIC, who it is open to (any Internet address, or the prefixes/tags the rules name), and the deciding rule of each NSG on the path (subnet, then NIC).\nEvery port range an inbound rule names is tested, and 22, 80, 443, 3389, 5985, 5986 always; entries whose every port is denied are listed as blocked with the deny rules.";

/// Output format of `azir topology`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Graphviz DOT.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
    /// SVG laid out by azir (safe to embed in an HTML report).
    Svg,
    /// The topology model as JSON.
    Json,
}

/// Options of `azir topology`.
#[derive(Args)]
pub struct TopologyArgs {
    /// The case directory.
    #[arg(long, short)]
    case: PathBuf,
    /// Output format (the global --json is --format json).
    #[arg(long, value_enum, default_value = "dot")]
    format: Format,
    /// Draw the configuration in force at this time (ISO 8601, or relative: 7d, 12h); default the latest.
    #[arg(long)]
    at: Option<String>,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// Options of `azir exposure`.
#[derive(Args)]
pub struct ExposureArgs {
    /// The case directory.
    #[arg(long, short)]
    case: PathBuf,
    /// Evaluate the configuration in force at this time (ISO 8601, or relative: 7d, 12h); default the latest.
    #[arg(long)]
    at: Option<String>,
    /// Service Tags JSON as Microsoft publishes it (ServiceTags_Public_*.json), for rules naming tags other than VirtualNetwork, Internet and AzureLoadBalancer.
    #[arg(long)]
    service_tags: Option<PathBuf>,
}

const NO_CONFIG: &str = "the case holds no network configuration: ingest the ARM JSON of VNets, NICs, NSGs, public IPs, load balancers, application gateways, Bastion hosts and firewalls (az network vnet list, az network nic list, az network nsg list, az network public-ip list, az network lb list, az network application-gateway list, az network bastion list, az network firewall list; or ARM REST / Resource Graph output), then rerun";

/// Runs `azir topology`.
pub fn run_topology(a: &TopologyArgs, json: bool) -> Result<i32> {
    let (config, at) = config_at(&a.case, a.at.as_deref(), true, NO_CONFIG)?;
    let t = Topology::build(&config);
    if t.is_empty() {
        bail!("{NO_CONFIG}");
    }
    let format = if json { Format::Json } else { a.format };
    let text = match format {
        Format::Dot => topology::to_dot(&t),
        Format::Mermaid => topology::to_mermaid(&t),
        Format::Svg => topology::to_svg(&t),
        Format::Json => {
            let mut v = serde_json::to_value(&t)?;
            v["at"] = at.map(format_micros).into();
            let mut s = serde_json::to_string_pretty(&v)?;
            s.push('\n');
            s
        }
    };
    if format != Format::Json {
        // The drawing cannot hold them: what it rests on goes to stderr.
        for n in &t.notes {
            eprintln!("note: {}", terminal_safe(n));
        }
    }
    match &a.out {
        Some(p) => {
            std::fs::write(p, text.as_bytes()).with_context(|| format!("writing {}", p.display()))?;
            if !json {
                eprintln!("topology written to {}", p.display());
            }
        }
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(0)
}

/// Runs `azir exposure`.
pub fn run_exposure(a: &ExposureArgs, json: bool) -> Result<i32> {
    let opts = match &a.service_tags {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Options::from_service_tags(&text).map_err(|e| anyhow::anyhow!("--service-tags {}: {e}", p.display()))?
        }
        None => Options::default(),
    };
    let (config, at) = config_at(&a.case, a.at.as_deref(), true, NO_CONFIG)?;
    if config.nics.is_empty() {
        bail!(
            "the case's network configuration holds no NIC, so nothing can be reached: ingest az network nic list (and az network vnet list, nsg list, public-ip list, lb list, application-gateway list, bastion list) output, or ARM REST / Resource Graph JSON, then rerun"
        );
    }
    let x = exposure::analyze(&config, &opts);
    let mut out = std::io::stdout().lock();
    if json {
        let mut v = serde_json::to_value(&x)?;
        v["at"] = at.map(format_micros).into();
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
    } else {
        print_exposure(&mut out, &x, at)?;
    }
    Ok(0)
}

fn print_exposure(out: &mut impl Write, x: &Exposure, at: Option<i64>) -> Result<()> {
    let t = terminal_safe;
    writeln!(
        out,
        "config: {}\n",
        at.map_or_else(|| "latest snapshot".to_string(), |t| format!("as of {}", format_micros(t)))
    )?;
    if x.rows.is_empty() {
        writeln!(out, "Nothing is reachable from the Internet through the entry points in the case.")?;
    } else {
        writeln!(out, "EXPOSED ({} rows)", x.rows.len())?;
        for r in &x.rows {
            let notable = if r.notable_ports.is_empty() || !r.ports.contains(['-', '*']) {
                String::new()
            } else {
                format!(" (incl. {})", r.notable_ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "))
            };
            writeln!(
                out,
                "  {} {} {}  {} {}{notable}  via {}  from {}",
                t(r.vm.as_deref().unwrap_or("-")),
                t(&r.nic),
                r.private_ip,
                r.protocol,
                t(&r.ports),
                r.via,
                t(&r.allowed_from)
            )?;
            writeln!(out, "      entry: {}", t(&r.entry))?;
            for rule in &r.rules {
                writeln!(out, "      rule:  {}", t(rule))?;
            }
        }
    }
    if !x.blocked.is_empty() {
        writeln!(out, "\nBLOCKED ({} entry points lead nowhere)", x.blocked.len())?;
        for b in &x.blocked {
            writeln!(
                out,
                "  {} {} {}  {} {}  via {}  {}",
                t(b.vm.as_deref().unwrap_or("-")),
                t(&b.nic),
                b.private_ip,
                b.protocol,
                t(&b.ports),
                b.via,
                t(&b.entry)
            )?;
            for d in &b.denied_by {
                writeln!(out, "      denied by: {}", t(d))?;
            }
        }
    }
    if !x.notes.is_empty() {
        writeln!(out, "\nnotes:")?;
        for n in &x.notes {
            writeln!(out, "  ! {}", t(n))?;
        }
    }
    Ok(())
}
