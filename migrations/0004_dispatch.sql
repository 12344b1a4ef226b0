-- Dispatch jobs, their history, and the notifications that keep each daemon's in-memory
-- driver roster and push streams current.

-- A job to be matched to the nearest suitable available driver (SPEC 3, issue 5).
CREATE TABLE dispatch_jobs (
    id           uuid PRIMARY KEY,
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'offered', 'assigned', 'picked_up', 'completed',
                                  'cancelled', 'unassigned')),
    pickup_lat   double precision NOT NULL CHECK (pickup_lat BETWEEN -90 AND 90),
    pickup_lon   double precision NOT NULL CHECK (pickup_lon BETWEEN -180 AND 180),
    dropoff_lat  double precision CHECK (dropoff_lat BETWEEN -90 AND 90),
    dropoff_lon  double precision CHECK (dropoff_lon BETWEEN -180 AND 180),
    -- Requirements on the vehicle; NULL means any.
    vehicle_type text,
    min_seats    integer CHECK (min_seats >= 0),
    min_load_kg  integer CHECK (min_load_kg >= 0),
    radius_m     double precision NOT NULL CHECK (radius_m > 0),
    notes        text,
    created_by   uuid NOT NULL REFERENCES users (id),
    -- The driver (and their vehicle) holding the offer or the job.
    driver_id    uuid REFERENCES drivers (id),
    vehicle_id   text REFERENCES vehicles (id),
    -- Matching rounds that found no candidate (drives the backoff).
    attempts     integer NOT NULL DEFAULT 0,
    -- When the matcher must look again: the next attempt of a pending job, the expiry of an
    -- offer. NULL in every other state.
    due_at       timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((dropoff_lat IS NULL) = (dropoff_lon IS NULL)),
    CHECK (state NOT IN ('offered', 'assigned', 'picked_up', 'completed')
           OR (driver_id IS NOT NULL AND vehicle_id IS NOT NULL)),
    CHECK ((state IN ('pending', 'offered')) = (due_at IS NOT NULL))
);
-- The claim: a driver holds at most one open job (an offer counts). Two matchers offering
-- the same driver at once cannot both commit; the loser moves to its next candidate.
CREATE UNIQUE INDEX dispatch_jobs_one_open_per_driver ON dispatch_jobs (driver_id)
    WHERE state IN ('offered', 'assigned', 'picked_up');
CREATE INDEX dispatch_jobs_due ON dispatch_jobs (due_at) WHERE state IN ('pending', 'offered');
CREATE INDEX dispatch_jobs_created_by ON dispatch_jobs (created_by, id);

-- Every transition of a job, in order.
CREATE TABLE dispatch_job_events (
    job_id    uuid NOT NULL REFERENCES dispatch_jobs (id),
    seq       integer NOT NULL CHECK (seq >= 1),
    state     text NOT NULL,
    reason    text NOT NULL,
    driver_id uuid,
    at        timestamptz NOT NULL,
    PRIMARY KEY (job_id, seq)
);

-- Drivers who declined a job or let its offer expire are not offered it again.
CREATE TABLE dispatch_job_refusals (
    job_id    uuid NOT NULL REFERENCES dispatch_jobs (id),
    driver_id uuid NOT NULL REFERENCES drivers (id),
    PRIMARY KEY (job_id, driver_id)
);

-- Job transitions, pushed to every daemon's stream clients in commit order.
CREATE FUNCTION dispatch_job_event_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fleetd_jobs', json_build_object(
        'job_id', NEW.job_id, 'seq', NEW.seq, 'state', NEW.state, 'reason', NEW.reason,
        'driver_id', NEW.driver_id, 'at', NEW.at,
        'created_by', (SELECT created_by FROM dispatch_jobs WHERE id = NEW.job_id))::text);
    RETURN NULL;
END $$;
CREATE TRIGGER dispatch_job_events_notify AFTER INSERT ON dispatch_job_events
    FOR EACH ROW EXECUTE FUNCTION dispatch_job_event_notify();

-- The roster (who is available, at the wheel of what) changes with drivers, vehicles and
-- open jobs; each change names the driver or vehicle to re-read.
CREATE FUNCTION roster_notify_driver() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify('fleetd_roster', 'd:' || OLD.id);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM pg_notify('fleetd_roster', 'd:' || NEW.id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER drivers_roster_notify AFTER INSERT OR UPDATE OR DELETE ON drivers
    FOR EACH ROW EXECUTE FUNCTION roster_notify_driver();

CREATE FUNCTION roster_notify_vehicle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IS DISTINCT FROM NEW.status OR OLD.type IS DISTINCT FROM NEW.type
       OR OLD.seats IS DISTINCT FROM NEW.seats OR OLD.load_kg IS DISTINCT FROM NEW.load_kg
       OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at THEN
        PERFORM pg_notify('fleetd_roster', 'v:' || NEW.id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER vehicles_roster_notify AFTER UPDATE ON vehicles
    FOR EACH ROW EXECUTE FUNCTION roster_notify_vehicle();

CREATE FUNCTION roster_notify_job() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was_open boolean := TG_OP = 'UPDATE' AND OLD.state IN ('offered', 'assigned', 'picked_up');
    is_open  boolean := NEW.state IN ('offered', 'assigned', 'picked_up');
BEGIN
    IF was_open AND (NOT is_open OR OLD.driver_id IS DISTINCT FROM NEW.driver_id) THEN
        PERFORM pg_notify('fleetd_roster', 'd:' || OLD.driver_id);
    END IF;
    IF is_open AND (NOT was_open OR OLD.driver_id IS DISTINCT FROM NEW.driver_id) THEN
        PERFORM pg_notify('fleetd_roster', 'd:' || NEW.driver_id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER dispatch_jobs_roster_notify AFTER INSERT OR UPDATE ON dispatch_jobs
    FOR EACH ROW EXECUTE FUNCTION roster_notify_job();
