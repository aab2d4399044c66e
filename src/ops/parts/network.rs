//! Network settings in a bundle: DNS servers, NTP servers and syslog
//! targets, shared across the cluster; and the host name, which is
//! node-local: exported only into full backups (or with
//! `--include-node-local`) and applied only on the node it came from (or
//! with `--include-node-local`).

use std::path::Path;

use super::{Applied, Change, ExportCx, Exported, ImportCx, Part, Planned, Result, Staged};
use crate::bundle::manifest::ComponentEntry;
use crate::component::{self, Network, Stored};
use crate::ops::bundle::ComponentPlan;

/// The network part.
pub struct NetworkPart;

/// Where the network settings travel in a bundle.
const PATH: &str = "components/network.yaml";

impl Part for NetworkPart {
    fn name(&self) -> &'static str {
        "network"
    }

    fn label(&self) -> &'static str {
        "Network settings"
    }

    fn path(&self) -> &'static str {
        PATH
    }

    fn export(&self, cx: &ExportCx<'_>) -> Result<Exported> {
        let mut n = cx.ops.app.network()?;
        if !cx.include_node_local {
            n.hostname = None;
        }
        Ok(Exported::Text(zeroize::Zeroizing::new(component::render(
            &n,
        )?)))
    }

    fn open(&self, staging: &Path, _entry: &ComponentEntry) -> Result<Staged> {
        super::open_yaml::<Network>(staging, PATH)
    }

    fn plan(&self, staged: &Staged, cx: &ImportCx<'_>) -> Result<Planned> {
        let incoming: &Network = super::staged(staged);
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
        let targets = |n: &Network| {
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
        Ok(ComponentPlan::new(self.name(), changes).into())
    }

    fn apply(&self, staged: &Staged, _plan: &ComponentPlan, cx: &ImportCx<'_>) -> Result<Applied> {
        let incoming: &Network = super::staged(staged);
        let merged = merged(incoming, &cx.ops.app.network()?, cx)?;
        super::yaml(Network::FILE, &merged)
    }
}

/// The network settings an import would leave: the bundle's cluster-wide
/// lists, and its host name only when node-local parts apply (restoring
/// this node's own backup, or `--include-node-local`).
fn merged(incoming: &Network, cur: &Network, cx: &ImportCx<'_>) -> Result<Network> {
    let hostname = if cx.node_local_applies()? && incoming.hostname.is_some() {
        incoming.hostname.clone()
    } else {
        cur.hostname.clone()
    };
    Ok(Network {
        version: component::FORMAT_VERSION,
        hostname,
        ..incoming.clone()
    })
}
