//! `GET /console/config.json`: what the console needs to know of the daemon's settings before
//! anyone logs in (no secrets): the map's tiles, and the rules it colours vehicles by.

use serde::Serialize;

use crate::config::Config;

/// The console's settings document.
#[derive(Debug, Serialize)]
pub struct Settings {
    /// `console.tile_url`; empty: the vendored basemap only.
    pub tile_url: String,
    pub tile_attribution: String,
    pub tile_max_zoom: u64,
    /// `dispatch.staleness_s`: a vehicle whose position is older is drawn offline.
    pub staleness_s: u64,
    /// `trips.min_speed_kmh`: a vehicle reporting at least this speed is drawn moving.
    pub moving_kmh: f64,
    /// The daemon's version, shown in the console's footer.
    pub version: &'static str,
}

impl Settings {
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            tile_url: config.console.tile_url.clone(),
            tile_attribution: config.console.tile_attribution.clone(),
            tile_max_zoom: config.console.tile_max_zoom,
            staleness_s: config.dispatch.staleness_s,
            moving_kmh: config.trips.min_speed_kmh,
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}
