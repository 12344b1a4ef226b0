//! From raw GeoJSON rings to validated, oriented [`Polygon`]s.
//!
//! Per ring: positions in range, closed, at least 3 vertices, no vertex repeating the one
//! before it, no edge of 179° or more (the arc between nearly opposite points is ambiguous),
//! no spike (the ring doubling back along itself), not an exact half of the sphere. Per
//! polygon: no two edges of any of its rings cross or touch, found through an R-tree of edge
//! boxes (`O(n log n)` for the 10,000 vertices allowed, not `O(n²)`), every hole inside the
//! outer ring and none inside another. Touching counts as crossing: a hole that touches its
//! outer ring at one point, which OGC allows, is refused here.
//!
//! Parts of a MultiPolygon may overlap: the shape is their union, as PostGIS `ST_Covers` on a
//! geography MultiPolygon treats it (any part covering the point).

use rstar::{RTree, RTreeObject, AABB};

use super::bounds::{self, Bounds};
use super::error::{Loc, ShapeError};
use super::geojson::RawPolygons;
use super::limits::TOUCH_M;
use super::point::Point;
use super::polygon::Polygon;
use super::ring::Ring;
use super::sphere::{self, arc_normal, chord2, crosses, nearest_on_arc, V3};
use crate::live::geo;

/// `cos 179°`: consecutive vertices whose dot product is at most this are too far apart.
const MAX_EDGE_COS: f64 = -0.999_847_695_156_391_2;

/// A ring after the per-ring checks, in its given order.
struct Checked {
    loc: Loc,
    open: Vec<Point>,
    v: Vec<V3>,
}

pub(crate) fn polygons(raw: RawPolygons, multi: bool) -> Result<Vec<Polygon>, ShapeError> {
    raw.into_iter()
        .enumerate()
        .map(|(p, rings)| polygon(rings, multi.then_some(p)))
        .collect()
}

fn polygon(rings: Vec<Vec<Point>>, at: Option<usize>) -> Result<Polygon, ShapeError> {
    let tol2 = sphere::m_to_chord2(TOUCH_M);
    let checked = rings
        .into_iter()
        .enumerate()
        .map(|(r, positions)| ring(positions, Loc::ring(at, r), tol2))
        .collect::<Result<Vec<_>, _>>()?;
    crossings(&checked, tol2)?;
    let mut oriented = Vec::with_capacity(checked.len());
    for (r, c) in checked.into_iter().enumerate() {
        // After the crossings: a figure eight turns by 0 in all and would pass for a half.
        let turning = Ring::turning(&c.v);
        if turning.abs() < 1e-9 {
            return Err(ShapeError::HalfSphere { at: c.loc });
        }
        // The smaller side is the region: an outer ring keeps it on its left, a hole on its
        // right (so that the polygon's interior is on the left of every ring).
        let smaller_on_left = turning > 0.0;
        oriented.push((c.loc, Ring::new(c.open, smaller_on_left != (r == 0))));
    }
    let mut oriented = oriented.into_iter();
    let (_, outer) = oriented
        .next()
        .expect("parse refuses polygons without rings");
    let holes: Vec<(Loc, Ring)> = oriented.collect();
    for (k, (loc, hole)) in holes.iter().enumerate() {
        let probe = hole.v[0];
        let located = outer.locate(probe);
        if !located.left || located.chord2 <= tol2 {
            return Err(ShapeError::HoleOutside { at: *loc });
        }
        for (j, (other_loc, other)) in holes.iter().enumerate() {
            // A hole's region is on the right of its ring.
            if j != k && !other.locate(probe).left {
                return Err(ShapeError::HoleInHole {
                    at: *loc,
                    other: *other_loc,
                });
            }
        }
    }
    let holes = holes.into_iter().map(|(_, h)| h).collect();
    Ok(Polygon::new(outer, holes))
}

fn ring(positions: Vec<Point>, loc: Loc, tol2: f64) -> Result<Checked, ShapeError> {
    for (i, p) in positions.iter().enumerate() {
        if !geo::valid_lon(p.lon) {
            return Err(ShapeError::Longitude {
                at: loc.at(i),
                got: p.lon,
            });
        }
        if !geo::valid_lat(p.lat) {
            return Err(ShapeError::Latitude {
                at: loc.at(i),
                got: p.lat,
            });
        }
    }
    if positions.len() < 4 {
        return Err(ShapeError::TooFewPositions {
            at: loc,
            got: positions.len(),
        });
    }
    let mut open = positions;
    let last = open.pop().expect("at least 4 positions");
    if last != open[0] {
        return Err(ShapeError::NotClosed { at: loc });
    }
    let v: Vec<V3> = open
        .iter()
        .map(|p| geo::unit_vector(p.lat, p.lon))
        .collect();
    let m = v.len();
    for i in 0..m {
        let (a, b) = (v[i], v[(i + 1) % m]);
        if chord2(a, b) <= tol2 {
            return Err(ShapeError::RepeatedVertex { at: loc.at(i + 1) });
        }
        if sphere::dot(a, b) <= MAX_EDGE_COS {
            return Err(ShapeError::EdgeTooLong { at: loc.at(i) });
        }
    }
    for i in 0..m {
        let (u, w) = (v[(i + m - 1) % m], v[(i + 1) % m]);
        let back = nearest_on_arc(u, v[i], w, arc_normal(v[i], w)).0 <= tol2
            || nearest_on_arc(w, u, v[i], arc_normal(u, v[i])).0 <= tol2;
        if back {
            return Err(ShapeError::Spike { at: loc.at(i) });
        }
    }
    Ok(Checked { loc, open, v })
}

/// An edge in the R-tree of a polygon's edges: (ring, edge index) and its padded box.
struct EdgeBox {
    ring: usize,
    edge: usize,
    bounds: Bounds,
}

impl RTreeObject for EdgeBox {
    type Envelope = AABB<[f64; 3]>;

    fn envelope(&self) -> Self::Envelope {
        AABB::from_corners(self.bounds.0, self.bounds.1)
    }
}

/// Refuses the first (in ring and vertex order) pair of non-adjacent edges that cross or
/// touch. Adjacent edges share a vertex and can only overlap by doubling back (a spike,
/// refused per ring).
fn crossings(rings: &[Checked], tol2: f64) -> Result<(), ShapeError> {
    let edge = |r: usize, i: usize| {
        let v = &rings[r].v;
        let (a, b) = (v[i], v[(i + 1) % v.len()]);
        (a, b, arc_normal(a, b))
    };
    let boxes: Vec<EdgeBox> = rings
        .iter()
        .enumerate()
        .flat_map(|(r, ring)| (0..ring.v.len()).map(move |i| (r, i)))
        .map(|(r, i)| {
            let (a, b, n) = edge(r, i);
            let mut bx = bounds::empty();
            bounds::include_arc(&mut bx, a, b, n);
            EdgeBox {
                ring: r,
                edge: i,
                bounds: bounds::expand(bx, TOUCH_M),
            }
        })
        .collect();
    let mut first: Option<(usize, usize, usize, usize)> = None;
    let tree = RTree::bulk_load(boxes);
    for e in tree.iter() {
        let (a, b, n1) = edge(e.ring, e.edge);
        for o in tree.locate_in_envelope_intersecting(e.envelope()) {
            if (o.ring, o.edge) <= (e.ring, e.edge) {
                continue;
            }
            let m = rings[e.ring].v.len();
            let adjacent =
                o.ring == e.ring && (o.edge == e.edge + 1 || (e.edge == 0 && o.edge == m - 1));
            if adjacent {
                continue;
            }
            let (c, d, n2) = edge(o.ring, o.edge);
            let touch = crosses(a, b, c, d)
                || nearest_on_arc(a, c, d, n2).0 <= tol2
                || nearest_on_arc(b, c, d, n2).0 <= tol2
                || nearest_on_arc(c, a, b, n1).0 <= tol2
                || nearest_on_arc(d, a, b, n1).0 <= tol2;
            let pair = (e.ring, e.edge, o.ring, o.edge);
            if touch && first.is_none_or(|f| pair < f) {
                first = Some(pair);
            }
        }
    }
    match first {
        None => Ok(()),
        Some((r1, i1, r2, i2)) => Err(ShapeError::SelfIntersection {
            at: rings[r1].loc.at(i1),
            other: rings[r2].loc.at(i2),
        }),
    }
}
