//! `/v1/locations`: [`model`] (what a location is and the checks on it), [`routes`] (create,
//! list, read, change, delete) and [`parked`] (the vehicles whose latest position is at a
//! location, which availability filters by). Rentals start and end at
//! locations (`src/api/rentals/ends.rs`).

pub mod model;
pub mod parked;
pub mod routes;

use crate::api::routes::Routes;

/// Every location route.
pub fn routes(r: Routes) -> Routes {
    routes::routes(r)
}
