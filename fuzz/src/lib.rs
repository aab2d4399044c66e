//! What tacctl's fuzz targets share with each other and with the seed
//! generator (`examples/seeds.rs`): the fixed passphrase, keys and policy
//! they read with, the layout of their inputs (selector bytes in front of
//! the bytes under test), and the few helpers that build an input exactly
//! as its target reads it. docs/FUZZING.md describes each target.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use hmac::{Hmac, KeyInit, Mac};
use secrecy::SecretString;
use sha2::{Digest, Sha256, Sha384, Sha512};
use tacctl::bundle::header::{self, HEADER_LEN, KdfParams, MAGIC};
use tacctl::component::Stored;
use tacctl::jwt::{Algorithm, JwtKey, KeySet, Policy};

/// The passphrase every bundle target opens with and the seeds are sealed with.
pub const PASSPHRASE: &str = "fuzz passphrase 2026";

/// [`PASSPHRASE`] as the library takes it.
pub fn passphrase() -> SecretString {
    SecretString::from(PASSPHRASE.to_owned())
}

/// The secret key of the identity `bundle_recipients` opens with, and the
/// seeds of that target are encrypted to.
pub const IDENTITY_SECRET: [u8; 32] = [0x42; 32];

/// The identity of [`IDENTITY_SECRET`].
pub fn identity() -> tacctl::bundle::recipient::Identity {
    tacctl::bundle::recipient::Identity::from_secret(&IDENTITY_SECRET)
}

/// Rewrites a format 3 header's checksum (the 32 bytes before its last
/// 32, as its length field at bytes 9..13 places them) to match its bytes.
pub fn fix_checksum_v3(bundle: &mut [u8]) {
    let Some(len) = bundle.get(9..13) else {
        return;
    };
    let len = u32::from_be_bytes(len.try_into().expect("four bytes")) as usize;
    if (64..=bundle.len()).contains(&len) {
        let sum = Sha256::digest(&bundle[..len - 64]);
        bundle[len - 64..len - 32].copy_from_slice(&sum);
    }
}

/// The payload key of `bundle_stream`: its ciphertext is read under this
/// key and prefix, and its seeds are written under them.
pub const STREAM_KEY: [u8; 32] = [0x5a; 32];
/// The STREAM nonce prefix of `bundle_stream`.
pub const STREAM_PREFIX: [u8; 7] = *b"fuzzing";
/// The plaintext byte of the valid full chunks `bundle_stream` may put in
/// front of its input: a seed that continues such a stream is valid.
pub const STREAM_FILL: u8 = 0x33;

/// The most Argon2id work `bundle_header` lets a header ask for. The reader
/// accepts up to [`KdfParams::LIMIT`] (1 GiB, 10 passes, 8 lanes), and a
/// header the fuzzer writes within those limits would make one execution
/// take seconds and a GiB: such inputs are skipped ([`kdf_beyond_cap`]).
/// Parameters beyond the reader's limits still go in, since it refuses them
/// before running anything.
pub const KDF_CAP: KdfParams = KdfParams {
    memory_kib: 64,
    iterations: 2,
    lanes: 2,
};

/// Offsets in the header, from docs/FORMAT.md ("Bundles").
const VERSION_AT: usize = 8;
const KDF_ID_AT: usize = 9;
const MEMORY_AT: usize = 10;
const PASSES_AT: usize = 14;
const LANES_AT: usize = 18;
const CHECKSUM_START: usize = 93;
const CHECKSUM_END: usize = 125;

fn word(h: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(h[at..at + 4].try_into().expect("four bytes"))
}

/// Whether `header::open` would run Argon2id on `bundle` with more than
/// [`KDF_CAP`]: the header passes every check made before the key
/// derivation (magic, length, version, checksum, KDF id, the reader's
/// limits; docs/FORMAT.md) and asks for more memory, passes or lanes than
/// the cap. Parsed here from the bytes, as the format describes them.
pub fn kdf_beyond_cap(bundle: &[u8]) -> bool {
    let Some(h) = bundle.get(..HEADER_LEN) else {
        return false;
    };
    let kdf = KdfParams {
        memory_kib: word(h, MEMORY_AT),
        iterations: word(h, PASSES_AT),
        lanes: word(h, LANES_AT),
    };
    let runs = &h[..MAGIC.len()] == MAGIC
        && (1..=header::VERSION).contains(&h[VERSION_AT])
        && h[CHECKSUM_START..CHECKSUM_END] == Sha256::digest(&h[..CHECKSUM_START])[..]
        && h[KDF_ID_AT] == header::KDF_ARGON2ID
        && within(&kdf, &KdfParams::LIMIT);
    runs && !within(&kdf, &KDF_CAP)
}

/// The reader's own test, restated: at most `limit`, at least one pass and
/// one lane, at least 8 KiB per lane.
fn within(kdf: &KdfParams, limit: &KdfParams) -> bool {
    kdf.memory_kib <= limit.memory_kib
        && kdf.iterations <= limit.iterations
        && kdf.lanes <= limit.lanes
        && kdf.iterations >= 1
        && kdf.lanes >= 1
        && u64::from(kdf.memory_kib) >= 8 * u64::from(kdf.lanes)
}

/// Rewrites a header's checksum (bytes 93..125, SHA-256 of bytes 0..93) to
/// match its bytes, so that a mutated header gets past the checksum to the
/// key derivation, the key unwrapping and the MAC.
pub fn fix_checksum(bundle: &mut [u8]) {
    if bundle.len() >= CHECKSUM_END {
        let sum = Sha256::digest(&bundle[..CHECKSUM_START]);
        bundle[CHECKSUM_START..CHECKSUM_END].copy_from_slice(&sum);
    }
}

/// The appliance root of fixtures/appliances/v1 (tacctl 0.1.0's format).
pub fn fixture_appliance() -> PathBuf {
    fixtures().join("appliances/v1")
}

/// The project's fixtures/ directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// The keys and policy `token` verifies with: those of the fixture
/// appliance fixtures/appliances/v1 (HS512, an active key and one retired
/// key), so that its token v1.token is a valid seed.
pub struct TokenFixture {
    /// The active key and the retired one.
    pub keys: KeySet,
    /// HS512, issuer `fixture-cluster`.
    pub policy: Policy,
    /// A time at which v1.token is valid and the retired key still accepted.
    pub now: u64,
}

/// The [`TokenFixture`], read once from the fixture appliance (read only:
/// opening an appliance and unsealing its keys writes nothing).
pub static TOKEN: LazyLock<TokenFixture> = LazyLock::new(|| {
    let app = tacctl::appliance::Appliance::open(&fixture_appliance())
        .expect("fixtures/appliances/v1 opens");
    let node = app.node().expect("the fixture's appliance.yaml reads");
    let settings = app.jwt_settings().expect("the fixture's jwt.yaml reads");
    let keys = app
        .keyset(&settings, node.created_at)
        .expect("the fixture's keys unseal");
    assert_eq!(keys.previous().len(), 1, "the fixture has one retired key");
    TokenFixture {
        policy: Policy {
            algorithm: settings.algorithm,
            issuer: node.cluster_id.clone(),
            lifetime: settings.expiry().seconds(),
            max_session: settings.max_session_seconds,
            leeway: tacctl::jwt::LEEWAY_SECONDS,
        },
        now: node.created_at + 60,
        keys,
    }
});

/// `token`'s input, after its first byte: raw (a token as is) or signed
/// (header and claims JSON that the target signs).
pub const TOKEN_RAW: u8 = 0;
/// See [`TOKEN_RAW`].
pub const TOKEN_SIGNED: u8 = 1;

/// The time `token` verifies at, from one input byte: 0 and 255 are the
/// extremes, anything else minutes around [`TokenFixture::now`] (v1.token
/// expires 29 minutes after it, the retired key at the same time).
pub fn token_now(b: u8, base: u64) -> u64 {
    match b {
        0 => 0,
        255 => u64::MAX,
        b => base.saturating_add_signed((i64::from(b) - 128) * 60),
    }
}

/// A JWS over arbitrary header and claims bytes, signed with `key` under
/// `algorithm`: what a holder of the key could send. The library signs only
/// its own claims, so the target signs with HMAC itself.
pub fn sign_raw(
    header_json: &[u8],
    claims_json: &[u8],
    key: &JwtKey,
    algorithm: Algorithm,
) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let input = format!("{}.{}", b64.encode(header_json), b64.encode(claims_json));
    let secret = key.expose_secret();
    let tag = match algorithm {
        Algorithm::HS256 => hmac_tag::<Hmac<Sha256>>(secret, &input),
        Algorithm::HS384 => hmac_tag::<Hmac<Sha384>>(secret, &input),
        Algorithm::HS512 => hmac_tag::<Hmac<Sha512>>(secret, &input),
        other => panic!("the fuzz targets sign with HMAC keys only, not {other}"),
    };
    format!("{input}.{}", b64.encode(tag))
}

fn hmac_tag<M: Mac + KeyInit>(secret: &[u8], input: &str) -> Vec<u8> {
    let mut m = <M as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(input.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// The stored YAML file types of `stored_yaml`, in the order of its first
/// input byte (modulo the count): the component models, the bundle forms,
/// then the appliance's transaction files.
pub const STORED: [&str; 16] = [
    tacctl::component::Node::FILE,
    tacctl::component::JwtSettings::FILE,
    tacctl::component::Users::FILE,
    tacctl::component::LdapSettings::FILE,
    tacctl::component::Network::FILE,
    tacctl::component::TlsSettings::FILE,
    tacctl::component::Members::FILE,
    tacctl::component::JwtExport::FILE,
    tacctl::component::LdapExport::FILE,
    tacctl::component::TlsExport::FILE,
    "txn/journal.yaml",
    "history.yaml",
    "snapshot.yaml",
    tacctl::component::JwtTrust::FILE,
    tacctl::component::MemberKey::FILE,
    tacctl::component::ClusterStore::FILE,
];

/// The selector byte of a stored file, by its path under an appliance root
/// or in a bundle (`snapshots/<id>/snapshot.yaml` counts as `snapshot.yaml`,
/// and a bundle's `components/users.yaml`, `components/network.yaml` and
/// `components/jwt-trust.yaml` are exactly the `config/` files).
pub fn stored_index(path: &str) -> Option<u8> {
    let path = if path.ends_with("/snapshot.yaml") {
        "snapshot.yaml".to_owned()
    } else if let Some(name) = path
        .strip_prefix("components/")
        .filter(|n| ["users.yaml", "network.yaml", "jwt-trust.yaml"].contains(n))
    {
        format!("config/{name}")
    } else {
        path.to_owned()
    };
    STORED.iter().position(|f| *f == path).map(|i| i as u8)
}

/// `bundle_open`'s first byte: bit 0 set, the rest of the input is the
/// plaintext as it is (block frames and all); clear, it is a tar archive
/// that the target frames in stored blocks ([`stored_frames`]).
pub const OPEN_RAW: u8 = 1;
/// Bit 1 set: the reader is told the bundle's size (a small bundle is read
/// on one thread); clear, the size is unknown (threads inflate).
pub const OPEN_SIZE_KNOWN: u8 = 2;
/// Bit 2 set: opened for an import (files start going to disk); clear, for a plan.
pub const OPEN_IMPORT: u8 = 4;

/// A fresh, empty private directory for one execution's extraction, in
/// /dev/shm when there is one (no disk), with its parent: `parent/x`. The
/// parent is this process's own and holds nothing else, so that the
/// targets can check that an extraction created nothing beside it.
pub struct Scratch {
    parent: PathBuf,
    dest: PathBuf,
}

impl Scratch {
    /// This process's scratch directory for `target`.
    pub fn new(target: &str) -> Self {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let parent = base.join(format!("tacctl-fuzz-{target}-{}", std::process::id()));
        std::fs::create_dir_all(&parent).expect("the scratch directory can be made");
        let dest = parent.join("x");
        Self { parent, dest }
    }

    /// Makes the destination, empty and 0700.
    pub fn fresh(&self) -> &Path {
        use std::os::unix::fs::DirBuilderExt;
        if self.dest.exists() {
            std::fs::remove_dir_all(&self.dest).expect("the last destination is removed");
        }
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&self.dest)
            .expect("the destination can be made");
        &self.dest
    }

    /// Checks that nothing but the destination is beside it, that nothing
    /// under it is a link or special file, and when `files` is given (an
    /// extraction that succeeded) that exactly those regular files, of
    /// those sizes, are under it; then removes it.
    pub fn check_and_clear(&self, files: Option<&[(PathBuf, u64)]>) {
        let beside: Vec<_> = std::fs::read_dir(&self.parent)
            .expect("the scratch directory lists")
            .map(|e| e.expect("an entry").file_name())
            .collect();
        assert_eq!(
            beside,
            [std::ffi::OsString::from("x")],
            "created beside the destination"
        );
        let mut found = Vec::new();
        walk(&self.dest, Path::new(""), &mut found);
        if let Some(files) = files {
            let mut listed: Vec<_> = files.to_vec();
            listed.sort();
            found.sort();
            assert_eq!(
                found, listed,
                "the files on disk are not the files extracted"
            );
        }
        std::fs::remove_dir_all(&self.dest).expect("the destination is removed");
    }
}

/// Regular files under `dir` as (path relative to the destination, size);
/// panics on anything that is neither a file nor a directory.
fn walk(dir: &Path, rel: &Path, out: &mut Vec<(PathBuf, u64)>) {
    for e in std::fs::read_dir(dir).expect("an extracted directory lists") {
        let e = e.expect("an entry");
        let meta = e.metadata().expect("lstat");
        let rel = rel.join(e.file_name());
        if meta.is_dir() {
            walk(&e.path(), &rel, out);
        } else if meta.is_file() {
            out.push((rel, meta.len()));
        } else {
            panic!("extraction made {} a {:?}", rel.display(), meta.file_type());
        }
    }
}

/// `tar` framed as format 2's plaintext the cheap way: stored blocks of at
/// most 1 MiB, then the end frame (docs/FORMAT.md). It is what `BlockWriter`
/// writes for blocks that do not shrink; the targets that fuzz the layers
/// above the frames use it instead of `BlockWriter`, whose deflating, worker
/// thread and 1 MiB buffers took most of each execution (docs/FUZZING.md).
pub fn stored_frames(tar: &[u8]) -> Vec<u8> {
    use tacctl::bundle::blocks::{BLOCK_SIZE, FRAME_HEADER, METHOD_STORED};
    let mut out = Vec::with_capacity(tar.len() + FRAME_HEADER * (2 + tar.len() / BLOCK_SIZE));
    for block in tar.chunks(BLOCK_SIZE) {
        let len = (block.len() as u32).to_be_bytes();
        out.push(METHOD_STORED);
        out.extend_from_slice(&len);
        out.extend_from_slice(&len);
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&[0; FRAME_HEADER]);
    out
}
