//! Beacons: connections from one source to one destination port that recur at a regular
//! interval, with regular sizes (command-and-control check-ins, scheduled exfil).

use crate::batch::{col, iso, median_mad, port_name, Evidence, Examples, FlowBatch, Groups, Names};
use crate::space::AddressSpace;
use crate::{Analysis, Direction};
use serde::Serialize;

/// Thresholds of a beacon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeaconOptions {
    /// Fewest connections.
    pub min_connections: usize,
    /// Largest jitter (MAD of the intervals / their median).
    pub max_jitter: f64,
    /// Shortest median interval, in seconds.
    pub min_interval_secs: f64,
    /// Findings kept.
    pub limit: usize,
}

impl Default for BeaconOptions {
    fn default() -> Self {
        BeaconOptions { min_connections: 6, max_jitter: 0.2, min_interval_secs: 10.0, limit: 20 }
    }
}

/// Connections starting closer together than this are one check-in (a burst of parallel
/// connections, or one connection reported by two devices).
pub const BURST_SECS: f64 = 2.0;

#[derive(Clone, Copy)]
struct Tuple {
    time: i64,
    flow: u64,
    bytes: u64,
    start: bool,
}

#[derive(Default)]
struct Channel {
    tuples: Vec<Tuple>,
    ex: Examples,
}

/// The beacons aggregation: one channel per (source, destination, port, protocol).
pub struct Beacons {
    space: AddressSpace,
    opts: BeaconOptions,
    groups: Groups<(u64, u64, i32, u64), Channel>,
    names: Names,
    paths: Names,
}

/// One beaconing channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BeaconRow {
    /// Source.
    pub src: String,
    /// Destination.
    pub dst: String,
    /// Destination port and protocol (`443/TCP`).
    pub port: String,
    /// Direction class.
    pub direction: Direction,
    /// Check-ins (connections, bursts merged).
    pub connections: u64,
    /// Median interval between check-ins, seconds.
    pub interval_secs: f64,
    /// MAD of the intervals / median interval.
    pub jitter: f64,
    /// Median bytes per check-in.
    pub size_median: f64,
    /// MAD of the sizes / their median (0: every check-in the same size).
    pub size_jitter: f64,
    /// In [0, 1]: regular timing (0.7) and regular size (0.3).
    pub score: f64,
    /// First check-in.
    pub first: String,
    /// Last check-in.
    pub last: String,
    /// Example tuples.
    pub evidence: Vec<Evidence>,
}

impl Beacons {
    /// A beacons aggregation with thresholds `opts`.
    pub fn new(space: AddressSpace, opts: BeaconOptions) -> Beacons {
        Beacons { space, opts, groups: Groups::default(), names: Names::default(), paths: Names::default() }
    }
}

/// Check-ins of a channel: (start µs, bytes), in time order.
fn checkins(tuples: &mut [Tuple]) -> Vec<(i64, u64)> {
    tuples.sort_unstable_by_key(|t| (t.flow, t.time, !t.start));
    let mut conns: Vec<(i64, u64)> = Vec::new();
    let mut prev_flow = None;
    for t in tuples.iter() {
        if prev_flow != Some(t.flow) || t.start {
            conns.push((t.time, 0));
            prev_flow = Some(t.flow);
        }
        if let Some(c) = conns.last_mut() {
            c.1 += t.bytes;
        }
    }
    conns.sort_unstable();
    let mut merged: Vec<(i64, u64)> = Vec::with_capacity(conns.len());
    for c in conns {
        match merged.last_mut() {
            Some(m) if (c.0 - m.0) as f64 / 1e6 < BURST_SECS => m.1 += c.1,
            _ => merged.push(c),
        }
    }
    merged
}

impl Analysis for Beacons {
    type Report = Vec<BeaconRow>;

    fn columns(&self) -> Vec<&'static str> {
        vec![
            col::TIME,
            col::SRC,
            col::DST,
            col::DPORT,
            col::PROTO,
            col::STATE,
            col::FLOW_ID,
            col::BYTES_S2D,
            col::BYTES_D2S,
            col::EV_PATH,
            col::EV_LINE,
            col::EV_TUPLE,
        ]
    }

    fn add(&mut self, b: &FlowBatch) {
        for i in b.rows() {
            let names = &mut self.names;
            let flow = b.flow(i);
            let (s, _) = self
                .groups
                .of_flow(flow, || (names.note(b.src(i)), names.note(b.dst(i)), b.dport(i), names.note(b.proto(i))));
            let c = &mut self.groups.vals[s];
            c.tuples.push(Tuple {
                time: b.time(i),
                flow,
                bytes: b.bytes_s2d(i) + b.bytes_d2s(i),
                start: b.is_start(i),
            });
            c.ex.offer(b, i, &mut self.paths);
        }
    }

    fn merge(&mut self, other: Beacons) {
        self.names.merge(other.names);
        self.paths.merge(other.paths);
        self.groups.merge(
            other.groups,
            |a, o| {
                a.tuples.extend(o.tuples);
                a.ex.merge(&o.ex);
            },
            |_| {},
        );
    }

    /// Beacons by score, then check-ins.
    fn finish(mut self) -> Vec<BeaconRow> {
        let mut rows = Vec::new();
        for (k, c) in self.groups.keys.iter().zip(self.groups.vals.iter_mut()) {
            let conns = checkins(&mut c.tuples);
            if conns.len() < self.opts.min_connections.max(3) {
                continue;
            }
            let intervals: Vec<f64> = conns.windows(2).map(|w| (w[1].0 - w[0].0) as f64 / 1e6).collect();
            let (interval, mad) = median_mad(&intervals);
            if interval < self.opts.min_interval_secs || interval <= 0.0 {
                continue;
            }
            let jitter = mad / interval;
            if jitter > self.opts.max_jitter {
                continue;
            }
            let sizes: Vec<f64> = conns.iter().map(|c| c.1 as f64).collect();
            let (size_median, size_mad) = median_mad(&sizes);
            let size_jitter = if size_median > 0.0 {
                size_mad / size_median
            } else if size_mad > 0.0 {
                1.0
            } else {
                0.0
            };
            let timing = if self.opts.max_jitter > 0.0 { 1.0 - jitter / self.opts.max_jitter } else { 1.0 };
            let score = 0.7 * timing + 0.3 * (1.0 - size_jitter.min(1.0));
            let (src, dst) = (self.names.get(k.0).to_string(), self.names.get(k.1).to_string());
            rows.push(BeaconRow {
                direction: self.space.classify(&src, &dst),
                src,
                dst,
                port: port_name(k.2, self.names.get(k.3)),
                connections: conns.len() as u64,
                interval_secs: interval,
                jitter,
                size_median,
                size_jitter,
                score: (score * 1000.0).round() / 1000.0,
                first: iso(conns[0].0),
                last: iso(conns[conns.len() - 1].0),
                evidence: c.ex.resolve(&self.paths),
            });
        }
        rows.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(b.connections.cmp(&a.connections))
                .then_with(|| (&a.src, &a.dst, &a.port).cmp(&(&b.src, &b.dst, &b.port)))
        });
        rows.truncate(self.opts.limit);
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{split_run, t, T};

    fn run(rows: &[T]) -> Vec<BeaconRow> {
        split_run(
            rows,
            || Beacons::new(AddressSpace::default(), BeaconOptions::default()),
            |a, b| a.add(&FlowBatch::new(b, Default::default()).unwrap()),
            |a, o| a.merge(o),
            |a| a.finish(),
        )
    }

    #[test]
    fn jittered_beacon_is_found_and_random_traffic_is_not() {
        let mut rows = Vec::new();
        // Every 300 s ± up to 12 s, one flow each (B then E with ~1 KB), new source port each time.
        let jitter = [0, 7, -5, 12, -9, 3, -11, 6, 0, -4, 10, -2];
        for (k, j) in jitter.iter().enumerate() {
            let start = 10_000 + k as i64 * 300 + j;
            let sport = 40_000 + k as i32;
            rows.push(t(start, "10.0.0.7", "203.0.113.50", sport, 443));
            rows.push(
                t(start + 2, "10.0.0.7", "203.0.113.50", sport, 443).state("End", Some((4, 1000 + k as i64, 3, 800))),
            );
        }
        // Random: gaps 5 s to 2000 s.
        let gaps = [5, 1900, 40, 700, 12, 1300, 90, 2000, 300, 60, 1500, 20];
        let mut at = 10_000;
        for (k, g) in gaps.iter().enumerate() {
            at += g;
            rows.push(t(at, "10.0.0.8", "198.51.100.9", 41_000 + k as i32, 443).state("End", Some((1, 500, 1, 500))));
        }
        // Regular but too few connections.
        for k in 0..4 {
            rows.push(t(10_000 + k * 60, "10.0.0.9", "198.51.100.10", 42_000 + k as i32, 80));
        }
        let r = run(&rows);
        assert_eq!(r.len(), 1, "{r:#?}");
        let b = &r[0];
        assert_eq!((b.src.as_str(), b.dst.as_str(), b.port.as_str()), ("10.0.0.7", "203.0.113.50", "443/TCP"));
        assert_eq!(b.direction, Direction::Outbound);
        assert_eq!(b.connections, 12);
        // Intervals 307,288,317,279,312,286,317,294,296,314,288: median 296, MAD 11.
        assert_eq!(b.interval_secs, 296.0);
        assert!((b.jitter - 11.0 / 296.0).abs() < 1e-9, "{}", b.jitter);
        // Sizes 1800+k: median 1805.5.
        assert_eq!(b.size_median, 1805.5);
        assert!(b.score > 0.8 && b.score <= 1.0, "{}", b.score);
        assert_eq!(b.first, "1970-01-01T02:46:40.000000Z");
    }

    #[test]
    fn one_long_lived_flow_reused_with_fixed_ports_splits_at_begin_tuples() {
        // NTP-like: the same 5-tuple (same FlowId) every 600 s; each B starts a check-in.
        let mut rows = Vec::new();
        for k in 0..8 {
            rows.push(t(k * 600, "10.0.0.4", "198.51.100.123", 123, 123).proto("UDP"));
            rows.push(
                t(k * 600 + 1, "10.0.0.4", "198.51.100.123", 123, 123).proto("UDP").state("End", Some((1, 76, 1, 76))),
            );
        }
        let r = run(&rows);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].connections, r[0].interval_secs, r[0].jitter, r[0].size_jitter), (8, 600.0, 0.0, 0.0));
        assert_eq!(r[0].score, 1.0);
        assert_eq!(r[0].port, "123/UDP");
    }
}
