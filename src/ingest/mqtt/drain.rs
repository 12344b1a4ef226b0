//! Draining one persistent session into the pipeline: what the broker queued for a client id
//! no daemon uses any more is received, stored like any reading (decode → COPY, rejects
//! recorded) and acknowledged only after the commit, so the session can then be dropped
//! without losing a reading. `fleetd broker sessions --drop-orphans` runs it.
//!
//! The broker says neither how many messages a session holds nor when its queue is empty.
//! So the drain connects with the session's id (clean session off), stops the session
//! collecting (unsubscribes every filter a fleetd session of that id may hold), subscribes to a
//! marker topic of its own and publishes one marker there, in that order on one connection.
//! Mosquitto keeps one outgoing queue per client and sends it in order, so the marker arrives
//! after everything queued before it: when it arrives, the session holds nothing more. (MQTT
//! itself promises order only per topic; this relies on Mosquitto's single queue.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{ack_loop, cost};
use crate::config::MqttConfig;
use crate::ingest::decoders::{now_us, Message};
use crate::ingest::inflight::InFlight;
use crate::ingest::Pipeline;

/// One session to drain.
pub struct Drain<'a> {
    pub host: String,
    pub port: u16,
    /// TCP, or TLS for `mqtts://`.
    pub transport: rumqttc::Transport,
    /// Credentials, keep-alive, packet size and the prefix of the marker topic.
    pub mqtt: &'a MqttConfig,
    pub client_id: String,
    /// Filters the session may be subscribed to; unsubscribed before the marker.
    pub filters: Vec<String>,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// How long the pipeline may take to store what was received, once the marker is in.
    pub store_deadline: Duration,
}

/// What a drain found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// The broker had a session for the id.
    pub session_present: bool,
    /// Messages received and stored (as readings or as rejects); canary leftovers excluded.
    pub messages: u64,
}

/// Why a drain stopped. In every case what was not acknowledged stays in the session.
#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    /// The broker could not be reached, refused the account or did not answer in time.
    #[error("cannot connect as {client_id}: {why}")]
    Connect { client_id: String, why: String },
    /// The connection broke during the drain.
    #[error("connection lost while draining {client_id}: {why}")]
    Lost { client_id: String, why: String },
    /// Messages not stored before the deadline (database down?); the session keeps them.
    #[error("{pending} messages of {client_id} were not stored in time; the session keeps them")]
    NotStored { client_id: String, pending: usize },
}

/// Drains `d`'s session through `pipeline` (started with [`Pipeline::start_detached`]), which
/// is shut down when the marker is in. Returns once every stored message is acknowledged and
/// the connection closed.
pub async fn run(d: Drain<'_>, pipeline: Pipeline) -> Result<Drained, DrainError> {
    let mut options = MqttOptions::new(&d.client_id, &d.host, d.port);
    options
        .set_keep_alive(Duration::from_secs(d.mqtt.keep_alive_s))
        .set_clean_session(false)
        // Never acknowledge before the commit: rumqttc would otherwise ack on receipt.
        .set_manual_acks(true)
        .set_max_packet_size(d.mqtt.max_packet_bytes, d.mqtt.max_packet_bytes)
        .set_request_channel_capacity(4096)
        .set_transport(d.transport.clone());
    if !d.mqtt.username.is_empty() {
        options.set_credentials(&d.mqtt.username, d.mqtt.password.expose());
    }
    let (client, eventloop) = AsyncClient::new(options, 4096);
    let inflight = InFlight::new();
    let drained = CancellationToken::new();
    let (marker_tx, marker_rx) = tokio::sync::oneshot::channel();
    let (queue, budget) = pipeline.intake();
    let reader = Reader {
        client: client.clone(),
        inflight: inflight.clone(),
        queue,
        budget,
        marker: format!(
            "{}-canary/drain-{:016x}",
            d.mqtt.topic_prefix,
            rand::random::<u64>()
        ),
        canaries: format!("{}-canary/", d.mqtt.topic_prefix),
        d: &d,
    };
    let acker = tokio::spawn(ack_loop(client, inflight.clone(), drained.clone()));
    let mut reading = Box::pin(reader.read(eventloop, marker_tx));
    // Read until the marker; then keep the connection polled (acks go out through it) while
    // the pipeline stores the rest.
    let found = tokio::select! {
        result = &mut reading => {
            acker.abort();
            return match result {
                Err(e) => Err(e),
                Ok(_) => Err(lost(&d.client_id, "closed early")),
            };
        }
        found = marker_rx => found.expect("the reader sends before it returns Ok"),
    };
    let store = async {
        pipeline.shutdown(d.store_deadline).await;
        drained.cancel();
    };
    let (result, ()) = tokio::join!(reading, store);
    let _ = acker.await;
    result?;
    match inflight.pending() {
        0 => Ok(found),
        pending => Err(DrainError::NotStored {
            client_id: d.client_id.clone(),
            pending,
        }),
    }
}

struct Reader<'a> {
    client: AsyncClient,
    inflight: Arc<InFlight>,
    queue: async_channel::Sender<Message>,
    budget: Arc<Semaphore>,
    marker: String,
    canaries: String,
    d: &'a Drain<'a>,
}

impl Reader<'_> {
    /// Polls until the DISCONNECT the ack loop sends; reports the marker (or the absence of a
    /// session) through `found`.
    async fn read(
        self,
        mut eventloop: EventLoop,
        found: tokio::sync::oneshot::Sender<Drained>,
    ) -> Result<(), DrainError> {
        let id = &self.d.client_id;
        let mut found = Some(found);
        let mut connected = false;
        let mut messages = 0u64;
        loop {
            let event = if connected {
                eventloop.poll().await
            } else {
                tokio::time::timeout(self.d.connect_timeout, eventloop.poll())
                    .await
                    .unwrap_or(Err(ConnectionError::NetworkTimeout))
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    if connected {
                        // A reconnect would start a new generation of packet ids: give up
                        // cleanly instead; the broker keeps what was not acknowledged.
                        return Err(lost(id, "reconnected"));
                    }
                    connected = true;
                    if !ack.session_present {
                        let _ = found.take().map(|f| {
                            f.send(Drained {
                                session_present: false,
                                messages: 0,
                            })
                        });
                        continue;
                    }
                    self.start()?;
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if p.topic == self.marker {
                        self.inflight.register(p.pkid, p.qos, None).resolve();
                        let _ = found.take().map(|f| {
                            f.send(Drained {
                                session_present: true,
                                messages,
                            })
                        });
                    } else if p.topic.starts_with(&self.canaries) {
                        // A session check's probe or check: not a reading.
                        self.inflight.register(p.pkid, p.qos, None).resolve();
                    } else if found.is_some() {
                        let Ok(permit) = self
                            .budget
                            .clone()
                            .acquire_many_owned(cost(p.payload.len()))
                            .await
                        else {
                            return Err(lost(id, "pipeline closed"));
                        };
                        let ack = self.inflight.register(p.pkid, p.qos, Some(permit));
                        let message = Message {
                            topic: p.topic,
                            payload: p.payload,
                            received_us: now_us(),
                            received: Instant::now(),
                            ack,
                        };
                        if self.queue.send(message).await.is_err() {
                            return Err(lost(id, "pipeline closed"));
                        }
                        messages += 1;
                    }
                    // After the marker nothing can arrive (the session is unsubscribed); a
                    // stray message is left unacknowledged, so the broker keeps it.
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return Ok(()),
                Ok(_) => {}
                Err(error) if connected => return Err(lost(id, &error.to_string())),
                Err(error) => {
                    return Err(DrainError::Connect {
                        client_id: id.clone(),
                        why: connect_failure(&error),
                    })
                }
            }
        }
    }

    /// Stops the session collecting, then queues the marker behind whatever it holds.
    fn start(&self) -> Result<(), DrainError> {
        let id = &self.d.client_id;
        let queue = |e: rumqttc::ClientError| lost(id, &e.to_string());
        self.client
            .try_subscribe(&self.marker, QoS::AtLeastOnce)
            .map_err(queue)?;
        for filter in &self.d.filters {
            self.client.try_unsubscribe(filter).map_err(queue)?;
        }
        self.client
            .try_publish(&self.marker, QoS::AtLeastOnce, false, "drained")
            .map_err(queue)
    }
}

/// Why connecting failed, in the operator's words: the broker's refusal named, a timeout or
/// an unreachable address told apart.
pub fn connect_failure(error: &ConnectionError) -> String {
    use rumqttc::ConnectReturnCode as Code;
    match error {
        ConnectionError::ConnectionRefused(Code::BadUserNamePassword | Code::NotAuthorized) => {
            "the broker refused the account (mqtt.username / mqtt.password)".into()
        }
        ConnectionError::ConnectionRefused(code) => format!("the broker refused: {code:?}"),
        ConnectionError::NetworkTimeout => "no answer from the broker in time".into(),
        ConnectionError::Io(e) => format!("cannot reach the broker: {e}"),
        other => other.to_string(),
    }
}

fn lost(client_id: &str, why: &str) -> DrainError {
    DrainError::Lost {
        client_id: client_id.to_string(),
        why: why.to_string(),
    }
}
