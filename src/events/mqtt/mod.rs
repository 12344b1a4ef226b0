//! Events published on the MQTT broker (`mqtt.publish_events`, docs/events.md): every event,
//! at QoS 1, to `{mqtt.events_prefix}/{type}/{aggregate_id}`, its body the same JSON the
//! webhooks and the stream send, in id order, at least once.
//!
//! One daemon publishes at a time: the one holding a session advisory lock on a PostgreSQL
//! connection of its own. It records in `event_publishers` (migrations/0020) the id up to
//! which the broker acknowledged every event ([`window::Window`]); whoever takes over (the
//! same daemon after a restart, or another once the holder's connection is gone) starts
//! after it. An event is therefore published again only when its PUBACK or the record of it
//! was lost (a crash, a broker or database outage), never skipped. The other daemons try
//! to take over every [`CAMPAIGN`].

pub mod connection;
pub mod window;

use std::sync::Arc;
use std::time::Duration;

use rumqttc::QoS;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use self::connection::{Broker, Signal};
use self::window::Window;
use crate::db::PgTarget;
use crate::metrics::Metrics;

/// The row of `event_publishers` this publisher keeps.
pub const NAME: &str = "mqtt";
/// The session advisory lock of the publishing daemon ("fleetd" + "evmq").
pub const LOCK_KEY: i64 = 0x666c_6565_6576_6d71;
/// How often a daemon that does not publish tries to take over.
pub const CAMPAIGN: Duration = Duration::from_secs(2);
/// Publishes in flight at once.
pub const WINDOW: u16 = 256;
/// How long the broker may take to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait for new events without a notification, and between cursor records.
pub const TICK: Duration = Duration::from_millis(250);

/// Why a publishing session ended.
enum Ended {
    /// Shutdown.
    Stopped,
    /// The broker connection failed; the database connection (and the lock) still holds.
    Broker(String),
    /// The database connection failed: the lock may be gone, so stop publishing.
    Database(anyhow::Error),
}

impl From<tokio_postgres::Error> for Ended {
    fn from(e: tokio_postgres::Error) -> Ended {
        Ended::Database(e.into())
    }
}

pub struct Publisher {
    pub pg: PgTarget,
    pub broker: Broker,
    pub metrics: Arc<Metrics>,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

impl Publisher {
    /// Tries to become the publisher every [`CAMPAIGN`] and publishes while it is, until
    /// `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let mut failing = false;
        loop {
            match self.term(&stop).await {
                Ok(()) => failing = false,
                Err(error) => {
                    if !failing {
                        tracing::warn!(
                            error = format!("{error:#}"),
                            "publishing events on MQTT stopped; they wait in the outbox"
                        );
                    }
                    failing = true;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(CAMPAIGN) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// One try at the lock, and publishing for as long as it is held.
    async fn term(&self, stop: &CancellationToken) -> anyhow::Result<()> {
        let (db, connection) = self.pg.connect().await?;
        // Notifications wake the publisher; the queue is drained before every query, so
        // the reader never blocks the connection.
        let (mut wake, reader) = crate::db::forward_notifications(connection, 1024);
        let _reader = AbortOnDrop(reader);
        let held: bool = db
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])
            .await?
            .get(0);
        if !held {
            return Ok(());
        }
        db.batch_execute("LISTEN fleetd_events").await?;
        tracing::info!("this daemon publishes the events on MQTT");
        self.metrics.events_mqtt_publishing.set(1);
        let result = self.lead(&db, &mut wake, stop).await;
        self.metrics.events_mqtt_publishing.set(0);
        result
    }

    async fn lead(
        &self,
        db: &Client,
        wake: &mut crate::db::Notifications,
        stop: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut acked_to = cursor(db).await?;
        let mut attempt = 0u32;
        let mut down_since: Option<String> = None;
        loop {
            match self.session(db, wake, &mut acked_to, stop).await {
                Ended::Stopped => return Ok(()),
                Ended::Database(error) => return Err(error),
                Ended::Broker(why) => {
                    if down_since.as_deref() != Some(&why) {
                        tracing::warn!(%why, "event publishing lost the broker; reconnecting");
                        down_since = Some(why);
                    }
                }
            }
            // Meanwhile the lag grows; and a dead database connection ends the term.
            drain(wake);
            let last: i64 = db
                .query_one("SELECT last_id FROM event_counter", &[])
                .await?
                .get(0);
            self.metrics.events_mqtt_lag.set(last - acked_to);
            let pause = crate::retry::backoff(
                attempt,
                self.reconnect_min,
                self.reconnect_max,
                rand::random(),
            );
            attempt = attempt.saturating_add(1).min(16);
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.cancelled() => return Ok(()),
            }
        }
    }

    /// Publishes over one broker connection until it fails or `stop`; `acked_to` follows
    /// (and records) what the broker acknowledged.
    async fn session(
        &self,
        db: &Client,
        wake: &mut crate::db::Notifications,
        acked_to: &mut i64,
        stop: &CancellationToken,
    ) -> Ended {
        let mut conn = match self.broker.connect(WINDOW, CONNECT_TIMEOUT).await {
            Ok(c) => c,
            Err(why) => return Ended::Broker(why),
        };
        let mut window = Window::new(*acked_to);
        let mut recorded = *acked_to;
        let mut look = true;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let ended = loop {
            if look && window.len() < usize::from(WINDOW) {
                look = false;
                if let Err(ended) = self.refill(db, wake, &conn.client, &mut window).await {
                    break ended;
                }
            }
            tokio::select! {
                signal = conn.signals.recv() => {
                    let step = match signal {
                        Some(Signal::Sent(pkid)) => window.sent(pkid),
                        Some(Signal::Acked(pkid)) => {
                            let before = window.acked_to();
                            let step = window.acked(pkid);
                            self.metrics
                                .events_mqtt_published
                                .inc_by((window.acked_to() - before) as u64);
                            // Half the window free: worth a read.
                            look |= window.len() <= usize::from(WINDOW / 2);
                            step
                        }
                        Some(Signal::Lost(why)) => break Ended::Broker(why),
                        None => break Ended::Broker("the connection's task ended".into()),
                    };
                    if let Err(error) = step {
                        break Ended::Broker(error.to_string());
                    }
                }
                n = wake.recv() => {
                    if n.is_none() {
                        break Ended::Database(anyhow::anyhow!("the database connection closed"));
                    }
                    look = true;
                }
                _ = tick.tick() => {
                    look = true;
                    if window.acked_to() > recorded {
                        drain(wake);
                        if let Err(e) = record(db, window.acked_to()).await {
                            break e.into();
                        }
                        recorded = window.acked_to();
                    }
                }
                _ = stop.cancelled() => break Ended::Stopped,
            }
        };
        *acked_to = window.acked_to();
        if *acked_to > recorded {
            drain(wake);
            if let Err(e) = record(db, *acked_to).await {
                return e.into();
            }
        }
        if matches!(ended, Ended::Stopped) {
            let _ = conn.client.try_disconnect();
        }
        ended
    }

    /// Hands the events after the window's last to the client, as many as it has room for.
    async fn refill(
        &self,
        db: &Client,
        wake: &mut crate::db::Notifications,
        client: &rumqttc::AsyncClient,
        window: &mut Window,
    ) -> Result<(), Ended> {
        drain(wake);
        let after = window.handed_to();
        let room = (usize::from(WINDOW) - window.len()) as i64;
        let rows = db
            .query(
                "SELECT e.id, e.type, e.aggregate_id, event_body(e) FROM events e
                  WHERE e.id > $1 ORDER BY e.id LIMIT $2",
                &[&after, &room],
            )
            .await?;
        let mut previous = after;
        for row in rows {
            let id: i64 = row.get(0);
            // Ids have no gaps: a gap is events dropped by retention before their turn.
            if id > previous + 1 {
                self.skipped("expired", id - previous - 1);
                tracing::warn!(
                    after = previous,
                    next = id,
                    "events expired (events.retention_days) before they were published on MQTT"
                );
            }
            previous = id;
            let body: String = row.get(3);
            if body.len() + 512 > self.broker.max_payload() {
                // The broker would drop the connection over it, again and again.
                self.skipped("too_large", 1);
                tracing::error!(
                    id,
                    bytes = body.len(),
                    "event too large for mqtt.max_packet_bytes; not published on MQTT"
                );
                continue;
            }
            let topic = topic(
                self.broker.events_prefix(),
                row.get::<_, &str>(1),
                row.get::<_, &str>(2),
            );
            if let Err(e) = client.try_publish(topic, QoS::AtLeastOnce, false, body) {
                return Err(Ended::Broker(e.to_string()));
            }
            window.handed(id);
        }
        // Events numbered but not acknowledged yet (a full window may leave more unread).
        self.metrics
            .events_mqtt_lag
            .set(previous.max(window.handed_to()) - window.acked_to());
        Ok(())
    }

    fn skipped(&self, reason: &'static str, n: i64) {
        self.metrics
            .events_mqtt_skipped
            .get_or_create(&[("reason", reason)])
            .inc_by(n.max(0) as u64);
    }
}

/// `{prefix}/{type}/{aggregate_id}`, with the characters MQTT reserves in topic names (`/`,
/// `+`, `#`, NUL) and `%` percent-encoded in the aggregate id, so one id is one level.
pub fn topic(prefix: &str, event_type: &str, aggregate_id: &str) -> String {
    let mut t = format!("{prefix}/{event_type}/");
    for c in aggregate_id.chars() {
        match c {
            '/' | '+' | '#' | '%' | '\0' => t.push_str(&format!("%{:02X}", c as u32)),
            c => t.push(c),
        }
    }
    t
}

/// Where the publisher resumes: after the recorded id, or, the first time, after the last
/// event numbered now (publishing starts with the events that follow it being switched on).
async fn cursor(db: &Client) -> Result<i64, tokio_postgres::Error> {
    db.execute(
        "INSERT INTO event_publishers (name, published_to)
         SELECT $1, last_id FROM event_counter ON CONFLICT (name) DO NOTHING",
        &[&NAME],
    )
    .await?;
    Ok(db
        .query_one(
            "SELECT published_to FROM event_publishers WHERE name = $1",
            &[&NAME],
        )
        .await?
        .get(0))
}

/// Records that every event up to `id` was acknowledged; never moves the record back (a
/// publisher that lost its lock may still be finishing).
async fn record(db: &Client, id: i64) -> Result<(), tokio_postgres::Error> {
    db.execute(
        "UPDATE event_publishers SET published_to = GREATEST(published_to, $2), updated_at = now()
          WHERE name = $1",
        &[&NAME, &id],
    )
    .await?;
    Ok(())
}

/// Forgets the wake-ups received so far (they only say "look").
fn drain(wake: &mut crate::db::Notifications) {
    while wake.try_recv().is_ok() {}
}

struct AbortOnDrop(tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_keep_one_level_per_aggregate_id() {
        assert_eq!(
            topic("fleetd/events", "rental.completed", "9f0c"),
            "fleetd/events/rental.completed/9f0c"
        );
        assert_eq!(
            topic("p", "vehicle.registered", "a/b+c#d%e\0"),
            "p/vehicle.registered/a%2Fb%2Bc%23d%25e%00"
        );
    }
}
