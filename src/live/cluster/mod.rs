//! Every node's live index sees the whole fleet.
//!
//! With `ingest.source = "jetstream"` each node stores only its share of the readings, but
//! nearest queries, the map and the position route need every vehicle. So after each commit
//! a node publishes the group's newest positions and OBD values ([`wire`]) on the core NATS
//! subject `jetstream.live_subject`, and applies what the other nodes publish there
//! (`no_echo`: never its own). This path is independent of the durable one: not shared, not
//! stored, at most once. A batch lost (a node away, a slow subscriber cut off) costs nothing
//! durable; the vehicle's next reading repairs its position, and a node that starts loads
//! every position from PostgreSQL first. Only committed readings travel, so no node ever shows
//! a position that is not stored; a node's Redis write-through stays its own readings' (the
//! others write theirs).

pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::feed::{apply, Fanout};
use super::{Position, SharedLiveIndex};
use crate::clock::Clock;
use crate::config::JetStreamConfig;
use crate::ingest::decoders::Encoded;
use crate::metrics::Metrics;

/// Batches waiting for the publisher; beyond this they are dropped and counted.
const QUEUE: usize = 1_024;

/// The writers' side: encodes each committed group and queues it for publishing.
#[derive(Clone)]
pub struct Share {
    tx: mpsc::Sender<Bytes>,
    clock: Clock,
    metrics: Arc<Metrics>,
}

impl Share {
    /// Queues `group`'s newest positions and OBD values; never waits (a full queue drops the
    /// batch, see the module's notes).
    pub fn offer(&self, group: &[Encoded]) {
        let mut buf = BytesMut::new();
        wire::begin(&mut buf, self.clock.now_us());
        let mut records = 0u64;
        for m in group {
            if let Some((id, r)) = &m.latest_gps {
                wire::put_position(&mut buf, id, &Position::from(r));
                records += 1;
            }
            if let (Some(id), Some(r)) = (m.vehicle_id.as_deref(), m.latest_obd.as_ref()) {
                wire::put_obd(&mut buf, id, r);
                records += 1;
            }
        }
        if records == 0 {
            return;
        }
        if self.tx.try_send(buf.freeze()).is_err() {
            self.metrics.jetstream.live_dropped.inc_by(records);
        }
    }
}

/// Everything the sharing task needs.
pub struct Sharing {
    pub config: JetStreamConfig,
    pub index: SharedLiveIndex,
    /// Where applied positions also go: the push streams and the latest OBD values (no Redis:
    /// the committing node writes its own).
    pub fanout: Fanout,
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
}

impl Sharing {
    /// Starts the task (publishing this node's batches, applying the others') until
    /// `shutdown`; returns the writers' handle.
    pub fn spawn(self, shutdown: CancellationToken) -> Share {
        let (tx, rx) = mpsc::channel(QUEUE);
        let share = Share {
            tx,
            clock: self.clock.clone(),
            metrics: self.metrics.clone(),
        };
        tokio::spawn(self.run(rx, shutdown));
        share
    }

    async fn run(self, mut outbox: mpsc::Receiver<Bytes>, shutdown: CancellationToken) {
        let client = match crate::ingest::jetstream::connect(&self.config, "live", true).await {
            Ok(c) => c,
            Err(error) => {
                tracing::error!(%error, "cannot create the NATS client; positions are not shared");
                return;
            }
        };
        let subject = self.config.live_subject.clone();
        let mut inbox = loop {
            match client.subscribe(subject.clone()).await {
                Ok(s) => break s,
                Err(error) => {
                    tracing::warn!(%error, "cannot subscribe to the shared positions; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.cancelled() => return,
                    }
                }
            }
        };
        loop {
            tokio::select! {
                batch = outbox.recv() => match batch {
                    Some(batch) => {
                        if client.publish(subject.clone(), batch).await.is_err() {
                            self.metrics.jetstream.live_dropped.inc();
                        }
                    }
                    None => return,
                },
                message = inbox.next() => match message {
                    Some(message) => self.receive(message.payload),
                    None => return,
                },
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// Applies another node's batch.
    fn receive(&self, payload: Bytes) {
        let m = &self.metrics.jetstream;
        let batch = match wire::decode(payload) {
            Ok(b) => b,
            Err(error) => {
                m.live_malformed.inc();
                tracing::debug!(%error, "refused a shared position batch");
                return;
            }
        };
        apply(
            &self.index,
            &self.fanout,
            &self.clock,
            batch.positions.iter().map(|(id, p)| (id.as_str(), *p)),
            batch.obd.iter().map(|(id, r)| (id.as_str(), r)),
        );
        m.live_received
            .inc_by((batch.positions.len() + batch.obd.len()) as u64);
        let lag_us = self.clock.now_us().saturating_sub(batch.committed_us);
        m.live_lag_seconds.observe(lag_us.max(0) as f64 / 1e6);
    }
}
