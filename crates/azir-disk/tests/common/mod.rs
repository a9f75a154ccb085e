//! Image builders for the tests: minimal, spec-following writers of dynamic/differencing VHD
//! and VHDX files, plus MBR/GPT disk contents.
#![allow(dead_code)]

use std::path::Path;

pub const MIB: usize = 1 << 20;

/// Deterministic non-zero bytes.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9E37_79B9 ^ seed as u32;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8 | 1
        })
        .collect()
}

pub fn vhd_checksum(b: &[u8], at: usize) -> u32 {
    let s = b
        .iter()
        .enumerate()
        .filter(|(i, _)| !(at..at + 4).contains(i))
        .fold(0u32, |s, (_, &x)| s.wrapping_add(x as u32));
    !s
}

pub struct VhdParent<'a> {
    pub unique_id: [u8; 16],
    /// Written as a W2ru locator (UTF-16LE).
    pub relative: &'a str,
    /// Written as a W2ku locator.
    pub absolute: &'a str,
}

/// Write a dynamic (or, with `parent`, differencing) VHD holding `data` for the sectors where
/// `present[sector]` is true. Returns the file bytes.
pub fn dynamic_vhd(
    data: &[u8],
    present: &[bool],
    block_size: u32,
    unique_id: [u8; 16],
    parent: Option<&VhdParent>,
) -> Vec<u8> {
    let size = data.len() as u64;
    let bs = block_size as u64;
    let blocks = size.div_ceil(bs) as usize;
    let bat_off = 512 + 1024u64;
    let bat_len = (blocks * 4).next_multiple_of(512) as u64;
    let mut loc_off = bat_off + bat_len;
    let mut locators: Vec<(&[u8; 4], Vec<u8>)> = Vec::new();
    if let Some(p) = parent {
        locators.push((b"W2ru", p.relative.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()));
        locators.push((b"W2ku", p.absolute.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()));
    }
    let loc_space = locators.len() as u64 * 512;
    let mut next = loc_off + loc_space;
    let bitmap = ((bs / 512).div_ceil(8)).next_multiple_of(512);
    let mut bat = vec![0xFFFF_FFFFu32; blocks];
    let mut body = Vec::new();
    for (b, e) in bat.iter_mut().enumerate() {
        let s0 = b * (bs / 512) as usize;
        let s1 = (s0 + (bs / 512) as usize).min(present.len());
        if !(s0..s1).any(|s| present[s]) {
            continue;
        }
        *e = (next / 512) as u32;
        let mut bm = vec![0u8; bitmap as usize];
        let mut blk = vec![0u8; bs as usize];
        for s in s0..s1 {
            if present[s] {
                bm[(s - s0) / 8] |= 0x80 >> ((s - s0) % 8);
                blk[(s - s0) * 512..(s - s0 + 1) * 512].copy_from_slice(&data[s * 512..(s + 1) * 512]);
            }
        }
        body.extend_from_slice(&bm);
        body.extend_from_slice(&blk);
        next += bitmap + bs;
    }
    let mut footer = [0u8; 512];
    footer[0..8].copy_from_slice(b"conectix");
    footer[8..12].copy_from_slice(&2u32.to_be_bytes());
    footer[12..16].copy_from_slice(&0x10000u32.to_be_bytes());
    footer[16..24].copy_from_slice(&512u64.to_be_bytes());
    footer[28..32].copy_from_slice(b"test");
    footer[36..40].copy_from_slice(b"Wi2k");
    footer[40..48].copy_from_slice(&size.to_be_bytes());
    footer[48..56].copy_from_slice(&size.to_be_bytes());
    footer[56..60].copy_from_slice(&[0, 20, 4, 17]);
    footer[60..64].copy_from_slice(&(if parent.is_some() { 4u32 } else { 3 }).to_be_bytes());
    footer[68..84].copy_from_slice(&unique_id);
    let c = vhd_checksum(&footer, 64);
    footer[64..68].copy_from_slice(&c.to_be_bytes());
    let mut h = [0u8; 1024];
    h[0..8].copy_from_slice(b"cxsparse");
    h[8..16].copy_from_slice(&u64::MAX.to_be_bytes());
    h[16..24].copy_from_slice(&bat_off.to_be_bytes());
    h[24..28].copy_from_slice(&0x10000u32.to_be_bytes());
    h[28..32].copy_from_slice(&(blocks as u32).to_be_bytes());
    h[32..36].copy_from_slice(&block_size.to_be_bytes());
    if let Some(p) = parent {
        h[40..56].copy_from_slice(&p.unique_id);
        let name: Vec<u8> = "parent.vhd".encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
        h[64..64 + name.len()].copy_from_slice(&name);
        for (k, (code, d)) in locators.iter().enumerate() {
            let l = &mut h[576 + 24 * k..600 + 24 * k];
            l[0..4].copy_from_slice(*code);
            l[4..8].copy_from_slice(&512u32.to_be_bytes());
            l[8..12].copy_from_slice(&(d.len() as u32).to_be_bytes());
            l[16..24].copy_from_slice(&loc_off.to_be_bytes());
            loc_off += 512;
        }
    }
    let c = vhd_checksum(&h, 36);
    h[36..40].copy_from_slice(&c.to_be_bytes());
    let mut out = Vec::new();
    out.extend_from_slice(&footer);
    out.extend_from_slice(&h);
    for e in &bat {
        out.extend_from_slice(&e.to_be_bytes());
    }
    out.resize((bat_off + bat_len) as usize, 0xFF);
    for (_, d) in &locators {
        let mut s = d.clone();
        s.resize(512, 0);
        out.extend_from_slice(&s);
    }
    out.extend_from_slice(&body);
    out.extend_from_slice(&footer);
    out
}

/// GUID text to Microsoft mixed-endian bytes.
pub fn guid_bytes(g: &str) -> [u8; 16] {
    let h: String = g.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    let mut b = [0u8; 16];
    for i in 0..16 {
        b[i] = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap();
    }
    b[0..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    b
}

pub fn crc32c_zeroed(b: &[u8], at: usize) -> u32 {
    let mut v = b.to_vec();
    v[at..at + 4].fill(0);
    crc32c::crc32c(&v)
}

pub struct VhdxParent<'a> {
    pub linkage: &'a str,
    pub relative: &'a str,
}

pub const DATA_WRITE_GUID: &str = "11111111-2222-3333-4444-555555555555";

/// Write a VHDX (block size 1 MiB, 512-byte sectors) holding `data` for the sectors where
/// `present[sector]` is true; blocks with every sector present are FULLY_PRESENT, others
/// PARTIALLY_PRESENT (differencing, with a sector bitmap) or NOT_PRESENT. `fixed` stores every
/// block.
pub fn vhdx(
    data: &[u8],
    present: &[bool],
    fixed: bool,
    parent: Option<&VhdxParent>,
    log_guid: Option<[u8; 16]>,
) -> Vec<u8> {
    let bs = MIB;
    let size = data.len();
    let blocks = size.div_ceil(bs);
    let chunk_ratio = (1usize << 23) * 512 / bs;
    let mut f = vec![0u8; 3 * MIB];
    f[..8].copy_from_slice(b"vhdxfile");
    for (i, u) in "azir-test".encode_utf16().enumerate() {
        f[8 + 2 * i..10 + 2 * i].copy_from_slice(&u.to_le_bytes());
    }
    for (slot, seq) in [(64 * 1024, 1u64), (128 * 1024, 2)] {
        let h = &mut f[slot..slot + 4096];
        h[..4].copy_from_slice(b"head");
        h[8..16].copy_from_slice(&seq.to_le_bytes());
        h[32..48].copy_from_slice(&guid_bytes(DATA_WRITE_GUID));
        if let Some(l) = log_guid {
            h[48..64].copy_from_slice(&l);
        }
        h[66..68].copy_from_slice(&1u16.to_le_bytes());
        h[68..72].copy_from_slice(&(MIB as u32).to_le_bytes());
        let c = crc32c_zeroed(h, 4);
        h[4..8].copy_from_slice(&c.to_le_bytes());
    }
    for slot in [192 * 1024, 256 * 1024] {
        let r = &mut f[slot..slot + 64 * 1024];
        r[..4].copy_from_slice(b"regi");
        r[8..12].copy_from_slice(&2u32.to_le_bytes());
        for (i, (g, off)) in
            [("2DC27766-F623-4200-9D64-115E9BFD4A08", 2 * MIB), ("8B7CA206-4790-4B9A-B8FE-575F050F886E", MIB)]
                .iter()
                .enumerate()
        {
            let e = &mut r[16 + 32 * i..48 + 32 * i];
            e[..16].copy_from_slice(&guid_bytes(g));
            e[16..24].copy_from_slice(&(*off as u64).to_le_bytes());
            e[24..28].copy_from_slice(&(MIB as u32).to_le_bytes());
            e[28..32].copy_from_slice(&1u32.to_le_bytes());
        }
        let c = crc32c_zeroed(r, 4);
        r[4..8].copy_from_slice(&c.to_le_bytes());
    }
    // Metadata.
    let mut items: Vec<(&str, Vec<u8>)> = vec![
        (
            "CAA16737-FA36-4D43-B3B6-33F0AA44E76B",
            [(bs as u32).to_le_bytes(), (if parent.is_some() { 2u32 } else { fixed as u32 }).to_le_bytes()].concat(),
        ),
        ("2FA54224-CD1B-4876-B211-5DBED83BF4B8", (size as u64).to_le_bytes().to_vec()),
        ("BECA12AB-B2E6-4523-93EF-C309E000C746", guid_bytes("abcdef01-2345-6789-abcd-ef0123456789").to_vec()),
        ("8141BF1D-A96F-4709-BA47-F233A8FAAB5F", 512u32.to_le_bytes().to_vec()),
        ("CDA348C7-445D-4471-9CC9-E9885251C556", 4096u32.to_le_bytes().to_vec()),
    ];
    if let Some(p) = parent {
        let kv = [("parent_linkage", p.linkage), ("relative_path", p.relative)];
        let mut loc = vec![0u8; 20 + 12 * kv.len()];
        loc[..16].copy_from_slice(&guid_bytes("B04AEFB7-D19E-4A81-B789-25B8E9445913"));
        loc[18..20].copy_from_slice(&(kv.len() as u16).to_le_bytes());
        for (i, (k, v)) in kv.iter().enumerate() {
            let kb: Vec<u8> = k.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
            let vb: Vec<u8> = v.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
            let (ko, vo) = (loc.len(), loc.len() + kb.len());
            let e = 20 + 12 * i;
            loc[e..e + 4].copy_from_slice(&(ko as u32).to_le_bytes());
            loc[e + 4..e + 8].copy_from_slice(&(vo as u32).to_le_bytes());
            loc[e + 8..e + 10].copy_from_slice(&(kb.len() as u16).to_le_bytes());
            loc[e + 10..e + 12].copy_from_slice(&(vb.len() as u16).to_le_bytes());
            loc.extend_from_slice(&kb);
            loc.extend_from_slice(&vb);
        }
        items.push(("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C", loc));
    }
    let m = MIB;
    f[m..m + 8].copy_from_slice(b"metadata");
    f[m + 10..m + 12].copy_from_slice(&(items.len() as u16).to_le_bytes());
    let mut data_off = 64 * 1024;
    for (i, (g, v)) in items.iter().enumerate() {
        let e = m + 32 + 32 * i;
        f[e..e + 16].copy_from_slice(&guid_bytes(g));
        f[e + 16..e + 20].copy_from_slice(&(data_off as u32).to_le_bytes());
        f[e + 20..e + 24].copy_from_slice(&(v.len() as u32).to_le_bytes());
        f[e + 24..e + 28].copy_from_slice(&4u32.to_le_bytes());
        f[m + data_off..m + data_off + v.len()].copy_from_slice(v);
        data_off += 4096;
    }
    // BAT and payload.
    let mut bat = vec![0u64; blocks + blocks / chunk_ratio + 1];
    let mut bitmap = vec![0u8; MIB];
    let mut need_bitmap = false;
    for b in 0..blocks {
        let s0 = b * bs / 512;
        let s1 = ((b + 1) * bs / 512).min(present.len());
        let n = (s0..s1).filter(|&s| present[s]).count();
        let idx = b + b / chunk_ratio;
        if n == 0 && !fixed {
            continue;
        }
        let full = fixed || parent.is_none() || n == s1 - s0;
        let off = f.len();
        let mut blk = vec![0u8; bs];
        for s in s0..s1 {
            if fixed || parent.is_none() || present[s] {
                blk[(s - s0) * 512..(s - s0 + 1) * 512].copy_from_slice(&data[s * 512..(s + 1) * 512]);
                bitmap[s / 8] |= 1 << (s % 8);
            }
        }
        f.extend_from_slice(&blk);
        bat[idx] = off as u64 | if full { 6 } else { 7 };
        need_bitmap |= !full;
    }
    if parent.is_some() {
        let off = f.len();
        f.extend_from_slice(&bitmap);
        let idx = chunk_ratio; // chunk 0's sector bitmap entry
        if bat.len() <= idx {
            bat.resize(idx + 1, 0);
        }
        bat[idx] = off as u64 | 6;
    }
    assert!(!need_bitmap || parent.is_some());
    for (i, e) in bat.iter().enumerate() {
        f[2 * MIB + 8 * i..2 * MIB + 8 * i + 8].copy_from_slice(&e.to_le_bytes());
    }
    f
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

fn mbr_entry(boot: bool, ty: u8, lba: u32, sectors: u32) -> [u8; 16] {
    let mut e = [0u8; 16];
    e[0] = if boot { 0x80 } else { 0 };
    e[4] = ty;
    e[8..12].copy_from_slice(&lba.to_le_bytes());
    e[12..16].copy_from_slice(&sectors.to_le_bytes());
    e
}

/// Put the filesystem magic of `kind` at `off`.
pub fn put_fs(d: &mut [u8], off: usize, kind: &str) {
    let s = &mut d[off..off + 0x11000];
    s.fill(0);
    match kind {
        "NTFS" => s[3..11].copy_from_slice(b"NTFS    "),
        "BitLocker" => s[3..11].copy_from_slice(b"-FVE-FS-"),
        "exFAT" => s[3..11].copy_from_slice(b"EXFAT   "),
        "FAT32" => {
            s[82..90].copy_from_slice(b"FAT32   ");
            s[71..82].copy_from_slice(b"MYVOLUME   ");
        }
        "FAT16" => s[54..62].copy_from_slice(b"FAT16   "),
        "ext4" | "ext3" | "ext2" => {
            s[1024 + 56..1024 + 58].copy_from_slice(&0xEF53u16.to_le_bytes());
            if kind == "ext4" {
                s[1024 + 0x60] = 0x40;
            }
            if kind != "ext2" {
                s[1024 + 0x5C] = 4;
            }
            s[1024 + 0x78..1024 + 0x7D].copy_from_slice(b"rootf");
        }
        "XFS" => s[..4].copy_from_slice(b"XFSB"),
        "Btrfs" => s[0x10040..0x10048].copy_from_slice(b"_BHRfS_M"),
        "LVM2 PV" => {
            s[512..520].copy_from_slice(b"LABELONE");
            s[536..544].copy_from_slice(b"LVM2 001");
        }
        "LUKS2" => {
            s[..6].copy_from_slice(b"LUKS\xba\xbe");
            s[7] = 2;
        }
        _ => panic!("{kind}"),
    }
    if matches!(kind, "NTFS" | "BitLocker" | "exFAT" | "FAT32" | "FAT16") {
        s[510] = 0x55;
        s[511] = 0xAA;
    }
}

/// 16 MiB disk: MBR with NTFS (bootable) at 1 MiB, an extended partition with two logicals
/// (ext4, FAT32) and a Linux LVM primary.
pub fn mbr_disk() -> Vec<u8> {
    let mut d = vec![0u8; 16 * MIB];
    put_fs(&mut d, MIB, "NTFS");
    put_fs(&mut d, 4 * MIB + 512, "ext4");
    put_fs(&mut d, 8 * MIB + 512, "FAT32");
    put_fs(&mut d, 12 * MIB, "LVM2 PV");
    d[446..462].copy_from_slice(&mbr_entry(true, 0x07, 2048, 2048 * 2));
    d[462..478].copy_from_slice(&mbr_entry(false, 0x0F, 4 * 2048, 8 * 2048));
    d[478..494].copy_from_slice(&mbr_entry(false, 0x8E, 12 * 2048, 4 * 2048));
    d[440..444].copy_from_slice(&0xDEADBEEFu32.to_le_bytes());
    d[510] = 0x55;
    d[511] = 0xAA;
    // EBR 1 at 4 MiB: logical at +1 sector, next EBR at 4 MiB into the extended partition.
    let e1 = 4 * MIB;
    d[e1 + 446..e1 + 462].copy_from_slice(&mbr_entry(false, 0x83, 1, 2048 * 2));
    d[e1 + 462..e1 + 478].copy_from_slice(&mbr_entry(false, 0x05, 4 * 2048, 4 * 2048));
    d[e1 + 510] = 0x55;
    d[e1 + 511] = 0xAA;
    let e2 = 8 * MIB;
    d[e2 + 446..e2 + 462].copy_from_slice(&mbr_entry(false, 0x0C, 1, 2048 * 2));
    d[e2 + 510] = 0x55;
    d[e2 + 511] = 0xAA;
    d
}

pub fn crc32(b: &[u8]) -> u32 {
    let mut c = !0u32;
    for &x in b {
        c ^= x as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

pub const GPT_FS: [&str; 7] = ["XFS", "Btrfs", "LUKS2", "BitLocker", "exFAT", "ext3", "LVM2 PV"];

/// 16 MiB disk: protective MBR and a GPT with one 1 MiB partition per entry of [`GPT_FS`].
pub fn gpt_disk() -> Vec<u8> {
    let mut d = vec![0u8; 16 * MIB];
    let sectors = (d.len() / 512) as u64;
    d[446..462].copy_from_slice(&mbr_entry(false, 0xEE, 1, (sectors - 1) as u32));
    d[510] = 0x55;
    d[511] = 0xAA;
    let mut entries = vec![0u8; 128 * 128];
    for (i, fs) in GPT_FS.iter().enumerate() {
        let start = (i + 1) * MIB;
        put_fs(&mut d, start, fs);
        let e = &mut entries[128 * i..128 * (i + 1)];
        let ty = if *fs == "BitLocker" || *fs == "exFAT" {
            "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
        } else {
            "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
        };
        e[..16].copy_from_slice(&guid_bytes(ty));
        e[16..32].copy_from_slice(&guid_bytes(&format!("00000000-0000-0000-0000-0000000000{i:02}")));
        e[32..40].copy_from_slice(&((start / 512) as u64).to_le_bytes());
        e[40..48].copy_from_slice(&(((start + MIB) / 512 - 1) as u64).to_le_bytes());
        for (k, u) in format!("part-{fs}").encode_utf16().enumerate() {
            e[56 + 2 * k..58 + 2 * k].copy_from_slice(&u.to_le_bytes());
        }
    }
    d[1024..1024 + entries.len()].copy_from_slice(&entries);
    let mut h = [0u8; 92];
    h[..8].copy_from_slice(b"EFI PART");
    h[8..12].copy_from_slice(&0x10000u32.to_le_bytes());
    h[12..16].copy_from_slice(&92u32.to_le_bytes());
    h[24..32].copy_from_slice(&1u64.to_le_bytes());
    h[32..40].copy_from_slice(&(sectors - 1).to_le_bytes());
    h[40..48].copy_from_slice(&34u64.to_le_bytes());
    h[48..56].copy_from_slice(&(sectors - 34).to_le_bytes());
    h[56..72].copy_from_slice(&guid_bytes("01234567-89ab-cdef-0123-456789abcdef"));
    h[72..80].copy_from_slice(&2u64.to_le_bytes());
    h[80..84].copy_from_slice(&128u32.to_le_bytes());
    h[84..88].copy_from_slice(&128u32.to_le_bytes());
    h[88..92].copy_from_slice(&crc32(&entries).to_le_bytes());
    let c = crc32(&h);
    h[16..20].copy_from_slice(&c.to_le_bytes());
    d[512..604].copy_from_slice(&h);
    d
}
