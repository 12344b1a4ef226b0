//! `contains`, `distance_outside_m` and `bounds` with answers computed by hand: the
//! antimeridian, the poles, holes, MultiPolygons, circles, and orientation independence.

use serde_json::json;

use super::{closed, polygon, shape, square};
use crate::geofences::bounds;
use crate::geofences::{Point, Shape};
use crate::live::geo::{haversine_m, EARTH_RADIUS_M};

fn p(lat: f64, lon: f64) -> Point {
    Point::new(lat, lon)
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

/// Metres for an angle in degrees on the sphere.
fn deg_m(deg: f64) -> f64 {
    EARTH_RADIUS_M * deg.to_radians()
}

#[test]
fn a_square_across_the_antimeridian() {
    let s = shape(square(179.0, -1.0, -179.0, 1.0));
    for q in [
        p(0.0, 180.0),
        p(0.0, -180.0),
        p(0.5, 179.5),
        p(-0.5, -179.5),
        p(1.0, 179.5),
    ] {
        assert!(s.contains(q), "{q:?}");
        assert_eq!(s.distance_outside_m(q), 0.0);
    }
    for q in [p(0.0, 0.0), p(0.0, 178.5), p(0.0, -178.5), p(2.0, 180.0)] {
        assert!(!s.contains(q), "{q:?}");
    }
    // The west side is the meridian 179: one degree of the equator away from lon 178.
    let d = s.distance_outside_m(p(0.0, 178.0));
    assert!(close(d, deg_m(1.0), 1e-3), "{d}");
    let d = s.distance_outside_m(p(0.0, -177.0));
    assert!(close(d, deg_m(2.0), 1e-3), "{d}");
    // From the far side of the Earth the corners are nearer than the middle of an edge.
    let d = s.distance_outside_m(p(0.0, 0.0));
    assert!(close(d, haversine_m(0.0, 0.0, 1.0, 179.0), 1e-3), "{d}");
    assert!(d < deg_m(179.0) - 1000.0, "{d}");
}

#[test]
fn a_ring_around_the_north_pole_contains_it() {
    // Lat 80 at four meridians: the edges are great circles, which bulge poleward. The
    // midpoint of (80, 0)–(80, 90) is at lat atan(√2·tan 80°) ≈ 82.89°, lon 45.
    let s = shape(polygon(&[&[
        (0.0, 80.0),
        (90.0, 80.0),
        (180.0, 80.0),
        (-90.0, 80.0),
    ]]));
    let mid = (2f64.sqrt() * 80f64.to_radians().tan()).atan().to_degrees();
    assert!(close(mid, 82.89, 0.01), "{mid}");
    for q in [
        p(90.0, 0.0),
        p(89.0, -123.0),
        p(80.5, 0.0),
        p(mid + 0.01, 45.0),
    ] {
        assert!(s.contains(q), "{q:?}");
    }
    for q in [
        p(mid - 0.01, 45.0),
        p(79.9, 0.0),
        p(0.0, 0.0),
        p(-90.0, 0.0),
    ] {
        assert!(!s.contains(q), "{q:?}");
    }
    let d = s.distance_outside_m(p(mid - 0.5, 45.0));
    assert!(close(d, deg_m(0.5), 1e-3), "{d}");
    // The box takes in the pole, which no vertex or edge reaches.
    let (_, max) = s.bounds();
    assert_eq!(max[2], 1.0);
}

#[test]
fn orientation_does_not_matter_and_the_smaller_side_is_inside() {
    let ring = [(0.0, -80.0), (90.0, -80.0), (180.0, -80.0), (-90.0, -80.0)];
    let mut reversed = ring;
    reversed.reverse();
    for r in [ring, reversed] {
        let s = shape(polygon(&[&r]));
        assert!(s.contains(p(-90.0, 0.0)) && s.contains(p(-85.0, 10.0)));
        assert!(!s.contains(p(0.0, 0.0)) && !s.contains(p(90.0, 0.0)));
    }
    // A ring at lat 10 around the globe: the northern cap is smaller than the rest.
    let lat10: Vec<(f64, f64)> = (0..8).map(|i| (i as f64 * 45.0 - 180.0, 10.0)).collect();
    let s = shape(polygon(&[&lat10]));
    assert!(s.contains(p(89.0, 0.0)) && s.contains(p(20.0, 33.0)));
    assert!(!s.contains(p(-89.0, 0.0)) && !s.contains(p(0.0, 0.0)));
}

#[test]
fn a_hole() {
    let s = shape(polygon(&[
        &[(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0)],
        &[(1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0)],
    ]));
    assert!(s.contains(p(0.5, 0.5)) && s.contains(p(3.5, 2.0)));
    assert!(!s.contains(p(2.0, 2.0)) && !s.contains(p(5.0, 2.0)));
    // On the hole's boundary (a meridian edge) is inside.
    assert!(s.contains(p(2.0, 1.0)) && s.contains(p(2.0, 3.0)));
    // From the hole's centre the nearest boundary is the meridian lon 1 (or 3), at
    // asin(cos 2° · sin 1°).
    let expect = EARTH_RADIUS_M * (2f64.to_radians().cos() * 1f64.to_radians().sin()).asin();
    let d = s.distance_outside_m(p(2.0, 2.0));
    assert!(close(d, expect, 1e-3), "{d} {expect}");
}

#[test]
fn a_multipolygon_is_the_union() {
    let s = shape(json!({"type": "MultiPolygon", "coordinates": [
        [closed(&[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)])],
        [closed(&[(10.0, 0.0), (11.0, 0.0), (11.0, 1.0), (10.0, 1.0)])],
        // Overlapping the first: still one region.
        [closed(&[(0.5, 0.0), (1.5, 0.0), (1.5, 1.0), (0.5, 1.0)])],
    ]}));
    assert!(s.contains(p(0.5, 0.5)) && s.contains(p(0.5, 10.5)) && s.contains(p(0.5, 1.2)));
    assert!(!s.contains(p(0.5, 5.0)));
    // Nearest from lon 9 (lat 0) is the second square's meridian lon 10.
    let d = s.distance_outside_m(p(0.0, 9.0));
    assert!(close(d, deg_m(1.0), 1e-3), "{d}");
    assert_eq!(s.distance_outside_m(p(0.5, 1.2)), 0.0);
}

#[test]
fn circles() {
    let c = p(45.0, 7.0);
    let s = Shape::circle(c, 1000.0).unwrap();
    let (la, lo) = crate::geofences::destination(45.0, 7.0, 30.0, 999.0);
    assert!(s.contains(p(la, lo)));
    let (la, lo) = crate::geofences::destination(45.0, 7.0, 200.0, 1500.0);
    assert!(!s.contains(p(la, lo)));
    assert!(close(s.distance_outside_m(p(la, lo)), 500.0, 1e-3));
    // Around the pole and across the antimeridian.
    let s = Shape::circle(p(89.99, 0.0), 5000.0).unwrap();
    assert!(s.contains(p(90.0, 0.0)) && s.contains(p(89.98, 180.0)));
    let s = Shape::circle(p(0.0, 179.99), 5000.0).unwrap();
    assert!(s.contains(p(0.0, -179.99)) && !s.contains(p(0.0, -179.9)));
    let d = s.distance_outside_m(p(0.0, -179.9));
    assert!(
        close(d, haversine_m(0.0, 179.99, 0.0, -179.9) - 5000.0, 1e-6),
        "{d}"
    );
}

#[test]
fn bounds_contain_the_region_and_the_margin() {
    let shapes = [
        shape(square(179.0, -1.0, -179.0, 1.0)),
        shape(polygon(&[&[
            (0.0, 80.0),
            (90.0, 80.0),
            (180.0, 80.0),
            (-90.0, 80.0),
        ]])),
        shape(square(-1.0, -1.0, 1.0, 1.0)),
        // The pole is in the hole, yet the region reaches higher than the outer ring does.
        shape(polygon(&[
            &[(0.0, 80.0), (90.0, 80.0), (180.0, 80.0), (-90.0, 80.0)],
            &[(0.0, 86.0), (120.0, 86.0), (-120.0, 86.0)],
        ])),
        Shape::circle(p(-89.9, 10.0), 50_000.0).unwrap(),
        Shape::circle(p(0.0, 90.0), 1_000_000.0).unwrap(),
    ];
    // The square around (0, 0) contains the +x axis point, which no edge reaches.
    assert_eq!(shapes[2].bounds().1[0], 1.0);
    let holed = &shapes[3];
    assert!(holed.contains(p(85.0, 10.0)) && !holed.contains(p(89.0, 0.0)));
    assert_eq!(holed.distance_outside_m(p(85.0, 10.0)), 0.0);
    for s in &shapes {
        let loose = s.bounds_expanded(1000.0);
        for i in 0..=360 {
            for j in 0..=180 {
                let q = p(j as f64 - 90.0, i as f64 - 180.0);
                if s.contains(q) {
                    assert!(bounds::contains(&s.bounds_expanded(0.0), q.xyz()), "{q:?}");
                }
                if s.distance_outside_m(q) <= 1000.0 {
                    assert!(bounds::contains(&loose, q.xyz()), "{q:?}");
                }
            }
        }
    }
}
