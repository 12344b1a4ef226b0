//! Which vehicles are parked at a location, judged from each vehicle's latest stored GPS
//! reading (the newest `ts` in `gps_readings`, whatever its age: a parked vehicle's tracker
//! may sleep for days, and the live index forgets silent vehicles after
//! `dispatch.live_horizon_s`).
//!
//! A location with a geofence holds the vehicles inside the fence, judged as the fence engine
//! judges it on the sphere: a circle fence exactly (`ST_DWithin` of its centre, its radius),
//! a polygon fence by `ST_Covers` of its area (boundary included). A location without one
//! holds the vehicles within [`PARKED_RADIUS_M`] of its point (great-circle distance,
//! boundary included). A fence's hysteresis does not apply: this is where the vehicle is now,
//! not a visit.

use uuid::Uuid;

use super::model::PARKED_RADIUS_M;
use crate::api::error::ApiError;

/// The ids of the (not deleted) vehicles whose latest reading is at location `$1`, in one
/// row; no row when there is no such location. The newest reading per vehicle comes from the
/// `(vehicle_id, ts)` primary key of each day partition, newest first.
const PARKED: &str = "
    SELECT ARRAY(
        SELECT v.id FROM vehicles v
         CROSS JOIN LATERAL (SELECT g.position::geography AS p FROM gps_readings g
                              WHERE g.vehicle_id = v.id ORDER BY g.ts DESC LIMIT 1) AS last
         WHERE v.deleted_at IS NULL
           AND CASE WHEN f.id IS NULL THEN ST_DWithin(l.point, last.p, $2::float8, false)
                    WHEN f.center IS NOT NULL THEN ST_DWithin(f.center, last.p, f.radius_m, false)
                    ELSE ST_Covers(f.area, last.p)
               END
         ORDER BY v.id)
      FROM locations l LEFT JOIN geofences f ON f.id = l.geofence_id
     WHERE l.id = $1";

/// The vehicles parked at `location`, or 422 naming `field` when there is no such location.
pub async fn vehicles_at<C: tokio_postgres::GenericClient>(
    client: &C,
    location: Uuid,
    field: &str,
) -> Result<Vec<String>, ApiError> {
    client
        .query_opt(PARKED, &[&location, &PARKED_RADIUS_M])
        .await?
        .map(|row| row.get(0))
        .ok_or_else(|| ApiError::invalid(field, "no such location"))
}
