//! `ingest.source` and the `[jetstream]` section: readings taken from a NATS JetStream stream
//! instead of a Mosquitto subscription, so that several fleetd nodes can share the work
//! (docs/scale-out.md).

use serde::{Deserialize, Serialize};

use super::validate::{invalid, range, tls_files};
use super::{ConfigError, Secret};
use crate::tls::TlsFiles;

/// Where the readings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum IngestSource {
    /// A subscription on the MQTT broker at `mqtt.url` (one machine).
    Mqtt,
    /// The durable consumer `jetstream.consumer` on the stream `jetstream.stream`, shared by
    /// every fleetd node; trackers publish over MQTT to nats-server, which stores what they
    /// publish in that stream.
    Jetstream,
}

impl TryFrom<String> for IngestSource {
    type Error = String;

    /// Parsed by hand so that a hostile value is never echoed back whole.
    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "mqtt" => Ok(IngestSource::Mqtt),
            "jetstream" => Ok(IngestSource::Jetstream),
            _ => Err(format!(
                "source must be \"mqtt\" or \"jetstream\", not {:?}",
                value.chars().take(20).collect::<String>()
            )),
        }
    }
}

/// Which stream holds the readings fleetd takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum Capture {
    /// nats-server's own MQTT stream `$MQTT_msgs`, which a tracker's QoS 1 PUBLISH is stored
    /// in before its PUBACK: the only one of the two that a PUBACK vouches for (docs/nats.md).
    Mqtt,
    /// A stream of fleetd's own, `jetstream.stream`, on the readings' subjects: for publishers
    /// that publish to JetStream and wait for its acknowledgement. nats-server feeds it from
    /// MQTT without waiting, so MQTT trackers lose PUBACKed readings when its leader fails.
    Stream,
}

impl TryFrom<String> for Capture {
    type Error = String;

    /// Parsed by hand so that a hostile value is never echoed back whole.
    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "mqtt" => Ok(Capture::Mqtt),
            "stream" => Ok(Capture::Stream),
            _ => Err(format!(
                "capture must be \"mqtt\" or \"stream\", not {:?}",
                value.chars().take(20).collect::<String>()
            )),
        }
    }
}

/// The NATS JetStream source (used with `ingest.source = "jetstream"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JetStreamConfig {
    /// NATS servers, comma-separated (`nats://host:4222,nats://host2:4222`); the client
    /// connects to one and fails over to the others. `tls://` servers (all or none) are
    /// spoken to over TLS only.
    pub urls: String,
    /// NATS user and password; empty: none.
    pub username: String,
    pub password: Secret,
    /// With `tls://` servers: CA certificates (PEM) to check theirs against; empty: the
    /// system's trust store.
    pub tls_ca_file: String,
    /// With `tls://` servers that ask for one: the node's client certificate (PEM), with
    /// `tls_key_file`.
    pub tls_cert_file: String,
    pub tls_key_file: String,
    /// A file holding the seed of the NKey user the node connects as (`SU...`, one line);
    /// empty: none. Instead of `username`.
    pub nkey_seed_file: String,
    /// The connection's name as the servers show it (`/connz`); the host name is a good one.
    pub name: String,
    /// `mqtt`: take the readings from nats-server's MQTT stream `$MQTT_msgs` (what a PUBACK
    /// vouches for); `stream`: from `jetstream.stream`, a stream of fleetd's own.
    pub capture: Capture,
    /// With `capture = "stream"`: the stream that captures the readings' subjects
    /// (`{prefix}.*.gps`, `{prefix}.*.obd` for `mqtt.topic_prefix`); created at start when
    /// missing, checked when present.
    pub stream: String,
    /// Copies the stream keeps, on as many servers: 1, or 3 (or 5) in a cluster. With
    /// `capture = "mqtt"` nats-server sets them (`mqtt { stream_replicas }`) and fleetd
    /// refuses a `$MQTT_msgs` with another count.
    pub replicas: u64,
    /// With `capture = "stream"`: how long the stream keeps a reading after it arrived,
    /// acknowledged or not: the longest database outage ingestion can ride out without losing
    /// readings. (`$MQTT_msgs` keeps a reading until fleetd acknowledges it.)
    pub max_age_s: u64,
    /// With `capture = "stream"`: the stream's size limit in bytes, oldest dropped first; 0:
    /// none.
    pub max_bytes: u64,
    /// The durable pull consumer that every fleetd node shares: each reading goes to one node.
    pub consumer: String,
    /// How long a node may hold a reading unacknowledged before the servers give it to
    /// another node: the time a dead node's readings wait.
    pub ack_wait_ms: u64,
    /// Readings delivered and not yet acknowledged, over every node together: the window that
    /// batches are made from.
    pub max_ack_pending: u64,
    /// Readings asked for in one pull.
    pub pull_batch: u64,
    /// The core NATS subject on which each node shares the positions it committed, so that
    /// every node's live index (nearest queries, the map) sees the whole fleet.
    pub live_subject: String,
}

impl Default for JetStreamConfig {
    fn default() -> Self {
        JetStreamConfig {
            urls: "nats://127.0.0.1:4222".into(),
            username: String::new(),
            password: Secret::default(),
            tls_ca_file: String::new(),
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            nkey_seed_file: String::new(),
            name: "fleetd".into(),
            capture: Capture::Mqtt,
            stream: "FLEET".into(),
            replicas: 1,
            max_age_s: 7 * 86_400,
            max_bytes: 0,
            consumer: "fleetd".into(),
            ack_wait_ms: 30_000,
            max_ack_pending: 20_000,
            pull_batch: 500,
            live_subject: "fleetd.live".into(),
        }
    }
}

impl JetStreamConfig {
    /// The servers, trimmed. Call after [`super::Config::validate`].
    pub fn server_list(&self) -> Vec<String> {
        self.urls
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    /// The servers are `tls://` ones. Call after [`super::Config::validate`].
    pub fn tls(&self) -> bool {
        self.server_list()
            .first()
            .is_some_and(|s| s.starts_with("tls://"))
    }

    /// The TLS files (`jetstream.tls_*`).
    pub fn tls_files(&self) -> TlsFiles<'_> {
        TlsFiles {
            ca_file: &self.tls_ca_file,
            cert_file: &self.tls_cert_file,
            key_file: &self.tls_key_file,
        }
    }
}

/// A stream or consumer name: NATS forbids whitespace, `.`, `*`, `>` and path separators;
/// this keeps to a portable subset.
fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A literal subject: tokens of `[A-Za-z0-9_-]` joined by `.`, no wildcards.
fn subject_ok(s: &str) -> bool {
    s.len() <= 128
        && s.split('.').all(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl super::Config {
    /// `ingest.source` and `[jetstream]`; the servers are checked whatever the source, so
    /// that a typo is found before the day it is switched on.
    pub(super) fn validate_jetstream(&self) -> Result<(), ConfigError> {
        let j = &self.jetstream;
        let servers = j.server_list();
        if servers.is_empty() || servers.len() > 32 || j.urls.len() > 4096 {
            return Err(invalid(
                "jetstream.urls",
                "1-32 comma-separated nats:// URLs",
            ));
        }
        for s in &servers {
            let url = url::Url::parse(s).map_err(|_| {
                invalid("jetstream.urls", "each must be a URL like nats://host:4222")
            })?;
            if !matches!(url.scheme(), "nats" | "tls")
                || url.scheme() != servers[0].split(':').next().unwrap_or_default()
                || url.host_str().is_none_or(str::is_empty)
                || !url.username().is_empty()
                || url.password().is_some()
                || !matches!(url.path(), "" | "/")
                || url.query().is_some()
                || url.fragment().is_some()
            {
                return Err(invalid(
                    "jetstream.urls",
                    "each must be nats://host[:port], or each tls://host[:port], without \
                     credentials (jetstream.username, jetstream.password), path or query",
                ));
            }
        }
        if j.username.len() > 256 || j.username.chars().any(char::is_control) {
            return Err(invalid(
                "jetstream.username",
                "at most 256 characters, no control characters",
            ));
        }
        tls_files("jetstream", j.tls(), j.tls_files())?;
        if j.nkey_seed_file.len() > 4096 || j.nkey_seed_file.chars().any(char::is_control) {
            return Err(invalid(
                "jetstream.nkey_seed_file",
                "must be a file path (at most 4096 bytes, no control characters)",
            ));
        }
        if !j.nkey_seed_file.is_empty() && !j.username.is_empty() {
            return Err(invalid(
                "jetstream.nkey_seed_file",
                "set jetstream.username or jetstream.nkey_seed_file, not both",
            ));
        }
        if j.name.is_empty()
            || j.name.len() > 64
            || !j
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(invalid(
                "jetstream.name",
                "1-64 characters of [A-Za-z0-9._-]",
            ));
        }
        for (key, value) in [
            ("jetstream.stream", &j.stream),
            ("jetstream.consumer", &j.consumer),
        ] {
            if !name_ok(value) {
                return Err(invalid(key, "1-32 characters of [A-Za-z0-9_-]"));
            }
        }
        if !matches!(j.replicas, 1 | 3 | 5) {
            return Err(invalid(
                "jetstream.replicas",
                "must be 1, 3 or 5 (a RAFT group needs an odd number of servers)",
            ));
        }
        range("jetstream.max_age_s", j.max_age_s, 60, 366 * 86_400)?;
        range("jetstream.max_bytes", j.max_bytes, 0, 1 << 50)?;
        range("jetstream.ack_wait_ms", j.ack_wait_ms, 1_000, 3_600_000)?;
        range("jetstream.max_ack_pending", j.max_ack_pending, 1, 1_000_000)?;
        range("jetstream.pull_batch", j.pull_batch, 1, 10_000)?;
        if j.pull_batch > j.max_ack_pending {
            return Err(invalid(
                "jetstream.pull_batch",
                "must not exceed jetstream.max_ack_pending",
            ));
        }
        if !subject_ok(&j.live_subject) {
            return Err(invalid(
                "jetstream.live_subject",
                "a subject of [A-Za-z0-9_-] tokens joined by '.', no wildcards, at most 128 bytes",
            ));
        }
        if self.ingest.source == IngestSource::Jetstream
            && !self.mqtt.topic_prefix.split('/').all(|level| {
                !level.is_empty()
                    && level
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
        {
            return Err(invalid(
                "mqtt.topic_prefix",
                "with ingest.source = \"jetstream\", levels of [A-Za-z0-9_-] only (each level \
                 becomes a NATS subject token)",
            ));
        }
        let prefix = crate::ingest::jetstream::subjects::subject_prefix(&self.mqtt.topic_prefix);
        if j.live_subject == prefix || j.live_subject.starts_with(&format!("{prefix}.")) {
            return Err(invalid(
                "jetstream.live_subject",
                "must lie outside the readings' subjects (mqtt.topic_prefix)",
            ));
        }
        Ok(())
    }
}
