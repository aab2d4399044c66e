//! Failed-login throttling, per user name and per client address.
//!
//! Each key counts its recent failures. Past a limit, the key is blocked for
//! a time that doubles with every further failure, up to a ceiling; a blocked
//! key is refused before any password is hashed, so a guessing attack costs
//! the server nothing. A success clears the user name's count (not the
//! address's: one good account must not launder a spraying address). The
//! time is a parameter, so the rules are tested without sleeping.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// The limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failures a user name may have before it is blocked.
    pub per_user: u32,
    /// Failures a client address may have before it is blocked.
    pub per_address: u32,
    /// The first block, seconds; doubled for each further failure.
    pub block_seconds: u64,
    /// The longest block, seconds.
    pub max_block_seconds: u64,
    /// Failures older than this are forgotten, seconds.
    pub window_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_user: 5,
            per_address: 20,
            block_seconds: 30,
            max_block_seconds: 15 * 60,
            window_seconds: 15 * 60,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    failures: u32,
    last_failure: u64,
    blocked_until: u64,
}

/// The most keys kept before expired ones are swept.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Address(IpAddr),
}

/// The failure counts.
#[derive(Debug, Default)]
pub struct Throttle {
    limits: Limits,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl Throttle {
    /// A throttle with these limits.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            entries: Mutex::default(),
        }
    }

    fn keys(user: &str, address: Option<IpAddr>) -> Vec<(Key, bool)> {
        let mut keys = vec![(Key::User(user.to_lowercase()), true)];
        if let Some(a) = address {
            keys.push((Key::Address(a), false));
        }
        keys
    }

    /// `Some(seconds)` to wait when the user name or the address is blocked.
    pub fn check(&self, user: &str, address: Option<IpAddr>, now: u64) -> Option<u64> {
        let entries = self
            .entries
            .lock()
            .expect("throttle lock is never poisoned");
        Self::keys(user, address)
            .iter()
            .filter_map(|(k, _)| entries.get(k))
            .filter(|e| e.blocked_until > now)
            .map(|e| e.blocked_until - now)
            .max()
    }

    /// Records a failed login.
    pub fn failed(&self, user: &str, address: Option<IpAddr>, now: u64) {
        let l = self.limits;
        let mut entries = self
            .entries
            .lock()
            .expect("throttle lock is never poisoned");
        if entries.len() >= MAX_KEYS {
            entries.retain(|_, e| {
                e.blocked_until > now || now.saturating_sub(e.last_failure) < l.window_seconds
            });
        }
        for (key, is_user) in Self::keys(user, address) {
            let limit = if is_user { l.per_user } else { l.per_address };
            let e = entries.entry(key).or_default();
            if now.saturating_sub(e.last_failure) >= l.window_seconds && e.blocked_until <= now {
                *e = Entry::default();
            }
            e.failures += 1;
            e.last_failure = now;
            if e.failures >= limit {
                let doublings = (e.failures - limit).min(20);
                let block = l
                    .block_seconds
                    .saturating_mul(1 << doublings)
                    .min(l.max_block_seconds);
                e.blocked_until = now + block;
            }
        }
    }

    /// Records a successful login: the user name's count starts again.
    pub fn succeeded(&self, user: &str) {
        self.entries
            .lock()
            .expect("throttle lock is never poisoned")
            .remove(&Key::User(user.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            per_user: 3,
            per_address: 5,
            block_seconds: 10,
            max_block_seconds: 40,
            window_seconds: 100,
        }
    }

    #[test]
    fn a_user_is_blocked_after_the_limit_and_the_block_doubles() {
        let t = Throttle::new(limits());
        let ip = Some("127.0.0.1".parse().unwrap());
        t.failed("alice", ip, 1000);
        t.failed("Alice", ip, 1001);
        assert_eq!(t.check("alice", ip, 1001), None);
        t.failed("alice", ip, 1002);
        assert_eq!(t.check("ALICE", None, 1002), Some(10));
        assert_eq!(t.check("alice", None, 1011), Some(1));
        assert_eq!(t.check("alice", None, 1012), None);
        t.failed("alice", None, 1012);
        assert_eq!(t.check("alice", None, 1012), Some(20));
        t.failed("alice", None, 1032);
        t.failed("alice", None, 1072);
        assert_eq!(t.check("alice", None, 1072), Some(40), "capped");
        t.succeeded("alice");
        assert_eq!(t.check("alice", None, 1072), None);
    }

    #[test]
    fn an_address_spraying_many_names_is_blocked() {
        let t = Throttle::new(limits());
        let ip: Option<IpAddr> = Some("10.0.0.9".parse().unwrap());
        for (i, name) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            t.failed(name, ip, 1000 + i as u64);
        }
        assert_eq!(t.check("fresh-name", ip, 1004), Some(10));
        assert_eq!(t.check("fresh-name", None, 1004), None);
        t.succeeded("a");
        assert_eq!(
            t.check("fresh-name", ip, 1004),
            Some(10),
            "a success does not clear the address"
        );
    }

    #[test]
    fn old_failures_are_forgotten() {
        let t = Throttle::new(limits());
        t.failed("bob", None, 1000);
        t.failed("bob", None, 1001);
        t.failed("bob", None, 1200);
        assert_eq!(t.check("bob", None, 1200), None);
    }
}
