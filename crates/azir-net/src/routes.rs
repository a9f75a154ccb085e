//! Effective routes of a NIC computed offline from the network configuration, and the next hop
//! for a destination — what `az network nic show-effective-route-table` and Network Watcher's
//! next hop answer for the present, for any instant the case's configuration describes.
//!
//! # What is computed
//!
//! For the subnet of the NIC's primary IP configuration (the first one when none is marked):
//!
//! - **System routes** (source `Default`): one `VnetLocal` route per VNet address space;
//!   `0.0.0.0/0` → `Internet`; `10.0.0.0/8`, `100.64.0.0/10`, `172.16.0.0/12`,
//!   `192.168.0.0/16` → `None`; one `VNetPeering` route per remote prefix of each peering whose
//!   `peeringState` is `Connected` (the prefixes the peering records, else the remote VNet's
//!   when it is in the case); one `VirtualNetworkServiceEndpoint` route per service endpoint of
//!   the subnet, whose prefixes (the service's public ranges) are not known offline: it is listed
//!   with an empty `addressPrefix` and never chosen for a destination.
//! - **Reserved `None` ranges and the VNet space.** A `None` route is dropped when a VNet address
//!   space equals or contains the reserved range (Azure replaces it with the `VnetLocal` route of
//!   that space). A VNet space *inside* a reserved range (the usual `10.1.0.0/16`) leaves the
//!   `None` route in place: the longer `VnetLocal` prefix wins for the VNet's own addresses and
//!   the rest of the range is still dropped. Azure's own REST example
//!   (`NetworkInterfaceEffectiveRouteTableList.json`: VNet `172.20.2.0/24` with `172.16.0.0/12`
//!   → `None` still `Active`) shows exactly this; a unit test checks it.
//! - **Gateway routes** (source `VirtualNetworkGateway`) from a user-supplied list (the case has
//!   no BGP tables), left out entirely when the subnet's route table has
//!   `disableBgpRoutePropagation` (as Azure does; a note says so).
//! - **User routes** (source `User`) of the subnet's route table, next hop types
//!   `VirtualAppliance` (with its IP), `VirtualNetworkGateway`, `VnetLocal`, `Internet`, `None`.
//!   A route whose prefix is a service tag is listed but cannot be matched offline (noted). A
//!   `VirtualAppliance` next hop that is a NIC of the case without IP forwarding gets a warning:
//!   Azure delivers the packets to it, and the NIC drops what is not addressed to it.
//!
//! # Selection
//!
//! Routes of the same prefix are ranked `User` > `VirtualNetworkGateway` > `Default`; the winner
//! is `Active`, the others `Invalid` with `overriddenBy` naming the winner (first written wins
//! among equals). As Azure documents, the system routes for the VNet, peerings and service
//! endpoints are preferred to gateway routes even when those are more specific: a gateway route
//! inside a `VnetLocal` or `VNetPeering` prefix is `Invalid`. The next hop for a destination is the
//! `Active` route with the longest prefix containing it.
//!
//! # IPv6
//!
//! Prefixes of either family are handled alike (longest prefix match within the destination's
//! family). When the VNet has an IPv6 address space, `::/0` → `Internet` is added as a system
//! route (as observed for dual-stack VNets; the reserved `None` ranges are IPv4 only). This is
//! not checked against a documented Azure example.
//!
//! # Not modelled
//!
//! Cross-region peering is shown as `VNetPeering` (the VNet's location is not in the model, so
//! `VNetGlobalPeering` is not distinguished); routes of Virtual Network Manager (`ConnectedGroup`),
//! service-tag UDR prefixes and the service endpoints' public prefixes are not resolved; whether
//! a VPN gateway exists for a `VirtualNetworkGateway` next hop is not checked.

use crate::nsg::config::{NetworkConfig, Nic, Subnet, Vnet};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::net::IpAddr;

/// Where a route comes from (`source` in the REST answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// A system route.
    Default,
    /// A route learned from (here: supplied for) the virtual network gateway.
    VirtualNetworkGateway,
    /// A user-defined route of the subnet's route table.
    User,
    /// Anything else Azure reports.
    Unknown,
}

impl Source {
    /// Rank among routes of the same prefix: higher wins.
    fn rank(self) -> u8 {
        match self {
            Source::User => 3,
            Source::VirtualNetworkGateway => 2,
            Source::Default => 1,
            Source::Unknown => 0,
        }
    }
}

/// Whether the route is used (`state` in the REST answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// In use for its prefix.
    Active,
    /// Overridden by another route.
    Invalid,
}

/// Next hop types as the REST API spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NextHopType {
    /// Within the VNet.
    VnetLocal,
    /// Out to the Internet.
    Internet,
    /// Dropped.
    None,
    /// A network virtual appliance at `nextHopIpAddress`.
    VirtualAppliance,
    /// The VNet's gateway.
    VirtualNetworkGateway,
    /// A peered VNet.
    VNetPeering,
    /// A peered VNet in another region.
    VNetGlobalPeering,
    /// A service endpoint.
    VirtualNetworkServiceEndpoint,
}

impl NextHopType {
    /// The type a user route names (case-insensitive); `None` for types a UDR cannot use.
    pub fn parse_udr(s: &str) -> Option<Self> {
        let t = s.trim();
        [
            NextHopType::VirtualAppliance,
            NextHopType::VirtualNetworkGateway,
            NextHopType::VnetLocal,
            NextHopType::Internet,
            NextHopType::None,
        ]
        .into_iter()
        .find(|n| n.as_str().eq_ignore_ascii_case(t))
    }

    /// The REST spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NextHopType::VnetLocal => "VnetLocal",
            NextHopType::Internet => "Internet",
            NextHopType::None => "None",
            NextHopType::VirtualAppliance => "VirtualAppliance",
            NextHopType::VirtualNetworkGateway => "VirtualNetworkGateway",
            NextHopType::VNetPeering => "VNetPeering",
            NextHopType::VNetGlobalPeering => "VNetGlobalPeering",
            NextHopType::VirtualNetworkServiceEndpoint => "VirtualNetworkServiceEndpoint",
        }
    }
}

impl fmt::Display for NextHopType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One effective route, in the REST field names (`name`, `source`, `state`, `addressPrefix`,
/// `nextHopType`, `nextHopIpAddress`) plus azir's explanations, left out when empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveRoute {
    /// The user route's name (`null` for system and gateway routes).
    #[serde(default)]
    pub name: Option<String>,
    /// Where it comes from.
    pub source: Source,
    /// Active or Invalid.
    pub state: State,
    /// Prefixes as written (a UDR may name a service tag; a service endpoint's are unknown: empty).
    #[serde(default)]
    pub address_prefix: Vec<String>,
    /// Next hop type.
    pub next_hop_type: NextHopType,
    /// Next hop addresses (appliance or gateway).
    #[serde(default)]
    pub next_hop_ip_address: Vec<String>,
    /// The service of a service-endpoint route (azir).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Why an `Invalid` route is not used (azir).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overridden_by: Option<String>,
    /// A warning about this route (azir), e.g. an appliance without IP forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// The parsed prefixes (those of `address_prefix` that are CIDRs).
    #[serde(skip)]
    pub nets: Vec<IpNet>,
}

impl EffectiveRoute {
    fn new(source: Source, net: Option<IpNet>, hop: NextHopType) -> Self {
        EffectiveRoute {
            name: None,
            source,
            state: State::Active,
            address_prefix: net.iter().map(|n| n.to_string()).collect(),
            next_hop_type: hop,
            next_hop_ip_address: Vec::new(),
            service: None,
            overridden_by: None,
            warning: None,
            nets: net.into_iter().collect(),
        }
    }

    /// Fills `nets` from `address_prefix` (after deserializing an answer).
    pub fn parse_nets(&mut self) {
        self.nets =
            self.address_prefix.iter().filter_map(|p| p.trim().parse::<IpNet>().ok()).map(|n| n.trunc()).collect();
    }

    /// A short label: `User Default-NVA 0.0.0.0/0`.
    pub fn label(&self) -> String {
        let src = match self.source {
            Source::Default => "Default",
            Source::VirtualNetworkGateway => "VirtualNetworkGateway",
            Source::User => "User",
            Source::Unknown => "Unknown",
        };
        let name = self.name.as_deref().map(|n| format!(" {n}")).unwrap_or_default();
        format!("{src}{name} {} → {}", self.address_prefix.join(","), self.next_hop_type)
    }
}

/// A route the virtual network gateway propagates (`--gateway-routes`).
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayRoute {
    /// Destination prefix.
    pub prefix: IpNet,
    /// Next hop (the gateway's or the on-premises peer's address), when given.
    pub next_hop: Option<IpAddr>,
}

/// Parses a gateway route list: a JSON array (or `{"value":[...]}`) of objects with
/// `addressPrefix` (string or list) and `nextHopIpAddress` (string or list); `network` and
/// `nextHop` (the shape of `az network vnet-gateway list-learned-routes`) are read too.
pub fn parse_gateway_routes(text: &str) -> Result<Vec<GatewayRoute>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let items = match &v {
        Value::Array(a) => a.as_slice(),
        Value::Object(o) => {
            o.get("value").and_then(Value::as_array).map(Vec::as_slice).ok_or("expected a JSON list")?
        }
        _ => return Err("expected a JSON list of {addressPrefix, nextHopIpAddress}".into()),
    };
    let strings = |x: Option<&Value>| -> Vec<String> {
        match x {
            Some(Value::String(s)) => vec![s.trim().to_string()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(|s| s.trim().to_string()).collect(),
            _ => Vec::new(),
        }
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = |a: &str, b: &str| strings(item.get(a).or_else(|| item.get(b)));
        let prefixes = field("addressPrefix", "network");
        if prefixes.is_empty() {
            return Err(format!("entry {}: no addressPrefix", i + 1));
        }
        let hop = field("nextHopIpAddress", "nextHop");
        let next_hop = match hop.first().filter(|h| !h.is_empty()) {
            Some(h) => {
                Some(h.parse::<IpAddr>().map_err(|_| format!("entry {}: nextHopIpAddress {h:?} is not an IP", i + 1))?)
            }
            None => None,
        };
        for p in prefixes {
            let prefix =
                p.parse::<IpNet>().map_err(|_| format!("entry {}: addressPrefix {p:?} is not a CIDR", i + 1))?.trunc();
            out.push(GatewayRoute { prefix, next_hop });
        }
    }
    Ok(out)
}

/// The effective route table of a NIC.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteTableResult {
    /// The NIC (id as written).
    pub nic_id: String,
    /// The NIC's name.
    pub nic_name: String,
    /// The subnet whose routes apply (id as written).
    pub subnet_id: Option<String>,
    /// The route table of the subnet (id as written).
    pub route_table_id: Option<String>,
    /// The routes: system, then gateway, then user routes, in the order Azure lists them.
    pub value: Vec<EffectiveRoute>,
    /// What the answer rests on or leaves out.
    pub notes: Vec<String>,
}

/// The reserved ranges Azure routes to `None`, in the order Azure lists them.
pub const RESERVED: [&str; 4] = ["10.0.0.0/8", "100.64.0.0/10", "172.16.0.0/12", "192.168.0.0/16"];

/// Computes the effective routes of `nic`.
pub fn effective_routes(config: &NetworkConfig, nic: &Nic, gateway: &[GatewayRoute]) -> RouteTableResult {
    let mut notes = Vec::new();
    let ipc = nic.ip_configs.iter().find(|c| c.primary).or_else(|| nic.ip_configs.first());
    let subnet_id = ipc.and_then(|c| c.subnet.clone());
    if nic.ip_configs.iter().filter_map(|c| c.subnet.as_deref()).any(|s| Some(s) != subnet_id.as_deref()) {
        notes.push(
            "the NIC's IP configurations are in several subnets: the primary configuration's subnet is used".into(),
        );
    }
    let subnet: Option<&Subnet> = subnet_id.as_deref().and_then(|s| config.subnets.get(s));
    let vnet: Option<&Vnet> = subnet_id.as_deref().and_then(|s| config.vnet_of_subnet(s));
    match (&subnet_id, subnet, vnet) {
        (None, ..) => {
            notes.push(format!("NIC {} has no subnet in its configuration: only the default routes", nic.name))
        }
        (Some(s), None, _) => {
            notes.push(format!("subnet {s} is not in the case: its route table and service endpoints are unknown"))
        }
        (Some(s), _, None) => {
            notes.push(format!("the VNet of subnet {s} is not in the case: its address space and peerings are unknown"))
        }
        _ => {}
    }
    let mut routes: Vec<EffectiveRoute> = Vec::new();

    // System routes.
    let space: Vec<IpNet> = match (vnet, subnet) {
        (Some(v), _) => v.prefixes.clone(),
        (None, Some(s)) => s.prefixes.clone(),
        (None, None) => Vec::new(),
    };
    for p in &space {
        routes.push(EffectiveRoute::new(Source::Default, Some(*p), NextHopType::VnetLocal));
    }
    routes.push(EffectiveRoute::new(Source::Default, "0.0.0.0/0".parse().ok(), NextHopType::Internet));
    for r in RESERVED {
        let r: IpNet = r.parse().expect("constant CIDR");
        if !space.iter().any(|p| p.contains(&r)) {
            routes.push(EffectiveRoute::new(Source::Default, Some(r), NextHopType::None));
        }
    }
    if space.iter().any(|p| matches!(p, IpNet::V6(_))) {
        routes.push(EffectiveRoute::new(Source::Default, "::/0".parse().ok(), NextHopType::Internet));
    }
    if let Some(v) = vnet {
        for p in &v.peerings {
            let connected = p.state.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("Connected"));
            if !connected {
                notes.push(format!(
                    "peering {} is {}: its routes are not in effect",
                    p.name,
                    p.state.as_deref().unwrap_or("of unknown state")
                ));
                continue;
            }
            let mut prefixes = p.remote_prefixes.clone();
            if prefixes.is_empty() {
                if let Some(remote) = p.remote.as_deref().and_then(|r| config.vnets.get(r)) {
                    prefixes = remote.prefixes.clone();
                }
            }
            if prefixes.is_empty() {
                notes.push(format!("peering {}: the remote address space is unknown", p.name));
            }
            prefixes.dedup();
            for n in prefixes {
                routes.push(EffectiveRoute::new(Source::Default, Some(n), NextHopType::VNetPeering));
            }
        }
    }
    if let Some(s) = subnet {
        for svc in &s.service_endpoints {
            let mut r = EffectiveRoute::new(Source::Default, None, NextHopType::VirtualNetworkServiceEndpoint);
            r.service = Some(svc.clone());
            routes.push(r);
        }
        if !s.service_endpoints.is_empty() {
            notes.push(format!(
                "service endpoints ({}): the services' public prefixes are not known offline; those routes are listed without prefixes and not used for --dst",
                s.service_endpoints.join(", ")
            ));
        }
    }

    // Gateway routes, unless the route table stops their propagation.
    let table = subnet.and_then(|s| s.route_table.as_deref()).map(|id| (id, config.route_table_info.get(id)));
    let bgp_disabled = matches!(table, Some((_, Some(t))) if t.disable_bgp_propagation);
    if bgp_disabled && !gateway.is_empty() {
        notes.push(format!(
            "{} gateway route(s) not applied: the route table disables gateway route propagation (disableBgpRoutePropagation)",
            gateway.len()
        ));
    } else {
        for g in gateway {
            let mut r =
                EffectiveRoute::new(Source::VirtualNetworkGateway, Some(g.prefix), NextHopType::VirtualNetworkGateway);
            r.next_hop_ip_address = g.next_hop.iter().map(IpAddr::to_string).collect();
            routes.push(r);
        }
    }

    // User routes.
    let mut route_table_id = None;
    match table {
        Some((id, None)) => notes.push(format!("route table {id} is not in the case: its user routes are unknown")),
        Some((_, Some(t))) => {
            route_table_id = Some(t.id.clone());
            for u in &t.routes {
                let Some(hop) = NextHopType::parse_udr(&u.next_hop_type) else {
                    notes.push(format!(
                        "route {} of {}: next hop type {:?} is not one a user route can have (left out)",
                        u.name, t.name, u.next_hop_type
                    ));
                    continue;
                };
                let net = u.prefix.trim().parse::<IpNet>().ok().map(|n| n.trunc());
                let mut r = EffectiveRoute::new(Source::User, net, hop);
                r.name = Some(u.name.clone());
                if net.is_none() {
                    r.address_prefix = vec![u.prefix.clone()];
                    notes.push(format!(
                        "route {}: prefix {:?} is a service tag (or unreadable) and is not resolved offline: not used for --dst",
                        u.name, u.prefix
                    ));
                }
                if let Some(ip) = u.next_hop_ip.as_deref().filter(|_| hop == NextHopType::VirtualAppliance) {
                    r.next_hop_ip_address = vec![ip.to_string()];
                    r.warning = appliance_warning(config, ip);
                } else if hop == NextHopType::VirtualAppliance {
                    r.warning = Some("VirtualAppliance route without nextHopIpAddress".into());
                }
                routes.push(r);
            }
        }
        None => {}
    }

    select(&mut routes);
    RouteTableResult {
        nic_id: nic.id.clone(),
        nic_name: nic.name.clone(),
        subnet_id: subnet.map(|s| s.id.clone()).or(subnet_id),
        route_table_id,
        value: routes,
        notes,
    }
}

/// The warning for a `VirtualAppliance` next hop: not an IP, or a NIC without IP forwarding.
fn appliance_warning(config: &NetworkConfig, ip: &str) -> Option<String> {
    let Ok(addr) = ip.trim().parse::<IpAddr>() else {
        return Some(format!("next hop {ip:?} is not an IP address"));
    };
    let nic = config.nics.iter().find(|n| n.ip_configs.iter().any(|c| c.private_ip == Some(addr)))?;
    (!nic.ip_forwarding).then(|| {
        format!("next hop {addr} is NIC {} without IP forwarding: it drops traffic not addressed to it", nic.name)
    })
}

/// Sets `state` and `overridden_by`: per prefix the highest source wins; gateway routes inside
/// the VNet's or a peering's space lose to the system route.
fn select(routes: &mut [EffectiveRoute]) {
    let n = routes.len();
    for i in 0..n {
        let Some(&net) = routes[i].nets.first() else { continue };
        // Same prefix: a higher source, or the same source written earlier.
        let winner = (0..n).find(|&j| {
            j != i
                && routes[j].nets.first() == Some(&net)
                && (routes[j].source.rank() > routes[i].source.rank()
                    || (routes[j].source.rank() == routes[i].source.rank() && j < i))
        });
        let winner = winner.or_else(|| {
            (routes[i].source == Source::VirtualNetworkGateway)
                .then(|| {
                    (0..n).find(|&j| {
                        routes[j].source == Source::Default
                            && matches!(routes[j].next_hop_type, NextHopType::VnetLocal | NextHopType::VNetPeering)
                            && routes[j].nets.first().is_some_and(|s| s.contains(&net))
                    })
                })
                .flatten()
        });
        if let Some(j) = winner {
            let label = routes[j].label();
            routes[i].state = State::Invalid;
            routes[i].overridden_by = Some(label);
        }
    }
}

/// The route chosen for `dst`: the `Active` route with the longest prefix holding it.
pub fn next_hop(routes: &[EffectiveRoute], dst: IpAddr) -> Option<&EffectiveRoute> {
    routes
        .iter()
        .filter(|r| r.state == State::Active)
        .filter_map(|r| r.nets.iter().filter(|n| n.contains(&dst)).map(|n| n.prefix_len()).max().map(|l| (l, r)))
        .max_by_key(|(l, _)| *l)
        .map(|(_, r)| r)
}

/// The next hop in words: `VirtualAppliance 10.0.100.4`, `None (dropped)`, `Internet`.
pub fn describe_hop(r: &EffectiveRoute) -> String {
    match r.next_hop_type {
        NextHopType::None => "None (dropped)".into(),
        t if !r.next_hop_ip_address.is_empty() => format!("{t} {}", r.next_hop_ip_address.join(", ")),
        t => t.to_string(),
    }
}

#[cfg(test)]
mod tests;
