//! `cluster export` (the Cluster Export Wizard) and `export --to URL`: the
//! flags and the answers file become answers to the questions, what is left
//! is asked on the terminal, and without one a missing answer is an error
//! (exit 2), never a wait. The questions end in a push plan, which this
//! file runs through [`crate::cluster::push::Session::run`] (steps 4 to 6),
//! followed by the cross-node verifier.
//!
//! `cluster export` asks the wizard's questions
//! ([`crate::wizard::cluster::cluster_export`]); `export --to` asks its own
//! few here (the target's certificate, the components, the credentials), so
//! it needs no member.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use secrecy::SecretString;

use super::KdfCost;
use super::secrets;
use super::{UsageError, now, open, print_json};
use crate::auth::AuthError;
use crate::cluster::client::{Peer, normalise_url};
use crate::cluster::push::{
    Credentials, DEFAULT_TARGET_TIMEOUT, Finish, PushError, PushPlan, Report, Session, Target,
};
use crate::ops::{Ops, OpsError};
use crate::wizard::cluster::{
    self as flows, COMPONENTS, HINTS, MEMBERS, NO_COMPONENT, PASSWORD, Planned, TRUST, USER,
};
use crate::wizard::{
    Answered, Answers, AnswersFile, Confirm, Context, Given, Prompter, PushScreen,
    TerminalPrompter, WizardError, root_identity,
};

#[derive(Debug, Args)]
pub(super) struct ClusterExportArgs {
    /// Components, comma-separated: jwt, users, ldap, network, files [asked; with --yes: jwt]
    #[arg(short = 'c', long = "components", value_delimiter = ',')]
    components: Vec<String>,
    /// Members to push to, comma-separated [asked; with --yes: all]
    #[arg(long, value_delimiter = ',')]
    members: Vec<String>,
    /// This node's root credentials: an administrator's user name [default: --user, else admin]
    #[arg(long, env = "TACCTL_ADMIN_USER")]
    admin_user: Option<String>,
    /// Read that administrator's password from FILE [or TACCTL_ADMIN_PASSWORD, else --password-file's]
    #[arg(long, value_name = "FILE")]
    admin_password_file: Option<PathBuf>,
    /// Key derivation cost of the pushed bundle; `test` is for test suites and benchmarks only
    #[arg(long, value_enum, default_value = "default")]
    kdf_cost: KdfCost,
    #[command(flatten)]
    push: PushArgs,
}

/// The flags of a push, shared by `cluster export` and `export --to`.
#[derive(Debug, Args)]
pub(super) struct PushArgs {
    /// An administrator's user name on the targets that do not accept this node's token [asked; default: the root user]
    #[arg(long)]
    user: Option<String>,
    /// Read that administrator's password from FILE [or TACCTL_PASSWORD, or a prompt]
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Answers in a YAML file, keyed by question id (flags take precedence)
    #[arg(long, value_name = "FILE")]
    answers: Option<PathBuf>,
    /// Push without asking: every question not answered takes its default; one without a default is an error
    #[arg(long)]
    yes: bool,
    /// Seconds each target may take for signing in and the dry run, and again for the import [default: 120]
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// No progress bars (drawn on a terminal for a long export or a push)
    #[arg(short, long)]
    pub(super) quiet: bool,
    /// Print the result per target as JSON on standard output
    #[arg(long)]
    json: bool,
}

impl PushArgs {
    /// Whether any of these flags was given (they go with `export --to` only).
    pub(super) fn any(&self) -> bool {
        self.user.is_some()
            || self.password_file.is_some()
            || self.answers.is_some()
            || self.yes
            || self.timeout.is_some()
            || self.json
    }
}

/// A publish through etcd was not applied by every member within the wait.
#[derive(Debug, thiserror::Error)]
#[error(
    "not applied within the wait by {}; the others hold the new configuration, and these apply it when they can (`tacctl cluster status`)",
    .0.join(", ")
)]
pub struct NotApplied(pub Vec<String>);

/// The push failed on some targets; the others hold the new configuration.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(.0))]
pub struct PushFailed(pub Report);

fn describe(r: &Report) -> String {
    let holding = r.holding();
    format!(
        "the push failed on {} of {} targets ({}): each failure is in the table above, and those targets keep their configuration; {}",
        r.failed().len(),
        r.members.len(),
        r.failed().join(", "),
        if holding.is_empty() {
            "none holds the new one".to_owned()
        } else {
            format!("{} hold the new one", holding.join(", "))
        }
    )
}

fn secret_file(path: &Path) -> Result<Given> {
    let bytes = secrets::read_secret_file(path)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| UsageError(format!("{} is not UTF-8 text", path.display())))?;
    if text.is_empty() {
        bail!(UsageError(format!("{} is empty", path.display())));
    }
    Ok(Given::Secret(SecretString::from(text)))
}

fn env_secret(var: &str) -> Option<Given> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| Given::Secret(SecretString::from(v)))
}

/// The answers the flags, the environment and the answers file give, in
/// that order of precedence. This node's root credentials fall back to the
/// targets' (`--user`, `--password-file`) when not given apart.
fn answers(
    push: &PushArgs,
    components: &[String],
    members: &[String],
    admin_user: Option<&str>,
    admin_password_file: Option<&Path>,
) -> Result<Answers> {
    let mut a = Answers::new();
    if !components.is_empty() {
        a.set(COMPONENTS, Given::List(components.to_vec()));
    }
    if !members.is_empty() {
        a.set(MEMBERS, Given::List(members.to_vec()));
    }
    if let Some(u) = admin_user {
        a.set("root-user", Given::Text(u.to_owned()));
    }
    if let Some(f) = admin_password_file {
        a.set("root-password", secret_file(f)?);
    } else if let Some(s) = env_secret("TACCTL_ADMIN_PASSWORD") {
        a.set("root-password", s);
    }
    if let Some(u) = &push.user {
        a.set(USER, Given::Text(u.clone()));
    }
    if let Some(f) = &push.password_file {
        a.set(PASSWORD, secret_file(f)?);
    } else if let Some(s) = env_secret("TACCTL_PASSWORD") {
        a.set(PASSWORD, s);
    }
    if let Some(path) = &push.answers {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the answers file {}", path.display()))?;
        let file: AnswersFile = yaml_serde::from_str(&text).map_err(|e| {
            UsageError(format!(
                "the answers file {} is not valid: {e}; see `Answers file` in the README",
                path.display()
            ))
        })?;
        let dir = path.parent().unwrap_or(Path::new(""));
        let AnswersFile {
            root_user,
            root_password_file,
            components,
            members,
            user,
            password_file,
            apply,
        } = file;
        if let Some(u) = root_user {
            a.set_default("root-user", Given::Text(u));
        }
        if let Some(f) = root_password_file {
            a.set_default("root-password", secret_file(&dir.join(f))?);
        }
        if let Some(c) = components {
            a.set_default(COMPONENTS, Given::List(c));
        }
        if let Some(m) = members {
            a.set_default(MEMBERS, Given::List(m));
        }
        if let Some(u) = user {
            a.set_default(USER, Given::Text(u));
        }
        if let Some(f) = password_file {
            a.set_default(PASSWORD, secret_file(&dir.join(f))?);
        }
        if let Some(y) = apply {
            a.set_default(flows::APPLY, Given::Yes(y));
        }
    }
    if let Some(u) = a.get(USER).cloned() {
        a.set_default("root-user", u);
    }
    if let Some(p) = a.get(PASSWORD).cloned() {
        a.set_default("root-password", p);
    }
    Ok(a)
}

/// Runs `flow` (the questions) with the answers given, asking on the
/// terminal when there is one, then the push it plans and the verifier,
/// and turns how it finished into output and an exit code.
fn run_flow(
    ops: &Ops,
    push: &PushArgs,
    answers: Answers,
    kdf: crate::bundle::header::KdfParams,
    out: &mut impl Write,
    flow: impl FnOnce(&mut dyn Prompter, &Context<'_>, &Session) -> Result<Planned, WizardError>,
) -> Result<()> {
    let timeout = push
        .timeout
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TARGET_TIMEOUT);
    if timeout.is_zero() {
        bail!(UsageError("--timeout must be at least 1 second".into()));
    }
    let cx = Context {
        ops,
        clock: now,
        kdf,
        export_dir: PathBuf::new(),
        admin_user: "admin".into(),
        push_timeout: timeout,
    };
    let session = Session::new(timeout)?;
    let mut terminal = TerminalPrompter::new().ok();
    // Without a terminal the plans and the table are the command's output;
    // with --json they make way for the JSON.
    let mut stderr = std::io::stderr();
    let mut published = None;
    let finish = {
        let p = Answered::new(answers, push.yes)
            .hints(HINTS)
            .quiet(push.quiet || push.json)
            .bars(std::io::stderr().is_terminal());
        let mut p = match terminal.as_mut() {
            Some(t) => p.ask(t),
            None if push.json => p.notes_to(&mut stderr),
            None => p.notes_to(&mut *out),
        };
        match flow(&mut p, &cx, &session)? {
            Planned::Push(plan) => {
                let finish = session.run(ops, &plan, kdf, now(), &mut PushScreen(&mut p))?;
                if finish.needs_verifier() {
                    flows::verify_screen(&mut p, &cx, plan.credentials.own_token.as_ref())?;
                }
                finish
            }
            Planned::Publish(components) => {
                published = Some(flows::publish_screen(&mut p, &cx, &components)?);
                Finish::Declined
            }
            Planned::Nothing(why) => return Err(UsageError(why).into()),
            Planned::GaveUp => return Err(OpsError::from(AuthError::BadCredentials).into()),
        }
    };
    if let Some(report) = published {
        if push.json {
            print_json(out, &report)?;
        }
        let missing = report.not_applied();
        if missing.is_empty() {
            return Ok(());
        }
        return Err(NotApplied(missing.iter().map(|m| m.name.clone()).collect()).into());
    }
    match finish {
        Finish::Pushed(report) => {
            if push.json {
                print_json(out, &report)?;
            }
            if report.failed().is_empty() {
                Ok(())
            } else {
                Err(PushFailed(report).into())
            }
        }
        Finish::Declined => Ok(()),
    }
}

pub(super) fn cluster_export(
    root: &Path,
    a: ClusterExportArgs,
    out: &mut impl Write,
) -> Result<()> {
    let ops = open(root)?;
    let answers = answers(
        &a.push,
        &a.components,
        &a.members,
        a.admin_user.as_deref(),
        a.admin_password_file.as_deref(),
    )?;
    run_flow(
        &ops,
        &a.push,
        answers,
        a.kdf_cost.params(),
        out,
        |p, cx, session| flows::cluster_export(p, cx, session, false),
    )
}

/// `export --to URL`: the same push to one appliance that is not a member.
#[allow(
    clippy::too_many_arguments,
    reason = "the export command's flags, passed on"
)]
pub(super) fn export_to(
    root: &Path,
    url: &str,
    fingerprint: Option<&str>,
    components: &[String],
    admin_user: &str,
    admin_password_file: Option<&Path>,
    cost: KdfCost,
    push: &PushArgs,
    out: &mut impl Write,
) -> Result<()> {
    if fingerprint.is_none() && !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal())
    {
        bail!(UsageError(format!(
            "--fingerprint SHA256:... is required without a terminal: nothing vouches for {url}'s certificate otherwise (`tacctl tls show` on that appliance prints it)"
        )));
    }
    let ops = open(root)?;
    let answers = answers(push, components, &[], Some(admin_user), admin_password_file)?;
    run_flow(&ops, push, answers, cost.params(), out, |p, cx, session| {
        export_to_plan(p, cx, session, url, fingerprint)
    })
}

/// The questions of `export --to URL`: the root credentials, the target's
/// certificate (the one `fingerprint` names, or, without it, the one it
/// presents once the administrator trusts it), the components, and
/// credentials when the target does not accept this node's token. The
/// target is named by the node name it gives.
fn export_to_plan(
    p: &mut dyn Prompter,
    cx: &Context<'_>,
    session: &Session,
    url: &str,
    fingerprint: Option<&str>,
) -> Result<Planned, WizardError> {
    let url = normalise_url(url).map_err(PushError::from)?;
    if let Some(fp) = fingerprint {
        crate::component::check_fingerprint(fp)
            .map_err(|e| OpsError::Invalid(format!("--fingerprint: {}", e.problem)))?;
    }
    let Some(id) = root_identity(p, cx, false)? else {
        return Ok(Planned::GaveUp);
    };
    let fingerprint = match fingerprint {
        Some(fp) => fp.to_owned(),
        None => {
            let seen = session.fingerprint(&url)?;
            p.note(&format!(
                "{url} is not a cluster member: no pinned certificate vouches for it.\nIts certificate's fingerprint is {seen}.\nCompare it with what `tacctl tls show` prints on that appliance."
            ))?;
            let q =
                Confirm::new(TRUST, "Trust this certificate and go on?", false).unattended(None);
            if !p.confirm(&q)? {
                return Ok(Planned::Nothing(
                    "The certificate was not trusted. Nothing was pushed.".into(),
                ));
            }
            seen
        }
    };
    let Some(components) = flows::ask_components(p, cx)? else {
        return Ok(Planned::Nothing(NO_COMPONENT.into()));
    };
    let mut target = Peer {
        name: url.clone(),
        url,
        fingerprint,
    };
    let token = flows::own_token(cx, &id)?;
    let probes = session.probe(std::slice::from_ref(&target), Some(&token));
    if let Ok(node) = &probes[0].node {
        target.name = node.appliance.name.clone();
    }
    let login = flows::ask_credentials(p, &id, &[0], std::slice::from_ref(&target), &probes)?;
    Ok(Planned::Push(PushPlan {
        components,
        targets: vec![Target::probed(target, &probes[0])],
        credentials: Credentials {
            own_token: Some(token),
            login,
        },
    }))
}
