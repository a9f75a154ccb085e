//! Arrow schemas of the case tables and the conversions between model structs and record batches.
//!
//! Timestamps are `Timestamp(Microsecond, "UTC")` so Spark, DataFusion and DuckDB read them as
//! UTC instants unchanged. Column names are ASIM's where one exists (see `azir-model`).

use arrow_array::builder::{
    Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::{
    Array, ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array,
    UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use azir_model::{BadRecord, Event, NetworkSession, Provenance, Resource};
use std::sync::{Arc, OnceLock};

/// The `event_id` of a row: [`Provenance::record_id`], made distinct between the members of one
/// archive. Members share the archive's SHA-256 and often their offsets (every member's first
/// record sits at offset 0), so the member name (after the first `!` of the display path) is
/// folded into the hashed identity. Plain files keep `record_id` unchanged.
pub fn event_id(prov: &Provenance, sub: u32) -> String {
    match prov.evidence_path.split_once('!') {
        Some((_, member)) => {
            let mut p = prov.clone();
            p.evidence_sha256 = format!("{}!{member}", prov.evidence_sha256).into();
            p.record_id(sub)
        }
        None => prov.record_id(sub),
    }
}

/// The tables of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Normalized events (`events`).
    Events,
    /// Flow tuples as network sessions (`network`).
    Network,
    /// Records that could not be read (`quarantine`).
    Quarantine,
    /// Network configuration: ARM resources (`resources`).
    Resources,
}

impl Table {
    /// Directory name under `tables/`.
    pub fn name(self) -> &'static str {
        match self {
            Table::Events => "events",
            Table::Network => "network",
            Table::Quarantine => "quarantine",
            Table::Resources => "resources",
        }
    }

    /// All tables.
    pub const ALL: [Table; 4] = [Table::Events, Table::Network, Table::Quarantine, Table::Resources];

    /// The table's Arrow schema.
    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Events => events_schema(),
            Table::Network => network_schema(),
            Table::Quarantine => quarantine_schema(),
            Table::Resources => resources_schema(),
        }
    }
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn s(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn provenance_fields() -> Vec<Field> {
    vec![
        Field::new("evidence_sha256", DataType::Utf8, false),
        Field::new("evidence_path", DataType::Utf8, false),
        Field::new("evidence_line", DataType::UInt64, false),
        Field::new("evidence_offset", DataType::UInt64, false),
        Field::new("evidence_index", DataType::UInt32, false),
    ]
}

/// Schema of `events`.
pub fn events_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let mut f = vec![
            Field::new("TimeGenerated", ts(), false),
            Field::new("source", DataType::Utf8, false),
            Field::new("source_format", DataType::Utf8, false),
            s("EventType"),
            s("Operation"),
            s("Category"),
            s("EventResult"),
            s("EventResultDetails"),
            s("ActorUsername"),
            s("ActorUserId"),
            s("ActorAppId"),
            s("ActorAppName"),
            s("SrcIpAddr"),
            Field::new("SrcPortNumber", DataType::Int32, true),
            s("DstIpAddr"),
            Field::new("DstPortNumber", DataType::Int32, true),
            s("NetworkProtocol"),
            s("TargetUsername"),
            s("TargetResourceId"),
            s("TargetAppName"),
            s("HttpUserAgent"),
            s("HttpRequestMethod"),
            s("Url"),
            Field::new("HttpStatusCode", DataType::Int32, true),
            s("SrcGeoCountry"),
            s("SrcGeoCity"),
            s("CorrelationId"),
            s("TenantId"),
            s("SubscriptionId"),
            Field::new("message", DataType::Utf8, false),
            Field::new("raw", DataType::Utf8, false),
        ];
        f.extend(provenance_fields());
        f.push(Field::new("event_id", DataType::Utf8, false));
        Arc::new(Schema::new(f))
    })
    .clone()
}

/// Schema of `network`.
pub fn network_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let mut f = vec![
            Field::new("TimeGenerated", ts(), false),
            Field::new("EventEndTime", ts(), false),
            Field::new("source", DataType::Utf8, false),
            Field::new("source_format", DataType::Utf8, false),
            Field::new("SrcIpAddr", DataType::Utf8, false),
            Field::new("SrcPortNumber", DataType::Int32, true),
            Field::new("DstIpAddr", DataType::Utf8, false),
            Field::new("DstPortNumber", DataType::Int32, true),
            Field::new("NetworkProtocol", DataType::Utf8, false),
            s("NetworkDirection"),
            s("DvcAction"),
            s("FlowState"),
            Field::new("SrcPackets", DataType::Int64, true),
            Field::new("SrcBytes", DataType::Int64, true),
            Field::new("DstPackets", DataType::Int64, true),
            Field::new("DstBytes", DataType::Int64, true),
            s("NetworkRuleName"),
            s("DvcId"),
            s("AclId"),
            s("DvcMacAddr"),
            s("TargetResourceId"),
            s("FlowEncryption"),
            Field::new("FlowVersion", DataType::Int32, true),
            s("CloudAccountId"),
            Field::new("TcpFlags", DataType::Int32, true),
            s("LogStatus"),
            Field::new("FlowId", DataType::Utf8, false),
            Field::new("raw", DataType::Utf8, false),
        ];
        f.extend(provenance_fields());
        f.push(Field::new("evidence_tuple", DataType::UInt32, false));
        f.push(Field::new("event_id", DataType::Utf8, false));
        Arc::new(Schema::new(f))
    })
    .clone()
}

/// Schema of `quarantine`.
pub fn quarantine_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let mut f = vec![
            Field::new("IngestedAt", ts(), false),
            Field::new("reason", DataType::Utf8, false),
            s("parser"),
            Field::new("excerpt", DataType::Utf8, false),
            Field::new("size", DataType::UInt64, false),
        ];
        f.extend(provenance_fields());
        f.push(Field::new("evidence_tuple", DataType::UInt32, true));
        Arc::new(Schema::new(f))
    })
    .clone()
}

/// Schema of `resources`. `TimeGenerated` is the instant the configuration describes
/// (`time_source` `record`) or, when the record has no time, the ingest time (`ingest`).
pub fn resources_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let mut f = vec![
            Field::new("TimeGenerated", ts(), false),
            Field::new("time_source", DataType::Utf8, false),
            Field::new("ResourceId", DataType::Utf8, false),
            Field::new("resource_id_lower", DataType::Utf8, false),
            Field::new("ResourceType", DataType::Utf8, false),
            Field::new("ResourceName", DataType::Utf8, false),
            s("SubscriptionId"),
            s("ResourceGroup"),
            s("Location"),
            Field::new("source_format", DataType::Utf8, false),
            Field::new("json", DataType::Utf8, false),
            Field::new("raw", DataType::Utf8, false),
        ];
        f.extend(provenance_fields());
        f.push(Field::new("event_id", DataType::Utf8, false));
        Arc::new(Schema::new(f))
    })
    .clone()
}

struct ProvBuilders {
    sha: StringBuilder,
    path: StringBuilder,
    line: UInt64Builder,
    offset: UInt64Builder,
    index: UInt32Builder,
}

impl ProvBuilders {
    fn new(n: usize) -> Self {
        ProvBuilders {
            sha: StringBuilder::with_capacity(n, n * 64),
            path: StringBuilder::with_capacity(n, n * 64),
            line: UInt64Builder::with_capacity(n),
            offset: UInt64Builder::with_capacity(n),
            index: UInt32Builder::with_capacity(n),
        }
    }
    fn push(&mut self, p: &Provenance) {
        self.sha.append_value(&p.evidence_sha256);
        self.path.append_value(&p.evidence_path);
        self.line.append_value(p.line);
        self.offset.append_value(p.offset);
        self.index.append_value(p.index);
    }
    fn finish(mut self, cols: &mut Vec<ArrayRef>) {
        cols.push(Arc::new(self.sha.finish()));
        cols.push(Arc::new(self.path.finish()));
        cols.push(Arc::new(self.line.finish()));
        cols.push(Arc::new(self.offset.finish()));
        cols.push(Arc::new(self.index.finish()));
    }
}

macro_rules! strings {
    ($n:expr, $($name:ident),*) => { $( let mut $name = StringBuilder::with_capacity($n, $n * 16); )* };
}

/// Builds an `events` batch.
pub fn events_batch(events: &[&Event]) -> RecordBatch {
    let n = events.len();
    let mut time = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    strings!(
        n, source, format, etype, op, cat, res, resd, au, auid, aapp, aappn, sip, dip, proto, tu, tr, tapp, ua, meth,
        url, country, city, corr, tenant, sub
    );
    let mut sport = Int32Builder::with_capacity(n);
    let mut dport = Int32Builder::with_capacity(n);
    let mut status = Int32Builder::with_capacity(n);
    let mut prov = ProvBuilders::new(n);
    // `raw` and `message` dwarf the other columns: size them exactly, or the builders regrow
    // (and page-fault) their way up to megabytes per batch.
    let mut raw = StringBuilder::with_capacity(n, events.iter().map(|e| e.raw.len()).sum());
    let mut msg = StringBuilder::with_capacity(n, events.iter().map(|e| e.message.len()).sum());
    let mut id = StringBuilder::with_capacity(n, n * 32);
    for e in events {
        time.append_value(e.time);
        source.append_value(&e.source);
        format.append_value(&e.source_format);
        etype.append_option(e.event_type.as_deref());
        op.append_option(e.operation.as_deref());
        cat.append_option(e.category.as_deref());
        res.append_option(e.result.as_deref());
        resd.append_option(e.result_details.as_deref());
        au.append_option(e.actor_username.as_deref());
        auid.append_option(e.actor_user_id.as_deref());
        aapp.append_option(e.actor_app_id.as_deref());
        aappn.append_option(e.actor_app_name.as_deref());
        sip.append_option(e.src_ip.as_deref());
        sport.append_option(e.src_port);
        dip.append_option(e.dst_ip.as_deref());
        dport.append_option(e.dst_port);
        proto.append_option(e.protocol.as_deref());
        tu.append_option(e.target_username.as_deref());
        tr.append_option(e.target_resource_id.as_deref());
        tapp.append_option(e.target_app_name.as_deref());
        ua.append_option(e.user_agent.as_deref());
        meth.append_option(e.http_method.as_deref());
        url.append_option(e.url.as_deref());
        status.append_option(e.http_status);
        country.append_option(e.country.as_deref());
        city.append_option(e.city.as_deref());
        corr.append_option(e.correlation_id.as_deref());
        tenant.append_option(e.tenant_id.as_deref());
        sub.append_option(e.subscription_id.as_deref());
        msg.append_value(&e.message);
        raw.append_value(&e.raw);
        prov.push(&e.provenance);
        id.append_value(event_id(&e.provenance, 0));
    }
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(time.finish()),
        Arc::new(source.finish()),
        Arc::new(format.finish()),
        Arc::new(etype.finish()),
        Arc::new(op.finish()),
        Arc::new(cat.finish()),
        Arc::new(res.finish()),
        Arc::new(resd.finish()),
        Arc::new(au.finish()),
        Arc::new(auid.finish()),
        Arc::new(aapp.finish()),
        Arc::new(aappn.finish()),
        Arc::new(sip.finish()),
        Arc::new(sport.finish()),
        Arc::new(dip.finish()),
        Arc::new(dport.finish()),
        Arc::new(proto.finish()),
        Arc::new(tu.finish()),
        Arc::new(tr.finish()),
        Arc::new(tapp.finish()),
        Arc::new(ua.finish()),
        Arc::new(meth.finish()),
        Arc::new(url.finish()),
        Arc::new(status.finish()),
        Arc::new(country.finish()),
        Arc::new(city.finish()),
        Arc::new(corr.finish()),
        Arc::new(tenant.finish()),
        Arc::new(sub.finish()),
        Arc::new(msg.finish()),
        Arc::new(raw.finish()),
    ];
    prov.finish(&mut cols);
    cols.push(Arc::new(id.finish()));
    RecordBatch::try_new(events_schema(), cols).expect("events batch matches its schema")
}

/// Builds a `network` batch.
pub fn network_batch(flows: &[&NetworkSession]) -> RecordBatch {
    let n = flows.len();
    let mut time = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut end = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    strings!(
        n, source, format, sip, dip, proto, dir, action, state, rule, dvc, acl, mac, target, enc, account, status,
        flow_id
    );
    let mut sport = Int32Builder::with_capacity(n);
    let mut dport = Int32Builder::with_capacity(n);
    let mut version = Int32Builder::with_capacity(n);
    let mut flags = Int32Builder::with_capacity(n);
    let mut ps = Int64Builder::with_capacity(n);
    let mut bs = Int64Builder::with_capacity(n);
    let mut pd = Int64Builder::with_capacity(n);
    let mut bd = Int64Builder::with_capacity(n);
    let mut tuple = UInt32Builder::with_capacity(n);
    let mut prov = ProvBuilders::new(n);
    let mut raw = StringBuilder::with_capacity(n, flows.iter().map(|f| f.raw.len()).sum());
    let mut id = StringBuilder::with_capacity(n, n * 32);
    for f in flows {
        time.append_value(f.time);
        end.append_value(f.end_time);
        source.append_value(&f.source);
        format.append_value(&f.source_format);
        sip.append_value(&f.src_ip);
        sport.append_option(f.src_port);
        dip.append_value(&f.dst_ip);
        dport.append_option(f.dst_port);
        proto.append_value(&f.protocol);
        dir.append_option(f.direction.as_deref());
        action.append_option(f.action.as_deref());
        state.append_option(f.flow_state.as_deref());
        ps.append_option(f.packets_s2d);
        bs.append_option(f.bytes_s2d);
        pd.append_option(f.packets_d2s);
        bd.append_option(f.bytes_d2s);
        rule.append_option(f.rule.as_deref());
        dvc.append_option(f.dvc_id.as_deref());
        acl.append_option(f.acl_id.as_deref());
        mac.append_option(f.mac.as_deref());
        target.append_option(f.target_resource_id.as_deref());
        enc.append_option(f.encryption.as_deref());
        version.append_option(f.version);
        account.append_option(f.account_id.as_deref());
        flags.append_option(f.tcp_flags);
        status.append_option(f.log_status.as_deref());
        flow_id.append_value(&f.flow_id);
        raw.append_value(&f.raw);
        prov.push(&f.provenance);
        tuple.append_value(f.tuple_index);
        id.append_value(event_id(&f.provenance, f.tuple_index + 1));
    }
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(time.finish()),
        Arc::new(end.finish()),
        Arc::new(source.finish()),
        Arc::new(format.finish()),
        Arc::new(sip.finish()),
        Arc::new(sport.finish()),
        Arc::new(dip.finish()),
        Arc::new(dport.finish()),
        Arc::new(proto.finish()),
        Arc::new(dir.finish()),
        Arc::new(action.finish()),
        Arc::new(state.finish()),
        Arc::new(ps.finish()),
        Arc::new(bs.finish()),
        Arc::new(pd.finish()),
        Arc::new(bd.finish()),
        Arc::new(rule.finish()),
        Arc::new(dvc.finish()),
        Arc::new(acl.finish()),
        Arc::new(mac.finish()),
        Arc::new(target.finish()),
        Arc::new(enc.finish()),
        Arc::new(version.finish()),
        Arc::new(account.finish()),
        Arc::new(flags.finish()),
        Arc::new(status.finish()),
        Arc::new(flow_id.finish()),
        Arc::new(raw.finish()),
    ];
    prov.finish(&mut cols);
    cols.push(Arc::new(tuple.finish()));
    cols.push(Arc::new(id.finish()));
    RecordBatch::try_new(network_schema(), cols).expect("network batch matches its schema")
}

/// Builds a `resources` batch; `now` (the ingest time) stands in for a missing record time.
pub fn resources_batch(resources: &[&Resource], now: i64) -> RecordBatch {
    let n = resources.len();
    let mut time = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    strings!(n, tsrc, rid, rlow, kind, name, sub, rg, loc, format);
    let mut json = StringBuilder::with_capacity(n, resources.iter().map(|r| r.json.len()).sum());
    let mut raw = StringBuilder::with_capacity(n, resources.iter().map(|r| r.raw.len()).sum());
    let mut prov = ProvBuilders::new(n);
    let mut id = StringBuilder::with_capacity(n, n * 32);
    for r in resources {
        time.append_value(r.time.unwrap_or(now));
        tsrc.append_value(if r.time.is_some() { "record" } else { "ingest" });
        rid.append_value(&r.id);
        rlow.append_value(&r.id_lower);
        kind.append_value(&r.kind);
        name.append_value(&r.name);
        sub.append_option(r.subscription.as_deref());
        rg.append_option(r.resource_group.as_deref());
        loc.append_option(r.location.as_deref());
        format.append_value(&r.source_format);
        json.append_value(&r.json);
        raw.append_value(&r.raw);
        prov.push(&r.provenance);
        id.append_value(event_id(&r.provenance, 0));
    }
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(time.finish()),
        Arc::new(tsrc.finish()),
        Arc::new(rid.finish()),
        Arc::new(rlow.finish()),
        Arc::new(kind.finish()),
        Arc::new(name.finish()),
        Arc::new(sub.finish()),
        Arc::new(rg.finish()),
        Arc::new(loc.finish()),
        Arc::new(format.finish()),
        Arc::new(json.finish()),
        Arc::new(raw.finish()),
    ];
    prov.finish(&mut cols);
    cols.push(Arc::new(id.finish()));
    RecordBatch::try_new(resources_schema(), cols).expect("resources batch matches its schema")
}

/// Builds a `quarantine` batch; `now` is the ingest time.
pub fn quarantine_batch(bad: &[BadRecord], now: i64) -> RecordBatch {
    let n = bad.len();
    let mut time = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    strings!(n, reason, parser, excerpt);
    let mut size = UInt64Builder::with_capacity(n);
    let mut tuple = UInt32Builder::with_capacity(n);
    let mut prov = ProvBuilders::new(n);
    for b in bad {
        time.append_value(now);
        reason.append_value(&b.reason);
        parser.append_option(b.parser.as_deref());
        excerpt.append_value(&b.excerpt);
        size.append_value(b.size);
        prov.push(&b.provenance);
        tuple.append_option(b.tuple_index);
    }
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(time.finish()),
        Arc::new(reason.finish()),
        Arc::new(parser.finish()),
        Arc::new(excerpt.finish()),
        Arc::new(size.finish()),
    ];
    prov.finish(&mut cols);
    cols.push(Arc::new(tuple.finish()));
    RecordBatch::try_new(quarantine_schema(), cols).expect("quarantine batch matches its schema")
}

/// Column accessors for reading batches back, tolerant of projected-away columns.
pub struct Columns<'a> {
    batch: &'a RecordBatch,
}

impl<'a> Columns<'a> {
    /// Wraps a batch.
    pub fn new(batch: &'a RecordBatch) -> Self {
        Columns { batch }
    }
    fn col<T: 'static>(&self, name: &str) -> Option<&'a T> {
        self.batch.column_by_name(name)?.as_any().downcast_ref::<T>()
    }
    /// A typed column, to read many cells of (`None` when missing or of another type).
    pub fn array<T: 'static>(&self, name: &str) -> Option<&'a T> {
        self.col(name)
    }
    /// A string cell.
    pub fn str(&self, name: &str, row: usize) -> Option<String> {
        let a = self.col::<StringArray>(name)?;
        (!a.is_null(row)).then(|| a.value(row).to_string())
    }
    /// A timestamp cell (microseconds).
    pub fn time(&self, name: &str, row: usize) -> Option<i64> {
        let a = self.col::<TimestampMicrosecondArray>(name)?;
        (!a.is_null(row)).then(|| a.value(row))
    }
    /// An i32 cell.
    pub fn i32(&self, name: &str, row: usize) -> Option<i32> {
        let a = self.col::<Int32Array>(name)?;
        (!a.is_null(row)).then(|| a.value(row))
    }
    /// An i64 cell.
    pub fn i64(&self, name: &str, row: usize) -> Option<i64> {
        let a = self.col::<Int64Array>(name)?;
        (!a.is_null(row)).then(|| a.value(row))
    }
    /// A u64 cell.
    pub fn u64(&self, name: &str, row: usize) -> Option<u64> {
        let a = self.col::<UInt64Array>(name)?;
        (!a.is_null(row)).then(|| a.value(row))
    }
    /// A u32 cell.
    pub fn u32(&self, name: &str, row: usize) -> Option<u32> {
        let a = self.col::<UInt32Array>(name)?;
        (!a.is_null(row)).then(|| a.value(row))
    }
}

/// A cell of a column looked up once per batch ([`Columns::array`]); `None` when the column is
/// missing (projected away) or the cell is null.
#[inline]
fn cell<'a, A: ArrowCell<'a>>(a: Option<&'a A>, row: usize) -> Option<A::Value> {
    a.filter(|a| !a.is_null(row)).map(|a| a.cell(row))
}

/// Reading a cell of a typed column.
trait ArrowCell<'a>: Array {
    type Value;
    fn cell(&'a self, row: usize) -> Self::Value;
}

impl<'a> ArrowCell<'a> for StringArray {
    type Value = &'a str;
    fn cell(&'a self, row: usize) -> &'a str {
        self.value(row)
    }
}

macro_rules! primitive_cell {
    ($($t:ty => $v:ty),*) => {$(
        impl<'a> ArrowCell<'a> for $t {
            type Value = $v;
            fn cell(&'a self, row: usize) -> $v {
                self.value(row)
            }
        }
    )*};
}
primitive_cell!(TimestampMicrosecondArray => i64, Int32Array => i32, Int64Array => i64, UInt32Array => u32, UInt64Array => u64);

/// The provenance columns of a batch, looked up once.
struct ProvCols<'a> {
    sha: Option<&'a StringArray>,
    path: Option<&'a StringArray>,
    line: Option<&'a UInt64Array>,
    offset: Option<&'a UInt64Array>,
    index: Option<&'a UInt32Array>,
}

impl<'a> ProvCols<'a> {
    fn new(c: &Columns<'a>) -> Self {
        ProvCols {
            sha: c.array("evidence_sha256"),
            path: c.array("evidence_path"),
            line: c.array("evidence_line"),
            offset: c.array("evidence_offset"),
            index: c.array("evidence_index"),
        }
    }

    /// Row `r` into `p`, keeping its shared texts when they are the row's (consecutive rows
    /// mostly come from one evidence file).
    fn fill(&self, r: usize, p: &mut Provenance) {
        let sha = cell(self.sha, r).unwrap_or_default();
        if *p.evidence_sha256 != *sha {
            p.evidence_sha256 = sha.into();
        }
        let path = cell(self.path, r).unwrap_or_default();
        if *p.evidence_path != *path {
            p.evidence_path = path.into();
        }
        p.line = cell(self.line, r).unwrap_or(0);
        p.offset = cell(self.offset, r).unwrap_or(0);
        p.index = cell(self.index, r).unwrap_or(0);
    }
}

/// Reads the events of a batch back (columns missing from a projection stay empty).
///
/// Each column is looked up by name once per batch, not once per cell (a name lookup scans the
/// schema: ~40 columns for each of ~40 cells of a row cost more than the hunt's rules on most
/// events).
pub fn events_from_batch(batch: &RecordBatch) -> Vec<Event> {
    let c = EventColumns::new(batch);
    (0..c.len())
        .map(|r| {
            let mut e = Event::default();
            c.fill(r, &mut e);
            e
        })
        .collect()
}

/// `s` becomes `v`, in the buffer `s` already has.
fn refill(s: &mut String, v: &str) {
    s.clear();
    s.push_str(v);
}

/// `o` becomes `v`, in the buffer `o` already has when both are there.
fn refill_opt(o: &mut Option<String>, v: Option<&str>) {
    match (o.as_mut(), v) {
        (Some(s), Some(v)) => refill(s, v),
        (None, Some(v)) => *o = Some(v.to_string()),
        (_, None) => *o = None,
    }
}

/// The event columns of a batch, each looked up once ([`events_from_batch`]), to read rows into
/// an `Event` that is reused: a hunt folds millions of rows through one `Event` per worker, and
/// refilling its strings (and keeping the provenance texts while consecutive rows share them)
/// spares the ~30 allocations and frees a fresh `Event` per row costs.
pub struct EventColumns<'a> {
    rows: usize,
    time: Option<&'a TimestampMicrosecondArray>,
    ints: [Option<&'a Int32Array>; 3],
    texts: [Option<&'a StringArray>; 27],
    prov: ProvCols<'a>,
}

/// The text columns of an event, in the order [`EventColumns::fill`] assigns them.
const EVENT_TEXTS: [&str; 27] = [
    "source",
    "source_format",
    "message",
    "raw",
    "EventType",
    "Operation",
    "Category",
    "EventResult",
    "EventResultDetails",
    "ActorUsername",
    "ActorUserId",
    "ActorAppId",
    "ActorAppName",
    "SrcIpAddr",
    "DstIpAddr",
    "NetworkProtocol",
    "TargetUsername",
    "TargetResourceId",
    "TargetAppName",
    "HttpUserAgent",
    "HttpRequestMethod",
    "Url",
    "SrcGeoCountry",
    "SrcGeoCity",
    "CorrelationId",
    "TenantId",
    "SubscriptionId",
];

impl<'a> EventColumns<'a> {
    /// The columns of `batch`.
    pub fn new(batch: &'a RecordBatch) -> Self {
        let c = Columns::new(batch);
        EventColumns {
            rows: batch.num_rows(),
            time: c.array("TimeGenerated"),
            ints: ["SrcPortNumber", "DstPortNumber", "HttpStatusCode"].map(|n| c.array(n)),
            texts: EVENT_TEXTS.map(|n| c.array(n)),
            prov: ProvCols::new(&c),
        }
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Row `r` into `e`, every field overwritten, reusing `e`'s buffers.
    pub fn fill(&self, r: usize, e: &mut Event) {
        let t = |i: usize| cell(self.texts[i], r);
        e.time = cell(self.time, r).unwrap_or(0);
        for (i, s) in [&mut e.source, &mut e.source_format, &mut e.message, &mut e.raw].into_iter().enumerate() {
            refill(s, t(i).unwrap_or_default());
        }
        let opts = [
            &mut e.event_type,
            &mut e.operation,
            &mut e.category,
            &mut e.result,
            &mut e.result_details,
            &mut e.actor_username,
            &mut e.actor_user_id,
            &mut e.actor_app_id,
            &mut e.actor_app_name,
            &mut e.src_ip,
            &mut e.dst_ip,
            &mut e.protocol,
            &mut e.target_username,
            &mut e.target_resource_id,
            &mut e.target_app_name,
            &mut e.user_agent,
            &mut e.http_method,
            &mut e.url,
            &mut e.country,
            &mut e.city,
            &mut e.correlation_id,
            &mut e.tenant_id,
            &mut e.subscription_id,
        ];
        for (i, o) in opts.into_iter().enumerate() {
            refill_opt(o, t(i + 4));
        }
        [e.src_port, e.dst_port, e.http_status] = self.ints.map(|a| cell(a, r));
        self.prov.fill(r, &mut e.provenance);
    }
}

/// The network columns of a batch, each looked up once ([`flows_from_batch`]), to read rows
/// into a `NetworkSession` that is reused (as [`EventColumns`] does for events): a hunt folds
/// every flow tuple of a case through one session per worker.
pub struct FlowColumns<'a> {
    rows: usize,
    times: [Option<&'a TimestampMicrosecondArray>; 2],
    ints: [Option<&'a Int32Array>; 4],
    longs: [Option<&'a Int64Array>; 4],
    texts: [Option<&'a StringArray>; 18],
    tuple: Option<&'a UInt32Array>,
    prov: ProvCols<'a>,
}

/// The text columns of a flow tuple, in the order [`FlowColumns::fill`] assigns them (the first
/// seven are not optional).
const FLOW_TEXTS: [&str; 18] = [
    "source",
    "source_format",
    "SrcIpAddr",
    "DstIpAddr",
    "NetworkProtocol",
    "FlowId",
    "raw",
    "NetworkDirection",
    "DvcAction",
    "FlowState",
    "NetworkRuleName",
    "DvcId",
    "AclId",
    "DvcMacAddr",
    "TargetResourceId",
    "FlowEncryption",
    "CloudAccountId",
    "LogStatus",
];

impl<'a> FlowColumns<'a> {
    /// The columns of `batch`.
    pub fn new(batch: &'a RecordBatch) -> Self {
        let c = Columns::new(batch);
        FlowColumns {
            rows: batch.num_rows(),
            times: ["TimeGenerated", "EventEndTime"].map(|n| c.array(n)),
            ints: ["SrcPortNumber", "DstPortNumber", "FlowVersion", "TcpFlags"].map(|n| c.array(n)),
            longs: ["SrcPackets", "SrcBytes", "DstPackets", "DstBytes"].map(|n| c.array(n)),
            texts: FLOW_TEXTS.map(|n| c.array(n)),
            tuple: c.array("evidence_tuple"),
            prov: ProvCols::new(&c),
        }
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Row `r` into `s`, every field overwritten, reusing `s`'s buffers.
    pub fn fill(&self, r: usize, s: &mut NetworkSession) {
        let t = |i: usize| cell(self.texts[i], r);
        [s.time, s.end_time] = self.times.map(|a| cell(a, r).unwrap_or(0));
        let texts = [
            &mut s.source,
            &mut s.source_format,
            &mut s.src_ip,
            &mut s.dst_ip,
            &mut s.protocol,
            &mut s.flow_id,
            &mut s.raw,
        ];
        for (i, x) in texts.into_iter().enumerate() {
            refill(x, t(i).unwrap_or_default());
        }
        let opts = [
            &mut s.direction,
            &mut s.action,
            &mut s.flow_state,
            &mut s.rule,
            &mut s.dvc_id,
            &mut s.acl_id,
            &mut s.mac,
            &mut s.target_resource_id,
            &mut s.encryption,
            &mut s.account_id,
            &mut s.log_status,
        ];
        for (i, o) in opts.into_iter().enumerate() {
            refill_opt(o, t(i + 7));
        }
        [s.src_port, s.dst_port, s.version, s.tcp_flags] = self.ints.map(|a| cell(a, r));
        [s.packets_s2d, s.bytes_s2d, s.packets_d2s, s.bytes_d2s] = self.longs.map(|a| cell(a, r));
        s.tuple_index = cell(self.tuple, r).unwrap_or(0);
        self.prov.fill(r, &mut s.provenance);
    }
}

/// Reads the network sessions of a batch back (each column looked up once per batch, as
/// [`events_from_batch`]).
pub fn flows_from_batch(batch: &RecordBatch) -> Vec<NetworkSession> {
    let cols = FlowColumns::new(batch);
    (0..cols.len())
        .map(|r| {
            let mut s = NetworkSession::default();
            cols.fill(r, &mut s);
            s
        })
        .collect()
}

/// Reads the resources of a batch back. The time is always `Some` (a row written with the
/// ingest time reads back as that time; `time_source` tells them apart).
pub fn resources_from_batch(batch: &RecordBatch) -> Vec<Resource> {
    let c = Columns::new(batch);
    (0..batch.num_rows())
        .map(|r| Resource {
            time: c.time("TimeGenerated", r),
            id: c.str("ResourceId", r).unwrap_or_default(),
            id_lower: c.str("resource_id_lower", r).unwrap_or_default(),
            kind: c.str("ResourceType", r).unwrap_or_default(),
            name: c.str("ResourceName", r).unwrap_or_default(),
            subscription: c.str("SubscriptionId", r),
            resource_group: c.str("ResourceGroup", r),
            location: c.str("Location", r),
            source_format: c.str("source_format", r).unwrap_or_default(),
            json: c.str("json", r).unwrap_or_default(),
            raw: c.str("raw", r).unwrap_or_default(),
            provenance: Provenance {
                evidence_sha256: c.str("evidence_sha256", r).unwrap_or_default().into(),
                evidence_path: c.str("evidence_path", r).unwrap_or_default().into(),
                line: c.u64("evidence_line", r).unwrap_or(0),
                offset: c.u64("evidence_offset", r).unwrap_or(0),
                index: c.u32("evidence_index", r).unwrap_or(0),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_round_trip_and_a_missing_time_becomes_the_ingest_time() {
        let r = Resource {
            time: Some(1_700_000_000_000_000),
            id: "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Network/networkSecurityGroups/n".into(),
            id_lower: "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/networksecuritygroups/n".into(),
            kind: "Microsoft.Network/networkSecurityGroups".into(),
            name: "n".into(),
            subscription: Some("s".into()),
            resource_group: Some("RG".into()),
            location: None,
            source_format: "cli".into(),
            json: "{}".into(),
            raw: "{ }".into(),
            provenance: Provenance {
                evidence_sha256: "ab".into(),
                evidence_path: "p".into(),
                line: 2,
                offset: 7,
                index: 1,
            },
        };
        let untimed = Resource { time: None, ..r.clone() };
        let b = resources_batch(&[&r, &untimed], 42);
        let back = resources_from_batch(&b);
        assert_eq!(back[0], r);
        assert_eq!(back[1].time, Some(42));
        let c = Columns::new(&b);
        assert_eq!(c.str("time_source", 0).as_deref(), Some("record"));
        assert_eq!(c.str("time_source", 1).as_deref(), Some("ingest"));
    }

    #[test]
    fn events_round_trip_through_a_batch() {
        let e = Event {
            time: 1_700_000_000_123_456,
            source: "signin".into(),
            source_format: "graph".into(),
            actor_username: Some("u@contoso.com".into()),
            src_port: Some(443),
            http_status: None,
            message: "m".into(),
            raw: "{}".into(),
            provenance: Provenance {
                evidence_sha256: "ab".into(),
                evidence_path: "p".into(),
                line: 3,
                offset: 9,
                index: 1,
            },
            ..Event::default()
        };
        let b = events_batch(&[&e]);
        assert_eq!(b.num_rows(), 1);
        assert_eq!(events_from_batch(&b), vec![e]);
    }

    #[test]
    fn a_reused_event_is_each_row_exactly() {
        // Every text and number field filled in one row, none in the next, others in a third:
        // refilling one `Event` gives each row as a fresh read does (nothing left over).
        let full = Event {
            time: 1,
            source: "activity".into(),
            source_format: "rest".into(),
            event_type: Some("Create".into()),
            operation: Some("op".into()),
            category: Some("Administrative".into()),
            result: Some("Success".into()),
            result_details: Some("Succeeded".into()),
            actor_username: Some("u".into()),
            actor_user_id: Some("uid".into()),
            actor_app_id: Some("aid".into()),
            actor_app_name: Some("app".into()),
            src_ip: Some("203.0.113.7".into()),
            src_port: Some(1),
            dst_ip: Some("10.0.0.4".into()),
            dst_port: Some(22),
            protocol: Some("TCP".into()),
            target_username: Some("t".into()),
            target_resource_id: Some("/subscriptions/s".into()),
            target_app_name: Some("tapp".into()),
            user_agent: Some("ua".into()),
            http_method: Some("GET".into()),
            url: Some("/".into()),
            http_status: Some(200),
            country: Some("US".into()),
            city: Some("Redmond".into()),
            correlation_id: Some("c".into()),
            tenant_id: Some("tid".into()),
            subscription_id: Some("s".into()),
            message: "a long message".into(),
            raw: "{\"a\":1}".into(),
            provenance: Provenance {
                evidence_sha256: "ab".into(),
                evidence_path: "p1".into(),
                line: 3,
                offset: 9,
                index: 1,
            },
        };
        let empty = Event {
            time: 2,
            provenance: Provenance { evidence_path: "p1".into(), ..Provenance::default() },
            ..Event::default()
        };
        let other = Event {
            time: 3,
            source: "signin".into(),
            actor_username: Some("v".into()),
            raw: "{}".into(),
            provenance: Provenance { evidence_path: "p2".into(), line: 7, ..Provenance::default() },
            ..Event::default()
        };
        let rows = [&full, &empty, &other, &full];
        let b = events_batch(&rows);
        let fresh = events_from_batch(&b);
        assert_eq!(fresh.iter().collect::<Vec<_>>(), rows);
        let cols = EventColumns::new(&b);
        let mut e = Event::default();
        for (r, want) in rows.iter().enumerate() {
            cols.fill(r, &mut e);
            assert_eq!(&&e, want, "row {r}");
        }
    }

    #[test]
    fn flows_round_trip_through_a_batch() {
        let mut f = NetworkSession {
            time: 5,
            end_time: 6,
            source: "nsg_flow".into(),
            src_ip: "10.0.0.1".into(),
            dst_ip: "10.0.0.2".into(),
            protocol: "TCP".into(),
            bytes_s2d: Some(100),
            tuple_index: 4,
            ..NetworkSession::default()
        };
        f.compute_flow_id();
        let b = network_batch(&[&f]);
        assert_eq!(flows_from_batch(&b), vec![f]);
    }

    #[test]
    fn a_reused_flow_is_each_row_exactly() {
        // Every field filled in one row, none in the next, others in a third: refilling one
        // `NetworkSession` gives each row as a fresh read does.
        let mut full = NetworkSession {
            time: 5,
            end_time: 6,
            source: "vpc_flow".into(),
            source_format: "aws_vpc_v5".into(),
            src_ip: "10.0.0.1".into(),
            src_port: Some(50000),
            dst_ip: "203.0.113.9".into(),
            dst_port: Some(443),
            protocol: "TCP".into(),
            direction: Some("O".into()),
            action: Some("Allow".into()),
            flow_state: Some("E".into()),
            packets_s2d: Some(1),
            bytes_s2d: Some(2),
            packets_d2s: Some(3),
            bytes_d2s: Some(4),
            rule: Some("UserRule_AllowWeb".into()),
            dvc_id: Some("/subscriptions/s/nsg".into()),
            acl_id: Some("acl".into()),
            mac: Some("000D3A".into()),
            target_resource_id: Some("/subscriptions/s/vm".into()),
            encryption: Some("NX_HW_NOT_SUPPORTED".into()),
            version: Some(5),
            account_id: Some("123456789012".into()),
            tcp_flags: Some(19),
            log_status: Some("OK".into()),
            raw: "10.0.0.1 203.0.113.9".into(),
            provenance: Provenance {
                evidence_sha256: "ab".into(),
                evidence_path: "f1".into(),
                line: 3,
                offset: 9,
                index: 1,
            },
            tuple_index: 7,
            ..NetworkSession::default()
        };
        full.compute_flow_id();
        let empty = NetworkSession { time: 1, ..NetworkSession::default() };
        let mut other = NetworkSession {
            source: "nsg_flow".into(),
            src_ip: "10.0.0.4".into(),
            dst_ip: "10.0.0.5".into(),
            protocol: "UDP".into(),
            action: Some("Deny".into()),
            provenance: Provenance { evidence_path: "f2".into(), line: 9, ..Provenance::default() },
            ..NetworkSession::default()
        };
        other.compute_flow_id();
        let rows = [&full, &empty, &other, &full];
        let b = network_batch(&rows);
        assert_eq!(flows_from_batch(&b).iter().collect::<Vec<_>>(), rows);
        let cols = FlowColumns::new(&b);
        let mut s = NetworkSession::default();
        for (r, want) in rows.iter().enumerate() {
            cols.fill(r, &mut s);
            assert_eq!(&&s, want, "row {r}");
        }
    }
}
