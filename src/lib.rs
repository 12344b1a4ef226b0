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
//! envelope), [`api`] (the `/v1` API) and [`daemon`] (start-up and shutdown). [`reading`]
//! and [`wire`] are the data types and binary format.
//!
//! Dispatch, fed by the writers after each commit:
//! - [`live`]: the in-memory geodesic index of every vehicle's latest position (and its Redis
//!   write-through), answering nearest-vehicle queries from memory.
//! - [`dispatch`]: the driver roster (kept current by PostgreSQL notifications), the job
//!   state machine, the background matcher that offers jobs to the nearest available
//!   drivers, and the job events behind the push streams.

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
