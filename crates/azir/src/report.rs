//! `azir report`: the incident report as one self-contained HTML file (see `azir-report`).

use crate::location;
use anyhow::{Context, Result};
use azir_model::format_micros;
use azir_net::exposure;
use azir_net::nsg::history::History;
use azir_net::nsg::NetworkConfig;
use azir_net::topology::{self, Topology};
use azir_report::{ExposureTable, NetworkView, Options, ReportData};
use azir_store::Case;
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

/// The topology and exposure drawn from the case's network configuration: the latest
/// snapshots, and the moments right after NSG changes that hunt findings point at (rules rebuilt
/// from the Activity Log, as `azir exposure --at`), so the report shows what the attacker opened
/// even when it was closed again before the configuration was exported.
pub fn network_view(case: &Case, d: &ReportData) -> NetworkView {
    let mut v = NetworkView::default();
    if d.network_config.is_empty() {
        return v;
    }
    let latest = NetworkConfig::from_resources(&d.network_config, None);
    let topo = Topology::build(&latest);
    if !topo.is_empty() {
        v.topology_svg = Some(topology::to_svg(&topo));
    }
    if latest.nics.is_empty() {
        v.notes.push("The configuration holds no NIC: exposure to the Internet cannot be evaluated.".into());
        return v;
    }
    let opts = exposure::Options::default();
    let now = exposure::analyze(&latest, &opts);
    v.exposure.push(exposure_table(
        "Exposed to the Internet (latest configuration)".into(),
        format!(
            "{} entry point(s) lead nowhere (every tested port denied). `azir exposure --case CASE --at TIME` evaluates the rules in force at any time of the incident.",
            now.blocked.len()
        ),
        &now,
    ));
    v.notes.extend(now.notes.iter().take(10).cloned());

    // Right after each NSG rule change a finding points at (at most three moments).
    let mut moments: Vec<(i64, String)> = d
        .findings
        .iter()
        // Rule-level ids: the finding is about a rule write, not a flow an NSG logged.
        .filter(|f| f.row.resources.iter().any(|r| r.to_ascii_lowercase().contains("/securityrules/")))
        .map(|f| (f.row.last + 1_000_000, f.row.title.clone()))
        .collect();
    moments.sort();
    moments.dedup_by_key(|m| m.0);
    if moments.is_empty() {
        return v;
    }
    let events = match crate::nsg::load_nsg_events(case) {
        Ok(e) => e,
        Err(e) => {
            v.notes.push(format!("NSG history could not be read: {e:#}"));
            return v;
        }
    };
    let history = History::new(&d.network_config, &events);
    for (at, title) in moments.into_iter().take(3) {
        let mut config = NetworkConfig::from_resources(&d.network_config, Some(at));
        history.apply(&mut config, at);
        let x = exposure::analyze(&config, &opts);
        let new_rows = x.rows.iter().filter(|r| !now.rows.iter().any(|n| same_row(n, r))).count();
        v.exposure.push(exposure_table(
            format!("Exposed to the Internet at {} (after: {title})", format_micros(at)),
            format!(
                "NSG rules in force one second after the finding's last event, rebuilt from the Activity Log; {new_rows} row(s) not exposed in the latest configuration."
            ),
            &x,
        ));
    }
    v
}

fn same_row(a: &exposure::ExposureRow, b: &exposure::ExposureRow) -> bool {
    (a.nic_id.as_str(), a.protocol, a.ports.as_str(), a.entry.as_str(), a.allowed_from.as_str())
        == (b.nic_id.as_str(), b.protocol, b.ports.as_str(), b.entry.as_str(), b.allowed_from.as_str())
}

fn exposure_table(title: String, note: String, x: &exposure::Exposure) -> ExposureTable {
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
    ExposureTable { title, note, columns: cols.iter().map(|c| c.to_string()).collect(), rows }
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
    let w = azir_report::write(&case, &opts, |d| network_view(&case, d), &a.out)
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
