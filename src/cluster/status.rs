//! `cluster status`: every member asked at once, over its pinned
//! certificate, what it says about itself on the public
//! `GET /api/v1/cluster/node` (tool version, JWT algorithm, expiry, max
//! session, active key id, cluster id, clock), and compared with this node.
//! A member whose JWT configuration differs has drifted, and the report
//! names each difference. No secret crosses the wire: key ids are one-way
//! fingerprints.
//!
//! Members share their tokens in one of two ways, and the report says which
//! is in force ([`Mode`]): one key for all (an HMAC secret or a key pair,
//! carried by Appliances JWT Configuration), or trust only, each member
//! signing with its own key pair and trusting the others' public keys
//! (Appliances JWT Trust). In trust only a different key or algorithm is
//! no drift, as long as the trust goes both ways.
//!
//! [`drift`], [`assess`] and [`render`] are pure; [`gather`] does the
//! asking, each call bounded by the timeout, with the clock a parameter.

use std::time::Duration;

use serde::Serialize;

use super::client::{Client, ClientError, Peer};
use super::{ClusterError, short_kid, table};
use crate::api::{ApplianceBody, NodeBody};
use crate::component::Member;
use crate::jwt::LEEWAY_SECONDS;

/// One JWT setting in which a member differs from this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// `cluster_id`, `algorithm`, `expiry_seconds`, `max_session_seconds`,
    /// `kid`, or `trust` (`yes`/`no`: whether each side trusts the other's key).
    pub field: &'static str,
    /// This node's value.
    pub this_node: String,
    /// The member's value.
    pub member: String,
}

impl Difference {
    /// "kid differs (this node AbCdEfGh…, esa2 XyZ01234…)".
    pub fn sentence(&self, member: &str) -> String {
        let (what, this, theirs) = match self.field {
            "kid" => ("kid", short_kid(&self.this_node), short_kid(&self.member)),
            "cluster_id" => ("cluster id", self.this_node.clone(), self.member.clone()),
            "expiry_seconds" => (
                "expiry",
                format!("{} s", self.this_node),
                format!("{} s", self.member),
            ),
            "max_session_seconds" => (
                "max session",
                format!("{} s", self.this_node),
                format!("{} s", self.member),
            ),
            "trust" => {
                return format!(
                    "trust goes one way only (this node trusts {member}'s key: {}; {member} trusts this node's: {})",
                    self.this_node, self.member
                );
            }
            other => (other, self.this_node.clone(), self.member.clone()),
        };
        format!("{what} differs (this node {this}, {member} {theirs})")
    }
}

/// How a member and this node accept each other's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Both sign with the same HMAC secret.
    SharedSecret,
    /// Both sign with the same private key.
    SharedKeyPair,
    /// Each signs with its own key pair, and each trusts the other's public key.
    TrustOnly,
}

impl Mode {
    /// How `member` and `this` share their tokens; `None` when they do not
    /// (another key, and no trust both ways).
    pub fn of(this: &ApplianceBody, member: &ApplianceBody) -> Option<Mode> {
        if this.kid == member.kid {
            return Some(if this.algorithm.starts_with("HS") {
                Mode::SharedSecret
            } else {
                Mode::SharedKeyPair
            });
        }
        (this.trusted_kids.contains(&member.kid) && member.trusted_kids.contains(&this.kid))
            .then_some(Mode::TrustOnly)
    }

    /// The word in the table.
    pub fn label(self) -> &'static str {
        match self {
            Mode::SharedSecret => "shared secret",
            Mode::SharedKeyPair => "shared key pair",
            Mode::TrustOnly => "trust only",
        }
    }

    /// What it means, for the report's heading.
    pub fn sentence(self) -> &'static str {
        match self {
            Mode::SharedSecret => {
                "shared secret: every member signs with the same HMAC secret (Appliances JWT Configuration)"
            }
            Mode::SharedKeyPair => {
                "shared key pair: every member signs with the same private key (Appliances JWT Configuration)"
            }
            Mode::TrustOnly => {
                "trust only: each member signs with its own key pair and trusts the others' public keys (Appliances JWT Trust)"
            }
        }
    }
}

/// Every JWT setting (and the cluster id, the tokens' issuer) in which
/// `member` differs from this node, in a fixed order. Empty: no drift. The tool
/// version and the node's identity are not drift, and where either side
/// trusts the other's key (trust only, [`Mode::TrustOnly`]) neither are
/// the key and the algorithm; trust that goes one way only is a
/// difference of `trust`.
pub fn drift(this: &ApplianceBody, member: &ApplianceBody) -> Vec<Difference> {
    let trusts = this.trusted_kids.contains(&member.kid);
    let trusted = member.trusted_kids.contains(&this.kid);
    // Trust on either side says the members mean to keep their own keys:
    // the keys and algorithms are then expected to differ.
    let trust_only = this.kid != member.kid && (trusts || trusted);
    let pairs: [(&'static str, String, String); 5] = [
        (
            "cluster_id",
            this.cluster_id.clone(),
            member.cluster_id.clone(),
        ),
        (
            "algorithm",
            this.algorithm.clone(),
            member.algorithm.clone(),
        ),
        (
            "expiry_seconds",
            this.expiry_seconds.to_string(),
            member.expiry_seconds.to_string(),
        ),
        (
            "max_session_seconds",
            this.max_session_seconds.to_string(),
            member.max_session_seconds.to_string(),
        ),
        ("kid", this.kid.clone(), member.kid.clone()),
    ];
    let mut out: Vec<Difference> = pairs
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .filter(|(field, _, _)| !(trust_only && matches!(*field, "algorithm" | "kid")))
        .map(|(field, this_node, theirs)| Difference {
            field,
            this_node,
            member: theirs,
        })
        .collect();
    if this.kid != member.kid && trusts != trusted {
        let yes = |b: bool| if b { "yes" } else { "no" }.to_owned();
        out.push(Difference {
            field: "trust",
            this_node: yes(trusts),
            member: yes(trusted),
        });
    }
    out
}

/// Where a member stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Reachable, same JWT configuration.
    Ok,
    /// Reachable, and its JWT configuration differs.
    Drift,
    /// No connection or no answer in time.
    Unreachable,
    /// It presented another certificate than the pinned one.
    CertificateMismatch,
    /// It answered, but not as the API documents.
    Error,
}

impl State {
    /// The word in the table.
    pub fn label(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Drift => "DRIFT",
            State::Unreachable => "UNREACHABLE",
            State::CertificateMismatch => "CERTIFICATE MISMATCH",
            State::Error => "ERROR",
        }
    }
}

/// One member's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberStatus {
    /// Its name here.
    pub name: String,
    /// Its URL.
    pub url: String,
    /// The pinned fingerprint.
    pub fingerprint: String,
    /// Where it stands.
    pub state: State,
    /// Why it could not be compared (unreachable, mismatch, error).
    pub reason: Option<String>,
    /// What it says about itself, when reachable.
    pub node: Option<ApplianceBody>,
    /// Its clock minus this node's, seconds, when reachable.
    pub clock_skew_seconds: Option<i64>,
    /// How its JWT configuration differs from this node's.
    pub drift: Vec<Difference>,
    /// How it and this node accept each other's tokens, when they do.
    pub mode: Option<Mode>,
}

/// Judges one member's answer. `now` is this node's clock when the answer came.
pub fn assess(
    member: &Member,
    answer: Result<NodeBody, ClientError>,
    this: &ApplianceBody,
    now: u64,
) -> MemberStatus {
    let mut status = MemberStatus {
        name: member.name.clone(),
        url: member.url.clone(),
        fingerprint: member.fingerprint.clone(),
        state: State::Ok,
        reason: None,
        node: None,
        clock_skew_seconds: None,
        drift: Vec::new(),
        mode: None,
    };
    match answer {
        Ok(body) => {
            status.drift = drift(this, &body.appliance);
            status.mode = Mode::of(this, &body.appliance);
            if !status.drift.is_empty() {
                status.state = State::Drift;
            }
            status.clock_skew_seconds = Some(body.time as i64 - now as i64);
            status.node = Some(body.appliance);
        }
        Err(e) => {
            status.state = match e {
                ClientError::Unreachable { .. } => State::Unreachable,
                ClientError::FingerprintMismatch { .. } => State::CertificateMismatch,
                _ => State::Error,
            };
            status.reason = Some(e.to_string());
        }
    }
    status
}

/// This node and its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterStatus {
    /// What this node says about itself.
    pub this_node: ApplianceBody,
    /// Every member, in the order they were added.
    pub members: Vec<MemberStatus>,
    /// Every member reachable and none drifted.
    pub healthy: bool,
    /// How the members share their tokens, when every member that answered
    /// does it the same way; `None` with no answer, or modes that differ.
    pub mode: Option<Mode>,
}

impl ClusterStatus {
    /// The report of `this` and `members`.
    pub fn new(this_node: ApplianceBody, members: Vec<MemberStatus>) -> Self {
        let healthy = members.iter().all(|m| m.state == State::Ok);
        let answered: Vec<Option<Mode>> = members
            .iter()
            .filter(|m| m.node.is_some())
            .map(|m| m.mode)
            .collect();
        let mode = match answered.first() {
            Some(first) if answered.iter().all(|m| m == first) => *first,
            _ => None,
        };
        Self {
            this_node,
            members,
            healthy,
            mode,
        }
    }

    /// What is wrong, as the command's error: drift or a certificate
    /// mismatch (exit 4) before unreachable or failing members (exit 1).
    pub fn problem(&self) -> Option<ClusterError> {
        let names = |states: &[State]| -> Vec<&str> {
            self.members
                .iter()
                .filter(|m| states.contains(&m.state))
                .map(|m| m.name.as_str())
                .collect()
        };
        let mismatched = names(&[State::Drift, State::CertificateMismatch]);
        let down = names(&[State::Unreachable, State::Error]);
        if mismatched.is_empty() && down.is_empty() {
            return None;
        }
        let mut parts = Vec::new();
        if !mismatched.is_empty() {
            parts.push(format!(
                "drift or certificate mismatch: {}",
                mismatched.join(", ")
            ));
        }
        if !down.is_empty() {
            parts.push(format!("not answering as expected: {}", down.join(", ")));
        }
        Some(ClusterError::Unhealthy {
            summary: format!("the cluster is not in step ({})", parts.join("; ")),
            mismatch: !mismatched.is_empty(),
        })
    }
}

/// Asks every member at once; each call takes at most `timeout`. `clock`
/// gives this node's time, read as each answer arrives.
pub async fn gather(
    this: ApplianceBody,
    members: &[Member],
    timeout: Duration,
    clock: fn() -> u64,
) -> ClusterStatus {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, m) in members.iter().enumerate() {
        let m = m.clone();
        tasks.spawn(async move {
            let peer = Peer {
                name: m.name.clone(),
                url: m.url.clone(),
                fingerprint: m.fingerprint.clone(),
            };
            let answer = match Client::with_timeout(peer, timeout) {
                Ok(c) => c.node().await,
                Err(e) => Err(e),
            };
            (i, answer, clock())
        });
    }
    let mut answers: Vec<Option<(Result<NodeBody, ClientError>, u64)>> =
        members.iter().map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        let (i, answer, now) = done.expect("a status task does not panic");
        answers[i] = Some((answer, now));
    }
    let statuses = members
        .iter()
        .zip(answers)
        .map(|(m, a)| {
            let (answer, now) = a.expect("every member's task finished");
            assess(m, answer, &this, now)
        })
        .collect();
    ClusterStatus::new(this, statuses)
}

/// The report from what the members wrote to the cluster store on etcd,
/// without asking any of them: each member's public JWT settings as its
/// last report gives them (`applied/NODE-ID`). A member whose `tacctl
/// serve` is not running, or that never reported, is unreachable; this
/// node (`this_id`) is left out. Clock skew is not known this way.
pub fn from_view(
    this: ApplianceBody,
    this_id: &str,
    view: &super::store::View,
    now: u64,
) -> ClusterStatus {
    let statuses = view
        .members
        .values()
        .filter(|m| m.node_id != this_id)
        .map(|m| {
            let member = Member {
                name: m.name.clone(),
                url: m.url.clone(),
                fingerprint: m.fingerprint.clone(),
                added_at: m.registered_at,
                signer: None,
            };
            let live = view.live.contains(&m.node_id);
            let unreachable = |reason: String| ClientError::Unreachable {
                peer: m.name.clone(),
                url: m.url.clone(),
                reason,
            };
            let answer = match view.applied.get(&m.node_id) {
                Some(a) if live => Ok(NodeBody {
                    appliance: a.appliance.clone(),
                    time: now,
                    keys: Vec::new(),
                    recipient: Some(a.recipient.clone()),
                    signer: None,
                }),
                Some(a) => Err(unreachable(format!(
                    "its `tacctl serve` is not running (no live key in etcd); it last reported revision {}",
                    a.revision
                ))),
                None => Err(unreachable(
                    "it has not reported to the cluster store since it registered (is its `tacctl serve` running?)".into(),
                )),
            };
            let mut status = assess(&member, answer, &this, now);
            status.clock_skew_seconds = None;
            status
        })
        .collect();
    ClusterStatus::new(this, statuses)
}

/// The report as text: this node, a table of members, then one line per
/// member with a problem, loudest first.
pub fn render(status: &ClusterStatus) -> String {
    let t = &status.this_node;
    let mut out = format!(
        "This node: {} in cluster {}, {}, expiry {} s, max session {} s, kid {}\n",
        t.name,
        t.cluster_id,
        t.algorithm,
        t.expiry_seconds,
        t.max_session_seconds,
        short_kid(&t.kid)
    );
    if status.members.is_empty() {
        out.push_str("No members; add one with `tacctl cluster add NAME URL`.\n");
        return out;
    }
    match status.mode {
        Some(m) => out.push_str(&format!("JWT mode: {}\n", m.sentence())),
        None if status.members.iter().any(|m| m.node.is_some()) => out.push_str(
            "JWT mode: none in common: some members do not accept this node's tokens, or share them in another way\n",
        ),
        None => {}
    }
    out.push('\n');
    let mut rows = vec![
        [
            "MEMBER",
            "STATE",
            "VERSION",
            "ALGORITHM",
            "EXPIRY",
            "MAX SESSION",
            "KID",
            "MODE",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for m in &status.members {
        let mut row = vec![m.name.clone(), m.state.label().to_owned()];
        match &m.node {
            Some(n) => row.extend([
                n.version.clone(),
                n.algorithm.clone(),
                format!("{} s", n.expiry_seconds),
                format!("{} s", n.max_session_seconds),
                short_kid(&n.kid),
                m.mode.map_or("-", Mode::label).to_owned(),
            ]),
            None => row.extend(std::iter::repeat_n("-".to_owned(), 6)),
        }
        rows.push(row);
    }
    out.push_str(&table(&rows));
    let mut notes = Vec::new();
    for m in &status.members {
        match m.state {
            State::CertificateMismatch => notes.push(format!(
                "{}: CERTIFICATE MISMATCH: {}",
                m.name,
                m.reason.as_deref().unwrap_or_default()
            )),
            State::Drift => notes.push(format!(
                "{}: {}; {}",
                m.name,
                m.drift
                    .iter()
                    .map(|d| d.sentence(&m.name))
                    .collect::<Vec<_>>()
                    .join(", "),
                super::verify::SHARE_JWT
            )),
            State::Unreachable | State::Error => notes.push(format!(
                "{}: {}",
                m.name,
                m.reason.as_deref().unwrap_or_default()
            )),
            State::Ok => {}
        }
        if let Some(skew) = m.clock_skew_seconds
            && skew.unsigned_abs() > LEEWAY_SECONDS
        {
            notes.push(format!(
                "{}: clock skew of {skew} seconds (tokens tolerate {LEEWAY_SECONDS}); check NTP on both",
                m.name
            ));
        }
    }
    // The loudest first: someone may be impersonating a member.
    notes.sort_by_key(|n| !n.contains("CERTIFICATE MISMATCH"));
    if notes.is_empty() {
        out.push_str(&format!(
            "\nAll {} members reachable; no drift.\n",
            status.members.len()
        ));
    } else {
        out.push('\n');
        for n in notes {
            out.push_str(&n);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(name: &str) -> ApplianceBody {
        ApplianceBody {
            name: name.into(),
            node_id: format!("id-{name}"),
            cluster_id: "c1".into(),
            version: "0.1.0".into(),
            algorithm: "HS256".into(),
            expiry_seconds: 1800,
            max_session_seconds: 43200,
            kid: "AbCdEfGhIjKlMnOpQrStUv".into(),
            trusted_kids: Vec::new(),
        }
    }

    fn member(name: &str) -> Member {
        Member {
            name: name.into(),
            url: format!("https://{name}:8443"),
            fingerprint: format!("SHA256:{}", "A".repeat(43)),
            added_at: 0,
            signer: None,
        }
    }

    #[test]
    fn drift_names_every_differing_setting_and_nothing_else() {
        let this = body("esa1");
        let mut other = body("esa2");
        other.node_id = "another".into();
        other.version = "9.9.9".into();
        assert!(
            drift(&this, &other).is_empty(),
            "identity and version are not drift"
        );
        other.kid = "XyZ0123456789012345678".into();
        other.algorithm = "HS512".into();
        let d = drift(&this, &other);
        assert_eq!(
            d.iter().map(|d| d.field).collect::<Vec<_>>(),
            ["algorithm", "kid"]
        );
        assert_eq!(
            d[1].sentence("esa2"),
            "kid differs (this node AbCdEfGh…, esa2 XyZ01234…)"
        );
        assert_eq!(
            d[0].sentence("esa2"),
            "algorithm differs (this node HS256, esa2 HS512)"
        );
        other.expiry_seconds = 60;
        other.max_session_seconds = 120;
        other.cluster_id = "c2".into();
        let fields: Vec<&str> = drift(&this, &other).iter().map(|d| d.field).collect();
        assert_eq!(
            fields,
            [
                "cluster_id",
                "algorithm",
                "expiry_seconds",
                "max_session_seconds",
                "kid"
            ]
        );
        assert_eq!(
            drift(&this, &other)[2].sentence("esa2"),
            "expiry differs (this node 1800 s, esa2 60 s)"
        );
    }

    #[test]
    fn each_answer_becomes_a_state_and_the_worst_sets_the_exit_code() {
        let this = body("esa1");
        let mut drifted = body("esa2");
        drifted.kid = "XyZ0123456789012345678".into();
        let ok = assess(
            &member("esa3"),
            Ok(NodeBody {
                appliance: body("esa3"),
                time: 1_000,
                keys: Vec::new(),
                recipient: None,
                signer: None,
            }),
            &this,
            1_040,
        );
        assert_eq!(ok.state, State::Ok);
        assert_eq!(ok.clock_skew_seconds, Some(-40));
        let drift = assess(
            &member("esa2"),
            Ok(NodeBody {
                appliance: drifted,
                time: 1_000,
                keys: Vec::new(),
                recipient: None,
                signer: None,
            }),
            &this,
            1_000,
        );
        assert_eq!(drift.state, State::Drift);
        let down = assess(
            &member("esa4"),
            Err(ClientError::Unreachable {
                peer: "esa4".into(),
                url: "https://esa4:8443".into(),
                reason: "connection refused".into(),
            }),
            &this,
            1_000,
        );
        assert_eq!(down.state, State::Unreachable);
        let forged = assess(
            &member("esa5"),
            Err(ClientError::FingerprintMismatch {
                peer: "esa5".into(),
                url: "https://esa5:8443".into(),
                expected: "SHA256:a".into(),
                seen: "SHA256:b".into(),
            }),
            &this,
            1_000,
        );
        assert_eq!(forged.state, State::CertificateMismatch);

        let healthy = ClusterStatus::new(this.clone(), vec![ok.clone()]);
        assert!(healthy.healthy && healthy.problem().is_none());
        let only_down = ClusterStatus::new(this.clone(), vec![ok.clone(), down.clone()]);
        assert!(matches!(
            only_down.problem().unwrap(),
            ClusterError::Unhealthy {
                mismatch: false,
                ..
            }
        ));
        let all = ClusterStatus::new(this, vec![ok, drift, down, forged]);
        assert!(!all.healthy);
        let problem = all.problem().unwrap();
        assert!(matches!(
            problem,
            ClusterError::Unhealthy { mismatch: true, .. }
        ));
        assert!(problem.to_string().contains("esa2, esa5"), "{problem}");

        let text = render(&all);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            "JWT mode: none in common: some members do not accept this node's tokens, or share them in another way"
        );
        assert!(lines[3].starts_with("MEMBER  STATE"), "{text}");
        assert!(text.contains("esa3    ok"), "{text}");
        assert!(text.contains("esa2    DRIFT"), "{text}");
        assert!(
            text.contains("esa2: kid differs (this node AbCdEfGh…, esa2 XyZ01234…); run the Cluster Export Wizard"),
            "{text}"
        );
        assert!(text.contains("esa3: clock skew of -40 seconds"), "{text}");
        // The mismatch is the first note.
        let first_note = lines
            .iter()
            .position(|l| l.starts_with("esa5: CERTIFICATE MISMATCH"));
        let drift_note = lines.iter().position(|l| l.starts_with("esa2: kid"));
        assert!(first_note < drift_note, "{text}");
    }

    #[test]
    fn members_that_trust_each_other_keys_are_trust_only_and_not_drift() {
        let mut this = body("esa1");
        this.algorithm = "ES256".into();
        let mut other = body("esa2");
        other.algorithm = "EdDSA".into();
        other.kid = "XyZ0123456789012345678".into();
        assert_eq!(Mode::of(&this, &other), None);
        assert_eq!(
            drift(&this, &other)
                .iter()
                .map(|d| d.field)
                .collect::<Vec<_>>(),
            ["algorithm", "kid"]
        );
        // Trust one way: the keys are meant to differ; the trust is the drift.
        this.trusted_kids = vec![other.kid.clone()];
        let d = drift(&this, &other);
        assert_eq!(d.iter().map(|d| d.field).collect::<Vec<_>>(), ["trust"]);
        assert_eq!(
            d[0].sentence("esa2"),
            "trust goes one way only (this node trusts esa2's key: yes; esa2 trusts this node's: no)"
        );
        // Both ways: trust only, no drift; other settings still count.
        other.trusted_kids = vec![this.kid.clone()];
        assert_eq!(Mode::of(&this, &other), Some(Mode::TrustOnly));
        assert!(drift(&this, &other).is_empty());
        other.expiry_seconds = 60;
        assert_eq!(
            drift(&this, &other)
                .iter()
                .map(|d| d.field)
                .collect::<Vec<_>>(),
            ["expiry_seconds"]
        );
        // One key: shared, HMAC or key pair by the algorithm.
        let same = body("esa3");
        assert_eq!(Mode::of(&body("esa1"), &same), Some(Mode::SharedSecret));
        let (mut a, mut b) = (body("esa1"), body("esa3"));
        a.algorithm = "RS256".into();
        b.algorithm = "RS256".into();
        assert_eq!(Mode::of(&a, &b), Some(Mode::SharedKeyPair));

        let ok = |name: &str, mode| MemberStatus {
            name: name.into(),
            url: String::new(),
            fingerprint: String::new(),
            state: State::Ok,
            reason: None,
            node: Some(body(name)),
            clock_skew_seconds: Some(0),
            drift: Vec::new(),
            mode: Some(mode),
        };
        let all = ClusterStatus::new(
            this.clone(),
            vec![ok("esa2", Mode::TrustOnly), ok("esa3", Mode::TrustOnly)],
        );
        assert_eq!(all.mode, Some(Mode::TrustOnly));
        assert!(render(&all).contains("JWT mode: trust only: each member signs"));
        let mixed = ClusterStatus::new(
            this,
            vec![ok("esa2", Mode::TrustOnly), ok("esa3", Mode::SharedKeyPair)],
        );
        assert_eq!(mixed.mode, None);
    }

    #[test]
    fn no_members_is_said_plainly() {
        let text = render(&ClusterStatus::new(body("esa1"), vec![]));
        assert!(text.contains("No members"), "{text}");
    }
}
