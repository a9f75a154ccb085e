//! Arbitrary JSON values, biased towards the field names and values the classifier looks at,
//! through `classify` and the parse driver, and wrapped in every container shape through the
//! splitter.
//!
//! Must hold: classify is total (no panic), `None` for anything but an object, deterministic;
//! the driver counts the record once, under the classified source or as an unrecognised
//! record; a value inside `{"records":[…]}`, `{"value":[…]}` or `[…]` comes out of the splitter
//! as exactly that value.
#![no_main]

use azir_logs::detect::classify;
use azir_logs::parsers::{parse_chunk, Output, Payload, StreamInfo};
use azir_logs::split::{Chunk, Container, Span};
use azir_logs_fuzz::{check_output, split_json, Knobs};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

const KEYS: &[&str] = &[
    "time",
    "timeStamp",
    "TimeGenerated",
    "TimeGenerated [UTC]",
    "category",
    "Category",
    "Type",
    "eventTimestamp",
    "eventDataId",
    "operationName",
    "OperationNameValue",
    "ActivityStatusValue",
    "UserPrincipalName",
    "ResultType",
    "AppDisplayName",
    "IPAddress",
    "ActivityDisplayName",
    "InitiatedBy",
    "createdDateTime",
    "userPrincipalName",
    "appId",
    "status",
    "ipAddress",
    "activityDateTime",
    "activityDisplayName",
    "provisioningAction",
    "provisioningStatusInfo",
    "provisioningSteps",
    "riskEventType",
    "detectedDateTime",
    "riskLastUpdatedDateTime",
    "riskLevel",
    "Operation name",
    "Event initiated by",
    "Event category",
    "properties",
    "records",
    "value",
    "flowRecords",
    "flows",
    "flowGroups",
    "flowTuples",
    "rule",
    "mac",
    "macAddress",
    "Version",
    "flowLogVersion",
    "resourceId",
    "identity",
    "claims",
    "requestUri",
    "clientIP",
    "callerIpAddress",
    "resultSignature",
];
const VALUES: &[&str] = &[
    "2024-05-01T10:00:00Z",
    "2024-05-01T10:00:00.1234567+02:00",
    "5/1/2024, 10:00:00.000 AM",
    "1714557600",
    "SignInLogs",
    "NonInteractiveUserSignInLogs",
    "AuditLogs",
    "ProvisioningLogs",
    "RiskyUsers",
    "UserRiskEvents",
    "MicrosoftGraphActivityLogs",
    "ApplicationGatewayAccessLog",
    "ApplicationGatewayFirewallLog",
    "BastionAuditLogs",
    "AuditEvent",
    "StorageRead",
    "NetworkSecurityGroupFlowEvent",
    "FlowLogFlowEvent",
    "AzureFirewallNetworkRule",
    "AZFWApplicationRule",
    "Administrative",
    "AzureDiagnostics",
    "AzureActivity",
    "SigninLogs",
    "AGWAccessLogs",
    "AZKVAuditLogs",
    "StorageBlobLogs",
    "0",
    "50126",
    "Success",
    "Failure",
    "1487282421,192.0.2.95,10.1.0.4,51529,5358,T,I,D",
    "10.0.0.1:443",
    "[2001:db8::1]:443",
    "",
    " ",
];

fn value(u: &mut Unstructured, depth: u32) -> Result<Value> {
    let pick = if depth >= 5 { u.int_in_range(0..=5)? } else { u.int_in_range(0..=8)? };
    Ok(match pick {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::from(u.arbitrary::<i64>()?),
        3 => serde_json::Number::from_f64(u.arbitrary()?).map_or(Value::Null, Value::Number),
        4 => Value::String(u.arbitrary()?),
        5 => Value::String((*u.choose(VALUES)?).to_string()),
        6 => {
            let n = u.int_in_range(0..=4)?;
            Value::Array((0..n).map(|_| value(u, depth + 1)).collect::<Result<_>>()?)
        }
        _ => {
            let n = u.int_in_range(0..=8)?;
            let mut m = Map::new();
            for _ in 0..n {
                let k = if u.ratio(3, 4)? { (*u.choose(KEYS)?).to_string() } else { u.arbitrary()? };
                m.insert(k, value(u, depth + 1)?);
            }
            Value::Object(m)
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(v) = value(&mut u, 0) else { return };
    let v = if u.ratio(1, 4).unwrap_or(false) {
        v
    } else {
        // Mostly top-level objects: that is what records are.
        match v {
            Value::Object(_) => v,
            other => serde_json::json!({ "time": "2024-05-01T10:00:00Z", "category": "x", "properties": other }),
        }
    };

    let kind = classify(&v);
    if !v.is_object() {
        assert_eq!(kind, None, "only objects are records");
    }
    assert_eq!(classify(&v.clone()), kind, "classify is deterministic");

    // The driver over the record as one span.
    let bytes = serde_json::to_vec(&v).expect("a Value serializes");
    let info = StreamInfo::new("00".repeat(32), "fuzz.json", Payload::Json);
    let mut chunk = Chunk::default();
    chunk.buf.extend_from_slice(&bytes);
    chunk.spans.push(Span {
        start: 0,
        end: bytes.len(),
        line: 1,
        offset: 0,
        index: 0,
        size: bytes.len() as u64,
        defect: None,
        container: Container::Records,
    });
    let mut out = Output::default();
    parse_chunk(&info, &chunk, &mut out);
    check_output(&out);
    assert_eq!(out.records, 1);
    let unwrapped = v.as_object().is_some_and(|m| m.len() == 1 && m.get("records").is_some_and(Value::is_array));
    if !unwrapped {
        match kind {
            Some((k, _)) => assert_eq!(out.by_source.get(k.source()), Some(&1), "{:?}", out.by_source),
            None => {
                assert!(out.by_source.is_empty());
                assert!(out.bad.iter().any(|b| b.reason.starts_with("unrecognised record")));
            }
        }
    }

    // The value inside each container shape comes back whole from the splitter (compared as
    // parsed from its own serialization: float parsing need not round-trip bit for bit).
    let want: Value = serde_json::from_slice(&bytes).expect("a serialized Value parses");
    let knobs = Knobs { cap: 1 + data.len() % 61, target: 1 + data.len() % 97, max_record: 1 << 20 };
    for wrapped in [
        serde_json::json!({ "records": [v.clone()] }),
        serde_json::json!({ "@odata.context": "c", "value": [v.clone()], "nextLink": "n" }),
        Value::Array(vec![v.clone()]),
    ] {
        for text in [serde_json::to_vec(&wrapped).unwrap(), serde_json::to_vec_pretty(&wrapped).unwrap()] {
            let got = split_json(&text, knobs);
            assert_eq!(got.len(), 1, "{}", String::from_utf8_lossy(&text));
            assert_eq!(got[0].span.defect, None);
            let back: Value = serde_json::from_slice(&got[0].bytes).expect("the record is JSON");
            assert_eq!(back, want);
        }
    }
});
