//! The API server's certificate and key in a bundle, the key itself
//! (base64 of its PEM) where the appliance stores it sealed. Node-local: it
//! goes only into full backups (or with `--include-node-local`), and an
//! import applies it only on the node it came from (or with
//! `--include-node-local`), sealing the key under this node's master key.

use std::path::Path;

use super::{Applied, Change, ExportCx, Exported, ImportCx, Part, Planned, Result, Staged};
use crate::bundle::manifest::ComponentEntry;
use crate::component::{self, Scope, SecretBase64, Stored, TlsExport, TlsSettings};
use crate::ops::OpsError;
use crate::ops::bundle::ComponentPlan;

/// The tls part.
pub struct Tls;

impl Part for Tls {
    fn name(&self) -> &'static str {
        "tls"
    }

    fn label(&self) -> &'static str {
        "TLS certificate (node-local)"
    }

    fn path(&self) -> &'static str {
        TlsExport::FILE
    }

    fn scope(&self) -> Scope {
        Scope::Node
    }

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

    fn open(&self, staging: &Path, _entry: &ComponentEntry) -> Result<Staged> {
        super::open_yaml::<TlsExport>(staging, self.path())
    }

    fn plan(&self, staged: &Staged, cx: &ImportCx<'_>) -> Result<Planned> {
        let incoming: &TlsExport = super::staged(staged);
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
        let mut plan = ComponentPlan::new(self.name(), changes);
        if !applies {
            plan.status = "unchanged".into();
        }
        Ok(plan.into())
    }

    fn apply(&self, staged: &Staged, _plan: &ComponentPlan, cx: &ImportCx<'_>) -> Result<Applied> {
        if !cx.node_local_applies()? {
            return Ok(Applied::default());
        }
        let incoming: &TlsExport = super::staged(staged);
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
