//! Exfiltration volume: bytes leaving the internal space per external destination, per
//! internal host and per pair, and the hosts whose outbound volume in some hour (or day) is an
//! outlier against their own baseline.

use crate::batch::{col, iso, median_mad, Evidence, Examples, FlowBatch, Groups, Map, Names, Set, Span};
use crate::space::AddressSpace;
use crate::Analysis;
use serde::Serialize;

/// Parameters of the outlier test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExfilOptions {
    /// Bucket length in seconds (3600: hourly baseline, 86400: daily).
    pub bucket_secs: i64,
    /// Robust standard deviations above the median that make an outlier.
    pub k: f64,
    /// Smallest outlier bucket, in bytes (a host's noise floor is not exfil).
    pub min_bytes: u64,
    /// Fewest active buckets a host needs for a baseline.
    pub min_buckets: usize,
    /// Rows kept per list.
    pub limit: usize,
}

impl Default for ExfilOptions {
    fn default() -> Self {
        ExfilOptions { bucket_secs: 3600, k: 5.0, min_bytes: 50_000_000, min_buckets: 3, limit: 20 }
    }
}

/// Which end of a flow is inside, and so which counter leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Role {
    /// Internal initiator: `SrcBytes` leave.
    Outbound,
    /// External initiator: `DstBytes` leave (a download from an internal server).
    Inbound,
    /// Both ends on the same side: nothing leaves.
    None,
}

#[derive(Default)]
struct Pair {
    flows: u64,
    bytes_out: u64,
    span: Span,
    ex: Examples,
}

#[derive(Default)]
struct Bucket {
    bytes: u64,
    ex: Examples,
}

/// The exfil aggregation.
pub struct Exfil {
    space: AddressSpace,
    opts: ExfilOptions,
    pairs: Groups<(u64, u64, Role), Pair>,
    buckets: Map<(u64, i64), Bucket>,
    names: Names,
    paths: Names,
}

/// Bytes out to one external destination.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DestinationRow {
    /// External address.
    pub destination: String,
    /// Bytes sent to it from inside.
    pub bytes_out: u64,
    /// Flows with it.
    pub flows: u64,
    /// Internal hosts that sent to it.
    pub internal_hosts: Vec<String>,
    /// First flow.
    pub first: String,
    /// Last flow.
    pub last: String,
    /// Example tuples carrying bytes out.
    pub evidence: Vec<Evidence>,
}

/// Bytes out from one internal host, with its baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostRow {
    /// Internal address.
    pub host: String,
    /// Bytes it sent out.
    pub bytes_out: u64,
    /// Flows crossing the boundary.
    pub flows: u64,
    /// Distinct external peers it sent to.
    pub destinations: u64,
    /// Buckets in which it sent anything.
    pub active_buckets: u64,
    /// Median bytes per active bucket.
    pub baseline_median: f64,
    /// MAD of bytes per active bucket.
    pub baseline_mad: f64,
    /// Outlier buckets.
    pub outliers: u64,
    /// Example tuples.
    pub evidence: Vec<Evidence>,
}

/// One internal → external pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairRow {
    /// Internal address.
    pub host: String,
    /// External address.
    pub destination: String,
    /// Bytes out.
    pub bytes_out: u64,
    /// Flows.
    pub flows: u64,
    /// First flow.
    pub first: String,
    /// Last flow.
    pub last: String,
    /// Example tuples carrying bytes out.
    pub evidence: Vec<Evidence>,
}

/// A bucket where a host sent far more than it usually does.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutlierRow {
    /// Internal address.
    pub host: String,
    /// Bucket start.
    pub bucket: String,
    /// Bytes out in the bucket.
    pub bytes_out: u64,
    /// The host's median per active bucket.
    pub baseline_median: f64,
    /// The threshold crossed.
    pub threshold: f64,
    /// Robust standard deviations above the median.
    pub score: f64,
    /// Example tuples of the bucket.
    pub evidence: Vec<Evidence>,
}

/// Exfil answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExfilReport {
    /// Outlier buckets, by score.
    pub outliers: Vec<OutlierRow>,
    /// External destinations by bytes out.
    pub destinations: Vec<DestinationRow>,
    /// Internal hosts by bytes out.
    pub hosts: Vec<HostRow>,
    /// Pairs by bytes out.
    pub pairs: Vec<PairRow>,
}

impl Exfil {
    /// An exfil aggregation with parameters `opts`.
    pub fn new(space: AddressSpace, opts: ExfilOptions) -> Exfil {
        Exfil {
            space,
            opts,
            pairs: Groups::default(),
            buckets: Map::default(),
            names: Names::default(),
            paths: Names::default(),
        }
    }
}

impl Analysis for Exfil {
    type Report = ExfilReport;

    fn columns(&self) -> Vec<&'static str> {
        vec![
            col::TIME,
            col::SRC,
            col::DST,
            col::FLOW_ID,
            col::BYTES_S2D,
            col::BYTES_D2S,
            col::EV_PATH,
            col::EV_LINE,
            col::EV_TUPLE,
        ]
    }

    fn add(&mut self, b: &FlowBatch) {
        let bucket_us = self.opts.bucket_secs.max(1) * 1_000_000;
        for i in b.rows() {
            let names = &mut self.names;
            let space = &self.space;
            let (s, new) = self.pairs.of_flow(b.flow(i), || {
                let (src, dst) = (b.src(i), b.dst(i));
                match (space.contains_str(src), space.contains_str(dst)) {
                    (true, false) => (names.note(src), names.note(dst), Role::Outbound),
                    (false, true) => (names.note(dst), names.note(src), Role::Inbound),
                    _ => (0, 0, Role::None),
                }
            });
            let (host, _, role) = self.pairs.keys[s];
            let p = &mut self.pairs.vals[s];
            p.flows += new as u64;
            let out = match role {
                Role::Outbound => b.bytes_s2d(i),
                Role::Inbound => b.bytes_d2s(i),
                Role::None => continue,
            };
            p.span.see(b.time(i));
            if out == 0 {
                continue;
            }
            p.bytes_out += out;
            p.ex.offer(b, i, &mut self.paths);
            let bucket = self.buckets.entry((host, b.time(i).div_euclid(bucket_us))).or_default();
            bucket.bytes += out;
            bucket.ex.offer(b, i, &mut self.paths);
        }
    }

    fn merge(&mut self, other: Exfil) {
        self.names.merge(other.names);
        self.paths.merge(other.paths);
        self.pairs.merge(
            other.pairs,
            |a, o| {
                a.flows += o.flows;
                a.bytes_out += o.bytes_out;
                a.span.merge(o.span);
                a.ex.merge(&o.ex);
            },
            |a| a.flows -= 1,
        );
        for (k, o) in other.buckets {
            let b = self.buckets.entry(k).or_default();
            b.bytes += o.bytes;
            b.ex.merge(&o.ex);
        }
    }

    fn finish(self) -> ExfilReport {
        let name = |k: u64| self.names.get(k).to_string();
        #[derive(Default)]
        struct Acc {
            bytes_out: u64,
            flows: u64,
            peers: Set<u64>,
            span: Span,
            ex: Examples,
        }
        let mut dests: Map<u64, Acc> = Map::default();
        let mut hosts: Map<u64, Acc> = Map::default();
        let mut pairs: Vec<(u64, u64, &Pair)> = Vec::new();
        for (&(host, ext, role), p) in self.pairs.iter() {
            if role == Role::None {
                continue;
            }
            for (k, peer, map) in [(ext, host, &mut dests), (host, ext, &mut hosts)] {
                let a = map.entry(k).or_default();
                a.bytes_out += p.bytes_out;
                a.flows += p.flows;
                if p.bytes_out > 0 {
                    a.peers.insert(peer);
                }
                a.span.merge(p.span);
                a.ex.merge(&p.ex);
            }
            if p.bytes_out > 0 {
                pairs.push((host, ext, p));
            }
        }
        // Per host: its active buckets, baseline and outliers.
        let mut per_host: Map<u64, Vec<(i64, &Bucket)>> = Map::default();
        for (&(h, t), b) in &self.buckets {
            per_host.entry(h).or_default().push((t, b));
        }
        let mut outliers = Vec::new();
        let mut host_rows = Vec::new();
        for (&h, a) in &hosts {
            let buckets = per_host.get(&h).map(Vec::as_slice).unwrap_or(&[]);
            let bytes: Vec<f64> = buckets.iter().map(|(_, b)| b.bytes as f64).collect();
            let (median, mad) = median_mad(&bytes);
            let mut n_out = 0;
            if bytes.len() >= self.opts.min_buckets {
                let sigma = 1.4826 * mad.max(0.05 * median);
                let threshold = median + self.opts.k * sigma;
                for (t, b) in buckets {
                    let x = b.bytes as f64;
                    if x > threshold && b.bytes >= self.opts.min_bytes && sigma > 0.0 {
                        n_out += 1;
                        outliers.push(OutlierRow {
                            host: name(h),
                            bucket: iso(t * self.opts.bucket_secs.max(1) * 1_000_000),
                            bytes_out: b.bytes,
                            baseline_median: median,
                            threshold: threshold.round(),
                            score: ((x - median) / sigma * 10.0).round() / 10.0,
                            evidence: b.ex.resolve(&self.paths),
                        });
                    }
                }
            }
            host_rows.push(HostRow {
                host: name(h),
                bytes_out: a.bytes_out,
                flows: a.flows,
                destinations: a.peers.len() as u64,
                active_buckets: bytes.len() as u64,
                baseline_median: median,
                baseline_mad: mad,
                outliers: n_out,
                evidence: a.ex.resolve(&self.paths),
            });
        }
        let mut dest_rows: Vec<DestinationRow> = dests
            .iter()
            .map(|(&d, a)| {
                let mut internal: Vec<String> = a.peers.iter().map(|&p| name(p)).collect();
                internal.sort();
                DestinationRow {
                    destination: name(d),
                    bytes_out: a.bytes_out,
                    flows: a.flows,
                    internal_hosts: internal,
                    first: iso(a.span.first),
                    last: iso(a.span.last),
                    evidence: a.ex.resolve(&self.paths),
                }
            })
            .collect();
        outliers
            .sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| (&a.host, &a.bucket).cmp(&(&b.host, &b.bucket))));
        dest_rows.sort_by(|a, b| b.bytes_out.cmp(&a.bytes_out).then_with(|| a.destination.cmp(&b.destination)));
        host_rows.sort_by(|a, b| b.bytes_out.cmp(&a.bytes_out).then_with(|| a.host.cmp(&b.host)));
        crate::batch::top_k(&mut pairs, self.opts.limit, |a, b| {
            b.2.bytes_out.cmp(&a.2.bytes_out).then_with(|| (name(a.0), name(a.1)).cmp(&(name(b.0), name(b.1))))
        });
        let pairs: Vec<PairRow> = pairs
            .into_iter()
            .map(|(host, ext, p)| PairRow {
                host: name(host),
                destination: name(ext),
                bytes_out: p.bytes_out,
                flows: p.flows,
                first: iso(p.span.first),
                last: iso(p.span.last),
                evidence: p.ex.resolve(&self.paths),
            })
            .collect();
        let n = self.opts.limit;
        outliers.truncate(n);
        dest_rows.truncate(n);
        host_rows.truncate(n);
        ExfilReport { outliers, destinations: dest_rows, hosts: host_rows, pairs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{split_run, t};

    #[test]
    fn outlier_hour_against_own_baseline_and_steady_host_not_flagged() {
        let mut rows = Vec::new();
        // 10.0.0.5: ~1 MB out every hour for 24 h, then 400 MB to 203.0.113.200 in hour 20.
        // 10.0.0.6: a steady 200 MB every hour (large, but its normal).
        for h in 0..24i64 {
            let base = h * 3600;
            rows.push(
                t(base + 60, "10.0.0.5", "198.51.100.1", 40000 + h as i32, 443)
                    .state("End", Some((1, 1_000_000 + h * 1000, 1, 5000))),
            );
            rows.push(
                t(base + 120, "10.0.0.6", "198.51.100.2", 40000 + h as i32, 443)
                    .state("End", Some((1, 200_000_000 + h * 10_000, 1, 5000))),
            );
        }
        // The exfil flow: B, C, E across the hour; the external peer also pulls from an internal
        // web server (inbound flow, DstBytes leave).
        rows.push(t(20 * 3600 + 100, "10.0.0.5", "203.0.113.200", 45002, 443).line(50));
        rows.push(
            t(20 * 3600 + 400, "10.0.0.5", "203.0.113.200", 45002, 443)
                .state("Continuing", Some((1, 150_000_000, 1, 10)))
                .line(51),
        );
        rows.push(
            t(20 * 3600 + 700, "10.0.0.5", "203.0.113.200", 45002, 443)
                .state("End", Some((1, 250_000_000, 1, 10)))
                .line(52),
        );
        rows.push(
            t(20 * 3600 + 800, "203.0.113.200", "10.0.0.7", 50000, 443).state("End", Some((1, 300, 1, 7_000))).line(53),
        );
        // Internal traffic is never exfil.
        rows.push(t(5, "10.0.0.5", "10.0.0.9", 1, 445).state("End", Some((1, 900_000_000, 1, 1))));
        let r = split_run(
            &rows,
            || Exfil::new(AddressSpace::default(), ExfilOptions::default()),
            |a, b| a.add(&FlowBatch::new(b, Default::default()).unwrap()),
            |a, o| a.merge(o),
            |a| a.finish(),
        );
        assert_eq!(r.outliers.len(), 1, "{:#?}", r.outliers);
        let o = &r.outliers[0];
        assert_eq!((o.host.as_str(), o.bucket.as_str()), ("10.0.0.5", "1970-01-01T20:00:00.000000Z"));
        assert_eq!(o.bytes_out, 401_020_000);
        assert_eq!(o.evidence.iter().map(|e| e.line).collect::<Vec<_>>(), vec![1, 51, 52]);
        let steady = r.hosts.iter().find(|h| h.host == "10.0.0.6").unwrap();
        assert_eq!((steady.outliers, steady.active_buckets, steady.destinations), (0, 24, 1));
        assert_eq!(r.destinations[0].destination, "198.51.100.2");
        let top = r.destinations.iter().find(|d| d.destination == "203.0.113.200").unwrap();
        assert_eq!((top.destination.as_str(), top.bytes_out, top.flows), ("203.0.113.200", 400_007_000, 2));
        assert_eq!(top.internal_hosts, vec!["10.0.0.5", "10.0.0.7"]);
        assert_eq!(
            r.hosts.iter().map(|h| h.bytes_out).sum::<u64>(),
            r.destinations.iter().map(|d| d.bytes_out).sum::<u64>()
        );
        let p = r.pairs.iter().find(|p| p.destination == "203.0.113.200" && p.host == "10.0.0.5").unwrap();
        assert_eq!((p.bytes_out, p.flows), (400_000_000, 1));
        assert!(r.pairs.iter().all(|p| p.host != "10.0.0.9" && p.destination != "10.0.0.9"));
    }
}
