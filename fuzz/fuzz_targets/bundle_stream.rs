//! The STREAM payload reader (`bundle::stream::StreamReader`) under a fixed
//! key and nonce prefix.
//!
//! First byte, bit 0 clear: the rest after a second byte is ciphertext,
//! after as many valid full chunks (0 to 2, bits 1 and 2) as the first
//! byte asks for, so that the fuzzer's bytes also meet the reader at a
//! chunk boundary (a chunk is 64 KiB, more than inputs grow to). It is
//! read once in reads of the second byte's size and once with
//! `read_to_end`; both must give the same plaintext or both fail.
//!
//! Bit 0 set: a round trip. After four more bytes (the size of the writes,
//! which check to make, and where) the rest is a plaintext, written with
//! `StreamWriter` and read back: it must come back the same. Then the
//! ciphertext cut short, with a byte added, or with one bit flipped must
//! fail.
#![no_main]

use std::io::{Read, Write};
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tacctl::bundle::stream::{CHUNK_SIZE, StreamReader, StreamWriter, TAG_SIZE};
use tacctl_fuzz::{STREAM_FILL, STREAM_KEY, STREAM_PREFIX};

/// Chunks 0 and 1 of a longer stream: full, not last, valid.
static CHUNKS: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let ct = seal(&vec![STREAM_FILL; 2 * CHUNK_SIZE + 1], CHUNK_SIZE);
    ct[..2 * (CHUNK_SIZE + TAG_SIZE)].to_vec()
});

fn reader(ct: &[u8]) -> StreamReader<&[u8]> {
    StreamReader::new(ct, &STREAM_KEY, &STREAM_PREFIX)
}

fn read_all(ct: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    reader(ct).read_to_end(&mut out).map(|_| out)
}

/// Reads in calls of `size` bytes; an error ends the reading, as it must
/// end the reader.
fn read_by(ct: &[u8], size: usize) -> std::io::Result<Vec<u8>> {
    let mut r = reader(ct);
    let mut out = Vec::new();
    let mut buf = vec![0u8; size];
    loop {
        match r.read(&mut buf)? {
            0 => return Ok(out),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

fn seal(plain: &[u8], piece: usize) -> Vec<u8> {
    let mut w = StreamWriter::new(Vec::new(), &STREAM_KEY, &STREAM_PREFIX);
    for p in plain.chunks(piece) {
        w.write_all(p).unwrap();
    }
    w.finish().unwrap()
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    if flags & 1 == 0 {
        let Some((&size, tail)) = rest.split_first() else {
            return;
        };
        let chunks = usize::from((flags >> 1) & 3).min(2);
        let mut ct = CHUNKS[..chunks * (CHUNK_SIZE + TAG_SIZE)].to_vec();
        ct.extend_from_slice(tail);
        let whole = read_all(&ct);
        let pieces = read_by(&ct, usize::from(size) + 1);
        match (&whole, &pieces) {
            (Ok(a), Ok(b)) => assert!(a == b, "read_to_end and reads of {} differ", size + 1),
            (Err(_), Err(_)) => {}
            _ => panic!(
                "read_to_end: {:?}, reads of {}: {:?}",
                whole.as_ref().map(Vec::len),
                size + 1,
                pieces.as_ref().map(Vec::len)
            ),
        }
        return;
    }
    let Some(([piece, check, at_hi, at_lo], plain)) =
        rest.split_first_chunk::<4>().map(|(h, p)| (*h, p))
    else {
        return;
    };
    let ct = seal(plain, usize::from(piece) + 1);
    assert!(
        read_all(&ct).expect("a sealed stream reads") == plain,
        "the round trip changed the plaintext"
    );
    let at = (usize::from(at_hi) << 8 | usize::from(at_lo)) % ct.len();
    match check % 3 {
        0 => assert!(
            read_all(&ct[..at]).is_err(),
            "cut at {at} of {} read",
            ct.len()
        ),
        1 => {
            let mut longer = ct;
            longer.push(at_lo);
            assert!(read_all(&longer).is_err(), "a byte more read");
        }
        _ => {
            let mut flipped = ct;
            flipped[at] ^= 1 << (check & 7);
            assert!(read_all(&flipped).is_err(), "a flipped bit at {at} read");
        }
    }
});
