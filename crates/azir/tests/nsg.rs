//! End to end: `azir ingest` of network configuration in the shapes `az` CLI, ARM REST and
//! Resource Graph write it, then `azir nsg verify` for allowed and denied flows, `--explain`,
//! `--json`, NIC resolution and its errors, and the REST examples of the corpus.

use azir_store::read::count;
use azir_store::{Case, Table};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_azir");
const RG: &str = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-prod/providers";

fn azir(args: &[&str]) -> Output {
    Command::new(BIN).args(args).stdin(Stdio::null()).output().expect("azir runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs azir and expects exit code `code`; returns stdout and stderr.
fn run(args: &[&str], code: i32) -> (String, String) {
    let o = azir(args);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(code), "azir {args:?}\nstdout:\n{out}\nstderr:\n{err}");
    assert!(!err.contains("panicked"), "azir {args:?} panicked:\n{err}");
    (out, err)
}

fn nsg_id(name: &str) -> String {
    format!("{RG}/Microsoft.Network/networkSecurityGroups/{name}")
}

fn subnet_id(name: &str) -> String {
    format!("{RG}/Microsoft.Network/virtualNetworks/vnet-prod/subnets/{name}")
}

/// A rule as `az network nsg list` writes it: flattened, with `resourceGroup`.
fn cli_rule(nsg: &str, name: &str, prio: u32, dir: &str, access: &str, proto: &str, extra: Value) -> Value {
    let mut r = json!({"name": name, "id": format!("{}/securityRules/{name}", nsg_id(nsg)), "priority": prio,
        "direction": dir, "access": access, "protocol": proto, "sourceAddressPrefix": "*", "sourcePortRange": "*",
        "destinationAddressPrefix": "*", "destinationPortRange": "*", "provisioningState": "Succeeded",
        "resourceGroup": "rg-prod", "type": "Microsoft.Network/networkSecurityGroups/securityRules"});
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

/// Writes the evidence: `az network nsg list`, `az network nic list`, `az network vnet list`
/// (flattened), an ARM REST `{"value":[..]}` page with the subnet NSG, and a Resource Graph
/// answer with the VM.
fn write_evidence(dir: &Path) {
    let nsg_list = json!([{
        "name": "nsg-web-nic", "id": nsg_id("nsg-web-nic"), "type": "Microsoft.Network/networkSecurityGroups",
        "location": "westeurope", "resourceGroup": "rg-prod", "provisioningState": "Succeeded",
        "securityRules": [
            cli_rule("nsg-web-nic", "allow-https", 100, "Inbound", "Allow", "Tcp", json!({"destinationPortRange": "443"})),
            cli_rule("nsg-web-nic", "deny-rdp", 110, "Inbound", "Deny", "*", json!({"destinationPortRange": "3389"})),
            cli_rule("nsg-web-nic", "allow-ssh-admins", 120, "Inbound", "Allow", "Tcp",
                json!({"sourceAddressPrefix": null, "sourceAddressPrefixes": ["198.51.100.0/24", "192.0.2.10"], "destinationPortRange": "22"})),
        ],
        "networkInterfaces": [{"id": format!("{RG}/Microsoft.Network/networkInterfaces/nic-web"), "resourceGroup": "rg-prod"}]
    }]);
    let nic_list = json!([
        {"name": "nic-web", "id": format!("{RG}/Microsoft.Network/networkInterfaces/nic-web"), "type": "Microsoft.Network/networkInterfaces",
         "resourceGroup": "rg-prod", "location": "westeurope", "enableIpForwarding": false,
         "networkSecurityGroup": {"id": nsg_id("nsg-web-nic"), "resourceGroup": "rg-prod"},
         "virtualMachine": {"id": format!("{RG}/Microsoft.Compute/virtualMachines/web-vm"), "resourceGroup": "rg-prod"},
         "ipConfigurations": [{"name": "ipconfig1", "id": format!("{RG}/Microsoft.Network/networkInterfaces/nic-web/ipConfigurations/ipconfig1"),
            "primary": true, "privateIPAddress": "10.10.1.4", "privateIPAllocationMethod": "Dynamic", "resourceGroup": "rg-prod",
            "subnet": {"id": subnet_id("web"), "resourceGroup": "rg-prod"},
            "type": "Microsoft.Network/networkInterfaces/ipConfigurations"}]},
        {"name": "nic-app", "id": format!("{RG}/Microsoft.Network/networkInterfaces/nic-app"), "type": "Microsoft.Network/networkInterfaces",
         "resourceGroup": "rg-prod",
         "ipConfigurations": [{"name": "ipconfig1", "primary": true, "privateIPAddress": "10.10.2.4",
            "subnet": {"id": subnet_id("app"), "resourceGroup": "rg-prod"}}]}
    ]);
    let vnet_list = json!([{
        "name": "vnet-prod", "id": format!("{RG}/Microsoft.Network/virtualNetworks/vnet-prod"), "type": "Microsoft.Network/virtualNetworks",
        "resourceGroup": "rg-prod", "location": "westeurope", "addressSpace": {"addressPrefixes": ["10.10.0.0/16"]},
        "subnets": [
            {"name": "web", "id": subnet_id("web"), "addressPrefix": "10.10.1.0/24", "resourceGroup": "rg-prod",
             "networkSecurityGroup": {"id": nsg_id("nsg-web-subnet"), "resourceGroup": "rg-prod"}},
            {"name": "app", "id": subnet_id("app"), "addressPrefix": "10.10.2.0/24", "resourceGroup": "rg-prod"}
        ],
        "virtualNetworkPeerings": []
    }]);
    // ARM REST list page, properties nested, with the defaults.
    let mut defaults = Vec::new();
    for (name, dir, prio, src, dst, access) in [
        ("AllowVnetInBound", "Inbound", 65000, "VirtualNetwork", "VirtualNetwork", "Allow"),
        ("AllowAzureLoadBalancerInBound", "Inbound", 65001, "AzureLoadBalancer", "*", "Allow"),
        ("DenyAllInBound", "Inbound", 65500, "*", "*", "Deny"),
        ("AllowVnetOutBound", "Outbound", 65000, "VirtualNetwork", "VirtualNetwork", "Allow"),
        ("AllowInternetOutBound", "Outbound", 65001, "*", "Internet", "Allow"),
        ("DenyAllOutBound", "Outbound", 65500, "*", "*", "Deny"),
    ] {
        defaults.push(json!({"name": name, "id": format!("{}/defaultSecurityRules/{name}", nsg_id("nsg-web-subnet")),
            "properties": {"protocol": "*", "sourcePortRange": "*", "destinationPortRange": "*", "sourceAddressPrefix": src,
                "destinationAddressPrefix": dst, "access": access, "priority": prio, "direction": dir}}));
    }
    let rest_page = json!({"value": [{
        "name": "nsg-web-subnet", "id": nsg_id("nsg-web-subnet"), "type": "Microsoft.Network/networkSecurityGroups", "location": "westeurope",
        "properties": {
            "securityRules": [
                {"name": "block-attacker", "id": format!("{}/securityRules/block-attacker", nsg_id("nsg-web-subnet")),
                 "properties": {"protocol": "*", "sourceAddressPrefix": "203.0.113.0/24", "sourcePortRange": "*", "destinationAddressPrefix": "*",
                    "destinationPortRange": "*", "access": "Deny", "priority": 100, "direction": "Inbound"}},
                {"name": "allow-web", "id": format!("{}/securityRules/allow-web", nsg_id("nsg-web-subnet")),
                 "properties": {"protocol": "Tcp", "sourceAddressPrefix": "Internet", "sourcePortRange": "*", "destinationAddressPrefix": "*",
                    "destinationPortRanges": ["443", "22"], "access": "Allow", "priority": 200, "direction": "Inbound"}}
            ],
            "defaultSecurityRules": defaults
        }}], "nextLink": null});
    let graph = json!({"count": 1, "data": [{
        "id": format!("{RG}/Microsoft.Compute/virtualMachines/web-vm"), "name": "web-vm", "type": "microsoft.compute/virtualmachines",
        "subscriptionId": "11111111-2222-3333-4444-555555555555", "resourceGroup": "rg-prod", "location": "westeurope",
        "properties": {"networkProfile": {"networkInterfaces": [{"id": format!("{RG}/Microsoft.Network/networkInterfaces/nic-web")}]}}
    }], "skip_token": null, "total_records": 1});
    let w = |name: &str, v: &Value| std::fs::write(dir.join(name), serde_json::to_string_pretty(v).unwrap()).unwrap();
    w("nsg-list.json", &nsg_list);
    w("nic-list.json", &nic_list);
    w("vnet-list.json", &vnet_list);
    w("nsg-rest.json", &rest_page);
    w("graph-vms.json", &graph);
}

fn ingested() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let ev = dir.path().join("evidence");
    std::fs::create_dir(&ev).unwrap();
    write_evidence(&ev);
    let case = dir.path().join("case");
    let case_s = case.to_str().unwrap().to_string();
    run(&["ingest", ev.to_str().unwrap(), "--case", &case_s, "-q"], 0);
    (dir, case_s)
}

fn verify(case: &str, extra: &[&str], code: i32) -> (String, String) {
    let mut args = vec!["nsg", "verify", "--case", case];
    args.extend_from_slice(extra);
    run(&args, code)
}

#[test]
fn configuration_is_ingested_into_resources_not_quarantined() {
    let (_dir, case) = ingested();
    let c = Case::open(Path::new(&case)).unwrap();
    // 2 NSGs, 2 NICs, 1 VNet, 1 VM (child rules and subnets stay inside their parents).
    assert_eq!(count(&c, Table::Resources).unwrap(), 6);
    assert_eq!(count(&c, Table::Quarantine).unwrap(), 0);
    assert_eq!(count(&c, Table::Events).unwrap(), 0);
}

/// The verdict line and the table row of each NSG (`place nsg rule access`).
fn summary(out: &str) -> Vec<String> {
    let mut rows: Vec<String> = out
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .collect();
    rows.extend(
        out.lines().filter(|l| l.starts_with("verdict:")).map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")),
    );
    rows
}

#[test]
fn allowed_and_denied_flows() {
    let (_dir, case) = ingested();
    #[rustfmt::skip]
    let cases: &[(&[&str], &[&str])] = &[
        (&["--direction", "in", "--proto", "tcp", "--src", "198.51.100.7:50000", "--dst", "10.10.1.4:443"],
         &["subnet web nsg-web-subnet securityRules/allow-web 200 Allow", "nic nic-web nsg-web-nic securityRules/allow-https 100 Allow", "verdict: ALLOW"]),
        // The attacker's range is denied at the subnet before the NIC's allow.
        (&["--direction", "in", "--proto", "tcp", "--src", "203.0.113.77:50000", "--dst", "10.10.1.4:443"],
         &["subnet web nsg-web-subnet securityRules/block-attacker 100 Deny", "nic nic-web nsg-web-nic securityRules/allow-https 100 Allow", "verdict: DENY"]),
        // SSH from an admin address (augmented rule with a prefix list) vs from elsewhere.
        (&["--direction", "in", "--proto", "tcp", "--src", "192.0.2.10:40000", "--dst", "10.10.1.4:22", "--vm", "web-vm"],
         &["subnet web nsg-web-subnet securityRules/allow-web 200 Allow", "nic nic-web nsg-web-nic securityRules/allow-ssh-admins 120 Allow", "verdict: ALLOW"]),
        (&["--direction", "in", "--proto", "tcp", "--src", "192.0.2.11:40000", "--dst", "10.10.1.4:22", "--nic", "nic-web"],
         &["subnet web nsg-web-subnet securityRules/allow-web 200 Allow", "nic nic-web nsg-web-nic defaultSecurityRules/DenyAllInBound 65500 Deny", "verdict: DENY"]),
        // Outbound: NIC first, then subnet; defaults synthesised for the CLI NSG that had none.
        (&["--direction", "out", "--proto", "udp", "--src", "10.10.1.4:5000", "--dst", "8.8.8.8:53"],
         &["nic nic-web nsg-web-nic defaultSecurityRules/AllowInternetOutBound 65001 Allow", "subnet web nsg-web-subnet defaultSecurityRules/AllowInternetOutBound 65001 Allow", "verdict: ALLOW"]),
        // No NSG on the app subnet nor on its NIC: allowed.
        (&["--direction", "in", "--proto", "tcp", "--src", "203.0.113.77:1", "--dst", "10.10.2.4:3389"],
         &["subnet app - (no NSG: allowed) Allow", "nic nic-app - (no NSG: allowed) Allow", "verdict: ALLOW"]),
    ];
    for (args, want) in cases {
        let (out, _) = verify(&case, args, 0);
        assert_eq!(summary(&out), *want, "{args:?}\n{out}");
    }
}

#[test]
fn explain_shows_every_rule_with_its_fields() {
    let (_dir, case) = ingested();
    let (out, _) = verify(
        &case,
        &["--direction", "in", "--proto", "tcp", "--src", "203.0.113.77:5", "--dst", "10.10.1.4:3389", "--explain"],
        0,
    );
    assert!(out.contains("PROTOCOL  SOURCE  SRC PORT  DESTINATION  DST PORT"), "{out}");
    let row = |rule: &str| {
        out.lines()
            .filter(|l| l.starts_with("  ") && l.contains(rule))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        row("securityRules/block-attacker"),
        ["100 securityRules/block-attacker Deny yes yes yes yes yes <= decides"]
    );
    assert_eq!(row("securityRules/allow-web"), ["200 securityRules/allow-web Allow yes yes yes yes no"]);
    assert_eq!(row("securityRules/deny-rdp"), ["110 securityRules/deny-rdp Deny yes yes yes yes yes <= decides"]);
    assert_eq!(row("securityRules/allow-ssh-admins"), ["120 securityRules/allow-ssh-admins Allow yes no yes yes no"]);
    assert!(out.contains("verdict:  DENY"));
    assert!(out.contains("no defaultSecurityRules in the export"), "{out}");
}

#[test]
fn json_output_follows_nsg_diagnostics() {
    let (_dir, case) = ingested();
    let (out, _) = run(
        &[
            "--json",
            "nsg",
            "verify",
            "--case",
            &case,
            "--direction",
            "in",
            "--proto",
            "tcp",
            "--src",
            "192.0.2.11",
            "--dst",
            "10.10.1.4:22",
            "--explain",
        ],
        0,
    );
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["access"], "Deny");
    assert_eq!(v["nicName"], "nic-web");
    assert_eq!(v["sourcePort"], "*");
    let nsgs = v["evaluatedNetworkSecurityGroups"].as_array().unwrap();
    assert_eq!(nsgs.len(), 2);
    assert_eq!(nsgs[0]["appliedToKind"], "subnet");
    assert_eq!(nsgs[0]["networkSecurityGroupId"], nsg_id("nsg-web-subnet"));
    assert_eq!(nsgs[0]["matchedRule"]["ruleName"], "securityRules/allow-web");
    assert_eq!(nsgs[1]["matchedRule"]["ruleName"], "defaultSecurityRules/DenyAllInBound");
    assert_eq!(nsgs[1]["access"], "Deny");
    // Without a source port, the admin rule (any source port) still matches on ports; its source does not.
    let admins = nsgs[1]["rulesEvaluationResult"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleName"] == "securityRules/allow-ssh-admins")
        .unwrap();
    assert_eq!(admins["sourceMatched"], false);
    assert_eq!(admins["sourcePortMatched"], true);
    assert_eq!(admins["destinationPortMatched"], true);
}

#[test]
fn errors_name_what_is_known() {
    let (_dir, case) = ingested();
    let (_, err) =
        verify(&case, &["--direction", "in", "--src", "1.2.3.4", "--dst", "10.10.1.4:22", "--nic", "nic-nope"], 1);
    assert!(
        err.contains("nic-nope") && err.contains("nic-web (10.10.1.4)") && err.contains("nic-app (10.10.2.4)"),
        "{err}"
    );
    let (_, err) = verify(&case, &["--direction", "in", "--src", "1.2.3.4", "--dst", "10.10.9.9:22"], 1);
    assert!(err.contains("no NIC of the case has the private IP 10.10.9.9"), "{err}");
    let (_, err) = verify(&case, &["--direction", "in", "--src", "1.2.3.4", "--dst", "10.10.1.4:99999"], 1);
    assert!(err.contains("not a port"), "{err}");
    let (_, err) =
        verify(&case, &["--direction", "in", "--proto", "gre", "--src", "1.2.3.4", "--dst", "10.10.1.4:1"], 1);
    assert!(err.contains("--proto"), "{err}");
    // Before the configuration was captured: evaluated anyway, with a note.
    let (out, _) =
        verify(&case, &["--direction", "in", "--src", "1.2.3.4", "--dst", "10.10.1.4:443", "--at", "2020-01-01"], 0);
    assert!(out.contains("after the requested time"), "{out}");
    // A case without configuration.
    let empty = tempfile::tempdir().unwrap();
    let c = empty.path().join("c");
    run(&["case", "init", c.to_str().unwrap(), "-q"], 0);
    let (_, err) = verify(c.to_str().unwrap(), &["--direction", "in", "--src", "1.2.3.4", "--dst", "10.0.0.1:1"], 1);
    assert!(err.contains("no network configuration"), "{err}");
}

fn corpus() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/azure-rest-api-specs/specification/network/resource-manager/Microsoft.Network");
    assert!(p.is_dir(), "the corpus is missing at {}: the REST examples are required", p.display());
    p
}

/// The REST examples `NetworkSecurityGroupGet.json` and `VirtualNetworkGet.json` ingest as
/// resources; with a NIC in subnet1 using testnsg, rule1 (port 80, priority 130) decides.
#[test]
fn rest_examples_ingest_and_evaluate() {
    let root = corpus();
    let dir = tempfile::tempdir().unwrap();
    let nic = json!({"name": "nic1", "id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkInterfaces/nic1",
        "type": "Microsoft.Network/networkInterfaces", "resourceGroup": "rg1",
        "networkSecurityGroup": {"id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/testnsg"},
        "ipConfigurations": [{"name": "ipconfig1", "primary": true, "privateIPAddress": "10.0.1.4",
            "subnet": {"id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/test-vnet/subnets/subnet1"}}]});
    let nic_path = dir.path().join("nic.json");
    std::fs::write(&nic_path, nic.to_string()).unwrap();
    let case = dir.path().join("case");
    let case = case.to_str().unwrap();
    let nsg = root.join("stable/2024-05-01/examples/NetworkSecurityGroupGet.json");
    let vnet = root.join("stable/2023-05-01/examples/VirtualNetworkGet.json");
    run(
        &["ingest", nsg.to_str().unwrap(), vnet.to_str().unwrap(), nic_path.to_str().unwrap(), "--case", case, "-q"],
        0,
    );
    let c = Case::open(Path::new(case)).unwrap();
    assert_eq!(count(&c, Table::Resources).unwrap(), 3);
    let (out, _) =
        verify(case, &["--direction", "in", "--proto", "tcp", "--src", "203.0.113.9:4000", "--dst", "10.0.1.4:80"], 0);
    assert_eq!(
        summary(&out),
        [
            "subnet subnet1 - (no NSG: allowed) Allow",
            "nic nic1 testnsg securityRules/rule1 130 Allow",
            "verdict: ALLOW"
        ]
    );
    let (out, _) =
        verify(case, &["--direction", "in", "--proto", "udp", "--src", "203.0.113.9:4000", "--dst", "10.0.1.4:81"], 0);
    assert_eq!(summary(&out)[1], "nic nic1 testnsg defaultSecurityRules/DenyAllInBound 65500 Deny");
    // From inside test-vnet's 10.0.0.0/16: AllowVnetInBound.
    let (out, _) =
        verify(case, &["--direction", "in", "--proto", "tcp", "--src", "10.0.7.7:4000", "--dst", "10.0.1.4:81"], 0);
    assert_eq!(summary(&out)[1], "nic nic1 testnsg defaultSecurityRules/AllowVnetInBound 65000 Allow");
}

/// Activity Log (ARM REST page): megan opens SSH/RDP on nsg-web-nic from 203.0.113.77 on
/// 2026-03-12 03:52 (begin with the request body, end with the response body), a failed
/// attempt on another rule, and rob deletes the rule on 2026-03-13.
fn write_activity(dir: &Path) {
    let rule_id = format!("{}/securityRules/AllowAnyInbound-Mgmt", nsg_id("nsg-web-nic"));
    let body = json!({"properties": {"protocol": "*", "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*",
        "destinationPortRanges": ["22", "3389"], "access": "Allow", "priority": 105, "direction": "Inbound"}})
    .to_string();
    let ev = |t: &str,
              op: &str,
              id: &str,
              status: &str,
              sub: &str,
              corr: &str,
              caller: &str,
              ip: &str,
              props: Value| {
        json!({"eventTimestamp": t, "eventDataId": format!("{corr}-{status}"), "correlationId": corr, "caller": caller,
            "operationName": {"value": op}, "status": {"value": status}, "subStatus": {"value": sub}, "category": {"value": "Administrative"},
            "resourceId": id, "httpRequest": {"clientIpAddress": ip, "method": "PUT"}, "level": "Informational", "properties": props})
    };
    let w = "Microsoft.Network/networkSecurityGroups/securityRules/write";
    let page = json!({"value": [
        ev("2026-03-12T03:52:45Z", w, &rule_id, "Started", "", "c-1", "megan@contoso.com", "203.0.113.77", json!({"requestbody": body})),
        ev("2026-03-12T03:52:47Z", w, &rule_id, "Succeeded", "Created", "c-1", "megan@contoso.com", "203.0.113.77", json!({"responseBody": body})),
        ev("2026-03-12T03:55:00Z", w, &format!("{}/securityRules/AllowAll", nsg_id("nsg-web-nic")), "Failed", "Conflict", "c-2",
            "megan@contoso.com", "203.0.113.77", json!({"requestbody": body})),
        ev("2026-03-13T09:41:54Z", "Microsoft.Network/networkSecurityGroups/securityRules/delete", &rule_id, "Succeeded", "OK", "c-3",
            "rob@contoso.com", "192.0.2.10", json!({})),
    ]});
    std::fs::write(dir.join("activity.json"), page.to_string()).unwrap();
}

#[test]
fn history_and_verify_at_a_past_time() {
    let (dir, case) = ingested();
    let ev = dir.path().join("activity");
    std::fs::create_dir(&ev).unwrap();
    write_activity(&ev);
    run(&["ingest", ev.to_str().unwrap(), "--case", &case, "-q"], 0);
    let (out, _) = run(&["nsg", "history", "nsg-web-nic", "--case", &case], 0);
    let heads: Vec<&str> = out.lines().filter(|l| l.starts_with("2026")).collect();
    assert_eq!(
        heads,
        [
            "2026-03-12T03:52:47.000000Z  rule AllowAnyInbound-Mgmt created  by megan@contoso.com from 203.0.113.77",
            "2026-03-12T03:55:00.000000Z  rule AllowAll written  by megan@contoso.com from 203.0.113.77  [FAILED: not applied]",
            "2026-03-13T09:41:54.000000Z  rule AllowAnyInbound-Mgmt deleted  by rob@contoso.com from 192.0.2.10",
        ],
        "{out}"
    );
    assert!(out.contains("    destinationPortRanges: (none) -> [\"22\",\"3389\"]"), "{out}");
    assert!(out.contains("activity.json:1"), "{out}");
    // SSH from anywhere: allowed while the rule existed, denied before and after.
    let flow = ["--direction", "in", "--proto", "tcp", "--src", "192.0.2.99:40000", "--dst", "10.10.1.4:22"];
    let at = |t: Option<&str>| {
        let mut a: Vec<&str> = flow.to_vec();
        if let Some(t) = t {
            a.extend(["--at", t]);
        }
        summary(&verify(&case, &a, 0).0)
    };
    let nic_rule = |rows: Vec<String>| rows[1].clone();
    assert_eq!(
        nic_rule(at(Some("2026-03-12T04:00Z"))),
        "nic nic-web nsg-web-nic securityRules/AllowAnyInbound-Mgmt 105 Allow"
    );
    assert_eq!(at(Some("2026-03-12T04:00Z"))[2], "verdict: ALLOW");
    assert_eq!(
        nic_rule(at(Some("2026-03-12T03:00Z"))),
        "nic nic-web nsg-web-nic defaultSecurityRules/DenyAllInBound 65500 Deny"
    );
    assert_eq!(
        nic_rule(at(Some("2026-03-14T00:00Z"))),
        "nic nic-web nsg-web-nic defaultSecurityRules/DenyAllInBound 65500 Deny"
    );
    assert_eq!(nic_rule(at(None)), "nic nic-web nsg-web-nic defaultSecurityRules/DenyAllInBound 65500 Deny");
    let (_, err) = run(&["nsg", "history", "nsg-nope", "--case", &case], 1);
    assert!(err.contains("nsg-web-nic") && err.contains("nsg-web-subnet"), "{err}");
    let (out, _) = run(&["--json", "nsg", "history", "nsg-web-nic", "--case", &case], 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["caller"], "megan@contoso.com");
    assert_eq!(v[0]["outcome"], "Succeeded");
    assert_eq!(v[1]["outcome"], "Failed");
    assert_eq!(v[2]["kind"], "rule_delete");
}

fn rest_example(name: &str) -> Value {
    let path = corpus().join("Network/stable/2025-05-01/examples").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// `NetworkWatcherIpFlowVerify.json`: the request (VM `vm1`, outbound TCP from local
/// 10.2.0.4:80 to remote 121.10.1.1:80) is mapped to `nsg verify` the way IP flow verify reads
/// it (outbound: local is the source; inbound: local is the destination) against a
/// configuration in which vm1's NIC carries an NSG whose outbound `Rule1` allows the remote
/// range, below a deny of the rest of the Internet on port 80. azir gives the documented body:
/// `{"access": "Allow", "ruleName": "Rule1"}`; the same flow inbound is denied by the default.
#[test]
fn rest_example_ip_flow_verify() {
    let ex = rest_example("NetworkWatcherIpFlowVerify.json");
    let p = &ex["parameters"]["parameters"];
    let want = &ex["responses"]["200"]["body"];
    let vm_id = p["targetResourceId"].as_str().unwrap();
    let vm = vm_id.rsplit('/').next().unwrap();
    let rg2 = "/subscriptions/subid/resourceGroups/rg2/providers";
    let nsg = format!("{rg2}/Microsoft.Network/networkSecurityGroups/nsg-vm1");
    let subnet = format!("{rg2}/Microsoft.Network/virtualNetworks/vnet2/subnets/default");
    let rule = |name: &str, prio: u32, access: &str, dst: &str| {
        json!({"name": name, "id": format!("{nsg}/securityRules/{name}"), "properties": {"protocol": "Tcp",
            "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": dst,
            "destinationPortRange": "80", "access": access, "priority": prio, "direction": "Outbound"}})
    };
    let config = json!({"value": [
        {"name": "nsg-vm1", "id": nsg, "type": "Microsoft.Network/networkSecurityGroups",
         "properties": {"securityRules": [rule("Rule1", 100, "Allow", "121.10.0.0/16"), rule("Rule2", 200, "Deny", "Internet")]}},
        {"name": "vnet2", "id": format!("{rg2}/Microsoft.Network/virtualNetworks/vnet2"), "type": "Microsoft.Network/virtualNetworks",
         "properties": {"addressSpace": {"addressPrefixes": ["10.2.0.0/16"]},
            "subnets": [{"name": "default", "id": subnet, "properties": {"addressPrefix": "10.2.0.0/24"}}]}},
        {"name": "nic-vm1", "id": format!("{rg2}/Microsoft.Network/networkInterfaces/nic-vm1"), "type": "Microsoft.Network/networkInterfaces",
         "properties": {"networkSecurityGroup": {"id": nsg}, "virtualMachine": {"id": vm_id},
            "ipConfigurations": [{"name": "ipconfig1", "properties": {"primary": true,
                "privateIPAddress": p["localIPAddress"], "subnet": {"id": subnet}}}]}}
    ]});
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let case = dir.path().join("case");
    let case = case.to_str().unwrap();
    run(&["ingest", file.to_str().unwrap(), "--case", case, "-q"], 0);
    let local = format!("{}:{}", p["localIPAddress"].as_str().unwrap(), p["localPort"].as_str().unwrap());
    let remote = format!("{}:{}", p["remoteIPAddress"].as_str().unwrap(), p["remotePort"].as_str().unwrap());
    let ask = |direction: &str| -> Value {
        let (dir, src, dst) = if direction == "Outbound" { ("out", &local, &remote) } else { ("in", &remote, &local) };
        let proto = p["protocol"].as_str().unwrap().to_ascii_lowercase();
        let args = ["--json", "nsg", "verify", "--case", case, "--direction", dir, "--proto", &proto];
        let (out, _) = run(&[&args[..], &["--src", src, "--dst", dst, "--vm", vm]].concat(), 0);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    // The answer in IP flow verify's shape: the overall access and the rule of the NSG that decided.
    let answer = |v: &Value| {
        let decided = v["evaluatedNetworkSecurityGroups"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|n| n["access"] == v["access"] && n["matchedRule"].is_object())
            .unwrap();
        let rule = decided["matchedRule"]["ruleName"].as_str().unwrap();
        json!({"access": v["access"], "ruleName": rule.rsplit('/').next().unwrap()})
    };
    assert_eq!(p["direction"], "Outbound");
    assert_eq!(answer(&ask("Outbound")), *want);
    assert_eq!(answer(&ask("Inbound")), json!({"access": "Deny", "ruleName": "DenyAllInBound"}));
}
