//! JSON Web Tokens as an appliance issues, verifies and refreshes them.
//!
//! This is the pure core of tacctl's authentication: it reads no clock, opens
//! no file and touches no terminal. The current time is always a parameter
//! (`now`, Unix seconds), as are fresh identifiers, so every rule here is
//! tested without sleeping. Tokens are JWS compact serialisations (RFC 7515)
//! signed with HMAC (RFC 7518 section 3.2) through jsonwebtoken's RustCrypto
//! provider; verification pins the configured algorithm and picks the key by
//! `kid` from the node's own [`KeySet`].

mod key;
mod time;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use key::{
    DEFAULT_RSA_BITS, JwtKey, KeySet, PublicKey, RSA_BITS, RetiredKey, TrustedKey, fingerprint,
};
pub use time::{Expiry, ExpiryUnit, MAX_EXPIRY_VALUE, TimeError, parse_duration};

/// Seconds of clock difference tolerated on `exp` and `nbf` between the node
/// that issued a token and the node that checks it.
pub const LEEWAY_SECONDS: u64 = 30;

/// The token type written in every header.
pub const TOKEN_TYPE: &str = "JWT";

/// The algorithms an appliance signs with (the "Set JWT Algorithm" screen):
/// HMAC with the cluster's shared secret (RFC 7518 section 3.2), or a key
/// pair: RSA PKCS #1 v1.5 (section 3.3) and PSS (section 3.5), ECDSA on
/// P-256 and P-384 (section 3.4), Ed25519 (RFC 8037).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// EdDSA with Ed25519.
    EdDSA,
}

/// The type of key an algorithm signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// An HMAC secret shared by the cluster.
    Hmac,
    /// An RSA key pair of `bits` (0 when any size).
    Rsa {
        /// The modulus size.
        bits: usize,
    },
    /// An ECDSA key pair on P-256.
    P256,
    /// An ECDSA key pair on P-384.
    P384,
    /// An Ed25519 key pair.
    Ed25519,
}

impl KeyType {
    /// Whether keys of both types are of one kind, RSA sizes aside.
    pub fn same_kind(self, other: KeyType) -> bool {
        std::mem::discriminant(&self) == std::mem::discriminant(&other)
    }
}

impl std::fmt::Display for KeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyType::Hmac => f.write_str("an HMAC secret"),
            KeyType::Rsa { bits: 0 } => f.write_str("an RSA key"),
            KeyType::Rsa { bits } => write!(f, "an RSA key of {bits} bits"),
            KeyType::P256 => f.write_str("an EC key on P-256"),
            KeyType::P384 => f.write_str("an EC key on P-384"),
            KeyType::Ed25519 => f.write_str("an Ed25519 key"),
        }
    }
}

impl Algorithm {
    /// All algorithms as the screen lists them: the HMAC ones strongest
    /// first, as the appliance's screen does, then the key-pair ones.
    pub const ALL: [Algorithm; 12] = [
        Algorithm::HS512,
        Algorithm::HS384,
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The HMAC algorithms, strongest first.
    pub const HMAC: [Algorithm; 3] = [Algorithm::HS512, Algorithm::HS384, Algorithm::HS256];

    /// The JOSE name (`HS256`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The type of key it signs with.
    pub fn key_type(self) -> KeyType {
        match self {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => KeyType::Hmac,
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => KeyType::Rsa { bits: 0 },
            Algorithm::ES256 => KeyType::P256,
            Algorithm::ES384 => KeyType::P384,
            Algorithm::EdDSA => KeyType::Ed25519,
        }
    }

    /// Whether it signs with an HMAC secret.
    pub fn is_hmac(self) -> bool {
        self.key_type() == KeyType::Hmac
    }

    /// Whether a key of type `key` signs for it (RSA of any size).
    pub fn fits(self, key: KeyType) -> bool {
        self.key_type().same_kind(key)
    }

    /// The shortest secret allowed for an HMAC algorithm: the hash output
    /// size (RFC 7518 section 3.2); 0 for a key-pair algorithm.
    pub fn min_secret_len(self) -> usize {
        match self {
            Algorithm::HS256 => 32,
            Algorithm::HS384 => 48,
            Algorithm::HS512 => 64,
            _ => 0,
        }
    }

    fn to_jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Algorithm::HS256 => jsonwebtoken::Algorithm::HS256,
            Algorithm::HS384 => jsonwebtoken::Algorithm::HS384,
            Algorithm::HS512 => jsonwebtoken::Algorithm::HS512,
            Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
            Algorithm::RS384 => jsonwebtoken::Algorithm::RS384,
            Algorithm::RS512 => jsonwebtoken::Algorithm::RS512,
            Algorithm::PS256 => jsonwebtoken::Algorithm::PS256,
            Algorithm::PS384 => jsonwebtoken::Algorithm::PS384,
            Algorithm::PS512 => jsonwebtoken::Algorithm::PS512,
            Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
            Algorithm::ES384 => jsonwebtoken::Algorithm::ES384,
            Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        }
    }

    /// Checks that a key of `key`'s type (and, for HMAC, of `secret_len`
    /// bytes) can sign for this algorithm.
    pub fn check_key(self, key: KeyType, secret_len: usize) -> Result<(), KeyError> {
        if !self.fits(key) {
            return Err(KeyError::WrongKeyType {
                algorithm: self,
                found: key.to_string(),
                wanted: self.key_type(),
            });
        }
        if key == KeyType::Hmac {
            self.check_secret_len(secret_len)?;
        }
        Ok(())
    }

    /// Checks that `secret_len` bytes are enough for this algorithm.
    pub fn check_secret_len(self, secret_len: usize) -> Result<(), KeyError> {
        if secret_len < self.min_secret_len() {
            return Err(KeyError::TooShort {
                algorithm: self,
                len: secret_len,
            });
        }
        Ok(())
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| KeyError::UnknownAlgorithm(s.to_owned()))
    }
}

/// Problems with a key or an algorithm choice.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The secret is shorter than the algorithm's hash.
    #[error(
        "the JWT secret is {len} bytes, but {algorithm} needs at least {min} (RFC 7518 section 3.2); set a longer secret first (`tacctl jwt set-secret --generate`)",
        min = algorithm.min_secret_len()
    )]
    TooShort {
        /// The algorithm that needs the longer key.
        algorithm: Algorithm,
        /// The secret's length in bytes.
        len: usize,
    },
    /// An empty secret.
    #[error("the JWT secret is empty; give at least 32 bytes")]
    Empty,
    /// An algorithm name tacctl does not know.
    #[error(
        "unknown JWT algorithm {0:?}; choose HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA"
    )]
    UnknownAlgorithm(String),
    /// A key of another type than the algorithm signs with.
    #[error("{algorithm} signs with {wanted}, and this is {found}")]
    WrongKeyType {
        /// The algorithm.
        algorithm: Algorithm,
        /// What the key is.
        found: String,
        /// What it needs.
        wanted: KeyType,
    },
    /// An RSA key too small or too large.
    #[error(
        "the RSA key is {0} bits; tacctl takes 2048 to 8192 bits (and makes 2048, 3072 or 4096)"
    )]
    RsaSize(usize),
    /// A key pair was asked of an HMAC algorithm.
    #[error(
        "{0} signs with a shared secret, not a key pair; choose a key-pair algorithm, or set a secret"
    )]
    NotAKeyPair(Algorithm),
    /// A key that does not parse.
    #[error("{0}")]
    Malformed(String),
}

/// The claims of an appliance token.
///
/// Read from a JSON object only (never an array), each claim at most once;
/// a claim of another name is read whole as a JSON value and dropped, so a
/// claims object is accepted only when it is valid JSON text throughout
/// (UTF-8, escapes, numbers, depth) and [`verify`] never accepts what
/// [`verify_registered`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// The user name.
    pub sub: String,
    /// The user's role when the token was issued.
    pub role: String,
    /// The issuer: the cluster id, so any member of the cluster accepts it.
    pub iss: String,
    /// Issued at.
    pub iat: u64,
    /// Not before.
    pub nbf: u64,
    /// Expires at.
    pub exp: u64,
    /// This token's unique id.
    pub jti: String,
    /// The session id, kept across refreshes.
    pub sid: String,
    /// When the session began (the credential login), kept across refreshes.
    pub auth_time: u64,
}

impl<'de> Deserialize<'de> for Claims {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ClaimsVisitor)
    }
}

/// The names of [`Claims`]' fields, in the order [`sign`] writes them.
const CLAIM_NAMES: [&str; 9] = [
    "sub",
    "role",
    "iss",
    "iat",
    "nbf",
    "exp",
    "jti",
    "sid",
    "auth_time",
];

/// A claim's name, as the entry of [`CLAIM_NAMES`] it matches, or `None`
/// for a claim of another name. Read without allocating.
struct ClaimName(Option<&'static str>);

impl<'de> Deserialize<'de> for ClaimName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ClaimName;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a claim name")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<ClaimName, E> {
                Ok(ClaimName(CLAIM_NAMES.into_iter().find(|n| *n == name)))
            }
        }
        d.deserialize_identifier(V)
    }
}

struct ClaimsVisitor;

impl<'de> serde::de::Visitor<'de> for ClaimsVisitor {
    type Value = Claims;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a claims object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Claims, A::Error> {
        use serde::de::Error as _;

        /// The value of claim `name`, unless it came before.
        fn once<'de, A: serde::de::MapAccess<'de>, T: Deserialize<'de>>(
            map: &mut A,
            slot: &mut Option<T>,
            name: &'static str,
        ) -> Result<(), A::Error> {
            if slot.is_some() {
                return Err(A::Error::duplicate_field(name));
            }
            *slot = Some(map.next_value()?);
            Ok(())
        }

        let (mut sub, mut role, mut iss, mut jti, mut sid) = (None, None, None, None, None);
        let (mut iat, mut nbf, mut exp, mut auth_time) = (None, None, None, None);
        while let Some(ClaimName(name)) = map.next_key()? {
            match name {
                Some(n @ "sub") => once(&mut map, &mut sub, n)?,
                Some(n @ "role") => once(&mut map, &mut role, n)?,
                Some(n @ "iss") => once(&mut map, &mut iss, n)?,
                Some(n @ "iat") => once(&mut map, &mut iat, n)?,
                Some(n @ "nbf") => once(&mut map, &mut nbf, n)?,
                Some(n @ "exp") => once(&mut map, &mut exp, n)?,
                Some(n @ "jti") => once(&mut map, &mut jti, n)?,
                Some(n @ "sid") => once(&mut map, &mut sid, n)?,
                // The one name left in CLAIM_NAMES: auth_time.
                Some(n) => once(&mut map, &mut auth_time, n)?,
                // Read whole, so that it is valid JSON however it is nested.
                None => drop(map.next_value::<serde_json::Value>()?),
            }
        }
        let missing = A::Error::missing_field;
        Ok(Claims {
            sub: sub.ok_or_else(|| missing("sub"))?,
            role: role.ok_or_else(|| missing("role"))?,
            iss: iss.ok_or_else(|| missing("iss"))?,
            iat: iat.ok_or_else(|| missing("iat"))?,
            nbf: nbf.ok_or_else(|| missing("nbf"))?,
            exp: exp.ok_or_else(|| missing("exp"))?,
            jti: jti.ok_or_else(|| missing("jti"))?,
            sid: sid.ok_or_else(|| missing("sid"))?,
            auth_time: auth_time.ok_or_else(|| missing("auth_time"))?,
        })
    }
}

/// What a login grants: the caller supplies identity, fresh ids and the time.
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    /// User name.
    pub subject: &'a str,
    /// Role name.
    pub role: &'a str,
    /// Fresh session id.
    pub sid: String,
    /// Fresh token id.
    pub jti: String,
    /// The current time.
    pub now: u64,
}

/// How a node issues and checks tokens.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The one algorithm accepted and used.
    pub algorithm: Algorithm,
    /// The required `iss`: the cluster id.
    pub issuer: String,
    /// Token lifetime in seconds.
    pub lifetime: u64,
    /// Longest session, from `auth_time`, that refreshing may reach, in seconds.
    pub max_session: u64,
    /// Tolerated clock difference in seconds.
    pub leeway: u64,
}

/// Problems while signing a token.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The active key is too short for the configured algorithm.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The signing library failed.
    #[error("could not sign the token: {0}")]
    Sign(String),
}

/// Why a token was not accepted. Each variant names the check that failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// Not three base64url segments, or a header that is not JSON.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// `alg` is `none`.
    #[error("algorithm check failed: unsigned tokens (alg \"none\") are never accepted")]
    AlgNone,
    /// `alg` names an algorithm tacctl does not sign with.
    #[error("algorithm check failed: {0} is not an algorithm this appliance uses; it accepts {1}")]
    UnsupportedAlgorithm(String, Algorithm),
    /// The header carries or points to a key (`jku`, `jwk`, `x5u`, `x5c`).
    #[error(
        "header check failed: the token names its own key ({0}); keys are never taken from a token, only from this appliance's configuration"
    )]
    KeyInHeader(&'static str),
    /// `alg` is another HMAC algorithm than the configured one.
    #[error(
        "algorithm check failed: token uses {got}, this appliance is configured for {expected}"
    )]
    WrongAlgorithm {
        /// What the header says.
        got: String,
        /// What the policy pins.
        expected: Algorithm,
    },
    /// The header's `kid` names no key of this node.
    #[error(
        "key check failed: no key with id {kid:?} on this node; the token was signed with a key this appliance neither shares nor trusts (run the Cluster Export Wizard with Appliances JWT Configuration, or with Appliances JWT Trust)"
    )]
    UnknownKey {
        /// The `kid` from the header.
        kid: String,
    },
    /// The header's `kid` names a retired key past its acceptance deadline.
    #[error(
        "key check failed: key {kid:?} was retired and stopped being accepted at {since}; log in again"
    )]
    KeyRetired {
        /// The `kid` from the header.
        kid: String,
        /// When acceptance ended.
        since: u64,
    },
    /// The HMAC does not match.
    #[error("signature check failed: the token was altered or signed with a different secret")]
    BadSignature,
    /// A required claim is missing or of the wrong type.
    #[error("claims check failed: {0}")]
    Claims(String),
    /// `exp` is in the past (beyond the leeway).
    #[error("expiry check failed: the token expired at {exp} ({ago} s ago); log in again")]
    Expired {
        /// The token's `exp`.
        exp: u64,
        /// Seconds since expiry.
        ago: u64,
    },
    /// `nbf` is in the future (beyond the leeway).
    #[error(
        "not-before check failed: the token is valid only from {nbf} ({ahead} s from now); check the clocks of the appliances"
    )]
    NotYetValid {
        /// The token's `nbf`.
        nbf: u64,
        /// Seconds until valid.
        ahead: u64,
    },
    /// `iss` is not this cluster.
    #[error(
        "issuer check failed: token issued for cluster {got:?}, this appliance belongs to {expected:?}"
    )]
    WrongIssuer {
        /// The token's `iss`.
        got: String,
        /// This node's cluster id.
        expected: String,
    },
}

/// Which check refused a token: the stable, machine-readable part of a
/// [`VerifyError`], which the REST API sends as `check` beside its message
/// so that another appliance can tell "key differs" from "expired" without
/// reading the words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Not a JWT at all.
    Malformed,
    /// Another HMAC algorithm than the one configured.
    Algorithm,
    /// `none` or an algorithm tacctl does not use: never accepted.
    UnsupportedAlgorithm,
    /// The header carries or points to a key of its own.
    KeyInHeader,
    /// Signed with a key this node does not have.
    UnknownKey,
    /// Signed with a retired key no longer accepted.
    KeyRetired,
    /// The signature does not match.
    Signature,
    /// A claim is missing or of the wrong type.
    Claims,
    /// Expired.
    Expired,
    /// Not valid yet.
    NotYetValid,
    /// Issued for another cluster.
    Issuer,
}

impl Check {
    /// Every check, for documentation and tests.
    pub const ALL: [Check; 11] = [
        Check::Malformed,
        Check::Algorithm,
        Check::UnsupportedAlgorithm,
        Check::KeyInHeader,
        Check::UnknownKey,
        Check::KeyRetired,
        Check::Signature,
        Check::Claims,
        Check::Expired,
        Check::NotYetValid,
        Check::Issuer,
    ];

    /// The code as sent: `unknown_key`, `expired`, ...
    pub fn code(self) -> &'static str {
        match self {
            Check::Malformed => "malformed",
            Check::Algorithm => "algorithm",
            Check::UnsupportedAlgorithm => "unsupported_algorithm",
            Check::KeyInHeader => "key_in_header",
            Check::UnknownKey => "unknown_key",
            Check::KeyRetired => "key_retired",
            Check::Signature => "signature",
            Check::Claims => "claims",
            Check::Expired => "expired",
            Check::NotYetValid => "not_yet_valid",
            Check::Issuer => "issuer",
        }
    }
}

impl VerifyError {
    /// The check that refused the token.
    pub fn check(&self) -> Check {
        match self {
            VerifyError::Malformed(_) => Check::Malformed,
            VerifyError::AlgNone | VerifyError::UnsupportedAlgorithm(..) => {
                Check::UnsupportedAlgorithm
            }
            VerifyError::KeyInHeader(_) => Check::KeyInHeader,
            VerifyError::WrongAlgorithm { .. } => Check::Algorithm,
            VerifyError::UnknownKey { .. } => Check::UnknownKey,
            VerifyError::KeyRetired { .. } => Check::KeyRetired,
            VerifyError::BadSignature => Check::Signature,
            VerifyError::Claims(_) => Check::Claims,
            VerifyError::Expired { .. } => Check::Expired,
            VerifyError::NotYetValid { .. } => Check::NotYetValid,
            VerifyError::WrongIssuer { .. } => Check::Issuer,
        }
    }
}

/// Why a refresh was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RefreshError {
    /// The user no longer exists.
    #[error("refresh refused: user {0:?} no longer exists; log in with other credentials")]
    UserGone(String),
    /// The user has lost API access.
    #[error("refresh refused: user {0:?} no longer has API access")]
    NoApiAccess(String),
    /// The session has reached the max session length.
    #[error(
        "refresh refused: the session began at {auth_time} and has reached the maximum session length of {max_session} s; log in again with your credentials"
    )]
    SessionTooOld {
        /// When the session began.
        auth_time: u64,
        /// The configured maximum, seconds.
        max_session: u64,
    },
}

/// The state of a token's subject at refresh time, as the user store sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject<'a> {
    /// The user exists and may use the API, with this current role.
    Active {
        /// The user's role now.
        role: &'a str,
    },
    /// The user exists but lost API access.
    NoApiAccess,
    /// The user was removed.
    Gone,
}

/// The registered claims checked on every token, whatever else it carries.
#[derive(Deserialize)]
struct Registered {
    exp: Option<serde_json::Value>,
    nbf: Option<serde_json::Value>,
    iss: Option<serde_json::Value>,
}

/// Installs jsonwebtoken's RustCrypto provider, the only backend built in,
/// and checks that it is the one in force. Call once at start.
pub fn ensure_provider() -> Result<(), &'static str> {
    let ours = &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
    match ours.install_default() {
        Ok(()) => Ok(()),
        Err(installed) if std::ptr::eq(installed, ours) => Ok(()),
        Err(_) => {
            Err("another jsonwebtoken crypto provider is installed; tacctl only uses RustCrypto")
        }
    }
}

/// New claims for a fresh login.
pub fn claims_for_login(grant: &Grant<'_>, policy: &Policy) -> Claims {
    Claims {
        sub: grant.subject.to_owned(),
        role: grant.role.to_owned(),
        iss: policy.issuer.clone(),
        iat: grant.now,
        nbf: grant.now,
        exp: grant.now.saturating_add(policy.lifetime),
        jti: grant.jti.clone(),
        sid: grant.sid.clone(),
        auth_time: grant.now,
    }
}

/// Signs `claims` with the key set's active key under the policy's algorithm.
pub fn sign(claims: &Claims, keys: &KeySet, algorithm: Algorithm) -> Result<String, IssueError> {
    let key = keys.active();
    algorithm.check_key(key.key_type(), key.len())?;
    let mut header = jsonwebtoken::Header::new(algorithm.to_jwt());
    header.kid = Some(key.kid().to_owned());
    header.typ = Some(TOKEN_TYPE.to_owned());
    if let Some(encoding) = key.encoding() {
        return jsonwebtoken::encode(&header, claims, encoding)
            .map_err(|e| IssueError::Sign(e.to_string()));
    }
    // A key pair: the same JWS, signed by ring.
    let head = serde_json::to_vec(&header).map_err(|e| IssueError::Sign(e.to_string()))?;
    let body = serde_json::to_vec(claims).map_err(|e| IssueError::Sign(e.to_string()))?;
    let mut token = URL_SAFE_NO_PAD.encode(head);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(body));
    let signature = key
        .sign_pair(algorithm, token.as_bytes())
        .ok_or_else(|| IssueError::Sign("the key pair could not sign".into()))?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(token)
}

/// Issues a token for a login: claims from the grant, signed with the active key.
pub fn issue(
    grant: &Grant<'_>,
    keys: &KeySet,
    policy: &Policy,
) -> Result<(String, Claims), IssueError> {
    let claims = claims_for_login(grant, policy);
    let token = sign(&claims, keys, policy.algorithm)?;
    Ok((token, claims))
}

/// Verifies an appliance token: algorithm pinned, key chosen by `kid`,
/// signature, required claims, `exp` and `nbf` with leeway, `iss`.
pub fn verify(
    token: &str,
    keys: &KeySet,
    policy: &Policy,
    now: u64,
) -> Result<Claims, VerifyError> {
    let claims: Claims = decode_checked(token, keys, policy.algorithm, now)?;
    check_times(Some(claims.exp), Some(claims.nbf), now, policy.leeway)?;
    check_issuer(&claims.iss, &policy.issuer)?;
    Ok(claims)
}

/// Verifies a token that need not carry the appliance's own claims: the same
/// algorithm, key and signature checks, then `exp` (required), `nbf` (when
/// present) and `iss` (required, equal to the policy's issuer). Returns the
/// whole claims object.
pub fn verify_registered(
    token: &str,
    keys: &KeySet,
    policy: &Policy,
    now: u64,
) -> Result<serde_json::Map<String, serde_json::Value>, VerifyError> {
    let claims: serde_json::Map<String, serde_json::Value> =
        decode_checked(token, keys, policy.algorithm, now)?;
    let reg: Registered = serde_json::from_value(serde_json::Value::Object(claims.clone()))
        .map_err(|e| VerifyError::Claims(e.to_string()))?;
    let exp = numeric("exp", reg.exp.as_ref())?
        .ok_or_else(|| VerifyError::Claims("missing claim `exp`".into()))?;
    let nbf = numeric("nbf", reg.nbf.as_ref())?;
    check_times(Some(exp), nbf, now, policy.leeway)?;
    match reg.iss {
        Some(serde_json::Value::String(iss)) => check_issuer(&iss, &policy.issuer)?,
        Some(_) => return Err(VerifyError::Claims("claim `iss` is not a string".into())),
        None => return Err(VerifyError::Claims("missing claim `iss`".into())),
    }
    Ok(claims)
}

fn numeric(name: &str, v: Option<&serde_json::Value>) -> Result<Option<u64>, VerifyError> {
    match v {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .map(Some)
            .ok_or_else(|| VerifyError::Claims(format!("claim `{name}` is not a NumericDate"))),
    }
}

/// Header checks, key choice and signature; then the claims as `T`.
///
/// The token is split and each part decoded once: the header is recognised
/// when it is exactly the one [`sign`] writes and otherwise parsed once into a
/// borrowed struct (no second parse by jsonwebtoken, no flattened map of
/// extras), the HMAC is checked by jsonwebtoken's provider through
/// [`jsonwebtoken::crypto::verify`], and the payload is deserialised once,
/// straight into `T`, only after the signature matched.
fn decode_checked<T: serde::de::DeserializeOwned>(
    token: &str,
    keys: &KeySet,
    algorithm: Algorithm,
    now: u64,
) -> Result<T, VerifyError> {
    use std::borrow::Cow;

    /// The JWS header (RFC 7515 section 4.1), typed as jsonwebtoken's
    /// `Header` types it, so a header it would refuse is refused here too.
    #[derive(Deserialize)]
    #[allow(
        dead_code,
        reason = "fields other than alg, kid, b64 and crit are only type-checked"
    )]
    struct JwsHeader<'a> {
        #[serde(borrow)]
        alg: Cow<'a, str>,
        #[serde(default, borrow)]
        kid: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        typ: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        cty: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        jku: Option<Cow<'a, str>>,
        #[serde(default)]
        jwk: Option<Box<jsonwebtoken::jwk::Jwk>>,
        #[serde(default, borrow)]
        x5u: Option<Cow<'a, str>>,
        #[serde(default)]
        x5c: Option<Vec<String>>,
        #[serde(default, borrow)]
        x5t: Option<Cow<'a, str>>,
        #[serde(default, borrow, rename = "x5t#S256")]
        x5t_s256: Option<Cow<'a, str>>,
        #[serde(default)]
        crit: Option<Vec<String>>,
        #[serde(default, borrow)]
        enc: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        zip: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        url: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        nonce: Option<Cow<'a, str>>,
        /// RFC 7797: present means it must be a boolean (`null` included).
        #[serde(default, deserialize_with = "present")]
        b64: Option<bool>,
    }

    fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        bool::deserialize(d).map(Some)
    }

    /// The header [`sign`] writes, `{"typ":"JWT","alg":"<alg>","kid":"<kid>"}`
    /// with the pinned `alg` and a base64url `kid`, recognised byte for byte.
    /// For exactly these bytes the full parse below finds the same `alg` and
    /// `kid` and no other member, so every check comes out the same; any
    /// other header, however slight the difference, takes the full parse.
    fn own_header(json: &[u8], algorithm: Algorithm) -> Option<&str> {
        let kid = json
            .strip_prefix(br#"{"typ":"JWT","alg":""#)?
            .strip_prefix(algorithm.as_str().as_bytes())?
            .strip_prefix(br#"","kid":""#)?
            .strip_suffix(br#""}"#)?;
        kid.iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
            .then(|| std::str::from_utf8(kid).ok())
            .flatten()
    }

    let malformed = || VerifyError::Malformed("a token has three dot-separated parts".into());
    let (header_b64, rest) = token.split_once('.').ok_or_else(malformed)?;
    let (payload_b64, signature_b64) = rest.rsplit_once('.').ok_or_else(malformed)?;
    if payload_b64.contains('.') {
        return Err(malformed());
    }
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];

    // Header and (once the signature matched) payload are decoded into one
    // buffer, sized for both up front: one allocation per token.
    let mut decoded = Vec::with_capacity((header_b64.len() + payload_b64.len()) / 4 * 3 + 3);
    URL_SAFE_NO_PAD
        .decode_vec(header_b64, &mut decoded)
        .map_err(|_| VerifyError::Malformed("the header is not base64url".into()))?;
    let header_len = decoded.len();
    let (verifier, algorithm) = if let Some(kid) = own_header(&decoded, algorithm) {
        keys.verifier(Some(kid), algorithm.as_str(), algorithm, now)?
    } else {
        let header: JwsHeader<'_> = serde_json::from_slice(&decoded)
            .map_err(|e| VerifyError::Malformed(format!("the header is not a JWS header: {e}")))?;
        if header.alg.eq_ignore_ascii_case("none") {
            return Err(VerifyError::AlgNone);
        }
        if !Algorithm::ALL.iter().any(|a| a.as_str() == header.alg) {
            let got = header.alg.into_owned();
            return Err(if got.starts_with("HS") {
                VerifyError::WrongAlgorithm {
                    got,
                    expected: algorithm,
                }
            } else {
                VerifyError::UnsupportedAlgorithm(got, algorithm)
            });
        }
        // Keys named or carried by the token itself are never fetched and
        // never trusted (RFC 8725 section 3.10): the key is this node's.
        for (name, present) in [
            ("jku", header.jku.is_some()),
            ("jwk", header.jwk.is_some()),
            ("x5u", header.x5u.is_some()),
            ("x5c", header.x5c.is_some()),
        ] {
            if present {
                return Err(VerifyError::KeyInHeader(name));
            }
        }
        // The key, and the algorithm it verifies under: the one configured,
        // or the one a retired or trusted key signs with.
        let chosen = keys.verifier(header.kid.as_deref(), &header.alg, algorithm, now)?;
        // The same rules as jsonwebtoken's header check: an unencoded payload
        // (`b64: false`) is refused, and `crit` may only name `b64`, once,
        // with `b64` present.
        if header.b64 == Some(false) {
            return Err(VerifyError::Malformed(
                "unencoded payloads (b64: false) are not accepted".into(),
            ));
        }
        if let Some(crit) = &header.crit
            && (crit.len() != 1 || crit[0] != "b64" || header.b64.is_none())
        {
            return Err(VerifyError::Malformed(
                "the header lists critical parameters this appliance does not understand".into(),
            ));
        }
        chosen
    };

    match verifier {
        key::Verifier::Hmac(decoding) => {
            match jsonwebtoken::crypto::verify(
                signature_b64,
                signing_input.as_bytes(),
                decoding,
                algorithm.to_jwt(),
            ) {
                Ok(true) => {}
                Ok(false) => return Err(VerifyError::BadSignature),
                Err(e) => return Err(VerifyError::Malformed(e.to_string())),
            }
        }
        key::Verifier::Public(public) => {
            let signature = URL_SAFE_NO_PAD
                .decode(signature_b64)
                .map_err(|_| VerifyError::Malformed("the signature is not base64url".into()))?;
            if !public.verifies(algorithm, signing_input.as_bytes(), &signature) {
                return Err(VerifyError::BadSignature);
            }
        }
    }

    URL_SAFE_NO_PAD
        .decode_vec(payload_b64, &mut decoded)
        .map_err(|e| VerifyError::Malformed(e.to_string()))?;
    serde_json::from_slice(&decoded[header_len..]).map_err(|e| VerifyError::Claims(e.to_string()))
}

fn check_times(
    exp: Option<u64>,
    nbf: Option<u64>,
    now: u64,
    leeway: u64,
) -> Result<(), VerifyError> {
    if let Some(exp) = exp
        && now > exp.saturating_add(leeway)
    {
        return Err(VerifyError::Expired {
            exp,
            ago: now - exp,
        });
    }
    if let Some(nbf) = nbf
        && now.saturating_add(leeway) < nbf
    {
        return Err(VerifyError::NotYetValid {
            nbf,
            ahead: nbf - now,
        });
    }
    Ok(())
}

fn check_issuer(got: &str, expected: &str) -> Result<(), VerifyError> {
    if got != expected {
        return Err(VerifyError::WrongIssuer {
            got: got.to_owned(),
            expected: expected.to_owned(),
        });
    }
    Ok(())
}

/// The claims of the token that replaces `old` (already verified) at `now`.
///
/// The new token keeps `sid` and `auth_time`, gets a fresh `jti`, `iat`,
/// `nbf` and `exp`, and takes the subject's current role. Its `exp` never
/// passes `auth_time + max_session`: refreshing cannot stretch a session
/// beyond the maximum.
pub fn refresh_claims(
    old: &Claims,
    subject: Subject<'_>,
    policy: &Policy,
    jti: String,
    now: u64,
) -> Result<Claims, RefreshError> {
    let role = match subject {
        Subject::Active { role } => role,
        Subject::NoApiAccess => return Err(RefreshError::NoApiAccess(old.sub.clone())),
        Subject::Gone => return Err(RefreshError::UserGone(old.sub.clone())),
    };
    let session_end = old.auth_time.saturating_add(policy.max_session);
    if now >= session_end {
        return Err(RefreshError::SessionTooOld {
            auth_time: old.auth_time,
            max_session: policy.max_session,
        });
    }
    Ok(Claims {
        sub: old.sub.clone(),
        role: role.to_owned(),
        iss: policy.issuer.clone(),
        iat: now,
        nbf: now,
        exp: now.saturating_add(policy.lifetime).min(session_end),
        jti,
        sid: old.sid.clone(),
        auth_time: old.auth_time,
    })
}

/// Shortens a key id for tables and sentences: its first 8 characters and
/// an ellipsis. JSON output always carries the whole id.
pub fn short_kid(kid: &str) -> String {
    match kid.char_indices().nth(8) {
        Some((i, _)) => format!("{}…", &kid[..i]),
        None => kid.to_owned(),
    }
}

#[cfg(test)]
mod tests;
