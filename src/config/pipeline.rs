//! The ingestion pipeline's sections: `[mqtt]`, `[ingest]` and `[partitions]`.

use serde::{Deserialize, Serialize};

use super::Secret;

/// The MQTT broker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// `mqtt://host:port` (or `tcp://`).
    pub url: String,
    /// Base of the client ids: connection `i` is `{client_id}-{i}`. Sessions are persistent,
    /// so the id must be stable across restarts and unique per daemon.
    pub client_id: String,
    /// How the connections subscribe: `plain` (one connection, `{prefix}/#`; the broker
    /// restores it with the session after a restart) or `shared` (`connections` members of
    /// `$share/{share_group}/{prefix}/#`; Mosquitto 2.0 does not restore a shared
    /// subscription after a restart, so what is published before fleetd re-subscribes is
    /// routed to nobody).
    pub subscription: SubscriptionMode,
    /// MQTT connections: exactly 1 with a plain subscription; with a shared one, more let
    /// more messages be in flight (a broker caps each connection's window), at the cost of
    /// one broker session each.
    pub connections: u16,
    /// Shared-subscription group name (`subscription = "shared"` only).
    pub share_group: String,
    /// Topic prefix: readings arrive on `{prefix}/{vehicle_id}/gps|obd`.
    pub topic_prefix: String,
    /// Publish every event (docs/events.md) at QoS 1 to `{events_prefix}/{type}/{aggregate_id}`,
    /// at least once and in id order; one daemon publishes at a time.
    pub publish_events: bool,
    /// Where events are published; outside `topic_prefix`, so fleetd never reads its own.
    pub events_prefix: String,
    /// Keep-alive interval. A short one detects dead brokers sooner but costs pings.
    pub keep_alive_s: u64,
    /// Largest MQTT packet accepted. Keep it at or above the broker's `max_packet_size`:
    /// a larger packet makes the client drop the connection and the broker redeliver it
    /// forever. Payloads over 256 KiB are still rejected (and recorded) by fleetd itself.
    pub max_packet_bytes: usize,
    /// First reconnect delay; doubles up to `reconnect_max_ms`.
    pub reconnect_min_ms: u64,
    /// Longest reconnect delay.
    pub reconnect_max_ms: u64,
    /// The daemon's own broker account (`fleetd broker setup` creates it with the
    /// subscribe rights of docs/security.md). Empty: connect without credentials.
    pub username: String,
    /// Its password.
    pub password: Secret,
    /// With `mqtts://`: CA certificates (PEM) to check the broker's certificate against;
    /// empty for the system's.
    pub tls_ca_file: String,
    /// With `mqtts://`: a client certificate (PEM) for brokers that ask for one.
    pub tls_cert_file: String,
    /// Its private key (PEM).
    pub tls_key_file: String,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            url: "mqtt://127.0.0.1:1883".into(),
            client_id: "fleetd".into(),
            subscription: SubscriptionMode::Plain,
            connections: 1,
            share_group: "fleetd".into(),
            topic_prefix: "fleet".into(),
            publish_events: false,
            events_prefix: "fleetd/events".into(),
            keep_alive_s: 30,
            max_packet_bytes: 1 << 20,
            reconnect_min_ms: 100,
            reconnect_max_ms: 10_000,
            username: String::new(),
            password: Secret::default(),
            tls_ca_file: String::new(),
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
        }
    }
}

/// How fleetd subscribes to the telemetry topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum SubscriptionMode {
    /// One connection with a plain `{prefix}/#` subscription, kept by the broker across a
    /// restart together with the persistent session.
    Plain,
    /// `$share/{group}/{prefix}/#` over `mqtt.connections` connections (or daemons).
    Shared,
}

impl TryFrom<String> for SubscriptionMode {
    type Error = String;

    /// Parsed by hand so that a hostile value is never echoed back whole.
    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "plain" => Ok(SubscriptionMode::Plain),
            "shared" => Ok(SubscriptionMode::Shared),
            _ => Err(format!(
                "subscription must be \"plain\" or \"shared\", not {:?}",
                value.chars().take(20).collect::<String>()
            )),
        }
    }
}

/// The ingestion pipeline: decode → batch → COPY.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Where readings come from: `mqtt` (a subscription on `mqtt.url`) or `jetstream` (the
    /// shared consumer of `[jetstream]`, for several fleetd nodes).
    pub source: super::IngestSource,
    /// How far in the future a reading's `ts` may be (clock skew allowance).
    pub max_future_s: u64,
    /// Raw retention: older readings are rejected and older day partitions dropped.
    pub retention_days: u32,
    /// Decoder threads; 0 means one per CPU core.
    pub decoders: usize,
    /// Messages waiting for a decoder. Full → the MQTT reader stops reading.
    pub decode_queue: usize,
    /// Payload bytes held by messages not yet acknowledged. This bounds the daemon's
    /// memory under overload: when reached, the reader stops and the broker keeps the rest.
    pub max_in_flight_bytes: usize,
    /// A batch is written when it has this many readings…
    pub batch_rows: usize,
    /// …or this many encoded bytes…
    pub batch_bytes: usize,
    /// …or when its first reading is this old. Lower means lower latency, smaller batches.
    pub batch_age_ms: u64,
    /// Concurrent COPY transactions. PostgreSQL uses one core per writer.
    pub writers: usize,
    /// Batches waiting for a writer.
    pub writer_queue: usize,
    /// First retry delay after a transient database error; doubles up to `retry_max_ms`.
    pub retry_min_ms: u64,
    /// Longest retry delay.
    pub retry_max_ms: u64,
    /// Readings of a vehicle id with no registered vehicle: `reject` records them as rejects
    /// (`unknown_vehicle`) and keeps them out of the live index; `store` stores them.
    pub unknown_vehicles: UnknownVehicles,
    /// Reject rows recorded per vehicle (topic's vehicle id level) per minute, sustained;
    /// beyond it rejects are only counted (`fleetd_rejects_unrecorded_total`), so a flood of
    /// bad payloads cannot fill `telemetry_rejects`. 0: record every reject.
    pub rejects_per_minute: u32,
    /// Reject rows a vehicle may have recorded in a burst above the sustained rate.
    pub rejects_burst: u32,
}

/// What happens to readings of unregistered vehicles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum UnknownVehicles {
    /// Recorded in `telemetry_rejects` (reason `unknown_vehicle`), never stored or shown.
    Reject,
    /// Stored like any other reading.
    Store,
}

impl TryFrom<String> for UnknownVehicles {
    type Error = String;

    /// Parsed by hand so that a hostile value is never echoed back whole.
    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "reject" => Ok(UnknownVehicles::Reject),
            "store" => Ok(UnknownVehicles::Store),
            _ => Err(format!(
                "unknown_vehicles must be \"reject\" or \"store\", not {:?}",
                value.chars().take(20).collect::<String>()
            )),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            source: super::IngestSource::Mqtt,
            max_future_s: 300,
            retention_days: 30,
            decoders: 0,
            decode_queue: 4096,
            max_in_flight_bytes: 64 << 20,
            batch_rows: 10_000,
            batch_bytes: 8 << 20,
            batch_age_ms: 100,
            writers: 2,
            writer_queue: 2,
            retry_min_ms: 100,
            retry_max_ms: 5_000,
            unknown_vehicles: UnknownVehicles::Reject,
            rejects_per_minute: 60,
            rejects_burst: 100,
        }
    }
}

/// Daily partitions of the readings tables.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PartitionConfig {
    /// Days before today created at start and on each pass (older days are created on
    /// demand when a reading for them arrives).
    pub days_behind: u32,
    /// Days after today created ahead of time, so midnight never waits for DDL.
    pub days_ahead: u32,
    /// How often to create ahead and drop past retention.
    pub interval_s: u64,
}

impl Default for PartitionConfig {
    fn default() -> Self {
        PartitionConfig {
            days_behind: 2,
            days_ahead: 3,
            interval_s: 3_600,
        }
    }
}
