//! `tacctl token ...`: a token issued for a user's credentials, verified
//! or refreshed against this node's keys.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;
use secrecy::ExposeSecret;

use super::{now, open, print_json, read_token, user_password};
use crate::ops::rfc3339;

#[derive(Debug, Subcommand)]
pub(super) enum TokenCommand {
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

pub(super) fn run(root: &Path, cmd: TokenCommand, out: &mut impl Write) -> Result<()> {
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
