//! The bundle's plaintext: a tar archive, compressed in independent blocks
//! ([`super::blocks`], format version 2) or, in bundles of format version
//! 1, as one gzip member; written from memory and extracted under strict
//! rules.
//!
//! Extraction accepts only regular files and directories with relative,
//! normal paths (no `..`, no absolute paths, no links, devices or FIFOs),
//! at most [`MAX_ENTRIES`] entries and [`MAX_TOTAL`] bytes, and creates every
//! file 0600 and directory 0700 inside the staging directory it is given.
//! A file whose path the caller's [`Rules::keeps_mode`] accepts then takes the
//! permission bits of its archive mode (never setuid, setgid or sticky),
//! set through its open descriptor once it is written. A directory it
//! accepts takes them too, sticky bit included, with the owner's read,
//! write and search bits always set ([`dir_mode`]), so that the files below
//! it can be written and the tree can later be replaced or removed.
//! When the rules ask for it ([`Rules::writeback`]), each file starts going
//! to disk as soon as it is written.
//! After the tar archive's end only zero padding may follow.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use std::sync::mpsc;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::blocks::{self, BlockWriter};

/// Most entries an archive may hold.
pub const MAX_ENTRIES: usize = 100_000;
/// Most bytes of file content an archive may hold (4 GiB).
pub const MAX_TOTAL: u64 = 4 << 30;

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
    /// Too many entries or bytes.
    #[error("the bundle is larger than allowed ({0}); refusing it")]
    TooLarge(String),
    /// The same path twice, letter case aside.
    #[error("the bundle contains {0:?} twice (paths are compared regardless of letter case)")]
    Duplicate(String),
    /// Something other than zero padding follows the tar archive's end.
    #[error("the bundle holds data after its archive; it was not written by tacctl")]
    TrailingData,
    /// Reading, decompressing or writing failed.
    #[error("the bundle's archive cannot be read: {0}")]
    Io(#[from] io::Error),
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

    /// Adds a file of exactly `size` bytes read from `data`; fails if it has fewer.
    pub fn add_reader(
        &mut self,
        path: &str,
        data: impl Read,
        size: u64,
        mode: u32,
    ) -> io::Result<()> {
        let mut h = Self::header(tar::EntryType::Regular, size, mode);
        let mut counted = Counted {
            inner: data.take(size),
            n: 0,
        };
        self.tar.append_data(&mut h, path, &mut counted)?;
        if counted.n != size {
            return Err(io::Error::other(format!(
                "{path} changed size while it was being exported; try again"
            )));
        }
        Ok(())
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

struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

fn safe_path(raw: &Path) -> Result<PathBuf, ArchiveError> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return Err(ArchiveError::UnsafePath(raw.display().to_string())),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(ArchiveError::UnsafePath(raw.display().to_string()));
    }
    Ok(out)
}

/// A file written by [`extract`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// Path relative to the destination.
    pub path: PathBuf,
    /// Mode bits from the archive (the file itself is created 0600).
    pub mode: u32,
    /// Bytes written.
    pub size: u64,
    /// SHA-256 of the content, lowercase hex, computed while writing.
    pub sha256: String,
}

/// Extracts a version 2 archive (the decrypted payload `input`) into the
/// existing private directory `dest`, inflating on `workers` threads and
/// hashing each file as it is written. Returns the files in order. Succeeds
/// only once `input` has been read to its end. With `workers` 0, this
/// thread does everything, which suits a small payload (see
/// [`blocks::read_blocks`]). `rules` say which files and directories keep
/// their archive modes and whether the files start going to disk at once.
pub fn extract<R: Read + Send>(
    input: R,
    dest: &Path,
    workers: usize,
    rules: Rules,
) -> Result<Vec<Extracted>, ArchiveError> {
    blocks::read_blocks(input, workers, |tar| {
        let files = if workers == 0 {
            extract_tar_here(&mut *tar, dest, rules)?
        } else {
            extract_tar(&mut *tar, dest, rules)?
        };
        expect_end(tar)?;
        Ok(files)
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

/// Extracts an uncompressed tar stream into the existing private directory
/// `dest`; see [`extract`]. Reads `input` up to the archive's end only.
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
    dest: &Path,
    rules: Rules,
) -> Result<Vec<Extracted>, ArchiveError> {
    let (tx, rx) = mpsc::sync_channel::<Vec<ToWriter>>(PIECES_IN_FLIGHT);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || write_files(rx, rules));
        let mut batch = Batch {
            tx: &tx,
            messages: Vec::new(),
            bytes: 0,
            files: 0,
        };
        let parsed = parse_tar(input, dest, rules.keeps_mode, &mut |msg| batch.push(msg))
            .and_then(|()| batch.flush());
        drop(batch);
        drop(tx);
        let written = writer.join().expect("the file writer does not panic");
        // A writer that stopped makes the parser fail to send; its own error
        // is the one to report.
        match (parsed, written) {
            (_, Err(e)) => Err(e.into()),
            (Err(e), Ok(_)) => Err(e),
            (Ok(()), Ok(files)) => Ok(files),
        }
    })
}

/// [`extract_tar`] on this thread alone: it parses, creates, writes and
/// hashes in turn.
pub fn extract_tar_here<R: Read>(
    input: R,
    dest: &Path,
    rules: Rules,
) -> Result<Vec<Extracted>, ArchiveError> {
    let mut writer = FileWriter::new(rules);
    parse_tar(input, dest, rules.keeps_mode, &mut |msg| {
        Ok(writer.take(msg)?)
    })?;
    Ok(writer.files)
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
            ToWriter::File { .. } => self.files += 1,
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

/// What the parsing thread of [`extract_tar`] tells the writing one.
enum ToWriter {
    /// A new file, created empty, with all its content: one message for
    /// a file of at most `PIECE` bytes, most of an archive's files.
    Whole {
        file: fs::File,
        path: PathBuf,
        mode: u32,
        data: Zeroizing<Vec<u8>>,
    },
    /// A new file, created empty; its content follows.
    File {
        file: fs::File,
        path: PathBuf,
        mode: u32,
    },
    /// The next piece of the current file's content.
    Data(Zeroizing<Vec<u8>>),
    /// The current file is complete.
    End,
}

/// Which extracted files keep their archive mode's permission bits, by
/// path relative to the destination; the others stay 0600.
pub type KeepsMode = fn(&Path) -> bool;

/// A [`KeepsMode`] under which every file stays 0600.
pub fn no_modes(_: &Path) -> bool {
    false
}

/// How an extraction treats what it writes.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Which files and directories keep their archive modes.
    pub keeps_mode: KeepsMode,
    /// Whether each file starts going to disk as soon as it is written
    /// ([`start_writeback`]): yes for staging that an import will make
    /// durable, no for staging that only a plan reads before it is removed,
    /// which would otherwise send the whole bundle to the disk for nothing.
    pub writeback: bool,
}

/// The writing side of an extraction: writes and hashes each file's content
/// as it comes, and lists the files written.
struct FileWriter {
    files: Vec<Extracted>,
    current: Option<(fs::File, PathBuf, u32, Sha256, u64)>,
    rules: Rules,
}

impl FileWriter {
    fn new(rules: Rules) -> Self {
        Self {
            files: Vec::new(),
            current: None,
            rules,
        }
    }

    fn take(&mut self, msg: ToWriter) -> io::Result<()> {
        match msg {
            ToWriter::Whole {
                file,
                path,
                mode,
                data,
            } => {
                self.take(ToWriter::File { file, path, mode })?;
                self.take(ToWriter::Data(data))?;
                self.take(ToWriter::End)?;
            }
            ToWriter::File { file, path, mode } => {
                self.current = Some((file, path, mode, Sha256::new(), 0));
            }
            ToWriter::Data(piece) => {
                let (file, _, _, hash, n) = self.current.as_mut().expect("data follows a file");
                file.write_all(&piece)?;
                hash.update(&piece[..]);
                *n += piece.len() as u64;
            }
            ToWriter::End => {
                let (file, path, mode, hash, size) = self.current.take().expect("a file ends");
                if (self.rules.keeps_mode)(&path) {
                    file.set_permissions(fs::Permissions::from_mode(mode & 0o777))?;
                }
                if self.rules.writeback {
                    start_writeback(&file);
                }
                self.files.push(Extracted {
                    path,
                    mode,
                    size,
                    sha256: hex::encode(hash.finalize()),
                });
            }
        }
        Ok(())
    }
}

/// The writing thread of [`extract_tar`].
fn write_files(rx: mpsc::Receiver<Vec<ToWriter>>, rules: Rules) -> io::Result<Vec<Extracted>> {
    let mut writer = FileWriter::new(rules);
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

/// The parsing side of [`extract_tar`]: checks each entry, creates
/// directories and files, and passes file content to `send`, for the
/// writing side.
fn parse_tar<R: Read>(
    input: R,
    dest: &Path,
    keeps_mode: KeepsMode,
    send: &mut dyn FnMut(ToWriter) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    let mut tar = tar::Archive::new(input);
    let mut seen = std::collections::HashSet::new();
    let mut made = std::collections::HashSet::new();
    let mut total = 0u64;
    for (i, entry) in tar.entries()?.enumerate() {
        if i >= MAX_ENTRIES {
            return Err(ArchiveError::TooLarge(format!(
                "over {MAX_ENTRIES} entries"
            )));
        }
        let mut entry = entry?;
        let raw = entry.path()?.into_owned();
        let kind = entry.header().entry_type();
        let rel = safe_path(&raw)?;
        // Case-insensitively: on a case-insensitive file system two such
        // entries would be one file, the second silently replacing the first.
        if !seen.insert(rel.to_string_lossy().to_lowercase()) {
            return Err(ArchiveError::Duplicate(rel.display().to_string()));
        }
        let target = dest.join(&rel);
        match kind {
            tar::EntryType::Directory => {
                make_dirs(&target, &mut made)?;
                if keeps_mode(&rel) {
                    let mode = entry.header().mode().unwrap_or(0o700);
                    fs::set_permissions(&target, fs::Permissions::from_mode(dir_mode(mode)))?;
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.size();
                total = total.saturating_add(size);
                if total > MAX_TOTAL {
                    return Err(ArchiveError::TooLarge(format!("over {MAX_TOTAL} bytes")));
                }
                if let Some(parent) = target.parent() {
                    make_dirs(parent, &mut made)?;
                }
                let mode = entry.header().mode().unwrap_or(0o600) & 0o7777;
                let file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&target)?;
                if size <= PIECE as u64 {
                    let mut data = Zeroizing::new(Vec::with_capacity(size as usize));
                    if entry.read_to_end(&mut data)? < size as usize {
                        return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
                    }
                    send(ToWriter::Whole {
                        file,
                        path: rel,
                        mode,
                        data,
                    })?;
                    continue;
                }
                send(ToWriter::File {
                    file,
                    path: rel,
                    mode,
                })?;
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
            other => {
                let kind = match other {
                    tar::EntryType::Symlink => "symbolic link".to_owned(),
                    tar::EntryType::Link => "hard link".to_owned(),
                    tar::EntryType::Char | tar::EntryType::Block => "device".to_owned(),
                    tar::EntryType::Fifo => "FIFO".to_owned(),
                    o => format!("{o:?} entry"),
                };
                return Err(ArchiveError::ForbiddenType {
                    path: raw.display().to_string(),
                    kind,
                });
            }
        }
    }
    Ok(())
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
            .create(dir)?;
        made.insert(dir.to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file 0600, every directory 0700; nothing sent to disk early.
    const PRIVATE: Rules = Rules {
        keeps_mode: no_modes,
        writeback: false,
    };
    /// Modes kept under `files/`, as an import stages them.
    const UNDER_FILES: Rules = Rules {
        keeps_mode: |p| p.starts_with("files"),
        writeback: true,
    };

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
            let files = extract(&data[..], dir.path(), workers, UNDER_FILES).unwrap();
            assert_eq!(
                (files[1].path.as_path(), files[1].mode),
                (Path::new("files/bin/run.sh"), 0o755)
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
            extract(&data[..], dir.path(), workers, UNDER_FILES).unwrap();
            let mode_of = |p: &str| mode_of(&dir.path().join(p));
            assert_eq!(mode_of("components"), 0o700, "not asked: private");
            assert_eq!(mode_of("files/ca"), 0o755, "no setgid");
            assert_eq!(mode_of("files/ro"), 0o700, "its owner may write it");
            assert_eq!(mode_of("files/ro/inner"), 0o750);
            assert_eq!(mode_of("files/drop"), 0o1777, "the sticky bit stays");
            assert_eq!(mode_of("files/up"), 0o755, "no setuid");
            assert_eq!(mode_of("files/ro/frozen.txt"), 0o444);
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
            let files = extract(&data[..], dir.path(), workers, PRIVATE).unwrap();
            assert_eq!(files.len(), contents.len());
            for (f, (path, content)) in files.iter().zip(&contents) {
                assert_eq!(f.path, Path::new(path));
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
        b.append_data(&mut h, "components/a.yaml", &b"a"[..])
            .unwrap();
        let mut tar = b.into_inner().unwrap();
        tar.extend_from_slice(&[0u8; 9000]);
        let mut trailing = tar.clone();
        trailing.push(1);
        for workers in [2, 0] {
            let dir = tempfile::tempdir().unwrap();
            assert_eq!(
                extract(&framed(&tar)[..], dir.path(), workers, PRIVATE)
                    .unwrap()
                    .len(),
                1
            );
            let dir = tempfile::tempdir().unwrap();
            assert!(matches!(
                extract(&framed(&trailing)[..], dir.path(), workers, PRIVATE),
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
                extract(&link[..], dir.path(), workers, PRIVATE),
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
                extract(&traversal[..], dir.path(), workers, PRIVATE),
                Err(ArchiveError::UnsafePath(_))
            ));
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
