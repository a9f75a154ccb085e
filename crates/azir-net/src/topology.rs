//! The network drawn from the case's configuration, the way Network Watcher's topology draws it:
//! subscriptions → VNets (address spaces) → subnets (prefixes, NSG, route table) → NICs (private
//! and public IPs, NSG, ASGs, IP forwarding) → VMs, with VNet peerings, public IPs and what they
//! are attached to, load balancers, application gateways, Bastion hosts, firewalls, route tables
//! and NSGs.
//!
//! # Model
//!
//! [`Topology::build`] reads a [`NetworkConfig`] (the configuration at one instant, see
//! [`crate::nsg::config`]) — the same parse `nsg verify` uses, so every input shape the ingest
//! accepts (ARM REST, `az … list` with flattened properties, Resource Graph) is drawn alike.
//! Everything is sorted by name then id, so the same case gives the same bytes. A NIC whose
//! subnet is not in the case is listed in `unplaced_nics`; a public IP's attachment comes from
//! its `ipConfiguration` and, when the export left that out, from whatever references it (NIC IP
//! configuration, load balancer or gateway frontend, Bastion, firewall).
//!
//! # Renderers
//!
//! [`to_json`] (serde, the model as is), [`to_dot`] (Graphviz: clusters for subscriptions, VNets
//! and subnets), [`to_mermaid`] (a `flowchart LR` with nested subgraphs) and [`to_svg`], laid out
//! here without Graphviz: public IPs in a band at the top, load balancers below them, then one
//! box per VNet holding its subnets side by side (four per row), each subnet holding its NICs and
//! gateways; public IPs are joined to what they front, load balancers to their backends, and
//! peerings are drawn on the right with their state.
//!
//! Names come from hostile input. DOT strings escape `\` and `"`, Mermaid labels encode every
//! character outside a small safe set as `#NNN;`, and the SVG escapes `& < > " '` and drops
//! characters XML cannot hold. The SVG is made for an HTML report under a strict
//! Content-Security-Policy: no `<script>`, no `style` attribute or element (presentation
//! attributes and `class` names only), no external reference (no `href`, no fonts, no images),
//! and a `<title>` child on every node for the full text that the box may cut.

use crate::nsg::config::{Frontend, LbRuleKind, NetworkConfig, Nic};
use azir_model::Resource;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// A reference to a resource: its id (as written) and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ref {
    /// Resource id.
    pub id: String,
    /// Name.
    pub name: String,
}

/// The network at one instant.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Topology {
    /// Subscriptions holding VNets, by id.
    pub subscriptions: Vec<Subscription>,
    /// VNet peerings, one per direction as ARM lists them.
    pub peerings: Vec<PeeringEdge>,
    /// Public IP addresses and what they are attached to.
    pub public_ips: Vec<PublicIpNode>,
    /// Load balancers.
    pub load_balancers: Vec<LoadBalancerNode>,
    /// Application gateways.
    pub application_gateways: Vec<AppGatewayNode>,
    /// Bastion hosts.
    pub bastions: Vec<BastionNode>,
    /// Azure Firewalls.
    pub firewalls: Vec<FirewallNode>,
    /// Route tables and the subnets using them.
    pub route_tables: Vec<RouteTableNode>,
    /// NSGs and where they are applied.
    pub nsgs: Vec<NsgNode>,
    /// NICs whose subnet is not in the case.
    pub unplaced_nics: Vec<NicNode>,
    /// VMs with no NIC in the case.
    pub vms_without_nic: Vec<Ref>,
    /// What the drawing rests on (snapshots later than asked, unreadable resources).
    pub notes: Vec<String>,
}

/// A subscription.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Subscription {
    /// Subscription id (lower-cased).
    pub id: String,
    /// Its VNets.
    pub vnets: Vec<VnetNode>,
}

/// A VNet.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VnetNode {
    /// Resource id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Address spaces.
    pub address_space: Vec<String>,
    /// Subnets.
    pub subnets: Vec<SubnetNode>,
}

/// A subnet.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SubnetNode {
    /// Resource id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Address prefixes.
    pub prefixes: Vec<String>,
    /// NSG applied to the subnet.
    pub nsg: Option<Ref>,
    /// Route table associated with the subnet.
    pub route_table: Option<Ref>,
    /// NICs in the subnet.
    pub nics: Vec<NicNode>,
    /// Gateways placed in the subnet: application gateways, Bastion hosts, firewalls, internal
    /// load balancer frontends.
    pub services: Vec<ServiceRef>,
}

/// A gateway or appliance placed in a subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceRef {
    /// `application-gateway`, `bastion`, `firewall` or `load-balancer`.
    pub kind: &'static str,
    /// Resource id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Private addresses it holds in the subnet.
    pub private_ips: Vec<String>,
}

/// A NIC.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NicNode {
    /// Resource id.
    pub id: String,
    /// Name.
    pub name: String,
    /// The VM it is attached to.
    pub vm: Option<Ref>,
    /// IP configurations.
    pub ip_configs: Vec<NicIpNode>,
    /// NSG applied to the NIC.
    pub nsg: Option<Ref>,
    /// ASG names of its IP configurations.
    pub asgs: Vec<String>,
    /// IP forwarding enabled.
    pub ip_forwarding: bool,
}

/// One IP configuration of a NIC.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NicIpNode {
    /// Name.
    pub name: String,
    /// Private address.
    pub private_ip: Option<String>,
    /// Public IP attached (name and address).
    pub public_ip: Option<String>,
    /// Primary configuration.
    pub primary: bool,
}

/// A VNet peering.
#[derive(Debug, Clone, Serialize)]
pub struct PeeringEdge {
    /// The peering's name.
    pub name: String,
    /// Local VNet id.
    pub vnet: String,
    /// Local VNet name.
    pub vnet_name: String,
    /// Remote VNet id (lower-cased).
    pub remote: String,
    /// Remote VNet name.
    pub remote_name: String,
    /// `peeringState`.
    pub state: Option<String>,
}

/// A public IP address.
#[derive(Debug, Clone, Serialize)]
pub struct PublicIpNode {
    /// Resource id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Address (none while a dynamic address is unallocated).
    pub address: Option<String>,
    /// DNS name.
    pub fqdn: Option<String>,
    /// What it is attached to: `nic`, `load-balancer`, `application-gateway`, `bastion`,
    /// `firewall`, `other` or `unattached`.
    pub attached_kind: &'static str,
    /// The attached resource's id (the NIC, load balancer, gateway, …), when known.
    pub attached_id: Option<String>,
    /// The attached resource's name (with the IP configuration or frontend), when known.
    pub attached_name: Option<String>,
}

/// A frontend IP configuration.
#[derive(Debug, Clone, Serialize)]
pub struct FrontendNode {
    /// Name.
    pub name: String,
    /// Public IP name and address.
    pub public_ip: Option<String>,
    /// Private address.
    pub private_ip: Option<String>,
    /// Subnet id (internal frontend).
    pub subnet: Option<String>,
}

/// A backend pool.
#[derive(Debug, Clone, Serialize)]
pub struct PoolNode {
    /// Name.
    pub name: String,
    /// Member NICs (`nic/ipconfig`, or the configuration id when the NIC is not in the case).
    pub members: Vec<String>,
    /// Member addresses or FQDNs given directly.
    pub addresses: Vec<String>,
}

/// A load-balancing or inbound NAT rule.
#[derive(Debug, Clone, Serialize)]
pub struct LbRuleNode {
    /// Name.
    pub name: String,
    /// Balancing or inbound NAT.
    pub kind: LbRuleKind,
    /// Protocol.
    pub protocol: String,
    /// Frontend name.
    pub frontend: Option<String>,
    /// Frontend port(s) (`*` for HA ports).
    pub frontend_ports: String,
    /// Backend port (`*` for HA ports).
    pub backend_port: String,
    /// Backend pool names.
    pub pools: Vec<String>,
    /// NAT target (`nic/ipconfig`).
    pub target: Option<String>,
}

/// A load balancer.
#[derive(Debug, Clone, Serialize)]
pub struct LoadBalancerNode {
    /// Resource id.
    pub id: String,
    /// Name.
    pub name: String,
    /// SKU.
    pub sku: Option<String>,
    /// Frontends.
    pub frontends: Vec<FrontendNode>,
    /// Backend pools.
    pub pools: Vec<PoolNode>,
    /// Rules and inbound NAT rules.
    pub rules: Vec<LbRuleNode>,
}

/// An application gateway listener.
#[derive(Debug, Clone, Serialize)]
pub struct ListenerNode {
    /// Name.
    pub name: String,
    /// Frontend name.
    pub frontend: Option<String>,
    /// Port.
    pub port: Option<u16>,
    /// Protocol.
    pub protocol: String,
    /// Host names.
    pub host_names: Vec<String>,
}

/// Where a listener's requests go.
#[derive(Debug, Clone, Serialize)]
pub struct AppGwRouteNode {
    /// Routing rule name.
    pub rule: String,
    /// Listener name.
    pub listener: Option<String>,
    /// Backend pool name.
    pub pool: Option<String>,
    /// Backend port.
    pub port: Option<u16>,
}

/// An application gateway.
#[derive(Debug, Clone, Serialize)]
pub struct AppGatewayNode {
    /// Resource id.
    pub id: String,
    /// Name.
    pub name: String,
    /// SKU.
    pub sku: Option<String>,
    /// Gateway subnet id.
    pub subnet: Option<String>,
    /// Frontends.
    pub frontends: Vec<FrontendNode>,
    /// Listeners.
    pub listeners: Vec<ListenerNode>,
    /// Backend pools.
    pub pools: Vec<PoolNode>,
    /// Routing: listener → pool:port.
    pub routes: Vec<AppGwRouteNode>,
}

/// A Bastion host.
#[derive(Debug, Clone, Serialize)]
pub struct BastionNode {
    /// Resource id.
    pub id: String,
    /// Name.
    pub name: String,
    /// SKU.
    pub sku: Option<String>,
    /// Subnet id.
    pub subnet: Option<String>,
    /// Public IP name and address.
    pub public_ip: Option<String>,
}

/// An Azure Firewall.
#[derive(Debug, Clone, Serialize)]
pub struct FirewallNode {
    /// Resource id.
    pub id: String,
    /// Name.
    pub name: String,
    /// SKU.
    pub sku: Option<String>,
    /// Subnet id.
    pub subnet: Option<String>,
    /// Private addresses.
    pub private_ips: Vec<String>,
    /// Public IP names and addresses.
    pub public_ips: Vec<String>,
    /// Firewall policy id.
    pub policy: Option<String>,
    /// Classic DNAT rules, one line each.
    pub dnat_rules: Vec<String>,
}

/// A route of a route table.
#[derive(Debug, Clone, Serialize)]
pub struct RouteNode {
    /// Name.
    pub name: String,
    /// Address prefix.
    pub prefix: String,
    /// Next hop type (and address).
    pub next_hop: String,
}

/// A route table.
#[derive(Debug, Clone, Serialize)]
pub struct RouteTableNode {
    /// Resource id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Routes.
    pub routes: Vec<RouteNode>,
    /// Subnet ids associated with it.
    pub subnets: Vec<String>,
}

/// An NSG and where it is applied.
#[derive(Debug, Clone, Serialize)]
pub struct NsgNode {
    /// Resource id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Custom rules.
    pub custom_rules: usize,
    /// Subnet ids it is applied to.
    pub subnets: Vec<String>,
    /// NIC ids it is applied to.
    pub nics: Vec<String>,
}

fn last(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// The parent of a child id (`…/loadBalancers/lb/frontendIPConfigurations/fe` → `…/loadBalancers/lb`).
fn parent(id: &str) -> &str {
    let mut cut = id;
    for _ in 0..2 {
        cut = cut.rsplit_once('/').map_or("", |(a, _)| a);
    }
    cut
}

fn subscription_of(id: &str) -> String {
    let mut parts = id.split('/');
    while let Some(p) = parts.next() {
        if p.eq_ignore_ascii_case("subscriptions") {
            return parts.next().unwrap_or_default().to_ascii_lowercase();
        }
    }
    String::new()
}

/// Ids and names of the case's resources, for references by lower-cased id.
struct Names<'a> {
    config: &'a NetworkConfig,
    nic_of_ipconfig: HashMap<String, (&'a Nic, &'a str)>,
}

impl<'a> Names<'a> {
    fn new(config: &'a NetworkConfig) -> Self {
        let mut nic_of_ipconfig = HashMap::new();
        for n in &config.nics {
            for c in &n.ip_configs {
                nic_of_ipconfig.insert(c.id.clone(), (n, c.name.as_str()));
            }
        }
        Names { config, nic_of_ipconfig }
    }

    fn nsg(&self, id: &str) -> Ref {
        let (id_w, name) = match self.config.nsgs.get(id) {
            Some(n) => (n.id.clone(), n.name.clone()),
            None => (id.to_string(), last(id).to_string()),
        };
        Ref { id: id_w, name }
    }

    fn route_table(&self, id: &str) -> Ref {
        match self.config.route_table_info.get(id) {
            Some(r) => Ref { id: r.id.clone(), name: r.name.clone() },
            None => Ref { id: id.to_string(), name: last(id).to_string() },
        }
    }

    fn vm(&self, id: &str) -> Ref {
        match self.config.vms.iter().find(|v| v.id.eq_ignore_ascii_case(id)) {
            Some(v) => Ref { id: v.id.clone(), name: v.name.clone() },
            None => Ref { id: id.to_string(), name: last(id).to_string() },
        }
    }

    fn public_ip(&self, id: &str) -> String {
        match self.config.public_ips.get(id) {
            Some(p) => match p.address {
                Some(a) => format!("{} {a}", p.name),
                None => p.name.clone(),
            },
            None => last(id).to_string(),
        }
    }

    fn ipconfig(&self, id: &str) -> String {
        match self.nic_of_ipconfig.get(id) {
            Some((n, c)) => format!("{}/{c}", n.name),
            None => id.to_string(),
        }
    }
}

fn frontend_node(f: &Frontend, names: &Names) -> FrontendNode {
    FrontendNode {
        name: f.name.clone(),
        public_ip: f.public_ip.as_deref().map(|p| names.public_ip(p)),
        private_ip: f.private_ip.map(|i| i.to_string()),
        subnet: f.subnet.clone(),
    }
}

fn sort_refs<T>(v: &mut [T], key: impl Fn(&T) -> (&str, &str)) {
    v.sort_by(|a, b| key(a).cmp(&key(b)));
}

impl Topology {
    /// The topology of the resources as they were at `at` (the latest snapshots when `None`).
    pub fn from_resources(resources: &[Resource], at: Option<i64>) -> Topology {
        Topology::build(&NetworkConfig::from_resources(resources, at))
    }

    /// The topology of a configuration.
    pub fn build(config: &NetworkConfig) -> Topology {
        let names = Names::new(config);
        let mut t = Topology { notes: config.notes.clone(), ..Topology::default() };

        // NICs by subnet.
        let mut nics_by_subnet: BTreeMap<String, Vec<NicNode>> = BTreeMap::new();
        for n in &config.nics {
            let node = NicNode {
                id: n.id.clone(),
                name: n.name.clone(),
                vm: n.vm.as_deref().map(|v| names.vm(v)).or_else(|| {
                    config
                        .vms
                        .iter()
                        .find(|v| v.nics.iter().any(|x| x.eq_ignore_ascii_case(&n.id)))
                        .map(|v| Ref { id: v.id.clone(), name: v.name.clone() })
                }),
                ip_configs: n
                    .ip_configs
                    .iter()
                    .map(|c| NicIpNode {
                        name: c.name.clone(),
                        private_ip: c.private_ip.map(|i| i.to_string()),
                        public_ip: c.public_ip.as_deref().map(|p| names.public_ip(p)),
                        primary: c.primary,
                    })
                    .collect(),
                nsg: n.nsg.as_deref().map(|i| names.nsg(i)),
                asgs: {
                    let mut a: Vec<String> =
                        n.ip_configs.iter().flat_map(|c| c.asgs.iter().map(|x| last(x).to_string())).collect();
                    a.sort();
                    a.dedup();
                    a
                },
                ip_forwarding: n.ip_forwarding,
            };
            match n.ip_configs.iter().find_map(|c| c.subnet.clone()).filter(|s| config.subnets.contains_key(s)) {
                Some(s) => nics_by_subnet.entry(s).or_default().push(node),
                None => t.unplaced_nics.push(node),
            }
        }

        // Gateways by subnet.
        let mut services: BTreeMap<String, Vec<ServiceRef>> = BTreeMap::new();
        let mut place = |subnet: Option<&String>, kind: &'static str, id: &str, name: &str, ips: Vec<String>| {
            if let Some(s) = subnet {
                services.entry(s.clone()).or_default().push(ServiceRef {
                    kind,
                    id: id.to_string(),
                    name: name.to_string(),
                    private_ips: ips,
                });
            }
        };
        for g in &config.app_gateways {
            let ips = g.frontends.iter().filter_map(|f| f.private_ip.map(|i| i.to_string())).collect();
            place(g.subnet.as_ref(), "application-gateway", &g.id, &g.name, ips);
        }
        for b in &config.bastions {
            place(b.subnet.as_ref(), "bastion", &b.id, &b.name, Vec::new());
        }
        for f in &config.firewalls {
            let ips = f.ip_configs.iter().filter_map(|c| c.private_ip.map(|i| i.to_string())).collect();
            place(f.ip_configs.iter().find_map(|c| c.subnet.as_ref()), "firewall", &f.id, &f.name, ips);
        }
        for lb in &config.load_balancers {
            for fe in lb.frontends.iter().filter(|f| f.subnet.is_some()) {
                let ips = fe.private_ip.map(|i| i.to_string()).into_iter().collect();
                place(fe.subnet.as_ref(), "load-balancer", &lb.id, &format!("{}/{}", lb.name, fe.name), ips);
            }
        }

        // Subscriptions → VNets → subnets.
        let mut subs: BTreeMap<String, Vec<VnetNode>> = BTreeMap::new();
        let mut vnet_ids: Vec<&String> = config.vnets.keys().collect();
        vnet_ids.sort_by_key(|k| (&config.vnets[*k].name, *k));
        for key in vnet_ids {
            let v = &config.vnets[key];
            let mut subnets: Vec<SubnetNode> = config
                .subnets
                .iter()
                .filter(|(sid, _)| parent(sid) == key.as_str())
                .map(|(sid, s)| {
                    let mut nics = nics_by_subnet.remove(sid).unwrap_or_default();
                    sort_refs(&mut nics, |n| (n.name.as_str(), n.id.as_str()));
                    let mut svc = services.remove(sid).unwrap_or_default();
                    sort_refs(&mut svc, |x| (x.name.as_str(), x.id.as_str()));
                    SubnetNode {
                        id: s.id.clone(),
                        name: s.name.clone(),
                        prefixes: s.prefixes.iter().map(|p| p.to_string()).collect(),
                        nsg: s.nsg.as_deref().map(|i| names.nsg(i)),
                        route_table: s.route_table.as_deref().map(|i| names.route_table(i)),
                        nics,
                        services: svc,
                    }
                })
                .collect();
            sort_refs(&mut subnets, |s| (s.name.as_str(), s.id.as_str()));
            for p in &v.peerings {
                let remote = p.remote.clone().unwrap_or_default();
                t.peerings.push(PeeringEdge {
                    name: p.name.clone(),
                    vnet: v.id.clone(),
                    vnet_name: v.name.clone(),
                    remote_name: config
                        .vnets
                        .get(&remote)
                        .map_or_else(|| last(&remote).to_string(), |r| r.name.clone()),
                    remote,
                    state: p.state.clone(),
                });
            }
            subs.entry(subscription_of(&v.id)).or_default().push(VnetNode {
                id: v.id.clone(),
                name: v.name.clone(),
                address_space: v.prefixes.iter().map(|p| p.to_string()).collect(),
                subnets,
            });
        }
        // Subnets known without their VNet: a VNet of their own, named from the id.
        let mut orphan: BTreeMap<String, Vec<SubnetNode>> = BTreeMap::new();
        let mut orphan_ids: Vec<&String> =
            config.subnets.keys().filter(|s| !config.vnets.contains_key(parent(s))).collect();
        orphan_ids.sort();
        for sid in orphan_ids {
            let s = &config.subnets[sid];
            let mut nics = nics_by_subnet.remove(sid).unwrap_or_default();
            sort_refs(&mut nics, |n| (n.name.as_str(), n.id.as_str()));
            orphan.entry(parent(&s.id).to_string()).or_default().push(SubnetNode {
                id: s.id.clone(),
                name: s.name.clone(),
                prefixes: s.prefixes.iter().map(|p| p.to_string()).collect(),
                nsg: s.nsg.as_deref().map(|i| names.nsg(i)),
                route_table: s.route_table.as_deref().map(|i| names.route_table(i)),
                nics,
                services: services.remove(sid).unwrap_or_default(),
            });
        }
        for (vid, subnets) in orphan {
            t.notes.push(format!("VNet {} is not in the case: drawn from its subnets", last(&vid)));
            subs.entry(subscription_of(&vid)).or_default().push(VnetNode {
                id: vid.clone(),
                name: last(&vid).to_string(),
                address_space: Vec::new(),
                subnets,
            });
        }
        t.subscriptions = subs.into_iter().map(|(id, vnets)| Subscription { id, vnets }).collect();
        sort_refs(&mut t.unplaced_nics, |n| (n.name.as_str(), n.id.as_str()));

        // Public IPs.
        let mut pips: Vec<&crate::nsg::config::PublicIp> = config.public_ips.values().collect();
        pips.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        for p in pips {
            let key = p.id.to_ascii_lowercase();
            let attached = p.ip_configuration.clone().or_else(|| referrer(config, &key));
            let (kind, id, name) = match attached.as_deref() {
                None => ("unattached", None, None),
                Some(a) => {
                    let owner = parent(a);
                    let kind = if owner.contains("/microsoft.network/networkinterfaces/") {
                        "nic"
                    } else if owner.contains("/microsoft.network/loadbalancers/") {
                        "load-balancer"
                    } else if owner.contains("/microsoft.network/applicationgateways/") {
                        "application-gateway"
                    } else if owner.contains("/microsoft.network/bastionhosts/") {
                        "bastion"
                    } else if owner.contains("/microsoft.network/azurefirewalls/") {
                        "firewall"
                    } else {
                        "other"
                    };
                    let name = if kind == "nic" { names.ipconfig(a) } else { format!("{}/{}", last(owner), last(a)) };
                    let id = if kind == "nic" {
                        names.nic_of_ipconfig.get(a).map_or_else(|| owner.to_string(), |(n, _)| n.id.clone())
                    } else {
                        resource_id_as_written(config, owner)
                    };
                    (kind, Some(id), Some(name))
                }
            };
            t.public_ips.push(PublicIpNode {
                id: p.id.clone(),
                name: p.name.clone(),
                address: p.address.map(|a| a.to_string()),
                fqdn: p.fqdn.clone(),
                attached_kind: kind,
                attached_id: id,
                attached_name: name,
            });
        }

        // Load balancers.
        for lb in &config.load_balancers {
            let fe_name = |id: &Option<String>| {
                id.as_deref().map(|i| lb.frontends.iter().find(|f| f.id == i).map_or(last(i), |f| &f.name).to_string())
            };
            let pool_name = |id: &str| lb.pools.iter().find(|p| p.id == id).map_or(last(id), |p| &p.name).to_string();
            t.load_balancers.push(LoadBalancerNode {
                id: lb.id.clone(),
                name: lb.name.clone(),
                sku: lb.sku.clone(),
                frontends: lb.frontends.iter().map(|f| frontend_node(f, &names)).collect(),
                pools: lb
                    .pools
                    .iter()
                    .map(|p| PoolNode {
                        name: p.name.clone(),
                        members: with_addresses(config, lb_pool_members(config, &p.id, &p.members), &p.addresses)
                            .iter()
                            .map(|m| names.ipconfig(m))
                            .collect(),
                        addresses: p.addresses.clone(),
                    })
                    .collect(),
                rules: lb
                    .rules
                    .iter()
                    .map(|r| {
                        let ha = r.frontend_port == 0 && r.kind == LbRuleKind::Balancing;
                        LbRuleNode {
                            name: r.name.clone(),
                            kind: r.kind,
                            protocol: r.protocol.clone(),
                            frontend: fe_name(&r.frontend),
                            frontend_ports: match (ha, r.frontend_port_end) {
                                (true, _) => "*".into(),
                                (false, Some(e)) if e != r.frontend_port => format!("{}-{e}", r.frontend_port),
                                _ => r.frontend_port.to_string(),
                            },
                            backend_port: if ha { "*".into() } else { r.backend_port.to_string() },
                            pools: r.pools.iter().map(|p| pool_name(p)).collect(),
                            target: nat_target(config, r).map(|m| names.ipconfig(&m)),
                        }
                    })
                    .collect(),
            });
        }

        // Application gateways.
        for g in &config.app_gateways {
            let pool_name = |id: &str| g.pools.iter().find(|p| p.id == id).map_or(last(id), |p| &p.name).to_string();
            let mut routes = Vec::new();
            for r in &g.rules {
                let listener = r
                    .listener
                    .as_deref()
                    .map(|l| g.listeners.iter().find(|x| x.id == l).map_or(last(l), |x| &x.name).to_string());
                for tg in &r.targets {
                    routes.push(AppGwRouteNode {
                        rule: r.name.clone(),
                        listener: listener.clone(),
                        pool: tg.pool.as_deref().map(pool_name),
                        port: tg.port,
                    });
                }
            }
            t.application_gateways.push(AppGatewayNode {
                id: g.id.clone(),
                name: g.name.clone(),
                sku: g.sku.clone(),
                subnet: g.subnet.clone(),
                frontends: g.frontends.iter().map(|f| frontend_node(f, &names)).collect(),
                listeners: g
                    .listeners
                    .iter()
                    .map(|l| ListenerNode {
                        name: l.name.clone(),
                        frontend: l
                            .frontend
                            .as_deref()
                            .map(|f| g.frontends.iter().find(|x| x.id == f).map_or(last(f), |x| &x.name).to_string()),
                        port: l.port,
                        protocol: l.protocol.clone(),
                        host_names: l.host_names.clone(),
                    })
                    .collect(),
                pools: g
                    .pools
                    .iter()
                    .map(|p| PoolNode {
                        name: p.name.clone(),
                        members: with_addresses(config, appgw_pool_members(config, &p.id, &p.members), &p.addresses)
                            .iter()
                            .map(|m| names.ipconfig(m))
                            .collect(),
                        addresses: p.addresses.clone(),
                    })
                    .collect(),
                routes,
            });
        }

        for b in &config.bastions {
            t.bastions.push(BastionNode {
                id: b.id.clone(),
                name: b.name.clone(),
                sku: b.sku.clone(),
                subnet: b.subnet.clone(),
                public_ip: b.public_ip.as_deref().map(|p| names.public_ip(p)),
            });
        }
        for f in &config.firewalls {
            t.firewalls.push(FirewallNode {
                id: f.id.clone(),
                name: f.name.clone(),
                sku: f.sku.clone(),
                subnet: f.ip_configs.iter().find_map(|c| c.subnet.clone()),
                private_ips: f.ip_configs.iter().filter_map(|c| c.private_ip.map(|i| i.to_string())).collect(),
                public_ips: f
                    .ip_configs
                    .iter()
                    .filter_map(|c| c.public_ip.as_deref())
                    .map(|p| names.public_ip(p))
                    .collect(),
                policy: f.policy.clone(),
                dnat_rules: f
                    .nat_rules
                    .iter()
                    .map(|r| {
                        format!(
                            "{}/{}: {} {}:{} from {} -> {}:{}",
                            r.collection,
                            r.name,
                            r.protocols.join(","),
                            r.destinations.join(","),
                            r.ports.join(","),
                            if r.sources.is_empty() { "*".to_string() } else { r.sources.join(",") },
                            r.translated_address.as_deref().unwrap_or("?"),
                            r.translated_port.map_or_else(|| "?".to_string(), |p| p.to_string())
                        )
                    })
                    .collect(),
            });
        }

        // Route tables and NSGs with where they are used.
        let mut rts: Vec<_> = config.route_table_info.iter().collect();
        rts.sort_by(|a, b| a.1.name.cmp(&b.1.name).then(a.0.cmp(b.0)));
        for (key, rt) in rts {
            let mut subnets: Vec<String> = config
                .subnets
                .values()
                .filter(|s| s.route_table.as_deref() == Some(key.as_str()))
                .map(|s| s.id.clone())
                .collect();
            subnets.sort();
            t.route_tables.push(RouteTableNode {
                id: rt.id.clone(),
                name: rt.name.clone(),
                routes: rt
                    .routes
                    .iter()
                    .map(|r| RouteNode {
                        name: r.name.clone(),
                        prefix: r.prefix.clone(),
                        next_hop: match &r.next_hop_ip {
                            Some(ip) => format!("{} {ip}", r.next_hop_type),
                            None => r.next_hop_type.clone(),
                        },
                    })
                    .collect(),
                subnets,
            });
        }
        let mut nsgs: Vec<_> = config.nsgs.iter().collect();
        nsgs.sort_by(|a, b| a.1.name.cmp(&b.1.name).then(a.0.cmp(b.0)));
        for (key, n) in nsgs {
            let mut subnets: Vec<String> = config
                .subnets
                .values()
                .filter(|s| s.nsg.as_deref() == Some(key.as_str()))
                .map(|s| s.id.clone())
                .collect();
            subnets.sort();
            let nics =
                config.nics.iter().filter(|x| x.nsg.as_deref() == Some(key.as_str())).map(|x| x.id.clone()).collect();
            t.nsgs.push(NsgNode {
                id: n.id.clone(),
                name: n.name.clone(),
                custom_rules: n.rules.iter().filter(|r| r.set == crate::nsg::RuleSet::Custom).count(),
                subnets,
                nics,
            });
        }
        for v in &config.vms {
            let has_nic = config.nics.iter().any(|n| {
                n.vm.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(&v.id))
                    || v.nics.iter().any(|x| x.eq_ignore_ascii_case(&n.id))
            });
            if !has_nic {
                t.vms_without_nic.push(Ref { id: v.id.clone(), name: v.name.clone() });
            }
        }
        t
    }

    /// True when the configuration held nothing to draw.
    pub fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
            && self.public_ips.is_empty()
            && self.unplaced_nics.is_empty()
            && self.load_balancers.is_empty()
            && self.application_gateways.is_empty()
            && self.nsgs.is_empty()
    }
}

/// The resource id as written for a lower-cased id, when a resource of the case has it.
fn resource_id_as_written(config: &NetworkConfig, lower: &str) -> String {
    let found = config
        .load_balancers
        .iter()
        .map(|x| &x.id)
        .chain(config.app_gateways.iter().map(|x| &x.id))
        .chain(config.bastions.iter().map(|x| &x.id))
        .chain(config.firewalls.iter().map(|x| &x.id))
        .find(|id| id.eq_ignore_ascii_case(lower));
    found.cloned().unwrap_or_else(|| lower.to_string())
}

/// What references a public IP when the public IP's own `ipConfiguration` is missing: the
/// referencing IP configuration or frontend id, lower-cased.
fn referrer(config: &NetworkConfig, pip: &str) -> Option<String> {
    let r = Some(pip.to_string());
    for n in &config.nics {
        if let Some(c) = n.ip_configs.iter().find(|c| c.public_ip == r) {
            return Some(c.id.clone());
        }
    }
    for lb in &config.load_balancers {
        if let Some(f) = lb.frontends.iter().find(|f| f.public_ip == r) {
            return Some(f.id.clone());
        }
    }
    for g in &config.app_gateways {
        if let Some(f) = g.frontends.iter().find(|f| f.public_ip == r) {
            return Some(f.id.clone());
        }
    }
    for b in &config.bastions {
        if b.public_ip == r {
            return Some(format!("{}/bastionHostIpConfigurations/ipconfig", b.id).to_ascii_lowercase());
        }
    }
    for f in &config.firewalls {
        if let Some(c) = f.ip_configs.iter().find(|c| c.public_ip == r) {
            return Some(format!("{}/azureFirewallIpConfigurations/{}", f.id, c.name).to_ascii_lowercase());
        }
    }
    None
}

/// The NIC IP configurations (lower-cased ids) of a load balancer pool: listed by the pool, or
/// naming the pool from the NIC side.
pub fn lb_pool_members(config: &NetworkConfig, pool: &str, listed: &[String]) -> Vec<String> {
    let mut m: Vec<String> = listed.to_vec();
    for n in &config.nics {
        for c in &n.ip_configs {
            if c.lb_backend_pools.iter().any(|p| p == pool) {
                m.push(c.id.clone());
            }
        }
    }
    m.sort();
    m.dedup();
    m
}

/// Adds to pool members the NIC IP configurations holding the pool's literal addresses.
fn with_addresses(config: &NetworkConfig, mut members: Vec<String>, addresses: &[String]) -> Vec<String> {
    for a in addresses {
        let Ok(ip) = a.trim().parse::<std::net::IpAddr>() else { continue };
        if let Some(c) = config.nics.iter().flat_map(|n| &n.ip_configs).find(|c| c.private_ip == Some(ip)) {
            members.push(c.id.clone());
        }
    }
    members.sort();
    members.dedup();
    members
}

/// Peerings drawn once per pair of VNets: (VNet id, remote id, label, connected), ids lower-cased.
fn peering_pairs(t: &Topology) -> Vec<(String, String, String, bool)> {
    let mut pairs: BTreeMap<(String, String), (Vec<String>, bool)> = BTreeMap::new();
    for p in &t.peerings {
        let (a, b) = (p.vnet.to_ascii_lowercase(), p.remote.to_ascii_lowercase());
        let key = if a <= b { (a, b) } else { (b, a) };
        let state = p.state.as_deref().unwrap_or("?");
        let e = pairs.entry(key).or_insert_with(|| (Vec::new(), true));
        e.0.push(format!("{} ({state})", p.name));
        e.1 &= state.eq_ignore_ascii_case("Connected");
    }
    pairs.into_iter().map(|((a, b), (names, ok))| (a, b, format!("peering {}", names.join(" / ")), ok)).collect()
}

/// The NIC IP configurations (lower-cased ids) of an application gateway pool.
pub fn appgw_pool_members(config: &NetworkConfig, pool: &str, listed: &[String]) -> Vec<String> {
    let mut m: Vec<String> = listed.to_vec();
    for n in &config.nics {
        for c in &n.ip_configs {
            if c.appgw_backend_pools.iter().any(|p| p == pool) {
                m.push(c.id.clone());
            }
        }
    }
    m.sort();
    m.dedup();
    m
}

/// The NIC IP configuration an inbound NAT rule forwards to: its `backendIPConfiguration`, else
/// the NIC IP configuration naming the rule.
pub fn nat_target(config: &NetworkConfig, rule: &crate::nsg::config::LbRule) -> Option<String> {
    if rule.kind != LbRuleKind::InboundNat {
        return None;
    }
    rule.target.clone().or_else(|| {
        config.nics.iter().flat_map(|n| &n.ip_configs).find(|c| c.lb_nat_rules.contains(&rule.id)).map(|c| c.id.clone())
    })
}

// ---------------------------------------------------------------------------------------------
// Renderers

/// The topology as pretty JSON.
pub fn to_json(t: &Topology) -> String {
    serde_json::to_string_pretty(t).unwrap_or_else(|_| "{}".to_string())
}

/// Characters XML 1.0 can hold (control characters but tab, LF, CR cannot be written at all).
fn xml_char_ok(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

/// Escapes text for XML content and attribute values; characters XML cannot hold become U+FFFD.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if xml_char_ok(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// Escapes text for a DOT double-quoted string (`\` and `"`; line breaks and control characters
/// become spaces, so a name cannot end the string or inject a `\l`/`\N` escape).
fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a Mermaid quoted label: every character outside letters, digits and
/// ` .,:/_-+=@()` becomes an entity code `#NNN;` (quotes, brackets, `<`, `>`, `&`, `#`, `|`,
/// backticks and anything that could close the label or be read as markup).
fn mermaid_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || " .,:/_-+=@()".contains(c) {
            out.push(c);
        } else if c.is_control() {
            out.push(' ');
        } else {
            let _ = write!(out, "#{};", c as u32);
        }
    }
    out
}

fn subnet_label(s: &SubnetNode) -> Vec<String> {
    let mut l = vec![format!("subnet {}", s.name)];
    if !s.prefixes.is_empty() {
        l.push(s.prefixes.join(", "));
    }
    if let Some(n) = &s.nsg {
        l.push(format!("NSG {}", n.name));
    }
    if let Some(r) = &s.route_table {
        l.push(format!("route table {}", r.name));
    }
    l
}

fn nic_label(n: &NicNode) -> Vec<String> {
    let mut l = vec![format!("NIC {}", n.name)];
    let ips: Vec<String> = n.ip_configs.iter().filter_map(|c| c.private_ip.clone()).collect();
    if !ips.is_empty() {
        l.push(ips.join(", "));
    }
    if let Some(v) = &n.vm {
        l.push(format!("VM {}", v.name));
    }
    if let Some(s) = &n.nsg {
        l.push(format!("NSG {}", s.name));
    }
    if !n.asgs.is_empty() {
        l.push(format!("ASG {}", n.asgs.join(", ")));
    }
    if n.ip_forwarding {
        l.push("IP forwarding".into());
    }
    l
}

fn service_label(s: &ServiceRef) -> Vec<String> {
    let kind = match s.kind {
        "application-gateway" => "App Gateway",
        "bastion" => "Bastion",
        "firewall" => "Firewall",
        _ => "Load balancer",
    };
    let mut l = vec![format!("{kind} {}", s.name)];
    if !s.private_ips.is_empty() {
        l.push(s.private_ips.join(", "));
    }
    l
}

fn pip_label(p: &PublicIpNode) -> Vec<String> {
    let mut l = vec![format!("public IP {}", p.name)];
    l.push(p.address.clone().unwrap_or_else(|| "(no address)".into()));
    if let Some(f) = &p.fqdn {
        l.push(f.clone());
    }
    l
}

fn lb_label(lb: &LoadBalancerNode) -> Vec<String> {
    let mut l = vec![format!("Load balancer {}", lb.name)];
    for r in &lb.rules {
        let kind = if r.kind == LbRuleKind::InboundNat { "NAT" } else { "rule" };
        l.push(format!("{kind} {} {} {}→{}", r.name, r.protocol, r.frontend_ports, r.backend_port));
    }
    l
}

/// Where each drawable thing is, by lower-cased id: NICs, services, VNets.
struct Ids {
    next: usize,
    by_id: HashMap<String, String>,
}

impl Ids {
    fn new() -> Self {
        Ids { next: 0, by_id: HashMap::new() }
    }
    fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }
    fn bind(&mut self, id: &str, prefix: &str) -> String {
        let n = self.fresh(prefix);
        self.by_id.insert(id.to_ascii_lowercase(), n.clone());
        n
    }
    fn get(&self, id: &str) -> Option<&String> {
        self.by_id.get(&id.to_ascii_lowercase())
    }
}

/// Edges every renderer draws: (from id, to id, label), ids lower-cased resource ids or
/// `pip:<id>` / `lb:<id>` keys.
fn edges(t: &Topology) -> Vec<(String, String, String)> {
    let mut e = Vec::new();
    for p in &t.public_ips {
        if let Some(a) = &p.attached_id {
            let target = if p.attached_kind == "load-balancer" {
                format!("lb:{}", a.to_ascii_lowercase())
            } else {
                a.to_ascii_lowercase()
            };
            e.push((format!("pip:{}", p.id.to_ascii_lowercase()), target, String::new()));
        }
    }
    for lb in &t.load_balancers {
        let key = format!("lb:{}", lb.id.to_ascii_lowercase());
        for r in &lb.rules {
            let mut members: Vec<&String> = Vec::new();
            if let Some(tg) = &r.target {
                members.push(tg);
            }
            for p in lb.pools.iter().filter(|p| r.pools.contains(&p.name)) {
                members.extend(&p.members);
            }
            let kind = if r.kind == LbRuleKind::InboundNat { "NAT " } else { "" };
            for m in members {
                e.push((
                    key.clone(),
                    format!("nicname:{}", m.split('/').next().unwrap_or(m)),
                    format!("{kind}{} {}→{}", r.protocol, r.frontend_ports, r.backend_port),
                ));
            }
        }
    }
    for g in &t.application_gateways {
        for r in &g.routes {
            let Some(pool) = g.pools.iter().find(|p| Some(&p.name) == r.pool.as_ref()) else { continue };
            for m in &pool.members {
                let label = format!("{} :{}", pool.name, r.port.map_or_else(|| "?".into(), |p| p.to_string()));
                e.push((g.id.to_ascii_lowercase(), format!("nicname:{}", m.split('/').next().unwrap_or(m)), label));
            }
        }
    }
    e.sort();
    e.dedup();
    e
}

/// Resolves an edge endpoint key to a renderer node name.
fn resolve<'a>(ids: &'a Ids, nic_names: &'a HashMap<String, String>, key: &str) -> Option<&'a String> {
    match key.strip_prefix("nicname:") {
        Some(n) => nic_names.get(n).and_then(|id| ids.get(id)),
        None => ids.get(key),
    }
}

fn nic_names(t: &Topology) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for n in all_nics(t) {
        m.insert(n.name.clone(), n.id.clone());
    }
    m
}

fn all_nics(t: &Topology) -> Vec<&NicNode> {
    let mut v: Vec<&NicNode> =
        t.subscriptions.iter().flat_map(|s| &s.vnets).flat_map(|v| &v.subnets).flat_map(|s| &s.nics).collect();
    v.extend(&t.unplaced_nics);
    v
}

/// The topology as Graphviz DOT (`dot -Tsvg`).
pub fn to_dot(t: &Topology) -> String {
    let q = |lines: &[String]| lines.iter().map(|l| dot_escape(l)).collect::<Vec<_>>().join("\\n");
    let mut ids = Ids::new();
    let mut o = String::from("digraph topology {\n  graph [rankdir=LR, compound=true, fontname=\"Helvetica\", fontsize=11];\n  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];\n  internet [label=\"Internet\", shape=ellipse];\n");
    for (si, s) in t.subscriptions.iter().enumerate() {
        let _ = writeln!(o, "  subgraph cluster_sub{si} {{\n    label=\"{}\";", q(&[format!("subscription {}", s.id)]));
        for v in &s.vnets {
            let c = ids.bind(&v.id, "vnet");
            let _ = writeln!(
                o,
                "    subgraph cluster_{c} {{\n      label=\"{}\";\n      {c} [label=\"{}\", shape=point, width=0.05];",
                q(&[format!("VNet {}", v.name), v.address_space.join(", ")]),
                q(std::slice::from_ref(&v.name))
            );
            for sn in &v.subnets {
                let c = ids.bind(&sn.id, "subnet");
                let _ = writeln!(o, "      subgraph cluster_{c} {{\n        label=\"{}\";", q(&subnet_label(sn)));
                let _ = writeln!(o, "        {c} [label=\"\", shape=point, width=0.01, style=invis];");
                for n in &sn.nics {
                    let c = ids.bind(&n.id, "nic");
                    let _ = writeln!(o, "        {c} [label=\"{}\"];", q(&nic_label(n)));
                }
                for x in &sn.services {
                    let c = if x.kind == "load-balancer" { ids.fresh("svc") } else { ids.bind(&x.id, "svc") };
                    let _ = writeln!(o, "        {c} [label=\"{}\", shape=component];", q(&service_label(x)));
                }
                o.push_str("      }\n");
            }
            o.push_str("    }\n");
        }
        o.push_str("  }\n");
    }
    for n in &t.unplaced_nics {
        let c = ids.bind(&n.id, "nic");
        let _ = writeln!(o, "  {c} [label=\"{}\", style=dashed];", q(&nic_label(n)));
    }
    for p in &t.public_ips {
        let c = ids.bind(&format!("pip:{}", p.id), "pip");
        let _ = writeln!(o, "  {c} [label=\"{}\", shape=oval];\n  internet -> {c};", q(&pip_label(p)));
    }
    for lb in &t.load_balancers {
        let c = ids.bind(&format!("lb:{}", lb.id), "lb");
        let _ = writeln!(o, "  {c} [label=\"{}\", shape=trapezium];", q(&lb_label(lb)));
    }
    let names = nic_names(t);
    for (a, b, label) in edges(t) {
        if let (Some(x), Some(y)) = (resolve(&ids, &names, &a), resolve(&ids, &names, &b)) {
            let _ = writeln!(o, "  {x} -> {y} [label=\"{}\"];", dot_escape(&label));
        }
    }
    for (a, b, label, ok) in peering_pairs(t) {
        if let (Some(x), Some(y)) = (ids.get(&a).cloned(), ids.get(&b).cloned()) {
            let color = if ok { "darkgreen" } else { "red" };
            let _ = writeln!(
                o,
                "  {x} -> {y} [label=\"{}\", style=dashed, dir=both, color={color}, ltail=cluster_{x}, lhead=cluster_{y}];",
                dot_escape(&label)
            );
        }
    }
    o.push_str("}\n");
    o
}

/// The topology as a Mermaid flowchart.
pub fn to_mermaid(t: &Topology) -> String {
    let q = |lines: &[String]| lines.iter().map(|l| mermaid_escape(l)).collect::<Vec<_>>().join("<br/>");
    let mut ids = Ids::new();
    let mut o = String::from("flowchart LR\n  internet((\"Internet\"))\n");
    for (si, s) in t.subscriptions.iter().enumerate() {
        let _ = writeln!(o, "  subgraph sub{si}[\"{}\"]", q(&[format!("subscription {}", s.id)]));
        for v in &s.vnets {
            let c = ids.bind(&v.id, "vnet");
            let _ =
                writeln!(o, "    subgraph {c}[\"{}\"]", q(&[format!("VNet {}", v.name), v.address_space.join(", ")]));
            for sn in &v.subnets {
                let c = ids.bind(&sn.id, "subnet");
                let _ = writeln!(o, "      subgraph {c}[\"{}\"]", q(&subnet_label(sn)));
                for n in &sn.nics {
                    let c = ids.bind(&n.id, "nic");
                    let _ = writeln!(o, "        {c}[\"{}\"]", q(&nic_label(n)));
                }
                for x in &sn.services {
                    let c = if x.kind == "load-balancer" { ids.fresh("svc") } else { ids.bind(&x.id, "svc") };
                    let _ = writeln!(o, "        {c}[[\"{}\"]]", q(&service_label(x)));
                }
                if sn.nics.is_empty() && sn.services.is_empty() {
                    let c = ids.fresh("empty");
                    let _ = writeln!(o, "        {c}[\"(empty)\"]");
                }
                o.push_str("      end\n");
            }
            o.push_str("    end\n");
        }
        o.push_str("  end\n");
    }
    for n in &t.unplaced_nics {
        let c = ids.bind(&n.id, "nic");
        let _ = writeln!(o, "  {c}[\"{}\"]", q(&nic_label(n)));
    }
    for p in &t.public_ips {
        let c = ids.bind(&format!("pip:{}", p.id), "pip");
        let _ = writeln!(o, "  {c}([\"{}\"])\n  internet --> {c}", q(&pip_label(p)));
    }
    for lb in &t.load_balancers {
        let c = ids.bind(&format!("lb:{}", lb.id), "lb");
        let _ = writeln!(o, "  {c}[/\"{}\"\\]", q(&lb_label(lb)));
    }
    let names = nic_names(t);
    for (a, b, label) in edges(t) {
        if let (Some(x), Some(y)) = (resolve(&ids, &names, &a), resolve(&ids, &names, &b)) {
            if label.is_empty() {
                let _ = writeln!(o, "  {x} --> {y}");
            } else {
                let _ = writeln!(o, "  {x} -->|\"{}\"| {y}", mermaid_escape(&label));
            }
        }
    }
    for (a, b, label, _) in peering_pairs(t) {
        if let (Some(x), Some(y)) = (ids.get(&a).cloned(), ids.get(&b).cloned()) {
            let _ = writeln!(o, "  {x} <-.->|\"{}\"| {y}", mermaid_escape(&label));
        }
    }
    o
}

// ---------------------------------------------------------------------------------------------
// SVG layout

const FONT: u32 = 12;
const LINE: u32 = 15;
const CHAR_W: f64 = 6.6;
const PAD: u32 = 8;
const NODE_W: u32 = 210;
const SUBNET_W: u32 = NODE_W + 2 * PAD;
const GAP: u32 = 14;
const PER_ROW: usize = 4;
const PIP_W: u32 = 200;

/// A box placed on the canvas.
#[derive(Clone, Copy)]
struct Placed {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

/// Cuts a line to what fits in `width` pixels (the full text goes into the `<title>`).
fn fit(s: &str, width: u32) -> String {
    let max = ((width.saturating_sub(2 * PAD)) as f64 / CHAR_W).floor() as usize;
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut c: String = s.chars().take(max.saturating_sub(1)).collect();
        c.push('…');
        c
    }
}

fn node_h(lines: usize) -> u32 {
    lines as u32 * LINE + PAD
}

/// Writes a box: `<g class>` with a `<title>`, a rect and its lines of text.
fn svg_box(o: &mut String, class: &str, p: Placed, lines: &[String], fill: &str, stroke: &str, bold_first: bool) {
    let title = lines.join("\n");
    let _ = write!(
        o,
        "<g class=\"{class}\"><title>{}</title><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"4\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1\"/>",
        xml_escape(&title),
        p.x,
        p.y,
        p.w,
        p.h
    );
    for (i, l) in lines.iter().enumerate() {
        let weight = if i == 0 && bold_first { " font-weight=\"bold\"" } else { "" };
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\" font-size=\"{FONT}\" font-family=\"sans-serif\" fill=\"#1b1f24\"{weight}>{}</text>",
            p.x + PAD,
            p.y + PAD / 2 + (i as u32 + 1) * LINE - 3,
            xml_escape(&fit(l, p.w))
        );
    }
    o.push_str("</g>\n");
}

/// The topology as a standalone SVG document laid out here (no Graphviz): safe to embed in an
/// HTML report under a strict Content-Security-Policy (see the module docs).
pub fn to_svg(t: &Topology) -> String {
    let mut body = String::new();
    let mut places: HashMap<String, Placed> = HashMap::new();
    let margin = 20u32;
    let mut y = margin;
    let mut width = 600u32;

    // Band 1: the Internet and the public IPs.
    body.push_str(&format!(
        "<text class=\"band\" x=\"{margin}\" y=\"{}\" font-size=\"14\" font-family=\"sans-serif\" font-weight=\"bold\" fill=\"#1b1f24\">Internet</text>\n",
        y + 14
    ));
    y += 24;
    let pip_h = node_h(3);
    let per_row = 6usize;
    for (i, p) in t.public_ips.iter().enumerate() {
        let x = margin + (i % per_row) as u32 * (PIP_W + GAP);
        let py = y + (i / per_row) as u32 * (pip_h + GAP);
        let pl = Placed { x, y: py, w: PIP_W, h: pip_h };
        let mut lines = pip_label(p);
        lines.truncate(2);
        if let Some(a) = &p.attached_name {
            lines.push(format!("→ {a}"));
        } else {
            lines.push("(unattached)".into());
        }
        svg_box(&mut body, "public-ip", pl, &lines, "#fff4e5", "#d9822b", true);
        places.insert(format!("pip:{}", p.id.to_ascii_lowercase()), pl);
        width = width.max(x + PIP_W + margin);
    }
    if !t.public_ips.is_empty() {
        y += t.public_ips.len().div_ceil(per_row) as u32 * (pip_h + GAP) + GAP;
    }

    // Band 2: load balancers.
    let mut lb_row_h = 0;
    for (i, lb) in t.load_balancers.iter().enumerate() {
        let lines = lb_label(lb);
        let h = node_h(lines.len());
        let x = margin + (i % 3) as u32 * (2 * NODE_W + GAP);
        let pl = Placed { x, y, w: 2 * NODE_W, h };
        svg_box(&mut body, "load-balancer", pl, &lines, "#eef6ff", "#3572b0", true);
        places.insert(format!("lb:{}", lb.id.to_ascii_lowercase()), pl);
        lb_row_h = lb_row_h.max(h);
        width = width.max(x + 2 * NODE_W + margin);
        if i % 3 == 2 {
            y += lb_row_h + GAP;
            lb_row_h = 0;
        }
    }
    if lb_row_h > 0 {
        y += lb_row_h + GAP;
    }
    y += GAP;

    // Band 3: VNets with their subnets, NICs and gateways.
    let mut vnet_boxes: Vec<(String, Placed)> = Vec::new();
    let render_subnets = |subnets: &[SubnetNode],
                          x0: u32,
                          y0: u32,
                          body: &mut String,
                          places: &mut HashMap<String, Placed>|
     -> (u32, u32) {
        let mut row_y = y0;
        let mut max_x = x0;
        for chunk in subnets.chunks(PER_ROW) {
            let mut row_h = 0;
            for (j, sn) in chunk.iter().enumerate() {
                let sx = x0 + j as u32 * (SUBNET_W + GAP);
                let head = subnet_label(sn);
                let items: Vec<(String, &str, Vec<String>, &str, &str)> = sn
                    .nics
                    .iter()
                    .map(|n| (n.id.clone(), "nic", nic_label(n), "#ffffff", "#57606a"))
                    .chain(
                        sn.services.iter().map(|s| (s.id.clone(), "service", service_label(s), "#f3f0ff", "#6f42c1")),
                    )
                    .collect();
                let inner: u32 = items.iter().map(|i| node_h(i.2.len()) + PAD).sum();
                let h = node_h(head.len()) + inner + PAD;
                let pl = Placed { x: sx, y: row_y, w: SUBNET_W, h };
                svg_box(body, "subnet", pl, &head, "#f6f8fa", "#8c959f", true);
                places.insert(sn.id.to_ascii_lowercase(), pl);
                let mut iy = row_y + node_h(head.len()) + PAD / 2;
                for (id, class, lines, fill, stroke) in items {
                    let ph = node_h(lines.len());
                    let ip = Placed { x: sx + PAD, y: iy, w: NODE_W, h: ph };
                    svg_box(body, class, ip, &lines, fill, stroke, true);
                    places.entry(id.to_ascii_lowercase()).or_insert(ip);
                    iy += ph + PAD;
                }
                row_h = row_h.max(h);
                max_x = max_x.max(sx + SUBNET_W);
            }
            row_y += row_h + GAP;
        }
        (max_x, row_y)
    };
    for s in &t.subscriptions {
        for v in &s.vnets {
            let head = vec![format!("VNet {}", v.name), v.address_space.join(", "), format!("subscription {}", s.id)];
            let head_h = node_h(head.len());
            // Render the subnets into a scratch buffer first to learn the box size.
            let mut inner = String::new();
            let (max_x, bottom) =
                render_subnets(&v.subnets, margin + PAD + 4, y + head_h + PAD, &mut inner, &mut places);
            let w = (max_x + PAD + 4).max(margin + SUBNET_W + 2 * PAD) - margin;
            let h = bottom.max(y + head_h + PAD) - y + PAD;
            let pl = Placed { x: margin, y, w, h };
            svg_box(&mut body, "vnet", pl, &head, "#fbfdff", "#0969da", true);
            body.push_str(&inner);
            places.insert(v.id.to_ascii_lowercase(), pl);
            vnet_boxes.push((v.id.to_ascii_lowercase(), pl));
            width = width.max(margin + w + margin);
            y += h + 2 * GAP;
        }
    }
    if !t.unplaced_nics.is_empty() {
        let head = vec!["NICs whose subnet is not in the case".to_string()];
        let sn = SubnetNode { name: String::new(), nics: t.unplaced_nics.clone(), ..SubnetNode::default() };
        let mut inner = String::new();
        let (max_x, bottom) =
            render_subnets(std::slice::from_ref(&sn), margin + PAD, y + node_h(1) + PAD, &mut inner, &mut places);
        let pl = Placed { x: margin, y, w: max_x + PAD - margin, h: bottom - y };
        svg_box(&mut body, "unplaced", pl, &head, "#fffbe6", "#bf8700", true);
        body.push_str(&inner);
        width = width.max(max_x + PAD + margin);
        y = bottom + GAP;
    }

    // Edges: public IPs and load balancers to what they front; peerings on the right.
    let names = nic_names(t);
    let mut lines_out = String::new();
    for (a, b, label) in edges(t) {
        let from = places.get(&a);
        let to = match b.strip_prefix("nicname:") {
            Some(n) => names.get(n).and_then(|id| places.get(&id.to_ascii_lowercase())),
            None => places.get(&b),
        };
        let (Some(f), Some(g)) = (from, to) else { continue };
        let (x1, y1) = (f.x + f.w / 2, f.y + f.h);
        let (x2, y2) = (g.x + g.w / 2, g.y);
        let _ = write!(
            lines_out,
            "<g class=\"edge\"><title>{}</title><line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" stroke=\"#d9822b\" stroke-width=\"1.5\" stroke-opacity=\"0.8\"/>",
            xml_escape(&if label.is_empty() { format!("{a} → {b}") } else { label.clone() })
        );
        if !label.is_empty() {
            let _ = write!(
                lines_out,
                "<text x=\"{}\" y=\"{}\" font-size=\"10\" font-family=\"sans-serif\" fill=\"#953800\">{}</text>",
                (x1 + x2) / 2 + 4,
                (y1 + y2) / 2,
                xml_escape(&fit(&label, 2 * NODE_W))
            );
        }
        lines_out.push_str("</g>\n");
    }
    let right = vnet_boxes.iter().map(|v| v.1.x + v.1.w).max().unwrap_or(width);
    let mut lane = 0u32;
    for (va, vb, label, ok) in peering_pairs(t) {
        let a = vnet_boxes.iter().find(|v| v.0 == va).map(|v| v.1);
        let b = vnet_boxes.iter().find(|v| v.0 == vb).map(|v| v.1);
        let (Some(a), Some(b)) = (a, b) else { continue };
        lane += 1;
        let x = right + lane * 18;
        let (ya, yb) = (a.y + a.h / 2, b.y + b.h / 2);
        let stroke = if ok { "#1a7f37" } else { "#cf222e" };
        let _ = write!(
            lines_out,
            "<g class=\"peering\"><title>{}</title><polyline points=\"{},{ya} {x},{ya} {x},{yb} {},{yb}\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"1.5\" stroke-dasharray=\"5,3\"/><text x=\"{}\" y=\"{}\" font-size=\"10\" font-family=\"sans-serif\" fill=\"{stroke}\">{}</text></g>",
            xml_escape(&label),
            a.x + a.w,
            b.x + b.w,
            x + 4,
            (ya + yb) / 2 + lane * 12,
            xml_escape(&fit(&label, 2 * NODE_W))
        );
        lines_out.push('\n');
    }
    if lane > 0 {
        width = width.max(right + lane * 18 + 2 * NODE_W);
    }
    if t.is_empty() {
        body.push_str(&format!(
            "<text x=\"{margin}\" y=\"{}\" font-size=\"{FONT}\" font-family=\"sans-serif\" fill=\"#57606a\">No network configuration in the case.</text>\n",
            y + LINE
        ));
        y += 2 * LINE;
    }
    let height = y + margin;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"topology\" data-chart=\"topology\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\"><title>Network topology</title>\n<rect class=\"background\" x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>\n{body}{lines_out}</svg>\n"
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::{json, Map, Value};

    pub(crate) const SUB: &str = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network";

    pub(crate) fn nid(kind: &str, name: &str) -> String {
        format!("{SUB}/{kind}/{name}")
    }

    fn canonical(kind: &str) -> &'static str {
        [
            "Microsoft.Network/networkSecurityGroups",
            "Microsoft.Network/virtualNetworks",
            "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
            "Microsoft.Network/networkInterfaces",
            "Microsoft.Network/routeTables",
            "Microsoft.Network/publicIPAddresses",
            "Microsoft.Network/loadBalancers",
            "Microsoft.Network/applicationGateways",
            "Microsoft.Network/bastionHosts",
            "Microsoft.Network/azureFirewalls",
            "Microsoft.Compute/virtualMachines",
        ]
        .into_iter()
        .find(|k| k.eq_ignore_ascii_case(kind))
        .expect("known kind")
    }

    /// The input shapes the ingest accepts: ARM REST as is; `az … list` (properties flattened
    /// one level up, children too, `resourceGroup` added); Resource Graph (type lower-cased,
    /// `subscriptionId`/`resourceGroup` at the top).
    #[derive(Clone, Copy, Debug)]
    pub(crate) enum Shape {
        Rest,
        Cli,
        Graph,
    }

    fn flatten(v: &Value) -> Value {
        let Some(m) = v.as_object() else { return v.clone() };
        let mut out = Map::new();
        for (k, x) in m {
            if k == "properties" {
                for (pk, px) in x.as_object().into_iter().flatten() {
                    let px = match px {
                        Value::Array(a) => Value::Array(a.iter().map(flatten).collect()),
                        other => other.clone(),
                    };
                    out.insert(pk.clone(), px);
                }
            } else {
                out.insert(k.clone(), x.clone());
            }
        }
        out.insert("resourceGroup".into(), json!("rg"));
        Value::Object(out)
    }

    pub(crate) fn res(shape: Shape, v: Value) -> Resource {
        let id = v["id"].as_str().unwrap().to_string();
        let kind = canonical(v["type"].as_str().unwrap());
        let json = match shape {
            Shape::Rest => v.clone(),
            Shape::Cli => flatten(&v),
            Shape::Graph => {
                let mut g = v.clone();
                g["type"] = json!(kind.to_ascii_lowercase());
                g["subscriptionId"] = json!("s1");
                g["resourceGroup"] = json!("rg");
                g
            }
        };
        Resource {
            time: Some(1_000),
            id_lower: id.to_ascii_lowercase(),
            name: v["name"].as_str().unwrap_or_default().to_string(),
            id,
            kind: kind.to_string(),
            json: json.to_string(),
            ..Resource::default()
        }
    }

    pub(crate) fn rule(name: &str, prio: u32, access: &str, proto: &str, src: &str, port: &str) -> Value {
        json!({"name": name, "properties": {"priority": prio, "direction": "Inbound", "access": access,
            "protocol": proto, "sourceAddressPrefix": src, "sourcePortRange": "*",
            "destinationAddressPrefix": "*", "destinationPortRange": port}})
    }

    fn nic(name: &str, subnet: &str, ip: &str, nsg: Option<&str>, pip: Option<&str>, vm: Option<&str>) -> Value {
        let mut ipc = json!({"name": "ipconfig1", "id": format!("{}/ipConfigurations/ipconfig1", nid("networkInterfaces", name)),
            "properties": {"privateIPAddress": ip, "primary": true,
            "subnet": {"id": format!("{}/subnets/{subnet}", nid("virtualNetworks", "vnet1"))}}});
        if let Some(p) = pip {
            ipc["properties"]["publicIPAddress"] = json!({"id": nid("publicIPAddresses", p)});
        }
        let mut v = json!({"id": nid("networkInterfaces", name), "name": name, "type": "Microsoft.Network/networkInterfaces",
            "properties": {"ipConfigurations": [ipc], "enableIPForwarding": false}});
        if let Some(n) = nsg {
            v["properties"]["networkSecurityGroup"] = json!({"id": nid("networkSecurityGroups", n)});
        }
        if let Some(m) = vm {
            v["properties"]["virtualMachine"] = json!({"id": format!("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{m}")});
        }
        v
    }

    fn pip(name: &str, addr: &str) -> Value {
        json!({"id": nid("publicIPAddresses", name), "name": name, "type": "Microsoft.Network/publicIPAddresses",
            "sku": {"name": "Standard"}, "properties": {"ipAddress": addr, "publicIPAllocationMethod": "Static"}})
    }

    /// vnet1 10.0.0.0/16 with subnets web (nsg-sub), app (no NSG), gw (an application
    /// gateway), AzureBastionSubnet; peered with vnet2 (Connected).
    /// - nic-web 10.0.1.4 (vm-web, nsg-nic, pip-web 198.51.100.10): nsg-sub allows 443 and 22
    ///   from anywhere and nothing else; nsg-nic denies 22, allows 443 and 8000-8010.
    /// - nic-app 10.0.2.4 (vm-app, no NSG at all, no public IP): behind lb1 (NAT 2222→22,
    ///   rule 80→8080) and the application gateway (443 → 8080).
    /// - nic-ssh 10.0.2.5 (vm-ssh, nsg-restricted: 22 from 203.0.113.0/24 only, pip-ssh).
    /// - nic-hidden 10.0.2.6 (no public path).
    pub(crate) fn network(shape: Shape) -> Vec<Resource> {
        let vnet = nid("virtualNetworks", "vnet1");
        let subnet = |s: &str| format!("{vnet}/subnets/{s}");
        let lb = nid("loadBalancers", "lb1");
        let agw = nid("applicationGateways", "agw1");
        let app_ipc = format!("{}/ipConfigurations/ipconfig1", nid("networkInterfaces", "nic-app"));
        let v = vec![
            json!({"id": vnet, "name": "vnet1", "type": "Microsoft.Network/virtualNetworks", "properties": {
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "subnets": [
                    {"id": subnet("web"), "name": "web", "properties": {"addressPrefix": "10.0.1.0/24",
                        "networkSecurityGroup": {"id": nid("networkSecurityGroups", "nsg-sub")},
                        "routeTable": {"id": nid("routeTables", "rt1")}}},
                    {"id": subnet("app"), "name": "app", "properties": {"addressPrefix": "10.0.2.0/24"}},
                    {"id": subnet("gw"), "name": "gw", "properties": {"addressPrefix": "10.0.0.0/24"}},
                    {"id": subnet("AzureBastionSubnet"), "name": "AzureBastionSubnet", "properties": {"addressPrefix": "10.0.250.0/26"}}
                ],
                "virtualNetworkPeerings": [{"name": "to-vnet2", "properties": {"peeringState": "Connected",
                    "remoteVirtualNetwork": {"id": nid("virtualNetworks", "vnet2")}, "remoteAddressSpace": {"addressPrefixes": ["10.1.0.0/16"]}}}]}}),
            json!({"id": nid("virtualNetworks", "vnet2"), "name": "vnet2", "type": "Microsoft.Network/virtualNetworks",
                "properties": {"addressSpace": {"addressPrefixes": ["10.1.0.0/16"]}, "subnets": []}}),
            json!({"id": nid("routeTables", "rt1"), "name": "rt1", "type": "Microsoft.Network/routeTables", "properties": {
                "routes": [{"name": "to-onprem", "properties": {"addressPrefix": "192.168.0.0/16", "nextHopType": "VirtualNetworkGateway"}}]}}),
            json!({"id": nid("networkSecurityGroups", "nsg-sub"), "name": "nsg-sub", "type": "Microsoft.Network/networkSecurityGroups",
                "properties": {"securityRules": [rule("allow-https", 100, "Allow", "Tcp", "Internet", "443"), rule("allow-ssh", 110, "Allow", "Tcp", "*", "22")]}}),
            json!({"id": nid("networkSecurityGroups", "nsg-nic"), "name": "nsg-nic", "type": "Microsoft.Network/networkSecurityGroups",
                "properties": {"securityRules": [rule("deny-ssh", 100, "Deny", "*", "*", "22"), rule("allow-web", 200, "Allow", "Tcp", "*", "443"),
                    rule("allow-alt", 210, "Allow", "Tcp", "*", "8000-8010")]}}),
            json!({"id": nid("networkSecurityGroups", "nsg-restricted"), "name": "nsg-restricted", "type": "Microsoft.Network/networkSecurityGroups",
                "properties": {"securityRules": [rule("ssh-from-office", 100, "Allow", "Tcp", "203.0.113.0/24", "22")]}}),
            nic("nic-web", "web", "10.0.1.4", Some("nsg-nic"), Some("pip-web"), Some("vm-web")),
            nic("nic-app", "app", "10.0.2.4", None, None, Some("vm-app")),
            nic("nic-ssh", "app", "10.0.2.5", Some("nsg-restricted"), Some("pip-ssh"), Some("vm-ssh")),
            nic("nic-hidden", "app", "10.0.2.6", None, None, None),
            pip("pip-web", "198.51.100.10"),
            pip("pip-ssh", "198.51.100.11"),
            pip("pip-lb", "198.51.100.12"),
            pip("pip-agw", "198.51.100.13"),
            pip("pip-bas", "198.51.100.14"),
            json!({"id": lb, "name": "lb1", "type": "Microsoft.Network/loadBalancers", "sku": {"name": "Standard"}, "properties": {
                "frontendIPConfigurations": [{"id": format!("{lb}/frontendIPConfigurations/fe"), "name": "fe",
                    "properties": {"publicIPAddress": {"id": nid("publicIPAddresses", "pip-lb")}}}],
                "backendAddressPools": [{"id": format!("{lb}/backendAddressPools/pool"), "name": "pool",
                    "properties": {"backendIPConfigurations": [{"id": app_ipc}]}}],
                "loadBalancingRules": [{"id": format!("{lb}/loadBalancingRules/http"), "name": "http", "properties": {
                    "frontendIPConfiguration": {"id": format!("{lb}/frontendIPConfigurations/fe")}, "protocol": "Tcp",
                    "frontendPort": 80, "backendPort": 8080, "backendAddressPool": {"id": format!("{lb}/backendAddressPools/pool")}}}],
                "inboundNatRules": [{"id": format!("{lb}/inboundNatRules/ssh"), "name": "ssh", "properties": {
                    "frontendIPConfiguration": {"id": format!("{lb}/frontendIPConfigurations/fe")}, "protocol": "Tcp",
                    "frontendPort": 2222, "backendPort": 22, "backendIPConfiguration": {"id": app_ipc}}}]}}),
            json!({"id": agw, "name": "agw1", "type": "Microsoft.Network/applicationGateways", "properties": {
                "sku": {"name": "WAF_v2", "tier": "WAF_v2"},
                "gatewayIPConfigurations": [{"name": "gwip", "properties": {"subnet": {"id": subnet("gw")}}}],
                "frontendIPConfigurations": [{"id": format!("{agw}/frontendIPConfigurations/pub"), "name": "pub",
                    "properties": {"publicIPAddress": {"id": nid("publicIPAddresses", "pip-agw")}}}],
                "frontendPorts": [{"id": format!("{agw}/frontendPorts/p443"), "name": "p443", "properties": {"port": 443}}],
                "httpListeners": [{"id": format!("{agw}/httpListeners/lst"), "name": "lst", "properties": {
                    "frontendIPConfiguration": {"id": format!("{agw}/frontendIPConfigurations/pub")},
                    "frontendPort": {"id": format!("{agw}/frontendPorts/p443")}, "protocol": "Https", "hostName": "shop.example"}}],
                "backendAddressPools": [{"id": format!("{agw}/backendAddressPools/be"), "name": "be",
                    "properties": {"backendAddresses": [{"ipAddress": "10.0.2.4"}]}}],
                "backendHttpSettingsCollection": [{"id": format!("{agw}/backendHttpSettingsCollection/s8080"), "name": "s8080",
                    "properties": {"port": 8080, "protocol": "Http"}}],
                "requestRoutingRules": [{"name": "r1", "properties": {"ruleType": "Basic",
                    "httpListener": {"id": format!("{agw}/httpListeners/lst")},
                    "backendAddressPool": {"id": format!("{agw}/backendAddressPools/be")},
                    "backendHttpSettings": {"id": format!("{agw}/backendHttpSettingsCollection/s8080")}}}]}}),
            json!({"id": nid("bastionHosts", "bas1"), "name": "bas1", "type": "Microsoft.Network/bastionHosts", "sku": {"name": "Basic"},
                "properties": {"ipConfigurations": [{"name": "IpConf", "properties": {
                    "subnet": {"id": subnet("AzureBastionSubnet")}, "publicIPAddress": {"id": nid("publicIPAddresses", "pip-bas")}}}]}}),
        ];
        v.into_iter().map(|x| res(shape, x)).collect()
    }

    #[test]
    fn every_input_shape_gives_the_same_topology() {
        let rest = to_json(&Topology::from_resources(&network(Shape::Rest), None));
        for shape in [Shape::Cli, Shape::Graph] {
            assert_eq!(to_json(&Topology::from_resources(&network(shape), None)), rest, "{shape:?}");
        }
    }

    #[test]
    fn model_holds_the_hierarchy_and_the_internet_pieces() {
        let t = Topology::from_resources(&network(Shape::Cli), None);
        assert_eq!(t.subscriptions.len(), 1);
        assert_eq!(t.subscriptions[0].id, "s1");
        let vnets = &t.subscriptions[0].vnets;
        assert_eq!(vnets.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["vnet1", "vnet2"]);
        let web = vnets[0].subnets.iter().find(|s| s.name == "web").unwrap();
        assert_eq!(web.prefixes, ["10.0.1.0/24"]);
        assert_eq!(web.nsg.as_ref().unwrap().name, "nsg-sub");
        assert_eq!(web.route_table.as_ref().unwrap().name, "rt1");
        let n = &web.nics[0];
        assert_eq!((n.name.as_str(), n.vm.as_ref().unwrap().name.as_str()), ("nic-web", "vm-web"));
        assert_eq!(n.ip_configs[0].public_ip.as_deref(), Some("pip-web 198.51.100.10"));
        assert_eq!(n.nsg.as_ref().unwrap().name, "nsg-nic");
        let app = vnets[0].subnets.iter().find(|s| s.name == "app").unwrap();
        assert_eq!(app.nics.len(), 3);
        let gw = vnets[0].subnets.iter().find(|s| s.name == "gw").unwrap();
        assert_eq!(gw.services[0].kind, "application-gateway");
        let bas = vnets[0].subnets.iter().find(|s| s.name == "AzureBastionSubnet").unwrap();
        assert_eq!(bas.services[0].name, "bas1");
        assert_eq!(t.peerings.len(), 1);
        assert_eq!((t.peerings[0].remote_name.as_str(), t.peerings[0].state.as_deref()), ("vnet2", Some("Connected")));
        // Public IPs attached through the referencing side (no ipConfiguration on the PIPs).
        let kind = |n: &str| t.public_ips.iter().find(|p| p.name == n).unwrap().attached_kind;
        assert_eq!(
            ["pip-web", "pip-lb", "pip-agw", "pip-bas"].map(kind),
            ["nic", "load-balancer", "application-gateway", "bastion"]
        );
        let web_pip = t.public_ips.iter().find(|p| p.name == "pip-web").unwrap();
        assert_eq!(web_pip.attached_name.as_deref(), Some("nic-web/ipconfig1"));
        let lb = &t.load_balancers[0];
        assert_eq!(lb.pools[0].members, ["nic-app/ipconfig1"]);
        let nat = lb.rules.iter().find(|r| r.name == "ssh").unwrap();
        assert_eq!(
            (nat.kind, nat.frontend_ports.as_str(), nat.backend_port.as_str()),
            (LbRuleKind::InboundNat, "2222", "22")
        );
        assert_eq!(nat.target.as_deref(), Some("nic-app/ipconfig1"));
        let g = &t.application_gateways[0];
        assert_eq!(g.listeners[0].port, Some(443));
        assert_eq!(g.pools[0].members, ["nic-app/ipconfig1"], "backend address resolved to the NIC");
        assert_eq!((g.routes[0].pool.as_deref(), g.routes[0].port), (Some("be"), Some(8080)));
        assert_eq!(t.route_tables[0].routes[0].next_hop, "VirtualNetworkGateway");
        assert_eq!(t.route_tables[0].subnets.len(), 1);
        assert!(t.unplaced_nics.is_empty());
    }

    /// A minimal XML well-formedness check: balanced tags, quoted attributes, entities only.
    pub(crate) fn assert_well_formed(xml: &str) {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = xml;
        while let Some(i) = rest.find(['<', '&']) {
            let text = &rest[..i];
            assert!(!text.contains('>'), "bare > in text: {text:?}");
            rest = &rest[i..];
            if rest.starts_with('&') {
                let end = rest.find(';').expect("entity ends");
                let ent = &rest[1..end];
                assert!(["amp", "lt", "gt", "quot", "#39"].contains(&ent), "unknown entity &{ent};");
                rest = &rest[end + 1..];
                continue;
            }
            let end = rest.find('>').expect("tag ends");
            let tag = &rest[1..end];
            assert!(!tag.contains('<'), "< inside a tag: {tag:?}");
            assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes: {tag:?}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name.trim()), "closing {name}");
            } else if !tag.ends_with('/') {
                stack.push(tag.split_whitespace().next().unwrap_or_default().to_string());
            }
            rest = &rest[end + 1..];
        }
        assert!(stack.is_empty(), "unclosed: {stack:?}");
        assert!(xml.chars().all(|c| !c.is_control() || c == '\n' || c == '\t'), "control character");
    }

    fn hostile() -> Topology {
        let evil = "<script>alert(\"x\")</script>\\\"]];end\u{1}#`|&amp;";
        let mut rs = network(Shape::Rest);
        for r in rs.iter_mut() {
            let mut v: Value = serde_json::from_str(&r.json).unwrap();
            if r.name == "nic-web" || r.name == "vnet1" || r.name == "pip-web" {
                v["name"] = json!(format!("{}{evil}", r.name));
                r.name = v["name"].as_str().unwrap().to_string();
                r.json = v.to_string();
            }
        }
        Topology::from_resources(&rs, None)
    }

    #[test]
    fn svg_is_csp_safe_escaped_and_well_formed() {
        let svg = to_svg(&hostile());
        assert!(svg.starts_with(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"topology\" data-chart=\"topology\" viewBox=\"0 0 "
        ));
        for bad in ["<script", "style=", "<style", "href", "url(", "javascript:", "<foreignObject", "<image"] {
            assert!(!svg.contains(bad), "{bad} in the SVG");
        }
        assert!(svg.contains("&lt;script&gt;alert(&quot;x&quot;)"), "escaped name in a <title>");
        assert!(svg.contains("&amp;amp;"), "& escaped once more");
        assert!(svg.contains("<title>"));
        assert_well_formed(&svg);
        // The demo-sized drawing has the boxes the model has.
        assert_eq!(svg.matches("class=\"nic\"").count(), 4);
        assert_eq!(svg.matches("class=\"vnet\"").count(), 2);
        assert_eq!(svg.matches("class=\"public-ip\"").count(), 5);
        assert_eq!(svg.matches("class=\"peering\"").count(), 1);
        // Clean names make a clean document too; an empty topology still draws.
        assert_well_formed(&to_svg(&Topology::from_resources(&network(Shape::Cli), None)));
        assert_well_formed(&to_svg(&Topology::default()));
    }

    #[test]
    fn dot_and_mermaid_escape_hostile_names() {
        let t = hostile();
        let dot = to_dot(&t);
        // Every label string is closed: outside escapes, quotes pair up on each line.
        for line in dot.lines() {
            let unescaped = line.replace("\\\\", "").replace("\\\"", "");
            assert_eq!(unescaped.matches('"').count() % 2, 0, "{line}");
        }
        assert!(dot.contains("NIC nic-web<script>alert(\\\"x\\\")</script>\\\\\\\"]];end #`|&amp;"), "{dot}");
        let mm = to_mermaid(&t);
        assert!(!mm.contains("<script"), "{mm}");
        for line in mm.lines() {
            // Labels hold no quote, bracket, backtick or pipe of their own: only the delimiters.
            if let Some((_, label)) = line.split_once("[\"") {
                let inner = label.rsplit_once('"').map_or(label, |x| x.0);
                assert!(!inner.replace("<br/>", "").contains(['<', '>', '"', '`', '|']), "{line}");
            }
        }
        assert!(mm.contains("#60;script#62;"), "{mm}");
    }

    #[test]
    fn dot_renders_every_node_and_edge() {
        let dot = to_dot(&Topology::from_resources(&network(Shape::Rest), None));
        assert!(dot.starts_with("digraph topology {") && dot.trim_end().ends_with('}'));
        assert_eq!(dot.matches("shape=oval").count(), 5, "five public IPs");
        assert!(dot.contains("label=\"NAT Tcp 2222→22\""), "{dot}");
        assert!(dot.contains("label=\"peering to-vnet2 (Connected)\""), "{dot}");
        assert_eq!(dot.matches('{').count(), dot.matches('}').count());
    }
}
