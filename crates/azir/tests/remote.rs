//! A case on Azure Blob Storage (Azurite on loopback): `ingest`, `timeline`, `query`, `pivot`
//! and `hunt` with `--case az://container/path` give the same answers as on a local case of
//! the same evidence; a second machine (a fresh mirror) reads it; a second command downloads
//! nothing; two writers at once cannot lose each other's manifest lines; credentials never show.

mod azurite;

use azir_store::remote::RemoteCase;
use azurite::{account_sas, agent, azurite, Azurite, ACCOUNT, KEY};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_azir");

struct Env {
    az: Azurite,
    tmp: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env { az: azurite(), tmp: tempfile::tempdir().unwrap() }
    }

    /// azir with the emulator's credentials and a mirror cache of its own (`cache` names it:
    /// two names are two machines).
    fn run(&self, cache: &str, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("AZURE_STORAGE_USE_EMULATOR", "true")
            .env("AZURITE_BLOB_STORAGE_URL", &self.az.base)
            .env("AZIR_CACHE_DIR", self.tmp.path().join(format!("cache-{cache}")))
            .env_remove("AZURE_STORAGE_SAS_KEY")
            .stdin(Stdio::null())
            .output()
            .expect("azir runs")
    }

    fn ok(&self, cache: &str, args: &[&str], codes: &[i32]) -> (String, String) {
        let o = self.run(cache, args);
        let (out, err) =
            (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned());
        assert!(
            o.status.code().is_some_and(|c| codes.contains(&c)),
            "azir {args:?} exited {:?}\nstdout:\n{out}\nstderr:\n{err}",
            o.status
        );
        assert!(!err.contains("panicked"), "{err}");
        (out, err)
    }

    /// The names of the blobs under `prefix` in `container`.
    fn blobs(&self, container: &str, prefix: &str) -> Vec<String> {
        let url = format!(
            "{}/{ACCOUNT}/{container}?restype=container&comp=list&prefix={prefix}&{}",
            self.az.base,
            account_sas()
        );
        let mut resp = agent().get(&url).header("x-ms-version", "2021-08-06").call().unwrap();
        let body = resp.body_mut().read_to_string().unwrap();
        body.split("<Name>").skip(1).filter_map(|s| s.split("</Name>").next()).map(str::to_string).collect()
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn demo(dir: &Path) -> (PathBuf, PathBuf) {
    let o = Command::new(BIN).args(["--quiet", "demo", p(dir)]).stdin(Stdio::null()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (dir.join("evidence"), dir.join("case"))
}

fn jsonl(s: &str) -> Vec<Value> {
    s.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn remote_case_answers_like_a_local_one() {
    let env = Env::new();
    let (evidence, local) = demo(&env.tmp.path().join("demo"));
    let container = env.az.container("cases");
    let url = format!("az://{container}/incidents/contoso");

    let (_, err) = env.ok("a", &["ingest", p(&evidence), "--case", &url], &[0, 3]);
    assert!(err.contains("pushed to az://"), "{err}");
    let blobs = env.blobs(&container, "incidents/contoso/");
    for want in ["incidents/contoso/case.json", "incidents/contoso/manifest.jsonl", "incidents/contoso/custody.jsonl"] {
        assert!(blobs.iter().any(|b| b == want), "{want} missing from {blobs:?}");
    }
    assert!(blobs.iter().any(|b| b.starts_with("incidents/contoso/tables/events/day=") && b.ends_with(".parquet")));
    assert!(blobs.iter().any(|b| b.starts_with("incidents/contoso/tables/network/day=")));
    assert!(!blobs.iter().any(|b| b.contains("/.staging") || b.contains(".azir-sync")), "{blobs:?}");

    let sql = "SELECT source, count(*) AS n, min(TimeGenerated) AS first FROM events GROUP BY source ORDER BY source";
    let q = |case: &str, machine: &str| env.ok(machine, &["query", "--case", case, "--format", "jsonl", sql], &[0]).0;
    let want = q(p(&local), "a");
    assert!(jsonl(&want).len() >= 5, "{want}");
    assert_eq!(q(&url, "a"), want, "query on the remote case (same machine)");
    // Another machine: an empty mirror pulls the case, then answers the same.
    let (out, err) = env.ok("b", &["query", "--case", &url, "--format", "jsonl", sql], &[0]);
    assert_eq!(out, want);
    assert!(err.contains("pulled az://"), "a fresh mirror downloads the case: {err}");
    // A second command on the same machine downloads nothing.
    let (_, err) = env.ok("b", &["query", "--case", &url, "--format", "jsonl", sql], &[0]);
    assert!(!err.contains("pulled"), "nothing changed, nothing downloaded: {err}");

    let tl =
        |case: &str| env.ok("b", &["timeline", "--case", case, "--ip", "203.0.113.77", "--format", "jsonl"], &[0]).0;
    let local_tl = tl(p(&local));
    assert!(local_tl.lines().count() > 10);
    assert_eq!(tl(&url), local_tl, "timeline");

    // Hunt writes findings into the remote case (the local demo case has them already).
    env.ok("a", &["--quiet", "hunt", "--case", &url], &[0]);
    let pv = |case: &str| -> Value {
        let out = env.ok("b", &["--json", "pivot", "user", "megan@contoso.com", "--case", case], &[0]).0;
        serde_json::from_str(&out).unwrap()
    };
    let (a, b) = (pv(p(&local)), pv(&url));
    assert!(a["events"].as_u64().unwrap() > 0);
    assert_eq!(a["sections"], b["sections"], "pivot");

    assert!(b["sections"].as_array().unwrap().iter().any(|s| s["name"] == "findings"), "{b}");
    // Machine b sees the findings machine a stored.
    let n = env.ok("b", &["query", "--case", &url, "--format", "csv", "SELECT count(*) AS n FROM findings"], &[0]).0;
    let n: u64 = n.lines().nth(1).unwrap().parse().unwrap();
    assert!(n > 0, "findings reached machine b");
    assert!(env.blobs(&container, "incidents/contoso/tables/findings/").iter().any(|b| b.ends_with(".parquet")));
    // The custody chain survives the round trips.
    env.ok("b", &["case", "verify", &url], &[0]);
}

#[test]
fn concurrent_writers_do_not_lose_lines_and_secrets_stay_hidden() {
    let env = Env::new();
    let container = env.az.container("race");
    let url = format!("az://{container}/case");
    let dir = env.tmp.path();
    let rec = |name: &str, id: &str| -> PathBuf {
        let path = dir.join(name);
        let line = format!(
            r#"{{"time":"2026-03-12T03:{id}:00Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/VM{id}","operationName":"MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE","category":"Administrative","resultType":"Success","callerIpAddress":"203.0.113.{id}","identity":{{"claims":{{"name":"u{id}@contoso.com"}}}},"properties":{{}}}}"#
        );
        std::fs::write(&path, line + "\n").unwrap();
        path
    };
    let (f1, f2) = (rec("one.json", "11"), rec("two.json", "22"));
    env.ok("a", &["ingest", p(&f1), "--case", &url], &[0]);
    // Two more machines read the case at the same version, then both write: the first push
    // lands, the second is refused (If-Match on the custody log), and nothing is lost.
    let endpoint = format!("{}/{ACCOUNT}", env.az.base);
    let cfg = [
        ("azure_storage_account_name", ACCOUNT),
        ("azure_storage_account_key", KEY),
        ("azure_storage_endpoint", endpoint.as_str()),
        ("azure_allow_http", "true"),
    ];
    let open = |m: &str| {
        let r = RemoteCase::new_with(&url, &cfg).unwrap().with_mirror(dir.join(m));
        r.pull().unwrap();
        r
    };
    let (r2, r3) = (open("m2"), open("m3"));
    let note = |r: &RemoteCase, what: &str| {
        azir_store::Case::open(r.mirror()).unwrap().append_custody(what, None, None, serde_json::json!({})).unwrap();
    };
    note(&r2, "note-from-2");
    r2.push().expect("first writer lands");
    note(&r3, "note-from-3");
    let e = r3.push().expect_err("second writer must be refused").to_string();
    assert!(e.contains("changed by another run"), "{e}");
    let r4 = open("m4");
    let custody = azir_store::Case::open(r4.mirror()).unwrap().custody().unwrap();
    assert!(custody.iter().any(|c| c.action == "note-from-2"), "the first writer's line survives");
    assert!(!custody.iter().any(|c| c.action == "note-from-3"));
    // The refused machine runs again: its mirror is refreshed, and its next write lands.
    env.ok("a", &["ingest", p(&f2), "--case", &url], &[0]);
    let q = env.ok("b", &["query", "--case", &url, "--format", "csv", "SELECT count(*) AS n FROM events"], &[0]).0;
    assert_eq!(q.lines().nth(1), Some("2"), "both ingests are in the case: {q}");
    env.ok("b", &["case", "verify", &url], &[0]);

    // A wrong SAS: a clear error, and the signature never printed.
    let o = Command::new(BIN)
        .args(["query", "--case", &url, "SELECT 1"])
        .env("AZURE_STORAGE_USE_EMULATOR", "true")
        .env("AZURITE_BLOB_STORAGE_URL", &env.az.base)
        .env("AZURE_STORAGE_SAS_KEY", "sv=2019-12-12&ss=b&srt=sco&sp=r&se=2099-01-01T00%3A00%3A00Z&sig=TOPSECRETSIG")
        .env("AZIR_CACHE_DIR", dir.join("cache-sas"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("TOPSECRETSIG") && !String::from_utf8_lossy(&o.stdout).contains("TOPSECRETSIG"), "{err}");
    assert!(err.contains(&url), "the error names the case: {err}");
}
