//! Our tokens are plain RFC 7515 / RFC 7519 tokens: the RFC's own HS256
//! example verifies with our verifier, tokens we issue verify in an
//! independent implementation (the `jwt` crate on hmac 0.12 and sha2 0.10),
//! and tokens that implementation signs with a node's key verify with ours.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac012::{Hmac, Mac};
use jwt::{AlgorithmType, SignWithKey, VerifyWithKey};
use secrecy::SecretString;
use tacctl::jwt::*;

type HmacSha256 = Hmac<sha2_010::Sha256>;
type HmacSha384 = Hmac<sha2_010::Sha384>;
type HmacSha512 = Hmac<sha2_010::Sha512>;

/// RFC 7515 appendix A.1: the example JWS using HMAC SHA-256.
const RFC7515_A1_TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// The `k` of the symmetric JWK in RFC 7515 appendix A.1.1.
const RFC7515_A1_K: &str =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
/// The `exp` in that example's payload.
const RFC7515_A1_EXP: u64 = 1_300_819_380;

const ALGORITHMS: [Algorithm; 3] = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];

fn policy(algorithm: Algorithm, issuer: &str) -> Policy {
    Policy {
        algorithm,
        issuer: issuer.to_owned(),
        lifetime: 1_800,
        max_session: 43_200,
        leeway: LEEWAY_SECONDS,
    }
}

fn rfc_keys(key: Vec<u8>) -> KeySet {
    KeySet::new(JwtKey::from_secret(key).unwrap())
}

#[test]
fn rfc7515_appendix_a1_verifies_until_it_expires() {
    ensure_provider().unwrap();
    let key = URL_SAFE_NO_PAD.decode(RFC7515_A1_K).unwrap();
    assert_eq!(key.len(), 64);
    let p = policy(Algorithm::HS256, "joe");

    let claims = verify_registered(
        RFC7515_A1_TOKEN,
        &rfc_keys(key.clone()),
        &p,
        RFC7515_A1_EXP - 60,
    )
    .unwrap();
    assert_eq!(claims["iss"], "joe");
    assert_eq!(claims["exp"], RFC7515_A1_EXP);
    assert_eq!(claims["http://example.com/is_root"], true);
    assert_eq!(claims.len(), 3);

    // Within the leeway after `exp` it still passes; one second more and it does not.
    let last = RFC7515_A1_EXP + LEEWAY_SECONDS;
    assert!(verify_registered(RFC7515_A1_TOKEN, &rfc_keys(key.clone()), &p, last).is_ok());
    assert_eq!(
        verify_registered(RFC7515_A1_TOKEN, &rfc_keys(key.clone()), &p, last + 1),
        Err(VerifyError::Expired {
            exp: RFC7515_A1_EXP,
            ago: LEEWAY_SECONDS + 1,
        })
    );
    assert!(matches!(
        verify_registered(RFC7515_A1_TOKEN, &rfc_keys(key.clone()), &p, 1_800_000_000),
        Err(VerifyError::Expired { .. })
    ));

    // Any one key byte changed breaks the signature.
    for i in [0, 31, 63] {
        let mut bad = key.clone();
        bad[i] ^= 0x01;
        assert_eq!(
            verify_registered(RFC7515_A1_TOKEN, &rfc_keys(bad), &p, RFC7515_A1_EXP - 60),
            Err(VerifyError::BadSignature),
            "key byte {i}"
        );
    }

    // The issuer and the algorithm are pinned.
    assert!(matches!(
        verify_registered(
            RFC7515_A1_TOKEN,
            &rfc_keys(key.clone()),
            &policy(Algorithm::HS256, "c1"),
            RFC7515_A1_EXP - 60
        ),
        Err(VerifyError::WrongIssuer { .. })
    ));
    assert!(matches!(
        verify_registered(
            RFC7515_A1_TOKEN,
            &rfc_keys(key),
            &policy(Algorithm::HS512, "joe"),
            RFC7515_A1_EXP - 60
        ),
        Err(VerifyError::WrongAlgorithm { .. })
    ));
}

#[test]
fn rfc7515_appendix_a1_verifies_in_the_jwt_crate_too() {
    ensure_provider().unwrap();
    // The reference implementation agrees on the vector, so the two are comparable.
    let key = URL_SAFE_NO_PAD.decode(RFC7515_A1_K).unwrap();
    let mac = HmacSha256::new_from_slice(&key).unwrap();
    let claims: serde_json::Map<String, serde_json::Value> =
        RFC7515_A1_TOKEN.verify_with_key(&mac).unwrap();
    assert_eq!(claims["iss"], "joe");
}

/// A 64-byte secret, enough for every algorithm.
fn secret(seed: u8) -> Vec<u8> {
    (0..64u8)
        .map(|i| i.wrapping_mul(73).wrapping_add(seed) ^ 0x5a)
        .collect()
}

/// Verifies with the `jwt` crate: the header's algorithm and kid, and the claims.
fn jwt_crate_verify(
    token: &str,
    algorithm: Algorithm,
    secret: &[u8],
) -> Result<(AlgorithmType, Option<String>, Claims), jwt::Error> {
    fn with<K: jwt::VerifyingAlgorithm>(
        token: &str,
        key: &K,
    ) -> Result<(AlgorithmType, Option<String>, Claims), jwt::Error> {
        let t: jwt::Token<jwt::Header, Claims, _> = token.verify_with_key(key)?;
        Ok((
            t.header().algorithm,
            t.header().key_id.clone(),
            t.claims().clone(),
        ))
    }
    match algorithm {
        Algorithm::HS256 => with(token, &HmacSha256::new_from_slice(secret).unwrap()),
        Algorithm::HS384 => with(token, &HmacSha384::new_from_slice(secret).unwrap()),
        Algorithm::HS512 => with(token, &HmacSha512::new_from_slice(secret).unwrap()),
        other => panic!("the jwt crate is used here for HMAC only, not {other}"),
    }
}

/// Signs with the `jwt` crate, with `typ: JWT` and the given `kid`.
fn jwt_crate_sign(
    claims: &Claims,
    algorithm: Algorithm,
    secret: &[u8],
    kid: Option<&str>,
) -> String {
    fn with<K: jwt::SigningAlgorithm>(header: jwt::Header, claims: &Claims, key: &K) -> String {
        let mut header = header;
        header.algorithm = key.algorithm_type();
        let token = jwt::Token::new(header, claims.clone())
            .sign_with_key(key)
            .unwrap();
        token.as_str().to_owned()
    }
    let header = jwt::Header {
        key_id: kid.map(str::to_owned),
        type_: Some(jwt::header::HeaderType::JsonWebToken),
        ..Default::default()
    };
    match algorithm {
        Algorithm::HS256 => with(header, claims, &HmacSha256::new_from_slice(secret).unwrap()),
        Algorithm::HS384 => with(header, claims, &HmacSha384::new_from_slice(secret).unwrap()),
        Algorithm::HS512 => with(header, claims, &HmacSha512::new_from_slice(secret).unwrap()),
        other => panic!("the jwt crate is used here for HMAC only, not {other}"),
    }
}

fn jwt_algorithm(a: Algorithm) -> AlgorithmType {
    match a {
        Algorithm::HS256 => AlgorithmType::Hs256,
        Algorithm::HS384 => AlgorithmType::Hs384,
        Algorithm::HS512 => AlgorithmType::Hs512,
        other => panic!("the jwt crate is used here for HMAC only, not {other}"),
    }
}

#[test]
fn our_tokens_verify_in_the_jwt_crate() {
    ensure_provider().unwrap();
    let now = 1_700_000_000;
    for algorithm in ALGORITHMS {
        let secret = secret(1);
        let keys = KeySet::new(JwtKey::from_secret(secret.clone()).unwrap());
        let p = policy(algorithm, "c1");
        let grant = Grant {
            subject: "alice",
            role: "operator",
            sid: "2b0c7a5e-sid".into(),
            jti: "9d1f44aa-jti".into(),
            now,
        };
        let (token, claims) = issue(&grant, &keys, &p).unwrap();

        let (alg, kid, theirs) = jwt_crate_verify(&token, algorithm, &secret).unwrap();
        assert_eq!(alg, jwt_algorithm(algorithm));
        assert_eq!(kid.as_deref(), Some(keys.active().kid()));
        assert_eq!(theirs, claims, "{algorithm}");
        assert_eq!(
            theirs,
            Claims {
                sub: "alice".into(),
                role: "operator".into(),
                iss: "c1".into(),
                iat: now,
                nbf: now,
                exp: now + 1_800,
                jti: "9d1f44aa-jti".into(),
                sid: "2b0c7a5e-sid".into(),
                auth_time: now,
            }
        );

        // The reference implementation is not easy to please: another key
        // fails its MAC check, another hash its algorithm check.
        assert!(matches!(
            jwt_crate_verify(&token, algorithm, &self::secret(2)),
            Err(jwt::Error::RustCryptoMac(_))
        ));
        let other_alg = ALGORITHMS.into_iter().find(|a| *a != algorithm).unwrap();
        assert!(matches!(
            jwt_crate_verify(&token, other_alg, &secret),
            Err(jwt::Error::AlgorithmMismatch(..))
        ));

        // A refreshed token too.
        let refreshed = refresh_claims(
            &claims,
            Subject::Active { role: "viewer" },
            &p,
            "new-jti".into(),
            now + 60,
        )
        .unwrap();
        let token = sign(&refreshed, &keys, algorithm).unwrap();
        let (_, _, theirs) = jwt_crate_verify(&token, algorithm, &secret).unwrap();
        assert_eq!(theirs, refreshed);
    }
}

#[test]
fn jwt_crate_tokens_with_our_claims_and_kid_verify_with_ours() {
    ensure_provider().unwrap();
    let now = 1_700_000_000;
    for algorithm in ALGORITHMS {
        let secret = secret(3);
        let key = JwtKey::from_secret(secret.clone()).unwrap();
        let kid = key.kid().to_owned();
        let keys = KeySet::new(key);
        let p = policy(algorithm, "c1");
        let claims = Claims {
            sub: "bob".into(),
            role: "viewer".into(),
            iss: "c1".into(),
            iat: now,
            nbf: now,
            exp: now + 600,
            jti: "jti-1".into(),
            sid: "sid-1".into(),
            auth_time: now,
        };

        let token = jwt_crate_sign(&claims, algorithm, &secret, Some(&kid));
        assert_eq!(verify(&token, &keys, &p, now + 1), Ok(claims.clone()));
        // Without a kid the active key is used.
        let token = jwt_crate_sign(&claims, algorithm, &secret, None);
        assert_eq!(verify(&token, &keys, &p, now + 1), Ok(claims.clone()));

        // Our checks still apply to their tokens.
        let forged = jwt_crate_sign(&claims, algorithm, &self::secret(4), Some(&kid));
        assert_eq!(
            verify(&forged, &keys, &p, now + 1),
            Err(VerifyError::BadSignature)
        );
        let stranger = jwt_crate_sign(&claims, algorithm, &self::secret(4), Some("other-kid"));
        assert!(matches!(
            verify(&stranger, &keys, &p, now + 1),
            Err(VerifyError::UnknownKey { .. })
        ));
        assert!(matches!(
            verify(&token, &keys, &p, now + 601 + LEEWAY_SECONDS),
            Err(VerifyError::Expired { .. })
        ));
        let other_alg = ALGORITHMS.into_iter().find(|a| *a != algorithm).unwrap();
        let token = jwt_crate_sign(&claims, other_alg, &secret, Some(&kid));
        assert!(matches!(
            verify(&token, &keys, &p, now + 1),
            Err(VerifyError::WrongAlgorithm { .. })
        ));
    }
}

#[test]
fn a_jwt_crate_token_signed_with_a_real_nodes_key_passes_the_node() {
    ensure_provider().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("esa1");
    let now = 1_700_000_000;
    tacctl::ops::init(
        &root,
        tacctl::ops::InitRequest {
            name: "esa1".into(),
            cluster_id: Some("c1".into()),
            admin_user: "admin".into(),
            admin_password: SecretString::from("admin-Pa55word"),
        },
        now,
    )
    .unwrap();
    let ops = tacctl::ops::Ops::open(&root, Duration::from_secs(5)).unwrap();
    let settings = ops.app.jwt_settings().unwrap();
    let node = ops.app.node().unwrap();
    let keys = ops.app.keyset(&settings, now).unwrap();
    let p = ops.policy(&settings, &node);
    assert_eq!(p.algorithm, Algorithm::HS256);
    assert_eq!(p.issuer, "c1");

    let claims = Claims {
        sub: "admin".into(),
        role: "admin".into(),
        iss: node.cluster_id.clone(),
        iat: now,
        nbf: now,
        exp: now + p.lifetime,
        jti: "jti-from-elsewhere".into(),
        sid: "sid-from-elsewhere".into(),
        auth_time: now,
    };
    let token = jwt_crate_sign(
        &claims,
        p.algorithm,
        keys.active().expose_secret(),
        Some(keys.active().kid()),
    );
    assert_eq!(verify(&token, &keys, &p, now + 5), Ok(claims.clone()));
    assert_eq!(ops.verify(&token, now + 5).unwrap(), claims);
    // And the node refreshes it like one of its own.
    let refreshed = ops.refresh(&token, now + 10).unwrap();
    assert_eq!(refreshed.claims.sid, "sid-from-elsewhere");
    assert_eq!(refreshed.claims.auth_time, now);

    // The node's own login verifies in the jwt crate.
    let issued = ops
        .login("admin", &SecretString::from("admin-Pa55word"), now)
        .unwrap();
    let (_, kid, theirs) = jwt_crate_verify(
        secrecy::ExposeSecret::expose_secret(&issued.token),
        p.algorithm,
        keys.active().expose_secret(),
    )
    .unwrap();
    assert_eq!(kid.as_deref(), Some(keys.active().kid()));
    assert_eq!(theirs, issued.claims);
}
