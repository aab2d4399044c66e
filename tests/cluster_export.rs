//! `tacctl cluster export` and `tacctl export --to` end to end: the real
//! binary pushing to real `tacctl serve` appliances on loopback, without a
//! terminal. Three appliances and a member that is down; the Appliances JWT
//! Configuration reaches the two that are up, with the exact per-member
//! result, after which they accept esa1's tokens; wrong credentials on one
//! member fail that one alone; the pushed bundle signed by esa1, trusted
//! by a target that pinned its signer key; an answers file; a missing
//! answer is an error, never a wait; and `export --to` with its
//! fingerprint rules.

mod common;

use common::cluster::{Lab, OTHER_PASSWORD, accepts, down_member, served_kid};
use common::{ADMIN_PASSWORD, assert_exit, assert_no_secret};
use serde_json::Value;

fn json(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(out)))
}

fn results(report: &Value) -> Vec<(String, String, String)> {
    report["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["member"].as_str().unwrap().to_owned(),
                m["result"].as_str().unwrap().to_owned(),
                m["kind"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn r(member: &str, result: &str, kind: &str) -> (String, String, String) {
    (member.into(), result.into(), kind.into())
}

#[test]
fn two_members_take_the_jwt_configuration_while_the_down_one_fails() {
    let lab = Lab::new();
    let esa1 = lab.appliance("esa1", ADMIN_PASSWORD);
    let esa2 = lab.served("esa2", ADMIN_PASSWORD);
    let esa3 = lab.served("esa3", ADMIN_PASSWORD);
    esa1.add_members(&[esa2.member(), esa3.member(), down_member("esa4")]);
    let token = esa1.admin_token();
    assert!(!accepts(&esa2, &token), "the key differs before the push");
    assert!(!accepts(&esa3, &token));
    let pw = lab.file("targets.pw", &format!("{ADMIN_PASSWORD}\n"));

    // The default key derivation cost, as an administrator would run it.
    let out = assert_exit(
        esa1.tacctl()
            .args(["cluster", "export", "-c", "jwt", "--yes", "--json"])
            .arg("--password-file")
            .arg(&pw),
        7,
    );
    let report = json(out.stdout.as_bytes());
    assert_eq!(
        results(&report),
        [
            r("esa2", "applied", ""),
            r("esa3", "applied", ""),
            r("esa4", "failed", "unreachable"),
        ]
    );
    let kid1 = esa1.kid();
    assert_eq!(report["jwt_kid"], kid1.as_str());
    assert_eq!(report["components"], serde_json::json!(["jwt"]));
    for m in &report["members"].as_array().unwrap()[..2] {
        assert_eq!(m["kid"], kid1.as_str());
        assert!(m["snapshot"].is_string());
    }
    // The probe asked once whether esa2 takes esa1's token; the push went
    // on from its answer, and on its connection.
    let log = esa2.served.as_ref().unwrap().log();
    let asked = log
        .lines()
        .filter(|l| l.contains("path=/api/v1/jwt "))
        .count();
    assert_eq!(asked, 1, "{log}");
    let stderr = out.stderr;
    // esa2 and esa3 open it with their member keys; esa4 could not be
    // asked for one, so a one-time passphrase goes beside them.
    assert!(
        stderr.contains("encrypted to the member keys of 2 of 3 targets; esa4: no member key"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the push failed on 1 of 3 targets (esa4)")
            && stderr.contains("esa2, esa3 hold the new one"),
        "{stderr}"
    );

    // The same token issued by esa1 is now accepted by esa2 and esa3.
    for n in [&esa2, &esa3] {
        assert!(accepts(n, &token), "{} accepts esa1's token", n.name);
        assert_eq!(n.kid(), kid1);
        assert_eq!(served_kid(n), kid1);
    }
    for (what, bytes) in [
        ("stdout", out.output.stdout.clone()),
        ("stderr", out.output.stderr.clone()),
        (
            "esa2's log",
            esa2.served.as_ref().unwrap().log().into_bytes(),
        ),
    ] {
        assert_no_secret(what, &bytes, "admin password", ADMIN_PASSWORD.as_bytes());
    }

    // Again: everything is unchanged now, nothing asked, exit 7 for esa4 only.
    let out = assert_exit(
        esa1.tacctl()
            .args(["cluster", "export", "--yes", "--json", "--kdf-cost", "test"])
            .args(["--members", "esa2,esa3"])
            .arg("--password-file")
            .arg(&pw),
        0,
    );
    assert_eq!(
        results(&json(out.stdout.as_bytes())),
        [r("esa2", "unchanged", ""), r("esa3", "unchanged", "")]
    );
}

#[test]
fn wrong_credentials_on_one_member_fail_that_member_alone() {
    let lab = Lab::new();
    let esa1 = lab.appliance("esa1", ADMIN_PASSWORD);
    let esa2 = lab.served("esa2", ADMIN_PASSWORD);
    let esa3 = lab.served("esa3", OTHER_PASSWORD);
    esa1.add_members(&[esa2.member(), esa3.member()]);
    let kid3 = esa3.kid();
    let pw = lab.file("targets.pw", ADMIN_PASSWORD);

    let out = assert_exit(
        esa1.tacctl()
            .args([
                "cluster",
                "export",
                "--yes",
                "--kdf-cost",
                "test",
                "--user",
                "admin",
            ])
            .arg("--password-file")
            .arg(&pw),
        7,
    );
    let stdout = out.stdout;
    // Without --json the plans and the table are the output.
    assert!(stdout.contains("Step 6 of 6: the result."), "{stdout}");
    assert!(
        stdout.contains("The bundle is encrypted to the member keys of esa2, esa3: no passphrase."),
        "{stdout}"
    );
    let row = |m: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{m}  ")))
            .unwrap_or_else(|| panic!("no row for {m}:\n{stdout}"))
            .to_owned()
    };
    assert!(row("esa2").contains("applied"), "{stdout}");
    assert!(
        row("esa3").contains("failed") && row("esa3").contains("wrong user name or password"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Holding the new configuration: esa2. Failed: esa3."),
        "{stdout}"
    );
    assert_eq!(served_kid(&esa2), esa1.kid());
    assert_eq!(served_kid(&esa3), kid3, "esa3 keeps its configuration");
    assert_eq!(esa3.kid(), kid3);
}

/// Every push is signed by the pushing node, and each target's plan says
/// how that target judges the signer: a member whose signer key it pinned
/// with `cluster add`, or not a member.
#[test]
fn pushed_bundles_are_signed_and_each_target_says_whether_it_trusts_the_signer() {
    let lab = Lab::new();
    let esa1 = lab.served("esa1", ADMIN_PASSWORD);
    let esa2 = lab.served("esa2", ADMIN_PASSWORD);
    let esa3 = lab.served("esa3", ADMIN_PASSWORD);
    esa1.add_members(&[esa2.member(), esa3.member()]);
    let signer = esa1.ops().status().unwrap().signer_key.unwrap();
    // esa2 knows esa1 as a member, its signer key pinned; esa3 does not.
    assert_exit(
        esa2.tacctl()
            .args(["cluster", "add", "esa1", &esa1.url(), "--fingerprint"])
            .arg(esa1.fingerprint())
            .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD),
        0,
    );
    assert_eq!(
        esa2.ops().members().unwrap()[0].signer.as_deref(),
        Some(signer.as_str())
    );
    let pw = lab.file("targets.pw", ADMIN_PASSWORD);
    let out = assert_exit(
        esa1.tacctl()
            .args([
                "cluster",
                "export",
                "-c",
                "jwt",
                "--yes",
                "--kdf-cost",
                "test",
            ])
            .arg("--password-file")
            .arg(&pw),
        0,
    );
    let stdout = out.stdout;
    let plan_of = |m: &str| {
        let start = stdout
            .find(&format!("{m} (signed in"))
            .unwrap_or_else(|| panic!("no plan for {m}:\n{stdout}"));
        stdout[start..]
            .lines()
            .take_while(|l| !l.contains("live sessions ended"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        plan_of("esa2").contains(&format!("Signed by: {signer} (member \"esa1\", trusted)")),
        "{stdout}"
    );
    assert!(
        plan_of("esa3").contains(&format!(
            "Signed by: {signer} (not a member of this cluster: not trusted)"
        )),
        "{stdout}"
    );
    for n in [&esa2, &esa3] {
        assert_eq!(n.kid(), esa1.kid(), "{} took the bundle", n.name);
    }
}

#[test]
fn an_answers_file_answers_every_question() {
    let lab = Lab::new();
    let esa1 = lab.appliance("esa1", ADMIN_PASSWORD);
    let esa2 = lab.served("esa2", ADMIN_PASSWORD);
    let esa3 = lab.served("esa3", ADMIN_PASSWORD);
    esa1.add_members(&[esa2.member(), esa3.member()]);
    let kid3 = esa3.kid();
    lab.file("targets.pw", ADMIN_PASSWORD);
    let answers = lab.file(
        "answers.yaml",
        "# tacctl cluster export answers\n\
         cluster-components: [jwt, users]\n\
         cluster-members: [esa2]\n\
         cluster-user: admin\n\
         cluster-password-file: targets.pw\n\
         cluster-apply: true\n",
    );
    let out = assert_exit(
        esa1.tacctl()
            .args([
                "cluster",
                "export",
                "--kdf-cost",
                "test",
                "--json",
                "--answers",
            ])
            .arg(&answers),
        0,
    );
    let report = json(out.stdout.as_bytes());
    assert_eq!(results(&report), [r("esa2", "applied", "")]);
    assert_eq!(report["components"], serde_json::json!(["jwt", "users"]));
    assert_eq!(served_kid(&esa2), esa1.kid());
    assert_eq!(served_kid(&esa3), kid3, "not chosen, not touched");

    // A secret written into the file itself is refused, and not echoed.
    let bad = lab.file("bad.yaml", "cluster-password: hunter2-is-secret\n");
    let out = assert_exit(
        esa1.tacctl()
            .args(["cluster", "export", "--answers"])
            .arg(&bad),
        2,
    );
    let stderr = out.stderr;
    assert!(
        stderr.contains("unknown field `cluster-password`"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn without_a_terminal_a_missing_answer_is_exit_2_never_a_wait() {
    let lab = Lab::new();
    let esa1 = lab.appliance("esa1", ADMIN_PASSWORD);
    esa1.add_members(&[down_member("esa4")]);
    let pw = lab.file("admin.pw", ADMIN_PASSWORD);
    // No --yes and no components: the first unanswered question stops it.
    let out = assert_exit(
        esa1.tacctl()
            .args(["cluster", "export", "--user", "admin", "--password-file"])
            .arg(&pw),
        2,
    );
    let stderr = out.stderr;
    assert!(
        stderr.contains("(cluster-components) needs an answer and there is no terminal to ask on")
            && stderr.contains("--components"),
        "{stderr}"
    );
    // No members at all: nothing to do is a usage error too.
    let lonely = lab.appliance("esa9", ADMIN_PASSWORD);
    let out = assert_exit(
        lonely
            .tacctl()
            .args(["cluster", "export", "--yes", "--password-file"])
            .arg(&pw),
        2,
    );
    assert!(out.stderr.contains("no cluster members yet"),);
    // Wrong root credentials: exit 3.
    let wrong = lab.file("wrong.pw", "not-the-password");
    esa1.tacctl()
        .args(["cluster", "export", "--yes", "--password-file"])
        .arg(&wrong)
        .assert()
        .code(3);
}

#[test]
fn export_to_pushes_to_one_appliance_outside_the_cluster() {
    let lab = Lab::new();
    let esa1 = lab.appliance("esa1", ADMIN_PASSWORD);
    let esa5 = lab.served("esa5", ADMIN_PASSWORD);
    let pw = lab.file("esa5.pw", ADMIN_PASSWORD);
    let kid5 = esa5.kid();

    // No terminal: the fingerprint is required.
    let out = assert_exit(
        esa1.tacctl()
            .args(["export", "-c", "jwt", "--yes", "--to", &esa5.url()])
            .arg("--password-file")
            .arg(&pw),
        2,
    );
    assert!(
        out.stderr
            .contains("--fingerprint SHA256:... is required without a terminal"),
    );
    // The wrong certificate: refused, nothing pushed.
    let out = assert_exit(
        esa1.tacctl()
            .args([
                "export",
                "-c",
                "jwt",
                "--yes",
                "--json",
                "--kdf-cost",
                "test",
            ])
            .args(["--to", &esa5.url(), "--fingerprint"])
            .arg(format!("SHA256:{}", "B".repeat(43)))
            .arg("--password-file")
            .arg(&pw)
            .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD),
        7,
    );
    let report = json(out.stdout.as_bytes());
    assert_eq!(report["members"][0]["kind"], "fingerprint-mismatch");
    assert_eq!(served_kid(&esa5), kid5);
    // Push flags without --to are a usage error.
    esa1.tacctl()
        .args(["export", "-c", "jwt", "--yes"])
        .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .assert()
        .code(2);

    let out = assert_exit(
        esa1.tacctl()
            .args([
                "export",
                "-c",
                "jwt",
                "--yes",
                "--json",
                "--kdf-cost",
                "test",
            ])
            .args(["--to", &esa5.url(), "--fingerprint", &esa5.fingerprint()])
            .arg("--password-file")
            .arg(&pw)
            .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD),
        0,
    );
    let report = json(out.stdout.as_bytes());
    assert_eq!(results(&report), [r("esa5", "applied", "")]);
    assert_eq!(report["members"][0]["url"], esa5.url().as_str());
    assert_eq!(served_kid(&esa5), esa1.kid());
    assert!(accepts(&esa5, &esa1.admin_token()));
}
