//! `cluster add|remove|list|status` and `verify cluster|token`: the
//! Trusted Appliances Cluster's members and the proof that its nodes accept
//! each other's tokens. Arguments become the plain values of
//! [`crate::cluster`], whose reports are printed here.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::secrets::{self, SecretSource};
use super::{AdminCreds, UsageError, admin, now, open, print_json, read_token};
use crate::cluster::client::{Client, Peer, normalise_url};
use crate::cluster::members::{self, Candidate, Fit};
use crate::cluster::verify::{self, Tokens};
use crate::cluster::{ClusterError, short_kid, status, table};
use crate::jwt::{self, Claims};
use crate::ops::rfc3339;
use crate::wizard::{Confirm, Prompter, TerminalPrompter};

/// Seconds each call to a member may take, unless `--timeout` says otherwise.
const DEFAULT_TIMEOUT_SECONDS: u64 = crate::cluster::DEFAULT_TIMEOUT.as_secs();

#[derive(Debug, Subcommand)]
pub(super) enum ClusterCommand {
    /// Add a member: pin its certificate (shown for confirmation, as SSH does, unless --fingerprint)
    Add(AddArgs),
    /// Remove a member
    Remove {
        /// The member's name
        name: String,
        #[command(flatten)]
        creds: AdminCreds,
    },
    /// List the members with their URLs and pinned certificate fingerprints
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// The Cluster Export Wizard: push chosen components to members in parallel, then report per member
    Export(super::cluster_export::ClusterExportArgs),
    /// Where membership and published configuration live: show, or set to `etcd` or `local`
    Store(super::cluster_store::StoreArgs),
    /// Ask every member for its version and JWT settings; name every drift from this node
    Status {
        /// Print JSON
        #[arg(long)]
        json: bool,
        /// Seconds each member may take to answer
        #[arg(long, default_value_t = DEFAULT_TIMEOUT_SECONDS, value_name = "SECONDS")]
        timeout: u64,
    },
}

#[derive(Debug, Args)]
pub(super) struct AddArgs {
    /// The name this node calls it by (usually its node name)
    name: String,
    /// Its REST API: https://HOST:PORT
    url: String,
    /// Pin this certificate fingerprint (from `tacctl tls show` there) instead of asking
    #[arg(long, value_name = "SHA256:...")]
    fingerprint: Option<String>,
    /// Add it even when it belongs to another cluster id, without asking
    #[arg(long)]
    yes: bool,
    /// Seconds the peer may take to answer
    #[arg(long, default_value_t = DEFAULT_TIMEOUT_SECONDS, value_name = "SECONDS")]
    timeout: u64,
    #[command(flatten)]
    creds: AdminCreds,
}

#[derive(Debug, Subcommand)]
pub(super) enum VerifyCommand {
    /// Present every node's token to every node (this one and the members): the N x N matrix
    Cluster(VerifyClusterArgs),
    /// Whether a bundle's JWT configuration (offline) or a live appliance accepts a token
    Token(VerifyTokenArgs),
}

#[derive(Debug, Args)]
pub(super) struct VerifyClusterArgs {
    /// Log in on every node as this user
    #[arg(long, default_value = "admin", conflicts_with = "token_file")]
    user: String,
    /// Read the user's password from FILE [or TACCTL_PASSWORD, or a prompt]
    #[arg(long, value_name = "FILE", conflicts_with = "token_file")]
    password_file: Option<PathBuf>,
    /// Present the token in FILE to every node instead of logging in (one row)
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Print JSON
    #[arg(long)]
    json: bool,
    /// Seconds each call to a member may take
    #[arg(long, default_value_t = DEFAULT_TIMEOUT_SECONDS, value_name = "SECONDS")]
    timeout: u64,
}

#[derive(Debug, Args)]
pub(super) struct VerifyTokenArgs {
    /// The token, or - (the default) to read it from standard input
    token: Option<String>,
    /// Check offline against this bundle's JWT configuration
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "url",
        conflicts_with = "url"
    )]
    bundle: Option<PathBuf>,
    /// Read the bundle's passphrase from FILE [or TACCTL_PASSPHRASE, or a prompt]
    #[arg(long, value_name = "FILE", requires = "bundle")]
    passphrase_file: Option<PathBuf>,
    /// Ask this live appliance (https://HOST:PORT) with GET /api/v1/appliance
    #[arg(long)]
    url: Option<String>,
    /// The appliance's certificate fingerprint [default: the member's pinned one]
    #[arg(long, value_name = "SHA256:...", requires = "url")]
    fingerprint: Option<String>,
    /// Print JSON
    #[arg(long)]
    json: bool,
    /// Seconds the appliance may take to answer
    #[arg(long, default_value_t = DEFAULT_TIMEOUT_SECONDS, value_name = "SECONDS")]
    timeout: u64,
}

/// A runtime for one command's network calls.
pub(super) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the asynchronous runtime")
}

/// `--timeout SECONDS`, checked: 1 to 300.
pub(super) fn timeout(seconds: u64) -> Result<Duration> {
    if !(1..=300).contains(&seconds) {
        bail!(UsageError(format!(
            "--timeout {seconds} is out of range; give 1 to 300 seconds"
        )));
    }
    Ok(Duration::from_secs(seconds))
}

pub(super) fn cluster(root: &Path, cmd: ClusterCommand, out: &mut impl Write) -> Result<()> {
    match cmd {
        ClusterCommand::Export(a) => super::cluster_export::cluster_export(root, a, out),
        ClusterCommand::Add(a) => add(root, a, out),
        ClusterCommand::Store(a) => super::cluster_store::run(root, a, out),
        ClusterCommand::Remove { name, creds } => {
            let ops = admin(root, &creds)?;
            if let Some((_, store)) =
                super::cluster_store::etcd_store(&ops, crate::cluster::etcd::DEFAULT_TIMEOUT)?
            {
                let rt = runtime()?;
                let members = rt.block_on(store.members())?;
                let Some(m) = members.values().find(|m| m.name == name) else {
                    return Err(crate::ops::OpsError::MemberNotFound(name).into());
                };
                rt.block_on(store.unregister(&m.node_id))?;
                writeln!(
                    out,
                    "Removed member {} ({}) from the etcd cluster store: it is no recipient of later publishes",
                    m.name, m.url
                )?;
                return Ok(());
            }
            let removed = ops.remove_member(&name)?;
            writeln!(out, "Removed member {} ({})", removed.name, removed.url)?;
            Ok(())
        }
        ClusterCommand::List { json } => {
            let ops = open(root)?;
            if let Some((_, store)) =
                super::cluster_store::etcd_store(&ops, crate::cluster::etcd::DEFAULT_TIMEOUT)?
            {
                return list_etcd(&store, json, out);
            }
            let members = ops.members()?;
            if json {
                return print_json(out, &members);
            }
            if members.is_empty() {
                writeln!(
                    out,
                    "No members; add one with `tacctl cluster add NAME URL`."
                )?;
                return Ok(());
            }
            let mut rows = vec![
                ["NAME", "URL", "CERTIFICATE", "ADDED"]
                    .map(String::from)
                    .to_vec(),
            ];
            for m in members {
                rows.push(vec![m.name, m.url, m.fingerprint, rfc3339(m.added_at)]);
            }
            write!(out, "{}", table(&rows))?;
            Ok(())
        }
        ClusterCommand::Status { json, timeout: t } => {
            let t = timeout(t)?;
            let ops = open(root)?;
            let this = ops.describe(now())?;
            let report = match super::cluster_store::etcd_store(&ops, t)? {
                Some((_, store)) => {
                    let view = runtime()?.block_on(store.view())?;
                    status::from_view(this, &ops.app.node()?.node_id, &view, now())
                }
                None => {
                    let members = ops.members()?;
                    runtime()?.block_on(status::gather(this, &members, t, now))
                }
            };
            if json {
                print_json(out, &report)?;
            } else {
                write!(out, "{}", status::render(&report))?;
            }
            match report.problem() {
                Some(p) => Err(p.into()),
                None => Ok(()),
            }
        }
    }
}

/// `cluster list` with the store on etcd: the registered members, whether
/// each is serving, and the revision each applied.
fn list_etcd(store: &crate::cluster::store::Store, json: bool, out: &mut impl Write) -> Result<()> {
    let view = runtime()?.block_on(store.view())?;
    #[derive(Serialize)]
    struct Row<'a> {
        name: &'a str,
        node_id: &'a str,
        url: &'a str,
        fingerprint: &'a str,
        recipient: &'a str,
        live: bool,
        applied_revision: Option<i64>,
    }
    let rows: Vec<Row<'_>> = view
        .members
        .values()
        .map(|m| Row {
            name: &m.name,
            node_id: &m.node_id,
            url: &m.url,
            fingerprint: &m.fingerprint,
            recipient: &m.recipient,
            live: view.live.contains(&m.node_id),
            applied_revision: view.applied.get(&m.node_id).map(|a| a.revision),
        })
        .collect();
    if json {
        return print_json(out, &rows);
    }
    if rows.is_empty() {
        writeln!(
            out,
            "No member is registered in the etcd cluster store; run `tacctl cluster store etcd` on each appliance."
        )?;
        return Ok(());
    }
    let mut table_rows = vec![
        ["NAME", "URL", "CERTIFICATE", "SERVING", "APPLIED"]
            .map(String::from)
            .to_vec(),
    ];
    for r in &rows {
        table_rows.push(vec![
            r.name.to_owned(),
            r.url.to_owned(),
            r.fingerprint.to_owned(),
            if r.live { "yes" } else { "no" }.to_owned(),
            r.applied_revision
                .map_or_else(|| "-".to_owned(), |v| v.to_string()),
        ]);
    }
    write!(out, "{}", table(&table_rows))?;
    Ok(())
}

fn terminal() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn add(root: &Path, a: AddArgs, out: &mut impl Write) -> Result<()> {
    let t = timeout(a.timeout)?;
    let candidate = Candidate::new(&a.name, &a.url, a.fingerprint.as_deref())?;
    let ops = admin(root, &a.creds)?;
    if ops.app.cluster_store()?.is_some() {
        bail!(UsageError(format!(
            "the cluster store is etcd: members join by registering themselves; run `tacctl cluster store etcd ... --url {}` on {} (or `tacctl cluster store local` here to manage this node's own list)",
            candidate.url, candidate.name
        )));
    }
    if ops.members()?.iter().any(|m| m.name == candidate.name) {
        return Err(crate::ops::OpsError::MemberExists(candidate.name).into());
    }
    // Asking must be possible before anything is learned that would need it.
    if candidate.fingerprint.is_none() && !terminal() {
        bail!(UsageError(format!(
            "{}'s certificate must be confirmed, and there is no terminal to ask on; run `tacctl tls show` on {} and pass what it prints with --fingerprint SHA256:...",
            candidate.name, candidate.name
        )));
    }
    let rt = runtime()?;
    let (fingerprint, asked) = match &candidate.fingerprint {
        Some(fp) => (fp.clone(), false),
        None => (
            rt.block_on(members::first_contact(&candidate.url, t))?,
            true,
        ),
    };
    let node = rt.block_on(members::probe(&candidate, &fingerprint, t))?;
    let signer = members::signer_of(&candidate, &node)?;
    let this = ops.app.node()?;
    let fit = members::fit(&this, &node.appliance);
    if fit == Fit::ThisNode {
        bail!(ClusterError::ThisNode {
            url: candidate.url,
            node_id: this.node_id,
        });
    }
    let described = members::describe_peer(&node.appliance, &fit);
    let mut prompter = None;
    if asked {
        let p = prompter.insert(TerminalPrompter::new().map_err(crate::wizard::WizardError::from)?);
        p.note(&format!(
            "The authenticity of {} ({}) can't be established.\nIts certificate's fingerprint is {fingerprint}.\nIt says it is {described}.\nCompare the fingerprint with what `tacctl tls show` prints on that appliance.",
            candidate.name, candidate.url
        ))
        .map_err(crate::wizard::WizardError::from)?;
        let trusted = p
            .confirm(&Confirm::new(
                "trust_certificate",
                format!(
                    "Trust this certificate and add {} as a member?",
                    candidate.name
                ),
                false,
            ))
            .map_err(crate::wizard::WizardError::from)?;
        if !trusted {
            bail!(ClusterError::Declined {
                peer: candidate.name,
                why: "its certificate was not trusted".into(),
            });
        }
    }
    if let Fit::OtherCluster { theirs, ours } = &fit
        && !a.yes
    {
        let refusal = || ClusterError::OtherCluster {
            peer: candidate.name.clone(),
            theirs: theirs.clone(),
            ours: ours.clone(),
        };
        if !terminal() {
            bail!(refusal());
        }
        let p = match prompter.as_mut() {
            Some(p) => p,
            None => {
                prompter.insert(TerminalPrompter::new().map_err(crate::wizard::WizardError::from)?)
            }
        };
        let go_on = p
            .confirm(&Confirm::new(
                "other_cluster",
                format!(
                    "{} is in cluster {theirs}, not in this node's cluster {ours}, and will refuse this cluster's tokens. Add it anyway?",
                    candidate.name
                ),
                false,
            ))
            .map_err(crate::wizard::WizardError::from)?;
        if !go_on {
            bail!(refusal());
        }
    }
    ops.add_member(candidate.member(&fingerprint, signer, now()))?;
    writeln!(
        out,
        "Added member {} at {}, certificate {fingerprint}: {described}",
        candidate.name, candidate.url
    )?;
    match signer {
        Some(s) => writeln!(
            out,
            "Its signer key {s} is pinned: bundles it signs are reported as a trusted member's."
        )?,
        None => writeln!(
            out,
            "It serves no signer key (an older tacctl): bundles from it are reported as not trusted until it is upgraded, removed and added again."
        )?,
    }
    Ok(())
}

pub(super) fn verify(root: &Path, cmd: VerifyCommand, out: &mut impl Write) -> Result<()> {
    match cmd {
        VerifyCommand::Cluster(a) => verify_cluster(root, a, out),
        VerifyCommand::Token(a) => verify_token(root, a, out),
    }
}

fn verify_cluster(root: &Path, a: VerifyClusterArgs, out: &mut impl Write) -> Result<()> {
    let t = timeout(a.timeout)?;
    let ops = open(root)?;
    let members = crate::cluster::store::members_of(&ops, t)?;
    let tokens = match &a.token_file {
        Some(f) => {
            let bytes = secrets::read_secret_file(f)?;
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| UsageError(format!("{} does not hold a token", f.display())))?
                .trim();
            if text.is_empty() {
                bail!(UsageError(format!("{} is empty", f.display())));
            }
            Tokens::Given(SecretString::from(text.to_owned()))
        }
        None => Tokens::Login {
            password: secrets::read_string(&SecretSource {
                file: a.password_file.as_deref(),
                env: "TACCTL_PASSWORD",
                flag: "--password-file",
                prompt: &format!("Password of {}", a.user),
                confirm: None,
            })?,
            user: a.user,
        },
    };
    let (this_name, participants) = verify::participants(ops.snapshot()?, &members, t)?;
    let matrix = runtime()?.block_on(verify::run(participants, tokens, now));
    if a.json {
        print_json(out, &matrix)?;
    } else {
        writeln!(
            out,
            "Tokens issued by each row, presented to each column. {this_name} is this node (checked in-process); members are reached over their pinned certificates.\n"
        )?;
        if members.is_empty() {
            writeln!(
                out,
                "This node has no members yet; add them with `tacctl cluster add NAME URL`.\n"
            )?;
        }
        write!(out, "{}", verify::render(&matrix))?;
    }
    match matrix.problem() {
        Some(p) => Err(p.into()),
        None => Ok(()),
    }
}

/// A verdict on one token, as `verify token --json` prints it.
#[derive(Debug, Serialize)]
struct Verdict {
    accepted: bool,
    /// Who was asked.
    by: String,
    /// The token's claims, when accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    claims: Option<Claims>,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

fn report(verdict: Verdict, json: bool, out: &mut impl Write) -> Result<()> {
    if json {
        print_json(out, &verdict)?;
    } else if let Some(c) = &verdict.claims {
        writeln!(out, "accepted by {}", verdict.by)?;
        writeln!(
            out,
            "token for {} (role {}), session {}, issued {}, expires {}",
            c.sub,
            c.role,
            c.sid,
            rfc3339(c.iat),
            rfc3339(c.exp)
        )?;
    } else if verdict.accepted {
        writeln!(out, "accepted by {}", verdict.by)?;
    }
    match (verdict.accepted, verdict.reason) {
        (true, _) => Ok(()),
        (false, reason) => Err(ClusterError::TokenRefused {
            by: verdict.by,
            reason: reason.unwrap_or_default(),
        }
        .into()),
    }
}

fn verify_token(root: &Path, a: VerifyTokenArgs, out: &mut impl Write) -> Result<()> {
    let t = timeout(a.timeout)?;
    let token = read_token(a.token)?;
    if let Some(bundle) = &a.bundle {
        let pass = secrets::read_string(&SecretSource {
            file: a.passphrase_file.as_deref(),
            env: "TACCTL_PASSPHRASE",
            flag: "--passphrase-file",
            prompt: "Bundle passphrase",
            confirm: None,
        })?;
        let opened = crate::ops::bundle::open(
            crate::ops::bundle::BundleInput::File(bundle),
            &pass,
            None,
            &crate::ops::bundle::NoProgress,
        )?;
        let jwt = opened.jwt().ok_or(ClusterError::NoJwtInBundle)?;
        let source = &opened.manifest().source;
        let (keys, policy) = verify::bundle_policy(jwt, &source.cluster_id)?;
        let by = format!(
            "the JWT configuration in {} (from {} in cluster {}, key {})",
            bundle.display(),
            source.name,
            source.cluster_id,
            short_kid(&jwt.active_key.kid)
        );
        let verdict = match jwt::verify(token.expose_secret(), &keys, &policy, now()) {
            Ok(claims) => Verdict {
                accepted: true,
                by,
                claims: Some(claims),
                reason: None,
            },
            Err(e) => Verdict {
                accepted: false,
                by,
                claims: None,
                reason: Some(e.to_string()),
            },
        };
        return report(verdict, a.json, out);
    }
    let url = a.url.expect("clap requires --bundle or --url");
    let url = normalise_url(&url).map_err(ClusterError::from)?;
    let peer = match a.fingerprint {
        Some(fp) => {
            crate::component::check_fingerprint(&fp)
                .map_err(|e| UsageError(format!("--fingerprint: {}", e.problem)))?;
            Peer {
                name: url.clone(),
                url: url.clone(),
                fingerprint: fp,
            }
        }
        None => {
            let member = match open(root) {
                Ok(ops) => ops.members()?.into_iter().find(|m| m.url == url),
                Err(_) => None,
            };
            let Some(m) = member else {
                bail!(ClusterError::Unpinned { url });
            };
            Peer {
                name: m.name,
                url: m.url,
                fingerprint: m.fingerprint,
            }
        }
    };
    let by = if peer.name == peer.url {
        peer.url.clone()
    } else {
        format!("{} at {}", peer.name, peer.url)
    };
    let client = Client::with_timeout(peer, t).map_err(ClusterError::from)?;
    let answer = runtime()?.block_on(client.appliance(&token));
    let verdict = match answer {
        Ok(body) => Verdict {
            accepted: true,
            by: format!("{by} (node {} in cluster {})", body.name, body.cluster_id),
            // The appliance checked the token; its claims can now be shown.
            claims: verify::peek_claims(token.expose_secret()),
            reason: None,
        },
        Err(crate::cluster::client::ClientError::Refused {
            status: 401,
            message,
            ..
        }) => Verdict {
            accepted: false,
            by,
            claims: None,
            reason: Some(message),
        },
        Err(e) => return Err(ClusterError::from(e).into()),
    };
    report(verdict, a.json, out)
}
