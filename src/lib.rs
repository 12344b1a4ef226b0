//! fleetd: telemetry ingestion with geospatial dispatch for vehicle fleets.
//!
//! # Layout
//! [`ingest`]: the ingestion pipeline, one stage per file, wired in `ingest/mod.rs` downstream
//! first:
//! - `ingest::mqtt`: persistent MQTT sessions; forwards messages, sends acks released by
//!   `ingest::inflight`.
//! - `ingest::decoders`: decoder threads; `topic` + `decode` validate, `copy` encodes rows.
//! - `ingest::batcher`: groups messages by rows, bytes or age.
//! - `ingest::sink`: COPY writers; [`retry`] decides what an error means; `ingest::partitions`
//!   keeps the day partitions.
//!
//! Around it: [`config`], [`db`] (pools), [`replica`] (the optional read replica and its
//! lag monitor), [`tls`] (rustls for the broker, PostgreSQL and
//! Redis links), [`migrate`], [`metrics`], [`api`] (the HTTP server: probes, the error envelope
//! and the `/v1` API), [`broker`] (the broker's tracker and daemon accounts, and the daemon's
//! sessions: `fleetd broker sessions`) and [`daemon`] (start-up and shutdown).
//! `ingest::reading` and [`wire`] are the data types and binary format.
//!
//! Dispatch, fed by the writers after each commit:
//! - [`live`]: the in-memory geodesic index of every vehicle's latest position (and its Redis
//!   write-through), answering nearest-vehicle queries from memory.
//! - [`dispatch`]: the driver roster (kept current by PostgreSQL notifications), the job
//!   state machine, the background matcher that offers jobs to the nearest available
//!   drivers, and the job events behind the push streams.
//! - [`clock`]: the wall clock they share, virtual under `tokio::time::pause()` in tests.
//!
//! [`geofences`]: the geofence engine's pure core (shapes on the sphere, the fence index,
//! each vehicle's membership and its transitions); [`fencing`] runs it on the stored
//! readings inside the trip segmenter's pass and raises the `geofence.*` events.
//!
//! [`maintenance`]: preventive maintenance, when each schedule falls due for each vehicle (the
//! rule, pure, and the fleet-wide due list from one query).
//!
//! [`ledger`]: the double-entry ledger every money-moving change posts to, in its own
//! transaction (charges, payments, refunds, maintenance costs).
//!
//! [`timed`]: the rules that fire as time passes (shifts end, licences expire, no-shows).
//!
//! [`alerts`]: alert rules, the alerts they raise (one unresolved per rule and subject, each
//! transition an event) and the timer of the time-based rules.
//!
//! [`events`]: the transactional outbox every state change writes its events to (the API,
//! the dispatcher, the time rules); it depends on nothing else of fleetd. [`webhooks`]
//! delivers its events to subscribed URLs.
//!
//! [`web`]: the operator's console and Swagger UI, static files embedded in the binary and
//! served with a strict Content-Security-Policy; the API's router merges them in.
//!
//! Dependencies run one way: [`api`] → [`dispatch`] → [`live`] → [`ingest`]
//! (`tests/it/layout.rs` checks that no folder or module uses one that uses it back).

pub mod alerts;
pub mod api;
pub mod broker;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod db;
pub mod dispatch;
pub mod events;
pub mod fencing;
pub mod geofences;
pub mod ingest;
pub mod ledger;
pub mod limiter;
pub mod live;
pub mod maintenance;
pub mod metrics;
pub mod migrate;
pub mod replica;
pub mod retry;
pub mod timed;
pub mod tls;
pub mod trips;
pub mod vehicle_id;
pub mod web;
pub mod webhooks;
pub mod wire;
