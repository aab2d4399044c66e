//! `config/users.yaml`: local users with Argon2id password hashes, roles and
//! the API-access permission that login checks. Cluster scope.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Invalid, Stored, check_name};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Full control, including JWT configuration ("root credentials").
    Admin,
    /// Operates the appliance.
    Operator,
    /// Reads only.
    Viewer,
}

impl Role {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "viewer" => Ok(Role::Viewer),
            _ => Err(format!("unknown role {s:?}; use admin, operator or viewer")),
        }
    }
}

/// One local user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Whether the user may obtain tokens for the REST API.
    pub api_access: bool,
    /// Argon2id PHC string.
    pub password_hash: String,
}

/// All local users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Users {
    /// Format version of this file.
    pub version: u32,
    /// The users, in the order they were added.
    #[serde(default)]
    pub users: Vec<User>,
}

impl Users {
    /// The user called `name`.
    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The user called `name`, mutable.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut User> {
        self.users.iter_mut().find(|u| u.name == name)
    }

    /// How many administrators there are.
    pub fn admin_count(&self) -> usize {
        self.users.iter().filter(|u| u.role == Role::Admin).count()
    }
}

impl Stored for Users {
    const FILE: &'static str = "config/users.yaml";
    fn version(&self) -> u32 {
        self.version
    }
    fn validate(&self) -> Result<(), Invalid> {
        let mut seen = std::collections::HashSet::new();
        for (i, u) in self.users.iter().enumerate() {
            check_name(&format!("users[{i}].name"), &u.name)?;
            if !seen.insert(u.name.as_str()) {
                return Err(Invalid::new(
                    format!("users[{i}].name"),
                    format!("{:?} appears twice", u.name),
                ));
            }
            if !u.password_hash.starts_with("$argon2id$") {
                return Err(Invalid::new(
                    format!("users[{i}].password_hash"),
                    "is not an Argon2id PHC string; set the password with `tacctl user passwd`",
                ));
            }
        }
        if self.admin_count() == 0 {
            return Err(Invalid::new("users", "there must be at least one admin"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ComponentError, parse};
    use super::*;

    const GOOD: &str = "version: 1\nusers:\n- name: admin\n  role: admin\n  api_access: true\n  password_hash: $argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA\n";

    #[test]
    fn a_good_file_parses() {
        let u: Users = parse(GOOD, "users.yaml").unwrap();
        assert_eq!(u.get("admin").unwrap().role, Role::Admin);
    }

    #[test]
    fn unknown_fields_are_named_with_the_file() {
        let bad = GOOD.replace("api_access: true", "api_access: true\n  shell: /bin/sh");
        let err = parse::<Users>(&bad, "config/users.yaml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("config/users.yaml:"), "{msg}");
        assert!(msg.contains("unknown field `shell`"), "{msg}");
    }

    #[test]
    fn bad_values_name_the_field() {
        let bad = GOOD.replace("role: admin", "role: root");
        assert!(
            parse::<Users>(&bad, "u")
                .unwrap_err()
                .to_string()
                .contains("role")
        );
        let bad = GOOD.replace("name: admin", "name: 'a b'");
        let err = parse::<Users>(&bad, "u").unwrap_err();
        assert!(
            matches!(&err, ComponentError::Invalid { field, .. } if field == "users[0].name"),
            "{err}"
        );
    }

    #[test]
    fn newer_versions_are_refused() {
        let bad = GOOD.replace("version: 1", "version: 9");
        assert!(matches!(
            parse::<Users>(&bad, "u"),
            Err(ComponentError::TooNew { found: 9, .. })
        ));
    }
}
