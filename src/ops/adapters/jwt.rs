//! The "Appliances JWT Configuration" in a bundle: the algorithm, expiry,
//! maximum session and keys, each key's secret itself (base64) where the
//! appliance stores it sealed. An import seals every key under this node's
//! master key and keeps this node's current key accepted for one expiry
//! period, so no live session is cut off.
//!
//! The bundle's proof token was checked by the reader, against the keys the
//! bundle carries, before anything can be planned or applied
//! ([`crate::bundle::proof`]). A JWT configuration is imported
//! only into the cluster it belongs to: tokens carry their cluster as
//! issuer, so another cluster's keys would sign tokens no member accepts.

use super::{Adapter, Applied, ExportCx, Exported, ImportCx, Incoming, Planned, Result};
use crate::bundle::{ComponentPlan, Opened};
use crate::component::{
    self, Component, ExportedKey, ExportedRetiredKey, JwtExport, JwtSettings, SealedKey,
    SecretBase64, Stored, StoredRetiredKey,
};
use crate::jwt::JwtKey;
use crate::ops::{Ops, OpsError};

/// The jwt component's adapter.
pub struct Jwt;

/// The JWT configuration a bundle carries, its proof token checked.
struct IncomingJwt(JwtExport);

impl Adapter for Jwt {
    fn export(&self, cx: &ExportCx<'_>) -> Result<Exported> {
        let settings = cx.ops.app.jwt_settings()?;
        let text = component::render(&export(cx.ops, &settings, cx.now)?)?;
        Ok(Exported::Text(zeroize::Zeroizing::new(text)))
    }

    fn open(&self, opened: &Opened) -> Result<Box<dyn Incoming>> {
        // The reader checked the bundle's proof token against these keys.
        Ok(Box::new(IncomingJwt(super::open_yaml(
            opened,
            Component::Jwt,
        )?)))
    }
}

impl Incoming for IncomingJwt {
    fn jwt(&self) -> Option<&JwtExport> {
        Some(&self.0)
    }

    fn plan(&self, cx: &ImportCx<'_>) -> Result<Planned> {
        let incoming = &self.0;
        let here = cx.ops.app.node()?.cluster_id;
        if cx.manifest.source.cluster_id != here {
            return Err(OpsError::Invalid(format!(
                "this bundle's JWT configuration belongs to cluster {:?} and this appliance to {:?}: tokens name their cluster, so its keys would sign tokens no member of either accepts. Import it on a member of {:?} (or leave jwt out with -c)",
                cx.manifest.source.cluster_id, here, cx.manifest.source.cluster_id
            )));
        }
        let cur = cx.ops.app.jwt_settings()?;
        let mut changes = Vec::new();
        let diff = super::diff;
        diff(
            &mut changes,
            "algorithm",
            cur.algorithm.to_string(),
            incoming.algorithm.to_string(),
        );
        diff(
            &mut changes,
            "expiry",
            cur.expiry().to_string(),
            format!("{} {}", incoming.expiry_value, incoming.expiry_unit),
        );
        diff(
            &mut changes,
            "max session",
            format!("{} s", cur.max_session_seconds),
            format!("{} s", incoming.max_session_seconds),
        );
        diff(
            &mut changes,
            "active key",
            cur.active_key.kid.clone(),
            incoming.active_key.kid.clone(),
        );
        let changes_key = cur.active_key.kid != incoming.active_key.kid;
        let changes_algorithm = cur.algorithm != incoming.algorithm;
        let sessions = (changes_key || changes_algorithm).then(|| {
            format!(
                "none: tokens of this node's current key {} ({}) stay accepted for one expiry period ({} s), then their sessions end; so do those of its retired keys, until their own deadlines",
                cur.active_key.kid,
                cur.algorithm,
                cur.expiry().seconds()
            )
        });
        Ok(Planned {
            plan: ComponentPlan::new(Component::Jwt.name(), changes),
            sessions,
        })
    }

    fn apply(&self, _plan: &ComponentPlan, cx: &ImportCx<'_>) -> Result<Applied> {
        let cur = cx.ops.app.jwt_settings()?;
        let settings = reseal(cx.ops, &self.0, &cur, cx.now)?;
        super::yaml(JwtSettings::FILE, &settings)
    }
}

/// The JWT configuration with its keys' secrets, for a bundle: the active
/// key and every previous key still accepted.
fn export(ops: &Ops, s: &JwtSettings, now: u64) -> Result<JwtExport> {
    let keys = ops.app.keyset(s, now)?;
    let key = |k: &JwtKey, created_at| ExportedKey {
        kid: k.kid().to_owned(),
        secret: SecretBase64::encode(k.expose_secret()),
        created_at,
    };
    Ok(JwtExport {
        version: component::FORMAT_VERSION,
        algorithm: s.algorithm,
        expiry_value: s.expiry_value,
        expiry_unit: s.expiry_unit,
        max_session_seconds: s.max_session_seconds,
        active_key: key(keys.active(), s.active_key.created_at),
        previous_keys: s
            .previous_keys
            .iter()
            .filter(|r| r.accept_until >= now)
            .filter_map(|r| {
                let k = keys.previous().iter().find(|k| k.key.kid() == r.key.kid)?;
                Some(ExportedRetiredKey {
                    key: key(&k.key, r.key.created_at),
                    retired_at: r.retired_at,
                    accept_until: r.accept_until,
                    algorithm: r.algorithm,
                })
            })
            .collect(),
    })
}

/// The incoming JWT configuration, with every key sealed under this
/// node's master key; no token this node accepts now stops being accepted
/// before it would have (see [`JwtSettings::retire`]).
fn reseal(ops: &Ops, incoming: &JwtExport, cur: &JwtSettings, now: u64) -> Result<JwtSettings> {
    let seal = |k: &ExportedKey, algorithm| -> Result<SealedKey> {
        let secret = k
            .secret
            .decode()
            .ok_or_else(|| OpsError::Invalid("a bundled key is not base64".into()))?;
        let key = JwtKey::from_stored(secret.to_vec(), algorithm)?;
        let mut sealed = ops.app.seal_key(&key, now)?;
        sealed.created_at = k.created_at;
        Ok(sealed)
    };
    let previous: Vec<StoredRetiredKey> = incoming
        .previous_keys
        .iter()
        .filter(|r| r.accept_until >= now)
        .map(|r| {
            Ok(StoredRetiredKey {
                key: seal(&r.key, r.algorithm.unwrap_or(incoming.algorithm))?,
                retired_at: r.retired_at,
                accept_until: r.accept_until,
                algorithm: r.algorithm.filter(|a| *a != incoming.algorithm),
            })
        })
        .collect::<Result<_>>()?;
    let mut settings = JwtSettings {
        version: component::FORMAT_VERSION,
        algorithm: incoming.algorithm,
        expiry_value: incoming.expiry_value,
        expiry_unit: incoming.expiry_unit,
        max_session_seconds: incoming.max_session_seconds,
        active_key: seal(&incoming.active_key, incoming.algorithm)?,
        previous_keys: previous,
    };
    // Every token this node accepts now stays accepted as long as it
    // would have been: the current key's for one expiry period, under the
    // algorithm it signs with, and each retired key's until its deadline.
    settings.retire(
        cur.active_key.clone(),
        cur.algorithm,
        now,
        now.saturating_add(cur.expiry().seconds()),
    );
    for r in cur.previous_keys.iter().filter(|r| r.accept_until >= now) {
        settings.retire(
            r.key.clone(),
            cur.signed_with(r),
            r.retired_at,
            r.accept_until,
        );
    }
    Ok(settings)
}
