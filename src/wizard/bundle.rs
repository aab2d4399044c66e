//! Export/Import: the Appliance OS Configuration to and from an encrypted
//! bundle file, through the same [`Ops`](crate::ops::Ops) functions and with
//! the same texts as `tacctl export` and `tacctl import`.
//!
//! Node-local settings (the TLS certificate, the host name) are left out, as
//! `tacctl export -c` and `tacctl import` leave them out: full backups are
//! `tacctl export --all`.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use crate::bundle::header::Unlock;
use crate::component::{Component, Scope};
use crate::ops::bundle::{
    BundleInput, ImportChoice, Imported, Opening, check_passphrase, default_bundle_name,
    export_summary, opening,
};

use super::prompt::{CheckItem, Confirm, Input, MultiSelect, Password, PromptError, Prompter};
use super::{Context, Entry, NO_TRUST, Result, menu, refused, root_credentials};

/// What the export screens produce; `tacctl export -c ... -o FILE` describes
/// the same export with flags.
#[derive(Debug)]
pub struct ExportPlan {
    /// The components, in bundle order.
    pub components: Vec<Component>,
    /// The file to create.
    pub path: PathBuf,
    /// The passphrase, already checked against the strength policy.
    pub passphrase: SecretString,
}

#[derive(Debug, Clone, Copy)]
enum Item {
    Export,
    Import,
    Back,
}

/// Export/Import.
const EXPORT_IMPORT_MENU: [Entry<Item>; 3] = [
    (Item::Export, "Export to a file"),
    (Item::Import, "Import from a file"),
    (Item::Back, "Back"),
];

/// Why the TLS certificate cannot be ticked.
const NODE_LOCAL: &str = "node-local: only in full backups, `tacctl export --all`";

/// Export/Import: root credentials, then the menu until Back.
pub(super) fn export_import(p: &mut dyn Prompter, cx: &Context<'_>) -> Result<()> {
    if !root_credentials(p, cx)? {
        return Ok(());
    }
    loop {
        match menu(p, "export-import", "Export/Import", &EXPORT_IMPORT_MENU)? {
            Item::Export => export(p, cx)?,
            Item::Import => import(p, cx)?,
            Item::Back => return Ok(()),
        }
    }
}

fn export(p: &mut dyn Prompter, cx: &Context<'_>) -> Result<()> {
    let Some(plan) = ask_export(p, cx)? else {
        return Ok(());
    };
    let text = match cx.ops.export_to_file(
        &plan.components,
        false,
        &crate::bundle::header::Lock::passphrase(&plan.passphrase, cx.kdf),
        &plan.path,
        cx.now(),
        &crate::ops::bundle::NoProgress,
    ) {
        Ok(manifest) => export_summary(&manifest, &plan.path),
        Err(e) => not_exported(&e),
    };
    p.note(&text)?;
    Ok(())
}

fn not_exported(e: &dyn std::fmt::Display) -> String {
    format!("{e}\nNothing was exported.")
}

/// The export screens: components as check boxes, the passphrase twice,
/// the file. `None` when an answer is refused (reported on the screen).
fn ask_export(p: &mut dyn Prompter, cx: &Context<'_>) -> Result<Option<ExportPlan>> {
    let ldap_configured = cx.ops.ldap()?.is_some();
    let trust = cx.ops.trust_exportable(cx.now())?;
    let items: Vec<(Component, CheckItem)> = Component::all()
        .into_iter()
        .map(|c| {
            let item = match c {
                _ if c.scope() == Scope::Node => CheckItem::disabled(c.label(), NODE_LOCAL),
                Component::Jwt => CheckItem::new(c.label(), true),
                Component::Ldap if !ldap_configured => {
                    CheckItem::disabled(c.label(), "not configured")
                }
                Component::JwtTrust if !trust => CheckItem::disabled(c.label(), NO_TRUST),
                _ => CheckItem::new(c.label(), false),
            };
            (c, item)
        })
        .collect();
    let ticked = p.multi_select(&MultiSelect {
        id: "export-components",
        prompt: "Appliance OS Configuration".into(),
        items: items.iter().map(|(_, i)| i.clone()).collect(),
    })?;
    if ticked.is_empty() {
        p.note("No component was selected.\nNothing was exported.")?;
        return Ok(None);
    }
    let components = ticked.iter().map(|&i| items[i].0).collect();

    let q = Password::new("export-passphrase", "Bundle passphrase").confirm("Confirm passphrase");
    let passphrase = match p.password(&q) {
        Ok(pass) => pass,
        Err(e @ PromptError::Mismatch { .. }) => {
            p.note(&not_exported(&e))?;
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    if let Err(e) = check_passphrase(&passphrase) {
        p.note(&not_exported(&format!("{e}; choose a longer one")))?;
        return Ok(None);
    }

    let default = cx
        .export_dir
        .join(default_bundle_name(&cx.ops.status()?.name, cx.now()));
    let path = p.input(
        &Input::new("export-file", "Export to file")
            .default(default.display().to_string())
            .validate(new_file),
    )?;
    Ok(Some(ExportPlan {
        components,
        path: PathBuf::from(path.trim()),
        passphrase,
    }))
}

/// A path where a new file can be created.
fn new_file(s: &str) -> Result<(), String> {
    let path = Path::new(s.trim());
    if s.trim().is_empty() {
        return Err("enter a file name".into());
    }
    if path.exists() {
        return Err(format!(
            "{} exists; choose another file name",
            path.display()
        ));
    }
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) if !dir.is_dir() => Err(format!(
            "there is no directory {}; choose an existing one",
            dir.display()
        )),
        _ => Ok(()),
    }
}

/// An existing bundle file.
fn bundle_file(s: &str) -> Result<(), String> {
    if Path::new(s.trim()).is_file() {
        Ok(())
    } else {
        Err(format!(
            "no bundle at {}; enter the path of a bundle file",
            s.trim()
        ))
    }
}

/// Import from a file: the passphrase, the plan as `tacctl import --dry-run`
/// prints it, confirmation, then one atomic apply and its outcome.
fn import(p: &mut dyn Prompter, cx: &Context<'_>) -> Result<()> {
    let path = p.input(&Input::new("import-file", "Import from file").validate(bundle_file))?;
    let path = Path::new(path.trim());
    // A bundle encrypted to this node's member key opens with it, and one
    // that neither it nor a passphrase opens is refused before anything is
    // asked.
    let member = cx.ops.member_identity(cx.now());
    let recipient = member.as_ref().ok().map(|m| m.recipient());
    let passphrase;
    let unlock = match (opening(path, recipient.as_ref()), &member) {
        (Err(e), _) => return Ok(p.note(&refused(&e))?),
        (Ok(Opening::MemberKey), Ok(m)) => Unlock::Identity(m),
        _ => {
            passphrase = p.password(&Password::new("import-passphrase", "Bundle passphrase"))?;
            Unlock::Passphrase(&passphrase)
        }
    };
    let mut asked: Option<PromptError> = None;
    let imported = cx.ops.import(
        BundleInput::File(path),
        unlock,
        &ImportChoice::default(),
        cx.now(),
        &crate::ops::bundle::NoProgress,
        &mut |plan| {
            let answer = p
                .note(&plan.to_string())
                .and_then(|()| p.confirm(&Confirm::new("import-apply", "Apply this plan?", false)));
            // A prompt that fails ends the wizard, not the import alone.
            answer.or_else(|e| {
                asked = Some(e);
                Ok(false)
            })
        },
    );
    if let Some(e) = asked {
        return Err(e.into());
    }
    match imported {
        Err(e) => p.note(&refused(&e))?,
        Ok(Imported::Declined(_)) => p.note("Nothing was changed.")?,
        Ok(Imported::Applied(plan, outcome)) => {
            if plan.is_noop() {
                p.note(&plan.to_string())?;
            }
            p.note(&outcome.to_string())?;
        }
        Ok(Imported::Planned(plan)) => p.note(&plan.to_string())?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_files_must_be_new_in_an_existing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let taken = dir.path().join("taken.tacbundle");
        std::fs::write(&taken, b"x").unwrap();
        assert!(new_file(dir.path().join("new.tacbundle").to_str().unwrap()).is_ok());
        assert!(new_file("relative.tacbundle").is_ok());
        let e = new_file(taken.to_str().unwrap()).unwrap_err();
        assert!(e.ends_with("exists; choose another file name"), "{e}");
        let e = new_file(dir.path().join("no/such.tacbundle").to_str().unwrap()).unwrap_err();
        assert!(e.starts_with("there is no directory"), "{e}");
        assert!(new_file("  ").is_err());
        assert!(bundle_file(taken.to_str().unwrap()).is_ok());
        assert!(bundle_file(dir.path().to_str().unwrap()).is_err());
    }
}
