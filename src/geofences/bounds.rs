//! 3-D boxes on the unit sphere that contain a region: what the R-tree of fences indexes.
//!
//! The largest `x` (say) over a region of the sphere is reached on its boundary, or inside it
//! at the only point where `x` has a maximum on the sphere, the axis point `(1, 0, 0)`. So a
//! region's box is the box of its boundary arcs (their ends and the points where an arc bulges
//! furthest along an axis) grown to take in each of the six axis points the region contains.
//! A cap (circle) has a closed form. Growing a box by the chord of `m` metres on every side
//! contains every point within `m` of the region, since a chord is never longer than the
//! arc.

use super::sphere::{self, dot, in_arc, normalize, V3};
use crate::live::geo;

/// An axis-aligned 3-D box, `(min, max)`.
pub type Bounds = ([f64; 3], [f64; 3]);

/// Added to every box side on top of any margin (about 6 mm), so that rounding in the
/// geometry can never leave a point that the exact predicates accept outside its box.
const SLACK: f64 = 1e-9;

/// The empty box, ready to be grown.
pub(crate) fn empty() -> Bounds {
    ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3])
}

/// Grows `b` to contain the point `p`.
pub(crate) fn include(b: &mut Bounds, p: V3) {
    for (i, c) in p.into_iter().enumerate() {
        b.0[i] = b.0[i].min(c);
        b.1[i] = b.1[i].max(c);
    }
}

/// The union of two boxes.
pub(crate) fn union(a: Bounds, b: Bounds) -> Bounds {
    let mut out = a;
    include(&mut out, b.0);
    include(&mut out, b.1);
    out
}

/// Grows `b` to contain the arc `a`→`b` (unit normal `n`): its ends, and for each axis the
/// points of its great circle furthest along and against that axis, when they are on the arc.
pub(crate) fn include_arc(bx: &mut Bounds, a: V3, b: V3, n: V3) {
    include(bx, a);
    include(bx, b);
    for i in 0..3 {
        let mut e = [0.0; 3];
        e[i] = 1.0;
        // The axis projected onto the arc's plane: the circle's extreme point along it.
        let q = normalize(sphere::sub(e, n.map(|c| c * n[i])));
        if dot(q, q) == 0.0 {
            continue; // the plane is perpendicular to the axis: the whole circle is level
        }
        for s in [q, q.map(|c| -c)] {
            if in_arc(s, a, b, n) {
                include(bx, s);
            }
        }
    }
}

/// The six axis points `±x, ±y, ±z`.
pub(crate) fn axis_points() -> [V3; 6] {
    let mut out = [[0.0; 3]; 6];
    for (k, p) in out.iter_mut().enumerate() {
        p[k / 2] = if k % 2 == 0 { 1.0 } else { -1.0 };
    }
    out
}

/// The box of the cap of angular radius `r` (radians) around the unit vector `c`.
pub(crate) fn cap(c: V3, r: f64) -> Bounds {
    // Furthest along +axis: the axis itself if within the cap, else the cap's edge point
    // nearest to it, at angle (angle to the axis − r).
    let towards = |ci: f64| (ci.clamp(-1.0, 1.0).acos() - r).max(0.0).cos();
    (c.map(|ci| -towards(-ci)), c.map(towards))
}

/// `b` grown on every side by the chord of `margin_m` metres (and a few millimetres of slack),
/// so that it contains every point within `margin_m` of what `b` contains.
pub fn expand(b: Bounds, margin_m: f64) -> Bounds {
    let pad = geo::chord_for_distance(margin_m.max(0.0)) + SLACK;
    (b.0.map(|c| c - pad), b.1.map(|c| c + pad))
}

/// Whether the box contains the point.
pub fn contains(b: &Bounds, p: [f64; 3]) -> bool {
    (0..3).all(|i| b.0[i] <= p[i] && p[i] <= b.1[i])
}
