//! Tests of the geofence core: validation failures, geometry with hand-computed answers
//! (antimeridian, poles, holes, MultiPolygons), the engine's hysteresis and dwell, and the
//! property test "engine = brute-force replay".

mod engine;
mod geometry;
mod props;
mod validation;

use serde_json::{json, Value};

use super::{destination, Shape};

/// A GeoJSON Polygon from rings of `(lon, lat)` given open (the closing position is added).
pub(super) fn polygon(rings: &[&[(f64, f64)]]) -> Value {
    json!({ "type": "Polygon", "coordinates": rings.iter().map(|r| closed(r)).collect::<Vec<_>>() })
}

pub(super) fn closed(ring: &[(f64, f64)]) -> Vec<[f64; 2]> {
    let mut out: Vec<[f64; 2]> = ring.iter().map(|&(lon, lat)| [lon, lat]).collect();
    out.push(out[0]);
    out
}

pub(super) fn shape(v: Value) -> Shape {
    Shape::from_geojson(&v).unwrap_or_else(|e| panic!("{e}: {v}"))
}

/// The axis-aligned square `lon0..lon1 × lat0..lat1` (edges are great circles, so the
/// east-west sides bulge poleward).
pub(super) fn square(lon0: f64, lat0: f64, lon1: f64, lat1: f64) -> Value {
    polygon(&[&[(lon0, lat0), (lon1, lat0), (lon1, lat1), (lon0, lat1)]])
}

/// A star-shaped ring around a centre: vertex `i` at bearing `(i + jitter[i]) · 360°/k` and
/// distance `radii[i]` metres, as `(lon, lat)`. Bearings are preserved by the gnomonic
/// projection centred there, which maps the great-circle edges to straight lines: with every
/// gap between bearings under 180°, the ring is simple.
pub(super) fn star(lat: f64, lon: f64, radii: &[f64], jitter: &[f64]) -> Vec<(f64, f64)> {
    let k = radii.len();
    (0..k)
        .map(|i| {
            let bearing = (i as f64 + jitter[i]) * 360.0 / k as f64;
            let (la, lo) = destination(lat, lon, bearing, radii[i]);
            (lo, la)
        })
        .collect()
}
