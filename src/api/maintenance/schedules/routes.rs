//! `/v1/maintenance-schedules` (staff): create, list (by vehicle or type), read, change and
//! delete preventive maintenance schedules. Deletion is soft: jobs linked to a schedule keep
//! their `schedule_id`, and the schedule leaves `GET /v1/maintenance/due` at once.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use const_format::concatcp;
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::model::{self, CreateSchedule, Fields, MaintenanceSchedule, Target, UpdateSchedule};
use crate::api::auth::{Caller, STAFF};
use crate::api::error::ApiError;
use crate::api::extract::{text, ApiJson, ApiQuery, NO_NUL_PATTERN, TEXT_PATTERN};
use crate::api::middleware::txn::Db;
use crate::api::now::Now;
use crate::api::pagination::{Page, Paged};
use crate::api::routes::{RouteDoc, Routes};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only the schedules that apply to this vehicle: its own and its type's.
    #[schemars(regex(pattern = NO_NUL_PATTERN))]
    pub vehicle_id: Option<String>,
    /// Only the schedules for this vehicle type.
    #[schemars(length(min = 1, max = 50), regex(pattern = TEXT_PATTERN))]
    pub vehicle_type: Option<String>,
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

const COLUMNS: &str = "s.id, s.name, s.vehicle_id, s.vehicle_type, s.every_km, s.every_months, \
                       s.lead_km, s.lead_days, s.created_at, s.updated_at";
const GET: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM maintenance_schedules s WHERE s.id = $1 AND s.deleted_at IS NULL"
);
/// A page after id `$1`; `$3`: those applying to vehicle `$3`; `$4`: those for type `$4`.
const LIST: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM maintenance_schedules s
     WHERE s.deleted_at IS NULL AND ($1::uuid IS NULL OR s.id > $1)
       AND ($3::text IS NULL OR s.vehicle_id = $3
            OR s.vehicle_type = (SELECT type FROM vehicles WHERE id = $3 AND deleted_at IS NULL))
       AND ($4::text IS NULL OR s.vehicle_type = $4)
     ORDER BY s.id LIMIT $2"
);
const UPSERT: &str = "INSERT INTO maintenance_schedules AS s (id, name, vehicle_id, vehicle_type,
        every_km, every_months, lead_km, lead_days, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, vehicle_id = EXCLUDED.vehicle_id,
        vehicle_type = EXCLUDED.vehicle_type, every_km = EXCLUDED.every_km,
        every_months = EXCLUDED.every_months, lead_km = EXCLUDED.lead_km,
        lead_days = EXCLUDED.lead_days, updated_at = EXCLUDED.updated_at";
const DELETE: &str = "UPDATE maintenance_schedules SET deleted_at = $2, updated_at = $2
                      WHERE id = $1 AND deleted_at IS NULL";
/// Shared-locked, so the vehicle cannot be deleted while a schedule for it is written.
const VEHICLE: &str = "SELECT 1 FROM vehicles WHERE id = $1 AND deleted_at IS NULL FOR SHARE";

pub fn from_row(row: &tokio_postgres::Row) -> MaintenanceSchedule {
    MaintenanceSchedule {
        id: row.get("id"),
        name: row.get("name"),
        vehicle_id: row.get("vehicle_id"),
        vehicle_type: row.get("vehicle_type"),
        every_km: row.get("every_km"),
        every_months: row.get("every_months"),
        lead_km: row.get("lead_km"),
        lead_days: row.get("lead_days"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// The id in a path (404 when it is not a UUID).
fn id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("maintenance schedule"))
}

/// Checks `f` and writes it as schedule `id`. A new target vehicle (`new_target`) must be
/// registered; a schedule whose vehicle was deleted since can still be changed otherwise.
async fn write(
    tx: &tokio_postgres::Client,
    id: Uuid,
    f: Fields,
    new_target: bool,
    now: DateTime<Utc>,
) -> Result<MaintenanceSchedule, ApiError> {
    let f = f.checked()?;
    let (vehicle, kind) = match &f.target {
        Target::Vehicle(v) => {
            if new_target && tx.query_opt(VEHICLE, &[v]).await?.is_none() {
                return Err(ApiError::invalid("vehicle_id", format!("no vehicle {v}")));
            }
            (Some(v), None)
        }
        Target::Type(t) => (None, Some(t)),
    };
    tx.execute(
        UPSERT,
        &[
            &id,
            &f.name,
            &vehicle,
            &kind,
            &f.every_km,
            &f.every_months,
            &f.lead_km,
            &f.lead_days,
            &now,
        ],
    )
    .await?;
    Ok(from_row(&tx.query_one(GET, &[&id]).await?))
}

async fn create(
    _: Caller,
    Now(now): Now,
    db: Db,
    ApiJson(req): ApiJson<CreateSchedule>,
) -> Result<(StatusCode, Json<MaintenanceSchedule>), ApiError> {
    let fields = Fields {
        name: req.name,
        target: model::target(req.vehicle_id.as_deref(), req.vehicle_type.as_deref())?,
        every_km: req.every_km,
        every_months: req.every_months,
        lead_km: req.lead_km.unwrap_or(0),
        lead_days: req.lead_days.unwrap_or(0),
    };
    let tx = db.tx().await?;
    let schedule = write(&tx, Uuid::new_v4(), fields, true, now).await?;
    Ok((StatusCode::CREATED, Json(schedule)))
}

async fn list(
    _: Caller,
    db: Db,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Paged<MaintenanceSchedule>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let kind = q
        .vehicle_type
        .as_deref()
        .map(|t| text("vehicle_type", t, 50))
        .transpose()?;
    let tx = db.tx().await?;
    let rows = tx
        .query(
            LIST,
            &[&page.after_uuid()?, &page.fetch(), &q.vehicle_id, &kind],
        )
        .await?;
    let items = rows.iter().map(from_row).collect();
    Ok(Json(page.finish(items, |s| s.id.to_string())))
}

async fn get(
    _: Caller,
    db: Db,
    Path(raw): Path<String>,
) -> Result<Json<MaintenanceSchedule>, ApiError> {
    let id = id(&raw)?;
    let row = db
        .tx()
        .await?
        .query_opt(GET, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("maintenance schedule"))?;
    Ok(Json(from_row(&row)))
}

async fn update(
    _: Caller,
    Now(now): Now,
    db: Db,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<UpdateSchedule>,
) -> Result<Json<MaintenanceSchedule>, ApiError> {
    let id = id(&raw)?;
    let tx = db.tx().await?;
    let old = tx
        .query_opt(concatcp!(GET, " FOR UPDATE"), &[&id])
        .await?
        .map(|row| from_row(&row))
        .ok_or_else(|| ApiError::not_found("maintenance schedule"))?;
    let old_target = match (old.vehicle_id, old.vehicle_type) {
        (Some(v), _) => Target::Vehicle(v),
        (None, Some(t)) => Target::Type(t),
        (None, None) => unreachable!("the table holds one target"),
    };
    let target = match (req.vehicle_id.as_deref(), req.vehicle_type.as_deref()) {
        (None, None) => old_target.clone(),
        (vehicle, kind) => model::target(vehicle, kind)?,
    };
    let new_target = target != old_target;
    let fields = Fields {
        name: req.name.unwrap_or(old.name),
        target,
        every_km: req.every_km.unwrap_or(old.every_km),
        every_months: req.every_months.unwrap_or(old.every_months),
        lead_km: req.lead_km.unwrap_or(old.lead_km),
        lead_days: req.lead_days.unwrap_or(old.lead_days),
    };
    Ok(Json(write(&tx, id, fields, new_target, now).await?))
}

async fn delete(
    _: Caller,
    Now(now): Now,
    db: Db,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = id(&raw)?;
    match db.tx().await?.execute(DELETE, &[&id, &now]).await? {
        0 => Err(ApiError::not_found("maintenance schedule")),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

pub fn routes(r: Routes) -> Routes {
    const PATH: &str = "/v1/maintenance-schedules";
    const ONE: &str = "/v1/maintenance-schedules/{id}";
    r.add(
        RouteDoc::create::<CreateSchedule, MaintenanceSchedule>(
            PATH,
            "Create a preventive maintenance schedule: every N km and/or every N months, for \
             a vehicle or every vehicle of a type",
            STAFF,
        ),
        create,
    )
    .add(
        RouteDoc::list::<MaintenanceSchedule, ListQuery>(
            PATH,
            "List preventive maintenance schedules",
            STAFF,
            &[
                ("limit", "items per page, 1..=200 (default 50)"),
                ("cursor", "next_cursor from the previous page"),
                (
                    "vehicle_id",
                    "only those that apply to this vehicle (its own and its type's)",
                ),
                ("vehicle_type", "only those for this vehicle type"),
            ],
        ),
        list,
    )
    .add(
        RouteDoc::read::<MaintenanceSchedule>(ONE, "A preventive maintenance schedule", STAFF),
        get,
    )
    .add(
        RouteDoc::change::<UpdateSchedule, MaintenanceSchedule>(
            "PATCH",
            ONE,
            "Change a schedule (a new vehicle_id or vehicle_type replaces the target)",
            STAFF,
        ),
        update,
    )
    .add(
        RouteDoc::delete(
            ONE,
            "Delete a schedule (linked jobs keep their schedule_id)",
            STAFF,
        ),
        delete,
    )
}
