//! Data written by an older tacctl keeps working: the committed appliance
//! root in fixtures/appliances/v1 opens, logs users in and verifies the token
//! it issued, with the library and through the binary.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use tacctl::jwt::Claims;
use tacctl::ops::Ops;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/appliances")
}

fn token_and_claims() -> (String, Claims) {
    let token = std::fs::read_to_string(fixture().join("v1.token")).unwrap();
    let claims: Claims =
        serde_json::from_str(&std::fs::read_to_string(fixture().join("v1.claims.json")).unwrap())
            .unwrap();
    (token.trim().to_owned(), claims)
}

#[test]
fn a_version_1_root_still_verifies_its_token_and_logs_users_in() {
    tacctl::jwt::ensure_provider().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("esa");
    common::copy_tree(&fixture().join("v1"), &root);
    let ops = Ops::open(&root, Duration::from_secs(5)).unwrap();
    let (token, claims) = token_and_claims();
    let now = claims.iat + 60;
    assert_eq!(ops.verify(&token, now).unwrap(), claims);
    let view = ops.jwt_view(now).unwrap();
    assert_eq!(view.algorithm, tacctl::jwt::Algorithm::HS512);
    assert_eq!(view.previous_keys.len(), 1);
    let issued = ops
        .login("alice", &SecretString::from("fixture-alice-pw"), now)
        .unwrap();
    assert_eq!(issued.claims.role, "viewer");
    assert_eq!(issued.claims.iss, "fixture-cluster");
    ops.require_admin("admin", &SecretString::from("fixture-admin-pw"))
        .unwrap();
}

#[test]
fn a_version_1_root_opens_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("esa");
    common::copy_tree(&fixture().join("v1"), &root);
    let out = common::assert_exit(
        assert_cmd::Command::cargo_bin("tacctl")
            .unwrap()
            .args(["status", "--json", "--root"])
            .arg(&root)
            .timeout(Duration::from_secs(30)),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["cluster_id"], "fixture-cluster");
    assert_eq!(v["name"], "esa-fixture");
}
