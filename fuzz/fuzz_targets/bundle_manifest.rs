//! `bundle::manifest::Manifest::parse` on arbitrary text and, when it
//! parses, `check_files` against a list of extracted files derived from the
//! manifest itself and the input.
//!
//! The first 8 bytes say, one bit per listed file (the first 15), whether
//! its extracted copy is left out (bits 0..15), has another size (16..31)
//! or another checksum (32..47), or another mode (48..63); the rest is the
//! manifest's text. Without such a change, and when no path is listed twice
//! and no listed path is `manifest.yaml`, the check must pass; with one,
//! it must fail. Bit 63 adds an unlisted file, which must fail it too.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use tacctl::bundle::archive::{Extracted, Extraction};
use tacctl::bundle::manifest::{MANIFEST_PATH, Manifest};

fuzz_target!(|data: &[u8]| {
    let Some((bits, text)) = data.split_first_chunk::<8>() else {
        return;
    };
    let bits = u64::from_le_bytes(*bits);
    let Ok(m) = Manifest::parse(&String::from_utf8_lossy(text)) else {
        return;
    };
    let _ = (m.files().count(), m.component("jwt"));
    let mut present = vec![Extracted {
        path: MANIFEST_PATH.to_owned(),
        mode: 0o600,
        size: 1,
        sha256: String::new(),
        data: None,
    }];
    let mut changed = false;
    for (i, f) in m.files().enumerate() {
        let bit = |k: usize| i < 15 && bits >> (16 * k + i) & 1 != 0;
        if bit(0) {
            changed = true;
            continue;
        }
        let mut e = Extracted {
            path: f.path.clone(),
            mode: f.mode.unwrap_or(0o600),
            size: f.size,
            sha256: f.sha256.clone(),
            data: None,
        };
        if bit(1) {
            e.size ^= 1;
            changed = true;
        }
        if bit(2) {
            e.sha256.push('0');
            changed = true;
        }
        if bit(3) && f.mode.is_some() {
            e.mode ^= 1;
            changed = true;
        }
        present.push(e);
    }
    let mut unique = HashSet::new();
    let plain = m
        .files()
        .all(|f| f.path != MANIFEST_PATH && unique.insert(f.path.as_str()));
    if bits >> 63 != 0 {
        let mut extra = String::from("unlisted");
        while unique.contains(extra.as_str()) {
            extra.push('_');
        }
        present.push(Extracted {
            path: extra,
            mode: 0o600,
            size: 0,
            sha256: String::new(),
            data: None,
        });
        changed = true;
    }
    // The directories the manifest lists, present as entries.
    let dirs = m
        .components
        .iter()
        .flat_map(|c| c.dirs.iter())
        .map(|d| tacctl::bundle::archive::ExtractedDir {
            path: d.clone(),
            mode: 0o700,
        })
        .collect();
    let checked = m.check_files(&Extraction {
        files: present,
        dirs,
    });
    // A manifest that is whole on its own accepts exactly its own files.
    let plain = plain && m.check().is_ok();
    if plain {
        assert_eq!(checked.is_ok(), !changed, "{checked:?}");
    }
});
