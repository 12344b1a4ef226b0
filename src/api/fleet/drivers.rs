//! Drivers: a profile per user with role `driver`, licence, duty status and the vehicle
//! being driven. Dispatch reads `drivers.duty_status` and `drivers.current_vehicle_id`.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use const_format::concatcp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::auth::{Caller, Role, STAFF};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::{text, vehicle_id, ApiJson, ApiQuery, TEXT_PATTERN, VEHICLE_ID_PATTERN};
use crate::api::middleware::txn::Db;
use crate::api::now::Now;
use crate::api::pagination::{Page, Paged};
use crate::api::routes::{RouteDoc, Routes};
use crate::events;

/// Whether a driver can take work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DutyStatus {
    OffDuty,
    Available,
    Busy,
}

impl DutyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DutyStatus::OffDuty => "off_duty",
            DutyStatus::Available => "available",
            DutyStatus::Busy => "busy",
        }
    }

    fn parse(s: &str) -> Result<Self, ApiError> {
        [DutyStatus::OffDuty, DutyStatus::Available, DutyStatus::Busy]
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| ApiError::internal(format!("unknown duty status {s}")))
    }
}

/// A driver.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Driver {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub licence_number: String,
    pub licence_expiry: NaiveDate,
    pub duty_status: DutyStatus,
    pub current_vehicle_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/drivers` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDriver {
    /// A user with role `driver`, without a profile yet.
    pub user_id: Uuid,
    #[schemars(length(max = 200), regex(pattern = TEXT_PATTERN))]
    pub name: String,
    #[schemars(length(max = 50), regex(pattern = TEXT_PATTERN))]
    pub licence_number: String,
    /// Must not be in the past.
    pub licence_expiry: NaiveDate,
    pub duty_status: Option<DutyStatus>,
}

/// `PATCH /v1/drivers/{id}` body. Drivers may change only their own `duty_status` and
/// `current_vehicle_id` (to a vehicle they hold an assignment for covering now); staff may
/// change everything.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDriver {
    #[schemars(length(max = 200), regex(pattern = TEXT_PATTERN))]
    pub name: Option<String>,
    #[schemars(length(max = 50), regex(pattern = TEXT_PATTERN))]
    pub licence_number: Option<String>,
    /// Must not be in the past.
    pub licence_expiry: Option<NaiveDate>,
    pub duty_status: Option<DutyStatus>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "crate::api::extract::double_option")]
    #[schemars(length(min = 1, max = 64), regex(pattern = VEHICLE_ID_PATTERN))]
    pub current_vehicle_id: Option<Option<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    pub duty_status: Option<DutyStatus>,
}

const COLUMNS: &str = "id, user_id, name, licence_number, licence_expiry, duty_status, \
                       current_vehicle_id, created_at, updated_at";
/// A profile for `$2`, if that user has the driver role.
const INSERT: &str = concatcp!(
    "INSERT INTO drivers (id, user_id, name, licence_number, licence_expiry, duty_status)
     SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS
       (SELECT 1 FROM users WHERE id = $2 AND role = 'driver')
     RETURNING ",
    COLUMNS
);
/// A page after `$1`; `$2`: this duty status only; `$3`: only this user's.
const LIST: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM drivers
     WHERE deleted_at IS NULL AND ($1::uuid IS NULL OR id > $1)
       AND ($2::text IS NULL OR duty_status = $2)
       AND ($3::uuid IS NULL OR user_id = $3)
     ORDER BY id LIMIT $4"
);
const GET: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM drivers WHERE id = $1 AND deleted_at IS NULL"
);
/// Changes the fields given (not NULL); `$6`: set `current_vehicle_id` to `$7`, which must
/// be a vehicle in service (shared-locked, so it cannot be decommissioned meanwhile) and,
/// unless `$8` (staff), one the driver holds an assignment for covering `$9` (now). One
/// conditional statement, so no check can go stale before the write; no row means refused.
const UPDATE: &str = concatcp!(
    "UPDATE drivers SET name = coalesce($2, name),
        licence_number = coalesce($3, licence_number),
        licence_expiry = coalesce($4, licence_expiry),
        duty_status = coalesce($5, duty_status),
        current_vehicle_id = CASE WHEN $6 THEN $7 ELSE current_vehicle_id END,
        updated_at = now()
     WHERE id = $1 AND (NOT $6 OR $7::text IS NULL OR (
        EXISTS (SELECT 1 FROM vehicles
                 WHERE id = $7 AND deleted_at IS NULL AND status <> 'decommissioned'
                 FOR SHARE)
        AND ($8 OR EXISTS (SELECT 1 FROM assignments
                            WHERE driver_id = $1 AND vehicle_id = $7 AND status = 'scheduled'
                              AND starts_at <= $9 AND $9 < ends_at))))
     RETURNING ",
    COLUMNS
);
/// Why [`UPDATE`] refused a vehicle.
const VEHICLE_STATUS: &str = "SELECT status FROM vehicles WHERE id = $1 AND deleted_at IS NULL";

/// 422 for a licence that expired before today (UTC) at `now`.
fn current_licence(expiry: NaiveDate, now: DateTime<Utc>) -> Result<(), ApiError> {
    if expiry < now.date_naive() {
        return Err(ApiError::invalid(
            "licence_expiry",
            "the licence has expired",
        ));
    }
    Ok(())
}

fn from_row(row: &tokio_postgres::Row) -> Result<Driver, ApiError> {
    Ok(Driver {
        id: row.get("id"),
        user_id: row.get("user_id"),
        name: row.get("name"),
        licence_number: row.get("licence_number"),
        licence_expiry: row.get("licence_expiry"),
        duty_status: DutyStatus::parse(row.get("duty_status"))?,
        current_vehicle_id: row.get("current_vehicle_id"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}

async fn create(
    _: Caller,
    Now(now): Now,
    db: Db,
    ApiJson(req): ApiJson<CreateDriver>,
) -> Result<(StatusCode, Json<Driver>), ApiError> {
    let name = text("name", &req.name, 200)?;
    let licence = text("licence_number", &req.licence_number, 50)?;
    current_licence(req.licence_expiry, now)?;
    let duty = req.duty_status.unwrap_or(DutyStatus::OffDuty);
    let row = db
        .tx()
        .await?
        .query_opt(
            INSERT,
            &[
                &Uuid::new_v4(),
                &req.user_id,
                &name,
                &licence,
                &req.licence_expiry,
                &duty.as_str(),
            ],
        )
        .await?
        .ok_or_else(|| ApiError::invalid("user_id", "no user with role driver has this id"))?;
    Ok((StatusCode::CREATED, Json(from_row(&row)?)))
}

/// Staff see every driver; a driver sees only their own profile.
async fn list(
    db: Db,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Paged<Driver>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let own = (!caller.is_staff()).then_some(caller.user_id);
    let client = db.tx().await?;
    let rows = client
        .query(
            LIST,
            &[
                &page.after_uuid()?,
                &q.duty_status.map(|d| d.as_str()),
                &own,
                &page.fetch(),
            ],
        )
        .await?;
    let items = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(page.finish(items, |d| d.id.to_string())))
}

/// The driver `id` if the caller may see it (staff, or the driver's own user); else 404.
async fn visible(
    client: &tokio_postgres::Client,
    caller: &Caller,
    id: &str,
) -> Result<Driver, ApiError> {
    let id: Uuid = id.parse().map_err(|_| ApiError::not_found("driver"))?;
    let row = client
        .query_opt(GET, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("driver"))?;
    let d = from_row(&row)?;
    if !caller.is_staff() && d.user_id != caller.user_id {
        return Err(ApiError::not_found("driver"));
    }
    Ok(d)
}

async fn get(db: Db, caller: Caller, Path(id): Path<String>) -> Result<Json<Driver>, ApiError> {
    let client = db.tx().await?;
    visible(&client, &caller, &id).await.map(Json)
}

async fn update(
    caller: Caller,
    Now(now): Now,
    db: Db,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateDriver>,
) -> Result<Json<Driver>, ApiError> {
    if !caller.is_staff()
        && (req.name.is_some() || req.licence_number.is_some() || req.licence_expiry.is_some())
    {
        return Err(ApiError::forbidden(
            "drivers may change only duty_status and current_vehicle_id",
        ));
    }
    let name = req
        .name
        .as_deref()
        .map(|n| text("name", n, 200))
        .transpose()?;
    let licence = req
        .licence_number
        .as_deref()
        .map(|n| text("licence_number", n, 50))
        .transpose()?;
    if let Some(expiry) = req.licence_expiry {
        current_licence(expiry, now)?;
    }
    if let Some(Some(v)) = &req.current_vehicle_id {
        vehicle_id("current_vehicle_id", v)?;
    }
    let tx = db.tx().await?;
    let d = visible(&tx, &caller, &id).await?;
    let (set_vehicle, vehicle) = match req.current_vehicle_id {
        None => (false, None),
        Some(v) => (true, v),
    };
    let expiry = req.licence_expiry.unwrap_or(d.licence_expiry);
    if vehicle.is_some() && expiry < now.date_naive() {
        return Err(ApiError::invalid(
            "current_vehicle_id",
            format!("the driver's licence expired on {expiry}"),
        ));
    }
    let row = tx
        .query_opt(
            UPDATE,
            &[
                &d.id,
                &name,
                &licence,
                &req.licence_expiry,
                &req.duty_status.map(|s| s.as_str()),
                &set_vehicle,
                &vehicle,
                &caller.is_staff(),
                &now,
            ],
        )
        .await?;
    match (row, vehicle) {
        (Some(row), _) => {
            let updated = from_row(&row)?;
            let (was, now) = (d.duty_status.as_str(), updated.duty_status.as_str());
            events::duty_changed(&*tx, d.id, was, now).await?;
            Ok(Json(updated))
        }
        (None, Some(vehicle)) => Err(refused_vehicle(&tx, &vehicle).await?),
        (None, None) => Err(ApiError::not_found("driver")), // deleted meanwhile
    }
}

/// The answer when [`UPDATE`] did not let the driver take `vehicle`.
async fn refused_vehicle(tx: &tokio_postgres::Client, vehicle: &str) -> Result<ApiError, ApiError> {
    let status: Option<String> = tx
        .query_opt(VEHICLE_STATUS, &[&vehicle])
        .await?
        .map(|r| r.get(0));
    Ok(match status.as_deref() {
        None => ApiError::invalid("current_vehicle_id", "no such vehicle"),
        Some("decommissioned") => ApiError::new(
            ErrorCode::VehicleDecommissioned,
            format!("current_vehicle_id: vehicle {vehicle} is decommissioned"),
        ),
        Some(_) => ApiError::new(
            ErrorCode::VehicleNotAssigned,
            format!(
                "current_vehicle_id: no assignment to vehicle {vehicle} covers now; \
                 a driver may take only a vehicle they are assigned to"
            ),
        ),
    })
}

pub fn routes(r: Routes) -> Routes {
    let own: &'static [Role] = &[Role::Admin, Role::Dispatcher, Role::Driver];
    r.add(
        RouteDoc::create::<CreateDriver, Driver>("/v1/drivers", "Create a driver profile", STAFF)
            .conflicts(&[ErrorCode::AlreadyExists]),
        create,
    )
    .add(
        RouteDoc::list::<Driver, ListQuery>(
            "/v1/drivers",
            "List drivers (a driver sees only itself)",
            own,
            &[
                ("limit", "items per page, 1..=200 (default 50)"),
                ("cursor", "next_cursor from the previous page"),
                ("duty_status", "off_duty, available or busy"),
            ],
        ),
        list,
    )
    .add(
        RouteDoc::read::<Driver>("/v1/drivers/{id}", "A driver", own),
        get,
    )
    .add(
        RouteDoc::change::<UpdateDriver, Driver>(
            "PATCH",
            "/v1/drivers/{id}",
            "Update a driver (drivers: own duty status, and a vehicle only under an assignment \
             covering now, else 409 vehicle_not_assigned); nobody may take a decommissioned \
             vehicle (409 vehicle_decommissioned)",
            own,
        )
        .conflicts(&[
            ErrorCode::AlreadyExists,
            ErrorCode::VehicleDecommissioned,
            ErrorCode::VehicleNotAssigned,
        ]),
        update,
    )
}
