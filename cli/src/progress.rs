//! Progress on stderr: a spinner with a status line for waits, a bar for what has a size
//! (exports, waves). Hidden when stderr is not a terminal (indicatif's own check) or with
//! `--no-progress`, so pipelines and logs see none of it.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a spinner turns while nothing new is heard.
const TICK: Duration = Duration::from_millis(120);

/// Makes progress indicators, or hidden ones.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    shown: bool,
}

impl Progress {
    pub fn new(shown: bool) -> Self {
        Self { shown }
    }

    /// A spinner saying `message`.
    pub fn spinner(&self, message: impl Into<String>) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(None, self.target());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.into());
        bar.enable_steady_tick(TICK);
        bar
    }

    /// A bar of `length` steps saying `message`.
    pub fn bar(&self, length: u64, message: impl Into<String>) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(length), self.target());
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos:>3}/{len} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(message.into());
        bar
    }

    fn target(&self) -> ProgressDrawTarget {
        if self.shown {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        }
    }
}
