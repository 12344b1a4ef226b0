//! The `[rentals]` and `[rules]` sections: rules that fire as time passes (`src/timed`).

use serde::{Deserialize, Serialize};

use super::validate::range;
use super::ConfigError;

/// Rentals.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RentalsConfig {
    /// A reservation not activated this many hours after its start becomes `no_show`: its
    /// charges are reversed, the plan's cancellation fee is charged, and the vehicle is free
    /// to book again. Short frees vehicles sooner; long forgives late customers.
    pub no_show_hours: u32,
}

impl Default for RentalsConfig {
    fn default() -> Self {
        RentalsConfig { no_show_hours: 24 }
    }
}

/// How often the time rules run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Seconds between passes of the time rules (shifts past their end complete, drivers
    /// whose shift ended or licence expired leave their vehicle, reservations become
    /// no-shows). Dispatch never offers a job to a driver past their shift or licence even
    /// between passes; the other rules take effect up to this long late.
    pub interval_s: u64,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig { interval_s: 30 }
    }
}

impl super::Config {
    /// `[rentals]` and `[rules]`.
    pub(super) fn validate_rules(&self) -> Result<(), ConfigError> {
        range(
            "rentals.no_show_hours",
            u64::from(self.rentals.no_show_hours),
            1,
            8_760,
        )?;
        range("rules.interval_s", self.rules.interval_s, 1, 3_600)
    }
}
