//! `azir lab` and `azir contain`: forensic environment and containment plans (see `azir-plan`).
//!
//! `lab plan` and `contain plan` read the case (its `resources` rows, its stored findings and the
//! audit events behind the credential findings), build the plan, render it, read the rendered
//! text back and check it, then write the files (or print the script). `lab check` reads any
//! plan file, generated or edited, bash or Bicep, and runs the same checks, with the case's
//! known ranges when `--case` is given. Nothing is ever run against Azure.
//!
//! Exit codes: 0 clean; 5 when a check finds a problem (the files are written anyway, so they
//! can be read and fixed); 1 on errors.

use crate::timeline::terminal_safe;
use anyhow::{bail, Context, Result};
use azir_plan::check::Severity;
use azir_plan::ipnet::IpNet;
use azir_plan::{
    check_text, contain_plan, lab_plan, render_bash, CaseFacts, ContainOptions, ContainTarget, Finding, Format,
    GrantFact, LabOptions,
};
use azir_store::read::scan;
use azir_store::schema::Columns;
use azir_store::{Case, Table};
use clap::{Args, Subcommand};
use serde_json::json;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Exit code when a check finds a problem.
pub const EXIT_FINDINGS: i32 = 5;

/// Rule id of the built-in "Credentials added to an application or service principal".
const CREDENTIALS_RULE: &str = "5c6a0068-cd93-47a3-8b8f-70e1b6222134";
/// Rule id of the built-in privileged role assignment rule.
const ROLE_RULE: &str = "2d2f4af5-977d-499a-a1d4-e808e0dad7e5";

/// Examples shown by `azir lab --help`.
pub const LAB_HELP: &str = "Examples:
  azir lab plan --case ./case --analyst-ip 198.51.100.7/32 --location westeurope --target-vnet vnet-prod --out ./lab
  azir lab plan --case ./case --analyst-ip 198.51.100.7/32 --location westeurope --evidence-disk /subscriptions/<sub>/resourceGroups/rg/providers/Microsoft.Compute/snapshots/snap-os
  azir lab check ./lab/lab.sh ./lab/lab.bicep --case ./case
  azir --json lab check edited.sh

Plans are written, never run: review lab.sh (az CLI) or lab.bicep, then run them yourself.
Exit code 5: a check found a problem (files are still written); 0: clean.";

/// Examples shown by `azir contain --help`.
pub const CONTAIN_HELP: &str = "Examples:
  azir contain plan --case ./case --vm vm-app-01 --out ./contain
  azir contain plan --case ./case --user megan@contoso.com --out ./contain
  azir contain plan --case ./case --app 303eaaf8-969d-4672-9f8c-671bc3d95ed8
  azir lab check ./contain/contain-vm-vm-app-01.sh

VM: snapshots of every disk first, then an isolation NSG (forensic subnet and Bastion only) on every NIC, then tags.
User: disable, revoke sessions, remove credentials the user added during the incident (from `azir hunt` findings).
App: remove the credentials added during the incident, disable the service principal.
Exit code 5: a check found a problem in the generated plan; 0: clean.";

const LAB_PLAN_HELP: &str = "Examples:
  azir lab plan --case ./case --analyst-ip 198.51.100.7/32 --location westeurope --out ./lab
  azir lab plan --case ./case --analyst-ip 198.51.100.7/32 --location westeurope --target-vnet vnet-prod --out ./lab
  azir lab plan --case ./case --analyst-ip 198.51.100.7 --location westeurope > lab.sh

Writes lab.sh (bash, az CLI) and lab.bicep (+ lab-target-peering.bicep with --target-vnet) to --out;
without --out the script goes to stdout. The DFIR range overlaps no VNet, peering or UDR prefix of the case.
Evidence disks: --evidence-disk snapshot ids, else the snapshots found in the case.
Exit code 5 when the generated plan fails a check (e.g. an --address-space that overlaps).";

const LAB_CHECK_HELP: &str = "Examples:
  azir lab check lab.sh
  azir lab check lab.bicep --case ./case
  azir --json lab check contain-vm-vm-app-01.sh

Checks: cidr-overlap, mgmt-open, storage-public, storage-tls, egress-open, priority-collision,
forensic-path-cut, isolation-leaky. The file is read back as written (az commands and their flags;
Bicep resource blocks), with the azir:known-prefix / azir:forensic-prefix lines generated plans carry.
Exit code 0: clean; 5: problems found; 1: unreadable file.";

const CONTAIN_PLAN_HELP: &str = "Examples:
  azir contain plan --case ./case --vm vm-app-01 --out ./contain
  azir contain plan --case ./case --vm vm-web-01 --forensic-cidr 10.250.0.0/26
  azir contain plan --case ./case --user megan@contoso.com
  azir contain plan --case ./case --app \"Azure Sync Service\" --out ./contain

The forensic subnet defaults to the DFIR subnet `azir lab plan` chooses for the same case.
Credentials added during the incident come from the stored findings: run `azir hunt` first.
Exit code 5 when the generated plan fails a check.";

/// `azir lab` subcommands.
#[derive(Subcommand)]
pub enum LabCmd {
    /// Write the forensic environment plan: bash (az CLI) and Bicep.
    #[command(after_help = LAB_PLAN_HELP)]
    Plan(LabPlanArgs),
    /// Check plan files (bash or Bicep, generated or edited) for dangerous settings.
    #[command(after_help = LAB_CHECK_HELP)]
    Check(LabCheckArgs),
}

/// `azir contain` subcommands.
#[derive(Subcommand)]
pub enum ContainCmd {
    /// Write a containment plan for a VM, a user or an application.
    #[command(after_help = CONTAIN_PLAN_HELP)]
    Plan(ContainPlanArgs),
}

/// Options of `azir lab plan`.
#[derive(Args)]
pub struct LabPlanArgs {
    /// The case directory.
    #[arg(long, short)]
    case: PathBuf,
    /// The analyst's public address (CIDR or address), the only source allowed to SSH/RDP.
    #[arg(long)]
    analyst_ip: String,
    /// Region of the lab (e.g. westeurope).
    #[arg(long)]
    location: String,
    /// VNet to peer with (name or id, from the case).
    #[arg(long)]
    target_vnet: Option<String>,
    /// Resource group of the lab (default rg-dfir-<case id>).
    #[arg(long)]
    resource_group: Option<String>,
    /// Address space of the DFIR VNet instead of the chosen one (checked for overlaps).
    #[arg(long)]
    address_space: Option<String>,
    /// Snapshot resource id to attach to the analysis VM (repeatable; default: snapshots in the case).
    #[arg(long = "evidence-disk")]
    evidence_disks: Vec<String>,
    /// Subscription of the lab (default: the target VNet's).
    #[arg(long)]
    subscription: Option<String>,
    /// Days of the immutability policy on the evidence container.
    #[arg(long, default_value_t = 30)]
    retention_days: u32,
    /// Directory to write lab.sh and lab.bicep to (default: print the script).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Options of `azir lab check`.
#[derive(Args)]
pub struct LabCheckArgs {
    /// Plan files (.sh or .bicep; the format is detected from the content).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// A case whose VNets, peerings and routes the plan must not overlap.
    #[arg(long, short)]
    case: Option<PathBuf>,
}

/// Options of `azir contain plan`.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["vm", "user", "app"])))]
pub struct ContainPlanArgs {
    /// The case directory.
    #[arg(long, short)]
    case: PathBuf,
    /// Isolate this VM (name or id).
    #[arg(long)]
    vm: Option<String>,
    /// Contain this user (UPN).
    #[arg(long)]
    user: Option<String>,
    /// Contain this application or service principal (app id, object id or display name).
    #[arg(long)]
    app: Option<String>,
    /// The forensic subnet the isolation keeps open (default: the lab plan's DFIR subnet).
    #[arg(long)]
    forensic_cidr: Option<String>,
    /// Directory to write the plan to (default: print the script).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn parse_net(s: &str, what: &str) -> Result<IpNet> {
    let t = s.trim();
    t.parse::<IpNet>()
        .or_else(|_| t.parse::<std::net::IpAddr>().map(IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| anyhow::anyhow!("{what} {s:?} is not an address or CIDR"))
}

/// The case's facts: network configuration, credentials added (from the findings' events),
/// role assignments named by findings.
fn load_facts(dir: &Path) -> Result<CaseFacts> {
    let (case, _) = crate::location::open(dir, true)?;
    let resources = crate::nsg::load_resources(&case)?;
    let mut facts = CaseFacts::from_resources(&case.info.id, &resources);
    let findings = azir_store::findings::read(&case).context("reading the case's findings")?;
    if findings.is_empty() {
        facts
            .notes
            .push("no findings stored in the case: run `azir hunt` so plans know what the incident added".into());
    }
    let wanted: HashSet<String> =
        findings.iter().filter(|f| f.rule_id == CREDENTIALS_RULE).flat_map(|f| f.event_ids.iter().cloned()).collect();
    if !wanted.is_empty() {
        facts.credentials = read_credentials(&case, &wanted)?;
    }
    for f in findings.iter().filter(|f| f.rule_id == ROLE_RULE) {
        for r in f
            .resources
            .iter()
            .filter(|r| r.to_ascii_lowercase().contains("/providers/microsoft.authorization/roleassignments/"))
        {
            if !facts.grants.iter().any(|g| g.id.eq_ignore_ascii_case(r)) {
                facts.grants.push(GrantFact { id: r.clone(), users: f.users.clone(), title: f.title.clone() });
            }
        }
    }
    Ok(facts)
}

fn read_credentials(case: &Case, wanted: &HashSet<String>) -> Result<Vec<azir_plan::AddedCredential>> {
    let mut out: Vec<azir_plan::AddedCredential> = Vec::new();
    scan(case, Table::Events, None, None, Some(&["event_id", "raw"]), &mut |b| {
        let c = Columns::new(&b);
        for row in 0..b.num_rows() {
            let Some(id) = c.str("event_id", row) else { continue };
            if wanted.contains(&id) {
                let raw = c.str("raw", row).unwrap_or_default();
                for cred in azir_plan::credentials_from_audit(&raw, &id) {
                    let dup = out.iter().any(|x| {
                        x.key_id.eq_ignore_ascii_case(&cred.key_id) && x.object_id.eq_ignore_ascii_case(&cred.object_id)
                    });
                    if !dup {
                        out.push(cred);
                    }
                }
            }
        }
        Ok(())
    })?;
    out.sort_by(|a, b| a.time.cmp(&b.time).then(a.object_id.cmp(&b.object_id)).then(a.key_id.cmp(&b.key_id)));
    Ok(out)
}

fn write_file(path: &Path, text: &str, exec: bool) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    if exec {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    #[cfg(not(unix))]
    let _ = exec;
    Ok(())
}

/// Prints findings (terminal-safe) to `w`.
fn print_findings(w: &mut dyn Write, file: &str, findings: &[Finding]) -> Result<()> {
    for f in findings {
        let sev = match f.severity {
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
        };
        writeln!(w, "{}:{}: {sev} {}: {}", terminal_safe(file), f.line, f.check, terminal_safe(&f.message))?;
        writeln!(w, "    risk: {}", f.risk)?;
        writeln!(w, "    fix:  {}", f.fix)?;
    }
    Ok(())
}

fn findings_json(file: &str, findings: &[Finding]) -> Vec<serde_json::Value> {
    findings
        .iter()
        .map(|f| {
            let mut v = serde_json::to_value(f).unwrap_or_default();
            v["file"] = json!(file);
            v
        })
        .collect()
}

/// Runs `azir lab`.
pub fn run_lab(cmd: &LabCmd, json: bool) -> Result<i32> {
    match cmd {
        LabCmd::Plan(a) => lab_plan_cmd(a, json),
        LabCmd::Check(a) => lab_check_cmd(a, json),
    }
}

/// Runs `azir contain`.
pub fn run_contain(cmd: &ContainCmd, json: bool) -> Result<i32> {
    match cmd {
        ContainCmd::Plan(a) => contain_plan_cmd(a, json),
    }
}

fn lab_plan_cmd(a: &LabPlanArgs, json: bool) -> Result<i32> {
    let facts = load_facts(&a.case)?;
    let mut o = LabOptions::new(parse_net(&a.analyst_ip, "--analyst-ip")?, &a.location);
    if a.location.trim().is_empty() || !a.location.chars().all(|c| c.is_ascii_alphanumeric()) {
        bail!("--location {:?} is not a region name (e.g. westeurope)", a.location);
    }
    o.target_vnet = a.target_vnet.clone();
    o.resource_group = a.resource_group.clone();
    o.address_space = a.address_space.as_deref().map(|s| parse_net(s, "--address-space")).transpose()?;
    o.evidence_disks = a.evidence_disks.clone();
    o.subscription = a.subscription.clone();
    o.retention_days = a.retention_days;
    let lp = lab_plan(&facts, &o).map_err(|e| anyhow::anyhow!(e))?;
    let bash = render_bash(&lp.plan);
    let mut files: Vec<(String, String, Format)> = vec![("lab.sh".into(), bash, Format::Bash)];
    files.push(("lab.bicep".into(), lp.bicep.clone(), Format::Bicep));
    if let Some(t) = &lp.bicep_target {
        files.push((azir_plan::lab::TARGET_MODULE.into(), t.clone(), Format::Bicep));
    }
    let mut all: Vec<(String, Vec<Finding>)> = Vec::new();
    for (name, text, fmt) in &files {
        let (_, f) = check_text(text, Some(*fmt), &facts.known);
        all.push((name.clone(), f));
    }
    let written = write_outputs(a.out.as_deref(), &files)?;
    let n: usize = all.iter().map(|x| x.1.len()).sum();
    if json {
        let v = json!({
            "kind": "lab",
            "case": facts.case_id,
            "files": written,
            "vnet_space": lp.vnet_space.to_string(),
            "subnet": lp.subnet.to_string(),
            "known_prefixes": facts.known,
            "notes": facts.notes,
            "plan": lp.plan,
            "script": if a.out.is_none() { Some(&files[0].1) } else { None },
            "findings": all.iter().flat_map(|(f, x)| findings_json(f, x)).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let stdout = std::io::stdout();
        let stderr = std::io::stderr();
        let mut w: Box<dyn Write> = if a.out.is_some() { Box::new(stdout.lock()) } else { Box::new(stderr.lock()) };
        if a.out.is_none() {
            print!("{}", files[0].1);
        }
        writeln!(
            w,
            "DFIR VNet {} (subnet {}), clear of {} known range(s) of the case.",
            lp.vnet_space,
            lp.subnet,
            facts.known.len()
        )?;
        for p in &written {
            writeln!(w, "wrote {p}")?;
        }
        if a.out.is_none() {
            writeln!(w, "(script on stdout; pass --out DIR for lab.bicep too)")?;
        }
        for note in &facts.notes {
            writeln!(w, "note: {}", terminal_safe(note))?;
        }
        for (f, x) in &all {
            print_findings(&mut w, f, x)?;
        }
        writeln!(w, "{}", if n == 0 { "checks: clean".to_string() } else { format!("checks: {n} problem(s)") })?;
    }
    Ok(if n == 0 { 0 } else { EXIT_FINDINGS })
}

fn write_outputs(out: Option<&Path>, files: &[(String, String, Format)]) -> Result<Vec<String>> {
    let Some(dir) = out else { return Ok(Vec::new()) };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, text, fmt) in files {
        let p = dir.join(name);
        write_file(&p, text, *fmt == Format::Bash)?;
        written.push(p.display().to_string());
    }
    Ok(written)
}

fn lab_check_cmd(a: &LabCheckArgs, json: bool) -> Result<i32> {
    let known = match &a.case {
        Some(c) => load_facts(c)?.known,
        None => Vec::new(),
    };
    let mut results = Vec::new();
    for path in &a.files {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let text = String::from_utf8_lossy(&bytes);
        let fmt = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("bicep")) {
            Format::Bicep
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("sh")) {
            Format::Bash
        } else {
            azir_plan::detect(&text)
        };
        let (model, findings) = check_text(&text, Some(fmt), &known);
        results.push((path.display().to_string(), fmt, model, findings));
    }
    let n: usize = results.iter().map(|r| r.3.len()).sum();
    if json {
        let v: Vec<serde_json::Value> = results
            .iter()
            .map(|(f, fmt, m, x)| {
                json!({
                    "file": f,
                    "format": fmt,
                    "read": {"vnets": m.vnets.len(), "nsgs": m.nsgs.len(), "rules": m.rules.len(), "storage_accounts": m.storage.len(), "nic_nsgs": m.nic_nsgs.len(), "peerings": m.peerings.len()},
                    "warnings": m.warnings,
                    "findings": findings_json(f, x),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&json!({"files": v, "problems": n}))?);
    } else {
        let mut w = std::io::stdout().lock();
        for (f, fmt, m, x) in &results {
            writeln!(
                w,
                "{} ({}): {} VNet(s), {} NSG rule(s), {} storage setting(s), {} NIC NSG assignment(s), {} peering(s) read",
                terminal_safe(f),
                if *fmt == Format::Bash { "bash" } else { "bicep" },
                m.vnets.len(),
                m.rules.len(),
                m.storage.len(),
                m.nic_nsgs.len(),
                m.peerings.len()
            )?;
            for warn in &m.warnings {
                writeln!(w, "  warning: {}", terminal_safe(warn))?;
            }
            print_findings(&mut w, f, x)?;
        }
        writeln!(w, "{}", if n == 0 { "checks: clean".to_string() } else { format!("checks: {n} problem(s)") })?;
    }
    Ok(if n == 0 { 0 } else { EXIT_FINDINGS })
}

fn contain_plan_cmd(a: &ContainPlanArgs, json: bool) -> Result<i32> {
    let facts = load_facts(&a.case)?;
    let target = match (&a.vm, &a.user, &a.app) {
        (Some(v), _, _) => ContainTarget::Vm(v.clone()),
        (_, Some(u), _) => ContainTarget::User(u.clone()),
        (_, _, Some(x)) => ContainTarget::App(x.clone()),
        _ => bail!("one of --vm, --user, --app is required"),
    };
    let forensic_prefix = a.forensic_cidr.as_deref().map(|s| parse_net(s, "--forensic-cidr")).transpose()?;
    let cp = contain_plan(&facts, &ContainOptions { target, forensic_prefix }).map_err(|e| anyhow::anyhow!(e))?;
    let bash = render_bash(&cp.plan);
    let (_, findings) = check_text(&bash, Some(Format::Bash), &facts.known);
    let name = format!("{}.sh", cp.file_stem);
    let written = write_outputs(a.out.as_deref(), &[(name.clone(), bash.clone(), Format::Bash)])?;
    let mut notes = facts.notes.clone();
    notes.extend(cp.notes.iter().cloned());
    if json {
        let v = json!({
            "kind": "contain",
            "case": facts.case_id,
            "files": written,
            "notes": notes,
            "plan": cp.plan,
            "credentials": facts.credentials,
            "script": if a.out.is_none() { Some(&bash) } else { None },
            "findings": findings_json(&name, &findings),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let mut w: Box<dyn Write> =
            if a.out.is_some() { Box::new(std::io::stdout().lock()) } else { Box::new(std::io::stderr().lock()) };
        if a.out.is_none() {
            print!("{bash}");
        }
        writeln!(w, "{}: {} step(s)", terminal_safe(&cp.plan.title), cp.plan.steps.len())?;
        for p in &written {
            writeln!(w, "wrote {p}")?;
        }
        for n in &notes {
            writeln!(w, "note: {}", terminal_safe(n))?;
        }
        print_findings(&mut w, &name, &findings)?;
        writeln!(
            w,
            "{}",
            if findings.is_empty() {
                "checks: clean".to_string()
            } else {
                format!("checks: {} problem(s)", findings.len())
            }
        )?;
    }
    Ok(if findings.is_empty() { 0 } else { EXIT_FINDINGS })
}
