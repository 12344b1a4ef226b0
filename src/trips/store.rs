//! The segmenter's SQL: folding marks, claiming vehicles, reading readings, writing segments.

use chrono::{DateTime, Utc};
use tokio_postgres::{GenericClient, Row};

use super::machine::{Kind, Segment};
use super::path;
use super::Fix;

type Db = tokio_postgres::Error;

/// Moves up to `limit` marks into `segment_state`; returns how many it took. Vehicles are
/// upserted in id order, so concurrent folds cannot deadlock.
pub async fn fold(c: &impl GenericClient, limit: i64) -> Result<u64, Db> {
    let row = c
        .query_one(
            "WITH taken AS (
                 DELETE FROM segment_marks WHERE id IN (
                     SELECT id FROM segment_marks ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
                 RETURNING vehicle_ids, gps_from, obd_from, marked_at
             ), flat AS (
                 SELECT v, min(g) AS g, min(o) AS o, min(marked_at) AS m
                   FROM taken, unnest(vehicle_ids, gps_from, obd_from) AS u(v, g, o)
                  GROUP BY v
             ), folded AS (
                 INSERT INTO segment_state AS s (vehicle_id, dirty_from, obd_dirty_from, origin,
                                                 marked_at)
                 SELECT v, g, o, g, m FROM flat ORDER BY v
                 ON CONFLICT (vehicle_id) DO UPDATE
                    SET dirty_from = LEAST(s.dirty_from, EXCLUDED.dirty_from),
                        marked_at = LEAST(s.marked_at, EXCLUDED.marked_at),
                        obd_dirty_from = LEAST(s.obd_dirty_from, EXCLUDED.obd_dirty_from),
                        origin = LEAST(s.origin, EXCLUDED.origin),
                        version = s.version + 1,
                        updated_at = now()
                 RETURNING 1
             )
             SELECT (SELECT count(*) FROM taken), (SELECT count(*) FROM folded)",
            &[&limit],
        )
        .await?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// A claimed vehicle's state.
#[derive(Debug)]
pub struct State {
    pub vehicle_id: String,
    pub dirty_from: Option<DateTime<Utc>>,
    pub obd_dirty_from: Option<DateTime<Utc>>,
    pub machine: Option<serde_json::Value>,
    pub origin: Option<DateTime<Utc>>,
    /// How far the rollups went (src/trips/rollup.rs).
    pub rollup_gps_at: Option<DateTime<Utc>>,
    pub rollup_obd_at: Option<DateTime<Utc>>,
    /// Seconds since the earliest unprocessed mark was written, when claimed.
    pub lag_s: Option<f64>,
}

/// Locks up to `limit` vehicles with work due by `horizon` that no other worker holds.
pub async fn claim(
    c: &impl GenericClient,
    horizon: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<State>, Db> {
    let rows = c
        .query(
            "SELECT vehicle_id, dirty_from, obd_dirty_from, machine, origin, rollup_gps_at,
                    rollup_obd_at, extract(epoch FROM clock_timestamp() - marked_at)::float8
               FROM segment_state
              WHERE (dirty_from IS NOT NULL AND dirty_from <= $1)
                 OR (obd_dirty_from IS NOT NULL AND obd_dirty_from <= $1)
              ORDER BY vehicle_id LIMIT $2 FOR UPDATE SKIP LOCKED",
            &[&horizon, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| State {
            vehicle_id: r.get(0),
            dirty_from: r.get(1),
            obd_dirty_from: r.get(2),
            machine: r.get(3),
            origin: r.get(4),
            rollup_gps_at: r.get(5),
            rollup_obd_at: r.get(6),
            lag_s: r.get(7),
        })
        .collect())
}

/// What a pass leaves in a vehicle's `segment_state` row.
pub struct Saved<'a> {
    pub machine: &'a serde_json::Value,
    pub watermark: Option<DateTime<Utc>>,
    /// The first GPS and OBD readings not processed yet.
    pub dirty_from: Option<DateTime<Utc>>,
    pub obd_dirty_from: Option<DateTime<Utc>>,
    /// Where the rollups now stand (unchanged when `None`).
    pub rollup_gps_at: Option<DateTime<Utc>>,
    pub rollup_obd_at: Option<DateTime<Utc>>,
}

/// Saves a vehicle's state after a pass.
pub async fn save(c: &impl GenericClient, vehicle: &str, s: &Saved<'_>) -> Result<(), Db> {
    c.execute(
        "UPDATE segment_state SET machine = $2, watermark = $3, dirty_from = $4,
                obd_dirty_from = $5, rollup_gps_at = coalesce($6, rollup_gps_at),
                rollup_obd_at = coalesce($7, rollup_obd_at), updated_at = now(),
                marked_at = CASE WHEN $4::timestamptz IS NULL AND $5::timestamptz IS NULL
                                 THEN NULL ELSE marked_at END
          WHERE vehicle_id = $1",
        &[
            &vehicle,
            s.machine,
            &s.watermark,
            &s.dirty_from,
            &s.obd_dirty_from,
            &s.rollup_gps_at,
            &s.rollup_obd_at,
        ],
    )
    .await?;
    Ok(())
}

/// The vehicle's first OBD reading after `after`.
pub async fn next_obd(
    c: &impl GenericClient,
    vehicle: &str,
    after: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, Db> {
    let row = c
        .query_one(
            "SELECT min(ts) FROM obd_readings WHERE vehicle_id = $1 AND ts > $2",
            &[&vehicle, &after],
        )
        .await?;
    Ok(row.get(0))
}

const FIX_COLUMNS: &str = "ts, ST_Y(position), ST_X(position), speed_kmh";

fn fix(r: &Row, at: usize) -> Fix {
    let ts: DateTime<Utc> = r.get(at);
    Fix {
        ts_us: ts.timestamp_micros(),
        lat: r.get(at + 1),
        lon: r.get(at + 2),
        speed_kmh: r.get(at + 3),
        ignition: None,
    }
}

/// Every vehicle's GPS readings after its `after` (exclusive), oldest first.
pub async fn readings_after(
    c: &impl GenericClient,
    vehicles: &[&str],
    after: &[DateTime<Utc>],
) -> Result<Vec<(String, Fix)>, Db> {
    let sql = format!(
        "SELECT g.vehicle_id, {FIX_COLUMNS} FROM unnest($1::text[], $2::timestamptz[]) AS w(v, after)
           JOIN gps_readings g ON g.vehicle_id = w.v AND g.ts > w.after
          ORDER BY g.vehicle_id, g.ts"
    );
    let rows = c.query(&sql, &[&vehicles, &after]).await?;
    Ok(rows.iter().map(|r| (r.get(0), fix(r, 1))).collect())
}

/// One vehicle's GPS readings from `from` on (inclusive), oldest first.
pub async fn readings_from(
    c: &impl GenericClient,
    vehicle: &str,
    from: DateTime<Utc>,
) -> Result<Vec<Fix>, Db> {
    let sql = format!(
        "SELECT {FIX_COLUMNS} FROM gps_readings WHERE vehicle_id = $1 AND ts >= $2 ORDER BY ts"
    );
    let rows = c.query(&sql, &[&vehicle, &from]).await?;
    Ok(rows.iter().map(|r| fix(r, 0)).collect())
}

/// OBD `rpm` readings of a vehicle from `from` on, as (Unix µs, rpm > 0).
pub async fn ignition_from(
    c: &impl GenericClient,
    vehicle: &str,
    from: DateTime<Utc>,
) -> Result<Vec<(i64, bool)>, Db> {
    let rows = c
        .query(
            "SELECT ts, rpm > 0 FROM obd_readings
              WHERE vehicle_id = $1 AND ts >= $2 AND rpm IS NOT NULL ORDER BY ts",
            &[&vehicle, &from],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, DateTime<Utc>>(0).timestamp_micros(), r.get(1)))
        .collect())
}

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
/// about to be written again, and keep their ids).
pub async fn drop_from(
    c: &impl GenericClient,
    vehicle: &str,
    from: DateTime<Utc>,
    keep: &[DateTime<Utc>],
) -> Result<(), Db> {
    for table in ["trips", "stops"] {
        let sql = format!(
            "DELETE FROM {table} WHERE vehicle_id = $1 AND decided_at >= $2
                AND start_ts <> ALL($3::timestamptz[])"
        );
        c.execute(&sql, &[&vehicle, &from, &keep]).await?;
    }
    Ok(())
}

pub fn at(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
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
                "INSERT INTO stops (vehicle_id, driver_id, start_ts, end_ts, position,
                                    decided_at, resume_at)
                 VALUES ($1, $2, $3, $4, ST_GeomFromEWKT($5), $6, $7)
                 ON CONFLICT (vehicle_id, start_ts) DO UPDATE
                    SET driver_id = EXCLUDED.driver_id, end_ts = EXCLUDED.end_ts,
                        position = EXCLUDED.position, decided_at = EXCLUDED.decided_at,
                        resume_at = EXCLUDED.resume_at",
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
                "INSERT INTO trips (vehicle_id, driver_id, start_ts, end_ts, start_position,
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
                        decided_at = EXCLUDED.decided_at, resume_at = EXCLUDED.resume_at",
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

/// Recomputes the OBD figures of the vehicle's trips ending at or after `from`.
pub async fn refresh_obd(
    c: &impl GenericClient,
    vehicle: &str,
    from: DateTime<Utc>,
) -> Result<(), Db> {
    let trips = c
        .query(
            "SELECT id, start_ts, end_ts FROM trips WHERE vehicle_id = $1 AND end_ts >= $2",
            &[&vehicle, &from],
        )
        .await?;
    for t in trips {
        let (id, start, end): (i64, DateTime<Utc>, DateTime<Utc>) = (t.get(0), t.get(1), t.get(2));
        let obd = c.query_one(TRIP_OBD, &[&vehicle, &start, &end]).await?;
        let (fuel, odo): (Option<f64>, Option<f64>) = (obd.get(0), obd.get(1));
        c.execute(
            "UPDATE trips SET fuel_used_pct = $2, odometer_delta_km = $3 WHERE id = $1",
            &[&id, &fuel, &odo],
        )
        .await?;
    }
    Ok(())
}
