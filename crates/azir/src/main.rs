//! `azir`: the command line. Glue only: arguments are parsed into plain data first (clap), then
//! the library crates do the work; this file decides what is printed, how progress is shown,
//! and which exit code a run ends with.
//!
//! Exit codes: 0 success; 1 error; 2 usage error; 3 `ingest` finished but quarantined records
//! or skipped unreadable files (the summary says which); 4 `case verify` found a broken custody
//! chain or changed evidence, or an acquired image failed verification; 5 `lab check` found a
//! problem; 6 `collect` finished but some windows could not be collected; 130 an acquisition was
//! interrupted (rerun to resume). A closed stdout (`azir timeline | head`) ends the run quietly with 0.

mod collect;
mod disk;
mod flows;
mod hunt;
mod lab;
mod location;
mod nsg;
mod pivot;
mod progress;
mod query;
mod report;
mod routes;
mod timeline;
mod topology;

// Ingest allocates a small tree per record on every core; mimalloc's thread-local free lists
// cut the allocator's share of the profile (glibc malloc/free was ~17% of ingest CPU).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, Result};
use azir_store::{ingest, Case, IngestOptions, IngestReport};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "azir",
    version,
    about = "Incident response for Microsoft Azure and Entra ID: ingest every Azure log export into one case, build the super-timeline, and trace every event to its evidence line.",
    after_help = "Examples:\n  azir demo                                   # a realistic incident, ingested, with next steps\n  azir case init ./case\n  azir ingest ./exports logs.zip --case ./case\n  azir timeline --case ./case --since 2026-03-12 --user megan@contoso.com\n  azir case verify ./case\n\nStart with `azir demo`: it generates a realistic incident, ingests it, and prints what to run next."
)]
struct Cli {
    /// Print nothing but errors (and the requested output).
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Print run summaries as JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create, inspect and verify cases.
    #[command(subcommand)]
    Case(CaseCmd),
    /// Ingest evidence files and folders (any mix of Azure exports, gz, zip) into a case.
    #[command(
        after_help = "Examples:\n  azir ingest ./exports --case ./case\n  azir ingest insights-activity-logs/ signins.json.gz logs.zip --case ./case\n\nFormats are detected from content: JSON Lines (diagnostic blobs PT1H.json), {\"records\":[...]} (Event Hub, flow logs), {\"value\":[...]} (ARM REST, Graph pages), arrays, Log Analytics CSV/JSON exports, portal CSV, AWS VPC flow text, and packet captures (pcap, pcapng; Network Watcher captures): flows per 5-tuple into the network table, DNS, TLS server names and HTTP requests as events.\nRe-ingesting a file is a no-op (by SHA-256); an interrupted ingest is completed by running it again.\nExit code 3: finished, but some records were quarantined or files unreadable (see the summary and `azir timeline --quarantine`)."
    )]
    Ingest(IngestArgs),
    /// Collect logs and network configuration from a live tenant (Activity Log, Entra sign-ins,
    /// audit, provisioning, Identity Protection, ARM network lists, diagnostic storage) into a case.
    Collect(Box<collect::CollectArgs>),
    /// Show the super-timeline of a case, filtered, as a table, CSV, JSON Lines or Timesketch import.
    #[command(
        after_help = "Examples:\n  azir timeline --case ./case --since 2026-03-12T00:00Z --user megan@contoso.com\n  azir timeline --case ./case --ip 203.0.113.77 --format csv > attacker.csv\n  azir timeline --case ./case --source signin,activity --grep roleAssignments\n  azir timeline --case ./case --format timesketch-jsonl > sketch.jsonl\n  azir timeline --case ./case --since 7d --flows | head\n  azir timeline --case ./case --flows --format jsonl --sort-memory 2048 > all.jsonl\n  azir timeline --case ./case --quarantine\n\nRows are sorted one day at a time; a day larger than --sort-memory is sorted in runs under $TMPDIR (about the day's size in free space) and merged."
    )]
    Timeline(timeline::TimelineArgs),
    /// SQL over the case (DataFusion): events, network, resources, quarantine, findings, manifest.
    #[command(
        after_help = "Examples:\n  azir query --case ./case --schema\n  azir query --case ./case \"SELECT source, count(*) AS n FROM events GROUP BY source ORDER BY n DESC\"\n  azir query --case ./case \"SELECT SrcIpAddr, count(*) AS n FROM events WHERE NOT is_private(SrcIpAddr) GROUP BY SrcIpAddr ORDER BY n DESC\"\n  azir query --case ./case \"SELECT time_bucket('1 hour', TimeGenerated) AS hour, SrcIpAddr, count(*) FROM events WHERE source = 'signin' AND EventResult = 'Failure' GROUP BY 1, 2 ORDER BY 1\"\n  azir query --case ./case --format csv \"SELECT * FROM network WHERE cidr_match(DstIpAddr, '10.10.0.0/16')\" > flows.csv\n  azir query --case ./case --out rg.parquet \"SELECT arm_part(TargetResourceId, 'resourceGroups') AS rg, count(*) FROM events GROUP BY rg\"\n\nTables hold committed parts only. Column names are case-sensitive, as stored (TimeGenerated, SrcIpAddr); `--schema` lists them.\nFunctions (NULL on NULL or malformed input, never an error):\n  cidr_match(ip, '10.0.0.0/8')     ip in the CIDR (IPv4 or IPv6)\n  is_private(ip)                   RFC 1918, 100.64.0.0/10, loopback, link-local, ULA (fc00::/7)\n  arm_part(resource_id, part)      'subscriptions' | 'resourceGroups' | 'providers' | 'name' (last segment); case-insensitive\n  json_get(raw, '$.properties.requestbody')   text at a simple JSONPath ($.a.b[0].c); strings unquoted; JSON inside strings is followed\n  time_bucket('1 hour', ts)        start of the bucket (30s, 5m, 15 minutes, 1 hour, 1d, 1 week), UTC, epoch-aligned; date_bin() works too\nThe table format prints at most 1000 rows; csv, jsonl and --out write all (or --limit)."
    )]
    Query(query::QueryArgs),
    /// Everything the case knows about one IP, user, app or resource: first/last seen, sources, sign-ins, related entities, operations, flows, findings, timeline.
    #[command(
        after_help = "Examples:\n  azir pivot ip 203.0.113.77 --case ./case\n  azir pivot ip 10.10.0.0/16 --case ./case\n  azir pivot user megan@contoso.com --case ./case\n  azir pivot app \"Azure CLI\" --case ./case\n  azir pivot resource /subscriptions/<sub>/resourceGroups/rg-prod --case ./case\n  azir pivot resource kv-prod --case ./case --limit 100\n  azir --json pivot user megan@contoso.com --case ./case > megan.json\n\nUsers and apps match actor or target, by name or id, case-insensitively; an ARM id matches itself and everything under it; a bare resource name matches any resource of that name and everything under it.\nEvery section is one SQL query over the same tables as `azir query`; --json includes the SQL."
    )]
    Pivot(pivot::PivotArgs),
    /// Generate the bundled demo incident, ingest it, and print a summary.
    #[command(
        after_help = "Examples:\n  azir demo                 # writes ./azir-demo/{evidence,case,report.html}\n  azir demo /tmp/incident   # somewhere else\n  azir demo --scale 20      # 20x the benign volume (benchmarks)"
    )]
    Demo(DemoArgs),
    /// Acquire disks from snapshot SAS URLs; inspect, hash and convert virtual disks (raw, VHD, VHDX) without mounting them.
    #[command(
        subcommand,
        after_help = "Examples:\n  azir disk info osdisk.vhd\n  azir disk partitions osdisk.vhdx\n  azir disk hash snapshot.vhd --json\n  azir disk convert child.vhd --to raw evidence.raw\n  azir disk convert disk.raw --to vhd upload.vhd\n  azir disk acquire --sas-url \"$SAS\" --out snap.vhd --case ./case"
    )]
    Disk(disk::DiskCmd),
    /// Hunt with Sigma rules (the built-in Azure pack plus any folder of Sigma rules); findings are stored in the case.
    #[command(
        after_help = "Examples:\n  azir hunt --case ./case\n  azir hunt --case ./case --min-level high\n  azir hunt --case ./case --sigma ./sigma/rules/cloud --since 2026-03-12\n  azir hunt --case ./case --json > findings.json\n  azir hunt --case ./case --csv > findings.csv\n\nEvery finding names its rule, ATT&CK tags, time window, users, IPs, apps and resources, and the evidence file and line of each contributing event.\nFindings are stored in the case (tables/findings/<rule set>.parquet); re-running with the same rules replaces them.\nSigma 2 correlations run (event_count, value_count, temporal, temporal_ordered, and pySigma's value_sum and value_avg), and so do Sigma 1 aggregations (`selection | count(user) by ip > 10`, `a | near b`, `timeframe`).\nSigma filters (`filter:` documents in a --sigma folder) tune the rules they name, or every rule of their logsource with `rules: any`.\nRules that cannot be loaded are reported one by one and skipped."
    )]
    Hunt(hunt::HuntArgs),
    /// Flow analytics over the case's network sessions: talkers, directions, ports, denied, scans, beacons, exfil, first-seen, rules.
    #[command(
        subcommand,
        after_help = "Examples:\n  azir flows talkers --case ./case --since 2026-03-12\n  azir flows scans --case ./case\n  azir flows exfil --case ./case --internal 10.10.0.0/16\n  azir flows first-seen --case ./case --after 2026-03-12T03:29Z\n  azir --json flows denied --case ./case\n\nInternal addresses default to RFC 1918, 100.64.0.0/10, fc00::/7 and link-local; set --internal to the VNet address spaces.\nEvery row names an example evidence tuple (file:line#tuple); --json lists up to three."
    )]
    Flows(flows::FlowsCmd),
    /// Offline NSG evaluation over the case's network configuration: would this flow be allowed, by which rule of which NSG.
    #[command(
        subcommand,
        after_help = "Examples:\n  azir ingest nsgs.json nics.json vnets.json --case ./case   # az network nsg/nic/vnet list, ARM REST or Resource Graph JSON\n  azir nsg verify --case ./case --direction in --proto tcp --src 203.0.113.77:50123 --dst 10.10.1.4:22\n  azir nsg verify --case ./case --direction out --proto udp --src 10.10.1.4 --dst 198.51.100.9:53 --vm web-vm --explain\n  azir --json nsg verify --case ./case --direction in --proto tcp --src 203.0.113.77 --dst 10.10.1.4:3389 --at 2026-03-12T03:00Z\n  azir nsg history nsg-web --case ./case\n  azir nsg crosscheck --case ./case                     # every flow-log tuple's logged rule vs the evaluation at its time"
    )]
    Nsg(nsg::NsgCmd),
    /// Write the incident report: one self-contained HTML file (summary, findings, attack timeline, charts, network, entities, evidence).
    #[command(after_help = report::HELP)]
    Report(report::ReportArgs),
    /// Effective routes of a NIC (system routes, peerings, service endpoints, UDRs, gateway routes) and the next hop for a destination.
    #[command(after_help = routes::HELP)]
    Routes(routes::RoutesArgs),
    /// Draw the network from the case's configuration: subscriptions, VNets, subnets, NICs, VMs, NSGs, peerings, public IPs, gateways.
    #[command(after_help = topology::TOPOLOGY_HELP)]
    Topology(topology::TopologyArgs),
    /// Every VM and port reachable from the Internet, with the path and the rule that allows it.
    #[command(after_help = topology::EXPOSURE_HELP)]
    Exposure(topology::ExposureArgs),
    /// Forensic environment plans (az CLI script and Bicep), generated from the case and checked; nothing is executed.
    #[command(subcommand, after_help = lab::LAB_HELP)]
    Lab(lab::LabCmd),
    /// Containment plans for a VM, user or app (az CLI script), generated from the case and checked; nothing is executed.
    #[command(subcommand, after_help = lab::CONTAIN_HELP)]
    Contain(lab::ContainCmd),
}

#[derive(Subcommand)]
enum CaseCmd {
    /// Create an empty case directory.
    #[command(after_help = "Example:\n  azir case init ./case --name \"Contoso breach\" --analyst ann@ir.example")]
    Init {
        /// Directory to create (must not exist or be empty).
        dir: PathBuf,
        /// Case name (default: the directory name).
        #[arg(long)]
        name: Option<String>,
        /// Analyst (default: user@host).
        #[arg(long)]
        analyst: Option<String>,
    },
    /// Check the custody chain and re-hash every evidence file still at its origin.
    #[command(
        after_help = "Example:\n  azir case verify ./case\nExit code 4 when the chain is broken or evidence changed."
    )]
    Verify {
        /// The case directory.
        dir: PathBuf,
    },
    /// Summarize a case: evidence, sources, counts, quarantine.
    #[command(after_help = "Example:\n  azir case show ./case")]
    Show {
        /// The case directory.
        dir: PathBuf,
    },
}

#[derive(Args)]
struct IngestArgs {
    /// Files or folders to ingest (folders are walked recursively).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The case directory (created if it does not exist).
    #[arg(long, short)]
    case: PathBuf,
    /// Parse threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Input MiB after which a segment is committed (tests use small values to commit often).
    #[arg(long, hide = true)]
    segment_mb: Option<u64>,
}

#[derive(Args)]
struct DemoArgs {
    /// Where to write the evidence and the case.
    #[arg(default_value = "azir-demo")]
    dir: PathBuf,
    /// Seed of the generator (same seed, same bytes).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Multiplier of the benign volume.
    #[arg(long, default_value_t = 1)]
    scale: u32,
}

fn main() {
    let cli = Cli::parse();
    let code = match run(&cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            eprintln!("azir: error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    // Writers wrap the io::Error: serde_json and csv do not expose it as a `source()`.
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == BrokenPipe)
            || c.downcast_ref::<serde_json::Error>().is_some_and(|j| j.io_error_kind() == Some(BrokenPipe))
            || c.downcast_ref::<csv::Error>()
                .is_some_and(|x| matches!(x.kind(), csv::ErrorKind::Io(io) if io.kind() == BrokenPipe))
    })
}

fn run(cli: &Cli) -> Result<i32> {
    match &cli.command {
        Command::Case(CaseCmd::Init { dir, name, analyst }) => {
            let case = Case::init(dir, name.as_deref(), analyst.as_deref())?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&case.info)?);
            } else if !cli.quiet {
                println!("created case {} ({}) in {}", case.info.name, case.info.id, dir.display());
            }
            Ok(0)
        }
        Command::Case(CaseCmd::Verify { dir }) => {
            let (case, _) = location::open(dir, cli.quiet)?;
            let r = case.verify()?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                let mut out = std::io::stdout().lock();
                writeln!(
                    out,
                    "custody log: {} entries, {}",
                    r.custody_entries,
                    if r.chain_errors.is_empty() { "chain intact" } else { "CHAIN BROKEN" }
                )?;
                for e in &r.chain_errors {
                    writeln!(out, "  ! {e}")?;
                }
                writeln!(
                    out,
                    "evidence: {} unchanged, {} changed, {} not at origin",
                    r.evidence_ok,
                    r.evidence_changed.len(),
                    r.evidence_missing.len()
                )?;
                for e in &r.evidence_changed {
                    writeln!(out, "  ! changed: {e}")?;
                }
                for e in r.evidence_missing.iter().take(10) {
                    writeln!(out, "  - missing: {e}")?;
                }
                if r.orphan_parts > 0 {
                    writeln!(
                        out,
                        "table parts from interrupted ingests (ignored, removed by the next ingest): {}",
                        r.orphan_parts
                    )?;
                }
            }
            Ok(if r.ok() { 0 } else { 4 })
        }
        Command::Case(CaseCmd::Show { dir }) => {
            let (case, _) = location::open(dir, cli.quiet)?;
            show_case(&case, cli.json)?;
            Ok(0)
        }
        Command::Ingest(a) => {
            let (case, home) = location::open_or_init(&a.case, cli.quiet)?;
            let mut opts = IngestOptions::default();
            if let Some(t) = a.threads {
                opts.threads = t.max(1);
            }
            if let Some(mb) = a.segment_mb {
                opts.segment_bytes = mb.max(1) * 1024 * 1024;
            }
            let report = run_ingest(&case, &a.paths, &opts, cli.quiet)?;
            home.push()?;
            print_report(&report, cli, &case)?;
            Ok(if report.bad > 0 || !report.errors.is_empty() { 3 } else { 0 })
        }
        Command::Collect(a) => collect::run(a, cli.json, cli.quiet),
        Command::Timeline(a) => timeline::run(a, cli.quiet),
        Command::Demo(a) => demo(a, cli),
        Command::Disk(d) => disk::run(d, cli.json, cli.quiet),
        Command::Hunt(a) => hunt::run(a, cli.json, cli.quiet),
        Command::Flows(f) => flows::run(f, cli.json),
        Command::Nsg(n) => nsg::run(n, cli.json),
        Command::Query(a) => query::run(a, cli.json, cli.quiet),
        Command::Pivot(a) => pivot::run(a, cli.json, cli.quiet),
        Command::Report(a) => report::run(a, cli.json, cli.quiet),
        Command::Routes(a) => routes::run(a, cli.json),
        Command::Topology(a) => topology::run_topology(a, cli.json),
        Command::Exposure(a) => topology::run_exposure(a, cli.json),
        Command::Lab(c) => lab::run_lab(c, cli.json),
        Command::Contain(c) => lab::run_contain(c, cli.json),
    }
}

fn run_ingest(case: &Case, paths: &[PathBuf], opts: &IngestOptions, quiet: bool) -> Result<IngestReport> {
    let bar = progress::Bar::new(quiet);
    let report = ingest(case, paths, opts, &bar)?;
    bar.finish();
    Ok(report)
}

fn human_bytes(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

fn print_report(r: &IngestReport, cli: &Cli, case: &Case) -> Result<()> {
    if cli.json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    if cli.quiet {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    let rate = if r.elapsed_secs > 0.0 { r.bytes as f64 / r.elapsed_secs / 1e6 } else { 0.0 };
    writeln!(
        out,
        "ingested {} streams from {} files ({}) in {:.2}s ({rate:.0} MB/s) into {}",
        r.streams,
        r.files - r.skipped_known - r.skipped_duplicate,
        human_bytes(r.bytes),
        r.elapsed_secs,
        case.root().display()
    )?;
    if r.skipped_known + r.skipped_duplicate > 0 {
        writeln!(
            out,
            "skipped {} files already in the case and {} duplicates (same SHA-256)",
            r.skipped_known, r.skipped_duplicate
        )?;
    }
    writeln!(out, "records {}  events {}  network sessions {}  quarantined {}", r.records, r.events, r.flows, r.bad)?;
    if !r.by_source.is_empty() {
        let parts: Vec<String> = r.by_source.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(out, "by source: {}", parts.join(", "))?;
    }
    if r.bad > 0 {
        writeln!(
            out,
            "quarantined records by reason (all kept in the quarantine table, see `azir timeline --quarantine`):"
        )?;
        for (reason, n) in r.bad_reasons.iter().take(8) {
            writeln!(out, "  {n:>7}  {reason}")?;
        }
        for s in r.bad_samples.iter().take(5) {
            writeln!(out, "  e.g. {s}")?;
        }
    }
    if !r.errors.is_empty() {
        writeln!(out, "files or members not read ({}):", r.errors.len())?;
        for e in r.errors.iter().take(10) {
            writeln!(out, "  {e}")?;
        }
    }
    if r.recovered_parts > 0 {
        writeln!(
            out,
            "removed {} table parts left by an interrupted earlier ingest (their files were re-read)",
            r.recovered_parts
        )?;
    }
    Ok(())
}

fn show_case(case: &Case, json: bool) -> Result<()> {
    let manifest = case.manifest()?;
    let mut by_source = std::collections::BTreeMap::<String, u64>::new();
    let (mut records, mut events, mut flows, mut bad) = (0u64, 0u64, 0u64, 0u64);
    let mut errors = Vec::new();
    let mut size = 0u64;
    let mut seen = std::collections::HashSet::new();
    for m in &manifest {
        for (k, v) in &m.sources {
            *by_source.entry(k.clone()).or_default() += v;
        }
        records += m.records;
        events += m.events;
        flows += m.flows;
        bad += m.bad;
        if seen.insert(&m.sha256) {
            size += m.size;
        }
        if let Some(e) = &m.error {
            errors.push(format!("{}: {e}", m.path));
        }
    }
    let (first, last) = timeline::time_range(case)?;
    if json {
        let v = serde_json::json!({
            "case": case.info, "evidence_files": seen.len(), "streams": manifest.len(), "bytes": size,
            "records": records, "events": events, "flows": flows, "quarantined": bad, "by_source": by_source,
            "first_event": first.map(azir_model::format_micros), "last_event": last.map(azir_model::format_micros), "errors": errors,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "case {} ({}), analyst {}, created {}",
        case.info.name, case.info.id, case.info.analyst, case.info.created
    )?;
    writeln!(out, "evidence: {} files, {} streams, {}", seen.len(), manifest.len(), human_bytes(size))?;
    writeln!(out, "records {records}  events {events}  network sessions {flows}  quarantined {bad}")?;
    if let (Some(f), Some(l)) = (first, last) {
        writeln!(out, "events from {} to {}", azir_model::format_micros(f), azir_model::format_micros(l))?;
    }
    for (k, v) in &by_source {
        writeln!(out, "  {k:<20} {v:>10}")?;
    }
    for e in errors.iter().take(10) {
        writeln!(out, "unreadable: {e}")?;
    }
    Ok(())
}

/// The demo's report, with evidence re-hashed (the demo's evidence is small).
fn write_demo_report(case: &Case, out: &std::path::Path) -> Result<azir_report::Written> {
    let opts = azir_report::Options { verify_evidence: true, ..azir_report::Options::default() };
    azir_report::write(case, &opts, |d| report::network_view(case, d), out)
        .with_context(|| format!("writing {}", out.display()))
}

fn demo(a: &DemoArgs, cli: &Cli) -> Result<i32> {
    let evidence = a.dir.join("evidence");
    let case_dir = a.dir.join("case");
    if !cli.quiet {
        eprintln!("generating the demo incident in {} ...", evidence.display());
    }
    let opts = azir_demo::DemoOptions { seed: a.seed, scale: a.scale.max(1), ..azir_demo::DemoOptions::default() };
    let summary = azir_demo::generate(&evidence, &opts)
        .with_context(|| format!("writing demo evidence to {}", evidence.display()))?;
    let (case, _) = location::open_or_init(&case_dir, cli.quiet)?;
    let report = run_ingest(&case, std::slice::from_ref(&evidence), &IngestOptions::default(), cli.quiet)?;
    let report_path = a.dir.join("report.html");
    if cli.json || cli.quiet {
        // The case gets its findings and the report whatever is printed.
        let mut args = hunt::HuntArgs::builtin(case_dir.clone(), hunt::MinLevel::Medium);
        args.store_only = true;
        hunt::run(&args, false, true)?;
        write_demo_report(&case, &report_path)?;
    }
    if cli.json {
        let v = serde_json::json!({"evidence": evidence, "case": case_dir, "report": report_path, "files_written": summary.files.len(), "records_written": summary.records, "ingest": report});
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    if cli.quiet {
        return Ok(0);
    }
    print_report(&report, cli, &case)?;
    println!("\nHunting with the built-in rule pack (findings of medium severity and above):\n");
    hunt::run(&hunt::HuntArgs::builtin(case_dir.clone(), hunt::MinLevel::Medium), false, false)?;
    let written = write_demo_report(&case, &report_path)?;
    let mut out = std::io::stdout().lock();
    writeln!(out)?;
    writeln!(
        out,
        "The report: {} ({:.1} MB, one self-contained HTML file; open it in any browser, offline).",
        written.path.display(),
        written.bytes as f64 / 1e6
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "The story: a password spray from {} ({}), MFA fatigue against {}, the attacker signing in from {} ({}),",
        azir_demo::SPRAY_IP,
        azir_demo::SPRAY_COUNTRY,
        azir_demo::COMPROMISED_USER,
        azir_demo::ATTACKER_IP,
        azir_demo::ATTACKER_COUNTRY
    )?;
    writeln!(out, "then role grants, an NSG opened to the Internet, a VM run command, a snapshot export, Key Vault reads and exfiltration to {}.", azir_demo::EXFIL_DST)?;
    writeln!(out)?;
    writeln!(out, "Try:")?;
    let c = case_dir.display();
    writeln!(out, "  azir report --case {c} -o report.html")?;
    writeln!(out, "  azir hunt --case {c} --json")?;
    writeln!(out, "  azir pivot ip {} --case {c}", azir_demo::ATTACKER_IP)?;
    writeln!(out, "  azir pivot user {} --case {c}", azir_demo::COMPROMISED_USER)?;
    writeln!(
        out,
        "  azir query --case {c} \"SELECT SrcIpAddr, count(*) AS failures FROM events WHERE source = 'signin' AND EventResult = 'Failure' GROUP BY SrcIpAddr ORDER BY failures DESC LIMIT 10\""
    )?;
    writeln!(out, "  azir timeline --case {c} --user {} --since 2026-03-12", azir_demo::COMPROMISED_USER)?;
    writeln!(out, "  azir timeline --case {c} --ip {}", azir_demo::ATTACKER_IP)?;
    writeln!(out, "  azir timeline --case {c} --source activity --grep securityRules")?;
    writeln!(
        out,
        "  azir nsg verify --case {c} --direction in --proto tcp --src {} --dst {}:22 --at 2026-03-12T04:00Z --explain",
        azir_demo::ATTACKER_IP,
        azir_demo::SSH_TARGET_IP
    )?;
    writeln!(out, "  azir nsg history {} --case {c}", azir_demo::OPENED_NSG)?;
    writeln!(out, "  azir exposure --case {c} --at 2026-03-12T04:00Z")?;
    writeln!(out, "  azir topology --case {c} --format svg --out network.svg")?;
    writeln!(out, "  azir routes --case {c} --nic vm-web-01-nic --dst 203.0.113.200")?;
    writeln!(out, "  azir lab plan --case {c} --analyst-ip 198.51.100.7/32 --location eastus --out lab")?;
    writeln!(out, "  azir contain plan --case {c} --user {} --out contain", azir_demo::COMPROMISED_USER)?;
    writeln!(out, "  azir flows talkers --case {c}")?;
    writeln!(out, "  azir flows exfil --case {c}")?;
    writeln!(out, "  azir timeline --case {c} --flows --ip {} --format csv", azir_demo::EXFIL_DST)?;
    writeln!(out, "  azir case show {c}")?;
    writeln!(out, "  azir case verify {c}")?;
    Ok(0)
}
