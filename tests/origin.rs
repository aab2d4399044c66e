//! Origin proof through the real binary: every export is signed by its
//! node's member key; the node endpoint serves the signer key, `cluster
//! add` pins it, and `inspect` and `import` then say who signed a bundle:
//! this node, a trusted member, a stranger (still imported: the passphrase
//! is the authorisation) or nobody. A bundle whose manifest was altered
//! after it was signed is refused and changes nothing.

mod common;

use std::path::{Path, PathBuf};

use common::server::Served;
use common::{TempAppliance, assert_exit, assert_unchanged};
use serde_json::{Value, json};

const PASSPHRASE: &str = "correct horse battery staple 77";

fn signer_key(app: &TempAppliance) -> String {
    let key = app.status()["signer_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("tacctl-ed25519:"), "{key}");
    key
}

fn vector(name: &str) -> Vec<u8> {
    let raw = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/bundles")
            .join(name),
    )
    .unwrap();
    let split = raw.windows(2).position(|w| w == b"\n\n").unwrap();
    raw[split + 2..].to_vec()
}

/// `export -c jwt` from `app` with the test passphrase.
fn export(app: &TempAppliance, name: &str) -> PathBuf {
    let path = app.dir().join(name);
    assert_exit(
        app.cmd()
            .args(["export", "-c", "jwt", "--kdf-cost", "test", "-o"])
            .arg(&path)
            .env("TACCTL_PASSPHRASE", PASSPHRASE),
        0,
    );
    path
}

fn inspect_json(app: &TempAppliance, bundle: &Path) -> Value {
    common::json_of(
        app.bare()
            .args(["inspect", "--json"])
            .arg(bundle)
            .env("TACCTL_PASSPHRASE", PASSPHRASE),
    )
}

fn inspect_text(app: &TempAppliance, bundle: &Path) -> String {
    assert_exit(
        app.bare()
            .arg("inspect")
            .arg(bundle)
            .env("TACCTL_PASSPHRASE", PASSPHRASE),
        0,
    )
    .stdout
}

#[test]
fn a_members_bundle_is_reported_as_signed_by_that_trusted_member_once_its_key_is_pinned() {
    let esa1 = TempAppliance::named("esa1", "c1");
    let esa2 = TempAppliance::named("esa2", "c1");
    let esa3 = TempAppliance::named("esa3", "c1");
    let key1 = signer_key(&esa1);
    assert_ne!(key1, signer_key(&esa2));
    let served = Served::start(&esa1.root, &[]);

    // The node endpoint serves the signer key beside the member key.
    let node: Value = common::cluster::block_on(async {
        served
            .client()
            .get(format!("{}/api/v1/cluster/node", served.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(node["signer"], key1.as_str(), "{node}");

    // esa2 adds esa1 and pins its certificate and its signer key.
    let fp = served.fingerprint.clone().unwrap();
    let out = assert_exit(
        esa2.cmd()
            .args(["cluster", "add", "esa1", &served.url, "--fingerprint", &fp]),
        0,
    );
    assert!(
        out.stdout
            .contains(&format!("Its signer key {key1} is pinned")),
        "{}",
        out.stdout
    );
    let cluster = std::fs::read_to_string(esa2.root.join("config/cluster.yaml")).unwrap();
    assert!(cluster.contains("version: 2\n"), "{cluster}");
    assert!(cluster.contains(&format!("signer: {key1}")), "{cluster}");
    let list = common::json_of(esa2.bare().args(["cluster", "list", "--json"]));
    assert_eq!(list[0]["signer"], key1.as_str());
    drop(served);

    let bundle = export(&esa1, "jwt.tacbundle");
    // A passphrase alone, signed: format 3.
    assert_eq!(std::fs::read(&bundle).unwrap()[8], 3);

    // esa1 itself: its own signature.
    let own = inspect_json(&esa1, &bundle);
    assert_eq!(
        own["origin"],
        json!({"signer": key1, "member": null, "this_node": true, "trusted": true})
    );
    assert!(
        inspect_text(&esa1, &bundle).contains(&format!("Signed by:   {key1} (this node)")),
        "{own}"
    );

    // esa2: a trusted member, in inspect, the dry run and the import.
    let theirs = inspect_json(&esa2, &bundle);
    assert_eq!(
        theirs["origin"],
        json!({"signer": key1, "member": "esa1", "this_node": false, "trusted": true})
    );
    let trusted = format!("Signed by: {key1} (member \"esa1\", trusted)");
    let text = inspect_text(&esa2, &bundle);
    assert!(
        text.contains(&format!("Signed by:   {key1} (member \"esa1\", trusted)")),
        "{text}"
    );
    let plan = common::json_of(
        esa2.cmd()
            .args(["import", "--dry-run", "--json"])
            .arg(&bundle)
            .env("TACCTL_PASSPHRASE", PASSPHRASE),
    );
    assert_eq!(plan["origin"]["member"], "esa1");
    assert_eq!(plan["origin"]["trusted"], true);
    let out = assert_exit(
        esa2.cmd()
            .args(["import", "--yes"])
            .arg(&bundle)
            .env("TACCTL_PASSPHRASE", PASSPHRASE),
        0,
    );
    assert!(out.stdout.contains(&trusted), "{}", out.stdout);
    assert_eq!(esa2.status()["jwt_kid"], esa1.status()["jwt_kid"]);

    // esa3 has no such member: not trusted, and imported all the same.
    let stranger = inspect_json(&esa3, &bundle);
    assert_eq!(
        stranger["origin"],
        json!({"signer": key1, "member": null, "this_node": false, "trusted": false})
    );
    let out = assert_exit(
        esa3.cmd()
            .args(["import", "--yes"])
            .arg(&bundle)
            .env("TACCTL_PASSPHRASE", PASSPHRASE),
        0,
    );
    assert!(
        out.stdout.contains(&format!(
            "Signed by: {key1} (not a member of this cluster: not trusted)"
        )),
        "{}",
        out.stdout
    );
    assert_eq!(esa3.status()["jwt_kid"], esa1.status()["jwt_kid"]);
}

#[test]
fn an_unsigned_bundle_says_so_and_an_altered_one_is_refused_and_changes_nothing() {
    let app = TempAppliance::named("esa-target", "fixture-cluster");
    // Written before bundles were signed: opens, signed by nobody.
    let unsigned = app.file("v2.tacbundle", vector("v2-success-jwt-users.bundle"));
    let pass = "vector passphrase 2026";
    let inspected = common::json_of(
        app.bare()
            .args(["inspect", "--json"])
            .arg(&unsigned)
            .env("TACCTL_PASSPHRASE", pass),
    );
    assert_eq!(inspected["origin"], Value::Null);
    let out = assert_exit(
        app.bare()
            .arg("inspect")
            .arg(&unsigned)
            .env("TACCTL_PASSPHRASE", pass),
        0,
    );
    assert!(
        out.stdout.contains("Signed by:   nobody (unsigned bundle)"),
        "{}",
        out.stdout
    );
    let out = assert_exit(
        app.cmd()
            .args(["import", "--dry-run"])
            .arg(&unsigned)
            .env("TACCTL_PASSPHRASE", pass),
        0,
    );
    assert!(
        out.stdout.contains("Signed by: nobody (unsigned bundle)"),
        "{}",
        out.stdout
    );

    // Its manifest altered after it was signed and sealed again by someone
    // who knows the passphrase: refused as a bundle that does not verify,
    // by import and inspect, and nothing changes.
    let altered = app.file(
        "altered.tacbundle",
        vector("v3-origin-manifest-altered.bundle"),
    );
    let before = app.snapshot();
    let out = assert_exit(
        app.cmd()
            .args(["import", "--yes"])
            .arg(&altered)
            .env("TACCTL_PASSPHRASE", pass),
        4,
    );
    assert!(
        out.stderr.contains("origin signature")
            && out.stderr.contains("does not match its manifest")
            && out.stderr.contains("do not import it"),
        "{}",
        out.stderr
    );
    assert_unchanged(&before, &app.snapshot());
    assert_exit(
        app.bare()
            .arg("inspect")
            .arg(&altered)
            .env("TACCTL_PASSPHRASE", pass),
        4,
    );
    // The signed vector imports here, from a signer that is not a member.
    let signed = app.file("signed.tacbundle", vector("v3-origin-success.bundle"));
    let out = assert_exit(
        app.cmd()
            .args(["import", "--yes"])
            .arg(&signed)
            .env("TACCTL_PASSPHRASE", pass),
        0,
    );
    assert!(
        out.stdout
            .contains("(not a member of this cluster: not trusted)"),
        "{}",
        out.stdout
    );
}

/// A format 3 header's checksum made to match its bytes again, as anyone
/// can without a key.
fn fix_checksum_v3(b: &mut [u8]) {
    use sha2::{Digest, Sha256};
    let len = u32::from_be_bytes(b[9..13].try_into().unwrap()) as usize;
    let sum = Sha256::digest(&b[..len - 64]);
    b[len - 64..len - 32].copy_from_slice(&sum);
}

#[test]
fn a_signature_or_signer_altered_without_the_key_is_refused_and_changes_nothing() {
    let esa1 = TempAppliance::named("esa1", "c1");
    let esa2 = TempAppliance::named("esa2", "c1");
    let bundle = std::fs::read(export(&esa1, "jwt.tacbundle")).unwrap();
    // A passphrase alone, signed: the fixed 38 bytes, the passphrase
    // stanza (1 + 77), then the origin stanza: type 3, signer (32),
    // signature (64).
    let at = 38 + 78;
    assert_eq!(bundle[8], 3);
    assert_eq!(bundle[at], 3, "the origin stanza follows the passphrase's");
    for (what, offset) in [("signature", 1 + 32 + 7), ("signer", 1 + 3)] {
        let mut altered = bundle.clone();
        altered[at + offset] ^= 0x01;
        fix_checksum_v3(&mut altered);
        let path = esa2.file(&format!("{what}.tacbundle"), &altered);
        let before = esa2.snapshot();
        let out = assert_exit(
            esa2.cmd()
                .args(["import", "--yes"])
                .arg(&path)
                .env("TACCTL_PASSPHRASE", PASSPHRASE),
            4,
        );
        // The header's MAC covers the stanza: refused before the payload
        // is read. (A flipped signer byte may also leave a point that is
        // no Ed25519 key, refused as damaged when the header is read.)
        assert!(
            out.stderr.contains("header damaged"),
            "{what}: {}",
            out.stderr
        );
        assert_unchanged(&before, &esa2.snapshot());
        assert_exit(
            esa2.bare()
                .arg("inspect")
                .arg(&path)
                .env("TACCTL_PASSPHRASE", PASSPHRASE),
            4,
        );
    }
    // The bundle as exported imports.
    let path = esa2.file("jwt.tacbundle", &bundle);
    assert_exit(
        esa2.cmd()
            .args(["import", "--yes"])
            .arg(&path)
            .env("TACCTL_PASSPHRASE", PASSPHRASE),
        0,
    );
    assert_eq!(esa2.status()["jwt_kid"], esa1.status()["jwt_kid"]);
}

#[test]
fn older_bundles_without_an_origin_stanza_still_import_and_say_unsigned() {
    let pass = "vector passphrase 2026";
    for vector_name in [
        "success-jwt-users.bundle",
        "v2-success-jwt-users.bundle",
        "v3-success-passphrase.bundle",
    ] {
        let app = TempAppliance::named("esa-target", "fixture-cluster");
        let path = app.file("old.tacbundle", vector(vector_name));
        let out = assert_exit(
            app.cmd()
                .args(["import", "--yes"])
                .arg(&path)
                .env("TACCTL_PASSPHRASE", pass),
            0,
        );
        assert!(
            out.stdout.contains("Signed by: nobody (unsigned bundle)"),
            "{vector_name}: {}",
            out.stdout
        );
        let inspected = common::json_of(
            app.bare()
                .args(["inspect", "--json"])
                .arg(&path)
                .env("TACCTL_PASSPHRASE", pass),
        );
        assert_eq!(inspected["origin"], Value::Null, "{vector_name}");
    }
}
