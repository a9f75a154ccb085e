//! One parser module per log source, and the driver that routes each record to its parser.
//!
//! A parser sees one decoded record (`serde_json::Value`) and its [`RecordCtx`], and pushes
//! normalized [`Event`]s, [`NetworkSession`]s or [`Resource`]s into the [`Output`]. It returns
//! `Err(reason)` when the record cannot be normalized (missing time, wrong shape): the driver
//! then quarantines the record with that reason. Parsers never panic on input and never see files.

pub mod activity;
pub mod appgw;
pub mod arm;
pub mod bastion;
pub mod entra;
pub mod firewall;
pub mod flows;
pub mod generic;
pub mod keyvault;
pub mod m365;
pub mod portal;
pub mod signin;
pub mod storage;
pub mod vpc;

use crate::detect::{classify, Kind, Shape};
use crate::json;
use crate::split::{Chunk, Container, Span};
use azir_model::{BadRecord, Event, NetworkSession, Provenance, Resource};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How the records of a stream are encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// JSON records (any container).
    Json,
    /// CSV rows, handed over as JSON objects keyed by header.
    Csv,
    /// AWS VPC flow log lines; the field order (from the header line or the default v2 format).
    VpcFlow(Arc<Vec<String>>),
}

/// What the parse stage knows about the stream a chunk came from.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    /// SHA-256 of the evidence file as stored.
    pub sha256: Arc<str>,
    /// Display path (`archive.zip!member` for archive members).
    pub display: Arc<str>,
    /// Encoding of the records.
    pub payload: Payload,
    /// The path is a diagnostic-setting blob tree (`.../y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json`).
    pub blob_tree: bool,
}

impl StreamInfo {
    /// Stream info for a path, deriving `blob_tree` from it.
    pub fn new(sha256: impl Into<String>, display: impl Into<String>, payload: Payload) -> Self {
        let display: String = display.into();
        let blob_tree = is_blob_tree_path(&display);
        StreamInfo { sha256: Arc::from(sha256.into()), display: Arc::from(display), payload, blob_tree }
    }
}

/// True for diagnostic-setting blob paths: a `y=` segment and a `PT1H.json` leaf.
pub fn is_blob_tree_path(p: &str) -> bool {
    let lower = p.to_ascii_lowercase();
    (lower.contains("/y=") || lower.starts_with("y=")) && (lower.contains("pt1h.json") || lower.contains("/h="))
}

/// Everything a parser needs to know about the record in hand.
pub struct RecordCtx<'a> {
    /// The stream.
    pub info: &'a StreamInfo,
    /// The record's bytes as written.
    pub raw: &'a [u8],
    /// Where it came from.
    pub prov: Provenance,
    /// Export shape.
    pub shape: Shape,
    /// Container it was found in.
    pub container: Container,
}

impl RecordCtx<'_> {
    /// The `source_format` column for this record.
    pub fn format(&self) -> &'static str {
        match self.shape {
            Shape::Envelope if self.info.blob_tree => "diag",
            Shape::Envelope if self.container == Container::Records => "eventhub",
            Shape::Envelope => "diag",
            Shape::Rest => "rest",
            Shape::Graph => "graph",
            Shape::LogAnalytics => "loganalytics",
            Shape::PortalCsv => "csv",
        }
    }

    /// The raw record as text.
    pub fn raw_text(&self) -> String {
        // serde_json already validated the record, so the strict (fast) check succeeds.
        match std::str::from_utf8(self.raw) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(self.raw).into_owned(),
        }
    }

    /// A new event for this record with source, format, raw and provenance filled in.
    pub fn event(&self, source: &str) -> Event {
        Event {
            source: source.to_string(),
            source_format: self.format().to_string(),
            raw: self.raw_text(),
            provenance: self.prov.clone(),
            ..Event::default()
        }
    }

    /// A new network session for this record (tuple index `tuple`).
    pub fn flow(&self, source: &str, tuple: u32) -> NetworkSession {
        NetworkSession {
            source: source.to_string(),
            source_format: self.format().to_string(),
            provenance: self.prov.clone(),
            tuple_index: tuple,
            ..NetworkSession::default()
        }
    }

    /// The first readable timestamp among `paths`, or an error naming what was tried.
    pub fn time(&self, v: &Value, paths: &[&[&str]]) -> Result<i64, String> {
        for p in paths {
            let field = json::path(v, p);
            if let Some(x @ (Value::Bool(_) | Value::Object(_) | Value::Array(_))) = field {
                return Err(format!("wrong type for field {}: a JSON {}, not a timestamp", p.join("."), json_type(x)));
            }
            if let Some(t) = json::text(field) {
                if let Some(us) = azir_model::parse_time(&t) {
                    // A bare number is read as an epoch; one before 2000 is no log timestamp
                    // (`"time": 12` would otherwise land silently in 1970).
                    if t.bytes().all(|b| b.is_ascii_digit()) && us < MIN_EPOCH_US {
                        let what = if field.is_some_and(Value::is_number) { "number" } else { "digit string" };
                        return Err(format!("wrong type for field {}: the {what} {t} is not a timestamp", p.join(".")));
                    }
                    return Ok(us);
                }
                return Err(format!("unreadable timestamp {:?} in field {}", truncate(&t, 64), p.join(".")));
            }
        }
        let names: Vec<String> = paths.iter().map(|p| p.join(".")).collect();
        Err(format!("no timestamp: none of {} present", names.join(", ")))
    }

    /// A bad record for this record's bytes.
    pub fn bad(&self, reason: impl Into<String>) -> BadRecord {
        BadRecord::new(reason, self.raw, self.prov.clone())
    }
}

/// 2000-01-01T00:00:00Z: epoch numbers before it are not accepted as record timestamps.
const MIN_EPOCH_US: i64 = 946_684_800_000_000;

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// What the parse stage produced from a chunk.
#[derive(Debug, Default)]
pub struct Output {
    /// Normalized events.
    pub events: Vec<Event>,
    /// Network sessions (flow tuples).
    pub flows: Vec<NetworkSession>,
    /// Network configuration (ARM resources).
    pub resources: Vec<Resource>,
    /// Quarantined records.
    pub bad: Vec<BadRecord>,
    /// Records read, by source (including records that ended in quarantine after classification).
    pub by_source: BTreeMap<&'static str, u64>,
    /// Records read in total (spans).
    pub records: u64,
}

impl Output {
    /// Empties the output for reuse.
    pub fn clear(&mut self) {
        self.events.clear();
        self.flows.clear();
        self.resources.clear();
        self.bad.clear();
        self.by_source.clear();
        self.records = 0;
    }
}

fn provenance(info: &StreamInfo, span: &Span) -> Provenance {
    Provenance {
        evidence_sha256: info.sha256.clone(),
        evidence_path: info.display.clone(),
        line: span.line,
        offset: span.offset,
        index: span.index,
    }
}

/// Parses every record of a chunk into `out`.
pub fn parse_chunk(info: &StreamInfo, chunk: &Chunk, out: &mut Output) {
    for span in &chunk.spans {
        out.records += 1;
        let bytes = chunk.bytes(span);
        let prov = provenance(info, span);
        if let Some(defect) = &span.defect {
            let mut b = BadRecord::new(defect.clone(), bytes, prov);
            b.size = span.size;
            out.bad.push(b);
            continue;
        }
        if let Payload::VpcFlow(fields) = &info.payload {
            let ctx = RecordCtx { info, raw: bytes, prov, shape: Shape::Envelope, container: span.container };
            *out.by_source.entry("vpc_flow").or_default() += 1;
            if let Err(reason) = vpc::parse_line(fields, &ctx, out) {
                let mut b = ctx.bad(reason);
                b.parser = Some("vpc_flow".into());
                out.bad.push(b);
            }
            continue;
        }
        parse_json_record(info, bytes, prov, span, out);
    }
}

fn parse_json_record(info: &StreamInfo, bytes: &[u8], prov: Provenance, span: &Span, out: &mut Output) {
    let v: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            let reason = match std::str::from_utf8(bytes) {
                Err(u) => {
                    let at = u.valid_up_to();
                    let (line, col) = line_col(span, bytes, at);
                    format!("invalid UTF-8 at line {line}, column {col} (byte 0x{:02X})", bytes[at])
                }
                Ok(_) => {
                    let line = span.line + e.line().saturating_sub(1) as u64;
                    // serde_json appends its own, record-relative " at line L column C".
                    let msg = e.to_string();
                    let msg = msg.rfind(" at line ").map_or(msg.as_str(), |i| &msg[..i]);
                    format!("invalid JSON at line {line}, column {}: {msg}", e.column())
                }
            };
            out.bad.push(BadRecord::new(reason, bytes, prov));
            return;
        }
    };
    // A `{"records":[...]}` wrapper nested inside a container (Microsoft's own NSG v1 sample
    // has one): its elements are the records.
    if let Some(inner) = v.as_object().filter(|m| m.len() == 1).and_then(|m| m.get("records")).and_then(Value::as_array)
    {
        for (i, rec) in inner.iter().enumerate() {
            let bytes = serde_json::to_vec(rec).unwrap_or_default();
            let mut p = prov.clone();
            p.index = p.index.saturating_add(u32::try_from(i).unwrap_or(u32::MAX));
            let mut sp = span.clone();
            sp.index = p.index;
            parse_json_record(info, &bytes, p, &sp, out);
        }
        return;
    }
    // A Resource Graph response (`{"count":..,"data":[...]}`): its rows are the records.
    if let Some(rows) = arm::resource_graph_rows(&v) {
        for (i, rec) in rows.iter().enumerate() {
            let bytes = serde_json::to_vec(rec).unwrap_or_default();
            let mut p = prov.clone();
            p.index = p.index.saturating_add(u32::try_from(i).unwrap_or(u32::MAX));
            let mut sp = span.clone();
            sp.index = p.index;
            parse_json_record(info, &bytes, p, &sp, out);
        }
        return;
    }
    // Log Analytics query API response: `{"tables":[{"columns":[{"name":..}],"rows":[[..]]}]}`.
    // Each row becomes an object keyed by column name, as the portal's JSON export writes it.
    if let Some(tables) = v.as_object().and_then(|m| m.get("tables")).and_then(Value::as_array) {
        let mut i = 0u32;
        for table in tables {
            let names: Vec<&str> = table
                .get("columns")
                .and_then(Value::as_array)
                .map(|c| c.iter().map(|c| c.get("name").and_then(Value::as_str).unwrap_or("")).collect())
                .unwrap_or_default();
            let Some(rows) = table.get("rows").and_then(Value::as_array) else { continue };
            for row in rows {
                let Some(cells) = row.as_array() else { continue };
                let mut obj = serde_json::Map::new();
                for (name, cell) in names.iter().zip(cells) {
                    if !name.is_empty() && !cell.is_null() {
                        obj.insert((*name).to_string(), cell.clone());
                    }
                }
                let bytes = serde_json::to_vec(&Value::Object(obj)).unwrap_or_default();
                let mut p = prov.clone();
                p.index = p.index.saturating_add(i);
                let mut sp = span.clone();
                sp.index = p.index;
                parse_json_record(info, &bytes, p, &sp, out);
                i = i.saturating_add(1);
            }
        }
        return;
    }
    // An Azure REST API specification example (`{"parameters":..,"responses":{"200":{"body":..}}}`,
    // as published in azure-rest-api-specs): the records are those of the response body.
    if let Some(records) = rest_example_records(&v, bytes) {
        let mut last_line = 0;
        let mut index = 0u32;
        for rec in records {
            // `rec` borrows from `bytes` (a borrowed `RawValue` cannot be anything else).
            let at = (rec.as_ptr() as usize).saturating_sub(bytes.as_ptr() as usize).min(bytes.len());
            let (line, _) = line_col(span, bytes, at);
            index = if line == last_line { index.saturating_add(1) } else { 0 };
            last_line = line;
            let mut sp = span.clone();
            sp.line = line;
            sp.offset = span.offset + at as u64;
            sp.index = if line == span.line { span.index.saturating_add(index) } else { index };
            let p = Provenance { line: sp.line, offset: sp.offset, index: sp.index, ..prov.clone() };
            parse_json_record(info, rec.as_bytes(), p, &sp, out);
        }
        return;
    }
    let Some((kind, shape)) = classify(&v) else {
        let keys: Vec<&str> = v.as_object().map(|m| m.keys().take(8).map(String::as_str).collect()).unwrap_or_default();
        let what =
            if v.is_object() { format!("keys: {}", keys.join(", ")) } else { format!("a JSON {}", json_type(&v)) };
        out.bad.push(BadRecord::new(format!("unrecognised record ({what})"), bytes, prov));
        return;
    };
    let ctx = RecordCtx { info, raw: bytes, prov, shape, container: span.container };
    *out.by_source.entry(kind.source()).or_default() += 1;
    // A resource-log envelope's `properties` is an object (or, in some exports, an object
    // encoded as a JSON string); anything else means the record is not what it claims to be.
    if shape == Shape::Envelope && kind != Kind::GenericDiag {
        if let Some(p) = json::get(&v, "properties").filter(|p| !p.is_null() && !p.is_object()) {
            if json::obj(Some(p)).is_none_or(|o| !o.is_object()) {
                let mut b = ctx.bad(format!("wrong type for field properties: a JSON {}, not an object", json_type(p)));
                b.parser = Some(kind.source().to_string());
                out.bad.push(b);
                return;
            }
        }
    }
    let result = match kind {
        Kind::Activity => activity::parse(&v, &ctx, out),
        Kind::SignIn if shape == Shape::PortalCsv => portal::parse_signin(&v, &ctx, out),
        Kind::Audit if shape == Shape::PortalCsv => portal::parse_audit(&v, &ctx, out),
        Kind::SignIn => signin::parse(&v, &ctx, out),
        Kind::Audit => entra::parse_audit(&v, &ctx, out),
        Kind::Provisioning => entra::parse_provisioning(&v, &ctx, out),
        Kind::RiskyUser => entra::parse_risky_user(&v, &ctx, out),
        Kind::RiskEvent => entra::parse_risk_event(&v, &ctx, out),
        Kind::GraphActivity => entra::parse_graph_activity(&v, &ctx, out),
        Kind::AppGwAccess => appgw::parse_access(&v, &ctx, out),
        Kind::Waf => appgw::parse_waf(&v, &ctx, out),
        Kind::Firewall => firewall::parse(&v, &ctx, out),
        Kind::Bastion => bastion::parse(&v, &ctx, out),
        Kind::KeyVault => keyvault::parse(&v, &ctx, out),
        Kind::Storage => storage::parse(&v, &ctx, out),
        Kind::NsgFlow => flows::parse_nsg(&v, &ctx, out),
        Kind::VnetFlow => flows::parse_vnet(&v, &ctx, out),
        Kind::GenericDiag => generic::parse(&v, &ctx, out),
        Kind::Resource => arm::parse(&v, &ctx, out),
        Kind::M365Audit => m365::parse(&v, &ctx, out),
    };
    if let Err(reason) = result {
        let mut b = ctx.bad(reason);
        b.parser = Some(kind.source().to_string());
        out.bad.push(b);
    }
}

/// 1-based line (of the stream) and column of byte `at` of a record that starts at `span`.
fn line_col(span: &Span, bytes: &[u8], at: usize) -> (u64, usize) {
    let before = &bytes[..at.min(bytes.len())];
    let newlines = before.iter().filter(|&&b| b == b'\n').count() as u64;
    let col = at - before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
    (span.line + newlines, col)
}

/// The records of the first 2xx response body of a REST API specification example, as slices
/// of `bytes`: the elements of a `{"value":[..]}` page, or the body itself.
fn rest_example_records<'a>(v: &Value, bytes: &'a [u8]) -> Option<Vec<&'a str>> {
    use serde_json::value::RawValue;
    type RawMap<'b> = BTreeMap<String, &'b RawValue>;
    let m = v.as_object()?;
    let shape_ok = m.get("parameters").is_some_and(Value::is_object)
        && m.get("responses").is_some_and(Value::is_object)
        && m.keys().all(|k| matches!(k.as_str(), "parameters" | "responses" | "operationId" | "title" | "description"));
    if !shape_ok {
        return None;
    }
    let top: RawMap<'a> = serde_json::from_slice(bytes).ok()?;
    let responses: RawMap<'a> = serde_json::from_str(top.get("responses")?.get()).ok()?;
    let body = responses.iter().filter(|(code, _)| code.starts_with('2')).find_map(|(_, r)| {
        let r: RawMap<'a> = serde_json::from_str(r.get()).ok()?;
        r.get("body").copied().filter(|b| b.get() != "null")
    })?;
    let page: Option<RawMap<'a>> = serde_json::from_str(body.get()).ok();
    if let Some(value) = page.as_ref().and_then(|p| p.get("value")) {
        if let Ok(items) = serde_json::from_str::<Vec<&'a RawValue>>(value.get()) {
            return Some(items.into_iter().map(RawValue::get).collect());
        }
    }
    Some(vec![body.get()])
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Maps common result spellings to ASIM's Success/Failure/Partial/NA.
pub fn result_of(s: &str) -> &'static str {
    match s.trim().to_ascii_lowercase().as_str() {
        "success" | "succeeded" | "ok" | "0" | "true" | "allowed" | "allow" | "sassuccess" | "anonymoussuccess"
        | "accepted" | "accept" | "resolved" | "created" => "Success",
        "failure" | "failed" | "fail" | "false" | "error" | "denied" | "deny" | "blocked" | "forbidden"
        | "unauthorized" | "timeout" => "Failure",
        "partial" | "partialsuccess" => "Partial",
        _ => "NA",
    }
}

/// Runs one JSON record through the driver as if read from a file named `display` (tests, and
/// other crates' tests that need events exactly as ingestion makes them).
pub fn run_one(display: &str, record: &str, container: Container) -> Output {
    let info = StreamInfo::new("00".repeat(32), display, Payload::Json);
    let mut chunk = Chunk::default();
    chunk.buf.extend_from_slice(record.as_bytes());
    chunk.spans.push(Span {
        start: 0,
        end: record.len(),
        line: 1,
        offset: 0,
        index: 0,
        size: record.len() as u64,
        defect: None,
        container,
    });
    let mut out = Output::default();
    parse_chunk(&info, &chunk, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_analytics_api_tables_are_expanded_into_rows() {
        let rec = r#"{"tables":[{"name":"PrimaryResult","columns":[{"name":"TimeGenerated","type":"datetime"},{"name":"Type","type":"string"},{"name":"UserPrincipalName","type":"string"},{"name":"ResultType","type":"string"},{"name":"IPAddress","type":"string"}],
            "rows":[["2024-05-01T10:00:00Z","SigninLogs","a@contoso.com","0","192.0.2.1"],["2024-05-01T10:01:00Z","SigninLogs","b@contoso.com","50126","192.0.2.2"]]}]}"#;
        let out = run_one("la-api.json", rec, Container::Lines);
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        assert_eq!(out.events.len(), 2);
        assert_eq!(out.events[1].actor_username.as_deref(), Some("b@contoso.com"));
        assert_eq!(out.events[1].result_details.as_deref(), Some("50126"));
        assert_eq!(out.events[1].provenance.index, 1);
        assert_eq!(out.events[0].source_format, "loganalytics");
    }

    #[test]
    fn nested_records_wrapper_is_unwrapped() {
        let rec = r#"{"records":[{"time":"2024-05-01T10:00:00Z","category":"SomethingNew","operationName":"x"}]}"#;
        let out = run_one("nested.json", rec, Container::Records);
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.events[0].source, "somethingnew");
    }
}
