//! Evaluation tables over one hand-written network, and the REST examples of the corpus.

use super::*;
use azir_model::Resource;
use serde_json::{json, Value};
use std::path::PathBuf;

const SUB: &str = "/subscriptions/s1/resourceGroups/rg/providers";

fn id(kind: &str, name: &str) -> String {
    format!("{SUB}/{kind}/{name}")
}

fn res(kind: &str, v: Value) -> Resource {
    let id = v["id"].as_str().unwrap().to_string();
    Resource {
        time: Some(1_000),
        id_lower: id.to_ascii_lowercase(),
        name: v["name"].as_str().unwrap_or_default().to_string(),
        id,
        kind: kind.to_string(),
        json: v.to_string(),
        ..Resource::default()
    }
}

fn rule(name: &str, prio: u32, dir: &str, access: &str, proto: &str, extra: Value) -> Value {
    let mut p = json!({"priority": prio, "direction": dir, "access": access, "protocol": proto,
        "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "*"});
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    // Plural fields replace the singular "*" placeholders, as Azure writes them.
    for (plural, singular) in [
        ("sourceAddressPrefixes", "sourceAddressPrefix"),
        ("destinationPortRanges", "destinationPortRange"),
        ("sourceApplicationSecurityGroups", "sourceAddressPrefix"),
        ("destinationApplicationSecurityGroups", "destinationAddressPrefix"),
    ] {
        if p.get(plural).is_some() && extra.get(singular).is_none() {
            p.as_object_mut().unwrap().remove(singular);
        }
    }
    json!({"name": name, "properties": p})
}

/// vnet1 10.0.0.0/16 + fd00:10::/48: subnet web (nsg-subnet), app (no NSG), db (nsg-db and a
/// route table with a 0.0.0.0/0 UDR). Peered with vnet2 (10.1/16, connected) and vnet3
/// (10.2/16, only initiated). NICs: nic-web (web, nsg-nic, ASG asg-web, also fd00:10::4),
/// nic-admin (app, ASG asg-admin), nic-db (db).
fn network() -> Vec<Resource> {
    let n = "Microsoft.Network";
    let asg_web = id(&format!("{n}/applicationSecurityGroups"), "asg-web");
    let asg_admin = id(&format!("{n}/applicationSecurityGroups"), "asg-admin");
    let vnet = id(&format!("{n}/virtualNetworks"), "vnet1");
    let subnet = |s: &str| format!("{vnet}/subnets/{s}");
    let nsg = |s: &str| id(&format!("{n}/networkSecurityGroups"), s);
    let rt = id(&format!("{n}/routeTables"), "rt-db");
    vec![
        res(
            "Microsoft.Network/virtualNetworks",
            json!({"id": vnet, "name": "vnet1", "properties": {
            "addressSpace": {"addressPrefixes": ["10.0.0.0/16", "fd00:10::/48"]},
            "subnets": [
                {"id": subnet("web"), "name": "web", "properties": {"addressPrefix": "10.0.1.0/24", "networkSecurityGroup": {"id": nsg("nsg-subnet")}}},
                {"id": subnet("app"), "name": "app", "properties": {"addressPrefix": "10.0.2.0/24"}},
                {"id": subnet("db"), "name": "db", "properties": {"addressPrefix": "10.0.3.0/24", "networkSecurityGroup": {"id": nsg("nsg-db")}, "routeTable": {"id": rt}}}
            ],
            "virtualNetworkPeerings": [
                {"name": "to-vnet2", "properties": {"peeringState": "Connected", "remoteVirtualNetwork": {"id": id(&format!("{n}/virtualNetworks"), "vnet2")}, "remoteAddressSpace": {"addressPrefixes": ["10.1.0.0/16"]}}},
                {"name": "to-vnet3", "properties": {"peeringState": "Initiated", "remoteVirtualNetwork": {"id": id(&format!("{n}/virtualNetworks"), "vnet3")}, "remoteAddressSpace": {"addressPrefixes": ["10.2.0.0/16"]}}}
            ]}}),
        ),
        res(
            "Microsoft.Network/routeTables",
            json!({"id": rt, "name": "rt-db", "properties": {"routes": [{"name": "all-to-fw", "properties": {"addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance", "nextHopIpAddress": "10.0.9.4"}}]}}),
        ),
        // No defaultSecurityRules: they are synthesised.
        res(
            "Microsoft.Network/networkSecurityGroups",
            json!({"id": nsg("nsg-subnet"), "name": "nsg-subnet", "properties": {"securityRules": [
                rule("allow-https", 100, "Inbound", "Allow", "Tcp", json!({"sourceAddressPrefix": "Internet", "destinationPortRange": "443"})),
                rule("deny-ssh", 110, "Inbound", "Deny", "Tcp", json!({"destinationPortRange": "22"})),
                rule("deny-out-doc", 110, "Outbound", "Deny", "*", json!({"destinationAddressPrefix": "198.51.100.0/24"})),
                rule("allow-ssh-admin", 120, "Inbound", "Allow", "Tcp", json!({"sourceAddressPrefix": "203.0.113.0/24", "destinationPortRange": "22"})),
                rule("allow-udp-list", 130, "Inbound", "Allow", "Udp", json!({"sourceAddressPrefixes": ["192.0.2.0/24", "Storage.WestEurope"], "destinationPortRanges": ["53", "5000-5010"]})),
                rule("asg-rule", 140, "Inbound", "Allow", "*", json!({"sourceApplicationSecurityGroups": [{"id": asg_admin}], "destinationApplicationSecurityGroups": [{"id": asg_web.to_uppercase()}], "destinationPortRange": "8443"})),
                rule("icmp", 150, "Inbound", "Allow", "Icmp", json!({"sourceAddressPrefix": "Any"})),
            ]}}),
        ),
        res(
            "Microsoft.Network/networkSecurityGroups",
            json!({"id": nsg("nsg-nic"), "name": "nsg-nic", "properties": {"securityRules": [
                rule("nic-https", 100, "Inbound", "Allow", "Tcp", json!({"destinationPortRange": "443"})),
                rule("nic-vnet-8443", 200, "Inbound", "Allow", "Tcp", json!({"sourceAddressPrefix": "VirtualNetwork", "destinationPortRange": "8443"})),
                rule("no-smtp", 100, "Outbound", "Deny", "Tcp", json!({"destinationAddressPrefix": "Internet", "destinationPortRange": "25"})),
            ]}}),
        ),
        res(
            "Microsoft.Network/networkSecurityGroups",
            json!({"id": nsg("nsg-db"), "name": "nsg-db", "properties": {"securityRules": [
                rule("deny-internet-https", 100, "Outbound", "Deny", "Tcp", json!({"destinationAddressPrefix": "Internet", "destinationPortRange": "443"})),
            ]}}),
        ),
        res(
            "Microsoft.Network/networkInterfaces",
            json!({"id": id(&format!("{n}/networkInterfaces"), "nic-web"), "name": "nic-web", "properties": {
            "networkSecurityGroup": {"id": nsg("nsg-nic")},
            "virtualMachine": {"id": id("Microsoft.Compute/virtualMachines", "web-vm")},
            "ipConfigurations": [
                {"name": "ipconfig1", "properties": {"primary": true, "privateIPAddress": "10.0.1.4", "subnet": {"id": subnet("web")}, "applicationSecurityGroups": [{"id": asg_web}]}},
                {"name": "ipconfig6", "properties": {"primary": false, "privateIPAddress": "fd00:10::4", "privateIPAddressVersion": "IPv6", "subnet": {"id": subnet("web")}}}
            ]}}),
        ),
        res(
            "Microsoft.Network/networkInterfaces",
            json!({"id": id(&format!("{n}/networkInterfaces"), "nic-admin"), "name": "nic-admin", "properties": {
                "ipConfigurations": [{"name": "ipconfig1", "properties": {"primary": true, "privateIPAddress": "10.0.2.5", "subnet": {"id": subnet("app")}, "applicationSecurityGroups": [{"id": asg_admin}]}}]}}),
        ),
        res(
            "Microsoft.Network/networkInterfaces",
            json!({"id": id(&format!("{n}/networkInterfaces"), "nic-db"), "name": "nic-db", "properties": {
                "ipConfigurations": [{"name": "ipconfig1", "properties": {"primary": true, "privateIPAddress": "10.0.3.4", "subnet": {"id": subnet("db")}}}]}}),
        ),
    ]
}

fn storage_tags() -> ServiceTags {
    ServiceTags::parse(
        r#"{"values":[{"name":"Storage.WestEurope","properties":{"addressPrefixes":["20.38.108.0/23"]}}]}"#,
    )
    .unwrap()
}

fn query(dir: &str, proto: &str, src: &str, dst: &str) -> Query {
    let (src, src_port) = parse_endpoint(src).unwrap();
    let (dst, dst_port) = parse_endpoint(dst).unwrap();
    Query {
        direction: if dir == "in" { TrafficDirection::Inbound } else { TrafficDirection::Outbound },
        protocol: Protocol::parse(proto).unwrap(),
        src,
        src_port,
        dst,
        dst_port,
    }
}

/// One line per NSG on the path: `place:nsg=rule` (`place:-` when no NSG), then the verdict.
fn run(config: &NetworkConfig, tags: &ServiceTags, dir: &str, proto: &str, src: &str, dst: &str) -> String {
    let v = verify(config, &query(dir, proto, src, dst), &Target::Auto, tags, false).unwrap();
    let mut parts: Vec<String> = v
        .evaluated_network_security_groups
        .iter()
        .map(|e| match (&e.network_security_group_name, &e.matched_rule) {
            (Some(n), Some(r)) => format!("{}:{n}={}", e.applied_to_kind, r.rule_name.rsplit('/').next().unwrap()),
            _ => format!("{}:-", e.applied_to_kind),
        })
        .collect();
    parts.push(v.access.to_string());
    parts.join(" ")
}

#[test]
fn evaluation_table() {
    let config = NetworkConfig::from_resources(&network(), None);
    let none = ServiceTags::default();
    let tags = storage_tags();
    #[rustfmt::skip]
    let cases: &[(&ServiceTags, &str, &str, &str, &str, &str)] = &[
        // Subnet then NIC inbound; both allow.
        (&none, "in", "tcp", "203.0.113.9:50000", "10.0.1.4:443", "subnet:nsg-subnet=allow-https nic:nsg-nic=nic-https Allow"),
        // Deny at 110 beats the allow at 120; the NIC's DenyAllInBound would deny too.
        (&none, "in", "tcp", "203.0.113.9:50000", "10.0.1.4:22", "subnet:nsg-subnet=deny-ssh nic:nsg-nic=DenyAllInBound Deny"),
        // Priority 110 exists in both directions: the outbound deny applies only outbound, NIC first.
        (&none, "out", "tcp", "10.0.1.4:40000", "198.51.100.7:443", "nic:nsg-nic=AllowInternetOutBound subnet:nsg-subnet=deny-out-doc Deny"),
        (&none, "in", "tcp", "198.51.100.7:40000", "10.0.1.4:443", "subnet:nsg-subnet=allow-https nic:nsg-nic=nic-https Allow"),
        // Prefix and port lists; a service tag only with the Service Tags file.
        (&none, "in", "udp", "192.0.2.5:1234", "10.0.1.4:5005", "subnet:nsg-subnet=allow-udp-list nic:nsg-nic=DenyAllInBound Deny"),
        (&none, "in", "udp", "192.0.2.5:1234", "10.0.1.4:5011", "subnet:nsg-subnet=DenyAllInBound nic:nsg-nic=DenyAllInBound Deny"),
        (&none, "in", "udp", "20.38.109.9:1234", "10.0.1.4:53", "subnet:nsg-subnet=DenyAllInBound nic:nsg-nic=DenyAllInBound Deny"),
        (&tags, "in", "udp", "20.38.109.9:1234", "10.0.1.4:53", "subnet:nsg-subnet=allow-udp-list nic:nsg-nic=DenyAllInBound Deny"),
        // ASGs through the NICs' IP configurations (ids compared case-insensitively).
        (&none, "in", "tcp", "10.0.2.5:1000", "10.0.1.4:8443", "subnet:nsg-subnet=asg-rule nic:nsg-nic=nic-vnet-8443 Allow"),
        (&none, "in", "tcp", "10.0.2.6:1000", "10.0.1.4:8443", "subnet:nsg-subnet=AllowVnetInBound nic:nsg-nic=nic-vnet-8443 Allow"),
        // ICMP: ports are not compared; source "Any".
        (&none, "in", "icmp", "203.0.113.9", "10.0.1.4", "subnet:nsg-subnet=icmp nic:nsg-nic=DenyAllInBound Deny"),
        // No NSG anywhere on the path: allowed.
        (&none, "in", "tcp", "203.0.113.9:1000", "10.0.2.5:3389", "subnet:- nic:- Allow"),
        // VirtualNetwork covers the connected peering, not the initiated one.
        (&none, "in", "tcp", "10.1.5.5:1000", "10.0.1.4:8443", "subnet:nsg-subnet=AllowVnetInBound nic:nsg-nic=nic-vnet-8443 Allow"),
        (&none, "in", "tcp", "10.2.5.5:1000", "10.0.1.4:8443", "subnet:nsg-subnet=DenyAllInBound nic:nsg-nic=DenyAllInBound Deny"),
        // IPv6.
        (&none, "in", "tcp", "[2001:db8::7]:1000", "[fd00:10::4]:443", "subnet:nsg-subnet=allow-https nic:nsg-nic=nic-https Allow"),
        (&none, "out", "tcp", "[fd00:10::4]:1000", "[2001:db8::7]:25", "nic:nsg-nic=no-smtp subnet:nsg-subnet=AllowInternetOutBound Deny"),
        (&none, "out", "tcp", "[fd00:10::4]:1000", "[2001:db8::7]:443", "nic:nsg-nic=AllowInternetOutBound subnet:nsg-subnet=AllowInternetOutBound Allow"),
        // A 0.0.0.0/0 UDR puts everything in VirtualNetwork: Internet is empty there.
        (&none, "out", "tcp", "10.0.3.4:1000", "8.8.8.8:443", "nic:- subnet:nsg-db=AllowVnetOutBound Allow"),
        // A flow asked as `*` matches `*` rules only, not the Tcp allow.
        (&none, "in", "*", "203.0.113.9:1000", "10.0.1.4:443", "subnet:nsg-subnet=DenyAllInBound nic:nsg-nic=DenyAllInBound Deny"),
        // Outbound Internet by default; private addresses outside the VNet are not Internet.
        (&none, "out", "udp", "10.0.1.4:1000", "192.168.7.7:53", "nic:nsg-nic=DenyAllOutBound subnet:nsg-subnet=DenyAllOutBound Deny"),
        // The health probe.
        (&none, "in", "tcp", "168.63.129.16:1000", "10.0.1.4:80", "subnet:nsg-subnet=AllowVnetInBound nic:nsg-nic=AllowVnetInBound Allow"),
    ];
    let mut failures = Vec::new();
    for (tags, dir, proto, src, dst, want) in cases {
        let got = run(&config, tags, dir, proto, src, dst);
        if got != *want {
            failures.push(format!("{dir} {proto} {src} -> {dst}\n   want {want}\n   got  {got}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn explain_lists_every_rule_of_the_direction_with_its_fields() {
    let config = NetworkConfig::from_resources(&network(), None);
    let q = query("in", "tcp", "203.0.113.9:50000", "10.0.1.4:22");
    let v = verify(&config, &q, &Target::Nic("NIC-WEB".into()), &ServiceTags::default(), true).unwrap();
    let subnet = &v.evaluated_network_security_groups[0];
    let names: Vec<&str> = subnet.rules_evaluation_result.iter().map(|r| r.rule_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "securityRules/allow-https",
            "securityRules/deny-ssh",
            "securityRules/allow-ssh-admin",
            "securityRules/allow-udp-list",
            "securityRules/asg-rule",
            "securityRules/icmp",
            "defaultSecurityRules/AllowVnetInBound",
            "defaultSecurityRules/AllowAzureLoadBalancerInBound",
            "defaultSecurityRules/DenyAllInBound"
        ]
    );
    let https = subnet.rules_evaluation_result[0].fields;
    assert_eq!(
        https,
        FieldMatch {
            protocol_matched: true,
            source_matched: true,
            source_port_matched: true,
            destination_matched: true,
            destination_port_matched: false
        }
    );
    let allow_admin = &subnet.rules_evaluation_result[2];
    assert!(allow_admin.matched, "a later rule matches too, but the first match decides");
    assert_eq!(subnet.matched_rule.as_ref().unwrap().rule_name, "securityRules/deny-ssh");
    let vnet_rule = subnet.rules_evaluation_result[6].fields;
    assert!(!vnet_rule.source_matched && vnet_rule.destination_matched);
    assert!(v.notes.iter().any(|n| n.contains("Storage.WestEurope") && n.contains("--service-tags")), "{:?}", v.notes);
    assert!(v.notes.iter().any(|n| n.contains("defaults assumed")));
    // Without --explain the rule list stays empty.
    let v = verify(&config, &q, &Target::Auto, &ServiceTags::default(), false).unwrap();
    assert!(v.evaluated_network_security_groups.iter().all(|e| e.rules_evaluation_result.is_empty()));
}

#[test]
fn nic_resolution() {
    let config = NetworkConfig::from_resources(&network(), None);
    let tags = ServiceTags::default();
    let q = query("in", "tcp", "203.0.113.9:1000", "10.0.1.4:443");
    // By VM (from the NIC's virtualMachine, no VM record needed), by id, by name.
    let v = verify(&config, &q, &Target::Vm("WEB-VM".into()), &tags, false).unwrap();
    assert_eq!(v.nic_name, "nic-web");
    let nic_id = id("Microsoft.Network/networkInterfaces", "nic-web").to_uppercase();
    assert_eq!(verify(&config, &q, &Target::Nic(nic_id), &tags, false).unwrap().nic_name, "nic-web");
    // The address is not the NIC's: evaluated on its primary configuration, with a note.
    let v = verify(&config, &q, &Target::Nic("nic-admin".into()), &tags, false).unwrap();
    assert!(v.notes.iter().any(|n| n.contains("not a private IP of NIC nic-admin")), "{:?}", v.notes);
    let err = verify(&config, &q, &Target::Nic("nic-nope".into()), &tags, false).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("nic-nope") && msg.contains("nic-web (10.0.1.4, fd00:10::4)") && msg.contains("nic-db"),
        "{msg}"
    );
    assert!(matches!(
        verify(&config, &q, &Target::Vm("nope".into()), &tags, false),
        Err(VerifyError::UnknownVm { .. })
    ));
    let q = query("in", "tcp", "203.0.113.9:1000", "10.0.9.9:443");
    let err = verify(&config, &q, &Target::Auto, &tags, false).unwrap_err();
    assert!(matches!(err, VerifyError::NoNicForAddress { .. }), "{err}");
}

#[test]
fn standalone_children_replace_nested_ones() {
    let mut rs = network();
    let nsg_id = id("Microsoft.Network/networkSecurityGroups", "nsg-nic");
    // `az network nsg rule create` output, flattened: the NIC's HTTPS rule now denies.
    let flat = json!({"id": format!("{nsg_id}/securityRules/nic-https"), "name": "nic-https", "priority": 100,
        "direction": "Inbound", "access": "Deny", "protocol": "Tcp", "sourceAddressPrefix": "*", "sourcePortRange": "*",
        "destinationAddressPrefix": "*", "destinationPortRange": "443"});
    rs.push(res("Microsoft.Network/networkSecurityGroups/securityRules", flat));
    // A subnet listed on its own loses its NSG.
    let subnet = format!("{}/subnets/web", id("Microsoft.Network/virtualNetworks", "vnet1"));
    rs.push(res(
        "Microsoft.Network/virtualNetworks/subnets",
        json!({"id": subnet, "name": "web", "properties": {"addressPrefix": "10.0.1.0/24"}}),
    ));
    let config = NetworkConfig::from_resources(&rs, None);
    let got = run(&config, &ServiceTags::default(), "in", "tcp", "203.0.113.9:1000", "10.0.1.4:443");
    assert_eq!(got, "subnet:- nic:nsg-nic=nic-https Deny");
}

#[test]
fn endpoints() {
    assert_eq!(parse_endpoint("10.0.0.1").unwrap(), ("10.0.0.1".parse().unwrap(), None));
    assert_eq!(parse_endpoint("10.0.0.1:443").unwrap(), ("10.0.0.1".parse().unwrap(), Some(443)));
    assert_eq!(parse_endpoint("[::1]:80").unwrap(), ("::1".parse().unwrap(), Some(80)));
    assert_eq!(parse_endpoint("fd00::1").unwrap(), ("fd00::1".parse().unwrap(), None));
    assert!(parse_endpoint("10.0.0.1:70000").unwrap_err().contains("not a port"));
    assert!(parse_endpoint("host:80").unwrap_err().contains("not an IP"));
    assert!(parse_endpoint("[::1").is_err());
}

fn corpus(rel: &str) -> Value {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/azure-rest-api-specs/specification/network/resource-manager/Microsoft.Network");
    let path = root.join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("corpus file {} is missing ({e}): the REST examples are required", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// `NetworkSecurityGroupGet.json` and `VirtualNetworkGet.json` with a NIC in subnet1 that uses
/// the NSG: the documented rules give the documented answers.
#[test]
fn rest_examples_nsg_and_vnet_get() {
    let nsg = corpus("stable/2024-05-01/examples/NetworkSecurityGroupGet.json")["responses"]["200"]["body"].clone();
    let vnet = corpus("stable/2023-05-01/examples/VirtualNetworkGet.json")["responses"]["200"]["body"].clone();
    let nic = json!({"id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkInterfaces/nic1", "name": "nic1",
        "properties": {"networkSecurityGroup": {"id": nsg["id"]}, "ipConfigurations": [{"name": "ipconfig1", "properties": {
            "primary": true, "privateIPAddress": "10.0.1.4", "subnet": {"id": vnet["properties"]["subnets"][0]["id"]}}}]}});
    let rs = vec![
        res("Microsoft.Network/networkSecurityGroups", nsg),
        res("Microsoft.Network/virtualNetworks", vnet),
        res("Microsoft.Network/networkInterfaces", nic),
    ];
    let config = NetworkConfig::from_resources(&rs, None);
    assert_eq!(config.nsgs.values().next().unwrap().rules.len(), 7, "rule1 and the six defaults, as published");
    assert!(!config.nsgs.values().next().unwrap().defaults_synthesised);
    let none = ServiceTags::default();
    // rule1: any protocol, any source, port 80, priority 130, Allow.
    assert_eq!(run(&config, &none, "in", "tcp", "203.0.113.9:1000", "10.0.1.4:80"), "subnet:- nic:testnsg=rule1 Allow");
    assert_eq!(run(&config, &none, "in", "udp", "203.0.113.9:1000", "10.0.1.4:80"), "subnet:- nic:testnsg=rule1 Allow");
    assert_eq!(
        run(&config, &none, "in", "tcp", "203.0.113.9:1000", "10.0.1.4:22"),
        "subnet:- nic:testnsg=DenyAllInBound Deny"
    );
    // VirtualNetwork is test-vnet's 10.0.0.0/16.
    assert_eq!(
        run(&config, &none, "in", "tcp", "10.0.200.1:1000", "10.0.1.4:22"),
        "subnet:- nic:testnsg=AllowVnetInBound Allow"
    );
    assert_eq!(
        run(&config, &none, "in", "tcp", "10.1.0.1:1000", "10.0.1.4:22"),
        "subnet:- nic:testnsg=DenyAllInBound Deny"
    );
    assert_eq!(
        run(&config, &none, "out", "tcp", "10.0.1.4:1000", "8.8.8.8:443"),
        "nic:testnsg=AllowInternetOutBound subnet:- Allow"
    );
    assert_eq!(
        run(&config, &none, "out", "tcp", "10.0.1.4:1000", "172.16.0.1:443"),
        "nic:testnsg=DenyAllOutBound subnet:- Deny"
    );
}

/// `NetworkWatcherIpFlowVerify.json`: the request's flow, evaluated on a VM whose NSG carries
/// a rule `Rule1` allowing outbound TCP 80, gives the documented `Allow` by `Rule1`.
#[test]
fn rest_example_ip_flow_verify() {
    let ex = corpus("Network/stable/2025-05-01/examples/NetworkWatcherIpFlowVerify.json");
    let p = &ex["parameters"]["parameters"];
    let want = &ex["responses"]["200"]["body"];
    let s = |k: &str| p[k].as_str().unwrap().to_string();
    let vm = s("targetResourceId");
    let local: std::net::IpAddr = s("localIPAddress").parse().unwrap();
    let remote: std::net::IpAddr = s("remoteIPAddress").parse().unwrap();
    let (lp, rp) = (s("localPort").parse().ok(), s("remotePort").parse().ok());
    let direction = if s("direction") == "Outbound" { TrafficDirection::Outbound } else { TrafficDirection::Inbound };
    let q = match direction {
        TrafficDirection::Outbound => Query {
            direction,
            protocol: Protocol::parse(&s("protocol")).unwrap(),
            src: local,
            src_port: lp,
            dst: remote,
            dst_port: rp,
        },
        TrafficDirection::Inbound => Query {
            direction,
            protocol: Protocol::parse(&s("protocol")).unwrap(),
            src: remote,
            src_port: rp,
            dst: local,
            dst_port: lp,
        },
    };
    let nsg_id = "/subscriptions/subid/resourceGroups/rg2/providers/Microsoft.Network/networkSecurityGroups/nsg1";
    let rs = vec![
        res(
            "Microsoft.Network/networkSecurityGroups",
            json!({"id": nsg_id, "name": "nsg1", "properties": {"securityRules": [
                rule("Rule1", 100, "Outbound", "Allow", "Tcp", json!({"destinationPortRange": "80"})),
                rule("DenyWeb", 200, "Outbound", "Deny", "*", json!({"destinationPortRange": "80"})),
            ]}}),
        ),
        res(
            "Microsoft.Network/networkInterfaces",
            json!({"id": "/subscriptions/subid/resourceGroups/rg2/providers/Microsoft.Network/networkInterfaces/vm1-nic", "name": "vm1-nic",
            "properties": {"virtualMachine": {"id": vm}, "networkSecurityGroup": {"id": nsg_id},
                "ipConfigurations": [{"name": "ipconfig1", "properties": {"primary": true, "privateIPAddress": local.to_string()}}]}}),
        ),
    ];
    let config = NetworkConfig::from_resources(&rs, None);
    let v = verify(&config, &q, &Target::Vm(vm), &ServiceTags::default(), false).unwrap();
    assert_eq!(v.access.to_string(), want["access"].as_str().unwrap());
    let nic = v.evaluated_network_security_groups.iter().find(|e| e.applied_to_kind == "nic").unwrap();
    let rule = &nic.matched_rule.as_ref().unwrap().rule_name;
    assert_eq!(rule.rsplit('/').next().unwrap(), want["ruleName"].as_str().unwrap());
}
