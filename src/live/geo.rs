//! Great-circle geometry on the sphere of docs/dispatch.md (radius 6,371,008.8 m).
//!
//! The index does not search in lat/lon: it maps every position to a point on the unit sphere
//! in 3-D. Two points at great-circle angle θ are a straight chord `c = 2·sin(θ/2)` apart, and
//! that is strictly increasing on `0 ≤ θ ≤ π`, so ordering by Euclidean (chord) distance *is*
//! ordering by great-circle distance. The R-tree therefore needs no antimeridian or pole cases:
//! there is no seam in 3-D, and its lazy nearest-neighbour search is a great-circle search.
//! (Pruning in lat/lon with a geodetic point-to-box distance, as tile38's `geodesic.go` does,
//! also works but needs that special distance function; in 3-D the plain Euclidean one is
//! right.) Distances reported to callers are always the exact haversine of the stored
//! lat/lon, never a chord converted back.

/// The sphere radius of docs/dispatch.md, in metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The largest meaningful search radius: half the circumference (the antipode).
pub const MAX_RADIUS_M: f64 = std::f64::consts::PI * EARTH_RADIUS_M;

/// Great-circle distance in metres between two WGS84 degree positions (haversine).
///
/// Uses `2·asin(√a)`, clamped so rounding near the antipode cannot produce NaN.
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let s1 = (dp / 2.0).sin();
    let s2 = (dl / 2.0).sin();
    let a = s1 * s1 + p1.cos() * p2.cos() * s2 * s2;
    2.0 * EARTH_RADIUS_M * a.sqrt().clamp(0.0, 1.0).asin()
}

/// The unit-sphere point of a position, `[x, y, z]` with `z` towards the north pole.
///
/// Deterministic: the same lat/lon always gives the same bits, which is what lets the index
/// find and remove a vehicle's old R-tree point exactly without storing it.
pub fn unit_vector(lat: f64, lon: f64) -> [f64; 3] {
    let (phi, lambda) = (lat.to_radians(), lon.to_radians());
    let (sp, cp) = phi.sin_cos();
    let (sl, cl) = lambda.sin_cos();
    [cp * cl, cp * sl, sp]
}

/// The chord length on the unit sphere for a great-circle distance in metres.
pub fn chord_for_distance(distance_m: f64) -> f64 {
    let theta = (distance_m / EARTH_RADIUS_M).clamp(0.0, std::f64::consts::PI);
    2.0 * (theta / 2.0).sin()
}

/// The great-circle distance in metres for a unit-sphere chord length.
pub fn distance_for_chord(chord: f64) -> f64 {
    2.0 * EARTH_RADIUS_M * (chord / 2.0).clamp(0.0, 1.0).asin()
}

/// Whether `lat`/`lon` are finite WGS84 degrees.
pub fn valid_lat(lat: f64) -> bool {
    lat.is_finite() && (-90.0..=90.0).contains(&lat)
}

/// Whether `lon` is finite and within ±180 (both ends accepted: they are the same meridian).
pub fn valid_lon(lon: f64) -> bool {
    lon.is_finite() && (-180.0..=180.0).contains(&lon)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn same_point_is_zero() {
        assert_eq!(haversine_m(48.8566, 2.3522, 48.8566, 2.3522), 0.0);
        // cos(90°) is 6e-17 in floating point, not 0: a nanometre, not an error.
        assert!(close(haversine_m(90.0, 0.0, 90.0, 123.0), 0.0, 1e-6));
    }

    #[test]
    fn london_to_paris() {
        // London (51.5074, -0.1278) to Paris (48.8566, 2.3522): about 343.5 km on this sphere.
        let d = haversine_m(51.5074, -0.1278, 48.8566, 2.3522);
        assert!(close(d, 343_560.0, 500.0), "{d}");
    }

    #[test]
    fn antipodes_are_half_the_circumference() {
        let d = haversine_m(0.0, 0.0, 0.0, 180.0);
        assert!(close(d, MAX_RADIUS_M, 1e-6), "{d}");
        let d = haversine_m(90.0, 0.0, -90.0, 0.0);
        assert!(close(d, MAX_RADIUS_M, 1e-6), "{d}");
        let d = haversine_m(37.5, -122.25, -37.5, 57.75);
        assert!(close(d, MAX_RADIUS_M, 1e-3), "{d}");
    }

    #[test]
    fn across_the_antimeridian_is_short() {
        // 0.2° of longitude on the equator: 2π·R·0.2/360 ≈ 22,238.985 m.
        let expect = 2.0 * std::f64::consts::PI * EARTH_RADIUS_M * 0.2 / 360.0;
        let d = haversine_m(0.0, 179.9, 0.0, -179.9);
        assert!(close(d, expect, 1e-6), "{d}");
        assert!(close(haversine_m(0.0, 180.0, 0.0, -180.0), 0.0, 1e-6));
    }

    #[test]
    fn near_the_poles() {
        // Opposite meridians 100 m from the north pole are 200 m apart over the pole.
        let lat = 90.0 - (100.0 / EARTH_RADIUS_M).to_degrees();
        let d = haversine_m(lat, 0.0, lat, 180.0);
        assert!(close(d, 200.0, 1e-6), "{d}");
        let d = haversine_m(-lat, 45.0, -lat, -135.0);
        assert!(close(d, 200.0, 1e-6), "{d}");
        // Every meridian meets at the pole.
        assert!(close(haversine_m(90.0, 10.0, lat, -170.0), 100.0, 1e-6));
    }

    #[test]
    fn one_degree_of_latitude() {
        let d = haversine_m(10.0, 20.0, 11.0, 20.0);
        let expect = EARTH_RADIUS_M * 1f64.to_radians();
        assert!(close(d, expect, 1e-6), "{d}");
    }

    #[test]
    fn unit_vectors_are_unit_and_seamless() {
        for (lat, lon) in [(0.0, 0.0), (45.0, 180.0), (-89.999, -179.5), (90.0, 33.0)] {
            let [x, y, z] = unit_vector(lat, lon);
            assert!(close(x * x + y * y + z * z, 1.0, 1e-12));
        }
        let a = unit_vector(12.0, 180.0);
        let b = unit_vector(12.0, -180.0);
        for i in 0..3 {
            assert!(close(a[i], b[i], 1e-15));
        }
    }

    #[test]
    fn chord_and_arc_round_trip_and_match_haversine() {
        for d in [0.0, 1.0, 5_000.0, 1_000_000.0, 10_000_000.0, MAX_RADIUS_M] {
            let back = distance_for_chord(chord_for_distance(d));
            assert!(close(back, d, 1e-6 * d.max(1.0)), "{d} -> {back}");
        }
        let (a, b) = (unit_vector(51.5, -0.12), unit_vector(48.85, 2.35));
        let chord = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
        let d = haversine_m(51.5, -0.12, 48.85, 2.35);
        assert!(close(distance_for_chord(chord), d, 1e-3));
        assert!(close(chord_for_distance(MAX_RADIUS_M), 2.0, 1e-12));
    }

    #[test]
    fn validation_bounds() {
        assert!(valid_lat(90.0) && valid_lat(-90.0) && !valid_lat(90.0001));
        assert!(!valid_lat(f64::NAN) && !valid_lon(f64::INFINITY));
        assert!(valid_lon(180.0) && valid_lon(-180.0) && !valid_lon(-180.5));
    }
}
