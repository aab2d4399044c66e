//! `tacctl cluster export` in a real pseudo-terminal against two members
//! served on loopback: the root credentials, step 1's check boxes (JWT
//! ticked), step 2's members, step 3's credentials, step 4's plans and the
//! confirmation, the progress and the result table; passwords typed are
//! never echoed, and both members serve esa1's key afterwards.

mod common;

use std::process::Command;

use common::ADMIN_PASSWORD;
use common::cluster::{Lab, accepts, served_kid};
use common::pty::{ENTER, Screen, TIMEOUT_MS};
use rexpect::session::spawn_command;

#[test]
fn the_cluster_export_wizard_on_a_terminal() {
    let lab = Lab::new();
    let esa1 = lab.appliance("esa1", ADMIN_PASSWORD);
    let esa2 = lab.served("esa2", ADMIN_PASSWORD);
    let esa3 = lab.served("esa3", ADMIN_PASSWORD);
    esa1.add_members(&[esa2.member(), esa3.member()]);

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tacctl"));
    cmd.arg("--root")
        .arg(&esa1.root)
        .args(["cluster", "export", "--kdf-cost", "test"]);
    for var in [
        "TACCTL_ROOT",
        "TACCTL_ADMIN_USER",
        "TACCTL_ADMIN_PASSWORD",
        "TACCTL_PASSWORD",
    ] {
        cmd.env_remove(var);
    }
    let mut s = Screen::new(spawn_command(cmd, TIMEOUT_MS).unwrap());

    s.at("Cluster Export Wizard", "");
    s.at("User name [admin]", ENTER);
    s.at("Password", &format!("{ADMIN_PASSWORD}{ENTER}"));
    // Step 1: JWT is ticked already; the node-local ones are shown.
    s.at("Step 1 of 6", "");
    s.at("Appliance OS Configuration", "");
    s.at("Host name (node-local: it stays on this node)", ENTER);
    // Step 2: both members ticked, with their status.
    s.at("Step 2 of 6", "");
    s.at(&format!("esa3 ({}): reachable", esa3.url()), ENTER);
    // Step 3: neither accepts esa1's token yet.
    s.at("esa2, esa3 do not accept this node's token", "");
    s.at("Administrator user name on the members [admin]", ENTER);
    s.at("Password", &format!("{ADMIN_PASSWORD}{ENTER}"));
    // Step 4: each member's plan, then the confirmation.
    s.at("esa2 (signed in as admin):", "");
    s.at("esa3 (signed in as admin):", "");
    s.at("Push this configuration to esa2, esa3?", "y");
    // Steps 5 and 6.
    s.at("Step 6 of 6: the result.", "");
    s.at("All 2 members hold the new configuration.", "");
    // The verifier runs by itself with this node's token: every node
    // accepts it now.
    s.at("ISSUER \\ VERIFIER", "");
    s.at("All 3 checks passed", "");
    let rest = s.p.exp_eof().unwrap();
    s.shown.push_str(&rest);

    common::assert_no_secret(
        "the terminal",
        s.shown.as_bytes(),
        "admin password",
        ADMIN_PASSWORD.as_bytes(),
    );
    let kid1 = esa1.kid();
    for n in [&esa2, &esa3] {
        assert_eq!(served_kid(n), kid1);
        assert!(accepts(n, &esa1.admin_token()));
    }
}
