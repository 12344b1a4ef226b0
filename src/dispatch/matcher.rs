//! The background matcher: offers each due job to the nearest suitable available driver.
//!
//! One loop per daemon. Each round takes the jobs that were due when it started, one job
//! per transaction (`FOR UPDATE SKIP LOCKED`, so several daemons share the work): an expired
//! offer first goes back to `pending` (its driver is not asked again), then a pending job is
//! offered to the nearest candidates from the live index, filtered by the roster, one after
//! another until the claim constraint accepts one. A round without a candidate waits
//! [`retry_delay`] (exponential, capped) and after `max_attempts` rounds gives up
//! (`unassigned`). Between rounds the loop sleeps until the next job falls due, a local
//! wake-up (a new job, a decline) or at most [`POLL`], which picks up jobs created by other
//! daemons.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::jobs::{self, Action, Job, JobState, TransitionError};
use super::Roster;
use crate::clock::Clock;
use crate::config::DispatchConfig;
use crate::live::{NearestQuery, SharedLiveIndex};

/// The longest sleep between rounds.
pub const POLL: Duration = Duration::from_secs(2);

/// How long to wait after the `attempt`-th round without a candidate (1-based):
/// `base · 2^(attempt-1)`, at most `max`.
pub fn retry_delay(attempt: u32, base: Duration, max: Duration) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(max).min(max)
}

/// What the matcher needs.
pub struct Matcher {
    pub pool: Pool,
    pub live: SharedLiveIndex,
    pub roster: Arc<Roster>,
    pub clock: Clock,
    pub config: DispatchConfig,
    pub wake: Arc<Notify>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Matcher {
    /// Runs rounds until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let next = match self.round().await {
                Ok(next) => next,
                Err(error) => {
                    tracing::warn!(%error, "dispatch round failed; retrying");
                    Some(self.clock.now() + chrono::Duration::seconds(1))
                }
            };
            let poll = tokio::time::Instant::now() + POLL;
            let until = next.map_or(poll, |at| self.clock.instant_of(at).min(poll));
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// Handles every job due now; returns when the next one falls due.
    ///
    /// One job per transaction, so a transaction holds at most one uncommitted claim, and
    /// only until it commits. Claiming many jobs' drivers in one transaction let two daemons
    /// each wait on the other's uncommitted claims (a deadlock PostgreSQL broke by aborting a
    /// whole round), and kept offers invisible, their timeouts running, until the round ended.
    /// Jobs due after the round started wait for the next round, so a round always ends.
    pub async fn round(&self) -> Result<Option<DateTime<Utc>>, TransitionError> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let started = self.clock.now();
        loop {
            let mut tx = client.transaction().await?;
            let Some(job) = jobs::lock_due(&tx, started, 1).await?.pop() else {
                tx.commit().await?;
                break;
            };
            self.handle(&mut tx, &job, self.clock.now()).await?;
            tx.commit().await?;
        }
        Ok(jobs::next_due(&**client).await?)
    }

    async fn handle(
        &self,
        tx: &mut tokio_postgres::Transaction<'_>,
        job: &Job,
        now: DateTime<Utc>,
    ) -> Result<(), TransitionError> {
        let job = match job.state {
            JobState::Offered => jobs::apply(tx, job, Action::Expire, now, Some(now)).await?,
            _ => job.clone(),
        };
        let refused = jobs::refused(&*tx, job.id).await?;
        let query = NearestQuery {
            lat: job.pickup.0,
            lon: job.pickup.1,
            k: self.config.candidates,
            // A job created before `max_radius_m` was lowered is held to the new limit.
            radius_m: job.radius_m.min(self.config.max_radius_m),
            now_us: now.timestamp_micros(),
            staleness: Duration::from_secs(self.config.staleness_s),
            max_examined: self.config.max_candidates_examined,
        };
        let found = {
            let view = self.roster.view();
            self.live
                .nearest_dispatchable(
                    &query,
                    &view.eligible(&job.requirements, &refused, query.now_us),
                )
                .unwrap_or_default()
        };
        if found.truncated {
            self.metrics.nearest_truncated.inc();
            tracing::warn!(
                job = %job.id,
                radius_m = query.radius_m,
                examined = found.examined,
                skipped_stale = found.skipped_stale,
                candidates = found.hits.len(),
                "matching stopped at dispatch.max_candidates_examined; offering the candidates examined"
            );
        }
        let expires = now + secs(self.config.offer_timeout_s);
        for hit in found.hits {
            if jobs::offer(tx, &job, hit.tag, &hit.vehicle_id, now, expires)
                .await?
                .is_some()
            {
                self.metrics.dispatch_offers.inc();
                return Ok(());
            }
        }
        let attempt = job.attempts as u32 + 1;
        if attempt >= self.config.max_attempts {
            jobs::apply(tx, &job, Action::GiveUp, now, None).await?;
        } else {
            let delay = retry_delay(
                attempt,
                Duration::from_millis(self.config.retry_base_ms),
                Duration::from_millis(self.config.retry_max_ms),
            );
            let at = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
            jobs::apply(tx, &job, Action::NoCandidate, now, Some(at)).await?;
        }
        Ok(())
    }
}

fn secs(s: u64) -> chrono::Duration {
    chrono::Duration::seconds(s.min(i64::MAX as u64) as i64)
}

fn pool_error(e: deadpool_postgres::PoolError) -> TransitionError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => TransitionError::Db(e),
        other => TransitionError::Pool(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_up_to_the_cap() {
        let base = Duration::from_secs(2);
        let max = Duration::from_secs(60);
        let got: Vec<u64> = (1..=8)
            .map(|a| retry_delay(a, base, max).as_secs())
            .collect();
        assert_eq!(got, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(retry_delay(0, base, max), base);
        assert_eq!(retry_delay(u32::MAX, base, max), max);
        assert_eq!(retry_delay(40, Duration::from_millis(1), max), max);
    }
}
