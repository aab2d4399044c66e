//! "Appliances JWT Trust" in a bundle: the public keys of the exporting
//! node (when it signs with a key pair) and of every member it trusts, so
//! that in a cluster whose members keep their own key pairs every member
//! accepts every member's tokens while no private key or secret leaves its
//! node. An import merges the bundle's members into this node's trust:
//! each replaces the entry of its node id or joins; this node's own entry
//! is left out, and members the bundle does not name stay trusted.
//!
//! Only members of this node's cluster are trusted: tokens name their
//! cluster as issuer, and this node refuses another cluster's tokens
//! whatever key signed them.

use super::{Adapter, Applied, Change, ExportCx, Exported, ImportCx, Incoming, Planned, Result};
use crate::bundle::{ComponentPlan, Opened};
use crate::component::{self, Component, JwtTrust, Stored, TrustedMember, own_keys};
use crate::jwt::short_kid;
use crate::ops::OpsError;

/// The jwt-trust component's adapter.
pub struct Trust;

impl Adapter for Trust {
    fn export(&self, cx: &ExportCx<'_>) -> Result<Exported> {
        let trust = exported(cx)?;
        let text = component::render(&trust)?;
        Ok(Exported::Text(zeroize::Zeroizing::new(text)))
    }

    fn open(&self, opened: &Opened) -> Result<Box<dyn Incoming>> {
        Ok(Box::new(IncomingTrust(super::open_yaml(
            opened,
            Component::JwtTrust,
        )?)))
    }
}

/// What a bundle of this node carries: its own public keys first, when it
/// has a key pair, then every member it trusts and `cx.also_trusted`, with
/// keys past their deadline left out.
fn exported(cx: &ExportCx<'_>) -> Result<JwtTrust> {
    let node = cx.ops.app.node()?;
    let settings = cx.ops.app.jwt_settings()?;
    let keys = cx.ops.app.keyset(&settings, cx.now)?;
    let trusted = cx.ops.app.jwt_trust()?.merged(
        &JwtTrust {
            members: cx.also_trusted.to_vec(),
            ..JwtTrust::empty()
        },
        &node.node_id,
    );
    let own = own_keys(&keys, settings.algorithm, cx.now);
    let mut members = Vec::new();
    if !own.is_empty() {
        members.push(TrustedMember {
            node_id: node.node_id.clone(),
            name: node.name.clone(),
            cluster_id: node.cluster_id.clone(),
            keys: own,
        });
    }
    for mut m in trusted.members {
        m.keys
            .retain(|k| k.accept_until.is_none_or(|u| cx.now <= u));
        if !m.keys.is_empty() {
            members.push(m);
        }
    }
    if members.is_empty() {
        return Err(OpsError::Invalid(format!(
            "Appliances JWT Trust has nothing to carry: this node signs with an HMAC secret ({}) and trusts no member's public key. Give it a key pair first (`tacctl jwt set-algorithm ES256`, or Set JWT Key Pair in the wizard), or share the secret with Appliances JWT Configuration instead",
            settings.algorithm
        )));
    }
    Ok(JwtTrust {
        members,
        ..JwtTrust::empty()
    })
}

/// The trust a bundle carries.
struct IncomingTrust(JwtTrust);

/// "esa2: ES256 AbCdEfGh…, RS256 XyZ01234… (until …)".
fn describe(m: &TrustedMember) -> String {
    let keys: Vec<String> = m
        .keys
        .iter()
        .map(|k| match k.accept_until {
            None => format!("{} {}", k.algorithm, short_kid(k.kid())),
            Some(u) => format!(
                "{} {} (retired, until {})",
                k.algorithm,
                short_kid(k.kid()),
                crate::ops::rfc3339(u)
            ),
        })
        .collect();
    format!("{}: {}", m.name, keys.join(", "))
}

impl Incoming for IncomingTrust {
    fn plan(&self, cx: &ImportCx<'_>) -> Result<Planned> {
        let node = cx.ops.app.node()?;
        if let Some(m) = self
            .0
            .members
            .iter()
            .find(|m| m.cluster_id != node.cluster_id)
        {
            return Err(OpsError::Invalid(format!(
                "this bundle's Appliances JWT Trust names {} of cluster {:?}, and this appliance is in {:?}: tokens name their cluster, so this node would refuse that member's tokens whatever key signed them. Import it on a member of {:?} (or leave jwt-trust out with -c)",
                m.name, m.cluster_id, node.cluster_id, m.cluster_id
            )));
        }
        let cur = cx.ops.app.jwt_trust()?;
        let mut changes = Vec::new();
        for m in self.0.members.iter().filter(|m| m.node_id != node.node_id) {
            match cur.member(&m.node_id) {
                None => changes.push(Change {
                    what: "trusted".into(),
                    detail: describe(m),
                }),
                Some(c) if c != m => changes.push(Change {
                    what: "changed".into(),
                    detail: format!("{} -> {}", describe(c), describe(m)),
                }),
                Some(_) => {}
            }
        }
        Ok(ComponentPlan::new(Component::JwtTrust.name(), changes).into())
    }

    fn apply(&self, _plan: &ComponentPlan, cx: &ImportCx<'_>) -> Result<Applied> {
        let node = cx.ops.app.node()?;
        let merged = cx.ops.app.jwt_trust()?.merged(&self.0, &node.node_id);
        super::yaml(JwtTrust::FILE, &merged)
    }
}
