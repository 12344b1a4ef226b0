//! Dispatch jobs over HTTP: create (202, matched in the background by
//! [`crate::dispatch::matcher`]), read with history and list; the transitions drivers and
//! staff make are in [`super::job_flow`]. Visibility: staff see every job, a customer the jobs they created, a driver
//! the job they hold (offered, assigned or picked up, and finished ones they held last).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::positions::{live_error, requirements};
use crate::api::auth::{Caller, Role, ANY};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::{text, ApiJson, ApiQuery, TEXT_PATTERN};
use crate::api::middleware::txn::Db;
use crate::api::pagination::{Page, Paged};
use crate::api::routes::{params, RouteDoc, Routes};
use crate::api::state::AppState;
use crate::dispatch::jobs::{self, Job, JobEvent, JobState, NewJob};
use crate::live::geo;

/// Serializes one customer's job creations (without blocking foreign-key checks).
const LOCK_USER: &str = "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE";
/// Unfinished jobs created by `$1`.
const OPEN_JOBS: &str = "SELECT count(*) FROM dispatch_jobs
                         WHERE created_by = $1 AND state IN ('pending', 'offered', 'assigned', 'picked_up')";
const OWN_DRIVER: &str = "SELECT id FROM drivers WHERE user_id = $1 AND deleted_at IS NULL";

/// Who may create jobs.
pub(super) const CREATORS: &[Role] = &[Role::Admin, Role::Dispatcher, Role::Customer];

/// A point.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Point {
    #[schemars(range(min = -90.0, max = 90.0))]
    pub lat: f64,
    #[schemars(range(min = -180.0, max = 180.0))]
    pub lon: f64,
}

/// What the vehicle must offer; absent fields accept anything.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRequirements {
    #[schemars(length(max = 50), regex(pattern = TEXT_PATTERN))]
    pub vehicle_type: Option<String>,
    #[schemars(range(min = 0, max = 1000))]
    pub min_seats: Option<i32>,
    #[schemars(range(min = 0, max = 1_000_000))]
    pub min_load_kg: Option<i32>,
}

/// `POST /v1/dispatch/jobs` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateJob {
    pub pickup: Point,
    pub dropoff: Option<Point>,
    #[serde(default)]
    pub requirements: JobRequirements,
    /// Search radius around the pickup (default `dispatch.search_radius_m`, at most
    /// `dispatch.max_radius_m`).
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub radius_m: Option<f64>,
    #[schemars(length(max = 1000), regex(pattern = TEXT_PATTERN))]
    pub notes: Option<String>,
}

/// A job as the API shows it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct JobView {
    pub id: Uuid,
    pub state: JobState,
    pub pickup: Point,
    pub dropoff: Option<Point>,
    pub requirements: JobRequirements,
    pub radius_m: f64,
    pub notes: Option<String>,
    pub created_by: Uuid,
    pub driver_id: Option<Uuid>,
    pub vehicle_id: Option<String>,
    /// Matching rounds that found no candidate.
    pub attempts: i32,
    /// While offered: when the offer expires.
    pub offer_expires_at: Option<DateTime<Utc>>,
    /// While pending: when matching runs next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Every transition, oldest first (single-job answers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<JobEvent>>,
}

impl JobView {
    pub(super) fn new(job: Job, history: Option<Vec<JobEvent>>) -> JobView {
        let offered = job.state == JobState::Offered;
        JobView {
            id: job.id,
            state: job.state,
            pickup: Point {
                lat: job.pickup.0,
                lon: job.pickup.1,
            },
            dropoff: job.dropoff.map(|(lat, lon)| Point { lat, lon }),
            requirements: JobRequirements {
                vehicle_type: job.requirements.vehicle_type,
                min_seats: job.requirements.min_seats,
                min_load_kg: job.requirements.min_load_kg,
            },
            radius_m: job.radius_m,
            notes: job.notes,
            created_by: job.created_by,
            driver_id: job.driver_id,
            vehicle_id: job.vehicle_id,
            attempts: job.attempts,
            offer_expires_at: job.due_at.filter(|_| offered),
            next_attempt_at: job.due_at.filter(|_| job.state == JobState::Pending),
            created_at: job.created_at,
            updated_at: job.updated_at,
            history,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    pub state: Option<JobState>,
}

fn point(field: &str, p: Point) -> Result<(f64, f64), ApiError> {
    if !geo::valid_lat(p.lat) {
        return Err(ApiError::invalid(
            &format!("{field}.lat"),
            "must be between -90 and 90",
        ));
    }
    if !geo::valid_lon(p.lon) {
        return Err(ApiError::invalid(
            &format!("{field}.lon"),
            "must be between -180 and 180",
        ));
    }
    Ok((p.lat, p.lon))
}

/// The caller's driver profile id (a driver without one holds no jobs).
pub async fn own_driver(
    client: &tokio_postgres::Client,
    caller: &Caller,
) -> Result<Option<Uuid>, ApiError> {
    if caller.role != Role::Driver {
        return Ok(None);
    }
    Ok(client
        .query_opt(OWN_DRIVER, &[&caller.user_id])
        .await?
        .map(|r| r.get(0)))
}

/// Whether the caller may see `job`.
pub(super) fn visible(caller: &Caller, driver: Option<Uuid>, job: &Job) -> bool {
    match caller.role {
        Role::Admin | Role::Dispatcher => true,
        Role::Customer => job.created_by == caller.user_id,
        Role::Driver => driver.is_some() && job.driver_id == driver,
    }
}

async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    db: Db,
    ApiJson(req): ApiJson<CreateJob>,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    let pickup = point("pickup", req.pickup)?;
    let dropoff = req.dropoff.map(|d| point("dropoff", d)).transpose()?;
    let r = &req.requirements;
    let requirements = requirements(r.vehicle_type.as_deref(), r.min_seats, r.min_load_kg)
        .map_err(|e| ApiError {
            message: format!("requirements.{}", e.message),
            ..e
        })?;
    let config = &state.dispatch.config;
    let radius_m = req.radius_m.unwrap_or(config.search_radius_m);
    crate::dispatch::check_radius(radius_m, config).map_err(live_error)?;
    let customer = caller.role == Role::Customer;
    if customer && radius_m > config.search_radius_m {
        return Err(ApiError::invalid(
            "radius_m",
            format!(
                "customers may search at most {} m (dispatch.search_radius_m)",
                config.search_radius_m
            ),
        ));
    }
    let notes = req
        .notes
        .as_deref()
        .map(|n| text("notes", n, 1_000))
        .transpose()?;
    let job = NewJob {
        pickup,
        dropoff,
        requirements,
        radius_m,
        notes,
    };
    let now = state.clock.now();
    let tx = db.tx().await?;
    if customer {
        // The customer's row locked: their concurrent requests count one after the other.
        tx.execute(LOCK_USER, &[&caller.user_id]).await?;
        let open: i64 = tx.query_one(OPEN_JOBS, &[&caller.user_id]).await?.get(0);
        let max = config.max_open_jobs_per_customer;
        if open >= i64::from(max) {
            return Err(ApiError::new(
                ErrorCode::OpenJobsLimit,
                format!(
                    "{open} unfinished jobs already (dispatch.max_open_jobs_per_customer = {max})"
                ),
            ));
        }
    }
    let created = jobs::create(&*tx, &job, caller.user_id, now).await?;
    let history = jobs::events(&*tx, created.id).await?;
    // The matcher wakes when the `created` event's notification arrives, after the commit.
    Ok((
        StatusCode::ACCEPTED,
        Json(JobView::new(created, Some(history))),
    ))
}

async fn get(db: Db, caller: Caller, Path(id): Path<String>) -> Result<Json<JobView>, ApiError> {
    let id: Uuid = id.parse().map_err(|_| ApiError::not_found("job"))?;
    let client = db.tx().await?;
    let driver = own_driver(&client, &caller).await?;
    let job = jobs::get(&*client, id)
        .await?
        .filter(|j| visible(&caller, driver, j))
        .ok_or_else(|| ApiError::not_found("job"))?;
    let history = jobs::events(&*client, id).await?;
    Ok(Json(JobView::new(job, Some(history))))
}

async fn list(
    db: Db,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Paged<JobView>>, ApiError> {
    let page = Page::new(q.limit, q.cursor.as_deref())?;
    let filter = q.state;
    let client = db.tx().await?;
    let driver = own_driver(&client, &caller).await?;
    let creator = (caller.role == Role::Customer).then_some(caller.user_id);
    if caller.role == Role::Driver && driver.is_none() {
        return Ok(Json(page.finish(Vec::new(), |_: &JobView| String::new())));
    }
    let found = jobs::list(
        &*client,
        &jobs::ListFilter {
            after: page.after_uuid()?,
            state: filter,
            created_by: creator,
            driver_id: driver,
            limit: page.fetch(),
        },
    )
    .await?;
    let items = found.into_iter().map(|j| JobView::new(j, None)).collect();
    Ok(Json(page.finish(items, |j| j.id.to_string())))
}

pub fn routes(r: Routes) -> Routes {
    let one = |g: &mut schemars::SchemaGenerator| g.subschema_for::<JobView>();
    r.add(
        RouteDoc {
            request: Some(|g| g.subschema_for::<CreateJob>()),
            response: Some(one),
            success: 202,
            errors: &[400, 413, 422],
            ..RouteDoc::new(
                "POST",
                "/v1/dispatch/jobs",
                "Create a job; matching to the nearest available driver runs in the background",
                CREATORS,
            )
        }
        .conflicts(&[ErrorCode::OpenJobsLimit]),
        create,
    )
    .add(
        RouteDoc {
            params: Some(params::<ListQuery>),
            query: &[
                ("limit", "items per page, 1..=200 (default 50)"),
                ("cursor", "next_cursor from the previous page"),
                ("state", "one job state"),
            ],
            response: Some(|g| g.subschema_for::<Paged<JobView>>()),
            errors: &[422],
            ..RouteDoc::new(
                "GET",
                "/v1/dispatch/jobs",
                "List jobs (customers: created; drivers: held)",
                ANY,
            )
        },
        list,
    )
    .add(
        RouteDoc {
            response: Some(one),
            errors: &[404],
            ..RouteDoc::new(
                "GET",
                "/v1/dispatch/jobs/{id}",
                "A job with its history",
                ANY,
            )
        },
        get,
    )
}
