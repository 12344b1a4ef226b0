//! [`Ring`]: one validated ring, oriented so that the region it belongs to is on its left, with
//! everything point location needs precomputed (unit vectors, edge normals, vertex convexity).
//!
//! # Point location by the nearest boundary point
//! To decide on which side of the boundary `p` lies, find the boundary point `q` nearest to
//! `p`; the short geodesic from `q` to `p` crosses no edge, so `p` is on the side of the
//! boundary that this geodesic leaves `q` by. For `q` inside an edge that is the edge's left
//! or right; for `q` at a vertex it is inside the corner (left of both edges at a convex
//! vertex, left of either at a reflex one). For a great circle through `q` of normal `n`,
//! `p = cos d·q + sin d·t` gives `sign(p·n) = sign(t·n)` for any distance `0 < d < π`, so
//! the whole test is signs of `p·n`. No reference point, no ray, no special case at the
//! antimeridian or the poles, and the distance the hysteresis needs comes out of the same pass.

use super::point::Point;
use super::sphere::{self, arc_normal, dot, nearest_on_arc, Nearest, V3};
use crate::live::geo;

/// A ring's vertices, closing vertex dropped, in an orientation that puts the region it
/// bounds on its left: counter-clockwise around an outer ring's interior, clockwise around a
/// hole (seen from outside the sphere).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ring {
    /// The positions as given (their order may be reversed), without the closing one.
    pub(crate) points: Vec<Point>,
    pub(crate) v: Vec<V3>,
    /// `n[i]`: the unit normal of the edge `v[i]`→`v[i+1]` (wrapping); interior on its left.
    pub(crate) n: Vec<V3>,
    /// Whether the interior angle at `v[i]` is at most 180°.
    pub(crate) convex: Vec<bool>,
}

/// The boundary point of a ring nearest to a point, and the side the point is on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Located {
    /// Squared chord to the nearest boundary point.
    pub(crate) chord2: f64,
    /// Whether the point is on the left of the boundary (the side the ring keeps).
    pub(crate) left: bool,
}

impl Ring {
    /// Builds a ring from open positions (`points[0] != points[last]`) that are already
    /// validated: distinct consecutive vertices, edges shorter than a half circle. Reverses
    /// them when `reverse` is set.
    pub(crate) fn new(mut points: Vec<Point>, reverse: bool) -> Ring {
        if reverse {
            points.reverse();
        }
        let v: Vec<V3> = points
            .iter()
            .map(|p| geo::unit_vector(p.lat, p.lon))
            .collect();
        let len = v.len();
        let n: Vec<V3> = (0..len)
            .map(|i| arc_normal(v[i], v[(i + 1) % len]))
            .collect();
        let convex = (0..len)
            .map(|i| dot(v[(i + 1) % len], n[(i + len - 1) % len]) >= 0.0)
            .collect();
        Ring {
            points,
            v,
            n,
            convex,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.v.len()
    }

    /// The edge `i` as (start, end, normal).
    pub(crate) fn edge(&self, i: usize) -> (V3, V3, V3) {
        (self.v[i], self.v[(i + 1) % self.len()], self.n[i])
    }

    /// The sum of the turning angles of the ring as given: 2π minus the area on its left.
    pub(crate) fn turning(v: &[V3]) -> f64 {
        let len = v.len();
        (0..len)
            .map(|i| sphere::turning_angle(v[(i + len - 1) % len], v[i], v[(i + 1) % len]))
            .sum()
    }

    /// The nearest boundary point to `p` and the side `p` is on (see the module docs).
    pub(crate) fn locate(&self, p: V3) -> Located {
        let len = self.len();
        let mut best = f64::INFINITY;
        // Which feature is nearest: (vertex or edge index, is it an edge).
        let mut at = (0, false);
        for i in 0..len {
            let (a, b, n) = self.edge(i);
            let (c2, where_) = nearest_on_arc(p, a, b, n);
            if c2 < best {
                best = c2;
                at = match where_ {
                    Nearest::Interior => (i, true),
                    Nearest::Start => (i, false),
                    Nearest::End => ((i + 1) % len, false),
                };
            }
        }
        let left = match at {
            (i, true) => dot(p, self.n[i]) >= 0.0,
            (i, false) => {
                let before = dot(p, self.n[(i + len - 1) % len]) >= 0.0;
                let after = dot(p, self.n[i]) >= 0.0;
                if self.convex[i] {
                    before && after
                } else {
                    before || after
                }
            }
        };
        Located { chord2: best, left }
    }
}
