//! Private working directories inside the appliance root, under
//! `scratch/`: where an import stages the custom files it will apply, the
//! server spools an uploaded bundle, and a rollback copies the tree it
//! restores. Each is 0700 and held by its process ([`HeldDir`]) while in
//! use; whatever a crashed process left behind is removed by the next
//! command that takes the appliance lock ([`Appliance::sweep`]), together
//! with the temporary files of interrupted atomic writes and the working
//! directories of older tacctl versions, which kept them in the root.
//! Scratch directories live in the root so that what they stage can be
//! renamed into place on the same file system.

use std::fs;
use std::path::Path;

use super::fsutil::{HeldDir, sweep_held};
use super::{Appliance, ApplianceError};

/// The directory of scratch directories under the root.
pub const SCRATCH_DIR: &str = "scratch";

/// Where tacctl 0.1 kept its working directories, in the root itself:
/// import staging, server uploads, rollback copies.
const LEGACY_PREFIXES: [&str; 3] = [".import-", ".upload-", ".restore-"];

/// Whether `name` is the temporary file of an atomic write that never
/// reached its rename: `.<name>.tmp-<12 hex digits>`.
fn is_write_leftover(name: &str) -> bool {
    name.starts_with('.')
        && name
            .rsplit_once(".tmp-")
            .is_some_and(|(_, hex)| hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Appliance {
    /// A new scratch directory for `purpose` (`import`, `upload`,
    /// `restore`), removed when the value is dropped.
    pub fn scratch(&self, purpose: &str) -> Result<HeldDir, ApplianceError> {
        let parent = self.root.join(SCRATCH_DIR);
        HeldDir::create(&parent, &format!("{purpose}-"))
            .map(HeldDir::tidy_parent)
            .map_err(ApplianceError::io(parent))
    }

    /// Removes the scratch directories nobody holds and the working
    /// directories of older versions: what crashed commands left behind.
    /// Safe without the lock, since a directory in use is held. Returns
    /// the places cleaned; what cannot be removed is left for the next time.
    pub fn sweep_unheld(&self) -> Vec<String> {
        let mut removed = Vec::new();
        let mut note = |what: &Path, n: std::io::Result<usize>| {
            if n.is_ok_and(|n| n > 0) {
                removed.push(what.display().to_string());
            }
        };
        let scratch = self.root.join(SCRATCH_DIR);
        note(&scratch, sweep_held(&scratch, ""));
        // Left empty, it goes too: a command leaves no trace of its work.
        let _ = fs::remove_dir(&scratch);
        for prefix in LEGACY_PREFIXES {
            note(
                &self.root.join(format!("{prefix}*")),
                sweep_held(&self.root, prefix),
            );
        }
        // A finished change's `txn/`, renamed and not yet deleted when its
        // command died: nothing in it is in force or needed.
        let done = self.root.join(".txn-done");
        if done.exists() && fs::remove_dir_all(&done).is_ok() {
            removed.push(done.display().to_string());
        }
        removed
    }

    /// [`Appliance::sweep_unheld`], then the temporary files of atomic
    /// writes in the root and `config/` and snapshots that were never
    /// finished. Call with the lock held: every writer of those holds it,
    /// so none of them is in use.
    pub fn sweep(&self) -> Vec<String> {
        let mut removed = self.sweep_unheld();
        for dir in [self.root.clone(), self.root.join("config")] {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if is_write_leftover(&name) && fs::remove_file(e.path()).is_ok() {
                    removed.push(e.path().display().to_string());
                }
            }
        }
        // `.<id>.tmp`: a snapshot being written when its command died.
        let snaps = self.root.join(super::txn::SNAPSHOTS);
        if let Ok(entries) = fs::read_dir(&snaps) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.')
                    && name.ends_with(".tmp")
                    && fs::remove_dir_all(e.path()).is_ok()
                {
                    removed.push(e.path().display().to_string());
                }
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_leftovers_are_recognised_by_their_exact_shape() {
        assert!(is_write_leftover(".jwt.yaml.tmp-0123456789ab"));
        assert!(!is_write_leftover("jwt.yaml.tmp-0123456789ab"));
        assert!(!is_write_leftover(".jwt.yaml.tmp-0123"));
        assert!(!is_write_leftover(".lock"));
        assert!(!is_write_leftover("history.yaml"));
    }
}
