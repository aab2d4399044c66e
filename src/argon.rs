//! Argon2 with reused working memory: password checks and key derivations.
//!
//! The argon2 crate allocates its working memory (19 MiB for a password
//! check, 1 to 64 MiB for a bundle's key) afresh for every call, and the
//! kernel then faults in and zeroes every page of it: measured on a login,
//! that page clearing cost more CPU than Argon2 itself. Here the memory is
//! kept in a small pool and handed to `hash_password_into_with_memory`, so a
//! busy server reuses a few warm buffers. Argon2 overwrites every block
//! before reading it, so a reused buffer gives the same output as a fresh
//! one (tested below against the crate's own functions). At most
//! [`MAX_POOLED`] buffers of at most [`MAX_POOLED_BYTES`] each are kept;
//! larger ones (a file bundle's 64 MiB key derivation) are freed at once.
//!
//! The memory holds values derived from the password, so it is zeroized
//! after every call, whether it goes back to the pool or is freed.
//!
//! Each buffer is its own anonymous mapping; one of 2 MiB or more is aligned
//! to 2 MiB and marked for transparent huge pages (`MADV_HUGEPAGE`, which
//! Linux honours in its default `madvise` mode). Argon2 reads its blocks in a
//! data-dependent, random order, so with 4 KiB pages nearly every block it
//! reads costs a TLB miss; on the 2-core virtual machine of
//! docs/BENCHMARKS.md, a 19 MiB check after 1.5 s idle took 36 to 41 ms in
//! huge pages against 75 to 82 ms without, and the same warm (15 to 17 ms).
//! Where huge pages are not to be had, the mapping simply keeps small ones.
//!
//! Only a long-running process keeps memory ([`keep_memory`], which the
//! server turns on): a command that checks one password and then derives a
//! bundle's key frees the first 19 MiB before the next 64 MiB, as the
//! bundle's memory bound (the KDF's memory plus 32 MiB) requires.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// How many buffers the pool keeps: one per password check that may run at
/// once on a small appliance, with room to spare.
pub const MAX_POOLED: usize = 4;

/// The largest buffer the pool keeps, bytes.
pub const MAX_POOLED_BYTES: usize = 32 << 20;

static POOL: Mutex<Vec<Memory>> = Mutex::new(Vec::new());

/// The size of a transparent huge page on x86-64 and most arm64 kernels;
/// elsewhere the alignment costs at most this much address space.
const HUGE_PAGE: usize = 2 << 20;

/// Argon2 working memory: zeroed blocks in an anonymous mapping of their
/// own; from [`HUGE_PAGE`] bytes up, aligned to it and marked for huge
/// pages. Unmapped on drop (zeroizing is the caller's, after each use).
struct Memory {
    ptr: std::ptr::NonNull<Block>,
    blocks: usize,
    /// Bytes mapped: the blocks' size, rounded up to whole huge pages from
    /// [`HUGE_PAGE`] up.
    mapped: usize,
}

// SAFETY: `Memory` owns its mapping exclusively, like a `Vec<Block>`.
unsafe impl Send for Memory {}

impl Memory {
    /// `blocks` zeroed blocks. Panics only if the address space is exhausted,
    /// as `Vec` does.
    fn new(blocks: usize) -> Self {
        let bytes = blocks.max(1) * size_of::<Block>();
        // Less than a huge page is mapped as it is: a huge page would only
        // cost 2 MiB of zeroing (tests and pushes derive keys in 8 KiB to
        // 1 MiB).
        let huge = bytes >= HUGE_PAGE;
        let (mapped, align) = if huge {
            (bytes.next_multiple_of(HUGE_PAGE), HUGE_PAGE)
        } else {
            (bytes, 1)
        };
        // Map one huge page more than needed, then unmap the unaligned head
        // and the tail, so the mapping starts on a huge page boundary.
        let over = if huge { mapped + HUGE_PAGE } else { mapped };
        // SAFETY: an anonymous private mapping at an address of the
        // kernel's choice; no existing memory is touched.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                over,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert!(
            raw != libc::MAP_FAILED,
            "out of address space for {over} bytes of Argon2 memory"
        );
        let start = (raw as usize).next_multiple_of(align);
        let head = start - raw as usize;
        let tail = over - head - mapped;
        // SAFETY: both ranges lie inside the mapping just made and are
        // page-aligned (the mapping and `start` are); nothing refers to them.
        unsafe {
            if head > 0 {
                libc::munmap(raw, head);
            }
            if tail > 0 {
                libc::munmap((start + mapped) as *mut libc::c_void, tail);
            }
            // Advice only: a kernel without huge pages keeps small ones.
            #[cfg(target_os = "linux")]
            if huge {
                libc::madvise(start as *mut libc::c_void, mapped, libc::MADV_HUGEPAGE);
            }
        }
        Self {
            ptr: std::ptr::NonNull::new(start as *mut Block).expect("mmap never maps page 0"),
            blocks,
            mapped,
        }
    }

    /// The blocks.
    fn blocks(&mut self) -> &mut [Block] {
        // SAFETY: the mapping holds `blocks` blocks, zero-initialised by the
        // kernel (all zeros is a valid `Block`), aligned to a page, and is
        // borrowed mutably through `self` only.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.blocks) }
    }

    fn len(&self) -> usize {
        self.blocks
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping `new` kept, no longer borrowed.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.mapped);
        }
    }
}

static KEEP: AtomicBool = AtomicBool::new(false);

/// From now on, keep working memory for the next call (a server).
pub fn keep_memory() {
    KEEP.store(true, Ordering::Relaxed);
}

fn take(blocks: usize) -> Memory {
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    let best = pool
        .iter()
        .enumerate()
        .filter(|(_, b)| b.len() >= blocks)
        .min_by_key(|(_, b)| b.len())
        .map(|(i, _)| i);
    match best {
        Some(i) => pool.swap_remove(i),
        None => Memory::new(blocks),
    }
}

fn give_back(buffer: Memory) {
    if !KEEP.load(Ordering::Relaxed) || buffer.len() * size_of::<Block>() > MAX_POOLED_BYTES {
        return;
    }
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    if pool.len() < MAX_POOLED {
        pool.push(buffer);
    } else if let Some(smallest) = pool.iter_mut().min_by_key(|b| b.len())
        && smallest.len() < buffer.len()
    {
        *smallest = buffer;
    }
}

/// Zeroes `blocks` in one `memset`, which stores whole cache lines (a 19
/// MiB check's memory in about half the time of `Zeroize` on each block,
/// whose volatile stores go one word at a time). The stores cannot be
/// dropped as dead: the memory then goes back to the pool, reachable from a
/// static, or to `munmap`; the fence keeps them before either, as
/// `zeroize` does.
fn wipe(blocks: &mut [Block]) {
    // SAFETY: all zeros is a valid `Block`, and the slice is borrowed
    // mutably for exactly its length.
    unsafe { std::ptr::write_bytes(blocks.as_mut_ptr(), 0, blocks.len()) };
    std::hint::black_box(blocks);
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
}

/// `argon.hash_password_into(password, salt, out)`, in pooled memory.
pub fn hash_into(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    let blocks = argon.params().block_count();
    let mut buffer = take(blocks);
    let memory = &mut buffer.blocks()[..blocks];
    let result = argon.hash_password_into_with_memory(password, salt, out, &mut *memory);
    wipe(memory);
    give_back(buffer);
    result
}

/// Whether `password` matches the Argon2 PHC string `phc`, compared in
/// constant time. A string that does not parse, or names another
/// algorithm, never matches.
pub fn verify(password: &[u8], phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params);
    let mut computed = zeroize::Zeroizing::new(vec![0u8; expected.len()]);
    if hash_into(&argon, password, salt, &mut computed).is_err() {
        return false;
    }
    Output::new(&computed).is_ok_and(|computed| computed == *expected)
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    fn small(m: u32) -> Argon2<'static> {
        Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(m, 2, 1, Some(32)).unwrap(),
        )
    }

    #[test]
    fn pooled_memory_gives_the_crates_own_output_whatever_was_in_it() {
        keep_memory();
        // Larger buffer first, so the smaller derivation reuses dirty memory.
        for m in [64, 32, 64, 16] {
            let argon = small(m);
            let (mut ours, mut theirs) = ([0u8; 32], [0u8; 32]);
            hash_into(&argon, b"password", b"saltsaltsalt", &mut ours).unwrap();
            argon
                .hash_password_into(b"password", b"saltsaltsalt", &mut theirs)
                .unwrap();
            assert_eq!(ours, theirs, "m = {m}");
        }
    }

    #[test]
    fn verify_agrees_with_the_crate() {
        let argon = small(32);
        let phc = argon.hash_password(b"right password").unwrap().to_string();
        assert!(
            argon
                .verify_password(b"right password", phc.as_str())
                .is_ok()
        );
        assert!(verify(b"right password", &phc));
        assert!(!verify(b"wrong password", &phc));
        assert!(!verify(b"right password", "not a hash"));
        assert!(!verify(
            b"right password",
            &phc.replace("argon2id", "argon2x")
        ));
        // A hash of another length is checked at its own length.
        let short = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x10,
            Params::new(16, 1, 1, Some(16)).unwrap(),
        );
        let phc = short.hash_password(b"pw-short").unwrap().to_string();
        assert!(verify(b"pw-short", &phc));
        assert!(!verify(b"pw-shorT", &phc));
    }

    #[test]
    fn the_memory_is_zeroized_after_use() {
        keep_memory();
        let argon = small(24);
        let mut out = [0u8; 32];
        hash_into(&argon, b"password", b"saltsaltsalt", &mut out).unwrap();
        let mut pool = POOL.lock().unwrap();
        // Every buffer in the pool is all zeros, whichever call used it last.
        assert!(!pool.is_empty());
        for buffer in pool.iter_mut() {
            for block in buffer.blocks() {
                assert!(block.as_ref().iter().all(|&w| w == 0));
            }
        }
    }

    #[test]
    fn memory_is_zeroed_aligned_and_writable() {
        for blocks in [1, 8, HUGE_PAGE / size_of::<Block>(), 19 * 1024 + 3] {
            let mut m = Memory::new(blocks);
            assert_eq!(m.len(), blocks);
            let align = if blocks * size_of::<Block>() >= HUGE_PAGE {
                HUGE_PAGE
            } else {
                4096
            };
            assert_eq!(m.blocks().as_ptr() as usize % align, 0);
            assert!(
                m.blocks()
                    .iter()
                    .all(|b| b.as_ref().iter().all(|&w| w == 0))
            );
            // Every block, the last one included, can be written.
            for b in m.blocks() {
                b.as_mut()[127] = 7;
            }
            assert!(m.blocks().iter().all(|b| b.as_ref()[127] == 7));
        }
    }

    #[test]
    fn the_pool_keeps_a_few_small_buffers_only() {
        keep_memory();
        let big = MAX_POOLED_BYTES / size_of::<Block>() + 1;
        give_back(Memory::new(big));
        for _ in 0..MAX_POOLED + 2 {
            give_back(Memory::new(8));
        }
        let pool = POOL.lock().unwrap();
        assert!(pool.len() <= MAX_POOLED);
        assert!(pool.iter().all(|b| b.len() < big));
    }
}
