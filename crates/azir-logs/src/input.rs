//! Evidence on disk: walking folders, hashing files, and opening the byte streams inside them
//! (plain files, gzip, zip members) behind limits that stop decompression bombs.
//!
//! Evidence is opened read-only and never modified. Archives are read in place, never extracted:
//! a member named `../../etc/passwd` cannot write anywhere, but it is still refused and reported,
//! because its name would mislead whoever reads the provenance.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Limits applied while reading evidence.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest decompressed/compressed ratio accepted for gzip and zip members.
    pub max_ratio: u64,
    /// Decompressed output below this many bytes is never called a bomb, whatever the ratio.
    pub ratio_floor: u64,
    /// Largest decompressed stream accepted, in bytes.
    pub max_stream: u64,
    /// Largest single record, in bytes.
    pub max_record: usize,
    /// Most members read from one zip archive.
    pub max_zip_members: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Azure JSON compresses 10–40:1; bombs are 1000:1 and more.
            max_ratio: 200,
            ratio_floor: 64 * 1024 * 1024,
            max_stream: 1 << 40,
            max_record: crate::split::DEFAULT_MAX_RECORD,
            max_zip_members: 100_000,
        }
    }
}

/// A problem with one input path, reported and counted, never fatal to the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// Display path of the file or member.
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

/// Lists the files under `paths` (files as given; folders walked recursively, sorted, without
/// following symlinked folders). Unreadable entries are returned as errors.
pub fn discover(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<InputError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_file() => files.push(p.clone()),
            Ok(m) if m.is_dir() => {
                for entry in walkdir::WalkDir::new(p).sort_by_file_name() {
                    match entry {
                        Ok(e) if e.file_type().is_file() => files.push(e.into_path()),
                        Ok(e) if e.file_type().is_symlink() => {
                            if std::fs::metadata(e.path()).map(|m| m.is_file()).unwrap_or(false) {
                                files.push(e.into_path());
                            }
                        }
                        Ok(_) => {}
                        Err(err) => errors.push(InputError {
                            path: err.path().map(|p| p.display().to_string()).unwrap_or_default(),
                            reason: err.to_string(),
                        }),
                    }
                }
            }
            Ok(_) => {
                errors.push(InputError { path: p.display().to_string(), reason: "not a regular file or folder".into() })
            }
            Err(e) => errors.push(InputError { path: p.display().to_string(), reason: e.to_string() }),
        }
    }
    (files, errors)
}

/// SHA-256 (lower-case hex) and size of a file, read in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n_total = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        n_total += n as u64;
    }
    Ok((hex(&h.finalize()), n_total))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(D[(b >> 4) as usize] as char);
        s.push(D[(b & 15) as usize] as char);
    }
    s
}

/// How a file is packaged, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packaging {
    /// Uncompressed.
    Plain,
    /// gzip (`1f 8b`).
    Gzip,
    /// zip (`PK\x03\x04`, or an empty archive `PK\x05\x06`).
    Zip,
}

fn sniff(head: &[u8]) -> Packaging {
    if head.starts_with(&[0x1f, 0x8b]) {
        Packaging::Gzip
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Packaging::Zip
    } else {
        Packaging::Plain
    }
}

/// Packaging of a file on disk.
pub fn packaging(path: &Path) -> io::Result<Packaging> {
    let mut f = File::open(path)?;
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(sniff(&head[..n]))
}

/// Caps decompressed output: fails the read once output exceeds the ratio or size limits.
pub struct BombGuard<R> {
    inner: R,
    produced: u64,
    allowed: u64,
    compressed: u64,
    max_ratio: u64,
}

impl<R: Read> BombGuard<R> {
    /// Guards `inner`, whose compressed size is `compressed` bytes.
    pub fn new(inner: R, compressed: u64, limits: &Limits) -> Self {
        let by_ratio = compressed.saturating_mul(limits.max_ratio).max(limits.ratio_floor);
        BombGuard {
            inner,
            produced: 0,
            allowed: by_ratio.min(limits.max_stream),
            compressed,
            max_ratio: limits.max_ratio,
        }
    }
}

impl<R: Read> Read for BombGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.produced += n as u64;
        if self.produced > self.allowed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "decompression stopped after {} bytes from {} compressed bytes: over the {}:1 ratio or size limit (possible decompression bomb)",
                    self.produced, self.compressed, self.max_ratio
                ),
            ));
        }
        Ok(n)
    }
}

/// One byte stream to read records from: a plain file, a decompressed gzip, or a zip member.
pub struct Stream<'a> {
    /// Member name inside an archive, if any.
    pub member: Option<String>,
    /// Display path (`archive.zip!member`).
    pub display: String,
    /// Compressed size of the stream's source, for progress.
    pub stored_size: u64,
    /// The stream is decompressed (gzip or a deflated member): its offsets are not stored bytes.
    pub compressed: bool,
    /// The decompressed bytes.
    pub reader: Box<dyn BufRead + 'a>,
}

const BUF: usize = 256 * 1024;

/// Opens every stream in the file at `path` and hands each to `f`. Archive members that cannot
/// be read (unsafe names, nested archives, encryption) are returned as errors; the others are
/// still read. An error from `f` stops the file and is returned as the last element.
pub fn for_each_stream(
    path: &Path,
    display: &str,
    limits: &Limits,
    f: &mut dyn FnMut(Stream<'_>) -> io::Result<()>,
) -> io::Result<Vec<InputError>> {
    let size = std::fs::metadata(path)?.len();
    match packaging(path)? {
        Packaging::Plain => {
            let file = File::open(path)?;
            f(Stream {
                member: None,
                display: display.to_string(),
                stored_size: size,
                compressed: false,
                reader: Box::new(BufReader::with_capacity(BUF, file)),
            })?;
            Ok(Vec::new())
        }
        Packaging::Gzip => {
            let file = BufReader::with_capacity(BUF, File::open(path)?);
            let gz = flate2::bufread::MultiGzDecoder::new(file);
            let guarded = BombGuard::new(gz, size, limits);
            f(Stream {
                member: None,
                display: display.to_string(),
                stored_size: size,
                compressed: true,
                reader: Box::new(BufReader::with_capacity(BUF, guarded)),
            })?;
            Ok(Vec::new())
        }
        Packaging::Zip => read_zip(path, display, limits, f),
    }
}

fn read_zip(
    path: &Path,
    display: &str,
    limits: &Limits,
    f: &mut dyn FnMut(Stream<'_>) -> io::Result<()>,
) -> io::Result<Vec<InputError>> {
    let file = File::open(path)?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("not a readable zip archive: {e}")))?;
    let mut errors = Vec::new();
    if archive.len() > limits.max_zip_members {
        errors.push(InputError {
            path: display.to_string(),
            reason: format!(
                "archive has {} members; only the first {} are read",
                archive.len(),
                limits.max_zip_members
            ),
        });
    }
    for i in 0..archive.len().min(limits.max_zip_members) {
        let mut entry = match archive.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                errors.push(InputError { path: format!("{display}!#{i}"), reason: format!("unreadable member: {e}") });
                continue;
            }
        };
        if entry.is_dir() {
            continue;
        }
        let raw_name = entry.name().map(|n| n.to_string()).unwrap_or_else(|_| format!("#{i}"));
        let member_display = format!("{display}!{raw_name}");
        let Some(safe) = entry.enclosed_name() else {
            errors.push(InputError {
                path: member_display,
                reason: "unsafe member path (absolute or path traversal): not read".into(),
            });
            continue;
        };
        let name = safe.to_string_lossy().replace('\\', "/");
        let compressed = entry.compressed_size().max(1);
        let mut head = [0u8; 4];
        // Peek the member's own packaging through a small buffered reader.
        let guarded = BombGuard::new(&mut entry, compressed, limits);
        let mut br = BufReader::with_capacity(BUF, guarded);
        let peek = match br.fill_buf() {
            Ok(b) => b,
            Err(e) => {
                errors.push(InputError { path: member_display, reason: e.to_string() });
                continue;
            }
        };
        let n = peek.len().min(4);
        head[..n].copy_from_slice(&peek[..n]);
        let display_m = format!("{display}!{name}");
        match sniff(&head[..n]) {
            Packaging::Zip => {
                errors.push(InputError {
                    path: display_m,
                    reason: "nested zip archive: extract it and ingest the folder".into(),
                });
            }
            Packaging::Gzip => {
                let gz = flate2::bufread::MultiGzDecoder::new(br);
                let guarded = BombGuard::new(gz, compressed, limits);
                f(Stream {
                    member: Some(name),
                    display: display_m,
                    stored_size: compressed,
                    compressed: true,
                    reader: Box::new(BufReader::with_capacity(BUF, guarded)),
                })?;
            }
            Packaging::Plain => {
                f(Stream {
                    member: Some(name),
                    display: display_m,
                    stored_size: compressed,
                    compressed: true,
                    reader: Box::new(br),
                })?;
            }
        }
    }
    Ok(errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("azir-input-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    type Streams = Vec<(String, Result<String, String>)>;

    fn read_all(path: &Path, limits: &Limits) -> (Streams, Vec<InputError>) {
        let mut got = Vec::new();
        let errs = for_each_stream(path, "x", limits, &mut |mut s| {
            let mut text = String::new();
            let r = s.reader.read_to_string(&mut text).map(|_| text).map_err(|e| e.to_string());
            got.push((s.display.clone(), r));
            Ok(())
        })
        .unwrap();
        (got, errs)
    }

    #[test]
    fn gzip_is_transparent_and_hash_is_of_stored_bytes() {
        let d = tmpdir("gz");
        let p = d.join("a.json.gz");
        let mut enc = flate2::write::GzEncoder::new(File::create(&p).unwrap(), flate2::Compression::default());
        enc.write_all(b"{\"a\":1}\n").unwrap();
        enc.finish().unwrap();
        let (got, errs) = read_all(&p, &Limits::default());
        assert!(errs.is_empty());
        assert_eq!(got, vec![("x".to_string(), Ok("{\"a\":1}\n".to_string()))]);
        let (sha, size) = sha256_file(&p).unwrap();
        assert_eq!(size, std::fs::metadata(&p).unwrap().len());
        assert_eq!(sha.len(), 64);
    }

    #[test]
    fn zip_members_traversal_and_nested_archives() {
        let d = tmpdir("zip");
        let p = d.join("a.zip");
        let mut w = zip::ZipWriter::new(File::create(&p).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        w.start_file("logs/one.json", opts).unwrap();
        w.write_all(b"{\"a\":1}").unwrap();
        w.start_file("../../evil.json", opts).unwrap();
        w.write_all(b"{\"a\":2}").unwrap();
        w.start_file("inner.zip", opts).unwrap();
        w.write_all(b"PK\x03\x04rest").unwrap();
        w.finish().unwrap();
        let (got, errs) = read_all(&p, &Limits::default());
        assert_eq!(got, vec![("x!logs/one.json".to_string(), Ok("{\"a\":1}".to_string()))]);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].reason.contains("path traversal"));
        assert!(errs[1].reason.contains("nested zip"));
    }

    #[test]
    fn gzip_bomb_is_stopped() {
        let d = tmpdir("bomb");
        let p = d.join("bomb.gz");
        let mut enc = flate2::write::GzEncoder::new(File::create(&p).unwrap(), flate2::Compression::best());
        let zeros = vec![b' '; 1 << 20];
        for _ in 0..64 {
            enc.write_all(&zeros).unwrap();
        }
        enc.finish().unwrap();
        let limits = Limits { ratio_floor: 1 << 20, ..Limits::default() };
        let (got, _) = read_all(&p, &limits);
        let err = got[0].1.as_ref().unwrap_err();
        assert!(err.contains("possible decompression bomb"), "{err}");
    }

    #[test]
    fn discover_walks_sorted_and_reports_missing() {
        let d = tmpdir("walk");
        std::fs::create_dir_all(d.join("b/y=2024")).unwrap();
        std::fs::write(d.join("b/y=2024/PT1H.json"), b"{}").unwrap();
        std::fs::write(d.join("a.json"), b"{}").unwrap();
        let (files, errs) = discover(&[d.clone(), d.join("missing")]);
        let names: Vec<String> = files.iter().map(|f| f.strip_prefix(&d).unwrap().display().to_string()).collect();
        assert_eq!(names, vec!["a.json", "b/y=2024/PT1H.json"]);
        assert_eq!(errs.len(), 1);
    }
}
