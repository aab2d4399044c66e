//! `tacctl wizard`: the appliance menu on this terminal.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{now, open};

/// `tacctl wizard`: the menu on this terminal, until Exit.
pub(super) fn run(root: &Path) -> Result<()> {
    use crate::wizard::{self, Context, TerminalPrompter, WizardError};
    let ops = open(root)?;
    let mut prompter = TerminalPrompter::new().map_err(WizardError::from)?;
    let cx = Context {
        ops: &ops,
        clock: now,
        kdf: crate::bundle::header::KdfParams::DEFAULT,
        export_dir: PathBuf::new(),
        admin_user: std::env::var("TACCTL_ADMIN_USER").unwrap_or_else(|_| "admin".into()),
        push_timeout: crate::cluster::push::DEFAULT_TARGET_TIMEOUT,
    };
    wizard::run(&mut prompter, &cx)?;
    Ok(())
}
