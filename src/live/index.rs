//! [`LiveIndex`]: the R-tree and the per-vehicle map over the same positions, in one type.
//!
//! Every mutation goes through this type and touches both structures, so they cannot drift
//! apart (tile38 `collection.go` keeps its items and spatial index the same way). A mutation
//! returns the previous value so callers (metrics, write-through) see what changed.
//!
//! # Loose boxes
//! A vehicle is not indexed as a point but as a small cube ([`LOOSE_M`] each way) around the
//! place where it was last indexed, its *anchor*. A reading that stays inside the cube only
//! rewrites the vehicle's record: no R-tree work at all. Moving vehicles report every second or
//! so and move a few metres, so most updates take this path; only leaving the cube costs a
//! removal and a reinsertion (a "lazy update" R-tree, after Kwon, Lee and Lee, *Indexing the
//! current positions of moving objects using the lazy update R-tree*, MDM 2002). Queries stay
//! exact: a cube's distance is a lower bound of its vehicle's distance, and
//! [`LiveIndex::nearest`] ranks by exact haversine of the recorded position.
//!
//! # Memory
//! About 180 bytes per vehicle (issue 5 asks for at most 200; `benches/live_index.rs` reports
//! it). Strings stay out of the tree: a leaf is a `TreeBox` (an `f32` cube and a `u32` slot
//! number, 48 bytes inline in an rstar node). The chunked slot table ([`super::slots`]) holds
//! each vehicle's `Record`, 56 bytes with the only copy of its id (a `Box<str>`). The id →
//! slot map stores nothing but slot numbers (4 bytes and a control byte per bucket, against 25
//! for a map keyed by the id string): it hashes and compares through the record's id.

use std::hash::{BuildHasher, RandomState};
use std::ops::Range;

use hashbrown::HashTable;
use rstar::RTree;

use super::slots::Slots;
use super::{check_lat_lon, valid_vehicle_id, LiveError};
use crate::ingest::reading::GpsReading;

mod dispatchable;
mod entry;
pub(crate) use dispatchable::Dispatchable;
pub use entry::LOOSE_M;
pub(crate) use entry::{tree_xyz, Record, TreeBox, CHORD_SLACK};

/// A vehicle's position as the index stores and returns it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// WGS84 degrees.
    pub lat: f64,
    /// WGS84 degrees.
    pub lon: f64,
    /// Microseconds since the Unix epoch, UTC: the reading's time, not the arrival time.
    pub ts: i64,
    pub speed_kmh: Option<f32>,
    pub heading_deg: Option<f32>,
}

impl From<&GpsReading> for Position {
    fn from(r: &GpsReading) -> Self {
        Position {
            lat: r.lat,
            lon: r.lon,
            ts: r.ts,
            speed_kmh: r.speed_kmh,
            heading_deg: r.heading_deg,
        }
    }
}

/// What [`LiveIndex::upsert`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Upsert {
    /// The vehicle's first position.
    Inserted,
    /// A strictly newer reading replaced this previous position.
    Replaced(Position),
    /// The reading was not newer than the stored position (a replay or an out-of-order
    /// reading), which is kept unchanged and returned here.
    Ignored(Position),
}

impl Upsert {
    /// Whether the index now holds the new reading.
    pub fn applied(&self) -> bool {
        !matches!(self, Upsert::Ignored(_))
    }
}

/// Counts from a batch of upserts or a load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub inserted: usize,
    pub replaced: usize,
    /// Not newer than the stored position.
    pub ignored: usize,
    /// Refused: bad vehicle id or position ([`LiveError`]).
    pub rejected: usize,
}

impl BatchOutcome {
    pub(crate) fn count(&mut self, r: &Result<Upsert, LiveError>) {
        match r {
            Ok(Upsert::Inserted) => self.inserted += 1,
            Ok(Upsert::Replaced(_)) => self.replaced += 1,
            Ok(Upsert::Ignored(_)) => self.ignored += 1,
            Err(_) => self.rejected += 1,
        }
    }
}

/// Every live vehicle's latest position, indexed by id and by place.
///
/// Single-threaded; share it through [`super::SharedLiveIndex`].
#[derive(Debug, Default)]
pub struct LiveIndex {
    pub(crate) tree: RTree<TreeBox>,
    /// Slot numbers, hashed by their record's id. SipHash with a random key, as
    /// `std::collections::HashMap` uses: ids come from MQTT topics, so chosen collisions must
    /// not turn lookups linear.
    ids: HashTable<u32>,
    hasher: RandomState,
    pub(crate) slots: Slots<Record>,
    /// The vehicles that could be offered a job, in a tree of their own (see
    /// [`dispatchable`]); kept in step by every mutation here.
    pub(crate) dispatch: Dispatchable,
}

impl LiveIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds the index at start-up from, e.g., the latest stored reading per vehicle.
    ///
    /// Duplicates keep the newest `ts` (as [`upsert`](Self::upsert) would); invalid entries are
    /// skipped and counted. The R-tree is bulk-loaded, which is several times faster than
    /// inserting one by one and packs its nodes fuller. No vehicle is dispatchable yet: the
    /// roster marks them once loaded ([`set_dispatchable`](Self::set_dispatchable)).
    pub fn load<I, S>(items: I) -> (Self, BatchOutcome)
    where
        I: IntoIterator<Item = (S, Position)>,
        S: AsRef<str>,
    {
        let items = items.into_iter();
        let mut index = LiveIndex::new();
        let (slots, hasher) = (&index.slots, &index.hasher);
        index
            .ids
            .reserve(items.size_hint().0, |&s| hash_slot(hasher, slots, s));
        let mut outcome = BatchOutcome::default();
        for (id, p) in items {
            let r = index.apply(id.as_ref(), p, false);
            outcome.count(&r);
        }
        let boxes = index
            .slots
            .iter_mut()
            .map(|(slot, r)| {
                r.reanchor();
                r.tree_box(slot)
            })
            .collect();
        index.tree = RTree::bulk_load(boxes);
        let (slots, hasher) = (&index.slots, &index.hasher);
        index.ids.shrink_to_fit(|&s| hash_slot(hasher, slots, s));
        (index, outcome)
    }

    /// Records a reading. Only a strictly newer `ts` replaces the stored position: an older or
    /// equal one is ignored (replays and out-of-order readings are normal).
    pub fn upsert(&mut self, vehicle_id: &str, position: Position) -> Result<Upsert, LiveError> {
        self.apply(vehicle_id, position, true)
    }

    /// [`upsert`](Self::upsert) for a batch, with counts.
    pub fn upsert_many<I, S>(&mut self, items: I) -> BatchOutcome
    where
        I: IntoIterator<Item = (S, Position)>,
        S: AsRef<str>,
    {
        let mut outcome = BatchOutcome::default();
        for (id, p) in items {
            let r = self.upsert(id.as_ref(), p);
            outcome.count(&r);
        }
        outcome
    }

    /// The slot holding `id`, if any.
    fn find(&self, hash: u64, id: &str) -> Option<u32> {
        let slots = &self.slots;
        self.ids
            .find(hash, |&s| slots.get(s).is_some_and(|r| *r.id == *id))
            .copied()
    }

    /// The upsert itself; `with_tree` is false while [`load`](Self::load) defers the tree.
    fn apply(&mut self, id: &str, p: Position, with_tree: bool) -> Result<Upsert, LiveError> {
        check_lat_lon(p.lat, p.lon)?;
        let hash = self.hasher.hash_one(id);
        if let Some(slot) = self.find(hash, id) {
            let record = self
                .slots
                .get_mut(slot)
                .expect("the id map only points at occupied slots");
            let previous = record.position();
            if p.ts <= previous.ts {
                return Ok(Upsert::Ignored(previous));
            }
            let old_box = record.tree_box(slot);
            record.set(p);
            if !with_tree {
                return Ok(Upsert::Replaced(previous));
            }
            let member = self.dispatch.member.get(slot);
            if old_box.contains(&tree_xyz(p.lat, p.lon)) {
                // Still inside its cube: the record is all there is to change, unless a
                // member was unlisted as stale and is back.
                if member {
                    self.dispatch.list(old_box);
                }
                return Ok(Upsert::Replaced(previous));
            }
            record.reanchor();
            let new_box = record.tree_box(slot);
            let removed = self.tree.remove(&old_box);
            debug_assert!(removed.is_some(), "tree entry of slot {slot} missing");
            self.tree.insert(new_box);
            self.dispatch.moved(&old_box, new_box);
            if member {
                self.dispatch.list(new_box);
            }
            return Ok(Upsert::Replaced(previous));
        }
        if !valid_vehicle_id(id) {
            return Err(LiveError::VehicleId);
        }
        let slot = self.slots.insert(Record::new(id.into(), p));
        let member = !self.dispatch.ids.is_empty() && self.dispatch.ids.contains(id);
        self.dispatch.member.set(slot, member);
        if with_tree {
            let entry = self.slots.get(slot).expect("just inserted").tree_box(slot);
            self.tree.insert(entry);
            if member {
                self.dispatch.list(entry);
            }
        }
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.ids
            .insert_unique(hash, slot, |&s| hash_slot(hasher, slots, s));
        Ok(Upsert::Inserted)
    }

    /// Forgets a vehicle (deleted, or gone quiet for good); returns its last position.
    pub fn remove(&mut self, vehicle_id: &str) -> Option<Position> {
        let slot = self.find(self.hasher.hash_one(vehicle_id), vehicle_id)?;
        Some(self.remove_slot(slot))
    }

    /// Removes an occupied slot from the map, the tree and the slot table.
    fn remove_slot(&mut self, slot: u32) -> Position {
        let hash = hash_slot(&self.hasher, &self.slots, slot);
        let entry = self.ids.find_entry(hash, |&s| s == slot);
        entry
            .expect("every occupied slot is in the id map")
            .remove();
        let record = self
            .slots
            .take(slot)
            .expect("the id map only points at occupied slots");
        let entry = record.tree_box(slot);
        let removed = self.tree.remove(&entry);
        debug_assert!(removed.is_some(), "tree entry of slot {slot} missing");
        self.dispatch.forget(&entry);
        record.position()
    }

    /// Forgets every vehicle whose position is older than `cutoff_ts` (µs); returns how many.
    /// Bounds memory when vehicles leave the fleet without being deleted.
    pub fn evict_older_than(&mut self, cutoff_ts: i64) -> usize {
        self.evict_slots_older_than(0..u32::MAX, cutoff_ts)
    }

    /// [`evict_older_than`](Self::evict_older_than) among the vehicles in a range of slots,
    /// so that a sweep can give the lock back between ranges.
    pub(crate) fn evict_slots_older_than(&mut self, slots: Range<u32>, cutoff_ts: i64) -> usize {
        let old: Vec<u32> = self
            .slots
            .range(slots)
            .filter(|(_, r)| r.ts < cutoff_ts)
            .map(|(slot, _)| slot)
            .collect();
        for &slot in &old {
            self.remove_slot(slot);
        }
        old.len()
    }

    /// One past the highest slot number in use: the end of a full sweep's range.
    pub(crate) fn slot_end(&self) -> u32 {
        self.slots.end()
    }

    /// A vehicle's latest position.
    pub fn position(&self, vehicle_id: &str) -> Option<Position> {
        let slot = self.find(self.hasher.hash_one(vehicle_id), vehicle_id)?;
        self.slots.get(slot).map(Record::position)
    }

    /// How many vehicles the index holds.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Every vehicle and its position, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Position)> + '_ {
        self.slots.iter().map(|(_, r)| (&*r.id, r.position()))
    }

    /// Checks that the tree, the map and the slot table describe the same vehicles, each
    /// inside its tree cube, and that the dispatchable tree lists members only, under their
    /// cubes. For tests; O(n log n).
    #[doc(hidden)]
    pub fn check_consistency(&self) -> Result<(), String> {
        if self.tree.size() != self.ids.len() {
            return Err(format!(
                "tree {} != map {}",
                self.tree.size(),
                self.ids.len()
            ));
        }
        let occupied = self.slots.iter().count();
        if occupied != self.ids.len() {
            return Err(format!("slots {occupied} != map {}", self.ids.len()));
        }
        for &slot in &self.ids {
            let r = self
                .slots
                .get(slot)
                .ok_or_else(|| format!("the map points at empty slot {slot}"))?;
            let id = &r.id;
            if self.find(self.hasher.hash_one(&**id), id) != Some(slot) {
                return Err(format!("{id}: the map does not find slot {slot}"));
            }
            let entry = r.tree_box(slot);
            if !self.tree.contains(&entry) {
                return Err(format!("{id}: tree entry missing"));
            }
            if !entry.contains(&tree_xyz(r.lat, r.lon)) {
                return Err(format!("{id}: outside its tree cube"));
            }
        }
        self.check_dispatchable()
    }
}

/// The id map's hash of an occupied slot: its record's id, hashed as the `&str` lookups are.
fn hash_slot(hasher: &RandomState, slots: &Slots<Record>, slot: u32) -> u64 {
    let r = slots
        .get(slot)
        .expect("the id map only points at occupied slots");
    hasher.hash_one(&*r.id)
}

#[cfg(test)]
mod tests;
