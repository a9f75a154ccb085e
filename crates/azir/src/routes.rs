//! `azir routes`: effective routes of a NIC computed offline from the case's configuration, and
//! the next hop for a destination.
//!
//! Reads every `resources` row, keeps per resource the snapshot in force at `--at` (the latest
//! when not given) through `azir_net::nsg::NetworkConfig`, finds the NIC by name or id (the
//! error lists the NICs known), and prints `azir_net::routes::effective_routes`: a table like the
//! portal's effective routes (source, state, prefixes, next hop type, next hop IP), then with
//! `--dst` the chosen route and next hop, then warnings and notes. `--json` prints the REST
//! answer's shape (`value[]` with `source`, `state`, `addressPrefix`, `nextHopType`,
//! `nextHopIpAddress`) plus `nextHop` for `--dst`, the NIC, subnet, route table, `at` and notes.
//! Exit code 0 (a dropped destination included); 1 when the case holds no configuration, the
//! NIC is unknown, or an argument or the gateway route file is unreadable.

use crate::nsg::config_at;
use crate::timeline::terminal_safe;
use anyhow::{Context, Result};
use azir_model::format_micros;
use azir_net::nsg::{find_nic, Target};
use azir_net::routes::{self, describe_hop, EffectiveRoute, GatewayRoute, NextHopType, Source, State};
use clap::Args;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

/// Examples shown by `azir routes --help`.
pub const HELP: &str = "Examples:\n  azir routes --case ./case --nic vm-web-01-nic\n  azir routes --case ./case --nic vm-web-01-nic --dst 8.8.8.8                 # which route, which next hop\n  azir routes --case ./case --nic vm-dev-01-nic --dst 10.21.0.4 --at 2026-03-12T04:00Z\n  azir routes --case ./case --nic vm-web-01-nic --gateway-routes learned.json  # [{\"addressPrefix\":\"192.168.0.0/16\",\"nextHopIpAddress\":\"10.10.255.4\"}]\n  azir --json routes --case ./case --nic vm-web-01-nic --dst 10.10.3.4\n\nSystem routes (VNet address spaces, 0.0.0.0/0 Internet, the None ranges 10/8, 100.64/10, 172.16/12, 192.168/16 unless the VNet space covers them, connected peerings, service endpoints without their prefixes), gateway routes from --gateway-routes (unless the route table disables BGP propagation) and the subnet's user routes.\nOn one prefix User > VirtualNetworkGateway > Default, the others Invalid; a destination takes the active route with the longest prefix. Next hop None = dropped.\nNeeds the network configuration in the case: az network vnet list, az network nic list, az network route-table list (or ARM REST / Resource Graph JSON).";

/// Options of `azir routes`.
#[derive(Args)]
pub struct RoutesArgs {
    /// The case directory.
    #[arg(long, short)]
    case: PathBuf,
    /// The NIC (name or resource id).
    #[arg(long)]
    nic: String,
    /// A destination IP: print the route chosen for it and its next hop.
    #[arg(long)]
    dst: Option<String>,
    /// Use the configuration in force at this time (ISO 8601, or relative: 7d, 12h); default the latest.
    #[arg(long)]
    at: Option<String>,
    /// Routes the virtual network gateway propagates: JSON list of {addressPrefix, nextHopIpAddress}.
    #[arg(long)]
    gateway_routes: Option<PathBuf>,
}

const NO_CONFIG: &str = "the case holds no network configuration: ingest the ARM JSON of VNets, NICs and route tables (az network vnet list, az network nic list, az network route-table list; or ARM REST / Resource Graph output), then rerun";

/// Runs `azir routes`.
pub fn run(a: &RoutesArgs, json: bool) -> Result<i32> {
    let dst: Option<IpAddr> = a
        .dst
        .as_deref()
        .map(|d| d.trim().parse().map_err(|_| anyhow::anyhow!("--dst {d:?} is not an IP address")))
        .transpose()?;
    let gateway: Vec<GatewayRoute> = match &a.gateway_routes {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            routes::parse_gateway_routes(&text).map_err(|e| anyhow::anyhow!("--gateway-routes {}: {e}", p.display()))?
        }
        None => Vec::new(),
    };
    // Routes do not depend on NSG rules, so the Activity Log history of NSGs is not needed.
    let (config, at) = config_at(&a.case, a.at.as_deref(), false, NO_CONFIG)?;
    let nic = find_nic(&config, &Target::Nic(a.nic.clone()), IpAddr::V4(Ipv4Addr::UNSPECIFIED))?;
    let mut result = routes::effective_routes(&config, nic, &gateway);
    result.notes.splice(0..0, config.notes.iter().cloned());
    let chosen = dst.map(|d| (d, routes::next_hop(&result.value, d)));

    let mut out = std::io::stdout().lock();
    if json {
        let mut v = serde_json::to_value(&result)?;
        v["at"] = at.map(format_micros).into();
        if let Some((d, r)) = &chosen {
            v["nextHop"] = serde_json::json!({
                "destination": d.to_string(),
                "route": r,
                "nextHopType": r.map_or("None", |r| r.next_hop_type.as_str()),
                "nextHopIpAddress": r.map(|r| r.next_hop_ip_address.clone()).unwrap_or_default(),
                "dropped": r.is_none_or(|r| r.next_hop_type == NextHopType::None),
            });
        }
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(0);
    }
    let t = terminal_safe;
    writeln!(out, "nic:         {} ({})", t(&result.nic_name), t(&result.nic_id))?;
    writeln!(out, "subnet:      {}", result.subnet_id.as_deref().map_or("(unknown)".into(), t))?;
    writeln!(out, "route table: {}", result.route_table_id.as_deref().map_or("(none)".into(), t))?;
    writeln!(
        out,
        "config:      {}",
        at.map_or_else(|| "latest snapshot".to_string(), |t| format!("as of {}", format_micros(t)))
    )?;
    writeln!(out)?;
    let mut rows: Vec<[String; 6]> = vec![[
        "SOURCE".into(),
        "STATE".into(),
        "ADDRESS PREFIXES".into(),
        "NEXT HOP TYPE".into(),
        "NEXT HOP IP".into(),
        "NAME".into(),
    ]];
    for r in &result.value {
        rows.push(row(r));
    }
    let widths: Vec<usize> = (0..6).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for r in &rows {
        let line: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    if let Some((d, r)) = &chosen {
        writeln!(out)?;
        match r {
            Some(r) => {
                let via = match (&r.source, &r.name) {
                    (Source::User, Some(n)) => format!("user route {} ", t(n)),
                    (Source::VirtualNetworkGateway, _) => "gateway route ".into(),
                    _ => "system route ".into(),
                };
                writeln!(out, "destination: {d}")?;
                writeln!(out, "route:       {via}{}", t(&r.address_prefix.join(", ")))?;
                writeln!(out, "next hop:    {}", t(&describe_hop(r)))?;
                if let Some(w) = &r.warning {
                    writeln!(out, "warning:     {}", t(w))?;
                }
            }
            None => {
                writeln!(out, "destination: {d}")?;
                writeln!(out, "route:       (none)")?;
                writeln!(out, "next hop:    None (dropped: no route for this address family)")?;
            }
        }
    }
    let warnings: Vec<&EffectiveRoute> = result.value.iter().filter(|r| r.warning.is_some()).collect();
    if !warnings.is_empty() || !result.notes.is_empty() {
        writeln!(out)?;
    }
    for r in warnings {
        writeln!(out, "warning: {}: {}", t(&r.label()), t(r.warning.as_deref().unwrap_or_default()))?;
    }
    for n in &result.notes {
        writeln!(out, "note: {}", t(n))?;
    }
    Ok(0)
}

/// One table row: source, state, prefixes, next hop type, next hop IP, name (or service).
fn row(r: &EffectiveRoute) -> [String; 6] {
    let source = match r.source {
        Source::Default => "Default",
        Source::User => "User",
        Source::VirtualNetworkGateway => "VirtualNetworkGateway",
        Source::Unknown => "Unknown",
    };
    let state = match r.state {
        State::Active => "Active",
        State::Invalid => "Invalid",
    };
    let prefixes = if r.address_prefix.is_empty() { "(service prefixes)".into() } else { r.address_prefix.join(", ") };
    let name = r.name.as_deref().or(r.service.as_deref()).unwrap_or("-");
    let ip = if r.next_hop_ip_address.is_empty() { "-".into() } else { r.next_hop_ip_address.join(", ") };
    [
        source.into(),
        state.into(),
        terminal_safe(&prefixes),
        r.next_hop_type.as_str().into(),
        terminal_safe(&ip),
        terminal_safe(name),
    ]
}
