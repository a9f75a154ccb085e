//! Application Gateway access logs (v2 `agw-contoso-prod`, v1-style `agw-contoso-legacy`) and WAF
//! logs, including the scanner's evening and the seed article's two examples.

use std::io;

use serde_json::{json, Value};

use crate::fmt::{iso7, iso_offset, iso_s, ms, parse, secs, Ts};
use crate::out::{resource_prefix, ser, write_hourly, Out};
use crate::rng::Rng;
use crate::tenant::*;
use crate::{Ctx, HOSTILE_URI, HOSTILE_USER_AGENT, SCANNER_IP, SUB_PROD};

const HOST: &str = "shop.contoso.com";
const LEGACY_HOST: &str = "intranet.contoso.com";

const BROWSER_UAS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3.1 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.6261.105 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
];

fn waf_policy_id() -> String {
    rid(SUB_PROD, "rg-prod-web", "Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies/waf-contoso-prod")
}

struct Req<'a> {
    t: Ts,
    client: &'a str,
    port: i64,
    method: &'a str,
    uri: &'a str,
    query: &'a str,
    ua: &'a str,
    status: u16,
    backend: Option<(&'a str, u16)>,
    recv: i64,
    sent: i64,
    taken: f64,
    txid: String,
    host: &'a str,
    instance: &'a str,
}

fn access_v2(r: &Req, rng: &mut Rng) -> Value {
    let with_args = if r.query.is_empty() { r.uri.to_string() } else { format!("{}?{}", r.uri, r.query) };
    let (routed, sstatus, latency) = match r.backend {
        Some((b, s)) => (format!("{b}:80"), s.to_string(), format!("{:.3}", r.taken * 0.8)),
        None => (String::new(), String::new(), String::new()),
    };
    json!({
        "timeStamp": iso_offset(r.t),
        "resourceId": appgw_id().to_uppercase(),
        "listenerName": "lst-https-shop",
        "ruleName": "rule-shop",
        "backendPoolName": "pool-web",
        "backendSettingName": "bs-web-80",
        "operationName": "ApplicationGatewayAccess",
        "category": "ApplicationGatewayAccessLog",
        "properties": {
            "instanceId": r.instance,
            "clientIP": r.client,
            "clientPort": r.port,
            "httpMethod": r.method,
            "originalRequestUriWithArgs": with_args,
            "requestUri": r.uri,
            "requestQuery": r.query,
            "userAgent": r.ua,
            "httpStatus": r.status,
            "httpVersion": "HTTP/1.1",
            "receivedBytes": r.recv,
            "sentBytes": r.sent,
            "clientResponseTime": (r.taken * 0.1 * 1000.0).round() / 1000.0,
            "timeTaken": (r.taken * 1000.0).round() / 1000.0,
            "WAFEvaluationTime": format!("{:.3}", rng.f64() * 0.002),
            "WAFMode": "Prevention",
            "transactionId": r.txid,
            "sslEnabled": "on",
            "sslCipher": "ECDHE-RSA-AES256-GCM-SHA384",
            "sslProtocol": "TLSv1.2",
            "sslClientVerify": "NONE",
            "sslClientCertificateFingerprint": "",
            "sslClientCertificateIssuerName": "",
            "serverRouted": routed,
            "serverStatus": sstatus,
            "serverResponseLatency": latency,
            "upstreamSourcePort": if r.backend.is_some() { rng.range(30_000, 60_000).to_string() } else { String::new() },
            "originalHost": r.host,
            "host": r.host,
            "error_info": "ERRORINFO_NO_ERROR",
            "contentType": if r.status == 200 { "text/html; charset=utf-8" } else { "text/html" },
        },
    })
}

fn access_v1(r: &Req) -> Value {
    let query = match r.backend {
        Some((b, s)) => format!(
            "SERVER-ROUTED={b}&X-AzureApplicationGateway-CACHE-HIT=0&SERVER-STATUS={s}&X-AzureApplicationGateway-LOG-ID={}",
            r.txid
        ),
        None => String::new(),
    };
    json!({
        "resourceId": appgw_legacy_id().to_uppercase(),
        "operationName": "ApplicationGatewayAccess",
        "time": iso_s(r.t),
        "category": "ApplicationGatewayAccessLog",
        "properties": {
            "instanceId": r.instance,
            "clientIP": r.client,
            "clientPort": r.port,
            "httpMethod": r.method,
            "requestUri": r.uri,
            "requestQuery": query,
            "userAgent": r.ua,
            "httpStatus": r.status,
            "httpVersion": "HTTP/1.1",
            "receivedBytes": r.recv,
            "sentBytes": r.sent,
            "timeTaken": (r.taken * 1000.0).round() as i64,
            "sslEnabled": "on",
            "host": r.host,
            "originalHost": r.host,
        },
    })
}

struct Rule {
    id: &'static str,
    group: &'static str,
    message: &'static str,
    file: &'static str,
    line: &'static str,
}

const R913100: Rule = Rule {
    id: "913100",
    group: "REQUEST-913-SCANNER-DETECTION",
    message: "Found User-Agent associated with security scanner",
    file: "rules/REQUEST-913-SCANNER-DETECTION.conf",
    line: "33",
};
const R930100: Rule = Rule {
    id: "930100",
    group: "REQUEST-930-APPLICATION-ATTACK-LFI",
    message: "Path Traversal Attack (/../)",
    file: "rules/REQUEST-930-APPLICATION-ATTACK-LFI.conf",
    line: "31",
};
const R930120: Rule = Rule {
    id: "930120",
    group: "REQUEST-930-APPLICATION-ATTACK-LFI",
    message: "OS File Access Attempt",
    file: "rules/REQUEST-930-APPLICATION-ATTACK-LFI.conf",
    line: "76",
};
const R942100: Rule = Rule {
    id: "942100",
    group: "REQUEST-942-APPLICATION-ATTACK-SQLI",
    message: "SQL Injection Attack Detected via libinjection",
    file: "rules/REQUEST-942-APPLICATION-ATTACK-SQLI.conf",
    line: "45",
};
const R941100: Rule = Rule {
    id: "941100",
    group: "REQUEST-941-APPLICATION-ATTACK-XSS",
    message: "XSS Attack Detected via libinjection",
    file: "rules/REQUEST-941-APPLICATION-ATTACK-XSS.conf",
    line: "37",
};
const R941160: Rule = Rule {
    id: "941160",
    group: "REQUEST-941-APPLICATION-ATTACK-XSS",
    message: "NoScript XSS InjectionChecker: HTML Injection",
    file: "rules/REQUEST-941-APPLICATION-ATTACK-XSS.conf",
    line: "230",
};
const R942430: Rule = Rule {
    id: "942430",
    group: "REQUEST-942-APPLICATION-ATTACK-SQLI",
    message: "Restricted SQL Character Anomaly Detection (args): # of special characters exceeded (12)",
    file: "rules/REQUEST-942-APPLICATION-ATTACK-SQLI.conf",
    line: "1002",
};
const R949110: Rule = Rule {
    id: "949110",
    group: "REQUEST-949-BLOCKING-EVALUATION",
    message: "Mandatory rule. Cannot be disabled. Inbound Anomaly Score Exceeded (Total Score: 15)",
    file: "rules/REQUEST-949-BLOCKING-EVALUATION.conf",
    line: "80",
};

fn waf_v2(t: Ts, client: &str, uri: &str, rule: &Rule, action: &str, data: &str, txid: &str) -> Value {
    json!({
        "timeStamp": iso_offset(t),
        "resourceId": appgw_id().to_uppercase(),
        "operationName": "ApplicationGatewayFirewall",
        "category": "ApplicationGatewayFirewallLog",
        "properties": {
            "instanceId": "appgw_0",
            "clientIp": client,
            "clientPort": "",
            "requestUri": uri,
            "ruleSetType": "OWASP_CRS",
            "ruleSetVersion": "3.2",
            "ruleId": rule.id,
            "ruleGroup": rule.group,
            "message": rule.message,
            "action": action,
            "site": "Global",
            "details": {"message": format!("Warning. {} at {}.", rule.message, if data.is_empty() { "REQUEST_URI" } else { "ARGS" }), "data": data, "file": rule.file, "line": rule.line},
            "hostname": HOST,
            "transactionId": txid,
            "policyId": waf_policy_id(),
            "policyScope": "Global",
            "policyScopeName": "Global",
            "engine": "Azwaf",
        },
    })
}

const WORDLIST: &[&str] = &[
    "/.env",
    "/.git/config",
    "/.git/HEAD",
    "/.svn/entries",
    "/.DS_Store",
    "/wp-login.php",
    "/wp-admin/",
    "/wp-content/plugins/",
    "/xmlrpc.php",
    "/admin/",
    "/administrator/",
    "/admin.php",
    "/login.php",
    "/phpmyadmin/",
    "/phpMyAdmin/",
    "/pma/",
    "/myadmin/",
    "/mysql/",
    "/server-status",
    "/server-info",
    "/backup.zip",
    "/backup.tar.gz",
    "/db.sql",
    "/dump.sql",
    "/config.php",
    "/config.json",
    "/config.yml",
    "/web.config",
    "/app.config",
    "/.aws/credentials",
    "/.ssh/id_rsa",
    "/actuator/env",
    "/actuator/health",
    "/api/swagger.json",
    "/swagger-ui.html",
    "/v2/api-docs",
    "/graphql",
    "/console",
    "/manager/html",
    "/jenkins/",
    "/solr/",
    "/cgi-bin/test.cgi",
    "/cgi-bin/php",
    "/shell.php",
    "/cmd.php",
    "/upload.php",
    "/test.php",
    "/info.php",
    "/phpinfo.php",
    "/owa/",
    "/ecp/",
    "/autodiscover/autodiscover.xml",
    "/remote/login",
    "/vpn/index.html",
    "/global-protect/login.esp",
    "/dana-na/",
    "/boaform/admin/formLogin",
    "/HNAP1/",
    "/setup.cgi",
];

const NIKTO_UA: &str = "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000562)";
const NMAP_UA: &str = "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)";

fn txid(rng: &mut Rng) -> String {
    rng.hex(32)
}

pub(crate) fn write(ctx: &Ctx, out: &mut Out) -> io::Result<()> {
    let mut rng = ctx.rng("appgw");
    let mut access: Vec<(Ts, String)> = Vec::new();
    let mut legacy: Vec<(Ts, String)> = Vec::new();
    let mut waf: Vec<(Ts, String)> = Vec::new();
    let mut legacy_waf: Vec<(Ts, String)> = Vec::new();

    // Benign shop traffic, with the odd WAF false positive.
    for hour in ctx.hours() {
        let n = rng.count(40.0 * Ctx::web_diurnal(hour) * ctx.scale);
        for _ in 0..n {
            let t = hour + ms(rng.range(0, 3_600_000));
            let client = rng.pick(&ctx.visitors).clone();
            let ua = *rng.pick(BROWSER_UAS);
            let (method, uri, query, status): (&str, String, String, u16) = match rng.below(20) {
                0..=4 => ("GET", "/".into(), String::new(), 200),
                5..=8 => ("GET", format!("/products/{}", rng.range(1000, 1400)), String::new(), 200),
                9..=10 => ("GET", "/products".into(), format!("page={}&sort=price", rng.range(1, 9)), 200),
                11..=13 => (
                    "GET",
                    format!("/static/{}", rng.pick(&["css/site.css", "js/app.js", "js/vendor.js", "img/logo.svg"])),
                    String::new(),
                    if rng.chance(0.3) { 304 } else { 200 },
                ),
                14 => ("POST", "/cart/add".into(), String::new(), 200),
                15 => ("GET", "/cart".into(), String::new(), 200),
                16 => ("POST", "/account/login".into(), String::new(), if rng.chance(0.8) { 302 } else { 200 }),
                17 => (
                    "GET",
                    "/search".into(),
                    format!("q={}", rng.pick(&["shoes", "winter+jacket", "gift+card", "socks"])),
                    200,
                ),
                18 => ("GET", format!("/products/{}", rng.range(9000, 9999)), String::new(), 404),
                _ => ("GET", "/api/v1/recommendations".into(), format!("sku={}", rng.range(1000, 1400)), 200),
            };
            let backend = rng.pick(&[VM_WEB1.ip, VM_WEB2.ip]);
            let r = Req {
                t,
                client: &client,
                port: rng.range(1024, 65_535),
                method,
                uri: &uri,
                query: &query,
                ua,
                status,
                backend: Some((backend, status)),
                recv: rng.range(300, 2400),
                sent: if status == 304 { rng.range(180, 300) } else { rng.range(900, 90_000) },
                taken: 0.004 + rng.f64() * 0.3,
                txid: txid(&mut rng),
                host: HOST,
                instance: rng.pick_str(&["appgw_0", "appgw_1"]),
            };
            access.push((t, ser(&access_v2(&r, &mut rng))));
        }
        if rng.chance(0.15 * ctx.scale.min(6.0)) {
            let t = hour + ms(rng.range(0, 3_600_000));
            let client = rng.pick(&ctx.visitors).clone();
            let tx = txid(&mut rng);
            let query = "q=%27%27%28%29%3B%3B%3A%3A%2A%2A%21%21%40%40";
            waf.push((
                t,
                ser(&waf_v2(
                    t,
                    &client,
                    "/search",
                    &R942430,
                    "Matched",
                    "Matched Data: '');;::**!!@@ found within ARGS:q: '');;::**!!@@",
                    &tx,
                )),
            ));
            let r = Req {
                t,
                client: &client,
                port: rng.range(1024, 65_535),
                method: "GET",
                uri: "/search",
                query,
                ua: BROWSER_UAS[0],
                status: 200,
                backend: Some((VM_WEB1.ip, 200)),
                recv: 612,
                sent: 18_224,
                taken: 0.041,
                txid: tx,
                host: HOST,
                instance: "appgw_0",
            };
            access.push((t, ser(&access_v2(&r, &mut rng))));
        }
        // Contoso staff use the legacy intranet gateway from the office.
        let n = rng.count(3.0 * Ctx::diurnal(hour) * ctx.scale);
        for _ in 0..n {
            let t = hour + ms(rng.range(0, 3_600_000));
            let u = rng.pick(USERS);
            let uri = *rng.pick(&["/", "/portal/home", "/portal/timesheets", "/portal/news", "/static/portal.css"]);
            let r = Req {
                t,
                client: HQ_EGRESS_IP,
                port: rng.range(1024, 65_535),
                method: "GET",
                uri,
                query: "",
                ua: u.ua,
                status: 200,
                backend: Some((VM_WEB2.ip, 200)),
                recv: rng.range(400, 1500),
                sent: rng.range(2000, 60_000),
                taken: 0.01 + rng.f64() * 0.2,
                txid: rng.guid(),
                host: LEGACY_HOST,
                instance: "ApplicationGatewayRole_IN_0",
            };
            legacy.push((t, ser(&access_v1(&r))));
        }
    }

    // The scanner's evening (prod gateway).
    let mut srng = ctx.rng("appgw-scanner");
    let start = parse(crate::RECON_START);
    let mut t = start;
    let mut i = 0usize;
    let end = start + secs(27 * 60);
    while t < end {
        t += ms(srng.range(600, 5200));
        i += 1;
        let phase_ua = if t < start + secs(600) { NIKTO_UA } else { NMAP_UA };
        let port = srng.range(30_000, 61_000);
        let tx = txid(&mut srng);
        let attack = i.is_multiple_of(11);
        if attack {
            let (uri, query, rules, data): (&str, &str, Vec<&Rule>, &str) = match (i / 11) % 3 {
                0 => (
                    "/download",
                    "file=../../../../etc/passwd",
                    vec![&R930100, &R930120],
                    "Matched Data: ../ found within ARGS:file: ../../../../etc/passwd",
                ),
                1 => (
                    "/products",
                    "id=1%27%20OR%20%271%27%3D%271",
                    vec![&R942100],
                    "Matched Data: s&sos found within ARGS:id: 1' OR '1'='1",
                ),
                _ => (
                    "/search",
                    "q=%3Cscript%3Ealert(1)%3C/script%3E",
                    vec![&R941100, &R941160],
                    "Matched Data: XSS data found within ARGS:q: <script>alert(1)</script>",
                ),
            };
            let full = format!("{uri}?{query}");
            if phase_ua == NIKTO_UA {
                waf.push((t, ser(&waf_v2(t, SCANNER_IP, &full, &R913100, "Matched", "Matched Data: nikto found within REQUEST_HEADERS:User-Agent: mozilla/5.00 (nikto/2.5.0) (evasions:none) (test:000562)", &tx))));
            }
            for r in rules {
                waf.push((t, ser(&waf_v2(t, SCANNER_IP, &full, r, "Matched", data, &tx))));
            }
            waf.push((t, ser(&waf_v2(t, SCANNER_IP, &full, &R949110, "Blocked", "", &tx))));
            let r = Req {
                t,
                client: SCANNER_IP,
                port,
                method: "GET",
                uri,
                query,
                ua: phase_ua,
                status: 403,
                backend: None,
                recv: srng.range(200, 400),
                sent: 324,
                taken: 0.001,
                txid: tx,
                host: HOST,
                instance: "appgw_0",
            };
            access.push((t, ser(&access_v2(&r, &mut srng))));
        } else {
            let base = WORDLIST[i % WORDLIST.len()];
            let suffix = [("", 0), (".bak", 1), (".old", 2), ("~", 3)][(i / WORDLIST.len()) % 4].0;
            let uri = format!("{base}{suffix}");
            let status = if base == "/" { 200 } else { 404 };
            let r = Req {
                t,
                client: SCANNER_IP,
                port,
                method: if i.is_multiple_of(17) { "HEAD" } else { "GET" },
                uri: &uri,
                query: "",
                ua: phase_ua,
                status,
                backend: Some((VM_WEB1.ip, status)),
                recv: srng.range(150, 420),
                sent: srng.range(320, 1600),
                taken: 0.002 + srng.f64() * 0.02,
                txid: tx,
                host: HOST,
                instance: if i.is_multiple_of(2) { "appgw_0" } else { "appgw_1" },
            };
            access.push((t, ser(&access_v2(&r, &mut srng))));
            if phase_ua == NIKTO_UA && i.is_multiple_of(5) {
                let tx = r.txid.clone();
                waf.push((t, ser(&waf_v2(t, SCANNER_IP, &uri, &R913100, "Matched", "Matched Data: nikto found within REQUEST_HEADERS:User-Agent: mozilla/5.00 (nikto/2.5.0) (evasions:none) (test:000562)", &tx))));
            }
        }
    }
    // Hostile content in benign-looking places: an XSS payload in the URI, a CSV formula as UA.
    let t = start + secs(1201);
    let tx = txid(&mut srng);
    let r = Req {
        t,
        client: SCANNER_IP,
        port: 53_112,
        method: "GET",
        uri: HOSTILE_URI,
        query: "",
        ua: HOSTILE_USER_AGENT,
        status: 403,
        backend: None,
        recv: 377,
        sent: 324,
        taken: 0.001,
        txid: tx.clone(),
        host: HOST,
        instance: "appgw_1",
    };
    access.push((t, ser(&access_v2(&r, &mut srng))));
    waf.push((
        t,
        ser(&waf_v2(
            t,
            SCANNER_IP,
            HOSTILE_URI,
            &R941100,
            "Matched",
            "Matched Data: XSS data found within REQUEST_URI: /search?q=<script>alert(\"x\")</script>",
            &tx,
        )),
    ));
    waf.push((t, ser(&waf_v2(t, SCANNER_IP, HOSTILE_URI, &R949110, "Blocked", "", &tx))));

    // After its evening of blocks, the scanner's SQL injection on /products is blocked once more
    // (classic UNION payload), then goes through with a JSON-operator variant the CRS 3.2 rules
    // do not parse as SQL: answered 200 by vm-web-01, no WAF record. Its own random stream.
    let mut brng = ctx.rng("appgw-bypass");
    let t = start + secs(29 * 60) + ms(brng.range(0, 20_000));
    let tx = txid(&mut brng);
    let uri = "/products";
    let query = "id=1%27%20UNION%20SELECT%20NULL%2Cusername%2Cpassword%20FROM%20users--";
    let full = format!("{uri}?{query}");
    let data = "Matched Data: s&1UE found within ARGS:id: 1' UNION SELECT NULL,username,password FROM users--";
    waf.push((t, ser(&waf_v2(t, SCANNER_IP, &full, &R942100, "Matched", data, &tx))));
    waf.push((t, ser(&waf_v2(t, SCANNER_IP, &full, &R949110, "Blocked", "", &tx))));
    let r = Req {
        t,
        client: SCANNER_IP,
        port: brng.range(30_000, 61_000),
        method: "GET",
        uri,
        query,
        ua: BROWSER_UAS[4],
        status: 403,
        backend: None,
        recv: brng.range(300, 500),
        sent: 324,
        taken: 0.001,
        txid: tx,
        host: HOST,
        instance: "appgw_1",
    };
    access.push((t, ser(&access_v2(&r, &mut brng))));
    let t = t + ms(brng.range(70_000, 140_000));
    let r = Req {
        t,
        client: SCANNER_IP,
        port: brng.range(30_000, 61_000),
        method: "GET",
        uri,
        query: "id=1%20AND%20%27%7B%22a%22%3A1%7D%27%3A%3Ajsonb%20%40%3E%20%27%7B%22a%22%3A1%7D%27",
        ua: BROWSER_UAS[4],
        status: 200,
        backend: Some((VM_WEB1.ip, 200)),
        recv: brng.range(400, 600),
        sent: brng.range(18_000, 26_000),
        taken: 0.08 + brng.f64() * 0.2,
        txid: txid(&mut brng),
        host: HOST,
        instance: "appgw_0",
    };
    access.push((t, ser(&access_v2(&r, &mut brng))));

    // The scanner on the legacy gateway, with the seed article's two records.
    let lstart = start + secs(14 * 60);
    let mut t = lstart;
    for (j, base) in WORDLIST.iter().enumerate().take(40) {
        t += ms(srng.range(2000, 6000));
        let r = Req {
            t,
            client: SCANNER_IP,
            port: srng.range(30_000, 61_000),
            method: "GET",
            uri: base,
            query: "",
            ua: NMAP_UA,
            status: 404,
            backend: Some((VM_WEB2.ip, 404)),
            recv: srng.range(150, 400),
            sent: srng.range(300, 900),
            taken: 0.002 + srng.f64() * 0.2,
            txid: srng.guid(),
            host: APPGW_LEGACY_PUBLIC_IP,
            instance: if j % 2 == 0 { "ApplicationGatewayRole_IN_0" } else { "ApplicationGatewayRole_IN_1" },
        };
        legacy.push((t, ser(&access_v1(&r))));
    }
    let seed_t = parse("2026-03-11T21:19:38Z");
    legacy.push((
        seed_t,
        ser(&json!({
            "resourceId": appgw_legacy_id().to_uppercase(),
            "operationName": "ApplicationGatewayAccess",
            "time": iso_s(seed_t),
            "category": "ApplicationGatewayAccessLog",
            "properties": {
                "instanceId": "appgw_1",
                "clientIP": SCANNER_IP,
                "httpMethod": "GET",
                "requestUri": "/phpmyadmin/scripts/setup.php",
                "userAgent": "-",
                "httpStatus": 404,
                "httpVersion": "HTTP/1.0",
                "receivedBytes": 65,
                "sentBytes": 553,
                "timeTaken": 205,
                "sslEnabled": "off",
                "sslCipher": "",
                "sslProtocol": "",
                "serverRouted": "",
                "serverStatus": "200",
                "serverResponseLatency": "0.023",
                "host": APPGW_LEGACY_PUBLIC_IP,
            },
        })),
    ));
    let seed_w = parse("2026-03-11T21:20:09.1494499Z");
    legacy_waf.push((
        seed_w,
        ser(&json!({
            "resourceId": appgw_legacy_id().to_uppercase(),
            "operationName": "ApplicationGatewayFirewall",
            "time": iso7(seed_w),
            "category": "ApplicationGatewayFirewallLog",
            "properties": {
                "instanceId": "ApplicationGatewayRole_IN_0",
                "clientIp": SCANNER_IP,
                "clientPort": "4835",
                "requestUri": "/?a=%3Cscript%3Ealert(%22Hello%22);%3C/script%3E",
                "ruleSetType": "OWASP",
                "ruleSetVersion": "3.0",
                "ruleId": "941320",
                "message": "Possible XSS Attack Detected - HTML Tag Handler",
                "action": "Blocked",
                "site": "Global",
                "details": {
                    "message": "Warning. Pattern match \"<(a|abbr|acronym|address|applet|area|audioscope|b|base|basefront|bdo|bgsound|big|blackface|blink|blockquote|body|bq|br|button|caption|center|cite|code|col|colgroup|comment|dd|del|dfn|dir|div|dl|dt|em|embed|fieldset|fn|font|form|frame|frameset|h1|head|h ...\" at ARGS:a.",
                    "data": r"Matched Data: <script> found within ARGS:a: <script>alert(\x22hello\x22);</script>",
                    "file": "rules/REQUEST-941-APPLICATION-ATTACK-XSS.conf",
                    "line": "865",
                },
                "hostname": APPGW_LEGACY_PUBLIC_IP,
                "transactionId": "AYAcUqAcAcAcAcAcASAcAcAc",
            },
        })),
    ));

    access.retain(|(t, _)| ctx.in_window(*t));
    waf.retain(|(t, _)| ctx.in_window(*t));
    legacy.retain(|(t, _)| ctx.in_window(*t));
    legacy_waf.retain(|(t, _)| ctx.in_window(*t));
    let prod = resource_prefix(&appgw_id());
    let old = resource_prefix(&appgw_legacy_id());
    write_hourly(out, ctx, "insights-logs-applicationgatewayaccesslog", &prod, "appgw_access", access)?;
    write_hourly(out, ctx, "insights-logs-applicationgatewayaccesslog", &old, "appgw_access", legacy)?;
    write_hourly(out, ctx, "insights-logs-applicationgatewayfirewalllog", &prod, "waf", waf)?;
    write_hourly(out, ctx, "insights-logs-applicationgatewayfirewalllog", &old, "waf", legacy_waf)?;
    Ok(())
}
