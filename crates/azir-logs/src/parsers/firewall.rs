//! firewall logs (placeholder routing to the generic parser until the dedicated parser lands).
use super::{generic, Output, RecordCtx};
use serde_json::Value;
/// Parses one record.
pub fn parse(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    generic::parse(v, ctx, out)
}
