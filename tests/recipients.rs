//! Bundles encrypted to recipients through the real binary: a member's key
//! (`export --recipient`, imported there with no passphrase and refused
//! elsewhere, naming the recipients), a recovery identity kept offline
//! (`keygen`, `--identity-file`), a passphrase beside recipients, the
//! member key an appliance made before member keys gets, and refusals
//! that change nothing.

mod common;

use std::path::{Path, PathBuf};

use common::{TempAppliance, assert_exit, assert_unchanged, mode};

const PASSPHRASE: &str = "correct horse battery staple 99";

fn member_key(app: &TempAppliance) -> String {
    let status = app.status();
    let key = status["member_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("tacctl-x25519:"), "{status}");
    key
}

/// Exports `-c jwt` from `app` to `name` in its directory with `extra`
/// flags; no passphrase is available unless `extra` asks for one.
fn export(app: &TempAppliance, name: &str, extra: &[&str]) -> PathBuf {
    let path = app.dir().join(name);
    let mut cmd = app.cmd();
    cmd.args(["export", "-c", "jwt", "--kdf-cost", "test", "-o"])
        .arg(&path)
        .args(extra);
    assert_exit(&mut cmd, 0);
    path
}

fn import(app: &TempAppliance, bundle: &Path, extra: &[&str], code: i32) -> common::Ran {
    let mut cmd = app.cmd();
    cmd.arg("import").arg(bundle).arg("--yes").args(extra);
    assert_exit(&mut cmd, code)
}

fn kid(app: &TempAppliance) -> String {
    app.status()["jwt_kid"].as_str().unwrap().to_owned()
}

#[test]
fn a_bundle_for_a_members_key_imports_there_without_a_passphrase_and_nowhere_else() {
    let esa1 = TempAppliance::named("esa1", "c1");
    let esa2 = TempAppliance::named("esa2", "c1");
    let esa3 = TempAppliance::named("esa3", "c1");
    let key2 = member_key(&esa2);
    assert_ne!(key2, member_key(&esa1));
    // No passphrase anywhere: exporting to a recipient asks for none.
    let bundle = export(&esa1, "to-esa2.tacbundle", &["--recipient", &key2]);
    assert_eq!(std::fs::read(&bundle).unwrap()[8], 3, "format 3");
    assert_eq!(mode(&bundle), 0o600);

    // esa2 inspects and imports it with its own member key.
    let inspect = common::json_of(esa2.cmd().args(["inspect", "--json"]).arg(&bundle));
    assert_eq!(inspect["bundle_format_version"], 3);
    assert_eq!(inspect["recipients"], serde_json::json!([key2]));
    assert_eq!(inspect["kdf"], serde_json::Value::Null);
    import(&esa2, &bundle, &[], 0);
    assert_eq!(kid(&esa2), kid(&esa1));

    // esa3 is not a recipient: refused before anything is asked, naming
    // the recipients and its own key; nothing changes.
    let before = esa3.snapshot();
    let out = import(&esa3, &bundle, &[], 3);
    assert!(out.stderr.contains("is not encrypted to"), "{}", out.stderr);
    assert!(out.stderr.contains(&key2), "{}", out.stderr);
    assert!(out.stderr.contains(&member_key(&esa3)), "{}", out.stderr);
    assert_unchanged(&before, &esa3.snapshot());
    // A passphrase does not help either: the bundle has none.
    let mut cmd = esa3.cmd();
    cmd.args(["inspect"])
        .arg(&bundle)
        .env("TACCTL_ROOT", esa3.dir().join("no-appliance-here"))
        .args(["--root"])
        .arg(esa3.dir().join("no-appliance-here"))
        .env("TACCTL_PASSPHRASE", PASSPHRASE);
    let out = assert_exit(&mut cmd, 3);
    assert!(out.stderr.contains("has no passphrase"), "{}", out.stderr);
    assert!(out.stderr.contains(&key2), "{}", out.stderr);
}

#[test]
fn a_recovery_identity_opens_bundles_made_for_it_and_a_passphrase_can_go_beside() {
    let esa1 = TempAppliance::named("esa1", "c1");
    let esa2 = TempAppliance::named("esa2", "c1");
    let esa3 = TempAppliance::named("esa3", "c1");
    let pass_file = esa1.file("identity.pass", "identity passphrase 2026 long\n");
    let id_file = esa1.dir().join("recovery.id");
    let mut keygen = common::tacctl();
    keygen
        .args(["keygen", "--kdf-cost", "test", "--passphrase-file"])
        .arg(&pass_file)
        .arg("-o")
        .arg(&id_file);
    let out = assert_exit(&mut keygen, 0);
    let recovery = out.stdout.trim().to_owned();
    assert!(recovery.starts_with("tacctl-x25519:"), "{}", out.stdout);
    assert_eq!(mode(&id_file), 0o600);
    let text = std::fs::read_to_string(&id_file).unwrap();
    assert!(text.contains(&recovery));
    // Never overwritten.
    let out = assert_exit(&mut keygen, 2);
    assert!(out.stderr.contains("exists"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&id_file).unwrap(), text);

    let key2 = member_key(&esa2);
    let bundle = {
        let path = esa1.dir().join("three-ways.tacbundle");
        let mut cmd = esa1.cmd();
        cmd.args(["export", "-c", "jwt", "--kdf-cost", "test", "-o"])
            .arg(&path)
            .args(["--recipient", &format!("{key2},{recovery}")])
            .arg("--with-passphrase")
            .env("TACCTL_PASSPHRASE", PASSPHRASE);
        assert_exit(&mut cmd, 0);
        path
    };
    let out = assert_exit(
        esa1.cmd()
            .arg("inspect")
            .arg(&bundle)
            .env("TACCTL_PASSPHRASE", PASSPHRASE),
        0,
    );
    assert!(out.stdout.contains(&key2), "{}", out.stdout);
    assert!(out.stdout.contains(&recovery), "{}", out.stdout);
    assert!(out.stdout.contains("Argon2id"), "{}", out.stdout);

    // The identity with a wrong passphrase: refused as credentials, nothing changes.
    let wrong = esa3.file("wrong.pass", "not the identity passphrase\n");
    let before = esa3.snapshot();
    let out = import(
        &esa3,
        &bundle,
        &[
            "--identity-file",
            id_file.to_str().unwrap(),
            "--passphrase-file",
            wrong.to_str().unwrap(),
        ],
        3,
    );
    assert!(out.stderr.contains("wrong passphrase"), "{}", out.stderr);
    assert_unchanged(&before, &esa3.snapshot());
    // With the right one, esa3 (not a recipient) imports through the recovery identity.
    import(
        &esa3,
        &bundle,
        &[
            "--identity-file",
            id_file.to_str().unwrap(),
            "--passphrase-file",
            pass_file.to_str().unwrap(),
        ],
        0,
    );
    assert_eq!(kid(&esa3), kid(&esa1));
    // esa2 with its member key, and a fourth way: the bundle's passphrase.
    import(&esa2, &bundle, &[], 0);
    assert_eq!(kid(&esa2), kid(&esa1));
    let esa4 = TempAppliance::named("esa4", "c1");
    let mut cmd = esa4.cmd();
    cmd.arg("import")
        .arg(&bundle)
        .arg("--yes")
        .env("TACCTL_PASSPHRASE", PASSPHRASE);
    assert_exit(&mut cmd, 0);
    assert_eq!(kid(&esa4), kid(&esa1));
}

#[test]
fn recipients_that_are_not_keys_are_refused_before_anything_is_written() {
    let esa1 = TempAppliance::named("esa1", "c1");
    let before = esa1.snapshot();
    for (args, says) in [
        (
            vec!["--recipient", "tacctl-x25519:short"],
            "is not a tacctl recipient",
        ),
        (vec!["--recipient", "age1qqqq"], "is not a tacctl recipient"),
        (vec!["--with-passphrase"], "goes with --recipient"),
        (
            // The all-zero point: of low order, it shares no secret.
            vec![
                "--recipient",
                "tacctl-x25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            ],
            "low order",
        ),
    ] {
        let out_path = esa1.dir().join("never.tacbundle");
        let mut cmd = esa1.cmd();
        cmd.args(["export", "-c", "jwt", "--kdf-cost", "test", "-o"])
            .arg(&out_path)
            .args(&args);
        let out = assert_exit(&mut cmd, 2);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
        assert!(!out_path.exists(), "{args:?}");
    }
    assert_unchanged(&before, &esa1.snapshot());
}

#[test]
fn a_damaged_recipient_bundle_is_refused_and_changes_nothing() {
    let esa1 = TempAppliance::named("esa1", "c1");
    let esa2 = TempAppliance::named("esa2", "c1");
    let key2 = member_key(&esa2);
    let bundle = export(&esa1, "b.tacbundle", &["--recipient", &key2]);
    let good = std::fs::read(&bundle).unwrap();
    let len = u32::from_be_bytes(good[9..13].try_into().unwrap()) as usize;
    let before = esa2.snapshot();
    // A byte of the header (the stanza, the checksum, the MAC), of the
    // payload, and the file cut inside the header.
    for (i, cut) in [
        (40, None),
        (len - 40, None),
        (len - 1, None),
        (len + 5, None),
        (0, Some(60)),
    ] {
        let mut b = good.clone();
        match cut {
            Some(n) => b.truncate(n),
            None => b[i] ^= 0x20,
        }
        let damaged = esa2.file("damaged.tacbundle", &b);
        let out = import(&esa2, &damaged, &[], 4);
        assert!(
            out.stderr.contains("damaged") || out.stderr.contains("ends inside"),
            "byte {i}, cut {cut:?}: {}",
            out.stderr
        );
        assert_unchanged(&before, &esa2.snapshot());
    }
}

#[test]
fn an_appliance_made_before_member_keys_gets_one_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("esa");
    common::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/appliances/v1"),
        &root,
    );
    assert!(!root.join("member-key.yaml").exists());
    let status = |json: bool| {
        let mut cmd = common::tacctl();
        cmd.arg("status").arg("--root").arg(&root);
        if json {
            cmd.arg("--json");
        }
        assert_exit(&mut cmd, 0).stdout
    };
    let text = status(false);
    assert!(text.contains("Member key:  tacctl-x25519:"), "{text}");
    assert_eq!(mode(&root.join("member-key.yaml")), 0o600);
    let stored = std::fs::read_to_string(root.join("member-key.yaml")).unwrap();
    let first: serde_json::Value = serde_json::from_str(&status(true)).unwrap();
    assert!(text.contains(first["member_key"].as_str().unwrap()));
    assert_eq!(
        std::fs::read_to_string(root.join("member-key.yaml")).unwrap(),
        stored,
        "made once"
    );
    // The secret half is sealed: the stored file holds only the public key
    // in the clear.
    assert!(stored.contains("secret_sealed: v1."), "{stored}");
}
