//! The bundle's plaintext: gzip of a tar archive, written from memory and
//! extracted under strict rules.
//!
//! Extraction accepts only regular files and directories with relative,
//! normal paths (no `..`, no absolute paths, no links, devices or FIFOs),
//! at most [`MAX_ENTRIES`] entries and [`MAX_TOTAL`] bytes, and creates every
//! file 0600 and directory 0700 inside the staging directory it is given.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

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
    /// The same path twice.
    #[error("the bundle contains {0:?} twice")]
    Duplicate(String),
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

/// Writes `entries` as gzip(tar) into `out` and returns `out`.
pub fn write<W: Write>(out: W, entries: &[Entry<'_>]) -> io::Result<W> {
    let mut w = ArchiveWriter::new(out);
    for e in entries {
        w.add_bytes(e.path, e.data, e.mode)?;
    }
    w.finish()
}

/// Streams entries into gzip(tar) one at a time, so memory does not grow
/// with the archive.
pub struct ArchiveWriter<W: Write> {
    tar: tar::Builder<GzEncoder<W>>,
}

impl<W: Write> ArchiveWriter<W> {
    /// Starts an archive (gzip level 6).
    pub fn new(out: W) -> Self {
        let mut tar = tar::Builder::new(GzEncoder::new(out, Compression::new(1)));
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

    /// Ends the archive and the gzip stream; returns the writer.
    pub fn finish(self) -> io::Result<W> {
        self.tar.into_inner()?.finish()
    }
}

struct HashingWriter<W> {
    inner: W,
    hash: Sha256,
    n: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
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

/// Extracts gzip(tar) from `input` into the existing private directory
/// `dest`, hashing each file as it is written. Returns the files in order.
/// Reads `input` to the end of the gzip stream only.
pub fn extract<R: Read>(input: R, dest: &Path) -> Result<Vec<Extracted>, ArchiveError> {
    let mut gz = GzDecoder::new(input);
    let files = extract_tar(&mut gz, dest)?;
    io::copy(&mut gz, &mut io::sink())?;
    Ok(files)
}

/// Extracts an uncompressed tar stream; see [`extract`].
pub fn extract_tar<R: Read>(input: R, dest: &Path) -> Result<Vec<Extracted>, ArchiveError> {
    let mut tar = tar::Archive::new(input);
    let mut files = Vec::new();
    let mut seen = std::collections::HashSet::new();
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
        if !seen.insert(rel.clone()) {
            return Err(ArchiveError::Duplicate(rel.display().to_string()));
        }
        let target = dest.join(&rel);
        match kind {
            tar::EntryType::Directory => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&target)?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                total = total.saturating_add(entry.size());
                if total > MAX_TOTAL {
                    return Err(ArchiveError::TooLarge(format!("over {MAX_TOTAL} bytes")));
                }
                if let Some(parent) = target.parent() {
                    fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(parent)?;
                }
                let mode = entry.header().mode().unwrap_or(0o600) & 0o7777;
                let f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&target)?;
                let mut hashing = HashingWriter {
                    inner: io::BufWriter::with_capacity(64 * 1024, f),
                    hash: Sha256::new(),
                    n: 0,
                };
                io::copy(&mut entry, &mut hashing)?;
                hashing.inner.into_inner().map_err(|e| e.into_error())?;
                files.push(Extracted {
                    path: rel,
                    mode,
                    size: hashing.n,
                    sha256: hex::encode(hashing.hash.finalize()),
                });
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
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_content_and_modes() {
        let data = write(
            Vec::new(),
            &[
                Entry {
                    path: "manifest.yaml",
                    data: b"m",
                    mode: 0o600,
                },
                Entry {
                    path: "files/bin/run.sh",
                    data: b"#!/bin/sh",
                    mode: 0o755,
                },
            ],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = extract(&data[..], dir.path()).unwrap();
        assert_eq!(
            (files[1].path.as_path(), files[1].mode),
            (Path::new("files/bin/run.sh"), 0o755)
        );
        assert_eq!(files[1].sha256, hex::encode(Sha256::digest(b"#!/bin/sh")));
        assert_eq!(
            fs::read(dir.path().join("files/bin/run.sh")).unwrap(),
            b"#!/bin/sh"
        );
    }

    fn raw_tar(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        let tar = b.into_inner().unwrap();
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
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
        assert!(matches!(
            extract(&link[..], dir.path()),
            Err(ArchiveError::ForbiddenType { .. })
        ));

        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..16].copy_from_slice(b"../../etc/passwd");
        h.set_size(1);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let traversal = raw_tar(|b| b.append(&h, &b"x"[..]).unwrap());
        assert!(matches!(
            extract(&traversal[..], dir.path()),
            Err(ArchiveError::UnsafePath(_))
        ));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
