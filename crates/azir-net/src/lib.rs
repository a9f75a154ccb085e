//! Network analytics over flow records: who talked to whom, in which direction, how much, what
//! was denied, what scanned, what beaconed and what left the network.
//!
//! # Input
//!
//! The analyses read Arrow record batches of the case's `network` table (one row per flow tuple,
//! ASIM NetworkSession column names) through [`FlowBatch`]; they never open files. The caller
//! (the `azir flows` command) reads the table with a column projection and day pruning, hands
//! each batch to an aggregation on a worker thread, and merges the per-thread partials:
//!
//! ```text
//! let mut a = Talkers::new(space, Metric::Bytes, 20);   // one per worker
//! a.add(&FlowBatch::new(&batch, window)?);              // every batch the worker reads
//! a.merge(other);                                       // partials, in any order
//! let report = a.finish();                              // rows, each with evidence
//! ```
//!
//! Every aggregation implements [`Analysis`]; its answer does not depend on how batches were
//! split between workers (the unit tests run each one whole and split, and compare).
//!
//! # Counters and flows
//!
//! NSG v2 and VNet flow logs report a flow as several tuples: `B` (begin, no counters), `C`
//! (continuing, every five minutes) and `E` (end), and the counters of `C` and `E` are deltas
//! since the flow's previous tuple. The sum of a flow's tuples is therefore its total, and sums
//! over any grouping of tuples are the totals of that group: bytes and packets are summed per
//! tuple, whatever the state. NSG v1 tuples carry no counters (they count as zero bytes but as
//! flows); AWS VPC records carry per-interval counts (summed the same way).
//!
//! A *flow* is a distinct `FlowId` (the hash of reporting device, NIC and 5-tuple that the
//! parsers write), counted once however many tuples it has. Flows are counted per decision: a
//! 5-tuple both allowed and denied (a rule changed in between) is two flows. The same
//! connection logged by two NSGs (subnet and NIC) is two flows, one per device. Internally a
//! `FlowId` is read as the 64-bit number it spells, and every string key (address, rule, path)
//! is a fixed-seed 64-bit hash of its bytes, so aggregation allocates nothing per row; names are
//! kept once per distinct string. (Two distinct strings sharing a hash would share a row; with
//! n distinct strings the chance is about n²/2⁶⁵, 3·10⁻⁸ for a million addresses.)
//!
//! Memory: the flow-counting aggregations keep one map entry per distinct flow (16 bytes);
//! `beacons` keeps every tuple's time, flow and size (32 bytes) until it can sort them.
//!
//! # Direction
//!
//! An [`AddressSpace`] says which addresses are internal: `--internal CIDR...` when given, else
//! RFC 1918, RFC 6598 (100.64.0.0/10), IPv4 link-local and loopback, IPv6 ULA (fc00::/7) and
//! link-local ([`space::DEFAULT_INTERNAL`]). VNet address spaces from the case's network
//! configuration are to be supplied the same way, as a list of CIDRs
//! ([`AddressSpace::parse`]), once that configuration is ingested. A flow from `SrcIpAddr` to
//! `DstIpAddr` is [`Direction::Inbound`] (external → internal), `Outbound`, `Internal` or
//! `External` (both ends outside: transit, or a space that is too narrow). The log's own
//! `NetworkDirection` is relative to the NIC and is not used for this.
//!
//! # Scoring
//!
//! - **Scans** ([`scans`]): per source, a *vertical* scan is one target touched on at least
//!   `min_ports` distinct destination ports (with protocol); a *horizontal* scan is one port
//!   touched on at least `min_hosts` distinct targets. Each finding reports its width, flows,
//!   the share of denied flows (high for blind scanning), and first/last/span. Tuples from a
//!   port below 1024 to one above are taken for replies and skipped: stateless logs (AWS VPC)
//!   record each direction as a flow, and a server answering many client ports is not a scan
//!   (a scanner sending from a fixed low source port to high ports is missed by this rule).
//! - **Beacons** ([`beacons`]): per (source, destination, port, protocol), the starts of its
//!   connections (a `B`/`D` tuple or a stateless record starts one; a flow seen only through
//!   `C`/`E` tuples starts at its first tuple), the intervals between consecutive starts, their
//!   median `m` and median absolute deviation; *jitter* = MAD / m. Connection sizes (bytes both
//!   ways) get the same treatment (*size jitter*). A key is a beacon with at least
//!   `min_connections` connections, `m ≥ min_interval` and jitter ≤ `max_jitter`; its score is
//!   `0.7·(1 − jitter/max_jitter) + 0.3·(1 − min(size jitter, 1))`, in [0, 1].
//! - **Exfil** ([`exfil`]): bytes leaving the internal space: `SrcBytes` of outbound flows and
//!   `DstBytes` of inbound ones (a download from an internal server). Per internal host, bytes
//!   per bucket (hour or day) over the buckets where it sent anything form its baseline; a
//!   bucket is an outlier when it exceeds both `median + k·1.4826·MAD` (MAD floored at 5% of
//!   the median) and `min_bytes`, with at least `min_buckets` buckets of baseline. The score is
//!   `(bytes − median) / (1.4826·MAD)`.
//!
//! # Evidence
//!
//! Every result row carries up to [`EXAMPLES`] references to the tuples it was built from
//! (`evidence_path`, `evidence_line`, `evidence_tuple`), the earliest ones by time.

pub mod batch;
pub mod beacons;
pub mod crosscheck;
pub mod denied;
pub mod directions;
pub mod exfil;
pub mod exposure;
pub mod firstseen;
pub mod nsg;
pub mod ports;
pub mod routes;
pub mod rules;
pub mod scans;
/// The internal address space, shared with the hunt's volume analytic (defined in azir-model).
pub use azir_model::space;
pub mod talkers;
#[cfg(test)]
mod testutil;
pub mod topology;

pub use batch::{Evidence, FlowBatch, Window, EXAMPLES};
pub use space::{AddressSpace, Direction};

/// An aggregation over flow tuples: fed batch by batch, merged across workers, finished once.
pub trait Analysis: Send + Sized {
    /// The answer.
    type Report;
    /// The `network` columns it reads.
    fn columns(&self) -> Vec<&'static str>;
    /// Adds the rows of a batch that lie in its window.
    fn add(&mut self, batch: &FlowBatch);
    /// Adds a partial result computed over other batches.
    fn merge(&mut self, other: Self);
    /// The answer.
    fn finish(self) -> Self::Report;
}
