//! The MQTT broker's accounts, administered by fleetd through Mosquitto's dynamic-security
//! plugin ([`admin`]): a tracker account per vehicle and the daemon's own ([`accounts`]).
//! docs/security.md describes the model; EMQX and HiveMQ equivalents are documented there.

pub mod accounts;
pub mod admin;

pub use accounts::{issue_tracker, revoke_tracker, setup, tracker_name, TrackerAccount};
pub use admin::{Admin, BrokerError};
