//! `azir-disk`: read virtual disks without mounting them.
//!
//! [`DiskImage`] is a `Read + Seek` over the *virtual* disk of a raw image, a VHD (fixed,
//! dynamic, differencing) or a VHDX (fixed, dynamic, differencing). On top of it:
//! [`partitions`] (MBR/GPT and filesystem identification by magic), [`hash`] (MD5, SHA-1 and
//! SHA-256 in one read) and [`convert`] (sparse raw, or a fixed VHD that Azure accepts).
//!
//! Images are hostile input: every offset and size read from an image is bounds-checked
//! against the file before use, parent chains are limited in depth and checked for loops,
//! and a malformed image is an [`Error`], never a panic. Checksums (VHD one's complement,
//! VHDX CRC-32C via the `crc32c` crate, which uses the SSE4.2/ARM CRC instructions) are
//! verified when the image is opened; each result is kept in [`ImageInfo::checks`] so that
//! `info` can report which structure is damaged, with the expected and the found value. A bad
//! checksum on a structure that has an intact copy (VHD footer copy, second VHDX header or
//! region table) is reported and the copy is used; when no intact copy exists the image is
//! still opened if its fields are otherwise consistent, and the failed check says so.

pub mod acquire;
pub mod convert;
pub mod hash;
pub mod partitions;
mod vhd;
mod vhdx;

use serde::Serialize;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Why an image could not be opened or read.
#[derive(Debug)]
pub enum Error {
    /// The file could not be read.
    Io(io::Error),
    /// The image is malformed: a structure is missing, inconsistent or points outside the file.
    Invalid(String),
    /// The image is well-formed but uses something this reader refuses to interpret.
    Unsupported(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(e) => write!(f, "{e}"),
            Error::Invalid(m) => write!(f, "invalid image: {m}"),
            Error::Unsupported(m) => write!(f, "unsupported image: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn invalid<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error::Invalid(msg.into()))
}

/// The container format of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Raw,
    VhdFixed,
    VhdDynamic,
    VhdDifferencing,
    VhdxFixed,
    VhdxDynamic,
    VhdxDifferencing,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::VhdFixed => "VHD fixed",
            Format::VhdDynamic => "VHD dynamic",
            Format::VhdDifferencing => "VHD differencing",
            Format::VhdxFixed => "VHDX fixed",
            Format::VhdxDynamic => "VHDX dynamic",
            Format::VhdxDifferencing => "VHDX differencing",
        }
    }
}

/// The result of one integrity check made when the image was opened.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The structure checked, e.g. "VHD footer (end of file)" or "VHDX header 2".
    pub structure: String,
    pub ok: bool,
    /// What the structure should hold (e.g. the computed checksum), when applicable.
    pub expected: Option<String>,
    /// What the image holds.
    pub found: Option<String>,
    /// A note: what was done about a failure.
    pub note: Option<String>,
}

impl Check {
    pub(crate) fn sum(structure: &str, expected: u32, found: u32, note_if_bad: &str) -> Check {
        let ok = expected == found;
        Check {
            structure: structure.to_string(),
            ok,
            expected: Some(format!("{expected:#010x}")),
            found: Some(format!("{found:#010x}")),
            note: (!ok).then(|| note_if_bad.to_string()),
        }
    }
    pub(crate) fn note(structure: &str, ok: bool, note: impl Into<String>) -> Check {
        Check { structure: structure.to_string(), ok, expected: None, found: None, note: Some(note.into()) }
    }
}

/// Cylinders/heads/sectors-per-track as recorded in a VHD footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Geometry {
    pub cylinders: u16,
    pub heads: u8,
    pub sectors_per_track: u8,
}

/// What `azir disk info` shows.
#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    pub path: PathBuf,
    pub format: Format,
    pub virtual_size: u64,
    pub file_size: u64,
    /// Bytes of virtual disk stored in this file (allocated blocks; the whole disk for fixed/raw).
    pub allocated_size: u64,
    pub block_size: Option<u64>,
    pub logical_sector_size: u32,
    pub physical_sector_size: Option<u32>,
    pub geometry: Option<Geometry>,
    /// VHD unique id or VHDX virtual disk id.
    pub disk_id: Option<String>,
    /// VHDX data-write GUID (what a child's parent_linkage names).
    pub data_write_guid: Option<String>,
    pub creator: Option<String>,
    /// VHD timestamp (UTC, ISO 8601).
    pub timestamp: Option<String>,
    /// Parent id recorded in a differencing image (VHD parent unique id, VHDX parent_linkage).
    pub parent_id: Option<String>,
    /// Parent locations recorded in the image, as written.
    pub parent_locators: Vec<String>,
    /// The parent file actually opened.
    pub parent_path: Option<PathBuf>,
    pub parent: Option<Box<ImageInfo>>,
    pub checks: Vec<Check>,
}

impl ImageInfo {
    /// Every failed check of this image and its parents.
    pub fn failed_checks(&self) -> Vec<&Check> {
        let mut v: Vec<&Check> = self.checks.iter().filter(|c| !c.ok).collect();
        if let Some(p) = &self.parent {
            v.extend(p.failed_checks());
        }
        v
    }
}

/// Options for [`DiskImage::open_with`].
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Parent of a differencing image, instead of the locators recorded in it.
    pub parent: Option<PathBuf>,
    /// Treat the file as raw without looking for VHD/VHDX structures.
    pub force_raw: bool,
}

/// Where a run of virtual bytes comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extent {
    /// Stored in the image file at this offset.
    File(u64),
    /// Reads as zeros.
    Zero,
    /// Comes from the parent at the same virtual offset.
    Parent,
}

pub(crate) enum Layout {
    /// Virtual byte N is file byte N (raw, VHD fixed).
    Flat,
    Vhd(vhd::Dynamic),
    Vhdx(vhdx::Vhdx),
}

/// Maximum depth of a differencing chain.
pub const MAX_CHAIN: usize = 32;

/// A virtual disk, readable and seekable as one flat run of `virtual_size` bytes.
pub struct DiskImage {
    file: File,
    file_len: u64,
    layout: Layout,
    parent: Option<Box<DiskImage>>,
    info: ImageInfo,
    pos: u64,
}

impl std::fmt::Debug for DiskImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskImage").field("info", &self.info).field("pos", &self.pos).finish()
    }
}

impl DiskImage {
    /// Open an image, detecting its format from its content.
    pub fn open(path: impl AsRef<Path>) -> Result<DiskImage> {
        Self::open_with(path, &OpenOptions::default())
    }

    pub fn open_with(path: impl AsRef<Path>, opts: &OpenOptions) -> Result<DiskImage> {
        Self::open_chain(path.as_ref(), opts.parent.as_deref(), opts.force_raw, &mut Vec::new())
    }

    fn open_chain(path: &Path, parent: Option<&Path>, force_raw: bool, chain: &mut Vec<PathBuf>) -> Result<DiskImage> {
        let canon = std::fs::canonicalize(path).map_err(|e| io_ctx(e, path))?;
        if chain.contains(&canon) {
            return invalid(format!("loop in the differencing chain: {} is its own ancestor", path.display()));
        }
        if chain.len() >= MAX_CHAIN {
            return invalid(format!("differencing chain deeper than {MAX_CHAIN} images at {}", path.display()));
        }
        chain.push(canon);
        let mut file = File::open(path).map_err(|e| io_ctx(e, path))?;
        let file_len = file.metadata()?.len();
        let mut img = if force_raw { raw(path, file, file_len) } else { detect(path, &mut file, file_len)? };
        if img.1.parent_path.is_some() || img.1.parent_id.is_some() || needs_parent(&img.1) {
            let ppath = match parent {
                Some(p) => p.to_path_buf(),
                None => match &img.1.parent_path {
                    Some(p) => p.clone(),
                    None => {
                        return invalid(format!(
                            "{}: differencing image, and no parent found from its locators ({}); pass the parent explicitly",
                            path.display(),
                            if img.1.parent_locators.is_empty() { "none recorded".to_string() } else { img.1.parent_locators.join(", ") }
                        ))
                    }
                },
            };
            let p = Self::open_chain(&ppath, None, false, chain)?;
            img.1.parent_path = Some(ppath);
            check_parent_link(&mut img.1, &p.info);
            img.1.parent = Some(Box::new(p.info.clone()));
            let (file, info, layout, file_len) = (img.0, img.1, img.2, file_len);
            return Ok(DiskImage { file, file_len, layout, parent: Some(Box::new(p)), info, pos: 0 });
        }
        Ok(DiskImage { file: img.0, file_len, layout: img.2, parent: None, info: img.1, pos: 0 })
    }

    pub fn info(&self) -> &ImageInfo {
        &self.info
    }

    pub fn virtual_size(&self) -> u64 {
        self.info.virtual_size
    }

    pub fn format(&self) -> Format {
        self.info.format
    }

    /// Whether the run starting at `off` is known to read as zeros without reading data, and
    /// how long that run is (at most `max`). Used to write sparse output.
    pub fn known_zero(&mut self, off: u64, max: u64) -> Result<Option<u64>> {
        if off >= self.info.virtual_size {
            return Ok(None);
        }
        let (ext, len) = self.extent(off)?;
        let len = len.min(max).min(self.info.virtual_size - off);
        match ext {
            Extent::Zero => Ok(Some(len)),
            Extent::Parent => match &mut self.parent {
                Some(p) if off >= p.virtual_size() => Ok(Some(len)),
                Some(p) => Ok(p.known_zero(off, len)?),
                None => Ok(Some(len)),
            },
            Extent::File(_) => Ok(None),
        }
    }

    fn extent(&mut self, off: u64) -> Result<(Extent, u64)> {
        let remaining = self.info.virtual_size - off;
        let (e, l) = match &mut self.layout {
            Layout::Flat => (Extent::File(off), remaining),
            Layout::Vhd(d) => d.extent(&mut self.file, self.file_len, off)?,
            Layout::Vhdx(v) => v.extent(&mut self.file, self.file_len, off)?,
        };
        Ok((e, l.min(remaining).max(1)))
    }

    /// Read virtual bytes at `off` into `buf`; short only at the end of the disk.
    pub fn read_at(&mut self, off: u64, buf: &mut [u8]) -> Result<usize> {
        if off >= self.info.virtual_size {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(self.info.virtual_size - off) as usize;
        let mut done = 0;
        while done < want {
            let cur = off + done as u64;
            let (ext, len) = self.extent(cur)?;
            let n = (len.min((want - done) as u64)) as usize;
            let dst = &mut buf[done..done + n];
            match ext {
                Extent::Zero => dst.fill(0),
                Extent::File(fo) => {
                    // Flat images (raw, fixed VHD) are checked at open to hold the whole disk.
                    if fo.checked_add(n as u64).is_none_or(|end| end > self.file_len) {
                        return invalid(format!(
                            "{}: virtual offset {cur} maps to file offset {fo}+{n}, past the end of the file ({} bytes)",
                            self.info.path.display(),
                            self.file_len
                        ));
                    }
                    self.file.seek(SeekFrom::Start(fo))?;
                    self.file.read_exact(dst)?;
                }
                Extent::Parent => match &mut self.parent {
                    Some(p) => {
                        let got = p.read_at(cur, dst)?;
                        dst[got..].fill(0);
                    }
                    None => dst.fill(0),
                },
            }
            done += n;
        }
        Ok(want)
    }
}

fn io_ctx(e: io::Error, path: &Path) -> Error {
    Error::Io(io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

fn needs_parent(info: &ImageInfo) -> bool {
    matches!(info.format, Format::VhdDifferencing | Format::VhdxDifferencing)
}

fn check_parent_link(child: &mut ImageInfo, parent: &ImageInfo) {
    let Some(want) = &child.parent_id else { return };
    let have = match child.format {
        Format::VhdxDifferencing => parent.data_write_guid.as_ref(),
        _ => parent.disk_id.as_ref(),
    };
    let ok = have.is_some_and(|h| h.eq_ignore_ascii_case(want.trim_matches(|c| c == '{' || c == '}')));
    child.checks.push(Check {
        structure: "parent link".into(),
        ok,
        expected: Some(want.clone()),
        found: have.cloned(),
        note: (!ok)
            .then(|| "the parent opened is not the one this image was created from (or it was modified since)".into()),
    });
}

type Opened = (File, ImageInfo, Layout);

fn base_info(path: &Path, format: Format, size: u64, file_len: u64) -> ImageInfo {
    ImageInfo {
        path: path.to_path_buf(),
        format,
        virtual_size: size,
        file_size: file_len,
        allocated_size: size,
        block_size: None,
        logical_sector_size: 512,
        physical_sector_size: None,
        geometry: None,
        disk_id: None,
        data_write_guid: None,
        creator: None,
        timestamp: None,
        parent_id: None,
        parent_locators: Vec::new(),
        parent_path: None,
        parent: None,
        checks: Vec::new(),
    }
}

fn raw(path: &Path, file: File, file_len: u64) -> Opened {
    (file, base_info(path, Format::Raw, file_len, file_len), Layout::Flat)
}

fn detect(path: &Path, file: &mut File, file_len: u64) -> Result<Opened> {
    let mut head = [0u8; 8];
    let got = read_full_at(file, 0, &mut head)?;
    if got == 8 && &head == b"vhdxfile" {
        return vhdx::open(path, file.try_clone()?, file_len);
    }
    if file_len >= 512 {
        let mut tail = [0u8; 512];
        read_full_at(file, file_len - 512, &mut tail)?;
        if &tail[..8] == b"conectix" || (got == 8 && &head == b"conectix") {
            return vhd::open(path, file.try_clone()?, file_len);
        }
    }
    Ok(raw(path, file.try_clone()?, file_len))
}

/// Read as much of `buf` as the file holds at `off`; returns the count.
pub(crate) fn read_full_at(file: &mut File, off: u64, buf: &mut [u8]) -> io::Result<usize> {
    file.seek(SeekFrom::Start(off))?;
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Read exactly `len` bytes at `off`, which must lie inside a file of `file_len` bytes.
pub(crate) fn read_struct(file: &mut File, file_len: u64, off: u64, len: usize, what: &str) -> Result<Vec<u8>> {
    if off.checked_add(len as u64).is_none_or(|e| e > file_len) {
        return invalid(format!(
            "{what} at offset {off} (+{len} bytes) lies past the end of the file ({file_len} bytes)"
        ));
    }
    let mut v = vec![0u8; len];
    file.seek(SeekFrom::Start(off))?;
    file.read_exact(&mut v)?;
    Ok(v)
}

impl Read for DiskImage {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.read_at(self.pos, buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for DiskImage {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.info.virtual_size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the disk")),
        }
    }
}

/// Format a GUID stored in Microsoft mixed-endian form (VHDX, GPT).
pub fn guid_le(b: &[u8]) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_le_bytes([b[4], b[5]]),
        u16::from_le_bytes([b[6], b[7]]),
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

/// Format a GUID stored big-endian (VHD unique ids).
pub fn guid_be(b: &[u8]) -> String {
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    )
}

pub(crate) fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes(b[o..o + 4].try_into().unwrap())
}
pub(crate) fn be64(b: &[u8], o: usize) -> u64 {
    u64::from_be_bytes(b[o..o + 8].try_into().unwrap())
}
pub(crate) fn le16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(b[o..o + 2].try_into().unwrap())
}
pub(crate) fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
pub(crate) fn le64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

/// Decode UTF-16 code units, stopping at the first NUL.
pub(crate) fn utf16(units: impl Iterator<Item = u16>) -> String {
    let v: Vec<u16> = units.take_while(|&u| u != 0).collect();
    String::from_utf16_lossy(&v)
}

/// Resolve a Windows path recorded in an image (relative to the image's directory if
/// relative) to a local path; `None` if it names something not reachable from here.
pub(crate) fn resolve_windows_path(image: &Path, recorded: &str) -> Option<PathBuf> {
    let s = recorded.trim().trim_start_matches(r"\\?\");
    if s.is_empty() {
        return None;
    }
    let dir = image.parent().unwrap_or(Path::new("."));
    let is_abs = s.len() >= 2 && s.as_bytes()[1] == b':' || s.starts_with('\\') || s.starts_with('/');
    let unix: String = s.replace('\\', "/");
    if s.starts_with('/') && Path::new(s).is_file() {
        return Some(PathBuf::from(s));
    }
    if is_abs {
        // A drive path (C:\...) cannot be followed here; try the file name beside the image.
        let name = unix.rsplit('/').next()?;
        let p = dir.join(name);
        return p.exists().then_some(p);
    }
    let p = dir.join(unix.trim_start_matches("./"));
    p.exists().then_some(p)
}
