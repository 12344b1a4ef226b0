-- Vehicles removed (soft-deleted, or deleted by hand) are notified on fleetd_vehicles with their
-- id, so the writers' cache of registered vehicles (ingest.unknown_vehicles = "reject") forgets
-- them at once, whoever removed them.

CREATE FUNCTION vehicles_notify_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('fleetd_vehicles', OLD.id);
    ELSIF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN
        PERFORM pg_notify('fleetd_vehicles', NEW.id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER vehicles_removed
    AFTER UPDATE OF deleted_at OR DELETE ON vehicles
    FOR EACH ROW EXECUTE FUNCTION vehicles_notify_removed();
