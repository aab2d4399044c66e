//! `cluster-store.yaml`: where this node keeps the cluster's membership
//! and published configuration. Without the file, the store is local
//! (`config/cluster.yaml` and peer-to-peer pushes); with it, an etcd
//! cluster: its endpoints, the key prefix of this cluster, the CA that
//! etcd's certificates chain to and this node's client certificate, whose
//! private key is sealed under the node master key. Node scope, never
//! exported, not part of snapshots.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Invalid, Stored};

/// The kinds of store a file can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// An etcd v3 cluster.
    Etcd,
}

/// The stored cluster store settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterStore {
    /// Format version of this file.
    pub version: u32,
    /// The kind of store.
    pub kind: StoreKind,
    /// `https://host:port` of each etcd node's client port.
    pub endpoints: Vec<String>,
    /// The key prefix of this cluster (`/tacctl/CLUSTER-ID/`).
    pub prefix: String,
    /// The certificate authority etcd's certificates chain to (PEM).
    pub ca_pem: String,
    /// This node's client certificate (PEM).
    pub cert_pem: String,
    /// Its private key (PEM), sealed under the node master key (`v1.`...).
    pub key_sealed: String,
    /// When the store was set, Unix seconds.
    pub configured_at: u64,
}

impl Stored for ClusterStore {
    const FILE: &'static str = "cluster-store.yaml";
    fn version(&self) -> u32 {
        self.version
    }
    fn validate(&self) -> Result<(), Invalid> {
        if self.endpoints.is_empty() {
            return Err(Invalid::new(
                "endpoints",
                "is empty; name at least one https://host:port of an etcd node",
            ));
        }
        for e in &self.endpoints {
            let ok = e
                .strip_prefix("https://")
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
            if !ok {
                return Err(Invalid::new(
                    "endpoints",
                    format!("{e:?} is not https://host:port"),
                ));
            }
        }
        let prefix_ok = self.prefix.starts_with('/')
            && self.prefix.ends_with('/')
            && self.prefix.len() > 2
            && self.prefix.bytes().all(|b| b.is_ascii_graphic());
        if !prefix_ok {
            return Err(Invalid::new(
                "prefix",
                format!(
                    "{:?} is not a key prefix such as /tacctl/CLUSTER-ID/",
                    self.prefix
                ),
            ));
        }
        for (field, pem) in [("ca_pem", &self.ca_pem), ("cert_pem", &self.cert_pem)] {
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(Invalid::new(field, "holds no PEM certificate"));
            }
        }
        if !self.key_sealed.starts_with("v1.") {
            return Err(Invalid::new(
                "key_sealed",
                "is not a sealed value (`v1.`...); set the store again with `tacctl cluster store etcd`",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> ClusterStore {
        ClusterStore {
            version: 1,
            kind: StoreKind::Etcd,
            endpoints: vec!["https://127.0.0.1:2379".into()],
            prefix: "/tacctl/c1/".into(),
            ca_pem: "-----BEGIN CERTIFICATE-----\n".into(),
            cert_pem: "-----BEGIN CERTIFICATE-----\n".into(),
            key_sealed: "v1.abc".into(),
            configured_at: 0,
        }
    }

    #[test]
    fn endpoints_prefix_and_sealing_are_checked() {
        assert!(store().validate().is_ok());
        for bad in ["http://127.0.0.1:2379", "https://", "https://h:1/path"] {
            let s = ClusterStore {
                endpoints: vec![bad.into()],
                ..store()
            };
            assert!(s.validate().is_err(), "{bad}");
        }
        let s = ClusterStore {
            prefix: "tacctl".into(),
            ..store()
        };
        assert!(s.validate().is_err());
        let s = ClusterStore {
            key_sealed: "-----BEGIN PRIVATE KEY-----".into(),
            ..store()
        };
        assert!(s.validate().is_err());
    }
}
