//! A journal that cannot be acted on safely stops every command, through
//! the real binary: `txn/journal.yaml` naming paths outside the
//! configuration, garbled or cut short. The command exits 9, names the
//! journal and `tacctl recover --discard-journal`, and touches nothing
//! inside the appliance or beside it; `recover --discard-journal`, with
//! the root credentials, then keeps the configuration as it is, records
//! that in the history, and every command works again.

mod common;

use std::path::Path;
use std::process::Output;

use common::{Snapshot, TempAppliance, assert_unchanged, snapshot};

/// A snapshot id of the shape tacctl makes.
const SNAPSHOT_ID: &str = "1796000000-00001-0123abcd";
const PASSPHRASE: &str = "correct horse battery staple 99";

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An appliance with `sentinel/keep` beside its root: what a hostile
/// journal would move, replace or delete.
struct Case {
    app: TempAppliance,
}

impl Case {
    fn new() -> Self {
        let app = TempAppliance::new();
        let sentinel = app.dir().join("sentinel");
        std::fs::create_dir(&sentinel).unwrap();
        std::fs::write(sentinel.join("keep"), "keep\n").unwrap();
        Self { app }
    }

    fn sentinel(&self) -> std::path::PathBuf {
        self.app.dir().join("sentinel")
    }

    /// Puts `journal` in place as `txn/journal.yaml`, with `staged` files
    /// (relative to `txn/staged/`) beside it.
    fn write_journal(&self, journal: &[u8], staged: &[(&str, &str)]) {
        let txn = self.app.root.join("txn");
        std::fs::create_dir_all(txn.join("staged")).unwrap();
        for (rel, content) in staged {
            let path = txn.join("staged").join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        common::write_private(&txn.join("journal.yaml"), journal);
    }

    /// The root, without what crashed commands left in `scratch/`, which
    /// any command may sweep away.
    fn root(&self) -> Snapshot {
        let mut s = self.app.snapshot();
        s.retain(|path, _| !path.starts_with("scratch"));
        s
    }

    fn config(&self) -> Snapshot {
        snapshot(&self.app.root.join("config"))
    }

    /// Every command refuses the journal alike and changes nothing, and
    /// `recover --discard-journal` then gets the appliance going again.
    fn check(&self, what: &str) {
        let root_before = self.root();
        let sentinel_before = snapshot(&self.sentinel());
        let config_before = self.config();
        for args in [
            &["status"][..],
            &["recover"],
            &["user", "list"],
            &["jwt", "show"],
            &["user", "add", "mallory", "--role", "admin"],
        ] {
            let out = self
                .app
                .cmd()
                .args(args)
                .env("TACCTL_PASSWORD", "mallory-password-1")
                .output()
                .unwrap();
            let err = stderr(&out);
            assert_eq!(code(&out), 9, "{what}: {args:?}: {err}");
            assert!(err.contains("txn/journal.yaml"), "{what}: {args:?}: {err}");
            assert!(
                err.contains("tacctl recover --discard-journal"),
                "{what}: {args:?}: {err}"
            );
            assert_unchanged(&root_before, &self.root());
            assert_unchanged(&sentinel_before, &snapshot(&self.sentinel()));
        }
        assert!(
            !self.app.root.join("scratch").exists(),
            "{what}: what a crashed command left in scratch/ is swept all the same"
        );
        // The way out asks for the root credentials, and wrong ones change nothing.
        let out = self
            .app
            .bare()
            .args(["recover", "--discard-journal"])
            .env("TACCTL_ADMIN_PASSWORD", "not-the-password")
            .output()
            .unwrap();
        assert_eq!(code(&out), 3, "{what}: {}", stderr(&out));
        assert_unchanged(&root_before, &self.root());

        let out = self
            .app
            .cmd()
            .args(["recover", "--discard-journal"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{what}: {}", stderr(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout)
                .to_lowercase()
                .contains("discarded the damaged journal"),
            "{what}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!self.app.root.join("txn").exists(), "{what}: txn/ is left");
        assert_unchanged(&config_before, &self.config());
        assert_unchanged(&sentinel_before, &snapshot(&self.sentinel()));
        let history: serde_json::Value =
            common::json_of(self.app.bare().args(["history", "--json"]));
        let last = history
            .as_array()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default();
        assert_eq!(last["action"], "recover", "{what}: {history}");
        assert!(
            last["outcome"]
                .as_str()
                .unwrap()
                .contains("discarded a damaged journal"),
            "{what}: {history}"
        );
        assert_eq!(self.app.status()["cluster_id"], "c1", "{what}");
        let again = self.app.cmd().arg("recover").output().unwrap();
        assert!(
            String::from_utf8_lossy(&again.stdout).contains("Nothing to recover"),
            "{what}: {}",
            stderr(&again)
        );
        self.app
            .add_user("trent", "operator", "trent-password-1", &[]);
    }
}

fn journal(rest: &str) -> Vec<u8> {
    format!("version: 1\nsnapshot: {SNAPSHOT_ID}\n{rest}\n").into_bytes()
}

#[test]
fn a_journal_naming_a_file_outside_the_appliance_is_refused_and_can_be_discarded() {
    let case = Case::new();
    // `txn/staged/../sentinel/keep` is `txn/sentinel/keep`: rolling forward
    // would rename it over the sentinel beside the root.
    case.write_journal(
        &journal("files: [../sentinel/keep]"),
        &[("../sentinel/keep", "replaced\n")],
    );
    case.check("files: [../sentinel/keep]");
}

#[test]
fn a_journal_removing_an_absolute_path_is_refused_and_can_be_discarded() {
    let case = Case::new();
    let keep = case.sentinel().join("keep");
    case.write_journal(
        &journal(&format!(
            "files: [config/jwt.yaml]\nremove: [{}]",
            keep.display()
        )),
        &[("config/jwt.yaml", "version: 1\nevil: true\n")],
    );
    case.check("remove: [/abs/path]");
}

#[test]
fn a_journal_replacing_an_absolute_directory_is_refused_and_can_be_discarded() {
    let case = Case::new();
    // Joined to `txn/staged/`, an absolute path is itself: the staged tree
    // would be the sentinel, and the live tree it replaces too.
    case.write_journal(
        &journal(&format!("files: []\ndirs: [{}]", case.sentinel().display())),
        &[],
    );
    case.check("dirs: [/abs/dir]");
}

#[test]
fn a_journal_naming_the_master_key_is_refused_and_can_be_discarded() {
    let case = Case::new();
    case.write_journal(
        &journal("files: [master.key]"),
        &[("master.key", "tacctl-master-key-v1\nAAAA\n")],
    );
    case.check("files: [master.key]");
}

#[test]
fn a_garbled_journal_is_refused_and_can_be_discarded() {
    let case = Case::new();
    case.write_journal(b"\xff\xfe\x00garbage: [\x01\x02", &[]);
    case.check("garbled, not UTF-8");
    let case = Case::new();
    case.write_journal(b"version: [1\nsnapshot: {{\n", &[]);
    case.check("garbled YAML");
}

/// An appliance whose import of `bundle` stopped right after its commit
/// point: a real journal, its pending snapshot and its staged files.
fn stopped_at_the_journal(bundle: &Path) -> Case {
    let case = Case::new();
    let out = case
        .app
        .cmd()
        .arg("import")
        .arg(bundle)
        .args(["--yes", "-q"])
        .env("TACCTL_PASSPHRASE", PASSPHRASE)
        .env("TACCTL_TEST_CRASH_AT", "journal")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the import was to stop at its journal"
    );
    case
}

#[test]
fn a_journal_cut_short_is_refused_and_discarding_it_keeps_the_snapshot() {
    let source = TempAppliance::named("esa0", "c1");
    source.add_user("dave", "operator", "dave-password-1", &[]);
    let bundle = source.dir().join("b.tacbundle");
    source
        .cmd()
        .args([
            "export",
            "-c",
            "jwt,users",
            "--kdf-cost",
            "test",
            "-q",
            "-o",
        ])
        .arg(&bundle)
        .env("TACCTL_PASSPHRASE", PASSPHRASE)
        .assert()
        .success();
    // Without its last line (the end marker, which it may still parse
    // without), and cut in half.
    for (what, cut) in [("without its end marker", 4), ("cut in half", usize::MAX)] {
        let case = stopped_at_the_journal(&bundle);
        let path = case.app.root.join("txn/journal.yaml");
        let whole = std::fs::read(&path).unwrap();
        assert!(
            whole.ends_with(b"\n...\n"),
            "{}",
            String::from_utf8_lossy(&whole)
        );
        let keep = whole.len().saturating_sub(cut).max(whole.len() / 2);
        common::write_private(&path, &whole[..keep]);
        let pending =
            std::fs::read_to_string(case.app.root.join("txn/snapshot/snapshot.yaml")).unwrap();
        case.check(what);
        // Nothing of the import was applied (check() saw the configuration
        // kept), and the snapshot taken before it is kept among the
        // snapshots, named by the history's record.
        let users: serde_json::Value =
            common::json_of(case.app.bare().args(["user", "list", "--json"]));
        assert!(
            users
                .as_array()
                .unwrap()
                .iter()
                .all(|u| u["name"] != "dave"),
            "{what}: {users}"
        );
        let list = String::from_utf8(
            case.app
                .bare()
                .args(["rollback", "--list"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let ids: Vec<&str> = list
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(ids.len(), 1, "{what}: {list}");
        assert!(pending.contains(ids[0]), "{what}: {list} / {pending}");
        let history: serde_json::Value =
            common::json_of(case.app.bare().args(["history", "--json"]));
        let recover = history
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["action"] == "recover")
            .unwrap();
        assert_eq!(recover["snapshot"], ids[0], "{what}: {history}");
    }
}
