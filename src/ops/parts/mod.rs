//! The components a bundle carries, one [`Part`] each: everything export,
//! open, plan and apply need to know about a component lives in that
//! component's module here, and [`PARTS`] lists them in bundle order.
//!
//! Adding a component is one module implementing [`Part`] (with its typed
//! model in `component/` and its JSON Schema under `schemas/`) and one line
//! in [`PARTS`]; `ops::bundle` drives every part the same way. Parts are
//! adapters: they read and write the appliance through [`Ops`], while the
//! models they carry stay in the I/O-free `component` module.

mod files;
mod jwt;
mod ldap;
mod network;
mod tls;
mod users;

use std::any::Any;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::bundle::{BundleError, Change, ComponentPlan, Opened};
use super::{Ops, OpsError};
use crate::appliance::ApplianceError;
use crate::bundle::manifest::ComponentEntry;
use crate::component::{self, Scope};

pub use files::{FILES_DIR, Listed};

type Result<T, E = OpsError> = std::result::Result<T, E>;

/// Every part, in bundle order.
pub static PARTS: &[&dyn Part] = &[
    &jwt::Jwt,
    &users::UsersPart,
    &ldap::Ldap,
    &network::NetworkPart,
    &tls::Tls,
    &files::Files,
];

/// One component a bundle can carry, named as in `-c` and in manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Kind(&'static str);

#[allow(
    non_upper_case_globals,
    reason = "named like the enum variants they replaced, which callers match on"
)]
impl Kind {
    /// "Appliances JWT Configuration".
    pub const Jwt: Kind = Kind("jwt");
    /// Local users, their password hashes, roles and API access.
    pub const Users: Kind = Kind("users");
    /// External LDAP settings, the bind password included.
    pub const Ldap: Kind = Kind("ldap");
    /// DNS, NTP, syslog; and the host name, which is node-local.
    pub const Network: Kind = Kind("network");
    /// The API server's certificate and key: node-local.
    pub const Tls: Kind = Kind("tls");
    /// Custom files: everything under the appliance's `files/` directory.
    pub const Files: Kind = Kind("files");

    /// Every kind, in bundle order.
    pub fn all() -> Vec<Kind> {
        PARTS.iter().map(|p| Kind(p.name())).collect()
    }

    /// The name used in `-c` and manifests.
    pub fn name(self) -> &'static str {
        self.0
    }

    /// Its part.
    pub fn part(self) -> &'static dyn Part {
        *PARTS
            .iter()
            .find(|p| p.name() == self.0)
            .expect("every Kind names a part: they are made only from PARTS and its constants")
    }

    /// What the export screen calls it.
    pub fn label(self) -> &'static str {
        self.part().label()
    }

    /// Cluster-wide or node-local.
    pub fn scope(self) -> Scope {
        self.part().scope()
    }

    /// Its place in bundle order.
    pub fn position(self) -> usize {
        PARTS
            .iter()
            .position(|p| p.name() == self.0)
            .expect("every Kind names a part")
    }

    pub(super) fn path(self) -> &'static str {
        self.part().path()
    }

    /// Parses a component name.
    pub fn parse(s: &str) -> Result<Kind> {
        PARTS
            .iter()
            .find(|p| p.name() == s.trim())
            .map(|p| Kind(p.name()))
            .ok_or_else(|| {
                let names: Vec<&str> = PARTS.iter().map(|p| p.name()).collect();
                OpsError::Invalid(format!(
                    "unknown component {s:?}; choose from {}",
                    names.join(", ")
                ))
            })
    }
}

impl PartialOrd for Kind {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Kinds sort in bundle order.
impl Ord for Kind {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.position().cmp(&other.position())
    }
}

/// What a part holds of an opened bundle: its parsed and checked model.
pub type Staged = Box<dyn Any + Send + Sync>;

/// What an export is asked for.
pub struct ExportCx<'a> {
    /// The appliance.
    pub ops: &'a Ops,
    /// Whether node-local parts go in (full backups).
    pub include_node_local: bool,
    /// Now, Unix seconds.
    pub now: u64,
}

/// What a part puts into a bundle.
pub enum Exported {
    /// One YAML file at the part's path, secrets unsealed.
    Text(zeroize::Zeroizing<String>),
    /// A tree of files, streamed in the listed order.
    Tree(Vec<Listed>),
}

/// What an import is asked for.
pub struct ImportCx<'a> {
    /// The appliance.
    pub ops: &'a Ops,
    /// The bundle.
    pub opened: &'a Opened,
    /// `--include-node-local`.
    pub include_node_local: bool,
    /// Now, Unix seconds.
    pub now: u64,
}

impl ImportCx<'_> {
    /// Whether node-local parts of the bundle apply here: this node's own
    /// backup, or `--include-node-local`.
    pub fn node_local_applies(&self) -> Result<bool> {
        Ok(self.include_node_local
            || self.opened.manifest.source.node_id == self.ops.app.node()?.node_id)
    }
}

/// A part's plan.
pub struct Planned {
    /// What changes.
    pub plan: ComponentPlan,
    /// How many live sessions it ends, when it ends any: only a change of
    /// JWT key can.
    pub sessions: Option<String>,
}

impl From<ComponentPlan> for Planned {
    fn from(plan: ComponentPlan) -> Self {
        Self {
            plan,
            sessions: None,
        }
    }
}

/// What a part changes on the appliance, committed with every other part's
/// in one journaled change.
#[derive(Default)]
pub struct Applied {
    /// Files (relative to the root) and their new contents.
    pub files: Vec<(String, Vec<u8>)>,
    /// Directories (relative to the root) and the staged trees replacing them.
    pub dirs: Vec<(String, PathBuf)>,
}

/// One component as a bundle carries it.
pub trait Part: Sync {
    /// Its name in `-c` and in manifests.
    fn name(&self) -> &'static str;
    /// What the export screen calls it.
    fn label(&self) -> &'static str;
    /// Its path in the archive: a file, or the directory of a tree.
    fn path(&self) -> &'static str;
    /// Cluster-wide or node-local.
    fn scope(&self) -> Scope {
        Scope::Cluster
    }
    /// Its content for a bundle, with secrets unsealed (the bundle is
    /// encrypted end to end). An error says why it cannot be exported.
    fn export(&self, cx: &ExportCx<'_>) -> Result<Exported>;
    /// Reads and checks what the bundle staged for it.
    fn open(&self, staging: &Path, entry: &ComponentEntry) -> Result<Staged>;
    /// What importing `staged` would change here.
    fn plan(&self, staged: &Staged, cx: &ImportCx<'_>) -> Result<Planned>;
    /// The changes importing `staged` makes, secrets sealed under this
    /// node's master key; `plan` is this part's plan.
    fn apply(&self, staged: &Staged, plan: &ComponentPlan, cx: &ImportCx<'_>) -> Result<Applied>;
}

/// Reads the YAML model `T` the bundle staged at `path`.
fn open_yaml<T>(staging: &Path, path: &str) -> Result<Staged>
where
    T: component::Stored + Send + Sync + 'static,
{
    let file = staging.join(path);
    let text =
        zeroize::Zeroizing::new(std::fs::read_to_string(&file).map_err(ApplianceError::io(&file))?);
    let model: T = component::parse(&text, path).map_err(BundleError::Component)?;
    Ok(Box::new(model))
}

/// The model a part staged.
fn staged<T: 'static>(staged: &Staged) -> &T {
    staged
        .downcast_ref()
        .expect("a part reads back only what it staged")
}

/// A YAML file's bytes for [`Applied::files`].
fn yaml<T: component::Stored>(path: &str, value: &T) -> Result<Applied> {
    Ok(Applied {
        files: vec![(path.to_owned(), component::render(value)?.into_bytes())],
        dirs: Vec::new(),
    })
}

/// A "changed" line when `a` and `b` differ.
fn diff(changes: &mut Vec<Change>, field: &str, a: String, b: String) {
    if a != b {
        changes.push(Change {
            what: "changed".into(),
            detail: format!("{field}: {a} -> {b}"),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_has_a_distinct_name_and_path_and_the_constants_name_parts() {
        let mut names: Vec<&str> = PARTS.iter().map(|p| p.name()).collect();
        let mut paths: Vec<&str> = PARTS.iter().map(|p| p.path()).collect();
        names.sort();
        names.dedup();
        paths.sort();
        paths.dedup();
        assert_eq!(names.len(), PARTS.len());
        assert_eq!(paths.len(), PARTS.len());
        for k in [
            Kind::Jwt,
            Kind::Users,
            Kind::Ldap,
            Kind::Network,
            Kind::Tls,
            Kind::Files,
        ] {
            assert_eq!(Kind::parse(k.name()).unwrap(), k);
            assert_eq!(k.part().name(), k.name());
        }
        assert_eq!(Kind::Tls.scope(), Scope::Node);
        assert!(Kind::all().windows(2).all(|w| w[0] < w[1]));
        assert!(Kind::parse("nope").is_err());
    }
}
