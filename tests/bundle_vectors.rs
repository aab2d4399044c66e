//! Bundle test vectors: one small file per case in fixtures/bundles/, each a
//! text header (`expect:`, `passphrase:`, and for successes `payload-sha256:`)
//! followed by a blank line and the bundle's bytes, as age's testkit does.
//! One test per file.
//!
//! The vectors without a `v2-` prefix hold format version 1 bundles and are
//! frozen: this tacctl writes version 2 and can no longer make them (their
//! generator is in the history, before format 2). `TACCTL_WRITE_VECTORS=1
//! cargo test --test bundle_vectors write_v2_vectors -- --ignored` writes
//! the version 2 vectors that do not exist yet; it never rewrites one.

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
use tacctl::bundle::stream::{CHUNK_SIZE, TAG_SIZE};
use tacctl::component::Kind;

const PASS: &str = "vector passphrase 2026";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles")
}

struct Vector {
    expect: String,
    passphrase: String,
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
        payload_sha256: None,
        bundle: raw[split + 2..].to_vec(),
    };
    for line in head.lines() {
        let (k, val) = line.split_once(": ").unwrap();
        match k {
            "expect" => v.expect = val.to_owned(),
            "passphrase" => v.passphrase = val.to_owned(),
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
    let decrypted = header::open(&v.bundle[..], &pass)
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
            &pass,
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
            opened.unwrap_or_else(|e| panic!("{name} (size {size:?}): {e}"));
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
    newer_format_3 => "newer-format-3.bundle",
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
    let path = dir().join(name);
    if path.exists() {
        return;
    }
    let mut out = format!("comment: {comment}\nexpect: {expect}\npassphrase: {passphrase}\n");
    if expect == "success" {
        let (_, mut r) = header::open(bundle, &SecretString::from(passphrase.to_owned())).unwrap();
        let mut payload = Vec::new();
        r.read_to_end(&mut payload).unwrap();
        out.push_str(&format!(
            "payload-sha256: {}\n",
            hex::encode(Sha256::digest(&payload))
        ));
    }
    out.push('\n');
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(bundle);
    std::fs::write(path, bytes).unwrap();
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

fn real_bundle() -> Vec<u8> {
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
            &[Kind::Jwt, Kind::Users],
            false,
            &SecretString::from(PASS),
            KdfParams::TEST,
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
    b[8] = 3;
    fix_checksum(&mut b);
    write_vector(
        "newer-format-3.bundle",
        "newer than this tacctl",
        PASS,
        &b,
        "format version 3",
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
}
