//! Administration > JWT Configuration: the root credentials, then the JWT
//! Settings screen with its items in the documentation's order and wording:
//! Set JWT Algorithm, Set JWT Secret, Set Token Expiry, Set Token Expiry
//! Unit, Done; and, for key-pair algorithms, Set JWT Key Pair (generate or
//! import), after Set JWT Secret. Each item's answers become one
//! [`JwtChange`], applied with [`crate::ops::Ops::change_jwt`] like the
//! `tacctl jwt set-*` commands.

use secrecy::{ExposeSecret, SecretSlice};

use crate::jwt::{Algorithm, DEFAULT_RSA_BITS, ExpiryUnit, KeyType, MAX_EXPIRY_VALUE, RSA_BITS};
use crate::ops::{JwtChange, KeyPairSource};

use super::prompt::{Input, Password, PromptError, Prompter, Select};
use super::{Context, Entry, Result, menu, refused, root_credentials};

/// An item of the JWT Settings screen.
#[derive(Debug, Clone, Copy)]
enum Item {
    Algorithm,
    Secret,
    KeyPair,
    Expiry,
    ExpiryUnit,
    Done,
}

/// The JWT Settings screen, as the documentation lists it.
const JWT_SETTINGS: [Entry<Item>; 6] = [
    (Item::Algorithm, "Set JWT Algorithm"),
    (Item::Secret, "Set JWT Secret"),
    (Item::KeyPair, "Set JWT Key Pair"),
    (Item::Expiry, "Set Token Expiry"),
    (Item::ExpiryUnit, "Set Token Expiry Unit"),
    (Item::Done, "Done"),
];

/// JWT Configuration: root credentials, then the JWT Settings screen until Done.
pub(super) fn jwt_configuration(p: &mut dyn Prompter, cx: &Context<'_>) -> Result<()> {
    if !root_credentials(p, cx)? {
        return Ok(());
    }
    loop {
        let v = cx.ops.jwt_view(cx.now())?;
        p.note(&format!(
            "Algorithm {}, token expiry {} {}, active key {}",
            v.algorithm,
            v.expiry_value,
            v.expiry_unit.label(),
            v.kid
        ))?;
        let change = match menu(p, "jwt-settings", "JWT Settings", &JWT_SETTINGS)? {
            Item::Algorithm => Some(ask_algorithm(p, v.algorithm)?),
            Item::Secret => ask_secret(p)?,
            Item::KeyPair => ask_key_pair(p, v.algorithm)?,
            Item::Expiry => Some(ask_expiry(p, v.expiry_value, v.expiry_unit)?),
            Item::ExpiryUnit => Some(ask_expiry_unit(p, v.expiry_unit)?),
            Item::Done => return Ok(()),
        };
        if let Some(change) = change {
            let text = match cx.ops.change_jwt(&change, cx.now()) {
                Ok(s) => change.summary(&s),
                Err(e) => refused(&e),
            };
            p.note(&text)?;
        }
    }
}

/// Set JWT Algorithm: HS512, HS384, HS256, the current one highlighted.
fn ask_algorithm(p: &mut dyn Prompter, current: Algorithm) -> Result<JwtChange> {
    let q = Select::new(
        "jwt-algorithm",
        "Set JWT Algorithm",
        Algorithm::ALL.iter().map(|a| a.as_str()),
    )
    .default(position(&Algorithm::ALL, current));
    Ok(JwtChange::Algorithm(Algorithm::ALL[p.select(&q)?]))
}

/// Set JWT Secret: New Secret and Confirm Secret, hidden. `None` when they
/// differ (reported; nothing changes). The previous key stays accepted for
/// one expiry period, as with `tacctl jwt set-secret`.
fn ask_secret(p: &mut dyn Prompter) -> Result<Option<JwtChange>> {
    let q = Password::new("jwt-secret", "New Secret").confirm("Confirm Secret");
    match p.password(&q) {
        Ok(secret) => Ok(Some(JwtChange::Secret {
            secret: SecretSlice::from(secret.expose_secret().as_bytes().to_vec()),
            revoke_previous: false,
        })),
        Err(e @ PromptError::Mismatch { .. }) => {
            p.note(&refused(&e))?;
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The choices of Set JWT Key Pair.
const KEY_PAIR: [&str; 2] = ["Generate a new key pair", "Import a private key (PEM file)"];

/// Set JWT Key Pair, for a key-pair algorithm: generate one (for RSA, of a
/// chosen size) or import a private key from a PEM file (PKCS#8, PKCS#1 or
/// SEC1). `None` with HMAC configured (reported: a secret is set instead)
/// or a file that cannot be read.
fn ask_key_pair(p: &mut dyn Prompter, algorithm: Algorithm) -> Result<Option<JwtChange>> {
    if algorithm.is_hmac() {
        p.note(&format!(
            "{algorithm} signs with a shared secret: use Set JWT Secret, or choose a key-pair algorithm (RS256 ... EdDSA) in Set JWT Algorithm first"
        ))?;
        return Ok(None);
    }
    let how = p.select(&Select::new("jwt-key-pair", "Set JWT Key Pair", KEY_PAIR))?;
    if how == 0 {
        let rsa_bits = match algorithm.key_type() {
            KeyType::Rsa { .. } => {
                let q = Select::new(
                    "jwt-key-bits",
                    "RSA key size (bits)",
                    RSA_BITS.iter().map(|b| b.to_string()),
                )
                .default(position(&RSA_BITS, DEFAULT_RSA_BITS));
                Some(RSA_BITS[p.select(&q)?])
            }
            _ => None,
        };
        return Ok(Some(JwtChange::KeyPair(KeyPairSource::Generate {
            rsa_bits,
        })));
    }
    let path = p.input(
        &Input::new("jwt-key-file", "Private key file (PEM)").validate(|s| {
            if std::path::Path::new(s.trim()).is_file() {
                Ok(())
            } else {
                Err(format!(
                    "no file at {}; enter the path of a PEM private key",
                    s.trim()
                ))
            }
        }),
    )?;
    match std::fs::read(path.trim()) {
        Ok(bytes) => Ok(Some(JwtChange::KeyPair(KeyPairSource::Import(
            SecretSlice::from(bytes),
        )))),
        Err(e) => {
            p.note(&format!(
                "{} cannot be read: {e}; nothing was changed",
                path.trim()
            ))?;
            Ok(None)
        }
    }
}

/// Set Token Expiry: a whole number of the current unit.
fn ask_expiry(p: &mut dyn Prompter, current: u64, unit: ExpiryUnit) -> Result<JwtChange> {
    let q = Input::new("jwt-expiry", format!("Set Token Expiry ({})", unit.label()))
        .default(current.to_string())
        .validate(expiry_value);
    let text = p.input(&q)?;
    let value = text
        .trim()
        .parse()
        .expect("the validation accepted only whole numbers");
    Ok(JwtChange::Expiry { value, unit: None })
}

/// A token expiry value: a whole number from 1 to [`MAX_EXPIRY_VALUE`].
fn expiry_value(s: &str) -> Result<(), String> {
    match s.trim().parse::<u64>() {
        Ok(v) if (1..=MAX_EXPIRY_VALUE).contains(&v) => Ok(()),
        _ => Err(format!(
            "{:?} is not a token expiry; enter a whole number from 1 to {MAX_EXPIRY_VALUE}",
            s.trim()
        )),
    }
}

/// Set Token Expiry Unit: second(s) to year(s), the current one highlighted.
fn ask_expiry_unit(p: &mut dyn Prompter, current: ExpiryUnit) -> Result<JwtChange> {
    let q = Select::new(
        "jwt-expiry-unit",
        "Set Token Expiry Unit",
        ExpiryUnit::ALL.iter().map(|u| u.label()),
    )
    .default(position(&ExpiryUnit::ALL, current));
    Ok(JwtChange::ExpiryUnit(ExpiryUnit::ALL[p.select(&q)?]))
}

fn position<T: PartialEq>(all: &[T], x: T) -> usize {
    all.iter().position(|a| *a == x).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_expiry_values_are_whole_numbers_in_range() {
        assert!(expiry_value("1").is_ok());
        assert!(expiry_value(" 45 ").is_ok());
        assert!(expiry_value(&MAX_EXPIRY_VALUE.to_string()).is_ok());
        for bad in ["0", "-5", "1.5", "", "ten", "1000001"] {
            let e = expiry_value(bad).unwrap_err();
            assert!(e.contains("enter a whole number from 1 to 1000000"), "{e}");
        }
    }
}
