//! Every refusal of `Shape::from_geojson` and `Shape::circle`, and the message it gives.

use serde_json::{json, Value};

use super::{closed, polygon, square};
use crate::geofences::{Loc, Point, Shape, ShapeError, MAX_VERTICES};

fn err(v: Value) -> ShapeError {
    match Shape::from_geojson(&v) {
        Ok(_) => panic!("accepted {v}"),
        Err(e) => e,
    }
}

fn at(ring: usize, vertex: usize) -> Loc {
    Loc {
        polygon: None,
        ring,
        vertex: Some(vertex),
    }
}

fn ring(ring: usize) -> Loc {
    Loc {
        polygon: None,
        ring,
        vertex: None,
    }
}

#[test]
fn a_valid_square_passes() {
    let s = Shape::from_geojson(&square(0.0, 0.0, 1.0, 1.0)).unwrap();
    assert_eq!(s.vertex_count(), 4);
}

#[test]
fn structure_errors() {
    assert_eq!(err(json!([1, 2])), ShapeError::NotObject);
    assert_eq!(
        err(json!({"type": "Point", "coordinates": [0, 0]})),
        ShapeError::Type
    );
    assert_eq!(err(json!({"type": 7, "coordinates": []})), ShapeError::Type);
    let mut v = square(0.0, 0.0, 1.0, 1.0);
    v["crs"] = json!("EPSG:4326");
    assert_eq!(err(v), ShapeError::Member("crs".into()));
    let long = "x".repeat(10_000);
    let mut v = square(0.0, 0.0, 1.0, 1.0);
    v[&long] = json!(1);
    assert_eq!(err(v), ShapeError::Member("x".repeat(64)));
    let e = err(json!({"type": "Polygon"}));
    assert_eq!(e.to_string(), "coordinates must be present");
    let e = err(json!({"type": "Polygon", "coordinates": []}));
    assert_eq!(
        e.to_string(),
        "coordinates must be a non-empty array of rings"
    );
    let e = err(json!({"type": "MultiPolygon", "coordinates": [[]]}));
    assert_eq!(
        e.to_string(),
        "coordinates[0] must be a non-empty array of rings"
    );
    let e = err(json!({"type": "Polygon", "coordinates": [{"a": 1}]}));
    assert_eq!(
        e.to_string(),
        "coordinates[0] must be an array of positions"
    );
}

#[test]
fn positions_must_be_two_numbers() {
    for bad in [
        json!(["0", 1]),
        json!([0]),
        json!([0, 1, 2]),
        json!(null),
        json!([[0, 1]]),
    ] {
        let mut v = square(0.0, 0.0, 1.0, 1.0);
        v["coordinates"][0][2] = bad.clone();
        let e = err(v);
        assert_eq!(
            e.to_string(),
            "coordinates[0][2] must be a position [lon, lat] of two numbers",
            "{bad}"
        );
    }
    // Deep nesting where a number belongs is just a wrong type.
    let mut deep = json!(0);
    for _ in 0..100 {
        deep = json!([deep]);
    }
    let mut v = square(0.0, 0.0, 1.0, 1.0);
    v["coordinates"][0][1] = deep;
    assert!(matches!(err(v), ShapeError::Structure { .. }));
}

#[test]
fn coordinates_in_range() {
    let v = polygon(&[&[(0.0, 0.0), (181.0, 0.0), (1.0, 1.0)]]);
    assert_eq!(
        err(v),
        ShapeError::Longitude {
            at: at(0, 1),
            got: 181.0
        }
    );
    let v = polygon(&[&[(0.0, 0.0), (1.0, 0.0), (1.0, -90.5)]]);
    let e = err(v);
    assert_eq!(
        e,
        ShapeError::Latitude {
            at: at(0, 2),
            got: -90.5
        }
    );
    assert_eq!(
        e.to_string(),
        "ring 0, vertex 2: latitude must be a finite number between -90 and 90, got -90.5"
    );
    // serde_json has no NaN or infinity: json! turns them into null, a wrong type.
    let mut v = square(0.0, 0.0, 1.0, 1.0);
    v["coordinates"][0][1] = json!([f64::NAN, 0.0]);
    assert!(matches!(err(v), ShapeError::Structure { .. }));
    let mut v = square(0.0, 0.0, 1.0, 1.0);
    v["coordinates"][0][1] = json!([1e308, 0.0]);
    assert_eq!(
        err(v),
        ShapeError::Longitude {
            at: at(0, 1),
            got: 1e308
        }
    );
}

#[test]
fn rings_closed_and_long_enough() {
    let mut v = square(0.0, 0.0, 1.0, 1.0);
    v["coordinates"][0][4] = json!([0.0, 0.5]);
    assert_eq!(err(v), ShapeError::NotClosed { at: ring(0) });
    let v = json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]});
    let e = err(v);
    assert_eq!(
        e,
        ShapeError::TooFewPositions {
            at: ring(0),
            got: 3
        }
    );
    assert!(e.to_string().contains("at least 4 positions"), "{e}");
}

#[test]
fn repeated_vertices() {
    let v = json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 0], [1, 1], [0, 0]]]});
    assert_eq!(err(v), ShapeError::RepeatedVertex { at: at(0, 2) });
    // A vertex before the closing position already back at the start: the closing position
    // (4) repeats it.
    let v = json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0], [0, 0]]]});
    assert_eq!(err(v), ShapeError::RepeatedVertex { at: at(0, 4) });
    // lon 180 and -180 are the same meridian; every longitude at a pole is the same point.
    let v = polygon(&[&[(180.0, 0.0), (-180.0, 0.0), (170.0, 10.0)]]);
    assert_eq!(err(v), ShapeError::RepeatedVertex { at: at(0, 1) });
    let v = polygon(&[&[(0.0, 90.0), (90.0, 90.0), (0.0, 80.0)]]);
    assert_eq!(err(v), ShapeError::RepeatedVertex { at: at(0, 1) });
}

#[test]
fn self_intersections() {
    // A bow tie: edge 0 (0,0)→(1,1) crosses edge 2 (1,0)→(0,1).
    let v = polygon(&[&[(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0)]]);
    let e = err(v);
    assert_eq!(
        e,
        ShapeError::SelfIntersection {
            at: at(0, 0),
            other: at(0, 2)
        }
    );
    assert_eq!(
        e.to_string(),
        "ring 0, vertex 0: the edge from this vertex crosses or touches the edge from ring 0, vertex 2"
    );
    // A vertex touching a non-adjacent edge.
    let v = polygon(&[&[(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (1.0, 0.0), (0.0, 2.0)]]);
    assert!(matches!(err(v), ShapeError::SelfIntersection { .. }));
    // A spike: the ring doubles back along itself.
    let v = polygon(&[&[(0.0, 0.0), (2.0, 0.0), (1.0, 0.0), (1.0, 1.0)]]);
    assert_eq!(err(v), ShapeError::Spike { at: at(0, 1) });
    // A hole crossing the outer ring.
    let v = polygon(&[
        &[(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0)],
        &[(1.0, 1.0), (5.0, 1.0), (5.0, 2.0), (1.0, 2.0)],
    ]);
    let e = err(v);
    assert!(
        matches!(e, ShapeError::SelfIntersection { at: a, other: o } if a.ring == 0 && o.ring == 1),
        "{e}"
    );
}

#[test]
fn holes_inside_the_outer_ring_and_not_nested() {
    let v = polygon(&[
        &[(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0)],
        &[(5.0, 1.0), (6.0, 1.0), (6.0, 2.0)],
    ]);
    assert_eq!(err(v), ShapeError::HoleOutside { at: ring(1) });
    let v = polygon(&[
        &[(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0)],
        &[(1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0)],
        &[(1.5, 1.5), (2.5, 1.5), (2.5, 2.5)],
    ]);
    assert_eq!(
        err(v),
        ShapeError::HoleInHole {
            at: ring(2),
            other: ring(1)
        }
    );
}

#[test]
fn too_many_vertices() {
    let n = MAX_VERTICES;
    let ring: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let a = i as f64 / n as f64 * std::f64::consts::TAU;
            (a.cos(), a.sin())
        })
        .collect();
    // n distinct vertices and the closing position: one too many.
    assert_eq!(err(polygon(&[&ring])), ShapeError::TooManyVertices);
    assert!(Shape::from_geojson(&polygon(&[&ring[..n - 1]])).is_ok());
    // Counted before anything is converted: a huge array of garbage is refused for its size.
    let huge = vec![json!("x"); 2 * n];
    let v = json!({"type": "MultiPolygon", "coordinates": [[huge]]});
    assert_eq!(err(v), ShapeError::TooManyVertices);
}

#[test]
fn long_edges_and_half_spheres() {
    // Nearly opposite points on the equator.
    let v = polygon(&[&[(0.0, 0.0), (179.5, 0.0), (90.0, 10.0)]]);
    assert_eq!(err(v), ShapeError::EdgeTooLong { at: at(0, 0) });
    // The equator, as four 90° edges: both sides are hemispheres.
    let v = polygon(&[&[(0.0, 0.0), (90.0, 0.0), (180.0, 0.0), (-90.0, 0.0)]]);
    assert_eq!(err(v), ShapeError::HalfSphere { at: ring(0) });
}

#[test]
fn multipolygon_errors_name_the_polygon() {
    let v = json!({"type": "MultiPolygon", "coordinates": [
        [closed(&[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)])],
        [closed(&[(5.0, 0.0), (6.0, 1.0), (6.0, 0.0), (5.0, 1.0)])],
    ]});
    let e = err(v);
    assert_eq!(
        e.to_string(),
        "polygon 1, ring 0, vertex 0: the edge from this vertex crosses or touches the edge from polygon 1, ring 0, vertex 2"
    );
}

#[test]
fn circles() {
    let c = Point::new(10.0, 20.0);
    assert!(Shape::circle(c, 1.0).is_ok() && Shape::circle(c, 1_000_000.0).is_ok());
    for r in [0.5, 1_000_000.5, f64::NAN, f64::INFINITY, -3.0] {
        assert!(
            matches!(Shape::circle(c, r), Err(ShapeError::Radius { .. })),
            "{r}"
        );
    }
    let e = Shape::circle(Point::new(91.0, 0.0), 10.0).unwrap_err();
    assert_eq!(
        e,
        ShapeError::Center {
            lat: 91.0,
            lon: 0.0
        }
    );
    assert!(Shape::circle(Point::new(0.0, f64::NAN), 10.0).is_err());
}
