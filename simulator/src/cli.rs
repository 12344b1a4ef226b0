//! Command-line flags and their conversion into `config` types (value parsers: `parse.rs`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::{Faults, MqttTarget, RateMode, RunConfig, SimConfig};
use crate::parse::*;
use crate::payload::Format;
use crate::peer::PeerArgs;
use crate::tls::MqttTlsArgs;
use crate::vehicle::Region;

#[derive(Debug, Parser)]
#[command(name = "fleet-sim", version, about = "Simulated vehicle fleet that drives fleetd over MQTT", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// `run`'s flags are the largest; the command is parsed once per process, so its size is moot.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate the fleet and publish its telemetry (the default when the first argument is a flag).
    Run(RunArgs),
    /// Compare a run's manifest with what PostgreSQL stored (or, with --trips, its ground
    /// truth with the trips and stops fleetd derived).
    Verify(VerifyArgs),
    /// Measure generation speed on one core, without a broker.
    Bench(BenchArgs),
    /// The benchmark scripts' load tools (scripts/bench/): MQTT subscribers and the
    /// nearest-vehicle comparison; each prints one JSON line.
    Peer(PeerArgs),
    /// Issue every simulated vehicle's tracker a broker account through fleetd's API and
    /// save them for `run --credentials`.
    Provision(ProvisionArgs),
}

/// Flags that decide the readings themselves.
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Number of vehicles, 1 to 1,000,000.
    #[arg(long, default_value = "1000", value_parser = parse_vehicles)]
    pub vehicles: u32,
    /// Region the vehicles drive in: lat_min,lon_min,lat_max,lon_max.
    #[arg(long, default_value = "52.35,13.08,52.68,13.76", value_parser = parse_region, allow_hyphen_values = true)]
    pub region: Region,
    /// Seed: the same seed gives the same readings.
    #[arg(long, default_value = "1")]
    pub seed: u64,
    /// GPS readings per second per vehicle (0 disables GPS; at most 1000).
    #[arg(long, default_value = "1", value_parser = parse_hz)]
    pub gps_hz: f64,
    /// OBD readings per second per vehicle (0 disables OBD; at most 1000).
    #[arg(long, default_value = "0.2", value_parser = parse_hz)]
    pub obd_hz: f64,
    /// Payload format: json (one object per payload), json-batch (arrays) or binary (0xF1).
    #[arg(long, default_value = "json", value_parser = parse_format)]
    pub format: Format,
    /// Readings per json-batch or binary payload, 1 to 1000 (one vehicle's consecutive readings).
    #[arg(long, default_value = "100", value_parser = parse_batch)]
    pub batch: usize,
    /// Send a partial batch once its first reading has waited this long (0: only when full).
    #[arg(long, default_value = "5s", value_parser = parse_linger)]
    pub batch_linger: Duration,
    /// Topic prefix.
    #[arg(long, default_value = "fleet", value_parser = parse_prefix)]
    pub prefix: String,
    /// Vehicle ids are this prefix and a zero-padded number: veh-000001.
    #[arg(long, default_value = "veh-", value_parser = parse_id_prefix)]
    pub id_prefix: String,
    /// Percent of readings sent as unparseable payloads (broken JSON, garbage after 0xF1).
    #[arg(long, default_value = "0", value_parser = parse_percent)]
    pub fault_malformed: f64,
    /// Percent of readings with a value out of range (lat 95, speed 900, ...).
    #[arg(long, default_value = "0", value_parser = parse_percent)]
    pub fault_out_of_range: f64,
    /// Percent of readings whose payload is published a second time, byte for byte.
    #[arg(long, default_value = "0", value_parser = parse_percent)]
    pub fault_duplicate: f64,
    /// Percent of readings published after their successor.
    #[arg(long, default_value = "0", value_parser = parse_percent)]
    pub fault_out_of_order: f64,
    /// Percent of readings stamped 10 minutes in the future (must be rejected).
    #[arg(long, default_value = "0", value_parser = parse_percent)]
    pub fault_future_skew: f64,
    /// Percent of readings produced while offline: buffered, then sent as one JSON array.
    #[arg(long, default_value = "0", value_parser = parse_percent)]
    pub fault_offline: f64,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub sim: SimArgs,
    /// Broker: mqtt://host:port (tcp:// also accepted; port defaults to 1883), or
    /// mqtts://host:port for TLS (ssl:// also accepted; port defaults to 8883).
    #[arg(long, default_value = "mqtt://127.0.0.1:1883", value_parser = parse_mqtt_url)]
    pub mqtt_url: MqttTarget,
    #[command(flatten)]
    pub mqtt_tls: MqttTlsArgs,
    /// MQTT QoS, 0 or 1.
    #[arg(long, default_value = "1", value_parser = parse_qos)]
    pub qos: u8,
    /// MQTT connections; vehicles are spread over them.
    #[arg(long, default_value = "4", value_parser = parse_connections)]
    pub connections: u32,
    /// QoS 1 publishes in flight per connection.
    #[arg(long, default_value = "1000", value_parser = clap::value_parser!(u16).range(1..))]
    pub inflight: u16,
    /// Total readings per second (default: real time, each vehicle at --gps-hz/--obd-hz).
    #[arg(long, value_parser = parse_rate, conflicts_with = "max_rate")]
    pub rate: Option<f64>,
    /// Publish as fast as the broker acknowledges.
    #[arg(long)]
    pub max_rate: bool,
    /// Start the simulated clock this long before now (default: planned from --rate or
    /// --max-rate and the stop condition, so that no reading is stamped in the future).
    #[arg(long, value_parser = parse_backlog)]
    pub backlog: Option<Duration>,
    /// Stop after this long: 90s, 5m, 1h, 500ms (default 60s unless --readings is given).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Stop after this many readings (whichever of --duration and --readings comes first).
    #[arg(long, value_parser = parse_readings)]
    pub readings: Option<u64>,
    /// Write a manifest of what was published, for `fleet-sim verify`.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// Write the ground truth (every vehicle's dwells and legs), for `fleet-sim verify --trips`.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Print the final report as JSON on stdout (the text report goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
    /// A credentials file from `fleet-sim provision`: every vehicle connects on its own,
    /// as its tracker would, with its account and client id (one connection per vehicle;
    /// `--connections` then only sets the generator threads).
    #[arg(long)]
    pub credentials: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ProvisionArgs {
    /// fleetd's API: http://host:port.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub api_url: String,
    /// A staff user (admin or dispatcher) to log in as.
    #[arg(long, default_value = "admin")]
    pub api_user: String,
    /// Its password.
    #[arg(long, env = "FLEET_SIM_API_PASSWORD", hide_env_values = true)]
    pub api_password: String,
    /// Number of vehicles, numbered as `run` numbers them.
    #[arg(long, default_value = "1000", value_parser = parse_vehicles)]
    pub vehicles: u32,
    /// Vehicle id prefix, as for `run`.
    #[arg(long, default_value = "veh-", value_parser = parse_id_prefix)]
    pub id_prefix: String,
    /// The credentials file (JSON lines, mode 600); vehicles already in it are skipped.
    #[arg(long)]
    pub out: PathBuf,
    /// Requests in flight at once.
    #[arg(long, default_value = "4", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

impl ProvisionArgs {
    pub fn into_config(self) -> crate::provision::ProvisionConfig {
        crate::provision::ProvisionConfig {
            api_url: self.api_url,
            username: self.api_user,
            password: self.api_password,
            vehicles: self.vehicles,
            id_prefix: self.id_prefix,
            out: self.out,
            concurrency: usize::from(self.concurrency),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// Manifest written by `fleet-sim run --manifest` (not with --trips).
    #[arg(long, required_unless_present = "trips", conflicts_with = "trips")]
    pub manifest: Option<PathBuf>,
    /// PostgreSQL holding gps_readings and obd_readings (with --trips: trips and stops).
    #[arg(long, env = "FLEETD_DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Example differences to list per category.
    #[arg(long, default_value = "10")]
    pub examples: usize,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Compare the trips and stops fleetd derived with the run's ground truth (--truth).
    #[arg(long, requires = "truth")]
    pub trips: bool,
    #[command(flatten)]
    pub trip_rules: TripRulesArgs,
}

impl VerifyArgs {
    /// What clap cannot say: `--truth` and the rules only go with `--trips` (a flag's default
    /// `false` satisfies clap's `requires`).
    pub fn check(&self) -> Result<(), String> {
        if !self.trips && self.trip_rules.truth.is_some() {
            return Err(
                "--truth is for --trips (verify the trips and stops fleetd derived)".into(),
            );
        }
        Ok(())
    }
}

/// `verify --trips`: the truth file, fleetd's `[trips]` rules and the leeway.
#[derive(Debug, Clone, Args)]
pub struct TripRulesArgs {
    /// Ground truth written by `fleet-sim run --truth` (with --trips).
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// fleetd's trips.min_speed_kmh.
    #[arg(long, default_value = "5", value_parser = parse_positive)]
    pub min_speed_kmh: f64,
    /// fleetd's trips.min_stop_s.
    #[arg(long, default_value = "300", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub min_stop_s: u64,
    /// fleetd's trips.min_trip_m.
    #[arg(long, default_value = "500", value_parser = parse_positive)]
    pub min_trip_m: f64,
    /// fleetd's trips.min_trip_s.
    #[arg(long, default_value = "300", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub min_trip_s: u64,
    /// fleetd's trips.jitter_m (also the largest stop position error).
    #[arg(long, default_value = "30", value_parser = parse_positive)]
    pub jitter_m: f64,
    /// Dwells and movements this close to min_stop_s/min_trip_s may go either way (default:
    /// two GPS intervals).
    #[arg(long, value_parser = parse_linger)]
    pub margin: Option<Duration>,
    /// Largest start or end error of a trip or stop (default: one GPS interval).
    #[arg(long, value_parser = parse_linger)]
    pub tolerance: Option<Duration>,
    /// Largest trip distance error, percent of the distance driven.
    #[arg(long, default_value = "1", value_parser = parse_percent)]
    pub distance_pct: f64,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub sim: SimArgs,
    /// Readings to generate.
    #[arg(long, default_value = "2000000", value_parser = parse_readings)]
    pub readings: u64,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `fleet-sim --vehicles 10` means `fleet-sim run --vehicles 10`; no arguments at all runs
/// with the defaults.
pub fn with_default_command(mut args: Vec<OsString>) -> Vec<OsString> {
    let first = args.get(1).map(|a| a.to_string_lossy().into_owned());
    let insert = match first.as_deref() {
        None => true,
        Some("-h" | "--help" | "-V" | "--version") => false,
        Some(a) => a.starts_with('-'),
    };
    if insert {
        args.insert(1.min(args.len()), "run".into());
    }
    args
}

/// A period in milliseconds for a rate in Hz, `None` for 0.
pub fn period_ms(hz: f64) -> Option<u32> {
    (hz > 0.0).then(|| (1000.0 / hz).round().max(1.0) as u32)
}

impl SimArgs {
    pub fn into_config(self) -> Result<SimConfig, String> {
        let faults = Faults {
            malformed: self.fault_malformed,
            out_of_range: self.fault_out_of_range,
            duplicate: self.fault_duplicate,
            out_of_order: self.fault_out_of_order,
            future_skew: self.fault_future_skew,
            offline: self.fault_offline,
        };
        if faults.per_reading_sum() > 100.0 {
            return Err(format!(
                "--fault-malformed, --fault-out-of-range, --fault-duplicate, --fault-out-of-order and --fault-future-skew add up to {}%, more than 100%",
                faults.per_reading_sum()
            ));
        }
        let (gps, obd) = (period_ms(self.gps_hz), period_ms(self.obd_hz));
        if gps.is_none() && obd.is_none() {
            return Err("--gps-hz and --obd-hz are both 0: nothing to publish".into());
        }
        Ok(SimConfig {
            vehicles: self.vehicles,
            region: self.region,
            seed: self.seed,
            gps_period_ms: gps,
            obd_period_ms: obd,
            format: self.format,
            batch: self.batch,
            batch_linger_ms: self.batch_linger.as_millis() as i64,
            faults,
            prefix: self.prefix,
            id_prefix: self.id_prefix,
        })
    }
}

impl RunArgs {
    pub fn into_config(self) -> Result<RunConfig, String> {
        let sim = self.sim.into_config()?;
        let rate = match (self.rate, self.max_rate) {
            (Some(r), _) => RateMode::Fixed(r),
            (None, true) => RateMode::Max,
            (None, false) => RateMode::RealTime,
        };
        let duration = match (self.duration, self.readings) {
            (None, None) => Some(Duration::from_secs(60)),
            (d, _) => d,
        };
        // The certificate files are read now, so that a missing one is a usage error.
        self.mqtt_tls.transport(&self.mqtt_url)?;
        Ok(RunConfig {
            sim,
            mqtt: self.mqtt_url,
            mqtt_tls: self.mqtt_tls,
            qos: self.qos,
            connections: self.connections,
            inflight: self.inflight,
            rate,
            duration,
            readings: self.readings,
            backlog: self.backlog,
            manifest: self.manifest,
            truth: self.truth,
            json: self.json,
            quiet: self.quiet,
            credentials: self.credentials,
        })
    }
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
