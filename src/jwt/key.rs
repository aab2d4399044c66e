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

use super::{Algorithm, KeyError, VerifyError};

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

/// A key that signed tokens in the past and is still accepted until
/// `accept_until`, under the algorithm it signed with.
#[derive(Debug, Clone)]
pub struct RetiredKey {
    /// The key itself.
    pub key: JwtKey,
    /// Unix time after which tokens with this `kid` are refused.
    pub accept_until: u64,
    /// The algorithm its tokens carry, when it is not the one configured
    /// now: the algorithm changed since it signed. The same secret may be
    /// retired under an old algorithm while it signs under the new one.
    pub algorithm: Option<super::Algorithm>,
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

    /// The key that verifies a token naming `kid` and `alg` in its header,
    /// at time `now`, with the algorithm to check it under; `configured` is
    /// the algorithm in force, which the active key signs with.
    ///
    /// A token without `kid` is checked against the active key only: tokens
    /// from clients and appliances that predate key ids stay usable, and the
    /// algorithm pin still applies. A retired key verifies only tokens of
    /// the algorithm it signed with, until its deadline.
    pub fn select(
        &self,
        kid: Option<&str>,
        alg: &str,
        configured: Algorithm,
        now: u64,
    ) -> Result<(&JwtKey, Algorithm), VerifyError> {
        let wrong = |expected: Algorithm| VerifyError::WrongAlgorithm {
            got: alg.to_owned(),
            expected,
        };
        let Some(kid) = kid else {
            return if alg == configured.as_str() {
                Ok((&self.active, configured))
            } else {
                Err(wrong(configured))
            };
        };
        if kid == self.active.kid() && alg == configured.as_str() {
            return Ok((&self.active, configured));
        }
        let mut retired = None;
        let mut other_algorithm = None;
        for r in self.previous.iter().filter(|r| r.key.kid() == kid) {
            let signed = r.algorithm.unwrap_or(configured);
            if signed.as_str() != alg {
                other_algorithm = Some(signed);
            } else if now <= r.accept_until {
                return Ok((&r.key, signed));
            } else {
                retired = Some(r.accept_until);
            }
        }
        if let Some(since) = retired {
            return Err(VerifyError::KeyRetired {
                kid: kid.to_owned(),
                since,
            });
        }
        if kid == self.active.kid() {
            return Err(wrong(configured));
        }
        match other_algorithm {
            Some(signed) => Err(wrong(signed)),
            // The algorithm is told first, as it always was: a key this
            // node does not have, under an algorithm it does not use.
            None if alg != configured.as_str() => Err(wrong(configured)),
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
        let hs = Algorithm::HS256;
        let set = KeySet::with_previous(
            active,
            vec![RetiredKey {
                key: old,
                accept_until: 100,
                algorithm: None,
            }],
        );
        assert_eq!(
            set.select(Some(&old_kid), "HS256", hs, 100)
                .unwrap()
                .0
                .kid(),
            old_kid
        );
        assert!(matches!(
            set.select(Some(&old_kid), "HS256", hs, 101),
            Err(VerifyError::KeyRetired { .. })
        ));
        assert!(matches!(
            set.select(Some("nope"), "HS256", hs, 0),
            Err(VerifyError::UnknownKey { .. })
        ));
    }

    #[test]
    fn a_retired_key_verifies_only_the_algorithm_it_signed_with() {
        let key = JwtKey::from_secret(vec![1; 64]).unwrap();
        let kid = key.kid().to_owned();
        // The same secret, now HS512, retired under HS256 until 100.
        let set = KeySet::with_previous(
            key.clone(),
            vec![RetiredKey {
                key,
                accept_until: 100,
                algorithm: Some(Algorithm::HS256),
            }],
        );
        let now = Algorithm::HS512;
        assert_eq!(
            set.select(Some(&kid), "HS512", now, 50).unwrap().1,
            Algorithm::HS512
        );
        assert_eq!(
            set.select(Some(&kid), "HS256", now, 100).unwrap().1,
            Algorithm::HS256
        );
        assert!(matches!(
            set.select(Some(&kid), "HS256", now, 101),
            Err(VerifyError::KeyRetired { .. })
        ));
        assert!(matches!(
            set.select(Some(&kid), "HS384", now, 50),
            Err(VerifyError::WrongAlgorithm { .. })
        ));
        assert!(matches!(
            set.select(None, "HS256", now, 50),
            Err(VerifyError::WrongAlgorithm { .. })
        ));
    }
}
