//! Locations and one-way rentals: `/v1/locations` (CRUD, roles, hostile input), the one-way
//! fee as a charge of its own, and availability by the location a vehicle is parked at.

mod one_way;
mod parked;
mod routes;
