//! One MQTT connection of the event publisher: a clean session (it subscribes to nothing)
//! whose event loop runs in a task of its own and reports what the publisher needs, the
//! packet id of each publish as it goes out and each PUBACK, until the connection fails.
//! A failed connection is never resumed: the publisher makes a new one and publishes again
//! from what was acknowledged, so the client's own retransmissions never mix in.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{Config, MqttConfig};
use crate::ingest::mqtt::drain::connect_failure;

/// What the event loop saw.
#[derive(Debug)]
pub enum Signal {
    /// A publish went out with this packet id.
    Sent(u16),
    /// The broker acknowledged this packet id.
    Acked(u16),
    /// The connection failed (why).
    Lost(String),
}

/// Where and as whom to connect.
pub struct Broker {
    host: String,
    port: u16,
    transport: rumqttc::Transport,
    mqtt: MqttConfig,
    /// `{mqtt.client_id}-events`.
    client_id: String,
}

/// A live connection: publish with `client`, follow `signals`.
pub struct Connection {
    pub client: AsyncClient,
    pub signals: mpsc::UnboundedReceiver<Signal>,
    poller: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

impl Broker {
    /// Fails only on unusable TLS files (`mqtt.tls_*`), which the daemon checked at start.
    pub fn new(config: &Config) -> Result<Broker, crate::tls::TlsError> {
        let endpoint = config.mqtt_endpoint().expect("validated mqtt.url");
        Ok(Broker {
            transport: crate::tls::mqtt::transport(endpoint.tls, config.mqtt_tls_files())?,
            host: endpoint.host,
            port: endpoint.port,
            mqtt: config.mqtt.clone(),
            client_id: format!("{}-events", config.mqtt.client_id),
        })
    }

    /// `mqtt.events_prefix`.
    pub fn events_prefix(&self) -> &str {
        &self.mqtt.events_prefix
    }

    /// The largest payload the broker is sent; a larger event cannot be published.
    pub fn max_payload(&self) -> usize {
        self.mqtt.max_packet_bytes
    }

    /// Connects with at most `window` publishes in flight; returns once the broker has
    /// accepted the connection (or failed to within `timeout`).
    pub async fn connect(&self, window: u16, timeout: Duration) -> Result<Connection, String> {
        let mut options = MqttOptions::new(&self.client_id, &self.host, self.port);
        options
            .set_keep_alive(Duration::from_secs(self.mqtt.keep_alive_s))
            .set_clean_session(true)
            .set_inflight(window)
            .set_max_packet_size(self.mqtt.max_packet_bytes, self.mqtt.max_packet_bytes)
            .set_transport(self.transport.clone());
        if !self.mqtt.username.is_empty() {
            options.set_credentials(&self.mqtt.username, self.mqtt.password.expose());
        }
        // Room for every publish the window allows: handing one over never waits.
        let (client, mut eventloop) = AsyncClient::new(options, usize::from(window) + 16);
        match tokio::time::timeout(timeout, eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {}
            Ok(Ok(other)) => return Err(format!("unexpected {other:?} before CONNACK")),
            Ok(Err(error)) => return Err(connect_failure(&error)),
            Err(_) => return Err("no CONNACK in time".into()),
        }
        let (tx, signals) = mpsc::unbounded_channel();
        let poller = tokio::spawn(poll(eventloop, tx));
        Ok(Connection {
            client,
            signals,
            poller,
        })
    }
}

async fn poll(mut eventloop: EventLoop, tx: mpsc::UnboundedSender<Signal>) {
    loop {
        let signal = match eventloop.poll().await {
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => Signal::Sent(pkid),
            Ok(Event::Incoming(Packet::PubAck(ack))) => Signal::Acked(ack.pkid),
            Ok(_) => continue,
            Err(error) => {
                let _ = tx.send(Signal::Lost(connect_failure(&error)));
                return;
            }
        };
        if tx.send(signal).is_err() {
            return;
        }
    }
}
