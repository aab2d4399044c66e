//! TLS material for the API server and its clients: the self-signed
//! certificate an appliance starts with, the check that a key belongs to its
//! certificate, the rustls server configuration, and the client side that
//! trusts exactly one certificate, named by its `SHA256:` fingerprint, as SSH
//! trusts a host key, and the client of a service with its own certificate
//! authority (etcd). Everything uses the ring provider; nothing here opens a
//! file or a socket.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use secrecy::{ExposeSecret, SecretSlice};
use zeroize::Zeroizing;

use crate::component::fingerprint_der;

/// Why TLS material was refused.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate PEM holds no usable certificate.
    #[error("the certificate is not a PEM X.509 certificate chain: {0}")]
    BadCertificate(String),
    /// The key PEM is not a private key rustls can use.
    #[error(
        "the private key is not a PEM PKCS#8, PKCS#1 or SEC1 key of a supported type (ECDSA P-256/P-384, Ed25519, RSA)"
    )]
    BadKey,
    /// The key does not belong to the certificate.
    #[error(
        "the private key does not belong to the certificate; give the key the certificate was issued for"
    )]
    Mismatch,
    /// Generating a certificate failed.
    #[error("generating a self-signed certificate failed: {0}")]
    Generate(String),
    /// rustls refused the configuration.
    #[error("TLS configuration failed: {0}")]
    Config(String),
}

/// The crypto provider everything here uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A new self-signed certificate and its private key (ECDSA P-256), for the
/// names `name`, `localhost`, 127.0.0.1 and ::1, valid for ten years.
pub fn self_signed(name: &str) -> Result<(String, Zeroizing<Vec<u8>>), TlsError> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".into(), "::1".into()];
    if !names.iter().any(|n| n == name) {
        names.insert(0, name.to_owned());
    }
    let mut params =
        rcgen::CertificateParams::new(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "tacctl appliance");
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2045, 1, 1);
    let key = rcgen::KeyPair::generate().map_err(|e| TlsError::Generate(e.to_string()))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok((cert.pem(), Zeroizing::new(key.serialize_pem().into_bytes())))
}

fn parse_chain(cert_pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate(e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::BadCertificate("no CERTIFICATE block".into()));
    }
    Ok(chain)
}

/// The certified key a server presents, checked to match.
pub fn certified_key(
    cert_pem: &str,
    key_pem: &SecretSlice<u8>,
) -> Result<Arc<rustls::sign::CertifiedKey>, TlsError> {
    let chain = parse_chain(cert_pem)?;
    let key =
        PrivateKeyDer::from_pem_slice(key_pem.expose_secret()).map_err(|_| TlsError::BadKey)?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|_| TlsError::BadKey)?;
    let ck = rustls::sign::CertifiedKey::new(chain, signing);
    match ck.keys_match() {
        Ok(()) => Ok(Arc::new(ck)),
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::Mismatch),
        // A key whose public half rustls cannot derive: accept, the handshake
        // itself will fail loudly if it is wrong.
        Err(_) => Ok(Arc::new(ck)),
    }
}

/// A rustls server configuration presenting the certificate, with HTTP/1.1
/// and HTTP/2 offered by ALPN.
pub fn server_config(
    cert_pem: &str,
    key_pem: &SecretSlice<u8>,
) -> Result<rustls::ServerConfig, TlsError> {
    certified_key(cert_pem, key_pem)?;
    let key =
        PrivateKeyDer::from_pem_slice(key_pem.expose_secret()).map_err(|_| TlsError::BadKey)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(parse_chain(cert_pem)?, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Trusts one server certificate, the one whose fingerprint is pinned,
/// whatever its names or dates: the administrator compared the fingerprint
/// when the peer was added, as with an SSH host key. The handshake's
/// signatures are still checked, so only the holder of the key can answer.
///
/// Without a pin ([`PinnedVerifier::first_contact`]) it only learns a new
/// peer's fingerprint, as SSH shows a new host key: the handshake is refused
/// once the certificate is seen, so nothing is sent to an unverified peer.
#[derive(Debug)]
pub struct PinnedVerifier {
    pin: Option<String>,
    seen: std::sync::Mutex<Option<String>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedVerifier {
    /// Pins `fingerprint` (`SHA256:...`).
    pub fn new(fingerprint: &str) -> Self {
        Self::with_pin(Some(fingerprint.to_owned()))
    }

    /// Trusts nothing; records what the peer presents.
    pub fn first_contact() -> Self {
        Self::with_pin(None)
    }

    fn with_pin(pin: Option<String>) -> Self {
        Self {
            pin,
            seen: std::sync::Mutex::default(),
            algorithms: provider().signature_verification_algorithms,
        }
    }

    /// The fingerprint the peer presented, once a handshake was tried.
    pub fn seen(&self) -> Option<String> {
        self.seen.lock().expect("verifier lock").clone()
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = fingerprint_der(end_entity.as_ref());
        *self.seen.lock().expect("verifier lock") = Some(seen.clone());
        match &self.pin {
            Some(pin) if *pin == seen => Ok(ServerCertVerified::assertion()),
            Some(pin) => Err(rustls::Error::General(format!(
                "certificate fingerprint mismatch: the peer presented {seen}, but {pin} is pinned"
            ))),
            None => Err(rustls::Error::General(
                "certificate recorded for confirmation; not trusted yet".into(),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A client configuration that trusts what `verifier` trusts.
pub fn client_config(verifier: Arc<PinnedVerifier>) -> Result<rustls::ClientConfig, TlsError> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A client configuration that trusts only the pinned certificate.
pub fn pinned_client_config(fingerprint: &str) -> Result<rustls::ClientConfig, TlsError> {
    client_config(Arc::new(PinnedVerifier::new(fingerprint)))
}

/// A client configuration for a service with its own certificate authority
/// (etcd): the server must present a chain to `ca_pem`, and the client
/// presents `cert_pem` with its key.
pub fn ca_client_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &SecretSlice<u8>,
) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in parse_chain(ca_pem)? {
        roots
            .add(ca)
            .map_err(|e| TlsError::BadCertificate(e.to_string()))?;
    }
    let key = certified_key(cert_pem, key_pem)?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(
            key.cert.clone(),
            PrivateKeyDer::from_pem_slice(key_pem.expose_secret()).map_err(|_| TlsError::BadKey)?,
        )
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_keys_match_and_other_keys_do_not() {
        let (cert, key) = self_signed("esa1").unwrap();
        let key = SecretSlice::from(key.to_vec());
        certified_key(&cert, &key).unwrap();
        server_config(&cert, &key).unwrap();
        let (_, other) = self_signed("esa2").unwrap();
        let other = SecretSlice::from(other.to_vec());
        assert!(matches!(
            certified_key(&cert, &other),
            Err(TlsError::Mismatch)
        ));
        assert!(matches!(
            certified_key(&cert, &SecretSlice::from(b"nope".to_vec())),
            Err(TlsError::BadKey)
        ));
        assert!(matches!(
            certified_key("nope", &key),
            Err(TlsError::BadCertificate(_))
        ));
    }
}
