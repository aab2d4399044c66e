//! `tacctl jwt ...`: the JWT Configuration screens as commands (algorithm,
//! secret, expiry and its unit, max session), each behind the root
//! credentials.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Subcommand;
use secrecy::{ExposeSecret, SecretSlice};

use super::secrets::{self, SecretSource};
use super::{AdminCreds, UsageError, admin, now, print_json};
use crate::jwt::{self, Algorithm, ExpiryUnit};
use crate::ops::{self, Ops, rfc3339};

#[derive(Debug, Subcommand)]
pub(super) enum JwtCommand {
    /// Show algorithm, expiry, max session and key ids (never the secret)
    Show {
        /// Print one JSON object
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        creds: AdminCreds,
    },
    /// Set JWT Algorithm: HS256, HS384, HS512, or a key pair: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA (a new key is made when the kind of key changes)
    SetAlgorithm {
        /// HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA
        algorithm: String,
        /// The RSA key size for a new RSA key pair: 2048, 3072 (the default) or 4096; makes a new key
        #[arg(long, value_name = "BITS")]
        bits: Option<usize>,
        #[command(flatten)]
        creds: AdminCreds,
    },
    /// Set JWT Key Pair: import a private key (PEM: PKCS#8, PKCS#1 or SEC1) for the configured key-pair algorithm
    SetKey {
        /// Read the private key from FILE (never from an argument)
        #[arg(long, value_name = "FILE")]
        private_key_file: PathBuf,
        /// Stop accepting tokens signed with previous keys at once
        #[arg(long)]
        revoke_previous: bool,
        #[command(flatten)]
        creds: AdminCreds,
    },
    /// The public keys tokens are verified with, as a JWKS (RFC 7517): never a secret or a private key
    Jwks,
    /// Appliances JWT Trust: the members whose tokens this node accepts by their public keys
    Trust {
        /// Print one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Stop trusting a member's public keys (by node name or node id): its tokens are refused at once
    Untrust {
        /// The member's node name or node id
        member: String,
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

pub(super) fn run(root: &Path, cmd: JwtCommand, out: &mut impl Write) -> Result<()> {
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
        JwtCommand::SetAlgorithm {
            algorithm,
            bits,
            creds,
        } => {
            let alg: Algorithm = algorithm
                .parse()
                .map_err(|e: jwt::KeyError| UsageError(e.to_string()))?;
            if let Some(b) = bits
                && !jwt::RSA_BITS.contains(&b)
            {
                bail!(UsageError(format!("--bits {b}: choose 2048, 3072 or 4096")));
            }
            let ops = admin(root, &creds)?;
            let s = ops.set_algorithm(alg, bits, now)?;
            writeln!(out, "{}", ops::JwtChange::Algorithm(alg).summary(&s))?;
        }
        JwtCommand::SetKey {
            private_key_file,
            revoke_previous,
            creds,
        } => {
            let ops = admin(root, &creds)?;
            let pem = secrets::read_file(&private_key_file, "--private-key-file")?;
            let s = ops.set_key(&pem, revoke_previous, now)?;
            writeln!(out, "JWT key pair set; active key {}", s.active_key.kid)?;
            for p in &s.previous_keys {
                writeln!(
                    out,
                    "Previous key {} stays accepted until {}",
                    p.key.kid,
                    rfc3339(p.accept_until)
                )?;
            }
        }
        JwtCommand::Jwks => {
            let ops = super::open(root)?;
            print_json(out, &ops.jwks(now)?)?;
        }
        JwtCommand::Trust { json } => {
            let ops = super::open(root)?;
            let trust = ops.jwt_trust()?;
            if json {
                return print_json(out, &trust);
            }
            if trust.members.is_empty() {
                writeln!(
                    out,
                    "This node trusts no member's public keys (Appliances JWT Trust is empty)."
                )?;
            }
            for m in &trust.members {
                writeln!(
                    out,
                    "{} (node id {}, cluster {})",
                    m.name, m.node_id, m.cluster_id
                )?;
                for k in &m.keys {
                    match k.accept_until {
                        None => writeln!(out, "  {} {}", k.algorithm, k.kid())?,
                        Some(u) => writeln!(
                            out,
                            "  {} {} (retired, accepted until {})",
                            k.algorithm,
                            k.kid(),
                            rfc3339(u)
                        )?,
                    }
                }
            }
        }
        JwtCommand::Untrust { member, creds } => {
            let ops = admin(root, &creds)?;
            let m = ops.untrust(&member)?;
            writeln!(
                out,
                "{} (node id {}) is no longer trusted; its tokens are refused",
                m.name, m.node_id
            )?;
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
