//! Unit tests of issue, verify and refresh with a controlled clock.

use super::*;

const NOW: u64 = 1_800_000_000;

fn policy(alg: Algorithm) -> Policy {
    Policy {
        algorithm: alg,
        issuer: "cluster-a".into(),
        lifetime: 1_800,
        max_session: 43_200,
        leeway: LEEWAY_SECONDS,
    }
}

fn keys(len: usize) -> KeySet {
    KeySet::new(JwtKey::from_secret((0..len as u8).collect()).unwrap())
}

fn grant(now: u64) -> Grant<'static> {
    Grant {
        subject: "alice",
        role: "operator",
        sid: "sid-1".into(),
        jti: "jti-1".into(),
        now,
    }
}

fn b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

#[test]
fn issued_token_has_the_documented_header_and_claims() {
    for alg in Algorithm::ALL {
        let ks = keys(64);
        let p = policy(alg);
        let (token, claims) = issue(&grant(NOW), &ks, &p).unwrap();
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], alg.as_str());
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], ks.active().kid());
        assert_eq!(claims.exp, NOW + 1_800);
        assert_eq!(claims.iss, "cluster-a");
        assert_eq!(claims.auth_time, NOW);
        assert_eq!(verify(&token, &ks, &p, NOW).unwrap(), claims);
    }
}

#[test]
fn a_key_shorter_than_the_hash_cannot_sign() {
    let err = issue(&grant(NOW), &keys(32), &policy(Algorithm::HS512)).unwrap_err();
    assert!(
        err.to_string().contains("set a longer secret first"),
        "{err}"
    );
}

#[test]
fn expiry_is_checked_against_the_given_time_with_leeway() {
    let (ks, p) = (keys(32), policy(Algorithm::HS256));
    let (token, _) = issue(&grant(NOW), &ks, &p).unwrap();
    assert!(verify(&token, &ks, &p, NOW + 1_800 + LEEWAY_SECONDS).is_ok());
    assert_eq!(
        verify(&token, &ks, &p, NOW + 1_800 + LEEWAY_SECONDS + 1),
        Err(VerifyError::Expired {
            exp: NOW + 1_800,
            ago: LEEWAY_SECONDS + 1
        })
    );
}

#[test]
fn not_before_is_checked_with_leeway() {
    let (ks, p) = (keys(32), policy(Algorithm::HS256));
    let (token, _) = issue(&grant(NOW), &ks, &p).unwrap();
    assert!(verify(&token, &ks, &p, NOW - LEEWAY_SECONDS).is_ok());
    assert!(matches!(
        verify(&token, &ks, &p, NOW - LEEWAY_SECONDS - 1),
        Err(VerifyError::NotYetValid { .. })
    ));
}

#[test]
fn the_algorithm_is_pinned() {
    let ks = keys(64);
    let (token, _) = issue(&grant(NOW), &ks, &policy(Algorithm::HS512)).unwrap();
    assert!(matches!(
        verify(&token, &ks, &policy(Algorithm::HS256), NOW),
        Err(VerifyError::WrongAlgorithm { .. })
    ));
}

#[test]
fn alg_none_and_asymmetric_algorithms_are_rejected_before_any_key_is_used() {
    let ks = keys(32);
    let p = policy(Algorithm::HS256);
    let (token, _) = issue(&grant(NOW), &ks, &p).unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let none = format!("{}.{payload}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
    assert_eq!(verify(&none, &ks, &p, NOW), Err(VerifyError::AlgNone));
    for alg in ["RS256", "ES256", "PS256", "EdDSA"] {
        let forged = format!("{}.{payload}.AAAA", b64(&format!(r#"{{"alg":"{alg}"}}"#)));
        assert!(
            matches!(verify(&forged, &ks, &p, NOW), Err(VerifyError::NotHmac(..))),
            "{alg}"
        );
    }
}

#[test]
fn unknown_kid_is_rejected() {
    let p = policy(Algorithm::HS256);
    let (token, _) = issue(&grant(NOW), &keys(32), &p).unwrap();
    let other = KeySet::new(JwtKey::from_secret(vec![9; 32]).unwrap());
    assert!(matches!(
        verify(&token, &other, &p, NOW),
        Err(VerifyError::UnknownKey { .. })
    ));
}

#[test]
fn a_tampered_payload_fails_the_signature_check() {
    let (ks, p) = (keys(32), policy(Algorithm::HS256));
    let (token, claims) = issue(&grant(NOW), &ks, &p).unwrap();
    let mut evil = claims.clone();
    evil.role = "admin".into();
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&evil).unwrap()),
        parts[2]
    );
    assert_eq!(
        verify(&forged, &ks, &p, NOW),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn a_foreign_cluster_is_rejected() {
    let ks = keys(32);
    let (token, _) = issue(&grant(NOW), &ks, &policy(Algorithm::HS256)).unwrap();
    let mut other = policy(Algorithm::HS256);
    other.issuer = "cluster-b".into();
    assert!(matches!(
        verify(&token, &ks, &other, NOW),
        Err(VerifyError::WrongIssuer { .. })
    ));
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    let (ks, p) = (keys(32), policy(Algorithm::HS256));
    for t in [
        "",
        "a",
        "a.b",
        "a.b.c.d",
        "!!!.b.c",
        "e30.e30.",
        "eyJhbGciOjF9.e30.x",
    ] {
        assert!(
            matches!(verify(t, &ks, &p, NOW), Err(VerifyError::Malformed(_))),
            "{t:?}"
        );
    }
}

#[test]
fn missing_required_claims_are_named() {
    let ks = keys(32);
    let header = jsonwebtoken::Header {
        kid: Some(ks.active().kid().into()),
        ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
    };
    let token = jsonwebtoken::encode(
        &header,
        &serde_json::json!({"sub":"a","iss":"cluster-a","exp": NOW + 10}),
        ks.active().encoding(),
    )
    .unwrap();
    let err = verify(&token, &ks, &policy(Algorithm::HS256), NOW).unwrap_err();
    assert!(
        matches!(&err, VerifyError::Claims(m) if m.contains("missing field")),
        "{err}"
    );
}

#[test]
fn refresh_keeps_the_session_and_renews_the_token() {
    let p = policy(Algorithm::HS256);
    let (_, old) = issue(&grant(NOW), &keys(32), &p).unwrap();
    let new = refresh_claims(
        &old,
        Subject::Active { role: "admin" },
        &p,
        "jti-2".into(),
        NOW + 600,
    )
    .unwrap();
    assert_eq!(new.sid, old.sid);
    assert_eq!(new.auth_time, old.auth_time);
    assert_eq!(new.jti, "jti-2");
    assert_eq!(new.exp, NOW + 600 + 1_800);
    assert_eq!(new.role, "admin");
}

#[test]
fn refresh_never_passes_the_max_session() {
    let p = policy(Algorithm::HS256);
    let (_, old) = issue(&grant(NOW), &keys(32), &p).unwrap();
    let near_end = NOW + 43_200 - 60;
    let new = refresh_claims(
        &old,
        Subject::Active { role: "operator" },
        &p,
        "j".into(),
        near_end,
    )
    .unwrap();
    assert_eq!(new.exp, NOW + 43_200);
    assert!(matches!(
        refresh_claims(
            &old,
            Subject::Active { role: "operator" },
            &p,
            "j".into(),
            NOW + 43_200
        ),
        Err(RefreshError::SessionTooOld { .. })
    ));
}

#[test]
fn refresh_is_refused_for_removed_users_and_lost_access() {
    let p = policy(Algorithm::HS256);
    let (_, old) = issue(&grant(NOW), &keys(32), &p).unwrap();
    assert_eq!(
        refresh_claims(&old, Subject::Gone, &p, "j".into(), NOW),
        Err(RefreshError::UserGone("alice".into()))
    );
    assert_eq!(
        refresh_claims(&old, Subject::NoApiAccess, &p, "j".into(), NOW),
        Err(RefreshError::NoApiAccess("alice".into()))
    );
}

#[test]
fn rotated_key_still_verifies_old_tokens_until_its_deadline() {
    let p = policy(Algorithm::HS256);
    let old_key = JwtKey::from_secret(vec![1; 32]).unwrap();
    let (old_token, _) = issue(&grant(NOW), &KeySet::new(old_key.clone()), &p).unwrap();
    let rotated = KeySet::with_previous(
        JwtKey::from_secret(vec![2; 32]).unwrap(),
        vec![RetiredKey {
            key: old_key,
            accept_until: NOW + 1_800,
            algorithm: None,
        }],
    );
    assert!(verify(&old_token, &rotated, &p, NOW + 100).is_ok());
    let (new_token, _) = issue(&grant(NOW + 100), &rotated, &p).unwrap();
    assert!(verify(&new_token, &rotated, &p, NOW + 100).is_ok());
    assert!(matches!(
        verify(&old_token, &rotated, &p, NOW + 1_801),
        Err(VerifyError::KeyRetired { .. })
    ));
}

#[test]
fn every_check_has_its_code_as_serde_writes_it() {
    for check in Check::ALL {
        assert_eq!(
            serde_json::to_value(check).unwrap(),
            serde_json::json!(check.code())
        );
    }
}
