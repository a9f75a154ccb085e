//! Arbitrary strings as flow tuples: NSG (v1/v2) and VNet tuples inside a synthesized record,
//! and AWS VPC lines under an arbitrary header line.
//!
//! Tuples are built field by field from plausible values (addresses, ports, states, counters)
//! mixed with arbitrary text, so the fuzzer reaches every field check; tuple values may also be
//! non-strings.
//!
//! Must hold: no panic; every tuple of a record ends as exactly one session or one quarantined
//! record carrying its `tuple_index` (indices 0..n, each once, in document order); a session's
//! `raw` is its tuple; addresses are canonical IPs, ports 0..=65535, counters non-negative. For
//! VPC text: each line yields at most one session or one quarantined record.
#![no_main]

use azir_logs::parsers::{parse_chunk, vpc, Output, Payload, StreamInfo};
use azir_logs::split::{Chunk, Container, Span};
use azir_logs_fuzz::{check_output, read_any, Knobs};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use std::sync::Arc;

/// Plausible and hostile values for each tuple position (NSG v2 / VNet layout; v1 uses 0..8).
fn field(u: &mut Unstructured, i: usize) -> Result<String> {
    if u.ratio(1, 8)? {
        return u.arbitrary();
    }
    Ok(match i {
        0 => match u.int_in_range(0..=3)? {
            0 => u.int_in_range(1_400_000_000i64..=2_000_000_000)?.to_string(),
            1 => u.int_in_range(1_400_000_000_000i64..=2_000_000_000_000)?.to_string(),
            2 => u.arbitrary::<i64>()?.to_string(),
            _ => u.arbitrary::<u64>()?.to_string(),
        },
        1 | 2 => match u.int_in_range(0..=3)? {
            0 => std::net::Ipv4Addr::from(u.arbitrary::<u32>()?).to_string(),
            1 => std::net::Ipv6Addr::from(u.arbitrary::<u128>()?).to_string().to_uppercase(),
            2 => format!("::ffff:{}", std::net::Ipv4Addr::from(u.arbitrary::<u32>()?)),
            _ => (*u.choose(&["", "10.0.0.256", "fe80::1%eth0", " 10.0.0.1 ", "1.2.3"])?).to_string(),
        },
        3 | 4 => match u.int_in_range(0..=2)? {
            0 => u.arbitrary::<u16>()?.to_string(),
            1 => String::new(),
            _ => u.arbitrary::<i32>()?.to_string(),
        },
        5 => (*u.choose(&["T", "U", "t", "6", "17", "1", "58", "47", "255", "256", ""])?).to_string(),
        6 => (*u.choose(&["I", "O", "i", "", "X"])?).to_string(),
        7 => (*u.choose(&["A", "D", "B", "C", "E", "d", ""])?).to_string(),
        8 => (*u.choose(&["B", "C", "E", "X", "NX", "NX_HW_NOT_SUPPORTED", ""])?).to_string(),
        _ => match u.int_in_range(0..=2)? {
            0 => u.int_in_range(0u64..=100_000)?.to_string(),
            1 => String::new(),
            _ => u.arbitrary::<u64>()?.to_string(),
        },
    })
}

fn tuple(u: &mut Unstructured) -> Result<Value> {
    Ok(match u.int_in_range(0..=15)? {
        0 => Value::String(u.arbitrary()?),
        1 => json!(u.arbitrary::<i64>()?),
        2 => Value::Null,
        _ => {
            let n = *u.choose(&[8usize, 13, 13, 13, 7, 9, 12, 14])?;
            let fields: Vec<String> = (0..n).map(|i| field(u, i)).collect::<Result<_>>()?;
            Value::String(fields.join(","))
        }
    })
}

fn tuples(u: &mut Unstructured) -> Result<Value> {
    if u.ratio(1, 20)? {
        return Ok(u.choose(&[Value::Null, json!("x"), json!({})])?.clone());
    }
    let n = u.int_in_range(0..=4)?;
    Ok(Value::Array((0..n).map(|_| tuple(u)).collect::<Result<_>>()?))
}

/// Counts the tuple values a record holds in arrays (what must each end up somewhere).
fn count(groups: &[Value], outer: &str, inner: &str) -> usize {
    groups
        .iter()
        .filter_map(|g| g.get(outer)?.as_array())
        .flatten()
        .filter_map(|x| x.get(inner)?.as_array())
        .map(Vec::len)
        .sum()
}

fn record(u: &mut Unstructured, vnet: bool) -> Result<(Value, usize)> {
    let mut groups = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let mut inner = Vec::new();
        for _ in 0..u.int_in_range(0..=3)? {
            inner.push(if vnet {
                json!({ "rule": u.arbitrary::<String>()?, "flowTuples": tuples(u)? })
            } else {
                json!({ "mac": u.arbitrary::<String>()?, "flowTuples": tuples(u)? })
            });
        }
        groups.push(if vnet {
            json!({ "aclID": u.arbitrary::<String>()?, "flowGroups": inner })
        } else {
            json!({ "rule": u.arbitrary::<String>()?, "flows": inner })
        });
    }
    let n = if vnet { count(&groups, "flowGroups", "flowTuples") } else { count(&groups, "flows", "flowTuples") };
    let rec = if vnet {
        json!({
            "time": "2024-05-01T10:00:00Z", "category": "FlowLogFlowEvent", "flowLogVersion": u.arbitrary::<i64>()?,
            "macAddress": u.arbitrary::<String>()?, "flowLogResourceID": "/x", "targetResourceID": "/y",
            "flowRecords": { "flows": groups },
        })
    } else {
        json!({
            "time": "2024-05-01T10:00:00Z", "category": "NetworkSecurityGroupFlowEvent", "resourceId": "/x",
            "properties": { "Version": u.arbitrary::<i64>()?, "flows": groups },
        })
    };
    Ok((rec, n))
}

fn run(payload: Payload, records: &[Vec<u8>]) -> Output {
    let info = StreamInfo::new("00".repeat(32), "fuzz.log", payload);
    let mut chunk = Chunk::default();
    for (i, r) in records.iter().enumerate() {
        let start = chunk.buf.len();
        chunk.buf.extend_from_slice(r);
        chunk.spans.push(Span {
            start,
            end: chunk.buf.len(),
            line: i as u64 + 1,
            offset: start as u64,
            index: 0,
            size: r.len() as u64,
            defect: None,
            container: Container::Lines,
        });
    }
    let mut out = Output::default();
    parse_chunk(&info, &chunk, &mut out);
    check_output(&out);
    out
}

/// VPC header tokens: documented names in several spellings, and anything.
fn header_token(u: &mut Unstructured) -> Result<String> {
    let names = [
        "version",
        "account-id",
        "interface-id",
        "srcaddr",
        "dstaddr",
        "srcport",
        "dstport",
        "protocol",
        "packets",
        "bytes",
        "start",
        "end",
        "action",
        "log-status",
        "tcp-flags",
        "flow-direction",
        "pkt-srcaddr",
        "pkt-dstaddr",
        "vpc-id",
        "type",
    ];
    let name = *u.choose(&names)?;
    Ok(match u.int_in_range(0..=4)? {
        0 => name.to_string(),
        1 => name.replace('-', "_"),
        2 => format!("${{{name}}}"),
        3 => name.to_uppercase(),
        _ => u.arbitrary()?,
    })
}

fn vpc_value(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0..=6)? {
        0 => "-".to_string(),
        1 => u.arbitrary::<u16>()?.to_string(),
        2 => u.int_in_range(1_400_000_000i64..=2_000_000_000)?.to_string(),
        3 => std::net::Ipv4Addr::from(u.arbitrary::<u32>()?).to_string(),
        4 => (*u.choose(&["ACCEPT", "REJECT", "OK", "NODATA", "SKIPDATA", "ingress", "egress", "eni-1"])?).to_string(),
        5 => u.arbitrary::<i64>()?.to_string(),
        _ => u.arbitrary()?,
    })
}

fn vpc(u: &mut Unstructured, knobs: Knobs) -> Result<()> {
    let header: Vec<String> = (0..u.int_in_range(1..=16)?).map(|_| header_token(u)).collect::<Result<_>>()?;
    let header = header.join(" ");
    let mut lines = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let n = u.int_in_range(0..=18)?;
        let vals: Vec<String> = (0..n).map(|_| vpc_value(u)).collect::<Result<_>>()?;
        lines.push(vals.join(" "));
    }
    // The parser under the header's fields, line by line.
    if let Some(fields) = vpc::header_fields(&header) {
        let records: Vec<Vec<u8>> = lines.iter().map(|l| l.clone().into_bytes()).collect();
        let out = run(Payload::VpcFlow(Arc::new(fields)), &records);
        assert_eq!(out.by_source.get("vpc_flow").copied().unwrap_or(0), records.len() as u64);
        assert!(out.flows.len() + out.bad.len() <= records.len(), "more than one result for a line");
        for f in &out.flows {
            assert!(lines.iter().any(|l| l.trim() == f.raw), "raw is not the line");
        }
    }
    // And the whole text through reader::open, whatever it sniffs as.
    let text = format!("{header}\n{}\n", lines.join("\n"));
    if let Some((Payload::VpcFlow(_), got, out)) = read_any(text.as_bytes(), knobs) {
        assert!(out.flows.len() + out.bad.len() <= got.len());
    }
    Ok(())
}

fn flows(u: &mut Unstructured) -> Result<()> {
    let vnet = u.arbitrary::<bool>()?;
    let (rec, n) = record(u, vnet)?;
    let out = run(Payload::Json, &[serde_json::to_vec(&rec).unwrap()]);
    let source = if vnet { "vnet_flow" } else { "nsg_flow" };
    assert_eq!(out.by_source.get(source), Some(&1), "{:?}", out.by_source);
    // Each tuple once, as a session or a quarantined tuple; shape errors (a non-array tuple
    // list) are extra bad records without a tuple index.
    let mut seen: Vec<u32> = out.flows.iter().map(|f| f.tuple_index).collect();
    seen.extend(out.bad.iter().filter_map(|b| b.tuple_index));
    seen.sort_unstable();
    assert_eq!(seen, (0..n as u32).collect::<Vec<_>>(), "tuple indices");
    let mut prev = None;
    for f in &out.flows {
        assert!(prev < Some(f.tuple_index), "sessions out of document order");
        prev = Some(f.tuple_index);
        assert_eq!(f.source, source);
    }
    for b in out.bad.iter().filter(|b| b.tuple_index.is_some()) {
        let k = b.tuple_index.unwrap_or_default();
        assert!(b.reason.starts_with(&format!("tuple {k}: ")), "{}", b.reason);
        assert_eq!(b.parser.as_deref(), Some(source));
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let (knobs, rest) = Knobs::take(data);
    let mut u = Unstructured::new(rest);
    let _ = if u.ratio(2, 3).unwrap_or(true) { flows(&mut u) } else { vpc(&mut u, knobs) };
});
