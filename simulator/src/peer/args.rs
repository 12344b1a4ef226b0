//! `fleet-sim peer` flags and their value parsers. Every flag also reads the `FLEETD_BENCH_…`
//! environment variable the load tools read when they were bench targets, so an invocation
//! of those days still works; the scripts in scripts/bench/ pass flags.

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use crate::config::MqttTarget;
use crate::parse::{
    parse_duration, parse_id_prefix, parse_linger, parse_mqtt_url, parse_prefix, parse_qos,
    parse_readings,
};
pub use crate::peer::trips::args::TripsArgs;

#[derive(Debug, Clone, Args)]
pub struct PeerArgs {
    #[command(subcommand)]
    pub command: PeerCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum PeerCommand {
    /// Subscribe to `{prefix}/#` and count readings: the broker's own pass-through rate.
    Count(SubscribeArgs),
    /// The naive baseline: decode each message, INSERT its GPS readings one row at a time.
    Naive(NaiveArgs),
    /// Nearest-vehicle queries against fleetd, PostGIS KNN and Redis GEOSEARCH.
    Nearest(NearestArgs),
    /// The trips report comparison: stored trips vs replaying every stored reading.
    Trips(TripsArgs),
}

/// What `count` and `naive` subscribe to and when they stop.
#[derive(Debug, Clone, Args)]
pub struct SubscribeArgs {
    /// Broker: mqtt://host:port (tcp:// also accepted; port defaults to 1883), or
    /// mqtts://host:port for TLS (port defaults to 8883).
    #[arg(long, env = "FLEETD_BENCH_MQTT_URL", default_value = "mqtt://127.0.0.1:1884", value_parser = parse_mqtt_url)]
    pub mqtt_url: MqttTarget,
    #[command(flatten)]
    pub mqtt_tls: crate::tls::MqttTlsArgs,
    /// Stop once this many readings arrived (or after 30 s without a message).
    #[arg(long, env = "FLEETD_BENCH_READINGS", default_value = "100000", value_parser = parse_readings)]
    pub readings: u64,
    /// Topic prefix to subscribe under.
    #[arg(long, env = "FLEETD_BENCH_PREFIX", default_value = "fleet", value_parser = parse_prefix)]
    pub prefix: String,
    /// Subscription QoS, 0 or 1.
    #[arg(long, env = "FLEETD_BENCH_QOS", default_value = "1", value_parser = parse_qos)]
    pub qos: u8,
}

#[derive(Debug, Clone, Args)]
pub struct NaiveArgs {
    #[command(flatten)]
    pub subscribe: SubscribeArgs,
    /// PostgreSQL with fleetd's schema (run `fleetd migrate` first).
    #[arg(long, env = "FLEETD_BENCH_DATABASE_URL", hide_env_values = true, value_parser = parse_database_url)]
    pub database_url: String,
}

#[derive(Debug, Clone, Args)]
pub struct NearestArgs {
    #[command(subcommand)]
    pub step: NearestStep,
}

#[derive(Debug, Clone, Subcommand)]
pub enum NearestStep {
    /// Place the registered vehicles at seeded points and store them three ways.
    ///
    /// As fleetd's latest GPS readings, as a GiST-indexed PostGIS table and as a Redis GEO key.
    Setup(SetupArgs),
    /// Ask all three the same queries one at a time and count identical answers.
    Agree(AgreeArgs),
    /// Closed-loop load on one system; one JSON line of queries/s and latency percentiles.
    Load(LoadArgs),
}

/// Where the vehicles are and where queries are asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SpreadName {
    /// About 50 × 50 km around central London.
    City,
    /// About 1,000 × 1,000 km around central Europe.
    Country,
}

/// The system under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetName {
    /// `GET /v1/dispatch/nearest` over HTTP/1.1 keep-alive.
    Fleetd,
    /// A prepared KNN query on a GiST-indexed geography column.
    Postgis,
    /// `GEOSEARCH … BYRADIUS … ASC COUNT k WITHDIST`.
    Redis,
}

impl TargetName {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetName::Fleetd => "fleetd",
            TargetName::Postgis => "postgis",
            TargetName::Redis => "redis",
        }
    }
}

/// Flags every `nearest` step takes.
#[derive(Debug, Clone, Args)]
pub struct NearestCommon {
    /// Where the vehicles are and where queries are asked.
    #[arg(long, env = "FLEETD_BENCH_SPREAD", value_enum, default_value = "city")]
    pub spread: SpreadName,
    /// Seed of the points and of the query mix.
    #[arg(long, env = "FLEETD_BENCH_SEED", default_value = "42")]
    pub seed: u64,
    /// Tokio worker threads of the tool, 1 to 256.
    #[arg(long, env = "FLEETD_BENCH_THREADS", default_value = "1", value_parser = parse_threads)]
    pub threads: usize,
    /// PostgreSQL with fleetd's schema and PostGIS.
    #[arg(long, env = "FLEETD_BENCH_DATABASE_URL", hide_env_values = true,
          default_value = "postgres://postgres@127.0.0.1:5432/fleetd_nearest", value_parser = parse_database_url)]
    pub database_url: String,
    /// Redis holding the GEO key.
    #[arg(long, env = "FLEETD_BENCH_REDIS_URL", hide_env_values = true,
          default_value = "redis://127.0.0.1:6379", value_parser = parse_redis_url)]
    pub redis_url: String,
}

/// What is asked, and how to reach fleetd.
#[derive(Debug, Clone, Args)]
pub struct QueryArgs {
    /// Vehicles per answer, 1 to fleetd's maximum (1000).
    #[arg(long, env = "FLEETD_BENCH_K", default_value = "10", value_parser = parse_k)]
    pub k: i64,
    /// Search radius in metres, above 0 and at most 20,000 km.
    #[arg(long, env = "FLEETD_BENCH_RADIUS_M", default_value = "5000", value_parser = parse_radius_m)]
    pub radius_m: f64,
    #[command(flatten)]
    pub fleetd: FleetdArgs,
}

/// How to reach fleetd's HTTP API.
#[derive(Debug, Clone, Args)]
pub struct FleetdArgs {
    /// fleetd's HTTP address, host:port.
    #[arg(long, env = "FLEETD_BENCH_HTTP_ADDR", default_value = "127.0.0.1:18081", value_parser = parse_http_addr)]
    pub http_addr: String,
    /// Bearer token for fleetd (from POST /v1/auth/token).
    #[arg(
        long,
        env = "FLEETD_BENCH_TOKEN",
        hide_env_values = true,
        default_value = ""
    )]
    pub token: String,
}

#[derive(Debug, Clone, Args)]
pub struct SetupArgs {
    #[command(flatten)]
    pub common: NearestCommon,
    /// Vehicle id prefix of the registered vehicles to place.
    #[arg(long, env = "FLEETD_BENCH_PREFIX", default_value = "nb-", value_parser = parse_id_prefix)]
    pub prefix: String,
}

#[derive(Debug, Clone, Args)]
pub struct AgreeArgs {
    #[command(flatten)]
    pub common: NearestCommon,
    #[command(flatten)]
    pub query: QueryArgs,
    /// Queries asked of each system, 1 to 1,000,000.
    #[arg(long, env = "FLEETD_BENCH_QUERIES", default_value = "500", value_parser = parse_queries)]
    pub queries: usize,
}

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub common: NearestCommon,
    #[command(flatten)]
    pub query: QueryArgs,
    /// The system to load.
    #[arg(
        long,
        env = "FLEETD_BENCH_TARGET",
        value_enum,
        default_value = "fleetd"
    )]
    pub target: TargetName,
    /// Connections, each asking its next query when the previous is answered; 1 to 10,000.
    #[arg(long, env = "FLEETD_BENCH_CONCURRENCY", default_value = "16", value_parser = parse_concurrency)]
    pub concurrency: u64,
    /// Measurement time: 10, 10s, 500ms, 1m (after the warm-up).
    #[arg(long, env = "FLEETD_BENCH_SECONDS", default_value = "10", value_parser = parse_duration)]
    pub seconds: Duration,
    /// Warm-up before measuring (0 for none); its answers are not counted.
    #[arg(long, env = "FLEETD_BENCH_WARMUP_S", default_value = "2", value_parser = parse_linger)]
    pub warmup: Duration,
}

impl NearestArgs {
    pub fn common(&self) -> &NearestCommon {
        match &self.step {
            NearestStep::Setup(a) => &a.common,
            NearestStep::Agree(a) => &a.common,
            NearestStep::Load(a) => &a.common,
        }
    }
}

fn whole(s: &str) -> Result<u64, String> {
    s.trim()
        .replace('_', "")
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number"))
}

pub(crate) fn within(s: &str, min: u64, max: u64) -> Result<u64, String> {
    match whole(s)? {
        n if (min..=max).contains(&n) => Ok(n),
        n => Err(format!("{n}: must be {min} to {max}")),
    }
}

pub fn parse_threads(s: &str) -> Result<usize, String> {
    within(s, 1, 256).map(|n| n as usize)
}

pub fn parse_k(s: &str) -> Result<i64, String> {
    within(s, 1, fleetd::live::query::MAX_K as u64).map(|n| n as i64)
}

pub fn parse_queries(s: &str) -> Result<usize, String> {
    within(s, 1, 1_000_000).map(|n| n as usize)
}

pub fn parse_concurrency(s: &str) -> Result<u64, String> {
    within(s, 1, 10_000)
}

pub fn parse_radius_m(s: &str) -> Result<f64, String> {
    let x: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of metres"))?;
    if !(x > 0.0 && x <= 20_000_000.0) {
        return Err(format!(
            "{s}: a radius must be above 0 and at most 20,000 km"
        ));
    }
    Ok(x)
}

/// `host:port`, the port 1-65535 (what the load tool connects to and sends as `host`).
pub fn parse_http_addr(s: &str) -> Result<String, String> {
    let bad = || format!("{s:?}: expected host:port, e.g. 127.0.0.1:18081");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port_ok = port.parse::<u16>().is_ok_and(|p| p > 0);
    if host.is_empty() || host.contains(['/', ' ', '@']) || !port_ok {
        return Err(bad());
    }
    Ok(s.to_string())
}

/// A PostgreSQL URL as fleetd reads `database.url`: libpq's `sslmode`, `sslrootcert`,
/// `sslcert` and `sslkey` included.
pub fn parse_database_url(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("empty: expected postgres://user@host:port/database".into());
    }
    fleetd::tls::pg_url::split(s)
        .map_err(|e| format!("not a PostgreSQL connection string: {e}"))?;
    Ok(s.to_string())
}

pub fn parse_redis_url(s: &str) -> Result<String, String> {
    use redis::IntoConnectionInfo;
    if !(s.starts_with("redis://") || s.starts_with("rediss://") || s.starts_with("unix://")) {
        return Err(format!("{s:?}: expected redis://host:port"));
    }
    s.into_connection_info()
        .map_err(|e| format!("{s:?}: not a Redis URL: {e}"))?;
    Ok(s.to_string())
}

#[cfg(test)]
#[path = "args_tests.rs"]
mod tests;
