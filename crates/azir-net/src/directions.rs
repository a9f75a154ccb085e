//! Direction classes: flows, tuples, bytes and packets per class, allowed vs denied.

use crate::batch::{col, flow_decision, Evidence, Examples, FlowBatch, Groups, Names, Volume};
use crate::space::{AddressSpace, Direction};
use crate::Analysis;
use serde::Serialize;

#[derive(Default)]
struct Class {
    v: Volume,
    ex: Examples,
}

/// The directions aggregation.
pub struct Directions {
    space: AddressSpace,
    groups: Groups<(Direction, bool), Class>,
    paths: Names,
}

/// One direction class and decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DirectionRow {
    /// The class.
    pub direction: Direction,
    /// `allow` or `deny`.
    pub action: &'static str,
    /// Distinct flows.
    pub flows: u64,
    /// Tuples.
    pub tuples: u64,
    /// Bytes both ways.
    pub bytes: u64,
    /// Packets both ways.
    pub packets: u64,
    /// Example tuples.
    pub evidence: Vec<Evidence>,
}

impl Directions {
    /// A directions aggregation over `space`.
    pub fn new(space: AddressSpace) -> Directions {
        Directions { space, groups: Groups::default(), paths: Names::default() }
    }
}

impl Analysis for Directions {
    type Report = Vec<DirectionRow>;

    fn columns(&self) -> Vec<&'static str> {
        vec![
            col::TIME,
            col::SRC,
            col::DST,
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
            let space = &self.space;
            let (s, new) =
                self.groups.of_flow(flow_decision(b.flow(i), denied), || (space.classify(b.src(i), b.dst(i)), denied));
            let c = &mut self.groups.vals[s];
            c.v.add(b, i, new);
            c.ex.offer(b, i, &mut self.paths);
        }
    }

    fn merge(&mut self, other: Directions) {
        self.paths.merge(other.paths);
        self.groups.merge(
            other.groups,
            |a, o| {
                a.v.merge(&o.v);
                a.ex.merge(&o.ex);
            },
            |a| a.v.flows -= 1,
        );
    }

    /// One row per class and decision seen, in class order, allowed first.
    fn finish(self) -> Vec<DirectionRow> {
        let mut rows: Vec<DirectionRow> = self
            .groups
            .iter()
            .map(|(&(direction, denied), c)| DirectionRow {
                direction,
                action: if denied { "deny" } else { "allow" },
                flows: c.v.flows,
                tuples: c.v.tuples,
                bytes: c.v.bytes,
                packets: c.v.packets,
                evidence: c.ex.resolve(&self.paths),
            })
            .collect();
        rows.sort_by_key(|r| (r.direction, r.action));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{split_run, t};

    #[test]
    fn classes_and_decisions() {
        let rows = vec![
            t(1, "203.0.113.5", "10.0.0.4", 40000, 22).deny("DefaultRule_DenyAllInBound"),
            t(2, "203.0.113.6", "10.0.0.4", 40001, 22).deny("DefaultRule_DenyAllInBound"),
            t(3, "203.0.113.6", "10.0.0.4", 40002, 443),
            t(4, "203.0.113.6", "10.0.0.4", 40002, 443).state("End", Some((2, 200, 3, 3000))),
            t(5, "10.0.0.4", "198.51.100.1", 50000, 443).state("End", Some((1, 100, 1, 10))),
            t(6, "10.0.0.4", "10.0.1.9", 50001, 1433).state("End", Some((1, 1, 1, 1))),
            t(7, "2001:db8::1", "2001:db8::2", 1, 2).state("End", Some((1, 5, 0, 0))),
            t(8, "fd00::1", "fe80::2", 3, 4),
        ];
        let r = split_run(
            &rows,
            || Directions::new(AddressSpace::default()),
            |a, b| a.add(&FlowBatch::new(b, Default::default()).unwrap()),
            |a, o| a.merge(o),
            |a| a.finish(),
        );
        let got: Vec<(Direction, &str, u64, u64, u64, u64)> =
            r.iter().map(|x| (x.direction, x.action, x.flows, x.tuples, x.bytes, x.packets)).collect();
        assert_eq!(
            got,
            vec![
                (Direction::Inbound, "allow", 1, 2, 3200, 5),
                (Direction::Inbound, "deny", 2, 2, 0, 0),
                (Direction::Outbound, "allow", 1, 1, 110, 2),
                (Direction::Internal, "allow", 2, 2, 2, 2),
                (Direction::External, "allow", 1, 1, 5, 1),
            ]
        );
        assert_eq!(r[1].evidence.len(), 2);
    }
}
