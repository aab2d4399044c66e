//! Checking credentials: the [`Authenticator`] trait and local users.
//!
//! Local passwords are Argon2id PHC strings (RFC 9106, the argon2 crate's
//! defaults: 19 MiB, 2 passes, 1 lane, as OWASP recommends). An unknown user
//! costs the same as a known one: a dummy hash is checked, so user names
//! cannot be probed by timing. Passwords arrive as [`SecretString`] and are
//! never logged or echoed. Logins through an external LDAP directory are in
//! [`ldap`]; they are asynchronous, so they sit beside the trait, not behind it.

pub mod ldap;

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::PasswordHasher;
use secrecy::{ExposeSecret, SecretString};

use crate::component::{Role, User, Users};

/// Shortest password accepted for a local user.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Who logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// User name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Whether the user may use the REST API.
    pub api_access: bool,
}

/// Why credentials were not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// Wrong user name or password (deliberately not saying which).
    #[error("authentication failed: wrong user name or password")]
    BadCredentials,
    /// The user exists but lacks API access.
    #[error("user {0:?} has no API access; an administrator can grant it")]
    NoApiAccess(String),
    /// The user is not an administrator, where one is required.
    #[error("user {0:?} is not an administrator; give the credentials of an admin user")]
    NotAdmin(String),
    /// A new password that is too short.
    #[error("the password is too short: use at least {MIN_PASSWORD_LEN} characters")]
    WeakPassword,
    /// The hashing library failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Something that checks a user name and password.
pub trait Authenticator {
    /// Returns the identity when the credentials are right.
    fn authenticate(&self, name: &str, password: &SecretString) -> Result<Identity, AuthError>;
}

/// Hashes a new password as an Argon2id PHC string.
pub fn hash_password(password: &SecretString) -> Result<String, AuthError> {
    if password.expose_secret().chars().count() < MIN_PASSWORD_LEN {
        return Err(AuthError::WeakPassword);
    }
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        Argon2::default()
            .hash_password(b"tacctl-dummy-password-for-timing")
            .map(|h| h.to_string())
            .expect("hashing a constant password succeeds")
    })
}

/// For a server: keeps password checks' working memory from now on, and
/// runs one check against the dummy hash, so that the first login after the
/// server starts costs no more than any other: the dummy hash is made and a
/// password check's working memory is ready in the pool (see
/// [`crate::argon`]).
pub fn warm_up() {
    crate::argon::keep_memory();
    let _ = verify_hash(&SecretString::from("warm-up"), dummy_hash());
}

fn verify_hash(password: &SecretString, phc: &str) -> bool {
    crate::argon::verify(password.expose_secret().as_bytes(), phc)
}

/// The appliance's local users.
pub struct LocalUsers<'a>(pub &'a Users);

impl Authenticator for LocalUsers<'_> {
    fn authenticate(&self, name: &str, password: &SecretString) -> Result<Identity, AuthError> {
        match self.0.get(name) {
            Some(User {
                name,
                role,
                api_access,
                password_hash,
            }) => {
                if verify_hash(password, password_hash) {
                    Ok(Identity {
                        name: name.clone(),
                        role: *role,
                        api_access: *api_access,
                    })
                } else {
                    Err(AuthError::BadCredentials)
                }
            }
            None => {
                let _ = verify_hash(password, dummy_hash());
                Err(AuthError::BadCredentials)
            }
        }
    }
}

/// Checks an administrator's credentials (the screens' "root credentials").
pub fn authenticate_admin(
    auth: &dyn Authenticator,
    name: &str,
    password: &SecretString,
) -> Result<Identity, AuthError> {
    let id = auth.authenticate(name, password)?;
    if id.role != Role::Admin {
        return Err(AuthError::NotAdmin(id.name));
    }
    Ok(id)
}

/// Checks credentials for an API login: right password and API access.
pub fn authenticate_api(
    auth: &dyn Authenticator,
    name: &str,
    password: &SecretString,
) -> Result<Identity, AuthError> {
    let id = auth.authenticate(name, password)?;
    if !id.api_access {
        return Err(AuthError::NoApiAccess(id.name));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Users {
        let pw = SecretString::from("correct horse");
        Users {
            version: 1,
            users: vec![
                User {
                    name: "admin".into(),
                    role: Role::Admin,
                    api_access: true,
                    password_hash: hash_password(&pw).unwrap(),
                },
                User {
                    name: "bob".into(),
                    role: Role::Viewer,
                    api_access: false,
                    password_hash: hash_password(&pw).unwrap(),
                },
            ],
        }
    }

    #[test]
    fn local_users_authenticate_and_checks_apply() {
        let u = users();
        let auth = LocalUsers(&u);
        let good = SecretString::from("correct horse");
        let bad = SecretString::from("wrong horse");
        assert!(u.users[0].password_hash.starts_with("$argon2id$"));
        assert_eq!(
            authenticate_admin(&auth, "admin", &good).unwrap().name,
            "admin"
        );
        assert_eq!(
            auth.authenticate("admin", &bad),
            Err(AuthError::BadCredentials)
        );
        assert_eq!(
            auth.authenticate("nobody", &good),
            Err(AuthError::BadCredentials)
        );
        assert_eq!(
            authenticate_api(&auth, "bob", &good),
            Err(AuthError::NoApiAccess("bob".into()))
        );
        assert_eq!(
            authenticate_admin(&auth, "bob", &good),
            Err(AuthError::NotAdmin("bob".into()))
        );
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let real = hash_password(&SecretString::from("Correct-horse-1")).unwrap();
        let params = |phc: &str| {
            let hash = argon2::PasswordHash::new(phc).unwrap();
            (
                hash.algorithm.to_string(),
                hash.version,
                hash.params.to_string(),
            )
        };
        assert_eq!(params(dummy_hash()), params(&real));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert_eq!(
            hash_password(&SecretString::from("short")),
            Err(AuthError::WeakPassword)
        );
    }
}
