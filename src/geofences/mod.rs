//! The geofence engine's pure core: fence shapes on the sphere, the index of fences, and each
//! vehicle's membership state machine. Synchronous and free of I/O: the API, the storage and
//! the stream wiring are built on it.
//!
//! # Layout
//! - [`shape`]: [`Shape`] (a circle, or polygons with great-circle edges, PostGIS `geography`
//!   semantics and its interior rule), [`Point`], and the predicates
//!   [`Shape::contains`], [`Shape::distance_outside_m`], [`Shape::bounds`].
//! - `geojson` reads a GeoJSON Polygon/MultiPolygon, `validate` checks and orients its rings
//!   into [`Polygon`]s ([`ShapeError`] in `error` says what is wrong and where), against the
//!   [`limits`] (sizes, radii, tolerances).
//! - `polygon` and `ring`: oriented rings and point location by the nearest boundary point;
//!   `sphere`: the unit-sphere vector geometry under it; [`bounds`]: 3-D boxes of regions.
//! - [`index`]: [`FenceIndex`], every [`Fence`] by id and in an R-tree of its bounds grown by
//!   its hysteresis, and [`FenceIndex::evaluate`], the fences a vehicle is inside after a reading.
//! - [`membership`]: [`Membership`], a vehicle's visits, and the step from a reading to its
//!   [`Transition`]s (entered, exited, dwell), in timestamp order only; [`selector`]: which
//!   vehicles a fence applies to.
//!
//! Like the live index, everything is done with unit vectors in 3-D: there is no seam at the
//! antimeridian and no singularity at the poles.

pub mod bounds;
mod error;
mod geojson;
pub mod index;
pub mod limits;
pub mod membership;
mod point;
mod polygon;
mod ring;
pub mod selector;
pub mod shape;
mod sphere;
mod validate;

pub use bounds::Bounds;
pub use error::{Loc, ShapeError};
pub use index::{Fence, FenceError, FenceIndex, MAX_HYSTERESIS_M};
pub use limits::{BOUNDARY_M, MAX_RADIUS_M, MAX_VERTICES, MIN_RADIUS_M, TOUCH_M};
pub use membership::{Membership, Step, Transition, Visit};
pub use point::Point;
pub use polygon::Polygon;
pub use selector::{Selector, Subject};
pub use shape::Shape;
pub use sphere::destination;

#[cfg(test)]
mod tests;
