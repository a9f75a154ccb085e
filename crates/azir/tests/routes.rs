//! End to end: `azir demo`, then `azir routes` on its case.
//!
//! The demo's prod VNet `vnet-prod` is 10.10.0.0/16 without route tables; `vnet-dev`
//! (10.20.0.0/16) is peered (Connected) with the hub `vnet-dev-hub` (10.21.0.0/24). So vm-web-01's
//! NIC has the six system routes only, and vm-dev-01's adds the peering; a gateway route file
//! adds `VirtualNetworkGateway` routes that override the `None` range of the same prefix.

use serde_json::Value;

mod common;
use common::{azir, demo, run};

fn routes_json(extra: &[&str]) -> Value {
    let mut args = vec!["--json", "routes", "--case", &demo().case];
    args.extend(extra);
    serde_json::from_str(&azir(&args)).expect("routes prints JSON")
}

/// (source, state, prefixes, next hop type, next hop IPs) per route.
fn rows(v: &Value) -> Vec<(String, String, String, String, String)> {
    let join = |x: &Value| x.as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect::<Vec<_>>().join(",");
    v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            (s("source"), s("state"), join(&r["addressPrefix"]), s("nextHopType"), join(&r["nextHopIpAddress"]))
        })
        .collect()
}

fn row(source: &str, state: &str, prefix: &str, hop: &str, ip: &str) -> (String, String, String, String, String) {
    (source.into(), state.into(), prefix.into(), hop.into(), ip.into())
}

#[test]
fn web_nic_system_routes_and_next_hops() {
    let v = routes_json(&["--nic", "vm-web-01-nic", "--dst", "8.8.8.8"]);
    assert!(v["nicId"].as_str().unwrap().ends_with("/networkInterfaces/vm-web-01-nic"), "{v:#}");
    assert!(v["subnetId"].as_str().unwrap().ends_with("/virtualNetworks/vnet-prod/subnets/snet-web"));
    assert_eq!(v["routeTableId"], Value::Null);
    assert_eq!(v["at"], Value::Null);
    assert_eq!(
        rows(&v),
        vec![
            row("Default", "Active", "10.10.0.0/16", "VnetLocal", ""),
            row("Default", "Active", "0.0.0.0/0", "Internet", ""),
            row("Default", "Active", "10.0.0.0/8", "None", ""),
            row("Default", "Active", "100.64.0.0/10", "None", ""),
            row("Default", "Active", "172.16.0.0/12", "None", ""),
            row("Default", "Active", "192.168.0.0/16", "None", ""),
        ]
    );
    let h = &v["nextHop"];
    assert_eq!((h["destination"].as_str(), h["nextHopType"].as_str()), (Some("8.8.8.8"), Some("Internet")));
    assert_eq!(h["dropped"], false);
    assert_eq!(h["route"]["addressPrefix"][0], "0.0.0.0/0");

    // Within the VNet, a private range outside it (dropped), by id as well as by name.
    let id = v["nicId"].as_str().unwrap().to_string();
    let v = routes_json(&["--nic", &id, "--dst", "10.10.3.4"]);
    assert_eq!(v["nextHop"]["nextHopType"], "VnetLocal");
    let v = routes_json(&["--nic", "vm-web-01-nic", "--dst", "10.99.0.1"]);
    assert_eq!((v["nextHop"]["nextHopType"].as_str(), &v["nextHop"]["dropped"]), (Some("None"), &Value::Bool(true)));
    assert_eq!(v["nextHop"]["route"]["addressPrefix"][0], "10.0.0.0/8");
}

#[test]
fn text_output_is_the_portal_table_and_the_next_hop() {
    let out = azir(&["routes", "--case", &demo().case, "--nic", "vm-web-01-nic", "--dst", "192.168.4.4"]);
    let header = out.lines().find(|l| l.starts_with("SOURCE")).expect("a table header");
    for col in ["STATE", "ADDRESS PREFIXES", "NEXT HOP TYPE", "NEXT HOP IP"] {
        assert!(header.contains(col), "{out}");
    }
    assert!(
        out.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["Default", "Active", "10.10.0.0/16", "VnetLocal", "-", "-"]),
        "{out}"
    );
    assert!(out.contains("route:       system route 192.168.0.0/16"), "{out}");
    assert!(out.contains("next hop:    None (dropped)"), "{out}");
}

#[test]
fn dev_nic_has_the_peering_and_at_is_accepted() {
    let v = routes_json(&["--nic", "vm-dev-01-nic", "--dst", "10.21.0.4", "--at", "2026-03-14T00:00Z"]);
    assert!(rows(&v).contains(&row("Default", "Active", "10.21.0.0/24", "VNetPeering", "")), "{v:#}");
    assert!(rows(&v).contains(&row("Default", "Active", "10.20.0.0/16", "VnetLocal", "")));
    assert_eq!(v["nextHop"]["nextHopType"], "VNetPeering");
    assert!(v["at"].as_str().unwrap().starts_with("2026-03-14T00:00:00"), "{}", v["at"]);
    // The prod NIC has no peering route for the hub: its addresses fall into 10.0.0.0/8 → None.
    let p = routes_json(&["--nic", "vm-web-01-nic", "--dst", "10.21.0.4"]);
    assert!(!rows(&p).iter().any(|r| r.3 == "VNetPeering"));
    assert_eq!(p["nextHop"]["nextHopType"], "None");
}

#[test]
fn gateway_routes_file_overrides_a_none_range() {
    let file = demo().dir.path().join("gw.json");
    std::fs::write(
        &file,
        r#"[{"addressPrefix":"192.168.0.0/16","nextHopIpAddress":"10.10.255.4"},{"addressPrefix":"10.10.9.0/24","nextHopIpAddress":"10.10.255.4"}]"#,
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let v = routes_json(&["--nic", "vm-web-01-nic", "--gateway-routes", f, "--dst", "192.168.4.4"]);
    let r = rows(&v);
    assert!(
        r.contains(&row("VirtualNetworkGateway", "Active", "192.168.0.0/16", "VirtualNetworkGateway", "10.10.255.4")),
        "{r:#?}"
    );
    assert!(r.contains(&row("Default", "Invalid", "192.168.0.0/16", "None", "")), "{r:#?}");
    // A gateway route inside the VNet's space loses to VnetLocal.
    assert!(r.contains(&row(
        "VirtualNetworkGateway",
        "Invalid",
        "10.10.9.0/24",
        "VirtualNetworkGateway",
        "10.10.255.4"
    )));
    assert_eq!(v["nextHop"]["nextHopType"], "VirtualNetworkGateway");
    assert_eq!(v["nextHop"]["nextHopIpAddress"][0], "10.10.255.4");
    // A broken file is an error naming it.
    std::fs::write(&file, r#"[{"addressPrefix":"not-a-cidr"}]"#).unwrap();
    let (code, _, err) = run(&["routes", "--case", &demo().case, "--nic", "vm-web-01-nic", "--gateway-routes", f]);
    assert_eq!(code, 1);
    assert!(err.contains("--gateway-routes") && err.contains("not a CIDR"), "{err}");
}

#[test]
fn unknown_nic_and_bad_destination_are_errors() {
    let (code, out, err) = run(&["routes", "--case", &demo().case, "--nic", "no-such-nic"]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("no NIC \"no-such-nic\""), "{err}");
    assert!(err.contains("vm-web-01-nic (10.10.1.4)") && err.contains("vm-dev-01-nic (10.20.1.4)"), "{err}");
    let (code, _, err) = run(&["routes", "--case", &demo().case, "--nic", "vm-web-01-nic", "--dst", "10.0.0.0/8"]);
    assert_eq!(code, 1);
    assert!(err.contains("not an IP address"), "{err}");
}
