//! `config/ldap.yaml`: the external LDAP directory that logins fall back to
//! (cluster scope). The bind password is sealed under the node master key,
//! like the JWT secret; inside a bundle it travels as [`LdapExport`] with the
//! password itself, protected by the bundle's encryption.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Invalid, SecretBase64, Stored};

/// Seconds allowed for each LDAP operation when not configured.
pub const DEFAULT_LDAP_TIMEOUT_SECONDS: u64 = 5;

/// The settings both forms share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LdapCommon {
    /// Whether logins use the directory.
    pub enabled: bool,
    /// `ldap://host:port` or `ldaps://host:port`.
    pub url: String,
    /// Where users are searched.
    pub base_dn: String,
    /// The search filter, with `{username}` where the (escaped) user name goes.
    pub user_filter: String,
    /// The DN to bind as for searches; anonymous when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_dn: Option<String>,
    /// Members of this group have API access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_access_group: Option<String>,
    /// Members of this group are administrators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_group: Option<String>,
    /// Upgrade `ldap://` with StartTLS.
    #[serde(default)]
    pub starttls: bool,
    /// PEM CA certificates to trust for the directory, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// Seconds allowed for each LDAP operation.
    pub timeout_seconds: u64,
}

impl LdapCommon {
    fn validate(&self, has_password: bool) -> Result<(), Invalid> {
        if !(self.url.starts_with("ldap://") || self.url.starts_with("ldaps://")) {
            return Err(Invalid::new(
                "url",
                format!("{:?} must start with ldap:// or ldaps://", self.url),
            ));
        }
        if self.starttls && self.url.starts_with("ldaps://") {
            return Err(Invalid::new(
                "starttls",
                "StartTLS applies to ldap:// URLs, not ldaps://",
            ));
        }
        if self.base_dn.trim().is_empty() {
            return Err(Invalid::new("base_dn", "must not be empty"));
        }
        if !self.user_filter.contains("{username}")
            || !self.user_filter.starts_with('(')
            || !self.user_filter.ends_with(')')
        {
            return Err(Invalid::new(
                "user_filter",
                format!(
                    "{:?} must be a parenthesised filter containing {{username}}, such as (uid={{username}})",
                    self.user_filter
                ),
            ));
        }
        if self.bind_dn.is_some() != has_password {
            return Err(Invalid::new(
                "bind_password",
                "a bind DN and a bind password go together: give both or neither",
            ));
        }
        if self.timeout_seconds == 0 || self.timeout_seconds > 300 {
            return Err(Invalid::new("timeout_seconds", "must be 1 to 300"));
        }
        if let Some(pem) = &self.ca_pem
            && !pem.contains("-----BEGIN CERTIFICATE-----")
        {
            return Err(Invalid::new("ca_pem", "is not a PEM certificate"));
        }
        Ok(())
    }
}

/// The stored LDAP settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LdapSettings {
    /// Format version of this file.
    pub version: u32,
    /// The settings.
    #[serde(flatten)]
    pub common: LdapCommon,
    /// The bind password sealed under the node master key (`v1.`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_password_sealed: Option<String>,
}

impl Stored for LdapSettings {
    const FILE: &'static str = "config/ldap.yaml";
    fn version(&self) -> u32 {
        self.version
    }
    fn validate(&self) -> Result<(), Invalid> {
        if let Some(s) = &self.bind_password_sealed
            && !s.starts_with("v1.")
        {
            return Err(Invalid::new(
                "bind_password_sealed",
                "is not a sealed value; set the password with `tacctl ldap set --bind-password-file`",
            ));
        }
        self.common.validate(self.bind_password_sealed.is_some())
    }
}

/// `components/ldap.yaml` inside a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LdapExport {
    /// Component version.
    pub version: u32,
    /// The settings.
    #[serde(flatten)]
    pub common: LdapCommon,
    /// The bind password, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_password: Option<SecretBase64>,
}

impl Stored for LdapExport {
    const FILE: &'static str = "components/ldap.yaml";
    fn version(&self) -> u32 {
        self.version
    }
    fn validate(&self) -> Result<(), Invalid> {
        if let Some(p) = &self.bind_password
            && p.decode().is_none()
        {
            return Err(Invalid::new("bind_password", "is not base64"));
        }
        self.common.validate(self.bind_password.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    const GOOD: &str = "version: 1\nenabled: true\nurl: ldap://127.0.0.1:3890\nbase_dn: dc=example,dc=org\nuser_filter: (uid={username})\ntimeout_seconds: 5\n";

    #[test]
    fn good_settings_parse_and_bad_ones_name_the_field() {
        let s: LdapSettings = parse(GOOD, "config/ldap.yaml").unwrap();
        assert!(s.common.enabled);
        for (from, to, field) in [
            ("ldap://", "http://", "url"),
            ("(uid={username})", "uid=x", "user_filter"),
            (
                "timeout_seconds: 5",
                "timeout_seconds: 0",
                "timeout_seconds",
            ),
        ] {
            let err =
                parse::<LdapSettings>(&GOOD.replace(from, to), "config/ldap.yaml").unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        }
        let with_dn = GOOD.replace(
            "timeout_seconds: 5",
            "timeout_seconds: 5\nbind_dn: cn=svc,dc=example,dc=org",
        );
        assert!(
            parse::<LdapSettings>(&with_dn, "l")
                .unwrap_err()
                .to_string()
                .contains("bind_password")
        );
        assert!(
            parse::<LdapSettings>(&GOOD.replace("enabled: true", "enabled: true\nfoo: 1"), "l")
                .is_err()
        );
    }
}
