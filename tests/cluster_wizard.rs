//! The Cluster Export Wizard driven by the scripted prompter through every
//! branch, against real `tacctl serve` members on loopback: the component
//! check boxes (JWT ticked, node-local ones shown but not selectable),
//! nothing ticked, the member check boxes with each one's status,
//! credentials asked only for members that refuse this node's token, the
//! plan shown and declined (nothing changes), the push of the plan with its
//! per-member result and the verifier after it (as `tacctl cluster export`
//! runs them), `--yes` defaults through the answers prompter, and missing
//! answers without a terminal.

mod common;

use std::cell::Cell;
use std::time::Duration;

use common::cluster::{Lab, Node, accepts, down_member, now, served_kid};
use common::{ADMIN, ADMIN_PASSWORD};
use secrecy::SecretString;
use tacctl::bundle::header::KdfParams;
use tacctl::cli::exit::{ExitCode, of_wizard};
use tacctl::cluster::push::{self, FailureKind, Outcome, Report, Session};
use tacctl::component::Component;
use tacctl::wizard::cluster::{self, Planned};
use tacctl::wizard::{
    self, Answered, Answers, Context, Given, PromptError, Prompter, PushScreen, Question,
    ScriptedPrompter, WizardError,
};

fn context(ops: &tacctl::ops::Ops) -> Context<'_> {
    Context {
        ops,
        clock: now,
        kdf: KdfParams::TEST,
        export_dir: std::path::PathBuf::new(),
        admin_user: ADMIN.into(),
        push_timeout: Duration::from_secs(20),
    }
}

/// What the verifier these tests run after a push says: how to run the
/// real one, which needs every member to answer.
const VERIFY_HINT: &str =
    "Run `tacctl verify cluster` to check that every member accepts every other member's tokens.";

/// How a run of the Cluster Export Wizard ended: its questions, then the push.
#[derive(Debug)]
enum Finish {
    Pushed(Report),
    Declined,
    Nothing(String),
    GaveUp,
}

/// The verifier that runs after a push, with this node's token.
type Verifier<'a> =
    dyn Fn(&mut dyn Prompter, &Context<'_>, Option<&SecretString>) -> Result<(), WizardError> + 'a;

fn hint(
    p: &mut dyn Prompter,
    _: &Context<'_>,
    _: Option<&SecretString>,
) -> Result<(), WizardError> {
    Ok(p.note(VERIFY_HINT)?)
}

/// Runs the Cluster Export Wizard on `source` with prompter `p`, then its
/// plan as `tacctl cluster export` does: the push, then `verify` when the
/// push calls for the verifier.
fn export_with(
    source: &Node,
    p: &mut dyn Prompter,
    verify: &Verifier<'_>,
) -> Result<Finish, WizardError> {
    let ops = source.ops();
    let cx = context(&ops);
    let session = Session::new(cx.push_timeout)?;
    let plan = match cluster::cluster_export(p, &cx, &session, false)? {
        Planned::Push(plan) => plan,
        Planned::Nothing(why) => return Ok(Finish::Nothing(why)),
        Planned::GaveUp => return Ok(Finish::GaveUp),
        Planned::Publish(_) => unreachable!("these appliances' cluster store is local"),
    };
    let finish = session.run(&ops, &plan, cx.kdf, (cx.clock)(), &mut PushScreen(&mut *p))?;
    if finish.needs_verifier() {
        verify(p, &cx, plan.credentials.own_token.as_ref())?;
    }
    Ok(match finish {
        push::Finish::Pushed(r) => Finish::Pushed(r),
        push::Finish::Declined => Finish::Declined,
    })
}

/// [`export_with`] the verifier that only says how to run the real one.
fn export(source: &Node, p: &mut dyn Prompter) -> Result<Finish, WizardError> {
    export_with(source, p, &hint)
}

/// The root credentials, answered.
fn root() -> ScriptedPrompter {
    ScriptedPrompter::new()
        .text("root-user", "")
        .secret("root-password", ADMIN_PASSWORD)
}

fn pushed(f: Finish) -> Report {
    match f {
        Finish::Pushed(r) => r,
        other => panic!("expected a push, got {other:?}"),
    }
}

/// The label step 2 gives a reachable member.
fn reachable(n: &Node, same_key: bool, accepts_token: bool) -> String {
    format!(
        "{} ({}): reachable, tacctl {}, {}{}",
        n.name,
        n.url(),
        env!("CARGO_PKG_VERSION"),
        if same_key {
            "same JWT key as this node"
        } else {
            "JWT key differs"
        },
        if accepts_token {
            ", accepts this node's token"
        } else {
            ""
        }
    )
}

fn outcomes(r: &Report) -> Vec<(String, String)> {
    r.members
        .iter()
        .map(|m| {
            let what = match &m.outcome {
                Outcome::Applied => "applied".to_owned(),
                Outcome::Unchanged => "unchanged".to_owned(),
                Outcome::Failed(f) => format!("failed: {:?}", f.kind),
            };
            (m.member.clone(), what)
        })
        .collect()
}

#[test]
fn step_1_groups_the_components_jwt_ticked_node_local_ones_disabled() {
    let lab = Lab::new();
    let esa1 = lab.appliance("esa1", ADMIN_PASSWORD);
    let down = down_member("esa4");
    esa1.add_members(std::slice::from_ref(&down));
    let label = format!("esa4 ({}): unreachable", down.url);

    // A node-local check box cannot be ticked.
    let mut p = root().check("cluster-components", &["TLS certificate"]);
    let e = export(&esa1, &mut p).unwrap_err().to_string();
    assert!(e.contains("cannot be selected: node-local"), "{e}");
    let Some(Question::MultiSelect(q)) = p.question("cluster-components") else {
        panic!("step 1 is check boxes")
    };
    assert_eq!(q.prompt, "Appliance OS Configuration");
    let shown: Vec<(&str, bool, bool)> = q
        .items
        .iter()
        .map(|i| (i.label.as_str(), i.checked, i.disabled.is_some()))
        .collect();
    assert_eq!(
        shown,
        [
            ("Appliances JWT Configuration", true, false),
            (
                "Appliances JWT Trust (each member keeps its own key pair)",
                false,
                true
            ),
            ("Local users", false, false),
            ("LDAP settings", false, true),
            ("Network settings (DNS, NTP, syslog)", false, false),
            ("Custom files", false, false),
            ("TLS certificate", false, true),
            ("Host name", false, true),
        ]
    );
    // Every component a bundle can carry has its check box.
    for k in Component::all() {
        assert!(
            q.items.iter().any(|i| i.key.as_deref() == Some(k.name())),
            "{} is missing from step 1",
            k.name()
        );
    }

    // Nothing ticked: nothing to push, nothing more asked.
    let mut p = root().check("cluster-components", &[]);
    match export(&esa1, &mut p).unwrap() {
        Finish::Nothing(why) => assert_eq!(why, "No component was selected. Nothing was pushed."),
        other => panic!("{other:?}"),
    }
    assert_eq!(p.remaining(), 0);

    // No member unticked: nothing to push.
    let mut p = root()
        .check("cluster-components", &["Appliances JWT Configuration"])
        .check("cluster-members", &[]);
    assert!(matches!(export(&esa1, &mut p).unwrap(), Finish::Nothing(_)));

    // Two components to a member that is down: no credentials asked (no
    // member that answered needs them), no confirmation, the failure reported.
    let mut p = root()
        .check(
            "cluster-components",
            &["Appliances JWT Configuration", "Local users"],
        )
        .check("cluster-members", &[&label]);
    let r = pushed(export(&esa1, &mut p).unwrap());
    assert_eq!(r.components.len(), 2);
    assert_eq!(
        outcomes(&r),
        [("esa4".into(), "failed: Unreachable".into())]
    );
    assert!(!p.asked().contains(&"cluster-user"));
    assert!(!p.asked().contains(&"cluster-apply"));
    assert!(
        p.notes()
            .iter()
            .any(|n| n.starts_with("esa4: cannot be pushed to: esa4 is unreachable")),
        "{:?}",
        p.notes()
    );
    // Nothing holds the configuration, so the verifier does not run.
    assert!(!p.notes().contains(&VERIFY_HINT));
}

#[test]
fn wrong_root_credentials_are_an_error_when_not_retried() {
    let lab = Lab::new();
    let esa1 = lab.appliance("esa1", ADMIN_PASSWORD);
    let mut p = ScriptedPrompter::new()
        .text("root-user", "")
        .secret("root-password", "not-the-password");
    let e = export(&esa1, &mut p).unwrap_err();
    assert_eq!(of_wizard(&e), ExitCode::Auth, "{e}");
}

#[test]
fn the_plan_per_member_declined_changes_nothing_then_credentials_only_where_needed() {
    let lab = Lab::new();
    let esa1 = lab.appliance("esa1", ADMIN_PASSWORD);
    let esa2 = lab.served("esa2", ADMIN_PASSWORD);
    let esa3 = lab.served("esa3", ADMIN_PASSWORD);
    let down = down_member("esa4");
    esa1.add_members(&[esa2.member(), esa3.member(), down.clone()]);
    let (kid1, kid2, kid3) = (esa1.kid(), esa2.kid(), esa3.kid());
    let down_label = format!("esa4 ({}): unreachable", down.url);

    // All three, then decline at the plan.
    let mut p = root()
        .check("cluster-components", &["Appliances JWT Configuration"])
        .check(
            "cluster-members",
            &[
                &reachable(&esa2, false, false),
                &reachable(&esa3, false, false),
                &down_label,
            ],
        )
        .text("cluster-user", "")
        .secret("cluster-password", ADMIN_PASSWORD)
        .confirm("cluster-apply", false);
    assert!(matches!(export(&esa1, &mut p).unwrap(), Finish::Declined));
    assert_eq!(p.remaining(), 0);
    let notes = p.notes().join("\n");
    assert!(
        notes.contains("esa2, esa3 do not accept this node's token"),
        "{notes}"
    );
    for (n, kid) in [(&esa2, &kid2), (&esa3, &kid3)] {
        assert!(
            notes.contains(&format!(
                "{} (signed in as admin):\nImport plan: bundle from esa1 (cluster c1)",
                n.name
            )),
            "{notes}"
        );
        assert!(
            notes.contains(&format!("changed active key: {kid} -> {kid1}")),
            "{notes}"
        );
    }
    assert!(notes.contains("esa4: cannot be pushed to"), "{notes}");
    let Some(Question::Confirm(q)) = p.question("cluster-apply") else {
        panic!("confirmation asked")
    };
    assert_eq!(q.prompt, "Push this configuration to esa2, esa3?");
    assert!(!q.default, "pushing is never the default");
    assert!(notes.ends_with("Nothing was changed."), "{notes}");
    for (n, kid) in [(&esa2, &kid2), (&esa3, &kid3)] {
        assert_eq!(&n.kid(), kid);
        assert_eq!(&served_kid(n), kid);
        assert!(n.ops().history().unwrap().is_empty(), "no import recorded");
    }

    // esa2 only, applied; the verifier hook runs by itself afterwards,
    // with this node's administrator token, which esa2 now accepts.
    let verified = Cell::new(0);
    let verify = |p: &mut dyn Prompter,
                  _: &Context<'_>,
                  token: Option<&secrecy::SecretString>|
     -> Result<(), WizardError> {
        let token = token.expect("the push hands the verifier this node's token");
        assert!(accepts(&esa2, token));
        verified.set(verified.get() + 1);
        p.note("verifier ran")?;
        Ok(())
    };
    let mut p = root()
        .check("cluster-components", &["Appliances JWT Configuration"])
        .check("cluster-members", &[&reachable(&esa2, false, false)])
        .text("cluster-user", ADMIN)
        .secret("cluster-password", ADMIN_PASSWORD)
        .confirm("cluster-apply", true);
    let r = pushed(export_with(&esa1, &mut p, &verify).unwrap());
    assert_eq!(outcomes(&r), [("esa2".into(), "applied".into())]);
    assert_eq!(r.members[0].kid.as_deref(), Some(kid1.as_str()));
    assert_eq!(verified.get(), 1);
    assert_eq!(p.notes().last(), Some(&"verifier ran"));
    assert_eq!(served_kid(&esa2), kid1);
    assert!(accepts(&esa2, &esa1.admin_token()));

    // esa2 alone again: it accepts this node's token, so nothing is asked
    // for it, and its plan changes nothing.
    let mut p = root()
        .check("cluster-components", &["Appliances JWT Configuration"])
        .check("cluster-members", &[&reachable(&esa2, true, true)]);
    let r = pushed(export(&esa1, &mut p).unwrap());
    assert_eq!(p.remaining(), 0);
    assert_eq!(outcomes(&r), [("esa2".into(), "unchanged".into())]);
    assert!(!p.asked().contains(&"cluster-user"));
    assert!(!p.asked().contains(&"cluster-apply"), "nothing to confirm");
    assert!(
        p.notes()
            .contains(&"Step 3 of 6: credentials. Every chosen member that answered accepts this node's token; nothing to ask."),
    );
    assert!(
        p.notes()
            .iter()
            .any(|n| n.starts_with("esa2 (signed in with this node's token)")),
    );

    // esa2 and esa3: credentials for esa3 only.
    let mut p = root()
        .check("cluster-components", &["Appliances JWT Configuration"])
        .check(
            "cluster-members",
            &[
                &reachable(&esa2, true, true),
                &reachable(&esa3, false, false),
            ],
        )
        .text("cluster-user", "")
        .secret("cluster-password", ADMIN_PASSWORD)
        .confirm("cluster-apply", true);
    let r = pushed(export(&esa1, &mut p).unwrap());
    assert!(
        p.notes()
            .iter()
            .any(|n| n.contains("esa3 does not accept this node's token")),
        "{:?}",
        p.notes()
    );
    assert_eq!(
        outcomes(&r),
        [
            ("esa2".into(), "unchanged".into()),
            ("esa3".into(), "applied".into())
        ]
    );
    assert_eq!(served_kid(&esa3), kid1);
    let table = p
        .notes()
        .iter()
        .find(|n| n.starts_with("Step 6 of 6"))
        .unwrap()
        .to_string();
    assert!(
        table.contains("All 2 members hold the new configuration."),
        "{table}"
    );
    assert!(p.notes().contains(&VERIFY_HINT));
}

fn answers(pairs: &[(&str, Given)]) -> Answers {
    let mut a = Answers::new();
    for (id, g) in pairs {
        a.set(id, g.clone());
    }
    a
}

fn secret(s: &str) -> Given {
    Given::Secret(SecretString::from(s))
}

#[test]
fn yes_takes_the_defaults_jwt_to_every_member_and_reports_each_exactly() {
    let lab = Lab::new();
    let esa1 = lab.appliance("esa1", ADMIN_PASSWORD);
    let esa2 = lab.served("esa2", ADMIN_PASSWORD);
    let esa3 = lab.served("esa3", common::cluster::OTHER_PASSWORD);
    esa1.add_members(&[esa2.member(), esa3.member(), down_member("esa4")]);
    let users3 = esa3.ops().list_users().unwrap();

    // No password for the members: --yes cannot make one up.
    let mut p = Answered::new(answers(&[("root-password", secret(ADMIN_PASSWORD))]), true)
        .hints(cluster::HINTS);
    let e = export(&esa1, &mut p).unwrap_err();
    assert_eq!(of_wizard(&e), ExitCode::Usage);
    assert!(
        matches!(&e, WizardError::Prompt(PromptError::NoDefault { id, .. }) if id == "cluster-password"),
        "{e}"
    );
    assert!(e.to_string().contains("--password-file FILE"), "{e}");

    // With it: JWT (the default) to all three (the default); esa3 refuses
    // the password, esa4 is down, esa2 takes it.
    let mut out = Vec::new();
    let mut p = Answered::new(
        answers(&[
            ("root-password", secret(ADMIN_PASSWORD)),
            ("cluster-password", secret(ADMIN_PASSWORD)),
        ]),
        true,
    )
    .notes_to(&mut out);
    let r = pushed(export(&esa1, &mut p).unwrap());
    drop(p);
    assert_eq!(r.components, [Component::Jwt]);
    assert_eq!(
        outcomes(&r),
        [
            ("esa2".into(), "applied".into()),
            ("esa3".into(), "failed: CredentialsRefused".into()),
            ("esa4".into(), "failed: Unreachable".into()),
        ]
    );
    let Outcome::Failed(f) = &r.members[1].outcome else {
        unreachable!()
    };
    assert_eq!(f.kind, FailureKind::CredentialsRefused);
    assert!(
        f.reason.contains("wrong user name or password"),
        "{}",
        f.reason
    );
    assert_eq!(served_kid(&esa2), esa1.kid());
    assert_ne!(esa3.kid(), esa1.kid(), "esa3 keeps its own key");
    assert_eq!(esa3.ops().list_users().unwrap(), users3);
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains("Holding the new configuration: esa2. Failed: esa3, esa4."),
        "{out}"
    );
}

#[test]
fn without_a_terminal_a_missing_answer_is_an_error_naming_the_flag() {
    let lab = Lab::new();
    let esa1 = lab.appliance("esa1", ADMIN_PASSWORD);
    esa1.add_members(&[down_member("esa4")]);
    let mut p = Answered::new(Answers::new(), false).hints(cluster::HINTS);
    let e = export(&esa1, &mut p).unwrap_err();
    assert_eq!(of_wizard(&e), ExitCode::Usage);
    assert!(
        e.to_string().contains("there is no terminal to ask on")
            && e.to_string().contains("--admin-user"),
        "{e}"
    );
    // Given everything but the components: that is what it stops at.
    let mut p = Answered::new(
        answers(&[
            ("root-user", Given::Text(ADMIN.into())),
            ("root-password", secret(ADMIN_PASSWORD)),
        ]),
        false,
    )
    .hints(cluster::HINTS);
    let e = export(&esa1, &mut p).unwrap_err().to_string();
    assert!(
        e.contains("(cluster-components)") && e.contains("--components"),
        "{e}"
    );
}

#[test]
fn the_menu_leads_to_the_cluster_export_wizard() {
    let lab = Lab::new();
    let esa1 = lab.appliance("esa1", ADMIN_PASSWORD);
    let ops = esa1.ops();
    let mut p = ScriptedPrompter::new()
        .choose("main", "Trusted Appliances Cluster")
        .choose("cluster", "Cluster Export Wizard")
        .text("root-user", "")
        .secret("root-password", ADMIN_PASSWORD)
        .choose("cluster", "Back")
        .choose("main", "Exit");
    wizard::run(&mut p, &context(&ops)).unwrap();
    assert_eq!(p.remaining(), 0);
    assert!(p.notes().contains(
        &"This node has no cluster members yet; add them with `tacctl cluster add NAME URL`. Nothing was pushed."
    ));
}

#[test]
fn step_2_warns_of_a_member_in_another_cluster() {
    let lab = Lab::new();
    let esa1 = lab.appliance("esa1", ADMIN_PASSWORD);
    let esa2 = lab.served("esa2", ADMIN_PASSWORD);
    let mut esa5 = lab.appliance_in("esa5", ADMIN_PASSWORD, "c2");
    esa5.served = Some(common::server::Served::start(&esa5.root, &[]));
    esa1.add_members(&[esa2.member(), esa5.member()]);
    let other = format!(
        "esa5 ({}): reachable, tacctl {}, but in cluster \"c2\", not this node's \"c1\": it refuses this node's tokens (issuer differs) whatever the JWT key",
        esa5.url(),
        env!("CARGO_PKG_VERSION")
    );
    let mut p = root()
        .check("cluster-components", &["Appliances JWT Configuration"])
        .check(
            "cluster-members",
            &[&reachable(&esa2, false, false), &other],
        )
        .text("cluster-user", "")
        .secret("cluster-password", ADMIN_PASSWORD)
        .confirm("cluster-apply", false);
    assert!(matches!(export(&esa1, &mut p).unwrap(), Finish::Declined));
    assert_eq!(p.remaining(), 0);
}
