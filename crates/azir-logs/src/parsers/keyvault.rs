//! Key Vault `AuditEvent` logs: the diagnostic envelope (`identity.claim` keyed by full claim
//! URIs, `properties.requestUri|id|clientInfo|httpStatusCode`), `AzureDiagnostics` rows
//! (`identity_claim_appid_g`, `requestUri_s`, `id_s`, `httpStatusCode_d`, `CallerIPAddress`)
//! and resource-specific rows with the same names in PascalCase.
//!
//! `operation` is the operation name (`SecretGet`, `KeyDecrypt`, `VaultPut`…) and its verb
//! gives the ASIM type: `Read` for Get/List, `Set` for Set/Put/Update/Create/Import/Patch,
//! `Delete` for Delete/Purge, `Other` otherwise (`KeyDecrypt`, `SecretBackup`, `Authentication`).
//! The result comes from the HTTP status when there is one (Key Vault writes `resultType`
//! `Success` on some 401s), else from `resultType`; `result_details` is `resultSignature`
//! (`OK`, `Forbidden`) or the status code. `target_resource_id` is the object id URL
//! (`https://kv1.vault.azure.net/secrets/db`) when present, else the vault's ARM id.

use super::appgw::{clip, record_time, resource_name, status_result, Fields, MSG_MAX};
use super::{result_of, Output, RecordCtx};
use crate::json::{get, split_ip_port, subscription_of, text};
use serde_json::Value;

const UPN: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn";
const OID: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";
const TID: &str = "http://schemas.microsoft.com/identity/claims/tenantid";

/// `AzureDiagnostics` flattens claim URIs into column names (`identity_claim_<uri>`).
const UPN_COL: &str = "identity_claim_http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn";
const OID_COL: &str = "identity_claim_http_schemas_microsoft_com_identity_claims_objectidentifier";
const TID_COL: &str = "identity_claim_http_schemas_microsoft_com_identity_claims_tenantid";

/// ASIM AuditEvent type from a Key Vault operation name's verb.
pub fn event_type(op: &str) -> &'static str {
    // CamelCase words: SecretListVersions → [Secret, List, Versions].
    let mut words: Vec<&str> = Vec::new();
    let mut start = 0;
    for (i, ch) in op.char_indices() {
        if i > start && ch.is_ascii_uppercase() {
            words.push(&op[start..i]);
            start = i;
        }
    }
    words.push(&op[start..]);
    let verb = |w: &str| -> Option<&'static str> {
        Some(match w.to_ascii_lowercase().as_str() {
            "get" | "list" => "Read",
            "set" | "put" | "update" | "create" | "import" | "patch" => "Set",
            "delete" | "purge" => "Delete",
            _ => return None,
        })
    };
    if words.len() > 1 {
        if let Some(t) = words.iter().skip(1).find_map(|w| verb(w)) {
            return t;
        }
    }
    // All one case (`secretget`): fall back to the suffix.
    let lower = op.to_ascii_lowercase();
    for (suffix, t) in [
        ("get", "Read"),
        ("list", "Read"),
        ("set", "Set"),
        ("put", "Set"),
        ("update", "Set"),
        ("create", "Set"),
        ("import", "Set"),
        ("delete", "Delete"),
        ("purge", "Delete"),
    ] {
        if lower.len() > suffix.len() && lower.ends_with(suffix) {
            return t;
        }
    }
    "Other"
}

/// Parses one Key Vault audit record.
pub fn parse(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    let f = Fields::new(v);
    let mut e = ctx.event("keyvault");
    e.time = record_time(v, ctx)?;
    e.category = f.category();
    e.operation = f.text(&["operationName"]);
    e.event_type = Some(event_type(e.operation.as_deref().unwrap_or("")).to_string());
    let vault_id = f.resource_id();
    e.target_resource_id = f.text(&["id"]).or_else(|| vault_id.clone());
    e.subscription_id = vault_id.as_deref().and_then(subscription_of);
    e.url = f.text(&["requestUri"]);
    e.user_agent = f.text(&["clientInfo"]);
    e.correlation_id = f.text(&["correlationId"]);
    e.http_status = f.int32(&["httpStatusCode"]);
    if let Some(ip) = f.text(&["callerIpAddress"]) {
        let (ip, port) = split_ip_port(&ip);
        e.src_ip = Some(ip);
        e.src_port = port;
    }
    let result_type = f.text(&["resultType"]);
    e.result = Some(
        match (e.http_status, result_type.as_deref()) {
            (Some(code), _) if code > 0 => status_result(code),
            (_, Some(rt)) => result_of(rt),
            _ => "NA",
        }
        .to_string(),
    );
    e.result_details = f.text(&["resultSignature"]).or_else(|| e.http_status.map(|c| c.to_string())).or(result_type);

    // Claims: an object keyed by claim URI (envelope, LA dynamic column, maybe a JSON string)
    // or flattened AzureDiagnostics columns.
    let identity = f.obj(&["identity"]);
    let claims = identity.as_deref().and_then(|i| get(i, "claim").or_else(|| get(i, "claims")));
    let claims = crate::json::obj(claims);
    let claim = |keys: &[&str]| -> Option<String> {
        let c = claims.as_deref()?;
        keys.iter().find_map(|k| text(get(c, k)))
    };
    e.actor_username = claim(&[UPN, "upn", "unique_name"])
        .or_else(|| f.text(&[UPN_COL, "identity_claim_upn", "identity_claim_unique_name"]));
    e.actor_user_id = claim(&[OID, "oid"]).or_else(|| f.text(&[OID_COL, "identity_claim_oid"]));
    e.actor_app_id = claim(&["appid", "azp"]).or_else(|| f.text(&["identity_claim_appid"]));
    e.tenant_id = claim(&[TID, "tid"]).or_else(|| f.text(&[TID_COL, "identity_claim_tid"]));
    if e.src_ip.is_none() {
        e.src_ip = claim(&["ipaddr"]).or_else(|| f.text(&["identity_claim_ipaddr"]));
    }

    let who = match (&e.actor_username, &e.actor_app_id, &e.actor_user_id) {
        (Some(u), _, _) => u.clone(),
        (None, Some(a), _) => format!("app {a}"),
        (None, None, Some(o)) => format!("object {o}"),
        (None, None, None) => "unknown caller".to_string(),
    };
    let target = e
        .target_resource_id
        .as_deref()
        .map(|t| {
            if t.starts_with("http") {
                clip(t, MSG_MAX).into_owned()
            } else {
                resource_name(t).unwrap_or(t).to_string()
            }
        })
        .unwrap_or_else(|| "?".into());
    let from = e.src_ip.as_deref().map(|ip| format!(" from {ip}")).unwrap_or_default();
    let status = match (e.result_details.as_deref(), e.http_status) {
        (Some(d), Some(c)) if d != c.to_string() => format!("{d} ({c})"),
        (Some(d), _) => d.to_string(),
        (None, Some(c)) => c.to_string(),
        (None, None) => "no status".into(),
    };
    e.message = format!("{who} {} {target}{from}: {status}", e.operation.as_deref().unwrap_or("unknown operation"),);
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

    const KV: &str = "/SUBSCRIPTIONS/SUB-K/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV1";

    fn one(rec: &str, c: Container) -> azir_model::Event {
        let out = run_one("kv.json", rec, c);
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        assert_eq!(out.events.len(), 1);
        out.events[0].clone()
    }

    #[test]
    fn envelope_secret_get_by_app() {
        let rec = format!(
            r#"{{"time":"2016-01-05T01:32:01.2691226Z","resourceId":"{KV}","operationName":"SecretGet","operationVersion":"7.4","category":"AuditEvent","resultType":"Success","resultSignature":"OK","durationMs":"78","callerIpAddress":"104.40.82.76","correlationId":"c-1","identity":{{"claim":{{"{OID}":"oid-1","appid":"app-1","{TID}":"tid-1"}}}},"properties":{{"clientInfo":"azsdk-python/4.x","requestUri":"https://kv1.vault.azure.net/secrets/db?api-version=7.4","id":"https://kv1.vault.azure.net/secrets/db","httpStatusCode":200}}}}"#
        );
        let e = one(&rec, Container::Lines);
        assert_eq!(e.source, "keyvault");
        assert_eq!(format_micros(e.time), "2016-01-05T01:32:01.269122Z");
        assert_eq!(e.category.as_deref(), Some("AuditEvent"));
        assert_eq!(e.operation.as_deref(), Some("SecretGet"));
        assert_eq!(e.event_type.as_deref(), Some("Read"));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.result_details.as_deref(), Some("OK"));
        assert_eq!(e.http_status, Some(200));
        assert_eq!(e.src_ip.as_deref(), Some("104.40.82.76"));
        assert_eq!(e.actor_username, None);
        assert_eq!(e.actor_user_id.as_deref(), Some("oid-1"));
        assert_eq!(e.actor_app_id.as_deref(), Some("app-1"));
        assert_eq!(e.tenant_id.as_deref(), Some("tid-1"));
        assert_eq!(e.url.as_deref(), Some("https://kv1.vault.azure.net/secrets/db?api-version=7.4"));
        assert_eq!(e.target_resource_id.as_deref(), Some("https://kv1.vault.azure.net/secrets/db"));
        assert_eq!(e.subscription_id.as_deref(), Some("sub-k"));
        assert_eq!(e.user_agent.as_deref(), Some("azsdk-python/4.x"));
        assert_eq!(e.correlation_id.as_deref(), Some("c-1"));
        assert_eq!(e.message, "app app-1 SecretGet https://kv1.vault.azure.net/secrets/db from 104.40.82.76: OK (200)");
    }

    #[test]
    fn envelope_forbidden_user_delete() {
        let rec = format!(
            r#"{{"time":"2024-01-01T00:00:00Z","resourceId":"{KV}","operationName":"KeyDelete","category":"AuditEvent","resultType":"Success","resultSignature":"Forbidden","callerIpAddress":"198.51.100.4","identity":{{"claim":{{"{UPN}":"mallory@contoso.com","{OID}":"oid-2"}}}},"properties":{{"httpStatusCode":"403"}}}}"#
        );
        let e = one(&rec, Container::Records);
        assert_eq!(e.source_format, "eventhub");
        assert_eq!(e.event_type.as_deref(), Some("Delete"));
        assert_eq!(e.actor_username.as_deref(), Some("mallory@contoso.com"));
        assert_eq!(e.http_status, Some(403));
        assert_eq!(e.result.as_deref(), Some("Failure"), "the status wins over resultType");
        assert_eq!(e.target_resource_id.as_deref(), Some(KV));
        assert_eq!(e.message, "mallory@contoso.com KeyDelete KV1 from 198.51.100.4: Forbidden (403)");
    }

    #[test]
    fn azure_diagnostics_suffixed_row() {
        let rec = format!(
            r#"{{"TimeGenerated":"2024-03-01T12:00:00Z","Type":"AzureDiagnostics","Category":"AuditEvent","ResourceId":"{KV}","OperationName":"SecretList","ResultType":"Success","ResultSignature":"OK","CallerIPAddress":"203.0.113.77","CorrelationId":"c-3","identity_claim_appid_g":"app-3","{OID_COL}_g":"oid-3","{UPN_COL}_s":"ops@contoso.com","requestUri_s":"https://kv1.vault.azure.net/secrets?api-version=7.4","id_s":"https://kv1.vault.azure.net/secrets","clientInfo_s":"<script>alert(1)</script>","httpStatusCode_d":200}}"#
        );
        let e = one(&rec, Container::Array);
        assert_eq!(e.source_format, "loganalytics");
        assert_eq!(e.category.as_deref(), Some("AuditEvent"));
        assert_eq!(e.operation.as_deref(), Some("SecretList"));
        assert_eq!(e.event_type.as_deref(), Some("Read"));
        assert_eq!(e.src_ip.as_deref(), Some("203.0.113.77"));
        assert_eq!(e.actor_username.as_deref(), Some("ops@contoso.com"));
        assert_eq!(e.actor_user_id.as_deref(), Some("oid-3"));
        assert_eq!(e.actor_app_id.as_deref(), Some("app-3"));
        assert_eq!(e.url.as_deref(), Some("https://kv1.vault.azure.net/secrets?api-version=7.4"));
        assert_eq!(e.target_resource_id.as_deref(), Some("https://kv1.vault.azure.net/secrets"));
        assert_eq!(e.subscription_id.as_deref(), Some("sub-k"));
        assert_eq!(e.user_agent.as_deref(), Some("<script>alert(1)</script>"));
        assert_eq!(e.http_status, Some(200));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.result_details.as_deref(), Some("OK"));
        assert_eq!(e.correlation_id.as_deref(), Some("c-3"));
    }

    #[test]
    fn resource_specific_row_with_json_string_identity() {
        // A resource-specific row that carries `Category`: routed as an envelope without
        // `properties`, read through its PascalCase columns.
        let rec = format!(
            r#"{{"TimeGenerated":"2024-03-01T12:00:00Z","Category":"AuditEvent","OperationName":"VaultPut","ResultType":"Success","ResultSignature":"OK","CallerIpAddress":"192.0.2.8","HttpStatusCode":200,"Id":"{KV}","Identity":"{{\"claim\":{{\"upn\":\"admin@contoso.com\"}}}}","_ResourceId":"{KV}"}}"#
        );
        let e = one(&rec, Container::Lines);
        assert_eq!(e.event_type.as_deref(), Some("Set"));
        assert_eq!(e.actor_username.as_deref(), Some("admin@contoso.com"));
        assert_eq!(e.src_ip.as_deref(), Some("192.0.2.8"));
        assert_eq!(e.http_status, Some(200));
        assert_eq!(e.target_resource_id.as_deref(), Some(KV));
    }

    #[test]
    fn result_type_alone_and_event_types() {
        let rec = r#"{"time":"2024-01-01T00:00:00Z","category":"AuditEvent","operationName":"Authentication","resultType":"Unauthorized","callerIpAddress":"1.2.3.4"}"#;
        let e = one(rec, Container::Lines);
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(e.result_details.as_deref(), Some("Unauthorized"));
        assert_eq!(e.event_type.as_deref(), Some("Other"));
        assert_eq!(e.message, "unknown caller Authentication ? from 1.2.3.4: Unauthorized");
        for (op, want) in [
            ("SecretGet", "Read"),
            ("SecretListVersions", "Read"),
            ("KeyGetRotationPolicy", "Read"),
            ("VaultGetDeleted", "Read"),
            ("CertificatePolicyGet", "Read"),
            ("SecretSet", "Set"),
            ("VaultPut", "Set"),
            ("KeyCreate", "Set"),
            ("KeyImport", "Set"),
            ("SecretUpdate", "Set"),
            ("VaultPatch", "Set"),
            ("SecretDelete", "Delete"),
            ("SecretPurge", "Delete"),
            ("CertificatePendingDelete", "Delete"),
            ("KeyDecrypt", "Other"),
            ("SecretBackup", "Other"),
            ("VaultAccessPolicyChangedEventGridNotification", "Other"),
            ("Authentication", "Other"),
            ("secretget", "Read"),
            ("", "Other"),
        ] {
            assert_eq!(event_type(op), want, "{op}");
        }
    }

    #[test]
    fn missing_time_is_an_error() {
        let (r, _) = run_direct(parse, r#"{"category":"AuditEvent","operationName":"SecretGet"}"#, Shape::Envelope);
        assert!(r.expect_err("no time").contains("none of time, timeStamp"));
    }
}
