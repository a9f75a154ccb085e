mod common;

use azir_disk::convert::{check_fixed_footer, convert, Target};
use azir_disk::{hash::hash, partitions::scan, DiskImage, Error, Format, OpenOptions};
use common::*;
use sha2::Digest;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::Command;

fn read_all(img: &mut DiskImage) -> Vec<u8> {
    let mut v = Vec::new();
    img.seek(SeekFrom::Start(0)).unwrap();
    img.read_to_end(&mut v).unwrap();
    v
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// 6 MiB with data in some 64 KiB runs and zeros elsewhere (so sparse formats skip blocks).
fn sample_disk() -> Vec<u8> {
    let mut d = vec![0u8; 6 * MIB];
    let p = pattern(d.len(), 3);
    for (i, c) in d.chunks_mut(64 * 1024).enumerate() {
        if (i < 16 && i % 5 == 0) || i == 40 || i == 90 {
            c.copy_from_slice(&p[i * 64 * 1024..(i + 1) * 64 * 1024]);
        }
    }
    d
}

#[test]
fn raw_mbr_partitions_extended_and_filesystems() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mbr.raw");
    write(&p, &mbr_disk());
    let mut img = DiskImage::open(&p).unwrap();
    assert_eq!(img.format(), Format::Raw);
    let t = scan(&mut img).unwrap();
    assert_eq!(t.scheme, "mbr");
    assert_eq!(t.mbr_signature.as_deref(), Some("deadbeef"));
    let got: Vec<(u32, u64, u64, Option<&str>)> =
        t.partitions.iter().map(|p| (p.number, p.start, p.size, p.filesystem.as_ref().map(|f| f.kind))).collect();
    assert_eq!(
        got,
        vec![
            (1, MIB as u64, 2 * MIB as u64, Some("NTFS")),
            (2, 4 * MIB as u64, 8 * MIB as u64, None),
            (5, 4 * MIB as u64 + 512, 2 * MIB as u64, Some("ext4")),
            (6, 8 * MIB as u64 + 512, 2 * MIB as u64, Some("FAT32")),
            (3, 12 * MIB as u64, 4 * MIB as u64, Some("LVM2 PV")),
        ]
    );
    assert!(t.partitions[0].bootable);
    assert_eq!(t.partitions[3].filesystem.as_ref().unwrap().label.as_deref(), Some("MYVOLUME"));
    assert_eq!(t.partitions[2].filesystem.as_ref().unwrap().label.as_deref(), Some("rootf"));
    assert!(t.checks.iter().all(|c| c.ok), "{:?}", t.checks);
}

#[test]
fn mbr_ebr_loop_is_reported_not_followed_forever() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = mbr_disk();
    // The second EBR points back at the first.
    let e2 = 8 * MIB;
    d[e2 + 462 + 4] = 0x05;
    // Next EBR = itself (4 MiB into the extended partition).
    d[e2 + 462 + 8..e2 + 462 + 12].copy_from_slice(&(4u32 * 2048).to_le_bytes());
    d[e2 + 462 + 12] = 1;
    let p = dir.path().join("loop.raw");
    write(&p, &d);
    let mut img = DiskImage::open(&p).unwrap();
    let t = scan(&mut img).unwrap();
    assert!(t.checks.iter().any(|c| !c.ok), "{:?}", t.checks);
    assert_eq!(t.partitions.iter().filter(|p| p.scheme == "mbr-logical").count(), 2);
}

#[test]
fn gpt_partitions_filesystems_and_crc() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("gpt.raw");
    let d = gpt_disk();
    write(&p, &d);
    let mut img = DiskImage::open(&p).unwrap();
    let t = scan(&mut img).unwrap();
    assert_eq!(t.scheme, "gpt");
    assert_eq!(t.disk_guid.as_deref(), Some("01234567-89ab-cdef-0123-456789abcdef"));
    assert!(t.checks.iter().all(|c| c.ok), "{:?}", t.checks);
    let kinds: Vec<&str> = t.partitions.iter().map(|p| p.filesystem.as_ref().map_or("-", |f| f.kind)).collect();
    assert_eq!(kinds, GPT_FS.to_vec());
    assert_eq!(t.partitions[0].name.as_deref(), Some("part-XFS"));
    assert_eq!(t.partitions[0].type_name, Some("Linux filesystem"));
    assert_eq!(t.partitions[3].type_name, Some("Microsoft basic data"));
    assert_eq!(t.partitions[1].start, 2 * MIB as u64);
    assert_eq!(t.partitions[1].size, MIB as u64);

    // A flipped byte in the header: reported with expected vs found.
    let mut bad = d.clone();
    bad[512 + 40] ^= 1;
    let p2 = dir.path().join("gpt-bad.raw");
    write(&p2, &bad);
    let t = scan(&mut DiskImage::open(&p2).unwrap()).unwrap();
    let c = t.checks.iter().find(|c| c.structure == "GPT header CRC-32").unwrap();
    assert!(!c.ok && c.expected != c.found);
    // Absurd entry count: refused, no panic, no huge allocation.
    let mut bad = d;
    bad[512 + 80..512 + 84].copy_from_slice(&u32::MAX.to_le_bytes());
    write(&p2, &bad);
    let t = scan(&mut DiskImage::open(&p2).unwrap()).unwrap();
    assert!(t.partitions.is_empty() && t.checks.iter().any(|c| !c.ok));
}

#[test]
fn hashes_match_independent_digests() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = pattern(9 * MIB + 12345, 9);
    d[MIB..2 * MIB].fill(0);
    let p = dir.path().join("h.raw");
    write(&p, &d);
    let mut img = DiskImage::open(&p).unwrap();
    let h = hash(&mut img, |_| {}).unwrap();
    assert_eq!(h.bytes, d.len() as u64);
    assert_eq!(h.sha256, hex(&sha2::Sha256::digest(&d)));
    assert_eq!(h.sha1, hex(&sha1::Sha1::digest(&d)));
    assert_eq!(h.md5, hex(&md5::Md5::digest(&d)));
    // Empty input: the digests of nothing.
    let e = dir.path().join("empty.raw");
    write(&e, &[]);
    let h = hash(&mut DiskImage::open(&e).unwrap(), |_| {}).unwrap();
    assert_eq!(h.md5, "d41d8cd98f00b204e9800998ecf8427e");
}

#[test]
fn raw_to_fixed_vhd_round_trip_and_azure_footer() {
    let dir = tempfile::tempdir().unwrap();
    let d = pattern(3 * MIB + 4096, 1); // not a MiB multiple: padded
    let p = dir.path().join("d.raw");
    write(&p, &d);
    let out = dir.path().join("d.vhd");
    let r = convert(&mut DiskImage::open(&p).unwrap(), Target::Vhd, &out, |_| {}).unwrap();
    assert_eq!(r.output_disk_size, 4 * MIB as u64);
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(bytes.len(), 4 * MIB + 512);
    let footer: [u8; 512] = bytes[4 * MIB..].try_into().unwrap();
    check_fixed_footer(&footer, bytes.len() as u64).unwrap();
    let mut img = DiskImage::open(&out).unwrap();
    assert_eq!(img.format(), Format::VhdFixed);
    assert!(img.info().checks.iter().all(|c| c.ok));
    let g = img.info().geometry.unwrap();
    assert_eq!(g, azir_disk::convert::chs_geometry(4 * MIB as u64));
    let back = read_all(&mut img);
    assert_eq!(&back[..d.len()], &d[..]);
    assert!(back[d.len()..].iter().all(|&b| b == 0));
    // Converting again refuses to overwrite.
    assert!(convert(&mut DiskImage::open(&p).unwrap(), Target::Vhd, &out, |_| {}).is_err());
    // A damaged footer checksum is reported (expected vs found), the data still readable.
    let mut bad = bytes.clone();
    bad[4 * MIB + 40] ^= 0x10;
    let pb = dir.path().join("bad.vhd");
    write(&pb, &bad);
    let img = DiskImage::open(&pb).unwrap();
    let c = &img.info().failed_checks()[0].clone();
    assert_eq!(c.structure, "VHD footer (end of file)");
    assert_ne!(c.expected, c.found);
}

#[test]
fn chs_geometry_matches_spec_examples() {
    use azir_disk::convert::chs_geometry;
    // 127 GiB-ish Azure disks hit the 255-sector branch; small disks the 17-sector one.
    let g = chs_geometry(40 * 1024 * MIB as u64);
    assert_eq!((g.heads, g.sectors_per_track), (16, 255));
    let g = chs_geometry(16 * MIB as u64);
    assert_eq!((g.cylinders, g.heads, g.sectors_per_track), (481, 4, 17));
    let g = chs_geometry(4 * 1024 * MIB as u64);
    assert_eq!((g.heads, g.sectors_per_track), (16, 63));
}

#[test]
fn dynamic_and_differencing_vhd_with_sector_bitmaps() {
    let dir = tempfile::tempdir().unwrap();
    let base = sample_disk();
    let present: Vec<bool> = base.chunks(512).map(|s| s.iter().any(|&b| b != 0)).collect();
    let pid = [7u8; 16];
    write(&dir.path().join("parent.vhd"), &dynamic_vhd(&base, &present, 512 * 1024, pid, None));
    let mut parent = DiskImage::open(dir.path().join("parent.vhd")).unwrap();
    assert_eq!(parent.format(), Format::VhdDynamic);
    assert!(parent.info().checks.iter().all(|c| c.ok), "{:?}", parent.info().checks);
    assert_eq!(read_all(&mut parent), base);
    assert!(parent.info().allocated_size < base.len() as u64);

    // Child: overwrite scattered single sectors (including in blocks the parent lacks).
    let mut child = base.clone();
    let mut cp = vec![false; present.len()];
    let over = pattern(512, 77);
    for s in [0usize, 3, 4, 1000, 1001, 1023, 1024, 5000, 12287] {
        child[s * 512..(s + 1) * 512].copy_from_slice(&over);
        cp[s] = true;
    }
    // A sector present in the child holding zeros must read as zeros, not the parent's data.
    child[640 * 512..641 * 512].fill(0);
    cp[640] = true;
    let abs = dir.path().join("parent.vhd");
    let vp = VhdParent { unique_id: pid, relative: r".\parent.vhd", absolute: &abs.to_string_lossy() };
    write(&dir.path().join("child.vhd"), &dynamic_vhd(&child, &cp, 512 * 1024, [8; 16], Some(&vp)));
    let mut img = DiskImage::open(dir.path().join("child.vhd")).unwrap();
    assert_eq!(img.format(), Format::VhdDifferencing);
    assert_eq!(img.info().parent_path.as_deref(), Some(dir.path().join("parent.vhd").as_path()));
    assert!(img.info().failed_checks().is_empty(), "{:?}", img.info().failed_checks());
    assert!(img.info().parent_locators.iter().any(|l| l.starts_with("W2ru: .\\parent.vhd")));
    assert_eq!(read_all(&mut img), child);
    // Unaligned reads across extents.
    let mut buf = vec![0u8; 3000];
    img.seek(SeekFrom::Start(1000 * 512 - 700)).unwrap();
    img.read_exact(&mut buf).unwrap();
    assert_eq!(buf, child[1000 * 512 - 700..1000 * 512 + 2300]);
    // Hash of the chain = hash of the flat disk.
    let h = hash(&mut img, |_| {}).unwrap();
    assert_eq!(h.sha256, hex(&sha2::Sha256::digest(&child)));
    // Convert to sparse raw: identical bytes, holes where zero.
    let out = dir.path().join("child.raw");
    let r = convert(&mut img, Target::Raw, &out, |_| {}).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), child);
    assert!(r.written < child.len() as u64);

    // Explicit parent path when the locators point nowhere.
    let sub = dir.path().join("moved");
    std::fs::create_dir(&sub).unwrap();
    std::fs::copy(dir.path().join("child.vhd"), sub.join("child.vhd")).unwrap();
    let vp2 = VhdParent { unique_id: pid, relative: r".\nowhere.vhd", absolute: r"C:\nowhere\nowhere.vhd" };
    write(&sub.join("orphan.vhd"), &dynamic_vhd(&child, &cp, 512 * 1024, [9; 16], Some(&vp2)));
    let e = DiskImage::open(sub.join("orphan.vhd")).unwrap_err();
    assert!(e.to_string().contains("no parent found"), "{e}");
    let opts = OpenOptions { parent: Some(dir.path().join("parent.vhd")), ..Default::default() };
    let mut img = DiskImage::open_with(sub.join("orphan.vhd"), &opts).unwrap();
    assert_eq!(read_all(&mut img), child);
    // Wrong parent: opened (as asked) but the broken link is reported.
    let other = dir.path().join("other.vhd");
    write(&other, &dynamic_vhd(&base, &present, 512 * 1024, [1; 16], None));
    let opts = OpenOptions { parent: Some(other), ..Default::default() };
    let img = DiskImage::open_with(sub.join("orphan.vhd"), &opts).unwrap();
    assert!(img.info().failed_checks().iter().any(|c| c.structure == "parent link"));
}

#[test]
fn vhd_parent_loop_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = vec![0u8; MIB];
    let present = vec![false; d.len() / 512];
    // a -> b -> a
    let va = VhdParent { unique_id: [2; 16], relative: r".\b.vhd", absolute: "" };
    let vb = VhdParent { unique_id: [1; 16], relative: r".\a.vhd", absolute: "" };
    write(&dir.path().join("a.vhd"), &dynamic_vhd(&d, &present, 512 * 1024, [1; 16], Some(&va)));
    write(&dir.path().join("b.vhd"), &dynamic_vhd(&d, &present, 512 * 1024, [2; 16], Some(&vb)));
    let e = DiskImage::open(dir.path().join("a.vhd")).unwrap_err();
    assert!(e.to_string().contains("loop"), "{e}");
}

#[test]
fn hostile_vhd_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let base = sample_disk();
    let present: Vec<bool> = base.chunks(512).map(|s| s.iter().any(|&b| b != 0)).collect();
    let good = dynamic_vhd(&base, &present, 512 * 1024, [3; 16], None);
    let p = dir.path().join("h.vhd");
    let fix_header = |v: &mut Vec<u8>| {
        v[512 + 36..512 + 40].fill(0);
        let c = vhd_checksum(&v[512..1536], 36);
        v[512 + 36..512 + 40].copy_from_slice(&c.to_be_bytes());
    };
    // BAT entry pointing past EOF.
    let mut v = good.clone();
    v[1536..1540].copy_from_slice(&0x7FFF_FFF0u32.to_be_bytes());
    write(&p, &v);
    let e = DiskImage::open(&p).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)) && e.to_string().contains("BAT entry 0"), "{e}");
    // Absurd block size; absurd BAT offset; too few BAT entries.
    for (at, val) in [(32usize, 0xFFFF_FFFFu32), (32, 1000), (16, 0xFFFF_FFFF), (28, 1)] {
        let mut v = good.clone();
        v[512 + at..512 + at + 4].copy_from_slice(&val.to_be_bytes());
        fix_header(&mut v);
        write(&p, &v);
        let e = DiskImage::open(&p).unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e}");
    }
    // Absurd data offset in the end footer: its checksum fails, the copy at 0 is used.
    let mut v = good.clone();
    let n = v.len();
    v[n - 512 + 16..n - 512 + 24].copy_from_slice(&u64::MAX.wrapping_sub(10).to_be_bytes());
    write(&p, &v);
    let mut img = DiskImage::open(&p).unwrap();
    assert_eq!(img.info().failed_checks()[0].note.as_deref(), Some("using the intact footer copy at offset 0"));
    assert_eq!(read_all(&mut img), base);
    // In both copies: an error.
    v[16..24].copy_from_slice(&u64::MAX.wrapping_sub(10).to_be_bytes());
    write(&p, &v);
    assert!(matches!(DiskImage::open(&p).unwrap_err(), Error::Invalid(_)));
    // Bad dynamic-header checksum: reported precisely, image still read.
    let mut v = good.clone();
    v[512 + 100] ^= 1;
    write(&p, &v);
    let mut img = DiskImage::open(&p).unwrap();
    let f = img.info().failed_checks();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].structure, "VHD dynamic header");
    assert_eq!(read_all(&mut img), base);
    // Truncated file: the end footer is gone, the copy at 0 is used; blocks past EOF fail.
    write(&p, &good[..good.len() - 512 - 100_000]);
    let e = DiskImage::open(&p).unwrap_err();
    assert!(e.to_string().contains("past the end"), "{e}");
    // Truncated fixed VHD.
    let mut fixed = base.clone();
    fixed.extend_from_slice(&azir_disk::convert::fixed_footer(base.len() as u64, [0; 16], 0));
    fixed.drain(..4096);
    write(&p, &fixed);
    assert!(DiskImage::open(&p).unwrap_err().to_string().contains("truncated"));
    // Random garbage behind a valid cookie never panics.
    for seed in 0..64u8 {
        let mut v = good.clone();
        let g = pattern(2048, seed);
        let at = (seed as usize * 37) % 1500;
        v[at..at + 64].copy_from_slice(&g[..64]);
        v[..8].copy_from_slice(b"conectix");
        let n = v.len();
        v[n - 512 + 16..n - 512 + 24].copy_from_slice(&512u64.to_be_bytes());
        write(&p, &v);
        if let Ok(mut img) = DiskImage::open(&p) {
            let mut b = vec![0u8; 1 << 20];
            let _ = img.read(&mut b);
        }
    }
}

#[test]
fn vhdx_fixed_dynamic_differencing() {
    let dir = tempfile::tempdir().unwrap();
    let base = sample_disk();
    let present: Vec<bool> = base.chunks(512).map(|s| s.iter().any(|&b| b != 0)).collect();
    write(&dir.path().join("fixed.vhdx"), &vhdx(&base, &present, true, None, None));
    write(&dir.path().join("parent.vhdx"), &vhdx(&base, &present, false, None, None));
    let mut f = DiskImage::open(dir.path().join("fixed.vhdx")).unwrap();
    assert_eq!(f.format(), Format::VhdxFixed);
    assert!(f.info().checks.iter().all(|c| c.ok), "{:?}", f.info().checks);
    assert_eq!(f.info().disk_id.as_deref(), Some("abcdef01-2345-6789-abcd-ef0123456789"));
    assert_eq!(read_all(&mut f), base);
    let mut d = DiskImage::open(dir.path().join("parent.vhdx")).unwrap();
    assert_eq!(d.format(), Format::VhdxDynamic);
    assert_eq!(read_all(&mut d), base);
    assert!(d.info().allocated_size < base.len() as u64);

    let mut child = base.clone();
    let mut cp = vec![false; present.len()];
    let over = pattern(512, 5);
    for s in [1usize, 2, 2047, 2048, 4000, 6000] {
        child[s * 512..(s + 1) * 512].copy_from_slice(&over);
        cp[s] = true;
    }
    // One whole block present in the child (FULLY_PRESENT).
    for s in 4096..6144 {
        cp[s] = true;
        child[s * 512..(s + 1) * 512].copy_from_slice(&over);
    }
    let vp = VhdxParent { linkage: &format!("{{{}}}", DATA_WRITE_GUID.to_uppercase()), relative: r".\parent.vhdx" };
    write(&dir.path().join("child.vhdx"), &vhdx(&child, &cp, false, Some(&vp), None));
    let mut c = DiskImage::open(dir.path().join("child.vhdx")).unwrap();
    assert_eq!(c.format(), Format::VhdxDifferencing);
    assert!(c.info().failed_checks().is_empty(), "{:?}", c.info().failed_checks());
    assert_eq!(read_all(&mut c), child);
}

#[test]
fn vhdx_corruption_and_log_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let base = sample_disk();
    let present: Vec<bool> = base.chunks(512).map(|s| s.iter().any(|&b| b != 0)).collect();
    let good = vhdx(&base, &present, false, None, None);
    let p = dir.path().join("x.vhdx");
    // Header 2 (highest sequence) corrupt: reported, header 1 used.
    let mut v = good.clone();
    v[128 * 1024 + 200] ^= 1;
    write(&p, &v);
    let mut img = DiskImage::open(&p).unwrap();
    let f = img.info().failed_checks();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].structure, "VHDX header 2");
    assert!(f[0].expected.is_some() && f[0].expected != f[0].found);
    assert_eq!(read_all(&mut img), base);
    // Both headers corrupt: error.
    v[64 * 1024 + 200] ^= 1;
    write(&p, &v);
    assert!(DiskImage::open(&p).unwrap_err().to_string().contains("neither VHDX header"));
    // Both region tables corrupt: error.
    let mut v = good.clone();
    v[192 * 1024 + 20] ^= 1;
    v[256 * 1024 + 20] ^= 1;
    write(&p, &v);
    assert!(DiskImage::open(&p).unwrap_err().to_string().contains("region table"));
    // A log to replay: refused with the reason.
    write(&p, &vhdx(&base, &present, false, None, Some([0xAB; 16])));
    let e = DiskImage::open(&p).unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)) && e.to_string().contains("log must be replayed"), "{e}");
    // BAT entries past EOF / invalid state: errors.
    for entry in [(1u64 << 40) | 6, (5u64 << 20) | 4, (1u64 << 20) | 7] {
        let mut v = good.clone();
        v[2 * MIB..2 * MIB + 8].copy_from_slice(&entry.to_le_bytes());
        write(&p, &v);
        assert!(matches!(DiskImage::open(&p).unwrap_err(), Error::Invalid(_)));
    }
    // Truncated.
    write(&p, &good[..good.len() - 1000]);
    assert!(DiskImage::open(&p).is_err());
    write(&p, &good[..300 * 1024]);
    assert!(DiskImage::open(&p).is_err());
}

fn qemu() -> bool {
    let ok = Command::new("qemu-img").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("NOTICE: qemu-img not found; skipping the qemu-img cross-checks");
    }
    ok
}

fn qemu_img(args: &[&str]) {
    let o = Command::new("qemu-img").args(args).output().unwrap();
    assert!(o.status.success(), "qemu-img {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn qemu_img_images_read_back_identical() {
    if !qemu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut d = mbr_disk();
    d.extend_from_slice(&sample_disk());
    // Zeros across whole blocks (qemu's VHDX blocks are up to 32 MiB), then data in a last
    // partial MiB.
    d.resize(96 * MIB, 0);
    d.extend_from_slice(&pattern(3 * 4096, 2));
    let raw = dir.path().join("src.raw");
    write(&raw, &d);
    let cases = [
        ("vpc", "subformat=fixed,force_size=on", Format::VhdFixed),
        ("vpc", "subformat=dynamic,force_size=on", Format::VhdDynamic),
        ("vhdx", "subformat=dynamic", Format::VhdxDynamic),
        ("vhdx", "subformat=fixed", Format::VhdxFixed),
        ("vhdx", "subformat=dynamic,block_size=8M", Format::VhdxDynamic),
    ];
    let want_sha = hex(&sha2::Sha256::digest(&d));
    for (i, (fmt, opts, want)) in cases.iter().enumerate() {
        let img_path = dir.path().join(format!("img{i}.{fmt}"));
        qemu_img(&["convert", "-f", "raw", "-O", fmt, "-o", opts, s(&raw), s(&img_path)]);
        let mut img = DiskImage::open(&img_path).unwrap();
        assert_eq!(img.format(), *want, "{fmt} {opts}");
        assert!(img.info().failed_checks().is_empty(), "{fmt} {opts}: {:?}", img.info().failed_checks());
        assert_eq!(img.virtual_size(), d.len() as u64, "{fmt} {opts}");
        assert!(read_all(&mut img) == d, "{fmt} {opts}: bytes differ");
        assert_eq!(hash(&mut img, |_| {}).unwrap().sha256, want_sha);
        // azir convert --to raw == qemu-img convert -O raw.
        let ours = dir.path().join(format!("ours{i}.raw"));
        let theirs = dir.path().join(format!("theirs{i}.raw"));
        convert(&mut img, Target::Raw, &ours, |_| {}).unwrap();
        qemu_img(&["convert", "-f", fmt, "-O", "raw", s(&img_path), s(&theirs)]);
        assert!(
            std::fs::read(&ours).unwrap() == std::fs::read(&theirs).unwrap(),
            "{fmt} {opts}: raw differs from qemu-img's"
        );
        let t = scan(&mut img).unwrap();
        assert_eq!(t.partitions.len(), 5);
    }
    // Our fixed VHD, read by qemu-img: identical to the source (padding is zeros).
    let vhd = dir.path().join("ours.vhd");
    convert(&mut DiskImage::open(&raw).unwrap(), Target::Vhd, &vhd, |_| {}).unwrap();
    qemu_img(&["compare", "-f", "vpc", "-F", "raw", s(&vhd), s(&raw)]);
    // qemu reads the current size (not CHS) of a footer whose creator is not Virtual PC/qemu.
    let o = Command::new("qemu-img").args(["info", "-f", "vpc", "--output=json", s(&vhd)]).output().unwrap();
    let info = String::from_utf8_lossy(&o.stdout);
    assert!(info.contains(&format!("\"virtual-size\": {}", 97 * MIB)), "{info}");
}

#[test]
fn hostile_partition_tables_and_vhdx_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.raw");
    let gpt = gpt_disk();
    let mbr = mbr_disk();
    for seed in 0..48u8 {
        // Garbage over the tables, partitions pointing at the last bytes of short disks.
        let base = if seed % 2 == 0 { &gpt } else { &mbr };
        let len = [600usize, 1500, 5000, 70_000, base.len()][seed as usize % 5];
        let mut d = base[..len].to_vec();
        let g = pattern(256, seed);
        let at = [446usize, 512 + 72, 1024, 4 * MIB + 446][seed as usize % 4];
        if at + 64 <= d.len() {
            d[at..at + 64].copy_from_slice(&g[..64]);
        }
        write(&p, &d);
        let _ = scan(&mut DiskImage::open(&p).unwrap());
    }
    let base = sample_disk();
    let present: Vec<bool> = base.chunks(512).map(|s| s.iter().any(|&b| b != 0)).collect();
    let good = vhdx(&base, &present, false, None, None);
    let px = dir.path().join("h.vhdx");
    for seed in 0..64u8 {
        let mut v = good.clone();
        let g = pattern(64, seed);
        // Metadata table/items and BAT, where no checksum protects the fields.
        let at = [MIB + 32, MIB + 64 * 1024, 2 * MIB, MIB + 10][seed as usize % 4] + seed as usize % 7;
        v[at..at + 16].copy_from_slice(&g[..16]);
        write(&px, &v);
        if let Ok(mut img) = DiskImage::open(&px) {
            let mut b = vec![0u8; 2 * MIB];
            let _ = img.read(&mut b);
            let _ = scan(&mut img);
        }
    }
}
