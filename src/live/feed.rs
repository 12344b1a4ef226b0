//! Keeps the live index in step with ingestion: loaded from PostgreSQL at start, updated by
//! the writers after each commit (so it only ever shows durable positions), and rid of
//! vehicles that stopped reporting ([`evict_silent`]); stale ones leave the dispatchable tree
//! sooner ([`unlist_stale`]).
//!
//! A tracker's clock may run ahead: ingestion accepts readings up to `ingest.max_future_s`
//! ahead and stores them as sent. For the live position such a reading counts as of its
//! arrival ([`not_after`]), so it cannot hold a vehicle's position (shown, streamed, used by
//! dispatch) against the readings that follow it for minutes.

use super::obd::LatestObd;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::redis::RedisFeed;
use super::{LiveIndex, Position, SharedLiveIndex};
use crate::clock::Clock;
use crate::ingest::decoders::Encoded;
use crate::ingest::reading::ObdReading;
use crate::ingest::sink::OnCommit;

/// The newest stored reading per vehicle within the last `days` days: served by the
/// `(vehicle_id, ts)` primary key of each day partition.
const LATEST_POSITIONS: &str = "
    SELECT DISTINCT ON (vehicle_id) vehicle_id, ts, ST_Y(position), ST_X(position), speed_kmh, heading_deg
      FROM gps_readings
     WHERE ts > now() - make_interval(days => $1)
     ORDER BY vehicle_id, ts DESC";

/// `p` stamped no later than `now_us`.
pub fn not_after(mut p: Position, now_us: i64) -> Position {
    p.ts = p.ts.min(now_us);
    p
}

/// Builds the index from the latest stored positions, none stamped after `clock`'s now.
pub async fn load(pool: &Pool, days: i32, clock: &Clock) -> Result<SharedLiveIndex, LoadError> {
    let client = pool.get().await?;
    let rows = client.query(LATEST_POSITIONS, &[&days]).await?;
    let now = clock.now_us();
    let items = rows.iter().map(|r| {
        let ts: chrono::DateTime<chrono::Utc> = r.get(1);
        let id: String = r.get(0);
        (
            id,
            not_after(
                Position {
                    lat: r.get(2),
                    lon: r.get(3),
                    ts: ts.timestamp_micros(),
                    speed_kmh: r.get(4),
                    heading_deg: r.get(5),
                },
                now,
            ),
        )
    });
    let (index, outcome) = LiveIndex::load(items);
    if outcome.rejected > 0 {
        tracing::warn!(
            rejected = outcome.rejected,
            "stored positions the live index refused"
        );
    }
    Ok(SharedLiveIndex::new(index))
}

/// Positions that became their vehicle's latest, in one committed group.
pub type PositionBatch = Arc<[(Arc<str>, Position)]>;

/// Where else committed positions go besides the index.
#[derive(Clone, Default)]
pub struct Fanout {
    /// The Redis write-through, when configured.
    pub redis: Option<RedisFeed>,
    /// Push streams (bounding-box subscribers); sent to only while someone listens.
    pub stream: Option<broadcast::Sender<PositionBatch>>,
    /// The latest OBD values per vehicle.
    pub obd: Option<Arc<LatestObd>>,
}

/// The writers' on-commit hook: each committed message's newest GPS fix and OBD values go
/// into the index ([`apply`]). (With several nodes the daemon also hands each group to
/// [`super::cluster::Share`].)
pub fn on_commit(index: SharedLiveIndex, fanout: Fanout, clock: Clock) -> OnCommit {
    Arc::new(move |group: &[Encoded]| {
        apply(
            &index,
            &fanout,
            &clock,
            group.iter().filter_map(|m| {
                let (id, r) = m.latest_gps.as_ref()?;
                Some((id.as_ref(), Position::from(r)))
            }),
            group
                .iter()
                .filter_map(|m| Some((m.vehicle_id.as_deref()?, m.latest_obd.as_ref()?))),
        );
    })
}

/// Puts committed fixes (each stamped no later than `clock`'s now) and OBD values into the
/// index; the fixes that became their vehicle's position also go to Redis and the push
/// streams. Out-of-order readings therefore never move anything backwards, here or
/// downstream.
pub fn apply<'a>(
    index: &SharedLiveIndex,
    fanout: &Fanout,
    clock: &Clock,
    fixes: impl Iterator<Item = (&'a str, Position)>,
    obd: impl Iterator<Item = (&'a str, &'a ObdReading)>,
) {
    if let Some(latest) = &fanout.obd {
        latest.offer(obd);
    }
    let now = clock.now_us();
    let fixes = fixes.map(|(id, p)| (id, not_after(p, now)));
    let streaming = fanout.stream.as_ref().filter(|s| s.receiver_count() > 0);
    if fanout.redis.is_none() && streaming.is_none() {
        index.upsert_many(fixes);
        return;
    }
    let mut applied: Vec<(&str, Position)> = Vec::new();
    index.upsert_many_applied(fixes, |id, p| applied.push((id, p)));
    if applied.is_empty() {
        return;
    }
    if let Some(stream) = streaming {
        let batch: PositionBatch = applied.iter().map(|&(id, p)| (Arc::from(id), p)).collect();
        let _ = stream.send(batch);
    }
    if let Some(redis) = &fanout.redis {
        redis.offer(applied);
    }
}

/// Drops vehicles silent for longer than `horizon` from the index (and their latest OBD
/// values from `obd`), now and then every `horizon / 4` (at most every 10 minutes), until
/// `shutdown`. Vehicles leave fleets (sold, retired) without being deleted; without this their
/// positions would stay in memory for ever.
pub async fn evict_silent(
    index: SharedLiveIndex,
    obd: Option<Arc<LatestObd>>,
    horizon: Duration,
    clock: Clock,
    shutdown: CancellationToken,
) {
    let every = (horizon / 4).clamp(Duration::from_secs(1), Duration::from_secs(600));
    let horizon_us = i64::try_from(horizon.as_micros()).unwrap_or(i64::MAX);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let cutoff = clock.now_us().saturating_sub(horizon_us);
        if let Some(obd) = &obd {
            obd.evict_older_than(cutoff);
        }
        let index = index.clone();
        // A sweep is O(n) (8 ms at a million vehicles, about 2 s if all of them go), though
        // it takes the lock only briefly at a time: keep it off the async workers.
        match tokio::task::spawn_blocking(move || index.evict_older_than(cutoff)).await {
            Ok(0) => {}
            Ok(evicted) => tracing::info!(evicted, "silent vehicles dropped from the live index"),
            Err(error) => tracing::warn!(%error, "live index eviction failed"),
        }
    }
}

/// How often [`unlist_stale`] sweeps at a given staleness limit.
pub fn unlist_every(staleness: Duration) -> Duration {
    (staleness / 4).clamp(Duration::from_secs(1), Duration::from_secs(15))
}

/// Unlists dispatchable vehicles whose position is older than `staleness` from the live
/// index's dispatchable tree, now and then every [`unlist_every`], until `shutdown`. A
/// dispatch query passes over stale vehicles without counting them against its budget, but
/// only so many ([`super::query`], "Bounded work"): this keeps them few, namely those gone
/// silent since the last sweep. They stay dispatchable; their next reading lists them again.
pub async fn unlist_stale(
    index: SharedLiveIndex,
    staleness: Duration,
    clock: Clock,
    shutdown: CancellationToken,
) {
    let staleness_us = i64::try_from(staleness.as_micros()).unwrap_or(i64::MAX);
    let mut tick = tokio::time::interval(unlist_every(staleness));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let cutoff = clock.now_us().saturating_sub(staleness_us);
        let index = index.clone();
        // O(n / 64) plus the members: well under a millisecond in all at a million vehicles,
        // in short lock holds, but still a loop over every slot: off the async workers.
        match tokio::task::spawn_blocking(move || index.unlist_stale(cutoff)).await {
            Ok(0) => {}
            Ok(unlisted) => {
                tracing::debug!(
                    unlisted,
                    "stale vehicles unlisted from the dispatchable tree"
                )
            }
            Err(error) => tracing::warn!(%error, "unlisting stale vehicles failed"),
        }
    }
}

/// Why the index could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No connection could be had from the pool.
    #[error("no database connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The query failed.
    #[error("loading positions: {0}")]
    Db(#[from] tokio_postgres::Error),
}
