//! Export, inspect and import of configuration bundles, and rollback: the
//! bundle format (`crate::bundle`) applied to this appliance.
//!
//! Export takes the lock for a consistent view, has every component give
//! its content (secrets unsealed into the bundle, which is encrypted end
//! to end), signs the proof token and writes the bundle, signed with this
//! node's member key (its origin, `bundle::origin`). Import opens a
//! bundle the one way there is ([`open`]): the format's reader checks every
//! byte, keeping the components' files in memory and staging custom files
//! only for an import that may be applied, in a scratch directory of this
//! appliance; then each component's adapter reads and checks its file,
//! the jwt component's its proof token. [`Ops::import`] is the one import sequence
//! the command line, the server and the wizards share: choose the
//! components, plan, stop for a dry run, confirm, and apply all files in
//! one journaled change, re-sealing secrets under this node's master key.
//!
//! What is particular to each component (how it is exported, read back,
//! planned and applied) is its [`Adapter`](super::adapters::Adapter); this
//! module drives every adapter the same way.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::adapters::{self, Applied, ExportCx, Exported, ImportCx, Incoming};
use super::{Ops, OpsError, new_id, rfc3339};
use crate::appliance::{ApplianceError, AuditRecord, HeldDir, SnapshotMeta};
use crate::bundle::header::v3::{MAX_RECIPIENTS, MAX_STANZAS};
use crate::bundle::header::{KdfParams, Lock, Unlock};
use crate::bundle::manifest::{Manifest, Source};
use crate::bundle::origin::SignerKey;
use crate::bundle::recipient::Recipient;
use crate::bundle::writer::{Content, Head, TreeItem};
use crate::component::{self, Component, JwtExport, JwtSettings, Stored};
use crate::jwt::{self, Claims};

pub use crate::bundle::{
    BundleError, Change, ComponentPlan, ImportOutcome, NoProgress, PLAN_LINES_PER_COMPONENT, Plan,
    Progress, SMALL_BUNDLE_BYTES, SignedBy, describe_origin,
};

type Result<T, E = OpsError> = std::result::Result<T, E>;

/// Where a bundle is read from.
#[derive(Debug, Clone, Copy)]
pub enum BundleInput<'a> {
    /// A file.
    File(&'a Path),
    /// Bytes in memory.
    Memory(&'a [u8]),
}

/// What a bundle is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A plan, or a look inside (`import --dry-run`, `inspect`, a push's
    /// dry run): nothing is written, not even the custom files.
    Plan,
    /// An import that may be applied: the custom files are staged in a
    /// scratch directory of the appliance, each starting to go to disk as
    /// soon as it is written, so that the sync before the commit point
    /// finds little left to write.
    Import,
}

/// A bundle opened and checked, each component read by its adapter.
pub struct Opened {
    /// What the format's reader found.
    bundle: crate::bundle::Opened,
    /// Each component, in bundle order.
    incoming: Vec<(Component, Box<dyn Incoming>)>,
    /// The scratch directory holding the staged custom files: they must
    /// outlive the plan and the apply that read them.
    _stage: Option<HeldDir>,
}

impl Opened {
    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.bundle.manifest
    }

    /// The passphrase's KDF parameters; `None` for a bundle encrypted to
    /// recipients only.
    pub fn kdf(&self) -> Option<KdfParams> {
        self.bundle.kdf
    }

    /// The bundle's format version (its header's).
    pub fn format_version(&self) -> u8 {
        self.bundle.version
    }

    /// The recipients the bundle is encrypted to.
    pub fn recipients(&self) -> &[Recipient] {
        &self.bundle.recipients
    }

    /// Who signed it, the signature verified over its manifest; `None`
    /// for an unsigned bundle.
    pub fn origin(&self) -> Option<&SignerKey> {
        self.bundle.origin()
    }

    /// The components the bundle carries, in bundle order.
    pub fn components(&self) -> Vec<Component> {
        self.incoming.iter().map(|(c, _)| *c).collect()
    }

    /// The JWT configuration the bundle carries, when it carries one.
    pub fn jwt(&self) -> Option<&JwtExport> {
        self.incoming.iter().find_map(|(_, i)| i.jwt())
    }
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("bundle", &self.bundle)
            .finish_non_exhaustive()
    }
}

/// Opens a bundle and checks all of it: the one way a bundle is opened.
/// With `stage` (a scratch directory of the appliance the import will
/// apply to), its custom files are staged there for an import; without,
/// nothing is written.
pub fn open<'a>(
    input: BundleInput<'_>,
    unlock: impl Into<Unlock<'a>>,
    stage: Option<HeldDir>,
    progress: &dyn Progress,
) -> Result<Opened> {
    let unlock = unlock.into();
    let dir = stage.as_ref().map(|s| s.path().to_owned());
    let bundle = match input {
        BundleInput::File(path) => {
            let f = std::fs::File::open(path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    OpsError::Invalid(format!("no bundle at {}", path.display()))
                } else {
                    ApplianceError::io(path)(e).into()
                }
            })?;
            let meta = f.metadata().map_err(ApplianceError::io(path))?;
            if !meta.is_file() {
                return Err(OpsError::Invalid(format!(
                    "{} is not a file; give the bundle's path",
                    path.display()
                )));
            }
            read(f, Some(meta.len()), unlock, dir.as_deref(), progress)?
        }
        BundleInput::Memory(bytes) => read(
            std::io::Cursor::new(bytes),
            Some(bytes.len() as u64),
            unlock,
            dir.as_deref(),
            progress,
        )?,
    };
    let incoming = bundle
        .components()
        .into_iter()
        .map(|c| Ok((c, adapters::adapter(c).open(&bundle)?)))
        .collect::<Result<_>>()?;
    Ok(Opened {
        bundle,
        incoming,
        _stage: stage,
    })
}

fn read<R: Read + Seek + Send>(
    input: R,
    size: Option<u64>,
    unlock: Unlock<'_>,
    stage: Option<&Path>,
    progress: &dyn Progress,
) -> Result<crate::bundle::Opened, BundleError> {
    crate::bundle::open(input, size, unlock, stage, progress)
}

/// How a bundle opens, as its header says before any key is tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening {
    /// It is encrypted to this node's member key.
    MemberKey,
    /// It opens with a passphrase (and perhaps with other recipients').
    Passphrase,
}

/// How the bundle at `path` opens for a node whose member key is
/// `member` (none when there is no appliance): with it when the bundle is
/// encrypted to it, else with a passphrase when it has one. A bundle of
/// recipients only that `member` is not one of, and a header that is not
/// a bundle's or not whole, are refused here, naming what is wrong, before
/// a passphrase is asked for nothing. A file that cannot be opened is left
/// to [`open`], which names it.
pub fn opening(path: &Path, member: Option<&Recipient>) -> Result<Opening> {
    let Ok(f) = std::fs::File::open(path) else {
        return Ok(Opening::Passphrase);
    };
    let info = crate::bundle::header::read_info(&mut std::io::BufReader::new(f))
        .map_err(BundleError::Header)?;
    if member.is_some_and(|m| info.recipients.contains(m)) {
        return Ok(Opening::MemberKey);
    }
    if info.kdf.is_some() {
        return Ok(Opening::Passphrase);
    }
    let refused = match member {
        Some(m) => crate::bundle::header::HeaderError::NotARecipient {
            identity: *m,
            recipients: info.recipients,
        },
        None => crate::bundle::header::HeaderError::NoPassphrase(info.recipients),
    };
    Err(BundleError::Header(refused).into())
}

/// What to import of a bundle, and how.
#[derive(Debug, Clone, Default)]
pub struct ImportChoice {
    /// Only these components; all the bundle carries when `None`.
    pub components: Option<Vec<Component>>,
    /// Apply node-local settings from another node's bundle.
    pub include_node_local: bool,
    /// Plan only.
    pub dry_run: bool,
    /// Ask `confirm` even when the plan changes nothing: for a caller that
    /// judges the bundle itself (its origin), not only the change.
    pub confirm_unchanged: bool,
}

/// How an import ended.
#[derive(Debug, Clone)]
pub enum Imported {
    /// A dry run: the plan.
    Planned(Plan),
    /// The plan was not confirmed; nothing was changed.
    Declined(Plan),
    /// Applied (or found nothing to change).
    Applied(Plan, ImportOutcome),
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
    /// The one import sequence: opens the bundle (staging its custom files
    /// unless this is a dry run), chooses the components, plans, stops for
    /// a dry run, asks `confirm` when the plan changes anything, and
    /// applies.
    pub fn import<'a>(
        &self,
        input: BundleInput<'_>,
        unlock: impl Into<Unlock<'a>>,
        choice: &ImportChoice,
        now: u64,
        progress: &dyn Progress,
        confirm: &mut dyn FnMut(&Plan) -> Result<bool>,
    ) -> Result<Imported> {
        let stage = if choice.dry_run {
            None
        } else {
            Some(self.app.scratch("import")?)
        };
        let opened = open(input, unlock, stage, progress)?;
        let in_bundle = opened.components();
        let components = match &choice.components {
            None => in_bundle,
            Some(chosen) => {
                if let Some(missing) = chosen.iter().find(|c| !in_bundle.contains(c)) {
                    return Err(OpsError::Invalid(format!(
                        "the bundle has no {} component; it carries {}",
                        missing.name(),
                        in_bundle
                            .iter()
                            .map(|c| c.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                let mut chosen = chosen.clone();
                chosen.sort();
                chosen.dedup();
                chosen
            }
        };
        let plan = self.plan(&opened, &components, choice.include_node_local, now)?;
        if choice.dry_run {
            return Ok(Imported::Planned(plan));
        }
        if (choice.confirm_unchanged || !plan.is_noop()) && !confirm(&plan)? {
            return Ok(Imported::Declined(plan));
        }
        let outcome = self.apply(&opened, &components, choice.include_node_local, now)?;
        Ok(Imported::Applied(plan, outcome))
    }

    /// Writes a bundle of `components` to `out`, signed with this node's
    /// member key whatever signer `lock` names, so that every bundle a node
    /// exports says where it comes from. Node-local settings (the
    /// host name) are included only with `include_node_local` (full backups).
    /// `progress` learns the bytes of content to archive, then how many have
    /// been archived.
    #[allow(clippy::too_many_arguments)]
    pub fn export<W: Write>(
        &self,
        components: &[Component],
        include_node_local: bool,
        lock: &Lock<'_>,
        out: W,
        now: u64,
        progress: &dyn Progress,
    ) -> Result<(Manifest, W)> {
        self.export_trusting(
            components,
            include_node_local,
            lock,
            out,
            now,
            progress,
            &[],
        )
    }

    /// [`Ops::export`], with Appliances JWT Trust also carrying the public
    /// keys of `also_trusted` (a push's targets).
    #[allow(clippy::too_many_arguments)]
    pub fn export_trusting<W: Write>(
        &self,
        components: &[Component],
        include_node_local: bool,
        lock: &Lock<'_>,
        out: W,
        now: u64,
        progress: &dyn Progress,
        also_trusted: &[component::TrustedMember],
    ) -> Result<(Manifest, W)> {
        // Before the lock: an appliance made before member keys gets one
        // under it.
        let signer = self.member_identity(now)?.signer();
        let lock = lock.signed_by(&signer);
        if lock.recipients.len() > MAX_RECIPIENTS || lock.stanzas() > MAX_STANZAS {
            return Err(OpsError::Invalid(format!(
                "{} recipients{}: a signed bundle holds at most {} recipients beside a passphrase, {} without",
                lock.recipients.len(),
                if lock.passphrase.is_some() {
                    " and a passphrase"
                } else {
                    ""
                },
                MAX_STANZAS - 2,
                MAX_STANZAS - 1,
            )));
        }
        let lock = &lock;
        let _lock = self.app.lock(self.lock_timeout)?;
        let node = self.app.node()?;
        let settings = self.app.jwt_settings()?;
        let cx = ExportCx {
            ops: self,
            include_node_local,
            also_trusted,
            now,
        };
        // Every component's content first (a tree listed and hashed), so that
        // anything that cannot be exported is refused before the key
        // derivation, and the manifest that goes first has every checksum.
        let mut components = components.to_vec();
        components.sort();
        components.dedup();
        let exported: Vec<(Component, Exported)> = components
            .iter()
            .map(|c| Ok((*c, adapters::adapter(*c).export(&cx)?)))
            .collect::<Result<_>>()?;
        let keys = self.app.keyset(&settings, now)?;
        let policy = self.policy(&settings, &node);
        let proof = Claims {
            sub: crate::bundle::proof::proof_subject(&node.node_id),
            role: crate::bundle::proof::PROOF_ROLE.into(),
            iss: node.cluster_id.clone(),
            iat: now,
            nbf: now,
            exp: now + crate::bundle::proof::PROOF_LIFETIME,
            jti: new_id(),
            sid: new_id(),
            auth_time: now,
        };
        let head = Head {
            created_at: now,
            source: Source {
                name: node.name.clone(),
                node_id: node.node_id.clone(),
                cluster_id: node.cluster_id.clone(),
            },
            jwt_kid: keys.active().kid().to_owned(),
            proof_token: jwt::sign(&proof, &keys, policy.algorithm)?,
        };
        let mut sources: std::collections::HashMap<String, PathBuf> = Default::default();
        let trees: Vec<(Component, Vec<TreeItem>)> = exported
            .iter()
            .filter_map(|(c, e)| match e {
                Exported::Tree(listing) => Some((
                    *c,
                    listing
                        .iter()
                        .map(|l| {
                            sources.insert(l.item.path.clone(), l.source.clone());
                            l.item.clone()
                        })
                        .collect(),
                )),
                Exported::Text(_) => None,
            })
            .collect();
        let contents: Vec<Content<'_>> = exported
            .iter()
            .map(|(c, e)| match e {
                Exported::Text(text) => Content::File {
                    component: *c,
                    text: text.as_bytes(),
                },
                Exported::Tree(_) => Content::Tree {
                    component: *c,
                    items: &trees
                        .iter()
                        .find(|(t, _)| t == c)
                        .expect("every tree was listed")
                        .1,
                },
            })
            .collect();
        let mut open = |item: &TreeItem| -> std::io::Result<Box<dyn Read>> {
            let path = &sources[&item.path];
            Ok(Box::new(std::fs::File::open(path)?))
        };
        Ok(crate::bundle::write(
            out, lock, &head, &contents, &mut open, progress,
        )?)
    }

    /// Writes a bundle of `components` to a new file at `path`, mode 0600: a
    /// temporary file beside it, synced, then linked into place without
    /// replacing anything, so `path` either does not exist or is complete.
    #[allow(
        clippy::too_many_arguments,
        reason = "the export's choices, passed on as `export` takes them"
    )]
    pub fn export_to_file(
        &self,
        components: &[Component],
        include_node_local: bool,
        lock: &Lock<'_>,
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
        let manifest = crate::appliance::create_new_private(path, ".tacctl-export-", |file| {
            self.export(components, include_node_local, lock, file, now, progress)
        })?;
        Ok(manifest)
    }

    /// The plan of importing `opened` (only `components`) onto this appliance.
    pub fn plan(
        &self,
        opened: &Opened,
        components: &[Component],
        include_node_local: bool,
        now: u64,
    ) -> Result<Plan> {
        let cx = ImportCx {
            ops: self,
            manifest: opened.manifest(),
            include_node_local,
            now,
        };
        let mut plans = Vec::new();
        let mut sessions = None;
        for (_, incoming) in opened
            .incoming
            .iter()
            .filter(|(c, _)| components.contains(c))
        {
            let planned = incoming.plan(&cx)?;
            sessions = sessions.or(planned.sessions);
            plans.push(planned.plan);
        }
        Ok(Plan {
            source: opened.manifest().source.clone(),
            created_at: opened.manifest().created_at,
            origin: self.judge_origin(opened.origin())?,
            components: plans,
            sessions_ended: sessions
                .unwrap_or_else(|| "none: the JWT key does not change".to_owned()),
        })
    }

    /// Applies `opened` (only `components`) in one journaled change.
    pub fn apply(
        &self,
        opened: &Opened,
        components: &[Component],
        include_node_local: bool,
        now: u64,
    ) -> Result<ImportOutcome> {
        let _lock = self.app.lock(self.lock_timeout)?;
        self.app.recover()?;
        let plan = self.plan(opened, components, include_node_local, now)?;
        let names: Vec<String> = plan
            .components
            .iter()
            .map(|c| c.component.clone())
            .collect();
        let source = format!(
            "{} ({})",
            opened.manifest().source.name,
            opened.manifest().source.node_id
        );
        if plan.is_noop() {
            self.app.audit(AuditRecord {
                time: now,
                action: "import".into(),
                source: Some(source),
                components: names,
                outcome: "unchanged".into(),
                snapshot: None,
            })?;
            return Ok(ImportOutcome {
                outcome: "unchanged".into(),
                snapshot: None,
                jwt_kid: self.app.jwt_settings()?.active_key.kid,
                warnings: Vec::new(),
            });
        }
        let cx = ImportCx {
            ops: self,
            manifest: opened.manifest(),
            include_node_local,
            now,
        };
        let mut all = Applied::default();
        for ((component, incoming), planned) in opened
            .incoming
            .iter()
            .filter(|(c, _)| components.contains(c))
            .zip(&plan.components)
        {
            debug_assert_eq!(component.name(), planned.component);
            let Applied { files, dirs } = incoming.apply(planned, &cx)?;
            all.files.extend(files);
            all.dirs.extend(dirs);
        }
        let Applied {
            files: changes,
            dirs,
        } = all;
        // The active key once applied, known before: after the commit point
        // nothing may turn an applied import into a reported failure.
        let jwt_kid = match opened
            .jwt()
            .filter(|_| components.contains(&Component::Jwt))
        {
            Some(j) => j.active_key.kid.clone(),
            None => self.app.jwt_settings()?.active_key.kid,
        };
        let committed = self.app.commit_with_dirs(
            &changes,
            &dirs,
            &[],
            &format!("import from {source}"),
            Some(AuditRecord {
                time: now,
                action: "import".into(),
                source: Some(source.clone()),
                components: names,
                outcome: "applied".into(),
                snapshot: None,
            }),
            now,
        )?;
        Ok(ImportOutcome {
            outcome: "applied".into(),
            snapshot: Some(committed.snapshot),
            jwt_kid,
            warnings: committed.warnings,
        })
    }

    /// How this node judges a bundle signed by `signer`: its own key, a
    /// member's pinned one, or a stranger's; `None` for an unsigned bundle.
    /// Reads the member key without making one: a node without one has
    /// signed nothing.
    pub fn judge_origin(&self, signer: Option<&SignerKey>) -> Result<Option<SignedBy>> {
        let Some(signer) = signer else {
            return Ok(None);
        };
        let own = self.app.member_identity()?.map(|i| i.signer().key());
        let members = self.app.members()?;
        Ok(Some(SignedBy::judge(
            signer,
            own.as_ref(),
            &members.members,
        )))
    }

    /// Snapshots, newest first.
    pub fn snapshots(&self) -> Result<Vec<SnapshotMeta>> {
        Ok(self.app.snapshots()?)
    }

    /// Restores snapshot `id` as one change (itself undoable).
    pub fn rollback(&self, id: &str, now: u64) -> Result<crate::appliance::Committed> {
        let _lock = self.app.lock(self.lock_timeout)?;
        self.app.recover()?;
        let (meta, files) = self.app.snapshot_contents(id)?;
        for (rel, bytes) in &files {
            if rel == JwtSettings::FILE {
                let s: JwtSettings = component::parse(&String::from_utf8_lossy(bytes), rel)?;
                self.app.keyset(&s, now)?;
            }
        }
        let held = self.app.snapshot_dirs(&meta)?;
        let dirs: Vec<(String, PathBuf)> = held
            .iter()
            .map(|(rel, d)| (rel.clone(), d.path().to_owned()))
            .collect();
        Ok(self.app.commit_with_dirs(
            &files,
            &dirs,
            &meta.absent,
            &format!("rollback to {id}"),
            Some(AuditRecord {
                time: now,
                action: "rollback".into(),
                source: None,
                components: meta.files.iter().chain(meta.dirs.iter()).cloned().collect(),
                outcome: format!("restored {id}"),
                snapshot: None,
            }),
            now,
        )?)
    }

    /// The audit records, oldest first.
    pub fn history(&self) -> Result<Vec<AuditRecord>> {
        Ok(self.app.history()?)
    }
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
