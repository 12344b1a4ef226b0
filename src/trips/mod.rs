//! Trips and stops, derived from the stored readings (docs/trips.md).
//!
//! - [`machine`] cuts one vehicle's readings into trips and stops, judging motion with
//!   [`motion`]; [`path`] simplifies a trip's track.
//! - [`batch`] is the reference: every stored reading through one machine.
//! - [`incremental`] keeps a machine per vehicle between passes and re-segments from the
//!   last settled segment before a late reading.

use serde::{Deserialize, Serialize};

use crate::config::TripsConfig;

pub mod batch;
pub mod finish;
pub mod incremental;
pub mod machine;
pub mod motion;
pub mod path;
pub mod rollup;
pub mod segments;
pub mod store;
pub mod worker;

#[cfg(test)]
mod machine_tests;

/// One GPS reading as the segmenter sees it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    /// Unix microseconds (PostgreSQL's resolution).
    pub ts_us: i64,
    pub lat: f64,
    pub lon: f64,
    /// As stored (`real`).
    pub speed_kmh: Option<f32>,
    /// From OBD `rpm` (see docs/trips.md), when known.
    pub ignition: Option<bool>,
}

/// [`TripsConfig`] in the units the machine works in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub min_speed_kmh: f64,
    pub jitter_m: f64,
    pub window_us: i64,
    pub min_trip_m: f64,
    pub min_trip_us: i64,
    pub min_stop_us: i64,
    pub max_gap_us: i64,
    pub stop_radius_m: f64,
    pub use_ignition: bool,
}

const US: i64 = 1_000_000;

impl Params {
    pub fn new(c: &TripsConfig) -> Params {
        let us = |s: u64| i64::try_from(s).unwrap_or(i64::MAX / US) * US;
        Params {
            min_speed_kmh: c.min_speed_kmh,
            jitter_m: c.jitter_m,
            window_us: us(c.motion_window_s),
            min_trip_m: c.min_trip_m,
            min_trip_us: us(c.min_trip_s),
            min_stop_us: us(c.min_stop_s),
            max_gap_us: us(c.max_gap_s),
            stop_radius_m: c.stop_radius_m,
            use_ignition: c.use_ignition,
        }
    }
}

impl Default for Params {
    fn default() -> Self {
        Params::new(&TripsConfig::default())
    }
}
