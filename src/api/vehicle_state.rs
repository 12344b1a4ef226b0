//! A vehicle's lifecycle (compare-and-set transitions) and its odometer readings, which
//! never decrease (enforced by a trigger on `vehicles`).

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::auth::{Caller, Role, STAFF};
use super::cas::compare_and_set;
use super::extract::{int_range, ApiJson};
use super::txn::Db;
use super::vehicles::{from_row, Vehicle, GET};
use super::{RouteDoc, Routes};
use crate::http::ApiError;

/// Into `$3` from any of `$2`.
const TRANSITION: &str = "UPDATE vehicles SET status = $3, updated_at = now()
                          WHERE id = $1 AND deleted_at IS NULL AND status = ANY($2) RETURNING id";
const STATUS: &str = "SELECT status FROM vehicles WHERE id = $1 AND deleted_at IS NULL";
const LOCK: &str = "SELECT 1 FROM vehicles WHERE id = $1 AND deleted_at IS NULL FOR UPDATE";
const EXISTS: &str = "SELECT 1 FROM vehicles WHERE id = $1 AND deleted_at IS NULL";
const ADD_ODOMETER: &str =
    "INSERT INTO odometer_readings (vehicle_id, reading_km, source) VALUES ($1, $2, $3)";

/// Lifecycle: `active → rented → active`, `active → under_maintenance → active`,
/// `* → decommissioned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VehicleStatus {
    Active,
    Rented,
    UnderMaintenance,
    Decommissioned,
}

impl VehicleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VehicleStatus::Active => "active",
            VehicleStatus::Rented => "rented",
            VehicleStatus::UnderMaintenance => "under_maintenance",
            VehicleStatus::Decommissioned => "decommissioned",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ApiError> {
        use VehicleStatus::*;
        [Active, Rented, UnderMaintenance, Decommissioned]
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| ApiError::internal(format!("unknown vehicle status {s}")))
    }

    /// Whether the lifecycle allows `self → to`.
    pub fn can_become(self, to: VehicleStatus) -> bool {
        use VehicleStatus::*;
        matches!(
            (self, to),
            (Active, Rented)
                | (Rented, Active)
                | (Active, UnderMaintenance)
                | (UnderMaintenance, Active)
                | (Active | Rented | UnderMaintenance, Decommissioned)
        )
    }
}

/// `POST /v1/vehicles/{id}/status` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    pub status: VehicleStatus,
}

/// `POST /v1/vehicles/{id}/odometer` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OdometerReading {
    /// Kilometres; never below the vehicle's current reading.
    pub reading_km: i64,
}

/// Moves `id` from `from` to `to` inside `tx` if it is still in `from` (compare-and-set,
/// so of two concurrent transitions only one applies); 409 otherwise.
pub async fn transition(
    tx: &tokio_postgres::Client,
    id: &str,
    from: &[VehicleStatus],
    to: VehicleStatus,
) -> Result<(), ApiError> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let to = to.as_str();
    compare_and_set(tx, TRANSITION, &[&id, &from, &to], STATUS, "vehicle", to).await?;
    Ok(())
}

async fn set_status(
    _: Caller,
    db: Db,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Transition>,
) -> Result<Json<Vehicle>, ApiError> {
    use VehicleStatus::*;
    let from: Vec<VehicleStatus> = [Active, Rented, UnderMaintenance, Decommissioned]
        .into_iter()
        .filter(|f| f.can_become(req.status))
        .collect();
    let tx = db.tx().await?;
    if req.status == Decommissioned {
        // Lock first: no reservation may slip in between the check and the transition.
        tx.query_opt(LOCK, &[&id]).await?;
        super::commitments::ensure_uncommitted(&tx, &id).await?;
    }
    transition(&tx, &id, &from, req.status).await?;
    let row = tx.query_one(GET, &[&id]).await?;
    Ok(Json(from_row(&row)?))
}

async fn odometer(
    _: Caller,
    db: Db,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<OdometerReading>,
) -> Result<(StatusCode, Json<Vehicle>), ApiError> {
    int_range("reading_km", req.reading_km, 0, 100_000_000)?;
    let tx = db.tx().await?;
    record_odometer(&tx, &id, req.reading_km, "api").await?;
    let row = tx.query_one(GET, &[&id]).await?;
    Ok((StatusCode::CREATED, Json(from_row(&row)?)))
}

/// Records a reading; the database refuses one below the current odometer (422).
pub async fn record_odometer(
    tx: &tokio_postgres::Client,
    id: &str,
    km: i64,
    source: &str,
) -> Result<(), ApiError> {
    tx.query_opt(EXISTS, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("vehicle"))?;
    tx.execute(ADD_ODOMETER, &[&id, &km, &source]).await?;
    Ok(())
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc::change::<Transition, Vehicle>(
            "POST",
            "/v1/vehicles/{id}/status",
            "Lifecycle transition (illegal ones are 409)",
            STAFF,
        ),
        set_status,
    )
    .add(
        RouteDoc {
            success: 201,
            errors: &[400, 404, 413, 422],
            ..RouteDoc::change::<OdometerReading, Vehicle>(
                "POST",
                "/v1/vehicles/{id}/odometer",
                "Record an odometer reading (never decreasing)",
                &[Role::Admin, Role::Dispatcher, Role::Driver],
            )
        },
        odometer,
    )
}

#[cfg(test)]
mod tests {
    use super::VehicleStatus::*;

    #[test]
    fn lifecycle() {
        assert!(Active.can_become(Rented) && Rented.can_become(Active));
        assert!(Active.can_become(UnderMaintenance) && UnderMaintenance.can_become(Active));
        assert!(!Rented.can_become(UnderMaintenance));
        assert!(!UnderMaintenance.can_become(Rented));
        assert!(!Decommissioned.can_become(Active));
        assert!(!Decommissioned.can_become(Decommissioned));
        assert!(!Active.can_become(Active));
        for s in [Active, Rented, UnderMaintenance] {
            assert!(s.can_become(Decommissioned));
        }
    }
}
