//! `bundle::header::open` on arbitrary bytes with a fixed passphrase, then
//! the payload it opens read to its end.
//!
//! First byte, bit 0: rewrite the header's checksum to match its bytes
//! first, so that mutations of the KDF parameters, salt, nonce prefix,
//! wrapped key and MAC reach the key derivation and what follows it instead
//! of stopping at "header damaged". Inputs whose header would make the
//! reader run Argon2id with more than `KDF_CAP` (64 KiB, 2 passes, 2
//! lanes) are skipped: the reader accepts up to 1 GiB, 10 passes and 8
//! lanes, which would make executions slow and their memory unbounded.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use tacctl::bundle::header;
use tacctl_fuzz::{fix_checksum, kdf_beyond_cap, passphrase};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, bundle)) = data.split_first() else {
        return;
    };
    let mut bundle = bundle.to_vec();
    if flags & 1 != 0 {
        fix_checksum(&mut bundle);
    }
    if kdf_beyond_cap(&bundle) {
        return;
    }
    if let Ok((info, mut payload)) = header::open(&bundle[..], &passphrase()) {
        assert!((1..=header::NEWEST_VERSION).contains(&info.version));
        let mut out = Vec::new();
        let _ = payload.read_to_end(&mut out);
    }
});
