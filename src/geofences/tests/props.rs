//! Property tests: the engine (`FenceIndex` + `Membership`) gives the same transitions as a
//! brute-force replay that sorts each vehicle's readings by `ts`, drops repeated `ts`, and
//! tests every fence with `contains` / `distance_outside_m`; and the predicates agree with
//! each other and with the boxes.
//!
//! Fences and readings gather around four sites: anywhere, the north pole, the south pole and
//! the antimeridian, so that fences contain poles and cross ±180°. Fences are random
//! star-shaped polygons (some with a hole, some of those around a pole; some MultiPolygons of
//! two) and circles.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::{closed, star};
use crate::geofences::{
    bounds, destination, Fence, FenceIndex, Membership, Point, Selector, Shape, Subject, Transition,
};

const SITES: [(f64, f64); 4] = [(10.0, 20.0), (89.8, 0.0), (-89.9, 100.0), (-30.0, 179.95)];
const S: i64 = 1_000_000;

/// A place near a site: (site, bearing, distance in metres).
fn near(max_m: f64) -> impl Strategy<Value = Point> {
    (0..SITES.len(), 0.0..360.0f64, 0.0..max_m).prop_map(|(s, b, d)| {
        let (lat, lon) = destination(SITES[s].0, SITES[s].1, b, d);
        Point::new(lat, lon)
    })
}

/// A star ring around `c`: 3 to 12 vertices, 1 to 30 km out.
fn star_ring(c: Point) -> impl Strategy<Value = Vec<(f64, f64)>> {
    (3usize..=12).prop_flat_map(move |k| {
        (
            prop::collection::vec(1_000.0..30_000.0f64, k),
            prop::collection::vec(0.0..0.4f64, k),
        )
            .prop_map(move |(radii, jitter)| star(c.lat, c.lon, &radii, &jitter))
    })
}

/// A centre for a polygon: near a site, or within 50 m of a pole (so that a hole can hold
/// the pole).
fn centre() -> impl Strategy<Value = Point> {
    let pole = (any::<bool>(), 0.0..360.0f64, 0.0..50.0f64).prop_map(|(north, b, d)| {
        let (lat, lon) = destination(if north { 90.0 } else { -90.0 }, 0.0, b, d);
        Point::new(lat, lon)
    });
    prop_oneof![4 => near(20_000.0), 1 => pole]
}

fn shape() -> impl Strategy<Value = Shape> {
    let polygon = centre().prop_flat_map(|c| {
        (star_ring(c), any::<bool>(), 0.1..0.45f64).prop_map(move |(outer, hole, f)| {
            let mut rings = vec![closed(&outer)];
            if hole && outer.len() >= 5 {
                // Inside the outer ring: with gaps under 101° between bearings, the outer ring
                // stays farther than 0.63 × its nearest vertex from the centre.
                let r = f * 1_000.0;
                rings.push(closed(&star(c.lat, c.lon, &[r; 6], &[0.0; 6])));
            }
            json!({"type": "Polygon", "coordinates": rings})
        })
    });
    let multi = (near(20_000.0), near(20_000.0)).prop_flat_map(|(a, b)| {
        (star_ring(a), star_ring(b)).prop_map(|(ra, rb)| {
            json!({"type": "MultiPolygon", "coordinates": [[closed(&ra)], [closed(&rb)]]})
        })
    });
    let geojson = prop_oneof![3 => polygon, 1 => multi]
        .prop_map(|v| Shape::from_geojson(&v).unwrap_or_else(|e| panic!("{e}: {v}")));
    let circle = (near(20_000.0), 1.0..30_000.0f64).prop_map(|(c, r)| Shape::circle(c, r).unwrap());
    prop_oneof![3 => geojson, 1 => circle]
}

/// Vehicle `v` is "v{v}", of type "t{v % 2}".
fn subject(v: usize) -> (String, String) {
    (format!("v{v}"), format!("t{}", v % 2))
}

/// Every vehicle (most often), a type, some ids, or both.
fn selector() -> impl Strategy<Value = Selector> {
    let set = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
    prop_oneof![
        3 => Just(Selector::all()),
        1 => Just(Selector { vehicle_types: set(&["t0"]), vehicle_ids: set(&[]) }),
        1 => Just(Selector { vehicle_types: set(&[]), vehicle_ids: set(&["v1", "v2"]) }),
        1 => Just(Selector { vehicle_types: set(&["t1"]), vehicle_ids: set(&["v0"]) }),
    ]
}

fn fences() -> impl Strategy<Value = Vec<Fence>> {
    let fence = (
        shape(),
        prop::sample::select(vec![0.0, 10.0, 500.0, 5_000.0]),
        prop::option::of(0u32..30),
        selector(),
    );
    prop::collection::vec(fence, 1..8).prop_map(|fs| {
        fs.into_iter()
            .enumerate()
            .map(|(i, (s, h, dwell, selector))| {
                Fence::new(Uuid::from_u128(i as u128 + 1), s)
                    .with_hysteresis(h)
                    .unwrap()
                    .with_dwell(dwell)
                    .with_selector(selector)
            })
            .collect()
    })
}

/// One reading: vehicle, `ts` in seconds, place.
type Reading = (usize, i64, Point);

/// Readings of up to 4 vehicles, `ts` from a small range so that many repeat.
fn readings() -> impl Strategy<Value = Vec<Reading>> {
    prop::collection::vec((0usize..4, 0i64..60, near(45_000.0)), 1..80)
}

/// The engine: readings in arrival order, each vehicle's state persisted (a JSON round trip)
/// whenever `restart` says so.
fn engine(fences: &[Fence], arrivals: &[Reading], restart: &[bool]) -> Vec<(usize, Transition)> {
    let index = FenceIndex::load(fences.iter().cloned().map(Arc::new));
    let mut states: HashMap<usize, Membership> = HashMap::new();
    let mut out = Vec::new();
    for (k, &(v, ts, p)) in arrivals.iter().enumerate() {
        let state = states.entry(v).or_default();
        let (id, kind) = subject(v);
        let subject = Subject {
            vehicle_id: &id,
            vehicle_type: Some(&kind),
        };
        out.extend(
            state
                .apply_for(&index, ts * S, p, subject)
                .into_iter()
                .map(|t| (v, t)),
        );
        if restart[k % restart.len()] {
            let json = serde_json::to_string(&*state).unwrap();
            *state = serde_json::from_str(&json).unwrap();
        }
    }
    out
}

/// The reference: per vehicle, readings sorted by `ts` (the first of each `ts` kept), every
/// fence that applies to the vehicle tested.
fn brute_force(fences: &[Fence], readings: &[Reading]) -> Vec<(usize, Transition)> {
    let mut per: BTreeMap<usize, BTreeMap<i64, Point>> = BTreeMap::new();
    for &(v, ts, p) in readings {
        per.entry(v).or_default().entry(ts).or_insert(p);
    }
    let mut out = Vec::new();
    for (v, track) in per {
        // fence → (entered_at, dwelled)
        let mut inside: BTreeMap<Uuid, (i64, bool)> = BTreeMap::new();
        let (id, kind) = subject(v);
        let applies = |f: &Fence| {
            f.selector.is_all()
                || f.selector.vehicle_ids.contains(&id)
                || f.selector.vehicle_types.contains(&kind)
        };
        for (ts, p) in track {
            let ts = ts * S;
            let (mut exits, mut enters, mut dwells) = (vec![], vec![], vec![]);
            for f in fences.iter().filter(|f| applies(f)) {
                let was = inside.contains_key(&f.id);
                let now = if was {
                    f.shape.distance_outside_m(p) <= f.hysteresis_m
                } else {
                    f.shape.contains(p)
                };
                if was && !now {
                    inside.remove(&f.id);
                    exits.push(Transition::Exited { fence: f.id, ts });
                } else if now && !was {
                    inside.insert(f.id, (ts, false));
                    enters.push(Transition::Entered { fence: f.id, ts });
                }
                if let (Some(visit), Some(d)) = (inside.get_mut(&f.id), f.dwell_s) {
                    if !visit.1 && ts - visit.0 >= d as i64 * S {
                        visit.1 = true;
                        dwells.push(Transition::Dwell { fence: f.id, ts });
                    }
                }
            }
            for t in [exits, enters, dwells].into_iter().flatten() {
                out.push((v, t));
            }
        }
    }
    out
}

/// Transitions grouped by vehicle, in order within each.
fn by_vehicle(ts: Vec<(usize, Transition)>) -> BTreeMap<usize, Vec<Transition>> {
    let mut out: BTreeMap<usize, Vec<Transition>> = BTreeMap::new();
    for (v, t) in ts {
        out.entry(v).or_default().push(t);
    }
    out
}

/// `items` reordered by the random keys (a random permutation).
fn permuted<T: Clone>(items: &[T], keys: &[u32]) -> Vec<T> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| (keys[i % keys.len()], i));
    order.into_iter().map(|i| items[i].clone()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Each vehicle's readings arrive in `ts` order (as the stream feeds them), the vehicles
    /// interleaved at random, with replays of earlier readings mixed in.
    #[test]
    fn engine_equals_brute_force_replay(
        fences in fences(),
        readings in readings(),
        keys in prop::collection::vec(any::<u32>(), 1..100),
        replays in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..10),
        restart in prop::collection::vec(prop::bool::weighted(0.2), 1..10),
    ) {
        // One reading per (vehicle, ts): two different places at one time are not a replay.
        let mut seen = std::collections::HashSet::new();
        let readings: Vec<Reading> =
            readings.into_iter().filter(|r| seen.insert((r.0, r.1))).collect();
        // A random interleaving that keeps each vehicle's order: shuffle, then sort each
        // vehicle's readings by ts back into that vehicle's positions.
        let mut arrivals = permuted(&readings, &keys);
        let mut slots: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (k, r) in arrivals.iter().enumerate() {
            slots.entry(r.0).or_default().push(k);
        }
        for ks in slots.values() {
            let mut rs: Vec<Reading> = ks.iter().map(|&k| arrivals[k]).collect();
            rs.sort_by_key(|r| r.1);
            for (&k, r) in ks.iter().zip(rs) {
                arrivals[k] = r;
            }
        }
        // A replay: a reading already delivered, delivered again later.
        for (from, to) in &replays {
            let from = from.index(arrivals.len());
            let to = from + 1 + to.index(arrivals.len() - from);
            let r = arrivals[from];
            arrivals.insert(to, r);
        }
        let got = by_vehicle(engine(&fences, &arrivals, &restart));
        let want = by_vehicle(brute_force(&fences, &readings));
        prop_assert_eq!(got, want);
    }

    /// Fully random arrival order: only readings newer than everything the vehicle had sent
    /// before are evaluated, so the engine equals the replay of exactly those.
    #[test]
    fn out_of_order_readings_never_raise_events(
        fences in fences(),
        readings in readings(),
        keys in prop::collection::vec(any::<u32>(), 1..100),
    ) {
        let arrivals = permuted(&readings, &keys);
        let mut newest: HashMap<usize, i64> = HashMap::new();
        let fresh: Vec<Reading> = arrivals
            .iter()
            .filter(|r| {
                let last = newest.entry(r.0).or_insert(i64::MIN);
                let is_new = r.1 > *last;
                *last = (*last).max(r.1);
                is_new
            })
            .copied()
            .collect();
        let got = by_vehicle(engine(&fences, &arrivals, &[false]));
        let want = by_vehicle(brute_force(&fences, &fresh));
        prop_assert_eq!(got, want);
    }

    /// `contains` ⇔ distance 0; every point inside or within the hysteresis is in the box.
    #[test]
    fn predicates_and_boxes_agree(
        shape in shape(),
        points in prop::collection::vec(near(45_000.0), 1..50),
        margin in prop::sample::select(vec![0.0, 10.0, 500.0, 5_000.0]),
    ) {
        let (tight, loose) = (shape.bounds_expanded(0.0), shape.bounds_expanded(margin));
        for p in points {
            let d = shape.distance_outside_m(p);
            prop_assert_eq!(shape.contains(p), d == 0.0, "{:?} {}", p, d);
            if d == 0.0 {
                prop_assert!(bounds::contains(&tight, p.xyz()), "{:?}", p);
            }
            if d <= margin {
                prop_assert!(bounds::contains(&loose, p.xyz()), "{:?} {}", p, d);
            }
        }
    }
}
