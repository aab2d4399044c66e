//! Progress bars on standard error for exports and imports that take more
//! than a moment. The operations report bytes through
//! [`crate::ops::bundle::Progress`]; this is the only code that draws them. A
//! bar is drawn only when standard error is a terminal and `--quiet` was not
//! given, and only once the operation is known to be large or has run for a
//! second, so quick commands print nothing extra. It is cleared when the
//! operation ends, before anything else is printed.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::ops::bundle::Progress;

/// An operation over this many bytes gets its bar at once.
const LARGE: u64 = 64 << 20;
/// Any other gets it once it has run this long.
const AFTER: Duration = Duration::from_secs(1);

/// A byte-counting progress bar, hidden until it is worth showing.
pub(super) struct Bar {
    bar: ProgressBar,
    started: Instant,
    allowed: bool,
    shown: AtomicBool,
}

impl Bar {
    /// A bar labelled `what` over `total` bytes (0 until the operation
    /// says), never drawn when `quiet` or when standard error is not a
    /// terminal.
    pub(super) fn new(what: &'static str, total: u64, quiet: bool) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        bar.set_prefix(what);
        Self {
            bar,
            started: Instant::now(),
            allowed: !quiet && std::io::stderr().is_terminal(),
            shown: AtomicBool::new(false),
        }
    }

    /// Clears the bar for good, before the command prints: nothing more
    /// is drawn however far the operation goes on.
    pub(super) fn clear(&self) {
        self.shown.store(true, Ordering::Relaxed);
        self.bar.finish_and_clear();
        self.bar.set_draw_target(ProgressDrawTarget::hidden());
    }

    fn show_if_due(&self) {
        if !self.allowed || self.shown.load(Ordering::Relaxed) {
            return;
        }
        let large = self.bar.length().is_some_and(|l| l >= LARGE);
        if (large || self.started.elapsed() >= AFTER) && !self.shown.swap(true, Ordering::Relaxed) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }
}

impl Progress for Bar {
    fn total(&self, bytes: u64) {
        self.bar.set_length(bytes);
        self.show_if_due();
    }

    fn done(&self, bytes: u64) {
        self.bar.set_position(bytes);
        self.show_if_due();
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
