//! The tar layer (`bundle::archive::extract`): arbitrary tar bytes, framed
//! in stored blocks (`tacctl_fuzz::stored_frames`: what `BlockWriter`
//! writes for blocks that do not shrink, without its deflating and its
//! thread) so that what is fuzzed is the archive and its entry rules
//! rather than the frames (`bundle_blocks` fuzzes those), extracted into a
//! fresh directory (under /dev/shm when there is one). Afterwards nothing
//! may have been created beside that directory, nothing under it may be a
//! link or a special file, and an extraction that succeeded must have
//! written exactly the files it reports.
//!
//! First byte, bit 0: extract with 1 worker thread (parsing and writing on
//! two threads, `extract_tar`) rather than on this thread alone
//! (`extract_tar_here`); bit 1: start each file's writeback.
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tacctl::bundle::archive::{self, Rules};
use tacctl_fuzz::{Scratch, stored_frames};

static SCRATCH: LazyLock<Scratch> = LazyLock::new(|| Scratch::new("bundle_archive"));

/// Custom files keep their archive modes, as in an import. (The library's
/// own rule, `ops::bundle::keeps_mode`, is private; this is the same test.)
fn keeps_mode(path: &Path) -> bool {
    path.starts_with(tacctl::ops::bundle::FILES_DIR)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, tar)) = data.split_first() else {
        return;
    };
    let framed = stored_frames(tar);
    let dest = SCRATCH.fresh();
    let rules = Rules {
        keeps_mode,
        writeback: flags & 2 != 0,
    };
    let files = archive::extract(&framed[..], dest, usize::from(flags & 1), rules);
    SCRATCH.check_and_clear(files.as_deref().ok());
});
