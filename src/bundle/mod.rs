//! Encrypted, authenticated configuration bundles: the file format over
//! `Read` and `Write`. [`header`] holds the passphrase-based key schedule,
//! [`stream`] the chunked payload encryption, [`blocks`] the compression of
//! the archive in independent blocks, [`archive`] the tar archive inside,
//! [`manifest`] its table of contents, [`recipient`] the keys a bundle is
//! encrypted to and [`origin`] the signature of the appliance that made
//! it; [`writer`] puts a bundle together and [`reader`] takes one apart,
//! checking every byte; [`plan`] is what an import would change, as it is
//! shown. Nothing here opens a file, except that the reader writes the
//! custom files of an import into the staging directory it is given.

pub mod archive;
pub mod blocks;
pub mod header;
pub mod manifest;
pub mod origin;
pub mod plan;
pub mod proof;
pub mod reader;
pub mod recipient;
pub mod stream;
pub mod writer;

use std::io::Read;
use std::path::PathBuf;

use archive::ArchiveError;
use header::HeaderError;
use manifest::ManifestError;

pub use plan::{
    Change, ComponentPlan, ImportOutcome, PLAN_LINES_PER_COMPONENT, Plan, SignedBy, describe_origin,
};
pub use reader::{Opened, SMALL_BUNDLE_BYTES, Tree, open, workers_for};
pub use writer::{Content, TreeItem, write};

/// Why a bundle could not be written, read or checked.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The header, or the payload's encryption.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The archive inside.
    #[error(transparent)]
    Archive(ArchiveError),
    /// The manifest, or the archive against it.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A component's file does not parse or holds invalid values.
    #[error("the bundle's {0}")]
    Component(crate::component::ComponentError),
    /// The origin signature does not verify over the manifest.
    #[error(transparent)]
    Origin(#[from] origin::OriginError),
    /// The proof token does not verify with the bundle's own JWT keys.
    #[error(
        "the bundle's proof token does not verify with the JWT configuration it carries ({0}); the bundle was not made by the appliance it names. Nothing was changed"
    )]
    Proof(String),
    /// Writing a staged file failed: the disk, not the bundle.
    #[error("{}: {source}; nothing was changed (free space on the disk holding it, or check it, and try again)", path.display())]
    Staging {
        /// The file or directory being written.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A file changed while it was exported, or the bundle while it was read.
    #[error("{0}")]
    Changed(String),
}

impl From<ArchiveError> for BundleError {
    /// Errors of the layers below the archive, carried through it, come
    /// back out as themselves: a damaged payload chunk is the payload's
    /// error, a manifest mismatch the manifest's, a full disk the disk's.
    fn from(e: ArchiveError) -> Self {
        match e {
            ArchiveError::Io(io) => match stream::payload_error(&io) {
                Some(p) => BundleError::Header(HeaderError::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    p.clone(),
                ))),
                None => BundleError::Archive(ArchiveError::Io(io)),
            },
            ArchiveError::Manifest(m) => BundleError::Manifest(m),
            ArchiveError::Staging { path, source } => BundleError::Staging { path, source },
            other => BundleError::Archive(other),
        }
    }
}

/// Where a long export or import reports how far it has got, in bytes. The
/// command line draws a progress bar with it; this layer never touches the
/// terminal. Calls may come from any thread.
pub trait Progress: Sync {
    /// The number of bytes the operation will go through, once known.
    fn total(&self, _bytes: u64) {}
    /// The number of bytes gone through so far; it never decreases.
    fn done(&self, _bytes: u64) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}

/// How many bytes add up before [`Tally`] reports them.
const REPORT_EVERY: u64 = 1 << 20;

/// Adds bytes up and reports the sum to a [`Progress`] every
/// [`REPORT_EVERY`] bytes and when asked.
pub(crate) struct Tally<'a> {
    progress: &'a dyn Progress,
    done: u64,
    reported: u64,
}

impl<'a> Tally<'a> {
    pub(crate) fn new(progress: &'a dyn Progress) -> Self {
        Self {
            progress,
            done: 0,
            reported: 0,
        }
    }

    pub(crate) fn add(&mut self, n: usize) {
        self.done += n as u64;
        if self.done - self.reported >= REPORT_EVERY {
            self.report();
        }
    }

    pub(crate) fn report(&mut self) {
        self.reported = self.done;
        self.progress.done(self.done);
    }
}

/// A reader that counts what passes through it into a [`Tally`], and
/// reports the sum when it reaches the end.
pub(crate) struct Counted<'t, 'a, R> {
    pub(crate) inner: R,
    pub(crate) tally: &'t mut Tally<'a>,
}

impl<R: Read> Read for Counted<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.tally.report();
        } else {
            self.tally.add(n);
        }
        Ok(n)
    }
}
