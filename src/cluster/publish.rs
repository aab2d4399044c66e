//! Publishing a configuration through the cluster store on etcd: the
//! chosen components are exported once, encrypted to the member key of
//! every registered member, and written as the next revision in one
//! transaction that compares the revision this publish started from; then
//! the members' own reports (`applied/NODE-ID`) are watched until each has
//! taken the revision up or the wait runs out. The result names every
//! member and what it did, and who has not applied yet.
//!
//! The members apply it themselves (their `tacctl serve` watches the
//! store), through the same import as a push: nothing here signs in to any
//! member, and no passphrase exists at all. The bundle is signed with this
//! node's member key, and the members apply only what a registered member
//! signed, so only a registered node publishes (its record brought up to
//! date with its signer key first).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;

use super::etcd::{Event, WatchMessage};
use super::store::{
    AppliedRecord, MemberRecord, Outcome, Published, RECORD_VERSION, Store, StoreError,
};
use crate::bundle::header::Lock;
use crate::bundle::recipient::Recipient;
use crate::component::Component;
use crate::ops::{Ops, OpsError};

/// How often the members' reports are read while waiting, should watching
/// them fail.
const POLL: Duration = Duration::from_millis(50);

/// Why a publish failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The store failed, or another publish won.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Exporting failed.
    #[error(transparent)]
    Export(#[from] OpsError),
    /// No member can be published to.
    #[error(
        "no member is registered in the cluster store; run `tacctl cluster store etcd` on each appliance first"
    )]
    NoMembers,
    /// This node is not registered in the store: the members would
    /// refuse what it signed.
    #[error(
        "{name} is not registered in the cluster store (it was removed, or never joined), so the members would refuse what it publishes; run `tacctl cluster store etcd` on it to join again, or publish from a member"
    )]
    NotAMember {
        /// This node's name.
        name: String,
    },
    /// A member's record names a key that is not a member key.
    #[error(
        "member {name}'s registered member key is not usable ({reason}); run `tacctl cluster store etcd` on it again"
    )]
    BadRecipient {
        /// The member.
        name: String,
        /// Why.
        reason: String,
    },
}

/// Where a member stands with a published revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum MemberState {
    /// It applied it.
    Applied,
    /// It refused it, and keeps its configuration.
    Refused {
        /// Its reason.
        message: String,
    },
    /// It has not reported on it within the wait.
    Pending {
        /// Whether its `tacctl serve` is running (its live key is there).
        live: bool,
    },
    /// It applied a later revision (another publish came after).
    Superseded {
        /// That revision.
        revision: i64,
    },
}

/// One member's line of the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberResult {
    /// Its name.
    pub name: String,
    /// Its node id.
    pub node_id: String,
    /// Where it stands.
    #[serde(flatten)]
    pub state: MemberState,
}

impl MemberResult {
    /// Whether it holds the published configuration (or a later one).
    pub fn holds(&self) -> bool {
        matches!(
            self.state,
            MemberState::Applied | MemberState::Superseded { .. }
        )
    }
}

/// What a publish did.
#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    /// The revision written.
    pub revision: i64,
    /// The components published.
    pub components: Vec<Component>,
    /// Every member, in name order.
    pub members: Vec<MemberResult>,
    /// How long the members took, or the wait that ran out, in milliseconds.
    pub waited_ms: u64,
}

impl PublishReport {
    /// The members that have not applied it.
    pub fn not_applied(&self) -> Vec<&MemberResult> {
        self.members.iter().filter(|m| !m.holds()).collect()
    }
}

/// The state of one member with `revision`, from its report.
fn state_of(revision: i64, applied: Option<&AppliedRecord>, live: bool) -> MemberState {
    match applied {
        Some(a) if a.revision == revision => match a.outcome {
            Outcome::Applied => MemberState::Applied,
            Outcome::Refused => MemberState::Refused {
                message: a
                    .message
                    .clone()
                    .unwrap_or_else(|| "no reason given".into()),
            },
            Outcome::NotARecipient => MemberState::Refused {
                message: "it was not a recipient (its member key changed after the publish)".into(),
            },
        },
        Some(a) if a.revision > revision => MemberState::Superseded {
            revision: a.revision,
        },
        _ => MemberState::Pending { live },
    }
}

/// Publishes `components` from this node (`ops`) to every member
/// registered in `store`, then waits up to `wait` for the members to apply
/// it. This node, the source of the configuration, counts as having
/// applied it.
pub async fn publish(
    ops: &Ops,
    store: &Store,
    components: &[Component],
    now: u64,
    wait: Duration,
) -> Result<PublishReport, PublishError> {
    let after = store.latest().await?.map_or(0, |(r, _)| r);
    let node = ops.app.node().map_err(OpsError::from)?;
    let identity = ops.member_identity(now)?;
    // The members apply only what a registered member signed: this node's
    // record must name its signer key (one an older tacctl wrote does not).
    if store
        .refresh_member(
            &node.node_id,
            &identity.recipient().to_string(),
            &identity.signer().key().to_string(),
        )
        .await?
        .is_none()
    {
        return Err(PublishError::NotAMember { name: node.name });
    }
    let members = store.members().await?;
    let mut recipients = Vec::with_capacity(members.len());
    for m in members.values() {
        let r = Recipient::parse(&m.recipient).map_err(|e| PublishError::BadRecipient {
            name: m.name.clone(),
            reason: e.to_string(),
        })?;
        recipients.push(r);
    }
    // Exporting takes milliseconds for what etcd carries; it runs on this
    // task (a command's own runtime).
    let (_, bundle) = {
        ops.export_trusting(
            components,
            false,
            // The export signs it with this node's member key, as a push.
            &Lock {
                passphrase: None,
                recipients: &recipients,
                signer: None,
            },
            Vec::new(),
            now,
            &crate::ops::bundle::NoProgress,
            &[],
        )
    }?;
    let published = Published {
        version: RECORD_VERSION,
        publisher: node.name.clone(),
        published_at: now,
        components: components.iter().map(|c| c.name().to_owned()).collect(),
        recipients: members.keys().cloned().collect(),
        bundle: B64.encode(&bundle),
    };
    let revision = store.publish(&published, after).await?;
    let started = Instant::now();
    // This node is where the configuration came from.
    if members.contains_key(&node.node_id) {
        let appliance = ops.describe(now)?;
        store
            .record_applied(
                &node.node_id,
                &AppliedRecord {
                    version: RECORD_VERSION,
                    revision,
                    outcome: Outcome::Applied,
                    message: None,
                    recipient: identity.recipient().to_string(),
                    at: now,
                    appliance,
                },
            )
            .await?;
    }
    let reports = wait_for_reports(store, &members, revision, started, wait).await?;
    let live = store.live().await?;
    let mut results: Vec<MemberResult> = members
        .values()
        .map(|m| MemberResult {
            name: m.name.clone(),
            node_id: m.node_id.clone(),
            state: state_of(revision, reports.get(&m.node_id), live.contains(&m.node_id)),
        })
        .collect();
    results.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(PublishReport {
        revision,
        components: components.to_vec(),
        members: results,
        waited_ms: started.elapsed().as_millis() as u64,
    })
}

/// The members' reports on `revision`, as they come (a watch of
/// `applied/` from that revision on), until none of `members` is pending
/// or `wait` has passed since `started`. Should the watch fail, the
/// reports are read every [`POLL`] instead.
async fn wait_for_reports(
    store: &Store,
    members: &BTreeMap<String, MemberRecord>,
    revision: i64,
    started: Instant,
    wait: Duration,
) -> Result<BTreeMap<String, AppliedRecord>, StoreError> {
    let mut reports = BTreeMap::new();
    let mut watch = match store.watch_applied(revision).await {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::debug!(error = %e, "watching the members' reports failed; reading them every {POLL:?}");
            reports = store.view().await?.applied;
            None
        }
    };
    loop {
        let pending = members.keys().any(|id| {
            matches!(
                state_of(revision, reports.get(id), true),
                MemberState::Pending { .. }
            )
        });
        let Some(remaining) = wait.checked_sub(started.elapsed()).filter(|_| pending) else {
            return Ok(reports);
        };
        let Some(w) = watch.as_mut() else {
            tokio::time::sleep(POLL.min(remaining)).await;
            reports = store.view().await?.applied;
            continue;
        };
        match tokio::time::timeout(remaining, w.next()).await {
            Err(_) => return Ok(reports),
            Ok(Ok(Some(WatchMessage::Events(events)))) => {
                for event in events {
                    if let Event::Put(kv) = event
                        && let Some(report) = store.applied_in(&kv)
                    {
                        let (id, record) = report?;
                        reports.insert(id, record);
                    }
                }
            }
            // Compacted, ended or broken: read them all, then poll.
            Ok(_) => {
                watch = None;
                reports = store.view().await?.applied;
            }
        }
    }
}

/// The result table, and a line naming who has not applied.
pub fn render(report: &PublishReport) -> String {
    let mut rows = vec![vec!["MEMBER".to_owned(), "RESULT".to_owned()]];
    for m in &report.members {
        let result = match &m.state {
            MemberState::Applied => format!("applied revision {}", report.revision),
            MemberState::Superseded { revision } => {
                format!("applied a later revision, {revision}")
            }
            MemberState::Refused { message } => format!("refused: {message}"),
            MemberState::Pending { live: true } => "not applied yet (serving)".to_owned(),
            MemberState::Pending { live: false } => {
                "not applied yet (offline: applies it when its `tacctl serve` returns)".to_owned()
            }
        };
        rows.push(vec![m.name.clone(), result]);
    }
    let mut text = format!(
        "Published revision {} ({}) to {} member(s) through etcd.\n",
        report.revision,
        report
            .components
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", "),
        report.members.len()
    );
    text.push_str(&super::table(&rows));
    let missing = report.not_applied();
    if !missing.is_empty() {
        text.push_str(&format!(
            "Not applied after {:.1} s: {}. Members that are offline apply it when they return; `tacctl cluster status` shows where each stands.\n",
            report.waited_ms as f64 / 1000.0,
            missing
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(revision: i64, outcome: Outcome) -> AppliedRecord {
        AppliedRecord {
            version: 1,
            revision,
            outcome,
            message: (outcome == Outcome::Refused).then(|| "disk full".into()),
            recipient: String::new(),
            at: 0,
            appliance: crate::api::ApplianceBody {
                name: "esa2".into(),
                node_id: "n2".into(),
                cluster_id: "c1".into(),
                version: "0".into(),
                algorithm: "HS256".into(),
                expiry_seconds: 300,
                max_session_seconds: 3600,
                kid: "k".into(),
                trusted_kids: vec![],
            },
        }
    }

    #[test]
    fn a_member_s_state_comes_from_its_report_on_that_revision() {
        assert_eq!(state_of(5, None, true), MemberState::Pending { live: true });
        let old = record(4, Outcome::Applied);
        assert_eq!(
            state_of(5, Some(&old), false),
            MemberState::Pending { live: false }
        );
        assert_eq!(
            state_of(5, Some(&record(5, Outcome::Applied)), true),
            MemberState::Applied
        );
        assert_eq!(
            state_of(5, Some(&record(5, Outcome::Refused)), true),
            MemberState::Refused {
                message: "disk full".into()
            }
        );
        assert_eq!(
            state_of(5, Some(&record(7, Outcome::Applied)), true),
            MemberState::Superseded { revision: 7 }
        );
    }

    #[test]
    fn the_table_names_who_has_not_applied() {
        let report = PublishReport {
            revision: 9,
            components: vec![Component::Jwt],
            members: vec![
                MemberResult {
                    name: "esa1".into(),
                    node_id: "n1".into(),
                    state: MemberState::Applied,
                },
                MemberResult {
                    name: "esa2".into(),
                    node_id: "n2".into(),
                    state: MemberState::Pending { live: false },
                },
            ],
            waited_ms: 3000,
        };
        let text = render(&report);
        assert!(text.contains("applied revision 9"), "{text}");
        assert!(text.contains("Not applied after 3.0 s: esa2."), "{text}");
        assert!(text.contains("offline"), "{text}");
    }
}
