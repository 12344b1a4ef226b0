//! fleetd's integration tests, one test binary (`tests/it`) with a module per area. Each
//! test that needs services gets its own PostgreSQL database (from `FLEETD_TEST_DATABASE_URL`)
//! and its own Mosquitto on a free port; the daemon runs in-process or as a child process.
//!
//! - [`common`]: the harness (databases, brokers, daemons, MQTT publisher, HTTP client,
//!   API/dispatch/error-status fixtures, a headless browser).
//! - [`alerts`]: alert rules and alerts: the routes, one alert per rule and subject under
//!   concurrency, clear times, the time-based rules on a manual clock and two timers.
//! - [`api`]: the `/v1` API against a real daemon and PostgreSQL: auth, the fleet registry,
//!   commitments, rentals and their windows and contention, idempotency keys, and every
//!   error status of the registry and rental routes.
//! - [`browser`]: the browser harness (headless Chromium over WebDriver) against the daemon:
//!   pages load, every non-loopback request is blocked, a failure leaves a screenshot.
//! - [`broker`]: trackers' accounts at a secured Mosquitto, provisioned through the API.
//! - [`dispatch`]: jobs, matching, live positions and `nearest`, the SSE stream, and dispatch
//!   under contention; the matcher on virtual time.
//! - [`events`]: the event outbox: every change's events, in commit order.
//! - [`finance`]: closed periods of the ledger (postings racing a close), reversals through
//!   the API, and the revenue, vehicle-costs and receivables reports, reproducible once closed.
//! - [`geofences`]: the geofence shapes against PostGIS `geography` (`ST_Covers`,
//!   `ST_Distance` on the sphere); `/v1/geofences`.
//! - [`ingest`]: the ingestion pipeline end to end, migrations and partitions, the delivery
//!   guarantee under failure (reliability and the small drills) and the decoder's property
//!   tests.
//! - [`jetstream`]: private NATS servers (one node or a three-node cluster) with JetStream and
//!   the MQTT listener: MQTT topics as NATS subjects, and what a tracker's PUBACK is worth.
//! - [`invoices`]: invoices issued on demand and at completion, their tax in the ledger,
//!   voiding, 50 concurrent issues numbered without gaps, the HTML document, hostile input.
//! - [`ledger`]: the double-entry ledger: what PostgreSQL refuses, posting once, the backfill,
//!   payment states and refunds (50 concurrent refunds), and random money flows that keep
//!   every journal balanced and each rental's balance equal to its receivable.
//! - [`live`]: the live index's property tests and the Redis write-through.
//! - [`locations`]: `/v1/locations`, one-way rentals' fee, and availability by the location a
//!   vehicle is parked at (its geofence or the radius around its point).
//! - [`maintenance`]: preventive maintenance schedules and what is due, on a manual clock; the
//!   due list's SQL against the reference rule on random fleets.
//! - [`monitoring`]: the Grafana dashboard against a running daemon's `/metrics`, the metrics
//!   added for it, and `fleetd healthcheck` (the container's probe).
//! - [`replica`]: the read replica: which routes read it, its lag limit, and the fallback to
//!   the primary when it is behind, killed or absent, on a primary and replica of the test's
//!   own.
//! - [`http_config`]: the HTTP basics and start-up configuration errors, through the binary.
//! - [`layout`]: the source tree's dependencies run one way (no import cycles).
//!
//! Run everything with `cargo test --test it`, one area or file by its module path:
//! `cargo test --test it api::rentals::`, `cargo test --test it ingest::drills::`, or one test
//! by name with `-- --exact`. `scripts/test.sh` runs the whole suite as CI does.
//!
//! All tests share one process. None may change process-wide state (environment variables,
//! the working directory, a global tracing subscriber, signal handlers): the daemon in-process
//! installs none, and child daemons get their settings through `Command::envs`.

mod alerts;
mod api;
mod broker;
mod browser;
mod common;
mod console;
mod dispatch;
mod events;
mod finance;
mod geofences;
mod http_config;
mod ingest;
mod invoices;
mod jetstream;
mod layout;
mod ledger;
mod live;
mod locations;
mod maintenance;
mod monitoring;
mod replica;
mod trips;
