//! Configuration: a documented serde tree read from TOML, every key overridable by an
//! environment variable `FLEETD_{SECTION}_{KEY}` (e.g. `ingest.batch_rows` →
//! `FLEETD_INGEST_BATCH_ROWS`). `config/default.toml` lists every key with its default.
//!
//! Loading never half-succeeds: a bad value fails with a [`ConfigError`] that names the key
//! and the environment variable, and secrets never appear in errors or logs.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Prefix of every environment override.
pub const ENV_PREFIX: &str = "FLEETD_";
/// Environment variables under the prefix that are not config keys: the test suite's and
/// benchmarks' settings, and the run script's own knobs.
const ENV_IGNORED_PREFIXES: [&str; 2] = ["FLEETD_TEST_", "FLEETD_BENCH_"];
const ENV_IGNORED_NAMES: [&str; 3] = ["FLEETD_KEEP_RUNNING", "FLEETD_MQTT_PORT", "FLEETD_DB_NAME"];

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The TOML is malformed, has an unknown key, or a value of the wrong type.
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    /// An environment override could not be parsed as the key's type.
    #[error("{env} (key {key}): {reason}")]
    Env {
        env: String,
        key: String,
        reason: String,
    },
    /// A value is well-typed but not allowed.
    #[error("{key} (env {env}): {reason}")]
    Invalid {
        key: String,
        env: String,
        reason: String,
    },
}

/// A string that never prints itself.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub database: DatabaseConfig,
    pub mqtt: MqttConfig,
    pub broker: BrokerConfig,
    pub ingest: IngestConfig,
    pub jetstream: JetStreamConfig,
    pub partitions: PartitionConfig,
    pub http: HttpConfig,
    pub redis: RedisConfig,
    pub dispatch: DispatchConfig,
    pub jwt: JwtConfig,
    pub admin: AdminConfig,
    pub rentals: RentalsConfig,
    pub rules: RulesConfig,
    pub alerts: AlertsConfig,
    pub console: ConsoleConfig,
    pub trips: TripsConfig,
    pub retention: RetentionConfig,
    pub reports: ReportsConfig,
    pub invoices: InvoicesConfig,
    pub events: EventsConfig,
    pub webhooks: WebhooksConfig,
    pub shutdown: ShutdownConfig,
}

/// PostgreSQL.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://user[:password]@host:port/db`. The password is redacted in logs.
    pub url: Secret,
    /// Connections in the pool of the API, dispatch and start-up (not ingestion's).
    pub pool_size: u32,
    /// Connections in ingestion's own pool: the COPY writers and the partition manager.
    /// 0: `ingest.writers + 1`, the most it can use; otherwise at least that.
    pub ingest_pool_size: u32,
    /// How long to wait for a connection before counting the attempt as failed.
    pub connect_timeout_ms: u64,
    /// A streaming replica of `url` that the read-heavy routes read instead (docs/replica.md),
    /// with the same TLS settings syntax; the password is redacted in logs. Empty: none.
    /// Takes read load off the primary at the price of answers up to `replica_max_lag_ms`
    /// old.
    pub replica_url: Secret,
    /// Connections to the replica. Only those routes use them, so fewer than `pool_size`.
    pub replica_pool_size: u32,
    /// How far behind the primary the replica may be and still be read; further behind (or
    /// unreachable) the routes read the primary. Lower: fresher answers, more reads on the
    /// primary when the replica falls behind under load.
    pub replica_max_lag_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: Secret::new("postgres://postgres@127.0.0.1:5432/fleetd"),
            pool_size: 8,
            ingest_pool_size: 0,
            connect_timeout_ms: 5_000,
            replica_url: Secret::default(),
            replica_pool_size: 4,
            replica_max_lag_ms: 10_000,
        }
    }
}

/// The HTTP API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `host:port` to listen on; port 0 picks a free port.
    pub addr: String,
    /// Largest request body; larger ones get 413.
    pub max_body_bytes: usize,
    /// Sustained `/v1` requests per minute per client (user, or IP without a token);
    /// over it: 429. Lower protects the database from one noisy client but throttles busy
    /// integrations. 0 disables limiting.
    pub rate_limit_per_minute: u32,
    /// Requests a client may make in a burst above the sustained rate. Higher absorbs
    /// page loads and retries; lower caps spikes.
    pub rate_limit_burst: u32,
    /// Sustained login attempts per minute per username (`POST /v1/auth/token`, counted
    /// whatever the outcome, on top of the per-IP budget); over it: 429. Slows password
    /// guessing against one account from many addresses. 0 disables it.
    pub login_per_minute: u32,
    /// Login attempts per username allowed in a burst above the sustained rate.
    pub login_burst: u32,
    /// Password hashes (argon2, ~20-50 ms of one core each) computed at once; further
    /// logins wait without holding a database connection.
    pub login_concurrency: u32,
    /// Event streams (`GET /v1/stream`) one user may hold open on this daemon; one more is
    /// 429. Each stream costs a connection and a broadcast subscription.
    pub max_streams_per_user: u32,
    /// Open connections at most; one more is closed at once. Keep it below the process's
    /// file-descriptor limit (`ulimit -n`), less what PostgreSQL and MQTT use.
    pub max_connections: u32,
    /// Open connections from one IP address at most; one more is closed at once.
    pub max_connections_per_ip: u32,
    /// Time a client has to send a request's head: from connecting, and on a kept-alive
    /// connection from the end of the previous answer (so it is also the idle timeout).
    pub header_read_timeout_ms: u64,
    /// Longest a `/v1` request may take (the event stream excepted); over it: 503 and the
    /// request's transaction rolled back.
    pub request_timeout_ms: u64,
    /// `host:port` where `/readyz` and `/metrics` are served instead of on `addr` (with
    /// `/healthz`), to keep them off a public listener. Empty: all on `addr`.
    pub internal_addr: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            addr: "127.0.0.1:8080".into(),
            max_body_bytes: 1 << 20,
            rate_limit_per_minute: 600,
            rate_limit_burst: 60,
            login_per_minute: 10,
            login_burst: 5,
            login_concurrency: 2,
            max_streams_per_user: 8,
            max_connections: 4_096,
            max_connections_per_ip: 256,
            header_read_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            internal_addr: String::new(),
        }
    }
}

/// Redis write-through of live positions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://host:port` (`rediss://` for TLS); empty disables Redis.
    pub url: String,
    /// With `rediss://`: CA certificates (PEM) to check the server against; empty for the
    /// system's.
    pub tls_ca_file: String,
    /// With `rediss://`: a client certificate (PEM), for servers that ask for one.
    pub tls_cert_file: String,
    /// Its private key (PEM).
    pub tls_key_file: String,
    /// Lifetime of each `vehicle:{id}:status` hash: a vehicle that stops reporting drops out
    /// of Redis after this long.
    pub ttl_s: u64,
    /// Position updates queued for Redis at most; beyond it updates are dropped (and
    /// counted) so that a slow or absent Redis never holds up ingestion.
    pub queue: usize,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: "redis://127.0.0.1:6379".into(),
            tls_ca_file: String::new(),
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            ttl_s: 300,
            queue: 100_000,
        }
    }
}

/// Nearest-driver queries and background job matching.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// A vehicle whose latest position is older than this is not offered (docs/dispatch.md).
    pub staleness_s: u64,
    /// How long a driver has to accept an offer before it moves to the next candidate.
    pub offer_timeout_s: u64,
    /// Default search radius of a job that names none.
    pub search_radius_m: f64,
    /// Candidates fetched from the live index per matching round; more survive claim races
    /// between daemons, fewer keep a round short.
    pub candidates: usize,
    /// Rounds without a candidate before a job becomes `unassigned`.
    pub max_attempts: u32,
    /// Wait after the first round without a candidate; doubles each round.
    pub retry_base_ms: u64,
    /// The longest wait between rounds.
    pub retry_max_ms: u64,
    /// The largest search radius a nearest query or a job may ask for; larger is refused
    /// (422 naming `radius_m`). Large radii in a dense fleet examine many candidates (see
    /// `max_candidates_examined`); small ones refuse legitimate long-distance dispatch. A
    /// job stored before this was lowered is searched within the new maximum.
    pub max_radius_m: f64,
    /// Candidates one nearest query or matching round examines at most, each with the live
    /// index's read lock held and position writers waiting: fresh vehicles within the radius
    /// with an available driver (only those are searched), whether or not the query's own
    /// filters (type, seats, load, declined drivers) accept them; stale ones are passed over
    /// without counting, up to as many again. A query that reaches it stops and answers with
    /// the nearest eligible vehicles among those examined, flagged `truncated` (and logged),
    /// which can miss eligible vehicles further out. Higher finds rare vehicles (an unusual
    /// type, a near-empty radius) in larger fleets; lower bounds the writers' wait: about
    /// 150 ns per candidate, so some 3 ms at worst at the default, twice that with as many
    /// stale ones (an unbounded query over a million vehicles took 370 ms).
    pub max_candidates_examined: usize,
    /// A vehicle whose latest position is older than this is dropped from the live index
    /// (checked every `live_horizon_s / 4`, at most every 10 minutes), so vehicles that stop
    /// reporting (sold, retired) do not stay in memory for ever. Such a vehicle was not
    /// offered by dispatch anyway (`staleness_s`), but `GET /v1/vehicles/{id}/position` then
    /// answers 404 for it until it reports again. Must be at least `staleness_s`.
    pub live_horizon_s: u64,
    /// Unfinished jobs (pending, offered, assigned, picked up) one customer may have; one
    /// more is 409 `open_jobs_limit`. Staff are not limited. Customers also search at most
    /// `search_radius_m` (staff up to `max_radius_m`), so one customer cannot tie up the
    /// fleet with offers.
    pub max_open_jobs_per_customer: u32,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            staleness_s: 60,
            offer_timeout_s: 30,
            search_radius_m: 10_000.0,
            candidates: 20,
            max_attempts: 6,
            retry_base_ms: 2_000,
            retry_max_ms: 60_000,
            max_radius_m: 1_000_000.0,
            max_candidates_examined: 20_000,
            live_horizon_s: 86_400,
            max_open_jobs_per_customer: 5,
        }
    }
}

/// API tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtConfig {
    /// HS256 signing secret (at least 32 bytes when the API is used). Empty: API disabled.
    pub secret: Secret,
    /// Token lifetime.
    pub ttl_s: u64,
    /// The longest lifetime (`exp - iat`) a token may claim; longer ones are refused even
    /// when correctly signed.
    pub max_ttl_s: u64,
    /// Lifetime of a refresh token (`POST /v1/auth/refresh`, used once each). 0: logins
    /// issue none, and access tokens can only be renewed by logging in again.
    pub refresh_ttl_s: u64,
}

/// The first administrator.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Bootstraps user `admin` when no admin exists. Empty: no bootstrap.
    pub password: Secret,
}

/// Graceful stop.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// Deadline for committing and acknowledging in-flight messages after SIGTERM.
    /// A supervisor's stop timeout is typically 30 s in all; keep a margin for HTTP draining.
    pub timeout_s: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig { timeout_s: 25 }
    }
}

impl Config {
    /// Loads `path` (or the built-in defaults when `None`), then applies `FLEETD_*`
    /// overrides from `env`, then validates. Returns the config and warnings (unknown
    /// `FLEETD_*` variables) for the caller to log.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let (file_name, text) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                (p.display().to_string(), text)
            }
            None => ("(defaults)".to_string(), String::new()),
        };
        // The syntax error's message and line only: its full rendering quotes the source
        // line, which may hold a secret.
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            ConfigError::Parse {
                path: file_name.clone(),
                message: match line {
                    Some(l) => format!("line {l}: {}", e.message()),
                    None => e.message().to_string(),
                },
            }
        })?;
        let applied = apply_env(&mut table, env)?;
        let config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    let message = e.to_string().trim().replace("\n", " ");
                    applied.blame(&message).unwrap_or(ConfigError::Parse {
                        path: file_name,
                        message,
                    })
                })?;
        config.validate()?;
        Ok((config, applied.warnings))
    }

    /// The effective configuration as TOML with secrets replaced by `***`.
    pub fn redacted_toml(&self) -> String {
        let mut c = self.clone();
        let redact = |s: &mut Secret| {
            if !s.is_empty() {
                *s = Secret::new("***")
            }
        };
        c.database.url = redact_password(&c.database.url);
        c.database.replica_url = redact_password(&c.database.replica_url);
        redact(&mut c.jwt.secret);
        redact(&mut c.admin.password);
        redact(&mut c.mqtt.password);
        redact(&mut c.broker.admin_password);
        toml::to_string(&c).unwrap_or_default()
    }
}

/// A connection URL with its password (if any) replaced by `***`.
fn redact_password(url: &Secret) -> Secret {
    match url::Url::parse(url.expose()) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            Secret::new(u.to_string())
        }
        _ => url.clone(),
    }
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            secret: Secret::default(),
            ttl_s: 3_600,
            max_ttl_s: 86_400,
            refresh_ttl_s: 2_592_000,
        }
    }
}

mod alerts;
mod broker;
mod console;
mod env;
mod events;
mod invoices;
mod jetstream;
mod pipeline;
mod replica;
mod reports;
mod rules;
mod trips;
mod validate;
mod webhooks;

pub use alerts::AlertsConfig;
pub use broker::{BrokerConfig, TRACKER_PREFIX};
pub use console::ConsoleConfig;
pub use events::EventsConfig;
pub use invoices::InvoicesConfig;
pub use jetstream::{Capture, IngestSource, JetStreamConfig};
pub use pipeline::{IngestConfig, MqttConfig, PartitionConfig, SubscriptionMode, UnknownVehicles};
pub use reports::ReportsConfig;
pub use rules::{RentalsConfig, RulesConfig};
pub use trips::{RetentionConfig, TripsConfig};

use env::apply_env;
pub use env::env_name;
pub use validate::MqttEndpoint;
pub use webhooks::WebhooksConfig;

#[cfg(test)]
mod tests;
