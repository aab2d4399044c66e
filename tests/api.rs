//! The REST API's routes, in memory: the router answers `oneshot` requests
//! against a real appliance directory, without a socket.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use common::*;
use http_body_util::BodyExt;
use tacctl::auth::Identity;
use tacctl::component::Role;
use tacctl::ops::Ops;
use tacctl::server::{self, AppState, Options, throttle::Limits};
use tower::ServiceExt;

struct Api {
    app: TempAppliance,
    state: Arc<AppState>,
}

fn options() -> Options {
    let mut o = Options::new("127.0.0.1:0".parse().unwrap());
    o.throttle = Limits {
        per_user: 3,
        per_address: 6,
        block_seconds: 30,
        max_block_seconds: 60,
        window_seconds: 600,
    };
    o
}

impl Api {
    fn new() -> Self {
        Self::with(TempAppliance::new(), options())
    }

    fn with(app: TempAppliance, options: Options) -> Self {
        tacctl::jwt::ensure_provider().unwrap();
        let state = AppState::new(&app.root, options).unwrap();
        Self { app, state }
    }

    async fn send(
        &self,
        req: Request<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let mut req = req;
        req.extensions_mut().insert(ConnectInfo(
            "192.0.2.7:40000".parse::<SocketAddr>().unwrap(),
        ));
        let res = server::router(Arc::clone(&self.state))
            .oneshot(req)
            .await
            .unwrap();
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let json = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        (parts.status, parts.headers, json)
    }

    async fn login_form(
        &self,
        user: &str,
        password: &str,
    ) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let body =
            serde_urlencoded::to_string([("loginname", user), ("password", password)]).unwrap();
        self.send(
            Request::post("/api/v1/auth/login/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    async fn token(&self, user: &str, password: &str) -> String {
        let (status, _, body) = self.login_form(user, password).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    async fn get(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let mut req = Request::get(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    /// A token signed with this appliance's key, for `name`, as of `now`.
    fn token_at(&self, name: &str, now: u64) -> String {
        let ops = Ops::open(&self.app.root, Duration::from_secs(5)).unwrap();
        let snap = ops.snapshot().unwrap();
        let id = Identity {
            name: name.into(),
            role: Role::Admin,
            api_access: true,
        };
        use secrecy::ExposeSecret;
        snap.issue(&id, now)
            .unwrap()
            .token
            .expose_secret()
            .to_owned()
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn assert_error(status: StatusCode, body: &serde_json::Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| m.len() > 10),
        "{body}"
    );
}

#[tokio::test]
async fn login_by_form_json_and_basic_then_call_and_refresh() {
    let api = Api::new();
    let (status, headers, body) = api.login_form(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap();
    assert_eq!(headers["PTY_ACCESS_JWT_TOKEN"], token);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 1800);
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");

    let json = serde_json::json!({"username": ADMIN, "password": ADMIN_PASSWORD}).to_string();
    let (status, _, body) = api
        .send(
            Request::post("/api/v1/auth/login/token")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(json))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{ADMIN}:{ADMIN_PASSWORD}"));
    let (status, _, body) = api
        .send(
            Request::post("/api/v1/auth/login/token")
                .header(header::AUTHORIZATION, format!("Basic {basic}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, _, body) = api.get("/api/v1/appliance", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], NODE_NAME);
    assert_eq!(body["cluster_id"], CLUSTER_ID);
    assert_eq!(body["algorithm"], "HS256");
    assert_eq!(body["kid"], api.app.status()["jwt_kid"]);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    // What members compare: the same description, without a token, and the clock.
    let (status, _, mut node) = api.get("/api/v1/cluster/node", None).await;
    assert_eq!(status, StatusCode::OK, "{node}");
    let time = node
        .as_object_mut()
        .unwrap()
        .remove("time")
        .and_then(|t| t.as_u64())
        .expect("the node's clock");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(time.abs_diff(now) <= 5, "{time} against {now}");
    // And the member key bundles for this node are encrypted to.
    let recipient = node.as_object_mut().unwrap().remove("recipient");
    assert_eq!(
        recipient.as_ref().and_then(|r| r.as_str()),
        api.app.status()["member_key"].as_str()
    );
    // And the signer key its bundles are signed with, which members pin.
    let signer = node.as_object_mut().unwrap().remove("signer");
    assert_eq!(
        signer.as_ref().and_then(|r| r.as_str()),
        api.app.status()["signer_key"].as_str()
    );
    assert!(
        signer
            .unwrap()
            .as_str()
            .unwrap()
            .starts_with("tacctl-ed25519:")
    );
    assert_eq!(node, body);

    let (status, headers, body) = api
        .send(
            Request::post("/api/v1/auth/login/token/refresh")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fresh = body["token"].as_str().unwrap();
    assert_ne!(fresh, token);
    assert_eq!(headers["PTY_ACCESS_JWT_TOKEN"], fresh);
    let (status, _, _) = api.get("/api/v1/appliance", Some(fresh)).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _, body) = api.get("/healthz", None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
}

#[tokio::test]
async fn every_bad_token_gets_401_with_www_authenticate() {
    let api = Api::new();
    let good = api.token(ADMIN, ADMIN_PASSWORD).await;
    let now = unix_now();
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let payload = good.split('.').nth(1).unwrap().to_owned();
    let signature = good.split('.').nth(2).unwrap().to_owned();
    // Another first character of the signature: all six of its bits count,
    // so the result is still base64 (the last character's low bits must be
    // zero: turning an 'A' there into a 'B' made the token malformed, one
    // run in four).
    let first = signature.chars().next().unwrap();
    let flipped = format!(
        "{}.{}{}",
        good.rsplit_once('.').unwrap().0,
        if first == 'A' { 'B' } else { 'A' },
        &signature[1..]
    );

    let other = TempAppliance::new();
    let foreign = other.token(ADMIN, ADMIN_PASSWORD);

    // What was wrong, the token, words the message must hold, and the
    // check the answer names (none when there was no token to check).
    let cases: Vec<(&str, Option<String>, &str, Option<&str>)> = vec![
        ("no token", None, "no token", None),
        (
            "not a JWT",
            Some("not-a-token".into()),
            "malformed",
            Some("malformed"),
        ),
        (
            "garbage segments",
            Some("a.b.c".into()),
            "malformed",
            Some("malformed"),
        ),
        (
            "alg none",
            Some(format!(
                "{}.{payload}.",
                b64(serde_json::json!({"alg": "none", "typ": "JWT"}))
            )),
            "none",
            Some("unsupported_algorithm"),
        ),
        (
            "ES512",
            Some(format!(
                "{}.{payload}.{signature}",
                b64(serde_json::json!({"alg": "ES512", "typ": "JWT"}))
            )),
            "not an algorithm this appliance uses",
            Some("unsupported_algorithm"),
        ),
        // A key-pair algorithm on an HMAC appliance: another algorithm than
        // its own, told as such (the algorithm-confusion attack is refused
        // here, before any key is used).
        (
            "RS256",
            Some(format!(
                "{}.{payload}.{signature}",
                b64(serde_json::json!({"alg": "RS256", "typ": "JWT"}))
            )),
            "token uses RS256, this appliance is configured for HS256",
            Some("algorithm"),
        ),
        (
            "wrong signature",
            Some(flipped),
            "signature",
            Some("signature"),
        ),
        (
            "expired",
            Some(api.token_at(ADMIN, now - 7200)),
            "expired",
            Some("expired"),
        ),
        (
            "not yet valid",
            Some(api.token_at(ADMIN, now + 3600)),
            "not-before",
            Some("not_yet_valid"),
        ),
        (
            "another cluster's key",
            Some(foreign),
            "key",
            Some("unknown_key"),
        ),
    ];
    for (what, token, needle, check) in cases {
        let (status, headers, body) = api.get("/api/v1/appliance", token.as_deref()).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        assert!(
            headers[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Bearer"),
            "{what}"
        );
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{what}: {body}"
        );
        assert_eq!(body["check"].as_str(), check, "{what}: {body}");
    }
    // A Basic header on a protected route is not a bearer token.
    let (status, _, _) = api
        .send(
            Request::get("/api/v1/appliance")
                .header(header::AUTHORIZATION, "Basic YWRtaW46eA==")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_from_another_cluster_with_the_same_secret_is_refused() {
    // Same secret, different cluster id: the issuer does not match.
    let api = Api::new();
    let secret = "s".repeat(64);
    let secret_file = api.app.file("secret", &secret);
    api.app
        .cmd()
        .args(["jwt", "set-secret", "--secret-file"])
        .arg(&secret_file)
        .assert()
        .success();
    let dir = tempfile::tempdir().unwrap();
    let other_root = dir.path().join("esa9");
    tacctl()
        .arg("init")
        .arg("--root")
        .arg(&other_root)
        .args([
            "--name",
            "esa9",
            "--cluster-id",
            "another-cluster",
            "--admin-password-file",
        ])
        .arg(&api.app.admin_password_file)
        .assert()
        .success();
    tacctl()
        .arg("--root")
        .arg(&other_root)
        .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .args(["jwt", "set-secret", "--secret-file"])
        .arg(&secret_file)
        .assert()
        .success();
    let foreign = assert_exit(
        tacctl()
            .arg("--root")
            .arg(&other_root)
            .args(["token", "issue", "--user", ADMIN])
            .env("TACCTL_PASSWORD", ADMIN_PASSWORD),
        0,
    )
    .stdout;
    api.state.reload(true).unwrap();
    let (status, _, body) = api.get("/api/v1/appliance", Some(foreign.trim())).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(
        body["message"].as_str().unwrap().contains("issuer"),
        "{body}"
    );
}

#[tokio::test]
async fn wrong_credentials_no_api_access_and_roles() {
    let api = Api::new();
    api.app
        .add_user("viewer1", "viewer", "viewer-Pa55word", &[]);
    api.app
        .add_user("nokey", "viewer", "nokey-Pa55word", &["--no-api-access"]);
    api.state.reload(true).unwrap();

    let (status, _, body) = api.login_form(ADMIN, "wrong-password").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, _, body) = api.login_form("nobody", "whatever-password").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, headers, body) = api.login_form("nokey", "nokey-Pa55word").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    assert!(!headers.contains_key("PTY_ACCESS_JWT_TOKEN"));
    assert!(body.get("token").is_none());

    let viewer = api.token("viewer1", "viewer-Pa55word").await;
    let (status, _, body) = api.get("/api/v1/jwt", Some(&viewer)).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, _, _) = api.get("/api/v1/appliance", Some(&viewer)).await;
    assert_eq!(status, StatusCode::OK);

    let admin = api.token(ADMIN, ADMIN_PASSWORD).await;
    let (status, _, body) = api.get("/api/v1/jwt", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["algorithm"], "HS256");
    assert_eq!(body["expiry_seconds"], 1800);
    let text = body.to_string();
    assert!(
        !text.contains("sealed") && !text.contains("secret"),
        "{text}"
    );
}

#[tokio::test]
async fn the_status_table_400_404_405_413_415() {
    let api = Api::new();
    let (status, _, body) = api
        .send(
            Request::post("/api/v1/auth/login/token")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, _, body) = api
        .send(
            Request::post("/api/v1/auth/login/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("loginname=admin"))
                .unwrap(),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, _, body) = api
        .send(
            Request::post("/api/v1/auth/login/token")
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from("admin:password"))
                .unwrap(),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let (status, _, body) = api
        .send(
            Request::post("/api/v1/auth/login/token")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(vec![b' '; 100_000]))
                .unwrap(),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    let (status, _, body) = api.get("/api/v1/nothing-here", None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, _, body) = api.get("/api/v1/auth/login/token", None).await;
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
}

#[tokio::test]
async fn failed_logins_are_throttled_per_user_with_retry_after() {
    let api = Api::new();
    for _ in 0..3 {
        let (status, _, _) = api.login_form(ADMIN, "wrong-password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password waits: the name is blocked.
    let (status, headers, body) = api.login_form(ADMIN, ADMIN_PASSWORD).await;
    assert_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
    );
    let wait: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    // Another user from another address is not affected...
    api.app.add_user("op", "operator", "op-Pa55word-long", &[]);
    api.state.reload(true).unwrap();
    // ...but this client address has 3 failures of its 6; three more names
    // and the address itself is blocked.
    for name in ["x1", "x2", "x3"] {
        let (status, _, _) = api.login_form(name, "wrong-password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, _) = api.login_form("op", "op-Pa55word-long").await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the address is blocked"
    );
}

#[tokio::test]
async fn changes_on_disk_are_picked_up_by_reload() {
    let api = Api::new();
    let admin = api.token(ADMIN, ADMIN_PASSWORD).await;
    // Used once, so the server remembers it as verified.
    assert_eq!(
        api.get("/api/v1/appliance", Some(&admin)).await.0,
        StatusCode::OK
    );
    assert!(!api.state.reload(false).unwrap(), "nothing changed yet");
    api.app
        .cmd()
        .args(["jwt", "set-algorithm", "HS512"])
        .assert()
        .success();
    assert!(api.state.reload(false).unwrap());
    let (status, _, body) = api.get("/api/v1/appliance", Some(&admin)).await;
    // The old token is HS256; the appliance now pins HS512. A token verified
    // under the old configuration is not answered from memory.
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // Revoking the previous key ends a remembered token at once too.
    let token = api.token(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(
        api.get("/api/v1/appliance", Some(&token)).await.0,
        StatusCode::OK
    );
    let secret = api.app.file("s2", "t".repeat(64));
    api.app
        .cmd()
        .args(["jwt", "set-secret", "--revoke-previous", "--secret-file"])
        .arg(&secret)
        .assert()
        .success();
    api.state.reload(false).unwrap();
    assert_eq!(
        api.get("/api/v1/appliance", Some(&token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let admin = api.token(ADMIN, ADMIN_PASSWORD).await;
    let (_, _, body) = api.get("/api/v1/appliance", Some(&admin)).await;
    assert_eq!(body["algorithm"], "HS512");

    // A hand-edited, broken file: the last good configuration stays.
    let path = api.app.root.join("config/jwt.yaml");
    let good = std::fs::read(&path).unwrap();
    std::fs::write(&path, "version: 1\nalgorithm: HS999\n").unwrap();
    assert!(api.state.reload(false).is_err());
    let (status, _, _) = api.get("/api/v1/appliance", Some(&admin)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "still serving the last good configuration"
    );
    std::fs::write(&path, good).unwrap();
}

/// `POST /api/v1/config/import{query}` with `body`, as `token`, the
/// passphrase in its header.
fn import_request(
    query: &str,
    token: &str,
    passphrase: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Request<Body> {
    Request::post(format!("/api/v1/config/import{query}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, content_type)
        // As bytes: a passphrase may be any UTF-8, and HTTP carries it so.
        .header(
            "X-Bundle-Passphrase",
            axum::http::HeaderValue::from_bytes(passphrase.as_bytes()).unwrap(),
        )
        .body(Body::from(body))
        .unwrap()
}

/// Exports `component` from `source` with the tests' cheap key derivation,
/// under the passphrase "correct horse battery staple 42"; the bundle's bytes.
fn export_bundle(source: &TempAppliance, component: &str) -> Vec<u8> {
    let bundle = source.dir().join(format!("{component}.tacbundle"));
    source
        .cmd()
        .args(["export", "-c", component, "--kdf-cost", "test", "-o"])
        .arg(&bundle)
        .env("TACCTL_PASSPHRASE", "correct horse battery staple 42")
        .assert()
        .success();
    std::fs::read(&bundle).unwrap()
}

#[tokio::test]
async fn a_passphrase_beyond_ascii_imports_through_the_api_as_on_the_command_line() {
    let api = Api::new();
    let source = TempAppliance::new();
    let pass = "Grüße aus Zürich, 東京 2026";
    let bundle = source.dir().join("utf8.tacbundle");
    source
        .cmd()
        .args(["export", "-c", "users", "--kdf-cost", "test", "-o"])
        .arg(&bundle)
        .env("TACCTL_PASSPHRASE", pass)
        .assert()
        .success();
    let admin = api.token(ADMIN, ADMIN_PASSWORD).await;
    let (status, _, body) = api
        .send(import_request(
            "?dry_run=true",
            &admin,
            pass,
            "application/octet-stream",
            std::fs::read(&bundle).unwrap(),
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["dry_run"], true);
}

#[tokio::test]
async fn import_through_the_api_dry_run_then_apply() {
    let api = Api::new();
    let source = TempAppliance::new();
    let bytes = export_bundle(&source, "jwt");
    let foreign = source.token(ADMIN, ADMIN_PASSWORD);
    let admin = api.token(ADMIN, ADMIN_PASSWORD).await;
    let post = |query: &str, pass: &str, ct: &str, token: &str| {
        import_request(query, token, pass, ct, bytes.clone())
    };
    let before = api.app.snapshot();

    let (status, _, body) = api
        .send(post(
            "",
            "wrong passphrase entirely",
            "application/octet-stream",
            &admin,
        ))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    assert!(
        body["message"].as_str().unwrap().contains("passphrase"),
        "{body}"
    );
    let (status, _, body) = api.send(post("", "x", "application/json", &admin)).await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let (status, _, body) = api
        .send(post(
            "?dry_run=true",
            "correct horse battery staple 42",
            "application/octet-stream",
            &admin,
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["dry_run"], true);
    assert_eq!(body["plan"]["components"][0]["component"], "jwt");
    // The plan says who signed the bundle: the source, not a member here.
    assert_eq!(
        body["plan"]["origin"],
        serde_json::json!({
            "signer": source.status()["signer_key"],
            "member": null,
            "this_node": false,
            "trusted": false,
        })
    );
    assert_unchanged(&before, &api.app.snapshot());
    let (status, _, _) = api.get("/api/v1/appliance", Some(&foreign)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "not shared yet");

    let (status, _, body) = api
        .send(post(
            "",
            "correct horse battery staple 42",
            "application/octet-stream",
            &admin,
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"]["outcome"], "applied");
    assert_eq!(body["outcome"]["jwt_kid"], source.status()["jwt_kid"]);
    // In force at once, without waiting for the watcher.
    let (status, _, body) = api.get("/api/v1/appliance", Some(&foreign)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The old key stays accepted for one expiry period.
    let (status, _, _) = api.get("/api/v1/appliance", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);

    // Only administrators import.
    api.app
        .add_user("viewer1", "viewer", "viewer-Pa55word", &[]);
    api.state.reload(true).unwrap();
    let viewer = api.token("viewer1", "viewer-Pa55word").await;
    let (status, _, _) = api
        .send(post(
            "",
            "correct horse battery staple 42",
            "application/octet-stream",
            &viewer,
        ))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_bundle_for_the_servers_member_key_imports_without_a_passphrase_header() {
    let api = Api::new();
    let source = TempAppliance::new();
    let admin = api.token(ADMIN, ADMIN_PASSWORD).await;
    let post = |bytes: Vec<u8>| {
        Request::post("/api/v1/config/import")
            .header(header::AUTHORIZATION, format!("Bearer {admin}"))
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(Body::from(bytes))
            .unwrap()
    };
    // A passphrase bundle without its header: refused, saying where it goes.
    let before = api.app.snapshot();
    let (status, _, body) = api.send(post(export_bundle(&source, "jwt"))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("X-Bundle-Passphrase"), "{body}");
    assert!(message.contains("opens with a passphrase only"), "{body}");
    assert_unchanged(&before, &api.app.snapshot());
    // One encrypted to the member key the server serves: applied.
    let (_, _, node) = api.get("/api/v1/cluster/node", None).await;
    let key = node["recipient"].as_str().unwrap().to_owned();
    let bundle = source.dir().join("to-api.tacbundle");
    source
        .cmd()
        .args([
            "export",
            "-c",
            "jwt",
            "--kdf-cost",
            "test",
            "--recipient",
            &key,
            "-o",
        ])
        .arg(&bundle)
        .assert()
        .success();
    let (status, _, body) = api.send(post(std::fs::read(&bundle).unwrap())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"]["outcome"], "applied");
    assert_eq!(body["outcome"]["jwt_kid"], source.status()["jwt_kid"]);
}

#[tokio::test]
async fn a_bundle_over_a_mebibyte_is_imported_through_the_api() {
    // 2 MiB of custom files that do not compress: the upload is spooled to
    // a private temporary file, and the bundle is opened on threads.
    let api = Api::new();
    let source = TempAppliance::new();
    let content = noise(7, 2 << 20);
    std::fs::create_dir_all(source.root.join("files")).unwrap();
    std::fs::write(source.root.join("files/blob.bin"), &content).unwrap();
    let bytes = export_bundle(&source, "files");
    assert!(bytes.len() as u64 > tacctl::ops::bundle::SMALL_BUNDLE_BYTES);
    let admin = api.token(ADMIN, ADMIN_PASSWORD).await;
    let (status, _, body) = api
        .send(import_request(
            "",
            &admin,
            "correct horse battery staple 42",
            "application/octet-stream",
            bytes,
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"]["outcome"], "applied");
    assert_eq!(
        std::fs::read(api.app.root.join("files/blob.bin")).unwrap(),
        content
    );
    // The temporary file is gone.
    let left: Vec<_> = std::fs::read_dir(&api.app.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".upload-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn an_oversized_bundle_is_refused_with_413() {
    let mut options = options();
    options.max_bundle_bytes = 1000;
    let api = Api::with(TempAppliance::new(), options);
    let admin = api.token(ADMIN, ADMIN_PASSWORD).await;
    let before = api.app.snapshot();
    let (status, _, body) = api
        .send(import_request(
            "",
            &admin,
            "whatever passphrase",
            "application/octet-stream",
            vec![0u8; 5000],
        ))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    assert_unchanged(&before, &api.app.snapshot());
}

#[tokio::test]
async fn the_openapi_document_describes_exactly_the_routes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/openapi.yaml");
    let doc: serde_json::Value =
        yaml_serde::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    documented.sort();
    let mut served: Vec<(String, String)> = server::routes::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    served.sort();
    assert_eq!(
        documented, served,
        "schemas/openapi.yaml and the router disagree"
    );

    // Every listed route is really routed: neither 404 nor 405.
    let api = Api::new();
    for (method, path) in &served {
        let req = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(path.as_str())
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = api.send(req).await;
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {status} {body}"
        );
        // Protected routes document their 401.
        let op = &doc["paths"][path.as_str()][method.as_str()];
        if op.get("security").is_none() {
            assert!(
                op["responses"].get("401").is_some(),
                "{method} {path} lacks 401"
            );
        }
    }

    // The error codes are the ones the status table produces.
    use tacctl::server::ApiError;
    let mut codes: Vec<&str> = [
        ApiError::BadRequest(String::new()),
        ApiError::Unauthorized(String::new()),
        ApiError::Forbidden(String::new()),
        ApiError::NotFound(String::new()),
        ApiError::MethodNotAllowed,
        ApiError::TooLarge(0),
        ApiError::UnsupportedMediaType(String::new()),
        ApiError::TooManyRequests(0),
        ApiError::Unavailable(String::new()),
        ApiError::Internal(String::new()),
    ]
    .iter()
    .map(|e| e.status().1)
    .collect();
    codes.sort();
    // The values the error body's `property` may take, sorted.
    let enumerated = |property: &str| {
        let mut values: Vec<String> = doc["components"]["responses"]["Error"]["content"]
            ["application/json"]["schema"]["properties"][property]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        values.sort();
        values
    };
    assert_eq!(codes, enumerated("error"));

    // And the checks a 401 names are the ones the token verifier has.
    let mut checks: Vec<&str> = tacctl::jwt::Check::ALL.iter().map(|c| c.code()).collect();
    checks.sort();
    assert_eq!(checks, enumerated("check"));
}

#[tokio::test]
async fn a_request_past_its_timeout_gets_503() {
    let mut options = options();
    options.request_timeout = Duration::from_millis(300);
    let api = Api::with(TempAppliance::new(), options);
    // A body that never finishes arriving.
    let stalled = futures_util::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
    let started = std::time::Instant::now();
    let (status, _, body) = api
        .send(
            Request::post("/api/v1/auth/login/token")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(stalled))
                .unwrap(),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_does_not_starve_token_checks() {
    let mut options = options();
    options.hash_concurrency = 1;
    options.throttle.per_user = 1000;
    options.throttle.per_address = 1000;
    let api = Arc::new(Api::with(TempAppliance::new(), options));
    let token = api.token(ADMIN, ADMIN_PASSWORD).await;
    let started = std::time::Instant::now();
    let flood: Vec<_> = (0..12)
        .map(|_| {
            let api = Arc::clone(&api);
            tokio::spawn(async move { api.login_form(ADMIN, "wrong-password-x").await.0 })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    // While a dozen password hashes queue for one slot, a token check is
    // answered at once.
    let check = std::time::Instant::now();
    let (status, _, _) = api.get("/api/v1/appliance", Some(&token)).await;
    let check = check.elapsed();
    assert_eq!(status, StatusCode::OK);
    let mut statuses = Vec::new();
    for f in flood {
        statuses.push(f.await.unwrap());
    }
    let flood_time = started.elapsed();
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED));
    assert!(
        check * 5 < flood_time,
        "token check {check:?} vs flood {flood_time:?}"
    );
}

#[tokio::test]
async fn a_crashed_import_never_reaches_the_server_half_applied() {
    let api = Api::new();
    let source = TempAppliance::new();
    source.add_user("dave", "viewer", "dave-Pa55word-x", &[]);
    let bundle = source.dir().join("jwt-users.tacbundle");
    source
        .cmd()
        .args(["export", "-c", "jwt,users", "--kdf-cost", "test", "-o"])
        .arg(&bundle)
        .env("TACCTL_PASSPHRASE", "correct horse battery staple 42")
        .assert()
        .success();
    let old_kid = api.app.status()["jwt_kid"].clone();
    let new_kid = source.status()["jwt_kid"].clone();
    // Killed after the first of two files was renamed into place, with the
    // journal still open.
    let out = run(api
        .app
        .cmd()
        .arg("import")
        .arg(&bundle)
        .arg("--yes")
        .env("TACCTL_PASSPHRASE", "correct horse battery staple 42")
        .env("TACCTL_TEST_CRASH_AT", "applied-0"));
    assert!(out.code != 0, "the import was expected to crash");
    assert!(
        api.app.root.join("txn").exists(),
        "the journal is still open"
    );
    // The server's next look finishes the interrupted import before reading.
    api.state.reload(false).unwrap();
    let live = api.state.live();
    let kid = serde_json::Value::from(live.settings.active_key.kid.clone());
    let has_dave = live.users.get("dave").is_some();
    assert!(
        (kid == new_kid && has_dave) || (kid == old_kid && !has_dave),
        "half an import is in force: kid {kid}, dave {has_dave}"
    );
    assert!(!api.app.root.join("txn").exists());
}
