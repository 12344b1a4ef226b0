//! `/v1/maintenance-schedules` (staff): [`model`] (what a schedule is and the checks on it)
//! and [`routes`] (create, list, read, change, delete). When each falls due is
//! [`crate::maintenance`]' work; [`applies`] checks a job's link to one.

pub mod model;
pub mod routes;

use uuid::Uuid;

use crate::api::error::ApiError;

pub use routes::routes;

/// Whether live schedule `$1` applies to vehicle `$2` (its own, or its type's); share-locked
/// so that it cannot be deleted while a job is linked to it.
const APPLIES: &str = "SELECT s.vehicle_id = $2
                              OR s.vehicle_type = (SELECT type FROM vehicles WHERE id = $2)
                         FROM maintenance_schedules s
                        WHERE s.id = $1 AND s.deleted_at IS NULL FOR SHARE";

/// 422 naming `schedule_id` unless `schedule` is a live schedule that applies to `vehicle`.
pub async fn applies(
    tx: &tokio_postgres::Client,
    schedule: Uuid,
    vehicle: &str,
) -> Result<(), ApiError> {
    let row = tx.query_opt(APPLIES, &[&schedule, &vehicle]).await?;
    match row.map(|r| r.get::<_, Option<bool>>(0).unwrap_or(false)) {
        None => Err(ApiError::invalid(
            "schedule_id",
            format!("no maintenance schedule {schedule}"),
        )),
        Some(false) => Err(ApiError::invalid(
            "schedule_id",
            format!("maintenance schedule {schedule} does not apply to vehicle {vehicle}"),
        )),
        Some(true) => Ok(()),
    }
}
