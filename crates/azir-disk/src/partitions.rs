//! Partition tables (MBR with extended/logical partitions, protective MBR, GPT) and
//! filesystem identification by the magic at the start of each partition.

use crate::{guid_le, le16, le32, le64, utf16, DiskImage, Result};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Partition {
    /// 1-based; MBR logical partitions start at 5.
    pub number: u32,
    pub start: u64,
    pub size: u64,
    /// "mbr", "mbr-logical" or "gpt".
    pub scheme: &'static str,
    /// MBR type byte (e.g. "0x07") or GPT type GUID.
    pub type_id: String,
    pub type_name: Option<&'static str>,
    pub name: Option<String>,
    pub guid: Option<String>,
    pub bootable: bool,
    pub filesystem: Option<Filesystem>,
    /// Problems with this entry (e.g. it extends past the end of the disk).
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Filesystem {
    pub kind: &'static str,
    pub label: Option<String>,
    pub uuid: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartitionTable {
    /// "mbr", "gpt", "none" (a filesystem on the whole disk or nothing recognized).
    pub scheme: &'static str,
    pub sector_size: u32,
    pub disk_guid: Option<String>,
    pub mbr_signature: Option<String>,
    pub partitions: Vec<Partition>,
    /// Filesystem found at offset 0 when there is no partition table.
    pub whole_disk: Option<Filesystem>,
    /// GPT checks and structural problems, e.g. "GPT header CRC: expected ..., found ...".
    pub checks: Vec<crate::Check>,
}

const MAX_LOGICAL: usize = 128;
const MAX_GPT_ENTRIES: u64 = 4096;

fn read(img: &mut DiskImage, off: u64, len: usize) -> Result<Vec<u8>> {
    let mut v = vec![0u8; len];
    let n = img.read_at(off, &mut v)?;
    v.truncate(n);
    Ok(v)
}

/// Read the partition table(s) of a virtual disk and identify each partition's filesystem.
pub fn scan(img: &mut DiskImage) -> Result<PartitionTable> {
    let size = img.virtual_size();
    let mbr = read(img, 0, 512)?;
    let mut t = PartitionTable {
        scheme: "none",
        sector_size: 512,
        disk_guid: None,
        mbr_signature: None,
        partitions: Vec::new(),
        whole_disk: None,
        checks: Vec::new(),
    };
    let has_mbr = mbr.len() == 512 && mbr[510] == 0x55 && mbr[511] == 0xAA && !is_boot_sector_fs(&mbr);
    let protective = has_mbr && (0..4).any(|i| mbr[446 + 16 * i + 4] == 0xEE);
    // GPT: header at LBA 1 with 512- or 4096-byte sectors.
    for ss in [512u64, 4096] {
        let h = read(img, ss, 512)?;
        if h.len() >= 92 && &h[..8] == b"EFI PART" {
            t.sector_size = ss as u32;
            gpt(img, &mut t, &h, ss, size)?;
            if !protective {
                t.checks.push(crate::Check::note(
                    "protective MBR",
                    false,
                    "GPT header present but no protective MBR (type 0xEE)",
                ));
            }
            break;
        }
    }
    if t.scheme == "none" && has_mbr {
        t.scheme = "mbr";
        t.mbr_signature = Some(format!("{:08x}", le32(&mbr, 440)));
        mbr_parts(img, &mut t, &mbr, size)?;
    }
    if t.scheme == "none" {
        t.whole_disk = identify(img, 0)?;
    }
    for p in &mut t.partitions {
        if p.start.checked_add(p.size).is_none_or(|e| e > size) {
            p.problems.push(format!("extends past the end of the disk ({size} bytes)"));
        }
    }
    let starts: Vec<(usize, u64)> = t
        .partitions
        .iter()
        .enumerate()
        .filter(|(_, p)| p.start < size && p.size > 0)
        .map(|(i, p)| (i, p.start))
        .collect();
    for (i, start) in starts {
        t.partitions[i].filesystem = identify(img, start)?;
    }
    Ok(t)
}

/// A FAT/NTFS boot sector on a partitionless disk also ends in 0x55AA.
fn is_boot_sector_fs(s: &[u8]) -> bool {
    matches!(&s[3..11], b"NTFS    " | b"EXFAT   " | b"-FVE-FS-")
        || &s[82..87] == b"FAT32"
        || &s[54..59] == b"FAT16"
        || &s[54..59] == b"FAT12"
}

fn mbr_parts(img: &mut DiskImage, t: &mut PartitionTable, mbr: &[u8], size: u64) -> Result<()> {
    for i in 0..4 {
        let e = &mbr[446 + 16 * i..462 + 16 * i];
        let ty = e[4];
        let (lba, n) = (le32(e, 8) as u64, le32(e, 12) as u64);
        if ty == 0 || n == 0 {
            continue;
        }
        t.partitions.push(mbr_entry(i as u32 + 1, "mbr", e, lba * 512, n * 512));
        if matches!(ty, 0x05 | 0x0F | 0x85) {
            logical(img, t, lba, size)?;
        }
    }
    Ok(())
}

fn mbr_entry(number: u32, scheme: &'static str, e: &[u8], start: u64, size: u64) -> Partition {
    Partition {
        number,
        start,
        size,
        scheme,
        type_id: format!("{:#04x}", e[4]),
        type_name: mbr_type(e[4]),
        name: None,
        guid: None,
        bootable: e[0] == 0x80,
        filesystem: None,
        problems: Vec::new(),
    }
}

/// Walk the EBR chain of an extended partition starting at sector `ext`.
fn logical(img: &mut DiskImage, t: &mut PartitionTable, ext: u64, size: u64) -> Result<()> {
    let mut ebr = ext;
    let mut seen = std::collections::HashSet::new();
    let mut number = 5;
    while seen.insert(ebr) {
        if seen.len() > MAX_LOGICAL {
            t.checks.push(crate::Check::note(
                "MBR extended partition",
                false,
                format!("more than {MAX_LOGICAL} logical partitions; stopped"),
            ));
            return Ok(());
        }
        if ebr.saturating_mul(512) >= size {
            t.checks.push(crate::Check::note(
                "MBR extended partition",
                false,
                format!("EBR at sector {ebr} lies past the end of the disk"),
            ));
            return Ok(());
        }
        let s = read(img, ebr * 512, 512)?;
        if s.len() < 512 || s[510] != 0x55 || s[511] != 0xAA {
            t.checks.push(crate::Check::note(
                "MBR extended partition",
                false,
                format!("EBR at sector {ebr} lacks the 0x55AA signature"),
            ));
            return Ok(());
        }
        let (a, b) = (&s[446..462], &s[462..478]);
        if a[4] != 0 && le32(a, 12) != 0 {
            let start = (ebr + le32(a, 8) as u64) * 512;
            t.partitions.push(mbr_entry(number, "mbr-logical", a, start, le32(a, 12) as u64 * 512));
            number += 1;
        }
        if b[4] == 0 || le32(b, 8) == 0 {
            return Ok(());
        }
        ebr = ext + le32(b, 8) as u64;
    }
    t.checks.push(crate::Check::note(
        "MBR extended partition",
        false,
        format!("loop in the EBR chain at sector {ebr}"),
    ));
    Ok(())
}

fn gpt(img: &mut DiskImage, t: &mut PartitionTable, h: &[u8], ss: u64, size: u64) -> Result<()> {
    t.scheme = "gpt";
    let hsize = le32(h, 12) as usize;
    if !(92..=512).contains(&hsize) {
        t.checks.push(crate::Check::note("GPT header", false, format!("header size {hsize} (must be 92..=512)")));
        return Ok(());
    }
    let mut hb = h[..hsize].to_vec();
    hb[16..20].fill(0);
    t.checks.push(crate::Check::sum("GPT header CRC-32", crc32(&hb), le32(h, 16), "entries read anyway"));
    t.disk_guid = Some(guid_le(&h[56..72]));
    let (entries_lba, count, esize) = (le64(h, 72), le32(h, 80) as u64, le32(h, 84) as u64);
    if count > MAX_GPT_ENTRIES || !(128..=4096).contains(&esize) || esize % 8 != 0 {
        t.checks.push(crate::Check::note("GPT header", false, format!("{count} entries of {esize} bytes: refused")));
        return Ok(());
    }
    let bytes = count * esize;
    if entries_lba.checked_mul(ss).and_then(|o| o.checked_add(bytes)).is_none_or(|e| e > size) {
        t.checks.push(crate::Check::note(
            "GPT partition entries",
            false,
            format!("entry array at LBA {entries_lba} lies past the end of the disk"),
        ));
        return Ok(());
    }
    let arr = read(img, entries_lba * ss, bytes as usize)?;
    t.checks.push(crate::Check::sum("GPT partition entries CRC-32", crc32(&arr), le32(h, 88), "entries read anyway"));
    for (i, e) in arr.chunks_exact(esize as usize).enumerate() {
        if e[..16].iter().all(|&b| b == 0) {
            continue;
        }
        let (first, last) = (le64(e, 32), le64(e, 40));
        let type_id = guid_le(&e[..16]);
        let mut problems = Vec::new();
        if last < first {
            problems.push(format!("last LBA {last} before first LBA {first}"));
        }
        t.partitions.push(Partition {
            number: i as u32 + 1,
            start: first.saturating_mul(ss),
            size: (last.saturating_sub(first).saturating_add(1)).saturating_mul(ss),
            scheme: "gpt",
            type_name: gpt_type(&type_id),
            type_id,
            name: Some(utf16(e[56..128].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]))))
                .filter(|s| !s.is_empty()),
            guid: Some(guid_le(&e[16..32])),
            bootable: le64(e, 48) & 4 != 0,
            filesystem: None,
            problems,
        });
    }
    Ok(())
}

/// CRC-32 (IEEE 802.3, reflected, as GPT uses). Bitwise with a table built at first use:
/// GPT structures are a few KiB, so a dependency is not worth it.
pub fn crc32(b: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, v) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
            *v = c;
        }
        t
    });
    !b.iter().fold(!0u32, |c, &x| t[((c ^ x as u32) & 0xFF) as usize] ^ (c >> 8))
}

/// Identify the filesystem (or volume format) whose magic starts at virtual offset `at`.
pub fn identify(img: &mut DiskImage, at: u64) -> Result<Option<Filesystem>> {
    let b = read(img, at, 0x10000 + 4096)?;
    let get = |o: usize, n: usize| b.get(o..o + n);
    let fs = |kind: &'static str| Filesystem { kind, label: None, uuid: None };
    let text = |o: usize, n: usize| {
        get(o, n)
            .map(|s| String::from_utf8_lossy(s).trim_end_matches(['\0', ' ']).to_string())
            .filter(|s| !s.is_empty())
    };
    if get(3, 8) == Some(b"-FVE-FS-") {
        return Ok(Some(fs("BitLocker")));
    }
    if get(3, 8) == Some(b"NTFS    ") {
        let serial = get(72, 8).map(|s| format!("{:016X}", le64(s, 0)));
        return Ok(Some(Filesystem { kind: "NTFS", label: None, uuid: serial }));
    }
    if get(3, 8) == Some(b"EXFAT   ") {
        return Ok(Some(Filesystem {
            kind: "exFAT",
            label: None,
            uuid: get(100, 4).map(|s| format!("{:08X}", le32(s, 0))),
        }));
    }
    if get(0, 6) == Some(b"LUKS\xba\xbe") {
        let v = get(6, 2).map(|s| u16::from_be_bytes([s[0], s[1]])).unwrap_or(0);
        let uuid = text(168, 40);
        return Ok(Some(Filesystem { kind: if v == 2 { "LUKS2" } else { "LUKS1" }, label: None, uuid }));
    }
    if get(0, 4) == Some(b"XFSB") {
        return Ok(Some(Filesystem { kind: "XFS", label: text(108, 12), uuid: get(32, 16).map(crate::guid_be) }));
    }
    if get(0x10040, 8) == Some(b"_BHRfS_M") {
        return Ok(Some(Filesystem {
            kind: "Btrfs",
            label: text(0x10000 + 0x12B, 256),
            uuid: get(0x10020, 16).map(crate::guid_be),
        }));
    }
    for s in 0..4 {
        if get(512 * s, 8) == Some(b"LABELONE") && get(512 * s + 24, 8) == Some(b"LVM2 001") {
            return Ok(Some(Filesystem { kind: "LVM2 PV", label: None, uuid: text(512 * s + 32, 32) }));
        }
    }
    if let Some(sb) = get(1024, 1024).filter(|sb| le16(sb, 56) == 0xEF53) {
        let (compat, incompat) = (le32(sb, 0x5C), le32(sb, 0x60));
        let kind = if incompat & (0x40 | 0x80 | 0x200) != 0 {
            "ext4"
        } else if compat & 4 != 0 {
            "ext3"
        } else {
            "ext2"
        };
        return Ok(Some(Filesystem {
            kind,
            label: text(1024 + 0x78, 16),
            uuid: Some(crate::guid_be(&sb[0x68..0x78])),
        }));
    }
    if b.len() >= 512 && b[510] == 0x55 && b[511] == 0xAA {
        if get(82, 5) == Some(b"FAT32") {
            return Ok(Some(Filesystem {
                kind: "FAT32",
                label: text(71, 11),
                uuid: Some(format!("{:08X}", le32(&b, 67))),
            }));
        }
        for (m, k) in [(&b"FAT12"[..], "FAT12"), (b"FAT16", "FAT16")] {
            if get(54, 5) == Some(m) {
                return Ok(Some(Filesystem {
                    kind: k,
                    label: text(43, 11),
                    uuid: Some(format!("{:08X}", le32(&b, 39))),
                }));
            }
        }
    }
    if get(4086, 10) == Some(b"SWAPSPACE2") {
        return Ok(Some(fs("Linux swap")));
    }
    Ok(None)
}

fn mbr_type(t: u8) -> Option<&'static str> {
    Some(match t {
        0x01 => "FAT12",
        0x04 | 0x06 | 0x0E => "FAT16",
        0x05 | 0x0F => "extended",
        0x07 => "NTFS/exFAT/HPFS",
        0x0B | 0x0C => "FAT32",
        0x27 => "Windows recovery",
        0x42 => "Windows dynamic disk",
        0x82 => "Linux swap",
        0x83 => "Linux",
        0x85 => "Linux extended",
        0x8E => "Linux LVM",
        0xEE => "GPT protective",
        0xEF => "EFI system",
        0xFD => "Linux RAID",
        _ => return None,
    })
}

fn gpt_type(g: &str) -> Option<&'static str> {
    Some(match g {
        "c12a7328-f81f-11d2-ba4b-00a0c93ec93b" => "EFI system",
        "e3c9e316-0b5c-4db8-817d-f92df00215ae" => "Microsoft reserved",
        "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7" => "Microsoft basic data",
        "de94bba4-06d1-4d40-a16a-bfd50179d6ac" => "Windows recovery",
        "5808c8aa-7e8f-42e0-85d2-e1e90434cfb3" => "Windows LDM metadata",
        "af9b60a0-1431-4f62-bc68-3311714a69ad" => "Windows LDM data",
        "21686148-6449-6e6f-744e-656564454649" => "BIOS boot",
        "0fc63daf-8483-4772-8e79-3d69d8477de4" => "Linux filesystem",
        "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f" => "Linux swap",
        "e6d6d379-f507-44c2-a23c-238f2a3df928" => "Linux LVM",
        "a19d880f-05fc-4d3b-a006-743f0f84911e" => "Linux RAID",
        "4f68bce3-e8cd-4db1-96e7-fbcaf984b709" => "Linux root (x86-64)",
        "bc13c2ff-59e6-4262-a352-b275fd6f7172" => "Linux extended boot",
        "ca7d7ccb-63ed-4c53-861c-1742536059cc" => "LUKS",
        _ => return None,
    })
}
