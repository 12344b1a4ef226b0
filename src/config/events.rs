//! The `[events]` section: how long the event outbox keeps events (docs/events.md).

use serde::{Deserialize, Serialize};

use super::validate::range;
use super::ConfigError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Days of events kept; older days are dropped whole (their partitions).
    pub retention_days: u32,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig { retention_days: 30 }
    }
}

impl super::Config {
    /// `[events]`.
    pub(super) fn validate_events(&self) -> Result<(), ConfigError> {
        range(
            "events.retention_days",
            u64::from(self.events.retention_days),
            1,
            3_650,
        )
    }
}
