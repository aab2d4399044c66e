//! External LDAP settings in a bundle, the bind password itself (base64)
//! where the appliance stores it sealed; an import seals it under this
//! node's master key. A node without LDAP configured has nothing to export.

use super::{Adapter, Applied, Change, ExportCx, Exported, ImportCx, Incoming, Planned, Result};
use crate::bundle::{ComponentPlan, Opened};
use crate::component::{self, Component, LdapExport, LdapSettings, SecretBase64, Stored};

/// The ldap component's adapter.
pub struct Ldap;

/// The LDAP settings a bundle carries.
struct IncomingLdap(LdapExport);

impl Adapter for Ldap {
    fn export(&self, cx: &ExportCx<'_>) -> Result<Exported> {
        let app = &cx.ops.app;
        let Some(l) = app.ldap()? else {
            return Err(crate::ops::OpsError::Invalid(
                "LDAP is not configured on this appliance; configure it with `tacctl ldap set` or leave ldap out of -c".into(),
            ));
        };
        let bind_password = l
            .bind_password_sealed
            .as_deref()
            .map(|s| app.open_ldap_password(s).map(|p| SecretBase64::encode(&p)))
            .transpose()?;
        let text = component::render(&LdapExport {
            version: component::FORMAT_VERSION,
            common: l.common,
            bind_password,
        })?;
        Ok(Exported::Text(zeroize::Zeroizing::new(text)))
    }

    fn open(&self, opened: &Opened) -> Result<Box<dyn Incoming>> {
        Ok(Box::new(IncomingLdap(super::open_yaml(
            opened,
            Component::Ldap,
        )?)))
    }
}

impl Incoming for IncomingLdap {
    fn plan(&self, cx: &ImportCx<'_>) -> Result<Planned> {
        let incoming = &self.0;
        let mut changes = Vec::new();
        match cx.ops.app.ldap()? {
            None => changes.push(Change {
                what: "added".into(),
                detail: format!("{} (base {})", incoming.common.url, incoming.common.base_dn),
            }),
            Some(c) => {
                let a = serde_json::to_value(&c.common).expect("settings serialise");
                let b = serde_json::to_value(&incoming.common).expect("settings serialise");
                if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
                    for (k, v) in b {
                        if a.get(k) != Some(v) {
                            changes.push(Change {
                                what: "changed".into(),
                                detail: format!(
                                    "{k}: {} -> {v}",
                                    a.get(k).cloned().unwrap_or_default()
                                ),
                            });
                        }
                    }
                    for k in a.keys().filter(|k| !b.contains_key(*k)) {
                        changes.push(Change {
                            what: "removed".into(),
                            detail: k.clone(),
                        });
                    }
                }
                let old_pw = c
                    .bind_password_sealed
                    .as_deref()
                    .map(|s| cx.ops.app.open_ldap_password(s))
                    .transpose()?;
                let new_pw = incoming.bind_password.as_ref().and_then(|p| p.decode());
                if old_pw.as_deref().map(|p| &p[..]) != new_pw.as_deref().map(|p| &p[..]) {
                    changes.push(Change {
                        what: "changed".into(),
                        detail: "bind password".into(),
                    });
                }
            }
        }
        Ok(ComponentPlan::new(Component::Ldap.name(), changes).into())
    }

    fn apply(&self, _plan: &ComponentPlan, cx: &ImportCx<'_>) -> Result<Applied> {
        let incoming = &self.0;
        let sealed = incoming
            .bind_password
            .as_ref()
            .and_then(|p| p.decode())
            .map(|p| cx.ops.app.seal_ldap_password(&p))
            .transpose()?;
        super::yaml(
            LdapSettings::FILE,
            &LdapSettings {
                version: component::FORMAT_VERSION,
                common: incoming.common.clone(),
                bind_password_sealed: sealed,
            },
        )
    }
}
