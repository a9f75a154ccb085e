//! VHDX: headers, region table, metadata, BAT with interleaved sector-bitmap entries
//! (little-endian fields, GUIDs in Microsoft mixed-endian form).

use crate::*;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;
pub(crate) const BAT_GUID: &str = "2dc27766-f623-4200-9d64-115e9bfd4a08";
pub(crate) const METADATA_GUID: &str = "8b7ca206-4790-4b9a-b8fe-575f050f886e";
pub(crate) const FILE_PARAMETERS: &str = "caa16737-fa36-4d43-b3b6-33f0aa44e76b";
pub(crate) const VIRTUAL_DISK_SIZE: &str = "2fa54224-cd1b-4876-b211-5dbed83bf4b8";
pub(crate) const VIRTUAL_DISK_ID: &str = "beca12ab-b2e6-4523-93ef-c309e000c746";
pub(crate) const LOGICAL_SECTOR: &str = "8141bf1d-a96f-4709-ba47-f233a8faab5f";
pub(crate) const PHYSICAL_SECTOR: &str = "cda348c7-445d-4471-9cc9-e9885251c556";
pub(crate) const PARENT_LOCATOR: &str = "a8d35f2d-b30b-454d-abf7-d3d84834ab0c";

const NOT_PRESENT: u64 = 0;
const UNDEFINED: u64 = 1;
const ZERO: u64 = 2;
const UNMAPPED: u64 = 3;
const UNMAPPED_OLD: u64 = 5;
const FULLY_PRESENT: u64 = 6;
const PARTIALLY_PRESENT: u64 = 7;

/// CRC-32C of `b` with the 4 bytes at `at` taken as zero.
pub fn crc(b: &[u8], at: usize) -> u32 {
    let c = crc32c::crc32c(&b[..at]);
    let c = crc32c::crc32c_append(c, &[0; 4]);
    crc32c::crc32c_append(c, &b[at + 4..])
}

pub(crate) struct Vhdx {
    bat: Vec<u64>,
    block_size: u64,
    chunk_ratio: u64,
    sector: u64,
    differencing: bool,
    /// Chunk index and sector bitmap (1 MiB) of the last chunk read.
    cached: Option<(u64, Vec<u8>)>,
}

pub(crate) fn open(path: &Path, mut file: File, file_len: u64) -> Result<Opened> {
    let p = path.display();
    let mut info = base_info(path, Format::VhdxDynamic, 0, file_len);
    let id = read_struct(&mut file, file_len, 0, 512, "VHDX file identifier")?;
    let creator = utf16(id[8..512].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])));
    if !creator.is_empty() {
        info.creator = Some(creator);
    }
    // Headers: the valid one with the highest sequence number wins.
    let mut best: Option<(u64, Vec<u8>)> = None;
    for (n, off) in [(1, 64 * KIB), (2, 128 * KIB)] {
        let name = format!("VHDX header {n}");
        let h = match read_struct(&mut file, file_len, off, 4096, &name) {
            Ok(h) => h,
            Err(e) => {
                info.checks.push(Check::note(&name, false, e.to_string()));
                continue;
            }
        };
        if &h[..4] != b"head" {
            info.checks.push(Check::note(&name, false, "no `head` signature"));
            continue;
        }
        let c = Check::sum(&name, crc(&h, 4), le32(&h, 4), "header ignored");
        let ok = c.ok;
        info.checks.push(c);
        if ok && best.as_ref().is_none_or(|(s, _)| le64(&h, 8) > *s) {
            best = Some((le64(&h, 8), h));
        }
    }
    let Some((_, h)) = best else {
        return invalid(format!("{p}: neither VHDX header is intact (see the checks)"));
    };
    if h[48..64].iter().any(|&b| b != 0) {
        return Err(Error::Unsupported(format!(
            "{p}: VHDX log GUID is {} (non-zero): the log must be replayed before the metadata and BAT can be trusted; \
             open the image read-write once in Hyper-V (or `qemu-img check -r all` on a copy) and hash that copy",
            guid_le(&h[48..64])
        )));
    }
    if le16(&h, 66) != 1 {
        return Err(Error::Unsupported(format!("{p}: VHDX version {} (only 1 exists)", le16(&h, 66))));
    }
    info.data_write_guid = Some(guid_le(&h[32..48]));

    // Region table.
    let mut regions: Option<Vec<u8>> = None;
    for (n, off) in [(1, 192 * KIB), (2, 256 * KIB)] {
        let name = format!("VHDX region table {n}");
        match read_struct(&mut file, file_len, off, 64 * KIB as usize, &name) {
            Ok(r) if &r[..4] == b"regi" => {
                let c = Check::sum(&name, crc(&r, 4), le32(&r, 4), "region table ignored");
                if c.ok && regions.is_none() {
                    regions = Some(r);
                }
                info.checks.push(c);
            }
            Ok(_) => info.checks.push(Check::note(&name, false, "no `regi` signature")),
            Err(e) => info.checks.push(Check::note(&name, false, e.to_string())),
        }
    }
    let Some(r) = regions else {
        return invalid(format!("{p}: neither VHDX region table is intact (see the checks)"));
    };
    let count = le32(&r, 8) as usize;
    if count > 2047 {
        return invalid(format!("{p}: VHDX region table claims {count} entries (at most 2047)"));
    }
    let (mut bat_region, mut meta_region) = (None, None);
    for i in 0..count {
        let e = &r[16 + 32 * i..48 + 32 * i];
        let guid = guid_le(&e[..16]);
        let (off, len, required) = (le64(e, 16), le32(e, 24) as u64, le32(e, 28) & 1 != 0);
        if off.checked_add(len).is_none_or(|end| end > file_len) || off < MIB {
            return invalid(format!("{p}: VHDX region {guid} at {off} (+{len}) lies outside the file ({file_len} bytes) or in the header section"));
        }
        match guid.as_str() {
            BAT_GUID => bat_region = Some((off, len)),
            METADATA_GUID => meta_region = Some((off, len)),
            _ if required => return Err(Error::Unsupported(format!("{p}: VHDX requires unknown region {guid}"))),
            _ => {}
        }
    }
    let (Some((bat_off, bat_len)), Some((meta_off, meta_len))) = (bat_region, meta_region) else {
        return invalid(format!("{p}: VHDX region table lacks the BAT or the metadata region"));
    };
    if meta_len > 64 * MIB || bat_len > 1024 * MIB {
        return invalid(format!("{p}: VHDX region sizes are absurd (metadata {meta_len}, BAT {bat_len} bytes)"));
    }

    // Metadata.
    let m = read_struct(&mut file, file_len, meta_off, meta_len as usize, "VHDX metadata region")?;
    if m.len() < 32 || &m[..8] != b"metadata" {
        return invalid(format!("{p}: no `metadata` signature at the metadata region (offset {meta_off})"));
    }
    let n = le16(&m, 10) as usize;
    if n > 2047 || 32 + 32 * n > m.len() {
        return invalid(format!("{p}: VHDX metadata table claims {n} entries"));
    }
    let mut items = std::collections::HashMap::new();
    for i in 0..n {
        let e = &m[32 + 32 * i..64 + 32 * i];
        let (guid, off, len) = (guid_le(&e[..16]), le32(e, 16) as usize, le32(e, 20) as usize);
        if off.checked_add(len).is_none_or(|end| end > m.len()) {
            return invalid(format!(
                "{p}: VHDX metadata item {guid} at {off} (+{len}) lies outside the metadata region"
            ));
        }
        let required = le32(e, 24) & 4 != 0;
        let known =
            [FILE_PARAMETERS, VIRTUAL_DISK_SIZE, VIRTUAL_DISK_ID, LOGICAL_SECTOR, PHYSICAL_SECTOR, PARENT_LOCATOR];
        if required && !known.contains(&guid.as_str()) {
            return Err(Error::Unsupported(format!("{p}: VHDX requires unknown metadata item {guid}")));
        }
        items.insert(guid, &m[off..off + len]);
    }
    let get = |g: &str, min: usize, what: &str| -> Result<&[u8]> {
        match items.get(g) {
            Some(v) if v.len() >= min => Ok(v),
            _ => invalid(format!("{p}: VHDX metadata item {what} missing or short")),
        }
    };
    let fp = get(FILE_PARAMETERS, 8, "File Parameters")?;
    let block_size = le32(fp, 0) as u64;
    let has_parent = le32(fp, 4) & 2 != 0;
    // LeaveBlockAllocated: set in fixed VHDX files (Hyper-V, qemu); there is no other marker.
    let leave_allocated = le32(fp, 4) & 1 != 0;
    if !(MIB..=256 * MIB).contains(&block_size) || !block_size.is_power_of_two() {
        return invalid(format!("{p}: VHDX block size {block_size} (must be a power of two from 1 MiB to 256 MiB)"));
    }
    let size = le64(get(VIRTUAL_DISK_SIZE, 8, "Virtual Disk Size")?, 0);
    let sector = le32(get(LOGICAL_SECTOR, 4, "Logical Sector Size")?, 0) as u64;
    if sector != 512 && sector != 4096 {
        return invalid(format!("{p}: VHDX logical sector size {sector} (must be 512 or 4096)"));
    }
    if size == 0 || size & (sector - 1) != 0 || size > 64 * 1024 * 1024 * MIB {
        return invalid(format!(
            "{p}: VHDX virtual disk size {size} (must be a non-zero multiple of the sector size, at most 64 TiB)"
        ));
    }
    if let Some(v) = items.get(PHYSICAL_SECTOR).filter(|v| v.len() >= 4) {
        info.physical_sector_size = Some(le32(v, 0));
    }
    if let Some(v) = items.get(VIRTUAL_DISK_ID).filter(|v| v.len() >= 16) {
        info.disk_id = Some(guid_le(&v[..16]));
    }
    let chunk_ratio = (1u64 << 23) * sector / block_size;
    let blocks = size.div_ceil(block_size);
    let entries =
        if has_parent { blocks.div_ceil(chunk_ratio) * (chunk_ratio + 1) } else { blocks + (blocks - 1) / chunk_ratio };
    if entries * 8 > bat_len {
        return invalid(format!("{p}: VHDX BAT region holds {} entries, the disk needs {entries}", bat_len / 8));
    }
    let bat_bytes = read_struct(&mut file, file_len, bat_off, (entries * 8) as usize, "VHDX BAT")?;
    let bat: Vec<u64> = bat_bytes.chunks_exact(8).map(|c| le64(c, 0)).collect();
    let mut allocated = 0;
    for b in 0..blocks {
        let idx = (b + b / chunk_ratio) as usize;
        let e = bat[idx];
        let state = e & 7;
        let off = e & !0xF_FFFF;
        match state {
            FULLY_PRESENT | PARTIALLY_PRESENT => {
                let len = block_size.min(size - b * block_size);
                if off < MIB || off.checked_add(len).is_none_or(|end| end > file_len) {
                    return invalid(format!(
                        "{p}: VHDX BAT entry {idx} (block {b}) points to offset {off}; the block would end past the end of the file ({file_len} bytes) or start in the header section"
                    ));
                }
                if state == PARTIALLY_PRESENT && !has_parent {
                    return invalid(format!(
                        "{p}: VHDX BAT entry {idx} (block {b}) is PARTIALLY_PRESENT in an image without a parent"
                    ));
                }
                allocated += len;
            }
            NOT_PRESENT | UNDEFINED | ZERO | UNMAPPED | UNMAPPED_OLD => {}
            s => return invalid(format!("{p}: VHDX BAT entry {idx} (block {b}) has invalid state {s}")),
        }
    }
    if has_parent {
        for c in 0..blocks.div_ceil(chunk_ratio) {
            let idx = (c * (chunk_ratio + 1) + chunk_ratio) as usize;
            let e = bat[idx];
            if e & 7 == 6 {
                let off = e & !0xF_FFFF;
                if off < MIB || off.checked_add(MIB).is_none_or(|end| end > file_len) {
                    return invalid(format!("{p}: VHDX sector bitmap entry {idx} points to offset {off}, outside the file ({file_len} bytes)"));
                }
            }
        }
        let loc = get(PARENT_LOCATOR, 20, "Parent Locator")?;
        let kv = parent_locator(loc).map_err(|m| Error::Invalid(format!("{p}: VHDX parent locator: {m}")))?;
        for (k, v) in &kv {
            if k == "parent_linkage" {
                info.parent_id = Some(v.trim_matches(|c| c == '{' || c == '}').to_ascii_lowercase());
            }
            info.parent_locators.push(format!("{k}: {v}"));
        }
        let find = |key: &str| kv.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        info.parent_path = ["relative_path", "absolute_win32_path", "volume_path"]
            .iter()
            .filter_map(|k| find(k))
            .find_map(|s| resolve_windows_path(path, s));
    }
    info.format = if has_parent {
        Format::VhdxDifferencing
    } else if leave_allocated {
        Format::VhdxFixed
    } else {
        Format::VhdxDynamic
    };
    info.virtual_size = size;
    info.allocated_size = allocated;
    info.block_size = Some(block_size);
    info.logical_sector_size = sector as u32;
    Ok((
        file,
        info,
        Layout::Vhdx(Vhdx { bat, block_size, chunk_ratio, sector, differencing: has_parent, cached: None }),
    ))
}

/// Key/value pairs of a parent locator item (UTF-16LE strings).
fn parent_locator(loc: &[u8]) -> std::result::Result<Vec<(String, String)>, String> {
    let count = le16(loc, 18) as usize;
    if 20 + 12 * count > loc.len() {
        return Err(format!("{count} entries do not fit in {} bytes", loc.len()));
    }
    let s = |off: usize, len: usize| -> std::result::Result<String, String> {
        let b = loc
            .get(off..off.checked_add(len).ok_or("overflow")?)
            .ok_or(format!("string at {off} (+{len}) outside the item"))?;
        Ok(utf16(b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]))))
    };
    (0..count)
        .map(|i| {
            let e = &loc[20 + 12 * i..32 + 12 * i];
            Ok((s(le32(e, 0) as usize, le16(e, 8) as usize)?, s(le32(e, 4) as usize, le16(e, 10) as usize)?))
        })
        .collect()
}

impl Vhdx {
    pub(crate) fn extent(&mut self, file: &mut File, file_len: u64, off: u64) -> Result<(Extent, u64)> {
        let b = off / self.block_size;
        let in_block = off % self.block_size;
        let left = self.block_size - in_block;
        let idx = (b + b / self.chunk_ratio) as usize;
        let Some(&e) = self.bat.get(idx) else {
            return invalid(format!("virtual offset {off} lies beyond the VHDX BAT"));
        };
        let base = e & !0xF_FFFF;
        let absent = if self.differencing { Extent::Parent } else { Extent::Zero };
        match e & 7 {
            FULLY_PRESENT => Ok((Extent::File(base + in_block), left)),
            ZERO => Ok((Extent::Zero, left)),
            PARTIALLY_PRESENT => {
                let chunk = b / self.chunk_ratio;
                if self.cached.as_ref().is_none_or(|(c, _)| *c != chunk) {
                    let bidx = (chunk * (self.chunk_ratio + 1) + self.chunk_ratio) as usize;
                    let se = self.bat.get(bidx).copied().unwrap_or(0);
                    if se & 7 != 6 {
                        return invalid(format!(
                            "VHDX block {b} is PARTIALLY_PRESENT but its sector bitmap (BAT entry {bidx}) is not present"
                        ));
                    }
                    let bm = read_struct(file, file_len, se & !0xF_FFFF, MIB as usize, "VHDX sector bitmap")?;
                    self.cached = Some((chunk, bm));
                }
                let bm = &self.cached.as_ref().unwrap().1;
                // Sector s of the chunk: byte s/8, least significant bit first.
                let first = (b % self.chunk_ratio) * (self.block_size / self.sector);
                let bit = |s: u64| bm[((first + s) / 8) as usize] & (1 << ((first + s) % 8)) != 0;
                let s0 = in_block / self.sector;
                let here = bit(s0);
                let sectors = self.block_size / self.sector;
                let mut s = s0 + 1;
                while s < sectors && bit(s) == here {
                    s += 1;
                }
                let len = (s * self.sector - in_block).min(left);
                Ok((if here { Extent::File(base + in_block) } else { Extent::Parent }, len))
            }
            _ => Ok((absent, left)),
        }
    }
}
