//! Export and import stay within the key derivation's memory plus 32 MiB,
//! measured by the kernel for the tacctl process alone.
//!
//! This test has a binary of its own on purpose. Linux carries a process's
//! memory high-water mark across `exec`: a child's `ru_maxrss` is at least
//! the high-water mark its parent had when it spawned it. Beside the other
//! bundle tests (which hold bundles and archives in memory in parallel) the
//! test process itself peaked above 300 MiB, and every child inherited that
//! figure. Alone, the test process stays far below what tacctl uses, so the
//! figure `wait4` reports is tacctl's own.

mod common;

use common::{ADMIN_PASSWORD, TempAppliance};

const PASSPHRASE: &str = "correct horse battery staple 99";

/// Runs tacctl on `app` with `args` in `cwd` and returns its peak resident
/// memory, KiB, from the kernel's accounting of that one process (`wait4`).
fn peak_rss_kib(app: &TempAppliance, cwd: &std::path::Path, args: &[&str]) -> i64 {
    #[allow(
        clippy::zombie_processes,
        reason = "wait4 below reaps it, to read its resource usage"
    )]
    let child = common::tacctl_process()
        .arg("--root")
        .arg(&app.root)
        .args(args)
        .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("TACCTL_PASSPHRASE", PASSPHRASE)
        .current_dir(cwd)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid, and the pid is our own child,
    // reaped here once.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "tacctl {args:?} failed: {status}"
    );
    usage.ru_maxrss
}

#[test]
fn export_and_import_stay_within_the_kdfs_memory_plus_32_mib() {
    let esa1 = TempAppliance::named("esa1", "c1");
    let esa2 = TempAppliance::named("esa2", "c1");
    // 24 MiB of custom files, hard to compress, in 6 files.
    let files = esa1.root.join("files");
    std::fs::create_dir_all(&files).unwrap();
    for i in 0..6 {
        let bytes = common::noise(0x9e37_79b9_7f4a_7c15 + i, 4 << 20);
        std::fs::write(files.join(format!("blob{i}.bin")), bytes).unwrap();
    }
    let bundle = esa1.dir().join("big.tacbundle");
    let bundle = bundle.to_str().unwrap();
    // The default key derivation: Argon2id with 64 MiB.
    let limit_kib = (64 + 32) * 1024;
    let export = peak_rss_kib(&esa1, esa1.dir(), &["export", "-c", "files", "-o", bundle]);
    assert!(export <= limit_kib, "export peaked at {export} KiB");
    let import = peak_rss_kib(&esa2, esa2.dir(), &["import", bundle, "--yes"]);
    assert!(import <= limit_kib, "import peaked at {import} KiB");
    assert_eq!(
        std::fs::read(files.join("blob5.bin")).unwrap(),
        std::fs::read(esa2.root.join("files/blob5.bin")).unwrap()
    );
}
