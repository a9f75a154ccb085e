//! NSG flow logs (versions 1 and 2) and VNet flow logs: one [`NetworkSession`] per flow tuple.
//!
//! Both logs pack many flows into one record as comma-separated tuple strings, grouped by the
//! rule that decided them:
//!
//! - NSG: `properties.flows[].rule` → `.flows[].mac` → `.flowTuples[]`, tuples
//!   `ts,src,dst,sport,dport,T|U,I|O,A|D` (v1, 8 fields) plus `,B|C|E,pkts_s2d,bytes_s2d,
//!   pkts_d2s,bytes_d2s` (v2, 13 fields). `B` tuples carry empty counters (`,,,,`).
//! - VNet: `flowRecords.flows[].aclID` → `.flowGroups[].rule` → `.flowTuples[]`, tuples
//!   `ts,src,dst,sport,dport,proto(IANA),I|O,B|C|E|D,encryption,pkts_s2d,bytes_s2d,pkts_d2s,
//!   bytes_d2s`; the timestamp is epoch milliseconds in Microsoft's sample and seconds
//!   elsewhere, so its unit is taken from its magnitude ([`azir_model::epoch_auto`]).
//!
//! `C` and `E` counters are deltas since the flow's previous tuple: they are kept as reported
//! (one row per tuple), and a flow's totals are the sum of its rows grouped by `flow_id`.
//!
//! A malformed tuple (wrong field count, bad address, non-numeric port, counter or timestamp)
//! is quarantined on its own, as a [`BadRecord`] with its tuple index, and the record's other
//! tuples are still emitted; only a record without its tuple container is an error as a whole.
//! `tuple_index` counts every tuple of the record in document order, across rule groups and
//! MACs, so that (record provenance, tuple index) names one tuple string exactly.

use super::{Output, RecordCtx};
use crate::json::{get, int, obj, text};
use azir_model::{epoch_auto, BadRecord, NetworkSession};
use serde_json::Value;
use std::net::IpAddr;

/// Names of the NSG tuple fields (v1 uses the first 8), for error messages.
const NSG_FIELDS: [&str; 13] = [
    "timestamp",
    "src_ip",
    "dst_ip",
    "src_port",
    "dst_port",
    "protocol",
    "direction",
    "decision",
    "state",
    "packets_s2d",
    "bytes_s2d",
    "packets_d2s",
    "bytes_d2s",
];
/// Names of the VNet tuple fields, for error messages.
const VNET_FIELDS: [&str; 13] = [
    "timestamp",
    "src_ip",
    "dst_ip",
    "src_port",
    "dst_port",
    "protocol",
    "direction",
    "state",
    "encryption",
    "packets_s2d",
    "bytes_s2d",
    "packets_d2s",
    "bytes_d2s",
];

/// What the record contributes to every tuple it holds.
struct Common<'a> {
    source: &'static str,
    dvc_id: Option<&'a str>,
    mac: Option<&'a str>,
    rule: Option<&'a str>,
    acl_id: Option<&'a str>,
    target_resource_id: Option<&'a str>,
    version: Option<i32>,
}

/// Parses one NSG flow-log record (`category` `NetworkSecurityGroupFlowEvent`).
pub fn parse_nsg(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    let props = obj(get(v, "properties")).ok_or("NSG flow record has no properties object")?;
    let groups = match get(&props, "flows") {
        Some(Value::Array(a)) => a,
        Some(other) => return Err(format!("NSG flow record: properties.flows is a {}, not an array", kind(other))),
        None => return Err("NSG flow record has no properties.flows".into()),
    };
    let dvc_id = text(get(v, "resourceId"));
    let version = int(get(&props, "Version")).and_then(|n| i32::try_from(n).ok());
    let mut index: u32 = 0;
    for (g, group) in groups.iter().enumerate() {
        let rule = text(get(group, "rule"));
        let Some(macs) =
            array_of(group, "flows", ctx, out, "nsg_flow", index, || format!("properties.flows[{g}].flows"))
        else {
            continue;
        };
        for (m, per_mac) in macs.iter().enumerate() {
            let mac = text(get(per_mac, "mac")).map(|s| normalize_mac(&s));
            let Some(tuples) = array_of(per_mac, "flowTuples", ctx, out, "nsg_flow", index, || {
                format!("properties.flows[{g}].flows[{m}].flowTuples")
            }) else {
                continue;
            };
            let common = Common {
                source: "nsg_flow",
                dvc_id: dvc_id.as_deref(),
                mac: mac.as_deref(),
                rule: rule.as_deref(),
                acl_id: None,
                target_resource_id: None,
                version,
            };
            for t in tuples {
                emit(t, index, &common, ctx, out, nsg_tuple);
                index = index.saturating_add(1);
            }
        }
    }
    Ok(())
}

/// Parses one VNet flow-log record (`category` `FlowLogFlowEvent`).
pub fn parse_vnet(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    let records = obj(get(v, "flowRecords")).ok_or("VNet flow record has no flowRecords object")?;
    let acls = match get(&records, "flows") {
        Some(Value::Array(a)) => a,
        Some(other) => return Err(format!("VNet flow record: flowRecords.flows is a {}, not an array", kind(other))),
        None => return Err("VNet flow record has no flowRecords.flows".into()),
    };
    let dvc_id = text(get(v, "flowLogResourceID"));
    let target = text(get(v, "targetResourceID"));
    let mac = text(get(v, "macAddress")).map(|s| normalize_mac(&s));
    let version = int(get(v, "flowLogVersion")).and_then(|n| i32::try_from(n).ok());
    let mut index: u32 = 0;
    for (a, acl) in acls.iter().enumerate() {
        let acl_id = text(get(acl, "aclID"));
        let Some(groups) =
            array_of(acl, "flowGroups", ctx, out, "vnet_flow", index, || format!("flowRecords.flows[{a}].flowGroups"))
        else {
            continue;
        };
        for (g, group) in groups.iter().enumerate() {
            let rule = text(get(group, "rule"));
            let Some(tuples) = array_of(group, "flowTuples", ctx, out, "vnet_flow", index, || {
                format!("flowRecords.flows[{a}].flowGroups[{g}].flowTuples")
            }) else {
                continue;
            };
            let common = Common {
                source: "vnet_flow",
                dvc_id: dvc_id.as_deref(),
                mac: mac.as_deref(),
                rule: rule.as_deref(),
                acl_id: acl_id.as_deref(),
                target_resource_id: target.as_deref(),
                version,
            };
            for t in tuples {
                emit(t, index, &common, ctx, out, vnet_tuple);
                index = index.saturating_add(1);
            }
        }
    }
    Ok(())
}

/// The array under `key`; absent → None silently (nothing to emit), present but not an array →
/// None with a bad record naming the path, so that a shape change is seen, not swallowed.
fn array_of<'v>(
    v: &'v Value,
    key: &str,
    ctx: &RecordCtx,
    out: &mut Output,
    parser: &str,
    next_index: u32,
    path: impl FnOnce() -> String,
) -> Option<&'v Vec<Value>> {
    match get(v, key)? {
        Value::Array(a) => Some(a),
        Value::Null => None,
        other => {
            let mut b = ctx.bad(format!("{} is a {}, not an array (before tuple {next_index})", path(), kind(other)));
            b.parser = Some(parser.to_string());
            out.bad.push(b);
            None
        }
    }
}

/// Turns one tuple value into a session or, if malformed, a bad record with its index.
fn emit(
    t: &Value,
    index: u32,
    common: &Common,
    ctx: &RecordCtx,
    out: &mut Output,
    parse: fn(&str, &mut NetworkSession) -> Result<(), String>,
) {
    let Some(s) = t.as_str() else {
        let raw = t.to_string();
        let mut b = BadRecord::new(
            format!("tuple {index}: a JSON {}, not a tuple string", kind(t)),
            raw.as_bytes(),
            ctx.prov.clone(),
        );
        b.parser = Some(common.source.to_string());
        b.tuple_index = Some(index);
        out.bad.push(b);
        return;
    };
    let mut f = ctx.flow(common.source, index);
    match parse(s, &mut f) {
        Ok(()) => {
            f.end_time = f.time;
            f.rule = common.rule.map(str::to_string);
            f.dvc_id = common.dvc_id.map(str::to_string);
            f.mac = common.mac.map(str::to_string);
            f.acl_id = common.acl_id.map(str::to_string);
            f.target_resource_id = common.target_resource_id.map(str::to_string);
            f.version = common.version;
            f.raw = s.to_string();
            f.compute_flow_id();
            out.flows.push(f);
        }
        Err(reason) => {
            let mut b = BadRecord::new(format!("tuple {index}: {reason}"), s.as_bytes(), ctx.prov.clone());
            b.parser = Some(common.source.to_string());
            b.tuple_index = Some(index);
            out.bad.push(b);
        }
    }
}

/// NSG v1 (8 fields) or v2 (13 fields) tuple.
fn nsg_tuple(s: &str, f: &mut NetworkSession) -> Result<(), String> {
    let (all, n) = split_tuple(s);
    if n != 8 && n != 13 {
        return Err(format!("expected 8 (v1) or 13 (v2) fields, found {n}"));
    }
    let p = &all[..n];
    five_tuple(p, &NSG_FIELDS, f)?;
    f.protocol = match p[5] {
        "T" | "t" => "TCP".to_string(),
        "U" | "u" => "UDP".to_string(),
        "" => return Err(empty(5, &NSG_FIELDS)),
        other => protocol_name(other),
    };
    f.direction = direction(p[6]);
    f.action = match p[7] {
        "A" | "a" => Some("Allow".into()),
        "D" | "d" => Some("Deny".into()),
        "" => None,
        other => Some(other.to_string()),
    };
    if p.len() == 13 {
        f.flow_state = match p[8] {
            "B" | "b" => Some("Begin".into()),
            "C" | "c" => Some("Continuing".into()),
            "E" | "e" => Some("End".into()),
            "" => None,
            other => Some(other.to_string()),
        };
        counters(p, &NSG_FIELDS, f)?;
    }
    Ok(())
}

/// VNet flow-log tuple (13 fields).
fn vnet_tuple(s: &str, f: &mut NetworkSession) -> Result<(), String> {
    let (p, n) = split_tuple(s);
    if n != 13 {
        return Err(format!("expected 13 fields, found {n}"));
    }
    five_tuple(&p, &VNET_FIELDS, f)?;
    if p[5].is_empty() {
        return Err(empty(5, &VNET_FIELDS));
    }
    f.protocol = protocol_name(p[5]);
    f.direction = direction(p[6]);
    // B/C/E are states of an allowed flow; D is a denied one (Elastic names it "Deny" too).
    let (action, state) = match p[7] {
        "B" | "b" => (Some("Allow"), Some("Begin")),
        "C" | "c" => (Some("Allow"), Some("Continuing")),
        "E" | "e" => (Some("Allow"), Some("End")),
        "D" | "d" => (Some("Deny"), Some("Deny")),
        "" => (None, None),
        other => (None, Some(other)),
    };
    f.action = action.map(str::to_string);
    f.flow_state = state.map(str::to_string);
    f.encryption = (!p[8].is_empty()).then(|| p[8].to_string());
    counters(&p, &VNET_FIELDS, f)
}

/// Splits a tuple at commas into at most 13 trimmed fields without allocating; the count is
/// the true number of fields (more than 13 when the tuple is too long).
fn split_tuple(s: &str) -> ([&str; 13], usize) {
    let mut p = [""; 13];
    let mut n = 0;
    for part in s.split(',') {
        if let Some(slot) = p.get_mut(n) {
            *slot = part.trim();
        }
        n += 1;
    }
    (p, n)
}

/// Fields 0–4: timestamp, addresses, ports.
fn five_tuple(p: &[&str], names: &[&str; 13], f: &mut NetworkSession) -> Result<(), String> {
    let ts: i64 = p[0].parse().map_err(|_| bad_field(0, names, p[0], "is not an epoch number"))?;
    f.time = epoch_auto(ts).ok_or_else(|| bad_field(0, names, p[0], "is out of range"))?;
    f.src_ip = ip(p, 1, names)?;
    f.dst_ip = ip(p, 2, names)?;
    f.src_port = port(p, 3, names)?;
    f.dst_port = port(p, 4, names)?;
    Ok(())
}

/// Fields 9–12: packet and byte counters; empty → None (NSG `B` tuples).
fn counters(p: &[&str], names: &[&str; 13], f: &mut NetworkSession) -> Result<(), String> {
    f.packets_s2d = counter(p, 9, names)?;
    f.bytes_s2d = counter(p, 10, names)?;
    f.packets_d2s = counter(p, 11, names)?;
    f.bytes_d2s = counter(p, 12, names)?;
    Ok(())
}

fn ip(p: &[&str], i: usize, names: &[&str; 13]) -> Result<String, String> {
    if p[i].is_empty() {
        return Err(empty(i, names));
    }
    p[i].parse::<IpAddr>().map(|a| a.to_string()).map_err(|_| bad_field(i, names, p[i], "is not an IP address"))
}

fn port(p: &[&str], i: usize, names: &[&str; 13]) -> Result<Option<i32>, String> {
    if p[i].is_empty() {
        return Ok(None);
    }
    p[i].parse::<u16>().map(|n| Some(i32::from(n))).map_err(|_| bad_field(i, names, p[i], "is not a port number"))
}

fn counter(p: &[&str], i: usize, names: &[&str; 13]) -> Result<Option<i64>, String> {
    if p[i].is_empty() {
        return Ok(None);
    }
    p[i].parse::<u64>()
        .ok()
        .and_then(|n| i64::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| bad_field(i, names, p[i], "is not a count"))
}

fn direction(s: &str) -> Option<String> {
    match s {
        "I" | "i" => Some("Inbound".into()),
        "O" | "o" => Some("Outbound".into()),
        "" => None,
        other => Some(other.to_string()),
    }
}

/// IANA protocol number → name for the common ones, else the value as given.
pub(crate) fn protocol_name(s: &str) -> String {
    match s.parse::<u8>() {
        Ok(6) => "TCP".into(),
        Ok(17) => "UDP".into(),
        Ok(1) => "ICMP".into(),
        Ok(58) => "ICMPv6".into(),
        Ok(n) => n.to_string(),
        Err(_) => s.to_string(),
    }
}

/// Upper-case hex digits without separators (`00-0d-3a-…`, `000d3a…` → `000D3A…`), so that the
/// same NIC has one spelling in `mac` and in `flow_id`.
fn normalize_mac(s: &str) -> String {
    s.chars().filter(|c| !matches!(c, '-' | ':' | '.')).map(|c| c.to_ascii_uppercase()).collect()
}

fn empty(i: usize, names: &[&str; 13]) -> String {
    format!("field {} ({}) is empty", i, names[i])
}

fn bad_field(i: usize, names: &[&str; 13], value: &str, what: &str) -> String {
    let shown: String = value.chars().take(64).collect();
    format!("field {} ({}) {:?} {}", i, names[i], shown, what)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use crate::parsers::{run_one, Output};
    use crate::split::Container;
    use azir_model::NetworkSession;
    use std::collections::BTreeMap;

    const RID: &str = "/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG1";

    fn nsg(version: u32, groups: &[(&str, &[&str])]) -> String {
        let flows: Vec<String> = groups
            .iter()
            .map(|(rule, tuples)| {
                let t: Vec<String> = tuples.iter().map(|t| format!("\"{t}\"")).collect();
                format!(r#"{{"rule":"{rule}","flows":[{{"mac":"000D3AF8801A","flowTuples":[{}]}}]}}"#, t.join(","))
            })
            .collect();
        format!(
            r#"{{"time":"2017-02-16T22:00:32.8950000Z","systemId":"x","category":"NetworkSecurityGroupFlowEvent","resourceId":"{RID}","operationName":"NetworkSecurityGroupFlowEvents","properties":{{"Version":{version},"flows":[{}]}}}}"#,
            flows.join(",")
        )
    }

    fn vnet(tuples: &[&str]) -> String {
        let t: Vec<String> = tuples.iter().map(|t| format!("\"{t}\"")).collect();
        format!(
            r#"{{"time":"2022-09-14T09:00:52.5625085Z","flowLogVersion":4,"flowLogGUID":"g","macAddress":"0022487bC205","category":"FlowLogFlowEvent","flowLogResourceID":"/SUBSCRIPTIONS/S/FLOWLOGS/VNETFLOWLOG","targetResourceID":"/subscriptions/s/virtualNetworks/v","operationName":"FlowLogFlowEvent","flowRecords":{{"flows":[{{"aclID":"acl-1","flowGroups":[{{"rule":"BlockHighRisk","flowTuples":[{}]}}]}}]}}}}"#,
            t.join(",")
        )
    }

    fn run(rec: &str) -> Output {
        run_one("PT1H.json", rec, Container::Records)
    }

    #[test]
    fn nsg_v1_tuple_field_by_field() {
        let rec = nsg(1, &[("DefaultRule_DenyAllInBound", &["1487282421,192.0.2.95,10.1.0.4,51529,5358,T,I,D"])]);
        let out = run(&rec);
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        assert_eq!(out.flows.len(), 1);
        let f = &out.flows[0];
        assert_eq!(f.source, "nsg_flow");
        assert_eq!(f.source_format, "eventhub");
        assert_eq!(f.time, 1_487_282_421_000_000);
        assert_eq!(f.end_time, f.time);
        assert_eq!(f.src_ip, "192.0.2.95");
        assert_eq!(f.dst_ip, "10.1.0.4");
        assert_eq!(f.src_port, Some(51529));
        assert_eq!(f.dst_port, Some(5358));
        assert_eq!(f.protocol, "TCP");
        assert_eq!(f.direction.as_deref(), Some("Inbound"));
        assert_eq!(f.action.as_deref(), Some("Deny"));
        assert_eq!(f.flow_state, None);
        assert_eq!(f.packets_s2d, None);
        assert_eq!(f.bytes_d2s, None);
        assert_eq!(f.rule.as_deref(), Some("DefaultRule_DenyAllInBound"));
        assert_eq!(f.dvc_id.as_deref(), Some(RID));
        assert_eq!(f.mac.as_deref(), Some("000D3AF8801A"));
        assert_eq!(f.version, Some(1));
        assert_eq!(f.tuple_index, 0);
        assert_eq!(f.raw, "1487282421,192.0.2.95,10.1.0.4,51529,5358,T,I,D");
        assert_eq!(f.flow_id.len(), 16);
        assert_eq!(f.acl_id, None);
        assert_eq!(f.encryption, None);
    }

    #[test]
    fn nsg_v2_tuples_and_running_index() {
        let rec = nsg(
            2,
            &[
                ("DefaultRule_DenyAllInBound", &["1542110402,192.0.2.190,10.5.16.4,28746,443,U,I,D,B,,,,"]),
                (
                    "DefaultRule_AllowInternetOutBound",
                    &[
                        "1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,E,1,66,1,66",
                        "1542110379,10.5.16.4,203.0.113.115,44931,443,T,O,A,C,30,16978,24,14008",
                    ],
                ),
            ],
        );
        let out = run(&rec);
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        assert_eq!(out.flows.len(), 3);
        let b = &out.flows[0];
        assert_eq!(b.protocol, "UDP");
        assert_eq!(b.action.as_deref(), Some("Deny"));
        assert_eq!(b.flow_state.as_deref(), Some("Begin"));
        assert_eq!((b.packets_s2d, b.bytes_s2d, b.packets_d2s, b.bytes_d2s), (None, None, None, None));
        assert_eq!(b.version, Some(2));
        let e = &out.flows[1];
        assert_eq!(e.tuple_index, 1);
        assert_eq!(e.rule.as_deref(), Some("DefaultRule_AllowInternetOutBound"));
        assert_eq!(e.direction.as_deref(), Some("Outbound"));
        assert_eq!(e.action.as_deref(), Some("Allow"));
        assert_eq!(e.flow_state.as_deref(), Some("End"));
        assert_eq!((e.packets_s2d, e.bytes_s2d, e.packets_d2s, e.bytes_d2s), (Some(1), Some(66), Some(1), Some(66)));
        let c = &out.flows[2];
        assert_eq!(c.tuple_index, 2);
        assert_eq!(c.flow_state.as_deref(), Some("Continuing"));
        assert_eq!(
            (c.packets_s2d, c.bytes_s2d, c.packets_d2s, c.bytes_d2s),
            (Some(30), Some(16978), Some(24), Some(14008))
        );
    }

    #[test]
    fn delta_counters_sum_per_flow_id() {
        // One flow reported B (no counters), C twice (deltas) and E (delta), plus another flow.
        let rec = nsg(
            2,
            &[(
                "UserRule_allow-https",
                &[
                    "1708978215,203.0.113.105,10.0.0.5,35370,443,T,I,A,B,,,,",
                    "1708978515,203.0.113.105,10.0.0.5,35370,443,T,I,A,C,10,1000,8,4000",
                    "1708978815,203.0.113.105,10.0.0.5,35370,443,T,I,A,C,5,500,4,2000",
                    "1708979000,203.0.113.105,10.0.0.5,35370,443,T,I,A,E,2,120,1,60",
                    "1708979000,203.0.113.9,10.0.0.5,40000,443,T,I,A,E,7,700,7,700",
                ],
            )],
        );
        let out = run(&rec);
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        let mut totals: BTreeMap<&str, (i64, i64, i64, i64, usize)> = BTreeMap::new();
        for f in &out.flows {
            let t = totals.entry(f.flow_id.as_str()).or_default();
            t.0 += f.packets_s2d.unwrap_or(0);
            t.1 += f.bytes_s2d.unwrap_or(0);
            t.2 += f.packets_d2s.unwrap_or(0);
            t.3 += f.bytes_d2s.unwrap_or(0);
            t.4 += 1;
        }
        assert_eq!(totals.len(), 2);
        let first = &out.flows[0].flow_id;
        assert_eq!(totals[first.as_str()], (17, 1620, 13, 6060, 4));
        assert_ne!(out.flows[4].flow_id, *first);
        assert_eq!(out.flows[0].packets_s2d, None);
    }

    #[test]
    fn malformed_tuples_are_isolated() {
        let rec = nsg(
            2,
            &[(
                "UserRule_x",
                &[
                    "1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,E,1,66,1,66",
                    "1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,E,1,66,1",
                    "1542110379,10.5.16.999,203.0.113.117,59932,443,T,O,A,E,1,66,1,66",
                    "1542110379,10.5.16.4,203.0.113.117,http,443,T,O,A,E,1,66,1,66",
                    "1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,E,1,many,1,66",
                    "1542110380,10.5.16.4,203.0.113.118,59933,443,T,O,A,E,2,99,2,99",
                ],
            )],
        );
        let out = run(&rec);
        assert_eq!(out.flows.len(), 2);
        assert_eq!(out.flows[0].tuple_index, 0);
        assert_eq!(out.flows[1].tuple_index, 5);
        assert_eq!(out.bad.len(), 4, "{:?}", out.bad);
        let idx: Vec<Option<u32>> = out.bad.iter().map(|b| b.tuple_index).collect();
        assert_eq!(idx, [Some(1), Some(2), Some(3), Some(4)]);
        assert!(out.bad[0].reason.starts_with("tuple 1: expected 8 (v1) or 13 (v2) fields, found 12"));
        assert!(out.bad[1].reason.contains("tuple 2: field 1 (src_ip)"), "{}", out.bad[1].reason);
        assert!(out.bad[2].reason.contains("tuple 3: field 3 (src_port) \"http\""));
        assert!(out.bad[3].reason.contains("tuple 4: field 10 (bytes_s2d)"));
        assert_eq!(out.bad[1].parser.as_deref(), Some("nsg_flow"));
        assert_eq!(out.bad[1].excerpt, "1542110379,10.5.16.999,203.0.113.117,59932,443,T,O,A,E,1,66,1,66");
    }

    #[test]
    fn nsg_record_without_flows_is_an_error() {
        let rec = r#"{"time":"2017-02-16T22:00:32Z","category":"NetworkSecurityGroupFlowEvent","resourceId":"r","properties":{"Version":2}}"#;
        let out = run(rec);
        assert!(out.flows.is_empty());
        assert_eq!(out.bad.len(), 1);
        assert!(out.bad[0].reason.contains("properties.flows"), "{}", out.bad[0].reason);
        assert_eq!(out.bad[0].tuple_index, None);
    }

    #[test]
    fn non_string_tuple_is_bad_and_counted() {
        let rec = r#"{"time":"2017-02-16T22:00:32Z","category":"NetworkSecurityGroupFlowEvent","resourceId":"r","properties":{"Version":1,"flows":[{"rule":"r1","flows":[{"mac":"00-0d-3a-f8-80-1a","flowTuples":[42,"1487282421,192.0.2.95,10.1.0.4,51529,5358,T,I,A"]}]}]}}"#;
        let out = run(rec);
        assert_eq!(out.flows.len(), 1);
        assert_eq!(out.flows[0].tuple_index, 1);
        assert_eq!(out.flows[0].mac.as_deref(), Some("000D3AF8801A"));
        assert_eq!(out.bad.len(), 1);
        assert_eq!(out.bad[0].tuple_index, Some(0));
    }

    fn one_vnet(tuple: &str) -> NetworkSession {
        let out = run(&vnet(&[tuple]));
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        assert_eq!(out.flows.len(), 1);
        out.flows.into_iter().next().unwrap_or_default()
    }

    #[test]
    fn vnet_tuple_field_by_field_ms_timestamp() {
        let f = one_vnet("1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580");
        assert_eq!(f.source, "vnet_flow");
        assert_eq!(f.time, 1_663_146_003_606_000);
        assert_eq!(f.end_time, f.time);
        assert_eq!(f.src_ip, "10.0.0.6");
        assert_eq!(f.dst_ip, "52.239.184.180");
        assert_eq!((f.src_port, f.dst_port), (Some(23956), Some(443)));
        assert_eq!(f.protocol, "TCP");
        assert_eq!(f.direction.as_deref(), Some("Outbound"));
        assert_eq!(f.action.as_deref(), Some("Allow"));
        assert_eq!(f.flow_state.as_deref(), Some("End"));
        assert_eq!(f.encryption.as_deref(), Some("NX"));
        assert_eq!((f.packets_s2d, f.bytes_s2d, f.packets_d2s, f.bytes_d2s), (Some(3), Some(767), Some(2), Some(1580)));
        assert_eq!(f.acl_id.as_deref(), Some("acl-1"));
        assert_eq!(f.rule.as_deref(), Some("BlockHighRisk"));
        assert_eq!(f.dvc_id.as_deref(), Some("/SUBSCRIPTIONS/S/FLOWLOGS/VNETFLOWLOG"));
        assert_eq!(f.target_resource_id.as_deref(), Some("/subscriptions/s/virtualNetworks/v"));
        assert_eq!(f.mac.as_deref(), Some("0022487BC205"));
        assert_eq!(f.version, Some(4));
    }

    #[test]
    fn vnet_seconds_timestamp_and_protocols() {
        let f = one_vnet("1663146003,10.0.0.6,10.0.0.7,0,0,1,I,C,X,4,336,4,336");
        assert_eq!(f.time, 1_663_146_003_000_000);
        assert_eq!(f.protocol, "ICMP");
        assert_eq!(f.flow_state.as_deref(), Some("Continuing"));
        assert_eq!(f.encryption.as_deref(), Some("X"));
        assert_eq!(one_vnet("1663146003,10.0.0.6,10.0.0.7,5353,53,17,O,B,NX,0,0,0,0").protocol, "UDP");
        assert_eq!(one_vnet("1663146003,fe80::1,fe80::2,,,58,O,B,NX,0,0,0,0").protocol, "ICMPv6");
        assert_eq!(one_vnet("1663146003,10.0.0.6,10.0.0.7,,,47,O,B,NX,0,0,0,0").protocol, "47");
    }

    #[test]
    fn vnet_deny_state() {
        let f = one_vnet("1663145998065,101.33.218.153,10.0.0.6,55188,22,6,I,D,NX,0,0,0,0");
        assert_eq!(f.action.as_deref(), Some("Deny"));
        assert_eq!(f.flow_state.as_deref(), Some("Deny"));
        assert_eq!(f.direction.as_deref(), Some("Inbound"));
        assert_eq!(f.packets_s2d, Some(0));
    }

    #[test]
    fn vnet_ipv6_addresses() {
        let f = one_vnet("1663146003599,2001:DB8::6,2001:db8:0:0:0:0:0:7,23956,443,6,O,B,NX,0,0,0,0");
        assert_eq!(f.src_ip, "2001:db8::6");
        assert_eq!(f.dst_ip, "2001:db8::7");
    }

    #[test]
    fn vnet_malformed_tuple_isolated() {
        let out = run(&vnet(&[
            "1663146003599,10.0.0.6,52.239.184.180,23956,443,6,O,B,NX,0,0,0,0",
            "1663146003599,10.0.0.6,52.239.184.180,23956,443,6,O,B,NX,0,0,0",
            "1663146003599,10.0.0.6,52.239.184.180,99999,443,6,O,B,NX,0,0,0,0",
            "soon,10.0.0.6,52.239.184.180,23956,443,6,O,B,NX,0,0,0,0",
            "1663146003599,10.0.0.6,52.239.184.180,23956,443,6,O,B,NX,0,0,0,0,7",
        ]));
        assert_eq!(out.flows.len(), 1);
        assert_eq!(out.bad.len(), 4);
        assert!(out.bad[0].reason.contains("tuple 1: expected 13 fields, found 12"));
        assert!(out.bad[1].reason.contains("tuple 2: field 3 (src_port)"));
        assert!(out.bad[2].reason.contains("tuple 3: field 0 (timestamp)"));
        assert_eq!(out.bad[2].parser.as_deref(), Some("vnet_flow"));
        assert!(out.bad[3].reason.contains("tuple 4: expected 13 fields, found 14"));
    }

    #[test]
    fn vnet_record_without_flow_records_is_an_error() {
        let rec = r#"{"time":"2022-09-14T09:00:52Z","category":"FlowLogFlowEvent","flowLogVersion":4}"#;
        let out = run(rec);
        assert!(out.flows.is_empty());
        assert_eq!(out.bad.len(), 1);
        assert!(out.bad[0].reason.contains("flowRecords"), "{}", out.bad[0].reason);
    }
}
