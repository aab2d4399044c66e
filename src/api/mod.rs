//! The REST API's wire types: the bodies and header names that the server
//! writes and the cluster client reads, defined once for both sides.
//!
//! Plain serde values, without an HTTP library: the server (`server`) turns
//! them into responses, the client (`cluster::client`) parses them from
//! answers, so a change to the wire shows on both sides at once and neither
//! imports the other's handlers. The README's table of routes (under
//! "`tacctl serve`: the REST API") documents each body.

use serde::{Deserialize, Serialize};

use crate::component::{JwtSettings, JwtTrust, Node, TrustedJwk};

/// The response header existing appliance clients read the token from.
pub const TOKEN_HEADER: &str = "PTY_ACCESS_JWT_TOKEN";

/// The request header carrying a bundle's passphrase.
pub const PASSPHRASE_HEADER: &str = "x-bundle-passphrase";

/// The body of a login or refresh answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenBody {
    /// The compact JWS.
    pub token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until `expires_at`.
    pub expires_in: u64,
    /// Expiry, RFC 3339 UTC.
    pub expires_at: String,
}

/// `GET /api/v1/appliance`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApplianceBody {
    /// Node name.
    pub name: String,
    /// Node id.
    pub node_id: String,
    /// Cluster id (the tokens' issuer).
    pub cluster_id: String,
    /// tacctl's version.
    pub version: String,
    /// JWT algorithm.
    pub algorithm: String,
    /// Token lifetime, seconds.
    pub expiry_seconds: u64,
    /// Longest session, seconds.
    pub max_session_seconds: u64,
    /// The active key's id.
    pub kid: String,
    /// The ids of the keys of other members this node accepts tokens of by
    /// their public keys (Appliances JWT Trust); absent when none. Members
    /// that trust each other's keys share no key and are not drift.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_kids: Vec<String>,
}

impl ApplianceBody {
    /// What a node with this identity, these JWT settings and this trust
    /// says about itself at `now`; members compare it to find drift.
    pub fn describe(node: &Node, settings: &JwtSettings, trust: &JwtTrust, now: u64) -> Self {
        Self {
            name: node.name.clone(),
            node_id: node.node_id.clone(),
            cluster_id: node.cluster_id.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            algorithm: settings.algorithm.as_str().into(),
            expiry_seconds: settings.expiry().seconds(),
            max_session_seconds: settings.max_session_seconds,
            kid: settings.active_key.kid.clone(),
            trusted_kids: trust.kids(now),
        }
    }
}

/// `GET /api/v1/cluster/node`, without authentication: what cluster members
/// compare (identity, JWT algorithm, expiry, the active key's id, the
/// clock), never a secret. The key id is a one-way fingerprint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeBody {
    /// Everything `GET /api/v1/appliance` says.
    #[serde(flatten)]
    pub appliance: ApplianceBody,
    /// The node's clock, Unix seconds, for skew checks.
    pub time: u64,
    /// The node's own public keys: its active key pair's, and each retired
    /// key pair's until its deadline; absent with an HMAC secret. A push of
    /// Appliances JWT Trust learns them here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<TrustedJwk>,
    /// The node's member key (`tacctl-x25519:...`), the recipient bundles
    /// for it are encrypted to; absent from a node without one (made
    /// before member keys, and not served since).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// The node's signer key (`tacctl-ed25519:...`), derived from its member
    /// key: the bundles it exports are signed with it, and `cluster add`
    /// pins it. Absent from a node without a member key, or an older
    /// tacctl that signs nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}
