//! Destination ports: flows per port and protocol, allowed vs denied, distinct sources.

use crate::batch::{col, flow_decision, Evidence, Examples, FlowBatch, Groups, Map, Names, Set, Volume};
use crate::Analysis;
use serde::Serialize;

#[derive(Default)]
struct Port {
    v: Volume,
    sources: Set<u64>,
    targets: Set<u64>,
    ex: Examples,
}

/// The ports aggregation.
pub struct Ports {
    limit: usize,
    groups: Groups<(i32, u64, bool), Port>,
    names: Names,
    paths: Names,
}

/// One destination port and protocol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortRow {
    /// Destination port (None for ICMP and other portless protocols).
    pub port: Option<i32>,
    /// Protocol.
    pub protocol: String,
    /// Allowed flows.
    pub allowed_flows: u64,
    /// Denied flows.
    pub denied_flows: u64,
    /// Tuples.
    pub tuples: u64,
    /// Bytes both ways.
    pub bytes: u64,
    /// Packets both ways.
    pub packets: u64,
    /// Distinct source addresses.
    pub sources: u64,
    /// Distinct destination addresses.
    pub targets: u64,
    /// Example tuples.
    pub evidence: Vec<Evidence>,
}

impl Ports {
    /// A ports aggregation keeping the `limit` busiest ports (by flows).
    pub fn new(limit: usize) -> Ports {
        Ports { limit, groups: Groups::default(), names: Names::default(), paths: Names::default() }
    }
}

impl Analysis for Ports {
    type Report = Vec<PortRow>;

    fn columns(&self) -> Vec<&'static str> {
        vec![
            col::TIME,
            col::SRC,
            col::DST,
            col::DPORT,
            col::PROTO,
            col::ACTION,
            col::FLOW_ID,
            col::PKTS_S2D,
            col::BYTES_S2D,
            col::PKTS_D2S,
            col::BYTES_D2S,
            col::EV_PATH,
            col::EV_LINE,
            col::EV_TUPLE,
        ]
    }

    fn add(&mut self, b: &FlowBatch) {
        for i in b.rows() {
            let denied = b.denied(i);
            let names = &mut self.names;
            let (s, new) =
                self.groups.of_flow(flow_decision(b.flow(i), denied), || (b.dport(i), names.note(b.proto(i)), denied));
            let p = &mut self.groups.vals[s];
            if new {
                p.sources.insert(crate::batch::key(b.src(i)));
                p.targets.insert(crate::batch::key(b.dst(i)));
            }
            p.v.add(b, i, new);
            p.ex.offer(b, i, &mut self.paths);
        }
    }

    fn merge(&mut self, other: Ports) {
        self.names.merge(other.names);
        self.paths.merge(other.paths);
        self.groups.merge(
            other.groups,
            |a, o| {
                a.v.merge(&o.v);
                a.sources.extend(o.sources);
                a.targets.extend(o.targets);
                a.ex.merge(&o.ex);
            },
            |a| a.v.flows -= 1,
        );
    }

    /// Ports by total flows, then port number.
    fn finish(self) -> Vec<PortRow> {
        #[derive(Default)]
        struct Acc {
            allowed: u64,
            denied: u64,
            tuples: u64,
            bytes: u64,
            packets: u64,
            sources: Set<u64>,
            targets: Set<u64>,
            ex: Examples,
        }
        let mut by: Map<(i32, u64), Acc> = Map::default();
        for (&(port, proto, denied), p) in self.groups.iter() {
            let a = by.entry((port, proto)).or_default();
            if denied {
                a.denied += p.v.flows;
            } else {
                a.allowed += p.v.flows;
            }
            a.tuples += p.v.tuples;
            a.bytes += p.v.bytes;
            a.packets += p.v.packets;
            a.sources.extend(p.sources.iter().copied());
            a.targets.extend(p.targets.iter().copied());
            a.ex.merge(&p.ex);
        }
        let mut rows: Vec<PortRow> = by
            .into_iter()
            .map(|((port, proto), a)| PortRow {
                port: (port >= 0).then_some(port),
                protocol: self.names.get(proto).to_string(),
                allowed_flows: a.allowed,
                denied_flows: a.denied,
                tuples: a.tuples,
                bytes: a.bytes,
                packets: a.packets,
                sources: a.sources.len() as u64,
                targets: a.targets.len() as u64,
                evidence: a.ex.resolve(&self.paths),
            })
            .collect();
        rows.sort_by(|a, b| {
            (b.allowed_flows + b.denied_flows)
                .cmp(&(a.allowed_flows + a.denied_flows))
                .then_with(|| (a.port, &a.protocol).cmp(&(b.port, &b.protocol)))
        });
        rows.truncate(self.limit);
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{split_run, t};

    #[test]
    fn ports_split_allowed_denied_and_count_sources() {
        let rows = vec![
            t(1, "203.0.113.5", "10.0.0.4", 40000, 22).deny("DefaultRule_DenyAllInBound"),
            t(2, "203.0.113.6", "10.0.0.4", 40001, 22).deny("DefaultRule_DenyAllInBound"),
            t(3, "203.0.113.6", "10.0.0.5", 40002, 22).deny("DefaultRule_DenyAllInBound"),
            t(4, "203.0.113.7", "10.0.0.4", 40003, 22),
            t(5, "203.0.113.7", "10.0.0.4", 40003, 22).state("End", Some((10, 1000, 10, 2000))),
            t(6, "10.0.0.4", "10.0.0.53", 5353, 53).proto("UDP").state("End", Some((1, 60, 1, 120))),
            t(7, "10.0.0.4", "10.0.0.53", 5354, 53).state("End", Some((1, 60, 1, 120))),
        ];
        let r = split_run(
            &rows,
            || Ports::new(10),
            |a, b| a.add(&FlowBatch::new(b, Default::default()).unwrap()),
            |a, o| a.merge(o),
            |a| a.finish(),
        );
        assert_eq!(r.len(), 3);
        let ssh = &r[0];
        assert_eq!((ssh.port, ssh.protocol.as_str()), (Some(22), "TCP"));
        assert_eq!((ssh.allowed_flows, ssh.denied_flows, ssh.tuples), (1, 3, 5));
        assert_eq!((ssh.sources, ssh.targets, ssh.bytes, ssh.packets), (3, 2, 3000, 20));
        assert_eq!(ssh.evidence.len(), 3);
        // 53/TCP and 53/UDP are different rows.
        assert_eq!((r[1].port, r[1].protocol.as_str(), r[1].bytes), (Some(53), "TCP", 180));
        assert_eq!((r[2].port, r[2].protocol.as_str(), r[2].allowed_flows), (Some(53), "UDP", 1));
    }
}
