//! Logins through the external directory, as the server needs them: the
//! [`Directory`] built once per configuration, and its errors mapped onto
//! the API's status table. A directory that is down or misconfigured is the
//! appliance's problem, not the client's: 503, with what to do.

use secrecy::SecretString;

use super::ApiError;
use crate::auth::Identity;
use crate::auth::ldap::{Directory, LdapError};
use crate::ops::LdapConfig;

/// The directory of one configuration, or why it cannot be used.
pub type Prepared = Option<Result<Directory, String>>;

/// Builds the directory client for a configuration.
pub fn prepare(ldap: Option<&LdapConfig>) -> Prepared {
    ldap.map(|l| {
        Directory::new(l.common.clone(), l.bind_password.clone()).map_err(|e| e.to_string())
    })
}

fn directory(prepared: &Prepared) -> Result<Option<&Directory>, ApiError> {
    match prepared {
        None => Ok(None),
        Some(Ok(d)) => Ok(Some(d)),
        Some(Err(why)) => Err(ApiError::Unavailable(format!(
            "the LDAP settings cannot be used ({why}); fix them with `tacctl ldap set`"
        ))),
    }
}

fn api_error(e: LdapError) -> ApiError {
    match e {
        LdapError::BadCredentials => {
            ApiError::Unauthorized("login failed: wrong user name or password".into())
        }
        e @ LdapError::NoApiAccess { .. } => ApiError::Forbidden(e.to_string()),
        e if e.is_unavailable() => {
            ApiError::Unavailable(format!("{e}; local users can still log in"))
        }
        e => ApiError::Unavailable(format!("the LDAP directory failed: {e}")),
    }
}

/// Checks a directory user's password and groups; `None` when no directory
/// is configured.
pub async fn authenticate(
    prepared: &Prepared,
    name: &str,
    password: &SecretString,
) -> Result<Option<Identity>, ApiError> {
    match directory(prepared)? {
        None => Ok(None),
        Some(d) => d
            .authenticate(name, password)
            .await
            .map(Some)
            .map_err(api_error),
    }
}

/// Looks a directory user up without a password (refresh); `Ok(None)` when
/// no directory is configured or the user is gone.
pub async fn lookup(prepared: &Prepared, name: &str) -> Result<Option<Identity>, ApiError> {
    match directory(prepared)? {
        None => Ok(None),
        Some(d) => d.lookup(name).await.map_err(api_error),
    }
}
