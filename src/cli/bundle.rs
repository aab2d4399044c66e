//! `export`, `inspect`, `import`, `rollback` and `history`.

use std::fs;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use secrecy::SecretString;

use super::progress::Bar;
use super::secrets::{self, SecretSource};
use super::{AdminCreds, KdfCost, UsageError, admin, now, open, print_json};
use crate::bundle::header::{Lock, Unlock};
use crate::bundle::recipient::{Identity, Recipient};
use crate::component::Component;
use crate::ops::bundle::{
    BundleInput, ImportChoice, Imported, NoProgress, Opening, Plan, SignedBy, check_passphrase,
    default_bundle_name, describe_origin, export_summary, key_fingerprints, opening,
};
use crate::ops::rfc3339;

#[derive(Debug, Args)]
pub(super) struct ExportArgs {
    /// Components, comma-separated: jwt, users, ldap, network, tls, files
    #[arg(
        short = 'c',
        long = "components",
        value_delimiter = ',',
        conflicts_with = "all"
    )]
    components: Vec<String>,
    /// Every component, node-local parts included (a full backup)
    #[arg(long)]
    all: bool,
    /// Include node-local parts (the host name) with -c
    #[arg(long)]
    include_node_local: bool,
    /// Output file [default: NODE-UTCTIME.tacbundle in the current directory]
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Push to the appliance at https://HOST:PORT instead of writing a file (one that is not a member)
    #[arg(
        long,
        value_name = "URL",
        conflicts_with_all = ["output", "all", "include_node_local", "passphrase_file", "allow_weak_passphrase", "recipients", "recipients_file", "with_passphrase"]
    )]
    to: Option<String>,
    /// With --to: the certificate the appliance must present, SHA256:... [required without a terminal; otherwise shown and asked]
    #[arg(long, value_name = "SHA256:...", requires = "to")]
    fingerprint: Option<String>,
    /// Encrypt to this recipient (`tacctl-x25519:...`, as `tacctl status` and `tacctl keygen` print it) instead of a passphrase; repeat it or separate several with commas
    #[arg(long = "recipient", value_name = "KEY", value_delimiter = ',')]
    recipients: Vec<String>,
    /// Encrypt to the recipients in FILE, one per line (`#` starts a comment)
    #[arg(long, value_name = "FILE")]
    recipients_file: Option<PathBuf>,
    /// With recipients: lock the bundle with a passphrase as well
    #[arg(long)]
    with_passphrase: bool,
    /// Read the passphrase from FILE [or TACCTL_PASSPHRASE, or a prompt entered twice]
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Accept a passphrase under 12 characters or with a zxcvbn score below 3
    #[arg(long)]
    allow_weak_passphrase: bool,
    /// Key derivation cost; `test` is for test suites only
    #[arg(
        long,
        value_enum,
        default_value = "default",
        hide_possible_values = false
    )]
    kdf_cost: KdfCost,
    #[command(flatten)]
    creds: AdminCreds,
    /// With --to
    #[command(flatten, next_help_heading = "Pushing with --to")]
    push: super::cluster_export::PushArgs,
}

#[derive(Debug, Args)]
pub(super) struct InspectArgs {
    /// The bundle
    file: PathBuf,
    /// Read the passphrase from FILE [or TACCTL_PASSPHRASE, or a prompt]
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Open the bundle with the identity in FILE (`tacctl keygen`); the passphrase then opens the identity
    #[arg(long, value_name = "FILE")]
    identity_file: Option<PathBuf>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(super) struct ImportArgs {
    /// The bundle
    file: PathBuf,
    /// Only these components, comma-separated [default: all in the bundle]
    #[arg(short = 'c', long = "components", value_delimiter = ',')]
    components: Vec<String>,
    /// Apply node-local parts (the host name) from another node's bundle
    #[arg(long)]
    include_node_local: bool,
    /// Print the plan and stop
    #[arg(long)]
    dry_run: bool,
    /// Apply without asking
    #[arg(long)]
    yes: bool,
    /// Print the plan and outcome as JSON
    #[arg(long)]
    json: bool,
    /// Read the passphrase from FILE [or TACCTL_PASSPHRASE, or a prompt]
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Open the bundle with the identity in FILE (`tacctl keygen`); the passphrase then opens the identity
    #[arg(long, value_name = "FILE")]
    identity_file: Option<PathBuf>,
    /// No progress bar (one is drawn on a terminal for a long import)
    #[arg(short = 'q', long)]
    quiet: bool,
    #[command(flatten)]
    creds: AdminCreds,
}

#[derive(Debug, Args)]
pub(super) struct RollbackArgs {
    /// The snapshot to restore
    #[arg(required_unless_present = "list")]
    id: Option<String>,
    /// List the snapshots
    #[arg(long)]
    list: bool,
    #[command(flatten)]
    creds: AdminCreds,
}

fn passphrase(file: Option<&Path>, confirm: bool) -> Result<SecretString> {
    secrets::read_string(&SecretSource {
        file,
        env: "TACCTL_PASSPHRASE",
        flag: "--passphrase-file",
        prompt: "Bundle passphrase",
        confirm: confirm.then_some("Confirm passphrase"),
    })
}

#[derive(Debug, Args)]
pub(super) struct KeygenArgs {
    /// Write the identity to FILE (created, mode 0600; never overwritten)
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
    /// Read the passphrase that seals the identity from FILE [or TACCTL_PASSPHRASE, or a prompt entered twice]
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Accept a passphrase under 12 characters or with a zxcvbn score below 3
    #[arg(long)]
    allow_weak_passphrase: bool,
    /// Key derivation cost; `test` is for test suites only
    #[arg(long, value_enum, default_value = "default")]
    kdf_cost: KdfCost,
}

/// What opens a bundle, as the command line found it.
enum Key {
    Passphrase(SecretString),
    Identity(Identity),
}

impl Key {
    fn unlock(&self) -> Unlock<'_> {
        match self {
            Key::Passphrase(p) => Unlock::Passphrase(p),
            Key::Identity(i) => Unlock::Identity(i),
        }
    }
}

/// What opens the bundle at `file`: the identity in `identity_file` (its
/// passphrase asked); else `member`, this node's identity, when the bundle
/// is encrypted to it; else the bundle's passphrase ([`opening`] refuses a
/// bundle none of these opens before anything is asked).
fn key_for(
    file: &Path,
    identity_file: Option<&Path>,
    member: Option<Identity>,
    passphrase_file: Option<&Path>,
) -> Result<Key> {
    if let Some(id_file) = identity_file {
        let text = zeroize::Zeroizing::new(fs::read_to_string(id_file).map_err(|e| {
            crate::ops::OpsError::Invalid(format!(
                "cannot read the identity file {}: {e}",
                id_file.display()
            ))
        })?);
        let pass = secrets::read_string(&SecretSource {
            file: passphrase_file,
            env: "TACCTL_PASSPHRASE",
            flag: "--passphrase-file",
            prompt: "Identity passphrase",
            confirm: None,
        })?;
        let identity = Identity::from_file_text(&text, &pass, &id_file.display().to_string())?;
        return Ok(Key::Identity(identity));
    }
    let recipient = member.as_ref().map(Identity::recipient);
    if let (Opening::MemberKey, Some(m)) = (opening(file, recipient.as_ref())?, member) {
        return Ok(Key::Identity(m));
    }
    Ok(Key::Passphrase(passphrase(passphrase_file, false)?))
}

/// The recipients of `--recipient` and `--recipients-file`, each once.
fn recipients(list: &[String], file: Option<&Path>) -> Result<Vec<Recipient>> {
    let mut texts: Vec<String> = list.to_vec();
    if let Some(f) = file {
        let text = fs::read_to_string(f).map_err(|e| {
            UsageError(format!(
                "cannot read the recipients file {}: {e}",
                f.display()
            ))
        })?;
        texts.extend(
            text.lines()
                .map(|l| l.split('#').next().unwrap_or_default().trim())
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
    }
    let mut out: Vec<Recipient> = Vec::new();
    for t in texts {
        let r = Recipient::parse(&t).map_err(|e| UsageError(e.to_string()))?;
        if !out.contains(&r) {
            out.push(r);
        }
    }
    if out.len() >= crate::bundle::header::v3::MAX_STANZAS {
        bail!(UsageError(format!(
            "{} recipients; a bundle holds at most {}",
            out.len(),
            crate::bundle::header::v3::MAX_STANZAS - 1
        )));
    }
    Ok(out)
}

/// `keygen`: a new identity, sealed under a passphrase, for a recipient
/// kept offline (a recovery key).
pub(super) fn keygen(a: KeygenArgs, out: &mut impl Write) -> Result<()> {
    if a.output.exists() {
        bail!(UsageError(format!(
            "{} exists; choose another file name (an identity is never overwritten)",
            a.output.display()
        )));
    }
    let pass = secrets::read_string(&SecretSource {
        file: a.passphrase_file.as_deref(),
        env: "TACCTL_PASSPHRASE",
        flag: "--passphrase-file",
        prompt: "Identity passphrase",
        confirm: Some("Confirm passphrase"),
    })?;
    if !a.allow_weak_passphrase {
        check_passphrase(&pass).map_err(|e| {
            UsageError(format!(
                "{e}; choose a longer one, or pass --allow-weak-passphrase"
            ))
        })?;
    }
    let identity = Identity::generate().map_err(|e| UsageError(e.to_string()))?;
    let text = identity
        .to_file_text(&pass, a.kdf_cost.params())
        .map_err(crate::bundle::BundleError::Header)?;
    crate::appliance::create_new_private(&a.output, ".tacctl-keygen-", |mut f| {
        f.write_all(text.as_bytes())
            .map_err(crate::appliance::ApplianceError::io(&a.output))?;
        Ok::<_, crate::appliance::ApplianceError>(((), f))
    })?;
    writeln!(out, "{}", identity.recipient())?;
    eprintln!(
        "Wrote the identity to {}. Export to it with `tacctl export --recipient {}`; open such bundles with `--identity-file {}`.",
        a.output.display(),
        identity.recipient(),
        a.output.display()
    );
    Ok(())
}

fn parse_components(names: &[String], all_if_empty: bool) -> Result<Vec<Component>> {
    if names.is_empty() && all_if_empty {
        return Ok(Component::all());
    }
    let mut out = Vec::new();
    for n in names {
        let c = Component::parse(n).map_err(|e| UsageError(e.to_string()))?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

pub(super) fn export(root: &Path, a: ExportArgs, out: &mut impl Write) -> Result<()> {
    if let Some(url) = &a.to {
        return super::cluster_export::export_to(
            root,
            url,
            a.fingerprint.as_deref(),
            &a.components,
            &a.creds.admin_user,
            a.creds.admin_password_file.as_deref(),
            a.kdf_cost,
            &a.push,
            out,
        );
    }
    if a.push.any() {
        bail!(UsageError(
            "--user, --password-file, --answers, --yes, --timeout and --json go with --to URL"
                .into()
        ));
    }
    if a.components.is_empty() && !a.all {
        bail!(UsageError(
            "choose what to export: -c jwt,users or --all".into()
        ));
    }
    let mut components = parse_components(&a.components, a.all)?;
    let ops = admin(root, &a.creds)?;
    // A full backup leaves out what this appliance never configured.
    if a.all && ops.ldap()?.is_none() {
        components.retain(|c| *c != Component::Ldap);
    }
    if a.all && ops.tls_fingerprint()?.is_none() {
        components.retain(|c| *c != Component::Tls);
    }
    if a.all && !ops.trust_exportable(super::now())? {
        components.retain(|c| *c != Component::JwtTrust);
    }
    let recipients = recipients(&a.recipients, a.recipients_file.as_deref())?;
    if a.with_passphrase && recipients.is_empty() {
        bail!(UsageError(
            "--with-passphrase goes with --recipient or --recipients-file".into()
        ));
    }
    // The passphrase and the signature take a stanza each.
    if a.with_passphrase && recipients.len() > crate::bundle::header::v3::MAX_STANZAS - 2 {
        bail!(UsageError(format!(
            "{} recipients and a passphrase; a bundle holds at most {} recipients beside a passphrase",
            recipients.len(),
            crate::bundle::header::v3::MAX_STANZAS - 2
        )));
    }
    let pass = if recipients.is_empty() || a.with_passphrase {
        let pass = passphrase(a.passphrase_file.as_deref(), true)?;
        if !a.allow_weak_passphrase {
            check_passphrase(&pass).map_err(|e| {
                UsageError(format!(
                    "{e}; choose a longer one, or pass --allow-weak-passphrase"
                ))
            })?;
        }
        Some(pass)
    } else {
        None
    };
    let kdf = a.kdf_cost.params();
    // Export signs it with this node's member key.
    let lock = Lock {
        passphrase: pass.as_ref().map(|p| (p, kdf)),
        recipients: &recipients,
        signer: None,
    };
    let now = now();
    let path = match a.output {
        Some(p) => p,
        None => default_bundle_name(&ops.app.node()?.name, now),
    };
    let bar = Bar::new("Exporting", 0, a.push.quiet);
    let manifest = ops.export_to_file(
        &components,
        a.all || a.include_node_local,
        &lock,
        &path,
        now,
        &bar,
    )?;
    drop(bar);
    writeln!(out, "{}", export_summary(&manifest, &path))?;
    Ok(())
}

pub(super) fn inspect(root: &Path, a: InspectArgs, out: &mut impl Write) -> Result<()> {
    if !a.file.is_file() {
        return Err(
            crate::ops::OpsError::Invalid(format!("no bundle at {}", a.file.display())).into(),
        );
    }
    // This node's member key opens a bundle encrypted to it, when there
    // is an appliance here; inspecting needs none.
    let app = crate::appliance::Appliance::open(root).ok();
    let member = app
        .as_ref()
        .and_then(|app| app.member_identity().ok().flatten());
    // Who signed it is judged by this node's signer key and its pinned
    // members; without an appliance here, no signer is trusted.
    let own = member.as_ref().map(|m| m.signer().key());
    let members = app
        .as_ref()
        .and_then(|app| app.members().ok())
        .map(|m| m.members)
        .unwrap_or_default();
    let key = key_for(
        &a.file,
        a.identity_file.as_deref(),
        member,
        a.passphrase_file.as_deref(),
    )?;
    // Opened for a look inside: nothing is written anywhere.
    let opened =
        crate::ops::bundle::open(BundleInput::File(&a.file), key.unlock(), None, &NoProgress)?;
    let m = opened.manifest();
    let kdf = opened.kdf();
    let recipients: Vec<String> = opened.recipients().iter().map(|r| r.to_string()).collect();
    let fps = key_fingerprints(&opened);
    let origin = opened
        .origin()
        .map(|k| SignedBy::judge(k, own.as_ref(), &members));
    if a.json {
        return print_json(
            out,
            &serde_json::json!({
                "format_version": m.format_version,
                "bundle_format_version": opened.format_version(),
                "tool_version": m.tool_version,
                "created_at": m.created_at,
                "source": m.source,
                "components": m.components.iter().map(|c| serde_json::json!({
                    "name": c.name, "version": c.version, "scope": c.scope,
                    "size": c.files.iter().map(|f| f.size).sum::<u64>(),
                })).collect::<Vec<_>>(),
                "jwt_kid": m.jwt_kid,
                "key_fingerprints": fps,
                "kdf": kdf.map(|kdf| serde_json::json!({"memory_kib": kdf.memory_kib, "iterations": kdf.iterations, "lanes": kdf.lanes})),
                "recipients": recipients,
                "origin": origin,
            }),
        );
    }
    writeln!(out, "Bundle:      {}", a.file.display())?;
    writeln!(
        out,
        "Source:      {} (node {}, cluster {})",
        m.source.name, m.source.node_id, m.source.cluster_id
    )?;
    writeln!(out, "Created:     {}", rfc3339(m.created_at))?;
    writeln!(out, "Signed by:   {}", describe_origin(origin.as_ref()))?;
    writeln!(
        out,
        "Versions:    format {} (manifest {}), written by tacctl {}",
        opened.format_version(),
        m.format_version,
        m.tool_version
    )?;
    match kdf {
        Some(kdf) => writeln!(
            out,
            "KDF:         Argon2id, {} KiB, {} passes, {} lanes",
            kdf.memory_kib, kdf.iterations, kdf.lanes
        )?,
        None => writeln!(out, "KDF:         none (no passphrase: recipients only)")?,
    }
    if !recipients.is_empty() {
        writeln!(out, "Recipients:")?;
        for r in &recipients {
            writeln!(out, "  {r}")?;
        }
    }
    writeln!(out, "Components:")?;
    for c in &m.components {
        let size: u64 = c.files.iter().map(|f| f.size).sum();
        writeln!(
            out,
            "  {:<8} version {}  {} bytes  ({} scope)",
            c.name, c.version, size, c.scope
        )?;
    }
    writeln!(
        out,
        "JWT keys:    {}",
        if fps.is_empty() {
            "none".into()
        } else {
            fps.join(", ")
        }
    )?;
    Ok(())
}

/// Prints the plan in one write: standard output flushes at every line, and
/// a plan of custom files has a line per file.
fn print_plan(out: &mut impl Write, plan: &Plan) -> Result<()> {
    out.write_all(plan.to_string().as_bytes())?;
    Ok(())
}

pub(super) fn import(root: &Path, a: ImportArgs, out: &mut impl Write) -> Result<()> {
    let ops = admin(root, &a.creds)?;
    if !a.file.is_file() {
        return Err(
            crate::ops::OpsError::Invalid(format!("no bundle at {}", a.file.display())).into(),
        );
    }
    let member = ops.member_identity(now())?;
    let key = key_for(
        &a.file,
        a.identity_file.as_deref(),
        Some(member),
        a.passphrase_file.as_deref(),
    )?;
    let size = fs::metadata(&a.file).map(|m| m.len()).unwrap_or(0);
    let choice = ImportChoice {
        components: (!a.components.is_empty())
            .then(|| parse_components(&a.components, false))
            .transpose()?,
        include_node_local: a.include_node_local,
        dry_run: a.dry_run,
        confirm_unchanged: false,
    };
    let bar = Bar::new("Importing", size, a.quiet);
    let json = a.json;
    let yes = a.yes;
    let mut confirm = |plan: &Plan| -> crate::ops::Result<bool> {
        bar.clear();
        let io =
            |e: std::io::Error| crate::ops::OpsError::Invalid(format!("writing the plan: {e}"));
        if !json {
            print_plan(out, plan).map_err(|e| crate::ops::OpsError::Invalid(e.to_string()))?;
        }
        if yes {
            return Ok(true);
        }
        if !std::io::stdin().is_terminal() {
            return Err(crate::ops::OpsError::Invalid("confirmation needed: add --yes to apply without a terminal, or --dry-run to only see the plan".into()));
        }
        out.flush().map_err(io)?;
        let asked = crate::wizard::TerminalPrompter::new().and_then(|mut p| {
            use crate::wizard::Prompter as _;
            p.confirm(&crate::wizard::Confirm::new(
                "import-apply",
                "Apply this plan?",
                false,
            ))
        });
        asked.map_err(|e| crate::ops::OpsError::Invalid(format!("reading the answer: {e}")))
    };
    let imported = ops.import(
        BundleInput::File(&a.file),
        key.unlock(),
        &choice,
        now(),
        &bar,
        &mut confirm,
    );
    drop(bar);
    match imported? {
        Imported::Planned(plan) => {
            if a.json {
                print_json(out, &plan)
            } else {
                print_plan(out, &plan)
            }
        }
        Imported::Declined(_) => {
            writeln!(out, "Nothing was changed.")?;
            Ok(())
        }
        Imported::Applied(plan, outcome) => {
            if a.json {
                return print_json(out, &serde_json::json!({"plan": plan, "outcome": outcome}));
            }
            if plan.is_noop() {
                print_plan(out, &plan)?;
            }
            writeln!(out, "{outcome}")?;
            Ok(())
        }
    }
}

pub(super) fn rollback(root: &Path, a: RollbackArgs, out: &mut impl Write) -> Result<()> {
    if a.list {
        let snaps = open(root)?.snapshots()?;
        writeln!(out, "{:<28} {:<21} REASON", "ID", "TAKEN")?;
        for s in snaps {
            writeln!(
                out,
                "{:<28} {:<21} {}",
                s.id,
                rfc3339(s.created_at),
                s.reason
            )?;
        }
        return Ok(());
    }
    let id = a.id.expect("clap requires ID unless --list");
    let ops = admin(root, &a.creds)?;
    let undo = ops.rollback(&id, now())?;
    writeln!(
        out,
        "Restored snapshot {id}. Undo with `tacctl rollback {}`.",
        undo.snapshot
    )?;
    for w in &undo.warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}

pub(super) fn history(root: &Path, json: bool, out: &mut impl Write) -> Result<()> {
    let records = open(root)?.history()?;
    if json {
        return print_json(out, &records);
    }
    for r in records {
        writeln!(
            out,
            "{}  {:<8} {:<40} [{}] {}",
            rfc3339(r.time),
            r.action,
            r.source.unwrap_or_default(),
            r.components.join(","),
            r.outcome
        )?;
    }
    Ok(())
}
