//! The bundle's plaintext: a tar archive, compressed in independent blocks
//! ([`super::blocks`], format version 2) or, in bundles of format version
//! 1, as one gzip member; written from memory or from readers, and read
//! under strict rules.
//!
//! Every entry is checked before any of its content is read: only regular
//! files and directories, with relative, normal, UTF-8 paths (no `..`, no
//! absolute paths, no links, devices or FIFOs) within [`MAX_DEPTH`]
//! levels, [`MAX_NAME_BYTES`] per name and [`MAX_PATH_BYTES`] in all; at
//! most [`MAX_ENTRIES`] entries and [`MAX_TOTAL`] bytes of file content; no
//! path twice, letter case aside. Long names come as GNU long-name records
//! or pax `path` records, which the reader handles itself so that neither
//! can make it hold more than [`MAX_EXTENSION_BYTES`].
//!
//! Then the caller's [`Rules`] decide, per entry and from its header alone,
//! where its content goes: into memory (a component's file), into a file
//! under the destination directory (a custom file an import stages), or
//! nowhere, only hashed and counted (a plan, which writes nothing). The
//! rules may refuse an entry, and may name the SHA-256 its content must
//! have; a mismatch stops the extraction at the end of that entry. Files
//! are created 0600 and directories 0700; where the rules ask, a file then
//! takes the permission bits of its archive mode (never setuid, setgid or
//! sticky), set through its open descriptor once written, and a directory
//! takes its permission and sticky bits, with the owner's read, write and
//! search bits always set ([`dir_mode`]). After the tar archive's end only
//! zero padding may follow.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use std::sync::mpsc;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::blocks::{self, BlockWriter};
use super::manifest::ManifestError;

/// Most entries an archive may hold.
pub const MAX_ENTRIES: usize = 100_000;
/// Most bytes of file content an archive may hold (4 GiB): the sizes of its
/// regular files added up, headers and padding not counted.
pub const MAX_TOTAL: u64 = 4 << 30;
/// Most levels a path may have (`files/a/b` has three).
pub const MAX_DEPTH: usize = 64;
/// Most bytes one name in a path may have, as on most file systems.
pub const MAX_NAME_BYTES: usize = 255;
/// Most bytes a whole path may have.
pub const MAX_PATH_BYTES: usize = 1024;
/// Most bytes a GNU long-name record or a pax header may hold.
pub const MAX_EXTENSION_BYTES: u64 = 64 * 1024;

/// Why an archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// An entry type other than file or directory.
    #[error(
        "the bundle contains {path:?}, a {kind}; only regular files and directories are allowed"
    )]
    ForbiddenType {
        /// Entry path.
        path: String,
        /// What it is.
        kind: String,
    },
    /// A path escaping the staging directory.
    #[error("the bundle contains the unsafe path {0:?} (absolute or with ..); refusing it")]
    UnsafePath(String),
    /// A path beyond the limits on depth and length, or not UTF-8.
    #[error("the bundle contains the path {path:?}, which {problem}; refusing it")]
    PathLimit {
        /// The path, shortened when long.
        path: String,
        /// Which limit.
        problem: String,
    },
    /// Too many entries or bytes.
    #[error("the bundle is larger than allowed ({0}); refusing it")]
    TooLarge(String),
    /// The same path twice, letter case aside.
    #[error("the bundle contains {0:?} twice (paths are compared regardless of letter case)")]
    Duplicate(String),
    /// A tar header field that does not read as the format says.
    #[error("the bundle's archive has a damaged entry header ({0}); refusing it")]
    BadHeader(String),
    /// A long-name record or pax header that this reader does not accept.
    #[error("the bundle's archive has an extension record it does not accept ({0}); refusing it")]
    Extension(String),
    /// Something other than zero padding follows the tar archive's end.
    #[error("the bundle holds data after its archive; it was not written by tacctl")]
    TrailingData,
    /// An entry that does not match the manifest.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Writing a staged file or directory failed: the disk, not the bundle.
    #[error("writing {}: {source}", path.display())]
    Staging {
        /// The file or directory being written.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// Reading or decompressing the archive failed.
    #[error("the bundle's archive cannot be read: {0}")]
    Io(#[from] io::Error),
}

fn staging(path: &Path) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Staging {
        path: path.to_owned(),
        source,
    }
}

/// One file to put in an archive.
pub struct Entry<'a> {
    /// Relative path inside the archive.
    pub path: &'a str,
    /// Content.
    pub data: &'a [u8],
    /// Unix mode bits.
    pub mode: u32,
}

/// Writes `entries` as a version 2 archive into `out` and returns `out`.
pub fn write<W: Write>(out: W, entries: &[Entry<'_>]) -> io::Result<W> {
    let mut w = ArchiveWriter::new(out, 1);
    for e in entries {
        w.add_bytes(e.path, e.data, e.mode)?;
    }
    w.finish()
}

/// Streams entries into a version 2 archive one at a time, so memory does
/// not grow with the archive.
pub struct ArchiveWriter<W: Write> {
    tar: tar::Builder<BlockWriter<W>>,
}

impl<W: Write> ArchiveWriter<W> {
    /// Starts an archive compressed on `workers` threads.
    pub fn new(out: W, workers: usize) -> Self {
        let mut tar = tar::Builder::new(BlockWriter::new(out, workers));
        tar.mode(tar::HeaderMode::Deterministic);
        Self { tar }
    }

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_size(size);
        h.set_mode(mode & 0o7777);
        h.set_entry_type(kind);
        h.set_mtime(0);
        h
    }

    /// Adds a file from memory.
    pub fn add_bytes(&mut self, path: &str, data: &[u8], mode: u32) -> io::Result<()> {
        let mut h = Self::header(tar::EntryType::Regular, data.len() as u64, mode);
        self.tar.append_data(&mut h, path, data)
    }

    /// Adds a file of exactly `size` bytes read from `data`; fails if it
    /// has fewer. Returns the SHA-256 of what was archived.
    pub fn add_reader(
        &mut self,
        path: &str,
        data: impl Read,
        size: u64,
        mode: u32,
    ) -> io::Result<[u8; 32]> {
        let mut h = Self::header(tar::EntryType::Regular, size, mode);
        let mut counted = Hashing {
            inner: data.take(size),
            n: 0,
            hash: Sha256::new(),
        };
        self.tar.append_data(&mut h, path, &mut counted)?;
        if counted.n != size {
            return Err(io::Error::other(format!(
                "{path} changed size while it was being exported; export again"
            )));
        }
        Ok(counted.hash.finalize().into())
    }

    /// Adds a directory.
    pub fn add_dir(&mut self, path: &str, mode: u32) -> io::Result<()> {
        let mut h = Self::header(tar::EntryType::Directory, 0, mode);
        self.tar.append_data(&mut h, path, io::empty())
    }

    /// Ends the tar archive and the blocks; returns the writer.
    pub fn finish(self) -> io::Result<W> {
        self.tar.into_inner()?.finish()
    }
}

/// A reader that counts and hashes what passes through it.
struct Hashing<R> {
    inner: R,
    n: u64,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// A path shortened for a message: a hostile one may be kilobytes long.
fn shown(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    if text.chars().count() <= 120 {
        return text.into_owned();
    }
    let head: String = text.chars().take(100).collect();
    format!("{head}... ({} bytes)", raw.len())
}

/// Checks an archive path against every rule and returns it normalised
/// (no `.` components, no trailing slash): relative, normal components
/// only, UTF-8, at most [`MAX_DEPTH`] levels of at most [`MAX_NAME_BYTES`]
/// bytes each and [`MAX_PATH_BYTES`] in all. Exporters check their paths
/// with it too, so that tacctl never writes a bundle it would refuse.
pub fn check_path(raw: &[u8]) -> Result<String, ArchiveError> {
    let limit = |problem: String| ArchiveError::PathLimit {
        path: shown(raw),
        problem,
    };
    if raw.len() > MAX_PATH_BYTES {
        return Err(limit(format!(
            "is {} bytes long, over the limit of {MAX_PATH_BYTES}",
            raw.len()
        )));
    }
    let text = std::str::from_utf8(raw).map_err(|_| limit("is not UTF-8".into()))?;
    let mut parts = Vec::new();
    for c in Path::new(text).components() {
        match c {
            Component::Normal(p) => {
                let p = p.to_str().expect("a part of a UTF-8 path is UTF-8");
                if p.len() > MAX_NAME_BYTES {
                    return Err(limit(format!(
                        "has a name of {} bytes, over the limit of {MAX_NAME_BYTES}",
                        p.len()
                    )));
                }
                parts.push(p);
            }
            Component::CurDir => {}
            _ => return Err(ArchiveError::UnsafePath(shown(raw))),
        }
    }
    if parts.is_empty() {
        return Err(ArchiveError::UnsafePath(shown(raw)));
    }
    if parts.len() > MAX_DEPTH {
        return Err(limit(format!(
            "is {} levels deep, over the limit of {MAX_DEPTH}",
            parts.len()
        )));
    }
    Ok(parts.join("/"))
}

/// Where a file entry's content goes, as the caller's [`Rules`] decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Into memory: [`Extracted::data`]. The rules bound its size.
    Memory,
    /// Into a new file at its path under the destination directory.
    Disk {
        /// Whether the file takes its archive mode's permission bits.
        keep_mode: bool,
    },
    /// Nowhere: it is only hashed and counted.
    Measure,
}

/// A file entry's fate: where it goes and the SHA-256 (lowercase hex) its
/// content must have, when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRule {
    /// Where it goes.
    pub action: Action,
    /// The content's SHA-256, lowercase hex; a mismatch stops the
    /// extraction at the end of the entry.
    pub sha256: Option<String>,
}

/// A directory entry's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirAction {
    /// Create it under the destination directory.
    Create {
        /// Whether it takes its archive mode's bits ([`dir_mode`]).
        keep_mode: bool,
    },
    /// Only list it, with its mode.
    Record,
}

/// What the caller decides about each entry, from its normalised path and
/// header alone, before any content is read. Refusing stops the extraction.
pub trait Rules {
    /// A regular file of `size` bytes and archive mode `mode`.
    fn file(&mut self, path: &str, size: u64, mode: u32) -> Result<FileRule, ArchiveError>;
    /// A directory of archive mode `mode`.
    fn dir(&mut self, path: &str, mode: u32) -> Result<DirAction, ArchiveError>;
    /// A file kept in memory, once read and its checksum checked, before
    /// the next entry is looked at; the rules may take its data.
    fn kept(&mut self, _file: &mut Extracted) -> Result<(), ArchiveError> {
        Ok(())
    }
}

/// How an extraction treats the files it writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Whether each file starts going to disk as soon as it is written
    /// (`start_writeback`, Linux's `sync_file_range`): yes for staging that an import will make
    /// durable.
    pub writeback: bool,
}

/// A file entry as extracted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// Its normalised path in the archive.
    pub path: String,
    /// Mode bits from the archive (a file on disk is created 0600).
    pub mode: u32,
    /// Bytes of content.
    pub size: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
    /// The content, for an entry the rules kept in memory.
    pub data: Option<Zeroizing<Vec<u8>>>,
}

/// A directory entry as extracted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedDir {
    /// Its normalised path in the archive.
    pub path: String,
    /// Mode bits from the archive.
    pub mode: u32,
}

/// What an extraction found: every file and directory entry, in archive
/// order.
#[derive(Debug, Default)]
pub struct Extraction {
    /// The files.
    pub files: Vec<Extracted>,
    /// The directories.
    pub dirs: Vec<ExtractedDir>,
}

/// Extracts a version 2 archive (the decrypted payload `input`), inflating
/// on `workers` threads; files the rules send to disk go under `dest`, an
/// existing private directory (required if they send any). Succeeds only
/// once `input` has been read to its end. With `workers` 0, this thread
/// does everything, which suits a small payload (see
/// [`blocks::read_blocks`]).
pub fn extract<R: Read + Send>(
    input: R,
    dest: Option<&Path>,
    workers: usize,
    rules: &mut dyn Rules,
    options: Options,
) -> Result<Extraction, ArchiveError> {
    blocks::read_blocks(input, workers, |tar| {
        let found = if workers == 0 {
            extract_tar_here(&mut *tar, dest, rules, options)?
        } else {
            extract_tar(&mut *tar, dest, rules, options)?
        };
        expect_end(tar)?;
        Ok(found)
    })
}

/// Reads what follows a tar archive's end to the end of `rest`: only zero
/// padding may.
pub fn expect_end(mut rest: impl Read) -> Result<(), ArchiveError> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match rest.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) if buf[..n].iter().all(|b| *b == 0) => {}
            Ok(_) => return Err(ArchiveError::TrailingData),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Extracts an uncompressed tar stream; see [`extract`]. Reads `input` up
/// to the archive's end only.
///
/// This thread parses the archive, checks every entry and creates the
/// directories and files; a second thread writes and hashes the files'
/// content and starts its writeback. Creating files is what costs most on
/// the file system, so the two overlap. Messages go in batches of about
/// `PIECE` bytes or `BATCH_FILES` files, so that the writing thread is not
/// woken for every small file; at most `PIECES_IN_FLIGHT` batches wait
/// between the two.
pub fn extract_tar<R: Read>(
    input: R,
    dest: Option<&Path>,
    rules: &mut dyn Rules,
    options: Options,
) -> Result<Extraction, ArchiveError> {
    let (tx, rx) = mpsc::sync_channel::<Vec<ToWriter>>(PIECES_IN_FLIGHT);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || write_files(rx, options));
        let mut batch = Batch {
            tx: &tx,
            messages: Vec::new(),
            bytes: 0,
            files: 0,
        };
        let parsed = parse_tar(input, dest, rules, &mut |msg| batch.push(msg))
            .and_then(|found| batch.flush().map(|()| found));
        drop(batch);
        drop(tx);
        let written = writer.join().expect("the file writer does not panic");
        // A writer that stopped makes the parser fail to send; its own error
        // is the one to report.
        match (parsed, written) {
            (_, Err(e)) => Err(e),
            (Err(e), Ok(_)) => Err(e),
            (Ok(found), Ok(files)) => Ok(found.merge(files)),
        }
    })
}

/// [`extract_tar`] on this thread alone: it parses, creates, writes and
/// hashes in turn.
pub fn extract_tar_here<R: Read>(
    input: R,
    dest: Option<&Path>,
    rules: &mut dyn Rules,
    options: Options,
) -> Result<Extraction, ArchiveError> {
    let mut writer = FileWriter::new(options);
    let found = parse_tar(input, dest, rules, &mut |msg| writer.take(msg))?;
    Ok(found.merge(writer.files))
}

/// Bytes of file content per message to the writing thread.
const PIECE: usize = 256 * 1024;
/// Batches that may wait for the writing thread.
const PIECES_IN_FLIGHT: usize = 8;
/// The most files in one batch: each holds an open descriptor until the
/// writing thread is done with it, and the batches in flight must stay well
/// under a process's usual limit of 1024.
const BATCH_FILES: usize = 32;

/// Messages for the writing thread of [`extract_tar`], gathered until
/// about a `PIECE` of content or `BATCH_FILES` files.
struct Batch<'a> {
    tx: &'a mpsc::SyncSender<Vec<ToWriter>>,
    messages: Vec<ToWriter>,
    bytes: usize,
    files: usize,
}

impl Batch<'_> {
    fn push(&mut self, msg: ToWriter) -> Result<(), ArchiveError> {
        match &msg {
            ToWriter::Whole { data, .. } => {
                self.bytes += data.len();
                self.files += 1;
            }
            ToWriter::File(_) => self.files += 1,
            ToWriter::Data(data) => self.bytes += data.len(),
            ToWriter::End => {}
        }
        self.messages.push(msg);
        if self.bytes >= PIECE || self.files >= BATCH_FILES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ArchiveError> {
        if self.messages.is_empty() {
            return Ok(());
        }
        (self.bytes, self.files) = (0, 0);
        self.tx
            .send(std::mem::take(&mut self.messages))
            .map_err(|_| io::Error::other("the file writer stopped").into())
    }
}

/// A file the writing side fills (or only measures, without `file`).
struct Target {
    /// The file, created empty; `None` when the content is only measured.
    file: Option<(fs::File, PathBuf)>,
    path: String,
    mode: u32,
    keep_mode: bool,
    sha256: Option<String>,
}

/// What the parsing thread of [`extract_tar`] tells the writing one.
enum ToWriter {
    /// A new file with all its content: one message for a file of at most
    /// `PIECE` bytes, most of an archive's files.
    Whole {
        target: Target,
        data: Zeroizing<Vec<u8>>,
    },
    /// A new file; its content follows.
    File(Target),
    /// The next piece of the current file's content.
    Data(Zeroizing<Vec<u8>>),
    /// The current file is complete.
    End,
}

/// The writing side of an extraction: writes and hashes each file's content
/// as it comes, checks its checksum, and lists the files.
struct FileWriter {
    files: Vec<Extracted>,
    current: Option<(Target, Sha256, u64)>,
    options: Options,
}

impl FileWriter {
    fn new(options: Options) -> Self {
        Self {
            files: Vec::new(),
            current: None,
            options,
        }
    }

    fn take(&mut self, msg: ToWriter) -> Result<(), ArchiveError> {
        match msg {
            ToWriter::Whole { target, data } => {
                self.take(ToWriter::File(target))?;
                self.take(ToWriter::Data(data))?;
                self.take(ToWriter::End)?;
            }
            ToWriter::File(target) => {
                self.current = Some((target, Sha256::new(), 0));
            }
            ToWriter::Data(piece) => {
                let (target, hash, n) = self.current.as_mut().expect("data follows a file");
                if let Some((file, at)) = &mut target.file {
                    file.write_all(&piece).map_err(staging(at))?;
                }
                hash.update(&piece[..]);
                *n += piece.len() as u64;
            }
            ToWriter::End => {
                let (target, hash, size) = self.current.take().expect("a file ends");
                let sha256 = hex::encode(hash.finalize());
                if target.sha256.as_ref().is_some_and(|want| *want != sha256) {
                    return Err(ManifestError::Checksum(target.path).into());
                }
                if let Some((file, at)) = &target.file {
                    if target.keep_mode {
                        file.set_permissions(fs::Permissions::from_mode(target.mode & 0o777))
                            .map_err(staging(at))?;
                    }
                    if self.options.writeback {
                        start_writeback(file);
                    }
                }
                self.files.push(Extracted {
                    path: target.path,
                    mode: target.mode,
                    size,
                    sha256,
                    data: None,
                });
            }
        }
        Ok(())
    }
}

/// The writing thread of [`extract_tar`].
fn write_files(
    rx: mpsc::Receiver<Vec<ToWriter>>,
    options: Options,
) -> Result<Vec<Extracted>, ArchiveError> {
    let mut writer = FileWriter::new(options);
    for batch in rx {
        for msg in batch {
            writer.take(msg)?;
        }
    }
    Ok(writer.files)
}

/// Starts writing `f`'s content to disk without waiting for it (Linux's
/// `sync_file_range` with `SYNC_FILE_RANGE_WRITE`), so that the `syncfs`
/// before an import's commit point finds little left to write. Durability
/// still comes from that `syncfs`; this only lets the disk start earlier,
/// and a failure here changes nothing but that.
fn start_writeback(f: &fs::File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: `f` is an open descriptor for the whole call, and the
        // call takes no pointers.
        unsafe {
            libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
}

/// What the parsing side found itself: the directories, and the files kept
/// in memory. The files the writing side handled are merged in after.
struct Found {
    files: Vec<Extracted>,
    dirs: Vec<ExtractedDir>,
}

impl Found {
    fn merge(mut self, written: Vec<Extracted>) -> Extraction {
        self.files.extend(written);
        Extraction {
            files: self.files,
            dirs: self.dirs,
        }
    }
}

/// Every path an archive has named so far, its implied parents included,
/// by its lower-case form: on a case-insensitive file system two paths that
/// differ only in letter case are one, and the second would silently
/// replace the first, or fill the same directory under another name.
#[derive(Default)]
struct Seen {
    /// Lower-case path to the path as spelt, and whether it is a directory.
    spelt: std::collections::HashMap<String, (String, bool)>,
    /// The lower-case paths of the entries themselves (not only implied).
    named: std::collections::HashSet<String>,
}

impl Seen {
    fn insert(&mut self, path: &str, is_dir: bool) -> Result<(), ArchiveError> {
        let mut at = 0;
        while let Some(i) = path[at..].find('/') {
            let parent = &path[..at + i];
            match self.spelt.get(&parent.to_lowercase()) {
                Some((spelt, true)) if spelt == parent => {}
                Some(_) => return Err(ArchiveError::Duplicate(parent.to_owned())),
                None => {
                    self.spelt
                        .insert(parent.to_lowercase(), (parent.to_owned(), true));
                }
            }
            at += i + 1;
        }
        let lower = path.to_lowercase();
        if !self.named.insert(lower.clone()) {
            return Err(ArchiveError::Duplicate(path.to_owned()));
        }
        match self.spelt.get(&lower) {
            // A directory named after a file below it implied it.
            Some((spelt, true)) if is_dir && spelt == path => {}
            Some(_) => return Err(ArchiveError::Duplicate(path.to_owned())),
            None => {
                self.spelt.insert(lower, (path.to_owned(), is_dir));
            }
        }
        Ok(())
    }
}

/// Reads an extension record's content, refusing one over the limit.
fn read_extension(entry: &mut impl Read, size: u64, what: &str) -> Result<Vec<u8>, ArchiveError> {
    if size > MAX_EXTENSION_BYTES {
        return Err(ArchiveError::Extension(format!(
            "a {what} of {size} bytes, over the limit of {MAX_EXTENSION_BYTES}"
        )));
    }
    let mut data = Vec::with_capacity(size as usize);
    entry.take(size).read_to_end(&mut data)?;
    if (data.len() as u64) < size {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
    }
    Ok(data)
}

/// The pax header keys that carry nothing an extraction acts on.
fn pax_key_ignored(key: &str) -> bool {
    matches!(
        key,
        "mtime" | "atime" | "ctime" | "uid" | "gid" | "uname" | "gname" | "comment" | "charset"
    ) || key.starts_with("SCHILY.")
        || key.starts_with("LIBARCHIVE.")
}

/// The path a pax header sets, refusing any key that would change what
/// the entry is (its size, a link, sparse maps).
fn pax_path(data: &[u8]) -> Result<Option<Vec<u8>>, ArchiveError> {
    let mut path = None;
    for ext in tar::PaxExtensions::new(data) {
        let ext = ext.map_err(|_| ArchiveError::Extension("a malformed pax header".into()))?;
        let key = ext
            .key()
            .map_err(|_| ArchiveError::Extension("a pax key that is not UTF-8".into()))?;
        match key {
            "path" => path = Some(ext.value_bytes().to_vec()),
            k if pax_key_ignored(k) => {}
            k => {
                return Err(ArchiveError::Extension(format!(
                    "the pax key {:?}",
                    shown(k.as_bytes())
                )));
            }
        }
    }
    Ok(path)
}

/// The parsing side of [`extract_tar`]: checks each entry, asks the rules,
/// creates directories and files, keeps what goes to memory and passes the
/// rest to `send`, for the writing side.
fn parse_tar<R: Read>(
    input: R,
    dest: Option<&Path>,
    rules: &mut dyn Rules,
    send: &mut dyn FnMut(ToWriter) -> Result<(), ArchiveError>,
) -> Result<Found, ArchiveError> {
    let mut tar = tar::Archive::new(input);
    let mut seen = Seen::default();
    let mut made = std::collections::HashSet::new();
    let mut found = Found {
        files: Vec::new(),
        dirs: Vec::new(),
    };
    let mut total = 0u64;
    let mut count = 0usize;
    // The path a GNU long-name record or a pax header set for the next entry.
    let mut long: Option<Vec<u8>> = None;
    // Raw entries: long names and pax headers are handled here, within
    // limits; the tar crate would read any length into memory.
    for entry in tar.entries()?.raw(true) {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        let size = entry.header().entry_size()?;
        if kind.is_gnu_longname() || kind.is_pax_local_extensions() {
            if long.is_some() {
                return Err(ArchiveError::Extension(
                    "two long names for one entry".into(),
                ));
            }
            let data = read_extension(&mut entry, size, "long name")?;
            long = if kind.is_gnu_longname() {
                let mut name = data;
                // GNU tar ends the name with a NUL.
                if name.last() == Some(&0) {
                    name.pop();
                }
                Some(name)
            } else {
                pax_path(&data)?
            };
            continue;
        }
        count += 1;
        if count > MAX_ENTRIES {
            return Err(ArchiveError::TooLarge(format!(
                "over {MAX_ENTRIES} entries"
            )));
        }
        let raw = long
            .take()
            .unwrap_or_else(|| entry.header().path_bytes().into_owned());
        let path = match kind {
            tar::EntryType::Directory | tar::EntryType::Regular | tar::EntryType::Continuous => {
                check_path(&raw)?
            }
            other => {
                let kind = match other {
                    tar::EntryType::Symlink => "symbolic link".to_owned(),
                    tar::EntryType::Link => "hard link".to_owned(),
                    tar::EntryType::Char | tar::EntryType::Block => "device".to_owned(),
                    tar::EntryType::Fifo => "FIFO".to_owned(),
                    o => format!("{o:?} entry"),
                };
                return Err(ArchiveError::ForbiddenType {
                    path: shown(&raw),
                    kind,
                });
            }
        };
        seen.insert(&path, kind == tar::EntryType::Directory)?;
        let mode = entry.header().mode().map_err(|_| {
            ArchiveError::BadHeader(format!("the mode of {path} is not an octal number"))
        })? & 0o7777;
        if kind == tar::EntryType::Directory {
            match rules.dir(&path, mode)? {
                DirAction::Create { keep_mode } => {
                    let target = dest
                        .expect("rules create directories only with a destination")
                        .join(&path);
                    make_dirs(&target, &mut made)?;
                    if keep_mode {
                        fs::set_permissions(&target, fs::Permissions::from_mode(dir_mode(mode)))
                            .map_err(staging(&target))?;
                    }
                }
                DirAction::Record => {}
            }
            found.dirs.push(ExtractedDir { path, mode });
            continue;
        }
        total = total.saturating_add(size);
        if total > MAX_TOTAL {
            return Err(ArchiveError::TooLarge(format!("over {MAX_TOTAL} bytes")));
        }
        let rule = rules.file(&path, size, mode)?;
        let keep_mode = matches!(rule.action, Action::Disk { keep_mode: true });
        if rule.action == Action::Memory {
            let mut data = Zeroizing::new(Vec::with_capacity(size as usize));
            if (&mut entry).take(size).read_to_end(&mut data)? < size as usize {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
            let sha256 = hex::encode(Sha256::digest(&data[..]));
            if rule.sha256.as_ref().is_some_and(|want| *want != sha256) {
                return Err(ManifestError::Checksum(path).into());
            }
            let mut file = Extracted {
                path,
                mode,
                size,
                sha256,
                data: Some(data),
            };
            rules.kept(&mut file)?;
            found.files.push(file);
            continue;
        }
        let file = match rule.action {
            Action::Disk { .. } => {
                let target = dest
                    .expect("rules stage files only with a destination")
                    .join(&path);
                if let Some(parent) = target.parent() {
                    make_dirs(parent, &mut made)?;
                }
                let file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&target)
                    .map_err(staging(&target))?;
                Some((file, target))
            }
            _ => None,
        };
        let target = Target {
            file,
            path,
            mode,
            keep_mode,
            sha256: rule.sha256,
        };
        if size <= PIECE as u64 {
            let mut data = Zeroizing::new(Vec::with_capacity(size as usize));
            if (&mut entry).take(size).read_to_end(&mut data)? < size as usize {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
            send(ToWriter::Whole { target, data })?;
            continue;
        }
        send(ToWriter::File(target))?;
        let mut left = size;
        while left > 0 {
            let want = PIECE.min(left as usize);
            let mut piece = Zeroizing::new(Vec::with_capacity(want));
            if (&mut entry).take(want as u64).read_to_end(&mut piece)? < want {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
            left -= want as u64;
            send(ToWriter::Data(piece))?;
        }
        send(ToWriter::End)?;
    }
    if long.is_some() {
        return Err(ArchiveError::Extension(
            "a long name at the end, for no entry".into(),
        ));
    }
    Ok(found)
}

/// The mode bits an extracted directory takes from its archive mode: its
/// permission bits and its sticky bit, which only restricts who may delete
/// in it (a 1777 directory must not become a 0777 one); never setuid or
/// setgid; and always readable, writable and searchable by its owner (a
/// directory of mode 0500 comes out 0700).
pub fn dir_mode(archive_mode: u32) -> u32 {
    (archive_mode & 0o1777) | 0o700
}

/// Creates `dir` and its parents 0700, once per directory.
fn make_dirs(
    dir: &Path,
    made: &mut std::collections::HashSet<PathBuf>,
) -> Result<(), ArchiveError> {
    if !made.contains(dir) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(staging(dir))?;
        made.insert(dir.to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rules for tests: every file to disk (modes kept under `files/` only
    /// when `modes`), or every file into memory, or only measured.
    struct Test {
        action: Action,
        modes: bool,
    }

    impl Rules for Test {
        fn file(&mut self, path: &str, _size: u64, _mode: u32) -> Result<FileRule, ArchiveError> {
            let action = match self.action {
                Action::Disk { .. } => Action::Disk {
                    keep_mode: self.modes && path.starts_with("files/"),
                },
                a => a,
            };
            Ok(FileRule {
                action,
                sha256: None,
            })
        }
        fn dir(&mut self, path: &str, _mode: u32) -> Result<DirAction, ArchiveError> {
            Ok(match self.action {
                Action::Disk { .. } => DirAction::Create {
                    keep_mode: self.modes && path.starts_with("files/"),
                },
                _ => DirAction::Record,
            })
        }
    }

    /// Every file 0600, every directory 0700.
    fn private() -> Test {
        Test {
            action: Action::Disk { keep_mode: false },
            modes: false,
        }
    }

    /// Modes kept under `files/`, as an import stages them.
    fn under_files() -> Test {
        Test {
            action: Action::Disk { keep_mode: false },
            modes: true,
        }
    }

    fn run(
        data: &[u8],
        dir: &Path,
        workers: usize,
        rules: &mut Test,
    ) -> Result<Extraction, ArchiveError> {
        extract(data, Some(dir), workers, rules, Options::default())
    }

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn round_trip_keeps_content_and_modes() {
        let data = write(
            Vec::new(),
            &[
                Entry {
                    path: "manifest.yaml",
                    data: b"m",
                    mode: 0o644,
                },
                Entry {
                    path: "files/bin/run.sh",
                    data: b"#!/bin/sh",
                    mode: 0o755,
                },
            ],
        )
        .unwrap();
        // On threads, and on this thread alone.
        for workers in [2, 0] {
            let dir = tempfile::tempdir().unwrap();
            let found = run(&data, dir.path(), workers, &mut under_files()).unwrap();
            let files = found.files;
            assert_eq!(
                (files[1].path.as_str(), files[1].mode),
                ("files/bin/run.sh", 0o755)
            );
            // The mode is kept where asked, and only there.
            let mode_of = |p: &str| mode_of(&dir.path().join(p));
            assert_eq!(mode_of("files/bin/run.sh"), 0o755);
            assert_eq!(mode_of("manifest.yaml"), 0o600);
            assert_eq!(files[1].sha256, hex::encode(Sha256::digest(b"#!/bin/sh")));
            assert_eq!(
                fs::read(dir.path().join("files/bin/run.sh")).unwrap(),
                b"#!/bin/sh"
            );
        }
    }

    #[test]
    fn files_kept_in_memory_or_only_measured_write_nothing() {
        let data = write(
            Vec::new(),
            &[
                Entry {
                    path: "components/a.yaml",
                    data: b"secret: x",
                    mode: 0o600,
                },
                Entry {
                    path: "files/big.bin",
                    data: &vec![7u8; 3 * PIECE + 1],
                    mode: 0o644,
                },
            ],
        )
        .unwrap();
        for action in [Action::Memory, Action::Measure] {
            for workers in [2, 0] {
                let dir = tempfile::tempdir().unwrap();
                let mut rules = Test {
                    action,
                    modes: false,
                };
                let found = run(&data, dir.path(), workers, &mut rules).unwrap();
                assert_eq!(
                    fs::read_dir(dir.path()).unwrap().count(),
                    0,
                    "nothing written"
                );
                let a = &found.files[0];
                assert_eq!(a.sha256, hex::encode(Sha256::digest(b"secret: x")));
                assert_eq!(a.size, 9);
                let big = found
                    .files
                    .iter()
                    .find(|f| f.path == "files/big.bin")
                    .unwrap();
                assert_eq!(big.size, 3 * PIECE as u64 + 1);
                match action {
                    Action::Memory => {
                        assert_eq!(a.data.as_deref().map(|d| &d[..]), Some(&b"secret: x"[..]));
                        assert_eq!(big.data.as_ref().map(|d| d.len()), Some(3 * PIECE + 1));
                    }
                    _ => assert!(a.data.is_none() && big.data.is_none()),
                }
            }
        }
    }

    /// Rules that know each file's checksum and send it to disk.
    struct Expecting(&'static str);

    impl Rules for Expecting {
        fn file(&mut self, _path: &str, _size: u64, _mode: u32) -> Result<FileRule, ArchiveError> {
            Ok(FileRule {
                action: Action::Disk { keep_mode: false },
                sha256: Some(self.0.to_owned()),
            })
        }
        fn dir(&mut self, _path: &str, _mode: u32) -> Result<DirAction, ArchiveError> {
            Ok(DirAction::Record)
        }
    }

    #[test]
    fn a_checksum_mismatch_stops_the_extraction_at_that_entry() {
        let first = vec![1u8; 2 * PIECE];
        let data = write(
            Vec::new(),
            &[
                Entry {
                    path: "files/a",
                    data: &first,
                    mode: 0o600,
                },
                Entry {
                    path: "files/b",
                    data: b"b",
                    mode: 0o600,
                },
            ],
        )
        .unwrap();
        for workers in [2, 0] {
            let dir = tempfile::tempdir().unwrap();
            let wrong = "0".repeat(64);
            let err = extract(
                &data[..],
                Some(dir.path()),
                workers,
                &mut Expecting(wrong.leak()),
                Options::default(),
            )
            .unwrap_err();
            assert!(
                matches!(&err, ArchiveError::Manifest(ManifestError::Checksum(p)) if p == "files/a"),
                "{err}"
            );
            if workers == 0 {
                // On threads the parser may have created the next file
                // while the writer hashed this one; it is never filled.
                assert!(
                    !dir.path().join("files/b").exists(),
                    "stopped at the first entry"
                );
            }
        }
    }

    #[test]
    fn directories_keep_their_modes_where_asked_and_their_owner_may_always_write() {
        let mut w = ArchiveWriter::new(Vec::new(), 1);
        w.add_dir("components", 0o755).unwrap();
        w.add_dir("files/ca", 0o2755).unwrap();
        w.add_dir("files/ro", 0o500).unwrap();
        w.add_bytes("files/ro/frozen.txt", b"frozen", 0o444)
            .unwrap();
        w.add_dir("files/ro/inner", 0o750).unwrap();
        w.add_dir("files/drop", 0o1777).unwrap();
        w.add_dir("files/up", 0o4755).unwrap();
        let data = w.finish().unwrap();
        for workers in [2, 0] {
            let dir = tempfile::tempdir().unwrap();
            let found = run(&data, dir.path(), workers, &mut under_files()).unwrap();
            let mode_of = |p: &str| mode_of(&dir.path().join(p));
            assert_eq!(mode_of("components"), 0o700, "not asked: private");
            assert_eq!(mode_of("files/ca"), 0o755, "no setgid");
            assert_eq!(mode_of("files/ro"), 0o700, "its owner may write it");
            assert_eq!(mode_of("files/ro/inner"), 0o750);
            assert_eq!(mode_of("files/drop"), 0o1777, "the sticky bit stays");
            assert_eq!(mode_of("files/up"), 0o755, "no setuid");
            assert_eq!(mode_of("files/ro/frozen.txt"), 0o444);
            let dirs: Vec<(&str, u32)> = found
                .dirs
                .iter()
                .map(|d| (d.path.as_str(), d.mode))
                .collect();
            assert!(dirs.contains(&("files/drop", 0o1777)), "{dirs:?}");
        }
    }

    #[test]
    fn many_small_files_a_large_one_and_an_empty_one_come_out_whole() {
        // Small files go to the writing thread in batches, a large one in
        // pieces: every file must come out with its content, in order.
        let mut contents: Vec<(String, Vec<u8>)> = (0..100)
            .map(|i| {
                (
                    format!("files/d{}/f{i}.txt", i % 7),
                    vec![b'a' + (i % 26) as u8; i * 37],
                )
            })
            .collect();
        let large: Vec<u8> = (0..3 * PIECE + 5).map(|i| (i * 7 % 251) as u8).collect();
        contents.insert(50, ("files/large.bin".into(), large));
        contents.push(("files/empty".into(), Vec::new()));
        let entries: Vec<Entry<'_>> = contents
            .iter()
            .map(|(path, data)| Entry {
                path,
                data,
                mode: 0o640,
            })
            .collect();
        let data = write(Vec::new(), &entries).unwrap();
        for workers in [2, 0] {
            let dir = tempfile::tempdir().unwrap();
            let files = run(&data, dir.path(), workers, &mut private())
                .unwrap()
                .files;
            assert_eq!(files.len(), contents.len());
            for (f, (path, content)) in files.iter().zip(&contents) {
                assert_eq!(f.path, *path);
                assert_eq!(f.size, content.len() as u64);
                assert_eq!(f.sha256, hex::encode(Sha256::digest(content)));
                assert_eq!(&fs::read(dir.path().join(path)).unwrap(), content);
            }
        }
    }

    fn raw_tar(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        framed(&b.into_inner().unwrap())
    }

    fn framed(tar: &[u8]) -> Vec<u8> {
        let mut w = BlockWriter::new(Vec::new(), 1);
        w.write_all(tar).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn only_zero_padding_may_follow_the_tar_archive() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(1);
        h.set_mode(0o600);
        b.append_data(&mut h, "components/a.yaml", &b"a"[..])
            .unwrap();
        let mut tar = b.into_inner().unwrap();
        tar.extend_from_slice(&[0u8; 9000]);
        let mut trailing = tar.clone();
        trailing.push(1);
        for workers in [2, 0] {
            let dir = tempfile::tempdir().unwrap();
            assert_eq!(
                run(&framed(&tar), dir.path(), workers, &mut private())
                    .unwrap()
                    .files
                    .len(),
                1
            );
            let dir = tempfile::tempdir().unwrap();
            assert!(matches!(
                run(&framed(&trailing), dir.path(), workers, &mut private()),
                Err(ArchiveError::TrailingData)
            ));
        }
    }

    #[test]
    fn symlinks_and_traversal_are_refused() {
        let link = raw_tar(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, "evil", "/etc/passwd").unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        for workers in [1, 0] {
            assert!(matches!(
                run(&link, dir.path(), workers, &mut private()),
                Err(ArchiveError::ForbiddenType { .. })
            ));
        }

        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..16].copy_from_slice(b"../../etc/passwd");
        h.set_size(1);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let traversal = raw_tar(|b| b.append(&h, &b"x"[..]).unwrap());
        for workers in [1, 0] {
            assert!(matches!(
                run(&traversal, dir.path(), workers, &mut private()),
                Err(ArchiveError::UnsafePath(_))
            ));
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn long_names_work_within_the_limits_and_deep_or_long_paths_are_refused() {
        // A long path, as tacctl writes it: a GNU long-name record.
        let long_ok = format!("files/{}/{}", "d".repeat(200), "f".repeat(200));
        let data = write(
            Vec::new(),
            &[Entry {
                path: &long_ok,
                data: b"x",
                mode: 0o600,
            }],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = run(&data, dir.path(), 0, &mut private()).unwrap().files;
        assert_eq!(files[0].path, long_ok);
        assert_eq!(fs::read(dir.path().join(&long_ok)).unwrap(), b"x");

        let deep = format!("files/{}", vec!["d"; MAX_DEPTH].join("/"));
        let name = format!("files/{}", "n".repeat(MAX_NAME_BYTES + 1));
        let long = format!("files/{}", vec!["abcdefghi"; 110].join("/"));
        for (path, says) in [
            (&deep, "levels deep"),
            (&name, "has a name of 256 bytes"),
            (&long, "bytes long"),
        ] {
            let data = write(
                Vec::new(),
                &[Entry {
                    path,
                    data: b"x",
                    mode: 0o600,
                }],
            )
            .unwrap();
            for workers in [1, 0] {
                let dir = tempfile::tempdir().unwrap();
                let err = run(&data, dir.path(), workers, &mut private()).unwrap_err();
                assert!(
                    matches!(&err, ArchiveError::PathLimit { problem, .. } if problem.contains(says)),
                    "{err}"
                );
                assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
            }
        }
    }

    /// A tar archive with a GNU long-name record of `size` declared bytes
    /// (holding `name`), then a one-byte file.
    fn with_long_name(kind: tar::EntryType, size: u64, name: &[u8]) -> Vec<u8> {
        let mut tar = Vec::new();
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        tar.extend_from_slice(h.as_bytes());
        let mut body = name.to_vec();
        body.resize(name.len().div_ceil(512) * 512, 0);
        tar.extend_from_slice(&body);
        let mut b = tar::Builder::new(Vec::new());
        let mut f = tar::Header::new_ustar();
        f.set_size(1);
        f.set_mode(0o600);
        b.append_data(&mut f, "short", &b"x"[..]).unwrap();
        tar.extend_from_slice(&b.into_inner().unwrap());
        tar
    }

    #[test]
    fn a_long_name_record_over_its_limit_is_refused_before_it_is_read() {
        // Declares 3 GiB: refused from the header, nothing read or held.
        let tar = with_long_name(tar::EntryType::GNULongName, 3 << 30, b"files/x");
        let dir = tempfile::tempdir().unwrap();
        let err = extract_tar_here(
            &tar[..],
            Some(dir.path()),
            &mut private(),
            Options::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ArchiveError::Extension(_)), "{err}");
        // A GNU long link (for links, which are refused anyway) is refused
        // as the link it names would be.
        let tar = with_long_name(tar::EntryType::GNULongLink, 8, b"files/x\0");
        let err = extract_tar_here(
            &tar[..],
            Some(dir.path()),
            &mut private(),
            Options::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ArchiveError::ForbiddenType { .. }), "{err}");
        // Within the limit, the long name names the next entry.
        let tar = with_long_name(tar::EntryType::GNULongName, 8, b"files/x\0");
        let found = extract_tar_here(
            &tar[..],
            Some(dir.path()),
            &mut private(),
            Options::default(),
        )
        .unwrap();
        assert_eq!(found.files[0].path, "files/x");
    }

    fn pax(records: &[(&str, &str)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (k, v) in records {
            // "LEN key=value\n", LEN counting itself.
            let rest = format!(" {k}={v}\n");
            let mut len = rest.len() + 1;
            while format!("{len}").len() + rest.len() != len {
                len += 1;
            }
            body.extend_from_slice(format!("{len}{rest}").as_bytes());
        }
        let mut tar = Vec::new();
        let mut h = tar::Header::new_ustar();
        h.set_path("PaxHeader/x").unwrap();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(body.len() as u64);
        h.set_cksum();
        tar.extend_from_slice(h.as_bytes());
        body.resize(body.len().div_ceil(512) * 512, 0);
        tar.extend_from_slice(&body);
        let mut b = tar::Builder::new(Vec::new());
        let mut f = tar::Header::new_ustar();
        f.set_size(1);
        f.set_mode(0o600);
        b.append_data(&mut f, "short", &b"x"[..]).unwrap();
        tar.extend_from_slice(&b.into_inner().unwrap());
        tar
    }

    #[test]
    fn pax_headers_may_set_a_path_and_nothing_that_changes_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let tar = pax(&[("mtime", "1.5"), ("path", "files/from-pax")]);
        let found = extract_tar_here(
            &tar[..],
            Some(dir.path()),
            &mut private(),
            Options::default(),
        )
        .unwrap();
        assert_eq!(found.files[0].path, "files/from-pax");
        for bad in [
            ("size", "99999999"),
            ("linkpath", "/etc/passwd"),
            ("GNU.sparse.map", "0,1"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let tar = pax(&[bad]);
            let err = extract_tar_here(
                &tar[..],
                Some(dir.path()),
                &mut private(),
                Options::default(),
            )
            .unwrap_err();
            assert!(matches!(err, ArchiveError::Extension(_)), "{bad:?}: {err}");
            assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        }
    }

    #[test]
    fn check_path_normalises_and_states_each_limit() {
        assert_eq!(check_path(b"files/./a/").unwrap(), "files/a");
        assert!(matches!(
            check_path(b"/etc/passwd"),
            Err(ArchiveError::UnsafePath(_))
        ));
        assert!(matches!(
            check_path(b"files/../x"),
            Err(ArchiveError::UnsafePath(_))
        ));
        assert!(matches!(check_path(b"."), Err(ArchiveError::UnsafePath(_))));
        assert!(matches!(
            check_path(b"files/\xff"),
            Err(ArchiveError::PathLimit { .. })
        ));
        let at_limit = format!("files/{}", vec!["d"; MAX_DEPTH - 1].join("/"));
        assert!(check_path(at_limit.as_bytes()).is_ok());
        let err = check_path(&vec![b'a'; 5000]).unwrap_err().to_string();
        assert!(
            err.len() < 300,
            "a long path is shortened in messages: {err}"
        );
    }

    #[test]
    fn paths_differing_in_case_are_refused_even_as_implied_parents() {
        for (a, b) in [
            ("files/d/x", "files/D/y"),
            ("files/a", "files/A"),
            ("files/f", "files/f/under-a-file"),
        ] {
            let data = write(
                Vec::new(),
                &[
                    Entry {
                        path: a,
                        data: b"1",
                        mode: 0o600,
                    },
                    Entry {
                        path: b,
                        data: b"2",
                        mode: 0o600,
                    },
                ],
            )
            .unwrap();
            let dir = tempfile::tempdir().unwrap();
            let err = run(&data, dir.path(), 0, &mut private()).unwrap_err();
            assert!(matches!(err, ArchiveError::Duplicate(_)), "{a} {b}: {err}");
        }
        // A directory entry after the files below it is the same directory.
        let mut w = ArchiveWriter::new(Vec::new(), 1);
        w.add_bytes("files/d/x", b"1", 0o600).unwrap();
        w.add_dir("files/d", 0o755).unwrap();
        let dir = tempfile::tempdir().unwrap();
        run(&w.finish().unwrap(), dir.path(), 0, &mut private()).unwrap();
    }

    #[test]
    fn a_mode_that_is_not_octal_is_refused() {
        let mut h = tar::Header::new_ustar();
        h.set_path("files/x").unwrap();
        h.set_size(1);
        h.set_entry_type(tar::EntryType::Regular);
        h.as_ustar_mut().unwrap().mode = *b"9zz\0\0\0\0\0";
        h.set_cksum();
        let tar = raw_tar(|b| b.append(&h, &b"x"[..]).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let err = run(&tar, dir.path(), 0, &mut private()).unwrap_err();
        assert!(matches!(err, ArchiveError::BadHeader(_)), "{err}");
    }
}
