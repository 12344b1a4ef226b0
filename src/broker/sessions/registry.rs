//! The `broker_sessions` table: every client id a daemon connected with, so that
//! `fleetd broker sessions` knows which ids may hold a persistent session (the broker cannot
//! list its sessions). A running daemon records its ids at start, refreshes `live_until` of
//! the connected ones every [`HEARTBEAT`], and sets it to now when it stops cleanly.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tokio_postgres::GenericClient;
use tokio_util::sync::CancellationToken;

use crate::config::{MqttConfig, SubscriptionMode};

/// How often a running daemon refreshes its connected ids.
pub const HEARTBEAT: Duration = Duration::from_secs(60);
/// How long after its last refresh an id still counts as owned by a running daemon: three
/// missed heartbeats, so a slow database does not make a live session look orphaned.
pub const LIVE_FOR_S: i64 = 180;

const UPSERT: &str = "
    INSERT INTO broker_sessions (client_id, topic_prefix, share_group, subscription, live_until)
    SELECT id, $2, $3, $4, now() + make_interval(secs => $5)
      FROM unnest($1::text[]) AS id
    ON CONFLICT (client_id) DO UPDATE SET
        topic_prefix = EXCLUDED.topic_prefix,
        share_group = EXCLUDED.share_group,
        subscription = EXCLUDED.subscription,
        last_seen = now(),
        live_until = EXCLUDED.live_until,
        dropped_at = NULL";
const RETIRE: &str =
    "UPDATE broker_sessions SET live_until = now(), last_seen = now() WHERE client_id = ANY($1)";
const LIST: &str = "
    SELECT client_id, topic_prefix, share_group, subscription, first_seen, last_seen,
           live_until > now() AS live, dropped_at
      FROM broker_sessions WHERE topic_prefix = $1 ORDER BY client_id";
const DROPPED: &str = "UPDATE broker_sessions SET dropped_at = now() WHERE client_id = $1";

/// One recorded client id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub client_id: String,
    pub topic_prefix: String,
    pub share_group: String,
    pub subscription: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// A running daemon refreshed it less than [`LIVE_FOR_S`] ago and has not stopped.
    pub live: bool,
    /// When `fleetd broker sessions --drop-orphans` last dropped its session.
    pub dropped_at: Option<DateTime<Utc>>,
}

fn mode(m: SubscriptionMode) -> &'static str {
    match m {
        SubscriptionMode::Plain => "plain",
        SubscriptionMode::Shared => "shared",
    }
}

/// Records `ids` as used with `mqtt`'s prefix, group and mode, and owned by a running daemon
/// for the next [`LIVE_FOR_S`].
pub async fn record(
    client: &impl GenericClient,
    mqtt: &MqttConfig,
    ids: &[String],
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            UPSERT,
            &[
                &ids,
                &mqtt.topic_prefix,
                &mqtt.share_group,
                &mode(mqtt.subscription),
                &(LIVE_FOR_S as f64),
            ],
        )
        .await
        .map(drop)
}

/// A daemon stopped cleanly: its ids are no longer owned by a running daemon.
pub async fn retire(
    client: &impl GenericClient,
    ids: &[String],
) -> Result<(), tokio_postgres::Error> {
    client.execute(RETIRE, &[&ids]).await.map(drop)
}

/// The ids recorded under `prefix`.
pub async fn list(
    client: &impl GenericClient,
    prefix: &str,
) -> Result<Vec<Recorded>, tokio_postgres::Error> {
    let rows = client.query(LIST, &[&prefix]).await?;
    Ok(rows
        .iter()
        .map(|r| Recorded {
            client_id: r.get(0),
            topic_prefix: r.get(1),
            share_group: r.get(2),
            subscription: r.get(3),
            first_seen: r.get(4),
            last_seen: r.get(5),
            live: r.get(6),
            dropped_at: r.get(7),
        })
        .collect())
}

/// Notes that `client_id`'s session was dropped.
pub async fn mark_dropped(
    client: &impl GenericClient,
    client_id: &str,
) -> Result<(), tokio_postgres::Error> {
    client.execute(DROPPED, &[&client_id]).await.map(drop)
}

/// The daemon's side: records its configured ids as owned by a running daemon at start and
/// every [`HEARTBEAT`] (connected or not: a daemon reconnecting still owns its sessions) until
/// `stop`, then retires them. Cancel `stop` after the connections have disconnected. A failed
/// write is logged and retried at the next beat.
pub async fn heartbeat(pool: Pool, mqtt: MqttConfig, ids: Vec<String>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => break,
        }
        let result = match pool.get().await {
            Ok(client) => record(&**client, &mqtt, &ids)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = result {
            tracing::warn!(%error, "cannot record the daemon's broker sessions; retrying at the next beat");
        }
    }
    let result = match pool.get().await {
        Ok(client) => retire(&**client, &ids).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(error) = result {
        tracing::warn!(%error, "cannot record that the daemon stopped; its sessions count as owned for 3 more minutes");
    }
}
