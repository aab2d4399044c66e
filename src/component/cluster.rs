//! `config/cluster.yaml`: the Trusted Appliances Cluster members this node
//! knows, each with the URL of its REST API and the pinned fingerprint of
//! its certificate (node scope: every node keeps its own list, and the list
//! never travels in a bundle).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Invalid, Stored, check_name};

/// One member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// The name this node calls it by (its node name, usually).
    pub name: String,
    /// `https://host:port` of its REST API.
    pub url: String,
    /// `SHA256:...` of its certificate, pinned when it was added.
    pub fingerprint: String,
    /// When it was added, Unix seconds.
    pub added_at: u64,
}

/// The members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Members {
    /// Format version of this file.
    pub version: u32,
    /// The members, in the order they were added.
    #[serde(default)]
    pub members: Vec<Member>,
}

impl Members {
    /// The member called `name`.
    pub fn get(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// Checks a `SHA256:` fingerprint's shape: 43 characters of unpadded base64.
pub fn check_fingerprint(fp: &str) -> Result<(), Invalid> {
    let b64 = fp.strip_prefix("SHA256:").unwrap_or("");
    let ok = b64.len() == 43
        && b64
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            "fingerprint",
            format!(
                "{fp:?} is not a certificate fingerprint; it looks like SHA256: followed by 43 characters, as `tacctl tls show` prints it"
            ),
        ))
    }
}

impl Stored for Members {
    const FILE: &'static str = "config/cluster.yaml";
    fn version(&self) -> u32 {
        self.version
    }
    fn validate(&self) -> Result<(), Invalid> {
        let mut seen = std::collections::HashSet::new();
        for m in &self.members {
            check_name("name", &m.name)?;
            if !seen.insert(m.name.as_str()) {
                return Err(Invalid::new(
                    "members",
                    format!("{:?} is listed twice", m.name),
                ));
            }
            if !m.url.starts_with("https://") || m.url.ends_with('/') {
                return Err(Invalid::new(
                    "url",
                    format!("{:?} is not https://host:port", m.url),
                ));
            }
            check_fingerprint(&m.fingerprint)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_and_duplicates_are_checked() {
        let fp = format!("SHA256:{}", "A".repeat(43));
        assert!(check_fingerprint(&fp).is_ok());
        assert!(check_fingerprint("SHA256:short").is_err());
        assert!(check_fingerprint(&"A".repeat(43)).is_err());
        let m = Member {
            name: "esa2".into(),
            url: "https://127.0.0.1:8443".into(),
            fingerprint: fp,
            added_at: 0,
        };
        let mut ms = Members {
            version: 1,
            members: vec![m.clone()],
        };
        assert!(ms.validate().is_ok());
        ms.members.push(m);
        assert!(ms.validate().is_err());
    }
}
