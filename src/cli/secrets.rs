//! Reading secrets: from a file, an environment variable, or a hidden prompt
//! on the terminal (through the wizard's [`TerminalPrompter`]), never from a
//! command-line argument.

use std::path::Path;

use anyhow::{Context, Result, bail};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use zeroize::Zeroizing;

use crate::wizard::{Password, PromptError, Prompter, TerminalPrompter};

/// Where a secret may come from, in order of preference.
pub struct SecretSource<'a> {
    /// A file given with a `--*-file` flag.
    pub file: Option<&'a Path>,
    /// The environment variable to read.
    pub env: &'a str,
    /// The flag name, for messages.
    pub flag: &'a str,
    /// The prompt text.
    pub prompt: &'a str,
    /// The confirmation prompt, for new secrets.
    pub confirm: Option<&'a str>,
}

/// A usage problem: the secret cannot be obtained from anywhere.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NoSecret(pub String);

/// Reads a file's bytes, with one trailing newline (`\n` or `\r\n`) removed.
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(
        std::fs::read(path)
            .with_context(|| format!("cannot read secret file {}", path.display()))?,
    );
    if bytes.ends_with(b"\r\n") {
        let n = bytes.len() - 2;
        bytes.truncate(n);
    } else if bytes.ends_with(b"\n") {
        let n = bytes.len() - 1;
        bytes.truncate(n);
    }
    Ok(bytes)
}

fn prompt(src: &SecretSource<'_>) -> Result<SecretString> {
    let mut terminal = TerminalPrompter::new().map_err(|_| {
        NoSecret(format!(
            "{} is needed but there is no terminal to ask on; give {} FILE or set {}",
            src.prompt.to_lowercase(),
            src.flag,
            src.env
        ))
    })?;
    let mut q = Password::new("secret", src.prompt);
    if let Some(confirm) = src.confirm {
        q = q.confirm(confirm);
    }
    loop {
        match terminal.password(&q) {
            Ok(secret) => return Ok(secret),
            Err(PromptError::Mismatch { .. }) => terminal
                .note("The entries do not match; try again")
                .context("writing to the terminal failed")?,
            Err(e) => {
                return Err(anyhow::Error::from(e).context("reading from the terminal failed"));
            }
        }
    }
}

/// Reads a secret-bearing file whole (a PEM private key), its path given
/// with `flag`.
pub fn read_file(path: &std::path::Path, flag: &str) -> Result<SecretSlice<u8>> {
    let bytes = Zeroizing::new(
        std::fs::read(path)
            .with_context(|| format!("{flag} {}: cannot read it", path.display()))?,
    );
    Ok(SecretSlice::from(bytes.to_vec()))
}

/// Reads a secret as bytes.
pub fn read_bytes(src: &SecretSource<'_>) -> Result<SecretSlice<u8>> {
    if let Some(file) = src.file {
        return Ok(SecretSlice::from(read_secret_file(file)?.to_vec()));
    }
    if let Some(v) = std::env::var_os(src.env) {
        let v = Zeroizing::new(v.into_encoded_bytes());
        return Ok(SecretSlice::from(v.to_vec()));
    }
    let s = prompt(src)?;
    Ok(SecretSlice::from(s.expose_secret().as_bytes().to_vec()))
}

/// Reads a secret as text (passwords).
pub fn read_string(src: &SecretSource<'_>) -> Result<SecretString> {
    let bytes = read_bytes(src)?;
    let text = std::str::from_utf8(bytes.expose_secret()).map_err(|_| {
        anyhow::anyhow!(
            "the password given through {} or {} is not UTF-8",
            src.flag,
            src.env
        )
    })?;
    if text.is_empty() {
        bail!(NoSecret(format!(
            "the {} is empty",
            src.prompt.to_lowercase()
        )));
    }
    Ok(SecretString::from(text.to_owned()))
}
