//! Normalized records.
//!
//! One [`Event`] per log record, one [`NetworkSession`] per flow tuple, one [`BadRecord`] per
//! record that could not be read. Every one carries a [`Provenance`] that names the exact bytes
//! it came from: the evidence file's SHA-256, its path, and the line, byte offset and index of the
//! record (and of the tuple inside it, for flows).

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where a record came from: the evidence file and the position of the record in it.
///
/// `line` is 1-based and counts lines of the decompressed stream; `offset` is the byte offset of
/// the record's first byte in that stream; `index` is the record's position among the records
/// that start on that line (elements of `{"records":[...]}` written on one line share a line).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// SHA-256 of the evidence file as stored (compressed bytes for `.gz`, the archive for zip members).
    /// Shared (`Arc`) because every record of a file carries it.
    pub evidence_sha256: Arc<str>,
    /// Display path of the evidence; zip members are written `archive.zip!member/path`.
    pub evidence_path: Arc<str>,
    /// 1-based line of the decompressed stream where the record starts.
    pub line: u64,
    /// Byte offset of the record's start in the decompressed stream.
    pub offset: u64,
    /// Index of the record among those starting on the same line.
    pub index: u32,
}

impl Provenance {
    /// A stable id for the record: a 128-bit FNV-1a hash (hex) of sha, offset, index and `sub`
    /// (the tuple index for flows, 0 otherwise). Same bytes in, same id out.
    pub fn record_id(&self, sub: u32) -> String {
        use std::fmt::Write;
        // Not a security boundary: the evidence SHA-256 already names the bytes; this only has
        // to be stable and collision-free among a case's records, and cheap at ingest rates.
        let mut h = Fnv128::new();
        h.write(self.evidence_sha256.as_bytes());
        h.write(&self.offset.to_le_bytes());
        h.write(&self.index.to_le_bytes());
        h.write(&sub.to_le_bytes());
        let v = h.finish();
        let mut s = String::with_capacity(32);
        let _ = write!(s, "{v:032x}");
        s
    }
}

/// 128-bit FNV-1a: a deterministic, dependency-free id hash (not for security).
struct Fnv128(u128);
impl Fnv128 {
    fn new() -> Self {
        Fnv128(0x6c62272e07bb014262b821756295c58d)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u128::from(*b);
            self.0 = self.0.wrapping_mul(0x0000000001000000000000000000013B);
        }
    }
    fn finish(&self) -> u128 {
        self.0
    }
}

/// One normalized log record. Column names (ASIM where one exists) are given per field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `TimeGenerated`: when the event happened, microseconds since the Unix epoch, UTC.
    pub time: i64,
    /// `source`: activity, signin, audit, provisioning, identity_protection, graph_activity,
    /// appgw_access, waf, firewall, bastion, keyvault, storage, m365_audit, or the diagnostic
    /// category.
    pub source: String,
    /// `source_format`: rest, diag, eventhub, loganalytics, csv, graph.
    pub source_format: String,
    /// `EventType`: ASIM event type (Logon, Create, Set, Delete, Read, Execute, Other, HTTPsession, …).
    pub event_type: Option<String>,
    /// `Operation`: the operation as the log names it (`Microsoft.Network/networkSecurityGroups/write`,
    /// `Sign-in activity`, `Add member to role`, `SecretGet`, `GetBlob`).
    pub operation: Option<String>,
    /// `Category`: the log's own category (Administrative, SignInLogs, AuditEvent, RoleManagement…).
    pub category: Option<String>,
    /// `EventResult`: Success, Failure, Partial or NA.
    pub result: Option<String>,
    /// `EventResultDetails`: error code, status text or reason as reported.
    pub result_details: Option<String>,
    /// `ActorUsername`: UPN, e-mail or name of who acted.
    pub actor_username: Option<String>,
    /// `ActorUserId`: object id of who acted.
    pub actor_user_id: Option<String>,
    /// `ActorAppId`: application (client) id used.
    pub actor_app_id: Option<String>,
    /// `ActorAppName`: application display name used.
    pub actor_app_name: Option<String>,
    /// `SrcIpAddr`: client address.
    pub src_ip: Option<String>,
    /// `SrcPortNumber`.
    pub src_port: Option<i32>,
    /// `DstIpAddr`.
    pub dst_ip: Option<String>,
    /// `DstPortNumber`.
    pub dst_port: Option<i32>,
    /// `NetworkProtocol`.
    pub protocol: Option<String>,
    /// `TargetUsername`: the user acted upon.
    pub target_username: Option<String>,
    /// `TargetResourceId`: the Azure resource (or directory object) acted upon.
    pub target_resource_id: Option<String>,
    /// `TargetAppName`: the application or resource signed in to.
    pub target_app_name: Option<String>,
    /// `HttpUserAgent`.
    pub user_agent: Option<String>,
    /// `HttpRequestMethod`.
    pub http_method: Option<String>,
    /// `Url`: request URI or URL.
    pub url: Option<String>,
    /// `HttpStatusCode`.
    pub http_status: Option<i32>,
    /// `SrcGeoCountry`: two-letter country or region code.
    pub country: Option<String>,
    /// `SrcGeoCity`.
    pub city: Option<String>,
    /// `CorrelationId`.
    pub correlation_id: Option<String>,
    /// `TenantId`.
    pub tenant_id: Option<String>,
    /// `SubscriptionId`.
    pub subscription_id: Option<String>,
    /// `message`: one human sentence.
    pub message: String,
    /// `raw`: the original record, byte for byte.
    pub raw: String,
    /// Provenance columns `evidence_*`.
    pub provenance: Provenance,
}

/// One flow tuple (or AWS flow line, firewall connection, pcap flow) as an ASIM NetworkSession row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkSession {
    /// `TimeGenerated`: the tuple's own timestamp (microseconds, UTC).
    pub time: i64,
    /// `EventEndTime`: end of the interval when the format has one (AWS `end`), else `time`.
    pub end_time: i64,
    /// `source`: nsg_flow, vnet_flow, vpc_flow, firewall, pcap.
    pub source: String,
    /// `source_format`: diag, eventhub, text, …
    pub source_format: String,
    /// `SrcIpAddr`.
    pub src_ip: String,
    /// `SrcPortNumber`.
    pub src_port: Option<i32>,
    /// `DstIpAddr`.
    pub dst_ip: String,
    /// `DstPortNumber`.
    pub dst_port: Option<i32>,
    /// `NetworkProtocol`: TCP, UDP, ICMP, or the IANA number as text for others.
    pub protocol: String,
    /// `NetworkDirection`: Inbound or Outbound as the log reports it (relative to the NIC/VNet).
    pub direction: Option<String>,
    /// `DvcAction`: Allow or Deny.
    pub action: Option<String>,
    /// `FlowState`: Begin, Continuing, End, Deny (v2/VNet states), or None for v1 and AWS.
    pub flow_state: Option<String>,
    /// `SrcPackets`: packets source→destination in this tuple (a delta for C/E states).
    pub packets_s2d: Option<i64>,
    /// `SrcBytes`.
    pub bytes_s2d: Option<i64>,
    /// `DstPackets`: packets destination→source.
    pub packets_d2s: Option<i64>,
    /// `DstBytes`.
    pub bytes_d2s: Option<i64>,
    /// `NetworkRuleName`: the NSG/ACL rule (`UserRule_allow-https`) or firewall rule.
    pub rule: Option<String>,
    /// `DvcId`: the reporting resource: NSG id, flow-log id, AWS interface id, firewall id.
    pub dvc_id: Option<String>,
    /// `AclId`: VNet flow logs' aclID.
    pub acl_id: Option<String>,
    /// `DvcMacAddr`: NIC MAC address as reported (no separators, upper case for Azure).
    pub mac: Option<String>,
    /// `TargetResourceId`: VNet/subnet/NIC a VNet flow log covers.
    pub target_resource_id: Option<String>,
    /// `FlowEncryption`: VNet flow logs' encryption state (X, NX, NX_…).
    pub encryption: Option<String>,
    /// `FlowVersion`: flow-log version (1, 2, 4, AWS 2–5).
    pub version: Option<i32>,
    /// `CloudAccountId`: AWS account id.
    pub account_id: Option<String>,
    /// `TcpFlags`: OR of TCP flags when the format reports them.
    pub tcp_flags: Option<i32>,
    /// `LogStatus`: AWS log-status (OK, NODATA, SKIPDATA).
    pub log_status: Option<String>,
    /// `FlowId`: hex hash of reporting device + 5-tuple; sum counters grouped by it for totals.
    pub flow_id: String,
    /// `raw`: the tuple or line as written.
    pub raw: String,
    /// Provenance columns `evidence_*`.
    pub provenance: Provenance,
    /// `evidence_tuple`: the tuple's index inside its record.
    pub tuple_index: u32,
}

impl NetworkSession {
    /// Computes [`NetworkSession::flow_id`] from the device and the 5-tuple.
    pub fn compute_flow_id(&mut self) {
        let mut h = Fnv128::new();
        for part in [
            self.dvc_id.as_deref().unwrap_or(""),
            self.mac.as_deref().unwrap_or(""),
            &self.src_ip,
            &self.dst_ip,
            &self.protocol,
        ] {
            h.write(part.as_bytes());
            h.write(&[0]);
        }
        h.write(&self.src_port.unwrap_or(-1).to_le_bytes());
        h.write(&self.dst_port.unwrap_or(-1).to_le_bytes());
        self.flow_id = format!("{:016x}", (h.finish() >> 64) as u64);
    }
}

/// A record that could not be read or normalized, kept with the reason (the quarantine table).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadRecord {
    /// `reason`: what was wrong, precise enough to fix the input or the parser.
    pub reason: String,
    /// `parser`: the source the record was taken for, if it got that far.
    pub parser: Option<String>,
    /// `excerpt`: the start of the record (lossy UTF-8, at most 4 KiB).
    pub excerpt: String,
    /// `size`: the record's length in bytes (may exceed what was kept).
    pub size: u64,
    /// Provenance columns `evidence_*`.
    pub provenance: Provenance,
    /// `evidence_tuple`: index of the bad tuple inside a flow record, if that is what was bad.
    pub tuple_index: Option<u32>,
}

/// Longest excerpt a [`BadRecord`] keeps.
pub const EXCERPT_MAX: usize = 4096;

impl BadRecord {
    /// Builds a bad record from raw bytes, keeping at most [`EXCERPT_MAX`] bytes of excerpt.
    pub fn new(reason: impl Into<String>, bytes: &[u8], provenance: Provenance) -> Self {
        let cut = bytes.len().min(EXCERPT_MAX);
        BadRecord {
            reason: reason.into(),
            parser: None,
            excerpt: String::from_utf8_lossy(&bytes[..cut]).into_owned(),
            size: bytes.len() as u64,
            provenance,
            tuple_index: None,
        }
    }
}
