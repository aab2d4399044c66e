//! A real OpenLDAP slapd for the LDAP tests: its own configuration, database
//! and loopback port in a temporary directory, loaded from
//! `fixtures/ldap/*.ldif` with slapadd before it starts, killed on drop.
//!
//! It listens on `ldap://127.0.0.1:PORT` only (and, with TLS, on
//! `ldaps://127.0.0.1:PORT2` with a certificate from a CA made for the run).
//! `-d stats` keeps slapd in the foreground, logging each operation to
//! [`Slapd::log`] (tests count binds there), and the child process is slapd
//! itself and can be stopped (killed) or paused (SIGSTOP) mid-test. Running
//! as root is fine: without `-u`/`-g` it keeps the caller's user.
//!
//! The directory allows unauthenticated binds (`allow bind_anon_dn`), as
//! some directories do, so the tests can show that tacctl refuses an empty
//! password itself.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The directory's suffix.
pub const SUFFIX: &str = "dc=example,dc=org";
/// Where users live.
pub const PEOPLE: &str = "ou=people,dc=example,dc=org";
/// The group whose members have API access (groupOfNames).
pub const API_GROUP: &str = "cn=api-users,ou=groups,dc=example,dc=org";
/// The administrators (groupOfUniqueNames).
pub const ADMIN_GROUP: &str = "cn=admins,ou=groups,dc=example,dc=org";
/// A posixGroup with `memberUid: erin`.
pub const POSIX_GROUP: &str = "cn=api-posix,ou=groups,dc=example,dc=org";
/// The service account, the only one that sees `ou=restricted`.
pub const SERVICE_DN: &str = "cn=svc,ou=services,dc=example,dc=org";
/// Its password (stored as {SSHA}).
pub const SERVICE_PASSWORD: &str = "Svc-bind-pw-9001";

/// Users and passwords from `fixtures/ldap/directory.ldif`.
pub const ALICE: (&str, &str) = ("alice", "Alice-pw-1234");
pub const DAVE: (&str, &str) = ("dave", "Dave-pw-2718");
pub const ADA: (&str, &str) = ("ada", "Ada-pw-3141");
pub const BOB: (&str, &str) = ("bob", "Bob-pw-5678");
pub const ERIN: (&str, &str) = ("erin", "Erin-pw-1618");
pub const CAROL: (&str, &str) = ("carol", "Carol-pw-1414");

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";
const SCHEMAS: [&str; 4] = ["core", "cosine", "inetorgperson", "nis"];

/// The TLS material of a server started with [`Slapd::start_with_tls`].
pub struct Tls {
    /// The PEM certificate of the CA that signed the server's certificate.
    pub ca_pem: String,
    /// `ldaps://127.0.0.1:PORT`.
    pub ldaps_url: String,
}

/// A running slapd; killed when dropped.
pub struct Slapd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// The plain (and StartTLS) port on 127.0.0.1.
    pub port: u16,
    /// Present when started with TLS.
    pub tls: Option<Tls>,
}

impl Slapd {
    /// Starts slapd with the fixture directory on a free loopback port.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// Like [`start`](Self::start), with StartTLS and an `ldaps://` port,
    /// using a certificate for 127.0.0.1 from a CA made for this run.
    pub fn start_with_tls() -> Self {
        Self::launch(true)
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// Kills slapd and waits for it: connections are refused from now on.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes slapd (SIGSTOP): the kernel still accepts connections on
    /// its port, but nothing answers, like a hung server.
    pub fn pause(&self) {
        self.signal(rustix::process::Signal::STOP);
        // The signal is delivered asynchronously: wait until every thread
        // has stopped, or a request sent now could still be answered.
        let pid = self.child.as_ref().unwrap().id();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !all_threads_stopped(pid) {
            assert!(Instant::now() < deadline, "slapd did not stop");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Thaws a paused slapd (SIGCONT).
    pub fn resume(&self) {
        self.signal(rustix::process::Signal::CONT);
    }

    fn signal(&self, sig: rustix::process::Signal) {
        let child = self.child.as_ref().expect("slapd is running");
        rustix::process::kill_process(rustix::process::Pid::from_child(child), sig).unwrap();
    }

    /// How many binds slapd has received, as its stats log shows them.
    pub fn binds(&self) -> usize {
        self.log().matches(" BIND dn=").count()
    }

    /// slapd's own output, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    fn launch(tls: bool) -> Self {
        require_openldap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("db")).unwrap();
        let ca_pem = tls.then(|| write_certificates(dir.path()));
        let conf = dir.path().join("slapd.conf");
        std::fs::write(&conf, config(dir.path(), tls)).unwrap();
        load_fixtures(dir.path(), &conf);

        // A port can be taken between choosing and binding it; try again then.
        for _ in 0..5 {
            let port = free_port();
            let ldaps_port = tls.then(free_port);
            let mut listen = format!("ldap://127.0.0.1:{port}/");
            if let Some(p) = ldaps_port {
                listen.push_str(&format!(" ldaps://127.0.0.1:{p}/"));
            }
            let log = std::fs::File::create(dir.path().join("slapd.log")).unwrap();
            let mut cmd = Command::new(SLAPD);
            cmd.arg("-f")
                .arg(&conf)
                .args(["-h", &listen, "-d", "stats"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log);
            // If the test process dies without dropping us, slapd goes too.
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(|| {
                    rustix::process::set_parent_process_death_signal(Some(
                        rustix::process::Signal::KILL,
                    ))
                    .map_err(Into::into)
                });
            }
            let mut child = cmd.spawn().unwrap();
            let log_path = dir.path().join("slapd.log");
            if wait_until_answering(&mut child, port, &log_path) {
                return Slapd {
                    child: Some(child),
                    dir,
                    port,
                    tls: ca_pem.map(|ca_pem| Tls {
                        ca_pem,
                        ldaps_url: format!("ldaps://127.0.0.1:{}", ldaps_port.unwrap()),
                    }),
                };
            }
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if !log.contains("Address already in use") {
                panic!("slapd did not start:\n{log}");
            }
        }
        panic!("slapd found no free loopback port in 5 tries");
    }
}

/// Waits until slapd answers an anonymous bind; false when it exited.
fn wait_until_answering(child: &mut Child, port: u16, log: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if answers_bind(port) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "slapd did not answer within 20 s:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Fails with what to do when OpenLDAP is not installed.
fn require_openldap() {
    for tool in [SLAPD, SLAPADD] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is not installed: the LDAP tests need OpenLDAP's slapd and ldap-utils; run scripts/test, which installs them"
        );
    }
}

fn config(dir: &Path, tls: bool) -> String {
    let d = dir.display();
    let mut c = String::new();
    for s in SCHEMAS {
        c.push_str(&format!("include /etc/ldap/schema/{s}.schema\n"));
    }
    c.push_str(&format!(
        "modulepath /usr/lib/ldap\nmoduleload back_mdb\npidfile {d}/slapd.pid\nargsfile {d}/slapd.args\nallow bind_anon_dn\n"
    ));
    if tls {
        c.push_str(&format!(
            "TLSCACertificateFile {d}/ca.pem\nTLSCertificateFile {d}/server.pem\nTLSCertificateKeyFile {d}/server.key\n"
        ));
    }
    c.push_str(&format!(
        r#"database mdb
maxsize 16777216
suffix "{SUFFIX}"
rootdn "cn=admin,{SUFFIX}"
rootpw root-pw-not-used-by-tests
directory {d}/db
access to attrs=userPassword
    by anonymous auth
    by * none
access to dn.subtree="ou=restricted,{SUFFIX}"
    by dn.exact="{SERVICE_DN}" read
    by anonymous auth
    by * none
access to *
    by * read
"#
    ));
    c
}

/// Loads every `fixtures/ldap/*.ldif`, in name order, into the database.
fn load_fixtures(dir: &Path, conf: &Path) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ldap");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ldif"))
        .collect();
    files.sort();
    let mut all = String::new();
    for f in files {
        all.push_str(&std::fs::read_to_string(f).unwrap());
        all.push_str("\n\n");
    }
    let ldif = dir.join("all.ldif");
    std::fs::write(&ldif, all).unwrap();
    let out = Command::new(SLAPADD)
        .arg("-q")
        .arg("-f")
        .arg(conf)
        .arg("-l")
        .arg(&ldif)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "slapadd failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a certificate for 127.0.0.1 signed by it; returns the CA's PEM.
fn write_certificates(dir: &Path) -> String {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tacctl test directory CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
    ca_cert.pem()
}

/// A PEM certificate of a CA nobody uses: trusting it trusts no server.
pub fn unrelated_ca_pem() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).unwrap().pem()
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether an LDAP server on the port answers an anonymous simple bind.
fn answers_bind(port: u16) -> bool {
    // LDAPMessage { messageID 1, BindRequest { version 3, name "", simple "" } }
    const BIND: [u8; 14] = [
        0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00,
    ];
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut reply = [0u8; 2];
    s.write_all(&BIND).is_ok() && s.read_exact(&mut reply).is_ok() && reply[0] == 0x30
}

/// Whether every thread of the process is in the stopped state (`T`).
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.into_iter().all(|t| {
        let stat = std::fs::read_to_string(t.unwrap().path().join("stat")).unwrap_or_default();
        // "pid (comm) S ...": the state follows the last ')'.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "T")
    })
}

/// `ldap set` on a fresh appliance, pointed at `s` with the service account.
pub fn configure(app: &super::TempAppliance, s: &Slapd) {
    let bind_pw = app.file("bind.pw", format!("{}\n", SERVICE_PASSWORD));
    app.cmd()
        .args(["ldap", "set", "--url", &s.url(), "--base-dn", SUFFIX])
        .args(["--user-filter", "(uid={username})"])
        .args(["--bind-dn", SERVICE_DN, "--bind-password-file"])
        .arg(&bind_pw)
        .args(["--api-access-group", API_GROUP])
        .args(["--admin-group", ADMIN_GROUP, "--timeout", "2"])
        .assert()
        .success();
}
