//! Entra audit, provisioning, identity protection, Graph activity (placeholder).
use super::{generic, Output, RecordCtx};
use serde_json::Value;
/// Audit.
pub fn parse_audit(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    generic::parse(v, ctx, out)
}
/// Provisioning.
pub fn parse_provisioning(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    generic::parse(v, ctx, out)
}
/// Risky users.
pub fn parse_risky_user(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    generic::parse(v, ctx, out)
}
/// Risk events.
pub fn parse_risk_event(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    generic::parse(v, ctx, out)
}
/// Graph activity.
pub fn parse_graph_activity(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    generic::parse(v, ctx, out)
}
