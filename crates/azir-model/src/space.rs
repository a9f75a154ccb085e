//! The internal address space and the direction class of a flow: what `azir flows` calls
//! internal (`--internal`, else [`DEFAULT_INTERNAL`]) and what the hunt's outbound-volume analytic
//! (`azir_detect::volume`) does.

use ipnet::IpNet;
use serde::Serialize;
use std::net::IpAddr;

/// Where a flow goes relative to the internal address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// External source, internal destination.
    Inbound,
    /// Internal source, external destination.
    Outbound,
    /// Both ends internal (east-west).
    Internal,
    /// Both ends external (transit, NAT'd or mis-scoped logs).
    External,
}

impl Direction {
    /// Lower-case name as printed.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Internal => "internal",
            Direction::External => "external",
        }
    }

    /// Every class, in print order.
    pub const ALL: [Direction; 4] = [Direction::Inbound, Direction::Outbound, Direction::Internal, Direction::External];
}

/// The address ranges that count as "ours".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressSpace {
    nets: Vec<IpNet>,
}

/// Default internal ranges: RFC 1918, RFC 6598 shared address space (carrier-grade NAT, also
/// used inside Azure for some platform endpoints), IPv6 unique-local and link-local, IPv4
/// link-local (Azure's 169.254.169.254 metadata endpoint) and loopback.
pub const DEFAULT_INTERNAL: [&str; 8] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "127.0.0.0/8",
    "fc00::/7",
    "fe80::/10",
];

impl Default for AddressSpace {
    fn default() -> Self {
        AddressSpace::parse(DEFAULT_INTERNAL).expect("default ranges are valid CIDRs")
    }
}

impl AddressSpace {
    /// A space from CIDRs (`10.10.0.0/16`, `2001:db8::/48`); a bare address is a /32 or /128.
    /// VNet address spaces from the case's network configuration are passed the same way.
    pub fn parse<I, S>(cidrs: I) -> Result<AddressSpace, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut nets = Vec::new();
        for c in cidrs {
            let c = c.as_ref().trim();
            let net = match c.parse::<IpNet>() {
                Ok(n) => n.trunc(),
                Err(_) => match c.parse::<IpAddr>() {
                    Ok(a) => IpNet::from(a),
                    Err(_) => return Err(format!("{c:?} is not a CIDR (10.0.0.0/8) or an address")),
                },
            };
            nets.push(net);
        }
        Ok(AddressSpace { nets })
    }

    /// The ranges.
    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }

    /// Whether an address lies in the space (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// Whether an address written as text is internal; text that is not an address is external.
    pub fn contains_str(&self, ip: &str) -> bool {
        ip.trim().parse::<IpAddr>().is_ok_and(|a| self.contains(a))
    }

    /// The direction class of a flow from `src` to `dst`.
    pub fn classify(&self, src: &str, dst: &str) -> Direction {
        match (self.contains_str(src), self.contains_str(dst)) {
            (false, true) => Direction::Inbound,
            (true, false) => Direction::Outbound,
            (true, true) => Direction::Internal,
            (false, false) => Direction::External,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_cover_private_cgnat_ula_and_link_local() {
        let s = AddressSpace::default();
        for ip in ["10.1.2.3", "172.31.255.1", "192.168.0.9", "100.64.0.1", "100.127.255.254", "fd00::1", "fe80::1"] {
            assert!(s.contains_str(ip), "{ip}");
        }
        for ip in ["172.32.0.1", "100.128.0.1", "8.8.8.8", "2001:db8::1", "203.0.113.5", "not-an-ip", ""] {
            assert!(!s.contains_str(ip), "{ip}");
        }
        assert!(s.contains_str("::ffff:10.0.0.1"));
    }

    #[test]
    fn classification_of_the_four_directions() {
        let s = AddressSpace::default();
        assert_eq!(s.classify("203.0.113.5", "10.0.0.4"), Direction::Inbound);
        assert_eq!(s.classify("10.0.0.4", "203.0.113.5"), Direction::Outbound);
        assert_eq!(s.classify("10.0.0.4", "10.0.0.5"), Direction::Internal);
        assert_eq!(s.classify("203.0.113.5", "198.51.100.1"), Direction::External);
        assert_eq!(s.classify("2001:db8::1", "fd12::4"), Direction::Inbound);
    }

    #[test]
    fn explicit_space_replaces_defaults() {
        let s = AddressSpace::parse(["10.10.0.0/16", "203.0.113.7", "2001:db8:1::/48"]).unwrap();
        assert!(s.contains_str("10.10.3.4"));
        assert!(!s.contains_str("10.11.0.1"));
        assert!(!s.contains_str("192.168.1.1"));
        assert!(s.contains_str("203.0.113.7"));
        assert!(!s.contains_str("203.0.113.8"));
        assert!(s.contains_str("2001:db8:1::99"));
        assert!(AddressSpace::parse(["10.0.0.0/33"]).is_err());
        assert!(AddressSpace::parse(["vnet"]).is_err());
        // Host bits are dropped, not rejected (a VNet written as 10.10.1.5/16 is 10.10.0.0/16).
        assert!(AddressSpace::parse(["10.10.1.5/16"]).unwrap().contains_str("10.10.200.1"));
    }
}
