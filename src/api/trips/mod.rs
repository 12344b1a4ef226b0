//! Trips and stops (docs/trips.md): `GET /v1/vehicles/{id}/trips`, `GET /v1/trips/{id}` and
//! `GET /v1/vehicles/{id}/stops`. Staff see every vehicle's; a driver sees those of the
//! vehicle they are driving. These, the summaries and the OBD history read the read replica
//! while it is usable ([`crate::api::reads`]).

use axum::extract::Path;
use axum::Json;
use chrono::{DateTime, Utc};

use crate::api::auth::roles::Role;
use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::extract::ApiQuery;
use crate::api::pagination::{Page, Paged};
use crate::api::reads::{As, Reads};
use crate::api::routes::{params, RouteDoc, Routes};

pub mod model;
pub mod obd;
pub mod summary;

use model::{Stop, Trip, Window, STOP_COLUMNS, TRIP_COLUMNS};

/// The longest window one list request may cover.
pub const MAX_WINDOW_DAYS: i64 = 366;
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1_000;
const READERS: &[Role] = &[Role::Admin, Role::Dispatcher, Role::Driver];

/// User `$1`'s driver profile is at the wheel of `$2`.
const DRIVING: &str = "SELECT 1 FROM drivers
                       WHERE user_id = $1 AND current_vehicle_id = $2 AND deleted_at IS NULL";

/// A registered vehicle (not removed).
const REGISTERED: &str = "SELECT 1 FROM vehicles WHERE id = $1 AND deleted_at IS NULL";

/// The vehicle is registered (else 404, as `GET /v1/vehicles/{id}` answers) and the caller
/// may see its history.
pub(crate) async fn may_see(
    tx: &tokio_postgres::Client,
    caller: &Caller,
    vehicle: &str,
) -> Result<(), ApiError> {
    if tx.query_opt(REGISTERED, &[&vehicle]).await?.is_none() {
        return Err(ApiError::not_found("vehicle"));
    }
    if caller.is_staff()
        || tx
            .query_opt(DRIVING, &[&caller.user_id, &vehicle])
            .await?
            .is_some()
    {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "a driver sees only the trips of the vehicle they are driving",
        ))
    }
}

/// A validated window and page; the cursor is the last item's start in Unix µs.
fn window(w: &Window) -> Result<(Page, Option<DateTime<Utc>>), ApiError> {
    if w.to <= w.from {
        return Err(ApiError::invalid("to", "must be after from"));
    }
    if w.to - w.from > chrono::Duration::days(MAX_WINDOW_DAYS) {
        return Err(ApiError::invalid(
            "to",
            format!("the window may be at most {MAX_WINDOW_DAYS} days"),
        ));
    }
    let page = Page::within(w.limit, w.cursor.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = cursor_time(&page)?;
    Ok((page, after))
}

/// A page's cursor: a time in Unix µs.
fn cursor_time(page: &Page) -> Result<Option<DateTime<Utc>>, ApiError> {
    page.after
        .as_deref()
        .map(|a| {
            a.parse::<i64>()
                .ok()
                .and_then(DateTime::from_timestamp_micros)
                .ok_or_else(|| ApiError::invalid("cursor", "not a cursor"))
        })
        .transpose()
}

/// The rows of `sql`, a list of `id`'s trips or stops in window `w` (parameters: the vehicle,
/// from, to, the cursor's start, the limit), read where [`Reads`] says, after checking that
/// the caller may see the vehicle.
async fn window_rows(
    reads: &Reads,
    caller: &Caller,
    id: &str,
    sql: &str,
    w: &Window,
    after: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<tokio_postgres::Row>, ApiError> {
    loop {
        let tx = reads.begin(As::Caller).await?;
        let answer: Result<_, ApiError> = async {
            may_see(&tx, caller, id).await?;
            Ok(tx
                .query(sql, &[&id, &w.from, &w.to, &after, &limit])
                .await?)
        }
        .await;
        if let Some(answer) = reads.settle(tx, answer) {
            return answer;
        }
    }
}

async fn vehicle_trips(
    caller: Caller,
    reads: Reads,
    Path(id): Path<String>,
    ApiQuery(w): ApiQuery<Window>,
) -> Result<Json<Paged<Trip>>, ApiError> {
    if !crate::live::valid_vehicle_id(&id) {
        return Err(ApiError::not_found("vehicle"));
    }
    let (page, after) = window(&w)?;
    let sql = format!(
        "SELECT {TRIP_COLUMNS} FROM trips
          WHERE vehicle_id = $1 AND end_ts >= $2 AND start_ts < $3
            AND ($4::timestamptz IS NULL OR start_ts > $4)
          ORDER BY start_ts LIMIT $5"
    );
    let rows = window_rows(&reads, &caller, &id, &sql, &w, after, page.fetch()).await?;
    let trips = rows.iter().map(model::trip).collect();
    Ok(Json(page.finish(trips, |t: &Trip| {
        t.start.ts.timestamp_micros().to_string()
    })))
}

async fn one_trip(
    caller: Caller,
    reads: Reads,
    Path(id): Path<String>,
) -> Result<Json<Trip>, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::not_found("trip"))?;
    let sql = format!("SELECT {TRIP_COLUMNS}, ST_AsGeoJSON(path)::jsonb FROM trips WHERE id = $1");
    let trip = loop {
        let tx = reads.begin(As::Caller).await?;
        let answer: Result<_, ApiError> = async {
            let row = tx
                .query_opt(&sql, &[&id])
                .await?
                .ok_or_else(|| ApiError::not_found("trip"))?;
            let mut trip = model::trip(&row);
            may_see(&tx, &caller, &trip.vehicle_id).await?;
            trip.path = row.get(17);
            Ok(trip)
        }
        .await;
        if let Some(answer) = reads.settle(tx, answer) {
            break answer?;
        }
    };
    Ok(Json(trip))
}

async fn vehicle_stops(
    caller: Caller,
    reads: Reads,
    Path(id): Path<String>,
    ApiQuery(w): ApiQuery<Window>,
) -> Result<Json<Paged<Stop>>, ApiError> {
    if !crate::live::valid_vehicle_id(&id) {
        return Err(ApiError::not_found("vehicle"));
    }
    let (page, after) = window(&w)?;
    let sql = format!(
        "SELECT {STOP_COLUMNS} FROM stops
          WHERE vehicle_id = $1 AND end_ts >= $2 AND start_ts < $3
            AND ($4::timestamptz IS NULL OR start_ts > $4)
          ORDER BY start_ts LIMIT $5"
    );
    let rows = window_rows(&reads, &caller, &id, &sql, &w, after, page.fetch()).await?;
    let stops = rows.iter().map(model::stop).collect();
    Ok(Json(page.finish(stops, |s: &Stop| {
        s.start_ts.timestamp_micros().to_string()
    })))
}

const WINDOW_QUERY: &[(&str, &str)] = &[
    ("from", "RFC 3339: segments ending at or after it"),
    (
        "to",
        "RFC 3339: segments starting before it; at most 366 days after from",
    ),
];
const PAGE_QUERY: &[(&str, &str)] = &[
    ("limit", "items per page, 1..=1000 (default 100)"),
    ("cursor", "next_cursor from the previous page"),
];

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc {
            params: Some(params::<Window>),
            required_query: WINDOW_QUERY,
            query: PAGE_QUERY,
            response: Some(|g| g.subschema_for::<Paged<Trip>>()),
            errors: &[404, 422],
            ..RouteDoc::new(
                "GET",
                "/v1/vehicles/{id}/trips",
                "A vehicle's trips in a window, oldest first (a driver: only the vehicle they drive)",
                READERS,
            )
        },
        vehicle_trips,
    )
    .add(
        RouteDoc {
            response: Some(|g| g.subschema_for::<Trip>()),
            errors: &[404],
            ..RouteDoc::new(
                "GET",
                "/v1/trips/{id}",
                "One trip with its simplified path as a GeoJSON LineString",
                READERS,
            )
        },
        one_trip,
    )
    .add(
        RouteDoc {
            params: Some(params::<Window>),
            required_query: WINDOW_QUERY,
            query: PAGE_QUERY,
            response: Some(|g| g.subschema_for::<Paged<Stop>>()),
            errors: &[404, 422],
            ..RouteDoc::new(
                "GET",
                "/v1/vehicles/{id}/stops",
                "A vehicle's stops in a window, oldest first (a driver: only the vehicle they drive)",
                READERS,
            )
        },
        vehicle_stops,
    )
    .add(
        RouteDoc {
            params: Some(params::<summary::SummaryQuery>),
            required_query: &[
                ("from", "RFC 3339: from the bucket (hour or UTC day) holding it"),
                ("to", "RFC 3339: to the last bucket starting before it"),
            ],
            query: &[(
                "bucket",
                "hour (window up to 31 days) or day (the default; up to 3660 days)",
            )],
            response: Some(|g| g.subschema_for::<summary::Summary>()),
            errors: &[404, 422],
            ..RouteDoc::new(
                "GET",
                "/v1/vehicles/{id}/summary",
                "A vehicle's hourly or daily rollups (distance, moving and idle time, speeds, fuel, odometer, trouble codes) and their totals",
                READERS,
            )
        },
        summary::summary,
    )
    .add(
        RouteDoc {
            params: Some(params::<obd::ObdQuery>),
            required_query: &[
                ("from", "RFC 3339 start, inclusive"),
                ("to", "RFC 3339 end, exclusive; at most 31 days after from"),
            ],
            query: &[
                ("limit", "readings per page, 1..=10000 (default 1000)"),
                ("cursor", "next_cursor from the previous page"),
            ],
            response: Some(|g| g.subschema_for::<Paged<obd::ObdReading>>()),
            errors: &[404, 422],
            ..RouteDoc::new(
                "GET",
                "/v1/vehicles/{id}/obd",
                "Stored OBD-II readings in a window, oldest first",
                READERS,
            )
        },
        obd::obd,
    )
}
