//! `ingest.source = "jetstream"`: trackers publish MQTT to nats-server's MQTT listener and a
//! JetStream stream captures their readings. These tests run private NATS servers
//! ([`crate::common::nats::NatsCluster`]) and check what NATS itself does before fleetd reads
//! anything: the topic-to-subject mapping, and what a tracker's PUBACK is worth.
//!
//! - [`ingest`]: fleetd reading from the stream: ack after commit, a node killed, every
//!   node's live index.
//! - [`harness`]: one node and a three-node cluster start, carry MQTT to NATS subjects, and a
//!   killed node rejoins; a `.` in a vehicle id.

mod drills;
mod harness;
mod ingest;

use std::time::Duration;

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
