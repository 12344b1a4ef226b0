//! The dashboard's cache: Redis when configured (shared by every daemon), else memory. A
//! Redis that fails falls back to memory for that request: a cache never fails a request.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Redis key of the cached dashboard.
pub const KEY: &str = "fleetd:dashboard:stats";
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// A computed answer and when it was computed.
#[derive(Debug, Clone)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub body: Value,
}

pub struct Cache {
    ttl_s: u64,
    redis: Option<redis::Client>,
    // std Mutex: held only to clone or replace a value, never across an await.
    memory: Mutex<Option<Entry>>,
}

impl Cache {
    pub fn new(ttl_s: u64, redis: Option<redis::Client>) -> Cache {
        Cache {
            ttl_s,
            redis,
            memory: Mutex::new(None),
        }
    }

    /// The cached entry if younger than the TTL at `now`.
    pub async fn get(&self, now: DateTime<Utc>) -> Option<Entry> {
        let fresh = |e: &Entry| (now - e.at).num_milliseconds() < self.ttl_s as i64 * 1_000;
        if let Some(client) = &self.redis {
            if let Ok(Some(e)) = tokio::time::timeout(REDIS_TIMEOUT, redis_get(client)).await {
                return fresh(&e).then_some(e);
            }
        }
        let memory = self
            .memory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        memory.filter(fresh)
    }

    /// Stores an entry (in Redis with the TTL, and in memory).
    pub async fn put(&self, entry: Entry) {
        if let Some(client) = &self.redis {
            let _ =
                tokio::time::timeout(REDIS_TIMEOUT, redis_put(client, &entry, self.ttl_s)).await;
        }
        *self.memory.lock().unwrap_or_else(|e| e.into_inner()) = Some(entry);
    }
}

async fn redis_get(client: &redis::Client) -> Option<Entry> {
    let mut c = client.get_multiplexed_async_connection().await.ok()?;
    let text: Option<String> = redis::cmd("GET").arg(KEY).query_async(&mut c).await.ok()?;
    let v: Value = serde_json::from_str(&text?).ok()?;
    let at = v.get("at")?.as_str()?.parse().ok()?;
    Some(Entry {
        at,
        body: v.get("body")?.clone(),
    })
}

async fn redis_put(client: &redis::Client, e: &Entry, ttl_s: u64) -> Option<()> {
    let mut c = client.get_multiplexed_async_connection().await.ok()?;
    let text = serde_json::json!({"at": e.at, "body": e.body}).to_string();
    redis::cmd("SET")
        .arg(KEY)
        .arg(text)
        .arg("EX")
        .arg(ttl_s.max(1))
        .query_async::<()>(&mut c)
        .await
        .ok()
}

/// What the report routes share (kept in [`crate::api::state::ApiState`]).
pub struct Reports {
    pub cache: Cache,
    /// The speed from which a vehicle counts as moving (`trips.min_speed_kmh`).
    pub min_speed_kmh: f64,
}

impl Reports {
    pub fn new(config: &crate::config::Config) -> Reports {
        let redis = (!config.redis.url.is_empty())
            .then(|| crate::live::redis::client(&config.redis.url, config.redis_tls_files()).ok())
            .flatten();
        Reports {
            cache: Cache::new(config.reports.dashboard_cache_s, redis),
            min_speed_kmh: config.trips.min_speed_kmh,
        }
    }
}
