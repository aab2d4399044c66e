//! Logins through the external directory, as the server needs them.

use secrecy::SecretString;

use super::ApiError;
use crate::auth::Identity;
use crate::ops::LdapConfig;

/// Checks a directory user's password and groups.
pub async fn authenticate(
    _ldap: &LdapConfig,
    _name: &str,
    _password: &SecretString,
) -> Result<Identity, ApiError> {
    Err(ApiError::Unavailable(
        "LDAP logins are not available in this build".into(),
    ))
}

/// Looks a directory user up without a password (refresh).
pub async fn lookup(_ldap: &LdapConfig, _name: &str) -> Result<Option<Identity>, ApiError> {
    Err(ApiError::Unavailable(
        "LDAP logins are not available in this build".into(),
    ))
}
