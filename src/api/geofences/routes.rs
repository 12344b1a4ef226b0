//! `/v1/geofences` (staff): create, list (by tag), read, change and delete fences. Each
//! write notifies `fleetd_geofences` (migrations/0021_geofences.sql) and moves
//! `geofence_version` (migrations/0022_geofence_members.sql), which every daemon's engine
//! checks before it evaluates readings.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use const_format::concatcp;
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::model::{self, Area, CreateGeofence, Geofence, Selector, UpdateGeofence};
use crate::api::auth::{Caller, STAFF};
use crate::api::dispatch::jobs::Point;
use crate::api::error::ApiError;
use crate::api::extract::{ApiJson, ApiQuery, TEXT_PATTERN};
use crate::api::middleware::txn::Db;
use crate::api::pagination::{Page, Paged};
use crate::api::routes::{RouteDoc, Routes};
use crate::api::AppState;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only fences with this tag.
    #[schemars(length(min = 1, max = 64), regex(pattern = TEXT_PATTERN))]
    pub tag: Option<String>,
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

const COLUMNS: &str = "g.id, g.name, g.tags, ST_Y(g.center::geometry) AS lat,
     ST_X(g.center::geometry) AS lon, g.radius_m, g.geojson, g.speed_limit_kmh,
     g.vehicle_types, g.vehicle_ids, g.dwell_s, g.hysteresis_m, g.created_at, g.updated_at";
const GET: &str = concatcp!("SELECT ", COLUMNS, " FROM geofences g WHERE g.id = $1");
const LIST: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM geofences g WHERE ($1::uuid IS NULL OR g.id > $1)
        AND ($3::text IS NULL OR g.tags @> ARRAY[$3::text])
      ORDER BY g.id LIMIT $2"
);
/// Writes every column from the parameters; the area from the circle ($3 lat, $4 lon, $5
/// radius) or the GeoJSON ($6). In `INSERT … SELECT` nothing gives the parameters a type,
/// hence the casts.
const UPSERT: &str = "INSERT INTO geofences AS g (id, name, tags, center, radius_m, geojson, area,
        speed_limit_kmh, vehicle_types, vehicle_ids, dwell_s, hysteresis_m, created_at, updated_at)
     SELECT $1::uuid, $2::text, $7::text[], c, $5::float8, $6::jsonb,
            coalesce(ST_Buffer(c, $5::float8, 'quad_segs=16'),
                     ST_GeomFromGeoJSON($6::jsonb::text)::geography),
            $8::float8, $9::text[], $10::text[], $11::int4, $12::float8, $13::timestamptz,
            $13::timestamptz
       FROM (SELECT CASE WHEN $3::float8 IS NULL THEN NULL
                         ELSE ST_SetSRID(ST_MakePoint($4::float8, $3::float8), 4326)::geography
                    END AS c) AS circle
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, tags = EXCLUDED.tags,
        center = EXCLUDED.center, radius_m = EXCLUDED.radius_m, geojson = EXCLUDED.geojson,
        area = EXCLUDED.area, speed_limit_kmh = EXCLUDED.speed_limit_kmh,
        vehicle_types = EXCLUDED.vehicle_types, vehicle_ids = EXCLUDED.vehicle_ids,
        dwell_s = EXCLUDED.dwell_s, hysteresis_m = EXCLUDED.hysteresis_m,
        updated_at = EXCLUDED.updated_at";
const DELETE: &str = "DELETE FROM geofences WHERE id = $1";

fn from_row(row: &tokio_postgres::Row) -> Geofence {
    let lat: Option<f64> = row.get("lat");
    let lon: Option<f64> = row.get("lon");
    let types: Option<Vec<String>> = row.get("vehicle_types");
    let ids: Option<Vec<String>> = row.get("vehicle_ids");
    Geofence {
        id: row.get("id"),
        name: row.get("name"),
        tags: row.get("tags"),
        center: lat.zip(lon).map(|(lat, lon)| Point { lat, lon }),
        radius_m: row.get("radius_m"),
        geometry: row.get("geojson"),
        speed_limit_kmh: row.get("speed_limit_kmh"),
        selector: Selector {
            vehicle_types: types.unwrap_or_default(),
            vehicle_ids: ids.unwrap_or_default(),
        },
        dwell_s: row.get("dwell_s"),
        hysteresis_m: row.get("hysteresis_m"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// The id in a path (404 when it is not a UUID).
pub fn id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("geofence"))
}

/// Everything a fence row holds, checked.
struct Fields {
    name: String,
    tags: Vec<String>,
    area: Area,
    speed_limit_kmh: Option<f64>,
    selector: Selector,
    dwell_s: Option<i32>,
    hysteresis_m: f64,
}

async fn write(
    tx: &tokio_postgres::Client,
    id: Uuid,
    f: &Fields,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Geofence, ApiError> {
    let (lat, lon, radius, geojson) = match &f.area {
        Area::Circle { center, radius_m } => {
            (Some(center.lat), Some(center.lon), Some(*radius_m), None)
        }
        Area::Polygon { geojson } => (None, None, None, Some(geojson)),
    };
    let (types, ids) = if f.selector.is_all() {
        (None, None)
    } else {
        (
            Some(&f.selector.vehicle_types),
            Some(&f.selector.vehicle_ids),
        )
    };
    tx.execute(
        UPSERT,
        &[
            &id,
            &f.name,
            &lat,
            &lon,
            &radius,
            &geojson,
            &f.tags,
            &f.speed_limit_kmh,
            &types,
            &ids,
            &f.dwell_s,
            &f.hysteresis_m,
            &now,
        ],
    )
    .await?;
    Ok(from_row(&tx.query_one(GET, &[&id]).await?))
}

async fn create(
    State(state): State<Arc<AppState>>,
    _: Caller,
    db: Db,
    ApiJson(req): ApiJson<CreateGeofence>,
) -> Result<(StatusCode, Json<Geofence>), ApiError> {
    let fields = Fields {
        name: model::name(&req.name)?,
        tags: model::tags(&req.tags)?,
        area: Area::from_fields(req.center, req.radius_m, req.geometry.as_ref())?,
        speed_limit_kmh: req.speed_limit_kmh.map(model::speed_limit).transpose()?,
        selector: model::selector(&req.selector)?,
        dwell_s: req.dwell_s.map(model::dwell).transpose()?,
        hysteresis_m: model::hysteresis(req.hysteresis_m.unwrap_or(0.0))?,
    };
    let tx = db.tx().await?;
    let fence = write(&tx, Uuid::new_v4(), &fields, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(fence)))
}

async fn list(
    _: Caller,
    db: Db,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Paged<Geofence>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let tag = q
        .tag
        .as_deref()
        .map(|t| crate::api::extract::text("tag", t, 64))
        .transpose()?;
    let tx = db.tx().await?;
    let rows = tx
        .query(LIST, &[&page.after_uuid()?, &page.fetch(), &tag])
        .await?;
    let items = rows.iter().map(from_row).collect();
    Ok(Json(page.finish(items, |g| g.id.to_string())))
}

async fn get(_: Caller, db: Db, Path(raw): Path<String>) -> Result<Json<Geofence>, ApiError> {
    let id = id(&raw)?;
    let row = db
        .tx()
        .await?
        .query_opt(GET, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("geofence"))?;
    Ok(Json(from_row(&row)))
}

async fn update(
    State(state): State<Arc<AppState>>,
    _: Caller,
    db: Db,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<UpdateGeofence>,
) -> Result<Json<Geofence>, ApiError> {
    let id = id(&raw)?;
    let tx = db.tx().await?;
    let row = tx
        .query_opt(concatcp!(GET, " FOR UPDATE"), &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("geofence"))?;
    let old = from_row(&row);
    let area = match (&req.geometry, req.center, req.radius_m) {
        (None, None, None) => match (old.center, old.radius_m, old.geometry) {
            (Some(center), Some(radius_m), _) => Area::Circle { center, radius_m },
            (_, _, Some(geojson)) => Area::Polygon { geojson },
            _ => unreachable!("the table holds a circle or a geometry"),
        },
        // A circle keeps what is not given of its centre and radius; a polygon becoming a
        // circle needs both.
        (None, center, radius) => {
            Area::from_fields(center.or(old.center), radius.or(old.radius_m), None)?
        }
        (Some(g), None, None) => Area::from_fields(None, None, Some(g))?,
        (Some(_), _, _) => {
            return Err(ApiError::invalid(
                "geometry",
                "give a circle (center and radius_m) or a geometry, not both",
            ))
        }
    };
    let fields = Fields {
        name: req
            .name
            .as_deref()
            .map(model::name)
            .transpose()?
            .unwrap_or(old.name),
        tags: req
            .tags
            .as_deref()
            .map(model::tags)
            .transpose()?
            .unwrap_or(old.tags),
        area,
        speed_limit_kmh: match req.speed_limit_kmh {
            None => old.speed_limit_kmh,
            Some(v) => v.map(model::speed_limit).transpose()?,
        },
        selector: match &req.selector {
            None => old.selector,
            Some(s) => model::selector(s)?,
        },
        dwell_s: match req.dwell_s {
            None => old.dwell_s,
            Some(v) => v.map(model::dwell).transpose()?,
        },
        hysteresis_m: req
            .hysteresis_m
            .map(model::hysteresis)
            .transpose()?
            .unwrap_or(old.hysteresis_m),
    };
    Ok(Json(write(&tx, id, &fields, state.clock.now()).await?))
}

async fn delete(_: Caller, db: Db, Path(raw): Path<String>) -> Result<StatusCode, ApiError> {
    let id = id(&raw)?;
    match db.tx().await?.execute(DELETE, &[&id]).await? {
        0 => Err(ApiError::not_found("geofence")),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc::create::<CreateGeofence, Geofence>(
            "/v1/geofences",
            "Create a geofence: a circle or a GeoJSON Polygon or MultiPolygon",
            STAFF,
        ),
        create,
    )
    .add(
        RouteDoc::list::<Geofence, ListQuery>(
            "/v1/geofences",
            "List geofences",
            STAFF,
            &[
                ("limit", "items per page, 1..=200 (default 50)"),
                ("cursor", "next_cursor from the previous page"),
                ("tag", "only fences with this tag"),
            ],
        ),
        list,
    )
    .add(
        RouteDoc::read::<Geofence>("/v1/geofences/{id}", "A geofence", STAFF),
        get,
    )
    .add(
        RouteDoc::change::<UpdateGeofence, Geofence>(
            "PATCH",
            "/v1/geofences/{id}",
            "Change a geofence (a new area replaces the old one)",
            STAFF,
        ),
        update,
    )
    .add(
        RouteDoc::delete("/v1/geofences/{id}", "Delete a geofence", STAFF),
        delete,
    )
}
