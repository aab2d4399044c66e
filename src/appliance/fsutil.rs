//! Atomic, private file writes, and private working directories that are
//! known to be in use while their owner lives.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Creates a directory (and missing parents) with mode 0700, and makes sure an
/// existing one is 0700.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
}

/// Writes `bytes` to `path` atomically with mode 0600: a temporary file in the
/// same directory, fsync, rename over the target, fsync the directory.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut nonce = [0u8; 6];
    getrandom::fill(&mut nonce).map_err(std::io::Error::other)?;
    let tmp = dir.join(format!(".{name}.tmp-{}", hex::encode(nonce)));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Why [`write_then_rename`] failed, and whether the file was already
/// in place when it did.
#[derive(Debug)]
pub struct WriteFailure {
    /// The rename happened: the new content is visible, only its
    /// durability is in doubt.
    pub renamed: bool,
    /// What the system said.
    pub source: std::io::Error,
}

/// [`atomic_write`] telling a failure before the rename (nothing changed)
/// from one after it (the new file is in place): for a commit point.
pub fn write_then_rename(path: &Path, bytes: &[u8]) -> Result<(), WriteFailure> {
    let before = |source| WriteFailure {
        renamed: false,
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut nonce = [0u8; 6];
    getrandom::fill(&mut nonce).map_err(|e| before(std::io::Error::other(e)))?;
    let tmp = dir.join(format!(".{name}.tmp-{}", hex::encode(nonce)));
    let written = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(before(e));
    }
    sync_dir(dir).map_err(|source| WriteFailure {
        renamed: true,
        source,
    })
}

/// fsyncs a directory so a rename inside it is durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// A private directory (0700) held by this process: an exclusive `flock`
/// on the directory itself lasts as long as the value, and the kernel
/// releases it when the process dies, however it dies. `sweep_held`
/// (behind [`Appliance::sweep_unheld`](super::Appliance::sweep_unheld))
/// removes the directories nobody holds any more: what a crashed process
/// left behind. Dropping the value removes the directory and its content.
#[derive(Debug)]
pub struct HeldDir {
    path: PathBuf,
    held: Option<fs::File>,
    tidy_parent: bool,
}

impl HeldDir {
    /// Creates `parent/<prefix><random>` 0700 and holds it; `parent` is
    /// created 0700 when missing (an existing one keeps its mode).
    pub fn create(parent: &Path, prefix: &str) -> std::io::Result<Self> {
        loop {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
            let mut nonce = [0u8; 8];
            getrandom::fill(&mut nonce).map_err(std::io::Error::other)?;
            let path = parent.join(format!("{prefix}{}", hex::encode(nonce)));
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {}
                // Taken, or the parent was removed as empty meanwhile.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotFound
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            }
            let dir = fs::File::open(&path)?;
            // A sweeper may have found the new directory unheld and taken
            // it in the moment before this lock: then it removes it, and
            // this one starts over with another name.
            match dir.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => continue,
                Err(fs::TryLockError::Error(e)) => return Err(e),
            }
            let held = rustix::fs::fstat(&dir)?;
            match fs::symlink_metadata(&path) {
                Ok(now)
                    if std::os::unix::fs::MetadataExt::ino(&now) == held.st_ino
                        && held.st_nlink > 0 =>
                {
                    return Ok(Self {
                        path,
                        held: Some(dir),
                        tidy_parent: false,
                    });
                }
                _ => continue,
            }
        }
    }

    /// Removes the parent too, when dropping leaves it empty: for a
    /// parent that only holds such directories.
    pub fn tidy_parent(mut self) -> Self {
        self.tidy_parent = true;
        self
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the directory when the value is dropped (it has been moved
    /// into place under another name); the hold ends.
    pub fn keep(mut self) {
        self.held = None;
    }
}

impl Drop for HeldDir {
    /// Removes the directory, and with [`HeldDir::tidy_parent`] its parent
    /// when that is left empty, so that a command leaves no trace of its
    /// work.
    fn drop(&mut self) {
        if self.held.take().is_some() {
            let _ = fs::remove_dir_all(&self.path);
        }
        if self.tidy_parent
            && let Some(parent) = self.path.parent()
        {
            let _ = fs::remove_dir(parent);
        }
    }
}

/// Removes every directory under `parent` whose name starts with `prefix`
/// and that no process holds ([`HeldDir`]); returns how many it removed.
/// Each is removed while this process holds it, so its owner cannot have
/// it back meanwhile.
pub fn sweep_held(parent: &Path, prefix: &str) -> std::io::Result<usize> {
    let entries = match fs::read_dir(parent) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for e in entries {
        let e = e?;
        if !e.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let path = e.path();
        if !e.file_type()?.is_dir() {
            fs::remove_file(&path)?;
            removed += 1;
            continue;
        }
        let Ok(dir) = fs::File::open(&path) else {
            continue;
        };
        if dir.try_lock().is_ok() {
            fs::remove_dir_all(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.yaml");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left behind"
        );
    }

    #[test]
    fn a_held_directory_is_never_swept_and_an_abandoned_one_is() {
        let parent = tempfile::tempdir().unwrap();
        let held = HeldDir::create(parent.path(), "work-").unwrap();
        fs::write(held.path().join("secret"), b"x").unwrap();
        assert_eq!(
            fs::metadata(held.path()).unwrap().permissions().mode() & 0o777,
            0o700
        );
        // Left behind by a process that died: no one holds it.
        let left = parent.path().join("work-0123");
        fs::create_dir(&left).unwrap();
        fs::write(left.join("secret"), b"y").unwrap();
        let other = parent.path().join("other");
        fs::create_dir(&other).unwrap();
        assert_eq!(sweep_held(parent.path(), "work-").unwrap(), 1);
        assert!(held.path().join("secret").exists(), "a held one stays");
        assert!(!left.exists(), "an abandoned one goes");
        assert!(other.exists(), "other names are not touched");
        let path = held.path().to_owned();
        drop(held);
        assert!(!path.exists(), "dropping removes it");
        let kept = HeldDir::create(parent.path(), "work-").unwrap();
        let path = kept.path().to_owned();
        kept.keep();
        assert!(path.exists());
    }
}
