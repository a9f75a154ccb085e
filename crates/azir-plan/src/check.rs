//! Checks on a plan read back ([`crate::read`]): each finding names the check, the line, the
//! risk and the fix.
//!
//! | check | finds |
//! |---|---|
//! | `cidr-overlap` | a VNet or subnet of the plan overlapping a known range (the case's VNets, peerings, UDRs; `azir:known-prefix` lines) |
//! | `mgmt-open` | an inbound Allow to SSH (22), RDP (3389) or WinRM (5985/5986) from `*`, `Any`, `Internet` or `0.0.0.0/0` |
//! | `storage-public` | a storage account whose firewall admits public networks (default action not Deny, an IP rule for everything), public blob access on, a container with public access |
//! | `storage-tls` | a storage account accepting TLS below 1.2 |
//! | `egress-open` | an NSG of the plan whose outbound rules let the Internet through (no deny, or an allow before it) |
//! | `priority-collision` | two rules of one NSG and direction with the same priority, a priority outside 100–4096, a rule name created twice |
//! | `forensic-path-cut` | a containment NSG that no longer lets the forensic subnet in (SSH or RDP), or whose forensic subnet is unknown |
//! | `isolation-leaky` | a containment NSG that still lets the Internet in or out |
//!
//! Rules are evaluated as Azure does: by priority, first match wins, defaults (allow VNet,
//! allow Internet outbound, deny Internet inbound) when nothing matches. Service tags are
//! approximated: `Internet` is any public address, `VirtualNetwork` any private one; other tags
//! (`Storage`, `AzureCloud`, …) match neither a test address on the Internet nor the forensic
//! subnet. Values the reader could not resolve (`${X}` from a command substitution) match
//! nothing, so a check never fires on a guess.

use crate::facts::KnownPrefix;
use crate::read::{PRule, PlanModel};
use ipnet::IpNet;
use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Medium,
    /// Fix before running.
    High,
}

/// One problem in a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Check id (`mgmt-open`, …).
    pub check: &'static str,
    /// Severity.
    pub severity: Severity,
    /// Line in the plan file (0: the plan as a whole).
    pub line: usize,
    /// What was found.
    pub message: String,
    /// Why it matters.
    pub risk: String,
    /// How to fix it.
    pub fix: String,
}

/// Every check id, in report order.
pub const CHECKS: [&str; 8] = [
    "cidr-overlap",
    "mgmt-open",
    "storage-public",
    "storage-tls",
    "egress-open",
    "priority-collision",
    "forensic-path-cut",
    "isolation-leaky",
];

fn net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>().ok().or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from)).map(|n| n.trunc())
}

fn is_any(s: &str) -> bool {
    matches!(s.trim().to_ascii_lowercase().as_str(), "*" | "any" | "internet" | "0.0.0.0/0" | "0.0.0.0" | "::/0")
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => {
            !(v.is_private()
                || v.is_loopback()
                || v.is_link_local()
                || v.octets()[0] == 100 && (64..128).contains(&v.octets()[1]))
        }
        IpAddr::V6(v) => {
            !(v.is_loopback() || (v.segments()[0] & 0xfe00) == 0xfc00 || (v.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// An address field matches `ip` (see the module docs for tags).
fn addr_matches(field: &str, ip: IpAddr) -> bool {
    let f = field.trim();
    match f.to_ascii_lowercase().as_str() {
        "*" | "any" => true,
        "internet" => is_public(ip),
        "virtualnetwork" => !is_public(ip),
        _ => net(f).is_some_and(|n| n.contains(&ip)),
    }
}

fn port_matches(field: &str, port: u16) -> bool {
    let f = field.trim();
    if f == "*" || f.eq_ignore_ascii_case("any") {
        return true;
    }
    f.split(',').any(|p| match p.trim().split_once('-') {
        Some((a, b)) => {
            a.trim().parse::<u16>().is_ok_and(|a| a <= port) && b.trim().parse::<u16>().is_ok_and(|b| port <= b)
        }
        None => p.trim().parse::<u16>() == Ok(port),
    })
}

fn proto_matches(field: &str, proto: &str) -> bool {
    let f = field.trim();
    f == "*" || f.eq_ignore_ascii_case("any") || f.eq_ignore_ascii_case(proto)
}

/// Which rule of `rules` (one NSG) decides a flow; `None`: the defaults decide.
fn decide<'a>(
    rules: &[&'a PRule],
    inbound: bool,
    proto: &str,
    src: IpAddr,
    dst: IpAddr,
    port: u16,
) -> Option<&'a PRule> {
    let mut rs: Vec<&&PRule> = rules
        .iter()
        .filter(|r| {
            r.direction.eq_ignore_ascii_case(if inbound { "Inbound" } else { "Outbound" }) && r.priority.is_some()
        })
        .collect();
    rs.sort_by_key(|r| r.priority);
    rs.into_iter()
        .find(|r| {
            proto_matches(&r.protocol, proto)
                && r.src.iter().any(|s| addr_matches(s, src))
                && r.dst.iter().any(|d| addr_matches(d, dst))
                && r.ports.iter().any(|p| port_matches(p, port))
        })
        .copied()
}

/// Azure's default verdict when no rule matches: VNet to VNet allowed, Internet outbound
/// allowed, everything else inbound denied.
fn default_allows(inbound: bool, src: IpAddr, dst: IpAddr) -> bool {
    if inbound {
        !is_public(src) && !is_public(dst)
    } else {
        true
    }
}

fn allowed(
    rules: &[&PRule],
    inbound: bool,
    proto: &str,
    src: IpAddr,
    dst: IpAddr,
    port: u16,
) -> (bool, Option<String>) {
    match decide(rules, inbound, proto, src, dst, port) {
        Some(r) => (r.access.eq_ignore_ascii_case("Allow"), Some(r.name.clone())),
        None => (default_allows(inbound, src, dst), None),
    }
}

const INTERNET: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 10));
const PRIVATE_DST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 255, 255, 4));

fn f(check: &'static str, severity: Severity, line: usize, message: String, risk: &str, fix: &str) -> Finding {
    Finding { check, severity, line, message, risk: risk.to_string(), fix: fix.to_string() }
}

/// Runs every check. `known` adds the case's ranges to the plan's own `azir:known-prefix` lines.
pub fn check(m: &PlanModel, known: &[KnownPrefix]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut ranges: Vec<(IpNet, String)> = known.iter().map(|k| (k.prefix, k.source.clone())).collect();
    for (p, src) in &m.known {
        if let Some(n) = net(p) {
            ranges.push((n, if src.is_empty() { "a known range".into() } else { src.clone() }));
        }
    }

    // cidr-overlap
    for v in &m.vnets {
        let mut prefixes: Vec<&String> = v.prefixes.iter().collect();
        if prefixes.is_empty() {
            prefixes.extend(v.subnets.iter().flat_map(|s| s.1.iter()));
        }
        let mut seen = Vec::new();
        for p in prefixes {
            let Some(n) = net(p) else { continue };
            for (k, src) in &ranges {
                if crate::addr::overlaps(&n, k) && !seen.contains(k) {
                    seen.push(*k);
                    out.push(f(
                        "cidr-overlap",
                        Severity::High,
                        v.line,
                        format!("VNet {} uses {n}, which overlaps {k} ({src})", v.name),
                        "Peering is refused between overlapping address spaces, and an overlap with a range the target routes to (a peer, an on-premises network behind a UDR) sends forensic traffic to the wrong hosts or makes evidence hosts unreachable.",
                        "Pick a range outside every known one: `azir lab plan` chooses one when --address-space is not given.",
                    ));
                }
            }
        }
    }

    // mgmt-open
    for r in &m.rules {
        if !(r.direction.eq_ignore_ascii_case("Inbound") && r.access.eq_ignore_ascii_case("Allow")) {
            continue;
        }
        let open_src = r.src.iter().find(|s| is_any(s));
        let mgmt: Vec<u16> =
            [22u16, 3389, 5985, 5986].into_iter().filter(|p| r.ports.iter().any(|x| port_matches(x, *p))).collect();
        if let (Some(src), false, true) = (open_src, mgmt.is_empty(), proto_matches(&r.protocol, "Tcp")) {
            out.push(f(
                "mgmt-open",
                Severity::High,
                r.line,
                format!(
                    "NSG {} rule {} allows port(s) {} from {src}",
                    r.nsg,
                    r.name,
                    mgmt.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
                ),
                "SSH, RDP and WinRM open to the Internet are brute-forced within minutes; on a forensic host they expose the evidence, on a contained host they hand it back to the attacker.",
                "Restrict the source to the analyst's address (/32) or the forensic subnet, or use Azure Bastion.",
            ));
        }
    }

    // storage-public, storage-tls
    for s in &m.storage {
        let closed = s.public_network_access.as_deref().is_some_and(|p| p.eq_ignore_ascii_case("Disabled"));
        let default_open = match &s.default_action {
            Some(a) => !a.eq_ignore_ascii_case("Deny"),
            None => s.created,
        };
        if default_open && !closed {
            out.push(f(
                "storage-public",
                Severity::High,
                s.line,
                format!(
                    "storage account {} admits public networks (default action {})",
                    s.name,
                    s.default_action.as_deref().unwrap_or("Allow, by default")
                ),
                "Evidence in an account reachable from any network is one leaked key or SAS away from the attacker, and the chain of custody cannot exclude it.",
                "Set --default-action Deny (networkAcls.defaultAction: 'Deny') and admit the DFIR subnet with a VNet rule over a Microsoft.Storage service endpoint.",
            ));
        }
        if s.allow_blob_public_access.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            out.push(f(
                "storage-public",
                Severity::High,
                s.line,
                format!("storage account {} allows public (anonymous) blob access", s.name),
                "A container set to public by mistake serves evidence to anyone with its URL, without credentials.",
                "Set --allow-blob-public-access false (allowBlobPublicAccess: false).",
            ));
        }
        for ip in s.ip_rules.iter().filter(|ip| is_any(ip) || net(ip).is_some_and(|n| n.prefix_len() < 8)) {
            out.push(f(
                "storage-public",
                Severity::High,
                s.line,
                format!("storage account {} has an IP rule for {ip}", s.name),
                "An IP rule that broad opens the firewall to the Internet while it looks closed.",
                "Remove the rule; admit the DFIR subnet with a VNet rule instead.",
            ));
        }
        if let Some(t) = &s.min_tls {
            if !matches!(t.to_ascii_uppercase().as_str(), "TLS1_2" | "TLS1_3") {
                out.push(f(
                    "storage-tls",
                    Severity::Medium,
                    s.line,
                    format!("storage account {} accepts {t}", s.name),
                    "TLS 1.0/1.1 are deprecated and weaken the protection of evidence in transit.",
                    "Set --min-tls-version TLS1_2 (minimumTlsVersion: 'TLS1_2').",
                ));
            }
        }
    }
    for c in &m.containers {
        if c.public_access.as_deref().is_some_and(|p| matches!(p.to_ascii_lowercase().as_str(), "blob" | "container")) {
            out.push(f(
                "storage-public",
                Severity::High,
                c.line,
                format!("container {} has public access {}", c.name, c.public_access.as_deref().unwrap_or_default()),
                "Anonymous reads of the container's blobs (and listing, for 'container').",
                "Use --public-access off (publicAccess: 'None').",
            ));
        }
    }

    // Rules per NSG.
    let mut by_nsg: HashMap<&str, Vec<&PRule>> = HashMap::new();
    for r in &m.rules {
        by_nsg.entry(r.nsg.as_str()).or_default().push(r);
    }
    let mut nsg_names: Vec<&str> = by_nsg.keys().copied().collect();
    nsg_names.sort();
    let containment = m.kind.as_deref() == Some("contain") || (m.kind.is_none() && !m.nic_nsgs.is_empty());
    let isolation: Vec<&str> = m.nic_nsgs.iter().map(|n| n.nsg.as_str()).collect();

    // egress-open: every NSG the plan creates or fills.
    for name in &nsg_names {
        let rules = &by_nsg[name];
        let line = m.nsgs.iter().find(|n| n.0 == *name).map_or(rules[0].line, |n| n.1);
        let src = PRIVATE_DST;
        let open: Vec<String> = [("Tcp", 443u16), ("Udp", 53)]
            .iter()
            .filter_map(|(p, port)| {
                let (ok, by) = allowed(rules, false, p, src, INTERNET, *port);
                ok.then(|| format!("{p}/{port} ({})", by.unwrap_or_else(|| "default AllowInternetOutBound".into())))
            })
            .collect();
        if !open.is_empty() {
            let has_deny = rules.iter().any(|r| {
                r.direction.eq_ignore_ascii_case("Outbound")
                    && r.access.eq_ignore_ascii_case("Deny")
                    && r.dst.iter().any(|d| addr_matches(d, INTERNET))
            });
            out.push(f(
                "egress-open",
                Severity::High,
                line,
                format!(
                    "NSG {name} lets traffic out to the Internet: {}{}",
                    open.join(", "),
                    if has_deny { "; its deny comes after an allow" } else { "; no outbound deny covers the Internet" }
                ),
                "A forensic host that reaches the Internet can leak evidence and lets malware found in it call home; a contained host keeps its command-and-control channel.",
                "Add an outbound Deny to destination Internet (or *) with a lower priority number than any allow that covers Internet addresses.",
            ));
        }
    }

    // priority-collision
    for name in &nsg_names {
        let rules = &by_nsg[name];
        let mut seen: HashMap<(String, i64), &str> = HashMap::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        for r in rules {
            if let Some(first) = names.insert(r.name.to_ascii_lowercase(), r.line) {
                out.push(f(
                    "priority-collision",
                    Severity::Medium,
                    r.line,
                    format!(
                        "NSG {name}: rule {} is created again (first at line {first}); the second replaces the first",
                        r.name
                    ),
                    "Creating a rule with an existing name updates it: the first rule silently disappears.",
                    "Give each rule its own name.",
                ));
            }
            match r.priority {
                None => out.push(f(
                    "priority-collision",
                    Severity::High,
                    r.line,
                    format!("NSG {name}: rule {} has no numeric priority", r.name),
                    "Azure rejects the rule, and the plan stops half-applied.",
                    "Give it a priority between 100 and 4096.",
                )),
                Some(p) if !(100..=4096).contains(&p) => out.push(f(
                    "priority-collision",
                    Severity::High,
                    r.line,
                    format!("NSG {name}: rule {} has priority {p}, outside 100-4096", r.name),
                    "Azure rejects the rule, and the plan stops half-applied.",
                    "Use a priority between 100 and 4096.",
                )),
                Some(p) => {
                    let key = (r.direction.to_ascii_lowercase(), p);
                    if let Some(other) = seen.get(&key).filter(|o| !o.eq_ignore_ascii_case(&r.name)) {
                        out.push(f(
                            "priority-collision",
                            Severity::High,
                            r.line,
                            format!("NSG {name}: rules {other} and {} are both {} priority {p}", r.name, r.direction),
                            "Azure refuses two rules with one priority in a direction: the second create fails and the plan stops half-applied (or, edited by hand, the intended order is lost).",
                            "Give each rule of a direction its own priority.",
                        ));
                    } else {
                        seen.insert(key, r.name.as_str());
                    }
                }
            }
        }
    }

    // forensic-path-cut, isolation-leaky
    if containment {
        let forensic = m.forensic_prefix.as_deref().and_then(net);
        let mut iso: Vec<&str> = isolation.clone();
        iso.sort();
        iso.dedup();
        for name in iso {
            let rules: Vec<&PRule> = by_nsg.get(name).cloned().unwrap_or_default();
            let line = m.nic_nsgs.iter().find(|n| n.nsg == name).map_or(0, |n| n.line);
            match forensic {
                None => out.push(f(
                    "forensic-path-cut",
                    Severity::High,
                    line,
                    format!("containment NSG {name}: the forensic subnet is unknown (no azir:forensic-prefix line or FORENSIC_PREFIX)"),
                    "Without a known forensic range nobody can tell whether responders can still reach the contained host.",
                    "Set FORENSIC_PREFIX to the DFIR subnet (azir contain plan --forensic-cidr) and allow it inbound.",
                )),
                Some(fnet) => {
                    let host = first_host(&fnet);
                    let reach: Vec<(u16, bool, Option<String>)> = [22u16, 3389]
                        .iter()
                        .map(|p| {
                            let (ok, by) = allowed(&rules, true, "Tcp", host, PRIVATE_DST, *p);
                            (*p, ok, by)
                        })
                        .collect();
                    if !reach.iter().any(|r| r.1) {
                        let by: Vec<String> = reach.iter().map(|r| format!("{}: {}", r.0, r.2.clone().unwrap_or_else(|| "defaults".into()))).collect();
                        out.push(f(
                            "forensic-path-cut",
                            Severity::High,
                            line,
                            format!("containment NSG {name} blocks the forensic subnet {fnet} on SSH and RDP ({})", by.join(", ")),
                            "Once applied, responders cannot reach the host to collect memory and live evidence; undoing it means reopening the host.",
                            "Allow the forensic subnet inbound (22/3389, Tcp) with a lower priority number than the deny-all rule.",
                        ));
                    }
                }
            }
            let probe = |inbound: bool, probes: &[(&str, u16)]| {
                probes.iter().find_map(|(p, port)| {
                    let (src, dst) = if inbound { (INTERNET, PRIVATE_DST) } else { (PRIVATE_DST, INTERNET) };
                    let (ok, by) = allowed(&rules, inbound, p, src, dst, *port);
                    ok.then(|| (true, Some(format!("{p}/{port} by {}", by.unwrap_or_else(|| "the defaults".into())))))
                })
            };
            let leak_in =
                probe(true, &[("Tcp", 22), ("Tcp", 3389), ("Tcp", 443), ("Udp", 53)]).unwrap_or((false, None));
            let leak_out = probe(false, &[("Tcp", 443), ("Tcp", 80), ("Udp", 53)]).unwrap_or((false, None));
            for (dir, (ok, by)) in [("in from", leak_in), ("out to", leak_out)] {
                if ok {
                    out.push(f(
                        "isolation-leaky",
                        Severity::High,
                        line,
                        format!("containment NSG {name} lets the Internet {dir} the host ({})", by.unwrap_or_else(|| "defaults".into())),
                        "An isolation that leaks keeps the attacker's channel open while everyone believes the host is contained.",
                        "End the isolation NSG with Deny-All rules (priority 4096) in both directions.",
                    ));
                }
            }
        }
    }
    // `egress-open` on an isolation NSG says the same as `isolation-leaky`: keep the latter.
    if containment {
        out.retain(|x| {
            !(x.check == "egress-open" && isolation.iter().any(|n| x.message.starts_with(&format!("NSG {n} "))))
        });
    }
    out.sort_by(|a, b| a.line.cmp(&b.line).then(a.check.cmp(b.check)));
    out
}

fn first_host(n: &IpNet) -> IpAddr {
    match n {
        IpNet::V4(v) if v.prefix_len() < 31 => IpAddr::V4(std::net::Ipv4Addr::from(u32::from(v.network()) + 4)),
        other => other.network(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let ip: IpAddr = "10.0.0.5".parse().unwrap();
        assert!(addr_matches("10.0.0.0/24", ip) && addr_matches("*", ip) && addr_matches("VirtualNetwork", ip));
        assert!(!addr_matches("Internet", ip) && !addr_matches("Storage", ip) && !addr_matches("${X}", ip));
        assert!(addr_matches("Internet", INTERNET));
        assert!(port_matches("20-30", 22) && port_matches("22", 22) && !port_matches("80", 22) && port_matches("*", 1));
        assert!(proto_matches("*", "Tcp") && proto_matches("tcp", "Tcp") && !proto_matches("Udp", "Tcp"));
    }
}
