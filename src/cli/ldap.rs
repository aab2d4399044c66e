//! `tacctl ldap ...`: the external LDAP directory's settings, and a
//! directory login tried step by step.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use secrecy::{ExposeSecret, SecretSlice};

use super::secrets::{self, SecretSource};
use super::{AdminCreds, admin, open, print_json, user_password};
use crate::ops::OpsError;

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per process")]
pub(super) enum LdapCommand {
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

pub(super) fn run(root: &Path, cmd: LdapCommand, out: &mut impl Write) -> Result<()> {
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
