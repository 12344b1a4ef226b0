//! Short MQTT connections the sessions command makes as the daemon's account: whether the
//! broker holds a session for a client id, dropping one, and the broker's `$SYS` totals.
//!
//! Connecting with a client id takes the session over, disconnecting whoever holds it: the
//! command therefore connects only with ids no running daemon owns. It never acknowledges
//! anything here, so the messages the broker sends to such a connection stay queued.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS, SubscribeFilter};

use crate::config::{Config, MqttConfig};
use crate::ingest::mqtt::drain::connect_failure;

/// A connection that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("broker at {address}, as client id {client_id}: {why}")]
pub struct ProbeError {
    pub address: String,
    pub client_id: String,
    pub why: String,
}

/// The broker's totals, as `$SYS` publishes them (every `sys_interval`, retained).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub stored_messages: Option<f64>,
    pub stored_bytes: Option<f64>,
    pub disconnected_clients: Option<f64>,
}

const SYS: [&str; 3] = [
    "$SYS/broker/store/messages/count",
    "$SYS/broker/store/messages/bytes",
    "$SYS/broker/clients/disconnected",
];

/// The broker, reached as the daemon's account.
pub struct Probe {
    host: String,
    port: u16,
    /// TCP, or TLS for `mqtts://`.
    transport: rumqttc::Transport,
    mqtt: MqttConfig,
    timeout: Duration,
}

impl Probe {
    /// Fails only on unusable TLS files (`mqtt.tls_*`).
    pub fn new(config: &Config) -> Result<Probe, crate::tls::TlsError> {
        let broker = config.mqtt_endpoint().expect("validated mqtt.url");
        Ok(Probe {
            transport: crate::tls::mqtt::transport(broker.tls, config.mqtt_tls_files())?,
            host: broker.host,
            port: broker.port,
            mqtt: config.mqtt.clone(),
            timeout: Duration::from_millis(config.broker.timeout_ms),
        })
    }

    pub fn host(&self) -> (&str, u16) {
        (&self.host, self.port)
    }

    pub fn transport(&self) -> rumqttc::Transport {
        self.transport.clone()
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn error(&self, client_id: &str, why: String) -> ProbeError {
        ProbeError {
            address: format!("{}:{}", self.host, self.port),
            client_id: client_id.to_string(),
            why,
        }
    }

    /// Connects as `client_id`; returns the connection and the broker's `session_present`.
    async fn connect(
        &self,
        client_id: &str,
        clean: bool,
    ) -> Result<(AsyncClient, EventLoop, bool), ProbeError> {
        let mut options = MqttOptions::new(client_id, &self.host, self.port);
        options
            .set_keep_alive(Duration::from_secs(self.mqtt.keep_alive_s))
            .set_clean_session(clean)
            // What the broker sends is never acknowledged here, so it stays queued.
            .set_manual_acks(true)
            .set_max_packet_size(self.mqtt.max_packet_bytes, self.mqtt.max_packet_bytes)
            .set_transport(self.transport.clone());
        if !self.mqtt.username.is_empty() {
            options.set_credentials(&self.mqtt.username, self.mqtt.password.expose());
        }
        let (client, mut eventloop) = AsyncClient::new(options, 16);
        match tokio::time::timeout(self.timeout, eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) => {
                Ok((client, eventloop, ack.session_present))
            }
            Ok(Ok(other)) => Err(self.error(client_id, format!("unexpected {other:?}"))),
            Ok(Err(error)) => Err(self.error(client_id, connect_failure(&error))),
            Err(_) => Err(self.error(client_id, "no answer within broker.timeout_ms".to_string())),
        }
    }

    /// Sends DISCONNECT and polls until it is out (or the connection is gone).
    async fn close(&self, client: AsyncClient, mut eventloop: EventLoop) {
        let _ = client.try_disconnect();
        loop {
            match tokio::time::timeout(self.timeout, eventloop.poll()).await {
                Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) | Ok(Err(_)) | Err(_) => return,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Whether the broker holds a session for `client_id`. Leaves none behind where there was
    /// none (asking creates an empty one, dropped at once).
    pub async fn session_present(&self, client_id: &str) -> Result<bool, ProbeError> {
        let (client, eventloop, present) = self.connect(client_id, false).await?;
        self.close(client, eventloop).await;
        if !present {
            self.drop_session(client_id).await?;
        }
        Ok(present)
    }

    /// Discards `client_id`'s session and whatever it still queues: a clean-session connect
    /// (MQTT 3.1.1 §3.1.2.4), then a disconnect.
    pub async fn drop_session(&self, client_id: &str) -> Result<(), ProbeError> {
        let (client, eventloop, _) = self.connect(client_id, true).await?;
        self.close(client, eventloop).await;
        Ok(())
    }

    /// The broker's `$SYS` totals, as far as they arrive within the timeout. Fails only if
    /// the connection does (unreachable broker, refused account).
    pub async fn totals(&self) -> Result<Totals, ProbeError> {
        let id = format!(
            "{}-sessions-{:08x}",
            self.mqtt.client_id,
            rand::random::<u32>()
        );
        let (client, mut eventloop, _) = self.connect(&id, true).await?;
        let filters = SYS.map(|t| SubscribeFilter::new(t.to_string(), QoS::AtMostOnce));
        let _ = client.try_subscribe_many(filters);
        let mut totals = Totals::default();
        let deadline = tokio::time::Instant::now() + self.timeout;
        while totals.stored_messages.is_none()
            || totals.stored_bytes.is_none()
            || totals.disconnected_clients.is_none()
        {
            match tokio::time::timeout_at(deadline, eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    let value = std::str::from_utf8(&p.payload)
                        .ok()
                        .and_then(|s| s.trim().parse::<f64>().ok());
                    match SYS.iter().position(|t| *t == p.topic) {
                        Some(0) => totals.stored_messages = value,
                        Some(1) => totals.stored_bytes = value,
                        Some(2) => totals.disconnected_clients = value,
                        _ => {}
                    }
                }
                Ok(Ok(_)) => {}
                Ok(Err(_)) | Err(_) => break,
            }
        }
        self.close(client, eventloop).await;
        Ok(totals)
    }
}
