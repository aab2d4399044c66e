//! What an import would change, component by component, as `import`,
//! `import --dry-run`, the wizards and the REST API show it, and what it
//! did. Plain values: the `ops` layer builds them, the command line prints
//! them and the API sends them as JSON (schemas/openapi.yaml).

use serde::{Deserialize, Serialize};

use super::manifest::Source;
use super::origin::SignerKey;
use crate::component::Member;

/// One line of a plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Change {
    /// `added`, `changed`, `removed`.
    pub what: String,
    /// The item and values (secrets as fingerprints).
    pub detail: String,
}

/// What an import would do to one component.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ComponentPlan {
    /// Component name.
    pub component: String,
    /// `unchanged` when there is nothing to do.
    pub status: String,
    /// The changes.
    pub changes: Vec<Change>,
}

impl ComponentPlan {
    pub(crate) fn new(component: &str, changes: Vec<Change>) -> Self {
        let status = if changes.is_empty() {
            "unchanged"
        } else {
            "changed"
        };
        Self {
            component: component.to_owned(),
            status: status.to_owned(),
            changes,
        }
    }
}

/// Who signed a bundle, as the node that opens it judges the signer: its
/// own key, a member's whose key it pinned (`cluster add`), or neither.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignedBy {
    /// The signer key whose signature over the manifest verified
    /// (`tacctl-ed25519:...`).
    pub signer: String,
    /// The member of this node's cluster (`config/cluster.yaml`) whose
    /// pinned signer key it is; `None` for any other key, this node's own
    /// included.
    pub member: Option<String>,
    /// Whether it is this node's own key (its member key's).
    pub this_node: bool,
    /// Whether this node trusts the signer: it is this node, or a member.
    pub trusted: bool,
}

impl SignedBy {
    /// How a node whose own signer key is `own` (none without a member
    /// key), with `members`, judges a bundle signed by `signer`.
    pub fn judge(signer: &SignerKey, own: Option<&SignerKey>, members: &[Member]) -> Self {
        let this_node = own == Some(signer);
        let member = members
            .iter()
            .find(|m| {
                m.signer
                    .as_deref()
                    .and_then(|s| SignerKey::parse(s).ok())
                    .as_ref()
                    == Some(signer)
            })
            .map(|m| m.name.clone())
            .filter(|_| !this_node);
        Self {
            signer: signer.to_string(),
            trusted: this_node || member.is_some(),
            member,
            this_node,
        }
    }
}

/// What `inspect`, `import` and the wizards say of a bundle's origin, after
/// "Signed by: ": the signer and how this node judges it, or that nobody
/// signed it.
pub fn describe_origin(origin: Option<&SignedBy>) -> String {
    match origin {
        None => "nobody (unsigned bundle)".to_owned(),
        Some(o) if o.this_node => format!("{} (this node)", o.signer),
        Some(SignedBy {
            signer,
            member: Some(m),
            ..
        }) => format!("{signer} (member {m:?}, trusted)"),
        Some(o) => format!("{} (not a member of this cluster: not trusted)", o.signer),
    }
}

/// What an import would do.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Plan {
    /// Where the bundle came from.
    pub source: Source,
    /// When it was made.
    pub created_at: u64,
    /// Who signed it, as this node judges the signer; `None` (JSON `null`)
    /// for an unsigned bundle. Importing one is allowed: the passphrase or
    /// member key that opened it is what authorises the import.
    #[serde(default)]
    pub origin: Option<SignedBy>,
    /// Per component.
    pub components: Vec<ComponentPlan>,
    /// Live sessions the change of key would end.
    pub sessions_ended: String,
}

/// The most changes a printed plan shows for one component; the rest are
/// counted by kind. A tree of custom files may bring 100,000 files, and a
/// plan that scrolls past them all hides what matters; the plan in JSON
/// lists every change.
pub const PLAN_LINES_PER_COMPONENT: usize = 25;

/// The plan as `import` and `import --dry-run` print it, and the wizards
/// show it: at most [`PLAN_LINES_PER_COMPONENT`] changes per component.
impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Import plan: bundle from {} (cluster {}), made {}",
            self.source.name,
            self.source.cluster_id,
            rfc3339(self.created_at)
        )?;
        writeln!(f, "Signed by: {}", describe_origin(self.origin.as_ref()))?;
        for c in &self.components {
            writeln!(f, "  {}: {}", c.component, c.status)?;
            for ch in c.changes.iter().take(PLAN_LINES_PER_COMPONENT) {
                writeln!(f, "    {} {}", ch.what, ch.detail)?;
            }
            let rest = c
                .changes
                .get(PLAN_LINES_PER_COMPONENT..)
                .unwrap_or_default();
            if !rest.is_empty() {
                // Counted in the order the kinds first appear.
                let mut kinds: Vec<(&str, usize)> = Vec::new();
                for ch in rest {
                    match kinds.iter_mut().find(|(k, _)| *k == ch.what) {
                        Some((_, n)) => *n += 1,
                        None => kinds.push((&ch.what, 1)),
                    }
                }
                let counts: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
                writeln!(
                    f,
                    "    ... and {} more: {} (the plan in JSON lists them all: `tacctl import FILE --dry-run --json`, or the API's dry_run=true)",
                    rest.len(),
                    counts.join(", ")
                )?;
            }
        }
        writeln!(f, "  live sessions ended: {}", self.sessions_ended)
    }
}

impl Plan {
    /// Whether anything changes.
    pub fn is_noop(&self) -> bool {
        self.components
            .iter()
            .all(|c| c.changes.iter().all(|ch| ch.what == "skipped"))
    }
}

/// The outcome of an import.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportOutcome {
    /// `applied` or `unchanged`.
    pub outcome: String,
    /// The snapshot taken before applying.
    pub snapshot: Option<String>,
    /// The active key fingerprint after the import.
    pub jwt_kid: String,
    /// What went wrong after the commit point: the import is applied, and
    /// each says what to do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The outcome as `import` prints it, with the way to undo it.
impl std::fmt::Display for ImportOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.snapshot {
            Some(s) => {
                write!(
                    f,
                    "Imported: {}; active JWT key {}. Undo with `tacctl rollback {s}`.",
                    self.outcome, self.jwt_kid
                )?;
                for w in &self.warnings {
                    write!(f, "\nwarning: {w}")?;
                }
                Ok(())
            }
            None => write!(
                f,
                "Nothing to change: this appliance already has that configuration."
            ),
        }
    }
}

/// A Unix time as RFC 3339 in UTC, to the second.
fn rfc3339(t: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::origin::Signer;

    fn member(name: &str, signer: Option<&SignerKey>) -> Member {
        Member {
            name: name.into(),
            url: format!("https://{name}:8443"),
            fingerprint: format!("SHA256:{}", "A".repeat(43)),
            added_at: 0,
            signer: signer.map(SignerKey::to_string),
        }
    }

    #[test]
    fn a_signer_is_this_node_a_pinned_member_or_a_stranger() {
        let (own, esa2, other) = (
            Signer::from_member_secret(&[1; 32]).key(),
            Signer::from_member_secret(&[2; 32]).key(),
            Signer::from_member_secret(&[3; 32]).key(),
        );
        // esa3 was added before signer keys: it pins none.
        let members = [member("esa3", None), member("esa2", Some(&esa2))];
        let judged = SignedBy::judge(&esa2, Some(&own), &members);
        assert_eq!(judged.member.as_deref(), Some("esa2"));
        assert!(judged.trusted && !judged.this_node);
        assert_eq!(
            describe_origin(Some(&judged)),
            format!("{esa2} (member \"esa2\", trusted)")
        );
        let mine = SignedBy::judge(&own, Some(&own), &members);
        assert!(mine.trusted && mine.this_node && mine.member.is_none());
        assert_eq!(describe_origin(Some(&mine)), format!("{own} (this node)"));
        for stranger in [
            SignedBy::judge(&other, Some(&own), &members),
            // Without an appliance, nobody is trusted, not even that key.
            SignedBy::judge(&own, None, &[]),
        ] {
            assert!(!stranger.trusted && stranger.member.is_none());
            assert!(
                describe_origin(Some(&stranger))
                    .ends_with("(not a member of this cluster: not trusted)")
            );
        }
        assert_eq!(describe_origin(None), "nobody (unsigned bundle)");
    }

    #[test]
    fn a_plan_says_who_signed_it_and_one_from_an_older_tacctl_reads_as_unsigned() {
        let plan = Plan {
            source: Source {
                name: "esa1".into(),
                node_id: "n1".into(),
                cluster_id: "c1".into(),
            },
            created_at: 0,
            origin: None,
            components: Vec::new(),
            sessions_ended: "none".into(),
        };
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["origin"], serde_json::Value::Null);
        assert!(
            plan.to_string()
                .contains("\nSigned by: nobody (unsigned bundle)\n")
        );
        let mut older = json.clone();
        older.as_object_mut().unwrap().remove("origin");
        assert_eq!(serde_json::from_value::<Plan>(older).unwrap(), plan);
    }
}
