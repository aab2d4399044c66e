//! `config/cluster.yaml`: the Trusted Appliances Cluster members this node
//! knows, each with the URL of its REST API, the pinned fingerprint of its
//! certificate and, from format version 2 on, its pinned signer key, which
//! tells the bundles it signed (node scope: every node keeps its own list,
//! and the list never travels in a bundle).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{FORMAT_VERSION, Invalid, Stored, check_name};

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
    /// Its signer key (`tacctl-ed25519:...`), read over its pinned
    /// certificate when it was added: the bundles it signs are reported as
    /// a trusted member's. Absent for a member added before signer keys,
    /// or one that serves none (an older tacctl); needs format version 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
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

/// Checks a signer key's shape: `tacctl-ed25519:` and 43 characters of
/// unpadded base64url, as `bundle::origin::SignerKey` writes one. Whether
/// the 32 bytes are a usable Ed25519 key is the bundle format's to say
/// (this module stays below it); `cluster add` stores only keys it parsed.
pub fn check_signer(signer: &str) -> Result<(), Invalid> {
    let b64 = signer.strip_prefix("tacctl-ed25519:").unwrap_or("");
    let ok = b64.len() == 43
        && b64
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            "signer",
            format!(
                "{signer:?} is not a signer key; it looks like tacctl-ed25519: followed by 43 characters, as `tacctl status` prints it; remove the line, or the member and add it again"
            ),
        ))
    }
}

/// The format version of a members file that pins a signer key: a
/// tacctl that reads only version 1 refuses it ("upgrade tacctl") rather
/// than drop the keys.
pub const MEMBERS_SIGNER_VERSION: u32 = 2;

impl Stored for Members {
    const FILE: &'static str = "config/cluster.yaml";
    const MAX_VERSION: u32 = MEMBERS_SIGNER_VERSION;
    fn version(&self) -> u32 {
        self.version
    }
    fn version_needed(&self) -> u32 {
        if self.members.iter().any(|m| m.signer.is_some()) {
            MEMBERS_SIGNER_VERSION
        } else {
            FORMAT_VERSION
        }
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
            if let Some(signer) = &m.signer {
                check_signer(signer)?;
            }
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
            signer: None,
        };
        let mut ms = Members {
            version: 1,
            members: vec![m.clone()],
        };
        assert!(ms.validate().is_ok());
        ms.members.push(m);
        assert!(ms.validate().is_err());
    }

    #[test]
    fn a_pinned_signer_key_needs_version_2_and_must_be_one() {
        let signer = format!(
            "tacctl-ed25519:{}",
            "iIeRu9YJ_aR9jRpx2QMtPfA7UWmH19U0WzXWC9DelrI"
        );
        let mut ms = Members {
            version: 1,
            members: vec![Member {
                name: "esa2".into(),
                url: "https://127.0.0.1:8443".into(),
                fingerprint: format!("SHA256:{}", "A".repeat(43)),
                added_at: 0,
                signer: None,
            }],
        };
        assert_eq!(ms.version_needed(), 1);
        let v1 = crate::component::render(&ms).unwrap();
        assert!(
            v1.contains("version: 1\n") && !v1.contains("signer"),
            "{v1}"
        );
        ms.members[0].signer = Some(signer.clone());
        assert_eq!(ms.version_needed(), MEMBERS_SIGNER_VERSION);
        let v2 = crate::component::render(&ms).unwrap();
        assert!(v2.contains("version: 2\n"), "{v2}");
        let back: Members = crate::component::parse(&v2, Members::FILE).unwrap();
        assert_eq!(back.members[0].signer.as_deref(), Some(&*signer));
        // A tacctl that reads version 1 only says to upgrade.
        let newer = v2.replace("version: 2", "version: 3");
        assert!(matches!(
            crate::component::parse::<Members>(&newer, Members::FILE),
            Err(crate::component::ComponentError::TooNew { found: 3, .. })
        ));
        ms.members[0].signer = Some("tacctl-ed25519:short".into());
        assert_eq!(ms.validate().unwrap_err().field, "signer");
    }
}
