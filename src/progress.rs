//! Progress bars for long work: drawn on a terminal with rate and ETA, silent in pipes, CI and
//! under `--quiet`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar that draws only when stderr is a terminal and the user did not ask for quiet.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar over `total` units named `unit` (for example "docs").
    pub fn new(total: u64, unit: &str, quiet: bool) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        if !quiet && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none() {
            let template = format!(
                "{{spinner}} {{msg}} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {unit} \
                 ({{per_sec}}, ETA {{eta}})"
            );
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style);
            }
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        Self { bar }
    }

    /// A bar that never draws.
    pub fn hidden() -> Self {
        Self::new(0, "", true)
    }

    pub fn set_message(&self, message: impl Into<std::borrow::Cow<'static, str>>) {
        self.bar.set_message(message);
    }

    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
