//! Maintenance: a scheduled window blocks the vehicle (a commitment); start, complete and
//! cancel are in [`super::flow`]. Overdue: scheduled but not started by its start, or in
//! progress past its end.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use const_format::concatcp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::schedules;
use crate::api::auth::{Caller, STAFF};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::{
    text, vehicle_id, window, ApiJson, ApiQuery, MAX_MONEY, NO_NUL_PATTERN, TEXT_PATTERN,
    VEHICLE_ID_PATTERN,
};
use crate::api::middleware::txn::Db;
use crate::api::pagination::{grouped, Page, Paged};
use crate::api::routes::{RouteDoc, Routes};
use crate::api::rules::commitments::{self, Kind};
use crate::api::state::AppState;
use crate::events::{self, Kind as Event};

/// A part used in a job.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Part {
    #[schemars(length(max = 200), regex(pattern = TEXT_PATTERN))]
    pub part_name: String,
    /// 1..=10000.
    #[schemars(range(min = 1, max = 10_000))]
    pub quantity: i32,
    /// Minor units of the job's currency, per piece.
    #[schemars(range(min = 0, max = MAX_MONEY))]
    pub unit_cost: i64,
}

/// A maintenance job.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Job {
    pub id: Uuid,
    pub vehicle_id: String,
    pub description: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// `scheduled`, `in_progress`, `completed` or `cancelled`.
    pub status: MaintenanceStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub labour_cost: Option<i64>,
    pub currency: Option<String>,
    pub parts: Vec<Part>,
    /// Labour plus parts, in minor units (once completed).
    pub total_cost: Option<i64>,
    /// The preventive maintenance schedule this job serves; completing it restarts that
    /// schedule's count for the vehicle.
    pub schedule_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// `POST /v1/maintenance` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    #[schemars(length(min = 1, max = 64), regex(pattern = VEHICLE_ID_PATTERN))]
    pub vehicle_id: String,
    #[schemars(length(max = 2000), regex(pattern = TEXT_PATTERN))]
    pub description: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// A preventive maintenance schedule that applies to the vehicle (its own or its
    /// type's): completing the job restarts the schedule's count for the vehicle.
    pub schedule_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Items per page, 1..=200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    #[schemars(regex(pattern = NO_NUL_PATTERN))]
    pub vehicle_id: Option<String>,
    pub status: Option<MaintenanceStatus>,
    pub overdue: Option<bool>,
}

crate::text_enum! {
    /// A maintenance job's state: `scheduled → in_progress → completed`, or `cancelled` before it
    /// is completed.
    pub enum MaintenanceStatus {
        Scheduled => "scheduled",
        InProgress => "in_progress",
        Completed => "completed",
        Cancelled => "cancelled",
    }
}

pub const COLUMNS: &str = "id, vehicle_id, description, starts_at, ends_at, status, started_at, \
                       completed_at, labour_cost, currency, schedule_id, created_at";
/// Late at `$6` (now): not started by its start, or not completed by its end.
const OVERDUE: &str = "((status = 'scheduled' AND starts_at < $6) \
                       OR (status = 'in_progress' AND ends_at < $6))";
/// Parts of a page of jobs (`$1`: their ids) in one query, each job's in the order recorded.
const PARTS_OF: &str = "SELECT job_id, part_name, quantity, unit_cost FROM maintenance_parts
                        WHERE job_id = ANY($1) ORDER BY job_id, id";
const INSERT: &str = concatcp!(
    "INSERT INTO maintenance_jobs (id, vehicle_id, description, starts_at, ends_at, schedule_id)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
    COLUMNS
);
/// A page after id `$1`; `$4`: overdue ones only (at `$6`).
const LIST: &str = concatcp!(
    "SELECT ",
    COLUMNS,
    " FROM maintenance_jobs
     WHERE ($1::uuid IS NULL OR id > $1)
       AND ($2::text IS NULL OR vehicle_id = $2)
       AND ($3::text IS NULL OR status = $3)
       AND (NOT $4 OR ",
    OVERDUE,
    ")
     ORDER BY id LIMIT $5"
);
pub const GET: &str = concatcp!("SELECT ", COLUMNS, " FROM maintenance_jobs WHERE id = $1");

/// The job in `row` (selected with [`COLUMNS`]) with its parts.
pub async fn load(
    client: &tokio_postgres::Client,
    row: &tokio_postgres::Row,
) -> Result<Job, ApiError> {
    let id: Uuid = row.get("id");
    let mut parts = parts_of(client, &[id]).await?;
    Ok(job(row, parts.remove(&id).unwrap_or_default()))
}

/// The jobs in `rows` with their parts: one query for any number of rows (a list page never
/// costs a query per item).
async fn load_all(
    client: &tokio_postgres::Client,
    rows: &[tokio_postgres::Row],
) -> Result<Vec<Job>, ApiError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.get("id")).collect();
    let mut parts = parts_of(client, &ids).await?;
    Ok(rows
        .iter()
        .zip(ids)
        .map(|(row, id)| job(row, parts.remove(&id).unwrap_or_default()))
        .collect())
}

async fn parts_of(
    client: &tokio_postgres::Client,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Part>>, ApiError> {
    grouped(client, PARTS_OF, ids, |p| Part {
        part_name: p.get(1),
        quantity: p.get(2),
        unit_cost: p.get(3),
    })
    .await
}

fn job(row: &tokio_postgres::Row, parts: Vec<Part>) -> Job {
    let labour: Option<i64> = row.get("labour_cost");
    let total_cost = labour.map(|l| {
        l + parts
            .iter()
            .map(|p| p.quantity as i64 * p.unit_cost)
            .sum::<i64>()
    });
    Job {
        id: row.get("id"),
        vehicle_id: row.get("vehicle_id"),
        description: row.get("description"),
        starts_at: row.get("starts_at"),
        ends_at: row.get("ends_at"),
        status: row.get("status"),
        started_at: row.get("started_at"),
        completed_at: row.get("completed_at"),
        labour_cost: labour,
        currency: row.get::<_, Option<String>>("currency"),
        parts,
        total_cost,
        schedule_id: row.get("schedule_id"),
        created_at: row.get("created_at"),
    }
}

async fn schedule(
    _: Caller,
    db: Db,
    ApiJson(req): ApiJson<Schedule>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    vehicle_id("vehicle_id", &req.vehicle_id)?;
    let description = text("description", &req.description, 2000)?;
    window(req.starts_at, req.ends_at, 90)?;
    let id = Uuid::new_v4();
    let tx = db.tx().await?;
    commitments::lock_vehicle(&tx, &req.vehicle_id).await?;
    if let Some(schedule) = req.schedule_id {
        schedules::applies(&tx, schedule, &req.vehicle_id).await?;
    }
    let row = tx
        .query_one(
            INSERT,
            &[
                &id,
                &req.vehicle_id,
                &description,
                &req.starts_at,
                &req.ends_at,
                &req.schedule_id,
            ],
        )
        .await?;
    commitments::claim_vehicle(
        &tx,
        &req.vehicle_id,
        Kind::Maintenance,
        id,
        req.starts_at,
        req.ends_at,
    )
    .await?;
    let job = load(&tx, &row).await?;
    emit(&tx, Event::MaintenanceScheduled, &job).await?;
    Ok((StatusCode::CREATED, Json(job)))
}

/// `maintenance.*`: `{job}` as the API shows it, after the change.
pub async fn emit(client: &tokio_postgres::Client, kind: Event, job: &Job) -> Result<(), ApiError> {
    let body = serde_json::json!({ "job": job });
    events::emit(client, kind, &job.id.to_string(), body).await?;
    Ok(())
}

async fn list_jobs(state: &AppState, q: ListQuery, overdue: bool) -> Result<Paged<Job>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let now = state.clock.now();
    let client = state.pool.get().await?;
    let rows = client
        .query(
            LIST,
            &[
                &page.after_uuid()?,
                &q.vehicle_id,
                &q.status.map(MaintenanceStatus::as_str),
                &overdue,
                &page.fetch(),
                &now,
            ],
        )
        .await?;
    let items = load_all(&client, &rows).await?;
    Ok(page.finish(items, |j| j.id.to_string()))
}

async fn list(
    State(state): State<Arc<AppState>>,
    _: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Paged<Job>>, ApiError> {
    let overdue = q.overdue.unwrap_or(false);
    list_jobs(&state, q, overdue).await.map(Json)
}

async fn overdue(
    State(state): State<Arc<AppState>>,
    _: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Paged<Job>>, ApiError> {
    list_jobs(&state, q, true).await.map(Json)
}

async fn get(
    State(state): State<Arc<AppState>>,
    _: Caller,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::not_found("maintenance job"))?;
    let client = state.pool.get().await?;
    let row = client
        .query_opt(GET, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("maintenance job"))?;
    Ok(Json(load(&client, &row).await?))
}

pub fn routes(r: Routes) -> Routes {
    const PARAMS: &[(&str, &str)] = &[
        ("limit", "items per page, 1..=200 (default 50)"),
        ("cursor", "next_cursor from the previous page"),
        ("vehicle_id", "only this vehicle's"),
        ("status", "scheduled, in_progress, completed or cancelled"),
        ("overdue", "true: only overdue jobs"),
    ];
    r.add(
        RouteDoc::create::<Schedule, Job>(
            "/v1/maintenance",
            "Schedule a maintenance window (blocks the vehicle; 409 on overlap)",
            STAFF,
        )
        .conflicts(&[ErrorCode::Overlap, ErrorCode::VehicleDecommissioned]),
        schedule,
    )
    .add(
        RouteDoc::list::<Job, ListQuery>("/v1/maintenance", "List maintenance jobs", STAFF, PARAMS),
        list,
    )
    .add(
        RouteDoc::list::<Job, ListQuery>(
            "/v1/maintenance/overdue",
            "Jobs not started by their start, or in progress past their end",
            STAFF,
            PARAMS,
        ),
        overdue,
    )
    .add(
        RouteDoc::read::<Job>("/v1/maintenance/{id}", "A maintenance job", STAFF),
        get,
    )
}
