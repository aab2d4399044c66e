//! Typed models of the configuration an appliance stores, one per component,
//! with their validation, their JSON Schema and their scope.
//!
//! Each model is parsed from YAML with unknown fields rejected and then
//! validated, so a hand-edited file gets an error naming the file, the field
//! and what is wrong. This module does no I/O: callers hand it text and a file
//! name for messages. Schemas are generated from these types by
//! [`schemas`] and committed under `schemas/`.

mod cluster;
mod jwt;
mod ldap;
mod network;
mod node;
mod tls;
mod users;

pub use cluster::{Member, Members, check_fingerprint};
pub use jwt::{
    DEFAULT_EXPIRY, DEFAULT_MAX_SESSION_SECONDS, ExportedKey, ExportedRetiredKey, JwtExport,
    JwtSettings, SealedKey, SecretBase64, StoredRetiredKey,
};
pub use ldap::{DEFAULT_LDAP_TIMEOUT_SECONDS, LdapCommon, LdapExport, LdapSettings};
pub use network::{Network, SyslogProtocol, SyslogTarget, check_host};
pub use node::Node;
pub use tls::{TlsExport, TlsSettings, cert_fingerprint, check_key_pem, fingerprint_der};
pub use users::{Role, User, Users};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The version written into every stored YAML file of this tool version.
pub const FORMAT_VERSION: u32 = 1;

/// Whether a component is shared across the cluster or belongs to one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Shared by every member of the cluster.
    Cluster,
    /// Specific to one appliance.
    Node,
}

/// A stored file that could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    /// The YAML does not parse into the model (syntax, unknown or missing field, wrong type).
    #[error("{file}: {message}; fix the file by hand or restore it from a snapshot")]
    Parse {
        /// The file's name, for the message.
        file: String,
        /// The parser's message, naming the field and line.
        message: String,
    },
    /// The YAML parsed but a field holds a value that is not allowed.
    #[error("{file}: field `{field}`: {problem}")]
    Invalid {
        /// The file's name.
        file: String,
        /// The offending field, as a path (`users[2].name`).
        field: String,
        /// What is wrong and what is allowed.
        problem: String,
    },
    /// The file was written by a newer tacctl.
    #[error(
        "{file}: format version {found} is newer than this tacctl understands ({supported}); upgrade tacctl"
    )]
    TooNew {
        /// The file's name.
        file: String,
        /// The version found.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
}

/// A field-level problem found by validation, before a file name is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field path.
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

impl Invalid {
    pub(crate) fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }

    fn in_file(self, file: &str) -> ComponentError {
        ComponentError::Invalid {
            file: file.to_owned(),
            field: self.field,
            problem: self.problem,
        }
    }
}

/// A model that can be stored as a YAML file.
pub trait Stored: Serialize + DeserializeOwned + schemars::JsonSchema {
    /// The file name under the appliance root, also the schema's name.
    const FILE: &'static str;
    /// The model's format version field.
    fn version(&self) -> u32;
    /// Checks every field's value.
    fn validate(&self) -> Result<(), Invalid>;
}

/// Parses and validates a stored file's text; `file` names it in errors.
pub fn parse<T: Stored>(text: &str, file: &str) -> Result<T, ComponentError> {
    let value: T = yaml_serde::from_str(text).map_err(|e| ComponentError::Parse {
        file: file.to_owned(),
        message: e.to_string(),
    })?;
    if value.version() > FORMAT_VERSION {
        return Err(ComponentError::TooNew {
            file: file.to_owned(),
            found: value.version(),
            supported: FORMAT_VERSION,
        });
    }
    value.validate().map_err(|e| e.in_file(file))?;
    Ok(value)
}

/// Serialises a model to YAML after validating it.
pub fn render<T: Stored>(value: &T) -> Result<String, ComponentError> {
    value.validate().map_err(|e| e.in_file(T::FILE))?;
    yaml_serde::to_string(value).map_err(|e| ComponentError::Parse {
        file: T::FILE.to_owned(),
        message: e.to_string(),
    })
}

/// The JSON Schema of every stored component file, as `(schema file name, pretty JSON)`.
pub fn schemas() -> Vec<(String, String)> {
    fn one<T: Stored>() -> (String, String) {
        let name = T::FILE
            .rsplit('/')
            .next()
            .unwrap_or(T::FILE)
            .trim_end_matches(".yaml");
        let name = if T::FILE.starts_with("components/") {
            format!("bundle-{name}")
        } else {
            name.to_owned()
        };
        schema_file::<T>(&name)
    }
    vec![
        one::<Node>(),
        one::<JwtSettings>(),
        one::<Users>(),
        one::<Network>(),
        one::<LdapSettings>(),
        one::<TlsSettings>(),
        one::<Members>(),
        one::<JwtExport>(),
        one::<LdapExport>(),
        one::<TlsExport>(),
    ]
}

/// `(NAME.schema.json, pretty JSON Schema of T)`.
pub fn schema_file<T: schemars::JsonSchema>(name: &str) -> (String, String) {
    let schema = schemars::schema_for!(T);
    let json = serde_json::to_string_pretty(&schema).expect("a schema serialises to JSON");
    (format!("{name}.schema.json"), json + "\n")
}

/// A name for a node, cluster or user: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting with `.` or `-`.
pub fn check_name(field: &str, value: &str) -> Result<(), Invalid> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && !value.starts_with(['.', '-'])
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            field,
            format!(
                "{value:?} is not a valid name: use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-'"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for ok in ["esa1", "ESA-2", "a.b_c", "x"] {
            assert!(check_name("n", ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", ".x", "a b", "a/b", &"x".repeat(65), "é"] {
            assert!(check_name("n", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn committed_schemas_match_the_types() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
        let update = std::env::var_os("TACCTL_UPDATE_SCHEMAS").is_some();
        let mut all = schemas();
        all.push(schema_file::<crate::bundle::manifest::Manifest>(
            "bundle-manifest",
        ));
        all.push(schema_file::<crate::appliance::Journal>("journal"));
        all.push(schema_file::<crate::appliance::SnapshotMeta>("snapshot"));
        all.push(schema_file::<crate::appliance::History>("history"));
        for (name, json) in all {
            let path = dir.join(&name);
            if update {
                std::fs::write(&path, &json).unwrap();
                continue;
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == json,
                "schemas/{name} has drifted from the Rust types; regenerate with TACCTL_UPDATE_SCHEMAS=1 cargo test --lib committed_schemas"
            );
        }
    }
}
