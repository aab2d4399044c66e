//! Failures after an import's commit point: the journal's directory that
//! cannot be synced, a rename that fails while the change is applied, a
//! history that cannot take the record. Once the journal is written the
//! import is applied: each must be reported as applied (exit 0) with a
//! warning naming what failed, and the next command must find the whole new
//! configuration and exactly one record of it. The failures are injected
//! with `TACCTL_TEST_CRASH_AT=fail:POINT` (see `appliance::txn`).

mod common;

use common::{ADMIN, ADMIN_PASSWORD, TempAppliance};

const PASSPHRASE: &str = "correct horse battery staple 42";

/// esa1 with a new JWT secret exported as a jwt bundle; esa2 to import it.
fn setup() -> (TempAppliance, TempAppliance, std::path::PathBuf) {
    let esa1 = TempAppliance::named("esa1", "c1");
    let esa2 = TempAppliance::named("esa2", "c1");
    let bundle = esa1.dir().join("jwt.tacbundle");
    esa1.cmd()
        .args(["export", "-c", "jwt", "--kdf-cost", "test", "-o"])
        .arg(&bundle)
        .env("TACCTL_PASSPHRASE", PASSPHRASE)
        .assert()
        .success();
    (esa1, esa2, bundle)
}

/// Imports `bundle` on `node` with the failure `fail` injected; its
/// standard output and error, after checking that it succeeded.
fn import_failing(node: &TempAppliance, bundle: &std::path::Path, fail: &str) -> (String, String) {
    let out = node
        .cmd()
        .arg("import")
        .arg(bundle)
        .arg("--yes")
        .env("TACCTL_PASSPHRASE", PASSPHRASE)
        .env("TACCTL_TEST_CRASH_AT", format!("fail:{fail}"))
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{fail}: an import past its commit point is applied\n{stdout}{stderr}"
    );
    assert!(stdout.contains("Imported: applied"), "{fail}: {stdout}");
    (stdout, stderr)
}

/// The new configuration is in force on `esa2`, and its history holds one
/// applied import.
fn applied_once(esa1: &TempAppliance, esa2: &TempAppliance) {
    assert_eq!(esa1.jwt_show()["kid"], esa2.jwt_show()["kid"]);
    let token = esa1.token(ADMIN, ADMIN_PASSWORD);
    esa2.verify(&token);
    assert!(!esa2.root.join("txn").exists(), "the change was finished");
    let history = common::json_of(esa2.bare().args(["history", "--json"]));
    let applied: Vec<_> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "import" && r["outcome"] == "applied")
        .collect();
    assert_eq!(applied.len(), 1, "{history}");
}

#[test]
fn a_journal_whose_directory_cannot_be_synced_is_applied_with_a_warning() {
    let (esa1, esa2, bundle) = setup();
    let (stdout, _) = import_failing(&esa2, &bundle, "journal-dir-sync");
    assert!(
        stdout.contains("warning: the change is applied, but making its journal durable failed"),
        "{stdout}"
    );
    applied_once(&esa1, &esa2);
}

#[test]
fn a_rename_that_fails_after_the_commit_point_is_finished_by_the_next_command() {
    let (esa1, esa2, bundle) = setup();
    let (stdout, _) = import_failing(&esa2, &bundle, "apply");
    assert!(
        stdout.contains("the next tacctl command finishes it"),
        "{stdout}"
    );
    assert!(esa2.root.join("txn/journal.yaml").exists());
    // The next command, any command, finishes it and says so.
    let out = esa2.bare().arg("status").output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("note: a change interrupted after its commit point was finished"),
        "{stderr}"
    );
    applied_once(&esa1, &esa2);
}

#[test]
fn a_history_that_cannot_take_the_record_does_not_undo_or_block_the_import() {
    let (esa1, esa2, bundle) = setup();
    let (stdout, _) = import_failing(&esa2, &bundle, "history");
    assert!(
        stdout.contains("its history record could not be added"),
        "{stdout}"
    );
    assert_eq!(esa1.jwt_show()["kid"], esa2.jwt_show()["kid"]);
    assert!(!esa2.root.join("txn").exists());
    esa2.bare().arg("status").assert().success();
}

#[test]
fn a_history_cut_short_is_named_and_the_import_still_applies() {
    let (esa1, esa2, bundle) = setup();
    // A first import writes the history, which is then cut short.
    let users = esa1.dir().join("users.tacbundle");
    esa1.cmd()
        .args(["export", "-c", "users", "--kdf-cost", "test", "-o"])
        .arg(&users)
        .env("TACCTL_PASSPHRASE", PASSPHRASE)
        .assert()
        .success();
    esa2.add_user("bob", "operator", "bob-Pa55word-1", &[]);
    esa2.cmd()
        .arg("import")
        .arg(&users)
        .arg("--yes")
        .env("TACCTL_PASSPHRASE", PASSPHRASE)
        .assert()
        .success();
    let path = esa2.root.join("history.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() - 10]).unwrap();
    let out = esa2
        .cmd()
        .arg("import")
        .arg(&bundle)
        .arg("--yes")
        .env("TACCTL_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("history.yaml is not whole"), "{stdout}");
    assert_eq!(esa1.jwt_show()["kid"], esa2.jwt_show()["kid"]);
    // Reading the history says what is wrong with it.
    let out = esa2.bare().arg("history").output().unwrap();
    assert_eq!(out.status.code(), Some(9));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("history.yaml") && stderr.contains("not whole"),
        "{stderr}"
    );
}
