//! End to end: `azir demo`, then `azir exposure` and `azir topology` on its case.
//!
//! The demo ships the configuration a responder collects at the end of the window (after the
//! attacker's `AllowAnyInbound-Mgmt` rule on nsg-web was deleted): vm-web-01 has a public IP,
//! the application gateway forwards 443 to both web VMs on 80, Bastion reaches the prod VMs, and
//! a dev load balancer's SSH NAT rules are blocked by nsg-dev. `--at` during the attack rebuilds
//! the rule from the Activity Log and shows SSH/RDP open to the Internet on vm-web-01.
//!
//! The DOT output is parsed back by Graphviz (`dot -Tsvg`); without `dot` the test fails unless
//! `AZIR_SKIP_GRAPHVIZ=1` says to skip that part knowingly.

use azir_demo as story;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

mod common;
use common::{azir, demo, run};

fn exposure(extra: &[&str]) -> Value {
    let mut args = vec!["--json", "exposure", "--case", &demo().case];
    args.extend(extra);
    serde_json::from_str(&azir(&args)).expect("exposure prints JSON")
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().map(|x| s(x).to_string()).collect()).unwrap_or_default()
}

/// Rows of `vm` reached `via`.
fn rows<'a>(x: &'a Value, key: &str, vm: &str, via: &str) -> Vec<&'a Value> {
    x[key].as_array().unwrap().iter().filter(|r| s(&r["vm"]) == vm && s(&r["via"]) == via).collect()
}

#[test]
fn exposure_of_the_demo_after_containment() {
    let x = exposure(&[]);
    assert_eq!(x["at"], Value::Null);
    // Through the application gateway: 443 on 192.0.2.100 → both web VMs on 80.
    for (vm, nic, ip) in [("vm-web-01", "vm-web-01-nic", "10.10.1.4"), ("vm-web-02", "vm-web-02-nic", "10.10.1.5")] {
        let r = rows(&x, "rows", vm, "application-gateway");
        assert_eq!(r.len(), 1, "{vm}: {x:#}");
        let r = r[0];
        assert_eq!((s(&r["nic"]), s(&r["private_ip"])), (nic, ip));
        assert_eq!((s(&r["public_ip"]), s(&r["public_port"])), ("192.0.2.100", "443"));
        assert_eq!((s(&r["protocol"]), s(&r["ports"])), ("TCP", "80"));
        assert_eq!(s(&r["allowed_from"]), "any Internet address");
        assert_eq!(
            strings(&r["rules"]),
            [
                "no NSG on subnet snet-appgw".to_string(),
                "no NSG on subnet snet-web".to_string(),
                format!("nsg-web (nic {nic}): securityRules/Allow-AppGw-Http"),
            ]
        );
        assert!(s(&r["entry"]).contains("agw-contoso-prod listener lst-https-shop"), "{r:#}");
    }
    // Bastion: SSH and RDP to the four prod VMs (AllowVnetInBound), none to dev (another VNet).
    let bastion: Vec<(String, String)> = x["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| s(&r["via"]) == "bastion")
        .map(|r| (s(&r["vm"]).to_string(), s(&r["ports"]).to_string()))
        .collect();
    let mut want = Vec::new();
    for vm in ["vm-app-01", "vm-db-01", "vm-web-01", "vm-web-02"] {
        for p in ["22", "3389"] {
            want.push((vm.to_string(), p.to_string()));
        }
    }
    assert_eq!(bastion, want);
    assert_eq!(x["rows"].as_array().unwrap().len(), 10, "{x:#}");
    // Nothing reaches vm-web-01 through its public IP any more: blocked, and by what.
    assert!(rows(&x, "rows", "vm-web-01", "public-ip").is_empty());
    let b = rows(&x, "blocked", "vm-web-01", "public-ip");
    assert_eq!(b.len(), 2, "TCP and UDP: {b:#?}");
    for b in b {
        assert_eq!((s(&b["public_ip"]), s(&b["ports"])), ("192.0.2.50", "*"));
        assert_eq!(strings(&b["denied_by"]), ["nsg-web (nic vm-web-01-nic): defaultSecurityRules/DenyAllInBound"]);
    }
    // vm-web-02 has no public IP: no direct row, no blocked entry either.
    assert!(
        rows(&x, "rows", "vm-web-02", "public-ip").is_empty()
            && rows(&x, "blocked", "vm-web-02", "public-ip").is_empty()
    );
    // The dev load balancer's SSH NAT rules are blocked by nsg-dev.
    for (vm, port) in [("vm-dev-01", "50001"), ("vm-dev-02", "50002")] {
        let b = rows(&x, "blocked", vm, "load-balancer-nat");
        assert_eq!(b.len(), 1, "{vm}");
        assert!(s(&b[0]["entry"]).contains(&format!("192.0.2.140:{port}")), "{:#}", b[0]);
        assert_eq!(
            strings(&b[0]["denied_by"]),
            [format!("nsg-dev (nic {vm}-nic): defaultSecurityRules/DenyAllInBound")]
        );
    }
}

#[test]
fn exposure_during_the_attack_shows_the_opened_rule() {
    let x = exposure(&["--at", "2026-03-12T04:00:00Z"]);
    assert_eq!(s(&x["at"]), "2026-03-12T04:00:00.000000Z");
    let r = rows(&x, "rows", story::SSH_TARGET_VM, "public-ip");
    // The attacker's rule allows protocol * on 22 and 3389 from anywhere: TCP and UDP.
    assert_eq!(r.len(), 2, "{x:#}");
    for (r, proto) in r.iter().zip(["TCP", "UDP"]) {
        assert_eq!((s(&r["protocol"]), s(&r["ports"])), (proto, "22,3389"));
        assert_eq!(r["notable_ports"], serde_json::json!([22, 3389]));
        assert_eq!(s(&r["private_ip"]), story::SSH_TARGET_IP);
        assert_eq!(s(&r["public_ip"]), "192.0.2.50");
        assert_eq!(s(&r["allowed_from"]), "any Internet address");
        assert_eq!(
            strings(&r["rules"]),
            [
                "no NSG on subnet snet-web".to_string(),
                format!("{} (nic vm-web-01-nic): securityRules/{}", story::OPENED_NSG, story::OPENED_RULE)
            ]
        );
    }
    // Before the rule was written, the public IP led nowhere.
    let before = exposure(&["--at", "2026-03-12T03:00:00Z"]);
    assert!(rows(&before, "rows", story::SSH_TARGET_VM, "public-ip").is_empty());
}

#[test]
fn exposure_text_output() {
    let out = azir(&["exposure", "--case", &demo().case, "--at", "2026-03-12T04:00Z"]);
    assert!(out.contains("config: as of 2026-03-12T04:00:00"), "{out}");
    assert!(
        out.contains("vm-web-01 vm-web-01-nic 10.10.1.4  TCP 22,3389  via public-ip  from any Internet address"),
        "{out}"
    );
    assert!(out.contains("rule:  nsg-web (nic vm-web-01-nic): securityRules/AllowAnyInbound-Mgmt"), "{out}");
    assert!(out.contains("BLOCKED"), "{out}");
}

/// A minimal XML well-formedness check: balanced tags, quoted attributes, known entities, no
/// control characters.
fn assert_well_formed(xml: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(['<', '&']) {
        assert!(!rest[..i].contains('>'), "bare > in text");
        rest = &rest[i..];
        if rest.starts_with('&') {
            let end = rest.find(';').expect("entity ends");
            assert!(["amp", "lt", "gt", "quot", "#39"].contains(&&rest[1..end]), "entity {}", &rest[..=end]);
            rest = &rest[end + 1..];
            continue;
        }
        let end = rest.find('>').expect("tag ends");
        let tag = &rest[1..end];
        assert!(!tag.contains('<') && tag.matches('"').count().is_multiple_of(2), "tag {tag:?}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "closing {name}");
        } else if !tag.ends_with('/') {
            stack.push(tag.split_whitespace().next().unwrap_or_default().to_string());
        }
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
    assert!(!xml.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
}

#[test]
fn topology_svg_is_well_formed_and_embeddable() {
    let out = demo().dir.path().join("net.svg");
    azir(&["topology", "--case", &demo().case, "--format", "svg", "--out", out.to_str().unwrap()]);
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.starts_with(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"topology\" data-chart=\"topology\" viewBox=\"0 0 "
    ));
    for bad in ["<script", "style=", "<style", "href", "url("] {
        assert!(!svg.contains(bad), "{bad}");
    }
    assert_well_formed(&svg);
    for want in [
        "NIC vm-web-01-nic",
        "VNet vnet-prod",
        "VNet vnet-dev-hub",
        "192.0.2.50",
        "Bastion bas-contoso-prod",
        "App Gateway agw-contoso-prod",
        "Load balancer lb-dev-ssh",
        "class=\"peering\"",
    ] {
        assert!(svg.contains(want), "{want}");
    }
    assert_eq!(svg.matches("class=\"nic\"").count(), 6);
    assert_eq!(svg.matches("class=\"public-ip\"").count(), 5);
}

#[test]
fn topology_json_mermaid_and_dot() {
    let t: Value = serde_json::from_str(&azir(&["--json", "topology", "--case", &demo().case])).unwrap();
    let subs = t["subscriptions"].as_array().unwrap();
    assert_eq!(subs.len(), 2);
    let vnets: Vec<&str> = subs.iter().flat_map(|s| s["vnets"].as_array().unwrap()).map(|v| s(&v["name"])).collect();
    assert_eq!(vnets, ["vnet-dev", "vnet-dev-hub", "vnet-prod"]);
    let attached: Vec<(&str, &str)> =
        t["public_ips"].as_array().unwrap().iter().map(|p| (s(&p["name"]), s(&p["attached_kind"]))).collect();
    assert_eq!(
        attached,
        [
            ("pip-afw-contoso-dev", "firewall"),
            ("pip-agw-contoso-prod", "application-gateway"),
            ("pip-bas-contoso-prod", "bastion"),
            ("pip-lb-dev-ssh", "load-balancer"),
            ("pip-vm-web-01", "nic"),
        ]
    );
    let peerings: Vec<&str> = t["peerings"].as_array().unwrap().iter().map(|p| s(&p["state"])).collect();
    assert_eq!(peerings, ["Connected", "Connected"]);
    let nat = &t["load_balancers"][0]["rules"][0];
    assert_eq!((s(&nat["kind"]), s(&nat["frontend_ports"]), s(&nat["backend_port"])), ("InboundNat", "50001", "22"));

    let mm = azir(&["topology", "--case", &demo().case, "--format", "mermaid"]);
    assert!(mm.starts_with("flowchart LR\n"), "{mm}");
    assert_eq!(mm.matches("subgraph").count(), mm.lines().filter(|l| l.trim() == "end").count());

    let dot = azir(&["topology", "--case", &demo().case]);
    assert!(dot.starts_with("digraph topology {"));
    match Command::new("dot").arg("-Tsvg").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(mut child) => {
            child.stdin.take().unwrap().write_all(dot.as_bytes()).unwrap();
            let o = child.wait_with_output().unwrap();
            assert!(o.status.success(), "dot rejects the output: {}", String::from_utf8_lossy(&o.stderr));
            let svg = String::from_utf8_lossy(&o.stdout);
            // Graphviz writes "-" as &#45;.
            assert!(
                svg.contains("vm&#45;web&#45;01&#45;nic") && svg.contains("192.0.2.50") && svg.contains("</svg>"),
                "{svg}"
            );
        }
        Err(_) => assert!(
            std::env::var("AZIR_SKIP_GRAPHVIZ").is_ok_and(|v| v == "1"),
            "\n\n*** GRAPHVIZ MISSING ***\nthis test parses `azir topology` DOT back with `dot -Tsvg`: install it \
             (`apt-get install graphviz`), or set AZIR_SKIP_GRAPHVIZ=1 to skip this part knowingly.\n"
        ),
    }
}

#[test]
fn a_case_without_configuration_names_what_to_ingest() {
    let empty = tempfile::tempdir().unwrap();
    let c = empty.path().join("c");
    azir(&["case", "init", c.to_str().unwrap(), "-q"]);
    for cmd in ["topology", "exposure"] {
        let (code, _, err) = run(&[cmd, "--case", c.to_str().unwrap()]);
        assert_eq!(code, 1, "{cmd}");
        assert!(err.contains("no network configuration") && err.contains("az network public-ip list"), "{cmd}: {err}");
    }
}
