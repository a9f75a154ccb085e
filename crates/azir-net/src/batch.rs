//! Typed access to a record batch of the `network` table, and the small pieces every
//! aggregation shares: string keys, names, evidence examples, flow-distinct groups.

use arrow_array::{
    Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array, UInt64Array,
};
use serde::Serialize;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// Hasher of the aggregation maps (keys are already well-mixed 64-bit values or small tuples).
pub(crate) type Fast = foldhash::fast::FixedState;
/// A hash map with the fixed fast hasher.
pub(crate) type Map<K, V> = HashMap<K, V, Fast>;
/// A hash set with the fixed fast hasher.
pub(crate) type Set<K> = std::collections::HashSet<K, Fast>;

/// The 64-bit key of a string (an address, a rule, a path). Fixed seed, so every worker and
/// every run computes the same key and partial results merge by key alone.
pub fn key(s: &str) -> u64 {
    foldhash::quality::FixedState::with_seed(0x617a_6972).hash_one(s)
}

/// A time window `[since, until)` in microseconds; open ends when `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// First instant included.
    pub since: Option<i64>,
    /// First instant excluded.
    pub until: Option<i64>,
}

impl Window {
    /// Whether `t` lies in the window.
    pub fn contains(&self, t: i64) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

/// Columns of the `network` table an analysis may read (project the scan to those it lists).
pub mod col {
    /// `TimeGenerated`.
    pub const TIME: &str = "TimeGenerated";
    /// `SrcIpAddr`.
    pub const SRC: &str = "SrcIpAddr";
    /// `DstIpAddr`.
    pub const DST: &str = "DstIpAddr";
    /// `SrcPortNumber`.
    pub const SPORT: &str = "SrcPortNumber";
    /// `DstPortNumber`.
    pub const DPORT: &str = "DstPortNumber";
    /// `NetworkProtocol`.
    pub const PROTO: &str = "NetworkProtocol";
    /// `DvcAction`.
    pub const ACTION: &str = "DvcAction";
    /// `FlowState`.
    pub const STATE: &str = "FlowState";
    /// `SrcPackets`.
    pub const PKTS_S2D: &str = "SrcPackets";
    /// `SrcBytes`.
    pub const BYTES_S2D: &str = "SrcBytes";
    /// `DstPackets`.
    pub const PKTS_D2S: &str = "DstPackets";
    /// `DstBytes`.
    pub const BYTES_D2S: &str = "DstBytes";
    /// `NetworkRuleName`.
    pub const RULE: &str = "NetworkRuleName";
    /// `DvcId`.
    pub const DVC: &str = "DvcId";
    /// `FlowId`.
    pub const FLOW_ID: &str = "FlowId";
    /// `evidence_path`.
    pub const EV_PATH: &str = "evidence_path";
    /// `evidence_line`.
    pub const EV_LINE: &str = "evidence_line";
    /// `evidence_tuple`.
    pub const EV_TUPLE: &str = "evidence_tuple";
}

/// A batch of the `network` table seen through typed columns. Columns projected away read as
/// null; rows outside the window are skipped by [`FlowBatch::rows`].
pub struct FlowBatch<'a> {
    len: usize,
    window: Window,
    time: &'a TimestampMicrosecondArray,
    src: Option<&'a StringArray>,
    dst: Option<&'a StringArray>,
    sport: Option<&'a Int32Array>,
    dport: Option<&'a Int32Array>,
    proto: Option<&'a StringArray>,
    action: Option<&'a StringArray>,
    state: Option<&'a StringArray>,
    pkts_s2d: Option<&'a Int64Array>,
    bytes_s2d: Option<&'a Int64Array>,
    pkts_d2s: Option<&'a Int64Array>,
    bytes_d2s: Option<&'a Int64Array>,
    rule: Option<&'a StringArray>,
    dvc: Option<&'a StringArray>,
    flow_id: Option<&'a StringArray>,
    ev_path: Option<&'a StringArray>,
    ev_line: Option<&'a UInt64Array>,
    ev_tuple: Option<&'a UInt32Array>,
}

/// Column `name` of `b` as `T`; `None` when projected away, an error naming it when of another type.
pub(crate) fn typed<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Result<Option<&'a T>, String> {
    match b.column_by_name(name) {
        None => Ok(None),
        Some(c) => c
            .as_any()
            .downcast_ref::<T>()
            .map(Some)
            .ok_or_else(|| format!("column {name} has type {}, not the network table's", c.data_type())),
    }
}

fn text(a: Option<&StringArray>, i: usize) -> &str {
    match a {
        Some(a) if !a.is_null(i) => a.value(i),
        _ => "",
    }
}

fn count(a: Option<&Int64Array>, i: usize) -> u64 {
    match a {
        Some(a) if !a.is_null(i) => a.value(i).max(0) as u64,
        _ => 0,
    }
}

impl<'a> FlowBatch<'a> {
    /// Wraps a batch of the `network` table (any projection that keeps `TimeGenerated`).
    pub fn new(b: &'a RecordBatch, window: Window) -> Result<FlowBatch<'a>, String> {
        Ok(FlowBatch {
            len: b.num_rows(),
            window,
            time: typed(b, col::TIME)?.ok_or("the batch has no TimeGenerated column")?,
            src: typed(b, col::SRC)?,
            dst: typed(b, col::DST)?,
            sport: typed(b, col::SPORT)?,
            dport: typed(b, col::DPORT)?,
            proto: typed(b, col::PROTO)?,
            action: typed(b, col::ACTION)?,
            state: typed(b, col::STATE)?,
            pkts_s2d: typed(b, col::PKTS_S2D)?,
            bytes_s2d: typed(b, col::BYTES_S2D)?,
            pkts_d2s: typed(b, col::PKTS_D2S)?,
            bytes_d2s: typed(b, col::BYTES_D2S)?,
            rule: typed(b, col::RULE)?,
            dvc: typed(b, col::DVC)?,
            flow_id: typed(b, col::FLOW_ID)?,
            ev_path: typed(b, col::EV_PATH)?,
            ev_line: typed(b, col::EV_LINE)?,
            ev_tuple: typed(b, col::EV_TUPLE)?,
        })
    }

    /// Indices of the rows inside the window.
    pub fn rows(&self) -> impl Iterator<Item = usize> + '_ {
        let all = self.window == Window::default();
        (0..self.len).filter(move |&i| all || self.window.contains(self.time.value(i)))
    }

    /// `TimeGenerated` (µs).
    pub fn time(&self, i: usize) -> i64 {
        self.time.value(i)
    }
    /// `SrcIpAddr`.
    pub fn src(&self, i: usize) -> &'a str {
        text(self.src, i)
    }
    /// `DstIpAddr`.
    pub fn dst(&self, i: usize) -> &'a str {
        text(self.dst, i)
    }
    /// `SrcPortNumber`, -1 when absent (ICMP).
    pub fn sport(&self, i: usize) -> i32 {
        match self.sport {
            Some(a) if !a.is_null(i) => a.value(i),
            _ => -1,
        }
    }
    /// Whether the tuple looks like the return half of a connection logged per direction (AWS
    /// VPC and other stateless logs): from a well-known port to an ephemeral one.
    pub fn looks_like_reply(&self, i: usize) -> bool {
        let (s, d) = (self.sport(i), self.dport(i));
        (0..1024).contains(&s) && d >= 1024
    }
    /// `DstPortNumber`, -1 when absent (ICMP).
    pub fn dport(&self, i: usize) -> i32 {
        match self.dport {
            Some(a) if !a.is_null(i) => a.value(i),
            _ => -1,
        }
    }
    /// `NetworkProtocol`.
    pub fn proto(&self, i: usize) -> &'a str {
        text(self.proto, i)
    }
    /// Whether the device denied the flow (`DvcAction` = Deny).
    pub fn denied(&self, i: usize) -> bool {
        text(self.action, i).eq_ignore_ascii_case("deny")
    }
    /// Whether the tuple opens a connection: NSG v2/VNet `Begin`, VNet `Deny`, or a format
    /// without states (one row per flow record).
    pub fn is_start(&self, i: usize) -> bool {
        match text(self.state, i) {
            "" | "Begin" | "Deny" => true,
            "Continuing" | "End" => false,
            _ => true,
        }
    }
    /// `NetworkRuleName`.
    pub fn rule(&self, i: usize) -> &'a str {
        text(self.rule, i)
    }
    /// `DvcId`.
    pub fn dvc(&self, i: usize) -> &'a str {
        text(self.dvc, i)
    }
    /// Packets source→destination in this tuple (0 when absent: NSG v1, `B` tuples).
    pub fn pkts_s2d(&self, i: usize) -> u64 {
        count(self.pkts_s2d, i)
    }
    /// Bytes source→destination.
    pub fn bytes_s2d(&self, i: usize) -> u64 {
        count(self.bytes_s2d, i)
    }
    /// Packets destination→source.
    pub fn pkts_d2s(&self, i: usize) -> u64 {
        count(self.pkts_d2s, i)
    }
    /// Bytes destination→source.
    pub fn bytes_d2s(&self, i: usize) -> u64 {
        count(self.bytes_d2s, i)
    }
    /// The flow's identity: `FlowId` (16 hex digits) as a number, or the key of whatever else is
    /// written there.
    pub fn flow(&self, i: usize) -> u64 {
        let s = text(self.flow_id, i);
        if s.len() == 16 {
            if let Ok(v) = u64::from_str_radix(s, 16) {
                return v;
            }
        }
        key(s)
    }
    /// The tuple's evidence reference: path, line, tuple index.
    pub fn evidence(&self, i: usize) -> (&'a str, u64, u32) {
        let line = match self.ev_line {
            Some(a) if !a.is_null(i) => a.value(i),
            _ => 0,
        };
        let tuple = match self.ev_tuple {
            Some(a) if !a.is_null(i) => a.value(i),
            _ => 0,
        };
        (text(self.ev_path, i), line, tuple)
    }
}

/// The names behind string keys, kept once per distinct string.
#[derive(Debug, Default, Clone)]
pub struct Names(Map<u64, Box<str>>);

impl Names {
    /// Notes the string of a key and returns the key.
    pub fn note(&mut self, s: &str) -> u64 {
        let k = key(s);
        self.0.entry(k).or_insert_with(|| s.into());
        k
    }
    /// The string of a key ("" when unknown).
    pub fn get(&self, k: u64) -> &str {
        self.0.get(&k).map(|s| &**s).unwrap_or("")
    }
    /// Adds the names of another set.
    pub fn merge(&mut self, other: Names) {
        for (k, v) in other.0 {
            self.0.entry(k).or_insert(v);
        }
    }
}

/// A reference to the bytes a result came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// Evidence file (display path; `archive!member` for archive members).
    pub path: String,
    /// 1-based line of the record in the file.
    pub line: u64,
    /// Index of the flow tuple inside the record.
    pub tuple: u32,
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}#{}", self.path, self.line, self.tuple)
    }
}

/// How many evidence references a result row keeps.
pub const EXAMPLES: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
struct ExampleRef {
    time: i64,
    path: u64,
    line: u64,
    tuple: u32,
}

/// Flows, tuples, bytes and packets of a group: the counters most analyses keep per group.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Volume {
    /// Distinct flows (per decision).
    pub flows: u64,
    /// Tuples.
    pub tuples: u64,
    /// Bytes, both directions (sum of the tuples' deltas).
    pub bytes: u64,
    /// Packets, both directions.
    pub packets: u64,
}

impl Volume {
    /// Counts tuple `i` of `b`; `new_flow` when the tuple starts a flow the group had not seen.
    pub fn add(&mut self, b: &FlowBatch, i: usize, new_flow: bool) {
        self.flows += new_flow as u64;
        self.tuples += 1;
        self.bytes += b.bytes_s2d(i) + b.bytes_d2s(i);
        self.packets += b.pkts_s2d(i) + b.pkts_d2s(i);
    }

    /// Adds another group's counters.
    pub fn merge(&mut self, o: &Volume) {
        self.flows += o.flows;
        self.tuples += o.tuples;
        self.bytes += o.bytes;
        self.packets += o.packets;
    }
}

/// The earliest few tuples of a group (by time, then file, line and tuple, so that the choice
/// does not depend on how the work was split between threads).
#[derive(Debug, Clone, Copy, Default)]
pub struct Examples {
    refs: [ExampleRef; EXAMPLES],
    n: u8,
}

impl Examples {
    /// Offers row `i` of a batch; its path is noted in `paths` when kept.
    pub fn offer(&mut self, b: &FlowBatch, i: usize, paths: &mut Names) {
        let t = b.time(i);
        let n = self.n as usize;
        if n == EXAMPLES && t > self.refs[EXAMPLES - 1].time {
            return;
        }
        let (p, line, tuple) = b.evidence(i);
        let r = ExampleRef { time: t, path: paths.note(p), line, tuple };
        if n == EXAMPLES && r >= self.refs[EXAMPLES - 1] {
            return;
        }
        self.insert(r);
    }

    fn insert(&mut self, r: ExampleRef) {
        let n = self.n as usize;
        if self.refs[..n].contains(&r) {
            return;
        }
        if n < EXAMPLES {
            self.refs[n] = r;
            self.n += 1;
        } else {
            self.refs[EXAMPLES - 1] = r;
        }
        let n = self.n as usize;
        self.refs[..n].sort_unstable();
    }

    /// Keeps the earliest of both.
    pub fn merge(&mut self, other: &Examples) {
        for r in &other.refs[..other.n as usize] {
            if (self.n as usize) < EXAMPLES || *r < self.refs[EXAMPLES - 1] {
                self.insert(*r);
            }
        }
    }

    /// The references, resolved against the path names.
    pub fn resolve(&self, paths: &Names) -> Vec<Evidence> {
        self.refs[..self.n as usize]
            .iter()
            .map(|r| Evidence { path: paths.get(r.path).to_string(), line: r.line, tuple: r.tuple })
            .collect()
    }
}

/// Groups keyed by `K` whose flows are counted once each: a flow (a `FlowId`, possibly mixed
/// with the decision or rule) always falls into one group, so the group is looked up from the
/// flow on every tuple after the first, and string keys are only hashed once per flow.
pub(crate) struct Groups<K, V> {
    index: Map<K, u32>,
    pub(crate) keys: Vec<K>,
    pub(crate) vals: Vec<V>,
    flows: Map<u64, u32>,
}

impl<K: Hash + Eq + Copy, V: Default> Default for Groups<K, V> {
    fn default() -> Self {
        Groups { index: Map::default(), keys: Vec::new(), vals: Vec::new(), flows: Map::default() }
    }
}

impl<K: Hash + Eq + Copy, V: Default> Groups<K, V> {
    /// The group of `key`, created empty when new.
    pub(crate) fn slot(&mut self, key: K) -> usize {
        let next = self.keys.len() as u32;
        let s = *self.index.entry(key).or_insert(next);
        if s == next {
            self.keys.push(key);
            self.vals.push(V::default());
        }
        s as usize
    }

    /// The group of flow `flow` (computing its key with `key` the first time) and whether the
    /// flow is new here.
    pub(crate) fn of_flow(&mut self, flow: u64, key: impl FnOnce() -> K) -> (usize, bool) {
        if let Some(&s) = self.flows.get(&flow) {
            return (s as usize, false);
        }
        let s = self.slot(key());
        self.flows.insert(flow, s as u32);
        (s, true)
    }

    /// Adds another partial result: values merged by key with `merge`; a flow both partials
    /// counted is handed to `dup` once (to take back the second count).
    pub(crate) fn merge(
        &mut self,
        mut other: Groups<K, V>,
        mut merge: impl FnMut(&mut V, V),
        mut dup: impl FnMut(&mut V),
    ) {
        // Merging is symmetric: fold the smaller side into the larger.
        if other.keys.len() > self.keys.len() {
            std::mem::swap(self, &mut other);
        }
        let mut remap = Vec::with_capacity(other.keys.len());
        for (k, v) in other.keys.into_iter().zip(other.vals) {
            let s = self.slot(k);
            merge(&mut self.vals[s], v);
            remap.push(s as u32);
        }
        for (flow, os) in other.flows {
            let s = remap[os as usize];
            match self.flows.entry(flow) {
                std::collections::hash_map::Entry::Occupied(_) => dup(&mut self.vals[s as usize]),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(s);
                }
            }
        }
    }

    /// The groups.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.keys.iter().zip(self.vals.iter())
    }
}

/// First and last time seen.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub first: i64,
    pub last: i64,
}

impl Default for Span {
    fn default() -> Self {
        Span { first: i64::MAX, last: i64::MIN }
    }
}

impl Span {
    pub fn see(&mut self, t: i64) {
        self.first = self.first.min(t);
        self.last = self.last.max(t);
    }
    pub fn merge(&mut self, o: Span) {
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
    }
}

/// Mixes a flow id with the decision, so an allowed and a denied flow with the same 5-tuple
/// count as two.
pub(crate) fn flow_decision(flow: u64, denied: bool) -> u64 {
    if denied {
        flow ^ 0x9e37_79b9_7f4a_7c15
    } else {
        flow
    }
}

/// Median of a sorted slice (0 when empty).
pub(crate) fn median_sorted(v: &[f64]) -> f64 {
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Median and median absolute deviation of the values.
pub(crate) fn median_mad(values: &[f64]) -> (f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let m = median_sorted(&v);
    let mut d: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    d.sort_by(f64::total_cmp);
    (m, median_sorted(&d))
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, or "" for an empty span end.
pub(crate) fn iso(us: i64) -> String {
    if us == i64::MAX || us == i64::MIN {
        String::new()
    } else {
        azir_model::format_micros(us)
    }
}

/// `443/TCP`, or the protocol alone for portless flows.
pub(crate) fn port_name(port: i32, proto: &str) -> String {
    if port < 0 {
        proto.to_string()
    } else {
        format!("{port}/{proto}")
    }
}

/// Keeps the `k` first items of `v` in `cmp` order, sorted: a partial selection, so ranking
/// millions of groups for a top 20 costs a linear pass, not a sort.
pub(crate) fn top_k<T>(v: &mut Vec<T>, k: usize, mut cmp: impl FnMut(&T, &T) -> std::cmp::Ordering) {
    if k == 0 {
        v.clear();
        return;
    }
    if v.len() > k {
        v.select_nth_unstable_by(k - 1, &mut cmp);
        v.truncate(k);
    }
    v.sort_by(cmp);
}
