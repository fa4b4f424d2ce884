//! Progress bars for long work: drawn on a terminal with rate and ETA, silent in pipes, CI and
//! under `--quiet`.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar that draws only when stderr is a terminal and the user did not ask for quiet.
pub struct Progress {
    bar: ProgressBar,
    /// Where the bar and its children draw; `None` when nothing draws.
    lines: Option<MultiProgress>,
}

fn style(unit: &str) -> Option<ProgressStyle> {
    let template = format!(
        "{{spinner}} {{msg}} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {unit} \
         ({{per_sec}}, ETA {{eta}})"
    );
    ProgressStyle::with_template(&template).ok()
}

impl Progress {
    /// A bar over `total` units named `unit` (for example "docs").
    pub fn new(total: u64, unit: &str, quiet: bool) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        let mut lines = None;
        if !quiet && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none() {
            if let Some(style) = style(unit) {
                bar.set_style(style);
            }
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            lines = Some(multi.clone());
            return Self {
                bar: multi.add(bar),
                lines,
            };
        }
        Self { bar, lines }
    }

    /// A second bar under this one (for the item in progress), drawn only where this one is.
    pub fn child(&self, total: u64, unit: &str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        match &self.lines {
            Some(multi) => {
                if let Some(style) = style(unit) {
                    bar.set_style(style);
                }
                Self {
                    bar: multi.add(bar),
                    lines: Some(multi.clone()),
                }
            }
            None => Self { bar, lines: None },
        }
    }

    /// Starts the bar over at 0 of `total`, its rate and ETA too.
    pub fn restart(&self, total: u64) {
        self.bar.reset();
        self.bar.set_length(total);
    }

    /// Whether the bar draws (on a terminal, not quiet): where it does not, long stages log their
    /// progress instead.
    pub fn draws(&self) -> bool {
        self.lines.is_some()
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
