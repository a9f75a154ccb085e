//! `azir report`: the incident report as one self-contained HTML file (see `azir-report`).

use crate::location;
use anyhow::{Context, Result};
use azir_net::exposure;
use azir_net::nsg::NetworkConfig;
use azir_net::topology::{self, Topology};
use azir_report::{NetworkView, Options, ReportData};
use clap::Args;
use std::path::PathBuf;

/// Examples shown by `azir report --help`.
pub const HELP: &str = "Examples:\n  azir report --case ./case -o report.html\n  azir report --case ./case -o report.html --verify-evidence\n  azir report --case az://incidents/contoso -o contoso.html\n  azir --json report --case ./case -o report.html\n\nThe report is one HTML file with everything inlined (no fonts, scripts or images from the network); it opens offline in any browser and prints.\nSections: summary, sources and coverage (gaps, quarantine), findings by severity with their events and evidence lines, attack timeline, activity charts (records per source over time, sign-in failures per IP and country, top talkers, outbound bytes, NSG changes), network topology and Internet exposure (when configuration was ingested), entity pages for the key users, IPs and apps, and the evidence appendix (files, hashes, custody chain).\nRun `azir hunt --case DIR` first: the report shows the findings stored in the case.";

/// Options of `azir report`.
#[derive(Args)]
pub struct ReportArgs {
    /// The case directory (or az:// URL).
    #[arg(long, short)]
    pub case: PathBuf,
    /// Output HTML file.
    #[arg(long, short, default_value = "report.html")]
    pub out: PathBuf,
    /// Re-hash every evidence file still at its origin (as `azir case verify`) and report changes; by default only the custody chain is checked.
    #[arg(long)]
    pub verify_evidence: bool,
    /// Events listed under each finding (the rest are counted, with the query that lists them).
    #[arg(long, default_value_t = 200)]
    pub events_per_finding: usize,
    /// Entity sections per kind (users, IPs, apps), the ones the findings name most.
    #[arg(long, default_value_t = 6)]
    pub entities: usize,
}

/// The topology and exposure drawn from the case's network configuration (latest snapshots).
pub fn network_view(d: &ReportData) -> NetworkView {
    let mut v = NetworkView::default();
    if d.network_config.is_empty() {
        return v;
    }
    let config = NetworkConfig::from_resources(&d.network_config, None);
    let topo = Topology::build(&config);
    if !topo.is_empty() {
        v.topology_svg = Some(topology::to_svg(&topo));
    }
    if config.nics.is_empty() {
        v.notes.push("The configuration holds no NIC: exposure to the Internet cannot be evaluated.".into());
        return v;
    }
    let x = exposure::analyze(&config, &exposure::Options::default());
    let cols = ["VM", "NIC", "private IP", "protocol", "ports", "via", "open to", "entry", "deciding rules"];
    let rows = x
        .rows
        .iter()
        .map(|r| {
            vec![
                r.vm.clone().unwrap_or_default(),
                r.nic.clone(),
                r.private_ip.clone(),
                r.protocol.to_string(),
                r.ports.clone(),
                r.via.to_string(),
                r.allowed_from.clone(),
                r.entry.clone(),
                r.rules.join("\n"),
            ]
        })
        .collect();
    v.exposure = Some((cols.iter().map(|c| c.to_string()).collect(), rows));
    v.notes.push(format!(
        "Exposure as of the latest configuration snapshot; {} entry point(s) lead nowhere (every tested port denied). `azir exposure --case CASE --at TIME` evaluates the rules in force at any time of the incident.",
        x.blocked.len()
    ));
    v.notes.extend(x.notes.iter().take(10).cloned());
    v
}

/// Runs `azir report`.
pub fn run(a: &ReportArgs, json: bool, quiet: bool) -> Result<i32> {
    let (case, _) = location::open(&a.case, quiet)?;
    if !quiet {
        eprintln!("building the report for case {} ...", case.info.name);
    }
    let opts = Options {
        events_per_finding: a.events_per_finding.max(1),
        entities_per_kind: a.entities,
        verify_evidence: a.verify_evidence,
        ..Options::default()
    };
    let w = azir_report::write(&case, &opts, network_view, &a.out)
        .with_context(|| format!("writing the report of {}", a.case.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&w)?);
    } else if !quiet {
        println!(
            "wrote {} ({:.1} MB): {} findings, {} events, {} flow tuples, {} entity pages, custody chain {}",
            w.path.display(),
            w.bytes as f64 / 1e6,
            w.findings,
            w.events,
            w.flows,
            w.entities,
            if w.custody_intact { "intact" } else { "BROKEN" }
        );
    }
    Ok(0)
}
