//! Local users in a bundle: names, roles, API access and Argon2id password
//! hashes, exactly as `config/users.yaml` holds them (the hashes are not
//! secrets that need sealing). An import replaces the whole list.

use std::path::Path;

use super::{Applied, Change, ExportCx, Exported, ImportCx, Part, Planned, Result, Staged};
use crate::bundle::manifest::ComponentEntry;
use crate::component::{self, Stored, Users};
use crate::ops::bundle::ComponentPlan;

/// The users part.
pub struct UsersPart;

/// Where the users travel in a bundle.
const PATH: &str = "components/users.yaml";

impl Part for UsersPart {
    fn name(&self) -> &'static str {
        "users"
    }

    fn label(&self) -> &'static str {
        "Local users"
    }

    fn path(&self) -> &'static str {
        PATH
    }

    fn export(&self, cx: &ExportCx<'_>) -> Result<Exported> {
        let text = component::render(&cx.ops.app.users()?)?;
        Ok(Exported::Text(zeroize::Zeroizing::new(text)))
    }

    fn open(&self, staging: &Path, _entry: &ComponentEntry) -> Result<Staged> {
        super::open_yaml::<Users>(staging, PATH)
    }

    fn plan(&self, staged: &Staged, cx: &ImportCx<'_>) -> Result<Planned> {
        let incoming: &Users = super::staged(staged);
        let cur = cx.ops.app.users()?;
        let mut changes = Vec::new();
        for u in &incoming.users {
            match cur.get(&u.name) {
                None => changes.push(Change {
                    what: "added".into(),
                    detail: format!("{} ({}, API access {})", u.name, u.role, u.api_access),
                }),
                Some(c) if c != u => {
                    let mut what = Vec::new();
                    if c.role != u.role {
                        what.push(format!("role {} -> {}", c.role, u.role));
                    }
                    if c.api_access != u.api_access {
                        what.push(format!("API access {} -> {}", c.api_access, u.api_access));
                    }
                    if c.password_hash != u.password_hash {
                        what.push("password".into());
                    }
                    changes.push(Change {
                        what: "changed".into(),
                        detail: format!("{}: {}", u.name, what.join(", ")),
                    });
                }
                Some(_) => {}
            }
        }
        for c in &cur.users {
            if incoming.get(&c.name).is_none() {
                changes.push(Change {
                    what: "removed".into(),
                    detail: c.name.clone(),
                });
            }
        }
        Ok(ComponentPlan::new(self.name(), changes).into())
    }

    fn apply(&self, staged: &Staged, _plan: &ComponentPlan, _cx: &ImportCx<'_>) -> Result<Applied> {
        super::yaml(Users::FILE, super::staged::<Users>(staged))
    }
}
