//! Where the simulated clock starts, and how fast readings go out.
//!
//! Every good reading is stamped with its vehicle's grid time (see `shard.rs`) and published
//! only once the wall clock has reached that stamp, so `ts` is never in the future:
//!
//! - real time (default): the grid starts now; each reading is published when its `ts`
//!   arrives, so `ts` is the wall clock at publish time.
//! - `--rate R` above the fleet's natural rate, and `--max-rate`: the simulated clock runs
//!   faster than the wall clock, so the grid starts in the past, at now minus the simulated
//!   span the run is expected to cover minus the wall time it takes; readings catch up
//!   with the present towards the end of the run. With `--max-rate` and only `--duration`,
//!   the span assumes at most `MAX_RATE_ASSUMED` readings/s and is capped at a day; if the
//!   broker is faster, publishing waits for the clock (a small fleet can only publish so
//!   many distinct timestamps).
//! - `--rate R` below the natural rate: the simulated clock runs slower and readings fall
//!   behind the wall clock (still inside the 30-day acceptance window).
//!
//! `--backlog` overrides the planned start. Whatever the plan, a generator never publishes a
//! good reading before the wall clock reaches its `ts`: if it runs ahead, it waits.

use std::time::Duration;

use crate::config::RateMode;

/// The throughput `--max-rate --duration` plans for.
pub const MAX_RATE_ASSUMED: f64 = 1_000_000.0;
/// Cap of the planned backlog for `--max-rate --duration`.
pub const MAX_RATE_BACKLOG_CAP_MS: i64 = 24 * 3_600_000;
/// Readings older than the daemon's raw retention (30 days by default) would be rejected.
pub const MAX_BACKLOG_MS: i64 = 29 * 86_400_000;

/// A run that cannot stay inside the acceptance window.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Too many readings per vehicle for the reporting rate.
    #[error("this run needs {days:.1} days of simulated time per vehicle (more than the 29 allowed by the daemon's 30-day retention); lower --readings or --rate, or raise --vehicles or --gps-hz/--obd-hz")]
    TooMuchHistory { days: f64 },
}

/// How many milliseconds before now the grid must start.
pub fn backlog_ms(
    rate: RateMode,
    duration: Option<Duration>,
    readings: Option<u64>,
    natural_rate: f64,
    max_period_ms: i64,
) -> Result<i64, PlanError> {
    let by_readings = readings.map(|n| n as f64 / natural_rate);
    let secs = duration.map(|d| d.as_secs_f64());
    let (sim_s, wall_s) = match rate {
        RateMode::RealTime => return Ok(0),
        RateMode::Fixed(r) => {
            let by_duration = secs.map(|d| d * r / natural_rate);
            let sim = by_readings
                .into_iter()
                .chain(by_duration)
                .fold(f64::INFINITY, f64::min);
            let wall = readings
                .map(|n| n as f64 / r)
                .into_iter()
                .chain(secs)
                .fold(f64::INFINITY, f64::min);
            (sim, wall)
        }
        RateMode::Max => {
            let cap = MAX_RATE_BACKLOG_CAP_MS as f64 / 1000.0;
            let by_duration = secs.map(|d| (d * MAX_RATE_ASSUMED / natural_rate).min(cap));
            (
                by_readings
                    .into_iter()
                    .chain(by_duration)
                    .fold(f64::INFINITY, f64::min),
                0.0,
            )
        }
    };
    if !sim_s.is_finite() || sim_s <= wall_s {
        return Ok(0);
    }
    let backlog = ((sim_s - wall_s) * 1000.0).ceil() as i64 + max_period_ms + 1000;
    if backlog > MAX_BACKLOG_MS {
        return Err(PlanError::TooMuchHistory {
            days: backlog as f64 / 86_400_000.0,
        });
    }
    Ok(backlog)
}

/// Splits `total` readings over shards in proportion to their vehicles, so every shard
/// covers the same simulated span.
pub fn split_readings(total: u64, vehicles: &[u32]) -> Vec<u64> {
    let all: u64 = vehicles.iter().map(|&v| u64::from(v)).sum();
    if all == 0 {
        return vec![0; vehicles.len()];
    }
    let mut out: Vec<u64> = vehicles
        .iter()
        .map(|&v| total * u64::from(v) / all)
        .collect();
    let mut left = total - out.iter().sum::<u64>();
    for slot in out.iter_mut() {
        if left == 0 {
            break;
        }
        *slot += 1;
        left -= 1;
    }
    out
}

/// A rate limit of `per_s` readings per second from the start of the run.
#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    pub per_s: f64,
}

impl Pacer {
    /// How long to wait before reading number `produced` (0-based) may go out, `elapsed`
    /// after the start; `None` if it may go now.
    pub fn wait(&self, produced: u64, elapsed: Duration) -> Option<Duration> {
        let due = produced as f64 / self.per_s;
        let now = elapsed.as_secs_f64();
        (due > now).then(|| Duration::from_secs_f64(due - now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Option<Duration> = Some(Duration::from_secs(60));

    #[test]
    fn real_time_starts_now() {
        assert_eq!(
            backlog_ms(RateMode::RealTime, MIN, None, 2400.0, 5000).unwrap(),
            0
        );
    }

    #[test]
    fn slower_than_real_time_starts_now() {
        assert_eq!(
            backlog_ms(RateMode::Fixed(1000.0), MIN, None, 2400.0, 5000).unwrap(),
            0
        );
    }

    #[test]
    fn faster_than_real_time_starts_in_the_past_by_the_surplus() {
        // 10x the natural rate for 60 s covers 600 s of simulated time in 60 s of wall time.
        let b = backlog_ms(RateMode::Fixed(24_000.0), MIN, None, 2400.0, 5000).unwrap();
        assert_eq!(b, 540_000 + 5000 + 1000);
        // --readings stops first: 240,000 readings = 100 s simulated in 10 s.
        let b = backlog_ms(RateMode::Fixed(24_000.0), MIN, Some(240_000), 2400.0, 5000).unwrap();
        assert_eq!(b, 90_000 + 6000);
    }

    #[test]
    fn max_rate_plans_for_all_readings_at_once() {
        let b = backlog_ms(RateMode::Max, None, Some(1_200_000), 2400.0, 5000).unwrap();
        assert_eq!(b, 500_000 + 6000);
        let b = backlog_ms(RateMode::Max, MIN, None, 2400.0, 5000).unwrap();
        assert_eq!(b, 25_000_000 + 6000);
        let b = backlog_ms(RateMode::Max, MIN, None, 1.2, 5000).unwrap();
        assert_eq!(b, MAX_RATE_BACKLOG_CAP_MS + 6000);
    }

    #[test]
    fn history_beyond_the_retention_is_refused() {
        let e = backlog_ms(RateMode::Max, None, Some(10_000_000), 1.2, 5000).unwrap_err();
        assert!(e.to_string().contains("--readings"), "{e}");
    }

    #[test]
    fn readings_split_in_proportion() {
        assert_eq!(split_readings(10, &[3, 3, 2, 2]), vec![3, 3, 2, 2]);
        assert_eq!(split_readings(11, &[3, 3, 2, 2]), vec![4, 3, 2, 2]);
        assert_eq!(split_readings(5, &[1, 1, 1]).iter().sum::<u64>(), 5);
        assert_eq!(split_readings(5, &[]), Vec::<u64>::new());
    }

    #[test]
    fn pacer_spreads_readings() {
        let p = Pacer { per_s: 100.0 };
        assert_eq!(p.wait(0, Duration::ZERO), None);
        assert_eq!(p.wait(50, Duration::from_millis(500)), None);
        let w = p.wait(100, Duration::from_millis(500)).unwrap();
        assert!((w.as_secs_f64() - 0.5).abs() < 1e-9);
    }
}
