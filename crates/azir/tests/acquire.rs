//! `azir disk acquire` against Azurite (the Azure Storage emulator, from npm) on loopback:
//! sparse page blobs, block blobs with Content-MD5, a fault-injecting proxy (503/500 answers,
//! connections cut mid-body), SIGKILL and Ctrl-C followed by a resume, an expired SAS and a blob
//! that changed between runs.
//!
//! Azurite: `scripts/test` installs it (`npm install azurite`) and starts one instance, passing
//! its blob endpoint in `AZIR_AZURITE_BLOB`. Without that variable each test starts its own
//! from `$PATH` or `$HOME/.cache/azir-tools/node_modules/.bin/azurite-blob`, and fails with
//! instructions when there is none.

mod azurite;

use azurite::{account_sas, azurite, put, sign, Azurite, ACCOUNT};
use base64::Engine;
use md5::Digest;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn azir() -> Command {
    Command::new(env!("CARGO_BIN_EXE_azir"))
}

/// A read-only service SAS for one blob, as `beginGetAccess` hands out.
fn blob_sas(container: &str, blob: &str, expiry: &str) -> String {
    let (sp, sv, sr) = ("r", "2019-12-12", "b");
    let resource = format!("/blob/{ACCOUNT}/{container}/{blob}");
    let sts = format!("{sp}\n\n{expiry}\n{resource}\n\n\n\n{sv}\n{sr}\n\n\n\n\n\n");
    format!("sv={sv}&sr={sr}&sp={sp}&se={}&sig={}", expiry.replace(':', "%3A"), sign(&sts))
}

impl Azurite {
    /// Uploads `image` as a page blob, writing only its non-zero 512-byte pages (as a managed
    /// disk snapshot looks), and returns the number of bytes written.
    fn page_blob(&self, container: &str, blob: &str, image: &[u8]) -> u64 {
        assert_eq!(image.len() % 512, 0);
        let base = self.url(container, blob);
        let sas = account_sas();
        put(
            &format!("{base}?{sas}"),
            &[("x-ms-blob-type", "PageBlob".into()), ("x-ms-blob-content-length", image.len().to_string())],
            b"",
        );
        let mut written = 0u64;
        let mut i = 0usize;
        while i < image.len() {
            if image[i..i + 512].iter().all(|&b| b == 0) {
                i += 512;
                continue;
            }
            let start = i;
            while i < image.len() && i - start < (4 << 20) && image[i..i + 512].iter().any(|&b| b != 0) {
                i += 512;
            }
            put(
                &format!("{base}?comp=page&{sas}"),
                &[("x-ms-page-write", "update".into()), ("x-ms-range", format!("bytes={}-{}", start, i - 1))],
                &image[start..i],
            );
            written += (i - start) as u64;
        }
        written
    }

    fn block_blob(&self, container: &str, blob: &str, data: &[u8]) {
        put(
            &format!("{}?{}", self.url(container, blob), account_sas()),
            &[("x-ms-blob-type", "BlockBlob".into())],
            data,
        );
    }

    /// Sets the blob's Content-MD5 property (not checked against the data by the service).
    fn set_content_md5(&self, container: &str, blob: &str, md5: &[u8]) {
        put(
            &format!("{}?comp=properties&{}", self.url(container, blob), account_sas()),
            &[("x-ms-blob-content-md5", base64::engine::general_purpose::STANDARD.encode(md5))],
            b"",
        );
    }

    fn read_url(&self, container: &str, blob: &str) -> String {
        format!("{}?{}", self.url(container, blob), blob_sas(container, blob, "2099-01-01T00:00:00Z"))
    }
}

/// A disk of `mib` MiB (plus a fixed VHD footer made by `azir disk convert`) with data in a
/// few places: a boot sector, scattered 4 KiB blocks and one 3 MiB run.
fn disk_image(dir: &Path, mib: usize) -> Vec<u8> {
    let size = mib << 20;
    let mut raw = vec![0u8; size];
    let mut x: u32 = 0x1234_5678;
    let mut fill = |buf: &mut [u8]| {
        for b in buf {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = (x >> 24) as u8 | 1;
        }
    };
    fill(&mut raw[0..512]);
    raw[510] = 0x55;
    raw[511] = 0xAA;
    for k in 0..24 {
        let at = (k * 2_654_435 + 1_048_576) % (size - 8192) / 4096 * 4096;
        fill(&mut raw[at..at + 4096]);
    }
    let run = size / 2;
    fill(&mut raw[run..run + (3 << 20)]);
    let raw_path = dir.join("src.raw");
    std::fs::write(&raw_path, &raw).unwrap();
    let vhd = dir.join("src.vhd");
    let o = azir().args(["-q", "disk", "convert"]).arg(&raw_path).args(["--to", "vhd"]).arg(&vhd).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(vhd).unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn acquire(url: &str, out: &Path, extra: &[&str]) -> Output {
    azir()
        .args(["--json", "disk", "acquire", "--sas-url", url, "--out"])
        .arg(out)
        .args(["--retry-base-ms", "5", "--concurrency", "4"])
        .args(extra)
        .output()
        .unwrap()
}

fn report(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "acquire failed ({:?}): {}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn no_secret(o: &Output, url: &str) {
    let sig = url.split("sig=").nth(1).unwrap().split('&').next().unwrap();
    for text in [&o.stdout, &o.stderr] {
        assert!(
            !String::from_utf8_lossy(text).contains(sig),
            "SAS signature leaked: {}",
            String::from_utf8_lossy(text)
        );
    }
}

#[test]
fn sparse_page_blob_is_acquired_hashed_verified_and_recorded() {
    let az = azurite();
    let tmp = tempfile::tempdir().unwrap();
    let image = disk_image(tmp.path(), 64);
    let c = az.container("snaps");
    let data = az.page_blob(c.as_str(), "snap1.vhd", &image);
    assert!(data < image.len() as u64 / 8, "the image is mostly empty ({data} bytes of data)");
    let case = tmp.path().join("case");
    assert!(azir().args(["-q", "case", "init"]).arg(&case).status().unwrap().success());
    let url = az.read_url(c.as_str(), "snap1.vhd");
    let out = tmp.path().join("snap1.vhd");
    let o = acquire(
        &url,
        &out,
        &["--case", case.to_str().unwrap(), "--resource-id", "/subscriptions/0000/snapshots/snap1"],
    );
    no_secret(&o, &url);
    let r = report(&o);
    let got = std::fs::read(&out).unwrap();
    assert!(got == image, "the acquired image differs from the blob");
    assert_eq!(r["size"], image.len() as u64);
    assert_eq!(r["blob_type"], "PageBlob");
    assert_eq!(r["hashes"]["sha256"], hex(&sha2::Sha256::digest(&image)));
    assert_eq!(r["hashes"]["md5"], hex(&md5::Md5::digest(&image)));
    assert_eq!(r["footer"]["status"], "ok", "{}", r["footer"]);
    assert_eq!(r["verified"], true);
    assert_eq!(r["data_bytes"], data, "page ranges cover exactly the written pages");
    let downloaded = r["downloaded_bytes"].as_u64().unwrap();
    assert!(downloaded >= data && downloaded < data * 2, "downloaded {downloaded} for {data} bytes of data");
    assert!(r["source"].as_str().unwrap().contains("sig=REDACTED"));
    // Holes where the blob has no pages.
    use std::os::unix::fs::MetadataExt;
    let allocated = std::fs::metadata(&out).unwrap().blocks() * 512;
    assert!(allocated < image.len() as u64 / 2, "output not sparse: {allocated} bytes allocated");
    assert!(!tmp.path().join("snap1.vhd.part").exists() && !tmp.path().join("snap1.vhd.part.json").exists());
    // Custody: one acquire entry, the signature redacted, the chain intact.
    let custody = std::fs::read_to_string(case.join("custody.jsonl")).unwrap();
    let sig = url.split("sig=").nth(1).unwrap();
    assert!(!custody.contains(sig));
    let entry: serde_json::Value = custody
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["action"] == "evidence-acquired")
        .unwrap();
    assert_eq!(entry["sha256"], r["hashes"]["sha256"]);
    let detail = entry["detail"].to_string();
    assert!(detail.contains("sig=REDACTED") && detail.contains("/snapshots/snap1"), "{detail}");
    let v = azir().args(["case", "verify"]).arg(&case).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    assert!(String::from_utf8_lossy(&v.stdout).contains("1 unchanged"), "{}", String::from_utf8_lossy(&v.stdout));
    // Verification re-hashes acquired images: one changed byte is reported and fails the run.
    let mut altered = std::fs::read(&out).unwrap();
    altered[1000] ^= 0xFF;
    std::fs::write(&out, &altered).unwrap();
    let v = azir().args(["case", "verify"]).arg(&case).output().unwrap();
    assert_eq!(v.status.code(), Some(4), "{}", String::from_utf8_lossy(&v.stdout));
    assert!(String::from_utf8_lossy(&v.stdout).contains("changed: "), "{}", String::from_utf8_lossy(&v.stdout));
    // The output exists now: a second run refuses to overwrite it.
    let again = acquire(&url, &out, &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
}

#[test]
fn block_blob_content_md5_is_checked() {
    let az = azurite();
    let tmp = tempfile::tempdir().unwrap();
    let mut data = vec![0u8; (5 << 20) + 300];
    for (i, b) in data.iter_mut().enumerate() {
        *b = (i * 7 % 251) as u8;
    }
    let c = az.container("raw");
    az.block_blob(c.as_str(), "disk.raw", &data);
    az.set_content_md5(c.as_str(), "disk.raw", &md5::Md5::digest(&data));
    let out = tmp.path().join("disk.raw");
    let r = report(&acquire(&az.read_url(c.as_str(), "disk.raw"), &out, &[]));
    assert_eq!(r["blob_type"], "BlockBlob");
    assert_eq!(std::fs::read(&out).unwrap(), data);
    assert_eq!(r["content_md5"][1], true);
    assert_eq!(r["footer"]["status"], "absent");
    assert_eq!(r["verified"], true);
    // A Content-MD5 that does not match the bytes: exit 4, the image is kept for examination.
    az.set_content_md5(c.as_str(), "disk.raw", &[0u8; 16]);
    let out2 = tmp.path().join("disk2.raw");
    let o = acquire(&az.read_url(c.as_str(), "disk.raw"), &out2, &[]);
    assert_eq!(o.status.code(), Some(4), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["content_md5"][1], false);
    assert_eq!(r["verified"], false);
}

/// A proxy in front of Azurite that answers 503 or 500 to some requests and cuts some
/// responses in the middle of the body. `delay` slows every answer (for the kill tests).
struct Proxy {
    port: u16,
    served: Arc<AtomicUsize>,
}

fn proxy(upstream: &str, faults: bool, delay: Duration) -> Proxy {
    let up = upstream.trim_start_matches("http://").to_string();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = Arc::new(AtomicUsize::new(0));
    let counter = Arc::new(AtomicUsize::new(0));
    let s2 = served.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let up = up.clone();
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let served = s2.clone();
            std::thread::spawn(move || {
                let _ = relay(conn, &up, if faults { n } else { 1 }, delay, &served);
            });
        }
    });
    Proxy { port, served }
}

fn relay(client: TcpStream, up: &str, n: usize, delay: Duration, served: &AtomicUsize) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let end = line == "\r\n";
        if !line.to_ascii_lowercase().starts_with("connection:") {
            head.push_str(&line);
        }
        if end {
            break;
        }
    }
    let mut client = client;
    std::thread::sleep(delay);
    // Deterministic fault pattern by connection number; every request has its own connection.
    if n % 5 == 2 {
        client.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 0\r\nConnection: close\r\n\r\n",
        )?;
        return Ok(());
    }
    if n % 7 == 3 {
        client.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
        return Ok(());
    }
    let head = head.replacen("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1);
    let mut upstream = TcpStream::connect(up)?;
    upstream.write_all(head.as_bytes())?;
    let mut resp = Vec::new();
    upstream.read_to_end(&mut resp)?;
    served.fetch_add(1, Ordering::SeqCst);
    if n % 11 == 4 && resp.len() > 2000 {
        // Cut mid-body: the client sees a short read.
        client.write_all(&resp[..resp.len() / 2])?;
        return Ok(());
    }
    client.write_all(&resp)
}

#[test]
fn faults_are_retried_and_the_hash_is_still_right() {
    let az = azurite();
    let tmp = tempfile::tempdir().unwrap();
    let image = disk_image(tmp.path(), 32);
    let c = az.container("faulty");
    az.page_blob(c.as_str(), "d.vhd", &image);
    let p = proxy(&az.base, true, Duration::ZERO);
    let url = az.read_url(c.as_str(), "d.vhd").replace(&az.base, &format!("http://127.0.0.1:{}", p.port));
    let out = tmp.path().join("d.vhd");
    let o = acquire(&url, &out, &["--piece-bytes", "262144", "--retries", "20"]);
    no_secret(&o, &url);
    let r = report(&o);
    assert!(r["retries"].as_u64().unwrap() >= 3, "the proxy's faults were retried: {}", r["retries"]);
    assert_eq!(r["hashes"]["sha256"], hex(&sha2::Sha256::digest(&image)));
    assert!(std::fs::read(&out).unwrap() == image);
    assert!(p.served.load(Ordering::SeqCst) > 0);
}

fn wait_for_pieces(ck: &Path, min: usize, child: &mut Child) {
    let t0 = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(ck) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                let done: usize = v["done"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| (r[1].as_u64().unwrap() - r[0].as_u64().unwrap()) as usize)
                    .sum();
                if done >= min {
                    return;
                }
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "acquisition ended before it could be interrupted");
        assert!(t0.elapsed() < Duration::from_secs(60), "no checkpoint progress");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn slow_acquire(url: &str, out: &Path) -> Child {
    azir()
        .args(["--json", "-q", "disk", "acquire", "--sas-url", url, "--out"])
        .arg(out)
        .args(["--retry-base-ms", "5", "--concurrency", "2", "--piece-bytes", "131072", "--checkpoint-ms", "100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn killed_acquisition_resumes_without_refetching_and_ctrl_c_leaves_a_checkpoint() {
    let az = azurite();
    let tmp = tempfile::tempdir().unwrap();
    let image = disk_image(tmp.path(), 32);
    let c = az.container("resume");
    az.page_blob(c.as_str(), "d.vhd", &image);
    let expected = hex(&sha2::Sha256::digest(&image));
    let p = proxy(&az.base, false, Duration::from_millis(60));
    let direct = az.read_url(c.as_str(), "d.vhd");
    let slow = direct.replace(&az.base, &format!("http://127.0.0.1:{}", p.port));

    // SIGKILL: no chance to clean up; the periodic checkpoint is all that is left.
    let out = tmp.path().join("k.vhd");
    let ck = tmp.path().join("k.vhd.part.json");
    let mut child = slow_acquire(&slow, &out);
    wait_for_pieces(&ck, 8, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.exists() && tmp.path().join("k.vhd.part").exists());
    // Resume with a fresh SAS straight to the service (a SAS may expire between runs).
    let r = report(&acquire(&direct, &out, &["--piece-bytes", "131072"]));
    assert_eq!(r["hashes"]["sha256"], expected);
    let resumed = r["resumed_bytes"].as_u64().unwrap();
    assert!(resumed > 0, "nothing was resumed");
    assert!(r["downloaded_bytes"].as_u64().unwrap() + resumed >= r["data_bytes"].as_u64().unwrap());
    assert!(
        r["downloaded_bytes"].as_u64().unwrap() < r["data_bytes"].as_u64().unwrap(),
        "everything was fetched again"
    );
    assert!(std::fs::read(&out).unwrap() == image);
    assert!(!ck.exists());

    // Ctrl-C: exit 130 with a checkpoint, then the rerun completes.
    let out = tmp.path().join("c.vhd");
    let ck = tmp.path().join("c.vhd.part.json");
    let mut child = slow_acquire(&slow, &out);
    wait_for_pieces(&ck, 4, &mut child);
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("resume"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(ck.exists());
    let r = report(&acquire(&direct, &out, &["--piece-bytes", "131072"]));
    assert_eq!(r["hashes"]["sha256"], expected);
    assert!(r["resumed_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn expired_sas_and_changed_blob_are_refused_clearly() {
    let az = azurite();
    let tmp = tempfile::tempdir().unwrap();
    let image = disk_image(tmp.path(), 8);
    let c = az.container("refuse");
    az.page_blob(c.as_str(), "d.vhd", &image);
    let expired = format!("{}?{}", az.url(c.as_str(), "d.vhd"), blob_sas(c.as_str(), "d.vhd", "2001-01-01T00:00:00Z"));
    let out = tmp.path().join("d.vhd");
    let o = acquire(&expired, &out, &[]);
    no_secret(&o, &expired);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("403") && err.contains("SAS"), "{err}");

    // Interrupted, then the blob changes: the checkpoint no longer matches and is not used.
    let p = proxy(&az.base, false, Duration::from_millis(60));
    let slow = az.read_url(c.as_str(), "d.vhd").replace(&az.base, &format!("http://127.0.0.1:{}", p.port));
    let mut child = slow_acquire(&slow, &out);
    wait_for_pieces(&tmp.path().join("d.vhd.part.json"), 2, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let mut changed = image.clone();
    changed[4096..8192].fill(0x5A);
    az.page_blob(c.as_str(), "d.vhd", &changed);
    let o = acquire(&az.read_url(c.as_str(), "d.vhd"), &out, &["--piece-bytes", "131072"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--restart"), "{}", String::from_utf8_lossy(&o.stderr));
    let r = report(&acquire(&az.read_url(c.as_str(), "d.vhd"), &out, &["--piece-bytes", "131072", "--restart"]));
    assert_eq!(r["hashes"]["sha256"], hex(&sha2::Sha256::digest(&changed)));
    assert_eq!(r["resumed_bytes"], 0);
}
