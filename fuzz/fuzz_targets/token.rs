//! `jwt::verify` and `jwt::verify_registered` with the key set and policy
//! of fixtures/appliances/v1 (HS512, an active and a retired key).
//!
//! First byte: `TOKEN_RAW` (even), the input after the second byte is the
//! token; `TOKEN_SIGNED` (odd), it is a third byte choosing the signing key
//! (0: active, 1: retired, else a key the set does not hold; bit 7: HS256
//! rather than HS512), then a JWS header's JSON, a zero byte and the
//! claims' JSON, which the target signs: random bytes never carry a valid
//! signature, and only signed tokens reach the claims checks. The second
//! byte is the time of the check (`token_now`). A token `verify` accepts
//! must be one `verify_registered` accepts, with the claims the checks
//! promise.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tacctl::jwt::{self, Algorithm, JwtKey};
use tacctl_fuzz::{TOKEN, TOKEN_SIGNED, sign_raw, token_now};

static UNKNOWN: LazyLock<JwtKey> =
    LazyLock::new(|| JwtKey::from_secret(vec![0x42; 64]).expect("a 64-byte key"));

fuzz_target!(
    init: {
        jwt::ensure_provider().expect("the RustCrypto provider installs");
        LazyLock::force(&TOKEN);
    },
    |data: &[u8]| {
        let Some((&[mode, now], rest)) = data.split_first_chunk::<2>() else {
            return;
        };
        let fx = &*TOKEN;
        let now = token_now(now, fx.now);
        let token = if mode & 1 == TOKEN_SIGNED {
            let Some((&choice, rest)) = rest.split_first() else {
                return;
            };
            let (header, claims) = match rest.iter().position(|b| *b == 0) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &b""[..]),
            };
            let key = match choice & 0x7f {
                0 => fx.keys.active(),
                1 => &fx.keys.previous()[0].key,
                _ => &*UNKNOWN,
            };
            let alg = if choice & 0x80 != 0 { Algorithm::HS256 } else { fx.policy.algorithm };
            sign_raw(header, claims, key, alg)
        } else {
            String::from_utf8_lossy(rest).into_owned()
        };
        let full = jwt::verify(&token, &fx.keys, &fx.policy, now);
        let registered = jwt::verify_registered(&token, &fx.keys, &fx.policy, now);
        if let Ok(c) = &full {
            let leeway = fx.policy.leeway;
            assert_eq!(c.iss, fx.policy.issuer);
            assert!(now <= c.exp.saturating_add(leeway), "expired: {c:?} at {now}");
            assert!(c.nbf <= now.saturating_add(leeway), "not yet valid: {c:?} at {now}");
            let r = registered.expect("verify_registered accepts what verify accepts");
            assert_eq!(r.get("exp").and_then(|v| v.as_u64()), Some(c.exp));
            assert_eq!(r.get("iss").and_then(|v| v.as_str()), Some(c.iss.as_str()));
        }
    }
);
