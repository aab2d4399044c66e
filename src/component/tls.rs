//! `config/tls.yaml`: the API server's certificate and private key (node
//! scope: it goes only into full backups, or with `--include-node-local`).
//! The key is sealed under the node master key; the certificate is public
//! and is named by its fingerprint, `SHA256:` and the unpadded base64 of the
//! SHA-256 of its DER encoding, as SSH names host keys.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Invalid, SecretBase64, Stored};

/// The stored certificate and sealed key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// Format version of this file.
    pub version: u32,
    /// The certificate chain, PEM, leaf first.
    pub cert_pem: String,
    /// The private key PEM, sealed under the node master key (`v1.`...).
    pub key_sealed: String,
}

/// `components/tls.yaml` inside a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsExport {
    /// Component version.
    pub version: u32,
    /// The certificate chain, PEM, leaf first.
    pub cert_pem: String,
    /// The private key PEM, base64.
    pub key: SecretBase64,
}

/// The fingerprint of the leaf certificate in `cert_pem`.
pub fn cert_fingerprint(cert_pem: &str) -> Result<String, Invalid> {
    let leaf = pem::parse_many(cert_pem)
        .map_err(|e| Invalid::new("cert_pem", format!("is not PEM: {e}")))?
        .into_iter()
        .find(|p| p.tag() == "CERTIFICATE")
        .ok_or_else(|| Invalid::new("cert_pem", "holds no CERTIFICATE block"))?;
    Ok(fingerprint_der(leaf.contents()))
}

/// The fingerprint of a DER certificate: `SHA256:` and the unpadded base64
/// of its SHA-256.
pub fn fingerprint_der(der: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(der)))
}

/// Checks that `key_pem` is one PEM private key.
pub fn check_key_pem(key_pem: &[u8]) -> Result<(), Invalid> {
    let p = pem::parse(key_pem).map_err(|_| Invalid::new("key", "is not a PEM private key"))?;
    if !p.tag().ends_with("PRIVATE KEY") {
        return Err(Invalid::new(
            "key",
            format!("is a PEM {} block, not a private key", p.tag()),
        ));
    }
    Ok(())
}

impl Stored for TlsSettings {
    const FILE: &'static str = "config/tls.yaml";
    fn version(&self) -> u32 {
        self.version
    }
    fn validate(&self) -> Result<(), Invalid> {
        cert_fingerprint(&self.cert_pem)?;
        if !self.key_sealed.starts_with("v1.") {
            return Err(Invalid::new(
                "key_sealed",
                "is not a sealed value; install the key with `tacctl tls set`",
            ));
        }
        Ok(())
    }
}

impl Stored for TlsExport {
    const FILE: &'static str = "components/tls.yaml";
    fn version(&self) -> u32 {
        self.version
    }
    fn validate(&self) -> Result<(), Invalid> {
        cert_fingerprint(&self.cert_pem)?;
        let key = self
            .key
            .decode()
            .ok_or_else(|| Invalid::new("key", "is not base64"))?;
        check_key_pem(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_name_the_leaf_der() {
        let der = b"not really DER but bytes";
        let pem_text = pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()));
        let fp = cert_fingerprint(&pem_text).unwrap();
        assert_eq!(
            fp,
            format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(der)))
        );
        assert!(cert_fingerprint("hello").is_err());
        assert!(
            check_key_pem(pem::encode(&pem::Pem::new("PRIVATE KEY", vec![1, 2])).as_bytes())
                .is_ok()
        );
        assert!(check_key_pem(pem_text.as_bytes()).is_err());
    }
}
