//! What an import would change, component by component, as `import`,
//! `import --dry-run`, the wizards and the REST API show it, and what it
//! did. Plain values: the `ops` layer builds them, the command line prints
//! them and the API sends them as JSON (schemas/openapi.yaml).

use serde::{Deserialize, Serialize};

use super::manifest::Source;

/// One line of a plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Change {
    /// `added`, `changed`, `removed`.
    pub what: String,
    /// The item and values (secrets as fingerprints).
    pub detail: String,
}

/// What an import would do to one component.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ComponentPlan {
    /// Component name.
    pub component: String,
    /// `unchanged` when there is nothing to do.
    pub status: String,
    /// The changes.
    pub changes: Vec<Change>,
}

impl ComponentPlan {
    pub(crate) fn new(component: &str, changes: Vec<Change>) -> Self {
        let status = if changes.is_empty() {
            "unchanged"
        } else {
            "changed"
        };
        Self {
            component: component.to_owned(),
            status: status.to_owned(),
            changes,
        }
    }
}

/// What an import would do.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Plan {
    /// Where the bundle came from.
    pub source: Source,
    /// When it was made.
    pub created_at: u64,
    /// Per component.
    pub components: Vec<ComponentPlan>,
    /// Live sessions the change of key would end.
    pub sessions_ended: String,
}

/// The most changes a printed plan shows for one component; the rest are
/// counted by kind. A tree of custom files may bring 100,000 files, and a
/// plan that scrolls past them all hides what matters; the plan in JSON
/// lists every change.
pub const PLAN_LINES_PER_COMPONENT: usize = 25;

/// The plan as `import` and `import --dry-run` print it, and the wizards
/// show it: at most [`PLAN_LINES_PER_COMPONENT`] changes per component.
impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Import plan: bundle from {} (cluster {}), made {}",
            self.source.name,
            self.source.cluster_id,
            rfc3339(self.created_at)
        )?;
        for c in &self.components {
            writeln!(f, "  {}: {}", c.component, c.status)?;
            for ch in c.changes.iter().take(PLAN_LINES_PER_COMPONENT) {
                writeln!(f, "    {} {}", ch.what, ch.detail)?;
            }
            let rest = c
                .changes
                .get(PLAN_LINES_PER_COMPONENT..)
                .unwrap_or_default();
            if !rest.is_empty() {
                // Counted in the order the kinds first appear.
                let mut kinds: Vec<(&str, usize)> = Vec::new();
                for ch in rest {
                    match kinds.iter_mut().find(|(k, _)| *k == ch.what) {
                        Some((_, n)) => *n += 1,
                        None => kinds.push((&ch.what, 1)),
                    }
                }
                let counts: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
                writeln!(
                    f,
                    "    ... and {} more: {} (the plan in JSON lists them all: `tacctl import FILE --dry-run --json`, or the API's dry_run=true)",
                    rest.len(),
                    counts.join(", ")
                )?;
            }
        }
        writeln!(f, "  live sessions ended: {}", self.sessions_ended)
    }
}

impl Plan {
    /// Whether anything changes.
    pub fn is_noop(&self) -> bool {
        self.components
            .iter()
            .all(|c| c.changes.iter().all(|ch| ch.what == "skipped"))
    }
}

/// The outcome of an import.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportOutcome {
    /// `applied` or `unchanged`.
    pub outcome: String,
    /// The snapshot taken before applying.
    pub snapshot: Option<String>,
    /// The active key fingerprint after the import.
    pub jwt_kid: String,
    /// What went wrong after the commit point: the import is applied, and
    /// each says what to do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The outcome as `import` prints it, with the way to undo it.
impl std::fmt::Display for ImportOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.snapshot {
            Some(s) => {
                write!(
                    f,
                    "Imported: {}; active JWT key {}. Undo with `tacctl rollback {s}`.",
                    self.outcome, self.jwt_kid
                )?;
                for w in &self.warnings {
                    write!(f, "\nwarning: {w}")?;
                }
                Ok(())
            }
            None => write!(
                f,
                "Nothing to change: this appliance already has that configuration."
            ),
        }
    }
}

/// A Unix time as RFC 3339 in UTC, to the second.
fn rfc3339(t: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t))
        .to_string()
}
