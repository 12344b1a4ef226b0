//! Driver–vehicle assignments (shifts): a driver drives a vehicle over `[starts_at,
//! ends_at)`. A scheduled assignment occupies both: the vehicle through
//! `vehicle_commitments`, the driver through the exclusion constraint on `assignments`.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use const_format::concatcp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::auth::{Caller, Role, STAFF};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::{
    vehicle_id, window, ApiJson, ApiQuery, NO_NUL_PATTERN, VEHICLE_ID_PATTERN,
};
use crate::api::middleware::txn::{Db, Tx};
use crate::api::now::Now;
use crate::api::pagination::{Page, Paged};
use crate::api::routes::{RouteDoc, Routes};
use crate::api::rules::cas::compare_and_set;
use crate::api::rules::commitments::{self, Kind};
use crate::api::rules::seats;
use crate::events::{self, Kind as Event};

/// An assignment.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Assignment {
    pub id: Uuid,
    pub driver_id: Uuid,
    pub vehicle_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: AssignmentStatus,
    pub created_at: DateTime<Utc>,
}

crate::text_enum! {
    /// An assignment's state: `scheduled`, then `completed` or `cancelled`.
    pub enum AssignmentStatus {
        Scheduled => "scheduled",
        Completed => "completed",
        Cancelled => "cancelled",
    }
}

/// `POST /v1/assignments` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAssignment {
    pub driver_id: Uuid,
    #[schemars(length(min = 1, max = 64), regex(pattern = VEHICLE_ID_PATTERN))]
    pub vehicle_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    pub driver_id: Option<Uuid>,
    #[schemars(regex(pattern = NO_NUL_PATTERN))]
    pub vehicle_id: Option<String>,
}

const COLUMNS: &str =
    "a.id, a.driver_id, a.vehicle_id, a.starts_at, a.ends_at, a.status, a.created_at";
/// Staff see all; a driver sees only assignments of its own profile.
const VISIBLE: &str =
    "($1::uuid IS NULL OR a.driver_id IN (SELECT id FROM drivers WHERE user_id = $1))";
const LICENCE_EXPIRY: &str =
    "SELECT licence_expiry FROM drivers WHERE id = $1 AND deleted_at IS NULL";
const INSERT: &str = "INSERT INTO assignments (id, driver_id, vehicle_id, starts_at, ends_at)
                      VALUES ($1, $2, $3, $4, $5)";
/// The driver's scheduled assignment overlapping `[$2, $3)`, for the 409's message.
const DRIVER_IN_THE_WAY: &str = "SELECT id FROM assignments
     WHERE driver_id = $1 AND status = 'scheduled'
       AND tstzrange(starts_at, ends_at, '[)') && tstzrange($2, $3, '[)') LIMIT 1";
const GET_ANY: &str = concatcp!("SELECT ", COLUMNS, " FROM assignments a WHERE id = $1");
const LIST: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM assignments a
     WHERE ",
    VISIBLE,
    " AND ($2::uuid IS NULL OR a.id > $2)
       AND ($3::uuid IS NULL OR a.driver_id = $3)
       AND ($4::text IS NULL OR a.vehicle_id = $4)
     ORDER BY a.id LIMIT $5"
);
const GET_VISIBLE: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM assignments a WHERE ",
    VISIBLE,
    " AND a.id = $2"
);
/// Scheduled → `$2`.
const FINISH: &str = concatcp!(
    "UPDATE assignments a SET status = $2 WHERE id = $1 AND status = 'scheduled' RETURNING ",
    COLUMNS
);
const STATUS: &str = "SELECT status FROM assignments WHERE id = $1";

fn from_row(row: &tokio_postgres::Row) -> Assignment {
    Assignment {
        id: row.get("id"),
        driver_id: row.get("driver_id"),
        vehicle_id: row.get("vehicle_id"),
        starts_at: row.get("starts_at"),
        ends_at: row.get("ends_at"),
        status: row.get("status"),
        created_at: row.get("created_at"),
    }
}

fn own(caller: &Caller) -> Option<Uuid> {
    (!caller.is_staff()).then_some(caller.user_id)
}

async fn create(
    _: Caller,
    Now(now): Now,
    db: Db,
    ApiJson(req): ApiJson<CreateAssignment>,
) -> Result<(StatusCode, Json<Assignment>), ApiError> {
    vehicle_id("vehicle_id", &req.vehicle_id)?;
    window(req.starts_at, req.ends_at, 31)?;
    let id = Uuid::new_v4();
    let tx = db.tx().await?;
    commitments::lock_vehicle(&tx, &req.vehicle_id).await?;
    commitments::check_back(&tx, &req.vehicle_id, now).await?;
    let driver = tx
        .query_opt(LICENCE_EXPIRY, &[&req.driver_id])
        .await?
        .ok_or_else(|| ApiError::invalid("driver_id", "no such driver"))?;
    let expiry: chrono::NaiveDate = driver.get(0);
    if expiry < req.ends_at.date_naive() {
        return Err(ApiError::invalid(
            "driver_id",
            format!("the driver's licence expires on {expiry}, before the assignment ends"),
        ));
    }
    let inserted = commitments::try_exclusive(
        &tx,
        INSERT,
        &[
            &id,
            &req.driver_id,
            &req.vehicle_id,
            &req.starts_at,
            &req.ends_at,
        ],
    )
    .await?;
    if !inserted {
        let other: Option<Uuid> = tx
            .query_opt(
                DRIVER_IN_THE_WAY,
                &[&req.driver_id, &req.starts_at, &req.ends_at],
            )
            .await?
            .map(|r| r.get(0));
        let which = other.map(|o| format!(" {o}")).unwrap_or_default();
        return Err(commitments::CommitmentError::Overlap {
            message: format!(
                "driver {} already has assignment{which} in that window",
                req.driver_id
            ),
            conflict: other.map(|id| commitments::Conflict {
                kind: "assignment".into(),
                id,
            }),
        }
        .into());
    }
    commitments::claim_vehicle(
        &tx,
        &req.vehicle_id,
        Kind::Assignment,
        id,
        req.starts_at,
        req.ends_at,
    )
    .await?;
    let row = tx.query_one(GET_ANY, &[&id]).await?;
    let assignment = from_row(&row);
    emit(&tx, Event::AssignmentCreated, &assignment).await?;
    Ok((StatusCode::CREATED, Json(assignment)))
}

/// `assignment.*`: `{assignment}` as the API shows it.
async fn emit(tx: &Tx, kind: Event, a: &Assignment) -> Result<(), ApiError> {
    let body = serde_json::json!({ "assignment": a });
    events::emit(&**tx, kind, &a.id.to_string(), body).await?;
    Ok(())
}

async fn list(
    db: Db,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Paged<Assignment>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let client = db.tx().await?;
    let rows = client
        .query(
            LIST,
            &[
                &own(&caller),
                &page.after_uuid()?,
                &q.driver_id,
                &q.vehicle_id,
                &page.fetch(),
            ],
        )
        .await?;
    let items: Vec<Assignment> = rows.iter().map(from_row).collect();
    Ok(Json(page.finish(items, |a| a.id.to_string())))
}

async fn get(db: Db, caller: Caller, Path(id): Path<String>) -> Result<Json<Assignment>, ApiError> {
    let id: Uuid = id.parse().map_err(|_| ApiError::not_found("assignment"))?;
    let client = db.tx().await?;
    let row = client
        .query_opt(GET_VISIBLE, &[&own(&caller), &id])
        .await?
        .ok_or_else(|| ApiError::not_found("assignment"))?;
    Ok(Json(from_row(&row)))
}

/// Cancels or completes a scheduled assignment and frees the vehicle and the driver: if the
/// shift had started, its driver leaves the vehicle ([`seats::leave`]).
async fn finish(
    tx: Tx,
    id: &str,
    to: &str,
    now: DateTime<Utc>,
) -> Result<Json<Assignment>, ApiError> {
    let id: Uuid = id.parse().map_err(|_| ApiError::not_found("assignment"))?;
    let row = compare_and_set(&tx, FINISH, &[&id, &to], STATUS, "assignment", to).await?;
    commitments::release(&tx, Kind::Assignment, id).await?;
    seats::leave(&tx, &[id], now).await?;
    let assignment = from_row(&row);
    let kind = match to {
        "completed" => Event::AssignmentCompleted,
        _ => Event::AssignmentCancelled,
    };
    emit(&tx, kind, &assignment).await?;
    Ok(Json(assignment))
}

async fn cancel(
    _: Caller,
    Now(now): Now,
    db: Db,
    Path(id): Path<String>,
) -> Result<Json<Assignment>, ApiError> {
    finish(db.tx().await?, &id, "cancelled", now).await
}

async fn complete(
    _: Caller,
    Now(now): Now,
    db: Db,
    Path(id): Path<String>,
) -> Result<Json<Assignment>, ApiError> {
    finish(db.tx().await?, &id, "completed", now).await
}

pub fn routes(r: Routes) -> Routes {
    let own: &'static [Role] = &[Role::Admin, Role::Dispatcher, Role::Driver];
    r.add(
        RouteDoc::create::<CreateAssignment, Assignment>(
            "/v1/assignments",
            "Assign a driver to a vehicle over a time range (409 on overlap, and \
             vehicle_overdue while the vehicle is out past its bookings)",
            STAFF,
        )
        .conflicts(&[
            ErrorCode::Overlap,
            ErrorCode::VehicleDecommissioned,
            ErrorCode::VehicleOverdue,
        ]),
        create,
    )
    .add(
        RouteDoc::list::<Assignment, ListQuery>(
            "/v1/assignments",
            "List assignments (a driver sees only its own)",
            own,
            &[
                ("limit", "items per page, 1..=200 (default 50)"),
                ("cursor", "next_cursor from the previous page"),
                ("driver_id", "only this driver's"),
                ("vehicle_id", "only this vehicle's"),
            ],
        ),
        list,
    )
    .add(
        RouteDoc::read::<Assignment>("/v1/assignments/{id}", "An assignment", own),
        get,
    )
    .add(
        RouteDoc::step::<Assignment>(
            "/v1/assignments/{id}/cancel",
            "Cancel a scheduled assignment (a driver at the wheel under it leaves the vehicle)",
            STAFF,
        )
        .conflicts(&[ErrorCode::IllegalTransition]),
        cancel,
    )
    .add(
        RouteDoc::step::<Assignment>(
            "/v1/assignments/{id}/complete",
            "Mark a scheduled assignment done (its driver leaves the vehicle; shifts past \
             their end complete themselves)",
            STAFF,
        )
        .conflicts(&[ErrorCode::IllegalTransition]),
        complete,
    )
}
