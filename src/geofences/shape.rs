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
//! is the side that does not contain that box corner. Whenever that box holds the smaller
//! side (its edges' box, grown to the poles or axis points it straddles), the corner is on the
//! larger side and the two rules agree. `tests/it/geofences/geometry.rs` compares the two
//! on fence-sized polygons (poles, antimeridian, holes, MultiPolygons) and on much larger
//! rings (along lat -30, along lat 2 — a cap just under a hemisphere — and a band around 300°
//! of the equator): they agree everywhere but within 5 cm of a boundary, which it skips. They could
//! part only on a ring whose box does not hold its smaller side, far beyond any fence; none
//! was found.
//!
//! The boundary is inside (`ST_Covers`, not `ST_Contains`), with [`BOUNDARY_M`] of tolerance,
//! so that [`Shape::contains`] is true exactly when [`Shape::distance_outside_m`] is 0.

use super::bounds::{self, Bounds};
use super::error::ShapeError;
use super::limits::{BOUNDARY_M, MAX_RADIUS_M, MIN_RADIUS_M};
use super::point::Point;
use super::polygon::Polygon;
use super::{geojson, sphere, validate};
use crate::live::geo;

/// A fence's region.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Every point within `radius_m` (great-circle) of `center`.
    Circle { center: Point, radius_m: f64 },
    /// The union of one or more polygons (a GeoJSON Polygon gives one).
    Polygons(Vec<Polygon>),
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
                polygons.iter().any(|poly| poly.covers(v))
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
                .map(Polygon::bounds)
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
            Shape::Polygons(ps) => ps.iter().map(|p| p.vertex_count()).sum(),
        }
    }
}
