//! Typed models of the configuration an appliance stores, one per component,
//! with their validation, their JSON Schema and their scope.
//!
//! Each model is parsed from YAML with unknown fields rejected and then
//! validated, so a hand-edited file gets an error naming the file, the field
//! and what is wrong. This module does no I/O: callers hand it text and a file
//! name for messages. Schemas are generated from these types by
//! [`schemas`] and committed under `schemas/`.

mod catalog;
mod cluster;
mod cluster_store;
mod jwt;
mod ldap;
mod member_key;
mod network;
mod node;
mod tls;
mod trust;
mod users;

pub use catalog::{Component, FILES_DIR, UnknownComponent};
pub use cluster::{Member, Members, check_fingerprint, check_signer};
pub use cluster_store::{ClusterStore, StoreKind};
pub use jwt::{
    DEFAULT_EXPIRY, DEFAULT_MAX_SESSION_SECONDS, ExportedKey, ExportedRetiredKey, JwtExport,
    JwtSettings, SealedKey, SecretBase64, StoredRetiredKey,
};
pub use ldap::{DEFAULT_LDAP_TIMEOUT_SECONDS, LdapCommon, LdapExport, LdapSettings};
pub use member_key::MemberKey;
pub use network::{Network, SyslogProtocol, SyslogTarget, check_host};
pub use node::Node;
pub use tls::{TlsExport, TlsSettings, cert_fingerprint, check_key_pem, fingerprint_der};
pub use trust::{JwtTrust, TrustedJwk, TrustedMember, own_keys};
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
    /// The file was cut short: written by a tacctl that ends its files
    /// with the YAML document end marker, and that marker is missing.
    #[error(
        "{file} is not whole: it does not end with the line \"...\" that tacctl ends it with, so it was cut short (a full disk, or another program); restore it from a snapshot (`tacctl rollback --list`) or a backup"
    )]
    NotWhole {
        /// The file's name.
        file: String,
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
    /// The newest format version of this file this build reads.
    const MAX_VERSION: u32 = FORMAT_VERSION;
    /// The model's format version field.
    fn version(&self) -> u32;
    /// The version this value is written with: the oldest that can say
    /// what it holds, so that older tacctl versions keep reading what they
    /// can, and tell "upgrade" for what they cannot.
    fn version_needed(&self) -> u32 {
        FORMAT_VERSION
    }
    /// Checks every field's value.
    fn validate(&self) -> Result<(), Invalid>;
}

/// The first line of every YAML file this tacctl writes. A file that
/// starts with it must end with the YAML document end marker [`END`]:
/// that tells a file cut short, which may still parse, from a whole one.
/// Files written by tacctl 0.1 have neither and are read as they are.
const HEADER: &str = "# tacctl: this file ends with the line \"...\"; keep it when editing";
/// The YAML document end marker, the last line of every file tacctl writes.
const END: &str = "...";

/// `yaml` as tacctl writes it to disk: the header line, the document,
/// and the end marker, so a reader can tell that the file is whole
/// ([`check_whole`]). `file` is unused but names what is marked.
pub fn mark_whole(yaml: &str, _file: &str) -> String {
    let mut out = String::with_capacity(HEADER.len() + yaml.len() + 8);
    out.push_str(HEADER);
    out.push('\n');
    out.push_str(yaml);
    if !yaml.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

/// Refuses a file that [`mark_whole`] marked and that lost its end marker.
pub fn check_whole(text: &str, file: &str) -> Result<(), ComponentError> {
    if !text.starts_with(HEADER) {
        return Ok(());
    }
    let last = text
        .trim_end_matches(['\n', '\r', ' ', '\t'])
        .rsplit('\n')
        .next();
    if last.map(str::trim_end) != Some(END) {
        return Err(ComponentError::NotWhole {
            file: file.to_owned(),
        });
    }
    Ok(())
}

/// Parses and validates a stored file's text; `file` names it in errors.
pub fn parse<T: Stored>(text: &str, file: &str) -> Result<T, ComponentError> {
    check_whole(text, file)?;
    let value: T = yaml_serde::from_str(text).map_err(|e| ComponentError::Parse {
        file: file.to_owned(),
        message: e.to_string(),
    })?;
    if value.version() == 0 {
        return Err(ComponentError::Invalid {
            file: file.to_owned(),
            field: "version".into(),
            problem: "0 is not a version any tacctl writes; the first is 1".into(),
        });
    }
    if value.version() > T::MAX_VERSION {
        return Err(ComponentError::TooNew {
            file: file.to_owned(),
            found: value.version(),
            supported: T::MAX_VERSION,
        });
    }
    value.validate().map_err(|e| e.in_file(file))?;
    Ok(value)
}

/// Serialises a model to YAML after validating it, with the version it
/// needs ([`Stored::version_needed`]), marked whole ([`mark_whole`]).
pub fn render<T: Stored>(value: &T) -> Result<String, ComponentError> {
    value.validate().map_err(|e| e.in_file(T::FILE))?;
    // Some models carry secrets: every intermediate text is wiped.
    let yaml = zeroize::Zeroizing::new(yaml_serde::to_string(value).map_err(|e| {
        ComponentError::Parse {
            file: T::FILE.to_owned(),
            message: e.to_string(),
        }
    })?);
    // Every model's first field is its version, so the first line says it;
    // it is patched in the text.
    let needed = value.version_needed();
    if needed == value.version() {
        return Ok(mark_whole(&yaml, T::FILE));
    }
    let written = format!("version: {}\n", value.version());
    let rest = yaml
        .strip_prefix(&written)
        .expect("every model's first field is its version");
    let mut patched = zeroize::Zeroizing::new(String::with_capacity(yaml.len() + 8));
    patched.push_str(&format!("version: {needed}\n"));
    patched.push_str(rest);
    Ok(mark_whole(&patched, T::FILE))
}

/// The `version` of a YAML file's text, when it has one.
pub fn version_of(text: &str) -> Option<u32> {
    #[derive(serde::Deserialize)]
    struct Versioned {
        version: u32,
    }
    yaml_serde::from_str::<Versioned>(text)
        .ok()
        .map(|v| v.version)
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
        one::<JwtTrust>(),
        one::<MemberKey>(),
        one::<ClusterStore>(),
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
}
