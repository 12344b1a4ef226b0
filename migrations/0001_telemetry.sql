-- Telemetry storage (SPEC 2). Applied once, in a transaction, by `fleetd migrate` or at start.

CREATE EXTENSION IF NOT EXISTS postgis;

-- GPS readings, one partition per UTC day (created by the daemon's partition manager,
-- never a DEFAULT partition, so a retention drop is a metadata operation).
-- The primary key doubles as the index for the track query
-- (`WHERE vehicle_id = $1 AND ts BETWEEN $2 AND $3 ORDER BY ts`) and as the identity
-- that stores redeliveries once. There is deliberately no GiST index on `position`: no query
-- reads positions spatially from this table (dispatch uses the in-memory index), and a GiST
-- index cuts COPY throughput here from ~210k to ~80k rows/s.
CREATE TABLE gps_readings (
    vehicle_id  text             NOT NULL,
    ts          timestamptz      NOT NULL,
    position    geometry(Point, 4326) NOT NULL,
    speed_kmh   real,
    heading_deg real,
    alt_m       real,
    accuracy_m  real,
    received_at timestamptz      NOT NULL,
    PRIMARY KEY (vehicle_id, ts)
) PARTITION BY RANGE (ts);

CREATE TABLE obd_readings (
    vehicle_id      text        NOT NULL,
    ts              timestamptz NOT NULL,
    rpm             real,
    speed_kmh       real,
    coolant_c       real,
    fuel_pct        real,
    engine_load_pct real,
    odometer_km     double precision,
    dtc             text[],
    received_at     timestamptz NOT NULL,
    PRIMARY KEY (vehicle_id, ts)
) PARTITION BY RANGE (ts);

-- Rejected readings and payloads. `payload` holds at most the first 4 KiB, as bytes because
-- binary payloads are not text. Indexed by time for the retention delete and for
-- "what was rejected recently" queries.
CREATE TABLE telemetry_rejects (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at timestamptz NOT NULL,
    topic       text        NOT NULL,
    reason      text        NOT NULL,
    payload     bytea       NOT NULL
);
CREATE INDEX telemetry_rejects_received_at ON telemetry_rejects (received_at);
