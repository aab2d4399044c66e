//! The client side of the REST API, for talking to other appliances: every
//! connection trusts exactly one certificate, named by its `SHA256:`
//! fingerprint, and every call is bounded by a timeout. Errors say which
//! peer failed and why, in words an administrator can act on; tokens and
//! passphrases travel only in headers and bodies, never in URLs or errors.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::api::{ApplianceBody, NodeBody, PASSPHRASE_HEADER, TOKEN_HEADER, TokenBody};

/// How long one call to a peer may take, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// Another appliance: where it is and which certificate it must present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// A name for messages (the member name, or the URL).
    pub name: String,
    /// `https://host:port`.
    pub url: String,
    /// `SHA256:...` of its certificate.
    pub fingerprint: String,
}

/// Why a call to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No connection, or no answer in time.
    #[error("{peer} is unreachable at {url}: {reason}")]
    Unreachable {
        /// The peer's name.
        peer: String,
        /// Its URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The peer presented another certificate than the pinned one.
    #[error(
        "{peer} at {url} presented certificate {seen}, but {expected} is pinned: someone may be impersonating it, or its certificate was replaced. Check with its administrator (`tacctl tls show` there); if the change is legitimate, remove and add the member again"
    )]
    FingerprintMismatch {
        /// The peer's name.
        peer: String,
        /// Its URL.
        url: String,
        /// The pinned fingerprint.
        expected: String,
        /// What it presented.
        seen: String,
    },
    /// The peer answered with an API error.
    #[error("{peer} refused: {message} (HTTP {status}, {code})")]
    Refused {
        /// The peer's name.
        peer: String,
        /// The HTTP status.
        status: u16,
        /// The API's error code.
        code: String,
        /// The API's message.
        message: String,
        /// For a refused token, the check that refused it, when the peer
        /// names it (versions before 2026-11-29 do not; an unknown one is
        /// left out).
        check: Option<crate::jwt::Check>,
    },
    /// The answer was not what the API documents.
    #[error("{peer} answered something unexpected: {source}")]
    Protocol {
        /// The peer's name.
        peer: String,
        /// What was wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The URL is not `https://host:port`.
    #[error("{0:?} is not an https:// URL of an appliance")]
    BadUrl(String),
    /// Setting up TLS failed.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

impl ClientError {
    /// Whether the peer could not be reached at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. })
    }
}

/// What `POST /api/v1/config/import` answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportAnswer {
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// The plan (as `tacctl import --json` prints it).
    pub plan: serde_json::Value,
    /// The outcome, when applied.
    #[serde(default)]
    pub outcome: Option<crate::ops::bundle::ImportOutcome>,
}

/// Checks that `url` is an https:// URL and returns it without a trailing `/`.
pub fn normalise_url(url: &str) -> Result<String, ClientError> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .ok_or_else(|| ClientError::BadUrl(url.to_owned()))?;
    if rest.is_empty() || rest.contains('/') || rest.contains('@') {
        return Err(ClientError::BadUrl(url.to_owned()));
    }
    Ok(trimmed.to_owned())
}

/// Connects to `url` only to learn its certificate's fingerprint.
pub async fn fetch_fingerprint(url: &str, timeout: Duration) -> Result<String, ClientError> {
    let url = normalise_url(url)?;
    let probe = Arc::new(crate::tls::PinnedVerifier::first_contact());
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(crate::tls::client_config(Arc::clone(&probe))?)
        .timeout(timeout)
        .build()
        .map_err(|e| ClientError::Unreachable {
            peer: url.clone(),
            url: url.clone(),
            reason: e.to_string(),
        })?;
    let result = client.get(format!("{url}/healthz")).send().await;
    match (probe.seen(), result) {
        (Some(fp), _) => Ok(fp),
        (None, Err(e)) => Err(ClientError::Unreachable {
            peer: url.clone(),
            url,
            reason: describe(&e),
        }),
        (None, Ok(_)) => Err(ClientError::BadUrl(url)),
    }
}

/// The innermost cause of a transport error, which is the useful part.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    if e.is_timeout() {
        "no answer in time".into()
    } else {
        text
    }
}

/// A connection to one peer.
#[derive(Debug, Clone)]
pub struct Client {
    peer: Peer,
    http: reqwest::Client,
}

impl Client {
    /// A client for `peer` with the default timeout.
    pub fn new(peer: Peer) -> Result<Self, ClientError> {
        Self::with_timeout(peer, DEFAULT_TIMEOUT)
    }

    /// A client for `peer` whose calls each take at most `timeout`.
    pub fn with_timeout(mut peer: Peer, timeout: Duration) -> Result<Self, ClientError> {
        peer.url = normalise_url(&peer.url)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(crate::tls::pinned_client_config(&peer.fingerprint)?)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| ClientError::Unreachable {
                peer: peer.name.clone(),
                url: peer.url.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self { peer, http })
    }

    /// The peer.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// This client's connections, for `peer` under its own name, when it is
    /// the same URL with the same pinned certificate; otherwise `None`.
    pub fn reuse_for(&self, peer: &Peer) -> Option<Self> {
        let same = normalise_url(&peer.url).is_ok_and(|url| url == self.peer.url)
            && peer.fingerprint == self.peer.fingerprint;
        same.then(|| Self {
            peer: Peer {
                url: self.peer.url.clone(),
                ..peer.clone()
            },
            http: self.http.clone(),
        })
    }

    fn transport(&self, e: reqwest::Error) -> ClientError {
        let text = format!("{e:?}");
        if let Some(i) = text.find("certificate fingerprint mismatch: the peer presented ") {
            let seen = text[i..]
                .split_whitespace()
                .nth(6)
                .unwrap_or("?")
                .trim_end_matches(',')
                .to_owned();
            return ClientError::FingerprintMismatch {
                peer: self.peer.name.clone(),
                url: self.peer.url.clone(),
                expected: self.peer.fingerprint.clone(),
                seen,
            };
        }
        ClientError::Unreachable {
            peer: self.peer.name.clone(),
            url: self.peer.url.clone(),
            reason: describe(&e),
        }
    }

    async fn answer<T: serde::de::DeserializeOwned>(
        &self,
        res: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<(T, reqwest::header::HeaderMap), ClientError> {
        let res = res.map_err(|e| self.transport(e))?;
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.map_err(|e| self.transport(e))?;
        if !status.is_success() {
            #[derive(Deserialize)]
            struct Error {
                error: String,
                message: String,
                #[serde(default)]
                check: Option<serde_json::Value>,
            }
            let e: Error = serde_json::from_slice(&bytes).unwrap_or(Error {
                error: "unknown".into(),
                message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
                check: None,
            });
            return Err(ClientError::Refused {
                peer: self.peer.name.clone(),
                status: status.as_u16(),
                code: e.error,
                message: e.message,
                check: e.check.and_then(|c| serde_json::from_value(c).ok()),
            });
        }
        let value = serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol {
            peer: self.peer.name.clone(),
            source: Box::new(e),
        })?;
        Ok((value, headers))
    }

    /// `GET /api/v1/cluster/node`: identity, JWT settings' public parts, clock.
    pub async fn node(&self) -> Result<NodeBody, ClientError> {
        let res = self
            .http
            .get(format!("{}/api/v1/cluster/node", self.peer.url))
            .send()
            .await;
        Ok(self.answer(res).await?.0)
    }

    /// Logs in with a user name and password; the token.
    pub async fn login(
        &self,
        user: &str,
        password: &SecretString,
    ) -> Result<SecretString, ClientError> {
        let res = self
            .http
            .post(format!("{}/api/v1/auth/login/token", self.peer.url))
            .json(&serde_json::json!({"username": user, "password": password.expose_secret()}))
            .send()
            .await;
        let (body, headers): (TokenBody, _) = self.answer(res).await?;
        if let Some(h) = headers.get(TOKEN_HEADER)
            && h.as_bytes() != body.token.as_bytes()
        {
            return Err(ClientError::Protocol {
                peer: self.peer.name.clone(),
                source: "the token header and body differ".into(),
            });
        }
        Ok(SecretString::from(body.token))
    }

    /// `GET /api/v1/appliance` with `token`: whether the peer accepts it.
    pub async fn appliance(&self, token: &SecretString) -> Result<ApplianceBody, ClientError> {
        let res = self
            .http
            .get(format!("{}/api/v1/appliance", self.peer.url))
            .bearer_auth(token.expose_secret())
            .send()
            .await;
        Ok(self.answer(res).await?.0)
    }

    /// `GET /api/v1/jwt` with `token`: succeeds only for an administrator's
    /// token the peer accepts.
    pub async fn jwt_settings(
        &self,
        token: &SecretString,
    ) -> Result<serde_json::Value, ClientError> {
        let res = self
            .http
            .get(format!("{}/api/v1/jwt", self.peer.url))
            .bearer_auth(token.expose_secret())
            .send()
            .await;
        Ok(self.answer(res).await?.0)
    }

    /// `POST /api/v1/auth/login/token/refresh`.
    pub async fn refresh(&self, token: &SecretString) -> Result<SecretString, ClientError> {
        let res = self
            .http
            .post(format!("{}/api/v1/auth/login/token/refresh", self.peer.url))
            .bearer_auth(token.expose_secret())
            .send()
            .await;
        let (body, _): (TokenBody, _) = self.answer(res).await?;
        Ok(SecretString::from(body.token))
    }

    /// `POST /api/v1/config/import`: the bundle in the body, its passphrase
    /// in a header; without one, the bundle must be encrypted to the
    /// target's member key.
    pub async fn import(
        &self,
        token: &SecretString,
        bundle: Vec<u8>,
        passphrase: Option<&SecretString>,
        dry_run: bool,
        components: Option<&str>,
    ) -> Result<ImportAnswer, ClientError> {
        let mut query = vec![("dry_run", dry_run.to_string())];
        if let Some(c) = components {
            query.push(("components", c.to_owned()));
        }
        let query = serde_urlencoded::to_string(&query).expect("strings encode");
        let mut req = self
            .http
            .post(format!("{}/api/v1/config/import?{query}", self.peer.url))
            .bearer_auth(token.expose_secret())
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream");
        if let Some(p) = passphrase {
            req = req.header(PASSPHRASE_HEADER, p.expose_secret());
        }
        let res = req.body(bundle).send().await;
        Ok(self.answer(res).await?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";

    fn peer(name: &str, url: &str, fingerprint: &str) -> Peer {
        Peer {
            name: name.into(),
            url: url.into(),
            fingerprint: fingerprint.into(),
        }
    }

    #[test]
    fn a_client_is_reused_only_for_the_same_url_and_certificate() {
        let probed =
            Client::new(peer("https://10.0.0.2:8443", "https://10.0.0.2:8443", FP)).unwrap();
        let named = probed
            .reuse_for(&peer("esa2", "https://10.0.0.2:8443/", FP))
            .expect("the same URL and certificate");
        assert_eq!(named.peer().name, "esa2");
        assert_eq!(named.peer().url, "https://10.0.0.2:8443");
        let other_fp = FP.replace("47DEQ", "57DEQ");
        assert!(
            probed
                .reuse_for(&peer("esa2", "https://10.0.0.2:8443", &other_fp))
                .is_none()
        );
        assert!(
            probed
                .reuse_for(&peer("esa3", "https://10.0.0.3:8443", FP))
                .is_none()
        );
        assert!(
            probed
                .reuse_for(&peer("esa2", "http://10.0.0.2:8443", FP))
                .is_none()
        );
    }
}
