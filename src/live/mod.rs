//! The live position index: every vehicle's latest position, in memory, for
//! `GET /v1/vehicles/{id}/position` and nearest-vehicle dispatch (docs/dispatch.md).
//!
//! # Layout
//! - [`geo`]: haversine, unit-sphere points, chord ↔ great-circle distance.
//! - [`index`]: [`LiveIndex`], the one type that owns the R-tree and the per-vehicle map, so
//!   both always change together; only a strictly newer `ts` replaces a position. Vehicles sit
//!   in the tree as small loose cubes, so most updates do not touch the tree. A second tree
//!   lists the *dispatchable* vehicles only (marked by whoever knows drivers), so that
//!   dispatch spends its candidate budget on vehicles that could be offered work.
//! - `slots`: the chunked slot table holding each vehicle's record.
//! - [`query`]: [`LiveIndex::nearest`] and [`LiveIndex::nearest_dispatchable`] with radius,
//!   staleness and a caller-supplied [`Eligibility`] (driver on duty and available, vehicle
//!   type, seats, load).
//! - [`shared`]: [`SharedLiveIndex`], the lock-wrapped handle shared by the ingestion pipeline
//!   (writers, in batches) and the HTTP readers.
//!
//! The index knows nothing of drivers: whoever owns duty status answers through
//! [`Eligibility`], so there is one source of truth for it, and marks which vehicles are
//! dispatchable at all ([`LiveIndex::set_dispatchable`]), a hint that only narrows the search.

pub mod cluster;
pub mod feed;
pub mod geo;
pub mod index;
pub mod obd;
pub mod query;
pub mod redis;
pub mod shared;
mod slots;

pub use index::{BatchOutcome, LiveIndex, Position, Upsert};
pub use query::{Eligibility, Everyone, Hit, Nearest, NearestQuery};
pub use shared::SharedLiveIndex;

/// Why the live index refused an input. Maps to HTTP 422 (well-formed but invalid values).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LiveError {
    /// The vehicle id is not `[A-Za-z0-9._-]{1,64}`.
    #[error("vehicle id must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'")]
    VehicleId,
    /// The latitude is not a finite number within ±90 degrees.
    #[error("lat must be a finite number between -90 and 90, got {0}")]
    Latitude(f64),
    /// The longitude is not a finite number within ±180 degrees.
    #[error("lon must be a finite number between -180 and 180, got {0}")]
    Longitude(f64),
    /// `k` is outside `1..=1000`.
    #[error("k must be between 1 and {max}, got {got}", max = query::MAX_K)]
    K {
        /// The requested count.
        got: usize,
    },
    /// The radius is not finite, not positive, or longer than allowed: half the Earth's
    /// circumference, or less where the caller says so (`dispatch.max_radius_m`).
    #[error("radius_m must be a finite number above 0 and at most {max} m, got {got}")]
    Radius {
        /// The requested radius.
        got: f64,
        /// The largest allowed.
        max: f64,
    },
}

/// Whether `id` is a valid vehicle id, `[A-Za-z0-9._-]{1,64}` (docs/telemetry.md).
pub fn valid_vehicle_id(id: &str) -> bool {
    crate::vehicle_id::VehicleId::is_valid(id)
}

/// Checks a WGS84 position.
pub(crate) fn check_lat_lon(lat: f64, lon: f64) -> Result<(), LiveError> {
    if !geo::valid_lat(lat) {
        return Err(LiveError::Latitude(lat));
    }
    if !geo::valid_lon(lon) {
        return Err(LiveError::Longitude(lon));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vehicle_ids() {
        assert!(valid_vehicle_id("truck-42"));
        assert!(valid_vehicle_id("A.b_c-9"));
        assert!(valid_vehicle_id(&"x".repeat(64)));
        assert!(!valid_vehicle_id(""));
        assert!(!valid_vehicle_id(&"x".repeat(65)));
        assert!(!valid_vehicle_id("a/b"));
        assert!(!valid_vehicle_id("café"));
    }

    #[test]
    fn messages_are_lowercase() {
        let all = [
            LiveError::VehicleId,
            LiveError::Latitude(91.0),
            LiveError::Longitude(f64::NAN),
            LiveError::K { got: 0 },
            LiveError::Radius {
                got: -1.0,
                max: 1.0,
            },
        ];
        for e in all {
            let m = e.to_string();
            assert!(m.chars().next().is_some_and(|c| c.is_lowercase()), "{m}");
            assert!(!m.ends_with('.'), "{m}");
        }
    }
}
