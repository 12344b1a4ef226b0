//! fleet-sim: a simulated vehicle fleet that publishes telemetry to fleetd over MQTT, and
//! checks afterwards that PostgreSQL holds exactly what it should.
//!
//! # Layout
//! - `cli`: flags; `parse`: their value parsers; `config`: the validated parameters.
//! - `rng`, `geo`, `vehicle`: the deterministic motion and engine model.
//! - `payload`: readings as JSON / binary payloads and their deliberately broken variants;
//!   `spec`: an independent check of payloads against docs/telemetry.md (used by tests).
//! - `shard`: one connection's vehicles in `ts` order on their time grid; `route`: what
//!   each reading becomes (faults, batches, outages, duplicates).
//! - `pacing`: the simulated clock's anchor and rate limiting.
//! - `publisher`: a run from start to shutdown; `connection`: one MQTT connection and its
//!   event-loop task (PubAck counting); `generator`: one generator thread.
//! - `stats`, `report`: counters, the progress line and the final report.
//! - `manifest`: what was published; `verify`: the comparison with PostgreSQL.
//! - `truth`: what each vehicle really did (dwells and legs); `trips_expect`: the trips and
//!   stops fleetd should derive from it; `trips_compare`: the comparison with the stored
//!   ones, `trips_report` its result; `verify_trips`: `verify --trips` (truth file, tables).
//! - `bench`: generation speed without a broker.
//! - `peer`: the benchmark scripts' load tools (`fleet-sim peer count|naive|nearest`).
//! - `provision`: tracker accounts issued through fleetd's API, and the credentials file
//!   `run --credentials` connects each vehicle with.

pub mod bench;
pub mod cli;
pub mod config;
mod connection;
mod generator;
pub mod geo;
pub mod manifest;
pub mod pacing;
pub mod parse;
pub mod payload;
pub mod peer;
pub mod provision;
pub mod publisher;
pub mod report;
mod resend;
pub mod rng;
mod route;
pub mod shard;
pub mod spec;
pub mod stats;
pub mod tls;
pub mod trips_compare;
pub mod trips_expect;
pub mod trips_report;
pub mod truth;
pub mod vehicle;
pub mod verify;
pub mod verify_trips;
