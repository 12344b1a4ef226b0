//! Prometheus metrics (`GET /metrics`). Counters are updated where the fact happens: received
//! at decode, stored and rejected after the commit that made them durable.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::ingest::reading::{Kind, RejectReason};

type Label = [(&'static str, &'static str); 1];

/// Every metric fleetd exports.
pub struct Metrics {
    registry: Registry,
    /// `ingest.source = "jetstream"` and the live index's sharing between nodes.
    pub jetstream: crate::ingest::jetstream::metrics::JetStreamMetrics,
    pub messages_received: Counter,
    pub readings_received: Family<Label, Counter>,
    pub readings_stored: Family<Label, Counter>,
    pub readings_duplicate: Family<Label, Counter>,
    pub readings_rejected: Family<Label, Counter>,
    pub rejects_unrecorded: Family<Label, Counter>,
    pub readiness_checks: Counter,
    pub batch_rows: Histogram,
    pub copy_seconds: Histogram,
    pub ingest_latency_seconds: Histogram,
    pub db_errors: Family<Label, Counter>,
    pub decode_queue_depth: Gauge,
    pub writer_queue_depth: Gauge,
    pub in_flight_bytes: Gauge,
    pub in_flight_messages: Gauge,
    pub oldest_unacked_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub broker_stored_messages: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub broker_stored_bytes: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub broker_clients_connected: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub broker_clients_disconnected: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub broker_dropped_messages: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub mqtt_connected: Family<[(&'static str, String); 1], Gauge>,
    pub mqtt_reconnects: Counter,
    pub mqtt_subscription_recreated: Family<[(&'static str, String); 1], Counter>,
    pub mqtt_messages_since_recreated: Family<[(&'static str, String); 1], Gauge>,
    pub mqtt_session_lost: Family<[(&'static str, String); 1], Counter>,
    pub partitions_dropped: Counter,
    pub redis_positions_written: Counter,
    pub redis_positions_dropped: Counter,
    pub redis_errors: Counter,
    pub dispatch_offers: Counter,
    pub nearest_truncated: Counter,
    pub nearest_seconds: Histogram,
    pub time_rules: Family<Label, Counter>,
    pub trips_lag_seconds: Histogram,
    pub trips_segments: Counter,
    pub trips_redone: Counter,
    pub trips_pass_errors: Counter,
    pub geofence_readings: Counter,
    pub geofence_events: Counter,
    pub webhook_deliveries: Family<Label, Counter>,
    pub webhook_oldest_pending_seconds: Family<WebhookLabel, Gauge<f64, AtomicU64>>,
    pub webhook_dead_letters: Family<WebhookLabel, Gauge>,
    pub events_mqtt_published: Counter,
    pub events_mqtt_skipped: Family<Label, Counter>,
    pub events_mqtt_publishing: Gauge,
    pub events_mqtt_lag: Gauge,
    pub alerts_open: Family<Label, Gauge>,
    pub alerts_acknowledged: Family<Label, Gauge>,
    pub replica: Arc<crate::replica::metrics::ReplicaMetrics>,
}

/// A subscription's id, the label of the per-webhook gauges.
pub type WebhookLabel = [(&'static str, String); 1];

/// The label of a reading kind.
pub fn kind_label(kind: Kind) -> Label {
    [(
        "kind",
        match kind {
            Kind::Gps => "gps",
            Kind::Obd => "obd",
        },
    )]
}

/// The label of a reject reason.
pub fn reason_label(reason: RejectReason) -> Label {
    [("reason", reason.code())]
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let m = Metrics {
            messages_received: Counter::default(),
            readings_received: Family::default(),
            readings_stored: Family::default(),
            readings_duplicate: Family::default(),
            readings_rejected: Family::default(),
            rejects_unrecorded: Family::default(),
            readiness_checks: Counter::default(),
            batch_rows: Histogram::new(exponential_buckets(1.0, 4.0, 10)),
            copy_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            ingest_latency_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            db_errors: Family::default(),
            decode_queue_depth: Gauge::default(),
            writer_queue_depth: Gauge::default(),
            in_flight_bytes: Gauge::default(),
            in_flight_messages: Gauge::default(),
            oldest_unacked_seconds: Gauge::default(),
            broker_stored_messages: Gauge::default(),
            broker_stored_bytes: Gauge::default(),
            broker_clients_connected: Gauge::default(),
            broker_clients_disconnected: Gauge::default(),
            broker_dropped_messages: Gauge::default(),
            mqtt_connected: Family::default(),
            mqtt_reconnects: Counter::default(),
            mqtt_subscription_recreated: Family::default(),
            mqtt_messages_since_recreated: Family::default(),
            mqtt_session_lost: Family::default(),
            partitions_dropped: Counter::default(),
            redis_positions_written: Counter::default(),
            redis_positions_dropped: Counter::default(),
            redis_errors: Counter::default(),
            dispatch_offers: Counter::default(),
            nearest_truncated: Counter::default(),
            // 10 µs to ~0.3 s: a query examines up to dispatch.max_candidates_examined.
            nearest_seconds: Histogram::new(exponential_buckets(0.00001, 2.0, 16)),
            time_rules: Family::default(),
            trips_lag_seconds: Histogram::new(exponential_buckets(0.05, 2.0, 14)),
            trips_segments: Counter::default(),
            trips_redone: Counter::default(),
            trips_pass_errors: Counter::default(),
            geofence_readings: Counter::default(),
            geofence_events: Counter::default(),
            webhook_deliveries: Family::default(),
            webhook_oldest_pending_seconds: Family::default(),
            webhook_dead_letters: Family::default(),
            events_mqtt_published: Counter::default(),
            events_mqtt_skipped: Family::default(),
            events_mqtt_publishing: Gauge::default(),
            events_mqtt_lag: Gauge::default(),
            alerts_open: Family::default(),
            alerts_acknowledged: Family::default(),
            replica: Default::default(),
            registry: Registry::default(),
            jetstream: Default::default(),
        };
        let r = &mut registry;
        m.jetstream.register(r);
        m.replica.register(r);
        r.register(
            "fleetd_redis_positions_written",
            "Vehicle status hashes written to Redis",
            m.redis_positions_written.clone(),
        );
        r.register(
            "fleetd_redis_positions_dropped",
            "Position updates not sent to Redis because its queue was full",
            m.redis_positions_dropped.clone(),
        );
        r.register(
            "fleetd_redis_errors",
            "Failed Redis connections or pipelines",
            m.redis_errors.clone(),
        );
        r.register(
            "fleetd_dispatch_offers",
            "Job offers made to drivers",
            m.dispatch_offers.clone(),
        );
        r.register(
            "fleetd_dispatch_nearest_truncated",
            "Nearest queries (API and matcher) stopped at dispatch.max_candidates_examined",
            m.nearest_truncated.clone(),
        );
        r.register(
            "fleetd_dispatch_nearest_seconds",
            "GET /v1/dispatch/nearest: time the live index took to answer (the matcher's \
             queries are not included)",
            m.nearest_seconds.clone(),
        );
        r.register(
            "fleetd_alerts_open",
            "Alerts open (neither acknowledged nor resolved) in the database, by kind",
            m.alerts_open.clone(),
        );
        r.register(
            "fleetd_alerts_acknowledged",
            "Alerts acknowledged but not resolved in the database, by kind",
            m.alerts_acknowledged.clone(),
        );
        r.register(
            "fleetd_trips_lag_seconds",
            "Per vehicle and segmenter pass: from the commit of its earliest unprocessed readings \
             to the commit of its trips, stops and rollups (trips.settle_s included)",
            m.trips_lag_seconds.clone(),
        );
        r.register(
            "fleetd_trips_segments",
            "Trips and stops written by the segmenter (rewritten ones included)",
            m.trips_segments.clone(),
        );
        r.register(
            "fleetd_trips_redone",
            "Vehicles re-segmented from an earlier point because of a late reading",
            m.trips_redone.clone(),
        );
        r.register(
            "fleetd_trips_pass_errors",
            "Segmenter passes that failed (retried at the next interval)",
            m.trips_pass_errors.clone(),
        );
        r.register(
            "fleetd_geofence_readings",
            "Readings evaluated against the geofences (in the segmenter's pass)",
            m.geofence_readings.clone(),
        );
        r.register(
            "fleetd_geofence_events",
            "geofence.entered, geofence.exited and geofence.dwell events raised",
            m.geofence_events.clone(),
        );
        r.register(
            "fleetd_webhook_deliveries",
            "Webhook delivery attempts by outcome: delivered (2xx), retry (failed, tried again \
             later), dead (failed past webhooks.max_retry_hours: dead-lettered)",
            m.webhook_deliveries.clone(),
        );
        r.register(
            "fleetd_webhook_oldest_pending_seconds",
            "Per subscription: age of its oldest delivery not yet accepted (0: none), how far \
             its receiver is behind",
            m.webhook_oldest_pending_seconds.clone(),
        );
        r.register(
            "fleetd_webhook_dead_letters",
            "Per subscription: deliveries given up on (GET /v1/webhooks/{id}/deliveries?status=failed)",
            m.webhook_dead_letters.clone(),
        );
        r.register(
            "fleetd_events_mqtt_published",
            "Events the broker acknowledged (mqtt.publish_events), on the publishing daemon",
            m.events_mqtt_published.clone(),
        );
        r.register(
            "fleetd_events_mqtt_skipped",
            "Events never published on MQTT, by reason: expired (dropped by \
             events.retention_days before their turn), too_large (over mqtt.max_packet_bytes)",
            m.events_mqtt_skipped.clone(),
        );
        r.register(
            "fleetd_events_mqtt_publishing",
            "1 on the daemon that publishes the events on MQTT (one at a time), else 0",
            m.events_mqtt_publishing.clone(),
        );
        r.register(
            "fleetd_events_mqtt_lag",
            "Events numbered but not yet acknowledged by the broker, on the publishing daemon",
            m.events_mqtt_lag.clone(),
        );
        r.register(
            "fleetd_time_rules",
            "Changes made by the time rules, by rule: shift_ended, seat_left (a driver left a \
             vehicle whose shift ended), licence_expired, no_show, refresh_token_expired",
            m.time_rules.clone(),
        );
        r.register(
            "fleetd_messages_received",
            "MQTT messages taken into the pipeline",
            m.messages_received.clone(),
        );
        r.register(
            "fleetd_readings_received",
            "Readings decoded from messages, valid or not, by topic kind",
            m.readings_received.clone(),
        );
        r.register(
            "fleetd_readings_stored",
            "Readings committed to PostgreSQL, by kind",
            m.readings_stored.clone(),
        );
        r.register(
            "fleetd_readings_duplicate",
            "Readings whose (vehicle_id, ts) was already stored, by kind",
            m.readings_duplicate.clone(),
        );
        r.register(
            "fleetd_readings_rejected",
            "Readings or whole payloads recorded in telemetry_rejects, by reason",
            m.readings_rejected.clone(),
        );
        r.register(
            "fleetd_rejects_unrecorded",
            "Rejected readings or whole payloads not written to telemetry_rejects because their \
             vehicle's reject budget (ingest.rejects_per_minute) was spent, by reason",
            m.rejects_unrecorded.clone(),
        );
        r.register(
            "fleetd_readiness_checks",
            "Queries /readyz sent to PostgreSQL (at most one a second, whatever the callers)",
            m.readiness_checks.clone(),
        );
        r.register(
            "fleetd_batch_rows",
            "Rows per committed batch",
            m.batch_rows.clone(),
        );
        r.register(
            "fleetd_copy_seconds",
            "Time to write and commit one batch",
            m.copy_seconds.clone(),
        );
        r.register(
            "fleetd_ingest_latency_seconds",
            "From message arrival to the commit that made it durable",
            m.ingest_latency_seconds.clone(),
        );
        r.register(
            "fleetd_db_errors",
            "Failed batch writes, by what the writer did next",
            m.db_errors.clone(),
        );
        r.register(
            "fleetd_decode_queue_depth",
            "Messages waiting for a decoder",
            m.decode_queue_depth.clone(),
        );
        r.register(
            "fleetd_writer_queue_depth",
            "Batches waiting for a writer",
            m.writer_queue_depth.clone(),
        );
        r.register(
            "fleetd_in_flight_bytes",
            "Payload bytes of messages not yet acknowledged",
            m.in_flight_bytes.clone(),
        );
        r.register(
            "fleetd_in_flight_messages",
            "QoS 1 messages not yet acknowledged",
            m.in_flight_messages.clone(),
        );
        for (name, help, gauge) in [
            (
                "fleetd_broker_stored_messages",
                "Messages the broker stores (its $SYS/broker/store/messages/count)",
                &m.broker_stored_messages,
            ),
            (
                "fleetd_broker_stored_bytes",
                "Bytes of the messages the broker stores ($SYS/broker/store/messages/bytes)",
                &m.broker_stored_bytes,
            ),
            (
                "fleetd_broker_clients_connected",
                "Clients connected to the broker ($SYS/broker/clients/connected)",
                &m.broker_clients_connected,
            ),
            (
                "fleetd_broker_clients_disconnected",
                "Persistent sessions the broker keeps for disconnected clients \
                 ($SYS/broker/clients/disconnected)",
                &m.broker_clients_disconnected,
            ),
            (
                "fleetd_broker_dropped_messages",
                "Messages the broker dropped since it started, a full session queue's among \
                 them ($SYS/broker/publish/messages/dropped)",
                &m.broker_dropped_messages,
            ),
        ] {
            r.register(name, help, gauge.clone());
        }
        r.register(
            "fleetd_oldest_unacked_seconds",
            "Age of the oldest message not yet acknowledged",
            m.oldest_unacked_seconds.clone(),
        );
        r.register(
            "fleetd_mqtt_connected",
            "1 while the MQTT connection is up",
            m.mqtt_connected.clone(),
        );
        r.register(
            "fleetd_mqtt_reconnects",
            "MQTT connection losses",
            m.mqtt_reconnects.clone(),
        );
        r.register(
            "fleetd_mqtt_subscription_recreated",
            "Reconnects where the broker answered session_present = 1 but the subscription was \
             gone and had to be re-created (what was published meanwhile reached nobody)",
            m.mqtt_subscription_recreated.clone(),
        );
        r.register(
            "fleetd_mqtt_messages_since_subscription_recreated",
            "Messages received on the connection since its subscription was last re-created \
             (0 if never)",
            m.mqtt_messages_since_recreated.clone(),
        );
        r.register(
            "fleetd_mqtt_session_lost",
            "Reconnects where the broker no longer had fleetd's persistent session \
             (session_present = 0): what was published before reached nobody",
            m.mqtt_session_lost.clone(),
        );
        r.register(
            "fleetd_partitions_dropped",
            "Day partitions dropped past the retention",
            m.partitions_dropped.clone(),
        );
        // List every label value at 0 from the start, so dashboards see the full set.
        for kind in [Kind::Gps, Kind::Obd] {
            for family in [
                &m.readings_received,
                &m.readings_stored,
                &m.readings_duplicate,
            ] {
                let _ = family.get_or_create(&kind_label(kind));
            }
        }
        for reason in ["expired", "too_large"] {
            let _ = m.events_mqtt_skipped.get_or_create(&[("reason", reason)]);
        }
        for outcome in ["delivered", "retry", "dead"] {
            let _ = m.webhook_deliveries.get_or_create(&[("outcome", outcome)]);
        }
        for reason in RejectReason::ALL {
            let _ = m.readings_rejected.get_or_create(&reason_label(reason));
            let _ = m.rejects_unrecorded.get_or_create(&reason_label(reason));
        }
        Arc::new(Metrics { registry, ..m })
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let m = Metrics::new();
        m.readings_stored
            .get_or_create(&kind_label(Kind::Gps))
            .inc_by(3);
        m.readings_rejected
            .get_or_create(&reason_label(RejectReason::OutOfRange))
            .inc();
        let text = m.render();
        assert!(
            text.contains("fleetd_readings_stored_total{kind=\"gps\"} 3"),
            "{text}"
        );
        assert!(text.contains("fleetd_readings_rejected_total{reason=\"out_of_range\"} 1"));
        assert!(text.contains("fleetd_readings_rejected_total{reason=\"bad_topic\"} 0"));
        assert!(text.contains("# EOF"));
    }
}
