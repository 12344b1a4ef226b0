//! The broker's accounts: trackers authenticated per vehicle at a Mosquitto with the
//! dynamic-security plugin, provisioned through the API, and what nobody else may do there.

mod bounds;
mod sessions;
mod stats;
mod tls;
mod trackers;
