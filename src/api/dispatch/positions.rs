//! Live positions and dispatch queries: `GET /v1/vehicles/{id}/position` and
//! `GET /v1/dispatch/nearest` answer from memory (the live index and the driver roster, no
//! SQL); `GET /v1/vehicles/{id}/track` reads stored readings (on the read replica while it
//! is usable: [`crate::api::reads`]).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::auth::{Caller, STAFF};
use crate::api::error::ApiError;
use crate::api::extract::{text, ApiQuery, TEXT_PATTERN};
use crate::api::pagination::{Page, Paged};
use crate::api::reads::{As, Reads};
use crate::api::routes::{params, RouteDoc, Routes};
use crate::api::state::AppState;
use crate::dispatch::Requirements;
use crate::live::{LiveError, Position};

/// Readings of one vehicle in a window, oldest first, after the cursor's `ts` (if any: no
/// sentinel time, since PostgreSQL refuses timestamps as early as chrono's minimum).
const TRACK: &str = "
    SELECT ts, ST_Y(position), ST_X(position), speed_kmh, heading_deg, alt_m, accuracy_m
      FROM gps_readings
     WHERE vehicle_id = $1 AND ts >= $2 AND ts < $3 AND ($4::timestamptz IS NULL OR ts > $4)
     ORDER BY ts LIMIT $5";

/// The longest track window one request may ask for.
pub const TRACK_MAX_DAYS: i64 = 31;
/// Points per track page by default and at most.
pub const TRACK_DEFAULT_LIMIT: i64 = 1_000;
pub const TRACK_MAX_LIMIT: i64 = 10_000;
/// `k` and `radius_m` of a nearest query that names none.
pub const DEFAULT_K: usize = 10;
pub const DEFAULT_RADIUS_M: f64 = 5_000.0;

/// Where a vehicle is, from the live index: the fields the position route and the live map's
/// snapshot (`GET /v1/positions`) share.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Whereabouts {
    pub vehicle_id: String,
    pub lat: f64,
    pub lon: f64,
    /// The reading's time.
    pub ts: DateTime<Utc>,
    /// Seconds since `ts` (0 for a reading stamped in the future).
    pub age_s: f64,
    pub speed_kmh: Option<f32>,
    pub heading_deg: Option<f32>,
    /// The driver at the wheel, if any.
    pub driver_id: Option<Uuid>,
}

impl Whereabouts {
    /// Vehicle `vehicle_id` at live position `p`, aged by the daemon's time `now_us`.
    pub fn of(state: &AppState, vehicle_id: String, p: Position, now_us: i64) -> Whereabouts {
        Whereabouts {
            driver_id: state.dispatch.roster.driver_of(&vehicle_id),
            vehicle_id,
            lat: p.lat,
            lon: p.lon,
            ts: time(p.ts),
            age_s: (now_us - p.ts).max(0) as f64 / 1e6,
            speed_kmh: p.speed_kmh,
            heading_deg: p.heading_deg,
        }
    }
}

/// A vehicle's latest known position.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LivePosition {
    #[serde(flatten)]
    pub at: Whereabouts,
    /// The latest OBD-II values received (absent when none since the daemon started).
    pub obd: Option<crate::api::trips::obd::ObdReading>,
}

/// One stored GPS reading.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TrackPoint {
    pub ts: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    pub speed_kmh: Option<f32>,
    pub heading_deg: Option<f32>,
    pub alt_m: Option<f32>,
    pub accuracy_m: Option<f32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[schemars(range(min = 1, max = TRACK_MAX_LIMIT))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NearestParams {
    #[schemars(range(min = -90.0, max = 90.0))]
    pub lat: f64,
    #[schemars(range(min = -180.0, max = 180.0))]
    pub lon: f64,
    #[schemars(range(min = 1, max = crate::live::query::MAX_K))]
    pub k: Option<usize>,
    /// Above 0; the maximum is `dispatch.max_radius_m`.
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub radius_m: Option<f64>,
    #[serde(rename = "type")]
    #[schemars(length(max = 50), regex(pattern = TEXT_PATTERN))]
    pub vehicle_type: Option<String>,
    #[schemars(range(min = 0, max = 1_000))]
    pub min_seats: Option<i32>,
    #[schemars(range(min = 0, max = 1_000_000))]
    pub min_load_kg: Option<i32>,
}

/// One vehicle offered by dispatch.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NearestVehicle {
    pub vehicle_id: String,
    pub driver_id: Uuid,
    /// Great-circle distance from the query point, metres.
    pub distance_m: f64,
    pub lat: f64,
    pub lon: f64,
    pub age_s: f64,
    pub ts: DateTime<Utc>,
    pub speed_kmh: Option<f32>,
    pub heading_deg: Option<f32>,
}

/// `GET /v1/dispatch/nearest` answer, nearest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Nearest {
    pub items: Vec<NearestVehicle>,
    /// The search stopped after examining `dispatch.max_candidates_examined` vehicles with an
    /// available driver within the radius (few of them meeting the requirements): `items` are
    /// the nearest eligible among those, and vehicles further out may have been missed.
    /// Narrow the radius or the requirements.
    pub truncated: bool,
}

fn time(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// Validated requirements on a vehicle (shared with dispatch jobs).
pub fn requirements(
    vehicle_type: Option<&str>,
    min_seats: Option<i32>,
    min_load_kg: Option<i32>,
) -> Result<Requirements, ApiError> {
    if min_seats.is_some_and(|s| !(0..=1_000).contains(&s)) {
        return Err(ApiError::invalid("min_seats", "must be in 0..=1000"));
    }
    if min_load_kg.is_some_and(|l| !(0..=1_000_000).contains(&l)) {
        return Err(ApiError::invalid("min_load_kg", "must be in 0..=1000000"));
    }
    Ok(Requirements {
        vehicle_type: vehicle_type.map(|t| text("type", t, 50)).transpose()?,
        min_seats,
        min_load_kg,
    })
}

/// The live index's refusal as a 422 naming the parameter.
pub fn live_error(e: LiveError) -> ApiError {
    let field = match e {
        LiveError::VehicleId => "vehicle_id",
        LiveError::Latitude(_) => "lat",
        LiveError::Longitude(_) => "lon",
        LiveError::K { .. } => "k",
        LiveError::Radius { .. } => "radius_m",
    };
    ApiError::invalid(field, e)
}

async fn position(
    State(state): State<Arc<AppState>>,
    _: Caller,
    Path(id): Path<String>,
) -> Result<Json<LivePosition>, ApiError> {
    let p = state
        .live
        .position(&id)
        .ok_or_else(|| ApiError::not_found("position for this vehicle"))?;
    let obd = state.obd.get(&id).as_ref().map(Into::into);
    Ok(Json(LivePosition {
        at: Whereabouts::of(&state, id, p, state.clock.now_us()),
        obd,
    }))
}

async fn track(
    _: Caller,
    reads: Reads,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<TrackQuery>,
) -> Result<Json<Paged<TrackPoint>>, ApiError> {
    if !crate::live::valid_vehicle_id(&id) {
        return Err(ApiError::not_found("vehicle"));
    }
    if q.to <= q.from {
        return Err(ApiError::invalid("to", "must be after from"));
    }
    if q.to - q.from > chrono::Duration::days(TRACK_MAX_DAYS) {
        return Err(ApiError::invalid(
            "to",
            format!("the window may be at most {TRACK_MAX_DAYS} days"),
        ));
    }
    let page = Page::within(
        q.limit,
        q.cursor.as_deref(),
        TRACK_DEFAULT_LIMIT,
        TRACK_MAX_LIMIT,
    )?;
    let after: Option<DateTime<Utc>> = page
        .after
        .as_deref()
        .map(|a| {
            a.parse::<i64>()
                .ok()
                .and_then(DateTime::from_timestamp_micros)
                .ok_or_else(|| ApiError::invalid("cursor", "not a cursor"))
        })
        .transpose()?;
    let rows = loop {
        let tx = reads.begin(As::Daemon).await?;
        let answer = tx
            .query(TRACK, &[&id, &q.from, &q.to, &after, &page.fetch()])
            .await;
        if let Some(answer) = reads.settle(tx, answer.map_err(ApiError::from)) {
            break answer?;
        }
    };
    let points = rows
        .iter()
        .map(|r| TrackPoint {
            ts: r.get(0),
            lat: r.get(1),
            lon: r.get(2),
            speed_kmh: r.get(3),
            heading_deg: r.get(4),
            alt_m: r.get(5),
            accuracy_m: r.get(6),
        })
        .collect();
    Ok(Json(
        page.finish(points, |p| p.ts.timestamp_micros().to_string()),
    ))
}

async fn nearest(
    State(state): State<Arc<AppState>>,
    _: Caller,
    ApiQuery(q): ApiQuery<NearestParams>,
) -> Result<Json<Nearest>, ApiError> {
    let req = requirements(q.vehicle_type.as_deref(), q.min_seats, q.min_load_kg)?;
    let config = &state.dispatch.config;
    let started = std::time::Instant::now();
    let found = state
        .dispatch
        .nearest(
            q.lat,
            q.lon,
            q.k.unwrap_or(DEFAULT_K),
            q.radius_m
                .unwrap_or(DEFAULT_RADIUS_M.min(config.max_radius_m)),
            &req,
        )
        .map_err(live_error)?;
    state
        .metrics
        .nearest_seconds
        .observe(started.elapsed().as_secs_f64());
    if found.truncated {
        state.metrics.nearest_truncated.inc();
    }
    let items = found
        .hits
        .into_iter()
        .map(|h| NearestVehicle {
            vehicle_id: h.vehicle_id,
            driver_id: h.tag,
            distance_m: h.distance_m,
            lat: h.lat,
            lon: h.lon,
            age_s: h.age_s,
            ts: time(h.ts),
            speed_kmh: h.speed_kmh,
            heading_deg: h.heading_deg,
        })
        .collect();
    Ok(Json(Nearest {
        items,
        truncated: found.truncated,
    }))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc {
            response: Some(|g| g.subschema_for::<LivePosition>()),
            errors: &[404],
            ..RouteDoc::new(
                "GET",
                "/v1/vehicles/{id}/position",
                "A vehicle's latest known position, from memory (404 once older than dispatch.live_horizon_s)",
                STAFF,
            )
        },
        position,
    )
    .add(
        RouteDoc {
            params: Some(params::<TrackQuery>),
            required_query: &[
                ("from", "RFC 3339 start, inclusive"),
                ("to", "RFC 3339 end, exclusive; at most 31 days after from"),
            ],
            query: &[
                ("limit", "points per page, 1..=10000 (default 1000)"),
                ("cursor", "next_cursor from the previous page"),
            ],
            response: Some(|g| g.subschema_for::<Paged<TrackPoint>>()),
            errors: &[404, 422],
            ..RouteDoc::new(
                "GET",
                "/v1/vehicles/{id}/track",
                "Stored GPS readings in a window, oldest first",
                STAFF,
            )
        },
        track,
    )
    .add(
        RouteDoc {
            params: Some(params::<NearestParams>),
            required_query: &[
                ("lat", "WGS84 latitude of the pickup"),
                ("lon", "WGS84 longitude of the pickup"),
            ],
            query: &[
                ("k", "how many vehicles at most, 1..=1000 (default 10)"),
                (
                    "radius_m",
                    "great-circle search radius in metres, inclusive, at most dispatch.max_radius_m (default 5000)",
                ),
                ("type", "vehicle type the vehicle must have"),
                ("min_seats", "seats the vehicle must have at least"),
                ("min_load_kg", "load the vehicle must carry at least"),
            ],
            response: Some(|g| g.subschema_for::<Nearest>()),
            errors: &[422],
            ..RouteDoc::new(
                "GET",
                "/v1/dispatch/nearest",
                "The k nearest fresh vehicles with an available driver, nearest first",
                STAFF,
            )
        },
        nearest,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_are_range_checked() {
        assert!(requirements(None, None, None).is_ok());
        assert_eq!(requirements(None, Some(-1), None).unwrap_err().status, 422);
        assert_eq!(
            requirements(None, None, Some(2_000_000))
                .unwrap_err()
                .status,
            422
        );
        assert_eq!(
            requirements(Some("  "), None, None).unwrap_err().status,
            422
        );
        let r = requirements(Some(" van "), Some(2), Some(500)).unwrap();
        assert_eq!(r.vehicle_type.as_deref(), Some("van"));
    }

    #[test]
    fn live_errors_name_the_parameter() {
        assert!(live_error(LiveError::Latitude(91.0))
            .message
            .starts_with("lat"));
        assert!(live_error(LiveError::K { got: 0 }).message.starts_with("k"));
        assert!(live_error(LiveError::Radius { got: 2e6, max: 1e6 })
            .message
            .starts_with("radius_m"));
    }
}
