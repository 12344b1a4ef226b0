-- Preventive maintenance (docs/maintenance.md, src/maintenance/, src/api/maintenance/):
-- a schedule says "every N km and/or every N months" for one vehicle or for every vehicle of
-- a type; a maintenance job linked to it (`maintenance_jobs.schedule_id`) and completed
-- restarts the count for that vehicle. When a (schedule, vehicle) pair falls due is computed
-- on read (src/maintenance/due.sql), never stored, so it always follows the odometer.
--
-- Schedules are soft-deleted (`deleted_at`): jobs keep pointing at the schedule they served.

CREATE TABLE maintenance_schedules (
    id           uuid        PRIMARY KEY,
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Exactly one target: a vehicle, or every vehicle of a type (vehicles.type).
    vehicle_id   text        REFERENCES vehicles (id),
    vehicle_type text        CHECK (length(vehicle_type) BETWEEN 1 AND 50),
    -- At least one interval.
    every_km     bigint      CHECK (every_km BETWEEN 1 AND 1000000),
    every_months integer     CHECK (every_months BETWEEN 1 AND 120),
    -- Due (not yet overdue) this many km / days before; less than the interval.
    lead_km      bigint      NOT NULL DEFAULT 0 CHECK (lead_km >= 0),
    lead_days    integer     NOT NULL DEFAULT 0 CHECK (lead_days >= 0),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    deleted_at   timestamptz,
    CONSTRAINT maintenance_schedules_one_target CHECK ((vehicle_id IS NULL) <> (vehicle_type IS NULL)),
    CONSTRAINT maintenance_schedules_an_interval CHECK (every_km IS NOT NULL OR every_months IS NOT NULL),
    CONSTRAINT maintenance_schedules_lead_km CHECK (
        CASE WHEN every_km IS NULL THEN lead_km = 0 ELSE lead_km < every_km END),
    CONSTRAINT maintenance_schedules_lead_days CHECK (
        CASE WHEN every_months IS NULL THEN lead_days = 0 ELSE lead_days < 28 * every_months END)
);
CREATE INDEX maintenance_schedules_vehicle ON maintenance_schedules (vehicle_id)
    WHERE deleted_at IS NULL AND vehicle_id IS NOT NULL;
CREATE INDEX maintenance_schedules_type ON maintenance_schedules (vehicle_type)
    WHERE deleted_at IS NULL AND vehicle_type IS NOT NULL;

ALTER TABLE maintenance_jobs ADD COLUMN schedule_id uuid REFERENCES maintenance_schedules (id);
-- The last completed job of a (schedule, vehicle) pair: the baseline of the next due.
CREATE INDEX maintenance_jobs_schedule ON maintenance_jobs (schedule_id, vehicle_id, completed_at DESC)
    WHERE schedule_id IS NOT NULL AND status = 'completed';
