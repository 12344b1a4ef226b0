//! The daemon's clock: the system's wall time in production, or a wall time driven by
//! tokio's clock in tests.
//!
//! Offer expiries and retry times are computed here and stored in PostgreSQL, and jobs fall
//! due by comparing them against this clock, never against the database's `now()`. A clock
//! made with [`Clock::at`] advances with [`tokio::time::Instant`], so under
//! `tokio::time::pause()` the whole dispatcher (timeouts, backoff, staleness) runs on virtual
//! time and tests step through 30 s offer timeouts and minutes of backoff in milliseconds.
//! [`Clock::new`] reads the system clock on every call, so a long-running daemon follows NTP
//! and clock steps as the trackers' own timestamps do.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// `Utc::now()`.
    System,
    /// `wall` at `instant`, advanced by tokio's clock since.
    Virtual {
        wall: DateTime<Utc>,
        instant: Instant,
    },
}

impl Clock {
    /// The system clock.
    pub fn new() -> Clock {
        Clock::System
    }

    /// Anchored at `wall` now and advanced by tokio's clock (tests pick a fixed start).
    pub fn at(wall: DateTime<Utc>) -> Clock {
        Clock::Virtual {
            wall,
            instant: Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match *self {
            Clock::System => Utc::now(),
            Clock::Virtual { wall, instant } => {
                let elapsed = Instant::now().saturating_duration_since(instant);
                wall + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
            }
        }
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
    async fn a_virtual_clock_follows_tokio_time() {
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

    #[test]
    fn the_system_clock_is_the_wall_clock() {
        let before = Utc::now();
        let now = Clock::new().now();
        assert!(now >= before && now <= Utc::now());
    }
}
