//! `azir disk`: inspect, hash and convert virtual disks (raw, VHD, VHDX) without mounting them.

use crate::progress;
use anyhow::{Context, Result};
use azir_disk::convert::{convert, Target};
use azir_disk::partitions::{scan, Filesystem};
use azir_disk::{DiskImage, ImageInfo, OpenOptions};
use azir_store::Progress;

use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum DiskCmd {
    /// Format, sizes, geometry, ids, parent chain and checksum status of an image.
    #[command(
        after_help = "Examples:\n  azir disk info osdisk.vhd\n  azir disk info child.vhdx --parent ./base.vhdx\n  azir disk info snapshot.vhd --json\n\nEvery checksum (VHD footer and dynamic header, VHDX headers and region tables) is listed with the expected and the found value; a damaged structure with an intact copy is reported and the copy used."
    )]
    Info(ImageArgs),
    /// Partition table (MBR with logical partitions, GPT) and the filesystem of each partition.
    #[command(
        after_help = "Examples:\n  azir disk partitions osdisk.vhd\n  azir disk partitions disk.raw --json\n\nFilesystems are identified by their magic: NTFS, FAT12/16/32, exFAT, ext2/3/4, XFS, Btrfs, LVM2, BitLocker, LUKS, Linux swap."
    )]
    Partitions(ImageArgs),
    /// MD5, SHA-1 and SHA-256 of the virtual disk, in one read.
    #[command(
        after_help = "Examples:\n  azir disk hash osdisk.vhd\n  azir disk hash child.vhd --parent base.vhd --json\n\nThe hashes are of the virtual disk (what `azir disk convert --to raw` writes), not of the container file: a dynamic VHD and the raw disk it holds hash the same. For a fixed VHD the footer is not part of the disk; hash the file with sha256sum to get the file's hash."
    )]
    Hash(ImageArgs),
    /// Write the virtual disk as a sparse raw file or as a fixed VHD ready for Azure upload.
    #[command(
        after_help = "Examples:\n  azir disk convert child.vhdx --to raw evidence.raw\n  azir disk convert disk.raw --to vhd upload.vhd\n\n--to raw writes holes where the disk holds zeros. --to vhd pads the disk with zeros to a multiple of 1 MiB (Azure's rule) and appends a fixed-disk footer (conectix, type 2, CHS geometry, checksum). OUT must not exist."
    )]
    Convert(ConvertArgs),
    /// Download a disk from a snapshot/disk SAS URL (or any page or block blob): only pages that
    /// hold data, in parallel, hashed as written, resumable, recorded in the case's custody log.
    #[command(
        after_help = "Examples:\n  az snapshot grant-access -g rg -n snap --duration-in-seconds 3600 --query accessSas -o tsv > sas.txt\n  azir disk acquire --sas-url \"$(cat sas.txt)\" --out snap.vhd --case ./case --resource-id /subscriptions/.../snapshots/snap\n  AZIR_SAS_URL=\"$(cat sas.txt)\" azir disk acquire --out snap.vhd       # keeps the SAS out of the process list\n  azir disk acquire --sas-url URL --out snap.vhd --concurrency 16 --json\n\nOnly the page ranges that hold data are downloaded (Get Page Ranges); the rest of the image is a sparse hole. MD5, SHA-1 and SHA-256 of the whole disk are computed as it is written. The image is written to OUT.part with a checkpoint OUT.part.json; Ctrl-C, a network failure or a kill leaves both, and running the same command again downloads only the missing pieces. On success OUT.part becomes OUT.\nThe SAS signature never appears in output, checkpoints or the custody log (sig=REDACTED).\nExit codes: 0 done; 1 error; 130 interrupted (resumable); 4 the image failed verification (Content-MD5 mismatch or inconsistent VHD footer)."
    )]
    Acquire(AcquireArgs),
}

#[derive(Args)]
pub struct AcquireArgs {
    /// SAS URL of the blob (snapshot/disk beginGetAccess URL, or a storage account blob). Default: $AZIR_SAS_URL.
    #[arg(long, value_name = "URL")]
    sas_url: Option<String>,
    /// The image file to write (must not exist unless --force).
    #[arg(long)]
    out: PathBuf,
    /// Record the acquisition in this case's chain of custody.
    #[arg(long)]
    case: Option<PathBuf>,
    /// ARM id of the snapshot or disk the URL was granted for (recorded in the custody entry).
    #[arg(long)]
    resource_id: Option<String>,
    /// Parallel ranged downloads.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Size of one ranged download, MiB.
    #[arg(long, default_value_t = 4)]
    piece_mib: u64,
    /// Retries per request (transport errors, 5xx, 429, short bodies).
    #[arg(long, default_value_t = 8)]
    retries: u32,
    /// First retry delay in milliseconds (doubles per attempt, with jitter).
    #[arg(long, default_value_t = 250, hide = true)]
    retry_base_ms: u64,
    /// Checkpoint interval in milliseconds (tests).
    #[arg(long, default_value_t = 2000, hide = true)]
    checkpoint_ms: u64,
    /// Piece size in bytes (tests; overrides --piece-mib).
    #[arg(long, hide = true)]
    piece_bytes: Option<u64>,
    /// Overwrite OUT if it exists.
    #[arg(long)]
    force: bool,
    /// Discard a checkpoint left by an acquisition of a different blob or blob state.
    #[arg(long)]
    restart: bool,
}

#[derive(Args)]
pub struct ImageArgs {
    /// The image: raw, VHD (fixed, dynamic, differencing) or VHDX.
    image: PathBuf,
    /// Parent of a differencing image (default: found from the locators recorded in it).
    #[arg(long)]
    parent: Option<PathBuf>,
    /// Treat the file as a raw disk even if it looks like a VHD/VHDX.
    #[arg(long)]
    raw: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum To {
    Raw,
    Vhd,
}

#[derive(Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    image: ImageArgs,
    /// Output format.
    #[arg(long, value_enum)]
    to: To,
    /// Output file (must not exist).
    out: PathBuf,
}

fn open(a: &ImageArgs) -> Result<DiskImage> {
    let opts = OpenOptions { parent: a.parent.clone(), force_raw: a.raw };
    DiskImage::open_with(&a.image, &opts).with_context(|| format!("opening {}", a.image.display()))
}

/// Warn on stderr about failed integrity checks (for commands whose output is not the report).
fn warn_checks(img: &DiskImage, quiet: bool) {
    if quiet {
        return;
    }
    for c in img.info().failed_checks() {
        eprintln!("warning: {}", check_line(c));
    }
}

fn check_line(c: &azir_disk::Check) -> String {
    let mut s = format!("{}: {}", c.structure, if c.ok { "ok" } else { "FAILED" });
    if let (Some(e), Some(f)) = (&c.expected, &c.found) {
        if c.ok {
            s.push_str(&format!(" ({f})"));
        } else {
            s.push_str(&format!(" (expected {e}, found {f})"));
        }
    }
    if let Some(n) = &c.note {
        s.push_str(&format!(" — {n}"));
    }
    s
}

pub fn run(cmd: &DiskCmd, json: bool, quiet: bool) -> Result<i32> {
    match cmd {
        DiskCmd::Info(a) => {
            let img = open(a)?;
            if json {
                println!("{}", serde_json::to_string_pretty(img.info())?);
            } else {
                let mut out = std::io::stdout().lock();
                print_info(&mut out, img.info(), 0)?;
            }
            Ok(0)
        }
        DiskCmd::Partitions(a) => {
            let mut img = open(a)?;
            warn_checks(&img, quiet || json);
            let t = scan(&mut img).with_context(|| format!("reading {}", a.image.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&t)?);
                return Ok(0);
            }
            let mut out = std::io::stdout().lock();
            if t.scheme == "none" {
                write!(out, "no partition table")?;
            } else {
                write!(out, "{} partition table, {}-byte sectors", t.scheme.to_uppercase(), t.sector_size)?;
            }
            if let Some(g) = &t.disk_guid {
                write!(out, ", disk GUID {g}")?;
            }
            if let Some(s) = &t.mbr_signature {
                write!(out, ", disk signature {s}")?;
            }
            writeln!(out)?;
            for c in &t.checks {
                writeln!(out, "  {}", check_line(c))?;
            }
            match &t.whole_disk {
                Some(fs) => writeln!(out, "filesystem on the whole disk: {}", fs_text(fs))?,
                None if t.scheme == "none" => writeln!(out, "no known filesystem at offset 0 either")?,
                None => {}
            }
            if !t.partitions.is_empty() {
                writeln!(out, "{:>3}  {:>14}  {:>10}  {:<26} {:<10} name", "#", "start", "size", "type", "filesystem")?;
            }
            for p in &t.partitions {
                let ty = p.type_name.map(str::to_string).unwrap_or_else(|| p.type_id.clone());
                let fs = p.filesystem.as_ref().map_or("-".to_string(), fs_text);
                writeln!(
                    out,
                    "{:>3}{} {:>14}  {:>10}  {:<26} {:<10} {}",
                    p.number,
                    if p.bootable { '*' } else { ' ' },
                    p.start,
                    human(p.size),
                    ty,
                    fs,
                    clean(p.name.as_deref().unwrap_or(""))
                )?;
                for pr in &p.problems {
                    writeln!(out, "       ! {pr}")?;
                }
            }
            Ok(0)
        }
        DiskCmd::Hash(a) => {
            let mut img = open(a)?;
            warn_checks(&img, quiet);
            let bar = progress::Bar::new(quiet);
            bar.phase("hashing", img.virtual_size());
            let mut last = 0;
            let h = azir_disk::hash::hash(&mut img, |done| {
                bar.advance(done - last);
                last = done;
            })
            .with_context(|| format!("reading {}", a.image.display()))?;
            bar.finish();
            if json {
                println!("{}", serde_json::to_string_pretty(&h)?);
            } else {
                let mut out = std::io::stdout().lock();
                writeln!(out, "MD5     {}", h.md5)?;
                writeln!(out, "SHA-1   {}", h.sha1)?;
                writeln!(out, "SHA-256 {}", h.sha256)?;
                writeln!(out, "bytes   {} (virtual disk of {})", h.bytes, a.image.display())?;
            }
            Ok(0)
        }
        DiskCmd::Convert(c) => {
            let mut img = open(&c.image)?;
            warn_checks(&img, quiet);
            let target = match c.to {
                To::Raw => Target::Raw,
                To::Vhd => Target::Vhd,
            };
            let bar = progress::Bar::new(quiet);
            bar.phase("converting", img.virtual_size());
            let mut last = 0;
            let r = convert(&mut img, target, &c.out, |done| {
                bar.advance(done - last);
                last = done;
            })
            .with_context(|| format!("converting {} to {}", c.image.image.display(), c.out.display()))?;
            bar.finish();
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else if !quiet {
                println!(
                    "wrote {} ({} disk, {} file, {} written, the rest left sparse)",
                    c.out.display(),
                    human(r.output_disk_size),
                    human(r.output_file_size),
                    human(r.written)
                );
                if r.output_disk_size != r.virtual_size {
                    println!("virtual size {} rounded up to a multiple of 1 MiB for Azure", r.virtual_size);
                }
            }
            Ok(0)
        }
        DiskCmd::Acquire(a) => acquire(a, json, quiet),
    }
}

impl azir_disk::acquire::AcquireProgress for progress::Bar {
    fn begin(&self, data_bytes: u64, already: u64) {
        azir_store::Progress::phase(self, "acquiring", data_bytes);
        azir_store::Progress::advance(self, already);
    }
    fn advance(&self, bytes: u64) {
        azir_store::Progress::advance(self, bytes);
    }
    fn note(&self, msg: &str) {
        azir_store::Progress::warn(self, msg);
    }
}

fn acquire(a: &AcquireArgs, json: bool, quiet: bool) -> Result<i32> {
    use azir_disk::acquire::{acquire, redact_sas, AcquireError, AcquireOptions};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let url = match (&a.sas_url, std::env::var("AZIR_SAS_URL")) {
        (Some(u), _) => u.clone(),
        (None, Ok(u)) if !u.trim().is_empty() => u.trim().to_string(),
        _ => anyhow::bail!("no SAS URL: pass --sas-url URL or set AZIR_SAS_URL"),
    };
    // Open the case first: a typo in --case should fail before gigabytes are downloaded.
    let case = match &a.case {
        Some(dir) => {
            Some(crate::location::open(dir, quiet).with_context(|| format!("opening case {}", dir.display()))?)
        }
        None => None,
    };
    let opts = AcquireOptions {
        concurrency: a.concurrency.max(1),
        piece_size: a.piece_bytes.unwrap_or(a.piece_mib.max(1) << 20),
        retries: a.retries,
        retry_base: std::time::Duration::from_millis(a.retry_base_ms),
        force: a.force,
        restart: a.restart,
        checkpoint_every: std::time::Duration::from_millis(a.checkpoint_ms.max(10)),
        ..AcquireOptions::default()
    };
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let cancel = cancel.clone();
        // A second Ctrl-C kills the process; the checkpoint written every 2 s still allows a resume.
        let _ = ctrlc::set_handler(move || {
            if cancel.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }
    let bar = progress::Bar::new(quiet);
    if !quiet {
        eprintln!("acquiring {} -> {}", redact_sas(&url), a.out.display());
    }
    let result = acquire(&url, &a.out, &opts, &bar, &cancel);
    bar.finish();
    let r = match result {
        Ok(r) => r,
        Err(e @ AcquireError::Interrupted { .. }) => {
            eprintln!("azir: {e}");
            return Ok(130);
        }
        Err(e) => {
            let (part, _) = azir_disk::acquire::part_paths(&a.out);
            if part.exists() {
                anyhow::bail!(
                    "{e}\n(the pieces already downloaded are kept in {}: run the same command again to resume)",
                    part.display()
                );
            }
            anyhow::bail!("{e}");
        }
    };
    let md5_ok = r.content_md5.as_ref().is_none_or(|(_, ok)| *ok);
    let verified = md5_ok && r.footer.status != "inconsistent";
    let mut custody_seq = None;
    if let Some((case, home)) = &case {
        let detail = serde_json::json!({
            "source": r.source,
            "resource_id": a.resource_id,
            "blob_type": r.blob_type,
            "etag": r.etag,
            "last_modified": r.last_modified,
            "size": r.size,
            "data_bytes": r.data_bytes,
            "ranges": r.ranges,
            "downloaded_bytes": r.downloaded_bytes,
            "resumed_bytes": r.resumed_bytes,
            "retries": r.retries,
            "md5": r.hashes.md5,
            "sha1": r.hashes.sha1,
            "sha256": r.hashes.sha256,
            "content_md5": r.content_md5,
            "footer": r.footer,
            "started": r.started,
            "finished": r.finished,
            "tool": concat!("azir ", env!("CARGO_PKG_VERSION")),
        });
        let out_abs = std::fs::canonicalize(&r.out).unwrap_or_else(|_| r.out.clone());
        let e = case
            .append_custody("evidence-acquired", Some(&r.hashes.sha256), Some(&out_abs.display().to_string()), detail)
            .context("recording the acquisition in the custody log")?;
        custody_seq = Some(e.seq);
        home.push()?;
    }
    if json {
        let mut v = serde_json::to_value(&r)?;
        v["verified"] = serde_json::Value::Bool(verified);
        v["custody_seq"] = serde_json::json!(custody_seq);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "acquired {} ({} {}, {})",
            r.out.display(),
            r.blob_type,
            clean(r.etag.as_deref().unwrap_or("-")),
            human(r.size)
        )?;
        writeln!(
            out,
            "data     {} in {} ranges, {} pieces; downloaded {} this run, {} resumed, {} retries, {:.1}s ({}/s)",
            human(r.data_bytes),
            r.ranges,
            r.pieces,
            human(r.downloaded_bytes),
            human(r.resumed_bytes),
            r.retries,
            r.elapsed_secs,
            human((r.downloaded_bytes as f64 / r.elapsed_secs.max(1e-3)) as u64)
        )?;
        writeln!(out, "MD5      {}", r.hashes.md5)?;
        writeln!(out, "SHA-1    {}", r.hashes.sha1)?;
        writeln!(out, "SHA-256  {}", r.hashes.sha256)?;
        match &r.content_md5 {
            Some((m, true)) => writeln!(out, "Content-MD5 of the blob {m}: matches")?,
            Some((m, false)) => writeln!(out, "! Content-MD5 of the blob {m}: DOES NOT MATCH the downloaded image")?,
            None => {}
        }
        writeln!(out, "footer   {}: {}", r.footer.status, clean(&r.footer.detail))?;
        if let Some(seq) = custody_seq {
            writeln!(
                out,
                "custody  entry {seq} in {}",
                a.case.as_ref().map(|c| c.display().to_string()).unwrap_or_default()
            )?;
        }
    }
    Ok(if verified { 0 } else { 4 })
}

fn fs_text(f: &Filesystem) -> String {
    let mut s = f.kind.to_string();
    if let Some(l) = &f.label {
        s.push_str(&format!(" \"{}\"", clean(l)));
    }
    s
}

/// Image content is hostile: drop control characters before printing it.
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

fn human(n: u64) -> String {
    crate::human_bytes(n)
}

fn print_info(out: &mut impl Write, i: &ImageInfo, depth: usize) -> Result<()> {
    let pad = "  ".repeat(depth);
    writeln!(out, "{pad}{}: {}", clean(&i.path.display().to_string()), i.format.name())?;
    writeln!(out, "{pad}  virtual size    {} ({})", i.virtual_size, human(i.virtual_size))?;
    writeln!(out, "{pad}  file size       {} ({})", i.file_size, human(i.file_size))?;
    writeln!(out, "{pad}  allocated       {} ({})", i.allocated_size, human(i.allocated_size))?;
    if let Some(b) = i.block_size {
        writeln!(out, "{pad}  block size      {}", human(b))?;
    }
    write!(out, "{pad}  sector size     {}", i.logical_sector_size)?;
    if let Some(p) = i.physical_sector_size {
        write!(out, " logical, {p} physical")?;
    }
    writeln!(out)?;
    if let Some(g) = i.geometry {
        writeln!(out, "{pad}  geometry (CHS)  {}/{}/{}", g.cylinders, g.heads, g.sectors_per_track)?;
    }
    for (k, v) in [
        ("disk id", &i.disk_id),
        ("data write GUID", &i.data_write_guid),
        ("creator", &i.creator),
        ("timestamp", &i.timestamp),
        ("parent id", &i.parent_id),
    ] {
        if let Some(v) = v {
            writeln!(out, "{pad}  {k:<15} {}", clean(v))?;
        }
    }
    for l in &i.parent_locators {
        writeln!(out, "{pad}  parent locator  {}", clean(l))?;
    }
    let failed = i.checks.iter().filter(|c| !c.ok).count();
    writeln!(
        out,
        "{pad}  checks          {}",
        if i.checks.is_empty() {
            "none apply".to_string()
        } else if failed == 0 {
            format!("all {} passed", i.checks.len())
        } else {
            format!("{failed} of {} FAILED", i.checks.len())
        }
    )?;
    for c in &i.checks {
        writeln!(out, "{pad}    {}", check_line(c))?;
    }
    if let Some(p) = &i.parent {
        writeln!(out, "{pad}  parent:")?;
        print_info(out, p, depth + 2)?;
    }
    Ok(())
}
