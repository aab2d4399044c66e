//! Taking a bundle apart: the header opened with the passphrase, the
//! payload decrypted and authenticated chunk by chunk, the archive read
//! under the manifest's rules.
//!
//! Nothing a bundle holds reaches the disk before the manifest has vouched
//! for it. tacctl writes the manifest first, and the reader reads it first:
//! it checks it whole ([`Manifest::check`]), then every entry against it
//! before reading any of its content: listed, of the listed size and mode,
//! and, once read, of the listed SHA-256. A file too large for its listing
//! is refused from its header, before a byte of it is read. The
//! configuration components' files (which carry secrets) are held in
//! memory only, wiped when dropped; only custom files go to disk, and only
//! for an import that may be applied, into the staging directory the
//! caller gives. A plan, an inspection or a dry run writes nothing.
//!
//! Bundles written before the manifest came first (and any bundle that
//! puts it elsewhere) are read twice: once to find and check the manifest
//! and everything it lists while writing nothing, and, if custom files are
//! to be staged, once more with the manifest's rules in force from the
//! first entry. The payload key is derived once; the input must seek.
//!
//! Nothing is trusted until the stream's last chunk has been authenticated
//! and nothing was found after the archive: the reading fails otherwise,
//! and the caller discards the staging directory. Then, when the header
//! names a signer (an origin stanza), its signature must verify over the
//! manifest exactly as the archive held it, or the bundle is refused; only
//! a verified signer is reported ([`Opened::origin`]).

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::archive::{
    self, Action, ArchiveError, DirAction, Extracted, ExtractedDir, Extraction, FileRule, Rules,
};
use super::header::{self, HeaderError, KdfParams, PayloadKey, Unlock};
use super::manifest::{
    Listing, MANIFEST_PATH, MAX_COMPONENT_BYTES, MAX_MANIFEST_BYTES, Manifest, ManifestError,
};
use super::origin::SignerKey;
use super::recipient::Recipient;
use super::stream::StreamReader;
use super::{BundleError, Counted, Progress, Tally, blocks};
use crate::component::{Component, FILES_DIR};

/// Bundles of at most this many bytes are opened on the calling thread
/// alone. Otherwise opening one starts threads: one parses frames, one per
/// core inflates blocks, one writes the files. A bundle this small holds at
/// most one block, so they would have nothing to share, and starting them
/// is not free: on the 2-core virtual machine of docs/BENCHMARKS.md, four
/// threads started in a process that had sat idle for half a second took
/// 1.6 to 5 ms, more than a JWT bundle's whole extraction.
pub const SMALL_BUNDLE_BYTES: u64 = 1 << 20;

/// The inflating threads for a bundle of `size` bytes: none for a small
/// one (see [`SMALL_BUNDLE_BYTES`]), else one per core.
pub fn workers_for(size: Option<u64>) -> usize {
    match size {
        Some(n) if n <= SMALL_BUNDLE_BYTES => 0,
        _ => blocks::default_workers(),
    }
}

/// The custom files of an opened bundle: each file and directory as the
/// archive held it, and where they were staged, if they were.
#[derive(Debug, Default)]
pub struct Tree {
    /// The files under `files/`, each with its size, SHA-256 and mode.
    pub files: Vec<Extracted>,
    /// The directories under `files/`, each with its archive mode.
    pub dirs: Vec<ExtractedDir>,
    /// The staged `files/` directory, for an import; `None` when nothing
    /// was written (a plan) or the bundle has no custom files.
    pub staged: Option<PathBuf>,
}

/// A bundle opened and checked: its manifest, its components' files in
/// memory, and its custom files.
pub struct Opened {
    /// The manifest.
    pub manifest: Manifest,
    /// The passphrase's KDF parameters; `None` for a bundle encrypted to
    /// recipients only.
    pub kdf: Option<KdfParams>,
    /// The recipients it is encrypted to (format 3), in header order.
    pub recipients: Vec<Recipient>,
    /// The format version.
    pub version: u8,
    /// Who signed it, once the signature was verified over its manifest.
    origin: Option<SignerKey>,
    /// Each configuration component's file, wiped when dropped.
    texts: BTreeMap<Component, Zeroizing<Vec<u8>>>,
    /// The custom files.
    pub tree: Tree,
}

impl Opened {
    /// The file of `component`, a configuration component, when the bundle
    /// has it.
    pub fn text(&self, component: Component) -> Option<&[u8]> {
        self.texts.get(&component).map(|t| &t[..])
    }

    /// Who signed the bundle: the key its origin stanza names, whose
    /// signature over the manifest was verified when it was opened. `None`
    /// for an unsigned bundle (formats 1 and 2, and format 3 without an
    /// origin stanza).
    pub fn origin(&self) -> Option<&SignerKey> {
        self.origin.as_ref()
    }

    /// The components the bundle carries, in bundle order.
    pub fn components(&self) -> Vec<Component> {
        let mut components: Vec<Component> = self
            .manifest
            .components
            .iter()
            .filter_map(|c| Component::parse(&c.name).ok())
            .collect();
        components.sort();
        components
    }
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("source", &self.manifest.source)
            .field("origin", &self.origin)
            .field("components", &self.components())
            .field("texts", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// Opens a bundle from `input` with `unlock` (its passphrase, or the
/// identity of one of its recipients) and checks all of it.
///
/// With `stage` (an empty private directory on the file system the
/// import will apply to), the custom files are written under
/// `stage/files/`, ready to be applied; without, nothing is written at all.
/// `size` is the bundle's length when known: a small bundle is then opened
/// on this thread alone ([`workers_for`]). `progress` learns how many
/// bytes of `input` have been read.
pub fn open<'a, R: Read + Seek + Send>(
    mut input: R,
    size: Option<u64>,
    unlock: impl Into<Unlock<'a>>,
    stage: Option<&Path>,
    progress: &dyn Progress,
) -> Result<Opened, BundleError> {
    if let Some(size) = size {
        progress.total(size);
    }
    let mut tally = Tally::new(progress);
    let (info, key) = header::open_key(
        &mut Counted {
            inner: &mut input,
            tally: &mut tally,
        },
        unlock,
    )?;
    let start = input.stream_position().map_err(HeaderError::Io)?;
    let workers = workers_for(size);
    let mut first = FirstPass {
        stage,
        state: State::Start,
        memory: BTreeMap::new(),
    };
    let found = read_payload(
        &mut input,
        &key,
        info.version,
        workers,
        stage,
        &mut first,
        &mut tally,
    )?;
    let (manifest, listing, tree) = match first.state {
        State::Strict { manifest, listing } => {
            listing.missing(
                found.files.iter().map(|f| f.path.as_str()),
                found.dirs.iter().map(|d| d.path.as_str()),
            )?;
            let tree = tree_of(found, stage, &listing);
            (*manifest, listing, tree)
        }
        State::Start | State::Legacy => {
            // The manifest came last, or not at all: check it against
            // everything the first reading measured, then read again to
            // stage the custom files under its rules.
            let text = first
                .memory
                .get(MANIFEST_PATH)
                .ok_or_else(|| ManifestError::Contents("manifest.yaml is missing".into()))?;
            let manifest = Manifest::parse(manifest_text(text)?)?;
            let listing = manifest.check()?;
            let measured = found;
            manifest.check_files(&measured)?;
            let has_tree = listing
                .files
                .values()
                .any(|f| f.component == Component::Files)
                || !listing.dirs.is_empty();
            let tree = match stage {
                Some(stage) if has_tree => {
                    check_space(stage, listing.total)?;
                    input
                        .seek(SeekFrom::Start(start))
                        .map_err(HeaderError::Io)?;
                    if let Some(size) = size {
                        progress.total(size.saturating_mul(2));
                    }
                    let mut second = SecondPass {
                        listing: &listing,
                        stage,
                        manifest_sha256: hex::encode(Sha256::digest(text)),
                    };
                    let staged = read_payload(
                        &mut input,
                        &key,
                        info.version,
                        workers,
                        Some(stage),
                        &mut second,
                        &mut tally,
                    )?;
                    listing.missing(
                        staged.files.iter().map(|f| f.path.as_str()),
                        staged.dirs.iter().map(|d| d.path.as_str()),
                    )?;
                    tree_of(staged, Some(stage), &listing)
                }
                _ => tree_of(measured, None, &listing),
            };
            (manifest, listing, tree)
        }
    };
    // The whole archive is authenticated and matches its manifest: the
    // signature, when there is one, must be over that manifest.
    let origin = match &info.origin {
        Some(claim) => Some(
            claim.verify(
                first
                    .memory
                    .get(MANIFEST_PATH)
                    .expect("a checked manifest was read into memory"),
            )?,
        ),
        None => None,
    };
    let mut texts = BTreeMap::new();
    for (path, listed) in &listing.files {
        if listed.component != Component::Files {
            let data = first
                .memory
                .remove(path)
                .expect("every listed component file was read into memory and checked");
            texts.insert(listed.component, data);
        }
    }
    if let Some(text) = texts.get(&Component::Jwt) {
        let text = std::str::from_utf8(text).map_err(|_| {
            BundleError::Component(crate::component::ComponentError::Parse {
                file: Component::Jwt.path().to_owned(),
                message: "it is not UTF-8".into(),
            })
        })?;
        let jwt: crate::component::JwtExport =
            crate::component::parse(text, Component::Jwt.path()).map_err(BundleError::Component)?;
        super::proof::check(&jwt, &manifest).map_err(BundleError::Proof)?;
    }
    Ok(Opened {
        manifest,
        kdf: info.kdf,
        recipients: info.recipients,
        version: info.version,
        origin,
        texts,
        tree,
    })
}

/// The manifest's bytes as text: UTF-8, or the bundle is refused.
fn manifest_text(bytes: &[u8]) -> Result<&str, ManifestError> {
    std::str::from_utf8(bytes).map_err(|_| ManifestError::Parse("it is not UTF-8".into()))
}

/// The custom files found by a reading, staged under `stage` or not.
fn tree_of(found: Extraction, stage: Option<&Path>, listing: &Listing) -> Tree {
    let in_tree = |p: &str| p.split_once('/').is_some_and(|(top, _)| top == FILES_DIR);
    let files: Vec<Extracted> = found
        .files
        .into_iter()
        .filter(|f| in_tree(&f.path))
        .collect();
    let has_tree = !files.is_empty() || !listing.dirs.is_empty();
    Tree {
        files,
        dirs: found.dirs,
        staged: stage.filter(|_| has_tree).map(|s| s.join(FILES_DIR)),
    }
}

/// Reads the payload from `input` (at its first byte) through the archive,
/// under `rules`; format version 2 inflates its blocks on `workers`
/// threads ([`archive::extract`]), version 1's single gzip member is read
/// by [`extract_v1`].
fn read_payload<R: Read + Send>(
    input: &mut R,
    key: &PayloadKey,
    version: u8,
    workers: usize,
    stage: Option<&Path>,
    rules: &mut dyn Rules,
    tally: &mut Tally<'_>,
) -> Result<Extraction, BundleError> {
    let options = archive::Options {
        writeback: stage.is_some(),
    };
    let reader = key.reader(Counted {
        inner: input,
        tally,
    });
    Ok(match version {
        1 => extract_v1(reader, stage, rules, options),
        _ => archive::extract(reader, stage, workers, rules, options),
    }?)
}

/// Where the first reading is: before any entry, under a manifest that
/// came first, or reading a bundle whose manifest did not.
enum State {
    Start,
    Strict {
        manifest: Box<Manifest>,
        listing: Listing,
    },
    Legacy,
}

/// The rules of the first reading: a manifest that comes first sets the
/// rules for every entry after it; otherwise nothing is written, the
/// components' files and the manifest are kept in memory within their
/// limits, and the custom files only measured.
struct FirstPass<'a> {
    stage: Option<&'a Path>,
    state: State,
    /// The manifest's and the components' files, by path.
    memory: BTreeMap<String, Zeroizing<Vec<u8>>>,
}

/// "X is N bytes, over the limit of M for Y".
fn too_large(path: &str, size: u64, limit: u64, what: &str) -> ArchiveError {
    ArchiveError::TooLarge(format!(
        "{path} is {size} bytes, over the limit of {limit} for {what}"
    ))
}

fn not_listed(path: &str) -> ArchiveError {
    ManifestError::Contents(format!("{path} is not listed in the manifest")).into()
}

/// The rule for a file under a checked manifest's listing: listed, of the
/// listed size and mode; a component's file into memory, a custom file to
/// disk when staging and measured otherwise; its checksum checked.
fn strict_file(
    listing: &Listing,
    stage: Option<&Path>,
    path: &str,
    size: u64,
    mode: u32,
) -> Result<FileRule, ArchiveError> {
    let Some(want) = listing.files.get(path) else {
        return Err(not_listed(path));
    };
    if size != want.size {
        return Err(ManifestError::Size {
            path: path.to_owned(),
            archive: size,
            listed: want.size,
        }
        .into());
    }
    if want.mode.is_some_and(|m| m != mode) {
        return Err(ManifestError::Checksum(path.to_owned()).into());
    }
    let action = match (want.component, stage) {
        (Component::Files, Some(_)) => Action::Disk {
            // Mode bits travel where the manifest lists them; an older
            // bundle's custom files without modes arrive 0600.
            keep_mode: want.mode.is_some(),
        },
        (Component::Files, None) => Action::Measure,
        _ => Action::Memory,
    };
    Ok(FileRule {
        action,
        sha256: Some(want.sha256.clone()),
    })
}

fn strict_dir(
    listing: &Listing,
    stage: Option<&Path>,
    path: &str,
) -> Result<DirAction, ArchiveError> {
    if !listing.dirs.contains(path) {
        return Err(ManifestError::Contents(format!(
            "the directory {path} is not listed in the manifest"
        ))
        .into());
    }
    Ok(match stage {
        Some(_) => DirAction::Create { keep_mode: true },
        None => DirAction::Record,
    })
}

impl Rules for FirstPass<'_> {
    fn file(&mut self, path: &str, size: u64, mode: u32) -> Result<FileRule, ArchiveError> {
        if matches!(self.state, State::Start) {
            self.state = if path == MANIFEST_PATH {
                State::Start
            } else {
                State::Legacy
            };
        }
        match &self.state {
            State::Strict { listing, .. } => strict_file(listing, self.stage, path, size, mode),
            _ if path == MANIFEST_PATH => {
                if size > MAX_MANIFEST_BYTES {
                    return Err(too_large(path, size, MAX_MANIFEST_BYTES, "the manifest"));
                }
                Ok(FileRule {
                    action: Action::Memory,
                    sha256: None,
                })
            }
            _ if Component::of_file(path).is_some() => {
                if size > MAX_COMPONENT_BYTES {
                    return Err(too_large(
                        path,
                        size,
                        MAX_COMPONENT_BYTES,
                        "a component's file",
                    ));
                }
                Ok(FileRule {
                    action: Action::Memory,
                    sha256: None,
                })
            }
            _ if path
                .split_once('/')
                .is_some_and(|(top, _)| top == FILES_DIR) =>
            {
                Ok(FileRule {
                    action: Action::Measure,
                    sha256: None,
                })
            }
            _ => Err(not_listed(path)),
        }
    }

    fn dir(&mut self, path: &str, _mode: u32) -> Result<DirAction, ArchiveError> {
        if matches!(self.state, State::Start) {
            self.state = State::Legacy;
        }
        match &self.state {
            State::Strict { listing, .. } => strict_dir(listing, self.stage, path),
            _ if path
                .split_once('/')
                .is_some_and(|(top, _)| top == FILES_DIR) =>
            {
                Ok(DirAction::Record)
            }
            _ => Err(ManifestError::Contents(format!(
                "the directory {path} is not listed in the manifest"
            ))
            .into()),
        }
    }

    fn kept(&mut self, file: &mut Extracted) -> Result<(), ArchiveError> {
        let data = file
            .data
            .take()
            .expect("a file kept in memory has its data");
        if matches!(self.state, State::Start) {
            // The manifest came first: it rules every entry from here on.
            let manifest = Manifest::parse(manifest_text(&data)?)?;
            let listing = manifest.check()?;
            if let Some(stage) = self.stage {
                check_space(stage, listing.total)?;
            }
            self.state = State::Strict {
                manifest: Box::new(manifest),
                listing,
            };
        }
        self.memory.insert(file.path.clone(), data);
        Ok(())
    }
}

/// The rules of a second reading, with the manifest found by the first in
/// force from the first entry: the custom files are staged, everything
/// else only measured again, the manifest included, which must be the one
/// the first reading checked.
struct SecondPass<'a> {
    listing: &'a Listing,
    stage: &'a Path,
    manifest_sha256: String,
}

impl Rules for SecondPass<'_> {
    fn file(&mut self, path: &str, size: u64, mode: u32) -> Result<FileRule, ArchiveError> {
        if path == MANIFEST_PATH {
            return Ok(FileRule {
                action: Action::Measure,
                sha256: Some(self.manifest_sha256.clone()),
            });
        }
        let mut rule = strict_file(self.listing, Some(self.stage), path, size, mode)?;
        if rule.action == Action::Memory {
            rule.action = Action::Measure;
        }
        Ok(rule)
    }

    fn dir(&mut self, path: &str, _mode: u32) -> Result<DirAction, ArchiveError> {
        strict_dir(self.listing, Some(self.stage), path)
    }
}

/// Refuses to stage `bytes` where the disk has less room than that, so a
/// bundle too large for it is refused before anything is written.
fn check_space(stage: &Path, bytes: u64) -> Result<(), ArchiveError> {
    let Ok(fs) = rustix::fs::statvfs(stage) else {
        // A file system that cannot say is left to fail on write, which
        // is reported the same way.
        return Ok(());
    };
    let free = fs.f_bavail.saturating_mul(fs.f_frsize);
    if bytes > free {
        return Err(ArchiveError::Staging {
            path: stage.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                format!(
                    "the bundle's custom files need {bytes} bytes and the disk has {free} bytes free"
                ),
            ),
        });
    }
    Ok(())
}

/// Bytes per message between the threads of [`extract_v1`].
const PIECE: usize = 256 * 1024;

/// Extracts a format version 1 payload, one gzip member of the tar archive.
///
/// Three threads share the work: one decrypts, one decompresses, and this
/// one parses the archive and hands the files over (see
/// [`archive::extract_tar`]). It succeeds only once the decrypting side has
/// authenticated the stream's last chunk and the decompressing side has
/// found nothing after the gzip member.
fn extract_v1<R: Read + Send>(
    reader: StreamReader<R>,
    stage: Option<&Path>,
    rules: &mut dyn Rules,
    options: archive::Options,
) -> Result<Extraction, ArchiveError> {
    let (ctx, crx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(4);
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(4);
    std::thread::scope(|scope| {
        scope.spawn(move || decrypt(reader, ctx));
        scope.spawn(move || {
            let plaintext = ChannelReader {
                rx: crx,
                buf: Vec::new(),
                pos: 0,
            };
            decompress(plaintext, tx)
        });
        let mut pipe = ChannelReader {
            rx,
            buf: Vec::new(),
            pos: 0,
        };
        let found = archive::extract_tar(&mut pipe, stage, rules, options)?;
        // Read to the end: this surfaces any error the other side found
        // after the archive's end (bad gzip trailer, damaged or missing last
        // chunk, plaintext after the gzip member).
        archive::expect_end(&mut pipe)?;
        Ok(found)
    })
}

/// Sends what `reader` yields into `tx`, `PIECE` bytes at a time. On an
/// error, sends it and returns false; returns false too if the receiver is
/// gone, and true at the end of `reader`.
fn pump(
    reader: &mut impl Read,
    tx: &std::sync::mpsc::SyncSender<std::io::Result<Vec<u8>>>,
) -> bool {
    loop {
        let mut buf = Vec::with_capacity(PIECE);
        match reader.by_ref().take(PIECE as u64).read_to_end(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {
                if tx.send(Ok(buf)).is_err() {
                    return false;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return false;
            }
        }
    }
}

/// The first stage of [`extract_v1`]: authenticates and decrypts the
/// payload chunk by chunk into the channel; the channel closes only after
/// the last chunk was verified, and carries the error otherwise.
fn decrypt<R: Read>(
    mut reader: StreamReader<R>,
    tx: std::sync::mpsc::SyncSender<std::io::Result<Vec<u8>>>,
) {
    pump(&mut reader, &tx);
}

/// The second stage: gunzips into the channel, then checks that nothing
/// follows the gzip member.
fn decompress(reader: impl Read, tx: std::sync::mpsc::SyncSender<std::io::Result<Vec<u8>>>) {
    let mut gz = flate2::bufread::GzDecoder::new(std::io::BufReader::with_capacity(PIECE, reader));
    if !pump(&mut gz, &tx) {
        return;
    }
    let mut rest = gz.into_inner();
    let outcome = match std::io::BufRead::fill_buf(&mut rest) {
        Err(e) => Err(e),
        Ok(b) if !b.is_empty() => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the bundle holds data after its archive; it was not written by tacctl",
        )),
        Ok(_) => Ok(()),
    };
    if let Err(e) = outcome {
        let _ = tx.send(Err(e));
    }
}

/// Reads what [`decompress`] sends.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(Ok(b)) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
