//! The progress display of `dualrun run` on stderr: one line per side
//! (models built of all, and the model being built; or the command running)
//! and then one for the diff of the outputs. Shown only on a terminal and
//! never with `--quiet`, so logs and pipes stay clean; everything here is a
//! no-op otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// All the lines of one run's display, or nothing.
#[derive(Clone)]
pub struct Progress {
    lines: Option<MultiProgress>,
}

impl Progress {
    /// A display on stderr when it is a terminal and `quiet` is off.
    pub fn on_stderr(quiet: bool) -> Self {
        let shown = !quiet && std::io::stderr().is_terminal();
        Progress {
            lines: shown.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// A new line counting `total` steps, labelled `label`.
    pub fn counter(&self, label: &str, total: u64) -> Line {
        let bar = self.lines.as_ref().map(|lines| {
            let bar = lines.add(ProgressBar::new(total));
            bar.set_style(
                ProgressStyle::with_template("{prefix:>24} [{bar:20}] {pos}/{len} {msg}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(label.to_string());
            bar.set_message("starting");
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Line { bar }
    }

    /// A new line for work with no count (a command), with its elapsed time.
    pub fn spinner(&self, label: &str, message: &str) -> Line {
        let bar = self.lines.as_ref().map(|lines| {
            let bar = lines.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{prefix:>24} {spinner} {elapsed} {msg}")
                    .expect("a valid template"),
            );
            bar.set_prefix(label.to_string());
            bar.set_message(message.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Line { bar }
    }
}

/// One line of the display (or nothing).
#[derive(Clone)]
pub struct Line {
    bar: Option<ProgressBar>,
}

impl Line {
    /// A line that shows nothing.
    pub fn none() -> Self {
        Line { bar: None }
    }

    pub fn set_total(&self, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    /// Says what is being worked on now.
    pub fn working_on(&self, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(what.to_string());
        }
    }

    /// One step done.
    pub fn step(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// Leaves the line standing with a last word.
    pub fn finish(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_with_message(message.to_string());
        }
    }
}
