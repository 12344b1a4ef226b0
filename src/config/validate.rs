//! Validation of well-typed values: ranges, URLs, addresses. Each error names the key and
//! its environment variable.

use std::net::SocketAddr;

use super::{env_name, Config, ConfigError};
use crate::tls::TlsFiles;

impl Config {
    /// Checks values that are well-typed but unusable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let db = self.database.url.expose();
        let parsed = url::Url::parse(db).map_err(|e| invalid("database.url", e.to_string()))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(invalid("database.url", "must start with postgres://"));
        }
        crate::tls::pg_url::split(db).map_err(|reason| invalid("database.url", reason))?;
        range(
            "database.pool_size",
            self.database.pool_size as u64,
            1,
            1024,
        )?;
        range(
            "database.ingest_pool_size",
            self.database.ingest_pool_size as u64,
            0,
            1024,
        )?;
        range(
            "database.connect_timeout_ms",
            self.database.connect_timeout_ms,
            1,
            600_000,
        )?;
        self.validate_replica()?;

        let broker = self.mqtt_endpoint()?;
        tls_files("mqtt", broker.tls, self.mqtt_tls_files())?;
        let id_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 20
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !id_ok(&self.mqtt.client_id) {
            return Err(invalid(
                "mqtt.client_id",
                "1-20 characters of [A-Za-z0-9_-]",
            ));
        }
        if !id_ok(&self.mqtt.share_group) {
            return Err(invalid(
                "mqtt.share_group",
                "1-20 characters of [A-Za-z0-9_-]",
            ));
        }
        topic_prefix("mqtt.topic_prefix", &self.mqtt.topic_prefix)?;
        topic_prefix("mqtt.events_prefix", &self.mqtt.events_prefix)?;
        let (readings, events) = (&self.mqtt.topic_prefix, &self.mqtt.events_prefix);
        let under =
            |topic: &str, prefix: &str| topic == prefix || topic.starts_with(&format!("{prefix}/"));
        if under(events, readings)
            || under(events, &format!("{readings}-canary"))
            || under(readings, events)
        {
            return Err(invalid(
                "mqtt.events_prefix",
                format!(
                    "must lie outside mqtt.topic_prefix ({readings:?}) and its canary topics, \
                     and not contain them: fleetd would read its own events as readings"
                ),
            ));
        }
        self.validate_accounts()?;
        self.validate_rules()?;
        self.validate_alerts()?;
        self.validate_console()?;
        self.validate_jetstream()?;
        self.validate_trips()?;
        self.validate_reports()?;
        self.validate_invoices()?;
        self.validate_events()?;
        self.validate_webhooks()?;
        range("mqtt.connections", self.mqtt.connections as u64, 1, 64)?;
        if self.mqtt.subscription == super::SubscriptionMode::Plain && self.mqtt.connections != 1 {
            return Err(invalid(
                "mqtt.connections",
                "must be 1 with mqtt.subscription = \"plain\" (every plain subscriber gets every \
                 message); use \"shared\" for more connections",
            ));
        }
        range("mqtt.keep_alive_s", self.mqtt.keep_alive_s, 5, 3_600)?;
        range(
            "mqtt.max_packet_bytes",
            self.mqtt.max_packet_bytes as u64,
            (crate::ingest::decode::MAX_PAYLOAD_BYTES + 1024) as u64,
            256 << 20,
        )?;
        range(
            "mqtt.reconnect_min_ms",
            self.mqtt.reconnect_min_ms,
            1,
            60_000,
        )?;
        range(
            "mqtt.reconnect_max_ms",
            self.mqtt.reconnect_max_ms,
            self.mqtt.reconnect_min_ms,
            600_000,
        )?;

        let i = &self.ingest;
        range("ingest.max_future_s", i.max_future_s, 0, 86_400)?;
        range("ingest.retention_days", i.retention_days as u64, 1, 3_650)?;
        range("ingest.decoders", i.decoders as u64, 0, 256)?;
        range("ingest.decode_queue", i.decode_queue as u64, 1, 1 << 20)?;
        range(
            "ingest.max_in_flight_bytes",
            i.max_in_flight_bytes as u64,
            self.mqtt.max_packet_bytes as u64,
            1 << 40,
        )?;
        range("ingest.batch_rows", i.batch_rows as u64, 1, 1_000_000)?;
        range("ingest.batch_bytes", i.batch_bytes as u64, 1_024, 1 << 30)?;
        range("ingest.batch_age_ms", i.batch_age_ms, 1, 60_000)?;
        range("ingest.writers", i.writers as u64, 1, 64)?;
        range("ingest.writer_queue", i.writer_queue as u64, 1, 1_024)?;
        range("ingest.retry_min_ms", i.retry_min_ms, 1, 60_000)?;
        range(
            "ingest.rejects_per_minute",
            i.rejects_per_minute as u64,
            0,
            6_000_000,
        )?;
        range("ingest.rejects_burst", i.rejects_burst as u64, 1, 1_000_000)?;
        range(
            "ingest.retry_max_ms",
            i.retry_max_ms,
            i.retry_min_ms,
            600_000,
        )?;
        let ingest_pool = self.database.ingest_pool_size as usize;
        if ingest_pool != 0 && ingest_pool < i.writers + 1 {
            return Err(invalid(
                "database.ingest_pool_size",
                format!("must be at least ingest.writers + 1 = {}", i.writers + 1),
            ));
        }

        let p = &self.partitions;
        range("partitions.days_behind", p.days_behind as u64, 0, 3_650)?;
        range("partitions.days_ahead", p.days_ahead as u64, 1, 365)?;
        range("partitions.interval_s", p.interval_s, 1, 86_400)?;

        self.http
            .addr
            .parse::<SocketAddr>()
            .map_err(|e| invalid("http.addr", format!("{e}; expected host:port")))?;
        range(
            "http.max_body_bytes",
            self.http.max_body_bytes as u64,
            1_024,
            1 << 30,
        )?;
        range(
            "http.rate_limit_per_minute",
            self.http.rate_limit_per_minute as u64,
            0,
            6_000_000,
        )?;
        range(
            "http.rate_limit_burst",
            self.http.rate_limit_burst as u64,
            1,
            1_000_000,
        )?;
        range(
            "http.login_per_minute",
            self.http.login_per_minute as u64,
            0,
            6_000,
        )?;
        range("http.login_burst", self.http.login_burst as u64, 1, 1_000)?;
        range(
            "http.max_connections",
            self.http.max_connections as u64,
            1,
            1_000_000,
        )?;
        range(
            "http.max_connections_per_ip",
            self.http.max_connections_per_ip as u64,
            1,
            self.http.max_connections as u64,
        )?;
        range(
            "http.header_read_timeout_ms",
            self.http.header_read_timeout_ms,
            100,
            600_000,
        )?;
        range(
            "http.request_timeout_ms",
            self.http.request_timeout_ms,
            100,
            600_000,
        )?;
        if !self.http.internal_addr.is_empty() {
            let internal =
                self.http.internal_addr.parse::<SocketAddr>().map_err(|e| {
                    invalid("http.internal_addr", format!("{e}; expected host:port"))
                })?;
            if internal.port() != 0 && internal.to_string() == self.http.addr {
                return Err(invalid("http.internal_addr", "must differ from http.addr"));
            }
        }
        range(
            "http.max_streams_per_user",
            self.http.max_streams_per_user as u64,
            1,
            10_000,
        )?;
        range(
            "http.login_concurrency",
            self.http.login_concurrency as u64,
            1,
            256,
        )?;

        if !self.redis.url.is_empty() {
            let u = url::Url::parse(&self.redis.url)
                .map_err(|e| invalid("redis.url", e.to_string()))?;
            if !matches!(u.scheme(), "redis" | "rediss") || u.host_str().is_none() {
                return Err(invalid(
                    "redis.url",
                    "must be redis://host:port or rediss://host:port, or empty to disable",
                ));
            }
        }
        let rediss = self.redis.url.starts_with("rediss://");
        tls_files("redis", rediss, self.redis_tls_files())?;
        range("redis.ttl_s", self.redis.ttl_s, 1, 86_400)?;
        range("redis.queue", self.redis.queue as u64, 1, 10_000_000)?;
        let d = &self.dispatch;
        range("dispatch.staleness_s", d.staleness_s, 1, 86_400)?;
        range("dispatch.offer_timeout_s", d.offer_timeout_s, 1, 3_600)?;
        let max = d.max_radius_m;
        if !(max.is_finite() && max > 0.0 && max <= crate::live::geo::MAX_RADIUS_M) {
            return Err(invalid(
                "dispatch.max_radius_m",
                format!(
                    "{max} is not a distance above 0 and at most {} m",
                    crate::live::geo::MAX_RADIUS_M
                ),
            ));
        }
        let r = d.search_radius_m;
        if !(r.is_finite() && r > 0.0 && r <= max) {
            return Err(invalid(
                "dispatch.search_radius_m",
                format!(
                    "{r} is not a distance above 0 and at most dispatch.max_radius_m = {max} m"
                ),
            ));
        }
        range(
            "dispatch.max_candidates_examined",
            d.max_candidates_examined as u64,
            crate::live::query::MAX_K as u64,
            100_000_000,
        )?;
        range(
            "dispatch.max_open_jobs_per_customer",
            d.max_open_jobs_per_customer as u64,
            1,
            100_000,
        )?;
        range(
            "dispatch.live_horizon_s",
            d.live_horizon_s,
            d.staleness_s,
            10 * 365 * 86_400,
        )?;
        range(
            "dispatch.candidates",
            d.candidates as u64,
            1,
            crate::live::query::MAX_K as u64,
        )?;
        range("dispatch.max_attempts", d.max_attempts as u64, 1, 100)?;
        range("dispatch.retry_base_ms", d.retry_base_ms, 1, 3_600_000)?;
        range(
            "dispatch.retry_max_ms",
            d.retry_max_ms,
            d.retry_base_ms,
            86_400_000,
        )?;
        if !self.jwt.secret.is_empty() && self.jwt.secret.expose().len() < 32 {
            return Err(invalid("jwt.secret", "must be at least 32 bytes"));
        }
        range("jwt.max_ttl_s", self.jwt.max_ttl_s, 60, 30 * 86_400)?;
        range("jwt.ttl_s", self.jwt.ttl_s, 60, self.jwt.max_ttl_s)?;
        if self.jwt.refresh_ttl_s != 0 {
            range(
                "jwt.refresh_ttl_s",
                self.jwt.refresh_ttl_s,
                self.jwt.ttl_s,
                366 * 86_400,
            )?;
        }
        range("shutdown.timeout_s", self.shutdown.timeout_s, 1, 3_600)?;
        Ok(())
    }

    /// The broker's host and port from `mqtt.url`, and whether to speak TLS to it.
    pub fn mqtt_endpoint(&self) -> Result<MqttEndpoint, ConfigError> {
        let u = url::Url::parse(&self.mqtt.url).map_err(|e| invalid("mqtt.url", e.to_string()))?;
        let (tls, default_port) = match u.scheme() {
            "mqtt" | "tcp" => (false, 1883),
            "mqtts" | "ssl" => (true, 8883),
            _ => {
                return Err(invalid(
                    "mqtt.url",
                    "must be mqtt://host:port or mqtts://host:port",
                ))
            }
        };
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("mqtt.url", "has no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Ok(MqttEndpoint {
            host: host.to_string(),
            port: u.port().unwrap_or(default_port),
            tls,
        })
    }

    /// The broker's TLS files (`mqtt.tls_*`).
    pub fn mqtt_tls_files(&self) -> TlsFiles<'_> {
        TlsFiles {
            ca_file: &self.mqtt.tls_ca_file,
            cert_file: &self.mqtt.tls_cert_file,
            key_file: &self.mqtt.tls_key_file,
        }
    }

    /// Redis's TLS files (`redis.tls_*`).
    pub fn redis_tls_files(&self) -> TlsFiles<'_> {
        TlsFiles {
            ca_file: &self.redis.tls_ca_file,
            cert_file: &self.redis.tls_cert_file,
            key_file: &self.redis.tls_key_file,
        }
    }
}

/// Where the broker is (`mqtt.url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttEndpoint {
    pub host: String,
    pub port: u16,
    /// `mqtts://`.
    pub tls: bool,
}

/// `{section}.tls_ca_file`, `tls_cert_file` and `tls_key_file`: only with a TLS URL, a
/// certificate only with its key, and paths without control characters.
pub(super) fn tls_files(section: &str, tls: bool, files: TlsFiles<'_>) -> Result<(), ConfigError> {
    let keys = [
        ("tls_ca_file", files.ca_file),
        ("tls_cert_file", files.cert_file),
        ("tls_key_file", files.key_file),
    ];
    for (key, value) in keys {
        let key = format!("{section}.{key}");
        if value.chars().any(char::is_control) || value.len() > 4096 {
            return Err(invalid(
                &key,
                "must be a file path (at most 4096 bytes, no control characters)",
            ));
        }
        if !value.is_empty() && !tls {
            return Err(invalid(
                &key,
                format!("is only used with a TLS {section}.url"),
            ));
        }
    }
    if files.cert_file.is_empty() != files.key_file.is_empty() {
        return Err(invalid(
            &format!("{section}.tls_cert_file"),
            format!("set {section}.tls_cert_file and {section}.tls_key_file together"),
        ));
    }
    Ok(())
}

pub(super) fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        env: env_name(key),
        reason: reason.into(),
    }
}

pub(super) fn range(key: &str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if value < min || value > max {
        return Err(invalid(
            key,
            format!("{value} is outside the allowed range {min}..={max}"),
        ));
    }
    Ok(())
}

/// A topic prefix: non-empty, at most 128 bytes, without wildcards, NUL, a `$` start or a
/// leading or trailing `/`.
fn topic_prefix(key: &str, prefix: &str) -> Result<(), ConfigError> {
    if prefix.is_empty()
        || prefix.len() > 128
        || prefix.starts_with('/')
        || prefix.ends_with('/')
        || prefix.contains(['+', '#', '\0'])
        || prefix.starts_with('$')
    {
        return Err(invalid(
            key,
            "a non-empty topic without wildcards, '$' start or leading/trailing '/'",
        ));
    }
    Ok(())
}
