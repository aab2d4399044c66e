//! Bundle recipients: X25519 public keys a bundle can be encrypted to
//! instead of, or beside, a passphrase, the identities (secret keys) that
//! open such a bundle, their text forms, and the wrapping of a bundle's
//! file key to one recipient. age's X25519 recipient stanza is the model:
//! an ephemeral key pair per recipient, the shared secret through
//! HKDF-SHA-256, the file key under ChaCha20-Poly1305 (docs/FORMAT.md,
//! "Recipient stanzas").
//!
//! Each appliance holds one identity, its member key, sealed under its node
//! key (`component::MemberKey`); an administrator can make more, such as a
//! recovery identity kept offline (`tacctl keygen`). An appliance's member
//! key also gives the key its bundles are signed with ([`Identity::signer`],
//! `bundle::origin`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use sha2::Sha256;
use std::io::{Read as _, Write as _};

use secrecy::SecretString;
use x25519_dalek::{PublicKey, StaticSecret};

use super::header::{self, HeaderError, KdfParams};
use super::origin::Signer;
use zeroize::Zeroizing;

/// How a recipient is written: this prefix, then the 32-byte X25519 public
/// key in unpadded base64url.
pub const RECIPIENT_PREFIX: &str = "tacctl-x25519:";
/// How an identity is written in an identity file: this prefix, then the
/// 32-byte X25519 secret key sealed under a passphrase, in unpadded
/// base64url (see [`Identity::to_file_text`]).
pub const IDENTITY_PREFIX: &str = "TACCTL-X25519-SECRET:";
/// The HKDF `info` of the key that wraps a file key to a recipient.
pub const WRAP_INFO: &str = "tacctl-bundle/v3/x25519";
/// Bytes of a recipient stanza's body: the recipient's public key, the
/// ephemeral public key, the wrapped file key and its tag.
pub const STANZA_BODY_LEN: usize = 32 + 32 + 32 + 16;

/// A recipient or identity that does not parse.
#[derive(Debug, thiserror::Error)]
pub enum RecipientError {
    /// Not `tacctl-x25519:` and 43 characters of base64url.
    #[error(
        "{0:?} is not a tacctl recipient: one is written `tacctl-x25519:` and 43 characters of base64url, as `tacctl status` (member key) and `tacctl keygen` print it"
    )]
    BadRecipient(String),
    /// The public key is of low order: no secret is shared with it.
    #[error(
        "the recipient {0} is not a usable X25519 public key (of low order: nothing encrypted to it would be secret)"
    )]
    LowOrder(String),
    /// The random generator failed.
    #[error("the operating system's random generator failed")]
    Random,
}

/// A public key a bundle can be encrypted to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Recipient([u8; 32]);

impl Recipient {
    /// Reads `tacctl-x25519:...`.
    pub fn parse(text: &str) -> Result<Self, RecipientError> {
        let bad = || RecipientError::BadRecipient(text.to_owned());
        let b64 = text.trim().strip_prefix(RECIPIENT_PREFIX).ok_or_else(bad)?;
        let bytes = URL_SAFE_NO_PAD.decode(b64).map_err(|_| bad())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
        Ok(Self(bytes))
    }

    /// The 32 bytes of the public key.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes of the public key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Display for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{RECIPIENT_PREFIX}{}", URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recipient({self})")
    }
}

impl std::str::FromStr for Recipient {
    type Err = RecipientError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A secret key that opens the bundles encrypted to its recipient. Wiped
/// when dropped; its Debug output names only the recipient.
pub struct Identity(StaticSecret);

impl Identity {
    /// A new identity from the operating system's random generator.
    pub fn generate() -> Result<Self, RecipientError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|_| RecipientError::Random)?;
        Ok(Self::from_secret(&bytes))
    }

    /// The identity of a 32-byte X25519 secret key.
    pub fn from_secret(bytes: &[u8; 32]) -> Self {
        Self(StaticSecret::from(*bytes))
    }

    /// The 32 bytes of the secret key, to be sealed or written by the caller.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// Its public key.
    pub fn recipient(&self) -> Recipient {
        Recipient(PublicKey::from(&self.0).to_bytes())
    }

    /// The Ed25519 key the bundles this identity's appliance exports are
    /// signed with, derived from the secret key (see [`super::origin`]).
    pub fn signer(&self) -> Signer {
        Signer::from_member_secret(&self.secret_bytes())
    }

    /// The text of an identity file (`tacctl keygen`): comments naming
    /// the recipient, then the secret key sealed under `passphrase` as a
    /// bundle whose payload is the 32 bytes (format 2, Argon2id at `kdf`),
    /// in unpadded base64url after [`IDENTITY_PREFIX`].
    pub fn to_file_text(
        &self,
        passphrase: &SecretString,
        kdf: KdfParams,
    ) -> Result<String, HeaderError> {
        let mut w = header::seal(Vec::new(), passphrase, kdf)?;
        w.write_all(self.secret_bytes().as_ref())?;
        let sealed = w.finish()?;
        Ok(format!(
            "# tacctl identity: opens the bundles encrypted to\n# {}\n# Sealed under a passphrase. Keep it offline.\n{IDENTITY_PREFIX}{}\n",
            self.recipient(),
            URL_SAFE_NO_PAD.encode(sealed)
        ))
    }

    /// Reads an identity file's text with its passphrase: the first line
    /// that starts with [`IDENTITY_PREFIX`]. `name` names the file in
    /// errors.
    pub fn from_file_text(
        text: &str,
        passphrase: &SecretString,
        name: &str,
    ) -> Result<Self, IdentityFileError> {
        let bad = || IdentityFileError::NotAnIdentity(name.to_owned());
        let line = text
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(IDENTITY_PREFIX))
            .ok_or_else(bad)?;
        let sealed = URL_SAFE_NO_PAD.decode(line).map_err(|_| bad())?;
        let (_, mut r) = header::open(&sealed[..], passphrase).map_err(|e| match e {
            HeaderError::WrongPassphrase => IdentityFileError::WrongPassphrase(name.to_owned()),
            _ => IdentityFileError::Damaged(name.to_owned()),
        })?;
        let mut secret = Zeroizing::new(Vec::with_capacity(32));
        r.read_to_end(&mut secret)
            .map_err(|_| IdentityFileError::Damaged(name.to_owned()))?;
        let bytes: &[u8; 32] = secret
            .as_slice()
            .try_into()
            .map_err(|_| IdentityFileError::Damaged(name.to_owned()))?;
        Ok(Self::from_secret(bytes))
    }
}

/// An identity file that does not open.
#[derive(Debug, thiserror::Error)]
pub enum IdentityFileError {
    /// No identity line.
    #[error(
        "{0} holds no tacctl identity (a line `TACCTL-X25519-SECRET:...`, as `tacctl keygen` writes it)"
    )]
    NotAnIdentity(String),
    /// The passphrase does not open it.
    #[error("wrong passphrase: the identity in {0} does not open with this passphrase")]
    WrongPassphrase(String),
    /// It was altered or cut.
    #[error("the identity in {0} is damaged; use another copy of it")]
    Damaged(String),
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity(for {}, [REDACTED])", self.recipient())
    }
}

/// The key that wraps a file key for `recipient`, from the exchange's
/// shared secret; `None` when the exchange was not contributory (a
/// low-order public key on either side).
fn wrap_key(
    shared: x25519_dalek::SharedSecret,
    ephemeral: &[u8; 32],
    recipient: &[u8; 32],
) -> Option<Zeroizing<[u8; 32]>> {
    if !shared.was_contributory() {
        return None;
    }
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral);
    salt[32..].copy_from_slice(recipient);
    let mut key = Zeroizing::new([0u8; 32]);
    hkdf::Hkdf::<Sha256>::new(Some(&salt), shared.as_bytes())
        .expand(WRAP_INFO.as_bytes(), key.as_mut())
        .expect("32 bytes is a valid HKDF-SHA-256 output length");
    Some(key)
}

/// A recipient stanza's body: `recipient || ephemeral public key ||
/// ChaCha20-Poly1305(wrap key, 0^12, file key, aad = recipient ||
/// ephemeral)`.
pub fn wrap(
    recipient: &Recipient,
    file_key: &[u8; 32],
) -> Result<[u8; STANZA_BODY_LEN], RecipientError> {
    let mut eph = Zeroizing::new([0u8; 32]);
    getrandom::fill(eph.as_mut()).map_err(|_| RecipientError::Random)?;
    let eph = StaticSecret::from(*eph);
    let eph_public = PublicKey::from(&eph).to_bytes();
    let shared = eph.diffie_hellman(&PublicKey::from(recipient.0));
    let key = wrap_key(shared, &eph_public, &recipient.0)
        .ok_or_else(|| RecipientError::LowOrder(recipient.to_string()))?;
    let mut body = [0u8; STANZA_BODY_LEN];
    body[..32].copy_from_slice(&recipient.0);
    body[32..64].copy_from_slice(&eph_public);
    let wrapped = ChaCha20Poly1305::new(&(*key).into())
        .encrypt(
            &[0u8; 12].into(),
            Payload {
                msg: file_key,
                aad: &body[..64],
            },
        )
        .expect("ChaCha20-Poly1305 encrypts 32 bytes");
    body[64..].copy_from_slice(&wrapped);
    Ok(body)
}

/// The recipient a stanza's body names.
pub fn stanza_recipient(body: &[u8; STANZA_BODY_LEN]) -> Recipient {
    Recipient(body[..32].try_into().expect("32 bytes"))
}

/// The file key in a stanza's body, when `identity` opens it.
pub fn unwrap(identity: &Identity, body: &[u8; STANZA_BODY_LEN]) -> Option<Zeroizing<[u8; 32]>> {
    if stanza_recipient(body) != identity.recipient() {
        return None;
    }
    let eph: [u8; 32] = body[32..64].try_into().expect("32 bytes");
    let shared = identity.0.diffie_hellman(&PublicKey::from(eph));
    let key = wrap_key(shared, &eph, &body[..32].try_into().expect("32 bytes"))?;
    let plain = ChaCha20Poly1305::new(&(*key).into())
        .decrypt(
            &[0u8; 12].into(),
            Payload {
                msg: &body[64..],
                aad: &body[..64],
            },
        )
        .ok()
        .map(Zeroizing::new)?;
    let file_key: [u8; 32] = plain.as_slice().try_into().ok()?;
    Some(Zeroizing::new(file_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_key_wrapped_to_a_recipient_opens_with_its_identity_only() {
        let alice = Identity::generate().unwrap();
        let bob = Identity::generate().unwrap();
        let key = [7u8; 32];
        let body = wrap(&alice.recipient(), &key).unwrap();
        assert_eq!(stanza_recipient(&body), alice.recipient());
        assert_eq!(*unwrap(&alice, &body).unwrap(), key);
        assert!(unwrap(&bob, &body).is_none());
        for i in 32..STANZA_BODY_LEN {
            let mut c = body;
            c[i] ^= 1;
            assert!(unwrap(&alice, &c).is_none(), "byte {i}");
        }
    }

    #[test]
    fn recipients_and_identities_round_trip_through_text() {
        let id = Identity::generate().unwrap();
        let r = id.recipient();
        let text = r.to_string();
        assert!(text.starts_with(RECIPIENT_PREFIX));
        assert_eq!(text.len(), RECIPIENT_PREFIX.len() + 43);
        assert_eq!(Recipient::parse(&text).unwrap(), r);
        assert!(Recipient::parse("tacctl-x25519:short").is_err());
        assert!(Recipient::parse(&text[1..]).is_err());
        let pass = SecretString::from("identity passphrase".to_owned());
        let file = id.to_file_text(&pass, KdfParams::TEST).unwrap();
        assert!(file.contains(&text));
        assert_eq!(
            Identity::from_file_text(&file, &pass, "f")
                .unwrap()
                .recipient(),
            r
        );
        let wrong = SecretString::from("wrong".to_owned());
        assert!(matches!(
            Identity::from_file_text(&file, &wrong, "f"),
            Err(IdentityFileError::WrongPassphrase(_))
        ));
        assert!(matches!(
            Identity::from_file_text(&text, &pass, "f"),
            Err(IdentityFileError::NotAnIdentity(_))
        ));
        let secret = URL_SAFE_NO_PAD.encode(id.secret_bytes().as_ref());
        assert!(!file.contains(&secret));
        assert!(!format!("{id:?}").contains(&secret));
    }

    #[test]
    fn an_identity_signs_with_a_key_of_its_own_that_its_recipient_does_not_reveal() {
        let id = Identity::from_secret(&[5; 32]);
        let signer = id.signer();
        // The same identity, the same signer key, each time it is derived.
        assert_eq!(Identity::from_secret(&[5; 32]).signer().key(), signer.key());
        assert_ne!(Identity::generate().unwrap().signer().key(), signer.key());
        assert_ne!(signer.key().as_bytes(), id.recipient().as_bytes());
        let claim = signer.sign_manifest(b"manifest");
        assert_eq!(claim.verify(b"manifest").unwrap(), signer.key());
        assert!(claim.verify(b"manifesT").is_err());
        let secret = URL_SAFE_NO_PAD.encode(id.secret_bytes().as_ref());
        assert!(!format!("{signer:?}").contains(&secret));
    }

    #[test]
    fn a_low_order_recipient_is_refused() {
        let zero = Recipient::from_bytes([0u8; 32]);
        assert!(matches!(
            wrap(&zero, &[1u8; 32]),
            Err(RecipientError::LowOrder(_))
        ));
    }
}
