//! Spherical geometry on the sphere of docs/dispatch.md (radius 6,371,008.8 m).
//!
//! Points are unit vectors (x towards lat 0/lon 0, z towards the north pole): interpolation
//! along a great circle is then a spherical linear interpolation, and a heading needs one
//! `atan2`, with no special case at the antimeridian.

pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A point on the unit sphere.
pub type Vec3 = [f64; 3];

pub fn to_vec(lat_deg: f64, lon_deg: f64) -> Vec3 {
    let (sin_lat, cos_lat) = lat_deg.to_radians().sin_cos();
    let (sin_lon, cos_lon) = lon_deg.to_radians().sin_cos();
    [cos_lat * cos_lon, cos_lat * sin_lon, sin_lat]
}

/// `(lat, lon)` in degrees; lon in `[-180, 180]`.
pub fn lat_lon(v: &Vec3) -> (f64, f64) {
    let lat = v[2].atan2(v[0].hypot(v[1])).to_degrees();
    let lon = v[1].atan2(v[0]).to_degrees();
    (lat, lon)
}

fn dot(a: &Vec3, b: &Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: &Vec3, b: &Vec3) -> Vec3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn norm(a: &Vec3) -> f64 {
    dot(a, a).sqrt()
}

/// The angle between two points seen from the centre, in radians. `atan2` of the cross and
/// dot products stays accurate for both tiny and near-antipodal separations.
pub fn central_angle(a: &Vec3, b: &Vec3) -> f64 {
    norm(&cross(a, b)).atan2(dot(a, b))
}

pub fn distance_m(a: &Vec3, b: &Vec3) -> f64 {
    central_angle(a, b) * EARTH_RADIUS_M
}

/// The point a fraction `f` of the way from `a` to `b` along the shorter great circle.
/// `angle` and `sin_angle` are `central_angle(a, b)` and its sine, computed once per leg.
pub fn slerp(a: &Vec3, b: &Vec3, angle: f64, sin_angle: f64, f: f64) -> Vec3 {
    if sin_angle.abs() < 1e-15 {
        return *b;
    }
    let wa = ((1.0 - f) * angle).sin() / sin_angle;
    let wb = (f * angle).sin() / sin_angle;
    let p = [
        wa * a[0] + wb * b[0],
        wa * a[1] + wb * b[1],
        wa * a[2] + wb * b[2],
    ];
    let n = norm(&p);
    [p[0] / n, p[1] / n, p[2] / n]
}

/// Normalises degrees into `[0, 360)`.
pub fn normalize_deg(deg: f64) -> f64 {
    let h = deg.rem_euclid(360.0);
    // rem_euclid of a tiny negative number rounds to 360.0.
    if h >= 360.0 {
        0.0
    } else {
        h
    }
}

/// Initial great-circle bearing from `p` towards `toward`, degrees clockwise from north in
/// `[0, 360)`. At a pole, where north is undefined, it is 0.
pub fn bearing_deg(p: &Vec3, toward: &Vec3) -> f64 {
    let cos_lat = p[0].hypot(p[1]);
    if cos_lat < 1e-12 {
        return 0.0;
    }
    let (sin_lon, cos_lon, sin_lat) = (p[1] / cos_lat, p[0] / cos_lat, p[2]);
    let east = [-sin_lon, cos_lon, 0.0];
    let north = [-sin_lat * cos_lon, -sin_lat * sin_lon, cos_lat];
    // The tangent towards `toward` is toward - (p·toward) p; p is orthogonal to both axes.
    let e = dot(toward, &east);
    let n = dot(toward, &north);
    if e == 0.0 && n == 0.0 {
        return 0.0;
    }
    normalize_deg(e.atan2(n).to_degrees())
}

/// The point `dist_m` metres from `(lat, lon)` along the initial bearing `bearing`.
pub fn destination(lat_deg: f64, lon_deg: f64, bearing: f64, dist_m: f64) -> (f64, f64) {
    let delta = dist_m / EARTH_RADIUS_M;
    let (sin_lat, cos_lat) = lat_deg.to_radians().sin_cos();
    let (sin_b, cos_b) = bearing.to_radians().sin_cos();
    let (sin_d, cos_d) = delta.sin_cos();
    let sin_lat2 = (sin_lat * cos_d + cos_lat * sin_d * cos_b).clamp(-1.0, 1.0);
    let lat2 = sin_lat2.asin();
    let lon2 = lon_deg.to_radians() + (sin_b * sin_d * cos_lat).atan2(cos_d - sin_lat * sin_lat2);
    let lon2 = (lon2.to_degrees() + 540.0).rem_euclid(360.0) - 180.0;
    (lat2.to_degrees(), lon2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn vector_round_trip() {
        for &(lat, lon) in &[(52.5, 13.4), (-33.9, 151.2), (0.0, -179.9), (89.0, 0.0)] {
            let (la, lo) = lat_lon(&to_vec(lat, lon));
            assert!(close(la, lat, 1e-9) && close(lo, lon, 1e-9), "{lat},{lon}");
        }
    }

    #[test]
    fn known_distance_berlin_paris() {
        let d = distance_m(&to_vec(52.5200, 13.4050), &to_vec(48.8566, 2.3522));
        assert!(close(d, 877_500.0, 2_000.0), "{d}");
    }

    #[test]
    fn bearings_of_cardinal_directions() {
        let o = to_vec(0.0, 0.0);
        assert!(close(bearing_deg(&o, &to_vec(1.0, 0.0)), 0.0, 1e-9));
        assert!(close(bearing_deg(&o, &to_vec(0.0, 1.0)), 90.0, 1e-9));
        assert!(close(bearing_deg(&o, &to_vec(-1.0, 0.0)), 180.0, 1e-9));
        assert!(close(bearing_deg(&o, &to_vec(0.0, -1.0)), 270.0, 1e-9));
        // Across the antimeridian, east is still east.
        let p = to_vec(10.0, 179.9);
        assert!(close(bearing_deg(&p, &to_vec(10.0, -179.9)), 90.0, 0.1));
    }

    #[test]
    fn slerp_stays_on_the_great_circle() {
        let a = to_vec(52.4, 13.1);
        let b = to_vec(52.6, 13.7);
        let angle = central_angle(&a, &b);
        let total = distance_m(&a, &b);
        for i in 0..=10 {
            let f = i as f64 / 10.0;
            let p = slerp(&a, &b, angle, angle.sin(), f);
            let (da, db) = (distance_m(&a, &p), distance_m(&p, &b));
            assert!(close(da + db, total, 1e-3), "f={f}");
            assert!(close(da, f * total, 1e-3), "f={f}");
        }
    }

    #[test]
    fn destination_goes_the_distance_on_the_bearing() {
        let (lat, lon) = destination(52.5, 13.4, 45.0, 2_000.0);
        let (a, b) = (to_vec(52.5, 13.4), to_vec(lat, lon));
        assert!(close(distance_m(&a, &b), 2_000.0, 1e-3));
        assert!(close(bearing_deg(&a, &b), 45.0, 1e-6));
        let (_, lon) = destination(0.0, 179.99, 90.0, 5_000.0);
        assert!((-180.0..-179.9).contains(&lon), "{lon}");
    }

    #[test]
    fn normalize_keeps_headings_below_360() {
        assert_eq!(normalize_deg(360.0), 0.0);
        assert_eq!(normalize_deg(-1e-18), 0.0);
        assert!(close(normalize_deg(-90.0), 270.0, 1e-12));
    }
}
