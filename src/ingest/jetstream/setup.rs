//! The stream and the shared consumer: created at start when missing, checked when present.
//!
//! With `capture = "mqtt"` (the default) the stream is nats-server's own `$MQTT_msgs`, in
//! which the MQTT listener stores a tracker's QoS 1 PUBLISH before it sends the PUBACK; it
//! keeps a message while a consumer whose filter matches has not acknowledged it, and drops
//! at once what no consumer asked for. So fleetd's durable consumer, filtered on
//! `$MQTT.msgs.{prefix}.>`, must exist before the first tracker publishes: fleetd creates it at
//! start, first making nats-server create its MQTT streams (by an MQTT connection to
//! `mqtt.url`) when they do not exist yet. From then on a PUBACK means "stored on
//! `mqtt.stream_replicas` servers and kept until fleetd acknowledges it" (docs/nats.md).
//!
//! With `capture = "stream"`, a stream of fleetd's own on the readings' subjects. A stream that
//! exists with other subjects or another replica count is refused rather than changed: that is
//! an operator's decision (`nats stream edit`), and two nodes configured differently would
//! otherwise undo each other's change on every start.
//!
//! Every node runs this at start, so it is idempotent and race-free: creating a stream or
//! consumer that another node has just created with the same configuration succeeds.

use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::stream::{self, DiscardPolicy, RetentionPolicy, StorageType};
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::{self, context::GetStreamErrorKind};

use super::subjects::{stream_subjects, subject_prefix, MQTT_MSGS_PREFIX};
use crate::config::{Capture, Config};

/// nats-server's MQTT stream (the same name from 2.2 to 2.12).
pub const MQTT_MSGS: &str = "$MQTT_msgs";

/// Why the stream or consumer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("JetStream request failed: {0}")]
    Request(String),
    #[error(
        "stream {stream} exists with {found}, not {wanted}; change jetstream.* or the stream \
         (nats stream edit {stream})"
    )]
    Mismatch {
        stream: String,
        found: String,
        wanted: String,
    },
}

fn request(e: impl std::fmt::Display) -> SetupError {
    SetupError::Request(e.to_string())
}

/// The stream's configuration: every reading's subject, file storage, `replicas` copies, kept
/// `max_age_s` whatever the consumers did (limits retention: the per-node ordered readers and
/// a replay after a database restore need the readings to stay).
pub fn stream_config(config: &Config) -> stream::Config {
    let j = &config.jetstream;
    stream::Config {
        name: j.stream.clone(),
        subjects: stream_subjects(&config.mqtt.topic_prefix),
        retention: RetentionPolicy::Limits,
        storage: StorageType::File,
        num_replicas: j.replicas as usize,
        max_age: Duration::from_secs(j.max_age_s),
        max_bytes: if j.max_bytes == 0 {
            -1
        } else {
            i64::try_from(j.max_bytes).unwrap_or(i64::MAX)
        },
        // Oldest first: a full stream keeps taking the newest readings.
        discard: DiscardPolicy::Old,
        max_message_size: i32::try_from(config.mqtt.max_packet_bytes).unwrap_or(i32::MAX),
        description: Some("fleetd: vehicle readings published over MQTT".into()),
        ..Default::default()
    }
}

/// The consumer every node shares: explicit acks (sent after the commit), redelivery after
/// `ack_wait_ms` without limit (a reading is never dropped for being slow), the whole stream
/// from the start the first time.
pub fn consumer_config(config: &Config) -> pull::Config {
    let j = &config.jetstream;
    pull::Config {
        durable_name: Some(j.consumer.clone()),
        filter_subject: match j.capture {
            Capture::Mqtt => format!(
                "{MQTT_MSGS_PREFIX}{}.>",
                subject_prefix(&config.mqtt.topic_prefix)
            ),
            Capture::Stream => String::new(),
        },
        description: Some("fleetd nodes: ingestion into PostgreSQL".into()),
        deliver_policy: DeliverPolicy::All,
        ack_policy: AckPolicy::Explicit,
        ack_wait: Duration::from_millis(j.ack_wait_ms),
        max_deliver: -1,
        max_ack_pending: i64::try_from(j.max_ack_pending).unwrap_or(i64::MAX),
        max_waiting: 512,
        ..Default::default()
    }
}

/// Creates or checks the stream, then the consumer, and returns the consumer.
pub async fn ensure(js: &jetstream::Context, config: &Config) -> Result<PullConsumer, SetupError> {
    let stream = match config.jetstream.capture {
        Capture::Mqtt => mqtt_stream(js, config).await?,
        Capture::Stream => own_stream(js, config).await?,
    };
    let consumer = consumer_config(config);
    let name = consumer.durable_name.clone().unwrap_or_default();
    match stream.get_consumer::<pull::Config>(&name).await {
        Ok(mut existing) => {
            let info = existing.info().await.map_err(request)?;
            let c = &info.config;
            if c.filter_subject != consumer.filter_subject {
                return Err(SetupError::Mismatch {
                    stream: stream.cached_info().config.name.clone(),
                    found: format!("consumer {name} filtered on {:?}", c.filter_subject),
                    wanted: format!("{:?} (mqtt.topic_prefix)", consumer.filter_subject),
                });
            }
            if c.ack_wait == consumer.ack_wait && c.max_ack_pending == consumer.max_ack_pending {
                return Ok(existing);
            }
            tracing::info!(consumer = %name, "updating the consumer's ack_wait and max_ack_pending");
            match stream.create_consumer(consumer).await {
                Ok(updated) => Ok(updated),
                Err(error) => {
                    tracing::warn!(%error, consumer = %name,
                        "the servers refused to update the consumer; using it as it is");
                    Ok(existing)
                }
            }
        }
        Err(_) => stream.create_consumer(consumer).await.map_err(request),
    }
}

fn not_found(e: &jetstream::context::GetStreamError) -> bool {
    matches!(e.kind(), GetStreamErrorKind::JetStream(ref j)
        if j.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

/// nats-server's `$MQTT_msgs`, made to exist first, with as many replicas as configured.
async fn mqtt_stream(
    js: &jetstream::Context,
    config: &Config,
) -> Result<jetstream::stream::Stream, SetupError> {
    let mut stream = match js.get_stream(MQTT_MSGS).await {
        Ok(stream) => stream,
        Err(e) if not_found(&e) => {
            tracing::info!(
                "nats-server has not created its MQTT streams yet; connecting to its MQTT \
                 listener (mqtt.url) so that it does"
            );
            super::poke::mqtt_listener(config)
                .await
                .map_err(SetupError::Request)?;
            js.get_stream(MQTT_MSGS).await.map_err(request)?
        }
        Err(e) => return Err(request(e)),
    };
    let info = stream.info().await.map_err(request)?;
    let found = &info.config;
    let wanted = config.jetstream.replicas as usize;
    if found.num_replicas.max(1) != wanted {
        return Err(SetupError::Mismatch {
            stream: MQTT_MSGS.into(),
            found: format!("{} replicas", found.num_replicas.max(1)),
            wanted: format!(
                "{wanted} (jetstream.replicas; nats-server's mqtt {{ stream_replicas }} sets them)"
            ),
        });
    }
    if found.retention != RetentionPolicy::Interest {
        return Err(SetupError::Mismatch {
            stream: MQTT_MSGS.into(),
            found: format!("retention {:?}", found.retention),
            wanted: "interest retention (is this nats-server's own MQTT stream?)".into(),
        });
    }
    Ok(stream)
}

/// `jetstream.stream`, created when missing, checked when present.
async fn own_stream(
    js: &jetstream::Context,
    config: &Config,
) -> Result<jetstream::stream::Stream, SetupError> {
    let wanted = stream_config(config);
    match js.get_stream(&wanted.name).await {
        Ok(mut stream) => {
            let info = stream.info().await.map_err(request)?;
            check_stream(&info.config, &wanted)?;
            Ok(stream)
        }
        Err(e) if not_found(&e) => {
            tracing::info!(stream = %wanted.name, subjects = ?wanted.subjects,
                replicas = wanted.num_replicas, "creating the JetStream stream");
            // Another node may create it at the same moment: the same configuration is
            // accepted twice.
            js.get_or_create_stream(wanted.clone())
                .await
                .map_err(request)
        }
        Err(e) => Err(request(e)),
    }
}

/// A present stream must capture every reading's subject and keep as many copies as asked.
fn check_stream(found: &stream::Config, wanted: &stream::Config) -> Result<(), SetupError> {
    let missing: Vec<&String> = wanted
        .subjects
        .iter()
        .filter(|s| !found.subjects.contains(s))
        .collect();
    if !missing.is_empty() {
        return Err(SetupError::Mismatch {
            stream: wanted.name.clone(),
            found: format!("subjects {:?}", found.subjects),
            wanted: format!("subjects including {missing:?}"),
        });
    }
    if found.num_replicas.max(1) != wanted.num_replicas {
        return Err(SetupError::Mismatch {
            stream: wanted.name.clone(),
            found: format!("{} replicas", found.num_replicas.max(1)),
            wanted: format!("{} (jetstream.replicas)", wanted.num_replicas),
        });
    }
    if found.retention != RetentionPolicy::Limits {
        return Err(SetupError::Mismatch {
            stream: wanted.name.clone(),
            found: format!("retention {:?}", found.retention),
            wanted: "limits retention (several consumers read it)".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_follow_the_settings() {
        let mut c = Config::default();
        c.mqtt.topic_prefix = "acme/fleet".into();
        c.jetstream.replicas = 3;
        c.jetstream.max_bytes = 0;
        let s = stream_config(&c);
        assert_eq!(s.subjects, vec!["acme.fleet.*.gps", "acme.fleet.*.obd"]);
        assert_eq!((s.num_replicas, s.max_bytes), (3, -1));
        let p = consumer_config(&c);
        assert_eq!(p.durable_name.as_deref(), Some("fleetd"));
        assert_eq!((p.max_deliver, p.ack_policy), (-1, AckPolicy::Explicit));
    }

    #[test]
    fn a_stream_set_up_otherwise_is_refused_with_the_difference() {
        let c = Config::default();
        let wanted = stream_config(&c);
        assert!(check_stream(&wanted, &wanted).is_ok());
        let mut wider = wanted.clone();
        wider.subjects.push("other.>".into());
        assert!(check_stream(&wider, &wanted).is_ok());
        let mut narrow = wanted.clone();
        narrow.subjects.truncate(1);
        let e = check_stream(&narrow, &wanted).unwrap_err().to_string();
        assert!(e.contains("fleet.*.obd"), "{e}");
        let mut three = wanted.clone();
        three.num_replicas = 3;
        let e = check_stream(&three, &wanted).unwrap_err().to_string();
        assert!(e.contains("3 replicas"), "{e}");
        let mut queue = wanted.clone();
        queue.retention = RetentionPolicy::WorkQueue;
        assert!(check_stream(&queue, &wanted).is_err());
    }
}
