//! Stage 1: MQTT connections feeding the pipeline.
//!
//! Each connection is a persistent session (fixed client id, clean session off) subscribed at
//! QoS 1, with manual acknowledgements: by default one connection with a plain `{prefix}/#`,
//! which the broker restores with the session after its own restart; optionally several
//! members of `$share/{group}/{prefix}/#`, which Mosquitto 2.0 does not restore. Every
//! reconnect checks what the broker really kept ([`session`]). Two tasks serve a connection:
//! the event loop, which only polls and forwards, and the acker, which sends the PUBACKs the
//! [`InFlight`] tracker releases. Acks are never awaited inside the polling task (that can
//! deadlock against rumqttc's request channel, rumqttc#1025).
//!
//! Backpressure: before forwarding, the event loop takes the message's bytes from the
//! in-flight budget and a slot in the bounded decode queue. When either is exhausted it stops
//! polling: unacknowledged messages fill the broker's in-flight window, the broker stops
//! sending and queues the rest in the session. A connection lost meanwhile is harmless: the
//! new session's redeliveries are stored once, and the old generation's acks are never sent.

pub mod broker_stats;
pub mod drain;
pub mod session;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{
    AsyncClient, ClientError, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS,
    SubscribeFilter,
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::MqttConfig;
use crate::ingest::decoders::{now_us, Message};
use crate::ingest::inflight::InFlight;
use crate::metrics::Metrics;
use crate::retry;
use session::{Outcome, Probe, SessionState, Topics};

/// Everything one connection needs.
pub struct Connection {
    pub index: usize,
    pub host: String,
    pub port: u16,
    /// TCP or TLS (`mqtts://`).
    pub transport: rumqttc::Transport,
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
    /// Connection state and the last session check, for `/readyz` and `/metrics`.
    pub session: Arc<SessionState>,
    /// The broker's `$SYS` counters (read by connection 0).
    pub broker_stats: Arc<broker_stats::BrokerStats>,
}

/// The client id of connection `index`.
pub fn client_id(config: &MqttConfig, index: usize) -> String {
    format!("{}-{index}", config.client_id)
}

/// Largest payload cost charged to the in-flight budget for one message; a floor keeps tiny
/// messages from being free.
fn cost(payload_len: usize) -> u32 {
    payload_len.clamp(64, u32::MAX as usize) as u32
}

impl Connection {
    /// Runs the connection until it has disconnected after shutdown.
    pub async fn run(self) {
        let client_id = client_id(&self.config, self.index);
        let mut options = MqttOptions::new(&client_id, &self.host, self.port);
        options
            .set_keep_alive(Duration::from_secs(self.config.keep_alive_s))
            .set_clean_session(false)
            .set_manual_acks(true)
            .set_max_packet_size(self.config.max_packet_bytes, self.config.max_packet_bytes)
            // Room for a full window of acks, so the acker rarely waits on the event loop.
            .set_request_channel_capacity(4096)
            .set_transport(self.transport.clone());
        if !self.config.username.is_empty() {
            options.set_credentials(&self.config.username, self.config.password.expose());
        }
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
        // The connection's counters at 0 from the start, so that dashboards see them before
        // the first loss.
        let _ = self.metrics.mqtt_session_lost.get_or_create(&label);
        let _ = self
            .metrics
            .mqtt_subscription_recreated
            .get_or_create(&label);
        let set_down = || {
            gauge.set(0);
            self.session.disconnected();
        };
        let topics = Topics::new(&self.config, client_id);
        let mut probe = Probe::start(false, 0);
        let mut failures = 0u32;
        let mut connected_before = false;
        let mut disconnecting = false;
        loop {
            let event = if disconnecting {
                // The DISCONNECT (and the PUBACKs before it) are written; wait for the broker
                // to close the connection, so that closing it here cannot reset it before
                // they are read (unread bytes in a closed socket's buffer make Linux send RST).
                match tokio::time::timeout(DISCONNECT_GRACE, eventloop.poll()).await {
                    Ok(Err(_)) | Err(_) => return,
                    Ok(Ok(_)) => continue,
                }
            } else {
                eventloop.poll().await
            };
            let stopping = self.intake.is_cancelled();
            match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    failures = 0;
                    self.inflight.new_generation();
                    gauge.set(1);
                    probe = Probe::start(ack.session_present, rand::random());
                    self.session.connected(ack.session_present, probe.outcome());
                    tracing::info!(
                        client_id,
                        session_present = ack.session_present,
                        "mqtt connected"
                    );
                    if connected_before && !ack.session_present {
                        self.metrics
                            .mqtt_session_lost
                            .get_or_create(&[("connection", client_id.to_string())])
                            .inc();
                        tracing::warn!(
                            client_id,
                            "the broker lost this persistent session (restarted without \
                             persistence, or killed before saving it): readings published \
                             before this reconnect were routed to nobody"
                        );
                    }
                    connected_before = true;
                    if let Err(error) = subscribe(&client, &topics, &probe) {
                        tracing::error!(%error, "cannot queue the subscription");
                    }
                    if self.index == 0 {
                        // The broker's counters, at QoS 0: nothing to acknowledge or keep.
                        let sys = broker_stats::TOPICS
                            .map(|t| SubscribeFilter::new(t.to_string(), QoS::AtMostOnce));
                        if let Err(error) = client.try_subscribe_many(sys) {
                            tracing::warn!(%error, "cannot subscribe to the broker's $SYS counters");
                        }
                    }
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    if publish.topic.starts_with("$SYS/") {
                        self.broker_stats
                            .record(&self.metrics, &publish.topic, &publish.payload);
                    } else if publish.topic == topics.canary_topic {
                        self.canary(&publish, &mut probe, client_id, &topics.telemetry);
                    } else if !stopping {
                        self.session.received();
                        self.forward(publish).await;
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    tracing::info!(client_id, topic = topics.telemetry, codes = ?ack.return_codes, "subscribed");
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                    set_down();
                    tracing::info!(client_id, "mqtt disconnected");
                    disconnecting = true;
                }
                Ok(_) => {}
                Err(error) => {
                    set_down();
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

    /// A message on this connection's canary topic: acknowledged at once (in order with the
    /// others), and fed to the session check.
    fn canary(&self, publish: &Publish, probe: &mut Probe, client_id: &str, filter: &str) {
        self.inflight
            .register(publish.pkid, publish.qos, None)
            .resolve();
        match probe.on_canary(&publish.payload) {
            Some(Outcome::Recreated) => {
                self.session.checked(Outcome::Recreated);
                self.metrics
                    .mqtt_subscription_recreated
                    .get_or_create(&[("connection", client_id.to_string())])
                    .inc();
                tracing::warn!(
                    client_id,
                    subscription = filter,
                    "the broker kept the session but not its subscription; it was re-created. \
                     Readings published between the broker's restart and now were routed to \
                     nobody (see docs/delivery.md)"
                );
            }
            Some(outcome) => {
                self.session.checked(outcome);
                tracing::info!(client_id, ?outcome, "the broker kept the subscription");
            }
            None => {}
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

/// Queues, in this order: the probe (sessions the broker claims to have kept), the telemetry
/// and canary subscriptions, the check, then the unsubscription of the other mode's filters
/// (after subscribing, so nothing falls between the two).
fn subscribe(client: &AsyncClient, topics: &Topics, probe: &Probe) -> Result<(), ClientError> {
    let canary = probe.needs_canary();
    if canary {
        client.try_publish(
            &topics.canary_topic,
            QoS::AtLeastOnce,
            false,
            probe.probe_payload(),
        )?;
    }
    client.try_subscribe_many([
        SubscribeFilter::new(topics.telemetry.clone(), QoS::AtLeastOnce),
        SubscribeFilter::new(topics.canary_filter.clone(), QoS::AtLeastOnce),
    ])?;
    if canary {
        client.try_publish(
            &topics.canary_topic,
            QoS::AtLeastOnce,
            false,
            probe.check_payload(),
        )?;
    }
    for stale in &topics.stale {
        client.try_unsubscribe(stale)?;
    }
    Ok(())
}

/// How long to wait, after sending DISCONNECT, for the broker to close the connection.
const DISCONNECT_GRACE: Duration = Duration::from_secs(1);

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
    fn client_ids_are_numbered() {
        let c = MqttConfig::default();
        assert_eq!(client_id(&c, 0), "fleetd-0");
        assert_eq!(client_id(&c, 3), "fleetd-3");
    }

    #[test]
    fn cost_has_a_floor() {
        assert_eq!(cost(0), 64);
        assert_eq!(cost(1000), 1000);
    }
}
