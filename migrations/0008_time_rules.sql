-- Rules that fire with time (src/timed): a reservation not activated within
-- rentals.no_show_hours of its start becomes a no-show; a shift (a scheduled assignment)
-- past its end completes itself. Both sweeps look rows up by time, so each gets a partial
-- index over the rows it can still change.

ALTER TABLE rentals DROP CONSTRAINT rentals_status_check;
ALTER TABLE rentals ADD CONSTRAINT rentals_status_check
    CHECK (status IN ('reserved', 'active', 'completed', 'cancelled', 'no_show'));

CREATE INDEX rentals_reserved_start ON rentals (starts_at) WHERE status = 'reserved';
CREATE INDEX assignments_scheduled_end ON assignments (ends_at) WHERE status = 'scheduled';

-- The roster holds when each driver's shift in their vehicle ends (src/dispatch/roster.rs);
-- a new, completed or cancelled assignment re-reads the driver.
CREATE FUNCTION roster_notify_assignment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fleetd_roster', 'd:' || NEW.driver_id);
    RETURN NULL;
END $$;
CREATE TRIGGER assignments_roster_notify AFTER INSERT OR UPDATE ON assignments
    FOR EACH ROW EXECUTE FUNCTION roster_notify_assignment();
