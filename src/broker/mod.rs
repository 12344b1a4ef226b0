//! The MQTT broker's accounts, administered by fleetd through Mosquitto's dynamic-security
//! plugin ([`admin`]): a tracker account per vehicle and the daemon's own ([`accounts`]).
//! docs/security.md describes the model; EMQX and HiveMQ equivalents are documented there.
//! [`sessions`]: the daemon's persistent sessions, and dropping those nobody owns.

pub mod accounts;
pub mod admin;
pub mod sessions;

pub use accounts::{issue_tracker, revoke_tracker, setup, tracker_name, TrackerAccount};
pub use admin::{Admin, BrokerError};
