//! Changing several files at once, whole or not at all: snapshots, a journal
//! with one commit point, recovery after a crash, rollback and history.
//!
//! A change first copies the current version of every affected file into
//! `snapshots/<id>/`, then stages the new versions under `txn/staged/`, then
//! writes `txn/journal.yaml` atomically: that rename is the commit point.
//! Only then are the staged files renamed over the live ones. Whoever opens
//! the appliance next finishes a committed change (journal present: rename
//! what is still staged) or discards an uncommitted one (no journal: delete
//! `txn/`), so after any crash the appliance holds the whole old or the whole
//! new configuration.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::fsutil::{atomic_write, create_private_dir, sync_dir};
use super::{Appliance, ApplianceError};

/// Files to replace as one change: paths relative to the root, and their new bytes.
pub type FileChanges = Vec<(String, Vec<u8>)>;

const TXN_DIR: &str = "txn";
const JOURNAL: &str = "txn/journal.yaml";
const SNAPSHOTS: &str = "snapshots";
const HISTORY: &str = "history.yaml";

/// How many snapshots an appliance keeps. Every change takes one, so
/// without a bound a busy appliance fills its disk; after each change the
/// oldest beyond this many are removed (`tacctl rollback --list` shows what
/// is left).
pub const SNAPSHOTS_KEPT: usize = 50;

/// `txn/journal.yaml`: the commit point of a change.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    /// Format version, 1.
    pub version: u32,
    /// The snapshot taken before the change.
    pub snapshot: String,
    /// The files the change replaces, relative to the root.
    pub files: Vec<String>,
    /// Directories the change replaces whole (custom files), relative to the root.
    #[serde(default)]
    pub dirs: Vec<String>,
    /// Files the change deletes (restoring a snapshot in which they were absent).
    #[serde(default)]
    pub remove: Vec<String>,
}

/// What a snapshot holds (`snapshots/<id>/snapshot.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotMeta {
    /// Format version.
    pub version: u32,
    /// Its id (`<unix time>-<random>`).
    pub id: String,
    /// When it was taken.
    pub created_at: u64,
    /// Why (`import from esa1`, `rollback to ...`).
    pub reason: String,
    /// The files it holds, relative to the root; a file absent before the change is listed in `absent`.
    pub files: Vec<String>,
    /// Files that did not exist before the change.
    #[serde(default)]
    pub absent: Vec<String>,
    /// Directories replaced whole; the old tree is moved here when the change applies.
    #[serde(default)]
    pub dirs: Vec<String>,
}

/// One line of `tacctl history`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// When.
    pub time: u64,
    /// What (`import`, `rollback`).
    pub action: String,
    /// The source node, for imports.
    #[serde(default)]
    pub source: Option<String>,
    /// Components affected.
    pub components: Vec<String>,
    /// `applied`, `unchanged`, `rolled back: ...`, `failed: ...`.
    pub outcome: String,
    /// The snapshot taken before the change.
    #[serde(default)]
    pub snapshot: Option<String>,
}

/// `history.yaml`: the audit log.
#[derive(Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Format version, 1.
    pub version: u32,
    /// The records, oldest first.
    pub records: Vec<AuditRecord>,
}

/// The result of recovery at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Nothing was interrupted.
    Clean,
    /// A committed change was finished.
    RolledForward(String),
    /// An uncommitted change was discarded.
    Discarded,
}

static CRASH_AT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Makes the process abort when a change reaches the named point: used by the
/// crash tests to stop an import at every step (see `tests/bundle_cli.rs`).
/// Points: `snapshot`, `staged-N`, `journal`, `applied-N`.
pub fn set_crash_point(point: String) {
    let _ = CRASH_AT.set(point);
}

fn crash_point(name: &str) {
    if CRASH_AT.get().is_some_and(|p| p == name) {
        std::process::abort();
    }
}

fn rel_ok(rel: &str) -> bool {
    !rel.is_empty()
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

impl Appliance {
    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Finishes or discards an interrupted change. Call with the lock held.
    pub fn recover(&self) -> Result<Recovery, ApplianceError> {
        let txn = self.p(TXN_DIR);
        if !txn.exists() {
            return Ok(Recovery::Clean);
        }
        let journal = self.p(JOURNAL);
        if !journal.exists() {
            fs::remove_dir_all(&txn).map_err(ApplianceError::io(&txn))?;
            return Ok(Recovery::Discarded);
        }
        let text = fs::read_to_string(&journal).map_err(ApplianceError::io(&journal))?;
        let j: Journal = yaml_serde::from_str(&text).map_err(|e| ApplianceError::Io {
            path: journal.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        self.roll_forward(&j)?;
        Ok(Recovery::RolledForward(j.snapshot))
    }

    fn roll_forward(&self, j: &Journal) -> Result<(), ApplianceError> {
        for rel in &j.dirs {
            // Two idempotent renames: the live tree into the snapshot, then
            // the staged tree into place. A crash between them is finished here.
            let staged = self.p(TXN_DIR).join("staged").join(rel);
            if !staged.exists() {
                continue;
            }
            let live = self.p(rel);
            let kept = self.p(SNAPSHOTS).join(&j.snapshot).join(rel);
            if live.exists() {
                if kept.exists() {
                    fs::remove_dir_all(&live).map_err(ApplianceError::io(&live))?;
                } else {
                    if let Some(dir) = kept.parent() {
                        create_private_dir(dir).map_err(ApplianceError::io(dir))?;
                    }
                    fs::rename(&live, &kept).map_err(ApplianceError::io(&live))?;
                    // The snapshot's new entry, durable before the staged
                    // tree takes the live one's place.
                    if let Some(dir) = kept.parent() {
                        sync_dir(dir).map_err(ApplianceError::io(dir))?;
                    }
                }
            }
            crash_point("dir-saved");
            fs::rename(&staged, &live).map_err(ApplianceError::io(&live))?;
            sync_dir(&self.root).map_err(ApplianceError::io(&self.root))?;
        }
        for (i, rel) in j.files.iter().enumerate() {
            let staged = self.p(TXN_DIR).join("staged").join(rel);
            let live = self.p(rel);
            if staged.exists() {
                if let Some(dir) = live.parent() {
                    create_private_dir(dir).map_err(ApplianceError::io(dir))?;
                }
                fs::rename(&staged, &live).map_err(ApplianceError::io(&live))?;
                if let Some(dir) = live.parent() {
                    sync_dir(dir).map_err(ApplianceError::io(dir))?;
                }
            }
            crash_point(&format!("applied-{i}"));
        }
        for rel in &j.remove {
            let live = self.p(rel);
            match fs::remove_file(&live) {
                Ok(()) => {
                    if let Some(dir) = live.parent() {
                        sync_dir(dir).map_err(ApplianceError::io(dir))?;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(ApplianceError::Io {
                        path: live,
                        source: e,
                    });
                }
            }
        }
        let txn = self.p(TXN_DIR);
        fs::remove_dir_all(&txn).map_err(ApplianceError::io(&txn))?;
        sync_dir(&self.root).map_err(ApplianceError::io(&self.root))
    }

    /// Replaces the files in `changes` (relative path, new bytes) as one
    /// change, after snapshotting their current versions. Call with the lock
    /// held. Returns the snapshot id.
    pub fn commit(
        &self,
        changes: &[(String, Vec<u8>)],
        reason: &str,
        now: u64,
    ) -> Result<String, ApplianceError> {
        self.commit_with_dirs(changes, &[], &[], reason, now)
    }

    /// Like [`Appliance::commit`], and also replaces whole directories: each
    /// `(relative dir, tree)` moves `tree` (which must be on the appliance's
    /// file system, e.g. a staging directory inside the root) into place.
    pub fn commit_with_dirs(
        &self,
        changes: &[(String, Vec<u8>)],
        dirs: &[(String, PathBuf)],
        remove: &[String],
        reason: &str,
        now: u64,
    ) -> Result<String, ApplianceError> {
        if let Some(bad) = changes
            .iter()
            .map(|(r, _)| r)
            .chain(dirs.iter().map(|(r, _)| r))
            .chain(remove)
            .find(|rel| !rel_ok(rel))
        {
            return Err(ApplianceError::Io {
                path: self.p(bad),
                source: std::io::Error::other("not a relative path inside the appliance"),
            });
        }
        self.recover()?;
        let mut rnd = [0u8; 4];
        getrandom::fill(&mut rnd).map_err(|e| ApplianceError::Io {
            path: self.root.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        // `<time>-<sequence>-<random>`: snapshots taken in the same second
        // still sort in the order they were taken. The sequence goes on
        // from the highest one left, which pruning never removes.
        let seq = fs::read_dir(self.p(SNAPSHOTS))
            .map(|d| {
                d.filter_map(|e| {
                    let name = e.ok()?.file_name().into_string().ok()?;
                    name.split('-').nth(1)?.parse::<u64>().ok()
                })
                .max()
                .unwrap_or(0)
            })
            .unwrap_or(0)
            + 1;
        let id = format!("{now}-{seq:05}-{}", hex::encode(rnd));

        // 1. Snapshot the current versions.
        let snaps = self.p(SNAPSHOTS);
        create_private_dir(&snaps).map_err(ApplianceError::io(&snaps))?;
        let tmp = snaps.join(format!(".{id}.tmp"));
        create_private_dir(&tmp).map_err(ApplianceError::io(&tmp))?;
        let mut meta = SnapshotMeta {
            version: 1,
            id: id.clone(),
            created_at: now,
            reason: reason.to_owned(),
            files: Vec::new(),
            absent: Vec::new(),
            dirs: dirs.iter().map(|(rel, _)| rel.clone()).collect(),
        };
        for rel in changes.iter().map(|(rel, _)| rel).chain(remove) {
            match fs::read(self.p(rel)) {
                Ok(bytes) => {
                    let dest = tmp.join(rel);
                    if let Some(dir) = dest.parent() {
                        create_private_dir(dir).map_err(ApplianceError::io(dir))?;
                    }
                    atomic_write(&dest, &bytes).map_err(ApplianceError::io(&dest))?;
                    meta.files.push(rel.clone());
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => meta.absent.push(rel.clone()),
                Err(e) => {
                    return Err(ApplianceError::Io {
                        path: self.p(rel),
                        source: e,
                    });
                }
            }
        }
        let meta_text = yaml_serde::to_string(&meta).expect("snapshot metadata serialises");
        atomic_write(&tmp.join("snapshot.yaml"), meta_text.as_bytes())
            .map_err(ApplianceError::io(&tmp))?;
        let snap = snaps.join(&id);
        fs::rename(&tmp, &snap).map_err(ApplianceError::io(&snap))?;
        sync_dir(&snaps).map_err(ApplianceError::io(&snaps))?;
        crash_point("snapshot");

        // 2. Stage the new versions.
        let staged = self.p(TXN_DIR).join("staged");
        create_private_dir(&staged).map_err(ApplianceError::io(&staged))?;
        for (i, (rel, bytes)) in changes.iter().enumerate() {
            let dest = staged.join(rel);
            if let Some(dir) = dest.parent() {
                create_private_dir(dir).map_err(ApplianceError::io(dir))?;
            }
            atomic_write(&dest, bytes).map_err(ApplianceError::io(&dest))?;
            crash_point(&format!("staged-{i}"));
        }
        for (rel, tree) in dirs {
            let dest = staged.join(rel);
            if let Some(dir) = dest.parent() {
                create_private_dir(dir).map_err(ApplianceError::io(dir))?;
            }
            fs::rename(tree, &dest).map_err(ApplianceError::io(tree))?;
        }
        if !dirs.is_empty() {
            // The staged trees' files were written without fsync; make them
            // durable, in one call for the whole file system, before the
            // commit point can name them.
            let d = fs::File::open(&staged).map_err(ApplianceError::io(&staged))?;
            rustix::fs::syncfs(&d).map_err(|e| ApplianceError::Io {
                path: staged.clone(),
                source: e.into(),
            })?;
        } else {
            // Each staged file's own directory was synced as it was written,
            // but not the entries of the directories made above it: on a
            // file system without a journal, a power loss could unlink
            // `staged/config` while the journal survives, and rolling
            // forward would then apply only part of the change.
            for dir in staged_ancestors(&staged, changes.iter().map(|(rel, _)| rel.as_str())) {
                sync_dir(&dir).map_err(ApplianceError::io(&dir))?;
            }
        }

        // 3. The commit point.
        let journal = Journal {
            version: 1,
            snapshot: id.clone(),
            files: changes.iter().map(|(rel, _)| rel.clone()).collect(),
            dirs: dirs.iter().map(|(rel, _)| rel.clone()).collect(),
            remove: remove.to_vec(),
        };
        let text = yaml_serde::to_string(&journal).expect("the journal serialises");
        atomic_write(&self.p(JOURNAL), text.as_bytes())
            .map_err(ApplianceError::io(self.p(JOURNAL)))?;
        crash_point("journal");

        // 4. Apply.
        self.roll_forward(&journal)?;

        // The change is whole; old snapshots beyond the bound go. Failing
        // to remove one does not undo the change, and the next change tries
        // again, so that failure is not this change's.
        let _ = self.prune_snapshots(SNAPSHOTS_KEPT);
        Ok(id)
    }

    /// Removes all snapshots but the newest `keep`. Each goes in two steps,
    /// a rename to a hidden name (which [`Appliance::snapshots`] skips) and
    /// then the deletion, so a crash in between never leaves a half-deleted
    /// snapshot that a rollback could restore; hidden leftovers of earlier
    /// prunes are deleted too.
    pub(crate) fn prune_snapshots(&self, keep: usize) -> Result<(), ApplianceError> {
        let dir = self.p(SNAPSHOTS);
        let mut renamed = false;
        for old in self.snapshots()?.iter().skip(keep) {
            let from = dir.join(&old.id);
            let to = dir.join(format!(".{}.prune", old.id));
            fs::rename(&from, &to).map_err(ApplianceError::io(&from))?;
            renamed = true;
        }
        // Only a rename needs making durable (an fsync less per import
        // while fewer than `keep` snapshots exist).
        if renamed {
            sync_dir(&dir).map_err(ApplianceError::io(&dir))?;
        }
        for e in fs::read_dir(&dir).map_err(ApplianceError::io(&dir))? {
            let path = e.map_err(ApplianceError::io(&dir))?.path();
            if path.extension().is_some_and(|x| x == "prune") {
                fs::remove_dir_all(&path).map_err(ApplianceError::io(&path))?;
            }
        }
        Ok(())
    }

    /// Snapshots, newest first.
    pub fn snapshots(&self) -> Result<Vec<SnapshotMeta>, ApplianceError> {
        let dir = self.p(SNAPSHOTS);
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(out);
        };
        for e in entries {
            let e = e.map_err(ApplianceError::io(&dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = e.path().join("snapshot.yaml");
            let text = fs::read_to_string(&path).map_err(ApplianceError::io(&path))?;
            let meta: SnapshotMeta =
                yaml_serde::from_str(&text).map_err(|err| ApplianceError::Io {
                    path: path.clone(),
                    source: std::io::Error::other(err.to_string()),
                })?;
            out.push(meta);
        }
        out.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        Ok(out)
    }

    /// Copies the directories saved in snapshot `id` into fresh staging
    /// trees inside the root, ready for [`Appliance::commit_with_dirs`]. A
    /// directory that did not exist before comes back empty.
    pub fn snapshot_dirs(
        &self,
        meta: &SnapshotMeta,
    ) -> Result<Vec<(String, PathBuf)>, ApplianceError> {
        let mut out = Vec::new();
        for rel in &meta.dirs {
            let from = self.p(SNAPSHOTS).join(&meta.id).join(rel);
            let mut rnd = [0u8; 4];
            let _ = getrandom::fill(&mut rnd);
            let to = self.p(&format!(".restore-{}", hex::encode(rnd)));
            create_private_dir(&to).map_err(ApplianceError::io(&to))?;
            if from.exists() {
                copy_tree(&from, &to).map_err(ApplianceError::io(&from))?;
            }
            out.push((rel.clone(), to));
        }
        Ok(out)
    }

    /// The files of snapshot `id`, as a change that restores them.
    pub fn snapshot_contents(
        &self,
        id: &str,
    ) -> Result<(SnapshotMeta, FileChanges), ApplianceError> {
        let meta = self
            .snapshots()?
            .into_iter()
            .find(|m| m.id == id)
            .ok_or_else(|| ApplianceError::NoSnapshot(id.to_owned()))?;
        let dir = self.p(SNAPSHOTS).join(id);
        let mut files = Vec::new();
        for rel in &meta.files {
            let path = dir.join(rel);
            files.push((
                rel.clone(),
                fs::read(&path).map_err(ApplianceError::io(&path))?,
            ));
        }
        Ok((meta, files))
    }

    /// Appends an audit record. Call with the lock held.
    pub fn audit(&self, record: AuditRecord) -> Result<(), ApplianceError> {
        let path = self.p(HISTORY);
        let mut h: History = match fs::read_to_string(&path) {
            Ok(t) => yaml_serde::from_str(&t).map_err(|e| ApplianceError::Io {
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            })?,
            Err(_) => History {
                version: 1,
                records: Vec::new(),
            },
        };
        h.records.push(record);
        let text = yaml_serde::to_string(&h).expect("history serialises");
        atomic_write(&path, text.as_bytes()).map_err(ApplianceError::io(&path))
    }

    /// The audit records, oldest first.
    pub fn history(&self) -> Result<Vec<AuditRecord>, ApplianceError> {
        let path = self.p(HISTORY);
        match fs::read_to_string(&path) {
            Ok(t) => Ok(yaml_serde::from_str::<History>(&t)
                .map_err(|e| ApplianceError::Io {
                    path: path.clone(),
                    source: std::io::Error::other(e.to_string()),
                })?
                .records),
            Err(_) => Ok(Vec::new()),
        }
    }
}

/// Copies a tree of regular files and directories, keeping mode bits. The
/// directories are made private and take their modes only once everything
/// below them is copied, deepest first, so that a directory its owner may
/// not write is still filled.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut dirs = Vec::new();
    for entry in walkdir::WalkDir::new(from).min_depth(1) {
        let entry = entry.map_err(std::io::Error::other)?;
        let rel = entry
            .path()
            .strip_prefix(from)
            .map_err(std::io::Error::other)?;
        let dest = to.join(rel);
        let ft = entry.file_type();
        if ft.is_dir() {
            create_private_dir(&dest)?;
            let meta = entry.metadata().map_err(std::io::Error::other)?;
            dirs.push((dest, meta.permissions()));
        } else if ft.is_file() {
            fs::copy(entry.path(), &dest)?;
        }
    }
    for (dir, mode) in dirs.into_iter().rev() {
        fs::set_permissions(&dir, mode)?;
    }
    Ok(())
}

/// `staged` and every directory between it and the parents of the `files`
/// (relative paths) staged in it, deepest first; not the files' own parents,
/// which [`atomic_write`] syncs.
fn staged_ancestors<'a>(staged: &Path, files: impl Iterator<Item = &'a str>) -> Vec<PathBuf> {
    let mut dirs = std::collections::BTreeSet::new();
    for rel in files {
        let mut p = Path::new(rel).parent();
        // Skip the file's own directory, then take each one above it.
        p = p.and_then(Path::parent);
        while let Some(d) = p {
            dirs.insert(staged.join(d));
            p = d.parent();
        }
    }
    dirs.insert(staged.to_path_buf());
    let mut dirs: Vec<PathBuf> = dirs.into_iter().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directories_above_staged_files_are_synced_deepest_first() {
        let staged = Path::new("/r/txn/staged");
        let dirs = staged_ancestors(
            staged,
            ["config/jwt.yaml", "config/users.yaml", "a/b/c/f", "top"].into_iter(),
        );
        assert_eq!(
            dirs,
            [staged.join("a/b"), staged.join("a"), staged.to_path_buf(),]
        );
    }

    fn app() -> (tempfile::TempDir, Appliance) {
        let dir = tempfile::tempdir().unwrap();
        create_private_dir(&dir.path().join("config")).unwrap();
        let app = Appliance {
            root: dir.path().to_path_buf(),
            master: super::super::MasterKey::generate().unwrap(),
        };
        (dir, app)
    }

    #[test]
    fn commit_replaces_all_files_and_snapshots_the_old_ones() {
        let (_d, app) = app();
        atomic_write(&app.p("config/a.yaml"), b"old a").unwrap();
        let id = app
            .commit(
                &[
                    ("config/a.yaml".into(), b"new a".to_vec()),
                    ("config/b.yaml".into(), b"new b".to_vec()),
                ],
                "t",
                5,
            )
            .unwrap();
        assert_eq!(fs::read(app.p("config/a.yaml")).unwrap(), b"new a");
        assert_eq!(fs::read(app.p("config/b.yaml")).unwrap(), b"new b");
        assert!(!app.p(TXN_DIR).exists());
        let (meta, files) = app.snapshot_contents(&id).unwrap();
        assert_eq!(meta.absent, vec!["config/b.yaml".to_owned()]);
        assert_eq!(files, vec![("config/a.yaml".to_owned(), b"old a".to_vec())]);
    }

    #[test]
    fn old_snapshots_are_pruned_and_new_ones_still_sort_last() {
        let (_d, app) = app();
        let mut ids = Vec::new();
        // All in the same second: only the sequence orders them.
        for i in 0..SNAPSHOTS_KEPT + 3 {
            let change = [("config/a.yaml".to_owned(), format!("v{i}").into_bytes())];
            ids.push(app.commit(&change, "t", 7).unwrap());
        }
        let kept: Vec<String> = app.snapshots().unwrap().into_iter().map(|m| m.id).collect();
        let newest: Vec<String> = ids.iter().rev().take(SNAPSHOTS_KEPT).cloned().collect();
        assert_eq!(kept, newest);
        let leftovers: Vec<_> = fs::read_dir(app.p(SNAPSHOTS))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        // The oldest kept snapshot still restores what it saved.
        let (_, files) = app.snapshot_contents(kept.last().unwrap()).unwrap();
        assert_eq!(files, vec![("config/a.yaml".to_owned(), b"v2".to_vec())]);
        // A prune interrupted after its rename is finished by the next one,
        // and the hidden snapshot is never listed meanwhile.
        let victim = kept.last().unwrap().clone();
        let hidden = app.p(SNAPSHOTS).join(format!(".{victim}.prune"));
        fs::rename(app.p(SNAPSHOTS).join(&victim), &hidden).unwrap();
        assert!(app.snapshots().unwrap().iter().all(|m| m.id != victim));
        app.prune_snapshots(SNAPSHOTS_KEPT).unwrap();
        assert!(!hidden.exists());
    }

    #[test]
    fn an_uncommitted_change_is_discarded_and_a_committed_one_finished() {
        let (_d, app) = app();
        atomic_write(&app.p("config/a.yaml"), b"old").unwrap();
        // Crash before the commit point: staged files, no journal.
        create_private_dir(&app.p("txn/staged/config")).unwrap();
        atomic_write(&app.p("txn/staged/config/a.yaml"), b"new").unwrap();
        assert_eq!(app.recover().unwrap(), Recovery::Discarded);
        assert_eq!(fs::read(app.p("config/a.yaml")).unwrap(), b"old");
        // Crash after the commit point, halfway through the renames.
        create_private_dir(&app.p("txn/staged/config")).unwrap();
        atomic_write(&app.p("txn/staged/config/b.yaml"), b"new b").unwrap();
        atomic_write(&app.p("config/a.yaml"), b"new a").unwrap();
        let j = "version: 1\nsnapshot: s1\nfiles:\n- config/a.yaml\n- config/b.yaml\n";
        atomic_write(&app.p(JOURNAL), j.as_bytes()).unwrap();
        assert_eq!(app.recover().unwrap(), Recovery::RolledForward("s1".into()));
        assert_eq!(fs::read(app.p("config/a.yaml")).unwrap(), b"new a");
        assert_eq!(fs::read(app.p("config/b.yaml")).unwrap(), b"new b");
        assert!(!app.p(TXN_DIR).exists());
    }
}
