//! The hidden prompts, driven through a real pseudo-terminal: `init` asks the
//! administrator password twice, `jwt set-secret` asks the root credentials
//! and then "New Secret" and "Confirm Secret", and nothing typed is echoed.

mod common;

use std::process::Command;

use rexpect::session::spawn_command;

const TIMEOUT_MS: Option<u64> = Some(20_000);

fn tacctl(root: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tacctl"));
    cmd.arg("--root").arg(root).args(args);
    for var in [
        "TACCTL_ROOT",
        "TACCTL_ADMIN_PASSWORD",
        "TACCTL_PASSWORD",
        "TACCTL_JWT_SECRET",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

#[test]
fn init_and_set_secret_prompt_on_the_terminal_without_echo() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("esa1");

    let mut p = spawn_command(tacctl(&root, &["init", "--name", "esa1"]), TIMEOUT_MS).unwrap();
    p.exp_string("Administrator password").unwrap();
    p.send_line("pty-admin-password").unwrap();
    p.exp_string("Confirm password").unwrap();
    p.send_line("pty-admin-password").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("Created appliance esa1"), "{rest}");
    assert!(
        !rest.contains("pty-admin-password"),
        "the password was echoed: {rest}"
    );

    let secret = "a-typed-secret-that-is-long-enough-for-hs256!";
    let mut p = spawn_command(tacctl(&root, &["jwt", "set-secret"]), TIMEOUT_MS).unwrap();
    p.exp_string("Root credentials: password").unwrap();
    p.send_line("pty-admin-password").unwrap();
    p.exp_string("New Secret").unwrap();
    p.send_line(secret).unwrap();
    p.exp_string("Confirm Secret").unwrap();
    p.send_line(secret).unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("JWT secret set; active key"), "{rest}");
    assert!(!rest.contains(secret), "the secret was echoed: {rest}");
    let kid = tacctl::jwt::fingerprint(secret.as_bytes());
    assert!(
        rest.contains(&kid),
        "the typed secret is not the active key: {rest}"
    );
}

#[test]
fn a_mistyped_confirmation_is_asked_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("esa1");
    let mut p = spawn_command(tacctl(&root, &["init", "--name", "esa1"]), TIMEOUT_MS).unwrap();
    p.exp_string("Administrator password").unwrap();
    p.send_line("first-password-1").unwrap();
    p.exp_string("Confirm password").unwrap();
    p.send_line("other-password-2").unwrap();
    p.exp_string("do not match").unwrap();
    p.exp_string("Administrator password").unwrap();
    p.send_line("first-password-1").unwrap();
    p.exp_string("Confirm password").unwrap();
    p.send_line("first-password-1").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("Created appliance"), "{rest}");
}

#[test]
fn a_large_export_draws_a_progress_bar_on_the_terminal_unless_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("esa1");
    let with_env = |mut cmd: Command| {
        cmd.env("TACCTL_ADMIN_PASSWORD", "pty-admin-password")
            .env("TACCTL_PASSPHRASE", "pty bundle passphrase 2026");
        cmd
    };
    common::assert_exit(&mut with_env(tacctl(&root, &["init", "--name", "esa1"])), 0);
    // Sparse: large enough for a bar at once, cheap to make.
    let f = std::fs::File::create(root.join("files/large.bin")).unwrap();
    f.set_len(65 << 20).unwrap();

    let export = |name: &str, quiet: bool| {
        let out = dir.path().join(name);
        let mut args = vec!["export", "--kdf-cost", "test", "-c", "files", "-o"];
        args.push(out.to_str().unwrap());
        if quiet {
            args.push("--quiet");
        }
        let mut p = spawn_command(with_env(tacctl(&root, &args)), TIMEOUT_MS).unwrap();
        p.exp_eof().unwrap()
    };
    let shown = export("a.tacbundle", false);
    assert!(shown.contains("Exporting ["), "no progress bar: {shown:?}");
    assert!(shown.contains("Exported files from esa1"), "{shown:?}");
    let quiet = export("b.tacbundle", true);
    assert!(
        !quiet.contains("Exporting"),
        "a bar despite --quiet: {quiet:?}"
    );
    assert!(quiet.contains("Exported files from esa1"), "{quiet:?}");
}
