//! The dispatcher's clock: wall time that advances with tokio's clock.
//!
//! Offer expiries and retry times are computed here and stored in PostgreSQL, and jobs fall
//! due by comparing them against this clock, never against the database's `now()`. Under
//! `tokio::time::pause()` the whole dispatcher (timeouts, backoff, staleness) therefore runs
//! on virtual time, so tests can step through 30 s offer timeouts and minutes of backoff in
//! milliseconds, and production behaves the same with real time.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// Wall time anchored once and advanced by [`tokio::time::Instant`].
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: DateTime<Utc>,
    instant: Instant,
}

impl Clock {
    /// Anchored at the current wall time.
    pub fn new() -> Clock {
        Clock::at(Utc::now())
    }

    /// Anchored at `wall` (tests pick a fixed start).
    pub fn at(wall: DateTime<Utc>) -> Clock {
        Clock {
            wall,
            instant: Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = Instant::now().saturating_duration_since(self.instant);
        self.wall + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
    }

    /// Microseconds since the Unix epoch, the live index's time unit.
    pub fn now_us(&self) -> i64 {
        self.now().timestamp_micros()
    }

    /// The tokio instant at which the clock shows `at` (now, if `at` has passed).
    pub fn instant_of(&self, at: DateTime<Utc>) -> Instant {
        let now = Instant::now();
        match (at - self.now()).to_std() {
            Ok(ahead) => now + ahead,
            Err(_) => now,
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn follows_tokio_time() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Clock::at(start);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now(), start + chrono::Duration::seconds(90));
        let due = start + chrono::Duration::seconds(120);
        assert_eq!(
            clock.instant_of(due) - Instant::now(),
            Duration::from_secs(30)
        );
        let past = start;
        assert_eq!(clock.instant_of(past), Instant::now());
    }
}
