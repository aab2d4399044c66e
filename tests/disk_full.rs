//! A full disk during an import: on a small tmpfs (mounted, so only when
//! run as root; otherwise each test says so and returns), an import whose
//! custom files do not fit exits 8, says why and which file, and leaves
//! the appliance byte for byte as it was, with no scratch directory and
//! the disk's free space as before. So does one that runs out of space
//! writing its journal, the commit point: it is provoked by filling the
//! disk to within a page or two of what the import needs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{ADMIN_PASSWORD, Snapshot, assert_unchanged, snapshot};

const PASSPHRASE: &str = "correct horse battery staple 99";

/// A tmpfs of `size` mounted on a temporary directory, unmounted when
/// dropped, whatever the test did.
struct Tmpfs {
    dir: tempfile::TempDir,
    mounted: bool,
}

impl Tmpfs {
    /// Mounts one, or says why not and returns `None`: not root, or no
    /// permission to mount here (a container, say).
    fn mount(size: &str) -> Option<Self> {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: mounting a small tmpfs to fill needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Self { dir, mounted: true }),
            Ok(o) => {
                eprintln!(
                    "skipped: cannot mount a tmpfs: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Free blocks, as an import's own check sees them.
    fn free(&self) -> u64 {
        rustix::fs::statvfs(self.path()).unwrap().f_bavail
    }

    fn block_size(&self) -> u64 {
        rustix::fs::statvfs(self.path()).unwrap().f_frsize
    }

    /// Unmounts it now, and checks that nothing held a file open on it
    /// and that it is gone.
    fn unmount(mut self) {
        let status = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "umount failed: a file is still open there"
        );
        self.mounted = false;
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
        assert!(
            !mounts.contains(self.path().to_str().unwrap()),
            "still mounted"
        );
    }

    fn umount(&mut self) {
        if !self.mounted {
            return;
        }
        let ok = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Something still has a file open there: detach it anyway.
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
        self.mounted = false;
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        self.umount();
    }
}

/// An appliance at `root` made by `tacctl init`.
struct App {
    root: PathBuf,
    admin_password_file: PathBuf,
}

impl App {
    fn init(root: PathBuf, beside: &Path, name: &str) -> Self {
        let admin_password_file = beside.join(format!("{name}.admin.pw"));
        common::write_private(&admin_password_file, format!("{ADMIN_PASSWORD}\n"));
        let app = Self {
            root,
            admin_password_file,
        };
        app.cmd()
            .args(["init", "--name", name, "--cluster-id", "c1"])
            .arg("--admin-password-file")
            .arg(&app.admin_password_file)
            .assert()
            .success();
        app
    }

    fn cmd(&self) -> assert_cmd::Command {
        let mut c = common::tacctl();
        c.arg("--root")
            .arg(&self.root)
            .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("TACCTL_PASSPHRASE", PASSPHRASE);
        c
    }

    fn import(&self, bundle: &Path) -> Output {
        self.cmd()
            .arg("import")
            .arg(bundle)
            .args(["--yes", "-q"])
            .output()
            .unwrap()
    }

    fn snapshot(&self) -> Snapshot {
        snapshot(&self.root)
    }
}

/// An appliance on the ordinary temporary disk with `files` as its custom
/// files, and its bundle of jwt, users and files.
fn source_bundle(dir: &Path, name: &str, files: &[(String, Vec<u8>)]) -> PathBuf {
    let src = App::init(dir.join(name), dir, name);
    for (rel, data) in files {
        let path = src.root.join("files").join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    let bundle = dir.join(format!("{name}.tacbundle"));
    src.cmd()
        .args([
            "export",
            "-c",
            "jwt,users,files",
            "--kdf-cost",
            "test",
            "-q",
            "-o",
        ])
        .arg(&bundle)
        .assert()
        .success();
    bundle
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What every refused import on the full disk must leave: exit 8, a
/// message saying the disk is full and naming the file or the space
/// missing, the appliance as `before`, no scratch or transaction
/// directory, the space as `free`.
#[track_caller]
fn assert_refused_cleanly(
    what: &str,
    out: &Output,
    app: &App,
    before: &Snapshot,
    fs: &Tmpfs,
    free: u64,
) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(8), "{what}: {err}");
    assert!(
        err.contains("No space left on device") || err.contains("the disk has"),
        "{what}: the message says neither that the disk is full nor how much is missing: {err}"
    );
    assert!(
        err.contains(fs.path().to_str().unwrap()),
        "{what}: the message names no file on the disk: {err}"
    );
    assert!(!app.root.join("scratch").exists(), "{what}: scratch/ left");
    assert!(!app.root.join("txn").exists(), "{what}: txn/ left");
    assert_unchanged(before, &app.snapshot());
    assert_eq!(fs.free(), free, "{what}: disk space not given back");
}

#[test]
fn an_import_whose_custom_files_do_not_fit_exits_8_and_changes_nothing() {
    let Some(fs) = Tmpfs::mount("4m") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let app = App::init(fs.path().join("esa2"), work.path(), "esa2");
    std::fs::write(app.root.join("files/own.txt"), "esa2's own\n").unwrap();
    // More bytes than the disk has: refused before anything is written.
    let big = source_bundle(
        work.path(),
        "big",
        &[
            ("a.bin".into(), common::noise(1, 3 << 20)),
            ("b.bin".into(), common::noise(2, 3 << 20)),
        ],
    );
    // Few bytes, but a block each: refused when the disk fills up while
    // they are being staged.
    let many_files: Vec<(String, Vec<u8>)> = (0..1_500)
        .map(|i| (format!("many/f{i}"), vec![b'x']))
        .collect();
    let many = source_bundle(work.path(), "many", &many_files);
    let before = app.snapshot();
    let free = fs.free();
    assert!(free * fs.block_size() < 6 << 20 && free > 1_000);
    for (what, bundle) in [("6 MiB", &big), ("1,500 one-byte files", &many)] {
        let out = app.import(bundle);
        assert_refused_cleanly(what, &out, &app, &before, &fs, free);
        assert!(
            stderr(&out).contains("nothing was changed"),
            "{what}: {}",
            stderr(&out)
        );
    }
    // The appliance works, and the disk is let go whole.
    app.cmd().arg("status").assert().success();
    fs.unmount();
}

/// Imports a bundle of 20 one-byte custom files with the disk filled to
/// `k` blocks short of full, for every `k` from 0 until the import
/// succeeds, so that each write of the import in turn is the one that
/// finds the disk full; returns the file each failure named, the root
/// shown as `ROOT`, in order. The failure at the journal, and with
/// `strict` every failure, is checked as [`assert_refused_cleanly`] does;
/// the others only for exit 8, then the next command clears what they left.
fn fill_to_each_step(strict: bool) -> Option<Vec<String>> {
    let fs = Tmpfs::mount("4m")?;
    let work = tempfile::tempdir().unwrap();
    let files: Vec<(String, Vec<u8>)> = (0..20).map(|i| (format!("f{i}"), vec![b'x'])).collect();
    let bundle = source_bundle(work.path(), "src", &files);
    let app = App::init(fs.path().join("esa2"), work.path(), "esa2");
    let before = app.snapshot();
    let free = fs.free();
    let filler = fs.path().join("filler");
    let root = app.root.to_str().unwrap().to_owned();
    let mut named = Vec::new();
    for k in 0..200 {
        std::fs::write(&filler, vec![0u8; ((free - k) * fs.block_size()) as usize]).unwrap();
        let left = fs.free();
        let out = app.import(&bundle);
        if out.status.success() {
            return Some(named);
        }
        let err = stderr(&out);
        let file = err
            .lines()
            .find_map(|l| l.strip_prefix("error: "))
            .and_then(|l| l.split(": ").next())
            .unwrap_or_default()
            .replace(&root, "ROOT");
        let what = format!("{k} blocks free, {file}");
        if strict || file == "ROOT/txn/journal.yaml" {
            assert_refused_cleanly(&what, &out, &app, &before, &fs, left);
        } else {
            assert_eq!(out.status.code(), Some(8), "{what}: {err}");
            app.cmd().arg("status").assert().success();
        }
        named.push(file);
        std::fs::remove_file(&filler).unwrap();
    }
    panic!("the import never fitted: {named:?}");
}

#[test]
fn the_journal_write_failing_on_a_full_disk_exits_8_and_changes_nothing() {
    let Some(named) = fill_to_each_step(false) else {
        return;
    };
    eprintln!("the writes that found the disk full, in turn: {named:?}");
    // The commit point was among the writes that found the disk full, the
    // last before the import fitted.
    assert_eq!(
        named.last().map(String::as_str),
        Some("ROOT/txn/journal.yaml"),
        "{named:?}"
    );
}

#[test]
fn a_full_disk_at_any_write_of_an_import_leaves_the_appliance_unchanged() {
    fill_to_each_step(true);
}
