//! HMAC keys and the key set a node verifies with.
//!
//! A [`JwtKey`] holds the raw secret in a zeroizing [`SecretSlice`] together
//! with the jsonwebtoken key objects built from it once, so the hot verify
//! path allocates nothing for the key. Its `kid` is a fingerprint: a
//! domain-separated SHA-256 of the secret, truncated, which names the key in
//! token headers and listings without revealing it. A [`KeySet`] is the active
//! key plus retired keys still accepted for verification until a deadline.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};

use super::{KeyError, VerifyError};

/// Domain separation for key fingerprints, so a `kid` is never a plain hash of the secret.
const KID_LABEL: &[u8] = b"tacctl/jwt-kid/v1\0";
/// Bytes of the SHA-256 fingerprint kept in a `kid` (128 bits, 22 base64url characters).
const KID_BYTES: usize = 16;

/// One HMAC secret with its fingerprint.
pub struct JwtKey {
    kid: String,
    secret: SecretSlice<u8>,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl JwtKey {
    /// Takes ownership of the secret bytes; the vector is moved into a zeroizing box.
    /// An empty secret is refused.
    pub fn from_secret(secret: Vec<u8>) -> Result<Self, KeyError> {
        let secret = SecretSlice::from(secret);
        let bytes = secret.expose_secret();
        let (Ok(encoding), Ok(decoding)) = (
            EncodingKey::from_secret(bytes),
            DecodingKey::from_secret(bytes),
        ) else {
            return Err(KeyError::Empty);
        };
        Ok(Self {
            kid: fingerprint(bytes),
            secret,
            encoding,
            decoding,
        })
    }

    /// The key id: a fingerprint of the secret, safe to show and to put in headers.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Length of the secret in bytes.
    pub fn len(&self) -> usize {
        self.secret.expose_secret().len()
    }

    /// Whether the secret is empty (never true for a key that passed validation).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The raw secret, for sealing under a master key. Callers must not log or print it.
    pub fn expose_secret(&self) -> &[u8] {
        self.secret.expose_secret()
    }

    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    pub(crate) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }
}

impl Clone for JwtKey {
    fn clone(&self) -> Self {
        Self::from_secret(self.secret.expose_secret().to_vec())
            .expect("a key that was built once builds again")
    }
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

/// The fingerprint (and `kid`) of a secret: base64url of the first 16 bytes of
/// SHA-256(label || secret).
pub fn fingerprint(secret: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(KID_LABEL);
    hasher.update(secret);
    let digest = hasher.finalize();
    URL_SAFE_NO_PAD.encode(&digest[..KID_BYTES])
}

/// A key that signed tokens in the past and is still accepted until `accept_until`.
#[derive(Debug, Clone)]
pub struct RetiredKey {
    /// The key itself.
    pub key: JwtKey,
    /// Unix time after which tokens with this `kid` are refused.
    pub accept_until: u64,
}

/// The keys a node accepts: one active key that signs, and retired keys that only verify.
#[derive(Debug, Clone)]
pub struct KeySet {
    active: JwtKey,
    previous: Vec<RetiredKey>,
}

impl KeySet {
    /// A key set with only an active key.
    pub fn new(active: JwtKey) -> Self {
        Self {
            active,
            previous: Vec::new(),
        }
    }

    /// A key set with retired keys still accepted for verification.
    pub fn with_previous(active: JwtKey, previous: Vec<RetiredKey>) -> Self {
        Self { active, previous }
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> &JwtKey {
        &self.active
    }

    /// Retired keys, whatever their deadline.
    pub fn previous(&self) -> &[RetiredKey] {
        &self.previous
    }

    /// The key that verifies a token naming `kid`, at time `now`.
    ///
    /// A token without `kid` is checked against the active key only: tokens
    /// from clients and appliances that predate key ids stay usable, and the
    /// algorithm pin still applies.
    pub fn select(&self, kid: Option<&str>, now: u64) -> Result<&JwtKey, VerifyError> {
        let Some(kid) = kid else {
            return Ok(&self.active);
        };
        if kid == self.active.kid() {
            return Ok(&self.active);
        }
        match self.previous.iter().find(|r| r.key.kid() == kid) {
            Some(r) if now <= r.accept_until => Ok(&r.key),
            Some(r) => Err(VerifyError::KeyRetired {
                kid: kid.to_owned(),
                since: r.accept_until,
            }),
            None => Err(VerifyError::UnknownKey {
                kid: kid.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_is_stable_and_does_not_contain_the_secret() {
        let secret = vec![7u8; 32];
        let a = JwtKey::from_secret(secret.clone()).unwrap();
        let b = JwtKey::from_secret(secret).unwrap();
        assert_eq!(a.kid(), b.kid());
        assert_eq!(a.kid().len(), 22);
        assert_ne!(a.kid(), JwtKey::from_secret(vec![8u8; 32]).unwrap().kid());
    }

    #[test]
    fn debug_redacts_the_secret() {
        let key = JwtKey::from_secret(b"super-secret-value-that-is-long!".to_vec()).unwrap();
        let dbg = format!("{key:?}");
        assert!(dbg.contains("[REDACTED]"));
        assert!(!dbg.contains("super-secret"));
    }

    #[test]
    fn retired_key_is_accepted_until_its_deadline_only() {
        let active = JwtKey::from_secret(vec![1; 32]).unwrap();
        let old = JwtKey::from_secret(vec![2; 32]).unwrap();
        let old_kid = old.kid().to_owned();
        let set = KeySet::with_previous(
            active,
            vec![RetiredKey {
                key: old,
                accept_until: 100,
            }],
        );
        assert_eq!(set.select(Some(&old_kid), 100).unwrap().kid(), old_kid);
        assert!(matches!(
            set.select(Some(&old_kid), 101),
            Err(VerifyError::KeyRetired { .. })
        ));
        assert!(matches!(
            set.select(Some("nope"), 0),
            Err(VerifyError::UnknownKey { .. })
        ));
    }
}
