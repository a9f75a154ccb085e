//! Detections no Sigma rule can state: a value seen in one log and never in another, over the
//! whole hunt.
//!
//! A Sigma detection looks at one event, a correlation at events that share a key inside a
//! timespan; neither can say "this IP never appears in the sign-in log". These analytics keep
//! the sets they need while events are fed (in any order, split over workers and merged like
//! [`crate::Hunter`]) and decide at the end.
//!
//! **Bastion session from an IP never seen in a successful sign-in.** Azure Bastion is reached
//! after an Entra sign-in (portal, or `az network bastion` with a token), so the client address
//! of a Bastion session normally also appears as the `ipAddress` of a successful sign-in. One
//! that does not points at a token used from elsewhere (stolen session, token replay through
//! the native client) or at sign-in logs the case lacks. Failed and interrupted sign-ins do not
//! count as seen: an IP that only ever failed (a sprayer) and then opens a Bastion session is
//! the case to report. When the hunt saw no successful sign-in at all (the case holds no
//! sign-in log), nothing is reported: every address would be "new". Addresses are compared as
//! parsed IPs (`::ffff:a.b.c.d` and `a.b.c.d` are one), else as trimmed lower-case text.

use crate::rule::Level;
use crate::{EventRef, Finding};
use azir_model::Event;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;

/// Rule id of the Bastion analytic (stable: findings are keyed by it).
pub const BASTION_NEW_IP_ID: &str = "0c6f2d4e-7b1a-4f43-9d3e-5a8b2c1e9f70";
/// Its title.
pub const BASTION_NEW_IP_TITLE: &str = "Bastion session from an IP never seen in a successful sign-in";

/// An address as compared: a parsed IP (IPv4-mapped IPv6 as IPv4), else the trimmed,
/// lower-cased text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Addr {
    Ip(IpAddr),
    Text(String),
}

impl Addr {
    fn of(s: &str) -> Addr {
        match parse_ip(s) {
            Some(ip) => Addr::Ip(ip),
            None => Addr::Text(s.trim().to_ascii_lowercase()),
        }
    }

    fn show(&self) -> String {
        match self {
            Addr::Ip(ip) => ip.to_string(),
            Addr::Text(t) => t.clone(),
        }
    }
}

/// An address as the analytics compare it: trimmed, parsed, IPv4-mapped IPv6 as IPv4.
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    match s.trim().parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)),
        ip => Some(ip),
    }
}

/// State of the Bastion analytic.
#[derive(Debug, Default, Clone)]
pub struct BastionNewIp {
    /// Addresses of successful sign-ins (an IP is parsed, not allocated, per sign-in).
    signin_ips: HashSet<Addr>,
    successful_signins: u64,
    sessions: Vec<(Addr, EventRef)>,
}

impl BastionNewIp {
    /// Looks at one event (every source may be fed; only sign-ins and Bastion matter).
    pub fn feed(&mut self, e: &Event) {
        let Some(ip) = e.src_ip.as_deref().filter(|i| !i.trim().is_empty()) else { return };
        match e.source.as_str() {
            "signin" if e.result.as_deref() == Some("Success") => {
                self.successful_signins += 1;
                self.signin_ips.insert(Addr::of(ip));
            }
            "bastion" => self.sessions.push((
                Addr::of(ip),
                EventRef {
                    time: e.time,
                    provenance: e.provenance.clone(),
                    user: e.actor_username.clone(),
                    ip: Some(ip.trim().to_string()),
                    app: None,
                    resource: e.target_resource_id.clone(),
                    tuple: None,
                },
            )),
            _ => {}
        }
    }

    /// Adds what another worker saw.
    pub fn merge(&mut self, other: BastionNewIp) {
        self.signin_ips.extend(other.signin_ips);
        self.successful_signins += other.successful_signins;
        self.sessions.extend(other.sessions);
    }

    /// One finding per client IP whose Bastion sessions have no successful sign-in from it.
    pub fn finish(self) -> Vec<Finding> {
        if self.successful_signins == 0 {
            return Vec::new();
        }
        let mut by_ip: BTreeMap<Addr, Vec<EventRef>> = BTreeMap::new();
        for (ip, r) in self.sessions {
            if !self.signin_ips.contains(&ip) {
                by_ip.entry(ip).or_default().push(r);
            }
        }
        by_ip
            .into_iter()
            .map(|(ip, mut events)| {
                events.sort_by(crate::ref_order);
                events.dedup();
                let set = |f: &dyn Fn(&EventRef) -> Option<&String>| -> Vec<String> {
                    let s: BTreeSet<&String> = events.iter().filter_map(f).collect();
                    s.into_iter().take(50).cloned().collect()
                };
                Finding {
                    rule_id: BASTION_NEW_IP_ID.to_string(),
                    title: BASTION_NEW_IP_TITLE.to_string(),
                    level: Level::Medium,
                    tags: ["attack.lateral-movement", "attack.t1021.004", "attack.initial-access", "attack.t1078.004"]
                        .map(String::from)
                        .to_vec(),
                    kind: "novelty".to_string(),
                    origin: "builtin:novelty".to_string(),
                    first: events.first().map_or(0, |e| e.time),
                    last: events.last().map_or(0, |e| e.time),
                    group: vec![format!("SrcIpAddr={}", ip.show())],
                    users: set(&|e| e.user.as_ref()),
                    ips: vec![ip.show()],
                    apps: Vec::new(),
                    resources: set(&|e| e.resource.as_ref()),
                    events,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azir_model::Provenance;

    fn ev(source: &str, ip: &str, result: &str, t: i64) -> Event {
        Event {
            time: t,
            source: source.into(),
            src_ip: Some(ip.into()),
            result: Some(result.into()),
            actor_username: Some("rob".into()),
            provenance: Provenance { evidence_path: "x.json".into(), line: t as u64, ..Provenance::default() },
            ..Event::default()
        }
    }

    #[test]
    fn sessions_from_unseen_ips_are_reported_per_ip() {
        let mut a = BastionNewIp::default();
        a.feed(&ev("signin", "203.0.113.10", "Success", 1));
        a.feed(&ev("signin", "198.51.100.66", "Failure", 2)); // a sprayer: failures do not count
        a.feed(&ev("bastion", "203.0.113.10", "Success", 3)); // seen: not reported
        a.feed(&ev("bastion", "198.51.100.66", "Success", 4));
        a.feed(&ev("bastion", "198.51.100.66", "Success", 5));
        let mut b = BastionNewIp::default();
        b.feed(&ev("bastion", "::ffff:203.0.113.10", "Success", 6)); // the same address, mapped
        b.feed(&ev("bastion", "192.0.2.99", "Failure", 7));
        b.feed(&ev("activity", "192.0.2.99", "Success", 8)); // other logs do not count as sign-ins
        a.merge(b);
        let f = a.finish();
        assert_eq!(f.len(), 2, "{f:#?}");
        assert_eq!(f[0].ips, ["192.0.2.99"]);
        assert_eq!(f[1].ips, ["198.51.100.66"]);
        assert_eq!(f[1].events.iter().map(|e| e.time).collect::<Vec<_>>(), [4, 5]);
        assert_eq!(f[1].users, ["rob"]);
        assert_eq!((f[1].rule_id.as_str(), f[1].kind.as_str()), (BASTION_NEW_IP_ID, "novelty"));
    }

    #[test]
    fn no_signin_log_means_no_finding() {
        let mut a = BastionNewIp::default();
        a.feed(&ev("signin", "203.0.113.10", "Failure", 1));
        a.feed(&ev("bastion", "198.51.100.66", "Success", 2));
        assert!(a.finish().is_empty());
    }
}
