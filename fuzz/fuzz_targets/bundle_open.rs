//! The whole reader, as an import or a plan opens a bundle: header, STREAM
//! payload, block frames, tar archive, manifest and every component's file.
//!
//! Random bytes never authenticate, so the input is the payload's
//! plaintext: the target seals a header with the fixed passphrase and the
//! test KDF cost, encrypts the plaintext under it and opens the result.
//! The first byte's bits (`tacctl_fuzz::OPEN_*`) say whether the rest is
//! the framed plaintext as it is (so that the frame parser and the
//! inflating are fuzzed too; the seeds hold `BlockWriter`'s deflated
//! frames) or a tar archive that the target frames in stored blocks
//! (`tacctl_fuzz::stored_frames`: `BlockWriter`'s deflating and thread took
//! most of each execution), whether the reader is told the bundle's size,
//! and whether it opens for an import or a plan. The staging directory is
//! fresh for each input, and nothing may appear beside it.
#![no_main]

use std::io::Write;
use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use tacctl::bundle::header::{self, KdfParams};
use tacctl_fuzz::{OPEN_IMPORT, OPEN_RAW, OPEN_SIZE_KNOWN, Scratch, passphrase, stored_frames};

static SCRATCH: LazyLock<Scratch> = LazyLock::new(|| Scratch::new("bundle_open"));
static PASSPHRASE: LazyLock<SecretString> = LazyLock::new(passphrase);

// ---- The call into the library's open path: the one place to update when
// ---- that API changes. It must open `bundle` into the empty private
// ---- directory `staging` as an import (`import`) or a plan does, telling
// ---- the reader the bundle's size when `size_known`.
fn open(bundle: &[u8], size_known: bool, import: bool, staging: &Path) {
    use tacctl::bundle::NoProgress;
    if import {
        // The format's reader, staging custom files as an import does.
        let size = size_known.then_some(bundle.len() as u64);
        let _ = tacctl::bundle::open(
            std::io::Cursor::new(bundle),
            size,
            &*PASSPHRASE,
            Some(staging),
            &NoProgress,
        );
    } else {
        // The whole open path for a plan: the reader (writing nothing),
        // then every component read and checked, the proof token too.
        let _ = tacctl::ops::bundle::open(
            tacctl::ops::bundle::BundleInput::Memory(bundle),
            &*PASSPHRASE,
            None,
            &NoProgress,
        );
    }
}
// ---- End of the call into the open path.

/// A bundle whose payload's plaintext is `plain`.
fn seal(plain: &[u8]) -> Vec<u8> {
    let mut w = header::seal(Vec::new(), &PASSPHRASE, KdfParams::TEST).unwrap();
    w.write_all(plain).unwrap();
    w.finish().unwrap()
}

fuzz_target!(
    init: {
        tacctl::jwt::ensure_provider().expect("the RustCrypto provider installs");
    },
    |data: &[u8]| {
        let Some((&flags, rest)) = data.split_first() else {
            return;
        };
        let bundle = if flags & OPEN_RAW != 0 {
            seal(rest)
        } else {
            seal(&stored_frames(rest))
        };
        let staging = SCRATCH.fresh();
        open(&bundle, flags & OPEN_SIZE_KNOWN != 0, flags & OPEN_IMPORT != 0, staging);
        SCRATCH.check_and_clear(None);
    }
);
