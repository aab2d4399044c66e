//! The block framing of format version 2 (`bundle::blocks::read_blocks`)
//! over an arbitrary payload plaintext (the whole input), read on this
//! thread alone (0 workers) and with 1 worker thread: both must give the
//! same bytes or the same error.
//!
//! No round trip through `BlockWriter` here: each one started a worker
//! thread and wiped two 1 MiB block buffers, six times the cost of reading
//! a small input, and round trips of a megabyte (to cross a block) soon
//! made up half the corpus at fifty milliseconds each (docs/FUZZING.md).
//! The library's unit tests hold the round trips.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use tacctl::bundle::blocks::read_blocks;

fn read(framed: &[u8], workers: usize) -> Result<Vec<u8>, String> {
    read_blocks(framed, workers, |r| {
        let mut out = Vec::new();
        r.read_to_end(&mut out).map(|_| out)
    })
    .map_err(|e| e.to_string())
}

/// What a reading gave, short enough to print.
fn summary(r: &Result<Vec<u8>, String>) -> String {
    match r {
        Ok(b) => format!("{} bytes", b.len()),
        Err(e) => e.clone(),
    }
}

fuzz_target!(|framed: &[u8]| {
    let inline = read(framed, 0);
    let threaded = read(framed, 1);
    assert!(
        inline == threaded,
        "0 workers: {}; 1 worker: {}",
        summary(&inline),
        summary(&threaded)
    );
});
