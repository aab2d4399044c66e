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
//! (`extract_tar_here`); bit 1: start each file's writeback; bits 2 and 3:
//! where files go (disk, memory, only measured, or by path as an import).
#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tacctl::bundle::archive::{self, Action, ArchiveError, DirAction, FileRule, Options, Rules};
use tacctl_fuzz::{Scratch, stored_frames};

static SCRATCH: LazyLock<Scratch> = LazyLock::new(|| Scratch::new("bundle_archive"));

/// Rules that send every file where the input's flags say: to disk (custom
/// files keeping their modes, as in an import), into memory, or only
/// measured; directories are created when files go to disk.
struct Fuzzed {
    /// 0: disk, 1: memory, 2: measure, 3: by path (files/ to disk, the
    /// rest into memory, as the reader does).
    mode: u8,
}

impl Rules for Fuzzed {
    fn file(&mut self, path: &str, _size: u64, _mode: u32) -> Result<FileRule, ArchiveError> {
        let under_files = path.starts_with("files/");
        let action = match self.mode {
            0 => Action::Disk {
                keep_mode: under_files,
            },
            1 => Action::Memory,
            2 => Action::Measure,
            _ if under_files => Action::Disk { keep_mode: true },
            _ => Action::Memory,
        };
        Ok(FileRule {
            action,
            sha256: None,
        })
    }
    fn dir(&mut self, path: &str, _mode: u32) -> Result<DirAction, ArchiveError> {
        Ok(match self.mode {
            0 | 3 => DirAction::Create {
                keep_mode: path.starts_with("files/"),
            },
            _ => DirAction::Record,
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, tar)) = data.split_first() else {
        return;
    };
    let framed = stored_frames(tar);
    let dest = SCRATCH.fresh();
    let mut rules = Fuzzed {
        mode: (flags >> 2) & 3,
    };
    let options = Options {
        writeback: flags & 2 != 0,
    };
    let found = archive::extract(
        &framed[..],
        Some(dest),
        usize::from(flags & 1),
        &mut rules,
        options,
    );
    // The files written to disk: those the rules sent there.
    let on_disk: Option<Vec<(PathBuf, u64)>> = found.ok().map(|found| {
        found
            .files
            .iter()
            .filter(|f| match rules.mode {
                0 => true,
                3 => f.path.starts_with("files/"),
                _ => false,
            })
            .map(|f| (PathBuf::from(&f.path), f.size))
            .collect()
    });
    SCRATCH.check_and_clear(on_disk.as_deref());
});
