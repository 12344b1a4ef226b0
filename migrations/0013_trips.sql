-- Trips and stops derived from the readings (src/trips, docs/trips.md).
--
-- The writers add one `segment_marks` row to each COPY transaction: the vehicles of the
-- batch and the earliest GPS and OBD reading of each (NULL when it had none). A mark therefore commits exactly when its readings
-- do. The segmenter folds marks into `segment_state` (per vehicle: the earliest reading not
-- yet segmented, `dirty_from`) and then segments each dirty vehicle in its own transaction,
-- holding the vehicle's row lock so one worker owns a vehicle at a time whatever the number
-- of daemons. Writers never touch `segment_state`, so the segmenter never slows ingestion.
CREATE TABLE segment_marks (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vehicle_ids text[]        NOT NULL,
    gps_from    timestamptz[] NOT NULL,
    obd_from    timestamptz[] NOT NULL,
    CHECK (cardinality(vehicle_ids) = cardinality(gps_from)
           AND cardinality(vehicle_ids) = cardinality(obd_from))
);

CREATE TABLE segment_state (
    vehicle_id text PRIMARY KEY,
    -- The earliest GPS reading committed since the last pass and not yet segmented; NULL
    -- when there is none. OBD readings: the trips whose fuel and odometer they may change.
    dirty_from timestamptz,
    obd_dirty_from timestamptz,
    -- Bumped by every fold, so a pass that read the state before a fold leaves it dirty.
    version    bigint      NOT NULL DEFAULT 0,
    -- The segmenter after the last reading it saw (src/trips/machine.rs), and that reading.
    machine    jsonb,
    watermark  timestamptz,
    -- Segmentation starts here: the earliest reading marked since the table exists (readings
    -- stored before upgrading are not segmented; an earlier late reading moves it back).
    origin     timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX segment_state_dirty ON segment_state (dirty_from)
    WHERE dirty_from IS NOT NULL OR obd_dirty_from IS NOT NULL;

CREATE TABLE trips (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vehicle_id        text             NOT NULL,
    driver_id         uuid,
    start_ts          timestamptz      NOT NULL,
    end_ts            timestamptz      NOT NULL,
    start_position    geometry(Point, 4326) NOT NULL,
    end_position      geometry(Point, 4326) NOT NULL,
    distance_m        double precision NOT NULL CHECK (distance_m >= 0),
    moving_s          double precision NOT NULL CHECK (moving_s >= 0),
    idle_s            double precision NOT NULL CHECK (idle_s >= 0),
    max_speed_kmh     double precision NOT NULL CHECK (max_speed_kmh >= 0),
    avg_speed_kmh     double precision NOT NULL CHECK (avg_speed_kmh >= 0),
    readings          integer          NOT NULL CHECK (readings > 0),
    -- From OBD, when it reported inside the trip: fuel level fallen (percentage points,
    -- refuelling excluded) and odometer advanced.
    fuel_used_pct     double precision,
    odometer_delta_km double precision,
    path              geometry(LineString, 4326) NOT NULL,
    -- The segmenter's bookkeeping (src/trips/machine.rs): when the trip was settled and
    -- where a machine resumes after it.
    decided_at        timestamptz      NOT NULL,
    resume_at         timestamptz      NOT NULL,
    CHECK (end_ts >= start_ts),
    UNIQUE (vehicle_id, start_ts)
);
CREATE INDEX trips_vehicle_end ON trips (vehicle_id, end_ts);
CREATE INDEX trips_decided ON trips (vehicle_id, decided_at);

CREATE TABLE stops (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vehicle_id  text        NOT NULL,
    driver_id   uuid,
    start_ts    timestamptz NOT NULL,
    end_ts      timestamptz NOT NULL,
    -- Where the vehicle stood: its position when the stop began.
    position    geometry(Point, 4326) NOT NULL,
    decided_at  timestamptz NOT NULL,
    resume_at   timestamptz NOT NULL,
    CHECK (end_ts >= start_ts),
    UNIQUE (vehicle_id, start_ts)
);
CREATE INDEX stops_vehicle_end ON stops (vehicle_id, end_ts);
CREATE INDEX stops_decided ON stops (vehicle_id, decided_at);
