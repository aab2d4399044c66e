//! Helpers shared by the integration tests: a temporary appliance made by the
//! real `tacctl init`, a command builder with a clean environment,
//! [`assert_exit`] to run a command and check its exit code, and a
//! byte-for-byte snapshot of an appliance root so a test can show that a
//! failed command changed nothing; and, in [`slapd`], a real OpenLDAP server
//! for the LDAP tests, and in [`server`] a real `tacctl serve`.
//!
//! Secrets never go on a command line here: passwords travel in files or in
//! `TACCTL_ADMIN_PASSWORD` / `TACCTL_PASSWORD`, JWT secrets in files.

// Each test crate compiles this module and uses a different part of it.
#![allow(dead_code)]

pub mod cluster;
pub mod etcd;
pub mod pty;
pub mod server;
pub mod slapd;

use std::collections::BTreeMap;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// The node name every test appliance gets.
pub const NODE_NAME: &str = "esa1";
/// The cluster id every test appliance gets; tokens carry it as `iss`.
pub const CLUSTER_ID: &str = "c1";
/// The first administrator's name.
pub const ADMIN: &str = "admin";
/// The first administrator's password.
pub const ADMIN_PASSWORD: &str = "Adm1n-horse-battery-7q";
/// Long enough for every test; a command that takes longer is hanging.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Every environment variable tacctl reads, removed from each command so the
/// caller's environment cannot change a test's outcome.
const TACCTL_ENV: [&str; 8] = [
    "TACCTL_ROOT",
    "TACCTL_PASSPHRASE",
    "TACCTL_ADMIN_USER",
    "TACCTL_ADMIN_PASSWORD",
    "TACCTL_PASSWORD",
    "TACCTL_JWT_SECRET",
    "TACCTL_LOCK_TIMEOUT",
    "TACCTL_LDAP_BIND_PASSWORD",
];

/// `tacctl` with a clean tacctl environment and a timeout; stdin is empty.
pub fn tacctl() -> Command {
    let mut cmd = Command::cargo_bin("tacctl").unwrap();
    for var in TACCTL_ENV {
        cmd.env_remove(var);
    }
    cmd.timeout(TIMEOUT);
    cmd
}

/// `tacctl` as a plain process with the same clean environment, for a
/// test that must spawn, time or kill it; stdin is empty.
pub fn tacctl_process() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tacctl"));
    for var in TACCTL_ENV {
        cmd.env_remove(var);
    }
    cmd.env_remove("TACCTL_TEST_CRASH_AT")
        .stdin(std::process::Stdio::null());
    cmd
}

/// Writes a private file (0600), creating it or replacing its content.
pub fn write_private(path: &Path, contents: impl AsRef<[u8]>) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(contents.as_ref()).unwrap();
}

/// A fresh appliance in a temporary directory, created by `tacctl init`.
///
/// The temporary directory holds the root (`esa1/`) and, beside it, the files
/// tests write secrets into, so those never count as part of the appliance.
pub struct TempAppliance {
    dir: tempfile::TempDir,
    /// The appliance root.
    pub root: PathBuf,
    /// A file holding [`ADMIN_PASSWORD`] followed by a newline.
    pub admin_password_file: PathBuf,
    /// Its node name.
    pub name: String,
    /// Its cluster id.
    pub cluster_id: String,
}

impl TempAppliance {
    /// Runs `tacctl init --root DIR --name esa1 --cluster-id c1 --admin-password-file F`.
    pub fn new() -> Self {
        Self::named(NODE_NAME, CLUSTER_ID)
    }

    /// Like [`TempAppliance::new`], with another node name and cluster id
    /// (for clusters of several appliances).
    pub fn named(name: &str, cluster_id: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(name);
        let admin_password_file = dir.path().join("admin.pw");
        write_private(&admin_password_file, format!("{ADMIN_PASSWORD}\n"));
        let app = Self {
            dir,
            root,
            admin_password_file,
            name: name.to_owned(),
            cluster_id: cluster_id.to_owned(),
        };
        assert_exit(&mut app.init_cmd(), 0);
        app
    }

    /// The `init` command that created this appliance, to run it again.
    pub fn init_cmd(&self) -> Command {
        let mut cmd = tacctl();
        cmd.arg("init")
            .arg("--root")
            .arg(&self.root)
            .args(["--name", &self.name, "--cluster-id", &self.cluster_id])
            .arg("--admin-password-file")
            .arg(&self.admin_password_file);
        cmd
    }

    /// The directory that holds the root and the tests' secret files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `tacctl --root ROOT` with `TACCTL_ADMIN_PASSWORD` set to the admin's password.
    pub fn cmd(&self) -> Command {
        let mut cmd = self.bare();
        cmd.env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD);
        cmd
    }

    /// `tacctl --root ROOT` without any credentials.
    pub fn bare(&self) -> Command {
        let mut cmd = tacctl();
        cmd.arg("--root").arg(&self.root);
        cmd
    }

    /// Writes a private file beside (not inside) the root and returns its path.
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        write_private(&path, contents);
        path
    }

    /// Every file and directory under the root.
    pub fn snapshot(&self) -> Snapshot {
        snapshot(&self.root)
    }

    /// `user add NAME --role ROLE` with the password in a file; `extra` adds flags.
    pub fn add_user(&self, name: &str, role: &str, password: &str, extra: &[&str]) {
        let pw = self.file(&format!("{name}.pw"), password);
        assert_exit(
            self.cmd()
                .args(["user", "add", name, "--role", role, "--password-file"])
                .arg(pw)
                .args(extra),
            0,
        );
    }

    /// Logs in as `user` and returns the token.
    pub fn token(&self, user: &str, password: &str) -> String {
        let out = assert_exit(
            self.bare()
                .args(["token", "issue", "--user", user])
                .env("TACCTL_PASSWORD", password),
            0,
        );
        out.stdout.trim().to_owned()
    }

    /// `status --json`.
    pub fn status(&self) -> serde_json::Value {
        json_of(self.bare().args(["status", "--json"]))
    }

    /// `jwt show --json`.
    pub fn jwt_show(&self) -> serde_json::Value {
        json_of(self.cmd().args(["jwt", "show", "--json"]))
    }

    /// `token verify --json`, the token on standard input.
    pub fn verify(&self, token: &str) -> serde_json::Value {
        json_of(
            self.bare()
                .args(["token", "verify", "--json"])
                .write_stdin(token),
        )
    }

    /// The contents of a file under the root, as text.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap()
    }
}

/// What a command did: its exit code and what it printed. Made by [`run`]
/// and [`assert_exit`].
#[derive(Debug)]
pub struct Ran {
    /// The exit code; -1 when a signal ended the process.
    pub code: i32,
    /// Standard output as text (any invalid UTF-8 replaced).
    pub stdout: String,
    /// Standard error as text.
    pub stderr: String,
    /// The output as the process wrote it, for tests that look at bytes.
    pub output: std::process::Output,
}

impl Ran {
    /// Fails the test unless the command exited with `code`, showing the
    /// exit code, stdout and stderr; returns `self` for further checks.
    #[track_caller]
    pub fn assert_code(self, code: i32) -> Self {
        assert!(
            self.code == code,
            "expected exit code {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// A command [`run`] and [`assert_exit`] take: tacctl through assert_cmd's
/// [`Command`] (with its timeout and standard input), or another program
/// through the standard library's.
pub trait Runnable {
    /// Runs it to its end, collecting its output.
    fn output_of(&mut self) -> std::io::Result<std::process::Output>;
}

impl Runnable for Command {
    fn output_of(&mut self) -> std::io::Result<std::process::Output> {
        self.output()
    }
}

impl Runnable for std::process::Command {
    fn output_of(&mut self) -> std::io::Result<std::process::Output> {
        self.output()
    }
}

/// Runs `cmd` to its end and returns what it did, asserting nothing: for
/// a test that checks the exit code some other way (not 0, or polling
/// until it changes). Otherwise use [`assert_exit`].
pub fn run(cmd: &mut impl Runnable) -> Ran {
    let output = cmd.output_of().unwrap();
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        output,
    }
}

/// Runs `cmd`, fails the test unless it exits with `code` (the failure
/// shows the exit code, stdout and stderr), and returns what it did:
/// the one step "run a command, check its exit code, print its output if
/// that is wrong" that integration tests take, in one call.
///
/// ```ignore
/// let out = assert_exit(app.cmd().args(["import", "b.tacbundle", "--yes"]), 4);
/// assert!(out.stderr.contains("payload damaged"), "{}", out.stderr);
/// ```
#[track_caller]
pub fn assert_exit(cmd: &mut impl Runnable, code: i32) -> Ran {
    run(cmd).assert_code(code)
}

/// Runs a command that must succeed and parses its stdout as JSON.
#[track_caller]
pub fn json_of(cmd: &mut Command) -> serde_json::Value {
    let out = assert_exit(cmd, 0);
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", out.stdout))
}

/// The decoded header of a compact JWS.
pub fn jws_header(token: &str) -> serde_json::Value {
    let b64 = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(b64).unwrap()).unwrap()
}

/// Everything under a directory: relative path to contents. Directories are
/// listed too, with empty contents, so a left-over directory shows up as well.
pub type Snapshot = BTreeMap<PathBuf, Vec<u8>>;

/// Takes a [`Snapshot`] of `dir`.
pub fn snapshot(dir: &Path) -> Snapshot {
    let mut out = Snapshot::new();
    walk(dir, &mut |path, meta| {
        let rel = path.strip_prefix(dir).unwrap().to_path_buf();
        let bytes = if meta.is_dir() {
            Vec::new()
        } else {
            std::fs::read(path).unwrap()
        };
        out.insert(rel, bytes);
    });
    out
}

/// Calls `f` for every entry under `dir` (not `dir` itself), depth first.
pub fn walk(dir: &Path, f: &mut impl FnMut(&Path, &std::fs::Metadata)) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        f(&path, &meta);
        if meta.is_dir() {
            walk(&path, f);
        }
    }
}

/// The permission bits of a path.
pub fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// Fails, naming the paths that differ, unless the two snapshots are equal.
#[track_caller]
pub fn assert_unchanged(before: &Snapshot, after: &Snapshot) {
    if before == after {
        return;
    }
    let mut diff = Vec::new();
    for (path, bytes) in before {
        match after.get(path) {
            None => diff.push(format!("  removed  {}", path.display())),
            Some(b) if b != bytes => diff.push(format!("  changed  {}", path.display())),
            Some(_) => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        diff.push(format!("  added    {}", path.display()));
    }
    panic!(
        "the appliance changed although the command failed:\n{}",
        diff.join("\n")
    );
}

/// The ways a secret could be written down: the raw bytes, lower- and
/// uppercase hex, and standard and URL-safe base64, padded and not. For
/// base64 the characters that depend on the secret alone are also given for
/// each of the three alignments it could have inside a longer encoded blob.
pub fn encodings(secret: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        ("raw".to_owned(), secret.to_vec()),
        ("hex".to_owned(), hex::encode(secret).into_bytes()),
        ("HEX".to_owned(), hex::encode_upper(secret).into_bytes()),
    ];
    let engines = [
        ("base64", &STANDARD),
        ("base64 unpadded", &STANDARD_NO_PAD),
        ("base64url", &URL_SAFE),
        ("base64url unpadded", &URL_SAFE_NO_PAD),
    ];
    for (name, engine) in engines {
        out.push((name.to_owned(), engine.encode(secret).into_bytes()));
        for shift in 1..3 {
            let mut shifted = vec![0u8; shift];
            shifted.extend_from_slice(secret);
            let enc = engine.encode(&shifted);
            // The first 4 characters mix in the zero prefix, the last 4 the
            // end of the input (or padding); the rest is the secret's alone.
            let core = &enc.as_bytes()[4..enc.len() - 4];
            out.push((format!("{name} at offset {shift}"), core.to_vec()));
        }
    }
    out
}

/// `len` bytes that do not compress (xorshift64 from `seed`), the same for
/// the same seed.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Whether `needle` occurs in `haystack`.
pub fn bytes_contain(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The first of `secret`'s [`encodings`] found in `haystack`, by name.
pub fn find_secret(haystack: &[u8], secret: &[u8]) -> Option<String> {
    encodings(secret)
        .into_iter()
        .find(|(_, needle)| bytes_contain(haystack, needle))
        .map(|(encoding, _)| encoding)
}

/// Fails if `haystack` holds `secret` in any of its [`encodings`]; `what`
/// names the haystack in the message (which never prints the secret).
#[track_caller]
pub fn assert_no_secret(what: &str, haystack: &[u8], secret_name: &str, secret: &[u8]) {
    if let Some(encoding) = find_secret(haystack, secret) {
        panic!("{what} contains the {secret_name} ({encoding})");
    }
}

/// Copies a directory tree (regular files and directories), e.g. a committed
/// fixture root into a temporary directory.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// Searches many files for one secret's [`encodings`] at once, fast enough
/// for trees of several megabytes in an unoptimised test build: a table of
/// the needles' first two bytes rules out almost every position before a
/// comparison is made.
pub struct SecretScan {
    needles: Vec<(String, Vec<u8>)>,
    first_two: Vec<bool>,
}

impl SecretScan {
    /// A scan for `secret` in every form [`encodings`] lists.
    pub fn new(secret: &[u8]) -> Self {
        let needles = encodings(secret);
        let mut first_two = vec![false; 1 << 16];
        for (_, n) in &needles {
            assert!(n.len() >= 2, "every encoding of a secret has two bytes");
            first_two[usize::from(n[0]) << 8 | usize::from(n[1])] = true;
        }
        Self { needles, first_two }
    }

    /// The name of the first encoding found in `haystack`.
    pub fn find(&self, haystack: &[u8]) -> Option<String> {
        for i in 0..haystack.len().saturating_sub(1) {
            if !self.first_two[usize::from(haystack[i]) << 8 | usize::from(haystack[i + 1])] {
                continue;
            }
            if let Some((name, _)) = self
                .needles
                .iter()
                .find(|(_, n)| haystack[i..].starts_with(n))
            {
                return Some(name.clone());
            }
        }
        None
    }

    /// Fails if any file under `dir` holds the secret; `secret_name`
    /// names it in the message, which never prints it.
    #[track_caller]
    pub fn assert_absent_under(&self, dir: &Path, secret_name: &str) {
        let mut found = Vec::new();
        walk(dir, &mut |path, meta| {
            if meta.is_file()
                && let Some(encoding) = self.find(&std::fs::read(path).unwrap())
            {
                found.push(format!("{} ({encoding})", path.display()));
            }
        });
        assert!(
            found.is_empty(),
            "the {secret_name} is stored under {}: {}",
            dir.display(),
            found.join(", ")
        );
    }
}
