//! Stage 3: groups encoded messages into batches by rows, bytes or age.
//!
//! The age timer starts at a batch's first message, so a lone reading waits at most
//! `batch_age` before it is written; a closing input flushes what is left (vector's batcher).
//! A message is never split across batches, so each batch resolves whole messages.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::ingest::decoders::Encoded;

/// Messages written together in one transaction.
#[derive(Debug, Default)]
pub struct Batch {
    pub messages: Vec<Encoded>,
    pub rows: usize,
    pub bytes: usize,
}

impl Batch {
    fn push(&mut self, e: Encoded) {
        self.rows += e.rows();
        self.bytes += e.bytes();
        self.messages.push(e);
    }
}

/// When a batch is full.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub rows: usize,
    pub bytes: usize,
    pub age: Duration,
}

/// Runs until `input` closes, then flushes and returns (dropping `output` closes it).
pub async fn run(
    mut input: mpsc::Receiver<Encoded>,
    output: async_channel::Sender<Batch>,
    limits: Limits,
) {
    let mut batch = Batch::default();
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let next = match deadline {
            None => input.recv().await,
            Some(d) => match tokio::time::timeout_at(d, input.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    flush(&mut batch, &output, &mut deadline).await;
                    continue;
                }
            },
        };
        let Some(encoded) = next else {
            flush(&mut batch, &output, &mut deadline).await;
            return;
        };
        if deadline.is_none() {
            deadline = Some(tokio::time::Instant::from_std(Instant::now() + limits.age));
        }
        batch.push(encoded);
        if batch.rows >= limits.rows || batch.bytes >= limits.bytes {
            flush(&mut batch, &output, &mut deadline).await;
        }
    }
}

async fn flush(
    batch: &mut Batch,
    output: &async_channel::Sender<Batch>,
    deadline: &mut Option<tokio::time::Instant>,
) {
    *deadline = None;
    if batch.messages.is_empty() {
        return;
    }
    // A closed output means the writers are gone (hard stop): the batch is dropped
    // unresolved and its messages stay unacknowledged, to be redelivered.
    let _ = output.send(std::mem::take(batch)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::decoders::{encode_message, Message};
    use crate::ingest::inflight::AckToken;
    use crate::ingest::reading::Window;

    fn encoded() -> Encoded {
        // A bad-topic message is the cheapest Encoded with one row.
        let w = Window {
            max_future: Duration::from_secs(1),
            max_age: Duration::from_secs(1),
        };
        let m = Message {
            topic: "bad".into(),
            payload: bytes::Bytes::from_static(b"x"),
            received_us: 0,
            received: Instant::now(),
            ack: AckToken::detached(),
        };
        encode_message("fleet", m, 0, &w)
    }

    #[tokio::test(start_paused = true)]
    async fn flushes_by_rows_then_by_age_then_on_close() {
        let (tx, rx) = mpsc::channel(100);
        let (btx, brx) = async_channel::bounded(10);
        let limits = Limits {
            rows: 3,
            bytes: 1 << 20,
            age: Duration::from_millis(100),
        };
        let task = tokio::spawn(run(rx, btx, limits));
        for _ in 0..4 {
            tx.send(encoded()).await.unwrap();
        }
        let first = brx.recv().await.unwrap();
        assert_eq!(first.messages.len(), 3, "full by rows");
        // The fourth waits for its age.
        let t0 = tokio::time::Instant::now();
        let second = brx.recv().await.unwrap();
        assert_eq!(second.messages.len(), 1);
        assert!(t0.elapsed() >= Duration::from_millis(100));
        tx.send(encoded()).await.unwrap();
        drop(tx);
        let last = brx.recv().await.unwrap();
        assert_eq!(last.messages.len(), 1, "flushed on close");
        task.await.unwrap();
        assert!(
            brx.recv().await.is_err(),
            "output closed after input closed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn flushes_by_bytes() {
        let (tx, rx) = mpsc::channel(100);
        let (btx, brx) = async_channel::bounded(10);
        let one = encoded().bytes();
        let limits = Limits {
            rows: 1000,
            bytes: one * 2,
            age: Duration::from_secs(60),
        };
        tokio::spawn(run(rx, btx, limits));
        tx.send(encoded()).await.unwrap();
        tx.send(encoded()).await.unwrap();
        let b = brx.recv().await.unwrap();
        assert_eq!(b.messages.len(), 2);
        assert_eq!(b.bytes, one * 2);
    }
}
