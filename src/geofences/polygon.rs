//! [`Polygon`]: a validated polygon (an outer ring and holes, oriented), its 3-D box and
//! point location over all of its rings.

use super::bounds::{self, Bounds};
use super::limits::BOUNDARY_M;
use super::point::Point;
use super::ring::{Located, Ring};
use super::sphere;

/// A validated polygon: an outer ring and holes, each oriented with the polygon's interior on
/// its left (so possibly reversed from the input).
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    outer: Ring,
    holes: Vec<Ring>,
    bounds: Bounds,
    /// `bounds` with a few millimetres of slack: no point the predicates accept is outside.
    padded: Bounds,
}

impl Polygon {
    pub(crate) fn new(outer: Ring, holes: Vec<Ring>) -> Polygon {
        let mut b = bounds::empty();
        for i in 0..outer.len() {
            let (a, c, n) = outer.edge(i);
            bounds::include_arc(&mut b, a, c, n);
        }
        let mut polygon = Polygon {
            outer,
            holes,
            bounds: b,
            padded: b,
        };
        // The region inside the outer ring, holes and all: a hole may be where the region
        // would otherwise reach furthest (a hole around a pole).
        for axis in bounds::axis_points() {
            if polygon.outer.locate(axis).left {
                bounds::include(&mut polygon.bounds, axis);
            }
        }
        polygon.padded = bounds::expand(polygon.bounds, 0.0);
        polygon
    }

    /// The outer ring's vertices (no closing repeat), interior on the left.
    pub fn outer(&self) -> &[Point] {
        &self.outer.points
    }

    /// Each hole's vertices (no closing repeat), the polygon's interior on the left.
    pub fn holes(&self) -> impl Iterator<Item = &[Point]> {
        self.holes.iter().map(|h| h.points.as_slice())
    }

    /// The number of distinct vertices over every ring.
    pub fn vertex_count(&self) -> usize {
        self.outer.len() + self.holes.iter().map(Ring::len).sum::<usize>()
    }

    /// A 3-D box on the unit sphere containing the polygon (see [`super::bounds`]).
    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// Whether the unit vector `v` is inside or on the boundary (within [`BOUNDARY_M`]).
    pub(crate) fn covers(&self, v: [f64; 3]) -> bool {
        bounds::contains(&self.padded, v) && {
            let l = self.locate(v);
            l.left || sphere::chord2_to_m(l.chord2) <= BOUNDARY_M
        }
    }

    /// The nearest boundary point over every ring; `left` means inside the polygon.
    pub(crate) fn locate(&self, p: [f64; 3]) -> Located {
        let mut best = self.outer.locate(p);
        for hole in &self.holes {
            let l = hole.locate(p);
            if l.chord2 < best.chord2 {
                best = l;
            }
        }
        best
    }
}
