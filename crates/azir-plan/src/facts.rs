//! What the plans need to know about the case, gathered from its `resources` rows and from the
//! audit events behind its findings: address spaces in use (VNets, peerings, routes), VMs with
//! their NICs and disks, Bastion subnets, snapshots, and credentials added to applications and
//! service principals during the incident.

use azir_model::Resource;
use azir_net::nsg::NetworkConfig;
use ipnet::IpNet;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// An address range the DFIR network must not overlap, and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnownPrefix {
    /// The range.
    #[serde(serialize_with = "crate::addr::ser_net")]
    pub prefix: IpNet,
    /// `vnet NAME`, `peering of NAME`, `route table NAME`.
    pub source: String,
}

/// A VNet of the case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VnetFact {
    /// Resource id as written.
    pub id: String,
    /// Name.
    pub name: String,
    /// Subscription id (lower-cased).
    pub subscription: String,
    /// Resource group as written.
    pub resource_group: String,
    /// Address spaces.
    #[serde(serialize_with = "crate::addr::ser_nets")]
    pub prefixes: Vec<IpNet>,
    /// Address spaces of its peers (as the peering records them, and of remote VNets known to
    /// the case).
    #[serde(serialize_with = "crate::addr::ser_nets")]
    pub peer_prefixes: Vec<IpNet>,
    /// Prefixes of its `AzureBastionSubnet`, when it has one.
    #[serde(serialize_with = "crate::addr::ser_nets")]
    pub bastion_prefixes: Vec<IpNet>,
}

/// A NIC of a VM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NicFact {
    /// Resource id.
    pub id: String,
    /// Name.
    pub name: String,
    /// NSG applied to the NIC (id), if any.
    pub nsg: Option<String>,
    /// Subnet ids of its IP configurations.
    pub subnets: Vec<String>,
    /// Private address of its primary IP configuration.
    pub ip: Option<IpAddr>,
}

/// A VM of the case (from VM resources, or from the NICs that name it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VmFact {
    /// Resource id as written.
    pub id: String,
    /// Name.
    pub name: String,
    /// Subscription id (lower-cased).
    pub subscription: String,
    /// Resource group.
    pub resource_group: String,
    /// Region, when known.
    pub location: Option<String>,
    /// NICs.
    pub nics: Vec<NicFact>,
    /// Managed disk ids from `storageProfile` (empty when the case has no VM resource).
    pub disks: Vec<String>,
}

/// A credential added to an application or service principal, read from an Entra audit record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AddedCredential {
    /// `Application` or `ServicePrincipal`.
    pub target_type: String,
    /// Object id of the application or service principal.
    pub object_id: String,
    /// The application (client) id, when the record carries it.
    pub app_id: Option<String>,
    /// Display name.
    pub display_name: String,
    /// The credential's key id.
    pub key_id: String,
    /// `Password`, `AsymmetricX509Cert`, …
    pub key_type: String,
    /// Who added it.
    pub actor: Option<String>,
    /// When (as written in the record).
    pub time: Option<String>,
    /// The event it was read from.
    pub event_id: String,
}

impl AddedCredential {
    /// A certificate rather than a secret.
    pub fn is_certificate(&self) -> bool {
        self.key_type.to_ascii_lowercase().contains("cert") || self.key_type.to_ascii_lowercase().contains("asymmetric")
    }

    /// The credential belongs to `id` (object id, app id or display name, case-insensitively).
    pub fn matches(&self, id: &str) -> bool {
        self.object_id.eq_ignore_ascii_case(id)
            || self.app_id.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(id))
            || self.display_name.eq_ignore_ascii_case(id)
    }
}

/// A role assignment named by a finding (granted during the incident).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantFact {
    /// The role assignment id.
    pub id: String,
    /// Who granted it, per the finding.
    pub users: Vec<String>,
    /// The finding's title.
    pub title: String,
}

/// Everything the plans read from the case.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaseFacts {
    /// The case id (tags, deterministic names).
    pub case_id: String,
    /// VNets, sorted by name.
    pub vnets: Vec<VnetFact>,
    /// Ranges in use: VNet spaces, peerings, UDR prefixes.
    pub known: Vec<KnownPrefix>,
    /// VMs, sorted by name.
    pub vms: Vec<VmFact>,
    /// Snapshot ids found among the resources.
    pub snapshots: Vec<String>,
    /// Credentials added during the incident (from the findings' events).
    pub credentials: Vec<AddedCredential>,
    /// Role assignments named by findings.
    pub grants: Vec<GrantFact>,
    /// Notes about what could not be read.
    pub notes: Vec<String>,
    /// The network configuration the facts come from (for NSG evaluation).
    #[serde(skip)]
    pub config: NetworkConfig,
}

/// `(subscription, resource group)` of an ARM id.
pub fn sub_and_rg(id: &str) -> (String, String) {
    let parts: Vec<&str> = id.split('/').collect();
    let after = |key: &str| {
        parts
            .iter()
            .position(|p| p.eq_ignore_ascii_case(key))
            .and_then(|i| parts.get(i + 1))
            .map(|s| s.to_string())
            .unwrap_or_default()
    };
    (after("subscriptions").to_ascii_lowercase(), after("resourceGroups"))
}

fn last_segment(id: &str) -> String {
    id.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_string()
}

fn prop<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let p = v.get("properties").filter(|p| p.is_object()).unwrap_or(v);
    p.get(key).or_else(|| v.get(key))
}

impl CaseFacts {
    /// Facts from the case's resources (the latest snapshot of each).
    pub fn from_resources(case_id: &str, resources: &[Resource]) -> Self {
        let cfg = NetworkConfig::from_resources(resources, None);
        let mut f = CaseFacts { case_id: case_id.to_string(), notes: cfg.notes.clone(), ..Default::default() };
        let (latest, _) = azir_net::nsg::config::snapshot_at(resources, None);
        let mut bastion_subnets: Vec<String> = Vec::new();
        let mut vm_extra: BTreeMap<String, (Option<String>, Vec<String>)> = BTreeMap::new();
        let mut locations: BTreeMap<String, String> = BTreeMap::new();
        for r in &latest {
            if let Some(l) = &r.location {
                locations.insert(r.id_lower.clone(), l.clone());
            }
            let kind = r.kind.to_ascii_lowercase();
            if kind == "microsoft.compute/snapshots" {
                f.snapshots.push(r.id.clone());
            } else if kind == "microsoft.network/bastionhosts" {
                if let Ok(v) = serde_json::from_str::<Value>(&r.json) {
                    for ic in prop(&v, "ipConfigurations").and_then(Value::as_array).into_iter().flatten() {
                        if let Some(s) = prop(ic, "subnet").and_then(|s| s.get("id")).and_then(Value::as_str) {
                            bastion_subnets.push(s.to_ascii_lowercase());
                        }
                    }
                }
            } else if kind == "microsoft.compute/virtualmachines" {
                if let Ok(v) = serde_json::from_str::<Value>(&r.json) {
                    let sp = prop(&v, "storageProfile");
                    let mut disks = Vec::new();
                    if let Some(os) = sp.and_then(|s| s.get("osDisk")) {
                        if let Some(id) = os.get("managedDisk").and_then(|m| m.get("id")).and_then(Value::as_str) {
                            disks.push(id.to_string());
                        }
                    }
                    for d in sp.and_then(|s| s.get("dataDisks")).and_then(Value::as_array).into_iter().flatten() {
                        if let Some(id) = d.get("managedDisk").and_then(|m| m.get("id")).and_then(Value::as_str) {
                            disks.push(id.to_string());
                        }
                    }
                    vm_extra.insert(r.id_lower.clone(), (r.location.clone(), disks));
                }
            }
        }
        let mut vnets: Vec<VnetFact> = cfg
            .vnets
            .values()
            .map(|v| {
                let (subscription, resource_group) = sub_and_rg(&v.id);
                let mut peer_prefixes = Vec::new();
                for p in &v.peerings {
                    peer_prefixes.extend(p.remote_prefixes.iter().copied());
                    if let Some(remote) = p.remote.as_deref().and_then(|r| cfg.vnets.get(r)) {
                        peer_prefixes.extend(remote.prefixes.iter().copied());
                    }
                }
                peer_prefixes.sort();
                peer_prefixes.dedup();
                let vid = v.id.to_ascii_lowercase();
                let bastion_prefixes = cfg
                    .subnets
                    .iter()
                    .filter(|(sid, s)| {
                        sid.starts_with(&format!("{vid}/subnets/"))
                            && (s.name.eq_ignore_ascii_case("AzureBastionSubnet") || bastion_subnets.contains(sid))
                    })
                    .flat_map(|(_, s)| s.prefixes.iter().copied())
                    .collect();
                VnetFact {
                    id: v.id.clone(),
                    name: v.name.clone(),
                    subscription,
                    resource_group,
                    prefixes: v.prefixes.clone(),
                    peer_prefixes,
                    bastion_prefixes,
                }
            })
            .collect();
        vnets.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        for v in &vnets {
            for p in &v.prefixes {
                f.known.push(KnownPrefix { prefix: *p, source: format!("vnet {}", v.name) });
            }
            for p in &v.peer_prefixes {
                f.known.push(KnownPrefix { prefix: *p, source: format!("peer of vnet {}", v.name) });
            }
        }
        let mut rts: Vec<(&String, &Vec<IpNet>)> = cfg.route_tables.iter().collect();
        rts.sort();
        for (id, routes) in rts {
            for p in routes {
                // Default routes are not a range in use.
                if p.prefix_len() > 0 {
                    f.known.push(KnownPrefix { prefix: *p, source: format!("route table {}", last_segment(id)) });
                }
            }
        }
        f.known.sort_by(|a, b| a.prefix.cmp(&b.prefix).then(a.source.cmp(&b.source)));
        f.known.dedup_by(|a, b| a.prefix == b.prefix);
        f.vnets = vnets;
        // VMs: the VM resources, and VMs only known from the NICs that name them.
        let mut vms: BTreeMap<String, VmFact> = BTreeMap::new();
        for vm in &cfg.vms {
            let (subscription, resource_group) = sub_and_rg(&vm.id);
            vms.insert(
                vm.id.to_ascii_lowercase(),
                VmFact { id: vm.id.clone(), name: vm.name.clone(), subscription, resource_group, ..Default::default() },
            );
        }
        for nic in &cfg.nics {
            let Some(vm_id) = &nic.vm else { continue };
            let entry = vms.entry(vm_id.clone()).or_insert_with(|| {
                // The NIC records the VM id lower-cased by the config; recover the written case
                // from the NIC's own id prefix where the two share a resource group.
                let id = written_vm_id(&nic.id, vm_id);
                let (subscription, resource_group) = sub_and_rg(&id);
                VmFact { name: last_segment(&id), id, subscription, resource_group, ..Default::default() }
            });
            entry.nics.push(NicFact {
                id: nic.id.clone(),
                name: nic.name.clone(),
                nsg: nic.nsg.clone(),
                subnets: nic.ip_configs.iter().filter_map(|c| c.subnet.clone()).collect(),
                ip: nic.ip_configs.iter().find(|c| c.primary).or(nic.ip_configs.first()).and_then(|c| c.private_ip),
            });
            if entry.location.is_none() {
                entry.location = locations.get(&nic.id.to_ascii_lowercase()).cloned();
            }
        }
        for (id, vm) in vms.iter_mut() {
            if let Some((loc, disks)) = vm_extra.get(id) {
                vm.disks = disks.clone();
                if loc.is_some() {
                    vm.location = loc.clone();
                }
            }
        }
        f.vms = vms.into_values().collect();
        f.vms.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        f.snapshots.sort();
        f.config = cfg;
        f
    }

    /// The VM named `name` (or with that id), case-insensitively.
    pub fn vm(&self, name: &str) -> Option<&VmFact> {
        self.vms.iter().find(|v| v.name.eq_ignore_ascii_case(name) || v.id.eq_ignore_ascii_case(name))
    }

    /// The VNet named `name` (or with that id), case-insensitively.
    pub fn vnet(&self, name: &str) -> Option<&VnetFact> {
        self.vnets.iter().find(|v| v.name.eq_ignore_ascii_case(name) || v.id.eq_ignore_ascii_case(name))
    }

    /// The VNet holding a subnet id.
    pub fn vnet_of_subnet(&self, subnet: &str) -> Option<&VnetFact> {
        let s = subnet.to_ascii_lowercase();
        self.vnets.iter().find(|v| s.starts_with(&format!("{}/subnets/", v.id.to_ascii_lowercase())))
    }
}

/// A VM id in the spelling of the NIC's id when both sit in the same subscription and group.
fn written_vm_id(nic_id: &str, vm_lower: &str) -> String {
    let marker = "/providers/";
    if let (Some(i), Some(j)) = (nic_id.to_ascii_lowercase().find(marker), vm_lower.find(marker)) {
        if nic_id[..i].eq_ignore_ascii_case(&vm_lower[..j]) {
            let tail = &vm_lower[j..];
            let tail = tail.replace(
                "/providers/microsoft.compute/virtualmachines/",
                "/providers/Microsoft.Compute/virtualMachines/",
            );
            return format!("{}{}", &nic_id[..i], tail);
        }
    }
    vm_lower.to_string()
}

/// Case-insensitive key lookup.
fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

/// A value that may be JSON written inside a string (Log Analytics exports).
fn unstring(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        other => other.clone(),
    }
}

fn str_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string).filter(|s| !s.is_empty())
}

/// `(key id, key type)` of every `[KeyIdentifier=…,KeyType=…]` in a `KeyDescription` value.
fn key_descriptions(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in s.split("KeyIdentifier=").skip(1) {
        let id: String = part.chars().take_while(|c| c.is_ascii_hexdigit() || *c == '-').collect();
        let kt = part
            .split("KeyType=")
            .nth(1)
            .filter(|_| part.find("KeyType=").is_some_and(|i| !part[..i].contains("KeyIdentifier=")))
            .map(|t| t.chars().take_while(|c| c.is_ascii_alphanumeric()).collect())
            .unwrap_or_default();
        if !id.is_empty() {
            out.push((id, kt));
        }
    }
    out
}

/// The credentials an Entra audit record (Graph, diagnostic or Log Analytics shape) says were
/// added: key ids in `KeyDescription`'s new value and not in its old one.
pub fn credentials_from_audit(raw: &str, event_id: &str) -> Vec<AddedCredential> {
    let Ok(mut v) = serde_json::from_str::<Value>(raw) else { return Vec::new() };
    // Diagnostic shape: the audit record sits under `properties`.
    if get(&v, "targetResources").is_none() {
        if let Some(p) = get(&v, "properties").filter(|p| p.is_object()) {
            v = p.clone();
        }
    }
    let time = str_of(get(&v, "activityDateTime")).or_else(|| str_of(get(&v, "TimeGenerated")));
    let initiated = get(&v, "initiatedBy").map(unstring).unwrap_or(Value::Null);
    let actor = get(&initiated, "user")
        .and_then(|u| str_of(get(u, "userPrincipalName")))
        .or_else(|| get(&initiated, "app").and_then(|a| str_of(get(a, "displayName"))));
    let details = get(&v, "additionalDetails").map(unstring).unwrap_or(Value::Null);
    let app_id = details
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| get(d, "key").and_then(Value::as_str).is_some_and(|k| k.eq_ignore_ascii_case("AppId")))
        .and_then(|d| str_of(get(d, "value")));
    let targets = get(&v, "targetResources").map(unstring).unwrap_or(Value::Null);
    let mut out = Vec::new();
    for t in targets.as_array().into_iter().flatten() {
        let target_type = str_of(get(t, "type")).unwrap_or_default();
        let Some(object_id) = str_of(get(t, "id")) else { continue };
        let display_name = str_of(get(t, "displayName")).unwrap_or_default();
        let mods = get(t, "modifiedProperties").map(unstring).unwrap_or(Value::Null);
        for m in mods.as_array().into_iter().flatten() {
            if !get(m, "displayName").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case("KeyDescription"))
            {
                continue;
            }
            let new = get(m, "newValue").and_then(Value::as_str).unwrap_or_default();
            let old = get(m, "oldValue").and_then(Value::as_str).unwrap_or_default();
            let old_ids: Vec<String> = key_descriptions(old).into_iter().map(|k| k.0.to_ascii_lowercase()).collect();
            for (key_id, key_type) in key_descriptions(new) {
                if old_ids.contains(&key_id.to_ascii_lowercase()) {
                    continue;
                }
                out.push(AddedCredential {
                    target_type: target_type.clone(),
                    object_id: object_id.clone(),
                    app_id: app_id.clone(),
                    display_name: display_name.clone(),
                    key_id,
                    key_type,
                    actor: actor.clone(),
                    time: time.clone(),
                    event_id: event_id.to_string(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_added_not_kept() {
        let raw = r#"{"activityDateTime":"2026-03-12T03:37:02Z","additionalDetails":[{"key":"AppId","value":"303eaaf8-969d-4672-9f8c-671bc3d95ed8"}],
          "initiatedBy":{"user":{"userPrincipalName":"megan@contoso.com"}},
          "targetResources":[{"displayName":"Azure Sync Service","id":"057fb225-a17e-4822-a5be-55bb582c43eb","type":"ServicePrincipal",
            "modifiedProperties":[{"displayName":"KeyDescription",
              "newValue":"[\"[KeyIdentifier=aaaaaaaa-0000-0000-0000-000000000001,KeyType=Password,KeyUsage=Verify,DisplayName=old]\",\"[KeyIdentifier=157c1e36-0977-4db0-81ea-b7075adfcddd,KeyType=AsymmetricX509Cert,KeyUsage=Verify,DisplayName=x]\"]",
              "oldValue":"[\"[KeyIdentifier=aaaaaaaa-0000-0000-0000-000000000001,KeyType=Password,KeyUsage=Verify,DisplayName=old]\"]"}]}]}"#;
        let c = credentials_from_audit(raw, "e1");
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].key_id, "157c1e36-0977-4db0-81ea-b7075adfcddd");
        assert_eq!(c[0].key_type, "AsymmetricX509Cert");
        assert!(c[0].is_certificate());
        assert_eq!(c[0].app_id.as_deref(), Some("303eaaf8-969d-4672-9f8c-671bc3d95ed8"));
        assert_eq!(c[0].actor.as_deref(), Some("megan@contoso.com"));
        assert!(c[0].matches("azure sync service") && c[0].matches("303EAAF8-969d-4672-9f8c-671bc3d95ed8"));
        // Log Analytics shape: JSON inside strings, capitalised keys.
        let la = serde_json::json!({"TargetResources": serde_json::to_string(&serde_json::json!([{"id":"o1","type":"Application","displayName":"a",
            "modifiedProperties":[{"displayName":"KeyDescription","newValue":"[\"[KeyIdentifier=bbbb-1,KeyType=Password]\"]","oldValue":"[]"}]}])).unwrap()});
        let c = credentials_from_audit(&la.to_string(), "e2");
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].key_id.as_str(), c[0].key_type.as_str()), ("bbbb-1", "Password"));
        assert!(credentials_from_audit("not json", "e").is_empty());
    }

    #[test]
    fn ids() {
        assert_eq!(
            sub_and_rg("/subscriptions/ABC/resourceGroups/Rg-1/providers/x/y/z"),
            ("abc".to_string(), "Rg-1".to_string())
        );
        assert_eq!(
            written_vm_id(
                "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Network/networkInterfaces/n",
                "/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm-1"
            ),
            "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/vm-1"
        );
    }
}
