//! Origin proof: which appliance made a bundle. Every appliance signs the
//! bundles it exports with an Ed25519 key (RFC 8032) derived from its
//! member key, so an importer can say who signed a bundle and, by the
//! signer keys it has pinned, whether that is a member it trusts.
//!
//! ```text
//! seed      = HKDF-SHA-256(ikm = member key's X25519 secret, salt = none,
//!                          info = "tacctl-member/v1/ed25519"), 32 bytes
//! signer    = Ed25519 public key of seed
//! message   = "tacctl-bundle/v3/origin" || SHA-256(manifest.yaml as archived)
//! signature = Ed25519(seed, message)
//! ```
//!
//! The signature covers the manifest, which lists every file of the bundle
//! with its size and SHA-256, so it vouches for the whole content. It goes
//! into the format 3 header as an origin stanza ([`Claim`]); the header's
//! MAC covers the stanza, the reader verifies the signature against the
//! manifest it reads from the archive (docs/FORMAT.md, "Origin stanza").
//! The derivation lets the member key file stay as it is: the signing key
//! is made from the member key each time it is needed, never stored.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// How a signer key is written: this prefix, then the 32-byte Ed25519
/// public key in unpadded base64url.
pub const SIGNER_PREFIX: &str = "tacctl-ed25519:";
/// The HKDF `info` of the signing key derived from a member key.
pub const SIGNING_KEY_INFO: &str = "tacctl-member/v1/ed25519";
/// What the signed message starts with, before the manifest's SHA-256.
pub const SIGNED_LABEL: &[u8] = b"tacctl-bundle/v3/origin";
/// Bytes of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Bytes of an origin stanza's body: the signer key, then the signature.
pub const STANZA_BODY_LEN: usize = 32 + SIGNATURE_LEN;

/// A signer key that does not parse, or a signature that does not verify.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    /// Not `tacctl-ed25519:` and 43 characters of base64url naming a
    /// usable Ed25519 public key.
    #[error(
        "{0:?} is not a tacctl signer key: one is written `tacctl-ed25519:` and 43 characters of base64url, as `tacctl status` prints it"
    )]
    BadSignerKey(String),
    /// The signature in the header is not the signer's over this
    /// manifest: someone who could open the bundle changed it after it
    /// was signed, or put another signer's key in front of it.
    #[error(
        "the bundle's origin signature (by {0}) does not match its manifest: it was altered after it was signed; do not import it, and get the bundle again from its source. Nothing was changed"
    )]
    Mismatch(SignerKey),
}

/// The public half of a signing key: who signed a bundle.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SignerKey([u8; 32]);

impl SignerKey {
    /// Reads `tacctl-ed25519:...`.
    pub fn parse(text: &str) -> Result<Self, OriginError> {
        let bad = || OriginError::BadSignerKey(text.to_owned());
        let b64 = text.trim().strip_prefix(SIGNER_PREFIX).ok_or_else(bad)?;
        let bytes = URL_SAFE_NO_PAD.decode(b64).map_err(|_| bad())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
        Self::from_bytes(bytes).ok_or_else(bad)
    }

    /// The key of 32 bytes, when they are a usable Ed25519 public key: a
    /// point on the curve, not of small order.
    pub fn from_bytes(bytes: [u8; 32]) -> Option<Self> {
        let key = VerifyingKey::from_bytes(&bytes).ok()?;
        (!key.is_weak()).then_some(Self(bytes))
    }

    /// The 32 bytes of the public key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey::from_bytes(&self.0).expect("a SignerKey is checked when it is made")
    }
}

impl std::fmt::Display for SignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{SIGNER_PREFIX}{}", URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl std::fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignerKey({self})")
    }
}

impl std::str::FromStr for SignerKey {
    type Err = OriginError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The message a bundle's origin signature is over: [`SIGNED_LABEL`] and
/// the SHA-256 of the manifest's bytes.
fn message(manifest: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNED_LABEL.len() + 32);
    m.extend_from_slice(SIGNED_LABEL);
    m.extend_from_slice(&Sha256::digest(manifest));
    m
}

/// A signing key, derived from a member key's secret. Wiped when dropped;
/// its Debug output names only its public key.
pub struct Signer(SigningKey);

impl Signer {
    /// The signing key of the member key whose X25519 secret is `secret`:
    /// HKDF-SHA-256 of it with [`SIGNING_KEY_INFO`] is the Ed25519 seed.
    pub fn from_member_secret(secret: &[u8; 32]) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        hkdf::Hkdf::<Sha256>::new(None, secret)
            .expand(SIGNING_KEY_INFO.as_bytes(), seed.as_mut())
            .expect("32 bytes is a valid HKDF-SHA-256 output length");
        Self(SigningKey::from_bytes(&seed))
    }

    /// Its public key.
    pub fn key(&self) -> SignerKey {
        SignerKey(self.0.verifying_key().to_bytes())
    }

    /// The origin claim of a bundle whose manifest.yaml is `manifest`.
    pub fn sign_manifest(&self, manifest: &[u8]) -> Claim {
        use ed25519_dalek::Signer as _;
        Claim {
            signer: self.key(),
            signature: self.0.sign(&message(manifest)).to_bytes(),
        }
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer(for {}, [REDACTED])", self.key())
    }
}

/// What a bundle's header says of its origin: a signer and its signature
/// over the manifest, not verified until [`Claim::verify`] has checked it
/// against the manifest the bundle holds.
#[derive(Clone, PartialEq, Eq)]
pub struct Claim {
    /// Who it says signed.
    pub signer: SignerKey,
    /// The signature, `R || S` (RFC 8032 section 5.1.6).
    pub signature: [u8; SIGNATURE_LEN],
}

impl Claim {
    /// An origin stanza's body: the signer key, then the signature.
    pub fn stanza_body(&self) -> [u8; STANZA_BODY_LEN] {
        let mut body = [0u8; STANZA_BODY_LEN];
        body[..32].copy_from_slice(&self.signer.0);
        body[32..].copy_from_slice(&self.signature);
        body
    }

    /// The claim in an origin stanza's body; `None` when its key is not a
    /// usable Ed25519 public key.
    pub fn from_stanza_body(body: &[u8; STANZA_BODY_LEN]) -> Option<Self> {
        let signer = SignerKey::from_bytes(body[..32].try_into().expect("32 bytes"))?;
        Some(Self {
            signer,
            signature: body[32..].try_into().expect("64 bytes"),
        })
    }

    /// Checks the signature over `manifest`, the manifest.yaml bytes as the
    /// bundle's archive holds them, with RFC 8032's checks and the
    /// stricter ones of `verify_strict` (no small-order key, no malleable
    /// signature); the signer, when it holds.
    pub fn verify(&self, manifest: &[u8]) -> Result<SignerKey, OriginError> {
        let signature = Signature::from_bytes(&self.signature);
        self.signer
            .verifying_key()
            .verify_strict(&message(manifest), &signature)
            .map(|()| self.signer)
            .map_err(|_| OriginError::Mismatch(self.signer))
    }
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Claim(by {}, unverified)", self.signer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: [u8; 32] = [0x42; 32];

    #[test]
    fn a_signature_verifies_over_its_manifest_only() {
        let signer = Signer::from_member_secret(&SECRET);
        let manifest = b"format_version: 1\nsource: {name: esa1}\n";
        let claim = signer.sign_manifest(manifest);
        assert_eq!(claim.signer, signer.key());
        assert_eq!(claim.verify(manifest).unwrap(), signer.key());
        let mut altered = manifest.to_vec();
        altered[0] ^= 1;
        assert!(matches!(
            claim.verify(&altered),
            Err(OriginError::Mismatch(k)) if k == signer.key()
        ));
        for i in 0..SIGNATURE_LEN {
            let mut c = claim.clone();
            c.signature[i] ^= 1;
            assert!(c.verify(manifest).is_err(), "signature byte {i}");
        }
        // Another key in front of the same signature does not verify.
        let other = Signer::from_member_secret(&[0x43; 32]);
        let swapped = Claim {
            signer: other.key(),
            signature: claim.signature,
        };
        assert!(swapped.verify(manifest).is_err());
    }

    #[test]
    fn the_key_is_derived_from_the_member_key_and_stable() {
        let a = Signer::from_member_secret(&SECRET);
        assert_eq!(a.key(), Signer::from_member_secret(&SECRET).key());
        assert_ne!(a.key(), Signer::from_member_secret(&[0x43; 32]).key());
        // The seed is HKDF-SHA-256 of the secret with the documented info.
        let mut seed = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, &SECRET)
            .expand(b"tacctl-member/v1/ed25519", &mut seed)
            .unwrap();
        assert_eq!(
            a.key().as_bytes(),
            &SigningKey::from_bytes(&seed).verifying_key().to_bytes()
        );
        // Ed25519 signatures are deterministic: the same manifest, the
        // same signature.
        assert_eq!(a.sign_manifest(b"m"), a.sign_manifest(b"m"));
        let debug = format!("{a:?}");
        assert!(debug.contains("REDACTED") && debug.contains(&a.key().to_string()));
        assert!(!debug.contains(&URL_SAFE_NO_PAD.encode(seed)));
    }

    #[test]
    fn signer_keys_round_trip_through_text_and_bad_ones_are_refused() {
        let key = Signer::from_member_secret(&SECRET).key();
        let text = key.to_string();
        assert!(text.starts_with(SIGNER_PREFIX));
        assert_eq!(text.len(), SIGNER_PREFIX.len() + 43);
        assert_eq!(SignerKey::parse(&text).unwrap(), key);
        assert_eq!(text.parse::<SignerKey>().unwrap(), key);
        for bad in [
            "tacctl-ed25519:short".to_owned(),
            text[1..].to_owned(),
            text.replace("ed25519", "x25519"),
            // The identity point, of small order.
            format!(
                "{SIGNER_PREFIX}{}",
                URL_SAFE_NO_PAD.encode({
                    let mut b = [0u8; 32];
                    b[0] = 1;
                    b
                })
            ),
        ] {
            assert!(SignerKey::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_stanza_body_round_trips_and_a_weak_key_is_refused() {
        let claim = Signer::from_member_secret(&SECRET).sign_manifest(b"m");
        let body = claim.stanza_body();
        assert_eq!(Claim::from_stanza_body(&body).unwrap(), claim);
        let mut weak = body;
        weak[..32].copy_from_slice(&{
            let mut b = [0u8; 32];
            b[0] = 1;
            b
        });
        assert!(Claim::from_stanza_body(&weak).is_none());
    }
}
