//! One consistent reading of the configuration that tokens depend on.
//!
//! A [`Snapshot`] holds the node, the JWT settings with their unsealed key set,
//! the policy, the local users, the LDAP settings and the TLS material, all
//! read under the appliance lock so it never mixes files from before and after
//! an import. The CLI takes one per command; the server keeps one in memory
//! and swaps in a new one when the files change, so its hot path (verifying a
//! token) touches no disk. Issuing, verifying and refreshing live here, once,
//! for both.

use std::path::PathBuf;
use std::time::SystemTime;

use secrecy::{SecretSlice, SecretString};

use super::{OpsError, Result, new_id};
use crate::auth::Identity;
use crate::auth::ldap::{Directory, LdapError};
use crate::component::{self, JwtSettings, LdapCommon, Node, Stored, Users};
use crate::jwt::{self, Claims, Grant, KeySet, Policy, Subject, VerifyError};

/// A freshly issued token.
#[derive(Debug)]
pub struct Issued {
    /// The compact JWS.
    pub token: SecretString,
    /// Its claims.
    pub claims: Claims,
}

/// The external directory's settings with the bind password opened.
#[derive(Debug, Clone)]
pub struct LdapConfig {
    /// The settings.
    pub common: LdapCommon,
    /// The service account's password, when a bind DN is configured.
    pub bind_password: Option<SecretString>,
}

/// The API server's certificate chain and private key, both PEM.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    /// The certificate chain.
    pub cert_pem: String,
    /// The private key.
    pub key_pem: SecretSlice<u8>,
    /// `SHA256:` fingerprint of the leaf certificate.
    pub fingerprint: String,
}

/// The configuration as of one moment, read under the lock.
#[derive(Debug)]
pub struct Snapshot {
    /// Who this node is.
    pub node: Node,
    /// JWT settings (sealed keys; the opened ones are in `keys`).
    pub settings: JwtSettings,
    /// The active key and the retired keys still accepted.
    pub keys: KeySet,
    /// The policy tokens are issued and checked by.
    pub policy: Policy,
    /// Local users.
    pub users: Users,
    /// The external directory, when configured and enabled.
    pub ldap: Option<LdapConfig>,
    /// The certificate, when one is installed.
    pub tls: Option<TlsMaterial>,
    /// The members whose public keys this node trusts (already in `keys`).
    pub trust: component::JwtTrust,
    /// This node's member key, the recipient bundles for it are encrypted
    /// to; `None` until the appliance has one.
    pub recipient: Option<String>,
    /// The signer key derived from the member key, which signs the bundles
    /// this node exports; `None` until the appliance has a member key.
    pub signer: Option<String>,
}

/// What identifies one state of the files a [`Snapshot`] is read from: size,
/// modification time and inode of each. Writes replace files by rename, so a
/// change always changes at least the inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp(Vec<(PathBuf, Option<FileId>)>);

/// Size, modification time and inode.
type FileId = (u64, SystemTime, u64);

impl Stamp {
    /// Reads the stamp of the configuration files under `root`.
    pub fn read(root: &std::path::Path) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        let files = [
            <Node as Stored>::FILE,
            <JwtSettings as Stored>::FILE,
            <Users as Stored>::FILE,
            <component::LdapSettings as Stored>::FILE,
            <component::TlsSettings as Stored>::FILE,
            <component::JwtTrust as Stored>::FILE,
            <component::MemberKey as Stored>::FILE,
            "txn",
        ];
        Stamp(
            files
                .iter()
                .map(|f| {
                    let p = root.join(f);
                    let m = std::fs::symlink_metadata(&p).ok().map(|m| {
                        (
                            m.len(),
                            m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                            m.ino(),
                        )
                    });
                    (p, m)
                })
                .collect(),
        )
    }
}

impl super::Ops {
    /// Reads a consistent snapshot without taking the lock: the files'
    /// stamp is read before and after, and the reading is retried when a
    /// writer changed anything in between (a seqlock, with the files'
    /// identities as the sequence). An import in progress is waited for;
    /// one interrupted by a crash is finished or undone first.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let root = self.app.root();
        let started = std::time::Instant::now();
        loop {
            if root.join("txn").exists() {
                let _lock = self.app.lock(self.lock_timeout)?;
                self.app.recover()?;
            }
            let before = Stamp::read(root);
            let read = self.read_snapshot();
            if Stamp::read(root) == before && !root.join("txn").exists() {
                return read;
            }
            if started.elapsed() > self.lock_timeout {
                return Err(self.app.locked(started.elapsed()).into());
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    fn read_snapshot(&self) -> Result<Snapshot> {
        let node = self.app.node()?;
        let settings = self.app.jwt_settings()?;
        let keys = self.app.keyset(&settings, 0)?;
        let trust = self.app.jwt_trust()?;
        let policy = self.policy(&settings, &node);
        let users = self.app.users()?;
        let ldap = match self.app.ldap()? {
            Some(l) if l.common.enabled => Some(LdapConfig {
                bind_password: l
                    .bind_password_sealed
                    .as_deref()
                    .map(|s| {
                        let bytes = self.app.open_ldap_password(s)?;
                        String::from_utf8(bytes.to_vec())
                            .map(SecretString::from)
                            .map_err(|_| {
                                OpsError::Invalid(
                                    "the stored LDAP bind password is not UTF-8; set it again with `tacctl ldap set`".into(),
                                )
                            })
                    })
                    .transpose()?,
                common: l.common,
            }),
            _ => None,
        };
        let tls = match self.app.tls()? {
            Some(t) => Some(TlsMaterial {
                fingerprint: component::cert_fingerprint(&t.cert_pem)
                    .map_err(|e| OpsError::Invalid(format!("{}: {}", e.field, e.problem)))?,
                key_pem: SecretSlice::from(self.app.open_tls_key(&t.key_sealed)?.to_vec()),
                cert_pem: t.cert_pem,
            }),
            None => None,
        };
        Ok(Snapshot {
            node,
            settings,
            keys,
            policy,
            users,
            ldap,
            tls,
            trust,
            recipient: self.app.member_key()?.map(|k| k.recipient),
            signer: self
                .app
                .member_identity()?
                .map(|i| i.signer().key().to_string()),
        })
    }
}

impl Snapshot {
    /// The JWKS of the public keys its tokens may be verified with.
    pub fn jwks(&self, now: u64) -> serde_json::Value {
        self.keys.jwks(self.policy.algorithm, now)
    }

    /// Issues a token for someone whose credentials and API access were checked.
    pub fn issue(&self, id: &Identity, now: u64) -> Result<Issued> {
        let grant = Grant {
            subject: &id.name,
            role: id.role.as_str(),
            sid: new_id(),
            jti: new_id(),
            now,
        };
        let (token, claims) = jwt::issue(&grant, &self.keys, &self.policy)?;
        Ok(Issued {
            token: SecretString::from(token),
            claims,
        })
    }

    /// Verifies a token against this node's keys and policy.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, VerifyError> {
        jwt::verify(token.trim(), &self.keys, &self.policy, now)
    }

    /// The directory client for the LDAP settings, when they are
    /// configured and enabled, or why they cannot be used.
    pub fn directory(&self) -> Option<Result<Directory, LdapError>> {
        self.ldap
            .as_ref()
            .map(|l| Directory::new(l.common.clone(), l.bind_password.clone()))
    }

    /// What the local user store says of a token's subject; `None` when the
    /// name is not a local user (it may be a directory user).
    pub fn local_subject(&self, name: &str) -> Option<Subject<'static>> {
        self.users.get(name).map(|u| {
            if u.api_access {
                Subject::Active {
                    role: u.role.as_str(),
                }
            } else {
                Subject::NoApiAccess
            }
        })
    }

    /// Trades verified claims for a new token, by the refresh rules.
    pub fn refresh(&self, old: &Claims, subject: Subject<'_>, now: u64) -> Result<Issued> {
        let claims = jwt::refresh_claims(old, subject, &self.policy, new_id(), now)?;
        let token = jwt::sign(&claims, &self.keys, self.policy.algorithm)?;
        Ok(Issued {
            token: SecretString::from(token),
            claims,
        })
    }
}
