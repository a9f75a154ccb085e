//! Helpers shared by the CLI's end-to-end tests: running the built binary, and one demo
//! incident per test process.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_azir");

/// Runs azir with `args`, stdin closed.
pub fn output(args: &[&str]) -> Output {
    Command::new(BIN).args(args).stdin(Stdio::null()).output().expect("azir runs")
}

/// Runs azir; asserts it did not panic. Returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let o = output(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!err.contains("panicked"), "azir {args:?} panicked:\n{err}");
    (o.status.code().unwrap_or(-1), String::from_utf8(o.stdout).expect("utf-8 output"), err)
}

/// Runs azir and expects exit code `code`. Returns (stdout, stderr).
pub fn expect(args: &[&str], code: i32) -> (String, String) {
    let (got, out, err) = run(args);
    assert_eq!(got, code, "azir {args:?} exited {got}\nstdout:\n{out}\nstderr:\n{err}");
    (out, err)
}

/// Runs azir, expects success, returns stdout.
pub fn azir(args: &[&str]) -> String {
    expect(args, 0).0
}

/// A path as `&str` (temporary paths are UTF-8).
pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// The demo incident (`azir --quiet demo`), generated once per test process.
pub struct Demo {
    /// Holds the temporary directory until the process ends.
    pub dir: tempfile::TempDir,
    /// The demo folder (`evidence/`, `case/`, `report.html`).
    pub root: PathBuf,
    /// The case folder, as text.
    pub case: String,
}

/// The demo, generated on first use.
pub fn demo() -> &'static Demo {
    static D: OnceLock<Demo> = OnceLock::new();
    D.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("demo");
        azir(&["--quiet", "demo", p(&root)]);
        let case = root.join("case").display().to_string();
        Demo { dir, root, case }
    })
}
