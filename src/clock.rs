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
//!
//! The API's rules read the same clock (rental and maintenance windows, cancellation fees,
//! overdue jobs, licence expiry, token expiry) and hand its time to PostgreSQL as a query
//! parameter instead of `now()`. A whole daemon cannot run under `tokio::time::pause()` (its
//! pool and HTTP timeouts would fire whenever the runtime idles), so tests of those rules
//! run it on a [`Clock::manual`] clock and move time with the [`ClockHand`].

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub enum Clock {
    /// `Utc::now()`.
    System,
    /// `wall` at `instant`, advanced by tokio's clock since.
    Virtual {
        wall: DateTime<Utc>,
        instant: Instant,
    },
    /// Microseconds since the epoch, moved only by its [`ClockHand`].
    Manual(Arc<AtomicI64>),
}

/// Moves a [`Clock::manual`] clock.
#[derive(Debug, Clone)]
pub struct ClockHand(Arc<AtomicI64>);

impl ClockHand {
    /// Moves the clock by `by` (backwards when negative).
    pub fn advance(&self, by: chrono::Duration) {
        let us = by.num_microseconds().expect("a step within ±292,000 years");
        self.0.fetch_add(us, Ordering::SeqCst);
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        self.0.store(at.timestamp_micros(), Ordering::SeqCst);
    }
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

    /// Stopped at `at` until its hand moves it.
    pub fn manual(at: DateTime<Utc>) -> (Clock, ClockHand) {
        let us = Arc::new(AtomicI64::new(at.timestamp_micros()));
        (Clock::Manual(us.clone()), ClockHand(us))
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Virtual { wall, instant } => {
                let elapsed = Instant::now().saturating_duration_since(*instant);
                *wall + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
            }
            Clock::Manual(us) => DateTime::from_timestamp_micros(us.load(Ordering::SeqCst))
                .expect("the hand keeps the clock within chrono's range"),
        }
    }

    /// Whole seconds since the Unix epoch (token times).
    pub fn now_s(&self) -> i64 {
        self.now().timestamp()
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
    fn a_manual_clock_moves_only_with_its_hand() {
        let start = DateTime::parse_from_rfc3339("2029-06-01T12:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let (clock, hand) = Clock::manual(start);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now(), start);
        hand.advance(chrono::Duration::hours(30));
        assert_eq!(clock.clone().now(), start + chrono::Duration::hours(30));
        hand.advance(chrono::Duration::seconds(-90));
        assert_eq!(
            clock.now(),
            start + chrono::Duration::hours(30) - chrono::Duration::seconds(90)
        );
        hand.set(start);
        assert_eq!(clock.now_s(), start.timestamp());
    }

    #[test]
    fn the_system_clock_is_the_wall_clock() {
        let before = Utc::now();
        let now = Clock::new().now();
        assert!(now >= before && now <= Utc::now());
    }
}
