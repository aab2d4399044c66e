//! `manifest.yaml`, the bundle's table of contents: format and tool
//! versions, when and where it was made, each component with its version
//! and files (size and SHA-256), and the proof token. Pure: parsing,
//! validation and checksum comparison over bytes the caller supplies.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest format this build writes and the newest it reads.
pub const MANIFEST_VERSION: u32 = 1;
/// The manifest's path inside the archive.
pub const MANIFEST_PATH: &str = "manifest.yaml";

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
    /// A listed file is missing, or an unlisted one is present.
    #[error("the bundle's archive does not match its manifest: {0}")]
    Contents(String),
}

impl Manifest {
    /// Parses and checks the version.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let m: Manifest =
            yaml_serde::from_str(text).map_err(|e| ManifestError::Parse(e.to_string()))?;
        if m.format_version > MANIFEST_VERSION {
            return Err(ManifestError::TooNew(m.format_version));
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

    /// Checks that the archive held exactly the listed files (plus the
    /// manifest), each with its size, checksum and mode, as extraction
    /// measured them.
    pub fn check_files(
        &self,
        present: &[crate::bundle::archive::Extracted],
    ) -> Result<(), ManifestError> {
        let listed: std::collections::BTreeSet<&str> =
            self.files().map(|f| f.path.as_str()).collect();
        let mut found = std::collections::BTreeMap::new();
        for e in present {
            let p = e.path.to_str().unwrap_or_default();
            if p != MANIFEST_PATH && !listed.contains(p) {
                return Err(ManifestError::Contents(format!(
                    "{} is not listed in the manifest",
                    e.path.display()
                )));
            }
            found.insert(p, e);
        }
        for f in self.files() {
            let Some(e) = found.get(f.path.as_str()) else {
                return Err(ManifestError::Contents(format!(
                    "{} is listed but missing",
                    f.path
                )));
            };
            if e.size != f.size || e.sha256 != f.sha256 || f.mode.is_some_and(|m| m != e.mode) {
                return Err(ManifestError::Checksum(f.path.clone()));
            }
        }
        Ok(())
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
