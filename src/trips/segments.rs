//! The segments' SQL: writing settled trips and stops (with path, driver and OBD figures),
//! refreshing trips' OBD figures, and dropping what a late reading re-decides; each change
//! emits its event (`trip.completed`, `stop.discarded`, ...) in the same transaction
//! (migrations/0019_trip_events.sql).

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;

use super::machine::{Kind, Segment};
use super::path;
use super::store::at;
use super::Fix;

type Db = tokio_postgres::Error;

/// The last segment settled before `before`: where a redo resumes.
pub async fn anchor(
    c: &impl GenericClient,
    vehicle: &str,
    before: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, Db> {
    let row = c
        .query_opt(
            "SELECT resume_at FROM (
                 SELECT decided_at, resume_at FROM trips WHERE vehicle_id = $1 AND decided_at < $2
                 UNION ALL
                 SELECT decided_at, resume_at FROM stops WHERE vehicle_id = $1 AND decided_at < $2
             ) s ORDER BY decided_at DESC, resume_at DESC LIMIT 1",
            &[&vehicle, &before],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Drops the segments settled at or after `from`, except those starting at `keep` (they are
/// about to be written again, and keep their ids), each with its `*.discarded` event.
pub async fn drop_from(
    c: &impl GenericClient,
    vehicle: &str,
    from: DateTime<Utc>,
    keep: &[DateTime<Utc>],
) -> Result<(), Db> {
    for (table, what) in [("trips", "trip"), ("stops", "stop")] {
        let sql = format!(
            "WITH dropped AS (
                 DELETE FROM {table} WHERE vehicle_id = $1 AND decided_at >= $2
                    AND start_ts <> ALL($3::timestamptz[])
                 RETURNING id, vehicle_id, start_ts)
             SELECT fleetd_emit('{what}.discarded', id::text,
                                jsonb_build_object('{what}_id', id, 'vehicle_id', vehicle_id,
                                                   'start_ts', fleetd_ts(start_ts)))
               FROM dropped"
        );
        c.execute(&sql, &[&vehicle, &from, &keep]).await?;
    }
    Ok(())
}

/// The driver at the wheel at `ts`: the shift (assignment) covering it, else whoever sits
/// in the vehicle now.
async fn driver(
    c: &impl GenericClient,
    vehicle: &str,
    ts: DateTime<Utc>,
) -> Result<Option<uuid::Uuid>, Db> {
    let row = c
        .query_opt(
            "SELECT coalesce(
                 (SELECT driver_id FROM assignments
                   WHERE vehicle_id = $1 AND status <> 'cancelled'
                     AND starts_at <= $2 AND ends_at > $2
                   ORDER BY starts_at DESC LIMIT 1),
                 (SELECT id FROM drivers
                   WHERE current_vehicle_id = $1 AND deleted_at IS NULL LIMIT 1))",
            &[&vehicle, &ts],
        )
        .await?;
    Ok(row.and_then(|r| r.get(0)))
}

/// Fuel fallen (refuelling excluded) and odometer advanced between two times, from OBD.
const TRIP_OBD: &str = "
    SELECT (SELECT sum(GREATEST(prev - fuel_pct, 0))::float8 FROM (
                SELECT fuel_pct, lag(fuel_pct) OVER (ORDER BY ts) AS prev FROM obd_readings
                 WHERE vehicle_id = $1 AND ts BETWEEN $2 AND $3 AND fuel_pct IS NOT NULL) f),
           (SELECT max(odometer_km) - min(odometer_km) FROM obd_readings
             WHERE vehicle_id = $1 AND ts BETWEEN $2 AND $3 AND odometer_km IS NOT NULL)";

/// Writes a stop ($1 vehicle, $2 driver, $3 start, $4 end, $5 EWKT position, $6 decided, $7
/// resume) and emits `stop.completed` when it is new or differs from what was there
/// (`revised`): a rewrite that changes nothing emits nothing.
const WRITE_STOP: &str = "
    WITH before AS (
        SELECT stop_json(s) AS j FROM stops s WHERE vehicle_id = $1 AND start_ts = $3
    ), w AS (
        INSERT INTO stops (vehicle_id, driver_id, start_ts, end_ts, position, decided_at,
                           resume_at)
        VALUES ($1, $2, $3, $4, ST_GeomFromEWKT($5), $6, $7)
        ON CONFLICT (vehicle_id, start_ts) DO UPDATE
           SET driver_id = EXCLUDED.driver_id, end_ts = EXCLUDED.end_ts,
               position = EXCLUDED.position, decided_at = EXCLUDED.decided_at,
               resume_at = EXCLUDED.resume_at
        RETURNING *
    )
    SELECT fleetd_emit('stop.completed', w.id::text,
                       jsonb_build_object('stop', stop_json(w::stops),
                                          'revised', EXISTS (SELECT 1 FROM before)))
      FROM w WHERE NOT EXISTS (SELECT 1 FROM before WHERE before.j = stop_json(w::stops))";

/// Writes a trip with its path, driver and OBD figures, and emits `trip.completed` as
/// [`WRITE_STOP`] does.
const WRITE_TRIP: &str = "
    WITH before AS (
        SELECT trip_json(t) AS j FROM trips t WHERE vehicle_id = $1 AND start_ts = $3
    ), w AS (
        INSERT INTO trips (vehicle_id, driver_id, start_ts, end_ts, start_position,
               end_position, distance_m, moving_s, idle_s, max_speed_kmh, avg_speed_kmh,
               readings, fuel_used_pct, odometer_delta_km, path, decided_at, resume_at)
        VALUES ($1, $2, $3, $4, ST_GeomFromEWKT($5), ST_GeomFromEWKT($6), $7, $8, $9,
                $10, $11, $12, $13, $14, ST_GeomFromEWKT($15), $16, $17)
        ON CONFLICT (vehicle_id, start_ts) DO UPDATE
           SET driver_id = EXCLUDED.driver_id, end_ts = EXCLUDED.end_ts,
               start_position = EXCLUDED.start_position,
               end_position = EXCLUDED.end_position, distance_m = EXCLUDED.distance_m,
               moving_s = EXCLUDED.moving_s, idle_s = EXCLUDED.idle_s,
               max_speed_kmh = EXCLUDED.max_speed_kmh,
               avg_speed_kmh = EXCLUDED.avg_speed_kmh, readings = EXCLUDED.readings,
               fuel_used_pct = EXCLUDED.fuel_used_pct,
               odometer_delta_km = EXCLUDED.odometer_delta_km, path = EXCLUDED.path,
               decided_at = EXCLUDED.decided_at, resume_at = EXCLUDED.resume_at
        RETURNING *
    )
    SELECT fleetd_emit('trip.completed', w.id::text,
                       jsonb_build_object('trip', trip_json(w::trips),
                                          'revised', EXISTS (SELECT 1 FROM before)))
      FROM w WHERE NOT EXISTS (SELECT 1 FROM before WHERE before.j = trip_json(w::trips))";

/// Writes a settled segment (a trip with its path, driver and OBD figures).
pub async fn write(
    c: &impl GenericClient,
    vehicle: &str,
    s: &Segment,
    path_tolerance_m: f64,
) -> Result<(), Db> {
    let (start, end) = (at(s.start.ts_us), at(s.end.ts_us));
    let (decided, resume) = (at(s.decided_us), at(s.resume_us));
    let driver = driver(c, vehicle, start).await?;
    let point = |f: &Fix| format!("SRID=4326;POINT({} {})", f.lon, f.lat);
    match (s.kind, s.stats) {
        (Kind::Stop, _) | (Kind::Trip, None) => {
            c.execute(
                WRITE_STOP,
                &[
                    &vehicle,
                    &driver,
                    &start,
                    &end,
                    &point(&s.start),
                    &decided,
                    &resume,
                ],
            )
            .await?;
        }
        (Kind::Trip, Some(st)) => {
            let rows = c
                .query(
                    "SELECT ST_Y(position), ST_X(position) FROM gps_readings
                      WHERE vehicle_id = $1 AND ts BETWEEN $2 AND $3 ORDER BY ts",
                    &[&vehicle, &start, &end],
                )
                .await?;
            let mut pts: Vec<(f64, f64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
            if pts.len() < 2 {
                pts = vec![(s.start.lat, s.start.lon), (s.end.lat, s.end.lon)];
            }
            let kept = path::simplify(&pts, path_tolerance_m);
            let coords: Vec<String> = kept
                .iter()
                .map(|&i| format!("{} {}", pts[i].1, pts[i].0))
                .collect();
            let line = format!("SRID=4326;LINESTRING({})", coords.join(","));
            let obd = c.query_one(TRIP_OBD, &[&vehicle, &start, &end]).await?;
            let (fuel, odo): (Option<f64>, Option<f64>) = (obd.get(0), obd.get(1));
            let duration_s = (s.end.ts_us - s.start.ts_us) as f64 / 1e6;
            let moving_s = st.moving_us as f64 / 1e6;
            let avg = if duration_s > 0.0 {
                st.distance_m / duration_s * 3.6
            } else {
                0.0
            };
            c.execute(
                WRITE_TRIP,
                &[
                    &vehicle,
                    &driver,
                    &start,
                    &end,
                    &point(&s.start),
                    &point(&s.end),
                    &st.distance_m,
                    &moving_s,
                    &(duration_s - moving_s).max(0.0),
                    &st.max_speed_kmh,
                    &avg,
                    &(st.readings as i32),
                    &fuel,
                    &odo,
                    &line,
                    &decided,
                    &resume,
                ],
            )
            .await?;
        }
    }
    Ok(())
}

/// Recomputes the OBD figures of each vehicle's trips ending at or after its `from`, in
/// one statement ([`TRIP_OBD`] per trip); a trip whose figures change emits its revised
/// `trip.completed`.
pub async fn refresh_obd(c: &impl GenericClient, from: &[(&str, DateTime<Utc>)]) -> Result<(), Db> {
    if from.is_empty() {
        return Ok(());
    }
    let (vehicles, times): (Vec<&str>, Vec<DateTime<Utc>>) = from.iter().copied().unzip();
    // Only trips whose figures change are updated, each with its revised `trip.completed`.
    c.execute(
        "WITH fresh AS (
             SELECT t.id,
                    (SELECT sum(GREATEST(prev - fuel_pct, 0))::float8 FROM (
                         SELECT fuel_pct, lag(fuel_pct) OVER (ORDER BY ts) AS prev
                           FROM obd_readings
                          WHERE vehicle_id = t.vehicle_id AND ts BETWEEN t.start_ts AND t.end_ts
                            AND fuel_pct IS NOT NULL) f) AS fuel,
                    (SELECT max(odometer_km) - min(odometer_km) FROM obd_readings
                      WHERE vehicle_id = t.vehicle_id AND ts BETWEEN t.start_ts AND t.end_ts
                        AND odometer_km IS NOT NULL) AS odo
               FROM trips t JOIN unnest($1::text[], $2::timestamptz[]) AS w(v, from_ts)
                 ON t.vehicle_id = w.v AND t.end_ts >= w.from_ts
         ), changed AS (
             UPDATE trips t SET fuel_used_pct = f.fuel, odometer_delta_km = f.odo
               FROM fresh f
              WHERE t.id = f.id
                AND (t.fuel_used_pct, t.odometer_delta_km) IS DISTINCT FROM (f.fuel, f.odo)
             RETURNING t.*
         )
         SELECT fleetd_emit('trip.completed', changed.id::text,
                            jsonb_build_object('trip', trip_json(changed::trips),
                                               'revised', true))
           FROM changed",
        &[&vehicles, &times],
    )
    .await?;
    Ok(())
}
