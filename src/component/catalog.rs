//! The components of the Appliance OS Configuration, by name: what the
//! export screen calls each, where it travels inside a bundle and whether it
//! is shared by the cluster or belongs to one node. This is the one list of
//! components; the bundle format checks manifests against it, and each
//! one's adapter in `ops::adapters` does what it needs on export and import.

use serde::Serialize;

use super::Scope;

/// One component a bundle can carry, named as in `-c` and in manifests.
/// Components sort in bundle order, the order of [`Component::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Component {
    /// "Appliances JWT Configuration".
    Jwt,
    /// "Appliances JWT Trust": the public keys of the members whose tokens
    /// this node accepts, in a cluster whose members keep their own key
    /// pairs.
    #[serde(rename = "jwt-trust")]
    JwtTrust,
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

/// A component name that is not one of [`Component::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown component {name:?}; choose from {}",
    Component::ALL.map(Component::name).join(", ")
)]
pub struct UnknownComponent {
    /// The name given.
    pub name: String,
}

impl Component {
    /// Every component, in bundle order.
    pub const ALL: [Component; 7] = [
        Component::Jwt,
        Component::JwtTrust,
        Component::Users,
        Component::Ldap,
        Component::Network,
        Component::Tls,
        Component::Files,
    ];

    /// Every component, in bundle order.
    pub fn all() -> Vec<Component> {
        Self::ALL.to_vec()
    }

    /// The name used in `-c` and manifests.
    pub fn name(self) -> &'static str {
        match self {
            Component::Jwt => "jwt",
            Component::JwtTrust => "jwt-trust",
            Component::Users => "users",
            Component::Ldap => "ldap",
            Component::Network => "network",
            Component::Tls => "tls",
            Component::Files => "files",
        }
    }

    /// What the export screen calls it.
    pub fn label(self) -> &'static str {
        match self {
            Component::Jwt => "Appliances JWT Configuration",
            Component::JwtTrust => "Appliances JWT Trust",
            Component::Users => "Local users",
            Component::Ldap => "LDAP settings",
            Component::Network => "Network settings",
            Component::Tls => "TLS certificate (node-local)",
            Component::Files => "Custom files",
        }
    }

    /// Cluster-wide or node-local.
    pub fn scope(self) -> Scope {
        match self {
            Component::Tls => Scope::Node,
            _ => Scope::Cluster,
        }
    }

    /// Where it travels in a bundle: the one file of a configuration
    /// component, or the directory of the custom files' tree.
    pub fn path(self) -> &'static str {
        match self {
            Component::Jwt => "components/jwt.yaml",
            Component::JwtTrust => "components/jwt-trust.yaml",
            Component::Users => "components/users.yaml",
            Component::Ldap => "components/ldap.yaml",
            Component::Network => "components/network.yaml",
            Component::Tls => "components/tls.yaml",
            Component::Files => FILES_DIR,
        }
    }

    /// The newest version of its file in a bundle this build reads.
    pub fn max_version(self) -> u32 {
        match self {
            Component::Jwt => super::jwt::JWT_KEY_PAIRS_VERSION,
            _ => super::FORMAT_VERSION,
        }
    }

    /// Whether it travels as a tree of files under [`Component::path`] rather
    /// than as one file at it.
    pub fn is_tree(self) -> bool {
        self == Component::Files
    }

    /// The component whose single file travels at `path`, if any.
    pub fn of_file(path: &str) -> Option<Component> {
        Self::ALL
            .into_iter()
            .find(|c| !c.is_tree() && c.path() == path)
    }

    /// Parses a component name.
    pub fn parse(s: &str) -> Result<Component, UnknownComponent> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownComponent { name: s.to_owned() })
    }
}

impl std::fmt::Display for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_paths_and_order_are_distinct_and_parse_back() {
        let mut names: Vec<&str> = Component::ALL.iter().map(|c| c.name()).collect();
        let mut paths: Vec<&str> = Component::ALL.iter().map(|c| c.path()).collect();
        names.dedup();
        paths.sort();
        paths.dedup();
        assert_eq!(names.len(), Component::ALL.len());
        assert_eq!(paths.len(), Component::ALL.len());
        for c in Component::ALL {
            assert_eq!(Component::parse(c.name()).unwrap(), c);
            assert_eq!(serde_json::to_value(c).unwrap(), c.name());
            assert_eq!(Component::of_file(c.path()), (!c.is_tree()).then_some(c));
        }
        assert!(Component::ALL.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Component::Tls.scope(), Scope::Node);
        assert!(Component::parse("nope").is_err());
        assert_eq!(Component::of_file("files/a"), None);
    }
}
