//! Progress bars for the main job (hidden when the output is not a terminal).

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars of one run.
#[derive(Debug, Clone)]
pub struct Progress {
    bars: MultiProgress,
}

impl Progress {
    /// Bars drawn on standard error when it is a terminal and `visible` is true.
    pub fn new(visible: bool) -> Self {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            bars: MultiProgress::with_draw_target(target),
        }
    }

    /// No bars at all (tests).
    pub fn hidden() -> Self {
        Self::new(false)
    }

    /// A bar counting up to `len`.
    pub fn bar(&self, name: &str, len: u64) -> ProgressBar {
        let bar = self.bars.add(ProgressBar::new(len));
        let style = ProgressStyle::with_template(
            "{prefix:>28} [{bar:32}] {human_pos:>9}/{human_len:9} {per_sec:>12} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(name.to_owned());
        bar
    }

    /// A line of text above the bars.
    pub fn say(&self, line: impl AsRef<str>) {
        if self.bars.is_hidden() {
            tracing::info!("{}", line.as_ref());
        } else {
            let _ = self.bars.println(line.as_ref());
        }
    }
}
