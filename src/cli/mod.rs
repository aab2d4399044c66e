//! The command line: clap definitions (their doc comments are the help) and
//! one handler per command. The only module that reads environment
//! variables, the clock, or prints.

mod bundle;
mod cluster;
mod cluster_export;
mod demo;
pub mod exit;
mod progress;
mod secrets;
mod serve;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::component::Role;
use crate::jwt::{self, Algorithm, ExpiryUnit};
use crate::ops::{self, InitRequest, Ops, OpsError, rfc3339};
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
    Init(InitArgs),
    /// Show node name, id, cluster id and the JWT key fingerprint
    Status {
        /// Print one JSON object
        #[arg(long)]
        json: bool,
    },
    /// JWT Configuration: algorithm, secret, expiry (asks for the root credentials)
    #[command(subcommand)]
    Jwt(JwtCommand),
    /// Local users
    #[command(subcommand)]
    User(UserCommand),
    /// Issue, verify and refresh tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Network settings: DNS, NTP, syslog targets and the host name
    #[command(subcommand)]
    Network(NetworkCommand),
    /// External LDAP directory settings
    #[command(subcommand)]
    Ldap(LdapCommand),
    /// The API server's TLS certificate
    #[command(subcommand)]
    Tls(TlsCommand),
    /// Export chosen components to an encrypted bundle ("Appliance OS Configuration")
    Export(bundle::ExportArgs),
    /// Show what a bundle holds: source, time, versions, components, key fingerprints
    Inspect(bundle::InspectArgs),
    /// Import a bundle: decrypt, check, show the plan, then apply atomically
    Import(bundle::ImportArgs),
    /// Restore a snapshot taken before an import or rollback
    Rollback(bundle::RollbackArgs),
    /// Finish or discard a change that a crash interrupted; with --discard-journal, give up one whose journal is damaged
    Recover(RecoverArgs),
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

#[derive(Debug, Args)]
struct InitArgs {
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
struct RecoverArgs {
    /// Discard the journal of an interrupted change that cannot be finished because the journal is damaged: the configuration stays as it is now, and the snapshot taken before the change is kept (asks for the root credentials)
    #[arg(long)]
    discard_journal: bool,
    #[command(flatten)]
    creds: AdminCreds,
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

#[derive(Debug, Subcommand)]
enum JwtCommand {
    /// Show algorithm, expiry, max session and key ids (never the secret)
    Show {
        /// Print one JSON object
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        creds: AdminCreds,
    },
    /// Set JWT Algorithm: HS256, HS384 or HS512
    SetAlgorithm {
        /// HS256, HS384 or HS512
        algorithm: String,
        #[command(flatten)]
        creds: AdminCreds,
    },
    /// Set JWT Secret: prompts "New Secret" and "Confirm Secret"
    SetSecret {
        /// Read the secret from FILE (one trailing newline stripped)
        #[arg(long, value_name = "FILE", conflicts_with = "generate")]
        secret_file: Option<PathBuf>,
        /// Generate a random 64-byte secret
        #[arg(long)]
        generate: bool,
        /// Stop accepting tokens signed with previous secrets at once
        #[arg(long)]
        revoke_previous: bool,
        #[command(flatten)]
        creds: AdminCreds,
    },
    /// Stop accepting tokens signed with previous secrets, at once
    RevokePrevious {
        #[command(flatten)]
        creds: AdminCreds,
    },
    /// Set Token Expiry: VALUE in the current unit, or VALUE UNIT
    SetExpiry {
        /// A whole number of units
        value: u64,
        /// second(s), minute(s), hour(s), day(s), week(s), month(s) or year(s)
        unit: Option<String>,
        #[command(flatten)]
        creds: AdminCreds,
    },
    /// Set Token Expiry Unit
    SetExpiryUnit {
        /// second(s), minute(s), hour(s), day(s), week(s), month(s) or year(s)
        unit: String,
        #[command(flatten)]
        creds: AdminCreds,
    },
    /// The longest a session may be stretched by refreshing (e.g. 12h, 90m, 2d)
    SetMaxSession {
        /// A duration: 12h, 90m, 2d, 43200s
        duration: String,
        #[command(flatten)]
        creds: AdminCreds,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a local user (asks for the new user's password)
    Add {
        /// User name
        name: String,
        /// admin, operator or viewer
        #[arg(long, default_value = "operator")]
        role: Role,
        /// The user may not obtain API tokens
        #[arg(long)]
        no_api_access: bool,
        /// Read the new user's password from FILE [or TACCTL_PASSWORD, or a prompt]
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        #[command(flatten)]
        creds: AdminCreds,
    },
    /// Change a user's password
    Passwd {
        /// User name
        name: String,
        /// Read the new password from FILE [or TACCTL_PASSWORD, or a prompt]
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        #[command(flatten)]
        creds: AdminCreds,
    },
    /// Remove a user (never the last administrator)
    Remove {
        /// User name
        name: String,
        #[command(flatten)]
        creds: AdminCreds,
    },
    /// List users (never their password hashes)
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TlsCommand {
    /// Print the certificate's fingerprint, SHA256:..., the form `cluster add --fingerprint` takes
    Show {
        /// Print the certificate chain itself (PEM; public) instead
        #[arg(long)]
        pem: bool,
    },
    /// Install a certificate chain (PEM, leaf first) and its private key (PEM)
    Set {
        /// The certificate chain
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        /// The private key
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        #[command(flatten)]
        creds: AdminCreds,
    },
    /// Replace the certificate with a new self-signed one (ECDSA P-256)
    Generate {
        /// The name the certificate is issued to [default: the node name]
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        creds: AdminCreds,
    },
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per process")]
enum LdapCommand {
    /// Show the LDAP settings (never the bind password)
    Show {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Configure and enable the external LDAP directory
    Set {
        /// ldap://HOST:PORT or ldaps://HOST:PORT
        #[arg(long)]
        url: String,
        /// Where users are searched
        #[arg(long)]
        base_dn: String,
        /// Search filter with {username}
        #[arg(long, default_value = "(uid={username})")]
        user_filter: String,
        /// DN to bind as for searches [default: anonymous]
        #[arg(long)]
        bind_dn: Option<String>,
        /// Read the bind password from FILE [or TACCTL_LDAP_BIND_PASSWORD, or a prompt]
        #[arg(long, value_name = "FILE", requires = "bind_dn")]
        bind_password_file: Option<PathBuf>,
        /// Members of this group (DN) have API access; without it no directory user has any
        #[arg(long, value_name = "DN")]
        api_access_group: Option<String>,
        /// Members of this group (DN) are administrators, with API access; the others are viewers
        #[arg(long, value_name = "DN")]
        admin_group: Option<String>,
        /// Upgrade ldap:// with StartTLS
        #[arg(long)]
        starttls: bool,
        /// PEM file of CA certificates to trust for the directory
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
        /// Seconds allowed for each LDAP operation
        #[arg(long, default_value_t = crate::component::DEFAULT_LDAP_TIMEOUT_SECONDS)]
        timeout: u64,
        #[command(flatten)]
        creds: AdminCreds,
    },
    /// Stop using the directory (the settings are kept)
    Disable {
        #[command(flatten)]
        creds: AdminCreds,
    },
    /// Log a directory user in step by step (connect, bind, search, user bind, groups); exit 0 only when all pass
    Test {
        /// The directory user's name
        user: String,
        /// Read the user's password from FILE [or TACCTL_PASSWORD, or a prompt]
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum NetworkCommand {
    /// Show the network settings
    Show {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Change the network settings; lists given replace the current ones
    Set {
        /// DNS servers (IP addresses), comma-separated; an empty value clears them
        #[arg(long, value_delimiter = ',', num_args = 0..)]
        dns: Option<Vec<String>>,
        /// NTP servers, comma-separated
        #[arg(long, value_delimiter = ',', num_args = 0..)]
        ntp: Option<Vec<String>>,
        /// Syslog targets HOST[:PORT][/udp|/tcp], comma-separated (default port 514, udp)
        #[arg(long, value_delimiter = ',', num_args = 0..)]
        syslog: Option<Vec<String>>,
        /// This appliance's host name (node-local)
        #[arg(long)]
        hostname: Option<String>,
        #[command(flatten)]
        creds: AdminCreds,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Log in with a user's credentials and print the token alone on stdout
    Issue {
        /// User name
        #[arg(long)]
        user: String,
        /// Read the password from FILE [or TACCTL_PASSWORD, or a prompt]
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Verify a token: exit 0 and print its claims, or name the failed check
    Verify {
        /// The token, or - (the default) to read it from standard input
        token: Option<String>,
        /// Print the claims as JSON
        #[arg(long)]
        json: bool,
    },
    /// Trade a valid token for a new one
    Refresh {
        /// The token, or - (the default) to read it from standard input
        token: Option<String>,
    },
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

fn default_root() -> PathBuf {
    if rustix::process::geteuid().is_root() {
        PathBuf::from("/var/lib/tacctl")
    } else {
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("tacctl")
    }
}

fn lock_timeout() -> Duration {
    std::env::var("TACCTL_LOCK_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(10))
}

/// Parses the arguments and runs the command.
pub fn run() -> Result<()> {
    jwt::ensure_provider().map_err(|e| anyhow!(e))?;
    // rustls's process-wide default, for libraries that do not take ours.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    if let Ok(point) = std::env::var("TACCTL_TEST_CRASH_AT") {
        crate::appliance::set_crash_point(point);
    }
    let root = cli.root.clone().unwrap_or_else(default_root);
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Init(args) => init(&root, args, &mut out),
        Command::Demo => demo::run(&mut out),
        Command::Serve(a) => serve::run(&root, a, &mut out),
        Command::Cluster(cmd) => cluster::cluster(&root, cmd, &mut out),
        Command::Verify(cmd) => cluster::verify(&root, cmd, &mut out),
        Command::Wizard => wizard(&root),
        Command::Export(a) => bundle::export(&root, a, &mut out),
        Command::Inspect(a) => bundle::inspect(a, &mut out),
        Command::Import(a) => bundle::import(&root, a, &mut out),
        Command::Rollback(a) => bundle::rollback(&root, a, &mut out),
        Command::History { json } => bundle::history(&root, json, &mut out),
        Command::Recover(a) => recover(&root, a, &mut out),
        Command::Status { json } => {
            let ops = open(&root)?;
            let s = ops.status()?;
            if json {
                print_json(&mut out, &s)
            } else {
                writeln!(
                    out,
                    "Node:        {}\nNode id:     {}\nCluster id:  {}\nJWT key:     {} ({})\nRoot:        {}",
                    s.name, s.node_id, s.cluster_id, s.jwt_kid, s.algorithm, s.root
                )?;
                Ok(())
            }
        }
        Command::Jwt(cmd) => jwt_command(&root, cmd, &mut out),
        Command::User(cmd) => user_command(&root, cmd, &mut out),
        Command::Token(cmd) => token_command(&root, cmd, &mut out),
        Command::Network(cmd) => network_command(&root, cmd, &mut out),
        Command::Ldap(cmd) => ldap_command(&root, cmd, &mut out),
        Command::Tls(TlsCommand::Show { pem: true }) => match open(&root)?.app.tls()? {
            Some(t) => Ok(write!(out, "{}", t.cert_pem)?),
            None => Err(OpsError::Invalid(
                "no TLS certificate is installed; install one with `tacctl tls set --cert F --key F`".into(),
            )
            .into()),
        },
        Command::Tls(TlsCommand::Show { pem: false }) => match open(&root)?.tls_fingerprint()? {
            Some(fp) => Ok(writeln!(out, "{fp}")?),
            None => Err(OpsError::Invalid(
                "no TLS certificate is installed; install one with `tacctl tls set --cert F --key F`".into(),
            )
            .into()),
        },
        Command::Tls(TlsCommand::Generate { name, creds }) => {
            let ops = admin(&root, &creds)?;
            let name = match name {
                Some(n) => n,
                None => ops.status()?.name,
            };
            let (cert, key) =
                crate::tls::self_signed(&name).map_err(|e| OpsError::Invalid(e.to_string()))?;
            let fp = ops.set_tls(&cert, &secrecy::SecretSlice::from(key.to_vec()))?;
            writeln!(out, "Installed a new self-signed certificate for {name}: {fp}")?;
            Ok(())
        }
        Command::Tls(TlsCommand::Set { cert, key, creds }) => {
            let cert_pem = std::fs::read_to_string(&cert).with_context(|| format!("cannot read {}", cert.display()))?;
            let key_pem = secrets::read_secret_file(&key)?;
            let ops = admin(&root, &creds)?;
            let fp = ops.set_tls(&cert_pem, &SecretSlice::from(key_pem.to_vec()))?;
            Ok(writeln!(out, "TLS certificate installed: {fp}")?)
        }
    }
}

/// `tacctl wizard`: the menu on this terminal, until Exit.
fn wizard(root: &Path) -> Result<()> {
    use crate::wizard::{self, Context, TerminalPrompter, WizardError};
    let ops = open(root)?;
    let mut prompter = TerminalPrompter::new().map_err(WizardError::from)?;
    let cx = Context {
        ops: &ops,
        clock: now,
        kdf: crate::bundle::header::KdfParams::DEFAULT,
        export_dir: PathBuf::new(),
        admin_user: std::env::var("TACCTL_ADMIN_USER").unwrap_or_else(|_| "admin".into()),
        push_timeout: crate::cluster::push::DEFAULT_TARGET_TIMEOUT,
    };
    wizard::run(&mut prompter, &cx)?;
    Ok(())
}

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

/// `tacctl recover`: opening the appliance finishes or discards an
/// interrupted change; `--discard-journal` gives up one whose journal is
/// damaged.
fn recover(root: &Path, a: RecoverArgs, out: &mut impl Write) -> Result<()> {
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
    let password = secrets::read_string(&SecretSource {
        file: a.creds.admin_password_file.as_deref(),
        env: "TACCTL_ADMIN_PASSWORD",
        flag: "--admin-password-file",
        prompt: "Root credentials: password",
        confirm: None,
    })?;
    ops.require_admin(&a.creds.admin_user, &password)?;
    let done = ops.discard_journal(now())?;
    writeln!(out, "{}{}.", done[..1].to_uppercase(), &done[1..])?;
    Ok(())
}

/// Prints `v` as pretty JSON in one write (standard output flushes at every
/// line, and pretty JSON has one per field).
fn print_json<T: serde::Serialize>(out: &mut impl Write, v: &T) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(v)?;
    text.push(b'\n');
    out.write_all(&text)?;
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

fn init(root: &Path, args: InitArgs, out: &mut impl Write) -> Result<()> {
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

fn admin(root: &Path, creds: &AdminCreds) -> Result<Ops> {
    let ops = open(root)?;
    let password = secrets::read_string(&SecretSource {
        file: creds.admin_password_file.as_deref(),
        env: "TACCTL_ADMIN_PASSWORD",
        flag: "--admin-password-file",
        prompt: "Root credentials: password",
        confirm: None,
    })?;
    ops.require_admin(&creds.admin_user, &password)?;
    Ok(ops)
}

fn unit(s: &str) -> Result<ExpiryUnit> {
    s.parse::<ExpiryUnit>()
        .map_err(|e| UsageError(e.to_string()).into())
}

/// Applies one JWT Settings change and prints what it did.
fn change_jwt(ops: &Ops, change: ops::JwtChange, now: u64, out: &mut impl Write) -> Result<()> {
    let s = ops.change_jwt(&change, now)?;
    writeln!(out, "{}", change.summary(&s))?;
    Ok(())
}

fn jwt_command(root: &Path, cmd: JwtCommand, out: &mut impl Write) -> Result<()> {
    let now = now();
    match cmd {
        JwtCommand::Show { json, creds } => {
            let ops = admin(root, &creds)?;
            let v = ops.jwt_view(now)?;
            if json {
                return print_json(out, &v);
            }
            writeln!(out, "Algorithm:     {}", v.algorithm)?;
            writeln!(
                out,
                "Token expiry:  {} {} ({} s)",
                v.expiry_value,
                v.expiry_unit.label(),
                v.expiry_seconds
            )?;
            writeln!(
                out,
                "Max session:   {} ({} s)",
                humantime::format_duration(Duration::from_secs(v.max_session_seconds)),
                v.max_session_seconds
            )?;
            writeln!(out, "Active key:    {}", v.kid)?;
            for p in &v.previous_keys {
                writeln!(
                    out,
                    "Previous key:  {} ({}, accepted until {})",
                    p.kid,
                    p.algorithm,
                    rfc3339(p.accept_until)
                )?;
            }
        }
        JwtCommand::SetAlgorithm { algorithm, creds } => {
            let alg: Algorithm = algorithm
                .parse()
                .map_err(|e: jwt::KeyError| UsageError(e.to_string()))?;
            let ops = admin(root, &creds)?;
            change_jwt(&ops, ops::JwtChange::Algorithm(alg), now, out)?;
        }
        JwtCommand::SetSecret {
            secret_file,
            generate,
            revoke_previous,
            creds,
        } => {
            let ops = admin(root, &creds)?;
            let secret = if generate {
                SecretSlice::from(ops::random_bytes(ops::GENERATED_SECRET_LEN)?.to_vec())
            } else {
                let s = secrets::read_bytes(&SecretSource {
                    file: secret_file.as_deref(),
                    env: "TACCTL_JWT_SECRET",
                    flag: "--secret-file",
                    prompt: "New Secret",
                    confirm: Some("Confirm Secret"),
                })?;
                if s.expose_secret().is_empty() {
                    bail!(UsageError("the new secret is empty".into()));
                }
                s
            };
            let change = ops::JwtChange::Secret {
                secret,
                revoke_previous,
            };
            change_jwt(&ops, change, now, out)?;
        }
        JwtCommand::RevokePrevious { creds } => {
            let ops = admin(root, &creds)?;
            ops.revoke_previous(now)?;
            writeln!(
                out,
                "Previous JWT keys revoked; only key {} is accepted",
                ops.jwt_view(now)?.kid
            )?;
        }
        JwtCommand::SetExpiry {
            value,
            unit: u,
            creds,
        } => {
            let u = u.as_deref().map(unit).transpose()?;
            let ops = admin(root, &creds)?;
            change_jwt(&ops, ops::JwtChange::Expiry { value, unit: u }, now, out)?;
        }
        JwtCommand::SetExpiryUnit { unit: u, creds } => {
            let u = unit(&u)?;
            let ops = admin(root, &creds)?;
            change_jwt(&ops, ops::JwtChange::ExpiryUnit(u), now, out)?;
        }
        JwtCommand::SetMaxSession { duration, creds } => {
            let secs = jwt::parse_duration(&duration).map_err(|e| UsageError(e.to_string()))?;
            let ops = admin(root, &creds)?;
            ops.set_max_session(secs, now)?;
            writeln!(
                out,
                "Max session set to {} ({secs} s)",
                humantime::format_duration(Duration::from_secs(secs))
            )?;
        }
    }
    Ok(())
}

fn user_password(file: Option<&Path>, confirm: bool) -> Result<SecretString> {
    secrets::read_string(&SecretSource {
        file,
        env: "TACCTL_PASSWORD",
        flag: "--password-file",
        prompt: "Password",
        confirm: confirm.then_some("Confirm password"),
    })
}

fn user_command(root: &Path, cmd: UserCommand, out: &mut impl Write) -> Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            role,
            no_api_access,
            password_file,
            creds,
        } => {
            let ops = admin(root, &creds)?;
            let pw = user_password(password_file.as_deref(), true)?;
            ops.add_user(&name, role, !no_api_access, &pw)?;
            writeln!(
                out,
                "Added user {name} ({role}{})",
                if no_api_access { ", no API access" } else { "" }
            )?;
        }
        UserCommand::Passwd {
            name,
            password_file,
            creds,
        } => {
            let ops = admin(root, &creds)?;
            let pw = user_password(password_file.as_deref(), true)?;
            ops.set_password(&name, &pw)?;
            writeln!(out, "Password of {name} changed")?;
        }
        UserCommand::Remove { name, creds } => {
            let ops = admin(root, &creds)?;
            ops.remove_user(&name)?;
            writeln!(out, "Removed user {name}")?;
        }
        UserCommand::List { json } => {
            let users = open(root)?.list_users()?;
            if json {
                return print_json(out, &users);
            }
            writeln!(out, "{:<24} {:<9} API access", "NAME", "ROLE")?;
            for u in users {
                writeln!(
                    out,
                    "{:<24} {:<9} {}",
                    u.name,
                    u.role,
                    if u.api_access { "yes" } else { "no" }
                )?;
            }
        }
    }
    Ok(())
}

fn ldap_command(root: &Path, cmd: LdapCommand, out: &mut impl Write) -> Result<()> {
    match cmd {
        LdapCommand::Show { json } => {
            let view = open(root)?.ldap()?;
            if json {
                return print_json(out, &view);
            }
            let Some(v) = view else {
                writeln!(out, "LDAP is not configured.")?;
                return Ok(());
            };
            let s = &v.settings;
            let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "none".into());
            writeln!(
                out,
                "Enabled:           {}",
                if s.enabled { "yes" } else { "no" }
            )?;
            writeln!(
                out,
                "URL:               {}{}",
                s.url,
                if s.starttls { " (StartTLS)" } else { "" }
            )?;
            writeln!(out, "Base DN:           {}", s.base_dn)?;
            writeln!(out, "User filter:       {}", s.user_filter)?;
            writeln!(
                out,
                "Bind DN:           {}",
                s.bind_dn.clone().unwrap_or_else(|| "anonymous".into())
            )?;
            writeln!(
                out,
                "Bind password:     {}",
                if v.bind_password_set { "set" } else { "none" }
            )?;
            writeln!(out, "API access group:  {}", opt(&s.api_access_group))?;
            writeln!(out, "Admin group:       {}", opt(&s.admin_group))?;
            writeln!(
                out,
                "CA certificates:   {}",
                if s.ca_pem.is_some() { "set" } else { "system" }
            )?;
            writeln!(out, "Timeout:           {} s", s.timeout_seconds)?;
        }
        LdapCommand::Set {
            url,
            base_dn,
            user_filter,
            bind_dn,
            bind_password_file,
            api_access_group,
            admin_group,
            starttls,
            ca_file,
            timeout,
            creds,
        } => {
            let ca_pem = ca_file
                .map(|f| {
                    std::fs::read_to_string(&f)
                        .with_context(|| format!("cannot read {}", f.display()))
                })
                .transpose()?;
            let ops = admin(root, &creds)?;
            // Text, not bytes: an LDAP simple bind sends a UTF-8 password.
            let password = match &bind_dn {
                Some(_) => Some(secrets::read_string(&SecretSource {
                    file: bind_password_file.as_deref(),
                    env: "TACCTL_LDAP_BIND_PASSWORD",
                    flag: "--bind-password-file",
                    prompt: "LDAP bind password",
                    confirm: None,
                })?),
                None => None,
            }
            .map(|p| SecretSlice::from(p.expose_secret().as_bytes().to_vec()));
            let no_api_group = api_access_group.is_none();
            ops.set_ldap(
                crate::component::LdapCommon {
                    enabled: true,
                    url,
                    base_dn,
                    user_filter,
                    bind_dn,
                    api_access_group,
                    admin_group,
                    starttls,
                    ca_pem,
                    timeout_seconds: timeout,
                },
                password.as_ref(),
            )?;
            writeln!(out, "LDAP configured and enabled")?;
            if no_api_group {
                writeln!(
                    out,
                    "No API access group is set: directory users cannot use the API until one is given with --api-access-group"
                )?;
            }
        }
        LdapCommand::Disable { creds } => {
            let ops = admin(root, &creds)?;
            ops.disable_ldap()?;
            writeln!(out, "LDAP disabled; local users only")?;
        }
        LdapCommand::Test {
            user,
            password_file,
        } => {
            let ops = open(root)?;
            let Some(directory) = ops.directory()? else {
                bail!(OpsError::Invalid(
                    "LDAP is not configured or is disabled; configure it with `tacctl ldap set`"
                        .into()
                ));
            };
            let password = user_password(password_file.as_deref(), false)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the asynchronous runtime")?;
            let mut printed = Ok(());
            let outcome = runtime.block_on(directory.test(&user, &password, |step| {
                if printed.is_ok() {
                    printed = writeln!(
                        out,
                        "{:<10} {:<4} {}",
                        step.kind.as_str(),
                        if step.passed { "ok" } else { "FAIL" },
                        step.detail
                    );
                }
            }));
            printed?;
            let id = outcome.map_err(OpsError::from)?;
            writeln!(out, "{} may use the API as {}", id.name, id.role)?;
        }
    }
    Ok(())
}

fn network_command(root: &Path, cmd: NetworkCommand, out: &mut impl Write) -> Result<()> {
    let n = match cmd {
        NetworkCommand::Show { json } => {
            let n = open(root)?.network()?;
            if json {
                return print_json(out, &n);
            }
            n
        }
        NetworkCommand::Set {
            dns,
            ntp,
            syslog,
            hostname,
            creds,
        } => {
            let nonempty = |v: Vec<String>| {
                v.into_iter()
                    .filter(|x| !x.trim().is_empty())
                    .collect::<Vec<_>>()
            };
            let syslog = syslog
                .map(|v| {
                    nonempty(v)
                        .iter()
                        .map(|t| t.parse::<crate::component::SyslogTarget>())
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()
                .map_err(UsageError)?;
            let ops = admin(root, &creds)?;
            ops.set_network(ops::NetworkChange {
                dns_servers: dns.map(nonempty),
                ntp_servers: ntp.map(nonempty),
                syslog_targets: syslog,
                hostname,
            })?
        }
    };
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    };
    writeln!(out, "DNS servers:     {}", list(&n.dns_servers))?;
    writeln!(out, "NTP servers:     {}", list(&n.ntp_servers))?;
    let targets: Vec<String> = n.syslog_targets.iter().map(|t| t.to_string()).collect();
    writeln!(out, "Syslog targets:  {}", list(&targets))?;
    writeln!(
        out,
        "Host name:       {}",
        n.hostname.as_deref().unwrap_or("not set")
    )?;
    Ok(())
}

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

fn token_command(root: &Path, cmd: TokenCommand, out: &mut impl Write) -> Result<()> {
    let now = now();
    match cmd {
        TokenCommand::Issue {
            user,
            password_file,
        } => {
            let ops = open(root)?;
            let pw = user_password(password_file.as_deref(), false)?;
            let issued = ops.login(&user, &pw, now)?;
            writeln!(out, "{}", issued.token.expose_secret())?;
        }
        TokenCommand::Verify { token, json } => {
            let ops = open(root)?;
            let token = read_token(token)?;
            let claims = ops.verify(token.expose_secret(), now)?;
            if json {
                return print_json(out, &claims);
            }
            writeln!(
                out,
                "valid token for {} (role {}), session {}",
                claims.sub, claims.role, claims.sid
            )?;
            writeln!(
                out,
                "issued {}, expires {}",
                rfc3339(claims.iat),
                rfc3339(claims.exp)
            )?;
        }
        TokenCommand::Refresh { token } => {
            let ops = open(root)?;
            let token = read_token(token)?;
            let issued = ops.refresh(token.expose_secret(), now)?;
            writeln!(out, "{}", issued.token.expose_secret())?;
        }
    }
    Ok(())
}
