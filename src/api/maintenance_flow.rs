//! A maintenance job's life after scheduling: start (vehicle → `under_maintenance`),
//! complete (parts and labour recorded, window released, vehicle → `active`) and cancel.
//! Each step is a compare-and-set on the job's status, so concurrent steps cannot both apply.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::auth::{Caller, STAFF};
use super::commitments::{self, Kind};
use super::extract::{currency, int_range, money, text, ApiJson};
use super::maintenance::{load, Job, Part, COLUMNS};
use super::vehicles::{transition, VehicleStatus};
use super::{RouteDoc, Routes};
use crate::http::{ApiError, AppState};

/// `POST /v1/maintenance/{id}/complete` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Complete {
    #[serde(default)]
    pub parts: Vec<Part>,
    pub labour_cost: i64,
    pub currency: String,
}

/// Moves job `id` from `from` to `to` (compare-and-set); 404 or 409 otherwise. Returns the
/// job's vehicle.
async fn step(
    tx: &tokio_postgres::Transaction<'_>,
    id: Uuid,
    from: &str,
    to: &str,
    extra_set: &str,
) -> Result<String, ApiError> {
    let row = tx
        .query_opt(
            &format!(
                "UPDATE maintenance_jobs SET status = $3{extra_set}
                 WHERE id = $1 AND status = $2 RETURNING vehicle_id"
            ),
            &[&id, &from, &to],
        )
        .await?;
    if let Some(row) = row {
        return Ok(row.get(0));
    }
    let status: String = tx
        .query_opt("SELECT status FROM maintenance_jobs WHERE id = $1", &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("maintenance job"))?
        .get(0);
    Err(ApiError::conflict(
        "illegal_transition",
        format!("maintenance job is {status}; cannot become {to}"),
    ))
}

async fn start(
    State(state): State<Arc<AppState>>,
    _: Caller,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::not_found("maintenance job"))?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let vehicle = step(&tx, id, "scheduled", "in_progress", ", started_at = now()").await?;
    transition(
        &tx,
        &vehicle,
        &[VehicleStatus::Active],
        VehicleStatus::UnderMaintenance,
    )
    .await?;
    tx.commit().await?;
    reload(&client, id).await
}

async fn complete(
    State(state): State<Arc<AppState>>,
    _: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Complete>,
) -> Result<Json<Job>, ApiError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::not_found("maintenance job"))?;
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
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let vehicle = step(
        &tx,
        id,
        "in_progress",
        "completed",
        ", completed_at = now()",
    )
    .await?;
    tx.execute(
        "UPDATE maintenance_jobs SET labour_cost = $2, currency = $3 WHERE id = $1",
        &[&id, &req.labour_cost, &req.currency],
    )
    .await?;
    for p in &req.parts {
        tx.execute(
            "INSERT INTO maintenance_parts (job_id, part_name, quantity, unit_cost) VALUES ($1, $2, $3, $4)",
            &[&id, &p.part_name.trim(), &p.quantity, &p.unit_cost],
        )
        .await?;
    }
    commitments::release(&tx, Kind::Maintenance, id).await?;
    transition(
        &tx,
        &vehicle,
        &[VehicleStatus::UnderMaintenance],
        VehicleStatus::Active,
    )
    .await?;
    tx.commit().await?;
    reload(&client, id).await
}

async fn cancel(
    State(state): State<Arc<AppState>>,
    _: Caller,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::not_found("maintenance job"))?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    step(&tx, id, "scheduled", "cancelled", "").await?;
    commitments::release(&tx, Kind::Maintenance, id).await?;
    tx.commit().await?;
    reload(&client, id).await
}

async fn reload(client: &tokio_postgres::Client, id: Uuid) -> Result<Json<Job>, ApiError> {
    let row = client
        .query_one(
            &format!("SELECT {COLUMNS} FROM maintenance_jobs WHERE id = $1"),
            &[&id],
        )
        .await?;
    Ok(Json(load(client, &row).await?))
}

pub fn routes(r: Routes) -> Routes {
    let one = |g: &mut schemars::SchemaGenerator| g.subschema_for::<Job>();
    r.add(
        RouteDoc {
            response: Some(one),
            errors: &[404, 409],
            ..RouteDoc::new(
                "POST",
                "/v1/maintenance/{id}/start",
                "Start a job (vehicle active → under_maintenance)",
                STAFF,
            )
        },
        start,
    )
    .add(
        RouteDoc {
            request: Some(|g| g.subschema_for::<Complete>()),
            response: Some(one),
            errors: &[400, 404, 409, 413, 422],
            ..RouteDoc::new(
                "POST",
                "/v1/maintenance/{id}/complete",
                "Complete a job with parts and labour (vehicle → active)",
                STAFF,
            )
        },
        complete,
    )
    .add(
        RouteDoc {
            response: Some(one),
            errors: &[404, 409],
            ..RouteDoc::new(
                "POST",
                "/v1/maintenance/{id}/cancel",
                "Cancel a scheduled job (frees the window)",
                STAFF,
            )
        },
        cancel,
    )
}
