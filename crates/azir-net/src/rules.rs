//! Rule hits: flows and bytes per NSG rule and device, allowed vs denied, and the rules that
//! allowed traffic from external (Internet) sources.

use crate::batch::{col, flow_decision, iso, Evidence, Examples, FlowBatch, Groups, Names, Span, Volume};
use crate::space::AddressSpace;
use crate::Analysis;
use serde::Serialize;

#[derive(Default)]
struct Hits {
    v: Volume,
    span: Span,
    ex: Examples,
}

/// The rules aggregation.
pub struct Rules {
    space: AddressSpace,
    limit: usize,
    groups: Groups<(u64, u64, bool, bool), Hits>,
    names: Names,
    paths: Names,
}

/// One rule on one device, for one decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleRow {
    /// `NetworkRuleName`.
    pub rule: String,
    /// `DvcId`.
    pub device: String,
    /// `allow` or `deny`.
    pub action: &'static str,
    /// Distinct flows.
    pub flows: u64,
    /// Flows whose source is external.
    pub external_flows: u64,
    /// Tuples.
    pub tuples: u64,
    /// Bytes both ways.
    pub bytes: u64,
    /// Packets both ways.
    pub packets: u64,
    /// First tuple.
    pub first: String,
    /// Last tuple.
    pub last: String,
    /// Example tuples (from external sources first when listed under `internet_allowed`).
    pub evidence: Vec<Evidence>,
}

/// Rule hits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RulesReport {
    /// Rules by flows.
    pub rules: Vec<RuleRow>,
    /// Allow rules that let external sources in, by external flows.
    pub internet_allowed: Vec<RuleRow>,
}

impl Rules {
    /// A rules aggregation keeping `limit` rows per list.
    pub fn new(space: AddressSpace, limit: usize) -> Rules {
        Rules { space, limit, groups: Groups::default(), names: Names::default(), paths: Names::default() }
    }
}

impl Analysis for Rules {
    type Report = RulesReport;

    fn columns(&self) -> Vec<&'static str> {
        vec![
            col::TIME,
            col::SRC,
            col::ACTION,
            col::RULE,
            col::DVC,
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
            let rule = self.names.note(b.rule(i));
            let names = &mut self.names;
            let identity = flow_decision(b.flow(i), denied) ^ rule.rotate_left(17);
            let space = &self.space;
            // Whether the source is external is a property of the flow, so it is part of the key.
            let (s, new) =
                self.groups.of_flow(identity, || (rule, names.note(b.dvc(i)), denied, !space.contains_str(b.src(i))));
            let h = &mut self.groups.vals[s];
            h.v.add(b, i, new);
            h.span.see(b.time(i));
            h.ex.offer(b, i, &mut self.paths);
        }
    }

    fn merge(&mut self, other: Rules) {
        self.names.merge(other.names);
        self.paths.merge(other.paths);
        self.groups.merge(
            other.groups,
            |a, o| {
                a.v.merge(&o.v);
                a.span.merge(o.span);
                a.ex.merge(&o.ex);
            },
            |a| a.v.flows -= 1,
        );
    }

    fn finish(self) -> RulesReport {
        // Fold the external/internal halves of each (rule, device, decision).
        #[derive(Default)]
        struct Acc {
            v: Volume,
            external_flows: u64,
            span: Span,
            ex: Examples,
            ex_external: Examples,
        }
        let mut by: crate::batch::Map<(u64, u64, bool), Acc> = Default::default();
        for (&(rule, dvc, denied, external), h) in self.groups.iter() {
            let a = by.entry((rule, dvc, denied)).or_default();
            a.v.merge(&h.v);
            a.span.merge(h.span);
            a.ex.merge(&h.ex);
            if external {
                a.external_flows += h.v.flows;
                a.ex_external.merge(&h.ex);
            }
        }
        let row = |&(rule, dvc, denied): &(u64, u64, bool), h: &Acc, ex: &Examples| RuleRow {
            rule: self.names.get(rule).to_string(),
            device: self.names.get(dvc).to_string(),
            action: if denied { "deny" } else { "allow" },
            flows: h.v.flows,
            external_flows: h.external_flows,
            tuples: h.v.tuples,
            bytes: h.v.bytes,
            packets: h.v.packets,
            first: iso(h.span.first),
            last: iso(h.span.last),
            evidence: ex.resolve(&self.paths),
        };
        let order = |a: &RuleRow, b: &RuleRow| (&a.rule, &a.device, a.action).cmp(&(&b.rule, &b.device, b.action));
        let mut rules: Vec<RuleRow> = by.iter().map(|(k, h)| row(k, h, &h.ex)).collect();
        rules.sort_by(|a, b| b.flows.cmp(&a.flows).then_with(|| order(a, b)));
        rules.truncate(self.limit);
        let mut internet: Vec<RuleRow> =
            by.iter().filter(|(k, h)| !k.2 && h.external_flows > 0).map(|(k, h)| row(k, h, &h.ex_external)).collect();
        internet.sort_by(|a, b| b.external_flows.cmp(&a.external_flows).then_with(|| order(a, b)));
        internet.truncate(self.limit);
        RulesReport { rules, internet_allowed: internet }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{split_run, t};

    #[test]
    fn hits_per_rule_and_internet_allowed() {
        let rows = vec![
            t(1, "203.0.113.5", "10.0.0.4", 40000, 22).rule("UserRule_AllowAnyInbound-Mgmt").line(1),
            t(2, "203.0.113.5", "10.0.0.4", 40000, 22)
                .rule("UserRule_AllowAnyInbound-Mgmt")
                .state("End", Some((5, 500, 6, 600)))
                .line(2),
            t(3, "10.0.0.9", "10.0.0.4", 40001, 22)
                .rule("UserRule_AllowAnyInbound-Mgmt")
                .state("End", Some((1, 10, 1, 10)))
                .line(3),
            t(4, "203.0.113.9", "10.0.0.4", 40002, 3389).deny("DefaultRule_DenyAllInBound").line(4),
            t(5, "10.0.0.4", "10.0.0.5", 40003, 8080).rule("DefaultRule_AllowVnetOutBound").line(5),
            t(6, "10.0.0.4", "10.0.0.6", 40004, 8080).rule("DefaultRule_AllowVnetOutBound").line(6),
            t(7, "10.0.0.4", "10.0.0.7", 40005, 8080).rule("DefaultRule_AllowVnetOutBound").line(7),
        ];
        let r = split_run(
            &rows,
            || Rules::new(AddressSpace::default(), 10),
            |a, b| a.add(&FlowBatch::new(b, Default::default()).unwrap()),
            |a, o| a.merge(o),
            |a| a.finish(),
        );
        let got: Vec<(&str, &str, u64, u64, u64, u64)> =
            r.rules.iter().map(|x| (x.rule.as_str(), x.action, x.flows, x.external_flows, x.tuples, x.bytes)).collect();
        assert_eq!(
            got,
            vec![
                ("DefaultRule_AllowVnetOutBound", "allow", 3, 0, 3, 0),
                ("UserRule_AllowAnyInbound-Mgmt", "allow", 2, 1, 3, 1120),
                ("DefaultRule_DenyAllInBound", "deny", 1, 1, 1, 0),
            ]
        );
        assert_eq!(r.internet_allowed.len(), 1);
        let open = &r.internet_allowed[0];
        assert_eq!(
            (open.rule.as_str(), open.external_flows, open.device.as_str()),
            ("UserRule_AllowAnyInbound-Mgmt", 1, "/NSG1")
        );
        assert_eq!(open.evidence.iter().map(|e| e.line).collect::<Vec<_>>(), vec![1, 2]);
    }
}
