//! The relay: every daemon runs one. Each pass it (1) lets `webhooks_fan_out` queue
//! deliveries for events numbered since the last pass (one daemon at a time), then (2) for
//! each active subscription claims as many due queues as it has free places
//! (`webhooks.concurrency` per subscription) and delivers each claimed queue in a task of
//! its own ([`Deliverer::run`]). A slow or dead receiver holds only its own subscription's
//! places; claims live in PostgreSQL, so daemons share the queues and none is delivered by
//! two at once while its lease holds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::deliver::{Claim, Deliverer, Pending, Queue, Target};

/// The pause between passes while there is work.
pub const BUSY: Duration = Duration::from_millis(25);
/// The longest pause between passes when idle.
pub const IDLE: Duration = Duration::from_millis(100);
/// Events matched per fan-out statement.
pub const FAN_OUT_BATCH: i32 = 5_000;
/// Pending deliveries of one queue taken per claim.
pub const CHAIN: i32 = 8;

pub struct Relay {
    deliverer: Arc<Deliverer>,
    /// Woken when a queue's run ends, so its place is filled again at once.
    freed: Arc<tokio::sync::Notify>,
    /// Free delivery places per subscription on this daemon.
    places: HashMap<Uuid, Arc<Semaphore>>,
}

impl Relay {
    pub fn new(deliverer: Deliverer) -> Relay {
        Relay {
            deliverer: Arc::new(deliverer),
            freed: Arc::new(tokio::sync::Notify::new()),
            places: HashMap::new(),
        }
    }

    /// How long a claim holds: every delivery of a chain timing out, and a margin.
    fn lease(&self) -> Duration {
        Duration::from_millis(self.deliverer.config.timeout_ms) * CHAIN as u32
            + Duration::from_secs(10)
    }

    /// Passes until `stop`; a failing pass (PostgreSQL down) is logged once until one works.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut failing = false;
        let mut pause = BUSY;
        let mut woken = false;
        let mut gauged = tokio::time::Instant::now()
            .checked_sub(super::gauges::EVERY)
            .unwrap_or_else(tokio::time::Instant::now);
        loop {
            if gauged.elapsed() >= super::gauges::EVERY {
                gauged = tokio::time::Instant::now();
                if let Err(error) = self.gauges().await {
                    tracing::debug!(error = format!("{error:#}"), "webhook gauges not refreshed");
                }
            }
            match self.pass().await {
                Ok(busy) => {
                    failing = false;
                    // Only a timed pass that found nothing slows the polling down; one woken
                    // by a freed place says nothing about new events.
                    pause = match (busy, woken) {
                        (true, _) => BUSY,
                        (false, true) => pause,
                        (false, false) => (pause * 2).min(IDLE),
                    };
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(
                            error = format!("{error:#}"),
                            "webhook relay pass failed; deliveries wait"
                        );
                    }
                    failing = true;
                    pause = IDLE;
                }
            }
            let freed = self.freed.clone();
            woken = tokio::select! {
                _ = tokio::time::sleep(pause) => false,
                _ = freed.notified() => true,
                _ = stop.cancelled() => return,
            };
        }
    }

    async fn gauges(&self) -> anyhow::Result<()> {
        let d = &self.deliverer;
        super::gauges::refresh(&**d.pool.get().await?, &d.clock, &d.metrics).await?;
        Ok(())
    }

    /// One pass; returns whether it found anything to do.
    pub async fn pass(&mut self) -> anyhow::Result<bool> {
        let d = self.deliverer.clone();
        let client = d.pool.get().await?;
        let mut busy = false;
        loop {
            let n: i32 = client
                .query_one(
                    "SELECT webhooks_fan_out($1, $2)",
                    &[&FAN_OUT_BATCH, &d.clock.now()],
                )
                .await?
                .get(0);
            busy |= n > 0;
            if n < FAN_OUT_BATCH {
                break;
            }
        }
        // Only subscriptions with a queue due and unclaimed: an idle relay asks nothing more.
        let at = d.clock.now();
        let targets: Vec<Target> = client
            .query(
                "SELECT w.id, w.url, w.secret FROM webhooks w
                  WHERE w.active AND EXISTS (
                        SELECT 1 FROM webhook_queues q
                         WHERE q.webhook_id = w.id AND q.pending > 0 AND q.due_at <= $1
                           AND (q.claimed_until IS NULL OR q.claimed_until <= $1))",
                &[&at],
            )
            .await?
            .iter()
            .map(|r| Target {
                id: r.get(0),
                url: r.get(1),
                secret: r.get(2),
            })
            .collect();
        // Forget the places of subscriptions with nothing in flight and nothing due.
        let concurrency = d.config.concurrency as usize;
        self.places.retain(|id, places| {
            places.available_permits() < concurrency || targets.iter().any(|t| t.id == *id)
        });
        let lease = self.lease();
        for target in targets {
            let places = self
                .places
                .entry(target.id)
                .or_insert_with(|| Arc::new(Semaphore::new(concurrency)))
                .clone();
            let free = places.available_permits() as i32;
            if free == 0 {
                continue;
            }
            let token = Uuid::new_v4();
            let at = d.clock.now();
            let claimed: i32 = client
                .query_one(
                    "SELECT webhooks_claim($1, $2, $3, $4::text::interval, $5)",
                    &[
                        &target.id,
                        &free,
                        &at,
                        &format!("{} milliseconds", lease.as_millis()),
                        &token,
                    ],
                )
                .await?
                .get(0);
            if claimed == 0 {
                continue;
            }
            busy = true;
            let until = at + chrono::Duration::from_std(lease).unwrap_or_default();
            let rows = client
                .query(
                    "SELECT aggregate_type, aggregate_id, event_id, event_type, body, attempts,
                            queued_at
                       FROM webhooks_claimed($1, $2)",
                    &[&token, &CHAIN],
                )
                .await?;
            // Rows come in event id order; split them by queue, keeping that order.
            let mut chains: Vec<(Queue, Vec<Pending>)> = Vec::new();
            for r in &rows {
                let key: Queue = (r.get(0), r.get(1));
                let p = Pending {
                    event_id: r.get(2),
                    event_type: r.get(3),
                    body: r.get(4),
                    attempts: r.get(5),
                    queued_at: r.get(6),
                };
                match chains.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, chain)) => chain.push(p),
                    None => chains.push((key, vec![p])),
                }
            }
            let target = Arc::new(target);
            for (queue, chain) in chains {
                let (d, target, freed) = (d.clone(), target.clone(), self.freed.clone());
                // At most `free` queues were claimed, so a place is there for each.
                let permit = places.clone().try_acquire_owned();
                tokio::spawn(async move {
                    d.run(&target, &queue, Claim { token, until }, chain).await;
                    drop(permit);
                    freed.notify_one();
                });
            }
        }
        Ok(busy)
    }
}
