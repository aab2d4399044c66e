//! `tacctl tls ...`: the API server's certificate, shown by fingerprint
//! or as PEM, installed from files or generated self-signed.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use secrecy::SecretSlice;

use super::secrets;
use super::{AdminCreds, admin, open};
use crate::ops::OpsError;

#[derive(Debug, Subcommand)]
pub(super) enum TlsCommand {
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

/// `tls show` on an appliance without a certificate.
fn none_installed() -> anyhow::Error {
    OpsError::Invalid(
        "no TLS certificate is installed; install one with `tacctl tls set --cert F --key F`"
            .into(),
    )
    .into()
}

pub(super) fn run(root: &Path, cmd: TlsCommand, out: &mut impl Write) -> Result<()> {
    match cmd {
        TlsCommand::Show { pem: true } => match open(root)?.app.tls()? {
            Some(t) => Ok(write!(out, "{}", t.cert_pem)?),
            None => Err(none_installed()),
        },
        TlsCommand::Show { pem: false } => match open(root)?.tls_fingerprint()? {
            Some(fp) => Ok(writeln!(out, "{fp}")?),
            None => Err(none_installed()),
        },
        TlsCommand::Generate { name, creds } => {
            let ops = admin(root, &creds)?;
            let name = match name {
                Some(n) => n,
                None => ops.status()?.name,
            };
            let (cert, key) =
                crate::tls::self_signed(&name).map_err(|e| OpsError::Invalid(e.to_string()))?;
            let fp = ops.set_tls(&cert, &SecretSlice::from(key.to_vec()))?;
            writeln!(
                out,
                "Installed a new self-signed certificate for {name}: {fp}"
            )?;
            Ok(())
        }
        TlsCommand::Set { cert, key, creds } => {
            let cert_pem = std::fs::read_to_string(&cert)
                .with_context(|| format!("cannot read {}", cert.display()))?;
            let key_pem = secrets::read_secret_file(&key)?;
            let ops = admin(root, &creds)?;
            let fp = ops.set_tls(&cert_pem, &SecretSlice::from(key_pem.to_vec()))?;
            Ok(writeln!(out, "TLS certificate installed: {fp}")?)
        }
    }
}
