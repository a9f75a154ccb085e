//! End to end on the demo case: `azir lab plan`, `azir lab check` and `azir contain plan` for
//! the storyline's VM, user and backdoor application; exit codes (0 clean, 5 problems, 1
//! errors), `--json`, generated bash passing `bash -n` (and shellcheck when installed, required
//! with AZIR_REQUIRE_TOOLS=1), and no `az` ever invoked (a stub on PATH records any call).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_azir");

struct Demo {
    dir: tempfile::TempDir,
    case: String,
    /// A directory with a stub `az` that records any invocation in `az-called`.
    stub_path: String,
}

fn demo() -> &'static Demo {
    static D: OnceLock<Demo> = OnceLock::new();
    D.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("demo");
        let o = Command::new(BIN).args(["demo", root.to_str().unwrap(), "--quiet"]).output().unwrap();
        assert!(o.status.success(), "demo: {}", String::from_utf8_lossy(&o.stderr));
        let bin = dir.path().join("stub");
        std::fs::create_dir_all(&bin).unwrap();
        let marker = dir.path().join("az-called");
        std::fs::write(bin.join("az"), format!("#!/bin/sh\necho \"$@\" >> '{}'\nexit 0\n", marker.display())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("az"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let stub_path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        Demo { case: root.join("case").display().to_string(), dir, stub_path }
    })
}

fn azir(args: &[&str]) -> Output {
    let d = demo();
    Command::new(BIN).args(args).env("PATH", &d.stub_path).stdin(Stdio::null()).output().expect("azir runs")
}

/// Runs azir, expects `code`; returns stdout and stderr.
fn run(args: &[&str], code: i32) -> (String, String) {
    let o = azir(args);
    let (out, err) = (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned());
    assert_eq!(o.status.code(), Some(code), "azir {args:?}\nstdout:\n{out}\nstderr:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!demo().dir.path().join("az-called").exists(), "azir invoked az");
    (out, err)
}

fn out_dir(name: &str) -> PathBuf {
    let p = demo().dir.path().join(name);
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn lint(path: &Path) {
    let o = Command::new("bash").arg("-n").arg(path).output().unwrap();
    assert!(o.status.success(), "bash -n {}: {}", path.display(), String::from_utf8_lossy(&o.stderr));
    let have = Command::new("shellcheck").arg("--version").output().is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            std::env::var("AZIR_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "shellcheck is required (AZIR_REQUIRE_TOOLS=1)"
        );
        eprintln!("SKIP shellcheck: not installed (apt-get install -y shellcheck)");
        return;
    }
    let o = Command::new("shellcheck").arg(path).output().unwrap();
    assert!(o.status.success(), "shellcheck {}:\n{}", path.display(), String::from_utf8_lossy(&o.stdout));
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn lab_plan_on_the_demo() {
    let d = demo();
    let out = out_dir("lab");
    let o = out.to_str().unwrap();
    let (stdout, _) = run(
        &[
            "lab",
            "plan",
            "--case",
            &d.case,
            "--analyst-ip",
            "198.51.100.7",
            "--location",
            "westeurope",
            "--target-vnet",
            "vnet-prod",
            "--out",
            o,
        ],
        0,
    );
    assert!(stdout.contains("checks: clean"), "{stdout}");
    let sh = out.join("lab.sh");
    lint(&sh);
    let text = read(&sh);
    // The demo's VNets are 10.10.0.0/16 and 10.20.0.0/16: the chosen range is clear of both.
    assert!(text.contains("DFIR_VNET_PREFIX='10.250.0.0/24'"), "chosen range");
    assert!(text.contains("# azir:known-prefix 10.10.0.0/16 vnet vnet-prod"));
    assert!(text.contains("TARGET_VNET='vnet-prod'") && text.contains("TARGET_RG='rg-prod-network'"));
    assert!(text.contains("ANALYST_IP='198.51.100.7/32'"));
    for f in ["lab.bicep", "lab-target-peering.bicep"] {
        assert!(out.join(f).exists(), "{f} written");
    }
    // The written files check clean, with the case and on their own.
    let files = [sh.to_str().unwrap().to_string(), out.join("lab.bicep").display().to_string()];
    let (c, _) = run(&["lab", "check", &files[0], &files[1], "--case", &d.case], 0);
    assert!(c.contains("checks: clean"), "{c}");
    let (j, _) = run(&["--json", "lab", "check", &files[0], &files[1]], 0);
    let v: Value = serde_json::from_str(&j).unwrap();
    assert_eq!(v["problems"], 0);
    assert_eq!(v["files"][0]["read"]["rules"], 7);
    assert_eq!(v["files"][1]["format"], "bicep");
    // Without --out the script goes to stdout.
    let (s, err) =
        run(&["lab", "plan", "--case", &d.case, "--analyst-ip", "198.51.100.7/32", "--location", "westeurope"], 0);
    assert!(s.starts_with("#!/usr/bin/env bash\n"), "{s}");
    assert!(err.contains("10.250.0.0/24"), "{err}");
}

#[test]
fn lab_plan_problems_exit_5() {
    let d = demo();
    // An address space typed by hand that overlaps vnet-prod: written, reported, exit 5.
    let out = out_dir("lab-overlap");
    let (j, _) = run(
        &[
            "--json",
            "lab",
            "plan",
            "--case",
            &d.case,
            "--analyst-ip",
            "198.51.100.7/32",
            "--location",
            "westeurope",
            "--address-space",
            "10.10.200.0/24",
            "--out",
            out.to_str().unwrap(),
        ],
        5,
    );
    let v: Value = serde_json::from_str(&j).unwrap();
    let checks: Vec<&str> = v["findings"].as_array().unwrap().iter().map(|f| f["check"].as_str().unwrap()).collect();
    assert!(checks.contains(&"cidr-overlap"), "{checks:?}");
    assert!(out.join("lab.sh").exists());
    // A hand edit that opens SSH to the world.
    let edited = out.join("edited.sh");
    std::fs::write(&edited, read(&out.join("lab.sh")).replace("ANALYST_IP='198.51.100.7/32'", "ANALYST_IP='*'"))
        .unwrap();
    let (t, _) = run(&["lab", "check", edited.to_str().unwrap()], 5);
    assert!(t.contains("mgmt-open") && t.contains("risk:") && t.contains("fix:"), "{t}");
    // Errors: unknown target VNet (known ones listed), unreadable file, bad address.
    let o = azir(&[
        "lab",
        "plan",
        "--case",
        &d.case,
        "--analyst-ip",
        "198.51.100.7",
        "--location",
        "westeurope",
        "--target-vnet",
        "vnet-nope",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("vnet-nope") && err.contains("vnet-prod"), "{err}");
    assert_eq!(azir(&["lab", "check", "/nonexistent/plan.sh"]).status.code(), Some(1));
    assert_eq!(
        azir(&["lab", "plan", "--case", &d.case, "--analyst-ip", "me", "--location", "westeurope"]).status.code(),
        Some(1)
    );
}

#[test]
fn contain_vm_on_the_demo() {
    let d = demo();
    let out = out_dir("contain");
    let (stdout, _) =
        run(&["contain", "plan", "--case", &d.case, "--vm", "vm-app-01", "--out", out.to_str().unwrap()], 0);
    assert!(stdout.contains("checks: clean"), "{stdout}");
    let p = out.join("contain-vm-vm-app-01.sh");
    lint(&p);
    let t = read(&p);
    let at = |s: &str| {
        t.lines().position(|l| !l.trim_start().starts_with('#') && l.contains(s)).unwrap_or_else(|| panic!("lacks {s}"))
    };
    assert!(
        at("az snapshot create") < at("az network nsg create")
            && at("az network nsg create") < at("az network nic update")
    );
    // vnet-prod has an AzureBastionSubnet: kept; the forensic subnet is the lab plan's.
    assert!(t.contains("BASTION_PREFIX='10.10.250.0/26'"), "bastion kept");
    assert!(t.contains("FORENSIC_PREFIX='10.250.0.0/26'"));
    assert!(t.contains("VM_RG='rg-prod-app'"));
    let (c, _) = run(&["lab", "check", p.to_str().unwrap()], 0);
    assert!(c.contains("1 NIC NSG assignment"), "{c}");
    // Cutting the forensic path by hand is caught.
    let cut = out.join("cut.sh");
    std::fs::write(&cut, t.replace("FORENSIC_PREFIX='10.250.0.0/26'", "FORENSIC_PREFIX='192.0.2.0/24'")).unwrap();
    let (c, _) = run(&["lab", "check", cut.to_str().unwrap()], 5);
    assert!(c.contains("forensic-path-cut"), "{c}");
    // Unknown VM: error naming the known ones.
    let o = azir(&["contain", "plan", "--case", &d.case, "--vm", "vm-nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("vm-web-01"));
    // One target only.
    assert_eq!(azir(&["contain", "plan", "--case", &d.case, "--vm", "a", "--user", "b"]).status.code(), Some(2));
}

#[test]
fn contain_identities_on_the_demo() {
    let d = demo();
    // The demo's backdoor: a secret added to the "Azure Sync Service" app and its SP by megan.
    let (j, _) = run(&["--json", "contain", "plan", "--case", &d.case, "--user", "megan@contoso.com"], 0);
    let v: Value = serde_json::from_str(&j).unwrap();
    let script = v["script"].as_str().unwrap();
    assert!(script.contains("USER_UPN='megan@contoso.com'"));
    let at = |s: &str| {
        script
            .lines()
            .position(|l| !l.trim_start().starts_with('#') && l.contains(s))
            .unwrap_or_else(|| panic!("lacks {s}"))
    };
    assert!(at("--account-enabled false") < at("revokeSignInSessions"));
    assert!(script.contains("'157c1e36-0977-4db0-81ea-b7075adfcddd'"), "the added key id");
    assert!(at("az ad app credential delete") > at("revokeSignInSessions"));
    assert!(script.contains("az ad sp credential delete"));
    assert!(script.contains("roleAssignments/98dd4eef-ebe6-4f4e-b1bb-135b9b9e27af"), "megan's grant listed");
    assert_eq!(v["findings"].as_array().unwrap().len(), 0);
    let creds = v["credentials"].as_array().unwrap();
    assert!(creds
        .iter()
        .any(|c| c["key_id"] == "157c1e36-0977-4db0-81ea-b7075adfcddd" && c["target_type"] == "ServicePrincipal"));

    let out = out_dir("contain-app");
    run(&["contain", "plan", "--case", &d.case, "--app", "Azure Sync Service", "--out", out.to_str().unwrap()], 0);
    let p = out.join("contain-app-azure-sync-service.sh");
    lint(&p);
    let t = read(&p);
    assert!(t.contains("APP_ID='303eaaf8-969d-4672-9f8c-671bc3d95ed8'"), "display name resolved to the app id");
    assert!(t.contains("az ad sp update --id \"${APP_ID}\" --set accountEnabled=false"));
    assert!(t.contains("az ad app credential delete --id \"${CRED_1_OBJECT}\" --key-id \"${CRED_1_KEY}\""));
    // A user who added nothing: a valid plan and a note.
    let (_, err) = run(&["contain", "plan", "--case", &d.case, "--user", "adele@contoso.com"], 0);
    assert!(err.contains("no credential added by adele@contoso.com"), "{err}");
}
