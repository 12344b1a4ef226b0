//! Locations: `/v1/locations` (CRUD, roles, hostile input) and availability by the location a
//! vehicle is parked at.

mod parked;
mod routes;
