//! This node as a member of a cluster on etcd, while `tacctl serve` runs:
//! it keeps the node's live key under a lease, watches the published
//! configuration, applies each revision through the same import as a push
//! (plan, snapshot, journal; all or nothing), and reports what it did with
//! it under `applied/NODE-ID`. With the store set to local it only waits
//! for that to change.
//!
//! etcd being down never stops the API: the node keeps serving its last
//! configuration, retries with a growing pause, and on reconnecting reads
//! the latest revision first (a watch from an old revision may find it
//! compacted away), so a member that was offline during a publish applies
//! it when it returns.

use std::sync::Arc;
use std::time::Duration;

use crate::bundle::header::Unlock;
use crate::bundle::recipient::Identity;
use crate::cluster::etcd::{Event, Settings, WatchMessage};
use crate::cluster::store::{
    AppliedRecord, LIVE_TTL, Outcome, Published, RECORD_VERSION, Store, StoreError, decode,
};
use crate::component::ClusterStore;
use crate::ops::bundle::{BundleInput, ImportChoice, Imported, NoProgress};
use std::collections::BTreeMap;

use super::{AppState, now};

/// How often the store file is looked at while the store is local.
const LOCAL_POLL: Duration = Duration::from_secs(2);
/// The longest pause between attempts to reach etcd.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Each call to etcd may take this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs until `stopping` turns true.
pub(super) async fn run(state: Arc<AppState>, mut stopping: tokio::sync::watch::Receiver<bool>) {
    let lease = Lease::default();
    tokio::select! {
        _ = serve_member(&state, &lease) => {}
        _ = stopping.wait_for(|s| *s) => {}
    }
    let held = lease.0.lock().expect("lease lock").take();
    if let Some((etcd, id)) = held
        && tokio::time::timeout(Duration::from_secs(1), etcd.revoke(id))
            .await
            .is_ok_and(|r| r.is_ok())
    {
        tracing::info!("cluster store: this node is no longer live there");
    }
}

/// The lease this node's live key is under, to revoke when the server stops.
#[derive(Default)]
struct Lease(std::sync::Mutex<Option<(crate::cluster::etcd::Etcd, i64)>>);

impl Lease {
    fn set(&self, store: &Store, id: i64) {
        *self.0.lock().expect("lease lock") = Some((store.etcd().clone(), id));
    }
}

async fn serve_member(state: &Arc<AppState>, lease: &Lease) {
    let mut backoff = Duration::from_millis(500);
    let mut last_error: Option<String> = None;
    loop {
        let stored = {
            let st = Arc::clone(state);
            tokio::task::spawn_blocking(move || st.ops().cluster_store()).await
        };
        let (stored, key) = match stored {
            Ok(Ok(Some(s))) => s,
            Ok(Ok(None)) => {
                tokio::time::sleep(LOCAL_POLL).await;
                continue;
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot read cluster-store.yaml; fix or remove it (`tacctl cluster store local`)");
                tokio::time::sleep(MAX_BACKOFF).await;
                continue;
            }
            Err(_) => return,
        };
        let settings = Settings {
            endpoints: stored.endpoints.clone(),
            ca_pem: stored.ca_pem.clone(),
            cert_pem: stored.cert_pem.clone(),
            key_pem: key,
        };
        let result = match Store::new(&settings, &stored.prefix, CALL_TIMEOUT) {
            Ok(store) => member(state, &stored, &store, lease, &mut backoff).await,
            Err(e) => Err(e),
        };
        match result {
            // The store changed: take up the new one at once.
            Ok(()) => backoff = Duration::from_millis(500),
            Err(e) => {
                let text = e.to_string();
                if last_error.as_deref() != Some(text.as_str()) {
                    tracing::warn!(error = %text, retry_in = ?backoff, "cluster store: serving the last configuration meanwhile");
                    last_error = Some(text);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Whether `cluster-store.yaml` still says what it said when `stored` was read.
async fn unchanged(state: &Arc<AppState>, stored: &ClusterStore) -> bool {
    let st = Arc::clone(state);
    let now = tokio::task::spawn_blocking(move || st.ops().app.cluster_store()).await;
    matches!(now, Ok(Ok(Some(s))) if s == *stored)
}

/// Serves as a member of `store` until the store settings change (`Ok`) or
/// etcd fails (`Err`).
async fn member(
    state: &Arc<AppState>,
    stored: &ClusterStore,
    store: &Store,
    held: &Lease,
    backoff: &mut Duration,
) -> Result<(), StoreError> {
    let (node, identity) = {
        let st = Arc::clone(state);
        match tokio::task::spawn_blocking(move || {
            let ops = st.ops();
            Ok::<_, crate::ops::OpsError>((ops.app.node()?, ops.member_identity(now())?))
        })
        .await
        {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cluster store: cannot read this node's identity");
                tokio::time::sleep(MAX_BACKOFF).await;
                return Ok(());
            }
            Err(_) => return Ok(()),
        }
    };
    let id = node.node_id.clone();
    let mut lease = store.go_live(&id, now()).await?;
    held.set(store, lease);
    let mut applied = store.applied(&id).await?.map_or(0, |a| a.revision);
    // Catch up first (a watch from an old revision may find it compacted
    // away), then watch from the revision that read was made at.
    let config = store.layout().config();
    let agent = Agent {
        state,
        store,
        id: &id,
        identity: &identity,
        own_signer: identity.signer().key().to_string(),
        signers: std::sync::Mutex::new(BTreeMap::new()),
    };
    // A record an older tacctl registered names no signer key: without it
    // the other members would refuse what this node publishes.
    store
        .refresh_member(&id, &identity.recipient().to_string(), &agent.own_signer)
        .await?;
    let from = agent.catch_up(&mut applied).await?;
    let mut watch = store.etcd().watch(&config, from + 1).await?;
    tracing::info!(endpoint = %watch.endpoint(), revision = applied, "cluster store: member of the etcd cluster store, watching for published configurations");
    *backoff = Duration::from_millis(500);
    let mut reported = None;
    agent.refresh_report(&mut reported).await?;
    let mut tick = tokio::time::interval(LIVE_TTL / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if !unchanged(state, stored).await {
                    let _ = store.etcd().revoke(lease).await;
                    return Ok(());
                }
                agent.refresh_report(&mut reported).await?;
                match store.etcd().keep_alive(lease).await {
                    Ok(_) => {}
                    Err(crate::cluster::etcd::EtcdError::LeaseExpired(_)) => {
                        lease = store.go_live(&id, now()).await?;
                        held.set(store, lease);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            message = watch.next() => {
                match message? {
                    None => {
                        return Err(crate::cluster::etcd::EtcdError::Unavailable(vec![format!(
                            "{}: the watch ended",
                            watch.endpoint()
                        )])
                        .into())
                    }
                    Some(WatchMessage::Compacted { .. }) => {
                        let from = agent.catch_up(&mut applied).await?;
                        watch = store.etcd().watch(&config, from + 1).await?;
                    }
                    Some(WatchMessage::Events(events)) => {
                        // Only the newest put matters: each carries a whole configuration.
                        let newest = events.into_iter().rev().find_map(|e| match e {
                            Event::Put(kv) if kv.key == config => Some(kv),
                            _ => None,
                        });
                        if let Some(kv) = newest
                            && kv.mod_revision > applied
                        {
                            agent.take_up(kv.mod_revision, &kv.value).await?;
                            applied = kv.mod_revision;
                        }
                    }
                }
            }
        }
    }
}

/// What every step of a member's work on the store needs.
struct Agent<'a> {
    state: &'a Arc<AppState>,
    store: &'a Store,
    id: &'a str,
    identity: &'a Identity,
    /// This node's signer key, as text.
    own_signer: String,
    /// The registered members' signer keys, to the member's name: the
    /// origins this node applies bundles from (besides its own). Read at
    /// each catch-up, and again when a bundle's signer is not among them.
    signers: std::sync::Mutex<BTreeMap<String, String>>,
}

/// How a member judged and took a published bundle.
enum Taken {
    /// Applied (or found it holds it already), signed by this member.
    Applied {
        /// The signing member's name, or "this node".
        signer: String,
    },
    /// Signed by a key no registered member holds, or not signed: nothing
    /// was changed.
    Untrusted {
        /// The signer key, `None` for an unsigned bundle.
        signer: Option<String>,
    },
}

impl Agent<'_> {
    /// This node's public JWT settings, as `cluster status` compares them.
    async fn describe(&self) -> Option<crate::api::ApplianceBody> {
        let st = Arc::clone(self.state);
        match tokio::task::spawn_blocking(move || st.ops().describe(now())).await {
            Ok(Ok(body)) => Some(body),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot describe this node for the cluster store");
                None
            }
            Err(_) => None,
        }
    }

    /// Keeps this node's report in step with its settings when they change
    /// here (a local `jwt` command, say), so that `cluster status` sees
    /// drift without asking the node; writes a first report (revision 0)
    /// when there is none.
    async fn refresh_report(
        &self,
        reported: &mut Option<crate::api::ApplianceBody>,
    ) -> Result<(), StoreError> {
        let Some(body) = self.describe().await else {
            return Ok(());
        };
        if reported.as_ref() == Some(&body) {
            return Ok(());
        }
        let record = match self.store.applied(self.id).await? {
            Some(r) if r.appliance == body => None,
            Some(r) => Some(AppliedRecord {
                appliance: body.clone(),
                at: now(),
                ..r
            }),
            None => Some(self.record(0, Outcome::Applied, None, body.clone())),
        };
        if let Some(r) = record {
            self.store.record_applied(self.id, &r).await?;
        }
        *reported = Some(body);
        Ok(())
    }

    /// Applies the published configuration if it is newer than `applied`;
    /// returns the store revision it was read at, to watch from.
    async fn catch_up(&self, applied: &mut i64) -> Result<i64, StoreError> {
        self.read_signers().await?;
        let config = self.store.layout().config();
        let (kvs, at) = self.store.etcd().list(&config).await?;
        if let Some(kv) = kvs.into_iter().find(|kv| kv.key == config)
            && kv.mod_revision > *applied
        {
            self.take_up(kv.mod_revision, &kv.value).await?;
            *applied = kv.mod_revision;
        }
        Ok(at)
    }

    /// Applies the record `value` published at `revision`, or refuses it,
    /// and reports which.
    async fn take_up(&self, revision: i64, value: &[u8]) -> Result<(), StoreError> {
        let (outcome, message) = match decode::<Published>(&self.store.layout().config(), value) {
            Ok(published) => self.apply(revision, &published).await,
            Err(e) => (Outcome::Refused, Some(e.to_string())),
        };
        let Some(appliance) = self.describe().await else {
            return Ok(());
        };
        let record = self.record(revision, outcome, message, appliance);
        self.store.record_applied(self.id, &record).await
    }

    /// Reads the registered members' signer keys.
    async fn read_signers(&self) -> Result<(), StoreError> {
        let members = self.store.members().await?;
        let signers = members
            .into_values()
            .filter_map(|m| m.signer.map(|s| (s, m.name)))
            .collect();
        *self.signers.lock().expect("signers lock") = signers;
        Ok(())
    }

    /// The origins this node applies bundles from, to the name it logs.
    fn trusted(&self) -> BTreeMap<String, String> {
        let mut trusted = self.signers.lock().expect("signers lock").clone();
        trusted.insert(self.own_signer.clone(), "this node".into());
        trusted
    }

    /// Applies revision `revision` through the import path when a
    /// registered member signed it; what came of it.
    async fn apply(&self, revision: i64, published: &Published) -> (Outcome, Option<String>) {
        if !published.recipients.iter().any(|r| r == self.id) {
            tracing::warn!(revision, publisher = %published.publisher, "cluster store: a configuration was published without this node as a recipient; it is not applied here");
            return (Outcome::NotARecipient, None);
        }
        let bytes = match published.bundle_bytes() {
            Ok(b) => Arc::new(b),
            Err(e) => {
                return (
                    Outcome::Refused,
                    Some(format!("the published bundle is not base64 ({e})")),
                );
            }
        };
        let mut taken = self.import(&bytes, self.trusted()).await;
        if let Ok(Taken::Untrusted { signer: Some(_) }) = &taken {
            // A member that registered since the last read of them.
            match self.read_signers().await {
                Ok(()) => taken = self.import(&bytes, self.trusted()).await,
                Err(e) => taken = Err(format!("reading the members' signer keys: {e}")),
            }
        }
        match taken {
            Ok(Taken::Applied { signer }) => {
                tracing::info!(revision, publisher = %published.publisher, signed_by = %signer, components = ?published.components, "cluster store: applied a published configuration, signed by a registered member");
                (Outcome::Applied, None)
            }
            Ok(Taken::Untrusted { signer }) => {
                let message = match signer {
                    Some(key) => format!(
                        "it is signed by {key}, which no registered member holds; nothing was changed. If that is a member, run `tacctl cluster store etcd` on it again so that its record names its signer key"
                    ),
                    None => "it is not signed (an origin proof); nothing was changed. Publish it again from a member with this version of tacctl".into(),
                };
                tracing::warn!(revision, publisher = %published.publisher, reason = %message, "cluster store: a published configuration was refused; this node keeps its configuration");
                (Outcome::Refused, Some(message))
            }
            Err(message) => {
                tracing::warn!(revision, error = %message, "cluster store: a published configuration was refused; this node keeps its configuration");
                (Outcome::Refused, Some(message))
            }
        }
    }

    /// Imports `bytes` when their signer is one of `trusted`; reloads the
    /// server once they changed something.
    async fn import(
        &self,
        bytes: &Arc<Vec<u8>>,
        trusted: BTreeMap<String, String>,
    ) -> Result<Taken, String> {
        let st = Arc::clone(self.state);
        let secret = self.identity.secret_bytes();
        let bytes = Arc::clone(bytes);
        let result = tokio::task::spawn_blocking(move || {
            let identity = Identity::from_secret(&secret);
            let ops = st.ops();
            let signer_of = |plan: &crate::bundle::plan::Plan| {
                plan.origin.as_ref().map(|o| o.signer.clone())
            };
            let imported = ops.import(
                BundleInput::Memory(&bytes),
                Unlock::Identity(&identity),
                &ImportChoice {
                    components: None,
                    include_node_local: false,
                    dry_run: false,
                    confirm_unchanged: true,
                },
                now(),
                &NoProgress,
                &mut |plan| Ok(signer_of(plan).is_some_and(|s| trusted.contains_key(&s))),
            )?;
            Ok::<_, crate::ops::OpsError>(match imported {
                Imported::Applied(plan, _) => {
                    if let Err(e) = st.reload(true) {
                        tracing::warn!(error = %e, "reloading after applying a published configuration; it retries on its next check");
                    }
                    let signer = signer_of(&plan)
                        .and_then(|s| trusted.get(&s).cloned())
                        .unwrap_or_default();
                    Taken::Applied { signer }
                }
                Imported::Declined(plan) | Imported::Planned(plan) => Taken::Untrusted {
                    signer: signer_of(&plan),
                },
            })
        })
        .await;
        match result {
            Ok(Ok(taken)) => Ok(taken),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("the import task failed: {e}")),
        }
    }

    /// This node's report on `revision`.
    fn record(
        &self,
        revision: i64,
        outcome: Outcome,
        message: Option<String>,
        appliance: crate::api::ApplianceBody,
    ) -> AppliedRecord {
        AppliedRecord {
            version: RECORD_VERSION,
            revision,
            outcome,
            message,
            recipient: self.identity.recipient().to_string(),
            at: now(),
            appliance,
        }
    }
}
