//! NSG and VNet flow logs (placeholder).
use super::{generic, Output, RecordCtx};
use serde_json::Value;
/// NSG flow record.
pub fn parse_nsg(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    generic::parse(v, ctx, out)
}
/// VNet flow record.
pub fn parse_vnet(v: &Value, ctx: &RecordCtx, out: &mut Output) -> Result<(), String> {
    generic::parse(v, ctx, out)
}
