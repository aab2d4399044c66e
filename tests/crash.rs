//! An import killed at any moment leaves the whole old or the whole new
//! configuration, and the next command (`tacctl status`) leaves nothing of
//! the interrupted one behind: no staging, no journal, no snapshot of an
//! import that did not happen, no secret in the clear.
//!
//! esa1 exports a bundle of jwt (a known secret), users (a new user) and
//! one and a half megabytes of custom files; esa2 imports it. Imports are
//! timed, then [`KILLS`] imports are killed with SIGKILL: most at delays
//! spread over that time, the rest at delays spread over the transaction,
//! counted from the moment it starts or commits. And one is stopped at
//! each crash point the transaction names (`TACCTL_TEST_CRASH_AT`), which
//! falls before or after each rename, as is the recovery of some. After
//! each, the state is compared with both expected ones.
//!
//! The appliances live on a RAM file system when there is one
//! (`/dev/shm`): a killed process loses nothing the page cache holds, so
//! this changes nothing for what is tested, and it keeps the `syncfs`
//! before the commit point from taking whatever a shared disk's other
//! writers make it take, which would skew the spread of the delays and the
//! test's running time.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::SecretScan;

const ADMIN_PW: &str = "crash-admin-pw-1";
const PASSPHRASE: &str = "correct horse battery staple 99";
const CAROL_PW: &str = "carol-password-1";
/// Kills at spread delays: enough to land in every phase of the import,
/// few enough to keep the test well under a minute on two cores.
const KILLS: u32 = 60;
/// The span of the kills aimed at an import's transaction, from the moment
/// `txn/` appears; half of it from the moment the journal does.
const TRANSACTION: Duration = Duration::from_millis(1);

/// The JWT secret esa1 sets: 64 bytes that look random, the same every run.
fn known_secret() -> Vec<u8> {
    let mut s = common::noise(0x5eed_c0de_1234_9876, 64);
    // `--secret-file` drops one trailing newline.
    s[63] = 0x42;
    s
}

/// A temporary directory on a RAM file system if there is one (see the
/// module's comment).
fn temp_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    shm.is_dir()
        .then(|| tempfile::tempdir_in(shm).ok())
        .flatten()
        .unwrap_or_else(|| tempfile::tempdir().unwrap())
}

struct Env {
    dir: tempfile::TempDir,
    bundle: PathBuf,
    /// esa2 before any import, to copy from.
    pristine: PathBuf,
    /// A token carol got from esa1: esa2 accepts it iff the import happened.
    token: String,
    old: State,
    new: State,
    scan: SecretScan,
}

impl Env {
    fn root(&self) -> PathBuf {
        self.dir.path().join("esa2")
    }

    /// Makes esa1 and esa2, esa1's bundle, and the two states esa2 may be in.
    fn new() -> Self {
        let dir = temp_dir();
        let d = dir.path();
        for node in ["esa1", "esa2"] {
            ok(
                &d.join(node),
                &["init", "--name", node, "--cluster-id", "c1"],
            );
        }
        let esa1 = d.join("esa1");
        let secret = known_secret();
        let secret_file = d.join("jwt.secret");
        common::write_private(&secret_file, &secret);
        ok(
            &esa1,
            &[
                "jwt",
                "set-secret",
                "--secret-file",
                secret_file.to_str().unwrap(),
            ],
        );
        let out = cmd(&esa1, &["user", "add", "carol"])
            .env("TACCTL_PASSWORD", CAROL_PW)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        // Custom files: a few large ones, so that staging them is most of
        // the import, and a small tree with modes.
        let files = esa1.join("files");
        for i in 0..3 {
            let big = files.join("data");
            std::fs::create_dir_all(&big).unwrap();
            std::fs::write(
                big.join(format!("blob{i}.bin")),
                common::noise(i + 1, 500_000),
            )
            .unwrap();
        }
        for i in 0..12 {
            let sub = files.join(format!("etc/d{}", i % 3));
            std::fs::create_dir_all(&sub).unwrap();
            std::fs::write(sub.join(format!("f{i}.conf")), format!("setting = {i}\n")).unwrap();
        }
        let script = files.join("etc/run.sh");
        std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(files.join("etc/d1"), std::fs::Permissions::from_mode(0o750))
            .unwrap();
        // esa2's own custom files, which the import replaces.
        std::fs::write(d.join("esa2/files/old.txt"), "esa2's own\n").unwrap();

        let bundle = d.join("b.tacbundle");
        ok(
            &esa1,
            &[
                "export",
                "-c",
                "jwt,users,files",
                "--kdf-cost",
                "test",
                "-q",
                "-o",
                bundle.to_str().unwrap(),
            ],
        );
        let out = cmd(&esa1, &["token", "issue", "--user", "carol"])
            .env("TACCTL_PASSWORD", CAROL_PW)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();

        let pristine = d.join("esa2-pristine");
        copy_keeping_modes(&d.join("esa2"), &pristine);
        let mut env = Env {
            old: State::default(),
            new: State::default(),
            scan: SecretScan::new(&secret),
            dir,
            bundle,
            pristine,
            token,
        };
        env.reset();
        env.old = State::of(&env.root());
        // The new state, from an import left to finish.
        let out = env.import().output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        env.new = State::of(&env.root());
        assert_eq!(env.new.files, State::of(&esa1).files, "the files arrived");
        assert_ne!(env.old.config_normalised, env.new.config_normalised);
        env
    }

    /// esa2 as it was before any import.
    fn reset(&self) {
        let root = self.root();
        if root.exists() {
            std::fs::remove_dir_all(&root).unwrap();
        }
        copy_keeping_modes(&self.pristine, &root);
    }

    fn import(&self) -> std::process::Command {
        let mut c = cmd(
            &self.root(),
            &["import", self.bundle.to_str().unwrap(), "--yes", "-q"],
        );
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    }

    /// What the next command must find after an import died (`how`):
    /// the whole old state, or with `committed` (when known) the whole new
    /// one, and nothing left of the import's work. Returns whether the new
    /// configuration is in force.
    fn check_after(&self, how: &str, committed: Option<bool>) -> bool {
        let root = self.root();
        let status = run(&root, &["status"]);
        assert!(
            status.status.success(),
            "{how}: `tacctl status` after the crash failed: {}",
            stderr(&status)
        );
        let now = State::of(&root);
        let is_old = now.config_bytes == self.old.config_bytes && now.files == self.old.files;
        let is_new =
            now.config_normalised == self.new.config_normalised && now.files == self.new.files;
        assert!(
            is_old || is_new,
            "{how}: neither the old nor the new configuration:\n{}",
            now.differences(&self.old, &self.new)
        );
        if let Some(committed) = committed {
            assert_eq!(
                is_new, committed,
                "{how}: expected the new configuration: {committed}"
            );
        }
        // The token from esa1 verifies iff esa1's JWT configuration is here.
        let verified = cmd(&root, &["token", "verify", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(self.token.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        assert_eq!(
            verified.status.success(),
            is_new,
            "{how}: esa1's token on esa2 (new configuration: {is_new}): {}",
            stderr(&verified)
        );
        // Nothing left of the import's work.
        assert!(!root.join("txn").exists(), "{how}: txn/ was left");
        assert!(!root.join("scratch").exists(), "{how}: scratch/ was left");
        let mut leftovers = Vec::new();
        common::walk(&root, &mut |path, _| {
            let name = path.file_name().unwrap().to_string_lossy();
            if name.starts_with('.') && path != root.join(".lock") {
                leftovers.push(path.strip_prefix(&root).unwrap().display().to_string());
            }
        });
        assert!(leftovers.is_empty(), "{how}: left behind: {leftovers:?}");
        self.scan
            .assert_absent_under(&root, &format!("{how}: JWT secret"));
        // A snapshot and an "applied" record iff the import happened.
        let list = ok(&root, &["rollback", "--list"]);
        let snapshots: Vec<&str> = list.lines().skip(1).collect();
        assert_eq!(
            snapshots.len(),
            usize::from(is_new),
            "{how}: rollback --list:\n{list}"
        );
        assert!(
            snapshots.iter().all(|s| s.contains("import from esa1")),
            "{how}: {list}"
        );
        let history: serde_json::Value =
            serde_json::from_str(&ok(&root, &["history", "--json"])).unwrap();
        let records = history.as_array().unwrap();
        let applied = records
            .iter()
            .filter(|r| r["action"] == "import" && r["outcome"] == "applied")
            .count();
        assert_eq!(applied, usize::from(is_new), "{how}: history {history}");
        assert_eq!(records.len(), applied, "{how}: history {history}");
        is_new
    }
}

/// `tacctl --root ROOT ARGS` with the admin's password and the passphrase.
fn cmd(root: &Path, args: &[&str]) -> std::process::Command {
    let mut c = common::tacctl_process();
    c.arg("--root")
        .arg(root)
        .args(args)
        .env("TACCTL_ADMIN_PASSWORD", ADMIN_PW)
        .env("TACCTL_PASSPHRASE", PASSPHRASE);
    c
}

fn run(root: &Path, args: &[&str]) -> Output {
    cmd(root, args).output().unwrap()
}

fn ok(root: &Path, args: &[&str]) -> String {
    let out = run(root, args);
    assert!(
        out.status.success(),
        "tacctl {args:?} failed: {}",
        stderr(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Copies a tree of files and directories with their modes.
fn copy_keeping_modes(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_keeping_modes(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
    let mode = std::fs::metadata(from).unwrap().permissions().mode();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// What decides which configuration an appliance holds.
#[derive(Debug, Default)]
struct State {
    /// `config/*.yaml` as stored.
    config_bytes: BTreeMap<String, Vec<u8>>,
    /// The same, parsed, without what differs between two imports of one
    /// bundle: sealed values (a fresh nonce each time) and the moment the
    /// previous key was retired.
    config_normalised: BTreeMap<String, serde_json::Value>,
    /// `files/`: each path with its mode and, for a file, its content.
    files: BTreeMap<PathBuf, (u32, Option<Vec<u8>>)>,
}

impl State {
    fn of(root: &Path) -> Self {
        let mut s = State::default();
        for e in std::fs::read_dir(root.join("config")).unwrap() {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".yaml") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let mut value: serde_json::Value = yaml_serde::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            strip(&mut value, &["sealed", "retired_at", "accept_until"]);
            s.config_normalised.insert(name.clone(), value);
            s.config_bytes.insert(name, bytes);
        }
        let files = root.join("files");
        if files.exists() {
            common::walk(&files, &mut |path, meta| {
                let content = meta.is_file().then(|| std::fs::read(path).unwrap());
                s.files.insert(
                    path.strip_prefix(&files).unwrap().to_owned(),
                    (common::mode(path), content),
                );
            });
        }
        s
    }

    /// What differs from each expected state, for a failure message.
    fn differences(&self, old: &State, new: &State) -> String {
        let mut out = String::new();
        for (what, other, bytes) in [("old", old, true), ("new", new, false)] {
            let config: Vec<&String> = if bytes {
                keys_differing(&self.config_bytes, &other.config_bytes)
            } else {
                keys_differing(&self.config_normalised, &other.config_normalised)
            };
            let files: Vec<String> = keys_differing(&self.files, &other.files)
                .into_iter()
                .map(|p| p.display().to_string())
                .collect();
            out.push_str(&format!(
                "  against the {what}: config {config:?}, files {files:?}\n"
            ));
        }
        out
    }
}

fn keys_differing<'a, K: Ord, V: PartialEq>(
    a: &'a BTreeMap<K, V>,
    b: &'a BTreeMap<K, V>,
) -> Vec<&'a K> {
    let mut keys: Vec<&K> = a
        .iter()
        .filter(|(k, v)| b.get(k) != Some(v))
        .map(|(k, _)| k)
        .collect();
    keys.extend(b.keys().filter(|k| !a.contains_key(k)));
    keys
}

/// Removes every field named in `keys`, at any depth.
fn strip(v: &mut serde_json::Value, keys: &[&str]) {
    match v {
        serde_json::Value::Object(map) => {
            map.retain(|k, _| !keys.contains(&k.as_str()));
            map.values_mut().for_each(|v| strip(v, keys));
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| strip(v, keys)),
        _ => {}
    }
}

/// Where a killed import was, from what it left before the next command
/// cleaned up.
fn phase(root: &Path, finished: bool) -> &'static str {
    let txn = root.join("txn");
    if finished {
        "finished"
    } else if txn.join("journal.yaml").exists() {
        "committed, not finished"
    } else if txn.exists() {
        // Before its commit point, or while txn/ was being removed at the end.
        "in the transaction, without a journal"
    } else if root.join("scratch").exists() {
        "opening the bundle and staging"
    } else {
        "starting"
    }
}

#[test]
fn an_import_killed_at_spread_moments_leaves_the_old_or_the_new_configuration_and_no_trace() {
    let started = Instant::now();
    let env = Env::new();
    // Whole imports, timed, from a pristine esa2: the median.
    let mut times = Vec::new();
    for _ in 0..3 {
        env.reset();
        let t = Instant::now();
        let out = env.import().output().unwrap();
        times.push(t.elapsed());
        assert!(out.status.success());
        assert!(env.check_after("a whole import", Some(true)));
    }
    times.sort();
    let whole = times[1];
    // Two thirds of the kills at delays spread over the whole import,
    // which is mostly spent staging the custom files. The rest in its
    // transaction, where the renames are, at delays counted from the
    // moment `txn/` appears (a sixth) or its journal, the commit point (a
    // sixth): on a RAM file system the transaction lasts about a
    // millisecond, which no delay from the start hits on a loaded machine.
    let sixth = KILLS / 6;
    let delays: Vec<(Option<&str>, Duration)> = (0..4 * sixth)
        .map(|i| (None, whole * i / (4 * sixth)))
        .chain((0..sixth).map(|i| (Some("txn"), TRANSACTION * i / sixth)))
        .chain((0..sixth).map(|i| (Some("txn/journal.yaml"), TRANSACTION / 2 * i / sixth)))
        .collect();

    let mut phases: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for (after, delay) in delays {
        env.reset();
        let mut child = env.import().spawn().unwrap();
        if let Some(rel) = after {
            // Polling without sleeping, which would oversleep the whole
            // transaction; yielding, so as not to slow the import down.
            let path = env.root().join(rel);
            while !path.exists() && child.try_wait().unwrap().is_none() {
                std::thread::yield_now();
            }
            let t = Instant::now();
            while t.elapsed() < delay {
                std::thread::yield_now();
            }
        } else {
            std::thread::sleep(delay);
        }
        // It may have finished already; then it is reaped below.
        let _ = child.kill();
        let status = child.wait().unwrap();
        let how = match after {
            Some(rel) => format!("killed {delay:?} after {rel} appeared ({status})"),
            None => format!("killed after {delay:?} of {whole:?} ({status})"),
        };
        let phase = phase(&env.root(), status.success());
        // Finished, or killed once its journal was there: the new one.
        let committed = (status.success() || phase == "committed, not finished").then_some(true);
        let is_new = env.check_after(&format!("{how}, {phase}"), committed);
        // Past the transaction, only the scratch directory is left to go.
        let phase = match phase {
            "starting" | "opening the bundle and staging" if is_new => "applied, tidying up",
            p => p,
        };
        let counts = phases.entry(phase).or_default();
        if is_new {
            counts.1 += 1;
        } else {
            counts.0 += 1;
        }
    }
    eprintln!(
        "{KILLS} kills over an import of {whole:?}, {:?} in all; where each landed (old, new): {phases:?}",
        started.elapsed()
    );
    // The kills reached into the import's work, not only its start.
    assert!(
        phases.contains_key("opening the bundle and staging"),
        "{phases:?}"
    );
}

/// The crash points of an import of jwt, users and files, in order, and
/// whether the change is committed there: before and after each rename of
/// the transaction.
const POINTS: [(&str, bool); 9] = [
    ("snapshot", false),
    ("staged-0", false),
    ("staged-1", false),
    ("journal", true),
    ("snapshot-kept", true),
    ("dir-saved", true),
    ("applied-0", true),
    ("applied-1", true),
    ("recorded", true),
];

#[test]
fn an_import_stopped_at_each_crash_point_and_its_recovery_stopped_again_end_whole() {
    let env = Env::new();
    for (point, committed) in POINTS {
        env.reset();
        let status = env
            .import()
            .env("TACCTL_TEST_CRASH_AT", point)
            .status()
            .unwrap();
        assert!(
            !status.success(),
            "{point}: the import never reached its crash point"
        );
        env.check_after(&format!("crashed at {point}"), Some(committed));
    }
    // Recovery is itself a change that can die: the command that finishes
    // a committed import is stopped at a later point, and the one after it
    // must still finish the import exactly once.
    for (first, second) in [
        ("journal", "snapshot-kept"),
        ("journal", "dir-saved"),
        ("snapshot-kept", "applied-0"),
        ("dir-saved", "applied-1"),
        ("applied-1", "recorded"),
        ("recorded", "recorded"),
    ] {
        env.reset();
        let status = env
            .import()
            .env("TACCTL_TEST_CRASH_AT", first)
            .status()
            .unwrap();
        assert!(!status.success(), "{first}: not reached");
        let recovering = cmd(&env.root(), &["status"])
            .env("TACCTL_TEST_CRASH_AT", second)
            .output()
            .unwrap();
        assert!(
            !recovering.status.success(),
            "{first}, then {second}: the recovery never reached its crash point"
        );
        env.check_after(&format!("crashed at {first}, then at {second}"), Some(true));
    }
}
