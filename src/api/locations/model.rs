//! What a location is, its request bodies and the checks on them. A location is a named point
//! (a depot, a city, a custom spot), optionally outlined by a geofence; rentals start and end
//! at locations, and availability can ask for the vehicles parked at one.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::error::ApiError;
use crate::api::extract::{text, TEXT_PATTERN};
use crate::live::geo;

/// Longest name, in characters.
pub const MAX_NAME: usize = 200;
/// Longest address, in characters.
pub const MAX_ADDRESS: usize = 500;
/// A vehicle is parked at a location without a geofence when its latest position is at most
/// this far from the location's point (great-circle metres). 200 m holds a depot's yard and
/// the GPS error of a vehicle parked in it, and stays clear of the next street's depot.
pub const PARKED_RADIUS_M: f64 = 200.0;

crate::text_enum! {
    /// What a location is: a `depot` (where the fleet parks), a `city`, or a `custom` spot.
    pub enum LocationKind {
        Depot => "depot",
        City => "city",
        Custom => "custom",
    }
}

/// A location.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Location {
    pub id: Uuid,
    pub name: String,
    pub kind: LocationKind,
    /// WGS84 degrees.
    pub lat: f64,
    pub lon: f64,
    /// The geofence outlining it: a vehicle inside it is parked here. Without one, a vehicle
    /// within [`PARKED_RADIUS_M`] (200 m) of the point is.
    pub geofence_id: Option<Uuid>,
    pub address: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/locations` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLocation {
    #[schemars(length(min = 1, max = 200), regex(pattern = TEXT_PATTERN))]
    pub name: String,
    pub kind: LocationKind,
    #[schemars(range(min = -90.0, max = 90.0))]
    pub lat: f64,
    #[schemars(range(min = -180.0, max = 180.0))]
    pub lon: f64,
    /// An existing geofence.
    pub geofence_id: Option<Uuid>,
    #[schemars(length(min = 1, max = 500), regex(pattern = TEXT_PATTERN))]
    pub address: Option<String>,
}

/// `PATCH /v1/locations/{id}` body: the fields to change; `null` clears `geofence_id` and
/// `address`. A point keeps what is not given of `lat` and `lon`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLocation {
    #[schemars(length(min = 1, max = 200), regex(pattern = TEXT_PATTERN))]
    pub name: Option<String>,
    pub kind: Option<LocationKind>,
    #[schemars(range(min = -90.0, max = 90.0))]
    pub lat: Option<f64>,
    #[schemars(range(min = -180.0, max = 180.0))]
    pub lon: Option<f64>,
    #[serde(default, deserialize_with = "crate::api::extract::double_option")]
    #[schemars(with = "Option<Uuid>")]
    pub geofence_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::api::extract::double_option")]
    #[schemars(with = "Option<String>", length(min = 1, max = 500), regex(pattern = TEXT_PATTERN))]
    pub address: Option<Option<String>>,
}

pub const COLUMNS: &str = "l.id, l.name, l.kind, ST_Y(l.point::geometry) AS lat, \
     ST_X(l.point::geometry) AS lon, l.geofence_id, l.address, l.created_at, l.updated_at";

pub fn from_row(row: &tokio_postgres::Row) -> Location {
    Location {
        id: row.get("id"),
        name: row.get("name"),
        kind: row.get("kind"),
        lat: row.get("lat"),
        lon: row.get("lon"),
        geofence_id: row.get("geofence_id"),
        address: row.get("address"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// The name, trimmed.
pub fn name(value: &str) -> Result<String, ApiError> {
    text("name", value, MAX_NAME)
}

/// The address, trimmed.
pub fn address(value: &str) -> Result<String, ApiError> {
    text("address", value, MAX_ADDRESS)
}

/// A point of finite WGS84 degrees in range.
pub fn point(lat: f64, lon: f64) -> Result<(f64, f64), ApiError> {
    if !geo::valid_lat(lat) {
        return Err(ApiError::invalid("lat", "must be between -90 and 90"));
    }
    if !geo::valid_lon(lon) {
        return Err(ApiError::invalid("lon", "must be between -180 and 180"));
    }
    Ok((lat, lon))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_out_of_range_or_not_finite_are_refused() {
        assert!(point(90.0, 180.0).is_ok());
        assert!(point(-90.0, -180.0).is_ok());
        for (lat, lon) in [
            (90.000_001, 0.0),
            (-91.0, 0.0),
            (0.0, 180.5),
            (0.0, -181.0),
            (f64::NAN, 0.0),
            (0.0, f64::INFINITY),
            (1e308, 0.0),
        ] {
            let e = point(lat, lon).unwrap_err();
            assert_eq!(e.status, 422, "{lat} {lon}");
        }
        assert!(point(f64::NAN, 0.0)
            .unwrap_err()
            .message
            .starts_with("lat:"));
        assert!(point(0.0, 200.0).unwrap_err().message.starts_with("lon:"));
    }

    #[test]
    fn names_and_addresses_are_trimmed_and_bounded() {
        assert_eq!(name("  Depot North ").unwrap(), "Depot North");
        assert!(name(" ").is_err());
        assert!(name(&"n".repeat(MAX_NAME + 1)).is_err());
        assert!(name(&"n".repeat(MAX_NAME)).is_ok());
        assert!(address(&"a".repeat(MAX_ADDRESS + 1)).is_err());
        assert!(address("line\u{0}").is_err());
    }
}
