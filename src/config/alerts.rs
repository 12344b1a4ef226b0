//! The `[alerts]` section: the timer of the time-based alert rules (`src/alerts/timer.rs`).

use serde::{Deserialize, Serialize};

use super::validate::range;
use super::ConfigError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Seconds between evaluations of the time-based alert rules (`offline`,
    /// `licence_expiring`); daemons sharing a database share the work, each rule evaluated
    /// once per interval. Short notices silence sooner but queries the drivers and readings
    /// more often; an alert opens or clears up to this long late.
    pub interval_s: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig { interval_s: 60 }
    }
}

impl super::Config {
    /// `[alerts]`.
    pub(super) fn validate_alerts(&self) -> Result<(), ConfigError> {
        range("alerts.interval_s", self.alerts.interval_s, 5, 3_600)
    }
}
