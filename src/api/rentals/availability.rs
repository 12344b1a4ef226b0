//! `GET /v1/availability`: vehicles free for a whole window, that is with no commitment
//! (rental, maintenance window or assignment) overlapping it, and not decommissioned. A
//! vehicle that is out (`rented` or `under_maintenance`) with no booking covering now (an
//! overdue rental, a breakdown) is out for a time nobody knows yet: it is offered for no
//! window until it is back.
//!
//! With `location_id`, only the vehicles parked at that location now (its geofence, or the
//! radius around its point: [`crate::api::locations::parked`]).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use const_format::concatcp;
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::booking::MAX_DAYS;
use crate::api::auth::{Caller, ANY};
use crate::api::error::ApiError;
use crate::api::extract::{window, ApiQuery, NO_NUL_PATTERN};
use crate::api::locations::parked;
use crate::api::pagination::{Page, Paged};
use crate::api::routes::{params, RouteDoc, Routes};
use crate::api::state::AppState;
use crate::api::vehicles::model::{self, Vehicle};

/// A page (after id `$1`) of vehicles with no commitment overlapping `[$5, $6)`, nor out
/// (rented or under maintenance) at `$8` (now) beyond what they are committed to; among
/// `$9` when it is not NULL (the vehicles parked at a location).
const FREE: &str = concatcp!(
    "SELECT ",
    model::COLUMNS,
    " FROM vehicles v
     WHERE v.deleted_at IS NULL AND v.status <> 'decommissioned' AND v.id > $1
       AND ($2::text IS NULL OR v.type = $2)
       AND ($3::int IS NULL OR v.seats >= $3)
       AND ($4::int IS NULL OR v.load_kg >= $4)
       AND ($9::text[] IS NULL OR v.id = ANY($9::text[]))
       AND NOT EXISTS (SELECT 1 FROM vehicle_commitments c
                       WHERE c.vehicle_id = v.id AND c.period && tstzrange($5, $6, '[)'))
       AND NOT (v.status IN ('rented', 'under_maintenance')
                AND NOT EXISTS (SELECT 1 FROM vehicle_commitments c
                                WHERE c.vehicle_id = v.id AND c.period @> $8::timestamptz))
     ORDER BY v.id LIMIT $7"
);

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[serde(rename = "type")]
    #[schemars(regex(pattern = NO_NUL_PATTERN))]
    pub kind: Option<String>,
    #[schemars(range(min = i32::MIN, max = i32::MAX))]
    pub min_seats: Option<i32>,
    #[schemars(range(min = i32::MIN, max = i32::MAX))]
    pub min_load_kg: Option<i32>,
    /// Only vehicles parked at this location now.
    pub location_id: Option<Uuid>,
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Vehicles with no commitment overlapping `[from, to)` that are not decommissioned.
async fn availability(
    State(state): State<Arc<AppState>>,
    _: Caller,
    ApiQuery(q): ApiQuery<AvailabilityQuery>,
) -> Result<Json<Paged<Vehicle>>, ApiError> {
    window(q.from, q.to, MAX_DAYS).map_err(|e| ApiError::invalid("to", e.message))?;
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let client = state.pool.get().await?;
    let parked = match q.location_id {
        Some(l) => Some(parked::vehicles_at(&**client, l, "location_id").await?),
        None => None,
    };
    let rows = client
        .query(
            FREE,
            &[
                &page.after_or_min(),
                &q.kind,
                &q.min_seats,
                &q.min_load_kg,
                &q.from,
                &q.to,
                &page.fetch(),
                &state.clock.now(),
                &parked,
            ],
        )
        .await?;
    let items = rows
        .iter()
        .map(model::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(page.finish(items, |v| v.id.clone())))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc {
            params: Some(params::<AvailabilityQuery>),
            required_query: &[
                ("from", "window start, RFC 3339"),
                ("to", "window end, RFC 3339"),
            ],
            query: &[
                ("type", "vehicle type"),
                ("min_seats", "at least this many seats"),
                ("min_load_kg", "at least this load"),
                (
                    "location_id",
                    "only vehicles parked at this location now (inside its geofence, or \
                     within 200 m of its point), by their latest position",
                ),
                ("limit", "items per page, 1..=200 (default 50)"),
                ("cursor", "next_cursor from the previous page"),
            ],
            response: Some(|g| g.subschema_for::<Paged<Vehicle>>()),
            errors: &[422],
            ..RouteDoc::new(
                "GET",
                "/v1/availability",
                "Vehicles free for the whole window",
                ANY,
            )
        },
        availability,
    )
}
