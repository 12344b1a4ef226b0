//! The `/v1` API against a real daemon and PostgreSQL.

mod accounts;
mod audit;
mod auth;
mod commitments;
mod connections;
mod deactivation;
mod driver_vehicles;
mod errors_registry;
mod errors_rentals;
mod fleet;
mod idempotency;
mod pools;
mod refresh;
mod rental_contention;
mod rental_windows;
mod rentals;
mod row_security;
mod time_rules;
mod timeouts;
