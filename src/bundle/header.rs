//! The bundle header: magic and version, the Argon2id parameters and salt,
//! the file key wrapped under the passphrase, the STREAM nonce prefix, a
//! checksum and a MAC. See docs/FORMAT.md for the byte layout. This file
//! holds the header of formats 1 and 2, written for a passphrase alone, and
//! what every format shares; [`v3`] the header with recipient stanzas and
//! the origin stanza, which carries the signature of the appliance that
//! made the bundle (`bundle::origin`).
//!
//! Key schedule (all keys 32 bytes):
//!
//! ```text
//! KEK         = Argon2id(passphrase, salt, m, t, p)
//! wrapped     = ChaCha20-Poly1305(KEK, nonce = 0^12, file_key, aad = header[0..45])
//! header_key  = HKDF-SHA-256(ikm = file_key, salt = salt, info = "tacctl-bundle/v1/header")
//! payload_key = HKDF-SHA-256(ikm = file_key, salt = salt, info = "tacctl-bundle/v1/payload")
//! checksum    = SHA-256(header[0..93])
//! mac         = HMAC-SHA-256(header_key, header[0..125])
//! ```
//!
//! The checksum lets a reader tell accidental damage ("header damaged") from a
//! wrong passphrase before and after running the KDF; the MAC authenticates
//! every header byte under the file key. Before running the KDF a reader
//! refuses parameters beyond [`KdfParams::LIMIT`], so a hostile header cannot
//! take the machine's memory or hours of CPU.

use std::io::{self, Read, Write};

use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::origin::{Claim, Signer};
use super::recipient::{Identity, Recipient, RecipientError};
use super::stream::{NONCE_PREFIX_SIZE, StreamReader, StreamWriter};

pub mod v3;

/// The first bytes of every bundle.
pub const MAGIC: &[u8; 8] = b"TACCTLB\x00";
/// The format version this build writes for a bundle locked by a
/// passphrase alone. Version 2 changed only the payload's plaintext (the
/// archive in independent blocks); the header and key schedule are those of
/// version 1, which stays readable.
pub const VERSION: u8 = 2;
/// The format version of a bundle with recipients (see [`v3`]), and the
/// newest this build reads. Its payload is that of version 2.
pub const NEWEST_VERSION: u8 = v3::VERSION;
/// The KDF identifier of Argon2id (version 0x13).
pub const KDF_ARGON2ID: u8 = 1;
/// Total header length in bytes.
pub const HEADER_LEN: usize = 157;

/// The HKDF `info` of the header key, which MACs the header.
pub const HEADER_KEY_INFO: &str = "tacctl-bundle/v1/header";
/// The HKDF `info` of the payload key, under which STREAM encrypts.
pub const PAYLOAD_KEY_INFO: &str = "tacctl-bundle/v1/payload";

const SALT_LEN: usize = 16;
const WRAPPED_LEN: usize = 32 + 16;
const AAD_END: usize = 45; // magic .. nonce prefix
const CHECKSUM_START: usize = AAD_END + WRAPPED_LEN; // 93
const MAC_START: usize = CHECKSUM_START + 32; // 125

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub lanes: u32,
}

impl KdfParams {
    /// What `export` uses: 64 MiB, 3 passes, 4 lanes, RFC 9106's second
    /// recommended option (section 4); the lanes run in parallel.
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 3,
        lanes: 4,
    };
    /// For a passphrase that is itself a random 256-bit key, as the Cluster
    /// Export Wizard and `export --to` send with each push: stretching such
    /// a passphrase adds nothing (guessing it is as hard as guessing the
    /// file key), so one pass over 1 MiB keeps every target's import cheap.
    pub const RANDOM_PASSPHRASE: KdfParams = KdfParams {
        memory_kib: 1024,
        iterations: 1,
        lanes: 1,
    };
    /// Cheap parameters for tests only (`export --kdf-cost test`): 8 KiB, 1 pass.
    pub const TEST: KdfParams = KdfParams {
        memory_kib: 8,
        iterations: 1,
        lanes: 1,
    };
    /// The most a reader accepts: 1 GiB, 10 passes, 8 lanes.
    pub const LIMIT: KdfParams = KdfParams {
        memory_kib: 1024 * 1024,
        iterations: 10,
        lanes: 8,
    };

    /// Refuses parameters beyond [`KdfParams::LIMIT`] or below Argon2's
    /// minimums, before anything runs them.
    fn check(&self) -> Result<(), HeaderError> {
        if self.within(&KdfParams::LIMIT) {
            Ok(())
        } else {
            Err(HeaderError::KdfTooCostly {
                memory_kib: self.memory_kib,
                iterations: self.iterations,
                lanes: self.lanes,
            })
        }
    }

    fn within(&self, limit: &KdfParams) -> bool {
        self.memory_kib <= limit.memory_kib
            && self.iterations <= limit.iterations
            && self.lanes <= limit.lanes
            && self.iterations >= 1
            && self.lanes >= 1
            && self.memory_kib >= 8 * self.lanes
    }

    fn derive(
        &self,
        passphrase: &SecretString,
        salt: &[u8],
    ) -> Result<Zeroizing<[u8; 32]>, HeaderError> {
        let params = argon2::Params::new(self.memory_kib, self.iterations, self.lanes, Some(32))
            .map_err(|e| HeaderError::Kdf(e.to_string()))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut kek = Zeroizing::new([0u8; 32]);
        crate::argon::hash_into(
            &argon,
            passphrase.expose_secret().as_bytes(),
            salt,
            kek.as_mut(),
        )
        .map_err(|e| HeaderError::Kdf(e.to_string()))?;
        Ok(kek)
    }
}

/// Why a header was refused.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    /// The magic is missing.
    #[error("not a tacctl bundle (the file does not start with the bundle magic)")]
    NotABundle,
    /// A newer format.
    #[error(
        "bundle format version {0} is newer than this tacctl reads ({NEWEST_VERSION}); upgrade tacctl"
    )]
    TooNew(u8),
    /// An unknown KDF.
    #[error("the bundle names an unknown key derivation ({0}); it was not written by tacctl")]
    UnknownKdf(u8),
    /// KDF parameters beyond the limits.
    #[error(
        "the bundle asks for key derivation with {memory_kib} KiB, {iterations} passes, {lanes} lanes, beyond the limits this tacctl accepts (1 GiB, 10, 8); refusing to run it"
    )]
    KdfTooCostly {
        /// Memory, KiB.
        memory_kib: u32,
        /// Passes.
        iterations: u32,
        /// Lanes.
        lanes: u32,
    },
    /// The header is shorter than a header.
    #[error("header damaged: the bundle ends inside its header; copy it again")]
    Short,
    /// Checksum or MAC mismatch.
    #[error("header damaged: the bundle's header was altered or corrupted; get a fresh copy")]
    Damaged,
    /// The file key did not unwrap.
    #[error("wrong passphrase: the bundle does not open with this passphrase")]
    WrongPassphrase,
    /// A passphrase was given, but the bundle is encrypted to recipients only.
    #[error(
        "this bundle has no passphrase: it opens only with the identity of one of its recipients ({}); import it on that appliance, or pass that identity with --identity-file",
        recipient_list(.0)
    )]
    NoPassphrase(Vec<Recipient>),
    /// An identity was given, but the bundle is not encrypted to it.
    #[error(
        "this bundle is not encrypted to {identity}: {}; ask for a bundle made with `--recipient {identity}`",
        match .recipients.is_empty() {
            true => "it opens with a passphrase only".to_owned(),
            false => format!("its recipients are {}", recipient_list(.recipients)),
        }
    )]
    NotARecipient {
        /// The identity's recipient.
        identity: Recipient,
        /// The bundle's recipients.
        recipients: Vec<Recipient>,
    },
    /// A version 3 header holds a stanza of a type this build does not know.
    #[error(
        "the bundle's header holds a key stanza of type {0}, which this tacctl does not know; upgrade tacctl"
    )]
    UnknownStanza(u8),
    /// A recipient cannot be encrypted to.
    #[error(transparent)]
    Recipient(#[from] RecipientError),
    /// The KDF failed.
    #[error("key derivation failed: {0}")]
    Kdf(String),
    /// Reading or writing failed.
    #[error("reading or writing the bundle failed: {0}")]
    Io(#[from] io::Error),
    /// The random generator failed.
    #[error("the operating system's random generator failed")]
    Random,
}

fn recipient_list(r: &[Recipient]) -> String {
    r.iter()
        .map(Recipient::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderInfo {
    /// Format version.
    pub version: u8,
    /// The passphrase's KDF parameters; `None` when the bundle has no
    /// passphrase (recipients only).
    pub kdf: Option<KdfParams>,
    /// The recipients the bundle is encrypted to, in header order.
    pub recipients: Vec<Recipient>,
    /// Who the header says signed the bundle, and the signature (format 3
    /// only): not verified here, since the signature is over the manifest
    /// in the payload; the reader checks it ([`Claim::verify`]).
    pub origin: Option<Claim>,
}

/// What a new bundle is locked with: a passphrase (with its KDF cost),
/// recipients, or both; and who signs it. With no recipients and no
/// signer the header is that of format [`VERSION`], which older tacctl
/// reads; otherwise format 3, the only one with room for a signature.
#[derive(Clone, Copy)]
pub struct Lock<'a> {
    /// The passphrase and its cost.
    pub passphrase: Option<(&'a SecretString, KdfParams)>,
    /// The recipients.
    pub recipients: &'a [Recipient],
    /// The key that signs the bundle's manifest (an origin stanza), if any.
    pub signer: Option<&'a Signer>,
}

impl<'a> Lock<'a> {
    /// Locked by a passphrase alone, unsigned.
    pub fn passphrase(passphrase: &'a SecretString, kdf: KdfParams) -> Self {
        Self {
            passphrase: Some((passphrase, kdf)),
            recipients: &[],
            signer: None,
        }
    }

    /// The same lock, signed by `signer`.
    pub fn signed_by(self, signer: &'a Signer) -> Self {
        Self {
            signer: Some(signer),
            ..self
        }
    }

    /// How many stanzas its format 3 header has: one per way in, one more
    /// for a signer.
    pub fn stanzas(&self) -> usize {
        usize::from(self.passphrase.is_some())
            + self.recipients.len()
            + usize::from(self.signer.is_some())
    }
}

impl std::fmt::Debug for Lock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("passphrase", &self.passphrase.map(|(_, kdf)| kdf))
            .field("recipients", &self.recipients)
            .field("signer", &self.signer.map(Signer::key))
            .finish()
    }
}

/// What opens a bundle: its passphrase, or the identity of one of its
/// recipients.
#[derive(Clone, Copy)]
pub enum Unlock<'a> {
    /// A passphrase.
    Passphrase(&'a SecretString),
    /// An identity.
    Identity(&'a Identity),
}

impl<'a> From<&'a SecretString> for Unlock<'a> {
    fn from(p: &'a SecretString) -> Self {
        Unlock::Passphrase(p)
    }
}

impl<'a> From<&'a Identity> for Unlock<'a> {
    fn from(i: &'a Identity) -> Self {
        Unlock::Identity(i)
    }
}

impl std::fmt::Debug for Unlock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unlock::Passphrase(_) => f.write_str("Unlock::Passphrase([REDACTED])"),
            Unlock::Identity(i) => write!(f, "Unlock::Identity({})", i.recipient()),
        }
    }
}

fn hkdf(file_key: &[u8; 32], salt: &[u8], info: &str) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    hkdf::Hkdf::<Sha256>::new(Some(salt), file_key)
        .expand(info.as_bytes(), out.as_mut())
        .expect("32 bytes is a valid HKDF-SHA-256 output length");
    out
}

fn mac(header_key: &[u8; 32], bytes: &[u8]) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(header_key)
        .expect("HMAC takes any key length");
    m.update(bytes);
    m
}

/// The file key wrapped under the KEK that `passphrase` derives with
/// `kdf` and `salt`: ChaCha20-Poly1305, nonce `0^12`, associated data `aad`.
fn wrap_under_passphrase(
    passphrase: &SecretString,
    kdf: KdfParams,
    salt: &[u8],
    file_key: &[u8; 32],
    aad: &[u8],
) -> Result<Vec<u8>, HeaderError> {
    let kek = kdf.derive(passphrase, salt)?;
    ChaCha20Poly1305::new(&(*kek).into())
        .encrypt(&[0u8; 12].into(), Payload { msg: file_key, aad })
        .map_err(|_| HeaderError::Kdf("wrapping the file key failed".into()))
}

/// The file key in `wrapped`, as [`wrap_under_passphrase`] made it; a key
/// that does not open is the wrong passphrase.
fn unwrap_under_passphrase(
    passphrase: &SecretString,
    kdf: KdfParams,
    salt: &[u8],
    wrapped: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<[u8; 32]>, HeaderError> {
    let kek = kdf.derive(passphrase, salt)?;
    ChaCha20Poly1305::new(&(*kek).into())
        .decrypt(&[0u8; 12].into(), Payload { msg: wrapped, aad })
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
        .map(Zeroizing::new)
        .ok_or(HeaderError::WrongPassphrase)
}

fn random<const N: usize>() -> Result<[u8; N], HeaderError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|_| HeaderError::Random)?;
    Ok(b)
}

/// Writes a header for `lock` and returns the payload writer: format
/// [`VERSION`] for a passphrase alone, format 3 with recipients or a
/// signer. `manifest` is the manifest.yaml the payload will carry, byte
/// for byte as it will be archived: `lock.signer` signs it into the
/// header's origin stanza. Without a signer it is not used.
///
/// # Panics
///
/// When `lock` has neither a passphrase nor a recipient, more than
/// [`v3::MAX_RECIPIENTS`] recipients or more than [`v3::MAX_STANZAS`]
/// stanzas in all: callers check what they are given.
pub fn seal_with<W: Write>(
    out: W,
    lock: &Lock<'_>,
    manifest: &[u8],
) -> Result<StreamWriter<W>, HeaderError> {
    match (lock.passphrase, lock.recipients, lock.signer) {
        (Some((p, kdf)), [], None) => seal(out, p, kdf),
        (_, _, signer) => v3::seal(
            out,
            lock,
            signer.map(|s| s.sign_manifest(manifest)).as_ref(),
        ),
    }
}

/// Writes a header for `passphrase` and returns the payload writer.
pub fn seal<W: Write>(
    out: W,
    passphrase: &SecretString,
    kdf: KdfParams,
) -> Result<StreamWriter<W>, HeaderError> {
    let salt: [u8; SALT_LEN] = random()?;
    let prefix: [u8; NONCE_PREFIX_SIZE] = random()?;
    let file_key = Zeroizing::new(random::<32>()?);
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend_from_slice(MAGIC);
    h.push(VERSION);
    h.push(KDF_ARGON2ID);
    for v in [kdf.memory_kib, kdf.iterations, kdf.lanes] {
        h.extend_from_slice(&v.to_be_bytes());
    }
    h.extend_from_slice(&salt);
    h.extend_from_slice(&prefix);
    debug_assert_eq!(h.len(), AAD_END);
    let wrapped = wrap_under_passphrase(passphrase, kdf, &salt, &file_key, &h)?;
    h.extend_from_slice(&wrapped);
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

/// Ends header `h` (every byte before its checksum) as every format does:
/// the checksum, then the MAC under the header key; writes it to `out` and
/// returns the payload writer under the payload key. The keys are HKDF of
/// `file_key` with `salt` and the format's `info`s.
fn finish<W: Write>(
    mut out: W,
    mut h: Vec<u8>,
    file_key: &[u8; 32],
    salt: &[u8],
    prefix: &[u8; NONCE_PREFIX_SIZE],
    header_info: &str,
    payload_info: &str,
) -> Result<StreamWriter<W>, HeaderError> {
    let checksum = Sha256::digest(&h);
    h.extend_from_slice(&checksum);
    let header_key = hkdf(file_key, salt, header_info);
    let tag = mac(&header_key, &h).finalize().into_bytes();
    h.extend_from_slice(&tag);
    out.write_all(&h)?;
    let payload_key = hkdf(file_key, salt, payload_info);
    Ok(StreamWriter::new(out, &payload_key, prefix))
}

/// Reads the parts of a header that need no key: magic, version, KDF
/// limits, the recipients, and the checksum. Leaves `input` at the
/// payload's first byte.
pub fn read_info<R: Read>(input: &mut R) -> Result<HeaderInfo, HeaderError> {
    Ok(read_raw(input)?.info())
}

/// A header as read, before any key has opened it.
enum Raw {
    /// Versions 1 and 2: the fixed 157 bytes (boxed: a version 3 header
    /// keeps its bytes on the heap too).
    Fixed(Box<[u8; HEADER_LEN]>, HeaderInfo),
    /// Version 3: stanzas.
    Stanzas(v3::Header),
}

impl Raw {
    fn info(&self) -> HeaderInfo {
        match self {
            Raw::Fixed(_, info) => info.clone(),
            Raw::Stanzas(h) => h.info(),
        }
    }
}

/// Reads as many bytes as fill `buf` or as there are; returns how many.
fn read_full<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

fn read_raw<R: Read>(input: &mut R) -> Result<Raw, HeaderError> {
    let mut h = [0u8; HEADER_LEN];
    let got = read_full(input, &mut h[..v3::PREFIX_LEN])?;
    if got < MAGIC.len() || &h[..MAGIC.len()] != MAGIC {
        return Err(HeaderError::NotABundle);
    }
    if got < 10 {
        return Err(HeaderError::Short);
    }
    if h[8] > NEWEST_VERSION {
        return Err(HeaderError::TooNew(h[8]));
    }
    if got < v3::PREFIX_LEN {
        return Err(HeaderError::Short);
    }
    if h[8] == v3::VERSION {
        return Ok(Raw::Stanzas(v3::Header::read(
            h[..v3::PREFIX_LEN].try_into().expect("the prefix"),
            input,
        )?));
    }
    let got = v3::PREFIX_LEN + read_full(input, &mut h[v3::PREFIX_LEN..])?;
    if got < HEADER_LEN {
        return Err(HeaderError::Short);
    }
    if h[..MAC_START][CHECKSUM_START..] != Sha256::digest(&h[..CHECKSUM_START])[..] {
        return Err(HeaderError::Damaged);
    }
    if h[8] == 0 {
        return Err(HeaderError::Damaged);
    }
    if h[9] != KDF_ARGON2ID {
        return Err(HeaderError::UnknownKdf(h[9]));
    }
    let word = |i: usize| u32::from_be_bytes(h[i..i + 4].try_into().expect("four bytes"));
    let kdf = KdfParams {
        memory_kib: word(10),
        iterations: word(14),
        lanes: word(18),
    };
    kdf.check()?;
    let info = HeaderInfo {
        version: h[8],
        kdf: Some(kdf),
        recipients: Vec::new(),
        origin: None,
    };
    Ok(Raw::Fixed(Box::new(h), info))
}

/// The key and nonce prefix of a bundle's payload, once its header is
/// opened: the payload can be read from the start as often as needed
/// without deriving the key again (a reader that checks an archive before
/// it extracts anything reads it twice). Wiped when dropped.
pub struct PayloadKey {
    key: Zeroizing<[u8; 32]>,
    prefix: [u8; NONCE_PREFIX_SIZE],
}

impl PayloadKey {
    /// A reader of the payload that starts at `input`'s current position,
    /// the first byte after the header.
    pub fn reader<R: Read>(&self, input: R) -> StreamReader<R> {
        StreamReader::new(input, &self.key, &self.prefix)
    }
}

impl std::fmt::Debug for PayloadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PayloadKey([REDACTED])")
    }
}

/// Reads and opens a header with `unlock` (a passphrase, or an identity),
/// leaving `input` at the payload's first byte; returns what the header
/// says and the payload key.
pub fn open_key<'a, R: Read>(
    input: &mut R,
    unlock: impl Into<Unlock<'a>>,
) -> Result<(HeaderInfo, PayloadKey), HeaderError> {
    let unlock = unlock.into();
    let (h, info) = match read_raw(input)? {
        Raw::Stanzas(h) => {
            let info = h.info();
            let (key, prefix) = h.open(unlock)?;
            return Ok((info, PayloadKey { key, prefix }));
        }
        Raw::Fixed(h, info) => (h, info),
    };
    let passphrase = match unlock {
        Unlock::Passphrase(p) => p,
        Unlock::Identity(i) => {
            return Err(HeaderError::NotARecipient {
                identity: i.recipient(),
                recipients: Vec::new(),
            });
        }
    };
    let kdf = info.kdf.expect("versions 1 and 2 have a passphrase");
    let salt = &h[22..22 + SALT_LEN];
    let prefix: [u8; NONCE_PREFIX_SIZE] = h[38..AAD_END].try_into().expect("seven bytes");
    let file_key = unwrap_under_passphrase(
        passphrase,
        kdf,
        salt,
        &h[AAD_END..CHECKSUM_START],
        &h[..AAD_END],
    )?;
    let header_key = hkdf(&file_key, salt, HEADER_KEY_INFO);
    mac(&header_key, &h[..MAC_START])
        .verify_slice(&h[MAC_START..])
        .map_err(|_| HeaderError::Damaged)?;
    let key = hkdf(&file_key, salt, PAYLOAD_KEY_INFO);
    Ok((info, PayloadKey { key, prefix }))
}

/// Reads and opens a header with `unlock`; returns the payload reader.
pub fn open<'a, R: Read>(
    mut input: R,
    unlock: impl Into<Unlock<'a>>,
) -> Result<(HeaderInfo, StreamReader<R>), HeaderError> {
    let (info, key) = open_key(&mut input, unlock)?;
    Ok((info, key.reader(input)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    fn bundle(data: &[u8]) -> Vec<u8> {
        let mut w = seal(Vec::new(), &pass("correct horse battery"), KdfParams::TEST).unwrap();
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    fn read(b: &[u8], p: &str) -> Result<Vec<u8>, HeaderError> {
        let (_, mut r) = open(b, &pass(p))?;
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn round_trip() {
        let b = bundle(b"hello bundle");
        assert_eq!(&b[..8], MAGIC);
        assert_eq!(read(&b, "correct horse battery").unwrap(), b"hello bundle");
    }

    #[test]
    fn wrong_passphrase_is_named() {
        let b = bundle(b"x");
        assert!(matches!(
            read(&b, "wrong"),
            Err(HeaderError::WrongPassphrase)
        ));
    }

    #[test]
    fn any_header_byte_flip_is_refused() {
        let b = bundle(b"x");
        for i in 0..HEADER_LEN {
            let mut c = b.clone();
            c[i] ^= 0x01;
            let err = read(&c, "correct horse battery").unwrap_err();
            assert!(
                matches!(
                    err,
                    HeaderError::Damaged
                        | HeaderError::NotABundle
                        | HeaderError::TooNew(_)
                        | HeaderError::UnknownKdf(_)
                ),
                "byte {i}: {err}"
            );
        }
    }

    #[test]
    fn hostile_kdf_parameters_are_refused_before_running() {
        let mut b = bundle(b"x");
        b[10..14].copy_from_slice(&(4 * 1024 * 1024u32).to_be_bytes());
        let checksum = Sha256::digest(&b[..CHECKSUM_START]);
        b[CHECKSUM_START..MAC_START].copy_from_slice(&checksum);
        assert!(matches!(
            read(&b, "p"),
            Err(HeaderError::KdfTooCostly { .. })
        ));
    }
}
