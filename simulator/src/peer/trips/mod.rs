//! `fleet-sim peer trips`: the trips report comparison (scripts/bench/trips_report.sh).
//! Steps, one file each:
//!
//! - `load` (`drive`, `load`): days of synthetic 1 Hz driving for the sampled vehicles,
//!   stored as fleetd's writers store readings, segmented by a running fleetd;
//! - `fleet`: the rest of the fleet's trips, stops and rollups, copied from the sampled
//!   vehicles (their raw readings are not needed by what is measured);
//! - `report`: the trips report from fleetd's stored trips vs Traccar's replay of every
//!   reading, and the fleet report, interleaved; one JSON line.

pub mod args;
mod drive;
mod fleet;
mod load;
mod report;

use anyhow::Context;

use args::{HistoryArgs, TripsArgs, TripsStep};
use drive::DAY_US;

pub async fn run(args: TripsArgs) -> anyhow::Result<()> {
    match args.step {
        TripsStep::Load(a) => load::run(a).await,
        TripsStep::Fleet(a) => fleet::run(a).await,
        TripsStep::Report(a) => report::run(a).await,
    }
}

/// Vehicle `n`'s id: the prefix and six digits.
fn vehicle_id(prefix: &str, n: u32) -> String {
    format!("{prefix}{n:06}")
}

/// The history's first day, in days since the Unix epoch.
fn first_day(h: &HistoryArgs) -> anyhow::Result<i64> {
    let end = match h.end {
        Some(d) => d,
        None => chrono::Utc::now().date_naive(),
    };
    let end_us = end
        .and_hms_opt(0, 0, 0)
        .context("--end")?
        .and_utc()
        .timestamp_micros();
    Ok(end_us / DAY_US - i64::from(h.days))
}
