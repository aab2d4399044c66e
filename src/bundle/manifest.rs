//! `manifest.yaml`, the bundle's table of contents: format and tool
//! versions, when and where it was made, each component with its version
//! and files (size and SHA-256), and the proof token. Pure: parsing,
//! validation and checksum comparison over bytes the caller supplies.
//!
//! A manifest is checked whole before anything it lists is read
//! ([`Manifest::check`]): every component is known and listed once, at a
//! version this build reads; each configuration component lists exactly
//! its one file, and the custom files list only paths under `files/`;
//! every path obeys the archive's rules and appears once; and the sizes add
//! up to no more than the archive may hold. [`Listing`] then answers, entry
//! by entry, what the archive may contain.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::component::{Component, FILES_DIR};

/// The manifest format this build writes and the newest it reads.
pub const MANIFEST_VERSION: u32 = 1;
/// The manifest's path inside the archive.
pub const MANIFEST_PATH: &str = "manifest.yaml";
/// The largest manifest a reader accepts: enough for the most entries an
/// archive may hold.
pub const MAX_MANIFEST_BYTES: u64 = 32 << 20;
/// The largest file of a configuration component (`components/*.yaml`) a
/// reader accepts. Such files are held in memory, never staged on disk.
pub const MAX_COMPONENT_BYTES: u64 = 8 << 20;

/// The node that made the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Node name.
    pub name: String,
    /// Node id.
    pub node_id: String,
    /// Cluster id.
    pub cluster_id: String,
}

/// One file of a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Path inside the archive.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lowercase hex.
    pub sha256: String,
    /// Unix mode bits, for custom files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

impl FileEntry {
    /// The entry describing `data` at `path`.
    pub fn of(path: &str, data: &[u8]) -> Self {
        Self {
            path: path.to_owned(),
            size: data.len() as u64,
            sha256: hex::encode(Sha256::digest(data)),
            mode: None,
        }
    }
}

/// One component in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentEntry {
    /// Component name (`jwt`, `users`).
    pub name: String,
    /// Component format version.
    pub version: u32,
    /// `cluster` or `node`.
    pub scope: String,
    /// Its files.
    pub files: Vec<FileEntry>,
    /// Its directories, for custom files (so empty ones travel too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirs: Vec<String>,
}

/// The manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest format version.
    pub format_version: u32,
    /// The tacctl version that wrote it.
    pub tool_version: String,
    /// When, Unix seconds.
    pub created_at: u64,
    /// The source node.
    pub source: Source,
    /// The components.
    pub components: Vec<ComponentEntry>,
    /// Fingerprint of the source's active JWT key.
    pub jwt_kid: String,
    /// A JWT signed with the source's active key at export time.
    pub proof_token: String,
}

/// A manifest that does not hold.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    /// Not valid YAML for the model.
    #[error("the bundle's manifest is invalid: {0}")]
    Parse(String),
    /// Written by a newer tacctl.
    #[error(
        "the bundle's manifest is version {0}, newer than this tacctl reads ({MANIFEST_VERSION}); upgrade tacctl"
    )]
    TooNew(u32),
    /// A file's size or checksum differs.
    #[error("checksum mismatch for {0} in the bundle; it was altered after export")]
    Checksum(String),
    /// A file's size in the archive differs from its listing: refused
    /// from the entry's header, before any of it is read.
    #[error(
        "{path} is {archive} bytes in the bundle's archive but its manifest lists {listed}; it was altered after export"
    )]
    Size {
        /// The file.
        path: String,
        /// Its size in the archive.
        archive: u64,
        /// Its size in the manifest.
        listed: u64,
    },
    /// A listed file is missing, or an unlisted one is present.
    #[error("the bundle's archive does not match its manifest: {0}")]
    Contents(String),
    /// The manifest breaks a rule of the format on its own.
    #[error("the bundle's manifest is damaged: {0}; the bundle was not written by tacctl")]
    Invalid(String),
    /// A component written by a newer tacctl.
    #[error(
        "component {name} is version {version}, newer than this tacctl reads ({supported}); upgrade tacctl"
    )]
    ComponentTooNew {
        /// The component.
        name: String,
        /// Its version.
        version: u32,
        /// The newest this build reads.
        supported: u32,
    },
}

impl Manifest {
    /// Parses and checks the version.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let m: Manifest =
            yaml_serde::from_str(text).map_err(|e| ManifestError::Parse(e.to_string()))?;
        if m.format_version > MANIFEST_VERSION {
            return Err(ManifestError::TooNew(m.format_version));
        }
        if m.format_version == 0 {
            return Err(ManifestError::Invalid(
                "its format version is 0, which no tacctl writes".into(),
            ));
        }
        Ok(m)
    }

    /// Every file listed, across components.
    pub fn files(&self) -> impl Iterator<Item = &FileEntry> {
        self.components.iter().flat_map(|c| c.files.iter())
    }

    /// The component called `name`.
    pub fn component(&self, name: &str) -> Option<&ComponentEntry> {
        self.components.iter().find(|c| c.name == name)
    }

    /// Checks the manifest on its own, before anything it lists is read:
    /// every component known, listed once and at a version this build
    /// reads; each configuration component listing exactly its own file and
    /// no directory; the custom files listing only files and directories
    /// under `files/`; every path spelt as the archive's rules normalise it
    /// ([`crate::bundle::archive::check_path`]), listed once (letter case
    /// aside) and never below a listed file; checksums as 64 lowercase hex
    /// digits and modes as permission bits; and no more entries, bytes, or
    /// bytes per component file than a reader accepts. Returns the listing
    /// an extraction checks entries against.
    pub fn check(&self) -> Result<Listing, ManifestError> {
        use crate::bundle::archive::{self, MAX_ENTRIES, MAX_TOTAL};
        let invalid = |what: String| ManifestError::Invalid(what);
        let mut listing = Listing::default();
        let mut components = BTreeSet::new();
        let mut lower = BTreeSet::new();
        let mut total = 0u64;
        for c in &self.components {
            let component = Component::ALL
                .into_iter()
                .find(|k| k.name() == c.name)
                .ok_or_else(|| {
                    ManifestError::Contents(format!("unknown component {:?}", c.name))
                })?;
            if c.version == 0 {
                return Err(invalid(format!(
                    "component {} is version 0, which no tacctl writes",
                    c.name
                )));
            }
            if c.version > component.max_version() {
                return Err(ManifestError::ComponentTooNew {
                    name: c.name.clone(),
                    version: c.version,
                    supported: component.max_version(),
                });
            }
            if !components.insert(component) {
                return Err(ManifestError::Contents(format!(
                    "component {} is listed twice",
                    c.name
                )));
            }
            let mut check = |path: &str, what: &str| -> Result<(), ManifestError> {
                let normal = archive::check_path(path.as_bytes())
                    .map_err(|e| invalid(format!("component {}: {e}", c.name)))?;
                if normal != path {
                    return Err(invalid(format!(
                        "component {} lists {what} {path:?}, which is not spelt as the archive's paths are ({normal:?})",
                        c.name
                    )));
                }
                let inside = match component {
                    Component::Files => path
                        .split_once('/')
                        .is_some_and(|(top, _)| top == FILES_DIR),
                    k => what == "the file" && path == k.path(),
                };
                if !inside {
                    return Err(invalid(format!(
                        "component {} lists {what} {path:?}, which belongs to no place the component has (it may only hold {})",
                        c.name,
                        match component {
                            Component::Files => "paths under files/".to_owned(),
                            k => format!("the file {}", k.path()),
                        }
                    )));
                }
                if !lower.insert(path.to_lowercase()) {
                    return Err(invalid(format!(
                        "{path:?} is listed twice (paths are compared regardless of letter case)"
                    )));
                }
                Ok(())
            };
            for f in &c.files {
                check(&f.path, "the file")?;
                if f.sha256.len() != 64
                    || !f
                        .sha256
                        .bytes()
                        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                {
                    return Err(invalid(format!(
                        "the checksum of {:?} is not 64 lowercase hex digits",
                        f.path
                    )));
                }
                if f.mode.is_some_and(|m| m > 0o7777) {
                    return Err(invalid(format!(
                        "the mode of {:?} is not permission bits",
                        f.path
                    )));
                }
                if component != Component::Files && f.size > MAX_COMPONENT_BYTES {
                    return Err(invalid(format!(
                        "{} is {} bytes, over the limit of {MAX_COMPONENT_BYTES} for a component's file",
                        f.path, f.size
                    )));
                }
                total = total.saturating_add(f.size);
                listing.files.insert(
                    f.path.clone(),
                    Listed {
                        component,
                        size: f.size,
                        sha256: f.sha256.clone(),
                        mode: f.mode,
                    },
                );
            }
            if component != Component::Files && c.files.len() != 1 {
                return Err(invalid(format!(
                    "component {} lists {} files; it has exactly one, {}",
                    c.name,
                    c.files.len(),
                    component.path()
                )));
            }
            for d in &c.dirs {
                check(d, "the directory")?;
                listing.dirs.insert(d.clone());
            }
        }
        if listing.files.len() + listing.dirs.len() + 1 > MAX_ENTRIES {
            return Err(invalid(format!("it lists over {MAX_ENTRIES} entries")));
        }
        if total > MAX_TOTAL {
            return Err(invalid(format!(
                "its files add up to over {MAX_TOTAL} bytes"
            )));
        }
        // A path below a listed file could never be extracted: the file
        // would be in the way of its directory.
        for path in listing.files.keys().chain(listing.dirs.iter()) {
            let mut up = path.as_str();
            while let Some((parent, _)) = up.rsplit_once('/') {
                if listing.files.contains_key(parent) {
                    return Err(invalid(format!(
                        "{parent:?} is listed as a file and as a directory of {path:?}"
                    )));
                }
                up = parent;
            }
        }
        listing.total = total;
        Ok(listing)
    }

    /// Checks that the archive held exactly the listed files and
    /// directories (plus the manifest), each file with its size, checksum
    /// and mode, as extraction measured them.
    pub fn check_files(
        &self,
        present: &crate::bundle::archive::Extraction,
    ) -> Result<(), ManifestError> {
        let listing = self.check()?;
        let mut found = BTreeMap::new();
        for e in &present.files {
            if e.path == MANIFEST_PATH {
                continue;
            }
            let Some(want) = listing.files.get(&e.path) else {
                return Err(ManifestError::Contents(format!(
                    "{} is not listed in the manifest",
                    e.path
                )));
            };
            if e.size != want.size
                || e.sha256 != want.sha256
                || want.mode.is_some_and(|m| m != e.mode)
            {
                return Err(ManifestError::Checksum(e.path.clone()));
            }
            found.insert(e.path.as_str(), e);
        }
        for d in &present.dirs {
            if !listing.dirs.contains(&d.path) {
                return Err(ManifestError::Contents(format!(
                    "the directory {} is not listed in the manifest",
                    d.path
                )));
            }
        }
        listing.missing(
            found.keys().copied(),
            present.dirs.iter().map(|d| d.path.as_str()),
        )
    }

    /// Size and SHA-256 of everything `r` yields, streaming.
    pub fn digest(mut r: impl std::io::Read) -> std::io::Result<(u64, String)> {
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut n = 0u64;
        loop {
            let k = r.read(&mut buf)?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            n += k as u64;
        }
        Ok((n, hex::encode(h.finalize())))
    }
}

/// One file a checked manifest lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The component it belongs to.
    pub component: Component,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
    /// Its mode bits, when the manifest gives them (custom files).
    pub mode: Option<u32>,
}

/// What a checked manifest ([`Manifest::check`]) lets the archive hold.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Each listed file by path.
    pub files: BTreeMap<String, Listed>,
    /// Each listed directory.
    pub dirs: BTreeSet<String>,
    /// The listed files' sizes added up.
    pub total: u64,
}

impl Listing {
    /// Checks that every listed file and directory was found.
    pub fn missing<'a>(
        &self,
        files: impl Iterator<Item = &'a str>,
        dirs: impl Iterator<Item = &'a str>,
    ) -> Result<(), ManifestError> {
        let files: BTreeSet<&str> = files.collect();
        let dirs: BTreeSet<&str> = dirs.collect();
        if let Some(f) = self.files.keys().find(|f| !files.contains(f.as_str())) {
            return Err(ManifestError::Contents(format!(
                "{f} is listed but missing"
            )));
        }
        if let Some(d) = self.dirs.iter().find(|d| !dirs.contains(d.as_str())) {
            return Err(ManifestError::Contents(format!(
                "{d} is listed but missing"
            )));
        }
        Ok(())
    }
}
