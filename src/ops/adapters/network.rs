//! Network settings in a bundle: DNS servers, NTP servers and syslog
//! targets, shared across the cluster; and the host name, which is
//! node-local: exported only into full backups (or with
//! `--include-node-local`) and applied only on the node it came from (or
//! with `--include-node-local`).

use super::{Adapter, Applied, Change, ExportCx, Exported, ImportCx, Incoming, Planned, Result};
use crate::bundle::{ComponentPlan, Opened};
use crate::component::{self, Component, Stored};

/// The network component's adapter.
pub struct Network;

/// The network settings a bundle carries.
struct IncomingNetwork(component::Network);

impl Adapter for Network {
    fn export(&self, cx: &ExportCx<'_>) -> Result<Exported> {
        let mut n = cx.ops.app.network()?;
        if !cx.include_node_local {
            n.hostname = None;
        }
        Ok(Exported::Text(zeroize::Zeroizing::new(component::render(
            &n,
        )?)))
    }

    fn open(&self, opened: &Opened) -> Result<Box<dyn Incoming>> {
        Ok(Box::new(IncomingNetwork(super::open_yaml(
            opened,
            Component::Network,
        )?)))
    }
}

impl Incoming for IncomingNetwork {
    fn plan(&self, cx: &ImportCx<'_>) -> Result<Planned> {
        let incoming = &self.0;
        let cur = cx.ops.app.network()?;
        let new = merged(incoming, &cur, cx)?;
        let mut changes = Vec::new();
        let mut diff = |field: &str, a: String, b: String| {
            super::diff(&mut changes, field, format!("[{a}]"), format!("[{b}]"))
        };
        diff(
            "dns servers",
            cur.dns_servers.join(", "),
            new.dns_servers.join(", "),
        );
        diff(
            "ntp servers",
            cur.ntp_servers.join(", "),
            new.ntp_servers.join(", "),
        );
        let targets = |n: &component::Network| {
            n.syslog_targets
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        diff("syslog targets", targets(&cur), targets(&new));
        diff(
            "hostname",
            cur.hostname.clone().unwrap_or_default(),
            new.hostname.clone().unwrap_or_default(),
        );
        if incoming.hostname.is_some() && new.hostname != incoming.hostname {
            changes.push(Change {
                what: "skipped".into(),
                detail: "hostname (node-local, from another node): pass --include-node-local to apply it".into(),
            });
        }
        Ok(ComponentPlan::new(Component::Network.name(), changes).into())
    }

    fn apply(&self, _plan: &ComponentPlan, cx: &ImportCx<'_>) -> Result<Applied> {
        let merged = merged(&self.0, &cx.ops.app.network()?, cx)?;
        super::yaml(component::Network::FILE, &merged)
    }
}

/// The network settings an import would leave: the bundle's cluster-wide
/// lists, and its host name only when node-local settings apply (restoring
/// this node's own backup, or `--include-node-local`).
fn merged(
    incoming: &component::Network,
    cur: &component::Network,
    cx: &ImportCx<'_>,
) -> Result<component::Network> {
    let hostname = if cx.node_local_applies()? && incoming.hostname.is_some() {
        incoming.hostname.clone()
    } else {
        cur.hostname.clone()
    };
    Ok(component::Network {
        version: component::FORMAT_VERSION,
        hostname,
        ..incoming.clone()
    })
}
