//! Logins through an external directory, against a real OpenLDAP slapd
//! started per test from `fixtures/ldap/` (see `common/slapd.rs`): roles and
//! API access from groups, refused credentials, filter injection, the
//! service account, TLS, a directory that dies or hangs mid-test, and
//! `tacctl ldap test` through the binary.

mod common;

use std::time::{Duration, Instant};

use common::slapd::{self, Slapd};
use secrecy::SecretString;
use tacctl::auth::ldap::{Directory, LdapError, StepKind};
use tacctl::component::{LdapCommon, Role};

/// What a test may wait beyond the configured timeout before calling it a hang.
const MARGIN: Duration = Duration::from_millis(1500);

fn settings(url: &str) -> LdapCommon {
    LdapCommon {
        enabled: true,
        url: url.to_owned(),
        base_dn: slapd::SUFFIX.to_owned(),
        user_filter: "(uid={username})".to_owned(),
        bind_dn: None,
        api_access_group: Some(slapd::API_GROUP.to_owned()),
        admin_group: Some(slapd::ADMIN_GROUP.to_owned()),
        starttls: false,
        ca_pem: None,
        timeout_seconds: 2,
    }
}

fn anonymous(s: &Slapd) -> Directory {
    Directory::new(settings(&s.url()), None).unwrap()
}

fn with_service_account(common: LdapCommon, password: &str) -> Directory {
    let common = LdapCommon {
        bind_dn: Some(slapd::SERVICE_DN.to_owned()),
        ..common
    };
    Directory::new(common, Some(SecretString::from(password.to_owned()))).unwrap()
}

async fn login(d: &Directory, (name, password): (&str, &str)) -> Result<Role, LdapError> {
    d.authenticate(name, &SecretString::from(password.to_owned()))
        .await
        .map(|id| {
            assert_eq!(id.name, name);
            assert!(id.api_access, "an authenticated identity has API access");
            id.role
        })
}

#[track_caller]
fn assert_bad_credentials(r: Result<Role, LdapError>) {
    match r {
        Err(e @ LdapError::BadCredentials) => {
            assert_eq!(
                e.to_string(),
                "authentication failed: wrong user name or password"
            )
        }
        other => panic!("expected bad credentials, got {other:?}"),
    }
}

#[tokio::test]
async fn members_of_the_api_access_group_log_in_as_viewers() {
    let s = Slapd::start();
    let d = anonymous(&s);
    assert_eq!(login(&d, slapd::ALICE).await.unwrap(), Role::Viewer);
    // A {SSHA} userPassword works like a plain one.
    assert_eq!(login(&d, slapd::DAVE).await.unwrap(), Role::Viewer);
}

#[tokio::test]
async fn members_of_the_admin_group_are_admins_with_api_access() {
    let s = Slapd::start();
    // ada is in the admin group (uniqueMember) and not in the API access group.
    assert_eq!(
        login(&anonymous(&s), slapd::ADA).await.unwrap(),
        Role::Admin
    );
}

#[tokio::test]
async fn a_user_outside_the_api_access_group_gets_no_api_access() {
    let s = Slapd::start();
    let d = anonymous(&s);
    match login(&d, slapd::BOB).await {
        Err(e @ LdapError::NoApiAccess { .. }) => {
            let m = e.to_string();
            assert!(m.contains("bob") && m.contains(slapd::API_GROUP), "{m}");
        }
        other => panic!("expected no API access, got {other:?}"),
    }
    // A wrong password still says nothing about groups.
    assert_bad_credentials(login(&d, ("bob", "wrong-password")).await);
    // lookup (token refresh) reports the identity without API access.
    let id = d.lookup("bob").await.unwrap().unwrap();
    assert!(!id.api_access && id.role == Role::Viewer);
}

#[tokio::test]
async fn without_an_api_access_group_no_directory_user_has_api_access() {
    let s = Slapd::start();
    let d = Directory::new(
        LdapCommon {
            api_access_group: None,
            admin_group: None,
            ..settings(&s.url())
        },
        None,
    )
    .unwrap();
    match login(&d, slapd::ALICE).await {
        Err(e @ LdapError::NoApiAccess { .. }) => {
            assert!(e.to_string().contains("--api-access-group"), "{e}")
        }
        other => panic!("expected no API access, got {other:?}"),
    }
}

#[tokio::test]
async fn posix_groups_count_members_by_member_uid() {
    let s = Slapd::start();
    let d = Directory::new(
        LdapCommon {
            api_access_group: Some(slapd::POSIX_GROUP.to_owned()),
            ..settings(&s.url())
        },
        None,
    )
    .unwrap();
    assert_eq!(login(&d, slapd::ERIN).await.unwrap(), Role::Viewer);
    assert!(matches!(
        login(&d, slapd::ALICE).await,
        Err(LdapError::NoApiAccess { .. })
    ));
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_fail_alike() {
    let s = Slapd::start();
    let d = anonymous(&s);
    assert_bad_credentials(login(&d, ("alice", "Alice-pw-12345")).await);
    assert_bad_credentials(login(&d, ("nobody", "Alice-pw-1234")).await);
    assert_bad_credentials(login(&d, ("ALICE ", "wrong")).await);
    assert!(d.lookup("nobody").await.unwrap().is_none());
    assert_eq!(d.lookup("alice").await.unwrap().unwrap().role, Role::Viewer);
}

#[tokio::test]
async fn an_unknown_user_costs_the_bind_a_wrong_password_does() {
    let s = Slapd::start();
    let d = anonymous(&s);
    // Each login below is answered only after its last bind's result, and
    // slapd logs a bind when it reads the request, before answering.
    let before = s.binds();
    assert_bad_credentials(login(&d, ("alice", "Alice-pw-12345")).await);
    let wrong_password = s.binds() - before;
    let before = s.binds();
    assert_bad_credentials(login(&d, ("nobody", "Alice-pw-1234")).await);
    let unknown = s.binds() - before;
    assert_eq!(wrong_password, 1, "{}", s.log());
    assert_eq!(unknown, wrong_password, "{}", s.log());
    // The stand-in bind names no real entry and never carries the password
    // that was typed (slapd logs DNs, not passwords: the DN is what shows).
    assert!(
        s.log().contains(&format!(
            "BIND dn=\"{},{}\"",
            tacctl::auth::ldap::NO_SUCH_USER_RDN,
            slapd::SUFFIX
        )),
        "{}",
        s.log()
    );
    // A lookup without a password (a token refresh) binds as nobody.
    let before = s.binds();
    assert!(d.lookup("nobody").await.unwrap().is_none());
    assert_eq!(s.binds(), before);
}

#[tokio::test]
async fn an_empty_password_is_refused_though_this_directory_would_accept_the_bind() {
    let s = Slapd::start();
    // The directory itself takes a DN with an empty password as an
    // (unauthenticated) success...
    let out = std::process::Command::new("ldapwhoami")
        .args([
            "-x",
            "-H",
            &s.url(),
            "-D",
            "uid=alice,ou=people,dc=example,dc=org",
            "-w",
            "",
        ])
        .output()
        .expect("ldapwhoami (ldap-utils) is installed; run scripts/test");
    assert!(
        out.status.success(),
        "unauthenticated binds should succeed here: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ...tacctl refuses it before binding.
    assert_bad_credentials(login(&anonymous(&s), ("alice", "")).await);
}

#[tokio::test]
async fn filter_injection_cannot_log_in() {
    let s = Slapd::start();
    let d = anonymous(&s);
    let (_, alice_pw) = slapd::ALICE;
    // Unescaped, each of these names would find alice's entry (the only one
    // whose password is given), and the login would succeed.
    for name in [
        "al*",
        "*",
        "alice)(uid=*",
        "*)(|(uid=alice",
        "alice)(|(objectClass=*",
        "al\\2a",
        "alice\0",
    ] {
        assert_bad_credentials(login(&d, (name, alice_pw)).await);
    }
    // And the escaped filter still finds names that hold special characters literally.
    assert!(d.lookup("alice").await.unwrap().is_some());
}

#[tokio::test]
async fn a_filter_matching_several_entries_is_a_configuration_error() {
    let s = Slapd::start();
    let d = Directory::new(
        LdapCommon {
            user_filter: "(sn={username})".to_owned(),
            ..settings(&s.url())
        },
        None,
    )
    .unwrap();
    match login(&d, ("Twin", "Twin-pw-1111")).await {
        Err(LdapError::Config(m)) => assert!(m.contains("more than one entry"), "{m}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_service_account_finds_users_anonymous_searches_cannot() {
    let s = Slapd::start();
    // carol lives where only the service account may search.
    assert_bad_credentials(login(&anonymous(&s), slapd::CAROL).await);
    let d = with_service_account(settings(&s.url()), slapd::SERVICE_PASSWORD);
    assert_eq!(login(&d, slapd::CAROL).await.unwrap(), Role::Viewer);
    assert_eq!(login(&d, slapd::ADA).await.unwrap(), Role::Admin);
    // A wrong service password is the administrator's problem, not the user's.
    let wrong = with_service_account(settings(&s.url()), "not-the-bind-password");
    match login(&wrong, slapd::ALICE).await {
        Err(e @ LdapError::Config(_)) => {
            let m = e.to_string();
            assert!(
                m.contains(slapd::SERVICE_DN) && m.contains("--bind-dn"),
                "{m}"
            );
            assert!(!m.contains("not-the-bind-password"), "{m}");
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_base_dn_or_group_is_a_configuration_error() {
    let s = Slapd::start();
    let base = Directory::new(
        LdapCommon {
            base_dn: "ou=nowhere,dc=example,dc=org".to_owned(),
            ..settings(&s.url())
        },
        None,
    )
    .unwrap();
    match login(&base, slapd::ALICE).await {
        Err(LdapError::Config(m)) => assert!(m.contains("--base-dn"), "{m}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
    let group = Directory::new(
        LdapCommon {
            admin_group: Some("cn=nope,ou=groups,dc=example,dc=org".to_owned()),
            ..settings(&s.url())
        },
        None,
    )
    .unwrap();
    match login(&group, slapd::ALICE).await {
        Err(LdapError::Config(m)) => assert!(m.contains("--admin-group"), "{m}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_directory_stopped_mid_test_is_unreachable_within_the_timeout() {
    let mut s = Slapd::start();
    let d = anonymous(&s);
    login(&d, slapd::ALICE).await.unwrap();
    s.stop();
    let start = Instant::now();
    let err = login(&d, slapd::ALICE).await.unwrap_err();
    let elapsed = start.elapsed();
    assert!(matches!(err, LdapError::Unreachable { .. }), "{err:?}");
    assert!(err.is_unavailable());
    assert!(err.to_string().contains(&s.url()), "{err}");
    assert!(elapsed < Duration::from_secs(2) + MARGIN, "{elapsed:?}");
}

#[tokio::test]
async fn a_hung_directory_times_out_within_the_timeout() {
    let s = Slapd::start();
    let d = with_service_account(settings(&s.url()), slapd::SERVICE_PASSWORD);
    login(&d, slapd::ALICE).await.unwrap();
    s.pause();
    let start = Instant::now();
    let result = login(&d, slapd::ALICE).await;
    let elapsed = start.elapsed();
    s.resume();
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            LdapError::Timeout {
                operation: "bind",
                seconds: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.is_unavailable() && err.to_string().contains(&s.url()),
        "{err}"
    );
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2) + MARGIN, "{elapsed:?}");
    // Thawed, it answers again.
    login(&d, slapd::ALICE).await.unwrap();
}

#[tokio::test]
async fn a_closed_port_is_unreachable_at_once() {
    let url = format!("ldap://127.0.0.1:{}", slapd::free_port());
    let d = Directory::new(settings(&url), None).unwrap();
    let start = Instant::now();
    let err = login(&d, slapd::ALICE).await.unwrap_err();
    assert!(matches!(err, LdapError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_server_that_never_answers_starttls_is_given_up_within_the_timeout() {
    // Accepts connections and says nothing: no slapd needed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ldap://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in listener.incoming().take(2) {
            conns.push(c);
        }
        std::thread::sleep(Duration::from_secs(6));
    });
    for starttls in [true, false] {
        let d = Directory::new(
            LdapCommon {
                starttls,
                ..settings(&url)
            },
            None,
        )
        .unwrap();
        let start = Instant::now();
        let err = login(&d, slapd::ALICE).await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(2) + MARGIN);
    }
    drop(held);
}

#[tokio::test]
async fn starttls_and_ldaps_log_in_when_the_ca_is_trusted() {
    let s = Slapd::start_with_tls();
    let tls = s.tls.as_ref().unwrap();
    let starttls = Directory::new(
        LdapCommon {
            starttls: true,
            ca_pem: Some(tls.ca_pem.clone()),
            ..settings(&s.url())
        },
        None,
    )
    .unwrap();
    assert_eq!(login(&starttls, slapd::ALICE).await.unwrap(), Role::Viewer);
    let ldaps = Directory::new(
        LdapCommon {
            ca_pem: Some(tls.ca_pem.clone()),
            ..settings(&tls.ldaps_url)
        },
        None,
    )
    .unwrap();
    assert_eq!(login(&ldaps, slapd::ADA).await.unwrap(), Role::Admin);
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_failure() {
    let s = Slapd::start_with_tls();
    let tls = s.tls.as_ref().unwrap();
    for (url, starttls, ca_pem) in [
        (s.url(), true, Some(slapd::unrelated_ca_pem())),
        (
            tls.ldaps_url.clone(),
            false,
            Some(slapd::unrelated_ca_pem()),
        ),
        // The system's roots do not include the test CA either.
        (tls.ldaps_url.clone(), false, None),
    ] {
        let d = Directory::new(
            LdapCommon {
                starttls,
                ca_pem,
                ..settings(&url)
            },
            None,
        )
        .unwrap();
        match login(&d, slapd::ALICE).await {
            Err(e @ LdapError::Tls { .. }) => {
                assert!(e.to_string().contains("--ca-file"), "{e}")
            }
            other => panic!("{url} (StartTLS {starttls}): expected a TLS failure, got {other:?}"),
        }
    }
    // TLS spoken to the plain port fails as TLS too, not as a hang.
    let d = Directory::new(
        LdapCommon {
            ca_pem: Some(tls.ca_pem.clone()),
            ..settings(&s.url().replace("ldap://", "ldaps://"))
        },
        None,
    )
    .unwrap();
    let err = login(&d, slapd::ALICE).await.unwrap_err();
    assert!(matches!(err, LdapError::Tls { .. }), "{err:?}");
}

#[tokio::test]
async fn test_reports_every_step_and_stops_at_the_first_failure() {
    let s = Slapd::start();
    let d = with_service_account(settings(&s.url()), slapd::SERVICE_PASSWORD);
    let run = |name: &'static str, pw: &'static str| {
        let d = &d;
        async move {
            let mut steps = Vec::new();
            let r = d
                .test(name, &SecretString::from(pw), |s| {
                    steps.push((s.kind, s.passed, s.detail))
                })
                .await;
            (r, steps)
        }
    };
    let (r, steps) = run("alice", "Alice-pw-1234").await;
    assert_eq!(r.unwrap().role, Role::Viewer);
    let kinds: Vec<_> = steps.iter().map(|s| (s.0, s.1)).collect();
    assert_eq!(
        kinds,
        [
            (StepKind::Connect, true),
            (StepKind::Bind, true),
            (StepKind::Search, true),
            (StepKind::UserBind, true),
            (StepKind::Groups, true)
        ]
    );
    assert!(steps[2].2.contains("uid=alice,ou=people"), "{steps:?}");
    let (r, steps) = run("alice", "wrong").await;
    assert!(matches!(r, Err(LdapError::BadCredentials)));
    assert_eq!(steps.last().unwrap().0, StepKind::UserBind);
    assert!(!steps.last().unwrap().1);
    let (_, steps) = run("nobody", "x").await;
    assert_eq!(
        (steps.last().unwrap().0, steps.len()),
        (StepKind::Search, 3)
    );
    for (_, _, detail) in &steps {
        assert!(!detail.contains(slapd::SERVICE_PASSWORD));
    }
}

#[test]
fn ldap_test_through_the_binary_prints_each_step_and_exits_by_the_outcome() {
    let mut s = Slapd::start();
    let app = common::TempAppliance::new();
    slapd::configure(&app, &s);
    let run = |user: &str, pw: &str| {
        let out = common::run(
            app.bare()
                .args(["ldap", "test", user])
                .env("TACCTL_PASSWORD", pw),
        );
        let text = format!("{}{}", out.stdout, out.stderr);
        for secret in [pw, slapd::SERVICE_PASSWORD] {
            assert!(
                !text.contains(secret),
                "the output shows a password:\n{text}"
            );
        }
        (out.code, text)
    };

    let (code, text) = run("carol", slapd::CAROL.1);
    assert_eq!(code, 0, "{text}");
    for step in ["connect", "bind", "search", "user bind", "groups"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(step) && l.contains(" ok ")),
            "no passed {step} step:\n{text}"
        );
    }
    assert!(text.contains("carol may use the API as viewer"), "{text}");
    let (code, text) = run("ada", slapd::ADA.1);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("as admin"), "{text}");

    let (code, text) = run("alice", "wrong-password");
    assert_eq!(code, 3, "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("user bind") && l.contains("FAIL")),
        "{text}"
    );
    let (code, text) = run("bob", slapd::BOB.1);
    assert_eq!(code, 3, "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("groups") && l.contains("FAIL")),
        "{text}"
    );

    s.stop();
    let start = Instant::now();
    let (code, text) = run("alice", slapd::ALICE.1);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("connect") && l.contains("FAIL")),
        "{text}"
    );
    assert!(text.contains("cannot be reached"), "{text}");
    assert!(start.elapsed() < Duration::from_secs(2) + MARGIN + Duration::from_secs(1));
}

#[test]
fn ldap_set_takes_the_bind_password_from_the_environment() {
    let s = Slapd::start();
    let app = common::TempAppliance::new();
    app.cmd()
        .args(["ldap", "set", "--url", &s.url(), "--base-dn", slapd::SUFFIX])
        .args(["--bind-dn", slapd::SERVICE_DN])
        .env("TACCTL_LDAP_BIND_PASSWORD", slapd::SERVICE_PASSWORD)
        .assert()
        .success()
        .stdout(predicates::str::contains("--api-access-group"));
    // Without an API access group the user is refused (exit 3), after a
    // successful service bind with the password from the environment.
    let stdout = common::assert_exit(
        app.bare()
            .args(["ldap", "test", "carol"])
            .env("TACCTL_PASSWORD", slapd::CAROL.1),
        3,
    )
    .stdout;
    assert!(stdout.contains("found uid=carol,ou=restricted"), "{stdout}");
    // Disabled, there is nothing to test.
    app.cmd().args(["ldap", "disable"]).assert().success();
    app.bare()
        .args(["ldap", "test", "carol"])
        .env("TACCTL_PASSWORD", slapd::CAROL.1)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("ldap set"));
}
