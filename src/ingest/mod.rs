//! The ingestion pipeline, wired in one place, downstream first:
//! MQTT connections (or the JetStream consumer) → decode queue → decoder threads → batcher →
//! writer queue → writers.
//!
//! Every queue is bounded by config. Shutdown cancels at the edge (no new messages), closes
//! the decode queue so each stage drains into the next and exits when its input closes,
//! then lets the connections send the last acks and disconnect. A deadline bounds it all;
//! whatever is still unacknowledged then is logged and left for the broker to redeliver.

pub mod batcher;
pub mod copy;
pub mod decode;
pub mod decoders;
pub mod inflight;
pub mod jetstream;
pub mod mqtt;
pub mod partitions;
pub mod reading;
pub mod registry;
pub mod reject_budget;
pub mod sink;
pub mod topic;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, IngestSource};
use crate::metrics::Metrics;
use batcher::Limits;
use decoders::Message;
use inflight::InFlight;
use mqtt::session::{SessionReport, SessionState};
use mqtt::Connection;
use partitions::Partitions;
use reading::Window;
use sink::{OnCommit, RetryPolicy, Writer};

/// A running pipeline.
pub struct Pipeline {
    intake: CancellationToken,
    drained: CancellationToken,
    abort: CancellationToken,
    decode_tx: async_channel::Sender<Message>,
    budget: Arc<Semaphore>,
    budget_total: usize,
    decoders: Vec<std::thread::JoinHandle<()>>,
    batcher: JoinHandle<()>,
    writers: Vec<JoinHandle<()>>,
    writer_queue: async_channel::Sender<batcher::Batch>,
    connections: Vec<JoinHandle<()>>,
    inflight: Vec<Arc<InFlight>>,
    sessions: Vec<Arc<SessionState>>,
    jetstream: Option<JetStreamState>,
    metrics: Arc<Metrics>,
}

/// The JetStream source's state as readiness and metrics see it.
#[derive(Clone)]
struct JetStreamState {
    /// Set once the client exists (it connects in the background).
    client: Arc<std::sync::OnceLock<async_nats::Client>>,
    acks: Arc<jetstream::acker::Acks>,
    consuming: Arc<std::sync::atomic::AtomicBool>,
}

impl JetStreamState {
    /// Connected, and the consumer set up and pulling (so nats-server keeps what trackers
    /// publish).
    fn connected(&self) -> bool {
        self.consuming.load(std::sync::atomic::Ordering::Relaxed)
            && self
                .client
                .get()
                .is_some_and(|c| c.connection_state() == async_nats::connection::State::Connected)
    }
}

impl Pipeline {
    /// Starts every stage. Fails only if a decoder thread cannot be spawned or the broker's
    /// TLS files (`mqtt.tls_*`) are unusable. `on_commit`
    /// sees every committed group of messages; `known`, when given, rejects the readings of
    /// unregistered vehicles ([`registry`]).
    pub fn start(
        config: &Config,
        pool: Pool,
        partitions: Arc<Partitions>,
        metrics: Arc<Metrics>,
        on_commit: Option<OnCommit>,
        known: Option<Arc<registry::KnownVehicles>>,
    ) -> std::io::Result<Pipeline> {
        let ingest = &config.ingest;
        let abort = CancellationToken::new();

        let reject_budget = reject_budget::RejectBudget::new(
            &config.mqtt.topic_prefix,
            ingest.rejects_per_minute,
            ingest.rejects_burst,
        )
        .map(Arc::new);
        let (writer_tx, writer_rx) = async_channel::bounded(ingest.writer_queue);
        let writers = (0..ingest.writers)
            .map(|_| {
                let w = Writer {
                    pool: pool.clone(),
                    partitions: partitions.clone(),
                    metrics: metrics.clone(),
                    retry: RetryPolicy {
                        min: Duration::from_millis(ingest.retry_min_ms),
                        max: Duration::from_millis(ingest.retry_max_ms),
                    },
                    abort: abort.clone(),
                    on_commit: on_commit.clone(),
                    known: known.clone(),
                    reject_budget: reject_budget.clone(),
                    segment_marks: config.trips.enabled,
                };
                tokio::spawn(w.run(writer_rx.clone()))
            })
            .collect();

        // Sized so a full decode queue, not this hand-off, is where the reader waits.
        let (encoded_tx, encoded_rx) = mpsc::channel(ingest.decode_queue.max(64));
        let batcher = tokio::spawn(batcher::run(
            encoded_rx,
            writer_tx.clone(),
            Limits {
                rows: ingest.batch_rows,
                bytes: ingest.batch_bytes,
                age: Duration::from_millis(ingest.batch_age_ms),
            },
        ));

        let (decode_tx, decode_rx) = async_channel::bounded(ingest.decode_queue);
        let threads = match ingest.decoders {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let window = Window {
            max_future: Duration::from_secs(ingest.max_future_s),
            max_age: Duration::from_secs(ingest.retention_days as u64 * 86_400),
        };
        let decoders = decoders::spawn(
            threads,
            config.mqtt.topic_prefix.as_str().into(),
            window,
            decode_rx,
            encoded_tx,
            metrics.clone(),
            reject_budget.clone(),
        )?;

        let budget = Arc::new(Semaphore::new(ingest.max_in_flight_bytes));
        let intake = CancellationToken::new();
        let drained = CancellationToken::new();
        // Validated at load time.
        let broker = config.mqtt_endpoint().expect("validated mqtt.url");
        let transport = crate::tls::mqtt::transport(broker.tls, config.mqtt_tls_files())
            .map_err(|e| std::io::Error::other(format!("mqtt TLS: {e}")))?;
        let mut inflight = Vec::new();
        let mut sessions = Vec::new();
        let jetstream = (config.ingest.source == IngestSource::Jetstream).then(|| {
            let (acks, ack_rx) = jetstream::acker::Acks::new();
            let state = JetStreamState {
                client: Arc::default(),
                acks: acks.clone(),
                consuming: Arc::default(),
            };
            let source = jetstream::Source {
                config: config.clone(),
                decode_queue: decode_tx.clone(),
                budget: budget.clone(),
                acks,
                metrics: metrics.clone(),
                intake: intake.clone(),
                consuming: state.consuming.clone(),
            };
            let task = tokio::spawn(source.serve(state.client.clone(), ack_rx, drained.clone()));
            (state, task)
        });
        let mqtt_connections = match jetstream {
            Some(_) => 0,
            None => config.mqtt.connections as usize,
        };
        let (jetstream, jetstream_task) = jetstream.unzip();
        let connections = (0..mqtt_connections)
            .map(|index| {
                let c = Connection {
                    index,
                    host: broker.host.clone(),
                    port: broker.port,
                    transport: transport.clone(),
                    config: config.mqtt.clone(),
                    decode_queue: decode_tx.clone(),
                    budget: budget.clone(),
                    inflight: InFlight::new(),
                    metrics: metrics.clone(),
                    intake: intake.clone(),
                    drained: drained.clone(),
                    session: Arc::new(SessionState::new(mqtt::client_id(&config.mqtt, index))),
                    broker_stats: Arc::default(),
                };
                inflight.push(c.inflight.clone());
                sessions.push(c.session.clone());
                tokio::spawn(c.run())
            })
            .chain(jetstream_task)
            .collect();

        Ok(Pipeline {
            intake,
            drained,
            abort,
            decode_tx,
            budget,
            budget_total: ingest.max_in_flight_bytes,
            decoders,
            batcher,
            writers,
            writer_queue: writer_tx,
            connections,
            inflight,
            sessions,
            jetstream,
            metrics,
        })
    }

    /// The pipeline without MQTT connections, fed through [`intake`](Self::intake) by
    /// something else: `fleetd broker sessions` drains an orphaned session through it
    /// ([`mqtt::drain`]), so those readings take the daemon's decode → COPY path.
    pub fn start_detached(
        config: &Config,
        pool: Pool,
        partitions: Arc<Partitions>,
        metrics: Arc<Metrics>,
        known: Option<Arc<registry::KnownVehicles>>,
    ) -> std::io::Result<Pipeline> {
        let mut config = config.clone();
        config.mqtt.connections = 0;
        config.ingest.source = IngestSource::Mqtt;
        Pipeline::start(&config, pool, partitions, metrics, None, known)
    }

    /// Where a message enters: the decode queue and the in-flight byte budget it must take
    /// first (the backpressure every connection obeys).
    pub fn intake(&self) -> (async_channel::Sender<Message>, Arc<Semaphore>) {
        (self.decode_tx.clone(), self.budget.clone())
    }

    /// A cheap handle for readiness checks.
    pub fn status(&self) -> PipelineStatus {
        PipelineStatus {
            sessions: self.sessions.clone(),
            inflight: self.inflight.clone(),
            jetstream: self.jetstream.clone(),
            decode_queue: self.decode_tx.clone(),
            writer_queue: self.writer_queue.clone(),
            budget: self.budget.clone(),
            budget_total: self.budget_total,
            metrics: self.metrics.clone(),
        }
    }

    /// Stops taking messages, drains every stage, sends the last acks and disconnects, all
    /// within `deadline`. Returns the number of messages left unacknowledged.
    pub async fn shutdown(self, deadline: Duration) -> usize {
        let until = tokio::time::Instant::now() + deadline;
        self.intake.cancel();
        self.decode_tx.close();
        self.budget.close();
        let decoders = self.decoders;
        // Closed explicitly rather than by dropping senders: status handles hold clones.
        let writer_queue = self.writer_queue;
        let drain = async move {
            let _ = tokio::task::spawn_blocking(move || {
                for t in decoders {
                    let _ = t.join();
                }
            })
            .await;
            let _ = self.batcher.await;
            writer_queue.close();
            for w in self.writers {
                let _ = w.await;
            }
        };
        tokio::pin!(drain);
        if tokio::time::timeout_at(until, &mut drain).await.is_err() {
            tracing::warn!("shutdown deadline reached before the pipeline drained");
            self.abort.cancel();
            // Writers stop retrying at once; give them a moment to return.
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut drain).await;
        }
        self.drained.cancel();
        let grace = until
            .saturating_duration_since(tokio::time::Instant::now())
            .max(Duration::from_secs(2));
        for c in self.connections {
            if tokio::time::timeout(grace, c).await.is_err() {
                tracing::warn!("mqtt connection did not disconnect in time");
            }
        }
        let pending: usize = self.inflight.iter().map(|f| f.pending()).sum::<usize>()
            + self.jetstream.as_ref().map_or(0, |j| j.acks.pending());
        if pending > 0 {
            tracing::warn!(
                messages = pending,
                "messages left unacknowledged; the broker will redeliver them"
            );
        }
        pending
    }
}

/// Read-only view of the pipeline for `/readyz` and `/metrics`.
#[derive(Clone)]
pub struct PipelineStatus {
    sessions: Vec<Arc<SessionState>>,
    inflight: Vec<Arc<InFlight>>,
    jetstream: Option<JetStreamState>,
    decode_queue: async_channel::Sender<Message>,
    writer_queue: async_channel::Sender<batcher::Batch>,
    budget: Arc<Semaphore>,
    budget_total: usize,
    metrics: Arc<Metrics>,
}

impl PipelineStatus {
    /// The source's name (`mqtt` or `jetstream`) and whether it is connected: every MQTT
    /// connection, or the NATS client.
    pub fn source_connected(&self) -> (&'static str, bool) {
        match &self.jetstream {
            Some(j) => ("jetstream", j.connected()),
            None => ("mqtt", self.sessions.iter().all(|s| s.is_connected())),
        }
    }

    /// Each connection's session and the last check of what the broker kept of it.
    pub fn mqtt_sessions(&self) -> Vec<SessionReport> {
        self.sessions.iter().map(|s| s.report()).collect()
    }

    /// Updates the gauges that are read off the pipeline rather than counted.
    pub fn refresh_gauges(&self) {
        let m = &self.metrics;
        m.decode_queue_depth.set(self.decode_queue.len() as i64);
        m.writer_queue_depth.set(self.writer_queue.len() as i64);
        let used = self
            .budget_total
            .saturating_sub(self.budget.available_permits());
        m.in_flight_bytes.set(used as i64);
        let jetstream_pending = self.jetstream.as_ref().map_or(0, |j| j.acks.pending());
        m.in_flight_messages.set(
            (self.inflight.iter().map(|f| f.pending()).sum::<usize>() + jetstream_pending) as i64,
        );
        if let Some(j) = &self.jetstream {
            m.jetstream.connected.set(i64::from(j.connected()));
        }
        let oldest = self
            .inflight
            .iter()
            .filter_map(|f| f.oldest_age())
            .max()
            .unwrap_or_default();
        m.oldest_unacked_seconds.set(oldest.as_secs_f64());
        for s in &self.sessions {
            let since = s.report().messages_since_recreated.unwrap_or(0);
            m.mqtt_messages_since_recreated
                .get_or_create(&[("connection", s.client_id().to_string())])
                .set(since as i64);
        }
    }
}
