//! The segmenter's state SQL: folding marks, claiming vehicles, reading readings, saving
//! each vehicle's machine (the segments themselves: [`super::segments`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tokio_postgres::{GenericClient, Row};

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
pub struct Saved {
    pub vehicle_id: String,
    pub machine: serde_json::Value,
    pub watermark: Option<DateTime<Utc>>,
    /// The first GPS and OBD readings not processed yet.
    pub dirty_from: Option<DateTime<Utc>>,
    pub obd_dirty_from: Option<DateTime<Utc>>,
    /// Where the rollups now stand (unchanged when `None`).
    pub rollup_gps_at: Option<DateTime<Utc>>,
    pub rollup_obd_at: Option<DateTime<Utc>>,
}

/// Saves every vehicle's state after a pass, in one statement.
pub async fn save(c: &impl GenericClient, all: &[Saved]) -> Result<(), Db> {
    if all.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&Saved) -> Option<DateTime<Utc>>| all.iter().map(f).collect::<Vec<_>>();
    let vehicles: Vec<&str> = all.iter().map(|s| s.vehicle_id.as_str()).collect();
    let machines: Vec<&serde_json::Value> = all.iter().map(|s| &s.machine).collect();
    c.execute(
        "UPDATE segment_state s SET machine = w.machine, watermark = w.watermark,
                dirty_from = w.dirty_from, obd_dirty_from = w.obd_dirty_from,
                rollup_gps_at = coalesce(w.gps_at, s.rollup_gps_at),
                rollup_obd_at = coalesce(w.obd_at, s.rollup_obd_at), updated_at = now(),
                marked_at = CASE WHEN w.dirty_from IS NULL AND w.obd_dirty_from IS NULL
                                 THEN NULL ELSE s.marked_at END
           FROM unnest($1::text[], $2::jsonb[], $3::timestamptz[], $4::timestamptz[],
                       $5::timestamptz[], $6::timestamptz[], $7::timestamptz[])
                AS w(v, machine, watermark, dirty_from, obd_dirty_from, gps_at, obd_at)
          WHERE s.vehicle_id = w.v",
        &[
            &vehicles,
            &machines,
            &col(|s| s.watermark),
            &col(|s| s.dirty_from),
            &col(|s| s.obd_dirty_from),
            &col(|s| s.rollup_gps_at),
            &col(|s| s.rollup_obd_at),
        ],
    )
    .await?;
    Ok(())
}

/// Each vehicle's first OBD reading after `after`.
pub async fn next_obd(
    c: &impl GenericClient,
    vehicles: &[&str],
    after: DateTime<Utc>,
) -> Result<HashMap<String, DateTime<Utc>>, Db> {
    let rows = c
        .query(
            "SELECT u.v, (SELECT min(ts) FROM obd_readings WHERE vehicle_id = u.v AND ts > $2)
               FROM unnest($1::text[]) AS u(v)",
            &[&vehicles, &after],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((r.get(0), r.get::<_, Option<DateTime<Utc>>>(1)?)))
        .collect())
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

pub fn at(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}
