//! The `[reports]` section: the dashboard's cache and the monthly statistics' refresh.

use serde::{Deserialize, Serialize};

use super::validate::range;
use super::ConfigError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Seconds `GET /v1/reports/dashboard` answers from its cache (Redis when configured,
    /// shared by the daemons; else this daemon's memory).
    pub dashboard_cache_s: u64,
    /// Seconds between refreshes of the `monthly_vehicle_stats` materialized view.
    pub stats_refresh_s: u64,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            dashboard_cache_s: 30,
            stats_refresh_s: 300,
        }
    }
}

impl super::Config {
    /// `[reports]`.
    pub(super) fn validate_reports(&self) -> Result<(), ConfigError> {
        let r = &self.reports;
        range("reports.dashboard_cache_s", r.dashboard_cache_s, 1, 3_600)?;
        range("reports.stats_refresh_s", r.stats_refresh_s, 10, 86_400)
    }
}
