//! Rules that fire as time passes rather than on a request: shifts (scheduled assignments)
//! past their end complete themselves and release their vehicle; a driver whose shift ended
//! or whose licence expired leaves their vehicle, so dispatch stops offering them jobs; a
//! reservation not activated within `rentals.no_show_hours` of its start becomes a no-show,
//! is charged per its plan and frees the vehicle; expired refresh tokens are deleted; the
//! audit trail's monthly partitions are created ahead; the events' day partitions are
//! created ahead and dropped past `events.retention_days`, and webhook deliveries finished
//! before then forgotten.
//!
//! Every daemon runs a pass every `rules.interval_s` on its clock (tests move a manual clock
//! and call [`TimeRules::pass`]). The rules themselves live with their domain
//! ([`crate::api::rules::seats`], [`crate::api::rentals::no_show`]); each runs here in
//! batches of [`BATCH`], one transaction per batch, and locks its rows with `SKIP LOCKED`, so
//! daemons share the work and each change happens once. Dispatch does not wait for a pass:
//! the roster already refuses a driver past their licence or shift
//! ([`crate::dispatch::roster::Seat::until_us`]).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::api::audit;
use crate::api::auth::grant;
use crate::api::rentals::no_show;
use crate::api::rules::seats;
use crate::clock::Clock;
use crate::events;
use crate::metrics::Metrics;
use crate::webhooks;

/// Monthly partitions of `audit_log` kept ready ahead of the clock.
const AUDIT_MONTHS_AHEAD: i32 = 3;
/// Day partitions of `events` kept ready ahead of the clock.
const EVENT_DAYS_AHEAD: i32 = 3;

/// Rows one transaction changes at most; a pass runs batches until one comes back short.
pub const BATCH: i64 = 500;

/// What one pass changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Assignments completed because their end passed.
    pub shifts_ended: Vec<Uuid>,
    /// Drivers who left a vehicle because their shift in it ended.
    pub seats_left: Vec<Uuid>,
    /// Drivers who left a vehicle because their licence expired.
    pub licences_expired: Vec<Uuid>,
    /// Rentals marked `no_show`.
    pub no_shows: Vec<Uuid>,
    /// Expired refresh tokens deleted.
    pub refresh_tokens_expired: u64,
}

/// The time rules of one daemon.
pub struct TimeRules {
    pool: deadpool_postgres::Pool,
    clock: Clock,
    no_show_hours: u32,
    events_retention_days: u32,
    metrics: Arc<Metrics>,
}

impl TimeRules {
    pub fn new(
        pool: deadpool_postgres::Pool,
        clock: Clock,
        no_show_hours: u32,
        events_retention_days: u32,
        metrics: Arc<Metrics>,
    ) -> TimeRules {
        TimeRules {
            pool,
            clock,
            no_show_hours,
            events_retention_days,
            metrics,
        }
    }

    /// Applies every rule at the clock's now, until nothing is left to change.
    pub async fn pass(&self) -> anyhow::Result<Pass> {
        let now = self.clock.now();
        let mut pass = Pass::default();
        loop {
            let ended = self
                .batch(|tx| Box::pin(async move { Ok(seats::end_shifts(tx, now, BATCH).await?) }))
                .await
                .context("ending shifts")?;
            let full = ended.shifts.len() as i64 == BATCH;
            pass.shifts_ended.extend(ended.shifts);
            pass.seats_left.extend(ended.drivers);
            if !full {
                break;
            }
        }
        let today = now.date_naive();
        loop {
            let expired = self
                .batch(|tx| {
                    Box::pin(async move { Ok(seats::expire_licences(tx, today, BATCH).await?) })
                })
                .await
                .context("unseating drivers with expired licences")?;
            let full = expired.len() as i64 == BATCH;
            pass.licences_expired.extend(expired);
            if !full {
                break;
            }
        }
        loop {
            let hours = self.no_show_hours;
            let marked = self
                .batch(|tx| Box::pin(no_shows(tx, now, hours)))
                .await
                .context("marking no-shows")?;
            let full = marked.len() as i64 == BATCH;
            pass.no_shows.extend(marked);
            if !full {
                break;
            }
        }
        loop {
            let deleted = self
                .batch(|tx| {
                    Box::pin(async move { Ok(grant::delete_expired(tx, now, BATCH).await?) })
                })
                .await
                .context("deleting expired refresh tokens")?;
            pass.refresh_tokens_expired += deleted;
            if (deleted as i64) < BATCH {
                break;
            }
        }
        self.batch(|tx| {
            Box::pin(async move {
                tx.execute(audit::PARTITIONS, &[&now, &AUDIT_MONTHS_AHEAD])
                    .await?;
                Ok(())
            })
        })
        .await
        .context("creating the audit trail's monthly partitions")?;
        let events_before = now - chrono::Duration::days(i64::from(self.events_retention_days));
        self.batch(|tx| {
            Box::pin(async move {
                tx.execute(events::PARTITIONS, &[&now, &EVENT_DAYS_AHEAD])
                    .await?;
                tx.execute(events::EXPIRE, &[&events_before]).await?;
                Ok(())
            })
        })
        .await
        .context("keeping the events' day partitions")?;
        // Finished webhook deliveries as old as the oldest events kept, in batches of their
        // own transactions (a long backlog never holds a lock for long).
        loop {
            let forgotten = self
                .batch(|tx| {
                    Box::pin(async move {
                        let row = tx
                            .query_one(webhooks::EXPIRE, &[&events_before, &(BATCH as i32)])
                            .await?;
                        Ok(row.get::<_, i32>(0) as i64)
                    })
                })
                .await
                .context("forgetting finished webhook deliveries")?;
            if forgotten < BATCH {
                break;
            }
        }
        self.count(&pass);
        Ok(pass)
    }

    /// Runs a pass every `every` until `shutdown`; a failed pass is logged and retried at
    /// the next tick.
    pub async fn run(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            match self.pass().await {
                Ok(p) if p != Pass::default() => tracing::info!(
                    shifts_ended = p.shifts_ended.len(),
                    seats_left = p.seats_left.len(),
                    licences_expired = p.licences_expired.len(),
                    no_shows = p.no_shows.len(),
                    "time rules applied"
                ),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "time rules failed; next pass retries"
                    )
                }
            }
        }
    }

    /// Runs `f` in a transaction of its own, committed if it succeeds.
    async fn batch<T>(
        &self,
        f: impl for<'c> FnOnce(
            &'c tokio_postgres::Client,
        ) -> futures_util::future::BoxFuture<'c, anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        let client = self.pool.get().await?;
        client.batch_execute("BEGIN").await?;
        match f(&client).await {
            Ok(value) => {
                client.batch_execute("COMMIT").await?;
                Ok(value)
            }
            Err(error) => {
                if client.batch_execute("ROLLBACK").await.is_err() {
                    // Never hand a connection in an unknown transaction state back to the pool.
                    let _ = deadpool_postgres::Object::take(client);
                }
                Err(error)
            }
        }
    }

    fn count(&self, pass: &Pass) {
        for (rule, n) in [
            ("shift_ended", pass.shifts_ended.len()),
            ("seat_left", pass.seats_left.len()),
            ("licence_expired", pass.licences_expired.len()),
            ("no_show", pass.no_shows.len()),
            (
                "refresh_token_expired",
                pass.refresh_tokens_expired as usize,
            ),
        ] {
            if n > 0 {
                self.metrics
                    .time_rules
                    .get_or_create(&[("rule", rule)])
                    .inc_by(n as u64);
            }
        }
    }
}

async fn no_shows(
    tx: &tokio_postgres::Client,
    now: DateTime<Utc>,
    hours: u32,
) -> anyhow::Result<Vec<Uuid>> {
    no_show::mark(tx, now, hours, BATCH)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))
}
