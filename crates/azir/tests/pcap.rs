//! Packet captures end to end through the `azir` binary: the two corpus captures
//! (`../shared/corpus/pcap/assets/ntp.pcap`, `test001-le.pcapng`) and a capture generated here
//! with many flows (TCP with handshakes, data and FIN, a reused 5-tuple, RST, VLAN tags, IPv6,
//! UDP with DNS, TLS and HTTP payloads, ICMP), plain and gzipped. Flows are read back with
//! `azir timeline --flows --format jsonl` and compared with what the generator wrote, and — the
//! conformance part — with tshark's `-z conv,tcp -z conv,udp` (frames and bytes per
//! conversation, summed per 5-tuple).
//!
//! tshark must be on PATH (Debian's `tshark` package; `scripts/test` installs it). Without it the
//! conformance test fails, unless `AZIR_SKIP_TSHARK=1` says to skip it knowingly.

use azir_logs::pcap::build::{self, ACK, FIN, PSH, RST, SYN};
use azir_store::Case;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_azir");

fn azir(args: &[&str]) -> Output {
    Command::new(BIN).args(args).stdin(Stdio::null()).output().expect("azir runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn azir_ok(args: &[&str]) -> String {
    let o = azir(args);
    assert_eq!(o.status.code(), Some(0), "azir {args:?}\nstdout:\n{}\nstderr:\n{}", text(&o.stdout), text(&o.stderr));
    assert!(!text(&o.stderr).contains("panicked"), "{}", text(&o.stderr));
    text(&o.stdout)
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn corpus_captures() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/pcap/assets"));
    assert!(
        dir.join("ntp.pcap").is_file() && dir.join("test001-le.pcapng").is_file(),
        "\n\n*** PCAP CORPUS MISSING ***\nexpected ntp.pcap and test001-le.pcapng in {}\n\
         (the repository must sit beside `shared/`); this suite refuses to pass without them.\n",
        dir.display()
    );
    dir
}

/// Conversation key: protocol and the two endpoints, lower first.
type Conv = (String, String, String);
/// Frames and bytes, first endpoint → second and back.
type Counts = (u64, u64, u64, u64);

fn conv(proto: &str, a: &str, b: &str) -> (Conv, bool) {
    if a <= b {
        ((proto.to_string(), a.to_string(), b.to_string()), false)
    } else {
        ((proto.to_string(), b.to_string(), a.to_string()), true)
    }
}

fn endpoint(ip: &str, port: Option<i64>) -> String {
    let ip = if ip.contains(':') { format!("[{ip}]") } else { ip.to_string() };
    match port {
        Some(p) => format!("{ip}:{p}"),
        None => ip,
    }
}

/// A capture written frame by frame, with the expected per-conversation counts.
struct Generated {
    bytes: Vec<u8>,
    expect: BTreeMap<Conv, Counts>,
    /// Flows (connections) expected: one per connection, so a reused 5-tuple counts twice.
    flows: usize,
    packets: u64,
}

impl Generated {
    fn new() -> Self {
        Generated { bytes: build::pcap_header(1), expect: BTreeMap::new(), flows: 0, packets: 0 }
    }

    fn frame(&mut self, ts_us: i64, proto: &str, src: String, dst: String, frame: &[u8]) {
        build::pcap_record(&mut self.bytes, ts_us, frame);
        self.packets += 1;
        let (key, swapped) = conv(proto, &src, &dst);
        let c = self.expect.entry(key).or_default();
        if swapped {
            c.2 += 1;
            c.3 += frame.len() as u64;
        } else {
            c.0 += 1;
            c.1 += frame.len() as u64;
        }
    }
}

fn addr(i: u32, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16))
    } else {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
    }
}

/// The multi-flow capture: 40 TCP connections (8 over IPv6, 10 VLAN-tagged of which 5 QinQ,
/// one 5-tuple used twice, one reset), 30 UDP flows (DNS query/answer pairs among them), ICMP echo.
fn generate() -> Generated {
    let mut g = Generated::new();
    let t0: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut ts = t0;
    for c in 0..40u32 {
        // Connection 39 reuses connection 38's 5-tuple (a new SYN after its FIN).
        let k = if c == 39 { 38 } else { c };
        let v6 = k % 5 == 4;
        let client = addr(100 + k % 7, v6);
        let server = addr(200 + k % 3, v6);
        let cport: u16 = 40_000 + k as u16;
        let sport: u16 = [80, 443, 22][k as usize % 3];
        let vlans: Vec<u16> = match k % 8 {
            1 => vec![100 + k as u16],
            3 => vec![200, 300 + k as u16], // QinQ
            _ => Vec::new(),
        };
        let et = if v6 { 0x86dd } else { 0x0800 };
        let cs = endpoint(&client.to_string(), Some(i64::from(cport)));
        let ss = endpoint(&server.to_string(), Some(i64::from(sport)));
        let send = |g: &mut Generated, ts: i64, from_client: bool, flags: u8, payload: &[u8]| {
            let seg = if from_client {
                build::tcp(cport, sport, 1, 1, flags, payload)
            } else {
                build::tcp(sport, cport, 1, 1, flags, payload)
            };
            let (s, d) = if from_client { (client, server) } else { (server, client) };
            let frame = build::ethernet(et, &vlans, &build::ip(s, d, 6, &seg));
            let (a, b) = if from_client { (cs.clone(), ss.clone()) } else { (ss.clone(), cs.clone()) };
            g.frame(ts, "TCP", a, b, &frame);
        };
        ts += 1_000 + rnd(5_000) as i64;
        send(&mut g, ts, true, SYN, b"");
        send(&mut g, ts + 100, false, SYN | ACK, b"");
        send(&mut g, ts + 200, true, ACK, b"");
        let first: Vec<u8> = match sport {
            80 => {
                format!("GET /item/{c} HTTP/1.1\r\nHost: shop{c}.example\r\nUser-Agent: agent/{c}\r\n\r\n").into_bytes()
            }
            443 => build::client_hello(&format!("api{c}.example.net"), &["h2"]),
            _ => b"SSH-2.0-OpenSSH_9.6\r\n".to_vec(),
        };
        send(&mut g, ts + 300, true, PSH | ACK, &first);
        for k in 0..rnd(6) {
            let n = 1 + rnd(1400) as usize;
            send(&mut g, ts + 400 + k as i64 * 50, k % 2 == 1, PSH | ACK, &vec![b'd'; n]);
        }
        if c == 17 {
            send(&mut g, ts + 900, false, RST | ACK, b"");
        } else {
            send(&mut g, ts + 900, true, FIN | ACK, b"");
            send(&mut g, ts + 950, false, FIN | ACK, b"");
            send(&mut g, ts + 990, true, ACK, b"");
        }
        g.flows += 1;
    }
    for u in 0..30u32 {
        let client = addr(100 + u % 5, false);
        let server = addr(53 + u % 2, false);
        let cport = 50_000 + u as u16;
        let dns = u % 3 == 0;
        let dport = if dns { 53 } else { 5000 + u as u16 };
        let cs = endpoint(&client.to_string(), Some(i64::from(cport)));
        let ss = endpoint(&server.to_string(), Some(i64::from(dport)));
        ts += 500;
        let (q, a) = if dns {
            let name = format!("host{u}.corp.example");
            (build::dns(u as u16, &name, 1, None), build::dns(u as u16, &name, 1, Some((0, &[[192, 0, 2, u as u8]]))))
        } else {
            (vec![b'q'; 10 + u as usize], vec![b'a'; 100 + u as usize])
        };
        let f = build::eth_ip(client, server, 17, &build::udp(cport, dport, &q));
        g.frame(ts, "UDP", cs.clone(), ss.clone(), &f);
        let f = build::eth_ip(server, client, 17, &build::udp(dport, cport, &a));
        g.frame(ts + 20, "UDP", ss, cs, &f);
        g.flows += 1;
    }
    // ICMP echo request and reply: a flow, but no tshark conversation of the TCP/UDP kind.
    let (a, b) = (addr(100, false), addr(1, false));
    let echo = [8u8, 0, 0, 0, 0, 1, 0, 1];
    let reply = [0u8, 0, 0, 0, 0, 1, 0, 1];
    ts += 500;
    g.frame(ts, "ICMP", a.to_string(), b.to_string(), &build::eth_ip(a, b, 1, &echo));
    g.frame(ts + 5, "ICMP", b.to_string(), a.to_string(), &build::eth_ip(b, a, 1, &reply));
    g.flows += 1;
    g
}

/// The generated capture and the two corpus captures, ingested into one case.
struct Ingested {
    _dir: tempfile::TempDir,
    case: PathBuf,
    generated: PathBuf,
    gen: Generated,
    stdout: String,
}

fn ingested() -> &'static Ingested {
    static ONCE: OnceLock<Ingested> = OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let ev = dir.path().join("evidence");
        std::fs::create_dir_all(&ev).expect("mkdir");
        let gen = generate();
        let generated = ev.join("generated.pcap");
        std::fs::write(&generated, &gen.bytes).expect("write capture");
        // The same bytes gzipped: decompressed by the input layer, then sniffed as pcap.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&gen.bytes).expect("gzip");
        // Hashes are of stored bytes, so this is a second evidence file, not a duplicate.
        std::fs::write(ev.join("generated-copy.pcap.gz"), gz.finish().expect("gzip")).expect("write gz");
        let corpus = corpus_captures();
        for name in ["ntp.pcap", "test001-le.pcapng"] {
            std::fs::copy(corpus.join(name), ev.join(name)).expect("copy corpus capture");
        }
        // A pcapng as a zip member, beside a JSON log in the same archive.
        let mut z = zip::ZipWriter::new(std::fs::File::create(ev.join("captures.zip")).expect("zip"));
        let o = zip::write::SimpleFileOptions::default();
        z.start_file("nw/member.pcapng", o).expect("zip member");
        z.write_all(&std::fs::read(corpus.join("test001-le.pcapng")).expect("read corpus")).expect("zip write");
        z.finish().expect("zip finish");
        let case = dir.path().join("case");
        let stdout = azir_ok(&["ingest", p(&ev), "--case", p(&case)]);
        Ingested { _dir: dir, case, generated, gen, stdout }
    })
}

/// One flow row as the timeline shows it.
#[derive(Debug, Clone)]
struct FlowRow {
    path: String,
    line: u64,
    proto: String,
    src: String,
    dst: String,
    bytes: (u64, u64),
    packets: (u64, u64),
}

fn parse_counts(message: &str) -> Option<((u64, u64), (u64, u64))> {
    let rest = message.split(", bytes ").nth(1)?;
    let (bytes, packets) = rest.split_once(" packets ")?;
    let pair = |s: &str| -> Option<(u64, u64)> {
        let (a, b) = s.trim().split_once('/')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    Some((pair(bytes)?, pair(packets)?))
}

fn timeline_flows(case: &Path) -> Vec<FlowRow> {
    let out = azir_ok(&["timeline", "--case", p(case), "--flows", "--source", "pcap", "--format", "jsonl"]);
    out.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .filter(|v| v["EventType"] == "NetworkSession")
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            let msg = s("message");
            let (bytes, packets) = parse_counts(&msg).unwrap_or_else(|| panic!("no counters in {msg:?}"));
            FlowRow {
                path: s("evidence_path"),
                line: v["evidence_line"].as_u64().unwrap_or(0),
                proto: s("NetworkProtocol"),
                src: endpoint(&s("SrcIpAddr"), v["SrcPortNumber"].as_i64()),
                dst: endpoint(&s("DstIpAddr"), v["DstPortNumber"].as_i64()),
                bytes,
                packets,
            }
        })
        .collect()
}

/// Flow rows of one evidence file summed per conversation.
fn per_conversation(rows: &[FlowRow], file_suffix: &str) -> BTreeMap<Conv, Counts> {
    let mut m: BTreeMap<Conv, Counts> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.path.ends_with(file_suffix)) {
        let (key, swapped) = conv(&r.proto, &r.src, &r.dst);
        let c = m.entry(key).or_default();
        let (fwd, back) = if swapped {
            ((r.packets.1, r.bytes.1), (r.packets.0, r.bytes.0))
        } else {
            ((r.packets.0, r.bytes.0), (r.packets.1, r.bytes.1))
        };
        c.0 += fwd.0;
        c.1 += fwd.1;
        c.2 += back.0;
        c.3 += back.1;
    }
    m
}

#[test]
fn generated_capture_flows_equal_what_was_written() {
    let ing = ingested();
    assert!(ing.stdout.contains("quarantined 0"), "{}", ing.stdout);
    let rows = timeline_flows(&ing.case);
    for suffix in ["generated.pcap", "generated-copy.pcap.gz"] {
        let got = per_conversation(&rows, suffix);
        assert_eq!(got, ing.gen.expect, "{suffix}");
        let n = rows.iter().filter(|r| r.path.ends_with(suffix)).count();
        assert_eq!(n, ing.gen.flows, "{suffix}: one flow per connection");
        let packets: u64 = rows.iter().filter(|r| r.path.ends_with(suffix)).map(|r| r.packets.0 + r.packets.1).sum();
        assert_eq!(packets, ing.gen.packets);
    }
    // The initiator is the source: every TCP flow's source port is the client's.
    for r in rows.iter().filter(|r| r.path.ends_with("generated.pcap") && r.proto == "TCP") {
        let port: u16 = r.src.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0);
        assert!((40_000..40_040).contains(&port), "initiator of {r:?}");
    }
    // The first flow starts at packet 1; every flow's line is a packet number in the file.
    let mut lines: Vec<u64> = rows.iter().filter(|r| r.path.ends_with("generated.pcap")).map(|r| r.line).collect();
    lines.sort_unstable();
    assert_eq!(lines.first(), Some(&1));
    assert!(lines.iter().all(|&l| l >= 1 && l <= ing.gen.packets), "{lines:?}");
    assert!(ing.generated.is_file());
}

#[test]
fn corpus_captures_flows_and_manifest() {
    let ing = ingested();
    let rows = timeline_flows(&ing.case);
    let ntp = per_conversation(&rows, "ntp.pcap");
    assert_eq!(ntp.len(), 6, "{ntp:?}");
    for (k, c) in &ntp {
        assert_eq!(k.0, "UDP");
        assert_eq!((c.0 + c.2, c.1 + c.3), (2, 180), "{k:?}");
    }
    let first = rows.iter().filter(|r| r.path.ends_with("ntp.pcap")).min_by_key(|r| r.line).expect("ntp flows");
    assert_eq!((first.src.as_str(), first.dst.as_str()), ("192.168.1.95:123", "17.253.4.253:123"));
    assert_eq!((first.line, first.packets, first.bytes), (1, (1, 1), (90, 90)));
    let dhcp = per_conversation(&rows, "test001-le.pcapng");
    // One-way conversations: every frame from `a` to `b`.
    let one_way = |a: &str, b: &str, frames: u64, bytes: u64| {
        let (key, swapped) = conv("UDP", a, b);
        (key, if swapped { (0, 0, frames, bytes) } else { (frames, bytes, 0, 0) })
    };
    let want: BTreeMap<Conv, Counts> =
        [one_way("0.0.0.0:68", "255.255.255.255:67", 2, 628), one_way("192.168.0.1:67", "192.168.0.10:68", 2, 684)]
            .into_iter()
            .collect();
    assert_eq!(dhcp, want);
    assert_eq!(per_conversation(&rows, "captures.zip!nw/member.pcapng"), want);

    let case = Case::open(&ing.case).expect("case opens");
    let manifest = case.manifest().expect("manifest");
    let by_name = |suffix: &str| {
        manifest.iter().find(|m| m.path.ends_with(suffix)).unwrap_or_else(|| panic!("no manifest line for {suffix}"))
    };
    for (suffix, format, records, flows) in [
        ("ntp.pcap", "pcap", 12, 6),
        ("test001-le.pcapng", "pcapng", 4, 2),
        ("generated.pcap", "pcap", ing.gen.packets, ing.gen.flows as u64),
        ("generated-copy.pcap.gz", "pcap", ing.gen.packets, ing.gen.flows as u64),
        ("captures.zip!nw/member.pcapng", "pcapng", 4, 2),
    ] {
        let m = by_name(suffix);
        assert_eq!(m.format, format, "{suffix}");
        assert_eq!((m.records, m.ok, m.bad, m.flows), (records, records, 0, flows), "{suffix}");
        assert_eq!(m.error, None, "{suffix}");
        assert_eq!(m.sources.get("pcap"), Some(&records), "{suffix}");
    }
}

#[test]
fn dns_tls_and_http_events_point_at_their_packets() {
    let ing = ingested();
    let out = azir_ok(&["timeline", "--case", p(&ing.case), "--source", "pcap", "--format", "jsonl"]);
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
        .filter(|v| v["evidence_path"].as_str().is_some_and(|s| s.ends_with("generated.pcap")))
        .collect();
    let op = |v: &Value| v["Operation"].as_str().unwrap_or_default().to_string();
    let count = |name: &str| events.iter().filter(|v| op(v) == name).count();
    // 40 connections: ports 80/443/22 in turn (the 40th reuses the 39th's, port 22); 30 UDP
    // flows, every third one DNS.
    assert_eq!(count("HTTP request"), 13);
    assert_eq!(count("TLS ClientHello"), 13);
    assert_eq!(count("DNS query"), 10);
    assert_eq!(count("DNS response"), 10);
    let http = events.iter().find(|v| v["Url"] == "http://shop0.example/item/0").expect("HTTP event of connection 0");
    assert_eq!(http["HttpRequestMethod"], "GET");
    assert_eq!(http["HttpUserAgent"], "agent/0");
    assert_eq!(http["DstPortNumber"], 80);
    // Connection 0's request is the capture's fourth packet.
    assert_eq!(http["evidence_line"], 4);
    let tls = events.iter().find(|v| op(v) == "TLS ClientHello").expect("TLS event");
    assert!(tls["message"].as_str().is_some_and(|m| m.contains("for server name api1.example.net (ALPN h2)")), "{tls}");
    let answer = events.iter().find(|v| op(v) == "DNS response").expect("DNS response");
    assert_eq!(answer["EventResultDetails"], "NOERROR");
    assert!(
        answer["message"].as_str().is_some_and(|m| m.contains("host0.corp.example") && m.contains("A 192.0.2.0")),
        "{answer}"
    );
    // Every event names a packet of the file and the file's hash.
    for v in &events {
        let line = v["evidence_line"].as_u64().unwrap_or(0);
        assert!(line >= 1 && line <= ing.gen.packets, "{v}");
        assert_eq!(v["evidence_sha256"].as_str().map(str::len), Some(64));
    }
}

#[test]
fn cut_and_corrupt_captures_keep_what_was_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ev = dir.path().join("evidence");
    std::fs::create_dir_all(&ev).expect("mkdir");
    let gen = generate();
    std::fs::write(ev.join("cut.pcap"), &gen.bytes[..gen.bytes.len() - 7]).expect("write");
    let case = dir.path().join("case");
    let o = azir(&["ingest", p(&ev), "--case", p(&case)]);
    assert_eq!(o.status.code(), Some(3), "{}\n{}", text(&o.stdout), text(&o.stderr));
    assert!(!text(&o.stderr).contains("panicked"), "{}", text(&o.stderr));
    let m = Case::open(&case).expect("case").manifest().expect("manifest");
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].format, "pcap");
    let err = m[0].error.as_deref().unwrap_or_default();
    assert!(err.contains(&format!("packet {}: the file ends inside the record", gen.packets)), "{err}");
    // The cut record counts as a record, and the one quarantined.
    assert_eq!((m[0].records, m[0].ok, m[0].bad), (gen.packets, gen.packets - 1, 1));
    let q = azir_ok(&["timeline", "--case", p(&case), "--quarantine", "--format", "jsonl"]);
    assert!(q.contains(&format!("packet {}: the file ends inside", gen.packets)), "{q}");
    let rows = timeline_flows(&case);
    let packets: u64 = rows.iter().map(|r| r.packets.0 + r.packets.1).sum();
    assert_eq!(packets, gen.packets - 1);
}

// --- tshark conformance ---------------------------------------------------------------------

fn tshark_available() -> bool {
    let found = Command::new("tshark")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("AZIR_SKIP_TSHARK").is_ok_and(|v| v == "1"),
            "\n\n*** TSHARK MISSING ***\nthe pcap conformance test compares flows with `tshark -z conv`: install it \
             (`apt-get install tshark`; scripts/test does), or set AZIR_SKIP_TSHARK=1 to skip this test knowingly.\n"
        );
    }
    found
}

/// `tshark -q -z conv,tcp -z conv,udp` as per-conversation counts (first endpoint → second).
fn tshark_conversations(file: &Path) -> BTreeMap<Conv, Counts> {
    let o = Command::new("tshark")
        .args(["-n", "-r", p(file), "-q", "-z", "conv,tcp", "-z", "conv,udp"])
        .output()
        .expect("tshark runs");
    assert!(o.status.success(), "tshark failed on {}: {}", file.display(), text(&o.stderr));
    let out = text(&o.stdout);
    let mut proto = "";
    let mut m: BTreeMap<Conv, Counts> = BTreeMap::new();
    for line in out.lines() {
        if line.starts_with("TCP Conversations") {
            proto = "TCP";
        } else if line.starts_with("UDP Conversations") {
            proto = "UDP";
        }
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() < 12 || t[1] != "<->" {
            continue;
        }
        // tshark's columns: A <-> B, then "<-" (B → A) frames and bytes, "->" (A → B), total.
        let num = |i: usize| -> u64 {
            assert_eq!(t[i + 1], "bytes", "tshark rounded a byte count (use smaller flows): {line}");
            t[i].replace(',', "").parse().unwrap_or_else(|_| panic!("tshark count {:?} in {line}", t[i]))
        };
        let frames = |i: usize| -> u64 { t[i].replace(',', "").parse().unwrap_or_else(|_| panic!("frames in {line}")) };
        let (b_to_a, a_to_b) = ((frames(3), num(4)), (frames(6), num(7)));
        let ep = |s: &str| -> String {
            // IPv6 endpoints are written `2001:db8::1:443`: the port follows the last colon.
            let (ip, port) = s.rsplit_once(':').unwrap_or((s, ""));
            endpoint(ip, port.parse().ok())
        };
        let (key, swapped) = conv(proto, &ep(t[0]), &ep(t[2]));
        let c = m.entry(key).or_default();
        let (fwd, back) = if swapped { (b_to_a, a_to_b) } else { (a_to_b, b_to_a) };
        c.0 += fwd.0;
        c.1 += fwd.1;
        c.2 += back.0;
        c.3 += back.1;
    }
    m
}

#[test]
fn flows_equal_tshark_conversations() {
    if !tshark_available() {
        eprintln!("AZIR_SKIP_TSHARK=1: tshark conformance skipped");
        return;
    }
    let ing = ingested();
    let rows = timeline_flows(&ing.case);
    let corpus = corpus_captures();
    for (file, suffix) in [
        (ing.generated.clone(), "generated.pcap"),
        (corpus.join("ntp.pcap"), "ntp.pcap"),
        (corpus.join("test001-le.pcapng"), "test001-le.pcapng"),
    ] {
        let want = tshark_conversations(&file);
        assert!(!want.is_empty(), "tshark saw no conversation in {}", file.display());
        let mut got = per_conversation(&rows, suffix);
        got.retain(|k, _| k.0 == "TCP" || k.0 == "UDP");
        // Direction within a conversation is compared too: both sides order endpoints the same.
        assert_eq!(got, want, "{suffix}: azir flows vs tshark -z conv");
    }
}

/// A capture of many batches (150,000 packets, 3,000 flows spread over 50 minutes of capture
/// time, so most are emitted by the idle timeout while the file is still being read): every
/// batch is a chunk of the stream, and the stream commits whole.
#[test]
fn a_capture_of_many_batches_commits_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut bytes = build::pcap_header(1);
    let t0: i64 = 1_767_225_600_000_000;
    let (flows, per_flow) = (3000u32, 50u32);
    let mut frame_bytes = 0u64;
    for i in 0..flows {
        let client = addr(1000 + i % 250, false);
        let server = addr(5000 + i % 13, false);
        let cport = 20_000 + (i / 250) as u16;
        for k in 0..per_flow {
            let ts = t0 + i64::from(i) * 1_000_000 + i64::from(k) * 10_000;
            let f = if k % 2 == 0 {
                build::eth_ip(client, server, 17, &build::udp(cport, 9000, &[k as u8; 20]))
            } else {
                build::eth_ip(server, client, 17, &build::udp(9000, cport, &[k as u8; 40]))
            };
            frame_bytes += f.len() as u64;
            build::pcap_record(&mut bytes, ts, &f);
        }
    }
    let file = dir.path().join("big.pcap");
    std::fs::write(&file, &bytes).expect("write");
    let case = dir.path().join("case");
    azir_ok(&["ingest", p(&file), "--case", p(&case)]);
    let m = Case::open(&case).expect("case").manifest().expect("manifest");
    assert_eq!(m.len(), 1);
    let total = u64::from(flows * per_flow);
    assert_eq!((m[0].format.as_str(), m[0].records, m[0].ok, m[0].flows, m[0].bad), ("pcap", total, total, 3000, 0));
    let rows = timeline_flows(&case);
    assert_eq!(rows.len(), 3000);
    assert!(rows.iter().all(|r| r.packets == (25, 25)), "every flow whole");
    assert_eq!(rows.iter().map(|r| r.bytes.0 + r.bytes.1).sum::<u64>(), frame_bytes);
}
