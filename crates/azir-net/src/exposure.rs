//! What is reachable from the Internet: every VM/NIC and port, the path that reaches it and the
//! NSG rule(s) that let it through — answered offline from the configuration at one instant.
//!
//! # Entry points
//!
//! - **Public IP on a NIC** (`public-ip`): every port of the NIC, from the Internet.
//! - **Load balancer** with a public frontend: each load-balancing rule (`load-balancer-rule`:
//!   frontend port → backend port on every member of its pools; protocol `All` tests TCP and
//!   UDP; HA ports, frontend port 0, forward every port) and each inbound NAT rule
//!   (`load-balancer-nat`: frontend port, or a port range over a pool, → backend port of its
//!   `backendIPConfiguration`, else of the NIC naming the rule, else of the pool's members). The
//!   client address reaches the NIC unchanged (the load balancer does not SNAT inbound), so the
//!   backend NSGs are evaluated with Internet sources.
//! - **Application gateway** with a public frontend (`application-gateway`): each listener on
//!   that frontend, then each routing rule of the listener (and of its URL path map) → backend
//!   port of its HTTP settings on every member of the pool (NIC IP configurations, and backend
//!   addresses that are private IPs of a NIC of the case). Two legs: the gateway subnet's NSG
//!   must let the Internet reach the listener port (evaluated rule by rule, sources as below);
//!   the backend NSGs must let the gateway reach the backend port. The gateway's instances take
//!   addresses of its subnet that ARM does not list, so the backend leg is evaluated from the
//!   subnet's fifth address (Azure keeps the first four), which is what rules naming the subnet,
//!   `VirtualNetwork` or `*` see.
//! - **Bastion** with a public IP (`bastion`): TCP 22 and 3389 on every NIC of the Bastion's
//!   VNet and of VNets peered with it (`Connected`), from the Bastion subnet's fifth address,
//!   when the Bastion subnet's NSG (if any) lets the Internet reach 443. Reported as allowed
//!   from "Bastion users": reaching them takes an Entra ID sign-in and VM credentials, which is
//!   exactly what a compromised administrator has.
//! - **Azure Firewall** classic DNAT rules (`firewall-dnat`): destination address and ports →
//!   translated address and port, the translated address being a NIC's private IP. The firewall
//!   SNATs DNAT traffic to its own private address, so the backend leg is evaluated from it;
//!   the rule's `sourceAddresses` is the allowed-from. DNAT rules of a firewall *policy* live in
//!   the `firewallPolicies` resource, which azir does not ingest: such firewalls get a note.
//!
//! Internal load balancer frontends, private application gateway frontends and NICs without a
//! public path are not exposed (they appear in the topology only).
//!
//! # Ports tested
//!
//! An entry that forwards a single port (load-balancing and NAT rules, listeners, DNAT rules,
//! Bastion's 22/3389) is tested on that backend port. An entry that forwards every port (a
//! public IP on the NIC, HA ports) is tested exactly: the inbound rules of the NSGs on the path
//! decide the same way for every port between two consecutive boundaries of the port ranges they
//! name, so the range 0–65535 is cut at every rule's range start and end+1 (allow and deny rules
//! of a protocol covering the flow) and at 22, 80, 443, 3389, 5985 and 5986, and one port per
//! piece is evaluated, for TCP and for UDP. Adjacent allowed pieces with the same answer merge
//! back into ranges (`*` when it is every port); the management and web ports inside an allowed
//! range are listed in `notable_ports`. At most [`MAX_PIECES`] pieces are tested per NIC and
//! protocol (a note says when the cap cut a list).
//!
//! # Sources
//!
//! A row's `allowed_from` is `any Internet address` when a public address that no rule on the
//! path names specifically (outside every prefix and known service tag of the path's rules, and
//! outside `VirtualNetwork`) is allowed. When it is not, each Internet-facing source an allow
//! rule of the path names is tried with an address of its own — a public prefix (its first
//! public address), or a service tag whose prefixes the Service Tags file gives — and the rows
//! say `exposed to <sources>` (the prefixes and tags, as the rules write them). Private prefixes,
//! `VirtualNetwork`, `AzureLoadBalancer` and ASGs are not Internet sources. A tag the file lacks
//! cannot be tried: a note names the rule. The client's source port is taken as 49152.
//!
//! Every row names, per NSG on the path (subnet then NIC, as Azure evaluates inbound), the rule
//! that decided; entries whose every port is denied are listed in `blocked` with the deny rules.

use crate::nsg::config::{LbRuleKind, NetworkConfig, Nic};
use crate::nsg::rule::{AddressSpec, Rule};
use crate::nsg::{self, Access, AddressContext, Protocol, Query, ServiceTags, Target, TrafficDirection, Verdict};
use crate::topology::{appgw_pool_members, lb_pool_members, nat_target};
use ipnet::IpNet;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// Ports always cut out of a forwarded range and called out when exposed.
pub const NOTABLE_PORTS: [u16; 6] = [22, 80, 443, 3389, 5985, 5986];

/// The most port pieces tested per NIC and protocol for an entry forwarding every port.
pub const MAX_PIECES: usize = 512;

/// The client source port used in every evaluation.
pub const CLIENT_PORT: u16 = 49152;

/// Label of a row open to every Internet address.
pub const ANY_INTERNET: &str = "any Internet address";

/// Options of the analysis.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Service tags for NSG evaluation.
    pub tags: ServiceTags,
    /// The same tags' prefixes by lower-cased name, to try a tag-restricted rule with an address
    /// of the tag ([`tag_prefixes`]).
    pub tag_prefixes: HashMap<String, Vec<IpNet>>,
}

impl Options {
    /// Options from the text of a Service Tags JSON file.
    pub fn from_service_tags(json: &str) -> Result<Options, String> {
        Ok(Options { tags: ServiceTags::parse(json)?, tag_prefixes: tag_prefixes(json) })
    }
}

/// The prefixes of every tag of a Service Tags JSON file, by lower-cased name (empty when the
/// text is not one).
pub fn tag_prefixes(json: &str) -> HashMap<String, Vec<IpNet>> {
    let mut out: HashMap<String, Vec<IpNet>> = HashMap::new();
    let Ok(v) = serde_json::from_str::<Value>(json) else { return out };
    for t in v.get("values").and_then(Value::as_array).into_iter().flatten() {
        let Some(name) = t.get("name").and_then(Value::as_str) else { continue };
        let prefixes = t
            .pointer("/properties/addressPrefixes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|p| p.trim().parse::<IpNet>().ok());
        out.entry(name.to_ascii_lowercase()).or_default().extend(prefixes);
    }
    out
}

/// One exposed (NIC, entry, protocol, sources) with its ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExposureRow {
    /// The VM the NIC is attached to.
    pub vm: Option<String>,
    /// NIC name.
    pub nic: String,
    /// NIC id.
    pub nic_id: String,
    /// Private IP reached.
    pub private_ip: String,
    /// How: `public-ip`, `load-balancer-rule`, `load-balancer-nat`, `application-gateway`,
    /// `bastion`, `firewall-dnat`.
    pub via: &'static str,
    /// The entry point (public IP, rule, listener), named.
    pub entry: String,
    /// The public address clients connect to.
    pub public_ip: Option<String>,
    /// The public port(s) clients connect to (`*`: the same as `ports`).
    pub public_port: String,
    /// `TCP` or `UDP`.
    pub protocol: &'static str,
    /// Port(s) reached on the NIC: `22`, `8000-8010`, `*`, comma-separated ranges.
    pub ports: String,
    /// Management and web ports ([`NOTABLE_PORTS`]) within `ports`.
    pub notable_ports: Vec<u16>,
    /// `any Internet address`, or the prefixes/tags the allowing rules name.
    pub allowed_from: String,
    /// The hops, from the Internet to the VM.
    pub path: Vec<String>,
    /// Per NSG on the path: `nsg (subnet|nic X): securityRules/name`, or `no NSG on …`.
    pub rules: Vec<String>,
}

/// An Internet entry whose every tested port is denied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockedPath {
    /// The VM.
    pub vm: Option<String>,
    /// NIC name (or the gateway, when its own subnet blocks).
    pub nic: String,
    /// Private IP.
    pub private_ip: String,
    /// How.
    pub via: &'static str,
    /// The entry point.
    pub entry: String,
    /// Public address.
    pub public_ip: Option<String>,
    /// `TCP` or `UDP`.
    pub protocol: &'static str,
    /// Ports tested at the NIC.
    pub ports: String,
    /// The deny rules that decided.
    pub denied_by: Vec<String>,
}

/// The answer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Exposure {
    /// Exposed NICs and ports.
    pub rows: Vec<ExposureRow>,
    /// Entry points that lead nowhere (every tested port denied).
    pub blocked: Vec<BlockedPath>,
    /// What the answer rests on.
    pub notes: Vec<String>,
}

/// A source tried: its label and an address standing for it.
#[derive(Debug, Clone)]
struct Source {
    label: String,
    addr: IpAddr,
}

/// Where an entry lands: a NIC and the private IP.
struct Landing<'a> {
    nic: &'a Nic,
    ip: IpAddr,
}

/// What reaches the NIC and from where.
struct Entry {
    via: &'static str,
    entry: String,
    public_ip: Option<String>,
    /// Public port text (`*` for every port).
    public_port: String,
    hops: Vec<String>,
    /// Sources to try at the NIC (Internet sources; or one fixed source for gateways).
    sources: Sources,
    /// Backend port; `None`: every port.
    port: Option<u16>,
    protocols: Vec<Protocol>,
    /// Rules passed before the NIC (gateway subnet NSG), shown first.
    pre_rules: Vec<String>,
}

enum Sources {
    /// Internet sources as the NIC's path rules name them.
    Internet,
    /// A gateway's address, and the label of who can reach the gateway.
    Fixed { addr: IpAddr, label: String },
}

fn last(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

fn proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Udp => "UDP",
        _ => "TCP",
    }
}

fn protocols(text: &str) -> Vec<Protocol> {
    match text.trim().to_ascii_lowercase().as_str() {
        "udp" => vec![Protocol::Udp],
        "all" | "*" | "any" => vec![Protocol::Tcp, Protocol::Udp],
        _ => vec![Protocol::Tcp],
    }
}

/// The fifth address of a subnet (Azure keeps the first four), standing for a gateway's instances.
fn subnet_host(config: &NetworkConfig, subnet: Option<&str>) -> Option<IpAddr> {
    let s = config.subnets.get(subnet?)?;
    let n = s.prefixes.first()?;
    match n.network() {
        IpAddr::V4(a) => Some(IpAddr::V4(std::net::Ipv4Addr::from(u32::from(a).wrapping_add(4)))),
        IpAddr::V6(a) => Some(IpAddr::V6(std::net::Ipv6Addr::from(u128::from(a).wrapping_add(4)))),
    }
}

fn vm_name(config: &NetworkConfig, nic: &Nic) -> Option<String> {
    if let Some(v) = &nic.vm {
        return Some(
            config
                .vms
                .iter()
                .find(|x| x.id.eq_ignore_ascii_case(v))
                .map_or_else(|| last(v).to_string(), |x| x.name.clone()),
        );
    }
    config.vms.iter().find(|v| v.nics.iter().any(|n| n.eq_ignore_ascii_case(&nic.id))).map(|v| v.name.clone())
}

/// The inbound rules of the NSGs on a NIC's path (subnet, NIC) for the IP configuration holding `ip`.
fn path_rules<'a>(config: &'a NetworkConfig, nic: &Nic, ip: IpAddr) -> (Vec<&'a Rule>, Option<String>) {
    let subnet = nic.config_for(ip).and_then(|c| c.subnet.clone());
    let mut out = Vec::new();
    let subnet_nsg = subnet.as_deref().and_then(|s| config.subnets.get(s)).and_then(|s| s.nsg.as_deref());
    for id in [subnet_nsg, nic.nsg.as_deref()].into_iter().flatten() {
        if let Some(n) = config.nsgs.get(id) {
            out.extend(n.rules.iter().filter(|r| r.direction == TrafficDirection::Inbound));
        }
    }
    (out, subnet)
}

const GENERIC_V4: [&str; 8] = [
    "198.51.100.254",
    "203.0.113.254",
    "192.0.2.254",
    "45.33.32.156",
    "100.0.0.1",
    "151.101.1.1",
    "185.0.0.1",
    "1.2.3.4",
];
const GENERIC_V6: [&str; 3] = ["2001:db8:ffff::1", "2a00:1450:4001::1", "2c0f:f000::1"];

/// The Internet sources for a path: a generic public address no rule names, then one address per
/// Internet-facing source an allow rule names.
fn internet_sources(
    rules: &[&Rule],
    ctx: &AddressContext,
    opts: &Options,
    v6: bool,
    notes: &mut Vec<String>,
) -> Vec<Source> {
    let named = |ip: IpAddr| {
        ctx.in_virtual_network(ip)
            || rules.iter().flat_map(|r| &r.source.addresses).any(|a| match a {
                AddressSpec::Prefix(n) => n.prefix_len() > 0 && n.contains(&ip),
                AddressSpec::Tag(t) => {
                    opts.tag_prefixes.get(&t.to_ascii_lowercase()).is_some_and(|ps| ps.iter().any(|p| p.contains(&ip)))
                }
                AddressSpec::Any => false,
            })
    };
    let candidates: Vec<IpAddr> =
        if v6 { GENERIC_V6.iter() } else { GENERIC_V4.iter() }.filter_map(|s| s.parse().ok()).collect();
    let generic = match candidates.iter().copied().find(|ip| !named(*ip)) {
        Some(ip) => ip,
        None => {
            notes.push(
                "every generic Internet address tried is named by a rule: 'any Internet address' rows may be too broad"
                    .into(),
            );
            candidates[0]
        }
    };
    let mut out = vec![Source { label: ANY_INTERNET.into(), addr: generic }];
    let mut seen = BTreeSet::new();
    for r in rules.iter().filter(|r| r.access == Access::Allow) {
        for a in &r.source.addresses {
            let (label, addr) = match a {
                AddressSpec::Any => continue,
                AddressSpec::Prefix(n) => {
                    if n.prefix_len() == 0 || n.addr().is_ipv6() != v6 {
                        continue;
                    }
                    let Some(ip) = n
                        .hosts()
                        .take(64)
                        .chain(std::iter::once(n.network()))
                        .find(|ip| nsg::tags::is_public(*ip) && !ctx.in_virtual_network(*ip))
                    else {
                        continue;
                    };
                    (n.to_string(), ip)
                }
                AddressSpec::Tag(t) => {
                    if ["internet", "virtualnetwork", "azureloadbalancer"].contains(&t.to_ascii_lowercase().as_str()) {
                        continue;
                    }
                    let ip = opts.tag_prefixes.get(&t.to_ascii_lowercase()).and_then(|ps| {
                        ps.iter()
                            .filter(|p| p.addr().is_ipv6() == v6)
                            .flat_map(|p| p.hosts().take(4))
                            .find(|ip| nsg::tags::is_public(*ip))
                    });
                    match ip {
                        Some(ip) => (t.clone(), ip),
                        None => {
                            notes.push(format!("rule {} allows from service tag {t}, whose addresses are unknown (give --service-tags): not tried", r.name));
                            continue;
                        }
                    }
                }
            };
            if seen.insert(label.clone()) {
                out.push(Source { label, addr });
            }
        }
    }
    out
}

/// Inclusive port ranges.
type Pieces = Vec<(u16, u16)>;

/// Port pieces `[from, to]` on which the rules decide alike, cut at every rule boundary and at
/// the notable ports.
fn pieces(rules: &[&Rule], proto: Protocol) -> Vec<(u16, u16)> {
    let mut cuts: BTreeSet<u32> = BTreeSet::new();
    cuts.insert(0);
    for r in rules.iter().filter(|r| r.protocol.is_some_and(|p| p.covers(proto))) {
        for pr in &r.destination.ports {
            cuts.insert(pr.from as u32);
            cuts.insert(pr.to as u32 + 1);
        }
    }
    for p in NOTABLE_PORTS {
        cuts.insert(p as u32);
        cuts.insert(p as u32 + 1);
    }
    let cuts: Vec<u32> = cuts.into_iter().filter(|c| *c <= 65535).collect();
    cuts.iter().enumerate().map(|(i, a)| (*a as u16, cuts.get(i + 1).map_or(65535, |b| (*b - 1) as u16))).collect()
}

/// Per NSG on the path, the rule that decided; with `only_deny`, the first NSG that denied
/// (inbound traffic dropped at the subnet never reaches the NIC's NSG).
fn describe(v: &Verdict, only_deny: bool) -> Vec<String> {
    v.evaluated_network_security_groups
        .iter()
        .filter(|e| !only_deny || e.access == Access::Deny)
        .take(if only_deny { 1 } else { usize::MAX })
        .map(|e| {
            let place = format!("{} {}", e.applied_to_kind, last(&e.applied_to));
            match (&e.network_security_group_name, &e.matched_rule) {
                (Some(n), Some(r)) => format!("{n} ({place}): {}", r.rule_name),
                (None, _) if e.network_security_group_id.is_some() => {
                    format!(
                        "{} ({place}): not in the case, counted as allowing",
                        last(e.network_security_group_id.as_deref().unwrap_or_default())
                    )
                }
                _ => format!("no NSG on {place}"),
            }
        })
        .collect()
}

fn ranges_text(rs: &[(u16, u16)]) -> String {
    if rs == [(0, 65535)] {
        return "*".into();
    }
    rs.iter().map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect::<Vec<_>>().join(",")
}

fn merge(mut rs: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    rs.sort();
    let mut out: Vec<(u16, u16)> = Vec::new();
    for (a, b) in rs {
        match out.last_mut() {
            Some(l) if a as u32 <= l.1 as u32 + 1 => l.1 = l.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

struct Ctx<'a> {
    config: &'a NetworkConfig,
    opts: &'a Options,
    out: Exposure,
}

impl<'a> Ctx<'a> {
    fn verify(&mut self, nic: &Nic, src: IpAddr, dst: IpAddr, proto: Protocol, port: u16) -> Option<Verdict> {
        let q = Query {
            direction: TrafficDirection::Inbound,
            protocol: proto,
            src,
            src_port: Some(CLIENT_PORT),
            dst,
            dst_port: Some(port),
        };
        match nsg::verify(self.config, &q, &Target::Nic(nic.id.clone()), &self.opts.tags, false) {
            Ok(v) => {
                for n in &v.notes {
                    if !self.config.notes.contains(n) && !self.out.notes.contains(n) {
                        self.out.notes.push(n.clone());
                    }
                }
                Some(v)
            }
            Err(e) => {
                self.out.notes.push(format!("{}: {e}", nic.name));
                None
            }
        }
    }

    /// Tests an entry landing on a NIC and records rows or a blocked path.
    fn land(&mut self, e: &Entry, l: &Landing) {
        let (rules, subnet) = path_rules(self.config, l.nic, l.ip);
        let ctx = self.config.address_context(subnet.as_deref(), &self.opts.tags);
        let mut local_notes = Vec::new();
        let sources = match &e.sources {
            Sources::Internet => internet_sources(&rules, &ctx, self.opts, l.ip.is_ipv6(), &mut local_notes),
            Sources::Fixed { addr, label, .. } => vec![Source { label: label.clone(), addr: *addr }],
        };
        for n in local_notes {
            if !self.out.notes.contains(&n) {
                self.out.notes.push(n);
            }
        }
        let vm = vm_name(self.config, l.nic);
        for &proto in &e.protocols {
            let ps = match e.port {
                Some(p) => vec![(p, p)],
                None => {
                    let mut ps = pieces(&rules, proto);
                    if ps.len() > MAX_PIECES {
                        self.out.notes.push(format!(
                            "{}: {} port pieces for {}; only the first {MAX_PIECES} tested",
                            l.nic.name,
                            ps.len(),
                            proto_name(proto)
                        ));
                        ps.truncate(MAX_PIECES);
                    }
                    ps
                }
            };
            // (source label, rules) -> port pieces allowed.
            let mut allowed: BTreeMap<(usize, Vec<String>), Pieces> = BTreeMap::new();
            let mut denied_by: BTreeSet<String> = BTreeSet::new();
            for &(a, b) in &ps {
                for (si, s) in sources.iter().enumerate() {
                    let Some(v) = self.verify(l.nic, s.addr, l.ip, proto, a) else { return };
                    if v.access == Access::Allow {
                        allowed.entry((si, describe(&v, false))).or_default().push((a, b));
                        break; // the generic source subsumes the specific ones
                    } else if si == 0 {
                        denied_by.extend(describe(&v, true));
                    }
                }
            }
            if allowed.is_empty() {
                self.out.blocked.push(BlockedPath {
                    vm: vm.clone(),
                    nic: l.nic.name.clone(),
                    private_ip: l.ip.to_string(),
                    via: e.via,
                    entry: e.entry.clone(),
                    public_ip: e.public_ip.clone(),
                    protocol: proto_name(proto),
                    ports: ranges_text(&merge(ps.clone())),
                    denied_by: denied_by.into_iter().collect(),
                });
                continue;
            }
            for ((si, rules_desc), rs) in allowed {
                let rs = merge(rs);
                let notable = NOTABLE_PORTS
                    .iter()
                    .copied()
                    .filter(|p| rs.iter().any(|(a, b)| a <= p && p <= b))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let mut path = e.hops.clone();
                path.extend(rules_desc.iter().map(|r| format!("NSG {r}")));
                path.push(format!("NIC {} {}", l.nic.name, l.ip));
                if let Some(v) = &vm {
                    path.push(format!("VM {v}"));
                }
                let mut all_rules = e.pre_rules.clone();
                all_rules.extend(rules_desc);
                self.out.rows.push(ExposureRow {
                    vm: vm.clone(),
                    nic: l.nic.name.clone(),
                    nic_id: l.nic.id.clone(),
                    private_ip: l.ip.to_string(),
                    via: e.via,
                    entry: e.entry.clone(),
                    public_ip: e.public_ip.clone(),
                    public_port: e.public_port.clone(),
                    protocol: proto_name(proto),
                    ports: ranges_text(&rs),
                    notable_ports: notable,
                    allowed_from: sources[si].label.clone(),
                    path,
                    rules: all_rules,
                });
            }
        }
    }

    /// The NIC (and address) of a NIC IP configuration id.
    fn landing_of_ipconfig(&self, id: &str) -> Option<Landing<'a>> {
        self.config.nics.iter().find_map(|n| {
            n.ip_configs.iter().find(|c| c.id == id).and_then(|c| c.private_ip.map(|ip| Landing { nic: n, ip }))
        })
    }

    /// The NIC holding a private address.
    fn landing_of_ip(&self, ip: &str) -> Option<Landing<'a>> {
        let ip: IpAddr = ip.trim().parse().ok()?;
        self.config
            .nics
            .iter()
            .find(|n| n.ip_configs.iter().any(|c| c.private_ip == Some(ip)))
            .map(|nic| Landing { nic, ip })
    }

    fn pip_text(&self, id: Option<&str>) -> Option<(String, Option<String>)> {
        let id = id?;
        Some(match self.config.public_ips.get(id) {
            Some(p) => {
                let addr = p.address.map(|a| a.to_string());
                (format!("public IP {}{}", p.name, addr.as_deref().map(|a| format!(" {a}")).unwrap_or_default()), addr)
            }
            None => (format!("public IP {}", last(id)), None),
        })
    }

    /// Sources allowed by a gateway subnet's NSG to `port` from the Internet: `(labels, rule)`,
    /// or `Err(deny rules)`. No NSG (or no subnet) lets everything through.
    fn gateway_leg(&mut self, subnet: Option<&str>, port: u16) -> Result<(Vec<String>, Vec<String>), Vec<String>> {
        let Some(sid) = subnet else { return Ok((vec![ANY_INTERNET.into()], Vec::new())) };
        let sname = self.config.subnets.get(sid).map_or_else(|| last(sid).to_string(), |s| s.name.clone());
        let Some(nsg_id) = self.config.subnets.get(sid).and_then(|s| s.nsg.clone()) else {
            return Ok((vec![ANY_INTERNET.into()], vec![format!("no NSG on subnet {sname}")]));
        };
        let Some(n) = self.config.nsgs.get(&nsg_id) else {
            return Ok((
                vec![ANY_INTERNET.into()],
                vec![format!("{} (subnet {sname}): not in the case, counted as allowing", last(&nsg_id))],
            ));
        };
        let ctx = self.config.address_context(Some(sid), &self.opts.tags);
        let rules: Vec<&Rule> = n.rules.iter().filter(|r| r.direction == TrafficDirection::Inbound).collect();
        let dst = subnet_host(self.config, Some(sid)).unwrap_or(IpAddr::from([10, 0, 0, 4]));
        let mut notes = Vec::new();
        let sources = internet_sources(&rules, &ctx, self.opts, dst.is_ipv6(), &mut notes);
        self.out.notes.extend(notes.into_iter().filter(|x| !self.out.notes.contains(x)).collect::<Vec<_>>());
        let mut labels = Vec::new();
        let mut used = BTreeSet::new();
        let mut deny = BTreeSet::new();
        for (si, s) in sources.iter().enumerate() {
            let q = Query {
                direction: TrafficDirection::Inbound,
                protocol: Protocol::Tcp,
                src: s.addr,
                src_port: Some(CLIENT_PORT),
                dst,
                dst_port: Some(port),
            };
            let (m, _) = nsg::evaluate_nsg(n, &q, &self.config.asgs_of(s.addr), &[], &ctx, false);
            let desc = format!(
                "{} (subnet {sname}): {}",
                n.name,
                m.as_ref().map_or("no rule matched".to_string(), |r| r.rule_name.clone())
            );
            if m.as_ref().is_some_and(|r| r.action == Access::Allow) {
                labels.push(s.label.clone());
                used.insert(desc);
                if si == 0 {
                    break;
                }
            } else if si == 0 {
                deny.insert(desc);
            }
        }
        if labels.is_empty() {
            Err(deny.into_iter().collect())
        } else {
            Ok((labels, used.into_iter().collect()))
        }
    }
}

/// Every NIC and port reachable from the Internet in `config`.
pub fn analyze(config: &NetworkConfig, opts: &Options) -> Exposure {
    let mut c = Ctx { config, opts, out: Exposure { notes: config.notes.clone(), ..Exposure::default() } };
    let config_notes = config.notes.len();

    // Public IPs on NICs.
    for nic in &config.nics {
        for ipc in &nic.ip_configs {
            let pip = ipc.public_ip.clone().or_else(|| {
                config
                    .public_ips
                    .iter()
                    .find(|(_, p)| p.ip_configuration.as_deref() == Some(ipc.id.as_str()))
                    .map(|(k, _)| k.clone())
            });
            let (Some(pip), Some(ip)) = (pip, ipc.private_ip) else { continue };
            let (text, addr) = c.pip_text(Some(&pip)).unwrap_or_default();
            let e = Entry {
                via: "public-ip",
                entry: text.clone(),
                public_ip: addr,
                public_port: "*".into(),
                hops: vec!["Internet".into(), text],
                sources: Sources::Internet,
                port: None,
                protocols: vec![Protocol::Tcp, Protocol::Udp],
                pre_rules: Vec::new(),
            };
            c.land(&e, &Landing { nic, ip });
        }
    }

    // Load balancers with a public frontend.
    for lb in &config.load_balancers {
        for r in &lb.rules {
            let Some(fe) = r.frontend.as_deref().and_then(|f| lb.frontends.iter().find(|x| x.id == f)) else {
                continue;
            };
            let Some((pip_text, addr)) = c.pip_text(fe.public_ip.as_deref()) else { continue };
            let ha = r.frontend_port == 0 && r.kind == LbRuleKind::Balancing;
            let mut members: Vec<String> = Vec::new();
            let mut by_ip: Vec<String> = Vec::new();
            if let Some(t) = nat_target(config, r) {
                members.push(t);
            } else {
                for pid in &r.pools {
                    let listed = lb.pools.iter().find(|p| &p.id == pid);
                    members.extend(lb_pool_members(config, pid, listed.map_or(&[][..], |p| &p.members)));
                    by_ip.extend(listed.map(|p| p.addresses.clone()).unwrap_or_default());
                }
            }
            let (via, kind) = match r.kind {
                LbRuleKind::Balancing => ("load-balancer-rule", "rule"),
                LbRuleKind::InboundNat => ("load-balancer-nat", "NAT rule"),
            };
            let public_port = match (ha, r.frontend_port_end) {
                (true, _) => "*".to_string(),
                (false, Some(e)) if e != r.frontend_port => format!("{}-{e}", r.frontend_port),
                _ => r.frontend_port.to_string(),
            };
            let entry = format!(
                "load balancer {} {kind} {} ({} {}:{public_port})",
                lb.name,
                r.name,
                r.protocol,
                addr.as_deref().unwrap_or("?")
            );
            let e = Entry {
                via,
                entry: entry.clone(),
                public_ip: addr.clone(),
                public_port,
                hops: vec!["Internet".into(), pip_text, format!("load balancer {} {kind} {}", lb.name, r.name)],
                sources: Sources::Internet,
                port: if ha { None } else { Some(r.backend_port) },
                protocols: protocols(&r.protocol),
                pre_rules: Vec::new(),
            };
            if members.is_empty() && by_ip.is_empty() {
                c.out.notes.push(format!("load balancer {} {kind} {}: no backend in the case", lb.name, r.name));
            }
            members.sort();
            members.dedup();
            for m in members {
                match c.landing_of_ipconfig(&m) {
                    Some(l) => c.land(&e, &l),
                    None => c.out.notes.push(format!("{entry}: backend {m} is not a NIC of the case")),
                }
            }
            for ip in by_ip {
                match c.landing_of_ip(&ip) {
                    Some(l) => c.land(&e, &l),
                    None => c.out.notes.push(format!("{entry}: backend {ip} is not a NIC of the case")),
                }
            }
        }
    }

    // Application gateways with a public frontend.
    for g in &config.app_gateways {
        let gw_src = subnet_host(config, g.subnet.as_deref()).or_else(|| g.frontends.iter().find_map(|f| f.private_ip));
        for li in &g.listeners {
            let Some(fe) = li.frontend.as_deref().and_then(|f| g.frontends.iter().find(|x| x.id == f)) else {
                continue;
            };
            let Some((pip_text, addr)) = c.pip_text(fe.public_ip.as_deref()) else { continue };
            let Some(lport) = li.port else {
                c.out
                    .notes
                    .push(format!("application gateway {} listener {}: no frontend port in the case", g.name, li.name));
                continue;
            };
            let entry = format!(
                "application gateway {} listener {} ({} {}:{lport})",
                g.name,
                li.name,
                li.protocol,
                addr.as_deref().unwrap_or("?")
            );
            let leg = c.gateway_leg(g.subnet.as_deref(), lport);
            let (labels, pre) = match leg {
                Ok(x) => x,
                Err(deny) => {
                    c.out.blocked.push(BlockedPath {
                        vm: None,
                        nic: format!("application gateway {}", g.name),
                        private_ip: gw_src.map(|i| i.to_string()).unwrap_or_default(),
                        via: "application-gateway",
                        entry,
                        public_ip: addr,
                        protocol: "TCP",
                        ports: lport.to_string(),
                        denied_by: deny,
                    });
                    continue;
                }
            };
            let Some(src) = gw_src else {
                c.out.notes.push(format!(
                    "application gateway {}: its subnet is not in the case; backends not evaluated",
                    g.name
                ));
                continue;
            };
            for rule in g.rules.iter().filter(|r| r.listener.as_deref() == Some(li.id.as_str())) {
                for t in &rule.targets {
                    let Some(pid) = t.pool.as_deref() else { continue };
                    let Some(port) = t.port else {
                        c.out.notes.push(format!(
                            "application gateway {} rule {}: backend settings not in the case",
                            g.name, rule.name
                        ));
                        continue;
                    };
                    let pool = g.pools.iter().find(|p| p.id == pid);
                    let pool_name = pool.map_or_else(|| last(pid).to_string(), |p| p.name.clone());
                    let e = Entry {
                        via: "application-gateway",
                        entry: entry.clone(),
                        public_ip: addr.clone(),
                        public_port: lport.to_string(),
                        hops: vec![
                            "Internet".into(),
                            pip_text.clone(),
                            format!(
                                "application gateway {} listener {} rule {} pool {pool_name}",
                                g.name, li.name, rule.name
                            ),
                        ],
                        sources: Sources::Fixed { addr: src, label: labels.join(", ") },
                        port: Some(port),
                        protocols: vec![Protocol::Tcp],
                        pre_rules: pre.clone(),
                    };
                    for m in appgw_pool_members(config, pid, pool.map_or(&[][..], |p| &p.members)) {
                        match c.landing_of_ipconfig(&m) {
                            Some(l) => c.land(&e, &l),
                            None => c.out.notes.push(format!("{entry}: backend {m} is not a NIC of the case")),
                        }
                    }
                    for a in pool.map(|p| p.addresses.clone()).unwrap_or_default() {
                        match c.landing_of_ip(&a) {
                            Some(l) => c.land(&e, &l),
                            None => c.out.notes.push(format!("{entry}: backend {a} is not a NIC of the case")),
                        }
                    }
                }
            }
        }
    }

    // Bastion hosts.
    for b in &config.bastions {
        let Some((pip_text, addr)) = c.pip_text(b.public_ip.as_deref()) else { continue };
        let entry = format!("Bastion {} ({})", b.name, addr.as_deref().unwrap_or("?"));
        let Some(src) = subnet_host(config, b.subnet.as_deref()) else {
            c.out.notes.push(format!("Bastion {}: its subnet is not in the case; targets not evaluated", b.name));
            continue;
        };
        if let Err(deny) = c.gateway_leg(b.subnet.as_deref(), 443) {
            c.out.blocked.push(BlockedPath {
                vm: None,
                nic: format!("Bastion {}", b.name),
                private_ip: src.to_string(),
                via: "bastion",
                entry,
                public_ip: addr,
                protocol: "TCP",
                ports: "443".into(),
                denied_by: deny,
            });
            continue;
        }
        let vnet = b
            .subnet
            .as_deref()
            .and_then(|s| config.vnet_of_subnet(s))
            .map(|v| v.id.to_ascii_lowercase())
            .or(b.vnet.clone());
        let Some(vnet) = vnet else { continue };
        let mut vnets = vec![vnet.clone()];
        if let Some(v) = config.vnets.get(&vnet) {
            vnets.extend(
                v.peerings
                    .iter()
                    .filter(|p| p.state.as_deref().is_none_or(|s| s.eq_ignore_ascii_case("Connected")))
                    .filter_map(|p| p.remote.clone()),
            );
        }
        for nic in &config.nics {
            for ipc in &nic.ip_configs {
                let (Some(ip), Some(s)) = (ipc.private_ip, ipc.subnet.as_deref()) else { continue };
                let in_scope = config.vnet_of_subnet(s).is_some_and(|v| vnets.contains(&v.id.to_ascii_lowercase()));
                if !in_scope {
                    continue;
                }
                for port in [22u16, 3389] {
                    let e = Entry {
                        via: "bastion",
                        entry: entry.clone(),
                        public_ip: addr.clone(),
                        public_port: "443".into(),
                        hops: vec![
                            "Internet (Entra ID sign-in)".into(),
                            pip_text.clone(),
                            format!("Bastion {}", b.name),
                        ],
                        sources: Sources::Fixed {
                            addr: src,
                            label: "Bastion users (Entra ID sign-in and VM credentials)".into(),
                        },
                        port: Some(port),
                        protocols: vec![Protocol::Tcp],
                        pre_rules: Vec::new(),
                    };
                    c.land(&e, &Landing { nic, ip });
                }
            }
        }
    }

    // Azure Firewall classic DNAT.
    for f in &config.firewalls {
        if f.policy.is_some() {
            c.out.notes.push(format!(
                "firewall {}: its DNAT rules are in firewall policy {} (not ingested): not evaluated",
                f.name,
                last(f.policy.as_deref().unwrap_or_default())
            ));
        }
        let Some(src) = f.ip_configs.iter().find_map(|x| x.private_ip) else { continue };
        for r in &f.nat_rules {
            let Some(to) = r.translated_address.as_deref() else { continue };
            let Some(port) = r.translated_port else { continue };
            let entry = format!(
                "firewall {} DNAT {}/{} ({}:{})",
                f.name,
                r.collection,
                r.name,
                r.destinations.join(","),
                r.ports.join(",")
            );
            let from = if r.sources.is_empty() || r.sources.iter().any(|s| s == "*") {
                ANY_INTERNET.to_string()
            } else {
                r.sources.join(", ")
            };
            let protos: Vec<Protocol> = if r.protocols.is_empty() {
                vec![Protocol::Tcp]
            } else {
                let mut v: Vec<Protocol> = r.protocols.iter().flat_map(|p| protocols(p)).collect();
                v.dedup();
                v
            };
            let e = Entry {
                via: "firewall-dnat",
                entry: entry.clone(),
                public_ip: r.destinations.first().cloned(),
                public_port: r.ports.join(","),
                hops: vec!["Internet".into(), format!("firewall {} DNAT {}/{}", f.name, r.collection, r.name)],
                sources: Sources::Fixed { addr: src, label: from },
                port: Some(port),
                protocols: protos,
                pre_rules: Vec::new(),
            };
            match c.landing_of_ip(to) {
                Some(l) => c.land(&e, &l),
                None => c.out.notes.push(format!("{entry}: {to} is not a NIC of the case")),
            }
        }
    }

    let mut out = c.out;
    let key = |r: &ExposureRow| (r.vm.clone(), r.nic.clone(), r.via, r.entry.clone(), r.protocol, r.ports.clone());
    out.rows.sort_by_key(key);
    out.rows.dedup();
    out.blocked.sort_by(|a, b| {
        (&a.vm, &a.nic, a.via, &a.entry, a.protocol).cmp(&(&b.vm, &b.nic, b.via, &b.entry, b.protocol))
    });
    out.blocked.dedup();
    let (head, tail) = out.notes.split_at(config_notes.min(out.notes.len()));
    let mut tail = tail.to_vec();
    tail.sort();
    tail.dedup();
    out.notes = head.iter().cloned().chain(tail).collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::tests::{network, nid, res, rule, Shape};
    use serde_json::json;

    fn exposure(rs: &[azir_model::Resource]) -> Exposure {
        analyze(&NetworkConfig::from_resources(rs, None), &Options::default())
    }

    fn rows<'a>(x: &'a Exposure, nic: &str, via: &str) -> Vec<&'a ExposureRow> {
        x.rows.iter().filter(|r| r.nic == nic && r.via == via).collect()
    }

    #[test]
    fn public_ip_exposes_only_what_subnet_and_nic_nsgs_both_allow() {
        let x = exposure(&network(Shape::Rest));
        let web = rows(&x, "nic-web", "public-ip");
        // 443: both allow. 22: the subnet allows, the NIC denies. 8000-8010: the NIC allows,
        // the subnet does not. UDP: nothing.
        assert_eq!(web.len(), 1, "{web:#?}");
        let r = web[0];
        assert_eq!((r.protocol, r.ports.as_str(), r.allowed_from.as_str()), ("TCP", "443", ANY_INTERNET));
        assert_eq!((r.vm.as_deref(), r.private_ip.as_str()), (Some("vm-web"), "10.0.1.4"));
        assert_eq!(r.public_ip.as_deref(), Some("198.51.100.10"));
        assert_eq!(r.notable_ports, [443]);
        assert_eq!(
            r.rules,
            ["nsg-sub (subnet web): securityRules/allow-https", "nsg-nic (nic nic-web): securityRules/allow-web"]
        );
        assert_eq!(r.path.first().map(String::as_str), Some("Internet"));
        assert_eq!(r.path.last().map(String::as_str), Some("VM vm-web"));
        // UDP is blocked, and says by what.
        let udp = x.blocked.iter().find(|b| b.nic == "nic-web" && b.protocol == "UDP").unwrap();
        assert_eq!(udp.ports, "*");
        assert_eq!(udp.denied_by, ["nsg-sub (subnet web): defaultSecurityRules/DenyAllInBound"]);
    }

    #[test]
    fn a_deny_closes_a_port_the_other_nsg_opens() {
        // Open 22 on the NIC too (the deny goes): then 22 is exposed; with the deny, it is not.
        let x = exposure(&network(Shape::Rest));
        assert!(!x.rows.iter().any(|r| r.nic == "nic-web" && r.via == "public-ip" && r.notable_ports.contains(&22)));
        let mut rs = network(Shape::Rest);
        for r in rs.iter_mut().filter(|r| r.name == "nsg-nic") {
            r.json = json!({"properties": {"securityRules": [rule("allow-ssh", 100, "Allow", "Tcp", "*", "22"),
                rule("allow-web", 200, "Allow", "Tcp", "*", "443")]}})
            .to_string();
        }
        let x = exposure(&rs);
        let web: Vec<_> =
            rows(&x, "nic-web", "public-ip").into_iter().map(|r| (r.ports.clone(), r.rules.clone())).collect();
        // One row per set of deciding rules.
        assert_eq!(
            web,
            [
                (
                    "22".to_string(),
                    vec![
                        "nsg-sub (subnet web): securityRules/allow-ssh".to_string(),
                        "nsg-nic (nic nic-web): securityRules/allow-ssh".to_string()
                    ]
                ),
                (
                    "443".to_string(),
                    vec![
                        "nsg-sub (subnet web): securityRules/allow-https".to_string(),
                        "nsg-nic (nic nic-web): securityRules/allow-web".to_string()
                    ]
                )
            ]
        );
    }

    #[test]
    fn rules_restricted_to_a_source_range_say_so() {
        let x = exposure(&network(Shape::Rest));
        let ssh = rows(&x, "nic-ssh", "public-ip");
        assert_eq!(ssh.len(), 1, "{ssh:#?}");
        assert_eq!((ssh[0].ports.as_str(), ssh[0].allowed_from.as_str()), ("22", "203.0.113.0/24"));
        assert_eq!(
            ssh[0].rules,
            ["no NSG on subnet app", "nsg-restricted (nic nic-ssh): securityRules/ssh-from-office"]
        );
    }

    #[test]
    fn service_tag_sources_are_tried_with_the_tags_file() {
        let mut rs = network(Shape::Rest);
        for r in rs.iter_mut().filter(|r| r.name == "nsg-restricted") {
            r.json = json!({"properties": {"securityRules": [rule("from-tag", 100, "Allow", "Tcp", "AzureFrontDoor.Backend", "443")]}})
                .to_string();
        }
        let config = NetworkConfig::from_resources(&rs, None);
        let x = analyze(&config, &Options::default());
        assert!(rows(&x, "nic-ssh", "public-ip").is_empty());
        assert!(
            x.notes.iter().any(|n| n.contains("AzureFrontDoor.Backend") && n.contains("--service-tags")),
            "{:?}",
            x.notes
        );
        let file =
            r#"{"values":[{"name":"AzureFrontDoor.Backend","properties":{"addressPrefixes":["147.243.0.0/16"]}}]}"#;
        let x = analyze(&config, &Options::from_service_tags(file).unwrap());
        let r = rows(&x, "nic-ssh", "public-ip");
        assert_eq!(r.len(), 1, "{x:#?}");
        assert_eq!((r[0].ports.as_str(), r[0].allowed_from.as_str()), ("443", "AzureFrontDoor.Backend"));
    }

    #[test]
    fn load_balancer_nat_and_rule_reach_a_nic_without_public_ip() {
        let x = exposure(&network(Shape::Cli));
        assert!(rows(&x, "nic-app", "public-ip").is_empty(), "no public IP, no direct exposure");
        let nat = rows(&x, "nic-app", "load-balancer-nat");
        assert_eq!(nat.len(), 1);
        assert_eq!((nat[0].public_port.as_str(), nat[0].ports.as_str()), ("2222", "22"));
        assert_eq!(nat[0].public_ip.as_deref(), Some("198.51.100.12"));
        assert_eq!(nat[0].allowed_from, ANY_INTERNET);
        assert_eq!(nat[0].rules, ["no NSG on subnet app", "no NSG on nic nic-app"]);
        let rule = rows(&x, "nic-app", "load-balancer-rule");
        assert_eq!((rule[0].public_port.as_str(), rule[0].ports.as_str()), ("80", "8080"));
        // A deny on the NIC closes the NAT path: blocked, with the rule.
        let mut rs = network(Shape::Cli);
        for r in rs.iter_mut().filter(|r| r.name == "nic-app") {
            let mut v: serde_json::Value = serde_json::from_str(&r.json).unwrap();
            v["networkSecurityGroup"] = json!({"id": nid("networkSecurityGroups", "nsg-restricted")});
            r.json = v.to_string();
        }
        // With nsg-restricted on the NIC: SSH through the NAT rule only from the office range,
        // and the balanced 8080 blocked, with the rule that blocks it.
        let x = exposure(&rs);
        let nat = rows(&x, "nic-app", "load-balancer-nat");
        assert_eq!((nat[0].ports.as_str(), nat[0].allowed_from.as_str()), ("22", "203.0.113.0/24"));
        assert!(rows(&x, "nic-app", "load-balancer-rule").is_empty());
        let b = x.blocked.iter().find(|b| b.nic == "nic-app" && b.via == "load-balancer-rule").unwrap();
        assert_eq!((b.ports.as_str(), b.public_ip.as_deref()), ("8080", Some("198.51.100.12")));
        assert_eq!(b.denied_by, ["nsg-restricted (nic nic-app): defaultSecurityRules/DenyAllInBound"]);
    }

    #[test]
    fn application_gateway_and_bastion_paths() {
        let x = exposure(&network(Shape::Graph));
        let agw = rows(&x, "nic-app", "application-gateway");
        assert_eq!(agw.len(), 1);
        assert_eq!((agw[0].public_port.as_str(), agw[0].ports.as_str()), ("443", "8080"));
        assert_eq!(agw[0].allowed_from, ANY_INTERNET);
        assert_eq!(agw[0].rules[0], "no NSG on subnet gw");
        // Bastion reaches 22/3389 wherever the NSGs let its subnet in: not nic-web's 22 (denied).
        let bas: Vec<(String, String)> =
            x.rows.iter().filter(|r| r.via == "bastion").map(|r| (r.nic.clone(), r.ports.clone())).collect();
        assert!(bas.contains(&("nic-app".into(), "22".into())) && bas.contains(&("nic-app".into(), "3389".into())));
        assert!(!bas.contains(&("nic-web".into(), "22".into())), "{bas:?}");
        // An NSG on the gateway subnet that only lets one range in narrows the allowed-from.
        let mut rs = network(Shape::Rest);
        let gw_nsg = nid("networkSecurityGroups", "nsg-gw");
        rs.push(res(
            Shape::Rest,
            json!({"id": gw_nsg, "name": "nsg-gw", "type": "Microsoft.Network/networkSecurityGroups",
                "properties": {"securityRules": [rule("office-only", 100, "Allow", "Tcp", "192.0.2.0/24", "443")]}}),
        ));
        for r in rs.iter_mut().filter(|r| r.name == "vnet1") {
            let mut v: serde_json::Value = serde_json::from_str(&r.json).unwrap();
            v["properties"]["subnets"][2]["properties"]["networkSecurityGroup"] = json!({"id": gw_nsg});
            r.json = v.to_string();
        }
        let x = exposure(&rs);
        let agw = rows(&x, "nic-app", "application-gateway");
        assert_eq!(agw[0].allowed_from, "192.0.2.0/24");
        assert_eq!(agw[0].rules[0], "nsg-gw (subnet gw): securityRules/office-only");
    }

    #[test]
    fn nothing_public_means_nothing_exposed() {
        let rs: Vec<_> = network(Shape::Rest)
            .into_iter()
            .filter(|r| {
                !["publicIPAddresses", "loadBalancers", "applicationGateways", "bastionHosts"]
                    .iter()
                    .any(|k| r.kind.ends_with(k))
            })
            .map(|mut r| {
                r.json = r.json.replace("publicIPAddress", "unusedReference");
                r
            })
            .collect();
        let x = exposure(&rs);
        assert!(x.rows.is_empty() && x.blocked.is_empty(), "{x:#?}");
    }

    #[test]
    fn port_pieces_cut_at_rule_boundaries_and_notable_ports() {
        let nsg = crate::nsg::Nsg::new(
            "/n",
            "n",
            vec![
                crate::nsg::rule::parse_rule(
                    &rule("a", 100, "Allow", "Tcp", "*", "1000-2000"),
                    crate::nsg::RuleSet::Custom,
                )
                .unwrap(),
                crate::nsg::rule::parse_rule(&rule("u", 110, "Allow", "Udp", "*", "53"), crate::nsg::RuleSet::Custom)
                    .unwrap(),
            ],
            None,
        );
        let rules: Vec<&Rule> = nsg.rules.iter().filter(|r| r.direction == TrafficDirection::Inbound).collect();
        let p = pieces(&rules, Protocol::Tcp);
        assert!(p.contains(&(1000, 2000)) && p.contains(&(22, 22)) && p.contains(&(3389, 3389)), "{p:?}");
        assert!(!p.iter().any(|(a, _)| *a == 53 || *a == 54), "a UDP rule does not cut TCP: {p:?}");
        assert!(pieces(&rules, Protocol::Udp).contains(&(53, 53)));
        assert_eq!(p.first(), Some(&(0, 21)));
        assert_eq!(p.last(), Some(&(5987, 65535)));
        assert!(p.windows(2).all(|w| w[0].1 as u32 + 1 == w[1].0 as u32), "contiguous");
        assert_eq!(merge(vec![(5, 9), (0, 4), (11, 12)]), [(0, 9), (11, 12)]);
        assert_eq!(ranges_text(&[(0, 65535)]), "*");
    }
}
