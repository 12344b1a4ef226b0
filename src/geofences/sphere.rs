//! Vector geometry on the unit sphere: points are 3-D unit vectors ([`V3`]), edges are the
//! shorter great-circle arc between two of them.
//!
//! Distances are compared as squared chords (`|p - q|²`, strictly increasing with the
//! great-circle angle), so the hot paths take no trigonometry; [`chord2_to_m`] converts once at
//! the end. The few orientation tests are plain `f64` determinants: a sign is only wrong for a
//! point within ~1e-15 (nanometres) of a great circle, far inside the boundary tolerance.

use crate::live::geo;

/// A point or direction in 3-D; on the unit sphere when it is a position.
pub(crate) type V3 = [f64; 3];

pub(crate) fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(crate) fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub(crate) fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

pub(crate) fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub(crate) fn norm(a: V3) -> f64 {
    dot(a, a).sqrt()
}

/// `a / |a|`; the zero vector stays zero.
pub(crate) fn normalize(a: V3) -> V3 {
    let n = norm(a);
    if n == 0.0 {
        a
    } else {
        a.map(|c| c / n)
    }
}

/// The squared chord between two unit vectors.
pub(crate) fn chord2(a: V3, b: V3) -> f64 {
    let d = sub(a, b);
    dot(d, d)
}

/// The squared chord for a great-circle angle whose sine is `s` (angle ≤ 90°), written so
/// that it keeps full precision for tiny angles: `2 − 2·cos θ = 2s² / (1 + cos θ)`.
pub(crate) fn chord2_from_sin(s: f64) -> f64 {
    let s2 = (s * s).min(1.0);
    2.0 * s2 / (1.0 + (1.0 - s2).sqrt())
}

/// Metres along the sphere of [`geo::EARTH_RADIUS_M`] for a squared chord.
pub(crate) fn chord2_to_m(c2: f64) -> f64 {
    geo::distance_for_chord(c2.max(0.0).sqrt())
}

/// The squared chord of a distance in metres along the sphere.
pub(crate) fn m_to_chord2(m: f64) -> f64 {
    let c = geo::chord_for_distance(m);
    c * c
}

/// The unit normal of the great circle through `a` then `b`: points with `dot(p, n) > 0` are
/// on its left (seen from outside the sphere). `(b + a) × (b − a) = 2·a × b` keeps its
/// precision when `a` and `b` are metres apart (S2's `RobustCrossProd` uses the same trick).
pub(crate) fn arc_normal(a: V3, b: V3) -> V3 {
    normalize(cross(add(b, a), sub(b, a)))
}

/// Whether the unit vector `s` lies on the arc from `a` to `b` (of unit normal `n`), given
/// that it lies on that arc's great circle or is projected onto it.
pub(crate) fn in_arc(s: V3, a: V3, b: V3, n: V3) -> bool {
    dot(cross(a, s), n) >= 0.0 && dot(cross(s, b), n) >= 0.0
}

/// Where the nearest point of an arc to `p` is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Nearest {
    /// Inside the arc, at the foot of the perpendicular from `p`.
    Interior,
    /// At the arc's start `a`.
    Start,
    /// At the arc's end `b`.
    End,
}

/// The squared chord from `p` to the nearest point of the arc `a`→`b` (unit normal `n`), and
/// where that point is.
///
/// The nearest point of the whole great circle is the projection of `p` onto its plane; if that
/// falls inside the arc it is the answer (at angle `asin |p·n|`), otherwise the nearer end is.
pub(crate) fn nearest_on_arc(p: V3, a: V3, b: V3, n: V3) -> (f64, Nearest) {
    if in_arc(p, a, b, n) {
        return (chord2_from_sin(dot(p, n).abs()), Nearest::Interior);
    }
    let (ca, cb) = (chord2(p, a), chord2(p, b));
    if ca <= cb {
        (ca, Nearest::Start)
    } else {
        (cb, Nearest::End)
    }
}

/// The sign of the determinant `|a b c|`: positive when `c` is left of the arc `a`→`b`.
fn orient(a: V3, b: V3, c: V3) -> f64 {
    dot(cross(a, b), c)
}

/// Whether the arcs `a`→`b` and `c`→`d` cross at a point interior to both (S2's
/// `CrossingSign`: the four orientations around the quadrilateral agree). Touching and
/// collinear overlaps are not proper crossings; callers catch them with distances.
pub(crate) fn crosses(a: V3, b: V3, c: V3, d: V3) -> bool {
    let acb = -orient(a, b, c).signum();
    let bda = orient(a, b, d).signum();
    if acb == 0.0 || acb != bda {
        return false;
    }
    let cbd = -orient(c, d, b).signum();
    let dac = orient(c, d, a).signum();
    cbd == acb && dac == acb
}

/// The signed turning angle at `v` when travelling `u`→`v`→`w` (left turns positive), in
/// radians. By Gauss–Bonnet, a closed ring's turning angles sum to 2π minus the area on its
/// left: the sum tells which side is smaller without a reference point.
pub(crate) fn turning_angle(u: V3, v: V3, w: V3) -> f64 {
    let t_in = cross(arc_normal(u, v), v);
    let t_out = cross(arc_normal(v, w), v);
    dot(cross(t_in, t_out), v).atan2(dot(t_in, t_out))
}

/// The latitude and longitude (degrees) of a unit vector.
pub(crate) fn lat_lon(v: V3) -> (f64, f64) {
    let lat = v[2].atan2(v[0].hypot(v[1])).to_degrees();
    let lon = v[1].atan2(v[0]).to_degrees();
    (lat, lon)
}

/// The position `distance_m` from (`lat`, `lon`) along the initial bearing `bearing_deg`
/// (clockwise from north), on the sphere of [`geo::EARTH_RADIUS_M`]: `(lat, lon)` in degrees.
pub fn destination(lat: f64, lon: f64, bearing_deg: f64, distance_m: f64) -> (f64, f64) {
    let p = geo::unit_vector(lat, lon);
    // East and north unit tangents at p (any pair at the poles, where "north" is undefined).
    let east = {
        let e = [-p[1], p[0], 0.0];
        if norm(e) < 1e-12 {
            [0.0, 1.0, 0.0]
        } else {
            normalize(e)
        }
    };
    let north = cross(p, east);
    let (sb, cb) = bearing_deg.to_radians().sin_cos();
    let t = add(north.map(|c| c * cb), east.map(|c| c * sb));
    let (sd, cd) = (distance_m / geo::EARTH_RADIUS_M).sin_cos();
    lat_lon(normalize(add(p.map(|c| c * cd), t.map(|c| c * sd))))
}
