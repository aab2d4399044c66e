//! Every `tacctl` command and its errors, through the real binary: what it
//! prints, the exit code it ends with, and, for a command that fails, that
//! the appliance root is byte-for-byte as it was.
//!
//! Exit codes: 0 ok, 1 other, 2 usage, 3 authentication failed, 4 token
//! verification or refresh failed, 5 not found, 6 conflict (exists or locked).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use predicates::prelude::*;

use common::{
    ADMIN, ADMIN_PASSWORD, CLUSTER_ID, NODE_NAME, TempAppliance, assert_exit, assert_no_secret,
    assert_unchanged, jws_header, mode, snapshot, tacctl, walk, write_private,
};

const ALICE_PW: &str = "alice-Pa55-word-xyz";
const BOB_PW: &str = "bob-Pa55-word-uvw";

/// `n` bytes that are not all the same, different for each `seed`.
fn secret_bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed))
        .collect()
}

// ---------------------------------------------------------------- init

#[test]
fn init_creates_a_private_tree_0700_dirs_and_0600_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("esa1");
    let pw = dir.path().join("pw");
    write_private(&pw, ADMIN_PASSWORD);
    tacctl()
        .arg("init")
        .arg("--root")
        .arg(&root)
        .args(["--name", "esa1", "--cluster-id", "c1"])
        .arg("--admin-password-file")
        .arg(&pw)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Created appliance esa1"))
        .stdout(predicate::str::contains("in cluster c1"));

    assert_eq!(mode(&root), 0o700, "the root itself");
    let mut seen = Vec::new();
    walk(&root, &mut |path, meta| {
        let rel = path.strip_prefix(&root).unwrap().display().to_string();
        let want = if meta.is_dir() { 0o700 } else { 0o600 };
        assert!(
            meta.is_dir() || meta.is_file(),
            "{rel} is neither a file nor a directory"
        );
        assert_eq!(mode(path), want, "mode of {rel}");
        seen.push(rel);
    });
    // At least the documented layout; whatever else init makes obeys the modes above.
    for want in [
        ".lock",
        "appliance.yaml",
        "config",
        "config/jwt.yaml",
        "config/users.yaml",
        "master.key",
    ] {
        assert!(seen.iter().any(|s| s == want), "{want} missing: {seen:?}");
    }
    assert!(
        !seen.iter().any(|s| s.contains(".tmp-")),
        "temporary files left: {seen:?}"
    );
    // Nothing but the root and the password file beside it: no staging left.
    let mut beside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    beside.sort();
    assert_eq!(beside, ["esa1", "pw"]);
}

#[test]
fn init_into_an_existing_empty_directory_makes_it_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("esa1");
    std::fs::create_dir(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    tacctl()
        .arg("init")
        .arg("--root")
        .arg(&root)
        .args(["--name", "esa1"])
        .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .assert()
        .code(0);
    assert_eq!(mode(&root), 0o700);
    assert!(root.join("appliance.yaml").is_file());
}

#[test]
fn init_on_an_existing_appliance_exits_6_and_changes_nothing() {
    let app = TempAppliance::new();
    let before = snapshot(app.dir());
    app.init_cmd()
        .assert()
        .code(6)
        .stdout("")
        .stderr(predicate::str::contains("already an appliance"))
        .stderr(predicate::str::contains("nothing was changed"));
    assert_unchanged(&before, &snapshot(app.dir()));
}

#[test]
fn init_into_a_non_empty_directory_that_is_no_appliance_exits_6() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("notes.txt"), "keep me").unwrap();
    let before = snapshot(dir.path());
    tacctl()
        .arg("init")
        .arg("--root")
        .arg(&root)
        .args(["--name", "esa1"])
        .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .assert()
        .code(6)
        .stderr(predicate::str::contains("not empty"));
    assert_unchanged(&before, &snapshot(dir.path()));
}

#[test]
fn init_refuses_bad_names_and_weak_passwords_with_exit_2_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("esa1");
    for (args, pw, msg) in [
        (["--name", "bad name"], ADMIN_PASSWORD, "--name"),
        (["--cluster-id", "c/1"], ADMIN_PASSWORD, "--cluster-id"),
        (["--admin-user", "a/b"], ADMIN_PASSWORD, "--admin-user"),
        (["--name", "esa1"], "short", "too short"),
    ] {
        tacctl()
            .arg("init")
            .arg("--root")
            .arg(&root)
            .args(args)
            .env("TACCTL_ADMIN_PASSWORD", pw)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(msg));
        assert!(!root.exists(), "{args:?} created the root");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

// ---------------------------------------------------------------- status

#[test]
fn status_prints_the_node_and_status_json_has_its_fields() {
    let app = TempAppliance::new();
    let v = app.status();
    assert_eq!(v["cluster_id"], CLUSTER_ID);
    assert_eq!(v["name"], NODE_NAME);
    assert_eq!(v["algorithm"], "HS256");
    let node_id = v["node_id"].as_str().unwrap();
    assert_eq!(node_id.len(), 36, "a UUID: {node_id}");
    let kid = v["jwt_kid"].as_str().unwrap();
    assert_eq!(kid.len(), 22, "a 128-bit base64url fingerprint: {kid}");
    assert!(app.read("appliance.yaml").contains(node_id));

    app.bare()
        .arg("status")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Node:        esa1"))
        .stdout(predicate::str::contains(format!("Node id:     {node_id}")))
        .stdout(predicate::str::contains("Cluster id:  c1"))
        .stdout(predicate::str::contains(format!(
            "JWT key:     {kid} (HS256)"
        )));
}

#[test]
fn a_missing_appliance_exits_5_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nowhere");
    let commands: [&[&str]; 8] = [
        &["status"],
        &["jwt", "show"],
        &["jwt", "set-expiry", "5"],
        &["user", "list"],
        &["user", "remove", "bob"],
        &["token", "issue", "--user", "admin"],
        &["token", "verify", "a.b.c"],
        &["token", "refresh", "a.b.c"],
    ];
    for args in commands {
        tacctl()
            .arg("--root")
            .arg(&root)
            .args(args)
            .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("TACCTL_PASSWORD", ADMIN_PASSWORD)
            .assert()
            .code(5)
            .stdout("")
            .stderr(predicate::str::contains("is not a tacctl appliance"));
    }
    assert!(!root.exists());
}

#[test]
fn tacctl_root_from_the_environment_is_used() {
    let app = TempAppliance::new();
    let v = common::json_of(
        tacctl()
            .args(["status", "--json"])
            .env("TACCTL_ROOT", &app.root),
    );
    assert_eq!(v["name"], NODE_NAME);
}

#[test]
fn command_line_mistakes_exit_2() {
    let app = TempAppliance::new();
    let before = app.snapshot();
    let commands: [&[&str]; 7] = [
        &[],
        &["frobnicate"],
        &["jwt"],
        &["jwt", "set-expiry", "soon"],
        &["jwt", "set-expiry", "-3"],
        &["user", "add", "carol", "--role", "king"],
        &["jwt", "set-secret", "--generate", "--secret-file", "x"],
    ];
    for args in commands {
        app.cmd().args(args).assert().code(2);
    }
    assert_unchanged(&before, &app.snapshot());
}

// ---------------------------------------------------------------- jwt show

#[test]
fn jwt_show_lists_the_settings_and_never_the_secret() {
    let app = TempAppliance::new();
    let secret = secret_bytes(64, 11);
    let f = app.file("secret", &secret);
    app.cmd()
        .args(["jwt", "set-secret", "--secret-file"])
        .arg(&f)
        .assert()
        .code(0);

    let v = app.jwt_show();
    assert_eq!(v["algorithm"], "HS256");
    assert_eq!(v["expiry_value"], 30);
    assert_eq!(v["expiry_unit"], "minutes");
    assert_eq!(v["expiry_seconds"], 1800);
    assert_eq!(v["max_session_seconds"], 43200);
    assert_eq!(v["kid"], app.status()["jwt_kid"]);
    assert_eq!(v["previous_keys"].as_array().unwrap().len(), 1);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    for k in &keys {
        assert!(
            !k.contains("secret") && !k.contains("sealed"),
            "jwt show --json has a field {k:?}"
        );
    }

    let json = assert_exit(app.cmd().args(["jwt", "show", "--json"]), 0);
    let text = assert_exit(app.cmd().args(["jwt", "show"]), 0);
    for out in [&json, &text] {
        assert_no_secret("jwt show", &out.output.stdout, "JWT secret", &secret);
        assert_no_secret("jwt show", &out.output.stderr, "JWT secret", &secret);
    }
    let text = text.stdout;
    assert!(text.contains("Algorithm:     HS256"), "{text}");
    assert!(
        text.contains("Token expiry:  30 minute(s) (1800 s)"),
        "{text}"
    );
    assert!(text.contains("Max session:   12h (43200 s)"), "{text}");
    assert!(text.contains(&format!("Active key:    {}", v["kid"].as_str().unwrap())));
    assert!(text.contains("Previous key:  "), "{text}");
}

// ---------------------------------------------------------------- root credentials

#[test]
fn a_wrong_admin_password_exits_3_and_changes_nothing() {
    let app = TempAppliance::new();
    let before = app.snapshot();
    let commands: [&[&str]; 9] = [
        &["jwt", "show"],
        &["jwt", "set-algorithm", "HS512"],
        &["jwt", "set-secret", "--generate"],
        &["jwt", "set-expiry", "5"],
        &["jwt", "set-expiry-unit", "hours"],
        &["jwt", "set-max-session", "2h"],
        &["user", "add", "bob"],
        &["user", "passwd", "admin"],
        &["user", "remove", "admin"],
    ];
    for args in commands {
        let out = assert_exit(
            app.bare()
                .args(args)
                .env("TACCTL_ADMIN_PASSWORD", "not-the-password")
                .env("TACCTL_PASSWORD", BOB_PW),
            3,
        );
        assert_eq!(out.stdout, "");
        assert!(
            out.stderr
                .contains("authentication failed: wrong user name or password"),
            "{}",
            out.stderr
        );
        assert!(!out.stderr.contains("not-the-password"));
        assert_unchanged(&before, &app.snapshot());
    }
    // A wrong password from a file, and an unknown administrator name.
    let wrong = app.file("wrong.pw", "not-the-password\n");
    app.bare()
        .args(["jwt", "set-expiry", "5", "--admin-password-file"])
        .arg(&wrong)
        .assert()
        .code(3);
    app.cmd()
        .args(["jwt", "set-expiry", "5", "--admin-user", "root"])
        .assert()
        .code(3);
    app.cmd()
        .args(["jwt", "set-expiry", "5"])
        .env("TACCTL_ADMIN_USER", "root")
        .assert()
        .code(3);
    assert_unchanged(&before, &app.snapshot());
}

#[test]
fn the_admin_password_is_read_from_a_file_with_its_newline_stripped() {
    let app = TempAppliance::new();
    app.bare()
        .args(["jwt", "set-expiry", "9", "--admin-password-file"])
        .arg(&app.admin_password_file)
        .assert()
        .code(0)
        .stdout("Token expiry set to 9 minute(s)\n");
    // The file wins over the environment.
    app.bare()
        .args(["jwt", "show", "--admin-password-file"])
        .arg(&app.admin_password_file)
        .env("TACCTL_ADMIN_PASSWORD", "not-the-password")
        .assert()
        .code(0);
}

#[test]
fn a_user_who_is_not_an_admin_gets_exit_3_as_admin_user() {
    let app = TempAppliance::new();
    app.add_user("bob", "operator", BOB_PW, &[]);
    let before = app.snapshot();
    for args in [
        &["jwt", "set-expiry", "5"][..],
        &["jwt", "show"][..],
        &["user", "remove", "admin"][..],
    ] {
        app.bare()
            .args(args)
            .args(["--admin-user", "bob"])
            .env("TACCTL_ADMIN_PASSWORD", BOB_PW)
            .assert()
            .code(3)
            .stderr(predicate::str::contains("\"bob\" is not an administrator"));
    }
    assert_unchanged(&before, &app.snapshot());
}

#[test]
fn missing_passwords_without_a_terminal_exit_2_naming_the_flag_and_variable() {
    let quick = Duration::from_secs(20);
    // init
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    tacctl()
        .arg("init")
        .arg("--root")
        .arg(dir.path().join("esa1"))
        .timeout(quick)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--admin-password-file"))
        .stderr(predicate::str::contains("TACCTL_ADMIN_PASSWORD"))
        .stderr(predicate::str::contains("no terminal"));
    assert!(!dir.path().join("esa1").exists());

    let app = TempAppliance::new();
    let before = app.snapshot();
    // The root credentials.
    for args in [
        &["jwt", "show"][..],
        &["jwt", "set-expiry", "5"][..],
        &["user", "add", "bob"][..],
    ] {
        app.bare()
            .args(args)
            .timeout(quick)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--admin-password-file"))
            .stderr(predicate::str::contains("TACCTL_ADMIN_PASSWORD"));
    }
    // A user's password.
    for args in [
        &["user", "add", "bob"][..],
        &["user", "passwd", "admin"][..],
        &["token", "issue", "--user", "admin"][..],
    ] {
        app.cmd()
            .args(args)
            .timeout(quick)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--password-file"))
            .stderr(predicate::str::contains("TACCTL_PASSWORD"));
    }
    // A new JWT secret.
    app.cmd()
        .args(["jwt", "set-secret"])
        .timeout(quick)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--secret-file"))
        .stderr(predicate::str::contains("TACCTL_JWT_SECRET"));
    // An empty password is no password.
    app.bare()
        .args(["jwt", "show"])
        .env("TACCTL_ADMIN_PASSWORD", "")
        .timeout(quick)
        .assert()
        .code(2);
    assert_unchanged(&before, &app.snapshot());
    assert!(start.elapsed() < Duration::from_secs(60));
}

// ---------------------------------------------------------------- jwt set-algorithm, set-secret

#[test]
fn set_algorithm_needs_a_secret_as_long_as_the_hash() {
    let app = TempAppliance::new();
    let f = app.file("secret32", secret_bytes(32, 1));
    app.cmd()
        .args(["jwt", "set-secret", "--secret-file"])
        .arg(&f)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("JWT secret set; active key"));
    let before = app.snapshot();
    for alg in ["HS384", "HS512"] {
        app.cmd()
            .args(["jwt", "set-algorithm", alg])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!(
                "the JWT secret is 32 bytes, but {alg} needs at least"
            )))
            .stderr(predicate::str::contains("set a longer secret first"));
        assert_unchanged(&before, &app.snapshot());
    }
    for alg in ["RS1", "none", "HS1024"] {
        app.cmd()
            .args(["jwt", "set-algorithm", alg])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("unknown JWT algorithm"));
    }
    // An unknown algorithm is refused before the credentials are asked for.
    app.bare()
        .args(["jwt", "set-algorithm", "RS1"])
        .assert()
        .code(2);
    assert_unchanged(&before, &app.snapshot());

    app.cmd()
        .args(["jwt", "set-algorithm", "HS256"])
        .assert()
        .code(0);
    app.cmd()
        .args(["jwt", "set-secret", "--generate"])
        .assert()
        .code(0);
    app.cmd()
        .args(["jwt", "set-algorithm", "hs512"])
        .assert()
        .code(0)
        .stdout("JWT algorithm set to HS512\n");
    assert_eq!(app.jwt_show()["algorithm"], "HS512");
    assert_eq!(app.status()["algorithm"], "HS512");
}

#[test]
fn a_secret_file_loses_one_trailing_newline() {
    let app = TempAppliance::new();
    let secret = secret_bytes(48, 2);
    let mut with_newline = secret.clone();
    with_newline.push(b'\n');
    let mut with_crlf = secret.clone();
    with_crlf.extend_from_slice(b"\r\n");
    let f = app.file("secret-nl", &with_newline);
    app.cmd()
        .args(["jwt", "set-secret", "--secret-file"])
        .arg(&f)
        .assert()
        .code(0);
    let before = app.snapshot();
    for (name, content) in [("secret-raw", &secret), ("secret-crlf", &with_crlf)] {
        let f = app.file(name, content);
        app.cmd()
            .args(["jwt", "set-secret", "--secret-file"])
            .arg(&f)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("the same as the current one"));
        assert_unchanged(&before, &app.snapshot());
    }
    // The key id is the fingerprint of the 48 bytes without the newline.
    assert_eq!(
        app.status()["jwt_kid"].as_str().unwrap(),
        tacctl::jwt::fingerprint(&secret)
    );
}

#[test]
fn short_or_empty_or_unreadable_secrets_are_refused_and_change_nothing() {
    let app = TempAppliance::new();
    let before = app.snapshot();
    let short = app.file("short", secret_bytes(31, 3));
    app.cmd()
        .args(["jwt", "set-secret", "--secret-file"])
        .arg(&short)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("31 bytes"))
        .stderr(predicate::str::contains("at least 32"));
    let empty = app.file("empty", "\n");
    app.cmd()
        .args(["jwt", "set-secret", "--secret-file"])
        .arg(&empty)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("empty"));
    app.cmd()
        .args(["jwt", "set-secret", "--secret-file"])
        .arg(app.dir().join("no-such-file"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot read secret file"));
    assert_unchanged(&before, &app.snapshot());
}

// ---------------------------------------------------------------- jwt expiry and session

#[test]
fn set_expiry_and_unit_change_the_lifetime_of_new_tokens() {
    let app = TempAppliance::new();
    app.cmd()
        .args(["jwt", "set-expiry", "5", "minutes"])
        .assert()
        .code(0)
        .stdout("Token expiry set to 5 minute(s)\n");
    let v = app.jwt_show();
    assert_eq!(
        (&v["expiry_value"], &v["expiry_unit"], &v["expiry_seconds"]),
        (&5.into(), &"minutes".into(), &300.into())
    );
    let c = app.verify(&app.token(ADMIN, ADMIN_PASSWORD));
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 300);

    app.cmd()
        .args(["jwt", "set-expiry-unit", "hours"])
        .assert()
        .code(0)
        .stdout("Token expiry set to 5 hour(s)\n");
    let v = app.jwt_show();
    assert_eq!(
        (&v["expiry_value"], &v["expiry_unit"], &v["expiry_seconds"]),
        (&5.into(), &"hours".into(), &18000.into())
    );
    // A value alone keeps the unit.
    app.cmd()
        .args(["jwt", "set-expiry", "2"])
        .assert()
        .code(0)
        .stdout("Token expiry set to 2 hour(s)\n");
    // The screen's spelling of a unit.
    app.cmd()
        .args(["jwt", "set-expiry", "1", "day(s)"])
        .assert()
        .code(0)
        .stdout("Token expiry set to 1 day(s)\n");

    let before = app.snapshot();
    app.cmd()
        .args(["jwt", "set-expiry", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("out of range"));
    app.cmd()
        .args(["jwt", "set-expiry", "1000001", "seconds"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("out of range"));
    app.cmd()
        .args(["jwt", "set-expiry", "5", "fortnights"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unknown expiry unit \"fortnights\"",
        ));
    app.cmd()
        .args(["jwt", "set-expiry-unit", "fortnights"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown expiry unit"));
    assert_unchanged(&before, &app.snapshot());
}

#[test]
fn set_max_session_takes_a_duration() {
    let app = TempAppliance::new();
    app.cmd()
        .args(["jwt", "set-max-session", "2h"])
        .assert()
        .code(0)
        .stdout("Max session set to 2h (7200 s)\n");
    assert_eq!(app.jwt_show()["max_session_seconds"], 7200);
    app.cmd()
        .args(["jwt", "set-max-session", "90m"])
        .assert()
        .code(0);
    assert_eq!(app.jwt_show()["max_session_seconds"], 5400);
    let before = app.snapshot();
    for bad in ["soon", "0h", "0", "12 fortnights"] {
        app.cmd()
            .args(["jwt", "set-max-session", bad])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("cannot read duration"));
    }
    assert_unchanged(&before, &app.snapshot());
}

// ---------------------------------------------------------------- users

#[test]
fn users_are_added_listed_changed_and_removed() {
    let app = TempAppliance::new();
    let alice_pw = app.file("alice.pw", format!("{ALICE_PW}\n"));
    app.cmd()
        .args([
            "user",
            "add",
            "alice",
            "--role",
            "viewer",
            "--password-file",
        ])
        .arg(&alice_pw)
        .assert()
        .code(0)
        .stdout("Added user alice (viewer)\n");
    app.cmd()
        .args(["user", "add", "bob", "--no-api-access"])
        .env("TACCTL_PASSWORD", BOB_PW)
        .assert()
        .code(0)
        .stdout("Added user bob (operator, no API access)\n");

    let text = assert_exit(app.bare().args(["user", "list"]), 0).stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("NAME"));
    assert!(lines[1].starts_with("admin") && lines[1].ends_with("yes"));
    assert!(lines[2].starts_with("alice") && lines[2].contains("viewer"));
    assert!(lines[3].starts_with("bob") && lines[3].ends_with("no"));

    let raw = assert_exit(app.bare().args(["user", "list", "--json"]), 0).stdout;
    assert!(
        !raw.contains("password_hash") && !raw.contains("$argon2"),
        "{raw}"
    );
    assert!(!raw.contains(ALICE_PW) && !raw.contains(BOB_PW));
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        v,
        serde_json::json!([
            {"name": "admin", "role": "admin", "api_access": true},
            {"name": "alice", "role": "viewer", "api_access": true},
            {"name": "bob", "role": "operator", "api_access": false},
        ])
    );
    // The stored file holds Argon2id hashes, not the passwords.
    let users = app.read("config/users.yaml");
    assert_eq!(users.matches("$argon2id$").count(), 3);
    assert!(!users.contains(ALICE_PW) && !users.contains(BOB_PW));

    // passwd: the old password stops working, the new one works.
    app.token("alice", ALICE_PW);
    app.cmd()
        .args(["user", "passwd", "alice"])
        .env("TACCTL_PASSWORD", "alice-new-Pa55word")
        .assert()
        .code(0)
        .stdout("Password of alice changed\n");
    app.bare()
        .args(["token", "issue", "--user", "alice"])
        .env("TACCTL_PASSWORD", ALICE_PW)
        .assert()
        .code(3);
    app.token("alice", "alice-new-Pa55word");

    app.cmd()
        .args(["user", "remove", "alice"])
        .assert()
        .code(0)
        .stdout("Removed user alice\n");
    let v = common::json_of(app.bare().args(["user", "list", "--json"]));
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "bob"]);
}

#[test]
fn user_errors_have_their_exit_codes_and_change_nothing() {
    let app = TempAppliance::new();
    app.add_user("bob", "viewer", BOB_PW, &[]);
    let before = app.snapshot();
    app.cmd()
        .args(["user", "add", "bob"])
        .env("TACCTL_PASSWORD", "another-Pa55word")
        .assert()
        .code(6)
        .stderr(predicate::str::contains("user \"bob\" already exists"));
    app.cmd()
        .args(["user", "remove", "carol"])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("no user \"carol\""));
    app.cmd()
        .args(["user", "passwd", "carol"])
        .env("TACCTL_PASSWORD", "another-Pa55word")
        .assert()
        .code(5);
    app.cmd()
        .args(["user", "add", "carol"])
        .env("TACCTL_PASSWORD", "short")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("too short"));
    app.cmd()
        .args(["user", "passwd", "bob"])
        .env("TACCTL_PASSWORD", "short")
        .assert()
        .code(2);
    for bad in ["../etc", "a b", "-x", ".hidden"] {
        app.cmd()
            .args(["user", "add", "--", bad])
            .env("TACCTL_PASSWORD", "another-Pa55word")
            .assert()
            .code(2)
            .stderr(predicate::str::contains("not a valid name"));
    }
    app.cmd()
        .args(["user", "remove", ADMIN])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("last administrator"));
    assert_unchanged(&before, &app.snapshot());
}

#[test]
fn an_admin_can_be_removed_while_another_remains() {
    let app = TempAppliance::new();
    app.add_user("root2", "admin", "root2-Pa55word", &[]);
    app.cmd().args(["user", "remove", ADMIN]).assert().code(0);
    // The remaining admin is now the last one, and the root credentials.
    let before = app.snapshot();
    app.bare()
        .args(["user", "remove", "root2", "--admin-user", "root2"])
        .env("TACCTL_ADMIN_PASSWORD", "root2-Pa55word")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("last administrator"));
    assert_unchanged(&before, &app.snapshot());
    app.cmd().args(["jwt", "show"]).assert().code(3);
}

// ---------------------------------------------------------------- tokens

#[test]
fn token_issue_prints_the_token_alone() {
    let app = TempAppliance::new();
    app.add_user("alice", "operator", ALICE_PW, &[]);
    let pw = app.file("alice-login.pw", format!("{ALICE_PW}\n"));
    let out = assert_exit(
        app.bare()
            .args(["token", "issue", "--user", "alice", "--password-file"])
            .arg(&pw),
        0,
    );
    assert_eq!(out.stderr, "");
    let stdout = out.stdout;
    assert_eq!(stdout.lines().count(), 1, "{stdout:?}");
    assert!(stdout.ends_with('\n'));
    let token = stdout.trim_end();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    for p in &parts {
        assert!(!p.is_empty());
        assert!(
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "not base64url: {p}"
        );
    }
    let header = jws_header(token);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], app.status()["jwt_kid"]);
}

#[test]
fn token_issue_refuses_wrong_passwords_and_users_without_api_access() {
    let app = TempAppliance::new();
    app.add_user("alice", "operator", ALICE_PW, &[]);
    app.add_user("bob", "operator", BOB_PW, &["--no-api-access"]);
    let before = app.snapshot();
    for (user, pw) in [("alice", "wrong-password"), ("nobody", ALICE_PW)] {
        app.bare()
            .args(["token", "issue", "--user", user])
            .env("TACCTL_PASSWORD", pw)
            .assert()
            .code(3)
            .stdout("")
            .stderr(predicate::str::contains("wrong user name or password"));
    }
    app.bare()
        .args(["token", "issue", "--user", "bob"])
        .env("TACCTL_PASSWORD", BOB_PW)
        .assert()
        .code(3)
        .stdout("")
        .stderr(predicate::str::contains("\"bob\" has no API access"));
    assert_unchanged(&before, &app.snapshot());
}

#[test]
fn token_verify_reads_stdin_or_an_argument_and_prints_the_claims() {
    let app = TempAppliance::new();
    app.add_user("alice", "operator", ALICE_PW, &[]);
    let token = app.token("alice", ALICE_PW);
    let before = app.snapshot();

    let from_stdin = app.verify(&format!("{token}\n"));
    let from_arg = common::json_of(app.bare().args(["token", "verify", "--json", &token]));
    let from_dash = common::json_of(
        app.bare()
            .args(["token", "verify", "--json", "-"])
            .write_stdin(token.as_str()),
    );
    assert_eq!(from_stdin, from_arg);
    assert_eq!(from_stdin, from_dash);

    let c = from_stdin.as_object().unwrap();
    let mut fields: Vec<&str> = c.keys().map(|k| k.as_str()).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "auth_time",
            "exp",
            "iat",
            "iss",
            "jti",
            "nbf",
            "role",
            "sid",
            "sub"
        ]
    );
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["role"], "operator");
    assert_eq!(c["iss"], CLUSTER_ID);
    let iat = c["iat"].as_u64().unwrap();
    assert_eq!(c["nbf"].as_u64().unwrap(), iat);
    assert_eq!(c["auth_time"].as_u64().unwrap(), iat);
    assert_eq!(c["exp"].as_u64().unwrap(), iat + 1800);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(iat <= now && now - iat < 120, "iat {iat}, now {now}");
    assert_ne!(c["jti"], c["sid"]);
    assert_eq!(c["jti"].as_str().unwrap().len(), 36);
    assert_eq!(c["sid"].as_str().unwrap().len(), 36);

    app.bare()
        .args(["token", "verify"])
        .write_stdin(token.as_str())
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with(format!(
            "valid token for alice (role operator), session {}\n",
            c["sid"].as_str().unwrap()
        )))
        .stdout(predicate::str::contains("issued "));
    assert_unchanged(&before, &app.snapshot());
}

fn b64_json(part: &str) -> serde_json::Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[test]
fn altered_or_malformed_tokens_exit_4_naming_the_failed_check() {
    let app = TempAppliance::new();
    app.add_user("alice", "viewer", ALICE_PW, &[]);
    let token = app.token("alice", ALICE_PW);
    let parts: Vec<&str> = token.split('.').collect();

    // A viewer promotes herself: the payload changes, the signature does not.
    let mut claims = b64_json(parts[1]);
    claims["role"] = "admin".into();
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let promoted = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    // One signature character replaced (a middle one carries six whole bits).
    let mut sig: Vec<u8> = parts[2].bytes().collect();
    let mid = sig.len() / 2;
    sig[mid] = if sig[mid] == b'A' { b'B' } else { b'A' };
    let resigned = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        String::from_utf8(sig).unwrap()
    );
    for bad in [&promoted, &resigned] {
        app.bare()
            .args(["token", "verify"])
            .write_stdin(bad.as_str())
            .assert()
            .code(4)
            .stdout("")
            .stderr(predicate::str::contains("signature check failed"));
        app.bare()
            .args(["token", "refresh"])
            .write_stdin(bad.as_str())
            .assert()
            .code(4)
            .stdout("")
            .stderr(predicate::str::contains("signature check failed"));
    }

    // alg none, with the signature dropped.
    let mut header = b64_json(parts[0]);
    header["alg"] = "none".into();
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
        parts[1]
    );
    app.bare()
        .args(["token", "verify", &none])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("algorithm check failed"));

    for garbage in ["garbage", "a.b", "!!!.???.***", "e30.e30.e30.e30"] {
        app.bare()
            .args(["token", "verify"])
            .write_stdin(garbage)
            .assert()
            .code(4)
            .stdout("")
            .stderr(predicate::str::contains("malformed"));
    }
    // Nothing at all on stdin is a usage error, not a bad token.
    app.bare()
        .args(["token", "verify"])
        .write_stdin("  \n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no token given"));
}

#[test]
fn a_token_from_another_appliance_is_refused() {
    let esa = TempAppliance::new();
    let other = TempAppliance::new();
    let token = other.token(ADMIN, ADMIN_PASSWORD);
    esa.bare()
        .args(["token", "verify"])
        .write_stdin(token.as_str())
        .assert()
        .code(4)
        .stderr(predicate::str::contains("key check failed"));
}

#[test]
fn a_token_after_an_algorithm_change_is_refused() {
    let app = TempAppliance::new();
    let token = app.token(ADMIN, ADMIN_PASSWORD);
    app.cmd()
        .args(["jwt", "set-algorithm", "HS512"])
        .assert()
        .code(0);
    app.bare()
        .args(["token", "verify"])
        .write_stdin(token.as_str())
        .assert()
        .code(4)
        .stderr(predicate::str::contains(
            "token uses HS256, this appliance is configured for HS512",
        ));
    let new = app.token(ADMIN, ADMIN_PASSWORD);
    assert_eq!(jws_header(&new)["alg"], "HS512");
    app.verify(&new);
}

#[test]
fn token_refresh_keeps_the_session_and_gives_a_new_token_id() {
    let app = TempAppliance::new();
    app.add_user("alice", "operator", ALICE_PW, &[]);
    let token = app.token("alice", ALICE_PW);
    let out = assert_exit(
        app.bare()
            .args(["token", "refresh"])
            .write_stdin(token.as_str()),
        0,
    );
    assert_eq!(out.stderr, "");
    let refreshed = out.stdout;
    assert_eq!(refreshed.lines().count(), 1);
    let refreshed = refreshed.trim_end();
    assert_eq!(refreshed.split('.').count(), 3);
    assert_ne!(refreshed, token);

    let old = app.verify(&token);
    let new = app.verify(refreshed);
    assert_eq!(new["sid"], old["sid"]);
    assert_eq!(new["auth_time"], old["auth_time"]);
    assert_eq!(new["sub"], "alice");
    assert_eq!(new["iss"], CLUSTER_ID);
    assert_ne!(new["jti"], old["jti"]);

    // The argument form, and a refresh of the refreshed token.
    let again = assert_exit(app.bare().args(["token", "refresh", refreshed]), 0).stdout;
    assert_eq!(app.verify(again.trim())["sid"], old["sid"]);
}

#[test]
fn token_refresh_is_refused_once_the_user_is_gone_or_lost_api_access() {
    let app = TempAppliance::new();
    app.add_user("alice", "operator", ALICE_PW, &[]);
    let token = app.token("alice", ALICE_PW);
    app.cmd().args(["user", "remove", "alice"]).assert().code(0);
    let before = app.snapshot();
    app.bare()
        .args(["token", "refresh"])
        .write_stdin(token.as_str())
        .assert()
        .code(4)
        .stdout("")
        .stderr(predicate::str::contains(
            "refresh refused: user \"alice\" no longer exists",
        ));
    assert_unchanged(&before, &app.snapshot());
}

#[test]
fn token_refresh_is_refused_past_the_max_session() {
    let app = TempAppliance::new();
    app.cmd()
        .args(["jwt", "set-max-session", "1s"])
        .assert()
        .code(0);
    let token = app.token(ADMIN, ADMIN_PASSWORD);
    std::thread::sleep(Duration::from_millis(2100));
    app.bare()
        .args(["token", "refresh"])
        .write_stdin(token.as_str())
        .assert()
        .code(4)
        .stderr(predicate::str::contains("maximum session length of 1 s"));
}

#[test]
fn secret_rotation_keeps_old_tokens_until_revoked() {
    let app = TempAppliance::new();
    let old_kid = app.status()["jwt_kid"].as_str().unwrap().to_owned();
    let old_token = app.token(ADMIN, ADMIN_PASSWORD);
    assert_eq!(jws_header(&old_token)["kid"], old_kid.as_str());

    let stdout = assert_exit(app.cmd().args(["jwt", "set-secret", "--generate"]), 0).stdout;
    let new_kid = app.status()["jwt_kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    assert!(
        stdout.contains(&format!("active key {new_kid}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("Previous key {old_kid} stays accepted until")),
        "{stdout}"
    );
    let show = app.jwt_show();
    assert_eq!(show["kid"], new_kid.as_str());
    assert_eq!(show["previous_keys"][0]["kid"], old_kid.as_str());

    // The old token still verifies and still refreshes; new tokens use the new key.
    assert_eq!(app.verify(&old_token)["sub"], ADMIN);
    let refreshed = assert_exit(
        app.bare()
            .args(["token", "refresh"])
            .write_stdin(old_token.as_str()),
        0,
    );
    let refreshed = refreshed.stdout.trim().to_owned();
    assert_eq!(jws_header(&refreshed)["kid"], new_kid.as_str());
    let new_token = app.token(ADMIN, ADMIN_PASSWORD);
    assert_eq!(jws_header(&new_token)["kid"], new_kid.as_str());

    app.cmd()
        .args(["jwt", "set-secret", "--generate", "--revoke-previous"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Previous key").not());
    assert!(
        app.jwt_show()["previous_keys"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    for revoked in [&old_token, &new_token, &refreshed] {
        app.bare()
            .args(["token", "verify"])
            .write_stdin(revoked.as_str())
            .assert()
            .code(4)
            .stderr(predicate::str::contains("key check failed"));
    }
    app.verify(&app.token(ADMIN, ADMIN_PASSWORD));
}

// ---------------------------------------------------------------- hand-edited files

/// Replaces `from` by `to` in a stored file, which must contain it.
fn edit(app: &TempAppliance, rel: &str, from: &str, to: &str) {
    let path = app.root.join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{rel} has no {from:?}:\n{text}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// Every command that reads `config/jwt.yaml` fails naming it and `needles`
/// (exit 1), and none changes a byte.
fn assert_bad_jwt_yaml(app: &TempAppliance, needles: &[&str]) {
    let before = app.snapshot();
    let commands: [&[&str]; 5] = [
        &["status"],
        &["jwt", "show"],
        &["jwt", "set-expiry", "7"],
        &["jwt", "set-secret", "--generate"],
        &["token", "issue", "--user", ADMIN],
    ];
    for args in commands {
        let out = assert_exit(
            app.cmd().args(args).env("TACCTL_PASSWORD", ADMIN_PASSWORD),
            9,
        );
        assert_eq!(out.stdout, "");
        let stderr = out.stderr;
        assert!(
            stderr.contains("config/jwt.yaml"),
            "{args:?} does not name the file: {stderr}"
        );
        for n in needles {
            assert!(stderr.contains(n), "{args:?} does not say {n:?}: {stderr}");
        }
    }
    assert_unchanged(&before, &app.snapshot());
}

#[test]
fn an_unknown_field_in_jwt_yaml_is_named_with_the_file() {
    let app = TempAppliance::new();
    edit(
        &app,
        "config/jwt.yaml",
        "expiry_value: 30\n",
        "expiry_value: 30\nexpiry_minutes: 30\n",
    );
    assert_bad_jwt_yaml(&app, &["unknown field `expiry_minutes`"]);
}

#[test]
fn an_unknown_expiry_unit_in_jwt_yaml_is_named_with_the_file() {
    let app = TempAppliance::new();
    edit(
        &app,
        "config/jwt.yaml",
        "expiry_unit: minutes",
        "expiry_unit: fortnights",
    );
    assert_bad_jwt_yaml(&app, &["expiry_unit", "fortnights"]);
}

#[test]
fn an_out_of_range_expiry_in_jwt_yaml_is_named_with_the_file() {
    let app = TempAppliance::new();
    edit(
        &app,
        "config/jwt.yaml",
        "expiry_value: 30",
        "expiry_value: 0",
    );
    assert_bad_jwt_yaml(&app, &["field `expiry_value`"]);
}

#[test]
fn a_plain_text_password_in_users_yaml_is_named_with_the_file() {
    let app = TempAppliance::new();
    let text = app.read("config/users.yaml");
    let hash = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("password_hash: "))
        .unwrap()
        .to_owned();
    edit(&app, "config/users.yaml", &hash, "hunter2hunter2");
    let before = app.snapshot();
    for args in [&["user", "list"][..], &["jwt", "show"][..]] {
        app.cmd()
            .args(args)
            .assert()
            .code(9)
            .stderr(predicate::str::contains("config/users.yaml"))
            .stderr(predicate::str::contains("users[0].password_hash"));
    }
    assert_unchanged(&before, &app.snapshot());
}

#[test]
fn a_missing_master_key_is_reported_with_what_to_do() {
    let app = TempAppliance::new();
    std::fs::remove_file(app.root.join("master.key")).unwrap();
    app.bare()
        .args(["status"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("master key"))
        .stderr(predicate::str::contains("restore it from a backup"));
}

// ---------------------------------------------------------------- the lock

/// Holds the appliance lock from this process, as another tacctl would.
fn hold_lock(root: &Path) -> std::fs::File {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(root.join(".lock"))
        .unwrap();
    f.lock().unwrap();
    f
}

#[test]
fn a_held_lock_makes_writers_give_up_with_exit_6_and_change_nothing() {
    let app = TempAppliance::new();
    let before = app.snapshot();
    let lock = hold_lock(&app.root);
    let start = Instant::now();
    app.cmd()
        .args(["jwt", "set-expiry", "7"])
        .env("TACCTL_LOCK_TIMEOUT", "1")
        .assert()
        .code(6)
        .stdout("")
        .stderr(predicate::str::contains(
            "another tacctl process is changing",
        ));
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "gave up before the timeout"
    );
    // The refusal names the holder and says how long it waited, not how
    // long the lock has been held.
    app.cmd()
        .args(["user", "add", "carol"])
        .env("TACCTL_PASSWORD", "carol-Pa55word")
        .env("TACCTL_LOCK_TIMEOUT", "0")
        .assert()
        .code(6)
        .stderr(predicate::str::contains(format!(
            "(pid {}",
            std::process::id()
        )))
        .stderr(predicate::str::contains("waited 0s for it"));
    assert_unchanged(&before, &app.snapshot());
    // Readers do not wait for the lock.
    app.bare().arg("status").assert().code(0);
    app.token(ADMIN, ADMIN_PASSWORD);

    drop(lock);
    app.cmd()
        .args(["jwt", "set-expiry", "7"])
        .env("TACCTL_LOCK_TIMEOUT", "1")
        .assert()
        .code(0);
    assert_eq!(app.jwt_show()["expiry_value"], 7);
}

#[test]
fn a_writer_waits_for_the_lock_to_be_released() {
    let app = TempAppliance::new();
    let lock = hold_lock(&app.root);
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        drop(lock);
    });
    app.cmd()
        .args(["jwt", "set-expiry", "8"])
        .env("TACCTL_LOCK_TIMEOUT", "20")
        .assert()
        .code(0);
    release.join().unwrap();
    assert_eq!(app.jwt_show()["expiry_value"], 8);
}

#[test]
fn concurrent_writers_are_serialised() {
    let app = TempAppliance::new();
    let values: Vec<u64> = (11..=16).collect();
    std::thread::scope(|s| {
        for v in &values {
            let app = &app;
            s.spawn(move || {
                app.cmd()
                    .args(["jwt", "set-expiry", &v.to_string(), "minutes"])
                    .assert()
                    .code(0);
            });
        }
        for name in ["u1", "u2", "u3", "u4"] {
            let app = &app;
            s.spawn(move || {
                app.cmd()
                    .args(["user", "add", name])
                    .env("TACCTL_PASSWORD", "user-Pa55word")
                    .assert()
                    .code(0);
            });
        }
    });
    let v = app.jwt_show();
    let value = v["expiry_value"].as_u64().unwrap();
    assert!(values.contains(&value), "expiry_value {value}");
    assert_eq!(v["expiry_unit"], "minutes");
    // No update was lost, and no temporary file was left behind.
    let users = common::json_of(app.bare().args(["user", "list", "--json"]));
    assert_eq!(users.as_array().unwrap().len(), 5, "{users}");
    let left: Vec<String> = app
        .snapshot()
        .keys()
        .map(|p| p.display().to_string())
        .filter(|p| p.contains(".tmp-"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn a_token_signed_with_a_key_retired_past_its_deadline_is_told_to_log_in_again() {
    let app = TempAppliance::new();
    app.cmd()
        .args(["jwt", "set-expiry", "1", "second"])
        .assert()
        .code(0);
    let token = app.token(ADMIN, ADMIN_PASSWORD);
    let old_kid = jws_header(&token)["kid"].as_str().unwrap().to_owned();
    app.cmd()
        .args(["jwt", "set-secret", "--generate"])
        .assert()
        .code(0);
    // The token's `exp` is still within the leeway; its key's acceptance is over.
    std::thread::sleep(Duration::from_millis(2100));
    app.bare()
        .args(["token", "verify"])
        .write_stdin(token.as_str())
        .assert()
        .code(4)
        .stderr(predicate::str::contains(format!(
            "key check failed: key \"{old_kid}\" was retired"
        )))
        .stderr(predicate::str::contains("log in again"));
}

#[test]
fn help_and_version_exit_0() {
    tacctl()
        .arg("--version")
        .assert()
        .code(0)
        .stdout(format!("tacctl {}\n", env!("CARGO_PKG_VERSION")));
    for args in [
        &["--help"][..],
        &["jwt", "--help"][..],
        &["token", "verify", "--help"][..],
    ] {
        tacctl()
            .args(args)
            .assert()
            .code(0)
            .stdout(predicate::str::contains("Usage: tacctl"));
    }
}

#[test]
fn concurrent_inits_of_one_root_leave_exactly_one_appliance() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("esa1");
    let pw = dir.path().join("pw");
    write_private(&pw, ADMIN_PASSWORD);
    let codes: Vec<i32> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let (root, pw) = (&root, &pw);
                s.spawn(move || {
                    common::run(
                        tacctl()
                            .arg("init")
                            .arg("--root")
                            .arg(root)
                            .args(["--name", "esa1", "--cluster-id", &format!("c{i}")])
                            .arg("--admin-password-file")
                            .arg(pw),
                    )
                    .code
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(sorted, [0, 6, 6, 6], "exit codes {codes:?}");
    // The winner's appliance is whole and consistent, and no staging is left.
    let v = common::json_of(tacctl().args(["status", "--json", "--root"]).arg(&root));
    let winner = codes.iter().position(|c| *c == 0).unwrap();
    assert_eq!(v["cluster_id"], format!("c{winner}"));
    let mut beside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    beside.sort();
    assert_eq!(beside, ["esa1", "pw"]);
}

#[test]
fn the_tree_stays_private_after_changes() {
    let app = TempAppliance::new();
    app.cmd()
        .args(["jwt", "set-secret", "--generate"])
        .assert()
        .code(0);
    app.cmd()
        .args(["jwt", "set-expiry", "2", "hours"])
        .assert()
        .code(0);
    app.add_user("alice", "viewer", ALICE_PW, &[]);
    app.cmd().args(["user", "remove", "alice"]).assert().code(0);
    assert_eq!(mode(&app.root), 0o700);
    walk(&app.root, &mut |path, meta| {
        let want = if meta.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(path), want, "mode of {}", path.display());
    });
}
