//! The appliance menu driven by the scripted prompter through every branch:
//! each JWT Settings item, a mismatched or too short secret, bad expiry
//! values, wrong root credentials, export and import (a wrong passphrase, a
//! declined plan), Done, Back and Exit. Each test checks the appliance
//! afterwards, through `Ops` or the real `tacctl`, and that nothing changed
//! where nothing may.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{ADMIN, ADMIN_PASSWORD, assert_exit, assert_unchanged, mode, snapshot};
use secrecy::SecretString;
use tacctl::bundle::header::KdfParams;
use tacctl::jwt::{Algorithm, ExpiryUnit};
use tacctl::ops::{self, InitRequest, Ops};
use tacctl::wizard::{self, Context, PromptError, Question, ScriptedPrompter, WizardError};

/// The wizard's clock in these tests.
const NOW: u64 = 1_750_000_000;
/// A secret long enough for every algorithm (64 bytes).
const SECRET: &str = "wizard-secret-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKL";
/// A passphrase the strength policy accepts.
const PASSPHRASE: &str = "correct horse battery staple wizard";

/// An appliance made in process, in a temporary directory that also takes
/// the bundles the tests write.
struct Esa {
    dir: tempfile::TempDir,
    root: PathBuf,
    ops: Ops,
}

fn esa(name: &str) -> Esa {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(name);
    ops::init(
        &root,
        InitRequest {
            name: name.into(),
            cluster_id: Some("c1".into()),
            admin_user: ADMIN.into(),
            admin_password: SecretString::from(ADMIN_PASSWORD),
        },
        NOW - 60,
    )
    .unwrap();
    let ops = Ops::open(&root, Duration::from_secs(10)).unwrap();
    Esa { dir, root, ops }
}

impl Esa {
    /// Runs the main menu with `script`, which must be used up exactly.
    fn run(&self, mut script: ScriptedPrompter) -> ScriptedPrompter {
        self.try_run(&mut script).unwrap();
        assert_eq!(script.remaining(), 0, "steps left unused: {script:?}");
        script
    }

    fn try_run(&self, script: &mut ScriptedPrompter) -> Result<(), WizardError> {
        let cx = Context {
            ops: &self.ops,
            clock: || NOW,
            kdf: KdfParams::TEST,
            export_dir: self.dir.path().to_path_buf(),
            admin_user: ADMIN.into(),
            push_timeout: Duration::from_secs(20),
        };
        wizard::run(script, &cx)
    }

    fn jwt(&self) -> ops::JwtView {
        self.ops.jwt_view(NOW).unwrap()
    }

    /// `tacctl --root ROOT` with the admin password in the environment.
    fn tacctl(&self) -> assert_cmd::Command {
        let mut cmd = common::tacctl();
        cmd.arg("--root")
            .arg(&self.root)
            .env("TACCTL_ADMIN_PASSWORD", ADMIN_PASSWORD);
        cmd
    }
}

/// Main menu > Administration > JWT Configuration, root credentials given.
fn to_jwt_settings() -> ScriptedPrompter {
    ScriptedPrompter::new()
        .choose("main", "Administration")
        .choose("administration", "JWT Configuration")
        .text("root-user", "")
        .secret("root-password", ADMIN_PASSWORD)
}

/// Done, Back, Exit.
fn leave_jwt_settings(p: ScriptedPrompter) -> ScriptedPrompter {
    p.choose("jwt-settings", "Done")
        .choose("administration", "Back")
        .choose("main", "Exit")
}

/// Main menu > Export/Import, root credentials given.
fn to_export_import() -> ScriptedPrompter {
    ScriptedPrompter::new()
        .choose("main", "Export/Import")
        .text("root-user", "")
        .secret("root-password", ADMIN_PASSWORD)
}

fn leave_export_import(p: ScriptedPrompter) -> ScriptedPrompter {
    p.choose("export-import", "Back").choose("main", "Exit")
}

fn options(p: &ScriptedPrompter, id: &str) -> (Vec<String>, usize) {
    match p.question(id) {
        Some(Question::Select(q)) => (q.options.clone(), q.default),
        other => panic!("{id} was not asked as a choice: {other:?}"),
    }
}

#[test]
fn the_screens_follow_the_documented_order_and_wording_and_done_returns() {
    let e = esa("esa1");
    let before = snapshot(&e.root);
    let p = e.run(leave_jwt_settings(to_jwt_settings()));
    assert_eq!(
        p.asked(),
        [
            "main",
            "administration",
            "root-user",
            "root-password",
            "jwt-settings",
            "administration",
            "main"
        ],
        "root credentials come first, Done returns to Administration, Back to the main menu"
    );
    assert_eq!(
        options(&p, "main").0,
        [
            "Administration",
            "Export/Import",
            "Trusted Appliances Cluster",
            "Exit"
        ]
    );
    // The document's items in its order, with Set JWT Key Pair (for the
    // key-pair algorithms) after Set JWT Secret.
    assert_eq!(
        options(&p, "jwt-settings").0,
        [
            "Set JWT Algorithm",
            "Set JWT Secret",
            "Set JWT Key Pair",
            "Set Token Expiry",
            "Set Token Expiry Unit",
            "Done"
        ]
    );
    match p.question("root-user") {
        Some(Question::Input(q)) => assert_eq!(q.default.as_deref(), Some(ADMIN)),
        other => panic!("{other:?}"),
    }
    let v = e.jwt();
    assert!(
        p.notes().iter().any(|n| *n
            == format!(
                "Algorithm HS256, token expiry 30 minute(s), active key {}",
                v.kid
            )),
        "{:?}",
        p.notes()
    );
    assert_unchanged(&before, &snapshot(&e.root));
}

#[test]
fn set_jwt_algorithm_offers_hs512_hs384_hs256_then_the_key_pairs_and_applies_the_choice() {
    let e = esa("esa1");
    let p = e.run(leave_jwt_settings(
        to_jwt_settings()
            .choose("jwt-settings", "Set JWT Algorithm")
            .choose("jwt-algorithm", "HS512"),
    ));
    let (names, current) = options(&p, "jwt-algorithm");
    assert_eq!(
        (&names[..3], current),
        (&["HS512".to_owned(), "HS384".into(), "HS256".into()][..], 2),
        "the current algorithm (HS256) is highlighted"
    );
    assert_eq!(
        &names[3..],
        [
            "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"
        ],
        "the key-pair algorithms follow"
    );
    assert!(p.notes().contains(&"JWT algorithm set to HS512"));
    assert_eq!(e.jwt().algorithm, Algorithm::HS512);
}

#[test]
fn set_jwt_secret_asks_new_and_confirm_secret_and_never_shows_it() {
    let e = esa("esa1");
    let old_kid = e.jwt().kid;
    let p = e.run(leave_jwt_settings(
        to_jwt_settings()
            .choose("jwt-settings", "Set JWT Secret")
            .secret("jwt-secret", SECRET)
            .secret("jwt-secret", SECRET),
    ));
    match p.question("jwt-secret") {
        Some(Question::Password(q)) => {
            assert_eq!(q.prompt, "New Secret");
            assert_eq!(q.confirmation.as_deref(), Some("Confirm Secret"));
        }
        other => panic!("{other:?}"),
    }
    let v = e.jwt();
    let kid = tacctl::jwt::fingerprint(SECRET.as_bytes());
    assert_eq!(v.kid, kid);
    assert_eq!(v.previous_keys.len(), 1);
    assert_eq!(v.previous_keys[0].kid, old_kid);
    assert_eq!(
        v.previous_keys[0].accept_until,
        NOW + 30 * 60,
        "the old key stays accepted for one expiry period"
    );
    let summary = format!("JWT secret set; active key {kid}\nPrevious key {old_kid}");
    assert!(
        p.notes().iter().any(|n| n.starts_with(&summary)),
        "{:?}",
        p.notes()
    );
    let transcript = format!("{:?}", p.transcript());
    common::assert_no_secret(
        "the transcript",
        transcript.as_bytes(),
        "secret",
        SECRET.as_bytes(),
    );
}

#[test]
fn a_mismatched_confirm_secret_changes_nothing() {
    let e = esa("esa1");
    let before = snapshot(&e.root);
    let p = e.run(leave_jwt_settings(
        to_jwt_settings()
            .choose("jwt-settings", "Set JWT Secret")
            .secret("jwt-secret", SECRET)
            .secret("jwt-secret", &SECRET.replace('w', "W")),
    ));
    assert!(
        p.notes()
            .contains(&"New Secret and Confirm Secret do not match\nNothing was changed."),
        "{:?}",
        p.notes()
    );
    assert_unchanged(&before, &snapshot(&e.root));
}

#[test]
fn a_secret_too_short_for_hs512_is_refused_and_changes_nothing() {
    let e = esa("esa1");
    let p = to_jwt_settings()
        .choose("jwt-settings", "Set JWT Algorithm")
        .choose("jwt-algorithm", "HS512");
    e.run(leave_jwt_settings(p));
    let before = snapshot(&e.root);
    let short = &SECRET[..40];
    let p = e.run(leave_jwt_settings(
        to_jwt_settings()
            .choose("jwt-settings", "Set JWT Secret")
            .secret("jwt-secret", short)
            .secret("jwt-secret", short),
    ));
    let note = p
        .notes()
        .into_iter()
        .find(|n| n.ends_with("\nNothing was changed."))
        .expect("the refusal is shown");
    assert!(note.contains("64"), "names the length needed: {note}");
    common::assert_no_secret("the refusal", note.as_bytes(), "secret", short.as_bytes());
    assert_unchanged(&before, &snapshot(&e.root));
}

#[test]
fn set_token_expiry_refuses_bad_values_and_asks_again() {
    let e = esa("esa1");
    let p = e.run(leave_jwt_settings(
        to_jwt_settings()
            .choose("jwt-settings", "Set Token Expiry")
            .text("jwt-expiry", "0")
            .text("jwt-expiry", "-5")
            .text("jwt-expiry", "soon")
            .text("jwt-expiry", "1000001")
            .text("jwt-expiry", "45"),
    ));
    let invalid = p.invalid();
    assert_eq!(invalid.len(), 4, "{invalid:?}");
    for ((id, message), bad) in invalid.iter().zip(["0", "-5", "soon", "1000001"]) {
        assert_eq!(*id, "jwt-expiry");
        assert_eq!(
            *message,
            format!("{bad:?} is not a token expiry; enter a whole number from 1 to 1000000")
        );
    }
    match p.question("jwt-expiry") {
        Some(Question::Input(q)) => {
            assert_eq!(q.prompt, "Set Token Expiry (minute(s))");
            assert_eq!(q.default.as_deref(), Some("30"));
        }
        other => panic!("{other:?}"),
    }
    assert!(p.notes().contains(&"Token expiry set to 45 minute(s)"));
    let v = e.jwt();
    assert_eq!(
        (v.expiry_value, v.expiry_unit, v.expiry_seconds),
        (45, ExpiryUnit::Minutes, 2700)
    );
}

#[test]
fn set_token_expiry_unit_offers_second_s_to_year_s() {
    let e = esa("esa1");
    let p = e.run(leave_jwt_settings(
        to_jwt_settings()
            .choose("jwt-settings", "Set Token Expiry Unit")
            .choose("jwt-expiry-unit", "hour(s)"),
    ));
    assert_eq!(
        options(&p, "jwt-expiry-unit"),
        (
            [
                "second(s)",
                "minute(s)",
                "hour(s)",
                "day(s)",
                "week(s)",
                "month(s)",
                "year(s)"
            ]
            .map(String::from)
            .to_vec(),
            1
        )
    );
    assert!(p.notes().contains(&"Token expiry set to 30 hour(s)"));
    let v = e.jwt();
    assert_eq!(
        (v.expiry_value, v.expiry_unit, v.expiry_seconds),
        (30, ExpiryUnit::Hours, 108_000)
    );
}

#[test]
fn every_item_in_one_visit_then_tacctl_jwt_show_agrees() {
    let e = esa("esa1");
    e.run(leave_jwt_settings(
        to_jwt_settings()
            .choose("jwt-settings", "Set JWT Algorithm")
            .choose("jwt-algorithm", "HS384")
            .choose("jwt-settings", "Set JWT Secret")
            .secret("jwt-secret", SECRET)
            .secret("jwt-secret", SECRET)
            .choose("jwt-settings", "Set Token Expiry")
            .text("jwt-expiry", "2")
            .choose("jwt-settings", "Set Token Expiry Unit")
            .choose("jwt-expiry-unit", "week(s)"),
    ));
    let shown = common::json_of(e.tacctl().args(["jwt", "show", "--json"]));
    assert_eq!(shown["algorithm"], "HS384");
    assert_eq!(shown["expiry_value"], 2);
    assert_eq!(shown["expiry_unit"], "weeks");
    assert_eq!(shown["kid"], tacctl::jwt::fingerprint(SECRET.as_bytes()));
}

#[test]
fn wrong_root_credentials_are_reported_and_may_be_tried_again() {
    let e = esa("esa1");
    let p = ScriptedPrompter::new()
        .choose("main", "Administration")
        .choose("administration", "JWT Configuration")
        .text("root-user", "")
        .secret("root-password", "not-the-password")
        .confirm("root-retry", true)
        .text("root-user", "nobody")
        .secret("root-password", ADMIN_PASSWORD)
        .confirm("root-retry", true)
        .text("root-user", ADMIN)
        .secret("root-password", ADMIN_PASSWORD)
        .choose("jwt-settings", "Set JWT Algorithm")
        .choose("jwt-algorithm", "HS512");
    let p = e.run(leave_jwt_settings(p));
    let refusals: Vec<_> = p
        .notes()
        .into_iter()
        .filter(|n| n.starts_with("authentication failed"))
        .collect();
    assert_eq!(
        refusals,
        ["authentication failed: wrong user name or password."; 2]
    );
    assert_eq!(e.jwt().algorithm, Algorithm::HS512);
}

#[test]
fn giving_up_on_the_root_credentials_returns_to_the_menu_unchanged() {
    let e = esa("esa1");
    let before = snapshot(&e.root);
    let p = e.run(
        ScriptedPrompter::new()
            .choose("main", "Administration")
            .choose("administration", "JWT Configuration")
            .text("root-user", "")
            .secret("root-password", "not-the-password")
            .confirm("root-retry", false)
            .choose("administration", "Back")
            .choose("main", "Export/Import")
            .text("root-user", "")
            .secret("root-password", "still-not-it")
            .confirm("root-retry", false)
            .choose("main", "Exit"),
    );
    assert!(!p.asked().contains(&"jwt-settings"));
    assert!(!p.asked().contains(&"export-import"));
    assert_unchanged(&before, &snapshot(&e.root));
}

#[test]
fn the_cluster_menu_leads_to_its_screens() {
    let e = esa("esa1");
    let p = e.run(
        ScriptedPrompter::new()
            .choose("main", "Trusted Appliances Cluster")
            .choose("cluster", "Members")
            .choose("cluster", "Status")
            .choose("cluster", "Verify")
            .text("verify-user", "")
            .secret("verify-password", ADMIN_PASSWORD)
            .choose("cluster", "Back")
            .choose("main", "Exit"),
    );
    let notes = &p.notes()[1..];
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert!(
        notes[0]
            .starts_with("Members\nNo members yet.\nAdd one with `tacctl cluster add NAME URL`"),
        "{notes:?}"
    );
    assert!(
        notes[1].starts_with("This node: esa1 in cluster c1, HS256")
            && notes[1].ends_with("No members; add one with `tacctl cluster add NAME URL`.\n"),
        "{notes:?}"
    );
    assert!(
        notes[2].starts_with("The verifier: tokens issued by each row")
            && notes[2].contains("All 1 checks passed"),
        "{notes:?}"
    );
}

#[test]
fn a_question_the_script_does_not_answer_stops_the_wizard_with_its_name() {
    let e = esa("esa1");
    let mut p = to_jwt_settings().choose("jwt-settings", "Set JWT Algorithm");
    let err = e.try_run(&mut p).unwrap_err();
    assert!(
        matches!(&err, WizardError::Prompt(PromptError::NoAnswer { id, .. }) if id == "jwt-algorithm"),
        "{err}"
    );
    let mut p = ScriptedPrompter::new().choose("main", "Networking");
    let err = e.try_run(&mut p).unwrap_err().to_string();
    assert!(
        err.contains("\"Networking\" is not one of the options"),
        "{err}"
    );
}

/// Exports with the wizard; returns the notes and the bundle's path.
fn export(e: &Esa, components: &[&str], file: &str) -> (ScriptedPrompter, PathBuf) {
    let p = e.run(leave_export_import(
        to_export_import()
            .choose("export-import", "Export to a file")
            .check("export-components", components)
            .secret("export-passphrase", PASSPHRASE)
            .secret("export-passphrase", PASSPHRASE)
            .text("export-file", file),
    ));
    let note = p
        .notes()
        .into_iter()
        .find(|n| n.starts_with("Exported "))
        .unwrap_or_else(|| panic!("no export: {:?}", p.notes()))
        .to_owned();
    let path = PathBuf::from(note.rsplit(" to ").next().unwrap());
    (p, path)
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn export_offers_the_components_as_check_boxes_and_writes_the_default_file() {
    let e = esa("esa1");
    let (p, path) = export(&e, &["Appliances JWT Configuration", "Local users"], "");
    match p.question("export-components") {
        Some(Question::MultiSelect(q)) => {
            assert_eq!(q.prompt, "Appliance OS Configuration");
            let items: Vec<_> = q
                .items
                .iter()
                .map(|i| (i.label.as_str(), i.checked, i.disabled.is_some()))
                .collect();
            assert_eq!(
                items,
                [
                    ("Appliances JWT Configuration", true, false),
                    // An HMAC node trusting no member has no trust to carry.
                    ("Appliances JWT Trust", false, true),
                    ("Local users", false, false),
                    ("LDAP settings", false, true),
                    ("Network settings", false, false),
                    ("TLS certificate (node-local)", false, true),
                    ("Custom files", false, false),
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    let expected = e.dir.path().join("esa1-2025-06-15T150640Z.tacbundle");
    assert_eq!(path, expected, "{:?}", p.notes());
    assert_eq!(mode(&path), 0o600);
    let inspect = common::json_of(
        common::tacctl()
            .args(["inspect", "--json"])
            .arg(&path)
            .env("TACCTL_PASSPHRASE", PASSPHRASE),
    );
    let names: Vec<_> = inspect["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["jwt", "users"]);
}

#[test]
fn export_refuses_a_mismatch_a_weak_passphrase_nothing_ticked_and_an_existing_file() {
    let e = esa("esa1");
    let taken = e.dir.path().join("taken.tacbundle");
    std::fs::write(&taken, b"keep").unwrap();
    let files = files_in(e.dir.path());
    let p = e.run(leave_export_import(
        to_export_import()
            .choose("export-import", "Export to a file")
            .check("export-components", &["Appliances JWT Configuration"])
            .secret("export-passphrase", PASSPHRASE)
            .secret("export-passphrase", "something else entirely")
            .choose("export-import", "Export to a file")
            .check("export-components", &["Appliances JWT Configuration"])
            .secret("export-passphrase", "weakpass")
            .secret("export-passphrase", "weakpass")
            .choose("export-import", "Export to a file")
            .check("export-components", &[]),
    ));
    let notes = p.notes();
    let last = &notes[notes.len() - 3..];
    assert_eq!(
        last[0],
        "Bundle passphrase and Confirm passphrase do not match\nNothing was exported."
    );
    assert!(
        last[1].starts_with("the passphrase is too weak (at least 12 characters")
            && last[1].ends_with("; choose a longer one\nNothing was exported."),
        "{}",
        last[1]
    );
    assert_eq!(last[2], "No component was selected.\nNothing was exported.");
    assert_eq!(files_in(e.dir.path()), files, "no file was written");
    common::assert_no_secret(
        "the notes",
        format!("{notes:?}").as_bytes(),
        "passphrase",
        PASSPHRASE.as_bytes(),
    );

    let new = e.dir.path().join("new.tacbundle");
    let p = e.run(leave_export_import(
        to_export_import()
            .choose("export-import", "Export to a file")
            .check("export-components", &["Appliances JWT Configuration"])
            .secret("export-passphrase", PASSPHRASE)
            .secret("export-passphrase", PASSPHRASE)
            .text("export-file", taken.to_str().unwrap())
            .text("export-file", new.to_str().unwrap()),
    ));
    assert_eq!(
        p.invalid(),
        [(
            "export-file",
            format!("{} exists; choose another file name", taken.display()).as_str()
        )]
    );
    assert_eq!(std::fs::read(&taken).unwrap(), b"keep");
    assert!(
        p.notes()
            .contains(&format!("Exported jwt from esa1 to {}", new.display()).as_str()),
        "{:?}",
        p.notes()
    );
}

/// ESA 1 with HS512 and a known secret, exported (JWT and users) by the wizard.
fn esa1_bundle() -> (Esa, PathBuf) {
    let e = esa("esa1");
    e.run(leave_jwt_settings(
        to_jwt_settings()
            .choose("jwt-settings", "Set JWT Secret")
            .secret("jwt-secret", SECRET)
            .secret("jwt-secret", SECRET)
            .choose("jwt-settings", "Set JWT Algorithm")
            .choose("jwt-algorithm", "HS512"),
    ));
    let file = e.dir.path().join("esa1.tacbundle");
    let (_, path) = export(
        &e,
        &["Appliances JWT Configuration", "Local users"],
        file.to_str().unwrap(),
    );
    (e, path)
}

fn import_script(bundle: &Path, passphrase: &str) -> ScriptedPrompter {
    to_export_import()
        .choose("export-import", "Import from a file")
        .text("import-file", bundle.to_str().unwrap())
        .secret("import-passphrase", passphrase)
}

#[test]
fn import_shows_the_dry_run_plan_then_applies_it_on_confirmation() {
    let (esa1, bundle) = esa1_bundle();
    let esa2 = esa("esa2");
    assert_ne!(esa2.jwt().kid, esa1.jwt().kid);
    let dry_run = assert_exit(
        esa2.tacctl()
            .args(["import", "--dry-run"])
            .arg(&bundle)
            .env("TACCTL_PASSPHRASE", PASSPHRASE),
        0,
    )
    .stdout;

    let p = esa2.run(leave_export_import(
        import_script(&bundle, PASSPHRASE).confirm("import-apply", true),
    ));
    let notes = p.notes();
    assert!(
        notes.contains(&dry_run.as_str()),
        "the plan is shown as `import --dry-run` prints it:\n{dry_run}\nshown: {notes:?}"
    );
    assert!(dry_run.contains("jwt: changed"), "{dry_run}");
    let kid = esa1.jwt().kid;
    let outcome = notes
        .iter()
        .find(|n| n.starts_with("Imported: "))
        .unwrap_or_else(|| panic!("{notes:?}"));
    assert!(
        outcome.starts_with(&format!(
            "Imported: applied; active JWT key {kid}. Undo with `tacctl rollback "
        )),
        "{outcome}"
    );
    let shown = common::json_of(esa2.tacctl().args(["jwt", "show", "--json"]));
    assert_eq!(shown["kid"], kid);
    assert_eq!(shown["algorithm"], "HS512");
    match p.question("import-apply") {
        Some(Question::Confirm(q)) => assert!(!q.default, "applying is never the default"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn import_with_a_wrong_passphrase_changes_nothing() {
    let (_esa1, bundle) = esa1_bundle();
    let esa2 = esa("esa2");
    let before = snapshot(&esa2.root);
    let bundle_bytes = std::fs::read(&bundle).unwrap();
    let p = esa2.run(leave_export_import(import_script(
        &bundle,
        "not the passphrase at all",
    )));
    assert!(
        p.notes().contains(
            &"wrong passphrase: the bundle does not open with this passphrase\nNothing was changed."
        ),
        "{:?}",
        p.notes()
    );
    assert!(!p.asked().contains(&"import-apply"));
    assert_unchanged(&before, &snapshot(&esa2.root));
    assert_eq!(std::fs::read(&bundle).unwrap(), bundle_bytes);
}

#[test]
fn declining_the_import_plan_changes_nothing_and_a_missing_file_is_asked_again() {
    let (_esa1, bundle) = esa1_bundle();
    let esa2 = esa("esa2");
    let before = snapshot(&esa2.root);
    let missing = esa2.dir.path().join("missing.tacbundle");
    let p = esa2.run(leave_export_import(
        to_export_import()
            .choose("export-import", "Import from a file")
            .text("import-file", missing.to_str().unwrap())
            .text("import-file", bundle.to_str().unwrap())
            .secret("import-passphrase", PASSPHRASE)
            .confirm("import-apply", false),
    ));
    assert_eq!(
        p.invalid(),
        [(
            "import-file",
            format!(
                "no bundle at {}; enter the path of a bundle file",
                missing.display()
            )
            .as_str()
        )]
    );
    assert_eq!(p.notes().last(), Some(&"Nothing was changed."));
    assert_unchanged(&before, &snapshot(&esa2.root));
}

#[test]
fn importing_a_bundle_already_applied_changes_nothing_without_asking() {
    let (esa1, bundle) = esa1_bundle();
    let p = esa1.run(leave_export_import(import_script(&bundle, PASSPHRASE)));
    assert!(!p.asked().contains(&"import-apply"));
    assert_eq!(
        p.notes().last(),
        Some(&"Nothing to change: this appliance already has that configuration.")
    );
}

#[test]
fn a_bundle_for_this_nodes_member_key_imports_without_a_passphrase_and_one_for_another_is_refused()
{
    let esa1 = esa("esa1");
    let esa2 = esa("esa2");
    let esa3 = esa("esa3");
    let key = |e: &Esa| {
        common::json_of(e.tacctl().args(["status", "--json"]))["member_key"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let key2 = key(&esa2);
    let bundle = esa1.dir.path().join("to-esa2.tacbundle");
    assert_exit(
        esa1.tacctl()
            .args([
                "export",
                "-c",
                "jwt",
                "--kdf-cost",
                "test",
                "--recipient",
                &key2,
                "-o",
            ])
            .arg(&bundle),
        0,
    );
    let only_file = || {
        to_export_import()
            .choose("export-import", "Import from a file")
            .text("import-file", bundle.to_str().unwrap())
    };
    let p = esa2.run(leave_export_import(
        only_file().confirm("import-apply", true),
    ));
    assert!(!p.asked().contains(&"import-passphrase"), "{:?}", p.asked());
    assert!(
        p.notes().iter().any(|n| n.starts_with("Imported: applied")),
        "{:?}",
        p.notes()
    );
    assert_eq!(esa2.jwt().kid, esa1.jwt().kid);
    let before = snapshot(&esa3.root);
    let p = esa3.run(leave_export_import(only_file()));
    assert!(!p.asked().contains(&"import-passphrase"), "{:?}", p.asked());
    let note = p
        .notes()
        .iter()
        .find(|n| n.contains("is not encrypted to"))
        .unwrap_or_else(|| panic!("{:?}", p.notes()))
        .to_string();
    assert!(
        note.contains(&key2) && note.ends_with("Nothing was changed."),
        "{note}"
    );
    assert_unchanged(&before, &snapshot(&esa3.root));
}

#[test]
fn tacctl_wizard_without_a_terminal_refuses_at_once_with_exit_2() {
    let e = esa("esa1");
    let stderr = assert_exit(common::tacctl().arg("--root").arg(&e.root).arg("wizard"), 2).stderr;
    assert!(
        stderr.starts_with("error: the wizard needs a terminal to ask on"),
        "{stderr}"
    );
    let missing = e.dir.path().join("none");
    common::tacctl()
        .arg("--root")
        .arg(&missing)
        .arg("wizard")
        .assert()
        .code(5);
}

/// Regression: `Ops::open_bundle` dropped its staging directory on return,
/// so the custom files it had staged were gone before the plan and apply.
#[test]
fn custom_files_exported_and_imported_through_the_wizard_arrive() {
    let esa1 = esa("esa1");
    std::fs::create_dir_all(esa1.root.join("files/ca")).unwrap();
    std::fs::write(
        esa1.root.join("files/ca/bundle.pem"),
        b"-- a CA bundle --\n",
    )
    .unwrap();
    let file = esa1.dir.path().join("files.tacbundle");
    let (_, bundle) = export(&esa1, &["Custom files"], file.to_str().unwrap());
    let esa2 = esa("esa2");
    let p = esa2.run(leave_export_import(
        import_script(&bundle, PASSPHRASE).confirm("import-apply", true),
    ));
    assert!(
        p.notes().iter().any(|n| n.starts_with("Imported: applied")),
        "{:?}",
        p.notes()
    );
    assert_eq!(
        std::fs::read(esa2.root.join("files/ca/bundle.pem")).unwrap(),
        b"-- a CA bundle --\n"
    );
}
