//! Whether the replica may be read: the rule, pure, over what each check saw, so it is tested
//! without a database.
//!
//! The lag is an upper bound on how old the replica's data is. `now() -
//! pg_last_xact_replay_timestamp()` alone is not one that can be trusted: on a primary that
//! commits nothing for an hour it reads an hour while the replica is perfectly current. So a
//! check first asks the primary for its WAL position and counts the replica *caught up*
//! (lag 0) when it has replayed at least that far. Behind it, the data is no older than the
//! last time it was seen caught up, nor than its newest replayed commit: the smaller of the
//! two is the bound. The bound then grows with the time since the check, until the next.

use std::time::Duration;

use tokio::time::Instant;

/// A replica whose last successful check is older than this is not read, whatever that
/// check said: the monitor is stuck on it (a host that swallows packets), and so would the
/// requests be.
pub const STALE_AFTER: Duration = Duration::from_secs(3);

/// What one check read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// `pg_is_in_recovery()`: false on a primary (a promoted standby, or a URL naming the
    /// wrong server), whose data need not be ours at all.
    pub in_recovery: bool,
    /// It has replayed at least the primary's WAL position read just before; when the
    /// primary did not answer, everything it has received.
    pub caught_up: bool,
    /// `now() - pg_last_xact_replay_timestamp()` on the replica; `None` before its first
    /// replayed commit.
    pub replay_age: Option<Duration>,
}

/// The replica as the last check left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No check has finished yet.
    Starting,
    /// No connection, or the check failed (or a read lost its connection since).
    Unreachable,
    /// It answers but is not in recovery.
    NotStandby,
    /// Its user cannot take role `fleetd_api` while the primary's can: row-level security
    /// would not bind there, and a customer could see more than on the primary.
    RoleMismatch,
    /// A standby; `lag` is the bound at the check, `None` when nothing bounds it yet.
    Standby { lag: Option<Duration> },
}

impl State {
    /// The word `/readyz` reports.
    pub fn name(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Unreachable => "unreachable",
            State::NotStandby => "not_a_standby",
            State::RoleMismatch => "role_mismatch",
            State::Standby { .. } => "standby",
        }
    }
}

/// The monitor's findings.
#[derive(Debug, Clone, Copy)]
pub struct Health {
    pub state: State,
    /// When `state` was found.
    pub checked_at: Option<Instant>,
    /// The last check that found it caught up.
    last_caught_up: Option<Instant>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            state: State::Starting,
            checked_at: None,
            last_caught_up: None,
        }
    }
}

impl Health {
    /// Records a check's sample taken at `now`.
    pub fn observe(&mut self, sample: Sample, now: Instant) {
        self.checked_at = Some(now);
        if !sample.in_recovery {
            self.last_caught_up = None;
            self.state = State::NotStandby;
            return;
        }
        if sample.caught_up {
            self.last_caught_up = Some(now);
        }
        let since_caught_up = self
            .last_caught_up
            .map(|t| now.saturating_duration_since(t));
        let lag = match (since_caught_up, sample.replay_age) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.state = State::Standby { lag };
    }

    /// Records a state without a sample: unreachable, or the wrong role. Forgets when it was
    /// last caught up: the server that answers next may not be the same one.
    pub fn set(&mut self, state: State, now: Instant) {
        self.state = state;
        self.checked_at = Some(now);
        self.last_caught_up = None;
    }

    /// The bound on the replica's lag at `now`: the check's, plus the time since it.
    pub fn lag_at(&self, now: Instant) -> Option<Duration> {
        match (self.state, self.checked_at) {
            (State::Standby { lag: Some(lag) }, Some(at)) => {
                Some(lag + now.saturating_duration_since(at))
            }
            _ => None,
        }
    }

    /// Whether a read at `now` may go to the replica.
    pub fn usable(&self, max_lag: Duration, now: Instant) -> bool {
        let fresh = self
            .checked_at
            .is_some_and(|at| now.saturating_duration_since(at) <= STALE_AFTER);
        fresh && self.lag_at(now).is_some_and(|lag| lag <= max_lag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_secs(10);

    fn sample(caught_up: bool, replay_age_s: Option<u64>) -> Sample {
        Sample {
            in_recovery: true,
            caught_up,
            replay_age: replay_age_s.map(Duration::from_secs),
        }
    }

    #[test]
    fn nothing_is_read_before_the_first_check() {
        let h = Health::default();
        assert!(!h.usable(MAX, Instant::now()));
        assert_eq!(h.state.name(), "starting");
    }

    #[test]
    fn an_idle_primary_does_not_make_a_current_replica_look_behind() {
        // The newest replayed commit is an hour old, but the replica has everything.
        let t0 = Instant::now();
        let mut h = Health::default();
        h.observe(sample(true, Some(3_600)), t0);
        assert_eq!(h.lag_at(t0), Some(Duration::ZERO));
        assert!(h.usable(MAX, t0));
    }

    #[test]
    fn behind_the_lag_is_the_smaller_bound_and_grows_until_the_limit() {
        let t0 = Instant::now();
        let mut h = Health::default();
        h.observe(sample(true, Some(3_600)), t0);
        // A write after an hour of silence: behind, but only since the last caught-up check,
        // not by the hour the replay timestamp suggests.
        let t1 = t0 + Duration::from_secs(1);
        h.observe(sample(false, Some(3_600)), t1);
        assert_eq!(h.lag_at(t1), Some(Duration::from_secs(1)));
        assert!(h.usable(MAX, t1));
        // Replay stopped: the bound grows a second a second, and past the limit it is not read.
        let t2 = t0 + Duration::from_secs(10);
        h.observe(sample(false, Some(3_609)), t2);
        assert_eq!(h.lag_at(t2), Some(Duration::from_secs(10)));
        assert!(h.usable(MAX, t2));
        let t3 = t0 + Duration::from_secs(11);
        h.observe(sample(false, Some(3_610)), t3);
        assert!(!h.usable(MAX, t3));
        // A busy primary: recent commits bound it more tightly than the caught-up time.
        h.observe(sample(false, Some(2)), t3);
        assert_eq!(h.lag_at(t3), Some(Duration::from_secs(2)));
        assert!(h.usable(MAX, t3));
        h.observe(sample(true, Some(2)), t3);
        assert_eq!(h.lag_at(t3), Some(Duration::ZERO));
    }

    #[test]
    fn the_bound_grows_between_checks_and_a_stale_check_is_not_trusted() {
        let t0 = Instant::now();
        let mut h = Health::default();
        h.observe(sample(false, Some(8)), t0);
        assert!(h.usable(MAX, t0 + Duration::from_secs(2)));
        assert!(!h.usable(
            MAX,
            t0 + Duration::from_millis(2_001) + Duration::from_secs(1)
        ));
        h.observe(sample(true, None), t0);
        assert!(h.usable(MAX, t0 + STALE_AFTER));
        assert!(!h.usable(MAX, t0 + STALE_AFTER + Duration::from_millis(1)));
    }

    #[test]
    fn without_any_bound_or_as_a_primary_it_is_not_read() {
        let t0 = Instant::now();
        let mut h = Health::default();
        h.observe(sample(false, None), t0);
        assert_eq!(h.state, State::Standby { lag: None });
        assert!(!h.usable(MAX, t0));
        h.observe(
            Sample {
                in_recovery: false,
                caught_up: true,
                replay_age: None,
            },
            t0,
        );
        assert_eq!(h.state.name(), "not_a_standby");
        assert!(!h.usable(MAX, t0));
    }

    #[test]
    fn an_outage_forgets_the_caught_up_time() {
        let t0 = Instant::now();
        let mut h = Health::default();
        h.observe(sample(true, None), t0);
        h.set(State::Unreachable, t0 + Duration::from_secs(1));
        assert!(!h.usable(MAX, t0 + Duration::from_secs(1)));
        // Back, behind, with no replayed commit yet: nothing bounds its lag.
        h.observe(sample(false, None), t0 + Duration::from_secs(2));
        assert!(!h.usable(MAX, t0 + Duration::from_secs(2)));
        h.set(State::RoleMismatch, t0);
        assert!(!h.usable(MAX, t0));
    }
}
