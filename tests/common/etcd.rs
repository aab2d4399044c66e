//! A real etcd cluster for the etcd tests: Debian's etcd-server, three
//! (or any number of) members on loopback ports, each with its own data
//! directory in a temporary directory, TLS on client and peer ports with
//! certificates from a CA made for the run, client certificates required.
//! Members can be stopped and started again mid-test; all are killed on
//! drop.
//!
//! The CA, a client certificate and its key are written to `ca.pem`,
//! `client.pem` and `client.key` in [`EtcdCluster::dir`], for commands that
//! take them as files.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use secrecy::SecretSlice;
use tacctl::cluster::etcd::{Etcd, Settings};

use super::slapd::free_port;

const ETCD: &str = "/usr/bin/etcd";

struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

/// A running etcd cluster.
pub struct EtcdCluster {
    dir: tempfile::TempDir,
    members: Vec<Member>,
    initial_cluster: String,
    /// The CA's PEM.
    pub ca_pem: String,
    /// A client certificate's PEM.
    pub cert_pem: String,
    /// Its key's PEM.
    pub key_pem: String,
}

/// Fails the test with what to install when etcd is missing.
pub fn require_etcd() {
    assert!(
        Path::new(ETCD).exists(),
        "the etcd tests need etcd from Debian's etcd-server package: run scripts/test, or apt-get install etcd-server etcd-client"
    );
}

impl EtcdCluster {
    /// Starts `n` members and waits until they have a leader.
    pub fn start(n: usize) -> Self {
        require_etcd();
        let dir = tempfile::tempdir().unwrap();
        let (ca_pem, cert_pem, key_pem) = write_certificates(dir.path());
        let members: Vec<Member> = (0..n)
            .map(|i| Member {
                name: format!("etcd{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                child: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}=https://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Self {
            dir,
            members,
            initial_cluster,
            ca_pem,
            cert_pem,
            key_pem,
        };
        for i in 0..n {
            cluster.start_member(i);
        }
        cluster.wait_ready(Duration::from_secs(30));
        cluster
    }

    /// The directory holding the certificates and data directories.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `https://127.0.0.1:PORT` of every member.
    pub fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("https://127.0.0.1:{}", m.client_port))
            .collect()
    }

    /// The endpoints as one comma-separated flag value.
    pub fn endpoints_flag(&self) -> String {
        self.endpoints().join(",")
    }

    /// Client settings for the library.
    pub fn settings(&self) -> Settings {
        Settings {
            endpoints: self.endpoints(),
            ca_pem: self.ca_pem.clone(),
            cert_pem: self.cert_pem.clone(),
            key_pem: SecretSlice::from(self.key_pem.as_bytes().to_vec()),
        }
    }

    /// A library client with a short timeout.
    pub fn client(&self) -> Etcd {
        Etcd::new(&self.settings(), Duration::from_secs(3)).unwrap()
    }

    /// `(ca.pem, client.pem, client.key)` paths.
    pub fn files(&self) -> (PathBuf, PathBuf, PathBuf) {
        let d = self.dir.path();
        (d.join("ca.pem"), d.join("client.pem"), d.join("client.key"))
    }

    /// Starts member `i` (again, after [`stop`](Self::stop), with its data).
    pub fn start_member(&mut self, i: usize) {
        let d = self.dir.path().to_path_buf();
        let m = &mut self.members[i];
        assert!(m.child.is_none(), "{} already runs", m.name);
        let data = d.join(&m.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join(format!("{}.log", m.name)))
            .unwrap();
        let pem = |f: &str| d.join(f).display().to_string();
        let child = Command::new(ETCD)
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(&data)
            .arg(format!(
                "--listen-client-urls=https://127.0.0.1:{}",
                m.client_port
            ))
            .arg(format!(
                "--advertise-client-urls=https://127.0.0.1:{}",
                m.client_port
            ))
            .arg(format!(
                "--listen-peer-urls=https://127.0.0.1:{}",
                m.peer_port
            ))
            .arg(format!(
                "--initial-advertise-peer-urls=https://127.0.0.1:{}",
                m.peer_port
            ))
            .arg(format!("--initial-cluster={}", self.initial_cluster))
            .arg("--initial-cluster-state=new")
            .arg("--initial-cluster-token=tacctl-test")
            .arg(format!("--cert-file={}", pem("server.pem")))
            .arg(format!("--key-file={}", pem("server.key")))
            .arg(format!("--trusted-ca-file={}", pem("ca.pem")))
            .arg("--client-cert-auth")
            .arg(format!("--peer-cert-file={}", pem("server.pem")))
            .arg(format!("--peer-key-file={}", pem("server.key")))
            .arg(format!("--peer-trusted-ca-file={}", pem("ca.pem")))
            .arg("--peer-client-cert-auth")
            // Fast elections on loopback keep the fault tests short.
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .args(["--logger", "zap", "--log-outputs", "stderr"])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        m.child = Some(child);
    }

    /// Kills member `i`.
    pub fn stop(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until a write through the library succeeds.
    pub fn wait_ready(&self, within: Duration) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = self.client();
        let deadline = Instant::now() + within;
        loop {
            match rt.block_on(client.put(b"/test/ready", b"1", 0)) {
                Ok(_) => return,
                Err(e) if Instant::now() > deadline => {
                    panic!("etcd did not become ready: {e}\n{}", self.logs())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Runs Debian's `etcdctl` (API 3) against every endpoint with the
    /// client certificate, as an operator would.
    pub fn etcdctl(&self, args: &[&str]) -> std::process::Output {
        let (ca, cert, key) = self.files();
        std::process::Command::new("/usr/bin/etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoints_flag()))
            .arg(format!("--cacert={}", ca.display()))
            .arg(format!("--cert={}", cert.display()))
            .arg(format!("--key={}", key.display()))
            .args(args)
            .output()
            .unwrap()
    }

    /// Compacts the history up to `revision`; whether etcdctl succeeded.
    pub fn compact(&self, revision: i64) -> bool {
        self.etcdctl(&["compaction", &revision.to_string()])
            .status
            .success()
    }

    /// Every member's log, for failure messages.
    pub fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                let log = std::fs::read_to_string(self.dir.path().join(format!("{}.log", m.name)))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                format!(
                    "--- {} ---\n{}",
                    m.name,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.stop(i);
        }
    }
}

/// A CA, a certificate for 127.0.0.1 (server and peer) and a client
/// certificate, all signed by it; returns the CA's, the client's
/// certificate and the client's key PEM.
fn write_certificates(dir: &Path) -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tacctl test etcd CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let both = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "etcd");
    params.extended_key_usages = both.clone();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
    client.distinguished_name.push(DnType::CommonName, "tacctl");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client.signed_by(&client_key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("client.pem"), client_cert.pem()).unwrap();
    std::fs::write(dir.join("client.key"), client_key.serialize_pem()).unwrap();
    (ca_cert.pem(), client_cert.pem(), client_key.serialize_pem())
}
