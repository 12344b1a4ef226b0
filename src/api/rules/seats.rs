//! Who may sit at a vehicle's wheel as time passes. A driver leaves the vehicle
//! (`drivers.current_vehicle_id` clears, so dispatch no longer offers them jobs) when the
//! shift that put them there ends — completed or cancelled by staff, or past its end — and
//! when their licence expires. Shifts past their end complete themselves and release the
//! vehicle. The time rules ([`crate::timed`]) run [`end_shifts`] and [`expire_licences`] on
//! every daemon; `FOR UPDATE SKIP LOCKED` lets several daemons share the work.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use tokio_postgres::Client;
use uuid::Uuid;

use crate::events::{self, Kind};

/// Drivers at the wheel of the vehicle of an ended assignment in `$1` that had started by
/// `$2` (now), unless another scheduled assignment to that vehicle covers now, leave it. A
/// driver put in a vehicle by staff with no assignment is left where they are.
const LEAVE: &str = "UPDATE drivers d SET current_vehicle_id = NULL, updated_at = now()
       FROM assignments a
      WHERE a.id = ANY($1) AND a.starts_at <= $2
        AND d.id = a.driver_id AND d.current_vehicle_id = a.vehicle_id
        AND NOT EXISTS (SELECT 1 FROM assignments o
                         WHERE o.driver_id = d.id AND o.vehicle_id = a.vehicle_id
                           AND o.status = 'scheduled' AND o.starts_at <= $2 AND $2 < o.ends_at)
     RETURNING d.id";
/// Up to `$2` scheduled assignments that ended at or before `$1`, marked completed.
const COMPLETE_ENDED: &str = "UPDATE assignments SET status = 'completed'
     WHERE id IN (SELECT id FROM assignments WHERE status = 'scheduled' AND ends_at <= $1
                  ORDER BY ends_at LIMIT $2 FOR UPDATE SKIP LOCKED)
     RETURNING id, driver_id, vehicle_id, starts_at, ends_at, status, created_at";
const RELEASE: &str =
    "DELETE FROM vehicle_commitments WHERE kind = 'assignment' AND ref_id = ANY($1)";
/// Up to `$2` drivers at a wheel whose licence expired before `$1` (today, UTC) leave it.
const EXPIRED: &str = "UPDATE drivers SET current_vehicle_id = NULL, updated_at = now()
     WHERE id IN (SELECT id FROM drivers
                   WHERE current_vehicle_id IS NOT NULL AND deleted_at IS NULL
                     AND licence_expiry < $1
                   LIMIT $2 FOR UPDATE SKIP LOCKED)
     RETURNING id";

/// What [`end_shifts`] changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ended {
    pub shifts: Vec<Uuid>,
    pub drivers: Vec<Uuid>,
}

/// Drivers of the assignments `ended` (just completed or cancelled) leave their vehicles;
/// returns who left.
pub async fn leave(
    tx: &Client,
    ended: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, tokio_postgres::Error> {
    let rows = tx.query(LEAVE, &[&ended, &now]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Completes up to `limit` shifts whose end is at or before `now`, releases their vehicles
/// and seats, in the caller's transaction.
pub async fn end_shifts(
    tx: &Client,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Ended, tokio_postgres::Error> {
    let rows = tx.query(COMPLETE_ENDED, &[&now, &limit]).await?;
    let shifts: Vec<Uuid> = rows.iter().map(|r| r.get(0)).collect();
    if shifts.is_empty() {
        return Ok(Ended::default());
    }
    for r in &rows {
        // The assignment as the API shows it (src/api/fleet/assignments.rs).
        let id: Uuid = r.get(0);
        let assignment = json!({
            "id": id,
            "driver_id": r.get::<_, Uuid>(1),
            "vehicle_id": r.get::<_, String>(2),
            "starts_at": r.get::<_, DateTime<Utc>>(3),
            "ends_at": r.get::<_, DateTime<Utc>>(4),
            "status": r.get::<_, String>(5),
            "created_at": r.get::<_, DateTime<Utc>>(6),
        });
        let body = json!({ "assignment": assignment });
        events::emit(tx, Kind::AssignmentCompleted, &id.to_string(), body).await?;
    }
    tx.execute(RELEASE, &[&shifts]).await?;
    let drivers = leave(tx, &shifts, now).await?;
    Ok(Ended { shifts, drivers })
}

/// Up to `limit` drivers whose licence expired before `today` leave their vehicles.
pub async fn expire_licences(
    tx: &Client,
    today: NaiveDate,
    limit: i64,
) -> Result<Vec<Uuid>, tokio_postgres::Error> {
    let rows = tx.query(EXPIRED, &[&today, &limit]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
