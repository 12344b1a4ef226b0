//! `ingest.unknown_vehicles = "reject"`: readings of a vehicle that is not registered (no
//! row in `vehicles`, or a deleted one) are recorded as rejects (`unknown_vehicle`) and never
//! reach the live index.
//!
//! The writers decide, inside the transaction that stores the batch: ids the cache does not
//! know are looked up in PostgreSQL there, so a vehicle registered a moment before its first
//! reading is committed is accepted. The cache ([`KnownVehicles`]) holds registered ids only,
//! and only while [`listen`] receives `fleetd_vehicles` notifications (sent when a vehicle is
//! deleted); each (re)connection starts it empty, so a deletion is never missed for longer
//! than the notification takes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::decoders::Encoded;
use super::reading::RejectReason;
use super::reject_budget::RejectBudget;

/// The channel vehicle deletions are notified on (payload: the vehicle id).
pub const CHANNEL: &str = "fleetd_vehicles";
/// Registered ids among `$1`.
const REGISTERED: &str = "SELECT id FROM vehicles WHERE id = ANY($1) AND deleted_at IS NULL";
/// Cached ids at most; beyond it the cache starts over (bounds memory, costs lookups).
const MAX_CACHED: usize = 2_000_000;

/// Registered vehicle ids, cached while [`listen`] is connected.
#[derive(Debug, Default)]
pub struct KnownVehicles {
    /// A std lock: held for one set operation, never across an `.await`.
    ids: Mutex<HashSet<Box<str>>>,
    /// Bumped by every invalidation: a lookup that started before one is not cached.
    epoch: AtomicU64,
    listening: AtomicBool,
}

impl KnownVehicles {
    pub fn new() -> Arc<KnownVehicles> {
        Arc::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<Box<str>>> {
        self.ids.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The ids of `group`'s messages with readings that the cache does not know, and the
    /// epoch to cache the answer under.
    fn unknown(&self, group: &[Encoded]) -> (Vec<String>, u64) {
        let epoch = self.epoch.load(Ordering::Acquire);
        let ids = self.lock();
        let mut out: Vec<String> = group
            .iter()
            .filter(|m| m.gps_rows + m.obd_rows > 0)
            .filter_map(|m| m.vehicle_id.as_deref())
            .filter(|id| !ids.contains(*id))
            .map(str::to_string)
            .collect();
        out.sort_unstable();
        out.dedup();
        (out, epoch)
    }

    /// Caches `registered`, unless an invalidation happened since `epoch` or nothing is
    /// being listened to.
    fn remember(&self, registered: &[String], epoch: u64) {
        if !self.listening.load(Ordering::Acquire) {
            return;
        }
        let mut ids = self.lock();
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if ids.len() + registered.len() > MAX_CACHED {
            ids.clear();
        }
        ids.extend(registered.iter().map(|s| s.as_str().into()));
    }

    fn forget(&self, id: &str) {
        let mut ids = self.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        ids.remove(id);
    }

    /// Empties the cache; `listening` says whether notifications now arrive.
    fn reset(&self, listening: bool) {
        let mut ids = self.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.listening.store(listening, Ordering::Release);
        ids.clear();
    }

    /// Inside the batch's transaction: turns every message of an unregistered vehicle into
    /// one `unknown_vehicle` reject row. Returns how many messages it rejected.
    pub async fn screen(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        group: &mut [Encoded],
        budget: Option<&RejectBudget>,
    ) -> Result<usize, tokio_postgres::Error> {
        let (unknown, epoch) = self.unknown(group);
        if unknown.is_empty() {
            return Ok(0);
        }
        let stmt = tx.prepare_cached(REGISTERED).await?;
        let registered: Vec<String> = tx
            .query(&stmt, &[&unknown])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        self.remember(&registered, epoch);
        let registered: HashSet<&str> = registered.iter().map(String::as_str).collect();
        let mut rejected = 0;
        for m in group.iter_mut() {
            let Some(id) = m.vehicle_id.as_deref() else {
                continue;
            };
            if m.gps_rows + m.obd_rows > 0
                && unknown.binary_search_by(|u| u.as_str().cmp(id)).is_ok()
                && !registered.contains(id)
            {
                m.reject_whole(
                    RejectReason::UnknownVehicle,
                    "no registered vehicle has this id",
                );
                if let Some(b) = budget {
                    m.spend_reject_budget(b, std::time::Instant::now());
                }
                rejected += 1;
            }
        }
        Ok(rejected)
    }
}

/// Keeps `known` exact: forgets a vehicle when PostgreSQL says it was deleted, and caches
/// nothing while disconnected.
pub async fn listen(
    known: Arc<KnownVehicles>,
    pg: crate::db::PgTarget,
    shutdown: CancellationToken,
) {
    crate::db::invalidate_on_notify(
        "vehicles listener",
        CHANNEL,
        pg,
        shutdown,
        |listening| known.reset(listening),
        |id| known.forget(&id),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(k: &KnownVehicles, id: &str) -> bool {
        k.lock().contains(id)
    }

    #[test]
    fn nothing_is_cached_unless_listening() {
        let k = KnownVehicles::default();
        k.remember(&["a".into()], k.epoch.load(Ordering::Acquire));
        assert!(!cached(&k, "a"));
        k.reset(true);
        k.remember(&["a".into()], k.epoch.load(Ordering::Acquire));
        assert!(cached(&k, "a"));
        k.reset(false);
        assert!(!cached(&k, "a"));
    }

    #[test]
    fn a_lookup_that_raced_with_a_deletion_is_not_cached() {
        let k = KnownVehicles::default();
        k.reset(true);
        let before = k.epoch.load(Ordering::Acquire);
        // The deletion's notification arrives while the lookup is in flight.
        k.forget("a");
        k.remember(&["a".into()], before);
        assert!(!cached(&k, "a"));
        k.remember(&["a".into()], k.epoch.load(Ordering::Acquire));
        assert!(cached(&k, "a"));
        k.forget("a");
        assert!(!cached(&k, "a"));
    }
}
