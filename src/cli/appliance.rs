//! The appliance itself: `tacctl init`, `tacctl status` and `tacctl recover`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use super::secrets::{self, SecretSource};
use super::{AdminCreds, admin_password, lock_timeout, now, open, print_json, tell};
use crate::ops::{self, InitRequest, Ops, OpsError};

#[derive(Debug, Args)]
pub(super) struct InitArgs {
    /// Node name [default: the host name]
    #[arg(long)]
    name: Option<String>,
    /// Cluster id [default: generated]
    #[arg(long)]
    cluster_id: Option<String>,
    /// The first administrator's user name
    #[arg(long, default_value = "admin")]
    admin_user: String,
    /// Read the administrator's password from FILE [or TACCTL_ADMIN_PASSWORD, or a prompt]
    #[arg(long, value_name = "FILE")]
    admin_password_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct RecoverArgs {
    /// Discard the journal of an interrupted change that cannot be finished because the journal is damaged: the configuration stays as it is now, and the snapshot taken before the change is kept (asks for the root credentials)
    #[arg(long)]
    discard_journal: bool,
    #[command(flatten)]
    creds: AdminCreds,
}

/// `tacctl status`: who this node is.
pub(super) fn status(root: &Path, json: bool, out: &mut impl Write) -> Result<()> {
    let ops = open(root)?;
    // An appliance made before member keys gets one now, to be shown.
    ops.member_identity(now())?;
    let s = ops.status()?;
    if json {
        print_json(out, &s)
    } else {
        writeln!(
            out,
            "Node:        {}\nNode id:     {}\nCluster id:  {}\nJWT key:     {} ({})\nMember key:  {}\nSigner key:  {}\nRoot:        {}",
            s.name,
            s.node_id,
            s.cluster_id,
            s.jwt_kid,
            s.algorithm,
            s.member_key.as_deref().unwrap_or("none"),
            s.signer_key.as_deref().unwrap_or("none"),
            s.root
        )?;
        Ok(())
    }
}

/// `tacctl recover`: opening the appliance finishes or discards an
/// interrupted change; `--discard-journal` gives up one whose journal is
/// damaged.
pub(super) fn recover(root: &Path, a: RecoverArgs, out: &mut impl Write) -> Result<()> {
    if !a.discard_journal {
        let ops = Ops::open(root, lock_timeout())?;
        if ops.notices.is_empty() {
            writeln!(out, "Nothing to recover: no change was interrupted.")?;
        }
        for n in &ops.notices {
            writeln!(out, "{}{}.", n[..1].to_uppercase(), &n[1..])?;
        }
        return Ok(());
    }
    let ops = Ops::open_unrecovered(root, lock_timeout())?;
    tell(&ops);
    ops.require_admin(&a.creds.admin_user, &admin_password(&a.creds)?)?;
    let done = ops.discard_journal(now())?;
    writeln!(out, "{}{}.", done[..1].to_uppercase(), &done[1..])?;
    Ok(())
}

fn host_name() -> String {
    let raw = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let clean: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(64)
        .collect();
    let clean = clean.trim_start_matches(['.', '-']).to_owned();
    if clean.is_empty() {
        "appliance".into()
    } else {
        clean
    }
}

pub(super) fn init(root: &Path, args: InitArgs, out: &mut impl Write) -> Result<()> {
    if root.join("appliance.yaml").exists() {
        // Refuse before asking for a password that would not be used.
        return Err(
            OpsError::from(crate::appliance::ApplianceError::AlreadyExists(root.into())).into(),
        );
    }
    let password = secrets::read_string(&SecretSource {
        file: args.admin_password_file.as_deref(),
        env: "TACCTL_ADMIN_PASSWORD",
        flag: "--admin-password-file",
        prompt: "Administrator password",
        confirm: Some("Confirm password"),
    })?;
    let app = ops::init(
        root,
        InitRequest {
            name: args.name.unwrap_or_else(host_name),
            cluster_id: args.cluster_id,
            admin_user: args.admin_user,
            admin_password: password,
        },
        now(),
    )?;
    let node = app.node()?;
    writeln!(
        out,
        "Created appliance {} (node id {}) in cluster {} at {}",
        node.name,
        node.node_id,
        node.cluster_id,
        root.display()
    )?;
    Ok(())
}
