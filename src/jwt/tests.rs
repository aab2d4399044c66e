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
    for alg in Algorithm::HMAC {
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
fn alg_none_unknown_and_other_algorithms_are_rejected_before_any_key_is_used() {
    let ks = keys(32);
    let p = policy(Algorithm::HS256);
    let (token, _) = issue(&grant(NOW), &ks, &p).unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let none = format!("{}.{payload}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
    assert_eq!(verify(&none, &ks, &p, NOW), Err(VerifyError::AlgNone));
    for alg in ["ES512", "ES256K", "RS1", "Ed448", "A128KW"] {
        let forged = format!("{}.{payload}.AAAA", b64(&format!(r#"{{"alg":"{alg}"}}"#)));
        assert!(
            matches!(
                verify(&forged, &ks, &p, NOW),
                Err(VerifyError::UnsupportedAlgorithm(..))
            ),
            "{alg}"
        );
    }
    // A key-pair algorithm this node is not configured for: another
    // algorithm than its own.
    for alg in ["RS256", "ES256", "PS256", "EdDSA"] {
        let forged = format!("{}.{payload}.AAAA", b64(&format!(r#"{{"alg":"{alg}"}}"#)));
        assert!(
            matches!(
                verify(&forged, &ks, &p, NOW),
                Err(VerifyError::WrongAlgorithm { .. })
            ),
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

/// A token with `claims` as its payload's bytes, whatever they are, signed
/// with the key set's active key under HS256.
fn signed_raw(ks: &KeySet, claims: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let header = format!(
        r#"{{"typ":"JWT","alg":"HS256","kid":"{}"}}"#,
        ks.active().kid()
    );
    let input = format!("{}.{}", b64(&header), URL_SAFE_NO_PAD.encode(claims));
    let mut mac =
        <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(ks.active().expose_secret()).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

#[test]
fn claims_that_are_not_valid_json_are_refused_by_both_verifiers() {
    let (ks, p) = (keys(32), policy(Algorithm::HS256));
    let (_, claims) = issue(&grant(NOW), &ks, &p).unwrap();
    let own = serde_json::to_string(&claims).unwrap();
    let with = |extra: &str| format!("{},{extra}}}", &own[..own.len() - 1]).into_bytes();
    // The claims as issued, and with a well-formed unknown claim: both accept.
    for ok in [own.clone().into_bytes(), with(r#""x":{"y":[1,"\u00e9"]}"#)] {
        let token = signed_raw(&ks, &ok);
        assert_eq!(verify(&token, &ks, &p, NOW).as_ref(), Ok(&claims));
        assert!(verify_registered(&token, &ks, &p, NOW).is_ok());
    }
    let mut invalid_utf8 = with(r#""ish":"fixture-""#);
    invalid_utf8.splice(invalid_utf8.len() - 2..invalid_utf8.len() - 2, [0xff, 0xfe]);
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let bad: Vec<(&str, Vec<u8>)> = vec![
        // The fuzzer's find (fuzz/regressions/token/crash-521f11f8...):
        // invalid UTF-8 inside an unknown claim's string.
        ("invalid UTF-8", invalid_utf8),
        ("a lone surrogate", with(r#""x":"\ud800""#)),
        ("a number out of range", with(r#""x":1e400"#)),
        ("nesting deeper than 128", with(&format!(r#""x":{deep}"#))),
        ("a repeated claim", with(&format!(r#""exp":{}"#, NOW + 5))),
        (
            "an array rather than an object",
            serde_json::to_vec(&serde_json::json!([
                claims.sub,
                claims.role,
                claims.iss,
                claims.iat,
                claims.nbf,
                claims.exp,
                claims.jti,
                claims.sid,
                claims.auth_time
            ]))
            .unwrap(),
        ),
    ];
    for (what, payload) in bad {
        let token = signed_raw(&ks, &payload);
        assert!(
            matches!(verify(&token, &ks, &p, NOW), Err(VerifyError::Claims(_))),
            "verify accepted {what}: {:?}",
            verify(&token, &ks, &p, NOW)
        );
        if what != "a repeated claim" {
            // A JSON map keeps the last of repeated names; all else it refuses.
            assert!(
                verify_registered(&token, &ks, &p, NOW).is_err(),
                "verify_registered accepted {what}"
            );
        }
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
        ks.active().encoding().unwrap(),
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

// ---- key pairs -------------------------------------------------------------

/// A key pair for `alg`, RSA at 2048 bits to keep the tests quick.
fn pair(alg: Algorithm) -> JwtKey {
    JwtKey::generate(alg, Some(2048)).unwrap()
}

/// The algorithms that sign with a key pair.
fn pair_algorithms() -> Vec<Algorithm> {
    Algorithm::ALL
        .into_iter()
        .filter(|a| !a.is_hmac())
        .collect()
}

#[test]
fn every_key_pair_algorithm_signs_and_verifies_and_an_independent_library_agrees_from_the_jwks() {
    ensure_provider().unwrap();
    let mut rsa = None;
    for alg in pair_algorithms() {
        // One RSA key for the six RSA algorithms: generating is slow.
        let key = match alg.key_type() {
            KeyType::Rsa { .. } => rsa.get_or_insert_with(|| pair(alg)).clone(),
            _ => pair(alg),
        };
        let ks = KeySet::new(key);
        let p = policy(alg);
        let (token, claims) = issue(&grant(NOW), &ks, &p).unwrap();
        assert_eq!(verify(&token, &ks, &p, NOW).unwrap(), claims, "{alg}");
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], alg.as_str());
        assert_eq!(header["kid"], ks.active().kid());
        // Altered claims fail the signature.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = b64(
            &String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap())
                .unwrap()
                .replace("operator", "admin"),
        );
        assert_eq!(
            verify(&parts.join("."), &ks, &p, NOW),
            Err(VerifyError::BadSignature),
            "{alg}"
        );
        // jsonwebtoken, through the JWKS alone, accepts the token.
        let jwks = ks.jwks(alg, NOW);
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
        assert_eq!(jwks["keys"][0]["use"], "sig");
        assert!(jwks["keys"][0].get("d").is_none(), "no private part");
        let mut validation = jsonwebtoken::Validation::new(alg.to_jwt());
        validation.set_issuer(&["cluster-a"]);
        let decoded = jsonwebtoken::decode::<Claims>(
            &token,
            &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
            &validation,
        );
        // jsonwebtoken checks `exp` against the real clock; ours is fixed
        // in the future, so only the signature and claims are compared.
        match decoded {
            Ok(d) => assert_eq!(d.claims, claims, "{alg}"),
            Err(e) => panic!("{alg}: jsonwebtoken refused: {e}"),
        }
    }
}

#[test]
fn the_algorithm_confusion_attack_is_refused() {
    // An HS256 token whose HMAC key is the RSA public key, in PEM and in
    // DER, naming the RSA key: refused for its algorithm before any key is
    // used.
    let key = pair(Algorithm::RS256);
    let ks = KeySet::new(key.clone());
    let p = policy(Algorithm::RS256);
    let jwk = ks.jwks(Algorithm::RS256, NOW)["keys"][0].clone();
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    let public = rsa::PublicKey::new(
        rsa::BoxedUint::from_be_slice_vartime(&n),
        rsa::BoxedUint::from_be_slice_vartime(&e),
    )
    .unwrap();
    use rsa::pkcs8::EncodePublicKey;
    let der = public.to_public_key_der().unwrap().as_bytes().to_vec();
    let pem = public
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap()
        .into_bytes();
    for secret in [der, pem] {
        let hmac = KeySet::new(JwtKey::from_secret(secret).unwrap());
        let claims = claims_for_login(&grant(NOW), &p);
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(key.kid().to_owned());
        let forged =
            jsonwebtoken::encode(&header, &claims, hmac.active().encoding().unwrap()).unwrap();
        let err = verify(&forged, &ks, &p, NOW).unwrap_err();
        assert!(
            matches!(&err, VerifyError::WrongAlgorithm { got, expected: Algorithm::RS256 } if got == "HS256"),
            "{err}"
        );
        assert_eq!(err.check(), Check::Algorithm);
    }
}

#[test]
fn a_token_of_another_key_type_or_curve_is_refused() {
    ensure_provider().unwrap();
    let p256 = pair(Algorithm::ES256);
    let p384 = pair(Algorithm::ES384);
    let ks = KeySet::new(p256.clone());
    let p = policy(Algorithm::ES256);
    // Another algorithm naming this node's key: its type does not match.
    let (token, _) = issue(
        &grant(NOW),
        &KeySet::new(p384.clone()),
        &policy(Algorithm::ES384),
    )
    .unwrap();
    let renamed = {
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[0] = b64(&format!(
            r#"{{"typ":"JWT","alg":"ES384","kid":"{}"}}"#,
            p256.kid()
        ));
        parts.join(".")
    };
    assert!(matches!(
        verify(&renamed, &ks, &p, NOW),
        Err(VerifyError::WrongAlgorithm { .. })
    ));
    // An ES256 header over a P-384 signature: the signature fails.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[0] = b64(&format!(
        r#"{{"typ":"JWT","alg":"ES256","kid":"{}"}}"#,
        p256.kid()
    ));
    assert_eq!(
        verify(&parts.join("."), &ks, &p, NOW),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn keys_named_or_carried_by_the_token_are_never_used() {
    let key = pair(Algorithm::EdDSA);
    let ks = KeySet::new(key.clone());
    let p = policy(Algorithm::EdDSA);
    let (token, _) = issue(&grant(NOW), &ks, &p).unwrap();
    let body = token.split_once('.').unwrap().1;
    for (name, value) in [
        ("jku", r#""https://evil.example/jwks""#),
        ("x5u", r#""https://evil.example/cert""#),
        ("x5c", r#"["MIIB"]"#),
        (
            "jwk",
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
        ),
    ] {
        let header = b64(&format!(
            r#"{{"typ":"JWT","alg":"EdDSA","kid":"{}","{name}":{value}}}"#,
            key.kid()
        ));
        let err = verify(&format!("{header}.{body}"), &ks, &p, NOW).unwrap_err();
        assert_eq!(err, VerifyError::KeyInHeader(name), "{name}");
        assert_eq!(err.check(), Check::KeyInHeader);
    }
}

#[test]
fn jwks_serve_public_keys_only_and_a_private_jwk_is_never_accepted() {
    let hmac = keys(64);
    assert_eq!(
        hmac.jwks(Algorithm::HS256, NOW),
        serde_json::json!({"keys": []})
    );
    let key = pair(Algorithm::ES256);
    let old = pair(Algorithm::EdDSA);
    let ks = KeySet::with_previous(
        key.clone(),
        vec![RetiredKey {
            key: old.clone(),
            accept_until: NOW + 10,
            algorithm: Some(Algorithm::EdDSA),
        }],
    );
    let jwks = ks.jwks(Algorithm::ES256, NOW);
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [key.kid(), old.kid()]);
    // Past the retired key's deadline it is no longer served.
    assert_eq!(
        ks.jwks(Algorithm::ES256, NOW + 11)["keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A served JWK reads back as the same key; with a private part, never.
    let served = jwks["keys"][0].as_object().unwrap().clone();
    let back = PublicKey::from_jwk(&served, Algorithm::ES256).unwrap();
    assert_eq!(back.kid(), key.kid());
    let mut private = served.clone();
    private.insert("d".into(), "AAAA".into());
    assert!(PublicKey::from_jwk(&private, Algorithm::ES256).is_err());
    let mut lying = served;
    lying.insert("kid".into(), "not-its-thumbprint".into());
    assert!(PublicKey::from_jwk(&lying, Algorithm::ES256).is_err());
    assert!(PublicKey::from_jwk(jwks["keys"][1].as_object().unwrap(), Algorithm::ES256).is_err());
}

#[test]
fn private_keys_import_from_pkcs8_pkcs1_and_sec1_pem_and_are_checked() {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::pkcs8::EncodePrivateKey as _;
    let rsa_key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
    let pkcs1 = rsa_key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    let pkcs8 = rsa_key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    let a = JwtKey::from_pem(pkcs1.as_bytes(), Algorithm::PS256).unwrap();
    let b = JwtKey::from_pem(pkcs8.as_bytes(), Algorithm::RS256).unwrap();
    assert_eq!(a.kid(), b.kid(), "one key, however encoded");
    assert_eq!(a.key_type(), KeyType::Rsa { bits: 2048 });
    // A P-256 key in SEC1, from ring's PKCS#8.
    let der = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    let ec = {
        use p256::pkcs8::DecodePrivateKey as _;
        p256::SecretKey::from_pkcs8_der(der.as_ref()).unwrap()
    };
    let sec1 = ec.to_sec1_pem(p256::pkcs8::LineEnding::LF).unwrap();
    let k = JwtKey::from_pem(sec1.as_bytes(), Algorithm::ES256).unwrap();
    assert_eq!(k.key_type(), KeyType::P256);
    // The curve must match the algorithm, and the type too.
    assert!(matches!(
        JwtKey::from_pem(sec1.as_bytes(), Algorithm::ES384),
        Err(KeyError::WrongKeyType { .. })
    ));
    assert!(matches!(
        JwtKey::from_pem(pkcs8.as_bytes(), Algorithm::EdDSA),
        Err(KeyError::WrongKeyType { .. })
    ));
    // Below 2048 bits: refused, by size.
    let small = rsa::PrivateKey::new(&mut getrandom::SysRng, 1024).unwrap();
    let pem = small.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    assert_eq!(
        JwtKey::from_pem(pem.as_bytes(), Algorithm::RS256).unwrap_err(),
        KeyError::RsaSize(1024)
    );
    assert!(JwtKey::from_pem(b"not pem", Algorithm::RS256).is_err());
    // Debug never shows the private key.
    let dbg = format!("{a:?}");
    assert!(dbg.contains("[REDACTED]") && !dbg.contains("MII"), "{dbg}");
}
