//! The appliance directory: its layout, the lock that serialises writers,
//! atomic file writes, and the node master key that seals secrets at rest.
//!
//! Layout of a root (directories 0700, files 0600):
//!
//! ```text
//! ROOT/
//!   appliance.yaml      node identity (component::Node)
//!   master.key          the node master key, never leaves the node
//!   member-key.yaml     the member key bundles are encrypted to (component::MemberKey)
//!   cluster-store.yaml  the etcd cluster store, when set (component::ClusterStore)
//!   config/jwt.yaml     JWT settings, keys sealed (component::JwtSettings)
//!   config/users.yaml   local users (component::Users)
//!   .lock               held by every command that writes
//! ```
//!
//! Every write goes to a temporary file in the same directory, is fsynced,
//! renamed over the target and the directory fsynced, so a reader sees the
//! whole old file or the whole new one. `init` builds the whole tree in a
//! staging directory beside the root and renames it into place in one step.

mod fsutil;
mod scratch;
mod seal;
mod txn;

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::bundle::recipient::{Identity, RecipientError};
use crate::component::{
    self, ComponentError, JwtSettings, Node, SealedKey, Stored, StoredRetiredKey, Users,
};
use crate::jwt::{JwtKey, KeySet, RetiredKey};

pub use fsutil::{HeldDir, atomic_write, create_private_dir};
pub use scratch::SCRATCH_DIR;
pub use seal::{MasterKey, SealError};
pub use txn::{
    AuditRecord, Committed, FileChanges, History, Journal, Recovery, SnapshotMeta, is_snapshot_id,
    set_crash_point,
};

/// Creates the file `path`, mode 0600, with what `fill` writes to it: into
/// a temporary file beside it (named `prefix...`), synced, then linked into
/// place without replacing anything, so that `path` either does not exist
/// or is whole. An existing `path` is refused by the caller beforehand and,
/// should one appear meanwhile, by the link. `fill` returns what it made
/// and the writer it was given.
pub fn create_new_private<T, E: From<ApplianceError>>(
    path: &Path,
    prefix: &str,
    fill: impl FnOnce(std::io::BufWriter<fs::File>) -> Result<(T, std::io::BufWriter<fs::File>), E>,
) -> Result<T, E> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(prefix)
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(ApplianceError::io(dir))?;
    let tmp_path = tmp.path().to_path_buf();
    let file = tmp.reopen().map_err(ApplianceError::io(&tmp_path))?;
    let (made, file) = fill(std::io::BufWriter::new(file))?;
    file.into_inner()
        .map_err(|e| ApplianceError::io(&tmp_path)(e.into_error()))?
        .sync_all()
        .map_err(ApplianceError::io(&tmp_path))?;
    tmp.persist_noclobber(path)
        .map_err(|e| ApplianceError::io(path)(e.error))?;
    Ok(made)
}

/// File name of the node master key.
pub const MASTER_KEY_FILE: &str = "master.key";
/// File name of the lock.
pub const LOCK_FILE: &str = ".lock";
/// The sealing purpose of JWT keys (bound into the AEAD's associated data).
const JWT_KEY_PURPOSE: &str = "jwt-key";
/// The sealing purpose of the LDAP bind password.
const LDAP_BIND_PURPOSE: &str = "ldap-bind";
/// The sealing purpose of the TLS private key.
const TLS_KEY_PURPOSE: &str = "tls-key";
/// The sealing purpose of the member key's secret half.
const MEMBER_KEY_PURPOSE: &str = "member-key";
/// The sealing purpose of the etcd client key in `cluster-store.yaml`.
const ETCD_KEY_PURPOSE: &str = "etcd-client-key";

/// What can go wrong with an appliance directory.
#[derive(Debug, thiserror::Error)]
pub enum ApplianceError {
    /// The root has no `appliance.yaml`.
    #[error(
        "{0} is not a tacctl appliance (no appliance.yaml); create one with `tacctl init` or pass the right --root"
    )]
    NotAnAppliance(PathBuf),
    /// `init` on an existing appliance.
    #[error(
        "{0} is already an appliance; nothing was changed (use another --root to create a new one)"
    )]
    AlreadyExists(PathBuf),
    /// `init` on a directory with other files in it.
    #[error("{0} exists and is not empty; nothing was changed (choose an empty or new directory)")]
    NotEmpty(PathBuf),
    /// Another process holds the lock.
    #[error(
        "another tacctl process is changing {}{}; waited {} for it to finish (TACCTL_LOCK_TIMEOUT sets how long). Try again once it is done",
        root.display(),
        holder.as_deref().map(|h| format!(" ({h})")).unwrap_or_default(),
        humantime::format_duration(*waited)
    )]
    Locked {
        /// The appliance root.
        root: PathBuf,
        /// How long this process waited.
        waited: Duration,
        /// Who holds it, as the system lists it (`pid 123, tacctl`).
        holder: Option<String>,
    },
    /// The journal of an interrupted change cannot be read or breaks its rules.
    #[error(
        "{} is damaged ({problem}): the interrupted change it records cannot be finished safely, and nothing was done. Run `tacctl recover --discard-journal` to keep the configuration as it is now (it may hold part of that change; check it with `tacctl jwt show` and `tacctl rollback --list`)",
        path.display()
    )]
    JournalDamaged {
        /// The journal.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A file tacctl keeps for itself (history, snapshot description) is damaged.
    #[error(
        "{} is damaged ({problem}); restore it from a backup, or move it aside and tacctl starts it anew",
        path.display()
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A file system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A stored file is invalid.
    #[error(transparent)]
    Component(#[from] ComponentError),
    /// A member key could not be made.
    #[error(transparent)]
    Recipient(#[from] RecipientError),
    /// Sealing failed, or the master key cannot be read.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A sealed value in a stored file does not open.
    #[error("{file}: {field}: {source}")]
    Unseal {
        /// The file.
        file: String,
        /// The field holding the sealed value.
        field: String,
        /// Why it does not open.
        #[source]
        source: SealError,
    },
    /// No snapshot with that id.
    #[error("no snapshot {0:?}; `tacctl rollback --list` shows the snapshots")]
    NoSnapshot(String),
    /// A stored key is inconsistent (its fingerprint does not match its secret).
    #[error(
        "{file}: key {kid:?} does not match its sealed secret; restore the file from a snapshot"
    )]
    KeyMismatch {
        /// The file.
        file: String,
        /// The recorded kid.
        kid: String,
    },
}

impl ApplianceError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ApplianceError::Io { path, source }
    }
}

/// An open appliance: its root and its master key.
#[derive(Debug)]
pub struct Appliance {
    root: PathBuf,
    master: MasterKey,
}

/// Held while a command changes the appliance; dropping it releases the lock.
#[derive(Debug)]
pub struct LockGuard {
    _file: fs::File,
}

/// Everything a new appliance starts with.
#[derive(Debug)]
pub struct Genesis {
    /// The node identity.
    pub node: Node,
    /// The first users (the first administrator).
    pub users: Users,
    /// The first JWT secret.
    pub jwt_key: JwtKey,
    /// Settings other than the key.
    pub algorithm: crate::jwt::Algorithm,
    /// Expiry.
    pub expiry: crate::jwt::Expiry,
    /// Max session, seconds.
    pub max_session_seconds: u64,
    /// The API server's certificate (PEM) and private key (PEM).
    pub tls: Option<(String, zeroize::Zeroizing<Vec<u8>>)>,
}

/// Who holds the lock at `path`, as Linux lists it in `/proc/locks`:
/// `pid N (NAME)`. Read-only, so asking changes nothing; `None` where the
/// system does not say.
fn read_holder(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let ino = fs::metadata(path).ok()?.ino();
    let locks = fs::read_to_string("/proc/locks").ok()?;
    let pid = locks.lines().find_map(|line| {
        // `1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF`
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (kind, pid, file) = (fields.get(1)?, fields.get(4)?, fields.get(5)?);
        let file_ino: u64 = file.rsplit(':').next()?.parse().ok()?;
        (*kind == "FLOCK" && file_ino == ino).then(|| pid.to_string())
    })?;
    let name = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    Some(match name.trim() {
        "" => format!("pid {pid}"),
        name => format!("pid {pid}, {name}"),
    })
}

impl Appliance {
    /// Opens an existing appliance.
    pub fn open(root: &Path) -> Result<Self, ApplianceError> {
        let root = root.to_path_buf();
        if !root.join(Node::FILE).is_file() {
            return Err(ApplianceError::NotAnAppliance(root));
        }
        let master = MasterKey::read(&root.join(MASTER_KEY_FILE))?;
        Ok(Self { root, master })
    }

    /// Creates a new appliance at `root`, whole or not at all.
    pub fn create(
        root: &Path,
        genesis: Genesis,
        master: MasterKey,
    ) -> Result<Self, ApplianceError> {
        if root.join(Node::FILE).exists() {
            return Err(ApplianceError::AlreadyExists(root.to_path_buf()));
        }
        if root.exists() {
            let mut entries = fs::read_dir(root).map_err(ApplianceError::io(root))?;
            if entries.next().is_some() {
                return Err(ApplianceError::NotEmpty(root.to_path_buf()));
            }
        }
        let parent = root
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(ApplianceError::io(parent))?;
        let base = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Built in a held directory beside the root, so that one a crashed
        // `init` left behind (it holds a master key) is swept by the next.
        let prefix = format!(".{base}.tacctl-init-");
        let _ = fsutil::sweep_held(parent, &prefix);
        let held = HeldDir::create(parent, &prefix).map_err(ApplianceError::io(parent))?;
        let staging = held.path().to_path_buf();
        let staged = Self {
            root: staging.clone(),
            master,
        };
        staged.write_genesis(&genesis).and_then(|()| {
            fs::rename(&staging, root).map_err(|e| match e.raw_os_error() {
                Some(39) | Some(17) => ApplianceError::AlreadyExists(root.to_path_buf()),
                _ => ApplianceError::Io {
                    path: root.to_path_buf(),
                    source: e,
                },
            })
        })?;
        // In place under its name: nothing to remove any more.
        held.keep();
        fsutil::sync_dir(parent).map_err(ApplianceError::io(parent))?;
        Ok(Self {
            root: root.to_path_buf(),
            master: staged.master,
        })
    }

    fn write_genesis(&self, g: &Genesis) -> Result<(), ApplianceError> {
        self.master.write(&self.root.join(MASTER_KEY_FILE))?;
        create_private_dir(&self.root.join("config"))
            .map_err(ApplianceError::io(self.root.join("config")))?;
        let files = self.root.join("files");
        create_private_dir(&files).map_err(ApplianceError::io(&files))?;
        self.write(&g.node)?;
        self.write(&g.users)?;
        let settings = JwtSettings {
            version: component::FORMAT_VERSION,
            algorithm: g.algorithm,
            expiry_value: g.expiry.value,
            expiry_unit: g.expiry.unit,
            max_session_seconds: g.max_session_seconds,
            active_key: self.seal_key(&g.jwt_key, g.node.created_at)?,
            previous_keys: Vec::new(),
        };
        self.write(&settings)?;
        if let Some((cert_pem, key_pem)) = &g.tls {
            self.write(&component::TlsSettings {
                version: component::FORMAT_VERSION,
                cert_pem: cert_pem.clone(),
                key_sealed: self.seal_tls_key(key_pem)?,
            })?;
        }
        self.create_member_key(&Identity::generate()?, g.node.created_at)?;
        atomic_write(&self.root.join(LOCK_FILE), b"")
            .map_err(ApplianceError::io(self.root.join(LOCK_FILE)))?;
        Ok(())
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the appliance lock, waiting up to `timeout` for another process to release it.
    pub fn lock(&self, timeout: Duration) -> Result<LockGuard, ApplianceError> {
        let path = self.root.join(LOCK_FILE);
        let file = fs::OpenOptions::new()
            .mode(0o600)
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(ApplianceError::io(&path))?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => {
                    // What crashed commands left behind goes now: every
                    // writer of it holds this lock, so none is in use.
                    self.sweep();
                    return Ok(LockGuard { _file: file });
                }
                Err(fs::TryLockError::WouldBlock) if start.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(ApplianceError::Locked {
                        root: self.root.clone(),
                        waited: start.elapsed().min(timeout),
                        holder: read_holder(&path),
                    });
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(ApplianceError::Io { path, source: e });
                }
            }
        }
    }

    /// The error for a lock that stayed held for `waited`.
    pub fn locked(&self, waited: Duration) -> ApplianceError {
        ApplianceError::Locked {
            root: self.root.clone(),
            waited,
            holder: read_holder(&self.root.join(LOCK_FILE)),
        }
    }

    /// Reads and validates a stored component.
    pub fn read<T: Stored>(&self) -> Result<T, ApplianceError> {
        let path = self.root.join(T::FILE);
        let text = fs::read_to_string(&path).map_err(ApplianceError::io(&path))?;
        Ok(component::parse(&text, &path.display().to_string())?)
    }

    /// Validates and atomically writes a stored component. Callers hold the lock.
    pub fn write<T: Stored>(&self, value: &T) -> Result<(), ApplianceError> {
        let text = component::render(value)?;
        let path = self.root.join(T::FILE);
        atomic_write(&path, text.as_bytes()).map_err(ApplianceError::io(&path))
    }

    /// The node identity.
    pub fn node(&self) -> Result<Node, ApplianceError> {
        self.read()
    }

    /// Seals a JWT key under this node's master key.
    pub fn seal_key(&self, key: &JwtKey, now: u64) -> Result<SealedKey, ApplianceError> {
        Ok(SealedKey {
            kid: key.kid().to_owned(),
            sealed: self.master.seal(JWT_KEY_PURPOSE, key.expose_secret())?,
            created_at: now,
        })
    }

    /// Opens a sealed key of `algorithm` (an HMAC secret, or a key pair's
    /// PKCS#8) and checks it against its recorded `kid`.
    fn unseal_key(
        &self,
        sealed: &SealedKey,
        algorithm: crate::jwt::Algorithm,
    ) -> Result<JwtKey, ApplianceError> {
        let secret = self
            .master
            .open(JWT_KEY_PURPOSE, &sealed.sealed)
            .map_err(|source| ApplianceError::Unseal {
                file: JwtSettings::FILE.into(),
                field: format!("the key {}", sealed.kid),
                source,
            })?;
        let key = JwtKey::from_stored(secret.to_vec(), algorithm).map_err(|_| {
            ApplianceError::KeyMismatch {
                file: JwtSettings::FILE.into(),
                kid: sealed.kid.clone(),
            }
        })?;
        if key.kid() != sealed.kid {
            return Err(ApplianceError::KeyMismatch {
                file: JwtSettings::FILE.into(),
                kid: sealed.kid.clone(),
            });
        }
        Ok(key)
    }

    /// The key set the settings describe: the active key and every stored
    /// retired key, each with its deadline, so verification can tell a
    /// retired key ("log in again") from an unknown one; and the public
    /// keys of the members this node trusts.
    pub fn keyset(&self, settings: &JwtSettings, _now: u64) -> Result<KeySet, ApplianceError> {
        let active = self.unseal_key(&settings.active_key, settings.algorithm)?;
        let previous = settings
            .previous_keys
            .iter()
            .map(|r: &StoredRetiredKey| {
                Ok(RetiredKey {
                    key: self.unseal_key(&r.key, settings.signed_with(r))?,
                    accept_until: r.accept_until,
                    algorithm: r.algorithm,
                })
            })
            .collect::<Result<Vec<_>, ApplianceError>>()?;
        Ok(KeySet::with_previous(active, previous).trusting(self.jwt_trust()?.keys()))
    }

    /// The members whose tokens this node accepts by their public keys
    /// ("Appliances JWT Trust"); none when never set.
    pub fn jwt_trust(&self) -> Result<component::JwtTrust, ApplianceError> {
        Ok(self
            .read_optional()?
            .unwrap_or_else(component::JwtTrust::empty))
    }

    /// Local users.
    pub fn users(&self) -> Result<Users, ApplianceError> {
        self.read()
    }

    /// JWT settings.
    pub fn jwt_settings(&self) -> Result<JwtSettings, ApplianceError> {
        self.read()
    }

    /// LDAP settings; `None` when never set.
    pub fn ldap(&self) -> Result<Option<component::LdapSettings>, ApplianceError> {
        self.read_optional()
    }

    /// Seals an LDAP bind password under this node's master key.
    pub fn seal_ldap_password(&self, password: &[u8]) -> Result<String, ApplianceError> {
        Ok(self.master.seal(LDAP_BIND_PURPOSE, password)?)
    }

    /// Opens a sealed LDAP bind password.
    pub fn open_ldap_password(
        &self,
        sealed: &str,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, ApplianceError> {
        self.master
            .open(LDAP_BIND_PURPOSE, sealed)
            .map_err(|source| ApplianceError::Unseal {
                file: component::LdapSettings::FILE.into(),
                field: "bind_password_sealed".into(),
                source,
            })
    }

    /// The API server's certificate and sealed key; `None` when never set.
    pub fn tls(&self) -> Result<Option<component::TlsSettings>, ApplianceError> {
        self.read_optional()
    }

    /// Seals a TLS private key (PEM) under this node's master key.
    pub fn seal_tls_key(&self, key_pem: &[u8]) -> Result<String, ApplianceError> {
        Ok(self.master.seal(TLS_KEY_PURPOSE, key_pem)?)
    }

    /// Opens the sealed TLS private key.
    pub fn open_tls_key(
        &self,
        sealed: &str,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, ApplianceError> {
        self.master
            .open(TLS_KEY_PURPOSE, sealed)
            .map_err(|source| ApplianceError::Unseal {
                file: component::TlsSettings::FILE.into(),
                field: "key_sealed".into(),
                source,
            })
    }

    /// Cluster members; none when never set.
    pub fn members(&self) -> Result<component::Members, ApplianceError> {
        Ok(self.read_optional()?.unwrap_or(component::Members {
            version: component::FORMAT_VERSION,
            members: Vec::new(),
        }))
    }

    /// Network settings; empty when never set.
    pub fn network(&self) -> Result<component::Network, ApplianceError> {
        Ok(self.read_optional()?.unwrap_or(component::Network {
            version: component::FORMAT_VERSION,
            ..Default::default()
        }))
    }

    /// This node's member identity, the secret half of its member key;
    /// `None` for an appliance made before member keys, until
    /// [`Appliance::create_member_key`] gives it one.
    pub fn member_identity(&self) -> Result<Option<Identity>, ApplianceError> {
        let Some(stored) = self.read_optional::<component::MemberKey>()? else {
            return Ok(None);
        };
        let secret = self
            .master
            .open(MEMBER_KEY_PURPOSE, &stored.secret_sealed)
            .map_err(|source| ApplianceError::Unseal {
                file: component::MemberKey::FILE.into(),
                field: "secret_sealed".into(),
                source,
            })?;
        let bytes: &[u8; 32] =
            secret
                .as_slice()
                .try_into()
                .map_err(|_| ApplianceError::Damaged {
                    path: self.root.join(component::MemberKey::FILE),
                    problem: "the sealed secret is not 32 bytes".into(),
                })?;
        let identity = Identity::from_secret(bytes);
        if identity.recipient().to_string() != stored.recipient {
            return Err(ApplianceError::Damaged {
                path: self.root.join(component::MemberKey::FILE),
                problem: "its recipient is not the public half of its sealed secret".into(),
            });
        }
        Ok(Some(identity))
    }

    /// The stored member key (its public half is usable as it is); `None`
    /// for an appliance made before member keys.
    pub fn member_key(&self) -> Result<Option<component::MemberKey>, ApplianceError> {
        self.read_optional()
    }

    /// Stores `identity` as this node's member key, made at `now`. Callers
    /// hold the lock.
    pub fn create_member_key(&self, identity: &Identity, now: u64) -> Result<(), ApplianceError> {
        self.write(&component::MemberKey {
            version: component::FORMAT_VERSION,
            recipient: identity.recipient().to_string(),
            secret_sealed: self
                .master
                .seal(MEMBER_KEY_PURPOSE, identity.secret_bytes().as_ref())?,
            created_at: now,
        })
    }

    /// The cluster store settings; `None` when the store is local.
    pub fn cluster_store(&self) -> Result<Option<component::ClusterStore>, ApplianceError> {
        self.read_optional()
    }

    /// The cluster store settings and the etcd client key, unsealed;
    /// `None` when the store is local.
    pub fn cluster_store_with_key(
        &self,
    ) -> Result<Option<(component::ClusterStore, secrecy::SecretSlice<u8>)>, ApplianceError> {
        let Some(store) = self.cluster_store()? else {
            return Ok(None);
        };
        let key = self
            .master
            .open(ETCD_KEY_PURPOSE, &store.key_sealed)
            .map_err(|source| ApplianceError::Unseal {
                file: component::ClusterStore::FILE.into(),
                field: "key_sealed".into(),
                source,
            })?;
        Ok(Some((store, secrecy::SecretSlice::from(key.to_vec()))))
    }

    /// Stores `store` as this node's cluster store, its `key_sealed` made
    /// here from `key_pem`. Callers hold the lock.
    pub fn set_cluster_store(
        &self,
        mut store: component::ClusterStore,
        key_pem: &secrecy::SecretSlice<u8>,
    ) -> Result<(), ApplianceError> {
        use secrecy::ExposeSecret;
        store.key_sealed = self
            .master
            .seal(ETCD_KEY_PURPOSE, key_pem.expose_secret())?;
        self.write(&store)
    }

    /// Makes the cluster store local again (removes `cluster-store.yaml`,
    /// durably). Callers hold the lock.
    pub fn clear_cluster_store(&self) -> Result<(), ApplianceError> {
        let path = self.root.join(component::ClusterStore::FILE);
        match fs::remove_file(&path) {
            Ok(()) => fsutil::sync_dir(&self.root).map_err(ApplianceError::io(&self.root)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ApplianceError::io(&path)(e)),
        }
    }

    /// Reads a component file that exists only once configured.
    fn read_optional<T: Stored>(&self) -> Result<Option<T>, ApplianceError> {
        if !self.root.join(T::FILE).exists() {
            return Ok(None);
        }
        self.read().map(Some)
    }
}
