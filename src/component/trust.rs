//! `config/jwt-trust.yaml`: "Appliances JWT Trust", the other cluster
//! members' public keys this node accepts tokens of. Cluster scope.
//!
//! In a cluster whose members each keep their own key pair, no private key
//! or secret leaves its node: each member trusts the others' public keys
//! instead, and every member accepts every member's tokens. A bundle
//! carries the same model at `components/jwt-trust.yaml`: the exporting
//! node's own public keys and those it trusts. Only public keys (JWKs with
//! no private member) and their algorithms are here, so nothing is sealed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{FORMAT_VERSION, Invalid, Stored, check_name};
use crate::jwt::{Algorithm, KeySet, PublicKey, TrustedKey};

/// One public key of a trusted member, as its JWKS serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustedJwk {
    /// The algorithm its tokens carry (a key-pair algorithm).
    pub algorithm: Algorithm,
    /// The public JWK (RFC 7517): `kty`, its public members, `kid` (its RFC
    /// 7638 thumbprint); never a private member.
    #[schemars(with = "std::collections::BTreeMap<String, serde_json::Value>")]
    pub jwk: serde_json::Map<String, serde_json::Value>,
    /// Until when its tokens are accepted, Unix seconds: a key its member
    /// retired; absent while it is the member's active key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_until: Option<u64>,
}

impl TrustedJwk {
    /// `public`'s entry, for tokens of `algorithm`.
    pub fn of(public: &PublicKey, algorithm: Algorithm, accept_until: Option<u64>) -> Self {
        let serde_json::Value::Object(jwk) = public.jwk(algorithm) else {
            unreachable!("a JWK is a JSON object")
        };
        Self {
            algorithm,
            jwk,
            accept_until,
        }
    }

    /// Its key id.
    pub fn kid(&self) -> &str {
        self.jwk.get("kid").and_then(|v| v.as_str()).unwrap_or("")
    }

    /// The key, checked: a public key of `algorithm`'s type whose `kid`,
    /// when given, is its thumbprint, and whose `alg`, when given, is
    /// `algorithm`.
    pub fn key(&self) -> Result<PublicKey, Invalid> {
        if let Some(alg) = self.jwk.get("alg")
            && alg.as_str() != Some(self.algorithm.as_str())
        {
            return Err(Invalid::new(
                "jwk",
                format!("its alg {alg} is not the algorithm {}", self.algorithm),
            ));
        }
        PublicKey::from_jwk(&self.jwk, self.algorithm)
            .map_err(|e| Invalid::new("jwk", e.to_string()))
    }
}

/// The public keys a node's own tokens may carry at `now`: its active
/// key's under `configured` and each retired key pair's until its deadline.
/// Empty when it signs with an HMAC secret and has retired no key pair.
pub fn own_keys(keys: &KeySet, configured: Algorithm, now: u64) -> Vec<TrustedJwk> {
    let mut out = Vec::new();
    if let Some(p) = keys.active().public() {
        out.push(TrustedJwk::of(p, configured, None));
    }
    for r in keys.previous().iter().filter(|r| now <= r.accept_until) {
        if let Some(p) = r.key.public() {
            let alg = r.algorithm.unwrap_or(configured);
            if !out.iter().any(|k| k.kid() == p.kid() && k.algorithm == alg) {
                out.push(TrustedJwk::of(p, alg, Some(r.accept_until)));
            }
        }
    }
    out
}

/// A member whose tokens this node accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustedMember {
    /// Its node id.
    pub node_id: String,
    /// Its node name.
    pub name: String,
    /// Its cluster id: the issuer of its tokens.
    pub cluster_id: String,
    /// Its public keys.
    pub keys: Vec<TrustedJwk>,
}

/// The members whose tokens this node accepts by their public keys.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtTrust {
    /// Format version, `1`.
    pub version: u32,
    /// The members, in the order they were first trusted; node ids unique.
    #[serde(default)]
    pub members: Vec<TrustedMember>,
}

impl JwtTrust {
    /// Trusting no member.
    pub fn empty() -> Self {
        Self {
            version: FORMAT_VERSION,
            members: Vec::new(),
        }
    }

    /// The key ids of every trusted key still accepted at `now`.
    pub fn kids(&self, now: u64) -> Vec<String> {
        self.members
            .iter()
            .flat_map(|m| &m.keys)
            .filter(|k| k.accept_until.is_none_or(|u| now <= u))
            .map(|k| k.kid().to_owned())
            .collect()
    }

    /// Every trusted key, for a [`KeySet`]. The file was validated, so each
    /// key parses; one that does not (never, but) is left out rather than
    /// trusted.
    pub fn keys(&self) -> Vec<TrustedKey> {
        self.members
            .iter()
            .flat_map(|m| &m.keys)
            .filter_map(|k| {
                Some(TrustedKey {
                    key: k.key().ok()?,
                    algorithm: k.algorithm,
                    accept_until: k.accept_until,
                })
            })
            .collect()
    }

    /// The member with node id `node_id`.
    pub fn member(&self, node_id: &str) -> Option<&TrustedMember> {
        self.members.iter().find(|m| m.node_id == node_id)
    }

    /// `incoming`'s members merged into this set: each replaces the entry
    /// of its node id, or joins at the end; `own_node_id`'s entry, this
    /// node itself, is left out. Others stay as they are.
    pub fn merged(&self, incoming: &JwtTrust, own_node_id: &str) -> JwtTrust {
        let mut out = self.clone();
        for m in incoming.members.iter().filter(|m| m.node_id != own_node_id) {
            match out.members.iter_mut().find(|x| x.node_id == m.node_id) {
                Some(x) => *x = m.clone(),
                None => out.members.push(m.clone()),
            }
        }
        out
    }
}

impl Stored for JwtTrust {
    const FILE: &'static str = "config/jwt-trust.yaml";
    fn version(&self) -> u32 {
        self.version
    }
    fn validate(&self) -> Result<(), Invalid> {
        let mut seen = std::collections::BTreeSet::new();
        for (i, m) in self.members.iter().enumerate() {
            let at = |f: &str| format!("members[{i}].{f}");
            check_name(&at("name"), &m.name)?;
            check_name(&at("cluster_id"), &m.cluster_id)?;
            if m.node_id.is_empty() || m.node_id.len() > 64 {
                return Err(Invalid::new(at("node_id"), "must be 1 to 64 characters"));
            }
            if !seen.insert(&m.node_id) {
                return Err(Invalid::new(at("node_id"), "is listed twice"));
            }
            for (j, k) in m.keys.iter().enumerate() {
                if k.algorithm.is_hmac() {
                    return Err(Invalid::new(
                        at(&format!("keys[{j}].algorithm")),
                        "is an HMAC algorithm; only public keys are trusted",
                    ));
                }
                k.key()
                    .map_err(|e| Invalid::new(at(&format!("keys[{j}].jwk")), e.problem))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::{JwtKey, RetiredKey};

    fn key(alg: Algorithm) -> JwtKey {
        JwtKey::generate(alg, None).unwrap()
    }

    fn member(node_id: &str, name: &str, keys: Vec<TrustedJwk>) -> TrustedMember {
        TrustedMember {
            node_id: node_id.into(),
            name: name.into(),
            cluster_id: "c1".into(),
            keys,
        }
    }

    fn jwk_of(k: &JwtKey, alg: Algorithm) -> TrustedJwk {
        TrustedJwk::of(k.public().unwrap(), alg, None)
    }

    #[test]
    fn own_keys_are_the_active_key_pair_and_retired_ones_within_their_deadline() {
        let active = key(Algorithm::ES256);
        let old = key(Algorithm::EdDSA);
        let gone = key(Algorithm::EdDSA);
        let hmac = JwtKey::from_secret(vec![7; 32]).unwrap();
        let retired = |k: &JwtKey, until| RetiredKey {
            key: k.clone(),
            accept_until: until,
            algorithm: Some(Algorithm::EdDSA),
        };
        let set = KeySet::with_previous(
            active.clone(),
            vec![retired(&old, 200), retired(&gone, 50), retired(&hmac, 200)],
        );
        let own = own_keys(&set, Algorithm::ES256, 100);
        let got: Vec<(&str, Algorithm, Option<u64>)> = own
            .iter()
            .map(|k| (k.kid(), k.algorithm, k.accept_until))
            .collect();
        assert_eq!(
            got,
            [
                (active.kid(), Algorithm::ES256, None),
                (old.kid(), Algorithm::EdDSA, Some(200)),
            ]
        );
        for k in &own {
            assert!(k.key().is_ok(), "an own key reads back");
            assert!(!k.jwk.contains_key("d"), "never a private member");
        }
        // An HMAC secret has no public key.
        assert!(own_keys(&KeySet::new(hmac), Algorithm::HS256, 100).is_empty());
    }

    #[test]
    fn a_merge_replaces_by_node_id_adds_the_new_and_leaves_this_node_out() {
        let (a, b, c) = (
            key(Algorithm::ES256),
            key(Algorithm::ES256),
            key(Algorithm::EdDSA),
        );
        let cur = JwtTrust {
            members: vec![
                member("n2", "esa2", vec![jwk_of(&a, Algorithm::ES256)]),
                member("n3", "esa3", vec![jwk_of(&c, Algorithm::EdDSA)]),
            ],
            ..JwtTrust::empty()
        };
        let incoming = JwtTrust {
            members: vec![
                member("n1", "esa1", vec![jwk_of(&a, Algorithm::ES256)]),
                member("n2", "esa2", vec![jwk_of(&b, Algorithm::ES256)]),
                member("n4", "esa4", vec![jwk_of(&c, Algorithm::EdDSA)]),
            ],
            ..JwtTrust::empty()
        };
        let merged = cur.merged(&incoming, "n1");
        let names: Vec<&str> = merged.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["esa2", "esa3", "esa4"]);
        assert_eq!(merged.member("n2").unwrap().keys[0].kid(), b.kid());
        assert!(merged.member("n1").is_none());
        assert!(merged.validate().is_ok());
        assert_eq!(merged.keys().len(), 3);
        assert_eq!(
            merged.kids(0),
            [b.kid().to_owned(), c.kid().to_owned(), c.kid().to_owned()]
        );
    }

    #[test]
    fn validation_refuses_what_must_never_be_trusted() {
        let k = key(Algorithm::ES256);
        let ok = member("n2", "esa2", vec![jwk_of(&k, Algorithm::ES256)]);
        let check = |m: TrustedMember| {
            JwtTrust {
                members: vec![m],
                ..JwtTrust::empty()
            }
            .validate()
            .map_err(|e| (e.field, e.problem))
        };
        assert!(check(ok.clone()).is_ok());

        let mut private = ok.clone();
        private.keys[0].jwk.insert("d".into(), "AAAA".into());
        let (field, problem) = check(private).unwrap_err();
        assert_eq!(field, "members[0].keys[0].jwk");
        assert!(problem.contains("private member \"d\""), "{problem}");

        let mut hmac = ok.clone();
        hmac.keys[0].algorithm = Algorithm::HS256;
        assert!(check(hmac).unwrap_err().1.contains("HMAC"));

        // An alg that is not the entry's: an ES256 key called RS256.
        let mut renamed = ok.clone();
        renamed.keys[0].algorithm = Algorithm::RS256;
        assert!(check(renamed).is_err());
        let mut mislabelled = ok.clone();
        mislabelled.keys[0].algorithm = Algorithm::ES384;
        assert!(
            check(mislabelled).is_err(),
            "the curve must be the algorithm's"
        );

        let mut other_kid = ok.clone();
        other_kid.keys[0]
            .jwk
            .insert("kid".into(), "not-its-thumbprint".into());
        assert!(check(other_kid).unwrap_err().1.contains("thumbprint"));

        let twice = JwtTrust {
            members: vec![ok.clone(), ok],
            ..JwtTrust::empty()
        };
        assert_eq!(twice.validate().unwrap_err().field, "members[1].node_id");
    }
}
