//! Offline NSG evaluation: would this flow be allowed, by which rule of which NSG — at any
//! instant for which the case holds the configuration. What Network Watcher's IP flow verify
//! and NSG diagnostics answer for the present, answered from ARM JSON.
//!
//! # Model
//!
//! [`NetworkConfig::from_resources`] reads the case's `resources` rows (see `azir-logs`
//! `parsers::arm`) as they were at an instant: per resource the latest snapshot at or before it
//! (a note says when only a later snapshot exists). NSGs carry their `securityRules` and
//! `defaultSecurityRules` (the six defaults are synthesised when the export left them out);
//! child resources listed on their own (a rule, a subnet, a peering) replace the copy nested in
//! their parent.
//!
//! # Evaluation ([`verify`])
//!
//! - The NIC: `--nic` (name or id), else `--vm` (its NICs; the one holding the local address,
//!   else the primary), else the NIC whose private IP is the local address (the destination
//!   inbound, the source outbound). The IP configuration is the one holding the local address,
//!   else the primary one; its subnet gives the subnet NSG.
//! - The path: inbound, the subnet NSG then the NIC NSG; outbound, the NIC NSG then the subnet
//!   NSG. A missing NSG allows. The flow is allowed when every NSG on the path allows it.
//! - In one NSG, the rules of the flow's direction are tried by ascending priority (custom rules
//!   before default ones), and the first rule whose five fields all match decides.
//! - Fields: protocol (`*` covers TCP, UDP and ICMP; a flow asked with protocol `*` matches only
//!   `*` rules; Esp/Ah rules match no TCP/UDP/ICMP flow); addresses are the union of the singular
//!   and plural fields (augmented rules), each `*`/`Any`, an IP, a CIDR or a service tag; ASGs
//!   match when an IP configuration holding the address is in the group (resolved through every
//!   NIC of the case); ports are `*`, single ports and ranges, singular and plural unioned. A
//!   flow without a port (ICMP, or a source port not given) matches only "any port" for TCP/UDP,
//!   and ports are not compared for ICMP.
//! - Tags: `VirtualNetwork` is the NIC's VNet address spaces, the spaces of its connected
//!   peerings (recorded on the peering and, when ingested, the remote VNet's), the prefixes of the
//!   subnet's user-defined routes (a `0.0.0.0/0` UDR makes it everything, as in Azure) and the
//!   host IP 168.63.129.16. `Internet` is every publicly routable address outside
//!   `VirtualNetwork` (Azure public ranges included; private, shared, loopback, link-local,
//!   multicast and reserved ranges are not Internet). `AzureLoadBalancer` is 168.63.129.16. Any
//!   other tag comes from a Service Tags JSON file; a tag it lacks matches nothing and is named
//!   in the answer's notes.
//!
//! Rules see private addresses (inbound after DNAT, outbound before SNAT), as in Azure.
//! Azure Virtual Network Manager admin rules are not modelled.

pub mod config;
pub mod history;
pub mod rule;
pub mod tags;

pub use config::{NetworkConfig, Nic, Nsg};
pub use rule::{FieldMatch, Rule, RuleSet};
pub use tags::{AddressContext, ServiceTags};

use serde::Serialize;
use std::fmt;
use std::net::IpAddr;

/// Direction of a flow relative to the NIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum TrafficDirection {
    /// Towards the NIC.
    Inbound,
    /// From the NIC.
    Outbound,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Access {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Allow => "Allow",
            Access::Deny => "Deny",
        })
    }
}

/// A protocol of a flow or a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP (and ICMPv6).
    Icmp,
    /// `*`.
    Any,
}

impl Protocol {
    /// Reads `tcp`, `udp`, `icmp`, `*`/`any` (any case); `None` for anything else (`Esp`, `Ah`).
    pub fn parse(s: &str) -> Option<Protocol> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tcp" | "6" => Some(Protocol::Tcp),
            "udp" | "17" => Some(Protocol::Udp),
            "icmp" | "icmpv6" | "1" | "58" => Some(Protocol::Icmp),
            "*" | "any" | "all" => Some(Protocol::Any),
            _ => None,
        }
    }

    /// True when a rule of this protocol matches a flow of protocol `flow`.
    pub fn covers(self, flow: Protocol) -> bool {
        self == Protocol::Any || self == flow
    }

    fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Icmp => "ICMP",
            Protocol::Any => "*",
        }
    }
}

/// The flow to evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Direction relative to the NIC.
    pub direction: TrafficDirection,
    /// Protocol.
    pub protocol: Protocol,
    /// Source address.
    pub src: IpAddr,
    /// Source port, if given.
    pub src_port: Option<u16>,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port, if given.
    pub dst_port: Option<u16>,
}

impl Query {
    /// The address on the NIC's side: the destination inbound, the source outbound.
    pub fn local(&self) -> IpAddr {
        match self.direction {
            TrafficDirection::Inbound => self.dst,
            TrafficDirection::Outbound => self.src,
        }
    }
}

/// Reads `IP`, `IP:PORT`, `[IPv6]:PORT` or a bare IPv6 address.
pub fn parse_endpoint(s: &str) -> Result<(IpAddr, Option<u16>), String> {
    let t = s.trim();
    let port = |p: &str| p.parse::<u16>().map_err(|_| format!("{s:?}: {p:?} is not a port (0-65535)"));
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok((ip, None));
    }
    if let Some(rest) = t.strip_prefix('[') {
        let (ip, tail) = rest.split_once(']').ok_or_else(|| format!("{s:?}: missing ']'"))?;
        let ip = ip.parse().map_err(|_| format!("{s:?}: {ip:?} is not an IP address"))?;
        return match tail.strip_prefix(':') {
            Some(p) => Ok((ip, Some(port(p)?))),
            None if tail.is_empty() => Ok((ip, None)),
            None => Err(format!("{s:?}: unexpected {tail:?} after the address")),
        };
    }
    let (ip, p) = t.rsplit_once(':').ok_or_else(|| format!("{s:?} is not an IP address"))?;
    let ip = ip.parse::<IpAddr>().map_err(|_| format!("{s:?}: {ip:?} is not an IP address"))?;
    Ok((ip, Some(port(p)?)))
}

/// Which NIC the flow is evaluated on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A NIC by name or id.
    Nic(String),
    /// A VM by name or id.
    Vm(String),
    /// The NIC holding the flow's local address.
    Auto,
}

/// Why a flow could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// No NIC of that name or id; the NICs known.
    UnknownNic { given: String, known: Vec<String> },
    /// A NIC name shared by several NICs (in different resource groups); their ids.
    AmbiguousNic { given: String, ids: Vec<String> },
    /// No VM of that name or id, and no NIC attached to one; the VMs known.
    UnknownVm { given: String, known: Vec<String> },
    /// No NIC holds the local address; the NICs known with their addresses.
    NoNicForAddress { ip: IpAddr, known: Vec<String> },
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none (ingest the network configuration)".to_string()
            } else {
                v.join(", ")
            }
        };
        match self {
            VerifyError::UnknownNic { given, known } => {
                write!(f, "no NIC {given:?} in the case; NICs known: {}", list(known))
            }
            VerifyError::AmbiguousNic { given, ids } => {
                write!(f, "several NICs are named {given:?}; give the id: {}", ids.join(", "))
            }
            VerifyError::UnknownVm { given, known } => {
                write!(f, "no VM {given:?} in the case; VMs known: {}", list(known))
            }
            VerifyError::NoNicForAddress { ip, known } => {
                write!(f, "no NIC of the case has the private IP {ip}; give --nic or --vm. NICs known: {}", list(known))
            }
        }
    }
}

impl std::error::Error for VerifyError {}

/// A rule as NSG diagnostics names it, with its per-field match.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleResult {
    /// `securityRules/<name>` or `defaultSecurityRules/<name>`.
    pub rule_name: String,
    /// Priority.
    pub priority: u32,
    /// Allow or Deny.
    pub action: Access,
    /// Per-field match.
    #[serde(flatten)]
    pub fields: FieldMatch,
    /// All fields matched.
    pub matched: bool,
}

/// The outcome at one NSG of the path (or at a place with none).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NsgResult {
    /// Where the NSG is applied: `subnet` or `nic`.
    pub applied_to_kind: &'static str,
    /// The subnet or NIC id (as written).
    pub applied_to: String,
    /// The NSG's id (`None`: nothing applied there).
    pub network_security_group_id: Option<String>,
    /// The NSG's name.
    pub network_security_group_name: Option<String>,
    /// The time of the NSG's configuration snapshot (ISO 8601 UTC).
    pub snapshot_time: Option<String>,
    /// The rule that decided (`None` when no NSG is applied).
    pub matched_rule: Option<RuleResult>,
    /// Allow or deny at this NSG.
    pub access: Access,
    /// Every rule of the direction in evaluation order (filled for `--explain`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules_evaluation_result: Vec<RuleResult>,
}

/// The answer for a flow.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// Overall access: Allow only when every NSG on the path allows.
    pub access: Access,
    /// Direction.
    pub direction: TrafficDirection,
    /// Protocol.
    pub protocol: &'static str,
    /// Source address.
    pub source: String,
    /// Source port (`*` when not given).
    pub source_port: String,
    /// Destination address.
    pub destination: String,
    /// Destination port (`*` when not given).
    pub destination_port: String,
    /// The NIC evaluated (id as written).
    pub nic_id: String,
    /// The NIC's name.
    pub nic_name: String,
    /// The NSGs of the path, in evaluation order.
    pub evaluated_network_security_groups: Vec<NsgResult>,
    /// What the answer rests on: snapshots later than asked, unknown tags, unreadable values.
    pub notes: Vec<String>,
}

/// Finds the NIC for `target`.
pub fn find_nic<'a>(config: &'a NetworkConfig, target: &Target, local: IpAddr) -> Result<&'a Nic, VerifyError> {
    let known = || config.nics.iter().map(nic_label).collect::<Vec<_>>();
    let holds = |n: &Nic| n.ip_configs.iter().any(|c| c.private_ip == Some(local));
    match target {
        Target::Nic(given) => {
            let g = given.trim();
            if let Some(n) = config.nics.iter().find(|n| n.id.eq_ignore_ascii_case(g)) {
                return Ok(n);
            }
            let named: Vec<&Nic> = config.nics.iter().filter(|n| n.name.eq_ignore_ascii_case(g)).collect();
            match named.as_slice() {
                [] => Err(VerifyError::UnknownNic { given: given.clone(), known: known() }),
                [n] => Ok(n),
                many => match many.iter().filter(|n| holds(n)).collect::<Vec<_>>().as_slice() {
                    [n] => Ok(n),
                    _ => Err(VerifyError::AmbiguousNic {
                        given: given.clone(),
                        ids: many.iter().map(|n| n.id.clone()).collect(),
                    }),
                },
            }
        }
        Target::Vm(given) => {
            let g = given.trim();
            let g_lower = g.to_ascii_lowercase();
            let vm_match = |id: &str| id == g_lower || id.rsplit('/').next().is_some_and(|n| n == g_lower);
            let mut ids: Vec<&str> = config
                .vms
                .iter()
                .filter(|v| v.id.eq_ignore_ascii_case(g) || v.name.eq_ignore_ascii_case(g))
                .flat_map(|v| v.nics.iter().map(String::as_str))
                .collect();
            // NICs name their VM too (the VM's own record may not have been exported).
            ids.extend(config.nics.iter().filter(|n| n.vm.as_deref().is_some_and(vm_match)).map(|n| n.id.as_str()));
            let nics: Vec<&Nic> =
                config.nics.iter().filter(|n| ids.iter().any(|i| n.id.eq_ignore_ascii_case(i))).collect();
            nics.iter()
                .find(|n| holds(n))
                .or_else(|| nics.iter().find(|n| n.ip_configs.iter().any(|c| c.primary)))
                .or(nics.first())
                .copied()
                .ok_or_else(|| VerifyError::UnknownVm {
                    given: given.clone(),
                    known: config.vms.iter().map(|v| v.name.clone()).collect(),
                })
        }
        Target::Auto => {
            config.nics.iter().find(|n| holds(n)).ok_or(VerifyError::NoNicForAddress { ip: local, known: known() })
        }
    }
}

fn nic_label(n: &Nic) -> String {
    let ips: Vec<String> = n.ip_configs.iter().filter_map(|c| c.private_ip).map(|i| i.to_string()).collect();
    if ips.is_empty() {
        n.name.clone()
    } else {
        format!("{} ({})", n.name, ips.join(", "))
    }
}

fn rule_result(r: &Rule, fields: FieldMatch) -> RuleResult {
    RuleResult {
        rule_name: format!("{}/{}", r.set.collection(), r.name),
        priority: r.priority,
        action: r.access,
        fields,
        matched: fields.all(),
    }
}

/// Evaluates one NSG: the first matching rule of the flow's direction, and (with `explain`)
/// every rule's per-field match.
pub fn evaluate_nsg(
    nsg: &Nsg,
    q: &Query,
    src_asgs: &[String],
    dst_asgs: &[String],
    ctx: &AddressContext,
    explain: bool,
) -> (Option<RuleResult>, Vec<RuleResult>) {
    let mut matched = None;
    let mut all = Vec::new();
    for r in nsg.rules.iter().filter(|r| r.direction == q.direction) {
        let fields = r.evaluate(q, src_asgs, dst_asgs, ctx);
        let res = rule_result(r, fields);
        if matched.is_none() && res.matched {
            matched = Some(res.clone());
            if !explain {
                break;
            }
        }
        if explain {
            all.push(res);
        }
    }
    (matched, all)
}

/// Evaluates a flow on the NSGs of its path.
pub fn verify(
    config: &NetworkConfig,
    q: &Query,
    target: &Target,
    tags: &ServiceTags,
    explain: bool,
) -> Result<Verdict, VerifyError> {
    let local = q.local();
    let nic = find_nic(config, target, local)?;
    let mut notes = config.notes.clone();
    let ipc = nic.config_for(local);
    if !nic.ip_configs.iter().any(|c| c.private_ip == Some(local)) {
        notes.push(format!(
            "{local} is not a private IP of NIC {}; evaluated on its {} IP configuration",
            nic.name,
            if ipc.is_some_and(|c| c.primary) { "primary" } else { "first" }
        ));
    }
    let subnet_id = ipc.and_then(|c| c.subnet.as_deref());
    let subnet = subnet_id.and_then(|s| config.subnets.get(s));
    if let (Some(s), None) = (subnet_id, subnet) {
        notes.push(format!("subnet {s} is not in the case: its NSG (if any) is not evaluated"));
    }
    let ctx = config.address_context(subnet_id, tags);
    let src_asgs = config.asgs_of(q.src);
    let dst_asgs = config.asgs_of(q.dst);
    let subnet_place = (
        "subnet",
        subnet.map_or_else(|| subnet_id.unwrap_or_default().to_string(), |s| s.id.clone()),
        subnet.and_then(|s| s.nsg.clone()),
    );
    let nic_place = ("nic", nic.id.clone(), nic.nsg.clone());
    let path = match q.direction {
        TrafficDirection::Inbound => [subnet_place, nic_place],
        TrafficDirection::Outbound => [nic_place, subnet_place],
    };
    let mut evaluated = Vec::new();
    for (kind, applied_to, nsg_id) in path {
        if kind == "subnet" && subnet_id.is_none() {
            continue;
        }
        let Some(nsg_id) = nsg_id else {
            evaluated.push(NsgResult {
                applied_to_kind: kind,
                applied_to,
                network_security_group_id: None,
                network_security_group_name: None,
                snapshot_time: None,
                matched_rule: None,
                access: Access::Allow,
                rules_evaluation_result: Vec::new(),
            });
            continue;
        };
        let Some(nsg) = config.nsgs.get(&nsg_id) else {
            notes.push(format!("NSG {nsg_id} (on {kind} {applied_to}) is not in the case: counted as allowing"));
            evaluated.push(NsgResult {
                applied_to_kind: kind,
                applied_to,
                network_security_group_id: Some(nsg_id),
                network_security_group_name: None,
                snapshot_time: None,
                matched_rule: None,
                access: Access::Allow,
                rules_evaluation_result: Vec::new(),
            });
            continue;
        };
        for r in nsg.rules.iter().filter(|r| r.direction == q.direction) {
            for t in r.unknown_tags(&ctx) {
                notes.push(format!(
                    "NSG {} rule {}: service tag {t} is unknown (give --service-tags); it matched nothing",
                    nsg.name, r.name
                ));
            }
            for u in r.unreadable() {
                notes.push(format!("NSG {} rule {}: unreadable value {u:?} matched nothing", nsg.name, r.name));
            }
        }
        if nsg.defaults_synthesised {
            notes
                .push(format!("NSG {}: no defaultSecurityRules in the export; Azure's six defaults assumed", nsg.name));
        }
        let (matched, all) = evaluate_nsg(nsg, q, &src_asgs, &dst_asgs, &ctx, explain);
        let access = matched.as_ref().map_or(Access::Deny, |m| m.action);
        evaluated.push(NsgResult {
            applied_to_kind: kind,
            applied_to,
            network_security_group_id: Some(nsg.id.clone()),
            network_security_group_name: Some(nsg.name.clone()),
            snapshot_time: nsg.time.map(azir_model::format_micros),
            matched_rule: matched,
            access,
            rules_evaluation_result: all,
        });
    }
    notes.dedup();
    let access = if evaluated.iter().all(|e| e.access == Access::Allow) { Access::Allow } else { Access::Deny };
    let port = |p: Option<u16>| p.map_or_else(|| "*".to_string(), |p| p.to_string());
    Ok(Verdict {
        access,
        direction: q.direction,
        protocol: q.protocol.as_str(),
        source: q.src.to_string(),
        source_port: port(q.src_port),
        destination: q.dst.to_string(),
        destination_port: port(q.dst_port),
        nic_id: nic.id.clone(),
        nic_name: nic.name.clone(),
        evaluated_network_security_groups: evaluated,
        notes,
    })
}

#[cfg(test)]
mod tests;
