//! The Microsoft 365 unified audit log (UAL), source `m365_audit`, in the shapes responders are
//! handed:
//!
//! - **AuditData records** (shape `Rest`, format `rest`): what the Office 365 Management Activity
//!   API returns and what `Search-UnifiedAuditLog` carries in its `AuditData` property — the
//!   common schema (`CreationTime`, `Id`, `RecordType`, `Operation`, `OrganizationId`,
//!   `UserType`, `Workload`, `UserId`, `ClientIP`, `ResultStatus`) plus the workload's own fields
//!   (`ObjectId`, `Parameters`, `ExtendedProperties`, `ModifiedProperties`, `ApplicationId`,
//!   `Actor`/`Target`, Exchange's `MailboxOwnerUPN`/`ClientIPAddress`/`ClientInfoString`, AAD's
//!   `LogonError`/`ErrorNumber`, …). As JSON arrays (Management API content blobs,
//!   Microsoft-Extractor-Suite and the Untitled Goose Tool write arrays of AuditData records),
//!   JSON Lines, or one object per file.
//! - **Export rows** (shape `PortalCsv`): the Purview portal's CSV (`RecordId`, `CreationDate`,
//!   `RecordType`, `Operation`, `UserId`, `AuditData`, …), `Search-UnifiedAuditLog` piped to
//!   `Export-Csv` (`CreationDate`, `UserIds`, `Operations`, `AuditData`) or to `ConvertTo-Json`
//!   (the same properties, `AuditData` a JSON string), and Graph's `auditLogRecord`
//!   (`auditData` an object). The record is the `AuditData` column; the other columns only
//!   summarise it (`CreationDate` in the exporting machine's local time, in `Export-Csv`), so
//!   everything is read from `AuditData`. Bad JSON there quarantines the row with a reason naming
//!   the file, the row's line and the position inside the column; the other rows are unaffected.
//! - **Log Analytics `OfficeActivity`** rows (shape `LogAnalytics`): `TimeGenerated`,
//!   `OfficeWorkload`, `OfficeObjectId`, `OfficeTenantId`, `Client_IPAddress`, dynamic columns
//!   (`Parameters`, `ExtendedProperties`) possibly as JSON text; the rest keeps the UAL names.
//!
//! ## Why `raw` is the AuditData record
//!
//! Sigma's `product: m365` rules are written against AuditData field names (`Operation`,
//! `Workload`, `ApplicationId`, `ObjectId`, `Directionality`, …). For JSON evidence the record
//! *is* AuditData, so `raw` is its bytes as written, like every other JSON parser. An export row
//! is a container of one AuditData record, the way `{"records":[…]}` is a container of
//! resource-log records: `raw` is that record, so a rule finds `Workload` at the top level in
//! every shape. When `AuditData` arrives as a JSON string (`ConvertTo-Json`) `raw` is that text
//! exactly. In a CSV the reader has already decoded the cell (it decodes every cell that holds a
//! JSON object), so `raw` is the decoded record re-serialized (same content, serde_json's key
//! order); the row's own bytes are reached through the provenance (file SHA-256, line and offset
//! of the row), and the columns outside `AuditData` (the Purview export's
//! `AssociatedAdminUnits`, the `Export-Csv` run metadata) are not in `raw`. An `OfficeActivity`
//! row stays the row (as every Log Analytics parser keeps it): it has no AuditData to unwrap.
//!
//! ## Normalization
//!
//! - `time`: `CreationTime`, UTC (the API writes it without a zone, e.g. `2024-01-15T10:30:00`,
//!   and means UTC); `TimeGenerated` for `OfficeActivity`. Missing or unreadable → quarantined.
//! - `operation` = `Operation`; `category` = `Workload` (`OfficeWorkload`); `event_type` from the
//!   operation's verb (logons, reads, `New-`/`Add`, `Set-`/`Update`/`Enable`/`Disable`,
//!   `Remove-`/`Delete`).
//! - `actor_username` = `UserId`, `actor_user_id` = `UserKey`, `actor_app_id` = `ApplicationId`,
//!   else `AppId`, else `ClientAppId`.
//! - `src_ip`/`src_port` from `ClientIP`, else `ClientIPAddress`/`Client_IPAddress`, else
//!   `ActorIpAddress`. The UAL writes `1.2.3.4`, `1.2.3.4:50123`, `[2001:db8::1]:443`, bare IPv6
//!   (`2001:db8::1`, `::ffff:1.2.3.4`): one colon means IPv4 with a port, brackets mean IPv6 with
//!   a port, several colons without brackets are an IPv6 address (never split: the last group
//!   could be a port or part of the address, and the UAL brackets IPv6 when it adds a port). A
//!   value that is then no IP address (empty, `<null>`) is skipped for the next field (it stays
//!   in `raw`).
//! - `result`: `ResultStatus` — `Succeeded`/`Success`/`True` → Success, `Failed`/`Failure`/`False`
//!   → Failure, `PartiallySucceeded` → Partial, missing (most mailbox and file events have none)
//!   → NA. `result_details`: the AAD `ErrorNumber` (a failure's code), else `LogonError`, else
//!   `ResultStatus` as written.
//! - `target_resource_id` = `ObjectId` (`OfficeObjectId`), `target_username` = `MailboxOwnerUPN`,
//!   else the `Target` entry of type UPN (5), else `TargetUserOrGroupName`.
//! - `user_agent` = `UserAgent`, else the `UserAgent` entry of `ExtendedProperties`, else
//!   `ClientInfoString`; `correlation_id` = `CorrelationId`, else `InterSystemsId`; `tenant_id` =
//!   `OrganizationId` (`OfficeTenantId`; Log Analytics' `TenantId` is the workspace's).
//!
//! Fields the normalization reads must be text (or numbers): an object, array or boolean in
//! `Operation`, `Workload`, `UserId`, `ClientIP` or `ResultStatus` quarantines the record with the
//! field's name, rather than putting JSON in an identity or address column.

use super::{json_type, result_of, Output, Payload, RecordCtx};
use crate::detect::Shape;
use crate::json::{first_text, get, int, obj, split_ip_port, text, text_at};
use azir_model::Event;
use serde_json::Value;
use std::borrow::Cow;

/// Where the fields of a record are, per shape.
struct Layout {
    time: &'static [&'static [&'static str]],
    workload: &'static [&'static [&'static str]],
    object: &'static [&'static [&'static str]],
    tenant: &'static [&'static [&'static str]],
}

const AUDIT_DATA: Layout = Layout {
    time: &[&["CreationTime"]],
    workload: &[&["Workload"]],
    object: &[&["ObjectId"]],
    tenant: &[&["OrganizationId"]],
};

const OFFICE_ACTIVITY: Layout = Layout {
    time: &[&["TimeGenerated"], &["TimeGenerated [UTC]"]],
    workload: &[&["OfficeWorkload"], &["Workload"]],
    object: &[&["OfficeObjectId"], &["ObjectId"]],
    tenant: &[&["OfficeTenantId"], &["OrganizationId"]],
};

/// A unified audit log record in any of its shapes.
pub fn parse(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    let e = match ctx.shape {
        Shape::PortalCsv => {
            let (record, raw) = audit_data(v, ctx)?;
            let mut e = normalize(&record, ctx, &AUDIT_DATA).map_err(|r| format!("in AuditData: {r}"))?;
            e.raw = raw;
            e.source_format = match ctx.info.payload {
                Payload::Csv => "csv",
                _ if get(v, "auditLogRecordType").is_some() => "graph",
                _ => "rest",
            }
            .to_string();
            e
        }
        Shape::LogAnalytics => normalize(v, ctx, &OFFICE_ACTIVITY)?,
        _ => normalize(v, ctx, &AUDIT_DATA)?,
    };
    out.events.push(e);
    Ok(())
}

/// The AuditData record of an export row, and its text for `raw`.
fn audit_data<'a>(v: &'a Value, ctx: &RecordCtx) -> Result<(Cow<'a, Value>, String), String> {
    let at = || format!("{} line {}", ctx.info.display, ctx.prov.line);
    match get(v, "AuditData") {
        None | Some(Value::Null) => Err(format!("no AuditData in the export row at {}", at())),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(record @ Value::Object(_)) => Ok((Cow::Owned(record), s.clone())),
            Ok(other) => Err(format!(
                "wrong type for field AuditData at {}: the text holds a JSON {}, not an object",
                at(),
                json_type(&other)
            )),
            Err(err) => {
                // serde_json appends its own " at line L column C"; the position is given
                // relative to the column, as the column may span several lines of the file.
                let msg = err.to_string();
                let msg = msg.rfind(" at line ").map_or(msg.as_str(), |i| &msg[..i]);
                Err(format!(
                    "invalid JSON in the AuditData column at {} (AuditData line {}, column {}): {msg}",
                    at(),
                    err.line(),
                    err.column()
                ))
            }
        },
        Some(record @ Value::Object(_)) => Ok((Cow::Borrowed(record), record.to_string())),
        Some(other) => {
            Err(format!("wrong type for field AuditData at {}: a JSON {}, not an object", at(), json_type(other)))
        }
    }
}

/// A text field: absent/null/empty is `None`; an object, array or boolean is an error.
fn text_field(v: &Value, paths: &[&[&str]]) -> Result<Option<String>, String> {
    for p in paths {
        let Some(x) = crate::json::path(v, p) else { continue };
        if matches!(x, Value::Object(_) | Value::Array(_) | Value::Bool(_)) {
            return Err(format!("wrong type for field {}: a JSON {}, not text", p.join("."), json_type(x)));
        }
        if let Some(t) = text(Some(x)) {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

fn normalize(v: &Value, ctx: &RecordCtx, l: &Layout) -> Result<Event, String> {
    let mut e = ctx.event("m365_audit");
    e.time = ctx.time(v, l.time)?;
    let op = text_field(v, &[&["Operation"]])?.ok_or_else(|| "no Operation field".to_string())?;
    e.category = text_field(v, l.workload)?;
    e.actor_username = text_field(v, &[&["UserId"]])?;
    // The first address field that holds an address (`ClientIP` can be empty or `<null>` while
    // `ClientIPAddress` has one).
    let mut ip = None;
    for field in ["ClientIP", "ClientIPAddress", "Client_IPAddress", "ActorIpAddress"] {
        ip = text_field(v, &[&[field]])?.as_deref().and_then(client_ip);
        if ip.is_some() {
            break;
        }
    }
    let status = text_field(v, &[&["ResultStatus"]])?;

    e.event_type = Some(event_type(&op).to_string());
    if let Some((addr, port)) = ip {
        e.src_ip = Some(addr);
        e.src_port = port;
    }
    e.result = Some(
        match status.as_deref() {
            Some(s) if s.eq_ignore_ascii_case("PartiallySucceeded") => "Partial",
            Some(s) => result_of(s),
            None => "NA",
        }
        .to_string(),
    );
    let code = first_text(v, &[&["ErrorNumber"]]).filter(|c| c != "0");
    let logon_error = first_text(v, &[&["LogonError"]]);
    e.result_details = code.or_else(|| logon_error.clone()).or_else(|| status.clone());
    e.actor_user_id = first_text(v, &[&["UserKey"]]);
    e.actor_app_id = first_text(v, &[&["ApplicationId"], &["AppId"], &["ClientAppId"]]);
    e.target_resource_id = first_text(v, l.object);
    e.target_username = first_text(v, &[&["MailboxOwnerUPN"]])
        .or_else(|| identity_of_type(v, "Target", 5))
        .or_else(|| first_text(v, &[&["TargetUserOrGroupName"]]));
    e.user_agent = first_text(v, &[&["UserAgent"]])
        .or_else(|| name_value(v, "ExtendedProperties", "UserAgent"))
        .or_else(|| first_text(v, &[&["ClientInfoString"]]));
    e.correlation_id = first_text(v, &[&["CorrelationId"], &["InterSystemsId"]]);
    e.tenant_id = first_text(v, l.tenant);

    let who = e.actor_username.as_deref().unwrap_or("unknown user");
    let from = e.src_ip.as_deref().map(|ip| format!(" from {ip}")).unwrap_or_default();
    let target = e
        .target_username
        .as_deref()
        .or(e.target_resource_id.as_deref())
        .filter(|t| Some(*t) != e.actor_username.as_deref())
        .map(|t| format!(" on {t}"))
        .unwrap_or_default();
    let workload = e.category.as_deref().map(|w| format!(" in {w}")).unwrap_or_default();
    let outcome = match (status.as_deref(), logon_error.as_deref()) {
        (Some(s), Some(err)) => format!(" ({s}: {err})"),
        (Some(s), None) => format!(" ({s})"),
        (None, Some(err)) => format!(" ({err})"),
        (None, None) => String::new(),
    };
    e.message = format!("{who}{from}: {op}{target}{workload}{outcome}");
    e.operation = Some(op);
    Ok(e)
}

/// Address and port of a UAL client address (see the module docs for the forms).
fn client_ip(s: &str) -> Option<(String, Option<i32>)> {
    let (addr, port) = split_ip_port(s);
    // An IPv6 zone (`fe80::1%12`) is not part of the address.
    let bare = addr.split('%').next().unwrap_or(&addr);
    bare.parse::<std::net::IpAddr>().ok().map(|ip| (ip.to_string(), port.filter(|p| (0..=65535).contains(p))))
}

/// The `Value` of the `{Name, Value}` entry called `name` in the array `field` (an array, or a
/// JSON string holding one, as Log Analytics exports dynamic columns).
fn name_value(v: &Value, field: &str, name: &str) -> Option<String> {
    let list = obj(get(v, field))?;
    list.as_array()?.iter().find_map(|item| {
        let n = text(get(item, "Name"))?;
        n.eq_ignore_ascii_case(name).then(|| text(get(item, "Value"))).flatten()
    })
}

/// The `ID` of the first `Actor`/`Target` entry of identity type `kind` (5 = UPN).
fn identity_of_type(v: &Value, field: &str, kind: i64) -> Option<String> {
    let list = obj(get(v, field))?;
    list.as_array()?.iter().find_map(|item| (int(get(item, "Type")) == Some(kind)).then(|| text_at(item, &["ID"]))?)
}

/// ASIM event type from the operation's name.
fn event_type(op: &str) -> &'static str {
    let o = op.trim().to_ascii_lowercase();
    match o.as_str() {
        "userloggedin" | "userloginfailed" | "mailboxlogin" | "signinevent" | "teamsessionstarted" => {
            return "Logon";
        }
        "userloggedout" => return "Logoff",
        "fileaccessed"
        | "fileaccessedextended"
        | "filedownloaded"
        | "filepreviewed"
        | "filesyncdownloadedfull"
        | "filesyncdownloadedpartial"
        | "mailitemsaccessed"
        | "searchqueryperformed"
        | "searchqueryinitiated"
        | "pageviewed"
        | "pageviewedextended"
        | "messagesread"
        | "folderbind" => return "Read",
        _ => {}
    }
    let verb = o.split(['-', ' ']).next().unwrap_or("");
    match verb {
        "new" | "add" | "create" | "register" | "invite" => return "Create",
        "set" | "update" | "enable" | "disable" | "change" | "reset" | "consent" | "grant" => return "Set",
        "remove" | "delete" | "revoke" | "clear" => return "Delete",
        _ => {}
    }
    if o.ends_with("deleted")
        || o.ends_with("recycled")
        || matches!(o.as_str(), "harddelete" | "softdelete" | "movetodeleteditems")
    {
        return "Delete";
    }
    if o.starts_with("file") || o.starts_with("folder") {
        if o.ends_with("created") || o.ends_with("uploaded") || o.ends_with("copied") {
            return "Create";
        }
        if o.ends_with("modified") || o.ends_with("renamed") || o.ends_with("moved") {
            return "Set";
        }
    }
    "Other"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::{parse_chunk, run_one, StreamInfo};
    use crate::split::{Chunk, Container};

    /// An AzureActiveDirectory (RecordType 8) admin record as the Management Activity API writes it.
    const AAD_DISABLE_MFA: &str = r#"{"CreationTime":"2024-01-15T10:30:00","Id":"5b3e2f5c-7a1d-4e8b-9c0f-1a2b3c4d5e6f","Operation":"Disable Strong Authentication.","OrganizationId":"72f988bf-86f1-41af-91ab-2d7cd011db47","RecordType":8,"ResultStatus":"Success","UserKey":"10032001A2B3C4D5@contoso.onmicrosoft.com","UserType":0,"Version":1,"Workload":"AzureActiveDirectory","ClientIP":"203.0.113.42:53146","ObjectId":"megan@contoso.com","UserId":"admin@contoso.com","AzureActiveDirectoryEventType":1,"ExtendedProperties":[{"Name":"additionalDetails","Value":"{}"},{"Name":"extendedAuditEventCategory","Value":"User"}],"ModifiedProperties":[{"Name":"StrongAuthenticationRequirement","NewValue":"[]","OldValue":"[{\"RelyingParty\":\"*\",\"State\":1}]"}],"Actor":[{"ID":"admin@contoso.com","Type":5},{"ID":"10032001A2B3C4D5","Type":3},{"ID":"User_3f2c1b0a-9e8d-4c7b-a6f5-e4d3c2b1a098","Type":2}],"ActorContextId":"72f988bf-86f1-41af-91ab-2d7cd011db47","ActorIpAddress":"203.0.113.42","InterSystemsId":"8f1c6a7e-0c2f-4a8b-9f3e-1d2c3b4a5e6f","IntraSystemId":"d0e1f2a3-b4c5-4d6e-8f70-81a2b3c4d5e6","SupportTicketId":"","Target":[{"ID":"User_9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d","Type":2},{"ID":"megan@contoso.com","Type":5},{"ID":"1003200099887766","Type":3}],"TargetContextId":"72f988bf-86f1-41af-91ab-2d7cd011db47"}"#;

    /// An AzureActiveDirectoryStsLogon (RecordType 15) failed sign-in from an IPv6 address.
    const AAD_LOGIN_FAILED: &str = r#"{"CreationTime":"2024-01-15T10:31:07","Id":"0c9b8a7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d","Operation":"UserLoginFailed","OrganizationId":"72f988bf-86f1-41af-91ab-2d7cd011db47","RecordType":15,"ResultStatus":"Failed","UserKey":"9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d","UserType":0,"Version":1,"Workload":"AzureActiveDirectory","ClientIP":"2001:db8:85a3::8a2e:370:7334","ObjectId":"00000003-0000-0ff1-ce00-000000000000","UserId":"megan@contoso.com","AzureActiveDirectoryEventType":1,"ExtendedProperties":[{"Name":"ResultStatusDetail","Value":"Success"},{"Name":"UserAgent","Value":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"},{"Name":"RequestType","Value":"OAuth2:Token"}],"ModifiedProperties":[],"Actor":[{"ID":"9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d","Type":0},{"ID":"megan@contoso.com","Type":5}],"ActorContextId":"72f988bf-86f1-41af-91ab-2d7cd011db47","ActorIpAddress":"2001:db8:85a3::8a2e:370:7334","InterSystemsId":"c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f","IntraSystemId":"f6e5d4c3-b2a1-4098-8765-43210fedcba9","SupportTicketId":"","Target":[{"ID":"00000003-0000-0ff1-ce00-000000000000","Type":0}],"TargetContextId":"72f988bf-86f1-41af-91ab-2d7cd011db47","ApplicationId":"1fec8e78-bce4-4aaf-ab1b-5451cc387264","ErrorNumber":"50126","LogonError":"InvalidUserNameOrPassword"}"#;

    /// An ExchangeItemAggregated (RecordType 50) MailItemsAccessed: no `ClientIP`, the address
    /// (bracketed IPv6 with a port) in `ClientIPAddress`.
    const EXO_MAIL_ITEMS: &str = r#"{"CreationTime":"2024-01-15T11:02:44","Id":"a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d","Operation":"MailItemsAccessed","OrganizationId":"72f988bf-86f1-41af-91ab-2d7cd011db47","RecordType":50,"ResultStatus":"Succeeded","UserKey":"10032001A2B3C4D5","UserType":0,"Version":1,"Workload":"Exchange","UserId":"megan@contoso.com","AppId":"00000002-0000-0ff1-ce00-000000000000","ClientAppId":"d3590ed6-52b3-4102-aeff-aad2292ab01c","ClientIPAddress":"[2001:db8::7]:51234","ClientInfoString":"Client=REST;Client=RESTSystem;;","ExternalAccess":false,"InternalLogonType":0,"LogonType":0,"LogonUserSid":"S-1-5-21-1234567890-1234567890-1234567890-1001","MailboxGuid":"b7c6d5e4-f3a2-4b1c-9d0e-8f7a6b5c4d3e","MailboxOwnerSid":"S-1-5-21-1234567890-1234567890-1234567890-1001","MailboxOwnerUPN":"megan@contoso.com","OperationProperties":[{"Name":"MailAccessType","Value":"Bind"},{"Name":"IsThrottled","Value":"False"}],"OrganizationName":"contoso.onmicrosoft.com","OriginatingServer":"AM0PR01MB1234 (15.20.7181.000)","Folders":[{"FolderItems":[{"InternetMessageId":"<a1@contoso.com>"}],"Id":"LgAAAAAAAAA","Path":"\\Inbox"}],"OperationCount":1}"#;

    /// An ExchangeAdmin (RecordType 1) cmdlet: `ResultStatus` is "True", `Parameters` name/value.
    const EXO_NEW_INBOX_RULE: &str = r#"{"CreationTime":"2024-01-15T11:15:03","Id":"e9d8c7b6-a5f4-4e3d-2c1b-0a9f8e7d6c5b","Operation":"New-InboxRule","OrganizationId":"72f988bf-86f1-41af-91ab-2d7cd011db47","RecordType":1,"ResultStatus":"True","UserKey":"10032001A2B3C4D5","UserType":2,"Version":1,"Workload":"Exchange","ClientIP":"198.51.100.23:40112","ObjectId":"megan@contoso.com\\.","UserId":"megan@contoso.com","AppId":"00000002-0000-0ff1-ce00-000000000000","ClientAppId":"","ExternalAccess":false,"OrganizationName":"contoso.onmicrosoft.com","OriginatingServer":"AM0PR01MB1234 (15.20.7181.000)","Parameters":[{"Name":"AlwaysDeleteOutputAudit","Value":"True"},{"Name":"Name","Value":"."},{"Name":"ForwardTo","Value":"drop@evil.example"},{"Name":"StopProcessingRules","Value":"True"}],"SessionId":"4f3e2d1c-0b9a-4887-a6b5-c4d3e2f1a0b9"}"#;

    /// A SharePoint (RecordType 6) FileDownloaded: `UserAgent` and `CorrelationId`, no `ResultStatus`.
    const SPO_DOWNLOAD: &str = r#"{"CreationTime":"2024-01-15T11:20:00","Id":"77665544-3322-4110-9988-776655443322","Operation":"FileDownloaded","OrganizationId":"72f988bf-86f1-41af-91ab-2d7cd011db47","RecordType":6,"UserKey":"i:0h.f|membership|10032001a2b3c4d5@live.com","UserType":0,"Version":1,"Workload":"OneDrive","ClientIP":"203.0.113.42","ObjectId":"https://contoso-my.sharepoint.com/personal/megan_contoso_com/Documents/payroll.xlsx","UserId":"megan@contoso.com","CorrelationId":"3a2b1c0d-e9f8-4a7b-b6c5-d4e3f2a1b0c9","EventSource":"SharePoint","ItemType":"File","Site":"0f1e2d3c-4b5a-4697-8877-665544332211","UserAgent":"OneDriveMpc-Transform_Thumbnail/1.0","SourceFileExtension":"xlsx","SourceFileName":"payroll.xlsx","SourceRelativeUrl":"Documents"}"#;

    fn one(rec: &str) -> Event {
        let out = run_one("ual.json", rec, Container::Lines);
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.by_source.get("m365_audit"), Some(&1));
        out.events.into_iter().next().unwrap()
    }

    fn bad(display: &str, rec: &str) -> azir_model::BadRecord {
        let out = run_one(display, rec, Container::Lines);
        assert!(out.events.is_empty(), "{:?}", out.events);
        assert_eq!(out.bad.len(), 1);
        assert_eq!(out.by_source.get("m365_audit"), Some(&1), "counted as m365_audit");
        out.bad.into_iter().next().unwrap()
    }

    /// Runs a whole stream through the reader (payload sniffing, CSV rows) and the parsers.
    fn run_stream(display: &str, bytes: &[u8]) -> Output {
        let (payload, mut r) = crate::reader::open(std::io::BufReader::new(bytes), 1 << 20).unwrap();
        let info = StreamInfo::new("00".repeat(32), display, payload);
        let mut out = Output::default();
        let mut chunk = Chunk::default();
        loop {
            let more = r.next_chunk(&mut chunk, 1 << 16).unwrap();
            parse_chunk(&info, &chunk, &mut out);
            if !more {
                break;
            }
        }
        out
    }

    /// A CSV cell, quoted as Export-Csv and the Purview portal quote it.
    fn q(s: &str) -> String {
        format!("\"{}\"", s.replace('"', "\"\""))
    }

    fn json(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn aad_admin_record_field_by_field() {
        let e = one(AAD_DISABLE_MFA);
        assert_eq!(e.source, "m365_audit");
        assert_eq!(e.source_format, "rest");
        assert_eq!(azir_model::format_micros(e.time), "2024-01-15T10:30:00.000000Z");
        assert_eq!(e.operation.as_deref(), Some("Disable Strong Authentication."));
        assert_eq!(e.category.as_deref(), Some("AzureActiveDirectory"));
        assert_eq!(e.event_type.as_deref(), Some("Set"));
        assert_eq!(e.actor_username.as_deref(), Some("admin@contoso.com"));
        assert_eq!(e.actor_user_id.as_deref(), Some("10032001A2B3C4D5@contoso.onmicrosoft.com"));
        assert_eq!(e.src_ip.as_deref(), Some("203.0.113.42"));
        assert_eq!(e.src_port, Some(53146));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.result_details.as_deref(), Some("Success"));
        assert_eq!(e.target_resource_id.as_deref(), Some("megan@contoso.com"));
        assert_eq!(e.target_username.as_deref(), Some("megan@contoso.com"), "Target entry of type 5 (UPN)");
        assert_eq!(e.correlation_id.as_deref(), Some("8f1c6a7e-0c2f-4a8b-9f3e-1d2c3b4a5e6f"));
        assert_eq!(e.tenant_id.as_deref(), Some("72f988bf-86f1-41af-91ab-2d7cd011db47"));
        assert_eq!(e.actor_app_id, None);
        assert_eq!(e.user_agent, None);
        assert_eq!(e.raw, AAD_DISABLE_MFA, "raw is the record as written");
        assert_eq!((e.provenance.line, e.provenance.offset), (1, 0));
        assert_eq!(
            e.message,
            "admin@contoso.com from 203.0.113.42: Disable Strong Authentication. on megan@contoso.com in AzureActiveDirectory (Success)"
        );
    }

    #[test]
    fn aad_failed_logon_keeps_the_error_and_user_agent() {
        let e = one(AAD_LOGIN_FAILED);
        assert_eq!(e.operation.as_deref(), Some("UserLoginFailed"));
        assert_eq!(e.event_type.as_deref(), Some("Logon"));
        assert_eq!(e.result.as_deref(), Some("Failure"));
        assert_eq!(e.result_details.as_deref(), Some("50126"));
        assert_eq!(e.src_ip.as_deref(), Some("2001:db8:85a3::8a2e:370:7334"));
        assert_eq!(e.src_port, None, "a bare IPv6 address is never split at its last colon");
        assert_eq!(e.actor_app_id.as_deref(), Some("1fec8e78-bce4-4aaf-ab1b-5451cc387264"));
        assert_eq!(e.user_agent.as_deref(), Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"));
        assert_eq!(e.target_resource_id.as_deref(), Some("00000003-0000-0ff1-ce00-000000000000"));
        assert_eq!(e.target_username, None, "no Target entry of type UPN");
        assert_eq!(e.correlation_id.as_deref(), Some("c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"));
        assert_eq!(
            e.message,
            "megan@contoso.com from 2001:db8:85a3::8a2e:370:7334: UserLoginFailed on 00000003-0000-0ff1-ce00-000000000000 in AzureActiveDirectory (Failed: InvalidUserNameOrPassword)"
        );
    }

    #[test]
    fn exchange_records() {
        let e = one(EXO_MAIL_ITEMS);
        assert_eq!(e.category.as_deref(), Some("Exchange"));
        assert_eq!(e.event_type.as_deref(), Some("Read"));
        assert_eq!(e.src_ip.as_deref(), Some("2001:db8::7"), "ClientIPAddress when there is no ClientIP");
        assert_eq!(e.src_port, Some(51234));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.result_details.as_deref(), Some("Succeeded"));
        assert_eq!(e.actor_app_id.as_deref(), Some("00000002-0000-0ff1-ce00-000000000000"));
        assert_eq!(e.user_agent.as_deref(), Some("Client=REST;Client=RESTSystem;;"));
        assert_eq!(e.target_username.as_deref(), Some("megan@contoso.com"));
        assert_eq!(e.target_resource_id, None);
        assert_eq!(e.message, "megan@contoso.com from 2001:db8::7: MailItemsAccessed in Exchange (Succeeded)");

        let e = one(EXO_NEW_INBOX_RULE);
        assert_eq!(e.event_type.as_deref(), Some("Create"));
        assert_eq!(e.result.as_deref(), Some("Success"), "ResultStatus True");
        assert_eq!(e.result_details.as_deref(), Some("True"));
        assert_eq!((e.src_ip.as_deref(), e.src_port), (Some("198.51.100.23"), Some(40112)));
        assert_eq!(e.target_resource_id.as_deref(), Some("megan@contoso.com\\."));
        assert_eq!(e.actor_user_id.as_deref(), Some("10032001A2B3C4D5"));
    }

    #[test]
    fn sharepoint_record_without_result_status() {
        let e = one(SPO_DOWNLOAD);
        assert_eq!(e.category.as_deref(), Some("OneDrive"));
        assert_eq!(e.event_type.as_deref(), Some("Read"));
        assert_eq!(e.result.as_deref(), Some("NA"));
        assert_eq!(e.result_details, None);
        assert_eq!(e.user_agent.as_deref(), Some("OneDriveMpc-Transform_Thumbnail/1.0"));
        assert_eq!(e.correlation_id.as_deref(), Some("3a2b1c0d-e9f8-4a7b-b6c5-d4e3f2a1b0c9"));
        assert_eq!((e.src_ip.as_deref(), e.src_port), (Some("203.0.113.42"), None));
        assert_eq!(
            e.target_resource_id.as_deref(),
            Some("https://contoso-my.sharepoint.com/personal/megan_contoso_com/Documents/payroll.xlsx")
        );
    }

    /// A ClientIP value and the `(src_ip, src_port)` expected from it (`None`: no address).
    type IpCase = (&'static str, Option<(&'static str, Option<i32>)>);

    #[test]
    fn client_ip_forms() {
        let cases: &[IpCase] = &[
            ("203.0.113.42", Some(("203.0.113.42", None))),
            ("203.0.113.42:53146", Some(("203.0.113.42", Some(53146)))),
            ("[2001:db8::7]:443", Some(("2001:db8::7", Some(443)))),
            ("[2001:db8::7]", Some(("2001:db8::7", None))),
            ("2001:db8:85a3::8a2e:370:7334", Some(("2001:db8:85a3::8a2e:370:7334", None))),
            ("::ffff:203.0.113.42", Some(("::ffff:203.0.113.42", None))),
            ("fe80::1%12", Some(("fe80::1", None))),
            (" 198.51.100.7 ", Some(("198.51.100.7", None))),
            ("<null>", None),
            ("203.0.113.42:port", None),
            ("not an address", None),
        ];
        // Without ActorIpAddress, which a value that is no address would fall through to.
        let base = AAD_DISABLE_MFA.replace(r#""ActorIpAddress":"203.0.113.42","#, "");
        assert_ne!(base, AAD_DISABLE_MFA);
        for (ip, want) in cases {
            let rec = base.replace("\"203.0.113.42:53146\"", &serde_json::to_string(ip).unwrap());
            let e = one(&rec);
            let got = e.src_ip.as_deref().map(|a| (a, e.src_port));
            assert_eq!(got, *want, "ClientIP {ip:?}");
        }
        // An empty ClientIP, or one that is no address, falls through to the other address fields.
        let rec = EXO_NEW_INBOX_RULE.replace("\"198.51.100.23:40112\"", "\"\"");
        assert_eq!(one(&rec).src_ip, None);
        for empty in ["\"\"", "\"<null>\"", "null"] {
            let rec =
                EXO_MAIL_ITEMS.replace("\"ClientIPAddress\"", &format!("\"ClientIP\":{empty},\"ClientIPAddress\""));
            let e = one(&rec);
            assert_eq!((e.src_ip.as_deref(), e.src_port), (Some("2001:db8::7"), Some(51234)), "{empty}");
        }
    }

    #[test]
    fn result_status_spellings() {
        for (status, result) in [
            ("Succeeded", "Success"),
            ("Success", "Success"),
            ("True", "Success"),
            ("Failed", "Failure"),
            ("Failure", "Failure"),
            ("False", "Failure"),
            ("PartiallySucceeded", "Partial"),
            ("Something new", "NA"),
        ] {
            let rec = EXO_NEW_INBOX_RULE.replace(r#""ResultStatus":"True""#, &format!(r#""ResultStatus":"{status}""#));
            let e = one(&rec);
            assert_eq!(e.result.as_deref(), Some(result), "{status}");
            assert_eq!(e.result_details.as_deref(), Some(status), "details kept as written");
        }
    }

    #[test]
    fn event_types() {
        for (op, t) in [
            ("UserLoggedIn", "Logon"),
            ("MailboxLogin", "Logon"),
            ("FileAccessed", "Read"),
            ("Add member to role.", "Create"),
            ("Add-MailboxPermission", "Create"),
            ("Set-Mailbox", "Set"),
            ("Update user.", "Set"),
            ("Remove-InboxRule", "Delete"),
            ("Delete user.", "Delete"),
            ("FileDeleted", "Delete"),
            ("MoveToDeletedItems", "Delete"),
            ("HardDelete", "Delete"),
            ("FileUploaded", "Create"),
            ("FileModified", "Set"),
            ("AlertTriggered", "Other"),
            ("TIMailData", "Other"),
        ] {
            assert_eq!(event_type(op), t, "{op}");
        }
    }

    #[test]
    fn json_array_and_json_lines_of_audit_data_records() {
        // What Microsoft-Extractor-Suite and the Management Activity API write: an array.
        let array = format!("[\n{AAD_DISABLE_MFA},\n{EXO_MAIL_ITEMS},\n{SPO_DOWNLOAD}\n]\n");
        let out = run_stream("UAL-2024-01-15.json", array.as_bytes());
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        assert_eq!(out.by_source.get("m365_audit"), Some(&3));
        let lines: Vec<u64> = out.events.iter().map(|e| e.provenance.line).collect();
        assert_eq!(lines, [2, 3, 4]);
        for e in &out.events {
            let off = e.provenance.offset as usize;
            assert_eq!(&array[off..off + e.raw.len()], e.raw, "raw is the evidence bytes");
        }
        assert_eq!(out.events[1].operation.as_deref(), Some("MailItemsAccessed"));

        let jsonl = format!("{AAD_LOGIN_FAILED}\n{EXO_NEW_INBOX_RULE}\n");
        let out = run_stream("ual.jsonl", jsonl.as_bytes());
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        assert_eq!(out.events.len(), 2);
        assert_eq!(out.events[1].raw, EXO_NEW_INBOX_RULE);
        assert_eq!(out.events[1].provenance.line, 2);
    }

    #[test]
    fn purview_csv_export_reads_audit_data_and_quarantines_bad_json() {
        let header = "RecordId,CreationDate,RecordType,Operation,UserId,AuditData,AssociatedAdminUnits,AssociatedAdminUnitsNames";
        let row = |id: &str, date: &str, rt: &str, op: &str, user: &str, data: &str| {
            format!("{id},{date},{rt},{op},{user},{},,\r\n", q(data))
        };
        let broken = r#"{"CreationTime":"2024-01-15T10:40:00","Id":"x","Operation":"Set-Mailbox","Workload":"Exchange","UserId":"a@contoso.com","Parameters":[{"Name":"Identity","Value":"a"}"#;
        let csv = format!(
            "{header}\r\n{}{}{}",
            row(
                "5b3e2f5c-7a1d-4e8b-9c0f-1a2b3c4d5e6f",
                "2024-01-15T10:30:00.0000000Z",
                "AzureActiveDirectory",
                "Disable Strong Authentication.",
                "admin@contoso.com",
                AAD_DISABLE_MFA
            ),
            row("d1", "2024-01-15T10:40:00.0000000Z", "ExchangeAdmin", "Set-Mailbox", "a@contoso.com", broken),
            row(
                "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
                "2024-01-15T11:02:44.0000000Z",
                "ExchangeItemAggregated",
                "MailItemsAccessed",
                "megan@contoso.com",
                EXO_MAIL_ITEMS
            ),
        );
        let out = run_stream("Audit_Search_2024-01-15.csv", csv.as_bytes());
        assert_eq!(out.by_source.get("m365_audit"), Some(&3), "the bad row is counted too");
        assert_eq!(out.events.len(), 2, "the run goes on past the bad row");
        assert_eq!(out.bad.len(), 1);
        let b = &out.bad[0];
        assert_eq!(b.parser.as_deref(), Some("m365_audit"));
        assert_eq!(b.provenance.line, 3);
        assert!(
            b.reason.starts_with(
                "invalid JSON in the AuditData column at Audit_Search_2024-01-15.csv line 3 (AuditData line 1, column "
            ),
            "{}",
            b.reason
        );
        assert!(b.reason.contains("EOF while parsing"), "{}", b.reason);

        let e = &out.events[0];
        assert_eq!(e.source, "m365_audit");
        assert_eq!(e.source_format, "csv");
        assert_eq!(e.provenance.line, 2);
        assert_eq!(e.operation.as_deref(), Some("Disable Strong Authentication."));
        assert_eq!(e.actor_username.as_deref(), Some("admin@contoso.com"));
        assert_eq!((e.src_ip.as_deref(), e.src_port), (Some("203.0.113.42"), Some(53146)));
        assert_eq!(azir_model::format_micros(e.time), "2024-01-15T10:30:00.000000Z");
        // raw is the AuditData record (same content as the cell), not the row.
        assert_eq!(json(&e.raw), json(AAD_DISABLE_MFA));
        assert!(!e.raw.contains("AssociatedAdminUnits"));
        let e = &out.events[1];
        assert_eq!(e.provenance.line, 4);
        assert_eq!(e.target_username.as_deref(), Some("megan@contoso.com"));
        assert_eq!(json(&e.raw), json(EXO_MAIL_ITEMS));
    }

    #[test]
    fn search_unifiedauditlog_export_csv() {
        // `Search-UnifiedAuditLog ... | Export-Csv -NoTypeInformation`: every cell quoted, the
        // cmdlet's own columns, CreationDate in the exporting machine's local time.
        let header = "\"RunspaceId\",\"RecordType\",\"CreationDate\",\"UserIds\",\"Operations\",\"AuditData\",\"ResultIndex\",\"ResultCount\",\"Identity\",\"IsValid\",\"ObjectState\"";
        let csv = format!(
            "{header}\r\n\"6f1d7c2e-1b3a-4c5d-9e8f-0a1b2c3d4e5f\",\"ExchangeAdmin\",\"1/15/2024 12:15:03 PM\",\"megan@contoso.com\",\"New-InboxRule\",{},\"1\",\"2\",\"e9d8c7b6-a5f4-4e3d-2c1b-0a9f8e7d6c5b\",\"True\",\"Unchanged\"\r\n",
            q(EXO_NEW_INBOX_RULE)
        );
        let out = run_stream("UAL.csv", csv.as_bytes());
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        let e = &out.events[0];
        assert_eq!(e.source_format, "csv");
        assert_eq!(azir_model::format_micros(e.time), "2024-01-15T11:15:03.000000Z", "CreationTime, not CreationDate");
        assert_eq!(e.operation.as_deref(), Some("New-InboxRule"));
        assert_eq!(e.category.as_deref(), Some("Exchange"));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(json(&e.raw), json(EXO_NEW_INBOX_RULE));
    }

    #[test]
    fn convertto_json_export_keeps_the_audit_data_text_exactly() {
        let row = serde_json::json!({
            "RunspaceId": "6f1d7c2e-1b3a-4c5d-9e8f-0a1b2c3d4e5f",
            "RecordType": 15,
            "CreationDate": "/Date(1705318267000)/",
            "UserIds": "megan@contoso.com",
            "Operations": "UserLoginFailed",
            "AuditData": AAD_LOGIN_FAILED,
            "ResultIndex": 1,
            "ResultCount": 1,
            "Identity": "0c9b8a7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d",
            "IsValid": true,
            "ObjectState": 0
        })
        .to_string();
        let e = one(&row);
        assert_eq!(e.source_format, "rest");
        assert_eq!(e.raw, AAD_LOGIN_FAILED);
        assert_eq!(e.result_details.as_deref(), Some("50126"));
        assert_eq!(azir_model::format_micros(e.time), "2024-01-15T10:31:07.000000Z");
    }

    #[test]
    fn graph_audit_log_record() {
        let rec = format!(
            r#"{{"id":"77665544-3322-4110-9988-776655443322","createdDateTime":"2024-01-15T11:20:00Z","auditLogRecordType":"sharePointFileOperation","operation":"FileDownloaded","organizationId":"72f988bf-86f1-41af-91ab-2d7cd011db47","userType":"regular","userId":"megan@contoso.com","service":"OneDrive","objectId":"x","userPrincipalName":"megan@contoso.com","clientIp":"203.0.113.42","administrativeUnits":[],"auditData":{SPO_DOWNLOAD}}}"#
        );
        let e = one(&rec);
        assert_eq!(e.source_format, "graph");
        assert_eq!(e.operation.as_deref(), Some("FileDownloaded"));
        assert_eq!(json(&e.raw), json(SPO_DOWNLOAD));
    }

    #[test]
    fn office_activity_rows() {
        // Log Analytics JSON export: dynamic columns as JSON text, `Type` names the table.
        let la = r#"{"TenantId":"0d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f3a","TimeGenerated":"2024-01-15T11:15:05.123Z","RecordType":"ExchangeAdmin","Operation":"New-InboxRule","UserType":"Regular","UserKey":"10032001A2B3C4D5","OfficeWorkload":"Exchange","ResultStatus":"True","OfficeObjectId":"megan@contoso.com\\.","UserId":"megan@contoso.com","ClientIP":"198.51.100.23:40112","ExternalAccess":"false","OriginatingServer":"AM0PR01MB1234 (15.20.7181.000)","OrganizationName":"contoso.onmicrosoft.com","Parameters":"[{\"Name\":\"ForwardTo\",\"Value\":\"drop@evil.example\"}]","OfficeTenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47","OfficeId":"e9d8c7b6-a5f4-4e3d-2c1b-0a9f8e7d6c5b","SourceRecordId":"e9d8c7b6-a5f4-4e3d-2c1b-0a9f8e7d6c5b","OrganizationId":"72f988bf-86f1-41af-91ab-2d7cd011db47","SourceSystem":"OfficeActivityManager","Type":"OfficeActivity"}"#;
        let e = one(la);
        assert_eq!(e.source_format, "loganalytics");
        assert_eq!(azir_model::format_micros(e.time), "2024-01-15T11:15:05.123000Z");
        assert_eq!(e.category.as_deref(), Some("Exchange"));
        assert_eq!(e.operation.as_deref(), Some("New-InboxRule"));
        assert_eq!((e.src_ip.as_deref(), e.src_port), (Some("198.51.100.23"), Some(40112)));
        assert_eq!(e.result.as_deref(), Some("Success"));
        assert_eq!(e.target_resource_id.as_deref(), Some("megan@contoso.com\\."));
        assert_eq!(
            e.tenant_id.as_deref(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47"),
            "not the workspace's TenantId"
        );
        assert_eq!(e.raw, la, "an OfficeActivity row stays the row");

        // The portal's CSV export of the table (no `Type`, `[UTC]` header, Exchange address column).
        let csv = "TimeGenerated [UTC],Operation,OfficeWorkload,UserId,Client_IPAddress,ResultStatus,RecordType,MailboxOwnerUPN,ClientInfoString\r\n\"1/15/2024, 11:02:44.000 AM\",MailItemsAccessed,Exchange,megan@contoso.com,[2001:db8::7]:51234,Succeeded,ExchangeItemAggregated,megan@contoso.com,Client=REST;Client=RESTSystem;;\r\n";
        let out = run_stream("OfficeActivity.csv", csv.as_bytes());
        assert!(out.bad.is_empty(), "{:?}", out.bad);
        let e = &out.events[0];
        assert_eq!((e.source.as_str(), e.source_format.as_str()), ("m365_audit", "loganalytics"));
        assert_eq!(azir_model::format_micros(e.time), "2024-01-15T11:02:44.000000Z");
        assert_eq!((e.src_ip.as_deref(), e.src_port), (Some("2001:db8::7"), Some(51234)));
        assert_eq!(e.target_username.as_deref(), Some("megan@contoso.com"));
        assert_eq!(e.user_agent.as_deref(), Some("Client=REST;Client=RESTSystem;;"));
        assert_eq!(e.event_type.as_deref(), Some("Read"));
    }

    #[test]
    fn missing_or_unreadable_creation_time_is_quarantined() {
        let rec = AAD_DISABLE_MFA.replace(r#""CreationTime":"2024-01-15T10:30:00","#, "");
        let b = bad("ual.json", &rec);
        assert_eq!(b.reason, "no timestamp: none of CreationTime present");
        assert_eq!(b.parser.as_deref(), Some("m365_audit"));
        assert_eq!(b.excerpt, rec);

        let rec = AAD_DISABLE_MFA.replace("2024-01-15T10:30:00", "yesterday");
        assert_eq!(bad("ual.json", &rec).reason, r#"unreadable timestamp "yesterday" in field CreationTime"#);

        // In an export row the reason says it is AuditData's field.
        let inner = AAD_DISABLE_MFA.replace(r#""CreationTime":"2024-01-15T10:30:00","#, "");
        let row = serde_json::json!({"CreationDate": "2024-01-15T10:30:00Z", "Operations": "x", "AuditData": inner});
        assert_eq!(bad("u.json", &row.to_string()).reason, "in AuditData: no timestamp: none of CreationTime present");
    }

    #[test]
    fn wrong_types_are_quarantined_naming_the_field() {
        let cases = [
            (
                r#""CreationTime":"2024-01-15T10:30:00""#,
                r#""CreationTime":1700"#,
                "wrong type for field CreationTime: the number 1700 is not a timestamp",
            ),
            (
                r#""CreationTime":"2024-01-15T10:30:00""#,
                r#""CreationTime":{"v":1}"#,
                "wrong type for field CreationTime: a JSON object, not a timestamp",
            ),
            (
                r#""Operation":"Disable Strong Authentication.""#,
                r#""Operation":["Disable"]"#,
                "wrong type for field Operation: a JSON array, not text",
            ),
            (r#""Operation":"Disable Strong Authentication.""#, r#""Operation":null"#, "no Operation field"),
            (
                r#""UserId":"admin@contoso.com""#,
                r#""UserId":{"upn":"admin@contoso.com"}"#,
                "wrong type for field UserId: a JSON object, not text",
            ),
            (
                r#""ClientIP":"203.0.113.42:53146""#,
                r#""ClientIP":true"#,
                "wrong type for field ClientIP: a JSON boolean, not text",
            ),
            (
                r#""ResultStatus":"Success""#,
                r#""ResultStatus":[]"#,
                "wrong type for field ResultStatus: a JSON array, not text",
            ),
            (
                r#""Workload":"AzureActiveDirectory""#,
                r#""Workload":{}"#,
                "wrong type for field Workload: a JSON object, not text",
            ),
        ];
        for (from, to, reason) in cases {
            let rec = AAD_DISABLE_MFA.replace(from, to);
            assert_ne!(rec, AAD_DISABLE_MFA);
            assert_eq!(bad("ual.json", &rec).reason, reason, "{to}");
        }
        // Export rows: AuditData that is no JSON object.
        for (data, reason) in [
            (serde_json::json!(5), "wrong type for field AuditData at u.json line 1: a JSON number, not an object"),
            (
                serde_json::json!("[1,2]"),
                "wrong type for field AuditData at u.json line 1: the text holds a JSON array, not an object",
            ),
            (serde_json::json!(null), "no AuditData in the export row at u.json line 1"),
        ] {
            let row = serde_json::json!({"CreationDate": "2024-01-15T10:30:00Z", "RecordType": 8, "AuditData": data});
            assert_eq!(bad("u.json", &row.to_string()).reason, reason);
        }
        let row = serde_json::json!({"RecordType": 8, "Operations": "x", "AuditData": "{\"CreationTime\":"});
        let r = bad("u.json", &row.to_string()).reason;
        assert!(
            r.starts_with("invalid JSON in the AuditData column at u.json line 1 (AuditData line 1, column 16): "),
            "{r}"
        );
    }

    #[test]
    fn rsigma_fixture_shape() {
        // The rsigma fixture's synthetic record: duplicate-case `UserID`, lower-case parameter keys.
        let rec = r#"{"CreationTime":"2024-01-15T10:30:00","Id":"12345678-1234-1234-1234-123456789012","RecordType":11,"Operation":"Disable Strong Authentication.","OrganizationId":"example.onmicrosoft.com-72f988bf-86f1-41af-91ab-2d7cd011db47","UserType":0,"Workload":"AzureActiveDirectory","UserId":"john.doe@example.com","ClientIP":"203.0.113.42","UserID":"john.doe@example.com","Parameters":[{"name":"StrongAuthenticationMethod","value":""}],"ResultStatus":"Success","ResultStatusDescription":"","ExtendedProperties":[]}"#;
        let e = one(rec);
        assert_eq!(e.actor_username.as_deref(), Some("john.doe@example.com"));
        assert_eq!(e.src_ip.as_deref(), Some("203.0.113.42"));
        assert_eq!(e.result.as_deref(), Some("Success"));
    }
}
