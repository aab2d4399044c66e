//! Export, inspect, import, rollback and history through the real binary:
//! round trips, every refusal leaving the appliance byte-for-byte unchanged,
//! a byte-flip and truncation sweep, and a crash at every step of an import.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use common::{Ran, assert_exit, run};
use tacctl::component::Component;
use tacctl::ops::bundle::BundleInput;

const ADMIN_PW: &str = "bundle-admin-pw";
const PASSPHRASE: &str = "correct horse battery staple 99";

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let env = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        env.ok("esa1", &["init", "--name", "esa1", "--cluster-id", "c1"]);
        env.ok("esa2", &["init", "--name", "esa2", "--cluster-id", "c1"]);
        env
    }

    fn root(&self, node: &str) -> PathBuf {
        self.dir.path().join(node)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, node: &str, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("tacctl").unwrap();
        c.arg("--root")
            .arg(self.root(node))
            .args(args)
            .env("TACCTL_ADMIN_PASSWORD", ADMIN_PW)
            .env("TACCTL_PASSPHRASE", PASSPHRASE)
            .env_remove("TACCTL_ROOT")
            .env_remove("TACCTL_PASSWORD")
            .current_dir(self.dir.path())
            .timeout(Duration::from_secs(60));
        c
    }

    /// Runs tacctl on `node` with `args`, which must exit with `code`.
    #[track_caller]
    fn exits(&self, node: &str, args: &[&str], code: i32) -> Ran {
        assert_exit(&mut self.cmd(node, args), code)
    }

    /// Runs tacctl on `node` with `args`, which must succeed; its stdout.
    #[track_caller]
    fn ok(&self, node: &str, args: &[&str]) -> String {
        self.exits(node, args, 0).stdout
    }

    fn json(&self, node: &str, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(node, args)).unwrap()
    }

    fn export(&self, node: &str, what: &[&str], name: &str) -> PathBuf {
        let out = self.path(name);
        let mut args = vec!["export", "--kdf-cost", "test", "-o", name];
        args.extend_from_slice(what);
        self.ok(node, &args);
        out
    }

    fn token(&self, node: &str, user: &str, pw: &str) -> String {
        let out = assert_exit(
            self.cmd(node, &["token", "issue", "--user", user])
                .env("TACCTL_PASSWORD", pw),
            0,
        );
        out.stdout.trim().to_owned()
    }

    fn verifies(&self, node: &str, token: &str) -> bool {
        let mut verify = self.cmd(node, &["token", "verify", "-"]);
        run(verify.write_stdin(token.to_owned())).code == 0
    }

    fn add_user(&self, node: &str, name: &str, pw: &str) {
        assert_exit(
            self.cmd(node, &["user", "add", name])
                .env("TACCTL_PASSWORD", pw),
            0,
        );
    }
}

fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            out.insert(
                e.path().strip_prefix(root).unwrap().to_path_buf(),
                std::fs::read(e.path()).unwrap(),
            );
        }
    }
    out
}

#[test]
fn jwt_and_users_round_trip_and_tokens_cross_over() {
    let env = Env::new();
    env.add_user("esa1", "alice", "alice-password-1");
    env.ok("esa1", &["jwt", "set-algorithm", "HS512"]);
    let token = env.token("esa1", "alice", "alice-password-1");
    assert!(
        !env.verifies("esa2", &token),
        "esa2 must refuse esa1's token before the import"
    );

    let bundle = env.export("esa1", &["-c", "jwt"], "jwt.tacbundle");
    let inspect = env.json("esa2", &["inspect", bundle.to_str().unwrap(), "--json"]);
    assert_eq!(inspect["source"]["name"], "esa1");
    assert_eq!(inspect["components"][0]["name"], "jwt");
    let shown = serde_json::to_string(&inspect).unwrap();
    assert!(
        !shown.contains("secret"),
        "inspect must not show secrets: {shown}"
    );

    env.ok("esa2", &["import", bundle.to_str().unwrap(), "--yes"]);
    assert!(
        env.verifies("esa2", &token),
        "esa2 accepts esa1's token after importing jwt"
    );
    let j1 = env.json("esa1", &["jwt", "show", "--json"]);
    let j2 = env.json("esa2", &["jwt", "show", "--json"]);
    assert_eq!(j1["kid"], j2["kid"]);
    assert_eq!(j2["algorithm"], "HS512");
    // esa2's own previous key stays accepted: nobody logged in there is cut off.
    assert_eq!(j2["previous_keys"].as_array().unwrap().len(), 1);

    // Users were not part of it: alice cannot log in on esa2 yet.
    let users = env.export("esa1", &["-c", "users"], "users.tacbundle");
    env.ok("esa2", &["import", users.to_str().unwrap(), "--yes"]);
    let t2 = env.token("esa2", "alice", "alice-password-1");
    assert!(
        env.verifies("esa1", &t2),
        "a token from esa2 is accepted on esa1"
    );

    let history = env.json("esa2", &["history", "--json"]);
    assert_eq!(history.as_array().unwrap().len(), 2);
    assert_eq!(history[0]["outcome"], "applied");
}

#[test]
fn all_components_round_trip_and_reimport_is_unchanged() {
    let env = Env::new();
    env.add_user("esa1", "bob", "bob-password-12");
    let bundle = env.export("esa1", &["--all"], "all.tacbundle");
    // The manifest lists every component in bundle order, each with its scope.
    let inspect = env.json("esa2", &["inspect", bundle.to_str().unwrap(), "--json"]);
    let listed: Vec<(String, String)> = inspect["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["scope"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = Component::all()
        .into_iter()
        // No LDAP is configured, and an HMAC node trusting no member has
        // no Appliances JWT Trust to carry: `--all` leaves both out.
        .filter(|k| !matches!(k, Component::Ldap | Component::JwtTrust))
        .map(|k| {
            let scope = if k == Component::Tls {
                "node"
            } else {
                "cluster"
            };
            (k.name().to_owned(), scope.to_owned())
        })
        .collect();
    assert_eq!(listed, expected);
    env.ok("esa2", &["import", bundle.to_str().unwrap(), "--yes"]);
    assert_eq!(
        env.json("esa1", &["user", "list", "--json"]),
        env.json("esa2", &["user", "list", "--json"])
    );
    let before = tree(&env.root("esa2"));
    let out = env.ok("esa2", &["import", bundle.to_str().unwrap(), "--yes"]);
    assert!(out.contains("Nothing to change"), "{out}");
    let after = tree(&env.root("esa2"));
    let config = |t: &BTreeMap<PathBuf, Vec<u8>>| {
        t.iter()
            .filter(|(p, _)| p.starts_with("config"))
            .map(|(p, d)| (p.clone(), d.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(config(&before), config(&after));
}

#[test]
fn dry_run_shows_the_plan_and_changes_nothing() {
    let env = Env::new();
    env.add_user("esa1", "carol", "carol-password-1");
    let bundle = env.export("esa1", &["--all"], "b.tacbundle");
    let before = tree(&env.root("esa2"));
    let plan = env.json(
        "esa2",
        &["import", bundle.to_str().unwrap(), "--dry-run", "--json"],
    );
    let text = serde_json::to_string(&plan).unwrap();
    assert!(text.contains("added") && text.contains("carol"), "{text}");
    assert!(text.contains("active key"), "{text}");
    assert!(!text.contains("$argon2"), "no hashes in a plan: {text}");
    assert_eq!(before, tree(&env.root("esa2")));
}

#[test]
fn refusals_leave_the_appliance_byte_for_byte_unchanged() {
    let env = Env::new();
    let bundle = env.export("esa1", &["--all"], "b.tacbundle");
    let good = std::fs::read(&bundle).unwrap();
    let before = tree(&env.root("esa2"));
    let b = bundle.to_str().unwrap();

    let wrong = assert_exit(
        env.cmd("esa2", &["import", b, "--yes"])
            .env("TACCTL_PASSPHRASE", "not it"),
        3,
    );
    assert!(wrong.stderr.contains("wrong passphrase"));

    let mut tampered = good.clone();
    let n = tampered.len();
    tampered[n - 20] ^= 1;
    std::fs::write(env.path("tampered"), &tampered).unwrap();
    let out = env.exits("esa2", &["import", "tampered", "--yes"], 4);
    assert!(out.stderr.contains("payload damaged at chunk 0"));

    std::fs::write(env.path("truncated"), &good[..good.len() - 5]).unwrap();
    env.exits("esa2", &["import", "truncated", "--yes"], 4);

    // No terminal and no --yes: refused.
    let out = env.exits("esa2", &["import", b], 2);
    assert!(out.stderr.contains("--yes"));

    assert_exit(
        env.cmd("esa2", &["import", b, "--yes"])
            .env("TACCTL_ADMIN_PASSWORD", "wrong admin"),
        3,
    );

    assert_eq!(
        before,
        tree(&env.root("esa2")),
        "a refused import changed the appliance"
    );
}

#[test]
fn weak_passphrases_are_refused_on_export_unless_allowed() {
    let env = Env::new();
    let out = assert_exit(
        env.cmd(
            "esa1",
            &[
                "export",
                "--all",
                "--kdf-cost",
                "test",
                "-o",
                "weak.tacbundle",
            ],
        )
        .env("TACCTL_PASSPHRASE", "password123"),
        2,
    );
    assert!(out.stderr.contains("too weak"));
    assert!(!env.path("weak.tacbundle").exists());
    assert_exit(
        env.cmd(
            "esa1",
            &[
                "export",
                "--all",
                "--kdf-cost",
                "test",
                "-o",
                "weak.tacbundle",
                "--allow-weak-passphrase",
            ],
        )
        .env("TACCTL_PASSPHRASE", "password123"),
        0,
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(env.path("weak.tacbundle"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "bundles are written 0600");
}

#[test]
fn rollback_restores_the_previous_configuration() {
    let env = Env::new();
    let kid_before = env.json("esa2", &["jwt", "show", "--json"])["kid"].clone();
    let bundle = env.export("esa1", &["-c", "jwt"], "b.tacbundle");
    let out = env.ok("esa2", &["import", bundle.to_str().unwrap(), "--yes"]);
    let id = out
        .rsplit("tacctl rollback ")
        .next()
        .unwrap()
        .trim_end_matches(['`', '.', '\n'])
        .to_owned();
    assert_ne!(
        env.json("esa2", &["jwt", "show", "--json"])["kid"],
        kid_before
    );
    assert!(env.ok("esa2", &["rollback", "--list"]).contains(&id));
    env.ok("esa2", &["rollback", &id]);
    assert_eq!(
        env.json("esa2", &["jwt", "show", "--json"])["kid"],
        kid_before
    );
    env.exits("esa2", &["rollback", "no-such-snapshot"], 5);
    let history = env.json("esa2", &["history", "--json"]);
    assert_eq!(history[1]["action"], "rollback");
}

#[test]
fn every_flipped_byte_and_every_truncation_is_rejected_and_nothing_changes() {
    tacctl::jwt::ensure_provider().unwrap();
    let env = Env::new();
    let bundle = std::fs::read(env.export("esa1", &["-c", "jwt"], "b.tacbundle")).unwrap();
    let ops = tacctl::ops::Ops::open(&env.root("esa2"), Duration::from_secs(5)).unwrap();
    let pass = secrecy::SecretString::from(PASSPHRASE);
    let before = tree(&env.root("esa2"));
    // A bundle of known small size is opened on one thread for a plan,
    // with its components read; one of unknown size on several, staging
    // into a scratch directory as an import does: both ways are swept.
    let open = |b: &[u8], threads: bool| -> Result<(), String> {
        if threads {
            let stage = ops.app.scratch("import").unwrap();
            tacctl::bundle::open(
                std::io::Cursor::new(b),
                None,
                &pass,
                Some(stage.path()),
                &tacctl::ops::bundle::NoProgress,
            )
            .map(drop)
            .map_err(|e| e.to_string())
        } else {
            tacctl::ops::bundle::open(
                BundleInput::Memory(b),
                &pass,
                None,
                &tacctl::ops::bundle::NoProgress,
            )
            .map(drop)
            .map_err(|e| e.to_string())
        }
    };
    for threads in [false, true] {
        assert!(open(&bundle, threads).is_ok());
        for i in 0..bundle.len() {
            let mut b = bundle.clone();
            b[i] ^= 0x01;
            assert!(
                open(&b, threads).is_err(),
                "flipping byte {i} was not detected (threads: {threads})"
            );
            assert!(
                open(&bundle[..i], threads).is_err(),
                "truncation at {i} was not detected (threads: {threads})"
            );
        }
        let mut longer = bundle.clone();
        longer.push(0);
        assert!(
            open(&longer, threads).is_err(),
            "a trailing byte was not detected (threads: {threads})"
        );
    }
    assert_eq!(before, tree(&env.root("esa2")));
}

#[test]
fn an_import_killed_at_any_step_leaves_the_whole_old_or_the_whole_new_configuration() {
    let env = Env::new();
    env.add_user("esa1", "dave", "dave-password-1");
    let bundle = env.export("esa1", &["--all"], "b.tacbundle");
    let b = bundle.to_str().unwrap();
    let old_kid = env.json("esa2", &["jwt", "show", "--json"])["kid"].clone();
    let new_kid = env.json("esa1", &["jwt", "show", "--json"])["kid"].clone();
    let pristine = env.dir.path().join("pristine");
    common::copy_tree(&env.root("esa2"), &pristine);
    for point in [
        "snapshot",
        "staged-0",
        "staged-1",
        "journal",
        "applied-0",
        "applied-1",
    ] {
        let _ = std::fs::remove_dir_all(env.root("esa2"));
        common::copy_tree(&pristine, &env.root("esa2"));
        let out = run(env
            .cmd("esa2", &["import", b, "--yes"])
            .env("TACCTL_TEST_CRASH_AT", point));
        assert!(out.code != 0, "{point}: the import was expected to crash");
        // The next command finishes or undoes the interrupted import.
        let kid = env.json("esa2", &["jwt", "show", "--json"])["kid"].clone();
        let users = env.json("esa2", &["user", "list", "--json"]);
        let has_dave = users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == "dave");
        let committed = matches!(point, "journal" | "applied-0" | "applied-1");
        if committed {
            assert_eq!(
                (kid, has_dave),
                (new_kid.clone(), true),
                "{point}: expected the whole new configuration"
            );
        } else {
            assert_eq!(
                (kid, has_dave),
                (old_kid.clone(), false),
                "{point}: expected the whole old configuration"
            );
        }
        assert!(
            !env.root("esa2").join("txn").exists(),
            "{point}: the journal was not cleaned up"
        );
    }
}

#[test]
fn the_committed_version_1_bundle_still_imports() {
    committed_bundle_imports("success-jwt-users.bundle", 1);
}

#[test]
fn the_committed_version_2_bundle_imports() {
    committed_bundle_imports("v2-success-jwt-users.bundle", 2);
}

/// Applies a committed bundle of format `version` from fixtures/bundles
/// (made from fixtures/appliances/v1) and checks that the fixture's token
/// verifies with the imported keys.
fn committed_bundle_imports(name: &str, version: u8) {
    tacctl::jwt::ensure_provider().unwrap();
    let env = Env::new();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let raw = std::fs::read(fixture.join("bundles").join(name)).unwrap();
    let at = raw.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    assert_eq!(raw[at + 8], version, "{name} is not of format {version}");
    let pass = secrecy::SecretString::from("vector passphrase 2026");
    let open = |ops: &tacctl::ops::Ops| {
        tacctl::ops::bundle::open(
            BundleInput::Memory(&raw[at..]),
            &pass,
            Some(ops.app.scratch("import").unwrap()),
            &tacctl::ops::bundle::NoProgress,
        )
        .unwrap()
    };
    // Its JWT configuration is the fixture cluster's: a node of another
    // cluster refuses it, since its keys would sign tokens no member of
    // either cluster accepts.
    let ops = tacctl::ops::Ops::open(&env.root("esa2"), Duration::from_secs(5)).unwrap();
    let before = tree(&env.root("esa2"));
    let err = ops
        .apply(&open(&ops), &Component::all(), false, 1_795_932_068)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("belongs to cluster \"fixture-cluster\""),
        "{err}"
    );
    assert_eq!(before, tree(&env.root("esa2")));
    env.ok(
        "esa3",
        &["init", "--name", "esa3", "--cluster-id", "fixture-cluster"],
    );
    let ops = tacctl::ops::Ops::open(&env.root("esa3"), Duration::from_secs(5)).unwrap();
    let opened = open(&ops);
    let claims: tacctl::jwt::Claims = serde_json::from_str(
        &std::fs::read_to_string(fixture.join("appliances/v1.claims.json")).unwrap(),
    )
    .unwrap();
    let now = claims.iat + 120;
    let components = Component::all();
    ops.apply(&opened, &components, false, now).unwrap();
    let token = std::fs::read_to_string(fixture.join("appliances/v1.token")).unwrap();
    // The token was issued for the fixture's cluster, which this node is in.
    let settings = tacctl::ops::Ops::open(&env.root("esa3"), Duration::from_secs(5)).unwrap();
    let s = settings.app.jwt_settings().unwrap();
    let keys = settings.app.keyset(&s, now).unwrap();
    let policy = tacctl::jwt::Policy {
        algorithm: s.algorithm,
        issuer: claims.iss.clone(),
        lifetime: 0,
        max_session: 0,
        leeway: 30,
    };
    assert_eq!(
        tacctl::jwt::verify(token.trim(), &keys, &policy, now).unwrap(),
        claims
    );
    assert!(env.ok("esa3", &["user", "list"]).contains("alice"));
}

fn mode_of(p: &Path) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o7777
}

fn files_listing(root: &Path) -> BTreeMap<PathBuf, (Option<Vec<u8>>, u32)> {
    let base = root.join("files");
    walkdir::WalkDir::new(&base)
        .min_depth(1)
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            let data = e
                .file_type()
                .is_file()
                .then(|| std::fs::read(e.path()).unwrap());
            (
                e.path().strip_prefix(&base).unwrap().to_path_buf(),
                (data, mode_of(e.path())),
            )
        })
        .collect()
}

#[test]
fn custom_files_round_trip_with_modes_and_empty_directories() {
    let env = Env::new();
    let f = env.root("esa1").join("files");
    std::fs::create_dir_all(f.join("ca")).unwrap();
    std::fs::create_dir_all(f.join("empty/deeper")).unwrap();
    std::fs::create_dir_all(f.join("bin")).unwrap();
    std::fs::write(f.join("ca/root.pem"), "-----BEGIN CERTIFICATE-----\n").unwrap();
    std::fs::write(f.join("bin/rotate.sh"), "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(
        f.join("bin/rotate.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o750),
    )
    .unwrap();
    std::fs::write(env.root("esa2").join("files/stale.txt"), "old").unwrap();
    // Directories keep their modes too: a CA directory that a service
    // reads as another user, a private one, and one its owner may not
    // write, which arrives writable by its owner.
    std::fs::create_dir_all(f.join("ro")).unwrap();
    std::fs::write(f.join("ro/frozen.txt"), "frozen").unwrap();
    std::fs::create_dir_all(f.join("drop")).unwrap();
    let chmod = |p: PathBuf, mode: u32| {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap()
    };
    chmod(f.join("ca"), 0o755);
    chmod(f.join("empty"), 0o750);
    chmod(f.join("empty/deeper"), 0o711);
    chmod(f.join("ro"), 0o500);
    chmod(f.join("drop"), 0o1777);

    let bundle = env.export("esa1", &["-c", "files"], "files.tacbundle");
    let plan = env.ok("esa2", &["import", bundle.to_str().unwrap(), "--dry-run"]);
    for line in [
        "added bin/rotate.sh (750)",
        "removed stale.txt",
        "added ca/ (755)",
        "added empty/deeper/ (711)",
        "added ro/ (700)",
        "added drop/ (1777)",
    ] {
        assert!(plan.contains(line), "{line} in {plan}");
    }
    env.ok("esa2", &["import", bundle.to_str().unwrap(), "--yes"]);
    let got = files_listing(&env.root("esa2"));
    assert_eq!(
        got[Path::new("bin/rotate.sh")],
        (Some(b"#!/bin/sh\nexit 0\n".to_vec()), 0o750)
    );
    assert!(got.contains_key(Path::new("empty/deeper")));
    assert!(!got.contains_key(Path::new("stale.txt")));
    let mut src = files_listing(&env.root("esa1"));
    // The one difference: the owner may always write a directory.
    src.get_mut(Path::new("ro")).unwrap().1 = 0o700;
    assert_eq!(
        src, got,
        "files, directories and their modes arrive as they left"
    );
    // Importing the same bundle again finds nothing to change.
    let again = env.ok("esa2", &["import", bundle.to_str().unwrap(), "--yes"]);
    assert!(again.contains("Nothing to change"), "{again}");

    // A directory's mode alone is a change, and is applied.
    chmod(f.join("ca"), 0o750);
    let bundle = env.export("esa1", &["-c", "files"], "files2.tacbundle");
    let plan = env.ok("esa2", &["import", bundle.to_str().unwrap(), "--dry-run"]);
    assert!(plan.contains("changed ca/ (755 to 750)"), "{plan}");
    env.ok("esa2", &["import", bundle.to_str().unwrap(), "--yes"]);
    assert_eq!(mode_of(&env.root("esa2").join("files/ca")), 0o750);
    chmod(f.join("ro"), 0o700);

    // Rollback brings each earlier tree back, directory modes included.
    // Snapshots are listed newest first: the mode change, then the first
    // import.
    let ids: Vec<String> = env
        .ok("esa2", &["rollback", "--list"])
        .lines()
        .skip(1)
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    env.ok("esa2", &["rollback", &ids[0]]);
    assert_eq!(mode_of(&env.root("esa2").join("files/ca")), 0o755);
    env.ok("esa2", &["rollback", &ids[1]]);
    let back = files_listing(&env.root("esa2"));
    assert_eq!(
        back.keys().collect::<Vec<_>>(),
        vec![Path::new("stale.txt")]
    );
}

#[test]
fn a_long_plan_shows_its_first_changes_and_counts_the_rest() {
    let env = Env::new();
    let f = env.root("esa1").join("files/many");
    std::fs::create_dir_all(&f).unwrap();
    for i in 0..40 {
        std::fs::write(f.join(format!("f{i:02}.txt")), format!("{i}")).unwrap();
    }
    std::fs::write(env.root("esa2").join("files/stale.txt"), "old").unwrap();
    let bundle = env.export("esa1", &["-c", "files"], "many.tacbundle");
    let plan = env.ok("esa2", &["import", bundle.to_str().unwrap(), "--dry-run"]);
    let shown = tacctl::ops::bundle::PLAN_LINES_PER_COMPONENT;
    // 40 files and their directory added, one file removed: 42 changes.
    let lines: Vec<&str> = plan
        .lines()
        .filter(|l| l.starts_with("    added") || l.starts_with("    removed"))
        .collect();
    assert_eq!(lines.len(), shown, "{plan}");
    let rest = 42 - shown;
    assert!(
        plan.contains(&format!(
            "    ... and {rest} more: {} added, 1 removed (the plan in JSON lists them all: `tacctl import FILE --dry-run --json`, or the API's dry_run=true)",
            rest - 1
        )),
        "{plan}"
    );
    let json = env.json(
        "esa2",
        &["import", bundle.to_str().unwrap(), "--dry-run", "--json"],
    );
    let files = json["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "files")
        .unwrap();
    assert_eq!(files["changes"].as_array().unwrap().len(), 42);
}

#[test]
fn links_under_files_are_refused_on_export_and_nothing_is_written() {
    let env = Env::new();
    std::os::unix::fs::symlink("/etc/passwd", env.root("esa1").join("files/passwd")).unwrap();
    let out = env.exits(
        "esa1",
        &[
            "export",
            "-c",
            "files",
            "--kdf-cost",
            "test",
            "-o",
            "x.tacbundle",
        ],
        2,
    );
    assert!(out.stderr.contains("not a regular file or directory"));
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tacbundle") || n.starts_with(".tacctl-export"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn custom_files_differing_only_in_case_are_refused_on_export() {
    let env = Env::new();
    std::fs::write(env.root("esa1").join("files/Policy.yaml"), "a").unwrap();
    std::fs::write(env.root("esa1").join("files/policy.yaml"), "b").unwrap();
    let out = env.exits(
        "esa1",
        &[
            "export",
            "-c",
            "files",
            "--kdf-cost",
            "test",
            "-o",
            "c.tacbundle",
        ],
        2,
    );
    assert!(
        out.stderr.contains("differ only in letter case"),
        "{}",
        out.stderr
    );
    assert!(!env.dir.path().join("c.tacbundle").exists());
}

#[test]
fn a_files_import_killed_between_its_two_renames_is_finished_by_the_next_command() {
    let env = Env::new();
    std::fs::write(env.root("esa1").join("files/new.txt"), "new").unwrap();
    std::fs::write(env.root("esa2").join("files/old.txt"), "old").unwrap();
    let bundle = env.export("esa1", &["-c", "files"], "f.tacbundle");
    for (point, expect_new) in [("snapshot", false), ("journal", true), ("dir-saved", true)] {
        let _ = std::fs::remove_dir_all(env.root("esa2").join("files"));
        let _ = std::fs::remove_dir_all(env.root("esa2").join("txn"));
        std::fs::create_dir_all(env.root("esa2").join("files")).unwrap();
        std::fs::write(env.root("esa2").join("files/old.txt"), "old").unwrap();
        let out = run(env
            .cmd("esa2", &["import", bundle.to_str().unwrap(), "--yes"])
            .env("TACCTL_TEST_CRASH_AT", point));
        assert!(out.code != 0, "{point}: the import was expected to crash");
        env.ok("esa2", &["status"]);
        let names: Vec<PathBuf> = files_listing(&env.root("esa2")).into_keys().collect();
        if !expect_new {
            assert_eq!(names, vec![PathBuf::from("old.txt")], "{point}");
        } else {
            assert_eq!(names, vec![PathBuf::from("new.txt")], "{point}");
        }
    }
}

#[test]
fn network_settings_travel_and_the_host_name_only_when_asked() {
    let env = Env::new();
    env.ok(
        "esa1",
        &[
            "network",
            "set",
            "--dns",
            "10.0.0.1,10.0.0.2",
            "--ntp",
            "ntp.example.net",
            "--syslog",
            "logs.example.net:6514/tcp",
            "--hostname",
            "esa1.example.net",
        ],
    );
    let out = env.exits("esa1", &["network", "set", "--dns", "not-an-ip"], 2);
    assert!(out.stderr.contains("dns_servers[0]"));

    // A -c export leaves the node-local host name out; --all (a full backup) keeps it.
    let partial = env.export("esa1", &["-c", "network"], "n.tacbundle");
    let full = env.export("esa1", &["--all"], "all.tacbundle");
    let before = tree(&env.root("esa2"));
    env.ok("esa2", &["import", partial.to_str().unwrap(), "--yes"]);
    let n = env.json("esa2", &["network", "show", "--json"]);
    assert_eq!(
        n["dns_servers"],
        serde_json::json!(["10.0.0.1", "10.0.0.2"])
    );
    assert_eq!(n["syslog_targets"][0]["protocol"], "tcp");
    assert!(n.get("hostname").is_none(), "{n}");

    let plan = env.ok(
        "esa2",
        &[
            "import",
            full.to_str().unwrap(),
            "-c",
            "network",
            "--dry-run",
        ],
    );
    assert!(plan.contains("skipped hostname"), "{plan}");
    env.ok(
        "esa2",
        &["import", full.to_str().unwrap(), "-c", "network", "--yes"],
    );
    assert!(
        env.json("esa2", &["network", "show", "--json"])
            .get("hostname")
            .is_none()
    );
    env.ok(
        "esa2",
        &[
            "import",
            full.to_str().unwrap(),
            "-c",
            "network",
            "--include-node-local",
            "--yes",
        ],
    );
    assert_eq!(
        env.json("esa2", &["network", "show", "--json"])["hostname"],
        "esa1.example.net"
    );

    // Rolling back to before the first import removes network.yaml again.
    let first = env
        .ok("esa2", &["rollback", "--list"])
        .lines()
        .last()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    env.ok("esa2", &["rollback", &first]);
    let now = tree(&env.root("esa2"));
    let config = |t: &BTreeMap<PathBuf, Vec<u8>>| {
        t.keys()
            .filter(|p| p.starts_with("config"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(config(&before), config(&now));
    assert_eq!(
        before[Path::new("config/users.yaml")],
        now[Path::new("config/users.yaml")]
    );
}

#[test]
fn ldap_settings_travel_with_the_bind_password_resealed_and_never_shown() {
    let env = Env::new();
    let bind_pw = "ldap-bind-secret-4711";
    std::fs::write(env.path("bindpw"), format!("{bind_pw}\n")).unwrap();
    env.exits(
        "esa1",
        &[
            "ldap",
            "set",
            "--url",
            "http://x",
            "--base-dn",
            "dc=example,dc=org",
        ],
        2,
    );
    assert!(!env.root("esa1").join("config/ldap.yaml").exists());
    env.ok(
        "esa1",
        &[
            "ldap",
            "set",
            "--url",
            "ldap://127.0.0.1:3890",
            "--base-dn",
            "dc=example,dc=org",
            "--bind-dn",
            "cn=svc,dc=example,dc=org",
            "--bind-password-file",
            "bindpw",
            "--api-access-group",
            "cn=api,ou=groups,dc=example,dc=org",
            "--timeout",
            "3",
        ],
    );
    let shown = env.ok("esa1", &["ldap", "show"]);
    assert!(
        shown.contains("Bind password:     set") && !shown.contains(bind_pw),
        "{shown}"
    );
    let json = env.json("esa1", &["ldap", "show", "--json"]);
    assert_eq!(json["timeout_seconds"], 3);
    assert_eq!(json["bind_password_set"], true);

    let bundle = env.export("esa1", &["-c", "ldap"], "l.tacbundle");
    env.ok("esa2", &["import", bundle.to_str().unwrap(), "--yes"]);
    assert_eq!(env.json("esa2", &["ldap", "show", "--json"]), json);
    for node in ["esa1", "esa2"] {
        for (path, data) in tree(&env.root(node)) {
            assert!(
                !data.windows(bind_pw.len()).any(|w| w == bind_pw.as_bytes()),
                "{node}: the bind password is in {} in the clear",
                path.display()
            );
        }
    }
    // Re-sealed under esa2's own master key: the sealed text differs.
    let sealed =
        |node: &str| std::fs::read_to_string(env.root(node).join("config/ldap.yaml")).unwrap();
    assert_ne!(sealed("esa1"), sealed("esa2"));
    // And it opens there: a re-import is "unchanged", which compares the passwords.
    let again = env.ok("esa2", &["import", bundle.to_str().unwrap(), "--yes"]);
    assert!(again.contains("Nothing to change"), "{again}");

    env.ok("esa2", &["ldap", "disable"]);
    assert_eq!(
        env.json("esa2", &["ldap", "show", "--json"])["enabled"],
        false
    );
}

#[test]
fn the_tls_certificate_is_node_local_and_travels_only_when_asked() {
    let env = Env::new();
    let esa2_own = env.ok("esa2", &["tls", "show"]).trim().to_owned();
    assert!(esa2_own.starts_with("SHA256:"), "init made no certificate");
    let (cert, key) = tacctl::tls::self_signed("esa1.example").unwrap();
    std::fs::write(env.path("cert.pem"), &cert).unwrap();
    std::fs::write(env.path("key.pem"), &key).unwrap();
    // A key is not a certificate.
    env.exits(
        "esa1",
        &["tls", "set", "--cert", "key.pem", "--key", "key.pem"],
        2,
    );
    let (_, other_key) = tacctl::tls::self_signed("other").unwrap();
    std::fs::write(env.path("other.pem"), &other_key).unwrap();
    // A key of another certificate.
    let out = env.exits(
        "esa1",
        &["tls", "set", "--cert", "cert.pem", "--key", "other.pem"],
        2,
    );
    assert!(
        out.stderr.contains("does not belong to the certificate"),
        "{}",
        out.stderr
    );
    let set = env.ok(
        "esa1",
        &["tls", "set", "--cert", "cert.pem", "--key", "key.pem"],
    );
    let fp = env.ok("esa1", &["tls", "show"]).trim().to_owned();
    assert!(
        fp.starts_with("SHA256:") && set.contains(&fp),
        "{set} / {fp}"
    );
    let key_pem = std::fs::read(env.path("key.pem")).unwrap();
    for (path, data) in tree(&env.root("esa1")) {
        assert!(
            !data.windows(key_pem.len()).any(|w| w == key_pem),
            "the key is in {} in the clear",
            path.display()
        );
    }

    let out = env.exits(
        "esa1",
        &[
            "export",
            "-c",
            "tls",
            "--kdf-cost",
            "test",
            "-o",
            "t.tacbundle",
        ],
        2,
    );
    assert!(out.stderr.contains("node-local"));
    let full = env.export("esa1", &["--all"], "full.tacbundle");
    let plan = env.ok(
        "esa2",
        &["import", full.to_str().unwrap(), "-c", "tls", "--dry-run"],
    );
    assert!(plan.contains("skipped certificate"), "{plan}");
    env.ok(
        "esa2",
        &["import", full.to_str().unwrap(), "-c", "tls", "--yes"],
    );
    assert_eq!(
        env.ok("esa2", &["tls", "show"]).trim(),
        esa2_own,
        "another node's certificate was applied"
    );
    env.ok(
        "esa2",
        &[
            "import",
            full.to_str().unwrap(),
            "-c",
            "tls",
            "--include-node-local",
            "--yes",
        ],
    );
    assert_eq!(env.ok("esa2", &["tls", "show"]).trim(), fp);
}

/// Records what an export or import reports.
#[derive(Default)]
struct Recorder {
    totals: std::sync::Mutex<Vec<u64>>,
    done: std::sync::Mutex<Vec<u64>>,
}

impl tacctl::ops::bundle::Progress for Recorder {
    fn total(&self, bytes: u64) {
        self.totals.lock().unwrap().push(bytes);
    }
    fn done(&self, bytes: u64) {
        self.done.lock().unwrap().push(bytes);
    }
}

fn assert_grows_to(seen: &[u64], end: u64, what: &str) {
    assert!(seen.len() > 2, "{what}: too few reports: {seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "{what}: reports went backwards: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&end), "{what}: {seen:?}");
}

#[test]
fn progress_grows_to_the_archived_bytes_on_export_and_to_the_bundle_size_on_import() {
    tacctl::jwt::ensure_provider().unwrap();
    let env = Env::new();
    let files = env.root("esa1").join("files");
    let mut expected = 0u64;
    for (i, len) in [3 << 20, 1_500_000, 10, 0].into_iter().enumerate() {
        // Incompressible, so that the bundle is as large as its content.
        let data = common::noise(0x9e37_79b9_7f4a_7c15 + i as u64, len);
        std::fs::write(files.join(format!("f{i}.bin")), &data).unwrap();
        expected += len as u64;
    }
    let ops = tacctl::ops::Ops::open(&env.root("esa1"), Duration::from_secs(5)).unwrap();
    let pass = secrecy::SecretString::from(PASSPHRASE);
    let export = Recorder::default();
    let (_, bundle) = ops
        .export(
            &[Component::Files],
            false,
            &tacctl::bundle::header::Lock::passphrase(
                &pass,
                tacctl::bundle::header::KdfParams::TEST,
            ),
            Vec::new(),
            1_800_000_000,
            &export,
        )
        .unwrap();
    assert_eq!(*export.totals.lock().unwrap(), vec![expected]);
    assert_grows_to(&export.done.lock().unwrap(), expected, "export");

    let import = Recorder::default();
    let staging = tempfile::tempdir().unwrap();
    tacctl::bundle::open(
        std::io::Cursor::new(&bundle[..]),
        None,
        &pass,
        Some(staging.path()),
        &import,
    )
    .unwrap();
    assert!(import.totals.lock().unwrap().is_empty());
    assert_grows_to(&import.done.lock().unwrap(), bundle.len() as u64, "import");
}

/// A files/ tree large enough for a progress bar at once: one sparse file.
fn large_files(env: &Env, node: &str) {
    let f = std::fs::File::create(env.root(node).join("files/large.bin")).unwrap();
    f.set_len(65 << 20).unwrap();
}

#[test]
fn no_progress_bar_when_standard_error_is_not_a_terminal() {
    let env = Env::new();
    large_files(&env, "esa1");
    let out = env.exits(
        "esa1",
        &[
            "export",
            "--kdf-cost",
            "test",
            "-c",
            "files",
            "-o",
            "l.tacbundle",
        ],
        0,
    );
    assert_eq!(out.stderr, "");
    assert!(
        out.stdout
            .starts_with("Exported files from esa1 to l.tacbundle")
    );
    let out = env.exits("esa2", &["import", "l.tacbundle", "--yes"], 0);
    assert_eq!(out.stderr, "");
    assert!(out.stdout.contains("Imported: applied"));
}

/// The algorithm in a token's header.
fn alg_of(token: &str) -> String {
    use base64::Engine as _;
    let head = token.split('.').next().unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(&json).unwrap()["alg"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn importing_another_key_and_algorithm_ends_no_session_until_its_grace_ends() {
    // Regression: an import from HS256 to HS512 kept the old key but
    // checked its tokens under HS512, so every live session ended while
    // the plan said none would.
    let env = Env::new();
    env.ok("esa1", &["jwt", "set-algorithm", "HS512"]);
    let old = env.token("esa2", "admin", ADMIN_PW);
    assert_eq!(alg_of(&old), "HS256");
    let bundle = env.export("esa1", &["-c", "jwt"], "jwt.tacbundle");
    let plan = env.json(
        "esa2",
        &["import", bundle.to_str().unwrap(), "--dry-run", "--json"],
    );
    let said = plan["sessions_ended"].as_str().unwrap().to_owned();
    assert!(said.starts_with("none: "), "{said}");
    assert!(said.contains("(HS256)"), "{said}");
    env.ok("esa2", &["import", bundle.to_str().unwrap(), "--yes"]);
    // What the plan said: the old session goes on, and refreshes into the
    // new configuration.
    assert!(env.verifies("esa2", &old), "the plan said no session ends");
    let refreshed = assert_exit(
        env.cmd("esa2", &["token", "refresh", "-"])
            .write_stdin(old.clone()),
        0,
    );
    let new = refreshed.stdout.trim().to_owned();
    assert_eq!(alg_of(&new), "HS512");
    assert!(env.verifies("esa1", &new), "the new token is the cluster's");
    // And when the grace is cut short, exactly those sessions end.
    env.ok("esa2", &["jwt", "revoke-previous"]);
    assert!(!env.verifies("esa2", &old));
    assert!(env.verifies("esa2", &new));
}

#[test]
fn importing_the_same_key_under_another_algorithm_keeps_its_old_tokens_for_the_grace() {
    let env = Env::new();
    let secret = env.path("secret");
    std::fs::write(&secret, "s".repeat(64)).unwrap();
    for node in ["esa1", "esa2"] {
        env.ok(
            node,
            &[
                "jwt",
                "set-secret",
                "--secret-file",
                secret.to_str().unwrap(),
            ],
        );
    }
    let old = env.token("esa2", "admin", ADMIN_PW);
    env.ok("esa1", &["jwt", "set-algorithm", "HS384"]);
    let after_change = env.token("esa1", "admin", ADMIN_PW);
    assert_eq!(alg_of(&after_change), "HS384");
    let bundle = env.export("esa1", &["-c", "jwt"], "jwt.tacbundle");
    env.ok("esa2", &["import", bundle.to_str().unwrap(), "--yes"]);
    assert!(
        env.verifies("esa2", &old),
        "HS256 tokens of the same key stay accepted"
    );
    assert!(env.verifies("esa2", &after_change));
    env.ok("esa2", &["jwt", "revoke-previous"]);
    assert!(!env.verifies("esa2", &old));
    assert!(env.verifies("esa2", &after_change));
}

/// `jwt set-secret` with a 32-byte secret, another `jwt set-secret`, then
/// `jwt set-algorithm HS512` leaves a retired 32-byte key that follows the
/// configured HS512: the JWT configuration's rules do not hold retired keys
/// to their algorithm's length, so it still exports and imports.
#[test]
fn a_retired_key_shorter_than_the_algorithm_it_now_verifies_still_exports_and_imports() {
    let env = Env::new();
    std::fs::write(env.path("short"), "s".repeat(32)).unwrap();
    env.ok("esa1", &["jwt", "set-secret", "--secret-file", "short"]);
    env.ok("esa1", &["jwt", "set-secret", "--generate"]);
    env.ok("esa1", &["jwt", "set-algorithm", "HS512"]);
    let shown = env.json("esa1", &["jwt", "show", "--json"]);
    let short_kid = shown["previous_keys"][1]["kid"].clone();
    assert_eq!(shown["previous_keys"][1]["algorithm"], "HS512", "{shown}");
    let bundle = env.export("esa1", &["-c", "jwt"], "jwt.tacbundle");
    env.ok("esa2", &["import", bundle.to_str().unwrap(), "--yes"]);
    let imported = env.json("esa2", &["jwt", "show", "--json"]);
    assert_eq!(imported["kid"], shown["kid"]);
    assert!(
        imported["previous_keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == short_kid),
        "{imported}"
    );
}
