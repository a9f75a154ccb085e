//! Progress bars on stderr for long runs, drawn only when stderr is a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use is_terminal::IsTerminal;
use std::sync::Mutex;

/// An [`azir_store::Progress`] drawn with indicatif.
pub struct Bar {
    bar: Option<ProgressBar>,
    warnings: Mutex<usize>,
    quiet: bool,
}

impl Bar {
    /// A bar, hidden when `quiet` or stderr is not a terminal.
    pub fn new(quiet: bool) -> Self {
        let show = !quiet && std::io::stderr().is_terminal();
        let bar = show.then(|| {
            let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template("{prefix:>10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b
        });
        Bar { bar, warnings: Mutex::new(0), quiet }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl azir_store::Progress for Bar {
    fn phase(&self, name: &str, total: u64) {
        if let Some(b) = &self.bar {
            b.set_prefix(name.to_string());
            b.set_length(total);
            b.set_position(0);
        }
    }

    fn advance(&self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }

    fn warn(&self, msg: &str) {
        if self.quiet {
            return;
        }
        let mut n = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        // The summary lists everything; only the first few interrupt the bar.
        if *n <= 5 {
            match &self.bar {
                Some(b) => b.println(format!("warning: {msg}")),
                None => eprintln!("warning: {msg}"),
            }
        }
    }
}
