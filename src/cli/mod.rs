//! The command line: clap definitions (their doc comments are the help)
//! and one handler file per command group; this file holds the top-level
//! [`Cli`], [`run`] and what the handlers share (opening the appliance,
//! asking for the root credentials, the clock). The only module that reads
//! environment variables, the clock, or prints.

mod appliance;
mod bundle;
mod cluster;
mod cluster_export;
mod cluster_store;
mod demo;
pub mod exit;
mod jwt;
mod ldap;
mod network;
mod progress;
mod secrets;
mod serve;
mod tls;
mod token;
mod user;
mod wizard;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

use crate::ops::Ops;
use secrets::SecretSource;

/// Manage an appliance's JWT configuration, users and tokens.
#[derive(Debug, Parser)]
#[command(name = "tacctl", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The appliance directory [default: /var/lib/tacctl as root, else the user's data directory]
    #[arg(long, global = true, env = "TACCTL_ROOT", value_name = "DIR")]
    root: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Turn a directory into an appliance
    Init(appliance::InitArgs),
    /// Show node name, id, cluster id and the JWT key fingerprint
    Status {
        /// Print one JSON object
        #[arg(long)]
        json: bool,
    },
    /// JWT Configuration: algorithm, secret, expiry (asks for the root credentials)
    #[command(subcommand)]
    Jwt(jwt::JwtCommand),
    /// Local users
    #[command(subcommand)]
    User(user::UserCommand),
    /// Issue, verify and refresh tokens
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Network settings: DNS, NTP, syslog targets and the host name
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// External LDAP directory settings
    #[command(subcommand)]
    Ldap(ldap::LdapCommand),
    /// The API server's TLS certificate
    #[command(subcommand)]
    Tls(tls::TlsCommand),
    /// Export chosen components to an encrypted bundle ("Appliance OS Configuration")
    Export(bundle::ExportArgs),
    /// Show what a bundle holds: source, time, versions, components, key fingerprints
    Inspect(bundle::InspectArgs),
    /// Make an identity (an X25519 key pair sealed under a passphrase) to export bundles to, such as a recovery key kept offline
    Keygen(bundle::KeygenArgs),
    /// Import a bundle: decrypt, check, show the plan, then apply atomically
    Import(bundle::ImportArgs),
    /// Restore a snapshot taken before an import or rollback
    Rollback(bundle::RollbackArgs),
    /// Finish or discard a change that a crash interrupted; with --discard-journal, give up one whose journal is damaged
    Recover(appliance::RecoverArgs),
    /// List imports and rollbacks
    History {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// The appliance menu on the terminal: Administration > JWT Configuration, Export/Import, Trusted Appliances Cluster
    Wizard,
    /// Walk through the JWT life cycle, then three appliances sharing it through the Cluster Export Wizard
    Demo,
    /// Serve the REST API (HTTPS with the appliance's certificate) until SIGTERM or Ctrl-C
    Serve(serve::ServeArgs),
    /// Trusted Appliances Cluster: members with pinned certificates, their status, the Cluster Export Wizard
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Prove that tokens are accepted: across the cluster, or one token by a bundle or an appliance
    #[command(subcommand)]
    Verify(cluster::VerifyCommand),
}

/// The root credentials, asked before any JWT or user change.
#[derive(Debug, Args)]
struct AdminCreds {
    /// Administrator user name
    #[arg(long, env = "TACCTL_ADMIN_USER", default_value = "admin")]
    admin_user: String,
    /// Read the administrator's password from FILE [or TACCTL_ADMIN_PASSWORD, or a prompt]
    #[arg(long, value_name = "FILE")]
    admin_password_file: Option<PathBuf>,
}

/// A problem with the command line that clap cannot see.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

/// The exit code for an error from [`run`] ([`exit::of`]).
pub fn exit_code(err: &anyhow::Error) -> i32 {
    exit::of(err) as i32
}

/// The message for an error from [`run`] ([`exit::message`]).
pub fn error_message(err: &anyhow::Error) -> String {
    exit::message(err)
}

/// How costly a bundle's key derivation is, as `--kdf-cost` names it.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum KdfCost {
    /// Argon2id with 64 MiB, 3 passes, 4 lanes
    Default,
    /// Argon2id with 8 KiB, 1 pass: for tests only, offers no protection
    Test,
}

impl KdfCost {
    /// Its parameters.
    pub(crate) fn params(self) -> crate::bundle::header::KdfParams {
        match self {
            KdfCost::Default => crate::bundle::header::KdfParams::DEFAULT,
            KdfCost::Test => crate::bundle::header::KdfParams::TEST,
        }
    }
}

/// The current time, Unix seconds. The only clock read in tacctl's commands.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Where the appliance is without `--root` or `TACCTL_ROOT`.
fn default_root() -> PathBuf {
    if rustix::process::geteuid().is_root() {
        PathBuf::from("/var/lib/tacctl")
    } else {
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("tacctl")
    }
}

/// How long to wait for another command's lock: `TACCTL_LOCK_TIMEOUT`
/// seconds, or 10.
fn lock_timeout() -> Duration {
    std::env::var("TACCTL_LOCK_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(10))
}

/// Parses the arguments and runs the command.
pub fn run() -> Result<()> {
    crate::jwt::ensure_provider().map_err(|e| anyhow!(e))?;
    // rustls's process-wide default, for libraries that do not take ours.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    if let Ok(point) = std::env::var("TACCTL_TEST_CRASH_AT") {
        crate::appliance::set_crash_point(point);
    }
    let root = cli.root.clone().unwrap_or_else(default_root);
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Init(args) => appliance::init(&root, args, &mut out),
        Command::Status { json } => appliance::status(&root, json, &mut out),
        Command::Recover(a) => appliance::recover(&root, a, &mut out),
        Command::Jwt(cmd) => jwt::run(&root, cmd, &mut out),
        Command::User(cmd) => user::run(&root, cmd, &mut out),
        Command::Token(cmd) => token::run(&root, cmd, &mut out),
        Command::Network(cmd) => network::run(&root, cmd, &mut out),
        Command::Ldap(cmd) => ldap::run(&root, cmd, &mut out),
        Command::Tls(cmd) => tls::run(&root, cmd, &mut out),
        Command::Export(a) => bundle::export(&root, a, &mut out),
        Command::Inspect(a) => bundle::inspect(&root, a, &mut out),
        Command::Keygen(a) => bundle::keygen(a, &mut out),
        Command::Import(a) => bundle::import(&root, a, &mut out),
        Command::Rollback(a) => bundle::rollback(&root, a, &mut out),
        Command::History { json } => bundle::history(&root, json, &mut out),
        Command::Wizard => wizard::run(&root),
        Command::Demo => demo::run(&mut out),
        Command::Serve(a) => serve::run(&root, a, &mut out),
        Command::Cluster(cmd) => cluster::cluster(&root, cmd, &mut out),
        Command::Verify(cmd) => cluster::verify(&root, cmd, &mut out),
    }
}

/// Opens the appliance at `root` (finishing an interrupted change) and
/// says what that did.
fn open(root: &Path) -> Result<Ops> {
    let ops = Ops::open(root, lock_timeout())?;
    tell(&ops);
    Ok(ops)
}

/// Says on standard error what opening the appliance did on its own.
fn tell(ops: &Ops) {
    for n in &ops.notices {
        eprintln!("note: {n}");
    }
}

/// Prints `v` as pretty JSON in one write (standard output flushes at every
/// line, and pretty JSON has one per field).
fn print_json<T: serde::Serialize>(out: &mut impl Write, v: &T) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(v)?;
    text.push(b'\n');
    out.write_all(&text)?;
    Ok(())
}

/// Opens the appliance for a change that needs the root credentials, and
/// checks them.
fn admin(root: &Path, creds: &AdminCreds) -> Result<Ops> {
    let ops = open(root)?;
    ops.require_admin(&creds.admin_user, &admin_password(creds)?)?;
    Ok(ops)
}

/// The root credentials' password: from `--admin-password-file`,
/// `TACCTL_ADMIN_PASSWORD` or a prompt.
fn admin_password(creds: &AdminCreds) -> Result<SecretString> {
    secrets::read_string(&SecretSource {
        file: creds.admin_password_file.as_deref(),
        env: "TACCTL_ADMIN_PASSWORD",
        flag: "--admin-password-file",
        prompt: "Root credentials: password",
        confirm: None,
    })
}

/// A user's password (not the administrator's): from `--password-file`,
/// `TACCTL_PASSWORD` or a prompt, confirmed when it is a new one.
fn user_password(file: Option<&Path>, confirm: bool) -> Result<SecretString> {
    secrets::read_string(&SecretSource {
        file,
        env: "TACCTL_PASSWORD",
        flag: "--password-file",
        prompt: "Password",
        confirm: confirm.then_some("Confirm password"),
    })
}

/// A token given as an argument, or on standard input when it is `-` or
/// absent.
fn read_token(arg: Option<String>) -> Result<SecretString> {
    match arg.as_deref() {
        Some("-") | None => {
            let mut s = String::new();
            std::io::stdin()
                .take(64 * 1024)
                .read_to_string(&mut s)
                .context("reading the token from standard input")?;
            if s.trim().is_empty() {
                bail!(UsageError(
                    "no token given: pass it on standard input or as an argument".into()
                ));
            }
            Ok(SecretString::from(s.trim().to_owned()))
        }
        Some(t) => Ok(SecretString::from(t.trim().to_owned())),
    }
}
