//! `azir_azure::storage::collect` against Azurite: diagnostic-setting containers found by
//! prefix, the window taken from blob paths, the open hour deferred, reruns that download only
//! what changed (into new files), account key and SAS, rejected credentials without the secret
//! in the error, and hostile blob names kept inside the output directory.

#[path = "../../azir/tests/azurite/mod.rs"]
mod azurite;

use azir_azure::storage::{
    collect, BlobOutcome, BlobStatus, StorageAuth, StorageError, StorageState, StorageSummary, StorageTarget,
    StorageWindow,
};
use azurite::{account_sas, agent, put, Azurite, ACCOUNT, KEY, VERSION};
use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const NSG: &str = "insights-logs-networksecuritygroupflowevent";
const ACTIVITY: &str = "insights-activity-logs";

fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn unique() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{}{:X}", std::process::id(), nanos % 0xFFFF_FFFF)
}

/// A blob name as a URL path (every segment escaped, `.`/`..` too, so they reach the service).
fn url_path(name: &str) -> String {
    name.split('/')
        .map(|seg| match seg {
            "." => "%2E".to_string(),
            ".." => "%2E%2E".to_string(),
            _ => seg
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~=".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn upload(az: &Azurite, container: &str, name: &str, body: &[u8]) {
    let url = format!("{}/{ACCOUNT}/{container}/{}?{}", az.base, url_path(name), account_sas());
    put(&url, &[("x-ms-blob-type", "BlockBlob".to_string())], body);
}

/// Creates a container with this exact name unless it exists (Azurite may be shared).
fn ensure_container(az: &Azurite, name: &str) {
    let url = format!("{}/{ACCOUNT}/{name}?restype=container&{}", az.base, account_sas());
    let status = agent().put(&url).header("x-ms-version", VERSION).send(&[][..]).unwrap().status().as_u16();
    assert!(status == 201 || status == 409, "create container {name}: HTTP {status}");
}

fn nsg_name(sub: &str, h: DateTime<Utc>) -> String {
    format!(
        "resourceId=/SUBSCRIPTIONS/{sub}/RESOURCEGROUPS/RG-WEB/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-WEB/y={:04}/m={:02}/d={:02}/h={:02}/m=00/macAddress=000D3AF8801A/PT1H.json",
        h.year(),
        h.month(),
        h.day(),
        h.hour()
    )
}

fn activity_name(sub: &str, h: DateTime<Utc>) -> String {
    format!(
        "resourceId=/SUBSCRIPTIONS/{sub}/y={:04}/m={:02}/d={:02}/h={:02}/m=00/PT1H.json",
        h.year(),
        h.month(),
        h.day(),
        h.hour()
    )
}

/// An NSG flow log v2 blob of one hour (`{"records":[...]}`, one record per minute given).
fn nsg_body(h: DateTime<Utc>, minutes: u32) -> Vec<u8> {
    let records: Vec<String> = (0..minutes)
        .map(|m| {
            let ts = h + Duration::minutes(m as i64);
            format!(
                r#"{{"time":"{}","systemId":"5c1e3b9a-0d53-4c1e-9d2a-3b1f0e7a2c11","macAddress":"000D3AF8801A","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG-WEB/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-WEB","operationName":"NetworkSecurityGroupFlowEvents","properties":{{"Version":2,"flows":[{{"rule":"UserRule_allow-https","flows":[{{"mac":"000D3AF8801A","flowTuples":["{},203.0.113.105,10.0.0.5,35370,443,T,I,A,B,,,,","{},203.0.113.105,10.0.0.5,35370,443,T,I,A,E,52,29952,47,27072"]}}]}}]}}}}"#,
                ts.format("%Y-%m-%dT%H:%M:%S.0000000Z"),
                ts.timestamp(),
                ts.timestamp() + 30
            )
        })
        .collect();
    format!(r#"{{"records":[{}]}}"#, records.join(",")).into_bytes()
}

/// An Activity Log blob (JSON Lines, as diagnostic settings write it since 2018).
fn activity_body(h: DateTime<Utc>, lines: u32) -> Vec<u8> {
    let mut out = String::new();
    for i in 0..lines {
        let ts = h + Duration::minutes(i as i64 * 7);
        out.push_str(&format!(
            r#"{{"time":"{}","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG-WEB/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-WEB/SECURITYRULES/ALLOW-SSH","operationName":"MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/SECURITYRULES/WRITE","category":"Administrative","resultType":"Success","callerIpAddress":"198.51.100.7","correlationId":"c0ffee{i:02}-0000-0000-0000-000000000000","identity":{{"claims":{{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"mallory@contoso.com"}}}},"level":"Information","properties":{{"statusCode":"Created"}}}}"#,
            ts.format("%Y-%m-%dT%H:%M:%S.0000000Z")
        ));
        out.push('\n');
    }
    out.into_bytes()
}

fn sha256(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

fn key_target(az: &Azurite, containers: &[&str]) -> StorageTarget {
    StorageTarget {
        account_url: format!("{}/{ACCOUNT}", az.base),
        containers: containers.iter().map(|c| c.to_string()).collect(),
        auth: StorageAuth::AccountKey(KEY.to_string()),
    }
}

fn run(
    target: &StorageTarget,
    window: &StorageWindow,
    out: &Path,
    state: &mut StorageState,
) -> (StorageSummary, Vec<BlobOutcome>) {
    let mut seen = Vec::new();
    let summary = collect(target, window, out, state, &mut |o| seen.push(o.clone())).expect("collect");
    (summary, seen)
}

/// Every file under `dir` (relative), skipping the partial-download area.
fn files(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                if !p.ends_with("storage/.partial") {
                    walk(root, &p, out);
                }
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

/// Outcomes of the blobs whose name contains `mark`, by name.
fn mine<'a>(seen: &'a [BlobOutcome], mark: &str) -> BTreeMap<&'a str, &'a BlobOutcome> {
    seen.iter().filter(|o| o.name.contains(mark)).map(|o| (o.name.as_str(), o)).collect()
}

#[test]
fn discovers_insights_containers_and_takes_the_window_from_paths() {
    let az = azurite::azurite();
    ensure_container(&az, NSG);
    ensure_container(&az, ACTIVITY);
    let other = az.container("azir-other");
    let sub = format!("SUB-{}", unique());

    // 01:00 and 05:00 are outside [02:30, 05:00); 02:00 overlaps it.
    let hours: Vec<DateTime<Utc>> = (1..=5).map(|h| t(2024, 3, 9, h, 0)).collect();
    let mut expected: BTreeMap<(String, String), Vec<u8>> = BTreeMap::new();
    for (i, h) in hours.iter().enumerate() {
        let body = nsg_body(*h, 3 + i as u32);
        upload(&az, NSG, &nsg_name(&sub, *h), &body);
        if (2..=4).contains(&h.hour()) {
            expected.insert((NSG.into(), nsg_name(&sub, *h)), body);
        }
    }
    let act_in = activity_body(t(2024, 3, 9, 3, 0), 5);
    upload(&az, ACTIVITY, &activity_name(&sub, t(2024, 3, 9, 3, 0)), &act_in);
    expected.insert((ACTIVITY.into(), activity_name(&sub, t(2024, 3, 9, 3, 0))), act_in);
    upload(&az, ACTIVITY, &activity_name(&sub, t(2024, 3, 10, 3, 0)), &activity_body(t(2024, 3, 10, 3, 0), 2));
    // No time in the path: taken by Last-Modified (now, after `since`).
    let loose_name = format!("{sub}/manual-export/activity.json");
    let loose = activity_body(t(2024, 3, 9, 4, 0), 1);
    upload(&az, ACTIVITY, &loose_name, &loose);
    expected.insert((ACTIVITY.into(), loose_name.clone()), loose);
    // Not an insights container: never looked at.
    upload(&az, &other, &nsg_name(&sub, t(2024, 3, 9, 3, 0)), b"{\"records\":[]}");

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let window = StorageWindow { since: t(2024, 3, 9, 2, 30), until: t(2024, 3, 9, 5, 0), include_open_hour: false };
    let mut state = StorageState::default();
    let (summary, seen) = run(&key_target(&az, &[]), &window, &out, &mut state);

    assert!(summary.container_errors.is_empty(), "{:?}", summary.container_errors);
    assert!(summary.containers >= 2, "{summary:?}");
    assert!(seen.iter().all(|o| o.container.starts_with("insights-")), "only insights- containers are collected");
    assert!(!out.join("storage").join(ACCOUNT).join(&other).exists());
    assert!(summary.no_time_in_path >= 1);

    let got = mine(&seen, &sub);
    let names: Vec<(String, String)> = got.values().map(|o| (o.container.clone(), o.name.clone())).collect();
    let want: Vec<(String, String)> = expected.keys().cloned().collect();
    let mut names_sorted = names.clone();
    names_sorted.sort();
    assert_eq!(names_sorted, want, "exactly the in-window blobs");
    for ((container, name), body) in &expected {
        let o = got[name.as_str()];
        assert_eq!(o.status, BlobStatus::Downloaded, "{name}");
        assert_eq!(o.container, *container);
        assert_eq!(o.account, ACCOUNT);
        assert_eq!(o.size, body.len() as u64);
        assert_eq!(o.sha256.as_deref(), Some(sha256(body).as_str()), "{name}");
        let local = o.local.as_ref().unwrap();
        assert!(local.is_relative());
        let want_local: PathBuf = ["storage", ACCOUNT, container.as_str()].iter().collect::<PathBuf>().join(name);
        assert_eq!(*local, want_local);
        assert_eq!(std::fs::read(out.join(local)).unwrap(), *body, "{name}");
        assert!(!o.etag.is_empty() && !o.etag.contains('"'));
    }
    assert_eq!(got[nsg_name(&sub, t(2024, 3, 9, 2, 0)).as_str()].hour, Some(t(2024, 3, 9, 2, 0)));
    assert_eq!(got[loose_name.as_str()].hour, None);
    // Out-of-window blobs left no file.
    for f in files(&out) {
        let s = f.to_string_lossy();
        assert!(!s.contains("h=01/") && !s.contains("h=05/") && !s.contains("d=10/"), "{s}");
    }
}

#[test]
fn reruns_download_only_what_changed_into_new_files() {
    let az = azurite::azurite();
    let container = az.container("insights-logs-nsgflow");
    let sub = format!("SUB-{}", unique());
    let hours: Vec<DateTime<Utc>> = (0..4).map(|h| t(2024, 3, 9, h, 0)).collect();
    for h in &hours {
        upload(&az, &container, &nsg_name(&sub, *h), &nsg_body(*h, 4));
    }
    let target = StorageTarget {
        account_url: format!("{}/{ACCOUNT}", az.base),
        containers: vec![container.clone()],
        auth: StorageAuth::Sas(account_sas()),
    };
    let window = StorageWindow { since: t(2024, 3, 9, 0, 0), until: t(2024, 3, 10, 0, 0), include_open_hour: false };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_path_buf();
    let state_file = dir.path().join("state").join("storage-state.json");
    let mut state = StorageState::load(&state_file).unwrap();
    assert!(state.is_empty(), "a missing state file is an empty state");

    let (s1, seen1) = run(&target, &window, &out, &mut state);
    assert_eq!((s1.listed, s1.in_window, s1.downloaded, s1.failed), (4, 4, 4, 0), "{s1:?}");
    assert!(seen1.iter().all(|o| o.status == BlobStatus::Downloaded));
    assert_eq!(s1.bytes, hours.iter().map(|h| nsg_body(*h, 4).len() as u64).sum::<u64>());
    assert_eq!(state.len(), 4);
    state.save(&state_file).unwrap();
    let before = files(&out);

    // Rerun from the saved state: nothing fetched, every blob Unchanged with its earlier copy.
    let mut state = StorageState::load(&state_file).unwrap();
    let (s2, seen2) = run(&target, &window, &out, &mut state);
    assert_eq!((s2.unchanged, s2.downloaded, s2.changed, s2.bytes), (4, 0, 0, 0), "{s2:?}");
    for o in &seen2 {
        assert_eq!(o.status, BlobStatus::Unchanged);
        let first = seen1.iter().find(|f| f.name == o.name).unwrap();
        assert_eq!((&o.local, &o.sha256), (&first.local, &first.sha256));
    }
    assert_eq!(files(&out), before, "no new file");

    // One blob grows (a late write to its hour): a new version in a new file, the old one intact.
    let grown_name = nsg_name(&sub, hours[2]);
    let old = seen1.iter().find(|o| o.name == grown_name).unwrap().clone();
    let old_bytes = std::fs::read(out.join(old.local.as_ref().unwrap())).unwrap();
    let grown = nsg_body(hours[2], 9);
    upload(&az, &container, &grown_name, &grown);
    let (s3, seen3) = run(&target, &window, &out, &mut state);
    assert_eq!((s3.unchanged, s3.changed, s3.downloaded), (3, 1, 0), "{s3:?}");
    let changed = seen3.iter().find(|o| o.name == grown_name).unwrap();
    assert_eq!(changed.status, BlobStatus::Changed);
    assert_ne!(changed.etag, old.etag);
    assert_ne!(changed.local, old.local, "a new file");
    assert_eq!(std::fs::read(out.join(changed.local.as_ref().unwrap())).unwrap(), grown);
    assert_eq!(changed.sha256.as_deref(), Some(sha256(&grown).as_str()));
    assert_eq!(std::fs::read(out.join(old.local.as_ref().unwrap())).unwrap(), old_bytes, "old copy untouched");
    assert_eq!(files(&out).len(), before.len() + 1);
    let new_name = changed.local.as_ref().unwrap().file_name().unwrap().to_string_lossy().into_owned();
    assert!(new_name.starts_with("PT1H.") && new_name.ends_with(".json") && new_name != "PT1H.json", "{new_name}");

    // The state round-trips, and from it the next run is quiet again.
    state.save(&state_file).unwrap();
    let mut loaded = StorageState::load(&state_file).unwrap();
    assert_eq!(loaded, state);
    let rec = loaded.get(ACCOUNT, &container, &grown_name).unwrap();
    assert_eq!((&rec.etag, &rec.local), (&changed.etag, changed.local.as_ref().unwrap()));
    let (s4, _) = run(&target, &window, &out, &mut loaded);
    assert_eq!((s4.unchanged, s4.changed, s4.downloaded, s4.bytes), (4, 0, 0, 0), "{s4:?}");

    // Without the state (lost after a crash), identical bytes are not stored twice.
    let (s5, seen5) = run(&target, &window, &out, &mut StorageState::default());
    assert_eq!(s5.failed, 0);
    assert!(seen5.iter().all(|o| o.status == BlobStatus::Downloaded));
    assert_eq!(files(&out).len(), before.len() + 1, "no duplicate copies");
    assert_eq!(std::fs::read_dir(out.join("storage").join(".partial")).unwrap().count(), 0, "no partial file left");
}

#[test]
fn the_open_hour_is_deferred_unless_asked_for() {
    let az = azurite::azurite();
    let container = az.container("insights-logs-bastion");
    let sub = format!("SUB-{}", unique());
    let now = Utc::now();
    let current = now.with_minute(0).unwrap().with_second(0).unwrap().with_nanosecond(0).unwrap();
    let closed = current - Duration::hours(2);
    upload(&az, &container, &activity_name(&sub, current), &activity_body(current, 2));
    upload(&az, &container, &activity_name(&sub, closed), &activity_body(closed, 3));
    let target = key_target(&az, &[&container]);
    let window =
        StorageWindow { since: now - Duration::hours(3), until: now + Duration::hours(1), include_open_hour: false };
    let dir = tempfile::tempdir().unwrap();
    let mut state = StorageState::default();

    let (s1, seen1) = run(&target, &window, dir.path(), &mut state);
    assert_eq!((s1.in_window, s1.open_hour, s1.downloaded), (2, 1, 1), "{s1:?}");
    let open = seen1.iter().find(|o| o.name == activity_name(&sub, current)).unwrap();
    assert_eq!(open.status, BlobStatus::OpenHour);
    assert_eq!((open.local.as_ref(), open.hour), (None, Some(current)));
    assert!(state.get(ACCOUNT, &container, &open.name).is_none(), "deferred, not remembered");
    assert_eq!(files(dir.path()).len(), 1);

    let with_open = StorageWindow { include_open_hour: true, ..window };
    let (s2, seen2) = run(&target, &with_open, dir.path(), &mut state);
    assert_eq!((s2.open_hour, s2.downloaded, s2.unchanged), (0, 1, 1), "{s2:?}");
    let got = seen2.iter().find(|o| o.name == activity_name(&sub, current)).unwrap();
    assert_eq!(got.status, BlobStatus::Downloaded);
    assert_eq!(std::fs::read(dir.path().join(got.local.as_ref().unwrap())).unwrap(), activity_body(current, 2));
}

#[test]
fn rejected_credentials_are_clean_errors() {
    let az = azurite::azurite();
    let container = az.container("insights-logs-auditevent");
    upload(&az, &container, "resourceId=/X/y=2024/m=03/d=09/h=03/m=00/PT1H.json", b"{}\n");
    let window = StorageWindow { since: t(2024, 3, 9, 0, 0), until: t(2024, 3, 10, 0, 0), include_open_hour: false };
    let dir = tempfile::tempdir().unwrap();
    use base64::Engine;
    let wrong_key = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
    let sas = account_sas();
    let sig = sas.split("sig=").nth(1).unwrap().to_string();
    let forged = sas.replace(&sig, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D");

    for (auth, containers) in [
        (StorageAuth::AccountKey(wrong_key.clone()), vec![]),
        (StorageAuth::AccountKey(wrong_key.clone()), vec![container.clone()]),
        (StorageAuth::Sas(forged.clone()), vec![]),
        (StorageAuth::Sas(forged.clone()), vec![container.clone()]),
    ] {
        let target = StorageTarget { account_url: format!("{}/{ACCOUNT}", az.base), containers, auth };
        let mut n = 0;
        let err = collect(&target, &window, dir.path(), &mut StorageState::default(), &mut |_| n += 1).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StorageError::Auth { .. }), "{msg}");
        assert!(msg.contains(ACCOUNT), "{msg}");
        for secret in [wrong_key.as_str(), KEY, sig.as_str(), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
            assert!(!msg.contains(secret), "secret in {msg}");
        }
        assert!(!format!("{err:?}").contains(&wrong_key));
        assert_eq!(n, 0);
    }
    // A key that is not even base64, and a SAS pasted into the URL: configuration errors that
    // do not echo them.
    let target = StorageTarget {
        account_url: format!("{}/{ACCOUNT}", az.base),
        containers: vec![],
        auth: StorageAuth::AccountKey("not base64 !!! s3cret".into()),
    };
    let msg = collect(&target, &window, dir.path(), &mut StorageState::default(), &mut |_| {}).unwrap_err().to_string();
    assert!(msg.contains("base64") && !msg.contains("s3cret"), "{msg}");
    let target = StorageTarget {
        account_url: format!("{}/{ACCOUNT}?{sas}", az.base),
        containers: vec![],
        auth: StorageAuth::Environment,
    };
    let msg = collect(&target, &window, dir.path(), &mut StorageState::default(), &mut |_| {}).unwrap_err().to_string();
    assert!(!msg.contains(&sig) && msg.contains("query"), "{msg}");
}

#[test]
fn a_container_that_cannot_be_listed_does_not_stop_the_others() {
    let az = azurite::azurite();
    let container = az.container("insights-logs-storageread");
    let name = "resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.STORAGE/STORAGEACCOUNTS/ST1/BLOBSERVICES/DEFAULT/y=2024/m=03/d=09/h=03/m=00/PT1H.json";
    upload(&az, &container, name, b"{\"category\":\"StorageRead\"}\n");
    let missing = format!("insights-logs-missing-{}", unique().to_lowercase());
    let target = key_target(&az, &[&missing, &container]);
    let window = StorageWindow { since: t(2024, 3, 9, 0, 0), until: t(2024, 3, 10, 0, 0), include_open_hour: false };
    let dir = tempfile::tempdir().unwrap();
    let (s, seen) = run(&target, &window, dir.path(), &mut StorageState::default());
    assert_eq!(s.containers, 2);
    assert_eq!(s.container_errors.len(), 1, "{:?}", s.container_errors);
    assert_eq!(s.container_errors[0].0, missing);
    assert!(s.container_errors[0].1.contains("404"), "{:?}", s.container_errors);
    assert_eq!((s.downloaded, seen.len()), (1, 1));
}

#[test]
fn hostile_blob_names_stay_inside_the_output_directory() {
    let az = azurite::azurite();
    let container = az.container("insights-logs-applicationgatewayaccesslog");
    // Azurite stores these names as given (`\` becomes `/`); none has a time, so all are in
    // the window by Last-Modified.
    let names = [
        "../../escape1.json",
        "a/../../../escape2.json",
        "x\\..\\..\\escape3.json",
        "b//double.json",
        "/leading.json",
        "dot/./x.json",
        "trail/",
        "conflict",
        "conflict/inner.json",
        "100%.json",
        "normal/PT1H.json",
    ];
    for (i, n) in names.iter().enumerate() {
        upload(&az, &container, n, format!("{{\"n\":{i}}}\n").as_bytes());
    }
    let window = StorageWindow { since: t(2024, 1, 1, 0, 0), until: t(2099, 1, 1, 0, 0), include_open_hour: false };
    for auth in [StorageAuth::AccountKey(KEY.into()), StorageAuth::Sas(account_sas())] {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("deep").join("out");
        let target =
            StorageTarget { account_url: format!("{}/{ACCOUNT}", az.base), containers: vec![container.clone()], auth };
        let (s, seen) = run(&target, &window, &out, &mut StorageState::default());
        assert_eq!(s.failed, 0, "{seen:#?}");
        assert_eq!(s.downloaded as usize, names.len(), "{seen:#?}");
        let listed: Vec<&str> = seen.iter().map(|o| o.name.as_str()).collect();
        let base = out.join("storage").join(ACCOUNT).join(&container).canonicalize().unwrap();
        let mut locals = Vec::new();
        for o in &seen {
            let local = o.local.as_ref().unwrap();
            assert!(local.components().all(|c| matches!(c, std::path::Component::Normal(_))), "{}", local.display());
            let abs = out.join(local).canonicalize().unwrap();
            assert!(abs.starts_with(&base), "{} escaped to {}", o.name, abs.display());
            let i = names.iter().position(|n| n.replace('\\', "/") == o.name).unwrap_or_else(|| panic!("{listed:?}"));
            assert_eq!(std::fs::read(&abs).unwrap(), format!("{{\"n\":{i}}}\n").into_bytes(), "{}", o.name);
            locals.push(abs);
        }
        locals.sort();
        locals.dedup();
        assert_eq!(locals.len(), names.len(), "one file per blob");
        // Nothing was written beside `out`.
        let beside: Vec<_> = std::fs::read_dir(root.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(beside, vec![std::ffi::OsString::from("deep")]);
        let beside: Vec<_> =
            std::fs::read_dir(root.path().join("deep")).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(beside, vec![std::ffi::OsString::from("out")]);
    }
}
