//! Storage account resource logs (`StorageRead`, `StorageWrite`, `StorageDelete`) for blob,
//! file, queue and table services: the diagnostic envelope (`identity{type, requester{…}}`,
//! `properties{userAgentHeader, …}`), Log Analytics `StorageBlobLogs`-style rows
//! (`Uri`, `CallerIpAddress`, `StatusCode`, `AuthenticationType`, `RequesterUpn`…) and
//! suffixed `AzureDiagnostics` columns.
//!
//! `callerIpAddress` is `ip:port` and is split; `statusCode` may be a number, a numeric string
//! or `Unknown` (SMB), in which case the result falls back to `statusText` (`Success`,
//! `SASSuccess`, `AnonymousSuccess`… are successes, `*Error`/`*Failure` are failures).
//! The actor is the OAuth requester's UPN, else its object id, else the authentication type
//! (`SAS Key`, `Account Key`, `Anonymous`), and the authentication type is always named in the
//! message. `identity.tokenHash` (`AuthenticationHash`) is never read, and a SAS signature in
//! the URI (`sig=`) is masked in `url` and `message` (the raw record keeps it).
//!
//! Event types: `Read` (Get/List/Query/Peek/Head), `Create` (Put/Create/Insert/Copy/Append/
//! Upload), `Delete` (Delete/Clear), `Set` (Set/Update/Merge — ACL and metadata changes such
//! as `SetContainerACL` matter in an investigation), `Other` otherwise.

use super::appgw::{clip, record_time, status_result, Fields, MSG_MAX};
use super::{result_of, Output, RecordCtx};
use crate::json::{get, split_ip_port, subscription_of, text};
use serde_json::Value;

/// ASIM type from a storage operation name's leading verb (`GetBlobProperties` → `Read`).
pub fn event_type(op: &str) -> &'static str {
    let end = op.char_indices().skip(1).find(|(_, c)| c.is_ascii_uppercase()).map_or(op.len(), |(i, _)| i);
    match op[..end].to_ascii_lowercase().as_str() {
        "get" | "list" | "query" | "peek" | "head" | "read" => "Read",
        "put" | "create" | "insert" | "copy" | "append" | "upload" | "startcopy" => "Create",
        "delete" | "clear" => "Delete",
        "set" | "update" | "merge" => "Set",
        _ => "Other",
    }
}

/// The URI with the value of any `sig` query parameter replaced.
fn mask_sig(uri: &str) -> String {
    let Some((base, query)) = uri.split_once('?') else {
        return uri.to_string();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let masked: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, v)) if k.eq_ignore_ascii_case("sig") && !v.is_empty() => {
                format!("{k}=REDACTED")
            }
            _ => p.to_string(),
        })
        .collect();
    let mut out = format!("{base}?{}", masked.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// Result from the status text alone (`Unknown` status codes).
fn text_result(t: &str) -> &'static str {
    let l = t.to_ascii_lowercase();
    if l.ends_with("success") {
        "Success"
    } else if l.contains("error") || l.contains("failure") || l.contains("fail") {
        "Failure"
    } else {
        result_of(t)
    }
}

/// Parses one storage log record.
pub fn parse(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    let f = Fields::new(v);
    let mut e = ctx.event("storage");
    e.time = record_time(v, ctx)?;
    e.category = f.category();
    e.operation = f.text(&["operationName"]);
    e.event_type = Some(event_type(e.operation.as_deref().unwrap_or("")).to_string());
    e.target_resource_id = f.resource_id();
    e.subscription_id = e.target_resource_id.as_deref().and_then(subscription_of);
    e.correlation_id = f.text(&["correlationId"]);
    e.url = f.text(&["uri", "requestUrl"]).map(|u| mask_sig(&u));
    e.user_agent = f.text(&["userAgentHeader"]);
    if let Some(ip) = f.text(&["callerIpAddress"]) {
        let (ip, port) = split_ip_port(&ip);
        e.src_ip = Some(ip);
        e.src_port = port;
    }
    e.http_status = f.int32(&["statusCode"]);
    let status_text = f.text(&["statusText"]);
    e.result_details = status_text.clone();
    e.result = Some(
        match (e.http_status, status_text.as_deref()) {
            (Some(c), _) if c > 0 => status_result(c),
            (_, Some(t)) => text_result(t),
            _ => "NA",
        }
        .to_string(),
    );

    // Who: OAuth requester (envelope `identity.requester`, LA `Requester*` columns), else the
    // authentication type. The token hash is deliberately not read.
    let identity = f.obj(&["identity"]);
    let requester = identity.as_deref().and_then(|i| crate::json::obj(get(i, "requester")));
    let req = |key: &str, column: &str| -> Option<String> {
        requester.as_deref().and_then(|r| text(get(r, key))).or_else(|| f.text(&[column]))
    };
    let auth = identity.as_deref().and_then(|i| text(get(i, "type"))).or_else(|| f.text(&["AuthenticationType"]));
    let upn = req("upn", "RequesterUpn");
    e.actor_user_id = req("objectId", "RequesterObjectId");
    e.actor_app_id = req("appId", "RequesterAppId");
    e.tenant_id = req("tenantId", "RequesterTenantId");
    e.actor_username = upn.clone().or_else(|| e.actor_user_id.clone()).or_else(|| auth.clone());

    let who = match (upn.as_deref().or(e.actor_user_id.as_deref()), auth.as_deref()) {
        (Some(a), Some(t)) => format!("{a} ({t})"),
        (Some(a), None) => a.to_string(),
        (None, Some(t)) => format!("{t} caller"),
        (None, None) => "unknown caller".to_string(),
    };
    let from = e.src_ip.as_deref().map(|ip| format!(" from {ip}")).unwrap_or_default();
    let status = match (e.http_status, status_text.as_deref()) {
        (Some(c), Some(t)) => format!("{c} {t}"),
        (Some(c), None) => c.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => "no status".to_string(),
    };
    e.message = format!(
        "{who} {} {}{from}: {status}",
        e.operation.as_deref().unwrap_or("unknown operation"),
        clip(e.url.as_deref().unwrap_or("?"), MSG_MAX),
    );
    out.events.push(e);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Shape;
    use crate::parsers::appgw::run_direct;
    use crate::parsers::run_one;
    use crate::split::Container;
    use azir_model::format_micros;

    const SA: &str =
        "/subscriptions/SUB-S/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct/blobServices/default";

    fn one(rec: &str, c: Container) -> azir_model::Event {
        let out = run_one("storage.json", rec, c);
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        assert_eq!(out.events.len(), 1);
        out.events[0].clone()
    }

    #[test]
    fn envelope_sas_read_hides_token_hash_and_signature() {
        let rec = format!(
            r#"{{"time":"2019-02-28T19:10:21.2123117Z","resourceId":"{SA}","category":"StorageRead","operationName":"GetBlob","operationVersion":"2017-04-17","schemaVersion":"1.0","statusCode":200,"statusText":"SASSuccess","durationMs":5,"callerIpAddress":"192.168.0.1:11111","correlationId":"corr-1","location":"uswestcentral","protocol":"HTTPS","uri":"https://acct.blob.core.windows.net/c1/b?sv=2021-08-06&sig=c2VjcmV0&timeout=10","identity":{{"type":"SAS Key","tokenHash":"key1(ABCDEF0123),SasSignature(FEDCBA9876)"}},"properties":{{"accountName":"acct","userAgentHeader":"AzCopy/10.x","serviceType":"blob","responseBodySize":1048576}}}}"#
        );
        let e = one(&rec, Container::Lines);
        assert_eq!(e.source, "storage");
        assert_eq!(format_micros(e.time), "2019-02-28T19:10:21.212311Z");
        assert_eq!(e.category.as_deref(), Some("StorageRead"));
        assert_eq!(e.operation.as_deref(), Some("GetBlob"));
        assert_eq!(e.event_type.as_deref(), Some("Read"));
        assert_eq!(e.http_status, Some(200));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.result_details.as_deref(), Some("SASSuccess"));
        assert_eq!(e.src_ip.as_deref(), Some("192.168.0.1"));
        assert_eq!(e.src_port, Some(11111));
        assert_eq!(
            e.url.as_deref(),
            Some("https://acct.blob.core.windows.net/c1/b?sv=2021-08-06&sig=REDACTED&timeout=10")
        );
        assert_eq!(e.user_agent.as_deref(), Some("AzCopy/10.x"));
        assert_eq!(e.actor_username.as_deref(), Some("SAS Key"));
        assert_eq!(e.actor_user_id, None);
        assert_eq!(e.correlation_id.as_deref(), Some("corr-1"));
        assert_eq!(e.target_resource_id.as_deref(), Some(SA));
        assert_eq!(e.subscription_id.as_deref(), Some("sub-s"));
        assert_eq!(
            e.message,
            "SAS Key caller GetBlob https://acct.blob.core.windows.net/c1/b?sv=2021-08-06&sig=REDACTED&timeout=10 from 192.168.0.1: 200 SASSuccess"
        );
        for field in [&e.message, e.url.as_deref().unwrap_or("")] {
            assert!(!field.contains("ABCDEF0123") && !field.contains("FEDCBA9876"));
            assert!(!field.contains("c2VjcmV0"));
        }
    }

    #[test]
    fn envelope_oauth_delete_failure() {
        let rec = format!(
            r#"{{"time":"2024-01-01T00:00:00Z","resourceId":"{SA}","category":"StorageDelete","operationName":"DeleteBlob","statusCode":"403","statusText":"AuthorizationPermissionMismatch","callerIpAddress":"[2001:db8::7]:50000","uri":"https://acct.blob.core.windows.net/c1/<script>alert(\"x\")</script>","identity":{{"type":"OAuth","tokenHash":"sha256-hash-value","requester":{{"appId":"app-5","objectId":"oid-5","tenantId":"tid-5","upn":"mallory@contoso.com"}}}},"properties":{{"userAgentHeader":"azsdk-js"}}}}"#
        );
        let e = one(&rec, Container::Records);
        assert_eq!(e.source_format, "eventhub");
        assert_eq!(e.event_type.as_deref(), Some("Delete"));
        assert_eq!(e.http_status, Some(403));
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(e.src_ip.as_deref(), Some("2001:db8::7"));
        assert_eq!(e.src_port, Some(50000));
        assert_eq!(e.actor_username.as_deref(), Some("mallory@contoso.com"));
        assert_eq!(e.actor_user_id.as_deref(), Some("oid-5"));
        assert_eq!(e.actor_app_id.as_deref(), Some("app-5"));
        assert_eq!(e.tenant_id.as_deref(), Some("tid-5"));
        assert_eq!(e.url.as_deref(), Some(r#"https://acct.blob.core.windows.net/c1/<script>alert("x")</script>"#));
        assert!(e.message.starts_with("mallory@contoso.com (OAuth) DeleteBlob "));
        assert!(!e.message.contains("sha256-hash-value"));
    }

    #[test]
    fn unknown_status_code_uses_status_text() {
        let rec = r#"{"time":"2024-01-01T00:00:00Z","category":"StorageRead","operationName":"Read","statusCode":"Unknown","statusText":"Success","callerIpAddress":"10.0.0.4","protocol":"SMB","identity":{"type":"Kerberos","requester":{"objectId":"oid-k"}}}"#;
        let e = one(rec, Container::Lines);
        assert_eq!(e.http_status, None);
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.src_ip.as_deref(), Some("10.0.0.4"));
        assert_eq!(e.src_port, None);
        assert_eq!(e.actor_username.as_deref(), Some("oid-k"));
        assert_eq!(e.message, "oid-k (Kerberos) Read ? from 10.0.0.4: Success");
        let rec = r#"{"time":"2024-01-01T00:00:00Z","category":"StorageRead","operationName":"GetBlob","statusCode":"Unknown","statusText":"AnonymousClientOtherError","identity":{"type":"Anonymous"}}"#;
        let e = one(rec, Container::Lines);
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(e.actor_username.as_deref(), Some("Anonymous"));
        assert!(e.message.starts_with("Anonymous caller GetBlob"));
    }

    #[test]
    fn storage_blob_logs_row() {
        let rec = format!(
            r#"{{"TimeGenerated":"2024-04-01T08:00:00Z","Type":"StorageBlobLogs","Category":"StorageWrite","OperationName":"PutBlob","StatusCode":"201","StatusText":"Success","CallerIpAddress":"203.0.113.50:443","Uri":"https://acct.blob.core.windows.net/c/x.bin","AuthenticationType":"AccountKey","AuthenticationHash":"key1(SECRETHASH)","RequesterUpn":"","UserAgentHeader":"rclone/v1.66","CorrelationId":"c-9","_ResourceId":"{SA}"}}"#
        );
        let e = one(&rec, Container::Array);
        assert_eq!(e.source_format, "loganalytics");
        assert_eq!(format_micros(e.time), "2024-04-01T08:00:00.000000Z");
        assert_eq!(e.category.as_deref(), Some("StorageWrite"));
        assert_eq!(e.operation.as_deref(), Some("PutBlob"));
        assert_eq!(e.event_type.as_deref(), Some("Create"));
        assert_eq!(e.http_status, Some(201));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.src_ip.as_deref(), Some("203.0.113.50"));
        assert_eq!(e.src_port, Some(443));
        assert_eq!(e.url.as_deref(), Some("https://acct.blob.core.windows.net/c/x.bin"));
        assert_eq!(e.user_agent.as_deref(), Some("rclone/v1.66"));
        assert_eq!(e.actor_username.as_deref(), Some("AccountKey"));
        assert_eq!(e.correlation_id.as_deref(), Some("c-9"));
        assert_eq!(e.subscription_id.as_deref(), Some("sub-s"));
        assert_eq!(
            e.message,
            "AccountKey caller PutBlob https://acct.blob.core.windows.net/c/x.bin from 203.0.113.50: 201 Success"
        );
        assert!(!e.message.contains("SECRETHASH"));
    }

    #[test]
    fn azure_diagnostics_suffixed_row() {
        let rec = r#"{"TimeGenerated":"2024-04-01T08:00:00Z","Type":"AzureDiagnostics","Category":"StorageRead","OperationName":"ListBlobs","statusCode_d":200,"statusText_s":"Success","callerIpAddress_s":"198.51.100.3:1234","uri_s":"https://acct.blob.core.windows.net/c?restype=container&comp=list","userAgentHeader_s":"curl"}"#;
        let e = one(rec, Container::Lines);
        assert_eq!(e.event_type.as_deref(), Some("Read"));
        assert_eq!(e.http_status, Some(200));
        assert_eq!(e.src_ip.as_deref(), Some("198.51.100.3"));
        assert_eq!(e.src_port, Some(1234));
        assert_eq!(e.url.as_deref(), Some("https://acct.blob.core.windows.net/c?restype=container&comp=list"));
        assert_eq!(e.user_agent.as_deref(), Some("curl"));
        assert_eq!(e.result.as_deref(), Some("Success"));
    }

    #[test]
    fn event_types_and_masking() {
        for (op, want) in [
            ("GetBlob", "Read"),
            ("GetBlobProperties", "Read"),
            ("ListBlobs", "Read"),
            ("QueryEntities", "Read"),
            ("PutBlob", "Create"),
            ("PutBlockList", "Create"),
            ("CreateContainer", "Create"),
            ("CopyBlob", "Create"),
            ("AppendBlock", "Create"),
            ("DeleteBlob", "Delete"),
            ("SetContainerACL", "Set"),
            ("SetBlobMetadata", "Set"),
            ("RenamePathFile", "Other"),
            ("Read", "Read"),
            ("", "Other"),
        ] {
            assert_eq!(event_type(op), want, "{op}");
        }
        assert_eq!(mask_sig("https://a/b"), "https://a/b");
        assert_eq!(mask_sig("https://a/b?SIG=x#f"), "https://a/b?SIG=REDACTED#f");
        assert_eq!(mask_sig("https://a/b?sig=&x=1"), "https://a/b?sig=&x=1");
    }

    #[test]
    fn missing_time_is_an_error() {
        let (r, _) = run_direct(parse, r#"{"category":"StorageRead","operationName":"GetBlob"}"#, Shape::Envelope);
        assert!(r.expect_err("no time").contains("none of time, timeStamp"));
    }
}
