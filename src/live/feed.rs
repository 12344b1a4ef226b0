//! Keeps the live index in step with ingestion: loaded from PostgreSQL at start, updated by
//! the writers after each commit (so it only ever shows durable positions).

use std::sync::Arc;

use deadpool_postgres::Pool;

use super::{LiveIndex, Position, SharedLiveIndex};
use crate::decoders::Encoded;
use crate::sink::OnCommit;

/// The newest stored reading per vehicle within the last `days` days: served by the
/// `(vehicle_id, ts)` primary key of each day partition.
const LATEST_POSITIONS: &str = "
    SELECT DISTINCT ON (vehicle_id) vehicle_id, ts, ST_Y(position), ST_X(position), speed_kmh, heading_deg
      FROM gps_readings
     WHERE ts > now() - make_interval(days => $1)
     ORDER BY vehicle_id, ts DESC";

/// Builds the index from the latest stored positions.
pub async fn load(pool: &Pool, days: i32) -> Result<SharedLiveIndex, LoadError> {
    let client = pool.get().await?;
    let rows = client.query(LATEST_POSITIONS, &[&days]).await?;
    let items = rows.iter().map(|r| {
        let ts: chrono::DateTime<chrono::Utc> = r.get(1);
        let id: String = r.get(0);
        (
            id,
            Position {
                lat: r.get(2),
                lon: r.get(3),
                ts: ts.timestamp_micros(),
                speed_kmh: r.get(4),
                heading_deg: r.get(5),
            },
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

/// The writers' on-commit hook: each committed message's newest GPS fix.
pub fn on_commit(index: SharedLiveIndex) -> OnCommit {
    Arc::new(move |group: &[Encoded]| {
        index.upsert_many(
            group
                .iter()
                .filter_map(|m| m.latest_gps.as_ref())
                .map(|(id, r)| (id.as_ref(), Position::from(r))),
        );
    })
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
