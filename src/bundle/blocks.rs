//! The archive's compression in format version 2: the tar stream is cut into
//! blocks of at most [`BLOCK_SIZE`] bytes, each compressed on its own (raw
//! deflate, RFC 1951) and framed with its lengths, so that several blocks can
//! be compressed or inflated at once. Version 1's single gzip member can only
//! be inflated on one core, and that bounded an import's speed.
//!
//! A frame is `method (1) || length (4, BE) || stored length (4, BE) || data`;
//! method 0 stores the block as it is, method 1 holds raw deflate. Nine zero
//! bytes end the archive and nothing may follow them (docs/FORMAT.md).
//!
//! [`BlockWriter`] compresses on worker threads and writes the frames in
//! order; [`read_blocks`] parses frames on one thread, inflates on workers
//! and hands the blocks back in order. Both keep a fixed number of blocks in
//! flight, so memory does not grow with the archive. Neither authenticates:
//! they sit inside the STREAM layer, which releases only authenticated bytes
//! and reports the end of the stream only after the last chunk verified.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use zeroize::Zeroizing;

/// The most bytes of the archive one block holds, before compression.
pub const BLOCK_SIZE: usize = 1 << 20;
/// Bytes of a frame's header: method, length, stored length.
pub const FRAME_HEADER: usize = 9;
/// Method 0: the block is stored as it is.
pub const METHOD_STORED: u8 = 0;
/// Method 1: the block is raw deflate (RFC 1951).
pub const METHOD_DEFLATE: u8 = 1;
/// The deflate level writers use: level 2 stores incompressible data in
/// stored deflate blocks, which inflate at memory speed, where level 1's
/// static Huffman codes make them larger and slow to inflate.
pub const LEVEL: u32 = 2;

/// A block of the archive, plain or compressed; wiped when dropped, since
/// the archive carries secrets.
type Buf = Zeroizing<Vec<u8>>;

/// Why the archive's blocks could not be read. Carried inside an `io::Error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// A frame header breaks the format's rules.
    #[error(
        "block {index} of the archive is malformed ({why}); the bundle was not written by tacctl"
    )]
    Malformed {
        /// The block, counting from 0.
        index: u64,
        /// Which rule.
        why: &'static str,
    },
    /// A deflate block does not inflate to exactly its stated length.
    #[error(
        "block {0} of the archive does not decompress to its stated length; the bundle was not written by tacctl"
    )]
    Inflate(u64),
    /// The payload ends without the end frame.
    #[error("the archive ends without its end marker; the bundle was not written by tacctl")]
    Unterminated,
    /// Something follows the end frame, or the tar archive's end.
    #[error("the bundle holds data after its archive; it was not written by tacctl")]
    TrailingData,
    /// A worker thread stopped without an answer.
    #[error("an archive worker stopped unexpectedly")]
    Worker,
}

fn fail(e: BlockError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The block error inside an `io::Error`, if that is what it is.
pub fn block_error(e: &io::Error) -> Option<&BlockError> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<BlockError>())
}

/// The most worker threads [`default_workers`] suggests: with more, the
/// blocks in flight would take more memory than a bundle may use.
pub const MAX_WORKERS: usize = 4;

/// How many worker threads to use: one per core, from one to [`MAX_WORKERS`].
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_WORKERS))
}

/// Frames `block`: deflated when that makes it smaller, stored otherwise.
fn compress(block: &[u8]) -> io::Result<Buf> {
    let mut out = Zeroizing::new(Vec::with_capacity(FRAME_HEADER + block.len()));
    out.resize(FRAME_HEADER, 0);
    let mut c = Compress::new(Compression::new(LEVEL), false);
    // Deflate into less than the block's own length; a block that does not
    // shrink is stored instead.
    let method = loop {
        let (was_in, was_out) = (c.total_in(), c.total_out());
        let status = c
            .compress_vec(&block[was_in as usize..], &mut out, FlushCompress::Finish)
            .map_err(io::Error::other)?;
        let shrunk = out.len() - FRAME_HEADER < block.len();
        if status == Status::StreamEnd {
            break if shrunk {
                METHOD_DEFLATE
            } else {
                METHOD_STORED
            };
        }
        let stuck = (c.total_in(), c.total_out()) == (was_in, was_out);
        if !shrunk || stuck || out.len() == out.capacity() {
            break METHOD_STORED;
        }
    };
    if method == METHOD_STORED {
        out.truncate(FRAME_HEADER);
        out.extend_from_slice(block);
    }
    let stored = (out.len() - FRAME_HEADER) as u32;
    out[0] = method;
    out[1..5].copy_from_slice(&(block.len() as u32).to_be_bytes());
    out[5..9].copy_from_slice(&stored.to_be_bytes());
    Ok(out)
}

/// A pool of threads that run one function over jobs and answer each job on
/// its own channel, so that the submitter can collect answers in order.
struct Pool<J: Send + 'static, T: Send + 'static> {
    jobs: Option<SyncSender<(J, SyncSender<T>)>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl<J: Send + 'static, T: Send + 'static> Pool<J, T> {
    fn new(workers: usize, f: fn(J) -> T) -> Self {
        let (tx, rx) = sync_channel::<(J, SyncSender<T>)>(workers);
        let rx = Arc::new(Mutex::new(rx));
        let threads = (0..workers)
            .map(|_| {
                let rx = Arc::clone(&rx);
                std::thread::spawn(move || {
                    loop {
                        let job = rx.lock().map(|r| r.recv());
                        let Ok(Ok((job, answer))) = job else { return };
                        // The submitter may have gone; then nobody wants it.
                        let _ = answer.send(f(job));
                    }
                })
            })
            .collect();
        Self {
            jobs: Some(tx),
            threads,
        }
    }

    fn submit(&self, job: J) -> io::Result<Receiver<T>> {
        let (tx, rx) = sync_channel(1);
        self.jobs
            .as_ref()
            .expect("the pool is open until dropped")
            .send((job, tx))
            .map_err(|_| fail(BlockError::Worker))?;
        Ok(rx)
    }
}

impl<J: Send + 'static, T: Send + 'static> Drop for Pool<J, T> {
    fn drop(&mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Cuts what is written to it into blocks, compresses them on worker
/// threads and writes the frames to `inner` in order. [`BlockWriter::finish`]
/// writes the end frame; a writer dropped without it leaves an archive that
/// readers refuse.
pub struct BlockWriter<W: Write> {
    inner: W,
    block: Buf,
    pool: Pool<Buf, io::Result<Buf>>,
    pending: VecDeque<Receiver<io::Result<Buf>>>,
    depth: usize,
}

impl<W: Write> BlockWriter<W> {
    /// Starts an archive on `workers` threads (from one to [`MAX_WORKERS`]).
    pub fn new(inner: W, workers: usize) -> Self {
        let workers = workers.clamp(1, MAX_WORKERS);
        Self {
            inner,
            block: Zeroizing::new(Vec::with_capacity(BLOCK_SIZE)),
            pool: Pool::new(workers, |b: Buf| compress(&b)),
            pending: VecDeque::new(),
            // Enough to keep every worker busy while the oldest is written.
            depth: 2 * workers,
        }
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        let rx = self.pending.pop_front().expect("a block is pending");
        let frame = rx.recv().map_err(|_| fail(BlockError::Worker))??;
        self.inner.write_all(&frame)
    }

    fn send_block(&mut self) -> io::Result<()> {
        let full = std::mem::replace(
            &mut self.block,
            Zeroizing::new(Vec::with_capacity(BLOCK_SIZE)),
        );
        self.pending.push_back(self.pool.submit(full)?);
        while self.pending.len() > self.depth {
            self.write_oldest()?;
        }
        Ok(())
    }

    /// Writes the last block and the end frame; returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.block.is_empty() {
            self.send_block()?;
        }
        while !self.pending.is_empty() {
            self.write_oldest()?;
        }
        self.inner.write_all(&[0u8; FRAME_HEADER])?;
        self.inner.flush()?;
        let Self { inner, .. } = self;
        Ok(inner)
    }
}

impl<W: Write> Write for BlockWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(BLOCK_SIZE - self.block.len());
        self.block.extend_from_slice(&data[..n]);
        if self.block.len() == BLOCK_SIZE {
            self.send_block()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One frame read from the payload, to be turned into its block.
struct Frame {
    index: u64,
    len: usize,
    deflated: Buf,
}

fn inflate(f: Frame) -> io::Result<Buf> {
    let mut out = Zeroizing::new(Vec::with_capacity(f.len));
    let mut d = Decompress::new(false);
    let status = d
        .decompress_vec(&f.deflated, &mut out, FlushDecompress::Finish)
        .map_err(|_| fail(BlockError::Inflate(f.index)))?;
    // The deflate stream must end exactly at the end of the frame and give
    // exactly the stated length (the output's capacity caps it).
    if status != Status::StreamEnd || d.total_in() != f.deflated.len() as u64 || out.len() != f.len
    {
        return Err(fail(BlockError::Inflate(f.index)));
    }
    Ok(out)
}

/// Reads `buf.len()` bytes, or fewer only at the end of `r`; returns how many.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A block in order: its answer channel, or one ready now.
type Slot = Receiver<io::Result<Buf>>;

fn ready(b: io::Result<Buf>) -> Slot {
    let (tx, rx) = sync_channel(1);
    tx.send(b).expect("a one-slot channel takes one message");
    rx
}

/// A frame's content, as [`Frames::next`] reads it.
enum Next {
    /// A stored block: the block itself.
    Stored(Buf),
    /// A deflated block, to be inflated.
    Deflated(Frame),
    /// The end frame, with nothing after it.
    End,
}

/// Reads the payload's frames and checks their headers: the one place the
/// frame rules are enforced, whichever way the blocks are then inflated.
struct Frames<R> {
    input: R,
    index: u64,
    ended: bool,
}

impl<R: Read> Frames<R> {
    fn new(input: R) -> Self {
        Self {
            input,
            index: 0,
            ended: false,
        }
    }

    /// The next frame. After the end frame it checks that nothing follows,
    /// and keeps answering [`Next::End`].
    fn next(&mut self) -> io::Result<Next> {
        if self.ended {
            return Ok(Next::End);
        }
        let index = self.index;
        let input = &mut self.input;
        let mut h = [0u8; FRAME_HEADER];
        if read_full(input, &mut h)? != FRAME_HEADER {
            return Err(fail(BlockError::Unterminated));
        }
        let method = h[0];
        let len = u32::from_be_bytes(h[1..5].try_into().expect("four bytes")) as usize;
        let stored = u32::from_be_bytes(h[5..9].try_into().expect("four bytes")) as usize;
        let malformed = |why| fail(BlockError::Malformed { index, why });
        if h == [0u8; FRAME_HEADER] {
            let mut one = [0u8; 1];
            if read_full(input, &mut one)? != 0 {
                return Err(fail(BlockError::TrailingData));
            }
            self.ended = true;
            return Ok(Next::End);
        }
        if len == 0 || len > BLOCK_SIZE {
            return Err(malformed("its length is out of range"));
        }
        let valid = match method {
            METHOD_STORED => stored == len,
            METHOD_DEFLATE => stored > 0 && stored < len,
            _ => return Err(malformed("unknown method")),
        };
        if !valid {
            return Err(malformed("its stored length does not fit its method"));
        }
        let mut data = Zeroizing::new(Vec::with_capacity(stored));
        if input.take(stored as u64).read_to_end(&mut data)? != stored {
            return Err(fail(BlockError::Unterminated));
        }
        self.index += 1;
        Ok(if method == METHOD_STORED {
            Next::Stored(data)
        } else {
            Next::Deflated(Frame {
                index,
                len,
                deflated: data,
            })
        })
    }
}

/// Parses frames from `input`, sends deflated ones to the pool and every
/// block's slot to `order`, in order. Ends after checking that nothing
/// follows the end frame, or after sending the first error.
fn dispatch<R: Read>(input: R, pool: &Pool<Frame, io::Result<Buf>>, order: &SyncSender<Slot>) {
    let mut frames = Frames::new(input);
    let outcome = loop {
        let slot = match frames.next() {
            Ok(Next::End) => break Ok(()),
            Ok(Next::Stored(block)) => ready(Ok(block)),
            Ok(Next::Deflated(frame)) => match pool.submit(frame) {
                Ok(rx) => rx,
                Err(e) => break Err(e),
            },
            Err(e) => break Err(e),
        };
        if order.send(slot).is_err() {
            return; // the reader stopped; it has its own error
        }
    };
    if let Err(e) = outcome {
        let _ = order.send(ready(Err(e)));
    }
}

/// Where a [`BlockReader`] takes its blocks from.
enum Source<R> {
    /// From the dispatching thread, in order, inflated by the pool.
    Threads(Receiver<Slot>),
    /// Read and inflated on the reader's own thread.
    Inline(Frames<R>),
}

/// The archive's tar stream, block after block, as [`read_blocks`] hands it
/// to its consumer. It reports the end only once the whole payload was read
/// and nothing follows the end frame; any error is final.
pub struct BlockReader<R> {
    source: Source<R>,
    block: Buf,
    pos: usize,
    failed: bool,
}

impl<R: Read> BlockReader<R> {
    /// The next block, `None` at the end.
    fn next_block(&mut self) -> Option<io::Result<Buf>> {
        match &mut self.source {
            Source::Threads(order) => {
                let slot = order.recv().ok()?;
                Some(
                    slot.recv()
                        .unwrap_or_else(|_| Err(fail(BlockError::Worker))),
                )
            }
            Source::Inline(frames) => match frames.next() {
                Ok(Next::End) => None,
                Ok(Next::Stored(block)) => Some(Ok(block)),
                Ok(Next::Deflated(frame)) => Some(inflate(frame)),
                Err(e) => Some(Err(e)),
            },
        }
    }
}

impl<R: Read> Read for BlockReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("the archive could not be read"));
        }
        while self.pos == self.block.len() {
            match self.next_block() {
                None => return Ok(0),
                Some(Ok(b)) => {
                    self.block = b;
                    self.pos = 0;
                }
                Some(Err(e)) => {
                    self.failed = true;
                    return Err(e);
                }
            }
        }
        let n = out.len().min(self.block.len() - self.pos);
        out[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Reads a version 2 archive from `input` (the decrypted payload) and runs
/// `consume` on this thread over its tar stream. With `workers` from 1 up,
/// another thread parses frames and `workers` threads inflate blocks, and at
/// most about `2 * workers + 2` blocks are in memory at once. With 0, this
/// thread does it all, one block at a time: for a small payload, starting
/// threads costs more than they save.
pub fn read_blocks<R: Read + Send, T>(
    input: R,
    workers: usize,
    consume: impl FnOnce(&mut BlockReader<R>) -> T,
) -> T {
    if workers == 0 {
        return consume(&mut BlockReader {
            source: Source::Inline(Frames::new(input)),
            block: Zeroizing::new(Vec::new()),
            pos: 0,
            failed: false,
        });
    }
    let workers = workers.min(MAX_WORKERS);
    let pool = Pool::new(workers, inflate);
    let (order_tx, order_rx) = sync_channel::<Slot>(2 * workers);
    std::thread::scope(|scope| {
        let pool = &pool;
        scope.spawn(move || dispatch(input, pool, &order_tx));
        let mut reader = BlockReader {
            source: Source::Threads(order_rx),
            block: Zeroizing::new(Vec::new()),
            pos: 0,
            failed: false,
        };
        // Dropping the reader on the way out stops the dispatcher.
        consume(&mut reader)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_all(data: &[u8], workers: usize) -> Vec<u8> {
        let mut w = BlockWriter::new(Vec::new(), workers);
        // Uneven writes, so blocks fill across calls.
        for piece in data.chunks(100_003) {
            w.write_all(piece).unwrap();
        }
        w.finish().unwrap()
    }

    /// Reads `framed` on `workers` threads and on this thread alone, checks
    /// that both give the same bytes or the same error, and returns it.
    fn read_all(framed: &[u8], workers: usize) -> io::Result<Vec<u8>> {
        let read = |workers| {
            read_blocks(framed, workers, |r| {
                let mut out = Vec::new();
                r.read_to_end(&mut out).map(|_| out)
            })
        };
        let (threaded, inline) = (read(workers), read(0));
        match (&threaded, &inline) {
            (Ok(a), Ok(b)) => assert!(a == b, "inline reading gave other bytes"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("threaded {threaded:?}, inline {inline:?}"),
        }
        threaded
    }

    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn err_of(r: io::Result<Vec<u8>>) -> BlockError {
        let e = r.expect_err("refused");
        block_error(&e).cloned().expect("a block error")
    }

    #[test]
    fn round_trips_text_and_noise_across_block_boundaries() {
        let mut data = Vec::new();
        for i in 0..(3 * BLOCK_SIZE / 1000) {
            data.extend_from_slice(format!("policy {i}: allow\n").as_bytes());
        }
        data.extend_from_slice(&noise(BLOCK_SIZE + 17, 7));
        for len in [0, 1, BLOCK_SIZE, data.len()] {
            for workers in [1, 3] {
                let framed = write_all(&data[..len], workers);
                assert_eq!(read_all(&framed, workers).unwrap(), &data[..len]);
            }
        }
    }

    #[test]
    fn text_is_deflated_and_noise_stored() {
        let framed = write_all(&vec![b'a'; 1000], 1);
        assert_eq!(framed[0], METHOD_DEFLATE);
        assert!(framed.len() < 100);
        let n = noise(5000, 3);
        let framed = write_all(&n, 1);
        assert_eq!(framed[0], METHOD_STORED);
        assert_eq!(&framed[FRAME_HEADER..FRAME_HEADER + 5000], &n[..]);
        assert_eq!(&framed[FRAME_HEADER + 5000..], &[0u8; FRAME_HEADER]);
    }

    fn frame(method: u8, len: u32, data: &[u8]) -> Vec<u8> {
        let mut f = vec![method];
        f.extend_from_slice(&len.to_be_bytes());
        f.extend_from_slice(&(data.len() as u32).to_be_bytes());
        f.extend_from_slice(data);
        f
    }

    #[test]
    fn malformed_frames_are_refused() {
        let end = [0u8; FRAME_HEADER];
        let mut two = frame(METHOD_STORED, 2, b"ok");
        two.extend_from_slice(&frame(7, 1, b"x"));
        assert!(matches!(
            err_of(read_all(&two, 2)),
            BlockError::Malformed { index: 1, .. }
        ));
        let big = [&frame(METHOD_STORED, BLOCK_SIZE as u32 + 1, b"")[..], &end].concat();
        assert!(matches!(
            err_of(read_all(&big, 1)),
            BlockError::Malformed { index: 0, .. }
        ));
        let stretched = [&frame(METHOD_STORED, 3, b"ok")[..], &end].concat();
        assert!(matches!(
            err_of(read_all(&stretched, 1)),
            BlockError::Malformed { .. }
        ));
    }

    #[test]
    fn a_block_that_inflates_to_another_length_is_refused() {
        let framed = write_all(&vec![b'a'; 1000], 1);
        let mut longer = framed.clone();
        longer[1..5].copy_from_slice(&999u32.to_be_bytes());
        assert_eq!(err_of(read_all(&longer, 1)), BlockError::Inflate(0));
        let mut shorter = framed.clone();
        shorter[1..5].copy_from_slice(&1001u32.to_be_bytes());
        assert_eq!(err_of(read_all(&shorter, 1)), BlockError::Inflate(0));
    }

    #[test]
    fn a_missing_end_frame_and_trailing_bytes_are_refused() {
        let framed = write_all(b"some archive", 1);
        let cut = &framed[..framed.len() - FRAME_HEADER];
        assert_eq!(err_of(read_all(cut, 1)), BlockError::Unterminated);
        assert_eq!(err_of(read_all(&framed[..5], 1)), BlockError::Unterminated);
        assert_eq!(err_of(read_all(&[], 1)), BlockError::Unterminated);
        let mut longer = framed.clone();
        longer.push(0);
        assert_eq!(err_of(read_all(&longer, 1)), BlockError::TrailingData);
    }

    #[test]
    fn an_input_error_reaches_the_reader_after_the_blocks_before_it() {
        struct Failing<'a>(&'a [u8]);
        impl Read for Failing<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match self.0.read(buf)? {
                    0 => Err(io::Error::other("damaged at the end")),
                    n => Ok(n),
                }
            }
        }
        let data = noise(2 * BLOCK_SIZE, 5);
        let framed = write_all(&data, 2);
        let cut = &framed[..framed.len() - FRAME_HEADER];
        for workers in [0, 2] {
            let mut got = Vec::new();
            let err = read_blocks(Failing(cut), workers, |r| r.read_to_end(&mut got)).unwrap_err();
            assert_eq!(err.to_string(), "damaged at the end");
            assert_eq!(got, data, "every block before the error was delivered");
        }
    }
}
