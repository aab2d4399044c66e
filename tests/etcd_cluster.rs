//! The cluster on etcd, end to end: real `tacctl serve` appliances on
//! loopback register in a real three-member etcd cluster with TLS
//! (`cluster store etcd`), the Cluster Export Wizard publishes one revision
//! and every member applies it itself; a member that is offline applies it
//! when it returns (also after the revisions it missed were compacted
//! away); a removed member is no recipient of later revisions; with two of
//! three etcd members down a publish fails clearly and every appliance
//! keeps serving; and no secret is ever written to etcd.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::cluster::{Lab, Node, accepts};
use common::etcd::EtcdCluster;
use common::server::Served;
use common::{ADMIN_PASSWORD, SecretScan};

fn join(node: &Node, etcd: &EtcdCluster) {
    let (ca, cert, key) = etcd.files();
    let out = node
        .tacctl()
        .args(["cluster", "store", "etcd", "--endpoints"])
        .arg(etcd.endpoints_flag())
        .arg("--cacert")
        .arg(ca)
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .arg("--url")
        .arg(node.url())
        .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Appliances named `names`, each served and registered in `etcd`, once
/// every one of them is live.
fn members(lab: &Lab, etcd: &EtcdCluster, names: &[&str]) -> Vec<Node> {
    let nodes: Vec<Node> = names
        .iter()
        .map(|n| lab.served(n, ADMIN_PASSWORD))
        .collect();
    for n in &nodes {
        join(n, etcd);
    }
    wait_until("every member serves", Duration::from_secs(20), || {
        all_live(&nodes[0], nodes.len())
    });
    nodes
}

fn publish(node: &Node, wait_seconds: u64) -> std::process::Output {
    publish_with(node, wait_seconds, &[])
}

fn publish_with(node: &Node, wait_seconds: u64, extra: &[&str]) -> std::process::Output {
    node.tacctl()
        .args(["cluster", "export", "-c", "jwt", "--yes", "--timeout"])
        .arg(wait_seconds.to_string())
        .args(extra)
        .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn set_secret(node: &Node, dir: &Path, secret: &str) {
    let f = dir.join(format!("{}-secret", node.name));
    common::write_private(&f, secret);
    node.tacctl()
        .args(["jwt", "set-secret", "--secret-file"])
        .arg(&f)
        .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .assert()
        .success();
}

fn wait_until(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `cluster list --json` on `node`.
fn listed(node: &Node) -> Vec<serde_json::Value> {
    let out = node
        .tacctl()
        .args(["cluster", "list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn all_live(node: &Node, n: usize) -> bool {
    let l = listed(node);
    l.len() == n && l.iter().all(|m| m["live"] == true)
}

/// Every key and value under `/tacctl/` in etcd, as etcdctl prints them.
fn etcd_dump(etcd: &EtcdCluster) -> Vec<u8> {
    let out = etcd.etcdctl(&["get", "--prefix", "/tacctl/"]);
    assert!(out.status.success());
    out.stdout
}

#[test]
fn a_publish_through_etcd_is_applied_by_every_member_and_no_secret_reaches_etcd() {
    let etcd = EtcdCluster::start(3);
    let lab = Lab::new();
    let nodes: Vec<Node> = ["esa1", "esa2", "esa3"]
        .iter()
        .map(|n| lab.served(n, ADMIN_PASSWORD))
        .collect();
    for n in &nodes {
        join(n, &etcd);
    }
    let shown = nodes[1]
        .tacctl()
        .args(["cluster", "store"])
        .output()
        .unwrap();
    assert!(text(&shown).contains("Cluster store: etcd at https://127.0.0.1:"));
    wait_until("every member serves", Duration::from_secs(20), || {
        all_live(&nodes[0], 3)
    });

    let secret = "etcd-published-secret-0123456789abcdefghijklmnop";
    set_secret(&nodes[0], lab.dir(), secret);
    assert_ne!(nodes[1].kid(), nodes[0].kid());
    let started = Instant::now();
    let out = publish(&nodes[0], 20);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("through etcd"), "{t}");
    for n in &nodes {
        assert!(t.contains(&n.name), "{t}");
    }
    assert_eq!(t.matches("applied revision").count(), 3, "{t}");
    assert!(started.elapsed() < Duration::from_secs(20));
    // Applied means applied: the members hold the key, and accept a token
    // from the source.
    let kid = nodes[0].kid();
    for n in &nodes[1..] {
        assert_eq!(n.kid(), kid, "{}", n.name);
    }
    let token = nodes[0].admin_token();
    wait_until(
        "the members' servers have reloaded",
        Duration::from_secs(10),
        || nodes[1..].iter().all(|n| accepts(n, &token)),
    );
    // Status reads etcd: in step, no drift.
    let status = nodes[2]
        .tacctl()
        .args(["cluster", "status", "--json"])
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", text(&status));
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(report["healthy"], true, "{report}");
    assert_eq!(report["members"].as_array().unwrap().len(), 2);

    // The verifier presents every node's token to every member etcd lists.
    let out = nodes[1]
        .tacctl()
        .args(["verify", "cluster", "--json"])
        .env("TACCTL_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let matrix = String::from_utf8_lossy(&out.stdout);
    for n in &nodes {
        assert!(matrix.contains(&n.name), "{matrix}");
    }

    // Nothing secret in etcd, in any encoding.
    let found = SecretScan::new(secret.as_bytes()).find(&etcd_dump(&etcd));
    assert!(found.is_none(), "the JWT secret is in etcd ({found:?})");
}

#[test]
fn offline_members_catch_up_removed_members_are_left_out_and_etcd_losing_quorum_is_clear() {
    let mut etcd = EtcdCluster::start(3);
    let lab = Lab::new();
    let mut nodes = members(&lab, &etcd, &["esa1", "esa2", "esa3"]);

    // esa3 goes down; two publishes happen without it, then etcd compacts
    // them away.
    nodes[2].served = None;
    set_secret(
        &nodes[0],
        lab.dir(),
        "first-secret-while-esa3-is-down-0123456789ab",
    );
    let out = publish(&nodes[0], 3);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("Not applied after"), "{t}");
    assert!(t.contains("esa3"), "{t}");
    assert!(t.contains("offline"), "{t}");
    set_secret(
        &nodes[0],
        lab.dir(),
        "second-secret-while-esa3-is-down-0123456789",
    );
    let out = publish(&nodes[0], 3);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let revision = rt
        .block_on(etcd.client().put(b"/test/compact", b"", 0))
        .unwrap();
    assert!(etcd.compact(revision), "compaction failed");
    let kid = nodes[0].kid();
    assert_eq!(nodes[1].kid(), kid);
    assert_ne!(nodes[2].kid(), kid);
    // It returns, and takes up the latest.
    nodes[2].served = Some(Served::start(&nodes[2].root, &[]));
    wait_until(
        "esa3 applies what it missed",
        Duration::from_secs(20),
        || nodes[2].kid() == kid,
    );

    // esa2 is removed: later revisions are not encrypted to it.
    let out = nodes[0]
        .tacctl()
        .args(["cluster", "remove", "esa2"])
        .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    set_secret(
        &nodes[0],
        lab.dir(),
        "third-secret-after-esa2-is-removed-012345678",
    );
    let out = publish(&nodes[0], 20);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(!t.contains("esa2"), "{t}");
    assert_eq!(t.matches("applied revision").count(), 2, "{t}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        nodes[1].kid(),
        kid,
        "esa2 was removed and keeps what it had"
    );
    assert_eq!(nodes[2].kid(), nodes[0].kid());

    // Two of three etcd members down: a publish fails in bounded time,
    // saying what to do; every appliance keeps serving.
    etcd.stop(0);
    etcd.stop(1);
    let started = Instant::now();
    let out = publish(&nodes[0], 5);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(started.elapsed() < Duration::from_secs(60));
    let t = text(&out);
    assert!(t.contains("lost its quorum"), "{t}");
    assert!(t.contains("keeps serving its last configuration"), "{t}");
    let token = nodes[0].admin_token();
    for n in [&nodes[0], &nodes[2]] {
        assert!(accepts(n, &token), "{} stopped serving", n.name);
    }
}

#[test]
fn going_local_again_and_bad_store_settings_change_nothing() {
    let etcd = EtcdCluster::start(1);
    let lab = Lab::new();
    let a = lab.served("esa1", ADMIN_PASSWORD);
    let before = common::snapshot(&a.root);
    let (ca, cert, key) = etcd.files();
    let try_store = |endpoints: &str, ca: &Path| {
        a.tacctl()
            .args(["cluster", "store", "etcd", "--endpoints", endpoints])
            .arg("--cacert")
            .arg(ca)
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .arg("--url")
            .arg(a.url())
            .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .output()
            .unwrap()
    };
    // A CA that did not sign etcd's certificate.
    let other = lab.file("other-ca.pem", &common::slapd::unrelated_ca_pem());
    let out = try_store(&etcd.endpoints_flag(), &other);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("certificate"), "{}", text(&out));
    // Nothing listening.
    let down = format!("https://127.0.0.1:{}", common::slapd::free_port());
    let out = try_store(&down, &ca);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("unreachable"), "{}", text(&out));
    // Not TLS.
    let out = try_store("http://127.0.0.1:2379", &ca);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    common::assert_unchanged(&before, &common::snapshot(&a.root));

    join(&a, &etcd);
    // With the store on etcd, members join by registering themselves.
    let out = a
        .tacctl()
        .args([
            "cluster",
            "add",
            "esa2",
            "https://127.0.0.1:9",
            "--fingerprint",
        ])
        .arg(format!("SHA256:{}", "A".repeat(43)))
        .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("cluster store etcd"), "{}", text(&out));
    assert_eq!(listed(&a).len(), 1);

    let out = a
        .tacctl()
        .args(["cluster", "store", "local"])
        .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Cluster store: local"),
        "{}",
        text(&out)
    );
    assert!(!a.root.join("cluster-store.yaml").exists());
    assert!(
        !String::from_utf8_lossy(&etcd_dump(&etcd)).contains("members/"),
        "its registration is gone from etcd"
    );
    let shown = a
        .tacctl()
        .args(["cluster", "store", "--json"])
        .output()
        .unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["store"], "local");
}

#[test]
fn a_member_refuses_what_it_cannot_apply_reports_why_and_keeps_its_configuration() {
    use base64::Engine as _;
    use tacctl::cluster::store::Layout;

    let etcd = EtcdCluster::start(1);
    let lab = Lab::new();
    let nodes = members(&lab, &etcd, &["esa1", "esa2"]);
    let ids: Vec<String> = nodes
        .iter()
        .map(|n| n.ops().status().unwrap().node_id)
        .collect();
    let esa2_key = nodes[1].ops().status().unwrap().member_key.unwrap();
    let cluster_id = nodes[0].ops().app.node().unwrap().cluster_id;
    let layout = Layout::new(&Layout::default_prefix(&cluster_id));
    let before = nodes[1].kid();

    // A real bundle for esa2 with another key, altered after it was made.
    set_secret(
        &nodes[0],
        lab.dir(),
        "a-secret-esa2-must-not-take-up-0123456789abc",
    );
    let file = lab.dir().join("for-esa2.bundle");
    let out = nodes[0]
        .tacctl()
        .args(["export", "-c", "jwt", "--recipient", &esa2_key, "-o"])
        .arg(&file)
        .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let good = std::fs::read(&file).unwrap();
    let mut altered = good.clone();
    let at = altered.len() - 40;
    altered[at] ^= 0x40;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = etcd.client();
    let publish_raw = |record: serde_json::Value| -> i64 {
        rt.block_on(client.put(&layout.config(), record.to_string().as_bytes(), 0))
            .unwrap()
    };
    let report_of = |id: &str, revision: i64| -> serde_json::Value {
        let mut found = serde_json::Value::Null;
        wait_until(
            &format!("{id} reports revision {revision}"),
            Duration::from_secs(20),
            || {
                let kv = rt.block_on(client.get(&layout.applied(id))).unwrap();
                found = kv
                    .map(|kv| serde_json::from_slice(&kv.value).unwrap())
                    .unwrap_or_default();
                found["revision"] == revision
            },
        );
        found
    };
    let record = |recipients: &[&String], bundle: &[u8], version: u32| {
        serde_json::json!({
            "version": version,
            "publisher": "esa1",
            "published_at": 1,
            "components": ["jwt"],
            "recipients": recipients,
            "bundle": base64::engine::general_purpose::STANDARD.encode(bundle),
        })
    };

    // Altered: refused, with why, and nothing changed.
    let rev = publish_raw(record(&[&ids[1]], &altered, 1));
    let r = report_of(&ids[1], rev);
    assert_eq!(r["outcome"], "refused", "{r}");
    let why = r["message"].as_str().unwrap_or_default().to_owned();
    assert!(why.contains("damaged") || why.contains("altered"), "{why}");
    assert_eq!(nodes[1].kid(), before);
    // esa1 was not a recipient of it, and says so.
    assert_eq!(report_of(&ids[0], rev)["outcome"], "not_a_recipient");

    // The same bundle unaltered, but esa2 not named: not applied there.
    let rev = publish_raw(record(&[&ids[0]], &good, 1));
    assert_eq!(report_of(&ids[1], rev)["outcome"], "not_a_recipient");
    assert_eq!(nodes[1].kid(), before);

    // `cluster status` says it from etcd: esa2 has not taken esa1's key.
    let status = nodes[0]
        .tacctl()
        .args(["cluster", "status", "--json"])
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(4), "{}", text(&status));

    // A record of a newer version: refused with a hint to upgrade.
    let rev = publish_raw(record(&[&ids[1]], &good, 2));
    let r = report_of(&ids[1], rev);
    assert_eq!(r["outcome"], "refused", "{r}");
    assert!(r["message"].as_str().unwrap().contains("upgrade"), "{r}");
    assert_eq!(nodes[1].kid(), before);
    // Status cannot read that record either, and says so (exit 9).
    let status = nodes[0]
        .tacctl()
        .args(["cluster", "status"])
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(9), "{}", text(&status));
    assert!(text(&status).contains("upgrade"), "{}", text(&status));

    // Signed by an appliance of the same cluster that is not registered:
    // encrypted to esa2's key, intact, and refused all the same, naming
    // the signer; nothing changed.
    let rogue = lab.appliance("rogue", ADMIN_PASSWORD);
    set_secret(
        &rogue,
        lab.dir(),
        "a-secret-from-an-unregistered-node-0123456789",
    );
    let rogue_file = lab.dir().join("rogue.bundle");
    let out = rogue
        .tacctl()
        .args(["export", "-c", "jwt", "--recipient", &esa2_key, "-o"])
        .arg(&rogue_file)
        .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let rogue_signer = signer_of(&rogue);
    let rev = publish_raw(record(&[&ids[1]], &std::fs::read(&rogue_file).unwrap(), 1));
    let r = report_of(&ids[1], rev);
    assert_eq!(r["outcome"], "refused", "{r}");
    let why = r["message"].as_str().unwrap();
    assert!(
        why.contains(&rogue_signer) && why.contains("no registered member"),
        "{why}"
    );
    assert_eq!(nodes[1].kid(), before);

    // The members' records name their signer keys.
    let esa1_record = rt
        .block_on(client.get(&layout.member(&ids[0])))
        .unwrap()
        .unwrap();
    let esa1_record: serde_json::Value = serde_json::from_slice(&esa1_record.value).unwrap();
    assert_eq!(esa1_record["version"], 2, "{esa1_record}");
    assert_eq!(esa1_record["signer"], signer_of(&nodes[0]), "{esa1_record}");

    // What it can apply, it does.
    let rev = publish_raw(record(&[&ids[1]], &good, 1));
    assert_eq!(report_of(&ids[1], rev)["outcome"], "applied");
    assert_eq!(nodes[1].kid(), nodes[0].kid());

    // A member record as the first tacctl with the etcd store wrote it
    // (version 1, no signer key): esa1 brings it up to date when it
    // publishes, and esa2 applies what it signed.
    let mut old = esa1_record.clone();
    old["version"] = 1.into();
    old.as_object_mut().unwrap().remove("signer");
    rt.block_on(client.put(&layout.member(&ids[0]), old.to_string().as_bytes(), 0))
        .unwrap();
    set_secret(
        &nodes[0],
        lab.dir(),
        "a-secret-published-after-an-upgrade-0123456789",
    );
    let out = publish(&nodes[0], 20);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(nodes[1].kid(), nodes[0].kid());
    let updated = rt
        .block_on(client.get(&layout.member(&ids[0])))
        .unwrap()
        .unwrap();
    let updated: serde_json::Value = serde_json::from_slice(&updated.value).unwrap();
    assert_eq!(updated, esa1_record);

    // A node that is not registered cannot publish: the members would
    // refuse it. It is told, and nothing is written.
    let config_revision = || {
        rt.block_on(client.get(&layout.config()))
            .unwrap()
            .map(|kv| kv.mod_revision)
    };
    let before_rev = config_revision();
    rt.block_on(client.delete(&layout.member(&ids[0]))).unwrap();
    let out = publish(&nodes[0], 5);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not registered"), "{}", text(&out));
    assert_eq!(config_revision(), before_rev);
}

/// `node`'s signer key, as text.
fn signer_of(node: &Node) -> String {
    node.ops()
        .member_identity(common::cluster::now())
        .unwrap()
        .signer()
        .key()
        .to_string()
}
