//! Logins through the REST API against a real OpenLDAP slapd on a loopback
//! port: directory users in and out of the access group, an administrator
//! by group, wrong passwords, refresh of a directory user's token, and the
//! directory stopped mid-test while local users keep logging in; and
//! `tacctl token issue`, which logs in by the same rule.

mod common;

use std::time::{Duration, Instant};

use common::server::Served;
use common::slapd::{self, Slapd};
use common::*;
use serde_json::Value;

async fn login(c: &reqwest::Client, url: &str, user: &str, pw: &str) -> (u16, Value) {
    let res = c
        .post(format!("{url}/api/v1/auth/login/token"))
        .form(&[("loginname", user), ("password", pw)])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn directory_users_log_in_refresh_and_survive_an_outage() {
    let mut s = Slapd::start();
    let app = TempAppliance::new();
    slapd::configure(&app, &s);
    let server = Served::start(&app.root, &[]);
    let (c, url) = (server.client(), server.url.clone());

    let (status, body) = login(&c, &url, slapd::ALICE.0, slapd::ALICE.1).await;
    assert_eq!(status, 200, "{body}");
    let alice = body["token"].as_str().unwrap().to_owned();
    let claims = tacctl_claims(&alice);
    assert_eq!(
        (claims["sub"].as_str(), claims["role"].as_str()),
        (Some("alice"), Some("viewer"))
    );

    let (status, body) = login(&c, &url, slapd::ADA.0, slapd::ADA.1).await;
    assert_eq!(status, 200, "{body}");
    let ada = body["token"].as_str().unwrap().to_owned();
    assert_eq!(tacctl_claims(&ada)["role"], "admin");
    let res = c
        .get(format!("{url}/api/v1/jwt"))
        .bearer_auth(&ada)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "a directory admin reads the JWT settings"
    );
    let res = c
        .get(format!("{url}/api/v1/jwt"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    let (status, body) = login(&c, &url, slapd::BOB.0, slapd::BOB.1).await;
    assert_eq!(status, 403, "outside the access group: {body}");
    assert!(body.get("token").is_none());
    let (status, _) = login(&c, &url, slapd::ALICE.0, "Not-alices-password").await;
    assert_eq!(status, 401);
    let (status, _) = login(&c, &url, "alice)(uid=*", slapd::ALICE.1).await;
    assert_eq!(status, 401, "a filter injection finds nobody");

    let res = c
        .post(format!("{url}/api/v1/auth/login/token/refresh"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "a directory user's token refreshes");

    // The directory goes away.
    s.stop();
    let started = Instant::now();
    let (status, body) = login(&c, &url, slapd::ALICE.0, slapd::ALICE.1).await;
    let took = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("local users can still log in"),
        "{body}"
    );
    assert!(
        took < Duration::from_secs(3),
        "took {took:?} with a 2 s timeout"
    );
    let (status, body) = login(&c, &url, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, 200, "local users still log in: {body}");
    let res = c
        .post(format!("{url}/api/v1/auth/login/token/refresh"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        503,
        "a directory user's refresh needs the directory"
    );
    // Tokens already issued keep working: verifying needs no directory.
    let res = c
        .get(format!("{url}/api/v1/appliance"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let log = server.log();
    for (what, secret) in [
        ("alice's password", slapd::ALICE.1),
        ("ada's password", slapd::ADA.1),
        ("bob's password", slapd::BOB.1),
        ("the bind password", slapd::SERVICE_PASSWORD),
        ("a wrong password", "Not-alices-password"),
        ("the admin password", ADMIN_PASSWORD),
    ] {
        assert_no_secret("the server log", log.as_bytes(), what, secret.as_bytes());
    }
    for token in [&alice, &ada] {
        assert!(!log.contains(token.rsplit('.').next().unwrap()));
    }
}

#[test]
fn token_issue_logs_directory_users_in_as_the_api_does() {
    let mut s = Slapd::start();
    let app = TempAppliance::new();
    slapd::configure(&app, &s);
    let issue = |(user, password): (&str, &str), code| {
        assert_exit(
            app.bare()
                .args(["token", "issue", "--user", user])
                .env("TACCTL_PASSWORD", password),
            code,
        )
    };

    // Directory users with API access get a token with their directory role.
    let alice = app.token(slapd::ALICE.0, slapd::ALICE.1);
    assert_eq!(
        (
            tacctl_claims(&alice)["sub"].as_str(),
            tacctl_claims(&alice)["role"].as_str()
        ),
        (Some("alice"), Some("viewer"))
    );
    assert_eq!(app.verify(&alice)["sub"], "alice");
    let ada = app.token(slapd::ADA.0, slapd::ADA.1);
    assert_eq!(tacctl_claims(&ada)["role"], "admin");

    // Outside the access group, or a wrong password: refused, exit 3.
    let stderr = issue(slapd::BOB, 3).stderr;
    assert!(stderr.contains("has no API access"), "{stderr}");
    issue((slapd::ALICE.0, "Not-alices-password"), 3);
    issue(("nobody", "Nobody-pw-0000"), 3);

    // Local users come first and need no directory.
    s.stop();
    let admin = app.token(ADMIN, ADMIN_PASSWORD);
    assert_eq!(tacctl_claims(&admin)["sub"], ADMIN);
    let stderr = issue(slapd::ALICE, 1).stderr;
    assert!(stderr.contains("cannot be reached"), "{stderr}");
    for (what, secret) in [
        ("alice's password", slapd::ALICE.1),
        ("the bind password", slapd::SERVICE_PASSWORD),
    ] {
        assert_no_secret("stderr", stderr.as_bytes(), what, secret.as_bytes());
    }
}

fn tacctl_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}
