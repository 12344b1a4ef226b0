//! `/v1/geofences` (staff): [`model`] (what a fence is and the checks on it), [`routes`]
//! (create, list, read, change, delete) and [`members`] (who is inside). Evaluating fences on
//! the stream is [`crate::fencing`]'s work.

pub mod members;
pub mod model;
pub mod routes;

/// Every geofence route.
pub fn routes(r: Routes) -> Routes {
    members::routes(routes::routes(r))
}

use crate::api::routes::Routes;
