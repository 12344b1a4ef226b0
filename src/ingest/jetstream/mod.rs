//! Stage 1 with `ingest.source = "jetstream"`: the shared durable consumer feeding the
//! pipeline.
//!
//! Trackers publish over MQTT to nats-server, which stores each reading in the stream
//! `jetstream.stream` ([`setup`]) before it acknowledges it (docs/nats.md says how far that
//! goes). Every fleetd node pulls from the one consumer `jetstream.consumer`, so each reading
//! goes to one node; the node acknowledges it after the commit that made it durable
//! ([`acker`]). What a dead node held unacknowledged goes to the others after
//! `jetstream.ack_wait_ms`, and the writers store it once.
//!
//! Backpressure: before a delivery enters the decode queue it takes its bytes from the
//! in-flight budget; when that or the queue is full this task stops taking deliveries, the
//! client stops pulling, and the stream keeps the rest (`jetstream.max_ack_pending` bounds
//! what all the nodes hold together).

pub mod acker;
pub mod auth;
pub mod metrics;
pub mod poke;
pub mod setup;
pub mod subjects;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::PullConsumer;
use futures_util::StreamExt;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, JetStreamConfig};
use crate::ingest::decoders::{now_us, Message};
use crate::ingest::inflight::AckToken;
use crate::metrics::Metrics;
use acker::Acks;

/// A NATS client for `role` (the connection's name says which node and what for), with the
/// node's TLS and identity ([`auth`]). It connects in the background and reconnects for
/// ever, so a node starts while NATS is away.
pub async fn connect(
    j: &JetStreamConfig,
    role: &str,
    no_echo: bool,
) -> anyhow::Result<async_nats::Client> {
    let credentials = auth::Credentials::load(j)?;
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("{}-{role}", j.name))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(5))
        .ping_interval(Duration::from_secs(10));
    options = credentials.apply(options);
    if no_echo {
        options = options.no_echo();
    }
    Ok(options.connect(j.server_list()).await?)
}

/// Everything the consumer task needs.
pub struct Source {
    pub config: Config,
    pub decode_queue: async_channel::Sender<Message>,
    pub budget: Arc<Semaphore>,
    pub acks: Arc<Acks>,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the daemon stops taking new deliveries.
    pub intake: CancellationToken,
    /// True while the consumer is set up and pulling (readiness: the consumer exists, so
    /// nats-server keeps what trackers publish).
    pub consuming: Arc<AtomicBool>,
}

/// How long one pull request stays open: also how long a stopping node waits for what it
/// may still be sent.
const PULL_EXPIRES: Duration = Duration::from_secs(2);

/// Largest cost charged to the in-flight budget for one delivery; the floor keeps tiny ones
/// from being free (as for MQTT).
fn cost(payload_len: usize) -> u32 {
    payload_len.clamp(64, u32::MAX as usize) as u32
}

impl Source {
    /// Connects (publishing the client in `slot` for readiness checks), starts the acker,
    /// takes deliveries until `intake` is cancelled, then returns once the acker has sent the
    /// acknowledgements of everything taken in (after `drained`).
    pub async fn serve(
        self,
        slot: Arc<OnceLock<async_nats::Client>>,
        acks: mpsc::UnboundedReceiver<(async_nats::Subject, bool)>,
        drained: CancellationToken,
    ) {
        let client = match connect(&self.config.jetstream, "ingest", false).await {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "cannot create the NATS client; no readings are taken");
                return;
            }
        };
        let _ = slot.set(client.clone());
        // The acker stops once the pipeline has drained (every token resolved or dropped)
        // and this task has given back what its last pull request brought.
        let done = CancellationToken::new();
        let acker = tokio::spawn(acker::run(client.clone(), acks, done.clone()));
        self.run(client).await;
        drained.cancelled().await;
        done.cancel();
        let _ = acker.await;
    }

    /// Sets up the stream and consumer (again after any failure) and forwards deliveries
    /// until `intake` is cancelled.
    async fn run(&self, client: async_nats::Client) {
        let js = async_nats::jetstream::new(client);
        let mut failures = 0u32;
        while !self.intake.is_cancelled() {
            match self.consume(&js).await {
                Ok(()) => return,
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let delay = crate::retry::backoff(
                        failures,
                        Duration::from_millis(200),
                        Duration::from_secs(10),
                        rand::random::<f64>(),
                    );
                    tracing::warn!(%error, ?delay, "JetStream consumer failed; starting again");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.intake.cancelled() => return,
                    }
                }
            }
        }
    }

    /// One life of the consumer: returns `Ok` at shutdown, an error to start again.
    ///
    /// One pull request at a time, each for `jetstream.pull_batch` deliveries or
    /// [`PULL_EXPIRES`], whichever comes first; deliveries are handed on as they arrive. A
    /// node that stops therefore knows which deliveries can still come its way (the open
    /// request's, for at most [`PULL_EXPIRES`]) and gives every one of them back.
    async fn consume(&self, js: &async_nats::jetstream::Context) -> Result<(), String> {
        let consumer = tokio::select! {
            c = setup::ensure(js, &self.config) => c.map_err(|e| e.to_string())?,
            _ = self.intake.cancelled() => return Ok(()),
        };
        let j = &self.config.jetstream;
        tracing::info!(consumer = %j.consumer, capture = ?j.capture, "taking readings from JetStream");
        self.consuming.store(true, Ordering::Relaxed);
        let outcome = self.pull(&consumer).await;
        self.consuming.store(false, Ordering::Relaxed);
        outcome
    }

    /// Pulls until shutdown (`Ok`) or an error.
    async fn pull(&self, consumer: &PullConsumer) -> Result<(), String> {
        let j = &self.config.jetstream;
        loop {
            let mut batch = consumer
                .batch()
                .max_messages(j.pull_batch as usize)
                .expires(PULL_EXPIRES)
                .messages()
                .await
                .map_err(|e| e.to_string())?;
            loop {
                let next = tokio::select! {
                    next = batch.next() => next,
                    _ = self.intake.cancelled() => {
                        self.give_back(&mut batch).await;
                        return Ok(());
                    }
                };
                match next {
                    Some(Ok(delivery)) => self.forward(delivery).await,
                    Some(Err(error)) => return Err(error.to_string()),
                    // Full or expired: ask again.
                    None => break,
                }
            }
        }
    }

    /// Gives back (`-NAK`) whatever the open pull request still brings, until it ends, so
    /// that the servers deliver those readings to another node now rather than after
    /// `ack_wait`.
    async fn give_back(&self, batch: &mut async_nats::jetstream::consumer::pull::Batch) {
        let mut given = 0;
        let until = tokio::time::Instant::now() + PULL_EXPIRES + Duration::from_millis(500);
        while let Ok(Some(Ok(delivery))) = tokio::time::timeout_at(until, batch.next()).await {
            if let Some(reply) = delivery.message.reply {
                drop(AckToken::jetstream(self.acks.clone(), reply, None));
                given += 1;
            }
        }
        if given > 0 {
            tracing::info!(given, "deliveries given back at shutdown");
        }
    }

    /// Takes budget and a queue slot (waiting for both: the backpressure), then hands the
    /// delivery to the decoders. At shutdown the delivery is given back (its token dropped).
    async fn forward(&self, delivery: async_nats::jetstream::Message) {
        let m = &self.metrics.jetstream;
        m.delivered.inc();
        if let Ok(info) = delivery.info() {
            if info.delivered > 1 {
                m.redelivered.inc();
            }
            m.pending
                .set(i64::try_from(info.pending).unwrap_or(i64::MAX));
        }
        let mut message = delivery.message;
        let Some(reply) = message.reply.take() else {
            return; // not a JetStream delivery: nothing to acknowledge, nothing to store
        };
        let permit = tokio::select! {
            p = self.budget.clone().acquire_many_owned(cost(message.payload.len())) => p.ok(),
            _ = self.intake.cancelled() => None,
        };
        let ack = AckToken::jetstream(self.acks.clone(), reply, permit);
        if self.intake.is_cancelled() {
            return; // shutting down: the dropped token gives the delivery back
        }
        let message = Message {
            topic: subjects::topic_of(&message.subject),
            payload: message.payload,
            received_us: now_us(),
            received: Instant::now(),
            ack,
        };
        // A send error means shutdown closed the queue; the dropped token gives it back.
        let _ = self.decode_queue.send(message).await;
    }
}
