//! The per-subscription gauges, refreshed by the relay every [`EVERY`]: how old each
//! subscription's oldest pending delivery is (its lag) and how many dead letters it has.
//! Each is read through `webhook_deliveries_by_status` (the oldest pending by event id, the
//! dead letters by count), so the cost follows the subscriptions, not the deliveries.

use std::time::Duration;

use crate::clock::Clock;
use crate::metrics::Metrics;

/// How often the gauges are refreshed.
pub const EVERY: Duration = Duration::from_secs(5);

const READ: &str = "
    SELECT w.id::text,
           coalesce(extract(epoch FROM $1 - (
               SELECT d.queued_at FROM webhook_deliveries d
                WHERE d.webhook_id = w.id AND d.status = 'pending'
                ORDER BY d.event_id LIMIT 1))::float8, 0),
           (SELECT count(*) FROM webhook_deliveries d
             WHERE d.webhook_id = w.id AND d.status = 'failed')
      FROM webhooks w";

/// Reads every subscription's figures and replaces the gauges (a deleted subscription's
/// series go).
pub async fn refresh(
    c: &impl tokio_postgres::GenericClient,
    clock: &Clock,
    metrics: &Metrics,
) -> Result<(), tokio_postgres::Error> {
    let rows = c.query(READ, &[&clock.now()]).await?;
    metrics.webhook_oldest_pending_seconds.clear();
    metrics.webhook_dead_letters.clear();
    for r in rows {
        let label = [("webhook", r.get::<_, String>(0))];
        let lag: f64 = r.get(1);
        metrics
            .webhook_oldest_pending_seconds
            .get_or_create(&label)
            .set(lag.max(0.0));
        metrics
            .webhook_dead_letters
            .get_or_create(&label)
            .set(r.get::<_, i64>(2));
    }
    Ok(())
}
