//! Security rules: read from ARM JSON (singular and plural fields unioned), the six default
//! rules, and the per-field match of a flow against a rule.

use super::tags::{AddressContext, TagMatch};
use super::{Access, Protocol, Query, TrafficDirection};
use ipnet::IpNet;
use serde_json::Value;
use std::net::IpAddr;

/// Where a rule lives in its NSG: `securityRules` or `defaultSecurityRules`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSet {
    /// A rule the owner wrote.
    Custom,
    /// One of the platform's default rules (priority 65000+).
    Default,
}

impl RuleSet {
    /// The ARM collection name.
    pub fn collection(self) -> &'static str {
        match self {
            RuleSet::Custom => "securityRules",
            RuleSet::Default => "defaultSecurityRules",
        }
    }
}

/// An address selector of a rule field.
#[derive(Debug, Clone, PartialEq)]
pub enum AddressSpec {
    /// `*`, `Any`: every address.
    Any,
    /// An IP or CIDR.
    Prefix(IpNet),
    /// A service tag (`VirtualNetwork`, `Internet`, `AzureLoadBalancer`, `Storage.WestEurope`, …).
    Tag(String),
}

/// A port selector: an inclusive range (`*` is 0–65535).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub from: u16,
    /// Last port.
    pub to: u16,
}

impl PortRange {
    const ALL: PortRange = PortRange { from: 0, to: 65535 };
    fn is_all(self) -> bool {
        self == Self::ALL
    }
}

/// One side (source or destination) of a rule: prefixes/tags, or application security groups.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Side {
    /// Address prefixes and tags (`xAddressPrefix` ∪ `xAddressPrefixes`).
    pub addresses: Vec<AddressSpec>,
    /// ASG ids, lower-cased (`xApplicationSecurityGroups`).
    pub asgs: Vec<String>,
    /// Port ranges (`xPortRange` ∪ `xPortRanges`).
    pub ports: Vec<PortRange>,
    /// Values that could not be read (they match nothing; `--explain` names them).
    pub unreadable: Vec<String>,
}

/// A security rule, compiled for matching.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Rule name.
    pub name: String,
    /// Custom or default.
    pub set: RuleSet,
    /// Priority (lower wins).
    pub priority: u32,
    /// Direction it applies to.
    pub direction: TrafficDirection,
    /// Allow or deny.
    pub access: Access,
    /// Protocol (`*` is [`Protocol::Any`]); `None` for a protocol azir does not evaluate (Esp, Ah).
    pub protocol: Option<Protocol>,
    /// The protocol as written.
    pub protocol_text: String,
    /// Source side.
    pub source: Side,
    /// Destination side.
    pub destination: Side,
}

/// The per-field outcome of matching a flow against a rule (NSG diagnostics' `rulesEvaluationResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldMatch {
    /// Protocol matched.
    pub protocol_matched: bool,
    /// Source address (prefix, tag or ASG) matched.
    pub source_matched: bool,
    /// Source port matched.
    pub source_port_matched: bool,
    /// Destination address matched.
    pub destination_matched: bool,
    /// Destination port matched.
    pub destination_port_matched: bool,
}

impl FieldMatch {
    /// Every field matched.
    pub fn all(self) -> bool {
        self.protocol_matched
            && self.source_matched
            && self.source_port_matched
            && self.destination_matched
            && self.destination_port_matched
    }
}

fn prop<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let p = v.get("properties").filter(|p| p.is_object()).unwrap_or(v);
    p.get(key).or_else(|| v.get(key))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) if !s.trim().is_empty() => vec![s.trim().to_string()],
        Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str()).map(|s| s.trim().to_string()).collect(),
        Some(Value::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// Reads an address value: `*`/`Any`, an IP, a CIDR, or else a tag.
pub fn address_spec(s: &str) -> Option<AddressSpec> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    if t == "*" || t.eq_ignore_ascii_case("any") {
        return Some(AddressSpec::Any);
    }
    if let Ok(n) = t.parse::<IpNet>() {
        return Some(AddressSpec::Prefix(n.trunc()));
    }
    if let Ok(a) = t.parse::<IpAddr>() {
        return Some(AddressSpec::Prefix(IpNet::from(a)));
    }
    // A tag is a name: letters, digits, dots, dashes, underscores.
    if t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && !t.starts_with(|c: char| c.is_ascii_digit())
    {
        return Some(AddressSpec::Tag(t.to_string()));
    }
    None
}

/// Reads a port value: `*`/`Any`, `80`, `1000-2000`.
pub fn port_range(s: &str) -> Option<PortRange> {
    let t = s.trim();
    if t == "*" || t.eq_ignore_ascii_case("any") {
        return Some(PortRange::ALL);
    }
    let (a, b) = t.split_once('-').unwrap_or((t, t));
    let from: u16 = a.trim().parse().ok()?;
    let to: u16 = b.trim().parse().ok()?;
    (from <= to).then_some(PortRange { from, to })
}

fn side(v: &Value, prefix: &str) -> Side {
    let mut s = Side::default();
    let mut addrs = strings(prop(v, &format!("{prefix}AddressPrefix")));
    addrs.extend(strings(prop(v, &format!("{prefix}AddressPrefixes"))));
    for a in addrs {
        match address_spec(&a) {
            Some(x) => s.addresses.push(x),
            None => s.unreadable.push(a),
        }
    }
    if let Some(Value::Array(asgs)) = prop(v, &format!("{prefix}ApplicationSecurityGroups")) {
        s.asgs = asgs.iter().filter_map(|a| a.get("id").and_then(Value::as_str)).map(str::to_ascii_lowercase).collect();
    }
    let mut ports = strings(prop(v, &format!("{prefix}PortRange")));
    ports.extend(strings(prop(v, &format!("{prefix}PortRanges"))));
    for p in ports {
        match port_range(&p) {
            Some(x) => s.ports.push(x),
            None => s.unreadable.push(p),
        }
    }
    s
}

/// Reads a security rule from its ARM (or flattened `az`) JSON. `Err` names what is missing.
pub fn parse_rule(v: &Value, set: RuleSet) -> Result<Rule, String> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| v.get("id").and_then(Value::as_str).and_then(|i| i.rsplit('/').next()).map(str::to_string))
        .ok_or("security rule without a name")?;
    let priority = match prop(v, "priority") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .and_then(|p| u32::try_from(p).ok())
    .ok_or_else(|| format!("security rule {name}: no readable priority"))?;
    let direction = match prop(v, "direction").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
        Some("inbound") => TrafficDirection::Inbound,
        Some("outbound") => TrafficDirection::Outbound,
        other => return Err(format!("security rule {name}: unreadable direction {other:?}")),
    };
    let access = match prop(v, "access").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
        Some("allow") => Access::Allow,
        Some("deny") => Access::Deny,
        other => return Err(format!("security rule {name}: unreadable access {other:?}")),
    };
    let protocol_text = prop(v, "protocol").and_then(Value::as_str).unwrap_or("*").trim().to_string();
    let protocol = Protocol::parse(&protocol_text);
    Ok(Rule {
        name,
        set,
        priority,
        direction,
        access,
        protocol,
        protocol_text,
        source: side(v, "source"),
        destination: side(v, "destination"),
    })
}

/// The six default rules, as Azure creates them in every NSG.
pub fn default_rules() -> Vec<Rule> {
    let mk = |name: &str, direction, priority, src: &str, dst: &str, access| Rule {
        name: name.to_string(),
        set: RuleSet::Default,
        priority,
        direction,
        access,
        protocol: Some(Protocol::Any),
        protocol_text: "*".into(),
        source: Side {
            addresses: vec![address_spec(src).unwrap_or(AddressSpec::Any)],
            ports: vec![PortRange::ALL],
            ..Side::default()
        },
        destination: Side {
            addresses: vec![address_spec(dst).unwrap_or(AddressSpec::Any)],
            ports: vec![PortRange::ALL],
            ..Side::default()
        },
    };
    use Access::*;
    use TrafficDirection::*;
    vec![
        mk("AllowVnetInBound", Inbound, 65000, "VirtualNetwork", "VirtualNetwork", Allow),
        mk("AllowAzureLoadBalancerInBound", Inbound, 65001, "AzureLoadBalancer", "*", Allow),
        mk("DenyAllInBound", Inbound, 65500, "*", "*", Deny),
        mk("AllowVnetOutBound", Outbound, 65000, "VirtualNetwork", "VirtualNetwork", Allow),
        mk("AllowInternetOutBound", Outbound, 65001, "*", "Internet", Allow),
        mk("DenyAllOutBound", Outbound, 65500, "*", "*", Deny),
    ]
}

fn ports_match(ports: &[PortRange], port: Option<u16>) -> bool {
    match port {
        // A flow without a port (ICMP, or a port not given) matches only "any port".
        None => ports.iter().any(|r| r.is_all()),
        Some(p) => ports.iter().any(|r| r.from <= p && p <= r.to),
    }
}

fn side_matches(side: &Side, ip: IpAddr, ip_asgs: &[String], ctx: &AddressContext) -> bool {
    if !side.asgs.is_empty() {
        return side.asgs.iter().any(|a| ip_asgs.contains(a));
    }
    side.addresses.iter().any(|a| match a {
        AddressSpec::Any => true,
        AddressSpec::Prefix(n) => n.contains(&ip),
        AddressSpec::Tag(t) => ctx.tag_contains(t, ip) == TagMatch::Yes,
    })
}

impl Rule {
    /// Matches a flow field by field. `src_asgs`/`dst_asgs` are the (lower-cased) ASG ids of the
    /// NIC IP configurations holding the source and destination addresses.
    pub fn evaluate(&self, q: &Query, src_asgs: &[String], dst_asgs: &[String], ctx: &AddressContext) -> FieldMatch {
        FieldMatch {
            protocol_matched: self.protocol.is_some_and(|p| p.covers(q.protocol)),
            source_matched: side_matches(&self.source, q.src, src_asgs, ctx),
            source_port_matched: q.protocol == Protocol::Icmp || ports_match(&self.source.ports, q.src_port),
            destination_matched: side_matches(&self.destination, q.dst, dst_asgs, ctx),
            destination_port_matched: q.protocol == Protocol::Icmp || ports_match(&self.destination.ports, q.dst_port),
        }
    }

    /// The tags this rule names that no source resolves (for `--explain` warnings).
    pub fn unknown_tags<'a>(&'a self, ctx: &'a AddressContext) -> impl Iterator<Item = &'a str> + 'a {
        self.source.addresses.iter().chain(&self.destination.addresses).filter_map(move |a| match a {
            AddressSpec::Tag(t) if !ctx.knows(t) => Some(t.as_str()),
            _ => None,
        })
    }

    /// Values of this rule that could not be read.
    pub fn unreadable(&self) -> impl Iterator<Item = &str> {
        self.source.unreadable.iter().chain(&self.destination.unreadable).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn singular_and_plural_fields_are_unioned() {
        let r = parse_rule(
            &json!({"name":"web","properties":{"protocol":"Tcp","priority":"200","direction":"Inbound","access":"Allow",
                "sourceAddressPrefix":"10.1.0.0/16","sourceAddressPrefixes":["192.0.2.1","Storage"],
                "sourcePortRange":"*","destinationPortRange":"443","destinationPortRanges":["8000-8010","80"],
                "destinationAddressPrefix":"*"}}),
            RuleSet::Custom,
        )
        .unwrap();
        assert_eq!(r.priority, 200);
        assert_eq!(r.protocol, Some(Protocol::Tcp));
        assert_eq!(r.source.addresses.len(), 3);
        assert_eq!(r.source.addresses[2], AddressSpec::Tag("Storage".into()));
        assert_eq!(
            r.destination.ports,
            vec![PortRange { from: 443, to: 443 }, PortRange { from: 8000, to: 8010 }, PortRange { from: 80, to: 80 }]
        );
    }

    #[test]
    fn unreadable_values_are_kept_aside_and_bad_rules_are_errors() {
        let r = parse_rule(
            &json!({"name":"x","priority":100,"direction":"Outbound","access":"Deny","protocol":"Esp",
                "sourceAddressPrefix":"10.0.0.0/33 ","destinationAddressPrefix":"*","destinationPortRange":"90-80","sourcePortRange":"*"}),
            RuleSet::Custom,
        )
        .unwrap();
        assert_eq!(r.protocol, None);
        assert_eq!(r.source.unreadable, vec!["10.0.0.0/33".to_string()]);
        assert_eq!(r.destination.unreadable, vec!["90-80".to_string()]);
        assert!(parse_rule(&json!({"name":"x","direction":"Inbound","access":"Allow"}), RuleSet::Custom)
            .unwrap_err()
            .contains("priority"));
        assert!(parse_rule(&json!({"name":"x","priority":1,"direction":"Sideways","access":"Allow"}), RuleSet::Custom)
            .unwrap_err()
            .contains("direction"));
        assert!(parse_rule(&json!({"priority":1}), RuleSet::Custom).unwrap_err().contains("name"));
    }

    #[test]
    fn address_and_port_values() {
        assert_eq!(address_spec("Any"), Some(AddressSpec::Any));
        assert_eq!(address_spec("10.0.0.7/8"), Some(AddressSpec::Prefix("10.0.0.0/8".parse().unwrap())));
        assert_eq!(address_spec("2001:db8::1"), Some(AddressSpec::Prefix("2001:db8::1/128".parse().unwrap())));
        assert_eq!(address_spec("AzureCloud.westeurope"), Some(AddressSpec::Tag("AzureCloud.westeurope".into())));
        assert_eq!(address_spec("10.0.0.300"), None);
        assert_eq!(address_spec("<script>"), None);
        assert_eq!(port_range("*"), Some(PortRange::ALL));
        assert_eq!(port_range("22"), Some(PortRange { from: 22, to: 22 }));
        assert_eq!(port_range("65536"), None);
        assert_eq!(port_range("-"), None);
    }
}
