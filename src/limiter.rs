//! Token buckets: one per client (an API caller, a tracker's topic), refilled at the
//! configured rate. The API's rate-limit middleware and ingestion's reject budget spend them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept before idle, full ones are dropped (bounds memory under an IP flood).
const MAX_BUCKETS: usize = 100_000;

/// One client's budget.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// All clients' budgets.
pub struct Limiter {
    per_s: f64,
    burst: f64,
    /// A std lock: held only to update one entry, never across an `.await`.
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    /// `per_minute` = 0 disables limiting.
    pub fn new(per_minute: u32, burst: u32) -> Limiter {
        Limiter {
            per_s: per_minute as f64 / 60.0,
            burst: burst.max(1) as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// False when configured with 0 per minute: every request passes.
    pub fn enabled(&self) -> bool {
        self.per_s > 0.0
    }

    /// Takes one token for `client` at `now`; `Err(seconds to wait)` when none is left.
    pub fn take(&self, client: &str, now: Instant) -> Result<(), u64> {
        if !self.enabled() {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(client) {
            let (per_s, burst) = (self.per_s, self.burst);
            buckets
                .retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * per_s < burst);
        }
        let b = buckets.entry(client.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = now.saturating_duration_since(b.at).as_secs_f64() * self.per_s;
        b.tokens = (b.tokens + refill).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / self.per_s).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_refills_at_the_configured_rate() {
        let l = Limiter::new(60, 2); // one per second, bursts of two
        let t0 = Instant::now();
        assert!(l.take("a", t0).is_ok());
        assert!(l.take("a", t0).is_ok());
        assert_eq!(l.take("a", t0), Err(1));
        assert!(l.take("b", t0).is_ok(), "clients are independent");
        assert!(l.take("a", t0 + Duration::from_millis(1000)).is_ok());
        assert!(l.take("a", t0 + Duration::from_millis(1000)).is_err());
        let slow = Limiter::new(1, 1);
        assert!(slow.take("a", t0).is_ok());
        assert_eq!(slow.take("a", t0), Err(60));
        assert!(Limiter::new(0, 0).take("a", t0).is_ok(), "0 disables");
    }
}
