//! The dispatchable subset of the live index: a second R-tree holding only the vehicles that
//! could be offered a job, so that a dispatch query spends its candidate budget on them alone.
//!
//! Why a second tree rather than a filter on the first: a nearest query examines candidates
//! in distance order with the read lock held, so it must stop after a budget. Walking the
//! whole fleet, a pickup surrounded by vehicles nobody can dispatch (registered but without a
//! driver, parked, silent for hours but not yet forgotten) exhausts that budget before it
//! reaches the drivers further out, and answers nothing. Over this tree the same budget only
//! meets vehicles with an available driver.
//!
//! Membership is per vehicle, not per query: whoever owns duty status (the dispatch roster)
//! marks a vehicle dispatchable or not, whether or not it has a position yet. A member with a
//! position is *listed* in the tree under the same loose cube as in the main tree, so both
//! trees move together. A sweep ([`crate::live::SharedLiveIndex::unlist_stale`]) unlists
//! members whose position went stale; their next reading lists them again. Per-query checks
//! (vehicle type, excluded drivers, the seat's end) still run at query time.
//!
//! Memory: two bits per slot for every vehicle, plus the ids and tree entries of members only.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::ops::Range;

use rstar::RTree;

use super::entry::TreeBox;
use super::LiveIndex;
use crate::live::valid_vehicle_id;

/// One bit per slot number, grown on demand; bits past the end read as clear.
#[derive(Debug, Default)]
pub(crate) struct Bits(Vec<u64>);

impl Bits {
    pub(crate) fn get(&self, slot: u32) -> bool {
        self.0
            .get((slot / 64) as usize)
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    pub(crate) fn set(&mut self, slot: u32, on: bool) {
        let word = (slot / 64) as usize;
        if word >= self.0.len() {
            if !on {
                return;
            }
            self.0.resize(word + 1, 0);
        }
        if on {
            self.0[word] |= 1 << (slot % 64);
        } else {
            self.0[word] &= !(1 << (slot % 64));
        }
    }

    /// The set bits within `range`, in order.
    pub(crate) fn ones(&self, range: Range<u32>) -> impl Iterator<Item = u32> + '_ {
        let end = range.end.min((self.0.len() * 64) as u32);
        (range.start..end).filter(|&s| self.get(s))
    }

    pub(crate) fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
}

/// The dispatchable vehicles and the tree of those with a position.
#[derive(Debug, Default)]
pub(crate) struct Dispatchable {
    /// Every vehicle marked dispatchable, with or without a position. SipHash with a random
    /// key, like the main id map: ids come from MQTT topics.
    pub(super) ids: HashSet<Box<str>, RandomState>,
    /// Slots whose vehicle is in `ids`: checked on every upsert without hashing the id.
    pub(super) member: Bits,
    /// Slots in `tree`: members whose position was not found stale since it last changed.
    pub(super) listed: Bits,
    pub(crate) tree: RTree<TreeBox>,
}

impl Dispatchable {
    /// Lists a slot under `entry` (a no-op if listed already).
    pub(super) fn list(&mut self, entry: TreeBox) {
        if !self.listed.get(entry.slot) {
            self.listed.set(entry.slot, true);
            self.tree.insert(entry);
        }
    }

    /// Unlists a slot whose entry is `entry` (a no-op if not listed).
    pub(super) fn unlist(&mut self, entry: &TreeBox) {
        if self.listed.get(entry.slot) {
            self.listed.set(entry.slot, false);
            let removed = self.tree.remove(entry);
            debug_assert!(
                removed.is_some(),
                "dispatch entry of slot {} missing",
                entry.slot
            );
        }
    }

    /// A listed slot's cube moved from `old` to `new`.
    pub(super) fn moved(&mut self, old: &TreeBox, new: TreeBox) {
        if self.listed.get(old.slot) {
            let removed = self.tree.remove(old);
            debug_assert!(
                removed.is_some(),
                "dispatch entry of slot {} missing",
                old.slot
            );
            self.tree.insert(new);
        }
    }

    /// A slot is emptied: it is neither a member nor listed any more.
    pub(super) fn forget(&mut self, entry: &TreeBox) {
        self.unlist(entry);
        self.member.set(entry.slot, false);
    }
}

impl LiveIndex {
    /// Marks a vehicle dispatchable (it has a driver who can take work) or not, whether or
    /// not it has a position yet. A dispatchable vehicle with a position is listed in the
    /// dispatchable tree at once; it is unlisted if not. Invalid ids are ignored (no vehicle
    /// can have one).
    pub fn set_dispatchable(&mut self, vehicle_id: &str, dispatchable: bool) {
        if !valid_vehicle_id(vehicle_id) {
            return;
        }
        let slot = self.find(self.hasher.hash_one(vehicle_id), vehicle_id);
        let entry = slot.map(|slot| {
            self.slots
                .get(slot)
                .expect("the id map only points at occupied slots")
                .tree_box(slot)
        });
        if dispatchable {
            if !self.dispatch.ids.contains(vehicle_id) {
                self.dispatch.ids.insert(vehicle_id.into());
            }
            if let Some(entry) = entry {
                self.dispatch.member.set(entry.slot, true);
                self.dispatch.list(entry);
            }
        } else {
            self.dispatch.ids.remove(vehicle_id);
            if let Some(entry) = entry {
                self.dispatch.forget(&entry);
            }
        }
    }

    /// Whether a vehicle is marked dispatchable.
    pub fn is_dispatchable(&self, vehicle_id: &str) -> bool {
        self.dispatch.ids.contains(vehicle_id)
    }

    /// Vehicles in the dispatchable tree: marked dispatchable, with a position not found
    /// stale since it last changed.
    pub fn dispatchable_listed(&self) -> usize {
        self.dispatch.tree.size()
    }

    /// Unlists from the dispatchable tree every vehicle whose position is older than
    /// `cutoff_ts` (µs); returns how many. They stay dispatchable: their next reading lists
    /// them again. O(n / 64) for n vehicles, plus the members.
    pub fn unlist_stale_older_than(&mut self, cutoff_ts: i64) -> usize {
        self.unlist_stale_slots(0..u32::MAX, cutoff_ts)
    }

    /// [`unlist_stale_older_than`](Self::unlist_stale_older_than) among a range of slots,
    /// so that a sweep can give the lock back between ranges.
    pub(crate) fn unlist_stale_slots(&mut self, slots: Range<u32>, cutoff_ts: i64) -> usize {
        let stale: Vec<TreeBox> = self
            .dispatch
            .listed
            .ones(slots)
            .filter_map(|slot| {
                let r = self
                    .slots
                    .get(slot)
                    .expect("only occupied slots are listed");
                (r.ts < cutoff_ts).then(|| r.tree_box(slot))
            })
            .collect();
        for entry in &stale {
            self.dispatch.unlist(entry);
        }
        stale.len()
    }

    /// The dispatchable part of [`check_consistency`](Self::check_consistency).
    pub(super) fn check_dispatchable(&self) -> Result<(), String> {
        let d = &self.dispatch;
        let mut members = 0;
        for (slot, r) in self.slots.iter() {
            let id = &r.id;
            let member = d.ids.contains(id);
            if d.member.get(slot) != member {
                return Err(format!("{id}: member bit {} != {member}", !member));
            }
            members += usize::from(member);
            if d.listed.get(slot) {
                if !member {
                    return Err(format!("{id}: listed but not dispatchable"));
                }
                if !d.tree.contains(&r.tree_box(slot)) {
                    return Err(format!("{id}: dispatchable tree entry missing"));
                }
            }
        }
        if d.member.count() != members {
            return Err(format!(
                "{} member bits for {members} members",
                d.member.count()
            ));
        }
        if d.listed.count() != d.tree.size() {
            return Err(format!(
                "{} listed bits, {} dispatchable tree entries",
                d.listed.count(),
                d.tree.size()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{Everyone, LiveError, NearestQuery, Position};
    use std::time::Duration;

    const NOW: i64 = 1_700_000_000_000_000;

    fn at(lat: f64, lon: f64, ts: i64) -> Position {
        Position {
            lat,
            lon,
            ts,
            speed_kmh: None,
            heading_deg: None,
        }
    }

    fn listed(ix: &LiveIndex) -> Vec<&str> {
        let mut ids: Vec<&str> = ix
            .dispatch
            .tree
            .iter()
            .map(|e| &*ix.slots.get(e.slot).unwrap().id)
            .collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn membership_follows_marks_moves_and_removals() {
        let mut ix = LiveIndex::new();
        ix.set_dispatchable("a", true);
        ix.set_dispatchable("bad id", true);
        assert!(ix.is_dispatchable("a") && !ix.is_dispatchable("bad id"));
        assert!(listed(&ix).is_empty(), "no position yet");
        ix.upsert("a", at(1.0, 1.0, 1)).unwrap();
        ix.upsert("b", at(1.0, 1.0, 1)).unwrap();
        assert_eq!(listed(&ix), ["a"]);
        ix.check_consistency().unwrap();
        // Out of its cube: both trees move it.
        ix.upsert("a", at(2.0, 2.0, 2)).unwrap();
        ix.check_consistency().unwrap();
        ix.set_dispatchable("b", true);
        ix.set_dispatchable("a", false);
        assert_eq!(listed(&ix), ["b"]);
        ix.check_consistency().unwrap();
        // Forgotten and back: still dispatchable.
        ix.remove("b");
        assert!(listed(&ix).is_empty() && ix.is_dispatchable("b"));
        ix.check_consistency().unwrap();
        ix.upsert("b", at(3.0, 3.0, 3)).unwrap();
        assert_eq!(listed(&ix), ["b"]);
        assert_eq!(ix.evict_older_than(4), 2);
        assert!(listed(&ix).is_empty());
        ix.check_consistency().unwrap();
        ix.set_dispatchable("b", false);
        assert!(ix.dispatch.ids.is_empty());
    }

    #[test]
    fn stale_members_are_unlisted_until_their_next_reading() {
        let mut ix = LiveIndex::new();
        for (id, ts) in [("old", 10), ("new", 20), ("other", 5)] {
            ix.set_dispatchable(id, id != "other");
            ix.upsert(id, at(1.0, 1.0, ts)).unwrap();
        }
        assert_eq!(
            ix.unlist_stale_slots(0..u32::MAX, 10),
            0,
            "the cutoff is exclusive"
        );
        assert_eq!(ix.unlist_stale_slots(0..u32::MAX, 15), 1);
        assert_eq!(listed(&ix), ["new"]);
        assert_eq!(ix.len(), 3, "unlisted, not forgotten");
        ix.check_consistency().unwrap();
        // A reading in its cube lists it again, as does one that leaves the cube.
        ix.upsert("old", at(1.0, 1.0, 30)).unwrap();
        assert_eq!(listed(&ix), ["new", "old"]);
        assert_eq!(ix.unlist_stale_slots(0..u32::MAX, 40), 2);
        ix.upsert("new", at(5.0, 5.0, 50)).unwrap();
        assert_eq!(listed(&ix), ["new"]);
        ix.check_consistency().unwrap();
    }

    fn query(k: usize, max_examined: usize) -> NearestQuery {
        NearestQuery {
            lat: 0.0,
            lon: 0.0,
            k,
            radius_m: 10_000.0,
            now_us: NOW,
            staleness: Duration::from_secs(60),
            max_examined,
        }
    }

    /// Issue 13's finding: vehicles nobody can dispatch around the pickup used up the budget.
    #[test]
    fn the_budget_is_spent_on_dispatchable_vehicles_only() {
        let mut ix = LiveIndex::new();
        for i in 0..100 {
            let lon = 0.000_01 * i as f64;
            ix.upsert(&format!("ghost{i:03}"), at(0.0, lon, NOW))
                .unwrap();
        }
        let stale = NOW - 60_000_001;
        for i in 0..8 {
            let id = format!("stale{i}");
            ix.set_dispatchable(&id, true);
            ix.upsert(&id, at(0.000_01 * i as f64, 0.0, stale)).unwrap();
        }
        ix.set_dispatchable("far", true);
        ix.upsert("far", at(0.0, 0.05, NOW)).unwrap();
        // The roster's check: a seated driver (the ghosts have none).
        let seated = |id: &str, _: &Position| (!id.starts_with("ghost")).then_some(());
        let q = query(1, 10);
        let all = ix.nearest(&q, &seated).unwrap();
        assert_eq!((all.hits.len(), all.truncated), (0, true), "the finding");
        let found = ix.nearest_dispatchable(&q, &seated).unwrap();
        assert_eq!(found.hits[0].vehicle_id, "far");
        assert_eq!(
            (found.examined, found.skipped_stale, found.truncated),
            (1, 8, false)
        );
        // More stale members than the budget: passed over up to the budget, then cut short.
        for i in 8..30 {
            let id = format!("stale{i}");
            ix.set_dispatchable(&id, true);
            ix.upsert(&id, at(0.000_01 * i as f64, 0.0, stale)).unwrap();
        }
        let capped = ix.nearest_dispatchable(&q, &Everyone).unwrap();
        assert_eq!(
            (capped.hits.len(), capped.skipped_stale, capped.truncated),
            (0, 10, true)
        );
        // Which the sweep prevents.
        assert_eq!(ix.unlist_stale_slots(0..u32::MAX, NOW - 60_000_000), 30);
        let swept = ix.nearest_dispatchable(&q, &Everyone).unwrap();
        assert_eq!(
            (swept.hits.len(), swept.examined, swept.skipped_stale),
            (1, 1, 0)
        );
    }

    #[test]
    fn per_query_rejections_still_count() {
        let mut ix = LiveIndex::new();
        for i in 0..20 {
            let id = format!("van{i:02}");
            ix.set_dispatchable(&id, true);
            ix.upsert(&id, at(0.0, 0.000_01 * i as f64, NOW)).unwrap();
        }
        ix.set_dispatchable("car", true);
        ix.upsert("car", at(0.0, 0.05, NOW)).unwrap();
        let cars = |id: &str, _: &Position| (id == "car").then_some(());
        let cut = ix.nearest_dispatchable(&query(1, 10), &cars).unwrap();
        assert_eq!((cut.hits.len(), cut.examined, cut.truncated), (0, 10, true));
        let all = ix.nearest_dispatchable(&query(1, 21), &cars).unwrap();
        assert_eq!(
            (all.hits.len(), all.examined, all.truncated),
            (1, 21, false)
        );
        // Bad input is refused as by the whole-index search.
        for (bad, e) in [
            (
                NearestQuery {
                    k: 0,
                    ..query(1, 10)
                },
                LiveError::K { got: 0 },
            ),
            (
                NearestQuery {
                    lat: 91.0,
                    ..query(1, 10)
                },
                LiveError::Latitude(91.0),
            ),
        ] {
            assert_eq!(ix.nearest_dispatchable(&bad, &cars), Err(e.clone()));
            assert_eq!(ix.nearest(&bad, &cars).map(|_| ()), Err(e));
        }
    }

    #[test]
    fn bits_grow_on_demand_and_read_clear_past_the_end() {
        let mut b = Bits::default();
        assert!(!b.get(1_000));
        b.set(1_000, false);
        assert!(b.0.is_empty(), "clearing allocates nothing");
        for s in [0, 63, 64, 1_000] {
            b.set(s, true);
        }
        assert!(b.get(63) && b.get(64) && !b.get(65));
        assert_eq!(b.ones(0..u32::MAX).collect::<Vec<_>>(), [0, 63, 64, 1_000]);
        assert_eq!(b.ones(1..1_000).collect::<Vec<_>>(), [63, 64]);
        b.set(63, false);
        assert_eq!(b.count(), 3);
    }
}
