//! `tacctl demo`: the JWT life cycle of an appliance, and the move of its JWT
//! configuration to a second appliance, told step by step in a temporary
//! directory that is removed afterwards.
//!
//! It drives the same operations as the commands (`ops`), with generated
//! passwords and the real clock plus simulated minutes for the refresh, so
//! it runs unattended in a second or two. Tokens are never printed whole.

use std::io::Write;

use anyhow::{Context, Result};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::bundle::header::KdfParams;
use crate::component::Role;
use crate::jwt::{Algorithm, ExpiryUnit};
use crate::ops::bundle::Kind;
use crate::ops::{self, InitRequest, Ops};

fn password() -> Result<SecretString> {
    let bytes = ops::random_bytes(18)?;
    Ok(SecretString::from(hex::encode(&bytes[..])))
}

fn kid_of(token: &SecretString) -> String {
    use base64::Engine as _;
    token
        .expose_secret()
        .split('.')
        .next()
        .and_then(|h| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .ok()
        })
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .and_then(|h| h["kid"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Runs the demo, writing the walkthrough to `out`.
pub fn run(out: &mut impl Write) -> Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("tacctl-demo-")
        .tempdir()
        .context("creating a temporary directory for the demo")?;
    let root = dir.path().join("esa1");
    let now = super::now();
    let admin_pw = password()?;
    let alice_pw = password()?;

    writeln!(
        out,
        "tacctl demo: the JWT life cycle of one appliance, in {}\n",
        dir.path().display()
    )?;

    writeln!(out, "1. Install ESA 1")?;
    ops::init(
        &root,
        InitRequest {
            name: "esa1".into(),
            cluster_id: Some("demo-cluster".into()),
            admin_user: "admin".into(),
            admin_password: admin_pw.clone(),
        },
        now,
    )?;
    let o = Ops::open(&root, std::time::Duration::from_secs(10))?;
    let v = o.jwt_view(now)?;
    writeln!(
        out,
        "   appliance esa1 in cluster demo-cluster; a random 64-byte JWT secret was generated\n   (key {}), algorithm {}, tokens expire after {} {}\n",
        v.kid,
        v.algorithm,
        v.expiry_value,
        v.expiry_unit.label()
    )?;

    writeln!(out, "2. Administration > JWT Configuration")?;
    o.require_admin("admin", &admin_pw)?;
    writeln!(out, "   root credentials accepted for admin")?;
    let secret = ops::random_bytes(48)?;
    let s = o.set_secret(SecretSlice::from(secret.to_vec()), true, now)?;
    writeln!(
        out,
        "   Set JWT Secret: a new 48-byte secret, key {}",
        s.active_key.kid
    )?;
    o.set_algorithm(Algorithm::HS384, now)?;
    writeln!(out, "   Set JWT Algorithm: HS384")?;
    o.set_expiry(15, Some(ExpiryUnit::Minutes), now)?;
    writeln!(
        out,
        "   Set Token Expiry: 15, Set Token Expiry Unit: minute(s)"
    )?;
    writeln!(out, "   Done\n")?;

    writeln!(
        out,
        "3. Add the local user alice (operator, with API access)"
    )?;
    o.add_user("alice", Role::Operator, true, &alice_pw)?;
    writeln!(out, "   password stored as an Argon2id hash\n")?;

    writeln!(out, "4. alice logs in with her credentials")?;
    let first = o.login("alice", &alice_pw, now)?;
    writeln!(
        out,
        "   token issued: HS384, kid {}, session {}, expires in 15 minutes",
        kid_of(&first.token),
        first.claims.sid
    )?;
    let refused = o.login("alice", &SecretString::from("not her password"), now);
    writeln!(
        out,
        "   a wrong password gets no token: {}\n",
        refused.err().map(|e| e.to_string()).unwrap_or_default()
    )?;

    writeln!(out, "5. The appliance verifies the token")?;
    let c = o.verify(first.token.expose_secret(), now)?;
    writeln!(
        out,
        "   valid: sub {}, role {}, issuer {}\n",
        c.sub, c.role, c.iss
    )?;

    let later = now + 10 * 60;
    writeln!(
        out,
        "6. Ten minutes later alice refreshes instead of logging in again"
    )?;
    let second = o.refresh(first.token.expose_secret(), later)?;
    writeln!(
        out,
        "   new token: same session {} (began {} s ago), new jti, expires in 15 minutes\n",
        second.claims.sid,
        later - second.claims.auth_time
    )?;

    writeln!(out, "7. The administrator rotates the JWT secret")?;
    let s = o.set_secret(
        SecretSlice::from(ops::random_bytes(48)?.to_vec()),
        false,
        later,
    )?;
    writeln!(out, "   new active key {}", s.active_key.kid)?;
    let c = o.verify(second.token.expose_secret(), later)?;
    writeln!(
        out,
        "   alice's token (old key) is still accepted: valid for {}, until the previous key retires in 15 minutes",
        c.sub
    )?;
    let third = o.login("alice", &alice_pw, later)?;
    writeln!(
        out,
        "   a new login is signed with the new key {}\n",
        kid_of(&third.token)
    )?;

    writeln!(out, "8. The administrator revokes the previous key")?;
    o.revoke_previous(later)?;
    match o.verify(second.token.expose_secret(), later) {
        Err(e) => writeln!(out, "   the old token is now refused: {e}")?,
        Ok(_) => anyhow::bail!("the old token was still accepted after revoking the previous key"),
    }
    o.verify(third.token.expose_secret(), later)?;
    writeln!(out, "   the new token is still accepted\n")?;

    writeln!(
        out,
        "9. ESA 2 joins: it has its own secret, so it refuses ESA 1's token"
    )?;
    let root2 = dir.path().join("esa2");
    ops::init(
        &root2,
        InitRequest {
            name: "esa2".into(),
            cluster_id: Some("demo-cluster".into()),
            admin_user: "admin".into(),
            admin_password: admin_pw.clone(),
        },
        later,
    )?;
    let o2 = Ops::open(&root2, std::time::Duration::from_secs(10))?;
    match o2.verify(third.token.expose_secret(), later) {
        Err(e) => writeln!(out, "   ESA 2: {e}\n")?,
        Ok(_) => anyhow::bail!("ESA 2 accepted a token signed with ESA 1's key before any import"),
    }

    writeln!(
        out,
        "10. Export the Appliance OS Configuration from ESA 1 with Appliances JWT Configuration ticked"
    )?;
    let passphrase = SecretString::from(hex::encode(&ops::random_bytes(24)?[..]));
    let kinds = [Kind::Jwt, Kind::Users];
    let (manifest, bundle) = o.export(
        &kinds,
        false,
        &passphrase,
        KdfParams::DEFAULT,
        Vec::new(),
        later,
        &crate::ops::bundle::NoProgress,
    )?;
    writeln!(
        out,
        "   an encrypted bundle of {} bytes: {} from {}, JWT key {}",
        bundle.len(),
        manifest
            .components
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(" and "),
        manifest.source.name,
        manifest.jwt_kid
    )?;
    let opened = o2.open_bundle(&bundle[..], &passphrase)?;
    let plan = o2.plan(&opened, &kinds, false, later)?;
    writeln!(out, "   ESA 2's import plan:")?;
    for c in &plan.components {
        for ch in &c.changes {
            writeln!(out, "     {}: {} {}", c.component, ch.what, ch.detail)?;
        }
    }
    let outcome = o2.apply(&opened, &kinds, false, later)?;
    writeln!(
        out,
        "   imported on ESA 2; its active key is now {}\n",
        outcome.jwt_kid
    )?;

    writeln!(
        out,
        "11. The same token generated by ESA 1 is applicable on ESA 2"
    )?;
    let c = o2.verify(third.token.expose_secret(), later)?;
    writeln!(
        out,
        "   ESA 2 accepts it: valid for {}, role {}",
        c.sub, c.role
    )?;
    let refreshed = o2.refresh(third.token.expose_secret(), later + 60)?;
    o.verify(refreshed.token.expose_secret(), later + 60)?;
    writeln!(
        out,
        "   ESA 2 refreshes it, and ESA 1 accepts the refreshed token\n"
    )?;

    drop((o, o2));
    dir.close().context("removing the demo directory")?;
    writeln!(out, "Done: the demo appliances were removed.")?;
    Ok(())
}
