//! AWS VPC flow logs (placeholder).
use super::{Output, RecordCtx};
/// The default (version 2) field order.
pub const DEFAULT_FIELDS: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];
/// One line.
pub fn parse_line(_fields: &[String], _ctx: &RecordCtx, _out: &mut Output) -> Result<(), String> {
    Err("AWS VPC flow parser pending".into())
}
