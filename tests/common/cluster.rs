//! A small cluster on loopback for the push tests: appliances made by the
//! real `tacctl init` in one temporary directory, all in cluster `c1` but
//! each with its own JWT key, some served by a real `tacctl serve`, and
//! members written into the source's `config/cluster.yaml` through `Ops`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::SecretString;
use tacctl::cluster::client::{Client, Peer};
use tacctl::component::Member;
use tacctl::ops::Ops;

use super::server::Served;
use super::{ADMIN, ADMIN_PASSWORD, CLUSTER_ID, tacctl, write_private};

/// Another administrator password, for an appliance where [`ADMIN_PASSWORD`] is wrong.
pub const OTHER_PASSWORD: &str = "0ther-admin-staple-93x";

/// The wall clock, Unix seconds: tokens go to real servers.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Appliances in one temporary directory.
pub struct Lab {
    dir: tempfile::TempDir,
}

/// An appliance of the lab, served or not.
pub struct Node {
    /// Its name.
    pub name: String,
    /// Its root.
    pub root: PathBuf,
    /// Its server, when started.
    pub served: Option<Served>,
}

impl Node {
    /// Its URL (served only).
    pub fn url(&self) -> String {
        self.served.as_ref().expect("served").url.clone()
    }

    /// Its certificate's fingerprint (served only).
    pub fn fingerprint(&self) -> String {
        self.served
            .as_ref()
            .expect("served")
            .fingerprint
            .clone()
            .expect("HTTPS")
    }

    /// Its members entry.
    pub fn member(&self) -> Member {
        Member {
            name: self.name.clone(),
            url: self.url(),
            fingerprint: self.fingerprint(),
            added_at: now(),
            signer: None,
        }
    }

    /// A client pinned to its certificate.
    pub fn client(&self) -> Client {
        Client::new(Peer {
            name: self.name.clone(),
            url: self.url(),
            fingerprint: self.fingerprint(),
        })
        .unwrap()
    }

    /// Its open appliance.
    pub fn ops(&self) -> Ops {
        Ops::open(&self.root, Duration::from_secs(10)).unwrap()
    }

    /// Its active JWT key id, read from its files.
    pub fn kid(&self) -> String {
        self.ops().status().unwrap().jwt_kid
    }

    /// Adds members to its `config/cluster.yaml`.
    pub fn add_members(&self, members: &[Member]) {
        let ops = self.ops();
        for m in members {
            ops.add_member(m.clone()).unwrap();
        }
    }

    /// A token this appliance issues for its administrator.
    pub fn admin_token(&self) -> SecretString {
        self.ops()
            .login(ADMIN, &SecretString::from(ADMIN_PASSWORD), now())
            .unwrap()
            .token
    }

    /// `tacctl --root ROOT` with the admin password in a file given by flag.
    pub fn tacctl(&self) -> assert_cmd::Command {
        let mut cmd = tacctl();
        cmd.arg("--root").arg(&self.root);
        cmd
    }
}

impl Lab {
    /// An empty lab.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The lab's directory (beside the roots).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a private file in the lab's directory.
    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        write_private(&p, contents);
        p
    }

    /// `tacctl init` of appliance `name` in cluster c1 with admin `admin`
    /// and `password`, not served.
    pub fn appliance(&self, name: &str, password: &str) -> Node {
        self.appliance_in(name, password, CLUSTER_ID)
    }

    /// [`Lab::appliance`] in cluster `cluster`.
    pub fn appliance_in(&self, name: &str, password: &str, cluster: &str) -> Node {
        let root = self.dir.path().join(name);
        let pw = self.file(&format!("{name}.init.pw"), password);
        tacctl()
            .arg("init")
            .arg("--root")
            .arg(&root)
            .args([
                "--name",
                name,
                "--cluster-id",
                cluster,
                "--admin-password-file",
            ])
            .arg(pw)
            .assert()
            .success();
        Node {
            name: name.into(),
            root,
            served: None,
        }
    }

    /// An appliance served on a loopback port.
    pub fn served(&self, name: &str, password: &str) -> Node {
        let mut n = self.appliance(name, password);
        n.served = Some(Served::start(&n.root, &[]));
        n
    }
}

/// A member entry for an appliance that is down: a loopback port nothing
/// listens on, and a fingerprint of the right shape.
pub fn down_member(name: &str) -> Member {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    Member {
        name: name.into(),
        url: format!("https://127.0.0.1:{port}"),
        fingerprint: format!("SHA256:{}", "A".repeat(43)),
        added_at: now(),
        signer: None,
    }
}

/// Runs `f` on a fresh runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Whether the served appliance `node` accepts `token` on a protected route.
pub fn accepts(node: &Node, token: &SecretString) -> bool {
    block_on(node.client().appliance(token)).is_ok()
}

/// The key id the served appliance announces on its public node route.
pub fn served_kid(node: &Node) -> String {
    block_on(node.client().node()).unwrap().appliance.kid
}
