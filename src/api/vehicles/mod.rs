//! Vehicles: [`model`] (the row and its lifecycle states), [`registry`] (create, list, read,
//! change, soft delete; id = the tracker's vehicle id), [`status`] (compare-and-set
//! lifecycle transitions and odometer readings), [`trackers`] (the trackers' broker accounts)
//! and [`vin`] (the check digit).

pub mod model;
pub mod registry;
pub mod status;
pub mod trackers;
pub mod vin;

use crate::api::routes::Routes;

/// The registry's routes, then the lifecycle and odometer routes.
pub fn routes(r: Routes) -> Routes {
    trackers::routes(status::routes(registry::routes(r)))
}
