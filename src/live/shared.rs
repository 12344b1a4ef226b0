//! [`SharedLiveIndex`]: one [`LiveIndex`] shared by the ingestion pipeline and HTTP readers.
//!
//! A `std::sync::RwLock` is enough: every critical section is a short in-memory operation
//! (an upsert is about a microsecond, a nearest query tens of microseconds, and never more
//! than its `max_examined` candidates: about 3 ms at dispatch's default of 20,000; a dispatch
//! query may also pass over as many stale vehicles, so at most twice that) and never
//! spans an `.await`, so holding it from async code cannot stall the runtime for long. Writers take the lock
//! once per chunk of [`WRITE_CHUNK`] readings rather than once per reading, and give it back
//! between chunks so a large batch cannot keep readers waiting for long. On Linux the std lock
//! prefers waiting writers over new readers, so a stream of queries cannot starve ingestion.

use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{
    BatchOutcome, Eligibility, LiveError, LiveIndex, Nearest, NearestQuery, Position, Upsert,
};

/// Readings applied per write-lock acquisition: at ~1 µs each, readers wait well under 1 ms.
pub const WRITE_CHUNK: usize = 256;

/// Slots swept per write-lock acquisition by [`SharedLiveIndex::evict_older_than`]: scanning
/// 256 records takes a couple of microseconds, evicting all of them (a tree removal each,
/// ~2 µs at a million vehicles) about half a millisecond.
pub const EVICT_CHUNK: u32 = 256;

/// A cheaply cloneable handle to the one live index.
#[derive(Debug, Clone, Default)]
pub struct SharedLiveIndex {
    inner: Arc<RwLock<LiveIndex>>,
}

impl SharedLiveIndex {
    pub fn new(index: LiveIndex) -> Self {
        SharedLiveIndex {
            inner: Arc::new(RwLock::new(index)),
        }
    }

    // A panic inside a critical section can only come from a bug already reported by its own
    // panic; refusing every later reader and writer would turn it into an outage, so poisoning
    // is ignored. The index's own methods keep the tree and the map in step before they can
    // panic (the `expect`s guard invariants, not inputs).
    fn read_guard(&self) -> RwLockReadGuard<'_, LiveIndex> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_guard(&self) -> RwLockWriteGuard<'_, LiveIndex> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// See [`LiveIndex::upsert`].
    pub fn upsert(&self, vehicle_id: &str, position: Position) -> Result<Upsert, LiveError> {
        self.write_guard().upsert(vehicle_id, position)
    }

    /// Applies a batch, taking the write lock once per [`WRITE_CHUNK`] readings. The iterator
    /// is advanced with the lock held: pass something cheap (a `Vec`, a slice's iterator).
    pub fn upsert_many<I, S>(&self, items: I) -> BatchOutcome
    where
        I: IntoIterator<Item = (S, Position)>,
        S: AsRef<str>,
    {
        let mut items = items.into_iter().peekable();
        let mut outcome = BatchOutcome::default();
        while items.peek().is_some() {
            let mut index = self.write_guard();
            for (id, p) in items.by_ref().take(WRITE_CHUNK) {
                outcome.count(&index.upsert(id.as_ref(), p));
            }
        }
        outcome
    }

    /// [`upsert_many`](Self::upsert_many) that also calls `applied` (with the lock held:
    /// keep it cheap) for each reading that became its vehicle's position.
    pub fn upsert_many_applied<'a, I>(
        &self,
        items: I,
        mut applied: impl FnMut(&'a str, Position),
    ) -> BatchOutcome
    where
        I: IntoIterator<Item = (&'a str, Position)>,
    {
        let mut items = items.into_iter().peekable();
        let mut outcome = BatchOutcome::default();
        while items.peek().is_some() {
            let mut index = self.write_guard();
            for (id, p) in items.by_ref().take(WRITE_CHUNK) {
                let r = index.upsert(id, p);
                if matches!(r, Ok(ref u) if u.applied()) {
                    applied(id, p);
                }
                outcome.count(&r);
            }
        }
        outcome
    }

    /// See [`LiveIndex::nearest`]. `filter` runs with the read lock held, once per candidate
    /// at most, and `q.max_examined` bounds the candidates: that bounds how long writers wait.
    pub fn nearest<E>(&self, q: &NearestQuery, filter: &E) -> Result<Nearest<E::Tag>, LiveError>
    where
        E: Eligibility + ?Sized,
    {
        self.read_guard().nearest(q, filter)
    }

    /// See [`LiveIndex::nearest_dispatchable`]: as [`nearest`](Self::nearest), and the read
    /// lock is held for at most `q.max_examined` fresh candidates plus as many stale ones.
    pub fn nearest_dispatchable<E>(
        &self,
        q: &NearestQuery,
        filter: &E,
    ) -> Result<Nearest<E::Tag>, LiveError>
    where
        E: Eligibility + ?Sized,
    {
        self.read_guard().nearest_dispatchable(q, filter)
    }

    /// [`LiveIndex::set_dispatchable`] for each change, in order, taking the write lock once
    /// per [`WRITE_CHUNK`] changes.
    pub fn set_dispatchable_many<S: AsRef<str>>(&self, changes: &[(S, bool)]) {
        for chunk in changes.chunks(WRITE_CHUNK) {
            let mut index = self.write_guard();
            for (id, on) in chunk {
                index.set_dispatchable(id.as_ref(), *on);
            }
        }
    }

    /// Unlists from the dispatchable tree the vehicles whose position is older than
    /// `cutoff_ts` (µs), sweeping [`EVICT_CHUNK`] slots per write-lock acquisition; returns
    /// how many. O(n / 64) for n vehicles plus O(members), so cheap enough to run every few
    /// seconds, but off the async workers at large fleets.
    pub fn unlist_stale(&self, cutoff_ts: i64) -> usize {
        let mut unlisted = 0;
        let mut start = 0u32;
        loop {
            let mut index = self.write_guard();
            if start >= index.slot_end() {
                return unlisted;
            }
            let end = start.saturating_add(EVICT_CHUNK);
            unlisted += index.unlist_stale_slots(start..end, cutoff_ts);
            start = end;
        }
    }

    /// See [`LiveIndex::position`].
    pub fn position(&self, vehicle_id: &str) -> Option<Position> {
        self.read_guard().position(vehicle_id)
    }

    /// See [`LiveIndex::remove`].
    pub fn remove(&self, vehicle_id: &str) -> Option<Position> {
        self.write_guard().remove(vehicle_id)
    }

    /// See [`LiveIndex::evict_older_than`]. Sweeps [`EVICT_CHUNK`] slots per write-lock
    /// acquisition, so writers and readers wait tens of microseconds at a time rather than
    /// for a whole pass; still O(n) in all, so run it rarely and off the async workers
    /// (`spawn_blocking`). A vehicle that reports during the sweep is judged by its newest
    /// position.
    pub fn evict_older_than(&self, cutoff_ts: i64) -> usize {
        let mut evicted = 0;
        let mut start = 0u32;
        loop {
            let mut index = self.write_guard();
            if start >= index.slot_end() {
                return evicted;
            }
            let end = start.saturating_add(EVICT_CHUNK);
            evicted += index.evict_slots_older_than(start..end, cutoff_ts);
            start = end;
        }
    }

    pub fn len(&self) -> usize {
        self.read_guard().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read_guard().is_empty()
    }

    /// Runs `f` with the read lock held, for anything the methods above do not cover.
    /// `f` must be short and must not block.
    pub fn read<R>(&self, f: impl FnOnce(&LiveIndex) -> R) -> R {
        f(&self.read_guard())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::Everyone;
    use std::time::Duration;

    #[test]
    fn batches_larger_than_a_chunk_and_concurrent_readers() {
        let shared = SharedLiveIndex::default();
        let batch: Vec<(String, Position)> = (0..1000)
            .map(|i| {
                let p = Position {
                    lat: (i % 90) as f64,
                    lon: (i % 360) as f64 - 180.0,
                    ts: 1,
                    speed_kmh: None,
                    heading_deg: None,
                };
                (format!("v{i}"), p)
            })
            .collect();
        let reader = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                let q = NearestQuery {
                    lat: 0.0,
                    lon: 0.0,
                    k: 5,
                    radius_m: 1e6,
                    now_us: 2,
                    staleness: Duration::from_secs(60),
                    max_examined: usize::MAX,
                };
                for _ in 0..100 {
                    let hits = shared.nearest(&q, &Everyone).unwrap().hits;
                    assert!(hits.len() <= 5);
                }
            })
        };
        let outcome = shared.upsert_many(batch.iter().map(|(id, p)| (id.as_str(), *p)));
        reader.join().unwrap();
        assert_eq!(outcome.inserted, 1000);
        assert_eq!(shared.len(), 1000);
        let again = shared.upsert_many(batch);
        assert_eq!(again.ignored, 1000);
        shared.read(|ix| ix.check_consistency()).unwrap();
        assert!(shared.position("v7").is_some());
        assert!(shared.remove("v7").is_some());
        assert_eq!(shared.evict_older_than(2), 999);
        assert!(shared.is_empty());
    }

    #[test]
    fn eviction_sweeps_in_chunks_and_spares_fresh_vehicles() {
        let shared = SharedLiveIndex::default();
        let n = EVICT_CHUNK as usize * 3 + 17;
        let batch = (0..n).map(|i| {
            let p = Position {
                lat: (i % 180) as f64 - 89.5,
                lon: (i % 360) as f64 - 179.5,
                ts: if i % 2 == 0 { 10 } else { 20 },
                speed_kmh: None,
                heading_deg: None,
            };
            (format!("v{i}"), p)
        });
        assert_eq!(shared.upsert_many(batch).inserted, n);
        assert_eq!(shared.evict_older_than(15), n.div_ceil(2));
        assert_eq!(shared.len(), n / 2);
        assert!(shared.position("v0").is_none() && shared.position("v1").is_some());
        shared.read(|ix| ix.check_consistency()).unwrap();
    }

    #[test]
    fn dispatchable_marks_and_stale_sweeps_span_chunks() {
        let shared = SharedLiveIndex::default();
        let n = EVICT_CHUNK as usize * 2 + 3;
        let batch = (0..n).map(|i| {
            let p = Position {
                lat: (i % 180) as f64 - 89.5,
                lon: (i % 360) as f64 - 179.5,
                ts: if i % 2 == 0 { 10 } else { 20 },
                speed_kmh: None,
                heading_deg: None,
            };
            (format!("v{i}"), p)
        });
        shared.upsert_many(batch);
        let marks: Vec<(String, bool)> = (0..n).map(|i| (format!("v{i}"), i != 0)).collect();
        shared.set_dispatchable_many(&marks);
        assert_eq!(shared.read(LiveIndex::dispatchable_listed), n - 1);
        assert_eq!(shared.unlist_stale(15), n.div_ceil(2) - 1);
        assert_eq!(shared.read(LiveIndex::dispatchable_listed), n / 2);
        assert_eq!(shared.len(), n, "unlisted, not forgotten");
        shared.read(|ix| ix.check_consistency()).unwrap();
    }
}
