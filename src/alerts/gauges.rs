//! The alert gauges of `/metrics`: `fleetd_alerts_open` and `fleetd_alerts_acknowledged` by
//! kind, read from the `alerts` table every [`EVERY`] by each daemon.
//!
//! Counted in SQL rather than kept in step where alerts change: alerts open and resolve in
//! the segmenter's pass and the timer on whichever daemon evaluates them, and are acknowledged
//! or resolved by hand through any daemon's API, so no one daemon sees every change. A count
//! over the table's unresolved alerts (`alerts_unresolved`, a partial index) gives every
//! daemon sharing the database the same figures, at most [`EVERY`] late, for a cost that
//! follows the unresolved alerts rather than the history.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::RuleKind;
use crate::metrics::Metrics;

/// How often the gauges are refreshed.
pub const EVERY: Duration = Duration::from_secs(5);

const COUNT: &str = "
    SELECT kind, status, count(*)
      FROM alerts
     WHERE status <> 'resolved'
     GROUP BY kind, status";

/// Reads the counts and sets the gauges; every kind is set, at 0 when it has none.
pub async fn refresh(
    c: &impl tokio_postgres::GenericClient,
    metrics: &Metrics,
) -> Result<(), tokio_postgres::Error> {
    let rows = c.query(COUNT, &[]).await?;
    let count = |kind: &str, status: &str| -> i64 {
        rows.iter()
            .find(|r| r.get::<_, &str>(0) == kind && r.get::<_, &str>(1) == status)
            .map_or(0, |r| r.get(2))
    };
    for kind in RuleKind::ALL {
        let label = [("kind", kind.as_str())];
        metrics
            .alerts_open
            .get_or_create(&label)
            .set(count(kind.as_str(), "open"));
        metrics
            .alerts_acknowledged
            .get_or_create(&label)
            .set(count(kind.as_str(), "acknowledged"));
    }
    Ok(())
}

/// Refreshes the gauges every [`EVERY`] until `shutdown`, the first time at once. A failed
/// read (PostgreSQL down) leaves the previous figures and is logged once until one works.
pub async fn run(
    pool: deadpool_postgres::Pool,
    metrics: std::sync::Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let result = match pool.get().await {
            Ok(client) => refresh(&**client, &metrics)
                .await
                .map_err(anyhow::Error::from),
            Err(error) => Err(anyhow::Error::from(error)),
        };
        match result {
            Ok(()) => failing = false,
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(
                    error = format!("{error:#}"),
                    "alert gauges not refreshed; retried every 5 s"
                );
            }
            Err(_) => {}
        }
    }
}
