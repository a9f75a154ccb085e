//! Packet captures (pcap and pcapng, as Network Watcher writes them) into flow records and
//! protocol events.
//!
//! [`decode`] streams a capture from any `Read` and hands [`Output`] batches to a callback every
//! [`PcapOptions::batch_packets`] packets (or [`PcapOptions::batch_flows`] flows), so a 10 GB
//! capture never holds all packets or all flows:
//!
//! - **framing**: `pcap-parser` reads the container (pcap in both byte orders, micro- and
//!   nanosecond variants; pcapng with any number of sections and interfaces, each with its own
//!   link type, `if_tsresol` and `if_tsoffset`). Its circular buffer grows up to
//!   [`PcapOptions::max_record`] for a large record and no further, so a corrupt length field
//!   cannot make us allocate gigabytes.
//! - **layers**: `etherparse` in its lax mode slices Ethernet, 802.1Q/QinQ, IPv4, IPv6 with its
//!   extension headers, TCP, UDP and ICMP/ICMPv6. Linux cooked captures (SLL, SLL2), raw IP and
//!   BSD loopback headers are stripped here before handing the rest to it.
//! - **flows**: packets are folded into a flow table keyed by the unordered 5-tuple. `s2d` is
//!   the initiator's side: the sender of the first packet seen, or for TCP the sender of the
//!   SYN when one is seen (a SYN-ACK seen first makes its receiver the initiator). A flow is
//!   emitted when it has been idle for [`PcapOptions::idle_timeout_us`] of *capture* time, or
//!   [`PcapOptions::closed_linger_us`] after a RST or after both FINs (the linger keeps the last
//!   ACKs in the flow, as tshark's conversations do); a new SYN on a closed flow's tuple starts a
//!   new flow. Above [`PcapOptions::max_flows`] live flows the least recently active is emitted
//!   early. What is left is emitted at the end, in the order of first packets. The clock is the
//!   latest timestamp seen, so out-of-order packets never move it back. A live flow costs about
//!   300 bytes (table entry and deadline heap), so the default cap bounds the table near 300 MB;
//!   output batches are bounded by the batch size in packets and in flows (an hour's jump in
//!   capture time that expires a million flows is emitted a batch at a time). ICMP flows are
//!   keyed by their addresses alone; non-IP frames (ARP, LLDP, STP) are counted, not flowed.
//! - **bytes** are frame bytes: the original (wire) length of each frame, link header included,
//!   which is what tshark's `-z conv` reports, so the two can be compared one to one. Packets
//!   and bytes of IPv4/IPv6 fragments go to the flow of their first fragment when that was seen
//!   (tracked per datagram id in a bounded map); tshark instead counts a fragmented datagram in
//!   its TCP/UDP conversation once, at the frame that completes reassembly.
//! - **events**: DNS queries and responses (UDP/53, and TCP/53 when the message is in one
//!   segment), TLS ClientHello server name and ALPN, and HTTP/1.x request line, Host and
//!   User-Agent (first segment of a request). They are parsed by hand over the segment in hand,
//!   bounded and panic-free; nothing is reassembled (no crate for these is worth a dependency at
//!   this size). The event model has no DNS or TLS columns: the query name, answers and server
//!   name are in `message` and in `raw`, a compact JSON summary (`{"packet":N,"dns":{…}}`);
//!   HTTP fills `HttpRequestMethod`, `Url` and `HttpUserAgent`.
//! - **defects**: a packet whose headers are cut or malformed is counted and quarantined as a
//!   [`BadRecord`] naming its packet number (the first [`PcapOptions::max_listed_bad`] of a
//!   file; the rest are counted in [`PcapSummary`]). A file cut inside a record keeps everything
//!   before the cut and reports it. Nothing here panics on input.
//!
//! Provenance: `line` is the 1-based packet number (of a flow's first packet), `offset` the
//! byte offset of the packet's record in the (decompressed) stream. Packets are numbered as
//! tshark numbers frames: packet records only (pcapng section, interface and statistics blocks
//! are not counted).
//!
//! Decoding is sequential (a flow table is one state), so it runs on one core; the store turns
//! its batches into Arrow and Parquet on the others.

use crate::parsers::Output;
use azir_model::{BadRecord, Event, NetworkSession, Provenance};
use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError, PcapNGReader};
use serde_json::json;
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt::Write as _;
use std::io::Read;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;

/// The two capture containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic libpcap (`a1b2c3d4` and its byte-swapped and nanosecond variants).
    Pcap,
    /// pcapng (section header block `0a0d0d0a`).
    PcapNg,
}

impl CaptureFormat {
    /// `pcap` or `pcapng`: the manifest format and the `source_format` column.
    pub fn name(self) -> &'static str {
        match self {
            CaptureFormat::Pcap => "pcap",
            CaptureFormat::PcapNg => "pcapng",
        }
    }
}

/// The capture format of a stream from its first four bytes, if it is one.
pub fn sniff(head: &[u8]) -> Option<CaptureFormat> {
    match head.get(..4)? {
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d] | [0x4d, 0x3c, 0xb2, 0xa1] => {
            Some(CaptureFormat::Pcap)
        }
        [0x0a, 0x0d, 0x0d, 0x0a] => Some(CaptureFormat::PcapNg),
        _ => None,
    }
}

/// Tuning of [`decode`].
#[derive(Debug, Clone)]
pub struct PcapOptions {
    /// Packets per output batch.
    pub batch_packets: usize,
    /// Flows per output batch (a flow row is large: this bounds a batch's memory).
    pub batch_flows: usize,
    /// A flow idle this long (capture time, µs) is emitted.
    pub idle_timeout_us: i64,
    /// A flow closed by RST or both FINs is emitted after this much more capture time (µs).
    pub closed_linger_us: i64,
    /// Live flows above which the least recently active one is emitted early.
    pub max_flows: usize,
    /// Malformed packets quarantined individually per file; the rest are only counted.
    pub max_listed_bad: usize,
    /// Largest record (block) accepted, in bytes.
    pub max_record: usize,
}

impl Default for PcapOptions {
    fn default() -> Self {
        PcapOptions {
            batch_packets: 65_536,
            batch_flows: 8192,
            idle_timeout_us: 120_000_000,
            closed_linger_us: 5_000_000,
            max_flows: 1_000_000,
            max_listed_bad: 1000,
            max_record: 16 * 1024 * 1024,
        }
    }
}

/// What [`decode`] read: counts, and the error that stopped it early, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PcapSummary {
    /// Packets read (records of the capture holding a packet).
    pub packets: u64,
    /// Bytes of the stream consumed.
    pub bytes: u64,
    /// Flows emitted.
    pub flows: u64,
    /// Events emitted.
    pub events: u64,
    /// Packets that could not be decoded (cut or malformed headers, unknown link type).
    pub malformed: u64,
    /// Of those, how many were quarantined individually.
    pub listed_bad: u64,
    /// IPv4/IPv6 fragments seen.
    pub fragments: u64,
    /// Fragments that could not be given to a flow (their first fragment was not seen).
    pub fragments_unattributed: u64,
    /// Frames that carry no IP (ARP, LLDP, STP, …).
    pub non_ip: u64,
    /// Flows emitted early because the table was full.
    pub evicted: u64,
    /// Why reading stopped before the end of the stream (cut file, corrupt record).
    pub error: Option<String>,
}

impl PcapSummary {
    /// One line for the manifest's `error`: the early stop and the malformed packets that were
    /// counted but not quarantined individually. `None` when there is nothing to say.
    pub fn problems(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(e) = &self.error {
            parts.push(e.clone());
        }
        if self.malformed > self.listed_bad {
            parts.push(format!(
                "{} malformed packets, the first {} quarantined individually",
                self.malformed, self.listed_bad
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Reads a whole capture of `format` from `reader`, calling `emit(batch, bytes_consumed)` with
/// every batch of results; `emit` returns false to stop. `sha256` and `display` name the
/// evidence in every record's provenance.
pub fn decode<R: Read>(
    reader: R,
    format: CaptureFormat,
    sha256: Arc<str>,
    display: Arc<str>,
    opts: &PcapOptions,
    emit: &mut dyn FnMut(Output, u64) -> bool,
) -> PcapSummary {
    let mut d = Decoder::new(format, sha256, display, opts);
    let capacity = 1024 * 1024;
    // pcap-parser reduces read errors to `ReadError`; the reason (a decompression bomb stopped,
    // a corrupt gzip) is kept here to be reported.
    let read_error = Rc::new(RefCell::new(None));
    let reader = KeepError { inner: reader, error: read_error.clone(), pending: None };
    let rdr: Result<Box<dyn PcapReaderIterator + '_>, _> = match format {
        CaptureFormat::Pcap => LegacyPcapReader::new(capacity, reader).map(|r| Box::new(r) as Box<_>),
        CaptureFormat::PcapNg => PcapNGReader::new(capacity, reader).map(|r| Box::new(r) as Box<_>),
    };
    let mut rdr = match rdr {
        Ok(r) => r,
        Err(e) => {
            let why = read_error.borrow_mut().take().unwrap_or_else(|| describe(&e));
            d.summary.error = Some(format!("unreadable {} file header: {why}", format.name()));
            return d.summary;
        }
    };
    d.run(rdr.as_mut(), capacity, &read_error, emit);
    d.summary
}

/// A reader that fills the whole buffer unless the stream ends (pcap-parser reads the file
/// header with one `read`, and a decompressor may return a few bytes at a time), retries
/// interrupted reads, and remembers the text of the error that stopped it.
struct KeepError<R> {
    inner: R,
    error: Rc<RefCell<Option<String>>>,
    pending: Option<std::io::Error>,
}

impl<R: Read> Read for KeepError<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        let mut n = 0;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    *self.error.borrow_mut() = Some(e.to_string());
                    if n == 0 {
                        return Err(e);
                    }
                    // Hand over what was read; the error comes with the next call.
                    self.pending = Some(e);
                    break;
                }
            }
        }
        Ok(n)
    }
}

fn describe<I>(e: &PcapError<I>) -> String {
    match e {
        PcapError::Eof | PcapError::UnexpectedEof | PcapError::Incomplete(_) => "the file ends inside it".into(),
        PcapError::BufferTooSmall => "record too large".into(),
        PcapError::ReadError => "read error".into(),
        PcapError::HeaderNotRecognized => "header not recognized".into(),
        PcapError::NomError(_, k) | PcapError::OwnedNomError(_, k) => format!("malformed ({k:?})"),
    }
}

/// One capture interface: link type and clock.
#[derive(Debug, Clone, Copy)]
struct Iface {
    linktype: i32,
    /// Timestamp units per second (0: the interface declares an unusable resolution).
    units: u64,
    /// Seconds added to every timestamp (`if_tsoffset`).
    offset_s: i64,
}

/// One packet as the container gives it.
struct Frame<'a> {
    num: u64,
    offset: u64,
    ts_us: i64,
    linktype: i32,
    data: &'a [u8],
    wire_len: u32,
}

struct Decoder<'o> {
    format: &'static str,
    sha256: Arc<str>,
    display: Arc<str>,
    opts: &'o PcapOptions,
    table: FlowTable,
    frags: HashMap<FragKey, Tuple>,
    out: Output,
    batch: usize,
    now_us: i64,
    summary: PcapSummary,
}

/// Longest a fragment map may grow before it is reset (memory bound).
const MAX_FRAG_TRACK: usize = 65_536;

impl<'o> Decoder<'o> {
    fn new(format: CaptureFormat, sha256: Arc<str>, display: Arc<str>, opts: &'o PcapOptions) -> Self {
        Decoder {
            format: format.name(),
            sha256,
            display,
            opts,
            table: FlowTable::default(),
            frags: HashMap::new(),
            out: Output::default(),
            batch: 0,
            now_us: i64::MIN,
            summary: PcapSummary::default(),
        }
    }

    fn prov(&self, num: u64, offset: u64) -> Provenance {
        Provenance {
            evidence_sha256: self.sha256.clone(),
            evidence_path: self.display.clone(),
            line: num,
            offset,
            index: 0,
        }
    }

    /// Reads every block; returns when the stream ends, breaks, or `emit` says stop.
    fn run(
        &mut self,
        rdr: &mut dyn PcapReaderIterator,
        mut capacity: usize,
        read_error: &RefCell<Option<String>>,
        emit: &mut dyn FnMut(Output, u64) -> bool,
    ) {
        let mut ifaces: Vec<Iface> = Vec::new();
        let mut snaplen: u32 = 0;
        let mut packets: u64 = 0;
        let mut last_ts: i64 = 0;
        loop {
            let offset = rdr.consumed() as u64;
            match rdr.next() {
                Ok((len, block)) => {
                    let frame = match block {
                        PcapBlockOwned::LegacyHeader(h) => {
                            let units = if h.is_nanosecond_precision() { 1_000_000_000 } else { 1_000_000 };
                            ifaces = vec![Iface { linktype: h.network.0, units, offset_s: 0 }];
                            snaplen = h.snaplen;
                            None
                        }
                        PcapBlockOwned::Legacy(b) => {
                            if b.caplen > snaplen.max(262_144) {
                                let reason = format!(
                                    "record header at byte {offset} claims {} captured bytes, more than the snapshot length {snaplen}: the file is corrupt from here (everything before it was kept)",
                                    b.caplen
                                );
                                self.bad_record(packets + 1, offset, &reason, &[]);
                                self.summary.error = Some(format!("packet {}: {reason}", packets + 1));
                                break;
                            }
                            packets += 1;
                            let iface = ifaces.first().copied().unwrap_or(Iface {
                                linktype: -1,
                                units: 1_000_000,
                                offset_s: 0,
                            });
                            let frac = u64::from(b.ts_usec);
                            let ts_us = to_us(i64::from(b.ts_sec), frac, iface.units);
                            Some(Frame {
                                num: packets,
                                offset,
                                ts_us,
                                linktype: iface.linktype,
                                data: b.data,
                                wire_len: b.origlen,
                            })
                        }
                        PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                            ifaces.clear();
                            None
                        }
                        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                            ifaces.push(Iface {
                                linktype: idb.linktype.0,
                                units: idb.ts_resolution().unwrap_or(0),
                                offset_s: idb.ts_offset(),
                            });
                            None
                        }
                        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                            packets += 1;
                            match ifaces.get(epb.if_id as usize) {
                                None => {
                                    let reason = format!("interface {} was not described before its packet", epb.if_id);
                                    self.bad_record(packets, offset, &reason, cut(epb.data, epb.caplen));
                                    None
                                }
                                Some(iface) if iface.units == 0 => {
                                    self.bad_record(
                                        packets,
                                        offset,
                                        "its interface declares an invalid timestamp resolution",
                                        cut(epb.data, epb.caplen),
                                    );
                                    None
                                }
                                Some(iface) => {
                                    let ts = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                                    let secs = i64::try_from(ts / iface.units)
                                        .unwrap_or(i64::MAX)
                                        .saturating_add(iface.offset_s);
                                    let ts_us = to_us(secs, ts % iface.units, iface.units);
                                    last_ts = ts_us;
                                    Some(Frame {
                                        num: packets,
                                        offset,
                                        ts_us,
                                        linktype: iface.linktype,
                                        data: cut(epb.data, epb.caplen),
                                        wire_len: epb.origlen,
                                    })
                                }
                            }
                        }
                        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                            packets += 1;
                            // A simple packet block has no timestamp: it is placed at the last one seen.
                            match ifaces.first() {
                                Some(iface) => Some(Frame {
                                    num: packets,
                                    offset,
                                    ts_us: last_ts,
                                    linktype: iface.linktype,
                                    data: cut(spb.data, spb.origlen),
                                    wire_len: spb.origlen,
                                }),
                                None => {
                                    self.bad_record(
                                        packets,
                                        offset,
                                        "simple packet before any interface description",
                                        cut(spb.data, spb.origlen),
                                    );
                                    None
                                }
                            }
                        }
                        PcapBlockOwned::NG(_) => None,
                    };
                    let seen = frame.is_some();
                    if let Some(f) = frame {
                        self.packet(&f);
                    }
                    rdr.consume(len);
                    if seen {
                        self.summary.bytes = rdr.consumed() as u64;
                        if !self.expire_and_flush(emit) {
                            return;
                        }
                    }
                }
                Err(PcapError::Eof) => break,
                Err(PcapError::Incomplete(_)) => {
                    if rdr.refill().is_err() {
                        let why = read_error.borrow_mut().take().unwrap_or_else(|| "read error".into());
                        self.summary.error = Some(format!("read stopped at byte {offset}: {why}"));
                        break;
                    }
                }
                Err(PcapError::BufferTooSmall) => {
                    let next = capacity.saturating_mul(2).min(self.opts.max_record.saturating_add(64 * 1024));
                    if next <= capacity || !rdr.grow(next) {
                        let reason = format!(
                            "record at byte {offset} is larger than {} bytes: the file is corrupt from here (everything before it was kept)",
                            self.opts.max_record
                        );
                        self.bad_record(packets + 1, offset, &reason, &[]);
                        self.summary.error = Some(format!("packet {}: {reason}", packets + 1));
                        break;
                    }
                    capacity = next;
                }
                Err(PcapError::UnexpectedEof) => {
                    let reason = format!(
                        "the file ends inside the record at byte {offset}: the capture was cut (everything before it was kept)"
                    );
                    let cut = rdr.data().len();
                    self.bad_record(packets + 1, offset, &format!("{reason}; {cut} bytes of it present"), &[]);
                    self.summary.error = Some(format!("packet {}: {reason}", packets + 1));
                    break;
                }
                Err(e) => {
                    let reason = format!(
                        "record at byte {offset} is {}: the file is corrupt from here (everything before it was kept)",
                        describe(&e)
                    );
                    self.bad_record(packets + 1, offset, &reason, &[]);
                    self.summary.error = Some(format!("packet {}: {reason}", packets + 1));
                    break;
                }
            }
        }
        self.summary.packets = packets;
        self.summary.bytes = rdr.consumed() as u64;
        // Sorted by first packet through small (packet, key) pairs: moving the flows themselves
        // through a sort showed up in profiles of captures with millions of live flows.
        let mut order = self.table.order();
        order.sort_unstable();
        self.summary.flows += order.len() as u64;
        for (_, key) in order {
            let Some(f) = self.table.flows.remove(&key) else { continue };
            let row = self.session(&f);
            self.out.flows.push(row);
            if self.out.flows.len() >= self.opts.batch_flows.max(1) && !self.flush(emit) {
                return;
            }
        }
        self.flush(emit);
    }

    fn flush(&mut self, emit: &mut dyn FnMut(Output, u64) -> bool) -> bool {
        self.batch = 0;
        let out = std::mem::take(&mut self.out);
        if out.records == 0 && out.flows.is_empty() && out.events.is_empty() && out.bad.is_empty() {
            return true;
        }
        emit(out, self.summary.bytes)
    }

    /// A record the container layer could not hand over as a packet: counted as a record, and
    /// quarantined.
    fn bad_record(&mut self, num: u64, offset: u64, reason: &str, data: &[u8]) {
        self.out.records += 1;
        *self.out.by_source.entry("pcap").or_default() += 1;
        self.bad(num, offset, reason, data);
    }

    fn bad(&mut self, num: u64, offset: u64, reason: &str, data: &[u8]) {
        self.summary.malformed += 1;
        if self.summary.listed_bad >= self.opts.max_listed_bad as u64 {
            return;
        }
        self.summary.listed_bad += 1;
        let mut excerpt = String::with_capacity(2 * data.len().min(256));
        for b in data.iter().take(256) {
            let _ = write!(excerpt, "{b:02x}");
        }
        self.out.bad.push(BadRecord {
            reason: format!("packet {num}: {reason}"),
            parser: Some("pcap".into()),
            excerpt,
            size: data.len() as u64,
            provenance: self.prov(num, offset),
            tuple_index: None,
        });
    }

    fn packet(&mut self, f: &Frame<'_>) {
        self.batch += 1;
        self.out.records += 1;
        *self.out.by_source.entry("pcap").or_default() += 1;
        self.now_us = self.now_us.max(f.ts_us);
        match dissect(f.linktype, f.data) {
            Dissected::NonIp => self.summary.non_ip += 1,
            Dissected::Bad(reason) => {
                let reason = if (f.data.len() as u64) < u64::from(f.wire_len) {
                    format!("{reason} (captured {} of {} bytes)", f.data.len(), f.wire_len)
                } else {
                    reason
                };
                self.bad(f.num, f.offset, &reason, f.data)
            }
            Dissected::Ip(p) => self.ip_packet(f, &p),
        }
    }

    /// Emits the flows that timed out (or must make room), flushing a batch whenever one is
    /// full, so a jump in capture time that expires a million flows never holds them at once.
    fn expire_and_flush(&mut self, emit: &mut dyn FnMut(Output, u64) -> bool) -> bool {
        let full = self.opts.batch_flows.max(1);
        loop {
            let room = full.saturating_sub(self.out.flows.len()).max(1);
            let (flows, evicted) = self.table.expire(self.now_us, self.opts, room);
            let more = flows.len() == room;
            self.summary.evicted += evicted;
            self.summary.flows += flows.len() as u64;
            for fl in flows {
                let row = self.session(&fl);
                self.out.flows.push(row);
            }
            if (self.batch >= self.opts.batch_packets.max(1) || self.out.flows.len() >= full) && !self.flush(emit) {
                return false;
            }
            if !more {
                return true;
            }
        }
    }

    fn ip_packet(&mut self, f: &Frame<'_>, p: &IpPacket<'_>) {
        let mut tuple = Tuple { proto: p.proto, src: p.src, sport: 0, dst: p.dst, dport: 0 };
        let mut tcp_flags = None;
        match &p.frag {
            Frag::Whole => {}
            Frag::First { id } => {
                self.summary.fragments += 1;
                // The transport header of a first fragment: ports only.
                if matches!(p.proto, 6 | 17) {
                    if let Some(h) = p.payload.get(..4) {
                        tuple.sport = u16::from_be_bytes([h[0], h[1]]);
                        tuple.dport = u16::from_be_bytes([h[2], h[3]]);
                    }
                    if p.proto == 6 {
                        tcp_flags = p.payload.get(12..14).map(|h| u16::from_be_bytes([h[0], h[1]]) & 0x1ff);
                    }
                }
                if self.frags.len() >= MAX_FRAG_TRACK {
                    self.frags.clear();
                }
                self.frags.insert(FragKey { src: p.src, dst: p.dst, proto: p.proto, id: *id }, tuple);
            }
            Frag::Later { id, last } => {
                self.summary.fragments += 1;
                let key = FragKey { src: p.src, dst: p.dst, proto: p.proto, id: *id };
                let found = if *last { self.frags.remove(&key) } else { self.frags.get(&key).copied() };
                match found {
                    Some(t) => tuple = t,
                    None => {
                        self.summary.fragments_unattributed += 1;
                        return;
                    }
                }
            }
        }
        match &p.l4 {
            L4::Tcp { sport, dport, flags } => {
                tuple.sport = *sport;
                tuple.dport = *dport;
                tcp_flags = Some(*flags);
            }
            L4::Udp { sport, dport } => {
                tuple.sport = *sport;
                tuple.dport = *dport;
            }
            L4::Other => {}
        }
        let pkt = PacketRef { num: f.num, offset: f.offset, ts_us: f.ts_us, wire_len: u64::from(f.wire_len) };
        if let Some(old) = self.table.update(&tuple, tcp_flags, &pkt, self.opts) {
            self.summary.flows += 1;
            let row = self.session(&old);
            self.out.flows.push(row);
        }
        if matches!(p.frag, Frag::Whole) {
            self.app_events(f, &tuple, &p.l4, p.payload);
        }
    }

    fn session(&self, f: &Flow) -> NetworkSession {
        let ports = matches!(f.proto, 6 | 17);
        let mut s = NetworkSession {
            time: f.first_us,
            end_time: f.last_us,
            source: "pcap".into(),
            source_format: self.format.into(),
            src_ip: f.src.to_string(),
            src_port: ports.then_some(i32::from(f.sport)),
            dst_ip: f.dst.to_string(),
            dst_port: ports.then_some(i32::from(f.dport)),
            protocol: protocol_name(f.proto),
            packets_s2d: Some(f.pk_s2d as i64),
            bytes_s2d: Some(f.by_s2d as i64),
            packets_d2s: Some(f.pk_d2s as i64),
            bytes_d2s: Some(f.by_d2s as i64),
            tcp_flags: (f.proto == 6).then_some(i32::from(f.flags)),
            provenance: self.prov(f.first_packet, f.first_offset),
            ..NetworkSession::default()
        };
        // One buffer, addresses formatted once: this runs once per flow, millions of times.
        let mut raw = String::with_capacity(128);
        let side = |raw: &mut String, ip: &IpAddr, text: &str, port: u16| {
            if ip.is_ipv6() {
                let _ = write!(raw, "[{text}]");
            } else {
                raw.push_str(text);
            }
            if ports {
                let _ = write!(raw, ":{port}");
            }
        };
        raw.push_str(&s.protocol);
        raw.push(' ');
        side(&mut raw, &f.src, &s.src_ip, f.sport);
        raw.push_str(" -> ");
        side(&mut raw, &f.dst, &s.dst_ip, f.dport);
        let _ =
            write!(raw, ": {} packets {} bytes out, {} packets {} bytes back", f.pk_s2d, f.by_s2d, f.pk_d2s, f.by_d2s);
        if f.proto == 6 {
            let _ = write!(raw, ", flags {}", flag_names(f.flags));
        }
        let _ = write!(raw, ", packets {}..{}", f.first_packet, f.last_packet);
        s.raw = raw;
        s.compute_flow_id();
        s
    }

    fn event(&self, f: &Frame<'_>, t: &Tuple) -> Event {
        Event {
            time: f.ts_us,
            source: "pcap".into(),
            source_format: self.format.into(),
            src_ip: Some(t.src.to_string()),
            src_port: Some(i32::from(t.sport)),
            dst_ip: Some(t.dst.to_string()),
            dst_port: Some(i32::from(t.dport)),
            protocol: Some(protocol_name(t.proto)),
            provenance: self.prov(f.num, f.offset),
            ..Event::default()
        }
    }

    fn app_events(&mut self, f: &Frame<'_>, t: &Tuple, l4: &L4, payload: &[u8]) {
        let dns_port = t.sport == 53 || t.dport == 53;
        let ev = match l4 {
            L4::Udp { .. } if dns_port => parse_dns(payload).map(|d| self.dns_event(f, t, &d)),
            L4::Tcp { .. } if dns_port => payload
                .get(..2)
                .map(|h| usize::from(u16::from_be_bytes([h[0], h[1]])))
                .and_then(|n| payload.get(2..2 + n))
                .and_then(parse_dns)
                .map(|d| self.dns_event(f, t, &d)),
            L4::Tcp { .. } if !payload.is_empty() => {
                if let Some(h) = parse_client_hello(payload) {
                    Some(self.tls_event(f, t, &h))
                } else {
                    parse_http_request(payload).map(|h| self.http_event(f, t, &h))
                }
            }
            _ => None,
        };
        if let Some(e) = ev {
            self.summary.events += 1;
            self.out.events.push(e);
        }
    }

    fn dns_event(&self, f: &Frame<'_>, t: &Tuple, d: &Dns) -> Event {
        let mut e = self.event(f, t);
        e.event_type = Some("Query".into());
        e.category = Some("dns".into());
        let qtype = rr_type_name(d.qtype);
        let rcode = rcode_name(d.rcode);
        if d.response {
            e.operation = Some("DNS response".into());
            e.result = Some(if d.rcode == 0 { "Success" } else { "Failure" }.into());
            e.result_details = Some(rcode.clone());
            let answers = if d.answers.is_empty() { "no answers".to_string() } else { d.answers.join(", ") };
            e.message = format!("DNS response {qtype} {} from {}: {rcode}, {answers}", d.qname, endpoint(&t.src));
        } else {
            e.operation = Some("DNS query".into());
            e.message = format!("DNS query {qtype} {} from {}", d.qname, endpoint(&t.src));
        }
        let mut dns =
            json!({"id": d.id, "qr": if d.response { "response" } else { "query" }, "qname": d.qname, "qtype": qtype});
        if d.response {
            dns["rcode"] = json!(rcode);
            dns["answers"] = json!(d.answers);
        }
        e.raw = json!({ "packet": f.num, "dns": dns }).to_string();
        e
    }

    fn tls_event(&self, f: &Frame<'_>, t: &Tuple, h: &ClientHello) -> Event {
        let mut e = self.event(f, t);
        e.event_type = Some("Other".into());
        e.category = Some("tls".into());
        e.operation = Some("TLS ClientHello".into());
        let to = format!("{}:{}", endpoint(&t.dst), t.dport);
        let alpn = if h.alpn.is_empty() { String::new() } else { format!(" (ALPN {})", h.alpn.join(", ")) };
        e.message = match &h.sni {
            Some(sni) => format!("TLS ClientHello to {to} for server name {sni}{alpn}"),
            None => format!("TLS ClientHello to {to} without server name{alpn}"),
        };
        e.raw = json!({"packet": f.num, "tls": {"handshake": "ClientHello", "version": format!("0x{:04x}", h.version), "sni": h.sni, "alpn": h.alpn}}).to_string();
        e
    }

    fn http_event(&self, f: &Frame<'_>, t: &Tuple, h: &HttpRequest) -> Event {
        let mut e = self.event(f, t);
        e.event_type = Some("HTTPsession".into());
        e.category = Some("http".into());
        e.operation = Some("HTTP request".into());
        e.http_method = Some(h.method.clone());
        let url = match &h.host {
            Some(host) if h.uri.starts_with('/') => format!("http://{host}{}", h.uri),
            _ => h.uri.clone(),
        };
        e.url = Some(url.clone());
        e.user_agent = h.user_agent.clone();
        e.message = format!(
            "HTTP {} {url} from {}{}",
            h.method,
            endpoint(&t.src),
            h.user_agent.as_ref().map(|u| format!(" (User-Agent: {u})")).unwrap_or_default()
        );
        e.raw = json!({"packet": f.num, "http": {"method": h.method, "uri": h.uri, "version": h.version, "host": h.host, "user_agent": h.user_agent}}).to_string();
        e
    }
}

/// The first `n` bytes of a block's (padded) data.
fn cut(data: &[u8], n: u32) -> &[u8] {
    data.get(..n as usize).unwrap_or(data)
}

/// Microseconds since the epoch from whole seconds and a fraction in `units` per second.
fn to_us(secs: i64, frac: u64, units: u64) -> i64 {
    let frac_us = if units == 0 { 0 } else { (u128::from(frac) * 1_000_000 / u128::from(units)) as i64 };
    secs.saturating_mul(1_000_000).saturating_add(frac_us)
}

/// IPv6 addresses in brackets where a port may follow.
fn endpoint(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

/// `NetworkProtocol`: TCP, UDP, ICMP, ICMPv6, or the IANA number.
fn protocol_name(p: u8) -> String {
    match p {
        6 => "TCP".into(),
        17 => "UDP".into(),
        1 => "ICMP".into(),
        58 => "ICMPv6".into(),
        n => n.to_string(),
    }
}

/// TCP flag bits as letters, tcpdump style, in bit order (F S R P A U E C N).
fn flag_names(flags: u16) -> String {
    const NAMES: [(u16, char); 9] = [
        (0x001, 'F'),
        (0x002, 'S'),
        (0x004, 'R'),
        (0x008, 'P'),
        (0x010, 'A'),
        (0x020, 'U'),
        (0x040, 'E'),
        (0x080, 'C'),
        (0x100, 'N'),
    ];
    let s: String = NAMES.iter().filter(|(b, _)| flags & b != 0).map(|(_, c)| *c).collect();
    if s.is_empty() {
        "none".into()
    } else {
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Layers

const TH_FIN: u16 = 0x001;
const TH_SYN: u16 = 0x002;
const TH_RST: u16 = 0x004;
const TH_ACK: u16 = 0x010;

enum Dissected<'a> {
    Ip(IpPacket<'a>),
    NonIp,
    Bad(String),
}

struct IpPacket<'a> {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    frag: Frag,
    l4: L4,
    /// Transport payload (whole packets), or the IP payload (fragments).
    payload: &'a [u8],
}

enum Frag {
    Whole,
    First { id: u32 },
    Later { id: u32, last: bool },
}

enum L4 {
    Tcp { sport: u16, dport: u16, flags: u16 },
    Udp { sport: u16, dport: u16 },
    Other,
}

/// Link types read (tcpdump.org/linktypes.html).
const LINK_NULL: i32 = 0;
const LINK_ETHERNET: i32 = 1;
const LINK_RAW_BSD1: i32 = 12;
const LINK_RAW_BSD2: i32 = 14;
const LINK_RAW: i32 = 101;
const LINK_LOOP: i32 = 108;
const LINK_SLL: i32 = 113;
const LINK_IPV4: i32 = 228;
const LINK_IPV6: i32 = 229;
const LINK_SLL2: i32 = 276;

fn dissect(linktype: i32, data: &[u8]) -> Dissected<'_> {
    let sliced = match linktype {
        LINK_ETHERNET => match LaxSlicedPacket::from_ethernet(data) {
            Ok(p) => p,
            Err(e) => return Dissected::Bad(format!("Ethernet header cut: {e}")),
        },
        LINK_RAW | LINK_RAW_BSD1 | LINK_RAW_BSD2 | LINK_IPV4 | LINK_IPV6 => match ip_only(data) {
            Ok(p) => p,
            Err(e) => return Dissected::Bad(e),
        },
        LINK_NULL | LINK_LOOP => match data.get(4..).map(ip_only) {
            Some(Ok(p)) => p,
            Some(Err(e)) => return Dissected::Bad(e),
            None => return Dissected::Bad("loopback header cut".into()),
        },
        LINK_SLL => match (data.get(14..16), data.get(16..)) {
            (Some(p), Some(rest)) => {
                LaxSlicedPacket::from_ether_type(EtherType(u16::from_be_bytes([p[0], p[1]])), rest)
            }
            _ => return Dissected::Bad("Linux cooked (SLL) header cut".into()),
        },
        LINK_SLL2 => match (data.get(0..2), data.get(20..)) {
            (Some(p), Some(rest)) => {
                LaxSlicedPacket::from_ether_type(EtherType(u16::from_be_bytes([p[0], p[1]])), rest)
            }
            _ => return Dissected::Bad("Linux cooked (SLL2) header cut".into()),
        },
        other => return Dissected::Bad(format!("link type {other} is not supported")),
    };
    let Some(net) = &sliced.net else {
        return match &sliced.stop_err {
            Some((e, layer)) => Dissected::Bad(format!("{layer} malformed or cut: {e}")),
            None => Dissected::NonIp,
        };
    };
    if let Some((e, layer)) = &sliced.stop_err {
        return Dissected::Bad(format!("{layer} malformed or cut: {e}"));
    }
    let (src, dst, payload, frag) = match net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            let pl = v4.payload();
            let frag = if pl.fragmented {
                let id = u32::from(h.identification());
                if h.fragments_offset().value() == 0 {
                    Frag::First { id }
                } else {
                    Frag::Later { id, last: !h.more_fragments() }
                }
            } else {
                Frag::Whole
            };
            (IpAddr::V4(h.source_addr()), IpAddr::V4(h.destination_addr()), pl, frag)
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            let pl = v6.payload();
            let mut frag = Frag::Whole;
            if pl.fragmented {
                for ext in v6.extensions().clone() {
                    if let etherparse::Ipv6ExtensionSlice::Fragment(fh) = ext {
                        let id = fh.identification();
                        frag = if fh.fragment_offset().value() == 0 {
                            Frag::First { id }
                        } else {
                            Frag::Later { id, last: !fh.more_fragments() }
                        };
                    }
                }
                if matches!(frag, Frag::Whole) {
                    // Fragmented without a readable fragment header: count it, give it no flow.
                    frag = Frag::Later { id: u32::MAX, last: false };
                }
            }
            (IpAddr::V6(h.source_addr()), IpAddr::V6(h.destination_addr()), pl, frag)
        }
        LaxNetSlice::Arp(_) => return Dissected::NonIp,
    };
    let proto = payload.ip_number.0;
    let (l4, body) = match &sliced.transport {
        Some(TransportSlice::Tcp(t)) => {
            let flags = [t.fin(), t.syn(), t.rst(), t.psh(), t.ack(), t.urg(), t.ece(), t.cwr(), t.ns()]
                .iter()
                .enumerate()
                .fold(0u16, |acc, (bit, set)| if *set { acc | 1 << bit } else { acc });
            (L4::Tcp { sport: t.source_port(), dport: t.destination_port(), flags }, t.payload())
        }
        Some(TransportSlice::Udp(u)) => (L4::Udp { sport: u.source_port(), dport: u.destination_port() }, u.payload()),
        _ => (L4::Other, payload.payload),
    };
    Dissected::Ip(IpPacket { src, dst, proto, frag, l4, payload: body })
}

fn ip_only(data: &[u8]) -> Result<LaxSlicedPacket<'_>, String> {
    LaxSlicedPacket::from_ip(data).map_err(|e| format!("IP header malformed or cut: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Flow table

/// A packet's 5-tuple as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Tuple {
    proto: u8,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
}

/// The unordered 5-tuple: the lower endpoint first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct FlowKey {
    proto: u8,
    a: (IpAddr, u16),
    b: (IpAddr, u16),
}

impl FlowKey {
    fn of(t: &Tuple) -> FlowKey {
        let x = (t.src, t.sport);
        let y = (t.dst, t.dport);
        if x <= y {
            FlowKey { proto: t.proto, a: x, b: y }
        } else {
            FlowKey { proto: t.proto, a: y, b: x }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FragKey {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u32,
}

struct PacketRef {
    num: u64,
    offset: u64,
    ts_us: i64,
    wire_len: u64,
}

#[derive(Debug, Clone)]
struct Flow {
    serial: u64,
    proto: u8,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    first_us: i64,
    last_us: i64,
    /// Capture time of the latest packet, for the idle timeout (the clock is the max seen).
    seen_us: i64,
    first_packet: u64,
    first_offset: u64,
    last_packet: u64,
    pk_s2d: u64,
    by_s2d: u64,
    pk_d2s: u64,
    by_d2s: u64,
    flags: u16,
    syn_seen: bool,
    fin_s2d: bool,
    fin_d2s: bool,
    closed: bool,
}

impl Flow {
    fn deadline(&self, opts: &PcapOptions) -> i64 {
        self.seen_us.saturating_add(if self.closed { opts.closed_linger_us } else { opts.idle_timeout_us })
    }

    fn swap(&mut self) {
        std::mem::swap(&mut self.src, &mut self.dst);
        std::mem::swap(&mut self.sport, &mut self.dport);
        std::mem::swap(&mut self.pk_s2d, &mut self.pk_d2s);
        std::mem::swap(&mut self.by_s2d, &mut self.by_d2s);
        std::mem::swap(&mut self.fin_s2d, &mut self.fin_d2s);
    }
}

#[derive(Default)]
struct FlowTable {
    flows: HashMap<FlowKey, Flow>,
    /// Deadlines, earliest first; an entry whose serial no longer matches its flow is stale.
    heap: BinaryHeap<Reverse<(i64, u64, FlowKey)>>,
    next_serial: u64,
}

impl FlowTable {
    /// Adds a packet; returns the flow it ended (a new SYN on a closed flow's tuple).
    fn update(&mut self, t: &Tuple, tcp_flags: Option<u16>, p: &PacketRef, opts: &PcapOptions) -> Option<Flow> {
        let key = FlowKey::of(t);
        let pure_syn = tcp_flags.is_some_and(|f| f & (TH_SYN | TH_ACK) == TH_SYN);
        let mut ended = None;
        if pure_syn && self.flows.get(&key).is_some_and(|f| f.closed) {
            ended = self.flows.remove(&key);
        }
        let flow = self.flows.entry(key).or_insert_with(|| {
            self.next_serial += 1;
            let f = Flow {
                serial: self.next_serial,
                proto: t.proto,
                src: t.src,
                sport: t.sport,
                dst: t.dst,
                dport: t.dport,
                first_us: p.ts_us,
                last_us: p.ts_us,
                seen_us: p.ts_us,
                first_packet: p.num,
                first_offset: p.offset,
                last_packet: p.num,
                pk_s2d: 0,
                by_s2d: 0,
                pk_d2s: 0,
                by_d2s: 0,
                flags: 0,
                syn_seen: false,
                fin_s2d: false,
                fin_d2s: false,
                closed: false,
            };
            self.heap.push(Reverse((f.deadline(opts), f.serial, key)));
            f
        });
        let mut forward = flow.src == t.src && flow.sport == t.sport;
        if let Some(fl) = tcp_flags {
            if !flow.syn_seen && fl & TH_SYN != 0 {
                flow.syn_seen = true;
                // The SYN's sender, or the SYN-ACK's receiver, is the initiator.
                let sender_initiates = fl & TH_ACK == 0;
                if forward != sender_initiates {
                    flow.swap();
                    forward = !forward;
                }
            }
        }
        if forward {
            flow.pk_s2d += 1;
            flow.by_s2d += p.wire_len;
        } else {
            flow.pk_d2s += 1;
            flow.by_d2s += p.wire_len;
        }
        flow.first_us = flow.first_us.min(p.ts_us);
        flow.last_us = flow.last_us.max(p.ts_us);
        flow.seen_us = flow.seen_us.max(p.ts_us);
        flow.last_packet = p.num;
        if let Some(fl) = tcp_flags {
            flow.flags |= fl;
            if fl & TH_FIN != 0 {
                if forward {
                    flow.fin_s2d = true;
                } else {
                    flow.fin_d2s = true;
                }
            }
            if fl & TH_RST != 0 || (flow.fin_s2d && flow.fin_d2s) {
                flow.closed = true;
            }
        }
        ended
    }

    /// Flows past their deadline at `now`, and those evicted to stay under the cap (counted);
    /// at most `limit`.
    fn expire(&mut self, now: i64, opts: &PcapOptions, limit: usize) -> (Vec<Flow>, u64) {
        let mut out = Vec::new();
        let mut evicted = 0;
        while out.len() < limit {
            let Some(Reverse((deadline, serial, key))) = self.heap.peek().copied() else { break };
            let over = self.flows.len() > opts.max_flows;
            if deadline > now && !over {
                break;
            }
            self.heap.pop();
            let Some(f) = self.flows.get(&key) else { continue };
            if f.serial != serial {
                continue; // stale: the tuple's flow ended and a new one began
            }
            let real = f.deadline(opts);
            if real > deadline {
                // Active since the entry was made: requeue at its real deadline.
                self.heap.push(Reverse((real, serial, key)));
                continue;
            }
            if real > now {
                evicted += 1;
            }
            if let Some(f) = self.flows.remove(&key) {
                out.push(f);
            }
        }
        (out, evicted)
    }

    /// Every live flow's first packet and key (end of capture); the deadlines are dropped.
    fn order(&mut self) -> Vec<(u64, FlowKey)> {
        self.heap = BinaryHeap::new();
        self.flows.iter().map(|(k, f)| (f.first_packet, *k)).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Application layer: DNS, TLS ClientHello, HTTP request

/// A DNS message's question and answers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dns {
    id: u16,
    response: bool,
    rcode: u8,
    qname: String,
    qtype: u16,
    answers: Vec<String>,
}

const MAX_ANSWERS: usize = 32;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at.checked_add(2)?).map(|s| u16::from_be_bytes([s[0], s[1]]))
}

fn parse_dns(msg: &[u8]) -> Option<Dns> {
    let id = be16(msg, 0)?;
    let flags = be16(msg, 2)?;
    let qdcount = be16(msg, 4)?;
    let ancount = be16(msg, 6)?;
    let opcode = (flags >> 11) & 0xf;
    // Only standard queries with a question are read: anything else on port 53 is not DNS we
    // can describe.
    if opcode != 0 || qdcount == 0 || qdcount > 4 {
        return None;
    }
    let (qname, mut pos) = read_name(msg, 12)?;
    let qtype = be16(msg, pos)?;
    pos += 4;
    for _ in 1..qdcount {
        let (_, p) = read_name(msg, pos)?;
        pos = p.checked_add(4)?;
    }
    let mut answers = Vec::new();
    for _ in 0..ancount.min(MAX_ANSWERS as u16) {
        let Some((_, p)) = read_name(msg, pos) else { break };
        let (Some(rtype), Some(rdlen)) = (be16(msg, p), be16(msg, p + 8)) else { break };
        let start = p + 10;
        let Some(rdata) = msg.get(start..start + usize::from(rdlen)) else { break };
        answers.push(rdata_text(msg, rtype, rdata, start));
        pos = start + usize::from(rdlen);
    }
    Some(Dns { id, response: flags & 0x8000 != 0, rcode: (flags & 0xf) as u8, qname, qtype, answers })
}

fn rdata_text(msg: &[u8], rtype: u16, rdata: &[u8], start: usize) -> String {
    let name = rr_type_name(rtype);
    let value = match (rtype, rdata.len()) {
        (1, 4) => std::net::Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]).to_string(),
        (28, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(rdata);
            std::net::Ipv6Addr::from(a).to_string()
        }
        (2 | 5 | 12, _) => read_name(msg, start).map(|(n, _)| n).unwrap_or_else(|| "?".into()),
        (15, _) => match (be16(rdata, 0), read_name(msg, start + 2)) {
            (Some(pref), Some((n, _))) => format!("{pref} {n}"),
            _ => "?".into(),
        },
        (16, _) => {
            let mut s = String::new();
            let mut i = 0;
            while let Some(&len) = rdata.get(i) {
                let Some(part) = rdata.get(i + 1..i + 1 + usize::from(len)) else { break };
                escape_into(&mut s, part);
                i += 1 + usize::from(len);
            }
            format!("\"{s}\"")
        }
        (_, n) => format!("{n} bytes"),
    };
    format!("{name} {value}")
}

/// Reads a (possibly compressed) domain name at `pos`; returns it and the position after it.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut after = None;
    let mut jumps = 0;
    let mut wire_len = 0usize;
    loop {
        let len = *msg.get(pos)?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                if after.is_none() {
                    after = Some(pos + 1);
                }
                break;
            }
            0x00 => {
                let label = msg.get(pos + 1..pos + 1 + usize::from(len))?;
                wire_len += label.len() + 1;
                if wire_len > 255 {
                    return None;
                }
                if !name.is_empty() {
                    name.push('.');
                }
                escape_into(&mut name, label);
                pos += 1 + usize::from(len);
            }
            0xc0 => {
                let target = usize::from(be16(msg, pos)? & 0x3fff);
                if after.is_none() {
                    after = Some(pos + 2);
                }
                jumps += 1;
                if jumps > 32 {
                    return None;
                }
                pos = target;
            }
            _ => return None,
        }
    }
    if name.is_empty() {
        name.push('.');
    }
    Some((name, after?))
}

/// Printable ASCII as is; anything else as `\xNN` (names and TXT are attacker-chosen bytes).
fn escape_into(s: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if (0x21..0x7f).contains(&b) && b != b'\\' {
            s.push(char::from(b));
        } else {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
}

fn rr_type_name(t: u16) -> String {
    match t {
        1 => "A".into(),
        2 => "NS".into(),
        5 => "CNAME".into(),
        6 => "SOA".into(),
        12 => "PTR".into(),
        15 => "MX".into(),
        16 => "TXT".into(),
        28 => "AAAA".into(),
        33 => "SRV".into(),
        65 => "HTTPS".into(),
        255 => "ANY".into(),
        n => format!("TYPE{n}"),
    }
}

fn rcode_name(r: u8) -> String {
    match r {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        n => format!("RCODE{n}"),
    }
}

/// What a TLS ClientHello says about where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ClientHello {
    version: u16,
    sni: Option<String>,
    alpn: Vec<String>,
}

/// Reads a ClientHello from the start of a TCP segment; extensions past the segment's end
/// (a ClientHello split over segments) are not read.
fn parse_client_hello(p: &[u8]) -> Option<ClientHello> {
    if p.first() != Some(&0x16) || p.get(1) != Some(&0x03) || p.get(5) != Some(&0x01) {
        return None;
    }
    let version = be16(p, 9)?;
    let mut pos = 9 + 2 + 32;
    let sid = usize::from(*p.get(pos)?);
    pos += 1 + sid;
    let suites = usize::from(be16(p, pos)?);
    pos += 2 + suites;
    let comp = usize::from(*p.get(pos)?);
    pos += 1 + comp;
    let mut hello = ClientHello { version, sni: None, alpn: Vec::new() };
    let Some(ext_len) = be16(p, pos) else { return Some(hello) };
    pos += 2;
    let end = (pos + usize::from(ext_len)).min(p.len());
    while pos + 4 <= end {
        let (Some(typ), Some(len)) = (be16(p, pos), be16(p, pos + 2)) else { break };
        let Some(data) = p.get(pos + 4..pos + 4 + usize::from(len)) else { break };
        match typ {
            0 => {
                // server_name_list: [type 0, u16 length, name]
                if let (Some(0), Some(n)) = (data.get(2), be16(data, 3)) {
                    if let Some(name) = data.get(5..5 + usize::from(n)) {
                        let mut s = String::new();
                        escape_into(&mut s, name);
                        hello.sni = Some(s);
                    }
                }
            }
            16 => {
                let mut i = 2;
                while let Some(&l) = data.get(i) {
                    let Some(proto) = data.get(i + 1..i + 1 + usize::from(l)) else { break };
                    let mut s = String::new();
                    escape_into(&mut s, proto);
                    hello.alpn.push(s);
                    i += 1 + usize::from(l);
                    if hello.alpn.len() >= 16 {
                        break;
                    }
                }
            }
            _ => {}
        }
        pos += 4 + usize::from(len);
    }
    Some(hello)
}

/// An HTTP/1.x request's first line and the headers an analyst asks for first.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HttpRequest {
    method: String,
    uri: String,
    version: String,
    host: Option<String>,
    user_agent: Option<String>,
}

const METHODS: [&str; 9] = ["GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"];
const MAX_HTTP_FIELD: usize = 4096;

fn parse_http_request(p: &[u8]) -> Option<HttpRequest> {
    let sp = p.iter().take(8).position(|&b| b == b' ')?;
    let method = std::str::from_utf8(&p[..sp]).ok()?;
    if !METHODS.contains(&method) {
        return None;
    }
    let head = &p[..p.len().min(64 * 1024)];
    let mut lines = head.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next()?;
    let mut parts = first.splitn(3, |&b| b == b' ');
    let (_, uri, version) = (parts.next()?, parts.next()?, parts.next()?);
    if !version.starts_with(b"HTTP/1.") || uri.is_empty() {
        return None;
    }
    let mut req = HttpRequest {
        method: method.to_string(),
        uri: field_text(uri),
        version: field_text(version),
        host: None,
        user_agent: None,
    };
    for line in lines {
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"host") {
            req.host = Some(field_text(value));
        } else if name.eq_ignore_ascii_case(b"user-agent") {
            req.user_agent = Some(field_text(value));
        }
    }
    Some(req)
}

fn field_text(b: &[u8]) -> String {
    let b = &b[..b.len().min(MAX_HTTP_FIELD)];
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------------------------------

/// Builders of capture files and packets, byte by byte: for tests and benchmark inputs.
/// Checksums are left zero (nothing here verifies them, and neither do tshark's conversations).
pub mod build {
    use std::net::IpAddr;

    /// TCP flag bits for [`tcp`].
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;

    /// A classic pcap global header (little-endian, microseconds) for `linktype`.
    pub fn pcap_header(linktype: u32) -> Vec<u8> {
        let mut v = Vec::with_capacity(24);
        v.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&0i32.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&65535u32.to_le_bytes());
        v.extend_from_slice(&linktype.to_le_bytes());
        v
    }

    /// One classic pcap record (little-endian, microseconds) holding all of `frame`.
    pub fn pcap_record(out: &mut Vec<u8>, ts_us: i64, frame: &[u8]) {
        let secs = ts_us.div_euclid(1_000_000) as u32;
        let us = ts_us.rem_euclid(1_000_000) as u32;
        out.extend_from_slice(&secs.to_le_bytes());
        out.extend_from_slice(&us.to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(frame);
    }

    /// An Ethernet II frame (fixed MACs) with `vlans` 802.1Q tags (outer first) around `payload`.
    pub fn ethernet(ether_type: u16, vlans: &[u16], payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(14 + 4 * vlans.len() + payload.len());
        v.extend_from_slice(&[0x00, 0x0d, 0x3a, 0x00, 0x00, 0x02, 0x00, 0x0d, 0x3a, 0x00, 0x00, 0x01]);
        for (i, id) in vlans.iter().enumerate() {
            // QinQ: the outer tag is 802.1ad (0x88a8), inner tags 802.1Q.
            let tpid: u16 = if i == 0 && vlans.len() > 1 { 0x88a8 } else { 0x8100 };
            v.extend_from_slice(&tpid.to_be_bytes());
            v.extend_from_slice(&(id & 0x0fff).to_be_bytes());
        }
        v.extend_from_slice(&ether_type.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    /// An IP packet (v4 or v6 by the addresses) carrying `payload` of protocol `proto`.
    pub fn ip(src: IpAddr, dst: IpAddr, proto: u8, payload: &[u8]) -> Vec<u8> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => ipv4_fragment(s.octets(), d.octets(), proto, 0, 0, false, payload),
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let mut v = Vec::with_capacity(40 + payload.len());
                v.extend_from_slice(&[0x60, 0, 0, 0]);
                v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
                v.push(proto);
                v.push(64);
                v.extend_from_slice(&s.octets());
                v.extend_from_slice(&d.octets());
                v.extend_from_slice(payload);
                v
            }
            _ => panic!("ip(): mixed address families"),
        }
    }

    /// An IPv4 packet or fragment: `offset8` in 8-byte units, `more` the MF flag.
    pub fn ipv4_fragment(
        src: [u8; 4],
        dst: [u8; 4],
        proto: u8,
        id: u16,
        offset8: u16,
        more: bool,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut v = Vec::with_capacity(20 + payload.len());
        v.extend_from_slice(&[0x45, 0]);
        v.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        v.extend_from_slice(&id.to_be_bytes());
        let frag = (offset8 & 0x1fff) | if more { 0x2000 } else { 0 };
        v.extend_from_slice(&frag.to_be_bytes());
        v.extend_from_slice(&[64, proto, 0, 0]);
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        v.extend_from_slice(payload);
        v
    }

    /// A TCP segment (20-byte header) with `flags` and `payload`.
    pub fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(20 + payload.len());
        v.extend_from_slice(&sport.to_be_bytes());
        v.extend_from_slice(&dport.to_be_bytes());
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&ack.to_be_bytes());
        v.extend_from_slice(&[0x50, flags]);
        v.extend_from_slice(&65535u16.to_be_bytes());
        v.extend_from_slice(&[0, 0, 0, 0]);
        v.extend_from_slice(payload);
        v
    }

    /// A UDP datagram.
    pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(8 + payload.len());
        v.extend_from_slice(&sport.to_be_bytes());
        v.extend_from_slice(&dport.to_be_bytes());
        v.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(payload);
        v
    }

    /// An Ethernet frame carrying an IP packet (ether type from the address family).
    pub fn eth_ip(src: IpAddr, dst: IpAddr, proto: u8, l4: &[u8]) -> Vec<u8> {
        let et = if src.is_ipv4() { 0x0800 } else { 0x86dd };
        ethernet(et, &[], &ip(src, dst, proto, l4))
    }

    /// A DNS query for `name` (type `qtype`), or with `answers` (IPv4 A records) a response.
    pub fn dns(id: u16, name: &str, qtype: u16, response: Option<(u8, &[[u8; 4]])>) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&id.to_be_bytes());
        let (flags, an): (u16, &[[u8; 4]]) = match response {
            None => (0x0100, &[]),
            Some((rcode, ans)) => (0x8180 | u16::from(rcode & 0xf), ans),
        };
        v.extend_from_slice(&flags.to_be_bytes());
        v.extend_from_slice(&1u16.to_be_bytes());
        v.extend_from_slice(&(an.len() as u16).to_be_bytes());
        v.extend_from_slice(&[0, 0, 0, 0]);
        for label in name.split('.').filter(|l| !l.is_empty()) {
            v.push(label.len() as u8);
            v.extend_from_slice(label.as_bytes());
        }
        v.push(0);
        v.extend_from_slice(&qtype.to_be_bytes());
        v.extend_from_slice(&1u16.to_be_bytes());
        for a in an {
            v.extend_from_slice(&[0xc0, 12]); // pointer to the question's name
            v.extend_from_slice(&1u16.to_be_bytes());
            v.extend_from_slice(&1u16.to_be_bytes());
            v.extend_from_slice(&300u32.to_be_bytes());
            v.extend_from_slice(&4u16.to_be_bytes());
            v.extend_from_slice(a);
        }
        v
    }

    /// A TLS 1.2 record holding a ClientHello with server name `sni` and ALPN `alpn`.
    pub fn client_hello(sni: &str, alpn: &[&str]) -> Vec<u8> {
        let mut exts = Vec::new();
        let mut sn = Vec::new();
        sn.extend_from_slice(&((sni.len() + 3) as u16).to_be_bytes());
        sn.push(0);
        sn.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        sn.extend_from_slice(sni.as_bytes());
        exts.extend_from_slice(&0u16.to_be_bytes());
        exts.extend_from_slice(&(sn.len() as u16).to_be_bytes());
        exts.extend_from_slice(&sn);
        if !alpn.is_empty() {
            let mut list = Vec::new();
            for p in alpn {
                list.push(p.len() as u8);
                list.extend_from_slice(p.as_bytes());
            }
            exts.extend_from_slice(&16u16.to_be_bytes());
            exts.extend_from_slice(&((list.len() + 2) as u16).to_be_bytes());
            exts.extend_from_slice(&(list.len() as u16).to_be_bytes());
            exts.extend_from_slice(&list);
        }
        let mut body = Vec::new();
        body.extend_from_slice(&[0x03, 0x03]);
        body.extend_from_slice(&[0x11; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f]); // two cipher suites
        body.extend_from_slice(&[1, 0]); // null compression
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        let mut hs = vec![1];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 0x03, 0x01];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(a: [u8; 4]) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(a))
    }

    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse::<Ipv6Addr>().expect("test address"))
    }

    struct Run {
        out: Output,
        batches: usize,
        /// Most flows in one batch.
        widest: usize,
        summary: PcapSummary,
    }

    fn run_with(bytes: &[u8], opts: &PcapOptions) -> Run {
        let format = sniff(bytes).expect("a capture");
        let mut all = Output::default();
        let mut batches = 0;
        let mut widest = 0;
        let summary = decode(bytes, format, Arc::from("sha"), Arc::from("cap.pcap"), opts, &mut |o, _| {
            batches += 1;
            widest = widest.max(o.flows.len());
            all.events.extend(o.events);
            all.flows.extend(o.flows);
            all.bad.extend(o.bad);
            all.records += o.records;
            true
        });
        Run { out: all, batches, widest, summary }
    }

    fn run(bytes: &[u8]) -> Run {
        run_with(bytes, &PcapOptions::default())
    }

    fn pcap(frames: &[(i64, Vec<u8>)]) -> Vec<u8> {
        let mut v = pcap_header(1);
        for (ts, f) in frames {
            pcap_record(&mut v, *ts, f);
        }
        v
    }

    const T0: i64 = 1_700_000_000_000_000;
    const C: [u8; 4] = [10, 0, 0, 5];
    const S: [u8; 4] = [93, 184, 216, 34];

    fn tcp_frame(from_client: bool, flags: u8, payload: &[u8]) -> Vec<u8> {
        let (src, dst, sp, dp) = if from_client { (C, S, 50000, 80) } else { (S, C, 80, 50000) };
        eth_ip(v4(src), v4(dst), 6, &tcp(sp, dp, 1, 1, flags, payload))
    }

    fn handshake_with_data() -> Vec<(i64, Vec<u8>)> {
        let req = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";
        vec![
            (T0, tcp_frame(true, SYN, b"")),
            (T0 + 10, tcp_frame(false, SYN | ACK, b"")),
            (T0 + 20, tcp_frame(true, ACK, b"")),
            (T0 + 30, tcp_frame(true, PSH | ACK, req)),
            (T0 + 40, tcp_frame(false, PSH | ACK, &[b'x'; 300])),
            (T0 + 50, tcp_frame(true, FIN | ACK, b"")),
            (T0 + 60, tcp_frame(false, FIN | ACK, b"")),
            (T0 + 70, tcp_frame(true, ACK, b"")),
        ]
    }

    #[test]
    fn sniff_magics() {
        assert_eq!(sniff(&[0xd4, 0xc3, 0xb2, 0xa1, 2]), Some(CaptureFormat::Pcap));
        assert_eq!(sniff(&[0xa1, 0xb2, 0xc3, 0xd4]), Some(CaptureFormat::Pcap));
        assert_eq!(sniff(&[0x4d, 0x3c, 0xb2, 0xa1]), Some(CaptureFormat::Pcap));
        assert_eq!(sniff(&[0xa1, 0xb2, 0x3c, 0x4d]), Some(CaptureFormat::Pcap));
        assert_eq!(sniff(&[0x0a, 0x0d, 0x0d, 0x0a]), Some(CaptureFormat::PcapNg));
        assert_eq!(sniff(b"{\"re"), None);
        assert_eq!(sniff(&[0xd4, 0xc3]), None);
    }

    #[test]
    fn tcp_handshake_data_fin_is_one_flow_field_by_field() {
        let frames = handshake_with_data();
        let total_c: i64 = [0, 2, 3, 5, 7].iter().map(|&i| frames[i].1.len() as i64).sum();
        let total_s: i64 = [1, 4, 6].iter().map(|&i| frames[i].1.len() as i64).sum();
        let r = run(&pcap(&frames));
        assert!(r.out.bad.is_empty(), "{:?}", r.out.bad);
        assert_eq!(r.out.flows.len(), 1);
        let f = &r.out.flows[0];
        assert_eq!(f.source, "pcap");
        assert_eq!(f.source_format, "pcap");
        assert_eq!((f.src_ip.as_str(), f.src_port), ("10.0.0.5", Some(50000)));
        assert_eq!((f.dst_ip.as_str(), f.dst_port), ("93.184.216.34", Some(80)));
        assert_eq!(f.protocol, "TCP");
        assert_eq!((f.time, f.end_time), (T0, T0 + 70));
        assert_eq!((f.packets_s2d, f.bytes_s2d), (Some(5), Some(total_c)));
        assert_eq!((f.packets_d2s, f.bytes_d2s), (Some(3), Some(total_s)));
        assert_eq!(f.tcp_flags, Some(i32::from(FIN | SYN | PSH | ACK)));
        assert_eq!(f.direction, None);
        assert_eq!(f.flow_state, None);
        assert_eq!(f.provenance.line, 1);
        assert_eq!(f.provenance.offset, 24);
        assert_eq!(&*f.provenance.evidence_sha256, "sha");
        assert_eq!(&*f.provenance.evidence_path, "cap.pcap");
        assert_eq!(f.raw, "TCP 10.0.0.5:50000 -> 93.184.216.34:80: 5 packets 354 bytes out, 3 packets 462 bytes back, flags FSPA, packets 1..8");
        let mut expect = f.clone();
        expect.compute_flow_id();
        assert_eq!(f.flow_id, expect.flow_id);
        assert_eq!(f.flow_id.len(), 16);
        assert_eq!(r.summary.packets, 8);
        assert_eq!(r.out.records, 8);
        assert_eq!(r.summary.flows, 1);
        assert_eq!(r.summary.error, None);
        // The HTTP request in packet 4.
        assert_eq!(r.out.events.len(), 1);
        let e = &r.out.events[0];
        assert_eq!(e.source, "pcap");
        assert_eq!(e.event_type.as_deref(), Some("HTTPsession"));
        assert_eq!(e.http_method.as_deref(), Some("GET"));
        assert_eq!(e.url.as_deref(), Some("http://example.com/index.html"));
        assert_eq!(e.user_agent.as_deref(), Some("curl/8.5.0"));
        assert_eq!(e.src_ip.as_deref(), Some("10.0.0.5"));
        assert_eq!(e.dst_port, Some(80));
        assert_eq!(e.protocol.as_deref(), Some("TCP"));
        assert_eq!(e.time, T0 + 30);
        assert_eq!(e.provenance.line, 4);
        assert_eq!(e.message, "HTTP GET http://example.com/index.html from 10.0.0.5 (User-Agent: curl/8.5.0)");
        let raw: serde_json::Value = serde_json::from_str(&e.raw).expect("raw is JSON");
        assert_eq!(raw["http"]["host"], "example.com");
        assert_eq!(raw["http"]["version"], "HTTP/1.1");
        assert_eq!(raw["packet"], 4);
    }

    #[test]
    fn syn_ack_seen_first_makes_its_receiver_the_initiator() {
        let frames = handshake_with_data();
        // Drop the SYN: the SYN-ACK (server → client) comes first.
        let r = run(&pcap(&frames[1..]));
        let f = &r.out.flows[0];
        assert_eq!((f.src_ip.as_str(), f.dst_port), ("10.0.0.5", Some(80)));
        assert_eq!((f.packets_s2d, f.packets_d2s), (Some(4), Some(3)));
        assert_eq!(f.provenance.line, 1);
        // A mid-stream capture with a late SYN from the other side: the SYN sender wins.
        let mid = vec![
            (T0, tcp_frame(false, ACK, b"")),
            (T0 + 1, tcp_frame(true, SYN, b"")),
            (T0 + 2, tcp_frame(false, ACK, b"")),
        ];
        let f = &run(&pcap(&mid)).out.flows[0];
        assert_eq!(f.src_ip, "10.0.0.5");
        assert_eq!((f.packets_s2d, f.packets_d2s), (Some(1), Some(2)));
    }

    #[test]
    fn new_syn_after_close_starts_a_new_flow_and_idle_flows_expire_in_order() {
        let mut frames = handshake_with_data();
        frames.push((T0 + 100, tcp_frame(true, SYN, b"")));
        frames.push((T0 + 110, tcp_frame(false, RST | ACK, b"")));
        // UDP flow that goes idle, then a packet 200 s later closes it by timeout.
        frames.push((T0 + 120, eth_ip(v4(C), v4([8, 8, 8, 8]), 17, &udp(40000, 9999, b"hi"))));
        frames.push((T0 + 200_000_000, eth_ip(v4(C), v4([8, 8, 4, 4]), 17, &udp(40001, 9999, b"late"))));
        let opts = PcapOptions { batch_packets: 2, ..PcapOptions::default() };
        let r = run_with(&pcap(&frames), &opts);
        assert!(r.batches >= 6, "batches of 2 packets: {}", r.batches);
        let lines: Vec<u64> = r.out.flows.iter().map(|f| f.provenance.line).collect();
        // Emitted as they close: the first TCP flow at the new SYN, the RST flow and the UDP
        // flow by timeout when packet 12 arrives, packet 12's flow at the end.
        assert_eq!(lines, vec![1, 9, 11, 12]);
        let second = &r.out.flows[1];
        assert_eq!((second.packets_s2d, second.packets_d2s), (Some(1), Some(1)));
        assert_eq!(second.tcp_flags, Some(i32::from(SYN | RST | ACK)));
        assert_eq!(r.out.flows[2].protocol, "UDP");
        assert_eq!(r.out.flows[2].tcp_flags, None);
        assert_eq!(r.out.records, 12);
    }

    #[test]
    fn flow_cap_evicts_the_least_recently_active() {
        let frames: Vec<(i64, Vec<u8>)> =
            (0..5u16).map(|i| (T0 + i64::from(i), eth_ip(v4(C), v4(S), 17, &udp(1000 + i, 53, b"x")))).collect();
        let opts = PcapOptions { max_flows: 2, ..PcapOptions::default() };
        let r = run_with(&pcap(&frames), &opts);
        assert_eq!(r.summary.evicted, 3);
        let ports: Vec<Option<i32>> = r.out.flows.iter().map(|f| f.src_port).collect();
        assert_eq!(ports, vec![Some(1000), Some(1001), Some(1002), Some(1003), Some(1004)]);
    }

    #[test]
    fn a_jump_in_capture_time_expires_flows_in_bounded_batches() {
        let mut frames: Vec<(i64, Vec<u8>)> =
            (0..10u16).map(|i| (T0 + i64::from(i), eth_ip(v4(C), v4(S), 17, &udp(2000 + i, 53, b"x")))).collect();
        frames.push((T0 + 3_600_000_000, eth_ip(v4(C), v4(S), 17, &udp(9, 9, b"later"))));
        let opts = PcapOptions { batch_packets: 1000, batch_flows: 3, ..PcapOptions::default() };
        let r = run_with(&pcap(&frames), &opts);
        assert_eq!(r.out.flows.len(), 11);
        assert_eq!(r.summary.flows, 11);
        assert_eq!(r.summary.evicted, 0);
        assert_eq!(r.widest, 3, "no batch holds more flows than the batch size");
        let ports: Vec<Option<i32>> = r.out.flows.iter().map(|f| f.src_port).collect();
        let mut want: Vec<Option<i32>> = (2000..2010).map(Some).collect();
        want.push(Some(9));
        assert_eq!(ports, want, "emitted in the order they went idle");
    }

    #[test]
    fn vlan_qinq_ipv6_and_icmp() {
        let a = v6("2001:db8::1");
        let b = v6("2001:db8::2");
        let icmp6 = [128u8, 0, 0, 0, 0, 1, 0, 1];
        let icmp4 = [8u8, 0, 0, 0, 0, 1, 0, 1];
        let frames = vec![
            (T0, ethernet(0x0800, &[100], &ip(v4(C), v4(S), 17, &udp(5000, 6000, b"vlan")))),
            (T0 + 1, ethernet(0x86dd, &[10, 20], &ip(a, b, 6, &tcp(40000, 443, 0, 0, SYN, b"")))),
            (T0 + 2, eth_ip(a, b, 58, &icmp6)),
            (T0 + 3, eth_ip(v4(C), v4(S), 1, &icmp4)),
            (T0 + 4, ethernet(0x0806, &[], &[0u8; 28])), // ARP
        ];
        let r = run(&pcap(&frames));
        assert!(r.out.bad.is_empty(), "{:?}", r.out.bad);
        assert_eq!(r.summary.non_ip, 1);
        let by_proto: Vec<(&str, &str, Option<i32>)> =
            r.out.flows.iter().map(|f| (f.protocol.as_str(), f.src_ip.as_str(), f.dst_port)).collect();
        assert_eq!(
            by_proto,
            vec![
                ("UDP", "10.0.0.5", Some(6000)),
                ("TCP", "2001:db8::1", Some(443)),
                ("ICMPv6", "2001:db8::1", None),
                ("ICMP", "10.0.0.5", None),
            ]
        );
        assert_eq!(r.out.flows[0].bytes_s2d, Some(frames[0].1.len() as i64));
        assert_eq!(r.out.flows[2].src_port, None);
        assert_eq!(r.out.flows[2].tcp_flags, None);
    }

    #[test]
    fn ipv6_extension_headers_are_walked() {
        // Hop-by-hop (8 bytes) then UDP.
        let mut l4 = vec![17u8, 0, 1, 4, 0, 0, 0, 0];
        l4.extend_from_slice(&udp(1234, 53, &dns(7, "a.example", 28, None)));
        let frame = eth_ip(v6("fe80::1"), v6("fe80::2"), 0, &l4);
        let r = run(&pcap(&[(T0, frame)]));
        assert!(r.out.bad.is_empty(), "{:?}", r.out.bad);
        assert_eq!(r.out.flows[0].protocol, "UDP");
        assert_eq!(r.out.flows[0].dst_port, Some(53));
        assert_eq!(r.out.events[0].message, "DNS query AAAA a.example from [fe80::1]");
    }

    #[test]
    fn dns_query_and_answer_events() {
        let q = dns(0x1234, "www.example.com", 1, None);
        let a = dns(0x1234, "www.example.com", 1, Some((0, &[[93, 184, 216, 34], [93, 184, 216, 35]])));
        let nx = dns(0x99, "nope.example", 1, Some((3, &[])));
        let frames = vec![
            (T0, eth_ip(v4(C), v4([10, 0, 0, 2]), 17, &udp(53000, 53, &q))),
            (T0 + 5, eth_ip(v4([10, 0, 0, 2]), v4(C), 17, &udp(53, 53000, &a))),
            (T0 + 6, eth_ip(v4(C), v4([10, 0, 0, 2]), 17, &udp(53001, 53, &nx))),
        ];
        let r = run(&pcap(&frames));
        assert_eq!(r.out.events.len(), 3);
        let (eq, ea, enx) = (&r.out.events[0], &r.out.events[1], &r.out.events[2]);
        assert_eq!(eq.operation.as_deref(), Some("DNS query"));
        assert_eq!(eq.event_type.as_deref(), Some("Query"));
        assert_eq!(eq.message, "DNS query A www.example.com from 10.0.0.5");
        assert_eq!(eq.result, None);
        assert_eq!(eq.provenance.line, 1);
        assert_eq!(ea.operation.as_deref(), Some("DNS response"));
        assert_eq!(ea.result.as_deref(), Some("Success"));
        assert_eq!(ea.result_details.as_deref(), Some("NOERROR"));
        assert_eq!(
            ea.message,
            "DNS response A www.example.com from 10.0.0.2: NOERROR, A 93.184.216.34, A 93.184.216.35"
        );
        assert_eq!(ea.provenance.line, 2);
        assert_eq!((ea.src_port, ea.dst_port), (Some(53), Some(53000)));
        let raw: serde_json::Value = serde_json::from_str(&ea.raw).expect("JSON");
        assert_eq!(raw["dns"]["answers"], json!(["A 93.184.216.34", "A 93.184.216.35"]));
        assert_eq!(raw["dns"]["id"], 0x1234);
        assert_eq!(enx.result.as_deref(), Some("Failure"));
        assert_eq!(enx.result_details.as_deref(), Some("NXDOMAIN"));
        // Query and answer share one flow, initiated by the client.
        assert_eq!(r.out.flows.len(), 2);
        assert_eq!((r.out.flows[0].src_ip.as_str(), r.out.flows[0].packets_d2s), ("10.0.0.5", Some(1)));
    }

    #[test]
    fn dns_over_tcp_in_one_segment() {
        let q = dns(1, "tcp.example", 1, None);
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        let frame = eth_ip(v4(C), v4(S), 6, &tcp(40000, 53, 1, 1, PSH | ACK, &framed));
        let r = run(&pcap(&[(T0, frame)]));
        assert_eq!(r.out.events.len(), 1);
        assert_eq!(r.out.events[0].message, "DNS query A tcp.example from 10.0.0.5");
    }

    #[test]
    fn dns_names_are_bounded_and_escaped() {
        // A pointer loop, a label past the end, and odd bytes.
        let mut looped = vec![0u8, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(parse_dns(&looped), None);
        let mut cut = vec![0u8, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 60, b'a'];
        assert_eq!(parse_dns(&cut), None);
        cut.truncate(12);
        cut.extend_from_slice(&[3, b'a', 0, b'\\', 0, 0, 1, 0, 1]);
        assert_eq!(parse_dns(&cut).map(|d| d.qname), Some("a\\x00\\x5c".to_string()));
    }

    #[test]
    fn tls_client_hello_sni_and_alpn() {
        let hello = client_hello("login.microsoftonline.com", &["h2", "http/1.1"]);
        let frame = eth_ip(v4(C), v4(S), 6, &tcp(50001, 443, 1, 1, PSH | ACK, &hello));
        let r = run(&pcap(&[(T0, frame)]));
        assert_eq!(r.out.events.len(), 1);
        let e = &r.out.events[0];
        assert_eq!(e.operation.as_deref(), Some("TLS ClientHello"));
        assert_eq!(e.category.as_deref(), Some("tls"));
        assert_eq!(
            e.message,
            "TLS ClientHello to 93.184.216.34:443 for server name login.microsoftonline.com (ALPN h2, http/1.1)"
        );
        let raw: serde_json::Value = serde_json::from_str(&e.raw).expect("JSON");
        assert_eq!(raw["tls"]["sni"], "login.microsoftonline.com");
        assert_eq!(raw["tls"]["alpn"], json!(["h2", "http/1.1"]));
        assert_eq!(raw["tls"]["version"], "0x0303");
        // Cut anywhere, it never panics; cut inside the extensions, it keeps what it read.
        for n in 0..hello.len() {
            let _ = parse_client_hello(&hello[..n]);
        }
        assert_eq!(parse_client_hello(&hello[..60]).map(|h| h.sni), Some(None));
    }

    #[test]
    fn http_request_parsing() {
        let h =
            parse_http_request(b"POST http://proxy.example/x HTTP/1.0\r\nuser-agent: a\x01b\r\n\r\n").expect("request");
        assert_eq!(
            (h.method.as_str(), h.uri.as_str(), h.version.as_str()),
            ("POST", "http://proxy.example/x", "HTTP/1.0")
        );
        assert_eq!(h.user_agent.as_deref(), Some("a\u{1}b"));
        assert_eq!(h.host, None);
        assert_eq!(parse_http_request(b"GETX / HTTP/1.1\r\n"), None);
        assert_eq!(parse_http_request(b"GET / SPDY/3\r\n"), None);
        assert_eq!(parse_http_request(b"GET"), None);
    }

    #[test]
    fn ipv4_fragments_go_to_the_first_fragments_flow() {
        let payload = udp(7000, 7001, &[0u8; 40]);
        let frames = vec![
            (T0, ethernet(0x0800, &[], &ipv4_fragment(C, S, 17, 77, 0, true, &payload[..24]))),
            (T0 + 1, ethernet(0x0800, &[], &ipv4_fragment(C, S, 17, 77, 3, false, &payload[24..]))),
            (T0 + 2, ethernet(0x0800, &[], &ipv4_fragment(C, S, 17, 78, 3, false, &payload[24..]))),
        ];
        let r = run(&pcap(&frames));
        assert!(r.out.bad.is_empty(), "{:?}", r.out.bad);
        assert_eq!(r.summary.fragments, 3);
        assert_eq!(r.summary.fragments_unattributed, 1);
        assert_eq!(r.out.flows.len(), 1);
        let f = &r.out.flows[0];
        assert_eq!((f.src_port, f.dst_port), (Some(7000), Some(7001)));
        assert_eq!(f.packets_s2d, Some(2));
        assert_eq!(f.bytes_s2d, Some((frames[0].1.len() + frames[1].1.len()) as i64));
    }

    #[test]
    fn truncated_and_malformed_packets_are_quarantined_never_fatal() {
        let good = eth_ip(v4(C), v4(S), 17, &udp(1, 2, b"ok"));
        let mut bad_ip = good.clone();
        bad_ip[14] = 0x4f; // IHL 15: header longer than the packet
        let cut_tcp = tcp_frame(true, SYN, b"")[..14 + 20 + 10].to_vec();
        let frames =
            vec![(T0, good.clone()), (T0 + 1, bad_ip), (T0 + 2, cut_tcp), (T0 + 3, vec![1, 2, 3]), (T0 + 4, good)];
        let r = run(&pcap(&frames));
        assert_eq!(r.summary.malformed, 3);
        let lines: Vec<u64> = r.out.bad.iter().map(|b| b.provenance.line).collect();
        assert_eq!(lines, vec![2, 3, 4]);
        assert!(r.out.bad[0].reason.starts_with("packet 2: "), "{}", r.out.bad[0].reason);
        assert!(r.out.bad[1].reason.contains("Tcp") || r.out.bad[1].reason.contains("TCP"), "{}", r.out.bad[1].reason);
        assert!(r.out.bad[2].reason.contains("Ethernet header cut"), "{}", r.out.bad[2].reason);
        assert_eq!(r.out.bad[2].excerpt, "010203");
        assert_eq!(r.out.bad[2].parser.as_deref(), Some("pcap"));
        assert_eq!(r.out.flows.len(), 1);
        assert_eq!(r.out.flows[0].packets_s2d, Some(2));
        assert_eq!(r.summary.problems(), None);
        // Over the listing cap: counted, and the manifest line says so.
        let opts = PcapOptions { max_listed_bad: 1, ..PcapOptions::default() };
        let r = run_with(&pcap(&frames), &opts);
        assert_eq!((r.out.bad.len(), r.summary.malformed), (1, 3));
        assert_eq!(r.summary.problems().as_deref(), Some("3 malformed packets, the first 1 quarantined individually"));
    }

    #[test]
    fn file_cut_inside_the_last_record_keeps_the_rest() {
        let frames = handshake_with_data();
        let full = pcap(&frames);
        let cut = &full[..full.len() - 10];
        let r = run(cut);
        assert_eq!(r.summary.packets, 7);
        assert_eq!(r.out.flows.len(), 1);
        assert_eq!(r.out.flows[0].packets_s2d.unwrap_or(0) + r.out.flows[0].packets_d2s.unwrap_or(0), 7);
        let err = r.summary.error.as_deref().unwrap_or("");
        assert!(err.starts_with("packet 8: the file ends inside the record at byte"), "{err}");
        assert_eq!(r.out.bad.len(), 1);
        assert_eq!(r.out.bad[0].provenance.line, 8);
        // Cut at every length: never a panic, and never more packets than were whole.
        for n in 0..full.len() {
            if n < 4 {
                continue;
            }
            let r = run(&full[..n]);
            assert!(r.summary.packets <= 8);
        }
    }

    #[test]
    fn garbage_after_the_header_is_reported_not_fatal() {
        let mut bytes = pcap_header(1);
        pcap_record(&mut bytes, T0, &eth_ip(v4(C), v4(S), 17, &udp(1, 2, b"ok")));
        bytes.extend_from_slice(&[0xff; 64]);
        let r = run(&bytes);
        assert_eq!(r.out.flows.len(), 1, "the packet before the garbage is kept");
        let err = r.summary.error.as_deref().unwrap_or("");
        assert!(err.contains("the file is corrupt from here"), "{err}");
        assert_eq!(r.out.bad.last().map(|b| b.provenance.line), Some(2));
        // Garbage pcapng blocks too.
        let mut ng = pcapng_two_interfaces();
        ng.extend_from_slice(&[0x01, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]);
        let r = run(&ng);
        assert_eq!(r.summary.packets, 2);
        assert!(r.summary.error.is_some());
    }

    #[test]
    fn a_read_error_is_reported_with_its_reason_and_keeps_what_was_read() {
        struct Failing(Vec<u8>, usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.1 >= self.0.len() {
                    return Err(std::io::Error::other("decompression stopped: possible decompression bomb"));
                }
                // Small reads, so the failure comes after some packets were decoded.
                let n = buf.len().min(self.0.len() - self.1).min(100);
                buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
                self.1 += n;
                Ok(n)
            }
        }
        let bytes = pcap(&handshake_with_data());
        let mut flows = 0;
        let summary = decode(
            Failing(bytes.clone(), 0),
            CaptureFormat::Pcap,
            Arc::from("sha"),
            Arc::from("x.pcap.gz"),
            &PcapOptions::default(),
            &mut |o, _| {
                flows += o.flows.len();
                true
            },
        );
        assert_eq!(summary.packets, 8);
        assert_eq!(flows, 1);
        let err = summary.error.unwrap_or_default();
        assert!(err.starts_with("read stopped at byte "), "{err}");
        assert!(err.ends_with(": decompression stopped: possible decompression bomb"), "{err}");
        // A stream that hands out 3 bytes per read (a decompressor may) reads like any other.
        struct Trickle(Vec<u8>, usize);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.0.len() - self.1).min(3);
                buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
                self.1 += n;
                Ok(n)
            }
        }
        let opts = PcapOptions::default();
        let summary =
            decode(Trickle(bytes, 0), CaptureFormat::Pcap, Arc::from("s"), Arc::from("t"), &opts, &mut |_, _| true);
        assert_eq!((summary.packets, summary.flows, summary.error), (8, 1, None));
    }

    #[test]
    fn unsupported_link_type_is_quarantined_per_packet() {
        let mut bytes = pcap_header(105); // 802.11
        pcap_record(&mut bytes, T0, &[0u8; 30]);
        pcap_record(&mut bytes, T0 + 1, &[0u8; 30]);
        let r = run(&bytes);
        assert_eq!(r.summary.malformed, 2);
        assert_eq!(r.out.bad[0].reason, "packet 1: link type 105 is not supported");
        assert!(r.out.flows.is_empty());
    }

    #[test]
    fn big_endian_nanosecond_pcap_and_raw_ip_and_sll() {
        let pkt = ip(v4(C), v4(S), 17, &udp(1111, 2222, b"x"));
        let mut be = Vec::new();
        be.extend_from_slice(&0xa1b23c4du32.to_be_bytes());
        be.extend_from_slice(&2u16.to_be_bytes());
        be.extend_from_slice(&4u16.to_be_bytes());
        be.extend_from_slice(&[0; 8]);
        be.extend_from_slice(&65535u32.to_be_bytes());
        be.extend_from_slice(&101u32.to_be_bytes()); // raw IP
        be.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        be.extend_from_slice(&123_456_789u32.to_be_bytes());
        be.extend_from_slice(&(pkt.len() as u32).to_be_bytes());
        be.extend_from_slice(&(pkt.len() as u32).to_be_bytes());
        be.extend_from_slice(&pkt);
        let r = run(&be);
        assert_eq!(r.out.flows.len(), 1);
        assert_eq!(r.out.flows[0].time, 1_700_000_000_123_456);
        assert_eq!(r.out.flows[0].bytes_s2d, Some(pkt.len() as i64));
        // Linux cooked v1 and v2.
        let mut sll = vec![0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&pkt);
        let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0];
        sll2.extend_from_slice(&pkt);
        for (lt, frame) in [(113, sll), (276, sll2)] {
            let mut b = pcap_header(lt);
            pcap_record(&mut b, T0, &frame);
            let r = run(&b);
            assert!(r.out.bad.is_empty(), "link type {lt}: {:?}", r.out.bad);
            assert_eq!(r.out.flows[0].dst_port, Some(2222), "link type {lt}");
            assert_eq!(r.out.flows[0].bytes_s2d, Some(frame.len() as i64));
        }
    }

    fn ng_block(out: &mut Vec<u8>, typ: u32, body: &[u8]) {
        let pad = (4 - body.len() % 4) % 4;
        let len = (12 + body.len() + pad) as u32;
        out.extend_from_slice(&typ.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(body);
        out.extend(std::iter::repeat_n(0u8, pad));
        out.extend_from_slice(&len.to_le_bytes());
    }

    fn idb(tsresol: Option<u8>) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&65535u32.to_le_bytes());
        if let Some(r) = tsresol {
            b.extend_from_slice(&9u16.to_le_bytes());
            b.extend_from_slice(&1u16.to_le_bytes());
            b.extend_from_slice(&[r, 0, 0, 0]);
            b.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        }
        b
    }

    fn epb(if_id: u32, ts: u64, data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&if_id.to_le_bytes());
        b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(ts as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        b.extend(std::iter::repeat_n(0u8, (4 - data.len() % 4) % 4));
        b
    }

    /// Two interfaces: microseconds (default) and nanoseconds; one packet each, same instant.
    fn pcapng_two_interfaces() -> Vec<u8> {
        let mut v = Vec::new();
        let mut shb = Vec::new();
        shb.extend_from_slice(&0x1a2b3c4du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        ng_block(&mut v, 0x0a0d0d0a, &shb);
        ng_block(&mut v, 1, &idb(None));
        ng_block(&mut v, 1, &idb(Some(9)));
        let secs: u64 = 1_700_000_000;
        let p1 = eth_ip(v4(C), v4(S), 17, &udp(1000, 2000, b"one"));
        let p2 = eth_ip(v4(S), v4(C), 17, &udp(2000, 1000, b"two!"));
        ng_block(&mut v, 6, &epb(0, secs * 1_000_000 + 250_000, &p1));
        ng_block(&mut v, 6, &epb(1, secs * 1_000_000_000 + 750_000_000, &p2));
        v
    }

    #[test]
    fn pcapng_two_interfaces_with_different_resolutions() {
        let bytes = pcapng_two_interfaces();
        let r = run(&bytes);
        assert!(r.out.bad.is_empty(), "{:?}", r.out.bad);
        assert_eq!(r.summary.error, None);
        assert_eq!(r.out.flows.len(), 1);
        let f = &r.out.flows[0];
        assert_eq!(f.source_format, "pcapng");
        assert_eq!((f.time, f.end_time), (1_700_000_000_250_000, 1_700_000_000_750_000));
        assert_eq!((f.packets_s2d, f.packets_d2s), (Some(1), Some(1)));
        assert_eq!(f.src_port, Some(1000));
        assert_eq!(f.provenance.line, 1);
        // SHB (28) + IDB (20) + IDB (32): the first packet block starts at byte 80.
        assert_eq!(f.provenance.offset, 80);
        // A packet on an interface never described is quarantined.
        let mut more = bytes.clone();
        ng_block(&mut more, 6, &epb(5, 0, &[0u8; 20]));
        let r = run(&more);
        assert_eq!(r.out.bad.len(), 1);
        assert_eq!(r.out.bad[0].reason, "packet 3: interface 5 was not described before its packet");
    }

    #[test]
    fn oversized_record_length_is_bounded() {
        let mut bytes = pcap_header(1);
        bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        bytes.extend_from_slice(&0x7fff_fff0u32.to_le_bytes());
        bytes.extend_from_slice(&0x7fff_fff0u32.to_le_bytes());
        bytes.extend_from_slice(&[0u8; 100]);
        let r = run(&bytes);
        assert_eq!(r.summary.packets, 0);
        let err = r.summary.error.as_deref().unwrap_or("");
        assert!(err.contains("corrupt from here"), "{err}");
        // pcapng: a block claiming 1 GiB.
        let mut ng = pcapng_two_interfaces();
        ng.extend_from_slice(&6u32.to_le_bytes());
        ng.extend_from_slice(&0x4000_0000u32.to_le_bytes());
        ng.extend_from_slice(&[0u8; 64]);
        let r = run_with(&ng, &PcapOptions { max_record: 1 << 20, ..PcapOptions::default() });
        assert_eq!(r.summary.packets, 2);
        let err = r.summary.error.as_deref().unwrap_or("");
        assert!(err.contains("larger than 1048576 bytes") || err.contains("ends inside"), "{err}");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A deterministic xorshift stream after each header.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..200 {
            let mut bytes = if round % 2 == 0 { pcap_header(1) } else { pcapng_two_interfaces() };
            for _ in 0..(round * 7 % 300) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                bytes.push(x as u8);
            }
            let _ = run(&bytes);
        }
        // And random frames inside valid records.
        let mut bytes = pcap_header(1);
        for i in 0..500 {
            let mut frame = tcp_frame(true, ACK, b"GET / HTTP/1.1\r\n");
            let at = (i * 31) % frame.len();
            frame[at] ^= (i as u8).wrapping_mul(37) | 1;
            frame.truncate(frame.len() - (i % 20));
            pcap_record(&mut bytes, T0 + i as i64, &frame);
        }
        let r = run(&bytes);
        assert_eq!(r.summary.packets, 500);
    }
}
