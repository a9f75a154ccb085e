//! Conversion of a virtual disk to a sparse raw file or to a fixed VHD for Azure upload.

use crate::{vhd, DiskImage, Error, Result};
use serde::Serialize;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

pub use crate::vhd::{chs_geometry, fixed_footer};

/// Output format of [`convert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The virtual disk as a flat file; runs of zeros are left as holes.
    Raw,
    /// A fixed VHD: the disk padded with zeros to a multiple of 1 MiB, then a 512-byte footer.
    Vhd,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConvertReport {
    pub virtual_size: u64,
    /// Size of the disk in the output (the VHD's is rounded up to a multiple of 1 MiB).
    pub output_disk_size: u64,
    pub output_file_size: u64,
    /// Bytes actually written (the rest are holes).
    pub written: u64,
}

const CHUNK: usize = 1 << 20;
pub const MIB: u64 = 1 << 20;

/// Write the virtual disk of `img` to `out`, which must not exist yet.
pub fn convert(
    img: &mut DiskImage,
    target: Target,
    out: &Path,
    mut progress: impl FnMut(u64),
) -> Result<ConvertReport> {
    if let (Ok(a), Ok(b)) = (std::fs::canonicalize(out), std::fs::canonicalize(&img.info().path)) {
        if a == b {
            return Err(Error::Invalid("the output is the input image".into()));
        }
    }
    let mut f = File::options()
        .write(true)
        .create_new(true)
        .open(out)
        .map_err(|e| Error::Io(std::io::Error::new(e.kind(), format!("{}: {e}", out.display()))))?;
    let size = img.virtual_size();
    let disk = match target {
        Target::Raw => size,
        Target::Vhd => size.div_ceil(MIB).max(1) * MIB,
    };
    let mut buf = vec![0u8; CHUNK];
    let mut off = 0u64;
    let mut written = 0u64;
    while off < size {
        if let Some(z) = img.known_zero(off, CHUNK as u64)? {
            off += z;
            progress(off);
            continue;
        }
        let n = img.read_at(off, &mut buf)?;
        if n == 0 {
            break;
        }
        // Skip zero sub-blocks of 4 KiB so that data read as zeros also becomes holes.
        for (i, c) in buf[..n].chunks(4096).enumerate() {
            if c.iter().any(|&x| x != 0) {
                f.seek(SeekFrom::Start(off + (i * 4096) as u64))?;
                f.write_all(c)?;
                written += c.len() as u64;
            }
        }
        off += n as u64;
        progress(off);
    }
    f.set_len(disk)?;
    let mut file_size = disk;
    if target == Target::Vhd {
        let footer = fixed_footer(disk, unique_id(size), vhd_now());
        f.seek(SeekFrom::Start(disk))?;
        f.write_all(&footer)?;
        written += 512;
        file_size += 512;
    }
    f.sync_all()?;
    Ok(ConvertReport { virtual_size: size, output_disk_size: disk, output_file_size: file_size, written })
}

/// Seconds since 2000-01-01T00:00:00Z, as VHD timestamps count.
fn vhd_now() -> u32 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    now.saturating_sub(946_684_800).min(u32::MAX as u64) as u32
}

/// A random-enough unique id (RFC 4122 version 4 layout) without a RNG dependency: SHA-256 of
/// the time, the process id, the size and a per-process counter.
fn unique_id(size: u64) -> [u8; 16] {
    use sha2::Digest;
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = sha2::Sha256::new();
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    h.update(t.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(size.to_le_bytes());
    h.update(N.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_le_bytes());
    let d = h.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&d[..16]);
    id[6] = (id[6] & 0x0F) | 0x40;
    id[8] = (id[8] & 0x3F) | 0x80;
    id
}

/// Check a fixed-VHD footer (as Azure expects it) of a file of `file_len` bytes.
pub fn check_fixed_footer(footer: &[u8; 512], file_len: u64) -> std::result::Result<(), String> {
    if &footer[..8] != b"conectix" {
        return Err("no `conectix` cookie".into());
    }
    let want = vhd::checksum(footer, 64);
    let have = u32::from_be_bytes(footer[64..68].try_into().unwrap());
    if want != have {
        return Err(format!("footer checksum: expected {want:#010x}, found {have:#010x}"));
    }
    let ty = u32::from_be_bytes(footer[60..64].try_into().unwrap());
    if ty != 2 {
        return Err(format!("disk type {ty}, not 2 (fixed)"));
    }
    let size = u64::from_be_bytes(footer[48..56].try_into().unwrap());
    if file_len.checked_sub(512) != Some(size) {
        return Err(format!("current size {size} is not the file length {file_len} minus 512"));
    }
    if size % MIB != 0 {
        return Err(format!("virtual size {size} is not a multiple of 1 MiB (Azure refuses it)"));
    }
    Ok(())
}
