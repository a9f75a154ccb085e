//! Small network configurations as `resources` rows, and the external tools the tests use.

#![allow(dead_code)]

use azir_model::Resource;
use azir_plan::{AddedCredential, CaseFacts, GrantFact};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

pub const SUB: &str = "11111111-2222-3333-4444-555555555555";

/// A resource row from ARM-shaped JSON.
pub fn res(kind: &str, id: &str, location: &str, body: Value) -> Resource {
    let name = id.rsplit('/').next().unwrap().to_string();
    let mut v = body;
    v["id"] = json!(id);
    v["name"] = json!(name);
    v["type"] = json!(kind);
    v["location"] = json!(location);
    Resource {
        time: Some(1_773_000_000_000_000),
        id: id.to_string(),
        id_lower: id.to_ascii_lowercase(),
        kind: kind.to_string(),
        name,
        subscription: Some(SUB.to_string()),
        resource_group: id.split('/').nth(4).map(str::to_string),
        location: Some(location.to_string()),
        source_format: "rest".into(),
        json: v.to_string(),
        raw: v.to_string(),
        ..Default::default()
    }
}

pub fn rg(rg: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers")
}

/// The "small" configuration: vnet-app (10.1.0.0/16) with a web subnet and an
/// AzureBastionSubnet, peered to a hub whose space (10.250.0.0/16) is only known from the
/// peering; a route table with an on-premises range (10.251.0.0/16); vm-1 with a NIC, an OS disk
/// and a data disk; one snapshot.
pub fn small_resources() -> Vec<Resource> {
    small_named("vnet-app", "vm-1")
}

/// The same configuration with the VNet and VM named as given (hostile names included).
pub fn small_named(vnet: &str, vm: &str) -> Vec<Resource> {
    let p = rg("rg-app");
    let vnet_id = format!("{p}/Microsoft.Network/virtualNetworks/{vnet}");
    let nsg_id = format!("{p}/Microsoft.Network/networkSecurityGroups/nsg-web");
    let nic_id = format!("{p}/Microsoft.Network/networkInterfaces/{vm}-nic");
    let vm_id = format!("{p}/Microsoft.Compute/virtualMachines/{vm}");
    vec![
        res(
            "Microsoft.Network/virtualNetworks",
            &vnet_id,
            "westeurope",
            json!({"properties": {
                "addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
                "subnets": [
                    {"id": format!("{vnet_id}/subnets/snet-web"), "name": "snet-web",
                     "properties": {"addressPrefix": "10.1.1.0/24", "networkSecurityGroup": {"id": nsg_id}}},
                    {"id": format!("{vnet_id}/subnets/AzureBastionSubnet"), "name": "AzureBastionSubnet",
                     "properties": {"addressPrefix": "10.1.250.0/26"}}
                ],
                "virtualNetworkPeerings": [
                    {"name": "to-hub", "properties": {"peeringState": "Connected",
                      "remoteVirtualNetwork": {"id": format!("/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/vnet-hub")},
                      "remoteAddressSpace": {"addressPrefixes": ["10.250.0.0/16"]}}}
                ]
            }}),
        ),
        res(
            "Microsoft.Network/routeTables",
            &format!("{p}/Microsoft.Network/routeTables/rt-web"),
            "westeurope",
            json!({"properties": {"routes": [
                {"name": "onprem", "properties": {"addressPrefix": "10.251.0.0/16", "nextHopType": "VirtualNetworkGateway"}},
                {"name": "default", "properties": {"addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance"}}
            ]}}),
        ),
        res(
            "Microsoft.Network/networkSecurityGroups",
            &nsg_id,
            "westeurope",
            json!({"properties": {"securityRules": []}}),
        ),
        res(
            "Microsoft.Network/networkInterfaces",
            &nic_id,
            "westeurope",
            json!({"properties": {
                "ipConfigurations": [{"name": "ipconfig1", "properties": {"privateIPAddress": "10.1.1.4", "primary": true,
                    "subnet": {"id": format!("{vnet_id}/subnets/snet-web")}}}],
                "networkSecurityGroup": {"id": nsg_id},
                "virtualMachine": {"id": vm_id}
            }}),
        ),
        res(
            "Microsoft.Compute/virtualMachines",
            &vm_id,
            "westeurope",
            json!({"properties": {
                "networkProfile": {"networkInterfaces": [{"id": nic_id}]},
                "storageProfile": {
                    "osDisk": {"name": format!("{vm}-os"), "managedDisk": {"id": format!("{p}/Microsoft.Compute/disks/{vm}-os")}},
                    "dataDisks": [{"lun": 0, "name": format!("{vm}-data"), "managedDisk": {"id": format!("{p}/Microsoft.Compute/disks/{vm}-data")}}]
                }
            }}),
        ),
        res(
            "Microsoft.Compute/snapshots",
            &format!("{p}/Microsoft.Compute/snapshots/snap-{vm}-os"),
            "westeurope",
            json!({"properties": {"creationData": {"createOption": "Copy"}}}),
        ),
    ]
}

/// Facts of the small configuration, with one credential added to an app and one to its SP by
/// the compromised user, and one role assignment she granted.
pub fn small_facts() -> CaseFacts {
    let mut f = CaseFacts::from_resources("case-small", &small_resources());
    add_identity(&mut f, "backdoor-app", "mallory@contoso.com");
    f
}

pub fn add_identity(f: &mut CaseFacts, app_name: &str, actor: &str) {
    let cred = |t: &str, obj: &str, key: &str, kt: &str| AddedCredential {
        target_type: t.into(),
        object_id: obj.into(),
        app_id: Some("aaaaaaaa-0000-0000-0000-00000000a991".into()),
        display_name: app_name.into(),
        key_id: key.into(),
        key_type: kt.into(),
        actor: Some(actor.into()),
        time: Some("2026-03-12T03:36:48Z".into()),
        event_id: "ev-1".into(),
    };
    f.credentials.push(cred(
        "Application",
        "0b1ec7a9-0000-0000-0000-000000000001",
        "11111111-aaaa-bbbb-cccc-000000000001",
        "Password",
    ));
    f.credentials.push(cred(
        "ServicePrincipal",
        "5e1ec7a9-0000-0000-0000-000000000002",
        "22222222-aaaa-bbbb-cccc-000000000002",
        "AsymmetricX509Cert",
    ));
    f.grants.push(GrantFact {
        id: format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments/33333333-0000-0000-0000-000000000003"),
        users: vec![actor.into()],
        title: "Owner assigned at subscription scope".into(),
    });
}

/// Whether `tool` runs (`tool --version`).
pub fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Skips (with a notice) or fails when a tool is missing: fails when AZIR_REQUIRE_TOOLS=1 (CI).
pub fn require(tool: &str) -> bool {
    if have(tool) {
        return true;
    }
    if std::env::var("AZIR_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{tool} is required (AZIR_REQUIRE_TOOLS=1): apt-get install -y {tool}");
    }
    eprintln!("SKIP: {tool} not installed; install it (apt-get install -y {tool}) or set AZIR_REQUIRE_TOOLS=1 to make this a failure");
    false
}

/// `bash -n` and (when present) `shellcheck` on a script; panics with their output.
pub fn lint_bash(path: &Path) {
    let o = Command::new("bash").arg("-n").arg(path).output().expect("bash runs");
    assert!(o.status.success(), "bash -n {}: {}", path.display(), String::from_utf8_lossy(&o.stderr));
    if require("shellcheck") {
        let o = Command::new("shellcheck").arg("--severity=style").arg(path).output().expect("shellcheck runs");
        assert!(
            o.status.success(),
            "shellcheck {}:\n{}{}",
            path.display(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
