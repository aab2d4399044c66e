//! The cluster on etcd: what tacctl keeps there, under one key prefix per
//! cluster (`/tacctl/CLUSTER-ID/`), and the operations on it. See
//! docs/FORMAT.md, "The cluster on etcd", for every key and record.
//!
//! ```text
//! PREFIX members/NODE-ID   a member: name, URL, certificate fingerprint, member key
//! PREFIX live/NODE-ID      present while its `tacctl serve` runs (under a lease it keeps alive)
//! PREFIX config            the published configuration: a bundle encrypted to the members' keys
//! PREFIX applied/NODE-ID   the revision of `config` the member applied, and its public JWT settings
//! ```
//!
//! The revision of a published configuration is the etcd revision that
//! wrote `config`. Publishing is one transaction that compares the
//! revision the publisher started from, so that of two administrators
//! publishing at once one wins and the other is told; no plaintext secret
//! is ever written to etcd (the bundle is encrypted to the members' keys,
//! and records hold only public values).

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use super::etcd::{Etcd, EtcdError, Kv, ModRevisionIs, Op, Settings};
use crate::api::ApplianceBody;

/// The version of the live, config and applied records this build writes;
/// it reads this and older.
pub const RECORD_VERSION: u32 = 1;
/// The version of the member records this build writes (2: with the
/// member's signer key); it reads this and older.
pub const MEMBER_RECORD_VERSION: u32 = 2;

/// A record kept in etcd, and the newest version of it this build reads.
pub trait Record: serde::de::DeserializeOwned {
    /// The newest version this build reads (and writes).
    const VERSION: u32;
}

impl Record for MemberRecord {
    const VERSION: u32 = MEMBER_RECORD_VERSION;
}
impl Record for LiveRecord {
    const VERSION: u32 = RECORD_VERSION;
}
impl Record for Published {
    const VERSION: u32 = RECORD_VERSION;
}
impl Record for AppliedRecord {
    const VERSION: u32 = RECORD_VERSION;
}
/// The largest bundle a publish writes: etcd refuses requests over 1.5 MiB
/// by default, and the bundle travels in base64.
pub const MAX_BUNDLE_BYTES: usize = 1024 * 1024;
/// How long a member's live key outlives its last keep-alive.
pub const LIVE_TTL: Duration = Duration::from_secs(10);

/// Why an operation on the cluster store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// etcd failed.
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    /// Another publish came first.
    #[error(
        "another configuration was published while this one was being prepared (revision {revision}, by {publisher}); nothing of this one was written. Look at it with `tacctl cluster status`, then publish again if yours is still wanted"
    )]
    Conflict {
        /// The revision now published.
        revision: i64,
        /// Who published it.
        publisher: String,
    },
    /// A record in etcd is not what this build writes.
    #[error(
        "the etcd key {key} holds something tacctl cannot read ({reason}); if a newer tacctl wrote it, upgrade this node"
    )]
    Damaged {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// This appliance's own files could not be read.
    #[error(transparent)]
    Appliance(#[from] Box<crate::ops::OpsError>),
    /// The bundle is too large for etcd.
    #[error(
        "the bundle is {bytes} bytes, more than the {MAX_BUNDLE_BYTES} an etcd publish carries; leave out custom files, or push it peer to peer with the cluster store set to local"
    )]
    TooLarge {
        /// Its size.
        bytes: usize,
    },
}

/// A member, as it registered itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberRecord {
    /// Record format version.
    pub version: u32,
    /// Its node id.
    pub node_id: String,
    /// Its node name.
    pub name: String,
    /// `https://host:port` of its REST API, as the other members reach it.
    pub url: String,
    /// `SHA256:...` of its API certificate.
    pub fingerprint: String,
    /// Its member key (`tacctl-x25519:...`): published bundles are
    /// encrypted to it.
    pub recipient: String,
    /// When it registered, Unix seconds.
    pub registered_at: u64,
    /// Its signer key (`tacctl-ed25519:...`), derived from its member key:
    /// the bundles it publishes are signed with it, and the members apply
    /// only what a registered member signed. Record version 2 on; absent
    /// in a version 1 record (its `tacctl serve` adds it when it starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}

/// A member's sign of life, under its lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveRecord {
    /// Record format version.
    pub version: u32,
    /// When its `tacctl serve` started, Unix seconds.
    pub since: u64,
}

/// A published configuration.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Published {
    /// Record format version.
    pub version: u32,
    /// The publishing node's name.
    pub publisher: String,
    /// When it was published, Unix seconds.
    pub published_at: u64,
    /// The components it carries.
    pub components: Vec<String>,
    /// The node ids it is encrypted to.
    pub recipients: Vec<String>,
    /// The bundle (format 3, encrypted to the recipients' member keys), in
    /// base64.
    pub bundle: String,
}

impl std::fmt::Debug for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Published")
            .field("publisher", &self.publisher)
            .field("published_at", &self.published_at)
            .field("components", &self.components)
            .field("recipients", &self.recipients)
            .field(
                "bundle",
                &format_args!("{} bytes of base64", self.bundle.len()),
            )
            .finish()
    }
}

impl Published {
    /// The bundle's bytes.
    pub fn bundle_bytes(&self) -> Result<Vec<u8>, String> {
        B64.decode(&self.bundle).map_err(|e| e.to_string())
    }
}

/// What a member did with a published revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It applied it (or it changed nothing there).
    Applied,
    /// It refused it; the message says why.
    Refused,
    /// It was not a recipient of it (it joined or its key changed after).
    NotARecipient,
}

/// A member's report on the configuration it last took up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppliedRecord {
    /// Record format version.
    pub version: u32,
    /// The revision of `config` it took up.
    pub revision: i64,
    /// What it did.
    pub outcome: Outcome,
    /// Why, when refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Its member key when it did (`tacctl-x25519:...`).
    pub recipient: String,
    /// When, Unix seconds.
    pub at: u64,
    /// Its public JWT settings after it, for `cluster status`.
    pub appliance: ApplianceBody,
}

/// Keys under one cluster's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    prefix: String,
}

impl Layout {
    /// The prefix of cluster `cluster_id`.
    pub fn default_prefix(cluster_id: &str) -> String {
        format!("/tacctl/{cluster_id}/")
    }

    /// The keys under `prefix` (which ends with `/`).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, rest: &str) -> Vec<u8> {
        format!("{}{rest}", self.prefix).into_bytes()
    }

    /// `PREFIX members/`.
    pub fn members(&self) -> Vec<u8> {
        self.key("members/")
    }
    /// `PREFIX members/NODE-ID`.
    pub fn member(&self, node_id: &str) -> Vec<u8> {
        self.key(&format!("members/{node_id}"))
    }
    /// `PREFIX live/`.
    pub fn lives(&self) -> Vec<u8> {
        self.key("live/")
    }
    /// `PREFIX live/NODE-ID`.
    pub fn live(&self, node_id: &str) -> Vec<u8> {
        self.key(&format!("live/{node_id}"))
    }
    /// `PREFIX config`.
    pub fn config(&self) -> Vec<u8> {
        self.key("config")
    }
    /// `PREFIX applied/`.
    pub fn applied_all(&self) -> Vec<u8> {
        self.key("applied/")
    }
    /// `PREFIX applied/NODE-ID`.
    pub fn applied(&self, node_id: &str) -> Vec<u8> {
        self.key(&format!("applied/{node_id}"))
    }
    /// The node id at the end of a key under `dir` (`members/`, ...).
    fn id_in<'k>(&self, dir: &[u8], key: &'k [u8]) -> Option<&'k str> {
        key.strip_prefix(dir)
            .and_then(|rest| std::str::from_utf8(rest).ok())
            .filter(|id| !id.is_empty())
    }
}

/// Reads the record at `key`: its version first, so that a newer record
/// says "upgrade" rather than which field is unknown.
pub fn decode<T: Record>(key: &[u8], value: &[u8]) -> Result<T, StoreError> {
    let damaged = |reason: String| StoreError::Damaged {
        key: String::from_utf8_lossy(key).into_owned(),
        reason,
    };
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    let v: Versioned = serde_json::from_slice(value).map_err(|e| damaged(e.to_string()))?;
    if v.version > T::VERSION {
        return Err(damaged(format!(
            "record version {}, this tacctl reads up to {}",
            v.version,
            T::VERSION
        )));
    }
    serde_json::from_slice(value).map_err(|e| damaged(e.to_string()))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialise to JSON")
}

/// The state of the whole cluster, read at one revision.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The store's revision it was read at.
    pub revision: i64,
    /// The members, by node id.
    pub members: BTreeMap<String, MemberRecord>,
    /// Node ids whose `tacctl serve` runs.
    pub live: std::collections::BTreeSet<String>,
    /// What each member last took up, by node id.
    pub applied: BTreeMap<String, AppliedRecord>,
    /// The published configuration's revision and publisher, if any.
    pub published: Option<(i64, String, u64)>,
}

/// One cluster's keys in one etcd cluster.
#[derive(Debug, Clone)]
pub struct Store {
    etcd: Etcd,
    layout: Layout,
}

/// The members this node addresses (pushes aside): with the store on etcd,
/// the registered members but this node; otherwise `config/cluster.yaml`'s.
/// For callers outside any async runtime (it runs its own for etcd).
pub fn members_of(
    ops: &crate::ops::Ops,
    timeout: Duration,
) -> Result<Vec<crate::component::Member>, StoreError> {
    let Some((_, store)) = Store::of(ops, timeout)? else {
        return ops.members().map_err(|e| Box::new(e).into());
    };
    let id = ops
        .app
        .node()
        .map_err(|e| Box::new(crate::ops::OpsError::from(e)))?
        .node_id;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| EtcdError::Settings(format!("cannot start the asynchronous runtime: {e}")))?;
    runtime.block_on(store.peers(&id))
}

impl MemberRecord {
    /// The member as a push, the status and the verifier address it.
    pub fn member(&self) -> crate::component::Member {
        crate::component::Member {
            name: self.name.clone(),
            url: self.url.clone(),
            fingerprint: self.fingerprint.clone(),
            added_at: self.registered_at,
            signer: self.signer.clone(),
        }
    }
}

impl Store {
    /// The store `ops`'s appliance is set to, with its settings and calls
    /// bounded by `timeout`; `None` when its store is local.
    pub fn of(
        ops: &crate::ops::Ops,
        timeout: Duration,
    ) -> Result<Option<(crate::component::ClusterStore, Self)>, StoreError> {
        let Some((stored, key)) = ops.cluster_store().map_err(Box::new)? else {
            return Ok(None);
        };
        let settings = Settings {
            endpoints: stored.endpoints.clone(),
            ca_pem: stored.ca_pem.clone(),
            cert_pem: stored.cert_pem.clone(),
            key_pem: key,
        };
        let store = Self::new(&settings, &stored.prefix, timeout)?;
        Ok(Some((stored, store)))
    }

    /// The members other than `this_id`, as the verifier addresses them.
    pub async fn peers(&self, this_id: &str) -> Result<Vec<crate::component::Member>, StoreError> {
        Ok(self
            .members()
            .await?
            .values()
            .filter(|m| m.node_id != this_id)
            .map(MemberRecord::member)
            .collect())
    }

    /// Connects (lazily: nothing is sent yet) to the store at `prefix`.
    pub fn new(settings: &Settings, prefix: &str, timeout: Duration) -> Result<Self, StoreError> {
        Ok(Self {
            etcd: Etcd::new(settings, timeout)?,
            layout: Layout::new(prefix),
        })
    }

    /// The etcd client.
    pub fn etcd(&self) -> &Etcd {
        &self.etcd
    }

    /// The keys.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Registers (or updates) a member.
    pub async fn register(&self, record: &MemberRecord) -> Result<(), StoreError> {
        self.etcd
            .put(&self.layout.member(&record.node_id), &encode(record), 0)
            .await?;
        Ok(())
    }

    /// Brings member `node_id`'s record up to date with the member key it
    /// holds now (`recipient`) and its signer key, as a record of this
    /// version: a record an older tacctl wrote has no signer key, and the
    /// members apply only what a registered member signed. The write
    /// compares the record's revision, so a member removed meanwhile stays
    /// removed. Returns the record as it stands, `None` when the node is
    /// not registered.
    pub async fn refresh_member(
        &self,
        node_id: &str,
        recipient: &str,
        signer: &str,
    ) -> Result<Option<MemberRecord>, StoreError> {
        let key = self.layout.member(node_id);
        let Some(kv) = self.etcd.get(&key).await? else {
            return Ok(None);
        };
        let record: MemberRecord = decode(&kv.key, &kv.value)?;
        if record.version == MEMBER_RECORD_VERSION
            && record.recipient == recipient
            && record.signer.as_deref() == Some(signer)
        {
            return Ok(Some(record));
        }
        let updated = MemberRecord {
            version: MEMBER_RECORD_VERSION,
            recipient: recipient.to_owned(),
            signer: Some(signer.to_owned()),
            ..record
        };
        let outcome = self
            .etcd
            .txn(
                &[ModRevisionIs {
                    key: key.clone(),
                    revision: kv.mod_revision,
                }],
                &[Op::Put {
                    key,
                    value: encode(&updated),
                    lease: 0,
                }],
            )
            .await?;
        if outcome.succeeded {
            Ok(Some(updated))
        } else {
            // Removed or rewritten meanwhile: what is there now stands.
            Ok(self.members().await?.remove(node_id))
        }
    }

    /// Removes a member and what it wrote, in one transaction: it is no
    /// recipient of any later publish.
    pub async fn unregister(&self, node_id: &str) -> Result<(), StoreError> {
        let ops = [
            Op::Delete {
                key: self.layout.member(node_id),
            },
            Op::Delete {
                key: self.layout.live(node_id),
            },
            Op::Delete {
                key: self.layout.applied(node_id),
            },
        ];
        self.etcd.txn(&[], &ops).await?;
        Ok(())
    }

    /// The registered members, by node id.
    pub async fn members(&self) -> Result<BTreeMap<String, MemberRecord>, StoreError> {
        let dir = self.layout.members();
        let (kvs, _) = self.etcd.list(&dir).await?;
        let mut out = BTreeMap::new();
        for kv in kvs {
            let record: MemberRecord = decode(&kv.key, &kv.value)?;
            if self.layout.id_in(&dir, &kv.key) != Some(record.node_id.as_str()) {
                return Err(StoreError::Damaged {
                    key: String::from_utf8_lossy(&kv.key).into_owned(),
                    reason: format!("it names node {}", record.node_id),
                });
            }
            out.insert(record.node_id.clone(), record);
        }
        Ok(out)
    }

    /// Everything at once, for `cluster status` and the wizard's table.
    pub async fn view(&self) -> Result<View, StoreError> {
        let (kvs, revision) = self.etcd.list(self.layout.key("").as_slice()).await?;
        let mut view = View {
            revision,
            ..View::default()
        };
        let (members, lives, applied, config) = (
            self.layout.members(),
            self.layout.lives(),
            self.layout.applied_all(),
            self.layout.config(),
        );
        for kv in kvs {
            if let Some(id) = self.layout.id_in(&members, &kv.key) {
                let r: MemberRecord = decode(&kv.key, &kv.value)?;
                view.members.insert(id.to_owned(), r);
            } else if let Some(id) = self.layout.id_in(&lives, &kv.key) {
                view.live.insert(id.to_owned());
            } else if let Some(id) = self.layout.id_in(&applied, &kv.key) {
                let r: AppliedRecord = decode(&kv.key, &kv.value)?;
                view.applied.insert(id.to_owned(), r);
            } else if kv.key == config {
                let p: Published = decode(&kv.key, &kv.value)?;
                view.published = Some((kv.mod_revision, p.publisher, p.published_at));
            }
        }
        Ok(view)
    }

    /// The published configuration and its revision, if any.
    pub async fn latest(&self) -> Result<Option<(i64, Published)>, StoreError> {
        let key = self.layout.config();
        match self.etcd.get(&key).await? {
            None => Ok(None),
            Some(kv) => Ok(Some((kv.mod_revision, decode(&key, &kv.value)?))),
        }
    }

    /// Publishes `published` if the configuration is still at revision
    /// `after` (0: none published yet); returns the new revision.
    pub async fn publish(&self, published: &Published, after: i64) -> Result<i64, StoreError> {
        let bytes = published.bundle.len() / 4 * 3;
        if bytes > MAX_BUNDLE_BYTES {
            return Err(StoreError::TooLarge { bytes });
        }
        let key = self.layout.config();
        let outcome = self
            .etcd
            .txn(
                &[ModRevisionIs {
                    key: key.clone(),
                    revision: after,
                }],
                &[Op::Put {
                    key: key.clone(),
                    value: encode(published),
                    lease: 0,
                }],
            )
            .await?;
        if outcome.succeeded {
            return Ok(outcome.revision);
        }
        let (revision, publisher) = match self.latest().await? {
            Some((r, p)) => (r, p.publisher),
            None => (0, "someone who then deleted it".into()),
        };
        Err(StoreError::Conflict {
            revision,
            publisher,
        })
    }

    /// Records what member `node_id` did with a revision.
    pub async fn record_applied(
        &self,
        node_id: &str,
        record: &AppliedRecord,
    ) -> Result<(), StoreError> {
        self.etcd
            .put(&self.layout.applied(node_id), &encode(record), 0)
            .await?;
        Ok(())
    }

    /// What member `node_id` last reported.
    pub async fn applied(&self, node_id: &str) -> Result<Option<AppliedRecord>, StoreError> {
        let key = self.layout.applied(node_id);
        match self.etcd.get(&key).await? {
            None => Ok(None),
            Some(kv) => Ok(Some(decode(&key, &kv.value)?)),
        }
    }

    /// Watches the members' reports written after revision `after`.
    pub async fn watch_applied(&self, after: i64) -> Result<super::etcd::Watch, StoreError> {
        Ok(self
            .etcd
            .watch(&self.layout.applied_all(), after + 1)
            .await?)
    }

    /// The member and its report in a key and value under `applied/`, as
    /// a watch of them sees it; `None` for any other key.
    pub fn applied_in(&self, kv: &Kv) -> Option<Result<(String, AppliedRecord), StoreError>> {
        let id = self.layout.id_in(&self.layout.applied_all(), &kv.key)?;
        Some(decode(&kv.key, &kv.value).map(|r| (id.to_owned(), r)))
    }

    /// The node ids whose `tacctl serve` runs (their live keys).
    pub async fn live(&self) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let dir = self.layout.lives();
        let (kvs, _) = self.etcd.list(&dir).await?;
        Ok(kvs
            .iter()
            .filter_map(|kv| self.layout.id_in(&dir, &kv.key).map(str::to_owned))
            .collect())
    }

    /// Marks member `node_id` live under a new lease; returns the lease.
    pub async fn go_live(&self, node_id: &str, since: u64) -> Result<i64, StoreError> {
        let lease = self.etcd.grant(LIVE_TTL).await?;
        let record = LiveRecord {
            version: RECORD_VERSION,
            since,
        };
        self.etcd
            .put(&self.layout.live(node_id), &encode(&record), lease)
            .await?;
        Ok(lease)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_under_the_prefix_and_ids_are_read_back() {
        let l = Layout::new("/tacctl/c1/");
        assert_eq!(l.member("n1"), b"/tacctl/c1/members/n1");
        assert_eq!(l.config(), b"/tacctl/c1/config");
        assert_eq!(l.id_in(&l.members(), &l.member("n1")), Some("n1"));
        assert_eq!(l.id_in(&l.members(), &l.live("n1")), None);
        assert_eq!(l.id_in(&l.members(), &l.members()), None);
        assert_eq!(Layout::default_prefix("c1"), "/tacctl/c1/");
    }

    #[test]
    fn a_newer_record_is_refused_with_a_hint_to_upgrade() {
        let err = decode::<LiveRecord>(b"/k", br#"{"version":2,"since":1}"#).unwrap_err();
        assert!(err.to_string().contains("upgrade"), "{err}");
        let ok: LiveRecord = decode(b"/k", br#"{"version":1,"since":1}"#).unwrap();
        assert_eq!(ok.since, 1);
        assert!(decode::<LiveRecord>(b"/k", br#"{"version":1,"since":1,"x":0}"#).is_err());
        assert!(decode::<LiveRecord>(b"/k", b"not json").is_err());
        // Member records are at version 2: 2 reads, 3 is refused.
        let member = |v: u32| {
            format!(
                r#"{{"version":{v},"node_id":"n","name":"a","url":"https://127.0.0.1:1","fingerprint":"SHA256:x","recipient":"r","registered_at":0}}"#
            )
        };
        assert!(decode::<MemberRecord>(b"/k", member(2).as_bytes()).is_ok());
        let err = decode::<MemberRecord>(b"/k", member(3).as_bytes()).unwrap_err();
        assert!(err.to_string().contains("reads up to 2"), "{err}");
    }

    /// A record as written, read back and written again.
    fn round_trip<T: Serialize + Record>(file: &str) -> T {
        let path = format!("{}/fixtures/etcd/{file}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).unwrap();
        let record: T = decode(b"/k", &bytes).unwrap();
        assert_eq!(
            String::from_utf8(encode(&record)).unwrap(),
            String::from_utf8(bytes).unwrap(),
            "{file} is not written back as it was"
        );
        record
    }

    #[test]
    fn records_read_and_write_as_documented() {
        let m: MemberRecord = round_trip("member.json");
        assert_eq!((m.name.as_str(), m.registered_at), ("esa2", 1796300000));
        assert!(m.recipient.starts_with("tacctl-x25519:"));
        assert_eq!((m.version, m.signer), (1, None));
        let m2: MemberRecord = round_trip("member-v2.json");
        assert_eq!(m2.version, MEMBER_RECORD_VERSION);
        let signer = m2
            .signer
            .as_deref()
            .expect("a version 2 record names its signer");
        crate::bundle::origin::SignerKey::parse(signer).unwrap();
        assert_eq!(m2.member().signer.as_deref(), Some(signer));
        let l: LiveRecord = round_trip("live.json");
        assert_eq!(l.since, 1796300100);
        let p: Published = round_trip("published.json");
        assert_eq!(p.components, ["jwt"]);
        assert_eq!(p.bundle_bytes().unwrap(), b"TACCTLB");
        let a: AppliedRecord = round_trip("applied.json");
        assert_eq!((a.revision, a.outcome), (42, Outcome::NotARecipient));
        assert_eq!(a.message, None);
        assert!(a.appliance.trusted_kids.is_empty());
        let r: AppliedRecord = round_trip("refused.json");
        assert_eq!(r.outcome, Outcome::Refused);
        assert_eq!(r.message.as_deref(), Some("the bundle is damaged"));
        assert_eq!(r.appliance.trusted_kids, ["abc"]);
    }

    #[test]
    fn published_debug_leaves_the_bundle_out() {
        let p = Published {
            version: 1,
            publisher: "esa1".into(),
            published_at: 0,
            components: vec!["jwt".into()],
            recipients: vec![],
            bundle: "QUJD".into(),
        };
        assert!(!format!("{p:?}").contains("QUJD"));
    }
}
