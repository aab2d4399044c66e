//! A bounded cache of tokens this configuration has already verified.
//!
//! A client presents the same token on every request until it refreshes, so
//! the server remembers, per configuration, the claims of tokens that passed
//! the full check. Only tokens under the active key are remembered (a retired
//! key has a deadline of its own), an entry is used only for the exact same
//! token string, and its times are checked again on every use; anything else
//! takes the full [`crate::jwt::verify`]. The cache belongs to one
//! configuration: a reload starts an empty one, so a new key, algorithm or
//! issuer is never answered from old entries.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::jwt::Claims;

const SHARDS: usize = 16;
/// Entries per shard; a full shard is emptied and starts again.
const PER_SHARD: usize = 4096;

struct Entry {
    token: Box<str>,
    claims: Arc<Claims>,
}

/// The cache.
pub struct TokenCache {
    /// `base64url(header).` of tokens signed with the active key, exactly as
    /// the appliance writes them.
    prefix: String,
    leeway: u64,
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<Box<str>, Entry>>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache").finish_non_exhaustive()
    }
}

impl TokenCache {
    /// An empty cache for tokens under `algorithm` and the active key `kid`.
    pub fn new(algorithm: &str, kid: &str, leeway: u64) -> Self {
        let header = format!(r#"{{"typ":"JWT","alg":"{algorithm}","kid":"{kid}"}}"#);
        Self {
            prefix: format!("{}.", URL_SAFE_NO_PAD.encode(header)),
            leeway,
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// The signature part, which keys the entry, when the token is one the
    /// cache may hold.
    fn signature<'t>(&self, token: &'t str) -> Option<&'t str> {
        if !token.starts_with(&self.prefix) {
            return None;
        }
        token.rsplit_once('.').map(|(_, sig)| sig)
    }

    fn shard(&self, signature: &str) -> &Mutex<HashMap<Box<str>, Entry>> {
        &self.shards[self.hasher.hash_one(signature) as usize % SHARDS]
    }

    /// The claims of `token` when it was verified before and is still
    /// within its times at `now`.
    pub fn get(&self, token: &str, now: u64) -> Option<Arc<Claims>> {
        let sig = self.signature(token)?;
        let shard = self.shard(sig).lock().expect("token cache lock");
        let e = shard.get(sig)?;
        let fresh = now <= e.claims.exp.saturating_add(self.leeway)
            && e.claims.nbf <= now.saturating_add(self.leeway);
        (e.token.as_ref() == token && fresh).then(|| Arc::clone(&e.claims))
    }

    /// Remembers a token that passed the full check.
    pub fn put(&self, token: &str, claims: Arc<Claims>) {
        let Some(sig) = self.signature(token) else {
            return;
        };
        let mut shard = self.shard(sig).lock().expect("token cache lock");
        if shard.len() >= PER_SHARD {
            shard.clear();
        }
        shard.insert(
            sig.into(),
            Entry {
                token: token.into(),
                claims,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::{Algorithm, Grant, JwtKey, KeySet, Policy};

    fn setup() -> (KeySet, Policy) {
        let keys = KeySet::new(JwtKey::from_secret(vec![7u8; 64]).unwrap());
        let policy = Policy {
            algorithm: Algorithm::HS256,
            issuer: "c1".into(),
            lifetime: 600,
            max_session: 3600,
            leeway: 30,
        };
        (keys, policy)
    }

    fn token(keys: &KeySet, policy: &Policy, now: u64) -> (String, Claims) {
        let grant = Grant {
            subject: "alice",
            role: "viewer",
            sid: "s".into(),
            jti: format!("j{now}"),
            now,
        };
        crate::jwt::issue(&grant, keys, policy).unwrap()
    }

    #[test]
    fn only_the_same_active_key_token_within_its_times_hits() {
        let (keys, policy) = setup();
        let cache = TokenCache::new("HS256", keys.active().kid(), 30);
        let (t, claims) = token(&keys, &policy, 1000);
        assert!(cache.get(&t, 1000).is_none());
        cache.put(&t, Arc::new(claims));
        assert_eq!(cache.get(&t, 1001).unwrap().sub, "alice");
        assert!(cache.get(&t, 1000 + 600 + 31).is_none(), "expired");
        assert!(cache.get(&t, 900).is_none(), "not yet valid");
        // Same signature, other payload: not the same token.
        let (head, _) = t.split_once('.').unwrap();
        let sig = t.rsplit('.').next().unwrap();
        let forged = format!("{head}.eyJzdWIiOiJtYWxsb3J5In0.{sig}");
        assert!(cache.get(&forged, 1001).is_none());
        // Another algorithm's or key's cache never holds it.
        let other = TokenCache::new("HS512", keys.active().kid(), 30);
        other.put(&t, Arc::new(token(&keys, &policy, 1000).1));
        assert!(other.get(&t, 1001).is_none());
    }
}
