//! Detections over sums of flow counters, which Sigma cannot state (its correlations count
//! events or distinct values; none sums a field).
//!
//! **Large outbound transfer to one external address.** NSG flow logs v2 and VNet flow logs
//! report a long connection as many tuples, one per interval, each carrying the bytes of that
//! interval only (deltas for the Continuing and End states). An exfiltration of 2 GB over
//! twenty minutes is then forty tuples of 50 MB, none of them large. This analytic sums, for
//! each pair (internal address, external address), the bytes that went from the internal side
//! to the external one, whoever opened the connection:
//!
//! * a tuple whose source is internal and destination external counts its `SrcBytes` (an
//!   upload: `scp`, `curl -T`, an `azcopy` to a foreign account);
//! * a tuple whose source is external and destination internal counts its `DstBytes` (a
//!   download *by* the outside client: the attacker pulling files over an inbound SSH session
//!   or from a web server).
//!
//! It reports a pair when the bytes within any window of [`WINDOW`] reach [`THRESHOLD`]. Sums
//! are kept per minute bucket, so memory follows the active minutes of each pair, not the tuple
//! count; each bucket keeps its [`REFS_PER_BUCKET`] largest tuples as the finding's evidence.
//!
//! **The same bytes logged twice.** A flow through a VM whose NIC and subnet both have an NSG,
//! or a VNet flow log beside NSG flow logs, is reported by each logging device. Sums are kept
//! per device (ACL id, else device id, else resource, else source) and the pair's figure is the
//! largest device's, never the sum over devices.
//!
//! "Internal" is what `azir flows` calls internal by default ([`DEFAULT_INTERNAL`]: RFC 1918,
//! RFC 6598, link-local, loopback, IPv6 unique-local and link-local), plus the Azure platform
//! address 168.63.129.16 and the unspecified, broadcast and IPv6 loopback addresses
//! ([`PLATFORM`]). Tuples between two internal or two external addresses, denied tuples and
//! tuples without byte counters (NSG v1, `B` states) are not counted.

use crate::novelty::parse_ip;
use crate::rule::Level;
use crate::{EventRef, Finding};
use azir_model::space::{AddressSpace, DEFAULT_INTERNAL};
use azir_model::NetworkSession;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// Rule id of the analytic (stable: findings are keyed by it).
pub const OUTBOUND_VOLUME_ID: &str = "16d90642-e510-4071-a17d-2258fcfdff7c";
/// Its title.
pub const OUTBOUND_VOLUME_TITLE: &str = "Large outbound transfer to an external address";
/// Bytes to one external address, within [`WINDOW`], that make a finding (100 MiB).
pub const THRESHOLD: i64 = 100 * 1024 * 1024;
/// The window the bytes are summed over (1 hour, in µs).
pub const WINDOW: i64 = 3_600_000_000;
/// Width of a sum bucket (1 minute, in µs).
const BUCKET: i64 = 60_000_000;
/// Tuples kept per bucket as evidence (the largest).
pub const REFS_PER_BUCKET: usize = 4;
/// Addresses counted as internal beside [`DEFAULT_INTERNAL`]: Azure's platform address (DNS,
/// health probes, the VM agent), and addresses no transfer really goes to.
pub const PLATFORM: [&str; 5] = ["168.63.129.16/32", "0.0.0.0/32", "255.255.255.255/32", "::1/128", "::/128"];

#[derive(Debug, Default, Clone)]
struct Bucket {
    bytes: i64,
    /// The largest tuples of the bucket, largest first.
    refs: Vec<(i64, EventRef)>,
}

impl Bucket {
    fn add(&mut self, bytes: i64, r: EventRef) {
        self.bytes = self.bytes.saturating_add(bytes);
        self.keep(bytes, r);
    }

    fn keep(&mut self, bytes: i64, r: EventRef) {
        let at = self.refs.partition_point(|(b, x)| *b > bytes || (*b == bytes && crate::ref_order(x, &r).is_le()));
        if at < REFS_PER_BUCKET {
            self.refs.insert(at, (bytes, r));
            self.refs.truncate(REFS_PER_BUCKET);
        }
    }

    fn merge(&mut self, other: Bucket) {
        self.bytes = self.bytes.saturating_add(other.bytes);
        for (b, r) in other.refs {
            self.keep(b, r);
        }
    }
}

/// (internal, external, logging device).
type Key = (IpAddr, IpAddr, String);

/// State of the outbound-volume analytic.
#[derive(Debug, Clone)]
pub struct OutboundVolume {
    internal: AddressSpace,
    sums: HashMap<Key, BTreeMap<i64, Bucket>>,
}

impl Default for OutboundVolume {
    fn default() -> Self {
        let internal = AddressSpace::parse(DEFAULT_INTERNAL.iter().chain(&PLATFORM)).expect("valid CIDRs");
        OutboundVolume { internal, sums: HashMap::new() }
    }
}

impl OutboundVolume {
    /// Looks at one tuple of the `network` table (flow-log sources only).
    pub fn feed(&mut self, s: &NetworkSession) {
        if !crate::logsource::FLOW_SOURCES.contains(&s.source.as_str()) {
            return;
        }
        if s.action.as_deref().is_some_and(|a| !a.eq_ignore_ascii_case("allow")) {
            return;
        }
        let (Some(src), Some(dst)) = (parse_ip(&s.src_ip), parse_ip(&s.dst_ip)) else { return };
        let (internal, external, bytes) = match (self.internal.contains(src), self.internal.contains(dst)) {
            (true, false) => (src, dst, s.bytes_s2d),
            (false, true) => (dst, src, s.bytes_d2s),
            _ => return,
        };
        let Some(bytes) = bytes.filter(|b| *b > 0) else { return };
        let device = s
            .acl_id
            .as_deref()
            .or(s.dvc_id.as_deref())
            .or(s.target_resource_id.as_deref())
            .unwrap_or(&s.source)
            .to_ascii_lowercase();
        let r = EventRef {
            time: s.time,
            provenance: s.provenance.clone(),
            user: None,
            ip: Some(s.src_ip.clone()),
            app: None,
            resource: s.target_resource_id.clone().or_else(|| s.dvc_id.clone()),
            tuple: Some(s.tuple_index),
        };
        self.sums
            .entry((internal, external, device))
            .or_default()
            .entry(s.time.div_euclid(BUCKET))
            .or_default()
            .add(bytes, r);
    }

    /// Adds what another worker saw.
    pub fn merge(&mut self, other: OutboundVolume) {
        for (k, buckets) in other.sums {
            let mine = self.sums.entry(k).or_default();
            for (t, b) in buckets {
                mine.entry(t).or_default().merge(b);
            }
        }
    }

    /// One finding per (internal, external) pair whose bytes within some window reached the
    /// threshold: the device and window with the most bytes, and that window's largest tuples.
    pub fn finish(self) -> Vec<Finding> {
        let span = WINDOW / BUCKET;
        // Per pair: (bytes, device, first bucket, last bucket) of the best window.
        let mut best: BTreeMap<(IpAddr, IpAddr), (i64, String, i64, i64)> = BTreeMap::new();
        for ((internal, external, device), buckets) in &self.sums {
            let keys: Vec<(i64, i64)> = buckets.iter().map(|(t, b)| (*t, b.bytes)).collect();
            let (mut lo, mut sum) = (0, 0i64);
            let mut top = (0i64, 0i64, 0i64);
            for hi in 0..keys.len() {
                sum = sum.saturating_add(keys[hi].1);
                while keys[hi].0 - keys[lo].0 >= span {
                    sum -= keys[lo].1;
                    lo += 1;
                }
                if sum > top.0 {
                    top = (sum, keys[lo].0, keys[hi].0);
                }
            }
            if top.0 < THRESHOLD {
                continue;
            }
            let e = best.entry((*internal, *external)).or_insert((0, String::new(), 0, 0));
            if (top.0, std::cmp::Reverse(device)) > (e.0, std::cmp::Reverse(&e.1)) {
                *e = (top.0, device.clone(), top.1, top.2);
            }
        }
        best.into_iter()
            .map(|((internal, external), (bytes, device, from, to))| {
                let buckets = &self.sums[&(internal, external, device)];
                let mut events: Vec<EventRef> =
                    buckets.range(from..=to).flat_map(|(_, b)| b.refs.iter().map(|(_, r)| r.clone())).collect();
                events.sort_by(crate::ref_order);
                let mut resources: Vec<String> = events.iter().filter_map(|e| e.resource.clone()).collect();
                resources.sort();
                resources.dedup();
                resources.truncate(50);
                Finding {
                    rule_id: OUTBOUND_VOLUME_ID.to_string(),
                    title: OUTBOUND_VOLUME_TITLE.to_string(),
                    level: Level::Medium,
                    tags: ["attack.exfiltration", "attack.t1048", "attack.t1567"].map(String::from).to_vec(),
                    kind: "volume".to_string(),
                    origin: "builtin:volume".to_string(),
                    first: events.first().map_or(from * BUCKET, |e| e.time),
                    last: events.last().map_or(to * BUCKET, |e| e.time),
                    group: vec![
                        format!("InternalIpAddr={internal}"),
                        format!("ExternalIpAddr={external}"),
                        format!("OutboundBytes={bytes}"),
                    ],
                    users: Vec::new(),
                    ips: vec![internal.to_string(), external.to_string()],
                    apps: Vec::new(),
                    resources,
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

    const MB: i64 = 1024 * 1024;

    fn tuple(t_min: i64, src: &str, dst: &str, s2d: i64, d2s: i64, acl: &str) -> NetworkSession {
        NetworkSession {
            time: t_min * BUCKET,
            source: "nsg_flow".into(),
            src_ip: src.into(),
            dst_ip: dst.into(),
            action: Some("Allow".into()),
            bytes_s2d: Some(s2d),
            bytes_d2s: Some(d2s),
            acl_id: Some(acl.into()),
            provenance: Provenance { evidence_path: "flows.json".into(), line: t_min as u64, ..Provenance::default() },
            ..NetworkSession::default()
        }
    }

    #[test]
    fn many_small_tuples_add_up_within_the_window() {
        let mut v = OutboundVolume::default();
        // 21 intervals of 5 MB each: 105 MB in 21 minutes, no tuple anywhere near 100 MB.
        for m in 0..21 {
            v.feed(&tuple(m, "10.0.0.4", "203.0.113.50", 5 * MB, 10_000, "nic-nsg"));
        }
        let f = v.finish();
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].group, ["InternalIpAddr=10.0.0.4", "ExternalIpAddr=203.0.113.50", "OutboundBytes=110100480"]);
        assert_eq!(f[0].events.len(), 21);
        assert_eq!((f[0].first, f[0].last), (0, 20 * BUCKET));
        assert_eq!(f[0].rule_id, OUTBOUND_VOLUME_ID);
    }

    #[test]
    fn the_same_bytes_spread_over_more_than_the_window_or_logged_twice_do_not() {
        let mut v = OutboundVolume::default();
        // 105 MB, but one 5 MB interval every 4 minutes: at most 75 MB in any hour.
        for i in 0..21 {
            v.feed(&tuple(i * 4, "10.0.0.4", "203.0.113.50", 5 * MB, 0, "nic-nsg"));
        }
        assert!(v.clone().finish().is_empty());
        // 60 MB logged by both the NIC's and the subnet's NSG is still 60 MB.
        let mut w = OutboundVolume::default();
        for m in 0..12 {
            w.feed(&tuple(m, "10.0.0.5", "198.51.100.9", 5 * MB, 0, "nic-nsg"));
            w.feed(&tuple(m, "10.0.0.5", "198.51.100.9", 5 * MB, 0, "subnet-nsg"));
        }
        assert!(w.finish().is_empty());
    }

    #[test]
    fn downloads_by_an_outside_client_count_and_internal_or_denied_traffic_does_not() {
        let mut v = OutboundVolume::default();
        // The attacker pulls 120 MB over an inbound SSH session: the VM's bytes are DstBytes.
        v.feed(&tuple(0, "198.51.100.66", "10.0.0.4", 50_000, 120 * MB, "nic-nsg"));
        // East-west and Azure platform traffic, and an upload the NSG denied.
        v.feed(&tuple(0, "10.0.0.4", "10.0.1.9", 500 * MB, 0, "nic-nsg"));
        v.feed(&tuple(0, "10.0.0.4", "168.63.129.16", 500 * MB, 0, "nic-nsg"));
        let mut denied = tuple(0, "10.0.0.4", "192.0.2.1", 500 * MB, 0, "nic-nsg");
        denied.action = Some("Deny".into());
        v.feed(&denied);
        // AWS VPC and IPv4-mapped addresses are flows too; Azure Firewall rows are not.
        let mut fw = tuple(0, "10.0.0.4", "192.0.2.2", 500 * MB, 0, "fw");
        fw.source = "firewall".into();
        v.feed(&fw);
        let f = v.finish();
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].ips, ["10.0.0.4", "198.51.100.66"]);
    }

    #[test]
    fn merged_workers_equal_one_and_evidence_is_the_largest_tuples() {
        let feed = |v: &mut OutboundVolume, m: i64| {
            for k in 0..6 {
                let mut t = tuple(m, "10.0.0.4", "::ffff:203.0.113.50", (k + 1) * 3 * MB, 0, "vnet-flow");
                t.tuple_index = k as u32;
                v.feed(&t);
            }
        };
        let (mut one, mut a, mut b) = (OutboundVolume::default(), OutboundVolume::default(), OutboundVolume::default());
        for m in 0..3 {
            feed(&mut one, m);
            feed(if m % 2 == 0 { &mut a } else { &mut b }, m);
        }
        a.merge(b);
        let (x, y) = (one.finish(), a.finish());
        assert_eq!(format!("{x:?}"), format!("{y:?}"));
        assert_eq!(x.len(), 1);
        // 3 minutes x 4 kept tuples (the 18, 15, 12 and 9 MB ones) of 6.
        assert_eq!(x[0].events.len(), 12);
        assert!(x[0].events.iter().all(|e| e.tuple.unwrap() >= 2));
        assert_eq!(x[0].ips, ["10.0.0.4", "203.0.113.50"]);
        let space = OutboundVolume::default().internal;
        for (ip, internal) in [("100.64.1.1", true), ("100.128.0.1", false), ("fd00::1", true), ("2001:db8::1", false)]
        {
            assert_eq!(space.contains(ip.parse().unwrap()), internal, "{ip}");
        }
        assert!(space.contains("::ffff:168.63.129.16".parse().unwrap()));
    }
}
