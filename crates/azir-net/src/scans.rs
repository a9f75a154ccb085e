//! Scans: sources touching many ports of one target (vertical) or one port on many targets
//! (horizontal), with their time span and the share of denied flows.

use crate::batch::{col, flow_decision, iso, port_name, Evidence, Examples, FlowBatch, Groups, Map, Names, Span};
use crate::space::AddressSpace;
use crate::Analysis;
use serde::Serialize;

/// Thresholds of a scan finding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScanOptions {
    /// Distinct destination ports on one target that make a vertical scan.
    pub min_ports: u64,
    /// Distinct targets on one port that make a horizontal scan.
    pub min_hosts: u64,
    /// Findings kept.
    pub limit: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions { min_ports: 10, min_hosts: 10, limit: 20 }
    }
}

#[derive(Default)]
struct Touch {
    flows: u64,
    span: Span,
    ex: Examples,
}

/// The scans aggregation: one group per (source, target, port, protocol, decision).
pub struct Scans {
    space: AddressSpace,
    opts: ScanOptions,
    groups: Groups<(u64, u64, i32, u64, bool), Touch>,
    names: Names,
    paths: Names,
}

/// What a scan sweeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanKind {
    /// Many ports of one target.
    Vertical,
    /// One port on many targets.
    Horizontal,
}

/// One scan finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanRow {
    /// The scanning source.
    pub src: String,
    /// Inside the internal address space.
    pub internal: bool,
    /// Vertical or horizontal.
    pub kind: ScanKind,
    /// The target address (vertical) or port (`22/TCP`, horizontal).
    pub target: String,
    /// Distinct ports (vertical) or targets (horizontal).
    pub distinct: u64,
    /// Flows of the finding.
    pub flows: u64,
    /// Share of those flows that were denied.
    pub denied_ratio: f64,
    /// First flow.
    pub first: String,
    /// Last flow.
    pub last: String,
    /// Seconds from first to last.
    pub span_secs: f64,
    /// A few of the ports or targets swept.
    pub sample: Vec<String>,
    /// Example tuples.
    pub evidence: Vec<Evidence>,
}

impl Scans {
    /// A scans aggregation with thresholds `opts`.
    pub fn new(space: AddressSpace, opts: ScanOptions) -> Scans {
        Scans { space, opts, groups: Groups::default(), names: Names::default(), paths: Names::default() }
    }
}

#[derive(Default)]
struct Finding {
    members: Vec<(i32, u64)>,
    flows: u64,
    denied: u64,
    span: Span,
    ex: Examples,
}

impl Analysis for Scans {
    type Report = Vec<ScanRow>;

    fn columns(&self) -> Vec<&'static str> {
        vec![
            col::TIME,
            col::SRC,
            col::DST,
            col::SPORT,
            col::DPORT,
            col::PROTO,
            col::ACTION,
            col::FLOW_ID,
            col::EV_PATH,
            col::EV_LINE,
            col::EV_TUPLE,
        ]
    }

    fn add(&mut self, b: &FlowBatch) {
        for i in b.rows() {
            // Stateless logs (AWS VPC) record replies as flows of their own: a server answering
            // from 443 to a thousand client ports is not scanning them.
            if b.looks_like_reply(i) {
                continue;
            }
            let denied = b.denied(i);
            let names = &mut self.names;
            let (s, new) = self.groups.of_flow(flow_decision(b.flow(i), denied), || {
                (names.note(b.src(i)), names.note(b.dst(i)), b.dport(i), names.note(b.proto(i)), denied)
            });
            let t = &mut self.groups.vals[s];
            t.flows += new as u64;
            t.span.see(b.time(i));
            t.ex.offer(b, i, &mut self.paths);
        }
    }

    fn merge(&mut self, other: Scans) {
        self.names.merge(other.names);
        self.paths.merge(other.paths);
        self.groups.merge(
            other.groups,
            |a, o| {
                a.flows += o.flows;
                a.span.merge(o.span);
                a.ex.merge(&o.ex);
            },
            |a| a.flows -= 1,
        );
    }

    /// Findings by width (distinct ports or targets), then flows.
    fn finish(self) -> Vec<ScanRow> {
        // Vertical: (src, dst) → ports; horizontal: (src, port, proto) → targets.
        // A first pass counts members (an upper bound: a port both allowed and denied counts
        // twice) so that only candidates get a finding with members and examples.
        let mut v_count: Map<(u64, u64), u32> = Map::default();
        let mut h_count: Map<(u64, i32, u64), u32> = Map::default();
        for &(src, dst, port, proto, _) in &self.groups.keys {
            *v_count.entry((src, dst)).or_default() += 1;
            *h_count.entry((src, port, proto)).or_default() += 1;
        }
        let min_ports = self.opts.min_ports.max(1) as u32;
        let min_hosts = self.opts.min_hosts.max(1) as u32;
        v_count.retain(|_, n| *n >= min_ports);
        h_count.retain(|_, n| *n >= min_hosts);
        let mut vertical: Map<(u64, u64), Finding> = Map::default();
        let mut horizontal: Map<(u64, i32, u64), Finding> = Map::default();
        for (&(src, dst, port, proto, denied), t) in self.groups.iter() {
            let v = v_count.contains_key(&(src, dst)).then(|| vertical.entry((src, dst)).or_default());
            let h =
                h_count.contains_key(&(src, port, proto)).then(|| horizontal.entry((src, port, proto)).or_default());
            for (f, member) in [(v, (port, proto)), (h, (-2, dst))] {
                let Some(f) = f else { continue };
                f.members.push(member);
                f.flows += t.flows;
                f.denied += if denied { t.flows } else { 0 };
                f.span.merge(t.span);
                f.ex.merge(&t.ex);
            }
        }
        let mut rows = Vec::new();
        let mut emit = |src: u64, kind: ScanKind, target: String, mut f: Finding, names: &Names, paths: &Names| {
            f.members.sort_unstable();
            f.members.dedup();
            let min = match kind {
                ScanKind::Vertical => self.opts.min_ports,
                ScanKind::Horizontal => self.opts.min_hosts,
            };
            if (f.members.len() as u64) < min.max(1) {
                return;
            }
            let mut sample: Vec<String> = f
                .members
                .iter()
                .map(|&(p, k)| if p == -2 { names.get(k).to_string() } else { port_name(p, names.get(k)) })
                .collect();
            sample.sort_by(|a, b| natural(a).cmp(&natural(b)));
            sample.truncate(10);
            let src_name = names.get(src).to_string();
            rows.push(ScanRow {
                internal: self.space.contains_str(&src_name),
                src: src_name,
                kind,
                target,
                distinct: f.members.len() as u64,
                flows: f.flows,
                denied_ratio: if f.flows == 0 { 0.0 } else { f.denied as f64 / f.flows as f64 },
                first: iso(f.span.first),
                last: iso(f.span.last),
                span_secs: (f.span.last - f.span.first).max(0) as f64 / 1e6,
                sample,
                evidence: f.ex.resolve(paths),
            });
        };
        for ((src, dst), f) in vertical {
            emit(src, ScanKind::Vertical, self.names.get(dst).to_string(), f, &self.names, &self.paths);
        }
        for ((src, port, proto), f) in horizontal {
            emit(src, ScanKind::Horizontal, port_name(port, self.names.get(proto)), f, &self.names, &self.paths);
        }
        rows.sort_by(|a, b| {
            b.distinct
                .cmp(&a.distinct)
                .then(b.flows.cmp(&a.flows))
                .then_with(|| (&a.src, a.kind as u8, &a.target).cmp(&(&b.src, b.kind as u8, &b.target)))
        });
        rows.truncate(self.opts.limit);
        rows
    }
}

/// Sort key that puts `9/TCP` before `10/TCP` and addresses in numeric order.
fn natural(s: &str) -> (Option<std::net::IpAddr>, u64, &str) {
    let ip = s.parse().ok();
    let n = s.split(|c: char| !c.is_ascii_digit()).next().and_then(|d| d.parse().ok()).unwrap_or(u64::MAX);
    (ip, n, s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{split_run, t, T};

    fn run(rows: &[T], opts: ScanOptions) -> Vec<ScanRow> {
        split_run(
            rows,
            || Scans::new(AddressSpace::default(), opts),
            |a, b| a.add(&FlowBatch::new(b, Default::default()).unwrap()),
            |a, o| a.merge(o),
            |a| a.finish(),
        )
    }

    #[test]
    fn vertical_and_horizontal_scans_are_found_and_normal_traffic_is_not() {
        const HOSTS: [&str; 12] = [
            "10.0.0.1",
            "10.0.0.2",
            "10.0.0.3",
            "10.0.0.4",
            "10.0.0.5",
            "10.0.0.6",
            "10.0.0.7",
            "10.0.0.8",
            "10.0.0.9",
            "10.0.0.10",
            "10.0.0.11",
            "10.0.0.12",
        ];
        let mut rows = Vec::new();
        // Vertical: 15 ports of 10.0.0.4 in 140 s, 12 denied.
        for p in 0..15 {
            let r = t(1000 + p as i64 * 10, "198.51.100.200", "10.0.0.4", 40000, 20 + p);
            rows.push(if p < 12 { r.deny("DefaultRule_DenyAllInBound") } else { r });
        }
        // Horizontal: port 445 on 12 hosts, all denied, from an IPv6 source.
        for (k, h) in HOSTS.iter().enumerate() {
            rows.push(t(2000 + k as i64, "2001:db8::bad", h, 50000 + k as i32, 445).deny("DefaultRule_DenyAllInBound"));
        }
        // Normal: a client using 5 ports on one server many times, and a resolver asking 6 servers.
        for k in 0..40 {
            rows.push(t(
                3000 + k,
                "10.0.0.20",
                "10.0.0.30",
                30000 + k as i32,
                [80, 443, 8080, 8443, 9000][k as usize % 5],
            ));
        }
        for h in HOSTS.iter().take(6) {
            rows.push(t(4000, "10.0.0.53", h, 33000, 53));
        }
        // Replies of a stateless log: a web server answering 30 client ports is no scan.
        for k in 0..30 {
            rows.push(t(5000 + k, "10.0.0.80", "198.51.100.44", 443, 40000 + k as i32).stateless(Some((1, 100, 0, 0))));
        }
        let r = run(&rows, ScanOptions::default());
        assert_eq!(r.len(), 2, "{r:#?}");
        let v = &r[0];
        assert_eq!((v.src.as_str(), v.kind, v.target.as_str()), ("198.51.100.200", ScanKind::Vertical, "10.0.0.4"));
        assert_eq!((v.distinct, v.flows, v.internal), (15, 15, false));
        assert!((v.denied_ratio - 0.8).abs() < 1e-9);
        assert_eq!(v.span_secs, 140.0);
        assert_eq!(&v.sample[..3], &["20/TCP", "21/TCP", "22/TCP"]);
        assert_eq!(v.evidence.len(), 3);
        let h = &r[1];
        assert_eq!((h.src.as_str(), h.kind, h.target.as_str()), ("2001:db8::bad", ScanKind::Horizontal, "445/TCP"));
        assert_eq!((h.distinct, h.flows, h.denied_ratio), (12, 12, 1.0));
        assert_eq!(&h.sample[..2], &["10.0.0.1", "10.0.0.2"]);
        // Lower thresholds flag the client's 5 ports, and a tighter host count the DNS server.
        let r = run(&rows, ScanOptions { min_ports: 5, min_hosts: 6, limit: 20 });
        assert!(r.iter().any(|x| x.src == "10.0.0.20" && x.kind == ScanKind::Vertical && x.distinct == 5));
        assert!(r.iter().any(|x| x.src == "10.0.0.53" && x.kind == ScanKind::Horizontal && x.distinct == 6));
    }
}
