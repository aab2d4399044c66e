//! Trusted Appliances Cluster: its menu, the Cluster Export Wizard
//! (`tacctl cluster export`) and the push to one appliance outside the
//! cluster (`tacctl export --to URL`).
//!
//! The Cluster Export Wizard has the appliance's six steps: the components
//! as check boxes under "Appliance OS Configuration" (node-local ones shown
//! but not selectable), the target members with their status, credentials
//! for the members that do not accept this node's own token, the plan of
//! each member from its dry run and a confirmation, the parallel push with
//! progress, and the result table, after which the cross-node verifier
//! runs by itself. The root credentials come first: this node's own
//! administrator token is made from them.
//!
//! Steps 1 to 3 only ask; their answers are a [`ClusterExportPlan`], which
//! flags or an answers file give just as well (through
//! [`super::Answered`] and the question ids in [`HINTS`]). `execute` runs
//! steps 4 to 6 from that value through [`crate::cluster::push`].

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use crate::auth::Identity;
use crate::bundle::header::KdfParams;
use crate::cluster::client::{Peer, fetch_fingerprint, normalise_url};
use crate::cluster::push::{
    self, Credentials, DEFAULT_TARGET_TIMEOUT, Login, Payload, Probe, Report, Target, Via,
};
use crate::component::Scope;
use crate::ops::OpsError;
use crate::ops::bundle::Kind;

use super::answers::Hints;
use super::prompt::{CheckItem, Confirm, Input, MultiSelect, Password, Prompter};
use super::{Context, Entry, Result, WizardError, menu, not_blank, root_identity};

/// Step 1: the components.
pub const COMPONENTS: &str = "cluster-components";
/// Step 2: the target members.
pub const MEMBERS: &str = "cluster-members";
/// Step 3: the administrator's user name on the targets.
pub const USER: &str = "cluster-user";
/// Step 3: that administrator's password.
pub const PASSWORD: &str = "cluster-password";
/// Step 4: push the plan?
pub const APPLY: &str = "cluster-apply";
/// `export --to` without `--fingerprint`: trust the certificate seen?
pub const TRUST: &str = "trust-fingerprint";

/// How every question of the Cluster Export Wizard and of `export --to`
/// is answered without asking: the flag, and the key in the answers file.
pub const HINTS: Hints = &[
    (
        "root-user",
        "--admin-user NAME (or TACCTL_ADMIN_USER), or `root-user:` in the answers file",
    ),
    (
        "root-password",
        "--admin-password-file FILE (or TACCTL_ADMIN_PASSWORD), or `root-password-file:` in the answers file",
    ),
    (
        COMPONENTS,
        "--components jwt,users,..., or `cluster-components:` in the answers file",
    ),
    (
        MEMBERS,
        "--members NAME,..., or `cluster-members:` in the answers file",
    ),
    (USER, "--user NAME, or `cluster-user:` in the answers file"),
    (
        PASSWORD,
        "--password-file FILE (or TACCTL_PASSWORD), or `cluster-password-file:` in the answers file",
    ),
    (APPLY, "--yes, or `cluster-apply: true` in the answers file"),
    (
        TRUST,
        "--fingerprint SHA256:... (`tacctl tls show` on that appliance prints it)",
    ),
];

/// Why the node-local check boxes cannot be ticked.
const NODE_LOCAL: &str = "node-local: it stays on this node";

/// What the verifier entry says when `tacctl verify cluster` is not part of
/// this build, and what a push ends with then.
pub const VERIFY_HINT: &str =
    "Run `tacctl verify cluster` to check that every member accepts every other member's tokens.";

/// A screen that another part of tacctl provides to the Trusted
/// Appliances Cluster menu.
pub type Screen<'a> = dyn Fn(&mut dyn Prompter, &Context<'_>) -> Result<()> + 'a;

/// The verifier's screen: with a token, it presents that one token to every
/// node; without, it asks for credentials and logs in on each.
pub type VerifyScreen<'a> =
    dyn Fn(&mut dyn Prompter, &Context<'_>, Option<&SecretString>) -> Result<()> + 'a;

/// What the Trusted Appliances Cluster menu and the push need beyond the
/// appliance: the per-target timeout and the screens of the cluster
/// commands (`cluster add/remove/list`, `cluster status`, `verify
/// cluster`), plugged in where they exist.
#[derive(Clone, Copy)]
pub struct ClusterHooks<'a> {
    /// How long each target may take per phase of a push.
    pub timeout: Duration,
    /// Members: add, remove, list.
    pub members: Option<&'a Screen<'a>>,
    /// Status of every member, with drift.
    pub status: Option<&'a Screen<'a>>,
    /// The cross-node verifier; it also runs by itself after every push,
    /// then with this node's administrator token.
    pub verify: Option<&'a VerifyScreen<'a>>,
}

impl Default for ClusterHooks<'_> {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TARGET_TIMEOUT,
            members: None,
            status: None,
            verify: None,
        }
    }
}

impl std::fmt::Debug for ClusterHooks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterHooks")
            .field("timeout", &self.timeout)
            .field("members", &self.members.is_some())
            .field("status", &self.status.is_some())
            .field("verify", &self.verify.is_some())
            .finish()
    }
}

/// What steps 1 to 3 decide, and what `--components`, `--members`,
/// `--user` and `--password-file` (or an answers file) describe as well.
#[derive(Debug, Clone)]
pub struct ClusterExportPlan {
    /// The components, in bundle order.
    pub components: Vec<Kind>,
    /// The targets, with their pinned certificates.
    pub targets: Vec<Peer>,
    /// For the targets that do not accept this node's own token.
    pub login: Option<Login>,
}

/// How a run of the wizard ended.
#[derive(Debug)]
pub enum Finish {
    /// Pushed; the result per target (some may have failed).
    Pushed(Report),
    /// The plan was shown and declined: nothing changed anywhere.
    Declined,
    /// There was nothing to do, and why (no members, nothing ticked, a
    /// certificate not trusted).
    Nothing(String),
    /// The root credentials were refused and not tried again.
    GaveUp,
}

#[derive(Debug, Clone, Copy)]
enum Item {
    Members,
    Status,
    Export,
    Verify,
    Back,
}

/// Trusted Appliances Cluster.
const CLUSTER_MENU: [Entry<Item>; 5] = [
    (Item::Members, "Members"),
    (Item::Status, "Status"),
    (Item::Export, "Cluster Export Wizard"),
    (Item::Verify, "Verify"),
    (Item::Back, "Back"),
];

/// Trusted Appliances Cluster, until Back.
pub fn cluster_menu(p: &mut dyn Prompter, cx: &Context<'_>) -> Result<()> {
    loop {
        match menu(p, "cluster", "Trusted Appliances Cluster", &CLUSTER_MENU)? {
            Item::Members => screen(p, cx, cx.cluster.members, "Members (add, remove, list)")?,
            Item::Status => screen(p, cx, cx.cluster.status, "Status")?,
            Item::Export => match cluster_export(p, cx, true)? {
                Finish::Nothing(why) => p.note(&why)?,
                Finish::Pushed(_) | Finish::Declined | Finish::GaveUp => {}
            },
            Item::Verify => run_verifier(p, cx, None)?,
            Item::Back => return Ok(()),
        }
    }
}

fn screen(
    p: &mut dyn Prompter,
    cx: &Context<'_>,
    hook: Option<&Screen<'_>>,
    what: &str,
) -> Result<()> {
    match hook {
        Some(s) => s(p, cx),
        None => Ok(p.note(&format!("{what} is not available in this build yet."))?),
    }
}

/// The cross-node verifier: the one place where `tacctl verify cluster`
/// plugs in ([`ClusterHooks::verify`]). Runs after every push that left
/// at least one member with the new configuration, and from the menu.
fn run_verifier(
    p: &mut dyn Prompter,
    cx: &Context<'_>,
    token: Option<&SecretString>,
) -> Result<()> {
    match cx.cluster.verify {
        Some(verify) => verify(p, cx, token),
        None => Ok(p.note(VERIFY_HINT)?),
    }
}

/// The runtime a push runs on from its probe to its end, and the targets as
/// the probe found them. The connections the probe opened serve the dry run
/// and the import too; a connection cannot outlive the runtime that opened
/// it, hence one runtime for the whole push.
struct Reach {
    rt: tokio::runtime::Runtime,
    /// One per target of the plan, in its order.
    probed: Vec<Target>,
}

/// A runtime for the pushes' network calls, on this thread.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| WizardError::Runtime(e.to_string()))
}

/// This node's own administrator token, for the identity the root
/// credentials proved.
fn own_token(cx: &Context<'_>, id: &Identity) -> Result<SecretString> {
    Ok(cx.ops.snapshot()?.issue(id, cx.now())?.token)
}

/// The Cluster Export Wizard: root credentials, steps 1 to 3, then
/// `execute`. `retry_root`: wrong root credentials may be tried again
/// (on a terminal); otherwise they are an error.
pub fn cluster_export(p: &mut dyn Prompter, cx: &Context<'_>, retry_root: bool) -> Result<Finish> {
    p.note("Cluster Export Wizard")?;
    let Some(id) = root_identity(p, cx, retry_root)? else {
        return Ok(Finish::GaveUp);
    };
    let members = cx.ops.members()?;
    if members.is_empty() {
        return Ok(Finish::Nothing(
            "This node has no cluster members yet; add them with `tacctl cluster add NAME URL`. Nothing was pushed.".into(),
        ));
    }
    let Some(components) = ask_components(p, cx)? else {
        return Ok(Finish::Nothing(
            "No component was selected. Nothing was pushed.".into(),
        ));
    };
    let targets: Vec<Peer> = members
        .iter()
        .map(|m| Peer {
            name: m.name.clone(),
            url: m.url.clone(),
            fingerprint: m.fingerprint.clone(),
        })
        .collect();
    let token = own_token(cx, &id)?;
    let rt = runtime()?;
    let probes = rt.block_on(push::probe(&targets, Some(&token), cx.cluster.timeout));
    let status = cx.ops.status()?;
    let chosen = ask_members(p, &targets, &probes, &status.jwt_kid, &status.cluster_id)?;
    if chosen.is_empty() {
        return Ok(Finish::Nothing(
            "No member was selected. Nothing was pushed.".into(),
        ));
    }
    let login = ask_credentials(p, &id, &chosen, &targets, &probes)?;
    let plan = ClusterExportPlan {
        components,
        targets: chosen.iter().map(|&i| targets[i].clone()).collect(),
        login,
    };
    let probed = chosen
        .iter()
        .map(|&i| Target::probed(targets[i].clone(), &probes[i]))
        .collect();
    execute(p, cx, &plan, Some(token), Reach { rt, probed })
}

/// `tacctl export --to URL`: one appliance that is not a member, through
/// the same steps. Its certificate is the one `fingerprint` names, or,
/// without it, the one it presents once the administrator trusts it.
pub fn export_to(
    p: &mut dyn Prompter,
    cx: &Context<'_>,
    url: &str,
    fingerprint: Option<&str>,
) -> Result<Finish> {
    let url = normalise_url(url)?;
    if let Some(fp) = fingerprint {
        crate::component::check_fingerprint(fp)
            .map_err(|e| OpsError::Invalid(format!("--fingerprint: {}", e.problem)))?;
    }
    let Some(id) = root_identity(p, cx, false)? else {
        return Ok(Finish::GaveUp);
    };
    let fingerprint = match fingerprint {
        Some(fp) => fp.to_owned(),
        None => {
            let seen = runtime()?.block_on(fetch_fingerprint(&url, cx.cluster.timeout))?;
            p.note(&format!(
                "{url} is not a cluster member: no pinned certificate vouches for it.\nIts certificate's fingerprint is {seen}.\nCompare it with what `tacctl tls show` prints on that appliance."
            ))?;
            let q =
                Confirm::new(TRUST, "Trust this certificate and go on?", false).unattended(None);
            if !p.confirm(&q)? {
                return Ok(Finish::Nothing(
                    "The certificate was not trusted. Nothing was pushed.".into(),
                ));
            }
            seen
        }
    };
    let Some(components) = ask_components(p, cx)? else {
        return Ok(Finish::Nothing(
            "No component was selected. Nothing was pushed.".into(),
        ));
    };
    let mut target = Peer {
        name: url.clone(),
        url,
        fingerprint,
    };
    let token = own_token(cx, &id)?;
    let rt = runtime()?;
    let probes = rt.block_on(push::probe(
        std::slice::from_ref(&target),
        Some(&token),
        cx.cluster.timeout,
    ));
    if let Ok(node) = &probes[0].node {
        target.name = node.appliance.name.clone();
    }
    let targets = vec![target];
    let login = ask_credentials(p, &id, &[0], &targets, &probes)?;
    let probed = vec![Target::probed(targets[0].clone(), &probes[0])];
    let plan = ClusterExportPlan {
        components,
        targets,
        login,
    };
    execute(p, cx, &plan, Some(token), Reach { rt, probed })
}

/// Step 1: the components, grouped under "Appliance OS Configuration" as
/// on the appliance's export screen, then any other component a bundle can
/// carry. `None` when nothing is ticked.
fn ask_components(p: &mut dyn Prompter, cx: &Context<'_>) -> Result<Option<Vec<Kind>>> {
    let ldap = cx.ops.ldap()?.is_some();
    let mut items: Vec<(Option<Kind>, CheckItem)> = vec![
        (
            Some(Kind::Jwt),
            CheckItem::new(Kind::Jwt.label(), true).key("jwt"),
        ),
        (
            Some(Kind::Users),
            CheckItem::new(Kind::Users.label(), false).key("users"),
        ),
        (
            Some(Kind::Ldap),
            if ldap {
                CheckItem::new(Kind::Ldap.label(), false)
            } else {
                CheckItem::disabled(Kind::Ldap.label(), "not configured on this node")
            }
            .key("ldap"),
        ),
        (
            Some(Kind::Network),
            CheckItem::new("Network settings (DNS, NTP, syslog)", false).key("network"),
        ),
        (
            Some(Kind::Files),
            CheckItem::new(Kind::Files.label(), false).key("files"),
        ),
        (
            Some(Kind::Tls),
            CheckItem::disabled("TLS certificate", NODE_LOCAL).key("tls"),
        ),
        (
            None,
            CheckItem::disabled("Host name", NODE_LOCAL).key("hostname"),
        ),
    ];
    // A component added since the screen above was laid out.
    for k in Kind::all() {
        if !items.iter().any(|(listed, _)| *listed == Some(k)) {
            let item = match k.scope() {
                Scope::Cluster => CheckItem::new(k.label(), false),
                Scope::Node => CheckItem::disabled(k.label(), NODE_LOCAL),
            };
            items.push((Some(k), item.key(k.name())));
        }
    }
    p.note("Step 1 of 6: the components to export.")?;
    let ticked = p.multi_select(&MultiSelect {
        id: COMPONENTS,
        prompt: "Appliance OS Configuration".into(),
        items: items.iter().map(|(_, i)| i.clone()).collect(),
    })?;
    let mut kinds: Vec<Kind> = ticked.iter().filter_map(|&i| items[i].0).collect();
    kinds.sort();
    Ok((!kinds.is_empty()).then_some(kinds))
}

/// What step 2 shows of a member.
fn status_text(probe: &Probe, kid: &str, cluster_id: &str) -> String {
    match &probe.node {
        Ok(n) if n.appliance.cluster_id != cluster_id => format!(
            "reachable, tacctl {}, but in cluster {:?}, not this node's {cluster_id:?}: it refuses this node's tokens (issuer differs) whatever the JWT key",
            n.appliance.version, n.appliance.cluster_id
        ),
        Ok(n) => {
            let key = if n.appliance.kid == kid {
                "same JWT key as this node"
            } else {
                "JWT key differs"
            };
            let token = match probe.accepts_own_token {
                Some(true) => ", accepts this node's token",
                _ => "",
            };
            format!("reachable, tacctl {}, {key}{token}", n.appliance.version)
        }
        Err(f) => match f.kind {
            push::FailureKind::Unreachable => "unreachable".into(),
            push::FailureKind::Timeout => "no answer in time".into(),
            push::FailureKind::FingerprintMismatch => {
                "presents another certificate than the pinned one".into()
            }
            _ => format!("cannot be read: {}", f.reason),
        },
    }
}

/// Step 2: the members, all ticked, each with its status. The indices chosen.
fn ask_members(
    p: &mut dyn Prompter,
    targets: &[Peer],
    probes: &[Probe],
    kid: &str,
    cluster_id: &str,
) -> Result<Vec<usize>> {
    p.note("Step 2 of 6: the members to export to.")?;
    let items = targets
        .iter()
        .zip(probes)
        .map(|(t, probe)| {
            CheckItem::new(
                format!(
                    "{} ({}): {}",
                    t.name,
                    t.url,
                    status_text(probe, kid, cluster_id)
                ),
                true,
            )
            .key(t.name.clone())
        })
        .collect();
    Ok(p.multi_select(&MultiSelect {
        id: MEMBERS,
        prompt: "Target members".into(),
        items,
    })?)
}

/// Step 3: an administrator's credentials, asked only when a chosen member
/// that answered does not accept this node's own token.
fn ask_credentials(
    p: &mut dyn Prompter,
    id: &Identity,
    chosen: &[usize],
    targets: &[Peer],
    probes: &[Probe],
) -> Result<Option<Login>> {
    let needs: Vec<&str> = chosen
        .iter()
        .filter(|&&i| probes[i].node.is_ok() && probes[i].accepts_own_token != Some(true))
        .map(|&i| targets[i].name.as_str())
        .collect();
    if needs.is_empty() {
        p.note("Step 3 of 6: credentials. Every chosen member that answered accepts this node's token; nothing to ask.")?;
        return Ok(None);
    }
    p.note(&format!(
        "Step 3 of 6: credentials. {} {} not accept this node's token (the JWT configuration differs): sign in there as an administrator.",
        needs.join(", "),
        if needs.len() == 1 { "does" } else { "do" }
    ))?;
    let user = p.input(
        &Input::new(USER, "Administrator user name on the members")
            .default(id.name.clone())
            .validate(not_blank),
    )?;
    let password = p.password(&Password::new(PASSWORD, "Password"))?;
    Ok(Some(Login {
        user: user.trim().to_owned(),
        password,
    }))
}

/// Steps 4 to 6 from a plan: each target's dry run shown, confirmation,
/// the parallel push with progress, the result table, then the verifier.
/// `own_token` is this node's administrator token, tried first on every
/// target.
fn execute(
    p: &mut dyn Prompter,
    cx: &Context<'_>,
    plan: &ClusterExportPlan,
    own_token: Option<SecretString>,
    reach: Reach,
) -> Result<Finish> {
    let Reach { rt, probed } = reach;
    debug_assert_eq!(probed.len(), plan.targets.len());
    let timeout = cx.cluster.timeout;
    let names: Vec<String> = plan.targets.iter().map(|t| t.name.clone()).collect();
    let components: Vec<&str> = plan.components.iter().map(|k| k.label()).collect();
    p.note(&format!(
        "Step 4 of 6: the plan. Asking {} for a dry run of {}.",
        names.join(", "),
        components.join(", ")
    ))?;
    // The push's passphrase is 32 random bytes: nothing to stretch, so the
    // cheapest derivation unless the tests' even cheaper one is asked for.
    let kdf = if cx.kdf == KdfParams::TEST {
        KdfParams::TEST
    } else {
        KdfParams::RANDOM_PASSPHRASE
    };
    let payload = Arc::new(Payload::export(cx.ops, &plan.components, kdf, cx.now())?);
    let verifier_token = own_token.clone();
    let credentials = Credentials {
        own_token,
        login: plan.login.clone(),
    };
    let view = p.progress(&names);
    let attempts = rt.block_on(push::prepare(
        &probed,
        &credentials,
        &payload,
        timeout,
        &view.update,
    ));
    view.finish();
    for a in &attempts {
        let text = match &a.state {
            Ok(prepared) => {
                let via = match (prepared.via, &plan.login) {
                    (Via::OwnToken, _) => "signed in with this node's token".to_owned(),
                    (Via::Login, Some(l)) => format!("signed in as {}", l.user),
                    (Via::Login, None) => "signed in".to_owned(),
                };
                format!("{} ({via}):\n{}", a.peer.name, prepared.plan)
            }
            Err(f) => format!("{}: cannot be pushed to: {}", a.peer.name, f.reason),
        };
        p.note(&text)?;
    }
    let changing: Vec<&str> = attempts
        .iter()
        .filter(|a| matches!(&a.state, Ok(prepared) if !prepared.plan.is_noop()))
        .map(|a| a.peer.name.as_str())
        .collect();
    if !changing.is_empty() {
        let q = Confirm::new(
            APPLY,
            format!("Push this configuration to {}?", changing.join(", ")),
            false,
        )
        .unattended(Some(true));
        if !p.confirm(&q)? {
            p.note("Nothing was changed.")?;
            return Ok(Finish::Declined);
        }
    }
    p.note("Step 5 of 6: pushing.")?;
    let view = p.progress(&names);
    let report = rt.block_on(push::apply(attempts, &payload, timeout, &view.update));
    view.finish();
    p.note(&format!("Step 6 of 6: the result.\n{report}"))?;
    if !report.holding().is_empty() {
        run_verifier(p, cx, verifier_token.as_ref())?;
    }
    Ok(Finish::Pushed(report))
}
