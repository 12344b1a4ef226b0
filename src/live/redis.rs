//! Redis write-through of live positions: `vehicle:{id}:status` hashes (lat, lon, speed_kmh,
//! heading_deg, ts, driver) with a TTL, for consumers that already read Redis.
//!
//! Off the hot path by construction: the writers' on-commit hook only puts each vehicle's
//! newest position into a map under a short lock ([`RedisFeed::offer`]); a separate task
//! swaps the map out and writes it as one pipeline. Updates for the same vehicle coalesce,
//! so a slow Redis sees fewer, newer writes rather than a growing queue. When the map is
//! full (`redis.queue`), new vehicles' updates are dropped and counted. When Redis is down
//! the task keeps the newest position per vehicle, reconnects with backoff, and ingestion
//! never waits for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Position;
use crate::metrics::Metrics;
use crate::tls::TlsFiles;

/// Each round trip carries at most this many vehicles.
const PIPELINE: usize = 2_000;
/// A Redis call that takes longer counts as failed.
const TIMEOUT: Duration = Duration::from_secs(2);

/// The Redis key of a vehicle's status hash.
pub fn key(vehicle_id: &str) -> String {
    format!("vehicle:{vehicle_id}:status")
}

/// Finds the driver at the wheel of a vehicle, for the hash's `driver` field.
pub type DriverOf = Arc<dyn Fn(&str) -> Option<Uuid> + Send + Sync>;

/// The hook side: cheap, never blocks on Redis.
#[derive(Clone)]
pub struct RedisFeed {
    pending: Arc<Mutex<HashMap<Arc<str>, Position>>>,
    capacity: usize,
    ready: Arc<Notify>,
    metrics: Arc<Metrics>,
}

impl RedisFeed {
    /// Queues the newest position of each vehicle.
    pub fn offer<'a>(&self, positions: impl IntoIterator<Item = (&'a str, Position)>) {
        let mut dropped = 0u64;
        {
            let mut pending = self.lock();
            for (id, p) in positions {
                if let Some(old) = pending.get_mut(id) {
                    if p.ts > old.ts {
                        *old = p;
                    }
                } else if pending.len() < self.capacity {
                    pending.insert(id.into(), p);
                } else {
                    dropped += 1;
                }
            }
        }
        if dropped > 0 {
            self.metrics.redis_positions_dropped.inc_by(dropped);
        }
        self.ready.notify_one();
    }

    /// Updates waiting to be written.
    pub fn backlog(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, Position>> {
        // A panic while holding it leaves at worst a stale position for a vehicle; keep going.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self) -> HashMap<Arc<str>, Position> {
        std::mem::take(&mut *self.lock())
    }

    /// Puts back what could not be written, unless a newer position arrived meanwhile.
    ///
    /// The failed batch can hold `redis.queue` entries, and writers' [`offer`](Self::offer)
    /// waits on the same mutex: so the merge runs outside it. What arrived since the batch was
    /// taken is swapped out (briefly locked), merged into the batch, and the batch swapped
    /// back in; only what arrived during that merge (a few offers) is merged with the lock
    /// held. Meanwhile [`backlog`](Self::backlog) sees only the newest arrivals.
    fn restore(&self, mut batch: HashMap<Arc<str>, Position>) {
        let arrived = self.take();
        let mut dropped = self.merge(&mut batch, arrived);
        {
            let mut pending = self.lock();
            let late = std::mem::take(&mut *pending);
            dropped += self.merge(&mut batch, late);
            *pending = batch;
        }
        if dropped > 0 {
            self.metrics.redis_positions_dropped.inc_by(dropped);
        }
    }

    /// Merges `newer` into `into`, keeping each vehicle's latest position; beyond capacity,
    /// vehicles not yet in `into` are dropped (as [`offer`](Self::offer) drops them).
    /// Returns how many were dropped.
    fn merge(
        &self,
        into: &mut HashMap<Arc<str>, Position>,
        newer: HashMap<Arc<str>, Position>,
    ) -> u64 {
        let mut dropped = 0;
        for (id, p) in newer {
            if let Some(cur) = into.get_mut(&id) {
                if p.ts > cur.ts {
                    *cur = p;
                }
            } else if into.len() < self.capacity {
                into.insert(id, p);
            } else {
                dropped += 1;
            }
        }
        dropped
    }
}

/// A client for `url`; with `rediss://`, checking the server against `tls.ca_file` (the
/// system's CAs when empty) and presenting `tls.cert_file` if set.
pub fn client(url: &str, tls: TlsFiles<'_>) -> Result<redis::Client, redis::RedisError> {
    if tls == TlsFiles::default() {
        return redis::Client::open(url);
    }
    // The Redis client builds its rustls configuration with the process's default provider.
    crate::tls::provider();
    let read = |key: &str, path: &str| {
        std::fs::read(path).map_err(|e| {
            redis::RedisError::from(std::io::Error::new(
                e.kind(),
                format!("{key}: cannot read {path}: {e}"),
            ))
        })
    };
    let root_cert = match tls.ca_file {
        "" => None,
        path => Some(read("redis.tls_ca_file", path)?),
    };
    let client_tls = match (tls.cert_file, tls.key_file) {
        ("", _) | (_, "") => None,
        (cert, key) => Some(redis::ClientTlsConfig {
            client_cert: read("redis.tls_cert_file", cert)?,
            client_key: read("redis.tls_key_file", key)?,
        }),
    };
    redis::Client::build_with_tls(
        url,
        redis::TlsCertificates {
            client_tls,
            root_cert,
        },
    )
}

/// Starts the writer task; returns the hook side.
pub fn spawn(
    client: redis::Client,
    ttl_s: u64,
    capacity: usize,
    driver_of: DriverOf,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> RedisFeed {
    let feed = RedisFeed {
        pending: Arc::default(),
        capacity,
        ready: Arc::new(Notify::new()),
        metrics,
    };
    let writer = Writer {
        client,
        ttl_s,
        driver_of,
        feed: feed.clone(),
    };
    tokio::spawn(writer.run(shutdown));
    feed
}

struct Writer {
    client: redis::Client,
    ttl_s: u64,
    driver_of: DriverOf,
    feed: RedisFeed,
}

impl Writer {
    async fn run(self, shutdown: CancellationToken) {
        let mut connection = None;
        let mut failures = 0u32;
        loop {
            tokio::select! {
                _ = self.feed.ready.notified() => {}
                _ = shutdown.cancelled() => return,
            }
            loop {
                let batch = self.feed.take();
                if batch.is_empty() {
                    break;
                }
                match self.write(&mut connection, &batch).await {
                    Ok(()) => {
                        failures = 0;
                        self.feed
                            .metrics
                            .redis_positions_written
                            .inc_by(batch.len() as u64);
                    }
                    Err(error) => {
                        self.feed.metrics.redis_errors.inc();
                        if failures == 0 {
                            tracing::warn!(%error, "redis write-through failing; positions wait");
                        }
                        connection = None;
                        self.feed.restore(batch);
                        let delay = crate::retry::backoff(
                            failures,
                            Duration::from_millis(100),
                            Duration::from_secs(5),
                            rand::random(),
                        );
                        failures = failures.saturating_add(1).min(16);
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = shutdown.cancelled() => return,
                        }
                    }
                }
            }
        }
    }

    async fn write(
        &self,
        connection: &mut Option<redis::aio::MultiplexedConnection>,
        batch: &HashMap<Arc<str>, Position>,
    ) -> Result<(), redis::RedisError> {
        let con = match connection {
            Some(c) => c,
            None => {
                let c =
                    tokio::time::timeout(TIMEOUT, self.client.get_multiplexed_async_connection())
                        .await
                        .map_err(timed_out)??;
                connection.insert(c)
            }
        };
        let entries: Vec<_> = batch.iter().collect();
        for chunk in entries.chunks(PIPELINE) {
            let mut pipe = redis::pipe();
            for (id, p) in chunk {
                let key = key(id);
                let driver = (self.driver_of)(id)
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                let ts = chrono::DateTime::from_timestamp_micros(p.ts)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                    .unwrap_or_default();
                let fields = [
                    ("lat", p.lat.to_string()),
                    ("lon", p.lon.to_string()),
                    (
                        "speed_kmh",
                        p.speed_kmh.map(|v| v.to_string()).unwrap_or_default(),
                    ),
                    (
                        "heading_deg",
                        p.heading_deg.map(|v| v.to_string()).unwrap_or_default(),
                    ),
                    ("ts", ts),
                    ("driver", driver),
                ];
                pipe.hset_multiple(&key, &fields)
                    .ignore()
                    .expire(&key, self.ttl_s as i64)
                    .ignore();
            }
            tokio::time::timeout(TIMEOUT, pipe.query_async::<()>(con))
                .await
                .map_err(timed_out)??;
        }
        Ok(())
    }
}

fn timed_out(_: tokio::time::error::Elapsed) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::IoError, "redis call timed out"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ts: i64) -> Position {
        Position {
            lat: 1.0,
            lon: 2.0,
            ts,
            speed_kmh: None,
            heading_deg: None,
        }
    }

    fn feed(capacity: usize) -> RedisFeed {
        RedisFeed {
            pending: Arc::default(),
            capacity,
            ready: Arc::new(Notify::new()),
            metrics: Metrics::new(),
        }
    }

    #[test]
    fn a_failed_batch_goes_back_behind_newer_positions_within_capacity() {
        let feed = feed(4);
        feed.offer([("a", at(1)), ("b", at(1)), ("c", at(5))]);
        let batch = feed.take();
        assert_eq!(feed.backlog(), 0);
        // While the batch was out: a newer position for a, an older one for c, a new vehicle.
        feed.offer([("a", at(2)), ("c", at(4)), ("d", at(1))]);
        feed.restore(batch);
        let pending = feed.take();
        let ts = |id: &str| pending.get(id).map(|p| p.ts);
        assert_eq!(
            (ts("a"), ts("b"), ts("c"), ts("d")),
            (Some(2), Some(1), Some(5), Some(1))
        );
        assert_eq!(feed.metrics.redis_positions_dropped.get(), 0);

        // Full: a vehicle beyond capacity is dropped and counted, known ones still update.
        feed.offer([("a", at(1)), ("b", at(1)), ("c", at(1))]);
        let batch = feed.take();
        feed.offer([("d", at(1)), ("e", at(1)), ("a", at(9))]);
        feed.restore(batch);
        let pending = feed.take();
        assert_eq!(pending.len(), 4);
        assert_eq!(pending["a"].ts, 9);
        assert_eq!(feed.metrics.redis_positions_dropped.get(), 1);
    }
}
