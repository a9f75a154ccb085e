//! `azir report` end to end: the demo's report is self-contained, pinned by its CSP, counts
//! what the case holds, and shows hostile log content as text; a case with hostile names and
//! no findings still gives a valid report.

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

mod common;
use common::{expect as azir_code, p};

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The demo (generated once per test process): its folder and its report.
fn demo() -> (&'static Path, &'static str) {
    static HTML: OnceLock<String> = OnceLock::new();
    let d = common::demo();
    let html =
        HTML.get_or_init(|| std::fs::read_to_string(d.root.join("report.html")).expect("azir demo writes report.html"));
    (&d.root, html)
}

/// Every tag of the document (log content cannot make tags: its `<` is escaped). The bodies of
/// `<script>` and `<style>` are skipped (they are checked by hash).
fn tags(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').expect("every tag closes");
        let tag = &rest[..end];
        out.push(tag);
        rest = &rest[end..];
        for raw in ["script", "style"] {
            if tag == raw || tag.starts_with(&format!("{raw} ")) {
                let close = rest.find(&format!("</{raw}>")).expect("raw text element closes");
                rest = &rest[close..];
            }
        }
    }
    out
}

/// Attribute names and values of one tag (values double-quoted, as azir writes them).
fn attrs(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let body = tag.split_once(char::is_whitespace).map_or("", |(_, b)| b);
    let mut rest = body.trim();
    while !rest.is_empty() {
        let name_end = rest.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(rest.len());
        let name = rest[..name_end].trim_end_matches('/').to_ascii_lowercase();
        rest = &rest[name_end..];
        let mut value = String::new();
        if let Some(r) = rest.strip_prefix("=\"") {
            let close = r.find('"').expect("attribute value closes");
            value = r[..close].to_string();
            rest = &r[close + 1..];
        } else if rest.starts_with('=') {
            panic!("unquoted attribute value in <{tag:.200}>");
        }
        if !name.is_empty() {
            out.push((name, value));
        }
        rest = rest.trim_start();
    }
    out
}

/// The structural guarantees every report must keep whatever the case holds.
fn assert_inert(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"));
    let all = tags(html);
    let scripts = all.iter().filter(|t| t.to_ascii_lowercase().starts_with("script")).count();
    assert_eq!(scripts, 1, "one inline script, azir's own");
    let styles = all.iter().filter(|t| t.to_ascii_lowercase().starts_with("style")).count();
    assert_eq!(styles, 1, "one inline stylesheet");
    for t in &all {
        let name = t.split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("").to_ascii_lowercase();
        assert!(
            !matches!(
                name.as_str(),
                "img" | "iframe" | "object" | "embed" | "link" | "base" | "form" | "audio" | "video"
            ),
            "unexpected <{name}>: <{t:.200}>"
        );
        for (a, v) in attrs(t) {
            assert!(!a.starts_with("on"), "event handler attribute {a} in <{t:.200}>");
            assert_ne!(a, "style", "style attribute in <{t:.200}>");
            if matches!(a.as_str(), "src" | "href" | "action" | "formaction" | "srcset" | "poster" | "data") {
                assert!(v.starts_with('#'), "{a}={v:?} would leave the page, in <{t:.200}>");
            }
            if a == "xmlns" {
                assert_eq!(v, "http://www.w3.org/2000/svg");
            }
        }
    }
    // The CSP pins the script and the stylesheet by hash.
    let key = "http-equiv=\"Content-Security-Policy\" content=\"";
    let csp_start = html.find(key).expect("CSP meta tag") + key.len();
    let csp = &html[csp_start..csp_start + html[csp_start..].find('"').unwrap()];
    assert!(csp.starts_with("default-src &#39;none&#39;"), "{csp}");
    let hash = |s: &str| base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s.as_bytes()));
    let between = |open: &str, close: &str| {
        let a = html.find(open).unwrap() + open.len();
        &html[a..a + html[a..].find(close).unwrap()]
    };
    assert!(csp.contains(&format!("script-src &#39;sha256-{}&#39;", hash(between("<script>", "</script>")))));
    assert!(csp.contains(&format!("style-src &#39;sha256-{}&#39;", hash(between("<style>", "</style>")))));
}

#[test]
fn the_demo_report_is_self_contained_and_complete() {
    let (dir, html) = demo();
    assert_inert(html);
    assert!(html.len() < 5_000_000, "report is {} bytes", html.len());

    // Findings: the count on <body>, one <details> per finding, the same as the case holds.
    let (out, _) = azir_code(
        &["query", "--case", p(&dir.join("case")), "--format", "jsonl", "SELECT count(*) AS n FROM findings"],
        0,
    );
    let n = serde_json::from_str::<Value>(out.trim()).unwrap()["n"].as_u64().unwrap();
    assert!(n >= 15, "the demo's hunt finds the story ({n})");
    assert!(html.contains(&format!("<body data-findings=\"{n}\">")));
    assert_eq!(html.matches("<details class=\"finding\" data-finding ").count() as u64, n);
    for chart in [
        "events-per-hour",
        "signin-failures-ip",
        "signin-failures-country",
        "top-talkers",
        "outbound-bytes",
        "nsg-changes",
    ] {
        assert!(html.contains(&format!("data-chart=\"{chart}\"")), "chart {chart}");
    }

    // The story is there, each finding with its events and evidence lines.
    let spray_html = html
        .split("<details class=\"finding\"")
        .skip(1)
        .map(|d| &d[..d.find("</details>").unwrap()])
        .find(|d| d.contains("Password spray - many users failing from one IP"))
        .expect("spray finding");
    assert!(spray_html.contains("class=\"events\""));
    assert!(spray_html.matches("198.51.100.23").count() >= 10, "spray events from the spraying IP");
    assert!(spray_html.contains("signin"));
    assert!(spray_html.contains(".csv:") || spray_html.contains(".json:"), "evidence file:line");
    assert!(html.contains("T1110.003"), "ATT&CK technique");
    assert!(html.contains("203.0.113.200"), "the exfiltration destination in outbound bytes");
    assert!(html.contains("AllowAnyInbound-Mgmt"), "the attacker's NSG rule among the NSG changes");
    assert!(html.contains("id=\"e-0\""), "entity sections");

    // Network: the topology drawn, and SSH/RDP exposed on vm-web-01 right after the attacker's
    // rule write (closed again in the latest configuration).
    assert!(html.contains("data-chart=\"topology\""));
    let net = &html[html.find("<section id=\"network\"").unwrap()..];
    let net = &net[..net.find("</section>").unwrap()];
    let latest = &net[net.find("(latest configuration)").expect("latest exposure")..];
    let latest = &latest[..latest.find("<h3>").unwrap_or(latest.len())];
    assert!(!latest.contains("AllowAnyInbound-Mgmt"));
    let then = &net[net.find("Exposed to the Internet at 2026-03-12T03:52").expect("exposure after the NSG change")..];
    assert!(
        then.contains("vm-web-01") && then.contains("AllowAnyInbound-Mgmt") && then.contains("any Internet address")
    );
    assert!(html.contains("megan@contoso.com"));

    // Hostile content from the WAF logs is text.
    assert!(html.contains("/search?q=&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("=cmd|&#39; /C calc&#39;!A0 Mozilla/5.0 (compatible; scan)"), "hostile user agent as text");
    assert!(
        html.contains("4 outlying record(s) reach from 2021-01-29"),
        "the old VPC sample does not stretch the range"
    );

    // Evidence appendix: the custody chain checked, evidence re-hashed (the demo asks for it).
    assert!(html.contains("Custody chain intact"));
    assert!(html.contains("Evidence re-hashed now: "));
    assert!(html.contains("<span class=\"ok\">0 changed</span>"));
}

#[test]
fn report_json_summary_and_errors() {
    let (dir, _) = demo();
    let out_file = dir.join("again").join("r.html");
    let (out, _) =
        azir_code(&["--json", "report", "--case", p(&dir.join("case")), "-o", p(&out_file), "--entities", "1"], 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["path"], p(&out_file));
    assert!(v["findings"].as_u64().unwrap() >= 15);
    assert_eq!(v["entities"], 3, "one user, one IP, one app");
    assert_eq!(v["custody_intact"], true);
    assert_eq!(v["bytes"].as_u64().unwrap(), std::fs::metadata(&out_file).unwrap().len());
    // No temporary file left beside it.
    let names: Vec<String> = std::fs::read_dir(out_file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["r.html".to_string()]);

    let (_, err) = azir_code(&["report", "--case", p(&tmp("nonexistent")), "-o", p(&dir.join("x.html"))], 1);
    assert!(err.contains("azir: error:"), "{err}");
}

/// A case whose Activity Log names a hostile caller and resource, with a bidi override and a
/// terminal escape: the report escapes it everywhere it appears (finding, entity, timeline).
#[test]
fn hostile_names_are_escaped_everywhere() {
    let dir = tmp("hostile");
    std::fs::create_dir_all(&dir).unwrap();
    let evil_user = "\"><img src=x onerror=alert(1)>@contoso.com";
    let evil_rg = "rg-\u{202e}txt.exe\u{1b}[31m<svg/onload=alert(2)>";
    let mk = |i: u32, status: &str| {
        serde_json::json!({
            "authorization": {"action": "Microsoft.Storage/storageAccounts/listKeys/action", "scope": "/subscriptions/00000000-0000-0000-0000-000000000001"},
            "caller": evil_user,
            "callerIpAddress": "203.0.113.9",
            "category": {"value": "Administrative", "localizedValue": "Administrative"},
            "claims": {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": evil_user},
            "correlationId": format!("c0rre1a7-0000-0000-0000-00000000000{i}"),
            "eventDataId": format!("e0000000-0000-0000-0000-00000000000{i}"),
            "eventTimestamp": format!("2026-03-12T05:0{i}:00.0000000Z"),
            "id": format!("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/{evil_rg}/providers/Microsoft.Storage/storageAccounts/stevil/events/e{i}/ticks/1"),
            "level": "Informational",
            "operationName": {"value": "Microsoft.Storage/storageAccounts/listKeys/action", "localizedValue": "List Storage Account Keys"},
            "resourceGroupName": evil_rg,
            "resourceId": format!("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/{evil_rg}/providers/Microsoft.Storage/storageAccounts/stevil"),
            "resourceProviderName": {"value": "Microsoft.Storage", "localizedValue": "Microsoft.Storage"},
            "status": {"value": status, "localizedValue": status},
            "subStatus": {"value": "", "localizedValue": ""},
            "submissionTimestamp": format!("2026-03-12T05:0{i}:30.0000000Z"),
            "subscriptionId": "00000000-0000-0000-0000-000000000001",
            "tenantId": "11111111-1111-1111-1111-111111111111",
        })
    };
    let page = serde_json::json!({"value": [mk(1, "Started"), mk(2, "Succeeded")]});
    let ev = dir.join("activity.json");
    std::fs::write(&ev, serde_json::to_string_pretty(&page).unwrap()).unwrap();
    let case = dir.join("case");
    azir_code(&["case", "init", p(&case), "--name", "<b>Contoso</b> & \"friends\""], 0);
    azir_code(&["--quiet", "ingest", p(&ev), "--case", p(&case)], 0);

    // Without a hunt: a valid report that says so.
    let out = dir.join("before-hunt.html");
    azir_code(&["--quiet", "report", "--case", p(&case), "-o", p(&out)], 0);
    let html = std::fs::read_to_string(&out).unwrap();
    assert_inert(&html);
    assert!(html.contains("<body data-findings=\"0\">"));
    assert!(html.contains("No findings are stored in this case"));
    assert!(html.contains("&lt;b&gt;Contoso&lt;/b&gt; &amp; &quot;friends&quot;"), "case name escaped");

    azir_code(&["--quiet", "hunt", "--case", p(&case)], 0);
    let out = dir.join("report.html");
    azir_code(&["--quiet", "report", "--case", p(&case), "-o", p(&out)], 0);
    let html = std::fs::read_to_string(&out).unwrap();
    assert_inert(&html);
    assert!(html.contains("<body data-findings=\"1\">"), "the storage key listing is found");
    assert!(html.contains("Storage account keys listed by a user"));
    let escaped_user = "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;@contoso.com";
    assert!(html.matches(escaped_user).count() >= 3, "in the finding, the timeline and the entity section");
    assert!(
        html.contains("&lt;U+202E&gt;txt.exe&lt;U+001B&gt;[31m&lt;svg/onload=alert(2)&gt;"),
        "bidi and escape shown"
    );
    assert!(!html.contains('\u{202e}') && !html.contains('\u{1b}'));
}
