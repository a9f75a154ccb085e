//! The incident report: one self-contained HTML file that opens offline in any browser.
//!
//! [`gather`] reads a case into [`ReportData`] (SQL over the case's tables, the stored findings,
//! the manifest and the custody log); [`render_html`] turns it into a document; [`write`] does
//! both and writes the file atomically.
//!
//! # Hostile content
//!
//! Log content is attacker-controlled (WAF logs carry XSS payloads, user agents carry terminal
//! escapes, resource names carry bidi overrides). Three layers keep it inert:
//! 1. every log-derived string is escaped by [`html::text`]/[`html::attr`], which also shows
//!    control and bidi characters as visible `<U+XXXX>` markers;
//! 2. the page's only script is azir's own (`assets/report.js`), which reads nothing but azir's
//!    own attributes and compares text — it never assigns HTML or evaluates anything;
//! 3. a Content-Security-Policy meta tag ([`csp`]) allows exactly that script and stylesheet by
//!    SHA-256 hash, nothing else: no other script, no inline handlers, no `style` attributes, no
//!    network (`default-src 'none'`), images only from `data:`. A payload that slipped past
//!    escaping still could not run or phone home.
//!
//! # Size
//!
//! Everything is bounded: events per finding ([`Options::events_per_finding`]), rows of the
//! attack timeline, ranked charts, entity sections, cell text ([`html::MAX_CELL`]). The demo
//! case's report is about 1 MB.

pub mod data;
pub mod html;
pub mod render;
pub mod svg;

pub use data::{gather, Options, ReportData, ReportError};
pub use render::{ExposureTable, NetworkView};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The stylesheet, inlined.
pub const STYLE: &str = include_str!("../assets/report.css");
/// The script, inlined.
pub const SCRIPT: &str = include_str!("../assets/report.js");

fn sha256_source(s: &str) -> String {
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s.as_bytes())))
}

/// The Content-Security-Policy of every report: only azir's own inline script and stylesheet
/// (by hash), no network, images only as `data:` URLs.
pub fn csp() -> String {
    format!(
        "default-src 'none'; script-src {}; style-src {}; img-src data:; base-uri 'none'; form-action 'none'",
        sha256_source(SCRIPT),
        sha256_source(STYLE)
    )
}

/// The document for `data`.
pub fn render_html(data: &ReportData, net: &NetworkView) -> String {
    render::document(data, net, STYLE, SCRIPT, &csp())
}

/// What [`write`] produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Findings in the report.
    pub findings: usize,
    /// Events in the case.
    pub events: u64,
    /// Flow tuples in the case.
    pub flows: u64,
    /// Entity sections.
    pub entities: usize,
    /// Whether the custody chain is intact.
    pub custody_intact: bool,
}

/// Writes `html` to `out` through a temporary file in the same directory (renamed when
/// complete, so a reader never sees half a report).
pub fn write_file(out: &Path, html: &str) -> std::io::Result<u64> {
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "report.html".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(html.as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, out)?;
    Ok(html.len() as u64)
}

/// Gathers, renders and writes the report for `case` to `out`. `net` adds the topology and
/// exposure drawn by the caller from `ReportData::network_config`.
pub fn write(
    case: &azir_store::Case,
    opts: &Options,
    net: impl FnOnce(&ReportData) -> NetworkView,
    out: &Path,
) -> Result<Written, WriteError> {
    let data = gather(case, opts)?;
    let view = net(&data);
    let html = render_html(&data, &view);
    let bytes = write_file(out, &html).map_err(|e| WriteError::Io { path: out.to_path_buf(), source: e })?;
    Ok(Written {
        path: out.to_path_buf(),
        bytes,
        findings: data.findings.len(),
        events: data.events,
        flows: data.flows,
        entities: data.entities.len(),
        custody_intact: data.verify.chain_errors.is_empty(),
    })
}

/// Errors of [`write`].
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Reading the case failed.
    #[error(transparent)]
    Gather(#[from] ReportError),
    /// Writing the file failed.
    #[error("writing {}: {source}", path.display())]
    Io {
        /// The output.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_pins_the_inline_assets_by_hash_and_blocks_the_network() {
        let c = csp();
        assert!(c.starts_with("default-src 'none'; script-src 'sha256-"));
        assert!(!c.contains("unsafe-inline"));
        assert!(!c.contains("http"));
        // The hash is of the exact script text.
        let h = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT.as_bytes()));
        assert!(c.contains(&h));
        // The script never turns text into markup or code.
        for bad in ["innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "Function(", "document.write"] {
            assert!(!SCRIPT.contains(bad), "{bad} in report.js");
        }
        assert!(!STYLE.contains("@import") && !STYLE.contains("url("), "the stylesheet loads nothing");
    }
}
