//! Each component's adapter: what it does on export and import, one
//! module per component: how it is read from the appliance into a bundle,
//! how the bundle's copy is read back and checked, what importing it would
//! change and what it writes. `ops::bundle` drives every adapter the same
//! way.
//!
//! Adding a component is a variant of [`Component`] (with its typed model in
//! `component/` and its JSON Schema under `schemas/`), one module here
//! implementing [`Adapter`], and one arm in [`adapter`]. Adapters read and
//! write the appliance through [`Ops`], while the models they carry stay in
//! the I/O-free `component` module.

mod files;
mod jwt;
mod ldap;
mod network;
mod tls;
mod trust;
mod users;

use std::path::PathBuf;

use crate::bundle::manifest::Manifest;
use crate::bundle::{BundleError, Change, ComponentPlan, Opened};
use crate::component::{self, Component, JwtExport};

use super::{Ops, OpsError};

pub use files::Listed;

type Result<T, E = OpsError> = std::result::Result<T, E>;

/// The adapter of `component`.
pub fn adapter(component: Component) -> &'static dyn Adapter {
    match component {
        Component::Jwt => &jwt::Jwt,
        Component::JwtTrust => &trust::Trust,
        Component::Users => &users::Users,
        Component::Ldap => &ldap::Ldap,
        Component::Network => &network::Network,
        Component::Tls => &tls::Tls,
        Component::Files => &files::Files,
    }
}

/// What an export is asked for.
pub struct ExportCx<'a> {
    /// The appliance.
    pub ops: &'a Ops,
    /// Whether node-local settings go in (full backups).
    pub include_node_local: bool,
    /// Members whose public keys Appliances JWT Trust carries besides
    /// those this node trusts: a push's targets, learnt from their node
    /// endpoints, which this node trusts once the push is confirmed.
    pub also_trusted: &'a [component::TrustedMember],
    /// Now, Unix seconds.
    pub now: u64,
}

/// What an adapter puts into a bundle.
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
    /// Whether node-local settings of the bundle apply here: this node's own
    /// backup, or `--include-node-local`.
    pub fn node_local_applies(&self) -> Result<bool> {
        Ok(self.include_node_local || self.manifest.source.node_id == self.ops.app.node()?.node_id)
    }
}

/// A component's plan, as its adapter makes it.
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

/// What a component's import changes on the appliance, committed with
/// every other component's in one journaled change.
#[derive(Default)]
pub struct Applied {
    /// Files (relative to the root) and their new contents.
    pub files: Vec<(String, Vec<u8>)>,
    /// Directories (relative to the root) and the staged trees replacing them.
    pub dirs: Vec<(String, PathBuf)>,
}

/// One component between the appliance and a bundle: how it is exported,
/// and how a bundle's copy of it is opened.
pub trait Adapter: Sync {
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

/// Reads the YAML model `T` of component `c`'s file.
fn open_yaml<T: component::Stored>(opened: &Opened, c: Component) -> Result<T> {
    let bytes = opened
        .text(c)
        .expect("the reader kept every listed component's file in memory");
    let text = std::str::from_utf8(bytes).map_err(|_| {
        BundleError::Component(component::ComponentError::Parse {
            file: c.path().to_owned(),
            message: "it is not UTF-8".into(),
        })
    })?;
    component::parse(text, c.path()).map_err(|e| OpsError::from(BundleError::Component(e)))
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
