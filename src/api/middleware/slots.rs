//! [`Slots`]: at most so many of something open at once per key (a user's event streams),
//! each held by a [`Slot`] that gives itself back when dropped.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// Open slots per key, at most `max` each.
#[derive(Debug)]
pub struct Slots<K: Eq + Hash + Clone> {
    max: u32,
    /// A std lock: held for one map operation, never across an `.await`.
    open: Arc<Mutex<HashMap<K, u32>>>,
}

/// One open slot of `key`; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot<K: Eq + Hash + Clone> {
    key: K,
    open: Arc<Mutex<HashMap<K, u32>>>,
}

impl<K: Eq + Hash + Clone> Slots<K> {
    pub fn new(max: u32) -> Slots<K> {
        Slots {
            max,
            open: Arc::default(),
        }
    }

    /// A slot for `key`, or `None` when `max` are open already.
    pub fn take(&self, key: K) -> Option<Slot<K>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key.clone()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Slot {
            key,
            open: self.open.clone(),
        })
    }

    /// Slots of `key` open now.
    pub fn open(&self, key: &K) -> u32 {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(key).copied().unwrap_or(0)
    }
}

impl<K: Eq + Hash + Clone> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_per_key_and_dropping_frees() {
        let s = Slots::new(2);
        let a1 = s.take("a").unwrap();
        let _a2 = s.take("a").unwrap();
        assert!(s.take("a").is_none());
        let _b = s.take("b").expect("keys are independent");
        drop(a1);
        assert_eq!(s.open(&"a"), 1);
        let _a3 = s.take("a").unwrap();
        assert!(s.take("a").is_none());
        drop(_a3);
        drop(_a2);
        assert_eq!(s.open(&"a"), 0);
        assert!(
            s.open.lock().unwrap().get("a").is_none(),
            "no empty entries kept"
        );
    }
}
