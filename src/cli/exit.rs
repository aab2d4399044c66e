//! The process's exit codes, in one table: every error a command can end
//! with maps to one code here, as `ApiError::status()` maps them to HTTP
//! statuses. The README lists the codes; scripts rely on them.

use crate::appliance::ApplianceError;
use crate::auth::AuthError;
use crate::auth::ldap::LdapError;
use crate::bundle::BundleError;
use crate::bundle::header::HeaderError;
use crate::bundle::recipient::IdentityFileError;
use crate::cluster::ClusterError;
use crate::cluster::client::ClientError;
use crate::cluster::etcd::EtcdError;
use crate::cluster::push::PushError;
use crate::cluster::store::StoreError;
use crate::ops::OpsError;
use crate::server::ServerError;
use crate::wizard::{PromptError, WizardError};

/// How a command ended badly (documented in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// 1: anything not listed below.
    Other = 1,
    /// 2: the command line or a given value is wrong.
    Usage = 2,
    /// 3: credentials were refused.
    Auth = 3,
    /// 4: a token or a bundle did not verify, or a token cannot be refreshed.
    Verify = 4,
    /// 5: the appliance, user or file does not exist.
    NotFound = 5,
    /// 6: it exists already, or another process holds the lock.
    Conflict = 6,
    /// 7: a push failed on at least one target; the others hold the new
    /// configuration, and the result table says which.
    Partial = 7,
    /// 8: the disk: full, over quota, read-only or failing, while writing
    /// to the appliance or a bundle. Nothing was changed.
    Disk = 8,
    /// 9: a file the appliance stores is damaged or invalid (cut short,
    /// edited into something invalid, a sealed value that does not open, a
    /// journal that breaks its rules): the message names it and what to do.
    Damaged = 9,
}

/// Whether `e` says the disk could not take a write.
fn is_disk(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::StorageFull | K::QuotaExceeded | K::ReadOnlyFilesystem | K::FileTooLarge
    ) || e.raw_os_error() == Some(libc::EIO)
}

/// The exit code of this error.
pub fn of_appliance(e: &ApplianceError) -> ExitCode {
    match e {
        ApplianceError::NotAnAppliance(_) | ApplianceError::NoSnapshot(_) => ExitCode::NotFound,
        ApplianceError::AlreadyExists(_)
        | ApplianceError::NotEmpty(_)
        | ApplianceError::Locked { .. } => ExitCode::Conflict,
        ApplianceError::JournalDamaged { .. }
        | ApplianceError::Damaged { .. }
        | ApplianceError::KeyMismatch { .. }
        | ApplianceError::Unseal { .. }
        | ApplianceError::Component(_) => ExitCode::Damaged,
        ApplianceError::Io { source, .. } if is_disk(source) => ExitCode::Disk,
        _ => ExitCode::Other,
    }
}

/// The exit code of this error.
pub fn of_bundle(e: &BundleError) -> ExitCode {
    match e {
        BundleError::Header(
            HeaderError::WrongPassphrase
            | HeaderError::NoPassphrase(_)
            | HeaderError::NotARecipient { .. },
        ) => ExitCode::Auth,
        BundleError::Header(HeaderError::Recipient(_)) => ExitCode::Usage,
        BundleError::Header(HeaderError::Io(io)) if is_disk(io) => ExitCode::Disk,
        BundleError::Staging { .. } => ExitCode::Disk,
        _ => ExitCode::Verify,
    }
}

/// The exit code of this error.
pub fn of_ops(e: &OpsError) -> ExitCode {
    match e {
        OpsError::Appliance(a) => of_appliance(a),
        OpsError::Issue(_) | OpsError::Random(_) | OpsError::Runtime(_) => ExitCode::Other,
        OpsError::Auth(AuthError::WeakPassword) => ExitCode::Usage,
        OpsError::Auth(AuthError::Hash(_)) => ExitCode::Other,
        OpsError::Auth(_) => ExitCode::Auth,
        OpsError::Verify(_) | OpsError::Refresh(_) => ExitCode::Verify,
        OpsError::Key(_) | OpsError::Time(_) | OpsError::Invalid(_) | OpsError::LastAdmin(_) => {
            ExitCode::Usage
        }
        OpsError::UserExists(_) | OpsError::MemberExists(_) => ExitCode::Conflict,
        OpsError::UserNotFound(_) | OpsError::MemberNotFound(_) => ExitCode::NotFound,
        OpsError::Bundle(b) => of_bundle(b),
        OpsError::Ldap(LdapError::BadCredentials | LdapError::NoApiAccess { .. }) => ExitCode::Auth,
        OpsError::Ldap(_) => ExitCode::Other,
    }
}

/// The exit code of this error.
pub fn of_server(e: &ServerError) -> ExitCode {
    match e {
        ServerError::Ops(e) => of_ops(e),
        ServerError::InsecureNotLoopback(_) | ServerError::Tls(_) => ExitCode::Usage,
        ServerError::NoCertificate => ExitCode::NotFound,
        ServerError::Listen { .. } => ExitCode::Conflict,
        ServerError::Io(_) => ExitCode::Other,
    }
}

/// The exit code of this error.
pub fn of_push(e: &PushError) -> ExitCode {
    match e {
        PushError::Export(e) => of_ops(e),
        PushError::Peer(ClientError::BadUrl(_)) => ExitCode::Usage,
        PushError::Peer(_) | PushError::Runtime(_) => ExitCode::Other,
    }
}

/// The exit code of this error.
pub fn of_wizard(e: &WizardError) -> ExitCode {
    match e {
        WizardError::Prompt(
            PromptError::NoTerminal
            | PromptError::Missing { .. }
            | PromptError::NoDefault { .. }
            | PromptError::BadAnswer { .. },
        ) => ExitCode::Usage,
        WizardError::Prompt(_) | WizardError::Runtime(_) => ExitCode::Other,
        WizardError::Ops(e) => of_ops(e),
        WizardError::Push(e) => of_push(e),
        WizardError::Publish(crate::cluster::publish::PublishError::Store(s)) => of_store(s),
        WizardError::Publish(crate::cluster::publish::PublishError::Export(o)) => of_ops(o),
        WizardError::Publish(_) => ExitCode::Usage,
    }
}

/// The exit code of this error.
pub fn of_etcd(e: &EtcdError) -> ExitCode {
    match e {
        EtcdError::Settings(_) => ExitCode::Usage,
        EtcdError::Unavailable(_)
        | EtcdError::Refused { .. }
        | EtcdError::Protocol { .. }
        | EtcdError::LeaseExpired(_) => ExitCode::Other,
    }
}

/// The exit code of this error.
pub fn of_store(e: &StoreError) -> ExitCode {
    match e {
        StoreError::Etcd(e) => of_etcd(e),
        StoreError::Appliance(e) => of_ops(e),
        StoreError::Conflict { .. } => ExitCode::Conflict,
        StoreError::Damaged { .. } => ExitCode::Damaged,
        StoreError::TooLarge { .. } => ExitCode::Usage,
    }
}

/// The exit code of this error.
pub fn of_cluster(e: &ClusterError) -> ExitCode {
    match e {
        ClusterError::Client(ClientError::FingerprintMismatch { .. }) => ExitCode::Verify,
        ClusterError::Client(ClientError::BadUrl(_) | ClientError::Tls(_)) => ExitCode::Usage,
        ClusterError::Client(
            ClientError::Unreachable { .. }
            | ClientError::Refused { .. }
            | ClientError::Protocol { .. },
        ) => ExitCode::Other,
        ClusterError::Invalid(_)
        | ClusterError::ThisNode { .. }
        | ClusterError::OtherCluster { .. }
        | ClusterError::Unpinned { .. }
        | ClusterError::NoJwtInBundle => ExitCode::Usage,
        ClusterError::NotAnAppliance { .. } => ExitCode::Other,
        ClusterError::NotThatCertificate { .. }
        | ClusterError::Declined { .. }
        | ClusterError::TokenRefused { .. } => ExitCode::Verify,
        ClusterError::Unhealthy { mismatch, .. } => {
            if *mismatch {
                ExitCode::Verify
            } else {
                ExitCode::Other
            }
        }
        ClusterError::MatrixFailed {
            credentials_refused,
            ..
        } => {
            if *credentials_refused {
                ExitCode::Auth
            } else {
                ExitCode::Verify
            }
        }
    }
}

/// The exit code of a command that failed with `err`: the first error in
/// its chain that the table knows decides.
pub fn of(err: &anyhow::Error) -> ExitCode {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<OpsError>() {
            return of_ops(e);
        }
        if let Some(e) = cause.downcast_ref::<ApplianceError>() {
            return of_appliance(e);
        }
        if let Some(e) = cause.downcast_ref::<BundleError>() {
            return of_bundle(e);
        }
        if let Some(e) = cause.downcast_ref::<IdentityFileError>() {
            return match e {
                IdentityFileError::WrongPassphrase(_) => ExitCode::Auth,
                IdentityFileError::NotAnIdentity(_) => ExitCode::Usage,
                IdentityFileError::Damaged(_) => ExitCode::Verify,
            };
        }
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            return of_store(e);
        }
        if let Some(e) = cause.downcast_ref::<EtcdError>() {
            return of_etcd(e);
        }
        if let Some(e) = cause.downcast_ref::<ServerError>() {
            return of_server(e);
        }
        if let Some(e) = cause.downcast_ref::<WizardError>() {
            return of_wizard(e);
        }
        if let Some(e) = cause.downcast_ref::<ClusterError>() {
            return of_cluster(e);
        }
        if let Some(e) = cause.downcast_ref::<PushError>() {
            return of_push(e);
        }
        if cause.is::<super::cluster_export::NotApplied>() {
            return ExitCode::Partial;
        }
        if let Some(e) = cause.downcast_ref::<crate::cluster::publish::PublishError>() {
            return match e {
                crate::cluster::publish::PublishError::Store(s) => of_store(s),
                crate::cluster::publish::PublishError::Export(o) => of_ops(o),
                crate::cluster::publish::PublishError::NoMembers
                | crate::cluster::publish::PublishError::NotAMember { .. }
                | crate::cluster::publish::PublishError::BadRecipient { .. } => ExitCode::Usage,
            };
        }
        if cause.is::<super::cluster_export::PushFailed>() {
            return ExitCode::Partial;
        }
        if cause.is::<super::UsageError>() || cause.is::<super::secrets::NoSecret>() {
            return ExitCode::Usage;
        }
        if let Some(e) = cause.downcast_ref::<std::io::Error>()
            && is_disk(e)
        {
            return ExitCode::Disk;
        }
    }
    ExitCode::Other
}

/// The message of `err` for standard error: its chain of causes, each
/// said once. Errors that already quote their cause in their own message
/// are not followed by it again ("X: Y: Y").
pub fn message(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !c.is_empty() && !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    // A disk that failed a write gets what to do, whichever layer saw it.
    if of(err) == ExitCode::Disk && !text.contains("nothing was changed") {
        text.push_str(
            "; nothing was changed (free space on the disk holding it, or check the disk, and try again)",
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::other("disk on fire");
        let e = anyhow::Error::from(crate::bundle::archive::ArchiveError::Io(io));
        let text = message(&e);
        assert_eq!(text.matches("disk on fire").count(), 1, "{text}");
        let e = anyhow::Error::msg("inner").context("outer");
        assert_eq!(message(&e), "outer: inner");
    }

    #[test]
    fn disk_failures_and_damaged_files_have_their_own_codes() {
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let e = anyhow::Error::from(OpsError::from(BundleError::Staging {
            path: "/x".into(),
            source: full,
        }));
        assert_eq!(of(&e), ExitCode::Disk);
        let e = anyhow::Error::from(OpsError::from(ApplianceError::JournalDamaged {
            path: "/x".into(),
            problem: "p".into(),
        }));
        assert_eq!(of(&e), ExitCode::Damaged);
        let e = anyhow::Error::from(OpsError::from(crate::component::ComponentError::NotWhole {
            file: "config/users.yaml".into(),
        }));
        assert_eq!(of(&e), ExitCode::Damaged);
        let e = ClusterError::Invalid("bad url".into());
        assert_eq!(of_cluster(&e), ExitCode::Usage);
    }
}
