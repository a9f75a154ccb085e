//! Hand-made flow tuples as `network` record batches, for the unit tests.

use arrow_array::builder::{
    Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use std::sync::Arc;

/// One tuple as a parser would store it.
#[derive(Clone, Debug)]
pub struct T {
    pub time_s: i64,
    pub src: &'static str,
    pub dst: &'static str,
    pub sport: i32,
    pub dport: i32,
    pub proto: &'static str,
    pub action: &'static str,
    pub state: Option<&'static str>,
    pub counters: Option<(i64, i64, i64, i64)>,
    pub rule: &'static str,
    pub dvc: &'static str,
    pub line: u64,
    pub tuple: Option<u32>,
}

/// An allowed TCP tuple in state `state` with counters (pkts s2d, bytes s2d, pkts d2s, bytes d2s).
pub fn t(time_s: i64, src: &'static str, dst: &'static str, sport: i32, dport: i32) -> T {
    T {
        time_s,
        src,
        dst,
        sport,
        dport,
        proto: "TCP",
        action: "Allow",
        state: Some("Begin"),
        counters: None,
        rule: "UserRule_allow",
        dvc: "/NSG1",
        line: 1,
        tuple: None,
    }
}

impl T {
    pub fn state(mut self, s: &'static str, c: Option<(i64, i64, i64, i64)>) -> T {
        self.state = Some(s);
        self.counters = c;
        self
    }
    pub fn deny(mut self, rule: &'static str) -> T {
        self.action = "Deny";
        self.rule = rule;
        self
    }
    pub fn rule(mut self, rule: &'static str) -> T {
        self.rule = rule;
        self
    }
    pub fn line(mut self, line: u64) -> T {
        self.line = line;
        self
    }
    pub fn proto(mut self, p: &'static str) -> T {
        self.proto = p;
        self
    }
    /// A stateless record (NSG v1, AWS): no state, optional counters.
    pub fn stateless(mut self, c: Option<(i64, i64, i64, i64)>) -> T {
        self.state = None;
        self.counters = c;
        self
    }
    /// `FlowId` as the parsers compute it (any stable function of device + 5-tuple will do).
    fn flow_id(&self) -> String {
        let k = crate::batch::key(&format!(
            "{}|{}|{}|{}|{}|{}",
            self.dvc, self.src, self.dst, self.proto, self.sport, self.dport
        ));
        format!("{k:016x}")
    }
}

pub fn batch(rows: &[T]) -> RecordBatch {
    let n = rows.len();
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Schema::new(vec![
        Field::new("TimeGenerated", ts, false),
        Field::new("SrcIpAddr", DataType::Utf8, false),
        Field::new("SrcPortNumber", DataType::Int32, true),
        Field::new("DstIpAddr", DataType::Utf8, false),
        Field::new("DstPortNumber", DataType::Int32, true),
        Field::new("NetworkProtocol", DataType::Utf8, false),
        Field::new("DvcAction", DataType::Utf8, true),
        Field::new("FlowState", DataType::Utf8, true),
        Field::new("SrcPackets", DataType::Int64, true),
        Field::new("SrcBytes", DataType::Int64, true),
        Field::new("DstPackets", DataType::Int64, true),
        Field::new("DstBytes", DataType::Int64, true),
        Field::new("NetworkRuleName", DataType::Utf8, true),
        Field::new("DvcId", DataType::Utf8, true),
        Field::new("FlowId", DataType::Utf8, false),
        Field::new("evidence_path", DataType::Utf8, false),
        Field::new("evidence_line", DataType::UInt64, false),
        Field::new("evidence_tuple", DataType::UInt32, false),
    ]);
    let mut time = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut src = StringBuilder::new();
    let mut sport = Int32Builder::new();
    let mut dst = StringBuilder::new();
    let mut dport = Int32Builder::new();
    let mut proto = StringBuilder::new();
    let mut action = StringBuilder::new();
    let mut state = StringBuilder::new();
    let mut c = [Int64Builder::new(), Int64Builder::new(), Int64Builder::new(), Int64Builder::new()];
    let mut rule = StringBuilder::new();
    let mut dvc = StringBuilder::new();
    let mut fid = StringBuilder::new();
    let mut path = StringBuilder::new();
    let mut line = UInt64Builder::new();
    let mut tuple = UInt32Builder::new();
    for (k, r) in rows.iter().enumerate() {
        time.append_value(r.time_s * 1_000_000);
        src.append_value(r.src);
        sport.append_value(r.sport);
        dst.append_value(r.dst);
        dport.append_value(r.dport);
        proto.append_value(r.proto);
        action.append_value(r.action);
        state.append_option(r.state);
        match r.counters {
            Some((a, b, cc, d)) => {
                for (bld, v) in c.iter_mut().zip([a, b, cc, d]) {
                    bld.append_value(v);
                }
            }
            None => c.iter_mut().for_each(|b| b.append_null()),
        }
        rule.append_value(r.rule);
        dvc.append_value(r.dvc);
        fid.append_value(r.flow_id());
        path.append_value("logs/PT1H.json");
        line.append_value(r.line);
        tuple.append_value(r.tuple.unwrap_or(k as u32));
    }
    let [mut c0, mut c1, mut c2, mut c3] = c;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(time.finish()),
        Arc::new(src.finish()),
        Arc::new(sport.finish()),
        Arc::new(dst.finish()),
        Arc::new(dport.finish()),
        Arc::new(proto.finish()),
        Arc::new(action.finish()),
        Arc::new(state.finish()),
        Arc::new(c0.finish()),
        Arc::new(c1.finish()),
        Arc::new(c2.finish()),
        Arc::new(c3.finish()),
        Arc::new(rule.finish()),
        Arc::new(dvc.finish()),
        Arc::new(fid.finish()),
        Arc::new(path.finish()),
        Arc::new(line.finish()),
        Arc::new(tuple.finish()),
    ];
    RecordBatch::try_new(Arc::new(schema), cols).expect("test batch")
}

/// Runs an aggregation over rows split into two partials (merged), and over all rows at once,
/// and checks both give the same `finish` output — the parallel split must not change answers.
pub fn split_run<A, R: PartialEq + std::fmt::Debug>(
    rows: &[T],
    make: impl Fn() -> A,
    add: impl Fn(&mut A, &RecordBatch),
    merge: impl Fn(&mut A, A),
    finish: impl Fn(A) -> R,
) -> R {
    let rows: Vec<T> = rows.iter().enumerate().map(|(i, r)| T { tuple: Some(i as u32), ..r.clone() }).collect();
    let mut whole = make();
    add(&mut whole, &batch(&rows));
    let whole = finish(whole);
    // Interleave rows between two partials so the tuples of one flow land on both sides.
    let (a, b): (Vec<T>, Vec<T>) = {
        let mut a = Vec::new();
        let mut b = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            if i % 2 == 0 {
                a.push(r.clone())
            } else {
                b.push(r.clone())
            }
        }
        (a, b)
    };
    let mut pa = make();
    let mut pb = make();
    if !a.is_empty() {
        add(&mut pa, &batch(&a));
    }
    if !b.is_empty() {
        add(&mut pb, &batch(&b));
    }
    merge(&mut pa, pb);
    let split = finish(pa);
    assert_eq!(whole, split, "a split run must equal a whole run");
    whole
}
