//! `database.replica_*`: the optional read replica (docs/replica.md). Its URL is checked as
//! `database.url` is, so a typo fails start-up instead of silently sending every read to the
//! primary.

use super::validate::{invalid, range};
use super::ConfigError;

/// Longer than any real connection string; a hostile value is refused before it is parsed.
const MAX_URL_BYTES: usize = 4096;

impl super::Config {
    /// `database.replica_url`, `replica_pool_size` and `replica_max_lag_ms`.
    pub(super) fn validate_replica(&self) -> Result<(), ConfigError> {
        let db = &self.database;
        range(
            "database.replica_pool_size",
            db.replica_pool_size as u64,
            1,
            1024,
        )?;
        // Below the monitor's one-second period the limit could not be told apart from it;
        // above a day a "replica" is an archive.
        range(
            "database.replica_max_lag_ms",
            db.replica_max_lag_ms,
            1_000,
            86_400_000,
        )?;
        let url = db.replica_url.expose();
        if url.is_empty() {
            return Ok(());
        }
        let key = "database.replica_url";
        if url.len() > MAX_URL_BYTES || url.chars().any(char::is_control) {
            return Err(invalid(
                key,
                format!("must be a postgres:// URL of at most {MAX_URL_BYTES} bytes without control characters, or empty for none"),
            ));
        }
        // The parser's messages name the fault, never the text (which may hold a password).
        let parsed = url::Url::parse(url).map_err(|e| invalid(key, e.to_string()))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(invalid(
                key,
                "must start with postgres:// (or be empty for no replica)",
            ));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(invalid(key, "has no host"));
        }
        crate::tls::pg_url::split(url).map_err(|reason| invalid(key, reason))?;
        if url == db.url.expose() {
            return Err(invalid(
                key,
                "is database.url itself: name the standby, or leave it empty",
            ));
        }
        Ok(())
    }
}
