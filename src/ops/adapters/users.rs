//! Local users in a bundle: names, roles, API access and Argon2id password
//! hashes, exactly as `config/users.yaml` holds them (the hashes are not
//! secrets that need sealing). An import replaces the whole list.

use super::{Adapter, Applied, Change, ExportCx, Exported, ImportCx, Incoming, Planned, Result};
use crate::bundle::{ComponentPlan, Opened};
use crate::component::{self, Component, Stored};

/// The users component's adapter.
pub struct Users;

impl Adapter for Users {
    fn export(&self, cx: &ExportCx<'_>) -> Result<Exported> {
        let text = component::render(&cx.ops.app.users()?)?;
        Ok(Exported::Text(zeroize::Zeroizing::new(text)))
    }

    fn open(&self, opened: &Opened) -> Result<Box<dyn Incoming>> {
        Ok(Box::new(IncomingUsers(super::open_yaml(
            opened,
            Component::Users,
        )?)))
    }
}

/// The users a bundle carries.
struct IncomingUsers(component::Users);

impl Incoming for IncomingUsers {
    fn plan(&self, cx: &ImportCx<'_>) -> Result<Planned> {
        let incoming = &self.0;
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
        Ok(ComponentPlan::new(Component::Users.name(), changes).into())
    }

    fn apply(&self, _plan: &ComponentPlan, _cx: &ImportCx<'_>) -> Result<Applied> {
        super::yaml(component::Users::FILE, &self.0)
    }
}
