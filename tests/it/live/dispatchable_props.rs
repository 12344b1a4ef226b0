//! Property tests of the dispatchable tree against a brute-force haversine scan.
//!
//! Fleets mix dispatchable vehicles (fresh or stale) with vehicles nobody marked, or that
//! were marked and unmarked, marked before or after their first position, moved after
//! being marked, swept as stale or not; queries add a per-query filter on top. The answer
//! must be the brute-force one: dispatchable, fresh, accepted by the filter, within the
//! radius, ranked by `rank_cmp`. With a budget as large as the fresh dispatchable vehicles
//! (and the stale ones) it is never cut short, however many others crowd the query point.

use fleetd::live::geo::{haversine_m, MAX_RADIUS_M};
use fleetd::live::query::rank_cmp;
use fleetd::live::{LiveIndex, NearestQuery, Position};
use proptest::prelude::*;

use super::index_props::{
    id, k, place, position, radius, vehicle, Radius, Vehicle, NOW, STALENESS,
};

/// How a vehicle came to its dispatchable state.
#[derive(Debug, Clone)]
struct Plan {
    /// Marked dispatchable, in the end.
    dispatchable: bool,
    /// Marked before its first position (else after its last).
    marked_first: bool,
    /// Marked the other way first (a driver who left, a vehicle that went to maintenance).
    flipped: bool,
    /// First reported from elsewhere, `moved_from`, an older reading.
    moved_from: Option<(f64, f64)>,
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        prop::bool::weighted(0.3),
        any::<bool>(),
        prop::bool::weighted(0.2),
        prop::option::weighted(0.3, place()),
    )
        .prop_map(|(dispatchable, marked_first, flipped, moved_from)| Plan {
            dispatchable,
            marked_first,
            flipped,
            moved_from,
        })
}

fn build(fleet: &[(Vehicle, Plan)], sweep: bool) -> LiveIndex {
    let mut ix = LiveIndex::new();
    for (i, (v, plan)) in fleet.iter().enumerate() {
        let id = id(i);
        let mark = |ix: &mut LiveIndex| {
            if plan.flipped {
                ix.set_dispatchable(&id, !plan.dispatchable);
            }
            ix.set_dispatchable(&id, plan.dispatchable);
        };
        if plan.marked_first {
            mark(&mut ix);
        }
        let last = position(v);
        if let Some((lat, lon)) = plan.moved_from {
            let earlier = Position {
                lat,
                lon,
                ts: last.ts - 1,
                ..last
            };
            ix.upsert(&id, earlier).unwrap();
        }
        ix.upsert(&id, last).unwrap();
        if !plan.marked_first {
            mark(&mut ix);
        }
    }
    if sweep {
        ix.unlist_stale_older_than(NOW - STALENESS.as_micros() as i64);
    }
    ix
}

/// The expected result: scan everything, filter, sort by `rank_cmp`, take `k`.
fn brute_force(fleet: &[(Vehicle, Plan)], q: &NearestQuery) -> Vec<(String, f64)> {
    let limit = q.staleness.as_micros() as i64;
    let mut all: Vec<(String, f64)> = fleet
        .iter()
        .enumerate()
        .filter(|(_, (v, p))| p.dispatchable && v.eligible && v.age_us <= limit)
        .map(|(i, (v, _))| (i, haversine_m(q.lat, q.lon, v.lat, v.lon)))
        .filter(|(_, d)| *d <= q.radius_m)
        .map(|(i, d)| (id(i), d))
        .collect();
    all.sort_by(|a, b| rank_cmp((a.1, &a.0), (b.1, &b.0)));
    all.truncate(q.k);
    all
}

proptest! {
    #![proptest_config(ProptestConfig {
        rng_algorithm: prop::test_runner::RngAlgorithm::XorShift,
        ..crate::common::proptest_config(500)
    })]

    #[test]
    fn nearest_dispatchable_matches_brute_force(
        fleet in prop::collection::vec((vehicle(), plan()), 10..300),
        queries in prop::collection::vec((place(), k(), radius(), 1..50usize), 8),
        sweep in any::<bool>(),
    ) {
        let ix = build(&fleet, sweep);
        ix.check_consistency().unwrap();
        let limit = STALENESS.as_micros() as i64;
        let dispatchable = fleet.iter().filter(|(_, p)| p.dispatchable);
        let (fresh, stale) = dispatchable.fold((0, 0), |(f, s), (v, _)| {
            if v.age_us <= limit { (f + 1, s) } else { (f, s + 1) }
        });
        let listed = if sweep { fresh } else { fresh + stale };
        prop_assert_eq!(ix.dispatchable_listed(), listed);
        let filter = |id: &str, _: &Position| {
            let i: usize = id[1..].parse().unwrap();
            prop_assert!(fleet[i].1.dispatchable, "{} is not dispatchable", id);
            Ok(fleet[i].0.eligible.then_some(i))
        };
        for ((lat, lon), k, radius, budget) in queries {
            let radius_m = match radius {
                Radius::Metres(m) => m,
                Radius::AtVehicle(i) => {
                    let v = &fleet[i % fleet.len()].0;
                    haversine_m(lat, lon, v.lat, v.lon).max(f64::MIN_POSITIVE)
                }
                Radius::Whole => MAX_RADIUS_M,
            };
            let mut q = NearestQuery {
                lat, lon, k, radius_m, now_us: NOW, staleness: STALENESS,
                max_examined: fresh.max(stale).max(1),
            };
            let want = brute_force(&fleet, &q);
            let checked = |id: &str, p: &Position| filter(id, p).unwrap();
            let found = ix.nearest_dispatchable(&q, &checked).unwrap();
            prop_assert!(!found.truncated, "{:?}", q);
            prop_assert!(found.examined <= fresh);
            if sweep {
                prop_assert_eq!(found.skipped_stale, 0);
            }
            let got: Vec<(String, f64)> =
                found.hits.iter().map(|h| (h.vehicle_id.clone(), h.distance_m)).collect();
            prop_assert_eq!(&got, &want, "query {:?}", q);
            // A small budget: cut short, or the same answer; either way only eligible hits,
            // nearest first, and a bounded walk.
            q.max_examined = budget;
            let some = ix.nearest_dispatchable(&q, &checked).unwrap();
            prop_assert!(some.examined <= budget && some.skipped_stale <= budget);
            let got: Vec<(String, f64)> =
                some.hits.iter().map(|h| (h.vehicle_id.clone(), h.distance_m)).collect();
            if some.truncated {
                let all = brute_force(&fleet, &NearestQuery { k: 1000, ..q });
                prop_assert!(got.iter().all(|h| all.contains(h)), "{:?}", got);
                prop_assert!(got.windows(2).all(|w| rank_cmp((w[0].1, &w[0].0), (w[1].1, &w[1].0)).is_lt()));
            } else {
                prop_assert_eq!(&got, &want, "budget {} {:?}", budget, q);
            }
        }
    }
}
