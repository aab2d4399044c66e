//! The Trusted Appliances Cluster, from this node's side: the HTTPS client
//! that talks to peers with pinned certificates ([`client`]), the push of
//! one bundle to many of them for the Cluster Export Wizard ([`push`]), joining
//! members by their certificate's fingerprint ([`members`]), comparing their
//! public JWT settings with this node's ([`status`]), and the cross-node
//! verifier that presents every node's token to every other node
//! ([`verify`]).
//!
//! The comparisons and the reports are pure functions over what the nodes
//! said; only the gathering talks to the network, every call bounded by a
//! timeout. No secret crosses the wire for membership or status: they use
//! the public `GET /api/v1/cluster/node`.

pub mod client;
pub mod etcd;
pub mod members;
pub mod publish;
pub mod push;
pub mod status;
pub mod store;
pub mod verify;

use std::time::Duration;

use client::ClientError;

/// How long each call to a member may take when joining it, asking its
/// status or verifying tokens, unless `--timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a cluster command failed, beyond what a single call to a peer says.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A call to a peer failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A name, URL or fingerprint given on the command line is not valid.
    #[error("{0}")]
    Invalid(String),
    /// A new member presented another certificate than the one given (or
    /// than the one it showed a moment before, at first contact).
    #[error(
        "{peer} at {url} presented certificate {seen}, not {expected}: someone may be impersonating it, or the fingerprint was mistyped. Check with `tacctl tls show` on that appliance; nothing was added"
    )]
    NotThatCertificate {
        /// The name given for it.
        peer: String,
        /// Its URL.
        url: String,
        /// The fingerprint expected.
        expected: String,
        /// What it presented.
        seen: String,
    },
    /// The peer answers HTTPS but not as a tacctl appliance.
    #[error(
        "{peer} at {url} does not answer as a tacctl appliance ({reason}); check the URL and that `tacctl serve` runs there"
    )]
    NotAnAppliance {
        /// The name given for it.
        peer: String,
        /// Its URL.
        url: String,
        /// What it answered.
        reason: String,
    },
    /// The URL leads back to this very node.
    #[error(
        "{url} is this node itself (node id {node_id}); add the other appliances of the cluster instead"
    )]
    ThisNode {
        /// The URL given.
        url: String,
        /// This node's id.
        node_id: String,
    },
    /// The peer belongs to another cluster and nobody confirmed adding it.
    #[error(
        "{peer} is in cluster {theirs:?}, not in this node's cluster {ours:?}: it refuses this cluster's tokens whatever JWT configuration it has. Nothing was added; pass --yes to add it anyway"
    )]
    OtherCluster {
        /// The name given for it.
        peer: String,
        /// Its cluster id.
        theirs: String,
        /// This node's.
        ours: String,
    },
    /// The administrator did not trust the certificate (or declined to add the member).
    #[error("{peer} was not added: {why}; nothing was written")]
    Declined {
        /// The name given for it.
        peer: String,
        /// What was declined.
        why: String,
    },
    /// A token would go to a peer whose certificate nobody pinned.
    #[error(
        "{url} is not a member of this node, so its certificate is unknown and the token cannot be sent there safely; pass --fingerprint SHA256:... (run `tacctl tls show` on that appliance), or add it with `tacctl cluster add`"
    )]
    Unpinned {
        /// The URL.
        url: String,
    },
    /// The bundle carries no JWT configuration to check a token with.
    #[error(
        "the bundle has no jwt component (Appliances JWT Configuration); export one with `tacctl export -c jwt`"
    )]
    NoJwtInBundle,
    /// A token was refused; the report is already printed.
    #[error("the token was refused by {by}: {reason}")]
    TokenRefused {
        /// Who refused it.
        by: String,
        /// Why.
        reason: String,
    },
    /// `cluster status` found drift, a certificate mismatch or an unreachable member.
    #[error("{summary}")]
    Unhealthy {
        /// What was found, in one line (the report is already printed).
        summary: String,
        /// Whether it is a mismatch (drift, certificate) rather than only unreachability.
        mismatch: bool,
    },
    /// The verifier's matrix has failed cells.
    #[error("{failed} of {total} checks failed; the matrix above says which and why")]
    MatrixFailed {
        /// Failed cells.
        failed: usize,
        /// All cells.
        total: usize,
        /// Whether no login succeeded anywhere because the credentials were refused.
        credentials_refused: bool,
    },
}

pub use crate::jwt::short_kid;

/// Lays out rows as columns separated by two spaces, each as wide as its
/// widest cell (counted in characters); the last column is not padded.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 < row.len() {
                line.push_str(cell);
                let pad = widths[c] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_on_characters_not_bytes() {
        let t = table(&[
            vec!["A".into(), "B".into(), "C".into()],
            vec!["kid…".into(), "x".into(), "y".into()],
        ]);
        assert_eq!(t, "A     B  C\nkid…  x  y\n");
        assert_eq!(short_kid("abcdefghijkl"), "abcdefgh…");
        assert_eq!(short_kid("abc"), "abc");
    }
}
