//! [`ShapeError`]: why a fence shape was refused, worded for an API client (HTTP 422).

use std::fmt;

use super::limits::{MAX_RADIUS_M, MAX_VERTICES, MIN_RADIUS_M};

/// Where in a shape something is wrong: the polygon (MultiPolygon only), the ring (0 is the
/// outer ring, holes follow) and the vertex, as indexes into the GeoJSON `coordinates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    /// The polygon of a MultiPolygon; `None` for a Polygon.
    pub polygon: Option<usize>,
    pub ring: usize,
    pub vertex: Option<usize>,
}

impl Loc {
    pub(crate) fn ring(polygon: Option<usize>, ring: usize) -> Loc {
        Loc {
            polygon,
            ring,
            vertex: None,
        }
    }

    pub(crate) fn at(self, vertex: usize) -> Loc {
        Loc {
            vertex: Some(vertex),
            ..self
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.polygon {
            write!(f, "polygon {p}, ")?;
        }
        write!(f, "ring {}", self.ring)?;
        if let Some(v) = self.vertex {
            write!(f, ", vertex {v}")?;
        }
        Ok(())
    }
}

/// Why a shape was refused. Each message says what is wrong and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShapeError {
    /// The geometry is not a JSON object.
    #[error("the geometry must be a GeoJSON object")]
    NotObject,
    /// A member other than `type` and `coordinates` (the name is cut to 64 characters).
    #[error("unexpected member {0:?} in the geometry: only type and coordinates are allowed")]
    Member(String),
    /// `type` is missing or not `Polygon` / `MultiPolygon`.
    #[error("type must be \"Polygon\" or \"MultiPolygon\"")]
    Type,
    /// A part of `coordinates` does not have the GeoJSON structure.
    #[error("{path} must be {expected}")]
    Structure {
        /// A JSON path such as `coordinates[0][3]`.
        path: String,
        expected: &'static str,
    },
    /// More positions than [`MAX_VERTICES`], counted over every ring.
    #[error("the shape has more than {max} positions", max = MAX_VERTICES)]
    TooManyVertices,
    /// A longitude that is not a finite number within ±180.
    #[error("{at}: longitude must be a finite number between -180 and 180, got {got}")]
    Longitude { at: Loc, got: f64 },
    /// A latitude that is not a finite number within ±90.
    #[error("{at}: latitude must be a finite number between -90 and 90, got {got}")]
    Latitude { at: Loc, got: f64 },
    /// The ring's first and last positions differ.
    #[error("{at}: the ring is not closed (its last position must repeat the first)")]
    NotClosed { at: Loc },
    /// Fewer than 4 positions (3 vertices and the closing one).
    #[error("{at}: a ring needs at least 4 positions (3 vertices and the closing one), got {got}")]
    TooFewPositions { at: Loc, got: usize },
    /// A vertex at the same place as the one before it (within a millimetre).
    #[error("{at}: the vertex repeats the one before it")]
    RepeatedVertex { at: Loc },
    /// Nearly opposite consecutive vertices: which great-circle arc joins them is ambiguous.
    #[error("{at}: the edge from this vertex spans 179 degrees or more of a great circle")]
    EdgeTooLong { at: Loc },
    /// The ring doubles back along itself at this vertex.
    #[error("{at}: the ring doubles back on itself at this vertex")]
    Spike { at: Loc },
    /// Two edges of a polygon's rings cross or touch (within a millimetre).
    #[error("{at}: the edge from this vertex crosses or touches the edge from {other}")]
    SelfIntersection { at: Loc, other: Loc },
    /// The ring cuts the sphere into two halves of equal area, so its interior is ambiguous.
    #[error("{at}: the ring splits the sphere into two halves of equal area")]
    HalfSphere { at: Loc },
    /// A hole that is not inside its polygon's outer ring.
    #[error("{at}: the hole is not inside the outer ring")]
    HoleOutside { at: Loc },
    /// A hole inside another hole of the same polygon.
    #[error("{at}: the hole is inside another hole ({other})")]
    HoleInHole { at: Loc, other: Loc },
    /// A circle's centre that is not a valid position.
    #[error(
        "center must have a latitude within ±90 and a longitude within ±180, got ({lat}, {lon})"
    )]
    Center { lat: f64, lon: f64 },
    /// A circle's radius outside [`MIN_RADIUS_M`]`..=`[`MAX_RADIUS_M`].
    #[error("radius_m must be a number from {min} to {max}, got {got}", min = MIN_RADIUS_M, max = MAX_RADIUS_M)]
    Radius { got: f64 },
}
