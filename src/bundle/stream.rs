//! The payload encryption: ChaCha20-Poly1305 in the STREAM construction
//! (Hoang, Reyhanitabar, Rogaway, Vizár 2015; big-endian 32-bit counter and a
//! last-chunk flag, as in aead-stream's `StreamBE32`), 64 KiB chunks.
//!
//! [`StreamWriter`] is a `Write` that seals each full chunk as it fills and
//! the final (possibly empty, possibly full) chunk on [`StreamWriter::finish`].
//! [`StreamReader`] is a `Read` that opens one chunk at a time and only
//! reports end-of-stream after a chunk flagged last has been authenticated,
//! so truncation, reordering, a missing last chunk and trailing bytes are all
//! errors. Memory stays at about two chunks whatever the size of the stream.

use std::io::{self, Read, Write};

use aead_stream::{NewStream, StreamBE32, StreamPrimitive};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use zeroize::Zeroizing;

/// Plaintext bytes per chunk.
pub const CHUNK_SIZE: usize = 64 * 1024;
/// Authentication tag bytes per chunk.
pub const TAG_SIZE: usize = 16;
/// Bytes of the per-stream nonce prefix (12-byte nonce minus 5 bytes of counter and flag).
pub const NONCE_PREFIX_SIZE: usize = 7;

/// Why the payload could not be read. Carried inside an `io::Error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// A chunk failed authentication (chunks count from 0).
    #[error("payload damaged at chunk {0}: the bundle was altered or corrupted; get a fresh copy")]
    Damaged(u64),
    /// The stream ended before a chunk flagged last.
    #[error("payload truncated after chunk {0}: the bundle is incomplete; copy it again")]
    Truncated(u64),
    /// Bytes follow the chunk flagged last.
    #[error("trailing data after the last chunk ({0}): the bundle was altered; get a fresh copy")]
    TrailingData(u64),
}

fn primitive(key: &[u8; 32], prefix: &[u8; NONCE_PREFIX_SIZE]) -> StreamBE32<ChaCha20Poly1305> {
    let aead = ChaCha20Poly1305::new(&(*key).into());
    StreamBE32::from_aead(aead, &(*prefix).into())
}

/// Encrypts everything written to it into `inner`.
pub struct StreamWriter<W: Write> {
    inner: W,
    stream: StreamBE32<ChaCha20Poly1305>,
    buf: Zeroizing<Vec<u8>>,
    counter: u32,
}

impl<W: Write> StreamWriter<W> {
    /// Starts a stream under `key` with the random `prefix` recorded in the header.
    pub fn new(inner: W, key: &[u8; 32], prefix: &[u8; NONCE_PREFIX_SIZE]) -> Self {
        Self {
            inner,
            stream: primitive(key, prefix),
            buf: Zeroizing::new(Vec::with_capacity(CHUNK_SIZE + TAG_SIZE)),
            counter: 0,
        }
    }

    fn seal(&mut self, last: bool) -> io::Result<()> {
        let take = CHUNK_SIZE.min(self.buf.len());
        let mut chunk = Zeroizing::new(self.buf.drain(..take).collect::<Vec<u8>>());
        chunk.reserve(TAG_SIZE);
        self.stream
            .encrypt_in_place(self.counter, last, b"", &mut *chunk)
            .map_err(|_| io::Error::other("chunk encryption failed"))?;
        self.counter = self.counter.checked_add(1).ok_or_else(|| {
            io::Error::other("the payload is too large for one bundle (over 256 TiB)")
        })?;
        self.inner.write_all(&chunk)
    }

    /// Seals the last chunk and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.seal(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for StreamWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // A chunk is sealed only once more data follows it, so the last chunk
        // may be full and is always sealed with the last flag by `finish`.
        if self.buf.len() == CHUNK_SIZE && !data.is_empty() {
            self.seal(false)?;
        }
        let n = data.len().min(CHUNK_SIZE - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Decrypts and authenticates a stream chunk by chunk.
pub struct StreamReader<R: Read> {
    inner: R,
    stream: StreamBE32<ChaCha20Poly1305>,
    counter: u32,
    plain: Zeroizing<Vec<u8>>,
    pos: usize,
    pending: Option<u8>,
    done: bool,
    failed: bool,
}

impl<R: Read> StreamReader<R> {
    /// Reads a stream under `key` with the `prefix` from the header.
    pub fn new(inner: R, key: &[u8; 32], prefix: &[u8; NONCE_PREFIX_SIZE]) -> Self {
        Self {
            inner,
            stream: primitive(key, prefix),
            counter: 0,
            plain: Zeroizing::new(Vec::new()),
            pos: 0,
            pending: None,
            done: false,
            failed: false,
        }
    }

    fn fail(e: PayloadError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }

    /// Reads, authenticates and decrypts the next chunk into `plain`, whose
    /// buffer is reused from chunk to chunk (and wiped when dropped).
    ///
    /// A full chunk is read with one byte more, straight into `plain`: that
    /// byte tells whether another chunk follows (it is kept for the next
    /// one), so the input needs no buffer of its own and a file is read 64
    /// KiB per call.
    fn next_chunk(&mut self) -> io::Result<()> {
        let index = u64::from(self.counter);
        let full = CHUNK_SIZE + TAG_SIZE;
        let chunk = &mut self.plain;
        chunk.clear();
        // Room for the lookahead byte too: a buffer that grew would leave a
        // copy of the plaintext behind, unwiped.
        chunk.reserve(full + 1);
        if let Some(b) = self.pending.take() {
            chunk.push(b);
        }
        let want = (full + 1 - chunk.len()) as u64;
        (&mut self.inner).take(want).read_to_end(chunk)?;
        let last = chunk.len() <= full;
        if !last {
            self.pending = chunk.pop();
        }
        if chunk.len() < TAG_SIZE {
            return Err(Self::fail(if index == 0 && chunk.is_empty() {
                PayloadError::Truncated(0)
            } else {
                PayloadError::Damaged(index)
            }));
        }
        if self
            .stream
            .decrypt_in_place(self.counter, last, b"", &mut **chunk)
            .is_err()
        {
            // ChaCha20-Poly1305 checks the tag before it decrypts, so a
            // chunk that failed is still the ciphertext: try the other flag
            // to tell a truncation or trailing data from damage.
            let other = self
                .stream
                .decrypt_in_place(self.counter, !last, b"", &mut **chunk)
                .is_ok();
            return Err(Self::fail(match (other, last) {
                (true, true) => PayloadError::Truncated(index),
                (true, false) => PayloadError::TrailingData(index),
                (false, _) => PayloadError::Damaged(index),
            }));
        }
        self.done = last;
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or_else(|| Self::fail(PayloadError::Damaged(index)))?;
        self.pos = 0;
        Ok(())
    }
}

impl<R: Read> Read for StreamReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.plain.len() {
            if self.failed {
                return Err(io::Error::other("the payload could not be read"));
            }
            if self.done {
                return Ok(0);
            }
            if let Err(e) = self.next_chunk() {
                // Nothing of a chunk that failed may be read, and the stream
                // cannot go on after it.
                self.failed = true;
                self.plain.clear();
                self.pos = 0;
                return Err(e);
            }
        }
        let n = out.len().min(self.plain.len() - self.pos);
        out[..n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The payload error inside an `io::Error`, if that is what it is.
pub fn payload_error(e: &io::Error) -> Option<&PayloadError> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<PayloadError>())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];
    const PREFIX: [u8; 7] = [1; 7];

    fn seal(data: &[u8]) -> Vec<u8> {
        let mut w = StreamWriter::new(Vec::new(), &KEY, &PREFIX);
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    fn open(data: &[u8]) -> Result<Vec<u8>, PayloadError> {
        let mut out = Vec::new();
        StreamReader::new(data, &KEY, &PREFIX)
            .read_to_end(&mut out)
            .map(|_| out)
            .map_err(|e| payload_error(&e).cloned().expect("a payload error"))
    }

    #[test]
    fn round_trips_at_chunk_boundaries() {
        for len in [
            0,
            1,
            CHUNK_SIZE - 1,
            CHUNK_SIZE,
            CHUNK_SIZE + 1,
            3 * CHUNK_SIZE,
            3 * CHUNK_SIZE + 5,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let sealed = seal(&data);
            assert_eq!(
                sealed.len(),
                len + TAG_SIZE * len.div_ceil(CHUNK_SIZE).max(1),
                "{len}"
            );
            assert_eq!(open(&sealed).unwrap(), data, "{len}");
        }
    }

    #[test]
    fn damage_names_the_chunk() {
        let mut sealed = seal(&vec![0u8; 2 * CHUNK_SIZE + 10]);
        sealed[CHUNK_SIZE + TAG_SIZE + 3] ^= 1;
        assert_eq!(open(&sealed), Err(PayloadError::Damaged(1)));
    }

    #[test]
    fn a_missing_last_chunk_is_truncation() {
        let sealed = seal(&vec![0u8; 2 * CHUNK_SIZE + 10]);
        assert_eq!(
            open(&sealed[..2 * (CHUNK_SIZE + TAG_SIZE)]),
            Err(PayloadError::Truncated(1))
        );
        assert_eq!(open(&[]), Err(PayloadError::Truncated(0)));
    }

    #[test]
    fn trailing_bytes_after_a_full_last_chunk_are_detected() {
        let mut sealed = seal(&vec![0u8; CHUNK_SIZE]);
        sealed.extend_from_slice(b"junk");
        assert_eq!(open(&sealed), Err(PayloadError::TrailingData(0)));
        let mut sealed = seal(b"short");
        sealed.push(0);
        assert!(open(&sealed).is_err());
    }

    #[test]
    fn a_reader_that_failed_keeps_failing() {
        let mut sealed = seal(&vec![0u8; 2 * CHUNK_SIZE + 10]);
        sealed[CHUNK_SIZE + TAG_SIZE + 3] ^= 1;
        let mut r = StreamReader::new(&sealed[..], &KEY, &PREFIX);
        let mut buf = vec![0u8; CHUNK_SIZE];
        r.read_exact(&mut buf).unwrap();
        for _ in 0..2 {
            assert!(r.read(&mut buf).is_err());
        }
    }

    #[test]
    fn reordered_chunks_are_detected() {
        let sealed = seal(&vec![0u8; 2 * CHUNK_SIZE + 10]);
        let c = CHUNK_SIZE + TAG_SIZE;
        let mut swapped = sealed[c..2 * c].to_vec();
        swapped.extend_from_slice(&sealed[..c]);
        swapped.extend_from_slice(&sealed[2 * c..]);
        assert_eq!(open(&swapped), Err(PayloadError::Damaged(0)));
    }
}
