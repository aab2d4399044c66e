//! `tacctl user ...`: local users, added, changed and removed behind the
//! root credentials; listed without their password hashes.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;

use super::{AdminCreds, admin, open, print_json, user_password};
use crate::component::Role;

#[derive(Debug, Subcommand)]
pub(super) enum UserCommand {
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

pub(super) fn run(root: &Path, cmd: UserCommand, out: &mut impl Write) -> Result<()> {
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
