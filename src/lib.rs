//! fleetd: telemetry ingestion with geospatial dispatch for vehicle fleets.
//!
//! # Layout
//! The ingestion pipeline, one stage per file, wired in [`pipeline`] downstream first:
//! - [`mqtt`]: persistent MQTT sessions; forwards messages, sends acks released by [`inflight`].
//! - [`decoders`]: decoder threads; [`topic`] + [`decode`] validate, [`copy`] encodes rows.
//! - [`batcher`]: groups messages by rows, bytes or age.
//! - [`sink`]: COPY writers; [`retry`] decides what an error means; [`partitions`] keeps the
//!   day partitions.
//!
//! Around it: [`config`], [`db`] (pool), [`migrate`], [`metrics`], [`http`] (server, error
//! envelope), [`api`] (the `/v1` API) and [`daemon`] (start-up and shutdown). [`reading`] and [`wire`] are the data types and binary format.
//! [`live`] is the in-memory index of every vehicle's latest position, for dispatch.

pub mod api;
pub mod batcher;
pub mod config;
pub mod copy;
pub mod daemon;
pub mod db;
pub mod decode;
pub mod decoders;
pub mod dispatch;
pub mod http;
pub mod inflight;
pub mod live;
pub mod metrics;
pub mod migrate;
pub mod mqtt;
pub mod partitions;
pub mod pipeline;
pub mod reading;
pub mod retry;
pub mod sink;
pub mod topic;
pub mod wire;
