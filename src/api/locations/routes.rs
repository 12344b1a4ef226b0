//! `/v1/locations`: staff create and change locations, anyone signed in lists and reads them
//! (a customer picks where a rental starts and ends), an admin deletes one that no rental
//! names (409 `location_in_use` otherwise: rentals keep where they started and ended).

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use const_format::concatcp;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::model::{self, CreateLocation, Location, LocationKind, UpdateLocation};
use crate::api::auth::{Caller, ADMIN, ANY, STAFF};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::{ApiJson, ApiQuery};
use crate::api::middleware::txn::Db;
use crate::api::now::Now;
use crate::api::pagination::{Page, Paged};
use crate::api::routes::{RouteDoc, Routes};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only locations of this kind.
    pub kind: Option<LocationKind>,
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

const GET: &str = concatcp!(
    "SELECT ",
    model::COLUMNS,
    " FROM locations l WHERE l.id = $1"
);
const LIST: &str = concatcp!(
    "SELECT ",
    model::COLUMNS,
    " FROM locations l WHERE ($1::uuid IS NULL OR l.id > $1)
        AND ($3::text IS NULL OR l.kind = $3)
      ORDER BY l.id LIMIT $2"
);
/// Inserts or rewrites every column ($4 lat, $5 lon; `created_at` is kept on a rewrite).
const UPSERT: &str = concatcp!(
    "INSERT INTO locations AS l (id, name, kind, point, geofence_id, address, created_at,
                                 updated_at)
     VALUES ($1::uuid, $2::text, $3::text,
             ST_SetSRID(ST_MakePoint($5::float8, $4::float8), 4326)::geography,
             $6::uuid, $7::text, $8::timestamptz, $8::timestamptz)
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
        point = EXCLUDED.point, geofence_id = EXCLUDED.geofence_id, address = EXCLUDED.address,
        updated_at = EXCLUDED.updated_at
     RETURNING ",
    model::COLUMNS
);
/// The geofence, locked against deletion until the location referring to it commits.
const FENCE: &str = "SELECT 1 FROM geofences WHERE id = $1 FOR KEY SHARE";
const DELETE: &str = "DELETE FROM locations WHERE id = $1";

/// The id in a path (404 when it is not a UUID).
pub fn id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("location"))
}

/// Everything a location row holds, checked.
struct Fields {
    name: String,
    kind: LocationKind,
    lat: f64,
    lon: f64,
    geofence_id: Option<Uuid>,
    address: Option<String>,
}

async fn write(
    tx: &tokio_postgres::Client,
    id: Uuid,
    f: &Fields,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Location, ApiError> {
    if let Some(fence) = f.geofence_id {
        if tx.query_opt(FENCE, &[&fence]).await?.is_none() {
            return Err(ApiError::invalid("geofence_id", "no such geofence"));
        }
    }
    let row = tx
        .query_one(
            UPSERT,
            &[
                &id,
                &f.name,
                &f.kind.as_str(),
                &f.lat,
                &f.lon,
                &f.geofence_id,
                &f.address,
                &now,
            ],
        )
        .await?;
    Ok(model::from_row(&row))
}

async fn create(
    _: Caller,
    Now(now): Now,
    db: Db,
    ApiJson(req): ApiJson<CreateLocation>,
) -> Result<(StatusCode, Json<Location>), ApiError> {
    let (lat, lon) = model::point(req.lat, req.lon)?;
    let fields = Fields {
        name: model::name(&req.name)?,
        kind: req.kind,
        lat,
        lon,
        geofence_id: req.geofence_id,
        address: req.address.as_deref().map(model::address).transpose()?,
    };
    let tx = db.tx().await?;
    let location = write(&tx, Uuid::new_v4(), &fields, now).await?;
    Ok((StatusCode::CREATED, Json(location)))
}

async fn list(
    _: Caller,
    db: Db,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Paged<Location>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let tx = db.tx().await?;
    let rows = tx
        .query(
            LIST,
            &[
                &page.after_uuid()?,
                &page.fetch(),
                &q.kind.map(LocationKind::as_str),
            ],
        )
        .await?;
    let items = rows.iter().map(model::from_row).collect();
    Ok(Json(page.finish(items, |l| l.id.to_string())))
}

async fn get(_: Caller, db: Db, Path(raw): Path<String>) -> Result<Json<Location>, ApiError> {
    let id = id(&raw)?;
    let row = db
        .tx()
        .await?
        .query_opt(GET, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("location"))?;
    Ok(Json(model::from_row(&row)))
}

async fn update(
    _: Caller,
    Now(now): Now,
    db: Db,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<UpdateLocation>,
) -> Result<Json<Location>, ApiError> {
    let id = id(&raw)?;
    let tx = db.tx().await?;
    let old = tx
        .query_opt(concatcp!(GET, " FOR UPDATE"), &[&id])
        .await?
        .map(|row| model::from_row(&row))
        .ok_or_else(|| ApiError::not_found("location"))?;
    let (lat, lon) = model::point(req.lat.unwrap_or(old.lat), req.lon.unwrap_or(old.lon))?;
    let fields = Fields {
        name: match req.name.as_deref() {
            Some(n) => model::name(n)?,
            None => old.name,
        },
        kind: req.kind.unwrap_or(old.kind),
        lat,
        lon,
        geofence_id: req.geofence_id.unwrap_or(old.geofence_id),
        address: match req.address {
            None => old.address,
            Some(a) => a.as_deref().map(model::address).transpose()?,
        },
    };
    Ok(Json(write(&tx, id, &fields, now).await?))
}

async fn delete(_: Caller, db: Db, Path(raw): Path<String>) -> Result<StatusCode, ApiError> {
    let id = id(&raw)?;
    let deleted = db.tx().await?.execute(DELETE, &[&id]).await.map_err(|e| {
        if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
            ApiError::new(
                ErrorCode::LocationInUse,
                "location is the origin or destination of rentals",
            )
        } else {
            e.into()
        }
    })?;
    match deleted {
        0 => Err(ApiError::not_found("location")),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc::create::<CreateLocation, Location>(
            "/v1/locations",
            "Create a location: a depot, city or custom point, optionally outlined by a geofence",
            STAFF,
        ),
        create,
    )
    .add(
        RouteDoc::list::<Location, ListQuery>(
            "/v1/locations",
            "List locations",
            ANY,
            &[
                ("kind", "only locations of this kind: depot, city or custom"),
                ("limit", "items per page, 1..=200 (default 50)"),
                ("cursor", "next_cursor from the previous page"),
            ],
        ),
        list,
    )
    .add(
        RouteDoc::read::<Location>("/v1/locations/{id}", "A location", ANY),
        get,
    )
    .add(
        RouteDoc::change::<UpdateLocation, Location>(
            "PATCH",
            "/v1/locations/{id}",
            "Change a location (null clears geofence_id or address)",
            STAFF,
        ),
        update,
    )
    .add(
        RouteDoc::delete(
            "/v1/locations/{id}",
            "Delete a location no rental starts or ends at (409 location_in_use otherwise)",
            ADMIN,
        )
        .conflicts(&[ErrorCode::LocationInUse]),
        delete,
    )
}
