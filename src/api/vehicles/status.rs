//! A vehicle's lifecycle (compare-and-set transitions) and its odometer readings, which
//! never decrease (enforced by a trigger on `vehicles`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::model::{from_row, Vehicle, VehicleStatus, GET};
use crate::api::auth::{Caller, Role, STAFF};
use crate::api::error::{ApiError, ErrorCode, ODOMETER_COLUMN};
use crate::api::extract::{int_range, ApiJson};
use crate::api::middleware::txn::Db;
use crate::api::now::Now;
use crate::api::routes::{RouteDoc, Routes};
use crate::api::rules::cas::compare_and_set;
use crate::api::state::AppState;
use crate::events::{self, Kind};

/// Into `$3` from any of `$2`; returns the status it was in.
const TRANSITION: &str = "WITH old AS (SELECT id, status FROM vehicles
                                       WHERE id = $1 AND deleted_at IS NULL FOR UPDATE)
                          UPDATE vehicles v SET status = $3, updated_at = now() FROM old
                           WHERE v.id = old.id AND old.status = ANY($2) RETURNING old.status";
const STATUS: &str = "SELECT status FROM vehicles WHERE id = $1 AND deleted_at IS NULL";
const LOCK: &str = "SELECT 1 FROM vehicles WHERE id = $1 AND deleted_at IS NULL FOR UPDATE";
const EXISTS: &str = "SELECT 1 FROM vehicles WHERE id = $1 AND deleted_at IS NULL";
/// Recorded at the API's clock (`$4`), as every time the API's rules compare against.
const ADD_ODOMETER: &str =
    "INSERT INTO odometer_readings (vehicle_id, reading_km, source, recorded_at)
                            VALUES ($1, $2, $3, $4)";
/// User `$1`'s driver profile at the wheel of `$2`; shared-locked so the driver cannot
/// hand the vehicle over while the reading is written.
const DRIVING: &str = "SELECT 1 FROM drivers
                       WHERE user_id = $1 AND current_vehicle_id = $2 AND deleted_at IS NULL
                       FOR SHARE";
/// A driver at the wheel of `$1` (drivers take a vehicle only while it is in service).
const AT_THE_WHEEL: &str =
    "SELECT id FROM drivers WHERE current_vehicle_id = $1 AND deleted_at IS NULL";
/// A maintenance job in progress on `$1`: it will move the vehicle back itself on completion.
const JOB_IN_PROGRESS: &str =
    "SELECT id FROM maintenance_jobs WHERE vehicle_id = $1 AND status = 'in_progress' LIMIT 1";

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
    #[schemars(range(min = 0, max = 100_000_000))]
    pub reading_km: i64,
}

/// Moves `id` from `from` to `to` inside `tx` if it is still in `from` (compare-and-set,
/// so of two concurrent transitions only one applies; 409 otherwise), and emits
/// `vehicle.status_changed` (and `vehicle.decommissioned`).
pub async fn transition(
    tx: &tokio_postgres::Client,
    id: &str,
    from: &[VehicleStatus],
    to: VehicleStatus,
) -> Result<(), ApiError> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let to_str = to.as_str();
    let row = compare_and_set(
        tx,
        TRANSITION,
        &[&id, &from, &to_str],
        STATUS,
        "vehicle",
        to_str,
    )
    .await?;
    let was: String = row.get(0);
    let change = json!({ "vehicle_id": id, "from": was, "to": to_str });
    events::emit(tx, Kind::VehicleStatusChanged, id, change.clone()).await?;
    if to == VehicleStatus::Decommissioned {
        events::emit(tx, Kind::VehicleDecommissioned, id, change).await?;
    }
    Ok(())
}

async fn set_status(
    State(state): State<Arc<AppState>>,
    _: Caller,
    db: Db,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Transition>,
) -> Result<Json<Vehicle>, ApiError> {
    use VehicleStatus::*;
    let from: Vec<VehicleStatus> = [Active, Rented, UnderMaintenance, Decommissioned]
        .into_iter()
        .filter(|f| f.by_hand(req.status))
        .collect();
    let tx = db.tx().await?;
    // Lock first: no reservation or job start may slip in between the checks and the
    // transition.
    tx.query_opt(LOCK, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("vehicle"))?;
    match req.status {
        Rented => {
            return Err(ApiError::new(
                ErrorCode::IllegalTransition,
                "a vehicle becomes rented only by activating a rental",
            ))
        }
        Decommissioned => {
            // An active rental or a job in progress holds a commitment until it completes.
            crate::api::rules::commitments::ensure_uncommitted(&tx, &id).await?;
            ensure_driverless(&tx, &id).await?;
            super::trackers::revoke(&state, &tx, &id).await?;
        }
        Active => {
            if let Some(job) = tx.query_opt(JOB_IN_PROGRESS, &[&id]).await? {
                let job: uuid::Uuid = job.get(0);
                return Err(ApiError::new(
                    ErrorCode::MaintenanceInProgress,
                    format!("maintenance job {job} is in progress; complete it instead"),
                ));
            }
        }
        UnderMaintenance => {}
    }
    transition(&tx, &id, &from, req.status).await?;
    let row = tx.query_one(GET, &[&id]).await?;
    Ok(Json(from_row(&row)?))
}

/// Staff record any vehicle's reading; a driver only the one of the vehicle they are
/// driving, since a reading can never be taken back. The vehicle is visible to drivers, so
/// refusing is 403 rather than a 404 that would pretend it does not exist.
async fn odometer(
    caller: Caller,
    Now(now): Now,
    db: Db,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<OdometerReading>,
) -> Result<(StatusCode, Json<Vehicle>), ApiError> {
    int_range("reading_km", req.reading_km, 0, 100_000_000)?;
    let tx = db.tx().await?;
    if !caller.is_staff()
        && tx
            .query_opt(DRIVING, &[&caller.user_id, &id])
            .await?
            .is_none()
    {
        return Err(ApiError::forbidden(
            "a driver may record only the odometer of the vehicle they are driving",
        ));
    }
    // The trigger names the column; this route's body calls it `reading_km`.
    record_odometer(&tx, &id, req.reading_km, "api", now)
        .await
        .map_err(|e| e.renaming_field(ODOMETER_COLUMN, "reading_km"))?;
    let row = tx.query_one(GET, &[&id]).await?;
    Ok((StatusCode::CREATED, Json(from_row(&row)?)))
}

/// 409 `vehicle_in_use` while a driver has `id` as their current vehicle (before
/// decommissioning or deleting it). Call with the vehicle locked `FOR UPDATE`: a driver
/// taking it share-locks it, so neither can slip past the other.
pub async fn ensure_driverless(tx: &tokio_postgres::Client, id: &str) -> Result<(), ApiError> {
    match tx.query_opt(AT_THE_WHEEL, &[&id]).await? {
        None => Ok(()),
        Some(driver) => {
            let driver: uuid::Uuid = driver.get(0);
            Err(ApiError::new(
                ErrorCode::VehicleInUse,
                format!("driver {driver} is driving it; clear their current_vehicle_id first"),
            ))
        }
    }
}

/// Records a reading taken at `at` (the request's [`Now`]: preventive maintenance reads the
/// odometer at a job's completion from these times); the database refuses one below the
/// current odometer (422).
pub async fn record_odometer(
    tx: &tokio_postgres::Client,
    id: &str,
    km: i64,
    source: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), ApiError> {
    tx.query_opt(EXISTS, &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("vehicle"))?;
    tx.execute(ADD_ODOMETER, &[&id, &km, &source, &at]).await?;
    Ok(())
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc::change::<Transition, Vehicle>(
            "POST",
            "/v1/vehicles/{id}/status",
            "Lifecycle transitions no flow owns, by hand (others are 409 illegal_transition). \
             `decommissioned` from any state, 409 vehicle_committed while the vehicle still \
             holds a rental, maintenance window or assignment (an active rental or a job in \
             progress included), 409 vehicle_in_use while a driver has it as their current \
             vehicle; `active → under_maintenance` for an unplanned breakdown and \
             back to `active`, 409 maintenance_in_progress while a maintenance job is in \
             progress (completing the job does that). `rented` and back only through \
             activating and completing a rental.",
            STAFF,
        )
        .conflicts(&[
            ErrorCode::IllegalTransition,
            ErrorCode::MaintenanceInProgress,
            ErrorCode::VehicleCommitted,
            ErrorCode::VehicleInUse,
        ]),
        set_status,
    )
    .add(
        RouteDoc {
            success: 201,
            errors: &[400, 404, 413, 422],
            ..RouteDoc::change::<OdometerReading, Vehicle>(
                "POST",
                "/v1/vehicles/{id}/odometer",
                "Record an odometer reading (never decreasing); a driver only for the vehicle \
                 they are driving (403 otherwise)",
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

    #[test]
    fn by_hand_only_what_no_flow_owns() {
        assert!(!Active.by_hand(Rented) && !Rented.by_hand(Active));
        assert!(Active.by_hand(UnderMaintenance) && UnderMaintenance.by_hand(Active));
        for s in [Active, Rented, UnderMaintenance] {
            assert!(s.by_hand(Decommissioned));
        }
        for from in [Active, Rented, UnderMaintenance, Decommissioned] {
            for to in [Active, Rented, UnderMaintenance, Decommissioned] {
                assert!(
                    !from.by_hand(to) || from.can_become(to),
                    "{from:?} → {to:?}"
                );
            }
        }
    }
}
