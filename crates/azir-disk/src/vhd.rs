//! VHD: footer, dynamic header, BAT, sector bitmaps, parent locators (big-endian fields).

use crate::*;

pub(crate) const UNALLOCATED: u32 = 0xFFFF_FFFF;
/// Largest block size accepted (the spec's default is 2 MiB; Hyper-V uses 2 MiB or 512 KiB).
const MAX_BLOCK: u64 = 256 << 20;

/// One's complement of the byte sum, with the 4 checksum bytes at `at` taken as zero.
pub fn checksum(b: &[u8], at: usize) -> u32 {
    let mut s: u32 = 0;
    for (i, &x) in b.iter().enumerate() {
        if !(at..at + 4).contains(&i) {
            s = s.wrapping_add(x as u32);
        }
    }
    !s
}

pub(crate) struct Dynamic {
    bat: Vec<u32>,
    block_size: u64,
    bitmap_size: u64,
    differencing: bool,
    /// Block index and sector bitmap of the last block whose bitmap was read.
    cached: Option<(usize, Vec<u8>)>,
}

struct Footer {
    data_offset: u64,
    current_size: u64,
    geometry: Geometry,
    disk_type: u32,
    id: String,
    creator: String,
    timestamp: u32,
}

fn parse_footer(b: &[u8]) -> Footer {
    let creator = format!(
        "{} {}.{} ({})",
        String::from_utf8_lossy(&b[28..32]).trim_end_matches(['\0', ' ']),
        u16::from_be_bytes([b[32], b[33]]),
        u16::from_be_bytes([b[34], b[35]]),
        String::from_utf8_lossy(&b[36..40]).trim_end_matches(['\0', ' '])
    );
    Footer {
        data_offset: be64(b, 16),
        current_size: be64(b, 48),
        geometry: Geometry { cylinders: u16::from_be_bytes([b[56], b[57]]), heads: b[58], sectors_per_track: b[59] },
        disk_type: be32(b, 60),
        id: guid_be(&b[68..84]),
        creator,
        timestamp: be32(b, 24),
    }
}

/// VHD timestamps count seconds from 2000-01-01T00:00:00Z.
pub(crate) fn vhd_time(secs: u32) -> String {
    unix_time_rfc3339(946_684_800i64 + secs as i64)
}

/// RFC 3339 (UTC, seconds) of a Unix time.
pub(crate) fn unix_time_rfc3339(t: i64) -> String {
    let days = t.div_euclid(86400);
    let rem = t.rem_euclid(86400);
    // Civil-from-days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

pub(crate) fn open(path: &Path, mut file: File, file_len: u64) -> Result<Opened> {
    let mut checks = Vec::new();
    let tail = read_struct(&mut file, file_len, file_len - 512, 512, "VHD footer")?;
    let tail_ok = &tail[..8] == b"conectix";
    let tail_sum = checksum(&tail, 64);
    let mut head = vec![0u8; 512];
    let head_len = read_full_at(&mut file, 0, &mut head)?;
    let head_ok = head_len == 512 && &head[..8] == b"conectix";
    let footer_bytes = if tail_ok {
        checks.push(Check::sum("VHD footer (end of file)", tail_sum, be32(&tail, 64), "footer fields used anyway"));
        if !checks[0].ok && head_ok && checksum(&head, 64) == be32(&head, 64) {
            checks[0].note = Some("using the intact footer copy at offset 0".into());
            head.clone()
        } else {
            tail
        }
    } else {
        // Only the copy at offset 0 (dynamic image whose end was truncated).
        checks.push(Check::note(
            "VHD footer (end of file)",
            false,
            "missing (no `conectix` cookie at end of file); using the copy at offset 0",
        ));
        checks.push(Check::sum(
            "VHD footer copy (offset 0)",
            checksum(&head, 64),
            be32(&head, 64),
            "footer fields used anyway",
        ));
        head.clone()
    };
    let f = parse_footer(&footer_bytes);
    let mut info = base_info(path, Format::VhdFixed, f.current_size, file_len);
    info.geometry = Some(f.geometry);
    info.disk_id = Some(f.id.clone());
    info.creator = Some(f.creator.clone());
    info.timestamp = Some(vhd_time(f.timestamp));
    info.checks = checks;
    match f.disk_type {
        2 => {
            if !tail_ok {
                return invalid(format!("{}: fixed VHD without a footer at the end of the file", path.display()));
            }
            let data = file_len - 512;
            if f.current_size > data {
                return invalid(format!(
                    "{}: fixed VHD truncated: footer says {} bytes of disk, the file holds {data} before the footer",
                    path.display(),
                    f.current_size
                ));
            }
            Ok((file, info, Layout::Flat))
        }
        3 | 4 => {
            if head_ok && tail_ok && head[..] != footer_bytes[..] {
                info.checks.push(Check::note(
                    "VHD footer copy (offset 0)",
                    false,
                    "differs from the footer at the end of the file",
                ));
            }
            let differencing = f.disk_type == 4;
            info.format = if differencing { Format::VhdDifferencing } else { Format::VhdDynamic };
            let (dynamic, allocated) = open_dynamic(path, &mut file, file_len, &f, &mut info)?;
            info.allocated_size = allocated;
            Ok((file, info, Layout::Vhd(dynamic)))
        }
        t => Err(Error::Unsupported(format!(
            "{}: VHD disk type {t} (only 2 fixed, 3 dynamic, 4 differencing exist)",
            path.display()
        ))),
    }
}

fn open_dynamic(
    path: &Path,
    file: &mut File,
    file_len: u64,
    f: &Footer,
    info: &mut ImageInfo,
) -> Result<(Dynamic, u64)> {
    let p = path.display();
    let h = read_struct(file, file_len, f.data_offset, 1024, "VHD dynamic header")?;
    if &h[..8] != b"cxsparse" {
        return invalid(format!("{p}: no `cxsparse` cookie at the dynamic header offset {}", f.data_offset));
    }
    info.checks.push(Check::sum("VHD dynamic header", checksum(&h, 36), be32(&h, 36), "header fields used anyway"));
    let bat_offset = be64(&h, 16);
    let max_entries = be32(&h, 28) as u64;
    let block_size = be32(&h, 32) as u64;
    if block_size == 0 || block_size & 511 != 0 || block_size > MAX_BLOCK {
        return invalid(format!(
            "{p}: VHD block size {block_size} (must be a non-zero multiple of 512, at most {MAX_BLOCK})"
        ));
    }
    let needed = f.current_size.div_ceil(block_size);
    if max_entries < needed {
        return invalid(format!(
            "{p}: VHD BAT has {max_entries} entries, a {}-byte disk with {block_size}-byte blocks needs {needed}",
            f.current_size
        ));
    }
    let bat_bytes = read_struct(file, file_len, bat_offset, (needed * 4) as usize, "VHD block allocation table")?;
    let bat: Vec<u32> = bat_bytes.chunks_exact(4).map(|c| be32(c, 0)).collect();
    let bitmap_size = (block_size / 512).div_ceil(8).next_multiple_of(512);
    let mut allocated = 0;
    for (i, &e) in bat.iter().enumerate() {
        if e == UNALLOCATED {
            continue;
        }
        let start = e as u64 * 512;
        if start + bitmap_size + block_size > file_len {
            return invalid(format!(
                "{p}: VHD BAT entry {i} points to sector {e} (offset {start}); the block would end at {} past the end of the file ({file_len} bytes)",
                start + bitmap_size + block_size
            ));
        }
        if start < f.data_offset + 1024 {
            return invalid(format!("{p}: VHD BAT entry {i} points to sector {e}, inside the image headers"));
        }
        allocated += block_size;
    }
    info.block_size = Some(block_size);
    if f.disk_type == 4 {
        info.parent_id = Some(guid_be(&h[40..56]));
        let name = utf16(h[64..576].chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])));
        let mut rel = Vec::new();
        let mut abs = Vec::new();
        for k in 0..8 {
            let l = &h[576 + 24 * k..600 + 24 * k];
            let code = &l[0..4];
            let len = be32(l, 8) as u64;
            let off = be64(l, 16);
            if code == [0; 4] || len == 0 {
                continue;
            }
            if len > 64 * 1024 {
                info.checks.push(Check::note(
                    "VHD parent locator",
                    false,
                    format!("locator {k} claims {len} bytes; ignored"),
                ));
                continue;
            }
            let data = match read_struct(file, file_len, off, len as usize, "VHD parent locator") {
                Ok(d) => d,
                Err(e) => {
                    info.checks.push(Check::note("VHD parent locator", false, format!("locator {k}: {e}")));
                    continue;
                }
            };
            let s = match code {
                b"W2ku" | b"W2ru" => utf16(data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]))),
                b"Wi2k" | b"Wi2r" | b"MacX" => String::from_utf8_lossy(&data).trim_end_matches('\0').to_string(),
                _ => continue,
            };
            let code = String::from_utf8_lossy(code).to_string();
            info.parent_locators.push(format!("{code}: {s}"));
            let s = s.trim_start_matches("file://").to_string();
            if code.ends_with('r') {
                rel.push(s)
            } else {
                abs.push(s)
            }
        }
        if !name.is_empty() {
            info.parent_locators.push(format!("name: {name}"));
        }
        info.parent_path =
            rel.iter().chain(abs.iter()).chain(std::iter::once(&name)).find_map(|s| resolve_windows_path(path, s));
    }
    Ok((Dynamic { bat, block_size, bitmap_size, differencing: f.disk_type == 4, cached: None }, allocated))
}

impl Dynamic {
    pub(crate) fn extent(&mut self, file: &mut File, file_len: u64, off: u64) -> Result<(Extent, u64)> {
        let bi = (off / self.block_size) as usize;
        let in_block = off % self.block_size;
        let left = self.block_size - in_block;
        let Some(&e) = self.bat.get(bi) else {
            return invalid(format!("virtual offset {off} lies beyond the VHD block allocation table"));
        };
        if e == UNALLOCATED {
            return Ok((if self.differencing { Extent::Parent } else { Extent::Zero }, left));
        }
        let start = e as u64 * 512;
        let data = start + self.bitmap_size + in_block;
        if !self.differencing {
            return Ok((Extent::File(data), left));
        }
        if self.cached.as_ref().is_none_or(|(i, _)| *i != bi) {
            let bm = read_struct(file, file_len, start, self.bitmap_size as usize, "VHD sector bitmap")?;
            self.cached = Some((bi, bm));
        }
        let bm = &self.cached.as_ref().unwrap().1;
        // Bit for sector s: byte s/8, most significant bit first.
        let bit = |s: u64| bm[(s / 8) as usize] & (0x80 >> (s % 8)) != 0;
        let s0 = in_block / 512;
        let here = bit(s0);
        let sectors = self.block_size / 512;
        let mut s = s0 + 1;
        while s < sectors && bit(s) == here {
            s += 1;
        }
        let len = (s * 512 - in_block).min(left);
        Ok((if here { Extent::File(data) } else { Extent::Parent }, len))
    }
}

/// The CHS geometry of the VHD specification (appendix "CHS calculation").
pub fn chs_geometry(size: u64) -> Geometry {
    let mut total = (size / 512).min(65535 * 16 * 255);
    let (spt, heads, cth);
    if total >= 65535 * 16 * 63 {
        spt = 255;
        heads = 16;
        cth = total / spt;
    } else {
        let mut s = 17;
        let mut c = total / s;
        let mut h = c.div_ceil(1024).max(4);
        if c >= h * 1024 || h > 16 {
            s = 31;
            h = 16;
            c = total / s;
        }
        if c >= h * 1024 {
            s = 63;
            h = 16;
            c = total / s;
        }
        spt = s;
        heads = h;
        cth = c;
    }
    total = cth / heads;
    Geometry { cylinders: total as u16, heads: heads as u8, sectors_per_track: spt as u8 }
}

/// A fixed-disk footer for `size` bytes of disk.
pub fn fixed_footer(size: u64, unique_id: [u8; 16], timestamp: u32) -> [u8; 512] {
    let mut f = [0u8; 512];
    f[0..8].copy_from_slice(b"conectix");
    f[8..12].copy_from_slice(&2u32.to_be_bytes());
    f[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    f[16..24].copy_from_slice(&u64::MAX.to_be_bytes());
    f[24..28].copy_from_slice(&timestamp.to_be_bytes());
    f[28..32].copy_from_slice(b"azir");
    f[32..36].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    f[36..40].copy_from_slice(b"Wi2k");
    f[40..48].copy_from_slice(&size.to_be_bytes());
    f[48..56].copy_from_slice(&size.to_be_bytes());
    let g = chs_geometry(size);
    f[56..58].copy_from_slice(&g.cylinders.to_be_bytes());
    f[58] = g.heads;
    f[59] = g.sectors_per_track;
    f[60..64].copy_from_slice(&2u32.to_be_bytes());
    f[68..84].copy_from_slice(&unique_id);
    let c = checksum(&f, 64);
    f[64..68].copy_from_slice(&c.to_be_bytes());
    f
}
