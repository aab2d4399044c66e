//! JWT key pairs end to end: `jwt set-algorithm` making a key pair of each
//! kind, `jwt set-key` importing one, the JWKS on the command line and on
//! the REST API (unauthenticated, public keys only, cached briefly), tokens
//! verified by an independent library from the JWKS alone, the private key
//! never in the clear on disk, the algorithm-confusion attack refused with
//! a 401 naming the check, and a shared key pair moved to a second
//! appliance by a bundle.

mod common;

use common::{ADMIN, ADMIN_PASSWORD, SecretScan, TempAppliance, assert_exit, server::Served};

/// `jwt set-algorithm ALG [ARGS]` on `app`, which must succeed.
fn set_algorithm(app: &TempAppliance, alg: &str, args: &[&str]) -> String {
    assert_exit(app.cmd().args(["jwt", "set-algorithm", alg]).args(args), 0).stdout
}

/// The JWKS `tacctl jwt jwks` prints.
fn jwks(app: &TempAppliance) -> serde_json::Value {
    common::json_of(app.bare().args(["jwt", "jwks"]))
}

/// The key ids of a JWKS, in order.
fn kids(jwks: &serde_json::Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Verifies `token` with jsonwebtoken from `jwks` alone, as a gateway that
/// never holds a secret would.
fn verified_from_jwks(token: &str, jwks: &serde_json::Value, issuer: &str) -> serde_json::Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("the token's key is in the JWKS");
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<serde_json::Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap_or_else(|e| panic!("jsonwebtoken refused the token: {e}"))
    .claims
}

#[test]
fn each_kind_of_key_pair_is_made_verified_from_the_jwks_and_never_stored_in_the_clear() {
    tacctl::jwt::ensure_provider().unwrap();
    let app = TempAppliance::new();
    assert_eq!(
        jwks(&app),
        serde_json::json!({"keys": []}),
        "HMAC: nothing public"
    );
    let hmac_token = app.token(ADMIN, ADMIN_PASSWORD);
    let issuer = app.status()["cluster_id"].as_str().unwrap().to_owned();

    for (alg, args, kty) in [
        ("RS256", &["--bits", "2048"][..], "RSA"),
        ("PS384", &[][..], "RSA"),
        ("ES256", &[][..], "EC"),
        ("ES384", &[][..], "EC"),
        ("EdDSA", &[][..], "OKP"),
    ] {
        let said = set_algorithm(&app, alg, args);
        let show = app.jwt_show();
        assert_eq!(show["algorithm"], alg);
        assert!(said.contains(show["kid"].as_str().unwrap()), "{said}");
        let set = jwks(&app);
        let active = &set["keys"][0];
        assert_eq!(active["kid"], show["kid"]);
        assert_eq!(active["alg"], alg);
        assert_eq!(active["kty"], kty);
        assert_eq!(active["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(active.get(private).is_none(), "{alg}: {private} served");
        }
        let token = app.token(ADMIN, ADMIN_PASSWORD);
        assert_eq!(common::jws_header(&token)["alg"], alg);
        app.verify(&token);
        let claims = verified_from_jwks(&token, &set, &issuer);
        assert_eq!(claims["sub"], ADMIN);
    }
    // PS384 kept the RSA key of RS256 (one kind of key), so it is one key.
    // The HMAC token is still accepted: its key retired for one expiry
    // period under HS256, and it is never served.
    app.verify(&hmac_token);
    assert!(
        jwks(&app)["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["kty"] != "oct"),
        "no HMAC secret in the JWKS"
    );
    // Every private key made is sealed: none of them is in the clear in
    // any file of the appliance, in any encoding.
    let settings = app.read("config/jwt.yaml");
    assert!(
        settings.contains("version: 2"),
        "key pairs need format 2:\n{settings}"
    );
    for sealed in settings
        .lines()
        .filter_map(|l| l.trim().strip_prefix("sealed: "))
    {
        assert!(sealed.starts_with("v1."), "{sealed}");
    }
    let ops = tacctl::ops::Ops::open(&app.root, std::time::Duration::from_secs(5)).unwrap();
    let s = ops.app.jwt_settings().unwrap();
    let keys = ops.app.keyset(&s, 0).unwrap();
    let mut privates: Vec<Vec<u8>> = vec![keys.active().expose_secret().to_vec()];
    privates.extend(
        keys.previous()
            .iter()
            .map(|r| r.key.expose_secret().to_vec()),
    );
    for private in privates {
        SecretScan::new(&private).assert_absent_under(&app.root, "a private key");
    }
}

#[test]
fn a_private_key_is_imported_from_pem_and_wrong_keys_are_refused_without_a_change() {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::pkcs8::EncodePrivateKey as _;
    let app = TempAppliance::new();
    // No key pair algorithm yet: set-key says what to do first.
    let rsa_key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
    let pkcs1 = app.file(
        "rsa.pem",
        rsa_key
            .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap()
            .as_bytes(),
    );
    let before = app.snapshot();
    let out = assert_exit(
        app.cmd()
            .args(["jwt", "set-key", "--private-key-file"])
            .arg(&pkcs1),
        2,
    );
    assert!(out.stderr.contains("set-algorithm RS256"), "{}", out.stderr);
    common::assert_unchanged(&before, &app.snapshot());

    set_algorithm(&app, "RS256", &["--bits", "2048"]);
    let made = app.jwt_show()["kid"].as_str().unwrap().to_owned();
    let old_token = app.token(ADMIN, ADMIN_PASSWORD);
    let out = assert_exit(
        app.cmd()
            .args(["jwt", "set-key", "--private-key-file"])
            .arg(&pkcs1),
        0,
    );
    let kid = app.jwt_show()["kid"].as_str().unwrap().to_owned();
    assert_ne!(kid, made);
    assert!(out.stdout.contains(&kid), "{}", out.stdout);
    // The key it replaced stays accepted, and served, for the grace.
    app.verify(&old_token);
    assert_eq!(kids(&jwks(&app)), [kid.clone(), made.clone()]);
    // The same key in PKCS#8 is the same key: nothing to change.
    let pkcs8 = app.file(
        "rsa8.pem",
        rsa_key
            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap()
            .as_bytes(),
    );
    let before = app.snapshot();
    let out = assert_exit(
        app.cmd()
            .args(["jwt", "set-key", "--private-key-file"])
            .arg(&pkcs8),
        2,
    );
    assert!(
        out.stderr.contains("same as the current one"),
        "{}",
        out.stderr
    );
    // Too small, another type, not a key, a secret for a key pair: each
    // refused, naming why, and nothing changes.
    let small = rsa::PrivateKey::new(&mut getrandom::SysRng, 1024).unwrap();
    let small = app.file(
        "small.pem",
        small
            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap()
            .as_bytes(),
    );
    let ec = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    let ec = app.file(
        "ec.pem",
        pem::encode(&pem::Pem::new("PRIVATE KEY", ec.as_ref().to_vec())),
    );
    let junk = app.file("junk.pem", "not a key\n");
    for (file, says) in [
        (&small, "1024 bits"),
        (
            &ec,
            "RS256 signs with an RSA key, and this is an EC key on P-256",
        ),
        (&junk, "no PEM block"),
    ] {
        let out = assert_exit(
            app.cmd()
                .args(["jwt", "set-key", "--private-key-file"])
                .arg(file),
            2,
        );
        assert!(out.stderr.contains(says), "{says}: {}", out.stderr);
    }
    let secret = app.file("secret", "s".repeat(64));
    let out = assert_exit(
        app.cmd()
            .args(["jwt", "set-secret", "--secret-file"])
            .arg(&secret),
        2,
    );
    assert!(
        out.stderr.contains("signs with a key pair"),
        "{}",
        out.stderr
    );
    common::assert_unchanged(&before, &app.snapshot());
}

#[tokio::test]
async fn the_jwks_is_served_unauthenticated_and_confused_tokens_get_a_401_naming_the_check() {
    tacctl::jwt::ensure_provider().unwrap();
    let app = TempAppliance::new();
    set_algorithm(&app, "EdDSA", &[]);
    let token = app.token(ADMIN, ADMIN_PASSWORD);
    let issuer = app.status()["cluster_id"].as_str().unwrap().to_owned();
    let server = Served::start(&app.root, &[]);
    let client = server.client();
    for path in ["/.well-known/jwks.json", "/api/v1/auth/jwks"] {
        let resp = client
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let cache = resp.headers()["cache-control"].to_str().unwrap().to_owned();
        assert_eq!(cache, "public, max-age=60", "{path}");
        let set: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(set, jwks(&app), "{path}: what `jwt jwks` prints");
        // A gateway with the JWKS alone accepts the appliance's token.
        verified_from_jwks(&token, &set, &issuer);
    }
    let get = |t: String| {
        let client = client.clone();
        let url = format!("{}/api/v1/appliance", server.url);
        async move {
            let resp = client.get(url).bearer_auth(t).send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    assert_eq!(get(token.clone()).await.0, 200);
    // The algorithm-confusion attack: an HS256 token MACed with the public
    // key, naming it.
    let set = jwks(&app);
    let x = set["keys"][0]["x"].as_str().unwrap();
    let kid = set["keys"][0]["kid"].as_str().unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&base64_url(token.split('.').nth(1).unwrap())).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(x.as_bytes()).unwrap(),
    )
    .unwrap();
    let (status, body) = get(forged).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["check"], "algorithm", "{body}");
    // A token that brings its own key is refused, never fetched.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    header.jku = Some("https://127.0.0.1:1/jwks".into());
    let parts: Vec<&str> = token.split('.').collect();
    let head = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        serde_json::to_vec(&header).unwrap(),
    );
    let (status, body) = get(format!("{head}.{}.{}", parts[1], parts[2])).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["check"], "key_in_header", "{body}");
}

fn base64_url(s: &str) -> Vec<u8> {
    base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, s).unwrap()
}

#[test]
fn a_shared_key_pair_moves_to_another_appliance_and_tokens_cross_over() {
    tacctl::jwt::ensure_provider().unwrap();
    let esa1 = TempAppliance::named("esa1", "c1");
    let esa2 = TempAppliance::named("esa2", "c1");
    set_algorithm(&esa1, "ES384", &[]);
    let token = esa1.token(ADMIN, ADMIN_PASSWORD);
    let pass = esa1.file("pass", "correct horse battery staple 42");
    let bundle = esa1.dir().join("jwt.tacbundle");
    assert_exit(
        esa1.cmd()
            .args(["export", "-c", "jwt", "--kdf-cost", "test", "-o"])
            .arg(&bundle)
            .arg("--passphrase-file")
            .arg(&pass),
        0,
    );
    let inspect = common::json_of(
        esa2.bare()
            .args(["inspect", "--json", "--passphrase-file"])
            .arg(&pass)
            .arg(&bundle),
    );
    assert_eq!(inspect["components"][0]["version"], 2, "{inspect}");
    assert_eq!(inspect["key_fingerprints"][0], esa1.jwt_show()["kid"]);
    assert_exit(
        esa2.cmd()
            .arg("import")
            .arg(&bundle)
            .args(["--yes", "--passphrase-file"])
            .arg(&pass),
        0,
    );
    assert_eq!(esa2.jwt_show()["kid"], esa1.jwt_show()["kid"]);
    assert_eq!(esa2.jwt_show()["algorithm"], "ES384");
    esa2.verify(&token);
    esa1.verify(&esa2.token(ADMIN, ADMIN_PASSWORD));
    assert_eq!(kids(&jwks(&esa2))[0], kids(&jwks(&esa1))[0]);
    // Re-sealed under esa2's own master key: the sealed texts differ.
    assert_ne!(esa1.read("config/jwt.yaml"), esa2.read("config/jwt.yaml"));
}
