//! Custom files in a bundle: everything under the appliance's `files/`
//! directory (CA bundles, policy documents, scripts), walked with walkdir,
//! regular files and directories only, mode bits kept. The manifest lists
//! every file with its size, SHA-256 and mode, and every directory; the
//! archive carries the directories' modes, which the extraction applies
//! (see [`crate::bundle::archive::dir_mode`]). An import replaces the whole
//! tree in the same journaled change as the rest; its plan names every
//! file and directory added, changed or removed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Applied, Change, ExportCx, Exported, ImportCx, Part, Planned, Result, Staged};
use crate::appliance::ApplianceError;
use crate::bundle::header::HeaderError;
use crate::bundle::manifest::{ComponentEntry, Manifest, ManifestError};
use crate::ops::OpsError;
use crate::ops::bundle::{BundleError, ComponentPlan};

/// The directory of custom files under the appliance root, and in bundles.
pub const FILES_DIR: &str = "files";

/// One entry under `files/`, as listed before an export.
pub struct Listed {
    /// Path in the archive (`files/...`).
    pub path: String,
    /// Where it is.
    pub source: PathBuf,
    /// A directory, not a file.
    pub is_dir: bool,
    /// Its permission bits.
    pub mode: u32,
    /// Its size in bytes (0 for a directory).
    pub size: u64,
}

/// The custom files part.
pub struct Files;

impl Part for Files {
    fn name(&self) -> &'static str {
        "files"
    }

    fn label(&self) -> &'static str {
        "Custom files"
    }

    fn path(&self) -> &'static str {
        FILES_DIR
    }

    /// Lists the tree, so that a link under `files/` is refused before the
    /// key derivation and the progress knows its total.
    fn export(&self, cx: &ExportCx<'_>) -> Result<Exported> {
        Ok(Exported::Tree(list(&cx.ops.app.root().join(FILES_DIR))?))
    }

    fn open(&self, staging: &Path, entry: &ComponentEntry) -> Result<Staged> {
        let missing =
            |what: String| OpsError::from(BundleError::Manifest(ManifestError::Contents(what)));
        let tree = staging.join(FILES_DIR);
        for d in &entry.dirs {
            if !staging.join(d).is_dir() {
                return Err(missing(format!("{d} is listed but missing")));
            }
        }
        crate::appliance::create_private_dir(&tree).map_err(ApplianceError::io(&tree))?;
        // Mode bits travel, except setuid, setgid and sticky. The extraction
        // gave each file its archive mode, which `check_files` found equal
        // to the manifest's; a manifest without modes (older bundles) means
        // 0600.
        for f in entry.files.iter().filter(|f| f.mode.is_none()) {
            let p = staging.join(&f.path);
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .map_err(ApplianceError::io(&p))?;
        }
        Ok(Box::new(tree))
    }

    fn plan(&self, staged: &Staged, cx: &ImportCx<'_>) -> Result<Planned> {
        let tree: &PathBuf = super::staged(staged);
        let io = |e| {
            OpsError::from(ApplianceError::Io {
                path: tree.clone(),
                source: e,
            })
        };
        let new: BTreeMap<String, (String, u32, u64)> = cx
            .opened
            .manifest
            .component(self.name())
            .map(|c| {
                c.files
                    .iter()
                    .map(|f| {
                        let rel = f.path.strip_prefix("files/").unwrap_or(&f.path).to_owned();
                        (
                            rel,
                            (f.sha256.clone(), f.mode.unwrap_or(0o600) & 0o777, f.size),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let Tree {
            files: cur,
            dirs: cur_dirs,
        } = walk(&cx.ops.app.root().join(FILES_DIR), Some(&new)).map_err(io)?;
        let new: BTreeMap<String, (String, u32)> =
            new.into_iter().map(|(k, (s, m, _))| (k, (s, m))).collect();
        let mut changes = Vec::new();
        for (path, (sha, mode)) in &new {
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
        for path in cur.keys().filter(|p| !new.contains_key(*p)) {
            changes.push(Change {
                what: "removed".into(),
                detail: path.clone(),
            });
        }
        // Directories, empty ones included, with the modes the extraction
        // gave them.
        let new_dirs = walk(tree, None).map_err(io)?.dirs;
        for (path, mode) in &new_dirs {
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
        for path in cur_dirs.keys().filter(|p| !new_dirs.contains_key(*p)) {
            changes.push(Change {
                what: "removed".into(),
                detail: format!("{path}/"),
            });
        }
        Ok(ComponentPlan::new(self.name(), changes).into())
    }

    fn apply(&self, staged: &Staged, plan: &ComponentPlan, _cx: &ImportCx<'_>) -> Result<Applied> {
        let tree: &PathBuf = super::staged(staged);
        let mut applied = Applied::default();
        if !plan.changes.is_empty() {
            applied.dirs.push((FILES_DIR.to_owned(), tree.clone()));
        }
        Ok(applied)
    }
}

/// What is under `base`, in archive order: regular files and directories
/// only.
fn list(base: &Path) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    if !base.exists() {
        return Ok(out);
    }
    let io = |e: std::io::Error| OpsError::from(BundleError::Header(HeaderError::Io(e)));
    let mut case_seen = std::collections::HashMap::new();
    for item in walkdir::WalkDir::new(base).min_depth(1).sort_by_file_name() {
        let item = item.map_err(|e| io(std::io::Error::other(e)))?;
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
        if let Some(other) = case_seen.insert(rel.to_lowercase(), rel.to_owned()) {
            return Err(OpsError::Invalid(format!(
                "files/{other} and files/{rel} differ only in letter case, and a bundle may not hold both (an import would refuse it); rename one"
            )));
        }
        let meta = item.metadata().map_err(|e| io(std::io::Error::other(e)))?;
        let is_dir = item.file_type().is_dir();
        if !is_dir && !item.file_type().is_file() {
            return Err(OpsError::Invalid(format!(
                "{} is not a regular file or directory; custom files may only be those (replace a link with the file it points to)",
                item.path().display()
            )));
        }
        out.push(Listed {
            path: format!("{FILES_DIR}/{rel}"),
            source: item.path().to_owned(),
            is_dir,
            mode: std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777,
            size: if is_dir { 0 } else { meta.len() },
        });
    }
    Ok(out)
}

/// What is under a `files/` tree: regular files and directories, by
/// relative path.
#[derive(Default)]
struct Tree {
    /// Each file's SHA-256 (or `size:N` where it cannot match) and mode.
    files: BTreeMap<String, (String, u32)>,
    /// Each directory's permission and sticky bits.
    dirs: BTreeMap<String, u32>,
}

/// Walks `base` once. With `incoming`, the files are listed too, and only
/// those with the same size as their counterpart there are hashed: any
/// other is changed or removed whatever its content.
fn walk(
    base: &Path,
    incoming: Option<&BTreeMap<String, (String, u32, u64)>>,
) -> std::io::Result<Tree> {
    let mut out = Tree::default();
    if !base.exists() {
        return Ok(out);
    }
    for item in walkdir::WalkDir::new(base).min_depth(1) {
        let item = item.map_err(std::io::Error::other)?;
        let ft = item.file_type();
        let wanted = ft.is_dir() || (ft.is_file() && incoming.is_some());
        if !wanted {
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
        match incoming {
            _ if ft.is_dir() => {
                out.dirs.insert(rel, mode & 0o1777);
            }
            Some(incoming) => {
                let sha = match incoming.get(&rel) {
                    Some((_, _, size)) if *size == meta.len() => {
                        Manifest::digest(std::fs::File::open(item.path())?)?.1
                    }
                    _ => format!("size:{}", meta.len()),
                };
                out.files.insert(rel, (sha, mode & 0o7777));
            }
            None => {}
        }
    }
    Ok(out)
}
