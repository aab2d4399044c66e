//! Custom files in a bundle: everything under the appliance's `files/`
//! directory (CA bundles, policy documents, scripts), walked with walkdir,
//! regular files and directories only, mode bits kept. The manifest lists
//! every file with its size, SHA-256 and mode, and every directory; the
//! archive carries the directories' modes, which the extraction applies
//! (see [`crate::bundle::archive::dir_mode`]). An import replaces the whole
//! tree in the same journaled change as the rest; its plan names every
//! file and directory added, changed or removed.
//!
//! Every path is checked against the bundle format's rules
//! ([`crate::bundle::archive::check_path`]) when it is listed, so an
//! export never makes a bundle that an import would refuse.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{Adapter, Applied, Change, ExportCx, Exported, ImportCx, Incoming, Planned, Result};
use crate::appliance::ApplianceError;
use crate::bundle::archive::{check_path, dir_mode};
use crate::bundle::{ComponentPlan, Opened, Tree as StagedTree};
use crate::component::{Component, FILES_DIR};
use crate::ops::OpsError;

/// One entry under `files/`, as listed and hashed before an export.
pub struct Listed {
    /// What the bundle says of it.
    pub item: crate::bundle::TreeItem,
    /// Where it is.
    pub source: PathBuf,
}

/// The custom files component's adapter.
pub struct Files;

impl Adapter for Files {
    /// Lists and hashes the tree, so that a link under `files/` or a path
    /// no bundle may hold is refused before the key derivation, and the
    /// manifest that goes first has every checksum.
    fn export(&self, cx: &ExportCx<'_>) -> Result<Exported> {
        Ok(Exported::Tree(list(&cx.ops.app.root().join(FILES_DIR))?))
    }

    fn open(&self, opened: &Opened) -> Result<Box<dyn Incoming>> {
        let tree = &opened.tree;
        let new = tree
            .files
            .iter()
            .map(|f| {
                let rel = f.path.strip_prefix("files/").unwrap_or(&f.path).to_owned();
                (rel, (f.sha256.clone(), f.mode & 0o777, f.size))
            })
            .collect();
        let new_dirs = tree
            .dirs
            .iter()
            .map(|d| {
                let rel = d.path.strip_prefix("files/").unwrap_or(&d.path).to_owned();
                (rel, dir_mode(d.mode) & 0o1777)
            })
            .collect();
        Ok(Box::new(IncomingFiles {
            new,
            new_dirs,
            staged: staged_of(tree),
        }))
    }
}

fn staged_of(tree: &StagedTree) -> Option<PathBuf> {
    tree.staged.clone()
}

/// The custom files a bundle carries: each file's checksum, permission
/// bits and size, each directory's mode as the extraction gives it, and
/// the staged tree for an import.
struct IncomingFiles {
    new: BTreeMap<String, (String, u32, u64)>,
    new_dirs: BTreeMap<String, u32>,
    staged: Option<PathBuf>,
}

impl Incoming for IncomingFiles {
    fn plan(&self, cx: &ImportCx<'_>) -> Result<Planned> {
        let live = cx.ops.app.root().join(FILES_DIR);
        let Tree {
            files: cur,
            dirs: cur_dirs,
        } = walk(&live, &self.new).map_err(ApplianceError::io(&live))?;
        let mut changes = Vec::new();
        for (path, (sha, mode, _)) in &self.new {
            match cur.get(path) {
                None => changes.push(Change {
                    what: "added".into(),
                    detail: format!("{path} ({mode:o})"),
                }),
                Some((s2, m2)) if s2 != sha || m2 != mode => changes.push(Change {
                    what: "changed".into(),
                    detail: path.clone(),
                }),
                Some(_) => {}
            }
        }
        for path in cur.keys().filter(|p| !self.new.contains_key(*p)) {
            changes.push(Change {
                what: "removed".into(),
                detail: path.clone(),
            });
        }
        // Directories, empty ones included, with the modes the extraction
        // gives them.
        for (path, mode) in &self.new_dirs {
            match cur_dirs.get(path) {
                None => changes.push(Change {
                    what: "added".into(),
                    detail: format!("{path}/ ({mode:o})"),
                }),
                Some(was) if was != mode => changes.push(Change {
                    what: "changed".into(),
                    detail: format!("{path}/ ({was:o} to {mode:o})"),
                }),
                Some(_) => {}
            }
        }
        for path in cur_dirs.keys().filter(|p| !self.new_dirs.contains_key(*p)) {
            changes.push(Change {
                what: "removed".into(),
                detail: format!("{path}/"),
            });
        }
        Ok(ComponentPlan::new(Component::Files.name(), changes).into())
    }

    fn apply(&self, plan: &ComponentPlan, _cx: &ImportCx<'_>) -> Result<Applied> {
        let mut applied = Applied::default();
        if plan.changes.is_empty() {
            return Ok(applied);
        }
        let tree = self
            .staged
            .clone()
            .expect("a bundle opened for an import stages its custom files");
        // A bundle whose tree is empty stages nothing: the empty directory
        // is what replaces the live tree.
        crate::appliance::create_private_dir(&tree).map_err(ApplianceError::io(&tree))?;
        applied.dirs.push((FILES_DIR.to_owned(), tree));
        Ok(applied)
    }
}

/// What is under `base`, in archive order, each file hashed: regular files
/// and directories only, at paths a bundle may hold.
fn list(base: &Path) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    if !base.exists() {
        return Ok(out);
    }
    let io = |path: &Path| ApplianceError::io(path.to_owned());
    let mut case_seen = std::collections::HashMap::new();
    for item in walkdir::WalkDir::new(base).min_depth(1).sort_by_file_name() {
        let item = item.map_err(|e| {
            let path = e.path().unwrap_or(base).to_owned();
            OpsError::from(ApplianceError::Io {
                path,
                source: std::io::Error::other(e),
            })
        })?;
        let rel = item
            .path()
            .strip_prefix(base)
            .expect("walkdir stays under its root");
        let Some(rel) = rel.to_str() else {
            return Err(OpsError::Invalid(format!(
                "{} has a name that is not UTF-8; rename it",
                item.path().display()
            )));
        };
        let path = format!("{FILES_DIR}/{rel}");
        check_path(path.as_bytes()).map_err(|e| {
            OpsError::Invalid(format!(
                "{e} (custom files must obey the bundle's limits: rename or move {})",
                item.path().display()
            ))
        })?;
        if let Some(other) = case_seen.insert(rel.to_lowercase(), rel.to_owned()) {
            return Err(OpsError::Invalid(format!(
                "files/{other} and files/{rel} differ only in letter case, and a bundle may not hold both (an import would refuse it); rename one"
            )));
        }
        let meta = item
            .metadata()
            .map_err(|e| io(item.path())(std::io::Error::other(e)))?;
        let is_dir = item.file_type().is_dir();
        if !is_dir && !item.file_type().is_file() {
            return Err(OpsError::Invalid(format!(
                "{} is not a regular file or directory; custom files may only be those (replace a link with the file it points to)",
                item.path().display()
            )));
        }
        let sha256 = if is_dir {
            String::new()
        } else {
            digest(item.path()).map_err(io(item.path()))?
        };
        out.push(Listed {
            item: crate::bundle::TreeItem {
                path,
                is_dir,
                mode: std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777,
                size: if is_dir { 0 } else { meta.len() },
                sha256,
            },
            source: item.path().to_owned(),
        });
    }
    Ok(out)
}

/// The SHA-256 of a file's content, lowercase hex.
fn digest(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// What is under a live `files/` tree: regular files and directories, by
/// relative path.
#[derive(Default)]
struct Tree {
    /// Each file's SHA-256 (or `size:N` where it cannot match) and mode.
    files: BTreeMap<String, (String, u32)>,
    /// Each directory's permission and sticky bits.
    dirs: BTreeMap<String, u32>,
}

/// Walks `base` once. Only files with the same size as their counterpart
/// in `incoming` are hashed: any other is changed or removed whatever its
/// content.
fn walk(base: &Path, incoming: &BTreeMap<String, (String, u32, u64)>) -> std::io::Result<Tree> {
    let mut out = Tree::default();
    if !base.exists() {
        return Ok(out);
    }
    for item in walkdir::WalkDir::new(base).min_depth(1) {
        let item = item.map_err(std::io::Error::other)?;
        let ft = item.file_type();
        if !ft.is_dir() && !ft.is_file() {
            continue;
        }
        let rel = item
            .path()
            .strip_prefix(base)
            .expect("under base")
            .display()
            .to_string();
        let meta = item.metadata().map_err(std::io::Error::other)?;
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
        if ft.is_dir() {
            out.dirs.insert(rel, mode & 0o1777);
            continue;
        }
        let sha = match incoming.get(&rel) {
            Some((_, _, size)) if *size == meta.len() => digest(item.path())?,
            _ => format!("size:{}", meta.len()),
        };
        out.files.insert(rel, (sha, mode & 0o7777));
    }
    Ok(out)
}
