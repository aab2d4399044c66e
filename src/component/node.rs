//! `appliance.yaml`: who this node is. Node scope; never exported.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Invalid, Stored, check_name};

/// The identity of one appliance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Format version of this file.
    pub version: u32,
    /// The node's name, for people (`esa1`).
    pub name: String,
    /// The node's generated unique id.
    pub node_id: String,
    /// The cluster this node belongs to; the `iss` of every token it issues.
    pub cluster_id: String,
    /// When the appliance was created, Unix seconds.
    pub created_at: u64,
}

impl Stored for Node {
    const FILE: &'static str = "appliance.yaml";
    fn version(&self) -> u32 {
        self.version
    }
    fn validate(&self) -> Result<(), Invalid> {
        check_name("name", &self.name)?;
        check_name("node_id", &self.node_id)?;
        check_name("cluster_id", &self.cluster_id)
    }
}
