//! A program driven through a real pseudo-terminal (rexpect), keeping
//! everything the terminal showed so a test can scan it for secrets.

use std::time::Duration;

use rexpect::session::PtySession;

/// How long a screen may take to appear.
pub const TIMEOUT_MS: Option<u64> = Some(30_000);
/// The down-arrow key.
pub const DOWN: &str = "\x1b[B";
/// The up-arrow key.
pub const UP: &str = "\x1b[A";
/// The Enter key.
pub const ENTER: &str = "\r";

/// A session that keeps everything the terminal showed.
pub struct Screen {
    /// The session.
    pub p: PtySession,
    /// Everything shown so far.
    pub shown: String,
}

impl Screen {
    /// A screen over `p`.
    pub fn new(p: PtySession) -> Self {
        Self {
            p,
            shown: String::new(),
        }
    }

    /// Waits for `text`, then types `keys` after a pause (a hidden prompt
    /// turns echo off just after drawing itself, and anything typed before
    /// that would be echoed).
    pub fn at(&mut self, text: &str, keys: &str) {
        let before = self
            .p
            .exp_string(text)
            .unwrap_or_else(|e| panic!("waiting for {text:?}: {e}\nshown so far:\n{}", self.shown));
        self.shown.push_str(&before);
        self.shown.push_str(text);
        if !keys.is_empty() {
            std::thread::sleep(Duration::from_millis(150));
            self.p.send(keys).unwrap();
            self.p.flush().unwrap();
        }
    }
}
