//! SQL over a small case built here: golden answers, the analyst functions, helpful errors,
//! Parquet output, and the rule that only committed parts are read.

use azir_store::findings::{self, FindingRow};
use azir_store::ingest::NoProgress;
use azir_store::query::{QueryEngine, QueryError};
use azir_store::{ingest, Case, IngestOptions, Table};
use serde_json::{json, Value};
use std::path::Path;

const RG_ID: &str =
    "/subscriptions/1111-2222/resourceGroups/RG-Prod/providers/Microsoft.Compute/virtualMachines/web-vm";

fn signin(time: &str, user: &str, ip: &str, code: u32) -> Value {
    json!({
        "time": time, "category": "SignInLogs", "correlationId": format!("c-{time}"),
        "properties": {"userPrincipalName": user, "ipAddress": ip, "appDisplayName": "Azure Portal",
                       "status": {"errorCode": code}},
    })
}

/// Four sign-ins (one from IPv6) and two Activity Log writes, ingested into a new case.
fn small_case(dir: &Path) -> Case {
    let ev = dir.join("evidence");
    std::fs::create_dir_all(&ev).unwrap();
    let signins = [
        signin("2026-03-12T03:05:00Z", "megan@contoso.com", "203.0.113.77", 50126),
        signin("2026-03-12T03:20:00Z", "megan@contoso.com", "203.0.113.77", 0),
        signin("2026-03-12T04:10:00Z", "adele@contoso.com", "10.10.1.4", 0),
        signin("2026-03-12T04:15:00Z", "adele@contoso.com", "2001:db8::7", 0),
    ];
    let text: String = signins.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(ev.join("signins.json"), text).unwrap();
    let activity = |time: &str, op: &str| {
        json!({
            "time": time, "resourceId": RG_ID, "operationName": op, "category": "Administrative",
            "resultType": "Success", "callerIpAddress": "203.0.113.77", "caller": "megan@contoso.com",
            "correlationId": format!("a-{time}"),
            "properties": {"requestbody": "{\"properties\":{\"roleDefinitionId\":\"/owner\"}}"},
        })
    };
    let text = format!(
        "{}\n{}\n",
        activity("2026-03-12T03:30:00Z", "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE"),
        activity("2026-03-12T03:31:00Z", "MICROSOFT.COMPUTE/VIRTUALMACHINES/RUNCOMMAND/ACTION")
    );
    std::fs::write(ev.join("activity.json"), text).unwrap();
    let case = Case::init(&dir.join("case"), None, None).unwrap();
    let opts = IngestOptions { threads: 2, ..IngestOptions::default() };
    ingest(&case, &[ev], &opts, &NoProgress).unwrap();
    case
}

fn rows(engine: &QueryEngine, sql: &str) -> Vec<Vec<Value>> {
    engine.query(sql, None).unwrap_or_else(|e| panic!("{sql}: {e}")).map(|r| r.unwrap()).collect()
}

fn one(engine: &QueryEngine, sql: &str) -> Value {
    let r = rows(engine, sql);
    assert_eq!(r.len(), 1, "{sql}: {r:?}");
    r[0][0].clone()
}

fn err(engine: &QueryEngine, sql: &str) -> String {
    match engine.query(sql, None) {
        Ok(rows) => match rows.collect::<Result<Vec<_>, _>>() {
            Ok(r) => panic!("{sql} should fail, gave {r:?}"),
            Err(e) => e.to_string(),
        },
        Err(QueryError::Sql(m)) => m,
        Err(e) => panic!("{sql}: not a SQL error: {e}"),
    }
}

#[test]
fn golden_answers_over_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let case = small_case(dir.path());
    let engine = QueryEngine::open(&case).unwrap();
    let names: Vec<&str> = engine.tables().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["events", "network", "resources", "quarantine", "findings", "manifest"]);
    let events = engine.tables().iter().find(|t| t.name == "events").unwrap();
    assert!(events.columns.iter().any(|c| c.name == "TimeGenerated" && c.data_type.contains("Timestamp")));

    assert_eq!(
        rows(&engine, "SELECT source, count(*) AS n FROM events GROUP BY source ORDER BY source"),
        vec![vec![json!("activity"), json!(2)], vec![json!("signin"), json!(4)]]
    );
    assert_eq!(
        rows(
            &engine,
            "SELECT SrcIpAddr, count(*) AS n FROM events WHERE source = 'signin' GROUP BY SrcIpAddr ORDER BY n DESC, SrcIpAddr"
        ),
        vec![
            vec![json!("203.0.113.77"), json!(2)],
            vec![json!("10.10.1.4"), json!(1)],
            vec![json!("2001:db8::7"), json!(1)],
        ]
    );
    assert_eq!(
        one(&engine, "SELECT min(TimeGenerated) FROM events"),
        json!("2026-03-12T03:05:00Z"),
        "timestamps come back as RFC 3339 UTC"
    );
    assert_eq!(one(&engine, "SELECT count(*) FROM network"), json!(0));
    assert_eq!(one(&engine, "SELECT count(*) FROM quarantine"), json!(0));
    assert_eq!(one(&engine, "SELECT count(*) FROM findings"), json!(0));

    // The manifest table agrees with the manifest.
    let m = case.manifest().unwrap();
    assert_eq!(one(&engine, "SELECT count(*) FROM manifest"), json!(m.len()));
    assert_eq!(one(&engine, "SELECT sum(events) FROM manifest"), json!(6));
    assert_eq!(
        one(&engine, "SELECT count(*) FROM manifest WHERE ingested_at IS NOT NULL AND sha256 <> ''"),
        json!(m.len())
    );

    // Findings appear once a hunt stored some.
    let row = FindingRow {
        rule_set: "abc".into(),
        rule_id: "r-1".into(),
        title: "Role assignment".into(),
        level: "high".into(),
        kind: "rule".into(),
        origin: "builtin".into(),
        first: 1_773_285_000_000_000,
        last: 1_773_285_060_000_000,
        event_count: 2,
        users: vec!["megan@contoso.com".into()],
        ips: vec!["203.0.113.77".into()],
        ..FindingRow::default()
    };
    findings::write(&case, "abc", &[row]).unwrap();
    let engine = QueryEngine::open(&case).unwrap();
    assert_eq!(
        rows(&engine, "SELECT rule_id, event_count, users, ips, tags FROM findings"),
        vec![vec![json!("r-1"), json!(2), json!(["megan@contoso.com"]), json!(["203.0.113.77"]), json!([])]]
    );
    // Findings join events.
    assert_eq!(
        one(
            &engine,
            "SELECT count(*) FROM events e JOIN findings f ON array_has(f.ips, e.SrcIpAddr) WHERE e.source = 'signin'"
        ),
        json!(2)
    );
}

#[test]
fn analyst_functions_in_sql() {
    let dir = tempfile::tempdir().unwrap();
    let case = small_case(dir.path());
    let engine = QueryEngine::open(&case).unwrap();
    assert_eq!(
        rows(
            &engine,
            "SELECT SrcIpAddr, is_private(SrcIpAddr), cidr_match(SrcIpAddr, '2001:db8::/32'), cidr_match(SrcIpAddr, '10.0.0.0/8') \
             FROM events WHERE source = 'signin' GROUP BY SrcIpAddr ORDER BY SrcIpAddr"
        ),
        vec![
            vec![json!("10.10.1.4"), json!(true), json!(false), json!(true)],
            vec![json!("2001:db8::7"), json!(false), json!(true), json!(false)],
            vec![json!("203.0.113.77"), json!(false), json!(false), json!(false)],
        ]
    );
    assert_eq!(
        rows(
            &engine,
            "SELECT DISTINCT arm_part(TargetResourceId, 'SUBSCRIPTIONS'), arm_part(TargetResourceId, 'resourcegroups'), \
             arm_part(TargetResourceId, 'providers'), arm_part(TargetResourceId, 'name') FROM events WHERE source = 'activity'"
        ),
        vec![vec![json!("1111-2222"), json!("RG-Prod"), json!("Microsoft.Compute"), json!("web-vm")]]
    );
    assert_eq!(
        rows(
            &engine,
            "SELECT DISTINCT json_get(raw, '$.properties.requestbody.properties.roleDefinitionId'), json_get(raw, '$.resultType') \
             FROM events WHERE source = 'activity'"
        ),
        vec![vec![json!("/owner"), json!("Success")]]
    );
    assert_eq!(
        rows(
            &engine,
            "SELECT time_bucket('1 hour', TimeGenerated) AS h, count(*) FROM events WHERE source = 'signin' GROUP BY h ORDER BY h"
        ),
        vec![vec![json!("2026-03-12T03:00:00Z"), json!(2)], vec![json!("2026-03-12T04:00:00Z"), json!(2)]]
    );
    assert_eq!(
        one(&engine, "SELECT count(DISTINCT date_bin(INTERVAL '1 hour', TimeGenerated)) FROM events"),
        json!(2),
        "DataFusion's date_bin is available too"
    );
    // Malformed input gives NULL, never an error.
    let nulls = rows(
        &engine,
        "SELECT cidr_match('not-an-ip', '10.0.0.0/8'), cidr_match('10.0.0.1', '10.0.0.0/99'), is_private('::zz'), \
         arm_part('', 'name'), arm_part(TargetResourceId, 'bogus'), json_get('{not json', '$.a'), json_get(raw, '$.nope'), \
         json_get(raw, 'no-dollar'), time_bucket('fortnightly', TimeGenerated), time_bucket('1 hour', 'not a time'), \
         cidr_match(NULL, '10.0.0.0/8'), is_private(42) FROM events LIMIT 1",
    );
    assert_eq!(nulls, vec![vec![Value::Null; 12]]);
}

#[test]
fn unknown_tables_and_columns_say_what_exists() {
    let dir = tempfile::tempdir().unwrap();
    let case = small_case(dir.path());
    let engine = QueryEngine::open(&case).unwrap();
    let e = err(&engine, "SELECT * FROM evnts");
    assert!(e.contains("evnts") && e.contains("events, network, resources, quarantine, findings, manifest"), "{e}");
    let e = err(&engine, "SELECT timegenerated FROM events");
    assert!(e.contains("did you mean events.TimeGenerated"), "{e}");
    assert!(e.contains("--schema"), "{e}");
    let e = err(&engine, "SELECT NoSuchColumn FROM events");
    assert!(e.contains("NoSuchColumn") && e.contains("SrcIpAddr"), "the error lists the columns: {e}");
}

#[test]
fn only_committed_parts_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let case = small_case(dir.path());
    let parts = case.parts(Table::Events, None, None).unwrap();
    assert!(!parts.is_empty());
    // A readable part that no manifest line names (an interrupted ingest's leftover).
    let stray = parts[0].path.parent().unwrap().join("part-deadbeefstray.parquet");
    std::fs::copy(&parts[0].path, &stray).unwrap();
    let other_day = case.table_dir(Table::Events).join("day=2026-01-01");
    std::fs::create_dir_all(&other_day).unwrap();
    std::fs::copy(&parts[0].path, other_day.join("part-deadbeefstray2.parquet")).unwrap();
    let engine = QueryEngine::open(&case).unwrap();
    assert_eq!(one(&engine, "SELECT count(*) FROM events"), json!(6));
    assert_eq!(engine.tables()[0].files, parts.len());
}

#[test]
fn parquet_output_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let case = small_case(dir.path());
    let engine = QueryEngine::open(&case).unwrap();
    let out = dir.path().join("out.parquet");
    let n = engine
        .write_parquet(
            "SELECT SrcIpAddr, TimeGenerated, count(*) OVER () AS total FROM events WHERE source = 'signin' ORDER BY TimeGenerated",
            Some(3),
            &out,
        )
        .unwrap();
    assert_eq!(n, 3);
    let file = std::fs::File::open(&out).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["SrcIpAddr", "TimeGenerated", "total"]);
    let ips = batches[0].column(0).as_any().downcast_ref::<arrow_array::StringArray>().expect("text column");
    assert_eq!(ips.value(0), "203.0.113.77");
    assert!(!dir.path().join(".out.parquet.tmp").exists());
    // A failing query leaves no file.
    let bad = dir.path().join("bad.parquet");
    assert!(engine.write_parquet("SELECT nope FROM events", None, &bad).is_err());
    assert!(!bad.exists());
}
