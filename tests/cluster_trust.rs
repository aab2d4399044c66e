//! The two ways a cluster of key-pair appliances shares its tokens, across
//! three appliances on loopback, each served by a real `tacctl serve`:
//!
//! - trust only: each keeps its own key pair (ES256, EdDSA, RS256) and the
//!   Cluster Export Wizard pushes Appliances JWT Trust; every member then
//!   trusts every other's public keys, no private key leaves its node, and
//!   the verifier's matrix, failing before, passes after, saying which
//!   mode is in force; so does `cluster status`, where another key is then
//!   no drift, and trust taken back on one side is;
//! - shared key pair: the Appliances JWT Configuration carries one private
//!   key to every member, re-sealed under each one's own master key.
//!
//! And Appliances JWT Trust refused where it has nothing to carry or comes
//! from another cluster, leaving every file as it was.

mod common;

use std::time::{Duration, Instant};

use common::server::Served;
use common::{ADMIN_PASSWORD, Ran, TempAppliance, assert_exit, run};
use serde_json::Value;

const PASSPHRASE: &str = "correct-horse-battery-staple-42";

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// `cluster add NAME URL --fingerprint FP` on `on`.
fn join(on: &TempAppliance, name: &str, server: &Served) {
    let fp = server.fingerprint.clone().unwrap();
    assert_exit(
        on.cmd()
            .args(["cluster", "add", name, &server.url, "--fingerprint", &fp]),
        0,
    );
}

/// Runs `cmd` until it exits with `code` (a server reloads its
/// configuration within a quarter of a second), up to 5 s.
fn until_exit(code: i32, mut cmd: impl FnMut() -> assert_cmd::Command) -> Ran {
    let start = Instant::now();
    loop {
        let got = run(&mut cmd());
        if got.code == code || start.elapsed() > Duration::from_secs(5) {
            return got.assert_code(code);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Three appliances of cluster c1, each served, esa2 and esa3 members of
/// esa1, each set to its own key-pair algorithm.
struct Three {
    apps: [TempAppliance; 3],
    _served: [Served; 3],
}

impl Three {
    fn new(algorithms: [&[&str]; 3]) -> Self {
        let apps = ["esa1", "esa2", "esa3"].map(|n| TempAppliance::named(n, "c1"));
        for (app, alg) in apps.iter().zip(algorithms) {
            assert_exit(app.cmd().args(["jwt", "set-algorithm"]).args(alg), 0);
        }
        let served = [0, 1, 2].map(|i| Served::start(&apps[i].root, &[]));
        join(&apps[0], "esa2", &served[1]);
        join(&apps[0], "esa3", &served[2]);
        Self {
            apps,
            _served: served,
        }
    }

    fn verify(&self) -> assert_cmd::Command {
        let mut c = self.apps[0].bare();
        c.args(["verify", "cluster", "--json"])
            .env("TACCTL_PASSWORD", ADMIN_PASSWORD);
        c
    }

    fn push(&self, component: &str) -> Ran {
        let pw = self.apps[0].file("targets.pw", format!("{ADMIN_PASSWORD}\n"));
        assert_exit(
            self.apps[0]
                .cmd()
                .args(["cluster", "export", "-c", component, "--yes", "--json"])
                .args(["--kdf-cost", "test", "--password-file"])
                .arg(&pw),
            0,
        )
    }

    fn kid(&self, i: usize) -> String {
        self.apps[i].status()["jwt_kid"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// The cells of a matrix that failed, as (issuer, verifier).
fn failed(m: &Value) -> Vec<(String, String)> {
    m["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| {
            (
                c["issuer"].as_str().unwrap().to_owned(),
                c["verifier"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The node names `app` trusts, from `jwt trust --json`.
fn trusted(app: &TempAppliance) -> Vec<String> {
    let t = common::json_of(app.bare().args(["jwt", "trust", "--json"]));
    t["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn trust_only_each_member_keeps_its_key_pair_and_every_member_accepts_every_token() {
    let c = Three::new([&["ES256"], &["EdDSA"], &["RS256", "--bits", "2048"]]);
    let kids: Vec<String> = (0..3).map(|i| c.kid(i)).collect();
    let jwt_files: Vec<String> = c.apps.iter().map(|a| a.read("config/jwt.yaml")).collect();

    // Before: each node accepts its own tokens only.
    let before = json(&assert_exit(&mut c.verify(), 4).stdout);
    assert_eq!(failed(&before).len(), 6, "{before}");
    assert_eq!(before["mode"], Value::Null, "{before}");
    for cell in before["cells"].as_array().unwrap() {
        if cell["passed"] == false {
            // Their algorithms differ too, and that check comes first.
            assert_eq!(cell["reason"], "algorithm_differs", "{cell}");
            assert!(
                cell["message"]
                    .as_str()
                    .unwrap()
                    .contains("Appliances JWT Trust"),
                "{cell}"
            );
        }
    }
    let status =
        json(&assert_exit(c.apps[0].bare().args(["cluster", "status", "--json"]), 4).stdout);
    assert_eq!(status["healthy"], false);

    // The push: every target says what it now trusts, and so does esa1.
    let report = json(&c.push("jwt-trust").stdout);
    assert_eq!(report["components"], serde_json::json!(["jwt-trust"]));
    for m in report["members"].as_array().unwrap() {
        assert_eq!(m["result"], "applied", "{report}");
    }
    assert_eq!(trusted(&c.apps[0]), ["esa2", "esa3"]);
    assert_eq!(trusted(&c.apps[1]), ["esa1", "esa3"]);
    assert_eq!(trusted(&c.apps[2]), ["esa1", "esa2"]);
    // No key moved: each keeps its own, and its JWT configuration is as it was.
    for i in 0..3 {
        assert_eq!(c.kid(i), kids[i]);
        assert_eq!(c.apps[i].read("config/jwt.yaml"), jwt_files[i]);
    }
    // The trust file holds public keys only.
    for app in &c.apps {
        let text = app.read("config/jwt-trust.yaml");
        assert!(
            !text.contains("PRIVATE") && !text.contains("\"d\""),
            "{text}"
        );
    }

    // After: every node accepts every node's token, and the matrix says how.
    let after = json(&until_exit(0, || c.verify()).stdout);
    assert_eq!(after["passed"], true, "{after}");
    assert_eq!(after["mode"], "trust_only");
    let text = until_exit(0, || {
        let mut plain = c.apps[0].bare();
        plain
            .args(["verify", "cluster"])
            .env("TACCTL_PASSWORD", ADMIN_PASSWORD);
        plain
    })
    .stdout;
    assert!(text.contains("JWT mode: trust only"), "{text}");
    assert!(text.contains("All 9 checks passed"), "{text}");

    // Status: another key and algorithm are no drift in trust only.
    let status =
        json(&assert_exit(c.apps[0].bare().args(["cluster", "status", "--json"]), 0).stdout);
    assert_eq!(status["healthy"], true, "{status}");
    assert_eq!(status["mode"], "trust_only", "{status}");
    for m in status["members"].as_array().unwrap() {
        assert_eq!(m["mode"], "trust_only", "{m}");
        assert_eq!(m["drift"], serde_json::json!([]), "{m}");
    }
    let text = assert_exit(c.apps[0].bare().args(["cluster", "status"]), 0).stdout;
    assert!(text.contains("JWT mode: trust only"), "{text}");

    // esa2 stops trusting esa1: esa1's tokens are refused there at once,
    // and esa1's status names the trust that now goes one way.
    let out = assert_exit(c.apps[1].cmd().args(["jwt", "untrust", "esa1"]), 0);
    assert!(out.stdout.contains("no longer trusted"), "{}", out.stdout);
    assert_eq!(trusted(&c.apps[1]), ["esa3"]);
    let m = json(&until_exit(4, || c.verify()).stdout);
    assert_eq!(failed(&m), [("esa1".to_owned(), "esa2".to_owned())], "{m}");
    let text = until_exit(4, || {
        let mut s = c.apps[0].bare();
        s.args(["cluster", "status"]);
        s
    })
    .stdout;
    assert!(
        text.contains("esa2: trust goes one way only (this node trusts esa2's key: yes; esa2 trusts this node's: no)"),
        "{text}"
    );
    let out = assert_exit(c.apps[1].cmd().args(["jwt", "untrust", "esa9"]), 2);
    assert!(
        out.stderr.contains("trusts no member \"esa9\""),
        "{}",
        out.stderr
    );
}

#[test]
fn a_shared_key_pair_reaches_every_member_and_the_matrix_says_so() {
    let c = Three::new([&["ES256"], &["ES256"], &["ES256"]]);
    let before = json(&assert_exit(&mut c.verify(), 4).stdout);
    assert_eq!(failed(&before).len(), 6, "{before}");

    let report = json(&c.push("jwt").stdout);
    let kid = c.kid(0);
    assert_eq!(report["jwt_kid"], kid.as_str());
    for i in 1..3 {
        assert_eq!(c.kid(i), kid, "esa{} signs with esa1's key", i + 1);
        // Re-sealed under its own master key: the sealed bytes differ.
        assert_ne!(
            c.apps[i].read("config/jwt.yaml"),
            c.apps[0].read("config/jwt.yaml")
        );
    }
    let after = json(&until_exit(0, || c.verify()).stdout);
    assert_eq!(after["mode"], "shared_key_pair", "{after}");
    let status =
        json(&assert_exit(c.apps[0].bare().args(["cluster", "status", "--json"]), 0).stdout);
    assert_eq!(status["mode"], "shared_key_pair", "{status}");
    let text = assert_exit(c.apps[0].bare().args(["cluster", "status"]), 0).stdout;
    assert!(text.contains("JWT mode: shared key pair"), "{text}");
}

#[test]
fn jwt_trust_with_nothing_to_carry_or_from_another_cluster_is_refused_and_changes_nothing() {
    // An HMAC appliance that trusts no one has nothing to carry.
    let hmac = TempAppliance::named("esa1", "c1");
    let pass = hmac.file("bundle.pass", PASSPHRASE);
    let bundle = hmac.dir().join("trust.tacbundle");
    let out = assert_exit(
        hmac.cmd()
            .args(["export", "-c", "jwt-trust", "--kdf-cost", "test", "-o"])
            .arg(&bundle)
            .arg("--passphrase-file")
            .arg(&pass),
        2,
    );
    assert!(
        out.stderr
            .contains("Appliances JWT Trust has nothing to carry"),
        "{}",
        out.stderr
    );
    assert!(!bundle.exists());
    // A full backup leaves it out rather than failing.
    let all = hmac.dir().join("all.tacbundle");
    assert_exit(
        hmac.cmd()
            .args(["export", "--all", "--kdf-cost", "test", "-o"])
            .arg(&all)
            .arg("--passphrase-file")
            .arg(&pass),
        0,
    );
    let listed = assert_exit(
        hmac.bare()
            .arg("inspect")
            .arg(&all)
            .arg("--passphrase-file")
            .arg(&pass),
        0,
    )
    .stdout;
    assert!(!listed.contains("jwt-trust"), "{listed}");

    // A key pair's trust, exported to a file, imports on a member of the
    // same cluster and is refused by another cluster's appliance.
    let src = TempAppliance::named("esa2", "c1");
    assert_exit(src.cmd().args(["jwt", "set-algorithm", "EdDSA"]), 0);
    let bundle = src.dir().join("trust.tacbundle");
    let pass = src.file("bundle.pass", PASSPHRASE);
    assert_exit(
        src.cmd()
            .args(["export", "-c", "jwt-trust", "--kdf-cost", "test", "-o"])
            .arg(&bundle)
            .arg("--passphrase-file")
            .arg(&pass),
        0,
    );
    let other = TempAppliance::named("esa9", "c2");
    let before = other.snapshot();
    let out = assert_exit(
        other
            .cmd()
            .arg("import")
            .arg(&bundle)
            .args(["--yes", "--passphrase-file"])
            .arg(&pass),
        2,
    );
    assert!(
        out.stderr.contains("names esa2 of cluster \"c1\""),
        "{}",
        out.stderr
    );
    common::assert_unchanged(&before, &other.snapshot());

    hmac.cmd()
        .arg("import")
        .arg(&bundle)
        .args(["--yes", "--passphrase-file"])
        .arg(&pass)
        .assert()
        .success();
    assert_eq!(trusted(&hmac), ["esa2"]);
    // The HMAC appliance now accepts esa2's EdDSA tokens, by its public key.
    let token = src.token(common::ADMIN, ADMIN_PASSWORD);
    let claims = hmac.verify(&token);
    assert_eq!(claims["sub"], common::ADMIN, "{claims}");
    // And its JWKS serves the trusted key, never its own secret.
    let jwks = common::json_of(hmac.bare().args(["jwt", "jwks"]));
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{jwks}");
    assert_eq!(keys[0]["alg"], "EdDSA");
    // Importing it again changes nothing.
    let out = assert_exit(
        hmac.cmd()
            .arg("import")
            .arg(&bundle)
            .args(["--dry-run", "--passphrase-file"])
            .arg(&pass),
        0,
    );
    assert!(out.stdout.contains("jwt-trust"), "{}", out.stdout);
}
