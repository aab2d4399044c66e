//! `tacctl serve` end to end: the real binary on a free loopback port, over
//! HTTPS, with clients pinned to the appliance's certificate; curl as an
//! existing appliance client would use it; live reload, SIGHUP, SIGTERM; and
//! a scan of the server's log for every secret the tests used.

mod common;

use std::time::{Duration, Instant};

use common::server::{Served, pinned_client};
use common::*;
use rustix::process::Signal;
use serde_json::Value;

const PASSPHRASE: &str = "correct horse battery staple 42";

async fn login(client: &reqwest::Client, url: &str, user: &str, password: &str) -> String {
    let res = client
        .post(format!("{url}/api/v1/auth/login/token"))
        .json(&serde_json::json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

async fn appliance(client: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let res = client
        .get(format!("{url}/api/v1/appliance"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Polls until `f` holds, up to `limit`; how long it took.
async fn within<F, Fut>(limit: Duration, mut f: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if f().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

#[tokio::test]
async fn https_login_call_refresh_import_reload_and_a_clean_log() {
    let app = TempAppliance::new();
    let secret = "k".repeat(64);
    let secret_file = app.file("jwt.secret", &secret);
    app.cmd()
        .args(["jwt", "set-secret", "--secret-file"])
        .arg(&secret_file)
        .assert()
        .success();
    let server = Served::start(&app.root, &[]);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let fp = server.fingerprint.clone().unwrap();
    let shown = run(app.bare().args(["tls", "show"])).stdout;
    assert_eq!(fp, shown.trim());
    let client = server.client();
    let url = server.url.clone();

    let token = login(&client, &url, ADMIN, ADMIN_PASSWORD).await;
    let (status, body) = appliance(&client, &url, &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], NODE_NAME);
    let res = client
        .post(format!("{url}/api/v1/auth/login/token/refresh"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let refreshed = res.headers()["PTY_ACCESS_JWT_TOKEN"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(appliance(&client, &url, &refreshed).await.0, 200);

    // A client pinned to another certificate never talks to this server.
    let wrong = pinned_client("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let err = wrong
        .get(format!("{url}/healthz"))
        .send()
        .await
        .unwrap_err();
    assert!(
        format!("{err:?}").contains("fingerprint mismatch"),
        "{err:?}"
    );

    // A CLI change reaches the running server within a second.
    app.cmd()
        .args(["jwt", "set-expiry", "45"])
        .assert()
        .success();
    let took = within(Duration::from_secs(1), || async {
        appliance(&client, &url, &refreshed).await.1["expiry_seconds"] == 45 * 60
    })
    .await;
    assert!(
        took.is_some(),
        "the change did not reach the server within 1 s"
    );

    // An import through the CLI, too.
    let source = TempAppliance::new();
    let bundle = source.dir().join("jwt.tacbundle");
    source
        .cmd()
        .args(["export", "-c", "jwt", "--kdf-cost", "test", "-o"])
        .arg(&bundle)
        .env("TACCTL_PASSPHRASE", PASSPHRASE)
        .assert()
        .success();
    let source_token = source.token(ADMIN, ADMIN_PASSWORD);
    assert_eq!(appliance(&client, &url, &source_token).await.0, 401);
    app.cmd()
        .arg("import")
        .arg(&bundle)
        .arg("--yes")
        .env("TACCTL_PASSPHRASE", PASSPHRASE)
        .assert()
        .success();
    let took = within(Duration::from_secs(1), || async {
        appliance(&client, &url, &source_token).await.0 == 200
    })
    .await;
    assert!(
        took.is_some(),
        "the import did not reach the server within 1 s"
    );

    // And through the API, with the passphrase in its header.
    let third = TempAppliance::new();
    let bundle3 = third.dir().join("jwt3.tacbundle");
    third
        .cmd()
        .args(["export", "-c", "jwt", "--kdf-cost", "test", "-o"])
        .arg(&bundle3)
        .env("TACCTL_PASSPHRASE", PASSPHRASE)
        .assert()
        .success();
    let third_token = third.token(ADMIN, ADMIN_PASSWORD);
    let admin = login(&client, &url, ADMIN, ADMIN_PASSWORD).await;
    let res = client
        .post(format!("{url}/api/v1/config/import"))
        .bearer_auth(&admin)
        .header("content-type", "application/octet-stream")
        .header("x-bundle-passphrase", PASSPHRASE)
        .body(std::fs::read(&bundle3).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["outcome"]["outcome"], "applied", "{body}");
    assert_eq!(appliance(&client, &url, &third_token).await.0, 200);

    // A failed login and a bad token, so the log has those lines too.
    let res = client
        .post(format!("{url}/api/v1/auth/login/token"))
        .form(&[("loginname", ADMIN), ("password", "Wrong-password-123")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    let log = server.log();
    assert!(
        log.contains("path=/api/v1/auth/login/token status=200"),
        "{log}"
    );
    assert!(log.contains("user=\"admin\""), "{log}");
    assert!(log.contains("request_id="), "{log}");
    let secrets = [
        ("the admin password", ADMIN_PASSWORD.to_owned()),
        ("a wrong password", "Wrong-password-123".to_owned()),
        ("the JWT secret", secret.clone()),
        ("the bundle passphrase", PASSPHRASE.to_owned()),
        ("a token", token.clone()),
        ("a refreshed token", refreshed.clone()),
        ("a foreign token", source_token.clone()),
        ("an admin token", admin.clone()),
    ];
    for (what, s) in &secrets {
        assert_no_secret("the server log", log.as_bytes(), what, s.as_bytes());
        // Tokens' signatures alone would be enough to leak them.
        if let Some(sig) = s.rsplit('.').next().filter(|_| s.contains('.')) {
            assert!(!log.contains(sig), "{what}'s signature is in the log");
        }
    }
}

#[tokio::test]
async fn an_existing_client_logs_in_with_curl_form_fields_and_reads_the_header() {
    let app = TempAppliance::new();
    let server = Served::start(&app.root, &[]);
    let cert = app.file(
        "server.pem",
        run(app.bare().args(["tls", "show", "--pem"])).output.stdout,
    );
    let base = format!("https://localhost:{}", server.port());
    let pw = app.file("curl-password", ADMIN_PASSWORD);
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--fail-with-body",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "--cacert",
        ])
        .arg(&cert)
        .args([
            "--data-urlencode",
            &format!("loginname={ADMIN}"),
            "--data-urlencode",
        ])
        .arg(format!("password@{}", pw.display()))
        .arg(format!("{base}/api/v1/auth/login/token"))
        .output()
        .expect("curl is installed (scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let headers = String::from_utf8(out.stdout).unwrap();
    let token = headers
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("PTY_ACCESS_JWT_TOKEN")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no PTY_ACCESS_JWT_TOKEN header in {headers}"));
    let auth = app.file("curl-auth", format!("Authorization: Bearer {token}"));
    let call = |path: &str, method: &str| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--fail-with-body", "-X", method, "--cacert"])
            .arg(&cert)
            .arg("-H")
            .arg(format!("@{}", auth.display()))
            .arg(format!("{base}{path}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    assert_eq!(call("/api/v1/appliance", "GET")["name"], NODE_NAME);
    let refreshed = call("/api/v1/auth/login/token/refresh", "POST");
    assert!(refreshed["token"].as_str().unwrap().starts_with("eyJ"));
}

#[tokio::test]
async fn sighup_reloads_and_sigterm_stops_gracefully() {
    let app = TempAppliance::new();
    let mut server = Served::start(&app.root, &["--watch-interval-ms", "0"]);
    let client = server.client();
    let url = server.url.clone();
    let token = login(&client, &url, ADMIN, ADMIN_PASSWORD).await;
    app.cmd()
        .args(["jwt", "set-expiry", "20"])
        .assert()
        .success();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        appliance(&client, &url, &token).await.1["expiry_seconds"],
        1800,
        "reloaded without being asked"
    );
    server.signal(Signal::HUP);
    let took = within(Duration::from_secs(1), || async {
        appliance(&client, &url, &token).await.1["expiry_seconds"] == 1200
    })
    .await;
    assert!(took.is_some(), "SIGHUP did not reload");

    server.signal(Signal::TERM);
    let status = server
        .wait_exit(Duration::from_secs(12))
        .expect("the server stops on SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(server.log().contains("shutting down"), "{}", server.log());
}

#[test]
fn plain_http_only_on_loopback() {
    let app = TempAppliance::new();
    app.bare()
        .args(["serve", "--insecure-http", "--listen", "0.0.0.0:0"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("only on a loopback address"));
    let server = Served::start(&app.root, &["--insecure-http"]);
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let res = server
            .client()
            .get(format!("{}/healthz", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    });
}

#[tokio::test]
async fn the_cluster_client_pins_learns_and_reports_each_failure() {
    use secrecy::{ExposeSecret, SecretString};
    use tacctl::cluster::client::{self, Client, ClientError, Peer};
    let app = TempAppliance::new();
    let server = Served::start(&app.root, &[]);
    let fp = server.fingerprint.clone().unwrap();
    let learned = client::fetch_fingerprint(&server.url, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(learned, fp);

    let peer = Peer {
        name: "esa1".into(),
        url: format!("{}/", server.url),
        fingerprint: fp.clone(),
    };
    let c = Client::new(peer.clone()).unwrap();
    let node = c.node().await.unwrap();
    assert_eq!(node.appliance.name, NODE_NAME);
    assert!(node.time > 1_700_000_000);
    let token = c
        .login(ADMIN, &SecretString::from(ADMIN_PASSWORD))
        .await
        .unwrap();
    assert_eq!(c.appliance(&token).await.unwrap().kid, node.appliance.kid);
    assert!(c.jwt_settings(&token).await.is_ok());
    let fresh = c.refresh(&token).await.unwrap();
    assert_ne!(fresh.expose_secret(), token.expose_secret());
    match c
        .login(ADMIN, &SecretString::from("Wrong-password-1"))
        .await
    {
        Err(ClientError::Refused {
            status: 401, code, ..
        }) => assert_eq!(code, "unauthorized"),
        other => panic!("{other:?}"),
    }
    let answer = c
        .import(
            &token,
            b"not a bundle".to_vec(),
            Some(&SecretString::from(PASSPHRASE)),
            true,
            None,
        )
        .await;
    assert!(
        matches!(answer, Err(ClientError::Refused { status: 400, .. })),
        "{answer:?}"
    );

    let wrong = Client::new(Peer {
        fingerprint: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        ..peer.clone()
    })
    .unwrap();
    match wrong.node().await {
        Err(ClientError::FingerprintMismatch { seen, .. }) => assert_eq!(seen, fp),
        other => panic!("{other:?}"),
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let down = Client::new(Peer {
        url: format!("https://127.0.0.1:{port}"),
        ..peer
    })
    .unwrap();
    let err = down.node().await.unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    assert!(err.to_string().contains("unreachable"), "{err}");
    assert!(client::normalise_url("http://x:1").is_err());
}

#[tokio::test]
async fn json_logs_oversized_headers_and_equal_cost_for_unknown_users() {
    let app = TempAppliance::new();
    let server = Served::start(&app.root, &["--log-format", "json"]);
    let (c, url) = (server.client(), server.url.clone());

    // Request headers past the limit are refused before any handler runs.
    let res = c
        .get(format!("{url}/healthz"))
        .header("x-padding", "a".repeat(100_000))
        .send()
        .await;
    match res {
        Ok(r) => assert!(r.status().is_client_error(), "{}", r.status()),
        Err(e) => assert!(!e.is_timeout(), "{e:?}"),
    }
    let res = c.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the server is still serving");

    // An unknown user costs the same password check as a known one. The
    // two are timed in turns, so both see the same load from the tests
    // running beside this one; the best of each is compared. Skipping the
    // hash would make the unknown user some fifty times faster.
    let attempt = |user: &'static str| {
        let (c, url) = (c.clone(), url.clone());
        async move {
            let start = Instant::now();
            let res = c
                .post(format!("{url}/api/v1/auth/login/token"))
                .form(&[("loginname", user), ("password", "Wrong-password-123")])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 401);
            start.elapsed()
        }
    };
    let (mut known, mut unknown) = (Duration::MAX, Duration::MAX);
    // Four turns each: the fifth failure would block the user name.
    for _ in 0..4 {
        known = known.min(attempt(ADMIN).await);
        unknown = unknown.min(attempt("nobody-here").await);
    }
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!(
        (0.25..4.0).contains(&ratio),
        "known {known:?}, unknown {unknown:?}: user names can be probed by timing"
    );

    let log = server.log();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let request = lines
        .iter()
        .find(|l| l["path"] == "/api/v1/auth/login/token")
        .expect("an access line for the login");
    for field in [
        "request_id",
        "method",
        "status",
        "latency_us",
        "user",
        "client",
    ] {
        assert!(request.get(field).is_some(), "{field} missing in {request}");
    }
    assert!(!log.contains("Wrong-password-123"));
}
