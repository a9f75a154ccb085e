//! Flows: NSG flow logs v2 (`nsg-web`, `nsg-app`), a VNet flow log v4 (subnet `snet-data`) and
//! AWS VPC flow logs. Flows are modelled once and rendered as B/C/E tuples with delta counters.

use std::collections::BTreeMap;
use std::io;

use serde_json::{json, Value};

use crate::fmt::{blob_hour, hour_floor, hours, iso7, mins, ms, parse, secs, Ts};
use crate::out::{records_object, resource_prefix, Out};
use crate::resources::bastion_sessions;
use crate::rng::name_guid;
use crate::tenant::*;
use crate::{Ctx, ATTACKER_IP, AWS_ACCOUNT, AWS_INSTANCE_IP, EXFIL_DST, OPENED_RULE, SCANNER_IP, SUB_PROD};

#[derive(Clone)]
struct Flow {
    start: Ts,
    dur_ms: i64,
    src: String,
    dst: String,
    sport: i64,
    dport: i64,
    udp: bool,
    allowed: bool,
    pkts_s2d: i64,
    bytes_s2d: i64,
    pkts_d2s: i64,
    bytes_d2s: i64,
}

/// One NIC's view of a flow.
struct Seen {
    flow: Flow,
    inbound: bool,
    rule: String,
}

#[allow(clippy::too_many_arguments)]
fn flow(start: Ts, dur_ms: i64, src: &str, dst: &str, sport: i64, dport: i64, bytes_s2d: i64, bytes_d2s: i64) -> Flow {
    Flow {
        start,
        dur_ms,
        src: src.to_string(),
        dst: dst.to_string(),
        sport,
        dport,
        udp: false,
        allowed: true,
        pkts_s2d: (bytes_s2d / 900).max(1),
        bytes_s2d,
        pkts_d2s: (bytes_d2s / 1100).max(1),
        bytes_d2s,
    }
}

fn denied(start: Ts, src: &str, dst: &str, sport: i64, dport: i64) -> Flow {
    Flow {
        allowed: false,
        pkts_s2d: 0,
        bytes_s2d: 0,
        pkts_d2s: 0,
        bytes_d2s: 0,
        ..flow(start, 0, src, dst, sport, dport, 0, 0)
    }
}

/// Tuple instants: begin, a continuation every 5 minutes, end; with the counters accrued since the
/// previous tuple (None for begin).
/// Packets and bytes source-to-destination, then destination-to-source.
type Counters = (i64, i64, i64, i64);

fn phases(f: &Flow) -> Vec<(Ts, char, Option<Counters>)> {
    if !f.allowed {
        return vec![(f.start, 'D', None)];
    }
    let end = f.start + ms(f.dur_ms.max(1));
    let mut out = vec![(f.start, 'B', None)];
    let total = f.dur_ms.max(1) as f64;
    let mut acc = (0i64, 0i64, 0i64, 0i64);
    let share = |x: i64, frac: f64| (x as f64 * frac).round() as i64;
    let mut next = f.start + mins(5);
    while next < end {
        let frac = (next - f.start).num_milliseconds() as f64 / total;
        let cur =
            (share(f.pkts_s2d, frac), share(f.bytes_s2d, frac), share(f.pkts_d2s, frac), share(f.bytes_d2s, frac));
        out.push((next, 'C', Some((cur.0 - acc.0, cur.1 - acc.1, cur.2 - acc.2, cur.3 - acc.3))));
        acc = cur;
        next += mins(5);
    }
    out.push((end, 'E', Some((f.pkts_s2d - acc.0, f.bytes_s2d - acc.1, f.pkts_d2s - acc.2, f.bytes_d2s - acc.3))));
    out
}

fn nsg_tuples(s: &Seen) -> Vec<(Ts, String)> {
    let f = &s.flow;
    let proto = if f.udp { 'U' } else { 'T' };
    let dir = if s.inbound { 'I' } else { 'O' };
    phases(f)
        .into_iter()
        .map(|(t, state, c)| {
            let (decision, state) = if state == 'D' { ('D', 'B') } else { ('A', state) };
            let counters = match c {
                Some((a, b, c, d)) => format!("{a},{b},{c},{d}"),
                None => ",,,".to_string(),
            };
            (
                t,
                format!(
                    "{},{},{},{},{},{proto},{dir},{decision},{state},{counters}",
                    t.timestamp(),
                    f.src,
                    f.dst,
                    f.sport,
                    f.dport
                ),
            )
        })
        .collect()
}

fn vnet_tuples(s: &Seen) -> Vec<(Ts, String)> {
    let f = &s.flow;
    let proto = if f.udp { 17 } else { 6 };
    let dir = if s.inbound { 'I' } else { 'O' };
    phases(f)
        .into_iter()
        .map(|(t, state, c)| {
            let (a, b, cc, d) = c.unwrap_or((0, 0, 0, 0));
            (
                t,
                format!(
                    "{},{},{},{},{},{proto},{dir},{state},NX,{a},{b},{cc},{d}",
                    t.timestamp_millis(),
                    f.src,
                    f.dst,
                    f.sport,
                    f.dport
                ),
            )
        })
        .collect()
}

/// Groups tuples into records (one per 5-minute slot and NIC, like the 1-minute collection
/// interval but coarser) and records into hourly blobs.
fn records_by_hour(tuples: Vec<(Ts, String, String)>) -> BTreeMap<Ts, BTreeMap<Ts, BTreeMap<String, Vec<String>>>> {
    let mut map: BTreeMap<Ts, BTreeMap<Ts, BTreeMap<String, Vec<String>>>> = BTreeMap::new();
    let mut sorted = tuples;
    sorted.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
    for (t, rule, tuple) in sorted {
        let hour = hour_floor(t);
        let slot = hour + mins((t - hour).num_minutes() / 5 * 5 + 5);
        map.entry(hour).or_default().entry(slot).or_default().entry(rule).or_default().push(tuple);
    }
    map
}

const INTERNET_443: &[&str] = &["20.60.153.33", "52.239.220.4", "13.107.4.50", "91.189.91.83", "40.79.154.87"];
const NOISE_PORTS: &[i64] = &[22, 23, 3389, 445, 8080, 5900, 1433, 2375, 6379, 9200];

struct Nic {
    vm: &'static Vm,
    rg: &'static str,
    seen: Vec<Seen>,
}

fn seen(flow: Flow, inbound: bool, rule: &str) -> Seen {
    Seen { flow, inbound, rule: rule.to_string() }
}

fn build_flows(ctx: &Ctx) -> (Vec<Nic>, Nic) {
    let mut rng = ctx.rng("flows");
    let mut web1 = Nic { vm: &VM_WEB1, rg: "rg-prod-web", seen: Vec::new() };
    let mut web2 = Nic { vm: &VM_WEB2, rg: "rg-prod-web", seen: Vec::new() };
    let mut app = Nic { vm: &VM_APP, rg: "rg-prod-app", seen: Vec::new() };
    let mut db = Nic { vm: &VM_DB, rg: "rg-prod-app", seen: Vec::new() };
    let nsg_open = parse(crate::NSG_OPEN_TIME);
    let nsg_closed = parse("2026-03-13T09:40:00Z");
    let opened_rule = format!("UserRule_{OPENED_RULE}");

    for hour in ctx.hours() {
        let w = Ctx::web_diurnal(hour);
        for (k, nic) in [&mut web1, &mut web2].into_iter().enumerate() {
            let ip = nic.vm.ip;
            // Application Gateway -> web:80.
            for _ in 0..rng.count(10.0 * w * ctx.scale) {
                let t = hour + ms(rng.range(0, 3_600_000));
                let f = flow(
                    t,
                    rng.range(50, 180_000),
                    rng.pick_str(APPGW_INSTANCE_IPS),
                    ip,
                    rng.range(30_000, 60_000),
                    80,
                    rng.range(600, 30_000),
                    rng.range(2_000, 400_000),
                );
                nic.seen.push(seen(f, true, "UserRule_Allow-AppGw-Http"));
            }
            // web -> app:8080 (seen by both NSGs).
            for _ in 0..rng.count(5.0 * w * ctx.scale) {
                let t = hour + ms(rng.range(0, 3_600_000));
                let f = flow(
                    t,
                    rng.range(20, 60_000),
                    ip,
                    VM_APP.ip,
                    rng.range(30_000, 60_000),
                    8080,
                    rng.range(400, 8_000),
                    rng.range(1_000, 120_000),
                );
                nic.seen.push(seen(f.clone(), false, "DefaultRule_AllowVnetOutBound"));
                app.seen.push(seen(f, true, "UserRule_Allow-Web-To-App"));
            }
            // Updates and telemetry.
            for _ in 0..rng.count(1.2 * ctx.scale) {
                let t = hour + ms(rng.range(0, 3_600_000));
                let f = flow(
                    t,
                    rng.range(200, 90_000),
                    ip,
                    rng.pick_str(INTERNET_443),
                    rng.range(30_000, 60_000),
                    443,
                    rng.range(2_000, 40_000),
                    rng.range(5_000, 4_000_000),
                );
                nic.seen.push(seen(f, false, "DefaultRule_AllowInternetOutBound"));
            }
            // Internet background scanning against vm-web-01's public IP.
            if k == 0 {
                for _ in 0..rng.count(4.0 * ctx.scale) {
                    let t = hour + ms(rng.range(0, 3_600_000));
                    let src = rng.pick(NOISE_SCANNERS);
                    let port = *rng.pick(NOISE_PORTS);
                    let open = t >= nsg_open && t < nsg_closed && (port == 22 || port == 3389);
                    if open {
                        let f = flow(
                            t,
                            rng.range(300, 9_000),
                            src,
                            ip,
                            rng.range(30_000, 60_000),
                            port,
                            rng.range(1_500, 6_000),
                            rng.range(1_500, 5_000),
                        );
                        nic.seen.push(seen(f, true, &opened_rule));
                    } else {
                        nic.seen.push(seen(
                            denied(t, src, ip, rng.range(30_000, 60_000), port),
                            true,
                            "DefaultRule_DenyAllInBound",
                        ));
                    }
                }
            }
        }
        // app -> db:1433 (NSG flow log on app, VNet flow log on the data subnet).
        for _ in 0..rng.count(8.0 * w * ctx.scale) {
            let t = hour + ms(rng.range(0, 3_600_000));
            let f = flow(
                t,
                rng.range(30, 400_000),
                VM_APP.ip,
                VM_DB.ip,
                rng.range(30_000, 60_000),
                1433,
                rng.range(800, 40_000),
                rng.range(2_000, 900_000),
            );
            app.seen.push(seen(f.clone(), false, "DefaultRule_AllowVnetOutBound"));
            db.seen.push(seen(f, true, "UserRule_Allow-App-To-Sql"));
        }
        // app -> Key Vault / Storage over the Internet path.
        for _ in 0..rng.count(3.0 * ctx.scale) {
            let t = hour + ms(rng.range(0, 3_600_000));
            let f = flow(
                t,
                rng.range(100, 30_000),
                VM_APP.ip,
                rng.pick_str(INTERNET_443),
                rng.range(30_000, 60_000),
                443,
                rng.range(1_000, 12_000),
                rng.range(2_000, 500_000),
            );
            app.seen.push(seen(f, false, "DefaultRule_AllowInternetOutBound"));
        }
        // db: updates, and a misconfigured web tier knocking on 1433 now and then.
        for _ in 0..rng.count(0.8 * ctx.scale) {
            let t = hour + ms(rng.range(0, 3_600_000));
            let f = flow(
                t,
                rng.range(200, 60_000),
                VM_DB.ip,
                rng.pick_str(INTERNET_443),
                rng.range(30_000, 60_000),
                443,
                rng.range(2_000, 30_000),
                rng.range(5_000, 6_000_000),
            );
            db.seen.push(seen(f, false, "UserRule_Allow-Https-Outbound"));
        }
        if rng.chance(0.3) {
            let t = hour + ms(rng.range(0, 3_600_000));
            db.seen.push(seen(
                denied(t, VM_WEB2.ip, VM_DB.ip, rng.range(30_000, 60_000), 1433),
                true,
                "UserRule_Deny-Web-To-Data",
            ));
        }
    }

    // Bastion sessions arrive from the Bastion subnet.
    for s in bastion_sessions(ctx) {
        let f = flow(
            s.t + ms(700),
            (s.end - s.t).num_milliseconds(),
            s.instance_ip,
            s.vm.ip,
            rng.range(30_000, 60_000),
            22,
            rng.range(20_000, 400_000),
            rng.range(40_000, 2_000_000),
        );
        let nic = match s.vm.name {
            "vm-web-01" => &mut web1,
            "vm-web-02" => &mut web2,
            "vm-app-01" => &mut app,
            _ => &mut db,
        };
        // While the attacker's rule (priority 100, SSH/RDP from anywhere) is in nsg-web, it
        // decides these too, ahead of AllowVnetInBound.
        let by_attacker_rule =
            matches!(s.vm.name, "vm-web-01" | "vm-web-02") && f.start >= nsg_open && f.start < nsg_closed;
        nic.seen.push(seen(f, true, if by_attacker_rule { &opened_rule } else { "DefaultRule_AllowVnetInBound" }));
    }

    // The attack.
    let t = parse("2026-03-12T03:58:03Z");
    web1.seen.push(seen(flow(t, 337_000, ATTACKER_IP, VM_WEB1.ip, 51_422, 22, 48_113, 131_877), true, &opened_rule));
    let t = parse("2026-03-12T03:57:41Z");
    web1.seen.push(seen(flow(t, 2_100, ATTACKER_IP, VM_WEB1.ip, 51_398, 3389, 1_432, 1_874), true, &opened_rule));
    // Run command fetches a tool from the attacker (vm-app-01, vm-db-01).
    app.seen.push(seen(
        flow(parse("2026-03-12T04:06:52Z"), 3_400, VM_APP.ip, ATTACKER_IP, 44_120, 80, 1_210, 2_814_330),
        false,
        "DefaultRule_AllowInternetOutBound",
    ));
    db.seen.push(seen(
        flow(parse("2026-03-12T04:12:17Z"), 3_100, VM_DB.ip, ATTACKER_IP, 40_812, 443, 1_490, 2_814_330),
        false,
        "UserRule_Allow-Https-Outbound",
    ));
    // Exfiltration.
    let ex = parse(crate::EXFIL_START);
    let f = flow(ex, 22 * 60_000 + 31_000, VM_APP.ip, EXFIL_DST, 45_002, 443, 2_147_483_648 + 91_337_211, 3_912_004);
    app.seen.push(seen(f, false, "DefaultRule_AllowInternetOutBound"));
    for (k, s) in [0i64, 9, 31].iter().enumerate() {
        let t = parse("2026-03-12T04:47:10Z") + secs(*s);
        db.seen.push(seen(
            denied(t, VM_DB.ip, EXFIL_DST, 41_110 + k as i64, 4444),
            false,
            "UserRule_Deny-Internet-Outbound",
        ));
    }
    let f = flow(
        parse("2026-03-12T04:48:00Z"),
        21 * 60_000 + 30_000,
        VM_DB.ip,
        EXFIL_DST,
        41_207,
        443,
        3_650_722_816,
        5_204_117,
    );
    db.seen.push(seen(f, false, "UserRule_Allow-Https-Outbound"));

    // The scanner's port scan of vm-web-01's public address, alongside its gateway scan.
    scanner_port_scan(ctx, &mut web1);

    for nic in [&mut web1, &mut web2, &mut app, &mut db] {
        nic.seen.retain(|s| ctx.in_window(s.flow.start));
    }
    (vec![web1, web2, app], db)
}

/// The TCP ports of nmap's fast scan (`-F`, the 100 most common).
const NMAP_TOP_100: [i64; 100] = [
    7, 9, 13, 21, 22, 23, 25, 26, 37, 53, 79, 80, 81, 88, 106, 110, 111, 113, 119, 135, 139, 143, 144, 179, 199, 389,
    427, 443, 444, 445, 465, 513, 514, 515, 543, 544, 548, 554, 587, 631, 646, 873, 990, 993, 995, 1025, 1026, 1027,
    1028, 1029, 1110, 1433, 1720, 1723, 1755, 1900, 2000, 2001, 2049, 2121, 2717, 3000, 3128, 3306, 3389, 3986, 4899,
    5000, 5009, 5051, 5060, 5101, 5190, 5357, 5432, 5631, 5666, 5800, 5900, 6000, 6001, 6646, 7070, 8000, 8008, 8009,
    8080, 8081, 8443, 8888, 9100, 9999, 10000, 32768, 49152, 49153, 49154, 49155, 49156, 49157,
];

/// [`SCANNER_IP`] port-scans vm-web-01's public address while it probes the gateways: a slow SYN
/// scan of nmap's top 100 ports in random order from one source port (a second one retransmits
/// about a third of the probes), then a sweep of 22 and 3389 over Contoso's public
/// addresses, of which only vm-web-01's reaches an NSG-logged NIC (vm-web-02 has no public IP).
/// Nothing answers: every probe is a single denied tuple of `DefaultRule_DenyAllInBound` (port
/// 80 is open to the gateway subnet only). Its own random stream, so the rest is unchanged.
fn scanner_port_scan(ctx: &Ctx, web1: &mut Nic) {
    let mut rng = ctx.rng("flows-scanner");
    let deny = "DefaultRule_DenyAllInBound";
    let start = parse(crate::RECON_START) + ms(rng.range(1_000, 9_000));
    let probe_port = rng.range(40_000, 65_000);
    let retry_port = probe_port + rng.range(1, 400);
    let mut ports = NMAP_TOP_100;
    for i in (1..ports.len()).rev() {
        ports.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut t = start;
    let mut retries = Vec::new();
    for port in ports {
        t += ms(rng.range(800, 2_600));
        web1.seen.push(seen(denied(t, SCANNER_IP, VM_WEB1.ip, probe_port, port), true, deny));
        if rng.chance(0.35) {
            retries.push(port);
        }
    }
    for port in retries {
        t += ms(rng.range(300, 1_500));
        web1.seen.push(seen(denied(t, SCANNER_IP, VM_WEB1.ip, retry_port, port), true, deny));
    }
    // The management-port sweep, a minute later, from a new scan's source port.
    let sweep_port = rng.range(40_000, 65_000);
    t += secs(rng.range(50, 80));
    for (k, port) in [22i64, 3389, 22, 3389].into_iter().enumerate() {
        let sport = if k < 2 { sweep_port } else { sweep_port + 1 };
        t += ms(rng.range(2_000, 9_000));
        web1.seen.push(seen(denied(t, SCANNER_IP, VM_WEB1.ip, sport, port), true, deny));
    }
}

fn write_nsg(ctx: &Ctx, out: &mut Out, nic: &Nic) -> io::Result<()> {
    let nsg_rid = nsg_id(SUB_PROD, nic.rg, nic.vm.nsg);
    let prefix = resource_prefix(&nsg_rid);
    let system_id = name_guid(&format!("nsg-system:{}", nic.vm.nsg));
    let mut tuples = Vec::new();
    for s in &nic.seen {
        for (t, tup) in nsg_tuples(s) {
            if t < ctx.end {
                tuples.push((t, s.rule.clone(), tup));
            }
        }
    }
    for (hour, slots) in records_by_hour(tuples) {
        let mut recs = Vec::new();
        for (slot, rules) in slots {
            let mut n = 0;
            let flows: Vec<Value> = rules
                .into_iter()
                .map(|(rule, tuples)| {
                    n += tuples.len() as u64;
                    json!({"rule": rule, "flows": [{"mac": nic.vm.mac, "flowTuples": tuples}]})
                })
                .collect();
            out.tuples += n;
            recs.push(json!({
                "time": iso7(slot + ms(3_120)),
                "systemId": system_id,
                "macAddress": nic.vm.mac,
                "category": "NetworkSecurityGroupFlowEvent",
                "resourceId": nsg_rid.to_uppercase(),
                "operationName": "NetworkSecurityGroupFlowEvents",
                "properties": {"Version": 2, "flows": flows},
            }));
        }
        out.count("nsg_flow", recs.len() as u64);
        let path = format!(
            "diagnostics/insights-logs-networksecuritygroupflowevent/{prefix}/{}/macAddress={}/PT1H.json",
            blob_hour(hour),
            nic.vm.mac
        );
        out.put_maybe_gz(&path, &records_object(recs), hour < ctx.gz_before)?;
    }
    Ok(())
}

fn write_vnet(ctx: &Ctx, out: &mut Out, nic: &Nic) -> io::Result<()> {
    let flowlog = format!("/SUBSCRIPTIONS/{}/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_EASTUS/FLOWLOGS/FL-SNET-DATA", SUB_PROD.to_uppercase());
    let target = rid(SUB_PROD, "rg-prod-network", "Microsoft.Network/virtualNetworks/vnet-prod/subnets/snet-data");
    let acl = name_guid("nsg-guid:nsg-data");
    let guid = name_guid("flowlog:fl-snet-data");
    let mut tuples = Vec::new();
    for s in &nic.seen {
        for (t, tup) in vnet_tuples(s) {
            if t < ctx.end {
                tuples.push((t, s.rule.clone(), tup));
            }
        }
    }
    let dir =
        format!("flowLogResourceID=/{}_NETWORKWATCHERRG/NETWORKWATCHER_EASTUS_FL-SNET-DATA", SUB_PROD.to_uppercase());
    for (hour, slots) in records_by_hour(tuples) {
        let mut recs = Vec::new();
        for (slot, rules) in slots {
            let mut n = 0;
            let groups: Vec<Value> = rules
                .into_iter()
                .map(|(rule, tuples)| {
                    n += tuples.len() as u64;
                    json!({"rule": rule, "flowTuples": tuples})
                })
                .collect();
            out.tuples += n;
            recs.push(json!({
                "time": iso7(slot + ms(5_562)),
                "flowLogVersion": 4,
                "flowLogGUID": guid,
                "macAddress": nic.vm.mac,
                "category": "FlowLogFlowEvent",
                "flowLogResourceID": flowlog,
                "targetResourceID": target,
                "operationName": "FlowLogFlowEvent",
                "flowRecords": {"flows": [{"aclID": acl, "flowGroups": groups}]},
            }));
        }
        out.count("vnet_flow", recs.len() as u64);
        let path = format!(
            "diagnostics/insights-logs-flowlogflowevent/{dir}/{}/macAddress={}/PT1H.json",
            blob_hour(hour),
            nic.vm.mac
        );
        out.put_maybe_gz(&path, &records_object(recs), hour < ctx.gz_before)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// AWS VPC flow logs (version 2 default format)

const AWS_ENI: &str = "eni-03aec391810141a74";
const AWS_PEER: &str = "54.239.28.85";
const AWS_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

#[allow(clippy::too_many_arguments)]
fn aws_line(
    src: &str,
    dst: &str,
    sport: i64,
    dport: i64,
    proto: u8,
    pkts: i64,
    bytes: i64,
    start: Ts,
    end: Ts,
    action: &str,
) -> String {
    format!(
        "2 {AWS_ACCOUNT} {AWS_ENI} {src} {dst} {sport} {dport} {proto} {pkts} {bytes} {} {} {action} OK\n",
        start.timestamp(),
        end.timestamp()
    )
}

fn write_aws(ctx: &Ctx, out: &mut Out) -> io::Result<()> {
    // The seed article's example, with its header line (addresses filled in).
    let seed = format!(
        "{AWS_HEADER}\n\
         2 {AWS_ACCOUNT} {AWS_ENI} {AWS_INSTANCE_IP} {AWS_PEER} 40048 443 6 10 1673 1611943565 1611943577 ACCEPT OK\n\
         2 {AWS_ACCOUNT} {AWS_ENI} {AWS_PEER} {AWS_INSTANCE_IP} 443 40050 6 20 22015 1611943565 1611943577 ACCEPT OK\n\
         2 {AWS_ACCOUNT} {AWS_ENI} {AWS_INSTANCE_IP} {AWS_PEER} 38196 443 6 98 6278 1611943565 1611943577 ACCEPT OK\n\
         2 {AWS_ACCOUNT} {AWS_ENI} {AWS_PEER} {AWS_INSTANCE_IP} 443 40042 6 110 153235 1611943565 1611943577 ACCEPT OK\n"
    );
    out.count("vpc_flow", 4);
    out.put("aws/vpcflow-seed-example.log", seed.as_bytes())?;

    let mut rng = ctx.rng("aws");
    let mut days: BTreeMap<Ts, Vec<(Ts, String)>> = BTreeMap::new();
    let mut push = |t: Ts, line: String| {
        let day = t
            - hours(i64::from(chrono::Timelike::hour(&t)))
            - mins(i64::from(chrono::Timelike::minute(&t)))
            - secs(i64::from(chrono::Timelike::second(&t)));
        days.entry(day).or_default().push((t, line));
    };
    for hour in ctx.hours() {
        for slot in 0..6 {
            let start = hour + mins(10 * slot) + secs(rng.range(0, 50));
            let end = start + secs(rng.range(50, 600));
            for _ in 0..rng.count(1.2 * ctx.scale) {
                let sport = rng.range(32_768, 61_000);
                let (p1, b1) = (rng.range(5, 120), rng.range(900, 20_000));
                let (p2, b2) = (rng.range(5, 160), rng.range(2_000, 250_000));
                push(start, aws_line(AWS_INSTANCE_IP, AWS_PEER, sport, 443, 6, p1, b1, start, end, "ACCEPT"));
                push(start, aws_line(AWS_PEER, AWS_INSTANCE_IP, 443, sport, 6, p2, b2, start, end, "ACCEPT"));
            }
            if rng.chance(0.25 * ctx.scale.min(3.0)) {
                let src = rng.pick(NOISE_SCANNERS);
                let port = *rng.pick(&[22i64, 3389, 23, 445]);
                push(
                    start,
                    aws_line(
                        src,
                        AWS_INSTANCE_IP,
                        rng.range(30_000, 61_000),
                        port,
                        6,
                        1,
                        40 + rng.range(0, 20),
                        start,
                        end,
                        "REJECT",
                    ),
                );
            }
            if rng.chance(0.02) {
                push(
                    start,
                    format!(
                        "2 {AWS_ACCOUNT} {AWS_ENI} - - - - - - - {} {} - NODATA\n",
                        start.timestamp(),
                        end.timestamp()
                    ),
                );
            }
        }
    }
    // The attacker logs in with the SSH key read from Key Vault and pulls data out.
    let mut t = parse("2026-03-12T05:52:00Z");
    for _ in 0..2 {
        let end = t + mins(9);
        push(
            t,
            aws_line(
                ATTACKER_IP,
                AWS_INSTANCE_IP,
                50_233,
                22,
                6,
                rng.range(300, 900),
                rng.range(60_000, 200_000),
                t,
                end,
                "ACCEPT",
            ),
        );
        push(
            t,
            aws_line(
                AWS_INSTANCE_IP,
                ATTACKER_IP,
                22,
                50_233,
                6,
                rng.range(300, 900),
                rng.range(150_000, 700_000),
                t,
                end,
                "ACCEPT",
            ),
        );
        t = end;
    }
    let t = parse("2026-03-12T06:02:10Z");
    push(t, aws_line(AWS_INSTANCE_IP, EXFIL_DST, 43_100, 443, 6, 702_114, 981_335_070, t, t + mins(7), "ACCEPT"));
    push(t, aws_line(EXFIL_DST, AWS_INSTANCE_IP, 443, 43_100, 6, 301_877, 16_602_010, t, t + mins(7), "ACCEPT"));

    for (day, mut lines) in days {
        if day < ctx.start || day >= ctx.end {
            continue;
        }
        lines.sort_by_key(|a| a.0);
        out.count("vpc_flow", lines.len() as u64);
        let text: String = lines.into_iter().map(|(_, l)| l).collect();
        let name = format!(
            "aws/vpcflow-{AWS_ACCOUNT}_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f67890_{}.log",
            day.format("%Y%m%d")
        );
        out.put_maybe_gz(&name, text.as_bytes(), day < ctx.attack_day)?;
    }
    Ok(())
}

pub(crate) fn write(ctx: &Ctx, out: &mut Out) -> io::Result<()> {
    let (nsg_nics, db) = build_flows(ctx);
    for nic in &nsg_nics {
        write_nsg(ctx, out, nic)?;
    }
    write_vnet(ctx, out, &db)?;
    write_aws(ctx, out)?;
    Ok(())
}
