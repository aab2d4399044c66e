//! Changing several files at once, whole or not at all: snapshots, a journal
//! with one commit point, recovery after a crash, rollback and history.
//!
//! A change first copies the current version of every affected file into
//! a pending snapshot, `txn/snapshot/`, then stages the new versions under
//! `txn/staged/`, then writes `txn/journal.yaml` atomically: that rename is
//! the commit point. Only then does the snapshot join `snapshots/<id>/`,
//! the staged files replace the live ones, and the change's history record
//! join `history.yaml`. Whoever opens the appliance next finishes a
//! committed change (journal present: every step is idempotent and done
//! again as needed) or discards an uncommitted one (no journal: delete
//! `txn/`, the pending snapshot with it, so no snapshot of a change that
//! never happened is listed). After any crash the appliance holds the whole
//! old or the whole new configuration, and an applied change its record.
//!
//! The journal is checked before it is written and again before it is
//! acted on, by the same rules ([`Journal::check`]): it may only name
//! configuration files (`config/NAME.yaml`), the custom files' tree
//! (`files`) and a snapshot id of tacctl's making. A journal that breaks
//! them, or cannot be read, stops every command with an error naming it
//! and the way out, `tacctl recover --discard-journal`
//! ([`Appliance::discard_journal`]).

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::fsutil::{self, atomic_write, create_private_dir, sync_dir};
use super::{Appliance, ApplianceError};

/// Files to replace as one change: paths relative to the root, and their new bytes.
pub type FileChanges = Vec<(String, Vec<u8>)>;

const TXN_DIR: &str = "txn";
const JOURNAL: &str = "txn/journal.yaml";
/// The snapshot of a change not yet committed.
const PENDING: &str = "txn/snapshot";
/// What `txn/` becomes once its change is applied, until it is deleted.
const TXN_DONE: &str = ".txn-done";
pub(crate) const SNAPSHOTS: &str = "snapshots";
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
    /// The history record of the change, added to `history.yaml` once the
    /// change is applied (journals of tacctl 0.1 have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<AuditRecord>,
}

/// Whether `id` is a snapshot id as tacctl makes them:
/// `<unix time>-<sequence>-<8 hex digits>`.
pub fn is_snapshot_id(id: &str) -> bool {
    let mut parts = id.split('-');
    let digits =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    digits(parts.next())
        && digits(parts.next())
        && parts.next().is_some_and(|p| {
            p.len() == 8 && p.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
        && parts.next().is_none()
}

/// Whether `rel` is a configuration file a change may replace or delete:
/// `config/NAME.yaml`, NAME a plain file name.
fn is_config_file(rel: &str) -> bool {
    rel.strip_prefix("config/")
        .and_then(|n| n.strip_suffix(".yaml"))
        .is_some_and(|n| {
            !n.is_empty()
                && !n.starts_with('.')
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

impl Journal {
    /// The rules every journal obeys, checked before one is written and
    /// before one is acted on: version 1; a snapshot id of tacctl's
    /// making; files to replace or delete only under `config/`, each once;
    /// only `files` as a directory to replace.
    pub fn check(&self) -> Result<(), String> {
        if self.version != 1 {
            return Err(format!(
                "version {} (this tacctl writes and reads 1)",
                self.version
            ));
        }
        if !is_snapshot_id(&self.snapshot) {
            return Err(format!("{:?} is not a snapshot id", self.snapshot));
        }
        let mut seen = std::collections::BTreeSet::new();
        for rel in self.files.iter().chain(&self.remove) {
            if !is_config_file(rel) {
                return Err(format!(
                    "it names {rel:?}, which is not a configuration file (config/NAME.yaml)"
                ));
            }
            if !seen.insert(rel) {
                return Err(format!("it names {rel:?} twice"));
            }
        }
        for rel in &self.dirs {
            if rel != crate::component::FILES_DIR {
                return Err(format!(
                    "it names the directory {rel:?}; only files, the custom files' tree, is replaced whole"
                ));
            }
        }
        if self.dirs.len() > 1 {
            return Err("it names the custom files' tree twice".into());
        }
        Ok(())
    }
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
    RolledForward {
        /// The snapshot taken before it.
        snapshot: String,
        /// Steps that could not be done (its history record, say); the
        /// change itself is whole.
        warnings: Vec<String>,
    },
    /// An uncommitted change was discarded.
    Discarded,
}

impl Recovery {
    /// What recovery did, as a line for the administrator; `None` when
    /// there was nothing to do.
    pub fn notice(&self) -> Option<String> {
        match self {
            Recovery::Clean => None,
            Recovery::RolledForward { snapshot, warnings } => {
                let mut text = format!(
                    "a change interrupted after its commit point was finished (undo it with `tacctl rollback {snapshot}`)"
                );
                for w in warnings {
                    text.push_str("; ");
                    text.push_str(w);
                }
                Some(text)
            }
            Recovery::Discarded => Some(
                "a change interrupted before its commit point was discarded; the configuration is as it was before it".into(),
            ),
        }
    }
}

/// A change made: its snapshot, and any step after the commit point that
/// could not be done. The change is applied either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The snapshot taken before it: `tacctl rollback ID` undoes it.
    pub snapshot: String,
    /// What went wrong after the commit point, each with what to do.
    pub warnings: Vec<String>,
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

/// An I/O error (EIO) at the named point when the crash point is set to
/// `fail:NAME`: for the tests of failures after the commit point. Points:
/// `journal-dir-sync` (the journal renamed, its directory not synced),
/// `apply` (before the staged files are renamed into place), `history`
/// (appending the history record).
fn fail_point(name: &str) -> std::io::Result<()> {
    if CRASH_AT
        .get()
        .is_some_and(|p| p.strip_prefix("fail:") == Some(name))
    {
        return Err(std::io::Error::from_raw_os_error(libc::EIO));
    }
    Ok(())
}

impl Appliance {
    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Finishes or discards an interrupted change. Call with the lock held.
    /// A journal that cannot be read or breaks [`Journal::check`] is
    /// refused before anything is done ([`ApplianceError::JournalDamaged`]).
    pub fn recover(&self) -> Result<Recovery, ApplianceError> {
        let txn = self.p(TXN_DIR);
        let done = self.p(TXN_DONE);
        if done.exists() {
            // A finished change's leftovers.
            fs::remove_dir_all(&done).map_err(ApplianceError::io(&done))?;
        }
        if !txn.exists() {
            return Ok(Recovery::Clean);
        }
        let journal = self.p(JOURNAL);
        if !journal.exists() {
            fs::remove_dir_all(&txn).map_err(ApplianceError::io(&txn))?;
            sync_dir(&self.root).map_err(ApplianceError::io(&self.root))?;
            return Ok(Recovery::Discarded);
        }
        let j = self.read_journal()?;
        let warnings = self.roll_forward(&j)?;
        Ok(Recovery::RolledForward {
            snapshot: j.snapshot,
            warnings,
        })
    }

    fn read_journal(&self) -> Result<Journal, ApplianceError> {
        let path = self.p(JOURNAL);
        let damaged = |problem: String| ApplianceError::JournalDamaged {
            path: path.clone(),
            problem,
        };
        let bytes = fs::read(&path).map_err(|e| damaged(e.to_string()))?;
        let text = std::str::from_utf8(&bytes).map_err(|_| damaged("it is not UTF-8".into()))?;
        crate::component::check_whole(text, JOURNAL).map_err(|e| damaged(e.to_string()))?;
        let j: Journal = yaml_serde::from_str(text).map_err(|e| damaged(e.to_string()))?;
        j.check().map_err(damaged)?;
        Ok(j)
    }

    /// `tacctl recover --discard-journal`: gives up an interrupted change
    /// whose journal is damaged, keeping the configuration as it is now,
    /// which may hold part of the change. Its pending snapshot, if it was
    /// taken, is kept among the snapshots, so the configuration from before
    /// the change can still be restored; what was staged is deleted. The
    /// discarding is recorded in the history. Call with the lock held.
    /// Returns the snapshot kept, if any.
    pub fn discard_journal(&self, now: u64) -> Result<Option<String>, ApplianceError> {
        let txn = self.p(TXN_DIR);
        if !txn.exists() {
            return Ok(None);
        }
        let problem = match self.read_journal() {
            Ok(_) => "it was readable".to_owned(),
            Err(ApplianceError::JournalDamaged { problem, .. }) => problem,
            Err(e) => return Err(e),
        };
        let pending = self.p(PENDING);
        let meta: Option<SnapshotMeta> = fs::read_to_string(pending.join("snapshot.yaml"))
            .ok()
            .and_then(|t| yaml_serde::from_str(&t).ok())
            .filter(|m: &SnapshotMeta| is_snapshot_id(&m.id));
        let kept = match meta {
            Some(m) if !self.p(SNAPSHOTS).join(&m.id).exists() => {
                let to = self.p(SNAPSHOTS).join(&m.id);
                create_private_dir(&self.p(SNAPSHOTS))
                    .map_err(ApplianceError::io(self.p(SNAPSHOTS)))?;
                fs::rename(&pending, &to).map_err(ApplianceError::io(&pending))?;
                sync_dir(&self.p(SNAPSHOTS)).map_err(ApplianceError::io(self.p(SNAPSHOTS)))?;
                Some(m.id)
            }
            _ => None,
        };
        fs::remove_dir_all(&txn).map_err(ApplianceError::io(&txn))?;
        sync_dir(&self.root).map_err(ApplianceError::io(&self.root))?;
        self.audit(AuditRecord {
            time: now,
            action: "recover".into(),
            source: None,
            components: Vec::new(),
            outcome: format!(
                "discarded a damaged journal ({problem}); the configuration was kept as it was"
            ),
            snapshot: kept.clone(),
        })?;
        Ok(kept)
    }

    /// Finishes a committed change; every step can be done again after a
    /// crash. Returns what could not be done of the steps that do not
    /// decide the configuration (the history record).
    fn roll_forward(&self, j: &Journal) -> Result<Vec<String>, ApplianceError> {
        // The pending snapshot joins the others first: the live tree of
        // custom files moves into it next.
        let pending = self.p(PENDING);
        let snap = self.p(SNAPSHOTS).join(&j.snapshot);
        if pending.exists() {
            let snaps = self.p(SNAPSHOTS);
            create_private_dir(&snaps).map_err(ApplianceError::io(&snaps))?;
            if snap.exists() {
                fs::remove_dir_all(&pending).map_err(ApplianceError::io(&pending))?;
            } else {
                fs::rename(&pending, &snap).map_err(ApplianceError::io(&pending))?;
            }
            sync_dir(&snaps).map_err(ApplianceError::io(&snaps))?;
        }
        crash_point("snapshot-kept");
        for rel in &j.dirs {
            // Two idempotent renames: the live tree into the snapshot, then
            // the staged tree into place. A crash between them is finished here.
            let staged = self.p(TXN_DIR).join("staged").join(rel);
            if !staged.exists() {
                continue;
            }
            let live = self.p(rel);
            let kept = snap.join(rel);
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
        fail_point("apply").map_err(ApplianceError::io(self.p(TXN_DIR)))?;
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
        let mut warnings = Vec::new();
        if let Some(record) = &j.record {
            // Part of the change, but not of the configuration: a history
            // that cannot take it must not keep every later command from
            // running, so the change stays applied and says so.
            if let Err(e) = self.append_record(record) {
                warnings.push(format!(
                    "its history record could not be added ({e}); `tacctl history` will not show it"
                ));
            }
        }
        crash_point("recorded");
        // Done: `txn/` goes in one rename, so no crash can leave it without
        // its journal after the change was applied (which the next command
        // would take for a change never committed); the renamed leftovers
        // are deleted after, and by the next command if need be.
        let txn = self.p(TXN_DIR);
        let done = self.p(TXN_DONE);
        let _ = fs::remove_dir_all(&done);
        fs::rename(&txn, &done).map_err(ApplianceError::io(&txn))?;
        sync_dir(&self.root).map_err(ApplianceError::io(&self.root))?;
        let _ = fs::remove_dir_all(&done);
        Ok(warnings)
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
        Ok(self
            .commit_with_dirs(changes, &[], &[], reason, None, now)?
            .snapshot)
    }

    /// Like [`Appliance::commit`], and also replaces whole directories (each
    /// `(relative dir, tree)` moves `tree`, which must be on the appliance's
    /// file system, e.g. a scratch directory, into place), deletes the files
    /// in `remove`, and adds `record` (its snapshot filled in) to the
    /// history as part of the change. Once the journal is written the
    /// change is applied: what fails after that point is returned as a
    /// warning, and the next command finishes it.
    pub fn commit_with_dirs(
        &self,
        changes: &[(String, Vec<u8>)],
        dirs: &[(String, PathBuf)],
        remove: &[String],
        reason: &str,
        record: Option<AuditRecord>,
        now: u64,
    ) -> Result<Committed, ApplianceError> {
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
        let journal = Journal {
            version: 1,
            snapshot: id.clone(),
            files: changes.iter().map(|(rel, _)| rel.clone()).collect(),
            dirs: dirs.iter().map(|(rel, _)| rel.clone()).collect(),
            remove: remove.to_vec(),
            record: record.map(|r| AuditRecord {
                snapshot: Some(id.clone()),
                ..r
            }),
        };
        // The rules recovery holds a journal to, before anything is done.
        journal.check().map_err(|problem| ApplianceError::Io {
            path: self.p(JOURNAL),
            source: std::io::Error::other(format!(
                "refusing a change that breaks the journal's rules: {problem}"
            )),
        })?;

        let txn = self.p(TXN_DIR);
        // Steps 1 and 2 leave nothing behind when they fail (a full disk,
        // say): before the commit point, nothing of the change exists.
        let prepared = (|| -> Result<(), ApplianceError> {
            create_private_dir(&txn).map_err(ApplianceError::io(&txn))?;
            // 1. Snapshot the current versions, pending until the commit point.
            let tmp = self.p(PENDING);
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
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        meta.absent.push(rel.clone())
                    }
                    Err(e) => {
                        return Err(ApplianceError::Io {
                            path: self.p(rel),
                            source: e,
                        });
                    }
                }
            }
            let meta_text = crate::component::mark_whole(
                &yaml_serde::to_string(&meta).expect("snapshot metadata serialises"),
                "snapshot.yaml",
            );
            let meta_path = tmp.join("snapshot.yaml");
            atomic_write(&meta_path, meta_text.as_bytes())
                .map_err(ApplianceError::io(&meta_path))?;
            sync_dir(&txn).map_err(ApplianceError::io(&txn))?;
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
            Ok(())
        })();
        if let Err(e) = prepared {
            let _ = fs::remove_dir_all(&txn);
            let _ = sync_dir(&self.root);
            return Err(e);
        }

        // 3. The commit point.
        let text = crate::component::mark_whole(
            &yaml_serde::to_string(&journal).expect("the journal serialises"),
            JOURNAL,
        );
        let written = fsutil::write_then_rename(&self.p(JOURNAL), text.as_bytes()).and_then(|()| {
            fail_point("journal-dir-sync").map_err(|source| fsutil::WriteFailure {
                renamed: true,
                source,
            })
        });
        if let Err(e) = written {
            if !e.renamed {
                // Not committed: nothing of the change is in force.
                let _ = fs::remove_dir_all(&txn);
                return Err(ApplianceError::Io {
                    path: self.p(JOURNAL),
                    source: e.source,
                });
            }
            // The journal is in place, but its directory could not be
            // synced: committed, though a power loss might yet undo it.
            let mut warnings = vec![format!(
                "the change is applied, but making its journal durable failed ({}); check the disk holding {}",
                e.source,
                self.root.display()
            )];
            warnings.extend(self.finish(&journal));
            return Ok(Committed {
                snapshot: id,
                warnings,
            });
        }
        crash_point("journal");

        // 4. Apply.
        let warnings = self.finish(&journal);
        Ok(Committed {
            snapshot: id,
            warnings,
        })
    }

    /// Applies a committed change and prunes old snapshots. Past the commit
    /// point nothing is an error: a step that fails is left for the next
    /// command's recovery, and said.
    fn finish(&self, journal: &Journal) -> Vec<String> {
        let mut warnings = match self.roll_forward(journal) {
            Ok(w) => w,
            Err(e) => vec![format!(
                "the change is committed, but finishing it failed ({e}); the next tacctl command finishes it (`tacctl status` will)"
            )],
        };
        // The change is whole; old snapshots beyond the bound go. Failing
        // to remove one does not undo the change, and the next change tries
        // again, so that failure is not this change's.
        if warnings.is_empty() {
            let _ = self.prune_snapshots(SNAPSHOTS_KEPT);
        }
        warnings.shrink_to_fit();
        warnings
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
            let damaged = |problem: String| ApplianceError::Damaged {
                path: path.clone(),
                problem,
            };
            crate::component::check_whole(&text, "snapshot.yaml")
                .map_err(|e| damaged(e.to_string()))?;
            let meta: SnapshotMeta =
                yaml_serde::from_str(&text).map_err(|e| damaged(e.to_string()))?;
            out.push(meta);
        }
        out.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        Ok(out)
    }

    /// Copies the directories saved in snapshot `id` into fresh scratch
    /// directories of the appliance, ready for
    /// [`Appliance::commit_with_dirs`]; each is removed when dropped, unless
    /// the commit moved it into place. A directory that did not exist
    /// before comes back empty.
    pub fn snapshot_dirs(
        &self,
        meta: &SnapshotMeta,
    ) -> Result<Vec<(String, super::HeldDir)>, ApplianceError> {
        let mut out = Vec::new();
        for rel in &meta.dirs {
            let from = self.p(SNAPSHOTS).join(&meta.id).join(rel);
            let to = self.scratch("restore")?;
            if from.exists() {
                copy_tree(&from, to.path()).map_err(ApplianceError::io(&from))?;
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
        let mut h = self.read_history()?;
        h.records.push(record);
        self.write_history(&h)
    }

    /// Appends `record` unless the history has it already (the same action
    /// for the same snapshot): rolling a change forward twice records it once.
    fn append_record(&self, record: &AuditRecord) -> Result<(), ApplianceError> {
        fail_point("history").map_err(ApplianceError::io(self.p(HISTORY)))?;
        let mut h = self.read_history()?;
        if h.records
            .iter()
            .any(|r| r.snapshot == record.snapshot && r.action == record.action)
        {
            return Ok(());
        }
        h.records.push(record.clone());
        self.write_history(&h)
    }

    fn read_history(&self) -> Result<History, ApplianceError> {
        let path = self.p(HISTORY);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(History {
                    version: 1,
                    records: Vec::new(),
                });
            }
            Err(e) => return Err(ApplianceError::Io { path, source: e }),
        };
        let damaged = |problem: String| ApplianceError::Damaged {
            path: path.clone(),
            problem,
        };
        crate::component::check_whole(&text, HISTORY).map_err(|e| damaged(e.to_string()))?;
        yaml_serde::from_str(&text).map_err(|e| damaged(e.to_string()))
    }

    fn write_history(&self, h: &History) -> Result<(), ApplianceError> {
        let path = self.p(HISTORY);
        let text = crate::component::mark_whole(
            &yaml_serde::to_string(h).expect("history serialises"),
            HISTORY,
        );
        atomic_write(&path, text.as_bytes()).map_err(ApplianceError::io(&path))
    }

    /// The audit records, oldest first.
    pub fn history(&self) -> Result<Vec<AuditRecord>, ApplianceError> {
        Ok(self.read_history()?.records)
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
        let j =
            "version: 1\nsnapshot: 5-00001-0123abcd\nfiles:\n- config/a.yaml\n- config/b.yaml\n";
        atomic_write(&app.p(JOURNAL), j.as_bytes()).unwrap();
        assert_eq!(
            app.recover().unwrap(),
            Recovery::RolledForward {
                snapshot: "5-00001-0123abcd".into(),
                warnings: Vec::new()
            }
        );
        assert_eq!(fs::read(app.p("config/a.yaml")).unwrap(), b"new a");
        assert_eq!(fs::read(app.p("config/b.yaml")).unwrap(), b"new b");
        assert!(!app.p(TXN_DIR).exists());
    }

    #[test]
    fn recovery_refuses_a_journal_that_names_paths_outside_the_configuration() {
        let (d, app) = app();
        // What a garbled journal could otherwise move, delete or replace.
        let outside = d.path().parent().unwrap().join(format!(
            "outside-{}",
            d.path().file_name().unwrap().to_string_lossy()
        ));
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("x"), b"keep").unwrap();
        atomic_write(&app.p("config/a.yaml"), b"live").unwrap();
        atomic_write(&app.p("master.key"), b"key").unwrap();
        let staged = app.p("txn/staged");
        create_private_dir(&staged.join("config")).unwrap();
        atomic_write(&staged.join("config/a.yaml"), b"staged").unwrap();
        let x = outside.join("x").display().to_string();
        let cases = [
            "files: [../x]".to_owned(),
            format!("files: [config/a.yaml]\nremove: [{x}]"),
            format!("files: []\ndirs: [{}]", outside.display()),
            "files: [master.key]".into(),
            "files: [config/../master.key]".into(),
            "files: [config/a.yaml, config/a.yaml]".into(),
            "files: []\ndirs: [config]".into(),
        ];
        for case in &cases {
            for snapshot in ["5-00001-0123abcd", "../../evil"] {
                let j = format!("version: 1\nsnapshot: {snapshot}\n{case}\n");
                atomic_write(&app.p(JOURNAL), j.as_bytes()).unwrap();
                let err = app.recover().unwrap_err();
                assert!(
                    matches!(&err, ApplianceError::JournalDamaged { .. }),
                    "{case}, snapshot {snapshot}: {err}"
                );
                let text = err.to_string();
                assert!(text.contains("txn/journal.yaml"), "{text}");
                assert!(text.contains("tacctl recover --discard-journal"), "{text}");
                // Nothing moved, deleted or replaced, inside or outside.
                assert_eq!(fs::read(outside.join("x")).unwrap(), b"keep");
                assert_eq!(fs::read(app.p("config/a.yaml")).unwrap(), b"live");
                assert_eq!(fs::read(app.p("master.key")).unwrap(), b"key");
                assert!(staged.join("config/a.yaml").exists());
            }
        }
        // Not YAML, or cut short, is refused the same way.
        for text in ["\u{0}\u{1}garbage: [", "version: 1\nsnap"] {
            atomic_write(&app.p(JOURNAL), text.as_bytes()).unwrap();
            assert!(matches!(
                app.recover(),
                Err(ApplianceError::JournalDamaged { .. })
            ));
        }
        // The way out keeps the configuration as it is.
        assert_eq!(app.discard_journal(9).unwrap(), None);
        assert!(!app.p(TXN_DIR).exists());
        assert_eq!(fs::read(app.p("config/a.yaml")).unwrap(), b"live");
        let h = app.history().unwrap();
        assert_eq!(h.last().unwrap().action, "recover");
        assert_eq!(app.recover().unwrap(), Recovery::Clean);
        let _ = fs::remove_dir_all(&outside);
    }

    #[test]
    fn a_change_killed_before_its_commit_point_leaves_no_snapshot_behind() {
        let (_d, app) = app();
        atomic_write(&app.p("config/a.yaml"), b"old").unwrap();
        // The snapshot is pending under txn/ until the journal is written.
        create_private_dir(&app.p(PENDING)).unwrap();
        let meta = SnapshotMeta {
            version: 1,
            id: "5-00001-0123abcd".into(),
            created_at: 5,
            reason: "t".into(),
            files: vec!["config/a.yaml".into()],
            absent: Vec::new(),
            dirs: Vec::new(),
        };
        atomic_write(
            &app.p(PENDING).join("snapshot.yaml"),
            yaml_serde::to_string(&meta).unwrap().as_bytes(),
        )
        .unwrap();
        assert!(app.snapshots().unwrap().is_empty());
        assert_eq!(app.recover().unwrap(), Recovery::Discarded);
        assert!(app.snapshots().unwrap().is_empty());
        // A committed change's snapshot joins the others, and its record
        // the history, once.
        let record = AuditRecord {
            time: 5,
            action: "import".into(),
            source: None,
            components: vec!["users".into()],
            outcome: "applied".into(),
            snapshot: None,
        };
        let c = app
            .commit_with_dirs(
                &[("config/a.yaml".into(), b"new".to_vec())],
                &[],
                &[],
                "t",
                Some(record),
                5,
            )
            .unwrap();
        assert!(c.warnings.is_empty());
        assert_eq!(app.snapshots().unwrap()[0].id, c.snapshot);
        let h = app.history().unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].snapshot.as_deref(), Some(c.snapshot.as_str()));
    }

    #[test]
    fn an_unreadable_history_does_not_undo_or_block_an_applied_change() {
        let (_d, app) = app();
        atomic_write(&app.p(HISTORY), b"# tacctl: this file ends with the line \"...\"; keep it when editing\nversion: 1\nrec").unwrap();
        let record = AuditRecord {
            time: 5,
            action: "import".into(),
            source: None,
            components: vec!["users".into()],
            outcome: "applied".into(),
            snapshot: None,
        };
        let c = app
            .commit_with_dirs(
                &[("config/a.yaml".into(), b"new".to_vec())],
                &[],
                &[],
                "t",
                Some(record),
                5,
            )
            .unwrap();
        assert_eq!(fs::read(app.p("config/a.yaml")).unwrap(), b"new");
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("history record could not be added"));
        assert!(
            !app.p(TXN_DIR).exists(),
            "nothing left for the next command"
        );
        assert!(matches!(app.history(), Err(ApplianceError::Damaged { .. })));
    }
}
