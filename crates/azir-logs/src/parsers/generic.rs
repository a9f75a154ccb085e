//! Any resource-log envelope azir has no dedicated parser for: the common schema
//! (`time`, `resourceId`, `operationName`, `category`, `resultType`, `callerIpAddress`,
//! `correlationId`, `identity`) is enough for a useful timeline line.

use super::{result_of, Output, RecordCtx};
use crate::json::{first_text, split_ip_port, subscription_of, text_at};
use serde_json::Value;

/// Parses a generic resource-log record.
pub fn parse(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    let category = first_text(v, &[&["category"], &["Category"]]).unwrap_or_else(|| "unknown".into());
    let source = category.to_ascii_lowercase();
    let mut e = ctx.event(&source);
    e.time = ctx.time(v, &[&["time"], &["timeStamp"], &["TimeGenerated"]])?;
    e.category = Some(category);
    e.operation = first_text(v, &[&["operationName"], &["OperationName"]]);
    e.target_resource_id = first_text(v, &[&["resourceId"], &["ResourceId"], &["_ResourceId"]]);
    e.subscription_id = e.target_resource_id.as_deref().and_then(subscription_of);
    e.result_details = first_text(v, &[&["resultType"], &["resultSignature"], &["ResultType"]]);
    e.result = e.result_details.as_deref().map(|r| result_of(r).to_string());
    if let Some(ip) = first_text(v, &[&["callerIpAddress"], &["CallerIPAddress"]]) {
        let (ip, port) = split_ip_port(&ip);
        e.src_ip = Some(ip);
        e.src_port = port;
    }
    e.correlation_id = text_at(v, &["correlationId"]);
    e.tenant_id = text_at(v, &["tenantId"]);
    e.event_type = Some("Other".into());
    e.message = format!(
        "{} {} on {}{}",
        e.category.as_deref().unwrap_or("?"),
        e.operation.as_deref().unwrap_or("?"),
        e.target_resource_id.as_deref().unwrap_or("?"),
        e.result_details.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
    );
    out.events.push(e);
    Ok(())
}
