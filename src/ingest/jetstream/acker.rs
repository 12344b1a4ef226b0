//! Acknowledgements to JetStream, sent after the commit.
//!
//! A JetStream delivery is acknowledged by a message to its reply subject. Unlike MQTT there
//! is no order to keep: each reading is acknowledged as soon as it is durable. Tokens resolve
//! on the writers' tasks, synchronously, so they only queue the reply subject here; one task
//! publishes them. A token dropped unresolved (a shutdown deadline, a batch given up) sends
//! `-NAK` instead, so the servers deliver the reading again at once rather than after
//! `jetstream.ack_wait_ms`.
//!
//! Lost acks are harmless: the servers redeliver after `ack_wait_ms` and the writer stores
//! the reading once (`(vehicle_id, ts)` deduplication).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The queue from the tokens to the acker task, and the count of deliveries not yet settled.
pub struct Acks {
    tx: mpsc::UnboundedSender<(async_nats::Subject, bool)>,
    pending: AtomicI64,
}

impl Acks {
    /// The queue, and its receiving end for [`run`].
    pub fn new() -> (
        Arc<Acks>,
        mpsc::UnboundedReceiver<(async_nats::Subject, bool)>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Arc::new(Acks {
                tx,
                pending: AtomicI64::new(0),
            }),
            rx,
        )
    }

    /// A delivery entered the pipeline.
    pub(crate) fn taken(&self) {
        self.pending.fetch_add(1, Ordering::Relaxed);
    }

    /// A delivery is durable (`ack`) or given back.
    pub(crate) fn settle(&self, reply: async_nats::Subject, ack: bool) {
        self.pending.fetch_sub(1, Ordering::Relaxed);
        // The receiver is gone only after the daemon stopped: the servers redeliver then.
        let _ = self.tx.send((reply, ack));
    }

    /// Deliveries in the pipeline, not yet acknowledged or given back.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed).max(0) as usize
    }
}

const ACK: Bytes = Bytes::from_static(b"+ACK");
const NAK: Bytes = Bytes::from_static(b"-NAK");

/// Publishes acknowledgements until `drained` (every delivery taken in settled or
/// abandoned), then sends what is queued and flushes.
pub async fn run(
    client: async_nats::Client,
    mut rx: mpsc::UnboundedReceiver<(async_nats::Subject, bool)>,
    drained: CancellationToken,
) {
    let mut batch = Vec::with_capacity(1024);
    loop {
        tokio::select! {
            biased;
            n = rx.recv_many(&mut batch, 1024) => {
                if n == 0 {
                    break;
                }
            }
            _ = drained.cancelled() => {
                while let Ok(item) = rx.try_recv() {
                    batch.push(item);
                }
                publish(&client, &mut batch).await;
                break;
            }
        }
        publish(&client, &mut batch).await;
    }
    if let Err(error) = client.flush().await {
        tracing::warn!(%error, "the last JetStream acks may not have been sent; the servers redeliver those readings");
    }
}

async fn publish(client: &async_nats::Client, batch: &mut Vec<(async_nats::Subject, bool)>) {
    for (reply, ack) in batch.drain(..) {
        // Fails only when the client is closed; the servers then redeliver.
        let _ = client.publish(reply, if ack { ACK } else { NAK }).await;
    }
}
