//! Vehicles: the registry (id = the tracker's vehicle id), soft delete. Lifecycle and
//! odometer are in [`super::status`].

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use const_format::concatcp;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use super::vin;
use crate::api::auth::{Caller, ADMIN, ANY, STAFF};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::{
    int_range, text, vehicle_id, ApiJson, ApiQuery, NO_NUL_PATTERN, TEXT_PATTERN,
    VEHICLE_ID_PATTERN, VIN_PATTERN,
};
use crate::api::middleware::txn::Db;
use crate::api::pagination::{Page, Paged};
use crate::api::routes::{RouteDoc, Routes};
use crate::api::state::AppState;
use crate::events::{self, Kind};

use super::model::{from_row, specs_problem, SpecsSchema, Vehicle, VehicleStatus, COLUMNS, GET};
use super::status::ensure_driverless;

/// `POST /v1/vehicles` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVehicle {
    /// The tracker's vehicle id: 1-64 characters of `[A-Za-z0-9._-]`.
    #[schemars(length(min = 1, max = 64), regex(pattern = VEHICLE_ID_PATTERN))]
    pub id: String,
    #[schemars(length(max = 20), regex(pattern = TEXT_PATTERN))]
    pub plate: String,
    /// 17 characters with a valid North American check digit (upper-cased on the way in).
    #[schemars(regex(pattern = VIN_PATTERN))]
    pub vin: String,
    #[schemars(length(max = 100), regex(pattern = TEXT_PATTERN))]
    pub make: String,
    #[schemars(length(max = 100), regex(pattern = TEXT_PATTERN))]
    pub model: String,
    #[schemars(range(min = 1886, max = 2100))]
    pub year: i32,
    #[serde(rename = "type")]
    #[schemars(length(max = 50), regex(pattern = TEXT_PATTERN))]
    pub kind: String,
    #[schemars(range(min = 0, max = 1000))]
    pub seats: i32,
    #[schemars(range(min = 0, max = 1_000_000))]
    pub load_kg: i32,
    /// A JSON object of at most 16 KiB (serialized); `null` or absent is `{}`.
    #[serde(default)]
    #[schemars(with = "Option<SpecsSchema>")]
    pub specs: Option<Value>,
}

/// `PATCH /v1/vehicles/{id}` body: the fields to change.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateVehicle {
    #[schemars(length(max = 20), regex(pattern = TEXT_PATTERN))]
    pub plate: Option<String>,
    /// 17 characters with a valid North American check digit (upper-cased on the way in).
    #[schemars(regex(pattern = VIN_PATTERN))]
    pub vin: Option<String>,
    #[schemars(length(max = 100), regex(pattern = TEXT_PATTERN))]
    pub make: Option<String>,
    #[schemars(length(max = 100), regex(pattern = TEXT_PATTERN))]
    pub model: Option<String>,
    #[schemars(range(min = 1886, max = 2100))]
    pub year: Option<i32>,
    #[serde(rename = "type")]
    #[schemars(length(max = 50), regex(pattern = TEXT_PATTERN))]
    pub kind: Option<String>,
    #[schemars(range(min = 0, max = 1000))]
    pub seats: Option<i32>,
    #[schemars(range(min = 0, max = 1_000_000))]
    pub load_kg: Option<i32>,
    /// Replaces the whole object: a JSON object of at most 16 KiB (serialized); `null` keeps it.
    #[schemars(with = "Option<SpecsSchema>")]
    pub specs: Option<Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    #[serde(rename = "type")]
    #[schemars(regex(pattern = NO_NUL_PATTERN))]
    pub kind: Option<String>,
    pub status: Option<VehicleStatus>,
    /// A JSON object the vehicle's specs must contain (`@>`).
    #[schemars(with = "Option<SpecsSchema>")]
    pub specs: Option<String>,
    #[schemars(range(min = i32::MIN, max = i32::MAX))]
    pub min_seats: Option<i32>,
    #[schemars(range(min = i32::MIN, max = i32::MAX))]
    pub min_load_kg: Option<i32>,
}

pub const LIST_PARAMS: &[(&str, &str)] = &[
    ("limit", "items per page, 1..=200 (default 50)"),
    ("cursor", "next_cursor from the previous page"),
    ("type", "vehicle type"),
    (
        "status",
        "active, rented, under_maintenance or decommissioned",
    ),
    (
        "specs",
        "JSON object the specs must contain, e.g. {\"fuel\":\"diesel\"}",
    ),
    ("min_seats", "at least this many seats"),
    ("min_load_kg", "at least this load"),
];

const INSERT: &str = concatcp!(
    "INSERT INTO vehicles (id, plate, vin, make, model, year, type, seats, load_kg, specs)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ",
    COLUMNS
);
/// A page of live vehicles after id `$1`, each filter applying when not NULL.
const LIST: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM vehicles
     WHERE deleted_at IS NULL AND id > $1
       AND ($2::text IS NULL OR type = $2)
       AND ($3::text IS NULL OR status = $3)
       AND ($4::jsonb IS NULL OR specs @> $4)
       AND ($5::int IS NULL OR seats >= $5)
       AND ($6::int IS NULL OR load_kg >= $6)
     ORDER BY id LIMIT $7"
);
/// Changes the fields given (not NULL).
const UPDATE: &str = concatcp!(
    "UPDATE vehicles SET plate = coalesce($2, plate), vin = coalesce($3, vin),
        make = coalesce($4, make), model = coalesce($5, model),
        year = coalesce($6, year), type = coalesce($7, type),
        seats = coalesce($8, seats), load_kg = coalesce($9, load_kg),
        specs = coalesce($10, specs), updated_at = now()
     WHERE id = $1 AND deleted_at IS NULL RETURNING ",
    COLUMNS
);
const LOCK_FOR_DELETE: &str =
    "SELECT 1 FROM vehicles WHERE id = $1 AND deleted_at IS NULL FOR UPDATE";
const SOFT_DELETE: &str =
    "UPDATE vehicles SET deleted_at = now(), updated_at = now() WHERE id = $1";

fn check_vin(v: &str) -> Result<String, ApiError> {
    let v = v.trim().to_ascii_uppercase();
    vin::validate(&v).map_err(|e| ApiError::invalid("vin", e))?;
    Ok(v)
}

fn check_specs(specs: &Value) -> Result<(), ApiError> {
    if let Some(problem) = specs_problem(specs) {
        return Err(ApiError::invalid("specs", problem));
    }
    if specs.to_string().len() > 16 * 1024 {
        return Err(ApiError::invalid("specs", "at most 16 KiB"));
    }
    Ok(())
}

/// Each number that is given must be in its range; a patch leaves out the ones it keeps.
fn check_numbers(
    year: Option<i32>,
    seats: Option<i32>,
    load_kg: Option<i32>,
) -> Result<(), ApiError> {
    let ranges = [
        ("year", year, 1886, 2100),
        ("seats", seats, 0, 1_000),
        ("load_kg", load_kg, 0, 1_000_000),
    ];
    for (field, value, min, max) in ranges {
        if let Some(v) = value {
            int_range(field, v.into(), min, max)?;
        }
    }
    Ok(())
}

async fn create(
    _: Caller,
    db: Db,
    ApiJson(req): ApiJson<CreateVehicle>,
) -> Result<(StatusCode, Json<Vehicle>), ApiError> {
    vehicle_id("id", &req.id)?;
    let plate = text("plate", &req.plate, 20)?;
    let vin = check_vin(&req.vin)?;
    let make = text("make", &req.make, 100)?;
    let model = text("model", &req.model, 100)?;
    let kind = text("type", &req.kind, 50)?;
    check_numbers(Some(req.year), Some(req.seats), Some(req.load_kg))?;
    let specs = req
        .specs
        .unwrap_or_else(|| Value::Object(Default::default()));
    check_specs(&specs)?;
    let tx = db.tx().await?;
    let row = tx
        .query_one(
            INSERT,
            &[
                &req.id,
                &plate,
                &vin,
                &make,
                &model,
                &req.year,
                &kind,
                &req.seats,
                &req.load_kg,
                &specs,
            ],
        )
        .await?;
    let vehicle = from_row(&row)?;
    let payload = json!({ "vehicle": &vehicle });
    events::emit(&*tx, Kind::VehicleRegistered, &vehicle.id, payload).await?;
    Ok((StatusCode::CREATED, Json(vehicle)))
}

async fn list(
    State(state): State<Arc<AppState>>,
    _: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Paged<Vehicle>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let specs: Option<Value> = match q.specs.as_deref() {
        None => None,
        Some(s) => {
            let v: Value = serde_json::from_str(s)
                .map_err(|_| ApiError::invalid("specs", "must be a JSON object"))?;
            check_specs(&v)?;
            Some(v)
        }
    };
    let client = state.pool.get().await?;
    let rows = client
        .query(
            LIST,
            &[
                &page.after_or_min(),
                &q.kind,
                &q.status.map(|s| s.as_str()),
                &specs,
                &q.min_seats,
                &q.min_load_kg,
                &page.fetch(),
            ],
        )
        .await?;
    let items = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(page.finish(items, |v| v.id.clone())))
}

async fn get(
    State(state): State<Arc<AppState>>,
    _: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vehicle>, ApiError> {
    let client = state.pool.get().await?;
    let row = client
        .query_opt(GET, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("vehicle"))?;
    Ok(Json(from_row(&row)?))
}

async fn update(
    _: Caller,
    db: Db,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateVehicle>,
) -> Result<Json<Vehicle>, ApiError> {
    let plate = req
        .plate
        .as_deref()
        .map(|p| text("plate", p, 20))
        .transpose()?;
    let vin = req.vin.as_deref().map(check_vin).transpose()?;
    let make = req
        .make
        .as_deref()
        .map(|p| text("make", p, 100))
        .transpose()?;
    let model = req
        .model
        .as_deref()
        .map(|p| text("model", p, 100))
        .transpose()?;
    let kind = req
        .kind
        .as_deref()
        .map(|p| text("type", p, 50))
        .transpose()?;
    check_numbers(req.year, req.seats, req.load_kg)?;
    if let Some(s) = &req.specs {
        check_specs(s)?;
    }
    let row = db
        .tx()
        .await?
        .query_opt(
            UPDATE,
            &[
                &id,
                &plate,
                &vin,
                &make,
                &model,
                &req.year,
                &kind,
                &req.seats,
                &req.load_kg,
                &req.specs,
            ],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("vehicle"))?;
    Ok(Json(from_row(&row)?))
}

/// Soft delete; refused (409) while the vehicle has commitments.
async fn delete(
    State(state): State<Arc<AppState>>,
    _: Caller,
    db: Db,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let tx = db.tx().await?;
    tx.query_opt(LOCK_FOR_DELETE, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("vehicle"))?;
    crate::api::rules::commitments::ensure_uncommitted(&tx, &id).await?;
    ensure_driverless(&tx, &id).await?;
    super::trackers::revoke(&state, &tx, &id).await?;
    tx.execute(SOFT_DELETE, &[&id]).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc::create::<CreateVehicle, Vehicle>("/v1/vehicles", "Register a vehicle", STAFF)
            .conflicts(&[ErrorCode::AlreadyExists]),
        create,
    )
    .add(
        RouteDoc::list::<Vehicle, ListQuery>("/v1/vehicles", "List vehicles", ANY, LIST_PARAMS),
        list,
    )
    .add(
        RouteDoc::read::<Vehicle>("/v1/vehicles/{id}", "A vehicle", ANY),
        get,
    )
    .add(
        RouteDoc::change::<UpdateVehicle, Vehicle>(
            "PATCH",
            "/v1/vehicles/{id}",
            "Update a vehicle",
            STAFF,
        )
        .conflicts(&[ErrorCode::AlreadyExists]),
        update,
    )
    .add(
        RouteDoc::delete(
            "/v1/vehicles/{id}",
            "Soft-delete a vehicle (409 vehicle_committed while it holds a commitment, \
                 409 vehicle_in_use while a driver has it as their current vehicle)",
            ADMIN,
        )
        .conflicts(&[ErrorCode::VehicleCommitted, ErrorCode::VehicleInUse]),
        delete,
    )
}
