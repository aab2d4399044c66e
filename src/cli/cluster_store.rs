//! `cluster store [etcd|local]`: where the cluster's membership and
//! published configuration live. `etcd` registers this node in the etcd
//! cluster (its URL, certificate fingerprint and member key) and keeps the
//! connection settings in `cluster-store.yaml`, the client key sealed;
//! `local` removes its registration and goes back to `config/cluster.yaml`
//! and peer-to-peer pushes. The local member list is never touched, so
//! going back loses nothing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use secrecy::SecretSlice;

use super::cluster::{runtime, timeout};
use super::{AdminCreds, UsageError, admin, now, open, print_json};
use crate::cluster::etcd::Settings;
use crate::cluster::store::{Layout, MEMBER_RECORD_VERSION, MemberRecord, Store};
use crate::component::{self, ClusterStore, StoreKind};
use crate::ops::Ops;

#[derive(Debug, Args)]
pub(super) struct StoreArgs {
    #[command(subcommand)]
    to: Option<StoreCommand>,
    /// Print JSON (when showing the store)
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Keep membership and configuration in an etcd cluster; register this node there
    Etcd(EtcdArgs),
    /// Go back to this node's own member list and peer-to-peer pushes
    Local {
        /// Seconds etcd may take to answer
        #[arg(long, default_value_t = 5, value_name = "SECONDS")]
        timeout: u64,
        #[command(flatten)]
        creds: AdminCreds,
    },
}

#[derive(Debug, Args)]
struct EtcdArgs {
    /// etcd client URLs: https://HOST:PORT[,https://HOST:PORT...]
    #[arg(long, value_name = "URL,...", value_delimiter = ',', required = true)]
    endpoints: Vec<String>,
    /// The CA certificate etcd's certificates chain to (PEM)
    #[arg(long, value_name = "FILE")]
    cacert: PathBuf,
    /// This node's etcd client certificate (PEM)
    #[arg(long, value_name = "FILE")]
    cert: PathBuf,
    /// Its private key (PEM); kept sealed under the node master key
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// This node's REST API as the other members reach it: https://HOST:PORT
    #[arg(long, value_name = "URL")]
    url: String,
    /// The key prefix of this cluster [default: /tacctl/CLUSTER-ID/]
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,
    /// Seconds etcd may take to answer
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    timeout: u64,
    #[command(flatten)]
    creds: AdminCreds,
}

/// The etcd store this node is set to, connected; `None` when local.
pub(super) fn etcd_store(ops: &Ops, timeout: Duration) -> Result<Option<(ClusterStore, Store)>> {
    Ok(Store::of(ops, timeout)?)
}

pub(super) fn run(root: &Path, a: StoreArgs, out: &mut impl Write) -> Result<()> {
    match a.to {
        None => show(root, a.json, out),
        Some(StoreCommand::Etcd(e)) => to_etcd(root, e, out),
        Some(StoreCommand::Local { timeout: t, creds }) => to_local(root, t, &creds, out),
    }
}

#[derive(serde::Serialize)]
struct Shown {
    store: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoints: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
}

fn show(root: &Path, json: bool, out: &mut impl Write) -> Result<()> {
    let ops = open(root)?;
    let shown = match ops.app.cluster_store()? {
        None => Shown {
            store: "local",
            endpoints: None,
            prefix: None,
        },
        Some(s) => Shown {
            store: "etcd",
            endpoints: Some(s.endpoints),
            prefix: Some(s.prefix),
        },
    };
    if json {
        return print_json(out, &shown);
    }
    match (&shown.endpoints, &shown.prefix) {
        (Some(e), Some(p)) => {
            writeln!(out, "Cluster store: etcd at {} (prefix {p})", e.join(", "))?
        }
        _ => writeln!(
            out,
            "Cluster store: local (config/cluster.yaml; pushes go peer to peer)"
        )?,
    }
    Ok(())
}

fn read_pem(path: &Path, what: &str) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        bail!(UsageError(format!(
            "{} holds no PEM certificate; give the {what} file",
            path.display()
        )));
    }
    Ok(text)
}

fn to_etcd(root: &Path, a: EtcdArgs, out: &mut impl Write) -> Result<()> {
    let t = timeout(a.timeout)?;
    let url = crate::cluster::client::normalise_url(&a.url)?;
    let ops = admin(root, &a.creds)?;
    let node = ops.app.node()?;
    let prefix = a
        .prefix
        .clone()
        .unwrap_or_else(|| Layout::default_prefix(&node.cluster_id));
    let ca_pem = read_pem(&a.cacert, "CA certificate")?;
    let cert_pem = read_pem(&a.cert, "client certificate")?;
    let key_pem = SecretSlice::from(super::secrets::read_secret_file(&a.key)?.to_vec());
    let endpoints: Vec<String> = a
        .endpoints
        .iter()
        .map(|e| e.trim().trim_end_matches('/').to_owned())
        .filter(|e| !e.is_empty())
        .collect();
    let settings = Settings {
        endpoints: endpoints.clone(),
        ca_pem: ca_pem.clone(),
        cert_pem: cert_pem.clone(),
        key_pem: key_pem.clone(),
    };
    let stored = ClusterStore {
        version: component::FORMAT_VERSION,
        kind: StoreKind::Etcd,
        endpoints,
        prefix: prefix.clone(),
        ca_pem,
        cert_pem,
        key_sealed: String::new(),
        configured_at: now(),
    };
    // Refuse what the file would refuse before anything is registered.
    let check = ClusterStore {
        key_sealed: "v1.".into(),
        ..stored.clone()
    };
    <ClusterStore as component::Stored>::validate(&check)
        .map_err(|e| UsageError(format!("{}: {}", e.field, e.problem)))?;
    let store = Store::new(&settings, &prefix, t)?;
    let fingerprint = ops.tls_fingerprint()?.ok_or_else(|| {
        UsageError(
            "this node has no TLS certificate yet, so members could not pin it; start `tacctl serve` once (it makes one) or install one with `tacctl tls set`".into(),
        )
    })?;
    let identity = ops.member_identity(now())?;
    let record = MemberRecord {
        version: MEMBER_RECORD_VERSION,
        node_id: node.node_id.clone(),
        name: node.name.clone(),
        url,
        fingerprint,
        recipient: identity.recipient().to_string(),
        registered_at: now(),
        signer: Some(identity.signer().key().to_string()),
    };
    let rt = runtime()?;
    let members = rt.block_on(store.members())?;
    if let Some(other) = members
        .values()
        .find(|m| m.name == node.name && m.node_id != node.node_id)
    {
        bail!(UsageError(format!(
            "another node named {} (node id {}, {}) is registered in this etcd cluster under {prefix}; give this node another name, or remove that one with `tacctl cluster remove {}` on a member",
            other.name, other.node_id, other.url, other.name
        )));
    }
    rt.block_on(store.register(&record))?;
    if let Err(e) = ops.set_cluster_store(stored, &key_pem) {
        // Nothing half-applied: the registration goes with the failure.
        if let Err(undo) = rt.block_on(store.unregister(&node.node_id)) {
            eprintln!(
                "warning: this node stays registered in etcd ({undo}); remove it with `tacctl cluster remove {}` on a member",
                node.name
            );
        }
        return Err(e.into());
    }
    let count = members.len() + usize::from(!members.contains_key(&node.node_id));
    writeln!(
        out,
        "Cluster store: etcd at {} (prefix {prefix}). {} is registered; {count} member(s) are.\nA running `tacctl serve` takes this up within seconds: it keeps this node live and applies what is published.",
        settings.endpoints.join(", "),
        node.name
    )?;
    Ok(())
}

fn to_local(root: &Path, seconds: u64, creds: &AdminCreds, out: &mut impl Write) -> Result<()> {
    let t = timeout(seconds)?;
    let ops = admin(root, creds)?;
    let Some((_, store)) = etcd_store(&ops, t)? else {
        writeln!(out, "Cluster store: already local.")?;
        return Ok(());
    };
    let node = ops.app.node()?;
    if let Err(e) = runtime()?.block_on(store.unregister(&node.node_id)) {
        eprintln!(
            "warning: this node's registration could not be removed from etcd ({e}); members keep encrypting to it until it is: run `tacctl cluster remove {}` on a member",
            node.name
        );
    }
    ops.clear_cluster_store()?;
    let n = ops.members()?.len();
    writeln!(
        out,
        "Cluster store: local (config/cluster.yaml, {n} member(s)); pushes go peer to peer."
    )?;
    Ok(())
}
