-- Who is inside which geofence (src/fencing, docs/geofences.md). The trip segmenter's pass
-- evaluates each claimed vehicle's settled readings against the fences, in timestamp order,
-- and saves the result here in the same transaction as the events it raises, holding the
-- vehicle's `segment_state` row lock: one evaluator per vehicle whatever the number of
-- daemons, and a restart carries on from what was committed.

-- Bumped by every statement that changes `geofences`: an engine whose fences were loaded at
-- another version reloads them before evaluating (exact, with no notification to miss).
CREATE TABLE geofence_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint  NOT NULL
);
INSERT INTO geofence_version VALUES (true, 0);

CREATE FUNCTION geofences_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE geofence_version SET version = version + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER geofences_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON geofences
    FOR EACH STATEMENT EXECUTE FUNCTION geofences_bump();

-- Per vehicle: the timestamp of the last reading evaluated. A reading at or before it is
-- never evaluated (an out-of-order older reading raises nothing).
CREATE TABLE geofence_vehicles (
    vehicle_id   text        PRIMARY KEY,
    evaluated_at timestamptz NOT NULL
);

-- The visits in progress: the vehicle is inside the fence since the reading at
-- `entered_at`; `dwelled` once the visit has raised its geofence.dwell. Deleting a fence
-- ends its visits (with no exit event).
CREATE TABLE geofence_members (
    geofence_id uuid        NOT NULL REFERENCES geofences (id) ON DELETE CASCADE,
    vehicle_id  text        NOT NULL,
    entered_at  timestamptz NOT NULL,
    dwelled     boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (geofence_id, vehicle_id)
);
CREATE INDEX geofence_members_vehicle ON geofence_members (vehicle_id);
