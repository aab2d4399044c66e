//! The README's main job, `tacctl demo`, runs as a test.

mod common;

use assert_cmd::Command;

#[test]
fn demo_walks_through_the_jwt_life_cycle_and_cleans_up() {
    let stdout = common::assert_exit(
        Command::cargo_bin("tacctl")
            .unwrap()
            .arg("demo")
            .env_remove("TACCTL_ROOT")
            .timeout(std::time::Duration::from_secs(60)),
        0,
    )
    .stdout;
    for step in [
        "1. Install ESA 1",
        "Set JWT Algorithm: HS384",
        "ESA 1 serves its REST API",
        "with certificate SHA256:",
        "a wrong password gets no token: esa1 refused: login failed",
        "200: appliance esa1, cluster demo-cluster, algorithm HS384",
        "a new token for the same session; it is accepted too",
        "the running server picked it up without a restart",
        "alice's token (old key) is still accepted",
        "the old token is now refused: esa1 refused: token refused: key check failed",
        "ESA 2 and ESA 3 are installed in the same cluster",
        "$ tacctl cluster add esa2 https://127.0.0.1:",
        "Added member esa2",
        "Added member esa3",
        "ESA 2 refuses that token",
        "esa2 refused: token refused: algorithm check failed",
        "$ tacctl cluster status",
        "esa2    DRIFT",
        "$ tacctl cluster export --yes --quiet -c jwt --user admin --password-file FILE",
        "Step 6 of 6: the result.",
        "All 2 members hold the new configuration.",
        "ESA 2 (esa2) accepts it: 200",
        "ESA 2 refreshes it",
        "ESA 1 and ESA 3 accept the refreshed token",
        "only ESA 1 refreshes it",
        "$ tacctl verify cluster --user admin",
        "All 9 checks passed",
        "Done: the demo servers were stopped and the appliances removed.",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
    let dir = stdout
        .lines()
        .next()
        .and_then(|l| l.rsplit(" in ").next())
        .unwrap();
    assert!(
        !std::path::Path::new(dir).exists(),
        "demo left {dir} behind"
    );
    assert!(!stdout.contains("eyJ"), "the demo must never print a token");
}
