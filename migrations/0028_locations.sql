-- Locations and one-way rentals (docs/api.md "Locations and one-way rentals",
-- src/api/locations/, src/api/rentals/ends.rs).
--
-- A location is a named point (a depot, a city, a custom spot), stored as `geography` like
-- the geofences, optionally with the geofence that outlines it. Deleting that geofence keeps
-- the location and clears `geofence_id` (it is then judged by the radius around its point).
CREATE TABLE locations (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind        text        NOT NULL CHECK (kind IN ('depot', 'city', 'custom')),
    point       geography(Point, 4326) NOT NULL,
    geofence_id uuid        REFERENCES geofences (id) ON DELETE SET NULL,
    address     text        CHECK (length(address) BETWEEN 1 AND 500),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX locations_point ON locations USING gist (point);
CREATE INDEX locations_geofence ON locations (geofence_id);

-- The fee a rental pays when it ends somewhere else than it started (minor units of the
-- plan's currency). Existing plans charge none.
ALTER TABLE pricing_plans
    ADD COLUMN one_way_fee bigint NOT NULL DEFAULT 0 CHECK (one_way_fee >= 0);

-- Where a rental starts and ends. Both NULL for rentals reserved before locations existed
-- and for reservations that name none; otherwise both set (the API defaults the destination
-- to the origin). A location with rentals cannot be deleted (the API answers 409
-- `location_in_use`).
ALTER TABLE rentals
    ADD COLUMN origin_location_id      uuid REFERENCES locations (id),
    ADD COLUMN destination_location_id uuid REFERENCES locations (id),
    ADD CONSTRAINT rentals_locations_together
        CHECK ((origin_location_id IS NULL) = (destination_location_id IS NULL));
CREATE INDEX rentals_origin_location ON rentals (origin_location_id)
    WHERE origin_location_id IS NOT NULL;
CREATE INDEX rentals_destination_location ON rentals (destination_location_id)
    WHERE destination_location_id IS NOT NULL;
