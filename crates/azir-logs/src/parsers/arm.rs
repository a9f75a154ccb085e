//! Network configuration: ARM resources (NSGs and their rules, VNets, subnets, peerings, NICs,
//! ASGs, route tables, public IPs, load balancers, application gateways, Bastion hosts,
//! firewalls, VMs) as ARM REST, the `az` CLI and Resource Graph return them.
//!
//! # Recognition
//!
//! A record is a resource when its `type` (any case: Resource Graph writes it lower-case) is one
//! of [`TYPES`]. Child resources nested in their parent (subnets in a VNet, rules in an NSG, IP
//! configurations in a NIC) are not records of their own: they stay inside the parent's JSON,
//! where `az` often writes them without a `type`. A child listed on its own (`az network vnet
//! subnet list`, `az network nsg rule list`) is a resource row of its own type.
//!
//! # Shapes
//!
//! - ARM REST (`GET`, `{"value":[..]}` list pages, REST examples): `properties` nested →
//!   `source_format` `rest`.
//! - `az network … show/list`: `properties` flattened one level up, `resourceGroup` added, and
//!   the same for every child sub-resource → `cli`. The JSON stored is re-nested into the ARM
//!   shape (resource keys at the top, the rest under `properties`, children likewise).
//! - Resource Graph (`az graph query`, `{"data":[..]}` or arrays): `properties` nested, with
//!   `subscriptionId` and `resourceGroup` at the top → `resourcegraph`.
//!
//! # Time
//!
//! An ARM `GET` says what the configuration *is*, not since when. The time stored is, in order:
//! the record's own `changedTime` (ARM `$expand=changedTime`, `az resource list`), then
//! `systemData.lastModifiedAt` — both the instant from which the configuration is known to hold
//! — and else none: the store then writes the ingest time, the earliest instant the analyst is
//! known to have held this configuration, and marks the row `time_source = ingest`. The file's
//! modification time is not used: copies, archives and downloads rewrite it. `nsg verify --at`
//! uses the latest snapshot at or before the requested instant and says when it had to use a
//! later one.

use super::{Output, RecordCtx};
use crate::json::{first_text, path, subscription_of, text};
use azir_model::Resource;
use serde_json::{Map, Value};

/// The resource types read as network configuration, in their canonical spelling.
pub const TYPES: &[&str] = &[
    "Microsoft.Network/networkSecurityGroups",
    "Microsoft.Network/networkSecurityGroups/securityRules",
    "Microsoft.Network/virtualNetworks",
    "Microsoft.Network/virtualNetworks/subnets",
    "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
    "Microsoft.Network/networkInterfaces",
    "Microsoft.Network/applicationSecurityGroups",
    "Microsoft.Network/routeTables",
    "Microsoft.Network/publicIPAddresses",
    "Microsoft.Network/loadBalancers",
    "Microsoft.Network/applicationGateways",
    "Microsoft.Network/bastionHosts",
    "Microsoft.Network/azureFirewalls",
    "Microsoft.Compute/virtualMachines",
    "Microsoft.Compute/disks",
    "Microsoft.Compute/snapshots",
];

/// Keys that belong to the resource envelope, not to `properties`.
const ENVELOPE: &[&str] = &[
    "id",
    "name",
    "type",
    "location",
    "tags",
    "etag",
    "kind",
    "sku",
    "zones",
    "identity",
    "extendedLocation",
    "systemData",
    "managedBy",
    "plan",
    "resourceGroup",
    "subscriptionId",
    "tenantId",
    "changedTime",
    "createdTime",
];

/// The canonical spelling of an ARM type azir reads as configuration, if it is one.
pub fn canonical_type(t: &str) -> Option<&'static str> {
    TYPES.iter().copied().find(|c| c.eq_ignore_ascii_case(t.trim()))
}

/// True when the record is an ARM resource of a type in [`TYPES`].
pub fn is_resource(m: &Map<String, Value>) -> bool {
    m.get("type").and_then(Value::as_str).and_then(canonical_type).is_some()
        && (m.get("id").is_some_and(Value::is_string) || m.get("name").is_some_and(Value::is_string))
}

/// Parses one ARM resource record into `out.resources`.
pub fn parse(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    let m = v.as_object().ok_or("an ARM resource must be a JSON object")?;
    let kind = m.get("type").and_then(Value::as_str).and_then(canonical_type).ok_or("not a known ARM resource type")?;
    let id = match m.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(x) if !x.is_null() => return Err(format!("wrong type for field id: {x}, not a resource id")),
        _ => return Err(format!("{kind} resource without an id")),
    };
    if !id.starts_with('/') {
        return Err(format!("unreadable resource id {:?}: an ARM id starts with /subscriptions/", short(&id)));
    }
    let name = text(m.get("name")).unwrap_or_else(|| id.rsplit('/').next().unwrap_or_default().to_string());
    let properties_nested = m.get("properties").is_some_and(Value::is_object);
    let source_format = if !properties_nested {
        "cli"
    } else if m.contains_key("subscriptionId") && m.contains_key("resourceGroup") {
        "resourcegraph"
    } else {
        "rest"
    };
    let json = normalize(v);
    let time =
        first_text(v, &[&["changedTime"], &["systemData", "lastModifiedAt"]]).and_then(|t| azir_model::parse_time(&t));
    let subscription = subscription_of(&id).or_else(|| text(m.get("subscriptionId")).map(|s| s.to_ascii_lowercase()));
    let resource_group = id_segment(&id, "resourceGroups").or_else(|| text(m.get("resourceGroup")));
    out.resources.push(Resource {
        time,
        id_lower: id.to_ascii_lowercase(),
        id,
        kind: kind.to_string(),
        name,
        subscription,
        resource_group,
        location: text(m.get("location")),
        source_format: source_format.to_string(),
        json: json.to_string(),
        raw: ctx.raw_text(),
        provenance: ctx.prov.clone(),
    });
    Ok(())
}

fn short(s: &str) -> &str {
    match s.char_indices().nth(80) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The segment after `key` (any case) in a resource id.
fn id_segment(id: &str, key: &str) -> Option<String> {
    let mut parts = id.split('/');
    while let Some(p) = parts.next() {
        if p.eq_ignore_ascii_case(key) {
            return parts.next().filter(|s| !s.is_empty()).map(str::to_string);
        }
    }
    None
}

/// A resource in the ARM shape: envelope keys at the top, everything else under `properties`;
/// child sub-resources in `properties` arrays likewise. ARM-shaped input comes back unchanged.
pub fn normalize(v: &Value) -> Value {
    let Some(m) = v.as_object() else { return v.clone() };
    let mut top = Map::new();
    let mut props = match m.get("properties") {
        Some(Value::Object(p)) => p.clone(),
        _ => Map::new(),
    };
    let nested = m.get("properties").is_some_and(Value::is_object);
    for (k, x) in m {
        if k == "properties" && nested {
            continue;
        }
        if nested || ENVELOPE.contains(&k.as_str()) {
            top.insert(k.clone(), x.clone());
        } else {
            props.insert(k.clone(), x.clone());
        }
    }
    for x in props.values_mut() {
        if let Value::Array(items) = x {
            for item in items.iter_mut() {
                if is_flat_child(item) {
                    *item = normalize(item);
                }
            }
        }
    }
    top.insert("properties".into(), Value::Object(props));
    Value::Object(top)
}

/// A sub-resource written flattened: an object with a name or id, no `properties`, and keys
/// beyond the envelope (a bare `{"id": ..}` reference stays as it is).
fn is_flat_child(v: &Value) -> bool {
    let Some(m) = v.as_object() else { return false };
    (m.contains_key("name") || m.contains_key("id"))
        && !m.contains_key("properties")
        && m.keys().any(|k| !ENVELOPE.contains(&k.as_str()))
}

/// The elements of a Resource Graph response (`{"data":[..], "count":.., "totalRecords":..}`),
/// when `v` is one.
pub fn resource_graph_rows(v: &Value) -> Option<&Vec<Value>> {
    let m = v.as_object()?;
    let data = m.get("data")?.as_array()?;
    let meta = |k: &str| {
        matches!(
            k,
            "data"
                | "count"
                | "totalRecords"
                | "total_records"
                | "skipToken"
                | "skip_token"
                | "$skipToken"
                | "resultTruncated"
                | "facets"
        )
    };
    m.keys().all(|k| meta(k)).then_some(data)
}

/// The `properties` member of a normalized resource or sub-resource, or the object itself when
/// it has none (lenient to flattened input).
pub fn props(v: &Value) -> &Value {
    match path(v, &["properties"]) {
        Some(p) if p.is_object() => p,
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::run_one;
    use crate::split::Container;
    use serde_json::json;

    const NSG_REST: &str = r#"{"name":"testnsg","id":"/subscriptions/SubId/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/testnsg","type":"Microsoft.Network/networkSecurityGroups","location":"westus","properties":{"securityRules":[{"name":"rule1","id":"/subscriptions/SubId/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/testnsg/securityRules/rule1","properties":{"protocol":"*","destinationPortRange":"80","access":"Allow","priority":130,"direction":"Inbound"}}]}}"#;

    #[test]
    fn arm_rest_resource_is_read_field_by_field() {
        let out = run_one("nsg.json", NSG_REST, Container::Lines);
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        assert!(out.events.is_empty());
        assert_eq!(out.by_source.get("arm"), Some(&1));
        let r = &out.resources[0];
        assert_eq!(r.kind, "Microsoft.Network/networkSecurityGroups");
        assert_eq!(r.name, "testnsg");
        assert_eq!(
            r.id,
            "/subscriptions/SubId/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/testnsg"
        );
        assert_eq!(r.id_lower, r.id.to_ascii_lowercase());
        assert_eq!(r.subscription.as_deref(), Some("subid"));
        assert_eq!(r.resource_group.as_deref(), Some("rg1"));
        assert_eq!(r.location.as_deref(), Some("westus"));
        assert_eq!(r.source_format, "rest");
        assert_eq!(r.time, None);
        assert_eq!(r.raw, NSG_REST);
        let j: Value = serde_json::from_str(&r.json).unwrap();
        assert_eq!(j, serde_json::from_str::<Value>(NSG_REST).unwrap(), "ARM input is stored unchanged");
    }

    #[test]
    fn cli_output_is_renested_including_children() {
        let rec = json!([{
            "name": "nsg-web", "id": "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Network/networkSecurityGroups/nsg-web",
            "type": "Microsoft.Network/networkSecurityGroups", "resourceGroup": "RG", "location": "westeurope",
            "provisioningState": "Succeeded",
            "securityRules": [{"name": "ssh", "id": "/x/securityRules/ssh", "priority": 100, "access": "Allow",
                "direction": "Inbound", "protocol": "Tcp", "destinationPortRange": "22", "resourceGroup": "RG",
                "sourceApplicationSecurityGroups": [{"id": "/asg/a", "resourceGroup": "RG"}]}],
            "networkInterfaces": [{"id": "/nic/1", "resourceGroup": "RG"}]
        }]);
        let s = rec[0].to_string();
        let out = run_one("nsg-list.json", &s, Container::Array);
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        let r = &out.resources[0];
        assert_eq!(r.source_format, "cli");
        let j: Value = serde_json::from_str(&r.json).unwrap();
        assert_eq!(j["resourceGroup"], "RG");
        assert_eq!(j["properties"]["provisioningState"], "Succeeded");
        assert!(j.get("securityRules").is_none());
        let rule = &j["properties"]["securityRules"][0];
        assert_eq!(rule["name"], "ssh");
        assert_eq!(rule["properties"]["priority"], 100);
        assert_eq!(rule["properties"]["destinationPortRange"], "22");
        assert_eq!(rule["properties"]["sourceApplicationSecurityGroups"][0]["id"], "/asg/a");
        // A bare reference stays a reference.
        assert_eq!(j["properties"]["networkInterfaces"][0], json!({"id": "/nic/1", "resourceGroup": "RG"}));
    }

    #[test]
    fn resource_graph_rows_and_lower_case_types() {
        let rec = r#"{"count":2,"data":[
            {"id":"/subscriptions/S1/resourceGroups/rg/providers/microsoft.network/virtualnetworks/v1","name":"v1","type":"microsoft.network/virtualnetworks","subscriptionId":"S1","resourceGroup":"rg","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]}}},
            {"id":"/subscriptions/S1/resourceGroups/rg/providers/microsoft.compute/virtualmachines/vm1","name":"vm1","type":"microsoft.compute/virtualmachines","subscriptionId":"S1","resourceGroup":"rg","properties":{},"changedTime":"2026-03-12T10:00:00Z"}
        ],"skip_token":null,"totalRecords":2}"#;
        let out = run_one("graph.json", rec, Container::Lines);
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        assert_eq!(out.resources.len(), 2);
        assert_eq!(out.resources[0].kind, "Microsoft.Network/virtualNetworks");
        assert_eq!(out.resources[0].source_format, "resourcegraph");
        assert_eq!(out.resources[1].kind, "Microsoft.Compute/virtualMachines");
        assert_eq!(out.resources[1].time, azir_model::parse_time("2026-03-12T10:00:00Z"));
        assert_eq!(out.resources[1].provenance.index, 1);
    }

    #[test]
    fn system_data_gives_the_time_and_garbage_times_are_ignored() {
        let rec = r#"{"id":"/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/routeTables/rt","type":"Microsoft.Network/routeTables","systemData":{"lastModifiedAt":"2026-03-01T00:00:00Z"},"properties":{}}"#;
        let out = run_one("rt.json", rec, Container::Lines);
        assert_eq!(out.resources[0].time, azir_model::parse_time("2026-03-01T00:00:00Z"));
        assert_eq!(out.resources[0].name, "rt");
        let rec = r#"{"id":"/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/routeTables/rt","type":"Microsoft.Network/routeTables","changedTime":"not a time"}"#;
        let out = run_one("rt.json", rec, Container::Lines);
        assert_eq!(out.resources[0].time, None);
    }

    #[test]
    fn hostile_or_incomplete_resources_are_quarantined_with_a_reason() {
        let cases = [
            (r#"{"name":"n","type":"Microsoft.Network/networkSecurityGroups"}"#, "without an id"),
            (r#"{"id":5,"name":"n","type":"Microsoft.Network/networkSecurityGroups"}"#, "wrong type for field id"),
            (r#"{"id":"nsg1","type":"Microsoft.Network/networkSecurityGroups"}"#, "unreadable resource id"),
        ];
        for (rec, want) in cases {
            let out = run_one("bad.json", rec, Container::Lines);
            assert!(out.resources.is_empty(), "{rec}");
            assert_eq!(out.bad.len(), 1, "{rec}");
            assert!(out.bad[0].reason.contains(want), "{rec}: {}", out.bad[0].reason);
            assert_eq!(out.bad[0].parser.as_deref(), Some("arm"));
        }
        // Unknown types are not configuration: unrecognised, as before.
        let out = run_one(
            "x.json",
            r#"{"id":"/subscriptions/s","type":"Microsoft.Storage/storageAccounts"}"#,
            Container::Lines,
        );
        assert!(out.bad[0].reason.starts_with("unrecognised record"));
    }

    #[test]
    fn normalize_is_idempotent() {
        let flat = json!({"id":"/a","name":"n","type":"t","addressPrefix":"10.0.0.0/24","ipConfigurations":[{"id":"/c","privateIPAddress":"10.0.0.4"}]});
        let once = normalize(&flat);
        assert_eq!(normalize(&once), once);
        assert_eq!(once["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"], "10.0.0.4");
        assert_eq!(props(&once)["addressPrefix"], "10.0.0.0/24");
        assert_eq!(props(&flat)["addressPrefix"], "10.0.0.0/24");
    }
}
