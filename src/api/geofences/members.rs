//! Who is inside: `GET /v1/geofences/{id}/vehicles` and `GET /v1/vehicles/{id}/geofences`
//! (staff), from the memberships the engine commits with its events
//! (`geofence_members`, migrations/0022_geofence_members.sql).

use axum::extract::Path;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::routes::id;
use crate::api::auth::{Caller, STAFF};
use crate::api::error::ApiError;
use crate::api::extract::ApiQuery;
use crate::api::middleware::txn::Db;
use crate::api::pagination::{Page, Paged};
use crate::api::routes::{RouteDoc, Routes};

/// A vehicle inside a fence.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Inside {
    pub vehicle_id: String,
    /// The time of the reading that entered.
    pub entered_at: DateTime<Utc>,
    /// Whether this visit has lasted the fence's `dwell_s` (and raised `geofence.dwell`).
    pub dwelled: bool,
}

/// A fence a vehicle is inside.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Within {
    pub geofence_id: Uuid,
    pub name: String,
    pub entered_at: DateTime<Utc>,
    pub dwelled: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

const FENCE: &str = "SELECT 1 FROM geofences WHERE id = $1";
const VEHICLES: &str = "SELECT vehicle_id, entered_at, dwelled FROM geofence_members
     WHERE geofence_id = $1 AND vehicle_id > $2 ORDER BY vehicle_id LIMIT $3";
const VEHICLE: &str = "SELECT 1 FROM vehicles WHERE id = $1 AND deleted_at IS NULL";
const FENCES: &str = "SELECT g.id, g.name, m.entered_at, m.dwelled
      FROM geofence_members m JOIN geofences g ON g.id = m.geofence_id
     WHERE m.vehicle_id = $1 ORDER BY g.name, g.id";

async fn inside(
    _: Caller,
    db: Db,
    Path(raw): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Paged<Inside>>, ApiError> {
    let fence = id(&raw)?;
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let tx = db.tx().await?;
    if tx.query_opt(FENCE, &[&fence]).await?.is_none() {
        return Err(ApiError::not_found("geofence"));
    }
    let rows = tx
        .query(VEHICLES, &[&fence, &page.after_or_min(), &page.fetch()])
        .await?;
    let items = rows
        .iter()
        .map(|r| Inside {
            vehicle_id: r.get(0),
            entered_at: r.get(1),
            dwelled: r.get(2),
        })
        .collect();
    Ok(Json(page.finish(items, |i| i.vehicle_id.clone())))
}

async fn within(
    _: Caller,
    db: Db,
    Path(vehicle): Path<String>,
) -> Result<Json<Vec<Within>>, ApiError> {
    let tx = db.tx().await?;
    if tx.query_opt(VEHICLE, &[&vehicle]).await?.is_none() {
        return Err(ApiError::not_found("vehicle"));
    }
    let rows = tx.query(FENCES, &[&vehicle]).await?;
    Ok(Json(
        rows.iter()
            .map(|r| Within {
                geofence_id: r.get(0),
                name: r.get(1),
                entered_at: r.get(2),
                dwelled: r.get(3),
            })
            .collect(),
    ))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc {
            errors: &[404, 422],
            ..RouteDoc::list::<Inside, PageQuery>(
                "/v1/geofences/{id}/vehicles",
                "The vehicles inside a geofence now, by vehicle id",
                STAFF,
                &[
                    ("limit", "items per page, 1..=200 (default 50)"),
                    ("cursor", "next_cursor from the previous page"),
                ],
            )
        },
        inside,
    )
    .add(
        RouteDoc::read::<Vec<Within>>(
            "/v1/vehicles/{id}/geofences",
            "The geofences a vehicle is inside now, by name",
            STAFF,
        ),
        within,
    )
}
