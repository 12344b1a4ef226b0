//! Stage 1: MQTT connections feeding the pipeline.
//!
//! Each connection is a persistent session (fixed client id, clean session off) subscribed at
//! QoS 1 to `$share/{group}/{prefix}/#`, with manual acknowledgements. Two tasks serve it:
//! the event loop, which only polls and forwards, and the acker, which sends the PUBACKs the
//! [`InFlight`] tracker releases. Acks are never awaited inside the polling task (that can
//! deadlock against rumqttc's request channel, rumqttc#1025).
//!
//! Backpressure: before forwarding, the event loop takes the message's bytes from the
//! in-flight budget and a slot in the bounded decode queue. When either is exhausted it stops
//! polling: unacknowledged messages fill the broker's in-flight window, the broker stops
//! sending and queues the rest in the session. A connection lost meanwhile is harmless: the
//! new session's redeliveries are stored once, and the old generation's acks are never sent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::MqttConfig;
use crate::decoders::{now_us, Message};
use crate::inflight::InFlight;
use crate::metrics::Metrics;
use crate::retry;

/// Everything one connection needs.
pub struct Connection {
    pub index: usize,
    pub host: String,
    pub port: u16,
    pub config: MqttConfig,
    pub decode_queue: async_channel::Sender<Message>,
    pub budget: Arc<Semaphore>,
    pub inflight: Arc<InFlight>,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the daemon stops taking new messages.
    pub intake: CancellationToken,
    /// Cancelled when every message taken in is resolved or abandoned: send the last acks,
    /// then disconnect.
    pub drained: CancellationToken,
    /// Set while the connection is up, for `/readyz`.
    pub connected: Arc<std::sync::atomic::AtomicBool>,
}

/// The subscription every connection shares.
pub fn subscription(config: &MqttConfig) -> String {
    format!("$share/{}/{}/#", config.share_group, config.topic_prefix)
}

/// Largest payload cost charged to the in-flight budget for one message; a floor keeps tiny
/// messages from being free.
fn cost(payload_len: usize) -> u32 {
    payload_len.clamp(64, u32::MAX as usize) as u32
}

impl Connection {
    /// Runs the connection until it has disconnected after shutdown.
    pub async fn run(self) {
        let client_id = format!("{}-{}", self.config.client_id, self.index);
        let mut options = MqttOptions::new(&client_id, &self.host, self.port);
        options
            .set_keep_alive(Duration::from_secs(self.config.keep_alive_s))
            .set_clean_session(false)
            .set_manual_acks(true)
            .set_max_packet_size(self.config.max_packet_bytes, self.config.max_packet_bytes)
            // Room for a full window of acks, so the acker rarely waits on the event loop.
            .set_request_channel_capacity(4096);
        let (client, eventloop) = AsyncClient::new(options, 4096);
        let acker = tokio::spawn(ack_loop(
            client.clone(),
            self.inflight.clone(),
            self.drained.clone(),
        ));
        self.poll_loop(client, eventloop, &client_id).await;
        acker.abort();
    }

    async fn poll_loop(&self, client: AsyncClient, mut eventloop: EventLoop, client_id: &str) {
        let label = [("connection", client_id.to_string())];
        let gauge = self.metrics.mqtt_connected.get_or_create(&label).clone();
        let set_connected = |up: bool| {
            gauge.set(up as i64);
            self.connected
                .store(up, std::sync::atomic::Ordering::Relaxed);
        };
        let topic = subscription(&self.config);
        let mut failures = 0u32;
        loop {
            let event = eventloop.poll().await;
            let stopping = self.intake.is_cancelled();
            match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    failures = 0;
                    self.inflight.new_generation();
                    set_connected(true);
                    tracing::info!(
                        client_id,
                        session_present = ack.session_present,
                        "mqtt connected"
                    );
                    if let Err(error) = client.try_subscribe(topic.clone(), QoS::AtLeastOnce) {
                        tracing::error!(%error, "cannot queue the subscription");
                    }
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    if !stopping {
                        self.forward(publish).await;
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    tracing::info!(client_id, topic, codes = ?ack.return_codes, "subscribed");
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                    set_connected(false);
                    tracing::info!(client_id, "mqtt disconnected");
                    return;
                }
                Ok(_) => {}
                Err(error) => {
                    set_connected(false);
                    if stopping {
                        tracing::warn!(%error, client_id, "mqtt connection lost during shutdown; unacknowledged messages will be redelivered");
                        return;
                    }
                    self.metrics.mqtt_reconnects.inc();
                    let delay = retry::backoff(
                        failures,
                        Duration::from_millis(self.config.reconnect_min_ms),
                        Duration::from_millis(self.config.reconnect_max_ms),
                        rand::random::<f64>(),
                    );
                    failures += 1;
                    tracing::warn!(%error, client_id, ?delay, "mqtt connection failed, reconnecting");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.intake.cancelled() => return,
                    }
                }
            }
        }
    }

    /// Takes budget and a queue slot (waiting for both: this is the backpressure), then hands
    /// the message to the decoders. Shutdown closes both, and the message is left
    /// unacknowledged for redelivery.
    async fn forward(&self, publish: Publish) {
        let permit = match self
            .budget
            .clone()
            .acquire_many_owned(cost(publish.payload.len()))
            .await
        {
            Ok(p) => p,
            Err(_) => return,
        };
        let ack = self
            .inflight
            .register(publish.pkid, publish.qos, Some(permit));
        let message = Message {
            topic: publish.topic,
            payload: publish.payload,
            received_us: now_us(),
            received: Instant::now(),
            ack,
        };
        // A send error means shutdown closed the queue; dropping the message leaves it
        // unacknowledged.
        let _ = self.decode_queue.send(message).await;
    }
}

/// Sends PUBACKs as the tracker releases them; after `drained`, sends what is left, then a
/// DISCONNECT so the event loop ends.
async fn ack_loop(client: AsyncClient, inflight: Arc<InFlight>, drained: CancellationToken) {
    loop {
        let ready = inflight.take_ready();
        if ready.is_empty() {
            if drained.is_cancelled() {
                let _ = client.disconnect().await;
                return;
            }
            tokio::select! {
                _ = inflight.ready() => {}
                _ = drained.cancelled() => {}
            }
            continue;
        }
        for (pkid, qos) in ready {
            let mut stub = Publish::new("", qos, Vec::new());
            stub.pkid = pkid;
            if client.ack(&stub).await.is_err() {
                return; // event loop gone
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_subscription_topic() {
        let c = MqttConfig::default();
        assert_eq!(subscription(&c), "$share/fleetd/fleet/#");
    }

    #[test]
    fn cost_has_a_floor() {
        assert_eq!(cost(0), 64);
        assert_eq!(cost(1000), 1000);
    }
}
