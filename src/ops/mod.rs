//! The appliance's use cases: init, JWT configuration, users and tokens.
//!
//! Each function combines the appliance store, authentication and the pure
//! JWT core into one operation that the CLI, the demo (and later the server
//! and the wizard) share. Time is a parameter; fresh identifiers and keys come
//! from the OS generator here. Every change takes the appliance lock, reads,
//! validates and writes atomically, so a failed operation changes nothing.

pub mod adapters;
pub mod bundle;
mod live;

pub use live::{Issued, LdapConfig, Snapshot, Stamp, TlsMaterial};

use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::appliance::{Appliance, ApplianceError, Genesis, MasterKey};
use crate::auth::ldap::{Directory, LdapError};
use crate::auth::{self, ApiLogin, AuthError, Authenticator, Identity, LocalUsers, LoginError};
use crate::component::{self, JwtSettings, Node, Role, User, Users};
use crate::jwt::{
    self, Algorithm, Claims, Expiry, ExpiryUnit, IssueError, JwtKey, KeyError, Policy,
    RefreshError, Subject, TimeError, VerifyError,
};

/// Length of a generated JWT secret: 64 bytes, enough for HS512.
pub const GENERATED_SECRET_LEN: usize = 64;

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The appliance store failed.
    #[error(transparent)]
    Appliance(#[from] ApplianceError),
    /// Credentials were refused.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A token did not verify.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A refresh was refused.
    #[error(transparent)]
    Refresh(#[from] RefreshError),
    /// A key does not suit the algorithm.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// An expiry or duration is out of range.
    #[error(transparent)]
    Time(#[from] TimeError),
    /// Signing failed.
    #[error(transparent)]
    Issue(#[from] IssueError),
    /// A value given on the command line is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The user exists already.
    #[error("user {0:?} already exists; use `tacctl user passwd` to change the password")]
    UserExists(String),
    /// The user does not exist.
    #[error("no user {0:?} on this appliance; `tacctl user list` shows the users")]
    UserNotFound(String),
    /// Removing or demoting the last administrator.
    #[error("{0:?} is the last administrator and cannot be removed; add another admin first")]
    LastAdmin(String),
    /// The random generator failed.
    #[error("the operating system's random generator failed: {0}")]
    Random(String),
    /// A bundle could not be read, checked or applied.
    #[error(transparent)]
    Bundle(#[from] bundle::BundleError),
    /// The LDAP directory refused a login or could not be used.
    #[error(transparent)]
    Ldap(#[from] LdapError),
    /// A cluster member of that name exists already.
    #[error("{0:?} is a member already; `tacctl cluster remove {0}` first to replace it")]
    MemberExists(String),
    /// No cluster member of that name.
    #[error("{0:?} is not a member; `tacctl cluster list` shows the members")]
    MemberNotFound(String),
    /// The runtime for network calls (a directory login) could not start.
    #[error("cannot start the asynchronous runtime: {0}")]
    Runtime(String),
}

impl From<LoginError> for OpsError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::Local(e) => OpsError::Auth(e),
            LoginError::Directory(e) | LoginError::DirectoryUnusable(e) => OpsError::Ldap(e),
            // Only a server's pool is ever too busy to check a password.
            LoginError::Unavailable(why) => OpsError::Auth(AuthError::Hash(why)),
        }
    }
}

impl OpsError {
    /// Whether credentials were refused (not mistyped into a weak
    /// password, not a failure to check them): asking again may help.
    pub fn credentials_refused(&self) -> bool {
        matches!(
            self,
            OpsError::Auth(e) if !matches!(e, AuthError::WeakPassword | AuthError::Hash(_))
        ) || matches!(
            self,
            OpsError::Ldap(LdapError::BadCredentials | LdapError::NoApiAccess { .. })
        )
    }
}

impl From<component::ComponentError> for OpsError {
    fn from(e: component::ComponentError) -> Self {
        OpsError::Appliance(ApplianceError::Component(e))
    }
}

/// The result of an operation.
pub type Result<T, E = OpsError> = std::result::Result<T, E>;

/// Random bytes from the OS generator, zeroized on drop.
pub fn random_bytes(n: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut v = Zeroizing::new(vec![0u8; n]);
    getrandom::fill(&mut v).map_err(|e| OpsError::Random(e.to_string()))?;
    Ok(v)
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// What `init` needs.
#[derive(Debug)]
pub struct InitRequest {
    /// Node name; defaults to the host name.
    pub name: String,
    /// Cluster id; generated when `None`.
    pub cluster_id: Option<String>,
    /// First administrator's name.
    pub admin_user: String,
    /// First administrator's password.
    pub admin_password: SecretString,
}

/// Creates an appliance: identity, master key, a random 64-byte JWT secret,
/// HS256, the default expiry and max session, and the first administrator.
pub fn init(root: &Path, req: InitRequest, now: u64) -> Result<Appliance> {
    let cluster_id = req
        .cluster_id
        .unwrap_or_else(|| format!("tac-{}", &new_id()[..8]));
    let node = Node {
        version: component::FORMAT_VERSION,
        name: req.name,
        node_id: new_id(),
        cluster_id,
        created_at: now,
    };
    component::check_name("--name", &node.name)
        .and_then(|()| component::check_name("--cluster-id", &node.cluster_id))
        .and_then(|()| component::check_name("--admin-user", &req.admin_user))
        .map_err(|e| OpsError::Invalid(format!("{}: {}", e.field, e.problem)))?;
    let node_name = node.name.clone();
    let users = Users {
        version: component::FORMAT_VERSION,
        users: vec![User {
            name: req.admin_user,
            role: Role::Admin,
            api_access: true,
            password_hash: auth::hash_password(&req.admin_password)?,
        }],
    };
    let secret = random_bytes(GENERATED_SECRET_LEN)?;
    let genesis = Genesis {
        node,
        users,
        jwt_key: JwtKey::from_secret(secret.to_vec())?,
        algorithm: Algorithm::HS256,
        expiry: component::DEFAULT_EXPIRY,
        max_session_seconds: component::DEFAULT_MAX_SESSION_SECONDS,
        tls: Some(
            crate::tls::self_signed(&node_name).map_err(|e| OpsError::Invalid(e.to_string()))?,
        ),
    };
    let master = MasterKey::generate().map_err(ApplianceError::from)?;
    Ok(Appliance::create(root, genesis, master)?)
}

/// An open appliance with the settings operations need.
#[derive(Debug)]
pub struct Ops {
    /// The appliance.
    pub app: Appliance,
    /// How long to wait for another process's lock.
    pub lock_timeout: Duration,
    /// What opening it did that the administrator should know of: an
    /// interrupted change finished or discarded, leftovers removed.
    pub notices: Vec<String>,
}

/// The JWT settings as `jwt show` prints them. Never the secret.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct JwtView {
    /// Algorithm.
    pub algorithm: Algorithm,
    /// Expiry value.
    pub expiry_value: u64,
    /// Expiry unit.
    pub expiry_unit: ExpiryUnit,
    /// Token lifetime in seconds.
    pub expiry_seconds: u64,
    /// Max session, seconds.
    pub max_session_seconds: u64,
    /// Active key id (fingerprint).
    pub kid: String,
    /// Retired keys still accepted.
    pub previous_keys: Vec<PreviousKeyView>,
}

/// A retired key in `jwt show`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PreviousKeyView {
    /// Its id.
    pub kid: String,
    /// Accepted until, Unix seconds.
    pub accept_until: u64,
    /// The algorithm of the tokens it verifies.
    pub algorithm: Algorithm,
}

/// `status`: who this node is.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StatusView {
    /// Node name.
    pub name: String,
    /// Node id.
    pub node_id: String,
    /// Cluster id.
    pub cluster_id: String,
    /// Active JWT key fingerprint.
    pub jwt_kid: String,
    /// Algorithm.
    pub algorithm: Algorithm,
    /// The member key, the recipient bundles for this node are encrypted
    /// to; `None` until the appliance has one (`tacctl status` makes it).
    pub member_key: Option<String>,
    /// The signer key derived from the member key (`tacctl-ed25519:...`),
    /// which signs the bundles this node exports; what a member pins at
    /// `cluster add`. `None` until the appliance has a member key.
    pub signer_key: Option<String>,
    /// The root directory.
    pub root: String,
}

/// A user as `user list` prints it. Never the hash.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UserView {
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// API access.
    pub api_access: bool,
}

/// `ldap show`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LdapView {
    /// The settings.
    #[serde(flatten)]
    pub settings: component::LdapCommon,
    /// Whether a bind password is stored (never the password).
    pub bind_password_set: bool,
}

/// What `network set` changes; `None` keeps the current value.
#[derive(Debug, Default)]
pub struct NetworkChange {
    /// DNS servers.
    pub dns_servers: Option<Vec<String>>,
    /// NTP servers.
    pub ntp_servers: Option<Vec<String>>,
    /// Syslog targets.
    pub syslog_targets: Option<Vec<component::SyslogTarget>>,
    /// Host name.
    pub hostname: Option<String>,
}

/// One change on the JWT Settings screen: the plain value that both the
/// `jwt set-*` flags and the wizard's answers produce, applied by
/// [`Ops::change_jwt`].
#[derive(Debug)]
pub enum JwtChange {
    /// Set JWT Algorithm.
    Algorithm(Algorithm),
    /// Set JWT Secret: the new secret becomes active.
    Secret {
        /// The new secret.
        secret: SecretSlice<u8>,
        /// Drop the previous keys at once instead of after one expiry period.
        revoke_previous: bool,
    },
    /// Set Token Expiry: a value in the current unit, or in `unit`.
    Expiry {
        /// How many units.
        value: u64,
        /// The unit, when it changes too.
        unit: Option<ExpiryUnit>,
    },
    /// Set Token Expiry Unit.
    ExpiryUnit(ExpiryUnit),
    /// Set JWT Key Pair: a new key pair for the configured key-pair
    /// algorithm, made or imported; the old key stays accepted for one
    /// expiry period.
    KeyPair(KeyPairSource),
}

/// Where a new key pair comes from.
#[derive(Debug)]
pub enum KeyPairSource {
    /// Made here; RSA of `rsa_bits` (3,072 when `None`).
    Generate {
        /// The RSA key size, for an RSA algorithm.
        rsa_bits: Option<usize>,
    },
    /// A private key in PEM (PKCS#8, PKCS#1 or SEC1).
    Import(SecretSlice<u8>),
}

impl JwtChange {
    /// What the change did, as the commands and the wizard report it: the
    /// new value, or for a secret the new key's fingerprint (never the secret).
    pub fn summary(&self, s: &JwtSettings) -> String {
        match self {
            JwtChange::Algorithm(_) if s.algorithm.is_hmac() => {
                format!("JWT algorithm set to {}", s.algorithm)
            }
            JwtChange::Algorithm(_) => format!(
                "JWT algorithm set to {}; active key {}",
                s.algorithm, s.active_key.kid
            ),
            JwtChange::Secret { .. } => {
                let mut text = format!("JWT secret set; active key {}", s.active_key.kid);
                for p in &s.previous_keys {
                    text.push_str(&format!(
                        "\nPrevious key {} stays accepted until {}",
                        p.key.kid,
                        rfc3339(p.accept_until)
                    ));
                }
                text
            }
            JwtChange::KeyPair(_) => {
                let mut text = format!("JWT key pair set; active key {}", s.active_key.kid);
                for p in &s.previous_keys {
                    text.push_str(&format!(
                        "\nPrevious key {} stays accepted until {}",
                        p.key.kid,
                        rfc3339(p.accept_until)
                    ));
                }
                text
            }
            JwtChange::Expiry { .. } | JwtChange::ExpiryUnit(_) => format!(
                "Token expiry set to {} {}",
                s.expiry_value,
                s.expiry_unit.label()
            ),
        }
    }
}

/// A Unix time as RFC 3339 in UTC, to the second.
pub fn rfc3339(t: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(t)).to_string()
}

impl Ops {
    /// Opens the appliance at `root`.
    /// An import interrupted by a crash is finished or undone here, before
    /// anything else reads the configuration.
    /// What crashed commands left in scratch directories is removed here
    /// too: those may hold custom files staged for an import.
    pub fn open(root: &Path, lock_timeout: Duration) -> Result<Self> {
        let mut ops = Self::open_unrecovered(root, lock_timeout)?;
        if ops.app.root().join("txn").exists() {
            let _lock = ops.app.lock(ops.lock_timeout)?;
            if let Some(n) = ops.app.recover()?.notice() {
                ops.notices.push(n);
            }
        }
        Ok(ops)
    }

    /// Opens the appliance at `root` without finishing an interrupted
    /// change: for `tacctl recover --discard-journal`, which must work when
    /// the journal cannot be read.
    pub fn open_unrecovered(root: &Path, lock_timeout: Duration) -> Result<Self> {
        let app = Appliance::open(root)?;
        let mut notices = Vec::new();
        let swept = app.sweep_unheld();
        if !swept.is_empty() {
            notices.push(format!(
                "removed what interrupted commands left behind: {}",
                swept.join(", ")
            ));
        }
        Ok(Self {
            app,
            lock_timeout,
            notices,
        })
    }

    /// `tacctl recover --discard-journal`: gives up an interrupted change
    /// whose journal is damaged, keeping the configuration as it is now
    /// ([`Appliance::discard_journal`]). A journal that is whole is not
    /// discarded: its change is finished instead. Returns what was done.
    pub fn discard_journal(&self, now: u64) -> Result<String> {
        let _lock = self.app.lock(self.lock_timeout)?;
        match self.app.recover() {
            Ok(r) => Ok(r
                .notice()
                .unwrap_or_else(|| "nothing to recover: no change was interrupted".to_owned())),
            Err(ApplianceError::JournalDamaged { .. }) => {
                let kept = self.app.discard_journal(now)?;
                Ok(match kept {
                    Some(id) => format!(
                        "discarded the damaged journal; the configuration was kept as it is now. The snapshot taken before the interrupted change is {id}: `tacctl rollback {id}` restores it"
                    ),
                    None => "discarded the damaged journal; the configuration was kept as it is now (no snapshot of the interrupted change was found)".to_owned(),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The policy the stored settings describe.
    pub fn policy(&self, settings: &JwtSettings, node: &Node) -> Policy {
        Policy {
            algorithm: settings.algorithm,
            issuer: node.cluster_id.clone(),
            lifetime: settings.expiry().seconds(),
            max_session: settings.max_session_seconds,
            leeway: jwt::LEEWAY_SECONDS,
        }
    }

    /// Checks the root credentials: an administrator's name and password.
    pub fn require_admin(&self, name: &str, password: &SecretString) -> Result<Identity> {
        let users = self.app.users()?;
        Ok(auth::authenticate_admin(
            &LocalUsers(&users),
            name,
            password,
        )?)
    }

    /// `status`.
    pub fn status(&self) -> Result<StatusView> {
        let node = self.app.node()?;
        let s = self.app.jwt_settings()?;
        Ok(StatusView {
            member_key: self.app.member_key()?.map(|k| k.recipient),
            signer_key: self
                .app
                .member_identity()?
                .map(|i| i.signer().key().to_string()),
            name: node.name,
            node_id: node.node_id,
            cluster_id: node.cluster_id,
            jwt_kid: s.active_key.kid,
            algorithm: s.algorithm,
            root: self.app.root().display().to_string(),
        })
    }

    /// The JWKS of every public key a token may still be verified with
    /// (`tacctl jwt jwks`, `GET /.well-known/jwks.json`); empty with HMAC.
    pub fn jwks(&self, now: u64) -> Result<serde_json::Value> {
        let snap = self.snapshot()?;
        Ok(snap.jwks(now))
    }

    /// The members whose tokens this node accepts by their public keys
    /// (Appliances JWT Trust).
    pub fn jwt_trust(&self) -> Result<component::JwtTrust> {
        Ok(self.app.jwt_trust()?)
    }

    /// Whether Appliances JWT Trust has anything to carry from this node:
    /// a key pair of its own or a trusted member.
    pub fn trust_exportable(&self, now: u64) -> Result<bool> {
        let s = self.app.jwt_settings()?;
        let keys = self.app.keyset(&s, now)?;
        Ok(!component::own_keys(&keys, s.algorithm, now).is_empty()
            || !self.app.jwt_trust()?.kids(now).is_empty())
    }

    /// Trusts `members`' public keys, each replacing the entry of its node
    /// id; this node's own entry is left out. The names of the members
    /// newly trusted or whose keys changed.
    pub fn trust(&self, members: &[component::TrustedMember]) -> Result<Vec<String>> {
        let _lock = self.app.lock(self.lock_timeout)?;
        self.app.recover()?;
        let node = self.app.node()?;
        let cur = self.app.jwt_trust()?;
        let incoming = component::JwtTrust {
            members: members.to_vec(),
            ..component::JwtTrust::empty()
        };
        let merged = cur.merged(&incoming, &node.node_id);
        let changed = members
            .iter()
            .filter(|m| m.node_id != node.node_id && cur.member(&m.node_id) != Some(*m))
            .map(|m| m.name.clone())
            .collect::<Vec<_>>();
        if !changed.is_empty() {
            self.app.write(&merged)?;
        }
        Ok(changed)
    }

    /// Stops trusting the member named `name_or_id` (its node name or node
    /// id): its tokens are refused from now on. The entry removed.
    pub fn untrust(&self, name_or_id: &str) -> Result<component::TrustedMember> {
        let _lock = self.app.lock(self.lock_timeout)?;
        self.app.recover()?;
        let mut trust = self.app.jwt_trust()?;
        let Some(i) = trust
            .members
            .iter()
            .position(|m| m.node_id == name_or_id || m.name == name_or_id)
        else {
            let names: Vec<&str> = trust.members.iter().map(|m| m.name.as_str()).collect();
            return Err(OpsError::Invalid(format!(
                "this node trusts no member {name_or_id:?}; it trusts {}",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            )));
        };
        let removed = trust.members.remove(i);
        self.app.write(&trust)?;
        Ok(removed)
    }

    /// What this node says about itself on `GET /api/v1/cluster/node`, as
    /// `cluster status` compares it with its members.
    pub fn describe(&self, now: u64) -> Result<crate::api::ApplianceBody> {
        Ok(crate::api::ApplianceBody::describe(
            &self.app.node()?,
            &self.app.jwt_settings()?,
            &self.app.jwt_trust()?,
            now,
        ))
    }

    /// `jwt show`.
    pub fn jwt_view(&self, now: u64) -> Result<JwtView> {
        let s = self.app.jwt_settings()?;
        Ok(JwtView {
            algorithm: s.algorithm,
            expiry_value: s.expiry_value,
            expiry_unit: s.expiry_unit,
            expiry_seconds: s.expiry().seconds(),
            max_session_seconds: s.max_session_seconds,
            kid: s.active_key.kid.clone(),
            previous_keys: s
                .previous_keys
                .iter()
                .filter(|k| k.accept_until >= now)
                .map(|k| PreviousKeyView {
                    kid: k.key.kid.clone(),
                    accept_until: k.accept_until,
                    algorithm: s.signed_with(k),
                })
                .collect(),
        })
    }

    fn update_jwt(
        &self,
        now: u64,
        f: impl FnOnce(&mut JwtSettings) -> Result<()>,
    ) -> Result<JwtSettings> {
        let _lock = self.app.lock(self.lock_timeout)?;
        let mut s = self.app.jwt_settings()?;
        s.prune(now);
        f(&mut s)?;
        self.app.write(&s)?;
        Ok(s)
    }

    /// `jwt set-algorithm`. Within one kind of key (HMAC to HMAC, RSA to
    /// RSA) the active key stays, and an HMAC secret too short for the new
    /// hash is refused; the tokens signed under the old algorithm end now:
    /// this is the administrator choosing it on this node, as the screen
    /// does. To another kind (HMAC to a key pair, or between key-pair
    /// types), or with `rsa_bits`, a new key is made (a 64-byte secret, or a
    /// key pair: RSA of `rsa_bits`, 3,072 by default), and the old key stays
    /// accepted for one expiry period under its algorithm, as after
    /// `set-secret`.
    pub fn set_algorithm(
        &self,
        algorithm: Algorithm,
        rsa_bits: Option<usize>,
        now: u64,
    ) -> Result<JwtSettings> {
        if rsa_bits.is_some() && !matches!(algorithm.key_type(), crate::jwt::KeyType::Rsa { .. }) {
            return Err(OpsError::Invalid(format!(
                "--bits is for RSA key pairs; {algorithm} does not use one"
            )));
        }
        // A new key pair is made before the lock: RSA generation takes a
        // while, and the lock serialises every writer.
        let current = self.app.jwt_settings()?.algorithm;
        let new_key = if !algorithm.fits(current.key_type()) || rsa_bits.is_some() {
            Some(if algorithm.is_hmac() {
                JwtKey::from_secret(random_bytes(GENERATED_SECRET_LEN)?.to_vec())?
            } else {
                JwtKey::generate(algorithm, rsa_bits)?
            })
        } else {
            None
        };
        self.update_jwt(now, |s| {
            let keys = self.app.keyset(s, now)?;
            match &new_key {
                Some(key) if !algorithm.fits(keys.active().key_type()) || rsa_bits.is_some() => {
                    let sealed = self.app.seal_key(key, now)?;
                    let old = std::mem::replace(&mut s.active_key, sealed);
                    let old_algorithm = s.algorithm;
                    s.algorithm = algorithm;
                    let until = now.saturating_add(s.expiry().seconds());
                    s.retire(old, old_algorithm, now, until);
                }
                _ => {
                    let active = keys.active();
                    algorithm.check_key(active.key_type(), active.len())?;
                    s.algorithm = algorithm;
                }
            }
            Ok(())
        })
    }

    /// `jwt set-key`: a private key (PEM: PKCS#8, PKCS#1 or SEC1) for the
    /// configured key-pair algorithm becomes active; the old one stays
    /// accepted for one expiry period unless `revoke_previous`.
    pub fn set_key(
        &self,
        pem: &SecretSlice<u8>,
        revoke_previous: bool,
        now: u64,
    ) -> Result<JwtSettings> {
        let algorithm = self.app.jwt_settings()?.algorithm;
        if algorithm.is_hmac() {
            return Err(OpsError::Invalid(format!(
                "{algorithm} signs with a shared secret: set one with `tacctl jwt set-secret`, or choose a key-pair algorithm first (`tacctl jwt set-algorithm RS256`)"
            )));
        }
        let key = JwtKey::from_pem(pem.expose_secret(), algorithm)?;
        self.replace_key(key, revoke_previous, now)
    }

    /// Set JWT Key Pair, generated: a new key pair for the configured
    /// key-pair algorithm (RSA of `rsa_bits`, 3,072 by default); the old key
    /// stays accepted for one expiry period.
    pub fn generate_key(&self, rsa_bits: Option<usize>, now: u64) -> Result<JwtSettings> {
        let algorithm = self.app.jwt_settings()?.algorithm;
        if algorithm.is_hmac() {
            return Err(OpsError::Invalid(format!(
                "{algorithm} signs with a shared secret, not a key pair; choose a key-pair algorithm first (Set JWT Algorithm, or `tacctl jwt set-algorithm RS256`)"
            )));
        }
        let key = JwtKey::generate(algorithm, rsa_bits)?;
        self.replace_key(key, false, now)
    }

    /// Makes `key` active for the configured algorithm; the old key stays
    /// accepted for one expiry period unless `revoke_previous`.
    fn replace_key(&self, key: JwtKey, revoke_previous: bool, now: u64) -> Result<JwtSettings> {
        self.update_jwt(now, |s| {
            s.algorithm.check_key(key.key_type(), key.len())?;
            if key.kid() == s.active_key.kid {
                return Err(OpsError::Invalid(
                    "the new key is the same as the current one; nothing to change".into(),
                ));
            }
            let sealed = self.app.seal_key(&key, now)?;
            let old = std::mem::replace(&mut s.active_key, sealed);
            s.previous_keys.retain(|k| k.key.kid != key.kid());
            if revoke_previous {
                s.previous_keys.clear();
            } else {
                let until = now.saturating_add(s.expiry().seconds());
                s.retire(old, s.algorithm, now, until);
            }
            Ok(())
        })
    }

    /// `jwt set-secret`: the new secret becomes active; the old one stays
    /// accepted for one expiry period unless `revoke_previous`.
    pub fn set_secret(
        &self,
        secret: SecretSlice<u8>,
        revoke_previous: bool,
        now: u64,
    ) -> Result<JwtSettings> {
        let algorithm = self.app.jwt_settings()?.algorithm;
        if !algorithm.is_hmac() {
            return Err(OpsError::Invalid(format!(
                "{algorithm} signs with a key pair, not a secret: give a private key with `tacctl jwt set-key --private-key-file F`, or choose an HMAC algorithm first (`tacctl jwt set-algorithm HS256`)"
            )));
        }
        let key = JwtKey::from_secret(secret.expose_secret().to_vec())?;
        self.replace_key(key, revoke_previous, now)
            .map_err(|e| match e {
                OpsError::Invalid(m) if m.starts_with("the new key is the same") => {
                    OpsError::Invalid(
                        "the new secret is the same as the current one; nothing to change".into(),
                    )
                }
                e => e,
            })
    }

    /// `jwt set-secret --revoke-previous` without a new secret: drops retired keys now.
    pub fn revoke_previous(&self, now: u64) -> Result<JwtSettings> {
        self.update_jwt(now, |s| {
            s.previous_keys.clear();
            Ok(())
        })
    }

    /// `jwt set-expiry VALUE [UNIT]`.
    pub fn set_expiry(
        &self,
        value: u64,
        unit: Option<ExpiryUnit>,
        now: u64,
    ) -> Result<JwtSettings> {
        self.update_jwt(now, |s| {
            let e = Expiry::new(value, unit.unwrap_or(s.expiry_unit))?;
            s.expiry_value = e.value;
            s.expiry_unit = e.unit;
            Ok(())
        })
    }

    /// `jwt set-expiry-unit UNIT`.
    pub fn set_expiry_unit(&self, unit: ExpiryUnit, now: u64) -> Result<JwtSettings> {
        self.update_jwt(now, |s| {
            s.expiry_unit = unit;
            Ok(())
        })
    }

    /// Applies one change of the JWT Settings screen.
    pub fn change_jwt(&self, change: &JwtChange, now: u64) -> Result<JwtSettings> {
        match change {
            JwtChange::Algorithm(a) => self.set_algorithm(*a, None, now),
            JwtChange::Secret {
                secret,
                revoke_previous,
            } => self.set_secret(
                SecretSlice::from(secret.expose_secret().to_vec()),
                *revoke_previous,
                now,
            ),
            JwtChange::Expiry { value, unit } => self.set_expiry(*value, *unit, now),
            JwtChange::ExpiryUnit(u) => self.set_expiry_unit(*u, now),
            JwtChange::KeyPair(KeyPairSource::Generate { rsa_bits }) => {
                self.generate_key(*rsa_bits, now)
            }
            JwtChange::KeyPair(KeyPairSource::Import(pem)) => self.set_key(pem, false, now),
        }
    }

    /// `jwt set-max-session SECONDS`.
    pub fn set_max_session(&self, seconds: u64, now: u64) -> Result<JwtSettings> {
        self.update_jwt(now, |s| {
            if seconds == 0 {
                return Err(OpsError::Invalid(
                    "the max session must be at least 1 second".into(),
                ));
            }
            s.max_session_seconds = seconds;
            Ok(())
        })
    }

    fn update_users(&self, f: impl FnOnce(&mut Users) -> Result<()>) -> Result<()> {
        let _lock = self.app.lock(self.lock_timeout)?;
        let mut users = self.app.users()?;
        f(&mut users)?;
        self.app.write(&users)?;
        Ok(())
    }

    /// `network show`.
    pub fn network(&self) -> Result<component::Network> {
        Ok(self.app.network()?)
    }

    /// `network set`: replaces the lists given, keeps the others.
    pub fn set_network(&self, change: NetworkChange) -> Result<component::Network> {
        let _lock = self.app.lock(self.lock_timeout)?;
        let mut n = self.app.network()?;
        if let Some(d) = change.dns_servers {
            n.dns_servers = d;
        }
        if let Some(t) = change.ntp_servers {
            n.ntp_servers = t;
        }
        if let Some(s) = change.syslog_targets {
            n.syslog_targets = s;
        }
        if let Some(h) = change.hostname {
            n.hostname = Some(h);
        }
        let n = component::Network {
            version: component::FORMAT_VERSION,
            ..n
        };
        <component::Network as component::Stored>::validate(&n)
            .map_err(|e| OpsError::Invalid(format!("{}: {}", e.field, e.problem)))?;
        self.app.write(&n)?;
        Ok(n)
    }

    /// `ldap show`: the settings, never the bind password.
    pub fn ldap(&self) -> Result<Option<LdapView>> {
        Ok(self.app.ldap()?.map(|l| LdapView {
            bind_password_set: l.bind_password_sealed.is_some(),
            settings: l.common,
        }))
    }

    /// `ldap set`: replaces the LDAP settings; the bind password is sealed.
    pub fn set_ldap(
        &self,
        common: component::LdapCommon,
        bind_password: Option<&SecretSlice<u8>>,
    ) -> Result<()> {
        let _lock = self.app.lock(self.lock_timeout)?;
        let sealed = bind_password
            .map(|p| self.app.seal_ldap_password(p.expose_secret()))
            .transpose()?;
        let settings = component::LdapSettings {
            version: component::FORMAT_VERSION,
            common,
            bind_password_sealed: sealed,
        };
        <component::LdapSettings as component::Stored>::validate(&settings)
            .map_err(|e| OpsError::Invalid(format!("{}: {}", e.field, e.problem)))?;
        self.app.write(&settings)?;
        Ok(())
    }

    /// The external LDAP directory, when configured and enabled, with its
    /// bind password opened from the seal.
    pub fn directory(&self) -> Result<Option<Directory>> {
        let Some(l) = self.app.ldap()? else {
            return Ok(None);
        };
        if !l.common.enabled {
            return Ok(None);
        }
        let password = match l.bind_password_sealed.as_deref() {
            None => None,
            Some(sealed) => {
                let bytes = self.app.open_ldap_password(sealed)?;
                let text = std::str::from_utf8(&bytes).map_err(|_| {
                    OpsError::Invalid(
                        "the stored LDAP bind password is not UTF-8; set it again with `tacctl ldap set --bind-password-file`".into(),
                    )
                })?;
                Some(SecretString::from(text.to_owned()))
            }
        };
        Ok(Some(Directory::new(l.common, password)?))
    }

    /// `ldap disable`: keeps the settings, stops using them.
    pub fn disable_ldap(&self) -> Result<()> {
        let _lock = self.app.lock(self.lock_timeout)?;
        let Some(mut l) = self.app.ldap()? else {
            return Err(OpsError::Invalid(
                "LDAP is not configured; nothing to disable".into(),
            ));
        };
        l.common.enabled = false;
        self.app.write(&l)?;
        Ok(())
    }

    /// The cluster members this node knows.
    pub fn members(&self) -> Result<Vec<component::Member>> {
        Ok(self.app.members()?.members)
    }

    /// Adds a member whose fingerprint the administrator confirmed.
    pub fn add_member(&self, member: component::Member) -> Result<()> {
        let _lock = self.app.lock(self.lock_timeout)?;
        let mut ms = self.app.members()?;
        if ms.get(&member.name).is_some() {
            return Err(OpsError::MemberExists(member.name));
        }
        ms.members.push(member);
        <component::Members as component::Stored>::validate(&ms)
            .map_err(|e| OpsError::Invalid(format!("{}: {}", e.field, e.problem)))?;
        self.app.write(&ms)?;
        Ok(())
    }

    /// Removes a member; the removed entry.
    pub fn remove_member(&self, name: &str) -> Result<component::Member> {
        let _lock = self.app.lock(self.lock_timeout)?;
        let mut ms = self.app.members()?;
        let Some(i) = ms.members.iter().position(|m| m.name == name) else {
            return Err(OpsError::MemberNotFound(name.to_owned()));
        };
        let removed = ms.members.remove(i);
        self.app.write(&ms)?;
        Ok(removed)
    }

    /// The cluster store settings and the etcd client key; `None` when the
    /// store is local.
    pub fn cluster_store(&self) -> Result<Option<(component::ClusterStore, SecretSlice<u8>)>> {
        Ok(self.app.cluster_store_with_key()?)
    }

    /// Sets the cluster store to `store` (its key sealed from `key_pem`).
    pub fn set_cluster_store(
        &self,
        store: component::ClusterStore,
        key_pem: &SecretSlice<u8>,
    ) -> Result<()> {
        let _lock = self.app.lock(self.lock_timeout)?;
        // Validated as it is written, once its key is sealed.
        self.app.set_cluster_store(store, key_pem)?;
        Ok(())
    }

    /// Makes the cluster store local again.
    pub fn clear_cluster_store(&self) -> Result<()> {
        let _lock = self.app.lock(self.lock_timeout)?;
        self.app.clear_cluster_store()?;
        Ok(())
    }

    /// This node's member identity, made now (under the lock) when the
    /// appliance predates member keys. `now` is its creation time then.
    pub fn member_identity(&self, now: u64) -> Result<crate::bundle::recipient::Identity> {
        if let Some(identity) = self.app.member_identity()? {
            return Ok(identity);
        }
        let _lock = self.app.lock(self.lock_timeout)?;
        if let Some(identity) = self.app.member_identity()? {
            return Ok(identity);
        }
        let identity =
            crate::bundle::recipient::Identity::generate().map_err(ApplianceError::from)?;
        self.app.create_member_key(&identity, now)?;
        Ok(identity)
    }

    /// `tls show`: the certificate's fingerprint, when one is installed.
    pub fn tls_fingerprint(&self) -> Result<Option<String>> {
        self.app
            .tls()?
            .map(|t| {
                component::cert_fingerprint(&t.cert_pem).map_err(|e| OpsError::Invalid(e.problem))
            })
            .transpose()
    }

    /// `tls set`: installs a certificate chain and its key (sealed).
    pub fn set_tls(&self, cert_pem: &str, key_pem: &SecretSlice<u8>) -> Result<String> {
        let fingerprint = component::cert_fingerprint(cert_pem)
            .map_err(|e| OpsError::Invalid(format!("--cert: {}", e.problem)))?;
        component::check_key_pem(key_pem.expose_secret())
            .map_err(|e| OpsError::Invalid(format!("--key: {}", e.problem)))?;
        crate::tls::certified_key(cert_pem, key_pem)
            .map_err(|e| OpsError::Invalid(e.to_string()))?;
        let _lock = self.app.lock(self.lock_timeout)?;
        let settings = component::TlsSettings {
            version: component::FORMAT_VERSION,
            cert_pem: cert_pem.to_owned(),
            key_sealed: self.app.seal_tls_key(key_pem.expose_secret())?,
        };
        self.app.write(&settings)?;
        Ok(fingerprint)
    }

    /// `user add`.
    pub fn add_user(
        &self,
        name: &str,
        role: Role,
        api_access: bool,
        password: &SecretString,
    ) -> Result<()> {
        component::check_name("NAME", name).map_err(|e| OpsError::Invalid(e.problem))?;
        let hash = auth::hash_password(password)?;
        self.update_users(|u| {
            if u.get(name).is_some() {
                return Err(OpsError::UserExists(name.into()));
            }
            u.users.push(User {
                name: name.into(),
                role,
                api_access,
                password_hash: hash,
            });
            Ok(())
        })
    }

    /// `user passwd`.
    pub fn set_password(&self, name: &str, password: &SecretString) -> Result<()> {
        let hash = auth::hash_password(password)?;
        self.update_users(|u| {
            let user = u
                .get_mut(name)
                .ok_or_else(|| OpsError::UserNotFound(name.into()))?;
            user.password_hash = hash;
            Ok(())
        })
    }

    /// `user remove`: never the last administrator.
    pub fn remove_user(&self, name: &str) -> Result<()> {
        self.update_users(|u| {
            let user = u
                .get(name)
                .ok_or_else(|| OpsError::UserNotFound(name.into()))?;
            if user.role == Role::Admin && u.admin_count() == 1 {
                return Err(OpsError::LastAdmin(name.into()));
            }
            u.users.retain(|x| x.name != name);
            Ok(())
        })
    }

    /// `user list`.
    pub fn list_users(&self) -> Result<Vec<UserView>> {
        Ok(self
            .app
            .users()?
            .users
            .into_iter()
            .map(|u| UserView {
                name: u.name,
                role: u.role,
                api_access: u.api_access,
            })
            .collect())
    }

    /// Logging in with credentials by the login rule the server follows
    /// ([`auth::ApiLogin`]: local users, then the directory for other
    /// names, then API access), then a new token.
    pub fn login(&self, name: &str, password: &SecretString, now: u64) -> Result<Issued> {
        let snap = self.snapshot()?;
        let directory = snap.directory();
        let login = ApiLogin {
            users: &snap.users,
            local: LocalUsers(&snap.users),
            directory: directory.as_ref(),
        };
        // The directory answers over the network; a local check needs no
        // runtime but costs nothing in one.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                OpsError::Invalid(format!("cannot start the asynchronous runtime: {e}"))
            })?;
        let id = runtime.block_on(login.authenticate(name, password))?;
        snap.issue(&id, now)
    }

    /// Verifies a token against this node's keys and policy.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims> {
        Ok(self.snapshot()?.verify(token, now)?)
    }

    /// Trades a valid token for a new one, by the refresh rules. Only local
    /// users' tokens: a directory user's is refreshed by the server, which
    /// asks the directory.
    pub fn refresh(&self, token: &str, now: u64) -> Result<Issued> {
        let snap = self.snapshot()?;
        let old = snap.verify(token, now)?;
        let subject = snap.local_subject(&old.sub).unwrap_or(Subject::Gone);
        snap.refresh(&old, subject, now)
    }
}
