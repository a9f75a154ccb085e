//! Cross-check of flow logs against offline NSG evaluation: for every flow tuple, the rule the
//! log names against the rule azir's evaluation picks in the same NSG at the tuple's time.
//! Disagreements point at configuration or history the case lacks (a rule added and removed
//! between snapshots without an Activity Log entry, an NSG never exported) or at a gap in the
//! evaluation itself.
//!
//! # Design
//!
//! - **Versions.** The configuration is piecewise constant between *breakpoints*: the times of
//!   the case's configuration snapshots and of the NSG changes in the Activity Log. [`Model::build`]
//!   builds, for each interval between breakpoints, the configuration `azir nsg verify --at`
//!   would use inside it (`NetworkConfig::from_resources(at)` then `History::apply(at)`), and the
//!   interval before the first breakpoint from an instant just before it (history read
//!   backwards). A tuple is evaluated in the version whose interval holds its `TimeGenerated`.
//! - **Compiled NSGs.** Each NSG of each version is compiled once ([`CompiledNsg`]): per
//!   direction a flat vector of rules in evaluation order, each with a protocol bit mask, port
//!   sets as inclusive ranges and address sets as sorted, merged IPv4 (`u32`) and IPv6 (`u128`)
//!   intervals. `VirtualNetwork`, `AzureLoadBalancer`, prefixes and ASGs (the private IPs of the
//!   IP configurations in the group) become intervals; `Internet` is "public and not in the
//!   NSG's `VirtualNetwork` intervals"; other service tags are looked up in the
//!   [`AddressContext`]. Evaluating a tuple allocates nothing.
//! - **Which NSG.** NSG flow logs name the NSG in `DvcId` (the record's `resourceId`). VNet flow
//!   logs name it in `AclId` (`aclID`: the NSG's `resourceGuid`, or an id); when the ACL cannot
//!   be resolved, the NSG attached to the `TargetResourceId` is used: a NIC's NSG, a subnet's
//!   NSG, else the one NSG the NICs of that subnet carry (several: unresolved). A VNet target
//!   names no NSG; such tuples are not evaluable.
//! - **Context.** `VirtualNetwork` is taken from the first subnet the NSG is attached to (else
//!   the subnet of the first NIC it is attached to). An NSG attached in VNets of different
//!   address spaces is evaluated in the first one's context.
//! - **Comparison.** The rule names are compared after removing `UserRule_`, `DefaultRule_`,
//!   `securityRules/` and `defaultSecurityRules/`, ignoring case, and the log's `DvcAction` is
//!   compared with the deciding rule's access. Only the NSG the log names is evaluated (not the
//!   whole subnet + NIC path): a flow log line reports one NSG's decision. A logged rule the
//!   history says existed at that time with content the case does not hold (an update logged
//!   with `200 OK` and no earlier state) makes the tuple not evaluable, not a disagreement:
//!   the case cannot say which rule would have decided.
//! - **Reading.** The string columns in [`DICTIONARY`] are read as Parquet dictionaries, so the
//!   NSG resolution, rule-name normalisation, protocol and direction are worked out once per
//!   distinct value of a batch, and resource ids are never copied per row.
//!
//! Counts are kept per (NSG, outcome, reason); the earliest disagreements by time are kept as
//! examples with their evidence (`evidence_path:line#tuple`).

use crate::batch::{key, typed, Evidence, Map, Names, Window};
use crate::nsg::history::History;
use crate::nsg::rule::AddressSpec;
use crate::nsg::tags::is_public;
use crate::nsg::{Access, AddressContext, NetworkConfig, Nsg, Protocol, Query, Rule, ServiceTags, TrafficDirection};
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, DictionaryArray, Int32Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array, UInt64Array,
};
use azir_model::{format_micros, Resource};
use ipnet::IpNet;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The `network` columns the cross-check reads.
pub const COLUMNS: [&str; 16] = [
    "TimeGenerated",
    "source",
    "SrcIpAddr",
    "SrcPortNumber",
    "DstIpAddr",
    "DstPortNumber",
    "NetworkProtocol",
    "NetworkDirection",
    "DvcAction",
    "NetworkRuleName",
    "DvcId",
    "AclId",
    "TargetResourceId",
    "evidence_path",
    "evidence_line",
    "evidence_tuple",
];

/// A rule name without the flow log's `UserRule_`/`DefaultRule_` or ARM's `securityRules/` /
/// `defaultSecurityRules/` prefix.
pub fn strip_rule_prefix(name: &str) -> &str {
    let n = name.trim();
    for p in ["UserRule_", "DefaultRule_", "securityRules/", "defaultSecurityRules/"] {
        if n.len() >= p.len() && n.is_char_boundary(p.len()) && n[..p.len()].eq_ignore_ascii_case(p) {
            return &n[p.len()..];
        }
    }
    n
}

/// True when two rule names are the same rule (prefixes removed, case ignored).
pub fn same_rule(a: &str, b: &str) -> bool {
    strip_rule_prefix(a).eq_ignore_ascii_case(strip_rule_prefix(b))
}

/// Sorted, merged, inclusive intervals of IPv4 and IPv6 addresses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AddrSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

fn merge<T: Ord + Copy>(v: &mut Vec<(T, T)>, next: impl Fn(T) -> Option<T>) {
    v.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
    for &(s, e) in v.iter() {
        match out.last_mut() {
            Some(last) if next(last.1).is_none_or(|n| s <= n) => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    *v = out;
}

fn within<T: Ord + Copy>(v: &[(T, T)], x: T) -> bool {
    let i = v.partition_point(|&(s, _)| s <= x);
    i > 0 && v[i - 1].1 >= x
}

impl AddrSet {
    /// Adds a prefix.
    pub fn add_net(&mut self, n: &IpNet) {
        match n {
            IpNet::V4(n) => self.v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
            IpNet::V6(n) => self.v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
        }
    }
    /// Adds one address.
    pub fn add_ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(a) => self.v4.push((u32::from(a), u32::from(a))),
            IpAddr::V6(a) => self.v6.push((u128::from(a), u128::from(a))),
        }
    }
    /// Sorts and merges the intervals (call once after adding).
    pub fn seal(&mut self) {
        merge(&mut self.v4, |x: u32| x.checked_add(1));
        merge(&mut self.v6, |x: u128| x.checked_add(1));
    }
    /// Whether `ip` is in the set (after [`AddrSet::seal`]).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => within(&self.v4, u32::from(a)),
            IpAddr::V6(a) => within(&self.v6, u128::from(a)),
        }
    }
}

/// One side's addresses, compiled.
#[derive(Debug, Clone, Default)]
struct CSide {
    any: bool,
    set: AddrSet,
    internet: bool,
    /// Tags resolved through the context at evaluation (Service Tags file).
    tags: Vec<Box<str>>,
}

/// Port ranges, compiled; `all` when one of them is `*`.
#[derive(Debug, Clone, Default)]
struct CPorts {
    all: bool,
    ranges: Vec<(u16, u16)>,
}

impl CPorts {
    fn new(ranges: &[crate::nsg::rule::PortRange]) -> Self {
        let mut v: Vec<(u16, u16)> = ranges.iter().map(|r| (r.from, r.to)).collect();
        merge(&mut v, |x: u16| x.checked_add(1));
        CPorts { all: ranges.iter().any(|r| r.from == 0 && r.to == 65535), ranges: v }
    }
    fn matches(&self, port: Option<u16>) -> bool {
        match port {
            None => self.all,
            Some(p) => self.all || within(&self.ranges, p),
        }
    }
}

const P_TCP: u8 = 1;
const P_UDP: u8 = 2;
const P_ICMP: u8 = 4;
const P_ANY: u8 = 8;

fn proto_bit(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => P_TCP,
        Protocol::Udp => P_UDP,
        Protocol::Icmp => P_ICMP,
        Protocol::Any => P_ANY,
    }
}

/// A rule compiled for matching.
#[derive(Debug, Clone)]
struct CRule {
    name: Box<str>,
    display: Box<str>,
    priority: u32,
    access: Access,
    protocols: u8,
    src: CSide,
    dst: CSide,
    sport: CPorts,
    dport: CPorts,
}

/// The rule that decided a flow in a compiled NSG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision<'a> {
    /// The rule's name as configured.
    pub name: &'a str,
    /// `securityRules/<name>` or `defaultSecurityRules/<name>` (as `nsg verify` names it).
    pub display: &'a str,
    /// Priority.
    pub priority: u32,
    /// Allow or deny.
    pub access: Access,
}

/// One NSG's rules compiled for fast evaluation (see the module notes).
#[derive(Debug, Clone)]
pub struct CompiledNsg {
    /// The NSG's id as written.
    pub id: String,
    /// Its name.
    pub name: String,
    inbound: Vec<CRule>,
    outbound: Vec<CRule>,
    /// Rules that existed with content the case does not hold (`Nsg::unknown_rules`).
    unknown: Vec<Box<str>>,
    vnet: AddrSet,
    ctx: AddressContext,
}

impl CompiledNsg {
    /// Compiles `nsg` with the tag meanings of `ctx`; ASGs are resolved through `config`'s NICs.
    pub fn new(nsg: &Nsg, config: &NetworkConfig, ctx: AddressContext) -> Self {
        let mut vnet = AddrSet::default();
        for n in &ctx.virtual_network {
            vnet.add_net(n);
        }
        vnet.seal();
        let side = |s: &crate::nsg::rule::Side| -> CSide {
            let mut c = CSide::default();
            if !s.asgs.is_empty() {
                for ipc in config.nics.iter().flat_map(|n| &n.ip_configs) {
                    if let Some(ip) = ipc.private_ip.filter(|_| ipc.asgs.iter().any(|a| s.asgs.contains(a))) {
                        c.set.add_ip(ip);
                    }
                }
                c.set.seal();
                return c;
            }
            for a in &s.addresses {
                match a {
                    AddressSpec::Any => c.any = true,
                    AddressSpec::Prefix(n) => c.set.add_net(n),
                    AddressSpec::Tag(t) if t.eq_ignore_ascii_case("VirtualNetwork") => {
                        ctx.virtual_network.iter().for_each(|n| c.set.add_net(n))
                    }
                    AddressSpec::Tag(t) if t.eq_ignore_ascii_case("Internet") => c.internet = true,
                    AddressSpec::Tag(t) if t.eq_ignore_ascii_case("AzureLoadBalancer") => {
                        c.set.add_ip(IpAddr::V4(crate::nsg::tags::AZURE_HOST_IP))
                    }
                    AddressSpec::Tag(t) => c.tags.push(t.as_str().into()),
                }
            }
            c.set.seal();
            c
        };
        let compile = |r: &Rule| CRule {
            name: r.name.as_str().into(),
            display: format!("{}/{}", r.set.collection(), r.name).into(),
            priority: r.priority,
            access: r.access,
            protocols: match r.protocol {
                None => 0,
                Some(Protocol::Any) => P_TCP | P_UDP | P_ICMP | P_ANY,
                Some(p) => proto_bit(p),
            },
            src: side(&r.source),
            dst: side(&r.destination),
            sport: CPorts::new(&r.source.ports),
            dport: CPorts::new(&r.destination.ports),
        };
        let dir = |d: TrafficDirection| nsg.rules.iter().filter(|r| r.direction == d).map(compile).collect();
        CompiledNsg {
            id: nsg.id.clone(),
            name: nsg.name.clone(),
            inbound: dir(TrafficDirection::Inbound),
            outbound: dir(TrafficDirection::Outbound),
            unknown: nsg.unknown_rules.iter().map(|r| r.as_str().into()).collect(),
            vnet,
            ctx,
        }
    }

    fn side_matches(&self, s: &CSide, ip: IpAddr) -> bool {
        s.any
            || s.set.contains(ip)
            || (s.internet && is_public(ip) && !self.vnet.contains(ip))
            || s.tags.iter().any(|t| self.ctx.tag_contains(t, ip) == crate::nsg::tags::TagMatch::Yes)
    }

    /// The first rule of the flow's direction whose five fields match (as `nsg::evaluate_nsg`).
    pub fn decide(&self, q: &Query) -> Option<Decision<'_>> {
        let rules = match q.direction {
            TrafficDirection::Inbound => &self.inbound,
            TrafficDirection::Outbound => &self.outbound,
        };
        let bit = proto_bit(q.protocol);
        let icmp = q.protocol == Protocol::Icmp;
        rules
            .iter()
            .find(|r| {
                r.protocols & bit != 0
                    && (icmp || r.dport.matches(q.dst_port))
                    && (icmp || r.sport.matches(q.src_port))
                    && self.side_matches(&r.dst, q.dst)
                    && self.side_matches(&r.src, q.src)
            })
            .map(|r| Decision { name: &r.name, display: &r.display, priority: r.priority, access: r.access })
    }
}

/// The `AddressContext` an NSG is evaluated in: the first subnet it is attached to, else the
/// subnet of the first NIC it is attached to.
pub fn context_of(config: &NetworkConfig, nsg_id_lower: &str, tags: &ServiceTags) -> AddressContext {
    let is = |n: &Option<String>| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(nsg_id_lower));
    let mut subnets: Vec<&String> = config.subnets.iter().filter(|(_, s)| is(&s.nsg)).map(|(k, _)| k).collect();
    subnets.sort();
    let subnet = subnets.first().map(|s| s.as_str()).or_else(|| {
        config.nics.iter().filter(|n| is(&n.nsg)).flat_map(|n| n.ip_configs.iter()).find_map(|c| c.subnet.as_deref())
    });
    config.address_context(subnet.map(|s| s.to_ascii_lowercase()).as_deref(), tags)
}

/// The configuration over one interval of time, compiled: per NSG (index of [`Model`]'s list).
#[derive(Debug, Clone)]
struct Version {
    start: i64,
    nsgs: Vec<Option<CompiledNsg>>,
}

/// Every NSG of the case, compiled per version of the configuration, and how flow logs name them.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// NSG ids (lower-cased) in index order.
    ids: Vec<String>,
    /// NSG names in index order.
    names: Vec<String>,
    index: BTreeMap<String, usize>,
    /// `resourceGuid` (lower-cased) → NSG index.
    guids: BTreeMap<String, usize>,
    /// Subnet or NIC id (lower-cased) → NSG index attached to it.
    attached: BTreeMap<String, usize>,
    versions: Vec<Version>,
}

impl Model {
    /// Builds the versions from the case's `resources` and the NSG history (see the module notes).
    pub fn build(resources: &[Resource], history: &History, tags: &ServiceTags) -> Model {
        let mut points: BTreeSet<i64> = resources.iter().filter_map(|r| r.time).collect();
        points.extend(history.changes.iter().map(|c| c.time));
        let mut configs = Vec::new();
        let at = |t: i64| {
            let mut c = NetworkConfig::from_resources(resources, Some(t));
            history.apply(&mut c, t);
            c
        };
        match points.first() {
            None => configs.push((i64::MIN, NetworkConfig::from_resources(resources, None))),
            Some(&first) => configs.push((i64::MIN, at(first.saturating_sub(1)))),
        }
        configs.extend(points.iter().map(|&t| (t, at(t))));
        let mut m = Model::from_configs(configs, tags);
        for r in resources.iter().filter(|r| r.kind.eq_ignore_ascii_case("Microsoft.Network/networkSecurityGroups")) {
            let Some(&i) = m.index.get(&r.id_lower) else { continue };
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&r.json) {
                let guid = v.pointer("/properties/resourceGuid").or_else(|| v.get("resourceGuid"));
                if let Some(g) = guid.and_then(|g| g.as_str()) {
                    m.guids.insert(g.trim().to_ascii_lowercase(), i);
                }
            }
        }
        m
    }

    /// Builds a model from configurations in force from the given instants (ascending); the
    /// first one also covers everything before it.
    pub fn from_configs(configs: Vec<(i64, NetworkConfig)>, tags: &ServiceTags) -> Model {
        let mut m = Model::default();
        for (_, c) in &configs {
            let mut ids: Vec<(&String, &Nsg)> = c.nsgs.iter().collect();
            ids.sort_by(|a, b| a.0.cmp(b.0));
            for (id, n) in ids {
                if !m.index.contains_key(id) {
                    m.index.insert(id.clone(), m.ids.len());
                    m.ids.push(id.clone());
                    m.names.push(n.name.clone());
                }
            }
        }
        // A subnet target names its own NSG, else the one NSG of the NICs in it (VNet flow
        // logs of a subnet whose NICs carry the NSG); several candidates resolve to none.
        let mut candidates: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
        for (_, c) in &configs {
            for (sid, s) in &c.subnets {
                if let Some(&i) = s.nsg.as_ref().and_then(|n| m.index.get(&n.to_ascii_lowercase())) {
                    candidates.entry(sid.to_ascii_lowercase()).or_default().insert(i);
                }
            }
            for n in &c.nics {
                if let Some(&i) = n.nsg.as_ref().and_then(|n| m.index.get(&n.to_ascii_lowercase())) {
                    m.attached.insert(n.id.to_ascii_lowercase(), i);
                    for sub in n.ip_configs.iter().filter_map(|ipc| ipc.subnet.as_deref()) {
                        let sub = sub.to_ascii_lowercase();
                        if c.subnets.get(&sub).is_none_or(|s| s.nsg.is_none()) {
                            candidates.entry(sub).or_default().insert(i);
                        }
                    }
                }
            }
        }
        for (sub, set) in candidates {
            if let [i] = set.into_iter().collect::<Vec<_>>()[..] {
                m.attached.insert(sub, i);
            }
        }
        for (start, c) in configs {
            let nsgs = m
                .ids
                .iter()
                .map(|id| c.nsgs.get(id).map(|n| CompiledNsg::new(n, &c, context_of(&c, id, tags))))
                .collect();
            m.versions.push(Version { start, nsgs });
        }
        m
    }

    /// Number of configuration versions.
    pub fn versions(&self) -> usize {
        self.versions.len()
    }

    /// Number of NSGs known in any version.
    pub fn nsgs(&self) -> usize {
        self.ids.len()
    }

    /// The NSG a tuple's log names: its index, or the reason it cannot be told.
    fn resolve(&self, source: &str, dvc: &str, acl: &str, target: &str) -> Result<usize, Reason> {
        let l = |s: &str| s.trim().to_ascii_lowercase();
        let is_nsg = |s: &str| s.to_ascii_lowercase().contains("/networksecuritygroups/");
        if !acl.is_empty() {
            let a = l(acl);
            if let Some(&i) = self.guids.get(&a).or_else(|| self.index.get(&a)) {
                return Ok(i);
            }
            if a == "unspecified" {
                return Err(Reason::NotNsgRule);
            }
        }
        if source != "vnet_flow" && is_nsg(dvc) {
            return self.index.get(&l(dvc)).copied().ok_or(Reason::NsgUnknown);
        }
        if !target.is_empty() {
            if is_nsg(target) {
                return self.index.get(&l(target)).copied().ok_or(Reason::NsgUnknown);
            }
            return self.attached.get(&l(target)).copied().ok_or(Reason::NsgUnresolved);
        }
        Err(if acl.is_empty() { Reason::NsgNotNamed } else { Reason::NsgUnknown })
    }

    /// The label counts are grouped under for a tuple's NSG.
    fn label(&self, r: &Result<usize, Reason>, dvc: &str, acl: &str, target: &str) -> String {
        match r {
            Ok(i) => self.names[*i].clone(),
            Err(_) => {
                let named = [acl, dvc, target].into_iter().find(|s| !s.is_empty()).unwrap_or("(none)");
                format!("? {}", named.rsplit('/').next().unwrap_or(named))
            }
        }
    }

    /// The version in force at `t`, with the interval `[from, to)` it covers.
    fn version_span(&self, t: i64) -> Option<(i64, i64, &Version)> {
        let i = self.versions.partition_point(|v| v.start <= t).checked_sub(1)?;
        let to = self.versions.get(i + 1).map_or(i64::MAX, |n| n.start);
        let v = &self.versions[i];
        Some((v.start, to, v))
    }
}

/// Outcome of one tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Same rule and action.
    Agree,
    /// Another rule, or another action.
    Disagree,
    /// Could not be evaluated.
    NotEvaluable,
}

/// Why a tuple disagrees or is not evaluable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Agreement.
    None,
    /// The rule the log names is not in the NSG's rules at that time (missing configuration or history).
    RuleNotInConfig,
    /// The named rule exists, but another rule (earlier in priority) decides.
    OtherRuleDecides,
    /// Same rule, other action (the rule's access changed without a trace in the case).
    ActionDiffers,
    /// The logged rule existed at that time, but the case does not hold its content (an
    /// update in the Activity Log without the earlier state): the tuple cannot be checked.
    RuleContentUnknown,
    /// The log names no NSG (no `DvcId`/`AclId`/target).
    NsgNotNamed,
    /// The NSG the log names is in no configuration of the case.
    NsgUnknown,
    /// A VNet flow log whose ACL and target resolve to no NSG.
    NsgUnresolved,
    /// The ACL is not an NSG (`unspecified`: encryption drops; AVNM admin rules).
    NotNsgRule,
    /// The NSG did not exist (or was deleted) at the tuple's time.
    NoRuleSetAtTime,
    /// The log names no rule.
    NoRuleInLog,
    /// Direction, protocol or address unreadable.
    UnreadableTuple,
}

impl Reason {
    /// A short phrase for tables.
    pub fn text(self) -> &'static str {
        match self {
            Reason::None => "",
            Reason::RuleNotInConfig => "logged rule not in the NSG at that time",
            Reason::OtherRuleDecides => "another rule decides",
            Reason::ActionDiffers => "same rule, other action",
            Reason::RuleContentUnknown => "logged rule existed then, content not in the case",
            Reason::NsgNotNamed => "log names no NSG",
            Reason::NsgUnknown => "NSG not in the configuration",
            Reason::NsgUnresolved => "ACL/target resolves to no NSG",
            Reason::NotNsgRule => "not an NSG rule (unspecified/AVNM)",
            Reason::NoRuleSetAtTime => "no rule set at that time (NSG absent or deleted)",
            Reason::NoRuleInLog => "log names no rule",
            Reason::UnreadableTuple => "unreadable direction/protocol/address",
        }
    }
}

/// One disagreement, with the evidence of the tuple.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disagreement {
    /// Tuple time (ISO 8601 UTC).
    pub time: String,
    #[serde(skip)]
    time_us: i64,
    /// NSG name.
    pub nsg: String,
    /// Direction.
    pub direction: TrafficDirection,
    /// Protocol as logged.
    pub protocol: String,
    /// Source `IP:port`.
    pub source: String,
    /// Destination `IP:port`.
    pub destination: String,
    /// Rule the log names.
    pub logged_rule: String,
    /// Action the log records.
    pub logged_action: String,
    /// Rule azir's evaluation picks (`securityRules/<name>` or `defaultSecurityRules/<name>`).
    pub evaluated_rule: String,
    /// Its priority.
    pub evaluated_priority: u32,
    /// Its access.
    pub evaluated_action: Access,
    /// Why they differ.
    pub reason: Reason,
    /// The tuple's evidence.
    pub evidence: Evidence,
}

/// Counts of one (NSG, outcome, reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    /// NSG name (`? <name>` when the NSG is not in the configuration).
    pub nsg: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Reason (`none` for agreements).
    pub reason: Reason,
    /// Tuples.
    pub tuples: u64,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Tuples read (in the window).
    pub tuples: u64,
    /// Tuples whose rule and action agree.
    pub agree: u64,
    /// Tuples that disagree.
    pub disagree: u64,
    /// Tuples that could not be evaluated.
    pub not_evaluable: u64,
    /// Per NSG, outcome and reason; by NSG, then outcome, then reason.
    pub counts: Vec<Count>,
    /// The earliest disagreements (up to the limit).
    pub examples: Vec<Disagreement>,
}

/// The per-worker accumulator.
pub struct Crosscheck<'m> {
    model: &'m Model,
    limit: usize,
    cache: Map<u64, (Result<usize, Reason>, u64)>,
    labels: Names,
    counts: Map<(u64, Outcome, Reason), u64>,
    examples: Vec<Disagreement>,
}

/// A string column read plainly or as a dictionary ([`DICTIONARY`]); missing reads as "".
#[derive(Clone, Copy)]
enum Strs<'a> {
    Missing,
    Plain(&'a StringArray),
    Dict(&'a Int32Array, &'a StringArray),
}

impl<'a> Strs<'a> {
    fn of(b: &'a RecordBatch, name: &str) -> Result<Self, String> {
        let Some(c) = b.column_by_name(name) else { return Ok(Strs::Missing) };
        if let Some(a) = c.as_any().downcast_ref::<StringArray>() {
            return Ok(Strs::Plain(a));
        }
        if let Some(d) = c.as_any().downcast_ref::<DictionaryArray<Int32Type>>() {
            if let Some(v) = d.values().as_any().downcast_ref::<StringArray>() {
                return Ok(Strs::Dict(d.keys(), v));
            }
        }
        Err(format!("column {name} has type {}, not a string column", c.data_type()))
    }

    fn get(&self, i: usize) -> &'a str {
        match *self {
            Strs::Missing => "",
            Strs::Plain(a) if a.is_null(i) => "",
            Strs::Plain(a) => a.value(i),
            Strs::Dict(k, _) if k.is_null(i) => "",
            Strs::Dict(k, v) => {
                let j = k.value(i) as usize;
                if j >= v.len() || v.is_null(j) {
                    ""
                } else {
                    v.value(j)
                }
            }
        }
    }

    /// A code equal for equal values within the batch: the dictionary key, else the string's key.
    fn code(&self, i: usize) -> u64 {
        match *self {
            Strs::Dict(k, _) if k.is_null(i) => u64::MAX,
            Strs::Dict(k, _) => k.value(i) as u32 as u64,
            _ => key(self.get(i)),
        }
    }
}

/// A value derived from a string column, computed once per dictionary entry of the batch
/// (per row for plain columns).
struct Coded<'a, T, F> {
    col: Strs<'a>,
    table: Vec<T>,
    f: F,
}

impl<'a, T: Copy, F: Fn(&'a str) -> T> Coded<'a, T, F> {
    fn new(col: Strs<'a>, f: F) -> Self {
        let table = match col {
            Strs::Dict(_, v) => {
                (0..v.len()).map(|j| f(if v.is_null(j) { "" } else { v.value(j) })).chain([f("")]).collect()
            }
            _ => Vec::new(),
        };
        Coded { col, table, f }
    }

    fn at(&self, i: usize) -> T {
        match self.col {
            Strs::Dict(k, _) => {
                let j =
                    if k.is_null(i) { self.table.len() - 1 } else { (k.value(i) as usize).min(self.table.len() - 1) };
                self.table[j]
            }
            _ => (self.f)(self.col.get(i)),
        }
    }
}

/// The columns the cross-check reads, typed.
struct Cols<'a> {
    time: &'a TimestampMicrosecondArray,
    src: Strs<'a>,
    dst: Strs<'a>,
    sport: Option<&'a Int32Array>,
    dport: Option<&'a Int32Array>,
    proto: Strs<'a>,
    direction: Strs<'a>,
    action: Strs<'a>,
    rule: Strs<'a>,
    source: Strs<'a>,
    dvc: Strs<'a>,
    acl: Strs<'a>,
    target: Strs<'a>,
    ev_path: Strs<'a>,
    ev_line: Option<&'a UInt64Array>,
    ev_tuple: Option<&'a UInt32Array>,
}

impl<'a> Cols<'a> {
    fn new(b: &'a RecordBatch) -> Result<Self, String> {
        Ok(Cols {
            time: typed(b, "TimeGenerated")?.ok_or("the batch has no TimeGenerated column")?,
            src: Strs::of(b, "SrcIpAddr")?,
            dst: Strs::of(b, "DstIpAddr")?,
            sport: typed(b, "SrcPortNumber")?,
            dport: typed(b, "DstPortNumber")?,
            proto: Strs::of(b, "NetworkProtocol")?,
            direction: Strs::of(b, "NetworkDirection")?,
            action: Strs::of(b, "DvcAction")?,
            rule: Strs::of(b, "NetworkRuleName")?,
            source: Strs::of(b, "source")?,
            dvc: Strs::of(b, "DvcId")?,
            acl: Strs::of(b, "AclId")?,
            target: Strs::of(b, "TargetResourceId")?,
            ev_path: Strs::of(b, "evidence_path")?,
            ev_line: typed(b, "evidence_line")?,
            ev_tuple: typed(b, "evidence_tuple")?,
        })
    }

    fn port(a: Option<&Int32Array>, i: usize) -> Option<u16> {
        a.filter(|a| !a.is_null(i)).and_then(|a| u16::try_from(a.value(i)).ok())
    }
}

/// An IP address from a flow-log column: dotted-quad IPv4 on a fast path, anything else through
/// the standard parser (same answers: an irregular quad, e.g. a leading zero, takes the slow path).
fn parse_ip(s: &str) -> Option<IpAddr> {
    let b = s.as_bytes();
    let (mut addr, mut octet, mut digits, mut dots) = (0u32, 0u32, 0u32, 0u32);
    for &c in b {
        match c {
            b'0'..=b'9' if !(digits == 1 && octet == 0) && digits < 3 => {
                octet = octet * 10 + u32::from(c - b'0');
                digits += 1;
            }
            b'.' if digits > 0 && octet <= 255 && dots < 3 => {
                addr = addr << 8 | octet;
                (octet, digits, dots) = (0, 0, dots + 1);
            }
            _ => return s.parse().ok(),
        }
    }
    if dots == 3 && digits > 0 && octet <= 255 {
        Some(IpAddr::V4((addr << 8 | octet).into()))
    } else {
        s.parse().ok()
    }
}

fn direction_of(s: &str) -> Option<TrafficDirection> {
    if s.eq_ignore_ascii_case("inbound") {
        Some(TrafficDirection::Inbound)
    } else if s.eq_ignore_ascii_case("outbound") {
        Some(TrafficDirection::Outbound)
    } else {
        None
    }
}

/// The logged action: `None` when the log records none, else whether it is the given access.
fn action_of(s: &str) -> Option<Option<Access>> {
    if s.is_empty() {
        None
    } else if s.eq_ignore_ascii_case("allow") {
        Some(Some(Access::Allow))
    } else if s.eq_ignore_ascii_case("deny") {
        Some(Some(Access::Deny))
    } else {
        Some(None)
    }
}

/// One tuple, read.
struct Row<'a> {
    i: usize,
    time: i64,
    direction: Option<TrafficDirection>,
    protocol: Option<Protocol>,
    /// The logged rule without its prefix.
    rule: &'a str,
    /// The logged action (see [`action_of`]).
    action: Option<Option<Access>>,
}

/// The string columns the cross-check asks [`azir_store`'s scan] to read as dictionaries: each
/// holds few distinct values (resource ids, rule names, evidence paths), so per-row work on
/// them is done once per distinct value and the long ids are never copied per row.
pub const DICTIONARY: [&str; 9] = [
    "source",
    "NetworkProtocol",
    "NetworkDirection",
    "DvcAction",
    "NetworkRuleName",
    "DvcId",
    "AclId",
    "TargetResourceId",
    "evidence_path",
];

impl<'m> Crosscheck<'m> {
    /// An empty accumulator keeping up to `limit` example disagreements.
    pub fn new(model: &'m Model, limit: usize) -> Self {
        Crosscheck {
            model,
            limit,
            cache: Map::default(),
            labels: Names::default(),
            counts: Map::default(),
            examples: Vec::new(),
        }
    }

    /// Checks the NSG and VNet flow-log tuples (`source` `nsg_flow`/`vnet_flow`; other flow
    /// sources are skipped) of a `network` batch, projected to at least [`COLUMNS`], in `window`.
    /// The string columns may be plain or dictionary arrays (faster: see [`DICTIONARY`]).
    pub fn add(&mut self, b: &RecordBatch, window: Window) -> Result<(), String> {
        let c = Cols::new(b)?;
        let all = window == Window::default();
        let flow_source = Coded::new(c.source, |s: &str| s == "nsg_flow" || s == "vnet_flow");
        let direction = Coded::new(c.direction, direction_of);
        let protocol = Coded::new(c.proto, Protocol::parse);
        let action = Coded::new(c.action, action_of);
        let rule = Coded::new(c.rule, strip_rule_prefix);
        // Rows of one flow-log record are adjacent: the previous row's NSG is reused when its
        // naming fields are equal, the per-worker cache is asked otherwise.
        let mut last: Option<([u64; 4], Result<usize, Reason>, u64)> = None;
        // Counts are kept as runs of one key (long in practice) and added to the map when the
        // key changes.
        let mut run: Option<((u64, Outcome, Reason), u64)> = None;
        // The version of the previous row and the interval it covers.
        let mut version: Option<(i64, i64, &Version)> = None;
        for i in 0..b.num_rows() {
            let time = c.time.value(i);
            if (!all && !window.contains(time)) || !flow_source.at(i) {
                continue;
            }
            let codes = [c.source.code(i), c.dvc.code(i), c.acl.code(i), c.target.code(i)];
            let (resolved, label) = match &last {
                Some((k, r, l)) if *k == codes => (*r, *l),
                _ => {
                    let (s, d, a, t) = (c.source.get(i), c.dvc.get(i), c.acl.get(i), c.target.get(i));
                    let ck = key(s) ^ key(d).rotate_left(13) ^ key(a).rotate_left(29) ^ key(t).rotate_left(43);
                    let model = self.model;
                    let labels = &mut self.labels;
                    let &mut (r, l) = self.cache.entry(ck).or_insert_with(|| {
                        let r = model.resolve(s, d, a, t);
                        let label = labels.note(&model.label(&r, d, a, t));
                        (r, label)
                    });
                    last = Some((codes, r, l));
                    (r, l)
                }
            };
            let v = match version {
                Some((from, to, v)) if from <= time && time < to => Some(v),
                _ => {
                    let found = self.model.version_span(time);
                    version = found;
                    found.map(|(_, _, v)| v)
                }
            };
            let row = Row {
                i,
                time,
                direction: direction.at(i),
                protocol: protocol.at(i),
                rule: rule.at(i),
                action: action.at(i),
            };
            let (outcome, reason) = self.check(&c, &row, resolved, v);
            let k = (label, outcome, reason);
            match &mut run {
                Some((rk, n)) if *rk == k => *n += 1,
                _ => {
                    if let Some((rk, n)) = run.replace((k, 1)) {
                        *self.counts.entry(rk).or_default() += n;
                    }
                }
            }
            if outcome == Outcome::Disagree {
                self.example(&c, &row, resolved, v, reason);
            }
        }
        if let Some((rk, n)) = run {
            *self.counts.entry(rk).or_default() += n;
        }
        Ok(())
    }

    fn decide<'a>(
        c: &Cols,
        row: &Row,
        resolved: Result<usize, Reason>,
        version: Option<&'a Version>,
    ) -> Result<(Query, &'a CompiledNsg, Decision<'a>), Reason> {
        let n = resolved?;
        if row.rule.is_empty() {
            return Err(Reason::NoRuleInLog);
        }
        let nsg = version.and_then(|v| v.nsgs[n].as_ref()).ok_or(Reason::NoRuleSetAtTime)?;
        let i = row.i;
        let q = (|| {
            let protocol = match row.protocol? {
                Protocol::Any => return None,
                p => p,
            };
            Some(Query {
                direction: row.direction?,
                protocol,
                src: parse_ip(c.src.get(i))?,
                src_port: Cols::port(c.sport, i),
                dst: parse_ip(c.dst.get(i))?,
                dst_port: Cols::port(c.dport, i),
            })
        })()
        .ok_or(Reason::UnreadableTuple)?;
        // Nsg::new adds the defaults, so some rule always decides; no rule is a rule set without them.
        let d = nsg.decide(&q).ok_or(Reason::NoRuleSetAtTime)?;
        Ok((q, nsg, d))
    }

    fn check(&self, c: &Cols, row: &Row, resolved: Result<usize, Reason>, v: Option<&Version>) -> (Outcome, Reason) {
        match Self::decide(c, row, resolved, v) {
            Err(r) => (Outcome::NotEvaluable, r),
            Ok((q, nsg, d)) => {
                if row.rule.eq_ignore_ascii_case(strip_rule_prefix(d.name)) {
                    match row.action {
                        None => (Outcome::Agree, Reason::None),
                        Some(Some(a)) if a == d.access => (Outcome::Agree, Reason::None),
                        Some(_) => (Outcome::Disagree, Reason::ActionDiffers),
                    }
                } else {
                    let rules = match q.direction {
                        TrafficDirection::Inbound => &nsg.inbound,
                        TrafficDirection::Outbound => &nsg.outbound,
                    };
                    if rules.iter().any(|r| same_rule(row.rule, &r.name)) {
                        (Outcome::Disagree, Reason::OtherRuleDecides)
                    } else if nsg.unknown.iter().any(|r| same_rule(row.rule, r)) {
                        (Outcome::NotEvaluable, Reason::RuleContentUnknown)
                    } else {
                        (Outcome::Disagree, Reason::RuleNotInConfig)
                    }
                }
            }
        }
    }

    fn example(&mut self, c: &Cols, row: &Row, resolved: Result<usize, Reason>, v: Option<&Version>, reason: Reason) {
        if self.limit == 0 {
            return;
        }
        let Ok((q, nsg, d)) = Self::decide(c, row, resolved, v) else { return };
        let i = row.i;
        let ep = |ip: IpAddr, p: Option<u16>| {
            let p = p.map_or_else(|| "*".to_string(), |p| p.to_string());
            if ip.is_ipv6() {
                format!("[{ip}]:{p}")
            } else {
                format!("{ip}:{p}")
            }
        };
        let line = c.ev_line.filter(|a| !a.is_null(i)).map_or(0, |a| a.value(i));
        let tuple = c.ev_tuple.filter(|a| !a.is_null(i)).map_or(0, |a| a.value(i));
        let e = Disagreement {
            time: format_micros(row.time),
            time_us: row.time,
            nsg: nsg.name.clone(),
            direction: q.direction,
            protocol: c.proto.get(i).to_string(),
            source: ep(q.src, q.src_port),
            destination: ep(q.dst, q.dst_port),
            logged_rule: c.rule.get(i).to_string(),
            logged_action: c.action.get(i).to_string(),
            evaluated_rule: d.display.to_string(),
            evaluated_priority: d.priority,
            evaluated_action: d.access,
            reason,
            evidence: Evidence { path: c.ev_path.get(i).to_string(), line, tuple },
        };
        self.examples.push(e);
        if self.examples.len() >= 4 * self.limit.max(16) {
            self.trim();
        }
    }

    fn trim(&mut self) {
        self.examples.sort_by(|a, b| {
            (a.time_us, &a.evidence.path, a.evidence.line, a.evidence.tuple).cmp(&(
                b.time_us,
                &b.evidence.path,
                b.evidence.line,
                b.evidence.tuple,
            ))
        });
        self.examples.truncate(self.limit);
    }

    /// Adds another worker's partial result.
    pub fn merge(&mut self, other: Crosscheck<'m>) {
        self.labels.merge(other.labels);
        for (k, v) in other.counts {
            *self.counts.entry(k).or_default() += v;
        }
        self.examples.extend(other.examples);
        self.trim();
    }

    /// The answer.
    pub fn finish(mut self) -> Report {
        self.trim();
        let mut counts: Vec<Count> = self
            .counts
            .iter()
            .map(|(&(l, outcome, reason), &tuples)| Count {
                nsg: self.labels.get(l).to_string(),
                outcome,
                reason,
                tuples,
            })
            .collect();
        counts.sort_by(|a, b| (&a.nsg, a.outcome, a.reason).cmp(&(&b.nsg, b.outcome, b.reason)));
        let sum = |o: Outcome| counts.iter().filter(|c| c.outcome == o).map(|c| c.tuples).sum::<u64>();
        Report {
            tuples: counts.iter().map(|c| c.tuples).sum(),
            agree: sum(Outcome::Agree),
            disagree: sum(Outcome::Disagree),
            not_evaluable: sum(Outcome::NotEvaluable),
            counts,
            examples: self.examples,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nsg::{verify, Target};
    use arrow_array::{ArrayRef, Int32Array, TimestampMicrosecondArray, UInt32Array, UInt64Array};
    use serde_json::{json, Value};
    use std::sync::Arc;

    const N: &str = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network";

    fn res(kind: &str, time: i64, v: Value) -> Resource {
        let id = v["id"].as_str().unwrap().to_string();
        Resource {
            time: Some(time),
            id_lower: id.to_ascii_lowercase(),
            name: v["name"].as_str().unwrap_or_default().to_string(),
            id,
            kind: format!("Microsoft.Network/{kind}"),
            json: v.to_string(),
            ..Resource::default()
        }
    }

    fn nsg_id(name: &str) -> String {
        format!("{N}/networkSecurityGroups/{name}")
    }

    /// vnet1 (10.0.0.0/16, fd00:10::/48) with subnet web (NSG `nsg`, when given) holding
    /// nic-a (10.0.1.4, fd00:10::4, asg-a) and nic-b (10.0.1.5, asg-b); NSG nsg-x with `rules`.
    fn network(rules: Vec<Value>, guid: &str) -> Vec<Resource> {
        let vnet = format!("{N}/virtualNetworks/vnet1");
        let web = format!("{vnet}/subnets/web");
        let asg = |n: &str| json!([{"id": format!("{N}/applicationSecurityGroups/{n}")}]);
        vec![
            res(
                "virtualNetworks",
                1,
                json!({"id": vnet, "name": "vnet1", "properties": {
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16", "fd00:10::/48"]},
                "subnets": [{"id": web, "name": "web", "properties": {"addressPrefix": "10.0.1.0/24",
                    "networkSecurityGroup": {"id": nsg_id("nsg-x")}}}]}}),
            ),
            res(
                "networkSecurityGroups",
                1,
                json!({"id": nsg_id("nsg-x"), "name": "nsg-x",
                "properties": {"resourceGuid": guid, "securityRules": rules}}),
            ),
            res(
                "networkInterfaces",
                1,
                json!({"id": format!("{N}/networkInterfaces/nic-a"), "name": "nic-a",
                "properties": {"ipConfigurations": [
                    {"name": "c1", "properties": {"primary": true, "privateIPAddress": "10.0.1.4", "subnet": {"id": web}, "applicationSecurityGroups": asg("asg-a")}},
                    {"name": "c2", "properties": {"privateIPAddress": "fd00:10::4", "subnet": {"id": web}, "applicationSecurityGroups": asg("asg-a")}}]}}),
            ),
            res(
                "networkInterfaces",
                1,
                json!({"id": format!("{N}/networkInterfaces/nic-b"), "name": "nic-b",
                "properties": {"ipConfigurations": [
                    {"name": "c1", "properties": {"primary": true, "privateIPAddress": "10.0.1.5", "subnet": {"id": web}, "applicationSecurityGroups": asg("asg-b")}}]}}),
            ),
        ]
    }

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
            &v[(self.next() % v.len() as u64) as usize]
        }
        fn some<T: Clone>(&mut self, v: &[T], max: usize) -> Vec<T> {
            let n = 1 + (self.next() % max as u64) as usize;
            (0..n).map(|_| self.pick(v).clone()).collect()
        }
    }

    const ADDRS: [&str; 18] = [
        "*",
        "Any",
        "10.0.0.0/16",
        "10.0.1.0/24",
        "10.0.1.4",
        "10.0.1.4/31",
        "192.0.2.0/24",
        "203.0.113.0/25",
        "VirtualNetwork",
        "Internet",
        "AzureLoadBalancer",
        "Storage",
        "UnknownTag",
        "fd00:10::/64",
        "2001:db8::/32",
        "0.0.0.0/0",
        "10.0.0.0/33",
        "::/0",
    ];
    const PORTS: [&str; 9] = ["*", "22", "80-443", "1000-2000", "3389", "53", "65535", "0-1023", "444-444"];
    const IPS: [&str; 16] = [
        "10.0.1.4",
        "10.0.1.5",
        "10.0.2.9",
        "10.1.0.1",
        "192.0.2.7",
        "203.0.113.5",
        "203.0.113.200",
        "168.63.129.16",
        "20.38.109.9",
        "8.8.8.8",
        "100.64.0.1",
        "fd00:10::4",
        "2001:db8::1",
        "2603:1020::1",
        "fe80::1",
        "0.0.0.0",
    ];
    const QPORTS: [u16; 12] = [0, 22, 53, 80, 443, 444, 1000, 2000, 2001, 3389, 50000, 65535];

    fn random_rule(r: &mut Rng, i: usize) -> Value {
        let mut p = json!({
            "priority": 100 + (r.next() % 400) * 10 + i as u64,
            "direction": *r.pick(&["Inbound", "Outbound"]),
            "access": *r.pick(&["Allow", "Deny"]),
            "protocol": *r.pick(&["Tcp", "Udp", "Icmp", "*", "Esp"]),
        });
        for side in ["source", "destination"] {
            if r.next().is_multiple_of(6) {
                let asgs: Vec<Value> = r
                    .some(&["asg-a", "asg-b", "asg-none"], 2)
                    .iter()
                    .map(|a| json!({"id": format!("{N}/applicationSecurityGroups/{a}")}))
                    .collect();
                p[format!("{side}ApplicationSecurityGroups")] = asgs.into();
            } else if r.next().is_multiple_of(2) {
                p[format!("{side}AddressPrefix")] = (*r.pick(&ADDRS)).into();
            } else {
                p[format!("{side}AddressPrefixes")] = r.some(&ADDRS, 3).into();
            }
            if r.next().is_multiple_of(2) {
                p[format!("{side}PortRange")] = (*r.pick(&PORTS)).into();
            } else {
                p[format!("{side}PortRanges")] = r.some(&PORTS, 3).into();
            }
        }
        json!({"name": format!("r{i}"), "properties": p})
    }

    fn storage() -> ServiceTags {
        ServiceTags::parse(r#"{"values":[{"name":"Storage","properties":{"addressPrefixes":["20.38.108.0/23"]}}]}"#)
            .unwrap()
    }

    /// The compiled evaluator against `nsg::verify` and `nsg::evaluate_nsg`: same deciding rule
    /// (name and action) for every generated flow of every generated rule set.
    #[test]
    fn compiled_evaluation_equals_verify() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let tags = storage();
        let (mut flows, mut custom_decisions) = (0, 0);
        for _ in 0..150 {
            let rules: Vec<Value> = (0..1 + r.next() % 12).map(|i| random_rule(&mut r, i as usize)).collect();
            let config = NetworkConfig::from_resources(&network(rules, "g"), None);
            let id = nsg_id("nsg-x").to_ascii_lowercase();
            let nsg = &config.nsgs[&id];
            let compiled = CompiledNsg::new(nsg, &config, context_of(&config, &id, &tags));
            for _ in 0..300 {
                let q = Query {
                    direction: *r.pick(&[TrafficDirection::Inbound, TrafficDirection::Outbound]),
                    protocol: *r.pick(&[Protocol::Tcp, Protocol::Udp, Protocol::Icmp, Protocol::Any]),
                    src: r.pick(&IPS).parse().unwrap(),
                    src_port: (!r.next().is_multiple_of(5)).then(|| *r.pick(&QPORTS)),
                    dst: r.pick(&IPS).parse().unwrap(),
                    dst_port: (!r.next().is_multiple_of(5)).then(|| *r.pick(&QPORTS)),
                };
                let got = compiled.decide(&q).expect("the defaults always decide");
                let v = verify(&config, &q, &Target::Nic("nic-a".into()), &tags, false).unwrap();
                let at = v
                    .evaluated_network_security_groups
                    .iter()
                    .find(|e| e.network_security_group_name.as_deref() == Some("nsg-x"))
                    .and_then(|e| e.matched_rule.as_ref())
                    .unwrap();
                assert_eq!((got.display, got.access), (at.rule_name.as_str(), at.action), "{q:?}\n{nsg:#?}");
                let ctx = config.address_context(
                    Some(&format!("{N}/virtualNetworks/vnet1/subnets/web").to_ascii_lowercase()),
                    &tags,
                );
                let (m, _) =
                    crate::nsg::evaluate_nsg(nsg, &q, &config.asgs_of(q.src), &config.asgs_of(q.dst), &ctx, false);
                let m = m.unwrap();
                assert_eq!((got.display, got.priority), (m.rule_name.as_str(), m.priority), "{q:?}");
                flows += 1;
                custom_decisions += got.display.starts_with("securityRules/") as usize;
            }
        }
        assert_eq!(flows, 45_000);
        // The generated rules decide often enough for the comparison to mean something.
        assert!(custom_decisions > 1_000, "{custom_decisions}");
    }

    #[test]
    fn rule_names_are_normalised() {
        assert_eq!(strip_rule_prefix("UserRule_Allow-Web"), "Allow-Web");
        assert_eq!(strip_rule_prefix("defaultrule_DenyAllInBound"), "DenyAllInBound");
        assert_eq!(strip_rule_prefix("securityRules/x"), "x");
        assert_eq!(strip_rule_prefix("defaultSecurityRules/AllowVnetInBound"), "AllowVnetInBound");
        assert_eq!(strip_rule_prefix("Allow-Web"), "Allow-Web");
        assert_eq!(strip_rule_prefix("é"), "é");
        assert!(same_rule("UserRule_allow-web", "securityRules/Allow-Web"));
        assert!(same_rule("DefaultRule_DenyAllInBound", "DenyAllInBound"));
        assert!(!same_rule("UserRule_Allow-Web", "Allow-Web2"));
        assert!(!same_rule("DefaultRule_DenyAllInBound", "DenyAllOutBound"));
    }

    #[test]
    fn address_intervals_merge_and_bound() {
        let mut s = AddrSet::default();
        for n in ["10.0.0.0/25", "10.0.0.128/25", "255.255.255.255/32", "10.0.2.0/24", "fd00::/8"] {
            s.add_net(&n.parse().unwrap());
        }
        s.add_ip("0.0.0.0".parse().unwrap());
        s.seal();
        assert_eq!(s.v4.len(), 4, "{s:?}");
        for (ip, want) in [
            ("10.0.0.0", true),
            ("10.0.0.255", true),
            ("10.0.1.0", false),
            ("10.0.2.255", true),
            ("255.255.255.255", true),
            ("255.255.255.254", false),
            ("0.0.0.0", true),
            ("fdff::1", true),
            ("fe00::", false),
            ("::ffff:10.0.0.1", false),
        ] {
            assert_eq!(s.contains(ip.parse().unwrap()), want, "{ip}");
        }
    }

    struct Row {
        t: i64,
        source: &'static str,
        dir: &'static str,
        src: &'static str,
        dst: &'static str,
        dport: i32,
        action: &'static str,
        rule: &'static str,
        dvc: &'static str,
        acl: &'static str,
    }

    fn row(t: i64, rule: &'static str, dport: i32) -> Row {
        Row {
            t,
            source: "nsg_flow",
            dir: "Inbound",
            src: "203.0.113.9",
            dst: "10.0.1.4",
            dport,
            action: "Allow",
            rule,
            dvc: "/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-X",
            acl: "",
        }
    }

    fn batch(rows: &[Row]) -> RecordBatch {
        let s = |f: &dyn Fn(&Row) -> &'static str| -> ArrayRef {
            Arc::new(StringArray::from(rows.iter().map(|r| Some(f(r)).filter(|s| !s.is_empty())).collect::<Vec<_>>()))
        };
        RecordBatch::try_from_iter(vec![
            (
                "TimeGenerated",
                Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.t))) as ArrayRef,
            ),
            ("source", s(&|r| r.source)),
            ("SrcIpAddr", s(&|r| r.src)),
            ("SrcPortNumber", Arc::new(Int32Array::from_iter_values(rows.iter().map(|_| 50_000)))),
            ("DstIpAddr", s(&|r| r.dst)),
            ("DstPortNumber", Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.dport)))),
            ("NetworkProtocol", s(&|_| "TCP")),
            ("NetworkDirection", s(&|r| r.dir)),
            ("DvcAction", s(&|r| r.action)),
            ("NetworkRuleName", s(&|r| r.rule)),
            ("DvcId", s(&|r| r.dvc)),
            ("AclId", s(&|r| r.acl)),
            ("TargetResourceId", s(&|r| if r.source == "vnet_flow" { "/x/virtualNetworks/vnet1" } else { "" })),
            ("evidence_path", s(&|_| "flows/PT1H.json")),
            ("evidence_line", Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.t as u64)))),
            ("evidence_tuple", Arc::new(UInt32Array::from_iter_values(rows.iter().map(|_| 0)))),
        ])
        .unwrap()
    }

    fn ssh_rule() -> Value {
        json!({"name": "Allow-SSH", "properties": {"priority": 100, "direction": "Inbound", "access": "Allow",
            "protocol": "Tcp", "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*",
            "destinationPortRange": "22"}})
    }

    /// Two versions (the SSH rule exists only from t=1000), one tuple per outcome and reason,
    /// split across two workers and merged.
    #[test]
    fn outcomes_and_reasons() {
        let tags = ServiceTags::default();
        let before = NetworkConfig::from_resources(&network(vec![], "GUID-X"), None);
        let after = NetworkConfig::from_resources(&network(vec![ssh_rule()], "GUID-X"), None);
        let mut model = Model::from_configs(vec![(i64::MIN, before), (1000, after)], &tags);
        model.guids.insert("guid-x".into(), 0);
        let mut late = row(2000, "UserRule_Allow-SSH", 22);
        late.action = "Deny";
        let mut vnet = row(2000, "allow-ssh", 22);
        vnet.source = "vnet_flow";
        vnet.acl = "GUID-X";
        let mut vnet_unresolved = row(2000, "allow-ssh", 22);
        vnet_unresolved.source = "vnet_flow";
        vnet_unresolved.acl = "other-guid";
        let mut unspecified = row(2000, "unspecified", 22);
        unspecified.source = "vnet_flow";
        unspecified.acl = "unspecified";
        let mut unknown = row(2000, "UserRule_Allow-SSH", 22);
        unknown.dvc = "/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-GONE";
        let mut bad = row(2000, "UserRule_Allow-SSH", 22);
        bad.dst = "not-an-ip";
        let mut deny = row(2000, "DefaultRule_DenyAllInBound", 80);
        deny.action = "Deny";
        let mut other = row(2000, "x", 22);
        other.source = "firewall";
        let rows1 = vec![
            row(2000, "UserRule_Allow-SSH", 22), // agree
            deny,                                // agree (default)
            row(500, "UserRule_Allow-SSH", 22),  // rule not in config yet
            row(2000, "UserRule_Allow-Web", 80), // rule not in config
            late,                                // action differs
        ];
        let rows2 = vec![
            row(2000, "DefaultRule_DenyAllInBound", 22), // another rule (Allow-SSH) decides
            vnet,                                        // agree through the ACL guid
            vnet_unresolved,
            unspecified,
            unknown,
            bad,
            row(2000, "", 22), // no rule in the log
            other,             // not an NSG flow log: skipped
        ];
        let mut a = Crosscheck::new(&model, 10);
        a.add(&batch(&rows1), Window::default()).unwrap();
        let mut b = Crosscheck::new(&model, 10);
        b.add(&batch(&rows2), Window::default()).unwrap();
        a.merge(b);
        let r = a.finish();
        assert_eq!((r.tuples, r.agree, r.disagree, r.not_evaluable), (12, 3, 4, 5), "{r:#?}");
        let count = |nsg: &str, o: Outcome, reason: Reason| {
            r.counts.iter().find(|c| c.nsg == nsg && c.outcome == o && c.reason == reason).map_or(0, |c| c.tuples)
        };
        assert_eq!(count("nsg-x", Outcome::Agree, Reason::None), 3);
        assert_eq!(count("nsg-x", Outcome::Disagree, Reason::RuleNotInConfig), 2);
        assert_eq!(count("nsg-x", Outcome::Disagree, Reason::ActionDiffers), 1);
        assert_eq!(count("nsg-x", Outcome::Disagree, Reason::OtherRuleDecides), 1);
        assert_eq!(count("nsg-x", Outcome::NotEvaluable, Reason::UnreadableTuple), 1);
        assert_eq!(count("nsg-x", Outcome::NotEvaluable, Reason::NoRuleInLog), 1);
        assert_eq!(count("? other-guid", Outcome::NotEvaluable, Reason::NsgUnresolved), 1);
        assert_eq!(count("? unspecified", Outcome::NotEvaluable, Reason::NotNsgRule), 1);
        assert_eq!(count("? NSG-GONE", Outcome::NotEvaluable, Reason::NsgUnknown), 1);
        // Examples: earliest first, with both rules and the evidence.
        assert_eq!(r.examples.len(), 4);
        let e = &r.examples[0];
        assert_eq!(
            (e.logged_rule.as_str(), e.evaluated_rule.as_str()),
            ("UserRule_Allow-SSH", "defaultSecurityRules/DenyAllInBound")
        );
        assert_eq!(e.reason, Reason::RuleNotInConfig);
        assert_eq!(e.evidence.to_string(), "flows/PT1H.json:500#0");
        assert_eq!(e.destination, "10.0.1.4:22");
        // The limit keeps the earliest.
        let mut c = Crosscheck::new(&model, 1);
        c.add(&batch(&rows1), Window::default()).unwrap();
        let r1 = c.finish();
        assert_eq!(r1.examples.len(), 1);
        assert_eq!(r1.examples[0].time_us, 500);
        // A window leaves the early tuple out.
        let mut w = Crosscheck::new(&model, 10);
        w.add(&batch(&rows1), Window { since: Some(1000), until: None }).unwrap();
        assert_eq!(w.finish().tuples, 4);
        // The same tuples with the string columns as dictionaries (as the CLI reads them) give
        // the same report, whichever way each column comes.
        for dict_cols in [&DICTIONARY[..], &["DvcId", "NetworkRuleName"][..]] {
            let mut d = Crosscheck::new(&model, 10);
            d.add(&dictionary(&batch(&rows1), dict_cols), Window::default()).unwrap();
            let mut e = Crosscheck::new(&model, 10);
            e.add(&dictionary(&batch(&rows2), dict_cols), Window::default()).unwrap();
            d.merge(e);
            assert_eq!(d.finish(), r, "{dict_cols:?}");
        }
    }

    /// `b` with the string columns named in `cols` turned into dictionary arrays.
    fn dictionary(b: &RecordBatch, cols: &[&str]) -> RecordBatch {
        let columns: Vec<(String, ArrayRef)> = b
            .schema()
            .fields()
            .iter()
            .zip(b.columns())
            .map(|(f, c)| {
                let c = match c.as_any().downcast_ref::<StringArray>() {
                    Some(s) if cols.contains(&f.name().as_str()) => {
                        Arc::new(s.iter().collect::<DictionaryArray<Int32Type>>()) as ArrayRef
                    }
                    _ => c.clone(),
                };
                (f.name().clone(), c)
            })
            .collect();
        RecordBatch::try_from_iter(columns).unwrap()
    }

    #[test]
    fn ip_fast_path_equals_the_standard_parser() {
        for s in [
            "10.0.1.4",
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.2.3.04",
            "1..2.3",
            ".1.2.3",
            "1.2.3.",
            "1.2.3.4 ",
            "1.2.3.1000",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "",
            "x",
            "999.999.999.999",
            "0.0.0.00",
        ] {
            assert_eq!(parse_ip(s), s.parse::<IpAddr>().ok(), "{s:?}");
        }
        let mut r = Rng(7);
        for _ in 0..20_000 {
            let s = format!("{}.{}.{}.{}", r.next() % 300, r.next() % 256, r.next() % 260, r.next() % 256);
            assert_eq!(parse_ip(&s), s.parse::<IpAddr>().ok(), "{s:?}");
        }
    }

    /// A rule the history says existed with unknown content (an update logged without the
    /// earlier state): a tuple naming it is not evaluable, not a disagreement; a tuple naming
    /// a rule that did not exist still disagrees.
    #[test]
    fn a_rule_of_unknown_content_is_not_evaluable() {
        let tags = ServiceTags::default();
        let mut before = NetworkConfig::from_resources(&network(vec![], "g"), None);
        before.nsgs.values_mut().for_each(|n| n.unknown_rules = vec!["allow-ssh".into()]);
        let after = NetworkConfig::from_resources(&network(vec![ssh_rule()], "g"), None);
        let model = Model::from_configs(vec![(i64::MIN, before), (1000, after)], &tags);
        let mut a = Crosscheck::new(&model, 5);
        let rows = [
            row(10, "UserRule_Allow-SSH", 22),
            row(20, "UserRule_Allow-Other", 22),
            row(1000, "UserRule_Allow-SSH", 22),
        ];
        a.add(&batch(&rows), Window::default()).unwrap();
        let r = a.finish();
        assert_eq!((r.agree, r.disagree, r.not_evaluable), (1, 1, 1), "{r:#?}");
        assert!(r.counts.iter().any(|c| c.reason == Reason::RuleContentUnknown && c.tuples == 1));
        assert_eq!(r.examples.len(), 1);
        assert_eq!(r.examples[0].logged_rule, "UserRule_Allow-Other");
    }

    /// An NSG that exists only from t=1000 (created later): earlier tuples have no rule set.
    #[test]
    fn no_rule_set_before_the_nsg_exists() {
        let tags = ServiceTags::default();
        let after = NetworkConfig::from_resources(&network(vec![ssh_rule()], "g"), None);
        let model = Model::from_configs(vec![(i64::MIN, NetworkConfig::default()), (1000, after)], &tags);
        assert_eq!((model.versions(), model.nsgs()), (2, 1));
        let mut a = Crosscheck::new(&model, 5);
        a.add(&batch(&[row(10, "UserRule_Allow-SSH", 22), row(1000, "UserRule_Allow-SSH", 22)]), Window::default())
            .unwrap();
        let r = a.finish();
        assert_eq!((r.agree, r.disagree, r.not_evaluable), (1, 0, 1));
        assert_eq!(r.counts[1].reason, Reason::NoRuleSetAtTime);
    }
}
