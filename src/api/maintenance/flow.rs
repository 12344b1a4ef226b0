//! A maintenance job's life after scheduling: start (vehicle → `under_maintenance`),
//! complete (parts and labour recorded, window released, vehicle → `active`) and cancel.
//! Each step is a compare-and-set on the job's status, so concurrent steps cannot both apply.

use axum::extract::Path;
use axum::Json;
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::jobs::{self, load, Job, Part, GET};
use crate::api::auth::{Caller, STAFF};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::{currency, int_range, money, text, ApiJson, CURRENCY_PATTERN, MAX_MONEY};
use crate::api::middleware::txn::{Db, Tx};
use crate::api::now::Now;
use crate::api::routes::{RouteDoc, Routes};
use crate::api::rules::cas::compare_and_set;
use crate::api::rules::commitments::{self, Kind};
use crate::api::vehicles::model::VehicleStatus;
use crate::api::vehicles::status::transition;
use crate::events::Kind as Event;
use crate::ledger;

const START: &str = "UPDATE maintenance_jobs SET status = 'in_progress', started_at = $2
                     WHERE id = $1 AND status = 'scheduled' RETURNING vehicle_id";
const COMPLETE: &str = "UPDATE maintenance_jobs
                           SET status = 'completed', completed_at = $4,
                               labour_cost = $2, currency = $3
                         WHERE id = $1 AND status = 'in_progress' RETURNING vehicle_id";
const CANCEL: &str = "UPDATE maintenance_jobs SET status = 'cancelled'
                      WHERE id = $1 AND status = 'scheduled' RETURNING vehicle_id";
const STATUS: &str = "SELECT status FROM maintenance_jobs WHERE id = $1";
const ADD_PART: &str = "INSERT INTO maintenance_parts (job_id, part_name, quantity, unit_cost)
                        VALUES ($1, $2, $3, $4)";

/// `POST /v1/maintenance/{id}/complete` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Complete {
    /// At most 200.
    #[serde(default)]
    #[schemars(length(max = 200))]
    pub parts: Vec<Part>,
    #[schemars(range(min = 0, max = MAX_MONEY))]
    pub labour_cost: i64,
    #[schemars(regex(pattern = CURRENCY_PATTERN))]
    pub currency: String,
}

/// Moves job `id` on with the compare-and-set `update`; returns the job's vehicle.
async fn step(
    tx: &Tx,
    update: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    to: &str,
) -> Result<String, ApiError> {
    let row = compare_and_set(tx, update, params, STATUS, "maintenance job", to).await?;
    Ok(row.get(0))
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found("maintenance job"))
}

async fn start(
    _: Caller,
    Now(now): Now,
    db: Db,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let id = parse_id(&id)?;
    let tx = db.tx().await?;
    let vehicle = step(&tx, START, &[&id, &now], "in_progress").await?;
    commitments::start_now(&tx, &vehicle, Kind::Maintenance, id, now).await?;
    transition(
        &tx,
        &vehicle,
        &[VehicleStatus::Active],
        VehicleStatus::UnderMaintenance,
    )
    .await?;
    reload(&tx, id, Event::MaintenanceStarted).await
}

async fn complete(
    _: Caller,
    Now(now): Now,
    db: Db,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Complete>,
) -> Result<Json<Job>, ApiError> {
    let id = parse_id(&id)?;
    money("labour_cost", req.labour_cost)?;
    currency("currency", &req.currency)?;
    if req.parts.len() > 200 {
        return Err(ApiError::invalid("parts", "at most 200 parts"));
    }
    for (i, p) in req.parts.iter().enumerate() {
        text(&format!("parts[{i}].part_name"), &p.part_name, 200)?;
        int_range(
            &format!("parts[{i}].quantity"),
            p.quantity.into(),
            1,
            10_000,
        )?;
        money(&format!("parts[{i}].unit_cost"), p.unit_cost)?;
    }
    let tx = db.tx().await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&id, &req.labour_cost, &req.currency, &now];
    let vehicle = step(&tx, COMPLETE, &params, "completed").await?;
    for p in &req.parts {
        tx.execute(
            ADD_PART,
            &[&id, &p.part_name.trim(), &p.quantity, &p.unit_cost],
        )
        .await?;
    }
    post_costs(&tx, id, &vehicle, &req).await?;
    commitments::release(&tx, Kind::Maintenance, id).await?;
    transition(
        &tx,
        &vehicle,
        &[VehicleStatus::UnderMaintenance],
        VehicleStatus::Active,
    )
    .await?;
    reload(&tx, id, Event::MaintenanceCompleted).await
}

/// The job's labour and parts into the ledger, as the vehicle's expenses.
async fn post_costs(tx: &Tx, id: Uuid, vehicle: &str, req: &Complete) -> Result<(), ApiError> {
    let parts = req
        .parts
        .iter()
        .try_fold(0i64, |sum, p| {
            i64::from(p.quantity)
                .checked_mul(p.unit_cost)
                .and_then(|cost| sum.checked_add(cost))
        })
        .ok_or_else(|| ApiError::invalid("parts", "the total cost does not fit in 64 bits"))?;
    let costs = ledger::maintenance::Costs {
        job: id,
        vehicle,
        currency: &req.currency,
        labour: req.labour_cost,
        parts,
    };
    ledger::maintenance::job_completed(&**tx, &costs).await?;
    Ok(())
}

async fn cancel(_: Caller, db: Db, Path(id): Path<String>) -> Result<Json<Job>, ApiError> {
    let id = parse_id(&id)?;
    let tx = db.tx().await?;
    step(&tx, CANCEL, &[&id], "cancelled").await?;
    commitments::release(&tx, Kind::Maintenance, id).await?;
    reload(&tx, id, Event::MaintenanceCancelled).await
}

/// The job after a change, with its event emitted.
async fn reload(
    client: &tokio_postgres::Client,
    id: Uuid,
    kind: Event,
) -> Result<Json<Job>, ApiError> {
    let row = client.query_one(GET, &[&id]).await?;
    let job = load(client, &row).await?;
    jobs::emit(client, kind, &job).await?;
    Ok(Json(job))
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc::step::<Job>(
            "/v1/maintenance/{id}/start",
            "Start a job (vehicle active → under_maintenance). Early, its window is extended \
             to begin now (409 overlap naming the commitment in the way); after the window has \
             ended, 409 window_ended",
            STAFF,
        )
        .conflicts(&[
            ErrorCode::IllegalTransition,
            ErrorCode::Overlap,
            ErrorCode::WindowEnded,
        ]),
        start,
    )
    .add(
        RouteDoc::change::<Complete, Job>(
            "POST",
            "/v1/maintenance/{id}/complete",
            "Complete a job with parts and labour (vehicle → active)",
            STAFF,
        )
        .conflicts(&[ErrorCode::IllegalTransition]),
        complete,
    )
    .add(
        RouteDoc::step::<Job>(
            "/v1/maintenance/{id}/cancel",
            "Cancel a scheduled job (frees the window)",
            STAFF,
        )
        .conflicts(&[ErrorCode::IllegalTransition]),
        cancel,
    )
}
