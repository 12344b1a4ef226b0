//! `/v1/geofences` (staff): [`model`] (what a fence is and the checks on it) and [`routes`]
//! (create, list, read, change, delete). Evaluating fences on the live stream is
//! [`crate::geofences`]' work.

pub mod model;
pub mod routes;

pub use routes::routes;
