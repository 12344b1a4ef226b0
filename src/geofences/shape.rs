//! [`Shape`]: a fence's region on the sphere (a circle, or polygons whose edges are
//! great-circle arcs) and the predicates the engine asks of it.
//!
//! # Semantics: PostGIS `geography`
//! Positions are WGS84 degrees on the sphere of [`geo::EARTH_RADIUS_M`]; an edge is the
//! shorter great-circle arc between its vertices, as in PostGIS `geography`. A polygon that
//! crosses the antimeridian (lon 170 → -170) just has edges that take the short way, and one
//! around a pole contains it: nothing is special-cased, the geometry is done in 3-D.
//!
//! **Interior rule.** A ring cuts the sphere into two regions; its interior is the one with
//! the smaller area, whatever the ring's orientation (holes likewise: the hole is the smaller
//! side of its ring). The areas come from the ring's turning angles (Gauss–Bonnet: the area
//! on a ring's left is 2π minus the sum of its turning angles), so no reference point is
//! needed. PostGIS ignores orientation too: `ST_Covers(geography, geography)` counts the
//! crossings of an arc from the point to a point outside the polygon's geocentric bounding box
//! (`lwpoly_covers_point2d`, `gbox_pt_outside` in `liblwgeom/lwgeodetic.c`), so its interior
//! is the side that does not contain that box corner. For any polygon whose box leaves room
//! on the sphere (every fence-sized polygon, and much larger ones) that is the smaller side
//! too; `tests/it/geofences/geometry.rs` checks the two against each other.
//!
//! The boundary is inside (`ST_Covers`, not `ST_Contains`), with [`BOUNDARY_M`] of
//! tolerance, so that [`Shape::contains`] is true exactly when
//! [`Shape::distance_outside_m`] is 0.

use super::bounds::{self, Bounds};
use super::error::ShapeError;
use super::ring::{Located, Ring};
use super::{geojson, sphere, validate};
use crate::live::geo;

/// At most this many positions in a shape, every ring's closing position included.
pub const MAX_VERTICES: usize = 10_000;
/// The smallest circle radius, in metres.
pub const MIN_RADIUS_M: f64 = 1.0;
/// The largest circle radius, in metres.
pub const MAX_RADIUS_M: f64 = 1_000_000.0;
/// A point this close to the boundary (metres) counts as on it, hence inside.
pub const BOUNDARY_M: f64 = 0.001;

/// A WGS84 position in degrees.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
}

impl Point {
    pub fn new(lat: f64, lon: f64) -> Point {
        Point { lat, lon }
    }

    /// The point on the unit sphere (see [`geo::unit_vector`]).
    pub fn xyz(self) -> [f64; 3] {
        geo::unit_vector(self.lat, self.lon)
    }
}

/// A fence's region.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Every point within `radius_m` (great-circle) of `center`.
    Circle { center: Point, radius_m: f64 },
    /// The union of one or more polygons (a GeoJSON Polygon gives one).
    Polygons(Vec<Polygon>),
}

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

    /// The nearest boundary point over every ring; `left` means inside the polygon.
    fn locate(&self, p: [f64; 3]) -> Located {
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

impl Shape {
    /// A validated GeoJSON `Polygon` or `MultiPolygon` geometry object (positions `[lon, lat]`).
    pub fn from_geojson(v: &serde_json::Value) -> Result<Shape, ShapeError> {
        let (raw, multi) = geojson::parse(v)?;
        Ok(Shape::Polygons(validate::polygons(raw, multi)?))
    }

    /// A validated circle: a valid centre, a radius from [`MIN_RADIUS_M`] to [`MAX_RADIUS_M`].
    pub fn circle(center: Point, radius_m: f64) -> Result<Shape, ShapeError> {
        if !geo::valid_lat(center.lat) || !geo::valid_lon(center.lon) {
            return Err(ShapeError::Center {
                lat: center.lat,
                lon: center.lon,
            });
        }
        if !(MIN_RADIUS_M..=MAX_RADIUS_M).contains(&radius_m) {
            return Err(ShapeError::Radius { got: radius_m });
        }
        Ok(Shape::Circle { center, radius_m })
    }

    /// Whether `p` is inside or on the boundary (within [`BOUNDARY_M`]).
    pub fn contains(&self, p: Point) -> bool {
        match self {
            Shape::Circle { center, radius_m } => {
                geo::haversine_m(center.lat, center.lon, p.lat, p.lon) <= radius_m + BOUNDARY_M
            }
            Shape::Polygons(polygons) => {
                let v = p.xyz();
                polygons.iter().any(|poly| {
                    bounds::contains(&poly.padded, v) && {
                        let l = poly.locate(v);
                        l.left || sphere::chord2_to_m(l.chord2) <= BOUNDARY_M
                    }
                })
            }
        }
    }

    /// 0 when [`contains`](Self::contains) is true, else the great-circle distance in metres
    /// from `p` to the nearest point of the region (for a circle: to the centre, minus the
    /// radius).
    pub fn distance_outside_m(&self, p: Point) -> f64 {
        match self {
            Shape::Circle { center, radius_m } => {
                let d = geo::haversine_m(center.lat, center.lon, p.lat, p.lon) - radius_m;
                if d <= BOUNDARY_M {
                    0.0
                } else {
                    d
                }
            }
            Shape::Polygons(polygons) => {
                let v = p.xyz();
                let mut best = f64::INFINITY;
                for poly in polygons {
                    let l = poly.locate(v);
                    if l.left {
                        return 0.0;
                    }
                    best = best.min(l.chord2);
                }
                let d = sphere::chord2_to_m(best);
                if d <= BOUNDARY_M {
                    0.0
                } else {
                    d
                }
            }
        }
    }

    /// A 3-D box on the unit sphere containing the whole region (see [`super::bounds`]).
    pub fn bounds(&self) -> Bounds {
        match self {
            Shape::Circle { center, radius_m } => {
                bounds::cap(center.xyz(), radius_m / geo::EARTH_RADIUS_M)
            }
            Shape::Polygons(polygons) => polygons
                .iter()
                .map(|p| p.bounds)
                .reduce(bounds::union)
                .expect("a shape has at least one polygon"),
        }
    }

    /// [`bounds`](Self::bounds) grown to contain every point within `margin_m` of the region.
    pub fn bounds_expanded(&self, margin_m: f64) -> Bounds {
        bounds::expand(self.bounds(), margin_m)
    }

    /// The number of distinct vertices (closing positions not counted); 0 for a circle.
    pub fn vertex_count(&self) -> usize {
        match self {
            Shape::Circle { .. } => 0,
            Shape::Polygons(ps) => ps
                .iter()
                .map(|p| p.outer.len() + p.holes.iter().map(Ring::len).sum::<usize>())
                .sum(),
        }
    }
}
