//! Joining a member, as SSH meets a new host: its certificate's fingerprint
//! is either given by the administrator (`--fingerprint`, checked against
//! what the peer presents) or learned on first contact without trusting it
//! and shown for confirmation. Either way the peer is then asked who it is
//! over a connection pinned to that fingerprint, so what it claims comes
//! from the certificate that will be trusted; that includes its signer key,
//! pinned with the certificate, by which this node knows the bundles the
//! member signs.
//!
//! Checking the request and judging the answer are pure; [`first_contact`]
//! and [`probe`] are the only calls to the network.

use std::time::Duration;

use super::ClusterError;
use super::client::{self, Client, ClientError, Peer};
use crate::api::{ApplianceBody, NodeBody};
use crate::bundle::origin::SignerKey;
use crate::component::{self, Member, Node};

/// A member to add, its name and URL checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The name this node will call it by.
    pub name: String,
    /// `https://host:port`, without a trailing `/`.
    pub url: String,
    /// The fingerprint the administrator gave, when given.
    pub fingerprint: Option<String>,
}

impl Candidate {
    /// Checks the name (as every name in tacctl), the URL and, when given,
    /// the fingerprint's shape, before anything is sent anywhere.
    pub fn new(name: &str, url: &str, fingerprint: Option<&str>) -> Result<Self, ClusterError> {
        component::check_name("NAME", name)
            .map_err(|e| ClusterError::Invalid(format!("member name: {}", e.problem)))?;
        let url = client::normalise_url(url).map_err(|_| {
            ClusterError::Invalid(format!(
                "{url:?} is not the URL of an appliance's API; give https://HOST:PORT, as `tacctl serve` prints it"
            ))
        })?;
        if let Some(fp) = fingerprint {
            component::check_fingerprint(fp)
                .map_err(|e| ClusterError::Invalid(format!("--fingerprint: {}", e.problem)))?;
        }
        Ok(Self {
            name: name.to_owned(),
            url,
            fingerprint: fingerprint.map(str::to_owned),
        })
    }

    /// The peer to connect to, pinned to `fingerprint`.
    pub fn peer(&self, fingerprint: &str) -> Peer {
        Peer {
            name: self.name.clone(),
            url: self.url.clone(),
            fingerprint: fingerprint.to_owned(),
        }
    }

    /// The member entry, once its fingerprint is trusted, with the signer
    /// key it served over that certificate ([`signer_of`]).
    pub fn member(&self, fingerprint: &str, signer: Option<SignerKey>, now: u64) -> Member {
        Member {
            name: self.name.clone(),
            url: self.url.clone(),
            fingerprint: fingerprint.to_owned(),
            added_at: now,
            signer: signer.map(|s| s.to_string()),
        }
    }
}

/// The signer key a peer served in its node endpoint: `None` from an older
/// tacctl that serves none; one that is not a signer key is a peer that
/// does not answer as the API documents.
pub fn signer_of(
    candidate: &Candidate,
    node: &NodeBody,
) -> Result<Option<SignerKey>, ClusterError> {
    node.signer
        .as_deref()
        .map(|s| {
            SignerKey::parse(s).map_err(|e| ClusterError::NotAnAppliance {
                peer: candidate.name.clone(),
                url: candidate.url.clone(),
                reason: format!("its signer key: {e}"),
            })
        })
        .transpose()
}

/// How a peer fits this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fit {
    /// Another node of this node's cluster.
    SameCluster,
    /// A node of another cluster: it can never accept this cluster's tokens.
    OtherCluster {
        /// Its cluster id.
        theirs: String,
        /// This node's.
        ours: String,
    },
    /// This very node (the same node id).
    ThisNode,
}

/// Judges what a peer said about itself against this node.
pub fn fit(this: &Node, peer: &ApplianceBody) -> Fit {
    if peer.node_id == this.node_id {
        Fit::ThisNode
    } else if peer.cluster_id == this.cluster_id {
        Fit::SameCluster
    } else {
        Fit::OtherCluster {
            theirs: peer.cluster_id.clone(),
            ours: this.cluster_id.clone(),
        }
    }
}

/// One line on what the peer says it is, for the confirmation and the
/// report: its node name, node id, cluster, and how that fits this node.
pub fn describe_peer(peer: &ApplianceBody, fit: &Fit) -> String {
    let place = match fit {
        Fit::SameCluster => "this node's cluster".to_owned(),
        Fit::OtherCluster { ours, .. } => format!("NOT this node's cluster {ours}"),
        Fit::ThisNode => "this very node".to_owned(),
    };
    format!(
        "node {} (node id {}, tacctl {}) in cluster {} ({place})",
        peer.name, peer.node_id, peer.version, peer.cluster_id
    )
}

/// Connects to `url` only to see its certificate, trusting nothing; its
/// `SHA256:` fingerprint.
pub async fn first_contact(url: &str, timeout: Duration) -> Result<String, ClusterError> {
    Ok(client::fetch_fingerprint(url, timeout).await?)
}

/// Asks the peer who it is (`GET /api/v1/cluster/node`) over a connection
/// pinned to `fingerprint`. A peer presenting another certificate is
/// [`ClusterError::NotThatCertificate`]; one that answers but not as the
/// API documents is [`ClusterError::NotAnAppliance`].
pub async fn probe(
    candidate: &Candidate,
    fingerprint: &str,
    timeout: Duration,
) -> Result<NodeBody, ClusterError> {
    let client = Client::with_timeout(candidate.peer(fingerprint), timeout)?;
    match client.node().await {
        Ok(node) => Ok(node),
        Err(ClientError::Refused {
            status, message, ..
        }) => Err(ClusterError::NotAnAppliance {
            peer: candidate.name.clone(),
            url: candidate.url.clone(),
            reason: format!("HTTP {status}: {message}"),
        }),
        Err(ClientError::Protocol { source, .. }) => Err(ClusterError::NotAnAppliance {
            peer: candidate.name.clone(),
            url: candidate.url.clone(),
            reason: source.to_string(),
        }),
        Err(ClientError::FingerprintMismatch {
            peer,
            url,
            expected,
            seen,
        }) => Err(ClusterError::NotThatCertificate {
            peer,
            url,
            expected,
            seen,
        }),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(node_id: &str, cluster_id: &str) -> Node {
        Node {
            version: 1,
            name: "esa1".into(),
            node_id: node_id.into(),
            cluster_id: cluster_id.into(),
            created_at: 0,
        }
    }

    fn body(node_id: &str, cluster_id: &str) -> ApplianceBody {
        ApplianceBody {
            name: "esa2".into(),
            node_id: node_id.into(),
            cluster_id: cluster_id.into(),
            version: "0.1.0".into(),
            algorithm: "HS256".into(),
            expiry_seconds: 1800,
            max_session_seconds: 43200,
            kid: "k".into(),
            trusted_kids: Vec::new(),
        }
    }

    #[test]
    fn candidates_are_checked_before_any_connection() {
        let fp = format!("SHA256:{}", "A".repeat(43));
        let c = Candidate::new("esa2", "https://10.0.0.2:8443/", Some(&fp)).unwrap();
        assert_eq!(c.url, "https://10.0.0.2:8443");
        assert_eq!(c.member(&fp, None, 7).added_at, 7);
        for (name, url, fp) in [
            ("bad name!", "https://h:1", None),
            ("", "https://h:1", None),
            ("esa2", "http://h:1", None),
            ("esa2", "https://h:1/api", None),
            ("esa2", "https://h:1", Some("SHA256:short")),
        ] {
            let e = Candidate::new(name, url, fp).unwrap_err();
            assert!(matches!(e, ClusterError::Invalid(_)), "{name} {url}: {e}");
        }
    }

    #[test]
    fn a_peer_is_this_node_another_of_its_cluster_or_a_stranger() {
        let this = node("n1", "c1");
        assert_eq!(fit(&this, &body("n1", "c1")), Fit::ThisNode);
        assert_eq!(fit(&this, &body("n2", "c1")), Fit::SameCluster);
        let other = fit(&this, &body("n2", "c9"));
        assert_eq!(
            other,
            Fit::OtherCluster {
                theirs: "c9".into(),
                ours: "c1".into()
            }
        );
        assert!(describe_peer(&body("n2", "c9"), &other).contains("NOT this node's cluster c1"));
    }
}
