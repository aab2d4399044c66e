//! Bundle test vectors: one small file per case in fixtures/bundles/, each a
//! text header (`expect:`, `passphrase:`, and for successes `payload-sha256:`)
//! followed by a blank line and the bundle's bytes, as age's testkit does.
//! One test per file.
//!
//! The vectors without a `v2-` prefix hold format version 1 bundles and are
//! frozen: this tacctl writes version 2 and can no longer make them (their
//! generator is in the history, before format 2). `TACCTL_WRITE_VECTORS=1
//! cargo test --test bundle_vectors write_v2_vectors -- --ignored` writes
//! the version 2 vectors that do not exist yet; it never rewrites one, and
//! `write_v3_vectors` the format 3 ones (recipient stanzas), whose header
//! may name an `identity:` (the recipient's X25519 secret key, unpadded
//! base64url) that opens them instead of the passphrase. A success vector
//! whose header has an origin stanza names its signer in an `origin:`
//! line, which opening it must report once the signature is verified; one
//! without that line must report no signer (every vector made before
//! bundles were signed).
//!
//! The hostile vectors (`HOSTILE`) are correctly encrypted under the
//! vectors' passphrase, as an attacker who knows it would make them, and
//! refused for what they hold: paths outside their component, paths and
//! names beyond the limits, long-name and pax records that would change
//! an entry, files far larger than their listing (manifest first and
//! last), and proof tokens that do not prove the bundle. Besides `run`,
//! they are imported through the binary, and the bombs read with the
//! bytes they consume counted.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use sha2::{Digest, Sha256};
use tacctl::bundle::NoProgress;
use tacctl::bundle::blocks::{
    BLOCK_SIZE, BlockWriter, FRAME_HEADER, METHOD_DEFLATE, METHOD_STORED, read_blocks,
};
use tacctl::bundle::header::{self, HEADER_LEN, KdfParams};
use tacctl::bundle::recipient::Identity;
use tacctl::bundle::stream::{CHUNK_SIZE, TAG_SIZE};
use tacctl::component::Component;

const PASS: &str = "vector passphrase 2026";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles")
}

struct Vector {
    expect: String,
    passphrase: String,
    /// For format 3 vectors opened by a recipient: the identity's 32-byte
    /// X25519 secret key, unpadded base64url (opened with it instead of the
    /// passphrase).
    identity: Option<String>,
    /// For a signed success vector: its signer key (`tacctl-ed25519:...`).
    origin: Option<String>,
    payload_sha256: Option<String>,
    bundle: Vec<u8>,
}

fn load(name: &str) -> Vector {
    let raw = std::fs::read(dir().join(name)).unwrap();
    let split = raw
        .windows(2)
        .position(|w| w == b"\n\n")
        .expect("a header ends with a blank line");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut v = Vector {
        expect: String::new(),
        passphrase: String::new(),
        identity: None,
        origin: None,
        payload_sha256: None,
        bundle: raw[split + 2..].to_vec(),
    };
    for line in head.lines() {
        let (k, val) = line.split_once(": ").unwrap();
        match k {
            "expect" => v.expect = val.to_owned(),
            "passphrase" => v.passphrase = val.to_owned(),
            "identity" => v.identity = Some(val.to_owned()),
            "origin" => v.origin = Some(val.to_owned()),
            "payload-sha256" => v.payload_sha256 = Some(val.to_owned()),
            "comment" => {}
            other => panic!("unknown header {other}"),
        }
    }
    v
}

/// Opens the vector's bundle: decrypts the payload (hashing it) and then the
/// full import check. `now_expect` replaces the vector's expectation where
/// this version of tacctl rightly differs from the one that made it.
fn run(name: &str, now_expect: Option<&str>) {
    tacctl::jwt::ensure_provider().unwrap();
    let mut v = load(name);
    if let Some(e) = now_expect {
        v.expect = e.to_owned();
    }
    let pass = SecretString::from(v.passphrase.clone());
    let identity = v.identity.as_deref().map(identity_of);
    let unlock = match &identity {
        Some(i) => header::Unlock::Identity(i),
        None => header::Unlock::Passphrase(&pass),
    };
    let decrypted = header::open(&v.bundle[..], unlock)
        .map_err(|e| e.to_string())
        .and_then(|(_, mut r)| {
            let mut out = Vec::new();
            r.read_to_end(&mut out)
                .map(|_| out)
                .map_err(|e| e.to_string())
        });
    // Opened on threads (size unknown) for an import, staging its custom
    // files, and on this thread alone (a small bundle of known size) for a
    // plan, writing nothing: the same verdict either way.
    for (size, stage) in [(None, true), (Some(v.bundle.len() as u64), false)] {
        let staging = tempfile::tempdir().unwrap();
        let opened = tacctl::bundle::open(
            std::io::Cursor::new(&v.bundle[..]),
            size,
            unlock,
            stage.then_some(staging.path()),
            &NoProgress,
        );
        if !stage || v.expect != "success" {
            assert_eq!(
                std::fs::read_dir(staging.path()).unwrap().count(),
                0,
                "{name}: nothing may be left in staging"
            );
        }
        if v.expect == "success" {
            let payload = decrypted.as_ref().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                Some(hex::encode(Sha256::digest(payload))),
                v.payload_sha256,
                "{name}"
            );
            let opened = opened.unwrap_or_else(|e| panic!("{name} (size {size:?}): {e}"));
            assert_eq!(
                opened.origin().map(|k| k.to_string()),
                v.origin,
                "{name}: the verified signer"
            );
        } else {
            let err = opened
                .err()
                .map(|e| e.to_string())
                .unwrap_or_else(|| panic!("{name} (size {size:?}): accepted"));
            assert!(
                err.contains(&v.expect),
                "{name} (size {size:?}): expected {:?}, got {err:?}",
                v.expect
            );
        }
    }
}

/// The identity of a vector's `identity:` line.
fn identity_of(b64: &str) -> Identity {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .unwrap();
    Identity::from_secret(&bytes.try_into().unwrap())
}

macro_rules! vectors {
    ($($test:ident => $file:literal $(now $now:literal)?,)*) => {
        $(#[test] fn $test() { run($file, None$(.or(Some($now)))?); })*
        const ALL: &[&str] = &[$($file),*];
    };
}

vectors! {
    success_jwt_and_users => "success-jwt-users.bundle",
    wrong_passphrase => "wrong-passphrase.bundle",
    not_a_bundle => "not-a-bundle.bundle",
    header_damaged_salt => "header-damaged-salt.bundle",
    header_damaged_mac => "header-damaged-mac.bundle",
    header_truncated => "header-truncated.bundle",
    // A version 1 bundle with its version byte edited (see its comment).
    header_version_edited => "header-version-edited.bundle",
    kdf_too_costly => "kdf-too-costly.bundle",
    payload_damaged_chunk_1 => "payload-damaged-chunk-1.bundle",
    payload_truncated => "payload-truncated.bundle",
    payload_trailing_data => "payload-trailing-data.bundle",
    archive_path_traversal => "archive-path-traversal.bundle",
    archive_symlink => "archive-symlink.bundle",
    archive_checksum_mismatch => "archive-checksum-mismatch.bundle",
    archive_unlisted_file => "archive-unlisted-file.bundle",
    archive_not_gzip => "archive-not-gzip.bundle",
    archive_trailing_plaintext => "archive-trailing-plaintext.bundle",
    archive_oversize => "archive-oversize.bundle",
    // A format 2 bundle with its version byte edited to 3: since format 3
    // exists, its header is not a format 3 header.
    newer_format_3 => "newer-format-3.bundle" now "header damaged",
    newer_format_4 => "newer-format-4.bundle",
    v2_success_jwt_and_users => "v2-success-jwt-users.bundle",
    v2_wrong_passphrase => "v2-wrong-passphrase.bundle",
    v2_payload_damaged_chunk_1 => "v2-payload-damaged-chunk-1.bundle",
    v2_payload_truncated => "v2-payload-truncated.bundle",
    v2_archive_path_traversal => "v2-archive-path-traversal.bundle",
    v2_archive_checksum_mismatch => "v2-archive-checksum-mismatch.bundle",
    v2_data_after_the_end_frame => "v2-data-after-end-frame.bundle",
    v2_data_after_the_tar_end => "v2-data-after-tar-end.bundle",
    v2_no_end_frame => "v2-no-end-frame.bundle",
    v2_block_too_large => "v2-block-too-large.bundle",
    v2_block_unknown_method => "v2-block-unknown-method.bundle",
    v2_block_wrong_length => "v2-block-wrong-length.bundle",
    v2_archive_duplicate_in_other_case => "v2-archive-duplicate-case.bundle",
    v2_manifest_component_twice => "v2-manifest-component-twice.bundle",
    v3_success_identity => "v3-success-identity.bundle",
    v3_success_passphrase => "v3-success-passphrase.bundle",
    v3_not_a_recipient => "v3-not-a-recipient.bundle",
    v3_stanza_altered => "v3-stanza-altered.bundle",
    v3_stanza_dropped => "v3-stanza-dropped.bundle",
    v3_unknown_stanza => "v3-unknown-stanza.bundle",
    v3_recipients_only_passphrase => "v3-recipients-only-passphrase.bundle",
    v3_length_huge => "v3-length-huge.bundle",
    v3_origin_success => "v3-origin-success.bundle",
    v3_origin_manifest_altered => "v3-origin-manifest-altered.bundle",
    v3_origin_twice => "v3-origin-twice.bundle",
    v2_files_listing_config_jwt => "v2-files-lists-config-jwt.bundle",
    v2_files_listing_the_master_key => "v2-files-lists-master-key.bundle",
    v2_files_listing_a_sibling_of_files => "v2-files-lists-filesX.bundle",
    v2_files_listing_the_users_component_file => "v2-files-lists-components-users.bundle",
    v2_users_listing_the_jwt_component_file => "v2-users-lists-jwt-file.bundle",
    v2_path_1200_levels_deep => "v2-path-1200-levels.bundle",
    v2_path_65_levels_deep => "v2-path-65-levels.bundle",
    v2_name_of_256_bytes => "v2-name-256-bytes.bundle",
    v2_long_name_record_declaring_1_tib => "v2-long-name-huge.bundle",
    v2_bomb_with_the_manifest_first => "v2-bomb-manifest-first.bundle",
    v2_bomb_with_the_manifest_last => "v2-bomb-manifest-last.bundle",
    v2_sizes_adding_up_past_the_manifest => "v2-sizes-add-past-manifest.bundle",
    v2_mode_differing_from_the_listing => "v2-mode-differs.bundle",
    v2_proof_signed_with_another_key => "v2-proof-other-key.bundle",
    v2_proof_for_another_cluster => "v2-proof-other-cluster.bundle",
    v2_proof_expired_when_made => "v2-proof-expired.bundle",
    v2_proof_under_another_manifest_kid => "v2-proof-kid-differs.bundle",
    v2_pax_header_with_a_size => "v2-pax-size.bundle",
}

/// A bomb (a file far larger than its listing) is refused from its entry's
/// header, before its content is read, and nothing of it reaches the
/// staging directory; with the manifest last, the first reading measures
/// it without writing anything, and the manifest then refuses it.
#[test]
fn bombs_are_refused_before_their_content_is_read_or_written() {
    tacctl::jwt::ensure_provider().unwrap();
    for (name, spans_chunks) in [
        ("v2-bomb-manifest-first.bundle", true),
        ("v2-sizes-add-past-manifest.bundle", false),
        ("v2-bomb-manifest-last.bundle", false),
    ] {
        let v = load(name);
        let pass = SecretString::from(v.passphrase.clone());
        // On threads, and on this thread alone.
        for size in [None, Some(v.bundle.len() as u64)] {
            let staging = tempfile::tempdir().unwrap();
            let mut input = std::io::Cursor::new(&v.bundle[..]);
            let err =
                tacctl::bundle::open(&mut input, size, &pass, Some(staging.path()), &NoProgress)
                    .map(drop)
                    .unwrap_err()
                    .to_string();
            assert!(err.contains(&v.expect), "{name} ({size:?}): {err}");
            assert_eq!(
                std::fs::read_dir(staging.path()).unwrap().count(),
                0,
                "{name} ({size:?}): staged"
            );
            if spans_chunks {
                // The first chunk holds the entry's header and the first
                // of its 64 blocks; the reading stopped there, before the
                // payload's last chunk (a reader looks one byte past a
                // full chunk, to know whether it was the last).
                assert!(v.bundle.len() > HEADER_LEN + CHUNK_SIZE + TAG_SIZE + 1);
                assert!(
                    input.position() <= (HEADER_LEN + CHUNK_SIZE + TAG_SIZE + 1) as u64,
                    "{name} ({size:?}): read {} of {} bytes",
                    input.position(),
                    v.bundle.len()
                );
            }
        }
    }
}

/// A bundle as older tacctl wrote them, its manifest last, with custom
/// files in directories: the first reading writes nothing, the second
/// stages every file with its mode and content, on threads and not.
#[test]
fn custom_files_of_a_bundle_with_its_manifest_last_are_staged_in_a_second_reading() {
    use tacctl::bundle::manifest::{ComponentEntry, FileEntry};
    tacctl::jwt::ensure_provider().unwrap();
    let base = base(&real_bundle());
    let big = common::noise(4, 3 << 20);
    let files: [(&str, &[u8], u32); 3] = [
        ("files/ca/root.pem", b"-----BEGIN CERTIFICATE-----\n", 0o644),
        ("files/bin/run.sh", b"#!/bin/sh\n", 0o755),
        ("files/data/big.bin", &big, 0o600),
    ];
    let mut m = base.manifest.clone();
    m.components.push(ComponentEntry {
        name: "files".into(),
        version: 1,
        scope: "cluster".into(),
        files: files
            .iter()
            .map(|(path, data, mode)| FileEntry {
                mode: Some(*mode),
                ..FileEntry::of(path, data)
            })
            .collect(),
        dirs: vec!["files/bin".into(), "files/ca".into(), "files/data".into()],
    });
    for first in [false, true] {
        let tar = base.tar(&m, first, |b| {
            for dir in ["files/bin", "files/ca", "files/data"] {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                h.set_mode(0o750);
                b.append_data(&mut h, dir, std::io::empty()).unwrap();
            }
            for (path, data, mode) in files {
                add(b, path, data, mode);
            }
        });
        let bundle = seal_raw(&framed(&tar));
        for size in [None, Some(bundle.len() as u64)] {
            let staging = tempfile::tempdir().unwrap();
            let opened = tacctl::bundle::open(
                std::io::Cursor::new(&bundle[..]),
                size,
                &SecretString::from(PASS),
                Some(staging.path()),
                &NoProgress,
            )
            .unwrap_or_else(|e| panic!("manifest first: {first}, {size:?}: {e}"));
            assert_eq!(opened.tree.files.len(), 3);
            for (path, data, mode) in files {
                let staged = staging.path().join(path);
                assert_eq!(std::fs::read(&staged).unwrap(), data, "{path}");
                assert_eq!(common::mode(&staged), mode, "{path}");
            }
            assert_eq!(common::mode(&staging.path().join("files/ca")), 0o750);
            // Nothing but the custom files was written.
            let names: Vec<_> = std::fs::read_dir(staging.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, ["files"], "manifest first: {first}");
        }
    }
}

/// The hostile vectors: correctly encrypted, refused for what they hold.
const HOSTILE: &[&str] = &[
    "v2-files-lists-config-jwt.bundle",
    "v2-files-lists-master-key.bundle",
    "v2-files-lists-filesX.bundle",
    "v2-files-lists-components-users.bundle",
    "v2-users-lists-jwt-file.bundle",
    "v2-path-1200-levels.bundle",
    "v2-path-65-levels.bundle",
    "v2-name-256-bytes.bundle",
    "v2-long-name-huge.bundle",
    "v2-bomb-manifest-first.bundle",
    "v2-bomb-manifest-last.bundle",
    "v2-sizes-add-past-manifest.bundle",
    "v2-mode-differs.bundle",
    "v2-proof-other-key.bundle",
    "v2-proof-other-cluster.bundle",
    "v2-proof-expired.bundle",
    "v2-proof-kid-differs.bundle",
    "v2-pax-size.bundle",
];

/// Through the binary, on a node of the vectors' cluster: every hostile
/// bundle is refused as a bundle (exit 4) with its own message, never a
/// path inside the appliance's scratch directory, and the appliance is
/// left byte for byte as it was. So is a bundle whose first custom file
/// is fine and staged before the second is found too large.
#[test]
fn hostile_bundles_are_refused_by_import_with_exit_4_and_change_nothing() {
    tacctl::jwt::ensure_provider().unwrap();
    let app = common::TempAppliance::named("esa-target", "fixture-cluster");
    std::fs::write(app.root.join("files/own.txt"), "own\n").unwrap();
    let before = app.snapshot();
    let mut cases: Vec<(String, String, Vec<u8>)> = HOSTILE
        .iter()
        .map(|name| {
            let v = load(name);
            (name.to_string(), v.expect, v.bundle)
        })
        .collect();
    let base = base(&real_bundle());
    let fine = common::noise(3, 300_000);
    let m = base.with_files(&[("files/a", fine.len() as u64, &fine), ("files/b", 1, b"\0")]);
    for first in [true, false] {
        let tar = base.tar(&m, first, |b| {
            add(b, "files/a", &fine, 0o644);
            add_sized(b, "files/b", b"", 32 << 20, 0o644);
        });
        cases.push((
            format!("files/a fine, files/b 32 MiB listed as 1 byte, manifest first: {first}"),
            if first {
                "files/b is 33554432 bytes in the bundle's archive but its manifest lists 1"
            } else {
                "checksum mismatch for files/b"
            }
            .to_owned(),
            seal_raw(&framed_best(&tar)),
        ));
    }
    // And a node of another cluster refuses the good bundle's JWT
    // configuration as a usage error (exit 2), changing nothing either.
    let other = common::TempAppliance::named("esa-other", "c1");
    let other_before = other.snapshot();
    let good = load("v2-success-jwt-users.bundle");
    let file = other.file("good.tacbundle", &good.bundle);
    let out = other
        .cmd()
        .arg("import")
        .arg(&file)
        .args(["--yes", "-q"])
        .env("TACCTL_PASSPHRASE", PASS)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("fixture-cluster"), "{err}");
    common::assert_unchanged(&other_before, &other.snapshot());
    for (name, expect, bundle) in &cases {
        let file = app.file("hostile.tacbundle", bundle);
        let out = app
            .cmd()
            .arg("import")
            .arg(&file)
            .args(["--yes", "-q"])
            .env("TACCTL_PASSPHRASE", PASS)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{name}: {err}");
        assert!(err.contains(expect.as_str()), "{name}: {err}");
        assert!(
            !err.contains("scratch") && !err.contains(app.root.to_str().unwrap()),
            "{name}: the message names a staging path: {err}"
        );
        common::assert_unchanged(&before, &app.snapshot());
    }
}

#[test]
fn every_vector_file_has_a_test() {
    let mut files: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bundle"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = ALL.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed);
}

// ---- generation of the version 2 vectors ----------------------------------

/// Writes a vector unless it exists: committed vectors are never rewritten.
fn write_vector(name: &str, expect: &str, passphrase: &str, bundle: &[u8], comment: &str) {
    let pass = SecretString::from(passphrase.to_owned());
    let line = format!("passphrase: {passphrase}");
    write_vector_with(
        name,
        expect,
        &line,
        header::Unlock::Passphrase(&pass),
        bundle,
        comment,
    );
}

/// Writes a format 3 vector opened by the identity of `secret` unless it
/// exists.
fn write_v3_vector(name: &str, expect: &str, secret: [u8; 32], bundle: &[u8], comment: &str) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let id = Identity::from_secret(&secret);
    let line = format!("identity: {b64}");
    write_vector_with(
        name,
        expect,
        &line,
        header::Unlock::Identity(&id),
        bundle,
        comment,
    );
}

/// Writes a vector whose key is given by the header line `key_line` and
/// opens with `unlock`.
fn write_vector_with(
    name: &str,
    expect: &str,
    key_line: &str,
    unlock: header::Unlock<'_>,
    bundle: &[u8],
    comment: &str,
) {
    let path = dir().join(name);
    if path.exists() {
        return;
    }
    let mut out = format!("comment: {comment}\nexpect: {expect}\n{key_line}\n");
    if expect == "success" {
        let (info, mut r) = header::open(bundle, unlock).unwrap();
        let mut payload = Vec::new();
        r.read_to_end(&mut payload).unwrap();
        out.push_str(&format!(
            "payload-sha256: {}\n",
            hex::encode(Sha256::digest(&payload))
        ));
        if let Some(claim) = info.origin {
            out.push_str(&format!("origin: {}\n", claim.signer));
        }
    }
    out.push('\n');
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(bundle);
    std::fs::write(path, bytes).unwrap();
}

/// The identities of the format 3 vectors.
const ID_A: [u8; 32] = [0x11; 32];
const ID_B: [u8; 32] = [0x22; 32];
const ID_C: [u8; 32] = [0x33; 32];
/// The member key whose signer key signs the origin vectors.
const ID_SIGNER: [u8; 32] = [0x44; 32];

/// A bundle of `plaintext` (a payload's, as framed) locked by `lock`, whose
/// signer, if any, signs `manifest`.
fn seal_locked(lock: &header::Lock<'_>, manifest: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut w = header::seal_with(Vec::new(), lock, manifest).unwrap();
    w.write_all(plaintext).unwrap();
    w.finish().unwrap()
}

/// The payload's plaintext of `bundle`, opened with the vectors' passphrase.
fn plaintext_of(bundle: &[u8]) -> Vec<u8> {
    let (_, mut r) = header::open(bundle, &SecretString::from(PASS)).unwrap();
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    out
}

/// A format 3 header's checksum made to match its bytes again.
fn fix_checksum_v3(b: &mut [u8]) {
    let len = u32::from_be_bytes(b[9..13].try_into().unwrap()) as usize;
    let sum = Sha256::digest(&b[..len - 64]);
    b[len - 64..len - 32].copy_from_slice(&sum);
}

#[test]
#[ignore = "writes the format 3 vectors that do not exist yet; run with TACCTL_WRITE_VECTORS=1"]
fn write_v3_vectors() {
    if std::env::var_os("TACCTL_WRITE_VECTORS").is_none() {
        return;
    }
    tacctl::jwt::ensure_provider().unwrap();
    let (a, b) = (
        Identity::from_secret(&ID_A).recipient(),
        Identity::from_secret(&ID_B).recipient(),
    );
    let pass = SecretString::from(PASS);
    let good = real_bundle_locked(&header::Lock {
        passphrase: Some((&pass, KdfParams::TEST)),
        recipients: &[a, b],
        signer: None,
    });
    assert_eq!(good[8], 3);
    let what = "format 3: jwt and users from fixtures/appliances/v1, to a passphrase and recipients A and B";
    write_v3_vector(
        "v3-success-identity.bundle",
        "success",
        ID_A,
        &good,
        &format!("{what}; opened by A"),
    );
    write_vector(
        "v3-success-passphrase.bundle",
        "success",
        PASS,
        &good,
        &format!("{what}; opened by the passphrase"),
    );
    write_v3_vector(
        "v3-not-a-recipient.bundle",
        "is not encrypted to",
        ID_C,
        &good,
        &format!("{what}; C is not a recipient"),
    );
    // Stanzas: the fixed part is 38 bytes, the passphrase stanza 78, each
    // recipient stanza 113 (type byte, recipient, ephemeral key, wrapped key).
    let (a_at, b_at, stanza) = (38 + 78, 38 + 78 + 113, 113);
    let len = u32::from_be_bytes(good[9..13].try_into().unwrap()) as usize;
    let mut x = good.clone();
    x[a_at + 1 + 64 + 3] ^= 0x01;
    fix_checksum_v3(&mut x);
    write_v3_vector(
        "v3-stanza-altered.bundle",
        "header damaged",
        ID_A,
        &x,
        "format 3: a byte of A's wrapped key altered, checksum fixed",
    );
    let mut x = good[..b_at].to_vec();
    x.extend_from_slice(&good[b_at + stanza..]);
    x[9..13].copy_from_slice(&((len - stanza) as u32).to_be_bytes());
    x[36..38].copy_from_slice(&2u16.to_be_bytes());
    fix_checksum_v3(&mut x);
    write_v3_vector(
        "v3-stanza-dropped.bundle",
        "header damaged",
        ID_A,
        &x,
        "format 3: B's stanza removed, length, count and checksum fixed; the MAC tells",
    );
    let mut x = good.clone();
    x[b_at] = 9;
    fix_checksum_v3(&mut x);
    write_v3_vector(
        "v3-unknown-stanza.bundle",
        "does not know",
        ID_A,
        &x,
        "format 3: B's stanza of type 9, checksum fixed",
    );
    let only = real_bundle_locked(&header::Lock {
        passphrase: None,
        recipients: &[a],
        signer: None,
    });
    write_vector(
        "v3-recipients-only-passphrase.bundle",
        "has no passphrase",
        PASS,
        &only,
        "format 3: to A alone, given a passphrase",
    );
    let mut x = good.clone();
    x[9..13].copy_from_slice(&u32::MAX.to_be_bytes());
    write_v3_vector(
        "v3-length-huge.bundle",
        "header damaged",
        ID_A,
        &x,
        "format 3: a header length of 4 GiB, refused before it is read",
    );

    // Origin stanzas. The export above is signed with the fixture
    // appliance's member key, made afresh each time; these are signed with
    // ID_SIGNER's, over the export's own manifest.
    let signer = Identity::from_secret(&ID_SIGNER).signer();
    let manifest = entries_of(&good).remove(0);
    assert_eq!(manifest.0, "manifest.yaml");
    let plain = plaintext_of(&good);
    let signed = seal_locked(
        &header::Lock {
            passphrase: Some((&pass, KdfParams::TEST)),
            recipients: &[a],
            signer: Some(&signer),
        },
        &manifest.1,
        &plain,
    );
    write_vector(
        "v3-origin-success.bundle",
        "success",
        PASS,
        &signed,
        "format 3: jwt and users from fixtures/appliances/v1, to a passphrase and recipient A, signed by the signer key of member key 0x44...",
    );
    // Someone who can open the bundle rewrites its manifest (tool_version)
    // and seals it again, MAC and all, keeping the signer's stanza, whose
    // signature is over the manifest as it was.
    let b = base(&good);
    let mut m = b.manifest.clone();
    m.tool_version = "0.0.0-altered".into();
    let altered = seal_locked(
        &header::Lock {
            passphrase: Some((&pass, KdfParams::TEST)),
            recipients: &[],
            signer: Some(&signer),
        },
        &manifest.1,
        &framed(&b.tar(&m, true, |_| {})),
    );
    write_vector(
        "v3-origin-manifest-altered.bundle",
        "does not match its manifest",
        PASS,
        &altered,
        "format 3: its manifest's tool_version altered after it was signed, the bundle sealed again with the signer's stanza",
    );
    // The origin stanza twice: fixed 38, passphrase stanza 78, recipient
    // stanza 113, then the origin stanza's 97.
    let (o_at, o_len) = (38 + 78 + 113, 97);
    let len = u32::from_be_bytes(signed[9..13].try_into().unwrap()) as usize;
    assert_eq!(len, o_at + o_len + 64);
    let mut x = signed[..o_at + o_len].to_vec();
    x.extend_from_slice(&signed[o_at..]);
    x[9..13].copy_from_slice(&((len + o_len) as u32).to_be_bytes());
    x[36..38].copy_from_slice(&4u16.to_be_bytes());
    fix_checksum_v3(&mut x);
    write_vector(
        "v3-origin-twice.bundle",
        "header damaged",
        PASS,
        &x,
        "format 3: the signed vector with its origin stanza twice, length, count and checksum fixed",
    );
}

/// A version 2 bundle whose payload's plaintext is `plaintext`, as given.
fn seal_raw(plaintext: &[u8]) -> Vec<u8> {
    let mut w = header::seal(Vec::new(), &SecretString::from(PASS), KdfParams::TEST).unwrap();
    w.write_all(plaintext).unwrap();
    w.finish().unwrap()
}

/// `tar` cut into blocks and framed as tacctl writes it, end frame included.
fn framed(tar: &[u8]) -> Vec<u8> {
    let mut w = BlockWriter::new(Vec::new(), 1);
    w.write_all(tar).unwrap();
    w.finish().unwrap()
}

/// One frame written by hand.
fn frame(method: u8, len: u32, data: &[u8]) -> Vec<u8> {
    let mut f = vec![method];
    f.extend_from_slice(&len.to_be_bytes());
    f.extend_from_slice(&(data.len() as u32).to_be_bytes());
    f.extend_from_slice(data);
    f
}

fn tar_with(entries: &[(&str, &[u8])], extra: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o600);
        b.append_data(&mut h, path, *data).unwrap();
    }
    extra(&mut b);
    b.into_inner().unwrap()
}

fn refs_of(files: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    files
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect()
}

fn fix_checksum(b: &mut [u8]) {
    let sum = Sha256::digest(&b[..93]);
    b[93..125].copy_from_slice(&sum);
}

/// A format 2 bundle of jwt and users exported from the fixture appliance:
/// the export is signed, so format 3, and its payload is sealed again under
/// a format 2 header (the payloads are the same), as tacctl wrote such
/// bundles before it signed them.
fn real_bundle() -> Vec<u8> {
    let signed = real_bundle_locked(&header::Lock::passphrase(
        &SecretString::from(PASS),
        KdfParams::TEST,
    ));
    seal_raw(&plaintext_of(&signed))
}

fn real_bundle_locked(lock: &header::Lock<'_>) -> Vec<u8> {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/appliances/v1");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("esa");
    common::copy_tree(&fixture, &root);
    let ops = tacctl::ops::Ops::open(&root, std::time::Duration::from_secs(5)).unwrap();
    let claims: tacctl::jwt::Claims = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/appliances/v1.claims.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let (_, out) = ops
        .export(
            &[Component::Jwt, Component::Users],
            false,
            lock,
            Vec::new(),
            claims.iat + 60,
            &NoProgress,
        )
        .unwrap();
    out
}

/// The tar archive inside `bundle` (version 2), entry by entry.
fn entries_of(bundle: &[u8]) -> Vec<(String, Vec<u8>)> {
    let (_, r) = header::open(bundle, &SecretString::from(PASS)).unwrap();
    let tar = read_blocks(r, 1, |t| {
        let mut tar = Vec::new();
        t.read_to_end(&mut tar).map(|_| tar)
    })
    .unwrap();
    let mut files = Vec::new();
    for e in tar::Archive::new(&tar[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().display().to_string();
        let mut d = Vec::new();
        e.read_to_end(&mut d).unwrap();
        files.push((p, d));
    }
    files
}

#[test]
#[ignore = "writes missing fixtures/bundles/v2-*; run with TACCTL_WRITE_VECTORS=1"]
fn write_v2_vectors() {
    if std::env::var_os("TACCTL_WRITE_VECTORS").is_none() {
        return;
    }
    tacctl::jwt::ensure_provider().unwrap();
    let good = real_bundle();
    assert_eq!(good[8], 2);
    write_vector(
        "v2-success-jwt-users.bundle",
        "success",
        PASS,
        &good,
        "format 2: jwt and users exported from fixtures/appliances/v1 by tacctl 0.1.0",
    );
    write_vector(
        "v2-wrong-passphrase.bundle",
        "wrong passphrase",
        "not the passphrase",
        &good,
        "format 2: the good bundle, another passphrase",
    );
    let mut b = good.clone();
    b[8] = 4;
    fix_checksum(&mut b);
    write_vector(
        "newer-format-4.bundle",
        "newer than this tacctl",
        PASS,
        &b,
        "format version 4",
    );
    // Incompressible content: stored blocks, so the payload spans three chunks.
    let noise = common::noise(0x2545_f491_4f6c_dd1d, 2 * CHUNK_SIZE + 100);
    let big = framed(&tar_with(&[("components/noise.bin", &noise)], |_| {}));
    assert!(big.len() > 2 * CHUNK_SIZE);
    let sealed = seal_raw(&big);
    let mut b = sealed.clone();
    b[HEADER_LEN + CHUNK_SIZE + TAG_SIZE + 10] ^= 0x01;
    write_vector(
        "v2-payload-damaged-chunk-1.bundle",
        "payload damaged at chunk 1",
        PASS,
        &b,
        "format 2: second chunk altered",
    );
    write_vector(
        "v2-payload-truncated.bundle",
        "payload truncated",
        PASS,
        &sealed[..HEADER_LEN + 2 * (CHUNK_SIZE + TAG_SIZE)],
        "format 2: last chunk missing",
    );
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..13].copy_from_slice(b"../escaped.sh");
    h.set_size(2);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let t = tar_with(&[], |b| b.append(&h, &b"hi"[..]).unwrap());
    write_vector(
        "v2-archive-path-traversal.bundle",
        "unsafe path",
        PASS,
        &seal_raw(&framed(&t)),
        "format 2: an entry named ../escaped.sh",
    );
    // The good bundle's archive with one component altered after the manifest was made.
    let files = entries_of(&good);
    let mut altered = files.clone();
    let users = altered
        .iter_mut()
        .find(|(p, _)| p == "components/users.yaml")
        .unwrap();
    users.1 = String::from_utf8(users.1.clone())
        .unwrap()
        .replace("role: viewer", "role: admin")
        .into_bytes();
    write_vector(
        "v2-archive-checksum-mismatch.bundle",
        "checksum mismatch",
        PASS,
        &seal_raw(&framed(&tar_with(&refs_of(&altered), |_| {}))),
        "format 2: alice promoted to admin after export",
    );
    // The good bundle's users component again, under the same path in
    // capitals: on a case-insensitive file system, one file.
    // The good bundle's manifest listing its users component twice.
    let mut twice = files.clone();
    let manifest = twice
        .iter_mut()
        .find(|(p, _)| p == "manifest.yaml")
        .unwrap();
    let mut m: tacctl::bundle::manifest::Manifest = yaml_serde::from_slice(&manifest.1).unwrap();
    let users = m.component("users").unwrap().clone();
    m.components.push(users);
    manifest.1 = yaml_serde::to_string(&m).unwrap().into_bytes();
    write_vector(
        "v2-manifest-component-twice.bundle",
        "listed twice",
        PASS,
        &seal_raw(&framed(&tar_with(&refs_of(&twice), |_| {}))),
        "format 2: a manifest naming the users component twice",
    );
    let mut doubled = files.clone();
    let users = files
        .iter()
        .find(|(p, _)| p == "components/users.yaml")
        .unwrap()
        .1
        .clone();
    doubled.push(("components/USERS.yaml".to_owned(), users));
    write_vector(
        "v2-archive-duplicate-case.bundle",
        "twice",
        PASS,
        &seal_raw(&framed(&tar_with(&refs_of(&doubled), |_| {}))),
        "format 2: components/users.yaml and components/USERS.yaml",
    );
    let tar = tar_with(&refs_of(&files), |_| {});
    let mut after_end = framed(&tar);
    after_end.extend_from_slice(b"plaintext after the end frame");
    write_vector(
        "v2-data-after-end-frame.bundle",
        "data after its archive",
        PASS,
        &seal_raw(&after_end),
        "format 2: authenticated plaintext after the end frame",
    );
    let mut padded = tar.clone();
    padded.extend_from_slice(b"not zero padding");
    write_vector(
        "v2-data-after-tar-end.bundle",
        "data after its archive",
        PASS,
        &seal_raw(&framed(&padded)),
        "format 2: bytes inside the blocks after the tar archive's end",
    );
    let whole = framed(&tar);
    write_vector(
        "v2-no-end-frame.bundle",
        "without its end marker",
        PASS,
        &seal_raw(&whole[..whole.len() - FRAME_HEADER]),
        "format 2: the blocks without the end frame",
    );
    let end = [0u8; FRAME_HEADER];
    let too_large = (BLOCK_SIZE + 1) as u32;
    write_vector(
        "v2-block-too-large.bundle",
        "malformed",
        PASS,
        &seal_raw(&[&frame(METHOD_STORED, too_large, &[])[..], &end].concat()),
        "format 2: a frame claiming a block of 1 MiB + 1 byte, refused from its header",
    );
    write_vector(
        "v2-block-unknown-method.bundle",
        "malformed",
        PASS,
        &seal_raw(&[&frame(9, 3, b"abc")[..], &end].concat()),
        "format 2: a frame with method 9",
    );
    let mut deflated = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    deflated.write_all(&[b'a'; 4096]).unwrap();
    let deflated = deflated.finish().unwrap();
    write_vector(
        "v2-block-wrong-length.bundle",
        "does not decompress to its stated length",
        PASS,
        &seal_raw(&[&frame(METHOD_DEFLATE, 4000, &deflated)[..], &end].concat()),
        "format 2: a deflate block of 4096 bytes framed as 4000",
    );
    write_hostile_vectors(&good);
}

// ---- hostile bundles --------------------------------------------------------
//
// Correctly encrypted under the vectors' passphrase, as an attacker who
// knows it would make them, each with the good bundle's JWT configuration
// and users, so that only the hostile part is refused.

/// The good bundle's parts, to build hostile ones from.
struct Base {
    manifest: tacctl::bundle::manifest::Manifest,
    jwt: Vec<u8>,
    users: Vec<u8>,
    export: tacctl::component::JwtExport,
}

fn base(good: &[u8]) -> Base {
    let files = entries_of(good);
    let get = |p: &str| files.iter().find(|(f, _)| f == p).unwrap().1.clone();
    assert_eq!(
        files[0].0, "manifest.yaml",
        "tacctl writes its manifest first"
    );
    let jwt = get("components/jwt.yaml");
    Base {
        manifest: yaml_serde::from_slice(&get("manifest.yaml")).unwrap(),
        export: yaml_serde::from_slice(&jwt).unwrap(),
        jwt,
        users: get("components/users.yaml"),
    }
}

impl Base {
    /// The manifest with a `files` component listing `files` (path, size,
    /// content's SHA-256 from `data`) and nothing else changed.
    fn with_files(&self, files: &[(&str, u64, &[u8])]) -> tacctl::bundle::manifest::Manifest {
        use tacctl::bundle::manifest::{ComponentEntry, FileEntry};
        let mut m = self.manifest.clone();
        m.components.push(ComponentEntry {
            name: "files".into(),
            version: 1,
            scope: "cluster".into(),
            files: files
                .iter()
                .map(|(path, size, data)| FileEntry {
                    size: *size,
                    mode: Some(0o644),
                    ..FileEntry::of(path, data)
                })
                .collect(),
            dirs: Vec::new(),
        });
        m
    }

    /// A tar archive of `manifest` (first, or last when not `first`), the
    /// good bundle's components, and whatever `more` appends.
    fn tar(
        &self,
        manifest: &tacctl::bundle::manifest::Manifest,
        first: bool,
        more: impl FnOnce(&mut tar::Builder<Vec<u8>>),
    ) -> Vec<u8> {
        let text = yaml_serde::to_string(manifest).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        if first {
            add(&mut b, "manifest.yaml", text.as_bytes(), 0o600);
        }
        add(&mut b, "components/jwt.yaml", &self.jwt, 0o600);
        add(&mut b, "components/users.yaml", &self.users, 0o600);
        more(&mut b);
        if !first {
            add(&mut b, "manifest.yaml", text.as_bytes(), 0o600);
        }
        b.into_inner().unwrap()
    }

    /// The bundle's proof token with its claims changed by `edit`, signed
    /// with `secret` (the bundled active key's when `None`) but with the
    /// bundled active key's `kid` in its header either way.
    fn proof(&self, edit: impl FnOnce(&mut tacctl::jwt::Claims), secret: Option<&[u8]>) -> String {
        use base64::Engine as _;
        use hmac012::Mac as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = self.manifest.proof_token.split('.').nth(1).unwrap();
        let mut claims: tacctl::jwt::Claims =
            serde_json::from_slice(&b64.decode(payload).unwrap()).unwrap();
        edit(&mut claims);
        let own = self.export.active_key.secret.decode().unwrap();
        let secret = secret.unwrap_or(&own);
        let alg = format!("{:?}", self.export.algorithm);
        let header =
            serde_json::json!({"typ": "JWT", "alg": alg, "kid": self.export.active_key.kid});
        let signing = format!(
            "{}.{}",
            b64.encode(serde_json::to_vec(&header).unwrap()),
            b64.encode(serde_json::to_vec(&claims).unwrap())
        );
        let mac = match alg.as_str() {
            "HS256" => hmac012::Hmac::<sha2_010::Sha256>::new_from_slice(secret)
                .unwrap()
                .chain_update(&signing)
                .finalize()
                .into_bytes()
                .to_vec(),
            "HS384" => hmac012::Hmac::<sha2_010::Sha384>::new_from_slice(secret)
                .unwrap()
                .chain_update(&signing)
                .finalize()
                .into_bytes()
                .to_vec(),
            _ => hmac012::Hmac::<sha2_010::Sha512>::new_from_slice(secret)
                .unwrap()
                .chain_update(&signing)
                .finalize()
                .into_bytes()
                .to_vec(),
        };
        format!("{signing}.{}", b64.encode(mac))
    }
}

/// Appends a regular file whose header states the size of `data`.
fn add(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32) {
    add_sized(b, path, data, data.len() as u64, mode);
}

/// Appends a regular file whose header states `size`, with `size` bytes
/// from `data` (zeros when `data` is empty and `size` is not 0).
fn add_sized(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], size: u64, mode: u32) {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(mode);
    h.set_entry_type(tar::EntryType::Regular);
    if data.is_empty() {
        b.append_data(&mut h, path, std::io::repeat(0).take(size))
            .unwrap();
    } else {
        assert_eq!(data.len() as u64, size);
        b.append_data(&mut h, path, data).unwrap();
    }
}

/// `tar` in blocks deflated at the best level: a long run of zeros stays
/// small (about 1 KiB per MiB), which level 2, tacctl's, does not
/// manage. Readers accept any level.
fn framed_best(tar: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for block in tar.chunks(BLOCK_SIZE) {
        let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        d.write_all(block).unwrap();
        out.extend(frame(
            METHOD_DEFLATE,
            block.len() as u32,
            &d.finish().unwrap(),
        ));
    }
    out.extend([0u8; FRAME_HEADER]);
    out
}

/// 64 MiB: what a bomb's header declares and its content holds, in zeros.
const BOMB: u64 = 64 << 20;

fn write_hostile_vectors(good: &[u8]) {
    let base = base(good);
    let seal = |tar: Vec<u8>| seal_raw(&framed(&tar));

    // The files component reaching outside files/: into the stored
    // configuration, the master key, a sibling of files/, a component file.
    for (name, path) in [
        ("v2-files-lists-config-jwt.bundle", "config/jwt.yaml"),
        ("v2-files-lists-master-key.bundle", "master.key"),
        ("v2-files-lists-filesX.bundle", "filesX/a"),
        (
            "v2-files-lists-components-users.bundle",
            "components/users.yaml",
        ),
    ] {
        let data = b"version: 1\nhostile: true\n";
        let mut m = base.with_files(&[(path, data.len() as u64, data)]);
        if path == "components/users.yaml" {
            // Without a users component of its own: the files component
            // would smuggle one in.
            m.components.retain(|c| c.name != "users");
        }
        let tar = base.tar(&m, true, |b| {
            if path != "components/users.yaml" {
                add(b, path, data, 0o644);
            }
        });
        write_vector(
            name,
            "which belongs to no place the component has",
            PASS,
            &seal(tar),
            &format!("format 2: a files component listing {path}, which the archive holds"),
        );
    }

    // The users component pointing at the jwt component's file.
    let mut m = base.manifest.clone();
    let jwt_entry = m.component("jwt").unwrap().files[0].clone();
    m.components
        .iter_mut()
        .find(|c| c.name == "users")
        .unwrap()
        .files = vec![jwt_entry];
    let tar = {
        let text = yaml_serde::to_string(&m).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        add(&mut b, "manifest.yaml", text.as_bytes(), 0o600);
        add(&mut b, "components/jwt.yaml", &base.jwt, 0o600);
        b.into_inner().unwrap()
    };
    write_vector(
        "v2-users-lists-jwt-file.bundle",
        "which belongs to no place the component has",
        PASS,
        &seal(tar),
        "format 2: a users component listing components/jwt.yaml",
    );

    // A path 1,200 levels deep (2,405 bytes, in a GNU long-name record),
    // with the manifest last: the two-pass reader refuses it from its
    // header in the first reading.
    let deep = format!("files/{}x", "a/".repeat(1_199));
    let m = base.with_files(&[(&deep, 1, b"x")]);
    let tar = base.tar(&m, false, |b| add(b, &deep, b"x", 0o644));
    write_vector(
        "v2-path-1200-levels.bundle",
        "over the limit of 1024",
        PASS,
        &seal(tar),
        "format 2: files/a/a/.../x, 1,200 levels deep, manifest last",
    );

    // 65 levels in 137 bytes: within the length limit, one level past
    // the depth limit; manifest first, where the manifest's own check
    // refuses it.
    let deep = format!("files/{}x", "a/".repeat(63));
    let m = base.with_files(&[(&deep, 1, b"x")]);
    let tar = base.tar(&m, true, |b| add(b, &deep, b"x", 0o644));
    write_vector(
        "v2-path-65-levels.bundle",
        "is 65 levels deep, over the limit of 64",
        PASS,
        &seal(tar),
        "format 2: files/a/.../x, 65 levels deep, manifest first",
    );

    // A name of 256 bytes, listed in a manifest that comes first.
    let long = format!("files/{}", "n".repeat(256));
    let m = base.with_files(&[(&long, 1, b"x")]);
    let tar = base.tar(&m, true, |b| add(b, &long, b"x", 0o644));
    write_vector(
        "v2-name-256-bytes.bundle",
        "has a name of 256 bytes, over the limit of 255",
        PASS,
        &seal(tar),
        "format 2: a file whose name is 256 bytes long",
    );

    // A GNU long-name record declaring 1 TiB, with nothing after its
    // header: reading any of it would fail otherwise.
    let mut tar = base.tar(&base.manifest, true, |b| {
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(1 << 40);
        h.set_mode(0o644);
        h.set_cksum();
        b.get_mut().extend_from_slice(h.as_bytes());
    });
    // Without the end-of-archive blocks `into_inner` added: the record's
    // content would be expected right there.
    tar.truncate(tar.len() - 1024);
    write_vector(
        "v2-long-name-huge.bundle",
        "a long name of 1099511627776 bytes, over the limit of 65536",
        PASS,
        &seal(tar),
        "format 2: a GNU long-name record declaring 1 TiB",
    );

    // Bombs: 64 MiB of zeros where the manifest lists 1 byte.
    let m = base.with_files(&[("files/bomb", 1, b"\0")]);
    let tar = base.tar(&m, true, |b| add_sized(b, "files/bomb", b"", BOMB, 0o644));
    write_vector(
        "v2-bomb-manifest-first.bundle",
        "files/bomb is 67108864 bytes in the bundle's archive but its manifest lists 1",
        PASS,
        &seal_raw(&framed_best(&tar)),
        "format 2: 64 MiB of zeros listed as 1 byte, manifest first: refused from the entry's header",
    );
    let tar = base.tar(&m, false, |b| add_sized(b, "files/bomb", b"", BOMB, 0o644));
    write_vector(
        "v2-bomb-manifest-last.bundle",
        "checksum mismatch for files/bomb",
        PASS,
        &seal_raw(&framed_best(&tar)),
        "format 2: 64 MiB of zeros listed as 1 byte, manifest last: measured, never written",
    );
    // Two files listed at 1 MiB each, 3 MiB in the archive together: the
    // first is 2 MiB, refused from its header.
    let mib = 1u64 << 20;
    let m = base.with_files(&[("files/a", mib, b"a"), ("files/b", mib, b"b")]);
    let tar = base.tar(&m, true, |b| {
        add_sized(b, "files/a", b"", 2 * mib, 0o644);
        add_sized(b, "files/b", b"", mib, 0o644);
    });
    write_vector(
        "v2-sizes-add-past-manifest.bundle",
        "files/a is 2097152 bytes in the bundle's archive but its manifest lists 1048576",
        PASS,
        &seal_raw(&framed_best(&tar)),
        "format 2: files/a and files/b listed at 1 MiB each, 2 MiB and 1 MiB in the archive",
    );

    // A file whose header asks for setuid where the manifest lists 0755.
    let script = b"#!/bin/sh\nid\n";
    let mut m = base.with_files(&[("files/run.sh", script.len() as u64, script)]);
    m.components.last_mut().unwrap().files[0].mode = Some(0o755);
    let tar = base.tar(&m, true, |b| add(b, "files/run.sh", script, 0o4755));
    write_vector(
        "v2-mode-differs.bundle",
        "checksum mismatch for files/run.sh",
        PASS,
        &seal(tar),
        "format 2: files/run.sh listed 0755, its header 04755",
    );

    // Proof tokens that do not prove the bundle.
    let proof_vector =
        |name: &str, expect: &str, comment: &str, m: &tacctl::bundle::manifest::Manifest| {
            write_vector(
                name,
                expect,
                PASS,
                &seal(base.tar(m, true, |_| {})),
                comment,
            );
        };
    let mut m = base.manifest.clone();
    m.proof_token = base.proof(|_| {}, Some(&common::noise(7, 64)));
    proof_vector(
        "v2-proof-other-key.bundle",
        "is not signed with the bundled active key",
        "format 2: the proof token signed with another key, under the bundled key's kid",
        &m,
    );
    let mut m = base.manifest.clone();
    m.proof_token = base.proof(|c| c.iss = "another-cluster".into(), None);
    proof_vector(
        "v2-proof-other-cluster.bundle",
        "was issued for cluster \"another-cluster\"",
        "format 2: the proof token issued for another cluster",
        &m,
    );
    let mut m = base.manifest.clone();
    let created = m.created_at;
    m.proof_token = base.proof(
        |c| {
            c.iat = created - 3_600;
            c.nbf = created - 3_600;
            c.auth_time = created - 3_600;
            c.exp = created - 3_300;
        },
        None,
    );
    proof_vector(
        "v2-proof-expired.bundle",
        "expired at",
        "format 2: the proof token expired 5 minutes before the bundle was made",
        &m,
    );
    let mut m = base.manifest.clone();
    m.jwt_kid = tacctl::jwt::fingerprint(&common::noise(8, 64));
    proof_vector(
        "v2-proof-kid-differs.bundle",
        "the manifest names key",
        "format 2: a manifest naming another jwt_kid than the bundled active key's",
        &m,
    );

    // A pax header with a size record, before the users component.
    let tar = {
        let text = yaml_serde::to_string(&base.manifest).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        add(&mut b, "manifest.yaml", text.as_bytes(), 0o600);
        add(&mut b, "components/jwt.yaml", &base.jwt, 0o600);
        let record = "16 size=9999999\n";
        assert_eq!(record.len(), 16);
        let mut h = tar::Header::new_ustar();
        h.set_path("PaxHeader/users.yaml").unwrap();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(record.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, "PaxHeader/users.yaml", record.as_bytes())
            .unwrap();
        add(&mut b, "components/users.yaml", &base.users, 0o600);
        b.into_inner().unwrap()
    };
    write_vector(
        "v2-pax-size.bundle",
        "the pax key \"size\"",
        PASS,
        &seal(tar),
        "format 2: a pax header whose size record would change the next entry's size",
    );
}
