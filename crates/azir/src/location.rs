//! `--case` locations: a local directory, or a case on Azure Blob Storage / ADLS Gen2
//! (`az://container/path`, `abfss://container@account.dfs.core.windows.net/path`,
//! `https://account.blob.core.windows.net/container/path[?SAS]`), worked on through a local
//! mirror (see `azir_store::remote`).

use anyhow::{Context, Result};
use azir_store::remote::{is_remote, RemoteCase, SyncReport};
use azir_store::Case;
use std::path::Path;

/// Where an opened case lives: nothing for a local case, the remote case for a mirror.
pub struct Home {
    remote: Option<RemoteCase>,
    quiet: bool,
}

fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
}

fn say(quiet: bool, what: &str, r: &RemoteCase, s: &SyncReport) {
    if !quiet && (s.files > 0 || s.removed > 0) {
        eprintln!(
            "{what} {}: {} file{} ({}), {} unchanged{}",
            r.display(),
            s.files,
            if s.files == 1 { "" } else { "s" },
            mib(s.bytes),
            s.unchanged,
            if s.removed > 0 { format!(", {} removed", s.removed) } else { String::new() }
        );
    }
}

pub fn remote_of(loc: &Path) -> Option<&str> {
    loc.to_str().filter(|s| is_remote(s))
}

/// Opens the case at `loc` for reading (pulling a remote case's changes first).
pub fn open(loc: &Path, quiet: bool) -> Result<(Case, Home)> {
    let Some(url) = remote_of(loc) else {
        return Ok((Case::open(loc)?, Home { remote: None, quiet }));
    };
    let r = RemoteCase::new(url)?;
    if !r.exists()? {
        anyhow::bail!(
            "{} is not an azir case (no case.json there): `azir ingest FILES --case {}` creates one",
            r.display(),
            r.display()
        );
    }
    let s = r.pull()?;
    say(quiet, "pulled", &r, &s);
    let case = Case::open(r.mirror()).with_context(|| format!("opening the mirror of {}", r.display()))?;
    Ok((case, Home { remote: Some(r), quiet }))
}

/// Opens the case at `loc`, creating it when there is none.
pub fn open_or_init(loc: &Path, quiet: bool) -> Result<(Case, Home)> {
    let Some(url) = remote_of(loc) else {
        let case = if loc.join("case.json").exists() {
            Case::open(loc)?
        } else {
            Case::init(loc, None, None).with_context(|| format!("creating case {}", loc.display()))?
        };
        return Ok((case, Home { remote: None, quiet }));
    };
    let r = RemoteCase::new(url)?;
    if r.exists()? {
        drop(r);
        return open(loc, quiet);
    }
    // A new remote case: start from an empty mirror, so nothing of an older case is pushed.
    r.reset_mirror()?;
    let name = url.trim_end_matches('/').rsplit('/').next().map(|n| n.split('?').next().unwrap_or(n).to_string());
    let case = Case::init(r.mirror(), name.as_deref(), None)
        .with_context(|| format!("creating the mirror of {}", r.display()))?;
    Ok((case, Home { remote: Some(r), quiet }))
}

impl Home {
    /// Uploads what the command wrote (a no-op for a local case).
    pub fn push(&self) -> Result<()> {
        if let Some(r) = &self.remote {
            let s = r.push()?;
            say(self.quiet, "pushed to", r, &s);
        }
        Ok(())
    }
}
