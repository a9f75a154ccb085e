//! Application Gateway access and WAF logs (placeholder routing to the generic parser until the dedicated parser lands).
use super::{generic, Output, RecordCtx};
use serde_json::Value;
/// Access log.
pub fn parse_access(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    generic::parse(v, ctx, out)
}
/// WAF log.
pub fn parse_waf(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    generic::parse(v, ctx, out)
}
