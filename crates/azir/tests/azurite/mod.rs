//! Azurite for the integration tests: one shared instance from `scripts/test`
//! (`AZIR_AZURITE_BLOB`), or one started per test from the tools cache or `$PATH`, plus
//! account-SAS signing and container creation with the public development key.
#![allow(dead_code)]

use base64::Engine;
use hmac::{KeyInit, Mac};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const ACCOUNT: &str = "devstoreaccount1";
/// Azurite's documented, public development key (not a secret).
pub const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
pub const VERSION: &str = "2021-08-06";

pub struct Azurite {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn azurite_binary() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("HOME") {
        let p = Path::new(&home).join(".cache/azir-tools/node_modules/.bin/azurite-blob");
        if p.exists() {
            return Some(p);
        }
    }
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join("azurite-blob")).find(|p| p.exists())
}

pub fn azurite() -> Azurite {
    if let Ok(base) = std::env::var("AZIR_AZURITE_BLOB") {
        return Azurite { base: base.trim_end_matches('/').to_string(), child: None, _dir: None };
    }
    let bin = azurite_binary().expect(
        "Azurite is needed: run scripts/test (it installs and starts it), or `npm install --prefix ~/.cache/azir-tools azurite`, or set AZIR_AZURITE_BLOB=http://127.0.0.1:10000",
    );
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(bin)
        .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string(), "--location"])
        .arg(dir.path())
        .args(["--skipApiVersionCheck", "--loose", "--silent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start azurite-blob");
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(30), "Azurite did not start on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Azurite { base: format!("http://127.0.0.1:{port}"), child: Some(child), _dir: Some(dir) }
}

pub fn sign(sts: &str) -> String {
    let key = base64::engine::general_purpose::STANDARD.decode(KEY).unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(sts.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    sig.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
}

/// An account SAS with every permission, for setting up containers and blobs.
pub fn account_sas() -> String {
    let (sp, ss, srt, se, sv) = ("rwdlacup", "b", "sco", "2099-01-01T00:00:00Z", "2019-12-12");
    let sts = format!("{ACCOUNT}\n{sp}\n{ss}\n{srt}\n\n{se}\n\n\n{sv}\n");
    format!("sv={sv}&ss={ss}&srt={srt}&sp={sp}&se={}&sig={}", se.replace(':', "%3A"), sign(&sts))
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

pub fn put(url: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut req = agent().put(url).header("x-ms-version", VERSION);
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let mut resp = req.send(body).unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    assert!((200..300).contains(&status), "PUT {} -> {status}: {text}", url.split('?').next().unwrap());
}

impl Azurite {
    pub fn url(&self, container: &str, blob: &str) -> String {
        format!("{}/{ACCOUNT}/{container}/{blob}", self.base)
    }

    /// Creates a container with a name unique to this run (Azurite may be shared) and returns it.
    pub fn container(&self, prefix: &str) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("{prefix}-{}-{nanos}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
        put(&format!("{}/{ACCOUNT}/{name}?restype=container&{}", self.base, account_sas()), &[], b"");
        name
    }
}
