//! Putting a bundle together: the manifest assembled from the components'
//! contents and checked as a reader will check it, then the header (with
//! the signer's signature over the manifest's text, when the lock names a
//! signer), then the archive with the manifest first, so that a reader
//! knows every entry's size and checksum before it meets the entry.
//!
//! The writer opens no file: custom files come from a callback, and must
//! have been hashed by the caller, since their checksums go in the manifest
//! ahead of them. Each is hashed again as it is archived, and a file that
//! changed in between fails the export instead of making a bundle that no
//! reader would accept.

use std::io::{Read, Write};

use super::archive::ArchiveWriter;
use super::header::{self, HeaderError, Lock};
use super::manifest::{
    ComponentEntry, FileEntry, MANIFEST_PATH, MANIFEST_VERSION, Manifest, Source,
};
use super::{BundleError, Counted, Progress, Tally, blocks};
use crate::component::{self, Component, FORMAT_VERSION, Scope};

/// One entry of the custom files' tree, listed and hashed before export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeItem {
    /// Its path in the archive (`files/...`).
    pub path: String,
    /// A directory, not a file.
    pub is_dir: bool,
    /// Its mode bits.
    pub mode: u32,
    /// Its size in bytes (0 for a directory).
    pub size: u64,
    /// Its SHA-256, lowercase hex (empty for a directory).
    pub sha256: String,
}

/// What one component puts into a bundle.
pub enum Content<'a> {
    /// A configuration component's one file, secrets unsealed (the bundle
    /// is encrypted end to end).
    File {
        /// The component.
        component: Component,
        /// The file's bytes.
        text: &'a [u8],
    },
    /// The custom files, in archive order.
    Tree {
        /// The component.
        component: Component,
        /// Its entries.
        items: &'a [TreeItem],
    },
}

/// What the manifest says of the bundle as a whole.
#[derive(Debug, Clone)]
pub struct Head {
    /// When it is made, Unix seconds.
    pub created_at: u64,
    /// The node that makes it.
    pub source: Source,
    /// The fingerprint of the source's active JWT key.
    pub jwt_kid: String,
    /// A JWT signed with the source's active key (see docs/FORMAT.md).
    pub proof_token: String,
}

/// Opens a custom file for archiving.
pub type OpenItem<'a> = dyn FnMut(&TreeItem) -> std::io::Result<Box<dyn Read + 'a>> + 'a;

fn scope_name(component: Component) -> &'static str {
    match component.scope() {
        Scope::Cluster => "cluster",
        Scope::Node => "node",
    }
}

/// The manifest of `contents`, checked as a reader checks it.
pub fn manifest(head: &Head, contents: &[Content<'_>]) -> Result<Manifest, BundleError> {
    let components = contents
        .iter()
        .map(|c| match c {
            Content::File { component, text } => ComponentEntry {
                name: component.name().to_owned(),
                version: std::str::from_utf8(text)
                    .ok()
                    .and_then(component::version_of)
                    .unwrap_or(FORMAT_VERSION),
                scope: scope_name(*component).into(),
                files: vec![FileEntry::of(component.path(), text)],
                dirs: Vec::new(),
            },
            Content::Tree { component, items } => ComponentEntry {
                name: component.name().to_owned(),
                version: FORMAT_VERSION,
                scope: scope_name(*component).into(),
                files: items
                    .iter()
                    .filter(|i| !i.is_dir)
                    .map(|i| FileEntry {
                        path: i.path.clone(),
                        size: i.size,
                        sha256: i.sha256.clone(),
                        mode: Some(i.mode),
                    })
                    .collect(),
                dirs: items
                    .iter()
                    .filter(|i| i.is_dir)
                    .map(|i| i.path.clone())
                    .collect(),
            },
        })
        .collect();
    let manifest = Manifest {
        format_version: MANIFEST_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: head.created_at,
        source: head.source.clone(),
        components,
        jwt_kid: head.jwt_kid.clone(),
        proof_token: head.proof_token.clone(),
    };
    manifest.check()?;
    Ok(manifest)
}

/// Writes a bundle of `contents` to `out`, locked by `lock` and signed by
/// its signer, if it has one, and returns its manifest and `out`. `open`
/// gives each custom file's content; `progress` learns the bytes of
/// content to archive, then how many have been archived.
pub fn write<W: Write>(
    out: W,
    lock: &Lock<'_>,
    head: &Head,
    contents: &[Content<'_>],
    open: &mut OpenItem<'_>,
    progress: &dyn Progress,
) -> Result<(Manifest, W), BundleError> {
    let manifest = manifest(head, contents)?;
    let io = |e: std::io::Error| BundleError::Header(HeaderError::Io(e));
    progress.total(
        contents
            .iter()
            .map(|c| match c {
                Content::File { text, .. } => text.len() as u64,
                Content::Tree { items, .. } => items.iter().map(|i| i.size).sum(),
            })
            .sum(),
    );
    let mut tally = Tally::new(progress);
    // The header signs the manifest's text as it goes into the archive.
    let manifest_text = yaml_serde::to_string(&manifest).expect("the manifest serialises");
    let writer = header::seal_with(out, lock, manifest_text.as_bytes())?;
    let mut ar = ArchiveWriter::new(writer, blocks::default_workers());
    ar.add_bytes(MANIFEST_PATH, manifest_text.as_bytes(), 0o600)
        .map_err(io)?;
    for c in contents {
        match c {
            Content::File { component, text } => {
                ar.add_bytes(component.path(), text, 0o600).map_err(io)?;
                tally.add(text.len());
            }
            Content::Tree { items, .. } => {
                for item in *items {
                    if item.is_dir {
                        ar.add_dir(&item.path, item.mode).map_err(io)?;
                        continue;
                    }
                    let reader = open(item).map_err(io)?;
                    let counted = Counted {
                        inner: reader,
                        tally: &mut tally,
                    };
                    let sha = ar
                        .add_reader(&item.path, counted, item.size, item.mode)
                        .map_err(io)?;
                    if hex::encode(sha) != item.sha256 {
                        return Err(BundleError::Changed(format!(
                            "{} changed while it was being exported; export again",
                            item.path
                        )));
                    }
                }
            }
        }
    }
    tally.report();
    let out = ar.finish().map_err(io)?.finish().map_err(io)?;
    Ok((manifest, out))
}
