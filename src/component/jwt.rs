//! `config/jwt.yaml`: the "Appliances JWT Configuration". Cluster scope.
//!
//! Keys are stored sealed (see `appliance::seal`); this model only carries
//! the opaque sealed text and the key's public fingerprint.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Invalid, Stored};
use crate::jwt::{Algorithm, Expiry, ExpiryUnit, MAX_EXPIRY_VALUE};

/// The expiry a new appliance starts with: 30 minutes.
pub const DEFAULT_EXPIRY: Expiry = Expiry {
    value: 30,
    unit: ExpiryUnit::Minutes,
};
/// The max session a new appliance starts with: 12 hours.
pub const DEFAULT_MAX_SESSION_SECONDS: u64 = 12 * 3_600;

/// A key as stored: its fingerprint and its sealed secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SealedKey {
    /// The key id: a fingerprint of the secret.
    pub kid: String,
    /// The secret sealed under the node master key (`v1.` then base64 of nonce and ciphertext).
    pub sealed: String,
    /// When the key became active, Unix seconds.
    pub created_at: u64,
}

/// A retired key still accepted for verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoredRetiredKey {
    /// The key.
    pub key: SealedKey,
    /// When it was replaced, Unix seconds.
    pub retired_at: u64,
    /// Until when tokens it signed are accepted, Unix seconds.
    pub accept_until: u64,
    /// The algorithm its tokens carry, when the configured one has changed
    /// since (absent: the configured algorithm). The active key may appear
    /// here too, retired under the algorithm it signed with before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<Algorithm>,
}

/// The JWT settings of an appliance, as the JWT Configuration screens set them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    /// Format version of this file.
    pub version: u32,
    /// The signing and verification algorithm.
    pub algorithm: Algorithm,
    /// Token expiry value, in `expiry_unit`s.
    pub expiry_value: u64,
    /// Token expiry unit.
    pub expiry_unit: ExpiryUnit,
    /// Longest session refreshing may reach, seconds.
    pub max_session_seconds: u64,
    /// The key that signs.
    pub active_key: SealedKey,
    /// Retired keys still accepted, oldest first.
    #[serde(default)]
    pub previous_keys: Vec<StoredRetiredKey>,
}

impl JwtSettings {
    /// The configured expiry.
    pub fn expiry(&self) -> Expiry {
        Expiry {
            value: self.expiry_value,
            unit: self.expiry_unit,
        }
    }

    /// Drops retired keys whose acceptance ended before `now`.
    pub fn prune(&mut self, now: u64) {
        self.previous_keys.retain(|k| k.accept_until >= now);
    }

    /// The algorithm the tokens of retired key `r` carry.
    pub fn signed_with(&self, r: &StoredRetiredKey) -> Algorithm {
        r.algorithm.unwrap_or(self.algorithm)
    }

    /// Keeps accepting the tokens `key` signed under `algorithm` until
    /// `until`: a retired key, recorded with its algorithm when that is not
    /// the configured one, once (a later deadline wins). Nothing to do for
    /// the active key under the configured algorithm, which verifies those.
    pub fn retire(&mut self, key: SealedKey, algorithm: Algorithm, retired_at: u64, until: u64) {
        let alg = (algorithm != self.algorithm).then_some(algorithm);
        if key.kid == self.active_key.kid && alg.is_none() {
            return;
        }
        if let Some(r) = self
            .previous_keys
            .iter_mut()
            .find(|r| r.key.kid == key.kid && r.algorithm == alg)
        {
            r.accept_until = r.accept_until.max(until);
            return;
        }
        self.previous_keys.push(StoredRetiredKey {
            key,
            retired_at,
            accept_until: until,
            algorithm: alg,
        });
    }
}

/// The format version of a JWT configuration that needs tacctl 0.2: a
/// key-pair algorithm, or a retired key with its own algorithm.
pub const JWT_KEY_PAIRS_VERSION: u32 = 2;

impl Stored for JwtSettings {
    const FILE: &'static str = "config/jwt.yaml";
    const MAX_VERSION: u32 = JWT_KEY_PAIRS_VERSION;
    fn version_needed(&self) -> u32 {
        let new =
            !self.algorithm.is_hmac() || self.previous_keys.iter().any(|r| r.algorithm.is_some());
        if new {
            JWT_KEY_PAIRS_VERSION
        } else {
            super::FORMAT_VERSION
        }
    }
    fn version(&self) -> u32 {
        self.version
    }
    fn validate(&self) -> Result<(), Invalid> {
        check_rules(
            self.algorithm,
            self.expiry_value,
            self.max_session_seconds,
            &self.active_key,
            self.previous_keys
                .iter()
                .map(|r| (&r.key, r.algorithm.unwrap_or(self.algorithm))),
        )
    }
}

/// A key as the rules of a JWT configuration see it, wherever the
/// configuration is kept: sealed on the appliance ([`SealedKey`]) or in
/// the clear in a bundle ([`ExportedKey`]).
trait RuledKey {
    /// Its key id.
    fn kid(&self) -> &str;
    /// Checks the form of its secret and, where the secret is in the clear,
    /// that it is a key of `algorithm`'s type and the key id its
    /// fingerprint; an HMAC secret's length in bytes when it is known.
    /// `field` is the key's field path.
    fn check_secret(&self, field: &str, algorithm: Algorithm) -> Result<Option<usize>, Invalid>;
}

impl RuledKey for SealedKey {
    fn kid(&self) -> &str {
        &self.kid
    }

    fn check_secret(&self, field: &str, _algorithm: Algorithm) -> Result<Option<usize>, Invalid> {
        if !self.sealed.starts_with("v1.") {
            return Err(Invalid::new(
                format!("{field}.sealed"),
                "is not a sealed key (expected `v1.` followed by base64); secrets are never stored in the clear",
            ));
        }
        Ok(None)
    }
}

impl RuledKey for ExportedKey {
    fn kid(&self) -> &str {
        &self.kid
    }

    fn check_secret(&self, field: &str, algorithm: Algorithm) -> Result<Option<usize>, Invalid> {
        let Some(secret) = self.secret.decode() else {
            return Err(Invalid::new(format!("{field}.secret"), "is not base64"));
        };
        if algorithm.is_hmac() {
            if crate::jwt::fingerprint(&secret) != self.kid {
                return Err(Invalid::new(
                    format!("{field}.kid"),
                    "does not match the secret's fingerprint",
                ));
            }
            return Ok(Some(secret.len()));
        }
        // A key pair's private key, PKCS#8: it must be a key of the
        // algorithm's type, named by its thumbprint.
        let key = crate::jwt::JwtKey::from_stored(secret.to_vec(), algorithm)
            .map_err(|e| Invalid::new(format!("{field}.secret"), e.to_string()))?;
        if key.kid() != self.kid {
            return Err(Invalid::new(
                format!("{field}.kid"),
                "does not match the key's thumbprint",
            ));
        }
        Ok(None)
    }
}

/// The one rule set of a JWT configuration, stored ([`JwtSettings`]) or
/// exported ([`JwtExport`]), checked in this order:
///
/// - the lifetimes: `expiry_value` 1 to [`MAX_EXPIRY_VALUE`] units,
///   `max_session_seconds` at least 1;
/// - each key, the active one first: a key id, a secret of the right form
///   ([`RuledKey::check_secret`]);
/// - the active key's secret, where it is known, at least as long as
///   `algorithm`'s hash (RFC 7518, section 3.2).
///
/// A retired key's secret is not held to the length of the algorithm it
/// verifies (its own `algorithm`, or else the configured one): retired
/// keys without an `algorithm` follow the configured one, so `jwt
/// set-secret` with a 32-byte secret, another `jwt set-secret`, then `jwt
/// set-algorithm HS512` leaves a 32-byte key verifying HS512, and this
/// appliance's export must still be accepted.
fn check_rules<'a, K: RuledKey + 'a>(
    algorithm: Algorithm,
    expiry_value: u64,
    max_session_seconds: u64,
    active: &'a K,
    previous: impl Iterator<Item = (&'a K, Algorithm)>,
) -> Result<(), Invalid> {
    if expiry_value == 0 || expiry_value > MAX_EXPIRY_VALUE {
        return Err(Invalid::new(
            "expiry_value",
            format!("{expiry_value} is out of range; use 1 to {MAX_EXPIRY_VALUE}"),
        ));
    }
    if max_session_seconds == 0 {
        return Err(Invalid::new("max_session_seconds", "must be at least 1"));
    }
    let keys = std::iter::once((active, algorithm)).chain(previous);
    for (i, (field, (k, signs))) in key_fields(keys).enumerate() {
        if k.kid().is_empty() {
            return Err(Invalid::new(format!("{field}.kid"), "must not be empty"));
        }
        let len = k.check_secret(&field, signs)?;
        if i == 0
            && let Some(len) = len
            && len < algorithm.min_secret_len()
        {
            return Err(Invalid::new(
                format!("{field}.secret"),
                format!("is {len} bytes, too short for {algorithm}"),
            ));
        }
    }
    Ok(())
}

/// Each key with its field path: `active_key`, then `previous_keys[N]`.
fn key_fields<K>(keys: impl Iterator<Item = K>) -> impl Iterator<Item = (String, K)> {
    keys.enumerate().map(|(i, k)| {
        let field = if i == 0 {
            "active_key".to_owned()
        } else {
            format!("previous_keys[{}]", i - 1)
        };
        (field, k)
    })
}

/// A secret carried inside an (encrypted) bundle: standard base64, redacted in
/// Debug output and zeroized on drop.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct SecretBase64(#[schemars(with = "String")] zeroize::Zeroizing<String>);

impl SecretBase64 {
    /// Encodes raw secret bytes.
    pub fn encode(bytes: &[u8]) -> Self {
        use base64::Engine as _;
        Self(zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD.encode(bytes),
        ))
    }

    /// Decodes to raw bytes.
    pub fn decode(&self) -> Option<zeroize::Zeroizing<Vec<u8>>> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(self.0.as_bytes())
            .ok()
            .map(zeroize::Zeroizing::new)
    }
}

impl std::fmt::Debug for SecretBase64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// A key as carried in a bundle: the secret itself, since a bundle is
/// encrypted and the target seals it under its own master key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportedKey {
    /// Fingerprint; must match the secret.
    pub kid: String,
    /// The secret, base64.
    pub secret: SecretBase64,
    /// When it became active.
    pub created_at: u64,
}

/// A retired key as carried in a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportedRetiredKey {
    /// The key.
    pub key: ExportedKey,
    /// When it was replaced.
    pub retired_at: u64,
    /// Until when it is accepted.
    pub accept_until: u64,
    /// The algorithm its tokens carry, when not the bundle's (see
    /// [`StoredRetiredKey::algorithm`]); absent in bundles of tacctl 0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<Algorithm>,
}

/// `components/jwt.yaml` inside a bundle: "Appliances JWT Configuration".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtExport {
    /// Component version.
    pub version: u32,
    /// Algorithm.
    pub algorithm: Algorithm,
    /// Expiry value.
    pub expiry_value: u64,
    /// Expiry unit.
    pub expiry_unit: ExpiryUnit,
    /// Max session, seconds.
    pub max_session_seconds: u64,
    /// The key that signs.
    pub active_key: ExportedKey,
    /// Retired keys still accepted.
    #[serde(default)]
    pub previous_keys: Vec<ExportedRetiredKey>,
}

impl Stored for JwtExport {
    const FILE: &'static str = "components/jwt.yaml";
    const MAX_VERSION: u32 = JWT_KEY_PAIRS_VERSION;
    fn version_needed(&self) -> u32 {
        let new =
            !self.algorithm.is_hmac() || self.previous_keys.iter().any(|r| r.algorithm.is_some());
        if new {
            JWT_KEY_PAIRS_VERSION
        } else {
            super::FORMAT_VERSION
        }
    }
    fn version(&self) -> u32 {
        self.version
    }
    fn validate(&self) -> Result<(), Invalid> {
        check_rules(
            self.algorithm,
            self.expiry_value,
            self.max_session_seconds,
            &self.active_key,
            self.previous_keys
                .iter()
                .map(|r| (&r.key, r.algorithm.unwrap_or(self.algorithm))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::fingerprint;

    fn exported(secret: &[u8]) -> ExportedKey {
        ExportedKey {
            kid: fingerprint(secret),
            secret: SecretBase64::encode(secret),
            created_at: 1,
        }
    }

    fn retired_exported(secret: &[u8], algorithm: Option<Algorithm>) -> ExportedRetiredKey {
        ExportedRetiredKey {
            key: exported(secret),
            retired_at: 2,
            accept_until: 3,
            algorithm,
        }
    }

    fn sealed(kid: &str) -> SealedKey {
        SealedKey {
            kid: kid.to_owned(),
            sealed: "v1.AAAA".to_owned(),
            created_at: 1,
        }
    }

    fn export(algorithm: Algorithm, active: &[u8]) -> JwtExport {
        JwtExport {
            version: 1,
            algorithm,
            expiry_value: 30,
            expiry_unit: ExpiryUnit::Minutes,
            max_session_seconds: 3_600,
            active_key: exported(active),
            previous_keys: vec![retired_exported(&[7; 64], None)],
        }
    }

    fn settings(algorithm: Algorithm) -> JwtSettings {
        JwtSettings {
            version: 1,
            algorithm,
            expiry_value: 30,
            expiry_unit: ExpiryUnit::Minutes,
            max_session_seconds: 3_600,
            active_key: sealed("active"),
            previous_keys: vec![StoredRetiredKey {
                key: sealed("retired"),
                retired_at: 2,
                accept_until: 3,
                algorithm: None,
            }],
        }
    }

    #[test]
    fn stored_and_exported_configurations_refuse_the_same_lifetimes_and_empty_key_ids() {
        assert_eq!(settings(Algorithm::HS256).validate(), Ok(()));
        assert_eq!(export(Algorithm::HS256, &[1; 32]).validate(), Ok(()));
        let lifetimes = [
            (0, 3_600, "expiry_value"),
            (MAX_EXPIRY_VALUE + 1, 3_600, "expiry_value"),
            (30, 0, "max_session_seconds"),
        ];
        for (expiry_value, max_session_seconds, field) in lifetimes {
            let mut s = settings(Algorithm::HS256);
            (s.expiry_value, s.max_session_seconds) = (expiry_value, max_session_seconds);
            let mut e = export(Algorithm::HS256, &[1; 32]);
            (e.expiry_value, e.max_session_seconds) = (expiry_value, max_session_seconds);
            let refused = s.validate().unwrap_err();
            assert_eq!(refused.field, field);
            assert_eq!(e.validate().unwrap_err(), refused);
        }
        for retired in [false, true] {
            let mut s = settings(Algorithm::HS256);
            let mut e = export(Algorithm::HS256, &[1; 32]);
            if retired {
                s.previous_keys[0].key.kid.clear();
                e.previous_keys[0].key.kid.clear();
            } else {
                s.active_key.kid.clear();
                e.active_key.kid.clear();
            }
            let refused = s.validate().unwrap_err();
            let field = if retired {
                "previous_keys[0].kid"
            } else {
                "active_key.kid"
            };
            assert_eq!(refused, Invalid::new(field, "must not be empty"));
            assert_eq!(e.validate().unwrap_err(), refused);
        }
    }

    #[test]
    fn each_key_secret_is_checked_in_its_form() {
        let mut s = settings(Algorithm::HS256);
        s.previous_keys[0].key.sealed = "in the clear".into();
        assert_eq!(s.validate().unwrap_err().field, "previous_keys[0].sealed");

        let mut e = export(Algorithm::HS256, &[1; 32]);
        e.previous_keys[0].key.secret = SecretBase64::encode(&[8; 64]);
        assert_eq!(
            e.validate().unwrap_err(),
            Invalid::new(
                "previous_keys[0].kid",
                "does not match the secret's fingerprint"
            )
        );
        let mut e = export(Algorithm::HS256, &[1; 32]);
        e.active_key.secret = serde_json::from_str("\"not base64!\"").unwrap();
        assert_eq!(
            e.validate().unwrap_err(),
            Invalid::new("active_key.secret", "is not base64")
        );
    }

    #[test]
    fn the_active_secret_must_be_as_long_as_the_algorithm_hash() {
        for algorithm in Algorithm::HMAC {
            let n = algorithm.min_secret_len();
            assert_eq!(export(algorithm, &vec![1; n]).validate(), Ok(()));
            assert_eq!(
                export(algorithm, &vec![1; n - 1]).validate().unwrap_err(),
                Invalid::new(
                    "active_key.secret",
                    format!("is {} bytes, too short for {algorithm}", n - 1)
                )
            );
        }
    }

    /// `jwt set-secret` (32 bytes), `jwt set-secret`, `jwt set-algorithm
    /// HS512` leaves a retired 32-byte key that follows the configured
    /// HS512; that appliance's export, and an import of it that retires
    /// the key under HS512 by name, must still be accepted.
    #[test]
    fn a_retired_key_shorter_than_the_algorithm_it_verifies_is_accepted() {
        let mut e = export(Algorithm::HS512, &[1; 64]);
        e.previous_keys = vec![
            retired_exported(&[2; 32], None),
            retired_exported(&[3; 32], Some(Algorithm::HS384)),
        ];
        assert_eq!(e.validate(), Ok(()));
    }
}
