//! First-seen external addresses: external addresses whose first flow in the case falls after
//! a given time, with what they touched.

use crate::batch::{col, iso, key, Evidence, Examples, FlowBatch, Map, Names, Set, Span};
use crate::space::AddressSpace;
use crate::Analysis;
use serde::Serialize;

struct Address {
    internal: bool,
    span: Span,
    tuples: u64,
    bytes: u64,
    peers: Set<u64>,
    ex: Examples,
}

/// The first-seen aggregation.
pub struct FirstSeen {
    space: AddressSpace,
    after: i64,
    limit: usize,
    addrs: Map<u64, Address>,
    names: Names,
    paths: Names,
}

/// One external address first seen after the cut-off.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirstSeenRow {
    /// The address.
    pub address: String,
    /// Its first tuple.
    pub first: String,
    /// Its last tuple.
    pub last: String,
    /// Tuples it appears in (either end).
    pub tuples: u64,
    /// Bytes both ways of those tuples.
    pub bytes: u64,
    /// Internal addresses it talked with.
    pub internal_hosts: Vec<String>,
    /// Example tuples (its earliest).
    pub evidence: Vec<Evidence>,
}

impl FirstSeen {
    /// Addresses first seen at or after `after` (µs); the scan must cover the time before it.
    pub fn new(space: AddressSpace, after: i64, limit: usize) -> FirstSeen {
        FirstSeen { space, after, limit, addrs: Map::default(), names: Names::default(), paths: Names::default() }
    }

    fn internal(&mut self, k: u64, s: &str) -> bool {
        let space = &self.space;
        let names = &mut self.names;
        self.addrs
            .entry(k)
            .or_insert_with(|| {
                let internal = space.contains_str(s);
                if !internal {
                    names.note(s);
                }
                Address {
                    internal,
                    span: Span::default(),
                    tuples: 0,
                    bytes: 0,
                    peers: Set::default(),
                    ex: Examples::default(),
                }
            })
            .internal
    }
}

impl Analysis for FirstSeen {
    type Report = Vec<FirstSeenRow>;

    fn columns(&self) -> Vec<&'static str> {
        vec![col::TIME, col::SRC, col::DST, col::BYTES_S2D, col::BYTES_D2S, col::EV_PATH, col::EV_LINE, col::EV_TUPLE]
    }

    fn add(&mut self, b: &FlowBatch) {
        for i in b.rows() {
            let (s, d) = (b.src(i), b.dst(i));
            let (ks, kd) = (key(s), key(d));
            let (is, id) = (self.internal(ks, s), self.internal(kd, d));
            for (k, internal, peer, peer_internal) in [(ks, is, d, id), (kd, id, s, is)] {
                if internal {
                    continue;
                }
                let Some(a) = self.addrs.get_mut(&k) else { continue };
                a.span.see(b.time(i));
                a.tuples += 1;
                a.bytes += b.bytes_s2d(i) + b.bytes_d2s(i);
                a.ex.offer(b, i, &mut self.paths);
                if peer_internal && a.peers.insert(key(peer)) {
                    self.names.note(peer);
                }
                if k == kd && ks == kd {
                    break;
                }
            }
        }
    }

    fn merge(&mut self, other: FirstSeen) {
        self.names.merge(other.names);
        self.paths.merge(other.paths);
        for (k, o) in other.addrs {
            match self.addrs.entry(k) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(o);
                }
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    let a = e.get_mut();
                    a.span.merge(o.span);
                    a.tuples += o.tuples;
                    a.bytes += o.bytes;
                    a.peers.extend(o.peers);
                    a.ex.merge(&o.ex);
                }
            }
        }
    }

    /// Addresses by first time, then address.
    fn finish(self) -> Vec<FirstSeenRow> {
        let mut rows: Vec<FirstSeenRow> = self
            .addrs
            .iter()
            .filter(|(_, a)| !a.internal && a.tuples > 0 && a.span.first >= self.after)
            .map(|(&k, a)| {
                let mut hosts: Vec<String> = a.peers.iter().map(|&p| self.names.get(p).to_string()).collect();
                hosts.sort_by_key(|h| (h.parse::<std::net::IpAddr>().ok(), h.clone()));
                FirstSeenRow {
                    address: self.names.get(k).to_string(),
                    first: iso(a.span.first),
                    last: iso(a.span.last),
                    tuples: a.tuples,
                    bytes: a.bytes,
                    internal_hosts: hosts,
                    evidence: a.ex.resolve(&self.paths),
                }
            })
            .collect();
        rows.sort_by(|a, b| (&a.first, &a.address).cmp(&(&b.first, &b.address)));
        rows.truncate(self.limit);
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{split_run, t};

    #[test]
    fn only_external_addresses_first_seen_after_the_cut() {
        let rows = vec![
            t(100, "203.0.113.1", "10.0.0.4", 1, 443).state("End", Some((1, 10, 1, 20))),
            t(5000, "203.0.113.1", "10.0.0.5", 2, 443).state("End", Some((1, 10, 1, 20))),
            t(2000, "10.0.0.4", "198.51.100.7", 3, 443).state("End", Some((1, 100, 1, 200))).line(7),
            t(2500, "10.0.0.6", "198.51.100.7", 4, 443).state("End", Some((1, 1, 1, 1))).line(8),
            t(3000, "2001:db8::5", "fd00::1", 5, 22).line(9),
            t(4000, "10.0.0.4", "10.0.0.9", 6, 445),
        ];
        let r = split_run(
            &rows,
            || FirstSeen::new(AddressSpace::default(), 1_000 * 1_000_000, 10),
            |a, b| a.add(&FlowBatch::new(b, Default::default()).unwrap()),
            |a, o| a.merge(o),
            |a| a.finish(),
        );
        assert_eq!(r.len(), 2, "{r:#?}");
        assert_eq!(r[0].address, "198.51.100.7");
        assert_eq!((r[0].tuples, r[0].bytes), (2, 302));
        assert_eq!(r[0].internal_hosts, vec!["10.0.0.4", "10.0.0.6"]);
        assert_eq!(r[0].evidence.iter().map(|e| e.line).collect::<Vec<_>>(), vec![7, 8]);
        assert_eq!(r[0].first, "1970-01-01T00:33:20.000000Z");
        assert_eq!((r[1].address.as_str(), r[1].internal_hosts[0].as_str()), ("2001:db8::5", "fd00::1"));
    }
}
