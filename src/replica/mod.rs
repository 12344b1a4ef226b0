//! The optional read replica (`database.replica_url`, docs/replica.md): a streaming standby
//! of the primary that the read-heavy routes read while it is reachable and within
//! `database.replica_max_lag_ms`, so that history and reports do not compete with ingestion
//! and the API's writes for the primary.
//!
//! # Layout
//! - This file: [`Replica`], its pool and what the monitor last found, asked by every read
//!   without a round trip.
//! - [`health`]: the rule, pure: the lag bound from a check's sample, and whether to read.
//! - [`monitor`]: the background task that checks the replica (and the primary's WAL
//!   position) once a second.
//! - [`metrics`]: its lag, whether it is read, and who served the reads.
//!
//! Which routes read it, and their fallback to the primary, is the API's business
//! (`api::reads`); this module knows no route.

pub mod health;
pub mod metrics;
pub mod monitor;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::time::Instant;

use crate::config::DatabaseConfig;
use crate::db::{self, DbError, PgTarget};
use health::{Health, State};
use metrics::ReplicaMetrics;

/// The replica: its pool and its health.
pub struct Replica {
    pub pool: Pool,
    /// Where the monitor connects (its own connection, outside the pool).
    pub target: PgTarget,
    pub max_lag: Duration,
    /// Written by the monitor once a second and when a read loses the connection; read by
    /// every read. A `std` mutex: held for a copy, never across an `.await`.
    health: Mutex<Health>,
    metrics: Arc<ReplicaMetrics>,
}

impl Replica {
    /// The replica of `config`, or `None` without `database.replica_url`. Connects lazily:
    /// a replica that is down does not stop the start.
    pub fn new(
        config: &DatabaseConfig,
        metrics: Arc<ReplicaMetrics>,
    ) -> Result<Option<Arc<Replica>>, DbError> {
        let Some(target) = db::replica_target(config)? else {
            return Ok(None);
        };
        Ok(Some(Arc::new(Replica {
            pool: db::replica_pool(config, target.clone())?,
            target,
            max_lag: Duration::from_millis(config.replica_max_lag_ms),
            health: Mutex::new(Health::default()),
            metrics,
        })))
    }

    /// Whether a read now should go to the replica.
    pub fn usable(&self) -> bool {
        self.health().usable(self.max_lag, Instant::now())
    }

    /// What the last check found, and the lag bound now (`None` when unknown).
    pub fn status(&self) -> (State, Option<Duration>) {
        let h = self.health();
        (h.state, h.lag_at(Instant::now()))
    }

    /// A read lost the replica's connection: read the primary until a check finds it back.
    pub fn lost(&self) {
        self.update(|h| h.set(State::Unreachable, Instant::now()));
    }

    /// Records what a check found (through `change`) and publishes it.
    pub(crate) fn update(&self, change: impl FnOnce(&mut Health)) -> Health {
        let health = {
            let mut h = self.health.lock().unwrap_or_else(|e| e.into_inner());
            change(&mut h);
            *h
        };
        let m = &self.metrics;
        let now = Instant::now();
        if let Some(lag) = health.lag_at(now) {
            m.lag_seconds.set(lag.as_secs_f64());
        }
        m.usable.set(i64::from(health.usable(self.max_lag, now)));
        health
    }

    /// Counts a read served by the replica (`true`) or the primary.
    pub fn served(&self, by_replica: bool) {
        count_read(&self.metrics, by_replica);
    }

    /// Counts a read retried on the primary after the replica failed it.
    pub fn retried(&self) {
        self.metrics.retried.inc();
    }

    fn health(&self) -> Health {
        *self.health.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Counts a read of a replica route (with or without a replica configured).
pub fn count_read(metrics: &ReplicaMetrics, by_replica: bool) {
    let by = if by_replica { "replica" } else { "primary" };
    metrics.reads.get_or_create(&[("served_by", by)]).inc();
}
