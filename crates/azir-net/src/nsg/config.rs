//! The network configuration in force at one instant, built from `resources` rows: NSGs with
//! their rules, NICs with their IP configurations, subnets, VNets with peerings, route tables
//! and VMs, all keyed by lower-cased resource id — and the Internet-facing pieces the topology
//! and exposure read: public IPs, load balancers (frontends, pools, rules, inbound NAT rules),
//! application gateways (frontends, listeners, pools, routing rules), Bastion hosts and
//! firewalls (with classic DNAT rule collections).

use super::rule::{default_rules, parse_rule, Rule, RuleSet};
use super::tags::{AddressContext, ServiceTags, AZURE_HOST_IP};
use azir_model::{format_micros, Resource};
use ipnet::IpNet;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// A network security group.
#[derive(Debug, Clone, PartialEq)]
pub struct Nsg {
    /// Id as written.
    pub id: String,
    /// Name.
    pub name: String,
    /// Rules of both directions, sorted by direction then priority.
    pub rules: Vec<Rule>,
    /// The time of the snapshot the rules come from.
    pub time: Option<i64>,
    /// The configuration carried no `defaultSecurityRules`: the platform's six were added.
    pub defaults_synthesised: bool,
    /// Custom rules (lower-cased names) the NSG history says existed at this time but whose
    /// content the case does not hold (an update logged without the earlier state): they are
    /// not among `rules`, and a decision they could have taken is not known.
    pub unknown_rules: Vec<String>,
}

impl Nsg {
    /// An NSG from its rules (the defaults are added when none is among them).
    pub fn new(id: &str, name: &str, mut rules: Vec<Rule>, time: Option<i64>) -> Self {
        let synth = !rules.iter().any(|r| r.set == RuleSet::Default);
        if synth {
            rules.extend(default_rules());
        }
        rules.sort_by_key(|r| (r.direction, r.priority, r.set == RuleSet::Default));
        Nsg {
            id: id.to_string(),
            name: name.to_string(),
            rules,
            time,
            defaults_synthesised: synth,
            unknown_rules: Vec::new(),
        }
    }
}

/// One IP configuration of a NIC.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IpConfig {
    /// Name.
    pub name: String,
    /// Private address.
    pub private_ip: Option<IpAddr>,
    /// Subnet id, lower-cased.
    pub subnet: Option<String>,
    /// ASG ids, lower-cased.
    pub asgs: Vec<String>,
    /// The NIC's primary configuration.
    pub primary: bool,
    /// The configuration's id, lower-cased (`…/networkInterfaces/n/ipConfigurations/c`).
    pub id: String,
    /// Public IP id, lower-cased.
    pub public_ip: Option<String>,
    /// Load balancer backend pool ids, lower-cased (`loadBalancerBackendAddressPools`).
    pub lb_backend_pools: Vec<String>,
    /// Load balancer inbound NAT rule ids, lower-cased (`loadBalancerInboundNatRules`).
    pub lb_nat_rules: Vec<String>,
    /// Application gateway backend pool ids, lower-cased (`applicationGatewayBackendAddressPools`).
    pub appgw_backend_pools: Vec<String>,
}

/// A network interface.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Nic {
    /// Id as written.
    pub id: String,
    /// Name.
    pub name: String,
    /// IP configurations.
    pub ip_configs: Vec<IpConfig>,
    /// NSG id, lower-cased.
    pub nsg: Option<String>,
    /// VM id, lower-cased.
    pub vm: Option<String>,
    /// `enableIPForwarding`: the NIC forwards traffic not addressed to it (an appliance).
    pub ip_forwarding: bool,
}

impl Nic {
    /// The configuration holding `ip`, else the primary one, else the first.
    pub fn config_for(&self, ip: IpAddr) -> Option<&IpConfig> {
        self.ip_configs
            .iter()
            .find(|c| c.private_ip == Some(ip))
            .or_else(|| self.ip_configs.iter().find(|c| c.primary))
            .or_else(|| self.ip_configs.first())
    }
}

/// A subnet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Subnet {
    /// Id as written.
    pub id: String,
    /// Name.
    pub name: String,
    /// Address prefixes.
    pub prefixes: Vec<IpNet>,
    /// NSG id, lower-cased.
    pub nsg: Option<String>,
    /// Route table id, lower-cased.
    pub route_table: Option<String>,
    /// Services with a service endpoint on the subnet (`serviceEndpoints[].service`, e.g.
    /// `Microsoft.Storage`), in the order written.
    pub service_endpoints: Vec<String>,
}

/// A VNet peering.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Peering {
    /// The peering's name.
    pub name: String,
    /// Remote VNet id, lower-cased.
    pub remote: Option<String>,
    /// Remote address space as the peering records it.
    pub remote_prefixes: Vec<IpNet>,
    /// `peeringState` (`Connected`, `Initiated`, `Disconnected`).
    pub state: Option<String>,
}

/// A virtual network.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Vnet {
    /// Id as written.
    pub id: String,
    /// Name.
    pub name: String,
    /// Address spaces.
    pub prefixes: Vec<IpNet>,
    /// Peerings.
    pub peerings: Vec<Peering>,
}

/// A virtual machine.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Vm {
    /// Id as written.
    pub id: String,
    /// Name.
    pub name: String,
    /// NIC ids, lower-cased.
    pub nics: Vec<String>,
}

/// The configuration at one instant.
#[derive(Debug, Clone, Default)]
pub struct NetworkConfig {
    /// NSGs by lower-cased id.
    pub nsgs: HashMap<String, Nsg>,
    /// NICs, sorted by name.
    pub nics: Vec<Nic>,
    /// Subnets by lower-cased id.
    pub subnets: HashMap<String, Subnet>,
    /// VNets by lower-cased id.
    pub vnets: HashMap<String, Vnet>,
    /// UDR prefixes per route table (lower-cased id).
    pub route_tables: HashMap<String, Vec<IpNet>>,
    /// VMs.
    pub vms: Vec<Vm>,
    /// Route tables with their routes, by lower-cased id.
    pub route_table_info: HashMap<String, RouteTable>,
    /// Public IP addresses by lower-cased id.
    pub public_ips: HashMap<String, PublicIp>,
    /// Load balancers, sorted by name.
    pub load_balancers: Vec<LoadBalancer>,
    /// Application gateways, sorted by name.
    pub app_gateways: Vec<AppGateway>,
    /// Bastion hosts, sorted by name.
    pub bastions: Vec<Bastion>,
    /// Azure Firewalls, sorted by name.
    pub firewalls: Vec<Firewall>,
    /// What was read around: unreadable rules, snapshots taken after the requested instant.
    pub notes: Vec<String>,
}

fn prop<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let p = v.get("properties").filter(|p| p.is_object()).unwrap_or(v);
    p.get(key).or_else(|| v.get(key))
}

fn id_of(v: Option<&Value>) -> Option<String> {
    v?.get("id")?.as_str().map(str::to_ascii_lowercase)
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    prop(v, key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn nets(v: Option<&Value>) -> Vec<IpNet> {
    let parse = |s: &str| s.trim().parse::<IpNet>().ok().map(|n| n.trunc());
    match v {
        Some(Value::String(s)) => parse(s).into_iter().collect(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).filter_map(parse).collect(),
        _ => Vec::new(),
    }
}

/// The parent id of a child resource id (`…/virtualNetworks/v/subnets/s` → `…/virtualNetworks/v`).
fn parent(id: &str) -> &str {
    let mut cut = id;
    for _ in 0..2 {
        cut = cut.rsplit_once('/').map_or("", |(a, _)| a);
    }
    cut
}

fn name_of(v: &Value, id: &str) -> String {
    v.get("name")
        .and_then(Value::as_str)
        .map_or_else(|| id.rsplit('/').next().unwrap_or_default().to_string(), str::to_string)
}

/// Picks one snapshot per resource: the latest at or before `at` (or the latest of all when
/// `at` is `None`); when every snapshot is later than `at`, the earliest, with a note.
pub fn snapshot_at(resources: &[Resource], at: Option<i64>) -> (Vec<&Resource>, Vec<String>) {
    let mut by_id: BTreeMap<&str, Vec<&Resource>> = BTreeMap::new();
    for r in resources {
        by_id.entry(r.id_lower.as_str()).or_default().push(r);
    }
    let mut out = Vec::new();
    let mut later: Vec<(String, i64)> = Vec::new();
    for (_, mut rs) in by_id {
        rs.sort_by_key(|r| r.time.unwrap_or(i64::MIN));
        let pick = match at {
            None => rs.last().copied(),
            Some(t) => match rs.iter().rev().find(|r| r.time.unwrap_or(i64::MIN) <= t) {
                Some(r) => Some(*r),
                None => {
                    let r = rs[0];
                    later.push((format!("{} {}", short_type(&r.kind), r.name), r.time.unwrap_or(i64::MIN)));
                    Some(r)
                }
            },
        };
        out.extend(pick);
    }
    // One note for all of them: a configuration collected after the incident is the usual case.
    let mut notes = Vec::new();
    if !later.is_empty() {
        let earliest = later.iter().map(|l| l.1).min().unwrap_or(i64::MIN);
        let names: Vec<&str> = later.iter().take(6).map(|l| l.0.as_str()).collect();
        let more = if later.len() > 6 { format!(" and {} more", later.len() - 6) } else { String::new() };
        notes.push(format!(
            "{} resource(s) only known from snapshots after the requested time (from {} on): {}{more}; used as they are, except NSG rules the Activity Log rebuilds",
            later.len(),
            format_micros(earliest),
            names.join(", ")
        ));
    }
    (out, notes)
}

fn short_type(kind: &str) -> &str {
    kind.rsplit('/').next().unwrap_or(kind)
}

fn subnet_from(v: &Value, id: &str) -> Subnet {
    let mut prefixes = nets(prop(v, "addressPrefix"));
    prefixes.extend(nets(prop(v, "addressPrefixes")));
    Subnet {
        id: id.to_string(),
        name: name_of(v, id),
        prefixes,
        nsg: id_of(prop(v, "networkSecurityGroup")),
        route_table: id_of(prop(v, "routeTable")),
        service_endpoints: array(v, "serviceEndpoints").iter().filter_map(|e| text(prop(e, "service"))).collect(),
    }
}

fn peering_from(v: &Value) -> Peering {
    let mut remote_prefixes = nets(prop(v, "remoteAddressSpace").and_then(|s| s.get("addressPrefixes")));
    remote_prefixes.extend(nets(prop(v, "remoteVirtualNetworkAddressSpace").and_then(|s| s.get("addressPrefixes"))));
    Peering {
        name: v.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
        remote: id_of(prop(v, "remoteVirtualNetwork")),
        remote_prefixes,
        state: prop(v, "peeringState").and_then(Value::as_str).map(str::to_string),
    }
}

fn rules_of(v: &Value, nsg: &str, notes: &mut Vec<String>) -> Vec<Rule> {
    let mut rules = Vec::new();
    for (key, set) in [("securityRules", RuleSet::Custom), ("defaultSecurityRules", RuleSet::Default)] {
        for r in array(v, key) {
            match parse_rule(r, set) {
                Ok(rule) => rules.push(rule),
                Err(e) => notes.push(format!("NSG {nsg}: {e} (rule left out)")),
            }
        }
    }
    rules
}

/// A user-defined route.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Route {
    /// Route name.
    pub name: String,
    /// `addressPrefix` as written (a CIDR or a service tag).
    pub prefix: String,
    /// `nextHopType` (`VirtualAppliance`, `Internet`, `VnetLocal`, `VirtualNetworkGateway`, `None`).
    pub next_hop_type: String,
    /// `nextHopIpAddress` (for `VirtualAppliance`).
    pub next_hop_ip: Option<String>,
}

/// A route table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RouteTable {
    /// Id as written.
    pub id: String,
    /// Name.
    pub name: String,
    /// Routes in the order written.
    pub routes: Vec<Route>,
    /// `disableBgpRoutePropagation`.
    pub disable_bgp_propagation: bool,
}

/// A public IP address resource.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PublicIp {
    /// Id as written.
    pub id: String,
    /// Name.
    pub name: String,
    /// `ipAddress` (absent while a dynamic address is unallocated).
    pub address: Option<IpAddr>,
    /// `dnsSettings.fqdn`.
    pub fqdn: Option<String>,
    /// `publicIPAllocationMethod` (`Static`, `Dynamic`).
    pub allocation: Option<String>,
    /// `sku.name` (`Basic`, `Standard`).
    pub sku: Option<String>,
    /// `ipConfiguration.id`, lower-cased: the NIC IP configuration, load balancer or application
    /// gateway frontend, Bastion or firewall IP configuration it is attached to.
    pub ip_configuration: Option<String>,
}

/// A frontend IP configuration (load balancer or application gateway).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frontend {
    /// Id, lower-cased.
    pub id: String,
    /// Name.
    pub name: String,
    /// Public IP id, lower-cased (a public frontend).
    pub public_ip: Option<String>,
    /// Private address (an internal frontend).
    pub private_ip: Option<IpAddr>,
    /// Subnet id, lower-cased (an internal frontend).
    pub subnet: Option<String>,
}

/// A backend pool (load balancer or application gateway).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BackendPool {
    /// Id, lower-cased.
    pub id: String,
    /// Name.
    pub name: String,
    /// NIC IP configuration ids, lower-cased (`backendIPConfigurations`,
    /// `loadBalancerBackendAddresses[].networkInterfaceIPConfiguration`).
    pub members: Vec<String>,
    /// Addresses given directly (`backendAddresses[].ipAddress`/`fqdn`,
    /// `loadBalancerBackendAddresses[].ipAddress`).
    pub addresses: Vec<String>,
}

/// Whether a load balancer rule balances over a pool or forwards one port to one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum LbRuleKind {
    /// `loadBalancingRules`: frontend port → backend port on every pool member.
    #[default]
    Balancing,
    /// `inboundNatRules`: frontend port (or port range, one per pool member) → one backend.
    InboundNat,
}

/// A load-balancing rule or an inbound NAT rule.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LbRule {
    /// Id, lower-cased.
    pub id: String,
    /// Name.
    pub name: String,
    /// Balancing or inbound NAT.
    pub kind: LbRuleKind,
    /// `protocol` (`Tcp`, `Udp`, `All`).
    pub protocol: String,
    /// Frontend IP configuration id, lower-cased.
    pub frontend: Option<String>,
    /// `frontendPort`, or `frontendPortRangeStart` (0 with protocol `All`: HA ports, every port).
    pub frontend_port: u16,
    /// `frontendPortRangeEnd` (NAT rules over a pool).
    pub frontend_port_end: Option<u16>,
    /// `backendPort` (0 with HA ports: the same port as the frontend).
    pub backend_port: u16,
    /// Backend pool ids, lower-cased (`backendAddressPool`, `backendAddressPools`).
    pub pools: Vec<String>,
    /// `backendIPConfiguration.id` of a NAT rule, lower-cased.
    pub target: Option<String>,
}

/// A load balancer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoadBalancer {
    /// Id as written.
    pub id: String,
    /// Name.
    pub name: String,
    /// `sku.name`.
    pub sku: Option<String>,
    /// Frontend IP configurations.
    pub frontends: Vec<Frontend>,
    /// Backend pools.
    pub pools: Vec<BackendPool>,
    /// Load-balancing rules then inbound NAT rules.
    pub rules: Vec<LbRule>,
}

/// An application gateway listener.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Listener {
    /// Id, lower-cased.
    pub id: String,
    /// Name.
    pub name: String,
    /// Frontend IP configuration id, lower-cased.
    pub frontend: Option<String>,
    /// The port of its `frontendPort`.
    pub port: Option<u16>,
    /// `protocol` (`Http`, `Https`).
    pub protocol: String,
    /// `hostName` / `hostNames`.
    pub host_names: Vec<String>,
}

/// Where a routing rule sends a listener's requests: a pool and its backend HTTP settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppGwRoute {
    /// Backend pool id, lower-cased.
    pub pool: Option<String>,
    /// Backend port (from `backendHttpSettingsCollection`).
    pub port: Option<u16>,
    /// Backend protocol (`Http`, `Https`).
    pub protocol: Option<String>,
}

/// An application gateway request routing rule.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppGwRule {
    /// Name.
    pub name: String,
    /// Listener id, lower-cased.
    pub listener: Option<String>,
    /// Targets: the rule's own pool/settings, or every pool/settings of its URL path map.
    pub targets: Vec<AppGwRoute>,
}

/// An application gateway.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppGateway {
    /// Id as written.
    pub id: String,
    /// Name.
    pub name: String,
    /// `sku.name` / `sku.tier`.
    pub sku: Option<String>,
    /// The gateway subnet (`gatewayIPConfigurations[].subnet`), lower-cased.
    pub subnet: Option<String>,
    /// Frontend IP configurations.
    pub frontends: Vec<Frontend>,
    /// HTTP listeners.
    pub listeners: Vec<Listener>,
    /// Backend pools.
    pub pools: Vec<BackendPool>,
    /// Request routing rules.
    pub rules: Vec<AppGwRule>,
}

/// A Bastion host.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bastion {
    /// Id as written.
    pub id: String,
    /// Name.
    pub name: String,
    /// `sku.name`.
    pub sku: Option<String>,
    /// `AzureBastionSubnet` id, lower-cased.
    pub subnet: Option<String>,
    /// Public IP id, lower-cased.
    pub public_ip: Option<String>,
    /// `virtualNetwork.id` (Developer SKU, no subnet), lower-cased.
    pub vnet: Option<String>,
}

/// One IP configuration of a firewall.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FirewallIpConfig {
    /// Name.
    pub name: String,
    /// Subnet id (`AzureFirewallSubnet`), lower-cased.
    pub subnet: Option<String>,
    /// Public IP id, lower-cased.
    pub public_ip: Option<String>,
    /// Private address.
    pub private_ip: Option<IpAddr>,
}

/// A classic DNAT rule (`natRuleCollections[].rules[]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FirewallNatRule {
    /// The collection's name.
    pub collection: String,
    /// The rule's name.
    pub name: String,
    /// `protocols` (`TCP`, `UDP`).
    pub protocols: Vec<String>,
    /// `sourceAddresses` (and `sourceIpGroups` ids).
    pub sources: Vec<String>,
    /// `destinationAddresses`: the firewall's public addresses.
    pub destinations: Vec<String>,
    /// `destinationPorts`.
    pub ports: Vec<String>,
    /// `translatedAddress` (or `translatedFqdn`).
    pub translated_address: Option<String>,
    /// `translatedPort`.
    pub translated_port: Option<u16>,
}

/// An Azure Firewall.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Firewall {
    /// Id as written.
    pub id: String,
    /// Name.
    pub name: String,
    /// `sku.tier`/`sku.name`.
    pub sku: Option<String>,
    /// IP configurations.
    pub ip_configs: Vec<FirewallIpConfig>,
    /// `firewallPolicy.id`, lower-cased (its DNAT rules are in the policy, not ingested).
    pub policy: Option<String>,
    /// Classic DNAT rules.
    pub nat_rules: Vec<FirewallNatRule>,
}

fn flag(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn port_of(v: Option<&Value>) -> Option<u16> {
    match v {
        Some(Value::Number(n)) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

fn ip_of(v: Option<&Value>) -> Option<IpAddr> {
    v.and_then(Value::as_str).and_then(|s| s.trim().parse().ok())
}

fn texts(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(|x| text(Some(x))).collect(),
        other => text(other).into_iter().collect(),
    }
}

/// Ids (lower-cased) of an array of `{"id": ..}` references.
fn ids(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(|x| id_of(Some(x))).collect()).unwrap_or_default()
}

fn sku(v: &Value) -> Option<String> {
    let s = v.get("sku").or_else(|| prop(v, "sku"))?;
    text(s.get("name")).or_else(|| text(s.get("tier")))
}

/// The id of a child sub-resource, lower-cased: its own `id`, else `{parent}/{collection}/{name}`.
fn child_id(v: &Value, parent: &str, collection: &str) -> String {
    match v.get("id").and_then(Value::as_str) {
        Some(id) => id.to_ascii_lowercase(),
        None => format!("{parent}/{collection}/{}", v.get("name").and_then(Value::as_str).unwrap_or_default())
            .to_ascii_lowercase(),
    }
}

fn child_name(v: &Value) -> String {
    v.get("name").and_then(Value::as_str).unwrap_or_default().to_string()
}

fn ip_config_from(ic: &Value, nic: &str) -> IpConfig {
    IpConfig {
        name: child_name(ic),
        private_ip: ip_of(prop(ic, "privateIPAddress")),
        subnet: id_of(prop(ic, "subnet")),
        asgs: ids(prop(ic, "applicationSecurityGroups")),
        primary: flag(prop(ic, "primary")),
        id: child_id(ic, nic, "ipConfigurations"),
        public_ip: id_of(prop(ic, "publicIPAddress")),
        lb_backend_pools: ids(prop(ic, "loadBalancerBackendAddressPools")),
        lb_nat_rules: ids(prop(ic, "loadBalancerInboundNatRules")),
        appgw_backend_pools: ids(prop(ic, "applicationGatewayBackendAddressPools")),
    }
}

fn route_table_from(r: &Resource, v: &Value) -> RouteTable {
    RouteTable {
        id: r.id.clone(),
        name: r.name.clone(),
        routes: array(v, "routes")
            .iter()
            .map(|rt| Route {
                name: child_name(rt),
                prefix: text(prop(rt, "addressPrefix")).unwrap_or_default(),
                next_hop_type: text(prop(rt, "nextHopType")).unwrap_or_default(),
                next_hop_ip: text(prop(rt, "nextHopIpAddress")),
            })
            .collect(),
        disable_bgp_propagation: flag(prop(v, "disableBgpRoutePropagation")),
    }
}

fn public_ip_from(r: &Resource, v: &Value) -> PublicIp {
    PublicIp {
        id: r.id.clone(),
        name: r.name.clone(),
        address: ip_of(prop(v, "ipAddress")),
        fqdn: prop(v, "dnsSettings").and_then(|d| text(d.get("fqdn"))),
        allocation: text(prop(v, "publicIPAllocationMethod")),
        sku: sku(v),
        ip_configuration: id_of(prop(v, "ipConfiguration")),
    }
}

fn frontend_from(f: &Value, parent: &str) -> Frontend {
    Frontend {
        id: child_id(f, parent, "frontendIPConfigurations"),
        name: child_name(f),
        public_ip: id_of(prop(f, "publicIPAddress")),
        private_ip: ip_of(prop(f, "privateIPAddress")),
        subnet: id_of(prop(f, "subnet")),
    }
}

fn load_balancer_from(r: &Resource, v: &Value) -> LoadBalancer {
    let parent = r.id_lower.as_str();
    let pools = array(v, "backendAddressPools")
        .iter()
        .map(|p| {
            let mut members = ids(prop(p, "backendIPConfigurations"));
            let mut addresses = Vec::new();
            for a in prop(p, "loadBalancerBackendAddresses").and_then(Value::as_array).into_iter().flatten() {
                if let Some(m) = id_of(prop(a, "networkInterfaceIPConfiguration")) {
                    members.push(m);
                } else if let Some(ip) = text(prop(a, "ipAddress")) {
                    addresses.push(ip);
                }
            }
            members.sort();
            members.dedup();
            BackendPool { id: child_id(p, parent, "backendAddressPools"), name: child_name(p), members, addresses }
        })
        .collect();
    let mut rules = Vec::new();
    for (key, kind) in [("loadBalancingRules", LbRuleKind::Balancing), ("inboundNatRules", LbRuleKind::InboundNat)] {
        for x in array(v, key) {
            let mut pools = id_of(prop(x, "backendAddressPool")).into_iter().collect::<Vec<_>>();
            pools.extend(ids(prop(x, "backendAddressPools")));
            pools.sort();
            pools.dedup();
            rules.push(LbRule {
                id: child_id(x, parent, key),
                name: child_name(x),
                kind,
                protocol: text(prop(x, "protocol")).unwrap_or_else(|| "Tcp".into()),
                frontend: id_of(prop(x, "frontendIPConfiguration")),
                frontend_port: port_of(prop(x, "frontendPort"))
                    .or_else(|| port_of(prop(x, "frontendPortRangeStart")))
                    .unwrap_or(0),
                frontend_port_end: port_of(prop(x, "frontendPortRangeEnd")),
                backend_port: port_of(prop(x, "backendPort")).unwrap_or(0),
                pools,
                target: id_of(prop(x, "backendIPConfiguration")),
            });
        }
    }
    LoadBalancer {
        id: r.id.clone(),
        name: r.name.clone(),
        sku: sku(v),
        frontends: array(v, "frontendIPConfigurations").iter().map(|f| frontend_from(f, parent)).collect(),
        pools,
        rules,
    }
}

fn app_gateway_from(r: &Resource, v: &Value) -> AppGateway {
    let parent = r.id_lower.as_str();
    let ports: HashMap<String, u16> = array(v, "frontendPorts")
        .iter()
        .filter_map(|p| Some((child_id(p, parent, "frontendPorts"), port_of(prop(p, "port"))?)))
        .collect();
    let settings: HashMap<String, (Option<u16>, Option<String>)> = array(v, "backendHttpSettingsCollection")
        .iter()
        .map(|s| {
            (
                child_id(s, parent, "backendHttpSettingsCollection"),
                (port_of(prop(s, "port")), text(prop(s, "protocol"))),
            )
        })
        .collect();
    let route = |pool: Option<String>, set: Option<String>| {
        let (port, protocol) = set.and_then(|s| settings.get(&s).cloned()).unwrap_or((None, None));
        AppGwRoute { pool, port, protocol }
    };
    let path_maps: HashMap<String, Vec<AppGwRoute>> = array(v, "urlPathMaps")
        .iter()
        .map(|m| {
            let mut targets =
                vec![route(id_of(prop(m, "defaultBackendAddressPool")), id_of(prop(m, "defaultBackendHttpSettings")))];
            for pr in prop(m, "pathRules").and_then(Value::as_array).into_iter().flatten() {
                targets.push(route(id_of(prop(pr, "backendAddressPool")), id_of(prop(pr, "backendHttpSettings"))));
            }
            targets.retain(|t| t.pool.is_some());
            (child_id(m, parent, "urlPathMaps"), targets)
        })
        .collect();
    let listeners = array(v, "httpListeners")
        .iter()
        .chain(array(v, "listeners"))
        .map(|l| {
            let mut host_names = texts(prop(l, "hostName"));
            host_names.extend(texts(prop(l, "hostNames")));
            Listener {
                id: child_id(l, parent, "httpListeners"),
                name: child_name(l),
                frontend: id_of(prop(l, "frontendIPConfiguration")),
                port: id_of(prop(l, "frontendPort")).and_then(|p| ports.get(&p).copied()),
                protocol: text(prop(l, "protocol")).unwrap_or_default(),
                host_names,
            }
        })
        .collect();
    let rules = array(v, "requestRoutingRules")
        .iter()
        .chain(array(v, "routingRules"))
        .map(|x| {
            let mut targets = Vec::new();
            if let Some(pool) = id_of(prop(x, "backendAddressPool")) {
                targets.push(route(
                    Some(pool),
                    id_of(prop(x, "backendHttpSettings")).or_else(|| id_of(prop(x, "backendSettings"))),
                ));
            }
            if let Some(m) = id_of(prop(x, "urlPathMap")).and_then(|m| path_maps.get(&m)) {
                targets.extend(m.iter().cloned());
            }
            AppGwRule {
                name: child_name(x),
                listener: id_of(prop(x, "httpListener")).or_else(|| id_of(prop(x, "listener"))),
                targets,
            }
        })
        .collect();
    let pools = array(v, "backendAddressPools")
        .iter()
        .map(|p| {
            let addresses = prop(p, "backendAddresses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|a| text(a.get("ipAddress")).or_else(|| text(a.get("fqdn"))))
                .collect();
            BackendPool {
                id: child_id(p, parent, "backendAddressPools"),
                name: child_name(p),
                members: ids(prop(p, "backendIPConfigurations")),
                addresses,
            }
        })
        .collect();
    AppGateway {
        id: r.id.clone(),
        name: r.name.clone(),
        sku: prop(v, "sku").and_then(|s| text(s.get("name")).or_else(|| text(s.get("tier")))).or_else(|| sku(v)),
        subnet: array(v, "gatewayIPConfigurations").iter().find_map(|g| id_of(prop(g, "subnet"))),
        frontends: array(v, "frontendIPConfigurations").iter().map(|f| frontend_from(f, parent)).collect(),
        listeners,
        pools,
        rules,
    }
}

fn bastion_from(r: &Resource, v: &Value) -> Bastion {
    let ipc = array(v, "ipConfigurations");
    Bastion {
        id: r.id.clone(),
        name: r.name.clone(),
        sku: sku(v),
        subnet: ipc.iter().find_map(|c| id_of(prop(c, "subnet"))),
        public_ip: ipc.iter().find_map(|c| id_of(prop(c, "publicIPAddress"))),
        vnet: id_of(prop(v, "virtualNetwork")),
    }
}

fn firewall_from(r: &Resource, v: &Value) -> Firewall {
    let mut ip_configs: Vec<FirewallIpConfig> = array(v, "ipConfigurations")
        .iter()
        .map(|c| FirewallIpConfig {
            name: child_name(c),
            subnet: id_of(prop(c, "subnet")),
            public_ip: id_of(prop(c, "publicIPAddress")),
            private_ip: ip_of(prop(c, "privateIPAddress")),
        })
        .collect();
    if let Some(m) = prop(v, "managementIpConfiguration").filter(|m| m.is_object()) {
        ip_configs.push(FirewallIpConfig {
            name: child_name(m),
            subnet: id_of(prop(m, "subnet")),
            public_ip: id_of(prop(m, "publicIPAddress")),
            private_ip: None,
        });
    }
    let mut nat_rules = Vec::new();
    for coll in array(v, "natRuleCollections") {
        for x in prop(coll, "rules").and_then(Value::as_array).into_iter().flatten() {
            let mut sources = texts(prop(x, "sourceAddresses"));
            sources.extend(ids(prop(x, "sourceIpGroups")));
            nat_rules.push(FirewallNatRule {
                collection: child_name(coll),
                name: child_name(x),
                protocols: texts(prop(x, "protocols")),
                sources,
                destinations: texts(prop(x, "destinationAddresses")),
                ports: texts(prop(x, "destinationPorts")),
                translated_address: text(prop(x, "translatedAddress")).or_else(|| text(prop(x, "translatedFqdn"))),
                translated_port: port_of(prop(x, "translatedPort")),
            });
        }
    }
    Firewall {
        id: r.id.clone(),
        name: r.name.clone(),
        sku: prop(v, "sku").and_then(|s| text(s.get("tier")).or_else(|| text(s.get("name")))).or_else(|| sku(v)),
        ip_configs,
        policy: id_of(prop(v, "firewallPolicy")),
        nat_rules,
    }
}

impl NetworkConfig {
    /// Builds the configuration from resource rows as they were at `at` (latest when `None`).
    pub fn from_resources(resources: &[Resource], at: Option<i64>) -> Self {
        let (picked, mut notes) = snapshot_at(resources, at);
        let mut c = NetworkConfig::default();
        let parsed: Vec<(&Resource, Value)> = picked
            .into_iter()
            .filter_map(|r| match serde_json::from_str::<Value>(&r.json) {
                Ok(v) => Some((r, v)),
                Err(e) => {
                    notes.push(format!("{}: unreadable JSON ({e})", r.id));
                    None
                }
            })
            .collect();
        let kind = |r: &Resource, k: &str| r.kind.eq_ignore_ascii_case(k);
        let mut standalone_rules: Vec<(&Resource, &Value)> = Vec::new();
        let mut standalone_subnets = Vec::new();
        let mut standalone_peerings = Vec::new();
        for (r, v) in &parsed {
            if kind(r, "Microsoft.Network/networkSecurityGroups") {
                let rules = rules_of(v, &r.name, &mut notes);
                c.nsgs.insert(r.id_lower.clone(), Nsg::new(&r.id, &r.name, rules, r.time));
            } else if kind(r, "Microsoft.Network/networkSecurityGroups/securityRules") {
                standalone_rules.push((r, v));
            } else if kind(r, "Microsoft.Network/virtualNetworks") {
                let mut prefixes = nets(prop(v, "addressSpace").and_then(|s| s.get("addressPrefixes")));
                prefixes.dedup();
                for s in array(v, "subnets") {
                    if let Some(id) = s.get("id").and_then(Value::as_str) {
                        c.subnets.insert(id.to_ascii_lowercase(), subnet_from(s, id));
                    }
                }
                let peerings = array(v, "virtualNetworkPeerings").iter().map(peering_from).collect();
                c.vnets.insert(r.id_lower.clone(), Vnet { id: r.id.clone(), name: r.name.clone(), prefixes, peerings });
            } else if kind(r, "Microsoft.Network/virtualNetworks/subnets") {
                standalone_subnets.push((r, v));
            } else if kind(r, "Microsoft.Network/virtualNetworks/virtualNetworkPeerings") {
                standalone_peerings.push((r, v));
            } else if kind(r, "Microsoft.Network/routeTables") {
                let routes = array(v, "routes").iter().flat_map(|rt| nets(prop(rt, "addressPrefix"))).collect();
                c.route_tables.insert(r.id_lower.clone(), routes);
                c.route_table_info.insert(r.id_lower.clone(), route_table_from(r, v));
            } else if kind(r, "Microsoft.Network/networkInterfaces") {
                let ip_configs =
                    array(v, "ipConfigurations").iter().map(|ic| ip_config_from(ic, &r.id_lower)).collect();
                c.nics.push(Nic {
                    id: r.id.clone(),
                    name: r.name.clone(),
                    ip_configs,
                    nsg: id_of(prop(v, "networkSecurityGroup")),
                    vm: id_of(prop(v, "virtualMachine")),
                    ip_forwarding: flag(prop(v, "enableIPForwarding")),
                });
            } else if kind(r, "Microsoft.Network/publicIPAddresses") {
                c.public_ips.insert(r.id_lower.clone(), public_ip_from(r, v));
            } else if kind(r, "Microsoft.Network/loadBalancers") {
                c.load_balancers.push(load_balancer_from(r, v));
            } else if kind(r, "Microsoft.Network/applicationGateways") {
                c.app_gateways.push(app_gateway_from(r, v));
            } else if kind(r, "Microsoft.Network/bastionHosts") {
                c.bastions.push(bastion_from(r, v));
            } else if kind(r, "Microsoft.Network/azureFirewalls") {
                c.firewalls.push(firewall_from(r, v));
            } else if kind(r, "Microsoft.Compute/virtualMachines") {
                let nics = prop(v, "networkProfile")
                    .and_then(|p| p.get("networkInterfaces"))
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|x| id_of(Some(x))).collect())
                    .unwrap_or_default();
                c.vms.push(Vm { id: r.id.clone(), name: r.name.clone(), nics });
            }
        }
        // Children listed on their own replace the copy nested in their parent.
        for (r, v) in standalone_subnets {
            c.subnets.insert(r.id_lower.clone(), subnet_from(v, &r.id));
        }
        for (r, v) in standalone_peerings {
            if let Some(vnet) = c.vnets.get_mut(parent(&r.id_lower)) {
                let new = peering_from(v);
                vnet.peerings.retain(|p| p.remote.is_none() || p.remote != new.remote);
                vnet.peerings.push(new);
            }
        }
        for (r, v) in standalone_rules {
            let nsg_id = parent(&r.id_lower).to_string();
            let rule = match parse_rule(v, RuleSet::Custom) {
                Ok(rule) => rule,
                Err(e) => {
                    notes.push(format!("{}: {e} (rule left out)", r.id));
                    continue;
                }
            };
            let nsg = c.nsgs.entry(nsg_id.clone()).or_insert_with(|| {
                let id = r.id.get(..nsg_id.len()).unwrap_or(&nsg_id);
                Nsg::new(id, id.rsplit('/').next().unwrap_or_default(), Vec::new(), r.time)
            });
            nsg.rules.retain(|x| !(x.set == RuleSet::Custom && x.name.eq_ignore_ascii_case(&rule.name)));
            nsg.rules.push(rule);
            nsg.rules.sort_by_key(|r| (r.direction, r.priority, r.set == RuleSet::Default));
        }
        c.nics.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        c.vms.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        c.load_balancers.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        c.app_gateways.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        c.bastions.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        c.firewalls.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        c.notes = notes;
        c
    }

    /// The VNet a subnet belongs to.
    pub fn vnet_of_subnet(&self, subnet: &str) -> Option<&Vnet> {
        self.vnets.get(parent(subnet))
    }

    /// `VirtualNetwork` as seen from a subnet: the VNet's address spaces, the spaces of its
    /// connected peerings (as recorded on the peering, and of the remote VNet when known), the
    /// prefixes of the subnet's user-defined routes, and the host virtual IP.
    pub fn address_context(&self, subnet: Option<&str>, tags: &ServiceTags) -> AddressContext {
        let mut vn: Vec<IpNet> = vec![IpNet::from(IpAddr::V4(AZURE_HOST_IP))];
        if let Some(sub) = subnet {
            if let Some(vnet) = self.vnet_of_subnet(sub) {
                vn.extend(&vnet.prefixes);
                for p in &vnet.peerings {
                    if p.state.as_deref().is_some_and(|s| !s.eq_ignore_ascii_case("Connected")) {
                        continue;
                    }
                    vn.extend(&p.remote_prefixes);
                    if let Some(remote) = p.remote.as_deref().and_then(|r| self.vnets.get(r)) {
                        vn.extend(&remote.prefixes);
                    }
                }
            } else if let Some(s) = self.subnets.get(sub) {
                // Subnet known, VNet not: its own prefixes at least.
                vn.extend(&s.prefixes);
            }
            if let Some(routes) =
                self.subnets.get(sub).and_then(|s| s.route_table.as_deref()).and_then(|rt| self.route_tables.get(rt))
            {
                vn.extend(routes);
            }
        }
        vn.sort();
        vn.dedup();
        AddressContext { virtual_network: vn, tags: tags.clone() }
    }

    /// ASG ids (lower-cased) of every NIC IP configuration holding `ip`.
    pub fn asgs_of(&self, ip: IpAddr) -> Vec<String> {
        let mut out: Vec<String> = self
            .nics
            .iter()
            .flat_map(|n| &n.ip_configs)
            .filter(|c| c.private_ip == Some(ip))
            .flat_map(|c| c.asgs.iter().cloned())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn res(kind: &str, id: &str, time: Option<i64>, json: Value) -> Resource {
        Resource {
            time,
            id: id.into(),
            id_lower: id.to_ascii_lowercase(),
            kind: kind.into(),
            name: id.rsplit('/').next().unwrap().into(),
            json: json.to_string(),
            ..Resource::default()
        }
    }

    #[test]
    fn snapshots_are_picked_by_time() {
        let id = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/networkSecurityGroups/n";
        let k = "Microsoft.Network/networkSecurityGroups";
        let rs = vec![
            res(k, id, Some(100), serde_json::json!({"properties":{"securityRules":[]}})),
            res(
                k,
                id,
                Some(200),
                serde_json::json!({"properties":{"securityRules":[{"name":"late","properties":{"priority":100,"direction":"Inbound","access":"Allow","protocol":"*"}}]}}),
            ),
        ];
        let n = |at| NetworkConfig::from_resources(&rs, at).nsgs.values().next().unwrap().rules.len();
        assert_eq!(n(None), 7);
        assert_eq!(n(Some(150)), 6);
        assert_eq!(n(Some(200)), 7);
        let c = NetworkConfig::from_resources(&rs, Some(50));
        assert_eq!(c.nsgs.len(), 1);
        assert!(c.notes[0].contains("after the requested time"), "{:?}", c.notes);
    }

    #[test]
    fn hostile_resources_never_panic_and_are_noted() {
        let k = |t: &str| format!("Microsoft.Network/{t}");
        let mut bad_id = res(
            &k("networkSecurityGroups/securityRules"),
            "/é/ü/securityRules/r",
            None,
            serde_json::json!({"name": "r", "priority": 100, "direction": "Inbound", "access": "Deny"}),
        );
        bad_id.id_lower = "/x/securityrules/r".into();
        let rs = vec![
            res(&k("networkSecurityGroups"), "/a/n1", None, serde_json::json!([1, 2])),
            res(
                &k("networkSecurityGroups"),
                "/a/n2",
                None,
                serde_json::json!({"properties": {"securityRules": [1, "x", {"name": 5}, {"name": "r", "properties": {"priority": "high"}}]}}),
            ),
            res(
                &k("networkInterfaces"),
                "/a/nic",
                None,
                serde_json::json!({"properties": {"ipConfigurations": [{"properties": {"privateIPAddress": 10, "subnet": "x"}}, null]}}),
            ),
            res(
                &k("virtualNetworks"),
                "/a/v",
                None,
                serde_json::json!({"properties": {"addressSpace": {"addressPrefixes": ["x", 3, "10.0.0.0/99"]}, "subnets": [{"id": 7}], "virtualNetworkPeerings": "no"}}),
            ),
            res(
                "Microsoft.Compute/virtualMachines",
                "/a/vm",
                None,
                serde_json::json!({"properties": {"networkProfile": 1}}),
            ),
            bad_id,
            Resource { json: "{not json".into(), ..res(&k("routeTables"), "/a/rt", None, serde_json::json!({})) },
        ];
        let c = NetworkConfig::from_resources(&rs, Some(0));
        assert!(c.notes.iter().any(|n| n.contains("unreadable JSON")), "{:?}", c.notes);
        assert!(c.notes.iter().any(|n| n.contains("no readable priority")), "{:?}", c.notes);
        assert_eq!(c.nics[0].ip_configs[0].private_ip, None);
        assert!(c.vnets.values().next().unwrap().prefixes.is_empty());
        assert_eq!(c.nsgs.len(), 3, "n1, n2 and the rule's parent");
    }

    #[test]
    fn parent_ids() {
        assert_eq!(parent("/s/x/providers/m/virtualnetworks/v/subnets/a"), "/s/x/providers/m/virtualnetworks/v");
        assert_eq!(parent("x"), "");
    }
}
