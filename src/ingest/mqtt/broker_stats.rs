//! The broker's own counters (`$SYS`), read by connection 0 into `/metrics`: messages and
//! bytes it stores, clients connected and disconnected (persistent sessions kept for clients
//! that are gone), and messages it dropped (a session's queue at `max_queued_messages` or
//! `max_queued_bytes` drops every further message for it; config/mosquitto.conf). A session nobody owns any more (a retired daemon's, an old client id or
//! share group) keeps collecting its share of the telemetry; fleetd warns when the broker
//! stores many messages while such sessions exist (docs/delivery.md).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::metrics::Metrics;

/// The `$SYS` topics read, each with the gauge it sets. Mosquitto publishes them every
/// `sys_interval` (10 s by default).
pub const TOPICS: [&str; 5] = [
    "$SYS/broker/store/messages/count",
    "$SYS/broker/store/messages/bytes",
    "$SYS/broker/clients/connected",
    "$SYS/broker/clients/disconnected",
    "$SYS/broker/publish/messages/dropped",
];
/// Stored messages above which, with disconnected sessions, fleetd warns.
const WARN_STORED: f64 = 100_000.0;
/// At most one warning per this long.
const WARN_EVERY: Duration = Duration::from_secs(300);

/// The latest values, for the warning.
#[derive(Debug, Default)]
pub struct BrokerStats {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    stored: f64,
    disconnected: f64,
    warned: Option<Instant>,
    /// The broker's dropped count when last seen.
    dropped: f64,
    warned_dropped: Option<Instant>,
}

impl BrokerStats {
    /// A `$SYS` message: sets its gauge (an unreadable value is ignored) and warns if an
    /// abandoned session seems to be collecting messages. False for a topic not in [`TOPICS`].
    pub fn record(&self, metrics: &Metrics, topic: &str, payload: &[u8]) -> bool {
        let Some(i) = TOPICS.iter().position(|t| *t == topic) else {
            return false;
        };
        let Some(value) = std::str::from_utf8(payload)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
        else {
            return true;
        };
        let gauge = match i {
            0 => &metrics.broker_stored_messages,
            1 => &metrics.broker_stored_bytes,
            2 => &metrics.broker_clients_connected,
            3 => &metrics.broker_clients_disconnected,
            _ => &metrics.broker_dropped_messages,
        };
        gauge.set(value);
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match i {
            0 => s.stored = value,
            3 => s.disconnected = value,
            4 => {
                let more = value - s.dropped;
                s.dropped = value;
                if more > 0.0 && s.warned_dropped.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
                    s.warned_dropped = Some(Instant::now());
                    tracing::warn!(
                        dropped_messages = value,
                        "the broker dropped messages: a session's queue is full \
                         (max_queued_messages / max_queued_bytes). If it is fleetd's own, \
                         readings are being lost; see docs/delivery.md"
                    );
                }
            }
            _ => {}
        }
        if s.stored > WARN_STORED
            && s.disconnected > 0.0
            && s.warned.is_none_or(|at| at.elapsed() >= WARN_EVERY)
        {
            s.warned = Some(Instant::now());
            tracing::warn!(
                stored_messages = s.stored,
                disconnected_sessions = s.disconnected,
                "the broker stores many messages while persistent sessions are disconnected: a \
                 session nobody owns any more (a retired daemon's, an old client id or share \
                 group) may be collecting them; see docs/delivery.md"
            );
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_set_their_gauges_and_garbage_is_ignored() {
        let m = Metrics::new();
        let s = BrokerStats::default();
        assert!(s.record(&m, TOPICS[0], b"42"));
        assert!(s.record(&m, TOPICS[3], b" 3\n"));
        assert!(s.record(&m, TOPICS[1], b"lots"));
        assert!(s.record(&m, TOPICS[2], b"-1"));
        assert!(s.record(&m, TOPICS[4], b"7"));
        assert!(!s.record(&m, "$SYS/broker/uptime", b"5 seconds"));
        assert_eq!(m.broker_stored_messages.get(), 42.0);
        assert_eq!(m.broker_clients_disconnected.get(), 3.0);
        assert_eq!(m.broker_stored_bytes.get(), 0.0);
        assert_eq!(m.broker_clients_connected.get(), 0.0);
        assert_eq!(m.broker_dropped_messages.get(), 7.0);
    }
}
