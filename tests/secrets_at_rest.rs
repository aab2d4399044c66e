//! Secrets never reach the disk or the terminal in a readable form.
//!
//! A known JWT secret is set through a file; afterwards no file under the
//! appliance root may contain it raw, as hex (either case) or as base64
//! (standard or URL-safe, padded or not, at any alignment). The
//! administrator's and a user's passwords may appear neither in the root nor
//! in anything any command prints.

mod common;

use std::path::Path;

use assert_cmd::Command;
use common::{ADMIN, ADMIN_PASSWORD, TempAppliance, assert_no_secret, find_secret, walk};

const ALICE_PASSWORD: &str = "alice-Secret-Pa55-8f3k";

/// 64 bytes that look random and are the same on every run (xorshift64*).
fn known_secret() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..64)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// Checks every file under `root` for every secret.
fn assert_root_clean(root: &Path, secrets: &[(&str, &[u8])]) {
    let mut files = 0;
    walk(root, &mut |path, meta| {
        if !meta.is_file() {
            return;
        }
        files += 1;
        let bytes = std::fs::read(path).unwrap();
        for (name, secret) in secrets {
            assert_no_secret(&path.display().to_string(), &bytes, name, secret);
        }
    });
    assert!(files >= 5, "only {files} files under {}", root.display());
}

/// Runs commands and keeps everything they print, to be searched later.
#[derive(Default)]
struct Transcript(Vec<(String, Vec<u8>)>);

impl Transcript {
    /// Runs `cmd`, records its stdout and stderr, and returns its exit code
    /// and stdout. Not [`common::assert_exit`]: a failure here must not
    /// print what the command printed, which may hold the secrets sought.
    fn run(&mut self, what: &str, cmd: &mut Command) -> (i32, String) {
        let out = common::run(cmd);
        self.0
            .push((format!("stdout of {what}"), out.output.stdout));
        self.0
            .push((format!("stderr of {what}"), out.output.stderr));
        (out.code, out.stdout)
    }

    fn assert_clean(&self, secrets: &[(&str, &[u8])]) {
        for (what, bytes) in &self.0 {
            for (name, secret) in secrets {
                assert_no_secret(what, bytes, name, secret);
            }
        }
    }
}

#[test]
fn the_known_encodings_are_found_so_the_search_is_not_vacuous() {
    use base64::Engine as _;
    let secret = known_secret();
    assert_eq!(secret.len(), 64);
    assert!(std::str::from_utf8(&secret).is_err(), "binary, not text");
    let std = base64::engine::general_purpose::STANDARD;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let planted = [
        secret.clone(),
        hex::encode(&secret).into_bytes(),
        hex::encode_upper(&secret).into_bytes(),
        std.encode(&secret).into_bytes(),
        url.encode(&secret).into_bytes(),
        // Inside a longer base64 blob, one and two bytes off the grid.
        std.encode([b"x".as_slice(), &secret, b"tail"].concat())
            .into_bytes(),
        url.encode([b"xy".as_slice(), &secret].concat())
            .into_bytes(),
    ];
    for p in planted {
        let haystack = [b"prefix: ".as_slice(), &p, b"\n"].concat();
        assert!(
            find_secret(&haystack, &secret).is_some(),
            "a planted encoding went unnoticed"
        );
    }
}

#[test]
fn no_secret_or_password_is_stored_or_printed() {
    let app = TempAppliance::new();
    let secret = known_secret();
    let secret_file = app.file("jwt.secret", &secret);
    let alice_pw_file = app.file("alice.pw", format!("{ALICE_PASSWORD}\n"));
    let mut t = Transcript::default();

    let (code, _) = t.run(
        "set-secret",
        app.cmd()
            .args(["jwt", "set-secret", "--secret-file"])
            .arg(&secret_file),
    );
    assert_eq!(code, 0);
    let (code, _) = t.run(
        "set-algorithm",
        app.cmd().args(["jwt", "set-algorithm", "HS512"]),
    );
    assert_eq!(code, 0);
    let (code, _) = t.run(
        "user add",
        app.cmd()
            .args(["user", "add", "alice", "--password-file"])
            .arg(&alice_pw_file),
    );
    assert_eq!(code, 0);

    // While the known secret is the active key.
    let all: [(&str, &[u8]); 3] = [
        ("JWT secret", &secret),
        ("admin password", ADMIN_PASSWORD.as_bytes()),
        ("alice's password", ALICE_PASSWORD.as_bytes()),
    ];
    assert_root_clean(&app.root, &all);
    assert_eq!(
        app.status()["jwt_kid"].as_str().unwrap(),
        tacctl::jwt::fingerprint(&secret),
        "the known secret is the active key"
    );

    let (code, token) = t.run(
        "token issue",
        app.bare()
            .args(["token", "issue", "--user", "alice", "--password-file"])
            .arg(&alice_pw_file),
    );
    assert_eq!(code, 0);
    let token = token.trim().to_owned();
    for (what, cmd) in [
        ("status", app.bare().arg("status")),
        ("status --json", app.bare().args(["status", "--json"])),
        ("jwt show", app.cmd().args(["jwt", "show"])),
        ("jwt show --json", app.cmd().args(["jwt", "show", "--json"])),
        ("user list", app.bare().args(["user", "list"])),
        (
            "user list --json",
            app.bare().args(["user", "list", "--json"]),
        ),
        (
            "token verify",
            app.bare()
                .args(["token", "verify", "--json"])
                .write_stdin(token.as_str()),
        ),
        (
            "token refresh",
            app.bare()
                .args(["token", "refresh"])
                .write_stdin(token.as_str()),
        ),
    ] {
        let (code, _) = t.run(what, cmd);
        assert_eq!(code, 0, "{what}");
    }

    // Failures print no secret either: a wrong password, a non-admin with
    // the right password, a repeated secret, a user that exists.
    for (what, code_wanted, cmd) in [
        (
            "token issue, wrong password",
            3,
            app.bare()
                .args(["token", "issue", "--user", ADMIN])
                .env("TACCTL_PASSWORD", ALICE_PASSWORD),
        ),
        (
            "jwt show as alice",
            3,
            app.bare()
                .args(["jwt", "show", "--admin-user", "alice"])
                .env("TACCTL_ADMIN_PASSWORD", ALICE_PASSWORD),
        ),
        (
            "set-secret again",
            2,
            app.cmd()
                .args(["jwt", "set-secret", "--secret-file"])
                .arg(&secret_file),
        ),
        (
            "user add alice again",
            6,
            app.cmd()
                .args(["user", "add", "alice", "--password-file"])
                .arg(&alice_pw_file),
        ),
        (
            "user add, password too short",
            2,
            app.cmd()
                .args(["user", "add", "carol"])
                .env("TACCTL_PASSWORD", &ALICE_PASSWORD[..6]),
        ),
    ] {
        let (code, _) = t.run(what, cmd);
        assert_eq!(code, code_wanted, "{what}");
    }

    // Rotated away, the known secret stays on disk as a previous key: still sealed.
    let (code, _) = t.run(
        "set-secret --generate",
        app.cmd().args(["jwt", "set-secret", "--generate"]),
    );
    assert_eq!(code, 0);
    let (code, _) = t.run(
        "user passwd",
        app.cmd()
            .args(["user", "passwd", "alice", "--password-file"])
            .arg(&alice_pw_file),
    );
    assert_eq!(code, 0);
    let (code, _) = t.run("jwt show after rotation", app.cmd().args(["jwt", "show"]));
    assert_eq!(code, 0);
    let known_kid = tacctl::jwt::fingerprint(&secret);
    let show = app.jwt_show();
    assert!(
        show["previous_keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == known_kid.as_str()),
        "the known secret is a previous key: {show}"
    );

    assert_root_clean(&app.root, &all);
    t.assert_clean(&all);
}
