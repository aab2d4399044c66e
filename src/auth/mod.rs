//! Checking credentials: the [`Authenticator`] trait, local users, and the
//! one login rule ([`ApiLogin`]) every way in follows.
//!
//! Local passwords are Argon2id PHC strings (RFC 9106, the argon2 crate's
//! defaults: 19 MiB, 2 passes, 1 lane, as OWASP recommends). An unknown user
//! costs the same as a known one: a dummy hash is checked, so user names
//! cannot be probed by timing. Passwords arrive as [`SecretString`] and are
//! never logged or echoed. Logins through an external LDAP directory are in
//! [`ldap`]; they answer over the network, so the trait is asynchronous, and
//! local users sit behind it as well: checked in place ([`LocalUsers`]) or
//! on tokio's blocking pool ([`PooledUsers`]).
//!
//! The login rule, for the REST API, for this node's part in the
//! cross-node verifier and for `tacctl token issue` alike: the local users
//! first; a name that is not a local user goes to the directory, when one
//! is configured; then the API access check. The root credentials are
//! local administrators only ([`authenticate_admin`]).

pub mod ldap;

use std::future::Future;
use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::PasswordHasher;
use secrecy::{ExposeSecret, SecretString};

use crate::component::{Role, User, Users};
use ldap::{Directory, LdapError};

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

/// Why a login through the login rule was refused or could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The local users refused the credentials, or their check failed.
    #[error(transparent)]
    Local(#[from] AuthError),
    /// The directory refused the credentials, or could not be asked.
    #[error(transparent)]
    Directory(#[from] LdapError),
    /// A directory is configured, but its settings cannot be used (they
    /// failed the checks made before any connection).
    #[error("the LDAP settings cannot be used ({0}); fix them with `tacctl ldap set`")]
    DirectoryUnusable(LdapError),
    /// The password could not be checked now (a busy or stopping server).
    #[error("{0}")]
    Unavailable(String),
}

/// Something that checks a user name and password, possibly over the
/// network.
pub trait Authenticator {
    /// The identity when the credentials are right.
    fn authenticate(
        &self,
        name: &str,
        password: &SecretString,
    ) -> impl Future<Output = Result<Identity, LoginError>> + Send;
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

/// The appliance's local users, checked in place: a check holds its
/// thread for one Argon2id hash.
pub struct LocalUsers<'a>(pub &'a Users);

impl LocalUsers<'_> {
    /// Returns the identity when the password is this local user's.
    pub fn check(&self, name: &str, password: &SecretString) -> Result<Identity, AuthError> {
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

impl Authenticator for LocalUsers<'_> {
    async fn authenticate(
        &self,
        name: &str,
        password: &SecretString,
    ) -> Result<Identity, LoginError> {
        Ok(self.check(name, password)?)
    }
}

/// The local users, checked on tokio's blocking pool: a check takes a core
/// for about 20 ms, which must not hold up the other tasks of the runtime
/// it is awaited on.
pub struct PooledUsers(pub Arc<Users>);

impl Authenticator for PooledUsers {
    async fn authenticate(
        &self,
        name: &str,
        password: &SecretString,
    ) -> Result<Identity, LoginError> {
        let (users, name, password) = (Arc::clone(&self.0), name.to_owned(), password.clone());
        let checked =
            tokio::task::spawn_blocking(move || LocalUsers(&users).check(&name, &password))
                .await
                .map_err(|e| AuthError::Hash(format!("the password check stopped: {e}")))?;
        Ok(checked?)
    }
}

/// The one login rule: the local users first; a name that is not a local
/// user goes to the directory, when one is configured; then the API
/// access check. The local check runs even for a name that is no local
/// user (against a dummy hash), so the two cannot be told apart by time.
pub struct ApiLogin<'a, L> {
    /// The local users, whose names decide who goes to the directory: a
    /// local user's wrong password is never tried there.
    pub users: &'a Users,
    /// How their passwords are checked: [`LocalUsers`] in place,
    /// [`PooledUsers`] on the blocking pool, or a server's limit around it.
    pub local: L,
    /// The directory, when one is configured and enabled, or why its
    /// settings cannot be used.
    pub directory: Option<&'a Result<Directory, LdapError>>,
}

impl<L: Authenticator + Sync> Authenticator for ApiLogin<'_, L> {
    async fn authenticate(
        &self,
        name: &str,
        password: &SecretString,
    ) -> Result<Identity, LoginError> {
        let id = match self.local.authenticate(name, password).await {
            Err(LoginError::Local(AuthError::BadCredentials)) if self.users.get(name).is_none() => {
                match self.directory {
                    None => return Err(AuthError::BadCredentials.into()),
                    Some(Err(unusable)) => {
                        return Err(LoginError::DirectoryUnusable(unusable.clone()));
                    }
                    Some(Ok(directory)) => {
                        Authenticator::authenticate(directory, name, password).await?
                    }
                }
            }
            other => other?,
        };
        if !id.api_access {
            return Err(AuthError::NoApiAccess(id.name).into());
        }
        Ok(id)
    }
}

/// Checks an administrator's credentials (the screens' "root
/// credentials"): local administrators only.
pub fn authenticate_admin(
    users: &LocalUsers<'_>,
    name: &str,
    password: &SecretString,
) -> Result<Identity, AuthError> {
    let id = users.check(name, password)?;
    if id.role != Role::Admin {
        return Err(AuthError::NotAdmin(id.name));
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
        assert_eq!(auth.check("admin", &bad), Err(AuthError::BadCredentials));
        assert_eq!(auth.check("nobody", &good), Err(AuthError::BadCredentials));
        let login = ApiLogin {
            users: &u,
            local: LocalUsers(&u),
            directory: None,
        };
        assert_eq!(
            local_only(api(&login, "bob", &good)),
            Err(AuthError::NoApiAccess("bob".into()))
        );
        assert_eq!(
            authenticate_admin(&auth, "bob", &good),
            Err(AuthError::NotAdmin("bob".into()))
        );
    }

    fn api<L: Authenticator + Sync>(
        login: &ApiLogin<'_, L>,
        name: &str,
        password: &SecretString,
    ) -> Result<Identity, LoginError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(login.authenticate(name, password))
    }

    /// A login's result when it never reached the directory.
    fn local_only(r: Result<Identity, LoginError>) -> Result<Identity, AuthError> {
        r.map_err(|e| match e {
            LoginError::Local(e) => e,
            other => panic!("not a local refusal: {other}"),
        })
    }

    fn unusable() -> Result<Directory, LdapError> {
        Err(LdapError::Config("the user filter is not valid".into()))
    }

    #[test]
    fn the_login_rule_tries_the_directory_only_for_names_that_are_not_local() {
        let u = users();
        let good = SecretString::from("correct horse");
        let bad = SecretString::from("wrong horse");
        let directory = unusable();
        let login = ApiLogin {
            users: &u,
            local: LocalUsers(&u),
            directory: Some(&directory),
        };
        assert_eq!(
            local_only(api(&login, "admin", &good)).unwrap().name,
            "admin"
        );
        // A local user's wrong password is refused here, never tried there.
        assert_eq!(
            local_only(api(&login, "admin", &bad)),
            Err(AuthError::BadCredentials)
        );
        assert_eq!(
            local_only(api(&login, "bob", &good)),
            Err(AuthError::NoApiAccess("bob".into()))
        );
        // Any other name goes to the directory, which cannot be used here.
        let e = api(&login, "carol", &good).unwrap_err();
        assert!(matches!(e, LoginError::DirectoryUnusable(_)), "{e}");
        assert_eq!(
            e.to_string(),
            "the LDAP settings cannot be used (LDAP configuration: the user filter is not valid); fix them with `tacctl ldap set`"
        );
        // Without a directory it is just a wrong name.
        let login = ApiLogin {
            directory: None,
            ..login
        };
        assert_eq!(
            local_only(api(&login, "carol", &good)),
            Err(AuthError::BadCredentials)
        );
    }

    #[test]
    fn pooled_users_check_on_the_blocking_pool() {
        let u = users();
        let login = ApiLogin {
            users: &u,
            local: PooledUsers(Arc::new(u.clone())),
            directory: None,
        };
        let good = SecretString::from("correct horse");
        assert_eq!(
            local_only(api(&login, "admin", &good)).unwrap().role,
            Role::Admin
        );
        assert_eq!(
            local_only(api(&login, "nobody", &good)),
            Err(AuthError::BadCredentials)
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
