//! The push of the Cluster Export Wizard and of `tacctl export --to`: one
//! encrypted bundle sent to many appliances at once, each through its import
//! endpoint over HTTPS with its pinned certificate.
//!
//! What to push is a [`PushPlan`]: the components, the targets and how to
//! sign in to them, as the wizard's steps 1 to 3 or the command's flags
//! decide. A [`Session`] holds the runtime a push runs on, from the probe
//! that shows the targets' status before anything is asked to the result,
//! and [`Session::run`] carries out steps 4 to 6 of the wizard: the dry run
//! on every target, its plans shown and confirmed, the import, the result
//! table. What it shows and asks goes through a [`Screen`], which the
//! wizard's prompter implements: this module never draws on a terminal.
//!
//! A push has two phases so that an administrator can look before anything
//! changes. The first signs in on every target (with this node's own
//! administrator token where the target accepts it, otherwise with the
//! administrator credentials given) and asks for a dry run, which is the
//! target's plan. The second imports for real on the targets that
//! prepared, and for a bundle with the JWT configuration checks both the
//! key id the import reports (read back by the target after applying) and
//! the one its public node endpoint serves before reporting "applied".
//!
//! Every target runs in its own task, bounded by its own timeout; one that
//! is down, refuses the credentials or the bundle, or presents another
//! certificate fails alone, and the [`Report`] says exactly which members
//! hold the new configuration. The bundle travels encrypted to every
//! target's member key, read from its node endpoint over its pinned
//! certificate, so that no target runs a passphrase KDF; a target that
//! serves no member key (an older tacctl) gets it under a fresh random
//! passphrase ([`PASSPHRASE_BYTES`] bytes from the operating system) sent
//! in the same request's header. It never touches a disk on this node.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use secrecy::SecretString;
use serde::Serialize;

use super::client::{Client, ClientError, Peer};
use crate::api::NodeBody;
use crate::bundle::header::{KdfParams, Lock};
use crate::bundle::recipient::Recipient;
use crate::component::{Component, TrustedMember};
use crate::ops::bundle::Plan;
use crate::ops::{Ops, OpsError};

/// How long one target may take for each phase, sign-in and dry run, or
/// import and check. A bundle of custom files may be large; a JWT bundle
/// takes well under a second.
pub const DEFAULT_TARGET_TIMEOUT: Duration = Duration::from_secs(120);

/// Random bytes in a push's one-time passphrase (then base64url): 256 bits,
/// so the passphrase is as strong as the bundle's key.
pub const PASSPHRASE_BYTES: usize = 32;

/// Why a push could not start. Failures of single targets are not errors
/// but [`Outcome::Failed`] values in the [`Report`].
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Making the bundle on this node failed.
    #[error("the bundle to push could not be made: {0}")]
    Export(#[from] OpsError),
    /// An appliance to push to could not be reached before the push began
    /// (its certificate could not be fetched), or its URL is not one.
    #[error(transparent)]
    Peer(#[from] ClientError),
    /// The runtime for the network calls could not start.
    #[error("cannot start the asynchronous runtime: {0}")]
    Runtime(String),
}

/// The bundle a push sends: encrypted to the member key of every target
/// that serves one, and under a one-time passphrase as well when some
/// target serves none (an older tacctl).
pub struct Payload {
    bundle: Arc<Vec<u8>>,
    /// For the targets without a member key; `None` when every one has one.
    passphrase: Option<SecretString>,
    /// The URLs of the targets the bundle is encrypted to.
    keyed: std::collections::HashSet<String>,
    components: Vec<Component>,
    jwt_kid: Option<String>,
    source: String,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("bytes", &self.bundle.len())
            .field("components", &self.components)
            .field("jwt_kid", &self.jwt_kid)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// A fresh passphrase: [`PASSPHRASE_BYTES`] random bytes, base64url.
pub fn fresh_passphrase() -> Result<SecretString, OpsError> {
    let bytes = crate::ops::random_bytes(PASSPHRASE_BYTES)?;
    let text =
        zeroize::Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&*bytes));
    Ok(SecretString::from(text.as_str()))
}

impl Payload {
    /// Exports `components` (only what is cluster-wide: never the TLS
    /// certificate or the host name) into memory, encrypted to each
    /// target's member key in `keys` (URL and key), and under a fresh
    /// passphrase at `kdf`'s cost when a target has none. Appliances JWT
    /// Trust carries, besides this node's own public keys and those it
    /// trusts, `also_trusted`'s.
    pub fn export(
        ops: &Ops,
        components: &[Component],
        kdf: KdfParams,
        now: u64,
        also_trusted: &[TrustedMember],
        keys: &[(String, Option<Recipient>)],
    ) -> Result<Self, PushError> {
        let mut recipients: Vec<Recipient> = Vec::new();
        for r in keys.iter().filter_map(|(_, r)| *r) {
            if !recipients.contains(&r) {
                recipients.push(r);
            }
        }
        let passphrase = if keys.iter().all(|(_, r)| r.is_some()) && !keys.is_empty() {
            None
        } else {
            Some(fresh_passphrase()?)
        };
        let (manifest, bundle) = ops.export_trusting(
            components,
            false,
            // The export signs it with this node's member key.
            &Lock {
                passphrase: passphrase.as_ref().map(|p| (p, kdf)),
                recipients: &recipients,
                signer: None,
            },
            Vec::new(),
            now,
            &crate::ops::bundle::NoProgress,
            also_trusted,
        )?;
        Ok(Self {
            bundle: Arc::new(bundle),
            passphrase,
            keyed: keys
                .iter()
                .filter(|(_, r)| r.is_some())
                .map(|(url, _)| url.clone())
                .collect(),
            components: components.to_vec(),
            jwt_kid: components
                .contains(&Component::Jwt)
                .then(|| manifest.jwt_kid.clone()),
            source: manifest.source.name,
        })
    }

    /// The passphrase to send to the target at `url`: none when the bundle
    /// is encrypted to its member key.
    fn passphrase_for(&self, url: &str) -> Option<&SecretString> {
        if self.keyed.contains(url) {
            None
        } else {
            self.passphrase.as_ref()
        }
    }

    /// How many targets open it with their member key.
    pub fn keyed(&self) -> usize {
        self.keyed.len()
    }

    /// The components it carries.
    pub fn components(&self) -> &[Component] {
        &self.components
    }

    /// The active JWT key id it carries, when it carries the JWT configuration.
    pub fn jwt_kid(&self) -> Option<&str> {
        self.jwt_kid.as_deref()
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.bundle.len()
    }

    /// Whether it is empty (never, for an exported bundle).
    pub fn is_empty(&self) -> bool {
        self.bundle.is_empty()
    }

    /// The node it was made on.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The import endpoint's `components` parameter: exactly these.
    fn components_query(&self) -> String {
        self.components
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// An administrator's user name and password on the targets.
#[derive(Debug, Clone)]
pub struct Login {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: SecretString,
}

/// How targets are signed in to: this node's own token first, where a
/// target accepts it, else the login.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// A token this node issued for one of its administrators.
    pub own_token: Option<SecretString>,
    /// Credentials for the targets that do not accept `own_token`.
    pub login: Option<Login>,
}

/// How a target was signed in to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    /// It accepted this node's own token: its JWT configuration already matches.
    OwnToken,
    /// With the administrator credentials given.
    Login,
}

/// Where one target is in the push, for progress displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Connecting and signing in.
    SigningIn,
    /// Asking for the dry run.
    Planning,
    /// The plan is in; `noop` when nothing would change.
    Planned {
        /// Nothing would change.
        noop: bool,
    },
    /// Importing.
    Importing,
    /// Reading back the key the target now serves.
    Checking,
    /// Finished: applied.
    Applied,
    /// Finished: nothing needed to change.
    Unchanged,
    /// Finished: failed, and why.
    Failed(String),
}

impl Stage {
    /// Steps in a whole push, for a progress bar's length.
    pub const STEPS: u64 = 5;

    /// How far along this stage is, from 0 to [`Stage::STEPS`].
    pub fn position(&self) -> u64 {
        match self {
            Stage::SigningIn => 0,
            Stage::Planning => 1,
            Stage::Planned { .. } => 2,
            Stage::Importing => 3,
            Stage::Checking => 4,
            Stage::Applied | Stage::Unchanged | Stage::Failed(_) => 5,
        }
    }

    /// Whether the target is done.
    pub fn is_final(&self) -> bool {
        matches!(self, Stage::Applied | Stage::Unchanged | Stage::Failed(_))
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stage::SigningIn => write!(f, "signing in"),
            Stage::Planning => write!(f, "dry run"),
            Stage::Planned { noop: true } => write!(f, "planned: nothing to change"),
            Stage::Planned { noop: false } => write!(f, "planned"),
            Stage::Importing => write!(f, "importing"),
            Stage::Checking => write!(f, "checking the key it serves"),
            Stage::Applied => write!(f, "applied"),
            Stage::Unchanged => write!(f, "unchanged"),
            Stage::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// Told of every target's progress: its index among the targets, and its stage.
pub type Progress = Arc<dyn Fn(usize, &Stage) + Send + Sync>;

/// A progress callback that ignores everything.
pub fn no_progress() -> Progress {
    Arc::new(|_, _| {})
}

/// A progress display: the callback the push reports to, and what to do
/// when it is over.
pub struct ProgressView {
    /// Told of every target's stage.
    pub update: Progress,
    finish: Option<Box<dyn FnOnce() + Send>>,
}

impl ProgressView {
    /// No display.
    pub fn none() -> Self {
        Self {
            update: no_progress(),
            finish: None,
        }
    }

    /// A display updated through `update`, closed by `finish`.
    pub fn new(update: Progress, finish: impl FnOnce() + Send + 'static) -> Self {
        Self {
            update,
            finish: Some(Box::new(finish)),
        }
    }

    /// Closes the display.
    pub fn finish(mut self) {
        if let Some(f) = self.finish.take() {
            f();
        }
    }
}

impl std::fmt::Debug for ProgressView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressView").finish_non_exhaustive()
    }
}

impl Drop for ProgressView {
    fn drop(&mut self) {
        if let Some(f) = self.finish.take() {
            f();
        }
    }
}

/// What kind of failure a target had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// No connection or no answer.
    Unreachable,
    /// It presented another certificate than the pinned one.
    FingerprintMismatch,
    /// It does not accept this node's token and no credentials were given.
    NoCredentials,
    /// It refused the credentials.
    CredentialsRefused,
    /// It refused the bundle or the import.
    ImportRefused,
    /// After the import it serves another JWT key than the bundle's.
    KeyMismatch,
    /// It took longer than the timeout.
    Timeout,
    /// Anything else (an answer the API does not document).
    Error,
}

/// Why a target failed, in words an administrator can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The kind.
    pub kind: FailureKind,
    /// What happened.
    pub reason: String,
}

impl Failure {
    fn new(kind: FailureKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
        }
    }

    /// A client error, classified; `refused` is the kind a refusal gets.
    fn client(e: ClientError, refused: FailureKind) -> Self {
        let kind = match &e {
            ClientError::Unreachable { .. } => FailureKind::Unreachable,
            ClientError::FingerprintMismatch { .. } => FailureKind::FingerprintMismatch,
            ClientError::Refused { .. } => refused,
            ClientError::BadUrl(_) | ClientError::Protocol { .. } | ClientError::Tls(_) => {
                FailureKind::Error
            }
        };
        Self::new(kind, e.to_string())
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// What the target said before the push: who it is and whether it takes
/// this node's token.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Its public node information, or why it could not be read.
    pub node: Result<NodeBody, Failure>,
    /// Whether it accepts this node's own token for administration;
    /// `None` when that could not be asked.
    pub accepts_own_token: Option<bool>,
    /// The connection the probe used, for the push to reuse.
    client: Option<Client>,
    /// The [`Session`] whose runtime that connection lives on (0: none).
    session: u64,
}

/// A target of a push, with what a [`Session::probe`] learnt of it: its open
/// connection, reused so that the push does not open another (a TLS
/// handshake on both ends), and whether it took this node's token, so that
/// the push does not ask again.
#[derive(Debug, Clone)]
pub struct Target {
    /// The target.
    pub peer: Peer,
    client: Option<Client>,
    accepts_own_token: Option<bool>,
    session: u64,
}

impl Target {
    /// A target the push knows nothing about yet.
    pub fn new(peer: Peer) -> Self {
        Self {
            peer,
            client: None,
            accepts_own_token: None,
            session: 0,
        }
    }

    /// A target as `probe` found it. A probe of another URL or certificate
    /// is ignored.
    pub fn probed(peer: Peer, probe: &Probe) -> Self {
        match probe.client.as_ref().and_then(|c| c.reuse_for(&peer)) {
            Some(c) => Self {
                client: Some(c),
                accepts_own_token: probe.accepts_own_token,
                session: probe.session,
                peer,
            },
            None => Self::new(peer),
        }
    }

    /// This target for a push on `session`: a connection another session's
    /// runtime opened cannot serve it, so it is left to open a new one.
    fn on(&self, session: u64) -> Self {
        let mut t = self.clone();
        if t.session != session {
            t.client = None;
            t.session = 0;
        }
        t
    }
}

/// Asks every target, in parallel, for its node information and whether
/// it accepts `own_token`. No secret but the token crosses the wire.
async fn probe(
    targets: &[Peer],
    own_token: Option<&SecretString>,
    timeout: Duration,
) -> Vec<Probe> {
    let tasks: Vec<_> = targets
        .iter()
        .map(|peer| {
            let peer = peer.clone();
            let token = own_token.cloned();
            tokio::spawn(async move {
                let run = async {
                    let client = match Client::with_timeout(peer, timeout) {
                        Ok(c) => c,
                        Err(e) => {
                            return Probe {
                                node: Err(Failure::client(e, FailureKind::Error)),
                                accepts_own_token: None,
                                client: None,
                                session: 0,
                            };
                        }
                    };
                    let node = client
                        .node()
                        .await
                        .map_err(|e| Failure::client(e, FailureKind::Error));
                    let accepts = match (&node, token) {
                        (Ok(_), Some(t)) => match client.jwt_settings(&t).await {
                            Ok(_) => Some(true),
                            Err(ClientError::Refused {
                                status: 401 | 403, ..
                            }) => Some(false),
                            Err(_) => None,
                        },
                        _ => None,
                    };
                    Probe {
                        client: node.is_ok().then(|| client.clone()),
                        node,
                        accepts_own_token: accepts,
                        session: 0,
                    }
                };
                tokio::time::timeout(timeout, run)
                    .await
                    .unwrap_or_else(|_| Probe {
                        node: Err(timed_out(timeout)),
                        accepts_own_token: None,
                        client: None,
                        session: 0,
                    })
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.unwrap_or_else(|e| Probe {
            node: Err(Failure::new(
                FailureKind::Error,
                format!("the check stopped: {e}"),
            )),
            accepts_own_token: None,
            client: None,
            session: 0,
        }));
    }
    out
}

/// The public keys of every target in `cluster_id` that signs with a key
/// pair, each read from its node endpoint over its pinned certificate, for
/// Appliances JWT Trust; with, for each target, what became of it. A key
/// that does not parse is left out, and a target that cannot be read,
/// signs with an HMAC secret or is in another cluster gives no entry.
async fn collect_keys(
    targets: &[Target],
    own_node_id: &str,
    cluster_id: &str,
    timeout: Duration,
) -> Vec<(String, Result<TrustedMember, String>)> {
    let answers = nodes_of(targets, timeout).await;
    targets
        .iter()
        .zip(answers)
        .map(|(t, answer)| {
            let name = t.peer.name.clone();
            let entry = match answer {
                None => Err("its keys could not be read".to_owned()),
                Some(Err(e)) => Err(format!("its keys could not be read: {e}")),
                Some(Ok(n)) if n.appliance.cluster_id != cluster_id => Err(format!(
                    "it is in cluster {:?}, not {cluster_id:?}",
                    n.appliance.cluster_id
                )),
                Some(Ok(n)) if n.appliance.node_id == own_node_id => {
                    Err("it is this node".to_owned())
                }
                Some(Ok(n)) => {
                    let keys: Vec<_> = n.keys.into_iter().filter(|k| k.key().is_ok()).collect();
                    if keys.is_empty() {
                        Err(format!(
                            "it signs with an HMAC secret ({}): it will trust this node's keys, but its own tokens need a key pair to be trusted",
                            n.appliance.algorithm
                        ))
                    } else {
                        Ok(TrustedMember {
                            node_id: n.appliance.node_id,
                            name: n.appliance.name,
                            cluster_id: n.appliance.cluster_id,
                            keys,
                        })
                    }
                }
            };
            (name, entry)
        })
        .collect()
}

/// Every target's node endpoint, read in parallel over its pinned
/// certificate; `None` where the reading stopped.
async fn nodes_of(
    targets: &[Target],
    timeout: Duration,
) -> Vec<Option<Result<NodeBody, ClientError>>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, t) in targets.iter().enumerate() {
        let t = t.clone();
        tasks.spawn(async move {
            let client = match t.client {
                Some(c) => Ok(c),
                None => Client::with_timeout(t.peer.clone(), timeout),
            };
            let node = match client {
                Ok(c) => tokio::time::timeout(timeout, c.node())
                    .await
                    .unwrap_or_else(|_| {
                        Err(ClientError::Unreachable {
                            peer: t.peer.name.clone(),
                            url: t.peer.url.clone(),
                            reason: format!("no answer within {} s", timeout.as_secs()),
                        })
                    }),
                Err(e) => Err(e),
            };
            (i, node)
        });
    }
    let mut answers: Vec<Option<Result<NodeBody, ClientError>>> =
        targets.iter().map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        if let Ok((i, node)) = done {
            answers[i] = Some(node);
        }
    }
    answers
}

/// Each target's member key, as its node endpoint serves it: `None` for
/// one that serves none (an older tacctl) or cannot be read now (the push
/// then tells why, with the passphrase it falls back to).
async fn recipients_of(targets: &[Target], timeout: Duration) -> Vec<Option<Recipient>> {
    nodes_of(targets, timeout)
        .await
        .into_iter()
        .map(|answer| {
            answer
                .and_then(Result::ok)
                .and_then(|n| n.recipient)
                .and_then(|r| Recipient::parse(&r).ok())
        })
        .collect()
}

fn timed_out(timeout: Duration) -> Failure {
    Failure::new(
        FailureKind::Timeout,
        format!("no answer within {} s", timeout.as_secs_f64()),
    )
}

/// A target signed in to, with its plan.
pub struct Prepared {
    client: Client,
    token: SecretString,
    /// How it was signed in to.
    pub via: Via,
    /// What the import would change there.
    pub plan: Plan,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("peer", self.client.peer())
            .field("via", &self.via)
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

/// One target after the dry run.
#[derive(Debug)]
pub struct Attempt {
    /// The target.
    pub peer: Peer,
    /// Its plan, or why it failed.
    pub state: Result<Prepared, Failure>,
}

impl Attempt {
    /// What step 4 shows of it: how it was signed in to and its plan, or
    /// why it cannot be pushed to. `login` is the one the push was given.
    pub fn describe(&self, login: Option<&Login>) -> String {
        match &self.state {
            Ok(prepared) => {
                let via = match (prepared.via, login) {
                    (Via::OwnToken, _) => "signed in with this node's token".to_owned(),
                    (Via::Login, Some(l)) => format!("signed in as {}", l.user),
                    (Via::Login, None) => "signed in".to_owned(),
                };
                format!("{} ({via}):\n{}", self.peer.name, prepared.plan)
            }
            Err(f) => format!("{}: cannot be pushed to: {}", self.peer.name, f.reason),
        }
    }
}

/// Signs in on every target and asks each for a dry run, in parallel.
async fn prepare(
    targets: &[Target],
    credentials: &Credentials,
    payload: &Arc<Payload>,
    timeout: Duration,
    progress: &Progress,
) -> Vec<Attempt> {
    let credentials = Arc::new(credentials.clone());
    let tasks: Vec<_> = targets
        .iter()
        .enumerate()
        .map(|(i, target)| {
            let (target, credentials) = (target.clone(), Arc::clone(&credentials));
            let (payload, progress) = (Arc::clone(payload), Arc::clone(progress));
            tokio::spawn(async move {
                progress(i, &Stage::SigningIn);
                let run = prepare_one(target, &credentials, &payload, timeout, i, &progress);
                let state = tokio::time::timeout(timeout, run)
                    .await
                    .unwrap_or_else(|_| Err(timed_out(timeout)));
                match &state {
                    Ok(p) => progress(
                        i,
                        &Stage::Planned {
                            noop: p.plan.is_noop(),
                        },
                    ),
                    Err(f) => progress(i, &Stage::Failed(f.reason.clone())),
                }
                state
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for (t, target) in tasks.into_iter().zip(targets) {
        let state = t
            .await
            .unwrap_or_else(|e| Err(Failure::new(FailureKind::Error, format!("stopped: {e}"))));
        out.push(Attempt {
            peer: target.peer.clone(),
            state,
        });
    }
    out
}

async fn prepare_one(
    target: Target,
    credentials: &Credentials,
    payload: &Payload,
    timeout: Duration,
    i: usize,
    progress: &Progress,
) -> Result<Prepared, Failure> {
    let name = target.peer.name.clone();
    let client = match target.client {
        Some(c) => c,
        None => Client::with_timeout(target.peer, timeout)
            .map_err(|e| Failure::client(e, FailureKind::Error))?,
    };
    let (token, via) = sign_in(&client, &name, credentials, target.accepts_own_token).await?;
    progress(i, &Stage::Planning);
    let answer = client
        .import(
            &token,
            payload.bundle.to_vec(),
            payload.passphrase_for(&client.peer().url),
            true,
            Some(&payload.components_query()),
        )
        .await
        .map_err(|e| Failure::client(e, FailureKind::ImportRefused))?;
    let plan: Plan = serde_json::from_value(answer.plan).map_err(|e| {
        Failure::new(
            FailureKind::Error,
            format!("{name} answered a plan this version cannot read: {e}"),
        )
    })?;
    Ok(Prepared {
        client,
        token,
        via,
        plan,
    })
}

/// This node's token where the target accepts it for administration,
/// else a login with the credentials given. `accepts_own_token` is what a
/// probe already found out, so it is not asked again.
async fn sign_in(
    client: &Client,
    name: &str,
    credentials: &Credentials,
    accepts_own_token: Option<bool>,
) -> Result<(SecretString, Via), Failure> {
    if let Some(own) = &credentials.own_token {
        let accepts = match accepts_own_token {
            Some(known) => Ok(known),
            None => match client.jwt_settings(own).await {
                Ok(_) => Ok(true),
                Err(ClientError::Refused {
                    status: 401 | 403, ..
                }) => Ok(false),
                Err(e) => Err(Failure::client(e, FailureKind::Error)),
            },
        };
        if accepts? {
            return Ok((own.clone(), Via::OwnToken));
        }
    }
    let Some(login) = &credentials.login else {
        return Err(Failure::new(
            FailureKind::NoCredentials,
            format!(
                "{name} does not accept this node's token (its JWT configuration differs) and no administrator credentials were given for it; give an administrator's user name and password on {name}"
            ),
        ));
    };
    let token = client
        .login(&login.user, &login.password)
        .await
        .map_err(|e| Failure::client(e, FailureKind::CredentialsRefused))?;
    Ok((token, Via::Login))
}

/// The result for one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Outcome {
    /// The new configuration is applied and, for the JWT configuration,
    /// the target serves the bundle's key.
    Applied,
    /// The target had that configuration already.
    Unchanged,
    /// It failed; the target keeps its configuration (an import is atomic).
    Failed(Failure),
}

/// One member's line in the result table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberResult {
    /// The member's name (or the URL, for `export --to`).
    pub member: String,
    /// Its URL.
    pub url: String,
    /// Applied, unchanged or failed.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The JWT key it serves afterwards, when read back.
    pub kid: Option<String>,
    /// The snapshot taken on it before applying (`tacctl rollback ID` there undoes it).
    pub snapshot: Option<String>,
}

impl MemberResult {
    /// Whether the member holds the pushed configuration afterwards.
    pub fn holds(&self) -> bool {
        matches!(self.outcome, Outcome::Applied | Outcome::Unchanged)
    }
}

/// The result of a push.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The components pushed.
    pub components: Vec<Component>,
    /// The JWT key id pushed, when the JWT configuration was.
    pub jwt_kid: Option<String>,
    /// Per target, in the order given.
    pub members: Vec<MemberResult>,
}

impl Report {
    /// The members that hold the pushed configuration.
    pub fn holding(&self) -> Vec<&str> {
        self.members
            .iter()
            .filter(|m| m.holds())
            .map(|m| m.member.as_str())
            .collect()
    }

    /// The members that failed.
    pub fn failed(&self) -> Vec<&str> {
        self.members
            .iter()
            .filter(|m| !m.holds())
            .map(|m| m.member.as_str())
            .collect()
    }
}

/// The result table: member, result, and the key it serves or why it failed.
impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let width = self
            .members
            .iter()
            .map(|m| m.member.len())
            .chain([6])
            .max()
            .unwrap_or(6);
        writeln!(f, "{:<width$}  {:<9}  DETAIL", "MEMBER", "RESULT")?;
        for m in &self.members {
            let (result, detail) = match &m.outcome {
                Outcome::Applied => (
                    "applied",
                    match (&m.kid, &m.snapshot) {
                        (Some(k), Some(s)) => {
                            format!("serves key {k}; undo there with `tacctl rollback {s}`")
                        }
                        (Some(k), None) => format!("serves key {k}"),
                        (None, Some(s)) => format!("undo there with `tacctl rollback {s}`"),
                        (None, None) => String::new(),
                    },
                ),
                Outcome::Unchanged => (
                    "unchanged",
                    match &m.kid {
                        Some(k) => format!("already serves key {k}"),
                        None => "had this configuration already".into(),
                    },
                ),
                Outcome::Failed(why) => ("failed", why.reason.clone()),
            };
            writeln!(f, "{:<width$}  {result:<9}  {detail}", m.member)?;
        }
        let holding = self.holding();
        let failed = self.failed();
        if failed.is_empty() {
            write!(
                f,
                "All {} members hold the new configuration.",
                holding.len()
            )
        } else if holding.is_empty() {
            write!(
                f,
                "No member holds the new configuration; failed: {}.",
                failed.join(", ")
            )
        } else {
            write!(
                f,
                "Holding the new configuration: {}. Failed: {}.",
                holding.join(", "),
                failed.join(", ")
            )
        }
    }
}

/// Imports on every target that prepared, in parallel, and checks what
/// each serves afterwards. Targets that failed to prepare are reported
/// as they failed; targets whose plan changes nothing are not imported
/// again but checked.
async fn apply(
    attempts: Vec<Attempt>,
    payload: &Arc<Payload>,
    timeout: Duration,
    progress: &Progress,
) -> Report {
    let tasks: Vec<_> = attempts
        .into_iter()
        .enumerate()
        .map(|(i, attempt)| {
            let (payload, progress) = (Arc::clone(payload), Arc::clone(progress));
            let peer = attempt.peer.clone();
            let task = tokio::spawn(async move {
                let result = match attempt.state {
                    Err(f) => MemberResult {
                        member: attempt.peer.name.clone(),
                        url: attempt.peer.url.clone(),
                        outcome: Outcome::Failed(f),
                        kid: None,
                        snapshot: None,
                    },
                    Ok(prepared) => {
                        let run = apply_one(prepared, &payload, i, &progress);
                        tokio::time::timeout(timeout, run)
                            .await
                            .unwrap_or_else(|_| failed(&attempt.peer, timed_out(timeout)))
                    }
                };
                progress(
                    i,
                    &match &result.outcome {
                        Outcome::Applied => Stage::Applied,
                        Outcome::Unchanged => Stage::Unchanged,
                        Outcome::Failed(f) => Stage::Failed(f.reason.clone()),
                    },
                );
                result
            });
            (peer, task)
        })
        .collect();
    let mut members = Vec::with_capacity(tasks.len());
    for (peer, t) in tasks {
        members.push(t.await.unwrap_or_else(|e| {
            failed(
                &peer,
                Failure::new(FailureKind::Error, format!("stopped: {e}")),
            )
        }));
    }
    Report {
        components: payload.components.clone(),
        jwt_kid: payload.jwt_kid.clone(),
        members,
    }
}

fn failed(peer: &Peer, f: Failure) -> MemberResult {
    MemberResult {
        member: peer.name.clone(),
        url: peer.url.clone(),
        outcome: Outcome::Failed(f),
        kid: None,
        snapshot: None,
    }
}

async fn apply_one(
    prepared: Prepared,
    payload: &Payload,
    i: usize,
    progress: &Progress,
) -> MemberResult {
    let peer = prepared.client.peer().clone();
    let name = peer.name.clone();
    let mut result = MemberResult {
        member: peer.name.clone(),
        url: peer.url.clone(),
        outcome: Outcome::Unchanged,
        kid: None,
        snapshot: None,
    };
    if !prepared.plan.is_noop() {
        progress(i, &Stage::Importing);
        let answer = match prepared
            .client
            .import(
                &prepared.token,
                payload.bundle.to_vec(),
                payload.passphrase_for(&peer.url),
                false,
                Some(&payload.components_query()),
            )
            .await
        {
            Ok(a) => a,
            Err(e) => return failed(&peer, Failure::client(e, FailureKind::ImportRefused)),
        };
        let Some(outcome) = answer.outcome else {
            return failed(
                &peer,
                Failure::new(
                    FailureKind::Error,
                    format!("{name} answered the import without its outcome"),
                ),
            );
        };
        if let Some(expected) = payload.jwt_kid()
            && outcome.jwt_kid != expected
        {
            return failed(
                &peer,
                Failure::new(
                    FailureKind::KeyMismatch,
                    format!(
                        "{name} reports key {} after the import, not the bundle's {expected}",
                        outcome.jwt_kid
                    ),
                ),
            );
        }
        result.outcome = if outcome.outcome == "applied" {
            Outcome::Applied
        } else {
            Outcome::Unchanged
        };
        result.kid = Some(outcome.jwt_kid);
        result.snapshot = outcome.snapshot;
    }
    if let Some(expected) = payload.jwt_kid() {
        progress(i, &Stage::Checking);
        match prepared.client.node().await {
            Ok(node) if node.appliance.kid == expected => result.kid = Some(node.appliance.kid),
            Ok(node) => {
                let what = if prepared.plan.is_noop() {
                    "its plan changed nothing, yet it"
                } else {
                    "the import went through, yet it"
                };
                return MemberResult {
                    outcome: Outcome::Failed(Failure::new(
                        FailureKind::KeyMismatch,
                        format!(
                            "{name}: {what} serves key {}, not the bundle's {expected}",
                            node.appliance.kid
                        ),
                    )),
                    kid: Some(node.appliance.kid),
                    ..result
                };
            }
            Err(e) => {
                let mut f = Failure::client(e, FailureKind::Error);
                f.reason = format!(
                    "the key it serves could not be read back, so the import is not confirmed: {}",
                    f.reason
                );
                return MemberResult {
                    outcome: Outcome::Failed(f),
                    ..result
                };
            }
        }
    }
    result
}

/// What a push is to do: the plain value that the Cluster Export Wizard's
/// steps 1 to 3 produce, and `tacctl export --to URL` from its flags.
#[derive(Debug, Clone)]
pub struct PushPlan {
    /// The components, in bundle order.
    pub components: Vec<Component>,
    /// The targets, in the order the result lists them, each with what a
    /// probe learnt of it.
    pub targets: Vec<Target>,
    /// How the targets are signed in to.
    pub credentials: Credentials,
}

/// What a push shows and asks while it runs (steps 4 to 6 of the Cluster
/// Export Wizard): the wizard's prompter implements it, on a terminal or
/// from answers, and a scripted one in tests.
pub trait Screen {
    /// What showing or asking can fail with; a [`PushError`] becomes one.
    type Error: From<PushError>;
    /// Shows a step's text.
    fn show(&mut self, text: &str) -> Result<(), Self::Error>;
    /// Asks whether to push to `targets`, the ones whose plan changes
    /// something.
    fn confirm(&mut self, targets: &[&str]) -> Result<bool, Self::Error>;
    /// A display of the targets' progress, for as long as it lives.
    fn progress(&mut self, targets: &[String]) -> ProgressView;
}

/// How a push ended.
#[derive(Debug)]
pub enum Finish {
    /// Pushed; the result per target (some may have failed).
    Pushed(Report),
    /// The plans were shown and declined: nothing changed anywhere.
    Declined,
}

impl Finish {
    /// Whether the cross-node verifier runs after this push (with the
    /// plan's own token): when at least one member holds the new
    /// configuration.
    pub fn needs_verifier(&self) -> bool {
        matches!(self, Finish::Pushed(r) if !r.holding().is_empty())
    }
}

/// The runtime a push runs on, from the probe that shows the targets'
/// status to the result, and the time each target may take per phase.
///
/// The connections a probe opens serve the dry run and the import too, and
/// a connection works only on the runtime that opened it; so a push probes
/// and runs on one session, and a target probed by another session opens a
/// connection of its own.
pub struct Session {
    rt: tokio::runtime::Runtime,
    timeout: Duration,
    id: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("timeout", &self.timeout)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A runtime on this thread; each target may take `timeout` per phase.
    pub fn new(timeout: Duration) -> Result<Self, PushError> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| PushError::Runtime(e.to_string()))?;
        Ok(Self {
            rt,
            timeout,
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// How long each target may take per phase.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The fingerprint of the certificate the appliance at `url` presents,
    /// learnt without trusting it, for an administrator to confirm.
    pub fn fingerprint(&self, url: &str) -> Result<String, PushError> {
        Ok(self
            .rt
            .block_on(super::client::fetch_fingerprint(url, self.timeout))?)
    }

    /// Asks every target, in parallel, for its node information and whether
    /// it accepts `own_token`; one [`Probe`] per target, in their order.
    pub fn probe(&self, targets: &[Peer], own_token: Option<&SecretString>) -> Vec<Probe> {
        let mut probes = self.rt.block_on(probe(targets, own_token, self.timeout));
        for p in &mut probes {
            p.session = self.id;
        }
        probes
    }

    /// Steps 4 to 6: exports the plan's components (under `kdf`'s cost
    /// when it is the tests' one, else the cheapest fit for a random
    /// passphrase), asks every target for its dry run and shows each plan,
    /// asks to go on when one changes something, pushes, and shows the
    /// result table.
    pub fn run<S: Screen>(
        &self,
        ops: &Ops,
        plan: &PushPlan,
        kdf: KdfParams,
        now: u64,
        screen: &mut S,
    ) -> Result<Finish, S::Error> {
        let names: Vec<String> = plan.targets.iter().map(|t| t.peer.name.clone()).collect();
        let components: Vec<&str> = plan.components.iter().map(|c| c.label()).collect();
        screen.show(&format!(
            "Step 4 of 6: the plan. Asking {} for a dry run of {}.",
            names.join(", "),
            components.join(", ")
        ))?;
        // The push's passphrase is 32 random bytes: nothing to stretch, so the
        // cheapest derivation unless the tests' even cheaper one is asked for.
        let kdf = if kdf == KdfParams::TEST {
            KdfParams::TEST
        } else {
            KdfParams::RANDOM_PASSPHRASE
        };
        let targets: Vec<Target> = plan.targets.iter().map(|t| t.on(self.id)).collect();
        // Trust only: every member is to trust every member, so the bundle
        // carries the targets' public keys too, and this node trusts them
        // once the push is confirmed.
        let mut collected = Vec::new();
        if plan.components.contains(&Component::JwtTrust) {
            let node = ops
                .app
                .node()
                .map_err(OpsError::from)
                .map_err(PushError::from)?;
            let answers = self.rt.block_on(collect_keys(
                &targets,
                &node.node_id,
                &node.cluster_id,
                self.timeout,
            ));
            let mut lines = vec!["The members' public keys, for Appliances JWT Trust:".to_owned()];
            for (name, entry) in answers {
                match entry {
                    Ok(m) => {
                        let keys: Vec<String> = m
                            .keys
                            .iter()
                            .map(|k| format!("{} {}", k.algorithm, super::short_kid(k.kid())))
                            .collect();
                        lines.push(format!("  {name}: {}", keys.join(", ")));
                        collected.push(m);
                    }
                    Err(why) => lines.push(format!("  {name}: none; {why}")),
                }
            }
            screen.show(&lines.join("\n"))?;
        }
        let keys: Vec<(String, Option<Recipient>)> = targets
            .iter()
            .map(|t| t.peer.url.clone())
            .zip(self.rt.block_on(recipients_of(&targets, self.timeout)))
            .collect();
        let payload = Arc::new(Payload::export(
            ops,
            &plan.components,
            kdf,
            now,
            &collected,
            &keys,
        )?);
        let unkeyed: Vec<&str> = plan
            .targets
            .iter()
            .zip(&keys)
            .filter(|(_, (_, r))| r.is_none())
            .map(|(t, _)| t.peer.name.as_str())
            .collect();
        screen.show(&if unkeyed.is_empty() {
            format!(
                "The bundle is encrypted to the member keys of {}: no passphrase.",
                names.join(", ")
            )
        } else {
            format!(
                "The bundle is encrypted to the member keys of {} of {} targets; {}: no member key served (an older tacctl, or not reachable now), so it also carries a one-time passphrase for them.",
                payload.keyed(),
                names.len(),
                unkeyed.join(", ")
            )
        })?;
        let view = screen.progress(&names);
        let attempts = self.rt.block_on(prepare(
            &targets,
            &plan.credentials,
            &payload,
            self.timeout,
            &view.update,
        ));
        view.finish();
        for a in &attempts {
            screen.show(&a.describe(plan.credentials.login.as_ref()))?;
        }
        let changing: Vec<&str> = attempts
            .iter()
            .filter(|a| matches!(&a.state, Ok(prepared) if !prepared.plan.is_noop()))
            .map(|a| a.peer.name.as_str())
            .collect();
        if !changing.is_empty() && !screen.confirm(&changing)? {
            screen.show("Nothing was changed.")?;
            return Ok(Finish::Declined);
        }
        screen.show("Step 5 of 6: pushing.")?;
        let trusted_here = if collected.is_empty() {
            Vec::new()
        } else {
            ops.trust(&collected).map_err(PushError::from)?
        };
        let view = screen.progress(&names);
        let report = self
            .rt
            .block_on(apply(attempts, &payload, self.timeout, &view.update));
        view.finish();
        if !trusted_here.is_empty() {
            screen.show(&format!(
                "This node now trusts the public keys of {}.",
                trusted_here.join(", ")
            ))?;
        }
        screen.show(&format!("Step 6 of 6: the result.\n{report}"))?;
        Ok(Finish::Pushed(report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passphrases_are_fresh_and_long() {
        use secrecy::ExposeSecret;
        let a = fresh_passphrase().unwrap();
        let b = fresh_passphrase().unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(a.expose_secret().len(), 43, "32 bytes, base64url unpadded");
        assert!(
            a.expose_secret()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "fits an HTTP header as it is"
        );
    }

    fn member(name: &str, outcome: Outcome) -> MemberResult {
        MemberResult {
            member: name.into(),
            url: format!("https://{name}:8443"),
            outcome,
            kid: Some("k1".into()),
            snapshot: None,
        }
    }

    #[test]
    fn the_report_names_who_holds_the_configuration() {
        let r = Report {
            components: vec![Component::Jwt],
            jwt_kid: Some("k1".into()),
            members: vec![
                member("esa2", Outcome::Applied),
                member("esa3", Outcome::Unchanged),
                member(
                    "esa4",
                    Outcome::Failed(Failure::new(FailureKind::Unreachable, "esa4 is down")),
                ),
            ],
        };
        assert_eq!(r.holding(), ["esa2", "esa3"]);
        assert_eq!(r.failed(), ["esa4"]);
        let table = r.to_string();
        assert!(table.contains("esa4    failed     esa4 is down"), "{table}");
        assert!(
            table.ends_with("Holding the new configuration: esa2, esa3. Failed: esa4."),
            "{table}"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["members"][0]["result"], "applied");
        assert_eq!(json["members"][2]["result"], "failed");
        assert_eq!(json["members"][2]["kind"], "unreachable");
        assert_eq!(json["components"][0], "jwt");
    }

    #[test]
    fn stages_move_forward() {
        let order = [
            Stage::SigningIn,
            Stage::Planning,
            Stage::Planned { noop: false },
            Stage::Importing,
            Stage::Checking,
            Stage::Applied,
        ];
        assert!(order.windows(2).all(|w| w[0].position() < w[1].position()));
        assert_eq!(Stage::Failed("x".into()).position(), Stage::STEPS);
    }
}
