//! How much a password check costs depending on what the machine did just
//! before: the same Argon2id check (a local user's parameters: 19 MiB, 2
//! passes, 1 lane) in the same pooled memory, run back to back, after 200 ms
//! asleep, and after 200 ms spinning on the CPU without touching memory.
//! Each check runs on a fresh thread, as a server's blocking pool would.
//!
//! ```sh
//! cargo run --release --example argon_idle [ROUNDS]
//! ```
//!
//! docs/BENCHMARKS.md records what it printed and why it matters for the
//! cluster push.

use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, Version};

fn check() -> Duration {
    let start = Instant::now();
    std::thread::spawn(|| {
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default());
        let mut out = [0u8; 32];
        tacctl::argon::hash_into(&argon, b"a password", b"sixteen byte slt", &mut out)
            .expect("valid parameters");
    })
    .join()
    .expect("the check does not panic");
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(15);
    check(); // fills the pool
    let pause = Duration::from_millis(200);
    let mut back_to_back = Vec::new();
    let mut after_sleep = Vec::new();
    let mut after_spin = Vec::new();
    for _ in 0..rounds {
        back_to_back.push(check());
        back_to_back.push(check());
        std::thread::sleep(pause);
        after_sleep.push(check());
        let t = Instant::now();
        while t.elapsed() < pause {
            std::hint::spin_loop();
        }
        after_spin.push(check());
    }
    println!(
        "Argon2id 19 MiB, 2 passes, {rounds} rounds, medians: back to back {:.1} ms, after 200 ms asleep {:.1} ms, after 200 ms spinning {:.1} ms",
        median(back_to_back).as_secs_f64() * 1e3,
        median(after_sleep).as_secs_f64() * 1e3,
        median(after_spin).as_secs_f64() * 1e3,
    );
}
