//! `ingest.source = "jetstream"`: trackers publish MQTT to nats-server's MQTT listener and a
//! JetStream stream captures their readings. These tests run private NATS servers
//! ([`crate::common::nats::NatsCluster`]) and check what NATS itself does before fleetd reads
//! anything: the topic-to-subject mapping, and what a tracker's PUBACK is worth.
//!
//! - [`ingest`]: fleetd reading from the stream: ack after commit, a node killed, every
//!   node's live index.
//! - [`harness`]: one node and a three-node cluster start, carry MQTT to NATS subjects, and a
//!   killed node rejoins; a `.` in a vehicle id.
//! - [`puback`]: whether a tracker's PUBACK means its reading is in the replicated stream,
//!   when a node is killed right after (it does not: see the file and docs/nats.md).
//! - [`mqtt_msgs`]: the configuration that does keep every PUBACKed reading (a durable
//!   consumer on MQTT's own stream).
//! - [`security`]: fleetd to NATS over TLS with a client certificate and an NKey.
//! - [`tracker`]: a QoS 1 publisher that records which readings were PUBACKed.

mod drills;
mod harness;
mod ingest;
mod mqtt_msgs;
mod puback;
mod security;
mod tracker;

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

/// Publishes one QoS 1 message from a fresh MQTT client at `port`: `Ok` once PUBACKed,
/// `Err` with the reason when the server closed the connection first or never answered.
pub async fn publish_qos1(port: u16, topic: &str, payload: &[u8]) -> Result<(), String> {
    let mut o = MqttOptions::new(format!("trk{:x}", rand::random::<u32>()), "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = AsyncClient::new(o, 10);
    client
        .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
        .await
        .map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, eventloop.poll()).await {
            Err(_) => return Err("no PUBACK within 10 s".into()),
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.to_string()),
        }
    }
}

/// Waits until `stream` has a leader and every replica is current; returns its info.
pub async fn settled(js: &jetstream::Context, stream: &str) -> stream::Info {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = js.get_stream(stream).await {
            if let Ok(info) = s.get_info().await {
                let c = info.cluster.clone().unwrap_or_default();
                if c.leader.is_some()
                    && c.replicas.len() == 2
                    && c.replicas.iter().all(|r| r.current)
                {
                    return info;
                }
            }
        }
        assert!(Instant::now() < deadline, "{stream} never settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `stream`'s leader, once it has one and every replica is current.
pub async fn leader_of(js: &jetstream::Context, stream: &str) -> String {
    settled(js, stream).await.cluster.unwrap().leader.unwrap()
}
