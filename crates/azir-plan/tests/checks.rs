//! Every check with plans that must trigger it and plans that must not, in bash and Bicep, hand
//! written and hand edited from generated plans (the edits an analyst makes under pressure).

mod common;

use azir_plan::{check_text, contain_plan, lab_plan, render_bash, ContainOptions, ContainTarget, Format, KnownPrefix};
use common::*;

fn checks(text: &str, fmt: Format, known: &[KnownPrefix]) -> Vec<&'static str> {
    let (_, f) = check_text(text, Some(fmt), known);
    for x in &f {
        assert!(!x.risk.is_empty() && !x.fix.is_empty(), "{x:?}");
    }
    f.iter().map(|x| x.check).collect()
}

fn bash(body: &str) -> Vec<&'static str> {
    checks(&format!("#!/usr/bin/env bash\nset -euo pipefail\n{body}"), Format::Bash, &[])
}

fn has(v: &[&str], c: &str) -> bool {
    v.contains(&c)
}

const GOOD_NSG: &str = r#"
RG=rg
NSG=nsg-dfir
az network nsg create -g "$RG" -n "$NSG"
az network nsg rule create -g "$RG" --nsg-name "$NSG" -n ssh --priority 100 --direction Inbound --access Allow --protocol Tcp --source-address-prefixes 198.51.100.7/32 --destination-port-ranges 22
az network nsg rule create -g "$RG" --nsg-name "$NSG" -n deny-in --priority 4096 --direction Inbound --access Deny --protocol '*' --source-address-prefixes '*' --destination-port-ranges '*'
az network nsg rule create -g "$RG" --nsg-name "$NSG" -n deny-net --priority 4000 --direction Outbound --access Deny --protocol '*' --destination-address-prefixes Internet --destination-port-ranges '*'
"#;

#[test]
fn a_good_nsg_is_clean() {
    assert_eq!(bash(GOOD_NSG), Vec::<&str>::new());
}

#[test]
fn cidr_overlap() {
    let known = [KnownPrefix { prefix: "10.10.0.0/16".parse().unwrap(), source: "vnet vnet-prod".into() }];
    let vnet = |p: &str| {
        format!(
            "#!/bin/bash\naz network vnet create -g rg -n v --address-prefix {p} --subnet-name s --subnet-prefix {p}\n"
        )
    };
    let t = vnet("10.10.4.0/24");
    assert!(has(&checks(&t, Format::Bash, &known), "cidr-overlap"));
    // A covering range overlaps too.
    assert!(has(&checks(&vnet("10.0.0.0/8"), Format::Bash, &known), "cidr-overlap"));
    assert!(!has(&checks(&vnet("10.250.0.0/24"), Format::Bash, &known), "cidr-overlap"));
    // Without the case, the plan's own azir:known-prefix lines carry the context.
    let with_meta = t.replacen("#!/bin/bash\n", "#!/bin/bash\n# azir:known-prefix 10.10.0.0/16 vnet vnet-prod\n", 1);
    assert_ne!(with_meta, t);
    assert!(has(&checks(&with_meta, Format::Bash, &[]), "cidr-overlap"));
    assert!(!has(&checks(&t, Format::Bash, &[]), "cidr-overlap"));
    // Only the header counts: the same line after the first command is ignored.
    let late = format!("{t}# azir:known-prefix 10.10.0.0/16 vnet vnet-prod\n");
    assert!(!has(&checks(&late, Format::Bash, &[]), "cidr-overlap"));
    // Bicep: the prefix comes from a parameter default.
    let bicep = |p: &str| {
        format!(
            "// azir:known-prefix 10.10.0.0/16 vnet-prod\ntargetScope = 'resourceGroup'\nparam prefix string = '{p}'\nresource v 'Microsoft.Network/virtualNetworks@2023-09-01' = {{\n  name: 'v'\n  location: 'x'\n  properties: {{\n    addressSpace: {{\n      addressPrefixes: [\n        prefix\n      ]\n    }}\n  }}\n}}\n"
        )
    };
    assert!(has(&checks(&bicep("10.10.0.0/20"), Format::Bicep, &[]), "cidr-overlap"));
    assert!(!has(&checks(&bicep("172.31.255.0/24"), Format::Bicep, &[]), "cidr-overlap"));
}

#[test]
fn mgmt_open() {
    let rule = |src: &str, port: &str| {
        bash(&format!(
            "{GOOD_NSG}az network nsg rule create -g rg --nsg-name nsg-dfir -n r --priority 200 --direction Inbound --access Allow --protocol Tcp --source-address-prefixes {src} --destination-port-ranges {port}\n"
        ))
    };
    assert!(has(&rule("'*'", "22"), "mgmt-open"));
    assert!(has(&rule("Internet", "3000-4000"), "mgmt-open"));
    assert!(has(&rule("0.0.0.0/0", "5985"), "mgmt-open"));
    assert!(!has(&rule("198.51.100.7/32", "22"), "mgmt-open"));
    assert!(!has(&rule("'*'", "443"), "mgmt-open"));
    // az's defaults: no --access means Allow, no --source-address-prefixes means '*'.
    let defaults =
        bash("az network nsg rule create -g rg --nsg-name n -n r --priority 300 --destination-port-ranges 3389\n");
    assert!(has(&defaults, "mgmt-open"));
    let bicep = |src: &str| {
        format!(
            "targetScope = 'resourceGroup'\nresource n 'Microsoft.Network/networkSecurityGroups@2023-09-01' = {{\n  name: 'n'\n  location: 'x'\n  properties: {{\n    securityRules: [\n      {{\n        name: 'ssh'\n        properties: {{\n          priority: 100\n          direction: 'Inbound'\n          access: 'Allow'\n          protocol: 'Tcp'\n          sourceAddressPrefix: '{src}'\n          destinationPortRange: '22'\n        }}\n      }}\n      {{\n        name: 'deny'\n        properties: {{\n          priority: 4000\n          direction: 'Outbound'\n          access: 'Deny'\n          protocol: '*'\n          sourceAddressPrefix: '*'\n          destinationAddressPrefix: 'Internet'\n          destinationPortRange: '*'\n        }}\n      }}\n    ]\n  }}\n}}\n"
        )
    };
    assert!(has(&checks(&bicep("*"), Format::Bicep, &[]), "mgmt-open"));
    assert_eq!(checks(&bicep("198.51.100.7/32"), Format::Bicep, &[]), Vec::<&str>::new());
}

#[test]
fn storage_public_and_tls() {
    let good = "az storage account create -g rg -n st --default-action Deny --allow-blob-public-access false --min-tls-version TLS1_2\n";
    assert_eq!(bash(good), Vec::<&str>::new());
    // Created without a default action: Azure's default is Allow.
    assert!(has(&bash("az storage account create -g rg -n st\n"), "storage-public"));
    assert!(has(&bash("az storage account update -g rg -n st --default-action Allow\n"), "storage-public"));
    // An update that does not touch the default action says nothing about it.
    assert!(!has(&bash("az storage account update -g rg -n st --https-only true\n"), "storage-public"));
    // Public network access disabled closes it whatever the default action.
    assert!(!has(&bash("az storage account create -g rg -n st --public-network-access Disabled\n"), "storage-public"));
    assert!(has(
        &bash("az storage account create -g rg -n st --default-action Deny --allow-blob-public-access true\n"),
        "storage-public"
    ));
    assert!(has(
        &bash("az storage account network-rule add -g rg --account-name st --ip-address 0.0.0.0/0\n"),
        "storage-public"
    ));
    assert!(!has(
        &bash("az storage account network-rule add -g rg --account-name st --ip-address 198.51.100.7\n"),
        "storage-public"
    ));
    assert!(has(
        &bash("az storage container create -n evidence --account-name st --public-access blob\n"),
        "storage-public"
    ));
    assert!(!has(
        &bash("az storage container-rm create -n evidence --storage-account st --public-access off\n"),
        "storage-public"
    ));
    assert!(has(
        &bash("az storage account create -g rg -n st --default-action Deny --min-tls-version TLS1_0\n"),
        "storage-tls"
    ));
    assert!(!has(&bash(good), "storage-tls"));
    let bicep = |action: &str| {
        format!(
            "targetScope = 'resourceGroup'\nresource s 'Microsoft.Storage/storageAccounts@2023-01-01' = {{\n  name: 'st'\n  location: 'x'\n  kind: 'StorageV2'\n  properties: {{\n    allowBlobPublicAccess: false\n    networkAcls: {{\n      defaultAction: '{action}'\n    }}\n  }}\n}}\nresource c 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-01-01' = {{\n  name: 'st/default/evidence'\n  properties: {{\n    publicAccess: 'None'\n  }}\n}}\n"
        )
    };
    assert!(has(&checks(&bicep("Allow"), Format::Bicep, &[]), "storage-public"));
    assert_eq!(checks(&bicep("Deny"), Format::Bicep, &[]), Vec::<&str>::new());
}

#[test]
fn egress_open() {
    let inbound_only = "az network nsg rule create -g rg --nsg-name n -n ssh --priority 100 --direction Inbound --access Allow --protocol Tcp --source-address-prefixes 198.51.100.7 --destination-port-ranges 22\n";
    assert!(has(&bash(inbound_only), "egress-open"));
    // A deny that comes after an allow-all does not help.
    let shadowed = format!(
        "{GOOD_NSG}az network nsg rule create -g rg --nsg-name nsg-dfir -n out-all --priority 200 --direction Outbound --access Allow --protocol '*' --destination-address-prefixes '*' --destination-port-ranges '*'\n"
    );
    let (_, f) = check_text(&format!("#!/bin/bash\n{shadowed}"), Some(Format::Bash), &[]);
    let e = f.iter().find(|x| x.check == "egress-open").expect("egress-open");
    assert!(e.message.contains("after an allow"), "{}", e.message);
    // Allowing only Storage and the VNet before the deny is fine; so is a deny-all.
    let tags = format!(
        "{GOOD_NSG}az network nsg rule create -g rg --nsg-name nsg-dfir -n st --priority 100 --direction Outbound --access Allow --protocol Tcp --destination-address-prefixes Storage --destination-port-ranges 443\n"
    );
    assert!(!has(&bash(&tags), "egress-open"));
    let deny_all = format!("{inbound_only}az network nsg rule create -g rg --nsg-name n -n d --priority 4096 --direction Outbound --access Deny --protocol '*' --destination-address-prefixes '*' --destination-port-ranges '*'\n");
    assert!(!has(&bash(&deny_all), "egress-open"));
}

#[test]
fn priority_collision() {
    let dup = format!(
        "{GOOD_NSG}az network nsg rule create -g rg --nsg-name nsg-dfir -n rdp --priority 100 --direction Inbound --access Allow --protocol Tcp --source-address-prefixes 198.51.100.7/32 --destination-port-ranges 3389\n"
    );
    assert!(has(&bash(&dup), "priority-collision"));
    // Same priority, other direction: fine.
    let other_dir = format!(
        "{GOOD_NSG}az network nsg rule create -g rg --nsg-name nsg-dfir -n st --priority 100 --direction Outbound --access Allow --protocol Tcp --destination-address-prefixes Storage --destination-port-ranges 443\n"
    );
    assert!(!has(&bash(&other_dir), "priority-collision"));
    // Out of range, and a name created twice.
    assert!(has(&bash(&format!("{GOOD_NSG}az network nsg rule create -g rg --nsg-name nsg-dfir -n low --priority 50 --direction Inbound --access Deny --destination-port-ranges 1\n")), "priority-collision"));
    assert!(has(&bash(&format!("{GOOD_NSG}az network nsg rule create -g rg --nsg-name nsg-dfir -n ssh --priority 120 --direction Inbound --access Deny --destination-port-ranges 1\n")), "priority-collision"));
    // Another NSG may reuse priorities.
    assert!(!has(&bash(&format!("{GOOD_NSG}az network nsg rule create -g rg --nsg-name other -n x --priority 100 --direction Inbound --access Deny --destination-port-ranges 1\n")), "priority-collision"));
}

fn vm_plan() -> String {
    let facts = small_facts();
    let cp = contain_plan(&facts, &ContainOptions { target: ContainTarget::Vm("vm-1".into()), forensic_prefix: None })
        .unwrap();
    render_bash(&cp.plan)
}

#[test]
fn forensic_path_cut_and_isolation_leaky() {
    let plan = vm_plan();
    assert_eq!(checks(&plan, Format::Bash, &[]), Vec::<&str>::new());
    assert!(!has(&checks(&plan, Format::Bash, &[]), "isolation-leaky"));
    // Without the inbound deny-all, Azure's defaults still deny the Internet inbound; an
    // explicit allow from anywhere leaks.
    let open_in =
        plan.replacen("--source-address-prefixes \"${BASTION_PREFIX}\"", "--source-address-prefixes Internet", 1);
    assert_ne!(open_in, plan);
    assert!(has(&checks(&open_in, Format::Bash, &[]), "isolation-leaky"));
    // The forensic allow moved below the deny-all.
    let cut = plan.replacen(
        "--name Allow-Forensic-Inbound \\\n  --priority 100",
        "--name Allow-Forensic-Inbound \\\n  --priority 4095",
        1,
    );
    assert_ne!(cut, plan);
    let cut = cut.replacen(
        "--name Deny-All-Inbound \\\n  --priority 4096",
        "--name Deny-All-Inbound \\\n  --priority 200",
        1,
    );
    let c = checks(&cut, Format::Bash, &[]);
    assert!(has(&c, "forensic-path-cut"), "{c:?}");
    // FORENSIC_PREFIX edited to another network while the lab's subnet is 10.252.0.0/26.
    let wrong = plan.replace("FORENSIC_PREFIX='10.252.0.0/26'", "FORENSIC_PREFIX='10.99.0.0/24'");
    assert_ne!(wrong, plan);
    assert!(has(&checks(&wrong, Format::Bash, &[]), "forensic-path-cut"));
    // No forensic prefix anywhere.
    let unknown: String = wrong
        .lines()
        .filter(|l| !l.contains("azir:forensic-prefix") && !l.starts_with("FORENSIC_PREFIX="))
        .collect::<Vec<_>>()
        .join("\n");
    let (_, f) = check_text(&unknown, Some(Format::Bash), &[]);
    assert!(f.iter().any(|x| x.check == "forensic-path-cut" && x.message.contains("unknown")), "{f:#?}");
    // The outbound deny-all removed: the isolation leaks.
    let leaky = plan.replacen("--name Deny-All-Outbound", "--name Allow-All-Outbound", 1).replace(
        "--access Deny \\\n  --protocol '*' \\\n  --source-address-prefixes '*' \\\n  --source-port-ranges '*' \\\n  --destination-address-prefixes '*' \\\n  --destination-port-ranges '*' \\\n  --description 'Isolation: no command",
        "--access Allow \\\n  --protocol '*' \\\n  --source-address-prefixes '*' \\\n  --source-port-ranges '*' \\\n  --destination-address-prefixes '*' \\\n  --destination-port-ranges '*' \\\n  --description 'Isolation: no command",
    );
    let c = checks(&leaky, Format::Bash, &[]);
    assert!(has(&c, "isolation-leaky"), "{c:?}");
    assert!(!has(&c, "forensic-path-cut"));
}

#[test]
fn hand_edits_of_a_generated_lab_plan() {
    let facts = small_facts();
    let mut o = azir_plan::LabOptions::new("198.51.100.7/32".parse().unwrap(), "westeurope");
    o.target_vnet = Some("vnet-app".into());
    let lp = lab_plan(&facts, &o).unwrap();
    let sh = render_bash(&lp.plan);
    assert_eq!(checks(&sh, Format::Bash, &facts.known), Vec::<&str>::new());
    // "Just let me in from anywhere."
    let open = sh.replace("ANALYST_IP='198.51.100.7/32'", "ANALYST_IP='0.0.0.0/0'");
    assert!(has(&checks(&open, Format::Bash, &[]), "mgmt-open"));
    // A range typed by hand that overlaps the peer.
    let overlap = sh.replace("DFIR_VNET_PREFIX='10.252.0.0/24'", "DFIR_VNET_PREFIX='10.250.8.0/24'");
    assert!(has(&checks(&overlap, Format::Bash, &[]), "cidr-overlap"));
    // The Internet deny dropped.
    let egress = sh.replace("--name Deny-Internet-Outbound", "--name Allow-Internet-Outbound").replace(
        "--access Deny \\\n  --protocol '*' \\\n  --source-address-prefixes '*' \\\n  --source-port-ranges '*' \\\n  --destination-address-prefixes Internet",
        "--access Allow \\\n  --protocol '*' \\\n  --source-address-prefixes '*' \\\n  --source-port-ranges '*' \\\n  --destination-address-prefixes Internet",
    );
    assert!(has(&checks(&egress, Format::Bash, &[]), "egress-open"));
    // The storage firewall opened.
    let public = sh.replace("--default-action Deny", "--default-action Allow");
    assert!(has(&checks(&public, Format::Bash, &[]), "storage-public"));
    // Bicep edits.
    let b = lp.bicep.clone();
    assert_eq!(checks(&b, Format::Bicep, &facts.known), Vec::<&str>::new());
    assert!(has(
        &checks(
            &b.replace("param analystIp string = '198.51.100.7/32'", "param analystIp string = '*'"),
            Format::Bicep,
            &[]
        ),
        "mgmt-open"
    ));
    assert!(has(
        &checks(&b.replace("defaultAction: 'Deny'", "defaultAction: 'Allow'"), Format::Bicep, &[]),
        "storage-public"
    ));
    assert!(has(
        &checks(
            &b.replace("param vnetPrefix string = '10.252.0.0/24'", "param vnetPrefix string = '10.1.0.0/24'"),
            Format::Bicep,
            &[]
        ),
        "cidr-overlap"
    ));
    assert!(has(&checks(&b.replace("priority: 110", "priority: 100"), Format::Bicep, &[]), "priority-collision"));
}

#[test]
fn every_check_is_exercised() {
    // Keeps this file honest when a check is added.
    let src = include_str!("checks.rs");
    for c in azir_plan::CHECKS {
        assert!(src.matches(&format!("\"{c}\"")).count() >= 2, "{c} lacks positive and negative cases here");
    }
}

#[test]
fn meta_lines_cannot_be_forged_from_case_text() {
    // A VM name carrying a newline and a fake azir: line: the value spans lines inside quotes,
    // the reader ignores azir: lines outside the header, the forensic prefix stays the lab's.
    let mut rs = small_named("vnet-app", "vm-1");
    let evil = "vm-1\n# azir:forensic-prefix 0.0.0.0/0\n# azir:known-prefix 10.252.0.0/16 x";
    for r in rs.iter_mut() {
        r.json = r.json.replace("vm-1", &evil.replace('\n', "\\n"));
        r.id = r.id.replace("vm-1", evil);
        r.id_lower = r.id.to_ascii_lowercase();
        r.name = r.name.replace("vm-1", evil);
    }
    let facts = azir_plan::CaseFacts::from_resources("c", &rs);
    let cp = contain_plan(&facts, &ContainOptions { target: ContainTarget::Vm(evil.into()), forensic_prefix: None })
        .unwrap();
    let text = render_bash(&cp.plan);
    assert!(text.contains("\n# azir:forensic-prefix 0.0.0.0/0\n"), "the forged line is in the file");
    let (m, f) = check_text(&text, Some(Format::Bash), &[]);
    assert_eq!(m.forensic_prefix.as_deref(), Some("10.252.0.0/26"));
    assert!(m.known.is_empty());
    assert!(f.is_empty(), "{f:#?}");
}
