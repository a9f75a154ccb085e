//! `azir disk` end to end: a raw disk with an MBR and an NTFS boot sector is converted to a
//! fixed VHD by the CLI, then inspected, partitioned and hashed through the VHD; a damaged
//! footer is reported, not trusted silently.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

fn azir(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_azir")).args(args).output().expect("run azir");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("azir-disk-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// 6 MiB + 3 sectors (not a MiB multiple, so the VHD must round up), one bootable NTFS partition.
fn raw_disk(dir: &Path) -> (PathBuf, Vec<u8>) {
    let mut b = vec![0u8; 6 * 1024 * 1024 + 3 * 512];
    let mut entry = vec![0x80, 0, 0, 0, 0x07, 0, 0, 0];
    entry.extend_from_slice(&2048u32.to_le_bytes());
    entry.extend_from_slice(&4096u32.to_le_bytes());
    b[446..462].copy_from_slice(&entry);
    b[510] = 0x55;
    b[511] = 0xAA;
    b[2048 * 512 + 3..2048 * 512 + 11].copy_from_slice(b"NTFS    ");
    b[5 * 1024 * 1024..5 * 1024 * 1024 + 5].copy_from_slice(b"data!");
    let p = dir.join("disk.raw");
    std::fs::write(&p, &b).unwrap();
    (p, b)
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[test]
fn convert_inspect_partition_and_hash_a_vhd() {
    let dir = tmp("ok");
    let (raw, bytes) = raw_disk(&dir);
    let vhd = dir.join("disk.vhd");
    let (code, _, err) = azir(&["disk", "convert", raw.to_str().unwrap(), "--to", "vhd", vhd.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    // Azure's rule: the virtual size is a multiple of 1 MiB, the file one footer longer.
    let len = std::fs::metadata(&vhd).unwrap().len();
    assert_eq!(len, 7 * 1024 * 1024 + 512);

    let (code, out, err) = azir(&["--json", "disk", "info", vhd.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let info = json(&out);
    assert_eq!(info["format"], "vhd-fixed");
    assert_eq!(info["virtual_size"], 7 * 1024 * 1024);
    assert!(info["checks"].as_array().unwrap().iter().all(|c| c["ok"] == true), "{info}");

    let (code, out, _) = azir(&["--json", "disk", "partitions", vhd.to_str().unwrap()]);
    assert_eq!(code, 0);
    let parts = json(&out);
    assert_eq!(parts["scheme"], "mbr");
    assert_eq!(parts["partitions"][0]["start"], 2048 * 512);
    assert_eq!(parts["partitions"][0]["filesystem"]["kind"], "NTFS");

    // The virtual disk's hash: the raw bytes padded with zeros up to the rounded size.
    let mut padded = bytes.clone();
    padded.resize(7 * 1024 * 1024, 0);
    let want = azir_logs::input::hex(&Sha256::digest(&padded));
    let (code, out, _) = azir(&["--json", "disk", "hash", vhd.to_str().unwrap()]);
    assert_eq!(code, 0);
    let h = json(&out);
    assert_eq!(h["sha256"], want.as_str());
    assert_eq!(h["bytes"], 7 * 1024 * 1024);

    // Converting back to raw gives the padded bytes; an existing output is never overwritten.
    let back = dir.join("back.raw");
    let (code, _, err) = azir(&["disk", "convert", vhd.to_str().unwrap(), "--to", "raw", back.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(&back).unwrap(), padded);
    let (code, _, _) = azir(&["disk", "convert", vhd.to_str().unwrap(), "--to", "raw", back.to_str().unwrap()]);
    assert_ne!(code, 0, "overwrote an existing file");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_footer_checksum_is_reported() {
    let dir = tmp("bad");
    let (raw, _) = raw_disk(&dir);
    let vhd = dir.join("disk.vhd");
    assert_eq!(azir(&["disk", "convert", raw.to_str().unwrap(), "--to", "vhd", vhd.to_str().unwrap()]).0, 0);
    // Flip a reserved byte of the footer (offset 100 of the last 512 bytes): the checksum breaks.
    let mut b = std::fs::read(&vhd).unwrap();
    let n = b.len();
    b[n - 512 + 100] ^= 0xFF;
    std::fs::write(&vhd, &b).unwrap();
    let (code, out, err) = azir(&["--json", "disk", "info", vhd.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let info = json(&out);
    let footer: Vec<&serde_json::Value> = info["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["structure"].as_str().is_some_and(|s| s.starts_with("VHD footer")))
        .collect();
    assert_eq!(footer.len(), 1, "{info}");
    assert_eq!(footer[0]["ok"], false, "a damaged footer reported as ok: {info}");
    assert_ne!(footer[0]["expected"], footer[0]["found"], "{info}");
    let _ = std::fs::remove_dir_all(&dir);
}
