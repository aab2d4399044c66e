//! The components of the Appliance OS Configuration, by name: what the
//! export screen calls each, where it travels inside a bundle and whether it
//! is shared by the cluster or belongs to one node. This is the one list of
//! components; the bundle format checks manifests against it, and
//! `ops::parts` holds what each one does on export and import.

use serde::Serialize;

use super::Scope;

/// One component a bundle can carry, named as in `-c` and in manifests.
/// Components sort in bundle order, the order of [`Kind::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// "Appliances JWT Configuration".
    Jwt,
    /// Local users, their password hashes, roles and API access.
    Users,
    /// External LDAP settings, the bind password included.
    Ldap,
    /// DNS, NTP, syslog; and the host name, which is node-local.
    Network,
    /// The API server's certificate and key: node-local.
    Tls,
    /// Custom files: everything under the appliance's `files/` directory.
    Files,
}

/// The directory of custom files, under the appliance root and in bundles.
pub const FILES_DIR: &str = "files";

/// A component name that is not one of [`Kind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown component {name:?}; choose from {}",
    Kind::ALL.map(Kind::name).join(", ")
)]
pub struct UnknownKind {
    /// The name given.
    pub name: String,
}

impl Kind {
    /// Every component, in bundle order.
    pub const ALL: [Kind; 6] = [
        Kind::Jwt,
        Kind::Users,
        Kind::Ldap,
        Kind::Network,
        Kind::Tls,
        Kind::Files,
    ];

    /// Every component, in bundle order.
    pub fn all() -> Vec<Kind> {
        Self::ALL.to_vec()
    }

    /// The name used in `-c` and manifests.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Jwt => "jwt",
            Kind::Users => "users",
            Kind::Ldap => "ldap",
            Kind::Network => "network",
            Kind::Tls => "tls",
            Kind::Files => "files",
        }
    }

    /// What the export screen calls it.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Jwt => "Appliances JWT Configuration",
            Kind::Users => "Local users",
            Kind::Ldap => "LDAP settings",
            Kind::Network => "Network settings",
            Kind::Tls => "TLS certificate (node-local)",
            Kind::Files => "Custom files",
        }
    }

    /// Cluster-wide or node-local.
    pub fn scope(self) -> Scope {
        match self {
            Kind::Tls => Scope::Node,
            _ => Scope::Cluster,
        }
    }

    /// Where it travels in a bundle: the one file of a configuration
    /// component, or the directory of the custom files' tree.
    pub fn path(self) -> &'static str {
        match self {
            Kind::Jwt => "components/jwt.yaml",
            Kind::Users => "components/users.yaml",
            Kind::Ldap => "components/ldap.yaml",
            Kind::Network => "components/network.yaml",
            Kind::Tls => "components/tls.yaml",
            Kind::Files => FILES_DIR,
        }
    }

    /// Whether it travels as a tree of files under [`Kind::path`] rather
    /// than as one file at it.
    pub fn is_tree(self) -> bool {
        self == Kind::Files
    }

    /// The component whose single file travels at `path`, if any.
    pub fn of_file(path: &str) -> Option<Kind> {
        Self::ALL
            .into_iter()
            .find(|k| !k.is_tree() && k.path() == path)
    }

    /// Parses a component name.
    pub fn parse(s: &str) -> Result<Kind, UnknownKind> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownKind { name: s.to_owned() })
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_paths_and_order_are_distinct_and_parse_back() {
        let mut names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        let mut paths: Vec<&str> = Kind::ALL.iter().map(|k| k.path()).collect();
        names.dedup();
        paths.sort();
        paths.dedup();
        assert_eq!(names.len(), Kind::ALL.len());
        assert_eq!(paths.len(), Kind::ALL.len());
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.name()).unwrap(), k);
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
            assert_eq!(Kind::of_file(k.path()), (!k.is_tree()).then_some(k));
        }
        assert!(Kind::ALL.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Kind::Tls.scope(), Scope::Node);
        assert!(Kind::parse("nope").is_err());
        assert_eq!(Kind::of_file("files/a"), None);
    }
}
