//! Nearest vehicles to a point, within a radius, fresh, and eligible for dispatch.
//!
//! The R-tree holds small cubes around unit-sphere points (see [`super::geo`] and
//! [`super::index`]), so its lazy nearest-neighbour iterator yields vehicles in order of a lower
//! bound of their chord distance, and chord order is great-circle order. The iterator keeps
//! going past stale and ineligible vehicles until `k` hits are found or the next lower bound is
//! further than the radius (or than the current k-th hit, once there are `k`).
//!
//! Results are ranked by [`rank_cmp`]: exact haversine distance, then vehicle id (bytewise),
//! so ties are deterministic. Because the tree's order is only a bound (cubes, `f32`), every
//! candidate is re-ranked by haversine of its stored `f64` position, and the search stops only
//! once the bound exceeds the k-th distance by `CHORD_SLACK`, which covers `f32` rounding.
//!
//! # Bounded work
//! A query that almost nothing passes (a huge radius, a large `k`, a filter such as a vehicle
//! type nobody has) would walk the whole index with the read lock held, stalling the writers.
//! So a query examines at most [`NearestQuery::max_examined`] candidates. When it stops there
//! the answer says so ([`Nearest::truncated`]): it holds the nearest eligible vehicles among
//! those examined, which are the nearest by the tree's order, so no vehicle left unexamined is
//! nearer than the last one examined; but a hit further out than that may have an unexamined
//! better neighbour, and fewer than `k` may be found although more exist.
//!
//! Over the whole index ([`LiveIndex::nearest`]) every vehicle in range counts, so vehicles
//! nobody can dispatch (no driver, parked, silent but not yet forgotten) can use up the
//! budget before the drivers behind them are reached: 25,000 of them around a pickup made
//! dispatch answer nothing. Dispatch therefore searches the dispatchable tree
//! ([`LiveIndex::nearest_dispatchable`]), which holds only vehicles with a driver who can
//! take work. There, stale vehicles are passed over without counting; they are a bounded
//! few (a sweep unlists them at the dispatch staleness), and in case they are not, at most
//! another `max_examined` of them are passed over before the search stops as truncated, so
//! the lock is held for at most twice the budget.

use std::cmp::Ordering;
use std::time::Duration;

use rstar::RTree;

use super::index::{tree_xyz, LiveIndex, Position, TreeBox, CHORD_SLACK};
use super::{check_lat_lon, geo, LiveError};

/// The largest `k` a nearest query may ask for.
pub const MAX_K: usize = 1000;

/// A nearest-vehicles query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearestQuery {
    /// WGS84 degrees.
    pub lat: f64,
    /// WGS84 degrees.
    pub lon: f64,
    /// How many hits at most, `1..=1000`.
    pub k: usize,
    /// Inclusive: a vehicle exactly `radius_m` away is offered.
    pub radius_m: f64,
    /// The clock, in microseconds since the Unix epoch.
    pub now_us: i64,
    /// A vehicle whose position is older than this (`now_us - ts > staleness`) is not offered.
    pub staleness: Duration,
    /// Candidates (tree entries within the radius, of any age or eligibility; fresh ones
    /// only in [`LiveIndex::nearest_dispatchable`]) examined at most; see "Bounded work"
    /// above. `usize::MAX` for none.
    pub max_examined: usize,
}

impl NearestQuery {
    /// Checks every field; [`LiveIndex::nearest`] calls it first.
    pub fn validate(&self) -> Result<(), LiveError> {
        check_lat_lon(self.lat, self.lon)?;
        if !(1..=MAX_K).contains(&self.k) {
            return Err(LiveError::K { got: self.k });
        }
        let r = self.radius_m;
        if !(r.is_finite() && r > 0.0 && r <= geo::MAX_RADIUS_M) {
            return Err(LiveError::Radius {
                got: r,
                max: geo::MAX_RADIUS_M,
            });
        }
        Ok(())
    }
}

/// Decides whether a vehicle may be offered, and what to attach to its hit.
///
/// Supplied by whoever knows drivers (duty status, availability, vehicle type, seats, load),
/// so the index knows nothing of them. Called with the index's read lock held, only for fresh
/// vehicles within range that could still make the top `k`: it must be quick and must not
/// block (no I/O, no `.await`, never the index's own lock).
pub trait Eligibility {
    /// Attached to each hit, e.g. the driver id.
    type Tag;

    /// `Some(tag)` if the vehicle may be offered.
    fn check(&self, vehicle_id: &str, position: &Position) -> Option<Self::Tag>;
}

impl<F, T> Eligibility for F
where
    F: Fn(&str, &Position) -> Option<T>,
{
    type Tag = T;

    fn check(&self, vehicle_id: &str, position: &Position) -> Option<T> {
        self(vehicle_id, position)
    }
}

/// Every vehicle is eligible (positions only, no dispatch rules).
#[derive(Debug, Clone, Copy, Default)]
pub struct Everyone;

impl Eligibility for Everyone {
    type Tag = ();

    fn check(&self, _: &str, _: &Position) -> Option<()> {
        Some(())
    }
}

/// One vehicle in a nearest result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<T> {
    /// Owned: the index keeps ids as `Box<str>` (no reference counts, for memory), so a hit
    /// copies its id once, and callers can move it into their answer.
    pub vehicle_id: String,
    /// Exact haversine distance from the query point, metres.
    pub distance_m: f64,
    pub lat: f64,
    pub lon: f64,
    /// Microseconds since the Unix epoch.
    pub ts: i64,
    /// `now_us - ts` in seconds, 0 for a position stamped in the future.
    pub age_s: f64,
    pub speed_kmh: Option<f32>,
    pub heading_deg: Option<f32>,
    /// What [`Eligibility::check`] returned.
    pub tag: T,
}

/// What [`LiveIndex::nearest`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Nearest<T> {
    /// Nearest first, ordered by [`rank_cmp`].
    pub hits: Vec<Hit<T>>,
    /// Candidates examined: counted against [`NearestQuery::max_examined`].
    pub examined: usize,
    /// Stale candidates passed over without counting
    /// ([`nearest_dispatchable`](LiveIndex::nearest_dispatchable) only).
    pub skipped_stale: usize,
    /// The search stopped at [`NearestQuery::max_examined`] with candidates left within
    /// range: `hits` are the best among those examined (see "Bounded work" above).
    pub truncated: bool,
}

impl<T> Default for Nearest<T> {
    /// Nothing found, nothing examined.
    fn default() -> Self {
        Nearest {
            hits: Vec::new(),
            examined: 0,
            skipped_stale: 0,
            truncated: false,
        }
    }
}

/// The result order: distance ascending, then vehicle id ascending (bytewise).
pub fn rank_cmp(a: (f64, &str), b: (f64, &str)) -> Ordering {
    a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1))
}

impl LiveIndex {
    /// The `k` nearest fresh, eligible vehicles within `radius_m` (inclusive), nearest first,
    /// ordered by [`rank_cmp`]; among the first `max_examined` candidates only, and then
    /// flagged [`truncated`](Nearest::truncated). Every vehicle in the index is a candidate,
    /// stale or not.
    pub fn nearest<E>(&self, q: &NearestQuery, filter: &E) -> Result<Nearest<E::Tag>, LiveError>
    where
        E: Eligibility + ?Sized,
    {
        self.search(&self.tree, q, filter, Stale::Counts)
    }

    /// [`nearest`](Self::nearest) among the dispatchable vehicles only (see
    /// [`set_dispatchable`](Self::set_dispatchable)): vehicles nobody marked dispatchable are
    /// not candidates at all, and stale ones do not count against `max_examined`; see
    /// "Bounded work" above. `filter` still runs for each fresh candidate (per-query checks:
    /// vehicle type, excluded drivers), and those it rejects still count.
    pub fn nearest_dispatchable<E>(
        &self,
        q: &NearestQuery,
        filter: &E,
    ) -> Result<Nearest<E::Tag>, LiveError>
    where
        E: Eligibility + ?Sized,
    {
        self.search(&self.dispatch.tree, q, filter, Stale::Skipped)
    }

    /// The search over one of the index's trees.
    fn search<E>(
        &self,
        tree: &RTree<TreeBox>,
        q: &NearestQuery,
        filter: &E,
        stale: Stale,
    ) -> Result<Nearest<E::Tag>, LiveError>
    where
        E: Eligibility + ?Sized,
    {
        q.validate()?;
        let staleness_us = i64::try_from(q.staleness.as_micros()).unwrap_or(i64::MAX);
        let mut bound = geo::chord_for_distance(q.radius_m) + CHORD_SLACK;
        let mut best: Vec<Hit<E::Tag>> = Vec::with_capacity(q.k.min(32));
        let mut found = Nearest::default();
        for (entry, d2) in tree.nearest_neighbor_iter_with_distance_2(tree_xyz(q.lat, q.lon)) {
            if f64::from(d2).sqrt() > bound {
                break;
            }
            let r = self
                .slots
                .get(entry.slot)
                .expect("tree entries only for occupied slots");
            let age_us = q.now_us.saturating_sub(r.ts);
            if age_us > staleness_us && stale == Stale::Skipped {
                if found.skipped_stale == q.max_examined {
                    found.truncated = true;
                    break;
                }
                found.skipped_stale += 1;
                continue;
            }
            if found.examined == q.max_examined {
                found.truncated = true;
                break;
            }
            found.examined += 1;
            if age_us > staleness_us {
                continue;
            }
            let distance_m = geo::haversine_m(q.lat, q.lon, r.lat, r.lon);
            if distance_m > q.radius_m {
                continue;
            }
            if let Some(last) = best.get(q.k - 1) {
                let key = (distance_m, &*r.id);
                if rank_cmp(key, (last.distance_m, &last.vehicle_id)) != Ordering::Less {
                    continue;
                }
            }
            let position = r.position();
            let Some(tag) = filter.check(&r.id, &position) else {
                continue;
            };
            let at = best.partition_point(|h| {
                rank_cmp((h.distance_m, &h.vehicle_id), (distance_m, &r.id)) == Ordering::Less
            });
            best.insert(
                at,
                Hit {
                    vehicle_id: String::from(&*r.id),
                    distance_m,
                    lat: r.lat,
                    lon: r.lon,
                    ts: r.ts,
                    age_s: age_us.max(0) as f64 / 1e6,
                    speed_kmh: position.speed_kmh,
                    heading_deg: position.heading_deg,
                    tag,
                },
            );
            best.truncate(q.k);
            if let Some(last) = best.get(q.k - 1) {
                bound = geo::chord_for_distance(last.distance_m) + CHORD_SLACK;
            }
        }
        found.hits = best;
        Ok(found)
    }
}

/// How a search treats stale vehicles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stale {
    /// Examined like any candidate: the main tree keeps vehicles for a day after they fall
    /// silent, so not counting them would unbound the walk.
    Counts,
    /// Skipped without counting against `max_examined`, up to `max_examined` of them: the
    /// dispatchable tree is swept of stale members, so few are ever met.
    Skipped,
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000_000;

    fn at(lat: f64, lon: f64) -> Position {
        Position {
            lat,
            lon,
            ts: NOW - 1_000_000,
            speed_kmh: None,
            heading_deg: None,
        }
    }

    fn query(lat: f64, lon: f64, k: usize, radius_m: f64) -> NearestQuery {
        NearestQuery {
            lat,
            lon,
            k,
            radius_m,
            now_us: NOW,
            staleness: Duration::from_secs(60),
            max_examined: usize::MAX,
        }
    }

    fn ids<T>(hits: &[Hit<T>]) -> Vec<&str> {
        hits.iter().map(|h| &*h.vehicle_id).collect()
    }

    #[test]
    fn nearest_first_across_the_antimeridian() {
        let mut ix = LiveIndex::new();
        ix.upsert("east", at(0.0, 179.95)).unwrap();
        ix.upsert("west", at(0.0, -179.9)).unwrap();
        ix.upsert("far", at(0.0, 170.0)).unwrap();
        let hits = ix
            .nearest(&query(0.0, -179.99, 10, 50_000.0), &Everyone)
            .unwrap()
            .hits;
        assert_eq!(ids(&hits), ["east", "west"]);
        let d = geo::haversine_m(0.0, -179.99, 0.0, 179.95);
        assert_eq!(hits[0].distance_m, d);
        assert!((d - 6_671.7).abs() < 1.0, "{d}");
    }

    #[test]
    fn over_the_pole() {
        let mut ix = LiveIndex::new();
        ix.upsert("a", at(89.999, 0.0)).unwrap();
        ix.upsert("b", at(89.999, 180.0)).unwrap();
        ix.upsert("c", at(89.99, 90.0)).unwrap();
        let hits = ix
            .nearest(&query(89.9995, 180.0, 2, 1_000.0), &Everyone)
            .unwrap()
            .hits;
        assert_eq!(ids(&hits), ["b", "a"]);
    }

    #[test]
    fn radius_is_inclusive() {
        let mut ix = LiveIndex::new();
        ix.upsert("edge", at(0.0, 0.01)).unwrap();
        let r = geo::haversine_m(0.0, 0.0, 0.0, 0.01);
        let hits = ix.nearest(&query(0.0, 0.0, 1, r), &Everyone).unwrap().hits;
        assert_eq!(ids(&hits), ["edge"]);
        assert_eq!(hits[0].distance_m, r);
        let shorter = f64::from_bits(r.to_bits() - 1);
        assert!(ix
            .nearest(&query(0.0, 0.0, 1, shorter), &Everyone)
            .unwrap()
            .hits
            .is_empty());
    }

    #[test]
    fn skips_stale_and_ineligible_and_keeps_looking() {
        let mut ix = LiveIndex::new();
        let mut stale = at(0.0, 0.001);
        stale.ts = NOW - 60_000_001;
        ix.upsert("stale", stale).unwrap();
        let mut edge = at(0.0, 0.002);
        edge.ts = NOW - 60_000_000;
        ix.upsert("just-fresh", edge).unwrap();
        ix.upsert("off-duty", at(0.0, 0.003)).unwrap();
        ix.upsert("ok", at(0.0, 0.004)).unwrap();
        let mut future = at(0.0, 0.005);
        future.ts = NOW + 5_000_000;
        ix.upsert("future", future).unwrap();
        let filter = |id: &str, _: &Position| (id != "off-duty").then(|| format!("driver-{id}"));
        let hits = ix
            .nearest(&query(0.0, 0.0, 3, 10_000.0), &filter)
            .unwrap()
            .hits;
        assert_eq!(ids(&hits), ["just-fresh", "ok", "future"]);
        assert_eq!(hits[1].tag, "driver-ok");
        assert_eq!(hits[0].age_s, 60.0);
        assert_eq!(hits[2].age_s, 0.0);
    }

    #[test]
    fn ties_break_by_id() {
        let mut ix = LiveIndex::new();
        for id in ["c", "a", "b"] {
            ix.upsert(id, at(1.0, 1.0)).unwrap();
        }
        let hits = ix
            .nearest(&query(1.0, 1.0, 2, 1.0), &Everyone)
            .unwrap()
            .hits;
        assert_eq!(ids(&hits), ["a", "b"]);
        assert_eq!(hits[0].distance_m, 0.0);
    }

    #[test]
    fn whole_earth_radius_finds_the_antipode() {
        let mut ix = LiveIndex::new();
        ix.upsert("antipode", at(-10.0, -160.0)).unwrap();
        let hits = ix
            .nearest(&query(10.0, 20.0, 1, geo::MAX_RADIUS_M), &Everyone)
            .unwrap()
            .hits;
        assert_eq!(ids(&hits), ["antipode"]);
    }

    #[test]
    fn validates_the_query() {
        let ix = LiveIndex::new();
        let bad = [
            (query(90.5, 0.0, 1, 1.0), LiveError::Latitude(90.5)),
            (query(0.0, -181.0, 1, 1.0), LiveError::Longitude(-181.0)),
            (query(0.0, 0.0, 0, 1.0), LiveError::K { got: 0 }),
            (query(0.0, 0.0, 1001, 1.0), LiveError::K { got: 1001 }),
            (
                query(0.0, 0.0, 1, 0.0),
                LiveError::Radius {
                    got: 0.0,
                    max: geo::MAX_RADIUS_M,
                },
            ),
            (
                query(0.0, 0.0, 1, 2.1e7),
                LiveError::Radius {
                    got: 2.1e7,
                    max: geo::MAX_RADIUS_M,
                },
            ),
            (
                query(0.0, 0.0, 1, f64::INFINITY),
                LiveError::Radius {
                    got: f64::INFINITY,
                    max: geo::MAX_RADIUS_M,
                },
            ),
        ];
        for (q, e) in bad {
            assert_eq!(ix.nearest(&q, &Everyone).map(|n| n.hits), Err(e));
        }
        assert!(ix
            .nearest(&query(0.0, 0.0, 1000, 1.0), &Everyone)
            .unwrap()
            .hits
            .is_empty());
    }

    #[test]
    fn work_is_bounded_and_a_truncated_answer_says_so() {
        let mut ix = LiveIndex::new();
        for i in 0..100 {
            ix.upsert(&format!("v{i:03}"), at(0.0, 0.001 * i as f64))
                .unwrap();
        }
        let nobody = |_: &str, _: &Position| None::<()>;
        let q = query(0.0, 0.0, 6, geo::MAX_RADIUS_M);
        let all = ix.nearest(&q, &nobody).unwrap();
        assert_eq!(
            (all.hits.len(), all.examined, all.truncated),
            (0, 100, false)
        );
        let capped = NearestQuery {
            max_examined: 10,
            ..q
        };
        let some = ix.nearest(&capped, &nobody).unwrap();
        assert_eq!(
            (some.hits.len(), some.examined, some.truncated),
            (0, 10, true)
        );
        // The best among the candidates examined, which are the nearest ones.
        let odd = |id: &str, _: &Position| (id.as_bytes()[3] % 2 == 1).then_some(());
        let some = ix.nearest(&capped, &odd).unwrap();
        assert_eq!(ids(&some.hits), ["v001", "v003", "v005", "v007", "v009"]);
        assert!(some.truncated);
        // Stopping for the radius or for k is not truncation, even at the cap.
        let exact = NearestQuery {
            max_examined: 100,
            ..q
        };
        assert!(!ix.nearest(&exact, &nobody).unwrap().truncated);
        let few = ix.nearest(&query(0.0, 0.0, 3, 1e6), &Everyone).unwrap();
        assert!(!few.truncated && few.examined < 10, "{}", few.examined);
    }
}
