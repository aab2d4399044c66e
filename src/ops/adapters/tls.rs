//! The API server's certificate and key in a bundle, the key itself
//! (base64 of its PEM) where the appliance stores it sealed. Node-local: it
//! goes only into full backups (or with `--include-node-local`), and an
//! import applies it only on the node it came from (or with
//! `--include-node-local`), sealing the key under this node's master key.

use super::{Adapter, Applied, Change, ExportCx, Exported, ImportCx, Incoming, Planned, Result};
use crate::bundle::{ComponentPlan, Opened};
use crate::component::{self, Component, SecretBase64, Stored, TlsExport, TlsSettings};
use crate::ops::OpsError;

/// The tls component's adapter.
pub struct Tls;

/// The certificate and key a bundle carries.
struct IncomingTls(TlsExport);

impl Adapter for Tls {
    fn export(&self, cx: &ExportCx<'_>) -> Result<Exported> {
        if !cx.include_node_local {
            return Err(OpsError::Invalid(
                "tls is node-local: it goes only into full backups (--all) or with --include-node-local".into(),
            ));
        }
        let Some(t) = cx.ops.app.tls()? else {
            return Err(OpsError::Invalid(
                "no TLS certificate is installed; install one with `tacctl tls set` or leave tls out of -c".into(),
            ));
        };
        let key = cx.ops.app.open_tls_key(&t.key_sealed)?;
        let text = component::render(&TlsExport {
            version: component::FORMAT_VERSION,
            cert_pem: t.cert_pem,
            key: SecretBase64::encode(&key),
        })?;
        Ok(Exported::Text(zeroize::Zeroizing::new(text)))
    }

    fn open(&self, opened: &Opened) -> Result<Box<dyn Incoming>> {
        Ok(Box::new(IncomingTls(super::open_yaml(
            opened,
            Component::Tls,
        )?)))
    }
}

impl Incoming for IncomingTls {
    fn plan(&self, cx: &ImportCx<'_>) -> Result<Planned> {
        let incoming = &self.0;
        let cur = cx.ops.app.tls()?;
        let invalid = |e: component::Invalid| OpsError::Invalid(e.problem);
        let new_fp = component::cert_fingerprint(&incoming.cert_pem).map_err(invalid)?;
        let cur_fp = cur
            .as_ref()
            .map(|t| component::cert_fingerprint(&t.cert_pem).map_err(invalid))
            .transpose()?;
        let mut changes = Vec::new();
        if cur_fp.as_deref() != Some(new_fp.as_str()) {
            if cx.node_local_applies()? {
                changes.push(Change {
                    what: if cur.is_some() { "changed" } else { "added" }.into(),
                    detail: format!(
                        "certificate {} -> {new_fp}",
                        cur_fp.unwrap_or_else(|| "none".into())
                    ),
                });
            } else {
                changes.push(Change {
                    what: "skipped".into(),
                    detail: "certificate (node-local, from another node): pass --include-node-local to apply it".into(),
                });
            }
        }
        let applies = changes.iter().any(|c| c.what != "skipped");
        let mut plan = ComponentPlan::new(Component::Tls.name(), changes);
        if !applies {
            plan.status = "unchanged".into();
        }
        Ok(plan.into())
    }

    fn apply(&self, _plan: &ComponentPlan, cx: &ImportCx<'_>) -> Result<Applied> {
        if !cx.node_local_applies()? {
            return Ok(Applied::default());
        }
        let incoming = &self.0;
        let key = incoming
            .key
            .decode()
            .ok_or_else(|| OpsError::Invalid("the bundled TLS key is not base64".into()))?;
        super::yaml(
            TlsSettings::FILE,
            &TlsSettings {
                version: component::FORMAT_VERSION,
                cert_pem: incoming.cert_pem.clone(),
                key_sealed: cx.ops.app.seal_tls_key(&key)?,
            },
        )
    }
}
