//! `GET /v1/vehicles/{id}/summary?from=&to=&bucket=hour|day`: a vehicle's rollups
//! (docs/trips.md#rollups), served from `vehicle_hourly` / `vehicle_daily`, so a year back
//! costs the same as yesterday.

use axum::extract::Path;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::may_see;
use super::model::Place;
use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::extract::ApiQuery;
use crate::api::reads::{As, Reads};

/// Hourly buckets cover at most this many days, daily ones ten years.
pub const MAX_HOURLY_DAYS: i64 = 31;
pub const MAX_DAILY_DAYS: i64 = 3_660;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Hour,
    #[default]
    Day,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// The buckets overlapping `[from, to)`: from the one holding `from` ...
    pub from: DateTime<Utc>,
    /// ... to the last starting before `to`.
    pub to: DateTime<Utc>,
    /// `hour` (window up to 31 days) or `day` (the default; up to 3660 days).
    pub bucket: Option<Bucket>,
}

/// One hour or UTC day of a vehicle.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Rollup {
    /// The bucket's start.
    pub start: DateTime<Utc>,
    /// GPS readings.
    pub readings: i32,
    pub distance_m: f64,
    pub moving_s: f64,
    pub idle_s: f64,
    pub max_speed_kmh: Option<f64>,
    /// `distance_m` over `moving_s`.
    pub avg_speed_kmh: Option<f64>,
    pub first: Option<Place>,
    pub last: Option<Place>,
    pub obd_readings: i32,
    /// Fuel level fallen, percentage points (refuelling excluded).
    pub fuel_used_pct: Option<f64>,
    pub odometer_min_km: Option<f64>,
    pub odometer_max_km: Option<f64>,
    /// The distinct trouble codes reported.
    pub dtc_codes: Vec<String>,
}

/// The buckets, oldest first, and their totals.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Summary {
    pub vehicle_id: String,
    pub bucket: Bucket,
    pub items: Vec<Rollup>,
    pub total: Totals,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct Totals {
    pub readings: i64,
    pub distance_m: f64,
    pub moving_s: f64,
    pub idle_s: f64,
    pub max_speed_kmh: Option<f64>,
    pub fuel_used_pct: Option<f64>,
    /// Distinct trouble codes over the window.
    pub dtc_codes: Vec<String>,
}

const COLUMNS: &str = "readings, distance_m, moving_s, idle_s, max_speed_kmh, avg_speed_kmh,
    first_ts, ST_Y(first_position), ST_X(first_position), last_ts, ST_Y(last_position),
    ST_X(last_position), obd_readings, fuel_used_pct, odometer_min_km, odometer_max_km, dtc_codes";

fn place(r: &tokio_postgres::Row, at: usize) -> Option<Place> {
    let ts: Option<DateTime<Utc>> = r.get(at);
    Some(Place {
        ts: ts?,
        lat: r.get::<_, Option<f64>>(at + 1)?,
        lon: r.get::<_, Option<f64>>(at + 2)?,
    })
}

pub async fn summary(
    caller: Caller,
    reads: Reads,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> Result<Json<Summary>, ApiError> {
    if !crate::live::valid_vehicle_id(&id) {
        return Err(ApiError::not_found("vehicle"));
    }
    let bucket = q.bucket.unwrap_or_default();
    if q.to <= q.from {
        return Err(ApiError::invalid("to", "must be after from"));
    }
    let max = match bucket {
        Bucket::Hour => MAX_HOURLY_DAYS,
        Bucket::Day => MAX_DAILY_DAYS,
    };
    if q.to - q.from > chrono::Duration::days(max) {
        return Err(ApiError::invalid(
            "to",
            format!("the window may be at most {max} days with bucket={bucket:?}").to_lowercase(),
        ));
    }
    let sql = match bucket {
        Bucket::Hour => format!(
            "SELECT hour, {COLUMNS} FROM vehicle_hourly
              WHERE vehicle_id = $1 AND hour > $2::timestamptz - interval '1 hour' AND hour < $3 ORDER BY hour"
        ),
        Bucket::Day => format!(
            "SELECT day::timestamp AT TIME ZONE 'UTC', {COLUMNS} FROM vehicle_daily
              WHERE vehicle_id = $1 AND day >= ($2 AT TIME ZONE 'UTC')::date
                AND day::timestamp AT TIME ZONE 'UTC' < $3
              ORDER BY day"
        ),
    };
    let rows = loop {
        let tx = reads.begin(As::Caller).await?;
        let answer: Result<_, ApiError> = async {
            may_see(&tx, &caller, &id).await?;
            Ok(tx.query(&sql, &[&id, &q.from, &q.to]).await?)
        }
        .await;
        if let Some(answer) = reads.settle(tx, answer) {
            break answer?;
        }
    };
    let items: Vec<Rollup> = rows
        .iter()
        .map(|r| Rollup {
            start: r.get(0),
            readings: r.get(1),
            distance_m: r.get(2),
            moving_s: r.get(3),
            idle_s: r.get(4),
            max_speed_kmh: r.get(5),
            avg_speed_kmh: r.get(6),
            first: place(r, 7),
            last: place(r, 10),
            obd_readings: r.get(13),
            fuel_used_pct: r.get(14),
            odometer_min_km: r.get(15),
            odometer_max_km: r.get(16),
            dtc_codes: r.get(17),
        })
        .collect();
    let mut total = Totals::default();
    for i in &items {
        total.readings += i64::from(i.readings);
        total.distance_m += i.distance_m;
        total.moving_s += i.moving_s;
        total.idle_s += i.idle_s;
        if let Some(v) = i.max_speed_kmh {
            total.max_speed_kmh = Some(total.max_speed_kmh.map_or(v, |m| m.max(v)));
        }
        if let Some(f) = i.fuel_used_pct {
            total.fuel_used_pct = Some(total.fuel_used_pct.unwrap_or(0.0) + f);
        }
        total.dtc_codes.extend(i.dtc_codes.iter().cloned());
    }
    total.dtc_codes.sort();
    total.dtc_codes.dedup();
    Ok(Json(Summary {
        vehicle_id: id,
        bucket,
        items,
        total,
    }))
}
