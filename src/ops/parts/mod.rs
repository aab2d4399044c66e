//! What each component does on export and import, one module per
//! component: how it is read from the appliance into a bundle, how the
//! bundle's copy is read back and checked, what importing it would change
//! and what it writes. `ops::bundle` drives every component the same way.
//!
//! Adding a component is a variant of [`Kind`] (with its typed model in
//! `component/` and its JSON Schema under `schemas/`), one module here
//! implementing [`Part`], and one arm in [`part`]. Parts are adapters: they
//! read and write the appliance through [`Ops`], while the models they
//! carry stay in the I/O-free `component` module.

mod files;
mod jwt;
mod ldap;
mod network;
mod tls;
mod users;

use std::path::PathBuf;

use crate::bundle::manifest::Manifest;
use crate::bundle::{BundleError, Change, ComponentPlan, Opened};
use crate::component::{self, JwtExport, Kind};

use super::{Ops, OpsError};

pub use files::Listed;

type Result<T, E = OpsError> = std::result::Result<T, E>;

/// The part of component `kind`.
pub fn part(kind: Kind) -> &'static dyn Part {
    match kind {
        Kind::Jwt => &jwt::Jwt,
        Kind::Users => &users::Users,
        Kind::Ldap => &ldap::Ldap,
        Kind::Network => &network::Network,
        Kind::Tls => &tls::Tls,
        Kind::Files => &files::Files,
    }
}

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
    /// Its one YAML file, secrets unsealed.
    Text(zeroize::Zeroizing<String>),
    /// A tree of files, listed and hashed, streamed in the listed order.
    Tree(Vec<Listed>),
}

/// What an import is asked for.
pub struct ImportCx<'a> {
    /// The appliance.
    pub ops: &'a Ops,
    /// The bundle's manifest.
    pub manifest: &'a Manifest,
    /// `--include-node-local`.
    pub include_node_local: bool,
    /// Now, Unix seconds.
    pub now: u64,
}

impl ImportCx<'_> {
    /// Whether node-local parts of the bundle apply here: this node's own
    /// backup, or `--include-node-local`.
    pub fn node_local_applies(&self) -> Result<bool> {
        Ok(self.include_node_local || self.manifest.source.node_id == self.ops.app.node()?.node_id)
    }
}

/// A part's plan.
pub struct Planned {
    /// What changes.
    pub plan: ComponentPlan,
    /// What happens to live sessions, when the change touches them: only
    /// a change of JWT configuration can.
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
    /// Its content for a bundle, with secrets unsealed (the bundle is
    /// encrypted end to end). An error says why it cannot be exported.
    fn export(&self, cx: &ExportCx<'_>) -> Result<Exported>;
    /// Reads and checks what the opened bundle carries of it.
    fn open(&self, opened: &Opened) -> Result<Box<dyn Incoming>>;
}

/// A component as an opened bundle carries it, read and checked: what
/// importing it would change, and the change.
pub trait Incoming: Send + Sync {
    /// What importing it would change here.
    fn plan(&self, cx: &ImportCx<'_>) -> Result<Planned>;
    /// The changes importing it makes, secrets sealed under this node's
    /// master key; `plan` is its plan.
    fn apply(&self, plan: &ComponentPlan, cx: &ImportCx<'_>) -> Result<Applied>;
    /// The JWT configuration, for the jwt component.
    fn jwt(&self) -> Option<&JwtExport> {
        None
    }
}

/// Reads the YAML model `T` of a configuration component's file.
fn open_yaml<T: component::Stored>(opened: &Opened, kind: Kind) -> Result<T> {
    let bytes = opened
        .text(kind)
        .expect("the reader kept every listed component's file in memory");
    let text = std::str::from_utf8(bytes).map_err(|_| {
        BundleError::Component(component::ComponentError::Parse {
            file: kind.path().to_owned(),
            message: "it is not UTF-8".into(),
        })
    })?;
    component::parse(text, kind.path()).map_err(|e| OpsError::from(BundleError::Component(e)))
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
