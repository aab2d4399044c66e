//! Throughput of `tacctl::jwt::issue` and `tacctl::jwt::verify` for HS256,
//! HS384 and HS512, with one raw HMAC-SHA256 over the HS256 token's signing
//! input (`header.payload`) under the same key as the baseline; and for the
//! key-pair algorithms at the sizes `openssl speed` measures beside them in
//! bench/jwt.sh: RSA 3072 (RS256, PS256), ECDSA P-256 (ES256) and P-384
//! (ES384), Ed25519 (EdDSA).
//!
//! Run with `bench/jwt.sh` (see docs/BENCHMARKS.md, "JWT issue and verify").

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tacctl::jwt::{self, Algorithm, Grant, JwtKey, KeySet, LEEWAY_SECONDS, Policy};

/// A fixed clock, so every run signs and checks the same tokens.
const NOW: u64 = 1_800_000_000;

/// The 64-byte secret used for every algorithm (long enough for HS512).
fn secret() -> Vec<u8> {
    (0u8..64)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect()
}

fn policy(algorithm: Algorithm) -> Policy {
    Policy {
        algorithm,
        issuer: "cluster-1".into(),
        lifetime: 1800,
        max_session: 43_200,
        leeway: LEEWAY_SECONDS,
    }
}

fn grant() -> Grant<'static> {
    Grant {
        subject: "alice",
        role: "operator",
        sid: "0b5c7a52-3f7e-4d0c-9a51-6c1f2f8e9d10".into(),
        jti: "6f1c2d3e-4b5a-4978-8c6d-5e4f3a2b1c0d".into(),
        now: NOW,
    }
}

fn bench_jwt(c: &mut Criterion) {
    jwt::ensure_provider().expect("the RustCrypto provider is in force");
    let key_bytes = secret();
    let keys = KeySet::new(JwtKey::from_secret(key_bytes.clone()).expect("a 64-byte key"));
    let grant = grant();

    let mut issue = c.benchmark_group("jwt/issue");
    issue.throughput(Throughput::Elements(1));
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let policy = policy(alg);
        issue.bench_function(alg.as_str(), |b| {
            b.iter(|| jwt::issue(black_box(&grant), black_box(&keys), black_box(&policy)).unwrap())
        });
    }
    issue.finish();

    let mut issue_pairs = Vec::new();
    let mut verify = c.benchmark_group("jwt/verify");
    verify.throughput(Throughput::Elements(1));
    let mut hs256_token = String::new();
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let policy = policy(alg);
        let (token, claims) = jwt::issue(&grant, &keys, &policy).unwrap();
        // The benchmark measures the success path: check it is the success path.
        assert_eq!(jwt::verify(&token, &keys, &policy, NOW).unwrap(), claims);
        verify.bench_function(alg.as_str(), |b| {
            b.iter(|| {
                jwt::verify(
                    black_box(&token),
                    black_box(&keys),
                    black_box(&policy),
                    black_box(NOW),
                )
                .unwrap()
            })
        });
        if alg == Algorithm::HS256 {
            hs256_token = token;
        }
    }
    // Key pairs, each verified with its public key only.
    for (alg, bits) in [
        (Algorithm::RS256, Some(3072)),
        (Algorithm::PS256, Some(3072)),
        (Algorithm::ES256, None),
        (Algorithm::ES384, None),
        (Algorithm::EdDSA, None),
    ] {
        let pair = KeySet::new(JwtKey::generate(alg, bits).expect("a key pair"));
        let policy = policy(alg);
        let (token, claims) = jwt::issue(&grant, &pair, &policy).unwrap();
        assert_eq!(jwt::verify(&token, &pair, &policy, NOW).unwrap(), claims);
        verify.bench_function(alg.as_str(), |b| {
            b.iter(|| {
                jwt::verify(
                    black_box(&token),
                    black_box(&pair),
                    black_box(&policy),
                    black_box(NOW),
                )
                .unwrap()
            })
        });
        issue_pairs.push((alg, pair, policy));
    }
    verify.finish();
    let mut issue = c.benchmark_group("jwt/issue");
    issue.throughput(Throughput::Elements(1));
    for (alg, pair, policy) in &issue_pairs {
        issue.bench_function(alg.as_str(), |b| {
            b.iter(|| jwt::issue(black_box(&grant), black_box(pair), black_box(policy)).unwrap())
        });
    }
    issue.finish();

    // Baseline: one complete HMAC-SHA256 (key schedule, signing input,
    // finalisation) over exactly the bytes an HS256 verify has to MAC.
    let (signing_input, signature_b64) = hs256_token
        .rsplit_once('.')
        .expect("a compact JWS has a signature part");
    let signing_input = signing_input.as_bytes().to_vec();
    let mac = |key: &[u8], msg: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(msg);
        mac.finalize().into_bytes()
    };
    {
        use base64::Engine as _;
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature_b64)
            .unwrap();
        assert_eq!(
            mac(&key_bytes, &signing_input).as_slice(),
            expected.as_slice(),
            "the baseline MACs the same input with the same key as the HS256 token"
        );
    }
    let mut baseline = c.benchmark_group("baseline");
    baseline.throughput(Throughput::Elements(1));
    baseline.bench_function("raw_hmac_sha256", |b| {
        b.iter(|| mac(black_box(&key_bytes), black_box(&signing_input)))
    });
    baseline.finish();
}

criterion_group!(benches, bench_jwt);
criterion_main!(benches);
