//! The format 3 header (recipient stanzas) on arbitrary bytes:
//! `bundle::header::read_info`, then `bundle::header::open` with the fixed
//! identity (`tacctl_fuzz::identity`), and the payload it opens read to its
//! end. No passphrase is tried, so no Argon2id runs: the passphrase
//! stanza's parsing and limits are still reached through `read_info`. An
//! origin stanza's signature is checked over the payload's bytes, as the
//! reader checks it over the manifest: it must not panic, and it verifies
//! only for the key it names.
//!
//! First byte, bit 0: rewrite the header's checksum to match its bytes
//! first (`tacctl_fuzz::fix_checksum_v3`), so that mutations of the length,
//! count and stanzas reach the parser and the key unwrapping instead of
//! stopping at "header damaged".
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use tacctl::bundle::header;
use tacctl_fuzz::{fix_checksum_v3, identity};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, bundle)) = data.split_first() else {
        return;
    };
    let mut bundle = bundle.to_vec();
    if flags & 1 != 0 {
        fix_checksum_v3(&mut bundle);
    }
    let info = header::read_info(&mut &bundle[..]);
    let id = identity();
    if let Ok((opened, mut payload)) = header::open(&bundle[..], &id) {
        // What opens was read the same way without a key.
        let info = info.expect("a header that opens reads without a key");
        assert_eq!(info, opened);
        assert_eq!(opened.version, header::NEWEST_VERSION);
        assert!(opened.recipients.contains(&id.recipient()));
        let mut out = Vec::new();
        let _ = payload.read_to_end(&mut out);
        if let Some(claim) = &opened.origin {
            if let Ok(signer) = claim.verify(&out) {
                assert_eq!(signer, claim.signer);
            }
        }
    }
});
