//! The external directory, as the server needs it: the [`Directory`] built
//! once per configuration, the lookup a refresh makes, and its errors
//! mapped onto the API's status table. A directory that is down or
//! misconfigured is the appliance's problem, not the client's: 503, with
//! what to do.

use super::ApiError;
use crate::auth::ldap::{Directory, LdapError};
use crate::auth::{Identity, LoginError};

/// The directory of one configuration, or why it cannot be used.
pub type Prepared = Option<Result<Directory, LdapError>>;

fn directory(prepared: &Prepared) -> Result<Option<&Directory>, ApiError> {
    match prepared {
        None => Ok(None),
        Some(Ok(d)) => Ok(Some(d)),
        Some(Err(why)) => Err(ApiError::Unavailable(
            LoginError::DirectoryUnusable(why.clone()).to_string(),
        )),
    }
}

/// A directory's refusal or failure, as the API answers it.
pub fn api_error(e: LdapError) -> ApiError {
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

/// Looks a directory user up without a password (refresh); `Ok(None)` when
/// no directory is configured or the user is gone.
pub async fn lookup(prepared: &Prepared, name: &str) -> Result<Option<Identity>, ApiError> {
    match directory(prepared)? {
        None => Ok(None),
        Some(d) => d.lookup(name).await.map_err(api_error),
    }
}
