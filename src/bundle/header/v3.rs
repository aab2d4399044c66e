//! The format 3 header: the file key wrapped once per way in (a passphrase
//! stanza, a stanza per recipient), then a checksum and a MAC over all of
//! it. The payload is that of format 2. See docs/FORMAT.md, "Format 3".
//!
//! ```text
//! 0..8      magic
//! 8         version 3
//! 9..13     header length L, the whole header (u32)
//! 13..29    salt (HKDF salt of the header and payload keys)
//! 29..36    STREAM nonce prefix
//! 36..38    stanza count N, 1 to MAX_STANZAS (u16)
//! 38..L-64  N stanzas: a type byte, then its body
//!             1 passphrase: KDF id, m, t, p (u32 each), salt (16), wrapped file key (48)
//!             2 X25519:     recipient (32), ephemeral public key (32), wrapped file key (48)
//! L-64..L-32 checksum = SHA-256(header[0..L-64])
//! L-32..L    mac      = HMAC-SHA-256(header key, header[0..L-32])
//!
//! header key  = HKDF-SHA-256(file key, salt, "tacctl-bundle/v3/header")
//! payload key = HKDF-SHA-256(file key, salt, "tacctl-bundle/v3/payload")
//! ```
//!
//! Each stanza's wrapped key has as associated data its body's bytes
//! before the wrapped key, so that no field of it can be changed without
//! the key failing to open; the MAC then authenticates the whole header,
//! so that a recipient cannot be added, dropped or swapped by someone who
//! lacks the file key.

use std::io::{Read, Write};

use hmac::Mac;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{
    HeaderError, HeaderInfo, KDF_ARGON2ID, KdfParams, Lock, MAGIC, NONCE_PREFIX_SIZE, SALT_LEN,
    StreamWriter, Unlock, finish, hkdf, mac, random, read_full, unwrap_under_passphrase,
    wrap_under_passphrase,
};
use crate::bundle::recipient::{self, Recipient, STANZA_BODY_LEN};

/// This format's version byte.
pub const VERSION: u8 = 3;
/// The bytes every header starts with, enough to tell the version and
/// length: magic, version and the header length.
pub const PREFIX_LEN: usize = 13;
/// The most stanzas a header holds: a passphrase and 1,023 recipients.
pub const MAX_STANZAS: usize = 1024;
/// The HKDF `info` of the header key.
pub const HEADER_KEY_INFO: &str = "tacctl-bundle/v3/header";
/// The HKDF `info` of the payload key.
pub const PAYLOAD_KEY_INFO: &str = "tacctl-bundle/v3/payload";
/// Stanza type of a passphrase.
pub const STANZA_PASSPHRASE: u8 = 1;
/// Stanza type of an X25519 recipient.
pub const STANZA_X25519: u8 = 2;

const FIXED_LEN: usize = 38;
const TAIL_LEN: usize = 64;
const WRAPPED_LEN: usize = 32 + 16;
/// A passphrase stanza's body: KDF id, three parameters, salt, wrapped key.
const PASSPHRASE_BODY_LEN: usize = 1 + 12 + SALT_LEN + WRAPPED_LEN;
/// The longest header: the fixed part, a passphrase stanza, the rest
/// recipients, checksum and MAC.
pub const MAX_HEADER_LEN: usize =
    FIXED_LEN + (1 + PASSPHRASE_BODY_LEN) + (MAX_STANZAS - 1) * (1 + STANZA_BODY_LEN) + TAIL_LEN;

/// One way in.
enum Stanza {
    Passphrase {
        kdf: KdfParams,
        body: [u8; PASSPHRASE_BODY_LEN],
    },
    X25519 {
        body: [u8; STANZA_BODY_LEN],
    },
}

/// A format 3 header as read, checksum checked, not yet opened.
pub(super) struct Header {
    bytes: Vec<u8>,
    salt: [u8; SALT_LEN],
    prefix: [u8; NONCE_PREFIX_SIZE],
    stanzas: Vec<Stanza>,
}

fn passphrase_aad(body: &[u8]) -> &[u8] {
    &body[..PASSPHRASE_BODY_LEN - WRAPPED_LEN]
}

/// Writes a format 3 header for `lock` and returns the payload writer.
pub(super) fn seal<W: Write>(out: W, lock: &Lock<'_>) -> Result<StreamWriter<W>, HeaderError> {
    let count = usize::from(lock.passphrase.is_some()) + lock.recipients.len();
    assert!(
        (1..=MAX_STANZAS).contains(&count),
        "a bundle is locked by a passphrase or 1 to {} recipients",
        MAX_STANZAS - 1
    );
    let salt: [u8; SALT_LEN] = random()?;
    let prefix: [u8; NONCE_PREFIX_SIZE] = random()?;
    let file_key = Zeroizing::new(random::<32>()?);
    let len = FIXED_LEN
        + lock.passphrase.map_or(0, |_| 1 + PASSPHRASE_BODY_LEN)
        + lock.recipients.len() * (1 + STANZA_BODY_LEN)
        + TAIL_LEN;
    let mut h = Vec::with_capacity(len);
    h.extend_from_slice(MAGIC);
    h.push(VERSION);
    h.extend_from_slice(&(len as u32).to_be_bytes());
    h.extend_from_slice(&salt);
    h.extend_from_slice(&prefix);
    h.extend_from_slice(&(count as u16).to_be_bytes());
    if let Some((passphrase, kdf)) = lock.passphrase {
        let kdf_salt: [u8; SALT_LEN] = random()?;
        let mut body = Vec::with_capacity(PASSPHRASE_BODY_LEN);
        body.push(KDF_ARGON2ID);
        for v in [kdf.memory_kib, kdf.iterations, kdf.lanes] {
            body.extend_from_slice(&v.to_be_bytes());
        }
        body.extend_from_slice(&kdf_salt);
        let wrapped = wrap_under_passphrase(passphrase, kdf, &kdf_salt, &file_key, &body)?;
        body.extend_from_slice(&wrapped);
        h.push(STANZA_PASSPHRASE);
        h.extend_from_slice(&body);
    }
    for r in lock.recipients {
        h.push(STANZA_X25519);
        h.extend_from_slice(&recipient::wrap(r, &file_key)?);
    }
    debug_assert_eq!(h.len() + TAIL_LEN, len);
    finish(
        out,
        h,
        &file_key,
        &salt,
        &prefix,
        HEADER_KEY_INFO,
        PAYLOAD_KEY_INFO,
    )
}

impl Header {
    /// Reads the rest of a header whose first [`PREFIX_LEN`] bytes are
    /// `prefix`: its length is checked before anything is allocated, its
    /// checksum before any stanza is believed.
    pub(super) fn read<R: Read>(
        prefix: &[u8; PREFIX_LEN],
        input: &mut R,
    ) -> Result<Self, HeaderError> {
        let len = u32::from_be_bytes(prefix[9..13].try_into().expect("four bytes")) as usize;
        if !(FIXED_LEN + 1 + PASSPHRASE_BODY_LEN.min(STANZA_BODY_LEN) + TAIL_LEN..=MAX_HEADER_LEN)
            .contains(&len)
        {
            return Err(HeaderError::Damaged);
        }
        let mut bytes = vec![0u8; len];
        bytes[..PREFIX_LEN].copy_from_slice(prefix);
        if PREFIX_LEN + read_full(input, &mut bytes[PREFIX_LEN..])? < len {
            return Err(HeaderError::Short);
        }
        let (body, tail) = bytes.split_at(len - TAIL_LEN);
        if tail[..32] != Sha256::digest(body)[..] {
            return Err(HeaderError::Damaged);
        }
        let salt = bytes[13..29].try_into().expect("16 bytes");
        let nonce_prefix = bytes[29..36].try_into().expect("7 bytes");
        let count = usize::from(u16::from_be_bytes([bytes[36], bytes[37]]));
        if !(1..=MAX_STANZAS).contains(&count) {
            return Err(HeaderError::Damaged);
        }
        let mut stanzas = Vec::with_capacity(count);
        let mut at = FIXED_LEN;
        let end = len - TAIL_LEN;
        for _ in 0..count {
            let kind = *bytes
                .get(at)
                .filter(|_| at < end)
                .ok_or(HeaderError::Damaged)?;
            at += 1;
            let take = |n: usize| bytes.get(at..at + n).filter(|_| at + n <= end);
            match kind {
                STANZA_PASSPHRASE => {
                    let body: [u8; PASSPHRASE_BODY_LEN] = take(PASSPHRASE_BODY_LEN)
                        .ok_or(HeaderError::Damaged)?
                        .try_into()
                        .expect("the body's length");
                    if body[0] != KDF_ARGON2ID {
                        return Err(HeaderError::UnknownKdf(body[0]));
                    }
                    let word =
                        |i: usize| u32::from_be_bytes(body[i..i + 4].try_into().expect("4 bytes"));
                    let kdf = KdfParams {
                        memory_kib: word(1),
                        iterations: word(5),
                        lanes: word(9),
                    };
                    kdf.check()?;
                    if stanzas
                        .iter()
                        .any(|s| matches!(s, Stanza::Passphrase { .. }))
                    {
                        return Err(HeaderError::Damaged);
                    }
                    stanzas.push(Stanza::Passphrase { kdf, body });
                    at += PASSPHRASE_BODY_LEN;
                }
                STANZA_X25519 => {
                    let body: [u8; STANZA_BODY_LEN] = take(STANZA_BODY_LEN)
                        .ok_or(HeaderError::Damaged)?
                        .try_into()
                        .expect("the body's length");
                    let r = recipient::stanza_recipient(&body);
                    if stanzas.iter().any(
                        |s| matches!(s, Stanza::X25519 { body } if recipient::stanza_recipient(body) == r),
                    ) {
                        return Err(HeaderError::Damaged);
                    }
                    stanzas.push(Stanza::X25519 { body });
                    at += STANZA_BODY_LEN;
                }
                other => return Err(HeaderError::UnknownStanza(other)),
            }
        }
        if at != end {
            return Err(HeaderError::Damaged);
        }
        Ok(Self {
            bytes,
            salt,
            prefix: nonce_prefix,
            stanzas,
        })
    }

    /// What it says.
    pub(super) fn info(&self) -> HeaderInfo {
        HeaderInfo {
            version: VERSION,
            kdf: self.stanzas.iter().find_map(|s| match s {
                Stanza::Passphrase { kdf, .. } => Some(*kdf),
                Stanza::X25519 { .. } => None,
            }),
            recipients: self.recipients(),
        }
    }

    fn recipients(&self) -> Vec<Recipient> {
        self.stanzas
            .iter()
            .filter_map(|s| match s {
                Stanza::X25519 { body } => Some(recipient::stanza_recipient(body)),
                Stanza::Passphrase { .. } => None,
            })
            .collect()
    }

    /// Opens it with `unlock`: the file key from the matching stanza, then
    /// the MAC; returns the payload key and nonce prefix.
    pub(super) fn open(
        &self,
        unlock: Unlock<'_>,
    ) -> Result<(Zeroizing<[u8; 32]>, [u8; NONCE_PREFIX_SIZE]), HeaderError> {
        let file_key = match unlock {
            Unlock::Passphrase(p) => {
                let (kdf, body) = self
                    .stanzas
                    .iter()
                    .find_map(|s| match s {
                        Stanza::Passphrase { kdf, body } => Some((kdf, body)),
                        Stanza::X25519 { .. } => None,
                    })
                    .ok_or_else(|| HeaderError::NoPassphrase(self.recipients()))?;
                unwrap_under_passphrase(
                    p,
                    *kdf,
                    &body[13..13 + SALT_LEN],
                    &body[PASSPHRASE_BODY_LEN - WRAPPED_LEN..],
                    passphrase_aad(body),
                )?
            }
            Unlock::Identity(identity) => {
                let mine = identity.recipient();
                let body = self
                    .stanzas
                    .iter()
                    .find_map(|s| match s {
                        Stanza::X25519 { body } if recipient::stanza_recipient(body) == mine => {
                            Some(body)
                        }
                        _ => None,
                    })
                    .ok_or_else(|| HeaderError::NotARecipient {
                        identity: mine,
                        recipients: self.recipients(),
                    })?;
                // The stanza names this identity, so a key that does not
                // open is an altered stanza, not someone else's.
                recipient::unwrap(identity, body).ok_or(HeaderError::Damaged)?
            }
        };
        let len = self.bytes.len();
        let header_key = hkdf(&file_key, &self.salt, HEADER_KEY_INFO);
        mac(&header_key, &self.bytes[..len - 32])
            .verify_slice(&self.bytes[len - 32..])
            .map_err(|_| HeaderError::Damaged)?;
        Ok((hkdf(&file_key, &self.salt, PAYLOAD_KEY_INFO), self.prefix))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use secrecy::SecretString;

    use super::super::{open, read_info};
    use super::*;
    use crate::bundle::recipient::Identity;

    fn pass() -> SecretString {
        SecretString::from("correct horse battery".to_owned())
    }

    fn sealed(lock: &Lock<'_>, data: &[u8]) -> Vec<u8> {
        let mut w = super::super::seal_with(Vec::new(), lock).unwrap();
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    fn read<'a>(b: &[u8], unlock: impl Into<Unlock<'a>>) -> Result<Vec<u8>, HeaderError> {
        let (_, mut r) = open(b, unlock)?;
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn a_bundle_opens_with_its_passphrase_or_any_of_its_recipients() {
        let (a, b, c) = (
            Identity::generate().unwrap(),
            Identity::generate().unwrap(),
            Identity::generate().unwrap(),
        );
        let p = pass();
        let recipients = [a.recipient(), b.recipient()];
        let bundle = sealed(
            &Lock {
                passphrase: Some((&p, KdfParams::TEST)),
                recipients: &recipients,
            },
            b"payload",
        );
        assert_eq!(bundle[8], VERSION);
        assert_eq!(read(&bundle, &p).unwrap(), b"payload");
        assert_eq!(read(&bundle, &a).unwrap(), b"payload");
        assert_eq!(read(&bundle, &b).unwrap(), b"payload");
        let info = read_info(&mut &bundle[..]).unwrap();
        assert_eq!(info.recipients, recipients);
        assert_eq!(info.kdf, Some(KdfParams::TEST));
        match read(&bundle, &c) {
            Err(HeaderError::NotARecipient {
                identity,
                recipients: r,
            }) => {
                assert_eq!(identity, c.recipient());
                assert_eq!(r, recipients);
            }
            other => panic!("{other:?}"),
        }
        let wrong = SecretString::from("wrong".to_owned());
        assert!(matches!(
            read(&bundle, &wrong),
            Err(HeaderError::WrongPassphrase)
        ));
    }

    #[test]
    fn a_bundle_of_recipients_only_names_them_to_a_passphrase() {
        let a = Identity::generate().unwrap();
        let recipients = [a.recipient()];
        let bundle = sealed(
            &Lock {
                passphrase: None,
                recipients: &recipients,
            },
            b"x",
        );
        let err = read(&bundle, &pass()).unwrap_err();
        assert!(matches!(err, HeaderError::NoPassphrase(_)), "{err}");
        assert!(
            err.to_string().contains(&a.recipient().to_string()),
            "{err}"
        );
        assert_eq!(read_info(&mut &bundle[..]).unwrap().kdf, None);
    }

    #[test]
    fn an_identity_is_refused_by_a_passphrase_only_bundle() {
        let p = pass();
        let bundle = sealed(&Lock::passphrase(&p, KdfParams::TEST), b"x");
        assert_eq!(bundle[8], super::super::VERSION);
        let a = Identity::generate().unwrap();
        let err = read(&bundle, &a).unwrap_err();
        assert!(
            err.to_string().contains("opens with a passphrase only"),
            "{err}"
        );
    }

    #[test]
    fn any_header_byte_flip_is_refused_and_no_stanza_can_be_dropped() {
        let a = Identity::generate().unwrap();
        let b = Identity::generate().unwrap();
        let p = pass();
        let recipients = [a.recipient(), b.recipient()];
        let bundle = sealed(
            &Lock {
                passphrase: Some((&p, KdfParams::TEST)),
                recipients: &recipients,
            },
            b"x",
        );
        let len = u32::from_be_bytes(bundle[9..13].try_into().unwrap()) as usize;
        for i in 0..len {
            let mut c = bundle.clone();
            c[i] ^= 0x01;
            for err in [read(&c, &a).unwrap_err(), read(&c, &p).unwrap_err()] {
                assert!(
                    matches!(
                        err,
                        HeaderError::Damaged
                            | HeaderError::NotABundle
                            | HeaderError::TooNew(_)
                            | HeaderError::UnknownKdf(_)
                            | HeaderError::UnknownStanza(_)
                            | HeaderError::Short
                            | HeaderError::KdfTooCostly { .. }
                    ),
                    "byte {i}: {err}"
                );
            }
        }
        // b's stanza dropped, the length, count and checksum made to match:
        // only the MAC, which needs the file key, tells.
        let stanza = 1 + STANZA_BODY_LEN;
        let b_at = FIXED_LEN + 1 + PASSPHRASE_BODY_LEN + stanza;
        let mut c = bundle[..b_at].to_vec();
        c.extend_from_slice(&bundle[b_at + stanza..len - TAIL_LEN]);
        let new_len = c.len() + TAIL_LEN;
        c[9..13].copy_from_slice(&(new_len as u32).to_be_bytes());
        c[36..38].copy_from_slice(&2u16.to_be_bytes());
        let sum = Sha256::digest(&c);
        c.extend_from_slice(&sum);
        c.extend_from_slice(&bundle[len - 32..]);
        c.extend_from_slice(&bundle[len..]);
        assert!(matches!(read(&c, &a), Err(HeaderError::Damaged)));
    }

    #[test]
    fn a_hostile_length_or_count_is_refused_before_anything_is_allocated() {
        let a = Identity::generate().unwrap();
        let recipients = [a.recipient()];
        let bundle = sealed(
            &Lock {
                passphrase: None,
                recipients: &recipients,
            },
            b"x",
        );
        let mut c = bundle.clone();
        c[9..13].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(read(&c, &a), Err(HeaderError::Damaged)));
        assert!(matches!(read(&bundle[..100], &a), Err(HeaderError::Short)));
    }
}
