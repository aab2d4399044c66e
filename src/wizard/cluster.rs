//! Trusted Appliances Cluster: its menu, the screens behind it (Members,
//! Status, Verify) and the questions of the Cluster Export Wizard
//! (`tacctl cluster export`).
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
//! Steps 1 to 3 only ask: [`cluster_export`] returns their answers as a
//! [`PushPlan`], which flags or an answers file give just as well (through
//! [`super::Answered`] and the question ids in [`HINTS`]). Steps 4 to 6 are
//! the push's: [`Session::run`] carries them out, showing and asking
//! through [`PushScreen`]; whoever runs the plan (the command, or the menu
//! here) then runs [`verify_screen`] when
//! [`Finish::needs_verifier`](push::Finish::needs_verifier) says so.

use secrecy::SecretString;

use crate::auth::Identity;
use crate::cluster::client::Peer;
use crate::cluster::push::{
    self, Credentials, Login, Probe, ProgressView, PushPlan, Session, Target,
};
use crate::cluster::verify::{self, Tokens};
use crate::cluster::{DEFAULT_TIMEOUT, status, table};
use crate::component::{Component, Scope};

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
/// Step 1's check box of Appliances JWT Trust.
const TRUST_LABEL: &str = "Appliances JWT Trust (each member keeps its own key pair)";

/// What [`cluster_export`] says when nothing is ticked in step 1.
pub const NO_COMPONENT: &str = "No component was selected. Nothing was pushed.";

/// How the questions of the Cluster Export Wizard ended.
#[derive(Debug)]
pub enum Planned {
    /// Push this (steps 4 to 6).
    Push(PushPlan),
    /// Publish these components through the cluster store on etcd.
    Publish(Vec<Component>),
    /// There is nothing to do, and why (no members, nothing ticked, a
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
            Item::Members => members_screen(p, cx)?,
            Item::Status => status_screen(p, cx)?,
            Item::Export => export_from_menu(p, cx)?,
            Item::Verify => verify_screen(p, cx, None)?,
            Item::Back => return Ok(()),
        }
    }
}

/// The menu's Cluster Export Wizard: its questions, then the push of the
/// plan and the verifier, as `tacctl cluster export` runs them.
fn export_from_menu(p: &mut dyn Prompter, cx: &Context<'_>) -> Result<()> {
    let session = Session::new(cx.push_timeout)?;
    match cluster_export(p, cx, &session, true)? {
        Planned::Push(plan) => {
            let finish = session.run(cx.ops, &plan, cx.kdf, cx.now(), &mut PushScreen(p))?;
            if finish.needs_verifier() {
                verify_screen(p, cx, plan.credentials.own_token.as_ref())?;
            }
            Ok(())
        }
        Planned::Publish(components) => {
            publish_screen(p, cx, &components)?;
            Ok(())
        }
        Planned::Nothing(why) => Ok(p.note(&why)?),
        Planned::GaveUp => Ok(()),
    }
}

/// Steps 4 to 6 on a prompter: their notes, the confirmation
/// ([`APPLY`], yes with `--yes`, never the default on a terminal), and the
/// prompter's progress display.
pub struct PushScreen<'a>(pub &'a mut dyn Prompter);

impl push::Screen for PushScreen<'_> {
    type Error = WizardError;

    fn show(&mut self, text: &str) -> Result<()> {
        Ok(self.0.note(text)?)
    }

    fn confirm(&mut self, targets: &[&str]) -> Result<bool> {
        let q = Confirm::new(
            APPLY,
            format!("Push this configuration to {}?", targets.join(", ")),
            false,
        )
        .unattended(Some(true));
        Ok(self.0.confirm(&q)?)
    }

    fn progress(&mut self, targets: &[String]) -> ProgressView {
        self.0.progress(targets)
    }
}

/// The Members screen: the list, and how to change it.
pub fn members_screen(p: &mut dyn Prompter, cx: &Context<'_>) -> Result<()> {
    let members = cx.ops.members()?;
    let mut text = String::from("Members\n");
    if members.is_empty() {
        text.push_str("No members yet.\n");
    } else {
        let mut rows = vec![["NAME", "URL", "CERTIFICATE"].map(String::from).to_vec()];
        for m in members {
            rows.push(vec![m.name, m.url, m.fingerprint]);
        }
        text.push_str(&table(&rows));
    }
    text.push_str(
        "Add one with `tacctl cluster add NAME URL` (its certificate is shown for you to confirm); remove one with `tacctl cluster remove NAME`.",
    );
    Ok(p.note(&text)?)
}

/// A runtime for a screen's network calls, on this thread.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| WizardError::Runtime(e.to_string()))
}

/// The Status screen: `tacctl cluster status`.
pub fn status_screen(p: &mut dyn Prompter, cx: &Context<'_>) -> Result<()> {
    let this = cx.ops.describe(cx.now())?;
    let report = match crate::cluster::store::Store::of(cx.ops, DEFAULT_TIMEOUT) {
        Ok(Some((_, store))) => match runtime()?.block_on(store.view()) {
            Ok(view) => status::from_view(
                this,
                &cx.ops
                    .app
                    .node()
                    .map_err(crate::ops::OpsError::from)?
                    .node_id,
                &view,
                cx.now(),
            ),
            Err(e) => return Ok(p.note(&format!("The cluster store cannot be read: {e}"))?),
        },
        Ok(None) => {
            let members = cx.ops.members()?;
            runtime()?.block_on(status::gather(this, &members, DEFAULT_TIMEOUT, cx.clock))
        }
        Err(e) => return Ok(p.note(&format!("The cluster store cannot be read: {e}"))?),
    };
    Ok(p.note(&status::render(&report))?)
}

/// The Verify screen, and the verifier that runs after every push: with
/// `token`, that token is presented to every node; without, the screen
/// asks for a user's credentials and logs in on every node.
pub fn verify_screen(
    p: &mut dyn Prompter,
    cx: &Context<'_>,
    token: Option<&SecretString>,
) -> Result<()> {
    let tokens = match token {
        Some(t) => Tokens::Given(t.clone()),
        None => {
            let user = p.input(
                &Input::new("verify-user", "User to log in as on every node")
                    .default(cx.admin_user.clone()),
            )?;
            let password = p.password(&Password::new(
                "verify-password",
                format!("Password of {user}"),
            ))?;
            Tokens::Login { user, password }
        }
    };
    let members = match crate::cluster::store::members_of(cx.ops, DEFAULT_TIMEOUT) {
        Ok(m) => m,
        Err(e) => return Ok(p.note(&format!("The verifier cannot run: {e}"))?),
    };
    let participants = cx
        .ops
        .snapshot()
        .map_err(|e| with_causes(&e))
        .and_then(|s| {
            verify::participants(s, &members, DEFAULT_TIMEOUT).map_err(|e| with_causes(&e))
        });
    let (_, participants) = match participants {
        Ok(v) => v,
        Err(e) => return Ok(p.note(&format!("The verifier cannot run: {e}"))?),
    };
    let matrix = runtime()?.block_on(verify::run(participants, tokens, cx.clock));
    Ok(p.note(&format!(
        "The verifier: tokens issued by each row, presented to each column.\n{}",
        verify::render(&matrix)
    ))?)
}

/// An error with its causes, each after a colon.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// This node's own administrator token, for the identity the root
/// credentials proved.
pub fn own_token(cx: &Context<'_>, id: &Identity) -> Result<SecretString> {
    Ok(cx.ops.snapshot()?.issue(id, cx.now())?.token)
}

/// The Cluster Export Wizard's questions: root credentials, then steps 1
/// to 3, the members' status coming from a probe on `session` (whose
/// connections the push then reuses). `retry_root`: wrong root credentials
/// may be tried again (on a terminal); otherwise they are an error.
pub fn cluster_export(
    p: &mut dyn Prompter,
    cx: &Context<'_>,
    session: &Session,
    retry_root: bool,
) -> Result<Planned> {
    p.note("Cluster Export Wizard")?;
    let Some(id) = root_identity(p, cx, retry_root)? else {
        return Ok(Planned::GaveUp);
    };
    if cx
        .ops
        .app
        .cluster_store()
        .map_err(crate::ops::OpsError::from)?
        .is_some()
    {
        return publish_plan(p, cx);
    }
    let members = cx.ops.members()?;
    if members.is_empty() {
        return Ok(Planned::Nothing(
            "This node has no cluster members yet; add them with `tacctl cluster add NAME URL`. Nothing was pushed.".into(),
        ));
    }
    let Some(components) = ask_components(p, cx)? else {
        return Ok(Planned::Nothing(NO_COMPONENT.into()));
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
    let probes = session.probe(&targets, Some(&token));
    let status = cx.ops.status()?;
    let chosen = ask_members(p, &targets, &probes, &status.jwt_kid, &status.cluster_id)?;
    if chosen.is_empty() {
        return Ok(Planned::Nothing(
            "No member was selected. Nothing was pushed.".into(),
        ));
    }
    let login = ask_credentials(p, &id, &chosen, &targets, &probes)?;
    Ok(Planned::Push(PushPlan {
        components,
        targets: chosen
            .iter()
            .map(|&i| Target::probed(targets[i].clone(), &probes[i]))
            .collect(),
        credentials: Credentials {
            own_token: Some(token),
            login,
        },
    }))
}

/// The Cluster Export Wizard on a node whose cluster store is etcd: the
/// components, then the confirmation; every registered member is a
/// recipient (a removed member is not), and each applies what is published
/// itself, so there is no member to choose and no credential to ask for.
fn publish_plan(p: &mut dyn Prompter, cx: &Context<'_>) -> Result<Planned> {
    let Some(components) = ask_components(p, cx)? else {
        return Ok(Planned::Nothing(NO_COMPONENT.into()));
    };
    let (_, store) = etcd_store(cx)?;
    let members = runtime()?
        .block_on(store.members())
        .map_err(crate::cluster::publish::PublishError::from)?;
    if members.is_empty() {
        return Err(crate::cluster::publish::PublishError::NoMembers.into());
    }
    let names: Vec<&str> = members.values().map(|m| m.name.as_str()).collect();
    p.note(&format!(
        "The cluster store is etcd: the configuration is published as one revision, encrypted to the member keys of the {} registered member(s) ({}), and each applies it itself.",
        names.len(),
        names.join(", ")
    ))?;
    let q = Confirm::new(
        APPLY,
        format!("Publish this configuration to {}?", names.join(", ")),
        false,
    )
    .unattended(Some(true));
    if !p.confirm(&q)? {
        return Ok(Planned::Nothing("Nothing was published.".into()));
    }
    Ok(Planned::Publish(components))
}

/// The etcd store the node is set to.
fn etcd_store(
    cx: &Context<'_>,
) -> Result<(crate::component::ClusterStore, crate::cluster::store::Store)> {
    use crate::cluster::publish::PublishError;
    crate::cluster::store::Store::of(cx.ops, crate::cluster::etcd::DEFAULT_TIMEOUT)
        .map_err(PublishError::from)?
        .ok_or_else(|| {
            crate::ops::OpsError::Invalid(
                "the cluster store is local; there is nothing to publish to".into(),
            )
            .into()
        })
}

/// Publishes `components` and shows the result table, built from the
/// members' own reports, waiting for them up to the push timeout.
pub fn publish_screen(
    p: &mut dyn Prompter,
    cx: &Context<'_>,
    components: &[Component],
) -> Result<crate::cluster::publish::PublishReport> {
    let (_, store) = etcd_store(cx)?;
    let report = runtime()?.block_on(crate::cluster::publish::publish(
        cx.ops,
        &store,
        components,
        cx.now(),
        cx.push_timeout,
    ))?;
    p.note(crate::cluster::publish::render(&report).trim_end())?;
    Ok(report)
}

/// Step 1: the components, grouped under "Appliance OS Configuration" as
/// on the appliance's export screen, then any other component a bundle can
/// carry. `None` when nothing is ticked.
pub fn ask_components(p: &mut dyn Prompter, cx: &Context<'_>) -> Result<Option<Vec<Component>>> {
    let ldap = cx.ops.ldap()?.is_some();
    let mut items: Vec<(Option<Component>, CheckItem)> = vec![
        (
            Some(Component::Jwt),
            CheckItem::new(Component::Jwt.label(), true).key("jwt"),
        ),
        (
            Some(Component::JwtTrust),
            if cx.ops.trust_exportable(cx.now())? {
                CheckItem::new(TRUST_LABEL, false)
            } else {
                CheckItem::disabled(TRUST_LABEL, super::NO_TRUST)
            }
            .key("jwt-trust"),
        ),
        (
            Some(Component::Users),
            CheckItem::new(Component::Users.label(), false).key("users"),
        ),
        (
            Some(Component::Ldap),
            if ldap {
                CheckItem::new(Component::Ldap.label(), false)
            } else {
                CheckItem::disabled(Component::Ldap.label(), "not configured on this node")
            }
            .key("ldap"),
        ),
        (
            Some(Component::Network),
            CheckItem::new("Network settings (DNS, NTP, syslog)", false).key("network"),
        ),
        (
            Some(Component::Files),
            CheckItem::new(Component::Files.label(), false).key("files"),
        ),
        (
            Some(Component::Tls),
            CheckItem::disabled("TLS certificate", NODE_LOCAL).key("tls"),
        ),
        (
            None,
            CheckItem::disabled("Host name", NODE_LOCAL).key("hostname"),
        ),
    ];
    // A component added since the screen above was laid out.
    for c in Component::all() {
        if !items.iter().any(|(listed, _)| *listed == Some(c)) {
            let item = match c.scope() {
                Scope::Cluster => CheckItem::new(c.label(), false),
                Scope::Node => CheckItem::disabled(c.label(), NODE_LOCAL),
            };
            items.push((Some(c), item.key(c.name())));
        }
    }
    p.note("Step 1 of 6: the components to export.")?;
    let ticked = p.multi_select(&MultiSelect {
        id: COMPONENTS,
        prompt: "Appliance OS Configuration".into(),
        items: items.iter().map(|(_, i)| i.clone()).collect(),
    })?;
    let mut components: Vec<Component> = ticked.iter().filter_map(|&i| items[i].0).collect();
    components.sort();
    Ok((!components.is_empty()).then_some(components))
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
/// that answered does not accept this node's own token. `chosen` are
/// indices into `targets` and their `probes`; the user name offered is the
/// one the root credentials proved.
pub fn ask_credentials(
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
