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
//!
//! What is particular to each component (how it is exported, read back,
//! planned and applied) is its [`Part`](super::parts::Part); this module
//! drives every part the same way.

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
use crate::component::{self, JwtExport, JwtSettings, Stored};
use crate::jwt::{self, Claims, Policy};

use super::parts::{Applied, ExportCx, Exported, ImportCx, Listed, Staged};
pub use super::parts::{FILES_DIR, Kind};

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

/// A bundle opened and checked, not yet applied.
pub struct Opened {
    /// The manifest.
    pub manifest: Manifest,
    /// The header's KDF parameters.
    pub kdf: KdfParams,
    /// Each component the bundle carries, as its part read it, in bundle order.
    staged: Vec<(Kind, Staged)>,
    /// The staging directory, when this value owns it: the staged custom
    /// files must outlive the plan and the apply that read them.
    staging: Option<tempfile::TempDir>,
}

impl Opened {
    /// The components the bundle carries, in bundle order.
    pub fn kinds(&self) -> Vec<Kind> {
        self.staged.iter().map(|(k, _)| *k).collect()
    }

    /// The JWT configuration the bundle carries, when it carries one.
    pub fn jwt(&self) -> Option<&JwtExport> {
        self.staged
            .iter()
            .find(|(k, _)| *k == Kind::Jwt)
            .and_then(|(_, s)| s.downcast_ref())
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
    pub(crate) fn new(component: &str, changes: Vec<Change>) -> Self {
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

/// The most changes a printed plan shows for one component; the rest are
/// counted by kind. A tree of custom files may bring 100,000 files, and a
/// plan that scrolls past them all hides what matters; the plan in JSON
/// lists every change.
pub const PLAN_LINES_PER_COMPONENT: usize = 25;

/// The plan as `import` and `import --dry-run` print it, and the wizards
/// show it: at most [`PLAN_LINES_PER_COMPONENT`] changes per component.
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
            for ch in c.changes.iter().take(PLAN_LINES_PER_COMPONENT) {
                writeln!(f, "    {} {}", ch.what, ch.detail)?;
            }
            let rest = c
                .changes
                .get(PLAN_LINES_PER_COMPONENT..)
                .unwrap_or_default();
            if !rest.is_empty() {
                // Counted in the order the kinds first appear.
                let mut kinds: Vec<(&str, usize)> = Vec::new();
                for ch in rest {
                    match kinds.iter_mut().find(|(k, _)| *k == ch.what) {
                        Some((_, n)) => *n += 1,
                        None => kinds.push((&ch.what, 1)),
                    }
                }
                let counts: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
                writeln!(
                    f,
                    "    ... and {} more: {} (the plan in JSON lists them all: `tacctl import FILE --dry-run --json`, or the API's dry_run=true)",
                    rest.len(),
                    counts.join(", ")
                )?;
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
        let cx = ExportCx {
            ops: self,
            include_node_local,
            now,
        };
        // Every part's content first (a tree only listed), so that anything
        // that cannot be exported is refused before the key derivation and
        // the progress has its total.
        let mut kinds = kinds.to_vec();
        kinds.sort();
        kinds.dedup();
        let exported: Vec<(Kind, Exported)> = kinds
            .iter()
            .map(|k| Ok((*k, k.part().export(&cx)?)))
            .collect::<Result<_>>()?;
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
        progress.total(
            exported
                .iter()
                .map(|(_, e)| match e {
                    Exported::Text(t) => t.len() as u64,
                    Exported::Tree(listing) => listing.iter().map(|i| i.size).sum(),
                })
                .sum(),
        );
        let mut tally = Tally::new(progress);
        let writer = header::seal(out, passphrase, kdf).map_err(BundleError::from)?;
        let mut ar = archive::ArchiveWriter::new(writer, blocks::default_workers());
        let mut components = Vec::new();
        for (k, e) in exported {
            let scope = match k.scope() {
                component::Scope::Cluster => "cluster",
                component::Scope::Node => "node",
            };
            let entry = match e {
                Exported::Text(text) => {
                    ar.add_bytes(k.path(), text.as_bytes(), 0o600).map_err(io)?;
                    tally.add(text.len());
                    ComponentEntry {
                        name: k.name().to_owned(),
                        version: component::FORMAT_VERSION,
                        scope: scope.into(),
                        files: vec![FileEntry::of(k.path(), text.as_bytes())],
                        dirs: Vec::new(),
                    }
                }
                Exported::Tree(listing) => {
                    let mut entry = ComponentEntry {
                        name: k.name().to_owned(),
                        version: component::FORMAT_VERSION,
                        scope: scope.into(),
                        files: Vec::new(),
                        dirs: Vec::new(),
                    };
                    self.export_tree(&mut ar, listing, &mut entry, &mut tally)?;
                    entry
                }
            };
            components.push(entry);
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

    /// Streams a listed tree into the archive, mode bits kept, each file
    /// hashed on the way into `entry`.
    fn export_tree<W: Write>(
        &self,
        ar: &mut archive::ArchiveWriter<W>,
        listing: Vec<Listed>,
        entry: &mut ComponentEntry,
        tally: &mut Tally<'_>,
    ) -> Result<()> {
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
        Ok(())
    }

    /// Decrypts, authenticates and checks a bundle in a private staging
    /// directory, for an import.
    pub fn open_bundle<R: Read + Send>(
        &self,
        input: R,
        passphrase: &SecretString,
    ) -> Result<Opened> {
        self.open_bundle_with(input, None, Purpose::Import, passphrase, &NoProgress)
    }

    /// [`Ops::open_bundle`] for `purpose`, reporting the bytes read to
    /// `progress`. `size` is the bundle's length when known (see
    /// [`open_into`]).
    pub fn open_bundle_with<R: Read + Send>(
        &self,
        input: R,
        size: Option<u64>,
        purpose: Purpose,
        passphrase: &SecretString,
        progress: &dyn Progress,
    ) -> Result<Opened> {
        let staging = tempfile::Builder::new()
            .prefix(".import-")
            .tempdir_in(self.app.root())
            .map_err(ApplianceError::io(self.app.root()))?;
        let mut opened = open_into(input, size, purpose, passphrase, staging.path(), progress)?;
        opened.staging = Some(staging);
        Ok(opened)
    }

    /// [`Ops::open_bundle`] on a file.
    pub fn open_bundle_file(
        &self,
        path: &Path,
        purpose: Purpose,
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
        let size = f.metadata().map_err(ApplianceError::io(path))?.len();
        self.open_bundle_with(f, Some(size), purpose, passphrase, progress)
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
        now: u64,
    ) -> Result<Plan> {
        let cx = ImportCx {
            ops: self,
            opened,
            include_node_local,
            now,
        };
        let mut components = Vec::new();
        let mut sessions = None;
        for (kind, staged) in opened.staged.iter().filter(|(k, _)| kinds.contains(k)) {
            let planned = kind.part().plan(staged, &cx)?;
            sessions = sessions.or(planned.sessions);
            components.push(planned.plan);
        }
        Ok(Plan {
            source: opened.manifest.source.clone(),
            created_at: opened.manifest.created_at,
            components,
            sessions_ended: sessions
                .unwrap_or_else(|| "none: the JWT key does not change".to_owned()),
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
        let cx = ImportCx {
            ops: self,
            opened,
            include_node_local,
            now,
        };
        let mut all = Applied::default();
        for ((kind, staged), planned) in opened
            .staged
            .iter()
            .filter(|(k, _)| kinds.contains(k))
            .zip(&plan.components)
        {
            debug_assert_eq!(kind.name(), planned.component);
            let Applied { files, dirs } = kind.part().apply(staged, planned, &cx)?;
            all.files.extend(files);
            all.dirs.extend(dirs);
        }
        let Applied {
            files: changes,
            dirs,
        } = all;
        let snapshot = self.app.commit_with_dirs(
            &changes,
            &dirs,
            &[],
            &format!("import from {source}"),
            now,
        )?;
        // The proof: the source's token must verify with what was just applied.
        if kinds.contains(&Kind::Jwt)
            && opened.jwt().is_some()
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

/// Bundles of at most this many bytes are opened on the calling thread
/// alone. Otherwise opening one starts threads: one parses frames, one per
/// core inflates blocks, one writes the files. A bundle this small holds at
/// most one block, so they would have nothing to share, and starting them
/// is not free: on the 2-core virtual machine of docs/BENCHMARKS.md, four
/// threads started in a process that had sat idle for half a second took
/// 1.6 to 5 ms, more than a JWT bundle's whole extraction.
pub const SMALL_BUNDLE_BYTES: u64 = 1 << 20;

/// The inflating threads for a bundle of `size` bytes: none for a small
/// one (see [`SMALL_BUNDLE_BYTES`]), else one per core.
pub fn workers_for(size: Option<u64>) -> usize {
    match size {
        Some(n) if n <= SMALL_BUNDLE_BYTES => 0,
        _ => blocks::default_workers(),
    }
}

/// What a bundle is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A plan, or a look inside (`import --dry-run`, `inspect`, a push's
    /// dry run): the staging directory is removed unapplied, so its files
    /// are not sent to the disk as they are written.
    Plan,
    /// An import that may be applied: each staged file starts going to
    /// disk as soon as it is written, so that the sync before the commit
    /// point finds little left to write.
    Import,
}

/// Opens a bundle into `staging` (an empty private directory) and checks it.
/// `progress` learns how many bytes of `input` have been read; the caller
/// knows the bundle's size, and passes it as `size` when it does: a small
/// bundle is then opened on this thread alone ([`workers_for`]).
///
/// Nothing is trusted until the stream's last chunk has been authenticated
/// and nothing was found after the archive: the extraction fails otherwise,
/// and the caller discards `staging`. Format version 2 inflates its blocks
/// on every core ([`archive::extract`]); version 1's single gzip member is
/// read by `extract_v1`.
pub fn open_into<R: Read + Send>(
    input: R,
    size: Option<u64>,
    purpose: Purpose,
    passphrase: &SecretString,
    staging: &Path,
    progress: &dyn Progress,
) -> Result<Opened> {
    let rules = archive::Rules {
        keeps_mode,
        writeback: purpose == Purpose::Import,
    };
    let mut tally = Tally::new(progress);
    let input = Counted {
        inner: input,
        tally: &mut tally,
    };
    let (info, reader) = header::open(input, passphrase).map_err(BundleError::from)?;
    let files = match info.version {
        1 => extract_v1(reader, staging, rules),
        _ => archive::extract(reader, staging, workers_for(size), rules),
    }
    .map_err(map_archive)?;
    let manifest_bytes = std::fs::read(staging.join(MANIFEST_PATH)).map_err(|_| {
        BundleError::Manifest(ManifestError::Contents("manifest.yaml is missing".into()))
    })?;
    let manifest =
        Manifest::parse(&String::from_utf8_lossy(&manifest_bytes)).map_err(BundleError::from)?;
    manifest.check_files(&files).map_err(BundleError::from)?;
    let mut staged = Vec::new();
    for c in &manifest.components {
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
        if staged.iter().any(|(k, _)| *k == kind) {
            return Err(BundleError::Manifest(ManifestError::Contents(format!(
                "component {} is listed twice",
                c.name
            )))
            .into());
        }
        staged.push((kind, kind.part().open(staging, c)?));
    }
    staged.sort_by_key(|(k, _)| *k);
    Ok(Opened {
        manifest,
        kdf: info.kdf,
        staged,
        staging: None,
    })
}

/// Which staged files take their archive mode as they are extracted: the
/// custom files, whose modes travel (`check_files` then checks them against
/// the manifest). Component files stay 0600.
fn keeps_mode(path: &Path) -> bool {
    path.starts_with(super::parts::FILES_DIR)
}

/// Keys listed for `inspect`: fingerprints only.
pub fn key_fingerprints(opened: &Opened) -> Vec<String> {
    opened
        .jwt()
        .into_iter()
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
    rules: archive::Rules,
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
        let files = archive::extract_tar(&mut pipe, staging, rules)?;
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
