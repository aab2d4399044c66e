//! `cluster status`: every member asked at once, over its pinned
//! certificate, what it says about itself on the public
//! `GET /api/v1/cluster/node` (tool version, JWT algorithm, expiry, max
//! session, active key id, cluster id, clock), and compared with this node.
//! A member whose JWT configuration differs has drifted, and the report
//! names each difference. No secret crosses the wire: key ids are one-way
//! fingerprints.
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
    /// `cluster_id`, `algorithm`, `expiry_seconds`, `max_session_seconds` or `kid`.
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
            other => (other, self.this_node.clone(), self.member.clone()),
        };
        format!("{what} differs (this node {this}, {member} {theirs})")
    }
}

/// Every JWT setting (and the cluster id, the tokens' issuer) in which
/// `member` differs from `this`, in a fixed order. Empty: no drift. The tool
/// version and the node's identity are not drift.
pub fn drift(this: &ApplianceBody, member: &ApplianceBody) -> Vec<Difference> {
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
    pairs
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(field, this_node, member)| Difference {
            field,
            this_node,
            member,
        })
        .collect()
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
    };
    match answer {
        Ok(body) => {
            status.drift = drift(this, &body.appliance);
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
}

impl ClusterStatus {
    /// The report of `this` and `members`.
    pub fn new(this_node: ApplianceBody, members: Vec<MemberStatus>) -> Self {
        let healthy = members.iter().all(|m| m.state == State::Ok);
        Self {
            this_node,
            members,
            healthy,
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
            ]),
            None => row.extend(std::iter::repeat_n("-".to_owned(), 5)),
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
                "{}: {}; run the Cluster Export Wizard with Appliances JWT Configuration",
                m.name,
                m.drift
                    .iter()
                    .map(|d| d.sentence(&m.name))
                    .collect::<Vec<_>>()
                    .join(", ")
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
        }
    }

    fn member(name: &str) -> Member {
        Member {
            name: name.into(),
            url: format!("https://{name}:8443"),
            fingerprint: format!("SHA256:{}", "A".repeat(43)),
            added_at: 0,
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
        assert!(lines[2].starts_with("MEMBER  STATE"), "{text}");
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
    fn no_members_is_said_plainly() {
        let text = render(&ClusterStatus::new(body("esa1"), vec![]));
        assert!(text.contains("No members"), "{text}");
    }
}
