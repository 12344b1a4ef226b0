//! The JetStream source's metrics, and those of the live index's fan-out between nodes.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Registered by [`crate::metrics::Metrics::new`] whatever the source (at 0 under MQTT).
#[derive(Clone)]
pub struct JetStreamMetrics {
    /// 1 while the NATS connection is up.
    pub connected: Gauge,
    /// Deliveries taken from the consumer.
    pub delivered: Counter,
    /// Deliveries the servers had made before (a node died or was slow past `ack_wait`).
    pub redelivered: Counter,
    /// Readings in the stream not yet delivered to any node: the consumer's lag, as the last
    /// delivery reported it.
    pub pending: Gauge,
    /// Positions received from other nodes and applied to this node's live index.
    pub live_received: Counter,
    /// Positions this node could not share (the queue to NATS full, or NATS away).
    pub live_dropped: Counter,
    /// Shared batches refused as malformed.
    pub live_malformed: Counter,
    /// From another node's commit to this node's index.
    pub live_lag_seconds: Histogram,
}

impl Default for JetStreamMetrics {
    fn default() -> Self {
        JetStreamMetrics {
            connected: Gauge::default(),
            delivered: Counter::default(),
            redelivered: Counter::default(),
            pending: Gauge::default(),
            live_received: Counter::default(),
            live_dropped: Counter::default(),
            live_malformed: Counter::default(),
            live_lag_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
        }
    }
}

impl JetStreamMetrics {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "fleetd_jetstream_connected",
            "1 while the NATS connection of ingest.source = jetstream is up",
            self.connected.clone(),
        );
        r.register(
            "fleetd_jetstream_delivered",
            "Readings delivered by the JetStream consumer",
            self.delivered.clone(),
        );
        r.register(
            "fleetd_jetstream_redelivered",
            "Deliveries the JetStream servers had made before (another node died or ack_wait passed)",
            self.redelivered.clone(),
        );
        r.register(
            "fleetd_jetstream_pending",
            "Readings in the stream not yet delivered to any node (the consumer's lag)",
            self.pending.clone(),
        );
        r.register(
            "fleetd_live_shared_received",
            "Positions committed by other nodes applied to this node's live index",
            self.live_received.clone(),
        );
        r.register(
            "fleetd_live_shared_dropped",
            "Committed positions not shared with the other nodes (queue full or NATS away)",
            self.live_dropped.clone(),
        );
        r.register(
            "fleetd_live_shared_malformed",
            "Shared position batches refused as malformed",
            self.live_malformed.clone(),
        );
        r.register(
            "fleetd_live_shared_lag_seconds",
            "From another node's commit to this node's live index",
            self.live_lag_seconds.clone(),
        );
    }
}
