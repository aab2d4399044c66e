//! The node master key and the sealing of secrets at rest.
//!
//! Secrets stored in the appliance (JWT keys, later the LDAP bind password)
//! are sealed with ChaCha20-Poly1305 (RFC 8439) under a 256-bit master key
//! that never leaves the node; a random 96-bit nonce per seal, and the
//! purpose (`jwt-key`, ...) bound in as associated data so a sealed value
//! cannot be moved to another field. Sealed text is `v1.` followed by
//! base64(nonce || ciphertext || tag).

use std::fs;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use zeroize::{Zeroize, Zeroizing};

use super::fsutil::atomic_write;

const PREFIX: &str = "v1.";
const FILE_HEADER: &str = "tacctl-master-key-v1";
const AAD_LABEL: &str = "tacctl/seal/v1/";

/// Failures of the master key or of sealing.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The master key file is missing or unreadable.
    #[error(
        "cannot read the node master key {path}: {reason}; restore it from a backup of this appliance (sealed secrets cannot be recovered without it)"
    )]
    MasterKey {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A sealed value failed authentication: wrong master key or damaged text.
    #[error(
        "a sealed {purpose} does not open with this node's master key (damaged, or copied from another node); restore the file from a snapshot or set the secret again"
    )]
    Open {
        /// What was sealed.
        purpose: String,
    },
    /// The OS random generator failed.
    #[error("the operating system's random generator failed: {0}")]
    Random(String),
}

/// The 256-bit key that seals this node's secrets.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

impl MasterKey {
    /// A fresh key from the OS generator.
    pub fn generate() -> Result<Self, SealError> {
        let mut k = Zeroizing::new([0u8; 32]);
        getrandom::fill(k.as_mut()).map_err(|e| SealError::Random(e.to_string()))?;
        Ok(Self(k))
    }

    /// Reads the key file.
    pub fn read(path: &Path) -> Result<Self, SealError> {
        let err = |reason: &str| SealError::MasterKey {
            path: path.display().to_string(),
            reason: reason.to_owned(),
        };
        let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| err(&e.to_string()))?);
        let mut lines = text.lines();
        if lines.next() != Some(FILE_HEADER) {
            return Err(err("not a tacctl master key file"));
        }
        let mut bytes = STANDARD
            .decode(lines.next().unwrap_or_default().trim())
            .map_err(|_| err("the key is not base64"))?;
        if bytes.len() != 32 {
            bytes.zeroize();
            return Err(err("the key is not 32 bytes"));
        }
        let mut k = Zeroizing::new([0u8; 32]);
        k.copy_from_slice(&bytes);
        bytes.zeroize();
        Ok(Self(k))
    }

    /// Writes the key file (0600, atomically).
    pub fn write(&self, path: &Path) -> Result<(), SealError> {
        let text = Zeroizing::new(format!(
            "{FILE_HEADER}\n{}\n",
            STANDARD.encode(self.0.as_ref())
        ));
        atomic_write(path, text.as_bytes()).map_err(|e| SealError::MasterKey {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&Key::from(*self.0))
    }

    /// Seals `secret` for `purpose`.
    pub fn seal(&self, purpose: &str, secret: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| SealError::Random(e.to_string()))?;
        let aad = format!("{AAD_LABEL}{purpose}");
        let ct = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SealError::Random("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(format!("{PREFIX}{}", STANDARD.encode(out)))
    }

    /// Opens a value sealed for `purpose`.
    pub fn open(&self, purpose: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let fail = || SealError::Open {
            purpose: purpose.to_owned(),
        };
        let raw = STANDARD
            .decode(sealed.strip_prefix(PREFIX).ok_or_else(fail)?)
            .map_err(|_| fail())?;
        if raw.len() < 12 + 16 {
            return Err(fail());
        }
        let (nonce, ct) = raw.split_at(12);
        let aad = format!("{AAD_LABEL}{purpose}");
        self.cipher()
            .decrypt(
                &Nonce::try_from(nonce).expect("the nonce is 12 bytes, checked above"),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| fail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_binds_the_purpose() {
        let k = MasterKey::generate().unwrap();
        let s = k.seal("jwt-key", b"secret bytes").unwrap();
        assert!(s.starts_with("v1."));
        assert_eq!(&k.open("jwt-key", &s).unwrap()[..], b"secret bytes");
        assert!(k.open("ldap-bind", &s).is_err());
        assert!(MasterKey::generate().unwrap().open("jwt-key", &s).is_err());
    }

    #[test]
    fn key_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("master.key");
        let k = MasterKey::generate().unwrap();
        k.write(&p).unwrap();
        let s = k.seal("x", b"abc").unwrap();
        assert_eq!(
            &MasterKey::read(&p).unwrap().open("x", &s).unwrap()[..],
            b"abc"
        );
    }
}
