-- Hourly and daily rollups per vehicle (src/trips/rollup.rs, docs/trips.md#rollups), kept
-- long after the raw readings are dropped: hourly for `retention.hourly_days`, daily for
-- `retention.daily_days` (0: forever).

-- Great-circle distance on the sphere of docs/dispatch.md (radius 6,371,008.8 m).
CREATE FUNCTION fleetd_haversine_m(lat1 float8, lon1 float8, lat2 float8, lon2 float8)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 2 * 6371008.8 * asin(least(1, sqrt(
        sin(radians(lat2 - lat1) / 2) ^ 2
        + cos(radians(lat1)) * cos(radians(lat2)) * sin(radians(lon2 - lon1) / 2) ^ 2)))
$$;

-- A step is the stretch from one GPS reading to the next (within trips.max_gap_s); it
-- counts in the hour of its later reading, as moving when that reading is moving.
CREATE TABLE vehicle_hourly (
    vehicle_id      text        NOT NULL,
    hour            timestamptz NOT NULL,
    readings        integer     NOT NULL DEFAULT 0,
    distance_m      float8      NOT NULL DEFAULT 0,
    moving_s        float8      NOT NULL DEFAULT 0,
    idle_s          float8      NOT NULL DEFAULT 0,
    max_speed_kmh   float8,
    avg_speed_kmh   float8 GENERATED ALWAYS AS
                    (CASE WHEN moving_s > 0 THEN distance_m / moving_s * 3.6 END) STORED,
    first_ts        timestamptz,
    first_position  geometry(Point, 4326),
    last_ts         timestamptz,
    last_position   geometry(Point, 4326),
    obd_readings    integer     NOT NULL DEFAULT 0,
    fuel_used_pct   float8,
    odometer_min_km float8,
    odometer_max_km float8,
    -- The distinct trouble codes reported in the hour.
    dtc_codes       text[]      NOT NULL DEFAULT '{}',
    dtc_count       integer GENERATED ALWAYS AS (cardinality(dtc_codes)) STORED,
    PRIMARY KEY (vehicle_id, hour)
);
CREATE INDEX vehicle_hourly_hour ON vehicle_hourly (hour);

CREATE TABLE vehicle_daily (
    vehicle_id      text    NOT NULL,
    day             date    NOT NULL,
    readings        integer NOT NULL,
    distance_m      float8  NOT NULL,
    moving_s        float8  NOT NULL,
    idle_s          float8  NOT NULL,
    max_speed_kmh   float8,
    avg_speed_kmh   float8 GENERATED ALWAYS AS
                    (CASE WHEN moving_s > 0 THEN distance_m / moving_s * 3.6 END) STORED,
    first_ts        timestamptz,
    first_position  geometry(Point, 4326),
    last_ts         timestamptz,
    last_position   geometry(Point, 4326),
    obd_readings    integer NOT NULL,
    fuel_used_pct   float8,
    odometer_min_km float8,
    odometer_max_km float8,
    dtc_codes       text[]  NOT NULL,
    dtc_count       integer GENERATED ALWAYS AS (cardinality(dtc_codes)) STORED,
    PRIMARY KEY (vehicle_id, day)
);
CREATE INDEX vehicle_daily_day ON vehicle_daily (day);

-- The whole fleet per day, for reports.
CREATE VIEW fleet_daily AS
SELECT day,
       count(*) FILTER (WHERE readings > 0)  AS vehicles_reporting,
       count(*) FILTER (WHERE moving_s > 0)  AS vehicles_moving,
       sum(readings)                         AS readings,
       sum(distance_m)                       AS distance_m,
       sum(moving_s)                         AS moving_s,
       sum(idle_s)                           AS idle_s,
       max(max_speed_kmh)                    AS max_speed_kmh,
       sum(fuel_used_pct)                    AS fuel_used_pct,
       sum(odometer_max_km - odometer_min_km) AS odometer_km,
       sum(dtc_count)                        AS dtc_count
  FROM vehicle_daily
 GROUP BY day;

-- How far each vehicle's rollups have gone (the last reading added, per kind).
ALTER TABLE segment_state
    ADD COLUMN rollup_gps_at timestamptz,
    ADD COLUMN rollup_obd_at timestamptz;
