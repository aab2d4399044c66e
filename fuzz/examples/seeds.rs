//! Writes the seed corpus of every fuzz target into `corpus/TARGET/`
//! (or under the directory given as the first argument), each seed laid out
//! as its target reads it (see `tacctl_fuzz` and each target's doc).
//!
//! Seeds come from fixtures/ (the bundle vectors, the v1 appliance root and
//! its token) and from a fresh appliance made here with every component
//! set (network, LDAP, a cluster member, custom files), exported whole with
//! the fuzz passphrase and imported into a second appliance, which leaves a
//! snapshot and a history behind. Seed names are fixed, so a second run
//! replaces the first run's seeds and leaves what the fuzzer found.
//!
//! `cargo run --release --example seeds [CORPUS_DIR]`

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{SecretSlice, SecretString};
use tacctl::appliance::Journal;
use tacctl::bundle::NoProgress;
use tacctl::bundle::blocks::{BlockWriter, read_blocks};
use tacctl::bundle::header;
use tacctl::bundle::manifest::MANIFEST_PATH;
use tacctl::bundle::stream::{CHUNK_SIZE, StreamWriter, TAG_SIZE};
use tacctl::component::Component as Kind;
use tacctl::component::{LdapCommon, Member, SyslogProtocol, SyslogTarget};
use tacctl::jwt::{self, Grant, KeySet};
use tacctl::ops::{InitRequest, NetworkChange, Ops};
use tacctl_fuzz::{
    OPEN_IMPORT, OPEN_RAW, OPEN_SIZE_KNOWN, STREAM_FILL, STREAM_KEY, STREAM_PREFIX, TOKEN,
    TOKEN_RAW, TOKEN_SIGNED, fixtures, passphrase, stored_index,
};

struct Corpus(PathBuf);

impl Corpus {
    /// Writes `parts`, concatenated, as seed `name` of `target`.
    fn put(&self, target: &str, name: &str, parts: &[&[u8]]) {
        let dir = self.0.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("seed-{name}")), parts.concat()).unwrap();
    }
}

/// The bytes of a bundle vector and its passphrase (tests/bundle_vectors.rs).
fn vector(path: &Path) -> (String, Vec<u8>) {
    let raw = std::fs::read(path).unwrap();
    let split = raw.windows(2).position(|w| w == b"\n\n").unwrap();
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let pass = head
        .lines()
        .find_map(|l| l.strip_prefix("passphrase: "))
        .unwrap_or_default()
        .to_owned();
    (pass, raw[split + 2..].to_vec())
}

/// The plaintext of a bundle and its format version, when it opens.
fn plaintext(bundle: &[u8], pass: &str) -> Option<(u8, Vec<u8>)> {
    let (info, mut r) = header::open(bundle, &SecretString::from(pass.to_owned())).ok()?;
    let mut out = Vec::new();
    r.read_to_end(&mut out).ok()?;
    Some((info.version, out))
}

/// The tar archive inside a format 2 plaintext.
fn unframe(framed: &[u8]) -> Vec<u8> {
    read_blocks(framed, 0, |r| {
        let mut out = Vec::new();
        r.read_to_end(&mut out).map(|_| out)
    })
    .unwrap()
}

/// The archive's regular files, by path.
fn entries(tar: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in tar::Archive::new(tar).entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type().is_file() {
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            out.push((path, data));
        }
    }
    out
}

/// Seeds from one archive's plaintext (framed) and tar.
fn archive_seeds(c: &Corpus, label: &str, framed: &[u8], tar: &[u8]) {
    c.put("bundle_blocks", label, &[framed]);
    for flags in [0u8, 1, 2, 3] {
        c.put(
            "bundle_archive",
            &format!("{label}-{flags}"),
            &[&[flags], tar],
        );
    }
    for flags in [
        0,
        OPEN_SIZE_KNOWN,
        OPEN_IMPORT,
        OPEN_SIZE_KNOWN | OPEN_IMPORT,
    ] {
        c.put(
            "bundle_open",
            &format!("{label}-tar-{flags}"),
            &[&[flags], tar],
        );
        c.put(
            "bundle_open",
            &format!("{label}-raw-{flags}"),
            &[&[flags | OPEN_RAW], framed],
        );
    }
    let mut stream = StreamWriter::new(Vec::new(), &STREAM_KEY, &STREAM_PREFIX);
    stream.write_all(framed).unwrap();
    let ct = stream.finish().unwrap();
    c.put("bundle_stream", &format!("{label}-raw-1"), &[&[0, 0], &ct]);
    c.put(
        "bundle_stream",
        &format!("{label}-raw-4096"),
        &[&[0, 255], &ct],
    );
    for (path, data) in entries(tar) {
        let name = path.replace('/', "_");
        if path == MANIFEST_PATH {
            c.put("bundle_manifest", label, &[&[0; 8], &data]);
            c.put(
                "bundle_manifest",
                &format!("{label}-changed"),
                &[&[0x05, 0, 0x02, 0, 0x01, 0, 0x01, 0x80], &data],
            );
        } else if let Some(i) = stored_index(&path) {
            c.put("stored_yaml", &format!("{label}-{name}"), &[&[i], &data]);
        }
    }
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let c = Corpus(out);
    jwt::ensure_provider().unwrap();

    // The bundle vectors: every one is a header seed; those that open give
    // their plaintext to the archive targets.
    let mut names: Vec<_> = std::fs::read_dir(fixtures().join("bundles"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for path in names {
        let label = path.file_stem().unwrap().to_string_lossy().into_owned();
        let (pass, bundle) = vector(&path);
        c.put("bundle_header", &label, &[&[0], &bundle]);
        if label == "v2-success-jwt-users" {
            let (_, framed) = plaintext(&bundle, &pass).expect("the success vector opens");
            archive_seeds(&c, &label, &framed, &unframe(&framed));
        }
    }

    // The v1 appliance root's stored files and its token.
    let v1 = fixtures().join("appliances/v1");
    for rel in ["appliance.yaml", "config/jwt.yaml", "config/users.yaml"] {
        let i = stored_index(rel).unwrap();
        let text = std::fs::read(v1.join(rel)).unwrap();
        c.put(
            "stored_yaml",
            &format!("fixture-v1-{}", rel.replace('/', "_")),
            &[&[i], &text],
        );
    }
    let v1_token = std::fs::read(fixtures().join("appliances/v1.token")).unwrap();
    let v1_token = v1_token.trim_ascii();
    c.put("token", "fixture-v1", &[&[TOKEN_RAW, 128], v1_token]);
    c.put("token", "fixture-v1-late", &[&[TOKEN_RAW, 160], v1_token]);

    // Tokens of the fixture's keys, made by the library, and the signed
    // form of the same claims.
    let fx = &*TOKEN;
    let grant = Grant {
        subject: "alice",
        role: "viewer",
        sid: "cae3dff3-6196-4a06-ab65-6f724170c024".into(),
        jti: "c57f19aa-875d-45ab-974d-109a5aad6b49".into(),
        now: fx.now,
    };
    let (token, claims) = jwt::issue(&grant, &fx.keys, &fx.policy).unwrap();
    c.put("token", "issued", &[&[TOKEN_RAW, 128], token.as_bytes()]);
    let retired = KeySet::new(fx.keys.previous()[0].key.clone());
    let old = jwt::sign(&claims, &retired, fx.policy.algorithm).unwrap();
    c.put("token", "retired-key", &[&[TOKEN_RAW, 128], old.as_bytes()]);
    let claims_json = serde_json_claims(&claims);
    for (i, kid) in [fx.keys.active().kid(), retired.active().kid()]
        .iter()
        .enumerate()
    {
        let header = format!(
            r#"{{"typ":"JWT","alg":"{}","kid":"{kid}"}}"#,
            fx.policy.algorithm
        );
        c.put(
            "token",
            &format!("signed-{i}"),
            &[
                &[TOKEN_SIGNED, 128, i as u8],
                header.as_bytes(),
                &[0],
                claims_json.as_bytes(),
            ],
        );
    }
    let registered = format!(
        r#"{{"iss":"{}","exp":{},"scope":["a"]}}"#,
        fx.policy.issuer,
        fx.now + 60
    );
    c.put(
        "token",
        "signed-registered",
        &[
            &[TOKEN_SIGNED, 128, 0],
            br#"{"alg":"HS512"}"#,
            &[0],
            registered.as_bytes(),
        ],
    );

    // A fresh appliance with every component, exported whole.
    let work = std::env::temp_dir().join(format!("tacctl-fuzz-seeds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let made = appliance_seeds(&c, &work);
    let _ = std::fs::remove_dir_all(&work);
    made.unwrap();

    // Streams that go on past the target's valid chunks, and round trips.
    for chunks in [1usize, 2] {
        let plain = vec![STREAM_FILL; chunks * CHUNK_SIZE + 10];
        let mut w = StreamWriter::new(Vec::new(), &STREAM_KEY, &STREAM_PREFIX);
        w.write_all(&plain).unwrap();
        let ct = w.finish().unwrap();
        let tail = &ct[chunks * (CHUNK_SIZE + TAG_SIZE)..];
        c.put(
            "bundle_stream",
            &format!("after-{chunks}-chunks"),
            &[&[(chunks as u8) << 1, 7], tail],
        );
        c.put(
            "bundle_stream",
            &format!("after-{chunks}-chunks-none"),
            &[&[(chunks as u8) << 1, 7]],
        );
    }
    for (name, head) in [
        ("cut", [1u8, 0, 0, 0, 9]),
        ("longer", [1, 7, 1, 0, 0]),
        ("flipped", [1, 200, 2, 0, 3]),
    ] {
        c.put(
            "bundle_stream",
            &format!("round-trip-{name}"),
            &[&head, b"stream plaintext"],
        );
    }
    c.put("bundle_blocks", "end-frame", &[&[0; 9]]);
    let journal = Journal {
        version: 1,
        snapshot: "1795931948-1-abcdef".into(),
        files: vec!["config/jwt.yaml".into(), "config/users.yaml".into()],
        dirs: vec!["files".into()],
        remove: vec!["config/ldap.yaml".into()],
        record: None,
    };
    let i = stored_index("txn/journal.yaml").unwrap();
    c.put(
        "stored_yaml",
        "journal",
        &[&[i], yaml_serde::to_string(&journal).unwrap().as_bytes()],
    );
    println!("seeds written under {}", c.0.display());
}

fn serde_json_claims(c: &jwt::Claims) -> String {
    format!(
        r#"{{"sub":"{}","role":"{}","iss":"{}","iat":{},"nbf":{},"exp":{},"jti":"{}","sid":"{}","auth_time":{}}}"#,
        c.sub, c.role, c.iss, c.iat, c.nbf, c.exp, c.jti, c.sid, c.auth_time
    )
}

/// Makes esa1 with every component, exports it, imports that into esa2,
/// and writes the seeds all that gives.
fn appliance_seeds(c: &Corpus, work: &Path) -> Result<(), tacctl::ops::OpsError> {
    let now = TOKEN.now;
    let init = |name: &str| {
        tacctl::ops::init(
            &work.join(name),
            InitRequest {
                name: name.into(),
                cluster_id: Some("fuzz-cluster".into()),
                admin_user: "admin".into(),
                admin_password: SecretString::from("fuzz admin password".to_owned()),
            },
            now,
        )
    };
    init("esa1")?;
    init("esa2")?;
    let esa1 = Ops::open(&work.join("esa1"), Duration::from_secs(5))?;
    esa1.set_network(NetworkChange {
        dns_servers: Some(vec!["10.0.0.53".into(), "2001:db8::53".into()]),
        ntp_servers: Some(vec!["ntp.example.org".into()]),
        syslog_targets: Some(vec![SyslogTarget {
            host: "logs.example.org".into(),
            port: 514,
            protocol: SyslogProtocol::Udp,
        }]),
        hostname: Some("esa1.example.org".into()),
    })?;
    esa1.set_ldap(
        LdapCommon {
            enabled: true,
            url: "ldap://ldap.example.org:389".into(),
            base_dn: "ou=people,dc=example,dc=org".into(),
            user_filter: "(uid={username})".into(),
            bind_dn: Some("cn=reader,dc=example,dc=org".into()),
            api_access_group: Some("cn=api,dc=example,dc=org".into()),
            admin_group: Some("cn=admins,dc=example,dc=org".into()),
            starttls: true,
            ca_pem: None,
            timeout_seconds: 10,
        },
        Some(&SecretSlice::from(b"bind password".to_vec())),
    )?;
    let fingerprint = esa1.tls_fingerprint()?.expect("init makes a certificate");
    esa1.add_member(Member {
        name: "esa2".into(),
        url: "https://esa2.example.org:8443".into(),
        fingerprint,
        added_at: now,
        signer: None,
    })?;
    let files = work.join("esa1/files");
    std::fs::create_dir_all(files.join("etc/app")).unwrap();
    std::fs::write(files.join("etc/app/app.conf"), "key = value\n").unwrap();
    std::fs::write(files.join("motd"), "welcome\n").unwrap();
    let pem = "-----BEGIN CERTIFICATE-----\nMIIBfuzz\n-----END CERTIFICATE-----\n";
    esa1.set_cluster_store(
        tacctl::component::ClusterStore {
            version: 1,
            kind: tacctl::component::StoreKind::Etcd,
            endpoints: vec![
                "https://etcd1.example.org:2379".into(),
                "https://[2001:db8::2]:2379".into(),
            ],
            prefix: "/tacctl/fuzz-cluster/".into(),
            ca_pem: pem.into(),
            cert_pem: pem.into(),
            key_sealed: String::new(),
            configured_at: now,
        },
        &SecretSlice::from(
            b"-----BEGIN PRIVATE KEY-----\nfuzz\n-----END PRIVATE KEY-----\n".to_vec(),
        ),
    )?;

    for rel in [
        "appliance.yaml",
        "config/jwt.yaml",
        "config/users.yaml",
        "config/network.yaml",
        "config/ldap.yaml",
        "config/tls.yaml",
        "config/cluster.yaml",
        "member-key.yaml",
        "cluster-store.yaml",
    ] {
        let text = std::fs::read(work.join("esa1").join(rel)).unwrap();
        let i = stored_index(rel).unwrap_or_else(|| panic!("{rel} is a stored type"));
        c.put(
            "stored_yaml",
            &format!("esa1-{}", rel.replace('/', "_")),
            &[&[i], &text],
        );
    }

    let kdf = header::KdfParams::TEST;
    // Every component there is something to carry for: an HMAC node that
    // trusts no member has no Appliances JWT Trust (export refuses it).
    let trust = esa1.trust_exportable(now)?;
    let kinds: Vec<Kind> = Kind::all()
        .into_iter()
        .filter(|k| *k != Kind::JwtTrust || trust)
        .collect();
    let (_, signed) = esa1.export(
        &kinds,
        true,
        &tacctl::bundle::header::Lock::passphrase(&passphrase(), kdf),
        Vec::new(),
        now,
        &NoProgress,
    )?;
    // Every export is signed, so format 3; `bundle_header` reads formats 1
    // and 2, so its seed is the same payload under a format 2 header.
    let (_, framed) = plaintext(&signed, tacctl_fuzz::PASSPHRASE).expect("the export opens");
    let mut w = header::seal(Vec::new(), &passphrase(), kdf).unwrap();
    w.write_all(&framed).unwrap();
    let bundle = w.finish().unwrap();
    c.put("bundle_header", "esa1-all", &[&[0], &bundle]);
    c.put("bundle_header", "esa1-all-checksum", &[&[1], &bundle]);
    let tar = unframe(&framed);
    archive_seeds(c, "esa1-all", &framed, &tar);
    // A header seed whose payload is short, so that mutations of the
    // header are cheap to try.
    let mut w = header::seal(Vec::new(), &passphrase(), kdf).unwrap();
    w.write_all(b"x").unwrap();
    c.put(
        "bundle_header",
        "sealed-short",
        &[&[1], &w.finish().unwrap()],
    );
    // Format 3: the whole export encrypted to the fuzz identity, another
    // recipient and a passphrase; and one short, to the identity alone.
    let other = tacctl::bundle::recipient::Identity::from_secret(&[0x17; 32]).recipient();
    let recipients = [other, tacctl_fuzz::identity().recipient()];
    let pass = passphrase();
    let (_, bundle) = esa1.export(
        &kinds,
        true,
        &header::Lock {
            passphrase: Some((&pass, kdf)),
            recipients: &recipients,
            signer: None,
        },
        Vec::new(),
        now,
        &NoProgress,
    )?;
    c.put("bundle_recipients", "esa1-all", &[&[0], &bundle]);
    let mut w = header::seal_with(
        Vec::new(),
        &header::Lock {
            passphrase: None,
            recipients: &recipients[1..],
            signer: None,
        },
        b"",
    )
    .unwrap();
    w.write_all(b"x").unwrap();
    c.put(
        "bundle_recipients",
        "sealed-short",
        &[&[1], &w.finish().unwrap()],
    );
    let mut w = BlockWriter::new(Vec::new(), 1);
    w.write_all(&tar).unwrap();
    assert_eq!(
        w.finish().unwrap(),
        framed,
        "BlockWriter frames as the export did"
    );

    let esa2 = Ops::open(&work.join("esa2"), Duration::from_secs(5))?;
    let stage = esa2.app.scratch("import")?;
    let opened = tacctl::ops::bundle::open(
        tacctl::ops::bundle::BundleInput::Memory(&bundle[..]),
        &passphrase(),
        Some(stage),
        &tacctl::ops::bundle::NoProgress,
    )?;
    let components = opened.components();
    esa2.apply(&opened, &components, true, now + 1)?;
    let history = std::fs::read(work.join("esa2/history.yaml")).unwrap();
    c.put(
        "stored_yaml",
        "esa2-history",
        &[&[stored_index("history.yaml").unwrap()], &history],
    );
    for e in std::fs::read_dir(work.join("esa2/snapshots")).unwrap() {
        let meta = e.unwrap().path().join("snapshot.yaml");
        if let Ok(text) = std::fs::read(&meta) {
            c.put(
                "stored_yaml",
                "esa2-snapshot",
                &[&[stored_index("snapshot.yaml").unwrap()], &text],
            );
        }
    }
    Ok(())
}
