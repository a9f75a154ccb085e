//! Golden plans from small configurations, and what every generated plan must satisfy: `bash -n`
//! and `shellcheck` clean, Bicep structurally sound, every check clean, the DFIR range clear of
//! the case's ranges, containment steps in the right order, and hostile names reaching `az` as
//! single, unaltered arguments (the scripts are run against a stub `az` that logs its argv).
//!
//! Regenerate the golden files after an intended change with
//! `AZIR_UPDATE_GOLDEN=1 cargo test -p azir-plan --test golden`, then review the diff.

mod common;

use azir_plan::{
    bicep_structure, check_text, contain_plan, lab_plan, render_bash, CaseFacts, ContainOptions, ContainTarget, Format,
    LabOptions,
};
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Compares `text` with the golden file (or rewrites it with AZIR_UPDATE_GOLDEN=1).
fn golden(name: &str, text: &str) {
    let path = golden_dir().join(name);
    if std::env::var("AZIR_UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!("{} missing: AZIR_UPDATE_GOLDEN=1 cargo test -p azir-plan --test golden", path.display())
    });
    if want != text {
        let line = want
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(text.lines().count()));
        panic!(
            "{name} differs from the golden file at line {}:\n  golden: {:?}\n  now:    {:?}\n(AZIR_UPDATE_GOLDEN=1 to accept, then review the diff)",
            line + 1,
            want.lines().nth(line),
            text.lines().nth(line)
        );
    }
}

/// Lints, structure-checks and checks a generated file; returns its path in `dir`.
fn vet(dir: &Path, name: &str, text: &str, known: &[azir_plan::KnownPrefix]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    let fmt = if name.ends_with(".bicep") { Format::Bicep } else { Format::Bash };
    if fmt == Format::Bash {
        lint_bash(&p);
    } else {
        assert_eq!(bicep_structure(text), Vec::<String>::new(), "{name}: Bicep structure");
    }
    let (model, findings) = check_text(text, Some(fmt), known);
    assert!(findings.is_empty(), "{name}: generated plan fails checks: {findings:#?}");
    assert!(model.warnings.is_empty(), "{name}: reader warnings {:?}", model.warnings);
    p
}

fn lab_opts() -> LabOptions {
    let mut o = LabOptions::new("198.51.100.7/32".parse().unwrap(), "westeurope");
    o.target_vnet = Some("vnet-app".into());
    o
}

#[test]
fn lab_small_golden_and_sound() {
    let facts = small_facts();
    let lp = lab_plan(&facts, &lab_opts()).unwrap();
    // 10.250/16 (a peer) and 10.251/16 (a route) are taken: the next free candidate.
    assert_eq!(lp.vnet_space.to_string(), "10.252.0.0/24");
    assert_eq!(lp.subnet.to_string(), "10.252.0.0/26");
    for k in &facts.known {
        assert!(!azir_plan::addr::overlaps(&k.prefix, &lp.vnet_space), "{k:?}");
    }
    let bash = render_bash(&lp.plan);
    let dir = tempfile::tempdir().unwrap();
    vet(dir.path(), "lab.sh", &bash, &facts.known);
    vet(dir.path(), "lab.bicep", &lp.bicep, &facts.known);
    let target = lp.bicep_target.clone().expect("peering module");
    vet(dir.path(), "lab-target-peering.bicep", &target, &facts.known);
    golden("lab-small.sh", &bash);
    golden("lab-small.bicep", &lp.bicep);
    golden("lab-small-target-peering.bicep", &target);
    // What the seed asks for, as written in the script.
    for needle in [
        "set -euo pipefail",
        "--default-action Deny",
        "--allow-blob-public-access false",
        "--min-tls-version TLS1_2",
        "--service-endpoints Microsoft.Storage",
        "az storage container immutability-policy create",
        "az storage share-rm create",
        "--caching ReadOnly",
        "--remote-vnet \"${TARGET_VNET_ID}\"",
        "--remote-vnet \"/subscriptions/${DFIR_SUBSCRIPTION}/resourceGroups/${RG}/providers/Microsoft.Network/virtualNetworks/${DFIR_VNET}\"",
        "EVIDENCE_SNAPSHOT_1='/subscriptions/",
        "# azir:known-prefix 10.251.0.0/16 route table rt-web",
    ] {
        assert!(bash.contains(needle), "lab.sh lacks {needle:?}");
    }
    for needle in [
        "defaultAction: 'Deny'",
        "allowBlobPublicAccess: false",
        "immutabilityPolicies",
        "caching: 'ReadOnly'",
        "module targetPeering",
    ] {
        assert!(lp.bicep.contains(needle), "lab.bicep lacks {needle:?}");
    }
}

#[test]
fn lab_empty_case_golden() {
    // No configuration at all: the first candidate, no peering, no evidence, subscription from az.
    let facts = CaseFacts::from_resources("case-empty", &[]);
    let mut o = LabOptions::new("203.0.113.9".parse::<std::net::IpAddr>().unwrap().into(), "eastus");
    o.evidence_disks = vec!["/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/snapshots/snap 1".into()];
    let lp = lab_plan(&facts, &o).unwrap();
    assert_eq!(lp.vnet_space.to_string(), "10.250.0.0/24");
    assert!(lp.bicep_target.is_none());
    let bash = render_bash(&lp.plan);
    let dir = tempfile::tempdir().unwrap();
    vet(dir.path(), "lab.sh", &bash, &[]);
    vet(dir.path(), "lab.bicep", &lp.bicep, &[]);
    assert!(!bash.contains("vnet peering create"));
    assert!(bash.contains("DFIR_SUBSCRIPTION=''"));
    golden("lab-empty.sh", &bash);
    golden("lab-empty.bicep", &lp.bicep);
    // An unknown target is an error naming what is known.
    let mut bad = o.clone();
    bad.target_vnet = Some("vnet-nope".into());
    let e = lab_plan(&CaseFacts::from_resources("c", &small_resources()), &bad).unwrap_err();
    assert!(e.contains("vnet-nope") && e.contains("vnet-app"), "{e}");
}

/// Line number of the first command line (not a comment) containing `needle`.
fn at_cmd(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| !l.trim_start().starts_with('#') && l.contains(needle))
        .unwrap_or_else(|| panic!("plan lacks a command with {needle:?}"))
}

fn contain(facts: &CaseFacts, t: ContainTarget) -> (String, String) {
    let cp = contain_plan(facts, &ContainOptions { target: t, forensic_prefix: None }).unwrap();
    (cp.file_stem.clone(), render_bash(&cp.plan))
}

#[test]
fn contain_golden_and_ordered() {
    let facts = small_facts();
    let dir = tempfile::tempdir().unwrap();

    let (stem, vm) = contain(&facts, ContainTarget::Vm("VM-1".into()));
    assert_eq!(stem, "contain-vm-vm-1");
    vet(dir.path(), "vm.sh", &vm, &facts.known);
    golden("contain-vm-small.sh", &vm);
    // Snapshots before the isolation, the isolation before the tags; the lab's subnet; Bastion kept.
    let at = |s: &str| at_cmd(&vm, s);
    assert!(at("az snapshot create") < at("az network nsg create"));
    assert!(at("az network nsg create") < at("az network nic update"));
    assert!(at("az network nic update") < at("az tag update"));
    assert!(vm.contains("FORENSIC_PREFIX='10.252.0.0/26'"), "forensic prefix = the lab plan's subnet");
    assert!(vm.contains("BASTION_PREFIX='10.1.250.0/26'"));
    assert!(vm.contains("# Known to the case: disk vm-1-data."));

    let (stem, user) = contain(&facts, ContainTarget::User("mallory@contoso.com".into()));
    assert_eq!(stem, "contain-user-mallory-contoso-com");
    vet(dir.path(), "user.sh", &user, &facts.known);
    golden("contain-user-small.sh", &user);
    let at = |s: &str| at_cmd(&user, s);
    assert!(at("--account-enabled false") < at("/revokeSignInSessions"));
    assert!(at("/revokeSignInSessions") < at("az ad app credential delete"));
    assert!(user.contains("az ad sp credential delete --id \"${CRED_2_OBJECT}\" --key-id \"${CRED_2_KEY}\" --cert"));
    assert!(user.contains("#   az role assignment delete --ids \"${GRANT_1}\""), "grants stay manual");

    let (_, app) = contain(&facts, ContainTarget::App("backdoor-app".into()));
    vet(dir.path(), "app.sh", &app, &facts.known);
    golden("contain-app-small.sh", &app);
    assert!(app.contains("APP_ID='aaaaaaaa-0000-0000-0000-00000000a991'"), "display name resolved to the app id");
    let at = |s: &str| at_cmd(&app, s);
    assert!(at("credential delete") < at("az ad sp update --id \"${APP_ID}\" --set accountEnabled=false"));

    // Another user added nothing: no credential step, still a valid plan.
    let (_, other) = contain(&facts, ContainTarget::User("alice@contoso.com".into()));
    assert!(!other.contains("credential delete"));
    vet(dir.path(), "other.sh", &other, &facts.known);
    // Unknown VM: an error listing the known ones.
    let e = contain_plan(&facts, &ContainOptions { target: ContainTarget::Vm("nope".into()), forensic_prefix: None })
        .unwrap_err();
    assert!(e.contains("vm-1"), "{e}");
}

/// A stub `az` that logs every invocation (arguments NUL-terminated, invocations ended by
/// `__END__`), fails `show` (so every create path runs) and answers the `-o tsv` queries the
/// scripts read ids from.
fn stub_az(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let az = bin.join("az");
    std::fs::write(
        &az,
        r#"#!/usr/bin/env bash
printf '%s\0' "$@" __END__ >> "$AZ_LOG"
args=" $* "
if [[ "$args" == *" -o tsv "* ]]; then
  case "$args" in
    *"osDisk"*) printf '%s\n' /subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/osdisk-1 /subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/data-1 ;;
    *"networkInterfaces"*) printf '%s\n' /subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/nic-1 ;;
    *" location "*) echo westeurope ;;
    *) echo x ;;
  esac
  exit 0
fi
case "$args" in *" show "*) exit 3 ;; esac
exit 0
"#,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// Runs a script with the stub; returns the logged invocations.
fn run_with_stub(dir: &Path, script: &Path) -> Vec<Vec<String>> {
    let bin = stub_az(dir);
    let log = dir.join("az.log");
    let _ = std::fs::remove_file(&log);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let o = Command::new("bash").arg(script).env("PATH", path).env("AZ_LOG", &log).current_dir(dir).output().unwrap();
    assert!(
        o.status.success(),
        "{} failed against the stub:\n{}",
        script.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let mut calls = vec![Vec::new()];
    for a in text.split('\0') {
        if a == "__END__" {
            calls.push(Vec::new());
        } else {
            calls.last_mut().unwrap().push(a.to_string());
        }
    }
    calls.retain(|c| c.iter().any(|a| !a.is_empty()));
    calls
}

#[test]
fn hostile_names_reach_az_as_single_words() {
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("pwned");
    // Relative: the scripts run in `dir` (and an ARM name cannot hold a `/`).
    let evil_vm = "vm'$(touch pwned)`touch pwned`\"; exit 0 #".to_string();
    let evil_vnet = "vnet\nrm -rf ~ ;'x".to_string();
    let mut facts = CaseFacts::from_resources("case'$(id)\n#", &small_named(&evil_vnet, &evil_vm));
    add_identity(&mut facts, "app$(touch /tmp/x)'", "eve@contoso.com");
    facts.credentials[0].key_id = "k'$(touch pwned)".into();

    let mut o = lab_opts();
    o.target_vnet = Some(evil_vnet.clone());
    let lp = lab_plan(&facts, &o).unwrap();
    let lab = vet(dir.path(), "lab.sh", &render_bash(&lp.plan), &facts.known);
    vet(dir.path(), "lab.bicep", &lp.bicep, &facts.known);
    let calls = run_with_stub(dir.path(), &lab);
    let peer = calls
        .iter()
        .find(|c| {
            c.iter().any(|a| a == "create")
                && c.iter().any(|a| a == "peering")
                && c.contains(&"--subscription".to_string())
        })
        .expect("target-side peering ran");
    assert!(peer.iter().any(|a| a == &evil_vnet), "the VNet name arrives as one argument: {peer:?}");

    let cp =
        contain_plan(&facts, &ContainOptions { target: ContainTarget::Vm(evil_vm.clone()), forensic_prefix: None })
            .unwrap();
    let vm = vet(dir.path(), "vm.sh", &render_bash(&cp.plan), &facts.known);
    let calls = run_with_stub(dir.path(), &vm);
    assert!(calls.iter().any(|c| c.iter().any(|a| a == &evil_vm)), "the VM name arrives as one argument");
    // The log holds az's arguments (without "az").
    let is = |c: &Vec<String>, words: &[&str]| c.len() >= words.len() && c.iter().zip(words).all(|(a, b)| a == b);
    let snaps: Vec<_> = calls.iter().filter(|c| is(c, &["snapshot", "create"])).collect();
    assert_eq!(snaps.len(), 2, "one snapshot per disk the VM reports");
    let first_snap = calls.iter().position(|c| is(c, &["snapshot", "create"])).unwrap();
    let first_nic = calls.iter().position(|c| is(c, &["network", "nic", "update"])).expect("NIC updated");
    assert!(first_snap < first_nic, "snapshots before isolation");

    let cp = contain_plan(
        &facts,
        &ContainOptions { target: ContainTarget::User("eve@contoso.com".into()), forensic_prefix: None },
    )
    .unwrap();
    let user = vet(dir.path(), "user.sh", &render_bash(&cp.plan), &facts.known);
    run_with_stub(dir.path(), &user);
    assert!(!canary.exists() && !dir.path().join("pwned").exists(), "a hostile name was executed");
}

#[test]
fn contain_vm_notes_a_subnet_nsg_that_cuts_the_forensic_path() {
    // nsg-web (on snet-web) denies 10.0.0.0/8 on 22 and 3389 at priority 300: the isolation NSG
    // would be useless to responders without a rule there too.
    let deny = |ports: &[&str]| {
        let mut rs = small_resources();
        let nsg = rs.iter_mut().find(|r| r.name == "nsg-web").unwrap();
        let body = serde_json::json!({"id": nsg.id, "name": "nsg-web", "properties": {"securityRules": [
            {"name": "allow-web", "properties": {"priority": 200, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
              "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "443"}},
            {"name": "deny-mgmt", "properties": {"priority": 300, "direction": "Inbound", "access": "Deny", "protocol": "*",
              "sourceAddressPrefix": "10.0.0.0/8", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRanges": ports}}
        ]}});
        nsg.json = body.to_string();
        CaseFacts::from_resources("case-sub", &rs)
    };
    let facts = deny(&["22", "3389"]);
    let cp = contain_plan(&facts, &ContainOptions { target: ContainTarget::Vm("vm-1".into()), forensic_prefix: None })
        .unwrap();
    assert!(cp.notes.iter().any(|n| n.contains("nsg-web") && n.contains("deny-mgmt")), "{:?}", cp.notes);
    let text = render_bash(&cp.plan);
    assert!(text.contains("SUBNET_NSG_1='nsg-web'"));
    // A free priority below the deny, as a manual (commented) rule.
    assert!(
        text.contains("#   az network nsg rule create \\\n#     --resource-group \"${SUBNET_NSG_1_RG}\""),
        "{text}"
    );
    assert!(text.contains("#     --priority 100 \\"));
    let dir = tempfile::tempdir().unwrap();
    vet(dir.path(), "vm.sh", &text, &facts.known);
    // Only one of the two ports denied: the path exists, no step.
    let facts = deny(&["22"]);
    let cp = contain_plan(&facts, &ContainOptions { target: ContainTarget::Vm("vm-1".into()), forensic_prefix: None })
        .unwrap();
    assert!(cp.notes.is_empty(), "{:?}", cp.notes);
    // The default rules (AllowVnetInBound) let a peered forensic subnet in: no step either.
    let cp = contain_plan(
        &small_facts(),
        &ContainOptions { target: ContainTarget::Vm("vm-1".into()), forensic_prefix: None },
    )
    .unwrap();
    assert!(!render_bash(&cp.plan).contains("SUBNET_NSG_1"));
}
