//! Hourly and daily rollups per vehicle (docs/trips.md#rollups).
//!
//! Hours grow by addition: a pass adds the readings after what it added last (each step from
//! the reading before). A reading behind that point (late) resets the hours from its own
//! onwards and adds them again from the raw readings. Days are recomputed from their hours
//! whenever one of them changed. Every statement here computes from stored readings only,
//! so running the additions over everything at once (the tests do, into a scratch table)
//! gives the same rows.

use std::collections::HashMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use tokio_postgres::GenericClient;

use super::Params;

type Db = tokio_postgres::Error;
type At = DateTime<Utc>;

/// The hours touched, first and last.
pub type Hours = Option<(At, At)>;

/// The hours touched per vehicle (vehicles with none are absent).
pub type Spans = HashMap<String, (At, At)>;

/// The hourly table.
pub const HOURLY: &str = "vehicle_hourly";

fn gps_sql(table: &str) -> String {
    format!(
        "WITH w AS (
             SELECT u.v, u.after,
                    coalesce((SELECT max(ts) FROM gps_readings
                               WHERE vehicle_id = u.v AND ts <= u.after), '-infinity') AS lo
               FROM unnest($1::text[], $2::timestamptz[]) AS u(v, after)
         ), r AS (
             SELECT w.v, w.after, g.ts, ST_Y(g.position) AS lat, ST_X(g.position) AS lon,
                    g.speed_kmh::float8 AS speed,
                    lag(g.ts) OVER win AS pts, lag(ST_Y(g.position)) OVER win AS plat,
                    lag(ST_X(g.position)) OVER win AS plon
               FROM w JOIN LATERAL (
                        SELECT ts, position, speed_kmh FROM gps_readings
                         WHERE vehicle_id = w.v AND ts >= w.lo AND ts <= $3) g ON true
             WINDOW win AS (PARTITION BY w.v ORDER BY g.ts)
         ), s AS (
             SELECT *, extract(epoch FROM ts - pts)::float8 AS dt,
                    fleetd_haversine_m(plat, plon, lat, lon) AS step
               FROM r WHERE after IS NULL OR ts > after
         ), m AS (
             SELECT *, coalesce(dt < $6, false) AS joined,
                    coalesce(speed >= $4 OR (speed IS NULL AND step > $5 AND dt > 0
                                            AND step / dt * 3.6 >= $4), false) AS moving
               FROM s
         ), h AS (
             SELECT v, date_trunc('hour', ts) AS hour, count(*)::int AS n,
                    coalesce(sum(step) FILTER (WHERE joined AND moving), 0) AS distance,
                    coalesce(sum(dt) FILTER (WHERE joined AND moving), 0) AS moving_s,
                    coalesce(sum(dt) FILTER (WHERE joined AND NOT moving), 0) AS idle_s,
                    max(speed) AS max_speed,
                    min(ts) AS first_ts, max(ts) AS last_ts,
                    (array_agg(lat ORDER BY ts))[1] AS flat, (array_agg(lon ORDER BY ts))[1] AS flon,
                    (array_agg(lat ORDER BY ts DESC))[1] AS llat,
                    (array_agg(lon ORDER BY ts DESC))[1] AS llon
               FROM m GROUP BY 1, 2
         ), up AS (
             INSERT INTO {table} AS v (vehicle_id, hour, readings, distance_m, moving_s, idle_s,
                    max_speed_kmh, first_ts, first_position, last_ts, last_position)
             SELECT v, hour, n, distance, moving_s, idle_s, max_speed,
                    first_ts, ST_SetSRID(ST_MakePoint(flon, flat), 4326),
                    last_ts, ST_SetSRID(ST_MakePoint(llon, llat), 4326)
               FROM h
             ON CONFLICT (vehicle_id, hour) DO UPDATE SET
                    readings = v.readings + EXCLUDED.readings,
                    distance_m = v.distance_m + EXCLUDED.distance_m,
                    moving_s = v.moving_s + EXCLUDED.moving_s,
                    idle_s = v.idle_s + EXCLUDED.idle_s,
                    max_speed_kmh = GREATEST(v.max_speed_kmh, EXCLUDED.max_speed_kmh),
                    first_position = CASE WHEN v.first_ts IS NULL OR EXCLUDED.first_ts < v.first_ts
                                          THEN EXCLUDED.first_position ELSE v.first_position END,
                    first_ts = LEAST(v.first_ts, EXCLUDED.first_ts),
                    last_position = CASE WHEN v.last_ts IS NULL OR EXCLUDED.last_ts > v.last_ts
                                         THEN EXCLUDED.last_position ELSE v.last_position END,
                    last_ts = GREATEST(v.last_ts, EXCLUDED.last_ts)
             RETURNING vehicle_id, hour
         )
         SELECT vehicle_id, min(hour), max(hour) FROM up GROUP BY vehicle_id"
    )
}

fn obd_sql(table: &str) -> String {
    format!(
        "WITH w AS (
             SELECT u.v, u.after,
                    coalesce((SELECT max(ts) FROM obd_readings
                               WHERE vehicle_id = u.v AND fuel_pct IS NOT NULL AND ts <= u.after),
                             '-infinity') AS lo
               FROM unnest($1::text[], $2::timestamptz[]) AS u(v, after)
         ), f AS (
             SELECT w.v, w.after, x.ts, x.fuel_pct::float8 AS fuel,
                    lag(x.fuel_pct::float8) OVER (PARTITION BY w.v ORDER BY x.ts) AS prev
               FROM w JOIN LATERAL (
                        SELECT ts, fuel_pct FROM obd_readings
                         WHERE vehicle_id = w.v AND fuel_pct IS NOT NULL
                           AND ts >= w.lo AND ts <= $3) x ON true
         ), fh AS (
             SELECT v, date_trunc('hour', ts) AS hour, sum(GREATEST(prev - fuel, 0)) AS fuel
               FROM f WHERE after IS NULL OR ts > after GROUP BY 1, 2
         ), o AS (
             SELECT w.v, x.ts, x.odometer_km, x.dtc
               FROM w JOIN LATERAL (
                        SELECT ts, odometer_km, dtc FROM obd_readings
                         WHERE vehicle_id = w.v AND ts <= $3
                           AND (w.after IS NULL OR ts > w.after)) x ON true
         ), oh AS (
             SELECT v, date_trunc('hour', ts) AS hour, count(*)::int AS n,
                    min(odometer_km) AS omin, max(odometer_km) AS omax
               FROM o GROUP BY 1, 2
         ), oc AS (
             SELECT v, date_trunc('hour', ts) AS hour, array_agg(DISTINCT c ORDER BY c) AS codes
               FROM o, unnest(o.dtc) AS c GROUP BY 1, 2
         ), up AS (
             INSERT INTO {table} AS v (vehicle_id, hour, obd_readings, fuel_used_pct,
                    odometer_min_km, odometer_max_km, dtc_codes)
             SELECT oh.v, oh.hour, oh.n, fh.fuel, oh.omin, oh.omax, coalesce(oc.codes, '{{}}')
               FROM oh LEFT JOIN fh ON fh.v = oh.v AND fh.hour = oh.hour
                       LEFT JOIN oc ON oc.v = oh.v AND oc.hour = oh.hour
             ON CONFLICT (vehicle_id, hour) DO UPDATE SET
                    obd_readings = v.obd_readings + EXCLUDED.obd_readings,
                    fuel_used_pct = CASE WHEN v.fuel_used_pct IS NULL THEN EXCLUDED.fuel_used_pct
                                         ELSE v.fuel_used_pct + coalesce(EXCLUDED.fuel_used_pct, 0)
                                    END,
                    odometer_min_km = LEAST(v.odometer_min_km, EXCLUDED.odometer_min_km),
                    odometer_max_km = GREATEST(v.odometer_max_km, EXCLUDED.odometer_max_km),
                    dtc_codes = ARRAY(SELECT DISTINCT c
                                        FROM unnest(v.dtc_codes || EXCLUDED.dtc_codes) AS c
                                       ORDER BY c)
             RETURNING vehicle_id, hour
         )
         SELECT vehicle_id, min(hour), max(hour) FROM up GROUP BY vehicle_id"
    )
}

/// One vehicle's starting point: its readings after `after` (all without one).
pub type From<'a> = (&'a str, Option<At>);

/// Adds each vehicle's GPS readings in `(after, horizon]` (all up to `horizon` without
/// `after`) to `table`'s hours, in one statement; returns the hours touched per vehicle.
pub async fn add_gps(
    c: &impl GenericClient,
    table: &str,
    from: &[From<'_>],
    horizon: At,
    p: &Params,
) -> Result<Spans, Db> {
    let gap_s = p.max_gap_us as f64 / 1e6;
    let (vehicles, after) = columns(from);
    let rows = c
        .query(
            &gps_sql(table),
            &[
                &vehicles,
                &after,
                &horizon,
                &p.min_speed_kmh,
                &p.jitter_m,
                &gap_s,
            ],
        )
        .await?;
    Ok(spans(&rows))
}

/// Adds each vehicle's OBD readings in `(after, horizon]` to `table`'s hours.
pub async fn add_obd(
    c: &impl GenericClient,
    table: &str,
    from: &[From<'_>],
    horizon: At,
) -> Result<Spans, Db> {
    let (vehicles, after) = columns(from);
    let rows = c
        .query(&obd_sql(table), &[&vehicles, &after, &horizon])
        .await?;
    Ok(spans(&rows))
}

fn columns<'a>(from: &[From<'a>]) -> (Vec<&'a str>, Vec<Option<At>>) {
    from.iter().copied().unzip()
}

/// Rows of (vehicle, first hour, last hour).
fn spans(rows: &[tokio_postgres::Row]) -> Spans {
    rows.iter()
        .map(|r| (r.get::<_, String>(0), (r.get(1), r.get(2))))
        .collect()
}

fn hours(a: Option<At>, b: Option<At>) -> Hours {
    a.zip(b)
}

/// The hour `ts` falls in.
pub fn hour_of(ts: At) -> At {
    ts.duration_trunc(TimeDelta::hours(1)).unwrap_or(ts)
}

/// Clears the GPS figures of the vehicle's hours from `from` on (they are then added again);
/// returns the first hour cleared.
pub async fn reset_gps(c: &impl GenericClient, vehicle: &str, from: At) -> Result<Hours, Db> {
    let row = c
        .query_one(
            "WITH r AS (
                 UPDATE vehicle_hourly SET readings = 0, distance_m = 0, moving_s = 0,
                        idle_s = 0, max_speed_kmh = NULL, first_ts = NULL, first_position = NULL,
                        last_ts = NULL, last_position = NULL
                  WHERE vehicle_id = $1 AND hour >= $2 RETURNING hour)
             SELECT min(hour), max(hour) FROM r",
            &[&vehicle, &hour_of(from)],
        )
        .await?;
    Ok(hours(row.get(0), row.get(1)))
}

/// Clears the OBD figures of the vehicle's hours from `from` on.
pub async fn reset_obd(c: &impl GenericClient, vehicle: &str, from: At) -> Result<Hours, Db> {
    let row = c
        .query_one(
            "WITH r AS (
                 UPDATE vehicle_hourly SET obd_readings = 0, fuel_used_pct = NULL,
                        odometer_min_km = NULL, odometer_max_km = NULL, dtc_codes = '{}'
                  WHERE vehicle_id = $1 AND hour >= $2 RETURNING hour)
             SELECT min(hour), max(hour) FROM r",
            &[&vehicle, &hour_of(from)],
        )
        .await?;
    Ok(hours(row.get(0), row.get(1)))
}

/// The span covering both.
pub fn union(a: Hours, b: Hours) -> Hours {
    match (a, b) {
        (Some((a0, a1)), Some((b0, b1))) => Some((a0.min(b0), a1.max(b1))),
        (x, None) | (None, x) => x,
    }
}

/// Drops hours left empty and recomputes the days that each vehicle's span touches from
/// their hours (days are UTC), for every vehicle at once.
pub async fn rebuild_days(c: &impl GenericClient, spans: &Spans) -> Result<(), Db> {
    if spans.is_empty() {
        return Ok(());
    }
    let day = TimeDelta::days(1);
    let mut vehicles = Vec::with_capacity(spans.len());
    let (mut from, mut to) = (
        Vec::with_capacity(spans.len()),
        Vec::with_capacity(spans.len()),
    );
    for (v, (first, last)) in spans {
        vehicles.push(v.as_str());
        from.push(first.duration_trunc(day).unwrap_or(*first));
        to.push(last.duration_trunc(day).unwrap_or(*last) + day);
    }
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&vehicles, &from, &to];
    c.execute(
        "DELETE FROM vehicle_hourly h
          USING unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS w(v, f, t)
          WHERE h.vehicle_id = w.v AND h.hour >= w.f AND h.hour < w.t
            AND h.readings = 0 AND h.obd_readings = 0",
        &params,
    )
    .await?;
    c.execute(
        "DELETE FROM vehicle_daily d
          USING unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS w(v, f, t)
          WHERE d.vehicle_id = w.v AND d.day >= (w.f AT TIME ZONE 'UTC')::date
            AND d.day < (w.t AT TIME ZONE 'UTC')::date",
        &params,
    )
    .await?;
    c.execute(
        "WITH h AS (
             SELECT x.*, (x.hour AT TIME ZONE 'UTC')::date AS d
               FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS w(v, f, t)
               JOIN vehicle_hourly x ON x.vehicle_id = w.v AND x.hour >= w.f AND x.hour < w.t
         ), dc AS (
             SELECT vehicle_id, d, array_agg(DISTINCT c ORDER BY c) AS codes
               FROM h, unnest(h.dtc_codes) AS c GROUP BY 1, 2
         )
         INSERT INTO vehicle_daily (vehicle_id, day, readings, distance_m, moving_s, idle_s,
                max_speed_kmh, first_ts, first_position, last_ts, last_position, obd_readings,
                fuel_used_pct, odometer_min_km, odometer_max_km, dtc_codes)
         SELECT h.vehicle_id, h.d, sum(readings), sum(distance_m), sum(moving_s), sum(idle_s),
                max(max_speed_kmh),
                min(first_ts), (array_agg(first_position ORDER BY first_ts)
                                  FILTER (WHERE first_ts IS NOT NULL))[1],
                max(last_ts), (array_agg(last_position ORDER BY last_ts DESC)
                                 FILTER (WHERE last_ts IS NOT NULL))[1],
                sum(obd_readings), sum(fuel_used_pct), min(odometer_min_km), max(odometer_max_km),
                coalesce(min(dc.codes), '{}')
           FROM h LEFT JOIN dc ON dc.vehicle_id = h.vehicle_id AND dc.d = h.d
          GROUP BY h.vehicle_id, h.d",
        &params,
    )
    .await?;
    Ok(())
}

/// Moves each vehicle's `vehicles.odometer_km` up to its highest OBD odometer in
/// `(after, horizon]`, never down (registered vehicles only; the reading is recorded with
/// source `obd`). Only the vehicles whose odometer moves are locked, in id order.
pub async fn advance_odometer(
    c: &impl GenericClient,
    from: &[From<'_>],
    horizon: At,
) -> Result<(), Db> {
    let (vehicles, after) = columns(from);
    c.execute(
        "WITH top AS (
             SELECT u.v, (SELECT floor(max(odometer_km))::bigint FROM obd_readings
                           WHERE vehicle_id = u.v AND ts <= $3
                             AND (u.after IS NULL OR ts > u.after)) AS km
               FROM unnest($1::text[], $2::timestamptz[]) AS u(v, after)
         ), v AS (
             SELECT x.id, x.odometer_km FROM vehicles x JOIN top ON top.v = x.id
              WHERE x.deleted_at IS NULL AND top.km > x.odometer_km
              ORDER BY x.id FOR UPDATE OF x
         )
         INSERT INTO odometer_readings (vehicle_id, reading_km, source)
         SELECT v.id, top.km, 'obd' FROM v JOIN top ON top.v = v.id
          WHERE top.km > v.odometer_km AND top.km <= 100000000",
        &[&vehicles, &after, &horizon],
    )
    .await?;
    Ok(())
}

/// Deletes hourly rollups older than `hourly_days` and daily ones older than `daily_days`
/// (0: kept forever); returns the rows deleted.
pub async fn expire(
    c: &impl GenericClient,
    now: At,
    hourly_days: u32,
    daily_days: u32,
) -> Result<u64, Db> {
    let hours_before = now - TimeDelta::days(i64::from(hourly_days));
    let mut n = c
        .execute(
            "DELETE FROM vehicle_hourly WHERE hour < $1",
            &[&hours_before],
        )
        .await?;
    if daily_days > 0 {
        let days_before = now - TimeDelta::days(i64::from(daily_days));
        n += c
            .execute(
                "DELETE FROM vehicle_daily WHERE day < ($1 AT TIME ZONE 'UTC')::date",
                &[&days_before],
            )
            .await?;
    }
    Ok(n)
}
