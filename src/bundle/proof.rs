//! The proof token: a JWT the exporting node signs with its active key and
//! puts in the manifest, so that a bundle carrying a JWT configuration
//! shows it was made by a holder of that configuration's active key, for
//! the cluster and node its manifest names. Pure: checked as of the
//! moment the bundle was made, never against a clock.

use super::manifest::Manifest;
use crate::component::JwtExport;
use crate::jwt::{self, JwtKey, KeySet, Policy};

/// The `role` of a proof token.
pub const PROOF_ROLE: &str = "bundle-proof";
/// How long a proof token is valid after it is made, seconds.
pub const PROOF_LIFETIME: u64 = 300;

/// The `sub` of the proof token of a bundle made by node `node_id`.
pub fn proof_subject(node_id: &str) -> String {
    format!("tacctl-bundle:{node_id}")
}

/// The key set that signed the proof token: the bundled active key alone,
/// since an export signs its proof with its active key.
fn proof_keys(incoming: &JwtExport) -> Result<KeySet, String> {
    let secret = incoming
        .active_key
        .secret
        .decode()
        .ok_or("the bundled active key is not base64")?;
    let key =
        JwtKey::from_stored(secret.to_vec(), incoming.algorithm).map_err(|e| e.to_string())?;
    Ok(KeySet::new(key))
}

/// Checks the proof token of a bundle carrying `incoming`: signed with the
/// bundled active key under the bundled algorithm, issued by the bundle's
/// cluster for the bundle's source node at the moment the bundle was made,
/// and valid then.
pub fn check(incoming: &JwtExport, manifest: &Manifest) -> Result<(), String> {
    if manifest.jwt_kid != incoming.active_key.kid {
        return Err(format!(
            "the manifest names key {} but the bundled active key is {}",
            manifest.jwt_kid, incoming.active_key.kid
        ));
    }
    let keys = proof_keys(incoming)?;
    let policy = Policy {
        algorithm: incoming.algorithm,
        issuer: manifest.source.cluster_id.clone(),
        lifetime: 0,
        max_session: 0,
        leeway: jwt::LEEWAY_SECONDS,
    };
    // Its age is not held against it: checked as of when it was made.
    let claims = jwt::verify(&manifest.proof_token, &keys, &policy, manifest.created_at)
        .map_err(|e| said(e, manifest))?;
    if claims.iat != manifest.created_at
        || claims.role != PROOF_ROLE
        || claims.sub != proof_subject(&manifest.source.node_id)
    {
        return Err("the proof token is not this bundle's".into());
    }
    Ok(())
}

/// What a refused proof token means for a bundle, in its own words: the
/// token checks are phrased for users' tokens ("log in again").
fn said(e: jwt::VerifyError, manifest: &Manifest) -> String {
    use jwt::VerifyError as V;
    match e {
        V::Expired { exp, .. } => format!(
            "it expired at {exp}, before the bundle was made at {}",
            manifest.created_at
        ),
        V::NotYetValid { nbf, .. } => format!(
            "it is valid only from {nbf}, after the bundle was made at {}",
            manifest.created_at
        ),
        V::WrongIssuer { got, expected } => format!(
            "it was issued for cluster {got:?}, and the manifest names cluster {expected:?}"
        ),
        V::UnknownKey { .. } | V::KeyRetired { .. } | V::BadSignature => {
            "it is not signed with the bundled active key".into()
        }
        V::WrongAlgorithm { got, expected } => {
            format!("it is signed with {got}, and the bundled configuration uses {expected}")
        }
        other => other.to_string(),
    }
}
