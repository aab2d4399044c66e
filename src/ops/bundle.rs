//! Export, inspect and import of configuration bundles, and rollback.
//!
//! Export takes the lock for a consistent view, unseals the chosen
//! components' secrets into the bundle (which is encrypted end to end) and
//! streams header, archive and payload straight to the output. Import
//! decrypts and authenticates the whole bundle into a private staging
//! directory, checks the manifest, every checksum and every component, builds
//! a plan, and only then (on confirmation) commits all files in one journaled
//! change, re-sealing secrets under this node's master key, and checks the
//! proof token with the configuration just applied, rolling back if it fails.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Serialize;

use super::{Ops, OpsError, new_id, rfc3339};
use crate::appliance::{ApplianceError, AuditRecord, SnapshotMeta};
use crate::bundle::archive::{self, ArchiveError};
use crate::bundle::blocks;
use crate::bundle::header::{self, HeaderError, KdfParams};
use crate::bundle::manifest::{
    ComponentEntry, FileEntry, MANIFEST_PATH, MANIFEST_VERSION, Manifest, ManifestError, Source,
};
use crate::bundle::stream::payload_error;
use crate::component::{
    self, ExportedKey, ExportedRetiredKey, JwtExport, JwtSettings, LdapExport, SealedKey,
    SecretBase64, Stored, StoredRetiredKey, TlsExport, Users,
};
use crate::jwt::{self, Claims, JwtKey, Policy};

/// The components a bundle can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// "Appliances JWT Configuration".
    Jwt,
    /// Local users.
    Users,
    /// External LDAP settings, the bind password included.
    Ldap,
    /// DNS, NTP, syslog; and the host name, which is node-local.
    Network,
    /// The API server's certificate and key: node-local.
    Tls,
    /// Custom files: everything under the appliance's `files/` directory.
    Files,
}

/// The directory of custom files under the appliance root.
pub const FILES_DIR: &str = "files";

impl Kind {
    /// Every kind, in bundle order.
    pub const ALL: [Kind; 6] = [
        Kind::Jwt,
        Kind::Users,
        Kind::Ldap,
        Kind::Network,
        Kind::Tls,
        Kind::Files,
    ];

    /// The name used in `-c` and manifests.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Jwt => "jwt",
            Kind::Users => "users",
            Kind::Ldap => "ldap",
            Kind::Network => "network",
            Kind::Tls => "tls",
            Kind::Files => "files",
        }
    }

    /// What the export screen calls it.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Jwt => "Appliances JWT Configuration",
            Kind::Users => "Local users",
            Kind::Ldap => "LDAP settings",
            Kind::Network => "Network settings",
            Kind::Tls => "TLS certificate (node-local)",
            Kind::Files => "Custom files",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Kind::Jwt => JwtExport::FILE,
            Kind::Users => "components/users.yaml",
            Kind::Ldap => LdapExport::FILE,
            Kind::Network => "components/network.yaml",
            Kind::Tls => TlsExport::FILE,
            Kind::Files => FILES_DIR,
        }
    }

    /// Parses a component name.
    pub fn parse(s: &str) -> Result<Kind, OpsError> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                OpsError::Invalid(format!(
                    "unknown component {s:?}; choose from {}",
                    names.join(", ")
                ))
            })
    }
}

/// Where a long export or import reports how far it has got, in bytes. The
/// command line draws a progress bar with it; this layer never touches the
/// terminal. Calls may come from any thread.
pub trait Progress: Sync {
    /// The number of bytes the operation will go through, once known.
    fn total(&self, _bytes: u64) {}
    /// The number of bytes gone through so far; it never decreases.
    fn done(&self, _bytes: u64) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}

/// How many bytes add up before [`Tally`] reports them.
const REPORT_EVERY: u64 = 1 << 20;

/// Adds bytes up and reports the sum to a [`Progress`] every
/// [`REPORT_EVERY`] bytes and when asked.
struct Tally<'a> {
    progress: &'a dyn Progress,
    done: u64,
    reported: u64,
}

impl<'a> Tally<'a> {
    fn new(progress: &'a dyn Progress) -> Self {
        Self {
            progress,
            done: 0,
            reported: 0,
        }
    }

    fn add(&mut self, n: usize) {
        self.done += n as u64;
        if self.done - self.reported >= REPORT_EVERY {
            self.report();
        }
    }

    fn report(&mut self) {
        self.reported = self.done;
        self.progress.done(self.done);
    }
}

/// A reader that counts what passes through it into a [`Tally`], and
/// reports the sum when it reaches the end.
struct Counted<'t, 'a, R> {
    inner: R,
    tally: &'t mut Tally<'a>,
}

impl<R: Read> Read for Counted<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.tally.report();
        } else {
            self.tally.add(n);
        }
        Ok(n)
    }
}

/// One entry under `files/`, as listed before an export.
struct Listed {
    /// Path in the archive (`files/...`).
    path: String,
    /// Where it is.
    source: std::path::PathBuf,
    is_dir: bool,
    mode: u32,
    size: u64,
}

/// Why a bundle operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The header.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The payload stream or archive.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The manifest.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A component file.
    #[error("the bundle's {0}")]
    Component(component::ComponentError),
    /// Proof failed after apply.
    #[error(
        "the bundle's proof token does not verify with the JWT configuration just applied ({0}); the import was rolled back"
    )]
    Proof(String),
}

type Result<T, E = OpsError> = std::result::Result<T, E>;

fn map_archive(e: ArchiveError) -> BundleError {
    if let ArchiveError::Io(io) = &e
        && let Some(p) = payload_error(io)
    {
        return BundleError::Header(HeaderError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            p.clone(),
        )));
    }
    BundleError::Archive(e)
}

fn export_jwt(ops: &Ops, s: &JwtSettings, now: u64) -> Result<JwtExport> {
    let keys = ops.app.keyset(s, now)?;
    let key = |k: &JwtKey, created_at| ExportedKey {
        kid: k.kid().to_owned(),
        secret: SecretBase64::encode(k.expose_secret()),
        created_at,
    };
    Ok(JwtExport {
        version: component::FORMAT_VERSION,
        algorithm: s.algorithm,
        expiry_value: s.expiry_value,
        expiry_unit: s.expiry_unit,
        max_session_seconds: s.max_session_seconds,
        active_key: key(keys.active(), s.active_key.created_at),
        previous_keys: s
            .previous_keys
            .iter()
            .filter(|r| r.accept_until >= now)
            .filter_map(|r| {
                let k = keys.previous().iter().find(|k| k.key.kid() == r.key.kid)?;
                Some(ExportedRetiredKey {
                    key: key(&k.key, r.key.created_at),
                    retired_at: r.retired_at,
                    accept_until: r.accept_until,
                })
            })
            .collect(),
    })
}

/// A bundle opened and checked, not yet applied.
pub struct Opened {
    /// The manifest.
    pub manifest: Manifest,
    /// The header's KDF parameters.
    pub kdf: KdfParams,
    /// The JWT component, when present.
    pub jwt: Option<JwtExport>,
    /// The users component, when present.
    pub users: Option<Users>,
    /// The LDAP component, when present.
    pub ldap: Option<LdapExport>,
    /// The network component, when present.
    pub network: Option<component::Network>,
    /// The TLS component, when present.
    pub tls: Option<TlsExport>,
    /// The staged tree of custom files, when present.
    pub files: Option<std::path::PathBuf>,
    /// The staging directory, when this value owns it: the staged custom
    /// files must outlive the plan and the apply that read them.
    staging: Option<tempfile::TempDir>,
}

impl Opened {
    /// The components the bundle carries, in bundle order.
    pub fn kinds(&self) -> Vec<Kind> {
        Kind::ALL
            .into_iter()
            .filter(|k| self.manifest.component(k.name()).is_some())
            .collect()
    }
}

/// One line of a plan.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Change {
    /// `added`, `changed`, `removed`.
    pub what: String,
    /// The item and values (secrets as fingerprints).
    pub detail: String,
}

/// What an import would do to one component.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ComponentPlan {
    /// Component name.
    pub component: String,
    /// `unchanged` when there is nothing to do.
    pub status: String,
    /// The changes.
    pub changes: Vec<Change>,
}

impl ComponentPlan {
    fn new(component: &str, changes: Vec<Change>) -> Self {
        let status = if changes.is_empty() {
            "unchanged"
        } else {
            "changed"
        };
        Self {
            component: component.to_owned(),
            status: status.to_owned(),
            changes,
        }
    }
}

/// What an import would do.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Plan {
    /// Where the bundle came from.
    pub source: Source,
    /// When it was made.
    pub created_at: u64,
    /// Per component.
    pub components: Vec<ComponentPlan>,
    /// Live sessions the change of key would end.
    pub sessions_ended: String,
}

/// The plan as `import` and `import --dry-run` print it.
impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Import plan: bundle from {} (cluster {}), made {}",
            self.source.name,
            self.source.cluster_id,
            rfc3339(self.created_at)
        )?;
        for c in &self.components {
            writeln!(f, "  {}: {}", c.component, c.status)?;
            for ch in &c.changes {
                writeln!(f, "    {} {}", ch.what, ch.detail)?;
            }
        }
        writeln!(f, "  live sessions ended: {}", self.sessions_ended)
    }
}

impl Plan {
    /// Whether anything changes.
    pub fn is_noop(&self) -> bool {
        self.components
            .iter()
            .all(|c| c.changes.iter().all(|ch| ch.what == "skipped"))
    }
}

/// The outcome of an import.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ImportOutcome {
    /// `applied` or `unchanged`.
    pub outcome: String,
    /// The snapshot taken before applying.
    pub snapshot: Option<String>,
    /// The active key fingerprint after the import.
    pub jwt_kid: String,
}

/// The outcome as `import` prints it, with the way to undo it.
impl std::fmt::Display for ImportOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.snapshot {
            Some(s) => write!(
                f,
                "Imported: {}; active JWT key {}. Undo with `tacctl rollback {s}`.",
                self.outcome, self.jwt_kid
            ),
            None => write!(
                f,
                "Nothing to change: this appliance already has that configuration."
            ),
        }
    }
}

/// What `export` reports once the bundle is written.
pub fn export_summary(manifest: &Manifest, path: &Path) -> String {
    format!(
        "Exported {} from {} to {}",
        manifest
            .components
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        manifest.source.name,
        path.display()
    )
}

/// The shortest bundle passphrase accepted unless weak ones are allowed.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

/// The zxcvbn score (of 4) a bundle passphrase needs.
pub const MIN_PASSPHRASE_SCORE: u8 = 3;

/// A bundle passphrase the strength policy refuses.
#[derive(Debug, thiserror::Error)]
#[error(
    "the passphrase is too weak (at least {MIN_PASSPHRASE_CHARS} characters and a strength score of {MIN_PASSPHRASE_SCORE} of 4 needed, it scores {score})"
)]
pub struct WeakPassphrase {
    /// Its zxcvbn score.
    pub score: u8,
}

/// The strength policy for new bundle passphrases: at least
/// [`MIN_PASSPHRASE_CHARS`] characters and a zxcvbn score of
/// [`MIN_PASSPHRASE_SCORE`].
pub fn check_passphrase(passphrase: &SecretString) -> Result<(), WeakPassphrase> {
    use secrecy::ExposeSecret;
    let p = passphrase.expose_secret();
    let score: u8 = zxcvbn::zxcvbn(p, &[]).score().into();
    if p.chars().count() < MIN_PASSPHRASE_CHARS || score < MIN_PASSPHRASE_SCORE {
        return Err(WeakPassphrase { score });
    }
    Ok(())
}

/// The default bundle name: `NODE-UTCTIME.tacbundle`, colons left out.
pub fn default_bundle_name(node_name: &str, now: u64) -> PathBuf {
    PathBuf::from(format!(
        "{node_name}-{}.tacbundle",
        rfc3339(now).replace(':', "")
    ))
}

impl Ops {
    /// Writes a bundle of `kinds` to `out`. Node-local parts (the host name)
    /// are included only with `include_node_local` (full backups).
    /// `progress` learns the bytes of content to archive, then how many have
    /// been archived.
    #[allow(clippy::too_many_arguments)]
    pub fn export<W: Write>(
        &self,
        kinds: &[Kind],
        include_node_local: bool,
        passphrase: &SecretString,
        kdf: KdfParams,
        out: W,
        now: u64,
        progress: &dyn Progress,
    ) -> Result<(Manifest, W)> {
        let _lock = self.app.lock(self.lock_timeout)?;
        let node = self.app.node()?;
        let settings = self.app.jwt_settings()?;
        let mut texts: Vec<(Kind, zeroize::Zeroizing<String>)> = Vec::new();
        for kind in kinds {
            let text = match kind {
                Kind::Jwt => component::render(&export_jwt(self, &settings, now)?)?,
                Kind::Users => component::render(&self.app.users()?)?,
                Kind::Ldap => {
                    let Some(l) = self.app.ldap()? else {
                        return Err(OpsError::Invalid(
                            "LDAP is not configured on this appliance; configure it with `tacctl ldap set` or leave ldap out of -c".into(),
                        ));
                    };
                    let bind_password = l
                        .bind_password_sealed
                        .as_deref()
                        .map(|s| {
                            self.app
                                .open_ldap_password(s)
                                .map(|p| SecretBase64::encode(&p))
                        })
                        .transpose()?;
                    component::render(&LdapExport {
                        version: component::FORMAT_VERSION,
                        common: l.common,
                        bind_password,
                    })?
                }
                Kind::Tls => {
                    if !include_node_local {
                        return Err(OpsError::Invalid(
                            "tls is node-local: it goes only into full backups (--all) or with --include-node-local".into(),
                        ));
                    }
                    let Some(t) = self.app.tls()? else {
                        return Err(OpsError::Invalid(
                            "no TLS certificate is installed; install one with `tacctl tls set` or leave tls out of -c".into(),
                        ));
                    };
                    let key = self.app.open_tls_key(&t.key_sealed)?;
                    component::render(&TlsExport {
                        version: component::FORMAT_VERSION,
                        cert_pem: t.cert_pem,
                        key: SecretBase64::encode(&key),
                    })?
                }
                Kind::Network => {
                    let mut n = self.app.network()?;
                    if !include_node_local {
                        n.hostname = None;
                    }
                    component::render(&n)?
                }
                Kind::Files => continue,
            };
            texts.push((*kind, zeroize::Zeroizing::new(text)));
        }
        let keys = self.app.keyset(&settings, now)?;
        let policy = self.policy(&settings, &node);
        let proof = Claims {
            sub: format!("tacctl-bundle:{}", node.node_id),
            role: "bundle-proof".into(),
            iss: node.cluster_id.clone(),
            iat: now,
            nbf: now,
            exp: now + 300,
            jti: new_id(),
            sid: new_id(),
            auth_time: now,
        };
        let io = |e: std::io::Error| OpsError::from(BundleError::Header(HeaderError::Io(e)));
        // Listed before the key derivation, so a link under files/ is
        // refused at once and the progress has its total.
        let listing = if kinds.contains(&Kind::Files) {
            Some(self.list_files()?)
        } else {
            None
        };
        progress.total(
            texts.iter().map(|(_, t)| t.len() as u64).sum::<u64>()
                + listing.iter().flatten().map(|i| i.size).sum::<u64>(),
        );
        let mut tally = Tally::new(progress);
        let writer = header::seal(out, passphrase, kdf).map_err(BundleError::from)?;
        let mut ar = archive::ArchiveWriter::new(writer, blocks::default_workers());
        let mut components = Vec::new();
        for (k, text) in &texts {
            ar.add_bytes(k.path(), text.as_bytes(), 0o600).map_err(io)?;
            tally.add(text.len());
            components.push(ComponentEntry {
                name: k.name().to_owned(),
                version: component::FORMAT_VERSION,
                scope: "cluster".into(),
                files: vec![FileEntry::of(k.path(), text.as_bytes())],
                dirs: Vec::new(),
            });
        }
        if let Some(listing) = listing {
            components.push(self.export_files(&mut ar, listing, &mut tally)?);
        }
        tally.report();
        // The manifest goes last: custom files are hashed as they stream past.
        let manifest = Manifest {
            format_version: MANIFEST_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at: now,
            source: Source {
                name: node.name.clone(),
                node_id: node.node_id.clone(),
                cluster_id: node.cluster_id.clone(),
            },
            components,
            jwt_kid: keys.active().kid().to_owned(),
            proof_token: jwt::sign(&proof, &keys, policy.algorithm)?,
        };
        let manifest_text = yaml_serde::to_string(&manifest).expect("the manifest serialises");
        ar.add_bytes(MANIFEST_PATH, manifest_text.as_bytes(), 0o600)
            .map_err(io)?;
        let out = ar.finish().map_err(io)?.finish().map_err(io)?;
        Ok((manifest, out))
    }

    /// What is under `files/`, in archive order: regular files and
    /// directories only.
    fn list_files(&self) -> Result<Vec<Listed>> {
        let base = self.app.root().join(FILES_DIR);
        let mut out = Vec::new();
        if !base.exists() {
            return Ok(out);
        }
        let io = |e: std::io::Error| OpsError::from(BundleError::Header(HeaderError::Io(e)));
        let mut case_seen = std::collections::HashMap::new();
        for item in walkdir::WalkDir::new(&base)
            .min_depth(1)
            .sort_by_file_name()
        {
            let item = item.map_err(|e| io(std::io::Error::other(e)))?;
            let rel = item
                .path()
                .strip_prefix(&base)
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

    /// Streams the listed custom files into the archive, mode bits kept,
    /// each file hashed on the way.
    fn export_files<W: Write>(
        &self,
        ar: &mut archive::ArchiveWriter<W>,
        listing: Vec<Listed>,
        tally: &mut Tally<'_>,
    ) -> Result<ComponentEntry> {
        let mut entry = ComponentEntry {
            name: Kind::Files.name().to_owned(),
            version: component::FORMAT_VERSION,
            scope: "cluster".into(),
            files: Vec::new(),
            dirs: Vec::new(),
        };
        let io = |e: std::io::Error| OpsError::from(BundleError::Header(HeaderError::Io(e)));
        for item in listing {
            if item.is_dir {
                ar.add_dir(&item.path, item.mode).map_err(io)?;
                entry.dirs.push(item.path);
                continue;
            }
            let f = std::fs::File::open(&item.source).map_err(io)?;
            let mut hashing = HashingReader::new(f);
            let counted = Counted {
                inner: &mut hashing,
                tally: &mut *tally,
            };
            ar.add_reader(&item.path, counted, item.size, item.mode)
                .map_err(io)?;
            entry.files.push(FileEntry {
                path: item.path,
                size: item.size,
                sha256: hashing.hex(),
                mode: Some(item.mode),
            });
        }
        Ok(entry)
    }

    /// Decrypts, authenticates and checks a bundle in a private staging directory.
    pub fn open_bundle<R: Read + Send>(
        &self,
        input: R,
        passphrase: &SecretString,
    ) -> Result<Opened> {
        self.open_bundle_with(input, passphrase, &NoProgress)
    }

    /// [`Ops::open_bundle`], reporting the bytes read to `progress`.
    pub fn open_bundle_with<R: Read + Send>(
        &self,
        input: R,
        passphrase: &SecretString,
        progress: &dyn Progress,
    ) -> Result<Opened> {
        let staging = tempfile::Builder::new()
            .prefix(".import-")
            .tempdir_in(self.app.root())
            .map_err(ApplianceError::io(self.app.root()))?;
        let mut opened = open_into(input, passphrase, staging.path(), progress)?;
        opened.staging = Some(staging);
        Ok(opened)
    }

    /// [`Ops::open_bundle`] on a file.
    pub fn open_bundle_file(
        &self,
        path: &Path,
        passphrase: &SecretString,
        progress: &dyn Progress,
    ) -> Result<Opened> {
        if !path.is_file() {
            return Err(OpsError::Invalid(format!(
                "no bundle at {}",
                path.display()
            )));
        }
        let f = std::fs::File::open(path).map_err(ApplianceError::io(path))?;
        self.open_bundle_with(std::io::BufReader::new(f), passphrase, progress)
    }

    /// Writes a bundle of `kinds` to a new file at `path`, mode 0600: a
    /// temporary file beside it, synced, then linked into place without
    /// replacing anything, so `path` either does not exist or is complete.
    #[allow(
        clippy::too_many_arguments,
        reason = "the export's choices, passed on as `export` takes them"
    )]
    pub fn export_to_file(
        &self,
        kinds: &[Kind],
        include_node_local: bool,
        passphrase: &SecretString,
        kdf: KdfParams,
        path: &Path,
        now: u64,
        progress: &dyn Progress,
    ) -> Result<Manifest> {
        if path.exists() {
            return Err(OpsError::Invalid(format!(
                "{} exists; choose another file name or remove it first",
                path.display()
            )));
        }
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".tacctl-export-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .tempfile_in(dir)
            .map_err(ApplianceError::io(dir))?;
        let io = ApplianceError::io;
        let tmp_path = tmp.path().to_path_buf();
        let file = tmp.reopen().map_err(io(&tmp_path))?;
        let (manifest, file) = self.export(
            kinds,
            include_node_local,
            passphrase,
            kdf,
            std::io::BufWriter::new(file),
            now,
            progress,
        )?;
        file.into_inner()
            .map_err(|e| io(&tmp_path)(e.into_error()))?
            .sync_all()
            .map_err(io(&tmp_path))?;
        tmp.persist_noclobber(path)
            .map_err(|e| ApplianceError::io(path)(e.error))?;
        Ok(manifest)
    }

    /// The plan of importing `opened` (only `kinds`) onto this appliance.
    pub fn plan(
        &self,
        opened: &Opened,
        kinds: &[Kind],
        include_node_local: bool,
        _now: u64,
    ) -> Result<Plan> {
        let mut components = Vec::new();
        let mut sessions = "none: the JWT key does not change".to_owned();
        if let (true, Some(incoming)) = (kinds.contains(&Kind::Jwt), &opened.jwt) {
            let cur = self.app.jwt_settings()?;
            let mut changes = Vec::new();
            let mut diff = |field: &str, a: String, b: String| {
                if a != b {
                    changes.push(Change {
                        what: "changed".into(),
                        detail: format!("{field}: {a} -> {b}"),
                    });
                }
            };
            diff(
                "algorithm",
                cur.algorithm.to_string(),
                incoming.algorithm.to_string(),
            );
            diff(
                "expiry",
                cur.expiry().to_string(),
                format!("{} {}", incoming.expiry_value, incoming.expiry_unit),
            );
            diff(
                "max session",
                format!("{} s", cur.max_session_seconds),
                format!("{} s", incoming.max_session_seconds),
            );
            diff(
                "active key",
                cur.active_key.kid.clone(),
                incoming.active_key.kid.clone(),
            );
            if cur.active_key.kid != incoming.active_key.kid {
                sessions = format!(
                    "none: this node's current key {} stays accepted until {} s from now, then its sessions end",
                    cur.active_key.kid,
                    cur.expiry().seconds()
                );
            }
            components.push(ComponentPlan::new("jwt", changes));
        }
        if let (true, Some(incoming)) = (kinds.contains(&Kind::Users), &opened.users) {
            let cur = self.app.users()?;
            let mut changes = Vec::new();
            for u in &incoming.users {
                match cur.get(&u.name) {
                    None => changes.push(Change {
                        what: "added".into(),
                        detail: format!("{} ({}, API access {})", u.name, u.role, u.api_access),
                    }),
                    Some(c) if c != u => {
                        let mut what = Vec::new();
                        if c.role != u.role {
                            what.push(format!("role {} -> {}", c.role, u.role));
                        }
                        if c.api_access != u.api_access {
                            what.push(format!("API access {} -> {}", c.api_access, u.api_access));
                        }
                        if c.password_hash != u.password_hash {
                            what.push("password".into());
                        }
                        changes.push(Change {
                            what: "changed".into(),
                            detail: format!("{}: {}", u.name, what.join(", ")),
                        });
                    }
                    Some(_) => {}
                }
            }
            for c in &cur.users {
                if incoming.get(&c.name).is_none() {
                    changes.push(Change {
                        what: "removed".into(),
                        detail: c.name.clone(),
                    });
                }
            }
            components.push(ComponentPlan::new("users", changes));
        }
        if let (true, Some(incoming)) = (kinds.contains(&Kind::Ldap), &opened.ldap) {
            let cur = self.app.ldap()?;
            let mut changes = Vec::new();
            match &cur {
                None => changes.push(Change {
                    what: "added".into(),
                    detail: format!("{} (base {})", incoming.common.url, incoming.common.base_dn),
                }),
                Some(c) => {
                    let a = serde_json::to_value(&c.common).expect("settings serialise");
                    let b = serde_json::to_value(&incoming.common).expect("settings serialise");
                    if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
                        for (k, v) in b {
                            if a.get(k) != Some(v) {
                                changes.push(Change {
                                    what: "changed".into(),
                                    detail: format!(
                                        "{k}: {} -> {v}",
                                        a.get(k).cloned().unwrap_or_default()
                                    ),
                                });
                            }
                        }
                        for k in a.keys().filter(|k| !b.contains_key(*k)) {
                            changes.push(Change {
                                what: "removed".into(),
                                detail: k.clone(),
                            });
                        }
                    }
                    let old_pw = c
                        .bind_password_sealed
                        .as_deref()
                        .map(|s| self.app.open_ldap_password(s))
                        .transpose()?;
                    let new_pw = incoming.bind_password.as_ref().and_then(|p| p.decode());
                    if old_pw.as_deref().map(|p| &p[..]) != new_pw.as_deref().map(|p| &p[..]) {
                        changes.push(Change {
                            what: "changed".into(),
                            detail: "bind password".into(),
                        });
                    }
                }
            }
            components.push(ComponentPlan::new("ldap", changes));
        }
        if let (true, Some(incoming)) = (kinds.contains(&Kind::Network), &opened.network) {
            let cur = self.app.network()?;
            let new = self.merged_network(opened, incoming, &cur, include_node_local)?;
            let mut changes = Vec::new();
            let mut diff = |field: &str, a: String, b: String| {
                if a != b {
                    changes.push(Change {
                        what: "changed".into(),
                        detail: format!("{field}: [{a}] -> [{b}]"),
                    });
                }
            };
            diff(
                "dns servers",
                cur.dns_servers.join(", "),
                new.dns_servers.join(", "),
            );
            diff(
                "ntp servers",
                cur.ntp_servers.join(", "),
                new.ntp_servers.join(", "),
            );
            let targets = |n: &component::Network| {
                n.syslog_targets
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            diff("syslog targets", targets(&cur), targets(&new));
            diff(
                "hostname",
                cur.hostname.clone().unwrap_or_default(),
                new.hostname.clone().unwrap_or_default(),
            );
            if incoming.hostname.is_some() && new.hostname != incoming.hostname {
                changes.push(Change {
                    what: "skipped".into(),
                    detail: "hostname (node-local, from another node): pass --include-node-local to apply it".into(),
                });
            }
            components.push(ComponentPlan::new("network", changes));
        }
        if let (true, Some(incoming)) = (kinds.contains(&Kind::Tls), &opened.tls) {
            let cur = self.app.tls()?;
            let new_fp = component::cert_fingerprint(&incoming.cert_pem)
                .map_err(|e| OpsError::Invalid(e.problem))?;
            let cur_fp = cur
                .as_ref()
                .map(|t| {
                    component::cert_fingerprint(&t.cert_pem)
                        .map_err(|e| OpsError::Invalid(e.problem))
                })
                .transpose()?;
            let mut changes = Vec::new();
            if cur_fp.as_deref() != Some(new_fp.as_str()) {
                if self.node_local_applies(opened, include_node_local)? {
                    changes.push(Change {
                        what: if cur.is_some() { "changed" } else { "added" }.into(),
                        detail: format!(
                            "certificate {} -> {new_fp}",
                            cur_fp.unwrap_or_else(|| "none".into())
                        ),
                    });
                } else {
                    changes.push(Change {
                        what: "skipped".into(),
                        detail: "certificate (node-local, from another node): pass --include-node-local to apply it".into(),
                    });
                }
            }
            let applies = changes.iter().any(|c| c.what != "skipped");
            let mut plan = ComponentPlan::new("tls", changes);
            if !applies {
                plan.status = "unchanged".into();
            }
            components.push(plan);
        }
        if let (true, Some(tree)) = (kinds.contains(&Kind::Files), &opened.files) {
            let io = |e| {
                OpsError::from(ApplianceError::Io {
                    path: tree.clone(),
                    source: e,
                })
            };
            let new: std::collections::BTreeMap<String, (String, u32, u64)> = opened
                .manifest
                .component(Kind::Files.name())
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
            let cur = tree_digest(&self.app.root().join(FILES_DIR), &new).map_err(io)?;
            let new: std::collections::BTreeMap<String, (String, u32)> =
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
            components.push(ComponentPlan::new("files", changes));
        }
        Ok(Plan {
            source: opened.manifest.source.clone(),
            created_at: opened.manifest.created_at,
            components,
            sessions_ended: sessions,
        })
    }

    /// Whether node-local parts of `opened` apply here: this node's own
    /// backup, or `include_node_local`.
    fn node_local_applies(&self, opened: &Opened, include_node_local: bool) -> Result<bool> {
        Ok(include_node_local || opened.manifest.source.node_id == self.app.node()?.node_id)
    }

    /// The network settings an import would leave: the bundle's cluster-wide
    /// lists, and its host name only when node-local parts apply (restoring
    /// this node's own backup, or `include_node_local`).
    fn merged_network(
        &self,
        opened: &Opened,
        incoming: &component::Network,
        cur: &component::Network,
        include_node_local: bool,
    ) -> Result<component::Network> {
        let hostname = if self.node_local_applies(opened, include_node_local)?
            && incoming.hostname.is_some()
        {
            incoming.hostname.clone()
        } else {
            cur.hostname.clone()
        };
        Ok(component::Network {
            version: component::FORMAT_VERSION,
            hostname,
            ..incoming.clone()
        })
    }

    /// Applies `opened` (only `kinds`) in one journaled change, then checks the proof token.
    pub fn apply(
        &self,
        opened: &Opened,
        kinds: &[Kind],
        include_node_local: bool,
        now: u64,
    ) -> Result<ImportOutcome> {
        let _lock = self.app.lock(self.lock_timeout)?;
        self.app.recover()?;
        let plan = self.plan(opened, kinds, include_node_local, now)?;
        let components: Vec<String> = plan
            .components
            .iter()
            .map(|c| c.component.clone())
            .collect();
        let source = format!(
            "{} ({})",
            opened.manifest.source.name, opened.manifest.source.node_id
        );
        if plan.is_noop() {
            self.app.audit(AuditRecord {
                time: now,
                action: "import".into(),
                source: Some(source),
                components,
                outcome: "unchanged".into(),
                snapshot: None,
            })?;
            return Ok(ImportOutcome {
                outcome: "unchanged".into(),
                snapshot: None,
                jwt_kid: self.app.jwt_settings()?.active_key.kid,
            });
        }
        let mut changes: Vec<(String, Vec<u8>)> = Vec::new();
        if let (true, Some(incoming)) = (kinds.contains(&Kind::Jwt), &opened.jwt) {
            let cur = self.app.jwt_settings()?;
            let settings = self.reseal(incoming, &cur, now)?;
            changes.push((
                JwtSettings::FILE.into(),
                component::render(&settings)?.into_bytes(),
            ));
        }
        if let (true, Some(incoming)) = (kinds.contains(&Kind::Users), &opened.users) {
            changes.push((
                Users::FILE.into(),
                component::render(incoming)?.into_bytes(),
            ));
        }
        if let (true, Some(incoming)) = (kinds.contains(&Kind::Ldap), &opened.ldap) {
            let sealed = incoming
                .bind_password
                .as_ref()
                .and_then(|p| p.decode())
                .map(|p| self.app.seal_ldap_password(&p))
                .transpose()?;
            let settings = component::LdapSettings {
                version: component::FORMAT_VERSION,
                common: incoming.common.clone(),
                bind_password_sealed: sealed,
            };
            changes.push((
                <component::LdapSettings as Stored>::FILE.into(),
                component::render(&settings)?.into_bytes(),
            ));
        }
        if let (true, Some(incoming)) = (kinds.contains(&Kind::Network), &opened.network) {
            let merged =
                self.merged_network(opened, incoming, &self.app.network()?, include_node_local)?;
            changes.push((
                <component::Network as Stored>::FILE.into(),
                component::render(&merged)?.into_bytes(),
            ));
        }
        if let (true, Some(incoming)) = (kinds.contains(&Kind::Tls), &opened.tls)
            && self.node_local_applies(opened, include_node_local)?
        {
            let key = incoming
                .key
                .decode()
                .ok_or_else(|| OpsError::Invalid("the bundled TLS key is not base64".into()))?;
            let settings = component::TlsSettings {
                version: component::FORMAT_VERSION,
                cert_pem: incoming.cert_pem.clone(),
                key_sealed: self.app.seal_tls_key(&key)?,
            };
            changes.push((
                <component::TlsSettings as Stored>::FILE.into(),
                component::render(&settings)?.into_bytes(),
            ));
        }
        let mut dirs = Vec::new();
        if let (true, Some(tree)) = (kinds.contains(&Kind::Files), &opened.files)
            && plan
                .components
                .iter()
                .any(|c| c.component == "files" && !c.changes.is_empty())
        {
            dirs.push((FILES_DIR.to_owned(), tree.clone()));
        }
        let snapshot = self.app.commit_with_dirs(
            &changes,
            &dirs,
            &[],
            &format!("import from {source}"),
            now,
        )?;
        // The proof: the source's token must verify with what was just applied.
        if kinds.contains(&Kind::Jwt)
            && opened.jwt.is_some()
            && let Err(why) = self.check_proof(&opened.manifest, now)
        {
            {
                let (meta, files) = self.app.snapshot_contents(&snapshot)?;
                let dirs = self.app.snapshot_dirs(&meta)?;
                self.app.commit_with_dirs(
                    &files,
                    &dirs,
                    &meta.absent,
                    &format!("undo failed import {snapshot}"),
                    now,
                )?;
                self.app.audit(AuditRecord {
                    time: now,
                    action: "import".into(),
                    source: Some(source),
                    components,
                    outcome: format!("rolled back: {why}"),
                    snapshot: Some(snapshot),
                })?;
                return Err(BundleError::Proof(why).into());
            }
        }
        self.app.audit(AuditRecord {
            time: now,
            action: "import".into(),
            source: Some(source),
            components,
            outcome: "applied".into(),
            snapshot: Some(snapshot.clone()),
        })?;
        Ok(ImportOutcome {
            outcome: "applied".into(),
            snapshot: Some(snapshot),
            jwt_kid: self.app.jwt_settings()?.active_key.kid,
        })
    }

    fn check_proof(&self, manifest: &Manifest, now: u64) -> std::result::Result<(), String> {
        let settings = self.app.jwt_settings().map_err(|e| e.to_string())?;
        let keys = self.app.keyset(&settings, now).map_err(|e| e.to_string())?;
        let policy = Policy {
            algorithm: settings.algorithm,
            issuer: manifest.source.cluster_id.clone(),
            lifetime: 0,
            max_session: 0,
            leeway: jwt::LEEWAY_SECONDS,
        };
        // Its age is not held against it: check at the time it was made.
        let claims = jwt::verify(&manifest.proof_token, &keys, &policy, manifest.created_at)
            .map_err(|e| e.to_string())?;
        if claims.iat != manifest.created_at {
            return Err("the proof token is not this bundle's".into());
        }
        Ok(())
    }

    /// The incoming JWT configuration, with every key sealed under this
    /// node's master key; this node's current key stays accepted for one
    /// expiry period so no live session is cut off.
    fn reseal(&self, incoming: &JwtExport, cur: &JwtSettings, now: u64) -> Result<JwtSettings> {
        let seal = |k: &ExportedKey| -> Result<SealedKey> {
            let secret = k
                .secret
                .decode()
                .ok_or_else(|| OpsError::Invalid("a bundled key is not base64".into()))?;
            let key = JwtKey::from_secret(secret.to_vec())?;
            let mut sealed = self.app.seal_key(&key, now)?;
            sealed.created_at = k.created_at;
            Ok(sealed)
        };
        let mut previous: Vec<StoredRetiredKey> = incoming
            .previous_keys
            .iter()
            .filter(|r| r.accept_until >= now)
            .map(|r| {
                Ok(StoredRetiredKey {
                    key: seal(&r.key)?,
                    retired_at: r.retired_at,
                    accept_until: r.accept_until,
                })
            })
            .collect::<Result<_>>()?;
        if cur.active_key.kid != incoming.active_key.kid
            && !previous.iter().any(|r| r.key.kid == cur.active_key.kid)
        {
            previous.push(StoredRetiredKey {
                key: cur.active_key.clone(),
                retired_at: now,
                accept_until: now + cur.expiry().seconds(),
            });
        }
        Ok(JwtSettings {
            version: component::FORMAT_VERSION,
            algorithm: incoming.algorithm,
            expiry_value: incoming.expiry_value,
            expiry_unit: incoming.expiry_unit,
            max_session_seconds: incoming.max_session_seconds,
            active_key: seal(&incoming.active_key)?,
            previous_keys: previous,
        })
    }

    /// Snapshots, newest first.
    pub fn snapshots(&self) -> Result<Vec<SnapshotMeta>> {
        Ok(self.app.snapshots()?)
    }

    /// Restores snapshot `id` as one change (itself undoable).
    pub fn rollback(&self, id: &str, now: u64) -> Result<String> {
        let _lock = self.app.lock(self.lock_timeout)?;
        self.app.recover()?;
        let (meta, files) = self.app.snapshot_contents(id)?;
        for (rel, bytes) in &files {
            if rel == JwtSettings::FILE {
                let s: JwtSettings = component::parse(&String::from_utf8_lossy(bytes), rel)?;
                self.app.keyset(&s, now)?;
            }
        }
        let dirs = self.app.snapshot_dirs(&meta)?;
        let undo = self.app.commit_with_dirs(
            &files,
            &dirs,
            &meta.absent,
            &format!("rollback to {id}"),
            now,
        )?;
        self.app.audit(AuditRecord {
            time: now,
            action: "rollback".into(),
            source: None,
            components: meta.files.iter().chain(meta.dirs.iter()).cloned().collect(),
            outcome: format!("restored {id}"),
            snapshot: Some(undo.clone()),
        })?;
        Ok(undo)
    }

    /// The audit records, oldest first.
    pub fn history(&self) -> Result<Vec<AuditRecord>> {
        Ok(self.app.history()?)
    }
}

/// Opens a bundle into `staging` (an empty private directory) and checks it.
/// `progress` learns how many bytes of `input` have been read; the caller
/// knows the bundle's size.
///
/// Nothing is trusted until the stream's last chunk has been authenticated
/// and nothing was found after the archive: the extraction fails otherwise,
/// and the caller discards `staging`. Format version 2 inflates its blocks
/// on every core ([`archive::extract`]); version 1's single gzip member is
/// read by [`extract_v1`].
pub fn open_into<R: Read + Send>(
    input: R,
    passphrase: &SecretString,
    staging: &Path,
    progress: &dyn Progress,
) -> Result<Opened> {
    let mut tally = Tally::new(progress);
    let input = Counted {
        inner: input,
        tally: &mut tally,
    };
    let (info, reader) = header::open(input, passphrase).map_err(BundleError::from)?;
    let files = match info.version {
        1 => extract_v1(reader, staging),
        _ => archive::extract(reader, staging, blocks::default_workers()),
    }
    .map_err(map_archive)?;
    let manifest_bytes = std::fs::read(staging.join(MANIFEST_PATH)).map_err(|_| {
        BundleError::Manifest(ManifestError::Contents("manifest.yaml is missing".into()))
    })?;
    let manifest =
        Manifest::parse(&String::from_utf8_lossy(&manifest_bytes)).map_err(BundleError::from)?;
    manifest.check_files(&files).map_err(BundleError::from)?;
    let mut opened = Opened {
        manifest,
        kdf: info.kdf,
        jwt: None,
        users: None,
        ldap: None,
        network: None,
        tls: None,
        files: None,
        staging: None,
    };
    for c in &opened.manifest.components {
        let kind = Kind::parse(&c.name).map_err(|_| {
            BundleError::Manifest(ManifestError::Contents(format!(
                "unknown component {:?}",
                c.name
            )))
        })?;
        if c.version > component::FORMAT_VERSION {
            return Err(BundleError::Manifest(ManifestError::Contents(format!(
                "component {} is version {}, newer than this tacctl reads ({}); upgrade tacctl",
                c.name,
                c.version,
                component::FORMAT_VERSION
            )))
            .into());
        }
        if kind == Kind::Files {
            let tree = staging.join(FILES_DIR);
            for d in &c.dirs {
                if !staging.join(d).is_dir() {
                    return Err(BundleError::Manifest(ManifestError::Contents(format!(
                        "{d} is listed but missing"
                    )))
                    .into());
                }
            }
            crate::appliance::create_private_dir(&tree).map_err(ApplianceError::io(&tree))?;
            // Mode bits travel, except setuid, setgid and sticky.
            for f in &c.files {
                let p = staging.join(&f.path);
                let mode = f.mode.unwrap_or(0o600) & 0o777;
                std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(mode))
                    .map_err(ApplianceError::io(&p))?;
            }
            opened.files = Some(tree);
            continue;
        }
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(staging.join(kind.path()))
                .map_err(ApplianceError::io(staging.join(kind.path())))?,
        );
        match kind {
            Kind::Jwt => {
                opened.jwt =
                    Some(component::parse(&text, kind.path()).map_err(BundleError::Component)?)
            }
            Kind::Users => {
                opened.users =
                    Some(component::parse(&text, kind.path()).map_err(BundleError::Component)?)
            }
            Kind::Ldap => {
                opened.ldap =
                    Some(component::parse(&text, kind.path()).map_err(BundleError::Component)?)
            }
            Kind::Network => {
                opened.network =
                    Some(component::parse(&text, kind.path()).map_err(BundleError::Component)?)
            }
            Kind::Tls => {
                opened.tls =
                    Some(component::parse(&text, kind.path()).map_err(BundleError::Component)?)
            }
            Kind::Files => {}
        }
    }
    Ok(opened)
}

/// Keys listed for `inspect`: fingerprints only.
pub fn key_fingerprints(opened: &Opened) -> Vec<String> {
    opened
        .jwt
        .iter()
        .flat_map(|j| {
            std::iter::once(j.active_key.kid.clone())
                .chain(j.previous_keys.iter().map(|r| r.key.kid.clone()))
        })
        .collect()
}

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hash: sha2::Sha256,
}

impl<R> HashingReader<R> {
    fn new(inner: R) -> Self {
        use sha2::Digest;
        Self {
            inner,
            hash: sha2::Sha256::new(),
        }
    }

    fn hex(self) -> String {
        use sha2::Digest;
        hex::encode(self.hash.finalize())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Each regular file under `base`, relative path to (SHA-256, mode). Only
/// files with the same size as their counterpart in `incoming` are hashed:
/// any other is changed or removed whatever its content.
fn tree_digest(
    base: &Path,
    incoming: &std::collections::BTreeMap<String, (String, u32, u64)>,
) -> std::io::Result<std::collections::BTreeMap<String, (String, u32)>> {
    let mut out = std::collections::BTreeMap::new();
    if !base.exists() {
        return Ok(out);
    }
    for item in walkdir::WalkDir::new(base).min_depth(1) {
        let item = item.map_err(std::io::Error::other)?;
        if item.file_type().is_file() {
            let rel = item
                .path()
                .strip_prefix(base)
                .expect("under base")
                .display()
                .to_string();
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &item
                    .metadata()
                    .map_err(std::io::Error::other)?
                    .permissions(),
            ) & 0o7777;
            let meta = item.metadata().map_err(std::io::Error::other)?;
            let sha = match incoming.get(&rel) {
                Some((_, _, size)) if *size == meta.len() => {
                    Manifest::digest(std::fs::File::open(item.path())?)?.1
                }
                _ => format!("size:{}", meta.len()),
            };
            out.insert(rel, (sha, mode));
        }
    }
    Ok(out)
}

/// Bytes per message between the threads of [`extract_v1`].
const PIECE: usize = 256 * 1024;

/// Extracts a format version 1 payload, one gzip member of the tar archive.
///
/// Three threads share the work: one decrypts, one decompresses, and this
/// one parses the archive, hashes and writes the files. It succeeds only
/// once the decrypting side has authenticated the stream's last chunk and
/// the decompressing side has found nothing after the gzip member.
fn extract_v1<R: Read + Send>(
    reader: crate::bundle::stream::StreamReader<R>,
    staging: &Path,
) -> std::result::Result<Vec<archive::Extracted>, ArchiveError> {
    let (ctx, crx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(4);
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(4);
    std::thread::scope(|scope| {
        scope.spawn(move || decrypt(reader, ctx));
        scope.spawn(move || {
            let plaintext = ChannelReader {
                rx: crx,
                buf: Vec::new(),
                pos: 0,
            };
            decompress(plaintext, tx)
        });
        let mut pipe = ChannelReader {
            rx,
            buf: Vec::new(),
            pos: 0,
        };
        let files = archive::extract_tar(&mut pipe, staging)?;
        // Read to the end: this surfaces any error the other side found
        // after the archive's end (bad gzip trailer, damaged or missing last
        // chunk, plaintext after the gzip member).
        archive::expect_end(&mut pipe)?;
        Ok(files)
    })
}

/// Sends what `reader` yields into `tx`, `PIECE` bytes at a time. On an
/// error, sends it and returns false; returns false too if the receiver is
/// gone, and true at the end of `reader`.
fn pump(
    reader: &mut impl Read,
    tx: &std::sync::mpsc::SyncSender<std::io::Result<Vec<u8>>>,
) -> bool {
    loop {
        let mut buf = Vec::with_capacity(PIECE);
        match reader.by_ref().take(PIECE as u64).read_to_end(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {
                if tx.send(Ok(buf)).is_err() {
                    return false;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return false;
            }
        }
    }
}

/// The first stage of [`open_into`]: authenticates and decrypts the payload
/// chunk by chunk into the channel; the channel closes only after the last
/// chunk was verified, and carries the error otherwise.
fn decrypt<R: Read>(
    mut reader: crate::bundle::stream::StreamReader<R>,
    tx: std::sync::mpsc::SyncSender<std::io::Result<Vec<u8>>>,
) {
    pump(&mut reader, &tx);
}

/// The second stage: gunzips into the channel, then checks that nothing
/// follows the gzip member.
fn decompress(reader: impl Read, tx: std::sync::mpsc::SyncSender<std::io::Result<Vec<u8>>>) {
    let mut gz = flate2::bufread::GzDecoder::new(std::io::BufReader::with_capacity(PIECE, reader));
    if !pump(&mut gz, &tx) {
        return;
    }
    let mut rest = gz.into_inner();
    let outcome = match std::io::BufRead::fill_buf(&mut rest) {
        Err(e) => Err(e),
        Ok(b) if !b.is_empty() => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the bundle holds data after its archive; it was not written by tacctl",
        )),
        Ok(_) => Ok(()),
    };
    if let Err(e) = outcome {
        let _ = tx.send(Err(e));
    }
}

/// Reads what [`decompress`] sends.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(Ok(b)) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
