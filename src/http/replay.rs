//! Signed requests seen within the replay window: a signature is good for one request, so a
//! captured request replayed inside the window is refused (and audited) instead of stored again.
//! Kept in memory, per process; replicas of one PostgreSQL database also share them through
//! the store (`Store::first_use_of_signature`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// At most this many signatures are remembered; past it the ones closest to expiring go first.
const REMEMBERED: usize = 100_000;

#[derive(Debug, Default)]
pub struct SeenSignatures {
    inner: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    expiry: HashMap<String, i64>,
    by_expiry: BTreeSet<(i64, String)>,
}

impl SeenSignatures {
    /// Records `key` (valid until `expires`, unix seconds); false if it was already seen.
    pub fn first_use(&self, key: &str, expires: i64, now: i64) -> bool {
        let mut seen = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((at, _)) = seen.by_expiry.first()
            && (*at < now || seen.expiry.len() >= REMEMBERED)
        {
            let (_, old) = seen.by_expiry.pop_first().expect("checked");
            seen.expiry.remove(&old);
        }
        if seen.expiry.contains_key(key) {
            return false;
        }
        seen.expiry.insert(key.to_string(), expires);
        seen.by_expiry.insert((expires, key.to_string()));
        true
    }

    /// Forgets `key`: its request stored nothing, so sending it again is no replay.
    pub fn forget(&self, key: &str) {
        let mut seen = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = seen.expiry.remove(key) {
            seen.by_expiry.remove(&(at, key.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_good_once_within_its_window() {
        let seen = SeenSignatures::default();
        assert!(seen.first_use("a", 1300, 1000));
        assert!(!seen.first_use("a", 1300, 1100), "a replay");
        assert!(seen.first_use("b", 1300, 1100));
        seen.forget("b");
        assert!(seen.first_use("b", 1300, 1100), "forgotten");
        assert!(
            seen.first_use("a", 1700, 1400),
            "expired from memory; the window refuses it anyway"
        );
    }
}
