-- Geofences (docs/geofences.md, src/geofences/, src/api/geofences/): a circle or a polygon
-- area, who it applies to, and how membership is judged. Stored as PostGIS geography, so SQL
-- users can query them: `ST_Covers(area, point)` for a polygon fence, and, exactly, for a
-- circle `ST_DWithin(center, point, radius_m, false)` (its `area` is a 64-sided
-- approximation, for maps and coarse queries). Edges are great-circle arcs, as fleetd's own
-- engine evaluates them; a polygon crossing the antimeridian takes the short way.
--
-- Every change notifies `fleetd_geofences` with the fence id, so each daemon's engine
-- reloads that fence.

CREATE TABLE geofences (
    id              uuid        PRIMARY KEY,
    name            text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    tags            text[]      NOT NULL DEFAULT '{}'
                    CHECK (cardinality(tags) <= 32 AND array_position(tags, NULL) IS NULL),
    -- A circle: its centre and radius; a polygon: the GeoJSON Polygon or MultiPolygon given.
    center          geography(Point, 4326),
    radius_m        double precision CHECK (radius_m > 0 AND radius_m <= 1000000),
    geojson         jsonb,
    area            geography   NOT NULL,
    -- km/h above which a vehicle inside is speeding (the speeding rule), if any.
    speed_limit_kmh double precision CHECK (speed_limit_kmh > 0 AND speed_limit_kmh <= 1000),
    -- Who it applies to: every vehicle when both are NULL; else vehicles of these types or
    -- with these ids.
    vehicle_types   text[]      CHECK (cardinality(vehicle_types) <= 100),
    vehicle_ids     text[]      CHECK (cardinality(vehicle_ids) <= 10000),
    -- geofence.dwell once a visit has lasted this long; NULL: no dwell events.
    dwell_s         integer     CHECK (dwell_s BETWEEN 1 AND 2592000),
    -- A vehicle inside leaves only once this far outside the boundary (no flapping).
    hysteresis_m    double precision NOT NULL DEFAULT 0
                    CHECK (hysteresis_m >= 0 AND hysteresis_m <= 10000),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CHECK ((center IS NULL) = (radius_m IS NULL)),
    CHECK ((center IS NULL) <> (geojson IS NULL))
);

CREATE INDEX geofences_area ON geofences USING gist (area);
CREATE INDEX geofences_tags ON geofences USING gin (tags);

CREATE FUNCTION geofences_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('fleetd_geofences', OLD.id::text);
    ELSE
        PERFORM pg_notify('fleetd_geofences', NEW.id::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER geofences_notify AFTER INSERT OR UPDATE OR DELETE ON geofences
    FOR EACH ROW EXECUTE FUNCTION geofences_notify();
