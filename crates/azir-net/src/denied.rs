//! Denied flows: who was refused, by which rule and device, on how many ports and targets.

use crate::batch::{col, iso, key, Evidence, Examples, FlowBatch, Groups, Names, Set, Span};
use crate::space::AddressSpace;
use crate::Analysis;
use serde::Serialize;

#[derive(Default)]
struct Refused {
    flows: u64,
    tuples: u64,
    ports: Set<(i32, u64)>,
    targets: Set<u64>,
    span: Span,
    ex: Examples,
}

/// The denied aggregation.
pub struct Denied {
    space: AddressSpace,
    limit: usize,
    groups: Groups<(u64, u64, u64), Refused>,
    names: Names,
    paths: Names,
}

/// One refused source, per rule and device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeniedRow {
    /// Source address.
    pub src: String,
    /// Inside the internal address space.
    pub internal: bool,
    /// The denying rule (`NetworkRuleName`).
    pub rule: String,
    /// The reporting device (`DvcId`: NSG, flow log, firewall).
    pub device: String,
    /// Distinct denied flows.
    pub flows: u64,
    /// Denied tuples.
    pub tuples: u64,
    /// Distinct destination ports (with protocol).
    pub ports: u64,
    /// Distinct destination addresses.
    pub targets: u64,
    /// First denied tuple.
    pub first: String,
    /// Last denied tuple.
    pub last: String,
    /// A few of the ports, lowest first (`22/TCP`).
    pub port_sample: Vec<String>,
    /// Example tuples.
    pub evidence: Vec<Evidence>,
}

impl Denied {
    /// A denied aggregation keeping the `limit` most refused sources.
    pub fn new(space: AddressSpace, limit: usize) -> Denied {
        Denied { space, limit, groups: Groups::default(), names: Names::default(), paths: Names::default() }
    }
}

impl Analysis for Denied {
    type Report = Vec<DeniedRow>;

    fn columns(&self) -> Vec<&'static str> {
        vec![
            col::TIME,
            col::SRC,
            col::DST,
            col::DPORT,
            col::PROTO,
            col::ACTION,
            col::RULE,
            col::DVC,
            col::FLOW_ID,
            col::EV_PATH,
            col::EV_LINE,
            col::EV_TUPLE,
        ]
    }

    fn add(&mut self, b: &FlowBatch) {
        for i in b.rows() {
            if !b.denied(i) {
                continue;
            }
            // The rule is part of the flow's identity here: one 5-tuple may be refused by two rules.
            let rule = self.names.note(b.rule(i));
            let names = &mut self.names;
            let (s, new) = self
                .groups
                .of_flow(b.flow(i) ^ rule.rotate_left(17), || (names.note(b.src(i)), rule, names.note(b.dvc(i))));
            let r = &mut self.groups.vals[s];
            if new {
                r.flows += 1;
                r.ports.insert((b.dport(i), self.names.note(b.proto(i))));
                r.targets.insert(key(b.dst(i)));
            }
            r.tuples += 1;
            r.span.see(b.time(i));
            r.ex.offer(b, i, &mut self.paths);
        }
    }

    fn merge(&mut self, other: Denied) {
        self.names.merge(other.names);
        self.paths.merge(other.paths);
        self.groups.merge(
            other.groups,
            |a, o| {
                a.flows += o.flows;
                a.tuples += o.tuples;
                a.ports.extend(o.ports);
                a.targets.extend(o.targets);
                a.span.merge(o.span);
                a.ex.merge(&o.ex);
            },
            |a| a.flows -= 1,
        );
    }

    /// Sources by denied flows, then address.
    fn finish(self) -> Vec<DeniedRow> {
        let mut rows: Vec<DeniedRow> = self
            .groups
            .iter()
            .map(|(&(src, rule, dvc), r)| {
                let src = self.names.get(src).to_string();
                let mut ports: Vec<(i32, &str)> = r.ports.iter().map(|&(p, pr)| (p, self.names.get(pr))).collect();
                ports.sort();
                DeniedRow {
                    internal: self.space.contains_str(&src),
                    src,
                    rule: self.names.get(rule).to_string(),
                    device: self.names.get(dvc).to_string(),
                    flows: r.flows,
                    tuples: r.tuples,
                    ports: r.ports.len() as u64,
                    targets: r.targets.len() as u64,
                    first: iso(r.span.first),
                    last: iso(r.span.last),
                    port_sample: ports.iter().take(10).map(|(p, pr)| crate::batch::port_name(*p, pr)).collect(),
                    evidence: r.ex.resolve(&self.paths),
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            b.flows.cmp(&a.flows).then_with(|| (&a.src, &a.rule, &a.device).cmp(&(&b.src, &b.rule, &b.device)))
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
    fn refused_sources_by_rule_with_ports_targets_and_times() {
        let rows = vec![
            t(100, "203.0.113.5", "10.0.0.4", 40000, 22).deny("DefaultRule_DenyAllInBound").line(10),
            t(160, "203.0.113.5", "10.0.0.4", 40001, 23).deny("DefaultRule_DenyAllInBound").line(11),
            t(220, "203.0.113.5", "10.0.0.5", 40002, 22).deny("DefaultRule_DenyAllInBound").line(12),
            // The same denied flow reported twice (retransmitted SYN): one flow, two tuples.
            t(230, "203.0.113.5", "10.0.0.5", 40002, 22).deny("DefaultRule_DenyAllInBound").line(13),
            t(300, "2001:db8::66", "fd00::4", 1234, 3389).deny("UserRule_Deny-RDP").line(14),
            t(400, "10.0.0.9", "10.0.1.4", 5000, 1433).deny("UserRule_Deny-Web-To-Data").line(15),
            // Allowed: ignored.
            t(500, "203.0.113.5", "10.0.0.4", 40009, 443).line(16),
        ];
        let r = split_run(
            &rows,
            || Denied::new(AddressSpace::default(), 10),
            |a, b| a.add(&FlowBatch::new(b, Default::default()).unwrap()),
            |a, o| a.merge(o),
            |a| a.finish(),
        );
        assert_eq!(r.len(), 3);
        let top = &r[0];
        assert_eq!(
            (top.src.as_str(), top.rule.as_str(), top.device.as_str()),
            ("203.0.113.5", "DefaultRule_DenyAllInBound", "/NSG1")
        );
        assert_eq!((top.flows, top.tuples, top.ports, top.targets, top.internal), (3, 4, 2, 2, false));
        assert_eq!(top.port_sample, vec!["22/TCP", "23/TCP"]);
        assert_eq!(
            (top.first.as_str(), top.last.as_str()),
            ("1970-01-01T00:01:40.000000Z", "1970-01-01T00:03:50.000000Z")
        );
        assert_eq!(top.evidence.iter().map(|e| e.line).collect::<Vec<_>>(), vec![10, 11, 12]);
        assert_eq!(
            (r[1].src.as_str(), r[1].internal, r[1].rule.as_str()),
            ("10.0.0.9", true, "UserRule_Deny-Web-To-Data")
        );
        assert_eq!((r[2].src.as_str(), r[2].port_sample[0].as_str()), ("2001:db8::66", "3389/TCP"));
    }
}
