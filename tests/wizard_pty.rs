//! `tacctl wizard` driven through a real pseudo-terminal: the JWT
//! Configuration screens with the root credentials, Set JWT Algorithm
//! (HS512), Set JWT Secret typed twice without echo, Set Token Expiry and
//! Set Token Expiry Unit, Done, Back and Exit; then `tacctl jwt show` must
//! show every change.
//!
//! Keys are sent only once the screen that reads them is drawn, and after a
//! short pause: a hidden prompt turns echo off just after drawing itself, and
//! anything typed before that would be echoed.

mod common;

use std::process::Command;

use common::pty::{DOWN, ENTER, Screen, TIMEOUT_MS, UP};
use common::{ADMIN_PASSWORD, TempAppliance};
use rexpect::session::spawn_command;

#[test]
fn the_jwt_configuration_screens_on_a_terminal() {
    let app = TempAppliance::new();
    let secret = "pty-typed-secret-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ";
    assert!(secret.len() >= 64, "long enough for HS512");

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tacctl"));
    cmd.arg("--root").arg(&app.root).arg("wizard");
    for var in [
        "TACCTL_ROOT",
        "TACCTL_ADMIN_USER",
        "TACCTL_ADMIN_PASSWORD",
        "TACCTL_JWT_SECRET",
    ] {
        cmd.env_remove(var);
    }
    let mut s = Screen::new(spawn_command(cmd, TIMEOUT_MS).unwrap());

    // Main menu > Administration > JWT Configuration.
    s.at("Exit", ENTER);
    s.at("Main menu: Administration", "");
    s.at("Back", ENTER);
    s.at("Administration: JWT Configuration", "");
    // The root credentials: the default user name, then the password.
    s.at("User name [admin]", ENTER);
    s.at("Password", &format!("{ADMIN_PASSWORD}{ENTER}"));
    // Set JWT Algorithm: HS512 is two up from the current HS256.
    s.at("Done", ENTER);
    s.at("JWT Settings: Set JWT Algorithm", "");
    s.at("HS256", &format!("{UP}{UP}{ENTER}"));
    s.at("JWT algorithm set to HS512", "");
    // Set JWT Secret: New Secret and Confirm Secret.
    s.at("Done", &format!("{DOWN}{ENTER}"));
    s.at("JWT Settings: Set JWT Secret", "");
    s.at("New Secret", &format!("{secret}{ENTER}"));
    s.at("Confirm Secret", &format!("{secret}{ENTER}"));
    s.at("JWT secret set; active key", "");
    // Set Token Expiry: 45 (minutes), after Set JWT Key Pair.
    s.at("Done", &format!("{DOWN}{DOWN}{DOWN}{ENTER}"));
    s.at("Set Token Expiry (minute(s)) [30]", &format!("45{ENTER}"));
    s.at("Token expiry set to 45 minute(s)", "");
    // Set Token Expiry Unit: hour(s), one down from minute(s).
    s.at("Done", &format!("{DOWN}{DOWN}{DOWN}{DOWN}{ENTER}"));
    s.at("year(s)", &format!("{DOWN}{ENTER}"));
    s.at("Token expiry set to 45 hour(s)", "");
    // Done, Back, Exit.
    s.at("Done", &format!("{DOWN}{DOWN}{DOWN}{DOWN}{DOWN}{ENTER}"));
    s.at("JWT Settings: Done", "");
    s.at("Back", &format!("{DOWN}{ENTER}"));
    s.at("Administration: Back", "");
    s.at("Exit", &format!("{DOWN}{DOWN}{DOWN}{ENTER}"));
    s.at("Main menu: Exit", "");
    let rest = s.p.exp_eof().unwrap();
    s.shown.push_str(&rest);

    for (what, value) in [("JWT secret", secret), ("admin password", ADMIN_PASSWORD)] {
        common::assert_no_secret("the terminal", s.shown.as_bytes(), what, value.as_bytes());
    }
    let kid = tacctl::jwt::fingerprint(secret.as_bytes());
    assert!(
        s.shown
            .contains(&format!("JWT secret set; active key {kid}")),
        "{}",
        s.shown
    );

    let shown = app.jwt_show();
    assert_eq!(shown["algorithm"], "HS512");
    assert_eq!(shown["kid"], kid);
    assert_eq!(shown["expiry_value"], 45);
    assert_eq!(shown["expiry_unit"], "hours");
    assert_eq!(shown["expiry_seconds"], 45 * 3600);
}

#[test]
fn a_key_pair_algorithm_and_set_jwt_key_pair_on_a_terminal() {
    let app = TempAppliance::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tacctl"));
    cmd.arg("--root").arg(&app.root).arg("wizard");
    for var in ["TACCTL_ROOT", "TACCTL_ADMIN_USER", "TACCTL_ADMIN_PASSWORD"] {
        cmd.env_remove(var);
    }
    let mut s = Screen::new(spawn_command(cmd, TIMEOUT_MS).unwrap());
    s.at("Exit", ENTER);
    s.at("Back", ENTER);
    s.at("User name [admin]", ENTER);
    s.at("Password", &format!("{ADMIN_PASSWORD}{ENTER}"));
    // Set JWT Algorithm lists HS512, HS384, HS256, then the key pairs:
    // ES256 is seven down from the current HS256.
    s.at("Done", ENTER);
    s.at("EdDSA", &format!("{}{ENTER}", DOWN.repeat(7)));
    s.at("JWT algorithm set to ES256; active key", "");
    let made = app.jwt_show()["kid"].as_str().unwrap().to_owned();
    // Set JWT Key Pair: generate a new one.
    s.at("Done", &format!("{DOWN}{DOWN}{ENTER}"));
    s.at("Import a private key (PEM file)", ENTER);
    s.at("JWT key pair set; active key", "");
    s.at(&format!("Previous key {made} stays accepted until"), "");
    // Done, Back, Exit.
    s.at("Done", &format!("{}{ENTER}", DOWN.repeat(5)));
    s.at("Back", &format!("{DOWN}{ENTER}"));
    s.at("Exit", &format!("{DOWN}{DOWN}{DOWN}{ENTER}"));
    s.p.exp_eof().unwrap();
    let shown = app.jwt_show();
    assert_eq!(shown["algorithm"], "ES256");
    assert_ne!(shown["kid"], made.as_str());
    assert_eq!(
        shown["previous_keys"].as_array().unwrap().len(),
        2,
        "{shown}"
    );
}

#[test]
fn the_trusted_appliances_cluster_menu_lists_members_and_their_status() {
    let app = TempAppliance::new();
    let other = TempAppliance::named("esa2", common::CLUSTER_ID);
    let served = common::server::Served::start(&other.root, &[]);
    app.cmd()
        .args(["cluster", "add", "esa2", &served.url, "--fingerprint"])
        .arg(served.fingerprint.as_deref().unwrap())
        .assert()
        .success();

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tacctl"));
    cmd.arg("--root").arg(&app.root).arg("wizard");
    for var in ["TACCTL_ROOT", "TACCTL_ADMIN_USER", "TACCTL_ADMIN_PASSWORD"] {
        cmd.env_remove(var);
    }
    let mut s = Screen::new(spawn_command(cmd, TIMEOUT_MS).unwrap());
    // Main menu > Trusted Appliances Cluster (third entry).
    s.at("Exit", &format!("{DOWN}{DOWN}{ENTER}"));
    s.at("Main menu: Trusted Appliances Cluster", "");
    // Members: the pinned certificate is listed.
    s.at("Back", ENTER);
    s.at(served.fingerprint.as_deref().unwrap(), "");
    s.at("tacctl cluster add NAME URL", "");
    // Status: esa2 drifts (its own key and the same cluster id).
    s.at("Back", &format!("{DOWN}{ENTER}"));
    s.at("This node: esa1", "");
    s.at("kid differs", "");
    // Back, then Exit.
    s.at("Back", &format!("{DOWN}{DOWN}{DOWN}{DOWN}{ENTER}"));
    s.at("Exit", &format!("{DOWN}{DOWN}{DOWN}{ENTER}"));
    s.p.exp_eof().unwrap();
}
