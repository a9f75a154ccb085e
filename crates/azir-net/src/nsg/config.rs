//! The network configuration in force at one instant, built from `resources` rows: NSGs with
//! their rules, NICs with their IP configurations, subnets, VNets with peerings, route tables
//! and VMs, all keyed by lower-cased resource id.

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
}

impl Nsg {
    /// An NSG from its rules (the defaults are added when none is among them).
    pub fn new(id: &str, name: &str, mut rules: Vec<Rule>, time: Option<i64>) -> Self {
        let synth = !rules.iter().any(|r| r.set == RuleSet::Default);
        if synth {
            rules.extend(default_rules());
        }
        rules.sort_by_key(|r| (r.direction, r.priority, r.set == RuleSet::Default));
        Nsg { id: id.to_string(), name: name.to_string(), rules, time, defaults_synthesised: synth }
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
}

/// A VNet peering.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Peering {
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
    }
}

fn peering_from(v: &Value) -> Peering {
    let mut remote_prefixes = nets(prop(v, "remoteAddressSpace").and_then(|s| s.get("addressPrefixes")));
    remote_prefixes.extend(nets(prop(v, "remoteVirtualNetworkAddressSpace").and_then(|s| s.get("addressPrefixes"))));
    Peering {
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
            } else if kind(r, "Microsoft.Network/networkInterfaces") {
                let ip_configs = array(v, "ipConfigurations")
                    .iter()
                    .map(|ic| IpConfig {
                        name: ic.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
                        private_ip: prop(ic, "privateIPAddress")
                            .and_then(Value::as_str)
                            .and_then(|s| s.trim().parse().ok()),
                        subnet: id_of(prop(ic, "subnet")),
                        asgs: prop(ic, "applicationSecurityGroups")
                            .and_then(Value::as_array)
                            .map(|a| a.iter().filter_map(|x| id_of(Some(x))).collect())
                            .unwrap_or_default(),
                        primary: prop(ic, "primary").and_then(Value::as_bool).unwrap_or(false),
                    })
                    .collect();
                c.nics.push(Nic {
                    id: r.id.clone(),
                    name: r.name.clone(),
                    ip_configs,
                    nsg: id_of(prop(v, "networkSecurityGroup")),
                    vm: id_of(prop(v, "virtualMachine")),
                });
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
