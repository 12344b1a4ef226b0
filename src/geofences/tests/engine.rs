//! The engine on hand-made scenarios: hysteresis along a boundary, dwell, replays, fences
//! replaced or deleted mid-visit, and the index's bookkeeping.

use std::sync::Arc;

use uuid::Uuid;

use super::{shape, square};
use crate::geofences::{
    Fence, FenceIndex, Membership, Point, Selector, Shape, Subject, Transition,
};
use crate::live::geo::EARTH_RADIUS_M;

const S: i64 = 1_000_000;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// Degrees of longitude on the equator for `m` metres.
fn lon_m(m: f64) -> f64 {
    (m / EARTH_RADIUS_M).to_degrees()
}

fn index(fences: Vec<Fence>) -> FenceIndex {
    FenceIndex::load(fences.into_iter().map(Arc::new))
}

/// Walks along the east side (lon 1) of the square lon 0..1, lat 0..1, zig-zagging 20 m to
/// either side, and counts the transitions.
fn boundary_walk(hysteresis_m: f64) -> Vec<Transition> {
    let fence = Fence::new(id(1), shape(square(0.0, 0.0, 1.0, 1.0)))
        .with_hysteresis(hysteresis_m)
        .unwrap();
    let fences = index(vec![fence]);
    let mut m = Membership::default();
    let mut out = Vec::new();
    let mut ts = 0;
    let mut read = |m: &mut Membership, lat: f64, lon: f64| {
        ts += S;
        out.extend(m.apply(&fences, ts, Point::new(lat, lon)));
    };
    read(&mut m, 0.5, 0.5);
    for i in 0..100 {
        let side = if i % 2 == 0 { 20.0 } else { -20.0 };
        read(&mut m, 0.2 + i as f64 * 0.005, 1.0 + lon_m(side));
    }
    read(&mut m, 0.5, 1.0 + lon_m(hysteresis_m + 10.0));
    for i in 0..100 {
        let side = if i % 2 == 0 { 20.0 } else { -20.0 };
        read(&mut m, 0.7 - i as f64 * 0.005, 1.0 + lon_m(side));
    }
    out
}

#[test]
fn hysteresis_stops_flapping_on_a_boundary() {
    let t = boundary_walk(50.0);
    let kinds: Vec<_> = t
        .iter()
        .map(|t| match t {
            Transition::Entered { ts, .. } => ("entered", ts / S),
            Transition::Exited { ts, .. } => ("exited", ts / S),
            Transition::Dwell { ts, .. } => ("dwell", ts / S),
        })
        .collect();
    // In at the start, out at the one reading 60 m east, back in at the first reading 20 m
    // inside after it (the walk back starts 20 m outside).
    assert_eq!(kinds, [("entered", 1), ("exited", 102), ("entered", 104)]);
    // Without hysteresis the same walk flaps at every step.
    assert!(boundary_walk(0.0).len() > 150);
}

#[test]
fn dwell_once_per_visit() {
    let fence = Fence::new(id(7), Shape::circle(Point::new(0.0, 0.0), 1000.0).unwrap())
        .with_dwell(Some(60));
    let fences = index(vec![fence]);
    let (inside, outside) = (Point::new(0.0, 0.0), Point::new(0.0, 1.0));
    let mut m = Membership::default();
    let mut at = |ts: i64, p: Point| m.apply(&fences, ts * S, p);
    let f = id(7);
    assert_eq!(at(0, inside), [Transition::Entered { fence: f, ts: 0 }]);
    assert_eq!(at(30, inside), []);
    assert_eq!(
        at(60, inside),
        [Transition::Dwell {
            fence: f,
            ts: 60 * S
        }]
    );
    assert_eq!(at(90, inside), []);
    assert_eq!(
        at(100, outside),
        [Transition::Exited {
            fence: f,
            ts: 100 * S
        }]
    );
    assert_eq!(
        at(110, inside),
        [Transition::Entered {
            fence: f,
            ts: 110 * S
        }]
    );
    assert_eq!(at(169, inside), []);
    assert_eq!(
        at(170, inside),
        [Transition::Dwell {
            fence: f,
            ts: 170 * S
        }]
    );
}

#[test]
fn old_and_replayed_readings_change_nothing() {
    let fences = index(vec![Fence::new(id(1), shape(square(0.0, 0.0, 1.0, 1.0)))]);
    let m = Membership::default();
    let step = m.next(&fences, 10 * S, Point::new(0.5, 0.5));
    assert_eq!(step.transitions.len(), 1);
    let m = step.state;
    for ts in [10 * S, 9 * S, 0] {
        let again = m.next(&fences, ts, Point::new(5.0, 5.0));
        assert_eq!(again.state, m);
        assert!(again.transitions.is_empty());
    }
    // The state survives a round trip through JSON (persistence).
    let json = serde_json::to_string(&m).unwrap();
    let back: Membership = serde_json::from_str(&json).unwrap();
    assert_eq!(back, m);
    let out = back.next(&fences, 11 * S, Point::new(5.0, 5.0)).transitions;
    assert_eq!(
        out,
        [Transition::Exited {
            fence: id(1),
            ts: 11 * S
        }]
    );
}

#[test]
fn fences_replaced_or_deleted_mid_visit() {
    let mut fences = index(vec![Fence::new(id(1), shape(square(0.0, 0.0, 1.0, 1.0)))]);
    let mut m = Membership::default();
    assert_eq!(m.apply(&fences, S, Point::new(0.5, 0.5)).len(), 1);
    // Grown: the visit continues, nothing is raised.
    let bigger = Fence::new(id(1), shape(square(0.0, 0.0, 2.0, 2.0)));
    assert!(fences.insert(Arc::new(bigger)).is_some());
    assert_eq!(fences.len(), 1);
    assert_eq!(m.apply(&fences, 2 * S, Point::new(1.5, 1.5)), []);
    // Shrunk away from the vehicle: it exits at its next reading.
    let away = Fence::new(id(1), shape(square(10.0, 10.0, 11.0, 11.0)));
    fences.insert(Arc::new(away));
    let out = m.apply(&fences, 3 * S, Point::new(1.5, 1.5));
    assert_eq!(
        out,
        [Transition::Exited {
            fence: id(1),
            ts: 3 * S
        }]
    );
    assert_eq!(m.apply(&fences, 4 * S, Point::new(10.5, 10.5)).len(), 1);
    // Deleted: the visit ends without an exit.
    assert!(fences.remove(id(1)).is_some() && fences.remove(id(1)).is_none());
    assert_eq!(m.apply(&fences, 5 * S, Point::new(10.5, 10.5)), []);
    assert_eq!(m.inside().count(), 0);
    assert_eq!(fences.candidates(Point::new(10.5, 10.5)).count(), 0);
}

#[test]
fn a_selector_that_stops_applying_ends_the_visit_silently() {
    let only = |ids: &[&str]| Selector {
        vehicle_types: Default::default(),
        vehicle_ids: ids.iter().map(|s| s.to_string()).collect(),
    };
    let fence = |sel| Fence::new(id(1), shape(square(0.0, 0.0, 1.0, 1.0))).with_selector(sel);
    let mut fences = index(vec![fence(only(&["a"]))]);
    let (a, b) = ("a", "b");
    let van = |v| Subject {
        vehicle_id: v,
        vehicle_type: Some("van"),
    };
    let inside = Point::new(0.5, 0.5);
    let (mut ma, mut mb) = (Membership::default(), Membership::default());
    assert_eq!(ma.apply_for(&fences, S, inside, van(a)).len(), 1);
    assert_eq!(mb.apply_for(&fences, S, inside, van(b)), []);
    // Now for `b` only: `a` leaves without an exit, `b` enters.
    fences.insert(Arc::new(fence(only(&["b"]))));
    assert_eq!(ma.apply_for(&fences, 2 * S, inside, van(a)), []);
    assert_eq!(ma.inside().count(), 0);
    assert_eq!(
        mb.apply_for(&fences, 2 * S, inside, van(b)),
        [Transition::Entered {
            fence: id(1),
            ts: 2 * S
        }]
    );
}

#[test]
fn candidates_and_evaluate() {
    let a = Fence::new(id(1), shape(square(0.0, 0.0, 1.0, 1.0)))
        .with_hysteresis(1000.0)
        .unwrap();
    let b = Fence::new(id(2), Shape::circle(Point::new(0.5, 0.5), 5000.0).unwrap());
    let c = Fence::new(id(3), shape(square(179.0, -1.0, -179.0, 1.0)));
    let mut fences = FenceIndex::new();
    for f in [a, b, c] {
        assert!(fences.insert(Arc::new(f)).is_none());
    }
    let ids = |p: Point| {
        let mut v: Vec<Uuid> = fences.candidates(p).map(|f| f.id).collect();
        v.sort();
        v
    };
    assert_eq!(ids(Point::new(0.5, 0.5)), [id(1), id(2)]);
    assert_eq!(ids(Point::new(0.0, -180.0)), [id(3)]);
    assert!(ids(Point::new(0.5, 90.0)).is_empty());
    // 500 m east of the square: inside it only for a vehicle that already was.
    let p = Point::new(0.5, 1.0 + lon_m(500.0));
    assert_eq!(fences.evaluate(p, &[]), Vec::<Uuid>::new());
    assert_eq!(fences.evaluate(p, &[id(1)]), [id(1)]);
    assert_eq!(
        fences.evaluate(Point::new(0.5, 0.5), &[id(9)]),
        [id(1), id(2)]
    );
    assert!(
        Fence::new(id(4), Shape::circle(Point::new(0.0, 0.0), 5.0).unwrap())
            .with_hysteresis(-1.0)
            .is_err()
    );
}
