//! Azure Firewall logs, legacy and structured.
//!
//! **Legacy** categories (`AzureFirewallApplicationRule`, `AzureFirewallNetworkRule`,
//! `AzureFirewallDnsProxy`; `msg_s` in `AzureDiagnostics`) carry one line of free text in
//! `properties.msg`, read here by a tolerant hand-written grammar:
//!
//! ```text
//! <PROTO>[ Type=<n>] request from <ip>[:<port>] to <host|ip>[:<port>][. Url: <url>]. Action: <a>[. <tail>]
//! <PROTO> request from <ip>:<port> to <ip>:<port> was DNAT'ed to <ip>:<port>[. <tail>]
//! <PROTO> request from <ip>:<port> was denied. Reason: <reason>
//! DNS Request: <ip>:<port> - <id> <type> <class> <name> <proto> <size> <do> <bufsize> <rcode> ...
//! Error: <n> <name> <type>: <error text>
//! ```
//!
//! where `<tail>` is a sequence of `. `-separated `Key: value` sentences (`Reason`, `Policy`,
//! `Rule Collection Group`, `Rule Collection`, `Rule`, `Web Category`, `ThreatIntel`,
//! `Signature`, `IDS`, `Priority`, `Classification`) and the sentence
//! `No rule matched. Proceeding with default action`. Unknown sentences are folded into the
//! value before them, so an odd description does not derail the rest. A message that matches
//! none of the forms still yields an event whose `message` is the text as written.
//!
//! **Structured** records (`AZFWNetworkRule`, `AZFWApplicationRule`, `AZFWNatRule`,
//! `AZFWThreatIntel`, `AZFWIdpsSignature`, `AZFWDnsQuery`, …) arrive as envelope `properties`
//! or as Log Analytics columns (`SourceIp`, `DestinationPort`, `Action`, `RuleCollection`…).
//!
//! Every record gives one event. Network-rule and NAT records also give one
//! [`NetworkSession`](azir_model::NetworkSession) (action `Allow`/`Deny`, DNAT counted as
//! `Allow`; the destination is the address the client connected to, the DNAT target is in the
//! event's `result_details` and `message`). Application rules are `HTTPsession` events with
//! `url` = target URL or FQDN; IDPS records are `IDS` events; DNS proxy records are `Query`
//! events whose query name appears in the message.

use super::appgw::{clip, ip_and_port, is_ip, record_time, resource_name, Fields, MSG_MAX};
use super::{result_of, Output, RecordCtx};
use crate::json::{split_ip_port, subscription_of};
use serde_json::Value;

/// Which firewall log a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FwKind {
    Network,
    Nat,
    Application,
    ThreatIntel,
    Idps,
    Dns,
    Other,
}

fn kind_of(category: &str, operation: &str, msg: Option<&str>) -> FwKind {
    let c = category.to_ascii_lowercase();
    let o = operation.to_ascii_lowercase();
    let has = |k: &str| c.contains(k) || o.contains(k);
    if has("aggregation") || has("fatflow") || has("flowtrace") {
        FwKind::Other
    } else if has("natrule") || msg.is_some_and(|m| m.contains(" was DNAT'ed to ")) {
        FwKind::Nat
    } else if has("threatintel") {
        FwKind::ThreatIntel
    } else if has("idps") || has("idslog") {
        FwKind::Idps
    } else if has("dns") {
        FwKind::Dns
    } else if has("applicationrule") {
        FwKind::Application
    } else if has("networkrule") {
        FwKind::Network
    } else {
        FwKind::Other
    }
}

/// What one firewall record says about a connection, from either encoding.
#[derive(Debug, Default, Clone, PartialEq)]
struct Conn {
    protocol: Option<String>,
    /// Extra protocol detail from the legacy text (`Type=8` for ICMP).
    protocol_detail: Option<String>,
    src_ip: Option<String>,
    src_port: Option<i32>,
    /// Destination as written: an address or, for application rules, a host name.
    dst: Option<String>,
    dst_port: Option<i32>,
    url: Option<String>,
    fqdn: Option<String>,
    action: Option<String>,
    reason: Option<String>,
    policy: Option<String>,
    rule_collection_group: Option<String>,
    rule_collection: Option<String>,
    rule: Option<String>,
    web_category: Option<String>,
    threat_intel: Option<String>,
    translated_ip: Option<String>,
    translated_port: Option<i32>,
    signature: Option<String>,
    ids: Option<String>,
    priority: Option<String>,
    classification: Option<String>,
    /// DNS query name, type and response code.
    query: Option<String>,
    query_type: Option<String>,
    rcode: Option<String>,
    dns_error: Option<String>,
}

/// Legacy text → connection facts; `None` when the text matches no known form.
fn parse_msg(msg: &str) -> Option<Conn> {
    let msg = msg.trim();
    if let Some(rest) = msg.strip_prefix("DNS Request:") {
        return parse_dns_request(rest);
    }
    if let Some(rest) = msg.strip_prefix("Error:") {
        return parse_dns_error(rest);
    }
    let (head, rest) = msg.split_once(" request from ")?;
    let mut c = Conn::default();
    let mut head_words = head.split_whitespace();
    c.protocol = Some(head_words.next()?.to_ascii_uppercase());
    let detail: Vec<&str> = head_words.collect();
    if !detail.is_empty() {
        c.protocol_detail = Some(detail.join(" "));
    }
    let (src, mut tail) = word(rest);
    let (ip, port) = split_ip_port(src.trim_end_matches('.'));
    if ip.is_empty() {
        return None;
    }
    c.src_ip = Some(ip);
    c.src_port = port;
    if let Some(t) = tail.strip_prefix("to ") {
        let (dst, after) = word(t);
        let (host, port) = split_host_port(dst.trim_end_matches('.'));
        c.dst = Some(host).filter(|h| !h.is_empty());
        c.dst_port = port;
        tail = after;
    }
    if let Some(t) = tail.strip_prefix("was DNAT'ed to ") {
        let (to, after) = word(t);
        let (ip, port) = split_ip_port(to.trim_end_matches('.'));
        c.translated_ip = Some(ip).filter(|i| !i.is_empty());
        c.translated_port = port;
        c.action = Some("DNAT".into());
        tail = after;
    } else if let Some(t) = tail.strip_prefix("was ") {
        let end = t.find(['.', ' ']).unwrap_or(t.len());
        c.action = Some(
            match &t[..end] {
                "denied" => "Deny",
                "allowed" => "Allow",
                other => other,
            }
            .to_string(),
        );
        tail = &t[end..];
    }
    sentences(tail, &mut c);
    Some(c)
}

/// The first space-separated word of `s` and the rest after the space.
fn word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.split_once(' ') {
        Some((w, rest)) => (w, rest.trim_start()),
        None => (s, ""),
    }
}

/// `host:port` where host may be a name (`example.com:443`) or an address.
fn split_host_port(s: &str) -> (String, Option<i32>) {
    if s.starts_with('[') || s.matches(':').count() > 1 {
        return split_ip_port(s);
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h.to_string(), p.parse().ok()),
        _ => (s.to_string(), None),
    }
}

/// Reads the `. `-separated `Key: value` sentences of the legacy tail into `c`.
fn sentences(tail: &str, c: &mut Conn) {
    let mut last: Option<&'static str> = None;
    for raw in tail.split(". ") {
        let seg = raw.trim().trim_end_matches('.').trim();
        if seg.is_empty() {
            continue;
        }
        if seg.starts_with("No rule matched") {
            c.reason = Some("No rule matched. Proceeding with default action".into());
            last = None;
            continue;
        }
        if seg.starts_with("Proceeding with default action") {
            continue;
        }
        let known = seg.split_once(": ").and_then(|(k, v)| {
            let key = match k.trim() {
                "Action" => "Action",
                "Reason" => "Reason",
                "Url" => "Url",
                "Policy" => "Policy",
                "Rule Collection Group" => "Rule Collection Group",
                "Rule Collection" => "Rule Collection",
                "Rule" => "Rule",
                "Web Category" => "Web Category",
                "ThreatIntel" => "ThreatIntel",
                "Signature" => "Signature",
                "IDS" => "IDS",
                "Priority" => "Priority",
                "Classification" => "Classification",
                _ => return None,
            };
            Some((key, v.trim()))
        });
        match known {
            Some((key, value)) => {
                *slot(c, key) = Some(value.to_string());
                last = Some(key);
            }
            // A sentence that is no key of its own continues the value before it.
            None => {
                let target = slot(c, last.unwrap_or("Reason"));
                *target = Some(match target.take() {
                    Some(prev) => format!("{prev}. {seg}"),
                    None => seg.to_string(),
                });
            }
        }
    }
    // Older records pack `policy:group:collection` into the collection.
    if c.policy.is_none() {
        if let Some(rc) = c.rule_collection.clone() {
            let parts: Vec<&str> = rc.split(':').collect();
            if let [policy, group, collection] = parts[..] {
                if !policy.is_empty() && !group.is_empty() && !collection.is_empty() {
                    c.policy = Some(policy.to_string());
                    c.rule_collection_group = Some(group.to_string());
                    c.rule_collection = Some(collection.to_string());
                }
            }
        }
    }
}

fn slot<'c>(c: &'c mut Conn, key: &str) -> &'c mut Option<String> {
    match key {
        "Action" => &mut c.action,
        "Url" => &mut c.url,
        "Policy" => &mut c.policy,
        "Rule Collection Group" => &mut c.rule_collection_group,
        "Rule Collection" => &mut c.rule_collection,
        "Rule" => &mut c.rule,
        "Web Category" => &mut c.web_category,
        "ThreatIntel" => &mut c.threat_intel,
        "Signature" => &mut c.signature,
        "IDS" => &mut c.ids,
        "Priority" => &mut c.priority,
        "Classification" => &mut c.classification,
        _ => &mut c.reason,
    }
}

/// `10.12.3.5:7943 - 8951 AAAA IN name. udp 58 false 512 NOERROR qr,rd,ra 135 0.0049s`
fn parse_dns_request(rest: &str) -> Option<Conn> {
    let w: Vec<&str> = rest.split_whitespace().collect();
    let (ip, port) = split_ip_port(w.first()?);
    let mut c = Conn { src_ip: Some(ip), src_port: port, ..Conn::default() };
    c.query_type = w.get(3).map(|s| s.to_string());
    c.query = w.get(5).map(|s| s.to_string());
    c.protocol = w.get(6).map(|s| s.to_ascii_uppercase());
    c.rcode = w.get(10).map(|s| s.to_string());
    Some(c)
}

/// ` Error: 2 time.windows.com.reddog.microsoft.com. A: read udp ...: i/o timeout`
fn parse_dns_error(rest: &str) -> Option<Conn> {
    let rest = rest.trim();
    let (_, after_n) = word(rest);
    let (name, after_name) = word(after_n);
    let (qtype, error) = after_name.split_once(": ")?;
    Some(Conn {
        query: Some(name.to_string()).filter(|n| !n.is_empty()),
        query_type: Some(qtype.trim().to_string()),
        dns_error: Some(error.trim().to_string()).filter(|e| !e.is_empty()),
        ..Conn::default()
    })
}

/// Structured columns/properties → connection facts; `None` when none are present.
fn structured(f: &Fields) -> Option<Conn> {
    let src_ip = f.text(&["SourceIp", "SourceIpAddress"]);
    let query = f.text(&["QueryName"]);
    if src_ip.is_none() && query.is_none() && f.text(&["DestinationIp", "Fqdn"]).is_none() {
        return None;
    }
    let fqdn = f.text(&["Fqdn"]);
    Some(Conn {
        protocol: f.text(&["Protocol"]).map(|p| p.to_ascii_uppercase()),
        src_ip,
        src_port: f.int32(&["SourcePort"]),
        dst: f.text(&["DestinationIp"]).or_else(|| fqdn.clone()),
        dst_port: f.int32(&["DestinationPort"]),
        url: f.text(&["TargetUrl"]),
        fqdn,
        action: f.text(&["Action"]),
        reason: f.text(&["ActionReason", "ThreatDescription"]),
        policy: f.text(&["Policy"]),
        rule_collection_group: f.text(&["RuleCollectionGroup"]),
        rule_collection: f.text(&["RuleCollection"]),
        rule: f.text(&["Rule"]),
        web_category: f.text(&["WebCategory"]),
        translated_ip: f.text(&["TranslatedIp"]),
        translated_port: f.int32(&["TranslatedPort"]),
        signature: f.text(&["SignatureId"]),
        ids: f.text(&["Description"]),
        priority: f.text(&["Severity"]),
        classification: f.text(&["Category"]).filter(|_| f.text(&["SignatureId"]).is_some()),
        query,
        query_type: f.text(&["QueryType"]),
        rcode: f.text(&["ResponseCode"]),
        dns_error: f.text(&["ErrorMessage"]),
        ..Conn::default()
    })
}

/// ASIM result of a firewall action.
fn action_result(action: &str) -> &'static str {
    match azir_model::verdict::blocked(action) {
        Some(true) => "Failure",
        Some(false) => "Success",
        None => match action.trim().to_ascii_lowercase().as_str() {
            "dnat" | "snat" => "Success",
            "alert" => "NA",
            other => result_of(other),
        },
    }
}

/// NetworkSession `DvcAction`: Allow or Deny where the action says so.
fn dvc_action(action: &str) -> String {
    match action_result(action) {
        "Success" => "Allow".into(),
        "Failure" => "Deny".into(),
        _ => action.to_string(),
    }
}

fn endpoint(host: &str, port: Option<i32>) -> String {
    match port {
        Some(p) if host.contains(':') => format!("[{host}]:{p}"),
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// `collection/rule` (or whichever is known) as the rule name.
fn rule_name(c: &Conn) -> Option<String> {
    match (c.rule_collection.as_deref(), c.rule.as_deref()) {
        (Some(rc), Some(r)) => Some(format!("{rc}/{r}")),
        (Some(x), None) | (None, Some(x)) => Some(x.to_string()),
        (None, None) => None,
    }
}

/// Parses one firewall record.
pub fn parse(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    let f = Fields::new(v);
    let mut e = ctx.event("firewall");
    e.time = record_time(v, ctx)?;
    // A Log Analytics AZFW* row names its table in `Type`; legacy rows name it in `Category`.
    let ty = f.top_text("Type").filter(|t| {
        let t = t.to_ascii_lowercase();
        t.starts_with("azfw") || t.starts_with("azurefirewall")
    });
    e.category = ty.or_else(|| f.category());
    e.operation = f.text(&["operationName"]).or_else(|| e.category.clone());
    e.target_resource_id = f.resource_id();
    e.subscription_id = e.target_resource_id.as_deref().and_then(subscription_of);
    let msg = f.text(&["msg"]);
    let kind = kind_of(e.category.as_deref().unwrap_or(""), e.operation.as_deref().unwrap_or(""), msg.as_deref());
    let conn = structured(&f).or_else(|| msg.as_deref().and_then(parse_msg));
    let fw = match e.target_resource_id.as_deref().and_then(resource_name) {
        Some(n) => format!(" (firewall {n})"),
        None => " (firewall)".to_string(),
    };
    e.event_type = Some(
        match kind {
            FwKind::Network | FwKind::Nat | FwKind::ThreatIntel => "NetworkSession",
            FwKind::Application => "HTTPsession",
            FwKind::Idps => "IDS",
            FwKind::Dns => "Query",
            FwKind::Other => "Other",
        }
        .to_string(),
    );
    let Some(c) = conn else {
        // Nothing readable: keep the text as written (or say what the record is).
        e.result = Some("NA".into());
        e.message = match msg {
            Some(m) => m,
            None => format!("{} record{fw}", e.category.as_deref().unwrap_or("firewall")),
        };
        out.events.push(e);
        return Ok(());
    };
    e.protocol = c.protocol.clone();
    e.src_ip = c.src_ip.clone();
    e.src_port = c.src_port;
    if let Some(d) = c.dst.as_deref() {
        if let Some((ip, _)) = ip_and_port(d) {
            e.dst_ip = Some(ip);
        }
    }
    e.dst_port = c.dst_port;
    if kind == FwKind::Application || kind == FwKind::ThreatIntel {
        e.url = c.url.clone().or_else(|| c.fqdn.clone().or_else(|| c.dst.clone().filter(|d| !is_ip(d))));
    }
    let (result, details) = outcome(kind, &c);
    e.result = Some(result.to_string());
    e.result_details = details;
    e.message = message(kind, &c, e.result_details.as_deref(), &fw);

    if matches!(kind, FwKind::Network | FwKind::Nat) {
        // A session needs two addresses; half-parsed text stays an event only.
        let src = c.src_ip.as_deref().filter(|s| is_ip(s));
        let dst = c.dst.as_deref().filter(|d| is_ip(d));
        if let (Some(src), Some(dst)) = (src, dst) {
            let mut s = ctx.flow("firewall", 0);
            s.time = e.time;
            s.end_time = e.time;
            s.src_ip = src.to_string();
            s.src_port = c.src_port;
            s.dst_ip = dst.to_string();
            s.dst_port = c.dst_port;
            s.protocol = c.protocol.clone().unwrap_or_default();
            s.action =
                c.action.as_deref().map(dvc_action).or_else(|| (kind == FwKind::Nat).then(|| "Allow".to_string()));
            s.rule = rule_name(&c);
            s.dvc_id = e.target_resource_id.clone();
            s.raw = ctx.raw_text();
            s.compute_flow_id();
            out.flows.push(s);
        }
    }
    out.events.push(e);
    Ok(())
}

/// EventResult and EventResultDetails.
fn outcome(kind: FwKind, c: &Conn) -> (&'static str, Option<String>) {
    if kind == FwKind::Dns {
        return match (c.rcode.as_deref(), c.dns_error.as_deref()) {
            (_, Some(err)) => ("Failure", Some(err.to_string())),
            (Some(r), None) if r.eq_ignore_ascii_case("NOERROR") => ("Success", Some(r.into())),
            (Some(r), None) => ("Failure", Some(r.to_string())),
            (None, None) => ("NA", None),
        };
    }
    let nat = kind == FwKind::Nat || c.translated_ip.is_some();
    let action = c.action.clone().or_else(|| nat.then(|| "DNAT".to_string()));
    let result = action.as_deref().map_or("NA", action_result);
    let mut d = action.unwrap_or_default();
    if let Some(t) = c.translated_ip.as_deref() {
        d.push_str(&format!(" to {}", endpoint(t, c.translated_port)));
    }
    let why = c
        .reason
        .as_deref()
        .map(str::to_string)
        .or_else(|| c.threat_intel.as_deref().map(|t| format!("ThreatIntel: {t}")))
        .or_else(|| {
            c.signature.as_deref().map(|s| match c.ids.as_deref() {
                Some(desc) => format!("IDS {s}: {desc}"),
                None => format!("IDS {s}"),
            })
        });
    if let Some(w) = why {
        if d.is_empty() {
            d = w;
        } else {
            d.push_str(&format!(" ({w})"));
        }
    }
    (result, (!d.is_empty()).then_some(d))
}

fn message(kind: FwKind, c: &Conn, details: Option<&str>, fw: &str) -> String {
    let src = c.src_ip.as_deref().map(|ip| endpoint(ip, c.src_port)).unwrap_or_else(|| "unknown source".into());
    if kind == FwKind::Dns {
        let q = c.query.as_deref().unwrap_or("?");
        let t = c.query_type.as_deref().unwrap_or("query");
        return format!(
            "DNS {t} {} from {src} → {}{fw}",
            clip(q.trim_end_matches('.'), MSG_MAX),
            details.unwrap_or("no response code")
        );
    }
    let mut m = String::new();
    if let Some(p) = c.protocol.as_deref() {
        m.push_str(p);
        if let Some(d) = c.protocol_detail.as_deref() {
            m.push(' ');
            m.push_str(d);
        }
        m.push(' ');
    }
    m.push_str(&src);
    if let Some(d) = c.dst.as_deref() {
        m.push_str(" → ");
        m.push_str(&endpoint(d, c.dst_port));
    }
    if let Some(u) = c.url.as_deref() {
        m.push_str(&format!(" ({})", clip(u, MSG_MAX)));
    }
    m.push_str(": ");
    m.push_str(details.unwrap_or("no action"));
    if let Some(r) = rule_name(c) {
        m.push_str(&format!(" by rule {r}"));
        if let Some(p) = c.policy.as_deref() {
            m.push_str(&format!(" of policy {p}"));
        }
    }
    if let Some(w) = c.web_category.as_deref() {
        m.push_str(&format!(", web category {w}"));
    }
    m.push_str(fw);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Shape;
    use crate::parsers::appgw::run_direct;
    use crate::parsers::run_one;
    use crate::split::Container;
    use azir_model::format_micros;

    const FW: &str = "/SUBSCRIPTIONS/SUB-9/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/AZUREFIREWALLS/FW1";

    fn legacy(category: &str, op: &str, msg: &str) -> String {
        serde_json::json!({
            "category": category,
            "time": "2018-06-14T23:44:11.0590400Z",
            "resourceId": FW,
            "operationName": op,
            "properties": {"msg": msg}
        })
        .to_string()
    }

    fn run(rec: &str) -> Output {
        let out = run_one("fw.json", rec, Container::Lines);
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        assert_eq!(out.events.len(), 1);
        out
    }

    #[test]
    fn actions_in_every_vendor_word_become_allow_or_deny() {
        for (action, result, dvc) in [
            ("Allow", "Success", "Allow"),
            ("ACCEPT", "Success", "Allow"),
            ("permit", "Success", "Allow"),
            ("Deny", "Failure", "Deny"),
            ("Drop", "Failure", "Deny"),
            ("REJECTED", "Failure", "Deny"),
            ("DNAT", "Success", "Allow"),
            ("Alert", "NA", "Alert"),
            ("Log", "NA", "Log"),
        ] {
            assert_eq!((action_result(action), dvc_action(action).as_str()), (result, dvc), "{action}");
        }
    }

    #[test]
    fn legacy_network_rule_deny_gives_event_and_flow() {
        let out = run(&legacy(
            "AzureFirewallNetworkRule",
            "AzureFirewallNetworkRuleLog",
            "TCP request from 111.35.136.173:12518 to 13.78.143.217:2323. Action: Deny",
        ));
        let e = &out.events[0];
        assert_eq!(e.source, "firewall");
        assert_eq!(format_micros(e.time), "2018-06-14T23:44:11.059040Z");
        assert_eq!(e.category.as_deref(), Some("AzureFirewallNetworkRule"));
        assert_eq!(e.operation.as_deref(), Some("AzureFirewallNetworkRuleLog"));
        assert_eq!(e.event_type.as_deref(), Some("NetworkSession"));
        assert_eq!(e.protocol.as_deref(), Some("TCP"));
        assert_eq!(e.src_ip.as_deref(), Some("111.35.136.173"));
        assert_eq!(e.src_port, Some(12518));
        assert_eq!(e.dst_ip.as_deref(), Some("13.78.143.217"));
        assert_eq!(e.dst_port, Some(2323));
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(e.result_details.as_deref(), Some("Deny"));
        assert_eq!(e.target_resource_id.as_deref(), Some(FW));
        assert_eq!(e.subscription_id.as_deref(), Some("sub-9"));
        assert_eq!(e.message, "TCP 111.35.136.173:12518 → 13.78.143.217:2323: Deny (firewall FW1)");
        assert_eq!(out.flows.len(), 1);
        let s = &out.flows[0];
        assert_eq!(s.source, "firewall");
        assert_eq!(s.time, e.time);
        assert_eq!(s.end_time, e.time);
        assert_eq!(s.src_ip, "111.35.136.173");
        assert_eq!(s.src_port, Some(12518));
        assert_eq!(s.dst_ip, "13.78.143.217");
        assert_eq!(s.dst_port, Some(2323));
        assert_eq!(s.protocol, "TCP");
        assert_eq!(s.action.as_deref(), Some("Deny"));
        assert_eq!(s.rule, None);
        assert_eq!(s.dvc_id.as_deref(), Some(FW));
        assert_eq!(s.flow_id.len(), 16);
        assert_eq!(s.tuple_index, 0);
    }

    #[test]
    fn legacy_application_rule_allow_with_rule() {
        let out = run(&legacy(
            "AzureFirewallApplicationRule",
            "AzureFirewallApplicationRuleLog",
            "HTTPS request from 10.1.0.5:55640 to mydestination.com:443. Action: Allow. Rule Collection: collection1000. Rule: rule1002",
        ));
        let e = &out.events[0];
        assert_eq!(e.event_type.as_deref(), Some("HTTPsession"));
        assert_eq!(e.protocol.as_deref(), Some("HTTPS"));
        assert_eq!(e.src_ip.as_deref(), Some("10.1.0.5"));
        assert_eq!(e.src_port, Some(55640));
        assert_eq!(e.dst_ip, None);
        assert_eq!(e.dst_port, Some(443));
        assert_eq!(e.url.as_deref(), Some("mydestination.com"));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.result_details.as_deref(), Some("Allow"));
        assert_eq!(
            e.message,
            "HTTPS 10.1.0.5:55640 → mydestination.com:443: Allow by rule collection1000/rule1002 (firewall FW1)"
        );
        assert!(out.flows.is_empty(), "application rules give no flow");
    }

    #[test]
    fn legacy_application_rule_url_default_action_and_double_space() {
        let out = run(&legacy(
            "AzureFirewallApplicationRule",
            "AzureFirewallApplicationRuleLog",
            "HTTP  request from 10.13.1.4:55202 to au.download.windowsupdate.com:80. Url: au.download.windowsupdate.com/c/msdownload/x.cab. Action: Deny. No rule matched. Proceeding with default action",
        ));
        let e = &out.events[0];
        assert_eq!(e.protocol.as_deref(), Some("HTTP"));
        assert_eq!(e.url.as_deref(), Some("au.download.windowsupdate.com/c/msdownload/x.cab"));
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(e.result_details.as_deref(), Some("Deny (No rule matched. Proceeding with default action)"));
    }

    #[test]
    fn legacy_policy_fields_and_web_category() {
        let c = parse_msg("HTTPS request from 10.13.1.4:55583 to winatp-gw-cus3.microsoft.com:443. Action: Deny. Policy: my-policy. Rule Collection Group: DefaultApplicationRuleCollectionGroup. Rule Collection: block-sites. Rule: block-microsoft. Web Category: SearchEnginesAndPortals").expect("parsed");
        assert_eq!(c.policy.as_deref(), Some("my-policy"));
        assert_eq!(c.rule_collection_group.as_deref(), Some("DefaultApplicationRuleCollectionGroup"));
        assert_eq!(c.rule_collection.as_deref(), Some("block-sites"));
        assert_eq!(c.rule.as_deref(), Some("block-microsoft"));
        assert_eq!(c.web_category.as_deref(), Some("SearchEnginesAndPortals"));
        assert_eq!(c.dst.as_deref(), Some("winatp-gw-cus3.microsoft.com"));
        // Packed form: policy:group:collection.
        let c = parse_msg(
            "UDP request from 10.0.3.4:123 to 51.141.32.51:123. Action: Allow. Rule Collection: pol:rcg:rc. Rule: ntp",
        )
        .expect("parsed");
        assert_eq!(c.policy.as_deref(), Some("pol"));
        assert_eq!(c.rule_collection_group.as_deref(), Some("rcg"));
        assert_eq!(c.rule_collection.as_deref(), Some("rc"));
    }

    #[test]
    fn legacy_dnat() {
        let out = run(&legacy(
            "AzureFirewallNetworkRule",
            "AzureFirewallNatRuleLog",
            "TCP request from 193.238.46.72:50522 to 40.119.154.83:3389 was DNAT'ed to 10.0.2.4:3389. Policy: p1. Rule Collection Group: g1. Rule Collection: nat-rc. Rule: rdp",
        ));
        let e = &out.events[0];
        assert_eq!(e.event_type.as_deref(), Some("NetworkSession"));
        assert_eq!(e.dst_ip.as_deref(), Some("40.119.154.83"));
        assert_eq!(e.dst_port, Some(3389));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.result_details.as_deref(), Some("DNAT to 10.0.2.4:3389"));
        assert_eq!(
            e.message,
            "TCP 193.238.46.72:50522 → 40.119.154.83:3389: DNAT to 10.0.2.4:3389 by rule nat-rc/rdp of policy p1 (firewall FW1)"
        );
        let s = &out.flows[0];
        assert_eq!(s.action.as_deref(), Some("Allow"));
        assert_eq!(s.dst_ip, "40.119.154.83");
        assert_eq!(s.rule.as_deref(), Some("nat-rc/rdp"));
        // Bare form, no rule tail.
        let c = parse_msg("TCP request from 194.79.199.174:61563 to 20.31.19.13:3389 was DNAT'ed to 10.13.2.4:3389")
            .expect("parsed");
        assert_eq!(c.translated_ip.as_deref(), Some("10.13.2.4"));
        assert_eq!(c.translated_port, Some(3389));
        assert_eq!(c.action.as_deref(), Some("DNAT"));
    }

    #[test]
    fn legacy_icmp_forms() {
        let c = parse_msg("ICMP Type=8 request from 10.13.2.4:0 to 13.107.4.50:0. Action: Deny..").expect("parsed");
        assert_eq!(c.protocol.as_deref(), Some("ICMP"));
        assert_eq!(c.protocol_detail.as_deref(), Some("Type=8"));
        assert_eq!(c.src_port, Some(0));
        assert_eq!(c.dst.as_deref(), Some("13.107.4.50"));
        assert_eq!(c.action.as_deref(), Some("Deny"));
        let out = run(&legacy(
            "AzureFirewallNetworkRule",
            "AzureFirewallNetworkRuleLog",
            "ICMP request from 10.0.2.4 to 10.0.3.4. Action: Allow",
        ));
        let e = &out.events[0];
        assert_eq!(e.src_ip.as_deref(), Some("10.0.2.4"));
        assert_eq!(e.src_port, None);
        assert_eq!(e.dst_ip.as_deref(), Some("10.0.3.4"));
        assert_eq!(e.dst_port, None);
        assert_eq!(e.message, "ICMP 10.0.2.4 → 10.0.3.4: Allow (firewall FW1)");
        assert_eq!(out.flows[0].protocol, "ICMP");
        assert_eq!(out.flows[0].action.as_deref(), Some("Allow"));
    }

    #[test]
    fn legacy_threat_intel_and_ids() {
        let out = run(&legacy(
            "AzureFirewallNetworkRule",
            "AzureFirewallThreatIntelLog",
            "TCP request from 10.0.0.4:50000 to 198.51.100.66:443. Action: Deny. ThreatIntel: Bot Networks",
        ));
        let e = &out.events[0];
        assert_eq!(e.event_type.as_deref(), Some("NetworkSession"));
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(e.result_details.as_deref(), Some("Deny (ThreatIntel: Bot Networks)"));
        assert!(out.flows.is_empty(), "threat-intel hits are not flows");

        let out = run(&legacy(
            "AzureFirewallNetworkRule",
            "AzureFirewallIDSLog",
            "TCP request from 10.0.0.4:50001 to 203.0.113.5:80. Action: Alert. Signature: 2008983. IDS: USER_AGENTS Suspicious User Agent (BlackSun). Priority: 2. Classification: A Network Trojan was detected",
        ));
        let e = &out.events[0];
        assert_eq!(e.event_type.as_deref(), Some("IDS"));
        assert_eq!(e.result.as_deref(), Some("NA"));
        assert_eq!(
            e.result_details.as_deref(),
            Some("Alert (IDS 2008983: USER_AGENTS Suspicious User Agent (BlackSun))")
        );
    }

    #[test]
    fn legacy_sni_missing() {
        let c = parse_msg("HTTPS request from 10.0.0.5:51234 was denied. Reason: SNI TLS extension was missing.")
            .expect("parsed");
        assert_eq!(c.action.as_deref(), Some("Deny"));
        assert_eq!(c.reason.as_deref(), Some("SNI TLS extension was missing"));
        assert_eq!(c.dst, None);
    }

    #[test]
    fn legacy_dns_proxy() {
        let out = run(&legacy(
            "AzureFirewallDnsProxy",
            "AzureFirewallDnsProxyLog",
            "DNS Request: 10.12.3.5:7943 - 8951 AAAA IN tsfe.trafficshaping.dsp.mp.microsoft.com. udp 58 false 512 NOERROR qr,rd,ra 135 0.004987569s",
        ));
        let e = &out.events[0];
        assert_eq!(e.event_type.as_deref(), Some("Query"));
        assert_eq!(e.src_ip.as_deref(), Some("10.12.3.5"));
        assert_eq!(e.src_port, Some(7943));
        assert_eq!(e.protocol.as_deref(), Some("UDP"));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.result_details.as_deref(), Some("NOERROR"));
        assert_eq!(
            e.message,
            "DNS AAAA tsfe.trafficshaping.dsp.mp.microsoft.com from 10.12.3.5:7943 → NOERROR (firewall FW1)"
        );
        assert!(out.flows.is_empty());

        let out = run(&legacy(
            "AzureFirewallDnsProxy",
            "AzureFirewallDnsProxyLog",
            " Error: 2 time.windows.com.reddog.microsoft.com. A: read udp 10.0.1.5:49126->168.63.129.160:53: i/o timeout",
        ));
        let e = &out.events[0];
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(e.result_details.as_deref(), Some("read udp 10.0.1.5:49126->168.63.129.160:53: i/o timeout"));
        assert!(
            e.message.starts_with("DNS A time.windows.com.reddog.microsoft.com from unknown source → read udp"),
            "{}",
            e.message
        );
    }

    #[test]
    fn unparseable_msg_keeps_raw_text_and_is_not_an_error() {
        let text = "Something new: <b>firewall</b> said hello";
        let out = run(&legacy("AzureFirewallNetworkRule", "AzureFirewallNetworkRuleLog", text));
        let e = &out.events[0];
        assert_eq!(e.message, text);
        assert_eq!(e.result.as_deref(), Some("NA"));
        assert_eq!(e.src_ip, None);
        assert!(out.flows.is_empty());
        assert!(e.raw.contains("Something new"));
        // Half a grammar: still no panic, no flow without a destination.
        let out = run(&legacy("AzureFirewallNetworkRule", "AzureFirewallNetworkRuleLog", "TCP request from "));
        assert!(out.flows.is_empty());
        assert_eq!(out.events[0].message, "TCP request from");
        for odd in [
            "TCP request from 1.2.3.4:x to :. Action: ",
            " request from  to ",
            "Error:",
            "DNS Request:",
            "TCP request from 1.2.3.4:5 to 6.7.8.9:10. Foo. Bar: baz. . Action: Allow",
        ] {
            let _ = parse_msg(odd);
        }
        let c = parse_msg("TCP request from 1.2.3.4:5 to 6.7.8.9:10. Action: Allow. Rule: r1. odd sentence")
            .expect("parsed");
        assert_eq!(c.rule.as_deref(), Some("r1. odd sentence"));
    }

    #[test]
    fn structured_network_rule_envelope() {
        let rec = format!(
            r#"{{"category":"AZFWNetworkRule","time":"2024-03-20T23:39:59.8494370Z","resourceId":"{FW}","properties":{{"Action":"Allow","ActionReason":"","DestinationIp":"10.2.0.4","DestinationPort":"443","Policy":"pol","Protocol":"tcp","Rule":"allow-web","RuleCollection":"web","RuleCollectionGroup":"DefaultNetworkRuleCollectionGroup","SourceIp":"10.1.0.4","SourcePort":"50123"}}}}"#
        );
        let out = run(&rec);
        let e = &out.events[0];
        assert_eq!(e.category.as_deref(), Some("AZFWNetworkRule"));
        assert_eq!(e.operation.as_deref(), Some("AZFWNetworkRule"));
        assert_eq!(e.protocol.as_deref(), Some("TCP"));
        assert_eq!(e.src_ip.as_deref(), Some("10.1.0.4"));
        assert_eq!(e.src_port, Some(50123));
        assert_eq!(e.dst_ip.as_deref(), Some("10.2.0.4"));
        assert_eq!(e.dst_port, Some(443));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.result_details.as_deref(), Some("Allow"));
        assert_eq!(
            e.message,
            "TCP 10.1.0.4:50123 → 10.2.0.4:443: Allow by rule web/allow-web of policy pol (firewall FW1)"
        );
        let s = &out.flows[0];
        assert_eq!(s.protocol, "TCP");
        assert_eq!(s.action.as_deref(), Some("Allow"));
        assert_eq!(s.rule.as_deref(), Some("web/allow-web"));
        assert_eq!(s.dvc_id.as_deref(), Some(FW));
        assert_eq!((s.src_port, s.dst_port), (Some(50123), Some(443)));
    }

    #[test]
    fn structured_network_rule_log_analytics_default_action() {
        let rec = format!(
            r#"{{"TimeGenerated":"2024-03-20T23:39:59Z","Type":"AZFWNetworkRule","Protocol":"UDP","SourceIp":"10.1.0.4","SourcePort":5353,"DestinationIp":"8.8.8.8","DestinationPort":53,"Action":"Deny","ActionReason":"Default Action","_ResourceId":"{FW}"}}"#
        );
        let out = run(&rec);
        let e = &out.events[0];
        assert_eq!(e.source_format, "loganalytics");
        assert_eq!(e.category.as_deref(), Some("AZFWNetworkRule"));
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(e.result_details.as_deref(), Some("Deny (Default Action)"));
        assert_eq!(out.flows[0].action.as_deref(), Some("Deny"));
        assert_eq!(out.flows[0].protocol, "UDP");
        assert_eq!(out.flows[0].source_format, "loganalytics");
    }

    #[test]
    fn structured_nat_and_application_rules() {
        let rec = r#"{"TimeGenerated":"2024-03-20T23:39:59Z","Type":"AZFWNatRule","Protocol":"TCP","SourceIp":"203.0.113.8","SourcePort":40000,"DestinationIp":"20.1.2.3","DestinationPort":3389,"TranslatedIp":"10.0.2.4","TranslatedPort":3389,"RuleCollection":"dnat","Rule":"rdp"}"#;
        let out = run(rec);
        let e = &out.events[0];
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.result_details.as_deref(), Some("DNAT to 10.0.2.4:3389"));
        assert_eq!(out.flows[0].action.as_deref(), Some("Allow"));
        assert_eq!(out.flows[0].dst_ip, "20.1.2.3");

        let rec = r#"{"category":"AZFWApplicationRule","time":"2024-03-20T23:39:59.8494370Z","properties":{"Action":"Deny","ActionReason":"","DestinationPort":443,"Fqdn":"evil.example","IsTlsInspected":false,"Protocol":"HTTPS","Rule":"","SourceIp":"10.1.0.9","SourcePort":50000,"TargetUrl":"","WebCategory":"Malware"}}"#;
        let out = run(rec);
        let e = &out.events[0];
        assert_eq!(e.event_type.as_deref(), Some("HTTPsession"));
        assert_eq!(e.url.as_deref(), Some("evil.example"));
        assert_eq!(e.dst_ip, None);
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(e.message, "HTTPS 10.1.0.9:50000 → evil.example:443: Deny, web category Malware (firewall)");
        assert!(out.flows.is_empty());
    }

    #[test]
    fn azure_diagnostics_suffixed_msg() {
        let rec = format!(
            r#"{{"TimeGenerated":"2022-01-01T00:00:00Z","Type":"AzureDiagnostics","Category":"AzureFirewallNetworkRule","OperationName":"AzureFirewallNetworkRuleLog","ResourceId":"{FW}","msg_s":"UDP request from 10.13.1.4:62674 to 10.13.2.4:3389. Action: Allow."}}"#
        );
        let out = run(&rec);
        let e = &out.events[0];
        assert_eq!(e.source_format, "loganalytics");
        assert_eq!(e.category.as_deref(), Some("AzureFirewallNetworkRule"));
        assert_eq!(e.protocol.as_deref(), Some("UDP"));
        assert_eq!(e.dst_port, Some(3389));
        assert_eq!(e.result_details.as_deref(), Some("Allow"));
        assert_eq!(out.flows[0].action.as_deref(), Some("Allow"));
        assert_eq!(out.flows[0].dvc_id.as_deref(), Some(FW));
    }

    #[test]
    fn missing_time_is_an_error_naming_the_fields() {
        let (r, out) = run_direct(
            parse,
            r#"{"category":"AzureFirewallNetworkRule","properties":{"msg":"TCP request from 1.2.3.4:1 to 5.6.7.8:2. Action: Deny"}}"#,
            Shape::Envelope,
        );
        assert!(r.expect_err("no time").contains("none of time, timeStamp"));
        assert!(out.events.is_empty() && out.flows.is_empty());
    }
}
