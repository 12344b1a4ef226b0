//! `fleet-sim peer trips` flags and their value parsers.

use std::time::Duration;

use clap::{Args, Subcommand};

use crate::parse::{parse_id_prefix, parse_linger};
use crate::peer::args::{parse_database_url, within, FleetdArgs};

#[derive(Debug, Clone, Args)]
pub struct TripsArgs {
    #[command(subcommand)]
    pub step: TripsStep,
}

#[derive(Debug, Clone, Subcommand)]
pub enum TripsStep {
    /// Store days of synthetic driving straight into gps_readings, a day per transaction with
    /// its segment mark (as fleetd's writers do), waiting for fleetd's segmenter after each.
    Load(TripsLoadArgs),
    /// Register the fleet and give every vehicle beyond the loaded ones a loaded vehicle's
    /// trips, stops and rollups, so the tables hold a whole fleet's history.
    Fleet(TripsFleetArgs),
    /// Time the trips report both ways, interleaved; one JSON line.
    Report(TripsReportArgs),
}

/// The history every `trips` step works on.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// PostgreSQL with fleetd's schema.
    #[arg(long, env = "FLEETD_BENCH_DATABASE_URL", hide_env_values = true,
          default_value = "postgres://postgres@127.0.0.1:5432/fleetd_bench_trips", value_parser = parse_database_url)]
    pub database_url: String,
    /// Vehicle ids are this prefix and a six-digit number from 1.
    #[arg(long, default_value = "tr-", value_parser = parse_id_prefix)]
    pub id_prefix: String,
    /// Days of history, 1 to 366, ending where --end begins.
    #[arg(long, default_value = "30", value_parser = parse_days)]
    pub days: u32,
    /// The UTC day after the history (YYYY-MM-DD; default today).
    #[arg(long, value_parser = parse_day)]
    pub end: Option<chrono::NaiveDate>,
    /// Vehicles whose readings are stored (`load`), 1 to 100,000.
    #[arg(long, default_value = "10", value_parser = parse_vehicles)]
    pub sampled: u32,
}

#[derive(Debug, Clone, Args)]
pub struct TripsLoadArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// GPS readings per second per vehicle, above 0 and at most 10.
    #[arg(long, default_value = "1", value_parser = parse_history_hz)]
    pub hz: f64,
    /// Seed of the driving.
    #[arg(long, default_value = "7")]
    pub seed: u64,
    /// After each day, wait this long at most for fleetd's segmenter to take it in
    /// (0: do not wait).
    #[arg(long, default_value = "30m", value_parser = parse_linger)]
    pub wait: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct TripsFleetArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Fleet size, at least --sampled and at most 100,000.
    #[arg(long, default_value = "1000", value_parser = parse_vehicles)]
    pub vehicles: u32,
}

#[derive(Debug, Clone, Args)]
pub struct TripsReportArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Fleet size, as given to `fleet`.
    #[arg(long, default_value = "1000", value_parser = parse_vehicles)]
    pub vehicles: u32,
    /// Rounds, 1 to 100,000; each times every way once, in alternating order.
    #[arg(long, default_value = "40", value_parser = parse_rounds)]
    pub rounds: u32,
    /// Seed of the vehicles asked for.
    #[arg(long, default_value = "11")]
    pub seed: u64,
    #[command(flatten)]
    pub fleetd: FleetdArgs,
}

pub fn parse_days(s: &str) -> Result<u32, String> {
    within(s, 1, 366).map(|n| n as u32)
}

pub fn parse_vehicles(s: &str) -> Result<u32, String> {
    within(s, 1, 100_000).map(|n| n as u32)
}

pub fn parse_rounds(s: &str) -> Result<u32, String> {
    within(s, 1, 100_000).map(|n| n as u32)
}

pub fn parse_day(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a day: expected YYYY-MM-DD"))
}

pub fn parse_history_hz(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 10.0 => Ok(x),
        _ => Err(format!(
            "{s:?}: readings per second must be above 0 and at most 10"
        )),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::peer::PeerCommand;

    fn trips(args: &[&str]) -> Result<TripsStep, clap::Error> {
        let argv = ["fleet-sim", "peer", "trips"].iter().chain(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Peer(p) => match p.command {
                PeerCommand::Trips(t) => Ok(t.step),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn numbers_in_range_only() {
        assert_eq!(parse_days("30"), Ok(30));
        assert_eq!(parse_days("366"), Ok(366));
        assert_eq!(parse_vehicles("1_000"), Ok(1000));
        assert_eq!(parse_rounds("1"), Ok(1));
        for bad in [
            "0",
            "367",
            "-1",
            "",
            "3.5",
            "ten",
            "99999999999999999999999",
        ] {
            assert!(parse_days(bad).is_err(), "{bad:?}");
        }
        for bad in ["0", "100001", "-5", "x", "1e3"] {
            assert!(parse_vehicles(bad).is_err(), "{bad:?}");
            assert!(parse_rounds(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn days_and_rates() {
        assert_eq!(
            parse_day("2026-12-07"),
            Ok(chrono::NaiveDate::from_ymd_opt(2026, 12, 7).unwrap())
        );
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "07.12.2026",
            "",
            "2026-12-07T00:00:00Z",
            "🚗",
        ] {
            assert!(parse_day(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_history_hz("0.5"), Ok(0.5));
        assert_eq!(parse_history_hz("10"), Ok(10.0));
        for bad in ["0", "-1", "10.01", "NaN", "inf", "", "fast"] {
            assert!(parse_history_hz(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn steps_and_their_flags() {
        let TripsStep::Load(l) =
            trips(&["load", "--sampled", "2", "--days", "3", "--hz", "0.2"]).unwrap()
        else {
            panic!("not load");
        };
        assert_eq!((l.history.sampled, l.history.days, l.hz), (2, 3, 0.2));
        assert_eq!(l.history.id_prefix, "tr-");
        let TripsStep::Report(r) = trips(&["report", "--rounds", "5"]).unwrap() else {
            panic!("not report");
        };
        assert_eq!((r.rounds, r.vehicles), (5, 1000));
        for bad in [
            &["load", "--hz", "0"][..],
            &["load", "--end", "yesterday"],
            &["fleet", "--vehicles", "0"],
            &["report", "--http-addr", "no-port"],
            &["report", "--rounds", "0"],
            &["load", "--database-url", ""],
            &["load", "--unknown"],
            &["sideways"],
        ] {
            assert!(trips(bad).is_err(), "{bad:?}");
        }
    }
}
