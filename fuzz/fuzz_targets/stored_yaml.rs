//! Every stored YAML file type, parsed from arbitrary text: the component
//! models through `component::parse` (typed, unknown fields refused, then
//! validated) and the appliance's transaction files (`Journal`, `History`,
//! `SnapshotMeta`) through yaml_serde, as the appliance reads them.
//!
//! The first byte chooses the type (`tacctl_fuzz::STORED`, modulo its
//! length); the rest is the text. What parses must render and parse back
//! to the same value: what tacctl writes, it must read again.
#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tacctl::appliance::{History, Journal, SnapshotMeta};
use tacctl::component::{self, Stored};
use tacctl_fuzz::STORED;

fn stored<T: Stored + PartialEq + Debug>(text: &str) {
    let Ok(v) = component::parse::<T>(text, T::FILE) else {
        return;
    };
    let again = component::render(&v).expect("a parsed file renders");
    let back = component::parse::<T>(&again, T::FILE)
        .unwrap_or_else(|e| panic!("{} does not read back: {e}\n{again}", T::FILE));
    // Render writes the oldest version that can say what the value holds,
    // so a file that claims a newer version than it needs reads back at the
    // older one; everything else must survive, and a second render is the
    // same text.
    assert_eq!(back.version(), v.version_needed(), "{}: {again}", T::FILE);
    let twice = component::render(&back).expect("a rendered file renders");
    assert_eq!(*again, *twice, "{} is not stable through render", T::FILE);
    if v.version() == v.version_needed() {
        assert_eq!(v, back, "{} changed through render:\n{again}", T::FILE);
    }
}

/// The transaction files have no validation and not all compare: they
/// must render to the same text twice.
fn plain<T: Serialize + DeserializeOwned>(text: &str) {
    let Ok(v) = yaml_serde::from_str::<T>(text) else {
        return;
    };
    let again = yaml_serde::to_string(&v).expect("a parsed file renders");
    let back: T =
        yaml_serde::from_str(&again).unwrap_or_else(|e| panic!("does not read back: {e}\n{again}"));
    assert_eq!(yaml_serde::to_string(&back).expect("renders"), again);
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, text)) = data.split_first() else {
        return;
    };
    let text = &*String::from_utf8_lossy(text);
    use tacctl::component as c;
    match usize::from(kind) % STORED.len() {
        0 => stored::<c::Node>(text),
        1 => stored::<c::JwtSettings>(text),
        2 => stored::<c::Users>(text),
        3 => stored::<c::LdapSettings>(text),
        4 => stored::<c::Network>(text),
        5 => stored::<c::TlsSettings>(text),
        6 => stored::<c::Members>(text),
        7 => stored::<c::JwtExport>(text),
        8 => stored::<c::LdapExport>(text),
        9 => stored::<c::TlsExport>(text),
        10 => plain::<Journal>(text),
        11 => plain::<History>(text),
        12 => plain::<SnapshotMeta>(text),
        13 => stored::<c::JwtTrust>(text),
        14 => stored::<c::MemberKey>(text),
        _ => stored::<c::ClusterStore>(text),
    }
});
