//! The cross-node verifier: the proof that a cluster shares its JWT
//! configuration. Every node issues a token (a login with the same
//! credentials on each, or one token given by the administrator), and every
//! token is presented to every node's protected `GET /api/v1/appliance`.
//! The result is an N×N matrix, issuer by verifier, each cell passed or
//! failed with the reason in an administrator's words and what to do.
//!
//! This node takes part in-process: it issues with its own configuration
//! and verifies with the same [`Snapshot::verify`] its server uses, so the
//! verifier needs no running server here and no certificate of its own to
//! trust. Members are reached over their pinned certificates.
//!
//! Turning a verifier's answer into a reason ([`classify`]) and the report
//! ([`render`]) are pure; [`run`] does the asking, every call bounded by the
//! client's timeout, with the clock a parameter. Tokens stay in
//! [`SecretString`]s and never appear in a report.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::client::{Client, ClientError, Peer};
use super::status::Mode;
use super::{ClusterError, table};
use crate::auth::ldap::LdapError;
use crate::auth::{ApiLogin, AuthError, Authenticator, LoginError, PooledUsers};
use crate::component::{JwtExport, Member};
use crate::jwt::{Check, Claims, Expiry, JwtKey, KeySet, LEEWAY_SECONDS, Policy, RetiredKey};
use crate::ops::Snapshot;

/// The words every verifier's refusal starts with, as the server writes them.
const REFUSED_PREFIX: &str = "token refused: ";

/// What the administrator can do about a JWT configuration that differs.
pub const SHARE_JWT: &str = "run the Cluster Export Wizard with Appliances JWT Configuration (one key for all), or with Appliances JWT Trust (each member its own key pair)";

/// What became of one token presented to one verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// The verifier accepted it.
    Accepted,
    /// The verifier refused it: the API's 401 message, and the check that
    /// refused it when the verifier names it.
    Refused {
        /// The verifier's words.
        message: String,
        /// The check, from the answer's `check` field.
        check: Option<Check>,
    },
    /// The verifier could not be reached.
    Unreachable(String),
    /// The verifier presented another certificate than the pinned one.
    CertificateMismatch(String),
    /// Anything else: an unexpected status or answer.
    Error(String),
}

impl Presented {
    /// What a call to `GET /api/v1/appliance` came to.
    pub fn of<T>(answer: Result<T, ClientError>) -> Self {
        match answer {
            Ok(_) => Presented::Accepted,
            Err(ClientError::Refused {
                status: 401,
                message,
                check,
                ..
            }) => Presented::Refused { message, check },
            Err(e @ ClientError::Unreachable { .. }) => Presented::Unreachable(e.to_string()),
            Err(e @ ClientError::FingerprintMismatch { .. }) => {
                Presented::CertificateMismatch(e.to_string())
            }
            Err(e) => Presented::Error(e.to_string()),
        }
    }
}

/// Why a cell failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The verifier has no key with the token's `kid`, or the signature
    /// does not match: the nodes do not share the JWT secret.
    KeyDiffers,
    /// The verifier pins another algorithm.
    AlgorithmDiffers,
    /// The token's `exp` has passed.
    Expired,
    /// The token is expired or not yet valid only because the clocks differ.
    ClockSkew,
    /// The token's `iss` is another cluster id.
    IssuerDiffers,
    /// The verifier retired the key and stopped accepting it.
    KeyRetired,
    /// The issuer or the verifier could not be reached.
    Unreachable,
    /// The issuer or the verifier presented another certificate than the pinned one.
    CertificateMismatch,
    /// The issuer gave no token (the login there failed).
    NoToken,
    /// Refused for another reason, given in `detail`.
    Refused,
}

/// A failed cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Why, as a stable code.
    pub reason: Reason,
    /// Why, in words, with what to do.
    pub message: String,
    /// What the node said.
    pub detail: String,
    /// The clock difference, verifier minus issuer, when it explains the failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skew_seconds: Option<i64>,
}

impl Failure {
    fn new(reason: Reason, detail: impl Into<String>) -> Self {
        let message = match reason {
            Reason::KeyDiffers => format!("key differs: {SHARE_JWT}"),
            Reason::AlgorithmDiffers => format!("algorithm differs: {SHARE_JWT}"),
            Reason::Expired => "expired: log in again".into(),
            Reason::ClockSkew => "clock skew".into(),
            Reason::IssuerDiffers => {
                "issuer differs (cluster id): the nodes were set up with different cluster ids"
                    .into()
            }
            Reason::KeyRetired => "key retired on the verifier: log in again".into(),
            Reason::Unreachable => "member unreachable".into(),
            Reason::CertificateMismatch => {
                "CERTIFICATE MISMATCH: someone may be impersonating the member".into()
            }
            Reason::NoToken => "no token: the login on the issuer failed".into(),
            Reason::Refused => "refused".into(),
        };
        Self {
            reason,
            message,
            detail: detail.into(),
            skew_seconds: None,
        }
    }

    fn skew(seconds: i64, detail: impl Into<String>) -> Self {
        Self {
            message: format!(
                "clock skew of {} seconds: check NTP on both nodes",
                seconds.unsigned_abs()
            ),
            skew_seconds: Some(seconds),
            ..Self::new(Reason::ClockSkew, detail)
        }
    }

    /// The few words a matrix cell has room for.
    pub fn label(&self) -> String {
        match self.reason {
            Reason::KeyDiffers => "key differs".into(),
            Reason::AlgorithmDiffers => "algorithm differs".into(),
            Reason::Expired => "expired".into(),
            Reason::ClockSkew => match self.skew_seconds {
                Some(s) => format!("clock skew {} s", s.unsigned_abs()),
                None => "clock skew".into(),
            },
            Reason::IssuerDiffers => "issuer differs".into(),
            Reason::KeyRetired => "key retired".into(),
            Reason::Unreachable => "unreachable".into(),
            Reason::CertificateMismatch => "CERT MISMATCH".into(),
            Reason::NoToken => "no token".into(),
            Reason::Refused => "refused".into(),
        }
    }
}

/// The seconds in "(N s from now)" of a not-before refusal.
fn ahead_seconds(detail: &str) -> Option<i64> {
    let start = detail.find('(')? + 1;
    let end = start + detail[start..].find(" s from now")?;
    detail[start..end].trim().parse().ok()
}

/// Turns a verifier's answer into a verdict: `None` when it accepted the
/// token. `skew` is the verifier's clock minus the issuer's, when both are
/// known: an expired or not-yet-valid token is put down to the clocks when
/// they differ by more than the leeway.
///
/// Refusals are told apart by the check the verifier names in its answer's
/// `check` field; from a verifier too old to send it, by the check its
/// message names (every rejection's message starts with it: "key check
/// failed", "signature check failed", ...). A refusal that names no check
/// is reported as it came.
pub fn classify(presented: &Presented, skew: Option<i64>) -> Option<Failure> {
    let (refusal, check) = match presented {
        Presented::Accepted => return None,
        Presented::Unreachable(why) => return Some(Failure::new(Reason::Unreachable, why)),
        Presented::CertificateMismatch(why) => {
            return Some(Failure::new(Reason::CertificateMismatch, why));
        }
        Presented::Error(why) => return Some(Failure::new(Reason::Refused, why)),
        Presented::Refused { message, check } => (message, *check),
    };
    let detail = refusal.strip_prefix(REFUSED_PREFIX).unwrap_or(refusal);
    let beyond_leeway = |s: i64| s.unsigned_abs() > LEEWAY_SECONDS;
    let failure = match check.or_else(|| check_named_in(detail)) {
        Some(Check::UnknownKey | Check::Signature) => Failure::new(Reason::KeyDiffers, detail),
        Some(Check::KeyRetired) => Failure::new(Reason::KeyRetired, detail),
        Some(Check::Algorithm) => Failure::new(Reason::AlgorithmDiffers, detail),
        Some(Check::Expired) => match skew {
            Some(s) if s > 0 && beyond_leeway(s) => Failure::skew(s, detail),
            _ => Failure::new(Reason::Expired, detail),
        },
        Some(Check::NotYetValid) => match skew.filter(|s| beyond_leeway(*s)) {
            Some(s) => Failure::skew(s, detail),
            None => match ahead_seconds(detail) {
                Some(ahead) => Failure::skew(-ahead, detail),
                None => Failure::new(Reason::ClockSkew, detail),
            },
        },
        Some(Check::Issuer) => Failure::new(Reason::IssuerDiffers, detail),
        Some(
            Check::Malformed | Check::UnsupportedAlgorithm | Check::KeyInHeader | Check::Claims,
        )
        | None => Failure::new(Reason::Refused, detail),
    };
    Some(failure)
}

/// The check a refusal's message names, for verifiers that do not send
/// `check` (tacctl before 2026-11-29).
fn check_named_in(detail: &str) -> Option<Check> {
    let named = [
        ("key check failed: no key", Check::UnknownKey),
        ("signature check failed", Check::Signature),
        ("key check failed", Check::KeyRetired),
        ("algorithm check failed: token uses", Check::Algorithm),
        ("expiry check failed", Check::Expired),
        ("not-before check failed", Check::NotYetValid),
        ("issuer check failed", Check::Issuer),
    ];
    named
        .into_iter()
        .find(|(prefix, _)| detail.starts_with(prefix))
        .map(|(_, check)| check)
}

/// One cell: a token from `issuer` presented to `verifier`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    /// The node that issued the token (or `token` for a given one).
    pub issuer: String,
    /// The node it was presented to.
    pub verifier: String,
    /// Whether the verifier accepted it.
    pub passed: bool,
    /// Why not.
    #[serde(flatten)]
    pub failure: Option<Failure>,
}

/// The whole matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matrix {
    /// The rows.
    pub issuers: Vec<String>,
    /// The columns.
    pub verifiers: Vec<String>,
    /// Every cell, row by row.
    pub cells: Vec<Cell>,
    /// Every cell passed.
    pub passed: bool,
    /// How the issuers sign, as their tokens' headers tell: with one key
    /// (its kind named), or each with its own key pair, one node accepting
    /// another's token (trust only). `None` with fewer than two tokens,
    /// HMAC tokens of different keys, or key pairs no other node accepts.
    pub mode: Option<Mode>,
    /// No login succeeded and at least one was refused for its credentials.
    #[serde(skip)]
    pub credentials_refused: bool,
}

impl Matrix {
    /// The matrix of `cells`, which must be given row by row.
    pub fn new(issuers: Vec<String>, verifiers: Vec<String>, cells: Vec<Cell>) -> Self {
        let passed = !cells.is_empty() && cells.iter().all(|c| c.passed);
        Self {
            issuers,
            verifiers,
            cells,
            passed,
            mode: None,
            credentials_refused: false,
        }
    }

    /// The cell of `issuer`'s token at `verifier`.
    pub fn cell(&self, issuer: &str, verifier: &str) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.issuer == issuer && c.verifier == verifier)
    }

    /// The command's error when a cell failed.
    pub fn problem(&self) -> Option<ClusterError> {
        if self.passed {
            return None;
        }
        Some(ClusterError::MatrixFailed {
            failed: self.cells.iter().filter(|c| !c.passed).count(),
            total: self.cells.len(),
            credentials_refused: self.credentials_refused,
        })
    }
}

/// The matrix as text: a grid of short verdicts, issuers down and
/// verifiers across, then each failure with its reason and what the node
/// said.
pub fn render(m: &Matrix) -> String {
    let mut rows = vec![
        std::iter::once("ISSUER \\ VERIFIER".to_owned())
            .chain(m.verifiers.iter().cloned())
            .collect::<Vec<_>>(),
    ];
    for issuer in &m.issuers {
        let mut row = vec![issuer.clone()];
        for verifier in &m.verifiers {
            row.push(match m.cell(issuer, verifier) {
                Some(Cell { passed: true, .. }) => "pass".into(),
                Some(Cell {
                    failure: Some(f), ..
                }) => format!("FAIL: {}", f.label()),
                _ => "-".into(),
            });
        }
        rows.push(row);
    }
    let mut out = match m.mode {
        Some(mode) => format!("JWT mode: {}\n\n", mode.sentence()),
        None => String::new(),
    };
    out.push_str(&table(&rows));
    let failed: Vec<&Cell> = m.cells.iter().filter(|c| !c.passed).collect();
    if failed.is_empty() {
        out.push_str(&format!(
            "\nAll {} checks passed: every node accepts every node's token.\n",
            m.cells.len()
        ));
        return out;
    }
    out.push('\n');
    for (issuers, verifiers, f) in failure_groups(m) {
        out.push_str(&format!(
            "{} -> {}: {}\n    {}\n",
            issuers.join(", "),
            verifiers.join(", "),
            f.message,
            f.detail
        ));
    }
    out
}

/// The failed cells, those failing alike gathered: a whole row that fails
/// for one reason (an issuer without a token) is one entry, then a column
/// (a verifier that cannot be reached), then each remaining cell.
fn failure_groups(m: &Matrix) -> Vec<(Vec<&str>, Vec<&str>, &Failure)> {
    let mut listed = std::collections::HashSet::new();
    let mut groups = Vec::new();
    fn alike<'a>(cells: &[&'a Cell]) -> Option<&'a Failure> {
        let first = cells.first()?.failure.as_ref()?;
        let same = cells.iter().all(|c| {
            c.failure
                .as_ref()
                .is_some_and(|f| f.reason == first.reason && f.detail == first.detail)
        });
        (cells.len() > 1 && same).then_some(first)
    }
    for issuer in &m.issuers {
        let row: Vec<&Cell> = m.cells.iter().filter(|c| &c.issuer == issuer).collect();
        if let Some(f) = alike(&row) {
            listed.extend(row.iter().map(|c| (&c.issuer, &c.verifier)));
            groups.push((
                vec![issuer.as_str()],
                row.iter().map(|c| c.verifier.as_str()).collect(),
                f,
            ));
        }
    }
    for verifier in &m.verifiers {
        let column: Vec<&Cell> = m
            .cells
            .iter()
            .filter(|c| &c.verifier == verifier && !listed.contains(&(&c.issuer, &c.verifier)))
            .collect();
        if let Some(f) = alike(&column) {
            listed.extend(column.iter().map(|c| (&c.issuer, &c.verifier)));
            groups.push((
                column.iter().map(|c| c.issuer.as_str()).collect(),
                vec![verifier.as_str()],
                f,
            ));
        }
    }
    for c in &m.cells {
        if let (false, Some(f)) = (listed.contains(&(&c.issuer, &c.verifier)), &c.failure) {
            groups.push((vec![c.issuer.as_str()], vec![c.verifier.as_str()], f));
        }
    }
    groups
}

/// A node of the matrix and how it is reached.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// This node, in-process, with its configuration as of one moment.
    Local(Arc<Snapshot>),
    /// A member, over its pinned certificate.
    Remote(Client),
}

/// A named node of the matrix.
#[derive(Debug, Clone)]
pub struct Participant {
    /// Its name (the member's name; this node's own name).
    pub name: String,
    /// How it is reached.
    pub endpoint: Endpoint,
}

/// This node (checked in-process, with its configuration as of
/// `snapshot`) and every member (over its pinned certificate, each call
/// bounded by `timeout`), and this node's name as the matrix shows it:
/// its node name, marked when a member has the same name.
pub fn participants(
    snapshot: Snapshot,
    members: &[Member],
    timeout: Duration,
) -> Result<(String, Vec<Participant>), ClusterError> {
    let mut this_name = snapshot.node.name.clone();
    if members.iter().any(|m| m.name == this_name) {
        this_name.push_str(" (this node)");
    }
    let mut participants = vec![Participant {
        name: this_name.clone(),
        endpoint: Endpoint::Local(Arc::new(snapshot)),
    }];
    for m in members {
        let peer = Peer {
            name: m.name.clone(),
            url: m.url.clone(),
            fingerprint: m.fingerprint.clone(),
        };
        participants.push(Participant {
            name: m.name.clone(),
            endpoint: Endpoint::Remote(Client::with_timeout(peer, timeout)?),
        });
    }
    Ok((this_name, participants))
}

/// Where the tokens come from.
#[derive(Debug)]
pub enum Tokens {
    /// Log in on every node with these credentials.
    Login {
        /// User name.
        user: String,
        /// Password.
        password: SecretString,
    },
    /// Present this one token everywhere (one row, named `token`).
    Given(SecretString),
}

/// Why a node gave no token.
#[derive(Debug, Clone)]
struct NoToken {
    failure: Failure,
    credentials: bool,
}

impl NoToken {
    /// The credentials were refused on `node`.
    fn refused(node: &str, why: &str) -> Self {
        Self {
            failure: Failure::new(Reason::NoToken, format!("login on {node} refused: {why}")),
            credentials: true,
        }
    }

    /// The login on `node` could not be done.
    fn failed(node: &str, why: &str) -> Self {
        Self {
            failure: Failure::new(Reason::NoToken, format!("login on {node} failed: {why}")),
            credentials: false,
        }
    }
}

/// Logs in on this node by the login rule its server follows
/// ([`ApiLogin`]), the password checked on the blocking pool. `Err` tells
/// whether the credentials were refused, and why.
async fn login_here(
    snap: Arc<Snapshot>,
    user: String,
    password: SecretString,
    now: u64,
) -> Result<SecretString, (bool, String)> {
    let directory = snap.directory();
    let login = ApiLogin {
        users: &snap.users,
        local: PooledUsers(Arc::new(snap.users.clone())),
        directory: directory.as_ref(),
    };
    let id = login
        .authenticate(&user, &password)
        .await
        .map_err(|e| match e {
            LoginError::Local(e @ (AuthError::Hash(_) | AuthError::WeakPassword)) => {
                (false, e.to_string())
            }
            LoginError::Local(e) => (true, e.to_string()),
            LoginError::Directory(
                e @ (LdapError::BadCredentials | LdapError::NoApiAccess { .. }),
            ) => (true, e.to_string()),
            LoginError::Directory(e) | LoginError::DirectoryUnusable(e) => (false, e.to_string()),
            LoginError::Unavailable(why) => (false, why),
        })?;
    snap.issue(&id, now)
        .map(|issued| issued.token)
        .map_err(|e| (false, e.to_string()))
}

/// Logs in on `p`.
async fn login(
    p: &Participant,
    user: &str,
    password: &SecretString,
    now: u64,
) -> Result<SecretString, NoToken> {
    match &p.endpoint {
        Endpoint::Local(snap) => login_here(Arc::clone(snap), user.into(), password.clone(), now)
            .await
            .map_err(|(credentials, why)| {
                if credentials {
                    NoToken::refused(&p.name, &why)
                } else {
                    NoToken::failed(&p.name, &why)
                }
            }),
        Endpoint::Remote(client) => client.login(user, password).await.map_err(|e| match e {
            ClientError::Refused {
                status: 401 | 403,
                message,
                ..
            } => NoToken::refused(
                &p.name,
                message.strip_prefix("login failed: ").unwrap_or(&message),
            ),
            ClientError::Refused {
                status, message, ..
            } => NoToken::failed(&p.name, &format!("HTTP {status}: {message}")),
            other => NoToken {
                failure: classify(&Presented::of::<()>(Err(other)), None).expect("not accepted"),
                credentials: false,
            },
        }),
    }
}

/// Presents `token` to `p`.
async fn present(p: &Participant, token: &SecretString, now: u64) -> Presented {
    match &p.endpoint {
        Endpoint::Local(snap) => match snap.verify(token.expose_secret(), now) {
            Ok(_) => Presented::Accepted,
            Err(e) => Presented::Refused {
                message: format!("{REFUSED_PREFIX}{e}"),
                check: Some(e.check()),
            },
        },
        Endpoint::Remote(client) => Presented::of(client.appliance(token).await),
    }
}

/// How far `p`'s clock is ahead of this node's, in seconds, or why it
/// cannot be reached.
async fn clock_offset(p: &Participant, clock: fn() -> u64) -> Result<i64, Failure> {
    match &p.endpoint {
        Endpoint::Local(_) => Ok(0),
        Endpoint::Remote(client) => match client.node().await {
            Ok(body) => Ok(body.time as i64 - clock() as i64),
            Err(e) => Err(classify(&Presented::of::<()>(Err(e)), None).expect("not accepted")),
        },
    }
}

/// Runs the verifier over `participants` (this node usually first), with
/// tokens from logins on each or one given token. Every call to a member is
/// bounded by its client's timeout; the calls of each phase run at once.
pub async fn run(participants: Vec<Participant>, tokens: Tokens, clock: fn() -> u64) -> Matrix {
    let participants = Arc::new(participants);
    let n = participants.len();

    // Phase 1: who is there, and their clocks.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let ps = Arc::clone(&participants);
        tasks.spawn(async move { (i, clock_offset(&ps[i], clock).await) });
    }
    let mut reach: Vec<Option<Result<i64, Failure>>> = vec![None; n];
    while let Some(done) = tasks.join_next().await {
        let (i, r) = done.expect("a clock task does not panic");
        reach[i] = Some(r);
    }
    let reach: Vec<Result<i64, Failure>> = reach
        .into_iter()
        .map(|r| r.expect("every clock task finished"))
        .collect();

    // Phase 2: a token from every issuer.
    // Each row: its name, its clock offset when known, its token or why none.
    type Row = (String, Option<i64>, Result<SecretString, NoToken>);
    let rows: Vec<Row> = match tokens {
        Tokens::Given(token) => vec![("token".into(), None, Ok(token))],
        Tokens::Login { user, password } => {
            let mut tasks = tokio::task::JoinSet::new();
            for (i, r) in reach.iter().enumerate() {
                if r.is_err() {
                    continue;
                }
                let ps = Arc::clone(&participants);
                let (user, password) = (user.clone(), password.clone());
                tasks.spawn(async move { (i, login(&ps[i], &user, &password, clock()).await) });
            }
            let mut logins: Vec<Option<Result<SecretString, NoToken>>> = vec![None; n];
            while let Some(done) = tasks.join_next().await {
                let (i, r) = done.expect("a login task does not panic");
                logins[i] = Some(r);
            }
            participants
                .iter()
                .zip(reach.iter())
                .zip(logins)
                .map(|((p, r), login)| {
                    let token = match (r, login) {
                        (Err(f), _) => Err(NoToken {
                            failure: Failure {
                                detail: format!("the issuer {}: {}", p.name, f.detail),
                                ..f.clone()
                            },
                            credentials: false,
                        }),
                        (Ok(_), Some(l)) => l,
                        (Ok(_), None) => unreachable!("a reachable node was asked to log in"),
                    };
                    (p.name.clone(), r.as_ref().ok().copied(), token)
                })
                .collect()
        }
    };

    let mode = mode_of(rows.iter().filter_map(|(_, _, t)| t.as_ref().ok()));

    // Phase 3: every token to every verifier.
    let rows = Arc::new(rows);
    let mut tasks = tokio::task::JoinSet::new();
    for (r, (_, issuer_offset, token)) in rows.iter().enumerate() {
        let Ok(_) = token else { continue };
        for (v, verifier_reach) in reach.iter().enumerate() {
            let Ok(verifier_offset) = verifier_reach else {
                continue;
            };
            let skew = issuer_offset.map(|i| verifier_offset - i);
            let (ps, rows) = (Arc::clone(&participants), Arc::clone(&rows));
            tasks.spawn(async move {
                let token = rows[r].2.as_ref().expect("only rows with a token");
                let presented = present(&ps[v], token, clock()).await;
                ((r, v), classify(&presented, skew))
            });
        }
    }
    let mut verdicts = std::collections::HashMap::new();
    while let Some(done) = tasks.join_next().await {
        let (at, verdict) = done.expect("a presentation task does not panic");
        verdicts.insert(at, verdict);
    }

    let mut cells = Vec::with_capacity(rows.len() * n);
    for (r, (issuer, _, token)) in rows.iter().enumerate() {
        for (v, p) in participants.iter().enumerate() {
            let failure = match (token, &reach[v]) {
                (Err(no), _) => Some(no.failure.clone()),
                (Ok(_), Err(f)) => Some(Failure {
                    detail: format!("the verifier {}: {}", p.name, f.detail),
                    ..f.clone()
                }),
                (Ok(_), Ok(_)) => verdicts.remove(&(r, v)).expect("every pair was presented"),
            };
            cells.push(Cell {
                issuer: issuer.clone(),
                verifier: p.name.clone(),
                passed: failure.is_none(),
                failure,
            });
        }
    }
    let mut matrix = Matrix::new(
        rows.iter().map(|(name, _, _)| name.clone()).collect(),
        participants.iter().map(|p| p.name.clone()).collect(),
        cells,
    );
    // Keys that differ are trust only when trust is seen at work: one
    // node accepting another's token.
    matrix.mode = mode.filter(|m| {
        *m != Mode::TrustOnly
            || matrix
                .cells
                .iter()
                .any(|c| c.issuer != c.verifier && c.passed)
    });
    matrix.credentials_refused = rows.iter().all(|(_, _, t)| t.is_err())
        && rows.iter().any(|(_, _, t)| {
            matches!(
                t,
                Err(NoToken {
                    credentials: true,
                    ..
                })
            )
        });
    matrix
}

/// How the issuers of `tokens` sign, from their headers: one `kid` and
/// `alg` for all is one shared key, HMAC or key pair by its `alg`; several,
/// all of key pairs, is trust only. `None` with fewer than two tokens, a header that
/// does not parse, or HMAC secrets that differ.
fn mode_of<'a>(tokens: impl Iterator<Item = &'a SecretString>) -> Option<Mode> {
    let headers: Vec<(Option<String>, String)> = tokens
        .map(|t| {
            let h = jsonwebtoken::decode_header(t.expose_secret()).ok()?;
            Some((h.kid, format!("{:?}", h.alg)))
        })
        .collect::<Option<_>>()?;
    let (first, rest) = headers.split_first()?;
    if rest.is_empty() {
        return None;
    }
    let hmac = |alg: &str| alg.starts_with("HS");
    if rest.iter().all(|h| h == first) {
        return Some(if hmac(&first.1) {
            Mode::SharedSecret
        } else {
            Mode::SharedKeyPair
        });
    }
    headers
        .iter()
        .all(|(_, alg)| !hmac(alg))
        .then_some(Mode::TrustOnly)
}

/// The key set and policy a bundle's JWT configuration describes: its
/// active and retired keys, its algorithm and lifetimes, and as issuer the
/// source's cluster id (the manifest's), as the bundle's proof is checked.
pub fn bundle_policy(jwt: &JwtExport, cluster_id: &str) -> Result<(KeySet, Policy), ClusterError> {
    let key = |k: &crate::component::ExportedKey, algorithm| -> Result<JwtKey, ClusterError> {
        let secret = k.secret.decode().ok_or_else(|| {
            ClusterError::Invalid(format!("the bundle's key {} is not base64", k.kid))
        })?;
        JwtKey::from_stored(secret.to_vec(), algorithm)
            .map_err(|e| ClusterError::Invalid(e.to_string()))
    };
    let previous = jwt
        .previous_keys
        .iter()
        .map(|r| {
            Ok(RetiredKey {
                key: key(&r.key, r.algorithm.unwrap_or(jwt.algorithm))?,
                accept_until: r.accept_until,
                algorithm: r.algorithm,
            })
        })
        .collect::<Result<Vec<_>, ClusterError>>()?;
    let keys = KeySet::with_previous(key(&jwt.active_key, jwt.algorithm)?, previous);
    let policy = Policy {
        algorithm: jwt.algorithm,
        issuer: cluster_id.to_owned(),
        lifetime: Expiry {
            value: jwt.expiry_value,
            unit: jwt.expiry_unit,
        }
        .seconds(),
        max_session: jwt.max_session_seconds,
        leeway: LEEWAY_SECONDS,
    };
    Ok((keys, policy))
}

/// The claims of a token, read without checking anything. Only for
/// showing who a token is for after a verifier accepted it.
pub fn peek_claims(token: &str) -> Option<Claims> {
    let payload = token.trim().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::{Algorithm, VerifyError};

    /// A refusal as a current verifier sends it, with its check.
    fn refused(e: VerifyError) -> Presented {
        Presented::Refused {
            message: format!("{REFUSED_PREFIX}{e}"),
            check: Some(e.check()),
        }
    }

    /// A refusal as a verifier before `check` existed sends it.
    fn refused_in_words(e: VerifyError) -> Presented {
        Presented::Refused {
            message: format!("{REFUSED_PREFIX}{e}"),
            check: None,
        }
    }

    #[test]
    fn every_verify_error_gets_its_reason() {
        let cases = [
            (
                VerifyError::UnknownKey { kid: "k".into() },
                Reason::KeyDiffers,
            ),
            (VerifyError::BadSignature, Reason::KeyDiffers),
            (
                VerifyError::KeyRetired {
                    kid: "k".into(),
                    since: 1,
                },
                Reason::KeyRetired,
            ),
            (
                VerifyError::WrongAlgorithm {
                    got: "HS256".into(),
                    expected: Algorithm::HS512,
                },
                Reason::AlgorithmDiffers,
            ),
            (
                VerifyError::UnsupportedAlgorithm("RS256".into(), Algorithm::HS256),
                Reason::Refused,
            ),
            (VerifyError::Expired { exp: 1, ago: 5 }, Reason::Expired),
            (
                VerifyError::NotYetValid { nbf: 9, ahead: 45 },
                Reason::ClockSkew,
            ),
            (
                VerifyError::WrongIssuer {
                    got: "c2".into(),
                    expected: "c1".into(),
                },
                Reason::IssuerDiffers,
            ),
            (VerifyError::AlgNone, Reason::Refused),
            (VerifyError::Malformed("x".into()), Reason::Refused),
            (VerifyError::Claims("x".into()), Reason::Refused),
        ];
        for (e, reason) in cases {
            let text = e.to_string();
            let f = classify(&refused_in_words(e.clone()), None).unwrap();
            assert_eq!(f.reason, reason, "from the words: {text}");
            let f = classify(&refused(e), None).unwrap();
            assert_eq!(f.reason, reason, "from the check: {text}");
            assert_eq!(f.detail, text, "the node's words are kept");
        }
        assert_eq!(classify(&Presented::Accepted, Some(500)), None);
    }

    #[test]
    fn the_check_decides_whatever_the_words_say() {
        for (check, reason) in [
            (Check::UnknownKey, Reason::KeyDiffers),
            (Check::Signature, Reason::KeyDiffers),
            (Check::KeyRetired, Reason::KeyRetired),
            (Check::Algorithm, Reason::AlgorithmDiffers),
            (Check::Expired, Reason::Expired),
            (Check::NotYetValid, Reason::ClockSkew),
            (Check::Issuer, Reason::IssuerDiffers),
            (Check::Malformed, Reason::Refused),
            (Check::UnsupportedAlgorithm, Reason::Refused),
            (Check::Claims, Reason::Refused),
        ] {
            let answer = Presented::Refused {
                message: "token refused: Schlüssel unbekannt".into(),
                check: Some(check),
            };
            let f = classify(&answer, None).unwrap();
            assert_eq!(f.reason, reason, "{check:?}");
            assert_eq!(f.detail, "Schlüssel unbekannt");
        }
    }

    #[test]
    fn the_key_differs_message_says_what_to_do() {
        let f = classify(&refused(VerifyError::UnknownKey { kid: "k".into() }), None).unwrap();
        assert_eq!(f.message, format!("key differs: {SHARE_JWT}"));
        assert!(SHARE_JWT.contains("Appliances JWT Configuration"));
        assert!(SHARE_JWT.contains("Appliances JWT Trust"));
    }

    #[test]
    fn expired_and_not_yet_valid_tokens_are_put_down_to_skewed_clocks() {
        let expired = refused(VerifyError::Expired { exp: 1, ago: 5 });
        // The verifier's clock is 3600 s ahead of the issuer's.
        let f = classify(&expired, Some(3600)).unwrap();
        assert_eq!(f.reason, Reason::ClockSkew);
        assert_eq!(f.skew_seconds, Some(3600));
        assert!(
            f.message.starts_with("clock skew of 3600 seconds"),
            "{}",
            f.message
        );
        assert_eq!(f.label(), "clock skew 3600 s");
        // Within the leeway, or behind: really expired.
        assert_eq!(
            classify(&expired, Some(20)).unwrap().reason,
            Reason::Expired
        );
        assert_eq!(
            classify(&expired, Some(-90)).unwrap().reason,
            Reason::Expired
        );
        // Not yet valid: the measured skew, else the seconds the node gave.
        let early = refused(VerifyError::NotYetValid { nbf: 9, ahead: 45 });
        assert_eq!(
            classify(&early, Some(-120)).unwrap().skew_seconds,
            Some(-120)
        );
        let f = classify(&early, None).unwrap();
        assert_eq!(f.skew_seconds, Some(-45));
        assert!(
            f.message.contains("clock skew of 45 seconds"),
            "{}",
            f.message
        );
    }

    #[test]
    fn transport_failures_are_reasons_too() {
        let down = Presented::of::<()>(Err(ClientError::Unreachable {
            peer: "esa3".into(),
            url: "https://esa3:8443".into(),
            reason: "connection refused".into(),
        }));
        let f = classify(&down, None).unwrap();
        assert_eq!(
            (f.reason, f.message.as_str()),
            (Reason::Unreachable, "member unreachable")
        );
        let forged = Presented::of::<()>(Err(ClientError::FingerprintMismatch {
            peer: "esa3".into(),
            url: "u".into(),
            expected: "a".into(),
            seen: "b".into(),
        }));
        assert_eq!(
            classify(&forged, None).unwrap().reason,
            Reason::CertificateMismatch
        );
        let other = Presented::of::<()>(Err(ClientError::Refused {
            peer: "esa3".into(),
            status: 503,
            code: "unavailable".into(),
            message: "busy".into(),
            check: None,
        }));
        assert_eq!(classify(&other, None).unwrap().reason, Reason::Refused);
    }

    fn cell(issuer: &str, verifier: &str, failure: Option<Failure>) -> Cell {
        Cell {
            issuer: issuer.into(),
            verifier: verifier.into(),
            passed: failure.is_none(),
            failure,
        }
    }

    #[test]
    fn the_matrix_renders_as_a_grid_then_each_failure() {
        let names = vec!["esa1".to_owned(), "esa2".to_owned()];
        let key = classify(&refused(VerifyError::UnknownKey { kid: "k".into() }), None);
        let m = Matrix::new(
            names.clone(),
            names.clone(),
            vec![
                cell("esa1", "esa1", None),
                cell("esa1", "esa2", key.clone()),
                cell("esa2", "esa1", key),
                cell("esa2", "esa2", None),
            ],
        );
        assert!(!m.passed);
        let text = render(&m);
        assert_eq!(
            text.lines().take(3).collect::<Vec<_>>(),
            [
                "ISSUER \\ VERIFIER  esa1               esa2",
                "esa1               pass               FAIL: key differs",
                "esa2               FAIL: key differs  pass",
            ]
        );
        assert!(
            text.contains(&format!(
                "esa1 -> esa2: key differs: {SHARE_JWT}\n    key check failed"
            )),
            "{text}"
        );
        let problem = m.problem().unwrap();
        assert_eq!(
            problem.to_string(),
            "2 of 4 checks failed; the matrix above says which and why"
        );
        assert!(matches!(
            problem,
            ClusterError::MatrixFailed {
                credentials_refused: false,
                ..
            }
        ));

        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(
            json["cells"][0],
            serde_json::json!({"issuer": "esa1", "verifier": "esa1", "passed": true})
        );
        assert_eq!(json["cells"][1]["reason"], "key_differs");
        assert!(json.get("credentials_refused").is_none());

        let all = Matrix::new(names.clone(), names, vec![cell("esa1", "esa1", None)]);
        assert!(all.passed && all.problem().is_none());
        assert!(render(&all).contains("All 1 checks passed"));
    }

    #[test]
    fn failures_alike_across_a_row_or_a_column_are_listed_once() {
        let names: Vec<String> = ["esa1", "esa2", "esa3"].map(String::from).to_vec();
        let no_token = Failure::new(Reason::NoToken, "login on esa2 refused: wrong password");
        let down = Failure::new(
            Reason::Unreachable,
            "the verifier esa3: esa3 is unreachable",
        );
        let mut cells = Vec::new();
        for i in &names {
            for v in &names {
                let f = if i == "esa2" {
                    Some(no_token.clone())
                } else if v == "esa3" {
                    Some(down.clone())
                } else {
                    None
                };
                cells.push(cell(i, v, f));
            }
        }
        let text = render(&Matrix::new(names.clone(), names, cells));
        let listed: Vec<&str> = text.lines().filter(|l| l.contains(" -> ")).collect();
        assert_eq!(
            listed,
            [
                "esa2 -> esa1, esa2, esa3: no token: the login on the issuer failed",
                "esa1, esa3 -> esa3: member unreachable",
            ],
            "{text}"
        );
    }

    #[test]
    fn the_mode_is_read_from_the_tokens_headers() {
        let token = |alg: &str, kid: &str| {
            let b64 = |v: serde_json::Value| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
            };
            SecretString::from(format!(
                "{}.{}.c2ln",
                b64(serde_json::json!({"alg": alg, "kid": kid, "typ": "JWT"})),
                b64(serde_json::json!({"sub": "x"}))
            ))
        };
        let mode = |ts: &[SecretString]| mode_of(ts.iter());
        let (h1, h2) = (token("HS256", "a"), token("HS256", "b"));
        let (e1, e2, r3) = (
            token("ES256", "a"),
            token("ES256", "b"),
            token("RS256", "c"),
        );
        assert_eq!(mode(&[h1.clone(), h1.clone()]), Some(Mode::SharedSecret));
        assert_eq!(mode(&[e1.clone(), e1.clone()]), Some(Mode::SharedKeyPair));
        assert_eq!(mode(&[e1.clone(), e2, r3]), Some(Mode::TrustOnly));
        assert_eq!(
            mode(&[h1.clone(), h2]),
            None,
            "different secrets share nothing"
        );
        assert_eq!(mode(&[h1, e1.clone()]), None);
        assert_eq!(mode(&[e1]), None, "one token shows no sharing");
        assert_eq!(
            mode(&[SecretString::from("junk"), token("ES256", "a")]),
            None
        );
    }

    #[test]
    fn claims_can_be_peeked_for_display_only() {
        let claims = r#"{"sub":"admin","role":"admin","iss":"c1","iat":1,"nbf":1,"exp":2,"jti":"j","sid":"s","auth_time":1}"#;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims);
        let token = format!("eyJhbGciOiJIUzI1NiJ9.{b64}.sig");
        assert_eq!(peek_claims(&token).unwrap().sub, "admin");
        assert!(peek_claims("not-a-token").is_none());
    }
}
