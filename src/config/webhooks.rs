//! The `[webhooks]` section: how fleetd delivers events to subscribed URLs
//! (docs/webhooks.md).

use serde::{Deserialize, Serialize};

use super::validate::{invalid, range};
use super::ConfigError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Hours a delivery is retried from when it was queued; then it is dead-lettered.
    pub max_retry_hours: u32,
    /// Deliver to (and accept) URLs whose host is or resolves to a loopback, link-local,
    /// private or otherwise non-public address. Off: such URLs are refused (SSRF guard).
    pub allow_private: bool,
    /// Longest one delivery may take, connecting included; then it counts as failed.
    pub timeout_ms: u64,
    /// The first retry's delay; each further one doubles, up to `retry_max_ms`, with jitter.
    pub retry_min_ms: u64,
    pub retry_max_ms: u64,
    /// Aggregates delivered at once per subscription by one daemon: how far a slow receiver
    /// is pushed, and how much of the daemon it may hold.
    pub concurrency: u32,
    /// CA certificates (PEM) trusted for `https://` receivers; empty: the system's.
    pub tls_ca_file: String,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            max_retry_hours: 24,
            allow_private: false,
            timeout_ms: 10_000,
            retry_min_ms: 5_000,
            retry_max_ms: 1_800_000,
            concurrency: 8,
            tls_ca_file: String::new(),
        }
    }
}

impl super::Config {
    /// `[webhooks]`.
    pub(super) fn validate_webhooks(&self) -> Result<(), ConfigError> {
        let w = &self.webhooks;
        range(
            "webhooks.max_retry_hours",
            u64::from(w.max_retry_hours),
            1,
            720,
        )?;
        range("webhooks.timeout_ms", w.timeout_ms, 100, 120_000)?;
        range("webhooks.retry_min_ms", w.retry_min_ms, 10, 3_600_000)?;
        range(
            "webhooks.retry_max_ms",
            w.retry_max_ms,
            w.retry_min_ms,
            86_400_000,
        )?;
        range("webhooks.concurrency", u64::from(w.concurrency), 1, 256)?;
        if w.tls_ca_file.chars().any(char::is_control) || w.tls_ca_file.len() > 4096 {
            return Err(invalid(
                "webhooks.tls_ca_file",
                "must be a file path (at most 4096 bytes, no control characters)",
            ));
        }
        Ok(())
    }
}
