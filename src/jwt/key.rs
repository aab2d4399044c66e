//! The keys tokens are signed and verified with, and the key set a node
//! verifies with.
//!
//! A [`JwtKey`] is either an HMAC secret (HS256/384/512) or a private key
//! of a key pair: RSA (RS256/384/512, PS256/384/512), ECDSA on P-256 or
//! P-384 (ES256, ES384), or Ed25519 (EdDSA). The secret, or the private
//! key's PKCS#8 encoding, sits in a zeroizing [`SecretSlice`]; the signing
//! and verifying objects are built from it once, so the hot verify path
//! parses nothing. Its `kid` names it without revealing it: for a secret,
//! a domain-separated SHA-256 of the secret, truncated; for a key pair, the
//! RFC 7638 thumbprint of its public JWK. A [`PublicKey`] is the public
//! half alone, which verifies only: a key pair's, or another cluster
//! member's from its JWKS. A [`KeySet`] is the active key plus retired keys
//! and trusted public keys still accepted for verification, each until a
//! deadline and under its own algorithm.
//!
//! Signing and verifying with key pairs go through ring (RFC 7518 section
//! 3.3 to 3.5, RFC 8037); HMAC through jsonwebtoken's RustCrypto provider.
//! Generating RSA keys uses the rsa crate, since ring has no RSA key
//! generation; reading PKCS#1 and SEC1 private keys, the rsa, p256 and p384
//! crates, which re-encode them as PKCS#8.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::signature::{self as sig, KeyPair as _};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};

use super::{Algorithm, KeyError, KeyType, VerifyError};

/// Domain separation for key fingerprints, so a `kid` is never a plain hash of the secret.
const KID_LABEL: &[u8] = b"tacctl/jwt-kid/v1\0";
/// Bytes of the SHA-256 fingerprint kept in a `kid` (128 bits, 22 base64url characters).
const KID_BYTES: usize = 16;

/// The RSA key sizes `generate` makes, and the default.
pub const RSA_BITS: [usize; 3] = [2048, 3072, 4096];
/// The RSA key size a new key pair has unless told otherwise.
pub const DEFAULT_RSA_BITS: usize = 3072;
/// The smallest RSA modulus accepted (NIST SP 800-131A; ring's minimum too).
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted.
pub const MAX_RSA_BITS: usize = 8192;

/// What signs a key pair's tokens.
enum Signer {
    Rsa(sig::RsaKeyPair),
    Ecdsa(sig::EcdsaKeyPair),
    Ed25519(sig::Ed25519KeyPair),
}

/// What a key verifies with.
enum Material {
    /// An HMAC secret's jsonwebtoken keys.
    Hmac {
        encoding: EncodingKey,
        decoding: DecodingKey,
    },
    /// A key pair: its signer and its public half (boxed: ring's key
    /// pairs are large, HMAC keys the common case).
    Pair {
        signer: Box<Signer>,
        public: PublicKey,
    },
}

/// One signing key with its fingerprint: an HMAC secret or a private key.
pub struct JwtKey {
    kid: String,
    key_type: KeyType,
    /// The HMAC secret, or the private key's PKCS#8 DER.
    secret: SecretSlice<u8>,
    material: Material,
}

/// The public half of a key pair, which verifies only.
#[derive(Clone)]
pub struct PublicKey {
    kid: String,
    key_type: KeyType,
    /// The key as ring verifies with it: PKCS#1 `RSAPublicKey` DER, an
    /// uncompressed SEC1 point, or 32 raw Ed25519 bytes.
    bytes: Vec<u8>,
    /// The JWK members of the key itself (`kty`, `n`/`e`, `crv`/`x`/`y`).
    jwk: serde_json::Map<String, serde_json::Value>,
}

fn rng() -> ring::rand::SystemRandom {
    ring::rand::SystemRandom::new()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl PublicKey {
    fn new(key_type: KeyType, bytes: Vec<u8>) -> Result<Self, KeyError> {
        let mut jwk = serde_json::Map::new();
        let s = |v: &str| serde_json::Value::String(v.to_owned());
        match key_type {
            KeyType::Rsa { .. } => {
                let (n, e) = rsa_components(&bytes).ok_or(KeyError::Malformed(
                    "the RSA public key does not parse".into(),
                ))?;
                jwk.insert("kty".into(), s("RSA"));
                jwk.insert("n".into(), s(&b64(&n)));
                jwk.insert("e".into(), s(&b64(&e)));
            }
            KeyType::P256 | KeyType::P384 => {
                let half = (bytes.len().saturating_sub(1)) / 2;
                if bytes.first() != Some(&4) || bytes.len() != 1 + 2 * half {
                    return Err(KeyError::Malformed(
                        "the EC public key is not an uncompressed point".into(),
                    ));
                }
                jwk.insert("kty".into(), s("EC"));
                jwk.insert(
                    "crv".into(),
                    s(if key_type == KeyType::P256 {
                        "P-256"
                    } else {
                        "P-384"
                    }),
                );
                jwk.insert("x".into(), s(&b64(&bytes[1..1 + half])));
                jwk.insert("y".into(), s(&b64(&bytes[1 + half..])));
            }
            KeyType::Ed25519 => {
                jwk.insert("kty".into(), s("OKP"));
                jwk.insert("crv".into(), s("Ed25519"));
                jwk.insert("x".into(), s(&b64(&bytes)));
            }
            KeyType::Hmac => {
                return Err(KeyError::Malformed(
                    "an HMAC secret has no public key".into(),
                ));
            }
        }
        let kid = thumbprint(&jwk);
        Ok(Self {
            kid,
            key_type,
            bytes,
            jwk,
        })
    }

    /// A public key from a JWK (RFC 7517) as a JWKS serves it, for
    /// verification only. Refused: a JWK with any private member (`d`,
    /// `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`), another key type than
    /// `algorithm` needs, a `kid` that is not the key's thumbprint, or a
    /// `use` other than `sig`.
    pub fn from_jwk(
        jwk: &serde_json::Map<String, serde_json::Value>,
        algorithm: Algorithm,
    ) -> Result<Self, KeyError> {
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            if jwk.contains_key(private) {
                return Err(KeyError::Malformed(format!(
                    "the JWK holds the private member {private:?}; only public keys are accepted"
                )));
            }
        }
        let get = |name: &str| -> Result<Vec<u8>, KeyError> {
            jwk.get(name)
                .and_then(|v| v.as_str())
                .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
                .ok_or_else(|| KeyError::Malformed(format!("the JWK has no base64url {name:?}")))
        };
        let text = |name: &str| jwk.get(name).and_then(|v| v.as_str()).unwrap_or("");
        if let Some(u) = jwk.get("use")
            && u.as_str() != Some("sig")
        {
            return Err(KeyError::Malformed(format!(
                "the JWK is for use {u}, not sig"
            )));
        }
        let bytes = match (algorithm.key_type(), text("kty"), text("crv")) {
            (KeyType::Rsa { .. }, "RSA", _) => rsa_public_der(&get("n")?, &get("e")?),
            (KeyType::P256, "EC", "P-256") | (KeyType::P384, "EC", "P-384") => {
                let (x, y) = (get("x")?, get("y")?);
                let len = if text("crv") == "P-256" { 32 } else { 48 };
                if x.len() != len || y.len() != len {
                    return Err(KeyError::Malformed(
                        "the JWK's coordinates are not of its curve's length".into(),
                    ));
                }
                [&[4u8][..], &x, &y].concat()
            }
            (KeyType::Ed25519, "OKP", "Ed25519") => get("x")?,
            (want, kty, crv) => {
                return Err(KeyError::WrongKeyType {
                    algorithm,
                    found: format!("a JWK of kty {kty:?} {crv}").trim().to_owned(),
                    wanted: want,
                });
            }
        };
        let key_type = match algorithm.key_type() {
            KeyType::Rsa { .. } => KeyType::Rsa {
                bits: rsa_bits(&bytes).unwrap_or(0),
            },
            k => k,
        };
        if let KeyType::Rsa { bits } = key_type
            && !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits)
        {
            return Err(KeyError::RsaSize(bits));
        }
        let key = Self::new(key_type, bytes)?;
        if let Some(kid) = jwk.get("kid").and_then(|v| v.as_str())
            && kid != key.kid
        {
            return Err(KeyError::Malformed(format!(
                "the JWK's kid {kid:?} is not its thumbprint {}",
                key.kid
            )));
        }
        Ok(key)
    }

    /// The key id: the RFC 7638 thumbprint of its JWK.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Its type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// Its JWK for a JWKS: the key's members, `kid`, `alg` and `use: sig`.
    pub fn jwk(&self, algorithm: Algorithm) -> serde_json::Value {
        let mut jwk = self.jwk.clone();
        jwk.insert("kid".into(), self.kid.clone().into());
        jwk.insert("alg".into(), algorithm.as_str().into());
        jwk.insert("use".into(), "sig".into());
        serde_json::Value::Object(jwk)
    }

    /// Whether `signature` signs `message` under `algorithm`, which the
    /// caller has matched to this key's type.
    pub(crate) fn verifies(&self, algorithm: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        let alg: &dyn sig::VerificationAlgorithm = match algorithm {
            Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
            Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
            Algorithm::EdDSA => &sig::ED25519,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => return false,
        };
        sig::UnparsedPublicKey::new(alg, &self.bytes)
            .verify(message, signature)
            .is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("key_type", &self.key_type)
            .finish()
    }
}

/// The RFC 7638 thumbprint of a JWK's required members: SHA-256 of their
/// JSON with the members in lexicographic order and no whitespace,
/// base64url without padding (43 characters).
fn thumbprint(jwk: &serde_json::Map<String, serde_json::Value>) -> String {
    let required: &[&str] = match jwk.get("kty").and_then(|v| v.as_str()) {
        Some("RSA") => &["e", "kty", "n"],
        Some("EC") => &["crv", "kty", "x", "y"],
        _ => &["crv", "kty", "x"],
    };
    let mut canonical = String::from("{");
    for (i, name) in required.iter().enumerate() {
        if i > 0 {
            canonical.push(',');
        }
        let value = jwk.get(*name).and_then(|v| v.as_str()).unwrap_or("");
        canonical.push_str(&format!("{:?}:{:?}", name, value));
    }
    canonical.push('}');
    b64(&Sha256::digest(canonical.as_bytes()))
}

/// The modulus and exponent of a PKCS#1 `RSAPublicKey`, big-endian
/// without leading zeros.
fn rsa_components(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::traits::PublicKeyParts;
    let key = rsa::PublicKey::from_pkcs1_der(der).ok()?;
    Some((
        key.n().to_be_bytes_trimmed_vartime().to_vec(),
        key.e().to_be_bytes_trimmed_vartime().to_vec(),
    ))
}

/// The bits of a PKCS#1 `RSAPublicKey`'s modulus.
fn rsa_bits(der: &[u8]) -> Option<usize> {
    let (n, _) = rsa_components(der)?;
    let lead = *n.first()?;
    Some(n.len() * 8 - lead.leading_zeros() as usize)
}

/// A PKCS#1 `RSAPublicKey` of modulus `n` and exponent `e`.
fn rsa_public_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn integer(bytes: &[u8]) -> Vec<u8> {
        let trimmed = {
            let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
            &bytes[start..]
        };
        let mut body = Vec::with_capacity(trimmed.len() + 1);
        if trimmed.first().is_some_and(|b| b & 0x80 != 0) || trimmed.is_empty() {
            body.push(0);
        }
        body.extend_from_slice(trimmed);
        der_tlv(0x02, &body)
    }
    der_tlv(0x30, &[integer(n), integer(e)].concat())
}

fn der_tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(body);
    out
}

impl JwtKey {
    /// Takes ownership of an HMAC secret; the vector is moved into a
    /// zeroizing box. An empty secret is refused.
    pub fn from_secret(secret: Vec<u8>) -> Result<Self, KeyError> {
        let secret = SecretSlice::from(secret);
        let bytes = secret.expose_secret();
        let (Ok(encoding), Ok(decoding)) = (
            EncodingKey::from_secret(bytes),
            DecodingKey::from_secret(bytes),
        ) else {
            return Err(KeyError::Empty);
        };
        Ok(Self {
            kid: fingerprint(bytes),
            key_type: KeyType::Hmac,
            secret,
            material: Material::Hmac { encoding, decoding },
        })
    }

    /// A private key of `algorithm`'s type from its PKCS#8 DER (RFC 5208;
    /// for Ed25519 RFC 8410, v1 or v2), checked: an RSA modulus of 2,048 to
    /// 8,192 bits, the curve `algorithm` names.
    pub fn from_pkcs8(der: Vec<u8>, algorithm: Algorithm) -> Result<Self, KeyError> {
        let der = SecretSlice::from(der);
        let bytes = der.expose_secret();
        let wrong = |found: &str| KeyError::WrongKeyType {
            algorithm,
            found: found.to_owned(),
            wanted: algorithm.key_type(),
        };
        let (signer, key_type, public) = match algorithm.key_type() {
            KeyType::Hmac => return Err(KeyError::NotAKeyPair(algorithm)),
            KeyType::Rsa { .. } => {
                let pair = sig::RsaKeyPair::from_pkcs8(bytes).map_err(|e| {
                    let bits = rsa_private_bits(bytes);
                    match bits {
                        Some(b) if b < MIN_RSA_BITS => KeyError::RsaSize(b),
                        Some(_) => KeyError::Malformed(format!("the RSA key is refused ({e})")),
                        None => wrong(&describe_pkcs8(bytes)),
                    }
                })?;
                let public = pair.public().as_ref().to_vec();
                let bits = rsa_bits(&public).unwrap_or(pair.public().modulus_len() * 8);
                if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                    return Err(KeyError::RsaSize(bits));
                }
                (Signer::Rsa(pair), KeyType::Rsa { bits }, public)
            }
            k @ (KeyType::P256 | KeyType::P384) => {
                let alg = if k == KeyType::P256 {
                    &sig::ECDSA_P256_SHA256_FIXED_SIGNING
                } else {
                    &sig::ECDSA_P384_SHA384_FIXED_SIGNING
                };
                let pair = sig::EcdsaKeyPair::from_pkcs8(alg, bytes, &rng())
                    .map_err(|_| wrong(&describe_pkcs8(bytes)))?;
                let public = pair.public_key().as_ref().to_vec();
                (Signer::Ecdsa(pair), k, public)
            }
            KeyType::Ed25519 => {
                let pair = sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes)
                    .map_err(|_| wrong(&describe_pkcs8(bytes)))?;
                let public = pair.public_key().as_ref().to_vec();
                (Signer::Ed25519(pair), KeyType::Ed25519, public)
            }
        };
        let public = PublicKey::new(key_type, public)?;
        Ok(Self {
            kid: public.kid.clone(),
            key_type,
            secret: der,
            material: Material::Pair {
                signer: Box::new(signer),
                public,
            },
        })
    }

    /// The key as it is stored (sealed) or carried in a bundle: an HMAC
    /// secret for an HMAC algorithm, else a PKCS#8 private key.
    pub fn from_stored(bytes: Vec<u8>, algorithm: Algorithm) -> Result<Self, KeyError> {
        if algorithm.key_type() == KeyType::Hmac {
            Self::from_secret(bytes)
        } else {
            Self::from_pkcs8(bytes, algorithm)
        }
    }

    /// A private key from a PEM file: PKCS#8 (`PRIVATE KEY`), PKCS#1
    /// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`), checked as
    /// [`JwtKey::from_pkcs8`] checks it. Encrypted keys are refused.
    pub fn from_pem(text: &[u8], algorithm: Algorithm) -> Result<Self, KeyError> {
        let text = std::str::from_utf8(text)
            .map_err(|_| KeyError::Malformed("the key file is not PEM text".into()))?;
        let block = pem::parse(text)
            .map_err(|_| KeyError::Malformed("the key file holds no PEM block".into()))?;
        let der = zeroize::Zeroizing::new(block.contents().to_vec());
        let pkcs8: Vec<u8> = match block.tag() {
            "PRIVATE KEY" => der.to_vec(),
            "RSA PRIVATE KEY" => {
                use rsa::pkcs1::DecodeRsaPrivateKey;
                use rsa::pkcs8::EncodePrivateKey;
                let key = rsa::PrivateKey::from_pkcs1_der(&der).map_err(|_| {
                    KeyError::Malformed("the RSA PRIVATE KEY does not parse".into())
                })?;
                key.to_pkcs8_der()
                    .map_err(|_| KeyError::Malformed("the RSA key cannot be re-encoded".into()))?
                    .as_bytes()
                    .to_vec()
            }
            "EC PRIVATE KEY" => {
                use p256::pkcs8::EncodePrivateKey;
                let p256 = p256::SecretKey::from_sec1_der(&der).ok();
                let p384 = p384::SecretKey::from_sec1_der(&der).ok();
                let encoded = match (p256, p384, algorithm.key_type()) {
                    (Some(k), _, KeyType::P256) => k.to_pkcs8_der(),
                    (_, Some(k), KeyType::P384) => k.to_pkcs8_der(),
                    (Some(_), _, _) => {
                        return Err(KeyError::WrongKeyType {
                            algorithm,
                            found: "an EC key on P-256".into(),
                            wanted: algorithm.key_type(),
                        });
                    }
                    (_, Some(_), _) => {
                        return Err(KeyError::WrongKeyType {
                            algorithm,
                            found: "an EC key on P-384".into(),
                            wanted: algorithm.key_type(),
                        });
                    }
                    _ => {
                        return Err(KeyError::Malformed(
                            "the EC PRIVATE KEY does not parse, or is on a curve tacctl does not use (P-256 and P-384 only)".into(),
                        ));
                    }
                };
                encoded
                    .map_err(|_| KeyError::Malformed("the EC key cannot be re-encoded".into()))?
                    .as_bytes()
                    .to_vec()
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err(KeyError::Malformed(
                    "the private key is encrypted; decrypt it first (openssl pkey -in F -out G)"
                        .into(),
                ));
            }
            other => {
                return Err(KeyError::Malformed(format!(
                    "the PEM block is a {other:?}, not a private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
                )));
            }
        };
        Self::from_pkcs8(pkcs8, algorithm)
    }

    /// A new key pair for `algorithm`: RSA of `rsa_bits` (2,048, 3,072 or
    /// 4,096; 3,072 when `None`), or a P-256, P-384 or Ed25519 key.
    pub fn generate(algorithm: Algorithm, rsa_bits: Option<usize>) -> Result<Self, KeyError> {
        let der = match algorithm.key_type() {
            KeyType::Hmac => return Err(KeyError::NotAKeyPair(algorithm)),
            KeyType::Rsa { .. } => {
                use rsa::pkcs8::EncodePrivateKey;
                let bits = rsa_bits.unwrap_or(DEFAULT_RSA_BITS);
                if !RSA_BITS.contains(&bits) {
                    return Err(KeyError::RsaSize(bits));
                }
                let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits).map_err(|e| {
                    KeyError::Malformed(format!("generating an RSA key failed: {e}"))
                })?;
                key.to_pkcs8_der()
                    .map_err(|e| KeyError::Malformed(format!("encoding the RSA key failed: {e}")))?
                    .as_bytes()
                    .to_vec()
            }
            k @ (KeyType::P256 | KeyType::P384) => {
                let alg = if k == KeyType::P256 {
                    &sig::ECDSA_P256_SHA256_FIXED_SIGNING
                } else {
                    &sig::ECDSA_P384_SHA384_FIXED_SIGNING
                };
                sig::EcdsaKeyPair::generate_pkcs8(alg, &rng())
                    .map_err(|_| KeyError::Malformed("generating an EC key failed".into()))?
                    .as_ref()
                    .to_vec()
            }
            KeyType::Ed25519 => sig::Ed25519KeyPair::generate_pkcs8(&rng())
                .map_err(|_| KeyError::Malformed("generating an Ed25519 key failed".into()))?
                .as_ref()
                .to_vec(),
        };
        Self::from_pkcs8(der, algorithm)
    }

    /// The key id: a fingerprint, safe to show and to put in headers.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Its type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// Length of an HMAC secret in bytes; 0 for a key pair.
    pub fn len(&self) -> usize {
        match self.material {
            Material::Hmac { .. } => self.secret.expose_secret().len(),
            Material::Pair { .. } => 0,
        }
    }

    /// Whether it is an HMAC secret of no bytes (never true for a key that
    /// was built).
    pub fn is_empty(&self) -> bool {
        matches!(self.material, Material::Hmac { .. }) && self.len() == 0
    }

    /// The raw secret or the private key's PKCS#8 DER, for sealing under a
    /// master key and for an encrypted bundle. Callers must not log or
    /// print it.
    pub fn expose_secret(&self) -> &[u8] {
        self.secret.expose_secret()
    }

    /// The public half of a key pair; `None` for an HMAC secret.
    pub fn public(&self) -> Option<&PublicKey> {
        match &self.material {
            Material::Pair { public, .. } => Some(public),
            Material::Hmac { .. } => None,
        }
    }

    pub(crate) fn encoding(&self) -> Option<&EncodingKey> {
        match &self.material {
            Material::Hmac { encoding, .. } => Some(encoding),
            Material::Pair { .. } => None,
        }
    }

    pub(crate) fn decoding(&self) -> Option<&DecodingKey> {
        match &self.material {
            Material::Hmac { decoding, .. } => Some(decoding),
            Material::Pair { .. } => None,
        }
    }

    /// The signature of `message` under `algorithm`, for a key pair whose
    /// type the caller has matched.
    pub(crate) fn sign_pair(&self, algorithm: Algorithm, message: &[u8]) -> Option<Vec<u8>> {
        let Material::Pair { signer, .. } = &self.material else {
            return None;
        };
        match signer.as_ref() {
            Signer::Rsa(pair) => {
                let padding: &dyn sig::RsaEncoding = match algorithm {
                    Algorithm::RS256 => &sig::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &sig::RSA_PSS_SHA256,
                    Algorithm::PS384 => &sig::RSA_PSS_SHA384,
                    Algorithm::PS512 => &sig::RSA_PSS_SHA512,
                    _ => return None,
                };
                let mut out = vec![0u8; pair.public().modulus_len()];
                pair.sign(padding, &rng(), message, &mut out).ok()?;
                Some(out)
            }
            Signer::Ecdsa(pair) => pair.sign(&rng(), message).ok().map(|s| s.as_ref().to_vec()),
            Signer::Ed25519(pair) => Some(pair.sign(message).as_ref().to_vec()),
        }
    }
}

/// An algorithm that uses keys of type `k`: what a key of that type is
/// rebuilt under.
fn any_algorithm(k: KeyType) -> Algorithm {
    match k {
        KeyType::Hmac => Algorithm::HS256,
        KeyType::Rsa { .. } => Algorithm::RS256,
        KeyType::P256 => Algorithm::ES256,
        KeyType::P384 => Algorithm::ES384,
        KeyType::Ed25519 => Algorithm::EdDSA,
    }
}

/// The bits of a PKCS#8 RSA private key's modulus, when it is one.
fn rsa_private_bits(der: &[u8]) -> Option<usize> {
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::traits::PublicKeyParts;
    let key = rsa::PrivateKey::from_pkcs8_der(der).ok()?;
    Some(key.n().bit_width_vartime() as usize)
}

/// What a PKCS#8 key is, for a message naming a mismatch.
fn describe_pkcs8(der: &[u8]) -> String {
    use p256::pkcs8::DecodePrivateKey;
    if rsa_private_bits(der).is_some() {
        "an RSA key".into()
    } else if p256::SecretKey::from_pkcs8_der(der).is_ok() {
        "an EC key on P-256".into()
    } else if p384::SecretKey::from_pkcs8_der(der).is_ok() {
        "an EC key on P-384".into()
    } else if sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).is_ok() {
        "an Ed25519 key".into()
    } else {
        "not a private key tacctl can use".into()
    }
}

impl Clone for JwtKey {
    fn clone(&self) -> Self {
        let bytes = self.secret.expose_secret().to_vec();
        match self.key_type {
            KeyType::Hmac => Self::from_secret(bytes),
            k => Self::from_pkcs8(bytes, any_algorithm(k)),
        }
        .expect("a key that was built once builds again")
    }
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("key_type", &self.key_type)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

/// The fingerprint (and `kid`) of an HMAC secret: base64url of the first
/// 16 bytes of SHA-256(label || secret).
pub fn fingerprint(secret: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(KID_LABEL);
    hasher.update(secret);
    let digest = hasher.finalize();
    URL_SAFE_NO_PAD.encode(&digest[..KID_BYTES])
}

/// A key that signed tokens in the past and is still accepted until
/// `accept_until`, under the algorithm it signed with.
#[derive(Debug, Clone)]
pub struct RetiredKey {
    /// The key itself.
    pub key: JwtKey,
    /// Unix time after which tokens with this `kid` are refused.
    pub accept_until: u64,
    /// The algorithm its tokens carry, when it is not the one configured
    /// now: the algorithm changed since it signed. The same secret may be
    /// retired under an old algorithm while it signs under the new one.
    pub algorithm: Option<Algorithm>,
}

/// Another node's public key this node accepts tokens of, under its
/// algorithm: a member of a cluster whose members keep their own key
/// pairs (trust only).
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The key.
    pub key: PublicKey,
    /// The algorithm its tokens carry.
    pub algorithm: Algorithm,
    /// Unix time after which its tokens are refused; `None`: as long as it
    /// is trusted.
    pub accept_until: Option<u64>,
}

/// The keys a node accepts: one active key that signs, retired keys and
/// trusted public keys that only verify.
#[derive(Debug, Clone)]
pub struct KeySet {
    active: JwtKey,
    previous: Vec<RetiredKey>,
    trusted: Vec<TrustedKey>,
}

/// What verifies a token's signature.
pub(crate) enum Verifier<'a> {
    /// An HMAC secret.
    Hmac(&'a DecodingKey),
    /// A public key.
    Public(&'a PublicKey),
}

impl KeySet {
    /// A key set with only an active key.
    pub fn new(active: JwtKey) -> Self {
        Self {
            active,
            previous: Vec::new(),
            trusted: Vec::new(),
        }
    }

    /// A key set with retired keys still accepted for verification.
    pub fn with_previous(active: JwtKey, previous: Vec<RetiredKey>) -> Self {
        Self {
            active,
            previous,
            trusted: Vec::new(),
        }
    }

    /// The same set, also accepting the tokens of `trusted` keys.
    pub fn trusting(mut self, trusted: Vec<TrustedKey>) -> Self {
        self.trusted = trusted;
        self
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> &JwtKey {
        &self.active
    }

    /// Retired keys, whatever their deadline.
    pub fn previous(&self) -> &[RetiredKey] {
        &self.previous
    }

    /// Trusted public keys.
    pub fn trusted(&self) -> &[TrustedKey] {
        &self.trusted
    }

    /// The JWKS (RFC 7517 section 5) of every public key a token may still
    /// be verified with at `now`: the active key's under `configured`, each
    /// retired key's under its algorithm until its deadline, and each
    /// trusted key's. HMAC secrets never appear: with HMAC configured and
    /// no key pair retired or trusted, the set is empty.
    pub fn jwks(&self, configured: Algorithm, now: u64) -> serde_json::Value {
        let mut keys = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut add = |public: Option<&PublicKey>, alg: Algorithm| {
            if let Some(p) = public
                && seen.insert((p.kid.clone(), alg))
            {
                keys.push(p.jwk(alg));
            }
        };
        add(self.active.public(), configured);
        for r in self.previous.iter().filter(|r| now <= r.accept_until) {
            add(r.key.public(), r.algorithm.unwrap_or(configured));
        }
        for t in &self.trusted {
            if t.accept_until.is_none_or(|u| now <= u) {
                add(Some(&t.key), t.algorithm);
            }
        }
        serde_json::json!({ "keys": keys })
    }

    /// What verifies a token naming `kid` and `alg` in its header, at time
    /// `now`, with the algorithm to check it under; `configured` is the
    /// algorithm in force, which the active key signs with.
    ///
    /// A token without `kid` is checked against the active key only: tokens
    /// from clients and appliances that predate key ids stay usable, and the
    /// algorithm pin still applies. A retired or trusted key verifies only
    /// tokens of the algorithm it signs with, until its deadline: an HS256
    /// token naming an RSA key's `kid` is refused for its algorithm before
    /// any key is used.
    pub(crate) fn verifier(
        &self,
        kid: Option<&str>,
        alg: &str,
        configured: Algorithm,
        now: u64,
    ) -> Result<(Verifier<'_>, Algorithm), VerifyError> {
        let wrong = |expected: Algorithm| VerifyError::WrongAlgorithm {
            got: alg.to_owned(),
            expected,
        };
        fn of(key: &JwtKey) -> Verifier<'_> {
            match (key.decoding(), key.public()) {
                (Some(d), _) => Verifier::Hmac(d),
                (None, Some(p)) => Verifier::Public(p),
                (None, None) => unreachable!("a key is an HMAC secret or a key pair"),
            }
        }
        let Some(kid) = kid else {
            return if alg == configured.as_str() {
                Ok((of(&self.active), configured))
            } else {
                Err(wrong(configured))
            };
        };
        if kid == self.active.kid() && alg == configured.as_str() {
            return Ok((of(&self.active), configured));
        }
        let mut retired = None;
        let mut other_algorithm = None;
        for r in self.previous.iter().filter(|r| r.key.kid() == kid) {
            let signed = r.algorithm.unwrap_or(configured);
            if signed.as_str() != alg {
                other_algorithm = Some(signed);
            } else if now <= r.accept_until {
                return Ok((of(&r.key), signed));
            } else {
                retired = Some(r.accept_until);
            }
        }
        for t in self.trusted.iter().filter(|t| t.key.kid() == kid) {
            if t.algorithm.as_str() != alg {
                other_algorithm = Some(t.algorithm);
            } else if t.accept_until.is_none_or(|u| now <= u) {
                return Ok((Verifier::Public(&t.key), t.algorithm));
            } else {
                retired = t.accept_until;
            }
        }
        if let Some(since) = retired {
            return Err(VerifyError::KeyRetired {
                kid: kid.to_owned(),
                since,
            });
        }
        if kid == self.active.kid() {
            return Err(wrong(configured));
        }
        match other_algorithm {
            Some(signed) => Err(wrong(signed)),
            // The algorithm is told first, as it always was: a key this
            // node does not have, under an algorithm it does not use.
            None if alg != configured.as_str() => Err(wrong(configured)),
            None => Err(VerifyError::UnknownKey {
                kid: kid.to_owned(),
            }),
        }
    }

    /// The key that verifies a token naming `kid` and `alg`, with its
    /// algorithm (`KeySet::verifier`), for keys of this node only.
    pub fn select(
        &self,
        kid: Option<&str>,
        alg: &str,
        configured: Algorithm,
        now: u64,
    ) -> Result<(&JwtKey, Algorithm), VerifyError> {
        let (_, algorithm) = self.verifier(kid, alg, configured, now)?;
        let key = match kid {
            None => &self.active,
            Some(k) if k == self.active.kid() && algorithm == configured => &self.active,
            Some(k) => self
                .previous
                .iter()
                .find(|r| r.key.kid() == k && r.algorithm.unwrap_or(configured) == algorithm)
                .map(|r| &r.key)
                .ok_or_else(|| VerifyError::UnknownKey { kid: k.to_owned() })?,
        };
        Ok((key, algorithm))
    }
}
