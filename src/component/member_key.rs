//! `member-key.yaml`: this appliance's member key, the X25519 key pair
//! that bundles are encrypted to for it (a recipient; see
//! `bundle::recipient`). Node scope, never exported, not part of
//! snapshots: the secret half is sealed under the node master key, the
//! public half is shown by `tacctl status` and served at
//! `GET /api/v1/cluster/node`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Invalid, Stored};
use crate::bundle::recipient::Recipient;

/// The stored member key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberKey {
    /// Format version of this file.
    pub version: u32,
    /// The public key, as a recipient is written (`tacctl-x25519:` and 43
    /// characters of base64url).
    pub recipient: String,
    /// The 32-byte X25519 secret key, sealed under the node master key
    /// (`v1.`...).
    pub secret_sealed: String,
    /// When it was made, Unix seconds.
    pub created_at: u64,
}

impl Stored for MemberKey {
    const FILE: &'static str = "member-key.yaml";
    fn version(&self) -> u32 {
        self.version
    }
    fn validate(&self) -> Result<(), Invalid> {
        Recipient::parse(&self.recipient).map_err(|e| Invalid::new("recipient", e.to_string()))?;
        if !self.secret_sealed.starts_with("v1.") {
            return Err(Invalid::new(
                "secret_sealed",
                "is not a sealed value (`v1.`...); move the file aside and tacctl makes a new member key",
            ));
        }
        Ok(())
    }
}
