//! Stage 4: writers COPY batches into PostgreSQL and resolve their acks after the commit.
//!
//! The fast path is one transaction of plain binary `COPY`s into the partitioned tables.
//! A batch that hits an already-stored `(vehicle_id, ts)` (a redelivery or a re-send) is
//! written again through per-session staging tables and `INSERT … ON CONFLICT DO NOTHING`,
//! so duplicates cost only the batches that contain them. What to do after an error is
//! [`retry::classify`]'s decision; transient errors are retried until they clear or the
//! daemon is stopped, and rows PostgreSQL refuses are isolated by bisection and recorded as
//! rejected, so every message ends up stored or rejected and never blocks the ones after it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use deadpool_postgres::Pool;
use futures_util::SinkExt;
use tokio_postgres::error::SqlState;
use tokio_util::sync::CancellationToken;

use crate::ingest::batcher::Batch;
use crate::ingest::copy;
use crate::ingest::decoders::Encoded;
use crate::ingest::partitions::{PartitionError, Partitions};
use crate::ingest::registry::KnownVehicles;
use crate::ingest::reject_budget::RejectBudget;
use crate::metrics::{kind_label, reason_label, Metrics};

use crate::ingest::reading::Kind;
use crate::retry::{self, Action};

/// Staging tables for the deduplicating path: per session, emptied at every commit.
const CREATE_STAGING: &str = "
    CREATE TEMP TABLE IF NOT EXISTS fleetd_stage_gps (LIKE gps_readings) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS fleetd_stage_obd (LIKE obd_readings) ON COMMIT DELETE ROWS;";
/// The deduplicating path's inserts, in `(vehicle_id, ts)` order: a row that another
/// transaction inserted and has not committed yet makes this one wait for it, and since every
/// merge waits in the same order (GPS before OBD, then by key), no two can wait for each other
/// (unordered, two nodes merging overlapping re-sends deadlocked, each costing a second of
/// `deadlock_timeout` and a retry).
pub const MERGE_GPS: &str = "INSERT INTO gps_readings SELECT * FROM fleetd_stage_gps
                             ORDER BY vehicle_id, ts ON CONFLICT DO NOTHING";
pub const MERGE_OBD: &str = "INSERT INTO obd_readings SELECT * FROM fleetd_stage_obd
                             ORDER BY vehicle_id, ts ON CONFLICT DO NOTHING";
/// The fast path's plain COPYs are in arrival order, so they must not wait: a row another
/// transaction holds uncommitted ends in a unique violation once it commits anyway, so after
/// this long the batch goes the deduplicating way instead (`55P03`, see [`WriteError::action`]).
pub const FAST_PATH_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '50ms'";

/// The trip segmenter's note of what this transaction stored (migrations/0013_trips.sql).
const INSERT_MARK: &str =
    "INSERT INTO segment_marks (vehicle_ids, gps_from, obd_from) VALUES ($1, $2, $3)";

type Ts = Option<chrono::DateTime<chrono::Utc>>;

/// Each vehicle of `group` with readings, and its earliest GPS and OBD readings' times.
fn segment_marks(group: &[Encoded]) -> Option<(Vec<&str>, Vec<Ts>, Vec<Ts>)> {
    let mut earliest: HashMap<&str, (Option<i64>, Option<i64>)> = HashMap::new();
    let min = |a: Option<i64>, b: Option<i64>| a.into_iter().chain(b).min();
    for m in group {
        let Some(v) = m.vehicle_id.as_deref() else {
            continue;
        };
        if m.earliest_gps_us.is_none() && m.earliest_obd_us.is_none() {
            continue;
        }
        let e = earliest.entry(v).or_default();
        *e = (min(e.0, m.earliest_gps_us), min(e.1, m.earliest_obd_us));
    }
    if earliest.is_empty() {
        return None;
    }
    let at = |us: Option<i64>| us.and_then(chrono::DateTime::from_timestamp_micros);
    let mut vehicles = Vec::with_capacity(earliest.len());
    let (mut gps, mut obd) = (Vec::new(), Vec::new());
    for (v, (g, o)) in earliest {
        vehicles.push(v);
        gps.push(at(g));
        obd.push(at(o));
    }
    Some((vehicles, gps, obd))
}

/// Why one attempt at writing a batch failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// No connection could be had from the pool.
    #[error("no database connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// PostgreSQL refused a statement or the connection broke.
    #[error("{0}")]
    Db(#[from] tokio_postgres::Error),
    /// Creating a day partition failed.
    #[error("{0}")]
    Partition(#[from] PartitionError),
}

impl WriteError {
    /// What the writer does next; `dedup`: whether the failed attempt was the deduplicating
    /// one. A lock wait timed out on the fast path ([`FAST_PATH_LOCK_TIMEOUT`]) means another
    /// transaction holds some of these rows: deduplicate.
    pub fn action(&self, dedup: bool) -> Action {
        match self {
            WriteError::Db(e) if !dedup && e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                Action::Deduplicate
            }
            WriteError::Db(e) => {
                let message = e.as_db_error().map(|d| d.message()).unwrap_or_default();
                retry::classify(e.code(), message)
            }
            // A failed partition DDL cannot be isolated to a row: it is either transient or a
            // schema problem only an operator fixes, so keep retrying (and logging).
            WriteError::Partition(_) | WriteError::Pool(_) => Action::Backoff,
        }
    }
}

/// Rows a commit wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Written {
    gps: u64,
    obd: u64,
    gps_sent: u64,
    obd_sent: u64,
}

/// Retry timing.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub min: Duration,
    pub max: Duration,
}

/// Called with every group of messages right after its commit (e.g. to update the live
/// position index). Must be quick and must not block: it runs on the writer's task.
pub type OnCommit = Arc<dyn Fn(&[Encoded]) + Send + Sync>;

/// One writer; several run side by side, each with its own connection at a time.
pub struct Writer {
    pub pool: Pool,
    pub partitions: Arc<Partitions>,
    pub metrics: Arc<Metrics>,
    pub retry: RetryPolicy,
    /// Cancelled at the shutdown deadline: stop retrying and leave the batch unacknowledged.
    pub abort: CancellationToken,
    pub on_commit: Option<OnCommit>,
    /// With `ingest.unknown_vehicles = "reject"`: the registered vehicles, checked in each
    /// batch's transaction.
    pub known: Option<Arc<KnownVehicles>>,
    /// Reject rows per vehicle, also for the `unknown_vehicle` ones.
    pub reject_budget: Option<Arc<RejectBudget>>,
    /// Note each transaction's vehicles for the trip segmenter (`trips.enabled`).
    pub segment_marks: bool,
}

impl Writer {
    /// Writes batches until `input` is closed and drained, or the abort token fires.
    pub async fn run(self, input: async_channel::Receiver<Batch>) {
        // Every action at 0 from the start, so that dashboards see the series before a failure.
        for action in [
            Action::Deduplicate,
            Action::CreatePartitions,
            Action::Backoff,
            Action::Isolate,
        ] {
            let _ = self
                .metrics
                .db_errors
                .get_or_create(&[("action", action_label(action))]);
        }
        while let Ok(batch) = input.recv().await {
            self.metrics.writer_queue_depth.set(input.len() as i64);
            if self.abort.is_cancelled() {
                tracing::warn!(
                    messages = batch.messages.len(),
                    "shutdown deadline passed, batch left unacknowledged"
                );
                continue;
            }
            self.write(batch.messages).await;
        }
    }

    /// Writes messages until every one is stored or rejected (then resolves their acks), or
    /// the abort token fires (then drops them unacknowledged).
    async fn write(&self, messages: Vec<Encoded>) {
        // Work list of groups still to write; bisection pushes halves back.
        let mut pending = vec![messages];
        let mut dedup = false;
        let mut attempt = 0u32;
        while let Some(mut group) = pending.pop() {
            let started = Instant::now();
            match self.try_write(&mut group, dedup).await {
                Ok(written) => {
                    attempt = 0;
                    self.record(&group, written, started);
                    if let Some(hook) = &self.on_commit {
                        hook(&group);
                    }
                    for m in group {
                        m.ack.resolve();
                    }
                }
                Err(error) => {
                    let action = error.action(dedup);
                    self.metrics
                        .db_errors
                        .get_or_create(&[("action", action_label(action))])
                        .inc();
                    match action {
                        Action::Deduplicate => {
                            dedup = true;
                            pending.push(group);
                        }
                        Action::CreatePartitions => {
                            let days: Vec<i64> =
                                group.iter().flat_map(|m| m.days.iter().copied()).collect();
                            self.partitions.forget(&days);
                            pending.push(group);
                        }
                        Action::Backoff => {
                            let delay = retry::backoff(
                                attempt,
                                self.retry.min,
                                self.retry.max,
                                rand::random::<f64>(),
                            );
                            attempt += 1;
                            tracing::warn!(%error, rows = rows(&group), attempt, ?delay, "batch write failed, retrying");
                            let left = group.len() + pending.iter().map(Vec::len).sum::<usize>();
                            tokio::select! {
                                _ = tokio::time::sleep(delay) => pending.push(group),
                                _ = self.abort.cancelled() => {
                                    tracing::warn!(messages = left,
                                        "shutdown deadline passed while retrying, messages left unacknowledged");
                                    return;
                                }
                            }
                        }
                        Action::Isolate => {
                            tracing::warn!(%error, messages = group.len(), "database refused a batch, isolating the rows");
                            dedup = true;
                            let mut group = group;
                            if group.len() > 1 {
                                let right = group.split_off(group.len() / 2);
                                pending.push(right);
                                pending.push(group);
                                continue;
                            }
                            let m = group.pop().expect("one message");
                            if m.gps_rows + m.obd_rows == 0 {
                                // Even the reject row is refused: nothing sane is left to store.
                                tracing::error!(%error, topic = %m.topic, "cannot record a rejected message; acknowledging it to unblock the connection");
                                m.ack.resolve();
                                continue;
                            }
                            pending.push(vec![m.into_rejected(&error.to_string())]);
                        }
                    }
                }
            }
        }
    }

    async fn try_write(&self, group: &mut [Encoded], dedup: bool) -> Result<Written, WriteError> {
        let mut days: Vec<i64> = group.iter().flat_map(|m| m.days.iter().copied()).collect();
        days.sort_unstable();
        days.dedup();
        self.partitions.ensure(&days).await?;

        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        if let Some(known) = &self.known {
            // Rejected messages stay rejected if this transaction is retried.
            known
                .screen(&tx, group, self.reject_budget.as_deref())
                .await?;
        }
        let group = &*group;
        if dedup {
            tx.batch_execute(CREATE_STAGING).await?;
        } else {
            tx.batch_execute(FAST_PATH_LOCK_TIMEOUT).await?;
        }
        let mut written = Written::default();
        let gps_rows: usize = group.iter().map(|m| m.gps_rows).sum();
        if gps_rows > 0 {
            let stmt = if dedup {
                copy::COPY_GPS_STAGE
            } else {
                copy::COPY_GPS
            };
            let sent = copy_in(&tx, stmt, group.iter().map(|m| &m.gps[..])).await?;
            written.gps_sent = sent;
            written.gps = if dedup {
                tx.execute(MERGE_GPS, &[]).await?
            } else {
                sent
            };
        }
        let obd_rows: usize = group.iter().map(|m| m.obd_rows).sum();
        if obd_rows > 0 {
            let stmt = if dedup {
                copy::COPY_OBD_STAGE
            } else {
                copy::COPY_OBD
            };
            let sent = copy_in(&tx, stmt, group.iter().map(|m| &m.obd[..])).await?;
            written.obd_sent = sent;
            written.obd = if dedup {
                tx.execute(MERGE_OBD, &[]).await?
            } else {
                sent
            };
        }
        if let Some((vehicles, gps, obd)) =
            self.segment_marks.then(|| segment_marks(group)).flatten()
        {
            let stmt = tx.prepare_cached(INSERT_MARK).await?;
            tx.execute(&stmt, &[&vehicles, &gps, &obd]).await?;
        }
        if group.iter().any(|m| !m.rejects.is_empty()) {
            copy_in(
                &tx,
                copy::COPY_REJECTS,
                group.iter().map(|m| &m.rejects[..]),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(written)
    }

    fn record(&self, group: &[Encoded], w: Written, started: Instant) {
        let m = &self.metrics;
        m.copy_seconds.observe(started.elapsed().as_secs_f64());
        m.batch_rows.observe(rows(group) as f64);
        m.readings_stored
            .get_or_create(&kind_label(Kind::Gps))
            .inc_by(w.gps);
        m.readings_stored
            .get_or_create(&kind_label(Kind::Obd))
            .inc_by(w.obd);
        m.readings_duplicate
            .get_or_create(&kind_label(Kind::Gps))
            .inc_by(w.gps_sent - w.gps);
        m.readings_duplicate
            .get_or_create(&kind_label(Kind::Obd))
            .inc_by(w.obd_sent - w.obd);
        for msg in group {
            let family = if msg.rejects_unrecorded {
                &m.rejects_unrecorded
            } else {
                &m.readings_rejected
            };
            for r in &msg.reject_reasons {
                family.get_or_create(&reason_label(*r)).inc();
            }
            m.ingest_latency_seconds
                .observe(msg.received.elapsed().as_secs_f64());
        }
    }
}

fn rows(group: &[Encoded]) -> usize {
    group.iter().map(Encoded::rows).sum()
}

fn action_label(a: Action) -> &'static str {
    match a {
        Action::Deduplicate => "deduplicate",
        Action::CreatePartitions => "create_partitions",
        Action::Backoff => "backoff",
        Action::Isolate => "isolate",
    }
}

/// Streams one COPY: header, every message's tuples, trailer, as a single buffer.
async fn copy_in<'a>(
    tx: &deadpool_postgres::Transaction<'_>,
    statement: &str,
    parts: impl Iterator<Item = &'a [u8]> + Clone,
) -> Result<u64, tokio_postgres::Error> {
    let len: usize = parts.clone().map(<[u8]>::len).sum();
    let mut buf = Vec::with_capacity(len + 32);
    copy::header(&mut buf);
    for p in parts {
        buf.extend_from_slice(p);
    }
    copy::trailer(&mut buf);
    let stmt = tx.prepare_cached(statement).await?;
    let sink = tx.copy_in::<_, Bytes>(&stmt).await?;
    futures_util::pin_mut!(sink);
    sink.send(Bytes::from(buf)).await?;
    sink.finish().await
}
