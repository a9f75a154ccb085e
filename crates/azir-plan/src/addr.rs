//! Choosing the DFIR address space.
//!
//! Peering refuses overlapping address spaces, and a DFIR range that overlaps a range the
//! compromised network routes to (an on-premises range behind a UDR, a third VNet peered to the
//! target) makes some evidence unreachable or, worse, reachable at the wrong host. So the DFIR
//! VNet is a /24 chosen, deterministically, as the first candidate that overlaps nothing the case
//! knows: every VNet address space, every peering's remote space, every UDR prefix (default
//! routes excepted) and the analyst's address. Candidates come from the ends of the private
//! ranges that networks rarely use: `10.250.0.0/24` … `10.255.255.0/24`, then `172.31.255.0/24`
//! downwards, then `192.168.255.0/24` downwards. The DFIR subnet is the first /26 of it, leaving
//! room for an `AzureBastionSubnet` (/26) later.

use ipnet::{IpNet, Ipv4Net};
use std::net::Ipv4Addr;

/// Two ranges share at least one address.
/// Serializes an [`IpNet`] as its text (`10.0.0.0/24`). ipnet's own `serde` feature is not used:
/// ipnet is also a dependency of object_store's HTTP stack, and a new feature on it rebuilds
/// DataFusion.
pub fn ser_net<S: serde::Serializer>(n: &IpNet, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(n)
}

/// Serializes a list of [`IpNet`] as text.
pub fn ser_nets<S: serde::Serializer>(v: &[IpNet], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|n| n.to_string()))
}

/// Serializes an optional [`IpNet`] as text or null.
pub fn ser_opt_net<S: serde::Serializer>(v: &Option<IpNet>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(n) => s.collect_str(n),
        None => s.serialize_none(),
    }
}

pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The DFIR VNet (/24) and subnet (/26): the first candidate overlapping none of `avoid`.
pub fn choose_space(avoid: &[IpNet]) -> Option<(IpNet, IpNet)> {
    let free = |n: &IpNet| !avoid.iter().any(|a| overlaps(a, n));
    let tens = (250u8..=255).flat_map(|b| (0u8..=255).map(move |c| Ipv4Addr::new(10, b, c, 0)));
    let one72 = (16u8..=31).rev().flat_map(|b| (0u8..=255).rev().map(move |c| Ipv4Addr::new(172, b, c, 0)));
    let one92 = (0u8..=255).rev().map(|c| Ipv4Addr::new(192, 168, c, 0));
    tens.chain(one72).chain(one92).map(|a| IpNet::V4(Ipv4Net::new(a, 24).expect("valid /24"))).find(free).map(|vnet| {
        let subnet = IpNet::V4(Ipv4Net::new(vnet_v4(&vnet), 26).expect("valid /26"));
        (vnet, subnet)
    })
}

/// The first /26 of a /24 (or the range itself when it is already smaller).
pub fn subnet_of(vnet: &IpNet) -> IpNet {
    match vnet {
        IpNet::V4(v) if v.prefix_len() < 26 => IpNet::V4(Ipv4Net::new(v.network(), 26).expect("valid /26")),
        other => *other,
    }
}

fn vnet_v4(n: &IpNet) -> Ipv4Addr {
    match n {
        IpNet::V4(v) => v.network(),
        IpNet::V6(_) => Ipv4Addr::UNSPECIFIED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn first_free_candidate() {
        assert_eq!(choose_space(&[]), Some((n("10.250.0.0/24"), n("10.250.0.0/26"))));
        // 10.0.0.0/8 in use (a peer, an on-premises route): the 172.31 end.
        assert_eq!(choose_space(&[n("10.0.0.0/8")]).unwrap().0, n("172.31.255.0/24"));
        // A covering range and a /32 inside a candidate.
        let avoid = [n("10.250.0.0/16"), n("10.251.0.7/32")];
        assert_eq!(choose_space(&avoid).unwrap().0, n("10.251.1.0/24"));
        // Everything private taken: nothing.
        assert_eq!(choose_space(&[n("10.0.0.0/8"), n("172.16.0.0/12"), n("192.168.0.0/16")]), None);
        assert!(overlaps(&n("10.0.0.0/8"), &n("10.1.2.0/24")) && !overlaps(&n("10.0.0.0/24"), &n("10.0.1.0/24")));
        assert_eq!(subnet_of(&n("10.9.0.0/16")), n("10.9.0.0/26"));
    }
}
