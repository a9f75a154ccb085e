//! AWS VPC flow logs (versions 2–5 and custom formats): one [`NetworkSession`] per text line.
//!
//! A line is space-separated values in the order of the flow log's format; `-` means the value
//! is missing or not applicable. The default format is [`DEFAULT_FIELDS`] (all version 2
//! fields). A custom format may hold any subset in any order, and its `version` field is the
//! highest version among the chosen fields, so the column order comes from the header line
//! ([`header_fields`]) or the configured format string, never from `version`.
//!
//! Field names are matched ignoring case and punctuation, so the AWS spelling (`log-status`),
//! the `${log-status}` format string, the underscore spelling of Athena/S3 exports
//! (`log_status`) and CamelCase columns (`LogStatus`) all name the same field.
//!
//! Mapping: `srcaddr`/`dstaddr` (falling back to `pkt-srcaddr`/`pkt-dstaddr` when the format
//! has only those), ports, `protocol` (IANA number; 6/17/1/58 named TCP/UDP/ICMP/ICMPv6),
//! `packets`/`bytes` → `packets_s2d`/`bytes_s2d` (AWS counts one direction per record),
//! `start` → `time`, `end` → `end_time` (epoch seconds), `action` ACCEPT/REJECT → Allow/Deny,
//! `log-status`, `account-id`, `interface-id` → `dvc_id`, `tcp-flags`, `flow-direction`
//! ingress/egress → Inbound/Outbound, `version`.
//!
//! Decisions:
//! - `NODATA` and `SKIPDATA` lines describe a capture window, not a flow (their addresses,
//!   ports and counters are `-`). The driver counts them as `vpc_flow` records, and this parser
//!   returns `Ok` without emitting a session, so they neither pollute flow analytics nor land
//!   in quarantine.
//! - A header line that reaches the parser (concatenated exports repeat it) and blank lines
//!   are skipped the same way.
//! - Everything else that cannot be read (wrong field count, bad address, non-numeric number,
//!   no time) is an `Err` naming the field, which the driver quarantines with the line.

use super::flows::protocol_name;
use super::{Output, RecordCtx};
use azir_model::{epoch_auto, NetworkSession};
use std::net::IpAddr;

/// The default (version 2) field order.
pub const DEFAULT_FIELDS: &[&str] = &[
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
];

/// Every field AWS documents for VPC flow log records (v2–v5 and the later ECS and
/// reject-reason fields), in AWS's spelling.
const KNOWN_FIELDS: &[&str] = &[
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
    "vpc-id",
    "subnet-id",
    "instance-id",
    "tcp-flags",
    "type",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "region",
    "az-id",
    "sublocation-type",
    "sublocation-id",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
    "flow-direction",
    "traffic-path",
    "ecs-cluster-arn",
    "ecs-cluster-name",
    "ecs-container-instance-arn",
    "ecs-container-instance-id",
    "ecs-container-id",
    "ecs-second-container-id",
    "ecs-service-name",
    "ecs-task-definition-arn",
    "ecs-task-arn",
    "ecs-task-id",
    "reject-reason",
];

/// The fields this parser reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Slot {
    Version,
    AccountId,
    InterfaceId,
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    Protocol,
    Packets,
    Bytes,
    Start,
    End,
    Action,
    LogStatus,
    TcpFlags,
    FlowDirection,
    PktSrcAddr,
    PktDstAddr,
}
const SLOTS: usize = 18;

/// A field name reduced to lower-case letters and digits (`${Log_Status}` → `logstatus`), in a
/// stack buffer; None when longer than any field name.
fn squash(name: &str) -> Option<([u8; 40], usize)> {
    let mut buf = [0u8; 40];
    let mut n = 0;
    for b in name.bytes().filter(u8::is_ascii_alphanumeric) {
        *buf.get_mut(n)? = b.to_ascii_lowercase();
        n += 1;
    }
    Some((buf, n))
}

fn slot_of(name: &str) -> Option<Slot> {
    let (buf, n) = squash(name)?;
    Some(match &buf[..n] {
        b"version" => Slot::Version,
        b"accountid" => Slot::AccountId,
        b"interfaceid" => Slot::InterfaceId,
        b"srcaddr" => Slot::SrcAddr,
        b"dstaddr" => Slot::DstAddr,
        b"srcport" => Slot::SrcPort,
        b"dstport" => Slot::DstPort,
        b"protocol" => Slot::Protocol,
        b"packets" => Slot::Packets,
        b"bytes" => Slot::Bytes,
        b"start" => Slot::Start,
        b"end" => Slot::End,
        b"action" => Slot::Action,
        b"logstatus" => Slot::LogStatus,
        b"tcpflags" => Slot::TcpFlags,
        b"flowdirection" => Slot::FlowDirection,
        b"pktsrcaddr" => Slot::PktSrcAddr,
        b"pktdstaddr" => Slot::PktDstAddr,
        _ => return None,
    })
}

/// The AWS spelling of a known field name given in any spelling.
fn known_name(name: &str) -> Option<&'static str> {
    let (buf, n) = squash(name)?;
    KNOWN_FIELDS.iter().copied().find(|k| k.bytes().filter(u8::is_ascii_alphanumeric).eq(buf[..n].iter().copied()))
}

/// A token that can be a field name: `name`, `name-part`, `name_part`, `${name}`, `CamelCase`.
fn name_like(tok: &str) -> bool {
    let t = tok.strip_prefix("${").and_then(|t| t.strip_suffix('}')).unwrap_or(tok);
    let mut bytes = t.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Recognises a header line (`version account-id interface-id srcaddr ...`, also spelled with
/// underscores, `${field}` placeholders or CamelCase) and returns its field names in AWS's
/// spelling (unknown names lower-cased with `-` for `_`), in column order.
///
/// A line is a header when every token looks like a name and at least two tokens, and at least
/// half of them, are documented field names; data lines always carry a number or `-` in some
/// field of a real format, and their text values (`eni-…`, `ACCEPT`, `OK`) are no field names.
pub fn header_fields(line: &str) -> Option<Vec<String>> {
    let line = line.trim().trim_start_matches('\u{feff}');
    let line = line.strip_prefix('#').unwrap_or(line);
    let toks: Vec<&str> = line.split_ascii_whitespace().collect();
    if toks.len() < 2 || !toks.iter().all(|t| name_like(t)) {
        return None;
    }
    let mut known = 0;
    let mut names = Vec::with_capacity(toks.len());
    for t in &toks {
        match known_name(t) {
            Some(k) => {
                known += 1;
                names.push(k.to_string());
            }
            None => names.push(t.trim_start_matches("${").trim_end_matches('}').to_ascii_lowercase().replace('_', "-")),
        }
    }
    (known >= 2 && known * 2 >= toks.len()).then_some(names)
}

/// Parses one flow log line (`ctx.raw`) whose columns are named by `fields`.
pub fn parse_line(fields: &[String], ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    let text = String::from_utf8_lossy(ctx.raw);
    let line = text.trim();
    if line.is_empty() {
        return Ok(());
    }
    match session(fields, line, ctx) {
        Ok(Some(f)) => {
            out.flows.push(f);
            Ok(())
        }
        Ok(None) => Ok(()),
        // A header line (concatenated exports repeat it) reads as garbage data: skip it.
        Err(_) if header_fields(line).is_some() => Ok(()),
        Err(e) => Err(e),
    }
}

/// The session of a line, or None for a NODATA/SKIPDATA line.
fn session(fields: &[String], line: &str, ctx: &RecordCtx) -> Result<Option<NetworkSession>, String> {
    let vals: Vec<&str> = line.split_ascii_whitespace().collect();
    if vals.len() != fields.len() {
        return Err(format!(
            "expected {} space-separated fields ({}), found {}",
            fields.len(),
            fields.join(" "),
            vals.len()
        ));
    }
    // Column of each field this parser reads (the first, if a name repeats).
    let mut at: [Option<usize>; SLOTS] = [None; SLOTS];
    for (i, name) in fields.iter().enumerate() {
        if let Some(s) = slot_of(name) {
            at[s as usize].get_or_insert(i);
        }
    }
    // (field name as configured, value) of a present, non-`-` field.
    let get = |s: Slot| -> Option<(&str, &str)> {
        let i = at[s as usize]?;
        let v = *vals.get(i)?;
        (v != "-").then(|| (fields[i].as_str(), v))
    };

    let log_status = get(Slot::LogStatus).map(|(_, v)| v);
    if log_status.is_some_and(|st| st.eq_ignore_ascii_case("NODATA") || st.eq_ignore_ascii_case("SKIPDATA")) {
        // A capture window without flows: counted by the driver, no session (module doc).
        return Ok(None);
    }

    let mut f = ctx.flow("vpc_flow", 0);
    f.src_ip = address(get(Slot::SrcAddr).or_else(|| get(Slot::PktSrcAddr)), "srcaddr")?;
    f.dst_ip = address(get(Slot::DstAddr).or_else(|| get(Slot::PktDstAddr)), "dstaddr")?;
    f.src_port = number::<u16>(get(Slot::SrcPort))?.map(i32::from);
    f.dst_port = number::<u16>(get(Slot::DstPort))?.map(i32::from);
    f.protocol = get(Slot::Protocol)
        .map(|(name, v)| {
            v.parse::<u8>().map(|_| protocol_name(v)).map_err(|_| bad(name, v, "is not an IANA protocol number"))
        })
        .transpose()?
        .unwrap_or_default();
    f.packets_s2d = count(get(Slot::Packets))?;
    f.bytes_s2d = count(get(Slot::Bytes))?;
    let start = epoch(get(Slot::Start))?;
    let end = epoch(get(Slot::End))?;
    f.time = start.or(end).ok_or("no time: start and end are both missing")?;
    f.end_time = end.unwrap_or(f.time);
    f.action = get(Slot::Action).map(|(_, v)| {
        if v.eq_ignore_ascii_case("ACCEPT") {
            "Allow".to_string()
        } else if v.eq_ignore_ascii_case("REJECT") {
            "Deny".to_string()
        } else {
            v.to_string()
        }
    });
    f.log_status = log_status.map(str::to_string);
    f.account_id = get(Slot::AccountId).map(|(_, v)| v.to_string());
    f.dvc_id = get(Slot::InterfaceId).map(|(_, v)| v.to_string());
    f.tcp_flags = number::<i32>(get(Slot::TcpFlags))?;
    f.direction = get(Slot::FlowDirection).map(|(_, v)| {
        if v.eq_ignore_ascii_case("ingress") {
            "Inbound".to_string()
        } else if v.eq_ignore_ascii_case("egress") {
            "Outbound".to_string()
        } else {
            v.to_string()
        }
    });
    f.version = number::<i32>(get(Slot::Version))?;
    f.raw = line.to_string();
    f.compute_flow_id();
    Ok(Some(f))
}

fn bad(name: &str, v: &str, what: &str) -> String {
    let shown: String = v.chars().take(64).collect();
    format!("field {name} {shown:?} {what}")
}

fn address(v: Option<(&str, &str)>, what: &str) -> Result<String, String> {
    let (name, v) = v.ok_or_else(|| format!("no {what}: the address is missing"))?;
    v.parse::<IpAddr>().map(|a| a.to_string()).map_err(|_| bad(name, v, "is not an IP address"))
}

fn number<T: std::str::FromStr>(v: Option<(&str, &str)>) -> Result<Option<T>, String> {
    v.map(|(name, v)| v.parse::<T>().map_err(|_| bad(name, v, "is not a number"))).transpose()
}

fn count(v: Option<(&str, &str)>) -> Result<Option<i64>, String> {
    v.map(|(name, v)| {
        v.parse::<u64>().ok().and_then(|n| i64::try_from(n).ok()).ok_or_else(|| bad(name, v, "is not a count"))
    })
    .transpose()
}

fn epoch(v: Option<(&str, &str)>) -> Result<Option<i64>, String> {
    v.map(|(name, v)| v.parse::<i64>().ok().and_then(epoch_auto).ok_or_else(|| bad(name, v, "is not an epoch time")))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Shape;
    use crate::parsers::{Payload, StreamInfo};
    use crate::split::Container;
    use azir_model::Provenance;
    use std::sync::Arc;

    fn default_fields() -> Vec<String> {
        DEFAULT_FIELDS.iter().map(|s| s.to_string()).collect()
    }

    fn run(fields: &[String], line: &str) -> (Result<(), String>, Output) {
        let info = StreamInfo::new("00".repeat(32), "flows.log", Payload::VpcFlow(Arc::new(fields.to_vec())));
        let ctx = RecordCtx {
            info: &info,
            raw: line.as_bytes(),
            prov: Provenance::default(),
            shape: Shape::Envelope,
            container: Container::Lines,
        };
        let mut out = Output::default();
        let r = parse_line(fields, &ctx, &mut out);
        (r, out)
    }

    #[test]
    fn default_v2_line() {
        let line = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK";
        let (r, out) = run(&default_fields(), line);
        assert_eq!(r, Ok(()));
        assert_eq!(out.flows.len(), 1);
        let f = &out.flows[0];
        assert_eq!(f.source, "vpc_flow");
        assert_eq!(f.version, Some(2));
        assert_eq!(f.account_id.as_deref(), Some("123456789010"));
        assert_eq!(f.dvc_id.as_deref(), Some("eni-1235b8ca123456789"));
        assert_eq!(f.src_ip, "172.31.16.139");
        assert_eq!(f.dst_ip, "172.31.16.21");
        assert_eq!((f.src_port, f.dst_port), (Some(20641), Some(22)));
        assert_eq!(f.protocol, "TCP");
        assert_eq!((f.packets_s2d, f.bytes_s2d), (Some(20), Some(4249)));
        assert_eq!((f.packets_d2s, f.bytes_d2s), (None, None));
        assert_eq!(f.time, 1_418_530_010_000_000);
        assert_eq!(f.end_time, 1_418_530_070_000_000);
        assert_eq!(f.action.as_deref(), Some("Allow"));
        assert_eq!(f.log_status.as_deref(), Some("OK"));
        assert_eq!(f.flow_state, None);
        assert_eq!(f.direction, None);
        assert_eq!(f.raw, line);
        assert_eq!(f.flow_id.len(), 16);
    }

    #[test]
    fn reject_line() {
        let line = "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK";
        let (r, out) = run(&default_fields(), line);
        assert_eq!(r, Ok(()));
        assert_eq!(out.flows[0].action.as_deref(), Some("Deny"));
        assert_eq!(out.flows[0].dst_port, Some(3389));
    }

    #[test]
    fn nodata_and_skipdata_emit_nothing() {
        for line in [
            "2 123456789010 eni-1a2b3c4d5e6f7g8h9 - - - - - - - 1431280876 1431280934 - NODATA",
            "2 123456789010 eni-4b118871 - - - - - - - 1431280876 1431280934 - SKIPDATA",
        ] {
            let (r, out) = run(&default_fields(), line);
            assert_eq!(r, Ok(()), "{line}");
            assert!(out.flows.is_empty());
            assert!(out.bad.is_empty());
        }
    }

    #[test]
    fn custom_format_header_with_reordered_v5_fields() {
        let header = "${flow-direction} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${tcp-flags} ${start} ${end} ${action} ${log-status} ${version} ${traffic-path} ${interface-id} ${bytes} ${packets}";
        let fields = header_fields(header).expect("header");
        assert_eq!(fields[0], "flow-direction");
        assert_eq!(fields[6], "tcp-flags");
        assert_eq!(fields[12], "traffic-path");
        let line = "egress 10.0.1.5 198.51.100.7 49152 443 6 19 1620140661 1620140721 ACCEPT OK 5 8 eni-0abc 5000 12";
        let (r, out) = run(&fields, line);
        assert_eq!(r, Ok(()));
        let f = &out.flows[0];
        assert_eq!(f.direction.as_deref(), Some("Outbound"));
        assert_eq!(f.tcp_flags, Some(19));
        assert_eq!(f.version, Some(5));
        assert_eq!(f.dvc_id.as_deref(), Some("eni-0abc"));
        assert_eq!((f.packets_s2d, f.bytes_s2d), (Some(12), Some(5000)));
        assert_eq!((f.src_port, f.dst_port), (Some(49152), Some(443)));
        assert_eq!(f.end_time, 1_620_140_721_000_000);
        assert_eq!(f.account_id, None);

        let line = "ingress 198.51.100.7 10.0.1.5 443 49152 17 - 1620140661 1620140721 ACCEPT OK 5 - eni-0abc 800 2";
        let (_, out) = run(&fields, line);
        let f = &out.flows[0];
        assert_eq!(f.direction.as_deref(), Some("Inbound"));
        assert_eq!(f.protocol, "UDP");
        assert_eq!(f.tcp_flags, None);
    }

    #[test]
    fn header_spellings() {
        let want: Vec<String> = default_fields();
        for h in [
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status",
            "version account_id interface_id srcaddr dstaddr srcport dstport protocol packets bytes start end action log_status",
            "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}",
            "Version AccountId InterfaceId SrcAddr DstAddr SrcPort DstPort Protocol Packets Bytes Start End Action LogStatus",
        ] {
            assert_eq!(header_fields(h).as_ref(), Some(&want), "{h}");
        }
        assert_eq!(
            header_fields("srcaddr dstaddr some-future-field").as_deref(),
            Some(&["srcaddr".to_string(), "dstaddr".into(), "some-future-field".into()][..])
        );
        for data in [
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
            "eni-0abc ACCEPT OK",
            "egress - - ACCEPT",
            "version",
            "",
        ] {
            assert_eq!(header_fields(data), None, "{data}");
        }
    }

    #[test]
    fn header_line_reaching_the_parser_is_skipped() {
        let header = DEFAULT_FIELDS.join(" ");
        let (r, out) = run(&default_fields(), &header);
        assert_eq!(r, Ok(()));
        assert!(out.flows.is_empty());
    }

    #[test]
    fn ipv6_addresses() {
        let line =
            "3 123456789010 eni-0abc 2001:DB8:1::10 2001:db8:2::20 40000 443 6 10 1200 1620140661 1620140721 ACCEPT OK";
        let (r, out) = run(&default_fields(), line);
        assert_eq!(r, Ok(()));
        assert_eq!(out.flows[0].src_ip, "2001:db8:1::10");
        assert_eq!(out.flows[0].dst_ip, "2001:db8:2::20");
        let line = "3 123456789010 eni-0abc 2001:db8:1::10 2001:db8:2::20 - - 58 4 320 1620140661 1620140721 ACCEPT OK";
        let (_, out) = run(&default_fields(), line);
        assert_eq!(out.flows[0].protocol, "ICMPv6");
        assert_eq!(out.flows[0].src_port, None);
    }

    #[test]
    fn malformed_lines_are_errors_naming_the_field() {
        let f = default_fields();
        let (r, _) = run(&f, "2 123456789010 eni-0abc 10.0.0.1 10.0.0.2 1 2 6 3 4 1418530010 1418530070 ACCEPT");
        assert!(r.unwrap_err().contains("expected 14 space-separated fields"));
        let (r, _) = run(&f, "2 123456789010 eni-0abc 10.0.0.300 10.0.0.2 1 2 6 3 4 1418530010 1418530070 ACCEPT OK");
        assert!(r.unwrap_err().contains("field srcaddr \"10.0.0.300\""));
        let (r, _) = run(&f, "2 123456789010 eni-0abc 10.0.0.1 10.0.0.2 1 70000 6 3 4 1418530010 1418530070 ACCEPT OK");
        assert!(r.unwrap_err().contains("field dstport"));
        let (r, _) = run(&f, "2 123456789010 eni-0abc 10.0.0.1 10.0.0.2 1 2 6 3 many 1418530010 1418530070 ACCEPT OK");
        assert!(r.unwrap_err().contains("field bytes \"many\""));
        let (r, _) = run(&f, "2 123456789010 eni-0abc 10.0.0.1 10.0.0.2 1 2 6 3 4 - - ACCEPT OK");
        assert!(r.unwrap_err().contains("no time"));
        let (r, _) = run(&f, "2 123456789010 eni-0abc - 10.0.0.2 1 2 6 3 4 1418530010 1418530070 ACCEPT OK");
        assert!(r.unwrap_err().contains("no srcaddr"));
    }

    #[test]
    fn driver_counts_nodata_and_quarantines_bad_lines() {
        use crate::parsers::parse_chunk;
        use crate::split::{Chunk, Span};
        let lines = [
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
            "2 123456789010 eni-1a2b3c4d5e6f7g8h9 - - - - - - - 1431280876 1431280934 - NODATA",
            "2 123456789010 eni-0abc 10.0.0.1",
        ];
        let info = StreamInfo::new("00".repeat(32), "flows.log", Payload::VpcFlow(Arc::new(default_fields())));
        let mut chunk = Chunk::default();
        for (i, l) in lines.iter().enumerate() {
            let start = chunk.buf.len();
            chunk.buf.extend_from_slice(l.as_bytes());
            chunk.spans.push(Span {
                start,
                end: chunk.buf.len(),
                line: i as u64 + 1,
                offset: start as u64,
                index: 0,
                size: l.len() as u64,
                defect: None,
                container: Container::Lines,
            });
        }
        let mut out = Output::default();
        parse_chunk(&info, &chunk, &mut out);
        assert_eq!(out.records, 3);
        assert_eq!(out.by_source.get("vpc_flow"), Some(&3));
        assert_eq!(out.flows.len(), 1);
        assert_eq!(out.bad.len(), 1);
        assert_eq!(out.bad[0].provenance.line, 3);
        assert_eq!(out.bad[0].parser.as_deref(), Some("vpc_flow"));
    }
}
