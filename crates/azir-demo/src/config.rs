//! Network configuration as a responder collects it at the end of the window: the output of
//! `az network vnet list`, `az network nsg list` and `az network nic list -o json` (the CLI
//! flattens `properties` one level up and adds `resourceGroup`). It describes the state after
//! the attack: the rule the attacker added to `nsg-web` has been deleted again, so only the
//! Activity Log (and `azir nsg verify --at`) can show that SSH and RDP were open in between.
//!
//! The topology matches the flow logs: `vnet-prod` 10.10.0.0/16 (Application Gateway, web, app,
//! data and Bastion subnets), `vnet-dev` 10.20.0.0/16, each VM's NSG on its NIC.

use std::io;

use serde_json::{json, Value};

use crate::out::Out;
use crate::tenant::*;
use crate::{Ctx, SUB_DEV, SUB_PROD};

fn rid(sub: &str, rg: &str, rest: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{rest}")
}

fn nsg_id(sub: &str, rg: &str, name: &str) -> String {
    rid(sub, rg, &format!("Microsoft.Network/networkSecurityGroups/{name}"))
}

/// A security rule as `az network nsg list` prints it (flattened).
#[allow(clippy::too_many_arguments)]
fn rule(
    nsg: &str,
    name: &str,
    priority: u32,
    direction: &str,
    access: &str,
    protocol: &str,
    src: &str,
    dst: &str,
    port: &str,
) -> Value {
    json!({
        "name": name,
        "id": format!("{nsg}/securityRules/{name}"),
        "type": "Microsoft.Network/networkSecurityGroups/securityRules",
        "provisioningState": "Succeeded",
        "priority": priority,
        "direction": direction,
        "access": access,
        "protocol": protocol,
        "sourceAddressPrefix": src,
        "sourcePortRange": "*",
        "destinationAddressPrefix": dst,
        "destinationPortRange": port,
        "sourceAddressPrefixes": [],
        "destinationAddressPrefixes": [],
        "sourcePortRanges": [],
        "destinationPortRanges": [],
    })
}

fn default_rules(nsg: &str) -> Vec<Value> {
    let d = |name: &str, prio: u32, dir: &str, access: &str, src: &str, dst: &str, desc: &str| {
        let mut r = rule(nsg, name, prio, dir, access, "*", src, dst, "*");
        r["id"] = json!(format!("{nsg}/defaultSecurityRules/{name}"));
        r["type"] = json!("Microsoft.Network/networkSecurityGroups/defaultSecurityRules");
        r["description"] = json!(desc);
        r
    };
    vec![
        d(
            "AllowVnetInBound",
            65000,
            "Inbound",
            "Allow",
            "VirtualNetwork",
            "VirtualNetwork",
            "Allow inbound traffic from all VMs in VNET",
        ),
        d(
            "AllowAzureLoadBalancerInBound",
            65001,
            "Inbound",
            "Allow",
            "AzureLoadBalancer",
            "*",
            "Allow inbound traffic from azure load balancer",
        ),
        d("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*", "Deny all inbound traffic"),
        d(
            "AllowVnetOutBound",
            65000,
            "Outbound",
            "Allow",
            "VirtualNetwork",
            "VirtualNetwork",
            "Allow outbound traffic from all VMs to all VMs in VNET",
        ),
        d(
            "AllowInternetOutBound",
            65001,
            "Outbound",
            "Allow",
            "*",
            "Internet",
            "Allow outbound traffic from all VMs to Internet",
        ),
        d("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*", "Deny all outbound traffic"),
    ]
}

/// (name, priority, direction, access, protocol, source, destination, destination port)
type RuleSpec = (&'static str, u32, &'static str, &'static str, &'static str, &'static str, &'static str, &'static str);

struct Nsg {
    sub: &'static str,
    rg: &'static str,
    name: &'static str,
    rules: &'static [RuleSpec],
}

const NSGS: &[Nsg] = &[
    Nsg {
        sub: SUB_PROD,
        rg: "rg-prod-web",
        name: "nsg-web",
        rules: &[
            ("Allow-AppGw-Http", 200, "Inbound", "Allow", "Tcp", "10.10.0.0/24", "*", "80"),
            ("Allow-HealthProbe", 220, "Inbound", "Allow", "Tcp", "AzureLoadBalancer", "*", "80"),
        ],
    },
    Nsg {
        sub: SUB_PROD,
        rg: "rg-prod-app",
        name: "nsg-app",
        rules: &[("Allow-Web-To-App", 210, "Inbound", "Allow", "Tcp", "10.10.1.0/24", "*", "8080")],
    },
    Nsg {
        sub: SUB_PROD,
        rg: "rg-prod-app",
        name: "nsg-data",
        rules: &[
            ("Deny-Web-To-Data", 150, "Inbound", "Deny", "Tcp", "10.10.1.0/24", "*", "1433"),
            ("Allow-App-To-Sql", 200, "Inbound", "Allow", "Tcp", "10.10.2.0/24", "*", "1433"),
            ("Allow-Https-Outbound", 100, "Outbound", "Allow", "Tcp", "*", "Internet", "443"),
            ("Deny-Internet-Outbound", 4000, "Outbound", "Deny", "*", "*", "Internet", "*"),
        ],
    },
    Nsg { sub: SUB_DEV, rg: "rg-dev", name: "nsg-dev", rules: &[] },
];

fn subnet_of(ip: &str) -> &'static str {
    match ip {
        _ if ip.starts_with("10.10.1.") => "snet-web",
        _ if ip.starts_with("10.10.2.") => "snet-app",
        _ if ip.starts_with("10.10.3.") => "snet-data",
        _ => "snet-dev",
    }
}

fn vnet_of(sub: &str) -> (&'static str, &'static str) {
    if sub == SUB_DEV {
        ("rg-dev", "vnet-dev")
    } else {
        ("rg-prod-network", "vnet-prod")
    }
}

fn subnet_id(sub: &str, subnet: &str) -> String {
    let (rg, vnet) = vnet_of(sub);
    rid(sub, rg, &format!("Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet}"))
}

fn vnets() -> Value {
    let subnet = |sub: &str, name: &str, prefix: &str| {
        json!({
            "name": name,
            "id": subnet_id(sub, name),
            "type": "Microsoft.Network/virtualNetworks/subnets",
            "addressPrefix": prefix,
            "provisioningState": "Succeeded",
            "privateEndpointNetworkPolicies": "Disabled",
            "resourceGroup": vnet_of(sub).0,
        })
    };
    let vnet = |sub: &str, location: &str, space: &str, subnets: Vec<Value>| {
        let (rg, name) = vnet_of(sub);
        json!({
            "name": name,
            "id": rid(sub, rg, &format!("Microsoft.Network/virtualNetworks/{name}")),
            "type": "Microsoft.Network/virtualNetworks",
            "location": location,
            "resourceGroup": rg,
            "provisioningState": "Succeeded",
            "addressSpace": {"addressPrefixes": [space]},
            "enableDdosProtection": false,
            "subnets": subnets,
            "virtualNetworkPeerings": [],
        })
    };
    json!([
        vnet(
            SUB_PROD,
            "westeurope",
            "10.10.0.0/16",
            vec![
                subnet(SUB_PROD, "snet-appgw", "10.10.0.0/24"),
                subnet(SUB_PROD, "snet-web", "10.10.1.0/24"),
                subnet(SUB_PROD, "snet-app", "10.10.2.0/24"),
                subnet(SUB_PROD, "snet-data", "10.10.3.0/24"),
                subnet(SUB_PROD, "AzureBastionSubnet", "10.10.250.0/26"),
            ]
        ),
        vnet(SUB_DEV, "westeurope", "10.20.0.0/16", vec![subnet(SUB_DEV, "snet-dev", "10.20.1.0/24")]),
    ])
}

fn nsgs() -> Value {
    let all: Vec<Value> = NSGS
        .iter()
        .map(|n| {
            let id = nsg_id(n.sub, n.rg, n.name);
            let nics: Vec<Value> = PROD_VMS
                .iter()
                .chain(DEV_VMS)
                .filter(|vm| vm.nsg == n.name)
                .map(|vm| json!({"id": nic_id(vm), "resourceGroup": vm.rg}))
                .collect();
            json!({
                "name": n.name,
                "id": id,
                "type": "Microsoft.Network/networkSecurityGroups",
                "location": "westeurope",
                "resourceGroup": n.rg,
                "provisioningState": "Succeeded",
                "securityRules": n.rules.iter().map(|r| rule(&id, r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7)).collect::<Vec<_>>(),
                "defaultSecurityRules": default_rules(&id),
                "networkInterfaces": nics,
            })
        })
        .collect();
    Value::Array(all)
}

fn nic_name(vm: &Vm) -> String {
    format!("{}-nic", vm.name)
}

fn nic_id(vm: &Vm) -> String {
    rid(vm.sub, vm.rg, &format!("Microsoft.Network/networkInterfaces/{}", nic_name(vm)))
}

fn nics() -> Value {
    let all: Vec<Value> = PROD_VMS
        .iter()
        .chain(DEV_VMS)
        .map(|vm| {
            let mac: String = vm
                .mac
                .as_bytes()
                .chunks(2)
                .map(|c| String::from_utf8_lossy(c).to_string())
                .collect::<Vec<_>>()
                .join("-");
            json!({
                "name": nic_name(vm),
                "id": nic_id(vm),
                "type": "Microsoft.Network/networkInterfaces",
                "location": "westeurope",
                "resourceGroup": vm.rg,
                "provisioningState": "Succeeded",
                "macAddress": mac,
                "primary": true,
                "enableIPForwarding": false,
                "enableAcceleratedNetworking": true,
                "networkSecurityGroup": {"id": nsg_id(vm.sub, vm.rg, vm.nsg), "resourceGroup": vm.rg},
                "virtualMachine": {"id": vm.id(), "resourceGroup": vm.rg},
                "ipConfigurations": [{
                    "name": "ipconfig1",
                    "id": format!("{}/ipConfigurations/ipconfig1", nic_id(vm)),
                    "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
                    "primary": true,
                    "privateIPAddress": vm.ip,
                    "privateIPAddressVersion": "IPv4",
                    "privateIPAllocationMethod": "Static",
                    "provisioningState": "Succeeded",
                    "subnet": {"id": subnet_id(vm.sub, subnet_of(vm.ip)), "resourceGroup": vnet_of(vm.sub).0},
                    "resourceGroup": vm.rg,
                }],
            })
        })
        .collect();
    Value::Array(all)
}

pub(crate) fn write(_ctx: &Ctx, out: &mut Out) -> io::Result<()> {
    for (file, v) in [
        ("az-network-vnet-list.json", vnets()),
        ("az-network-nsg-list.json", nsgs()),
        ("az-network-nic-list.json", nics()),
    ] {
        let n = v.as_array().map_or(0, |a| a.len()) as u64;
        let mut text = serde_json::to_string_pretty(&v).expect("serializes");
        text.push('\n');
        out.put(&format!("network-config/{file}"), text.as_bytes())?;
        out.count("network_config", n);
    }
    Ok(())
}
