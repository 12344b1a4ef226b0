//! What the trip routes answer, and how rows become it.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use uuid::Uuid;

/// A timed position: a trip's or a stop's start or end.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Place {
    pub ts: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
}

/// A trip (docs/trips.md): from a stop, or the vehicle's first reading, to the next stop or
/// silence.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Trip {
    pub id: i64,
    pub vehicle_id: String,
    /// The driver of the shift covering the start, else the driver at the wheel when the
    /// trip was recorded.
    pub driver_id: Option<Uuid>,
    pub start: Place,
    pub end: Place,
    /// Metres along the readings (steps shorter than `trips.jitter_m` skipped).
    pub distance_m: f64,
    pub duration_s: f64,
    pub moving_s: f64,
    pub idle_s: f64,
    pub max_speed_kmh: f64,
    /// `distance_m` over the duration.
    pub avg_speed_kmh: f64,
    /// GPS readings from start to end.
    pub readings: i32,
    /// Fuel level fallen in percentage points (refuelling excluded), when OBD reported it.
    pub fuel_used_pct: Option<f64>,
    /// Odometer advance in km, when OBD reported it.
    pub odometer_delta_km: Option<f64>,
    /// The simplified path, a GeoJSON LineString (`GET /v1/trips/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<LineString>")]
    pub path: Option<serde_json::Value>,
}

/// A GeoJSON LineString.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LineString {
    /// Always `LineString`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `[lon, lat]` pairs.
    pub coordinates: Vec<[f64; 2]>,
}

/// A stop: the vehicle stood at `position` from `start_ts` to `end_ts`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Stop {
    pub id: i64,
    pub vehicle_id: String,
    pub driver_id: Option<Uuid>,
    pub start_ts: DateTime<Utc>,
    pub end_ts: DateTime<Utc>,
    pub duration_s: f64,
    pub lat: f64,
    pub lon: f64,
}

/// The window and page of a trip or stop list.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Segments ending at or after this time ...
    pub from: DateTime<Utc>,
    /// ... and starting before this one (at most 366 days after `from`).
    pub to: DateTime<Utc>,
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub const TRIP_COLUMNS: &str = "id, vehicle_id, driver_id, start_ts, ST_Y(start_position),
    ST_X(start_position), end_ts, ST_Y(end_position), ST_X(end_position), distance_m, moving_s,
    idle_s, max_speed_kmh, avg_speed_kmh, readings, fuel_used_pct, odometer_delta_km";

pub fn trip(r: &Row) -> Trip {
    let (start, end): (DateTime<Utc>, DateTime<Utc>) = (r.get(3), r.get(6));
    Trip {
        id: r.get(0),
        vehicle_id: r.get(1),
        driver_id: r.get(2),
        start: Place {
            ts: start,
            lat: r.get(4),
            lon: r.get(5),
        },
        end: Place {
            ts: end,
            lat: r.get(7),
            lon: r.get(8),
        },
        distance_m: r.get(9),
        duration_s: seconds(start, end),
        moving_s: r.get(10),
        idle_s: r.get(11),
        max_speed_kmh: r.get(12),
        avg_speed_kmh: r.get(13),
        readings: r.get(14),
        fuel_used_pct: r.get(15),
        odometer_delta_km: r.get(16),
        path: None,
    }
}

pub const STOP_COLUMNS: &str =
    "id, vehicle_id, driver_id, start_ts, end_ts, ST_Y(position), ST_X(position)";

pub fn stop(r: &Row) -> Stop {
    let (start, end): (DateTime<Utc>, DateTime<Utc>) = (r.get(3), r.get(4));
    Stop {
        id: r.get(0),
        vehicle_id: r.get(1),
        driver_id: r.get(2),
        start_ts: start,
        end_ts: end,
        duration_s: seconds(start, end),
        lat: r.get(5),
        lon: r.get(6),
    }
}

fn seconds(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_microseconds().unwrap_or(0) as f64 / 1e6
}
