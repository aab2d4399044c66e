//! `tacctl wizard`: the appliance's CLI Manager screens for a terminal.
//!
//! The main menu leads to Administration > JWT Configuration (root
//! credentials first, then the JWT Settings screen, worded and ordered as
//! the appliance's documentation describes it), to Export/Import of the
//! Appliance OS Configuration, and to the Trusted Appliances Cluster with
//! the Cluster Export Wizard ([`cluster`]). Each screen's answers become a plain value
//! ([`crate::ops::JwtChange`], [`ExportPlan`], an import [`crate::ops::bundle::Plan`],
//! a [`crate::cluster::push::PushPlan`])
//! that the `jwt`, `export`, `import` and `cluster export` commands also build from their
//! flags, and is applied through the same [`Ops`] and push functions.
//!
//! The flows only build questions and read answers through [`Prompter`]:
//! [`TerminalPrompter`] puts them on a terminal, [`ScriptedPrompter`] answers
//! them from a script in tests, and [`Answered`] answers them from flags
//! and answers files first. The clock is a parameter.

pub mod answers;
mod bundle;
pub mod cluster;
mod jwt;
pub mod prompt;
pub mod scripted;
pub mod terminal;

use std::path::PathBuf;

use crate::bundle::header::KdfParams;
use crate::ops::{Ops, OpsError};

pub use answers::{Answered, Answers, AnswersFile, Given, Hints};
pub use bundle::ExportPlan;
pub use cluster::{Planned, PushScreen};
pub use prompt::{
    CheckItem, Confirm, Input, MultiSelect, Password, ProgressView, PromptError, Prompter,
    Question, Select,
};
pub use scripted::{Answer, Event, ScriptedPrompter};
pub use terminal::TerminalPrompter;

/// What the flows work on.
pub struct Context<'a> {
    /// The open appliance.
    pub ops: &'a Ops,
    /// The current time, Unix seconds, read at each change.
    pub clock: fn() -> u64,
    /// The key derivation cost of exported bundles.
    pub kdf: KdfParams,
    /// Where the default export file name points (empty: the current directory).
    pub export_dir: PathBuf,
    /// The user name the root credentials screen offers.
    pub admin_user: String,
    /// How long each target of a push from the Trusted Appliances Cluster
    /// menu may take per phase.
    pub push_timeout: std::time::Duration,
}

/// Why Appliances JWT Trust cannot be exported from this node.
const NO_TRUST: &str =
    "this node signs with an HMAC secret and trusts no member: set a JWT key pair first";

impl Context<'_> {
    fn now(&self) -> u64 {
        (self.clock)()
    }
}

/// Why the wizard stopped before its user chose Exit.
#[derive(Debug, thiserror::Error)]
pub enum WizardError {
    /// A question could not be asked or answered.
    #[error(transparent)]
    Prompt(#[from] PromptError),
    /// Reading the appliance failed (changes that fail are reported on the
    /// screen instead, and the wizard goes on).
    #[error(transparent)]
    Ops(#[from] OpsError),
    /// A push could not start: its bundle could not be made, or a target
    /// not be reached before it began.
    #[error(transparent)]
    Push(#[from] crate::cluster::push::PushError),
    /// A publish through the cluster store (etcd) failed.
    #[error(transparent)]
    Publish(#[from] crate::cluster::publish::PublishError),
    /// The runtime for the network calls could not start.
    #[error("cannot start the asynchronous runtime: {0}")]
    Runtime(String),
}

type Result<T, E = WizardError> = std::result::Result<T, E>;

/// A menu entry: what it leads to and its label on the screen.
type Entry<T> = (T, &'static str);

/// Shows a menu and returns the value of the entry chosen.
fn menu<T: Copy>(
    p: &mut dyn Prompter,
    id: &'static str,
    prompt: &str,
    entries: &[Entry<T>],
) -> Result<T> {
    let i = p.select(&Select::new(id, prompt, entries.iter().map(|e| e.1)))?;
    Ok(entries
        .get(i)
        .expect("a prompter returns the index of an option")
        .0)
}

#[derive(Debug, Clone, Copy)]
enum Main {
    Administration,
    ExportImport,
    Cluster,
    Exit,
}

/// The main menu.
const MAIN_MENU: [Entry<Main>; 4] = [
    (Main::Administration, "Administration"),
    (Main::ExportImport, "Export/Import"),
    (Main::Cluster, "Trusted Appliances Cluster"),
    (Main::Exit, "Exit"),
];

#[derive(Debug, Clone, Copy)]
enum Administration {
    Jwt,
    Back,
}

/// Administration.
const ADMINISTRATION_MENU: [Entry<Administration>; 2] = [
    (Administration::Jwt, "JWT Configuration"),
    (Administration::Back, "Back"),
];

/// The main menu, until Exit.
pub fn run(p: &mut dyn Prompter, cx: &Context<'_>) -> Result<()> {
    let s = cx.ops.status()?;
    p.note(&format!(
        "tacctl {}: appliance {} (cluster {})",
        env!("CARGO_PKG_VERSION"),
        s.name,
        s.cluster_id
    ))?;
    loop {
        match menu(p, "main", "Main menu", &MAIN_MENU)? {
            Main::Administration => administration(p, cx)?,
            Main::ExportImport => bundle::export_import(p, cx)?,
            Main::Cluster => cluster::cluster_menu(p, cx)?,
            Main::Exit => return Ok(()),
        }
    }
}

/// Administration, until Back.
pub fn administration(p: &mut dyn Prompter, cx: &Context<'_>) -> Result<()> {
    loop {
        match menu(p, "administration", "Administration", &ADMINISTRATION_MENU)? {
            Administration::Jwt => jwt::jwt_configuration(p, cx)?,
            Administration::Back => return Ok(()),
        }
    }
}

/// The root credentials screen: an administrator's user name and password,
/// checked with [`Ops::require_admin`]. Wrong ones are reported and may be
/// tried again; `false` when the user gives up.
pub fn root_credentials(p: &mut dyn Prompter, cx: &Context<'_>) -> Result<bool> {
    Ok(root_identity(p, cx, true)?.is_some())
}

/// The root credentials screen, returning whom they proved. With `retry`,
/// wrong ones are reported and may be tried again (`None` when the user
/// gives up); without, they are an error.
pub fn root_identity(
    p: &mut dyn Prompter,
    cx: &Context<'_>,
    retry: bool,
) -> Result<Option<crate::auth::Identity>> {
    p.note("Enter the root credentials.")?;
    loop {
        let user = p.input(
            &Input::new("root-user", "User name")
                .default(cx.admin_user.clone())
                .validate(not_blank),
        )?;
        let password = p.password(&Password::new("root-password", "Password"))?;
        match cx.ops.require_admin(user.trim(), &password) {
            Ok(id) => return Ok(Some(id)),
            Err(e) if retry && e.credentials_refused() => {
                p.note(&format!("{e}."))?;
                let q = Confirm::new("root-retry", "Try again?", true).unattended(Some(false));
                if !p.confirm(&q)? {
                    return Ok(None);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn not_blank(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        Err("enter a user name".into())
    } else {
        Ok(())
    }
}

/// How a refused change is reported: the error, and that nothing changed.
fn refused(e: &dyn std::fmt::Display) -> String {
    format!("{e}\nNothing was changed.")
}
