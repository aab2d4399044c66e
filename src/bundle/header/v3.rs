//! The format 3 header: the file key wrapped once per way in (a passphrase
//! stanza, a stanza per recipient), the signature of the appliance that
//! made the bundle (an origin stanza, not a way in), then a checksum and a
//! MAC over all of it. The payload is that of format 2. See
//! docs/FORMAT.md, "Format 3".
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
//!             3 origin:     signer's Ed25519 key (32), signature over the manifest (64)
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
//! lacks the file key. The origin stanza's signature is over the manifest
//! in the payload, so it is checked once that is read (`bundle::reader`):
//! someone who holds the file key can drop the stanza or sign with a key
//! of their own, never pass an altered manifest off as the signer's.

use std::io::{Read, Write};

use hmac::Mac;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{
    HeaderError, HeaderInfo, KDF_ARGON2ID, KdfParams, Lock, MAGIC, NONCE_PREFIX_SIZE, SALT_LEN,
    StreamWriter, Unlock, finish, hkdf, mac, random, read_full, unwrap_under_passphrase,
    wrap_under_passphrase,
};
use crate::bundle::origin::{self, Claim};
use crate::bundle::recipient::{self, Recipient, STANZA_BODY_LEN};

/// This format's version byte.
pub const VERSION: u8 = 3;
/// The bytes every header starts with, enough to tell the version and
/// length: magic, version and the header length.
pub const PREFIX_LEN: usize = 13;
/// The most stanzas a header holds, of every type.
pub const MAX_STANZAS: usize = 1024;
/// The most recipient stanzas a header holds: it always has room for
/// one stanza of another type. A signed bundle with a passphrase has room
/// for one fewer ([`MAX_STANZAS`] in all).
pub const MAX_RECIPIENTS: usize = MAX_STANZAS - 1;
/// The HKDF `info` of the header key.
pub const HEADER_KEY_INFO: &str = "tacctl-bundle/v3/header";
/// The HKDF `info` of the payload key.
pub const PAYLOAD_KEY_INFO: &str = "tacctl-bundle/v3/payload";
/// Stanza type of a passphrase.
pub const STANZA_PASSPHRASE: u8 = 1;
/// Stanza type of an X25519 recipient.
pub const STANZA_X25519: u8 = 2;
/// Stanza type of the origin signature.
pub const STANZA_ORIGIN: u8 = 3;

const FIXED_LEN: usize = 38;
const TAIL_LEN: usize = 64;
const WRAPPED_LEN: usize = 32 + 16;
/// A passphrase stanza's body: KDF id, three parameters, salt, wrapped key.
const PASSPHRASE_BODY_LEN: usize = 1 + 12 + SALT_LEN + WRAPPED_LEN;
/// The longest header: the fixed part, [`MAX_RECIPIENTS`] recipients and
/// one stanza of the longest other type (an origin stanza), checksum and
/// MAC. It was the fixed part, a passphrase stanza and 1,023 recipients
/// before origin stanzas (115,779 bytes), and still takes those.
pub const MAX_HEADER_LEN: usize = FIXED_LEN
    + MAX_RECIPIENTS * (1 + STANZA_BODY_LEN)
    + 1
    + max(PASSPHRASE_BODY_LEN, origin::STANZA_BODY_LEN)
    + TAIL_LEN;
/// The shortest header: the fixed part, one passphrase stanza (the
/// shortest way in), checksum and MAC.
const MIN_HEADER_LEN: usize = FIXED_LEN + 1 + min(PASSPHRASE_BODY_LEN, STANZA_BODY_LEN) + TAIL_LEN;

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

const fn min(a: usize, b: usize) -> usize {
    if a < b { a } else { b }
}

/// One way in.
enum Stanza {
    Passphrase {
        kdf: KdfParams,
        body: [u8; PASSPHRASE_BODY_LEN],
    },
    X25519 {
        body: [u8; STANZA_BODY_LEN],
    },
    /// Not a way in: who signed the bundle.
    Origin(Claim),
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

/// Writes a format 3 header for `lock`, with `origin` (`lock.signer`'s
/// signature over the manifest) in an origin stanza, and returns the
/// payload writer.
pub(super) fn seal<W: Write>(
    out: W,
    lock: &Lock<'_>,
    origin: Option<&Claim>,
) -> Result<StreamWriter<W>, HeaderError> {
    assert_eq!(
        origin.is_some(),
        lock.signer.is_some(),
        "a signed lock has its signature"
    );
    let ways = usize::from(lock.passphrase.is_some()) + lock.recipients.len();
    let count = ways + usize::from(origin.is_some());
    assert!(
        ways >= 1 && lock.recipients.len() <= MAX_RECIPIENTS && count <= MAX_STANZAS,
        "a bundle is locked by a passphrase or 1 to {MAX_RECIPIENTS} recipients, in at most {MAX_STANZAS} stanzas"
    );
    let salt: [u8; SALT_LEN] = random()?;
    let prefix: [u8; NONCE_PREFIX_SIZE] = random()?;
    let file_key = Zeroizing::new(random::<32>()?);
    let len = FIXED_LEN
        + lock.passphrase.map_or(0, |_| 1 + PASSPHRASE_BODY_LEN)
        + lock.recipients.len() * (1 + STANZA_BODY_LEN)
        + origin.map_or(0, |_| 1 + origin::STANZA_BODY_LEN)
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
    if let Some(claim) = origin {
        h.push(STANZA_ORIGIN);
        h.extend_from_slice(&claim.stanza_body());
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
        if !(MIN_HEADER_LEN..=MAX_HEADER_LEN).contains(&len) {
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
                STANZA_ORIGIN => {
                    let body: [u8; origin::STANZA_BODY_LEN] = take(origin::STANZA_BODY_LEN)
                        .ok_or(HeaderError::Damaged)?
                        .try_into()
                        .expect("the body's length");
                    // One signer per bundle, and a key that is one.
                    if stanzas.iter().any(|s| matches!(s, Stanza::Origin(_))) {
                        return Err(HeaderError::Damaged);
                    }
                    let claim = Claim::from_stanza_body(&body).ok_or(HeaderError::Damaged)?;
                    stanzas.push(Stanza::Origin(claim));
                    at += origin::STANZA_BODY_LEN;
                }
                other => return Err(HeaderError::UnknownStanza(other)),
            }
        }
        // The origin is not a way in: a header needs one besides.
        if at != end || stanzas.iter().all(|s| matches!(s, Stanza::Origin(_))) {
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
                _ => None,
            }),
            recipients: self.recipients(),
            origin: self.stanzas.iter().find_map(|s| match s {
                Stanza::Origin(claim) => Some(claim.clone()),
                _ => None,
            }),
        }
    }

    fn recipients(&self) -> Vec<Recipient> {
        self.stanzas
            .iter()
            .filter_map(|s| match s {
                Stanza::X25519 { body } => Some(recipient::stanza_recipient(body)),
                _ => None,
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
                        _ => None,
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

    /// The manifest the signed test bundles' headers sign.
    const MANIFEST: &[u8] = b"format_version: 1\n";

    fn pass() -> SecretString {
        SecretString::from("correct horse battery".to_owned())
    }

    fn sealed(lock: &Lock<'_>, data: &[u8]) -> Vec<u8> {
        let mut w = super::super::seal_with(Vec::new(), lock, MANIFEST).unwrap();
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
                signer: None,
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
                signer: None,
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
                signer: None,
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

    /// The stanzas of a header as written: type byte and body, in order.
    fn stanzas_of(b: &[u8]) -> Vec<Vec<u8>> {
        let len = u32::from_be_bytes(b[9..13].try_into().unwrap()) as usize;
        let mut at = FIXED_LEN;
        let mut out = Vec::new();
        while at < len - TAIL_LEN {
            let n = 1 + match b[at] {
                STANZA_PASSPHRASE => PASSPHRASE_BODY_LEN,
                STANZA_X25519 => STANZA_BODY_LEN,
                STANZA_ORIGIN => origin::STANZA_BODY_LEN,
                other => panic!("stanza type {other}"),
            };
            out.push(b[at..at + n].to_vec());
            at += n;
        }
        out
    }

    /// `b`'s header with `stanzas` instead of its own, length, count and
    /// checksum made to match, its MAC and payload kept: what someone
    /// without the file key can make of it.
    fn with_stanzas(b: &[u8], stanzas: &[Vec<u8>]) -> Vec<u8> {
        let len = u32::from_be_bytes(b[9..13].try_into().unwrap()) as usize;
        let mut c = b[..FIXED_LEN].to_vec();
        for s in stanzas {
            c.extend_from_slice(s);
        }
        let new_len = c.len() + TAIL_LEN;
        c[9..13].copy_from_slice(&(new_len as u32).to_be_bytes());
        c[36..38].copy_from_slice(&(stanzas.len() as u16).to_be_bytes());
        let sum = Sha256::digest(&c);
        c.extend_from_slice(&sum);
        c.extend_from_slice(&b[len - 32..]);
        c
    }

    #[test]
    fn a_signed_header_names_its_signer_and_the_signature_verifies_over_the_manifest() {
        let signer = Identity::from_secret(&[9; 32]).signer();
        let a = Identity::generate().unwrap();
        let p = pass();
        // A passphrase alone, signed: format 3, since format 2 has no room.
        let bundle = sealed(
            &Lock::passphrase(&p, KdfParams::TEST).signed_by(&signer),
            b"payload",
        );
        assert_eq!(bundle[8], VERSION);
        let info = read_info(&mut &bundle[..]).unwrap();
        let claim = info.origin.clone().expect("an origin stanza");
        assert_eq!(claim.signer, signer.key());
        assert_eq!(claim.verify(MANIFEST).unwrap(), signer.key());
        let (opened, mut r) = open(&bundle[..], &p).unwrap();
        assert_eq!(opened, info);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"payload");
        // Written last, after the ways in.
        let stanzas = stanzas_of(&bundle);
        assert_eq!(stanzas.len(), 2);
        assert_eq!(stanzas[1][0], STANZA_ORIGIN);
        assert_eq!(stanzas[1][1..], claim.stanza_body());
        // With recipients too; and unsigned, no origin (and format 2 for a
        // passphrase alone, as before).
        let recipients = [a.recipient()];
        let both = sealed(
            &Lock {
                passphrase: None,
                recipients: &recipients,
                signer: Some(&signer),
            },
            b"x",
        );
        assert_eq!(read(&both, &a).unwrap(), b"x");
        assert_eq!(
            read_info(&mut &both[..]).unwrap().origin.unwrap().signer,
            signer.key()
        );
        let unsigned = sealed(&Lock::passphrase(&p, KdfParams::TEST), b"x");
        assert_eq!(unsigned[8], super::super::VERSION);
        assert_eq!(read_info(&mut &unsigned[..]).unwrap().origin, None);
    }

    #[test]
    fn a_manifest_altered_after_signing_is_refused_by_the_signature_even_with_a_good_mac() {
        // Whoever holds the file key (here, the passphrase) can write a
        // whole new header, MAC included, and keep the signer's stanza;
        // the payload then holds their manifest. The header opens; the
        // signature, over the signer's manifest, does not verify over it.
        let signer = Identity::from_secret(&[9; 32]).signer();
        let p = pass();
        let bundle = sealed(
            &Lock::passphrase(&p, KdfParams::TEST).signed_by(&signer),
            b"payload",
        );
        let (info, _) = open(&bundle[..], &p).unwrap();
        let claim = info.origin.unwrap();
        let mut altered = MANIFEST.to_vec();
        altered[0] ^= 0x01;
        match claim.verify(&altered) {
            Err(origin::OriginError::Mismatch(k)) => assert_eq!(k, signer.key()),
            other => panic!("{other:?}"),
        }
        let err = claim.verify(&altered).unwrap_err().to_string();
        assert!(
            err.contains("does not match its manifest") && err.contains("do not import it"),
            "{err}"
        );
        // Their own key instead: it verifies, and names them, not the signer.
        let theirs = Identity::from_secret(&[10; 32]).signer();
        let resigned = sealed(
            &Lock::passphrase(&p, KdfParams::TEST).signed_by(&theirs),
            b"payload",
        );
        let (info, _) = open(&resigned[..], &p).unwrap();
        assert_eq!(info.origin.unwrap().verify(MANIFEST).unwrap(), theirs.key());
    }

    #[test]
    fn the_mac_covers_the_origin_stanza() {
        let signer = Identity::from_secret(&[9; 32]).signer();
        let p = pass();
        let bundle = sealed(
            &Lock::passphrase(&p, KdfParams::TEST).signed_by(&signer),
            b"x",
        );
        let stanzas = stanzas_of(&bundle);
        // A signature byte changed, checksum fixed: the header still reads,
        // the MAC refuses it.
        let mut changed = stanzas.clone();
        changed[1][1 + 32 + 5] ^= 0x01;
        let c = with_stanzas(&bundle, &changed);
        assert!(read_info(&mut &c[..]).unwrap().origin.is_some());
        assert!(matches!(read(&c, &p), Err(HeaderError::Damaged)));
        // The stanza dropped: the MAC refuses that too.
        let c = with_stanzas(&bundle, &stanzas[..1]);
        assert_eq!(read_info(&mut &c[..]).unwrap().origin, None);
        assert!(matches!(read(&c, &p), Err(HeaderError::Damaged)));
    }

    #[test]
    fn a_second_origin_stanza_or_an_origin_alone_is_refused_before_any_key() {
        let signer = Identity::from_secret(&[9; 32]).signer();
        let p = pass();
        let bundle = sealed(
            &Lock::passphrase(&p, KdfParams::TEST).signed_by(&signer),
            b"x",
        );
        let stanzas = stanzas_of(&bundle);
        // The same stanzas rebuilt read as before: only the change tells.
        let same = with_stanzas(&bundle, &stanzas);
        assert_eq!(same, bundle[..same.len()]);
        assert!(read_info(&mut &same[..]).is_ok());
        let other = Identity::from_secret(&[10; 32])
            .signer()
            .sign_manifest(MANIFEST);
        let mut second = vec![STANZA_ORIGIN];
        second.extend_from_slice(&other.stanza_body());
        for twice in [
            vec![stanzas[0].clone(), stanzas[1].clone(), stanzas[1].clone()],
            vec![stanzas[0].clone(), stanzas[1].clone(), second.clone()],
            vec![stanzas[1].clone(), stanzas[0].clone(), second],
        ] {
            let c = with_stanzas(&bundle, &twice);
            assert!(
                matches!(read_info(&mut &c[..]), Err(HeaderError::Damaged)),
                "two origin stanzas"
            );
        }
        // No way in, only a signature: refused, though the length, count
        // and checksum fit.
        let alone = with_stanzas(&bundle, &stanzas[1..]);
        assert!(matches!(
            read_info(&mut &alone[..]),
            Err(HeaderError::Damaged)
        ));
        // A key that is not one (small order) is refused from the header.
        let mut weak = stanzas.clone();
        weak[1][1..33].copy_from_slice(&{
            let mut b = [0u8; 32];
            b[0] = 1;
            b
        });
        let c = with_stanzas(&bundle, &weak);
        assert!(matches!(read_info(&mut &c[..]), Err(HeaderError::Damaged)));
    }

    #[test]
    fn the_limits_leave_room_for_the_signature_and_still_take_the_old_longest_header() {
        assert_eq!(MAX_HEADER_LEN, 115_798);
        assert_eq!(MIN_HEADER_LEN, 180);
        // Before origin stanzas: a passphrase and 1,023 recipients.
        let old = FIXED_LEN + 1 + PASSPHRASE_BODY_LEN + 1023 * (1 + STANZA_BODY_LEN) + TAIL_LEN;
        assert_eq!(old, 115_779);
        assert!(old <= MAX_HEADER_LEN);
        // 1,024 recipients never fit.
        const { assert!(FIXED_LEN + 1024 * (1 + STANZA_BODY_LEN) + TAIL_LEN > MAX_HEADER_LEN) };
    }

    #[test]
    fn a_hostile_length_or_count_is_refused_before_anything_is_allocated() {
        let a = Identity::generate().unwrap();
        let recipients = [a.recipient()];
        let bundle = sealed(
            &Lock {
                passphrase: None,
                recipients: &recipients,
                signer: None,
            },
            b"x",
        );
        let mut c = bundle.clone();
        c[9..13].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(read(&c, &a), Err(HeaderError::Damaged)));
        assert!(matches!(read(&bundle[..100], &a), Err(HeaderError::Short)));
    }
}
