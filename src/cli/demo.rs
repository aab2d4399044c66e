//! `tacctl demo`: the JWT life cycle of an appliance (ESA 1), then the
//! source document's story: ESA 2 and ESA 3 join ESA 1's cluster, refuse its
//! token, take its Appliances JWT Configuration through the Cluster Export
//! Wizard, accept and refresh the same token, and the verifier proves every
//! node accepts every node's token. Told step by step in a temporary
//! directory that is removed afterwards.
//!
//! The first part drives the same operations as the commands (`ops`); the
//! cluster part runs the real commands (`cluster add`, `cluster status`,
//! `cluster export`, `verify cluster`) as an administrator would. Clients
//! talk HTTPS to real `tacctl serve` servers on loopback ports, pinned to
//! each appliance's certificate, exactly as a client of the REST API would. Passwords are generated; tokens are never
//! printed whole. It runs unattended in a few seconds.

use std::io::Write;

use anyhow::{Context, Result};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::cluster::client::{Client, Peer};
use crate::component::Role;
use crate::jwt::{Algorithm, ExpiryUnit};
use crate::ops::{self, InitRequest, Ops};

fn password() -> Result<SecretString> {
    let bytes = ops::random_bytes(18)?;
    Ok(SecretString::from(hex::encode(&bytes[..])))
}

fn kid_of(token: &SecretString) -> String {
    use base64::Engine as _;
    token
        .expose_secret()
        .split('.')
        .next()
        .and_then(|h| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .ok()
        })
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .and_then(|h| h["kid"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Runs the demo, writing the walkthrough to `out`.
pub fn run(out: &mut impl Write) -> Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("tacctl-demo-")
        .tempdir()
        .context("creating a temporary directory for the demo")?;
    let root = dir.path().join("esa1");
    let now = super::now();
    let admin_pw = password()?;
    let alice_pw = password()?;

    writeln!(
        out,
        "tacctl demo: an appliance's JWT life cycle, then a Trusted Appliances Cluster of three sharing it, in {}\n",
        dir.path().display()
    )?;

    writeln!(out, "1. Install ESA 1")?;
    ops::init(
        &root,
        InitRequest {
            name: "esa1".into(),
            cluster_id: Some("demo-cluster".into()),
            admin_user: "admin".into(),
            admin_password: admin_pw.clone(),
        },
        now,
    )?;
    let o = Ops::open(&root, std::time::Duration::from_secs(10))?;
    let v = o.jwt_view(now)?;
    writeln!(
        out,
        "   appliance esa1 in cluster demo-cluster; a random 64-byte JWT secret was generated\n   (key {}), algorithm {}, tokens expire after {} {}\n",
        v.kid,
        v.algorithm,
        v.expiry_value,
        v.expiry_unit.label()
    )?;

    writeln!(out, "2. Administration > JWT Configuration")?;
    o.require_admin("admin", &admin_pw)?;
    writeln!(out, "   root credentials accepted for admin")?;
    let secret = ops::random_bytes(48)?;
    let s = o.set_secret(SecretSlice::from(secret.to_vec()), true, now)?;
    writeln!(
        out,
        "   Set JWT Secret: a new 48-byte secret, key {}",
        s.active_key.kid
    )?;
    o.set_algorithm(Algorithm::HS384, None, now)?;
    writeln!(out, "   Set JWT Algorithm: HS384")?;
    o.set_expiry(15, Some(ExpiryUnit::Minutes), now)?;
    writeln!(
        out,
        "   Set Token Expiry: 15, Set Token Expiry Unit: minute(s)"
    )?;
    writeln!(out, "   Done\n")?;

    writeln!(
        out,
        "3. Add the local user alice (operator, with API access)"
    )?;
    o.add_user("alice", Role::Operator, true, &alice_pw)?;
    writeln!(out, "   password stored as an Argon2id hash\n")?;

    writeln!(out, "4. ESA 1 serves its REST API")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let esa1 = DemoServer::start(&rt, &root, "esa1")?;
    writeln!(
        out,
        "   https://{} with certificate {}\n",
        esa1.peer.url.trim_start_matches("https://"),
        esa1.peer.fingerprint
    )?;
    let api1 = Client::new(esa1.peer.clone())?;

    writeln!(
        out,
        "5. alice logs in with her credentials: POST /api/v1/auth/login/token"
    )?;
    let first = rt.block_on(api1.login("alice", &alice_pw))?;
    writeln!(
        out,
        "   token issued: HS384, kid {}, expires in 15 minutes",
        kid_of(&first)
    )?;
    match rt.block_on(api1.login("alice", &SecretString::from("not her password"))) {
        Err(e) => writeln!(out, "   a wrong password gets no token: {e}\n")?,
        Ok(_) => anyhow::bail!("a wrong password got a token"),
    }

    writeln!(
        out,
        "6. She calls a protected resource with the token in the header: GET /api/v1/appliance"
    )?;
    let seen = rt.block_on(api1.appliance(&first))?;
    writeln!(
        out,
        "   200: appliance {}, cluster {}, algorithm {}\n",
        seen.name, seen.cluster_id, seen.algorithm
    )?;

    writeln!(
        out,
        "7. She refreshes instead of logging in again: POST /api/v1/auth/login/token/refresh"
    )?;
    let second = rt.block_on(api1.refresh(&first))?;
    rt.block_on(api1.appliance(&second))?;
    writeln!(
        out,
        "   a new token for the same session; it is accepted too\n"
    )?;

    writeln!(out, "8. The administrator rotates the JWT secret")?;
    let s = o.set_secret(
        SecretSlice::from(ops::random_bytes(48)?.to_vec()),
        false,
        super::now(),
    )?;
    wait_for_kid(&rt, &api1, &s.active_key.kid)?;
    writeln!(
        out,
        "   new active key {}; the running server picked it up without a restart",
        s.active_key.kid
    )?;
    rt.block_on(api1.appliance(&second))?;
    writeln!(
        out,
        "   alice's token (old key) is still accepted until the previous key retires in 15 minutes"
    )?;
    let third = rt.block_on(api1.login("alice", &alice_pw))?;
    writeln!(
        out,
        "   a new login is signed with the new key {}\n",
        kid_of(&third)
    )?;

    writeln!(out, "9. The administrator revokes the previous key")?;
    o.revoke_previous(super::now())?;
    let refused = wait_until(|| rt.block_on(api1.appliance(&second)).err())?;
    writeln!(out, "   the old token is now refused: {refused}")?;
    rt.block_on(api1.appliance(&third))?;
    writeln!(out, "   the new token is still accepted\n")?;

    writeln!(
        out,
        "10. ESA 2 and ESA 3 are installed in the same cluster and serve their REST API"
    )?;
    let mut others = Vec::new();
    for name in ["esa2", "esa3"] {
        let root_n = dir.path().join(name);
        ops::init(
            &root_n,
            InitRequest {
                name: name.into(),
                cluster_id: Some("demo-cluster".into()),
                admin_user: "admin".into(),
                admin_password: admin_pw.clone(),
            },
            super::now(),
        )?;
        let server = DemoServer::start(&rt, &root_n, name)?;
        writeln!(
            out,
            "   {name}: {} with certificate {}, its own random JWT secret",
            server.peer.url, server.peer.fingerprint
        )?;
        others.push(server);
    }
    writeln!(out)?;
    let api2 = Client::new(others[0].peer.clone())?;
    let api3 = Client::new(others[1].peer.clone())?;

    // The rest runs the real commands, as an administrator would type them;
    // secrets reach them through their environment, never the command line.
    let tacctl = Tacctl::new(&root, &admin_pw)?;
    writeln!(
        out,
        "11. ESA 2 and ESA 3 join ESA 1's Trusted Appliances Cluster, their certificates pinned"
    )?;
    for s in &others {
        tacctl.show(
            out,
            &[
                "cluster",
                "add",
                &s.peer.name,
                &s.peer.url,
                "--fingerprint",
                &s.peer.fingerprint,
            ],
            &[],
        )?;
    }
    writeln!(out)?;

    writeln!(
        out,
        "12. A client logs in on ESA 1 as admin; ESA 2 refuses that token: its JWT configuration differs"
    )?;
    let client_token = rt.block_on(api1.login("admin", &admin_pw))?;
    writeln!(
        out,
        "   ESA 1 issued a token, kid {}",
        kid_of(&client_token)
    )?;
    match rt.block_on(api2.appliance(&client_token)) {
        Err(e) => writeln!(out, "   {e}\n")?,
        Ok(_) => anyhow::bail!("ESA 2 accepted a token signed with ESA 1's key before any export"),
    }

    writeln!(out, "13. tacctl cluster status on ESA 1 names the drift")?;
    tacctl.show(out, &["cluster", "status"], &[])?;
    writeln!(out)?;

    writeln!(
        out,
        "14. The Cluster Export Wizard, non-interactive: Appliance OS Configuration > Appliances JWT Configuration, to every member"
    )?;
    tacctl.show(
        out,
        &[
            "cluster",
            "export",
            "--yes",
            "--quiet",
            "-c",
            "jwt",
            "--user",
            "admin",
            "--password-file",
            tacctl.password_file(),
        ],
        &[],
    )?;
    writeln!(out)?;

    writeln!(
        out,
        "15. The same token generated by ESA 1 is applicable on ESA 2"
    )?;
    let seen = rt.block_on(api2.appliance(&client_token))?;
    writeln!(out, "   ESA 2 ({}) accepts it: 200", seen.name)?;
    let refreshed = rt.block_on(api2.refresh(&client_token))?;
    writeln!(
        out,
        "   ESA 2 refreshes it: a new token, kid {}",
        kid_of(&refreshed)
    )?;
    rt.block_on(api1.appliance(&refreshed))?;
    rt.block_on(api3.appliance(&refreshed))?;
    writeln!(out, "   ESA 1 and ESA 3 accept the refreshed token")?;
    rt.block_on(api3.appliance(&third))?;
    match rt.block_on(api2.refresh(&third)) {
        Err(e) => writeln!(
            out,
            "   alice's token is accepted everywhere too, but only ESA 1 refreshes it: she is a local user of ESA 1, and only the JWT configuration was exported\n     ({e})\n"
        )?,
        Ok(_) => anyhow::bail!("ESA 2 refreshed a token of a user it does not have"),
    }

    writeln!(
        out,
        "16. The verifier: every node's token presented to every node"
    )?;
    tacctl.show(
        out,
        &["verify", "cluster", "--user", "admin"],
        &[("TACCTL_PASSWORD", &admin_pw)],
    )?;
    writeln!(out)?;

    esa1.stop(&rt);
    for s in others {
        s.stop(&rt);
    }
    drop((o, tacctl));
    dir.close().context("removing the demo directory")?;
    writeln!(
        out,
        "Done: the demo servers were stopped and the appliances removed."
    )?;
    Ok(())
}

/// This very binary, run as an administrator would run it on ESA 1, its
/// output shown indented.
struct Tacctl {
    exe: std::path::PathBuf,
    root: std::path::PathBuf,
    admin_password: SecretString,
    password_file: tempfile::NamedTempFile,
    password_path: String,
}

impl Tacctl {
    fn new(root: &std::path::Path, admin_password: &SecretString) -> Result<Self> {
        let exe = std::env::current_exe().context("finding the tacctl binary")?;
        // The members' administrator password, for the wizard's
        // --password-file: a 0600 file in the demo's private directory.
        let mut password_file = tempfile::Builder::new()
            .prefix(".demo-admin-")
            .tempfile_in(root.parent().unwrap_or(root))
            .context("writing the demo's password file")?;
        std::io::Write::write_all(
            &mut password_file,
            admin_password.expose_secret().as_bytes(),
        )?;
        let password_path = password_file.path().display().to_string();
        Ok(Self {
            exe,
            root: root.to_path_buf(),
            admin_password: admin_password.clone(),
            password_file,
            password_path,
        })
    }

    fn password_file(&self) -> &str {
        let _ = &self.password_file;
        &self.password_path
    }

    /// Runs `tacctl --root ESA1 ARGS`, prints the command and its output.
    fn show(
        &self,
        out: &mut impl Write,
        args: &[&str],
        env: &[(&str, &SecretString)],
    ) -> Result<()> {
        let shown: Vec<&str> = args
            .iter()
            .map(|a| if *a == self.password_path { "FILE" } else { a })
            .collect();
        writeln!(out, "   $ tacctl {}", shown.join(" "))?;
        let mut cmd = std::process::Command::new(&self.exe);
        cmd.arg("--root")
            .arg(&self.root)
            .args(args)
            .env("TACCTL_ADMIN_USER", "admin")
            .env("TACCTL_ADMIN_PASSWORD", self.admin_password.expose_secret())
            .stdin(std::process::Stdio::null());
        for (k, v) in env {
            cmd.env(k, v.expose_secret());
        }
        let output = cmd.output().context("running tacctl")?;
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            writeln!(out, "     {line}")?;
        }
        for line in String::from_utf8_lossy(&output.stderr).lines() {
            writeln!(out, "     {line}")?;
        }
        Ok(())
    }
}

/// A demo appliance's server, running on the demo's runtime.
struct DemoServer {
    peer: Peer,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), crate::server::ServerError>>,
}

impl DemoServer {
    /// Serves `root` over HTTPS on a free loopback port.
    fn start(rt: &tokio::runtime::Runtime, root: &std::path::Path, name: &str) -> Result<Self> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let root = root.to_path_buf();
        let options = crate::server::Options::new(([127, 0, 0, 1], 0).into());
        let task = rt.spawn(async move {
            crate::server::serve(
                &root,
                options,
                move |addr, _scheme, fingerprint| {
                    let _ = ready_tx.send((addr, fingerprint.unwrap_or_default().to_owned()));
                },
                async move {
                    let _ = stopped.await;
                },
            )
            .await
        });
        let (addr, fingerprint) = ready_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .context("the demo server did not start")?;
        Ok(Self {
            peer: Peer {
                name: name.to_owned(),
                url: format!("https://{addr}"),
                fingerprint,
            },
            stop,
            task,
        })
    }

    fn stop(self, rt: &tokio::runtime::Runtime) {
        let _ = self.stop.send(());
        let _ = rt.block_on(self.task);
    }
}

/// Waits (up to five seconds) until the server's active key is `kid`.
fn wait_for_kid(rt: &tokio::runtime::Runtime, api: &Client, kid: &str) -> Result<()> {
    wait_until(|| {
        rt.block_on(api.node())
            .ok()
            .filter(|n| n.appliance.kid == kid)
    })
    .map(|_| ())
}

/// Polls `f` every 20 ms, up to five seconds, until it gives a value.
fn wait_until<T>(mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if start.elapsed() > std::time::Duration::from_secs(5) {
            anyhow::bail!("the demo server did not pick up the change within 5 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
