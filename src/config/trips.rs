//! The `[trips]` section: how readings are cut into trips and stops (`src/trips`).

use serde::{Deserialize, Serialize};

use super::validate::{invalid, range};
use super::ConfigError;

/// Trip and stop detection (docs/trips.md explains each parameter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TripsConfig {
    /// Derive trips and stops at all. Off: no segmenter runs on this daemon (another one
    /// sharing the database may still do the work).
    pub enabled: bool,
    /// A reading reporting at least this speed is moving.
    pub min_speed_kmh: f64,
    /// GPS noise radius: a reading without a speed is moving only when it is further than
    /// this from the reading `motion_window_s` before it; trip distances skip steps shorter
    /// than this.
    pub jitter_m: f64,
    /// Without a reported speed, motion is judged over at least this many seconds.
    pub motion_window_s: u64,
    /// A trip needs at least this distance ...
    pub min_trip_m: f64,
    /// ... or at least this duration; shorter movements stay part of the stop around them.
    pub min_trip_s: u64,
    /// Standing still this long ends a trip, and a stretch this long without a trip is a stop.
    pub min_stop_s: u64,
    /// No reading for this long ends a trip (and, when the vehicle reappears elsewhere, a stop).
    pub max_gap_s: u64,
    /// A stop survives a data gap when the vehicle reappears within this radius.
    pub stop_radius_m: f64,
    /// Also require the ignition on (the latest OBD `rpm` > 0) for a reading to be moving.
    pub use_ignition: bool,
    /// Douglas–Peucker tolerance of a trip's stored path.
    pub path_tolerance_m: f64,
    /// Readings are segmented once they are this many seconds old, so that readings of one
    /// vehicle committed out of order within it cost nothing extra; later ones re-segment
    /// from the last settled segment before them.
    pub settle_s: u64,
    /// Milliseconds between passes of the segmenter over vehicles with new readings.
    pub interval_ms: u64,
    /// Vehicles one pass takes at most (each in its own transaction).
    pub batch_vehicles: u32,
}

impl Default for TripsConfig {
    fn default() -> Self {
        TripsConfig {
            enabled: true,
            min_speed_kmh: 5.0,
            jitter_m: 30.0,
            motion_window_s: 10,
            min_trip_m: 500.0,
            min_trip_s: 300,
            min_stop_s: 300,
            max_gap_s: 3_600,
            stop_radius_m: 200.0,
            use_ignition: false,
            path_tolerance_m: 10.0,
            settle_s: 5,
            interval_ms: 1_000,
            batch_vehicles: 500,
        }
    }
}

fn finite_between(key: &str, value: f64, min: f64, max: f64) -> Result<(), ConfigError> {
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(invalid(key, format!("must be between {min} and {max}")))
    }
}

/// How long rollups are kept (raw readings: `ingest.retention_days`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Days of hourly rollups kept (at least `ingest.retention_days`, so a late reading's
    /// hour is still there to update).
    pub hourly_days: u32,
    /// Days of daily rollups kept; 0 keeps them forever.
    pub daily_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            hourly_days: 365,
            daily_days: 0,
        }
    }
}

impl super::Config {
    /// `[retention]`.
    pub(super) fn validate_retention(&self) -> Result<(), ConfigError> {
        let r = &self.retention;
        let raw = u64::from(self.ingest.retention_days);
        range(
            "retention.hourly_days",
            u64::from(r.hourly_days),
            raw.max(1),
            36_500,
        )?;
        if r.daily_days != 0 {
            range(
                "retention.daily_days",
                u64::from(r.daily_days),
                raw.max(1),
                36_500,
            )?;
        }
        Ok(())
    }

    /// `[trips]`.
    pub(super) fn validate_trips(&self) -> Result<(), ConfigError> {
        let t = &self.trips;
        finite_between("trips.min_speed_kmh", t.min_speed_kmh, 0.1, 100.0)?;
        finite_between("trips.jitter_m", t.jitter_m, 0.0, 1_000.0)?;
        range("trips.motion_window_s", t.motion_window_s, 1, 600)?;
        finite_between("trips.min_trip_m", t.min_trip_m, 1.0, 1_000_000.0)?;
        range("trips.min_trip_s", t.min_trip_s, 1, 86_400)?;
        range("trips.min_stop_s", t.min_stop_s, 1, 86_400)?;
        range("trips.max_gap_s", t.max_gap_s, 60, 7 * 86_400)?;
        finite_between("trips.stop_radius_m", t.stop_radius_m, 0.0, 100_000.0)?;
        finite_between("trips.path_tolerance_m", t.path_tolerance_m, 0.0, 10_000.0)?;
        range("trips.settle_s", t.settle_s, 0, 3_600)?;
        range("trips.interval_ms", t.interval_ms, 10, 600_000)?;
        range(
            "trips.batch_vehicles",
            u64::from(t.batch_vehicles),
            1,
            100_000,
        )?;
        self.validate_retention()?;
        if t.motion_window_s >= t.max_gap_s {
            return Err(invalid(
                "trips.motion_window_s",
                "must be shorter than trips.max_gap_s",
            ));
        }
        Ok(())
    }
}
