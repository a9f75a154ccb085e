//! Top talkers: pairs (initiator → responder, as logged) and hosts, by bytes, packets or flows.

use crate::batch::{col, iso, Evidence, Examples, FlowBatch, Groups, Names, Span};
use crate::space::{AddressSpace, Direction};
use crate::Analysis;
use serde::Serialize;

/// What talkers are ranked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Bytes both ways.
    #[default]
    Bytes,
    /// Packets both ways.
    Packets,
    /// Distinct flows.
    Flows,
}

#[derive(Default)]
struct Pair {
    flows: u64,
    tuples: u64,
    pkts_s2d: u64,
    bytes_s2d: u64,
    pkts_d2s: u64,
    bytes_d2s: u64,
    span: Span,
    ex: Examples,
}

impl Pair {
    fn merge(&mut self, o: Pair) {
        self.flows += o.flows;
        self.tuples += o.tuples;
        self.pkts_s2d += o.pkts_s2d;
        self.bytes_s2d += o.bytes_s2d;
        self.pkts_d2s += o.pkts_d2s;
        self.bytes_d2s += o.bytes_d2s;
        self.span.merge(o.span);
        self.ex.merge(&o.ex);
    }
}

/// The talkers aggregation.
pub struct Talkers {
    space: AddressSpace,
    by: Metric,
    limit: usize,
    pairs: Groups<(u64, u64), Pair>,
    names: Names,
    paths: Names,
}

/// One initiator → responder pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairRow {
    /// Initiator (`SrcIpAddr`).
    pub src: String,
    /// Responder (`DstIpAddr`).
    pub dst: String,
    /// Direction class.
    pub direction: Direction,
    /// Distinct flows.
    pub flows: u64,
    /// Flow tuples (rows).
    pub tuples: u64,
    /// Bytes initiator → responder.
    pub bytes_sent: u64,
    /// Bytes responder → initiator.
    pub bytes_received: u64,
    /// Both ways.
    pub bytes: u64,
    /// Packets initiator → responder.
    pub packets_sent: u64,
    /// Packets responder → initiator.
    pub packets_received: u64,
    /// Both ways.
    pub packets: u64,
    /// First tuple.
    pub first: String,
    /// Last tuple.
    pub last: String,
    /// Example tuples.
    pub evidence: Vec<Evidence>,
}

/// One host, over every pair it is part of (either end).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostRow {
    /// Address.
    pub host: String,
    /// Inside the internal address space.
    pub internal: bool,
    /// Distinct flows it is part of.
    pub flows: u64,
    /// Distinct peers.
    pub peers: u64,
    /// Bytes it sent (as initiator or responder).
    pub bytes_sent: u64,
    /// Bytes it received.
    pub bytes_received: u64,
    /// Both ways.
    pub bytes: u64,
    /// Packets it sent.
    pub packets_sent: u64,
    /// Packets it received.
    pub packets_received: u64,
    /// Both ways.
    pub packets: u64,
    /// First tuple.
    pub first: String,
    /// Last tuple.
    pub last: String,
    /// Example tuples.
    pub evidence: Vec<Evidence>,
}

/// Top pairs and top hosts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TalkersReport {
    /// The ranking metric.
    pub by: Metric,
    /// Top pairs.
    pub pairs: Vec<PairRow>,
    /// Top hosts.
    pub hosts: Vec<HostRow>,
}

impl Talkers {
    /// A talkers aggregation ranking by `by`, keeping `limit` rows of each list.
    pub fn new(space: AddressSpace, by: Metric, limit: usize) -> Talkers {
        Talkers { space, by, limit, pairs: Groups::default(), names: Names::default(), paths: Names::default() }
    }

    fn metric(&self, bytes: u64, packets: u64, flows: u64) -> u64 {
        match self.by {
            Metric::Bytes => bytes,
            Metric::Packets => packets,
            Metric::Flows => flows,
        }
    }
}

#[derive(Default)]
struct Host {
    flows: u64,
    peers: u64,
    bytes_sent: u64,
    bytes_recv: u64,
    pkts_sent: u64,
    pkts_recv: u64,
    span: Span,
    ex: Examples,
}

impl Analysis for Talkers {
    type Report = TalkersReport;

    fn columns(&self) -> Vec<&'static str> {
        vec![
            col::TIME,
            col::SRC,
            col::DST,
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
            let names = &mut self.names;
            let (s, new) = self.pairs.of_flow(b.flow(i), || (names.note(b.src(i)), names.note(b.dst(i))));
            let p = &mut self.pairs.vals[s];
            p.flows += new as u64;
            p.tuples += 1;
            p.pkts_s2d += b.pkts_s2d(i);
            p.bytes_s2d += b.bytes_s2d(i);
            p.pkts_d2s += b.pkts_d2s(i);
            p.bytes_d2s += b.bytes_d2s(i);
            p.span.see(b.time(i));
            p.ex.offer(b, i, &mut self.paths);
        }
    }

    fn merge(&mut self, other: Talkers) {
        self.names.merge(other.names);
        self.paths.merge(other.paths);
        self.pairs.merge(other.pairs, Pair::merge, |p| p.flows -= 1);
    }

    fn finish(self) -> TalkersReport {
        let mut hosts: crate::batch::Map<u64, Host> = Default::default();
        for (&(s, d), p) in self.pairs.iter() {
            for (h, sent, recv, ps, pr) in [
                (s, p.bytes_s2d, p.bytes_d2s, p.pkts_s2d, p.pkts_d2s),
                (d, p.bytes_d2s, p.bytes_s2d, p.pkts_d2s, p.pkts_s2d),
            ] {
                let e = hosts.entry(h).or_default();
                e.flows += p.flows;
                e.peers += 1;
                e.bytes_sent += sent;
                e.bytes_recv += recv;
                e.pkts_sent += ps;
                e.pkts_recv += pr;
                e.span.merge(p.span);
                e.ex.merge(&p.ex);
                if s == d {
                    break;
                }
            }
        }
        let mut pairs: Vec<(&(u64, u64), &Pair)> = self.pairs.iter().collect();
        let rank = |x: &Pair| self.metric(x.bytes_s2d + x.bytes_d2s, x.pkts_s2d + x.pkts_d2s, x.flows);
        crate::batch::top_k(&mut pairs, self.limit, |a, b| {
            rank(b.1).cmp(&rank(a.1)).then_with(|| {
                (self.names.get(a.0 .0), self.names.get(a.0 .1)).cmp(&(self.names.get(b.0 .0), self.names.get(b.0 .1)))
            })
        });
        let pairs = pairs
            .into_iter()
            .map(|(&(s, d), p)| {
                let (src, dst) = (self.names.get(s).to_string(), self.names.get(d).to_string());
                PairRow {
                    direction: self.space.classify(&src, &dst),
                    src,
                    dst,
                    flows: p.flows,
                    tuples: p.tuples,
                    bytes_sent: p.bytes_s2d,
                    bytes_received: p.bytes_d2s,
                    bytes: p.bytes_s2d + p.bytes_d2s,
                    packets_sent: p.pkts_s2d,
                    packets_received: p.pkts_d2s,
                    packets: p.pkts_s2d + p.pkts_d2s,
                    first: iso(p.span.first),
                    last: iso(p.span.last),
                    evidence: p.ex.resolve(&self.paths),
                }
            })
            .collect();
        let mut hosts: Vec<(u64, Host)> = hosts.into_iter().collect();
        let hrank = |x: &Host| self.metric(x.bytes_sent + x.bytes_recv, x.pkts_sent + x.pkts_recv, x.flows);
        crate::batch::top_k(&mut hosts, self.limit, |a, b| {
            hrank(&b.1).cmp(&hrank(&a.1)).then_with(|| self.names.get(a.0).cmp(self.names.get(b.0)))
        });
        let hosts = hosts
            .into_iter()
            .map(|(h, x)| {
                let host = self.names.get(h).to_string();
                HostRow {
                    internal: self.space.contains_str(&host),
                    host,
                    flows: x.flows,
                    peers: x.peers,
                    bytes_sent: x.bytes_sent,
                    bytes_received: x.bytes_recv,
                    bytes: x.bytes_sent + x.bytes_recv,
                    packets_sent: x.pkts_sent,
                    packets_received: x.pkts_recv,
                    packets: x.pkts_sent + x.pkts_recv,
                    first: iso(x.span.first),
                    last: iso(x.span.last),
                    evidence: x.ex.resolve(&self.paths),
                }
            })
            .collect();
        TalkersReport { by: self.by, pairs, hosts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{split_run, t};

    fn run(rows: &[crate::testutil::T], by: Metric) -> TalkersReport {
        split_run(
            rows,
            || Talkers::new(AddressSpace::default(), by, 10),
            |a, b| a.add(&FlowBatch::new(b, Default::default()).unwrap()),
            |a, o| a.merge(o),
            |a| a.finish(),
        )
    }

    #[test]
    fn counter_deltas_sum_per_flow_and_hosts_split_sent_received() {
        let rows = vec![
            // One flow B, C, C, E: totals 17 pkts / 1620 bytes out, 13 / 6060 back.
            t(1000, "203.0.113.105", "10.0.0.5", 35370, 443).line(1),
            t(1300, "203.0.113.105", "10.0.0.5", 35370, 443).state("Continuing", Some((10, 1000, 8, 4000))).line(2),
            t(1600, "203.0.113.105", "10.0.0.5", 35370, 443).state("Continuing", Some((5, 500, 4, 2000))).line(3),
            t(1800, "203.0.113.105", "10.0.0.5", 35370, 443).state("End", Some((2, 120, 1, 60))).line(4),
            // A second flow of the same pair.
            t(2000, "203.0.113.105", "10.0.0.5", 35371, 443).state("End", Some((1, 100, 1, 100))).line(5),
            // IPv6, internal to external.
            t(1500, "fd00::5", "2001:db8::9", 50000, 443).state("End", Some((3, 300, 2, 50))).line(6),
            // NSG v1 tuple: no counters, still a flow.
            t(1700, "10.0.0.5", "10.0.0.6", 40000, 1433).stateless(None).line(7),
        ];
        let r = run(&rows, Metric::Bytes);
        let p = &r.pairs[0];
        assert_eq!((p.src.as_str(), p.dst.as_str()), ("203.0.113.105", "10.0.0.5"));
        assert_eq!(p.direction, Direction::Inbound);
        assert_eq!((p.flows, p.tuples), (2, 5));
        assert_eq!((p.packets_sent, p.bytes_sent, p.packets_received, p.bytes_received), (18, 1720, 14, 6160));
        assert_eq!(p.bytes, 7880);
        assert_eq!(p.first, "1970-01-01T00:16:40.000000Z");
        assert_eq!(p.last, "1970-01-01T00:33:20.000000Z");
        assert_eq!(p.evidence.iter().map(|e| e.line).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(p.evidence[0].path, "logs/PT1H.json");
        let v6 = &r.pairs[1];
        assert_eq!((v6.src.as_str(), v6.direction, v6.bytes), ("fd00::5", Direction::Outbound, 350));
        let last = &r.pairs[2];
        assert_eq!((last.direction, last.flows, last.bytes), (Direction::Internal, 1, 0));
        // Host 10.0.0.5: received 1720 from the Internet, sent 6160 back; 3 flows, 2 peers.
        let h = r.hosts.iter().find(|h| h.host == "10.0.0.5").unwrap();
        assert_eq!((h.bytes_sent, h.bytes_received, h.flows, h.peers, h.internal), (6160, 1720, 3, 2, true));
        assert_eq!(r.hosts[0].host, "10.0.0.5");
        let ext = r.hosts.iter().find(|h| h.host == "203.0.113.105").unwrap();
        assert_eq!((ext.bytes_sent, ext.bytes_received, ext.internal), (1720, 6160, false));
    }

    #[test]
    fn ranking_by_flows_and_packets() {
        let mut rows = Vec::new();
        for p in 0..5 {
            rows.push(t(10 + p as i64, "10.0.0.1", "10.0.0.2", 1000 + p, 80).state("End", Some((1, 10, 1, 10))));
        }
        rows.push(t(50, "10.0.0.3", "10.0.0.4", 999, 80).state("End", Some((900, 90_000, 1, 10))));
        let r = run(&rows, Metric::Flows);
        assert_eq!((r.pairs[0].src.as_str(), r.pairs[0].flows), ("10.0.0.1", 5));
        let r = run(&rows, Metric::Packets);
        assert_eq!((r.pairs[0].src.as_str(), r.pairs[0].packets), ("10.0.0.3", 901));
        let r = run(&rows, Metric::Bytes);
        assert_eq!(r.pairs[0].bytes, 90_010);
        assert_eq!(r.pairs.len(), 2);
    }
}
