//! Service tags: the three the platform defines relative to a VNet (`VirtualNetwork`, `Internet`,
//! `AzureLoadBalancer`) and every other tag from Microsoft's published Service Tags JSON.

use ipnet::IpNet;
use serde_json::Value;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The health-probe source address behind `AzureLoadBalancer` (also the host's virtual IP).
pub const AZURE_HOST_IP: Ipv4Addr = Ipv4Addr::new(168, 63, 129, 16);

/// Service tags from a Service Tags JSON file
/// (`{"values":[{"name":"Storage.WestEurope","properties":{"addressPrefixes":[..]}}]}`).
#[derive(Debug, Clone, Default)]
pub struct ServiceTags {
    by_name: HashMap<String, Vec<IpNet>>,
}

impl ServiceTags {
    /// Reads the file's JSON. `Err` when it is not the published shape.
    pub fn parse(json: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
        let values =
            v.get("values").and_then(Value::as_array).ok_or("no \"values\" array (not a Service Tags file)")?;
        let mut by_name: HashMap<String, Vec<IpNet>> = HashMap::new();
        for t in values {
            let Some(name) = t.get("name").and_then(Value::as_str) else { continue };
            let prefixes = t
                .pointer("/properties/addressPrefixes")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).filter_map(|p| p.trim().parse::<IpNet>().ok()).collect())
                .unwrap_or_default();
            by_name.entry(name.to_ascii_lowercase()).or_default().extend::<Vec<IpNet>>(prefixes);
        }
        Ok(ServiceTags { by_name })
    }

    /// Number of tags read.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// True when no tag was read.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    fn get(&self, tag: &str) -> Option<&[IpNet]> {
        self.by_name.get(&tag.to_ascii_lowercase()).map(Vec::as_slice)
    }
}

/// Whether an address belongs to a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagMatch {
    /// It does.
    Yes,
    /// It does not.
    No,
    /// The tag is unknown (no Service Tags file, or not in it): matches nothing.
    Unknown,
}

/// What the tags mean where the NSG is applied: the `VirtualNetwork` prefixes of the NIC's VNet
/// and the user's Service Tags.
#[derive(Debug, Clone, Default)]
pub struct AddressContext {
    /// `VirtualNetwork`: the VNet's address spaces, peered VNets' spaces, the prefixes of the
    /// subnet's user-defined routes, and the host virtual IP.
    pub virtual_network: Vec<IpNet>,
    /// Other tags.
    pub tags: ServiceTags,
}

impl AddressContext {
    /// True when `ip` is in the `VirtualNetwork` tag.
    pub fn in_virtual_network(&self, ip: IpAddr) -> bool {
        self.virtual_network.iter().any(|n| n.contains(&ip))
    }

    /// Whether `ip` belongs to `tag` (case-insensitive).
    pub fn tag_contains(&self, tag: &str, ip: IpAddr) -> TagMatch {
        let yes = |b: bool| if b { TagMatch::Yes } else { TagMatch::No };
        if tag.eq_ignore_ascii_case("VirtualNetwork") {
            return yes(self.in_virtual_network(ip));
        }
        if tag.eq_ignore_ascii_case("Internet") {
            return yes(is_public(ip) && !self.in_virtual_network(ip));
        }
        if tag.eq_ignore_ascii_case("AzureLoadBalancer") {
            return yes(ip == IpAddr::V4(AZURE_HOST_IP));
        }
        match self.tags.get(tag) {
            Some(nets) => yes(nets.iter().any(|n| n.contains(&ip))),
            None => TagMatch::Unknown,
        }
    }

    /// True when the tag can be resolved.
    pub fn knows(&self, tag: &str) -> bool {
        ["VirtualNetwork", "Internet", "AzureLoadBalancer"].iter().any(|t| t.eq_ignore_ascii_case(tag))
            || self.tags.get(tag).is_some()
    }
}

/// Publicly routable: not private, shared (100.64/10), loopback, link-local, unspecified,
/// multicast or reserved (IPv4 240/4, broadcast; IPv6 ULA fc00::/7). Documentation ranges
/// (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32) count as public: they stand in for
/// public addresses in examples and test data.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            !(a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_multicast()
                || a.is_broadcast()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (o[1] & 0xc0) == 64))
        }
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = a.segments()[0];
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (s & 0xfe00) == 0xfc00
                || (s & 0xffc0) == 0xfe80)
                && a != Ipv6Addr::UNSPECIFIED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn builtin_tags() {
        let ctx = AddressContext {
            virtual_network: vec!["10.0.0.0/16".parse().unwrap(), "fd00:1::/48".parse().unwrap()],
            tags: ServiceTags::default(),
        };
        let cases = [
            ("VirtualNetwork", "10.0.3.4", TagMatch::Yes),
            ("virtualnetwork", "10.1.0.1", TagMatch::No),
            ("VirtualNetwork", "fd00:1::5", TagMatch::Yes),
            ("Internet", "203.0.113.7", TagMatch::Yes),
            ("Internet", "8.8.8.8", TagMatch::Yes),
            ("Internet", "10.0.3.4", TagMatch::No),
            ("Internet", "192.168.1.1", TagMatch::No),
            ("Internet", "100.64.0.1", TagMatch::No),
            ("Internet", "2001:4860::8888", TagMatch::Yes),
            ("Internet", "fd00:2::1", TagMatch::No),
            ("Internet", "fe80::1", TagMatch::No),
            ("AzureLoadBalancer", "168.63.129.16", TagMatch::Yes),
            ("AzureLoadBalancer", "168.63.129.17", TagMatch::No),
            ("Storage", "20.1.1.1", TagMatch::Unknown),
        ];
        for (tag, addr, want) in cases {
            assert_eq!(ctx.tag_contains(tag, ip(addr)), want, "{tag} {addr}");
        }
    }

    #[test]
    fn a_default_route_in_virtual_network_leaves_no_internet() {
        let ctx = AddressContext { virtual_network: vec!["0.0.0.0/0".parse().unwrap()], tags: ServiceTags::default() };
        assert_eq!(ctx.tag_contains("Internet", ip("8.8.8.8")), TagMatch::No);
        assert_eq!(ctx.tag_contains("VirtualNetwork", ip("8.8.8.8")), TagMatch::Yes);
    }

    #[test]
    fn service_tags_file() {
        let tags = ServiceTags::parse(
            r#"{"changeNumber":1,"cloud":"Public","values":[
              {"name":"Storage.WestEurope","id":"Storage.WestEurope","properties":{"addressPrefixes":["20.38.108.0/23","2603:1020:201::/48","junk"]}},
              {"name":"Sql","properties":{"addressPrefixes":["13.66.0.0/16"]}},{"noname":1}]}"#,
        )
        .unwrap();
        assert_eq!(tags.len(), 2);
        let ctx = AddressContext { virtual_network: vec![], tags };
        assert_eq!(ctx.tag_contains("storage.westeurope", ip("20.38.109.9")), TagMatch::Yes);
        assert_eq!(ctx.tag_contains("Storage.WestEurope", ip("2603:1020:201::1")), TagMatch::Yes);
        assert_eq!(ctx.tag_contains("Storage.WestEurope", ip("20.38.110.1")), TagMatch::No);
        assert_eq!(ctx.tag_contains("Storage", ip("20.38.109.9")), TagMatch::Unknown);
        assert!(ServiceTags::parse("[]").unwrap_err().contains("values"));
        assert!(ServiceTags::parse("{").unwrap_err().contains("not JSON"));
    }
}
