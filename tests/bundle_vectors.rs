//! Bundle test vectors: one small file per case in fixtures/bundles/, each a
//! text header (`expect:`, `passphrase:`, and for successes `payload-sha256:`)
//! followed by a blank line and the bundle's bytes, as age's testkit does.
//! One test per file. `TACCTL_WRITE_VECTORS=1 cargo test --test
//! bundle_vectors write_vectors -- --ignored` regenerates them.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use sha2::{Digest, Sha256};
use tacctl::bundle::header::{self, HEADER_LEN, KdfParams};
use tacctl::bundle::stream::{CHUNK_SIZE, TAG_SIZE};
use tacctl::ops::bundle::{Kind, open_into};

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

/// Opens the vector's bundle: decrypts the payload (hashing it) and then the full import check.
fn run(name: &str) {
    tacctl::jwt::ensure_provider().unwrap();
    let v = load(name);
    let pass = SecretString::from(v.passphrase.clone());
    let decrypted = header::open(&v.bundle[..], &pass)
        .map_err(|e| e.to_string())
        .and_then(|(_, mut r)| {
            let mut out = Vec::new();
            r.read_to_end(&mut out)
                .map(|_| out)
                .map_err(|e| e.to_string())
        });
    let staging = tempfile::tempdir().unwrap();
    let opened = open_into(&v.bundle[..], &pass, staging.path());
    if v.expect == "success" {
        let payload = decrypted.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            Some(hex::encode(Sha256::digest(&payload))),
            v.payload_sha256,
            "{name}"
        );
        opened.unwrap_or_else(|e| panic!("{name}: {e}"));
    } else {
        let err = opened
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| panic!("{name}: accepted"));
        assert!(
            err.contains(&v.expect),
            "{name}: expected {:?}, got {err:?}",
            v.expect
        );
    }
}

macro_rules! vectors {
    ($($test:ident => $file:literal,)*) => {
        $(#[test] fn $test() { run($file); })*
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
    newer_format => "newer-format.bundle",
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

// ---- generation ------------------------------------------------------------

fn write_vector(name: &str, expect: &str, passphrase: &str, bundle: &[u8], comment: &str) {
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
    std::fs::write(dir().join(name), bytes).unwrap();
}

fn seal_raw(plaintext: &[u8]) -> Vec<u8> {
    let mut w = header::seal(Vec::new(), &SecretString::from(PASS), KdfParams::TEST).unwrap();
    w.write_all(plaintext).unwrap();
    w.finish().unwrap()
}

fn gz(tar: Vec<u8>) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&tar).unwrap();
    e.finish().unwrap()
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
        )
        .unwrap();
    out
}

#[test]
#[ignore = "regenerates fixtures/bundles; run with TACCTL_WRITE_VECTORS=1"]
fn write_vectors() {
    if std::env::var_os("TACCTL_WRITE_VECTORS").is_none() {
        return;
    }
    tacctl::jwt::ensure_provider().unwrap();
    let good = real_bundle();
    write_vector(
        "success-jwt-users.bundle",
        "success",
        PASS,
        &good,
        "jwt and users exported from fixtures/appliances/v1 by tacctl 0.1.0",
    );
    write_vector(
        "wrong-passphrase.bundle",
        "wrong passphrase",
        "not the passphrase",
        &good,
        "the good bundle, another passphrase",
    );
    write_vector(
        "not-a-bundle.bundle",
        "not a tacctl bundle",
        PASS,
        b"hello, I am a text file\n",
        "no magic",
    );
    let mut b = good.clone();
    b[25] ^= 0x40;
    write_vector(
        "header-damaged-salt.bundle",
        "header damaged",
        PASS,
        &b,
        "a salt byte flipped; checksum catches it",
    );
    let mut b = good.clone();
    b[HEADER_LEN - 1] ^= 0x01;
    write_vector(
        "header-damaged-mac.bundle",
        "header damaged",
        PASS,
        &b,
        "the MAC's last byte flipped",
    );
    write_vector(
        "header-truncated.bundle",
        "header damaged",
        PASS,
        &good[..100],
        "cut inside the header",
    );
    let mut b = good.clone();
    b[8] = 2;
    fix_checksum(&mut b);
    write_vector(
        "newer-format.bundle",
        "newer than this tacctl",
        PASS,
        &b,
        "format version 2",
    );
    let mut b = good.clone();
    b[10..14].copy_from_slice(&(8u32 * 1024 * 1024).to_be_bytes());
    fix_checksum(&mut b);
    write_vector(
        "kdf-too-costly.bundle",
        "beyond the limits",
        PASS,
        &b,
        "asks for 8 GiB of KDF memory",
    );
    // Incompressible content, so the gzip payload spans three chunks.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let noise: Vec<u8> = (0..(2 * CHUNK_SIZE + 100))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let big = gz(tar_with(&[("components/noise.bin", &noise)], |_| {}));
    assert!(big.len() > 2 * CHUNK_SIZE);
    let sealed = seal_raw(&big);
    let mut b = sealed.clone();
    b[HEADER_LEN + CHUNK_SIZE + TAG_SIZE + 10] ^= 0x01;
    write_vector(
        "payload-damaged-chunk-1.bundle",
        "payload damaged at chunk 1",
        PASS,
        &b,
        "second chunk altered",
    );
    write_vector(
        "payload-truncated.bundle",
        "payload truncated",
        PASS,
        &sealed[..HEADER_LEN + 2 * (CHUNK_SIZE + TAG_SIZE)],
        "last chunk missing",
    );
    let mut b = seal_raw(&big[..CHUNK_SIZE]);
    // (a valid single full chunk; what follows it is the point of this vector)
    b.extend_from_slice(b"trailing junk");
    write_vector(
        "payload-trailing-data.bundle",
        "trailing data",
        PASS,
        &b,
        "bytes after a full last chunk",
    );
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..13].copy_from_slice(b"../escaped.sh");
    h.set_size(2);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let t = tar_with(&[], |b| b.append(&h, &b"hi"[..]).unwrap());
    write_vector(
        "archive-path-traversal.bundle",
        "unsafe path",
        PASS,
        &seal_raw(&gz(t)),
        "an entry named ../escaped.sh",
    );
    let t = tar_with(&[], |b| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "components/users.yaml", "/etc/shadow")
            .unwrap();
    });
    write_vector(
        "archive-symlink.bundle",
        "symbolic link",
        PASS,
        &seal_raw(&gz(t)),
        "a symlink to /etc/shadow",
    );
    // Take the good bundle's archive and alter one component after the manifest was made.
    let (_, mut r) = header::open(&good[..], &SecretString::from(PASS)).unwrap();
    let mut payload = Vec::new();
    r.read_to_end(&mut payload).unwrap();
    let mut tarball = Vec::new();
    flate2::read::GzDecoder::new(&payload[..])
        .read_to_end(&mut tarball)
        .unwrap();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for e in tar::Archive::new(&tarball[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().display().to_string();
        let mut d = Vec::new();
        e.read_to_end(&mut d).unwrap();
        files.push((p, d));
    }
    let mut altered = files.clone();
    let users = altered
        .iter_mut()
        .find(|(p, _)| p == "components/users.yaml")
        .unwrap();
    users.1 = String::from_utf8(users.1.clone())
        .unwrap()
        .replace("role: viewer", "role: admin")
        .into_bytes();
    let refs: Vec<(&str, &[u8])> = altered
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    write_vector(
        "archive-checksum-mismatch.bundle",
        "checksum mismatch",
        PASS,
        &seal_raw(&gz(tar_with(&refs, |_| {}))),
        "alice promoted to admin after export",
    );
    let mut extra = files.clone();
    extra.push(("components/extra.yaml".into(), b"x: 1\n".to_vec()));
    let refs: Vec<(&str, &[u8])> = extra
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    write_vector(
        "archive-unlisted-file.bundle",
        "not listed in the manifest",
        PASS,
        &seal_raw(&gz(tar_with(&refs, |_| {}))),
        "a file the manifest does not list",
    );
    let mut with_tail = gz(tar_with(&refs_of(&files), |_| {}));
    with_tail.extend_from_slice(b"extra plaintext after the gzip member");
    write_vector(
        "archive-trailing-plaintext.bundle",
        "data after its archive",
        PASS,
        &seal_raw(&with_tail),
        "authenticated plaintext after the archive",
    );
    write_oversize();
    write_vector(
        "archive-not-gzip.bundle",
        "cannot be read",
        PASS,
        &seal_raw(b"plain text, not gzip"),
        "payload is not gzip",
    );
}

fn write_oversize() {
    // One entry that claims 5 GiB: refused from its header, before any data.
    let mut h = tar::Header::new_ustar();
    h.set_path("files/huge.bin").unwrap();
    h.set_size(5 << 30);
    h.set_mode(0o600);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut t = h.as_bytes().to_vec();
    t.extend_from_slice(&[0u8; 1024]);
    write_vector(
        "archive-oversize.bundle",
        "larger than allowed",
        PASS,
        &seal_raw(&gz(t)),
        "an entry claiming 5 GiB, over the 4 GiB limit",
    );
}

#[test]
#[ignore = "writes fixtures/bundles/archive-oversize.bundle; run with TACCTL_WRITE_VECTORS=1"]
fn write_oversize_vector() {
    if std::env::var_os("TACCTL_WRITE_VECTORS").is_some() {
        write_oversize();
    }
}
