//! The Trusted Appliances Cluster end to end: three appliances (esa1, esa2,
//! esa3), each member running the real `tacctl serve` on a loopback port.
//! Joining with a pinned fingerprint, a mismatch refused with nothing
//! written, the trust question refused without a terminal; `cluster status`
//! with drift, without it once the JWT configuration is shared, and with a
//! member down; the verifier's matrix before and after sharing, cell by
//! cell; `verify token` against a bundle and against a live appliance.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::server::Served;
use common::*;
use rexpect::session::spawn_command;
use serde_json::Value;
use tacctl::cluster::verify::SHARE_JWT;

const PASSPHRASE: &str = "correct horse battery staple 42";

/// `cluster add NAME URL --fingerprint FP` on `on`, which must succeed.
fn join(on: &TempAppliance, name: &str, server: &Served) {
    let fp = server.fingerprint.clone().unwrap();
    assert_exit(
        on.cmd()
            .args(["cluster", "add", name, &server.url, "--fingerprint", &fp]),
        0,
    );
}

/// Exports `from`'s JWT configuration and imports it on each of `to`.
fn share_jwt(from: &TempAppliance, to: &[&TempAppliance]) {
    let pass = from.file("bundle.pass", PASSPHRASE);
    let bundle = from.dir().join("jwt.tacbundle");
    let _ = std::fs::remove_file(&bundle);
    from.cmd()
        .args(["export", "-c", "jwt", "--kdf-cost", "test", "-o"])
        .arg(&bundle)
        .arg("--passphrase-file")
        .arg(&pass)
        .assert()
        .success();
    for target in to {
        target
            .cmd()
            .arg("import")
            .arg(&bundle)
            .args(["--yes", "--passphrase-file"])
            .arg(&pass)
            .assert()
            .success();
    }
}

/// Runs `cmd` until it exits with `code` (a server reloads its
/// configuration within a quarter of a second), up to 5 s; its last output.
fn until_exit(code: i32, mut cmd: impl FnMut() -> assert_cmd::Command) -> Ran {
    let start = Instant::now();
    loop {
        let got = run(&mut cmd());
        if got.code == code || start.elapsed() > Duration::from_secs(5) {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn joining_pins_the_certificate_and_refuses_a_mismatch_without_writing() {
    let esa1 = TempAppliance::named("esa1", "c1");
    let esa2 = TempAppliance::named("esa2", "c1");
    let esa3 = TempAppliance::named("esa3", "c9");
    let s1 = Served::start(&esa1.root, &[]);
    let s2 = Served::start(&esa2.root, &[]);
    let s3 = Served::start(&esa3.root, &[]);
    let fp2 = s2.fingerprint.clone().unwrap();
    let fp3 = s3.fingerprint.clone().unwrap();
    let before = esa1.snapshot();

    // Pinning esa3's certificate for esa2's address: refused loudly.
    let Ran { stderr: err, .. } = assert_exit(
        esa1.cmd()
            .args(["cluster", "add", "esa2", &s2.url, "--fingerprint", &fp3]),
        4,
    );
    assert!(
        err.contains(&format!("presented certificate {fp2}, not {fp3}")),
        "{err}"
    );
    assert!(err.contains("impersonating"), "{err}");
    assert!(err.contains("nothing was added"), "{err}");
    assert_unchanged(&before, &esa1.snapshot());

    // No fingerprint and no terminal to confirm one on: refused at once.
    let started = Instant::now();
    let Ran { stderr: err, .. } =
        assert_exit(esa1.cmd().args(["cluster", "add", "esa2", &s2.url]), 2);
    assert!(err.contains("no terminal"), "{err}");
    assert!(err.contains("--fingerprint SHA256:"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_unchanged(&before, &esa1.snapshot());

    // Names, URLs and fingerprints are checked before anything is sent.
    for args in [
        vec!["bad name!", s2.url.as_str(), "--fingerprint", fp2.as_str()],
        vec!["esa2", "http://127.0.0.1:1", "--fingerprint", fp2.as_str()],
        vec!["esa2", s2.url.as_str(), "--fingerprint", "SHA256:short"],
    ] {
        let out = run(esa1.cmd().args(["cluster", "add"]).args(&args));
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
    }
    // The node itself is not a member of its own cluster.
    let fp1 = s1.fingerprint.clone().unwrap();
    let Ran { stderr: err, .. } = assert_exit(
        esa1.cmd()
            .args(["cluster", "add", "me", &s1.url, "--fingerprint", &fp1]),
        2,
    );
    assert!(err.contains("is this node itself"), "{err}");
    // Nobody home.
    let Ran { stderr: err, .. } = assert_exit(
        esa1.cmd().args([
            "cluster",
            "add",
            "ghost",
            "https://127.0.0.1:1",
            "--fingerprint",
            &fp2,
        ]),
        1,
    );
    assert!(err.contains("unreachable"), "{err}");
    assert_unchanged(&before, &esa1.snapshot());

    // The right fingerprint: added, with what the peer says it is.
    let Ran { stdout: out, .. } = assert_exit(
        esa1.cmd()
            .args(["cluster", "add", "esa2", &s2.url, "--fingerprint", &fp2]),
        0,
    );
    assert!(
        out.contains("node esa2") && out.contains("in cluster c1 (this node's cluster)"),
        "{out}"
    );
    // Added twice.
    assert_exit(
        esa1.cmd()
            .args(["cluster", "add", "esa2", &s2.url, "--fingerprint", &fp2]),
        6,
    );

    // Another cluster: only with --yes.
    let Ran { stderr: err, .. } = assert_exit(
        esa1.cmd()
            .args(["cluster", "add", "esa3", &s3.url, "--fingerprint", &fp3]),
        2,
    );
    assert!(err.contains("is in cluster \"c9\""), "{err}");
    assert!(err.contains("--yes"), "{err}");
    let Ran { stdout: out, .. } = assert_exit(
        esa1.cmd().args([
            "cluster",
            "add",
            "esa3",
            &s3.url,
            "--fingerprint",
            &fp3,
            "--yes",
        ]),
        0,
    );
    assert!(out.contains("NOT this node's cluster c1"), "{out}");

    // The list, as JSON and as text; a member's command needs no credentials.
    let list = json_of(esa1.bare().args(["cluster", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert_eq!(list[0]["name"], "esa2");
    assert_eq!(list[0]["url"], s2.url.as_str());
    assert_eq!(list[0]["fingerprint"], fp2.as_str());
    assert_eq!(list[1]["fingerprint"], fp3.as_str());
    let text = run(esa1.bare().args(["cluster", "list"])).stdout;
    assert!(text.starts_with("NAME"), "{text}");
    assert!(text.contains(&fp2), "{text}");

    // Adding and removing need the root credentials.
    assert_exit(esa1.bare().args(["cluster", "remove", "esa3"]), 2);
    let Ran { stdout: out, .. } = assert_exit(esa1.cmd().args(["cluster", "remove", "esa3"]), 0);
    assert!(out.contains("Removed member esa3"), "{out}");
    assert_exit(esa1.cmd().args(["cluster", "remove", "esa3"]), 5);
}

#[test]
fn status_names_drift_until_the_jwt_configuration_is_shared_and_a_member_down() {
    let esa1 = TempAppliance::named("esa1", "c1");
    let esa2 = TempAppliance::named("esa2", "c1");
    let esa3 = TempAppliance::named("esa3", "c1");
    // esa2 differs in algorithm too (its random 64-byte secret suits HS512).
    esa2.cmd()
        .args(["jwt", "set-algorithm", "HS512"])
        .assert()
        .success();
    let s2 = Served::start(&esa2.root, &[]);
    let mut s3 = Some(Served::start(&esa3.root, &[]));
    join(&esa1, "esa2", &s2);
    join(&esa1, "esa3", s3.as_ref().unwrap());
    let kid1 = esa1.status()["jwt_kid"].as_str().unwrap().to_owned();
    let kid2 = esa2.status()["jwt_kid"].as_str().unwrap().to_owned();

    // Status reads only the public endpoint: no credentials are needed.
    let Ran { stdout: out, .. } = assert_exit(esa1.bare().args(["cluster", "status", "--json"]), 4);
    let report = json(&out);
    assert_eq!(report["healthy"], false);
    assert_eq!(report["this_node"]["name"], "esa1");
    assert_eq!(report["this_node"]["kid"], kid1.as_str());
    let m2 = &report["members"][0];
    assert_eq!(m2["name"], "esa2");
    assert_eq!(m2["state"], "drift");
    assert_eq!(m2["node"]["algorithm"], "HS512");
    assert_eq!(m2["node"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m2["node"]["expiry_seconds"], 1800);
    let fields: Vec<&str> = m2["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["algorithm", "kid"], "{m2}");
    assert_eq!(m2["drift"][1]["this_node"], kid1.as_str());
    assert_eq!(m2["drift"][1]["member"], kid2.as_str());
    assert_eq!(report["members"][1]["state"], "drift");
    assert!(
        m2["clock_skew_seconds"].as_i64().unwrap().abs() <= 2,
        "{m2}"
    );

    let Ran {
        stdout: text,
        stderr: err,
        ..
    } = assert_exit(esa1.bare().args(["cluster", "status"]), 4);
    assert!(
        text.contains(&format!(
            "esa2: algorithm differs (this node HS256, esa2 HS512), kid differs (this node {}…, esa2 {}…); {SHARE_JWT}",
            &kid1[..8],
            &kid2[..8]
        )),
        "{text}"
    );
    assert!(
        err.contains("drift or certificate mismatch: esa2, esa3"),
        "{err}"
    );

    // Sharing esa1's JWT configuration ends the drift.
    share_jwt(&esa1, &[&esa2, &esa3]);
    let text = until_exit(0, || {
        let mut c = esa1.bare();
        c.args(["cluster", "status"]);
        c
    })
    .assert_code(0)
    .stdout;
    assert!(
        text.contains("All 2 members reachable; no drift."),
        "{text}"
    );
    let report = json_of(esa1.bare().args(["cluster", "status", "--json"]));
    assert_eq!(report["healthy"], true);
    for m in report["members"].as_array().unwrap() {
        assert_eq!(m["state"], "ok", "{m}");
        assert_eq!(m["node"]["kid"], kid1.as_str());
        assert_eq!(m["drift"], serde_json::json!([]));
    }

    // esa3 goes down: reported unreachable, quickly, and the exit code says so.
    drop(s3.take());
    let started = Instant::now();
    let ran = run(esa1.bare().args(["cluster", "status", "--json"]));
    assert!(started.elapsed() < Duration::from_secs(10));
    let Ran {
        stdout: out,
        stderr: err,
        ..
    } = ran.assert_code(1);
    let report = json(&out);
    assert_eq!(report["members"][0]["state"], "ok");
    assert_eq!(report["members"][1]["state"], "unreachable");
    assert!(
        report["members"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("esa3 is unreachable"),
        "{report}"
    );
    assert!(err.contains("not answering as expected: esa3"), "{err}");
}

#[test]
fn the_verifier_matrix_before_and_after_sharing_the_jwt_configuration() {
    let esa1 = TempAppliance::named("esa1", "c1");
    let esa2 = TempAppliance::named("esa2", "c1");
    let esa3 = TempAppliance::named("esa3", "c1");
    let s2 = Served::start(&esa2.root, &[]);
    let mut s3 = Some(Served::start(&esa3.root, &[]));
    join(&esa1, "esa2", &s2);
    join(&esa1, "esa3", s3.as_ref().unwrap());
    let names = ["esa1", "esa2", "esa3"];
    let verify = |extra: &[&str]| {
        let mut c = esa1.bare();
        c.args(["verify", "cluster"])
            .args(extra)
            .env("TACCTL_PASSWORD", ADMIN_PASSWORD);
        c
    };

    // Before: every node accepts its own token and refuses the others'.
    let Ran {
        stdout: out,
        stderr: err,
        ..
    } = assert_exit(&mut verify(&["--json"]), 4);
    let m = json(&out);
    assert_eq!(m["issuers"], serde_json::json!(names));
    assert_eq!(m["verifiers"], serde_json::json!(names));
    assert_eq!(m["passed"], false);
    let cells = m["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 9);
    for (i, issuer) in names.iter().enumerate() {
        for (v, verifier) in names.iter().enumerate() {
            let c = &cells[i * 3 + v];
            assert_eq!(
                (c["issuer"].as_str(), c["verifier"].as_str()),
                (Some(*issuer), Some(*verifier))
            );
            if i == v {
                assert_eq!(c["passed"], true, "{c}");
                assert!(c.get("reason").is_none(), "{c}");
            } else {
                assert_eq!(c["passed"], false, "{c}");
                assert_eq!(c["reason"], "key_differs", "{c}");
                assert_eq!(c["message"], format!("key differs: {SHARE_JWT}"));
                assert!(
                    c["detail"]
                        .as_str()
                        .unwrap()
                        .starts_with("key check failed"),
                    "{c}"
                );
            }
        }
    }
    assert!(err.contains("6 of 9 checks failed"), "{err}");
    let Ran { stdout: text, .. } = assert_exit(&mut verify(&[]), 4);
    assert!(text.contains("ISSUER \\ VERIFIER  esa1"), "{text}");
    assert!(text.contains("FAIL: key differs"), "{text}");
    assert!(
        text.contains(&format!("esa2 -> esa1: key differs: {SHARE_JWT}")),
        "{text}"
    );

    // Wrong credentials everywhere: nothing could be checked.
    let Ran { stdout: out, .. } = assert_exit(
        esa1.bare()
            .args(["verify", "cluster", "--json"])
            .env("TACCTL_PASSWORD", "not-the-password"),
        3,
    );
    assert_eq!(json(&out)["cells"][4]["reason"], "no_token");

    // After sharing esa1's JWT configuration: every cell passes.
    share_jwt(&esa1, &[&esa2, &esa3]);
    let Ran { stdout: out, .. } = until_exit(0, || verify(&["--json"])).assert_code(0);
    let m = json(&out);
    assert_eq!(m["passed"], true);
    let cells = m["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 9);
    for (i, issuer) in names.iter().enumerate() {
        for (v, verifier) in names.iter().enumerate() {
            assert_eq!(
                cells[i * 3 + v],
                serde_json::json!({"issuer": issuer, "verifier": verifier, "passed": true})
            );
        }
    }
    let Ran { stdout: text, .. } = assert_exit(&mut verify(&[]), 0);
    assert!(text.contains("All 9 checks passed"), "{text}");

    // One given token, presented everywhere; it never appears in the output.
    let token = esa2.token(ADMIN, ADMIN_PASSWORD);
    let token_file = esa1.file("token", format!("{token}\n"));
    let Ran {
        stdout: out,
        stderr: err,
        ..
    } = assert_exit(
        esa1.bare()
            .args(["verify", "cluster", "--json", "--token-file"])
            .arg(&token_file),
        0,
    );
    let m = json(&out);
    assert_eq!(m["issuers"], serde_json::json!(["token"]));
    assert_eq!(m["cells"].as_array().unwrap().len(), 3);
    assert!(!out.contains(&token) && !err.contains(&token));

    // A member down: its row and column fail as unreachable, the rest pass.
    drop(s3.take());
    let Ran { stdout: out, .. } = assert_exit(&mut verify(&["--json"]), 4);
    let m = json(&out);
    for c in m["cells"].as_array().unwrap() {
        let involves_esa3 = c["issuer"] == "esa3" || c["verifier"] == "esa3";
        assert_eq!(c["passed"], !involves_esa3, "{c}");
        if involves_esa3 {
            assert_eq!(c["reason"], "unreachable", "{c}");
            assert_eq!(c["message"], "member unreachable", "{c}");
        }
    }
}

#[test]
fn verify_token_against_a_bundle_offline_and_a_live_appliance() {
    let esa1 = TempAppliance::named("esa1", "c1");
    let esa2 = TempAppliance::named("esa2", "c1");
    let pass = esa1.file("bundle.pass", PASSPHRASE);
    let bundle: PathBuf = esa1.dir().join("jwt.tacbundle");
    esa1.cmd()
        .args(["export", "-c", "jwt", "--kdf-cost", "test", "-o"])
        .arg(&bundle)
        .arg("--passphrase-file")
        .arg(&pass)
        .assert()
        .success();
    let token1 = esa1.token(ADMIN, ADMIN_PASSWORD);
    let token2 = esa2.token(ADMIN, ADMIN_PASSWORD);
    // Offline: no appliance is needed where the check runs.
    let nowhere = tempfile::tempdir().unwrap();
    let offline = |token: &str, extra: &[&str]| {
        let mut c = tacctl();
        c.arg("--root")
            .arg(nowhere.path().join("none"))
            .args(["verify", "token", "-", "--bundle"])
            .arg(&bundle)
            .arg("--passphrase-file")
            .arg(&pass)
            .args(extra)
            .write_stdin(token.to_owned());
        c
    };

    let Ran { stdout: out, .. } = assert_exit(&mut offline(&token1, &[]), 0);
    assert!(
        out.contains("accepted by the JWT configuration in"),
        "{out}"
    );
    assert!(out.contains("from esa1 in cluster c1"), "{out}");
    assert!(out.contains("token for admin (role admin)"), "{out}");
    let Ran { stdout: out, .. } = assert_exit(&mut offline(&token1, &["--json"]), 0);
    let v = json(&out);
    assert_eq!(v["accepted"], true);
    assert_eq!(v["claims"]["sub"], "admin");
    assert_eq!(v["claims"]["iss"], "c1");

    let Ran { stderr: err, .. } = assert_exit(&mut offline(&token2, &[]), 4);
    assert!(
        err.contains("the token was refused by the JWT configuration in"),
        "{err}"
    );
    assert!(err.contains("key check failed: no key with id"), "{err}");
    let Ran { stdout: out, .. } = assert_exit(&mut offline(&token2, &["--json"]), 4);
    assert_eq!(json(&out)["accepted"], false);
    assert!(!out.contains(&token2));

    // A wrong passphrase, and a bundle without the JWT configuration.
    let wrong = esa1.file("wrong.pass", "not the passphrase at all");
    assert_exit(
        tacctl()
            .args(["verify", "token", "-", "--bundle"])
            .arg(&bundle)
            .arg("--passphrase-file")
            .arg(&wrong)
            .write_stdin(token1.clone()),
        3,
    );
    let users_only = esa1.dir().join("users.tacbundle");
    esa1.cmd()
        .args(["export", "-c", "users", "--kdf-cost", "test", "-o"])
        .arg(&users_only)
        .arg("--passphrase-file")
        .arg(&pass)
        .assert()
        .success();
    let Ran { stderr: err, .. } = assert_exit(
        tacctl()
            .args(["verify", "token", "-", "--bundle"])
            .arg(&users_only)
            .arg("--passphrase-file")
            .arg(&pass)
            .write_stdin(token1.clone()),
        2,
    );
    assert!(err.contains("no jwt component"), "{err}");

    // Live: esa2 accepts its own token and refuses esa1's.
    let s2 = Served::start(&esa2.root, &[]);
    let fp2 = s2.fingerprint.clone().unwrap();
    let live = |token: &str, on: &TempAppliance, extra: &[&str]| {
        let mut c = on.bare();
        c.args(["verify", "token", "-", "--url", &s2.url])
            .args(extra)
            .write_stdin(token.to_owned());
        c
    };
    let Ran { stdout: out, .. } =
        assert_exit(&mut live(&token2, &esa2, &["--fingerprint", &fp2]), 0);
    assert!(out.contains("(node esa2 in cluster c1)"), "{out}");
    assert!(out.contains("token for admin (role admin)"), "{out}");
    let Ran { stdout: out, .. } = assert_exit(
        &mut live(&token1, &esa2, &["--fingerprint", &fp2, "--json"]),
        4,
    );
    let v = json(&out);
    assert_eq!(v["accepted"], false);
    assert!(
        v["reason"].as_str().unwrap().contains("key check failed"),
        "{v}"
    );
    // Without a fingerprint the token is not sent, unless esa2 is a member.
    let Ran { stderr: err, .. } = assert_exit(&mut live(&token2, &esa1, &[]), 2);
    assert!(err.contains("--fingerprint"), "{err}");
    join(&esa1, "esa2", &s2);
    let Ran { stdout: out, .. } = assert_exit(&mut live(&token2, &esa1, &[]), 0);
    assert!(out.contains("accepted by esa2 at"), "{out}");
    // A wrong pin: the token never leaves.
    let wrong_fp = format!("SHA256:{}", "A".repeat(43));
    let Ran { stderr: err, .. } =
        assert_exit(&mut live(&token2, &esa2, &["--fingerprint", &wrong_fp]), 4);
    assert!(err.contains("is pinned"), "{err}");
    assert!(!s2.log().contains(&token2[token2.len() - 20..]));
}

#[test]
fn the_certificate_is_shown_and_trusted_only_when_confirmed_on_a_terminal() {
    let esa1 = TempAppliance::named("esa1", "c1");
    let esa2 = TempAppliance::named("esa2", "c1");
    let s2 = Served::start(&esa2.root, &[]);
    let fp2 = s2.fingerprint.clone().unwrap();
    let add = || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tacctl"));
        cmd.arg("--root")
            .arg(&esa1.root)
            .args(["cluster", "add", "esa2", &s2.url])
            .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD);
        spawn_command(cmd, Some(20_000)).unwrap()
    };
    let before = esa1.snapshot();

    // Declined (the default): nothing written.
    let mut p = add();
    p.exp_string("can't be established").unwrap();
    p.exp_string(&fp2).unwrap();
    p.exp_string("It says it is node esa2").unwrap();
    p.exp_string("Trust this certificate and add esa2 as a member?")
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    p.send_line("").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("esa2 was not added"), "{rest}");
    assert_unchanged(&before, &esa1.snapshot());

    // Confirmed: pinned to what was shown.
    let mut p = add();
    p.exp_string("Trust this certificate and add esa2 as a member?")
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    p.send("y").unwrap();
    p.flush().unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("Added member esa2"), "{rest}");
    let list = json_of(esa1.bare().args(["cluster", "list", "--json"]));
    assert_eq!(list[0]["fingerprint"], fp2.as_str());
}

#[test]
fn a_member_of_another_cluster_id_is_drift_and_refuses_as_another_issuer() {
    let esa1 = TempAppliance::named("esa1", "c1");
    let esa2 = TempAppliance::named("esa2", "c9");
    // A JWT configuration is refused by a node of another cluster...
    let pass = esa1.file("bundle.pass", PASSPHRASE);
    let bundle = esa1.dir().join("jwt.tacbundle");
    esa1.cmd()
        .args(["export", "-c", "jwt", "--kdf-cost", "test", "-o"])
        .arg(&bundle)
        .arg("--passphrase-file")
        .arg(&pass)
        .assert()
        .success();
    let before = esa2.snapshot();
    let Ran { stderr: err, .. } = assert_exit(
        esa2.cmd()
            .arg("import")
            .arg(&bundle)
            .args(["--yes", "--passphrase-file"])
            .arg(&pass),
        2,
    );
    assert!(
        err.contains("belongs to cluster \"c1\" and this appliance to \"c9\""),
        "{err}"
    );
    assert_unchanged(&before, &esa2.snapshot());
    // ...so both are given the same secret by hand: the same keys, but
    // not the same issuer.
    let secret = esa1.file("secret", "0123456789abcdef".repeat(4));
    for node in [&esa1, &esa2] {
        node.cmd()
            .args(["jwt", "set-secret", "--secret-file"])
            .arg(&secret)
            .assert()
            .success();
    }
    let s2 = Served::start(&esa2.root, &[]);
    let fp2 = s2.fingerprint.clone().unwrap();
    esa1.cmd()
        .args([
            "cluster",
            "add",
            "esa2",
            &s2.url,
            "--fingerprint",
            &fp2,
            "--yes",
        ])
        .assert()
        .success();

    // The same keys, but not the same issuer.
    let Ran { stdout: out, .. } = assert_exit(esa1.bare().args(["cluster", "status", "--json"]), 4);
    let drift = &json(&out)["members"][0]["drift"];
    assert_eq!(
        drift,
        &serde_json::json!([{"field": "cluster_id", "this_node": "c1", "member": "c9"}])
    );
    let Ran { stdout: out, .. } = assert_exit(
        esa1.bare()
            .args(["verify", "cluster", "--json"])
            .env("TACCTL_PASSWORD", ADMIN_PASSWORD),
        4,
    );
    let m = json(&out);
    for (issuer, verifier) in [("esa1", "esa2"), ("esa2", "esa1")] {
        let c = m["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["issuer"] == issuer && c["verifier"] == verifier)
            .unwrap();
        assert_eq!(c["reason"], "issuer_differs", "{c}");
        assert!(
            c["message"]
                .as_str()
                .unwrap()
                .starts_with("issuer differs (cluster id)"),
            "{c}"
        );
    }
}
